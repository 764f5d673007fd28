"""Invoices and what hangs off them: lines, numbering series, boletos (and their 2ª via), notas fiscais,
payments, processed gateway events, billing contacts and dunning notices.

Issued invoices are immutable (DESIGN rule 6): a correction is a credit note (its own series) or, before
the nota fiscal exists, a cancellation and a new invoice. Payments and notices are append-only.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from portal.accounts.models import Organization
from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class InvoiceKind(StrEnum):
    REGULAR = "regular"  # the monthly invoice of a billing day
    CREDIT_NOTE = "credit_note"  # a correction of an issued invoice (its own series, negative total)


class InvoiceStatus(StrEnum):
    OPEN = "open"  # "aberta" (shown as "vencida" once past its due date)
    PAID = "paid"  # "paga"
    CANCELLED = "cancelled"  # "cancelada": replaced before its nota fiscal existed


INVOICE_STATUS_LABELS = {
    "open": _l("aberta"),
    "overdue": _l("vencida"),
    "paid": _l("paga"),
    "cancelled": _l("cancelada"),
}


class InvoiceSeries(db.Model):
    """The last number used per series and year; the row is locked while a number is taken (gapless)."""

    __tablename__ = "invoice_series"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    series: Mapped[str] = mapped_column(String(10), primary_key=True)  # "F" invoices, "NC" credit notes
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


def display_number(series: str, year: int, number: int) -> str:
    """`2026/000123` (credit notes: `NC 2026/000007`)."""
    prefix = "" if series == "F" else f"{series} "
    return f"{prefix}{year}/{number:06d}"


class Invoice(db.Model):
    __tablename__ = "invoices"
    __table_args__ = (
        # One original regular invoice per organization and billing day: a second run (or consumer) cannot add
        # another (a reissue carries replaces_id and is outside the index).
        Index("uq_invoices_org_day", "organization_id", "billing_date", unique=True,
              sqlite_where=text("kind = 'regular' AND replaces_id IS NULL"),
              postgresql_where=text("kind = 'regular' AND replaces_id IS NULL")),
        UniqueConstraint("series", "year", "number", name="uq_invoices_number"),
        UniqueConstraint("replaces_id", name="uq_invoices_replaces_id"),  # one replacement per cancelled invoice
        CheckConstraint("kind IN ('regular', 'credit_note')", name="kind_known"),
        CheckConstraint("status IN ('open', 'paid', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(15), default=InvoiceKind.REGULAR)
    series: Mapped[str] = mapped_column(String(10))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)  # gapless within (series, year)
    status: Mapped[str] = mapped_column(String(10), default=InvoiceStatus.OPEN, index=True)
    billing_date: Mapped[date] = mapped_column(Date)  # the business date it was issued for
    period_start: Mapped[date] = mapped_column(Date)  # the coming period its recurring lines pay for
    period_end: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    subtotal_cents: Mapped[int] = mapped_column(Integer)  # sum of the rounded lines before credits
    credit_applied_cents: Mapped[int] = mapped_column(Integer, default=0)  # ≥ 0, never more than the subtotal
    total_cents: Mapped[int] = mapped_column(Integer)  # subtotal − credit; ≥ 0 for regular invoices
    # A cancel-and-reissue points at the invoice it replaces; a credit note at the invoice it corrects.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The invoice PDF, generated once after issue and then only served (storage key = its SHA-256).
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship()
    lines: Mapped[list["InvoiceLine"]] = relationship(back_populates="invoice", order_by="InvoiceLine.position")
    boletos: Mapped[list["Boleto"]] = relationship(back_populates="invoice", order_by="Boleto.id")
    payments: Mapped[list["Payment"]] = relationship(back_populates="invoice", order_by="Payment.id")
    fiscal_document: Mapped["FiscalDocument | None"] = relationship(back_populates="invoice", uselist=False)

    @property
    def display_number(self) -> str:
        return display_number(self.series, self.year, self.number)

    @property
    def paid_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments) - sum(r.amount_cents for r in self.reversals)

    @property
    def current_boleto(self) -> "Boleto | None":
        return self.boletos[-1] if self.boletos else None

    def display_status(self, today: date) -> str:
        if self.status == InvoiceStatus.OPEN and self.due_date < today:
            return "overdue"
        return self.status


class LineKind(StrEnum):
    RECURRING = "recurring"  # the coming period, in advance
    PRORATA = "prorata"  # a change since the last invoice (specs/prorata.md)
    CREDIT = "credit"  # credit from the organization's ledger (negative)
    ADJUSTMENT = "adjustment"  # credit notes


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        CheckConstraint("kind IN ('recurring', 'prorata', 'credit', 'adjustment')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(String(300))  # product name (the template adds the words)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)  # rounded once (specs/prorata.md)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)  # exclusive
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    change_id: Mapped[int | None] = mapped_column(ForeignKey("quantity_changes.id"), index=True)
    # What the subscription carried when the line was drafted ("" = none); later changes do not touch it.
    purchase_order: Mapped[str] = mapped_column(String(60), default="", server_default="")
    cost_centre: Mapped[str] = mapped_column(String(60), default="", server_default="")

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class Boleto(db.Model):
    """A boleto (with its Pix) for an invoice. The first is issued with it; a 2ª via adds a new row with a
    new due date and multa/juros; older rows stay as history."""

    __tablename__ = "boletos"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)
    __table_args__ = (UniqueConstraint("nosso_numero", name="uq_boletos_nosso_numero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)  # 1 = with the invoice, 2 = first 2ª via, …
    bank: Mapped[str] = mapped_column(String(3))
    nosso_numero: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(Integer)  # what this boleto charges
    fine_cents: Mapped[int] = mapped_column(Integer, default=0)  # multa (2ª via)
    interest_cents: Mapped[int] = mapped_column(Integer, default=0)  # juros de mora (2ª via)
    barcode: Mapped[str] = mapped_column(String(44))
    digitable_line: Mapped[str] = mapped_column(String(60))
    pix_payload: Mapped[str] = mapped_column(Text)
    registered: Mapped[bool] = mapped_column(Boolean, default=False)  # registered with the bank
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    invoice: Mapped[Invoice] = relationship(back_populates="boletos")


# How many times a note stored without its DANFSe is asked for it again (the sweep runs every 10 minutes: about six
# hours); then it is left without one, logged, and its page says the PDF is unavailable (the XML is the note).
MAX_PDF_ATTEMPTS = 36


class FiscalDocument(db.Model):
    """The invoice's nota fiscal de serviço eletrônica (NFS-e)."""

    __tablename__ = "fiscal_documents"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), unique=True)
    number: Mapped[str] = mapped_column(String(30))
    verification_code: Mapped[str] = mapped_column(String(60))  # código de verificação / chave de acesso
    issued_on: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(Integer)
    xml: Mapped[str] = mapped_column(Text)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))  # the DANFSe; None until it could be fetched/made
    pdf_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # asked again without one
    simulated: Mapped[bool] = mapped_column(Boolean)  # "SEM VALOR FISCAL"
    source: Mapped[str] = mapped_column(String(20))  # "simulator" | "upload" | "nfse_nacional" | "nfse_sao_paulo"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    access_key: Mapped[str | None] = mapped_column(String(50))  # NFS-e Nacional: the chave de acesso
    public_url: Mapped[str | None] = mapped_column(String(300))
    request_id: Mapped[str | None] = mapped_column(String(60))  # the DPS Id (São Paulo: series + RPS number)
    series: Mapped[str | None] = mapped_column(String(5))  # the DPS / RPS series and number it was issued with
    dps_number: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="issued")  # FiscalStatus
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancellation_xml: Mapped[str | None] = mapped_column(Text)  # the authority's registered cancellation
    # Cancelled by substitution: the note of the reissued invoice that names this one (NFS-e Nacional subst).
    substituted_by_id: Mapped[int | None] = mapped_column(ForeignKey("fiscal_documents.id"))

    invoice: Mapped[Invoice] = relationship(back_populates="fiscal_document")
    substituted_by: Mapped["FiscalDocument | None"] = relationship(remote_side=[id], foreign_keys=[substituted_by_id])

    @property
    def pdf_unavailable(self) -> bool:
        """No DANFSe, and none will be asked for any more (fiscal.ensure_fiscal_pdf gave up)."""
        return self.pdf_sha256 is None and self.pdf_attempts >= MAX_PDF_ATTEMPTS


class PaymentMethod(StrEnum):
    BOLETO = "boleto"
    PIX = "pix"
    DEPOSIT = "deposito"
    CARD = "card"


PAYMENT_METHOD_LABELS = {
    PaymentMethod.BOLETO: _l("boleto"),
    PaymentMethod.PIX: _l("Pix"),
    PaymentMethod.DEPOSIT: _l("depósito bancário"),
    PaymentMethod.CARD: _l("cartão de crédito"),
}


class Payment(db.Model):
    """Money received for an invoice (append-only). An over-payment's excess becomes organization credit."""

    __tablename__ = "payments"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("method IN ('boleto', 'pix', 'deposito', 'card')", name="method_known"),
        UniqueConstraint("source", "external_id", name="uq_payments_source_external"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(10))
    paid_on: Mapped[date] = mapped_column(Date, index=True)  # the reconciliation's period filter
    source: Mapped[str] = mapped_column(String(20))  # "manual" | "stripe"
    external_id: Mapped[str | None] = mapped_column(String(120))  # the gateway's id; idempotency
    note: Mapped[str] = mapped_column(String(300), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # From a bank's retorno (liquidação): juros/multa paid, the bank's fee and the day the money was credited.
    interest_paid_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fee_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    credited_on: Mapped[date | None] = mapped_column(Date)

    invoice: Mapped[Invoice] = relationship(back_populates="payments")


class GatewayEvent(db.Model):
    """A webhook event already processed (idempotency by the gateway's event id)."""

    __tablename__ = "gateway_events"
    __organization_data__ = False  # no organization's read model reads it (data_versions)
    __table_args__ = (UniqueConstraint("gateway", "event_id", name="uq_gateway_events_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(120))
    event_type: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    payload: Mapped[Any] = mapped_column(JSON)


# Stripe's PaymentIntent status words, as staff read them (an unknown word reads as "outra situação").
GATEWAY_STATUS_LABELS = {
    "requires_payment_method": _l("aguardando o pagador"), "requires_confirmation": _l("aguardando confirmação"),
    "requires_action": _l("aguardando ação do pagador"), "processing": _l("em processamento"),
    "requires_capture": _l("aguardando captura"), "canceled": _l("cancelado"), "succeeded": _l("pago"),
    "failed": _l("recusado"),  # ours: a declined payment (billing/payments.py)
}


class GatewayPayment(db.Model):
    """A payment started at a gateway for an invoice (Stripe: one PaymentIntent per invoice and method)."""

    __tablename__ = "gateway_payments"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)
    __table_args__ = (UniqueConstraint("gateway", "external_id", name="uq_gateway_payments_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(120))  # pi_…
    method: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(30))  # the gateway's own status word
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)  # e.g. the boleto voucher URL and line
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    @property
    def status_label(self) -> str:
        return str(GATEWAY_STATUS_LABELS.get(self.status, _l("outra situação")))


class BillingContact(db.Model):
    """An extra address that receives the organization's invoices (besides Cobrança and Master users)."""

    __tablename__ = "billing_contacts"
    __table_args__ = (UniqueConstraint("organization_id", "email", name="uq_billing_contacts_org_email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class DunningNotice(db.Model):
    """A reminder sent about an invoice; one per (invoice, step) however often the job runs."""

    __tablename__ = "dunning_notices"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)
    __table_args__ = (UniqueConstraint("invoice_id", "step", name="uq_dunning_notices_invoice_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)  # days relative to the due date: −3, +1, +7
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)




class CreditEntry(db.Model):
    """The organization's append-only credit ledger: + credit granted, − credit applied to an invoice."""

    __tablename__ = "credit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(300))
    change_id: Mapped[int | None] = mapped_column(ForeignKey("quantity_changes.id"))
    invoice_id: Mapped[int | None] = mapped_column(Integer)  # set by billing when applied
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


# ---------------------------------------------------------------- bank files (CNAB 240, issue 15)


class MovementKind(StrEnum):
    ENTRADA = "entrada"  # register the boleto at the bank
    BAIXA = "baixa"  # pedido de baixa: the bank stops accepting it
    VENCIMENTO = "vencimento"  # alteração de vencimento


class Remessa(db.Model):
    """A remessa file produced for the bank: one per account and business day, NSA gapless per account."""

    __tablename__ = "remessas"
    __organization_data__ = False  # no organization's read model reads it (data_versions)
    __table_args__ = (
        UniqueConstraint("bank", "agency", "account", "nsa", name="uq_remessas_account_nsa"),
        UniqueConstraint("bank", "agency", "account", "business_date", name="uq_remessas_account_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank: Mapped[str] = mapped_column(String(3))
    agency: Mapped[str] = mapped_column(String(10))
    account: Mapped[str] = mapped_column(String(20))
    nsa: Mapped[int] = mapped_column(Integer)
    business_date: Mapped[date] = mapped_column(Date)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    generated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    content: Mapped[str] = mapped_column(Text)  # the file (ASCII, CRLF)
    sha256: Mapped[str] = mapped_column(String(64))
    movement_count: Mapped[int] = mapped_column(Integer)
    entradas: Mapped[int] = mapped_column(Integer, default=0)
    baixas: Mapped[int] = mapped_column(Integer, default=0)
    total_cents: Mapped[int] = mapped_column(Integer, default=0)


class BankMovement(db.Model):
    """A boleto's movement for the bank (one of each kind per boleto); pending while remessa_id is empty."""

    __tablename__ = "bank_movements"
    __organization_via__ = "boleto_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        UniqueConstraint("boleto_id", "kind", name="uq_bank_movements_boleto_kind"),
        CheckConstraint("kind IN ('entrada', 'baixa', 'vencimento')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    boleto_id: Mapped[int] = mapped_column(ForeignKey("boletos.id"))
    kind: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    remessa_id: Mapped[int | None] = mapped_column(ForeignKey("remessas.id"), index=True)

    boleto: Mapped[Boleto] = relationship()


class RetornoImport(db.Model):
    """A retorno file imported (once: by its SHA-256)."""

    __tablename__ = "retorno_imports"
    __organization_data__ = False  # no organization's read model reads it (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    bank: Mapped[str] = mapped_column(String(3))
    nsa: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[Any] = mapped_column(JSON)


class BankOccurrence(db.Model):
    """One T+U event of a retorno, once by the bank's own identity of it (whatever file brought it)."""

    __tablename__ = "bank_occurrences"
    __organization_via__ = "boleto_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        UniqueConstraint("bank", "nosso_numero", "code", "occurred_on", "paid_cents",
                         name="uq_bank_occurrences_identity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("retorno_imports.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)  # the T segment's line in the file
    bank: Mapped[str] = mapped_column(String(3))
    nosso_numero: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(20))
    face_value_cents: Mapped[int] = mapped_column(Integer, default=0)
    paid_cents: Mapped[int] = mapped_column(Integer, default=0)
    charges_cents: Mapped[int] = mapped_column(Integer, default=0)
    fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    occurred_on: Mapped[date | None] = mapped_column(Date)
    credited_on: Mapped[date | None] = mapped_column(Date)
    boleto_id: Mapped[int | None] = mapped_column(ForeignKey("boletos.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))


class ExceptionKind(StrEnum):
    REJECTED = "entrada_rejeitada"
    UNKNOWN = "nosso_numero_desconhecido"
    PAID_CANCELLED = "pago_fatura_cancelada"
    UNDERPAID = "pago_a_menor"  # an automatic payment left the invoice open with a balance
    OVERPAID = "pago_a_maior"  # an automatic payment went beyond what was due: the excess became credit
    UNKNOWN_PIX = "pix_desconhecido"  # a Pix whose txid matches no charge (PixReceipt without payment)
    PAID_AFTER_BAIXA = "pago_apos_baixa"  # the bank paid a boleto whose baixa had been sent
    NFSE_REJECTED = "nfse_rejeitada"  # the city hall / Sefin refused the invoice's NFS-e (its codes and messages)
    HELD_BACK = "boleto_retido"  # a boleto the remessa cannot carry (e.g. the payer's CNPJ is invalid): held back


class BillingException(db.Model):
    """Something finance must look at (a rejected entrada, money for an unknown boleto, …) until resolved."""

    __tablename__ = "billing_exceptions"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    boleto_id: Mapped[int | None] = mapped_column(ForeignKey("boletos.id"))
    message: Mapped[str] = mapped_column(Text)  # Portuguese, for finance
    details: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)  # what finance did (required to resolve)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))  # the payment it is about, if any


class PixChargeStatus(StrEnum):
    PENDING = "pending"  # not (yet) created at the PSP: `last_error` says why, a job retries
    ACTIVE = "active"  # ATIVA at the PSP: its copia-e-cola is the boleto's Pix
    PAID = "paid"
    REMOVED = "removed"  # removed at the PSP (cancelled invoice, replaced by a 2ª via's cobv)


class PixCharge(db.Model):
    """A cobv (dynamic Pix with due date) at the PSP for one boleto of an invoice; txid deterministic per
    invoice and boleto sequence (`txid_for`)."""

    __tablename__ = "pix_charges"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        UniqueConstraint("txid", name="uq_pix_charges_txid"),
        CheckConstraint("status IN ('pending', 'active', 'paid', 'removed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    boleto_id: Mapped[int | None] = mapped_column(ForeignKey("boletos.id"))
    txid: Mapped[str] = mapped_column(String(35))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default=PixChargeStatus.PENDING)
    location: Mapped[str | None] = mapped_column(String(77))
    pix_copia_e_cola: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, onupdate=clock.now)
    last_error: Mapped[str | None] = mapped_column(Text)


class PixReceipt(db.Model):
    """A Pix the PSP reported (webhook or polling), once per endToEndId; `payment_id` None = not matched to
    an invoice (unknown txid) and waiting for finance."""

    __tablename__ = "pix_receipts"
    __organization_via__ = "payment_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        UniqueConstraint("end_to_end_id", name="uq_pix_receipts_end_to_end_id"),
        CheckConstraint("received_via IN ('webhook', 'polling')", name="received_via_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    end_to_end_id: Mapped[str] = mapped_column(String(40))
    txid: Mapped[str | None] = mapped_column(String(35), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    raw: Mapped[Any] = mapped_column(JSON)
    received_via: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class DunningStep(db.Model):
    """A step of the régua de cobrança: the reminder sent `offset_days` from the due date (−3 = three days
    before, 0 = on the due date, 7 = a week late), with the subject and message finance wrote. A step's offset
    is its identity: DunningNotice.step holds it, so each invoice gets each offset's reminder once."""

    __tablename__ = "dunning_steps"
    __organization_data__ = "global"  # read by every organization (data_versions.GLOBAL)
    __table_args__ = (UniqueConstraint("offset_days", name="uq_dunning_steps_offset_days"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset_days: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(150))
    message: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class DunningRecipient(db.Model):
    """The Master's choice of whether a user of the organization receives the dunning reminders. No row: the
    default (Master and Cobrança users receive them)."""

    __tablename__ = "dunning_recipients"
    __organization_via__ = "membership_id"  # its organization is that row's (data_versions)
    __table_args__ = (UniqueConstraint("membership_id", name="uq_dunning_recipients_membership_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"))
    receives: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class PaymentReversal(db.Model):
    """Part or all of a payment given back (a Pix devolução the PSP reported, once per `rtrId`): append-only,
    the payment stays as it was and what the invoice counts as paid is payments minus reversals."""

    __tablename__ = "payment_reversals"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        UniqueConstraint("source", "external_id", name="uq_payment_reversals_source_external"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    reversed_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(20))  # "pix"
    external_id: Mapped[str] = mapped_column(String(120))  # the devolução's rtrId
    reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    invoice: Mapped[Invoice] = relationship(backref=backref("reversals", order_by="PaymentReversal.id"))
    payment: Mapped[Payment] = relationship()


# ---------------------------------------------------------------- the accountant's monthly pack (issue 16)


class AccountantSettings(db.Model):
    """Where and when an organization's accountant receives the monthly pack (one row per organization, kept by
    its Master or Cobrança): on `day` (1–28) of a month, the previous month's pack goes to `email`."""

    __tablename__ = "accountant_settings"
    __table_args__ = (
        UniqueConstraint("organization_id", name="uq_accountant_settings_organization_id"),
        CheckConstraint("day BETWEEN 1 AND 28", name="day_in_month"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(String(254))
    day: Mapped[int] = mapped_column(Integer)  # day of the following month the pack is sent (1–28)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AccountantPackDelivery(db.Model):
    """A month's pack sent to an organization's accountant: once per (organization, month) however many
    consumers run the daily job (the unique row is the claim)."""

    __tablename__ = "accountant_pack_deliveries"
    __table_args__ = (
        UniqueConstraint("organization_id", "month", name="uq_accountant_pack_deliveries_org_month"),
        CheckConstraint("mode IN ('attachment', 'link', 'empty')", name="mode_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    month: Mapped[date] = mapped_column(Date)  # the competência's first day
    email: Mapped[str] = mapped_column(String(254))
    mode: Mapped[str] = mapped_column(String(12))  # attached, a signed link (too big), or nothing (empty month)
    size: Mapped[int] = mapped_column(Integer, default=0)  # bytes of the documents in the pack
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


# ---------------------------------------------------------------- review before issuing (issue 16 point 8)


class InvoiceDraftStatus(StrEnum):
    PENDING = "pending"  # waiting for finance (customers never see it: it is not an invoice)
    APPROVED = "approved"  # issued: `invoice_id` is the invoice it became


class InvoiceDraft(db.Model):
    """What the billing run would have issued for an organization and billing day, with BILLING_REVIEW=true.

    Not an invoice: no number (only approval takes one, so the series stays gapless), no boleto, no Pix, no nota
    fiscal, no e-mail; its own table, so nothing a customer reads (which reads invoices) can reach it. Finance
    corrects it (a line's description, a one-off discount) and approves it: approval issues the invoice through
    the one issuing path of billing/run.py."""

    __tablename__ = "invoice_drafts"
    __table_args__ = (
        UniqueConstraint("organization_id", "billing_date", name="uq_invoice_drafts_org_day"),
        UniqueConstraint("invoice_id", name="uq_invoice_drafts_invoice_id"),
        CheckConstraint("status IN ('pending', 'approved')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=InvoiceDraftStatus.PENDING, index=True)
    billing_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)  # the invoice's, as the run computed it
    credit_available_cents: Mapped[int] = mapped_column(Integer, default=0)  # the ledger's balance when drafted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Finance was told it is late for approval (BILLING_REVIEW_LEAD_DAYS before the due date): once per draft.
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))

    organization: Mapped[Organization] = relationship()
    lines: Mapped[list["InvoiceDraftLine"]] = relationship(back_populates="draft", order_by="InvoiceDraftLine.position")

    @property
    def subtotal_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    @property
    def credit_cents(self) -> int:  # as the issued invoice would apply it: never more than the subtotal
        return min(max(self.credit_available_cents, 0), max(self.subtotal_cents, 0))

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents - self.credit_cents


class InvoiceDraftLine(db.Model):
    """A line of a draft: as drafted (recurring, pró-rata), or a one-off discount finance added (adjustment,
    negative, with its reason). On approval each becomes an invoice line as it is."""

    __tablename__ = "invoice_draft_lines"
    __organization_via__ = "draft_id"  # its organization is that row's (data_versions)
    __table_args__ = (
        CheckConstraint("kind IN ('recurring', 'prorata', 'adjustment')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("invoice_drafts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))
    change_id: Mapped[int | None] = mapped_column(ForeignKey("quantity_changes.id"))
    reason: Mapped[str | None] = mapped_column(Text)  # a discount's reason (finance's words; staff-only)
    purchase_order: Mapped[str] = mapped_column(String(60), default="", server_default="")  # as the line drafted
    cost_centre: Mapped[str] = mapped_column(String(60), default="", server_default="")

    draft: Mapped[InvoiceDraft] = relationship(back_populates="lines")


class FiscalStatus(StrEnum):
    ISSUED = "issued"
    CANCELLED = "cancelled"


class FiscalNumber(db.Model):
    """The DPS / RPS number of an invoice's NFS-e: gapless per series, taken once per invoice and committed BEFORE
    the request is sent (a retry after a timeout sends the same number; the authority answers with the same note)."""

    __tablename__ = "fiscal_numbers"
    __organization_via__ = "invoice_id"  # its organization is that row's (data_versions)
    __table_args__ = (UniqueConstraint("series", "number", name="uq_fiscal_numbers_series_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), unique=True)
    series: Mapped[str] = mapped_column(String(5))
    number: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
