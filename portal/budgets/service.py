"""Budgets: the Master's monthly budgets, what a month has cost and will cost against them (`month_spend`, the one
definition), the card that shows it (`budget_status`), and the e-mails sent once when a month crosses them."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.accounts.roles import Role
from portal.billing.lines import LineDraft, draft_invoice, existing_invoice
from portal.billing.models import Invoice, InvoiceLine, InvoiceStatus
from portal.budgets.models import AlertKind, Budget, BudgetAlert
from portal.catalog.models import Product, ProductFamily
from portal.extensions import db
from portal.notifications.service import queue_email
from portal.shared import clock, periods
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError
from portal.shared.links import absolute_url
from portal.subscriptions.models import Subscription

# The largest monthly budget accepted (R$ 10.000.000,00): far above any customer's month, and well inside the
# database's 32-bit integer of centavos.
MAX_BUDGET_CENTS = 1_000_000_000
WARNING_PERCENT = 80  # the first e-mail about actual spend; the second goes at 100 %


# ---------------------------------------------------------------- what a month costs

def month_bounds(day: date) -> tuple[date, date]:
    """The calendar month of `day` as [first day, first day of the next month)."""
    first = day.replace(day=1)
    return first, periods.add_months(first, 1, anchor=1)


@dataclass(frozen=True)
class MonthSpend:
    """A calendar month's spend to date and forecast, in centavos: the organization's, and per product family."""

    month: date  # the month's first day
    spend_cents: int
    forecast_cents: int
    family_spend_cents: Mapping[int, int]  # family id → spend to date (families with none are absent: 0)
    family_forecast_cents: Mapping[int, int]


def _amount(lines: Iterable[LineDraft]) -> int:
    return sum(line.amount_cents for line in lines)


def _by_family(lines: Iterable[LineDraft], families: Mapping[int, int]) -> dict[int, int]:
    found: dict[int, int] = defaultdict(int)
    for line in lines:
        family = families.get(line.subscription_id) if line.subscription_id is not None else None
        if family is not None:
            found[family] += line.amount_cents
    return found


def month_spend(organization: Organization, today: date) -> MonthSpend:
    """What the calendar month M of `today` (a business date, America/Sao_Paulo) costs the organization: its spend
    to date and its forecast, in centavos, for the organization and per product family. THE definition: the card,
    the budget page and the e-mails all read it, and the money in it is drafted by the billing rules
    (`portal.billing.lines.draft_invoice`), never by a formula of its own.

    Spend to date = invoiced for M + incurred in M and not invoiced yet:
    - invoiced for M: every invoice whose billing date is in M and that is not cancelled — regular invoices (their
      total: lines minus the credit applied) and credit notes (negative totals); a reissue counts, the invoice it
      replaced does not;
    - incurred in M, not invoiced yet: the charges of the ledger changes effective in M (up to `today`) that no
      invoice carries yet — the pró-rata of an increase, an annual subscription's renewal — exactly as the billing
      run would bill them today (the lines of `draft_invoice(organization, today)` that come from a change effective
      in M).

    Forecast = spend to date + what the rest of M brings by the billing rules: while the invoice of the
    organization's billing day in M is not issued yet (the day has not come, or its run has not issued it yet, or
    finance still reviews its draft), that day's draft (`draft_invoice(organization, day)`: the recurring lines, the
    changes not invoiced yet, the credit it applies) takes the place of the incurred charges it carries. Once that
    invoice exists, the forecast is the spend to date: changes not made yet are not guessed.

    Per family: the same, counting the lines of the family's subscriptions (invoiced lines, incurred and drafted
    lines). Credit from the organization's credit ledger and credit notes lower the organization's numbers only:
    they belong to the organization, not to a family.

    A charge incurred in M after the billing day is counted in M (incurred) and, once invoiced on the next billing
    day, in the month of that invoice too: each month is read as it stands within it.
    """
    first, after = month_bounds(today)
    invoiced = db.session.scalar(
        select(func.coalesce(func.sum(Invoice.total_cents), 0))
        .where(Invoice.organization_id == organization.id, Invoice.status != InvoiceStatus.CANCELLED,
               Invoice.billing_date >= first, Invoice.billing_date < after))
    families = dict(db.session.execute(
        select(Product.family_id.label("family"), func.sum(InvoiceLine.amount_cents))
        .select_from(InvoiceLine).join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(Subscription, Subscription.id == InvoiceLine.subscription_id)
        .join(Product, Product.id == Subscription.product_id)
        .where(Invoice.organization_id == organization.id, Invoice.status != InvoiceStatus.CANCELLED,
               Invoice.billing_date >= first, Invoice.billing_date < after)
        .group_by(Product.family_id)).all())
    family_of = subscription_families(organization.id)

    now = draft_invoice(organization, today)
    incurred = [line for line in now.lines if line.change_id is not None and line.period_start is not None
                and first <= line.period_start < after]
    spend = int(invoiced) + _amount(incurred)
    family_spend: dict[int, int] = defaultdict(int, {family: int(amount) for family, amount in families.items()})
    for family, amount in _by_family(incurred, family_of).items():
        family_spend[family] += amount

    forecast, family_forecast = spend, dict(family_spend)
    day = billing_day_in(organization.billing_day, first)
    if existing_invoice(organization.id, day) is None:
        upcoming = draft_invoice(organization, day)
        carried = {line.change_id for line in upcoming.lines if line.change_id is not None}
        not_carried = [line for line in incurred if line.change_id not in carried]
        forecast = int(invoiced) + upcoming.total_cents + _amount(not_carried)
        family_forecast = defaultdict(int, {family: int(amount) for family, amount in families.items()})
        for part in (_by_family(upcoming.lines, family_of), _by_family(not_carried, family_of)):
            for family, amount in part.items():
                family_forecast[family] += amount
    return MonthSpend(month=first, spend_cents=spend, forecast_cents=forecast,
                      family_spend_cents=dict(family_spend), family_forecast_cents=dict(family_forecast))


def billing_day_in(billing_day: int, first: date) -> date:
    """The organization's billing day in the month starting on `first` (day 31 is a shorter month's last day)."""
    start, end = periods.monthly_period(billing_day, first)
    return start if start == first else end


def subscription_families(organization_id: int) -> dict[int, int]:
    """Subscription id → its product's family id, for the organization's subscriptions."""
    return dict(db.session.execute(
        select(Subscription.id, Product.family_id).join(Product, Product.id == Subscription.product_id)
        .where(Subscription.organization_id == organization_id)).all())


# ---------------------------------------------------------------- the budgets

def families(organization_id: int) -> list[ProductFamily]:
    """The budget page's rows: the catalog's active product families, and any other the organization has a budget
    for, in display order."""
    budgeted = select(Budget.family_id).where(Budget.organization_id == organization_id,
                                              Budget.family_id.is_not(None))
    return list(db.session.scalars(select(ProductFamily)
                                   .where(or_(ProductFamily.active.is_(True), ProductFamily.id.in_(budgeted)))
                                   .order_by(ProductFamily.position, ProductFamily.name)))


@dataclass(frozen=True)
class Budgets:
    """An organization's budgets, in centavos per month."""

    total_cents: int | None  # the organization's; None: no budget
    family_cents: Mapping[int, int]  # family id → budget (only the families with one)


def budgets_of(organization_id: int) -> Budgets:
    rows = db.session.execute(select(Budget.family_id, Budget.amount_cents)
                              .where(Budget.organization_id == organization_id)).all()
    return Budgets(total_cents=next((amount for family, amount in rows if family is None), None),
                   family_cents={family: amount for family, amount in rows if family is not None})


def _check(amount: int | None, field: str) -> None:
    if amount is None:
        return
    if amount <= 0:
        raise ServiceError(_("Informe um valor maior que zero, ou deixe em branco para não ter orçamento."),
                           field=field)
    if amount > MAX_BUDGET_CENTS:
        raise ServiceError(_("Informe no máximo R$ 10.000.000,00."), field=field)


def _snapshot(budgets: Budgets, names: Mapping[int, str]) -> dict | None:
    if budgets.total_cents is None and not budgets.family_cents:
        return None
    return {"total_cents": budgets.total_cents,
            "families": {names.get(family, str(family)): amount for family, amount in sorted(
                budgets.family_cents.items(), key=lambda item: names.get(item[0], ""))}}


def set_budgets(organization: Organization, *, total_cents: int | None, family_cents: Mapping[int, int | None],
                actor: Actor) -> Budgets:
    """The Master's monthly budgets: `total_cents` for the organization and `family_cents` per family (None: no
    budget). A family budget needs the organization's, and is never above it. Commits, with an audit event when
    anything changed."""
    _check(total_cents, "total")
    known = {family.id: family.name for family in families(organization.id)}
    wanted = {}
    for family_id, amount in family_cents.items():
        field = f"family_{family_id}"
        if amount is None:
            continue
        if family_id not in known:
            raise ServiceError(_("Esta família de produtos não está mais no catálogo."), field=field)
        _check(amount, field)
        if total_cents is None:
            raise ServiceError(_("Defina primeiro o orçamento mensal da organização."), field=field)
        if amount > total_cents:
            raise ServiceError(_("O orçamento de uma família não pode passar o da organização."), field=field)
        wanted[family_id] = amount
    before = budgets_of(organization.id)
    after = Budgets(total_cents=total_cents, family_cents=wanted)
    if before == after:
        db.session.rollback()
        return before
    rows = {row.family_id: row for row in db.session.scalars(
        select(Budget).where(Budget.organization_id == organization.id))}
    now = clock.now()
    for family_id, amount in [(None, total_cents), *((f, wanted.get(f)) for f in set(wanted) | set(rows) - {None})]:
        row = rows.get(family_id)
        if amount is None:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(Budget(organization_id=organization.id, family_id=family_id, amount_cents=amount,
                                  updated_at=now, updated_by_id=actor.user_id))
        elif row.amount_cents != amount:
            row.amount_cents, row.updated_at, row.updated_by_id = amount, now, actor.user_id
    names = known
    record(AuditTag.BUDGET_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}", before=_snapshot(before, names), after=_snapshot(after, names))
    try:
        db.session.commit()
    except IntegrityError as exc:  # saved twice at the same moment
        db.session.rollback()
        raise ServiceError(_("O orçamento mudou enquanto você salvava. Confira e salve de novo.")) from exc
    return after


# ---------------------------------------------------------------- the card

@dataclass(frozen=True)
class BudgetLine:
    """One budget against its month: the organization's (family_id None) or a family's. Centavos."""

    label: str
    family_id: int | None
    budget_cents: int
    spend_cents: int
    forecast_cents: int

    @property
    def percent(self) -> int:
        """Spend to date as a whole percentage of the budget (may pass 100)."""
        return max(self.spend_cents, 0) * 100 // self.budget_cents

    @property
    def bar_value(self) -> int:
        """What the progress bar shows: spend to date, never below 0 nor above the budget."""
        return min(max(self.spend_cents, 0), self.budget_cents)

    @property
    def level(self) -> str:
        """"over" (spend reached the budget), "warning" (80 % or more, or the forecast above it), "ok"."""
        if self.spend_cents >= self.budget_cents:
            return "over"
        if self.spend_cents * 100 >= self.budget_cents * WARNING_PERCENT or self.forecast_over:
            return "warning"
        return "ok"

    @property
    def forecast_over(self) -> bool:
        return self.forecast_cents > self.budget_cents

    def crossed(self) -> list[str]:
        """The alert kinds this line has reached (AlertKind values)."""
        kinds = []
        if self.forecast_over:
            kinds.append(AlertKind.FORECAST)
        if self.spend_cents * 100 >= self.budget_cents * WARNING_PERCENT:
            kinds.append(AlertKind.ACTUAL_80)
        if self.spend_cents >= self.budget_cents:
            kinds.append(AlertKind.ACTUAL_100)
        return kinds


@dataclass(frozen=True)
class BudgetStatus:
    """The month's spend and forecast against the organization's budgets (templates/budgets/_home_card.html)."""

    month: date  # the month's first day
    today: date
    total: BudgetLine  # the organization's budget
    families: tuple[BudgetLine, ...]  # the families with a budget, in display order


def budget_status(organization: Organization, today: date) -> BudgetStatus | None:
    """The organization's budgets against `today`'s month (`month_spend`), or None when it has no budget."""
    budgets = budgets_of(organization.id)
    if budgets.total_cents is None:
        return None
    spend = month_spend(organization, today)
    rows = db.session.scalars(select(ProductFamily).where(ProductFamily.id.in_(list(budgets.family_cents)))
                              .order_by(ProductFamily.position, ProductFamily.name)).all()
    return BudgetStatus(
        month=spend.month, today=today,
        total=BudgetLine(label=organization.display_name, family_id=None, budget_cents=budgets.total_cents,
                         spend_cents=spend.spend_cents, forecast_cents=spend.forecast_cents),
        families=tuple(BudgetLine(label=family.name, family_id=family.id, budget_cents=budgets.family_cents[family.id],
                                  spend_cents=spend.family_spend_cents.get(family.id, 0),
                                  forecast_cents=spend.family_forecast_cents.get(family.id, 0))
                       for family in rows))


# ---------------------------------------------------------------- the e-mails

# The gravest kind first: one e-mail per budget and run says the gravest news (the others reached with it are
# recorded as sent, so a graver one is never followed by a milder one).
_GRAVITY = (AlertKind.ACTUAL_100, AlertKind.FORECAST, AlertKind.ACTUAL_80)


def alert_recipients(organization_id: int) -> list[User]:
    """The organization's active Master and Cobrança users, each once, by name."""
    return list(db.session.scalars(
        select(User).where(User.id.in_(
            select(Membership.user_id).join(MembershipRole, MembershipRole.membership_id == Membership.id)
            .where(Membership.organization_id == organization_id, Membership.active.is_(True),
                   Membership.accepted_at.is_not(None), MembershipRole.role.in_([Role.MASTER, Role.COBRANCA]))),
            User.active.is_(True))
        .order_by(User.name, User.id)))


def _subject(kind: str, line: BudgetLine, family: bool) -> str:
    if kind == AlertKind.ACTUAL_100:
        return (_("Orçamento de %(family)s atingido neste mês", family=line.label) if family
                else _("Orçamento mensal atingido"))
    if kind == AlertKind.FORECAST:
        return (_("A previsão do mês passa o orçamento de %(family)s", family=line.label) if family
                else _("A previsão do mês passa o orçamento"))
    return (_("%(percent)d%% do orçamento de %(family)s já foram gastos", percent=WARNING_PERCENT, family=line.label)
            if family else _("%(percent)d%% do orçamento mensal já foram gastos", percent=WARNING_PERCENT))


def alert_organization(organization_id: int, *, today: date) -> int:
    """Send the organization's budget e-mails due `today`: per budget, each kind once a month. Returns how many
    budgets were e-mailed about. Commits.

    Taken under a lock on the organization's row, and recorded as BudgetAlert rows (unique per organization, month,
    family and kind) before anything is queued: a concurrent run waits, then finds them; one that got past the
    check anyway fails on the unique index (IntegrityError) and sends nothing.
    """
    organization = db.session.scalar(select(Organization).where(Organization.id == organization_id)
                                     .with_for_update().execution_options(populate_existing=True))
    status = budget_status(organization, today) if organization is not None else None
    if status is None:
        db.session.rollback()
        return 0
    sent = set(db.session.execute(select(BudgetAlert.family_id, BudgetAlert.kind).where(
        BudgetAlert.organization_id == organization_id, BudgetAlert.month == status.month)).all())
    news = []
    for line in (status.total, *status.families):
        new = [kind for kind in line.crossed() if (line.family_id, kind) not in sent]
        for kind in new:
            db.session.add(BudgetAlert(organization_id=organization_id, month=status.month, family_id=line.family_id,
                                       kind=kind, budget_cents=line.budget_cents, spend_cents=line.spend_cents,
                                       forecast_cents=line.forecast_cents, sent_at=clock.now()))
        if new:
            news.append((line, next(kind for kind in _GRAVITY if kind in new)))
    if not news:
        db.session.rollback()
        return 0
    db.session.flush()  # the unique rows first: a concurrent run that got here too fails before queuing
    url = absolute_url("budgets.page")
    language = current_app.config["BABEL_DEFAULT_LOCALE"]
    for line, kind in news:
        family = line.family_id is not None
        for person in alert_recipients(organization_id):
            queue_email("budget_alert", to=[person.email],
                        subject_fn=lambda kind=kind, line=line, family=family: _subject(kind, line, family),
                        context={"person": person, "organization": organization, "line": line, "kind": kind,
                                 "family": family, "month": status.month, "today": today, "url": url},
                        language=person.language or language, organization_id=organization_id)
    db.session.commit()
    return len(news)


def send_alerts(*, today: date) -> int:
    """The daily job: every organization with a budget gets the e-mails its month has reached, each (month,
    budget, kind) once. Returns how many budgets were e-mailed about; one organization's trouble does not stop
    the others (it is tried again on the next run)."""
    organization_ids = db.session.scalars(select(Budget.organization_id).distinct()
                                          .order_by(Budget.organization_id)).all()
    db.session.rollback()
    alerted = 0
    for organization_id in organization_ids:
        try:
            alerted += alert_organization(organization_id, today=today)
        except IntegrityError:  # another consumer sent them at the same moment: they went once, by it
            db.session.rollback()
        except Exception:
            current_app.logger.exception("budget e-mails of organization %s failed", organization_id)
            db.session.rollback()
    return alerted
