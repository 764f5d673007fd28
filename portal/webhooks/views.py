"""The Master's "Webhooks" pages (Minha conta → Integrações): the endpoints, a new one, one endpoint with its
delivery log, and its actions (testar, trocar segredo, ativar/desativar, excluir, reenviar)."""

from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.accounts.context import current_actor
from portal.accounts.roles import Permission
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import show_error
from portal.shared.paging import requested_page
from portal.shared.permissions import requires
from portal.webhooks import service
from portal.webhooks.forms import ActionForm, EndpointForm
from portal.webhooks.models import ATTEMPT_ERRORS, DELIVERY_STATUS_LABELS, EVENT_LABELS, EVENT_TYPES

bp = Blueprint("webhook_endpoints", __name__, url_prefix="/integracoes/webhooks")


def _endpoint_or_404(endpoint_id: int):
    try:
        return service.endpoint_for(g.organization.id, endpoint_id)
    except NotFound:
        abort(404)


def _show_secret(endpoint, secret: str, *, created: bool):
    """The secret, once: on the answer to the POST that made it, never stored in the session nor cached."""
    response = make_response(render_template("webhooks/secret.html", endpoint=endpoint, secret=secret,
                                             created=created))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("", methods=["GET", "POST"])
@requires(Permission.INTEGRATIONS_MANAGE)
def endpoints():
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            endpoint, secret = service.create_endpoint(g.organization, url=form.url.data,
                                                       description=form.description.data or "",
                                                       events=form.events.data or [], actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            return _show_secret(endpoint, secret, created=True)
    return render_template("webhooks/endpoints.html", form=form, endpoints=service.endpoints_of(g.organization.id),
                           event_types=EVENT_TYPES), 200 if request.method == "GET" else 422


@bp.get("/<int:endpoint_id>")
@requires(Permission.INTEGRATIONS_MANAGE)
def endpoint(endpoint_id: int):
    found = _endpoint_or_404(endpoint_id)
    page = requested_page(100_000)
    lines, has_next = service.delivery_log(found, page=page)
    return render_template("webhooks/endpoint.html", endpoint=found, lines=lines, page=page, has_next=has_next,
                           action_form=ActionForm(), event_labels=EVENT_LABELS, event_types=EVENT_TYPES,
                           status_labels=DELIVERY_STATUS_LABELS, attempt_errors=ATTEMPT_ERRORS)


def _act(endpoint_id: int, action, success: str):
    found = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        action(found)
    except NotFound:
        abort(404)
    except ServiceError as error:
        flash(error.message, "danger")
    else:
        flash(success, "success")
    return redirect(url_for("webhook_endpoints.endpoint", endpoint_id=endpoint_id))


@bp.post("/<int:endpoint_id>/testar")
@requires(Permission.INTEGRATIONS_MANAGE)
def test(endpoint_id: int):
    return _act(endpoint_id, lambda e: service.send_test(e, actor=current_actor()),
                _("Evento de teste enviado. O resultado aparece no registro de entregas."))


@bp.post("/<int:endpoint_id>/ativar")
@requires(Permission.INTEGRATIONS_MANAGE)
def enable(endpoint_id: int):
    return _act(endpoint_id, lambda e: service.set_enabled(e, True, actor=current_actor()), _("Webhook ativado."))


@bp.post("/<int:endpoint_id>/desativar")
@requires(Permission.INTEGRATIONS_MANAGE)
def disable(endpoint_id: int):
    return _act(endpoint_id, lambda e: service.set_enabled(e, False, actor=current_actor()),
                _("Webhook desativado. Os eventos deixam de ser enviados a ele."))


@bp.post("/<int:endpoint_id>/entregas/<int:delivery_id>/reenviar")
@requires(Permission.INTEGRATIONS_MANAGE)
def resend(endpoint_id: int, delivery_id: int):
    return _act(endpoint_id, lambda e: service.resend(e, delivery_id, actor=current_actor()),
                _("Entrega reenviada. O resultado aparece no registro de entregas."))


@bp.post("/<int:endpoint_id>/segredo")
@requires(Permission.INTEGRATIONS_MANAGE)
def rotate(endpoint_id: int):
    found = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    secret = service.rotate_secret(found, actor=current_actor())
    return _show_secret(found, secret, created=False)


@bp.post("/<int:endpoint_id>/excluir")
@requires(Permission.INTEGRATIONS_MANAGE)
def delete(endpoint_id: int):
    found = _endpoint_or_404(endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    service.delete_endpoint(found, actor=current_actor())
    flash(_("Webhook excluído."), "success")
    return redirect(url_for("webhook_endpoints.endpoints"))
