"""Browser: under NFS-e Nacional (the adapter against the fake Sefin, mTLS), financeiro cancels and reissues an
invoice whose note was authorised, through the rendered form: without the confirmation nothing happens and nothing
typed is lost; confirmed, the new invoice's note substitutes the old one (the DPS's subst group) and the Sefin
cancels the old note itself. Both invoice pages link the two notes (issue 16 point 3)."""

import re
from datetime import UTC, datetime

import pytest
from flask import current_app
from playwright.sync_api import expect

from portal.billing import run
from portal.billing.models import FiscalStatus, Invoice
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.nfse_nacional import NacionalSettings, NfseNacionalIssuer
from portal.shared import clock, cnpj
from portal.shared.audit import Actor
from tests.e2e import staff_data
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash
from tests.fakes.sefin import SefinFake, SefinPki

pytestmark = pytest.mark.e2e

FINANCEIRO = "financeiro@staff.example.com"
REASON = "Quantidade lançada errada no mês"


@pytest.fixture
def sefin_issuer(live_server):
    app = live_server.app
    pki = SefinPki(cnpj=cnpj.compact(app.config["RESELLER_CNPJ"]), other_cnpj="11222333000181")
    sefin = SefinFake(pki).start()
    original = app.extensions["fiscal_issuer"]
    app.extensions["fiscal_issuer"] = NfseNacionalIssuer(
        NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file), timeout=10), pki.a1)
    yield sefin
    app.extensions["fiscal_issuer"] = original
    sefin.stop()
    pki.remove()


def billed(app, organization_id: int, day) -> tuple[int, str, str]:
    """The organization's invoice of billing day `day`, issued by the run with its note: (id, number, note's key)."""
    with app.app_context():
        with clock.frozen(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)):
            issued = run.invoice_organization(organization_id, on=day,
                                              settings=BillingSettings.from_config(current_app.config),
                                              actor=Actor.system("tests"))
        invoice = db.session.get(Invoice, issued.invoice.id)
        note = invoice.fiscal_document
        assert note is not None and note.status == FiscalStatus.ISSUED
        found = (invoice.id, invoice.display_number, note.access_key)
        db.session.remove()
        return found


def test_financeiro_reissues_an_invoice_whose_nfse_the_new_one_substitutes(page, log_in, check_page, live_server,
                                                                           sefin_issuer):
    checks = PageChecks(check_page)
    day = staff_data.last_day_with_day_at_most_28(clock.today())
    customer = staff_data.customer(live_server.app, billing_day=day.day)
    invoice_id, number, old_key = billed(live_server.app, customer.organization_id, day)

    log_in(page, FINANCEIRO, totp=True)
    page.goto(f"{live_server.url}/backoffice/faturas/{invoice_id}")
    expect(page.get_by_test_id("fiscal-access-key")).to_contain_text(old_key)
    page.get_by_role("link", name="Corrigir…").click()
    expect(page.get_by_role("heading", name=f"Corrigir a fatura {number}")).to_be_visible()
    expect(page.get_by_test_id("reissue-substitutes")).to_contain_text("a nota da nova fatura a substitui")
    checks(page)

    page.get_by_label("Motivo do cancelamento").fill(REASON)
    page.get_by_label("Motivo para a nota fiscal").select_option(label="Erro na emissão")
    page.get_by_role("button", name=f"Cancelar a {number} e emitir outra").click()
    expect(page.get_by_text("Confirme para continuar.")).to_be_visible()
    expect(page.get_by_label("Motivo do cancelamento")).to_have_value(REASON)  # nothing typed is lost
    assert not sefin_issuer.notes[old_key]["cancelled"]
    checks(page)

    page.get_by_label("Entendo que a nota fiscal também é cancelada e que isso não pode ser desfeito.").check()
    page.get_by_role("button", name=f"Cancelar a {number} e emitir outra").click()
    flash(page, f"Fatura {number} cancelada e substituída pela")
    flash(page, "foi cancelada por substituição")
    heading = page.get_by_role("heading", name=re.compile(r"^Fatura \d{4}\/\d{6}$"))
    expect(heading).to_be_visible()
    new_number = heading.inner_text().removeprefix("Fatura ")
    assert new_number != number
    expect(page.get_by_test_id("fiscal-substitutes")).to_contain_text(f"da fatura {number}")
    checks(page)

    new_key = next(key for key in sefin_issuer.notes if key != old_key)
    assert sefin_issuer.notes[old_key]["cancelled"] is True
    assert new_key.encode() in sefin_issuer.notes[old_key]["events"][0]  # e105102 names the substitute

    page.goto(f"{live_server.url}/backoffice/faturas/{invoice_id}")
    expect(page.get_by_test_id("fiscal-cancelled")).to_contain_text("cancelada por substituição")
    expect(page.get_by_test_id("fiscal-substituted-by")).to_contain_text(f"da fatura {new_number}")
    checks(page)
    checks.assert_clean()
