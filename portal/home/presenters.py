"""What the home's cards show, built once for both ways a card is shown: inside the home page (`accounts.home`,
rendered server-side) and alone at its own route (`portal/home/views.py`). Each card is a frozen value its template
reads as `card`, rendered as a fragment (`portal/shared/fragments.py`): the same values give the HTML rendered
before. `home_page` renders the cards the user's permissions allow, from values kept until the organization's data
changes (`portal/shared/data_versions.py`), so a home whose numbers did not change costs one query, not fifteen."""

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from flask_babel import format_date
from markupsafe import Markup

from portal.accounts.models import Organization
from portal.accounts.roles import Permission
from portal.budgets.service import BudgetStatus, budget_status
from portal.home import service
from portal.shared import data_versions
from portal.shared.fragments import render_fragment
from portal.subscriptions.renewal_calendar import RenewalRow, upcoming_renewals
from portal.support.presenters import LABELS as TICKET_LABELS
from portal.support.service import SlaTargets, first_response_label, resolution_label, ticket_clocks

# Which permission shows which card (the cards' routes declare the same ones).
CARD_PERMISSIONS = {
    "billing": Permission.BILLING_READ,  # Master, Cobrança
    "spend": Permission.BILLING_READ,
    "licences": Permission.LICENSES_MANAGE,  # Master, Adm (Cobrança reads licences but does not manage them)
    "tickets": Permission.TICKETS_MANAGE,  # Master, Suporte
}


def month_label(month: date) -> str:
    """"12/2026": the month as the invoices' competência is written."""
    return format_date(month, "MM/yyyy")


class NextInvoice(NamedTuple):
    """The next invoice's estimate (`service.next_invoice`, the billing rules' draft) in the values the card shows."""

    billing_date: date
    subtotal_cents: int
    credit_cents: int
    total_cents: int


@dataclass(frozen=True)
class BillingCard:
    """"Faturas e pagamentos": what we pay a month, the next invoice's estimate, the open and overdue invoices."""

    recurring: service.RecurringTotals
    next: NextInvoice
    invoices: tuple[service.OpenInvoice, ...]
    open_count: int
    today: date


@dataclass(frozen=True)
class SpendCard:
    """"Gastos dos últimos 12 meses": the chart, and the same numbers as a table."""

    spend: service.Spend

    @property
    def month_labels(self) -> list[str]:
        return [month_label(m) for m in self.spend.months]

    @property
    def has_adjustments(self) -> bool:
        return any(self.spend.adjustments)

    @property
    def chart(self) -> dict[str, Any]:
        """The `data-chart` of static/js/charts.js: a stacked bar per month, a colour per family, in centavos."""
        return {"type": "bar", "stacked": True, "money": True, "labels": self.month_labels,
                "datasets": [{"label": family, "data": list(values)}
                             for family, values in zip(self.spend.families, self.spend.by_family, strict=True)]}


@dataclass(frozen=True)
class LicencesCard:
    """"Licenças e pedidos": licences by family, what changed lately, orders not done, the next renewals."""

    families: tuple[service.FamilyLicences, ...]
    changes: tuple[service.RecentChange, ...]
    change_days: int
    orders: tuple[service.OrderRow, ...]
    renewals: tuple[RenewalRow, ...]  # "Renovações"' rows (subscriptions.renewal_calendar)

    def at(self, now: datetime) -> "LicencesCard":
        """The card as it reads at `now`, from a card built earlier the same day: the changes still inside the
        last `change_days`, each renewal's decision and windows as open as they are now (a window only closes with
        time, a decision only ends), exactly what building it at `now` gives."""
        since = now - timedelta(days=self.change_days)
        return dataclasses.replace(
            self, changes=tuple(change for change in self.changes if change.created_at >= since),
            renewals=tuple(row.at(now) for row in self.renewals))

    @property
    def chart(self) -> dict[str, Any]:
        return {"type": "bar", "legend": False, "labels": [f.family for f in self.families],
                "datasets": [{"label": "", "data": [f.licences for f in self.families]}]}


class TicketRow(NamedTuple):
    id: int
    subject: str
    status: str
    priority: str
    created_at: datetime
    first_label: str  # as the ticket pages word the clocks (support.service)
    first_late: bool
    resolution_label: str
    resolution_late: bool


@dataclass(frozen=True)
class TicketsCard:
    """"Chamados abertos": the open tickets with their first-response and resolution clocks."""

    rows: tuple[TicketRow, ...]
    count: int


def billing_card(organization: Organization, today: date, rows=None) -> BillingCard:
    rows = service.licence_rows(organization) if rows is None else rows
    invoices, open_count = service.open_invoices(organization.id, today)
    draft = service.next_invoice(organization, today)
    return BillingCard(recurring=service.recurring_totals(rows),
                       next=NextInvoice(draft.billing_date, draft.subtotal_cents, draft.credit_cents,
                                        draft.total_cents),
                       invoices=tuple(invoices), open_count=open_count, today=today)


def spend_card(organization: Organization, today: date) -> SpendCard:
    return SpendCard(service.spend_last_12_months(organization.id, today))


RENEWAL_DAYS = 60  # the home lists renewals of terms of a year or more this close ("Renovações" has them all)


def licences_card(organization: Organization, today: date, now: datetime, rows=None) -> LicencesCard:
    rows = service.licence_rows(organization) if rows is None else rows
    return LicencesCard(
        families=tuple(service.licences_by_family(rows)),
        changes=tuple(service.recent_changes(organization.id, now - timedelta(days=service.RECENT_CHANGE_DAYS))),
        change_days=service.RECENT_CHANGE_DAYS,
        orders=tuple(service.unfinished_orders(organization.id)),
        renewals=tuple(upcoming_renewals(organization, today, days=RENEWAL_DAYS)[:service.LIST_LIMIT]),
    )


def tickets_card(organization: Organization, now: datetime, targets: SlaTargets,
                 open_tickets: tuple[list, int] | None = None) -> TicketsCard:
    """The card from `service.open_tickets` (the rows and the count; read here unless given), the clocks at `now`."""
    tickets, count = service.open_tickets(organization.id) if open_tickets is None else open_tickets
    rows = []
    for ticket in tickets:
        first, resolution = ticket_clocks(ticket, targets=targets, now=now)
        rows.append(TicketRow(ticket.id, ticket.subject, ticket.status, ticket.priority, ticket.created_at,
                              first_response_label(first), first.late, resolution_label(resolution),
                              resolution.late))
    return TicketsCard(tuple(rows), count)


TEMPLATES = {BillingCard: "home/_card_billing.html", SpendCard: "home/_card_spend.html",
             LicencesCard: "home/_card_licences.html", TicketsCard: "home/_card_tickets.html"}


def _ticket_words() -> dict[str, Any]:
    return {"labels": TICKET_LABELS}


def render_card(card) -> Markup:
    """A card's HTML (the fragment cache's, when the same values were rendered before in this process)."""
    return render_fragment(TEMPLATES[type(card)], {"card": card},
                           _ticket_words if isinstance(card, TicketsCard) else None)


@dataclass(frozen=True)
class Home:
    cards: dict[str, Markup]  # the cards the user's permissions allow, rendered, by name
    budget: BudgetStatus | None  # the month's spend against the budget, for who sees invoices when one is set


def home_page(organization: Organization, permissions: Collection[str], *, today: date, now: datetime,
              targets: SlaTargets) -> Home:
    """The home's cards the user's permissions allow (a Master gets every one), and the budget (portal/budgets/).

    What they read is kept per process until the organization's data (or the catalog) changes (`data_versions`:
    one query for the versions, then none on a home whose data did not change); the values that move with the
    clock alone (SLA clocks, "decidir até", the 168 h windows, the last 30 days' changes) are worked out again from
    the kept rows at `now`."""
    shown = {name for name, permission in CARD_PERMISSIONS.items() if permission in permissions}
    versions = data_versions.tokens(organization.id)

    def kept(name: str, compute):
        return data_versions.cached(versions, ("home", name, organization.id, today), compute)

    rows: list = []

    def licence_rows():  # read once for both cards that need them, and only on a miss
        if not rows:
            rows.append(service.licence_rows(organization))
        return rows[0]

    cards: dict[str, Any] = {}
    if "billing" in shown:
        cards["billing"] = kept("billing", lambda: billing_card(organization, today, licence_rows()))
        cards["spend"] = kept("spend", lambda: spend_card(organization, today))
    if "licences" in shown:
        cards["licences"] = kept("licences", lambda: licences_card(organization, today, now, licence_rows())).at(now)
    if "tickets" in shown:
        tickets = kept("tickets", lambda: service.open_tickets(organization.id))
        cards["tickets"] = tickets_card(organization, now, targets, tickets)
    budget = kept("budget", lambda: budget_status(organization, today)) if "billing" in shown else None
    return Home(cards={name: render_card(card) for name, card in cards.items()}, budget=budget)
