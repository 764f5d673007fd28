"""Product families, products and their prices (append-only, effective from a business date); the cart."""

from datetime import date, datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class Provider(StrEnum):
    MICROSOFT_CSP = "microsoft_csp"  # provisioned through Partner Center
    OWN_SERVICE = "own_service"  # the reseller's own service (Backup em Nuvem …): staff "implantação"


class Term(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"
    TRIENNIAL = "triennial"


class BillingFrequency(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"


PROVIDER_LABELS = {Provider.MICROSOFT_CSP: _l("Microsoft CSP"), Provider.OWN_SERVICE: _l("Serviço próprio")}
TERM_LABELS = {Term.MONTHLY: _l("mensal"), Term.ANNUAL: _l("anual"), Term.TRIENNIAL: _l("trienal")}
TERM_MONTHS = {Term.MONTHLY: 1, Term.ANNUAL: 12, Term.TRIENNIAL: 36}
# Partner Center's termDuration for each term (ISO 8601).
TERM_DURATIONS = {Term.MONTHLY: "P1M", Term.ANNUAL: "P1Y", Term.TRIENNIAL: "P3Y"}
BILLING_LABELS = {BillingFrequency.MONTHLY: _l("mensal"), BillingFrequency.ANNUAL: _l("anual")}
BILLING_MONTHS = {BillingFrequency.MONTHLY: 1, BillingFrequency.ANNUAL: 12}


class ProductFamily(db.Model):
    """"Família de produtos": what the catalog is filtered by (Microsoft 365, Segurança, Backup em Nuvem …)."""

    __tablename__ = "product_families"
    __organization_data__ = "global"  # read by every organization (data_versions.GLOBAL)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)  # display order, ascending
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    products: Mapped[list["Product"]] = relationship(back_populates="family", order_by="Product.name")


class Product(db.Model):
    __tablename__ = "products"
    __organization_data__ = "global"  # read by every organization (data_versions.GLOBAL)
    __table_args__ = (
        CheckConstraint("provider IN ('microsoft_csp', 'own_service')", name="provider_known"),
        CheckConstraint("term IN ('monthly', 'annual', 'triennial')", name="term_known"),
        CheckConstraint("billing_frequency IN ('monthly', 'annual')", name="billing_frequency_known"),
        CheckConstraint("decrease_window_hours >= 0", name="decrease_window_not_negative"),
        CheckConstraint("min_quantity >= 1 AND max_quantity >= min_quantity", name="quantity_bounds"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(60), unique=True)  # the reseller's own code
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    family_id: Mapped[int] = mapped_column(ForeignKey("product_families.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    # Partner Center "productId:skuId:availabilityId"; None for own services.
    offer_id: Mapped[str | None] = mapped_column(String(120))
    # Microsoft Graph's skuId (a GUID, lower case) and skuPartNumber of what this product licenses: how the SKUs read
    # from the customer's tenant ("Uso de licenças") find their subscriptions. None for own services.
    microsoft_sku_id: Mapped[str | None] = mapped_column(String(36), index=True)
    microsoft_sku_part_number: Mapped[str | None] = mapped_column(String(60))
    term: Mapped[str] = mapped_column(String(10))
    billing_frequency: Mapped[str] = mapped_column(String(10))
    # Hours after an increase (or renewal) during which licenses can be removed with a credit:
    # 168 for Microsoft NCE, 0 for own services (every decrease waits for the end of the term).
    decrease_window_hours: Mapped[int] = mapped_column(Integer)
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    max_quantity: Mapped[int] = mapped_column(Integer, default=10_000)
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # inactive: not sold, existing licenses go on
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # The reseller SKUs (`sku`) a subscription of this product may move to at its renewal ("upgrade"), as
    # Partner Center's scheduled next-term instructions allow; [] = none. Seeded (demo) or set by staff.
    upgrade_to: Mapped[list] = mapped_column(JSON, default=list, server_default=text("'[]'"))

    family: Mapped[ProductFamily] = relationship(back_populates="products")
    prices: Mapped[list["ProductPrice"]] = relationship(
        back_populates="product", order_by="ProductPrice.effective_from"
    )

    def price_on(self, day: date) -> "ProductPrice | None":
        """The price in force on business date `day` (the latest row effective on or before it)."""
        current = None
        for price in self.prices:
            if price.effective_from <= day:
                current = price
        return current

    @property
    def is_microsoft(self) -> bool:
        return self.provider == Provider.MICROSOFT_CSP


class ProductPrice(db.Model):
    """A product's unit price from a date on. Append-only: a change is a new row; lots keep the price
    they were billed at."""

    __tablename__ = "product_prices"
    __organization_data__ = "global"  # read by every organization (data_versions.GLOBAL)
    __table_args__ = (
        UniqueConstraint("product_id", "effective_from", name="uq_product_prices_product_day"),
        CheckConstraint("unit_price_cents >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    # Centavos per license per billing period (a month for monthly billing, a year for annual).
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)  # business date (America/Sao_Paulo)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    product: Mapped[Product] = relationship(back_populates="prices")


class CartItem(db.Model):
    """"Adicionar novos produtos": a server-side cart per organization and user."""

    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id", "product_id", name="uq_cart_items_org_user_product"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Per item, not per cart: one checkout may buy products for different departments. The subscription the
    # checkout creates starts with them (same rules as Subscription.purchase_order / cost_centre).
    purchase_order: Mapped[str] = mapped_column(String(60), default="", server_default="")
    cost_centre: Mapped[str] = mapped_column(String(60), default="", server_default="")

    product: Mapped[Product] = relationship()
