"""Backoffice "Conciliação": the period's payments by source (default: this month; a bad period explained, not a
500), the CSV download, the exceptions resolved through the rendered form (a missing or long note explained, the
note kept), the filter for resolved ones, and the links to the page. The clock is 2026-03-25 12:00 in São Paulo."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from portal.billing import bank, exceptions, payments
from portal.billing.models import BillingException, ExceptionKind
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories
from tests.billing.test_bank import pair, retorno
from tests.conftest import sign_in
from tests.html import alerts, field_errors, section, section_html, submission, textarea, unescaped

MARCH_25 = datetime(2026, 3, 25, 15, 0, tzinfo=UTC)
ACTOR = Actor.system("tests")


@pytest.fixture(autouse=True)
def march(app_ctx):
    with clock.frozen(MARCH_25):
        yield


@pytest.fixture
def finance(client, world):
    return sign_in(client, world.staff_financeiro)


@pytest.fixture
def paid(app_ctx, world):
    """A typed payment on 20/03, a retorno payment on 24/03 and a typed one in February."""
    settings = BillingSettings.from_config(app_ctx.config)
    typed = factories.invoice(world.demo, total_cents=10_000, billing_date=date(2026, 3, 1), due_date=date(2026, 3, 30))
    payments.record_payment(typed, amount_cents=10_000, method="deposito", paid_on=date(2026, 3, 20), actor=ACTOR)
    by_bank = factories.invoice(world.demo, total_cents=20_000, billing_date=date(2026, 3, 2),
                                due_date=date(2026, 3, 30))
    bank.import_retorno(retorno(pair(by_bank.current_boleto.nosso_numero, "06", paid=20_000)), "itau-0324.ret",
                        ACTOR, settings)
    old = factories.invoice(world.demo, total_cents=7_000, billing_date=date(2026, 2, 1), due_date=date(2026, 2, 11))
    payments.record_payment(old, amount_cents=7_000, method="pix", paid_on=date(2026, 2, 10), actor=ACTOR)
    return typed, by_bank


def test_this_months_payments_by_source(finance, paid):
    response = finance.get("/backoffice/conciliacao")
    assert response.status_code == 200
    page = unescaped(response)
    totals = section(page, "reconciliation-totals")
    assert "Digitado 1 R$ 100,00" in totals and "Retorno do banco 1 R$ 200,00" in totals
    assert "Pix (aviso do PSP) 0 R$ 0,00" in totals and "Total 2 R$ 300,00" in totals
    assert "01/03/2026 a 31/03/2026" in section(page, "reconciliation-period")
    listed = section(page, "reconciliation-payments")
    assert "itau-0324.ret, linha" in listed and "R$ 70,00" not in listed


def test_a_chosen_period(finance, paid):
    page = unescaped(finance.get("/backoffice/conciliacao?de=01/02/2026&ate=28/02/2026"))
    assert "Digitado 1 R$ 70,00" in section(page, "reconciliation-totals")
    assert "itau-0324.ret" not in section(page, "reconciliation-payments")


def test_a_bad_period_is_explained_and_this_month_shown(finance, paid):
    response = finance.get("/backoffice/conciliacao?de=32/13/2026&pendencias=talvez")
    assert response.status_code == 422
    page = unescaped(response)
    problems = section(page, "filter-errors")
    assert "32/13/2026" in problems and "Situação desconhecida: “talvez”" in problems
    assert "Total 2 R$ 300,00" in section(page, "reconciliation-totals")
    backwards = finance.get("/backoffice/conciliacao?de=21/03/2026&ate=01/03/2026")
    assert backwards.status_code == 422
    assert "A data final é anterior à inicial" in section(unescaped(backwards), "filter-errors")
    assert "21/03/2026 a 25/03/2026" in section(unescaped(backwards), "reconciliation-period")


def test_the_csv_of_the_period(finance, paid):
    response = finance.get("/backoffice/conciliacao/pagamentos.csv?de=01/03/2026&ate=31/03/2026")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="conciliacao-2026-03-01-a-2026-03-31.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert [row[4] for row in rows[1:]] == ["Digitado", "Retorno do banco"]
    assert [row[6] for row in rows[1:]] == ["100,00", "200,00"]
    # The page's download link carries the page's period.
    page = unescaped(finance.get("/backoffice/conciliacao?de=01/02/2026&ate=28/02/2026"))
    assert "de=01/02/2026" in section_html(page, "reconciliation-csv").replace("%2F", "/")


def test_an_exception_is_resolved_through_its_form(finance, world):
    row = exceptions.open_exception(ExceptionKind.UNKNOWN, "Nosso número 99999999 desconhecido.", {})
    db.session.commit()
    page = unescaped(finance.get("/backoffice/conciliacao"))
    assert "99999999" in section(page, "reconciliation-exceptions")
    # The form's URL carries the page's filters (the period in use), so the page comes back as it was.
    action = f"/backoffice/conciliacao/pendencias/{row.id}/resolver?de=01/03/2026&ate=31/03/2026"

    empty = finance.post(action, data=submission(page, action, note="  "))
    assert empty.status_code == 422
    assert "Escreva o que foi feito para resolver a pendência." in " ".join(field_errors(empty))

    long_note = "x" * 1001
    too_long = finance.post(action, data=submission(page, action, note=long_note))
    assert too_long.status_code == 422 and textarea(too_long, "note") == long_note  # nothing typed is lost

    done = finance.post(action, data=submission(page, action, note="Boleto de outro banco; devolvido."))
    assert done.status_code == 302
    assert "Pendência resolvida." in alerts(finance.get(done.headers["Location"]))
    resolved = db.session.scalar(select(BillingException).where(BillingException.id == row.id))
    assert resolved.resolution_note == "Boleto de outro banco; devolvido."
    assert resolved.resolved_by_id == world.staff_financeiro.id

    page = unescaped(finance.get("/backoffice/conciliacao"))
    assert "99999999" not in section(page, "reconciliation-exceptions")
    resolved_page = unescaped(finance.get("/backoffice/conciliacao?pendencias=resolvidas"))
    assert "Boleto de outro banco; devolvido." in section(resolved_page, "reconciliation-exceptions")

    again = finance.post(action, data={"note": "de novo"})
    assert again.status_code == 422 and "Esta pendência já foi resolvida." in alerts(again)


def test_an_unknown_exception_is_404(finance):
    assert finance.post("/backoffice/conciliacao/pendencias/999999/resolver", data={"note": "x"}).status_code == 404


def test_links_from_the_invoices_and_the_bank_pages(finance):
    assert 'href="/backoffice/conciliacao"' in finance.get("/backoffice/faturas").get_data(as_text=True)
    bank_page = finance.get("/backoffice/banco").get_data(as_text=True)
    assert 'href="/backoffice/conciliacao"' in section_html(bank_page, "bank-reconciliation-link")
