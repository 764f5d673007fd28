"""Backoffice "Venda conjunta": co-sell deals as in Partner Center's referrals — the Entrada, Saída and Favoritos
tabs, creating an outbound deal, registering a received referral, editing, the stage machine and, on won deals,
the deal-registration eligibility.

Who: pipeline:read (every staff role) sees the deals and hearts favourites (a personal bookmark);
cosell:manage (comercial, admin) creates and moves them. Received referrals would come from Partner Center's
referrals API in production; here staff register them by hand ("Registrar indicação recebida").
"""

from babel.numbers import format_decimal
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.accounts.context import current_actor
from portal.accounts.roles import StaffPermission
from portal.backoffice import bp
from portal.cosell import service
from portal.cosell.forms import (
    ActionForm,
    DeclineForm,
    ErrorForm,
    LoseForm,
    StageForm,
    UpgradeForm,
    deal_data,
    deal_form,
    parse_filters,
    show_errors,
)
from portal.cosell.models import DEAL_STAGE_LABELS, DEAL_TYPE_LABELS, Deal, DealStage, DealType, Direction
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from portal.shared.paging import requested_page
from portal.shared.permissions import staff_can, staff_requires

PER_PAGE = 50
MAX_PAGE = 100_000  # a huge ?pagina= would overflow the database's OFFSET
STAGE_BADGES = {
    DealStage.RECEIVED: "text-bg-warning",
    DealStage.WON: "text-bg-success",
    DealStage.LOST: "text-bg-secondary",
    DealStage.DECLINED: "text-bg-secondary",
    DealStage.EXPIRED: "text-bg-dark",
    DealStage.ERROR: "text-bg-danger",
}


def _money(minor: int, currency: str) -> str:
    return service.format_amount(minor, currency, str(get_locale() or "pt_BR"))


def _number(value) -> str:
    """`Decimal("0.18")` → `0,18` (pt_BR) or `0.18` (en): an exchange rate as written in the UI language."""
    return format_decimal(value, format="#,##0.######", locale=str(get_locale() or "pt_BR"))


def _labels() -> dict:
    return {"type": DEAL_TYPE_LABELS, "stage": DEAL_STAGE_LABELS, "partner_role": service.PARTNER_ROLES,
            "solution_area": service.SOLUTION_AREAS, "intent": service.MARKETPLACE_INTENTS,
            "location": service.LOCATIONS, "criteria": service.CRITERIA_LABELS}


def _helpers() -> dict:
    return {"labels": _labels(), "money": _money, "number": _number, "percent": service.stage_percent,
            "badges": STAGE_BADGES,
            "can_manage": staff_can(StaffPermission.COSELL_MANAGE)}


def _deal_or_404(deal_id: int) -> Deal:
    try:
        return service.get_deal(deal_id)
    except NotFound:
        abort(404)


# ---------------------------------------------------------------- the list

@bp.get("/venda-conjunta")
@staff_requires(StaffPermission.PIPELINE_READ)
def deals():
    filters = parse_filters(request.args)
    page = requested_page(MAX_PAGE)
    user_id = current_actor().user_id
    found = service.search_deals(tab=filters.tab, user_id=user_id, deal_type=filters.deal_type,
                                 stage=filters.stage, query=filters.query, page=page, per_page=PER_PAGE)
    shown = found[:PER_PAGE]
    return render_template(
        "backoffice/cosell/deals.html", filters=filters, deals=shown, page=page, has_next=len(found) > PER_PAGE,
        favorites=service.favorite_ids(user_id, [d.id for d in shown]), counts=service.tab_counts(user_id),
        action_form=ActionForm(), expires_at=service.expires_at, type_choices=list(DealType),
        stage_choices=list(DealStage), **_helpers(),
    ), 422 if filters.errors else 200


@bp.post("/venda-conjunta/<int:deal_id>/favorito")
@staff_requires(StaffPermission.PIPELINE_READ)
def deal_favorite(deal_id: int):
    deal = _deal_or_404(deal_id)
    try:
        hearted = service.toggle_favorite(deal, actor=current_actor())
    except PermissionDenied:
        abort(403)
    flash(_("“%(name)s” está nos seus favoritos.", name=deal.name) if hearted
          else _("“%(name)s” saiu dos seus favoritos.", name=deal.name), "success")
    back = request.form.get("next") or ""
    deals_url = url_for("backoffice.deals")
    if not (back == deals_url or back.startswith(deals_url + "?") or back.startswith(deals_url + "/")):
        back = url_for("backoffice.deal", deal_id=deal.id)  # only our own pages: never an open redirect
    return redirect(back)


# ---------------------------------------------------------------- creating and editing

def _render_form(form, *, direction: str, deal: Deal | None = None, status: int = 200):
    return render_template("backoffice/cosell/deal_form.html", form=form, direction=direction, deal=deal,
                           **_helpers()), status


def _save(form, save):
    """Run `save(data)` with the form's values: the saved result, or None with the refusals on the form."""
    form.validate()  # only the conversions (the date); the rules are the service's
    data, team_entries, solution_entries = deal_data(form)
    try:
        return save(data)
    except service.DealInputError as error:
        show_errors(form, error.errors, team_entries, solution_entries)
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        flash(error.message, "danger")
    return None


@bp.route("/venda-conjunta/novo", methods=["GET", "POST"])
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_create():
    if request.method == "GET":
        return _render_form(deal_form(Direction.OUTBOUND, location="BR", currency="BRL"), direction="outbound")
    form = deal_form(Direction.OUTBOUND, formdata=request.form)
    deal = _save(form, lambda data: service.create_outbound(data, actor=current_actor()))
    if deal is None:
        return _render_form(form, direction="outbound", status=422)
    flash(_("Negócio “%(name)s” criado no estágio Criado (10%%).", name=deal.name), "success")
    return redirect(url_for("backoffice.deal", deal_id=deal.id))


@bp.route("/venda-conjunta/indicacao-recebida", methods=["GET", "POST"])
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_register_inbound():
    if request.method == "GET":
        return _render_form(deal_form(Direction.INBOUND, location="BR", currency="BRL", microsoft_accepted=True),
                            direction="inbound")
    form = deal_form(Direction.INBOUND, formdata=request.form)
    deal = _save(form, lambda data: service.register_inbound(data, actor=current_actor()))
    if deal is None:
        return _render_form(form, direction="inbound", status=422)
    flash(_("Indicação “%(name)s” registrada como recebida: aceite ou recuse em até %(days)d dias.",
            name=deal.name, days=service.INBOUND_EXPIRY_DAYS), "success")
    return redirect(url_for("backoffice.deal", deal_id=deal.id))


@bp.route("/venda-conjunta/<int:deal_id>/editar", methods=["GET", "POST"])
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_edit(deal_id: int):
    deal = _deal_or_404(deal_id)
    if service.is_terminal(deal):
        flash(_("Este negócio está encerrado (%(stage)s) e não pode mais ser alterado.",
                stage=DEAL_STAGE_LABELS[DealStage(deal.stage)]), "warning")
        return redirect(url_for("backoffice.deal", deal_id=deal.id))
    if request.method == "GET":
        return _render_form(deal_form(deal.direction, deal=deal), direction=deal.direction, deal=deal)
    form = deal_form(deal.direction, formdata=request.form)
    form.location.data = deal.location  # not an input on the edit page: it never changes
    form.deal_type.data = deal.deal_type  # changes only through "Converter em co-sell"
    changes = _save(form, lambda data: service.update_deal(deal, data, actor=current_actor()))
    if changes is None:
        return _render_form(form, direction=deal.direction, deal=deal, status=422)
    flash(_("Negócio alterado.") if changes else _("Nada foi alterado."), "success" if changes else "info")
    return redirect(url_for("backoffice.deal", deal_id=deal.id))


# ---------------------------------------------------------------- a deal and its lifecycle

def _usd_rates():
    """The COSELL_USD_RATES setting (US dollars per unit); a setting that cannot be read converts nothing."""
    try:
        return service.parse_usd_rates(current_app.config.get("COSELL_USD_RATES", service.DEFAULT_USD_RATES))
    except ValueError:
        current_app.logger.warning("COSELL_USD_RATES cannot be read; no currency is converted")
        return {"USD": service.parse_usd_rates("")["USD"]}


def _render_deal(deal: Deal, *, status: int = 200, **forms):
    forms.setdefault("decline_form", DeclineForm(formdata=None))
    forms.setdefault("lose_form", LoseForm(formdata=None))
    forms.setdefault("error_form", ErrorForm(formdata=None))
    forms.setdefault("stage_form", StageForm(formdata=None))
    forms.setdefault("upgrade_form", UpgradeForm(formdata=None))
    forms.setdefault("upgrade_errors", {})
    forms.setdefault("stage_error", None)
    marks = service.marked_stages(deal)
    path = [(stage, marks.get(stage)) for stage in (*service.stages_before_won(deal), DealStage.WON)]
    return render_template(
        "backoffice/cosell/deal.html", deal=deal, path=path, events=service.deal_events(deal),
        next_stage=service.next_sales_stage(deal), missing=service.missing_before_won(deal),
        terminal=service.is_terminal(deal), expires_at=service.expires_at(deal),
        eligibility=service.eligibility(deal, usd_rates=_usd_rates()),
        favorite=bool(service.favorite_ids(current_actor().user_id, [deal.id])), action_form=ActionForm(),
        rates_setting=current_app.config.get("COSELL_USD_RATES", service.DEFAULT_USD_RATES), **forms,
        **_helpers(),
    ), status


@bp.get("/venda-conjunta/<int:deal_id>")
@staff_requires(StaffPermission.PIPELINE_READ)
def deal(deal_id: int):
    return _render_deal(_deal_or_404(deal_id))


def _act(deal: Deal, action, done: str, *, form_name: str | None = None, form=None, field: str | None = None):
    """Run a lifecycle action; a refusal re-renders the deal with the message (under the reason, when it is about
    the reason) and 422."""
    try:
        action()
    except PermissionDenied:
        abort(403)
    except ServiceError as error:
        if form is not None and field is not None and error.field == "reason":
            form[field].errors = [error.message]
        elif form_name == "stage_form" and error.field == "stage":
            return _render_deal(service.get_deal(deal.id), status=422, stage_error=error.message)
        else:
            flash(error.message, "danger")
        return _render_deal(service.get_deal(deal.id), status=422, **({form_name: form} if form_name else {}))
    flash(done, "success")
    return redirect(url_for("backoffice.deal", deal_id=deal.id))


@bp.post("/venda-conjunta/<int:deal_id>/aceitar")
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_accept(deal_id: int):
    deal = _deal_or_404(deal_id)
    return _act(deal, lambda: service.accept(deal, actor=current_actor()), _("Indicação aceita: estágio Aceito (10%)."))


@bp.post("/venda-conjunta/<int:deal_id>/recusar")
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_decline(deal_id: int):
    deal = _deal_or_404(deal_id)
    form = DeclineForm()
    return _act(deal, lambda: service.decline(deal, reason=form.decline_reason.data or "", actor=current_actor()),
                _("Indicação recusada."), form_name="decline_form", form=form, field="decline_reason")


@bp.post("/venda-conjunta/<int:deal_id>/etapa")
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_mark_stage(deal_id: int):
    deal = _deal_or_404(deal_id)
    form = StageForm()
    stage = form.stage.data or ""
    label = DEAL_STAGE_LABELS.get(stage, stage)
    return _act(deal, lambda: service.mark_stage(deal, stage, actor=current_actor()),
                _("Etapa %(stage)s marcada.", stage=label), form_name="stage_form", form=form)


@bp.post("/venda-conjunta/<int:deal_id>/ganho")
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_win(deal_id: int):
    deal = _deal_or_404(deal_id)
    return _act(deal, lambda: service.win(deal, actor=current_actor()), _("Negócio ganho (100%)."),
                form_name="stage_form", form=StageForm(formdata=None))


@bp.post("/venda-conjunta/<int:deal_id>/perdido")
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_lose(deal_id: int):
    deal = _deal_or_404(deal_id)
    form = LoseForm()
    return _act(deal, lambda: service.lose(deal, reason=form.lost_reason.data or "", actor=current_actor()),
                _("Negócio marcado como perdido."), form_name="lose_form", form=form, field="lost_reason")


@bp.post("/venda-conjunta/<int:deal_id>/erro")
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_close_error(deal_id: int):
    deal = _deal_or_404(deal_id)
    form = ErrorForm()
    return _act(deal, lambda: service.close_as_error(deal, reason=form.error_reason.data or "", actor=current_actor()),
                _("Negócio fechado como erro."), form_name="error_form", form=form, field="error_reason")


@bp.post("/venda-conjunta/<int:deal_id>/converter")
@staff_requires(StaffPermission.COSELL_MANAGE)
def deal_upgrade(deal_id: int):
    deal = _deal_or_404(deal_id)
    form = UpgradeForm()
    try:
        service.upgrade(deal, deal_type=form.upgrade_type.data or "", actor=current_actor(),
                        partner_role=form.upgrade_partner_role.data or "",
                        solution_area=form.upgrade_solution_area.data or "",
                        solution_play=form.upgrade_solution_play.data or "",
                        marketplace_intent=form.upgrade_marketplace_intent.data or "undecided")
    except PermissionDenied:
        abort(403)
    except service.DealInputError as error:
        upgrade_errors = {}
        for name, message in error.errors.items():
            if name in UpgradeForm.FIELDS:
                form[UpgradeForm.FIELDS[name]].errors = [message]
            else:
                upgrade_errors[name] = message
        return _render_deal(service.get_deal(deal.id), status=422, upgrade_form=form, upgrade_errors=upgrade_errors)
    except ServiceError as error:
        flash(error.message, "danger")
        return _render_deal(service.get_deal(deal.id), status=422, upgrade_form=form)
    flash(_("Negócio convertido em %(type)s.", type=DEAL_TYPE_LABELS[DealType(form.upgrade_type.data)]), "success")
    return redirect(url_for("backoffice.deal", deal_id=deal.id))
