"""Payments: money received for invoices (manual reconciliation and gateway webhooks), and "inadimplência".

What an invoice asks for (`amount_due`), in centavos:

- the invoice total;
- but when a 2ª via exists and the money arrives AFTER the original due date, the total plus the latest
  2ª via's multa and juros (its `fine_cents + interest_cents`). The 2ª via charges what was still owed
  plus those surcharges (portal/billing/second_copy.py), so this equals "the 2ª via's amount plus what had
  been paid before it". Paid on or before the original due date, the surcharges are not owed.

The date that decides is the latest `paid_on` among the invoice's payments. Payments are append-only:
partial payments leave the invoice open with its balance; when they reach the amount due the invoice is
paid; what goes beyond becomes credit in the organization's credit ledger (CreditEntry), used by the
next invoices. A payment on an invoice already paid is credit in full. A gateway payment is recorded
once per (source, external_id): a repeated webhook changes nothing.

Inadimplência: an organization with an open invoice overdue MORE than `delinquent_after_days` days is
"inadimplente" (Organization.delinquent_since): purchases and quantity increases are refused
(`ensure_not_delinquent`); decreases and cancellations stay available. It is back in good standing as soon
as no such invoice remains (checked when a payment settles an invoice, and by the daily job).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Organization
from portal.billing import exceptions, receipts
from portal.billing.models import (
    BillingException,
    Boleto,
    CreditEntry,
    ExceptionKind,
    GatewayEvent,
    GatewayPayment,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentReversal,
)
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.payments import (
    BoletoPayer,
    GatewayPaymentResult,
    InvoiceCharge,
    PaymentGateway,
    WebhookEvent,
)
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.shared.formatting import format_money
from portal.webhooks import outbox as webhook_outbox

log = logging.getLogger(__name__)

SYSTEM = Actor.system("billing")
MANUAL_METHODS = (PaymentMethod.BOLETO, PaymentMethod.PIX, PaymentMethod.DEPOSIT)  # what finance records by hand
MAX_NOTE = 300
# PaymentIntent statuses: still waiting for the customer (a new attempt may reuse it) / money on its way.
AWAITING = ("requires_payment_method", "requires_confirmation", "requires_action")
IN_FLIGHT = ("succeeded", "processing")


def _settings(settings: BillingSettings | None) -> BillingSettings:
    return settings if settings is not None else BillingSettings.from_config(current_app.config)


# ---------------------------------------------------------------- what is owed

def latest_second_copy(invoice: Invoice) -> Boleto | None:
    copies = [b for b in invoice.boletos if b.sequence > 1]
    return max(copies, key=lambda b: b.sequence) if copies else None


def amount_due(invoice: Invoice, paid_on: date) -> int:
    """What settles `invoice` when paid on `paid_on` (centavos; see the module's rule)."""
    copy = latest_second_copy(invoice)
    if copy is not None and paid_on > invoice.due_date:
        return invoice.total_cents + copy.fine_cents + copy.interest_cents
    return invoice.total_cents


def paid_cents(invoice_id: int) -> int:
    """Payments received for the invoice minus what was given back of them (reversals)."""
    received = db.session.scalar(
        select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(Payment.invoice_id == invoice_id))
    reversed_ = db.session.scalar(select(func.coalesce(func.sum(PaymentReversal.amount_cents), 0))
                                  .where(PaymentReversal.invoice_id == invoice_id))
    return received - reversed_


@dataclass(frozen=True)
class Balance:
    due_cents: int  # what settles the invoice for a payment made on `on` (paid invoices: on their last payment)
    paid_cents: int
    on: date

    @property
    def open_cents(self) -> int:
        """Still to pay (0 when settled)."""
        return max(self.due_cents - self.paid_cents, 0)

    @property
    def credit_cents(self) -> int:
        """Paid beyond the amount due: it went to the organization's credit."""
        return max(self.paid_cents - self.due_cents, 0)


def balance(invoice: Invoice, on: date) -> Balance:
    """What is owed and paid on `invoice` for a payment made on `on` (a cancelled invoice owes nothing)."""
    paid = paid_cents(invoice.id)
    if invoice.status == InvoiceStatus.CANCELLED:
        return Balance(due_cents=0, paid_cents=paid, on=on)
    if invoice.status == InvoiceStatus.PAID:
        latest = db.session.scalar(select(func.max(Payment.paid_on)).where(Payment.invoice_id == invoice.id)) or on
        return Balance(due_cents=amount_due(invoice, latest), paid_cents=paid, on=latest)
    return Balance(due_cents=amount_due(invoice, on), paid_cents=paid, on=on)


# ---------------------------------------------------------------- recording money

def _lock_invoice(invoice: Invoice) -> Invoice:
    found = db.session.scalar(select(Invoice).where(Invoice.id == invoice.id).with_for_update()
                              .execution_options(populate_existing=True))
    db.session.expire(found, ["boletos", "payments"])
    return found


def _existing_payment(source: str, external_id: str | None) -> Payment | None:
    if external_id is None:
        return None
    return db.session.scalar(select(Payment).where(Payment.source == source, Payment.external_id == external_id))


def _check_payment(invoice: Invoice, amount_cents: Any, method: str, paid_on: Any, note: str) -> None:
    if invoice.kind != InvoiceKind.REGULAR:
        raise ServiceError(_("Uma nota de crédito não recebe pagamentos."))
    if invoice.status == InvoiceStatus.CANCELLED:
        raise ServiceError(_("A fatura %(number)s foi cancelada: não é possível registrar pagamentos nela.",
                             number=invoice.display_number))
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ServiceError(_("Informe um valor maior que zero."), field="amount")
    if amount_cents > 2**31 - 1:
        raise ServiceError(_("Valor alto demais. Confira o que foi digitado."), field="amount")
    if method not in set(PaymentMethod):
        raise ServiceError(_("Escolha a forma de pagamento."), field="method")
    if not isinstance(paid_on, date):
        raise ServiceError(_("Informe a data do pagamento."), field="paid_on")
    if paid_on > clock.today():
        raise ServiceError(_("A data do pagamento não pode estar no futuro."), field="paid_on")
    if len(note or "") > MAX_NOTE:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_NOTE), field="note")


def _apply_payment(invoice: Invoice, *, amount_cents: int, method: str, paid_on: date, actor: Actor,
                   source: str, external_id: str | None, note: str,
                   settings: BillingSettings | None, interest_paid_cents: int = 0, fee_cents: int = 0,
                   credited_on: date | None = None) -> Payment:
    """Add the payment and what follows from it (paid, credit, standing), in the current transaction."""
    invoice = _lock_invoice(invoice)
    _check_payment(invoice, amount_cents, method, paid_on, note)
    paid_before = paid_cents(invoice.id)
    latest = db.session.scalar(select(func.max(Payment.paid_on)).where(Payment.invoice_id == invoice.id))
    payment = Payment(invoice_id=invoice.id, amount_cents=amount_cents, method=str(method), paid_on=paid_on,
                      source=source, external_id=external_id, note=(note or "").strip(),
                      recorded_by_id=actor.user_id, created_at=clock.now(),
                      interest_paid_cents=interest_paid_cents, fee_cents=fee_cents, credited_on=credited_on)
    db.session.add(payment)
    db.session.flush()
    was_open = invoice.status == InvoiceStatus.OPEN
    settle_day = max(paid_on, latest) if latest else paid_on
    due = amount_due(invoice, settle_day) if was_open else paid_before
    paid_now = paid_before + amount_cents
    excess = paid_now - due if was_open else amount_cents
    record(AuditTag.PAYMENT_RECORDED, actor=actor, organization_id=invoice.organization_id,
           subject=f"invoice:{invoice.id}",
           after={"number": invoice.display_number, "payment_id": payment.id, "amount_cents": amount_cents,
                  "method": str(method), "paid_on": paid_on.isoformat(), "source": source, "external_id": external_id,
                  "note": payment.note, "paid_cents": paid_now, "amount_due_cents": due,
                  "balance_cents": max(due - paid_now, 0)})
    if was_open and paid_now >= due:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = clock.now()
        record(AuditTag.INVOICE_PAID, actor=actor, organization_id=invoice.organization_id,
               subject=f"invoice:{invoice.id}", before={"status": InvoiceStatus.OPEN},
               after={"number": invoice.display_number, "status": InvoiceStatus.PAID, "paid_cents": paid_now,
                      "amount_due_cents": due, "credit_cents": max(excess, 0)})
        webhook_outbox.invoice_paid(invoice, paid_cents=paid_now)
    if excess > 0:
        db.session.add(CreditEntry(organization_id=invoice.organization_id, amount_cents=excess,
                                   description=f"overpayment of invoice {invoice.display_number}",
                                   created_at=clock.now()))
    if was_open and invoice.status == InvoiceStatus.PAID:
        organization = db.session.get(Organization, invoice.organization_id)
        if organization.delinquent_since is not None:
            refresh_delinquency(organization, clock.today(), _settings(settings), actor)
    receipts.payment_recorded(invoice, payment, receipts.Outcome(due_cents=due, paid_cents=paid_now,
                                                                 credit_cents=max(excess, 0), was_open=was_open))
    return payment


def record_payment(invoice: Invoice, *, amount_cents: int, method: str, paid_on: date, actor: Actor,
                   source: str = "manual", external_id: str | None = None, note: str = "",
                   settings: BillingSettings | None = None) -> Payment:
    """Record money received for `invoice` (append-only) and commit. A payment already recorded for the same
    (source, external_id) is returned as it is (nothing new). ServiceError (with `field`) for bad input."""
    existing = _existing_payment(source, external_id)
    if existing is not None:
        log.info("payment %s/%s already recorded (payment %s): ignored", source, external_id, existing.id)
        return existing
    try:
        payment = _apply_payment(invoice, amount_cents=amount_cents, method=method, paid_on=paid_on, actor=actor,
                                 source=source, external_id=external_id, note=note, settings=settings)
        db.session.commit()
    except ServiceError:
        db.session.rollback()
        raise
    except IntegrityError:  # the same gateway payment recorded by another request just now
        db.session.rollback()
        existing = _existing_payment(source, external_id)
        if existing is None:
            raise
        return existing
    return payment


def add_payment(invoice: Invoice, *, amount_cents: int, method: str, paid_on: date, actor: Actor, source: str,
                external_id: str, note: str = "", interest_paid_cents: int = 0, fee_cents: int = 0,
                credited_on: date | None = None, settings: BillingSettings | None = None) -> Payment:
    """As `record_payment`, inside the caller's transaction (no commit): for an importer that records several
    things at once (billing/bank.py). A payment already recorded for (source, external_id) is returned as is."""
    existing = _existing_payment(source, external_id)
    if existing is not None:
        return existing
    return _apply_payment(invoice, amount_cents=amount_cents, method=method, paid_on=paid_on, actor=actor,
                          source=source, external_id=external_id, note=note, settings=settings,
                          interest_paid_cents=interest_paid_cents, fee_cents=fee_cents, credited_on=credited_on)


def reverse_payment(payment: Payment, *, amount_cents: int, actor: Actor, source: str, external_id: str,
                    reversed_on: date, reason: str = "",
                    settings: BillingSettings | None = None) -> tuple[PaymentReversal, bool]:
    """Give back `amount_cents` of `payment` (a Pix devolução), inside the caller's transaction (no commit):
    a PaymentReversal row, once per (source, external_id) — (reversal, False) when it was already recorded —,
    the invoice back to open when what remains paid is below what is due (the organization's standing
    refreshed), and an audit event. The invoice row is locked first, so a concurrent report of the same
    devolução waits, then finds it (or loses the unique constraint at commit: the caller rolls back)."""
    existing = db.session.scalar(select(PaymentReversal).where(PaymentReversal.source == source,
                                                               PaymentReversal.external_id == external_id))
    if existing is not None:
        return existing, False
    invoice = _lock_invoice(payment.invoice)
    existing = db.session.scalar(select(PaymentReversal).where(PaymentReversal.source == source,
                                                               PaymentReversal.external_id == external_id))
    if existing is not None:  # recorded while this transaction waited for the lock
        return existing, False
    already = db.session.scalar(select(func.coalesce(func.sum(PaymentReversal.amount_cents), 0))
                                .where(PaymentReversal.payment_id == payment.id))
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ServiceError(_("Informe um valor maior que zero."), field="amount")
    if already + amount_cents > payment.amount_cents:
        raise ServiceError(_("A devolução de %(amount)s passa do que resta do pagamento (%(left)s).",
                             amount=format_money(amount_cents), left=format_money(payment.amount_cents - already)))
    reversal = PaymentReversal(payment_id=payment.id, invoice_id=invoice.id, amount_cents=amount_cents,
                               reversed_on=reversed_on, source=source, external_id=external_id,
                               reason=(reason or "")[:300], created_at=clock.now())
    db.session.add(reversal)
    db.session.flush()
    paid_now = paid_cents(invoice.id)
    reopened = False
    due = invoice.total_cents
    if invoice.status == InvoiceStatus.PAID:
        latest = db.session.scalar(select(func.max(Payment.paid_on)).where(Payment.invoice_id == invoice.id))
        due = amount_due(invoice, latest or reversed_on)
        if paid_now < due:
            invoice.status, invoice.paid_at, reopened = InvoiceStatus.OPEN, None, True
    elif invoice.status == InvoiceStatus.OPEN:
        due = amount_due(invoice, reversed_on)
    # What the payment had paid beyond what was due became credit: the part of it given back is taken back.
    taken_back = max(paid_now + amount_cents - due, 0) - max(paid_now - due, 0)
    if taken_back > 0:
        db.session.add(CreditEntry(organization_id=invoice.organization_id, amount_cents=-taken_back,
                                   description=f"refund of the overpayment of invoice {invoice.display_number}",
                                   created_at=clock.now()))
    record(AuditTag.PAYMENT_REVERSED, actor=actor, organization_id=invoice.organization_id,
           subject=f"invoice:{invoice.id}", before={"status": InvoiceStatus.PAID} if reopened else None,
           after={"number": invoice.display_number, "payment_id": payment.id, "reversal_id": reversal.id,
                  "amount_cents": amount_cents, "reversed_on": reversed_on.isoformat(), "source": source,
                  "external_id": external_id, "reason": reversal.reason, "paid_cents": paid_now,
                  "amount_due_cents": due, "balance_cents": max(due - paid_now, 0), "reopened": reopened,
                  "credit_taken_back_cents": taken_back,
                  "status": invoice.status})
    if reopened:
        organization = db.session.get(Organization, invoice.organization_id)
        refresh_delinquency(organization, clock.today(), _settings(settings), actor)
    db.session.expire(invoice, ["payments"])
    return reversal, True


# ---------------------------------------------------------------- inadimplência

def _overdue_since(today: date, settings: BillingSettings) -> date:
    """Invoices due before this date are overdue more than `delinquent_after_days` days."""
    return today - timedelta(days=settings.delinquent_after_days)


def _overdue_filter(today: date, settings: BillingSettings):
    return ((Invoice.status == InvoiceStatus.OPEN) & (Invoice.kind == InvoiceKind.REGULAR)
            & (Invoice.due_date < _overdue_since(today, settings)))


def delinquent_invoices(organization_id: int, today: date, settings: BillingSettings) -> list[Invoice]:
    """The organization's open invoices overdue more than the setting, oldest first."""
    return list(db.session.scalars(
        select(Invoice).where(Invoice.organization_id == organization_id, _overdue_filter(today, settings))
        .order_by(Invoice.due_date, Invoice.id)))


def refresh_delinquency(organization: Organization, today: date, settings: BillingSettings,
                        actor: Actor) -> str | None:
    """Mark the organization "inadimplente", or back in good standing, as its invoices say today.

    Returns "delinquent" / "good_standing" when it changed, None otherwise. Writes in the current
    transaction (the caller commits)."""
    organization = db.session.scalar(select(Organization).where(Organization.id == organization.id)
                                     .with_for_update().execution_options(populate_existing=True))
    overdue = delinquent_invoices(organization.id, today, settings)
    if overdue and organization.delinquent_since is None:
        organization.delinquent_since = today
        record(AuditTag.ORGANIZATION_DELINQUENT, actor=actor, organization_id=organization.id,
               subject=f"organization:{organization.id}", before={"delinquent_since": None},
               after={"delinquent_since": today.isoformat(),
                      "invoices": [invoice.display_number for invoice in overdue],
                      "after_days": settings.delinquent_after_days})
        return "delinquent"
    if not overdue and organization.delinquent_since is not None:
        since = organization.delinquent_since
        organization.delinquent_since = None
        record(AuditTag.ORGANIZATION_GOOD_STANDING, actor=actor, organization_id=organization.id,
               subject=f"organization:{organization.id}", before={"delinquent_since": since.isoformat()},
               after={"delinquent_since": None})
        return "good_standing"
    return None


def refresh_all_delinquency(today: date, settings: BillingSettings, actor: Actor) -> dict[str, int]:
    """Every organization that is, or should be, "inadimplente": each in its own transaction."""
    candidates = db.session.scalars(
        select(Organization.id).where(or_(
            Organization.delinquent_since.is_not(None),
            Organization.id.in_(select(Invoice.organization_id).where(_overdue_filter(today, settings))),
        )).order_by(Organization.id)
    ).all()
    counts = {"delinquent": 0, "good_standing": 0, "unchanged": 0, "failed": 0}
    for organization_id in candidates:
        try:
            changed = refresh_delinquency(db.session.get(Organization, organization_id), today, settings, actor)
            db.session.commit()
        except Exception:  # one organization's trouble must not stop the others; the next run tries again
            db.session.rollback()
            log.exception("refreshing the standing of organization %s failed", organization_id)
            counts["failed"] += 1
        else:
            counts[changed or "unchanged"] += 1
    return counts


def ensure_not_delinquent(organization: Organization) -> None:
    """Refuse a purchase or an increase while the organization is "inadimplente"."""
    if organization.delinquent_since is not None:
        raise ServiceError(_("Sua organização tem faturas vencidas. Compras e aumentos ficam bloqueados até o "
                             "pagamento; reduções e cancelamentos continuam disponíveis."))


# ---------------------------------------------------------------- online payments (gateway)

def _payable(invoice: Invoice) -> int:
    """What is still owed today, or a ServiceError saying why this invoice takes no payment."""
    if invoice.kind != InvoiceKind.REGULAR:
        raise ServiceError(_("Uma nota de crédito não recebe pagamentos."))
    if invoice.status == InvoiceStatus.CANCELLED:
        raise ServiceError(_("Esta fatura foi cancelada."))
    if invoice.status == InvoiceStatus.PAID:
        raise ServiceError(_("Esta fatura já está paga."))
    owed = balance(invoice, clock.today()).open_cents
    if owed <= 0:
        raise ServiceError(_("Não há valor em aberto nesta fatura."))
    return owed


_GATEWAY_PAYMENTS = (select(GatewayPayment).where(GatewayPayment.invoice_id == bindparam("invoice_id", type_=Integer))
                     .order_by(GatewayPayment.id))


def gateway_payments(invoice: Invoice) -> list[GatewayPayment]:
    return list(db.session.scalars(_GATEWAY_PAYMENTS, {"invoice_id": invoice.id}))


def _reusable(rows: list[GatewayPayment], gateway: str, method: str, amount: int) -> GatewayPayment | None:
    """The invoice's live PaymentIntent for this method and amount, still waiting for the customer."""
    now = clock.now()
    for row in reversed(rows):
        if row.gateway != gateway or row.method != method or row.amount_cents != amount or row.status not in AWAITING:
            continue
        expires = (row.detail or {}).get("expires_at")
        if expires and datetime.fromisoformat(expires) <= now:  # an expired boleto voucher
            continue
        return row
    return None


def _start(invoice: Invoice, *, gateway: PaymentGateway, method: str, payment_method: str | None,
           start: Callable[[InvoiceCharge], GatewayPaymentResult]) -> GatewayPayment:
    owed = _payable(invoice)
    rows = gateway_payments(invoice)
    if any(row.gateway == gateway.name and row.status in IN_FLIGHT for row in rows):
        raise ServiceError(_("Já há um pagamento aprovado ou em processamento para esta fatura. Ela aparece como "
                             "paga assim que a confirmação chegar."))
    if payment_method is None:
        reuse = _reusable(rows, gateway.name, method, owed)
        if reuse is not None:
            return reuse
    attempt = sum(1 for row in rows if row.gateway == gateway.name and row.method == method) + 1
    charge = InvoiceCharge(invoice_id=invoice.id, number=invoice.display_number, amount_cents=owed, attempt=attempt)
    result = start(charge)
    found = db.session.scalar(select(GatewayPayment).where(GatewayPayment.gateway == gateway.name,
                                                           GatewayPayment.external_id == result.external_id))
    if found is not None:  # the gateway answered a retried request with the PaymentIntent made before
        return found
    detail = dict(result.detail)
    if result.client_secret:
        detail["client_secret"] = result.client_secret  # for Stripe.js in the customer's browser
    if result.error:
        detail["error"] = result.error
    row = GatewayPayment(invoice_id=invoice.id, gateway=gateway.name, external_id=result.external_id,
                         method=method, amount_cents=result.amount_cents, status=result.status,
                         detail=detail or None, created_at=clock.now())
    if result.external_id:
        db.session.add(row)
        db.session.commit()
    if result.failed:
        raise ServiceError(_("O pagamento foi recusado: %(reason)s Tente outro cartão, ou pague pelo boleto ou Pix.",
                             reason=result.error or ""))
    return row


def start_card_payment_for(invoice: Invoice, *, gateway: PaymentGateway, actor: Actor,
                           payment_method: str | None = None, customer_email: str | None = None) -> GatewayPayment:
    """Start paying `invoice` by card for what is still owed. Commits the GatewayPayment row.

    Without `payment_method`, the PaymentIntent waits for the browser: `detail["client_secret"]` goes to
    Stripe.js (the same live PaymentIntent is returned again until it is used). With one (pm_…) it is
    confirmed now; a decline is recorded and raised as a ServiceError. The invoice becomes paid when the
    signed `payment_intent.succeeded` webhook arrives, never from this call."""
    email = customer_email or (actor.user.email if actor.user is not None else "")
    return _start(invoice, gateway=gateway, method=PaymentMethod.CARD, payment_method=payment_method,
                  start=lambda charge: gateway.start_card_payment(charge, customer_email=email,
                                                                  payment_method=payment_method))


def boleto_payer(organization: Organization, email: str) -> BoletoPayer:
    street = f"{organization.street}, {organization.number}"
    if organization.complement:
        street = f"{street} – {organization.complement}"
    return BoletoPayer(name=organization.legal_name, email=email, tax_id=organization.cnpj, line1=street,
                       city=organization.city, state=organization.state, postal_code=organization.postal_code)


def start_boleto_payment_for(invoice: Invoice, *, gateway: PaymentGateway, actor: Actor,
                             customer_email: str | None = None) -> GatewayPayment:
    """Issue a Stripe boleto for what is still owed (or return the live one). `detail` holds the voucher:
    number (linha digitável), hosted_voucher_url, pdf, expires_at. Commits the GatewayPayment row."""
    email = customer_email or (actor.user.email if actor.user is not None else "")
    organization = db.session.get(Organization, invoice.organization_id)
    payer = boleto_payer(organization, email)
    return _start(invoice, gateway=gateway, method=PaymentMethod.BOLETO, payment_method=None,
                  start=lambda charge: gateway.start_boleto_payment(charge, payer=payer))


# ---------------------------------------------------------------- webhooks

def _invoice_of(intent: dict) -> Invoice | None:
    """The portal invoice a PaymentIntent pays (its metadata must name both its id and its number)."""
    metadata = intent.get("metadata") or {}
    raw_id = str(metadata.get("portal_invoice_id") or "")
    if not raw_id.isdigit() or int(raw_id) > 2**31 - 1:
        return None
    invoice = db.session.get(Invoice, int(raw_id))
    if invoice is None or invoice.display_number != metadata.get("portal_invoice_number"):
        return None
    return invoice


def _gateway_payment(gateway: str, external_id: str) -> GatewayPayment | None:
    return db.session.scalar(select(GatewayPayment).where(GatewayPayment.gateway == gateway,
                                                          GatewayPayment.external_id == external_id))


def _method_of(intent: dict, row: GatewayPayment | None) -> str:
    if row is not None:
        return row.method
    types = intent.get("payment_method_types") or []
    return PaymentMethod.BOLETO if types == ["boleto"] else PaymentMethod.CARD


def _payment_succeeded(event: WebhookEvent, *, gateway: str, actor: Actor,
                       settings: BillingSettings | None) -> str:
    intent = event.object
    intent_id = str(intent.get("id") or "")
    row = _gateway_payment(gateway, intent_id)
    if row is not None:
        row.status = "succeeded"
    invoice = _invoice_of(intent)
    if invoice is None:
        log.warning("%s event %s: PaymentIntent %s names no invoice of this portal (%s); acknowledged",
                    gateway, event.id, intent_id, intent.get("metadata"))
        return "unknown invoice"
    if str(intent.get("currency") or "").lower() != "brl":
        log.error("%s event %s: PaymentIntent %s is in %s, not BRL; not recorded", gateway, event.id, intent_id,
                  intent.get("currency"))
        return "ignored: currency"
    amount = intent.get("amount_received") or intent.get("amount")
    if not isinstance(amount, int) or amount <= 0:
        log.error("%s event %s: PaymentIntent %s has no amount; not recorded", gateway, event.id, intent_id)
        return "ignored: amount"
    if _existing_payment(gateway, intent_id) is not None:
        return "already recorded"
    paid_on = min(clock.to_business(event.created).date(), clock.today())
    try:
        with db.session.begin_nested():
            _apply_payment(invoice, amount_cents=amount, method=_method_of(intent, row), paid_on=paid_on,
                           actor=actor, source=gateway, external_id=intent_id,
                           note=f"{gateway} {intent_id} ({event.id})", settings=settings)
    except ServiceError as error:  # the money arrived anyway: finance must see it, as with a retorno or a Pix
        return _not_recorded(invoice, gateway, intent_id, amount, event, error)
    return "recorded"


def _not_recorded(invoice: Invoice, gateway: str, intent_id: str, amount: int, event: WebhookEvent,
                  error: ServiceError) -> str:
    """A gateway payment that could not become a payment: on a cancelled invoice the money becomes the
    organization's credit, otherwise it waits for finance; an exception says so either way, once per PaymentIntent
    (the gateway may send several events about it). In the caller's transaction."""
    what = f"Pagamento {gateway} {intent_id}"
    details = {"gateway": gateway, "payment_intent": intent_id, "event_id": event.id, "amount_cents": amount,
               "error": error.message}
    reported = db.session.scalar(select(BillingException.id).where(  # both messages go on after `what` with a space
        BillingException.invoice_id == invoice.id,
        BillingException.message.startswith(f"{what} ", autoescape=True)).limit(1))
    if reported is not None:
        return "already reported"
    log.warning("%s event %s: %s paid invoice %s, which takes no payment (%s)", gateway, event.id, intent_id,
                invoice.display_number, error.message)
    if invoice.status == InvoiceStatus.CANCELLED:
        exceptions.paid_on_cancelled(invoice, amount, what, details)
        return "credited: cancelled invoice"
    exceptions.open_exception(ExceptionKind.UNKNOWN, f"{what} ({format_money(amount)}) da fatura "
                              f"{invoice.display_number} não registrado: {error.message}", details, invoice=invoice)
    return "refused: " + error.message


def _payment_failed(event: WebhookEvent, *, gateway: str) -> str:
    intent = event.object
    row = _gateway_payment(gateway, str(intent.get("id") or ""))
    if row is None:
        log.info("%s event %s: failed PaymentIntent %s not started here; acknowledged", gateway, event.id,
                 intent.get("id"))
        return "unknown payment"
    row.status = "failed"
    error = intent.get("last_payment_error") or {}
    row.detail = {**(row.detail or {}), "error": str(error.get("message") or error.get("code") or "failed")[:300]}
    return "marked failed"


def handle_webhook_event(event: WebhookEvent, *, actor: Actor, gateway: str = "stripe",
                         settings: BillingSettings | None = None) -> str:
    """Process a verified gateway event once (by its id) and commit; returns what was done, for the log.

    `payment_intent.succeeded` records the payment (idempotent per PaymentIntent as well), and
    `payment_intent.payment_failed` marks the GatewayPayment failed. An event about no invoice of this
    portal is acknowledged without effect, so the gateway stops sending it."""
    if db.session.scalar(select(GatewayEvent.id).where(GatewayEvent.gateway == gateway,
                                                       GatewayEvent.event_id == event.id)) is not None:
        db.session.rollback()
        return "duplicate"
    try:
        with db.session.begin_nested():
            db.session.add(GatewayEvent(gateway=gateway, event_id=event.id[:120], event_type=event.type[:80],
                                        payload=event.payload, received_at=clock.now()))
    except IntegrityError:  # the same event, delivered twice at once: the other delivery processes it
        db.session.rollback()
        return "duplicate"
    if event.type == "payment_intent.succeeded":
        outcome = _payment_succeeded(event, gateway=gateway, actor=actor, settings=settings)
    elif event.type == "payment_intent.payment_failed":
        outcome = _payment_failed(event, gateway=gateway)
    elif event.type.startswith("payment_intent.") and (row := _gateway_payment(gateway, str(event.object.get("id")))):
        row.status = str(event.object.get("status") or row.status)[:30]
        outcome = "status " + row.status
    else:
        outcome = "ignored"
    db.session.commit()
    log.info("%s event %s (%s): %s", gateway, event.id, event.type, outcome)
    return outcome
