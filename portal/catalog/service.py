"""Catalog verbs: what customers may buy ("Adicionar novos produtos", the checkout preview) and the staff's
edits of families, products and dated prices (each edit audited in its own transaction). The cart is `cart.py`."""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Date, Integer, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, selectinload
from sqlalchemy.sql.elements import BindParameter

from portal.accounts.models import Organization
from portal.billing import lines as billing
from portal.billing.models import LineKind
from portal.catalog.cart import cart_lines_of
from portal.catalog.models import (
    BILLING_MONTHS,
    TERM_MONTHS,
    BillingFrequency,
    Product,
    ProductFamily,
    ProductPrice,
    Provider,
    Term,
)
from portal.extensions import db
from portal.shared import clock, periods
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.paging import paged
from portal.subscriptions import window
from portal.subscriptions.confirmation import confirm_quote
from portal.subscriptions.models import Quote, QuoteKind, QuoteStatus
from portal.subscriptions.prices import monthly_equivalent
from portal.subscriptions.quotes import StaleQuote, get_quote

PER_PAGE = 24  # product cards per catalog page
MAX_ID = 2**31 - 1  # ids and money are 32-bit integer columns
MAX_PRICE_CENTS = 2**31 - 1  # R$ 21.474.836,47: the largest unit price the column holds
MAX_QUANTITY = 1_000_000  # licenses: far above any real order, far below the column's limit
MAX_WINDOW_HOURS = window.MAX_HOURS  # the decrease window's rules are in subscriptions/window.py
MAX_POSITION = 10_000
# Partner Center's offer id of a new-commerce product: "productId:skuId:availabilityId".
OFFER_ID = re.compile(r"^[A-Za-z0-9-]+:[A-Za-z0-9-]+:[A-Za-z0-9-]+$")


def fold(text: str) -> str:
    """`text` for comparing as people search: case- and accent-insensitive ("Segurança" ~ "seguranca")."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- customer: browsing

@dataclass(frozen=True)
class CatalogItem:
    product: Product
    price: ProductPrice  # the price in force today

    @property
    def monthly_cents(self) -> int:
        """For display: an annual price as twelfths (half up); a monthly price as it is."""
        return monthly_equivalent(self.price.unit_price_cents, self.product)


@dataclass(frozen=True)
class CatalogPage:
    items: list[CatalogItem]
    page: int
    has_next: bool
    total: int  # products matching the filters, over all pages


_ACTIVE_FAMILIES = (select(ProductFamily).where(ProductFamily.active.is_(True))
                    .order_by(ProductFamily.position, ProductFamily.name))


def active_families() -> list[ProductFamily]:
    """The "família de produtos" filter: active families in display order."""
    return list(db.session.execute(_ACTIVE_FAMILIES).scalars())


def _active(statement):
    """`statement` (selecting Product) joined to its family, active products of active families only."""
    return (statement.join(Product.family).where(Product.active.is_(True), ProductFamily.active.is_(True))
            .options(contains_eager(Product.family)))


def _sellable_statement(today: date | BindParameter):
    """Active products of active families with a price in force on `today` (others are not sold)."""
    priced = exists().where(ProductPrice.product_id == Product.id, ProductPrice.effective_from <= today)
    return _active(select(Product)).where(priced).options(selectinload(Product.prices))


def _catalog_order(statement):
    return statement.order_by(ProductFamily.position, ProductFamily.name, Product.name, Product.id)


def _browse_statement(today: date, family: ProductFamily | None):
    statement = _catalog_order(_sellable_statement(today))
    return statement if family is None else statement.where(Product.family_id == family.id)


def _priced_page_statement():
    """A page of sellable products, each with the price in force on `today` (the latest effective on or before it,
    as `Product.price_on` picks; one price per product and day) joined in, and the total beside them: one statement,
    no price list loaded."""
    today = bindparam("today", type_=Date)
    in_force = (select(ProductPrice.id)
                .where(ProductPrice.product_id == Product.id, ProductPrice.effective_from <= today)
                .order_by(ProductPrice.effective_from.desc()).limit(1)
                .correlate(Product).scalar_subquery())
    return paged(_catalog_order(_active(select(Product, ProductPrice, func.count().over().label("total")))
                                .join(ProductPrice, ProductPrice.id == in_force)))


# "Adicionar novos produtos" without a text to match, all families or one: built once (a statement built per request
# costs as much again as running it), with the parameters today, family_id, limit and offset.
_BROWSE_ALL = _priced_page_statement()
_BROWSE_FAMILY = _BROWSE_ALL.where(Product.family_id == bindparam("family_id", type_=Integer))


def _family_filter(family_id: Any) -> ProductFamily | None:
    if family_id is None:
        return None
    family = db.session.get(ProductFamily, family_id) if _is_int(family_id) and 0 < family_id <= MAX_ID else None
    if family is None or not family.active:
        raise NotFound(_("Família de produtos não encontrada. Escolha uma da lista."), field="familia")
    return family


def browse(*, family_id: Any = None, query: str = "", page: int = 1, today: date,
           per_page: int = PER_PAGE) -> CatalogPage:
    """"Adicionar novos produtos": sellable products, optionally of one family and matching every word of
    `query` in the name, SKU or description (case- and accent-insensitive).

    The text filter runs in Python (SQLite's lower() knows only ASCII; accents need folding): the catalog
    of a reseller is hundreds of rows, not millions. NotFound (field "familia") for an unknown family.
    """
    family = _family_filter(family_id)
    words = fold(query).split()
    page = max(page, 1)
    start = (page - 1) * per_page
    if not words:
        # No text to match: only this page's products are loaded (with their prices), and the total beside them.
        rows = db.session.execute(_BROWSE_ALL if family is None else _BROWSE_FAMILY, {
            "today": today, "family_id": family.id if family is not None else None, "limit": per_page,
            "offset": start}).all()
        total = rows[0].total if rows else (
            db.session.scalar(select(func.count()).select_from(_browse_statement(today, family).subquery()))
            if start else 0)
        return CatalogPage(items=[CatalogItem(row[0], row[1]) for row in rows], page=page,
                           has_next=total > start + per_page, total=total)

    def matches(product: Product) -> bool:
        haystack = fold(" ".join((product.name, product.sku, product.description or "")))
        return all(word in haystack for word in words)

    products = [p for p in db.session.scalars(_browse_statement(today, family)).unique() if matches(p)]
    chosen = products[start:start + per_page]
    return CatalogPage(items=[CatalogItem(p, p.price_on(today)) for p in chosen], page=page,
                       has_next=len(products) > start + per_page, total=len(products))


def sellable_product(product_id: Any, *, today: date) -> CatalogItem:
    """A product a customer may buy today (active, in an active family, priced); NotFound otherwise."""
    if not _is_int(product_id) or not 0 < product_id <= MAX_ID:
        raise NotFound(_("Produto não encontrado."))
    product = db.session.scalars(_sellable_statement(today).where(Product.id == product_id)).unique().one_or_none()
    if product is None:
        raise NotFound(_("Produto não encontrado."))
    return CatalogItem(product, product.price_on(today))


# ---------------------------------------------------------------- customer: checkout preview

@dataclass(frozen=True)
class CheckoutLine:
    product: Product
    quantity: int
    unit_price_cents: int  # per license per billing period
    amount_cents: int  # pró-rata charged now, for [effective_on, period_end)
    period_start: date
    period_end: date  # exclusive
    effective_on: date
    term_end: date  # exclusive: the day the term renews
    purchase_order: str = ""  # the cart line's, as confirming would give the subscription (open quotes only)
    cost_centre: str = ""

    @property
    def last_day(self) -> date:
        """The last day the pró-rata pays for (the period's end is exclusive)."""
        return self.period_end - timedelta(days=1)

    @property
    def days_charged(self) -> int:
        return (self.period_end - self.effective_on).days

    @property
    def days_in_period(self) -> int:
        return (self.period_end - self.period_start).days

    @property
    def recurring_cents(self) -> int:
        """Per billing period from the next one on."""
        return self.unit_price_cents * self.quantity

    @property
    def annual_billing(self) -> bool:
        return self.product.billing_frequency == BillingFrequency.ANNUAL

    @property
    def term_last_day(self) -> date:
        return self.term_end - timedelta(days=1)


@dataclass(frozen=True)
class CheckoutPreview:
    quote: Quote
    lines: list[CheckoutLine]
    first_invoice: billing.Draft  # this purchase's lines on the first invoice that carries it (the run's rule)

    @property
    def charge_cents(self) -> int:
        """Pró-rata of every line: what this purchase adds to the next invoice for the current periods."""
        return self.quote.charge_cents

    @property
    def monthly_cents(self) -> int:
        """The monthly value from the next period on (monthly-billed products)."""
        return sum(line.recurring_cents for line in self.lines if not line.annual_billing)

    @property
    def next_period_start(self) -> date | None:
        monthly = [line.period_end for line in self.lines if not line.annual_billing]
        return min(monthly) if monthly else None

    @property
    def next_invoice_date(self) -> date:
        """The billing day of the first invoice that carries this purchase."""
        return self.first_invoice.billing_date

    @property
    def next_invoice_cents(self) -> int:
        """This purchase's share of that invoice, exactly as the billing run drafts it: the pró-rata, plus the
        first period in advance unless the pró-rata already covers it (bought on the billing day before its
        run); annual billing charges its whole first term in the pró-rata."""
        return self.first_invoice.subtotal_cents

    @property
    def next_invoice_prorata_cents(self) -> int:
        return sum(line.amount_cents for line in self.first_invoice.lines if line.kind == LineKind.PRORATA)

    @property
    def next_invoice_recurring_cents(self) -> int:
        """The first period in advance on that invoice (0 when the pró-rata covers the period)."""
        return sum(line.amount_cents for line in self.first_invoice.lines if line.kind == LineKind.RECURRING)

    @property
    def confirmed(self) -> bool:
        return self.quote.status == QuoteStatus.CONFIRMED

    @property
    def valid_through(self) -> date:
        """The last business day the quote may be confirmed (it expires at the end of it)."""
        return clock.to_business(self.quote.expires_at - timedelta(microseconds=1)).date()

    @property
    def expired(self) -> bool:
        return not self.confirmed and self.quote.expires_at <= clock.now()


def checkout_quote(organization: Organization, token: Any) -> Quote:
    """A checkout quote of `organization` (a quantity-change quote or another organization's is not found)."""
    quote = get_quote(organization, str(token or ""))
    if quote.kind != QuoteKind.CHECKOUT:
        raise NotFound(_("Orçamento não encontrado."))
    return quote


def checkout_preview(organization: Organization, token: Any) -> CheckoutPreview:
    """What the checkout quote says, line by line, with the products and their terms."""
    quote = checkout_quote(organization, token)
    ids = [line["product_id"] for line in quote.lines]
    products = {p.id: p for p in db.session.scalars(select(Product).where(Product.id.in_(ids))
                                                   .options(selectinload(Product.family)))}
    # Each line's PO and cost centre as confirming would take them: the cart's now (a confirmed quote: none shown).
    references = ({} if quote.status == QuoteStatus.CONFIRMED
                  else {item.product_id: item for item in cart_lines_of(organization.id, quote.created_by_id)})
    lines = []
    for line in quote.lines:
        product = products[line["product_id"]]
        effective_on = date.fromisoformat(line["effective_on"])
        item = references.get(product.id)
        lines.append(CheckoutLine(
            product=product, quantity=line["quantity"], unit_price_cents=line["unit_price_cents"],
            amount_cents=line["amount_cents"], period_start=date.fromisoformat(line["period_start"]),
            period_end=date.fromisoformat(line["period_end"]), effective_on=effective_on,
            term_end=periods.add_months(effective_on, TERM_MONTHS[Term(product.term)]),
            purchase_order=item.purchase_order if item is not None else "",
            cost_centre=item.cost_centre if item is not None else "",
        ))
    purchases = [billing.Purchase(
        product_name=line.product.name, billing_frequency=line.product.billing_frequency, quantity=line.quantity,
        unit_price_cents=line.unit_price_cents, charge_cents=line.amount_cents, effective_on=line.effective_on,
        period_start=line.period_start, period_end=line.period_end) for line in lines]
    # Confirmed: as the run saw it when the purchase was made; open: as it would be if confirmed now.
    as_of = quote.confirmed_at or clock.now()
    return CheckoutPreview(quote, lines, billing.draft_purchase(organization, purchases, as_of=as_of))


def confirm_checkout(organization: Organization, token: Any, *, actor: Actor) -> list:
    """Confirm a checkout quote (its orders). StaleQuote when the invoice that will carry the purchase is no
    longer the one its review named — that day's billing run issued the day's invoice in between, so the total
    on the next invoice changed (rule 7 of specs/prorata.md: never charge a different number than shown)."""
    quote = checkout_quote(organization, token)
    if quote.status != QuoteStatus.CONFIRMED:
        for effective_on in {date.fromisoformat(line["effective_on"]) for line in quote.lines}:
            then, now = (billing.purchase_billing_date(organization.id, organization.billing_day, effective_on,
                                                       as_of=moment) for moment in (quote.created_at, clock.now()))
            if then != now:
                raise StaleQuote(_(
                    "A fatura de hoje foi emitida depois deste orçamento e o total desta compra na próxima fatura "
                    "mudou. Revise o pedido para ver os valores atualizados."))
    return confirm_quote(organization=organization, token=quote.token, actor=actor)


# ---------------------------------------------------------------- staff: reading

def all_families() -> list[ProductFamily]:
    return list(db.session.scalars(select(ProductFamily).order_by(ProductFamily.position, ProductFamily.name)))


def family_product_counts() -> dict[int, int]:
    rows = db.session.execute(select(Product.family_id, func.count(Product.id)).group_by(Product.family_id))
    return {family_id: count for family_id, count in rows}


def staff_products(*, family_id: int | None = None, active: bool | None = None) -> list[Product]:
    """Every product (active or not), optionally of one family and/or with the given active flag."""
    statement = (select(Product).join(Product.family)
                 .options(contains_eager(Product.family), selectinload(Product.prices))
                 .order_by(ProductFamily.position, ProductFamily.name, Product.name, Product.id))
    if family_id is not None:
        statement = statement.where(Product.family_id == family_id)
    if active is not None:
        statement = statement.where(Product.active.is_(active))
    return list(db.session.scalars(statement).unique())


def get_family(family_id: int) -> ProductFamily:
    family = db.session.get(ProductFamily, family_id) if 0 < family_id <= MAX_ID else None
    if family is None:
        raise NotFound(_("Família de produtos não encontrada."))
    return family


def get_product(product_id: int) -> Product:
    product = db.session.get(Product, product_id) if 0 < product_id <= MAX_ID else None
    if product is None:
        raise NotFound(_("Produto não encontrado."))
    return product


# ---------------------------------------------------------------- staff: families

def _family_state(family: ProductFamily) -> dict[str, Any]:
    return {"name": family.name, "description": family.description, "position": family.position,
            "active": family.active}


def _check_family(family: ProductFamily | None, *, name: Any, description: Any, position: Any) -> tuple[str, str, int]:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise ServiceError(_("Informe o nome da família."), field="name")
    if len(name) > 100:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=100), field="name")
    taken = [f for f in all_families() if fold(f.name) == fold(name) and (family is None or f.id != family.id)]
    if taken:
        raise ServiceError(_("Já existe uma família chamada %(name)s.", name=taken[0].name), field="name")
    description = (description or "").strip() if isinstance(description, str) else ""
    if len(description) > 500:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=500), field="description")
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= MAX_POSITION:
        raise ServiceError(_("A posição vai de 0 a %(max)d.", max=MAX_POSITION), field="position")
    return name, description, position


def _commit_unique(message: str, field: str) -> None:
    """Commit; a unique constraint hit by a concurrent edit becomes the same message as the check before it."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise ServiceError(message, field=field) from exc


def create_family(*, name: Any, description: Any = "", position: Any = 0, active: bool = True,
                  actor: Actor) -> ProductFamily:
    name, description, position = _check_family(None, name=name, description=description, position=position)
    family = ProductFamily(name=name, description=description, position=position, active=bool(active))
    db.session.add(family)
    db.session.flush()
    record(AuditTag.CATALOG_FAMILY_CREATED, actor=actor, subject=f"product_family:{family.id}",
           after=_family_state(family))
    _commit_unique(_("Já existe uma família chamada %(name)s.", name=name), "name")
    return family


def update_family(family: ProductFamily, *, name: Any, description: Any = "", position: Any = 0,
                  active: bool = True, actor: Actor) -> ProductFamily:
    """Rename, reorder (`position`, ascending), activate or deactivate a family. Deactivating hides its
    products from the catalog; licenses already bought go on."""
    name, description, position = _check_family(family, name=name, description=description, position=position)
    before = _family_state(family)
    after = {"name": name, "description": description, "position": position, "active": bool(active)}
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        return family
    for key in changed:
        setattr(family, key, after[key])
    record(AuditTag.CATALOG_FAMILY_UPDATED, actor=actor, subject=f"product_family:{family.id}",
           before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    _commit_unique(_("Já existe uma família chamada %(name)s.", name=name), "name")
    return family


# ---------------------------------------------------------------- staff: products

@dataclass(frozen=True)
class ProductData:
    """A product as the staff form gives it; `decrease_window_hours` None: the provider's default."""

    sku: str
    name: str
    description: str
    family_id: int
    provider: str
    offer_id: str | None
    term: str
    billing_frequency: str
    decrease_window_hours: int | None
    min_quantity: int
    max_quantity: int
    active: bool = True
    upgrade_to: tuple[str, ...] = ()  # the SKUs a subscription may move to at its renewal (Microsoft products)


MAX_UPGRADES = 20


def _product_state(product: Product) -> dict[str, Any]:
    return {field: getattr(product, field) for field in ProductData.__dataclass_fields__}


def _check_product(product: Product | None, data: ProductData) -> dict[str, Any]:
    """The validated, normalised fields of `data`; ServiceError naming the field otherwise."""
    values = asdict(data)
    sku = (data.sku or "").strip()
    if not sku:
        raise ServiceError(_("Informe o SKU."), field="sku")
    if len(sku) > 60:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=60), field="sku")
    same_sku = select(Product.id).where(func.lower(Product.sku) == sku.lower())
    if product is not None:
        same_sku = same_sku.where(Product.id != product.id)
    if db.session.scalar(same_sku.limit(1)) is not None:
        raise ServiceError(_("Já existe um produto com o SKU %(sku)s.", sku=sku), field="sku")
    name = (data.name or "").strip()
    if not name:
        raise ServiceError(_("Informe o nome do produto."), field="name")
    if len(name) > 200:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=200), field="name")
    if not _is_int(data.family_id) or db.session.get(ProductFamily, data.family_id) is None:
        raise ServiceError(_("Escolha a família de produtos."), field="family_id")
    if data.provider not in {p.value for p in Provider}:
        raise ServiceError(_("Escolha o fornecedor."), field="provider")
    provider = Provider(data.provider)
    offer_id = (data.offer_id or "").strip() or None
    if provider == Provider.MICROSOFT_CSP:
        if offer_id is None or not OFFER_ID.match(offer_id) or len(offer_id) > 120:
            raise ServiceError(_("Informe a oferta do Partner Center no formato productId:skuId:availabilityId "
                                 "(por exemplo CFQ7TTC0LH18:0001:CFQ7TTC0LDPB)."), field="offer_id")
    elif offer_id is not None:
        raise ServiceError(_("Serviços próprios não têm oferta do Partner Center: deixe este campo vazio."),
                           field="offer_id")
    if data.term not in {t.value for t in Term}:
        raise ServiceError(_("Escolha o termo."), field="term")
    if data.billing_frequency not in {b.value for b in BillingFrequency}:
        raise ServiceError(_("Escolha a frequência de cobrança."), field="billing_frequency")
    if BILLING_MONTHS[BillingFrequency(data.billing_frequency)] > TERM_MONTHS[Term(data.term)]:
        raise ServiceError(_("A cobrança anual exige termo anual ou trienal."), field="billing_frequency")
    hours = data.decrease_window_hours
    if hours is None:
        hours = window.default_hours(provider)
    if not _is_int(hours) or not 0 <= hours <= MAX_WINDOW_HOURS:
        raise ServiceError(_("A janela de redução vai de 0 a %(max)d horas.", max=MAX_WINDOW_HOURS),
                           field="decrease_window_hours")
    if not _is_int(data.min_quantity) or not 1 <= data.min_quantity <= MAX_QUANTITY:
        raise ServiceError(_("A quantidade mínima vai de 1 a %(max)d.", max=MAX_QUANTITY), field="min_quantity")
    if not _is_int(data.max_quantity) or not data.min_quantity <= data.max_quantity <= MAX_QUANTITY:
        raise ServiceError(_("A quantidade máxima vai da mínima (%(min)d) a %(max)d.", min=data.min_quantity,
                             max=MAX_QUANTITY), field="max_quantity")
    description = (data.description or "").strip()
    if len(description) > 5000:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=5000), field="description")
    values.update(sku=sku, name=name, description=description, provider=provider.value, offer_id=offer_id,
                  decrease_window_hours=hours, active=bool(data.active),
                  upgrade_to=_check_upgrades(sku, provider, data.upgrade_to))
    return values


def _check_upgrades(sku: str, provider: Provider, written: Sequence[str]) -> list[str]:
    """The upgrade SKUs as the catalog spells them, each once, in the order written: Microsoft products of the
    catalog, other than the product itself (Partner Center's next-term instructions move between its offers)."""
    wanted = list(dict.fromkeys(item.strip() for item in written if item and item.strip()))
    if not wanted:
        return []
    if provider != Provider.MICROSOFT_CSP:
        raise ServiceError(_("Só produtos Microsoft têm upgrade na renovação: deixe este campo vazio."),
                           field="upgrade_to")
    if len(wanted) > MAX_UPGRADES:
        raise ServiceError(_("Informe no máximo %(max)d SKUs.", max=MAX_UPGRADES), field="upgrade_to")
    if sku.lower() in {item.lower() for item in wanted}:
        raise ServiceError(_("Um produto não é upgrade de si mesmo: tire o SKU %(sku)s.", sku=sku),
                           field="upgrade_to")
    found = {product.sku.lower(): product for product in db.session.scalars(
        select(Product).where(func.lower(Product.sku).in_([item.lower() for item in wanted])))}
    missing = [item for item in wanted if item.lower() not in found]
    if missing:
        raise ServiceError(_("SKU não encontrado no catálogo: %(skus)s.", skus=", ".join(missing)),
                           field="upgrade_to")
    elsewhere = [found[item.lower()].sku for item in wanted if found[item.lower()].provider != Provider.MICROSOFT_CSP]
    if elsewhere:
        raise ServiceError(_("Upgrade só para produtos Microsoft; não são: %(skus)s.", skus=", ".join(elsewhere)),
                           field="upgrade_to")
    return list(dict.fromkeys(found[item.lower()].sku for item in wanted))


def create_product(data: ProductData, *, actor: Actor) -> Product:
    """A new product; it reaches the customer catalog once it has a price in force (`add_price`)."""
    values = _check_product(None, data)
    product = Product(**values, created_at=clock.now())
    db.session.add(product)
    db.session.flush()
    record(AuditTag.CATALOG_PRODUCT_CREATED, actor=actor, subject=f"product:{product.id}",
           after=_product_state(product))
    _commit_unique(_("Já existe um produto com o SKU %(sku)s.", sku=values["sku"]), "sku")
    return product


def update_product(product: Product, data: ProductData, *, actor: Actor) -> Product:
    """Edit a product. Subscriptions already bought keep their lots' prices and their terms."""
    values = _check_product(product, data)
    before = _product_state(product)
    changed = [key for key in before if values[key] != before[key]]
    if not changed:
        return product
    for key in changed:
        setattr(product, key, values[key])
    after = _product_state(product)
    record(AuditTag.CATALOG_PRODUCT_UPDATED, actor=actor, subject=f"product:{product.id}",
           before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    _commit_unique(_("Já existe um produto com o SKU %(sku)s.", sku=values["sku"]), "sku")
    return product


# ---------------------------------------------------------------- staff: prices

def price_history(product: Product) -> list[ProductPrice]:
    """Every price of `product`, newest effective date first."""
    return list(db.session.scalars(select(ProductPrice).where(ProductPrice.product_id == product.id)
                                   .order_by(ProductPrice.effective_from.desc(), ProductPrice.id.desc())))


def add_price(product: Product, *, unit_price_cents: Any, effective_from: Any, actor: Actor) -> ProductPrice:
    """A new price row from `effective_from` (today or later, business date) on. History is append-only and
    lots keep the price they were billed at; quotes made at the old price ask to be re-quoted."""
    if not _is_int(unit_price_cents):
        raise ServiceError(_("Informe o preço em reais, por exemplo 1.234,56."), field="unit_price")
    if unit_price_cents < 0:
        raise ServiceError(_("O preço não pode ser negativo."), field="unit_price")
    if unit_price_cents > MAX_PRICE_CENTS:
        raise ServiceError(_("Preço alto demais: confira o valor."), field="unit_price")
    if not isinstance(effective_from, date):
        raise ServiceError(_("Informe a data de início da vigência."), field="effective_from")
    today = clock.today()
    if effective_from < today:
        raise ServiceError(_("A vigência começa hoje ou depois: o histórico de preços não muda para trás."),
                           field="effective_from")
    taken = db.session.scalar(select(ProductPrice.id).where(ProductPrice.product_id == product.id,
                                                            ProductPrice.effective_from == effective_from))
    duplicate = _("Já existe um preço para este produto a partir desta data. Escolha outra data.")
    if taken is not None:
        raise ServiceError(duplicate, field="effective_from")
    previous = product.price_on(effective_from)
    price = ProductPrice(product_id=product.id, unit_price_cents=unit_price_cents, effective_from=effective_from,
                         created_at=clock.now(), created_by_id=actor.user_id)
    db.session.add(price)
    db.session.flush()
    record(AuditTag.CATALOG_PRICE_ADDED, actor=actor, subject=f"product:{product.id}",
           before={"unit_price_cents": previous.unit_price_cents,
                   "effective_from": previous.effective_from.isoformat()} if previous else None,
           after={"unit_price_cents": unit_price_cents, "effective_from": effective_from.isoformat(),
                  "price_id": price.id})
    _commit_unique(duplicate, "effective_from")
    db.session.expire(product, ["prices"])
    return price
