"""The cart's checkout: price the cart's products as a quote (pró-rata of the current period) and, once confirmed
(`confirmation.py`), buy them: a new subscription each, with its ledger row, lot, order and audit event."""

import secrets
from datetime import date, datetime

from flask_babel import gettext as _

from portal.accounts.models import Organization, User
from portal.billing import prorata
from portal.catalog.cart import cart_items, cart_lines_of, check_purchase_quantity, remove_bought, sellable
from portal.catalog.models import Product
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.subscriptions.eligibility import ensure_may_buy
from portal.subscriptions.lots import ledger, new_lot
from portal.subscriptions.models import ChangeKind, Order, OrderKind, Quote, QuoteKind, Subscription, SubscriptionStatus
from portal.subscriptions.prices import billing_period, current_price, term_end
from portal.subscriptions.quotes import QuoteLine, StaleQuote, end_of_business_day, new_order


def plan_checkout(organization: Organization, items: list[tuple[Product, int]], now: datetime) -> list[QuoteLine]:
    today = clock.to_business(now).date()
    lines = []
    for product, quantity in items:
        price = current_price(product, today)
        start, end = billing_period(product, organization, today, term_start=today)
        amount = prorata.prorated_amount(price.unit_price_cents, quantity, start, end, today)
        lines.append(QuoteLine("purchase", quantity, price.unit_price_cents, amount, start.isoformat(),
                               end.isoformat(), today.isoformat(), product_id=product.id, product_name=product.name))
    return lines


def quote_checkout(*, organization: Organization, user: User, actor: Actor) -> Quote:
    ensure_may_buy(organization, actor)
    items = cart_items(organization, user)
    if not items:
        raise ServiceError(_("Seu carrinho está vazio."))
    for item in items:
        sellable(item.product_id)
        check_purchase_quantity(item.product, item.quantity)
    quote = new_checkout_quote(organization, [(item.product, item.quantity) for item in items], actor)
    db.session.commit()
    return quote


def new_checkout_quote(organization: Organization, items: list[tuple[Product, int]], actor: Actor) -> Quote:
    """A checkout quote of `items` priced now, added to the caller's transaction (the cart's checkout; a purchase
    waiting for approval re-priced for the approver)."""
    now = clock.now()
    lines = plan_checkout(organization, items, now)
    quote = Quote(
        token=secrets.token_hex(16), organization_id=organization.id, kind=QuoteKind.CHECKOUT, lines=[
            line.as_dict() for line in lines], charge_cents=sum(line.amount_cents for line in lines), credit_cents=0,
        recurring_cents=sum(line.quantity * line.unit_price_cents for line in lines), created_by_id=actor.user_id,
        created_at=now, expires_at=end_of_business_day(now),
    )
    db.session.add(quote)
    db.session.flush()
    return quote


def apply_checkout(organization: Organization, quote: Quote, actor: Actor, now: datetime) -> list[Order]:
    products = [(sellable(line["product_id"]), line["quantity"]) for line in quote.lines]
    lines = [line.as_dict() for line in plan_checkout(organization, products, now)]
    if lines != quote.lines:
        raise StaleQuote(_("Os preços mudaram desde este orçamento. Confira os valores atualizados."))
    today = clock.to_business(now).date()
    # Each cart line's PO and cost centre as they are now (a line removed since the quote: none).
    references = {item.product_id: item for item in cart_lines_of(organization.id, quote.created_by_id)}
    orders = []
    for (product, quantity), line in zip(products, quote.lines, strict=True):
        item = references.get(product.id)
        subscription = Subscription(
            organization_id=organization.id, product_id=product.id, quantity=quantity,
            status=SubscriptionStatus.PROVISIONING, term_start=today, term_end=term_end(product, today),
            created_at=now, purchase_order=item.purchase_order if item else "",
            cost_centre=item.cost_centre if item else "",
        )
        db.session.add(subscription)
        db.session.flush()
        period = (date.fromisoformat(line["period_start"]), date.fromisoformat(line["period_end"]))
        change = ledger(subscription, ChangeKind.INITIAL, quantity, effective_on=today, quote=quote, actor=actor,
                        period=period, charge=line["amount_cents"])
        new_lot(subscription, change, quantity, line["unit_price_cents"], line["amount_cents"], now)
        record(AuditTag.SUBSCRIPTION_PURCHASED, actor=actor, organization_id=organization.id,
               subject=f"subscription:{subscription.id}",
               after={"product": product.sku, "quantity": quantity, "charge_cents": line["amount_cents"],
                      "quote": quote.id, "purchase_order": subscription.purchase_order,
                      "cost_centre": subscription.cost_centre})
        orders.append(new_order(subscription, OrderKind.PURCHASE, quantity, quote, actor, now))
    remove_bought(organization.id, quote.created_by_id, [p.id for p, _q in products])
    return orders
