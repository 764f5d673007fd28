"""Customer pages of "Uso de licenças": the tenant's licences per SKU, "Atualizar agora" and a Master's rules."""

from datetime import timedelta

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.context import current_actor
from portal.accounts.roles import Permission
from portal.integrations.graph import admin_consent_url
from portal.licence_usage import service
from portal.licence_usage.forms import RefreshForm, RuleForm
from portal.shared.errors import ServiceError
from portal.shared.permissions import requires

bp = Blueprint("licence_usage", __name__)


def _page(rule_forms: dict[str, RuleForm] | None = None, status: int = 200):
    found = service.overview(g.organization)
    forms = {line.sku_id: RuleForm(formdata=None, excluded=line.excluded, buffer=line.buffer,
                                   prefix=f"rule-{line.sku_id}")
             for line in (*found.lines, *found.excluded)}
    forms.update(rule_forms or {})
    return render_template(
        "licence_usage/overview.html", overview=found, refresh_form=RefreshForm(), rule_forms=forms,
        consent_url=admin_consent_url(current_app.config, g.organization.microsoft_tenant_id),
        has_tenant=bool(g.organization.microsoft_tenant_id),
    ), status


@bp.get("/uso-de-licencas")
@requires(Permission.LICENSES_READ)
def overview():
    return _page()


@bp.post("/uso-de-licencas/atualizar")
@requires(Permission.LICENSES_READ)
def refresh():
    form = RefreshForm()
    if not form.validate_on_submit():
        flash(_("O formulário expirou. Tente de novo."), "danger")
        return redirect(url_for("licence_usage.overview"))
    try:
        service.refresh(g.organization, reader=current_app.extensions["licence_usage"], requested_by_id=current_user.id,
                        min_interval=timedelta(minutes=current_app.config["LICENCE_USAGE_REFRESH_MINUTES"]))
    except ServiceError as error:
        flash(error.message, "warning")
    else:
        flash(_("Números atualizados agora."), "success")
    return redirect(url_for("licence_usage.overview"))


@bp.post("/uso-de-licencas/regras/<sku_id>")
@requires(Permission.SETTINGS_MANAGE)
def rule(sku_id: str):
    form = RuleForm(prefix=f"rule-{sku_id}")
    if form.validate_on_submit():
        try:
            service.set_rule(g.organization, sku_id=sku_id, excluded=form.excluded.data, buffer=form.buffer.data,
                             actor=current_actor())
        except ServiceError as error:
            if not error.errors.get("buffer"):
                flash(error.message, "danger")
                return redirect(url_for("licence_usage.overview"))
            form.buffer.errors = [*form.buffer.errors, *error.errors["buffer"]]
        else:
            flash(_("Regra salva."), "success")
            return redirect(url_for("licence_usage.overview") + f"#sku-{sku_id}")
    return _page({sku_id: form}, 422 if request.method == "POST" else 200)
