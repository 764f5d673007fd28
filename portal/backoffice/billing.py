"""Backoffice finance: every invoice ("Faturas", with filters), an invoice's whole story, recording a payment
received by hand, and running the billing for a date ("Faturamento", with a confirmation step).

Staff see every organization's invoices (no tenant scoping: the backoffice is staff-only). Money moves only
through the billing services (`record_payment`, `run_billing`), which write the audit events.
"""

import json
from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import ValidationError

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import delivery, fiscal, payments, pix_charges, reconciliation, run
from portal.billing import service as billing
from portal.billing.models import (
    INVOICE_STATUS_LABELS,
    PAYMENT_METHOD_LABELS,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)
from portal.billing.settings import BillingSettings
from portal.shared import clock, cnpj
from portal.shared.dates import parse_day
from portal.shared.errors import ServiceError
from portal.shared.filters import ListFilters
from portal.shared.formatting import current_locale_name, format_date, format_money, format_period
from portal.shared.forms import max_length, required, show_error
from portal.shared.money import parse_brl
from portal.shared.paging import requested_page
from portal.shared.permissions import staff_requires

PER_PAGE = 50
MAX_PAGE = 100_000

STATUS_BADGES = {"open": "text-bg-primary", "overdue": "text-bg-danger", "paid": "text-bg-success",
                 "cancelled": "text-bg-secondary"}
# Query-string values (as staff read them in the URL) → the display status they select.
STATUS_SLUGS = {"aberta": "open", "vencida": "overdue", "paga": "paid", "cancelada": "cancelled"}
UNDELIVERED_SLUG = "sem-destinatario"  # ?envio=: the invoices nobody could be e-mailed
STATUS_CHOICES = [(slug, INVOICE_STATUS_LABELS[status]) for slug, status in STATUS_SLUGS.items()]
MANUAL_METHOD_CHOICES = [SelectChoice("", _l("Escolha…"))] + [
    SelectChoice(str(m), PAYMENT_METHOD_LABELS[m]) for m in payments.MANUAL_METHODS]
LINE_KIND_LABELS = {"recurring": _l("mensalidade"), "prorata": _l("pró-rata"), "credit": _l("crédito"),
                    "adjustment": _l("ajuste")}


def _settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


# ---------------------------------------------------------------- the list and its filters

@dataclass
class InvoiceFilters(ListFilters):
    """The list's filters once read; a value that could not be read is None and explained in `errors`."""

    status: str | None = None  # "open" (not yet due), "overdue", "paid", "cancelled"
    undelivered: bool = False  # only invoices nobody could be e-mailed ("sem destinatário")
    year: int | None = None
    organization: str = ""  # part of the razão social, nome fantasia or CNPJ


def parse_filters(args) -> InvoiceFilters:
    """Read the filters from request.args. Never raises: a bad value is ignored and explained."""
    filters = InvoiceFilters.reading(args, "situacao", "ano", "organizacao", "envio")
    filters.organization = filters.text("organizacao")
    filters.status = filters.choice("situacao", STATUS_SLUGS, _("Situação desconhecida: “%(value)s”. Mostrando "
                                                                "faturas em todas as situações."))
    filters.undelivered = filters.choice("envio", {UNDELIVERED_SLUG: True}, _(
        "Envio desconhecido: “%(value)s”. Mostrando todas as faturas.")) or False
    filters.year = ListFilters.year(filters, "ano")  # the reader (the dataclass field `year` hides it)
    return filters


def search_invoices(filters: InvoiceFilters, *, today: date, page: int,
                    per_page: int = PER_PAGE) -> list[billing.StaffInvoiceRow]:
    """Invoices matching `filters`, newest first: up to `per_page + 1` rows (one more tells there is a next page)."""
    return billing.search_invoices(status=filters.status, undelivered=filters.undelivered, year=filters.year,
                                   organization=filters.organization, today=today, page=page, per_page=per_page)


def _invoice_cells(rows: list[billing.StaffInvoiceRow]) -> list[tuple]:
    """Each row with its formatted cells (CNPJ, period, due date, total, open amount), computed here in one pass
    rather than by five template filter calls per row; a period shared by many rows is formatted once."""
    periods: dict[tuple[date, date], str] = {}
    cells = []
    for row in rows:
        key = (row.period_start, row.period_end)
        period = periods.get(key)
        if period is None:
            period = periods[key] = format_period(*key)
        cells.append((row, cnpj.format(row.cnpj), period, format_date(row.due_date), format_money(row.total_cents),
                      format_money(row.open_cents)))
    return cells


@bp.get("/faturas")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoices():
    filters = parse_filters(request.args)
    page = requested_page(MAX_PAGE)
    today = clock.today()
    found = search_invoices(filters, today=today, page=page)
    return render_template(
        "backoffice/billing_invoices.html", rows=_invoice_cells(found[:PER_PAGE]), has_next=len(found) > PER_PAGE,
        filters=filters, page=page, status_choices=STATUS_CHOICES,
        undelivered_slug=UNDELIVERED_SLUG, pack_month=(today.replace(day=1) - timedelta(days=1)).replace(day=1),
        # translated once per page, not once per row
        status_labels={status: str(label) for status, label in INVOICE_STATUS_LABELS.items()},
        status_badges=STATUS_BADGES,
    ), 422 if filters.errors else 200


# ---------------------------------------------------------------- one invoice

class ManualPaymentForm(FlaskForm):
    """Money that arrived by boleto, Pix or deposit, as finance sees it on the bank statement."""

    paid_on = StringField(_l("Data do pagamento"), validators=[required()],
                          description=_l("dd/mm/aaaa, como no extrato; não pode estar no futuro."))
    amount = StringField(_l("Valor recebido (R$)"), validators=[required()],
                         description=_l("Como no extrato, por exemplo 1.234,56."))
    method = SelectField(_l("Forma de pagamento"), choices=MANUAL_METHOD_CHOICES, validators=[required()])
    note = TextAreaField(_l("Observação"), validators=[max_length(payments.MAX_NOTE)],
                         description=_l("Opcional: por exemplo, o identificador do depósito no extrato."))

    paid_on_value: date | None = None
    amount_cents: int | None = None

    def validate_paid_on(self, field):
        try:
            day = parse_day(field.data or "")
        except ValueError:
            raise ValidationError(_("Data inválida: use o formato dd/mm/aaaa.")) from None
        if day > clock.today():
            raise ValidationError(_("A data do pagamento não pode estar no futuro."))
        self.paid_on_value = day

    def validate_amount(self, field):
        try:
            cents = parse_brl(field.data or "")
        except ValueError:
            raise ValidationError(_("Valor não reconhecido: use o formato 1.234,56.")) from None
        if cents <= 0:
            raise ValidationError(_("Informe um valor maior que zero."))
        self.amount_cents = cents


def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = billing.invoice_with_story(invoice_id)
    if invoice is None:
        abort(404)
    return invoice


_BLANK_PAYMENT_FIELDS: dict[str, Markup] = {}  # language → the blank payment form's fields, rendered


def _blank_payment_fields() -> Markup:
    """The payment form's fields, blank (no data, no errors, no CSRF token: that is `hidden_tag`, rendered per
    page): the same HTML for every invoice in a language, so rendered once per language."""
    language = current_locale_name()
    rendered = _BLANK_PAYMENT_FIELDS.get(language)
    if rendered is None:
        rendered = _BLANK_PAYMENT_FIELDS[language] = Markup(render_template(  # noqa: S704 - our own template
            "backoffice/_payment_fields.html", form=ManualPaymentForm(formdata=None, meta={"csrf": False})))
    return rendered


def _pretty(value) -> str:
    if value in (None, {}, []):
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _line_cells(lines: list[billing.StaffInvoiceLine]) -> list[tuple]:
    """Each line with its formatted cells (its kind's label, period, unit price, amount), computed here in one
    pass: the kinds' labels translated once per page, a period shared by many lines formatted once."""
    kinds = {kind: str(label) for kind, label in LINE_KIND_LABELS.items()}
    periods: dict[tuple[date, date], str] = {}
    cells = []
    for line in lines:
        period = ""
        if line.period_start and line.period_end:
            key = (line.period_start, line.period_end)
            period = periods.get(key)
            if period is None:
                period = periods[key] = format_period(*key)
        cells.append((line, kinds.get(line.kind, line.kind), period, format_money(line.unit_price_cents),
                      format_money(line.amount_cents)))
    return cells


def _render_invoice(invoice: Invoice, form: ManualPaymentForm, status: int = 200, *, undelivered: bool | None = None,
                    blank: bool = False):
    """The invoice page; `undelivered` when already read with the invoice (`billing.invoice_page`), `blank` for the
    payment form as nobody has filled it yet (its fields rendered once per language)."""
    today = clock.today()
    recorders = billing.payment_recorders(invoice)
    audit = billing.invoice_audit(invoice)
    related = [row for row in (invoice.replaces_id, invoice.corrects_id) if row]
    lines = billing.invoice_line_rows(invoice.id)
    return render_template(
        "backoffice/invoice.html", invoice=invoice, status=invoice.display_status(today), today=today,
        # the balance from the payments already loaded; each period shown once formatted, however many lines have it
        balance=billing.loaded_balance(invoice, today), form=form, recorders=recorders, lines=_line_cells(lines),
        gateway_payments=payments.gateway_payments(invoice), audit=[(event, _pretty(event.after)) for event in audit],
        related=related, can_record=invoice.status != InvoiceStatus.CANCELLED and invoice.kind == "regular",
        status_labels=INVOICE_STATUS_LABELS, status_badges=STATUS_BADGES, method_labels=PAYMENT_METHOD_LABELS,
        source_labels=reconciliation.STORED_SOURCE_LABELS,
        second_copy=payments.latest_second_copy(invoice),
        undelivered=bool(delivery.undelivered_among([invoice.id])) if undelivered is None else undelivered,
        blank_payment_fields=_blank_payment_fields() if blank else None,
        fiscal_page="backoffice.fiscal_document" in current_app.view_functions,
        pix_simulator=pix_charges.simulator_active() and invoice.status == InvoiceStatus.OPEN,
        pix_form=FlaskForm(formdata=None), substitutes_note=fiscal.substituted_note(invoice),
    ), status


@bp.get("/faturas/<int:invoice_id>")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice(invoice_id: int):
    found = billing.invoice_page(invoice_id)
    if found is None:
        abort(404)
    return _render_invoice(found[0], ManualPaymentForm(formdata=None), undelivered=found[1], blank=True)


def _payment_flash(invoice_id: int, payment: Payment) -> str:
    found = billing.invoice(invoice_id)
    now = payments.balance(found, clock.today())
    message = _("Pagamento de %(amount)s registrado na fatura %(number)s. Saldo em aberto: %(balance)s.",
                amount=format_money(payment.amount_cents), number=found.display_number,
                balance=format_money(now.open_cents))
    if found.status == InvoiceStatus.PAID:
        message += " " + _("A fatura está paga.")
        if now.credit_cents:
            message += " " + _("O excedente de %(credit)s virou crédito da organização.",
                               credit=format_money(now.credit_cents))
    return message


@bp.route("/faturas/<int:invoice_id>/pagamentos", methods=["GET", "POST"])
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice_payment(invoice_id: int):
    """POST records a payment received by hand; GET goes to the invoice page, where the form is."""
    if request.method == "GET":
        return redirect(url_for("backoffice.invoice", invoice_id=invoice_id, _anchor="registrar-pagamento"))
    found = _invoice_or_404(invoice_id)
    form = ManualPaymentForm()
    if form.validate_on_submit():
        try:
            payment = payments.record_payment(
                found, amount_cents=form.amount_cents, method=PaymentMethod(form.method.data),
                paid_on=form.paid_on_value, actor=current_actor(), source="manual",
                note=form.note.data or "", settings=_settings())
        except ServiceError as error:
            show_error(form, error)
            found = _invoice_or_404(invoice_id)
        else:
            flash(_payment_flash(invoice_id, payment), "success")
            return redirect(url_for("backoffice.invoice", invoice_id=invoice_id))
    return _render_invoice(found, form, 422)


@bp.post("/faturas/<int:invoice_id>/pix-simulado")
@staff_requires(StaffPermission.BILLING_MANAGE)
def invoice_simulated_pix(invoice_id: int):
    """The demo's "Simular pagamento Pix" (only with PIX_BACKEND=simulator): the simulator pays the cobv and the
    Pix is recorded as the PSP's webhook would have it."""
    found = _invoice_or_404(invoice_id)
    if not FlaskForm().validate_on_submit():
        flash(_("O formulário expirou. Tente de novo."), "danger")
        return redirect(url_for("backoffice.invoice", invoice_id=invoice_id))
    try:
        outcome = pix_charges.simulate_payment(found)
    except ServiceError as error:
        flash(error.message, "danger")
    else:
        if outcome.recorded:
            flash(_("Pagamento Pix simulado recebido para a fatura %(number)s.", number=found.display_number),
                  "success")
    return redirect(url_for("backoffice.invoice", invoice_id=invoice_id))


# ---------------------------------------------------------------- the billing run

class BillingRunForm(FlaskForm):
    """The business date to invoice (organizations whose billing day it is); `confirm` marks the second step."""

    day = StringField(_l("Data de faturamento"), validators=[required()],
                      description=_l("dd/mm/aaaa. Fatura as organizações cujo dia de faturamento é esta data; as "
                                     "já faturadas nesse dia não são faturadas de novo."))
    confirm = HiddenField()

    day_value: date | None = None

    def validate_day(self, field):
        try:
            day = parse_day(field.data or "")
        except ValueError:
            raise ValidationError(_("Data inválida: use o formato dd/mm/aaaa.")) from None
        if day > clock.today():
            raise ValidationError(_("Não é possível faturar uma data futura."))
        self.day_value = day


@bp.route("/faturamento", methods=["GET", "POST"])
@staff_requires(StaffPermission.BILLING_MANAGE)
def billing_run():
    """Step 1 (GET): choose the date. Step 2 (POST): what would be invoiced, to confirm. Step 3 (POST with
    confirm): run it and show what happened."""
    if request.method == "GET":
        form = BillingRunForm(formdata=None, day=clock.today().strftime("%d/%m/%Y"))
        return render_template("backoffice/billing_run.html", form=form, step="choose")
    form = BillingRunForm()
    if not form.validate_on_submit():
        return render_template("backoffice/billing_run.html", form=form, step="choose"), 422
    day = form.day_value
    if form.confirm.data != "1":
        form.confirm.data = "1"
        return render_template("backoffice/billing_run.html", form=form, step="confirm", day=day,
                               preview=billing.run_preview(day))
    result = run.run_billing(on=day, settings=_settings(), actor=current_actor())
    issued = billing.issued_invoices(result.issued)
    failed_names = billing.organizations_by_id(org_id for org_id, _error in result.failed)
    return render_template("backoffice/billing_run.html", form=BillingRunForm(formdata=None), step="done", day=day,
                           result=result, issued=issued, failed_names=failed_names)

