"""Purchase offers: products and license counts behind an unguessable link, and who opened and accepted it."""

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.shared import clock
from portal.shared.dbtypes import UTCDateTime


class OfferStatus(StrEnum):
    DRAFT = "draft"  # "rascunho"
    SENT = "sent"  # "enviada"
    ACCEPTED = "accepted"  # "aceita"
    EXPIRED = "expired"  # "expirada"
    CANCELLED = "cancelled"  # "cancelada"


OFFER_STATUS_LABELS = {
    OfferStatus.DRAFT: _l("rascunho"),
    OfferStatus.SENT: _l("enviada"),
    OfferStatus.ACCEPTED: _l("aceita"),
    OfferStatus.EXPIRED: _l("expirada"),
    OfferStatus.CANCELLED: _l("cancelada"),
}


class PurchaseOffer(db.Model):
    __tablename__ = "purchase_offers"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'sent', 'accepted', 'expired', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the unguessable part of the URL
    summary_id: Mapped[str] = mapped_column(String(30), unique=True)  # "ID do resumo", e.g. OF-2026-000123
    status: Mapped[str] = mapped_column(String(10), default=OfferStatus.DRAFT, index=True)
    partner_office: Mapped[str] = mapped_column(String(120))  # escritório do parceiro
    usage_location: Mapped[str] = mapped_column(String(2))  # local de uso (ISO country code)
    delegated_admin: Mapped[bool] = mapped_column(Boolean, default=False)  # administração delegada offered
    message: Mapped[str] = mapped_column(Text, default="")  # the personal message shown with the offer
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))  # meant for (optional)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    accepted_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    delegated_admin_accepted: Mapped[bool | None] = mapped_column(Boolean)
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"))  # the checkout it became

    items: Mapped[list["PurchaseOfferItem"]] = relationship(order_by="PurchaseOfferItem.id")
    views: Mapped[list["PurchaseOfferView"]] = relationship(order_by="PurchaseOfferView.id")


class PurchaseOfferItem(db.Model):
    __tablename__ = "purchase_offer_items"
    __organization_via__ = "offer_id"  # its organization is that row's (data_versions)
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("purchase_offers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)  # licenses offered (the customer may change it on accepting)


class PurchaseOfferView(db.Model):
    """Someone signed in opened the offer's link (the list shows who opened and accepted)."""

    __tablename__ = "purchase_offer_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("purchase_offers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
