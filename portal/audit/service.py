"""Compliance's reading of the record: cancellations with their provider results, the audit trail and its check.

Read-only: nothing here writes. Staff see every organization (the backoffice is staff-only, so no tenant
scoping). Each page's view calls one function below with its filters already parsed.
"""

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization, User
from portal.accounts.roles import ROLE_LABELS, Role
from portal.cancellations.models import REASON_LABELS, CancellationRequest, CancellationStatus, ReasonCategory
from portal.extensions import db
from portal.shared import clock, cnpj
from portal.shared.audit import AuditChainHead, AuditEvent, verify
from portal.shared.filters import ListFilters
from portal.shared.formatting import spreadsheet_text
from portal.shared.paging import page_window, paged
from portal.subscriptions.models import ORDER_STATUS_LABELS, Order, OrderKind, OrderStatus, Subscription
from portal.subscriptions.order_texts import error_label

# Orders a rescission child created without a quote are found by subscription and time: those made in the
# same transaction carry the same clock reading, give or take the transaction's own duration.
SAME_ACTION = timedelta(minutes=5)
# Events about the subscription or organization are part of the action when this close to it.
EVENT_WINDOW = timedelta(minutes=1)


# ---------------------------------------------------------------- filters (parsed by the views)

@dataclass
class CancellationFilters(ListFilters):
    date_from: date | None = None  # business dates (São Paulo), both inclusive
    date_to: date | None = None
    organization: str = ""  # part of the razão social, nome fantasia or CNPJ
    category: str | None = None  # a ReasonCategory value
    user: str = ""  # part of the requester's e-mail or name


@dataclass
class TrailFilters(ListFilters):
    tag: str = ""  # a whole tag (area:subject:action) matches exactly; anything shorter is a prefix
    organization: str = ""
    actor: str = ""  # part of the actor's label (the e-mail, "system:…", "anonymous")
    date_from: date | None = None
    date_to: date | None = None
    up_to_seq: int | None = None  # only events at or before this position (jump to an event)


def business_midnight(day: date) -> datetime:
    """00:00 of `day` in São Paulo, as an aware UTC datetime."""
    return datetime.combine(day, time(0), tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


def _period(statement: Select, column, date_from: date | None, date_to: date | None) -> Select:
    if date_from:
        statement = statement.where(column >= business_midnight(date_from))
    if date_to:
        statement = statement.where(column < business_midnight(date_to + timedelta(days=1)))
    return statement


# ---------------------------------------------------------------- provider result

# How an action's orders add up, worst first: one failed order makes the whole action "falhou".
_RESULT_PRECEDENCE = (OrderStatus.FAILED, OrderStatus.PENDING, OrderStatus.SENT, OrderStatus.DONE,
                      OrderStatus.WITHDRAWN)


@dataclass
class ProviderResult:
    """What the provider did with the orders a cancellation created."""

    status: str | None  # an OrderStatus value; None when the cancellation created no order
    errors: list[str] = field(default_factory=list)  # "code: message" of each failed order (technical)
    causes: list[str] = field(default_factory=list)  # the same failures as sentences (order_texts.error_label)

    @property
    def label(self) -> str:
        if self.status is None:
            return _("sem pedido")
        return str(ORDER_STATUS_LABELS[OrderStatus(self.status)])

    @classmethod
    def of(cls, orders: Iterable[Order]) -> "ProviderResult":
        orders = list(orders)
        statuses = {order.status for order in orders}
        if not statuses:
            return cls(None)
        if statuses == {OrderStatus.WITHDRAWN}:
            status = OrderStatus.WITHDRAWN
        else:
            status = next(s for s in _RESULT_PRECEDENCE if s in statuses and s != OrderStatus.WITHDRAWN)
        failed = [order for order in orders if order.status == OrderStatus.FAILED]
        errors = [f"{order.error_code or '—'}: {order.error_message or ''}".strip() for order in failed]
        return cls(status, errors, [error_label(order.error_code or "unknown") for order in failed])


# ---------------------------------------------------------------- cancellations

def roles_label(requester_roles: str) -> str:
    """"master,cobranca" → "Master, Cobrança" (the roles the requester held when asking)."""
    names = [name for name in (requester_roles or "").split(",") if name.strip()]
    labels = []
    for name in names:
        try:
            labels.append(str(ROLE_LABELS[Role(name.strip())]))
        except ValueError:
            labels.append(name.strip())
    return ", ".join(labels)


@dataclass
class CancellationRow:
    """A cancellation request with what the page shows beside it (the model has no relationships)."""

    request: CancellationRequest
    organization: Organization
    requester: User | None
    withdrawn_by: User | None = None
    subscription: Subscription | None = None
    orders: list[Order] = field(default_factory=list)
    children: list["CancellationRow"] = field(default_factory=list)  # a rescission's one row per subscription

    @property
    def kind_label(self) -> str:
        if self.request.is_rescission and self.request.subscription_id is None:
            return _("Rescisão de contrato")
        if self.request.parent_id is not None:
            return _("Item de rescisão")
        return _("Cancelamento")

    @property
    def withdrawn(self) -> bool:
        return self.request.status == CancellationStatus.WITHDRAWN

    @property
    def roles(self) -> str:
        return roles_label(self.request.requester_roles)

    @property
    def credit_cents(self) -> int:
        """The credit granted: a rescission's own figure, or the sum of its items when it has none."""
        if self.request.credit_cents or not self.children:
            return self.request.credit_cents or 0
        return sum(child.credit_cents for child in self.children)

    @property
    def all_orders(self) -> list[Order]:
        return [*self.orders, *(order for child in self.children for order in child.orders)]

    @property
    def result(self) -> ProviderResult:
        return ProviderResult.of(self.all_orders)

    @property
    def product_name(self) -> str:
        return self.subscription.product.name if self.subscription is not None else ""


def _rows(requests: list[CancellationRequest], *, with_children: bool) -> list[CancellationRow]:
    """Load everything the rows show in a few queries (organizations, users, subscriptions, orders, items)."""
    children: dict[int, list[CancellationRequest]] = defaultdict(list)
    if with_children:
        parent_ids = [r.id for r in requests if r.is_rescission and r.subscription_id is None]
        if parent_ids:
            for child in db.session.scalars(select(CancellationRequest)
                                            .where(CancellationRequest.parent_id.in_(parent_ids))
                                            .order_by(CancellationRequest.id)):
                children[child.parent_id].append(child)
    every = [*requests, *(c for group in children.values() for c in group)]
    if not every:
        return []
    organizations = {o.id: o for o in db.session.scalars(
        select(Organization).where(Organization.id.in_({r.organization_id for r in every})))}
    user_ids = {r.requested_by_id for r in every} | {r.withdrawn_by_id for r in every if r.withdrawn_by_id}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
    subscription_ids = {r.subscription_id for r in every if r.subscription_id}
    subscriptions = {s.id: s for s in db.session.scalars(
        select(Subscription).where(Subscription.id.in_(subscription_ids)).options(joinedload(Subscription.product))
    )} if subscription_ids else {}
    orders = _orders_of(every)

    def row(request: CancellationRequest) -> CancellationRow:
        return CancellationRow(
            request=request, organization=organizations[request.organization_id],
            requester=users.get(request.requested_by_id),
            withdrawn_by=users.get(request.withdrawn_by_id) if request.withdrawn_by_id else None,
            subscription=subscriptions.get(request.subscription_id) if request.subscription_id else None,
            orders=orders.get(request.id, []),
            children=[row(child) for child in children.get(request.id, [])],
        )

    return [row(request) for request in requests]


def _orders_of(requests: list[CancellationRequest]) -> dict[int, list[Order]]:
    """Each request's orders: those of its quote; for a rescission item (no quote of its own), the orders of its
    subscription created with it (the quantity for the next term, and licenses ended now inside their window)."""
    found: dict[int, list[Order]] = defaultdict(list)
    quoted = [r for r in requests if r.quote_id]
    if quoted:
        by_quote: dict[int, list[Order]] = defaultdict(list)
        for order in db.session.scalars(select(Order).where(Order.quote_id.in_({r.quote_id for r in quoted}))
                                        .order_by(Order.id)):
            by_quote[order.quote_id].append(order)
        for request in quoted:
            found[request.id] = [o for o in by_quote[request.quote_id]
                                 if request.subscription_id is None or o.subscription_id == request.subscription_id]
    items = [r for r in requests if not r.quote_id and r.subscription_id]
    if items:
        candidates = db.session.scalars(
            select(Order).where(
                Order.subscription_id.in_({r.subscription_id for r in items}),
                Order.kind.in_([OrderKind.RENEWAL_QUANTITY, OrderKind.QUANTITY_CHANGE]),
                Order.quote_id.is_(None),
                Order.created_at >= min(r.created_at for r in items) - timedelta(seconds=1),
                Order.created_at <= max(r.created_at for r in items) + SAME_ACTION,
            ).order_by(Order.id)
        ).all()
        for request in items:
            found[request.id] = [
                o for o in candidates
                if o.subscription_id == request.subscription_id
                and request.created_at - timedelta(seconds=1) <= o.created_at <= request.created_at + SAME_ACTION
            ]
    return found


_CANCELLATIONS = (
    select(CancellationRequest)
    .join(Organization, Organization.id == CancellationRequest.organization_id)
    .join(User, User.id == CancellationRequest.requested_by_id)
    .where(CancellationRequest.parent_id.is_(None))
    .order_by(CancellationRequest.created_at.desc(), CancellationRequest.id.desc())
)


_CANCELLATIONS_PAGE = paged(_CANCELLATIONS)  # the unfiltered page, built once


def _cancellations_statement(filters: CancellationFilters) -> Select:
    """Top-level requests (cancellations and rescissions, not a rescission's items) matching `filters`."""
    statement = _period(_CANCELLATIONS, CancellationRequest.created_at, filters.date_from, filters.date_to)
    if filters.organization:
        statement = statement.where(Organization.matching(filters.organization))
    if filters.category:
        statement = statement.where(CancellationRequest.category == filters.category)
    if filters.user:
        text = filters.user.lower()
        statement = statement.where(or_(func.lower(User.email).contains(text, autoescape=True),
                                        func.lower(User.name).contains(text, autoescape=True)))
    return statement


@dataclass
class MonthlyChart:
    """Cancellations per month (São Paulo) and category: `months` are first days; `series` one per category."""

    months: list[date]
    series: list[tuple[str, str, list[int]]]  # (category, label, count per month)

    @property
    def month_labels(self) -> list[str]:
        return [f"{month:%m/%Y}" for month in self.months]

    @property
    def totals(self) -> list[int]:
        return [sum(counts) for counts in zip(*(s[2] for s in self.series), strict=True)] if self.series else []

    @property
    def total(self) -> int:
        return sum(self.totals)

    def chart_config(self) -> dict[str, Any]:
        """What static/js/charts.js draws (a stacked bar chart), as JSON for a data-* attribute."""
        return {
            "type": "bar",
            "stacked": True,
            "labels": self.month_labels,
            "datasets": [{"label": label, "data": counts} for _category, label, counts in self.series],
            "yTitle": _("Cancelamentos"),
        }


def _first_of_month(day: date, back: int = 0) -> date:
    months = day.year * 12 + day.month - 1 - back
    return date(months // 12, months % 12 + 1, 1)


_MONTHLY = select(CancellationRequest.created_at, CancellationRequest.category).where(
    CancellationRequest.parent_id.is_(None),
    CancellationRequest.status != CancellationStatus.WITHDRAWN,
    CancellationRequest.created_at >= bindparam("since", type_=CancellationRequest.created_at.type),
    CancellationRequest.created_at < bindparam("until", type_=CancellationRequest.created_at.type),
)


def monthly_by_category(*, today: date, months: int = 12) -> MonthlyChart:
    """Cancellations and rescissions (each counted once, withdrawn ones left out) per month of the last
    `months` months up to `today`'s month, per reason category."""
    first = _first_of_month(today, months - 1)
    axis = [_first_of_month(today, back) for back in range(months - 1, -1, -1)]
    rows = db.session.execute(_MONTHLY, {"since": business_midnight(first),
                                         "until": business_midnight(_first_of_month(today, -1))}).all()
    index = {month: n for n, month in enumerate(axis)}
    counts = {category: [0] * months for category in ReasonCategory}
    for created_at, category in rows:
        month = clock.to_business(created_at).date().replace(day=1)
        if month in index and category in counts:
            counts[ReasonCategory(category)][index[month]] += 1
    return MonthlyChart(axis, [(str(c), str(REASON_LABELS[c]), counts[c]) for c in ReasonCategory])


@dataclass
class CancellationsPage:
    rows: list[CancellationRow]
    has_next: bool
    chart: MonthlyChart


def cancellations_page(filters: CancellationFilters, *, page: int, per_page: int, today: date) -> CancellationsPage:
    """"Auditoria de cancelamentos": one page of requests, newest first, and the 12-month chart."""
    statement = _cancellations_statement(filters)
    one_page = _CANCELLATIONS_PAGE if statement is _CANCELLATIONS else paged(statement)
    found = list(db.session.scalars(one_page, page_window(page, per_page)))
    return CancellationsPage(rows=_rows(found[:per_page], with_children=True), has_next=len(found) > per_page,
                             chart=monthly_by_category(today=today))


@dataclass
class CancellationDetail:
    row: CancellationRow
    parent: CancellationRow | None  # the rescission a row belongs to
    events: list[AuditEvent]  # the audit events of the action, oldest first


def cancellation_detail(request_id: int) -> CancellationDetail | None:
    """One request with everything: its rescission items, its orders, and the audit events of the action."""
    request = db.session.get(CancellationRequest, request_id)
    if request is None:
        return None
    [row] = _rows([request], with_children=True)
    parent = None
    if request.parent_id is not None:
        parent_request = db.session.get(CancellationRequest, request.parent_id)
        if parent_request is not None:
            [parent] = _rows([parent_request], with_children=False)
    return CancellationDetail(row=row, parent=parent, events=_events_of(row, parent))


def _events_of(row: CancellationRow, parent: CancellationRow | None) -> list[AuditEvent]:
    """The action's events: the cancellation's (its items' and rescission's), its quote's and orders' at any time,
    and those about its subscriptions and organization written with it."""
    rows = [row, *row.children, *([parent] if parent else [])]
    requests = [r.request for r in rows]
    subjects = {f"cancellation:{r.id}" for r in requests}
    subjects |= {f"quote:{r.quote_id}" for r in requests if r.quote_id}
    subjects |= {f"order:{o.id}" for r in [row, *row.children] for o in r.orders}
    nearby = {f"subscription:{r.subscription_id}" for r in requests if r.subscription_id}
    nearby.add(f"organization:{row.request.organization_id}")
    # Written with the request, or with its withdrawal (the subscriptions' renewals restored).
    moments = [row.request.created_at, *([row.request.withdrawn_at] if row.request.withdrawn_at else [])]
    return list(db.session.scalars(
        select(AuditEvent).where(or_(
            AuditEvent.subject.in_(subjects),
            *(AuditEvent.subject.in_(nearby) & AuditEvent.created_at.between(moment - EVENT_WINDOW,
                                                                             moment + EVENT_WINDOW)
              for moment in moments),
        )).order_by(AuditEvent.seq)
    ))


# ---------------------------------------------------------------- CSV export

CSV_HEADER = (
    _l("Nº"), _l("Tipo"), _l("Rescisão nº"), _l("Situação"), _l("Data e hora (São Paulo)"), _l("Organização"),
    _l("CNPJ"), _l("Usuário"), _l("E-mail"), _l("Papéis na época"), _l("IP"), _l("Categoria"), _l("Motivo"),
    _l("Produto"), _l("Quantidade antes"), _l("Quantidade depois"), _l("Termina em"), _l("Crédito (R$)"),
    _l("Resultado no provedor"), _l("Erro do provedor"), _l("Retirada em"),
)
# A cell starting with one of these is a formula to a spreadsheet: customer-typed text gets a leading
# apostrophe so Excel shows it as text instead of running it (CSV injection).
def csv_money(centavos: int) -> str:
    """123456 → "1234,56": a number spreadsheets in Portuguese read (comma decimal, no thousands separator)."""
    sign = "-" if centavos < 0 else ""
    reais, cents = divmod(abs(centavos), 100)
    return f"{sign}{reais},{cents:02d}"


def csv_datetime(moment: datetime | None) -> str:
    return f"{clock.to_business(moment):%d/%m/%Y %H:%M}" if moment else ""


def _csv_line(row: CancellationRow, parent: CancellationRow | None) -> list[str]:
    request, requester = row.request, row.requester
    result = row.result
    quantity = lambda value: "" if value is None else str(value)  # noqa: E731
    return [
        str(request.id), row.kind_label, str(parent.request.id) if parent else "",
        _("retirada") if row.withdrawn else _("em vigor"), csv_datetime(request.created_at),
        spreadsheet_text(row.organization.legal_name), cnpj.format(row.organization.cnpj),
        spreadsheet_text(requester.name if requester else ""), spreadsheet_text(requester.email if requester else ""),
        row.roles,
        request.ip or "", request.category_label, spreadsheet_text(request.reason), spreadsheet_text(row.product_name),
        quantity(request.quantity_before), quantity(request.quantity_after),
        f"{request.ends_on:%d/%m/%Y}" if request.ends_on else "", csv_money(row.credit_cents),
        result.label, spreadsheet_text(" | ".join(result.errors)),
        csv_datetime(request.withdrawn_at),
    ]


def cancellations_csv(filters: CancellationFilters) -> bytes:
    """Every request matching `filters` (a rescission followed by its items) as CSV for Excel in Portuguese:
    UTF-8 with a BOM, `;` between fields, quotes only where needed, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([str(title) for title in CSV_HEADER])
    for row in _rows(list(db.session.scalars(_cancellations_statement(filters))), with_children=True):
        writer.writerow(_csv_line(row, None))
        for child in row.children:
            writer.writerow(_csv_line(child, row))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# ---------------------------------------------------------------- the audit trail

def compact_json(value: Any) -> str:
    """One line of JSON; the space after each comma and colon lets a narrow table column wrap it."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)


class TrailRow(NamedTuple):
    """One event of "Trilha de auditoria", as the page shows it."""

    seq: int
    created_at: datetime
    tag: str
    actor_label: str
    organization_id: int | None
    organization_name: str | None  # its razão social; None: no organization, or one that no longer exists
    subject: str | None
    ip: str | None
    before: str  # compact_json of the event's `before` ("" for none)
    after: str


@dataclass
class TrailPage:
    rows: list[TrailRow]
    has_next: bool
    chain_length: int  # events in the chain (what a verification walks)


_TRAIL = (select(AuditEvent.seq, AuditEvent.created_at, AuditEvent.tag, AuditEvent.actor_label,
                 AuditEvent.organization_id, Organization.legal_name, AuditEvent.subject, AuditEvent.ip,
                 AuditEvent.before, AuditEvent.after)
          .outerjoin(Organization, Organization.id == AuditEvent.organization_id)
          .order_by(AuditEvent.seq.desc()))
_CHAIN_LENGTH = select(AuditChainHead.length).where(AuditChainHead.id == 1)
_TRAIL_PAGE = paged(_TRAIL)  # the unfiltered trail: built once


def trail_page(filters: TrailFilters, *, page: int, per_page: int) -> TrailPage:
    """"Trilha de auditoria": one page of events matching `filters`, newest first, each with its organization's
    name (one statement, rows rather than ORM objects), and the chain's length."""
    statement = _TRAIL
    if filters.tag:
        tag = filters.tag
        if tag.endswith(":") or tag.count(":") < 2:  # an area ("billing") or area:subject: every tag under it
            statement = statement.where(AuditEvent.tag.startswith(tag.rstrip(":") + ":", autoescape=True))
        else:
            statement = statement.where(AuditEvent.tag == tag)
    if filters.organization:
        statement = statement.where(Organization.matching(filters.organization))
    if filters.actor:
        statement = statement.where(
            func.lower(AuditEvent.actor_label).contains(filters.actor.lower(), autoescape=True))
    statement = _period(statement, AuditEvent.created_at, filters.date_from, filters.date_to)
    if filters.up_to_seq is not None:
        statement = statement.where(AuditEvent.seq <= filters.up_to_seq)
    one_page = _TRAIL_PAGE if statement is _TRAIL else paged(statement)
    events = db.session.connection().execute(one_page, page_window(page, per_page)).all()
    rows = [TrailRow(seq, created_at, tag, actor, organization_id, name, subject, ip, compact_json(before),
                     compact_json(after))
            for seq, created_at, tag, actor, organization_id, name, subject, ip, before, after in events[:per_page]]
    length = db.session.scalar(_CHAIN_LENGTH) or 0
    return TrailPage(rows=rows, has_next=len(events) > per_page, chain_length=length)


@dataclass
class ChainStatus:
    ok: bool
    checked: int  # events verified (before the broken one, when broken)
    broken_seq: int | None
    reason: str  # translated


def _reason(english: str, seq: int | None, checkpoint: str | None = None) -> str:
    """verify()'s reasons (English, as `flask audit verify` prints them) in the UI language."""
    if checkpoint is not None:
        if english.startswith("events after"):
            return _("eventos posteriores ao último foram apagados: o ponto de controle %(checkpoint)s foi feito "
                     "depois dele", checkpoint=checkpoint)
        if "does not match checkpoint" in english:
            return _("o evento não confere com o ponto de controle assinado %(checkpoint)s", checkpoint=checkpoint)
        return _("o ponto de controle %(checkpoint)s não confere: assinatura inválida, chave desconhecida ou conteúdo "
                 "alterado", checkpoint=checkpoint)
    if "plain (unkeyed)" in english:
        return _("um evento sem chave aparece depois que a trilha passou a usar chave secreta")
    if "with no switch event" in english:
        return _("o evento usa uma chave sem o evento de troca de chave antes dele")
    if "out of place" in english:
        return _("evento de troca de chave fora do lugar")
    if english.startswith("no key"):
        return _("falta a chave antiga para verificar este evento")
    if "missing" in english:
        return _("o evento %(seq)d não existe (foi apagado)", seq=seq or 0)
    if "link" in english:
        return _("o vínculo com o evento anterior não confere")
    if "content" in english:
        return _("o conteúdo não confere com o hash gravado")
    if "removed" in english:
        return _("eventos posteriores ao último foram apagados")
    return english


def verify_chain() -> ChainStatus:
    """Walk the whole chain with the same check as `flask --app wsgi audit verify`."""
    result = verify()
    return ChainStatus(result.ok, result.checked, result.broken_seq,
                       "" if result.ok else _reason(result.reason, result.broken_seq, result.checkpoint))
