"""The invoice and boleto PDFs, read back: text with pdftotext, the ITF barcode measured and decoded from a
600 dpi rendering, the Pix QR's module grid, and the store that keeps each document once.

The invoice is the spec's E12 (specs/prorata.md), issued by the real billing service on 2026-04-01:
10 licenses at R$ 78,90 bought long ago, +3 on 03-11 and −2 on 03-15 → R$ 941,71.
"""

import hashlib
import re
import subprocess
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import segno
from flask import render_template
from flask_babel import force_locale
from sqlalchemy import func, select, update

from portal.billing import documents, itf, pix
from portal.billing import jobs as billing_jobs
from portal.billing.boletos import new_boleto, printed_nosso_numero
from portal.billing.models import Boleto, CreditEntry, Invoice
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock
from portal.shared import documents as stored_documents
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.cnpj import format as format_cnpj
from portal.shared.documents import StoredDocument
from portal.shared.errors import NotFound
from portal.subscriptions import service as subscriptions
from tests import factories
from tests.fakes import pdf
from tests.fakes.concurrency import concurrently

SYSTEM = Actor.system("tests")
DPI = 600
PRODUCT = "Microsoft 365 Business Standard"


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def no_invoice_jobs(monkeypatch):
    """Issuing queues complete_invoice (documents → nota fiscal → e-mail), which runs inline in tests; here
    each test calls the documents step itself, so it renders exactly what it checks, once."""
    monkeypatch.setattr(billing_jobs, "complete_invoice", lambda invoice_id: None)


def _change(world, subscription, quantity):
    actor = Actor.for_user(world.adm)
    quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription,
                                                new_quantity=quantity, actor=actor)
    subscriptions.confirm_quote(organization=world.demo, token=quote.token, actor=actor)


@pytest.fixture
def e12(app_ctx, world, settings, no_invoice_jobs) -> Invoice:
    """The April invoice of E12, issued through the billing service with the clock frozen."""
    demo = world.demo
    demo.billing_day = 1
    demo.microsoft_tenant_id = "tenant-demo"
    db.session.commit()
    with clock.frozen(at(date(2026, 3, 11))):
        product = factories.ProductFactory(name=PRODUCT)
        subscription = factories.subscription(demo, product=product, quantity=10, added_at=at(date(2026, 1, 1)))
        _change(world, subscription, 13)  # E1: +3 on 03-11
        clock.advance(timedelta(days=4))
        _change(world, subscription, 11)  # E3: −2 of that lot on 03-15 (inside its window) → credit
    with clock.frozen(at(date(2026, 4, 1), 9)):
        issued = invoice_organization(demo.id, on=date(2026, 4, 1), settings=settings, actor=SYSTEM)
    db.session.expire_all()
    invoice = db.session.get(Invoice, issued.invoice.id)
    assert invoice.total_cents == 94171, "E12: the April invoice must total R$ 941,71"
    return invoice


def _document_events(invoice) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.tag == AuditTag.INVOICE_DOCUMENTS_GENERATED, AuditEvent.subject == f"invoice:{invoice.id}"))


def _pix_payload_read_back(text: str) -> str:
    """The copia-e-cola as printed: it wraps over lines (a wrap may eat one of its spaces), so the pieces
    are joined every possible way and the one whose CRC checks is the payload (wherever else "000201" occurs)."""
    blocks = pdf.wrapped_blocks_starting(text, "000201")  # a nosso número like 109/00020101-0 starts so too
    candidates = {found for pieces in blocks for found in pdf.rejoin_wrapped(pieces, pix.crc_ok)}
    assert len(candidates) == 1, f"expected one CRC-valid reading of {blocks}, got {candidates}"
    return candidates.pop()


def test_the_payload_read_back_skips_other_text_that_starts_like_a_payload():
    """A nosso número such as 109/00020101-0 begins with the payload's "000201" too (it did on PostgreSQL once the
    sequence reached it): the read-back takes the block whose CRC checks, wherever it is on the page."""
    payload = pix.static_payload(key="12345678000195", name="CLOUD REVENDA", city="SAO PAULO", amount_cents=94171,
                                 txid="FAT2026000001")
    page = (f"Nosso número\n109/00020101-0\n\nPix copia e cola\n{payload[:40]}\n{payload[40:80]}\n"
            f"{payload[80:]}\n\nValor do documento R$ 941,71")
    assert _pix_payload_read_back(page) == payload


# ---------------------------------------------------------------- the invoice PDF, read back

def test_e12_invoice_pdf_reads_back(e12, world, settings):
    documents.ensure_invoice_documents(e12, settings=settings, actor=SYSTEM)
    content, content_type = stored_documents.load(e12.pdf_sha256)
    assert content_type == "application/pdf" and content.startswith(b"%PDF-")
    assert pdf.page_count(content) == 2  # the invoice, then its boleto

    invoice_page = pdf.pdf_text(content, first_page=1, last_page=1)
    for expected in (
        settings.reseller_legal_name, format_cnpj(settings.reseller_cnpj),
        "Demo Tecnologia Ltda", "Demo Tecnologia", format_cnpj(world.demo.cnpj), "Rua Augusta, 100", "CEP 01304-000",
        f"Fatura {e12.display_number}", "Emissão: 01/04/2026", "01/04/2026 a 30/04/2026", "13/04/2026",
        # every line, in words and amounts
        f"{PRODUCT} — 11 licenças × R$ 78,90, período 01/04/2026 a 30/04/2026", "R$ 867,90",
        "+3 licenças, pró-rata de 11/03/2026 a 31/03/2026 (21 de 31 dias)", "R$ 160,35",
        "Crédito aplicado", "-R$ 86,54",
        # totals and how to pay
        "R$ 1.028,25", "R$ 941,71", "Pix copia e cola", "agência / conta 0057 / 12345-7", "Cartão de crédito",
    ):
        assert expected in invoice_page, f"{expected!r} is not on the invoice page"
    assert "Total" in next(line for line in invoice_page.splitlines() if "R$ 941,71" in line)

    boleto = e12.current_boleto
    boleto_page = pdf.pdf_text(content, first_page=2, last_page=2)
    assert boleto.digitable_line in boleto_page  # exactly as the boleto module formats it
    assert boleto.digitable_line.startswith("341")
    assert printed_nosso_numero(settings, boleto.nosso_numero) in boleto_page
    assert "Boleto não registrado — simulação, não pague" in boleto_page
    for expected in ("13/04/2026", "R$ 941,71", format_cnpj(world.demo.cnpj), format_cnpj(settings.reseller_cnpj),
                     e12.display_number, "Ficha de Compensação"):
        assert expected in boleto_page
    payload = _pix_payload_read_back(boleto_page)
    assert pix.crc_ok(payload)
    assert payload == boleto.pix_payload
    assert pix.parse_payload(payload)["54"] == "941.71"
    assert _pix_payload_read_back(invoice_page) == payload  # also in the invoice's payment instructions


def test_e12_boleto_barcode_digits_read_back_from_pixels(e12, settings):
    """The ficha's barcode rendered at 600 dpi, measured bar by bar and decoded as a scanner would."""
    documents.ensure_invoice_documents(e12, settings=settings, actor=SYSTEM)
    boleto = e12.current_boleto
    content, _ = stored_documents.load(boleto.pdf_sha256)  # the boleto alone: the same page as the invoice's page 2
    found = pdf.barcode_on_page(content, 1, dpi=DPI)
    assert len(found.runs) == 4 + 22 * 10 + 3  # start, 22 digit pairs, stop
    assert itf.decode_itf_runs(found.widths()) == boleto.barcode
    assert found.width_mm == pytest.approx(103, abs=1)
    assert found.height_mm == pytest.approx(13, abs=0.5)
    assert found.mm(found.quiet_left) >= 5 and found.mm(found.quiet_right) >= 5
    narrow = [width for is_bar, width in found.widths() if is_bar and width < 12]
    assert sum(narrow) / len(narrow) == pytest.approx(0.2543 * DPI / 25.4, abs=1)  # ≈ 6 px

    # The Pix QR beside it: the embedded image is the payload's QR at error correction M, 32 mm wide.
    [qr] = [image for image in pdf.embedded_images(content) if image.width == image.height]
    modules = pdf.qr_modules(qr.image, border=documents.QR_BORDER_MODULES)
    assert pdf.qr_format(modules)[0] == "M"
    expected = segno.make_qr(boleto.pix_payload, error="m", boost_error=False)
    assert modules == [[bool(cell) for cell in row] for row in expected.matrix]
    assert qr.width / qr.x_ppi * 25.4 == pytest.approx(documents.QR_PRINTED_MM, abs=0.5)


# ---------------------------------------------------------------- generated once, stored once

def test_ensure_invoice_documents_is_idempotent_and_portuguese(app_ctx, e12, settings):
    with app_ctx.test_request_context(), force_locale("en"):  # whoever triggers it, the papers are Portuguese
        documents.ensure_invoice_documents(e12, settings=settings, actor=SYSTEM)
    invoice_sha, boleto_sha = e12.pdf_sha256, e12.current_boleto.pdf_sha256
    assert invoice_sha and boleto_sha and invoice_sha != boleto_sha
    stored = {sha: stored_documents.load(sha)[0] for sha in (invoice_sha, boleto_sha)}
    assert _document_events(e12) == 1

    documents.ensure_invoice_documents(e12, settings=settings, actor=SYSTEM)
    db.session.expire_all()
    invoice = db.session.get(Invoice, e12.id)
    assert (invoice.pdf_sha256, invoice.current_boleto.pdf_sha256) == (invoice_sha, boleto_sha)
    assert {sha: stored_documents.load(sha)[0] for sha in (invoice_sha, boleto_sha)} == stored
    assert _document_events(invoice) == 1
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.INVOICE_DOCUMENTS_GENERATED))
    assert event.after["documents"] == {"invoice": invoice_sha, "boleto:1": boleto_sha}

    text = pdf.pdf_text(stored[boleto_sha])
    # Portuguese words, and Brazilian money and dates (English would print R$941.71 and 04/13/2026).
    assert "Vencimento" in text and "Boleto de cobrança" in text
    assert "R$ 941,71" in text and "13/04/2026" in text
    assert pdf.page_count(stored[boleto_sha]) == 1
    assert invoice.current_boleto.digitable_line in text


def test_store_is_content_addressed(app_ctx):
    first = stored_documents.store(b"%PDF-1.7 conteudo", "application/pdf")
    again = stored_documents.store(b"%PDF-1.7 conteudo", "application/pdf")
    db.session.commit()
    assert first == again == hashlib.sha256(b"%PDF-1.7 conteudo").hexdigest()
    assert db.session.scalar(select(func.count()).select_from(StoredDocument)) == 1
    assert stored_documents.load(first) == (b"%PDF-1.7 conteudo", "application/pdf")
    stored_documents.store(b"%PDF-1.7 conteudo", "text/plain")  # the first copy stays as it was
    assert stored_documents.load(first) == (b"%PDF-1.7 conteudo", "application/pdf")
    with pytest.raises(NotFound):
        stored_documents.load("0" * 64)
    with pytest.raises(NotFound):
        stored_documents.load("../etc/passwd")


def test_a_racing_worker_does_not_replace_the_first_documents(e12, settings):
    """Another worker stored the documents after this one read the invoice: its hashes stay, this render is
    dropped, and no second audit event says documents were generated."""
    first = stored_documents.store(b"%PDF-1.7 the first worker's", "application/pdf")
    boleto = e12.current_boleto
    db.session.execute(update(Invoice).where(Invoice.id == e12.id).values(pdf_sha256=first)
                       .execution_options(synchronize_session=False))
    db.session.execute(update(Boleto).where(Boleto.id == boleto.id).values(pdf_sha256=first)
                       .execution_options(synchronize_session=False))
    assert e12.pdf_sha256 is None and boleto.pdf_sha256 is None  # what this worker still sees

    documents.ensure_invoice_documents(e12, settings=settings, actor=SYSTEM)
    assert (e12.pdf_sha256, e12.current_boleto.pdf_sha256) == (first, first)
    assert _document_events(e12) == 0


# ---------------------------------------------------------------- 2ª via and a registered boleto

def test_second_copy_shows_fine_interest_and_new_due_date(e12, settings):
    """A 2ª via (registered with the bank, so no simulation notice): its own amount, multa, juros and due date."""
    with clock.frozen(at(date(2026, 4, 20))):
        second = new_boleto(e12, settings, due=date(2026, 4, 23), amount_cents=94171 + 1883 + 220, sequence=2,
                            fine_cents=1883, interest_cents=220)
        second.registered = True
        db.session.commit()
    content = documents.render_boleto_pdf(second, settings=settings)
    text = pdf.pdf_text(content)
    assert second.digitable_line in text
    assert "Boleto de cobrança — 2ª via" in text
    flat = pdf.flat(text)  # the instructions wrap inside their box
    assert "2ª via da fatura 2026/000001, vencida em 13/04/2026. Novo vencimento: 23/04/2026." in flat
    assert "Valor original R$ 941,71 + multa R$ 18,83 + juros de mora R$ 2,20 = R$ 962,74." in flat
    assert "não registrado" not in text
    assert _pix_payload_read_back(text) == second.pix_payload


def test_invoice_paid_by_credit_has_no_boleto_page(app_ctx, world, settings, no_invoice_jobs):
    demo = world.demo
    demo.billing_day = 1
    db.session.commit()
    with clock.frozen(at(date(2026, 3, 11))):
        factories.subscription(demo, quantity=2, added_at=at(date(2026, 1, 1)))
        db.session.add(CreditEntry(organization_id=demo.id, amount_cents=50000, description="crédito",
                                             created_at=clock.now()))
        db.session.commit()
    with clock.frozen(at(date(2026, 4, 1), 9)):
        invoice = invoice_organization(demo.id, on=date(2026, 4, 1), settings=settings, actor=SYSTEM).invoice
    assert invoice.total_cents == 0 and not invoice.boletos
    documents.ensure_invoice_documents(invoice, settings=settings, actor=SYSTEM)
    content, _ = stored_documents.load(invoice.pdf_sha256)
    assert pdf.page_count(content) == 1
    text = pdf.pdf_text(content)
    assert "quitada com crédito" in text and "R$ 0,00" in text and "-R$ 157,80" in text
    assert "Boleto" not in text


# ---------------------------------------------------------------- one layout for the invoice and its boleto

def _title(content: bytes) -> str:
    """The PDF's document title (`pdfinfo`)."""
    with tempfile.TemporaryDirectory(prefix="pdf-title-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(content)
        out = subprocess.run(["pdfinfo", str(source)], capture_output=True, check=True).stdout.decode()
    return re.search(r"^Title:\s+(.*)$", out, re.MULTILINE).group(1)


def test_the_boleto_out_of_the_invoice_layout_is_the_boleto_alone(e12, settings):
    """`ensure_invoice_documents` lays the invoice out once and writes its boleto page(s) as the boleto PDF
    (portal/billing/documents.py, `render_invoice_documents`): the same page, pixel for pixel, as rendering the
    boleto alone, with the boleto's own title."""
    documents.ensure_invoice_documents(e12, settings=settings, actor=SYSTEM)
    boleto = e12.current_boleto
    stored, _ = stored_documents.load(boleto.pdf_sha256)
    alone = documents.render_boleto_pdf(boleto, settings=settings)
    invoice, _ = stored_documents.load(e12.pdf_sha256)
    assert pdf.page_count(stored) == pdf.page_count(alone) == 1
    assert pdf.rasterise(stored, 1, dpi=100).tobytes() == pdf.rasterise(alone, 1, dpi=100).tobytes()
    assert pdf.rasterise(invoice, 2, dpi=100).tobytes() == pdf.rasterise(alone, 1, dpi=100).tobytes()
    assert pdf.pdf_text(stored) == pdf.pdf_text(alone)
    assert _title(stored) == _title(alone) == f"Boleto da fatura {e12.display_number}"
    assert _title(invoice) == f"Fatura {e12.display_number}"


def test_invoice_documents_rendered_in_threads_are_identical(e12, settings):
    """Huey's thread workers: the same invoice's documents from four threads at once, each with its own font
    configuration and the shared parsed stylesheet, come out byte for byte the same."""
    with force_locale("pt_BR"):
        html = render_template("documents/invoice.html", **documents.invoice_template_context(e12, settings=settings))
    title = f"Boleto da fatura {e12.display_number}"
    expected = documents.render_invoice_documents(e12, settings=settings)
    assert documents.documents_from_html(html, boleto_title=title) == expected

    results, errors = concurrently(4, lambda index: documents.documents_from_html(html, boleto_title=title))
    assert errors == [] and len(results) == 4
    assert all(result == expected for result in results)
    assert e12.current_boleto.digitable_line in pdf.pdf_text(expected[1])
