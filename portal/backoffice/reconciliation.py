"""Backoffice "Conciliação" (issue 15 point 9): the period's payments by source (typed, bank retorno, Pix by
webhook or polling, Stripe) with their list and CSV export, and the exceptions waiting for finance, each resolved
with a note.

Who: billing:manage (financeiro, admin), as "Banco" and the other money pages. Queries live in
billing/reconciliation.py and billing/exceptions.py.
"""

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import exceptions
from portal.billing import reconciliation as service
from portal.billing.reconciliation import ReconciliationFilters
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import max_length, show_error
from portal.shared.permissions import staff_requires

EXCEPTION_CHOICES = {"abertas": exceptions.OPEN, "resolvidas": exceptions.RESOLVED, "todas": exceptions.ALL}
EXCEPTION_CHOICE_LABELS = {"abertas": _l("Aguardando o financeiro"), "resolvidas": _l("Resolvidas"),
                           "todas": _l("Todas")}


class ResolveForm(FlaskForm):
    # Required: the service says so (exceptions.check_note), in its own words.
    note = TextAreaField(_l("O que foi feito"), validators=[max_length(exceptions.MAX_NOTE)],
                         description=_l("Obrigatório, até 1.000 caracteres: por exemplo, o estorno ou o contato com "
                                        "o cliente."))


def parse_filters() -> ReconciliationFilters:
    filters = ReconciliationFilters.reading(request.args, "de", "ate", "pendencias")
    first, last = filters.period("de", "ate")
    month_start, month_end = service.month_of(clock.today())
    if first and not last:  # from that day up to today (or that one day, if it is ahead)
        last = max(first, clock.today())
    if last and not first:  # that day's month
        first = service.month_of(last)[0]
    filters.date_from, filters.date_to = first or month_start, last or month_end
    for name, day in (("de", filters.date_from), ("ate", filters.date_to)):  # the form shows the period in use
        if name not in filters.errors:
            filters.raw[name] = day.strftime("%d/%m/%Y")
    filters.exceptions = filters.choice("pendencias", EXCEPTION_CHOICES,
                                        _("Situação desconhecida: “%(value)s”. Mostrando as pendências abertas.")
                                        ) or exceptions.OPEN
    return filters


def _page(filters: ReconciliationFilters, *, failed_id: int | None = None, failed_form: ResolveForm | None = None,
          status: int = 200):
    data = service.reconciliation(filters.date_from, filters.date_to)
    rows = exceptions.open_exceptions(exceptions.ExceptionFilters(status=filters.exceptions,
                                                                  date_from=filters.date_from,
                                                                  date_to=filters.date_to))
    forms = {row.exception.id: (failed_form if row.exception.id == failed_id else ResolveForm(formdata=None))
             for row in rows if row.exception.resolved_at is None}
    return render_template("backoffice/reconciliation.html", filters=filters, data=data, exception_rows=rows,
                           forms=forms, exception_choices=EXCEPTION_CHOICE_LABELS,
                           csv_url=url_for("backoffice.reconciliation_csv", de=filters.date_from.strftime("%d/%m/%Y"),
                                           ate=filters.date_to.strftime("%d/%m/%Y")),
                           ), status if not filters.errors or status != 200 else 422


@bp.get("/conciliacao")
@staff_requires(StaffPermission.BILLING_MANAGE)
def reconciliation():
    return _page(parse_filters())


@bp.get("/conciliacao/pagamentos.csv")
@staff_requires(StaffPermission.BILLING_MANAGE)
def reconciliation_csv():
    filters = parse_filters()
    body = service.payments_csv(filters.date_from, filters.date_to)
    filename = service.csv_filename(filters.date_from, filters.date_to)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


@bp.post("/conciliacao/pendencias/<int:exception_id>/resolver")
@staff_requires(StaffPermission.BILLING_MANAGE)
def resolve_exception(exception_id: int):
    filters = parse_filters()  # the page's filters travel in the form's URL, so the page comes back as it was
    form = ResolveForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            flash(_("A página expirou. Tente de novo."), "danger")
        return _page(filters, failed_id=exception_id, failed_form=form, status=422)
    try:
        exceptions.resolve(exception_id, form.note.data, current_actor())
    except NotFound:
        abort(404)
    except ServiceError as error:
        show_error(form, error)
        return _page(filters, failed_id=exception_id, failed_form=form, status=422)
    flash(_("Pendência resolvida."), "success")
    return redirect(url_for("backoffice.reconciliation", **filters.query_args()))
