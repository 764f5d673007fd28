"""What follows a payment once it is recorded (billing/payments.py `_apply_payment`, any source): the "pagamento
recebido" e-mail to the invoice's recipients, and, for the payments the portal records by itself (bank retorno,
Pix, Stripe), an exception for finance when the amount was not what was due.

Runs in the payment's transaction: the e-mails are logged (EmailDelivery) with it and sent by the notifications
job only after it commits, so a payment rolled back sends nothing and a payment recorded once is told once.
"""

from dataclasses import dataclass

from flask_babel import gettext as _

from portal.billing import delivery, exceptions
from portal.billing.models import PAYMENT_METHOD_LABELS, ExceptionKind, Invoice, Payment
from portal.notifications.service import queue_email
from portal.shared.formatting import format_money
from portal.shared.links import absolute_url

AUTOMATIC_SOURCES = ("retorno", "pix", "stripe")  # recorded with no one typing: their amounts are checked


@dataclass(frozen=True)
class Outcome:
    """The invoice after the payment, in centavos."""

    due_cents: int  # what settles the invoice (for a payment on a paid invoice: what it had been paid)
    paid_cents: int  # paid so far, this payment included
    credit_cents: int  # what this payment added to the organization's credit
    was_open: bool  # the invoice was open when the payment came

    @property
    def open_cents(self) -> int:
        return max(self.due_cents - self.paid_cents, 0) if self.was_open else 0


def payment_recorded(invoice: Invoice, payment: Payment, outcome: Outcome) -> None:
    """Tell the invoice's recipients, and open an exception for an automatic payment that did not match."""
    _email(invoice, payment, outcome)
    if payment.source in AUTOMATIC_SOURCES:
        _check_amount(invoice, payment, outcome)


def _email(invoice: Invoice, payment: Payment, outcome: Outcome) -> None:
    method = PAYMENT_METHOD_LABELS.get(payment.method)
    context = {"invoice": invoice, "organization": invoice.organization, "payment": payment,
               "method": method, "open_cents": outcome.open_cents, "credit_cents": outcome.credit_cents,
               "settled": outcome.open_cents == 0,
               "url": absolute_url("billing.invoice", invoice_id=invoice.id)}
    for person in delivery.recipients(invoice.organization_id):
        queue_email("payment_received", to=[person.email],
                    subject_fn=lambda: _("Pagamento recebido: fatura %(number)s", number=invoice.display_number),
                    context={**context, "person": person}, language=person.language,
                    organization_id=invoice.organization_id)


def _check_amount(invoice: Invoice, payment: Payment, outcome: Outcome) -> None:
    where = f"{payment.source} {payment.external_id or ''}".strip()
    details = {"payment_id": payment.id, "source": payment.source, "external_id": payment.external_id,
               "amount_cents": payment.amount_cents, "due_cents": outcome.due_cents,
               "paid_cents": outcome.paid_cents, "open_cents": outcome.open_cents,
               "credit_cents": outcome.credit_cents, "note": payment.note}
    if outcome.open_cents > 0:
        exceptions.open_exception(
            ExceptionKind.UNDERPAID,
            f"Fatura {invoice.display_number} paga a menor: {format_money(payment.amount_cents)} recebidos "
            f"({where}); continua aberta com saldo de {format_money(outcome.open_cents)}.",
            details, invoice=invoice, payment=payment)
    elif outcome.credit_cents > 0:
        exceptions.open_exception(
            ExceptionKind.OVERPAID,
            f"Fatura {invoice.display_number} paga a maior: {format_money(payment.amount_cents)} recebidos "
            f"({where}); {format_money(outcome.credit_cents)} viraram crédito da organização.",
            details, invoice=invoice, payment=payment)
