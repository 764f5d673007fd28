"""The accountant's monthly pack (issue 16 point 6, billing/pack.py): what the ZIP holds (the NFS-e XML byte for
byte, the PDFs, resumo.csv whose totals are the sums of its rows), that it streams (peak memory far below the
documents' sizes), the pages (customer Faturas, staff Faturas; never another organization's data; a bad or empty
month is a message), the "e-mail do contador" and the daily delivery (attachment or signed link; once per
organization and month whatever the number of consumers).

The clock is 2026-04-05 12:00 in São Paulo; the pack's month is March 2026.
"""

import csv
import io
import os
import tempfile
import tracemalloc
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from portal.billing import pack
from portal.billing.jobs import send_accountant_packs
from portal.billing.models import (
    AccountantPackDelivery,
    AccountantSettings,
    FiscalDocument,
    InvoiceKind,
    InvoiceStatus,
    Payment,
)
from portal.extensions import db
from portal.notifications.models import EmailDelivery
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import factories
from tests.fakes.concurrency import concurrently

APRIL_5 = datetime(2026, 4, 5, 15, 0, tzinfo=UTC)
MARCH = date(2026, 3, 1)
ACTOR = Actor.system("tests")
# An NFS-e as a city returns it: Latin-1, an ISS amount, a name with accents.
LATIN1_XML = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<CompNfse xmlns="http://www.abrasf.org.br/nfse.xsd">'
              '<Nfse><InfNfse><Numero>{number}</Numero><CodigoVerificacao>XYZ98765</CodigoVerificacao>'
              '<Servico><Valores><ValorServicos>789.00</ValorServicos><ValorIss>15.78</ValorIss></Valores>'
              '</Servico><RazaoSocial>Açaí Informática</RazaoSocial></InfNfse></Nfse></CompNfse>\n')


@pytest.fixture
def april(app_ctx, world):
    with clock.frozen(APRIL_5):
        yield clock


def _note(invoice, xml: str) -> FiscalDocument:
    note = FiscalDocument(invoice_id=invoice.id, number=f"{invoice.number}", verification_code="XYZ98765",
                          issued_on=invoice.billing_date, amount_cents=invoice.total_cents, xml=xml,
                          pdf_sha256=documents.store(factories.fake_pdf(f"DANFSe {invoice.id}"), "application/pdf"),
                          simulated=False, source="upload", created_at=clock.now())
    db.session.add(note)
    db.session.commit()
    return note


def march_books(world):
    """Demo: a paid invoice with a real-looking NFS-e (ISS) and credit applied, a simulated one, a cancelled one
    and a credit note; Outra Empresa: one invoice; and one demo invoice of February (not in March's pack)."""
    paid = factories.invoice(world.demo, billing_date=date(2026, 3, 2), total_cents=78_900)
    factories.store_pdfs(paid)
    paid.subtotal_cents, paid.credit_applied_cents, paid.total_cents = 80_000, 1_100, 78_900
    paid.status = InvoiceStatus.PAID
    db.session.add(Payment(invoice_id=paid.id, amount_cents=78_900, method="pix", paid_on=date(2026, 3, 9),
                           source="manual"))
    db.session.commit()
    note = _note(paid, LATIN1_XML.format(number=paid.number))
    simulated = factories.invoice(world.demo, billing_date=date(2026, 3, 15), with_documents=True)
    cancelled = factories.invoice(world.demo, billing_date=date(2026, 3, 20), total_cents=10_000,
                                  status=InvoiceStatus.CANCELLED, with_documents=True)
    credit = factories.invoice(world.demo, billing_date=date(2026, 3, 25), lines=(), total_cents=-5_000,
                               boleto=False)
    credit.kind, credit.series, credit.subtotal_cents = InvoiceKind.CREDIT_NOTE, "NC", -5_000
    db.session.commit()
    factories.store_pdfs(credit)
    other = factories.invoice(world.other, billing_date=date(2026, 3, 3), with_documents=True)
    february = factories.invoice(world.demo, billing_date=date(2026, 2, 27), with_documents=True)
    return {"paid": paid, "note": note, "simulated": simulated, "cancelled": cancelled, "credit": credit,
            "other": other, "february": february}


def _rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))


def _cents(text: str) -> int:
    return int(text.replace(",", "")) if text else 0


# ---------------------------------------------------------------- what the pack holds

def test_the_pack_holds_the_months_documents_and_a_summary_whose_totals_are_its_rows(april, world):
    books = march_books(world)
    found = pack.monthly_pack(MARCH, world.demo)
    archive = zipfile.ZipFile(io.BytesIO(pack.zip_bytes(found)))
    assert archive.testzip() is None
    names = set(archive.namelist())
    paid, stem = books["paid"], f"{books['paid'].year}-{books['paid'].number:06d}"
    assert {f"2026-03/fatura-{stem}.pdf", f"2026-03/boleto-{stem}-1.pdf", f"2026-03/nfse-{paid.number}.xml",
            f"2026-03/danfse-{paid.number}.pdf", "2026-03/resumo.csv"} <= names
    assert f"2026-03/nota-de-credito-nc-{books['credit'].year}-{books['credit'].number:06d}.pdf" in names
    # The NFS-e byte for byte as issued (Latin-1, as it declares), and every PDF as stored.
    xml = archive.read(f"2026-03/nfse-{paid.number}.xml")
    assert xml == LATIN1_XML.format(number=paid.number).encode("iso-8859-1")
    assert archive.read(f"2026-03/fatura-{stem}.pdf") == documents.load(paid.pdf_sha256)[0]
    assert archive.read(f"2026-03/danfse-{paid.number}.pdf") == documents.load(books["note"].pdf_sha256)[0]
    # Nothing of another organization or another month.
    for stranger in (books["other"], books["february"]):
        assert not any(f"{stranger.number:06d}" in name and "fatura" in name for name in names)

    rows = _rows(archive.read("2026-03/resumo.csv"))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert header[0] == "Fatura" and "ISS (R$)" in header
    assert len(body) == 4  # paid, simulated, cancelled, credit note
    by_number = {row[0]: row for row in body}
    row = by_number[paid.display_number]
    assert row[2:5] == [str(paid.number), "XYZ98765", world.demo.cnpj[:2] + "." + world.demo.cnpj[2:5] + "."
                        + world.demo.cnpj[5:8] + "/" + world.demo.cnpj[8:12] + "-" + world.demo.cnpj[12:]]
    assert row[5:] == ["Demo Tecnologia Ltda", "03/2026", "800,00", "11,00", "789,00", "15,78", "paga", "09/03/2026"]
    assert by_number[books["simulated"].display_number][10] == ""  # a simulated note states no ISS
    assert by_number[books["cancelled"].display_number][11] == "cancelada"
    assert by_number[books["credit"].display_number][1] == "nota de crédito"
    for column in (7, 8, 9, 10):
        assert _cents(total[column]) == sum(_cents(row[column]) for row in body)
    assert total[0] == "Total (4 faturas)"


def test_the_resellers_books_hold_every_organization(april, world):
    books = march_books(world)
    found = pack.monthly_pack(MARCH, None)
    assert {row.invoice_id for row in found.rows} == {books[k].id for k in ("paid", "simulated", "cancelled",
                                                                            "credit", "other")}
    assert found.filename == "pacote-contador-2026-03.zip"
    assert pack.monthly_pack(MARCH, world.demo).filename == f"pacote-contador-{world.demo.cnpj}-2026-03.zip"


@pytest.mark.parametrize("text, expected", [("2026-03", MARCH), ("03/2026", MARCH), (" 3/2026 ", MARCH)])
def test_months_are_read_as_people_give_them(text, expected):
    assert pack.parse_month(text) == expected


@pytest.mark.parametrize("text", ["", None, "2026-13", "março", "00/2026", "2026-03-01", "99999-01", "1/0001"])
def test_a_bad_month_is_a_message(app_ctx, text):
    with pytest.raises(ServiceError) as error:
        pack.parse_month(text)
    assert error.value.field == "mes" and error.value.message


def test_an_empty_month_is_a_message_not_an_empty_zip(april, world):
    with pytest.raises(ServiceError, match="Não há faturas com competência 01/2026"):
        pack.pack_or_error(date(2026, 1, 1), world.demo)


# ---------------------------------------------------------------- streaming

def test_the_zip_streams_without_holding_a_whole_document(april, world):
    """12 documents of 3 MB (36 MB): building and writing the ZIP never holds even one of them whole (each is read
    from the store in pieces and compressed as it comes)."""
    size, count = 3 * 1024 * 1024, 12
    stored, organizations = [], [world.demo, world.other, factories.OrganizationFactory()]
    for index in range(count):  # one regular invoice per organization and day
        invoice = factories.invoice(organizations[index % 3], billing_date=date(2026, 3, 1 + index // 3),
                                    boleto=False, total_cents=1000 + index)
        invoice.pdf_sha256 = documents.store(os.urandom(size), "application/pdf")
        stored.append(invoice.pdf_sha256)
    db.session.commit()
    db.session.expunge_all()
    found = pack.monthly_pack(MARCH, None)
    assert found.documents_size == size * count
    with tempfile.TemporaryFile() as target:
        tracemalloc.start()
        try:
            for chunk in pack.stream_zip(found):
                target.write(chunk)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        print(f"peak {peak} bytes for {size * count} bytes of documents")
        assert peak < size, peak  # less than one document, never the 36 MB (with whole documents: 2-3 of them)
        target.seek(0)
        with zipfile.ZipFile(target) as archive:
            assert archive.testzip() is None  # every CRC checks
            members = [name for name in archive.namelist() if name.endswith(".pdf")]
            assert len(members) == count
            contents = {archive.read(name) for name in members}
    assert contents == {documents.load(sha)[0] for sha in stored}


# ---------------------------------------------------------------- pages

def _zip_of(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def test_cobranca_downloads_the_organizations_pack_and_only_it(april, world, login_as):
    books = march_books(world)
    client = login_as("cobranca")
    page = client.get("/faturas")
    assert "Baixar pacote do contador" in page.get_data(as_text=True)
    response = client.get("/faturas/pacote?mes=2026-03")
    assert f"pacote-contador-{world.demo.cnpj}-2026-03.zip" in response.headers["Content-Disposition"]
    archive = _zip_of(response)
    text = archive.read("2026-03/resumo.csv").decode("utf-8-sig")
    assert books["paid"].display_number in text
    assert books["other"].display_number not in text and "Outra Empresa" not in text
    assert world.other.cnpj not in text and "Outra" not in " ".join(archive.namelist())


@pytest.mark.parametrize("month, message", [
    ("2026-01", "Não há faturas com competência 01/2026"),
    ("abril", "“abril” não é um mês válido"),
    ("", "Escolha o mês do pacote"),
])
def test_an_empty_or_bad_month_comes_back_with_a_message(april, world, login_as, month, message):
    march_books(world)
    client = login_as("cobranca")
    response = client.get(f"/faturas/pacote?mes={month}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/faturas")
    assert message in client.get("/faturas").get_data(as_text=True)


def test_finance_downloads_the_resellers_pack(april, world, login_as):
    books = march_books(world)
    client = login_as("staff_financeiro")
    assert "Baixar pacote do contador" in client.get("/backoffice/faturas").get_data(as_text=True)
    archive = _zip_of(client.get("/backoffice/faturas/pacote?mes=03/2026"))
    text = archive.read("2026-03/resumo.csv").decode("utf-8-sig")
    assert books["paid"].display_number in text and books["other"].display_number in text
    response = client.get("/backoffice/faturas/pacote?mes=13/2026")
    assert response.status_code == 302
    assert "não é um mês válido" in client.get("/backoffice/faturas").get_data(as_text=True)


# ---------------------------------------------------------------- e-mail do contador

def test_cobranca_registers_the_accountant(april, world, login_as):
    client = login_as("cobranca")
    page = client.get("/faturas/contador")
    assert page.status_code == 200
    refused = client.post("/faturas/contador", data={"email": "contador@escritorio.com.br", "day": "31"})
    assert refused.status_code == 422 and "Escolha um dia entre 1 e 28." in refused.get_data(as_text=True)
    assert 'value="contador@escritorio.com.br"' in refused.get_data(as_text=True)  # nothing lost
    saved = client.post("/faturas/contador", data={"email": " Contador@Escritorio.com.br ", "day": "5"})
    assert saved.status_code == 302
    settings = db.session.scalar(select(AccountantSettings))
    assert (settings.organization_id, settings.email, settings.day) == (world.demo.id, "contador@escritorio.com.br", 5)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.ACCOUNTANT_CHANGED))
    assert event.organization_id == world.demo.id and event.actor_id == world.cobranca.id
    master = login_as("master")
    assert "contador@escritorio.com.br" in master.get("/faturas/contatos").get_data(as_text=True)
    assert master.post("/faturas/contador/remover").status_code == 302
    assert db.session.scalar(select(func.count(AccountantSettings.id))) == 0


# ---------------------------------------------------------------- the monthly delivery

def _accountant(organization, day: int = 5) -> AccountantSettings:
    settings = AccountantSettings(organization_id=organization.id, email="contador@escritorio.com.br", day=day)
    db.session.add(settings)
    db.session.commit()
    return settings


def test_the_pack_goes_attached_on_the_chosen_day_once(april, world, outbox, login_as):
    books = march_books(world)
    _accountant(world.demo, day=6)
    assert pack.send_due_packs(date(2026, 4, 5), actor=ACTOR) == 0  # not yet
    assert pack.send_due_packs(date(2026, 4, 6), actor=ACTOR) == 1
    assert pack.send_due_packs(date(2026, 4, 6), actor=ACTOR) == 0  # once
    assert pack.send_due_packs(date(2026, 4, 20), actor=ACTOR) == 0  # once, whatever the day after
    mail = db.session.scalar(select(EmailDelivery).where(EmailDelivery.template == "accountant_pack"))
    assert mail.to_address == "contador@escritorio.com.br" and "03/2026" in mail.subject
    [(name, sha, content_type)] = mail.attachments
    assert (name, content_type) == (f"pacote-contador-{world.demo.cnpj}-2026-03.zip", "application/zip")
    archive = zipfile.ZipFile(io.BytesIO(documents.load(sha)[0]))
    assert books["paid"].display_number in archive.read("2026-03/resumo.csv").decode("utf-8-sig")
    delivery = db.session.scalar(select(AccountantPackDelivery))
    assert (delivery.month, delivery.mode) == (MARCH, "attachment")
    assert db.session.scalar(select(func.count(AuditEvent.seq)).where(
        AuditEvent.tag == AuditTag.ACCOUNTANT_PACK_SENT, AuditEvent.organization_id == world.demo.id)) == 1
    history = login_as("master").get("/historico").get_data(as_text=True)
    assert "O portal enviou o pacote do contador da competência 03/2026 para contador@escritorio.com.br." in history


def test_the_daily_job_sends_the_previous_month(april, world):
    march_books(world)
    _accountant(world.demo, day=1)
    assert send_accountant_packs.call_local() == 1
    assert db.session.scalar(select(AccountantPackDelivery.month)) == MARCH


def test_a_big_pack_goes_as_a_signed_link_that_expires(april, world, monkeypatch, app_ctx):
    books = march_books(world)
    _accountant(world.demo, day=5)
    monkeypatch.setattr(pack, "ATTACHMENT_LIMIT", 100)
    assert pack.send_due_packs(date(2026, 4, 5), actor=ACTOR) == 1
    mail = db.session.scalar(select(EmailDelivery).where(EmailDelivery.template == "accountant_pack"))
    assert not mail.attachments
    url = next(word for word in mail.body_text.split() if "/pacote-contador/" in word)
    assert url.startswith(app_ctx.config["BASE_URL"].rstrip("/"))
    path = url.removeprefix(app_ctx.config["BASE_URL"].rstrip("/"))
    anonymous = app_ctx.test_client()
    archive = _zip_of(anonymous.get(path))
    text = archive.read("2026-03/resumo.csv").decode("utf-8-sig")
    assert books["paid"].display_number in text and books["other"].display_number not in text
    token = path.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    refused = anonymous.get(f"/pacote-contador/{tampered}")
    assert refused.status_code == 404 and "não é válido" in refused.get_data(as_text=True)
    forged = pack.link_token(world.other.id, MARCH)[:-4] + token[-4:]  # another organization, this signature
    assert anonymous.get(f"/pacote-contador/{forged}").status_code == 404
    with clock.frozen(APRIL_5 + timedelta(days=30, hours=1)):
        expired = anonymous.get(path)
    assert expired.status_code == 404 and "expirou" in expired.get_data(as_text=True)
    with clock.frozen(APRIL_5 + timedelta(days=29)):
        assert anonymous.get(path).status_code == 200


def test_concurrent_consumers_send_each_pack_once(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        organizations = [factories.OrganizationFactory() for _ in range(3)]
        db.session.commit()
        with clock.frozen(APRIL_5):
            for organization in organizations:
                factories.invoice(organization, billing_date=date(2026, 3, 10), with_documents=True)
                _accountant(organization, day=5)
        ids = sorted(o.id for o in organizations)
        db.session.remove()

    def send(_index):
        with app.app_context():
            try:
                return pack.send_due_packs(date(2026, 4, 5), actor=ACTOR)
            finally:
                db.session.remove()

    with clock.frozen(APRIL_5):
        results, errors = concurrently(5, send)
    assert errors == []
    assert sum(results) == 3
    with app.app_context():
        assert sorted(db.session.scalars(select(AccountantPackDelivery.organization_id))) == ids
        assert db.session.scalar(select(func.count(EmailDelivery.id)).where(
            EmailDelivery.template == "accountant_pack")) == 3
        db.session.execute(delete(AccountantPackDelivery))
        db.session.commit()
        db.session.remove()
