"""Backoffice "Catálogo": product families, products and their dated prices (staff admin)."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.catalog import service
from portal.catalog.forms import FamilyForm, PriceForm, ProductForm
from portal.catalog.models import BILLING_LABELS, PROVIDER_LABELS, TERM_LABELS, Product
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_date, format_money
from portal.shared.forms import show_error
from portal.shared.permissions import staff_requires

ACTIVE_FILTERS = {"ativos": True, "inativos": False, "todos": None}


def _status() -> int:
    return 200 if request.method == "GET" else 422


def _labels() -> dict:
    return {"provider_labels": PROVIDER_LABELS, "term_labels": TERM_LABELS, "billing_labels": BILLING_LABELS}


def _or_404(getter, object_id: int):
    try:
        return getter(object_id)
    except NotFound:
        abort(404)


@bp.get("/catalogo")
@staff_requires(StaffPermission.CATALOG_MANAGE)
def catalog():
    families = service.all_families()
    raw_family = (request.args.get("familia") or "").strip()
    family_id = int(raw_family) if raw_family.isdigit() and len(raw_family) <= 10 else None
    if family_id is not None and family_id not in {f.id for f in families}:
        family_id = None
    situation = request.args.get("situacao") if request.args.get("situacao") in ACTIVE_FILTERS else "todos"
    products = service.staff_products(family_id=family_id, active=ACTIVE_FILTERS[situation])
    return render_template(
        "backoffice/catalog.html", families=families, counts=service.family_product_counts(), products=products,
        family_id=family_id, situation=situation, today=clock.today(), **_labels(),
    )


# ---------------------------------------------------------------- families

@bp.route("/catalogo/familias/nova", methods=["GET", "POST"])
@staff_requires(StaffPermission.CATALOG_MANAGE)
def catalog_new_family():
    form = FamilyForm()
    if form.validate_on_submit():
        try:
            family = service.create_family(name=form.name.data, description=form.description.data or "",
                                           position=form.position.data, active=form.active.data,
                                           actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Família %(name)s criada.", name=family.name), "success")
            return redirect(url_for("backoffice.catalog"))
    return render_template("backoffice/catalog_family.html", form=form, family=None), _status()


@bp.route("/catalogo/familias/<int:family_id>", methods=["GET", "POST"])
@staff_requires(StaffPermission.CATALOG_MANAGE)
def catalog_family(family_id: int):
    family = _or_404(service.get_family, family_id)
    form = FamilyForm(obj=family if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            service.update_family(family, name=form.name.data, description=form.description.data or "",
                                  position=form.position.data, active=form.active.data,
                                  actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Família %(name)s salva.", name=family.name), "success")
            return redirect(url_for("backoffice.catalog"))
    return render_template("backoffice/catalog_family.html", form=form, family=family), _status()


# ---------------------------------------------------------------- products

def _product_data(form: ProductForm) -> service.ProductData:
    return service.ProductData(
        sku=form.sku.data or "", name=form.name.data or "", description=form.description.data or "",
        family_id=form.family_id.data, provider=form.provider.data, offer_id=form.offer_id.data or None,
        term=form.term.data, billing_frequency=form.billing_frequency.data,
        decrease_window_hours=form.decrease_window_hours.data, min_quantity=form.min_quantity.data,
        max_quantity=form.max_quantity.data, active=bool(form.active.data),
        upgrade_to=tuple(form.upgrade_to.data or ()),
    )


@bp.route("/catalogo/produtos/nova", methods=["GET", "POST"])
@staff_requires(StaffPermission.CATALOG_MANAGE)
def catalog_new_product():
    form = ProductForm()
    if request.method == "GET":
        wanted = request.args.get("familia", type=int)
        form.family_id.data = wanted if wanted in {f.id for f in service.all_families()} else None
    if form.validate_on_submit():
        try:
            product = service.create_product(_product_data(form), actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Produto %(name)s criado. Cadastre o preço para que ele apareça no catálogo.",
                    name=product.name), "success")
            return redirect(url_for("backoffice.catalog_product", product_id=product.id))
    return render_template("backoffice/catalog_product.html", form=form, product=None, **_labels()), _status()


def _render_product(product: Product, form: ProductForm, price_form: PriceForm, status: int):
    return render_template(
        "backoffice/catalog_product.html", form=form, product=product, price_form=price_form,
        prices=service.price_history(product), today=clock.today(), **_labels(),
    ), status


@bp.route("/catalogo/produtos/<int:product_id>", methods=["GET", "POST"])
@staff_requires(StaffPermission.CATALOG_MANAGE)
def catalog_product(product_id: int):
    product = _or_404(service.get_product, product_id)
    form = ProductForm(obj=product if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            service.update_product(product, _product_data(form), actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Produto %(name)s salvo.", name=product.name), "success")
            return redirect(url_for("backoffice.catalog_product", product_id=product.id))
    price_form = PriceForm(formdata=None, prefix="price", effective_from=clock.today())
    return _render_product(product, form, price_form, _status())


@bp.route("/catalogo/produtos/<int:product_id>/precos/novo", methods=["GET", "POST"])
@staff_requires(StaffPermission.CATALOG_MANAGE)
def catalog_new_price(product_id: int):
    """"Novo preço" (the form lives on the product page; a GET just goes there)."""
    product = _or_404(service.get_product, product_id)
    if request.method == "GET":
        return redirect(url_for("backoffice.catalog_product", product_id=product.id, _anchor="novo-preco"))
    price_form = PriceForm(prefix="price")
    if price_form.validate_on_submit():
        try:
            price = service.add_price(product, unit_price_cents=price_form.unit_price_cents,
                                      effective_from=price_form.effective_from.data, actor=current_actor())
        except ServiceError as error:
            show_error(price_form, error)
        else:
            flash(_("Novo preço de %(name)s: %(price)s a partir de %(date)s.", name=product.name,
                    price=format_money(price.unit_price_cents), date=format_date(price.effective_from)), "success")
            return redirect(url_for("backoffice.catalog_product", product_id=product.id))
    return _render_product(product, ProductForm(obj=product, formdata=None), price_form, 422)
