"""Customer pages of billing: "Faturas" (list, detail, downloads), the 2ª via and the billing e-mails."""

import functools
import io
from datetime import date
from decimal import Decimal
from typing import Any

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _

from portal.accounts.context import current_actor, tenant_get
from portal.accounts.roles import Permission
from portal.billing import boletos, delivery, dunning, fiscal, invoice_csv, pack, second_copy
from portal.billing import service as billing
from portal.billing.forms import (
    STATUS_CHOICES,
    AccountantForm,
    ActionForm,
    BillingContactForm,
    ReminderRecipientsForm,
    SecondCopyForm,
    parse_filters,
)
from portal.billing.lines import invoice_line_views
from portal.billing.models import (
    INVOICE_STATUS_LABELS,
    PAYMENT_METHOD_LABELS,
    Invoice,
    InvoiceStatus,
)
from portal.billing.settings import BillingSettings
from portal.shared import clock, documents, tokens
from portal.shared.errors import NotFound, ServiceError
from portal.shared.formatting import format_date
from portal.shared.forms import show_error
from portal.shared.fragments import render_fragment
from portal.shared.paging import requested_page
from portal.shared.permissions import public, requires

bp = Blueprint("billing", __name__)

XML = "application/xml"


def _settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


def _status() -> int:
    """200 for a page shown; 422 when a submitted form comes back with its problems."""
    return 200 if request.method == "GET" else 422


def _invoice_or_404(invoice_id: int, options: tuple = ()) -> Invoice:
    """An invoice of the current organization (another organization's is a 404, like a missing one), with the
    relations `options` load."""
    return tenant_get(Invoice, invoice_id, options=options)


# ---------------------------------------------------------------- what the pages show

STATUS_CLASSES = {"open": "text-bg-info", "overdue": "text-bg-danger", "paid": "text-bg-success",
                  "cancelled": "text-bg-secondary"}


def _status_label(status: str) -> str:
    return str(INVOICE_STATUS_LABELS[status])


@functools.lru_cache(maxsize=256)
def _qr_svg(payload: str) -> str:
    """The Pix code's QR as inline SVG. Drawing it (segno, pure Python: eight masks tried) costs more than the rest of
    the invoice's page; the drawing of a payload never changes, so each process draws an open boleto's code once."""
    return segno.make(payload, error="m").svg_inline(scale=3, dark="#111", light="#fff")


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_class": lambda status: STATUS_CLASSES.get(status, "text-bg-secondary"),
            "status_label": _status_label,
            "percent": lambda basis_points: format_decimal(Decimal(basis_points) / 100)}  # 200 → "2", 33 → "0,33"


# ---------------------------------------------------------------- "Faturas"

@bp.get("/faturas")
@requires(Permission.BILLING_READ)
def invoices():
    filters = parse_filters(request.args)
    page = requested_page()
    rows, has_next = billing.invoice_rows(g.organization.id, year=filters.year, status=filters.status,
                                          today=clock.today(), page=page, cost_centre=filters.cost_centre)
    values = {"rows": rows}  # whoever sees "Faturas" may download its documents (the same permission)
    table = render_fragment("billing/_invoices_table.html", values, _invoice_table_words) if rows else None
    return render_template(
        "billing/list.html", table=table, has_next=has_next, page=page, filters=filters,
        years=billing.invoice_years(g.organization.id), status_choices=STATUS_CHOICES,
        pack_month=pack.previous_month(clock.today()),
        cost_centres=billing.cost_centres(g.organization.id),
        csv_args={name: value for name, value in filters.query_args().items() if name != "agrupar"},
    ), 422 if filters.errors else 200


@bp.get("/faturas.csv")
@requires(Permission.BILLING_READ)
def invoices_csv():
    """The filtered invoices as a spreadsheet; `agrupar=centro_de_custo`: one row per (invoice, cost centre)."""
    filters = parse_filters(request.args)
    if filters.errors:  # never export something other than what was asked: back to the page that explains
        return redirect(url_for("billing.invoices", **{k: v for k, v in filters.raw.items() if v}))
    today = clock.today()
    body = invoice_csv.invoice_csv(invoice_csv.invoice_csv_rows(
        g.organization.id, year=filters.year, status=filters.status, cost_centre=filters.cost_centre,
        by_cost_centre=filters.by_cost_centre, today=today), today=today)
    name = f"faturas-{today:%Y-%m-%d}.csv"
    return body, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="{name}"'}


def _invoice_table_words() -> dict[str, Any]:
    """The invoice statuses' badge classes and labels, in the current language."""
    return {"badges": {status: (STATUS_CLASSES.get(status, "text-bg-secondary"), _status_label(status))
                       for status in INVOICE_STATUS_LABELS}}


@bp.get("/faturas/<int:invoice_id>")
@requires(Permission.BILLING_READ)
def invoice(invoice_id: int):
    found = _invoice_or_404(invoice_id, billing.INVOICE_STORY)
    today = clock.today()
    current = found.current_boleto
    payable = found.status == InvoiceStatus.OPEN and current is not None
    pix_ready = payable and boletos.pix_ready(current)
    paid = found.paid_cents  # a sum over the payments and their reversals: once
    return render_template(
        "billing/detail.html", invoice=found, today=today, status=found.display_status(today),
        lines=invoice_line_views(found.id), current=current if payable else None,
        history=[b for b in reversed(found.boletos) if b is not current or not payable],
        pix_qr=_qr_svg(current.pix_payload) if payable and pix_ready else None, pix_ready=pix_ready,
        paid_cents=paid, owed_cents=found.total_cents - paid, fiscal=found.fiscal_document,
        method_labels={str(k): v for k, v in PAYMENT_METHOD_LABELS.items()},
    )


# ---------------------------------------------------------------- downloads

def _not_ready():
    return render_template("billing/not_ready.html"), 404


def _download(content: bytes, content_type: str, filename: str):
    return send_file(io.BytesIO(content), mimetype=content_type, as_attachment=True, download_name=filename,
                     etag=False, max_age=0)


def _stored(sha256: str | None, filename: str):
    """A stored document as a streamed attachment, or the "em preparação" page (404) while it does not exist."""
    if sha256 is None:
        return _not_ready()
    try:
        return documents.send(sha256, filename)
    except NotFound:
        return _not_ready()


@bp.get("/faturas/<int:invoice_id>/fatura.pdf")
@requires(Permission.BILLING_READ)
def invoice_pdf(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    return _stored(found.pdf_sha256, delivery.invoice_pdf_name(found))


@bp.get("/faturas/<int:invoice_id>/boleto.pdf")
@requires(Permission.BILLING_READ)
def boleto_pdf(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    current = found.current_boleto
    if current is None:
        abort(404)
    return _stored(current.pdf_sha256, delivery.boleto_pdf_name(found, current))


@bp.get("/faturas/<int:invoice_id>/boletos/<int:boleto_id>.pdf")
@requires(Permission.BILLING_READ)
def boleto_history_pdf(invoice_id: int, boleto_id: int):
    found = _invoice_or_404(invoice_id)
    boleto = next((b for b in found.boletos if b.id == boleto_id), None)
    if boleto is None:
        abort(404)
    return _stored(boleto.pdf_sha256, delivery.boleto_pdf_name(found, boleto))


@bp.get("/faturas/<int:invoice_id>/nota-fiscal.pdf")
@requires(Permission.BILLING_READ)
def fiscal_pdf(invoice_id: int):
    try:
        note = fiscal.fiscal_pdf(_invoice_or_404(invoice_id))
    except NotFound:
        return _not_ready()
    return _stored(note.pdf_sha256, fiscal.download_name(note, "pdf"))


@bp.get("/faturas/<int:invoice_id>/nota-fiscal.xml")
@requires(Permission.BILLING_READ)
def fiscal_xml(invoice_id: int):
    try:
        note, content = fiscal.fiscal_xml(_invoice_or_404(invoice_id))
    except NotFound:
        return _not_ready()
    return _download(content, XML, fiscal.download_name(note, "xml"))


# ---------------------------------------------------------------- 2ª via

def _confirmed(form: SecondCopyForm) -> tuple[int, date] | None:
    """The (total, due date) the person saw on the confirmation page; None when the form does not say."""
    try:
        return int(form.total_cents.data or ""), date.fromisoformat(form.new_due.data or "")
    except ValueError:
        return None


def _second_copy_page(found: Invoice, form: SecondCopyForm, status: int):
    try:
        quote = second_copy.quote(found, settings=_settings(), today=clock.today())
    except ServiceError as error:
        flash(error.message, "warning")
        return redirect(url_for("billing.invoice", invoice_id=found.id))
    form.total_cents.data = str(quote.total_cents)
    form.new_due.data = quote.new_due.isoformat()
    return render_template("billing/second_copy.html", invoice=found, quote=quote, form=form,
                           current=found.current_boleto), status


@bp.get("/faturas/<int:invoice_id>/segunda-via")
@requires(Permission.BILLING_READ)
def second_copy_preview(invoice_id: int):
    return _second_copy_page(_invoice_or_404(invoice_id), SecondCopyForm(), 200)


@bp.post("/faturas/<int:invoice_id>/segunda-via")
@requires(Permission.BILLING_READ)
def issue_second_copy(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    form = SecondCopyForm()
    if not form.validate_on_submit():
        return _second_copy_page(found, form, 422)
    try:
        issued = second_copy.issue(found, settings=_settings(), today=clock.today(), actor=current_actor(),
                                   expected=_confirmed(form))
    except second_copy.ChangedSinceShown as error:
        flash(error.message, "warning")
        return _second_copy_page(_invoice_or_404(invoice_id), SecondCopyForm(formdata=None), 422)
    except ServiceError as error:  # paid, cancelled or not overdue (any more)
        flash(error.message, "warning")
        return redirect(url_for("billing.invoice", invoice_id=invoice_id))
    if issued.created:
        flash(_("2ª via emitida: o novo boleto vence em %(date)s.", date=format_date(issued.boleto.due_date)),
              "success")
    else:
        flash(_("A 2ª via de hoje já tinha sido emitida; é o boleto abaixo."), "info")
    return redirect(url_for("billing.invoice", invoice_id=invoice_id))


# ---------------------------------------------------------------- billing e-mails (Master)

@bp.route("/faturas/contatos", methods=["GET", "POST"])
@requires(Permission.USERS_MANAGE)
def contacts():
    form = BillingContactForm()
    if form.validate_on_submit():
        try:
            contact = delivery.add_billing_contact(g.organization, email=form.email.data, name=form.name.data or "",
                                                   actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("%(email)s vai receber as faturas.", email=contact.email), "success")
            return redirect(url_for("billing.contacts"))
    return _contacts_page(form, _reminder_form(formdata=None))


def _reminder_form(**kwargs) -> ReminderRecipientsForm:
    seats = dunning.seats(g.organization.id)
    form = ReminderRecipientsForm(**kwargs)
    form.users.choices = [(s.membership_id, f"{s.name} <{s.email}>") for s in seats]
    if kwargs.get("formdata", True) is None:
        form.users.data = [s.membership_id for s in seats if s.receives]
    return form


def _contacts_page(form: BillingContactForm, reminder_form: ReminderRecipientsForm):
    extra = delivery.billing_contacts(g.organization.id)
    addresses = {c.email for c in extra}
    return render_template(
        "billing/contacts.html", form=form, contacts=extra, reminder_form=reminder_form,
        users=[r for r in delivery.recipients(g.organization.id) if r.email not in addresses],
        action_form=ActionForm(), max_contacts=delivery.MAX_BILLING_CONTACTS,
        accountant=pack.accountant_of(g.organization.id),
    ), _status()


@bp.post("/faturas/contatos/lembretes")
@requires(Permission.USERS_MANAGE)
def reminder_recipients():
    """The Master chooses which of the organization's users receive the dunning reminders."""
    form = _reminder_form()
    if form.validate_on_submit():
        try:
            dunning.set_reminder_recipients(g.organization, form.users.data or [], actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Lista de quem recebe os lembretes de vencimento salva."), "success")
            return redirect(url_for("billing.contacts"))
    return _contacts_page(BillingContactForm(formdata=None), form)


@bp.post("/faturas/contatos/<int:contact_id>/remover")
@requires(Permission.USERS_MANAGE)
def remove_contact(contact_id: int):
    if ActionForm().validate_on_submit():
        try:
            contact = delivery.remove_billing_contact(g.organization, contact_id, actor=current_actor())
        except NotFound:
            abort(404)
        flash(_("%(email)s não recebe mais as faturas.", email=contact.email), "success")
    return redirect(url_for("billing.contacts"))



# ---------------------------------------------------------------- the accountant's pack (issue 16)

def pack_response(found: pack.Pack) -> Response:
    """The pack's ZIP streamed to the client as it is read from storage (never whole in memory)."""
    return Response(stream_with_context(pack.stream_zip(found)), mimetype=pack.ZIP,
                    headers={"Content-Disposition": f'attachment; filename="{found.filename}"',
                             "Cache-Control": "no-store"})


@bp.get("/faturas/pacote")
@requires(Permission.BILLING_READ)
def accountant_pack():
    """The organization's pack of the month in ?mes= (a bad month or one without invoices: back with a message)."""
    try:
        found = pack.pack_or_error(pack.parse_month(request.args.get(pack.MONTH_FIELD)), g.organization)
    except ServiceError as error:
        flash(error.message, "warning")
        return redirect(url_for("billing.invoices"))
    return pack_response(found)


@bp.route("/faturas/contador", methods=["GET", "POST"])
@requires(Permission.BILLING_READ)
def accountant():
    """"E-mail do contador": who receives the monthly pack automatically, and on which day (Master, Cobrança)."""
    current = pack.accountant_of(g.organization.id)
    form = AccountantForm(data={"email": current.email, "day": str(current.day)} if current else None)
    if form.validate_on_submit():
        try:
            saved = pack.set_accountant(g.organization, email=form.email.data, day=form.day_number,
                                        actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("%(email)s vai receber o pacote do contador no dia %(day)d de cada mês.", email=saved.email,
                    day=saved.day), "success")
            return redirect(url_for("billing.accountant"))
    return render_template("billing/accountant.html", form=form, current=current, action_form=ActionForm(),
                           last_month=pack.previous_month(clock.today())), _status()


@bp.post("/faturas/contador/remover")
@requires(Permission.BILLING_READ)
def remove_accountant():
    if ActionForm().validate_on_submit():
        try:
            removed = pack.remove_accountant(g.organization, actor=current_actor())
        except NotFound:
            flash(_("Nenhum e-mail do contador cadastrado."), "info")
        else:
            flash(_("%(email)s não recebe mais o pacote do contador.", email=removed.email), "success")
    return redirect(url_for("billing.accountant"))


@bp.get("/pacote-contador/<token>")
@public
def accountant_pack_link(token: str):
    """The link e-mailed to the accountant (who has no login): one organization's pack of one month, signed and
    valid for 30 days."""
    try:
        found = pack.pack_for_token(token)
    except tokens.InvalidToken as invalid:
        return render_template("billing/pack_link_invalid.html", expired=invalid.expired), 404
    except NotFound:
        return render_template("billing/pack_link_invalid.html", expired=False), 404
    return pack_response(found)
