"""The Master's "Orçamento" page: the organization's monthly budget (and per product family), with the month's
spend and forecast against it (the same card the home shows)."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.accounts.context import current_actor
from portal.accounts.roles import Permission
from portal.budgets import service
from portal.budgets.forms import budget_form, family_field
from portal.shared import clock
from portal.shared.errors import ServiceError
from portal.shared.forms import show_error
from portal.shared.permissions import requires

bp = Blueprint("budgets", __name__)


@bp.route("/orcamento", methods=["GET", "POST"])
@requires(Permission.SETTINGS_MANAGE)
def page():
    families = service.families(g.organization.id)
    current = service.budgets_of(g.organization.id)
    form = budget_form(families, total=current.total_cents,
                       **{family_field(f.id): current.family_cents.get(f.id) for f in families})
    if form.validate_on_submit():
        try:
            service.set_budgets(g.organization, total_cents=form.total.data,
                                family_cents={f.id: form[family_field(f.id)].data for f in families},
                                actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Orçamento salvo.") if form.total.data is not None else _("Orçamento removido."), "success")
            return redirect(url_for("budgets.page"))
    today = clock.today()
    return render_template("budgets/page.html", form=form, families=families,
                           family_fields=[form[family_field(f.id)] for f in families],
                           budget=service.budget_status(g.organization, today)), \
        200 if request.method == "GET" else 422
