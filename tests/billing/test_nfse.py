"""The billing side of real notes (issue 16): the DPS number, the NFS-e Nacional adapter against the fake Sefin,
rejections as exceptions for finance, retries with the same number, a note without PDF, cancellation."""

import dataclasses
from datetime import UTC, date, datetime

import pytest
from lxml import etree
from sqlalchemy import func, select

from portal.accounts.roles import Role
from portal.billing import corrections, fiscal
from portal.billing import jobs as billing_jobs
from portal.billing.models import (
    MAX_PDF_ATTEMPTS,
    BillingException,
    ExceptionKind,
    FiscalDocument,
    FiscalNumber,
    FiscalStatus,
    Invoice,
    InvoiceStatus,
)
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations import nfse_nacional, xmldsig
from portal.integrations.fiscal import FiscalSimulator, FiscalUnavailable
from portal.integrations.nfse_nacional import NacionalSettings, NfseNacionalIssuer
from portal.notifications.models import EmailDelivery
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import factories
from tests.conftest import sign_in
from tests.fakes.concurrency import concurrently
from tests.fakes.sefin import SefinFake, SefinPki

SYSTEM = Actor.system("tests")
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
N = f"{{{nfse_nacional.NS}}}"
RESELLER_CNPJ = "11444777000161"  # config.py's default RESELLER_CNPJ


@pytest.fixture(scope="module")
def pki():
    made = SefinPki(cnpj=RESELLER_CNPJ, other_cnpj="11222333000181")
    yield made
    made.remove()


@pytest.fixture
def sefin(pki):  # one per test: each test's database starts the DPS numbers again
    fake = SefinFake(pki).start()
    yield fake
    fake.stop()


@pytest.fixture
def issuer(sefin, pki):
    return NfseNacionalIssuer(NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file), timeout=5), pki.a1)


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def invoice(app_ctx):
    with clock.frozen(NOW):
        organization = factories.OrganizationFactory(billing_day=1)
        return factories.invoice(organization, total_cents=78900)


def issue(invoice, issuer, settings):
    with clock.frozen(NOW):
        return fiscal.ensure_fiscal_document(invoice, issuer=issuer, settings=settings, actor=SYSTEM)


def rejections(invoice) -> list[BillingException]:
    return list(db.session.scalars(select(BillingException).where(
        BillingException.invoice_id == invoice.id, BillingException.kind == ExceptionKind.NFSE_REJECTED)))


def test_a_real_note_takes_a_number_before_sending_and_is_stored_with_its_key(invoice, issuer, settings, sefin):
    document = issue(invoice, issuer, settings)
    number = db.session.scalar(select(FiscalNumber).where(FiscalNumber.invoice_id == invoice.id))
    assert number.series == "1" and number.number >= 1
    assert (document.series, document.dps_number) == ("1", number.number)
    assert document.source == "nfse_nacional" and document.status == FiscalStatus.ISSUED
    assert document.access_key in sefin.notes and document.verification_code == document.access_key
    assert document.xml.encode() == sefin.notes[document.access_key]["xml"]
    assert document.request_id == sefin.notes[document.access_key]["id"]
    assert document.pdf_sha256 is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.FISCAL_DOCUMENT_ISSUED))
    assert event.after["access_key"] == document.access_key
    assert issue(invoice, issuer, settings).id == document.id  # idempotent


def test_numbers_are_gapless_and_the_simulator_takes_none(app_ctx, issuer, settings):
    with clock.frozen(NOW):
        organization = factories.OrganizationFactory(billing_day=1)
        first, second, simulated = (factories.invoice(organization, total_cents=1000 * (n + 1),
                                                      billing_date=date(2026, 4, 1 + n)) for n in range(3))
    taken = [fiscal.take_fiscal_number(first, settings).number, fiscal.take_fiscal_number(second, settings).number]
    assert taken[1] == taken[0] + 1
    assert fiscal.take_fiscal_number(first, settings).number == taken[0]  # once per invoice
    assert fiscal.next_fiscal_number(simulated, settings) == (taken[1] + 1, False)  # peeking takes nothing
    assert fiscal.next_fiscal_number(simulated, settings) == (taken[1] + 1, False)
    issue(simulated, app_ctx.extensions["fiscal_issuer"], settings)
    assert db.session.scalar(select(FiscalNumber).where(FiscalNumber.invoice_id == simulated.id)) is None


def test_two_workers_taking_the_number_of_one_invoice_get_the_same_one(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context(), clock.frozen(NOW):
        organization = factories.OrganizationFactory(billing_day=1)
        invoices = [factories.invoice(organization, total_cents=1000 * (n + 1),
                                      billing_date=date(2026, 4, 1 + n)).id for n in range(2)]
        settings = BillingSettings.from_config(app.config)

    def take(index):
        with app.app_context():
            return fiscal.take_fiscal_number(db.session.get(Invoice, invoices[index % 2]), settings).number

    with clock.frozen(NOW):
        results, errors = concurrently(4, take)
    assert not errors
    assert sorted(set(results)) == [1, 2]
    with app.app_context():
        assert db.session.scalar(select(func.count(FiscalNumber.id))) == 2


def test_a_rejection_becomes_an_exception_and_is_not_resent_until_something_changes(invoice, issuer, settings,
                                                                                    sefin):
    sefin.reject_next("E0234")
    assert issue(invoice, issuer, settings) is None
    [exception] = rejections(invoice)
    assert exception.details["errors"][0][0] == "E0234"
    assert "E0234" in exception.message and exception.details["customer_data"] is True
    assert db.session.scalar(select(FiscalDocument).where(FiscalDocument.invoice_id == invoice.id)) is None
    seen = len(sefin.requests)
    assert issue(invoice, issuer, settings) is None  # the same data again: not resent, no second exception
    assert len(sefin.requests) == seen and len(rejections(invoice)) == 1
    exception.resolved_at = clock.now()  # finance resolves it ("Resolver"): the next try sends it again
    db.session.commit()
    document = issue(invoice, issuer, settings)
    assert document is not None and document.dps_number == exception.details["number"]  # the same number


def test_a_customer_without_the_city_code_is_an_exception_naming_the_data(invoice, issuer, settings, sefin):
    invoice.organization.city_code = ""
    db.session.commit()
    seen = len(sefin.requests)
    assert issue(invoice, issuer, settings) is None
    [exception] = rejections(invoice)
    assert exception.details["fields"] == ["taker.address.city_code"] and exception.details["customer_data"]
    assert len(sefin.requests) == seen  # nothing was sent
    invoice.organization.city_code = "3550308"  # corrected: the next sweep sends it (the data changed)
    db.session.commit()
    document = issue(invoice, issuer, settings)
    assert document is not None
    db.session.refresh(exception)
    assert exception.resolved_at is not None and document.number in exception.resolution_note


def test_an_unavailable_sefin_raises_for_a_retry_with_the_same_number(invoice, issuer, settings, sefin):
    sefin.fail_next(1)
    with pytest.raises(FiscalUnavailable):
        issue(invoice, issuer, settings)
    taken = db.session.scalar(select(FiscalNumber).where(FiscalNumber.invoice_id == invoice.id)).number
    document = issue(invoice, issuer, settings)
    assert document.dps_number == taken
    assert len([note for note in sefin.notes.values() if note["id"] == document.request_id]) == 1


def test_a_note_without_pdf_is_kept_and_its_pdf_fetched_later(invoice, sefin, pki, settings):
    without = NfseNacionalIssuer(NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file)), pki.a1,
                                 pdf=lambda xml: None)
    document = issue(invoice, without, settings)
    assert document.pdf_sha256 is None
    with pytest.raises(Exception, match="sendo gerado"):
        fiscal.fiscal_pdf(invoice)
    with_pdf = NfseNacionalIssuer(NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file)), pki.a1)
    with clock.frozen(NOW):
        fiscal.ensure_fiscal_pdf(invoice, issuer=with_pdf, settings=settings)
    assert documents.load(fiscal.fiscal_pdf(invoice).pdf_sha256)[0].startswith(b"%PDF-")
    assert len([note for note in sefin.notes.values() if note["id"] == document.request_id]) == 1


def _invoice_page(client, invoice) -> str:
    """The invoice's page as a Cobrança user of its organization sees it."""
    user = factories.UserFactory()
    factories.MembershipFactory(organization=invoice.organization, user=user, roles=[Role.COBRANCA])
    db.session.commit()
    return sign_in(client, user, invoice.organization).get(f"/faturas/{invoice.id}").get_data(as_text=True)


def test_a_pdf_that_never_comes_is_asked_for_a_bounded_number_of_times(app, client, invoice, sefin, pki, settings,
                                                                       monkeypatch):
    without = NfseNacionalIssuer(NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file)), pki.a1,
                                 pdf=lambda xml: None)
    monkeypatch.setitem(app.extensions, "fiscal_issuer", without)
    document = issue(invoice, without, settings)
    factories.store_pdfs(invoice)
    invoice.emailed_at = NOW  # nothing else missing: only the DANFSe brings the sweep back to it
    db.session.commit()
    asked = []
    for _run in range(MAX_PDF_ATTEMPTS + 3):
        with clock.frozen(NOW):
            asked.append(billing_jobs.sweep_invoices.call_local())
    assert asked == [1] * MAX_PDF_ATTEMPTS + [0, 0, 0]  # then the note is left without it
    db.session.expire_all()
    document = db.session.get(FiscalDocument, document.id)
    assert document.pdf_attempts == MAX_PDF_ATTEMPTS and document.pdf_unavailable
    page = _invoice_page(client, invoice)
    assert "DANFSe (PDF) indisponível; o XML é a nota fiscal" in page and "em preparação" not in page


def test_an_issuer_without_pdfs_is_never_asked_for_one_and_its_public_page_is_linked(app, client, invoice, settings,
                                                                                     monkeypatch):
    class CityWithoutPdf(FiscalSimulator):  # São Paulo's way: no PDF, a public page of the note
        backend = "nfse_sao_paulo"
        gives_pdf = False

        def issue(self, request):
            self.asked = getattr(self, "asked", 0) + 1
            return dataclasses.replace(super().issue(request), pdf=None,
                                       public_url="https://nfe.prefeitura.sp.gov.br/contribuinte/notaprint.aspx")

    city = CityWithoutPdf()
    monkeypatch.setitem(app.extensions, "fiscal_issuer", city)
    with clock.frozen(NOW):
        fiscal.ensure_fiscal_document(invoice, issuer=city, settings=settings, actor=SYSTEM)
    factories.store_pdfs(invoice)
    invoice.emailed_at = NOW  # nothing else missing
    db.session.commit()
    with clock.frozen(NOW):
        assert billing_jobs.sweep_invoices.call_local() == 0
        fiscal.ensure_fiscal_pdf(invoice, issuer=city, settings=settings)
    assert city.asked == 1  # only the issue itself
    page = _invoice_page(client, invoice)
    assert 'href="https://nfe.prefeitura.sp.gov.br/contribuinte/notaprint.aspx"' in page
    assert "Nota fiscal no site da prefeitura" in page and "em preparação" not in page


REASON = "Valor do serviço divergente do contrato"


@pytest.fixture
def billed(app, app_ctx, issuer, settings, sefin, monkeypatch):
    """An organization with 4 licences billed on 1 April by the run; its NFS-e authorised by the fake Sefin."""
    monkeypatch.setitem(app.extensions, "fiscal_issuer", issuer)
    with clock.frozen(NOW):
        organization = factories.OrganizationFactory(billing_day=1)
        factories.subscription(organization, quantity=4, added_at=datetime(2026, 1, 5, 12, tzinfo=UTC))
        db.session.commit()
        billed = invoice_organization(organization.id, on=date(2026, 4, 1), settings=settings, actor=SYSTEM).invoice
    assert billed.fiscal_document is not None and billed.fiscal_document.status == FiscalStatus.ISSUED
    return billed


def test_a_reissue_substitutes_the_note_and_the_sefin_cancels_the_old_one(billed, settings, sefin):
    old = billed.fiscal_document
    with clock.frozen(NOW):
        done = corrections.cancel_and_reissue(billed, reason=REASON, settings=settings, actor=SYSTEM)
    db.session.expire_all()
    new = db.session.get(Invoice, done.invoice.id).fiscal_document
    old = db.session.get(FiscalDocument, old.id)
    assert new.status == FiscalStatus.ISSUED and new.access_key != old.access_key
    subst = etree.fromstring(new.xml.encode()).find(f".//{N}infDPS/{N}subst")
    assert subst.findtext(f"{N}chSubstda") == old.access_key and subst.findtext(f"{N}cMotivo") == "99"
    assert subst.findtext(f"{N}xMotivo") == f"Reemissao da fatura: {REASON}"
    assert (old.status, old.substituted_by_id) == (FiscalStatus.CANCELLED, new.id) and old.cancelled_at is not None
    at_sefin = sefin.notes[old.access_key]
    assert at_sefin["cancelled"] and len(at_sefin["events"]) == 1
    assert b"105102" in at_sefin["events"][0] and new.access_key.encode() in at_sefin["events"][0]
    assert not [path for _method, path in sefin.requests if path.endswith("/eventos")]  # no e101101 of its own
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.FISCAL_DOCUMENT_CANCELLED))
    assert (event.after["number"], event.after["substituted_by"]) == (old.number, new.number)
    assert fiscal.substituted_note(done.invoice).id == old.id


def test_a_substitution_the_sefin_refuses_leaves_the_old_note_and_tells_finance(billed, settings, sefin):
    old = billed.fiscal_document
    sefin.notes[old.access_key]["cancelled"] = True  # cancelled meanwhile at the national portal
    with clock.frozen(NOW):
        done = corrections.cancel_and_reissue(billed, reason=REASON, settings=settings, actor=SYSTEM)
    db.session.expire_all()
    assert db.session.get(Invoice, done.invoice.id).fiscal_document is None
    [rejection] = rejections(done.invoice)
    assert "E0046" in rejection.message
    assert db.session.get(FiscalDocument, old.id).status == FiscalStatus.ISSUED


def test_a_reissue_with_nothing_to_bill_again_cancels_the_note_by_its_own_event(app, invoice, issuer, settings,
                                                                                sefin, monkeypatch):
    monkeypatch.setitem(app.extensions, "fiscal_issuer", issuer)
    document = issue(invoice, issuer, settings)
    with clock.frozen(NOW):
        done = corrections.cancel_and_reissue(invoice, reason=REASON, reason_code=2, settings=settings, actor=SYSTEM)
    assert done.invoice is None and not done.note_error
    db.session.expire_all()
    document = db.session.get(FiscalDocument, document.id)
    assert document.status == FiscalStatus.CANCELLED and document.substituted_by_id is None
    assert sefin.notes[document.access_key]["cancelled"] is True
    assert "EVT" + document.access_key + "101101" in document.cancellation_xml
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.FISCAL_DOCUMENT_CANCELLED))
    assert (event.after["reason_code"], event.after["reason"]) == (2, f"Servico nao prestado: {REASON}")


def test_a_refused_cancellation_leaves_the_note_standing_and_tells_finance_until_it_is_cancelled(
        app, invoice, issuer, settings, sefin, monkeypatch):
    monkeypatch.setitem(app.extensions, "fiscal_issuer", issuer)
    document = issue(invoice, issuer, settings)
    sefin.reject_next("E0822", "Prazo para cancelamento expirado.")
    with clock.frozen(NOW):
        done = corrections.cancel_and_reissue(invoice, reason=REASON, settings=settings, actor=SYSTEM)
    assert done.invoice is None and "E0822" in done.note_error
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == InvoiceStatus.CANCELLED and corrections.standing_note(invoice).id == document.id
    mail = db.session.scalar(select(EmailDelivery).where(EmailDelivery.template == "nfse_cancellation_failed"))
    assert mail is not None and "E0822" in (mail.body_text or "")
    with pytest.raises(ServiceError, match="motivo"):
        corrections.cancel_standing_note(invoice, reason_code=7, reason=REASON, actor=SYSTEM)
    with clock.frozen(NOW):
        corrections.cancel_standing_note(invoice, reason_code=9, reason="Fatura cancelada sem reemissão", actor=SYSTEM)
    db.session.expire_all()
    assert db.session.get(FiscalDocument, document.id).status == FiscalStatus.CANCELLED
    assert corrections.standing_note(db.session.get(Invoice, invoice.id)) is None


class CancelFirst(NfseNacionalIssuer):
    """The adapter as an issuer without substitution (São Paulo's way): a reissue cancels the note first."""

    substitutes = False


def test_an_issuer_without_substitution_cancels_first_and_a_refusal_changes_nothing(app, invoice, sefin, pki,
                                                                                   settings, monkeypatch):
    cancel_first = CancelFirst(NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file), timeout=5), pki.a1)
    monkeypatch.setitem(app.extensions, "fiscal_issuer", cancel_first)
    document = issue(invoice, cancel_first, settings)
    sefin.reject_next("E0822", "Prazo para cancelamento expirado.")
    with clock.frozen(NOW), pytest.raises(ServiceError, match="E0822"):
        corrections.cancel_and_reissue(invoice, reason=REASON, settings=settings, actor=SYSTEM)
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).status == InvoiceStatus.OPEN
    assert db.session.get(FiscalDocument, document.id).status == FiscalStatus.ISSUED
    with clock.frozen(NOW):
        corrections.cancel_and_reissue(invoice, reason=REASON, reason_code=9, settings=settings, actor=SYSTEM)
    db.session.expire_all()
    assert db.session.get(FiscalDocument, document.id).status == FiscalStatus.CANCELLED
    assert sefin.notes[document.access_key]["cancelled"] is True


def test_finance_sets_the_customers_ibge_city_code_on_the_organization_page(login_as, world):
    client = login_as("staff_financeiro")
    url = f"/backoffice/organizacoes/{world.demo.id}/municipio"
    assert client.post(url, data={"city_code": " 3304557 "}).status_code == 302
    assert world.demo.city_code == "3304557"
    page = client.get(f"/backoffice/organizacoes/{world.demo.id}").get_data(as_text=True)
    assert "3304557" in page and 'data-testid="city-code-form"' in page
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.ORGANIZATION_CITY_CODE_CHANGED))
    assert event.after == {"city_code": "3304557"}
    for bad, message in (("123", "7 dígitos"), ("9950308", "código do estado")):
        refused = client.post(url, data={"city_code": bad})
        assert refused.status_code == 422 and message in refused.get_data(as_text=True)
        assert bad in refused.get_data(as_text=True)  # kept to be corrected
    assert world.demo.city_code == "3304557"


def test_the_rejection_on_conciliacao_links_to_where_the_data_are_corrected(login_as, world, settings, sefin, issuer):
    with clock.frozen(NOW):
        invoice = factories.invoice(world.demo, total_cents=78900)
    world.demo.city_code = ""
    db.session.commit()
    issue(invoice, issuer, settings)
    page = login_as("staff_financeiro").get("/backoffice/conciliacao").get_data(as_text=True)
    assert "NFS-e recusada" in page and 'data-testid="nfse-correct-link"' in page
    assert f"/backoffice/organizacoes/{world.demo.id}#municipio" in page


def test_cli_fiscal_dps_writes_the_signed_dps_without_taking_a_number(app, app_ctx, tmp_path):
    with clock.frozen(NOW):
        organization = factories.OrganizationFactory(billing_day=1)
        invoice = factories.invoice(organization, total_cents=78900)
        credit = factories.invoice(organization, total_cents=1000, billing_date=date(2026, 4, 2))
    credit.kind = "credit_note"
    credit.series = "NC"
    db.session.commit()
    output = tmp_path / "dps.xml"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["fiscal", "dps", invoice.display_number, "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "NOT taken" in result.output and "DEVELOPMENT" in result.output and "nothing was sent" in result.output
    root = etree.fromstring(output.read_bytes())
    assert nfse_nacional.schema_errors(root, "DPS_v1.01.xsd") == []
    assert xmldsig.verify(root) is not None
    assert root.findtext(f".//{{{nfse_nacional.NS}}}nDPS") == "1"
    assert db.session.scalar(select(func.count(FiscalNumber.id))) == 0  # nothing taken
    settings = BillingSettings.from_config(app.config)
    fiscal.take_fiscal_number(invoice, settings)
    again = runner.invoke(args=["fiscal", "dps", invoice.display_number, "--output", str(output)])
    assert again.exit_code == 0 and "the invoice's own DPS number" in again.output
    for args, reason in ((["9999/000001"], "Não há fatura"), ([credit.display_number], "nota de crédito")):
        refused = runner.invoke(args=["fiscal", "dps", *args, "--output", str(output)])
        assert refused.exit_code != 0 and reason in refused.output
    organization.city_code = ""
    db.session.commit()
    refused = runner.invoke(args=["fiscal", "dps", invoice.display_number, "--output", str(output)])
    assert refused.exit_code != 0 and "IBGE" in refused.output
    invoice.status = InvoiceStatus.CANCELLED
    db.session.commit()
    refused = runner.invoke(args=["fiscal", "dps", invoice.display_number, "--output", str(output)])
    assert refused.exit_code != 0 and "cancelada" in refused.output


def test_the_invoice_pages_show_the_key_the_cancellation_and_a_pdf_in_preparation(app, login_as, world, settings,
                                                                                  sefin, pki, monkeypatch):
    with clock.frozen(NOW):
        invoice = factories.invoice(world.demo, total_cents=78900)
    without = NfseNacionalIssuer(NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file)), pki.a1,
                                 pdf=lambda xml: None)
    document = issue(invoice, without, settings)
    customer = login_as("master").get(f"/faturas/{invoice.id}").get_data(as_text=True)
    assert "DANFSe (PDF) em preparação" in customer and 'data-testid="fiscal-pdf"' not in customer
    monkeypatch.setitem(app.extensions, "fiscal_issuer", without)
    fiscal.cancel_fiscal_document(invoice, issuer=without, reason_code=9, reason="Fatura emitida em duplicidade",
                                  actor=SYSTEM)
    staff = login_as("staff_financeiro").get(f"/backoffice/faturas/{invoice.id}").get_data(as_text=True)
    assert document.access_key in staff and 'data-testid="fiscal-cancelled"' in staff
