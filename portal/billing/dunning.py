"""The régua de cobrança (issue 15, point 8): the reminders sent around an open invoice's due date.

Finance keeps the schedule (`DunningStep`: days relative to the due date, each with its subject and message,
active or not) on the backoffice page "Régua de cobrança"; it starts with the reminders the portal always sent
(D−3, D+1, D+7, put there by the migration). Every day the job `billing.send_dunning_reminders` sends each open
invoice the reminder of the step the day falls in (`step_for`), once per (invoice, offset) — DunningNotice's
unique (invoice_id, step) — however many consumers run it. The check that the invoice is still open and owes
something, the DunningNotice and the e-mails are one transaction, taken under a lock on the invoice: a payment
(typed, retorno, Pix) committed before it stops the reminder; one committed after finds it sent.

Each reminder carries finance's text (with the invoice's number, amount, due date filled in), the boleto's
linha digitável, its Pix copia-e-cola (`Boleto.pix_payload`: the dynamic Pix's when the PSP made one, as on the
invoice page), the boleto PDF attached and the links to the invoice (and, once due, to the 2ª via).

Who receives them: the organization's users the Master chose (default: Master and Cobrança users, as the
invoices) and its billing contacts.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

from flask import current_app, render_template
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import Membership, MembershipRole, Organization, User
from portal.accounts.roles import Role
from portal.billing import boletos
from portal.billing.delivery import PDF, Recipient, billing_contacts, boleto_pdf_name
from portal.billing.models import DunningNotice, DunningRecipient, DunningStep, Invoice, InvoiceKind, InvoiceStatus
from portal.extensions import db
from portal.notifications.service import queue_email
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_date, format_money
from portal.shared.links import absolute_url

# A step the daily job missed (it did not run that day) is still sent up to this many days late, as long as
# the next step has not come and, for a reminder before the due date, the invoice is not yet due.
DUNNING_CATCH_UP_DAYS = 2
MIN_OFFSET, MAX_OFFSET = -60, 90
MAX_SUBJECT, MAX_MESSAGE = 150, 2000
# What finance may write in a subject or message; filled in for each invoice.
PLACEHOLDERS = ("fatura", "empresa", "vencimento", "valor", "prazo")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
MESSAGE_LANGUAGE = "pt_BR"  # finance writes the schedule in Portuguese; {prazo} is said in the same language


# ---------------------------------------------------------------- the schedule

def steps() -> list[DunningStep]:
    """Every step, active or not, by offset."""
    return list(db.session.scalars(select(DunningStep).order_by(DunningStep.offset_days)))


def get_step(step_id: int) -> DunningStep:
    found = db.session.get(DunningStep, step_id)
    if found is None:
        raise NotFound(_("Esta etapa não existe mais."))
    return found


def active_offsets() -> list[int]:
    return list(db.session.scalars(select(DunningStep.offset_days).where(DunningStep.active.is_(True))
                                   .order_by(DunningStep.offset_days)))


def step_label(offset: int) -> str:
    """"5 dias antes do vencimento", "no vencimento", "3 dias após"."""
    if offset < 0:
        return ngettext("%(num)d dia antes do vencimento", "%(num)d dias antes do vencimento", -offset)
    if offset == 0:
        return _("no vencimento")
    return ngettext("%(num)d dia após o vencimento", "%(num)d dias após o vencimento", offset)


def step_for(offsets: list[int] | tuple[int, ...], due: date, today: date) -> int | None:
    """The step (an offset of `offsets`) that `today` falls in for an invoice due on `due`, or None.

    Each step starts on its day and lasts DUNNING_CATCH_UP_DAYS more, but never into the next step's day, and
    a step before the due date never lasts to the due date itself.
    """
    offset = (today - due).days
    ordered = sorted(set(offsets))
    for index, step in enumerate(ordered):
        last = step + DUNNING_CATCH_UP_DAYS
        if index + 1 < len(ordered):
            last = min(last, ordered[index + 1] - 1)
        if step < 0:
            last = min(last, -1)
        if step <= offset <= last:
            return step
    return None


def _check_text(text: str, *, field: str, limit: int, what: str) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ServiceError(_("Escreva %(what)s.", what=what), field=field)
    if len(text) > limit:
        raise ServiceError(_("Use no máximo %(max)d caracteres.", max=limit), field=field)
    unknown = [name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS]
    if unknown:
        raise ServiceError(_("Marcador desconhecido: {%(name)s}. Use %(known)s.", name=unknown[0],
                             known=", ".join(f"{{{p}}}" for p in PLACEHOLDERS)), field=field)
    return text


def _checked(offset_days: int | None, subject: str, message: str, *, current: DunningStep | None = None) -> dict:
    if offset_days is None or not MIN_OFFSET <= offset_days <= MAX_OFFSET:
        raise ServiceError(_("Informe um dia entre %(min)d (antes do vencimento) e +%(max)d (depois).",
                             min=MIN_OFFSET, max=MAX_OFFSET), field="offset_days")
    clash = db.session.scalar(select(DunningStep).where(DunningStep.offset_days == offset_days))
    if clash is not None and clash is not current:
        raise ServiceError(_("Já existe uma etapa %(label)s.", label=step_label(offset_days)), field="offset_days")
    return {"offset_days": offset_days,
            "subject": " ".join(_check_text(subject, field="subject", limit=MAX_SUBJECT,
                                            what=_("o assunto")).split()),
            "message": _check_text(message, field="message", limit=MAX_MESSAGE, what=_("a mensagem"))}


def _snapshot(step: DunningStep) -> dict:
    return {"offset_days": step.offset_days, "subject": step.subject, "message": step.message,
            "active": step.active}


def _commit_step(step: DunningStep, offset_days: int) -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:  # the same offset saved at the same moment by someone else
        db.session.rollback()
        raise ServiceError(_("Já existe uma etapa %(label)s.", label=step_label(offset_days)),
                           field="offset_days") from exc


def add_step(*, offset_days: int | None, subject: str, message: str, active: bool = True,
             actor: Actor) -> DunningStep:
    """A new step of the schedule. Commits."""
    values = _checked(offset_days, subject, message)
    step = DunningStep(**values, active=active, updated_at=clock.now(), updated_by_id=actor.user_id)
    db.session.add(step)
    db.session.flush()
    record(AuditTag.DUNNING_SCHEDULE_CHANGED, actor=actor, subject=f"dunning_step:{step.id}", before=None,
           after=_snapshot(step))
    _commit_step(step, values["offset_days"])
    return step


def update_step(step_id: int, *, offset_days: int | None, subject: str, message: str, active: bool,
                actor: Actor) -> DunningStep:
    """Change a step (its day too: a new day is a new identity, so invoices past it get it again). Commits."""
    step = get_step(step_id)
    values = _checked(offset_days, subject, message, current=step)
    before = _snapshot(step)
    for name, value in {**values, "active": active}.items():
        setattr(step, name, value)
    if _snapshot(step) == before:
        db.session.rollback()
        return step
    step.updated_at, step.updated_by_id = clock.now(), actor.user_id
    record(AuditTag.DUNNING_SCHEDULE_CHANGED, actor=actor, subject=f"dunning_step:{step.id}", before=before,
           after=_snapshot(step))
    _commit_step(step, values["offset_days"])
    return step


def set_active(step_id: int, active: bool, *, actor: Actor) -> DunningStep:
    step = get_step(step_id)
    return update_step(step.id, offset_days=step.offset_days, subject=step.subject, message=step.message,
                       active=active, actor=actor)


def remove_step(step_id: int, *, actor: Actor) -> DunningStep:
    """Take a step out of the schedule (the reminders it sent stay recorded). Commits."""
    step = get_step(step_id)
    record(AuditTag.DUNNING_SCHEDULE_CHANGED, actor=actor, subject=f"dunning_step:{step.id}",
           before=_snapshot(step), after=None)
    db.session.delete(step)
    db.session.commit()
    return step


# ---------------------------------------------------------------- the texts

def _when(offset: int) -> str:
    """{prazo}: "em 3 dias", "em 1 dia", "hoje", "ontem", "há 7 dias"."""
    if offset < 0:
        return ngettext("em %(num)d dia", "em %(num)d dias", -offset)
    if offset == 0:
        return _("hoje")
    if offset == 1:
        return _("ontem")
    return ngettext("há %(num)d dia", "há %(num)d dias", offset)


def fill(text: str, *, number: str, organization: str, due: date, owed_cents: int, today: date) -> str:
    """Finance's text with the invoice's values in its placeholders (in Portuguese, the schedule's language)."""
    with force_locale(MESSAGE_LANGUAGE):
        values = {"fatura": number, "empresa": organization, "vencimento": format_date(due),
                  "valor": format_money(owed_cents), "prazo": _when((today - due).days)}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _context(invoice, step: DunningStep, today: date, *, owed_cents: int, url: str, second_copy_url: str) -> dict:
    values = {"number": invoice.display_number, "organization": invoice.organization.display_name,
              "due": invoice.due_date, "owed_cents": owed_cents, "today": today}
    boleto = invoice.current_boleto
    return {"invoice": invoice, "organization": invoice.organization, "boleto": boleto,
            "pix_payload": boleto.pix_payload if boletos.pix_ready(boleto) else None,
            "step": step.offset_days, "overdue": today > invoice.due_date, "owed_cents": owed_cents,
            "paragraphs": [p for p in fill(step.message, **values).split("\n") if p.strip()],
            "filled_subject": fill(step.subject, **values), "url": url, "second_copy_url": second_copy_url}


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    html: str


def preview(step: DunningStep, *, today: date) -> Preview:
    """The e-mail a step sends, for an example invoice (number, company and amounts made up)."""
    due = today - timedelta(days=step.offset_days)
    organization = SimpleNamespace(display_name=_("Empresa Exemplo Ltda"))
    boleto = SimpleNamespace(digitable_line="34191.09008 00000.000009 00000.000000 1 00000000123456",
                             pix_payload="00020101021226...6304ABCD")
    invoice = SimpleNamespace(id=0, display_number=f"{today.year}-000123", organization=organization,
                              due_date=due, current_boleto=boleto)
    base = current_app.config.get("BASE_URL", "").rstrip("/")
    context = _context(invoice, step, today, owed_cents=123_456, url=f"{base}/faturas/0",
                       second_copy_url=f"{base}/faturas/0/segunda-via")
    context.update(person=Recipient("cobranca@exemplo.com.br", _("Maria"), MESSAGE_LANGUAGE),
                   subject=context["filled_subject"])
    return Preview(subject=context["filled_subject"], text=render_template("emails/dunning_reminder.txt", **context),
                   html=render_template("emails/dunning_reminder.html", **context))


# ---------------------------------------------------------------- who receives them

def _default_receiver():
    return exists().where(MembershipRole.membership_id == Membership.id,
                          MembershipRole.role.in_([Role.MASTER, Role.COBRANCA]))


@dataclass(frozen=True)
class Seat:
    membership_id: int
    name: str
    email: str
    receives: bool
    default: bool  # what they would get without the Master's choice


def seats(organization_id: int) -> list[Seat]:
    """The organization's active users (accepted seats) and whether each receives the reminders."""
    rows = db.session.execute(
        select(Membership.id, User.name, User.email, DunningRecipient.receives, _default_receiver())
        .join(User, User.id == Membership.user_id)
        .outerjoin(DunningRecipient, DunningRecipient.membership_id == Membership.id)
        .where(Membership.organization_id == organization_id, Membership.active.is_(True),
               Membership.accepted_at.is_not(None), User.active.is_(True))
        .order_by(User.name, User.id)
    ).all()
    return [Seat(mid, name, email, bool(default) if chosen is None else chosen, bool(default))
            for mid, name, email, chosen, default in rows]


def reminder_recipients(organization_id: int) -> list[Recipient]:
    """The users who receive the reminders (the Master's choice, or Master and Cobrança), then the billing
    contacts; each address once."""
    chosen = {s.membership_id for s in seats(organization_id) if s.receives}
    people = db.session.scalars(select(User).join(Membership, Membership.user_id == User.id)
                                .where(Membership.id.in_(chosen)).order_by(User.name, User.id)).all() if chosen else []
    language = current_app.config["BABEL_DEFAULT_LOCALE"]
    found = [Recipient(p.email, p.name, p.language or language) for p in people]
    found += [Recipient(c.email, "", language) for c in billing_contacts(organization_id)]
    seen, unique = set(), []
    for person in found:
        if person.email.lower() not in seen:
            seen.add(person.email.lower())
            unique.append(person)
    return unique


def set_reminder_recipients(organization: Organization, membership_ids: list[int], *, actor: Actor) -> list[Seat]:
    """The Master's choice: exactly these seats of the organization receive the reminders. Commits."""
    current = seats(organization.id)
    known = {s.membership_id: s for s in current}
    wanted = set(membership_ids)
    if wanted - set(known):
        raise ServiceError(_("Escolha apenas usuários desta organização."), field="users")
    changed = [s for s in current if s.receives != (s.membership_id in wanted)]
    if not changed:
        db.session.rollback()
        return current
    rows = {r.membership_id: r for r in db.session.scalars(
        select(DunningRecipient).where(DunningRecipient.membership_id.in_(list(known))))}
    for seat in changed:
        row = rows.get(seat.membership_id)
        if row is None:
            row = DunningRecipient(membership_id=seat.membership_id)
            db.session.add(row)
        row.receives, row.updated_at, row.updated_by_id = not seat.receives, clock.now(), actor.user_id
    record(AuditTag.DUNNING_RECIPIENTS_CHANGED, actor=actor, organization_id=organization.id,
           subject=f"organization:{organization.id}",
           before={"to": sorted(s.email for s in current if s.receives)},
           after={"to": sorted(s.email for s in current if s.membership_id in wanted)})
    try:
        db.session.commit()
    except IntegrityError as exc:  # the Master saved twice at the same moment
        db.session.rollback()
        raise ServiceError(_("A lista mudou enquanto você salvava. Confira e salve de novo."), field="users") from exc
    return seats(organization.id)


# ---------------------------------------------------------------- sending

def _remind(invoice_id: int, *, today: date, schedule: dict[int, int]) -> bool:
    """Send `invoice_id` the reminder of the step `today` falls in, unless it went already or the invoice no
    longer owes anything. `schedule`: offset → step id of the active steps. Commits."""
    invoice = db.session.scalar(select(Invoice).where(Invoice.id == invoice_id).with_for_update()
                                .execution_options(populate_existing=True))
    if invoice is None:
        db.session.rollback()
        return False
    db.session.expire(invoice, ["boletos", "payments"])  # read under the lock: a payment just committed counts
    offset = step_for(list(schedule), invoice.due_date, today)
    step = db.session.get(DunningStep, schedule[offset], populate_existing=True) if offset is not None else None
    owed = invoice.total_cents - invoice.paid_cents
    if step is None or not step.active or step.offset_days != offset or invoice.status != InvoiceStatus.OPEN \
            or owed <= 0:
        db.session.rollback()
        return False
    already = db.session.scalar(select(func.count(DunningNotice.id)).where(DunningNotice.invoice_id == invoice.id,
                                                                          DunningNotice.step == offset))
    boleto = invoice.current_boleto
    if already or (boleto is not None and boleto.pdf_sha256 is None):
        db.session.rollback()  # sent already; or its boleto PDF is not ready yet (the next run tries again)
        return False
    # The notice first: a concurrent run that got here too fails on the unique (invoice, step) before queuing.
    db.session.add(DunningNotice(invoice_id=invoice.id, step=offset, sent_at=clock.now()))
    db.session.flush()
    attachments = [(boleto_pdf_name(invoice, boleto), boleto.pdf_sha256, PDF)] if boleto is not None else []
    context = _context(invoice, step, today, owed_cents=owed,
                       url=absolute_url("billing.invoice", invoice_id=invoice.id),
                       second_copy_url=absolute_url("billing.second_copy_preview", invoice_id=invoice.id))
    for person in reminder_recipients(invoice.organization_id):
        queue_email("dunning_reminder", to=[person.email], subject_fn=lambda: context["filled_subject"],
                    context={**context, "person": person}, language=person.language,
                    organization_id=invoice.organization_id, attachments=attachments)
    db.session.commit()
    return True


def send_reminders(*, today: date) -> int:
    """Send the dunning reminders due on `today` for open invoices, each (invoice, step) once.

    Returns how many invoices were reminded. One invoice's trouble does not stop the others. Each reminder
    is logged as its e-mails (EmailDelivery) and its DunningNotice row; there is no audit event (nobody acted).
    """
    schedule = {offset: step_id for offset, step_id in db.session.execute(
        select(DunningStep.offset_days, DunningStep.id).where(DunningStep.active.is_(True)))}
    if not schedule:
        return 0
    earliest = today - timedelta(days=max(schedule) + DUNNING_CATCH_UP_DAYS)
    latest = today - timedelta(days=min(schedule))
    candidates = db.session.scalars(
        select(Invoice.id).where(Invoice.status == InvoiceStatus.OPEN, Invoice.kind == InvoiceKind.REGULAR,
                                 Invoice.due_date >= earliest, Invoice.due_date <= latest)
        .order_by(Invoice.id)
    ).all()
    reminded = 0
    for invoice_id in candidates:
        try:
            reminded += _remind(invoice_id, today=today, schedule=schedule)
        except IntegrityError:  # another consumer sent this step at the same moment: it went once, by them
            db.session.rollback()
        except Exception:  # reported, and tried again on the next run while the step's days last
            current_app.logger.exception("dunning reminder for invoice %s failed", invoice_id)
            db.session.rollback()
    return reminded
