"""The home's cards, each alone at its own route (the home page itself is `accounts.home`, which renders the same
templates server-side), and the 12 months' spend as a CSV."""

from flask import Blueprint, current_app, g

from portal.accounts.roles import Permission
from portal.home import presenters
from portal.home.export import spend_csv
from portal.home.service import spend_last_12_months
from portal.shared import clock
from portal.shared.permissions import requires
from portal.support.service import SlaTargets

bp = Blueprint("home", __name__)


@bp.get("/inicio/cartoes/faturas")
@requires(Permission.BILLING_READ)
def billing_card():
    return presenters.render_card(presenters.billing_card(g.organization, clock.today()))


@bp.get("/inicio/cartoes/gastos")
@requires(Permission.BILLING_READ)
def spend_card():
    return presenters.render_card(presenters.spend_card(g.organization, clock.today()))


@bp.get("/inicio/gastos.csv")
@requires(Permission.BILLING_READ)
def spend_download():
    today = clock.today()
    body = spend_csv(spend_last_12_months(g.organization.id, today))
    return body, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="gastos-12-meses-{today:%Y-%m-%d}.csv"'}


@bp.get("/inicio/cartoes/licencas")
@requires(Permission.LICENSES_MANAGE)
def licences_card():
    return presenters.render_card(presenters.licences_card(g.organization, clock.today(), clock.now()))


@bp.get("/inicio/cartoes/chamados")
@requires(Permission.TICKETS_MANAGE)
def tickets_card():
    targets = SlaTargets.from_config(current_app.config)
    return presenters.render_card(presenters.tickets_card(g.organization, clock.now(), targets))
