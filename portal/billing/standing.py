"""What a customer page says about its organization's overdue invoices, for the "inadimplente" banner.

The rule that blocks purchases stays in `payments` (`Organization.delinquent_since`, `ensure_not_delinquent`);
this only sums up what is overdue, as expressions the navigation's badges statement selects
(portal/navigation.py): one statement, only for an "inadimplente" organization's Master and Cobrança.

"Overdue" here is every open regular invoice whose due date has passed (business date `today`), not just the
ones old enough to have made the organization "inadimplente": what the customer should pay is all of it.
Amounts are centavos still owed (total minus what was paid, as the invoice page shows), multa and juros of a
2ª via not included.
"""

from sqlalchemy import Date, Integer, bindparam, func, select

from portal.billing.models import Invoice, InvoiceKind, InvoiceStatus, Payment

_ORGANIZATION = bindparam("organization_id", type_=Integer)
_TODAY = bindparam("today", type_=Date)
_OVERDUE = ((Invoice.organization_id == _ORGANIZATION) & (Invoice.status == InvoiceStatus.OPEN)
            & (Invoice.kind == InvoiceKind.REGULAR) & (Invoice.due_date < _TODAY))
_PAID = (select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(Payment.invoice_id == Invoice.id)
         .correlate(Invoice).scalar_subquery())

# Bound parameters `organization_id` and `today`; each is one value (a scalar subquery).
OVERDUE_COUNT = select(func.count(Invoice.id)).where(_OVERDUE).scalar_subquery()
OVERDUE_CENTS = select(func.coalesce(func.sum(Invoice.total_cents - _PAID), 0)).where(_OVERDUE).scalar_subquery()
OLDEST_DUE = select(func.min(Invoice.due_date)).where(_OVERDUE).scalar_subquery()
# The one overdue invoice's id when there is exactly one (the banner links to it), else the smallest id.
FIRST_OVERDUE_ID = select(func.min(Invoice.id)).where(_OVERDUE).scalar_subquery()
