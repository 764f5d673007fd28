"""The next term's rules, in one place: until when a change for the renewal can be scheduled ("decidir até"), which
subscriptions count as renewals of a year or more, which products a subscription may become at its renewal, the
change in force and its plan (what changes, from when, what it costs per period after). Scheduling itself is
`next_term_changes.py`; this module reads and plans, and is what `quotes.py` and `renewals.py` consult.

"Decidir até" (`decide_by`): Microsoft lets changes to the next term be scheduled until the renewal. Partner Center's
renewal date is the term's last day (`commitmentEndDate`, the day before our `term_end`, which is the first day of
the new term), and it renews around the end of that day in UTC. The portal's orders reach the provider within 30
minutes (retries back off for about 31 minutes more). So the portal stops taking changes at 23:59 in São Paulo on the
day before that last day: about 21 hours before Partner Center renews, enough for the order, its retries and the
team to act on a failure. One function says it; every page, e-mail and refusal uses it.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import Integer, bindparam, or_, select
from sqlalchemy.orm import selectinload

from portal.billing.payments import ensure_not_delinquent
from portal.catalog.models import TERM_MONTHS, Product, Provider, Term
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.shared.errors import ServiceError
from portal.shared.formatting import format_date, format_datetime
from portal.subscriptions.eligibility import ensure_contract_open
from portal.subscriptions.lots import recurring_cents
from portal.subscriptions.models import NextTermChange, NextTermStatus, Subscription, SubscriptionStatus
from portal.subscriptions.prices import current_price, monthly_equivalent, too_few, too_many

# The last day of the term (Partner Center's renewal date) is term_end − 1; decisions close the day before it.
DECIDE_BY_DAYS_BEFORE_TERM_END = 2
DECIDE_BY_TIME = time(23, 59)  # São Paulo
LONG_TERM_MONTHS = 12  # "renewals of a year or more": annual and triennial terms; monthly rollovers are not


def decide_by(subscription_or_term_end: Subscription | date) -> datetime:
    """The last moment (UTC) a change for the renewal at the subscription's `term_end` can be scheduled, edited or
    withdrawn: 23:59 in São Paulo two days before `term_end` (see the module's docstring for why)."""
    term_end = getattr(subscription_or_term_end, "term_end", subscription_or_term_end)
    day = term_end - timedelta(days=DECIDE_BY_DAYS_BEFORE_TERM_END)
    return datetime.combine(day, DECIDE_BY_TIME, tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


def decide_by_day(term_end: date) -> date:
    """The business date of `decide_by` (what reminders count days to)."""
    return term_end - timedelta(days=DECIDE_BY_DAYS_BEFORE_TERM_END)


def decision_open(subscription: Subscription, now: datetime) -> bool:
    return now <= decide_by(subscription)


def is_long_term(product: Product) -> bool:
    """A term of a year or more (annual, triennial): the renewals the calendar and reminders are about."""
    return TERM_MONTHS[Term(product.term)] >= LONG_TERM_MONTHS


def long_term_values() -> list[str]:
    return [term.value for term, months in TERM_MONTHS.items() if months >= LONG_TERM_MONTHS]


_CURRENT_CHANGE = (  # built once: a license's pages read it on every request
    select(NextTermChange).where(NextTermChange.subscription_id == bindparam("subscription_id", type_=Integer),
                                 NextTermChange.status == NextTermStatus.SCHEDULED)
    .options(selectinload(NextTermChange.product)))


def current_change(subscription: Subscription) -> NextTermChange | None:
    """The change scheduled for the subscription's next term, if any."""
    return db.session.execute(_CURRENT_CHANGE, {"subscription_id": subscription.id}).scalar()


def end_change(change: NextTermChange, status: NextTermStatus, *, actor: Actor | None, now: datetime) -> None:
    """The change stops being in force (replaced, withdrawn, applied); flushed so a new SCHEDULED row may follow."""
    change.status = status
    change.ended_at = now
    change.ended_by_id = actor.user_id if actor is not None else None
    db.session.flush()


def new_change(subscription: Subscription, *, product: Product, quantity: int, actor: Actor,
               now: datetime) -> NextTermChange:
    change = NextTermChange(organization_id=subscription.organization_id, subscription_id=subscription.id,
                            term_end=subscription.term_end, quantity=quantity, product_id=product.id,
                            status=NextTermStatus.SCHEDULED, created_by_id=actor.user_id, created_at=now)
    db.session.add(change)
    db.session.flush()
    return change


def _product_and_sku(offer_id: str | None) -> str | None:
    """Partner Center's productId:skuId of an offer ("productId:skuId:availabilityId"), None without one."""
    parts = (offer_id or "").split(":")
    return ":".join(parts[:2]) if len(parts) == 3 and all(parts) else None


def options(subscription: Subscription) -> list[Product]:
    """What the subscription may become at its renewal, its own product first: the catalog's other products of the
    same productId:skuId (another term or billing: another availability), and the upgrades the catalog marks
    (`Product.upgrade_to`, reseller SKUs). Only active Microsoft products with an offer."""
    product = subscription.product
    same = _product_and_sku(product.offer_id)
    if same is None or product.provider != Provider.MICROSOFT_CSP:
        return [product]
    found = db.session.scalars(
        select(Product).where(Product.active.is_(True), Product.provider == Provider.MICROSOFT_CSP,
                              Product.id != product.id,
                              or_(Product.offer_id.like(f"{same}:%"), Product.sku.in_(list(product.upgrade_to or []))))
        .order_by(Product.name, Product.id)
    ).all()
    return [product, *[p for p in found if _product_and_sku(p.offer_id) is not None]]


def is_upgrade(subscription: Subscription, product: Product) -> bool:
    return _product_and_sku(product.offer_id) != _product_and_sku(subscription.product.offer_id)


@dataclass(frozen=True)
class NextTermPlan:
    """A change for the next term as the confirmation shows it, before it is saved."""

    subscription: Subscription
    product: Product  # the next term's product (the subscription's own when only the quantity changes)
    quantity: int
    renews_on: date
    decide_by: datetime
    unit_price_cents: int  # the next term's price per license and billing period, as the catalog has it for then
    period_cents: int  # quantity × unit price, per billing period of `product`
    monthly_cents: int  # the same as twelfths for annual billing (display only)
    current_period_cents: int  # what the licenses in use cost per period of the current product
    quantity_changes: bool
    product_changes: bool
    upgrade: bool


def plan(subscription: Subscription, *, product_id, quantity, now: datetime) -> NextTermPlan:
    """Check a change for the next term and say what it does; refuses (ServiceError) what cannot be scheduled."""
    ensure_schedulable(subscription, now)
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ServiceError(_("Informe a quantidade em números inteiros."), field="quantity")
    choices = {p.id: p for p in options(subscription)}
    try:
        product = choices[int(product_id)]
    except (KeyError, TypeError, ValueError):
        raise ServiceError(_("Escolha um dos produtos oferecidos para a renovação."), field="product_id") from None
    if quantity > product.max_quantity:
        raise ServiceError(too_many(product), field="quantity")
    if quantity < max(product.min_quantity, 1):
        raise ServiceError(too_few(product) if quantity > 0 else _(
            "Para não renovar, use “Não renovar” e informe o motivo."), field="quantity")
    quantity_changes = quantity != subscription.quantity
    product_changes = product.id != subscription.product_id
    if not quantity_changes and not product_changes:
        raise ServiceError(_("Nada muda: a licença já renova com este produto e %(num)d licenças. Para desfazer uma "
                             "mudança agendada, use “Retirar a mudança”.", num=quantity), field="quantity")
    upgrade = product_changes and is_upgrade(subscription, product)
    ensure_contract_open(subscription.organization)  # a rescission's schedule is not undone from here
    if quantity > subscription.quantity or upgrade:
        ensure_not_delinquent(subscription.organization)  # more licences or a dearer product: like a purchase
    try:
        unit = current_price(product, subscription.term_end).unit_price_cents
    except ServiceError as error:
        raise ServiceError(error.message, field="product_id") from None
    return NextTermPlan(
        subscription=subscription, product=product, quantity=quantity, renews_on=subscription.term_end,
        decide_by=decide_by(subscription), unit_price_cents=unit, period_cents=unit * quantity,
        monthly_cents=monthly_equivalent(unit * quantity, product),
        current_period_cents=recurring_cents(subscription), quantity_changes=quantity_changes,
        product_changes=product_changes, upgrade=upgrade,
    )


def ensure_schedulable(subscription: Subscription, now: datetime) -> None:
    """Refuses a subscription whose next term cannot be changed (now): the reason in the customer's words."""
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise ServiceError(_("Só licenças ativas têm a renovação alterada."))
    if subscription.product.provider != Provider.MICROSOFT_CSP:
        raise ServiceError(_("Serviços próprios renovam mês a mês; para mudá-los, use “Alterar quantidades”."))
    if subscription.renewal_quantity == 0:
        raise ServiceError(_("Esta licença foi cancelada e termina em %(date)s; ela não renova.",
                             date=format_date(subscription.term_end)))
    if not decision_open(subscription, now):
        raise ServiceError(_("O prazo para mudar a renovação de %(date)s terminou em %(deadline)s. A licença renova "
                             "como está agendada; depois da renovação, as reduções seguem a janela de 7 dias.",
                             date=format_date(subscription.term_end),
                             deadline=format_datetime(decide_by(subscription))))


def describe(change: NextTermChange, subscription: Subscription) -> str:
    """A scheduled change in one sentence: "A partir de 01/02/2027: Microsoft 365 E3, 8 licenças"."""
    licenses = ngettext("%(num)d licença", "%(num)d licenças", change.quantity)
    return _("A partir de %(date)s: %(product)s, %(licenses)s", date=format_date(change.term_end),
             product=change.product.name, licenses=licenses)
