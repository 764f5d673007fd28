"""The invoice and boleto PDFs (WeasyPrint), generated once after issue and kept in the document store
(portal/shared/documents.py).

Documents are legal papers: they are always rendered in Brazilian Portuguese, whatever the language of
whoever triggers them. Once an invoice or boleto has its `pdf_sha256`, the stored bytes are what is
served and e-mailed forever after (DESIGN rule 6); nothing here renders a document a second time.
"""

import base64
import copy
import functools
import struct
import zlib

import segno
from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import update

from portal.accounts.models import Organization
from portal.billing import boleto as boleto_codes
from portal.billing import boletos, itf
from portal.billing.boletos import printed_nosso_numero
from portal.billing.lines import line_text, line_views
from portal.billing.models import Boleto, Invoice, InvoiceKind
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock, pdf
from portal.shared import cnpj as cnpj_module
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.documents import DOCUMENT_LOCALE, PDF, render_pdf, store

BANK_NAMES = {"001": "Banco do Brasil S.A.", "237": "Banco Bradesco S.A.", "341": "Itaú Unibanco S.A."}
# The bank code as printed on the ficha carries its own check digit (mod 11 of the three digits).
BANK_CODE_DV = {"001": "9", "237": "2", "341": "7"}

# The ITF symbol's printed size (specs/boleto.md, Rendering: 103 × 13 mm of bars, 5 mm quiet zones) is set
# by `img.barcode` in templates/documents/_base.html; the image carries the bars only.
QR_ERROR = "m"  # error correction M, never boosted: the level is part of what was agreed for the Pix QR
QR_BORDER_MODULES = 4  # the quiet zone QR readers need, part of the image
QR_PRINTED_MM = 32  # the whole image, border included


# ---------------------------------------------------------------- what the templates show

def _address(organization: Organization) -> str:
    street = f"{organization.street}, {organization.number}"
    if organization.complement:
        street += f", {organization.complement}"
    cep = organization.postal_code
    cep = f"{cep[:5]}-{cep[5:]}" if len(cep) == 8 else cep
    return f"{street} – {organization.district} – {organization.city}/{organization.state} – CEP {cep}"


def _percent(basis_points: int) -> str:
    """200 → `2`, 150 → `1,5`, 33 → `0,33` (Portuguese decimal comma; no float involved)."""
    whole, fraction = divmod(basis_points, 100)
    return f"{whole},{fraction:02d}".rstrip("0").rstrip(",")


def _lines(invoice: Invoice) -> list[dict]:
    return [{"kind": line.kind, "text": line_text(line), "amount_cents": line.amount_cents}
            for line in line_views(invoice.lines)]


def _bank_account(settings: BillingSettings) -> str:
    """Agência / conta as the bank prints them (Itaú: the account's DAC is mod 10 of agência + conta)."""
    if settings.bank == "341":
        return f"{settings.agency} / {settings.account}-{boleto_codes.mod10(settings.agency + settings.account)}"
    return f"{settings.agency} / {settings.account}"


def _data_uri(content: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"


def _png(rows: list[bytes], width: int) -> bytes:
    """A 1-bit greyscale PNG of `rows` (each `ceil(width / 8)` bytes, a set bit = white)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, len(rows), 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    pixels = zlib.compress(b"".join(b"\x00" + row for row in rows), 9)  # filter 0 on every row
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@functools.lru_cache(maxsize=256)  # the invoice and its boleto page show the same images: made once
def barcode_data_uri(barcode: str) -> str:
    """The ITF symbol's bars as a PNG one pixel per module and one pixel tall (405 × 1 for 44 digits), which the
    page stretches to 103 × 13 mm without smoothing (`image-rendering: pixelated`); the quiet zones are the
    image's margins. The same bars as `itf.itf_svg` draws, for a fraction of the rendering time of a vector
    drawing (WeasyPrint draws SVG in Python)."""
    bits = "".join(("0" if is_bar else "1") * width for is_bar, width in itf.itf_modules(barcode))
    padded = bits + "1" * (-len(bits) % 8)
    row = int(padded, 2).to_bytes(len(padded) // 8, "big")
    return _data_uri(_png([row], len(bits)), "image/png")


@functools.lru_cache(maxsize=256)
def pix_qr_data_uri(payload: str) -> str:
    """The Pix QR as a PNG of one pixel per module (the PDF scales it up without smoothing)."""
    code = segno.make_qr(payload, error=QR_ERROR, boost_error=False)
    return code.png_data_uri(scale=1, border=QR_BORDER_MODULES)


def _boleto_context(invoice: Invoice, found: Boleto, settings: BillingSettings) -> dict:
    pix_ready = boletos.pix_ready(found)  # not while its dynamic Pix is being made at the PSP
    return {
        "boleto": found,
        "bank_name": BANK_NAMES.get(found.bank, found.bank),
        "bank_code": f"{found.bank}-{BANK_CODE_DV.get(found.bank, '')}".rstrip("-"),
        "bank_account": _bank_account(settings),
        "nosso_numero": printed_nosso_numero(settings, found.nosso_numero),
        "barcode_uri": barcode_data_uri(found.barcode),
        "qr_uri": pix_qr_data_uri(found.pix_payload) if pix_ready else None,
        "pix_ready": pix_ready,
        "second_copy": found.sequence > 1,
        "base_cents": found.amount_cents - found.fine_cents - found.interest_cents,
        "original_due": invoice.due_date,
        "processed_on": clock.to_business(found.created_at).date() if found.created_at else clock.today(),
    }


def _context(invoice: Invoice, settings: BillingSettings) -> dict:
    organization = invoice.organization
    return {
        "invoice": invoice,
        "settings": settings,
        "credit_note": invoice.kind == InvoiceKind.CREDIT_NOTE,
        "reseller_cnpj": cnpj_module.format(settings.reseller_cnpj),
        "customer": organization,
        "customer_cnpj": cnpj_module.format(organization.cnpj),
        "customer_address": _address(organization),
        "issued_on": clock.to_business(invoice.issued_at).date(),
        "bank_name": BANK_NAMES.get(settings.bank, settings.bank),
        "bank_account": _bank_account(settings),
        "fine_percent": _percent(settings.fine_bp),
        "interest_percent": _percent(settings.interest_monthly_bp),
    }


# ---------------------------------------------------------------- rendering

def _pdf(html: str) -> bytes:
    return render_pdf(html)  # no URL but data: is ever fetched (portal/shared/documents.py)


def invoice_template_context(invoice: Invoice, *, settings: BillingSettings) -> dict:
    """What documents/invoice.html shows (call it under `force_locale(DOCUMENT_LOCALE)`)."""
    context = _context(invoice, settings)
    context["lines"] = _lines(invoice)
    current = invoice.current_boleto
    context["boleto_page"] = _boleto_context(invoice, current, settings) if current is not None else None
    return context


def render_invoice_pdf(invoice: Invoice, *, settings: BillingSettings) -> bytes:
    """The invoice (page 1) and, when it has a boleto, the current boleto's page with the ficha de compensação."""
    with force_locale(DOCUMENT_LOCALE):
        html = render_template("documents/invoice.html", **invoice_template_context(invoice, settings=settings))
    return _pdf(html)


def render_boleto_pdf(boleto: Boleto, *, settings: BillingSettings) -> bytes:
    """One boleto's page alone (the "boleto" download; a 2ª via shows its multa, juros and new due date)."""
    invoice = boleto.invoice
    with force_locale(DOCUMENT_LOCALE):
        context = _context(invoice, settings)
        context["boleto_page"] = _boleto_context(invoice, boleto, settings)
        html = render_template("documents/boleto.html", **context)
    return _pdf(html)


def _boleto_title(invoice: Invoice) -> str:
    """The boleto PDF's title, as documents/boleto.html gives it (under the documents' locale)."""
    return _("Boleto da fatura %(number)s", number=invoice.display_number)


def _boleto_pages(document) -> list:
    """The pages of the invoice's boleto section: from the page where it starts (it breaks before itself and
    is the document's last part) to the end; none without a boleto."""
    for index, page in enumerate(document.pages):
        for box in page._page_box.descendants():
            element = getattr(box, "element", None)
            if element is not None and element.tag == "section" and "boleto-page" in (element.get("class") or ""):
                return document.pages[index:]
    return []


def render_invoice_documents(invoice: Invoice, *, settings: BillingSettings) -> tuple[bytes, bytes | None]:
    """The invoice PDF and its current boleto's PDF (None without a boleto), from ONE layout.

    The boleto page is the invoice's last page(s), laid out exactly as `render_boleto_pdf` lays out the boleto
    alone (same template part, same page size and margins, starting on a page of its own), so the boleto PDF
    is those pages written on their own, titled as the boleto alone is. That saves a whole second render.
    """
    with force_locale(DOCUMENT_LOCALE):
        context = invoice_template_context(invoice, settings=settings)
        html = render_template("documents/invoice.html", **context)
        boleto_title = _boleto_title(invoice) if context["boleto_page"] is not None else None
    return documents_from_html(html, boleto_title=boleto_title)


def documents_from_html(html: str, *, boleto_title: str | None) -> tuple[bytes, bytes | None]:
    """The invoice PDF of documents/invoice.html's `html`, and (with a `boleto_title`) its boleto page(s) as
    a PDF of their own. Touches no database: any thread may call it."""
    document = pdf.render(html)
    invoice_pdf = pdf.write(document)
    if boleto_title is None:
        return invoice_pdf, None
    boleto = document.copy(_boleto_pages(document))
    boleto.metadata = copy.copy(document.metadata)
    boleto.metadata.title = boleto_title
    return invoice_pdf, pdf.write(boleto)


# ---------------------------------------------------------------- generated once

def ensure_invoice_documents(invoice: Invoice, *, settings: BillingSettings, actor: Actor) -> None:
    """Render and store whatever PDF the invoice and its boletos still lack; commits. Idempotent.

    Each hash is set with a conditional UPDATE (only while still empty), so when two workers race, the
    first one's document is kept and the second one's render is dropped instead of replacing it.
    """
    generated: dict[str, str] = {}
    rendered: dict[int, bytes] = {}  # boleto id → its PDF, when it came out of the invoice's own layout
    if invoice.pdf_sha256 is None:
        invoice_pdf, boleto_pdf = render_invoice_documents(invoice, settings=settings)
        current = invoice.current_boleto
        if boleto_pdf is not None and current.pdf_sha256 is None:
            rendered[current.id] = boleto_pdf
        digest = store(invoice_pdf, PDF, fiscal=True)
        claimed = db.session.execute(
            update(Invoice).where(Invoice.id == invoice.id, Invoice.pdf_sha256.is_(None))
            .values(pdf_sha256=digest)
            .execution_options(synchronize_session=False, organization_ids=[invoice.organization_id])
        ).rowcount
        if claimed:
            generated["invoice"] = digest
    for found in invoice.boletos:
        if found.pdf_sha256 is not None:
            continue
        content = rendered.get(found.id) or render_boleto_pdf(found, settings=settings)
        digest = store(content, PDF, fiscal=True)
        claimed = db.session.execute(
            update(Boleto).where(Boleto.id == found.id, Boleto.pdf_sha256.is_(None))
            .values(pdf_sha256=digest)
            .execution_options(synchronize_session=False, organization_ids=[invoice.organization_id])
        ).rowcount
        if claimed:
            generated[f"boleto:{found.sequence}"] = digest
    if generated:
        record(AuditTag.INVOICE_DOCUMENTS_GENERATED, actor=actor, organization_id=invoice.organization_id,
               subject=f"invoice:{invoice.id}", after={"number": invoice.display_number, "documents": generated})
    db.session.commit()  # also expires the invoice and boletos, so their hashes are read back from the rows
