"""What the REST API reads and keeps: pages of an organization's objects by cursor, single objects (another
organization's is not found), and the Idempotency-Key claims and answers.

Cursors are opaque to clients: the id of the last object of the page, base64url-encoded; every list is ordered by
id (ascending, or descending for invoices, orders and tickets: newest first), so a cursor stays valid while new
objects arrive.
"""

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import Membership, Organization
from portal.api.models import IdempotentRequest
from portal.billing.models import Invoice, InvoiceStatus
from portal.catalog.models import Product, ProductFamily
from portal.extensions import db
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.subscriptions.models import Order, Subscription
from portal.support.models import Ticket

IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_LIMIT = 100


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor stands for; None for no cursor; ServiceError (field "cursor") for anything else."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _sep, value = text.partition(":")
        found = int(value)
        if kind != "id" or not 0 < found <= 2**31 - 1:
            raise ValueError(text)
    except (ValueError, UnicodeDecodeError):
        raise ServiceError(_("Cursor inválido: use o next_cursor de uma resposta anterior."), field="cursor") from None
    return found


def _page(statement, id_column, *, cursor: str | None, limit: int, newest_first: bool) -> Page:
    after = decode_cursor(cursor)
    if after is not None:
        statement = statement.where(id_column < after if newest_first else id_column > after)
    statement = statement.order_by(id_column.desc() if newest_first else id_column).limit(limit + 1)
    items = list(db.session.scalars(statement).unique())
    next_cursor = encode_cursor(items[limit - 1].id) if len(items) > limit else None
    return Page(items[:limit], next_cursor)


# ---------------------------------------------------------------- subscriptions

def subscriptions(organization: Organization, *, cursor: str | None, limit: int) -> Page:
    statement = (select(Subscription).where(Subscription.organization_id == organization.id)
                 .options(joinedload(Subscription.product)))
    return _page(statement, Subscription.id, cursor=cursor, limit=limit, newest_first=False)


def subscription(organization: Organization, subscription_id: int) -> Subscription:
    found = db.session.scalars(
        select(Subscription).where(Subscription.id == subscription_id, Subscription.organization_id == organization.id)
        .options(joinedload(Subscription.product), selectinload(Subscription.lots))
    ).unique().one_or_none()
    if found is None:
        raise NotFound(_("Licença não encontrada."))
    return found


def etag(found: Subscription) -> str:
    """The subscription's ETag: changes with every change of it (its version counter)."""
    return f'"subscription-{found.id}-v{found.version}"'


# ---------------------------------------------------------------- catalog

def families() -> list[ProductFamily]:
    return list(db.session.scalars(select(ProductFamily).where(ProductFamily.active)
                                   .order_by(ProductFamily.position, ProductFamily.id)))


def products(*, family_id: int | None, cursor: str | None, limit: int) -> Page:
    statement = (select(Product).join(ProductFamily, ProductFamily.id == Product.family_id)
                 .where(Product.active, ProductFamily.active).options(selectinload(Product.prices)))
    if family_id is not None:
        statement = statement.where(Product.family_id == family_id)
    return _page(statement, Product.id, cursor=cursor, limit=limit, newest_first=False)


# ---------------------------------------------------------------- invoices

def invoices(organization: Organization, *, status: str | None, year: int | None, cursor: str | None,
             limit: int) -> Page:
    """`status`: open, overdue (open past its due date), paid or cancelled, as on "Faturas"."""
    statement = select(Invoice).where(Invoice.organization_id == organization.id)
    today = clock.today()
    if status == "overdue":
        statement = statement.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today)
    elif status == InvoiceStatus.OPEN:
        statement = statement.where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date >= today)
    elif status is not None:
        statement = statement.where(Invoice.status == status)
    if year is not None:
        statement = statement.where(Invoice.year == year)
    statement = statement.options(selectinload(Invoice.boletos), selectinload(Invoice.payments))
    return _page(statement, Invoice.id, cursor=cursor, limit=limit, newest_first=True)


def invoice(organization: Organization, invoice_id: int) -> Invoice:
    found = db.session.scalars(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.organization_id == organization.id)
        .options(selectinload(Invoice.lines), selectinload(Invoice.boletos), selectinload(Invoice.payments))
    ).one_or_none()
    if found is None:
        raise NotFound(_("Fatura não encontrada."))
    return found


# ---------------------------------------------------------------- orders

def orders(organization: Organization, *, cursor: str | None, limit: int) -> Page:
    statement = (select(Order).where(Order.organization_id == organization.id)
                 .options(joinedload(Order.subscription).joinedload(Subscription.product)))
    return _page(statement, Order.id, cursor=cursor, limit=limit, newest_first=True)


def order(organization: Organization, order_id: int) -> Order:
    found = db.session.scalars(
        select(Order).where(Order.id == order_id, Order.organization_id == organization.id)
        .options(joinedload(Order.subscription).joinedload(Subscription.product), selectinload(Order.events))
    ).unique().one_or_none()
    if found is None:
        raise NotFound(_("Pedido não encontrado."))
    return found


# ---------------------------------------------------------------- tickets and users

def tickets(organization: Organization, *, status: str | None, cursor: str | None, limit: int) -> Page:
    statement = select(Ticket).where(Ticket.organization_id == organization.id)
    if status is not None:
        statement = statement.where(Ticket.status == status)
    return _page(statement, Ticket.id, cursor=cursor, limit=limit, newest_first=True)


def memberships(organization: Organization, *, cursor: str | None, limit: int) -> Page:
    statement = (select(Membership).where(Membership.organization_id == organization.id)
                 .options(joinedload(Membership.user), selectinload(Membership.role_rows)))
    return _page(statement, Membership.id, cursor=cursor, limit=limit, newest_first=False)


# ---------------------------------------------------------------- Idempotency-Key

def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


def claim(token_id: int, key: str, print_: str) -> IdempotentRequest | None:
    """Claim `key` for this request (committed: the unique index lets one request of many claim it); None when
    claimed, else the earlier request's row (its answer to repeat, another body's fingerprint, or still running).
    Keys older than 24 hours are forgotten first."""
    now = clock.now()
    db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.token_id == token_id,
                                                       IdempotentRequest.created_at < now - IDEMPOTENCY_TTL))
    table = IdempotentRequest.__table__
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    claimed = db.session.execute(
        insert(table).values(token_id=token_id, key=key, fingerprint=print_, created_at=now)
        .on_conflict_do_nothing(index_elements=[table.c.token_id, table.c.key]).returning(table.c.id)
    ).scalar_one_or_none()
    db.session.commit()
    if claimed is not None:
        return None
    return db.session.scalars(select(IdempotentRequest).where(IdempotentRequest.token_id == token_id,
                                                              IdempotentRequest.key == key)).one()


def keep_answer(token_id: int, key: str, *, status: int, content_type: str | None, headers: dict[str, str],
                body: str) -> None:
    db.session.execute(update(IdempotentRequest).where(and_(IdempotentRequest.token_id == token_id,
                                                            IdempotentRequest.key == key))
                       .values(status_code=status, content_type=content_type, headers=json.dumps(headers),
                               body=body))
    db.session.commit()


def release(token_id: int, key: str) -> None:
    """Forget a claim whose request failed unexpectedly, so the same key can be sent again."""
    db.session.rollback()
    db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.token_id == token_id,
                                                       IdempotentRequest.key == key,
                                                       IdempotentRequest.status_code.is_(None)))
    db.session.commit()
