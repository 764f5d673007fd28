"""The Master's "Integrações → Tokens de API" page: create a token (shown once), see each one's last use, revoke."""

from datetime import datetime, time

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from portal.accounts.context import current_actor
from portal.accounts.roles import ROLE_LABELS, Permission, Role, effective_roles
from portal.api import tokens
from portal.api.forms import RevokeForm, TokenForm
from portal.shared import clock
from portal.shared.errors import NotFound, ServiceError
from portal.shared.forms import show_error
from portal.shared.permissions import requires

bp = Blueprint("api_tokens", __name__)


def _page(form: TokenForm, status: int, new_token: str | None = None):
    """The page; `new_token`: the text of the token just created, shown this once (never stored, never in a cookie,
    and the answer is not cached)."""
    html = render_template("api/tokens.html", form=form, tokens=tokens.list_tokens(g.organization),
                           revoke_form=RevokeForm(), new_token=new_token, now=clock.now(),
                           role_labels={str(role): label for role, label in ROLE_LABELS.items()})
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/integracoes/tokens")
@requires(Permission.INTEGRATIONS_MANAGE)
def page():
    return _page(TokenForm(grantable=effective_roles(g.membership.roles), roles=[str(Role.ADM)]), 200)


@bp.post("/integracoes/tokens")
@requires(Permission.INTEGRATIONS_MANAGE)
def create():
    form = TokenForm(grantable=effective_roles(g.membership.roles))
    if form.validate_on_submit():
        expires_at = None
        if form.expires_on.data is not None:  # valid through that whole business day
            expires_at = datetime.combine(form.expires_on.data, time.max, tzinfo=clock.BUSINESS_TZ)
        try:
            _token, text = tokens.create_token(organization=g.organization, membership=g.membership,
                                               actor=current_actor(), name=form.name.data, roles=form.roles.data,
                                               expires_at=expires_at, allowed_ips=form.allowed_ips.data)
        except ServiceError as error:
            show_error(form, error)
        else:
            fresh = TokenForm(formdata=None, grantable=effective_roles(g.membership.roles), roles=[str(Role.ADM)])
            return _page(fresh, 200, new_token=text)
    return _page(form, 422)


@bp.post("/integracoes/tokens/<int:token_id>/revogar")
@requires(Permission.INTEGRATIONS_MANAGE)
def revoke(token_id: int):
    form = RevokeForm()
    if not form.validate_on_submit():
        return _page(TokenForm(grantable=effective_roles(g.membership.roles)), 422)
    try:
        found = tokens.revoke_token(organization=g.organization, token_id=token_id, actor=current_actor())
    except NotFound:
        return render_template("errors/404.html"), 404
    except ServiceError as error:
        flash(error.message, "warning")
    else:
        flash(_("Token “%(name)s” revogado: ele não dá mais acesso à API.", name=found.name), "success")
    return redirect(url_for("api_tokens.page"))
