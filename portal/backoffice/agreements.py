"""Backoffice "Contratos": organizations by agreement status, versions, publishing, attestation on a customer's behalf.

Who: every staff role reads (organizations:read); comercial attests and resends to Microsoft
(agreements:attest); admin publishes versions (agreements:publish).
"""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from portal.accounts import service as accounts
from portal.accounts.context import current_actor
from portal.accounts.forms import ActionForm
from portal.accounts.models import Organization
from portal.accounts.roles import StaffPermission
from portal.agreements import service
from portal.agreements.forms import AttestForm, PublishForm
from portal.agreements.models import AGREEMENT_KIND_LABELS, AgreementKind
from portal.backoffice import bp
from portal.shared import clock, documents
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_date
from portal.shared.forms import show_error
from portal.shared.paging import requested_page
from portal.shared.permissions import staff_can, staff_requires

PER_PAGE = 50
MAX_PAGE = 100_000  # a huge ?pagina= would overflow the database's OFFSET
MAX_REQUEST_BYTES = service.MAX_PDF_BYTES + 256 * 1024  # the PDF at its limit plus the form's text


def _labels() -> dict:
    return {"kind_labels": AGREEMENT_KIND_LABELS, "method_labels": service.METHOD_LABELS,
            "provider_labels": service.PROVIDER_STATUS_LABELS}


# ---------------------------------------------------------------- the list

@bp.get("/contratos")
@staff_requires(StaffPermission.ORGANIZATIONS_READ)
def agreements():
    query = (request.args.get("q") or "").strip()[:100]
    kind = request.args.get("tipo") or None
    kind = kind if kind in {str(k) for k in AgreementKind} else None
    status = request.args.get("situacao") or None
    status = status if status in {str(s) for s in service.StatusFilter} else None
    page = requested_page(MAX_PAGE)
    today = clock.today()
    rows, has_next = service.search_organizations(query=query, kind=kind, status=status, page=page,
                                                  per_page=PER_PAGE, today=today)
    return render_template("backoffice/agreements.html", rows=rows, query=query, kind=kind, status=status,
                           page=page, has_next=has_next, current=service.current_versions(today),
                           kind_order=service.KIND_ORDER, **_labels())


# ---------------------------------------------------------------- versions

@bp.get("/contratos/versoes")
@staff_requires(StaffPermission.ORGANIZATIONS_READ)
def agreement_versions():
    today = clock.today()
    return render_template("backoffice/agreement_versions.html", versions=service.list_versions(),
                           current=service.current_versions(today), today=today, **_labels())


def _read_pdf(form: PublishForm) -> bytes | None:
    upload = form.pdf.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    return upload.stream.read(service.MAX_PDF_BYTES + 1)


@bp.route("/contratos/versoes/nova", methods=["GET", "POST"])
@staff_requires(StaffPermission.AGREEMENTS_PUBLISH)
def agreement_publish():
    if request.method == "GET":
        form = PublishForm(formdata=None, effective_from=clock.today())
        return render_template("backoffice/agreement_publish.html", form=form), 200
    request.max_content_length = MAX_REQUEST_BYTES
    try:
        form = PublishForm()
    except RequestEntityTooLarge:
        flash(_("O PDF passa de %(mb)d MB.", mb=service.MAX_PDF_BYTES // (1024 * 1024)), "danger")
        return render_template("backoffice/agreement_publish.html", form=PublishForm(formdata=None)), 413
    if request.form.get("action") == "buscar":
        # "Buscar na Microsoft": fill in the MCA's templateId (and link); nothing is published yet.
        try:
            template = service.fetch_provider_template(current_app.extensions["provisioner"])
        except ServiceError as error:
            show_error(form, error)
            return render_template("backoffice/agreement_publish.html", form=form), 422
        form.kind.data = str(AgreementKind.MICROSOFT)
        form.provider_template_id.data = template.template_id
        if not form.link.data and template.agreement_link:
            form.link.data = template.agreement_link
        flash(_("Modelo do contrato encontrado na Microsoft: %(id)s.", id=template.template_id), "info")
        return render_template("backoffice/agreement_publish.html", form=form), 200
    if form.validate_on_submit():
        try:
            version = service.publish_version(
                kind=form.kind.data, title=form.title.data, body=form.body.data or "",
                effective_from=form.effective_from.data, link=form.link.data,
                provider_template_id=form.provider_template_id.data, pdf=_read_pdf(form),
                actor=current_actor(),
            )
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Versão publicada: “%(title)s”, em vigor a partir de %(day)s.", title=version.title,
                    day=format_date(version.effective_from)), "success")
            return redirect(url_for("backoffice.agreement_versions"))
    return render_template("backoffice/agreement_publish.html", form=form), 422


@bp.get("/contratos/versoes/<int:version_id>/pdf")
@staff_requires(StaffPermission.ORGANIZATIONS_READ)
def agreement_pdf(version_id: int):
    try:
        sha256, filename = service.version_pdf(service.get_version(version_id))
    except NotFound:
        abort(404)
    # Streamed from the document store; a 503 page when the store cannot give it.
    return documents.send(sha256, filename, inline=True, content_type=service.PDF)


# ---------------------------------------------------------------- one customer

def _organization_or_404(organization_id: int) -> Organization:
    organization = accounts.get_organization(organization_id)
    if organization is None:
        abort(404)
    return organization


def _version_choices(today):
    return [(v.id, f"{AGREEMENT_KIND_LABELS[AgreementKind(v.kind)]}: {v.title} "
                   f"({_('desde %(day)s', day=format_date(v.effective_from))})")
            for v in service.attestable_versions(today)]


def _attest_form(organization: Organization, today) -> AttestForm:
    """Prefilled: the current MCA (else the first version in force), today, and the primary contact."""
    current = service.current_versions(today)
    default = current.get(str(AgreementKind.MICROSOFT)) or next(iter(current.values()), None)
    contact = service.primary_contact(organization)
    first = last = email = phone = ""
    if contact is not None:
        parts = contact.name.split()
        first, last = (parts[0], " ".join(parts[1:])) if parts else ("", "")
        email, phone = contact.email, contact.phone or ""
    return AttestForm(formdata=None, version_id=default.id if default else None, accepted_on=today,
                      first_name=first, last_name=last, email=email, phone=phone)


def _customer_page(organization: Organization, form: AttestForm, status: int = 200):
    today = clock.today()
    form.version_id.choices = _version_choices(today)
    return render_template(
        "backoffice/agreement_customer.html", org=organization,
        statuses=service.organization_status(organization, today),
        history=service.acceptance_history(organization), form=form, action_form=ActionForm(),
        can_attest=staff_can(StaffPermission.AGREEMENTS_ATTEST), today=today, **_labels(),
    ), status


@bp.get("/contratos/<int:organization_id>")
@staff_requires(StaffPermission.ORGANIZATIONS_READ)
def agreement_customer(organization_id: int):
    organization = _organization_or_404(organization_id)
    return _customer_page(organization, _attest_form(organization, clock.today()))


@bp.post("/contratos/<int:organization_id>/atestar")
@staff_requires(StaffPermission.AGREEMENTS_ATTEST)
def agreement_attest(organization_id: int):
    organization = _organization_or_404(organization_id)
    form = AttestForm()
    if form.validate_on_submit():
        try:
            service.attest(
                organization=organization, version_id=form.version_id.data, first_name=form.first_name.data,
                last_name=form.last_name.data, email=form.email.data, phone=form.phone.data,
                accepted_on=form.accepted_on.data, actor=current_actor(),
            )
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Aceite atestado em nome de %(org)s. O contato principal recebe um e-mail em até 30 minutos.",
                    org=organization.display_name), "success")
            return redirect(url_for("backoffice.agreement_customer", organization_id=organization.id))
    return _customer_page(organization, form, 422)


@bp.post("/contratos/aceites/<int:acceptance_id>/reenviar")
@staff_requires(StaffPermission.AGREEMENTS_ATTEST)
def agreement_resend(acceptance_id: int):
    try:
        acceptance = service.get_acceptance(acceptance_id)
    except NotFound:
        abort(404)
    organization_id = acceptance.organization_id
    if ActionForm().validate_on_submit():
        try:
            service.resend_to_provider(acceptance, actor=current_actor())
        except ServiceError as error:
            flash(error.message, "danger")
        else:
            status = service.fresh_acceptance(acceptance_id).provider_status
            if status == service.ProviderStatus.DONE:
                flash(_("Aceite registrado na Microsoft."), "success")
            else:
                flash(_("Aceite reenviado à Microsoft. Acompanhe a situação nesta página."), "info")
    return redirect(url_for("backoffice.agreement_customer", organization_id=organization_id))
