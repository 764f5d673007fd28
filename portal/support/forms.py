"""Input of the "Chamados" pages (customer and staff): the forms, the list filters and the files sent."""

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import MultipleFileField, SelectChoice, SelectField, StringField, TextAreaField

from portal.shared.filters import ListFilters
from portal.shared.forms import max_length, required
from portal.support.models import (
    TICKET_CATEGORY_LABELS,
    TICKET_PRIORITY_LABELS,
    TICKET_STATUS_LABELS,
    TicketPriority,
    TicketStatus,
)
from portal.support.service import ASSIGNEE_MINE, ASSIGNEE_NONE, BODY_MAX, SUBJECT_MAX, Upload

# Query-string values (Portuguese, as people read them in the URL) → what they select.
STATUS_SLUGS: dict[str, tuple[str, ...] | None] = {
    "ativos": (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CUSTOMER),
    "aberto": (TicketStatus.OPEN,),
    "em-atendimento": (TicketStatus.IN_PROGRESS,),
    "aguardando-cliente": (TicketStatus.WAITING_CUSTOMER,),
    "resolvido": (TicketStatus.RESOLVED,),
    "fechado": (TicketStatus.CLOSED,),
    "todos": None,
}
STATUS_CHOICES = [
    ("ativos", _l("Em andamento")),
    ("aberto", TICKET_STATUS_LABELS[TicketStatus.OPEN]),
    ("em-atendimento", TICKET_STATUS_LABELS[TicketStatus.IN_PROGRESS]),
    ("aguardando-cliente", TICKET_STATUS_LABELS[TicketStatus.WAITING_CUSTOMER]),
    ("resolvido", TICKET_STATUS_LABELS[TicketStatus.RESOLVED]),
    ("fechado", TICKET_STATUS_LABELS[TicketStatus.CLOSED]),
    ("todos", _l("Todos")),
]
PRIORITY_SLUGS = {
    "urgente": TicketPriority.URGENT,
    "alta": TicketPriority.HIGH,
    "normal": TicketPriority.NORMAL,
    "baixa": TicketPriority.LOW,
}
PRIORITY_CHOICES = [(slug, TICKET_PRIORITY_LABELS[value]) for slug, value in PRIORITY_SLUGS.items()]
MAX_ID = 2**31 - 1


@dataclass
class TicketFilters(ListFilters):
    """A list's filters once read; a value that could not be read is ignored and explained in `errors`."""

    statuses: tuple[str, ...] | None = None  # None: every status
    priority: str | None = None
    organization: str = ""
    assignee: str | int | None = None  # ASSIGNEE_NONE, ASSIGNEE_MINE, a staff user's id, or None (anyone)


def _status(filters: TicketFilters, default: str) -> None:
    slug = filters.choice("situacao", {slug: slug for slug in STATUS_SLUGS},
                          _("Situação desconhecida: “%(value)s”. Este filtro foi ignorado."))
    filters.statuses = STATUS_SLUGS[slug or default]


def parse_customer_filters(args) -> TicketFilters:
    """`situacao` of the customer's list (default: every status). Never raises."""
    filters = TicketFilters.reading(args, "situacao")
    _status(filters, "todos")
    return filters


def parse_queue_filters(args) -> TicketFilters:
    """The staff queue's filters: `situacao` (default: in progress), `prioridade`, `organizacao`, `responsavel`
    ("nenhum", "meus" or a staff user's id). Never raises."""
    filters = TicketFilters.reading(args, "situacao", "prioridade", "organizacao", "responsavel")
    _status(filters, "ativos")
    filters.priority = filters.choice("prioridade", PRIORITY_SLUGS,
                                      _("Prioridade desconhecida: “%(value)s”. Este filtro foi ignorado."))
    filters.organization = filters.text("organizacao")
    typed = filters.text("responsavel")
    assignee = typed.lower()
    if assignee == "nenhum":
        filters.assignee = ASSIGNEE_NONE
    elif assignee == "meus":
        filters.assignee = ASSIGNEE_MINE
    elif assignee.isascii() and assignee.isdigit() and 0 < int(assignee) <= MAX_ID:
        filters.assignee = int(assignee)
    elif assignee:
        filters.errors["responsavel"] = _("Responsável desconhecido: “%(value)s”. Este filtro foi ignorado.",
                                          value=typed[:40])
    return filters


def accept_files(form, rules) -> None:
    """Let the browser's file chooser offer only the accepted types (the server checks them anyway)."""
    form.attachments.render_kw = {"accept": ",".join(f".{t}" for t in sorted(rules.types))}


def uploads_from(files, max_bytes: int) -> list:
    """The files chosen in a file field (`request.files.getlist(name)`), each read up to `max_bytes + 1` bytes:
    enough to tell one that is too big without keeping all of it. An empty file input sends one nameless part."""
    uploads = []
    for storage in files:
        if not storage or not storage.filename:
            continue
        uploads.append(Upload(filename=storage.filename, content=storage.stream.read(max_bytes + 1)))
    return uploads


CATEGORY_CHOICES = [SelectChoice(str(k), v) for k, v in TICKET_CATEGORY_LABELS.items()]
PRIORITY_FORM_CHOICES = [SelectChoice(str(k), v) for k, v in TICKET_PRIORITY_LABELS.items()]


class NewTicketForm(FlaskForm):
    category = SelectField(_l("Categoria"), choices=CATEGORY_CHOICES, validators=[required()])
    priority = SelectField(_l("Prioridade"), choices=PRIORITY_FORM_CHOICES,
                           default=TicketPriority.NORMAL, validators=[required()],
                           description=_l("Urgente: o serviço está parado para toda a empresa."))
    subject = StringField(_l("Assunto"), validators=[required(), max_length(SUBJECT_MAX)])
    description = TextAreaField(_l("Descrição"), validators=[required(), max_length(BODY_MAX)], render_kw={"rows": 8},
                                description=_l("O que aconteceu, desde quando, quem é afetado e o que já foi tentado."))
    # Choices are the organization's subscriptions (set by the view); the service refuses any other id.
    subscription = SelectField(_l("Assinatura relacionada (opcional)"), choices=[], validate_choice=False)
    attachments = MultipleFileField(_l("Arquivos (opcional)"))


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Sua mensagem"), validators=[required(), max_length(BODY_MAX)], render_kw={"rows": 5})
    attachments = MultipleFileField(_l("Arquivos (opcional)"))


class ActionForm(FlaskForm):
    """A POST button (fechar, reabrir): CSRF only."""


# ---------------------------------------------------------------- staff

REPLY_STATUS_CHOICES = [
    SelectChoice(str(TicketStatus.WAITING_CUSTOMER), _l("Aguardar o cliente")),
    SelectChoice(str(TicketStatus.IN_PROGRESS), _l("Continuar em atendimento")),
    SelectChoice(str(TicketStatus.RESOLVED), _l("Marcar como resolvido")),
]


class StaffReplyForm(FlaskForm):
    body = TextAreaField(_l("Resposta ao cliente"), validators=[required(), max_length(BODY_MAX)],
                         render_kw={"rows": 6},
                         description=_l("O cliente vê esta resposta no portal e a recebe por e-mail."))
    status = SelectField(_l("Depois de responder"), choices=REPLY_STATUS_CHOICES,
                         default=TicketStatus.WAITING_CUSTOMER, validators=[required()])
    attachments = MultipleFileField(_l("Arquivos (opcional)"))


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Nota interna"), validators=[required(), max_length(BODY_MAX)], render_kw={"rows": 4},
                         description=_l("Só a equipe vê: nunca aparece para o cliente nem vai por e-mail."))
    attachments = MultipleFileField(_l("Arquivos (opcional)"))


class AssignForm(FlaskForm):
    # "" = nobody; the choices are set by the view (staff who may act on tickets).
    assignee = SelectField(_l("Responsável"), choices=[], validate_choice=False)


class StatusForm(FlaskForm):
    # The choices are the statuses reachable from the ticket's current one (set by the view).
    status = SelectField(_l("Nova situação"), choices=[], validate_choice=False, validators=[required()])
