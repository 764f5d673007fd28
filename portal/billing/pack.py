"""The accountant's monthly pack (issue 16 point 6): a month's fiscal documents and a summary CSV in one ZIP,
streamed from storage, for one organization or for the reseller's own books (every organization), and its
monthly delivery to the organization's accountant.

The month is the competência: the invoices whose issue date (`billing_date`, a business date) falls in it,
regular invoices and credit notes, cancelled ones included with their status. Money stays in integer centavos
until the CSV formats it.
"""

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organization
from portal.billing import delivery, fiscal
from portal.billing.models import (
    INVOICE_STATUS_LABELS,
    AccountantPackDelivery,
    AccountantSettings,
    FiscalDocument,
    Invoice,
    InvoiceKind,
)
from portal.billing.reconciliation import csv_money
from portal.extensions import db
from portal.notifications.service import queue_email
from portal.shared import clock, cnpj, documents, tokens
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import spreadsheet_text
from portal.shared.links import absolute_url

ZIP = "application/zip"
XML = "application/xml"
MONTH_FIELD = "mes"
ATTACHMENT_LIMIT = 10 * 1024 * 1024  # a pack up to 10 MB travels attached; a bigger one as a signed link
LINK_SALT = "accountant-pack"
LINK_MAX_AGE = 30 * 24 * 3600  # seconds a link e-mailed to the accountant stays valid
CSV_NAME = "resumo.csv"
CSV_HEADER = (_l("Fatura"), _l("Tipo"), _l("Número da NFS-e"), _l("Chave de acesso / código de verificação"),
              _l("CNPJ do tomador"), _l("Tomador"), _l("Competência"), _l("Valor bruto (R$)"),
              _l("Desconto (crédito aplicado) (R$)"), _l("Valor líquido (R$)"), _l("ISS (R$)"), _l("Situação"),
              _l("Data do pagamento"))
KIND_LABELS = {InvoiceKind.REGULAR: _l("fatura"), InvoiceKind.CREDIT_NOTE: _l("nota de crédito")}

_MONTH_ISO = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")  # <input type="month">: 2026-03
_MONTH_BR = re.compile(r"^\s*(\d{1,2})/(\d{4})\s*$")  # as people type it: 03/2026
# The ISS amount as the layouts name it: ABRASF ValorIss, Padrão Nacional vISSQN, São Paulo ValorISS.
_ISS = re.compile(r"<(?:[\w.-]+:)?(?:ValorIss|vISSQN|ValorISS)>\s*([0-9]+(?:\.[0-9]{1,2})?)\s*</", re.IGNORECASE)


# ---------------------------------------------------------------- the month

def parse_month(text: str | None) -> date:
    """"2026-03" or "03/2026" → date(2026, 3, 1); a clear ServiceError (field `mes`) for anything else."""
    value = (text or "").strip()
    if not value:
        raise ServiceError(_("Escolha o mês do pacote."), field=MONTH_FIELD)
    found = _MONTH_ISO.match(value)
    year, month = (found.group(1), found.group(2)) if found else (None, None)
    if not found and (found := _MONTH_BR.match(value)):
        month, year = found.group(1), found.group(2)
    try:
        first = date(int(year), int(month), 1) if year else None
    except ValueError:
        first = None
    if first is None or first.year < 2000:
        raise ServiceError(_("“%(value)s” não é um mês válido: use mm/aaaa.", value=value[:20]), field=MONTH_FIELD)
    return first


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def _following(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def month_label(month: date) -> str:
    return f"{month:%m/%Y}"


# ---------------------------------------------------------------- what the pack holds

def _access_key(document: FiscalDocument) -> str:
    """The NFS-e's chave de acesso (Padrão Nacional) or código de verificação (ABRASF, São Paulo). The one place to
    read another column once the fiscal adapters keep the chave apart."""
    return document.verification_code


def iss_cents(xml: str) -> int | None:
    """The ISS the NFS-e states (centavos), or None when the note states none (the simulator's do not)."""
    found = _ISS.search(xml)
    if found is None:
        return None
    try:
        return int((Decimal(found.group(1)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class SummaryRow:
    invoice_id: int
    organization_id: int
    number: str  # 2026/000123
    kind: str
    nfse_number: str
    access_key: str
    taker_cnpj: str  # compact
    taker_name: str
    month: date
    gross_cents: int
    discount_cents: int  # credit applied
    net_cents: int
    iss_cents: int | None  # None: the NFS-e states none (or there is no NFS-e)
    status: str
    paid_on: date | None


@dataclass(frozen=True)
class Entry:
    """A file of the ZIP: its name and how to read its bytes (when the ZIP is written, one at a time, in pieces)."""

    name: str
    size: int  # bytes (for the attachment-or-link decision; the stored size)
    chunks: Callable[[], Iterator[bytes]] = field(repr=False, compare=False)


@dataclass
class Pack:
    month: date
    organization: Organization | None  # None: the reseller's own books
    rows: list[SummaryRow]
    entries: list[Entry]  # the documents, in order; resumo.csv is added when the ZIP is written

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def folder(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def filename(self) -> str:
        whose = f"-{self.organization.cnpj}" if self.organization is not None else ""
        return f"pacote-contador{whose}-{self.month:%Y-%m}.zip"

    @property
    def documents_size(self) -> int:
        return sum(entry.size for entry in self.entries)

    def totals(self) -> dict[str, int]:
        """Sums of the rows' amounts (centavos): the CSV's last row."""
        return {"gross_cents": sum(r.gross_cents for r in self.rows),
                "discount_cents": sum(r.discount_cents for r in self.rows),
                "net_cents": sum(r.net_cents for r in self.rows),
                "iss_cents": sum(r.iss_cents or 0 for r in self.rows)}


def _stored(sha256: str) -> Callable[[], Iterator[bytes]]:
    """A stored document in the store's read-sized pieces, checked against its hash as it is read (DocumentCorrupt
    at the end if not: the ZIP breaks off rather than carry a wrong file)."""
    def chunks() -> Iterator[bytes]:
        with documents.open_stored(sha256) as reader:
            while piece := reader.read(documents.CHUNK):
                yield piece
    return chunks


def _nfse_xml(document_id: int) -> Callable[[], Iterator[bytes]]:
    """The NFS-e XML byte for byte as issued: the stored text back in the encoding it declares (a few kB)."""
    return lambda: iter((fiscal.xml_bytes(db.session.scalar(select(FiscalDocument.xml).where(
        FiscalDocument.id == document_id))),))


def _sizes(digests: list[str]) -> dict[str, int]:
    if not digests:
        return {}
    return dict(db.session.execute(select(documents.StoredDocument.sha256, documents.StoredDocument.size)
                                   .where(documents.StoredDocument.sha256.in_(digests))).all())


def _invoices(month: date, organization_id: int | None) -> list[Invoice]:
    statement = (select(Invoice)
                 .where(Invoice.billing_date >= month, Invoice.billing_date < _following(month))
                 .options(selectinload(Invoice.organization), selectinload(Invoice.boletos),
                          selectinload(Invoice.payments), selectinload(Invoice.fiscal_document))
                 .order_by(Invoice.series, Invoice.year, Invoice.number))
    if organization_id is not None:
        statement = statement.where(Invoice.organization_id == organization_id)
    return list(db.session.scalars(statement))


def _row(invoice: Invoice, month: date) -> SummaryRow:
    note = invoice.fiscal_document
    paid = [payment.paid_on for payment in invoice.payments]
    return SummaryRow(
        invoice_id=invoice.id, organization_id=invoice.organization_id, number=invoice.display_number,
        kind=invoice.kind, nfse_number=note.number if note else "", access_key=_access_key(note) if note else "",
        taker_cnpj=invoice.organization.cnpj, taker_name=invoice.organization.legal_name, month=month,
        gross_cents=invoice.subtotal_cents, discount_cents=invoice.credit_applied_cents,
        net_cents=invoice.total_cents, iss_cents=iss_cents(note.xml) if note else None, status=invoice.status,
        paid_on=max(paid) if paid and invoice.status == "paid" else None)


def monthly_pack(month: date, organization: Organization | None) -> Pack:
    """The month's pack for `organization` (None: every organization). Reads no document yet."""
    invoices = _invoices(month, organization.id if organization is not None else None)
    planned: list[tuple[str, str | None, int | None]] = []  # (name, sha256 of a stored document, NFS-e id)
    for invoice in invoices:
        stem = delivery.file_stem(invoice)
        if invoice.pdf_sha256:
            planned.append((delivery.invoice_pdf_name(invoice), invoice.pdf_sha256, None))
        for boleto in invoice.boletos:
            if boleto.pdf_sha256:
                planned.append((f"boleto-{stem}-{boleto.sequence}.pdf", boleto.pdf_sha256, None))
        note = invoice.fiscal_document
        if note is not None:
            planned.append((fiscal.download_name(note, "xml"), None, note.id))
            planned.append(("danfse-" + fiscal.download_name(note, "pdf").removeprefix("nfse-"), note.pdf_sha256,
                            None))
    sizes = _sizes([sha for _name, sha, _id in planned if sha])
    entries, seen = [], set()
    folder = f"{month:%Y-%m}"
    xml_sizes = {invoice.fiscal_document.id: len(invoice.fiscal_document.xml)
                 for invoice in invoices if invoice.fiscal_document is not None}
    for name, sha, note_id in planned:
        if sha is not None and sha not in sizes:
            continue  # not stored (yet): the summary still lists the invoice
        path = _unique(f"{folder}/{name}", seen)
        if note_id is not None:
            entries.append(Entry(path, xml_sizes[note_id], _nfse_xml(note_id)))
        else:
            entries.append(Entry(path, sizes[sha], _stored(sha)))
    return Pack(month=month, organization=organization, rows=[_row(i, month) for i in invoices], entries=entries)


def _unique(path: str, seen: set[str]) -> str:
    candidate, stem, dot, extension, counter = path, *path.rpartition("."), 2
    while candidate in seen:
        candidate = f"{stem}-{counter}{dot}{extension}"
        counter += 1
    seen.add(candidate)
    return candidate


def pack_or_error(month: date, organization: Organization | None) -> Pack:
    """The pack, or a ServiceError saying the month has no invoice (no empty ZIP is ever offered)."""
    found = monthly_pack(month, organization)
    if found.empty:
        raise ServiceError(_("Não há faturas com competência %(month)s.", month=month_label(month)),
                           field=MONTH_FIELD)
    return found


# ---------------------------------------------------------------- resumo.csv

def _date(value: date | None) -> str:
    return f"{value:%d/%m/%Y}" if value else ""


def summary_csv(pack: Pack) -> bytes:
    """One row per invoice and a totals row, for Excel in Portuguese (UTF-8 with BOM, `;`, "1234,56", CRLF).
    Always in Portuguese: it is a fiscal paper for the accountant, like the PDFs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    with force_locale(documents.DOCUMENT_LOCALE):
        writer.writerow([str(title) for title in CSV_HEADER])
        for row in pack.rows:
            writer.writerow([
                row.number, str(KIND_LABELS.get(row.kind, row.kind)), spreadsheet_text(row.nfse_number),
                spreadsheet_text(row.access_key), cnpj.format(row.taker_cnpj), spreadsheet_text(row.taker_name),
                month_label(row.month), csv_money(row.gross_cents), csv_money(row.discount_cents),
                csv_money(row.net_cents), csv_money(row.iss_cents) if row.iss_cents is not None else "",
                str(INVOICE_STATUS_LABELS.get(row.status, row.status)), _date(row.paid_on),
            ])
        totals = pack.totals()
        writer.writerow([_("Total (%(n)d faturas)", n=len(pack.rows)), "", "", "", "", "", month_label(pack.month),
                         csv_money(totals["gross_cents"]), csv_money(totals["discount_cents"]),
                         csv_money(totals["net_cents"]), csv_money(totals["iss_cents"]), "", ""])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# ---------------------------------------------------------------- the ZIP, streamed

class _Sink:
    """A write-only, non-seekable file for zipfile: what it is given waits here until the generator hands it on."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def stream_zip(pack: Pack) -> Iterator[bytes]:
    """The pack as ZIP bytes, chunk by chunk: each document is read from storage when its turn comes, in the
    store's pieces, compressed and handed on as they come, so memory holds neither a whole document nor the ZIP
    (zipfile writes data descriptors on a non-seekable file; ZIP64 where a member needs it)."""
    sink = _Sink()
    stamp = clock.to_business(clock.now()).timetuple()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        members = [*pack.entries, Entry(f"{pack.folder}/{CSV_NAME}", 0, lambda: iter((summary_csv(pack),)))]
        for entry in members:
            info = zipfile.ZipInfo(entry.name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=entry.size >= zipfile.ZIP64_LIMIT) as member:
                for piece in entry.chunks():
                    member.write(piece)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


def zip_bytes(pack: Pack) -> bytes:
    """The whole ZIP in memory: only for a pack small enough to be e-mailed."""
    return b"".join(stream_zip(pack))


# ---------------------------------------------------------------- the accountant (settings)

def accountant_of(organization_id: int) -> AccountantSettings | None:
    return db.session.scalar(select(AccountantSettings).where(AccountantSettings.organization_id == organization_id))


def set_accountant(organization: Organization, *, email: str, day: int | None, actor: Actor) -> AccountantSettings:
    """Register (or change) the accountant's e-mail and the day (1–28) of the following month. Commits."""
    address = (email or "").strip().lower()
    if not address or "@" not in address or len(address) > 254:
        raise ServiceError(_("Informe um e-mail válido."), field="email")
    if day is None or not 1 <= day <= 28:
        raise ServiceError(_("Escolha um dia entre 1 e 28."), field="day")
    found = accountant_of(organization.id)
    before = {"email": found.email, "day": found.day} if found else {}
    if found is None:
        found = AccountantSettings(organization_id=organization.id, email=address, day=day)
        db.session.add(found)
    found.email, found.day = address, day
    found.updated_at, found.updated_by_id = clock.now(), actor.user_id
    db.session.flush()
    record(AuditTag.ACCOUNTANT_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before=before, after={"email": address, "day": day})
    try:
        db.session.commit()
    except IntegrityError as exc:  # registered at the same moment by another request
        db.session.rollback()
        raise ServiceError(_("O e-mail do contador acabou de ser alterado por outra pessoa; confira e salve de "
                             "novo."), field="email") from exc
    return found


def remove_accountant(organization: Organization, *, actor: Actor) -> AccountantSettings:
    found = accountant_of(organization.id)
    if found is None:
        raise NotFound(_("Nenhum e-mail do contador cadastrado."))
    record(AuditTag.ACCOUNTANT_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before={"email": found.email, "day": found.day}, after={})
    db.session.delete(found)
    db.session.commit()
    return found


# ---------------------------------------------------------------- the signed link

def link_token(organization_id: int, month: date) -> str:
    """A token for one organization's pack of one month (signed with SECRET_KEY, checked for LINK_MAX_AGE)."""
    return tokens.dumps({"o": organization_id, "m": f"{month:%Y-%m}"}, salt=LINK_SALT)


def pack_for_token(token: str) -> Pack:
    """The pack a link names; InvalidToken when tampered with or expired, NotFound when there is nothing."""
    payload = tokens.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
    try:
        organization_id, month = int(payload["o"]), parse_month(payload["m"])
    except (KeyError, TypeError, ValueError, ServiceError):
        raise tokens.InvalidToken(expired=False) from None
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(_("Pacote não encontrado."))
    found = monthly_pack(month, organization)
    if found.empty:
        raise NotFound(_("Pacote não encontrado."))
    return found


# ---------------------------------------------------------------- the monthly delivery

def _claim(settings: AccountantSettings, month: date) -> AccountantPackDelivery | None:
    """The delivery row for (organization, month), inserted now; None when another run already has it."""
    claim = AccountantPackDelivery(organization_id=settings.organization_id, month=month, email=settings.email,
                                   mode="empty", size=0, sent_at=clock.now())
    db.session.add(claim)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    return claim


def send_pack(settings: AccountantSettings, month: date, *, actor: Actor) -> AccountantPackDelivery | None:
    """Send `month`'s pack to the organization's accountant, once (None: already sent). Commits.

    Up to ATTACHMENT_LIMIT the ZIP is stored and attached; beyond, the e-mail carries a signed link valid for
    LINK_MAX_AGE (the accountant has no login). A month without invoices gets a short message saying so."""
    organization_id, month_text = settings.organization_id, month_label(month)
    claim = _claim(settings, month)
    if claim is None:
        return None
    organization = db.session.get(Organization, organization_id)
    found = monthly_pack(month, organization)
    attachments: list[tuple[str, str, str]] = []
    url = None
    if not found.empty:
        content = zip_bytes(found) if found.documents_size <= ATTACHMENT_LIMIT else None
        if content is not None and len(content) <= ATTACHMENT_LIMIT:
            claim.mode, claim.size = "attachment", len(content)
            attachments = [(found.filename, documents.store(content, ZIP), ZIP)]
        else:
            claim.mode, claim.size = "link", found.documents_size
            url = absolute_url("billing.accountant_pack_link", token=link_token(organization_id, month))
        del content
    queue_email("accountant_pack", to=[claim.email],
                subject_fn=lambda: _("Pacote do contador de %(org)s: competência %(month)s",
                                     org=organization.display_name, month=month_text),
                context={"organization": organization, "month": month_text, "pack": found, "url": url,
                         "invoices": len(found.rows), "link_days": LINK_MAX_AGE // 86400},
                language=documents.DOCUMENT_LOCALE, organization_id=organization_id, attachments=attachments)
    record(AuditTag.ACCOUNTANT_PACK_SENT, actor=actor, organization_id=organization_id,
           subject=f"organization:{organization_id}",
           after={"month": f"{month:%Y-%m}", "to": claim.email, "mode": claim.mode, "invoices": len(found.rows)})
    db.session.commit()
    return claim


def due_settings(today: date) -> list[int]:
    """Ids of the settings whose day has come this month (a missed day is caught up) and whose previous month
    has not been sent."""
    month = previous_month(today)
    sent = select(AccountantPackDelivery.id).where(
        AccountantPackDelivery.organization_id == AccountantSettings.organization_id,
        AccountantPackDelivery.month == month)
    return list(db.session.scalars(select(AccountantSettings.id).where(
        AccountantSettings.day <= today.day, ~sent.exists()).order_by(AccountantSettings.id)))


def send_due_packs(today: date, *, actor: Actor) -> int:
    """The daily job's work: the previous month's pack to every accountant whose day has come. Returns how many
    this run sent (another consumer's are skipped)."""
    month, sent = previous_month(today), 0
    for settings_id in due_settings(today):
        settings = db.session.get(AccountantSettings, settings_id)
        if settings is not None and send_pack(settings, month, actor=actor) is not None:
            sent += 1
    db.session.rollback()
    return sent
