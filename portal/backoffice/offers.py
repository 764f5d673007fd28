"""Backoffice "Ofertas": the list of purchase offers (who opened and accepted each), creating, sending, cancelling.

Every staff role reads (PIPELINE_READ); comercial and admin act (OFFERS_MANAGE). The customer side of the link
is `portal.offers.views`.
"""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.offers import service
from portal.offers.forms import CancelOfferForm, OfferForm, SendOfferForm, quantity_name, read_quantities
from portal.offers.models import OFFER_STATUS_LABELS, OfferStatus
from portal.shared import clock, cnpj
from portal.shared.errors import NotFound, ServiceError
from portal.shared.links import absolute_url
from portal.shared.paging import requested_page
from portal.shared.permissions import staff_can, staff_requires

# ?situacao= values (as staff read them in the URL) → the stored states.
STATUS_SLUGS = {
    "rascunho": OfferStatus.DRAFT,
    "enviada": OfferStatus.SENT,
    "aceita": OfferStatus.ACCEPTED,
    "expirada": OfferStatus.EXPIRED,
    "cancelada": OfferStatus.CANCELLED,
}
STATUS_BADGES = {  # Bootstrap badge classes per state
    OfferStatus.DRAFT: "text-bg-secondary",
    OfferStatus.SENT: "text-bg-info",
    OfferStatus.ACCEPTED: "text-bg-success",
    OfferStatus.EXPIRED: "text-bg-warning",
    OfferStatus.CANCELLED: "text-bg-dark",
}


def _language() -> str:
    return str(get_locale() or "pt_BR")


def _configured_offices() -> list[str]:
    """PARTNER_OFFICES: a list, or text with the offices separated by commas (none: free text only)."""
    configured = current_app.config.get("PARTNER_OFFICES") or []
    if isinstance(configured, str):
        configured = configured.split(",")
    return [office.strip() for office in configured if office and office.strip()]


def _partner_offices() -> list[str]:
    """The form's suggestions: the configured offices, then those of recent offers; staff may type another."""
    offices = _configured_offices()
    return offices + [office for office in service.recent_offices() if office not in offices]


def _offer_url(offer) -> str:
    return absolute_url("offers.show", token=offer.token)


def _labels() -> dict:
    return {"status_badges": STATUS_BADGES, "status_labels": OFFER_STATUS_LABELS,
            "country_names": dict(service.countries(_language()))}


# ---------------------------------------------------------------- reading

@bp.get("/ofertas")
@staff_requires(StaffPermission.PIPELINE_READ)
def offers():
    slug = (request.args.get("situacao") or "").strip().lower()
    status = STATUS_SLUGS.get(slug)
    page = requested_page()
    rows = service.list_offers(status=status, page=page, now=clock.now())
    return render_template(
        "backoffice/offers/list.html", rows=rows[:service.PER_PAGE], page=page,
        has_next=len(rows) > service.PER_PAGE, slug=slug if status else "", status_slugs=STATUS_SLUGS,
        counts=service.offer_count_by_status(), can_manage=staff_can(StaffPermission.OFFERS_MANAGE), **_labels(),
    )


def _render_offer(offer_id: int, *, send_form=None, cancel_form=None, status: int = 200):
    try:
        detail = service.offer_detail(offer_id, now=clock.now())
    except NotFound:
        abort(404)
    offer = detail.row.offer
    url = _offer_url(offer)
    manage = staff_can(StaffPermission.OFFERS_MANAGE)
    return render_template(
        "backoffice/offers/detail.html", detail=detail, row=detail.row, offer=offer, url=url,
        copy_text=service.copy_text(offer, url, detail.row.lines),
        can_send=manage and offer.status == OfferStatus.DRAFT and detail.row.status == OfferStatus.DRAFT,
        can_cancel=manage and offer.status in service.OPEN_STATES,
        send_form=send_form or SendOfferForm(formdata=None), cancel_form=cancel_form or CancelOfferForm(formdata=None),
        **_labels(),
    ), status


@bp.get("/ofertas/<int:offer_id>")
@staff_requires(StaffPermission.PIPELINE_READ)
def offer(offer_id: int):
    return _render_offer(offer_id)


# ---------------------------------------------------------------- creating

def _new_form(offices: list[str]) -> OfferForm:
    form = OfferForm(expires_on=service.default_expiry(current_app.config["PURCHASE_OFFER_DAYS"]),
                     usage_location="BR", partner_office=next(iter(_configured_offices()), ""))
    if offices:
        form.partner_office.render_kw = {"list": "partner-offices", "autocomplete": "off"}
    form.expires_on.render_kw = {"type": "date"}
    form.usage_location.choices = service.countries(_language())
    form.organization_id.choices = [("", _("Qualquer cliente cadastrado"))] + [
        (str(org.id), f"{org.legal_name} · CNPJ {cnpj.format(org.cnpj)}") for org in service.organization_choices()]
    return form


@bp.route("/ofertas/nova", methods=["GET", "POST"])
@staff_requires(StaffPermission.OFFERS_MANAGE)
def offer_new():
    offices = _partner_offices()
    form = _new_form(offices)
    products = service.offerable_products(clock.today())
    quantities, typed = read_quantities(request.form, [p.id for p in products])
    count_errors: dict[int, str] = {}
    problem = None
    if form.validate_on_submit():
        data = service.OfferData(
            partner_office=form.partner_office.data or "", usage_location=form.usage_location.data or "",
            quantities=quantities, delegated_admin=bool(form.delegated_admin.data), expires_on=form.expires_on.data,
            organization_id=int(form.organization_id.data) if (form.organization_id.data or "").isdigit() else None,
            message=form.message.data or "",
        )
        try:
            offer = service.create_offer(data, actor=current_actor())
        except service.InvalidCounts as error:
            count_errors = error.errors
            problem = error.message
        except ServiceError as error:
            field = getattr(form, error.field, None) if error.field else None
            if field is not None:
                field.errors = [*field.errors, error.message]
            else:
                problem = error.message
        else:
            flash(_("Oferta %(summary)s criada como rascunho. Confira e envie ao cliente.",
                    summary=offer.summary_id), "success")
            return redirect(url_for("backoffice.offer", offer_id=offer.id))
    return render_template(
        "backoffice/offers/new.html", form=form, products=products, typed=typed, count_errors=count_errors,
        problem=problem, offices=offices, quantity_name=quantity_name, today=clock.today(),
    ), 200 if request.method == "GET" else 422


# ---------------------------------------------------------------- sending and cancelling

@bp.post("/ofertas/<int:offer_id>/enviar")
@staff_requires(StaffPermission.OFFERS_MANAGE)
def offer_send(offer_id: int):
    form = SendOfferForm()
    try:
        offer = service.get_offer(offer_id)
        if form.validate_on_submit():
            emailed = service.send_offer(offer, actor=current_actor(), offer_url=_offer_url(offer),
                                         email_masters=bool(form.email_masters.data))
        else:
            return _render_offer(offer_id, send_form=form, status=422)
    except NotFound:
        abort(404)
    except ServiceError as error:
        if error.field and hasattr(form, error.field):
            getattr(form, error.field).errors = [error.message]
            return _render_offer(offer_id, send_form=form, status=422)
        flash(error.message, "danger")
        return redirect(url_for("backoffice.offer", offer_id=offer_id))
    if emailed:
        flash(_("Oferta enviada: o link já funciona e foi enviado por e-mail para %(emails)s.",
                emails=", ".join(emailed)), "success")
    else:
        flash(_("Oferta enviada: o link já funciona. Copie o link e as informações abaixo para enviar ao cliente."),
              "success")
    return redirect(url_for("backoffice.offer", offer_id=offer_id))


@bp.post("/ofertas/<int:offer_id>/cancelar")
@staff_requires(StaffPermission.OFFERS_MANAGE)
def offer_cancel(offer_id: int):
    form = CancelOfferForm()
    if not form.validate_on_submit():
        return _render_offer(offer_id, cancel_form=form, status=422)
    try:
        offer = service.cancel_offer(service.get_offer(offer_id), reason=form.reason.data or "",
                                     actor=current_actor())
    except NotFound:
        abort(404)
    except ServiceError as error:
        if error.field == "reason":
            form.reason.errors = [error.message]
            return _render_offer(offer_id, cancel_form=form, status=422)
        flash(error.message, "danger")
        return redirect(url_for("backoffice.offer", offer_id=offer_id))
    flash(_("Oferta %(summary)s cancelada: o link não funciona mais.", summary=offer.summary_id), "success")
    return redirect(url_for("backoffice.offer", offer_id=offer_id))
