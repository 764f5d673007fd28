"""The customer's "Contrato": a Master reads the current agreements and accepts them."""

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.context import current_actor
from portal.accounts.roles import Permission
from portal.agreements import service
from portal.agreements.forms import AcceptForm
from portal.shared import clock, documents
from portal.shared.errors import NotFound, ServiceError
from portal.shared.permissions import requires

bp = Blueprint("agreements", __name__)


def _page(form: AcceptForm, status: int = 200):
    statuses = service.organization_status(g.organization, clock.today())
    return render_template(
        "agreements/show.html", statuses=statuses, form=form, user=current_user,
        method_labels=service.METHOD_LABELS, checked={int(v) for v in (form.versions.data or [])},
    ), status


@bp.get(service.CONTRACT_PATH)
@requires(Permission.AGREEMENT_ACCEPT)
def show():
    return _page(AcceptForm(formdata=None, phone=current_user.phone))


@bp.post(service.CONTRACT_PATH)
@requires(Permission.AGREEMENT_ACCEPT)
def accept():
    form = AcceptForm()
    if form.validate_on_submit():
        try:
            created = service.accept(organization=g.organization, membership=g.membership,
                                     version_ids=form.versions.data or [], phone=form.phone.data,
                                     actor=current_actor())
        except ServiceError as error:
            field = getattr(form, error.field, None) if error.field else None
            if field is not None:
                field.errors = [*field.errors, error.message]
            else:
                flash(error.message, "danger")
        else:
            if created:
                flash(_("Contrato aceito. Obrigado! Compras e aumentos de licenças estão liberados quando todos os "
                        "contratos vigentes estiverem aceitos."), "success")
            else:
                flash(_("Este contrato já estava aceito pela sua organização."), "info")
            return redirect(url_for("agreements.show"))
    return _page(form, 422)


@bp.get(f"{service.CONTRACT_PATH}/<int:version_id>/pdf")
@requires(Permission.AGREEMENT_ACCEPT)
def pdf(version_id: int):
    try:
        sha256, filename = service.version_pdf(service.get_version(version_id, effective_on=clock.today()))
    except NotFound:
        abort(404)
    # Streamed from the document store; a 503 page when the store cannot give it.
    return documents.send(sha256, filename, inline=True, content_type=service.PDF)
