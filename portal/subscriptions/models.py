"""Subscriptions and their history: quantity ledger, lots, credits, quotes, carts and orders.

History is append-only (DESIGN rule 6): `QuantityChange`, `LotDraw` and `OrderEvent`
rows are never edited. `Subscription.quantity`, `Subscription.renewal_quantity` and `Order.status`
are the current state, always written in the same transaction as the history row that explains them.
"""

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organization
from portal.catalog.models import Product
from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class SubscriptionStatus(StrEnum):
    PROVISIONING = "provisioning"  # bought, not yet confirmed by the provider
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


SUBSCRIPTION_STATUS_LABELS = {
    SubscriptionStatus.PROVISIONING: _l("provisionando"),
    SubscriptionStatus.ACTIVE: _l("ativa"),
    SubscriptionStatus.SUSPENDED: _l("suspensa"),
    SubscriptionStatus.CANCELLED: _l("cancelada"),
}


class Subscription(db.Model):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("renewal_quantity IS NULL OR renewal_quantity >= 0", name="renewal_not_negative"),
        CheckConstraint(
            "status IN ('provisioning', 'active', 'suspended', 'cancelled')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    # Licenses in use now: the sum of the ledger's effective deltas.
    quantity: Mapped[int] = mapped_column(Integer)
    # Licenses from the next term on, when a decrease outside the window was scheduled; None = unchanged.
    renewal_quantity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(15), default=SubscriptionStatus.PROVISIONING)
    term_start: Mapped[date] = mapped_column(Date)  # business date the current term began
    term_end: Mapped[date] = mapped_column(Date)  # business date it renews (exclusive end)
    # The provider's id for it (Partner Center subscription GUID); None until provisioned / own service.
    provider_subscription_id: Mapped[str | None] = mapped_column(String(80))
    # Business date billing may start at the earliest (the contract's first monthly payment, for a customer
    # the onboarding created); billing also waits for the provider to confirm the purchase. None: no such date.
    billing_starts_on: Mapped[date | None] = mapped_column(Date)
    # The customer's purchase-order number and cost centre (≤ 60 printable characters each, trimmed; "" = none),
    # copied onto each invoice line when it is drafted. Changed without bumping `version` (not a quantity fact).
    purchase_order: Mapped[str] = mapped_column(String(60), default="", server_default="")
    cost_centre: Mapped[str] = mapped_column(String(60), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Bumped by every change: quotes remember it, and a concurrent change makes the UPDATE match no
    # row (SQLAlchemy's version counter), so two admins never overwrite each other.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    product: Mapped[Product] = relationship()
    organization: Mapped[Organization] = relationship()
    lots: Mapped[list["Lot"]] = relationship(back_populates="subscription", order_by="Lot.id")

    @property
    def status_label(self) -> str:
        return str(SUBSCRIPTION_STATUS_LABELS[SubscriptionStatus(self.status)])


class ChangeKind(StrEnum):
    INITIAL = "initial"  # first purchase
    INCREASE = "increase"
    DECREASE = "decrease"  # effective now, with credit from lots inside their window
    SCHEDULED_DECREASE = "scheduled_decrease"  # takes effect at the end of the term, no credit
    SCHEDULE_WITHDRAWN = "schedule_withdrawn"  # a scheduled decrease undone (a rescission withdrawn)
    RENEWAL = "renewal"  # a new term: the renewed quantity becomes one new lot


class QuantityChange(db.Model):
    """One line of the append-only quantity ledger."""

    __tablename__ = "quantity_changes"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('initial', 'increase', 'decrease', 'scheduled_decrease', 'schedule_withdrawn', 'renewal')",
            name="kind_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # Signed change in licenses (+ added, − removed); for a scheduled decrease, the licenses that leave
    # at term end (they are still in use until then, so `quantity_after` does not include it).
    delta: Mapped[int] = mapped_column(Integer)
    quantity_after: Mapped[int] = mapped_column(Integer)  # Subscription.quantity once this row applies
    effective_on: Mapped[date] = mapped_column(Date)  # business date (term end for scheduled decreases)
    # Pró-rata charged for the rest of the current period, in centavos (≥ 0); credits go to CreditEntry.
    charge_cents: Mapped[int] = mapped_column(Integer, default=0)
    credit_cents: Mapped[int] = mapped_column(Integer, default=0)  # credit granted (≥ 0)
    period_start: Mapped[date | None] = mapped_column(Date)  # the billing period the amounts belong to
    period_end: Mapped[date | None] = mapped_column(Date)
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)


class Lot(db.Model):
    """Licenses added together, at one price, with one decrease window (prorata spec, rule 1)."""

    __tablename__ = "lots"
    __organization_via__ = "subscription_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("quantity_changes.id"))  # the change that created it
    quantity: Mapped[int] = mapped_column(Integer)  # licenses added; what remains = quantity − draws
    unit_price_cents: Mapped[int] = mapped_column(Integer)  # the price this lot was billed at
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)  # added_at + product.decrease_window_hours
    billed_cents: Mapped[int] = mapped_column(Integer)  # charged for it in its first period (credit cap)

    subscription: Mapped[Subscription] = relationship(back_populates="lots")
    draws: Mapped[list["LotDraw"]] = relationship(order_by="LotDraw.id")

    @property
    def remaining(self) -> int:
        return self.quantity - sum(d.quantity for d in self.draws)

    @property
    def credited_cents(self) -> int:
        return sum(d.credit_cents for d in self.draws)


class LotDraw(db.Model):
    """Licenses taken out of a lot by a decrease (in its window, with a credit, or at term end)."""

    __tablename__ = "lot_draws"
    __organization_via__ = "lot_id"  # its organization is that row's (data_versions)
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("quantity_changes.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    credit_cents: Mapped[int] = mapped_column(Integer, default=0)  # ≥ 0




class QuoteKind(StrEnum):
    QUANTITY_CHANGE = "quantity_change"
    CHECKOUT = "checkout"


class QuoteStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"


class Quote(db.Model):
    """What a change will cost, computed once and shown before confirming (prorata spec, rule 7)."""

    __tablename__ = "quotes"
    __table_args__ = (
        CheckConstraint("kind IN ('quantity_change', 'checkout')", name="kind_known"),
        CheckConstraint("status IN ('open', 'confirmed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The public handle in forms and URLs (random): also the idempotency key of the confirmation.
    token: Mapped[str] = mapped_column(String(32), unique=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id"))
    subscription_version: Mapped[int | None] = mapped_column(Integer)
    new_quantity: Mapped[int | None] = mapped_column(Integer)
    # The lines exactly as shown: a list of dicts (see subscriptions.quotes.QuoteLine.as_dict).
    lines: Mapped[Any] = mapped_column(JSON)
    charge_cents: Mapped[int] = mapped_column(Integer)  # pró-rata on the next invoice (≥ 0)
    credit_cents: Mapped[int] = mapped_column(Integer)  # credit to the organization (≥ 0)
    recurring_cents: Mapped[int] = mapped_column(Integer)  # per billing period from the next one on
    cancellation_category: Mapped[str | None] = mapped_column(String(40))
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=QuoteStatus.OPEN)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # end of the business day it was made
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscription: Mapped[Subscription | None] = relationship()


class OrderKind(StrEnum):
    QUANTITY_CHANGE = "quantity_change"  # set an existing subscription's quantity now
    RENEWAL_QUANTITY = "renewal_quantity"  # tell the provider the quantity for the next term
    PURCHASE = "purchase"  # a new subscription


class OrderStatus(StrEnum):
    PENDING = "pending"  # "pendente": queued, not yet accepted by the provider
    SENT = "sent"  # "enviado": the provider accepted it and is applying it (or staff is, for own services)
    DONE = "done"  # "concluído"
    FAILED = "failed"  # "falhou": refused, or retries ran out; flagged for staff
    # "retirado": never sent (again): a rescission withdrawn before the order reached the provider, or superseded by
    # a newer order of the same subscription and kind (orders.py: absolute targets, the newest one says it all)
    WITHDRAWN = "withdrawn"


ORDER_STATUS_LABELS = {
    OrderStatus.PENDING: _l("pendente"),
    OrderStatus.SENT: _l("enviado"),
    OrderStatus.DONE: _l("concluído"),
    OrderStatus.FAILED: _l("falhou"),
    OrderStatus.WITHDRAWN: _l("retirado"),
}
WAITING_FOR_AGREEMENT_LABEL = _l("aguardando o aceite do contrato pelo Master")
AGREEMENT_RECHECK = timedelta(minutes=5)  # how often an order held for the customer agreement looks again


class Order(db.Model):
    """A change to carry out at the provider (or by staff, for own services)."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("kind IN ('quantity_change', 'renewal_quantity', 'purchase')", name="kind_known"),
        CheckConstraint("status IN ('pending', 'sent', 'done', 'failed', 'withdrawn')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # One quote → at most the orders it created, once: a second confirmation finds them by quote_id.
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)  # the absolute quantity to set
    # A renewal-quantity order's product for the next term (a term change or an upgrade scheduled in
    # "Renovações", sent as Partner Center's scheduledNextTermInstructions); None = the subscription's product.
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    status: Mapped[str] = mapped_column(String(10), default=OrderStatus.PENDING, index=True)
    # Sent to the provider as MS-CorrelationId: a retry of the same order is recognisable there.
    correlation_id: Mapped[str] = mapped_column(String(36), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    operation_url: Mapped[str | None] = mapped_column(String(500))  # provider's 202 Location, to poll
    provider_request_id: Mapped[str | None] = mapped_column(String(80))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)  # the provider's words, for staff
    needs_staff: Mapped[bool] = mapped_column(Boolean, default=False)  # failed for good, or own service
    # Held until a Master accepts the current customer agreement (the purchase gate), then sent.
    waiting_for_agreement: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscription: Mapped[Subscription] = relationship()
    organization: Mapped[Organization] = relationship()
    next_product: Mapped[Product | None] = relationship(foreign_keys=[product_id])
    events: Mapped[list["OrderEvent"]] = relationship(order_by="OrderEvent.id", back_populates="order")

    @property
    def status_label(self) -> str:
        if self.waiting_for_agreement and self.status == OrderStatus.PENDING:
            return str(WAITING_FOR_AGREEMENT_LABEL)
        return str(ORDER_STATUS_LABELS[OrderStatus(self.status)])

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.PENDING, OrderStatus.SENT)


class OrderEvent(db.Model):
    """Every step of an order (append-only): attempts, answers, state changes, staff actions."""

    __tablename__ = "order_events"
    __organization_via__ = "order_id"  # its organization is that row's (data_versions)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    status: Mapped[str] = mapped_column(String(10))  # the order's status after this step
    message: Mapped[str] = mapped_column(String(1000))
    detail: Mapped[Any] = mapped_column(JSON, nullable=True)  # the provider's answer, when there was one

    order: Mapped[Order] = relationship(back_populates="events")


class NextTermStatus(StrEnum):
    SCHEDULED = "scheduled"  # in force: what the subscription becomes at its renewal
    REPLACED = "replaced"  # edited: a newer row holds the change now
    WITHDRAWN = "withdrawn"  # the customer withdrew it, or a cancellation / a newer scheduled decrease took its place
    APPLIED = "applied"  # the renewal carried it out


class NextTermChange(db.Model):
    """A change scheduled for a subscription's next term ("Renovações"): the quantity and the product (a term or
    billing change is another catalog product of the same Partner Center productId:skuId; an upgrade one the
    catalog marks in `Product.upgrade_to`). Rows are never deleted: an edit replaces the scheduled row with a new
    one, so the history of what was scheduled, by whom and when stays. At most one row per subscription is
    SCHEDULED (a partial unique index)."""

    __tablename__ = "next_term_changes"
    __table_args__ = (
        CheckConstraint("status IN ('scheduled', 'replaced', 'withdrawn', 'applied')", name="status_known"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        Index("uq_next_term_changes_scheduled", "subscription_id", unique=True,
              sqlite_where=text("status = 'scheduled'"), postgresql_where=text("status = 'scheduled'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    term_end: Mapped[date] = mapped_column(Date)  # the renewal (business date) it is for
    quantity: Mapped[int] = mapped_column(Integer)  # licenses from the renewal on
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))  # the next term's product
    status: Mapped[str] = mapped_column(String(10), default=NextTermStatus.SCHEDULED)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # replaced, withdrawn or applied
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    product: Mapped[Product] = relationship()
    subscription: Mapped[Subscription] = relationship()


class RenewalReminder(db.Model):
    """A renewal reminder sent (30 or 7 days before "decidir até"): one row per subscription, term and kind, so the
    daily job never sends one twice, however often or concurrently it runs (the unique constraint decides)."""

    __tablename__ = "renewal_reminders"
    __table_args__ = (
        UniqueConstraint("subscription_id", "term_end", "kind", name="uq_renewal_reminders_subscription_term_kind"),
        CheckConstraint("kind IN ('d30', 'd7')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    term_end: Mapped[date] = mapped_column(Date)  # the renewal it reminds of
    kind: Mapped[str] = mapped_column(String(4))  # "d30" | "d7": days before "decidir até"
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # e-mails queued
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
