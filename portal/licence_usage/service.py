"""Licence use: read a tenant through `integrations.graph`, keep each reading as a snapshot, match its SKUs to the
organization's subscriptions through the catalog, apply the Master's rules (excluded SKUs, a buffer per SKU) and say
how many licences could be reduced; the monthly e-mail of unassigned licences.

Numbers are whole licences. Per SKU, from the newest snapshot:
- unassigned = max(0, bought − assigned); inactive = assigned to users with no activity for 30+ days (None without
  the reports permission);
- reducible = max(0, unassigned + inactive − buffer), shared among the SKU's active subscriptions (oldest first),
  each at most down to its product's minimum: what "reduzir N" proposes.
The monthly e-mail lists max(0, unassigned − buffer) per SKU, with what those cost a month at today's price.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.accounts.roles import Role
from portal.catalog.models import Product
from portal.extensions import db
from portal.integrations.graph import LicenseUsage, UsageReport, UsageStatus
from portal.licence_usage.models import SkuRule, UnusedLicencesEmail, UsageSku, UsageSnapshot
from portal.notifications.service import queue_email
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.shared.links import absolute_url
from portal.subscriptions.models import Subscription, SubscriptionStatus
from portal.subscriptions.prices import monthly_equivalent

MAX_BUFFER = 10_000  # licences; the largest buffer a Master may keep (a product's own maximum)
_ACTIVE = (SubscriptionStatus.ACTIVE,)


# ---------------------------------------------------------------- reading Graph

def record_snapshot(organization: Organization, report: UsageReport, *, requested_by_id: int | None = None
                    ) -> UsageSnapshot:
    """Keep `report` as the organization's newest snapshot (the caller commits)."""
    snapshot = UsageSnapshot(organization_id=organization.id, taken_at=clock.now(), status=str(report.status),
                             reports_available=report.reports_available, concealed=report.concealed,
                             message=report.message[:500], requested_by_id=requested_by_id)
    for sku in report.skus:
        holders = [u for u in report.inactive if sku.part_number and sku.part_number in u.part_numbers]
        users = [] if report.concealed else [
            [u.user, u.last_activity.isoformat() if u.last_activity else None] for u in holders]
        snapshot.skus.append(UsageSku(sku_id=sku.sku_id, part_number=sku.part_number, enabled=max(sku.enabled, 0),
                                      consumed=max(sku.consumed, 0),
                                      inactive=len(holders) if report.reports_available else None,
                                      inactive_users=users))
    db.session.add(snapshot)
    db.session.flush()
    return snapshot


def refresh(organization: Organization, *, reader: LicenseUsage, requested_by_id: int | None = None,
            min_interval: timedelta | None = None) -> UsageSnapshot:
    """Read the tenant now and keep the snapshot (committed). With `min_interval` (a person's "Atualizar agora"),
    refuses while the newest snapshot is younger than that."""
    if not organization.microsoft_tenant_id:
        raise ServiceError(_("Esta organização ainda não tem um tenant Microsoft ligado ao portal. "
                             "Fale com a nossa equipe."))
    if min_interval is not None:
        latest = latest_snapshot(organization)
        if latest is not None and clock.now() - latest.taken_at < min_interval:
            minutes = max(1, int((latest.taken_at + min_interval - clock.now()).total_seconds() // 60) + 1)
            raise ServiceError(_("Os números foram atualizados há pouco. Tente de novo em %(minutes)d min.",
                                 minutes=minutes))
    report = reader.read(organization.microsoft_tenant_id)
    snapshot = record_snapshot(organization, report, requested_by_id=requested_by_id)
    db.session.commit()
    return snapshot


def refresh_all(*, reader: LicenseUsage) -> dict[str, int]:
    """The daily job: every organization with a tenant, one commit each; returns how many ended in each status."""
    counts: dict[str, int] = {}
    ids = db.session.scalars(select(Organization.id).where(Organization.microsoft_tenant_id.is_not(None))
                             .order_by(Organization.id)).all()
    for organization_id in ids:
        organization = db.session.get(Organization, organization_id)
        snapshot = refresh(organization, reader=reader)
        counts[snapshot.status] = counts.get(snapshot.status, 0) + 1
    return counts


# Built once (the licence pages and the home read it on every request; a statement built per call costs as much
# again as running it): only its parameter changes.
_LATEST_SNAPSHOT = (
    select(UsageSnapshot).where(UsageSnapshot.organization_id == bindparam("organization_id", type_=Integer))
    .order_by(UsageSnapshot.taken_at.desc(), UsageSnapshot.id.desc()).limit(1)
    .options(selectinload(UsageSnapshot.skus)))


def latest_snapshot(organization: Organization) -> UsageSnapshot | None:
    return db.session.execute(_LATEST_SNAPSHOT, {"organization_id": organization.id}).scalar()


# ---------------------------------------------------------------- what the pages show

@dataclass(frozen=True)
class SubscriptionShare:
    subscription_id: int
    product_name: str
    quantity: int
    reduce: int  # licences "reduzir N" proposes for this subscription (0: nothing)
    unit_monthly_cents: int  # what one licence costs a month at today's price (display only)


@dataclass(frozen=True)
class SkuLine:
    sku_id: str
    part_number: str
    product_names: tuple[str, ...]  # the catalog products of this SKU the organization has (empty: not ours)
    enabled: int
    consumed: int
    inactive: int | None
    inactive_users: tuple[tuple[str, date | None], ...]  # (user, last activity) when names are shown
    excluded: bool
    buffer: int
    reducible: int
    subscriptions: tuple[SubscriptionShare, ...] = ()

    @property
    def unassigned(self) -> int:
        return max(0, self.enabled - self.consumed)

    @property
    def unused_for_email(self) -> int:
        return max(0, self.unassigned - self.buffer)


@dataclass(frozen=True)
class Overview:
    snapshot: UsageSnapshot | None
    lines: tuple[SkuLine, ...] = ()
    excluded: tuple[SkuLine, ...] = ()
    by_subscription: dict[int, SkuLine] = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        return self.snapshot.status if self.snapshot is not None else None


def rules(organization: Organization) -> dict[str, SkuRule]:
    return {r.sku_id: r for r in db.session.scalars(select(SkuRule).where(SkuRule.organization_id == organization.id))}


def _subscriptions_by_sku(organization: Organization) -> dict[str, list[Subscription]]:
    found: dict[str, list[Subscription]] = {}
    rows = db.session.scalars(
        select(Subscription).join(Product, Product.id == Subscription.product_id)
        .where(Subscription.organization_id == organization.id, Subscription.status.in_(_ACTIVE),
               Product.microsoft_sku_id.is_not(None))
        .order_by(Subscription.id).options(selectinload(Subscription.product).selectinload(Product.prices)))
    for subscription in rows:
        found.setdefault(subscription.product.microsoft_sku_id.lower(), []).append(subscription)
    return found


def _share(subscriptions: Iterable[Subscription], reducible: int, today: date) -> tuple[SubscriptionShare, ...]:
    shares = []
    left = reducible
    for s in subscriptions:
        take = max(0, min(left, s.quantity - s.product.min_quantity))
        left -= take
        price = s.product.price_on(today)
        unit = monthly_equivalent(price.unit_price_cents, s.product) if price is not None else 0
        shares.append(SubscriptionShare(s.id, s.product.name, s.quantity, take, unit))
    return tuple(shares)


def overview(organization: Organization) -> Overview:
    """The newest snapshot, SKU by SKU, with the Master's rules applied and the reductions each subscription can
    take. Excluded SKUs come apart (the Master can bring them back)."""
    snapshot = latest_snapshot(organization)
    if snapshot is None or snapshot.status != UsageStatus.OK:
        return Overview(snapshot)
    by_rule = rules(organization)
    by_sku = _subscriptions_by_sku(organization)
    today = clock.today()
    lines, excluded, by_subscription = [], [], {}
    for sku in snapshot.skus:
        rule = by_rule.get(sku.sku_id)
        buffer = rule.buffer if rule is not None else 0
        subscriptions = by_sku.get(sku.sku_id, [])
        spare = max(0, sku.enabled - sku.consumed) + (sku.inactive or 0)
        reducible = max(0, spare - buffer)
        line = SkuLine(
            sku_id=sku.sku_id, part_number=sku.part_number,
            product_names=tuple(dict.fromkeys(s.product.name for s in subscriptions)), enabled=sku.enabled,
            consumed=sku.consumed, inactive=sku.inactive,
            inactive_users=tuple((str(u[0]), date.fromisoformat(u[1]) if u[1] else None)
                                 for u in (sku.inactive_users or [])),
            excluded=bool(rule is not None and rule.excluded), buffer=buffer, reducible=reducible,
            subscriptions=_share(subscriptions, reducible, today))
        if line.excluded:
            excluded.append(line)
            continue
        lines.append(line)
        for subscription in subscriptions:
            by_subscription[subscription.id] = line
    lines.sort(key=lambda line: (not line.product_names, line.part_number))
    return Overview(snapshot, tuple(lines), tuple(excluded), by_subscription)


def summaries(organization: Organization) -> tuple[tuple[int, int, int, int | None], ...]:
    """(subscription id, bought, assigned, inactive) for every subscription with usage shown: hashable, for the
    "Licenças" table's fragment."""
    found = overview(organization)
    return tuple(sorted((sid, line.enabled, line.consumed, line.inactive)
                        for sid, line in found.by_subscription.items()))


def reduce_for(organization: Organization, subscription_id: int) -> int:
    """How many licences "reduzir N" proposes for one subscription (0 when none)."""
    line = overview(organization).by_subscription.get(subscription_id)
    if line is None:
        return 0
    return next((share.reduce for share in line.subscriptions if share.subscription_id == subscription_id), 0)


# ---------------------------------------------------------------- the Master's rules

def set_rule(organization: Organization, *, sku_id: str, excluded: bool, buffer: int, actor: Actor) -> SkuRule:
    """Exclude a SKU of the newest snapshot, or keep `buffer` spare licences of it (committed, audited)."""
    snapshot = latest_snapshot(organization)
    sku = next((s for s in (snapshot.skus if snapshot else []) if s.sku_id == sku_id), None)
    if sku is None:
        raise ServiceError(_("Este produto não aparece na última leitura do seu tenant. Atualize e tente de novo."))
    if buffer < 0 or buffer > MAX_BUFFER:
        raise ServiceError(_("A folga vai de 0 a %(max)d licenças.", max=MAX_BUFFER), field="buffer")
    rule = rules(organization).get(sku_id)
    before = {"excluded": rule.excluded, "buffer": rule.buffer} if rule is not None else None
    if rule is None:
        rule = SkuRule(organization_id=organization.id, sku_id=sku_id)
        db.session.add(rule)
    rule.excluded, rule.buffer = excluded, buffer
    rule.updated_at, rule.updated_by_id = clock.now(), actor.user_id
    db.session.flush()
    record(AuditTag.LICENCE_USAGE_RULE_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before=before,
           after={"sku_id": sku_id, "part_number": sku.part_number, "excluded": excluded, "buffer": buffer})
    db.session.commit()
    return rule


# ---------------------------------------------------------------- the monthly e-mail

def _month_start(day: date) -> date:
    return day.replace(day=1)


def _recipients(organization_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).join(Membership, Membership.user_id == User.id).join(MembershipRole)
        .where(Membership.organization_id == organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True),
               MembershipRole.role.in_((Role.MASTER, Role.ADM)))
        .distinct().order_by(User.id)))


@dataclass(frozen=True)
class UnusedLine:
    part_number: str
    product_names: tuple[str, ...]
    unused: int
    monthly_cents: int


def unused_lines(organization: Organization) -> list[UnusedLine]:
    lines = []
    for line in overview(organization).lines:
        if not line.unused_for_email or not line.subscriptions:
            continue
        unit = line.subscriptions[0].unit_monthly_cents
        lines.append(UnusedLine(line.part_number, line.product_names, line.unused_for_email,
                                unit * line.unused_for_email))
    return lines


def send_monthly_email(organization: Organization, *, today: date) -> bool:
    """The month's e-mail of unassigned licences to the Masters and Adms, once per organization and month: the
    month's unique row is inserted first (a concurrent run fails on it and sends nothing). True when sent now."""
    lines = unused_lines(organization)
    if not lines:
        return False
    people = _recipients(organization.id)
    if not people:
        return False
    total = sum(line.monthly_cents for line in lines)
    try:
        with db.session.begin_nested():
            db.session.add(UnusedLicencesEmail(organization_id=organization.id, month=_month_start(today),
                                               unused=sum(line.unused for line in lines), monthly_cents=total,
                                               sent_at=clock.now()))
    except IntegrityError:  # this month's e-mail is already taken (a re-run, or another consumer at once)
        return False
    url = absolute_url("licence_usage.overview")
    for person in people:
        queue_email("unused_licences", to=[person.email],
                    subject_fn=lambda: _("Licenças sem uso em %(org)s", org=organization.display_name),
                    context={"person": person, "organization": organization, "lines": lines, "total": total,
                             "url": url},
                    language=person.language or current_app.config["BABEL_DEFAULT_LOCALE"],
                    organization_id=organization.id)
    db.session.commit()
    return True


def send_monthly_emails(*, today: date) -> int:
    """Every organization's monthly e-mail (the job runs daily: a month missed on its first day is sent later)."""
    sent = 0
    ids = db.session.scalars(select(Organization.id).where(Organization.microsoft_tenant_id.is_not(None))
                             .order_by(Organization.id)).all()
    for organization_id in ids:
        organization = db.session.get(Organization, organization_id)
        already = db.session.scalar(select(UnusedLicencesEmail.id).where(
            UnusedLicencesEmail.organization_id == organization_id,
            UnusedLicencesEmail.month == _month_start(today)))
        if already is None and send_monthly_email(organization, today=today):
            sent += 1
    return sent
