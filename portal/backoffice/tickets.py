"""Backoffice "Chamados": the staff queue with its filters and first-response / resolution clocks, a ticket's
whole conversation (internal notes included), and replying, notes, assignment and status changes.

Who: tickets:read (suporte, compliance, admin) sees the queue, the conversations and the files; tickets:manage
(suporte, admin) acts. The actions go through portal.support.service, which checks the permission again and
writes the conversation line, the audit event and the customer's e-mail.
"""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import show_error
from portal.shared.paging import requested_page
from portal.shared.permissions import staff_can, staff_requires
from portal.support import service
from portal.support.forms import (
    PRIORITY_CHOICES,
    STATUS_CHOICES,
    ActionForm,
    AssignForm,
    NoteForm,
    StaffReplyForm,
    StatusForm,
    accept_files,
    parse_queue_filters,
    uploads_from,
)
from portal.support.models import TICKET_STATUS_LABELS
from portal.support.presenters import LABELS, download, upload_request_limit
from portal.support.service import AttachmentRules, SlaTargets

PER_PAGE = 50
MAX_PAGE = 100_000  # a huge ?pagina= would overflow the database's OFFSET
UPLOAD_ENDPOINTS = {"backoffice.ticket_reply", "backoffice.ticket_note"}


def _rules() -> AttachmentRules:
    return AttachmentRules.from_config(current_app.config)


def _targets() -> SlaTargets:
    return SlaTargets.from_config(current_app.config)


@bp.url_value_preprocessor
def _limit_ticket_uploads(endpoint, _values):
    # Before every before_request hook: the CSRF check is the first to read the body.
    if endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = upload_request_limit(_rules().max_bytes)


@bp.errorhandler(413)
def _too_large(_error):
    return render_template("errors/generic.html", code=413, message=_(
        "Os arquivos enviados passam muito do limite de tamanho. Volte, escolha arquivos menores e envie de "
        "novo.")), 413


# ---------------------------------------------------------------- the queue

def _row(ticket, *, organizations, people, targets, now) -> dict:
    first, resolution = service.ticket_clocks(ticket, targets=targets, now=now)
    return {"ticket": ticket, "organization": organizations.get(ticket.organization_id),
            "assignee": people.get(ticket.assignee_id), "first": first, "resolution": resolution,
            "first_label": service.first_response_label(first),
            "resolution_label": service.resolution_label(resolution)}


@bp.get("/chamados")
@staff_requires(StaffPermission.TICKETS_READ)
def tickets():
    filters = parse_queue_filters(request.args)
    page = requested_page(MAX_PAGE)
    found = service.search_queue(actor=current_actor(), statuses=filters.statuses, priority=filters.priority,
                                 organization=filters.organization, assignee=filters.assignee, page=page,
                                 per_page=PER_PAGE)[:PER_PAGE + 1]
    shown = found[:PER_PAGE]
    now, targets = clock.now(), _targets()
    organizations = service.organizations_of(shown)
    people = service.people((), *(t.assignee_id for t in shown))
    return render_template(
        "backoffice/tickets.html", filters=filters, page=page, has_next=len(found) > PER_PAGE,
        rows=[_row(t, organizations=organizations, people=people, targets=targets, now=now) for t in shown],
        status_choices=STATUS_CHOICES, priority_choices=PRIORITY_CHOICES, staff=service.assignable_staff(),
        labels=LABELS,
    ), 422 if filters.errors else 200


# ---------------------------------------------------------------- a ticket

def _ticket_or_404(ticket_id: int):
    try:
        return service.staff_ticket(ticket_id, actor=current_actor())
    except NotFound:
        abort(404)


def _assign_form(ticket, formdata=None) -> AssignForm:
    form = AssignForm(formdata=formdata) if formdata is not None else AssignForm(
        formdata=None, assignee=str(ticket.assignee_id or ""))
    form.assignee.choices = [SelectChoice("", _("Sem responsável"))] + [
        SelectChoice(str(u.id), u.name) for u in service.assignable_staff()]
    return form


def _status_form(ticket, formdata=None) -> StatusForm:
    form = StatusForm(formdata=formdata) if formdata is not None else StatusForm(formdata=None)
    form.status.choices = [SelectChoice(str(s), TICKET_STATUS_LABELS[s])
                           for s in service.STAFF_TRANSITIONS.get(ticket.status, ())]
    return form


def _render(ticket, *, reply_form=None, note_form=None, assign_form=None, status_form=None, status: int = 200):
    conversation = service.staff_conversation(ticket)
    reply_form = reply_form or StaffReplyForm(formdata=None, prefix="reply")
    note_form = note_form or NoteForm(formdata=None, prefix="note")
    accept_files(reply_form, _rules())
    accept_files(note_form, _rules())
    now = clock.now()
    first, resolution = service.ticket_clocks(ticket, targets=_targets(), now=now)
    organization = service.organizations_of([ticket])[ticket.organization_id]
    people = service.people(conversation, ticket.opened_by_id, ticket.assignee_id)
    return render_template(
        "backoffice/ticket.html", ticket=ticket, organization=organization, conversation=conversation,
        people=people, labels=LABELS, status_change=service.status_change,
        first_label=service.first_response_label(first), resolution_label=service.resolution_label(resolution),
        first=first, resolution=resolution, subscription=service.ticket_subscription(ticket),
        can_manage=staff_can(StaffPermission.TICKETS_MANAGE), limits=_rules(),
        files_per_message=service.FILES_PER_MESSAGE,
        reply_form=reply_form, note_form=note_form,
        assign_form=assign_form or _assign_form(ticket), status_form=status_form or _status_form(ticket),
        action_form=ActionForm(),
    ), status


@bp.get("/chamados/<int:ticket_id>")
@staff_requires(StaffPermission.TICKETS_READ)
def ticket(ticket_id: int):
    return _render(_ticket_or_404(ticket_id))


def _files_again(form) -> None:
    form.attachments.errors = [*form.attachments.errors,
                               _("Corrija os campos indicados e escolha os arquivos de novo.")]


@bp.post("/chamados/<int:ticket_id>/responder")
@staff_requires(StaffPermission.TICKETS_MANAGE)
def ticket_reply(ticket_id: int):
    found = _ticket_or_404(ticket_id)
    form = StaffReplyForm(prefix="reply")
    limits = _rules()
    uploads = uploads_from(request.files.getlist(form.attachments.name), limits.max_bytes)
    if form.validate_on_submit():
        try:
            service.staff_reply(found, actor=current_actor(), body=form.body.data, status=form.status.data,
                                uploads=uploads, rules=limits)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Resposta enviada ao cliente."), "success")
            return redirect(url_for("backoffice.ticket", ticket_id=found.id, _anchor="fim"))
    elif uploads:
        _files_again(form)
    return _render(found, reply_form=form, status=422)


@bp.post("/chamados/<int:ticket_id>/nota")
@staff_requires(StaffPermission.TICKETS_MANAGE)
def ticket_note(ticket_id: int):
    found = _ticket_or_404(ticket_id)
    form = NoteForm(prefix="note")
    limits = _rules()
    uploads = uploads_from(request.files.getlist(form.attachments.name), limits.max_bytes)
    if form.validate_on_submit():
        try:
            service.add_note(found, actor=current_actor(), body=form.body.data, uploads=uploads, rules=limits)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Nota interna registrada. O cliente não a vê."), "success")
            return redirect(url_for("backoffice.ticket", ticket_id=found.id, _anchor="fim"))
    elif uploads:
        _files_again(form)
    return _render(found, note_form=form, status=422)


@bp.post("/chamados/<int:ticket_id>/responsavel")
@staff_requires(StaffPermission.TICKETS_MANAGE)
def ticket_assign(ticket_id: int):
    """Assign to someone of the list, to nobody (""), or to oneself (the "Assumir" button sends "eu")."""
    found = _ticket_or_404(ticket_id)
    form = _assign_form(found, formdata=request.form)
    if form.validate_on_submit():
        value = (form.assignee.data or "").strip()
        if value == "eu":
            assignee_id = current_user.id
        elif value.isascii() and value.isdigit() and 0 < int(value) < 2**31:
            assignee_id = int(value)
        elif not value:
            assignee_id = None
        else:
            assignee_id = -1  # no one: the service refuses it with its message
        try:
            service.assign(found, actor=current_actor(), assignee_id=assignee_id)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Responsável atualizado."), "success")
            return redirect(url_for("backoffice.ticket", ticket_id=found.id))
    return _render(found, assign_form=form, status=422)


@bp.post("/chamados/<int:ticket_id>/situacao")
@staff_requires(StaffPermission.TICKETS_MANAGE)
def ticket_status(ticket_id: int):
    found = _ticket_or_404(ticket_id)
    form = _status_form(found, formdata=request.form)
    if form.validate_on_submit():
        try:
            service.change_status(found, actor=current_actor(), status=form.status.data)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Situação alterada para “%(status)s”. O cliente foi avisado por e-mail.",
                    status=TICKET_STATUS_LABELS[found.status]), "success")
            return redirect(url_for("backoffice.ticket", ticket_id=found.id))
    return _render(found, status_form=form, status=422)


@bp.get("/chamados/<int:ticket_id>/anexos/<int:attachment_id>")
@staff_requires(StaffPermission.TICKETS_READ)
def ticket_attachment(ticket_id: int, attachment_id: int):
    found = _ticket_or_404(ticket_id)
    try:
        stored = service.staff_attachment(found, attachment_id, actor=current_actor())
    except NotFound:
        abort(404)
    return download(stored)
