"""Notas fiscais (NFS-e) of invoices: issued through the `FiscalIssuer` (the simulator), or the real one
uploaded by staff (XML + DANFSe PDF), checked against the invoice before it is kept.

One FiscalDocument per invoice. A staff upload replaces a simulated document (or an earlier upload) in
place; what it replaced is kept in the audit event's `before`. Cancelled invoices and credit notes get none.

Uploaded XML is untrusted: it is parsed only after a first pass with expat that refuses any DOCTYPE or
entity declaration (XXE, "billion laughs"), and read by local names so any namespace (or none) works.
Accepted layouts: ABRASF 1.0 and 2.0x (`…/InfNfse`), the Padrão Nacional (`NFSe/infNFSe`) and São
Paulo's own (`…/NFe` with `ChaveNFe`).
"""

import dataclasses
import hashlib
import json
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.parsers import expat

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.billing.exceptions import open_exception
from portal.billing.models import (
    MAX_PDF_ATTEMPTS,
    BillingException,
    ExceptionKind,
    FiscalDocument,
    FiscalNumber,
    FiscalStatus,
    Invoice,
    InvoiceKind,
    InvoiceSeries,
    InvoiceStatus,
    LineKind,
)
from portal.billing.numbering import take_number
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.fiscal import (
    SIMULATION_NOTICE,
    Address,
    AwaitingUpload,
    FiscalCancellation,
    FiscalIssuer,
    FiscalRejected,
    FiscalRequest,
    FiscalUnavailable,
    IssuedNote,
    Party,
)
from portal.notifications import service as notifications
from portal.shared import clock, documents
from portal.shared import cnpj as cnpj_module
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_money, format_period
from portal.shared.money import format_brl
from portal.subscriptions.purchase_orders import dps_purchase_order

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # each file of a staff upload
PDF = "application/pdf"
XML_FIELD, PDF_FIELD = "xml_file", "pdf_file"  # the upload form's fields, named by ServiceError.field
_AMOUNT = re.compile(r"^\d{1,13}(\.\d{1,2})?$")  # xs:decimal as the layouts write money: "941.71"
NUMBERED_BACKENDS = frozenset({"nfse_nacional", "nfse_sao_paulo"})  # issuers that send a numbered DPS / RPS
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- issuing (simulator / issuer)

def _day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def service_description(invoice: Invoice) -> str:
    """The "discriminação dos serviços": one line per invoice line. Always Portuguese (a fiscal document)."""
    with force_locale("pt_BR"):
        return _service_description(invoice)


def _service_description(invoice: Invoice) -> str:
    rows = [f"Fatura {invoice.display_number} – período {format_period(invoice.period_start, invoice.period_end)}"]
    for line in invoice.lines:
        if line.kind == LineKind.CREDIT:
            continue  # the credit applied is the note's desconto incondicionado
        period = ""
        if line.period_start is not None and line.period_end is not None:
            period = f" ({format_period(line.period_start, line.period_end)})"
        what = "pró-rata" if line.kind == LineKind.PRORATA else f"× {format_brl(line.unit_price_cents)}"
        licences = "licença" if abs(line.quantity) == 1 else "licenças"  # a fiscal text: always in Portuguese
        rows.append(f"{line.description} – {line.quantity} {licences} {what}{period}: {format_brl(line.amount_cents)}")
    rows.append(f"Vencimento: {_day(invoice.due_date)}")
    return "\n".join(rows)


def _line_discounts(invoice: Invoice) -> int:
    """Centavos of the one-off discounts finance gave on the invoice's lines (billing/review.py: negative adjustment
    lines): on the NFS-e they are discount like the credit applied, so gross = net + discounts."""
    return -sum(line.amount_cents for line in invoice.lines
                if line.kind == LineKind.ADJUSTMENT and line.amount_cents < 0)


def fiscal_request(invoice: Invoice, settings: BillingSettings, *, number: int = 0,
                   replaced: "FiscalDocument | None" = None) -> FiscalRequest:
    """What the note of `invoice` says; `replaced`: the note it substitutes (a reissue, `substitutes`)."""
    organization = invoice.organization
    return FiscalRequest(
        invoice_number=invoice.display_number, amount_cents=invoice.total_cents, issue_date=clock.today(),
        service_description=service_description(invoice),
        provider=Party(cnpj=cnpj_module.compact(settings.reseller_cnpj), name=settings.reseller_legal_name,
                       address=Address(street=settings.reseller_address, city_code=settings.reseller_city_code),
                       municipal_registration=settings.reseller_municipal_registration),
        taker=Party(cnpj=cnpj_module.compact(organization.cnpj), name=organization.legal_name,
                    address=Address(street=organization.street, number=organization.number,
                                    complement=organization.complement or "", district=organization.district,
                                    city=organization.city, state=organization.state,
                                    postal_code=organization.postal_code, city_code=organization.city_code or "")),
        discount_cents=invoice.credit_applied_cents + _line_discounts(invoice),
        purchase_order=dps_purchase_order(line.purchase_order for line in invoice.lines),
        series=settings.fiscal_series if number else "", number=number,
        replaces=replaced.access_key if replaced is not None else "",
        replaces_reason=(replaced.invoice.cancel_reason or "") if replaced is not None else "",
    )


def _document_of(invoice_id: int) -> FiscalDocument | None:
    return db.session.scalar(select(FiscalDocument).where(FiscalDocument.invoice_id == invoice_id))


def _gets_a_note(invoice: Invoice) -> bool:
    return invoice.kind == InvoiceKind.REGULAR and invoice.status != InvoiceStatus.CANCELLED


# ---------------------------------------------------------------- the DPS / RPS number

def numbered(issuer: FiscalIssuer) -> bool:
    """Whether the issuer sends a numbered request to an authority (the simulator and uploads need no number)."""
    return issuer.backend in NUMBERED_BACKENDS


def _counter_name(series: str) -> str:
    return f"NFSE{series}"  # its own gapless counter in invoice_series (year 0: the DPS number never restarts)


def fiscal_number_of(invoice_id: int) -> FiscalNumber | None:
    return db.session.scalar(select(FiscalNumber).where(FiscalNumber.invoice_id == invoice_id))


def take_fiscal_number(invoice: Invoice, settings: BillingSettings) -> FiscalNumber:
    """The invoice's DPS / RPS number, taken the first time (gapless per series, under the counter's row lock)
    and COMMITTED before anything is sent: a retry after a timeout sends the same number. Idempotent."""
    found = fiscal_number_of(invoice.id)
    if found is not None:
        return found
    try:
        number = take_number(_counter_name(settings.fiscal_series), 0)
        row = FiscalNumber(invoice_id=invoice.id, series=settings.fiscal_series, number=number,
                           created_at=clock.now())
        db.session.add(row)
        db.session.flush()
        db.session.commit()
    except IntegrityError:  # another worker took it for this invoice first (its number, ours given back)
        db.session.rollback()
        return fiscal_number_of(invoice.id)
    return row


def next_fiscal_number(invoice: Invoice, settings: BillingSettings) -> tuple[int, bool]:
    """(number, taken): the invoice's number if it has one, else the next free one WITHOUT taking it."""
    found = fiscal_number_of(invoice.id)
    if found is not None:
        return found.number, True
    last = db.session.scalar(select(InvoiceSeries.last_number).where(
        InvoiceSeries.series == _counter_name(settings.fiscal_series), InvoiceSeries.year == 0))
    return (last or 0) + 1, False


# ---------------------------------------------------------------- rejections

def _fingerprint(request: FiscalRequest) -> str:
    """What the authority judged, without the issue date: a rejection is not sent again until this changes."""
    facts = dataclasses.asdict(request)
    facts.pop("issue_date")
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def _open_rejection(invoice_id: int) -> BillingException | None:
    return db.session.scalar(select(BillingException).where(
        BillingException.invoice_id == invoice_id, BillingException.kind == ExceptionKind.NFSE_REJECTED,
        BillingException.resolved_at.is_(None)).order_by(BillingException.id.desc()).limit(1))


def rejection_pending(invoice: Invoice, request: FiscalRequest) -> bool:
    """An open rejection of exactly this request: it is not sent again until the data change or finance resolves
    the exception ("Resolver" on Conciliação is the retry)."""
    found = _open_rejection(invoice.id)
    return found is not None and (found.details or {}).get("fingerprint") == _fingerprint(request)


def _report_rejection(invoice: Invoice, error: FiscalRejected, request: FiscalRequest, backend: str) -> None:
    """A BillingException `nfse_rejeitada` with the authority's codes and messages as they came; commits."""
    fingerprint = _fingerprint(request)
    found = _open_rejection(invoice.id)
    if found is not None and (found.details or {}).get("fingerprint") == fingerprint:
        return
    listed = "; ".join(f"{code} {message}".strip() for code, message in error.errors)
    fields = [field for field in error.fields if field.startswith("taker.")]
    message = f"NFS-e da fatura {invoice.display_number} recusada ({backend}): {listed}"
    if fields:
        message += " — corrija o cadastro do cliente (endereço, CEP ou código IBGE do município) e tente de novo."
    open_exception(ExceptionKind.NFSE_REJECTED, message[:4000],
                   {"errors": [list(pair) for pair in error.errors], "fields": list(error.fields),
                    "customer_data": bool(fields), "organization_id": invoice.organization_id,
                    "series": request.series, "number": request.number, "backend": backend,
                    "fingerprint": fingerprint}, invoice=invoice)
    db.session.commit()


# ---------------------------------------------------------------- issuing

def _stored_pdf(pdf: bytes | None) -> str | None:
    """The issued note's DANFSe stored; None when it has none or the document store is down (the note is kept
    without it, as when the authority gave no PDF: `ensure_fiscal_pdf` asks again)."""
    if not pdf:
        return None
    try:
        return documents.store(pdf, PDF, fiscal=True)
    except documents.DocumentStoreError:
        return None


def ensure_fiscal_document(invoice: Invoice, *, issuer: FiscalIssuer, settings: BillingSettings,
                           actor: Actor) -> FiscalDocument | None:
    """The invoice's nota fiscal, issued now if it has none yet; commits. Idempotent.

    None for a cancelled invoice or a credit note, while the issuer waits for a staff upload
    (FISCAL_BACKEND=upload), and while the authority's rejection stands (a `nfse_rejeitada` exception for
    finance). The invoice row is locked while issuing, so two workers never issue twice. A real issuer gets the
    invoice's DPS / RPS number, taken and committed before sending; `FiscalUnavailable` propagates (the job retries
    with the same number).
    """
    found = _document_of(invoice.id)
    if found is not None:
        return found
    if not _gets_a_note(invoice):
        return None
    number = take_fiscal_number(invoice, settings).number if numbered(issuer) else 0
    replaced = _replaced(invoice, issuer)
    request = fiscal_request(invoice, settings, number=number, replaced=replaced)
    if rejection_pending(invoice, request):
        return None
    try:
        db.session.refresh(invoice, with_for_update=True)
        found = _document_of(invoice.id)
        if found is not None or not _gets_a_note(invoice):
            db.session.commit()  # releases the lock
            return found
        try:
            result = issuer.issue(request)
        except AwaitingUpload:
            db.session.commit()
            return None
        except FiscalRejected as error:
            db.session.rollback()
            _report_rejection(invoice, error, request, issuer.backend)
            return None
        document = FiscalDocument(
            invoice_id=invoice.id, number=result.number, verification_code=result.verification_code,
            issued_on=result.issued_on, amount_cents=invoice.total_cents, xml=result.xml,
            pdf_sha256=_stored_pdf(result.pdf), simulated=result.simulated,
            source=issuer.backend, created_at=clock.now(), access_key=result.access_key or None,
            public_url=result.public_url or None, request_id=result.request_id or None,
            series=request.series or None, dps_number=request.number or None, status=FiscalStatus.ISSUED)
        db.session.add(document)
        db.session.flush()
        record(AuditTag.FISCAL_DOCUMENT_ISSUED, actor=actor, organization_id=invoice.organization_id,
               subject=f"invoice:{invoice.id}", after=_facts(document))
        if replaced is not None:
            _substituted(replaced, document, actor)
        _close_rejections(invoice, document)
        db.session.commit()
    except IntegrityError:  # another worker stored it first (the unique invoice_id)
        db.session.rollback()
        return _document_of(invoice.id)
    except Exception:
        db.session.rollback()
        raise
    return document


def _close_rejections(invoice: Invoice, document: FiscalDocument) -> None:
    """The note came out after a rejection (the data were corrected): its open exceptions say so and close."""
    for row in db.session.scalars(select(BillingException).where(
            BillingException.invoice_id == invoice.id, BillingException.kind == ExceptionKind.NFSE_REJECTED,
            BillingException.resolved_at.is_(None))):
        row.resolved_at = clock.now()
        row.resolution_note = f"NFS-e {document.number} emitida depois da correção."


def substitutes(issuer: FiscalIssuer, document: FiscalDocument | None) -> bool:
    """Whether a reissue of the invoice of `document` leaves its note standing until the replacement's note
    substitutes it (the authority cancels the old one when it authorises the new: NFS-e Nacional), rather than
    cancelling it first (São Paulo, the simulator, an uploaded note)."""
    return (document is not None and document.status == FiscalStatus.ISSUED and bool(document.access_key)
            and document.source == issuer.backend and bool(getattr(issuer, "substitutes", False)))


def _replaced(invoice: Invoice, issuer: FiscalIssuer) -> FiscalDocument | None:
    """The note this reissue substitutes: the replaced invoice's, while it stands and the issuer substitutes."""
    if invoice.replaces_id is None:
        return None
    old = _document_of(invoice.replaces_id)
    return old if substitutes(issuer, old) else None


def substituted_note(invoice: Invoice) -> FiscalDocument | None:
    """The note that the note of `invoice` (a reissue) substituted, if any."""
    note = invoice.fiscal_document
    if note is None:
        return None
    return db.session.scalar(select(FiscalDocument).where(FiscalDocument.substituted_by_id == note.id))


def _substituted(old: FiscalDocument, new: FiscalDocument, actor: Actor) -> None:
    """The authority cancelled `old` when it authorised `new`, which names it (subst/chSubstda; the Sefin's own
    event e105102): recorded as a cancellation by substitution."""
    old.status = FiscalStatus.CANCELLED
    old.cancelled_at = clock.now()
    old.substituted_by_id = new.id
    record(AuditTag.FISCAL_DOCUMENT_CANCELLED, actor=actor, organization_id=old.invoice.organization_id,
           subject=f"invoice:{old.invoice_id}",
           after={**_facts(old), "substituted_by": new.number, "substituted_by_key": new.access_key,
                  "cancelled_on": clock.today().isoformat()})


def ensure_fiscal_pdf(invoice: Invoice, *, issuer: FiscalIssuer, settings: BillingSettings) -> FiscalDocument | None:
    """A note stored without its DANFSe (the authority's PDF or the local one could not be made then): asked again
    (the issuer is idempotent for the same series and number and gives the note back with its PDF), at most
    MAX_PDF_ATTEMPTS times, and only of an issuer that gives PDFs; commits."""
    document = _document_of(invoice.id)
    if (document is None or document.pdf_sha256 is not None or document.source != issuer.backend
            or not issuer.gives_pdf or document.status != FiscalStatus.ISSUED or not document.dps_number
            or document.pdf_attempts >= MAX_PDF_ATTEMPTS):
        return document
    document.pdf_attempts += 1  # counted even when the issuer is down (committed before asking)
    db.session.commit()
    if document.pdf_attempts == MAX_PDF_ATTEMPTS:
        log.warning("nota fiscal %s of invoice %s: last attempt at its DANFSe", document.number, invoice.id)
    request = fiscal_request(invoice, settings, number=document.dps_number)
    request = dataclasses.replace(request, series=document.series or request.series)
    result = issuer.issue(request)
    if result.pdf:
        document.pdf_sha256 = documents.store(result.pdf, PDF, fiscal=True)
        db.session.commit()
    return document


# ---------------------------------------------------------------- the DPS a real issuer would send (CLI)

@dataclass(frozen=True)
class DpsPreview:
    invoice: Invoice
    identifier: str
    data: bytes  # the signed DPS, as the adapter would send it
    series: str
    number: int
    taken: bool  # the invoice's own number (True) or the next free one, not taken (False)


_INVOICE_NUMBER = re.compile(r"^\s*(?:([A-Z]{1,3})\s+)?(\d{4})/(\d{1,9})\s*$")


def invoice_by_number(text: str) -> Invoice:
    """The invoice `2026/000123` (a credit note: `NC 2026/000007`); ServiceError when there is none."""
    match = _INVOICE_NUMBER.match(text or "")
    if match is None:
        raise ServiceError(_("Informe o número da fatura como 2026/000123."))
    series, year, number = match.group(1) or "F", int(match.group(2)), int(match.group(3))
    found = db.session.scalar(select(Invoice).where(Invoice.series == series, Invoice.year == year,
                                                    Invoice.number == number))
    if found is None:
        raise ServiceError(_("Não há fatura %(number)s.", number=text.strip()))
    return found


def dps_preview(invoice: Invoice, *, settings: BillingSettings, issuer) -> DpsPreview:
    """The signed DPS `issuer` (an NfseNacionalIssuer) would send for `invoice`, WITHOUT taking a number: the
    invoice's own when it has one, else the next free one (not stored). ServiceError for what gets no note or
    lacks the data a DPS needs."""
    if invoice.kind != InvoiceKind.REGULAR:
        raise ServiceError(_("A fatura %(number)s é uma nota de crédito: não tem NFS-e.",
                             number=invoice.display_number))
    if invoice.status == InvoiceStatus.CANCELLED:
        raise ServiceError(_("A fatura %(number)s foi cancelada: não tem NFS-e.", number=invoice.display_number))
    number, taken = next_fiscal_number(invoice, settings)
    stored = fiscal_number_of(invoice.id)
    request = fiscal_request(invoice, settings, number=number, replaced=_replaced(invoice, issuer))
    if stored is not None:
        request = dataclasses.replace(request, series=stored.series)
    try:
        identifier, data = issuer.signed_dps(request)
    except FiscalRejected as error:
        raise ServiceError("; ".join(f"{code} {message}".strip() for code, message in error.errors)) from error
    return DpsPreview(invoice=invoice, identifier=identifier, data=data, series=request.series, number=number,
                      taken=taken)


# ---------------------------------------------------------------- cancelling

def cancel_fiscal_document(invoice: Invoice, *, issuer: FiscalIssuer, reason_code: int, reason: str,
                           actor: Actor) -> FiscalDocument | None:
    """Cancel the invoice's note at the authority (reason code 1 erro na emissão, 2 serviço não prestado,
    9 outros) before the invoice itself is cancelled; commits. A refusal or an unreachable authority is a
    ServiceError (the invoice stays as it is) and an e-mail to finance. A simulated note is marked cancelled
    without asking anyone; an uploaded one must be cancelled at the city hall (ServiceError)."""
    document = _document_of(invoice.id)
    if document is None or document.status == FiscalStatus.CANCELLED:
        return document
    if document.source == issuer.backend:
        note = IssuedNote(number=document.number, verification_code=document.verification_code,
                          issued_on=document.issued_on, access_key=document.access_key or "",
                          series=document.series or "", rps_number=document.dps_number or 0,
                          provider_cnpj=cnpj_module.compact(current_reseller_cnpj(invoice, document)))
        try:
            outcome = issuer.cancel(note, FiscalCancellation(reason_code=reason_code, reason=reason))
        except (FiscalRejected, FiscalUnavailable, AwaitingUpload) as error:
            db.session.rollback()
            errors = getattr(error, "errors", None) or [("", str(error))]
            notifications.nfse_cancellation_failed(invoice=invoice, errors=errors)
            db.session.commit()
            listed = "; ".join(f"{code} {message}".strip() for code, message in errors)
            raise ServiceError(_("A prefeitura não cancelou a nota fiscal %(number)s: %(errors)s",
                                 number=document.number, errors=listed)) from error
        cancellation_xml, cancelled_on = outcome.xml, outcome.cancelled_at
    elif document.simulated:
        cancellation_xml, cancelled_on = "", clock.today()
    else:
        raise ServiceError(_("Esta nota fiscal foi enviada pela equipe: cancele-a no portal da prefeitura e "
                             "corrija a fatura com uma nota de crédito."))
    document.status = FiscalStatus.CANCELLED
    document.cancelled_at = clock.now()
    document.cancellation_xml = cancellation_xml
    record(AuditTag.FISCAL_DOCUMENT_CANCELLED, actor=actor, organization_id=invoice.organization_id,
           subject=f"invoice:{invoice.id}", after={**_facts(document), "reason_code": reason_code,
                                                    "reason": reason, "cancelled_on": cancelled_on.isoformat()})
    db.session.commit()
    return document


def current_reseller_cnpj(invoice: Invoice, document: FiscalDocument) -> str:
    """The prestador's CNPJ of a stored note: read from its XML (emit/prest), the reseller's today otherwise."""
    found = re.search(r"<(?:\w+:)?(?:emit|prest)>\s*<(?:\w+:)?CNPJ>(\d{14})<", document.xml or "")
    return found.group(1) if found else ""


def _facts(document: FiscalDocument) -> dict:
    return {"number": document.number, "verification_code": document.verification_code,
            "issued_on": document.issued_on.isoformat(), "amount_cents": document.amount_cents,
            "simulated": document.simulated, "source": document.source, "pdf_sha256": document.pdf_sha256,
            **({"access_key": document.access_key, "series": document.series, "dps_number": document.dps_number}
               if document.access_key or document.dps_number else {})}


# ---------------------------------------------------------------- reading an uploaded NFS-e XML

@dataclass(frozen=True)
class ParsedNfse:
    number: str
    verification_code: str
    issued_on: date
    services_cents: int  # valor dos serviços (gross)
    discount_cents: int  # desconto incondicionado (0 when absent)
    taker_cnpj: str | None  # compact; None when the layout carries no taker CNPJ (then the caller refuses)
    provider_cnpj: str | None
    text: str  # the XML as text (decoded as it declares)

    @property
    def net_cents(self) -> int:
        return self.services_cents - self.discount_cents


@dataclass(frozen=True)
class _Layout:
    info: str  # local name of the element holding one note's data
    number: tuple[str, ...]  # path of local names below `info`
    code: tuple[str, ...] | None  # path below `info`; None: the `Id` attribute of `info` (chave de acesso)
    issued: tuple[str, ...]
    services: tuple[str, ...]  # local names of the gross amount, anywhere below `info`
    discount: tuple[str, ...]
    taker: tuple[str, ...]  # local names of the taker's element (its CNPJ is below it)
    provider: tuple[str, ...]
    cancelled: tuple[str, ...] = ()  # local names whose presence means the note was cancelled


_LAYOUTS = (
    # ABRASF 1.0 and 2.0x: CompNfse/Nfse/InfNfse (ConsultarNfse…Resposta wraps the same).
    _Layout(info="InfNfse", number=("Numero",), code=("CodigoVerificacao",), issued=("DataEmissao",),
            services=("ValorServicos",), discount=("DescontoIncondicionado",),
            taker=("TomadorServico", "Tomador"), provider=("PrestadorServico", "Prestador"),
            cancelled=("NfseCancelamento", "CancelamentoNfse")),
    # Padrão Nacional (Sefin Nacional / ADN): NFSe/infNFSe[@Id="NFS" + chave de acesso].
    _Layout(info="infNFSe", number=("nNFSe",), code=None, issued=("dhProc",), services=("vServ",),
            discount=("vDescIncond",), taker=("toma",), provider=("emit", "prest")),
    # São Paulo (NFS-e paulistana): RetornoConsulta/NFe with ChaveNFe.
    _Layout(info="NFe", number=("ChaveNFe", "NumeroNFe"), code=("ChaveNFe", "CodigoVerificacao"),
            issued=("DataEmissaoNFe",), services=("ValorServicos",), discount=(),
            taker=("CPFCNPJTomador",), provider=("CPFCNPJPrestador",)),
)


class _Forbidden(Exception):
    pass


def _xml_error(message: str) -> ServiceError:
    return ServiceError(message, field=XML_FIELD)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _tree(content: bytes) -> ET.Element:
    """Parse with expat into an ElementTree, refusing any DOCTYPE, entity declaration or external entity.

    One pass, our own handlers: nothing can be expanded or fetched, and a malformed file is a message.
    """

    def refuse(*_args: object) -> None:
        raise _Forbidden

    def tag(name: str) -> str:  # expat gives "uri}local" with this separator; ElementTree wants "{uri}local"
        return "{" + name if "}" in name else name

    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = lambda name, attrs: builder.start(tag(name), {tag(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda name: builder.end(tag(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(content, True)
        return builder.close()
    except _Forbidden:
        raise _xml_error(_("O XML traz uma declaração DOCTYPE ou de entidades, que não é aceita por segurança. "
                           "Envie o XML da nota como a prefeitura o fornece.")) from None
    except expat.ExpatError as error:
        raise _xml_error(_("O arquivo não é um XML válido (erro na linha %(line)d).", line=error.lineno)) from None
    except (ValueError, LookupError, AssertionError):
        raise _xml_error(_("O arquivo não é um XML válido.")) from None


def _text_of(content: bytes) -> str:
    match = _DECLARED_ENCODING.match(content)
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return content.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        raise _xml_error(_("Não foi possível ler o XML na codificação que ele declara.")) from None


def xml_bytes(text: str) -> bytes:
    """A stored XML back as bytes, in the encoding its declaration names (UTF-8 when none)."""
    match = _DECLARED_ENCODING.match(text.encode("ascii", "replace"))
    try:
        return text.encode(match.group(1).decode("ascii") if match else "utf-8")
    except (LookupError, UnicodeEncodeError):
        return text.encode("utf-8")


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _at(info: ET.Element, path: tuple[str, ...]) -> str | None:
    """The text at a path of local names below `info` (exactly one element at each step)."""
    current = [info]
    for name in path:
        current = [child for element in current for child in _children(element, name)]
        if len(current) != 1:
            return None
    return (current[0].text or "").strip() or None


def _below(element: ET.Element, names: tuple[str, ...]) -> list[ET.Element]:
    return [found for found in element.iter() if _local(found.tag) in names]


def _amount(info: ET.Element, names: tuple[str, ...], label: str, *, required: bool) -> int:
    values = {(found.text or "").strip() for found in _below(info, names)}
    if not values:
        if required:
            raise _xml_error(_("O XML não traz o %(what)s da nota.", what=label))
        return 0
    if len(values) > 1:
        raise _xml_error(_("O XML traz mais de um %(what)s; envie o XML de uma nota só.", what=label))
    [text] = values
    if not _AMOUNT.match(text):
        raise _xml_error(_("O %(what)s no XML (“%(text)s”) não é um valor válido.", what=label, text=text[:30]))
    return int(Decimal(text) * 100)


def _cnpj_below(info: ET.Element, names: tuple[str, ...], who: str) -> str | None:
    parties = _below(info, names)
    if not parties:
        return None
    numbers = {(found.text or "").strip() for party in parties for found in _below(party, ("Cnpj", "CNPJ"))}
    numbers.discard("")
    if not numbers:
        if any(_below(party, ("Cpf", "CPF")) for party in parties):
            raise _xml_error(_("O %(who)s da nota é uma pessoa física (CPF), não uma empresa.", who=who))
        return None
    if len(numbers) > 1:
        raise _xml_error(_("O XML traz mais de um CNPJ de %(who)s; envie o XML de uma nota só.", who=who))
    return cnpj_module.compact(numbers.pop())


def parse_nfse(content: bytes) -> ParsedNfse:
    """Read an NFS-e XML (any accepted layout); ServiceError on the `xml_file` field for anything unreadable."""
    root = _tree(content)
    text = _text_of(content)
    for layout in _LAYOUTS:
        notes = _below(root, (layout.info,))
        if layout.info == "NFe":
            notes = [note for note in notes if _children(note, "ChaveNFe")]
        if not notes:
            continue
        if len(notes) > 1:
            raise _xml_error(_("O XML traz %(n)d notas fiscais; envie o XML de uma nota só.", n=len(notes)))
        return _read(layout, notes[0], root, text)
    raise _xml_error(_("Não reconhecemos este XML como uma NFS-e (esperávamos o layout ABRASF, o Padrão Nacional "
                       "ou o da Prefeitura de São Paulo)."))


def _access_key(info: ET.Element) -> str | None:
    """Padrão Nacional: the chave de acesso is `infNFSe`'s Id without its "NFS" prefix."""
    return (info.get("Id") or "").strip().removeprefix("NFS") or None


def _read(layout: _Layout, info: ET.Element, root: ET.Element, text: str) -> ParsedNfse:
    if layout.cancelled and _below(root, layout.cancelled):
        raise _xml_error(_("Esta NFS-e consta como cancelada no XML."))
    if layout.info == "NFe" and _at(info, ("StatusNFe",)) == "C":
        raise _xml_error(_("Esta NFS-e consta como cancelada no XML."))
    number = _at(info, layout.number)
    code = _at(info, layout.code) if layout.code is not None else _access_key(info)
    issued_text = _at(info, layout.issued)
    if not number:
        raise _xml_error(_("O XML não traz o número da NFS-e."))
    if not code:
        raise _xml_error(_("O XML não traz o código de verificação da NFS-e."))
    if len(number) > 30 or len(code) > 60:
        raise _xml_error(_("O número ou o código de verificação no XML é longo demais para uma NFS-e."))
    try:
        issued_on = date.fromisoformat((issued_text or "")[:10])
    except ValueError:
        raise _xml_error(_("O XML não traz uma data de emissão válida.")) from None
    return ParsedNfse(
        number=number, verification_code=code, issued_on=issued_on,
        services_cents=_amount(info, layout.services, _("valor dos serviços"), required=True),
        discount_cents=_amount(info, layout.discount, _("desconto"), required=False) if layout.discount else 0,
        taker_cnpj=_cnpj_below(info, layout.taker, _("tomador")),
        provider_cnpj=_cnpj_below(info, layout.provider, _("prestador")),
        text=text,
    )


# ---------------------------------------------------------------- staff upload

def _check_sizes(xml_content: bytes, pdf_content: bytes) -> None:
    for content, field in ((xml_content, XML_FIELD), (pdf_content, PDF_FIELD)):
        if not content:
            raise ServiceError(_("O arquivo está vazio."), field=field)
        if len(content) > MAX_UPLOAD_BYTES:
            raise ServiceError(_("O arquivo passa de %(mb)d MB.", mb=MAX_UPLOAD_BYTES // (1024 * 1024)), field=field)
    if not pdf_content.startswith(b"%PDF-"):
        raise ServiceError(_("Este arquivo não é um PDF."), field=PDF_FIELD)


def upload_fiscal_document(invoice: Invoice, *, xml_bytes: bytes, pdf_bytes: bytes, actor: Actor,
                           provider_cnpj: str | None = None) -> FiscalDocument:
    """Keep the real NFS-e staff issued at the city hall for `invoice`, after checking it; commits.

    The XML must be one NFS-e whose net amount (valor dos serviços − desconto incondicionado) is the
    invoice total and whose taker is the invoice's organization (and whose provider is `provider_cnpj`,
    the reseller, when given). It replaces a simulated document or an earlier upload; the e-mail with the
    invoice goes out afterwards (complete_invoice is queued) if it had not yet.
    """
    if invoice.kind != InvoiceKind.REGULAR:
        raise ServiceError(_("Notas de crédito não recebem nota fiscal por aqui."))
    if invoice.status == InvoiceStatus.CANCELLED:
        raise ServiceError(_("Esta fatura foi cancelada: não recebe nota fiscal."))
    _check_sizes(xml_bytes, pdf_bytes)
    parsed = parse_nfse(xml_bytes)
    if SIMULATION_NOTICE in parsed.text or parsed.number.startswith("SIM-"):
        raise _xml_error(_("Este XML é de uma nota simulada (sem valor fiscal). Envie o XML da nota emitida na "
                           "prefeitura."))
    if parsed.net_cents != invoice.total_cents:  # valor dos serviços − desconto incondicionado
        raise _xml_error(_("O valor da nota (%(note)s) é diferente do total da fatura (%(invoice)s).",
                           note=format_money(parsed.net_cents), invoice=format_money(invoice.total_cents)))
    organization = invoice.organization
    if parsed.taker_cnpj is None:
        raise _xml_error(_("O XML não traz o CNPJ do tomador."))
    if parsed.taker_cnpj != cnpj_module.compact(organization.cnpj):
        raise _xml_error(_("O tomador da nota (CNPJ %(note)s) não é o cliente da fatura (CNPJ %(invoice)s).",
                           note=cnpj_module.format(parsed.taker_cnpj), invoice=cnpj_module.format(organization.cnpj)))
    if provider_cnpj and parsed.provider_cnpj and parsed.provider_cnpj != cnpj_module.compact(provider_cnpj):
        raise _xml_error(_("O prestador da nota (CNPJ %(note)s) não é a nossa empresa (CNPJ %(ours)s).",
                           note=cnpj_module.format(parsed.provider_cnpj), ours=cnpj_module.format(provider_cnpj)))
    elsewhere = db.session.scalar(
        select(Invoice).join(FiscalDocument, FiscalDocument.invoice_id == Invoice.id)
        .where(FiscalDocument.number == parsed.number, FiscalDocument.verification_code == parsed.verification_code,
               FiscalDocument.simulated.is_(False), FiscalDocument.invoice_id != invoice.id))
    if elsewhere is not None:
        raise _xml_error(_("Esta nota fiscal já está registrada na fatura %(number)s.",
                           number=elsewhere.display_number))

    db.session.refresh(invoice, with_for_update=True)
    if invoice.status == InvoiceStatus.CANCELLED:
        db.session.rollback()
        raise ServiceError(_("Esta fatura foi cancelada: não recebe nota fiscal."))
    pdf_sha256 = documents.store_sent(pdf_bytes, PDF, field=PDF_FIELD, fiscal=True)
    document = _document_of(invoice.id)
    before = _facts(document) if document is not None else None
    if (document is not None and not document.simulated and document.number == parsed.number
            and document.verification_code == parsed.verification_code and document.pdf_sha256 == pdf_sha256
            and document.xml == parsed.text):
        db.session.commit()
        return document  # the same files again: nothing changes
    if document is None:
        document = FiscalDocument(invoice_id=invoice.id)
        db.session.add(document)
    document.number = parsed.number
    document.verification_code = parsed.verification_code
    document.issued_on = parsed.issued_on
    document.amount_cents = invoice.total_cents
    document.xml = parsed.text
    document.pdf_sha256 = pdf_sha256
    document.simulated = False
    document.source = "upload"
    document.created_at = clock.now()
    db.session.flush()
    record(AuditTag.FISCAL_DOCUMENT_UPLOADED, actor=actor, organization_id=invoice.organization_id,
           subject=f"invoice:{invoice.id}", before=before, after=_facts(document))

    jobs.enqueue("billing.complete_invoice", invoice.id)
    db.session.commit()
    return document


# ---------------------------------------------------------------- reading, for the views

def fiscal_document_of(invoice: Invoice) -> FiscalDocument | None:
    return _document_of(invoice.id)


def fiscal_pdf(invoice: Invoice) -> FiscalDocument:
    """The nota fiscal whose DANFSe (`pdf_sha256`) may be sent; NotFound when the invoice has none yet."""
    document = _document_of(invoice.id)
    if document is None:
        raise NotFound(_("Esta fatura ainda não tem nota fiscal."))
    if document.pdf_sha256 is None:
        raise NotFound(_("O PDF desta nota fiscal ainda está sendo gerado. Tente de novo em alguns minutos."))
    return document


def fiscal_xml(invoice: Invoice) -> tuple[FiscalDocument, bytes]:
    document = _document_of(invoice.id)
    if document is None:
        raise NotFound(_("Esta fatura ainda não tem nota fiscal."))
    return document, xml_bytes(document.xml)


def download_name(document: FiscalDocument, extension: str) -> str:
    """`nfse-SIM-2026000123.pdf`: only letters, digits and dashes from the number."""
    return f"nfse-{re.sub(r'[^A-Za-z0-9-]', '-', document.number)}.{extension}"
