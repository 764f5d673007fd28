"""Approvals inside the customer: the Master's rules, the Adm's purchases and increases they hold, and the Masters'
decisions (approve — re-pricing a stale quote first —, refuse), the requester's withdrawal and the expiry.

The subscriptions room asks `request_approval` through its `approval_gate` signal when a quote is confirmed (it does
not import this room); an approval confirms the quote with `confirm_quote_in_transaction`, the one path that applies
a quote, so the orders, ledger, e-mails and audit are exactly those of the Adm's own confirmation.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization, User
from portal.accounts.roles import Role
from portal.agreements.service import active_masters
from portal.approvals.models import APPROVAL_STATUS_LABELS, ApprovalRequest, ApprovalRule, ApprovalStatus
from portal.catalog.cart import sellable
from portal.catalog.models import Product
from portal.extensions import db
from portal.notifications import service as notify
from portal.notifications.service import queue_email
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.links import absolute_url
from portal.subscriptions.checkout import new_checkout_quote
from portal.subscriptions.confirmation import (
    approval_gate,
    confirm_quote_in_transaction,
    queue_order,
)
from portal.subscriptions.models import Order, Quote, QuoteKind, Subscription, SubscriptionStatus
from portal.subscriptions.prices import monthly_equivalent_of
from portal.subscriptions.quotes import StaleQuote, quote_quantity_change

MAX_COMMENT = 2000  # characters
RECENT_DECIDED = 30  # decided requests listed under the queue


class AlreadyDecided(ServiceError):
    """Another Master (or the requester, or the expiry) decided the request first."""


# ---------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rules:
    monthly_cents: int | None = None  # None: off
    one_off_cents: int | None = None
    new_family: bool = False

    @property
    def active(self) -> bool:
        return self.monthly_cents is not None or self.one_off_cents is not None or self.new_family

    def snapshot(self) -> dict[str, Any]:
        return {"monthly_cents": self.monthly_cents, "one_off_cents": self.one_off_cents,
                "new_family": self.new_family}


def _rule_row(organization_id: int) -> ApprovalRule | None:
    return db.session.scalar(select(ApprovalRule).where(ApprovalRule.organization_id == organization_id))


def rules_of(organization_id: int) -> Rules:
    row = _rule_row(organization_id)
    if row is None:
        return Rules()
    return Rules(row.monthly_threshold_cents, row.one_off_threshold_cents, row.new_family)


def _check_amount(value: Any, field_name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ServiceError(_("Informe um valor em reais, como 1.500,00, ou deixe em branco."), field=field_name)
    if value > 10**12:
        raise ServiceError(_("Este valor é grande demais."), field=field_name)
    return value


def set_rules(organization: Organization, *, monthly_cents: int | None, one_off_cents: int | None,
              new_family: bool, actor: Actor) -> Rules:
    """The Master's rules (None: that threshold off). Commits, with an audit event when anything changed."""
    wanted = Rules(_check_amount(monthly_cents, "monthly"), _check_amount(one_off_cents, "one_off"), bool(new_family))
    before = rules_of(organization.id)
    if wanted == before:
        db.session.rollback()
        return before
    row = _rule_row(organization.id)
    if row is None:
        row = ApprovalRule(organization_id=organization.id)
        db.session.add(row)
    row.monthly_threshold_cents, row.one_off_threshold_cents = wanted.monthly_cents, wanted.one_off_cents
    row.new_family, row.updated_at, row.updated_by_id = wanted.new_family, clock.now(), actor.user_id
    record(AuditTag.APPROVAL_RULES_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before=before.snapshot(), after=wanted.snapshot())
    try:
        db.session.commit()
    except IntegrityError as exc:  # saved twice at the same moment
        db.session.rollback()
        raise ServiceError(_("As regras mudaram enquanto você salvava. Confira e salve de novo.")) from exc
    return wanted


# ---------------------------------------------------------------- does a quote wait?

def _products(quote: Quote) -> dict[int, Product]:
    ids = {line["product_id"] for line in quote.lines if line.get("product_id")}
    if not ids:
        return {}
    return {p.id: p for p in db.session.scalars(
        select(Product).where(Product.id.in_(ids)).options(joinedload(Product.family)))}


def _adding_lines(quote: Quote) -> list[dict]:
    """The lines that add licences (a quantity increase's charge, a purchase); decreases never wait."""
    return [line for line in quote.lines if line["kind"] in ("charge", "purchase")]


def added_monthly_cents(quote: Quote) -> int:
    """Centavos a month the quote adds (annual prices as twelfths, rounded half up per line)."""
    products = _products(quote)
    return sum(monthly_equivalent_of(line["quantity"] * line["unit_price_cents"],
                                     products[line["product_id"]].billing_frequency)
               for line in _adding_lines(quote))


def _new_families(organization_id: int, quote: Quote) -> list[str]:
    if quote.kind != QuoteKind.CHECKOUT:
        return []
    products = _products(quote)
    held = set(db.session.scalars(
        select(Product.family_id).join(Subscription, Subscription.product_id == Product.id)
        .where(Subscription.organization_id == organization_id,
               Subscription.status != SubscriptionStatus.CANCELLED)))
    names = {products[line["product_id"]].family.name for line in quote.lines
             if products[line["product_id"]].family_id not in held}
    return sorted(names)


def reasons_for(organization: Organization, quote: Quote) -> list[dict[str, Any]]:
    """Which of the organization's rules catch `quote` (empty: none), whoever confirms it."""
    rules = rules_of(organization.id)
    if not rules.active or not _adding_lines(quote):
        return []
    reasons = []
    monthly = added_monthly_cents(quote)
    if rules.monthly_cents is not None and monthly > rules.monthly_cents:
        reasons.append({"rule": "monthly", "limit_cents": rules.monthly_cents, "value_cents": monthly})
    if rules.one_off_cents is not None and quote.charge_cents > rules.one_off_cents:
        reasons.append({"rule": "one_off", "limit_cents": rules.one_off_cents, "value_cents": quote.charge_cents})
    if rules.new_family:
        families = _new_families(organization.id, quote)
        if families:
            reasons.append({"rule": "new_family", "families": families})
    return reasons


def is_master(organization: Organization, user: User | None) -> bool:
    return user is not None and any(m.id == user.id for m in active_masters(organization))


def requires_approval(organization: Organization, quote: Quote, actor: Actor) -> bool:
    """Would confirming `quote` as `actor` wait for a Master? A Master's own action (and staff's, or the portal's)
    never waits."""
    user = actor.user
    if user is None or user.is_staff:
        return False
    # A Master's own action never waits; an API token acts with its own roles, so a Master's "adm" token waits.
    if is_master(organization, user) and (actor.roles is None or Role.MASTER in actor.roles):
        return False
    return bool(reasons_for(organization, quote))


def summary(quote: Quote) -> str:
    """What the quote buys, in product names and numbers: "Microsoft 365 E3: 10 → 15", "Copilot × 5"."""
    if quote.kind == QuoteKind.QUANTITY_CHANGE and quote.subscription is not None:
        added = sum(line["quantity"] for line in _adding_lines(quote))
        return f"{quote.subscription.product.name}: {quote.new_quantity - added} → {quote.new_quantity}"
    return ", ".join(f"{line['product_name']} × {line['quantity']}" for line in quote.lines)


def lines_of(quote: Quote) -> list[dict[str, Any]]:
    """The quote's lines for a page: the ISO dates as dates."""
    return [{**line, **{key: date.fromisoformat(line[key]) if line.get(key) else None
                        for key in ("period_start", "period_end")}} for line in quote.lines]


def approval_url(request: ApprovalRequest) -> str:
    """The request's page, on BASE_URL (for e-mails and the API's 202 answer)."""
    return absolute_url("approvals.detail", request_id=request.id)


def waiting_for(organization: Organization, quote: Quote) -> ApprovalRequest | None:
    """The approval request of `quote` (the one it holds now, or the Adm's quote it re-priced), whatever its
    status."""
    return db.session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.organization_id == organization.id,
        or_(ApprovalRequest.quote_id == quote.id, ApprovalRequest.original_quote_id == quote.id)))


def request_approval(organization: Organization, quote: Quote, actor: Actor) -> ApprovalRequest | None:
    """Hold `quote` for a Master when a rule catches it (None: it may be confirmed now). Commits the request, its
    audit event and the Masters' e-mails. Confirming the same quote again returns the same request."""
    existing = waiting_for(organization, quote)
    if existing is not None:
        if existing.status != ApprovalStatus.WAITING:
            raise ServiceError(_("Este orçamento já passou por aprovação (%(status)s). Faça um novo orçamento.",
                                 status=status_label(existing.status)))
        return existing
    now = clock.now()
    if quote.expires_at <= now or not requires_approval(organization, quote, actor):
        return None  # an expired quote: the confirmation says so (StaleQuote)
    request = ApprovalRequest(
        organization_id=organization.id, quote_id=quote.id, original_quote_id=quote.id,
        reasons=reasons_for(organization, quote), monthly_cents=added_monthly_cents(quote),
        status=ApprovalStatus.WAITING, requested_by_id=actor.user_id,
        created_at=now, expires_at=now + timedelta(days=current_app.config["APPROVAL_EXPIRY_DAYS"]), comment="",
    )
    db.session.add(request)
    try:
        db.session.flush()
    except IntegrityError:  # the same quote confirmed twice at once: the other submission's request
        db.session.rollback()
        return waiting_for(organization, quote)
    record(AuditTag.APPROVAL_REQUESTED, actor=actor, organization_id=organization.id,
           subject=f"approval:{request.id}",
           after={"summary": summary(quote), "quote": quote.id, "reasons": request.reasons,
                  "monthly_cents": request.monthly_cents, "charge_cents": quote.charge_cents})
    _tell_masters(organization, request, quote, actor.user)
    db.session.commit()
    return request


def _gate(organization: Organization, *, quote: Quote, actor: Actor) -> ApprovalRequest | None:
    return request_approval(organization, quote, actor)


approval_gate.connect(_gate)


# ---------------------------------------------------------------- reading

_REQUEST = select(ApprovalRequest).where(
    ApprovalRequest.id == bindparam("request_id", type_=Integer),
    ApprovalRequest.organization_id == bindparam("organization_id", type_=Integer),
).options(joinedload(ApprovalRequest.quote).joinedload(Quote.subscription).joinedload(Subscription.product),
          joinedload(ApprovalRequest.requested_by), joinedload(ApprovalRequest.decided_by))


def get_request(organization: Organization, request_id: Any) -> ApprovalRequest:
    """A request of the organization; NotFound for another organization's (or none)."""
    if not isinstance(request_id, int) or isinstance(request_id, bool) or not 0 < request_id < 2**31:
        raise NotFound(_("Pedido de aprovação não encontrado."))
    found = db.session.execute(_REQUEST, {"request_id": request_id, "organization_id": organization.id})
    request = found.unique().scalar_one_or_none()
    if request is None:
        raise NotFound(_("Pedido de aprovação não encontrado."))
    return request


def _listing():
    return select(ApprovalRequest).options(
        joinedload(ApprovalRequest.quote).joinedload(Quote.subscription).joinedload(Subscription.product),
        joinedload(ApprovalRequest.requested_by), joinedload(ApprovalRequest.decided_by))


@dataclass(frozen=True)
class Queue:
    waiting: list[ApprovalRequest] = field(default_factory=list)
    decided: list[ApprovalRequest] = field(default_factory=list)  # the most recent, newest first


def queue(organization: Organization) -> Queue:
    waiting = db.session.scalars(_listing().where(
        ApprovalRequest.organization_id == organization.id, ApprovalRequest.status == ApprovalStatus.WAITING)
        .order_by(ApprovalRequest.created_at, ApprovalRequest.id)).unique().all()
    decided = db.session.scalars(_listing().where(
        ApprovalRequest.organization_id == organization.id, ApprovalRequest.status != ApprovalStatus.WAITING)
        .order_by(ApprovalRequest.decided_at.desc(), ApprovalRequest.id.desc()).limit(RECENT_DECIDED)).unique().all()
    return Queue(list(waiting), list(decided))


def requests_of(organization: Organization, user: User) -> list[ApprovalRequest]:
    """The user's own requests, newest first (the Adm's "Minhas solicitações")."""
    return list(db.session.scalars(_listing().where(
        ApprovalRequest.organization_id == organization.id, ApprovalRequest.requested_by_id == user.id)
        .order_by(ApprovalRequest.created_at.desc(), ApprovalRequest.id.desc()).limit(100)).unique())


def orders_of(request: ApprovalRequest) -> list[Order]:
    if request.status != ApprovalStatus.APPROVED:
        return []
    return list(db.session.scalars(select(Order).where(Order.quote_id == request.quote_id).order_by(Order.id)))


# ---------------------------------------------------------------- deciding

def _comment(text: Any, *, required: bool) -> str:
    comment = str(text or "").strip()
    if required and not comment:
        raise ServiceError(_("Escreva o motivo da recusa: quem pediu vai lê-lo."), field="comment")
    if len(comment) > MAX_COMMENT:
        raise ServiceError(_("O comentário pode ter até %(count)d caracteres.", count=MAX_COMMENT), field="comment")
    return comment


def _ensure_waiting(request: ApprovalRequest) -> None:
    if request.status != ApprovalStatus.WAITING:
        raise AlreadyDecided(_("Este pedido já foi decidido (%(status)s).", status=status_label(request.status)))


def status_label(status: str) -> str:
    return str(APPROVAL_STATUS_LABELS.get(ApprovalStatus(status), status))


def _close(request: ApprovalRequest, status: ApprovalStatus, actor: Actor, comment: str, now: datetime) -> bool:
    """Move the request out of `waiting`; False when someone else did first (the one decision, under races)."""
    result = db.session.execute(
        update(ApprovalRequest).where(ApprovalRequest.id == request.id,
                                      ApprovalRequest.status == ApprovalStatus.WAITING)
        .values(status=status, decided_at=now, decided_by_id=actor.user_id, comment=comment)
        .execution_options(synchronize_session=False, organization_ids=[request.organization_id])
    )
    return result.rowcount == 1


def _ensure_approver(organization: Organization, actor: Actor) -> None:
    if not is_master(organization, actor.user):
        raise ServiceError(_("Só um Master da organização pode decidir pedidos de aprovação."))


@dataclass(frozen=True)
class Decision:
    request: ApprovalRequest
    orders: list[Order] = field(default_factory=list)
    repriced: bool = False  # the quote had gone stale: a new one is shown; nothing confirmed yet
    previous_charge_cents: int | None = None  # the stale quote's pró-rata, when repriced


def approve(*, organization: Organization, request_id: Any, actor: Actor, comment: Any = "") -> Decision:
    """Approve and confirm the quote exactly as the Adm's confirmation would. A quote gone stale (expired, or the
    values changed) is re-priced instead: the request now holds a new quote with today's pró-rata, shown to the
    approver, who approves again. Commits."""
    request = get_request(organization, request_id)
    _ensure_approver(organization, actor)
    comment = _comment(comment, required=False)
    _ensure_waiting(request)
    now = clock.now()
    if request.expires_at <= now:
        expire(request, now)
        db.session.commit()
        raise AlreadyDecided(_("Este pedido expirou antes da decisão. Quem pediu pode pedir de novo."))
    quote = request.quote
    if quote.expires_at <= now:
        return _reprice(organization, request, now)
    request_id = request.id
    if not _close(request, ApprovalStatus.APPROVED, actor, comment, now):
        db.session.rollback()
        raise AlreadyDecided(_("Outro Master decidiu este pedido agora mesmo. Veja como ficou."))
    try:
        confirmation = confirm_quote_in_transaction(organization, quote, actor)
    except StaleQuote:
        db.session.rollback()
        return _reprice(organization, get_request(organization, request_id), clock.now())
    except ServiceError:
        db.session.rollback()
        raise
    if not confirmation.applied:  # confirmed some other way meanwhile (rolled back: the request still waits)
        db.session.rollback()
        raise AlreadyDecided(_("Este orçamento já foi confirmado."))
    request = get_request(organization, request_id)
    db.session.refresh(request)
    requester = request.requested_by
    for order in confirmation.orders:
        queue_order(order)
    notify.order_received(orders=confirmation.orders, requester=requester)
    record(AuditTag.APPROVAL_APPROVED, actor=actor, organization_id=organization.id,
           subject=f"approval:{request.id}",
           after={"summary": summary_of_request(request), "quote": quote.id, "comment": comment,
                  "orders": [o.id for o in confirmation.orders], "requested_by": requester.id})
    db.session.commit()
    return Decision(request, confirmation.orders)


def summary_of_request(request: ApprovalRequest) -> str:
    return summary(request.quote)


def _reprice(organization: Organization, request: ApprovalRequest, now: datetime) -> Decision:
    """A new quote of the same change priced now, for the requester (their cart's references, their rules)."""
    old = request.quote
    requester = Actor.for_user(request.requested_by)
    if old.kind == QuoteKind.QUANTITY_CHANGE:
        subscription = db.session.get(Subscription, old.subscription_id)
        if subscription is None or subscription.organization_id != organization.id:
            raise NotFound(_("Licença não encontrada."))
        if old.new_quantity <= subscription.quantity:
            raise ServiceError(_("A licença já tem %(count)d licenças: este aumento não faz mais sentido. Recuse o "
                                 "pedido com um comentário.", count=subscription.quantity))
        quote = quote_quantity_change(organization=organization, subscription=subscription,
                                      new_quantity=old.new_quantity, actor=requester)  # commits the new quote
    else:
        quote = new_checkout_quote(organization, [(sellable(line["product_id"]), line["quantity"])
                                                  for line in old.lines], requester)
    request.quote_id = quote.id
    request.repriced_at = now
    db.session.flush()
    db.session.commit()
    db.session.refresh(request)
    return Decision(request, repriced=True, previous_charge_cents=old.charge_cents)


def refuse(*, organization: Organization, request_id: Any, actor: Actor, comment: Any) -> ApprovalRequest:
    """Refuse with a comment (required); the requester is e-mailed. Commits."""
    request = get_request(organization, request_id)
    _ensure_approver(organization, actor)
    comment = _comment(comment, required=True)
    _ensure_waiting(request)
    if not _close(request, ApprovalStatus.REFUSED, actor, comment, clock.now()):
        db.session.rollback()
        raise AlreadyDecided(_("Outro Master decidiu este pedido agora mesmo. Veja como ficou."))
    db.session.refresh(request)
    record(AuditTag.APPROVAL_REFUSED, actor=actor, organization_id=organization.id,
           subject=f"approval:{request.id}",
           after={"summary": summary_of_request(request), "quote": request.quote_id, "comment": comment,
                  "requested_by": request.requested_by_id})
    _tell_requester(request, "refused")
    db.session.commit()
    return request


def withdraw(*, organization: Organization, request_id: Any, actor: Actor) -> ApprovalRequest:
    """The requester gives the request up (nothing was ordered). Commits."""
    request = get_request(organization, request_id)
    if actor.user_id != request.requested_by_id:
        raise ServiceError(_("Só quem fez o pedido pode retirá-lo. Um Master pode recusá-lo."))
    _ensure_waiting(request)
    if not _close(request, ApprovalStatus.WITHDRAWN, actor, "", clock.now()):
        db.session.rollback()
        raise AlreadyDecided(_("Este pedido foi decidido enquanto você o retirava. Veja como ficou."))
    db.session.refresh(request)
    record(AuditTag.APPROVAL_WITHDRAWN, actor=actor, organization_id=organization.id,
           subject=f"approval:{request.id}", after={"summary": summary_of_request(request), "quote": request.quote_id})
    db.session.commit()
    return request


def expire(request: ApprovalRequest, now: datetime) -> bool:
    """Close a request nobody decided in time (in the caller's transaction): audited, the requester e-mailed."""
    if not _close(request, ApprovalStatus.EXPIRED, Actor.system("approvals"), "", now):
        return False
    db.session.refresh(request)
    record(AuditTag.APPROVAL_EXPIRED, actor=Actor.system("approvals"), organization_id=request.organization_id,
           subject=f"approval:{request.id}",
           after={"summary": summary_of_request(request), "quote": request.quote_id,
                  "requested_by": request.requested_by_id})
    _tell_requester(request, "expired")
    return True


def expire_due(now: datetime | None = None) -> int:
    """The periodic sweep: every waiting request past its expiry, each closed once however many consumers run."""
    now = now or clock.now()
    due = db.session.scalars(select(ApprovalRequest).where(
        ApprovalRequest.status == ApprovalStatus.WAITING, ApprovalRequest.expires_at <= now)
        .order_by(ApprovalRequest.id)).all()
    count = 0
    for request in due:
        if expire(request, now):
            count += 1
        db.session.commit()
    return count


# ---------------------------------------------------------------- e-mails

def _language(user: User) -> str:
    return user.language or current_app.config["BABEL_DEFAULT_LOCALE"]


def _tell_masters(organization: Organization, request: ApprovalRequest, quote: Quote, requester: User) -> None:
    for person in active_masters(organization):
        queue_email(
            "approval_requested", to=[person.email],
            subject_fn=lambda: _("Compra aguardando a sua aprovação"),
            context={"person": person, "requester": requester, "organization": organization, "request": request,
                     "quote": quote, "summary": summary(quote), "url": approval_url(request),
                     "days": current_app.config["APPROVAL_EXPIRY_DAYS"]},
            language=_language(person), organization_id=organization.id,
        )


def _tell_requester(request: ApprovalRequest, kind: str) -> None:
    person = request.requested_by
    if not person.active:
        return
    queue_email(
        "approval_closed", to=[person.email],
        subject_fn=(lambda: _("Sua compra foi recusada")) if kind == "refused" else (
            lambda: _("Seu pedido de aprovação expirou")),
        context={"person": person, "request": request, "kind": kind, "summary": summary_of_request(request),
                 "url": approval_url(request), "decided_by": request.decided_by},
        language=_language(person), organization_id=request.organization_id,
    )
