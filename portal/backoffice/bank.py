"""Backoffice "Banco": the day's CNAB 240 remessa to download and the bank's retorno to upload (issue 15), and,
with BANK_BACKEND=simulator, the bank's simulator (a demonstration): a remessa answered with a retorno that is
imported as an upload would be.

Who: billing:manage (financeiro, admin), as the other money pages. The view calls billing/bank.py only.
"""

import base64

from flask import Response, abort, current_app, flash, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import IntegerField
from wtforms.validators import InputRequired

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


class SimulatorForm(FlaskForm):
    remessa_id = IntegerField(validators=[InputRequired()])


def _settings() -> BillingSettings:
    return BillingSettings.from_config(current_app.config)


def _simulator():
    return current_app.extensions.get("bank_simulator")


def _simulator_box(settings: BillingSettings, chosen_id: int | None, simulated=None) -> dict | None:
    """What the simulator box shows: the recent remessas, the chosen one (today's or the latest by default)
    and its entradas; None when the simulator is off."""
    simulator = _simulator()
    if simulator is None:
        return None
    remessas = bank.recent_remessas(settings)
    chosen = next((r for r in remessas if r.id == chosen_id), None)
    if chosen is None and chosen_id is not None:
        chosen = bank.remessa_for(chosen_id, settings)
    if chosen is None and remessas:
        chosen = remessas[0]
    form = SimulatorForm(formdata=None, remessa_id=chosen.id if chosen else None)
    download = None
    if simulated is not None:
        download = "data:application/octet-stream;base64," + base64.b64encode(simulated.data).decode("ascii")
    return {"remessas": remessas, "chosen": chosen, "form": form, "simulated": simulated, "download": download,
            "entries": bank.simulator_entries(chosen, simulator) if chosen else []}


def _page(form: RetornoForm, summary=None, status: int = 200, *, chosen_id: int | None = None, simulated=None):
    settings = _settings()
    if chosen_id is None:
        chosen_id = request.args.get("remessa", type=int)
    return render_template("backoffice/bank.html", form=form, remessa_form=RemessaForm(formdata=None),
                           summary=summary, today_remessa=bank.remessa_of_day(clock.today(), settings),
                           exceptions=bank.open_exceptions(), bank_code=settings.bank,
                           simulator=_simulator_box(settings, chosen_id, simulated)), status


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


@bp.route("/banco/simulador", methods=["POST"])
@staff_requires(StaffPermission.BILLING_MANAGE)
def bank_simulate():
    """The bank's simulator (BANK_BACKEND=simulator only): the chosen remessa answered (entradas confirmed,
    baixas confirmed, the ticked boletos paid today) and the retorno imported like an upload."""
    simulator = _simulator()
    if simulator is None:
        abort(404)
    form = SimulatorForm()
    if not form.validate_on_submit():
        flash(_("Escolha uma remessa para o simulador responder."), "danger")
        return _page(RetornoForm(formdata=None), status=422)
    settings = _settings()
    remessa = bank.remessa_for(form.remessa_id.data, settings)
    if remessa is None:
        abort(404)
    try:
        simulated, summary = bank.simulate_retorno(remessa, request.form.getlist("pay"), simulator,
                                                   current_actor(), settings)
    except ServiceError as error:
        flash(error.message, "danger")
        return _page(RetornoForm(formdata=None), status=422, chosen_id=remessa.id)
    return _page(RetornoForm(formdata=None), summary=summary, chosen_id=remessa.id, simulated=simulated)
