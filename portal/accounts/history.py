"""The customer's "Histórico": an organization's audit events told as sentences in the reader's language.

Staff keep the technical record (tags, JSON, hashes) in the backoffice's audit trail; a customer's Master reads
here what was done, by whom and when: "Marina Master aumentou Microsoft 365 Business Basic de 3 para 5 licenças
(pró-rata R$ 48,77)". One describer per audit tag (`DESCRIBERS`); tags never written with an organization
(`NO_ORGANIZATION`) never reach this page, and staff-side work (`STAFF_ONLY`: pipeline notes, co-sell,
assignment) is left out of it. tests/accounts/test_history.py fails for a tag in none of the three.

A page reads its events in one statement and what the sentences name (people, products, orders, invoices) in
at most four more, whatever the number of events. Amounts are formatted with format_money, dates with
format_date / format_datetime; no hash, centavo count or provider message is ever shown.
"""

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import Integer, Select, bindparam, select
from sqlalchemy.sql.elements import BindParameter

from portal.accounts.models import Membership, User
from portal.accounts.roles import ROLE_LABELS, Role
from portal.billing.models import PAYMENT_METHOD_LABELS, Invoice, display_number
from portal.cancellations.models import REASON_LABELS
from portal.catalog.models import Product
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import AUDIT_TAG_LABELS, AuditEvent
from portal.shared.audit import AuditTag as T
from portal.shared.formatting import format_date, format_datetime, format_money, spreadsheet_text
from portal.shared.paging import page_window, paged
from portal.subscriptions.models import Order, OrderKind, Subscription
from portal.support.models import TICKET_STATUS_LABELS

PER_PAGE = 50
MAX_PAGE = 100_000  # 5 million events back; a larger ?pagina= would overflow the database's OFFSET
EXPORT_BATCH = 500  # events described per round of look-ups in the CSV export

# The kinds a Master can filter by: the area part of the tag (`area:subject:action`).
AREAS: dict[str, Any] = {
    "accounts": _l("Acessos e usuários"),
    "subscriptions": _l("Licenças e pedidos"),
    "cancellations": _l("Cancelamentos e rescisão"),
    "billing": _l("Faturas e pagamentos"),
    "agreements": _l("Contrato"),
    "support": _l("Chamados"),
    "offers": _l("Ofertas de compra"),
    "onboarding": _l("Contratação"),
    "budgets": _l("Orçamento"),
    "webhooks": _l("Integrações"),
    "approvals": _l("Aprovações de compras"),
    "integrations": _l("Integrações"),
}

# Written without an organization (the user's own security, the catalog, staff accounts, the contracting before
# the organization exists, internal ticket notes): never in a customer's history.
NO_ORGANIZATION = frozenset({
    T.TWO_FACTOR_FAILED, T.TWO_FACTOR_ENABLED, T.TWO_FACTOR_DISABLED, T.RECOVERY_CODE_USED,
    T.RECOVERY_CODES_REGENERATED, T.PASSWORD_RESET_REQUESTED, T.PASSWORD_RESET, T.PASSWORD_CHANGED,
    T.PASSWORD_RESET_THROTTLED,
    T.PROFILE_UPDATED, T.STAFF_USER_CREATED, T.CATALOG_FAMILY_CREATED, T.CATALOG_FAMILY_UPDATED,
    T.CATALOG_PRODUCT_CREATED, T.CATALOG_PRODUCT_UPDATED, T.CATALOG_PRICE_ADDED, T.AGREEMENT_PUBLISHED,
    T.TICKET_NOTE_ADDED, T.OPPORTUNITY_CREATED, T.CONTRACT_SENT_FOR_SIGNATURE, T.CONTRACT_SIGNED,
    T.REMESSA_GENERATED, T.RETORNO_IMPORTED,  # the bank's files: every organization's boletos at once
    T.BILLING_EXCEPTION_RESOLVED,  # finance's reconciliation work (the exception names the invoice, if any)
    T.DUNNING_SCHEDULE_CHANGED,  # finance's régua de cobrança: every organization's reminders
    T.AUDIT_CHAIN_KEYED, T.AUDIT_CHAIN_KEY_ROTATED,  # the audit chain's own key switches (portal/shared/audit.py)
})

# Staff's own work on the organization, kept for the backoffice: the pipeline's notes and stages, the Teams card,
# co-sell deals with Microsoft, a draft offer, who in our team handles a ticket, the documents job, the bank's
# confirmation that a boleto is registered (the invoice page shows it).
STAFF_ONLY = frozenset({
    T.OPPORTUNITY_UPDATED, T.OPPORTUNITY_STAGE_CHANGED, T.HANDOVER_POSTED, T.DEAL_CREATED, T.DEAL_UPDATED,
    T.DEAL_STAGE_CHANGED, T.OFFER_CREATED, T.TICKET_ASSIGNED, T.INVOICE_DOCUMENTS_GENERATED, T.BOLETO_REGISTERED,
    T.INVOICE_DRAFT_LINE_EDITED, T.INVOICE_DRAFT_DISCOUNTED, T.INVOICE_DRAFT_APPROVED,  # drafts: never customers'
})
_HIDDEN = sorted(str(tag) for tag in STAFF_ONLY)


# ---------------------------------------------------------------- filters

@dataclass
class HistoryFilters:
    """The page's filters once read; a value that could not be read is None and explained in `errors`."""

    area: str | None = None  # a key of AREAS
    date_from: date | None = None  # business dates (São Paulo), both inclusive
    date_to: date | None = None
    raw: dict[str, str] = field(default_factory=dict)  # what was typed, shown back in the form
    errors: dict[str, str] = field(default_factory=dict)  # field name → translated message

    def query_args(self) -> dict[str, str]:
        """The filters as URL arguments (for the pager and the CSV link): only what was understood."""
        args = {}
        if self.area:
            args["tipo"] = self.area
        if self.date_from:
            args["de"] = self.date_from.isoformat()
        if self.date_to:
            args["ate"] = self.date_to.isoformat()
        return args


_BR_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _read_date(text: str) -> date | None:
    """2026-03-25 (a date field) or 25/03/2026 (typed); None when it is neither or no such day."""
    try:
        if _BR_DATE.fullmatch(text):
            day, month, year = (int(part) for part in _BR_DATE.fullmatch(text).groups())
            return date(year, month, day)
        if text.isascii() and len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        return None
    return None


def parse_filters(args: Mapping[str, str]) -> HistoryFilters:
    """Read `tipo`, `de` and `ate` from `args` (request.args). Never raises: a value that cannot be read is
    left out of the filter and explained; the rest still applies."""
    raw = {name: (args.get(name) or "").strip()[:40] for name in ("tipo", "de", "ate")}
    filters = HistoryFilters(raw=raw)
    if raw["tipo"]:
        if raw["tipo"] in AREAS:
            filters.area = raw["tipo"]
        else:
            filters.errors["tipo"] = _("Tipo de evento desconhecido: mostrando todos os tipos.")
    for name, attribute in (("de", "date_from"), ("ate", "date_to")):
        if raw[name]:
            found = _read_date(raw[name])
            if found is None or not date(2000, 1, 1) <= found <= date(2999, 12, 31):
                filters.errors[name] = _("“%(value)s” não é uma data: use o formato dd/mm/aaaa, como 25/03/2026.",
                                         value=raw[name])
            else:
                setattr(filters, attribute, found)
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        filters.errors["ate"] = _("A data final (%(to)s) é anterior à inicial (%(start)s): mostrando a partir de "
                                  "%(start)s.", to=format_date(filters.date_to), start=format_date(filters.date_from))
        filters.date_to = None
    return filters


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


def _statement(organization_id: int | BindParameter, filters: HistoryFilters) -> Select:
    statement = select(AuditEvent).where(AuditEvent.organization_id == organization_id,
                                         AuditEvent.tag.not_in(_HIDDEN))
    if filters.area:
        statement = statement.where(AuditEvent.tag.startswith(f"{filters.area}:", autoescape=True))
    if filters.date_from:
        statement = statement.where(AuditEvent.created_at >= _midnight(filters.date_from))
    if filters.date_to:
        statement = statement.where(AuditEvent.created_at < _midnight(filters.date_to + timedelta(days=1)))
    return statement.order_by(AuditEvent.seq.desc())


# The page without filters, built once (a statement built per request costs as much again as running it).
_UNFILTERED_PAGE = paged(_statement(bindparam("organization_id", type_=Integer), HistoryFilters()))


# ---------------------------------------------------------------- what the sentences name

def _id_of(subject: str | None, kind: str) -> int | None:
    """`subscription:12` → 12 when the subject is of `kind`."""
    if not subject or not subject.startswith(kind + ":"):
        return None
    number = subject[len(kind) + 1:]
    return int(number) if number.isdigit() and int(number) < 2**31 else None


def _ints(values: Iterable[Any]) -> set[int]:
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31}


@dataclass
class Names:
    """What a batch of events names, read in one statement per kind (ids outside the organization find nothing)."""

    users: dict[int, User] = field(default_factory=dict)
    members: dict[int, str] = field(default_factory=dict)  # membership id → the person's name
    products: dict[int, str] = field(default_factory=dict)  # subscription id → product name
    orders: dict[int, tuple[str, int, str]] = field(default_factory=dict)  # order id → (product, quantity, kind)
    invoices: dict[int, str] = field(default_factory=dict)  # invoice id → its number


# What the sentences name, each read in one statement built once (parameters `ids`, `organization_id`).
_IDS, _ORGANIZATION = bindparam("ids", expanding=True), bindparam("organization_id", type_=Integer)
_USERS = select(User).where(User.id.in_(_IDS))
_MEMBERS = (select(Membership.id, User.name).join(User, User.id == Membership.user_id)
            .where(Membership.id.in_(_IDS), Membership.organization_id == _ORGANIZATION))
_PRODUCTS = (select(Subscription.id, Product.name).join(Product, Product.id == Subscription.product_id)
             .where(Subscription.id.in_(_IDS), Subscription.organization_id == _ORGANIZATION))
_ORDERS = (select(Order.id, Order.quantity, Order.kind, Product.name)
           .join(Subscription, Subscription.id == Order.subscription_id)
           .join(Product, Product.id == Subscription.product_id)
           .where(Order.id.in_(_IDS), Order.organization_id == _ORGANIZATION))
_INVOICES = (select(Invoice.id, Invoice.series, Invoice.year, Invoice.number)
             .where(Invoice.id.in_(_IDS), Invoice.organization_id == _ORGANIZATION))


def _names(events: list[AuditEvent], organization_id: int) -> Names:
    names = Names()

    def read(statement: Select, ids: set[int]):
        return db.session.execute(statement, {"ids": sorted(ids), "organization_id": organization_id})

    user_ids = _ints(e.actor_id for e in events)
    if user_ids:
        names.users = {u.id: u for u in read(_USERS, user_ids).scalars()}
    member_ids = _ints(_id_of(e.subject, "membership") for e in events)
    if member_ids:
        names.members = dict(read(_MEMBERS, member_ids).all())
    subscription_ids = _ints([_id_of(e.subject, "subscription") for e in events]
                             + [(e.after or {}).get("subscription_id") for e in events if isinstance(e.after, dict)])
    if subscription_ids:
        names.products = dict(read(_PRODUCTS, subscription_ids).all())
    order_ids = _ints(_id_of(e.subject, "order") for e in events)
    if order_ids:
        names.orders = {row.id: (row.name, row.quantity, row.kind) for row in read(_ORDERS, order_ids)}
    invoice_ids = _ints(_id_of(e.subject, "invoice") for e in events)
    if invoice_ids:
        names.invoices = {row.id: display_number(row.series, row.year, row.number)
                          for row in read(_INVOICES, invoice_ids)}
    return names


# ---------------------------------------------------------------- one event, told

@dataclass(frozen=True)
class HistoryLine:
    """One event as the customer reads it (on the page and in the CSV)."""

    seq: int
    created_at: datetime
    actor: str  # the person's name; "Portal" for what the system did
    area: str  # the kind, translated
    sentence: str


@dataclass(frozen=True)
class Event:
    """An event with what its describer needs: before/after as dicts, who did it, the looked-up names."""

    row: AuditEvent
    before: dict
    after: dict
    who: str  # subject of the sentence: "Marina Master", "Fábio Financeiro (nossa equipe)", "O portal"
    names: Names

    def subject_id(self, kind: str) -> int | None:
        return _id_of(self.row.subject, kind)

    def product(self) -> str:
        """The product of the event's subscription (subject or after.subscription_id)."""
        subscription_id = self.subject_id("subscription") or self.after.get("subscription_id")
        found = self.names.products.get(subscription_id) if isinstance(subscription_id, int) else None
        return found or str(self.after.get("product") or _("uma assinatura"))

    def order(self) -> tuple[int, str]:
        """The order's number and what it is about: "Microsoft 365 Business Basic, 5 licenças"."""
        order_id = self.subject_id("order") or 0
        found = self.names.orders.get(order_id)
        if found is None:
            return order_id, _("licenças")
        product, quantity, kind = found
        if kind == OrderKind.RENEWAL_QUANTITY:
            return order_id, ngettext("%(product)s, %(num)d licença a partir da renovação",
                                      "%(product)s, %(num)d licenças a partir da renovação", quantity, product=product)
        return order_id, ngettext("%(product)s, %(num)d licença", "%(product)s, %(num)d licenças", quantity,
                                  product=product)

    def invoice(self) -> str:
        return str(self.after.get("number") or self.before.get("number")
                   or self.names.invoices.get(self.subject_id("invoice") or 0) or _("sem número"))


def _money(value: Any) -> str:
    return format_money(abs(int(value))) if isinstance(value, int) and not isinstance(value, bool) else ""


def _day(value: Any) -> str:
    """An ISO date (or datetime) string of a payload, shown as a date."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return format_date(datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value[:10]))
    except ValueError:
        return ""


def _roles(value: Any) -> str:
    names = value if isinstance(value, list) else str(value or "").split(",")
    labels = []
    for name in names:
        try:
            labels.append(str(ROLE_LABELS[Role(str(name).strip())]))
        except ValueError:
            continue
    return ", ".join(labels) or _("nenhum papel")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _reason(e: Event) -> str:
    category, reason = e.after.get("category"), e.after.get("reason") or ""
    label = str(REASON_LABELS.get(category, "")) if category else ""
    if label and reason:
        return " " + _("Motivo: %(category)s — %(reason)s", category=label, reason=reason)
    if label or reason:
        return " " + _("Motivo: %(reason)s", reason=label or reason)
    return ""


# accounts

def _login_succeeded(e: Event) -> str:
    if e.after.get("method") == "microsoft":
        return _("%(who)s entrou no portal com a conta Microsoft.", who=e.who)
    return _("%(who)s entrou no portal.", who=e.who)


def _login_failed(e: Event) -> str:
    return _("Tentativa de entrada recusada para %(email)s.",
             email=e.after.get("email") or _("um usuário"))


def _logout(e: Event) -> str:
    return _("%(who)s saiu do portal.", who=e.who)


def _invitation_sent(e: Event) -> str:
    return _("%(who)s convidou %(email)s com o papel %(roles)s.", who=e.who, email=e.after.get("email", ""),
             roles=_roles(e.after.get("roles")))


def _invitation_resent(e: Event) -> str:
    return _("%(who)s reenviou o convite para %(email)s.", who=e.who, email=e.after.get("email", ""))


def _invitation_accepted(e: Event) -> str:
    return _("%(who)s aceitou o convite e passou a usar o portal.", who=e.who)


def _member(e: Event) -> str:
    return e.names.members.get(e.subject_id("membership") or 0) or _("um usuário")


def _roles_changed(e: Event) -> str:
    return _("%(who)s mudou os papéis de %(member)s de %(before)s para %(after)s.", who=e.who, member=_member(e),
             before=_roles(e.before.get("roles")), after=_roles(e.after.get("roles")))


def _membership_deactivated(e: Event) -> str:
    return _("%(who)s desativou o acesso de %(member)s.", who=e.who, member=_member(e))


def _sessions_ended(e: Event) -> str:
    count = _count(e.after.get("sessions"))
    if e.after.get("reason") == "deactivated":
        return ngettext("Com o acesso desativado, a sessão aberta desse usuário foi encerrada.",
                        "Com o acesso desativado, as %(num)d sessões abertas desse usuário foram encerradas.", count)
    return _("%(who)s saiu de todos os dispositivos.", who=e.who)


def _membership_reactivated(e: Event) -> str:
    return _("%(who)s reativou o acesso de %(member)s.", who=e.who, member=_member(e))


def _organization_created(e: Event) -> str:
    return _("%(who)s cadastrou a organização %(name)s.", who=e.who, name=e.after.get("legal_name", ""))


def _security_changed(e: Event) -> str:
    if e.after.get("require_2fa"):
        return _("%(who)s passou a exigir a verificação em duas etapas de todos os usuários.", who=e.who)
    return _("%(who)s deixou de exigir a verificação em duas etapas dos usuários.", who=e.who)


def _city_code_changed(e: Event) -> str:
    return _("%(who)s informou o código IBGE do município da organização: %(code)s.", who=e.who,
             code=e.after.get("city_code") or "—")


def _tenant_changed(e: Event) -> str:
    tenant = e.after.get("microsoft_tenant_id")
    if tenant:
        return _("%(who)s registrou o tenant Microsoft da organização: %(tenant)s.", who=e.who, tenant=tenant)
    return _("%(who)s removeu o tenant Microsoft da organização.", who=e.who)


# subscriptions and orders

def _quote_confirmed(e: Event) -> str:
    lines = [line for line in e.after.get("lines") or [] if isinstance(line, dict)]
    charge, credit = _count(e.after.get("charge_cents")), _count(e.after.get("credit_cents"))
    if e.after.get("kind") == "checkout":
        items = ", ".join(ngettext("%(num)d licença de %(product)s", "%(num)d licenças de %(product)s",
                                   _count(line.get("quantity")), product=line.get("product_name") or "")
                          for line in lines)
        sentence = _("%(who)s confirmou a compra de %(items)s.", who=e.who, items=items or _("novos produtos"))
    else:
        sentence = _("%(who)s confirmou uma alteração de quantidade de licenças.", who=e.who)
    if charge:
        sentence += " " + _("Pró-rata cobrado na próxima fatura: %(amount)s.", amount=format_money(charge))
    if credit:
        sentence += " " + _("Crédito para as próximas faturas: %(amount)s.", amount=format_money(credit))
    return sentence


def _quantity_increased(e: Event) -> str:
    sentence = _("%(who)s aumentou %(product)s de %(before)d para %(after)d licenças", who=e.who, product=e.product(),
                 before=_count(e.before.get("quantity")), after=_count(e.after.get("quantity")))
    charge = _count(e.after.get("charge_cents"))
    return sentence + (" " + _("(pró-rata %(amount)s).", amount=format_money(charge)) if charge else ".")


def _quantity_decreased(e: Event) -> str:
    sentence = _("%(who)s reduziu %(product)s de %(before)d para %(after)d licenças", who=e.who, product=e.product(),
                 before=_count(e.before.get("quantity")), after=_count(e.after.get("quantity")))
    credit = _count(e.after.get("credit_cents"))
    return sentence + (" " + _("(crédito de %(amount)s).", amount=format_money(credit)) if credit else ".")


def _decrease_scheduled(e: Event) -> str:
    return _("%(who)s agendou a redução de %(product)s para %(quantity)d licenças na renovação, em %(date)s.",
             who=e.who, product=e.product(), quantity=_count(e.after.get("renewal_quantity")),
             date=_day(e.after.get("on")))


def _next_term_scheduled(e: Event) -> str:
    quantity = _count(e.after.get("quantity"))
    return ngettext("%(who)s agendou para a renovação de %(product)s, em %(date)s: %(next)s com %(num)d licença.",
                    "%(who)s agendou para a renovação de %(product)s, em %(date)s: %(next)s com %(num)d licenças.",
                    quantity, who=e.who, product=e.product(), date=_day(e.after.get("on")),
                    next=str(e.after.get("next_product") or ""))


def _next_term_withdrawn(e: Event) -> str:
    return _("%(who)s retirou a mudança agendada para a renovação de %(product)s, em %(date)s.", who=e.who,
             product=e.product(), date=_day(e.after.get("on")))


def _subscription_purchased(e: Event) -> str:
    quantity = _count(e.after.get("quantity"))
    sentence = ngettext("%(who)s contratou %(num)d licença de %(product)s", "%(who)s contratou %(num)d licenças de "
                        "%(product)s", quantity, who=e.who, product=e.product())
    charge = _count(e.after.get("charge_cents"))
    return sentence + (" " + _("(pró-rata %(amount)s).", amount=format_money(charge)) if charge else ".")


def _subscription_reference_changed(e: Event) -> str:
    none = _("nenhum")
    return _("%(who)s alterou o pedido de compra e o centro de custo de %(product)s: pedido de compra %(po)s, "
             "centro de custo %(centre)s (antes: %(old_po)s, %(old_centre)s).", who=e.who, product=e.product(),
             po=e.after.get("purchase_order") or none, centre=e.after.get("cost_centre") or none,
             old_po=e.before.get("purchase_order") or none, old_centre=e.before.get("cost_centre") or none)


def _subscription_renewed(e: Event) -> str:
    return _("%(product)s foi renovada até %(date)s com %(quantity)d licenças.", product=e.product(),
             date=_day(e.after.get("term_end")), quantity=_count(e.after.get("quantity")))


def _order_created(e: Event) -> str:
    number, what = e.order()
    return _("Pedido nº %(number)d registrado (%(what)s).", number=number, what=what)


def _order_sent(e: Event) -> str:
    number, what = e.order()
    return _("Pedido nº %(number)d (%(what)s) enviado ao fornecedor; a alteração é refletida em até 30 minutos.",
             number=number, what=what)


def _order_done(e: Event) -> str:
    number, what = e.order()
    return _("Pedido nº %(number)d (%(what)s) concluído.", number=number, what=what)


def _order_retry_scheduled(e: Event) -> str:
    number, what = e.order()
    return _("O fornecedor não concluiu o pedido nº %(number)d (%(what)s) na tentativa %(attempt)d; uma nova "
             "tentativa foi agendada automaticamente.", number=number, what=what,
             attempt=_count(e.after.get("attempt")) or 1)


def _order_failed(e: Event) -> str:
    number, what = e.order()
    return _("Não foi possível concluir o pedido nº %(number)d (%(what)s); nossa equipe foi avisada e cuida dele.",
             number=number, what=what)


def _order_superseded(e: Event) -> str:
    number, what = e.order()
    return _("Pedido nº %(number)d (%(what)s) substituído por um pedido mais recente da mesma licença; não foi "
             "enviado ao fornecedor.", number=number, what=what)


def _order_retried(e: Event) -> str:
    number, what = e.order()
    return _("%(who)s reenviou o pedido nº %(number)d (%(what)s) ao fornecedor.", who=e.who, number=number, what=what)


def _order_completed_by_staff(e: Event) -> str:
    number, what = e.order()
    return _("%(who)s concluiu o pedido nº %(number)d (%(what)s).", who=e.who, number=number, what=what)


# cancellations

def _cancellation_requested(e: Event) -> str:
    licenses = _count(e.after.get("quantity_before"))
    if e.after.get("ends_now"):
        sentence = ngettext("%(who)s cancelou %(product)s (%(num)d licença), com efeito imediato.",
                            "%(who)s cancelou %(product)s (%(num)d licenças), com efeito imediato.", licenses,
                            who=e.who, product=e.product())
    else:
        sentence = ngettext("%(who)s cancelou %(product)s (%(num)d licença); a assinatura termina em %(date)s.",
                            "%(who)s cancelou %(product)s (%(num)d licenças); a assinatura termina em %(date)s.",
                            licenses, who=e.who, product=e.product(), date=_day(e.after.get("ends_on")))
    credit = _count(e.after.get("credit_cents"))
    if credit:
        sentence += " " + _("Crédito: %(amount)s.", amount=format_money(credit))
    return sentence + _reason(e)


def _cancellation_password_refused(e: Event) -> str:
    return _("%(who)s digitou a senha errada ao confirmar um cancelamento ou rescisão; nada foi cancelado.", who=e.who)


def _rescission_requested(e: Event) -> str:
    return _("%(who)s pediu a rescisão do contrato; as assinaturas terminam até %(date)s.", who=e.who,
             date=_day(e.after.get("ends_on"))) + _reason(e)


def _rescission_withdrawn(e: Event) -> str:
    return _("%(who)s retirou o pedido de rescisão do contrato; as assinaturas continuam.", who=e.who)


def _organization_closed(e: Event) -> str:
    return _("O contrato da organização foi encerrado em %(date)s.", date=_day(e.after.get("on")) or
             format_date(e.row.created_at))


# billing

def _invoice_issued(e: Event) -> str:
    sentence = _("Fatura %(number)s emitida: %(total)s, com vencimento em %(due)s.", number=e.invoice(),
                 total=_money(e.after.get("total_cents")), due=_day(e.after.get("due_date")))
    credit = _count(e.after.get("credit_cents"))
    if credit:
        sentence += " " + _("Crédito aplicado: %(amount)s.", amount=format_money(credit))
    if e.after.get("replaces"):
        sentence += " " + _("Substitui a fatura %(number)s.", number=e.after["replaces"])
    return sentence


def _invoice_cancelled(e: Event) -> str:
    sentence = _("%(who)s cancelou a fatura %(number)s.", who=e.who, number=e.invoice())
    reason = e.after.get("reason")
    return sentence + (" " + _("Motivo: %(reason)s", reason=reason) if reason else "")


def _invoice_reissued(e: Event) -> str:
    return _("%(who)s reemitiu a fatura %(old)s como %(number)s.", who=e.who, old=e.after.get("replaces", ""),
             number=e.invoice())


def _credit_note_issued(e: Event) -> str:
    sentence = _("%(who)s emitiu a nota de crédito %(number)s, de %(amount)s, corrigindo a fatura %(corrects)s.",
                 who=e.who, number=e.invoice(), amount=_money(e.after.get("amount_cents")),
                 corrects=e.after.get("corrects", ""))
    reason = e.after.get("reason")
    return sentence + (" " + _("Motivo: %(reason)s", reason=reason) if reason else "")


def _invoice_emailed(e: Event) -> str:
    people = [str(p) for p in e.after.get("to") or []]
    if not people:
        return _("A fatura %(number)s não foi enviada por e-mail: não havia destinatário.", number=e.invoice())
    return _("Fatura %(number)s enviada por e-mail para %(people)s.", number=e.invoice(), people=", ".join(people))


def _invoice_undelivered(e: Event) -> str:
    return _("A fatura %(number)s não foi enviada por e-mail: não há destinatário (usuário Cobrança ou Master, ou "
             "contato de cobrança). Ela será enviada assim que houver um.", number=e.invoice())


def _second_copy(e: Event) -> str:
    sentence = _("%(who)s emitiu a 2ª via do boleto da fatura %(number)s: %(amount)s, com vencimento em %(due)s.",
                 who=e.who, number=e.invoice(), amount=_money(e.after.get("amount_cents")),
                 due=_day(e.after.get("due_date")))
    fine, interest = _count(e.after.get("fine_cents")), _count(e.after.get("interest_cents"))
    if fine or interest:
        sentence += " " + _("Inclui multa de %(fine)s e juros de %(interest)s.", fine=format_money(fine),
                            interest=format_money(interest))
    return sentence


def _fiscal_issued(e: Event) -> str:
    sentence = _("Nota fiscal nº %(note)s emitida para a fatura %(number)s (%(amount)s).",
                 note=e.after.get("number", ""), number=e.names.invoices.get(e.subject_id("invoice") or 0, ""),
                 amount=_money(e.after.get("amount_cents")))
    return sentence + (" " + _("Simulação, sem valor fiscal.") if e.after.get("simulated") else "")


def _fiscal_cancelled(e: Event) -> str:
    if e.after.get("substituted_by"):
        return _("Nota fiscal nº %(note)s da fatura %(number)s cancelada por substituição pela nota nº %(new)s.",
                 note=e.after.get("number", ""), number=e.names.invoices.get(e.subject_id("invoice") or 0, ""),
                 new=e.after["substituted_by"])
    return _("Nota fiscal nº %(note)s da fatura %(number)s cancelada (motivo %(code)s).",
             note=e.after.get("number", ""), number=e.names.invoices.get(e.subject_id("invoice") or 0, ""),
             code=e.after.get("reason_code", ""))


def _fiscal_uploaded(e: Event) -> str:
    return _("%(who)s anexou a nota fiscal nº %(note)s à fatura %(number)s.", who=e.who,
             note=e.after.get("number", ""), number=e.names.invoices.get(e.subject_id("invoice") or 0, ""))


def _payment_recorded(e: Event) -> str:
    method = PAYMENT_METHOD_LABELS.get(e.after.get("method"))
    sentence = _("Pagamento de %(amount)s recebido para a fatura %(number)s (%(method)s, em %(date)s).",
                 amount=_money(e.after.get("amount_cents")), number=e.invoice(),
                 method=str(method) if method else _("outro meio"), date=_day(e.after.get("paid_on")))
    balance = _count(e.after.get("balance_cents"))
    return sentence + (" " + _("Falta pagar %(amount)s.", amount=format_money(balance)) if balance else "")


def _payment_reversed(e: Event) -> str:
    sentence = _("Devolução de %(amount)s de um pagamento da fatura %(number)s (em %(date)s).",
                 amount=_money(e.after.get("amount_cents")), number=e.invoice(), date=_day(e.after.get("reversed_on")))
    if e.after.get("reopened"):
        sentence += " " + _("A fatura voltou a ficar em aberto: falta pagar %(amount)s.",
                            amount=format_money(_count(e.after.get("balance_cents"))))
    return sentence


def _invoice_paid(e: Event) -> str:
    sentence = _("Fatura %(number)s paga.", number=e.invoice())
    credit = _count(e.after.get("credit_cents"))
    if credit:
        sentence += " " + _("O valor pago a mais (%(amount)s) virou crédito para as próximas faturas.",
                            amount=format_money(credit))
    return sentence


def _contact_added(e: Event) -> str:
    return _("%(who)s passou a enviar as faturas também para %(email)s.", who=e.who, email=e.after.get("email", ""))


def _contact_removed(e: Event) -> str:
    return _("%(who)s deixou de enviar as faturas para %(email)s.", who=e.who, email=e.before.get("email", ""))


def _accountant_changed(e: Event) -> str:
    if not e.after:
        return _("%(who)s deixou de enviar o pacote do contador para %(email)s.", who=e.who,
                 email=e.before.get("email", ""))
    return _("%(who)s passou a enviar o pacote do contador para %(email)s no dia %(day)s de cada mês.", who=e.who,
             email=e.after.get("email", ""), day=e.after.get("day", ""))


def _accountant_pack_sent(e: Event) -> str:
    year, _dash, month = str(e.after.get("month", "")).partition("-")  # stored as 2026-03, read as 03/2026
    return _("%(who)s enviou o pacote do contador da competência %(month)s para %(email)s.", who=e.who,
             month=f"{month}/{year}" if month else year, email=e.after.get("to", ""))


def _reminder_recipients(e: Event) -> str:
    people = ", ".join((e.after or {}).get("to") or []) or _("ninguém (só os e-mails adicionais)")
    return _("%(who)s escolheu quem recebe os lembretes de vencimento: %(people)s.", who=e.who, people=people)


def _budget_text(snapshot: dict) -> str:
    """"R$ 10.000,00 para a organização; Microsoft 365: R$ 6.000,00"."""
    parts = [_("%(amount)s para a organização", amount=_money(snapshot.get("total_cents")))]
    parts += [f"{name}: {_money(amount)}" for name, amount in (snapshot.get("families") or {}).items()]
    return "; ".join(parts)


def _budget_changed(e: Event) -> str:
    if not e.after:
        return _("%(who)s removeu o orçamento mensal.", who=e.who)
    return _("%(who)s definiu o orçamento mensal: %(budgets)s.", who=e.who, budgets=_budget_text(e.after))


def _approval_rules(e: Event) -> str:
    rules = [_("valor mensal acima de %(amount)s", amount=_money(e.after.get("monthly_cents")))
             if e.after.get("monthly_cents") is not None else None,
             _("pró-rata acima de %(amount)s", amount=_money(e.after.get("one_off_cents")))
             if e.after.get("one_off_cents") is not None else None,
             _("produto de uma família nova") if e.after.get("new_family") else None]
    chosen = "; ".join(rule for rule in rules if rule)
    if not chosen:
        return _("%(who)s desligou as regras de aprovação de compras.", who=e.who)
    return _("%(who)s definiu as regras de aprovação de compras: %(rules)s.", who=e.who, rules=chosen)


def _approval(e: Event) -> str:
    summary, comment = str(e.after.get("summary") or ""), str(e.after.get("comment") or "")
    texts = {
        T.APPROVAL_REQUESTED: _("%(who)s pediu aprovação para: %(summary)s.", who=e.who, summary=summary),
        T.APPROVAL_APPROVED: _("%(who)s aprovou: %(summary)s.", who=e.who, summary=summary),
        T.APPROVAL_REFUSED: _("%(who)s recusou: %(summary)s.", who=e.who, summary=summary),
        T.APPROVAL_WITHDRAWN: _("%(who)s retirou o pedido de aprovação: %(summary)s.", who=e.who, summary=summary),
        T.APPROVAL_EXPIRED: _("O pedido de aprovação expirou sem decisão: %(summary)s.", summary=summary),
    }
    text = texts[T(e.row.tag)]
    return _("%(text)s Comentário: “%(comment)s”", text=text, comment=comment) if comment else text


def _delinquent(e: Event) -> str:
    numbers = [str(n) for n in e.after.get("invoices") or []]
    return ngettext("A organização ficou inadimplente: a fatura %(numbers)s está vencida há mais de %(days)d dias. "
                    "Compras e aumentos de licenças ficam bloqueados até o pagamento.",
                    "A organização ficou inadimplente: as faturas %(numbers)s estão vencidas há mais de %(days)d "
                    "dias. Compras e aumentos de licenças ficam bloqueados até o pagamento.",
                    max(len(numbers), 1), numbers=", ".join(numbers), days=_count(e.after.get("after_days")))


def _good_standing(e: Event) -> str:
    return _("A organização voltou a ficar em dia: compras e aumentos de licenças foram liberados.")


# agreements

def _agreement_title(e: Event) -> str:
    return str(e.after.get("title") or _("contrato"))


def _agreement_accepted(e: Event) -> str:
    if not e.after.get("title"):  # the demo's acceptances carry no title
        return _("%(who)s aceitou o contrato em nome da organização.", who=e.who)
    return _("%(who)s aceitou “%(title)s” em nome da organização.", who=e.who, title=_agreement_title(e))


def _agreement_attested(e: Event) -> str:
    name = " ".join(str(e.after.get(k) or "") for k in ("first_name", "last_name")).strip()
    return _("%(who)s registrou que %(name)s aceitou “%(title)s” em %(date)s.", who=e.who, name=name or _("alguém"),
             title=_agreement_title(e), date=_day(e.after.get("accepted_on")))


def _agreement_sent(e: Event) -> str:
    status = e.after.get("provider_status")
    if status == "done":
        return _("A Microsoft confirmou o aceite do contrato da organização.")
    if status == "failed":
        return _("A Microsoft ainda não confirmou o aceite do contrato; nossa equipe acompanha.")
    if e.after.get("resent_by_staff"):
        return _("%(who)s reenviou o aceite do contrato à Microsoft.", who=e.who)
    return _("O aceite do contrato foi enviado à Microsoft.")


# support

def _ticket(e: Event) -> int:
    return e.subject_id("ticket") or 0


def _status_label(value: Any) -> str:
    label = TICKET_STATUS_LABELS.get(value)
    return str(label) if label else _("outra situação")


def _ticket_opened(e: Event) -> str:
    return _("%(who)s abriu o chamado nº %(number)d: “%(subject)s”.", who=e.who, number=_ticket(e),
             subject=e.after.get("subject", ""))


def _ticket_replied(e: Event) -> str:
    return _("%(who)s respondeu no chamado nº %(number)d.", who=e.who, number=_ticket(e))


def _ticket_status(e: Event) -> str:
    return _("%(who)s mudou a situação do chamado nº %(number)d de “%(before)s” para “%(after)s”.", who=e.who,
             number=_ticket(e), before=_status_label(e.before.get("status")),
             after=_status_label(e.after.get("status")))


# offers and contracting

def _summary(e: Event) -> str:
    return str(e.after.get("summary_id") or "")


def _offer_sent(e: Event) -> str:
    people = [str(p) for p in e.after.get("emailed_to") or []]
    if people:
        return _("%(who)s enviou a oferta de compra %(summary)s por e-mail para %(people)s.", who=e.who,
                 summary=_summary(e), people=", ".join(people))
    return _("%(who)s liberou a oferta de compra %(summary)s.", who=e.who, summary=_summary(e))


def _offer_accepted(e: Event) -> str:
    return _("%(who)s aceitou a oferta de compra %(summary)s.", who=e.who, summary=_summary(e))


def _offer_cancelled(e: Event) -> str:
    return _("%(who)s cancelou a oferta de compra %(summary)s.", who=e.who, summary=_summary(e))


def _offer_expired(e: Event) -> str:
    return _("A oferta de compra %(summary)s venceu sem ser aceita.", summary=_summary(e))


def _opportunity_approved(e: Event) -> str:
    return _("%(who)s aprovou a contratação: faturamento todo dia %(day)d, primeira mensalidade em %(date)s.",
             who=e.who, day=_count(e.after.get("billing_day")), date=_day(e.after.get("first_payment_date")))


def _implantation_done(e: Event) -> str:
    return _("%(who)s concluiu a implantação da organização.", who=e.who)


def _usage_rule_changed(e: Event) -> str:
    part = str(e.after.get("part_number") or e.after.get("sku_id") or "")
    if e.after.get("excluded"):
        return _("%(who)s deixou %(sku)s fora do uso de licenças.", who=e.who, sku=part)
    buffer = _count(e.after.get("buffer"))
    if not buffer:
        return _("%(who)s voltou a contar todas as licenças de %(sku)s no uso de licenças.", who=e.who, sku=part)
    return ngettext("%(who)s passou a manter %(num)d licença de folga em %(sku)s.",
                    "%(who)s passou a manter %(num)d licenças de folga em %(sku)s.", buffer, who=e.who, sku=part)



def _entra_linked(e: Event) -> str:
    return _("%(who)s vinculou a organização ao tenant Microsoft Entra ID %(tenant)s.", who=e.who,
             tenant=e.after.get("tenant_id") or "—")


def _entra_unlinked(e: Event) -> str:
    return _("%(who)s removeu o vínculo da organização com o tenant Microsoft Entra ID %(tenant)s.", who=e.who,
             tenant=e.before.get("tenant_id") or "—")


def _entra_policy_changed(e: Event) -> str:
    parts = [_("criação automática de usuários ligada") if e.after.get("jit_enabled")
             else _("criação automática de usuários desligada"),
             _("entrada com a Microsoft exigida") if e.after.get("require_microsoft")
             else _("entrada com a Microsoft opcional")]
    return _("%(who)s alterou as regras de entrada com a Microsoft: %(rules)s.", who=e.who, rules="; ".join(parts))


def _entra_member_created(e: Event) -> str:
    return _("%(email)s entrou pela primeira vez com a Microsoft e virou usuário da organização.",
             email=e.after.get("email") or "—")


def _webhook(e: Event) -> str:
    url = str(e.after.get("url") or e.before.get("url") or "")
    tag = e.row.tag
    if tag == T.WEBHOOK_ENDPOINT_CREATED:
        return _("%(who)s cadastrou o webhook %(url)s.", who=e.who, url=url)
    if tag == T.WEBHOOK_SECRET_ROTATED:
        return _("%(who)s trocou o segredo do webhook %(url)s.", who=e.who, url=url)
    if tag == T.WEBHOOK_ENDPOINT_ENABLED:
        return _("%(who)s ativou o webhook %(url)s.", who=e.who, url=url)
    if tag == T.WEBHOOK_ENDPOINT_DELETED:
        return _("%(who)s excluiu o webhook %(url)s.", who=e.who, url=url)
    if e.after.get("reason") == "failures":
        return _("O webhook %(url)s foi desativado: não respondeu com sucesso por cerca de 3 dias.", url=url)
    return _("%(who)s desativou o webhook %(url)s.", who=e.who, url=url)


def _api_token_created(e: Event) -> str:
    return _("%(who)s criou o token de API “%(name)s” (%(prefix)s…) com o papel %(roles)s.", who=e.who,
             name=str(e.after.get("name") or ""), prefix=str(e.after.get("prefix") or ""),
             roles=_roles(e.after.get("roles")))


def _api_token_revoked(e: Event) -> str:
    return _("%(who)s revogou o token de API “%(name)s”.", who=e.who, name=str(e.before.get("name") or ""))


DESCRIBERS: dict[str, Callable[[Event], str]] = {
    T.LOGIN_SUCCEEDED: _login_succeeded,
    T.LOGIN_FAILED: _login_failed,
    T.LOGOUT: _logout,
    T.INVITATION_SENT: _invitation_sent,
    T.INVITATION_RESENT: _invitation_resent,
    T.INVITATION_ACCEPTED: _invitation_accepted,
    T.ROLES_CHANGED: _roles_changed,
    T.MEMBERSHIP_DEACTIVATED: _membership_deactivated,
    T.SESSIONS_ENDED: _sessions_ended,
    T.MEMBERSHIP_REACTIVATED: _membership_reactivated,
    T.ORGANIZATION_CREATED: _organization_created,
    T.ORGANIZATION_SECURITY_CHANGED: _security_changed,
    T.ORGANIZATION_TENANT_CHANGED: _tenant_changed,
    T.ORGANIZATION_CITY_CODE_CHANGED: _city_code_changed,
    T.QUOTE_CONFIRMED: _quote_confirmed,
    T.QUANTITY_INCREASED: _quantity_increased,
    T.QUANTITY_DECREASED: _quantity_decreased,
    T.QUANTITY_DECREASE_SCHEDULED: _decrease_scheduled,
    T.SUBSCRIPTION_PURCHASED: _subscription_purchased,
    T.SUBSCRIPTION_REFERENCE_CHANGED: _subscription_reference_changed,
    T.SUBSCRIPTION_RENEWED: _subscription_renewed,
    T.NEXT_TERM_SCHEDULED: _next_term_scheduled,
    T.NEXT_TERM_WITHDRAWN: _next_term_withdrawn,
    T.ORDER_CREATED: _order_created,
    T.ORDER_SENT: _order_sent,
    T.ORDER_SUPERSEDED: _order_superseded,
    T.ORDER_DONE: _order_done,
    T.ORDER_RETRY_SCHEDULED: _order_retry_scheduled,
    T.ORDER_FAILED: _order_failed,
    T.ORDER_RETRIED_BY_STAFF: _order_retried,
    T.ORDER_COMPLETED_BY_STAFF: _order_completed_by_staff,
    T.CANCELLATION_REQUESTED: _cancellation_requested,
    T.CANCELLATION_PASSWORD_REFUSED: _cancellation_password_refused,
    T.RESCISSION_REQUESTED: _rescission_requested,
    T.RESCISSION_WITHDRAWN: _rescission_withdrawn,
    T.ORGANIZATION_CLOSED: _organization_closed,
    T.INVOICE_ISSUED: _invoice_issued,
    T.INVOICE_CANCELLED: _invoice_cancelled,
    T.INVOICE_REISSUED: _invoice_reissued,
    T.CREDIT_NOTE_ISSUED: _credit_note_issued,
    T.INVOICE_EMAILED: _invoice_emailed,
    T.INVOICE_UNDELIVERED: _invoice_undelivered,
    T.SECOND_COPY_ISSUED: _second_copy,
    T.FISCAL_DOCUMENT_ISSUED: _fiscal_issued,
    T.FISCAL_DOCUMENT_UPLOADED: _fiscal_uploaded,
    T.FISCAL_DOCUMENT_CANCELLED: _fiscal_cancelled,
    T.PAYMENT_RECORDED: _payment_recorded,
    T.INVOICE_PAID: _invoice_paid,
    T.PAYMENT_REVERSED: _payment_reversed,
    T.BILLING_CONTACT_ADDED: _contact_added,
    T.BILLING_CONTACT_REMOVED: _contact_removed,
    T.ACCOUNTANT_CHANGED: _accountant_changed,
    T.ACCOUNTANT_PACK_SENT: _accountant_pack_sent,
    T.DUNNING_RECIPIENTS_CHANGED: _reminder_recipients,
    T.ORGANIZATION_DELINQUENT: _delinquent,
    T.BUDGET_CHANGED: _budget_changed,
    T.APPROVAL_RULES_CHANGED: _approval_rules,
    T.APPROVAL_REQUESTED: _approval,
    T.APPROVAL_APPROVED: _approval,
    T.APPROVAL_REFUSED: _approval,
    T.APPROVAL_WITHDRAWN: _approval,
    T.APPROVAL_EXPIRED: _approval,
    T.ORGANIZATION_GOOD_STANDING: _good_standing,
    T.AGREEMENT_ACCEPTED: _agreement_accepted,
    T.AGREEMENT_ATTESTED: _agreement_attested,
    T.AGREEMENT_SENT_TO_PROVIDER: _agreement_sent,
    T.TICKET_OPENED: _ticket_opened,
    T.TICKET_REPLIED: _ticket_replied,
    T.TICKET_STATUS_CHANGED: _ticket_status,
    T.OFFER_SENT: _offer_sent,
    T.OFFER_ACCEPTED: _offer_accepted,
    T.OFFER_CANCELLED: _offer_cancelled,
    T.OFFER_EXPIRED: _offer_expired,
    T.OPPORTUNITY_APPROVED: _opportunity_approved,
    T.IMPLANTATION_DONE: _implantation_done,
    T.LICENCE_USAGE_RULE_CHANGED: _usage_rule_changed,
    T.ENTRA_LINKED: _entra_linked,
    T.ENTRA_UNLINKED: _entra_unlinked,
    T.ENTRA_POLICY_CHANGED: _entra_policy_changed,
    T.ENTRA_MEMBER_CREATED: _entra_member_created,
    T.WEBHOOK_ENDPOINT_CREATED: _webhook,
    T.WEBHOOK_SECRET_ROTATED: _webhook,
    T.WEBHOOK_ENDPOINT_ENABLED: _webhook,
    T.WEBHOOK_ENDPOINT_DISABLED: _webhook,
    T.WEBHOOK_ENDPOINT_DELETED: _webhook,
    T.API_TOKEN_CREATED: _api_token_created,
    T.API_TOKEN_REVOKED: _api_token_revoked,
}


def _actor(row: AuditEvent, users: dict[int, User]) -> tuple[str, str]:
    """(who for the table, who as the sentence's subject)."""
    user = users.get(row.actor_id) if row.actor_id else None
    if user is not None and row.actor_label.startswith("api:"):  # through the REST API, with one of the user's tokens
        name = _("%(name)s (token de API “%(token)s”)", name=user.name, token=row.actor_label[4:])
        return name, name
    if user is not None:
        name = _("%(name)s (nossa equipe)", name=user.name) if user.is_staff else user.name
        return name, name
    if row.actor_label.startswith("system:"):
        return _("Portal"), _("O portal")
    if row.actor_label == "anonymous":
        return "—", _("Alguém")
    return row.actor_label, row.actor_label  # a user since removed: the e-mail kept in the record


def describe(events: list[AuditEvent], organization_id: int) -> list[HistoryLine]:
    """The events as the customer reads them, in the order given."""
    names = _names(events, organization_id)
    lines = []
    for row in events:
        actor, who = _actor(row, names.users)
        area = row.tag.split(":", 1)[0]
        event = Event(row=row, before=row.before if isinstance(row.before, dict) else {},
                      after=row.after if isinstance(row.after, dict) else {}, who=who, names=names)
        describer = DESCRIBERS.get(row.tag)
        try:
            sentence = describer(event) if describer else ""
        except (KeyError, TypeError, ValueError, AttributeError):  # a payload of an older shape: the plain label
            sentence = ""
        if not sentence:
            label = AUDIT_TAG_LABELS.get(row.tag)
            sentence = _("%(who)s: %(what)s.", who=who, what=label) if label else _("%(who)s fez uma alteração.",
                                                                                     who=who)
        lines.append(HistoryLine(seq=row.seq, created_at=row.created_at, actor=actor,
                                 area=str(AREAS.get(area, _("Outros"))), sentence=sentence))
    return lines


# ---------------------------------------------------------------- the page and the export

def history_page(organization_id: int, filters: HistoryFilters, page: int) -> tuple[list[HistoryLine], bool]:
    """One page of the organization's history, newest first, and whether an older page follows."""
    page = min(max(page, 1), MAX_PAGE)
    filtered = filters.area or filters.date_from or filters.date_to
    statement = paged(_statement(organization_id, filters)) if filtered else _UNFILTERED_PAGE
    events = list(db.session.execute(statement, {"organization_id": organization_id,
                                                 **page_window(page, PER_PAGE)}).scalars())
    return describe(events[:PER_PAGE], organization_id), len(events) > PER_PAGE


CSV_HEADER = (_l("Data e hora"), _l("Quem"), _l("Tipo"), _l("O que aconteceu"))


def history_csv(organization_id: int, filters: HistoryFilters) -> bytes:
    """Every event the filters select, newest first, as the page tells them: UTF-8 with a BOM (Excel reads the
    accents), `;` between fields, quotes where needed, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([str(title) for title in CSV_HEADER])
    statement, last_seq = _statement(organization_id, filters), None
    while True:
        batch = statement if last_seq is None else statement.where(AuditEvent.seq < last_seq)
        events = list(db.session.scalars(batch.limit(EXPORT_BATCH)))
        for line in describe(events, organization_id):
            writer.writerow([format_datetime(line.created_at), spreadsheet_text(line.actor), line.area,
                             spreadsheet_text(line.sentence)])
        if len(events) < EXPORT_BATCH:
            break
        last_seq = events[-1].seq
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


