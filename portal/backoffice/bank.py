"""Backoffice "Banco": the day's CNAB 240 remessa to download and the bank's retorno to upload (issue 15).

Who: billing:manage (financeiro, admin), as the other money pages. The view calls billing/bank.py only.
"""

from flask import Response, current_app, flash, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.billing import bank
from portal.billing.settings import BillingSettings
from portal.shared import clock
from portal.shared.errors import ServiceError
from portal.shared.permissions import staff_requires

MAX_RETORNO_BYTES = 5 * 1024 * 1024
MAX_REQUEST_BYTES = MAX_RETORNO_BYTES + 64 * 1024


@bp.url_value_preprocessor
def _limit_retorno_upload(endpoint, _values):
    if endpoint == "backoffice.bank_files" and request.method == "POST":
        request.max_content_length = MAX_REQUEST_BYTES


class RetornoForm(FlaskForm):
    retorno = FileField(_l("Arquivo de retorno"), validators=[
        FileRequired(message=_l("Escolha o arquivo de retorno do banco."))],
        description=_l("O arquivo CNAB 240 como o banco o fornece (até 5 MB)."))


class RemessaForm(FlaskForm):
    pass


def _settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


def _page(form: RetornoForm, summary=None, status: int = 200):
    settings = _settings()
    return render_template("backoffice/bank.html", form=form, remessa_form=RemessaForm(formdata=None),
                           summary=summary, today_remessa=bank.remessa_of_day(clock.today(), settings),
                           exceptions=bank.open_exceptions(), bank_code=settings.bank), status


@bp.route("/banco", methods=["GET", "POST"])
@staff_requires(StaffPermission.BILLING_MANAGE)
def bank_files():
    if request.method == "GET":
        return _page(RetornoForm(formdata=None))
    try:
        form = RetornoForm()
    except RequestEntityTooLarge:
        flash(_("O arquivo enviado passa do limite de %(mb)d MB.", mb=MAX_RETORNO_BYTES // (1024 * 1024)), "danger")
        return _page(RetornoForm(formdata=None), status=413)
    if not form.validate_on_submit():
        return _page(form, status=422)
    data = form.retorno.data.stream.read(MAX_RETORNO_BYTES + 1)
    if len(data) > MAX_RETORNO_BYTES:
        form.retorno.errors = [_("O arquivo passa de %(mb)d MB.", mb=MAX_RETORNO_BYTES // (1024 * 1024))]
        return _page(form, status=422)
    try:
        summary = bank.import_retorno(data, form.retorno.data.filename or "retorno", current_actor(), _settings())
    except ServiceError as error:
        form.retorno.errors = [error.message]
        return _page(form, status=422)
    return _page(RetornoForm(formdata=None), summary=summary)


@bp.route("/banco/remessa", methods=["POST"])
@staff_requires(StaffPermission.BILLING_MANAGE)
def bank_remessa():
    """Today's remessa (produced once a day; the same file again afterwards), as a download."""
    form = RemessaForm()
    if not form.validate_on_submit():
        flash(_("A página expirou. Tente de novo."), "danger")
        return _page(RetornoForm(formdata=None), status=400)
    result = bank.build_remessa(clock.today(), _settings(), current_actor())
    remessa = result.remessa
    response = Response(result.data, mimetype="application/octet-stream")
    name = f"remessa-{remessa.bank}-{remessa.business_date.strftime('%Y%m%d')}-{remessa.nsa:06d}.rem"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
