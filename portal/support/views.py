"""Customer pages of "Chamados": the organization's tickets, opening one with files, the conversation, replying,
closing and reopening, and downloading a ticket's files. Suporte and Master only (tickets:manage)."""


from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from wtforms import SelectChoice

from portal.accounts.context import current_actor
from portal.accounts.roles import Permission
from portal.accounts.switching import tenant_miss
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import show_error
from portal.shared.paging import requested_page
from portal.shared.permissions import requires
from portal.support import service
from portal.support.forms import (
    STATUS_CHOICES,
    ActionForm,
    NewTicketForm,
    ReplyForm,
    accept_files,
    parse_customer_filters,
    uploads_from,
)
from portal.support.models import (
    Ticket,
    TicketStatus,
)
from portal.support.presenters import LABELS, download, upload_request_limit
from portal.support.service import AttachmentRules

bp = Blueprint("support", __name__)

PER_PAGE = 25
UPLOAD_ENDPOINTS = {"support.new_ticket", "support.reply"}


@bp.app_context_processor
def _ticket_template_helpers():
    return {"size_label": service.file_size_label}


def rules() -> AttachmentRules:
    return AttachmentRules.from_config(current_app.config)


@bp.url_value_preprocessor
def _limit_uploads(endpoint, _values):
    # Runs before every before_request hook, the CSRF check included, which is the first to read the body.
    if endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = upload_request_limit(rules().max_bytes)


@bp.errorhandler(413)
def _too_large(_error):
    return render_template("errors/generic.html", code=413, message=_(
        "Os arquivos enviados passam muito do limite de %(max)s por arquivo. Volte, escolha arquivos menores "
        "e envie de novo.", max=rules().max_label)), 413


def _page() -> int:
    return requested_page()


def _ticket_or_404(ticket_id: int):
    try:
        return service.customer_ticket(ticket_id, membership=g.membership)
    except NotFound:
        tenant_miss(Ticket, ticket_id)  # another organization of the user's: "trocar de organização?"
        abort(404)


# ---------------------------------------------------------------- pages

@bp.get("/chamados")
@requires(Permission.TICKETS_MANAGE)
def tickets():
    filters = parse_customer_filters(request.args)
    page = _page()
    rows = service.customer_tickets(membership=g.membership, statuses=filters.statuses, page=page, per_page=PER_PAGE)
    return render_template(
        "support/tickets.html", tickets=rows[:PER_PAGE], page=page, has_next=len(rows) > PER_PAGE, filters=filters,
        status_choices=STATUS_CHOICES, labels=LABELS,
    ), 422 if filters.errors else 200


def _subscription_choices() -> list[SelectChoice]:
    choices = [SelectChoice("", _("Nenhuma"))]
    for subscription in service.subscriptions_for(g.organization.id):
        choices.append(SelectChoice(str(subscription.id), ngettext(
            "%(product)s — %(num)d licença, %(status)s", "%(product)s — %(num)d licenças, %(status)s",
            subscription.quantity, product=subscription.product.name, status=subscription.status_label)))
    return choices


def _subscription_id(form: NewTicketForm) -> int | None | bool:
    """The chosen subscription's id, None for none, or False (with a message) when the value is no id at all."""
    value = (form.subscription.data or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit() and 0 < int(value) < 2**31:
        return int(value)
    form.subscription.errors = [*form.subscription.errors, _("Escolha uma assinatura da sua organização, ou nenhuma.")]
    return False


@bp.route("/chamados/novo", methods=["GET", "POST"])
@requires(Permission.TICKETS_MANAGE)
def new_ticket():
    form = NewTicketForm()
    form.subscription.choices = _subscription_choices()
    limits = rules()
    if request.method == "POST":
        valid = form.validate_on_submit()
        subscription_id = _subscription_id(form)
        uploads = uploads_from(request.files.getlist(form.attachments.name), limits.max_bytes)
        if valid and subscription_id is not False:
            try:
                ticket = service.open_ticket(
                    membership=g.membership, actor=current_actor(), category=form.category.data,
                    priority=form.priority.data, subject=form.subject.data, description=form.description.data,
                    subscription_id=subscription_id, uploads=uploads, rules=limits)
            except ServiceError as error:
                show_error(form, error)
            else:
                flash(_("Chamado nº %(id)d aberto. A equipe de suporte foi avisada e responde por aqui e por "
                        "e-mail.", id=ticket.id), "success")
                return redirect(url_for("support.ticket", ticket_id=ticket.id))
        elif uploads:
            form.attachments.errors = [*form.attachments.errors,
                                       _("Corrija os campos indicados e escolha os arquivos de novo.")]
    accept_files(form, limits)
    return render_template("support/new.html", form=form, limits=limits,
                           files_per_message=service.FILES_PER_MESSAGE), 200 if request.method == "GET" else 422


def _render_ticket(ticket, reply_form: ReplyForm, status: int = 200):
    conversation = service.customer_conversation(ticket)
    accept_files(reply_form, rules())
    return render_template(
        "support/ticket.html", ticket=ticket, conversation=conversation, reply_form=reply_form,
        action_form=ActionForm(), people=service.people(conversation, ticket.opened_by_id), labels=LABELS,
        status_change=service.status_change, limits=rules(), files_per_message=service.FILES_PER_MESSAGE,
        subscription=service.ticket_subscription(ticket),
    ), status


@bp.get("/chamados/<int:ticket_id>")
@requires(Permission.TICKETS_MANAGE)
def ticket(ticket_id: int):
    return _render_ticket(_ticket_or_404(ticket_id), ReplyForm(formdata=None))


@bp.post("/chamados/<int:ticket_id>/responder")
@requires(Permission.TICKETS_MANAGE)
def reply(ticket_id: int):
    found = _ticket_or_404(ticket_id)
    form = ReplyForm()
    limits = rules()
    uploads = uploads_from(request.files.getlist(form.attachments.name), limits.max_bytes)
    if form.validate_on_submit():
        reopening = found.status == TicketStatus.RESOLVED
        try:
            service.customer_reply(found, membership=g.membership, actor=current_actor(), body=form.body.data,
                                   uploads=uploads, rules=limits)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Mensagem enviada. O chamado foi reaberto.") if reopening else _("Mensagem enviada."), "success")
            return redirect(url_for("support.ticket", ticket_id=found.id, _anchor="fim"))
    elif uploads:
        form.attachments.errors = [*form.attachments.errors,
                                   _("Corrija os campos indicados e escolha os arquivos de novo.")]
    return _render_ticket(found, form, 422)


def _status_action(ticket_id: int, verb, done: str):
    found = _ticket_or_404(ticket_id)
    if ActionForm().validate_on_submit():
        try:
            verb(found, membership=g.membership, actor=current_actor())
        except ServiceError as error:
            flash(error.message, "warning")
        else:
            flash(done, "success")
    return redirect(url_for("support.ticket", ticket_id=found.id))


@bp.post("/chamados/<int:ticket_id>/fechar")
@requires(Permission.TICKETS_MANAGE)
def close(ticket_id: int):
    return _status_action(ticket_id, service.customer_close, _("Chamado fechado."))


@bp.post("/chamados/<int:ticket_id>/reabrir")
@requires(Permission.TICKETS_MANAGE)
def reopen(ticket_id: int):
    return _status_action(ticket_id, service.customer_reopen,
                          _("Chamado reaberto. A equipe de suporte vai retomar o atendimento."))


@bp.get("/chamados/<int:ticket_id>/anexos/<int:attachment_id>")
@requires(Permission.TICKETS_MANAGE)
def attachment(ticket_id: int, attachment_id: int):
    found = _ticket_or_404(ticket_id)
    try:
        stored = service.customer_attachment(found, attachment_id, membership=g.membership)
    except NotFound:
        abort(404)
    return download(stored)
