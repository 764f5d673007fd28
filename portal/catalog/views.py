"""Customer pages of the catalog: "Adicionar novos produtos" (families, search, detail), cart and checkout."""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from portal.accounts.context import current_actor
from portal.accounts.roles import Permission
from portal.catalog import cart as carts
from portal.catalog import service
from portal.catalog.forms import AddToCartForm, CartQuantityForm
from portal.catalog.models import BILLING_LABELS, PROVIDER_LABELS, TERM_LABELS, TERM_MONTHS
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import show_error
from portal.shared.paging import requested_page
from portal.shared.permissions import requires
from portal.subscriptions import window
from portal.subscriptions.checkout import quote_checkout
from portal.subscriptions.confirmation import AwaitingApproval
from portal.subscriptions.forms import ReferenceForm

bp = Blueprint("catalog", __name__)

MAX_QUERY = 100  # characters of the search text that count


def _user():
    return current_user._get_current_object()


def _labels() -> dict:
    # Translated once per page (not once per product card): the lazy labels as the current language's text.
    return {"provider_labels": _words(PROVIDER_LABELS), "term_labels": _words(TERM_LABELS),
            "billing_labels": _words(BILLING_LABELS), "term_months": TERM_MONTHS}


def _words(labels: dict) -> dict:
    return {key: str(label) for key, label in labels.items()}


@bp.context_processor
def _window_words() -> dict:
    # templates/catalog/_macros.html's `term_meaning`: what a product's decrease window allows, in words.
    return {"window_limit": window.limit_words}


def _same_site(target: str | None) -> str | None:
    """Only same-site relative paths are followed back after adding to the cart."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or not target.isprintable():
        return None
    return target


def _licenses_url() -> str:
    return url_for("subscriptions.licenses")


# ---------------------------------------------------------------- "Adicionar novos produtos"

def _family_arg() -> int | str | None:
    """?familia=: None (all), an id, or the raw text when it cannot be an id (the service reports it)."""
    raw = (request.args.get("familia") or "").strip()
    if not raw:
        return None
    return int(raw) if raw.isdigit() and len(raw) <= 10 else raw


@bp.get("/produtos")
@requires(Permission.LICENSES_MANAGE)
def products():
    family_id = _family_arg()
    query = (request.args.get("q") or "").strip()[:MAX_QUERY]
    page = requested_page()
    families = service.active_families()
    problem = None
    try:
        result = service.browse(family_id=family_id, query=query, page=page, today=clock.today())
    except NotFound as error:
        problem, result = error.message, service.CatalogPage(items=[], page=1, has_next=False, total=0)
    return render_template(
        "catalog/products.html", result=result, families=families, family_id=family_id, query=query,
        problem=problem, **_labels(),
    )


@bp.get("/produtos/<int:product_id>")
@requires(Permission.LICENSES_MANAGE)
def product(product_id: int):
    try:
        item = service.sellable_product(product_id, today=clock.today())
    except NotFound:
        abort(404)
    form = AddToCartForm(formdata=None, product_id=item.product.id, quantity=item.product.min_quantity)
    return render_template("catalog/product.html", item=item, form=form, **_labels())


@bp.post("/carrinho/adicionar")
@requires(Permission.LICENSES_MANAGE)
def add_to_cart():
    form = AddToCartForm()
    today = clock.today()
    try:
        item = service.sellable_product(form.product_id.data, today=today)
    except NotFound as error:
        flash(error.message, "danger")
        return redirect(url_for("catalog.products"))
    back = _same_site(form.next.data) or url_for("catalog.product", product_id=item.product.id)
    if form.validate_on_submit():
        try:
            carts.set_cart_quantity(organization=g.organization, user=_user(), product_id=item.product.id,
                                    quantity=form.quantity.data, add=True)
        except ServiceError as error:
            form.quantity.errors = [*form.quantity.errors, error.message]
        else:
            flash(ngettext("%(num)d licença de %(product)s adicionada ao carrinho.",
                           "%(num)d licenças de %(product)s adicionadas ao carrinho.", form.quantity.data,
                           product=item.product.name), "success")
            return redirect(back)
    # The product page again, with the typed quantity and what is wrong with it.
    return render_template("catalog/product.html", item=item, form=form, **_labels()), 422


@bp.get("/carrinho")
@requires(Permission.LICENSES_MANAGE)
def cart():
    return _render_cart()


def _render_cart(errors: dict[int, tuple[str, str]] | None = None, status: int = 200,
                 reference: tuple[int, ReferenceForm] | None = None):
    """The cart; `errors`: product id → (typed quantity, message) of a line that was not saved; `reference`:
    (product id, the form as typed, with its problems) of a line whose PO or cost centre was not saved."""
    return render_template("catalog/cart.html", cart=carts.cart(g.organization, _user(), today=clock.today()),
                           errors=errors or {}, form=CartQuantityForm(formdata=None),
                           reference=reference, **_labels()), status


@bp.post("/carrinho/<int:product_id>/pedido-de-compra")
@requires(Permission.LICENSES_MANAGE)
def cart_reference(product_id: int):
    """A cart line's purchase-order number and cost centre, for the subscription its checkout creates."""
    form = ReferenceForm()
    if form.validate_on_submit():
        try:
            carts.set_cart_reference(organization=g.organization, user=_user(), product_id=product_id,
                                     purchase_order=form.purchase_order.data, cost_centre=form.cost_centre.data)
        except NotFound as error:  # not (or no longer) in this user's cart, as "Atualizar" answers it
            flash(error.message, "danger")
            return redirect(url_for("catalog.cart"))
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Pedido de compra e centro de custo salvos."), "success")
            return redirect(url_for("catalog.cart"))
    return _render_cart(status=422, reference=(product_id, form))


@bp.post("/carrinho/<int:product_id>")
@requires(Permission.LICENSES_MANAGE)
def update_cart(product_id: int):
    form = CartQuantityForm()
    if "quantity" not in request.form:
        flash(_("Informe a quantidade."), "danger")
        return redirect(url_for("catalog.cart"))
    if form.validate_on_submit():
        try:
            item = carts.update_cart(organization=g.organization, user=_user(), product_id=product_id,
                                     quantity=form.quantity.data)
        except NotFound as error:
            flash(error.message, "danger")
            return redirect(url_for("catalog.cart"))
        except ServiceError as error:
            form.quantity.errors = [*form.quantity.errors, error.message]
        else:
            flash(_("Carrinho atualizado.") if item is not None else _("Produto removido do carrinho."), "success")
            return redirect(url_for("catalog.cart"))
    return _render_cart({product_id: (request.form.get("quantity", ""), " ".join(map(str, form.quantity.errors)))},
                        422)


@bp.post("/carrinho/revisar")
@requires(Permission.LICENSES_MANAGE)
def review():
    try:
        quote = quote_checkout(organization=g.organization, user=_user(), actor=current_actor())
    except ServiceError as error:
        flash(error.message, "danger")
        return redirect(url_for("catalog.cart"))
    return redirect(url_for("catalog.checkout", token=quote.token))


# ---------------------------------------------------------------- checkout

@bp.get("/carrinho/orcamento/<token>")
@requires(Permission.LICENSES_MANAGE)
def checkout(token: str):
    try:
        preview = service.checkout_preview(g.organization, token)
    except NotFound:
        abort(404)
    return render_template("catalog/checkout.html", preview=preview, licenses_url=_licenses_url(), **_labels())


@bp.post("/carrinho/orcamento/<token>/confirmar")
@requires(Permission.LICENSES_MANAGE)
def confirm(token: str):
    try:
        service.checkout_quote(g.organization, token)
    except NotFound:
        abort(404)
    try:
        service.confirm_checkout(g.organization, token, actor=current_actor())
    except AwaitingApproval as waiting:
        flash(waiting.message, "warning")
        return redirect(url_for("approvals.detail", request_id=waiting.request.id))
    except ServiceError as error:  # StaleQuote (prices changed, expired, the day's invoice issued), a product …
        flash(error.message, "warning")
        return redirect(url_for("catalog.cart"))
    flash(_("Pedido registrado. Os novos produtos serão provisionados em até 30 minutos."), "success")
    return redirect(_licenses_url())
