""""Adicionar novos produtos": the cart, a server-side list of products per organization and user, each line at
today's price; what may be put in it (a product on sale, within its quantity limits); and emptying it of what a
checkout bought."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Integer, ScalarSelect, bindparam, func, select
from sqlalchemy.orm import joinedload

from portal.accounts.models import Organization, User
from portal.catalog.models import BillingFrequency, CartItem, Product
from portal.extensions import db
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.subscriptions.prices import current_price, too_few, too_many
from portal.subscriptions.purchase_orders import clean_references


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int
    unit_price_cents: int | None  # None: the product cannot be bought any more (inactive or unpriced)
    purchase_order: str = ""  # what the subscription bought from this line starts with ("" = none)
    cost_centre: str = ""

    @property
    def available(self) -> bool:
        return self.unit_price_cents is not None

    @property
    def total_cents(self) -> int:
        """Per billing period (a month or a year, per the product's billing frequency)."""
        return (self.unit_price_cents or 0) * self.quantity

    @property
    def annual_billing(self) -> bool:
        return self.product.billing_frequency == BillingFrequency.ANNUAL


@dataclass(frozen=True)
class Cart:
    lines: list[CartLine]

    @property
    def monthly_cents(self) -> int:
        return sum(line.total_cents for line in self.lines if line.available and not line.annual_billing)

    @property
    def annual_cents(self) -> int:
        return sum(line.total_cents for line in self.lines if line.available and line.annual_billing)

    @property
    def has_unavailable(self) -> bool:
        return any(not line.available for line in self.lines)


# Built once: the items with their products and families joined (one each), their prices in a second statement.
_CART_ITEMS = (
    select(CartItem).where(CartItem.organization_id == bindparam("organization_id", type_=Integer),
                           CartItem.user_id == bindparam("user_id", type_=Integer))
    .options(joinedload(CartItem.product).joinedload(Product.family),
             joinedload(CartItem.product).selectinload(Product.prices))
    .order_by(CartItem.id)
)


def cart_items(organization: Organization, user: User) -> list[CartItem]:
    return list(db.session.execute(_CART_ITEMS, {"organization_id": organization.id, "user_id": user.id}).scalars())


def _available_price(product: Product, today: date) -> int | None:
    if not product.active or not product.family.active:
        return None
    price = product.price_on(today)
    return price.unit_price_cents if price is not None else None


def cart(organization: Organization, user: User, *, today: date) -> Cart:
    """The cart of `user` in `organization` (another user, or the same user in another organization, has
    its own), each line at today's price."""
    return Cart([CartLine(item.product, item.quantity, _available_price(item.product, today), item.purchase_order,
                          item.cost_centre)
                 for item in cart_items(organization, user)])


def cart_count_of(organization_id: ColumnElement, user_id: ColumnElement) -> ScalarSelect:
    """How many products are in a user's cart in an organization, as a scalar subquery of those two expressions
    (bound parameters, or a membership's columns: the navigation counts the cart on every page)."""
    return (select(func.count(CartItem.id))
            .where(CartItem.organization_id == organization_id, CartItem.user_id == user_id)
            .scalar_subquery())


# Built once (bound parameters `organization_id`, `user_id`).
CART_COUNT = cart_count_of(bindparam("organization_id", type_=Integer), bindparam("user_id", type_=Integer))
_CART_COUNT = select(CART_COUNT)


def cart_count(organization: Organization | None, user: User | None) -> int:
    """How many products are in the cart (for the catalog page's badge)."""
    if organization is None or user is None:
        return 0
    return db.session.scalar(_CART_COUNT, {"organization_id": organization.id, "user_id": user.id}) or 0


# ---------------------------------------------------------------- what may be bought

def sellable(product_id: Any) -> Product:
    """A product on sale (active, in an active family); NotFound otherwise."""
    product = db.session.get(Product, product_id) if isinstance(product_id, int) else None
    if product is None or not product.active or not product.family.active:
        raise NotFound(_("Produto não encontrado."))
    return product


def check_purchase_quantity(product: Product, quantity: Any) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ServiceError(_("Informe a quantidade em números inteiros."), field="quantity")
    if quantity < product.min_quantity:
        raise ServiceError(too_few(product),
                           field="quantity")
    if quantity > product.max_quantity:
        raise ServiceError(too_many(product),
                           field="quantity")
    return quantity


# ---------------------------------------------------------------- changing the cart

def set_cart_quantity(*, organization: Organization, user: User, product_id: Any, quantity: Any,
                      add: bool = False) -> CartItem | None:
    """Put `quantity` of a product in the cart (`add`: on top of what is there); 0 takes it out."""
    product = sellable(product_id)
    item = db.session.scalar(select(CartItem).where(
        CartItem.organization_id == organization.id, CartItem.user_id == user.id, CartItem.product_id == product.id))
    if quantity == 0 and not add and not isinstance(quantity, bool):
        if item is not None:
            db.session.delete(item)
            db.session.commit()
        return None
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ServiceError(_("Informe a quantidade em números inteiros."), field="quantity")
    if add and quantity < 1:  # adding takes nothing out: removing is setting a lower quantity
        raise ServiceError(too_few(product), field="quantity")
    total = quantity + (item.quantity if item is not None and add else 0)
    check_purchase_quantity(product, total)
    current_price(product, clock.today())
    if item is None:
        item = CartItem(organization_id=organization.id, user_id=user.id, product_id=product.id, quantity=total,
                        added_at=clock.now())
        db.session.add(item)
    else:
        item.quantity = total
    db.session.commit()
    return item


def update_cart(*, organization: Organization, user: User, product_id: Any, quantity: Any) -> CartItem | None:
    """Set a cart line to `quantity`; 0 takes it out, even when the product can no longer be bought."""
    if quantity == 0 and isinstance(quantity, int) and not isinstance(quantity, bool):
        item = db.session.scalar(select(CartItem).where(
            CartItem.organization_id == organization.id, CartItem.user_id == user.id,
            CartItem.product_id == product_id)) if isinstance(product_id, int) else None
        if item is None:
            raise NotFound(_("Este produto não está no seu carrinho."))
        db.session.delete(item)
        db.session.commit()
        return None
    return set_cart_quantity(organization=organization, user=user, product_id=product_id, quantity=quantity)


def set_cart_reference(*, organization: Organization, user: User, product_id: Any, purchase_order: Any,
                       cost_centre: Any) -> CartItem:
    """The purchase-order number and cost centre of one cart line (per line: one checkout may buy for several
    departments); the checkout copies them onto the subscription it creates. Not audited: the cart is a draft,
    and the purchase's audit event carries them."""
    item = db.session.scalar(select(CartItem).where(
        CartItem.organization_id == organization.id, CartItem.user_id == user.id,
        CartItem.product_id == product_id)) if isinstance(product_id, int) else None
    if item is None:
        raise NotFound(_("Este produto não está no seu carrinho."))
    values = clean_references(purchase_order, cost_centre)
    item.purchase_order, item.cost_centre = values["purchase_order"], values["cost_centre"]
    db.session.commit()
    return item


def remove_bought(organization_id: int, user_id: int, product_ids: list[int]) -> None:
    """A checkout bought these products: out of its buyer's cart, in the checkout's transaction."""
    db.session.execute(
        CartItem.__table__.delete().where(CartItem.organization_id == organization_id,
                                          CartItem.user_id == user_id,
                                          CartItem.product_id.in_(product_ids))
        .execution_options(organization_ids=[organization_id])
    )


def cart_lines_of(organization_id: int, user_id: int | None) -> list[CartItem]:
    """The cart items of a user in an organization, by ids (the checkout reads their PO and cost centre)."""
    if user_id is None:
        return []
    return list(db.session.scalars(select(CartItem).where(CartItem.organization_id == organization_id,
                                                          CartItem.user_id == user_id)))
