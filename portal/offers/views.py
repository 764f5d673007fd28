"""The customer side of a purchase offer's link (/oferta/<token>): open it, adjust the counts, accept, confirm.

Opening is @public because an anonymous visitor gets a page of its own (sign in, or ask to be registered);
accepting needs LICENSES_MANAGE (Master, Adm) in the current organization. An offer meant for another
organization, like a token that names nothing, is a 404, unless the user belongs to that organization too: then
a page asks to switch to it (portal/accounts/switching.py). An expired or cancelled offer is 410 Gone.
"""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.context import current_actor
from portal.accounts.roles import Permission, StaffPermission
from portal.accounts.switching import switch_or_404
from portal.catalog.models import BILLING_LABELS, TERM_LABELS
from portal.offers import service
from portal.offers.forms import AcceptOfferForm, ConfirmOfferForm, quantity_name, read_quantities
from portal.offers.models import OfferStatus
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.permissions import public, requires, staff_can

bp = Blueprint("offers", __name__)

# The answer for an offer that cannot be accepted, by state.
UNAVAILABLE_STATUS = {OfferStatus.EXPIRED: 410, OfferStatus.CANCELLED: 410, OfferStatus.DRAFT: 404,
                      OfferStatus.ACCEPTED: 200}


def _user():
    return current_user._get_current_object()


def _render(view: service.CustomerOffer, *, form: AcceptOfferForm | None = None, typed: dict | None = None,
            errors: dict | None = None, problem: str | None = None, status: int | None = None):
    if status is None:
        status = UNAVAILABLE_STATUS[OfferStatus(view.problem.status)] if view.problem else 200
    return render_template(
        "offers/show.html", view=view, offer=view.offer, form=form or AcceptOfferForm(formdata=None),
        typed=typed or {}, errors=errors or {}, problem=problem, quantity_name=quantity_name,
        country_names=dict(service.countries(str(get_locale() or "pt_BR"))), term_labels=TERM_LABELS,
        billing_labels=BILLING_LABELS,
    ), status


def _open(token: str) -> service.CustomerOffer:
    try:
        return service.open_offer(token, organization=g.organization, user=_user())
    except NotFound:
        abort(404)


@bp.get("/oferta/<token>")
@public
def show(token: str):
    if not current_user.is_authenticated:
        try:
            service.find_by_token(token)
        except NotFound:
            abort(404)
        return render_template("offers/sign_in.html", login_url=url_for("accounts.login", next=request.path))
    if current_user.is_staff:  # staff have no organization: the backoffice page of the same offer
        try:
            offer = service.find_by_token(token)
        except NotFound:
            abort(404)
        if not staff_can(StaffPermission.PIPELINE_READ):
            abort(404)
        return redirect(url_for("backoffice.offer", offer_id=offer.id))
    if getattr(g, "organization", None) is None:
        abort(403)
    try:
        offer = service.find_by_token(token)
    except NotFound:
        abort(404)
    if offer.organization_id is not None and offer.organization_id != g.organization.id:
        switch_or_404(offer.organization_id, url_for("offers.show", token=token))  # or 404: nothing leaks
    return _render(_open(token))


@bp.post("/oferta/<token>/aceitar")
@requires(Permission.LICENSES_MANAGE)
def quote(token: str):
    """"Aceitar": price the offer with the counts typed, then the checkout review (nothing bought yet)."""
    form = AcceptOfferForm()
    try:
        offer = service.find_by_token(token)
    except NotFound:
        abort(404)
    quantities, typed = read_quantities(request.form, [item.product_id for item in offer.items], keep_empty=True)
    errors, problem = {}, None
    if form.validate_on_submit():
        try:
            quote = service.quote_offer(token=token, organization=g.organization, quantities=quantities,
                                        actor=current_actor())
        except NotFound:
            abort(404)
        except PermissionDenied:
            abort(403)
        except service.OfferUnavailable:
            return redirect(url_for("offers.show", token=token))
        except service.InvalidCounts as error:
            errors, problem = error.errors, error.message
        except ServiceError as error:  # the agreement gate, a delinquent organization, a rescission …
            problem = error.message
        else:
            delegated = "1" if offer.delegated_admin and form.delegated_admin.data else None
            return redirect(url_for("offers.review", token=token, quote_token=quote.token, adm=delegated))
    return _render(_open(token), form=form, typed=typed, errors=errors, problem=problem, status=422)


@bp.get("/oferta/<token>/orcamento/<quote_token>")
@requires(Permission.LICENSES_MANAGE)
def review(token: str, quote_token: str):
    """The usual checkout preview (pró-rata, monthly value, next invoice) of the offer's quote."""
    try:
        found = service.review_offer(token=token, organization=g.organization, quote_token=quote_token,
                                     actor=current_actor())
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)
    except service.OfferUnavailable:
        return redirect(url_for("offers.show", token=token))
    delegated = found.offer.delegated_admin and request.args.get("adm") == "1"
    return render_template("offers/review.html", review=found, offer=found.offer, preview=found.preview,
                           delegated=delegated, form=ConfirmOfferForm(formdata=None, delegated_admin=delegated),
                           term_labels=TERM_LABELS)


@bp.post("/oferta/<token>/orcamento/<quote_token>/confirmar")
@requires(Permission.LICENSES_MANAGE)
def confirm(token: str, quote_token: str):
    form = ConfirmOfferForm()
    form.validate_on_submit()  # CSRF is checked before the view; the checkbox cannot be invalid
    try:
        acceptance = service.accept_offer(token=token, organization=g.organization, quote_token=quote_token,
                                          delegated_admin=bool(form.delegated_admin.data),
                                          actor=current_actor())
    except NotFound:
        abort(404)
    except PermissionDenied:
        abort(403)
    except service.OfferUnavailable:
        return redirect(url_for("offers.show", token=token))
    except ServiceError as error:  # the quote expired or prices changed; the agreement gate
        flash(error.message, "warning")
        return redirect(url_for("offers.show", token=token))
    flash(_("Oferta %(summary)s aceita. Pedido registrado: os novos produtos serão provisionados em até 30 minutos.",
            summary=acceptance.offer.summary_id), "success")
    return redirect(url_for("subscriptions.licenses"))
