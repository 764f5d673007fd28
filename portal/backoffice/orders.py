"""Backoffice "Pedidos": every order with its provisioning log, filters, retries and implantação.

Staff see every organization's orders (no tenant scoping here: the backoffice is staff-only) and the
provider's own words. Acting on an order (reenviar, concluir) goes through the subscriptions room's
`retry_by_staff` / `complete_by_staff`, which write the OrderEvent, the audit event and the e-mail.
"""

import json
from datetime import datetime, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.accounts import service as accounts
from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.catalog.models import Provider
from portal.shared import clock
from portal.shared.errors import ServiceError
from portal.shared.formatting import duration_label
from portal.shared.paging import requested_page
from portal.shared.permissions import staff_can, staff_requires
from portal.subscriptions import orders as order_service
from portal.subscriptions.forms import (
    KIND_CHOICES,
    STATUS_CHOICES,
    CompleteOrderForm,
    OrderActionForm,
    OrderFilters,
    parse_filters,
)
from portal.subscriptions.models import ORDER_STATUS_LABELS, Order, OrderKind, OrderStatus

PER_PAGE = 50
MAX_PAGE = 100_000  # a huge ?pagina= would overflow the database's OFFSET

ORDER_KIND_LABELS = {
    OrderKind.QUANTITY_CHANGE: _l("alteração de quantidade"),
    OrderKind.RENEWAL_QUANTITY: _l("quantidade na renovação"),
    OrderKind.PURCHASE: _l("compra"),
}
STATUS_BADGES = {  # Bootstrap badge classes per status
    OrderStatus.PENDING: "text-bg-secondary",
    OrderStatus.SENT: "text-bg-info",
    OrderStatus.DONE: "text-bg-success",
    OrderStatus.FAILED: "text-bg-danger",
}


# ---------------------------------------------------------------- reading

def search_orders(filters: OrderFilters, *, now: datetime, page: int, per_page: int = PER_PAGE) -> list[Order]:
    """Orders matching `filters`, newest first: up to `per_page + 1` rows (one more tells there is a next page)."""
    return order_service.search_orders(
        status=filters.status, kind=filters.kind, overdue=filters.overdue, needs_staff=filters.needs_staff,
        organization=filters.organization, created_from=filters.created_from, created_to=filters.created_to,
        now=now, page=page, per_page=per_page)


def _order_or_404(order_id: int, *, lock: bool = False) -> Order:
    order = order_service.order_for_staff(order_id, lock=lock)
    if order is None:
        abort(404)
    return order


def _row(order: Order, now: datetime) -> dict:
    """What the list shows of an order besides its columns: its age (how long it has been open, or how long it
    took once done) and, while open, how late it is on the 30-minute promise."""
    end = order.completed_at if order.completed_at is not None else now
    late = now - order.created_at - order_service.PROMISED
    overdue = order.is_open and late > timedelta(0)
    return {"order": order, "age": duration_label(end - order.created_at),
            "overdue": overdue, "late": duration_label(late) if overdue else None}


def _pretty(detail) -> str | None:
    if detail in (None, {}, []):
        return None
    return json.dumps(detail, indent=2, ensure_ascii=False, sort_keys=True, default=str)


# ---------------------------------------------------------------- template helpers (navigation, home page)

@bp.app_context_processor
def _orders_template_helpers():
    return {"orders_health_counts": lambda: order_service.health_counts(clock.now())}


# ---------------------------------------------------------------- pages

@bp.get("/pedidos")
@staff_requires(StaffPermission.ORDERS_READ)
def orders():
    filters = parse_filters(request.args)
    page = requested_page(MAX_PAGE)
    now = clock.now()
    rows = search_orders(filters, now=now, page=page)
    return render_template(
        "backoffice/orders.html", rows=[_row(order, now) for order in rows[:PER_PAGE]], filters=filters,
        page=page, has_next=len(rows) > PER_PAGE, kind_labels=ORDER_KIND_LABELS, status_badges=STATUS_BADGES,
        status_choices=STATUS_CHOICES, kind_choices=KIND_CHOICES,
    ), 422 if filters.errors else 200


@bp.get("/implantacao")
@staff_requires(StaffPermission.ORDERS_READ)
def implantacao():
    """The staff queue ("implantação" of own services, and orders that failed for good): a preset of the list."""
    return redirect(url_for("backoffice.orders", equipe="1"))


def _render_order(order: Order):
    requester = accounts.get_user(order.requested_by_id) if order.requested_by_id else None
    own_service = order.subscription.product.provider == Provider.OWN_SERVICE
    manage = staff_can(StaffPermission.ORDERS_MANAGE) and order.status != OrderStatus.DONE
    return render_template(
        "backoffice/order.html", order=order, row=_row(order, clock.now()), requester=requester,
        own_service=own_service, events=[(event, _pretty(event.detail)) for event in order.events],
        kind_labels=ORDER_KIND_LABELS, status_badges=STATUS_BADGES, status_labels=ORDER_STATUS_LABELS,
        can_retry=manage and not own_service, can_complete=manage, action_form=OrderActionForm(),
    )


@bp.get("/pedidos/<int:order_id>")
@staff_requires(StaffPermission.ORDERS_READ)
def order(order_id: int):
    return _render_order(_order_or_404(order_id))


@bp.post("/pedidos/<int:order_id>/reenviar")
@staff_requires(StaffPermission.ORDERS_MANAGE)
def retry_order(order_id: int):
    order = _order_or_404(order_id, lock=True)
    try:
        order_service.retry_by_staff(order, actor=current_actor())
    except ServiceError as error:
        flash(error.message, "danger")
    else:
        flash(_("Pedido nº %(id)d reenviado ao provedor, a partir da primeira tentativa.", id=order_id), "success")
    return redirect(url_for("backoffice.order", order_id=order_id))


@bp.route("/pedidos/<int:order_id>/concluir", methods=["GET", "POST"])
@staff_requires(StaffPermission.ORDERS_MANAGE)
def complete_order(order_id: int):
    """The confirmation step (GET: the order and the note to write) and the completion itself (POST)."""
    order = _order_or_404(order_id, lock=request.method == "POST")
    if request.method == "GET" and order.status == OrderStatus.DONE:
        flash(_("Este pedido já foi concluído."), "info")
        return redirect(url_for("backoffice.order", order_id=order_id))
    form = CompleteOrderForm()
    if form.validate_on_submit():
        try:
            order_service.complete_by_staff(order, actor=current_actor(), note=form.note.data or "")
        except ServiceError as error:
            field = getattr(form, error.field, None) if error.field else None
            if field is not None:
                field.errors = [*field.errors, error.message]
            else:
                flash(error.message, "danger")
        else:
            flash(_("Pedido nº %(id)d concluído; o cliente foi avisado por e-mail.", id=order_id), "success")
            return redirect(url_for("backoffice.order", order_id=order_id))
    own_service = order.subscription.product.provider == Provider.OWN_SERVICE
    return render_template(
        "backoffice/order_complete.html", order=order, form=form, own_service=own_service,
        kind_labels=ORDER_KIND_LABELS, status_badges=STATUS_BADGES,
    ), 200 if request.method == "GET" else 422
