"""Who receives an organization's invoices, and when: the monthly e-mail with its documents attached and the
extra billing addresses the Master keeps (the dunning reminders around the due date: portal.billing.dunning).

Recipients are the organization's active Cobrança and Master users (each in their own language) plus its
billing contacts (in the default language), once per address. Every message is one EmailDelivery per person,
logged and sent by the notifications job after the commit; attachments travel as references to stored
documents (portal.billing.documents) and are read when the message is sent.
"""

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.accounts.roles import Role
from portal.billing import boletos, fiscal
from portal.billing.models import (
    BillingContact,
    Boleto,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
)
from portal.extensions import db
from portal.notifications.service import queue_email
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditEvent, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_date
from portal.shared.links import absolute_url

PDF = "application/pdf"
XML = "application/xml"
MAX_BILLING_CONTACTS = 20  # extra addresses per organization


# ---------------------------------------------------------------- file names

def file_stem(invoice: Invoice) -> str:
    """`2026-000123` (credit notes: `nc-2026-000007`): the invoice number as it goes into a file name."""
    prefix = "" if invoice.series == "F" else f"{invoice.series.lower()}-"
    return f"{prefix}{invoice.year}-{invoice.number:06d}"


def invoice_pdf_name(invoice: Invoice) -> str:
    word = "nota-de-credito" if invoice.kind == InvoiceKind.CREDIT_NOTE else "fatura"
    return f"{word}-{file_stem(invoice)}.pdf"


def boleto_pdf_name(invoice: Invoice, boleto: Boleto) -> str:
    """`boleto-2026-000123.pdf`; a 2ª via: `boleto-2026-000123-via-2.pdf`."""
    suffix = f"-via-{boleto.sequence}" if boleto.sequence > 1 else ""
    return f"boleto-{file_stem(invoice)}{suffix}.pdf"


# ---------------------------------------------------------------- recipients

@dataclass(frozen=True)
class Recipient:
    email: str
    name: str  # empty for a billing contact
    language: str


def _default_language() -> str:
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _receiving_seat() -> tuple:
    """The conditions on a (Membership, User) pair that receives the invoices: an accepted, active seat of an
    active user with the Cobrança or Master role."""
    return (Membership.active.is_(True), Membership.accepted_at.is_not(None), User.active.is_(True),
            exists().where(MembershipRole.membership_id == Membership.id,
                           MembershipRole.role.in_([Role.MASTER, Role.COBRANCA])))


def recipients(organization_id: int) -> list[Recipient]:
    """Active Cobrança and Master users, then the billing contacts; each address once."""
    people = db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == organization_id, *_receiving_seat())
        .order_by(User.name, User.id)
    ).all()
    found = [Recipient(p.email, p.name, p.language or _default_language()) for p in people]
    for contact in billing_contacts(organization_id):  # greeted without a name: it is often a department's
        found.append(Recipient(contact.email, "", _default_language()))
    seen, unique = set(), []
    for person in found:
        if person.email.lower() not in seen:
            seen.add(person.email.lower())
            unique.append(person)
    return unique


def has_recipient(organization_id: Any) -> ColumnElement[bool]:
    """SQL: the organization (a column, e.g. Invoice.organization_id, or a value) has someone `recipients`
    would e-mail its invoices to."""
    seat = (select(Membership.id).join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == organization_id, *_receiving_seat()))
    return or_(seat.exists(), exists().where(BillingContact.organization_id == organization_id))


def undelivered() -> ColumnElement[bool]:
    """SQL, on Invoice: an invoice that is not cancelled, was not e-mailed, and has nobody to be e-mailed to
    ("sem destinatário"); it is sent by the sweep once the organization has a recipient. Regular invoices only:
    the sweep sends nothing else, so a credit note would stay listed for ever."""
    return and_(Invoice.kind == InvoiceKind.REGULAR, Invoice.status != InvoiceStatus.CANCELLED,
                Invoice.emailed_at.is_(None),
                ~has_recipient(Invoice.organization_id))


def undelivered_among(invoice_ids: list[int]) -> set[int]:
    """Which of these invoices are "sem destinatário" (`undelivered`)."""
    if not invoice_ids:
        return set()
    return set(db.session.scalars(select(Invoice.id).where(Invoice.id.in_(invoice_ids), undelivered())))


# ---------------------------------------------------------------- billing contacts (the Master's page)

def billing_contacts(organization_id: int) -> list[BillingContact]:
    return list(db.session.scalars(
        select(BillingContact).where(BillingContact.organization_id == organization_id).order_by(BillingContact.email)
    ))


def add_billing_contact(organization: Organization, *, email: str, name: str, actor: Actor) -> BillingContact:
    """Add an address that receives the invoices (validated by the form; duplicates refused). Commits."""
    address = email.strip().lower()
    if not address or "@" not in address:
        raise ServiceError(_("Informe um e-mail válido."), field="email")
    if any(c.email == address for c in billing_contacts(organization.id)):
        raise ServiceError(_("%(email)s já recebe as faturas.", email=address), field="email")
    if any(r.email.lower() == address for r in recipients(organization.id)):
        raise ServiceError(_("%(email)s já recebe as faturas como usuário com papel Cobrança ou Master.",
                             email=address), field="email")
    if len(billing_contacts(organization.id)) >= MAX_BILLING_CONTACTS:
        raise ServiceError(_("Use no máximo %(max)d e-mails adicionais.", max=MAX_BILLING_CONTACTS), field="email")
    contact = BillingContact(organization_id=organization.id, email=address, name=name.strip(),
                             created_at=clock.now())
    db.session.add(contact)
    db.session.flush()
    record(AuditTag.BILLING_CONTACT_ADDED, actor=actor, organization_id=organization.id,
           subject=f"billing_contact:{contact.id}", after={"email": address, "name": contact.name})
    try:
        db.session.commit()
    except IntegrityError as exc:  # the same address added at the same moment by another request
        db.session.rollback()
        raise ServiceError(_("%(email)s já recebe as faturas.", email=address), field="email") from exc
    return contact


def remove_billing_contact(organization: Organization, contact_id: int, *, actor: Actor) -> BillingContact:
    """Remove one of the organization's billing contacts (another organization's is NotFound). Commits."""
    contact = db.session.scalar(select(BillingContact).where(BillingContact.id == contact_id,
                                                             BillingContact.organization_id == organization.id))
    if contact is None:
        raise NotFound(_("Este e-mail não está na lista."))
    record(AuditTag.BILLING_CONTACT_REMOVED, actor=actor, organization_id=organization.id,
           subject=f"billing_contact:{contact.id}", before={"email": contact.email, "name": contact.name})
    db.session.delete(contact)
    db.session.commit()
    return contact


# ---------------------------------------------------------------- attachments

def documents_ready(invoice: Invoice) -> bool:
    """The invoice PDF, its current boleto's PDF (when it has a boleto) and its nota fiscal (regular invoices;
    credit notes get none) all exist."""
    boleto = invoice.current_boleto
    return (invoice.pdf_sha256 is not None and (boleto is None or boleto.pdf_sha256 is not None)
            and ((invoice.fiscal_document is not None and invoice.fiscal_document.pdf_sha256 is not None)
                 or invoice.kind != InvoiceKind.REGULAR))


def invoice_attachments(invoice: Invoice) -> list[tuple[str, str, str]]:
    """(file name, SHA-256, content type) of the invoice PDF, the boleto PDF (while it is open), the DANFSe
    and the NFS-e XML. The XML is kept as a stored document too, so every attachment is read the same way."""
    found = [(invoice_pdf_name(invoice), invoice.pdf_sha256, PDF)]
    boleto = invoice.current_boleto
    if boleto is not None and invoice.status == InvoiceStatus.OPEN:
        found.append((boleto_pdf_name(invoice, boleto), boleto.pdf_sha256, PDF))
    note = invoice.fiscal_document
    if note is not None:
        found.append((fiscal.download_name(note, "pdf"), note.pdf_sha256, PDF))
        xml = fiscal.xml_bytes(note.xml)
        found.append((fiscal.download_name(note, "xml"), documents.store(xml, XML, fiscal=True), XML))
    return found


# ---------------------------------------------------------------- the monthly e-mail

def _locked(invoice: Invoice) -> Invoice | None:
    found = db.session.scalar(select(Invoice).where(Invoice.id == invoice.id).with_for_update()
                              .execution_options(populate_existing=True))
    if found is not None:
        db.session.expire(found, ["boletos", "payments", "fiscal_document"])
    return found


def send_invoice(invoice: Invoice, *, actor: Actor) -> bool:
    """E-mail an issued invoice with its documents to its recipients, once. Commits.

    True when the invoice has been e-mailed (now, or before: nothing is sent twice). False, doing nothing,
    while a document is missing (the invoice PDF, the boleto PDF, the nota fiscal) or for a cancelled
    invoice; the billing sweep calls again later. False too when nobody would receive it (no active Cobrança
    or Master user, no billing contact): nothing is recorded as sent, an INVOICE_UNDELIVERED event ("sem
    destinatário") is written once, staff see it on the invoice and in the list of invoices not delivered, and
    the sweep sends it once the organization has a recipient.
    """
    invoice = _locked(invoice)
    if invoice is None:
        db.session.rollback()
        return False
    if invoice.emailed_at is not None:
        db.session.rollback()
        return True
    if invoice.status == InvoiceStatus.CANCELLED or not documents_ready(invoice):
        db.session.rollback()
        return False
    people = recipients(invoice.organization_id)
    if not people:
        _record_undelivered(invoice, actor)
        db.session.commit()
        return False
    attachments = invoice_attachments(invoice)
    boleto = invoice.current_boleto if invoice.status == InvoiceStatus.OPEN else None
    context = {"invoice": invoice, "organization": invoice.organization, "boleto": boleto,
               "pix_ready": boletos.pix_ready(boleto),
               "fiscal": invoice.fiscal_document, "owed_cents": invoice.total_cents - invoice.paid_cents,
               "url": absolute_url("billing.invoice", invoice_id=invoice.id),
               "attachment_names": [a[0] for a in attachments]}
    for person in people:
        queue_email(
            "invoice_issued", to=[person.email], subject_fn=lambda: _invoice_subject(invoice),
            context={**context, "person": person}, language=person.language,
            organization_id=invoice.organization_id, attachments=attachments,
        )
    invoice.emailed_at = clock.now()
    record(AuditTag.INVOICE_EMAILED, actor=actor, organization_id=invoice.organization_id,
           subject=f"invoice:{invoice.id}",
           after={"number": invoice.display_number, "to": [p.email for p in people],
                  "attachments": [a[0] for a in attachments]})
    db.session.commit()
    return True


def _record_undelivered(invoice: Invoice, actor: Actor) -> None:
    """The audit event of an invoice nobody could receive, once per invoice (the sweep retries it). Its tag says
    why ("sem destinatário"); its detail, the fact: nobody among Cobrança/Master users and billing contacts."""
    subject = f"invoice:{invoice.id}"
    if db.session.scalar(select(AuditEvent.seq).where(AuditEvent.subject == subject,
                                                     AuditEvent.tag == AuditTag.INVOICE_UNDELIVERED).limit(1)):
        return
    record(AuditTag.INVOICE_UNDELIVERED, actor=actor, organization_id=invoice.organization_id, subject=subject,
           after={"number": invoice.display_number, "to": [], "recipients": 0})


def _invoice_subject(invoice: Invoice) -> str:
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        return _("Nota de crédito %(number)s de %(org)s", number=invoice.display_number,
                 org=invoice.organization.display_name)
    if invoice.status != InvoiceStatus.OPEN:
        return _("Fatura %(number)s de %(org)s", number=invoice.display_number, org=invoice.organization.display_name)
    return _("Fatura %(number)s de %(org)s: vence em %(date)s", number=invoice.display_number,
             org=invoice.organization.display_name, date=format_date(invoice.due_date))
