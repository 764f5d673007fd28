"""Purchase offers ("Ofertas de compra"): staff create, send and cancel them; a customer accepts one through checkout.

An offer is a set of catalog products with license counts behind an unguessable link (`token`) and a human
summary ID ("OF-2026-000123"). States: draft → sent → accepted | expired | cancelled (drafts may also expire or
be cancelled). Accepting goes through the subscriptions room's quote and confirmation, so the agreement gate,
the pró-rata, the orders, provisioning and billing are the usual ones; the quote token is the idempotency key
and the offer row is locked while its state changes, so a double acceptance yields the same orders once.
"""

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from babel import Locale
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.accounts.models import Membership, MembershipRole, Organization, OrganizationStatus, User
from portal.accounts.roles import Permission, Role, permissions_for
from portal.agreements.service import ensure_agreement_accepted
from portal.catalog import service as catalog
from portal.catalog.cart import CartLine
from portal.catalog.models import Product
from portal.extensions import db
from portal.notifications import service as notify
from portal.offers.models import (
    OFFER_STATUS_LABELS,
    OfferStatus,
    PurchaseOffer,
    PurchaseOfferItem,
    PurchaseOfferView,
)
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag, record
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.formatting import format_date
from portal.subscriptions import service as subscriptions
from portal.subscriptions.eligibility import ensure_may_buy
from portal.subscriptions.models import Order, Quote, QuoteKind, QuoteStatus

TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 URL-safe characters, 256 bits
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")  # anything else in the URL names no offer
SUMMARY_PREFIX = "OF"
SUMMARY_DIGITS = 6  # OF-2026-000123: zero-padded so the largest ID of a year is also the last in text order
MAX_OFFICE = 120  # PurchaseOffer.partner_office
MAX_MESSAGE = 5000
MAX_VALIDITY_DAYS = 366  # an offer valid for longer than a year is a typo
MIN_CANCEL_REASON = 10  # characters
MAX_CANCEL_REASON = 1000
PER_PAGE = 50
MAX_PAGE = 100_000  # a huge ?pagina= would overflow the database's OFFSET
MAX_PRODUCTS = 100_000  # the whole catalog on one page (hundreds of products, not millions)
SUMMARY_ATTEMPTS = 5  # concurrent creations of the same year may pick the same number: try the next one
# Offers that can still change state (the others are final).
OPEN_STATES = (OfferStatus.DRAFT, OfferStatus.SENT)


class OfferUnavailable(ServiceError):
    """The offer exists but cannot be accepted: `status` says why (draft, expired, cancelled, accepted)."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class InvalidCounts(ServiceError):
    """One or more license counts are refused: `errors` maps product id → translated message."""

    def __init__(self, errors: dict[int, str]) -> None:
        super().__init__(_("Confira as quantidades de licenças indicadas."))
        self.errors = errors


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- choices for the staff form

# CLDR territories that are not countries one uses services in: groupings, unknown, pseudo-locales and
# islands CLDR lists apart from their country (Ascension, Clipperton, Diego Garcia, Ceuta, Canárias, Tristão).
NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "AC", "CP", "DG", "EA", "IC", "TA"})


def countries(language: str) -> list[tuple[str, str]]:
    """(ISO 3166 code, name in `language`) of every country, by name: the "local de uso" choices."""
    names = Locale.parse(language).territories
    found = [(code, name) for code, name in names.items() if _known_country(code)]
    return sorted(found, key=lambda pair: catalog.fold(pair[1]))


def _known_country(code: str) -> bool:
    return len(code) == 2 and code.isalpha() and code.isupper() and code not in NOT_COUNTRIES \
        and code in Locale.parse("en").territories


def offerable_products(today: date) -> list[Product]:
    """What an offer may contain: the customer catalog (active products of active families, priced today)."""
    return [item.product for item in catalog.browse(today=today, per_page=MAX_PRODUCTS).items]


def recent_offices(limit: int = 10) -> list[str]:
    """Partner offices of the latest offers (most recent first, once each): suggestions besides the configured ones."""
    newest = func.max(PurchaseOffer.id)
    return list(db.session.scalars(select(PurchaseOffer.partner_office).group_by(PurchaseOffer.partner_office)
                                   .order_by(newest.desc()).limit(limit)))


def organization_choices() -> list[Organization]:
    """Organizations an offer may be meant for (closed contracts buy nothing)."""
    return list(db.session.scalars(select(Organization).where(Organization.status != OrganizationStatus.CLOSED)
                                   .order_by(Organization.legal_name)))


# ---------------------------------------------------------------- staff: creating

@dataclass(frozen=True)
class OfferData:
    """An offer as the staff form gives it (the service checks every field)."""

    partner_office: str
    usage_location: str  # ISO 3166 code, e.g. "BR"
    quantities: dict[int, Any]  # product id → licenses, only the products offered, in the order shown
    delegated_admin: bool
    expires_on: Any  # business date: the offer is valid through the end of this day
    organization_id: int | None  # meant for one organization (None: any registered customer)
    message: str = ""


def end_of_day(day: date) -> datetime:
    """The last second of `day` in São Paulo, as UTC: an offer "válida até 22/11" still works at 23:59 that day."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


def default_expiry(days: int) -> date:
    return clock.today() + timedelta(days=days)


def _check_counts(products: dict[int, Product], quantities: dict[int, Any]) -> dict[int, int]:
    errors: dict[int, str] = {}
    counts: dict[int, int] = {}
    for product_id, quantity in quantities.items():
        product = products.get(product_id)
        if product is None:
            errors[product_id] = _("Este produto não está mais à venda.")
        elif not _is_int(quantity):
            errors[product_id] = _("Informe a quantidade em números inteiros.")
        elif not product.min_quantity <= quantity <= product.max_quantity:
            errors[product_id] = _("%(product)s: de %(min)d a %(max)d licenças.", product=product.name,
                                   min=product.min_quantity, max=product.max_quantity)
        else:
            counts[product_id] = quantity
    if errors:
        raise InvalidCounts(errors)
    return counts


def _next_summary_id(year: int) -> str:
    prefix = f"{SUMMARY_PREFIX}-{year}-"
    last = db.session.scalar(select(PurchaseOffer.summary_id).where(PurchaseOffer.summary_id.like(f"{prefix}%"))
                             .order_by(PurchaseOffer.summary_id.desc()).limit(1))
    number = int(last.removeprefix(prefix)) + 1 if last else 1
    return f"{prefix}{number:0{SUMMARY_DIGITS}d}"


def _insert_with_summary_id(offer: PurchaseOffer) -> None:
    """Give `offer` the next summary ID of the year and insert it; gapless while nothing is rolled back.

    Two creations at once may read the same last ID: the unique constraint refuses the second, which takes
    the next number (its savepoint undone, the rest of the transaction kept)."""
    year = clock.today().year
    for _attempt in range(SUMMARY_ATTEMPTS):
        offer.summary_id = _next_summary_id(year)
        try:
            with db.session.begin_nested():
                db.session.add(offer)
                db.session.flush()
            return
        except IntegrityError:
            continue
    raise ServiceError(_("Não foi possível numerar a oferta agora. Tente de novo."))


def _offer_state(offer: PurchaseOffer) -> dict[str, Any]:
    return {"summary_id": offer.summary_id, "status": offer.status, "partner_office": offer.partner_office,
            "usage_location": offer.usage_location, "delegated_admin": offer.delegated_admin,
            "expires_at": offer.expires_at.isoformat(), "organization_id": offer.organization_id,
            "items": [{"product_id": item.product_id, "quantity": item.quantity} for item in offer.items]}


def create_offer(data: OfferData, *, actor: Actor, today: date | None = None) -> PurchaseOffer:
    """A draft offer with a fresh token and summary ID. ServiceError (with `field`) or InvalidCounts otherwise."""
    today = today or clock.today()
    office = " ".join((data.partner_office or "").split())
    if not office:
        raise ServiceError(_("Informe o escritório do parceiro."), field="partner_office")
    if len(office) > MAX_OFFICE:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_OFFICE), field="partner_office")
    location = (data.usage_location or "").strip().upper()
    if not _known_country(location):
        raise ServiceError(_("Escolha o país onde o cliente vai usar os serviços."), field="usage_location")
    if not isinstance(data.expires_on, date) or isinstance(data.expires_on, datetime):
        raise ServiceError(_("Informe a data de validade."), field="expires_on")
    if data.expires_on < today:
        raise ServiceError(_("A validade não pode estar no passado."), field="expires_on")
    if data.expires_on > today + timedelta(days=MAX_VALIDITY_DAYS):
        raise ServiceError(_("A validade máxima é de %(days)d dias.", days=MAX_VALIDITY_DAYS), field="expires_on")
    organization = None
    if data.organization_id is not None:
        organization = db.session.get(Organization, data.organization_id) if _is_int(data.organization_id) \
            and 0 < data.organization_id < 2**31 else None
        if organization is None or organization.status == OrganizationStatus.CLOSED:
            raise ServiceError(_("Escolha uma organização da lista."), field="organization_id")
    message = (data.message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_MESSAGE), field="message")
    if not data.quantities:
        raise ServiceError(_("Escolha pelo menos um produto e a quantidade de licenças."), field="products")
    products = {p.id: p for p in offerable_products(today)}
    counts = _check_counts(products, data.quantities)

    offer = PurchaseOffer(
        token=secrets.token_urlsafe(TOKEN_BYTES), status=OfferStatus.DRAFT, partner_office=office,
        usage_location=location, delegated_admin=bool(data.delegated_admin), message=message,
        expires_at=end_of_day(data.expires_on), organization_id=organization.id if organization else None,
        created_by_id=actor.user_id, created_at=clock.now(),
    )
    _insert_with_summary_id(offer)
    offer.items = [PurchaseOfferItem(offer_id=offer.id, product_id=product_id, quantity=quantity)
                   for product_id, quantity in counts.items()]
    db.session.flush()
    record(AuditTag.OFFER_CREATED, actor=actor, organization_id=offer.organization_id, subject=f"offer:{offer.id}",
           after=_offer_state(offer))
    db.session.commit()
    return offer


# ---------------------------------------------------------------- staff: sending and cancelling

def _lock(offer_id: int) -> PurchaseOffer:
    """The offer row, locked until the transaction ends (PostgreSQL; SQLite's write lock serialises anyway)."""
    offer = db.session.scalar(select(PurchaseOffer).where(PurchaseOffer.id == offer_id).with_for_update()
                              .execution_options(populate_existing=True))
    if offer is None:
        raise NotFound(_("Oferta não encontrada."))
    return offer


def _final_state_message(offer: PurchaseOffer) -> str:
    return _("Esta oferta está %(status)s e não pode mais mudar.", status=OFFER_STATUS_LABELS[
        OfferStatus(offer.status)])


def offer_masters(organization_id: int) -> list[User]:
    """The organization's active Masters (who receive the offer by e-mail)."""
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).join(MembershipRole)
        .where(Membership.organization_id == organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True), MembershipRole.role == Role.MASTER)
        .order_by(User.name).distinct()
    ))


def send_offer(offer: PurchaseOffer, *, actor: Actor, offer_url: str, email_masters: bool = False) -> list[str]:
    """draft → sent: the link starts working. With `email_masters`, the target organization's Masters get it by
    e-mail (in their language); returns the addresses written to."""
    offer = _lock(offer.id)
    if offer.status == OfferStatus.SENT:
        raise ServiceError(_("Esta oferta já foi enviada. Copie o link abaixo para mandá-la de novo."))
    if offer.status == OfferStatus.CANCELLED:
        raise ServiceError(_("Esta oferta foi cancelada e não pode ser enviada. Crie uma nova."))
    if offer.status != OfferStatus.DRAFT:
        raise ServiceError(_final_state_message(offer))
    now = clock.now()
    if offer.expires_at <= now:
        raise ServiceError(_("A validade desta oferta já passou. Crie uma nova."))
    recipients: list[User] = []
    if email_masters:
        if offer.organization_id is None:
            raise ServiceError(_("Para enviar por e-mail, a oferta precisa ser para uma organização."),
                               field="email_masters")
        recipients = offer_masters(offer.organization_id)
        if not recipients:
            raise ServiceError(_("Esta organização ainda não tem um Master ativo para receber o e-mail. Copie o "
                                 "link e envie por outro meio."), field="email_masters")
    offer.status = OfferStatus.SENT
    offer.sent_at = now
    record(AuditTag.OFFER_SENT, actor=actor, organization_id=offer.organization_id, subject=f"offer:{offer.id}",
           before={"status": OfferStatus.DRAFT}, after={"status": OfferStatus.SENT, "summary_id": offer.summary_id,
                                                        "emailed_to": [u.email for u in recipients]})
    if recipients:
        _email_offer(offer, recipients, offer_url)
    db.session.commit()
    return [u.email for u in recipients]


def _email_offer(offer: PurchaseOffer, recipients: list[User], offer_url: str) -> None:

    organization = db.session.get(Organization, offer.organization_id)
    lines = offer_lines(offer)
    for user in recipients:
        notify.queue_email(
            "offer_sent", to=[user.email],
            subject_fn=lambda: _("Oferta de compra %(summary)s para %(org)s", summary=offer.summary_id,
                                 org=organization.display_name),
            context={"offer": offer, "organization": organization, "user": user, "lines": lines, "url": offer_url},
            language=user.language or "pt_BR", organization_id=organization.id,
        )


def cancel_offer(offer: PurchaseOffer, *, reason: str, actor: Actor) -> PurchaseOffer:
    """draft or sent → cancelled, with the reason (kept in the audit event). The link stops working."""
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_CANCEL_REASON:
        raise ServiceError(_("Explique o motivo com pelo menos %(n)d caracteres.", n=MIN_CANCEL_REASON),
                           field="reason")
    if len(reason) > MAX_CANCEL_REASON:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=MAX_CANCEL_REASON), field="reason")
    offer = _lock(offer.id)
    if offer.status not in OPEN_STATES:
        raise ServiceError(_final_state_message(offer))
    before = offer.status
    offer.status = OfferStatus.CANCELLED
    offer.cancelled_at = clock.now()
    record(AuditTag.OFFER_CANCELLED, actor=actor, organization_id=offer.organization_id,
           subject=f"offer:{offer.id}", before={"status": before},
           after={"status": OfferStatus.CANCELLED, "summary_id": offer.summary_id, "reason": reason})
    db.session.commit()
    return offer


def expire_due(*, now: datetime, actor: Actor) -> int:
    """Every draft or sent offer whose validity ended becomes expired (audited one by one). Returns how many."""
    due = db.session.scalars(select(PurchaseOffer.id).where(PurchaseOffer.status.in_(OPEN_STATES),
                                                            PurchaseOffer.expires_at <= now)
                             .order_by(PurchaseOffer.id)).all()
    done = 0
    for offer_id in due:
        offer = _lock(offer_id)
        if offer.status in OPEN_STATES and offer.expires_at <= now:  # accepted or cancelled meanwhile: left alone
            before = offer.status
            offer.status = OfferStatus.EXPIRED
            record(AuditTag.OFFER_EXPIRED, actor=actor, organization_id=offer.organization_id,
                   subject=f"offer:{offer.id}", before={"status": before},
                   after={"status": OfferStatus.EXPIRED, "summary_id": offer.summary_id,
                          "expires_at": offer.expires_at.isoformat()})
            done += 1
        db.session.commit()
    return done


# ---------------------------------------------------------------- reading (staff and customer)

# An offered product is priced as a cart line is: today's price per license, or None when no longer sold.
OfferLine = CartLine


def _products(ids: Iterable[int]) -> dict[int, Product]:
    ids = set(ids)
    if not ids:
        return {}
    return {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(ids))
                                                .options(selectinload(Product.family),
                                                         selectinload(Product.prices)))}


def offer_lines(offer: PurchaseOffer, today: date | None = None) -> list[OfferLine]:
    """The offer's products with today's catalog price (None for a product no longer sold)."""
    today = today or clock.today()
    products = _products(item.product_id for item in offer.items)
    lines = []
    for item in offer.items:
        product = products[item.product_id]
        price = product.price_on(today) if product.active and product.family.active else None
        lines.append(OfferLine(product, item.quantity, price.unit_price_cents if price is not None else None))
    return lines


@dataclass(frozen=True)
class Opening:
    user: User
    organization: Organization | None
    first_at: datetime
    last_at: datetime
    times: int  # rows recorded (at most one per user and day)


@dataclass
class OfferRow:
    """What the staff list and detail show of an offer."""

    offer: PurchaseOffer
    lines: list[OfferLine]
    status: str  # the stored state; a sent offer past its validity shows as expired before the job runs
    organization: Organization | None
    created_by: User | None
    openings: list[Opening] = field(default_factory=list)
    accepted_by: User | None = None
    accepted_organization: Organization | None = None

    @property
    def status_label(self) -> str:
        return str(OFFER_STATUS_LABELS[OfferStatus(self.status)])


def display_status(offer: PurchaseOffer, now: datetime) -> str:
    if offer.status in OPEN_STATES and offer.expires_at <= now:
        return OfferStatus.EXPIRED
    return offer.status


def _rows(offers: list[PurchaseOffer], now: datetime) -> list[OfferRow]:
    ids = [o.id for o in offers]
    views = db.session.scalars(select(PurchaseOfferView).where(PurchaseOfferView.offer_id.in_(ids))
                               .order_by(PurchaseOfferView.opened_at)).all() if ids else []
    user_ids = {v.user_id for v in views} | {o.created_by_id for o in offers} | {
        o.accepted_by_id for o in offers if o.accepted_by_id}
    org_ids = {v.organization_id for v in views if v.organization_id} | {
        o.organization_id for o in offers if o.organization_id} | {
        o.accepted_organization_id for o in offers if o.accepted_organization_id}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    orgs = {o.id: o for o in db.session.scalars(select(Organization).where(Organization.id.in_(org_ids)))} \
        if org_ids else {}
    products = _products(item.product_id for offer in offers for item in offer.items)
    today = clock.to_business(now).date()
    rows = []
    for offer in offers:
        lines = []
        for item in offer.items:
            product = products[item.product_id]
            price = product.price_on(today) if product.active and product.family.active else None
            lines.append(OfferLine(product, item.quantity, price.unit_price_cents if price is not None else None))
        openings: dict[tuple[int, int | None], list[PurchaseOfferView]] = {}
        for view in views:
            if view.offer_id == offer.id:
                openings.setdefault((view.user_id, view.organization_id), []).append(view)
        rows.append(OfferRow(
            offer=offer, lines=lines, status=display_status(offer, now),
            organization=orgs.get(offer.organization_id), created_by=users.get(offer.created_by_id),
            openings=[Opening(users[user_id], orgs.get(org_id), seen[0].opened_at, seen[-1].opened_at, len(seen))
                      for (user_id, org_id), seen in openings.items()],
            accepted_by=users.get(offer.accepted_by_id), accepted_organization=orgs.get(offer.accepted_organization_id),
        ))
    return rows


def list_offers(*, status: str | None = None, page: int = 1, now: datetime,
                per_page: int = PER_PAGE) -> list[OfferRow]:
    """Offers newest first (up to `per_page + 1`: one more tells there is a next page), optionally of one state."""
    statement = select(PurchaseOffer).options(selectinload(PurchaseOffer.items)).order_by(
        PurchaseOffer.created_at.desc(), PurchaseOffer.id.desc())
    if status is not None:
        statement = statement.where(PurchaseOffer.status == status)
    page = min(max(page, 1), MAX_PAGE)
    offers = list(db.session.scalars(statement.limit(per_page + 1).offset((page - 1) * per_page)))
    return _rows(offers, now)


def get_offer(offer_id: int) -> PurchaseOffer:
    offer = db.session.get(PurchaseOffer, offer_id) if 0 < offer_id < 2**31 else None
    if offer is None:
        raise NotFound(_("Oferta não encontrada."))
    return offer


@dataclass(frozen=True)
class OfferDetail:
    row: OfferRow
    cancel_reason: str | None
    orders: list[Order]
    emailed_to: list[str]
    # Once accepted: product id → the licences the customer accepted (they may change the offered quantity);
    # empty before that. A product offered and left out of the acceptance maps to 0.
    accepted_quantities: dict[int, int] = field(default_factory=dict)


def _accepted_quantities(offer: PurchaseOffer) -> dict[int, int]:
    if offer.status != OfferStatus.ACCEPTED or not offer.quote_id:
        return {}
    quote = db.session.get(Quote, offer.quote_id)
    accepted = {int(line["product_id"]): int(line["quantity"]) for line in (quote.lines if quote else None) or []}
    return {item.product_id: accepted.get(item.product_id, 0) for item in offer.items}


def offer_detail(offer_id: int, *, now: datetime) -> OfferDetail:
    """The staff page of an offer: its row, the cancellation reason, the orders it became, who was e-mailed."""
    offer = get_offer(offer_id)
    [row] = _rows([offer], now)
    events = {e.tag: e for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject == f"offer:{offer.id}",
                                 AuditEvent.tag.in_([AuditTag.OFFER_CANCELLED, AuditTag.OFFER_SENT]))
        .order_by(AuditEvent.seq))}
    cancelled = events.get(AuditTag.OFFER_CANCELLED)
    sent = events.get(AuditTag.OFFER_SENT)
    orders = list(db.session.scalars(select(Order).where(Order.quote_id == offer.quote_id).order_by(Order.id))) \
        if offer.quote_id else []
    return OfferDetail(row=row, cancel_reason=(cancelled.after or {}).get("reason") if cancelled else None,
                       orders=orders, emailed_to=list((sent.after or {}).get("emailed_to", [])) if sent else [],
                       accepted_quantities=_accepted_quantities(offer))


def copy_text(offer: PurchaseOffer, url: str, lines: list[OfferLine]) -> str:
    """The offer in a few lines, for staff to paste in an e-mail or a document ("informações da oferta")."""
    parts = [_("Oferta de compra %(summary)s", summary=offer.summary_id)]
    for line in lines:
        parts.append(ngettext("- %(product)s: %(num)d licença", "- %(product)s: %(num)d licenças", line.quantity,
                              product=line.product.name))
    if offer.delegated_admin:
        parts.append(_("Inclui a opção de administração delegada."))
    parts.append(_("Válida até %(date)s.", date=format_date(offer.expires_at)))
    parts.append(_("Para aceitar, entre no portal por este link: %(url)s", url=url))
    return "\n".join(str(p) for p in parts)


# ---------------------------------------------------------------- customer: the link

def find_by_token(token: Any) -> PurchaseOffer:
    """The offer of a link, whatever its state; NotFound for a token that names none."""
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        raise NotFound(_("Oferta não encontrada."))
    offer = db.session.scalar(select(PurchaseOffer).where(PurchaseOffer.token == token)
                              .options(selectinload(PurchaseOffer.items)))
    if offer is None:
        raise NotFound(_("Oferta não encontrada."))
    return offer


def _visible_to(offer: PurchaseOffer, organization: Organization) -> None:
    """An offer meant for another organization does not exist for this one (the same answer as a bad token)."""
    if offer.organization_id is not None and offer.organization_id != organization.id:
        raise NotFound(_("Oferta não encontrada."))


def _check_open(offer: PurchaseOffer, organization: Organization, now: datetime) -> None:
    """OfferUnavailable unless the offer can be accepted right now."""
    if offer.status == OfferStatus.DRAFT:
        raise OfferUnavailable(_("Esta oferta ainda não foi liberada pela nossa equipe comercial."), offer.status)
    if offer.status == OfferStatus.CANCELLED:
        raise OfferUnavailable(_("Esta oferta foi cancelada pela nossa equipe comercial e não pode mais ser aceita. "
                                 "Fale com o seu contato comercial se ainda quiser contratar."), offer.status)
    if offer.status == OfferStatus.ACCEPTED:
        raise OfferUnavailable(_("Esta oferta já foi aceita."), offer.status)
    if offer.status == OfferStatus.EXPIRED or offer.expires_at <= now:
        raise OfferUnavailable(_("Esta oferta venceu em %(date)s e não pode mais ser aceita. Peça uma nova ao seu "
                                 "contato comercial.", date=format_date(offer.expires_at)),
                               OfferStatus.EXPIRED)


def who_can_accept(organization: Organization) -> list[User]:
    """The organization's active users whose roles allow accepting offers (Master, Adm), by name."""
    memberships = db.session.scalars(
        select(Membership).where(Membership.organization_id == organization.id, Membership.active.is_(True),
                                 Membership.accepted_at.is_not(None))
        .options(selectinload(Membership.role_rows), selectinload(Membership.user))
    ).all()
    people = [m.user for m in memberships
              if m.user.active and Permission.LICENSES_MANAGE in permissions_for(m.roles)]
    return sorted(people, key=lambda u: u.name.lower())


def _can_accept(organization: Organization, user: User | None) -> bool:
    return user is not None and any(u.id == user.id for u in who_can_accept(organization))


def _record_view(offer: PurchaseOffer, user: User, organization: Organization, now: datetime) -> None:
    """One PurchaseOfferView per user, organization and business day is enough for "who opened it"."""
    day_start = datetime.combine(clock.to_business(now).date(), time(0), tzinfo=clock.BUSINESS_TZ).astimezone(UTC)
    seen = db.session.scalar(select(PurchaseOfferView.id).where(
        PurchaseOfferView.offer_id == offer.id, PurchaseOfferView.user_id == user.id,
        PurchaseOfferView.organization_id == organization.id, PurchaseOfferView.opened_at >= day_start).limit(1))
    if seen is None:
        db.session.add(PurchaseOfferView(offer_id=offer.id, user_id=user.id, organization_id=organization.id,
                                         opened_at=now))
        db.session.commit()


@dataclass(frozen=True)
class CustomerOffer:
    """What the customer's page shows: the offer, its lines at today's prices, and what the viewer may do."""

    offer: PurchaseOffer
    lines: list[OfferLine]
    problem: OfferUnavailable | None  # None: the offer can be accepted now
    can_accept: bool  # the viewer's roles allow it (Master, Adm)
    acceptors: list[User]  # who in the organization can accept (for the others' message)
    accepted_here: bool  # accepted by this organization (its licenses page has the result)
    orders: list[Order]


def open_offer(token: Any, *, organization: Organization, user: User, now: datetime | None = None) -> CustomerOffer:
    """A signed-in customer opens the link: the visit is recorded (when the offer is meant for this organization)
    and the offer returned with its state. NotFound for a bad token or another organization's offer."""
    now = now or clock.now()
    offer = find_by_token(token)
    _visible_to(offer, organization)
    if offer.status != OfferStatus.DRAFT:  # a draft's link does not work yet: nobody "opened" it
        _record_view(offer, user, organization, now)
    problem = None
    try:
        _check_open(offer, organization, now)
    except OfferUnavailable as error:
        problem = error
    accepted_here = offer.status == OfferStatus.ACCEPTED and offer.accepted_organization_id == organization.id
    orders = list(db.session.scalars(select(Order).where(Order.quote_id == offer.quote_id,
                                                         Order.organization_id == organization.id)
                                     .order_by(Order.id))) if accepted_here and offer.quote_id else []
    return CustomerOffer(offer=offer, lines=offer_lines(offer, clock.to_business(now).date()), problem=problem,
                         can_accept=_can_accept(organization, user), acceptors=who_can_accept(organization),
                         accepted_here=accepted_here, orders=orders)


def _customer_offer(token: Any, organization: Organization, actor: Actor, now: datetime) -> PurchaseOffer:
    offer = find_by_token(token)
    _visible_to(offer, organization)
    if not _can_accept(organization, actor.user):
        raise PermissionDenied(_("Só um Master ou Adm da organização pode aceitar ofertas de compra."))
    _check_open(offer, organization, now)
    return offer


def quote_offer(*, token: Any, organization: Organization, quantities: dict[int, Any], actor: Actor) -> Quote:
    """Price the offer with the customer's license counts: a checkout quote to review (nothing bought yet).

    The same gates as the cart's checkout: the contract open, not delinquent, the current agreement accepted.
    InvalidCounts (per product), OfferUnavailable, NotFound or ServiceError otherwise."""
    now = clock.now()
    offer = _customer_offer(token, organization, actor, now)
    today = clock.to_business(now).date()
    sellable = {p.id: p for p in offerable_products(today)}
    wanted = {item.product_id: quantities.get(item.product_id, item.quantity) for item in offer.items}
    counts = _check_counts({pid: sellable[pid] for pid in wanted if pid in sellable}, wanted)
    ensure_may_buy(organization, actor)
    lines = subscriptions.plan_checkout(organization, [(sellable[pid], n) for pid, n in counts.items()], now)
    # Built as `subscriptions.quote_checkout` builds it from a cart, so `confirm` treats it the same way.
    quote = Quote(
        token=secrets.token_hex(16), organization_id=organization.id, kind=QuoteKind.CHECKOUT,
        lines=[line.as_dict() for line in lines], charge_cents=sum(line.amount_cents for line in lines),
        credit_cents=0, recurring_cents=sum(line.quantity * line.unit_price_cents for line in lines),
        created_by_id=actor.user_id, created_at=now, expires_at=subscriptions.end_of_business_day(now),
    )
    db.session.add(quote)
    db.session.commit()
    return quote


def _offer_quote(offer: PurchaseOffer, organization: Organization, quote_token: Any) -> Quote:
    """A checkout quote of `organization` for exactly the offer's products (any other quote: NotFound)."""
    quote = catalog.checkout_quote(organization, quote_token)
    if [line["product_id"] for line in quote.lines] != [item.product_id for item in offer.items]:
        raise NotFound(_("Orçamento não encontrado."))
    return quote


@dataclass(frozen=True)
class OfferReview:
    offer: PurchaseOffer
    preview: catalog.CheckoutPreview
    accepted: bool  # this quote already accepted the offer (a second visit after confirming)


def review_offer(*, token: Any, organization: Organization, quote_token: Any, actor: Actor) -> OfferReview:
    """The checkout preview of an offer's quote, before confirming (with the pró-rata, like the cart's)."""
    offer = find_by_token(token)
    _visible_to(offer, organization)
    quote = _offer_quote(offer, organization, quote_token)
    accepted = offer.status == OfferStatus.ACCEPTED and offer.quote_id == quote.id
    if not accepted:
        if not _can_accept(organization, actor.user):
            raise PermissionDenied(_("Só um Master ou Adm da organização pode aceitar ofertas de compra."))
        _check_open(offer, organization, clock.now())
    return OfferReview(offer=offer, preview=catalog.checkout_preview(organization, quote.token), accepted=accepted)


@dataclass(frozen=True)
class Acceptance:
    offer: PurchaseOffer
    orders: list[Order]
    applied: bool  # False: this quote had already accepted the offer (a double submission), nothing done now


def accept_offer(*, token: Any, organization: Organization, quote_token: Any, delegated_admin: bool,
                 actor: Actor) -> Acceptance:
    """Confirm the offer's quote: the orders are created and queued (provisioning and billing follow) and the
    offer becomes accepted, in one transaction with its audit events. Accepting twice with the same quote
    returns the same orders; the offer's state is set once (its row is locked)."""
    offer = find_by_token(token)
    _visible_to(offer, organization)
    offer = _lock(offer.id)
    quote = _offer_quote(offer, organization, quote_token)
    if offer.status == OfferStatus.ACCEPTED and offer.quote_id == quote.id:
        db.session.rollback()
        return Acceptance(offer, subscriptions.quote_orders(quote), applied=False)
    if not _can_accept(organization, actor.user):
        raise PermissionDenied(_("Só um Master ou Adm da organização pode aceitar ofertas de compra."))
    _check_open(offer, organization, clock.now())
    if quote.status != QuoteStatus.CONFIRMED:
        ensure_agreement_accepted(organization, actor)  # an agreement published since the quote blocks it too
    confirmation = subscriptions.confirm_quote_in_transaction(organization, quote, actor)
    if not confirmation.applied:
        # The quote had been confirmed by another request (whose rollback here released the lock, or through
        # the cart's confirmation): look at the offer again before setting its state.
        offer = _lock(offer.id)
        if offer.status == OfferStatus.ACCEPTED:
            db.session.rollback()
            if offer.quote_id == quote.id:
                return Acceptance(offer, confirmation.orders, applied=False)
            raise OfferUnavailable(_("Esta oferta já foi aceita."), offer.status)
    else:
        subscriptions.queue_orders_and_notify(confirmation.orders, actor)
    now = clock.now()
    offer.status = OfferStatus.ACCEPTED
    offer.accepted_at = now
    offer.accepted_by_id = actor.user_id
    offer.accepted_organization_id = organization.id
    offer.delegated_admin_accepted = bool(delegated_admin) if offer.delegated_admin else None
    offer.quote_id = quote.id
    record(AuditTag.OFFER_ACCEPTED, actor=actor, organization_id=organization.id, subject=f"offer:{offer.id}",
           before={"status": OfferStatus.SENT},
           after={"status": OfferStatus.ACCEPTED, "summary_id": offer.summary_id, "quote": quote.id,
                  "lines": [{"product_id": line["product_id"], "quantity": line["quantity"]} for line in quote.lines],
                  "delegated_admin_accepted": offer.delegated_admin_accepted,
                  "orders": [o.id for o in confirmation.orders]})
    db.session.commit()
    return Acceptance(offer, confirmation.orders, applied=True)


def offer_count_by_status() -> dict[str, int]:
    """How many offers each state has (the list's tabs)."""
    rows = db.session.execute(select(PurchaseOffer.status, func.count(PurchaseOffer.id))
                              .group_by(PurchaseOffer.status))
    return {status: count for status, count in rows}
