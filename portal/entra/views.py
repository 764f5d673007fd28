"""Pages of "Entrar com a Microsoft": the round trip to Microsoft (sign-in and the tenant link's proof) and the
Master's "Microsoft Entra ID" page under Integrações."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from portal.accounts.context import SESSION_KEY, SESSION_ORG, SESSION_SEEN, SESSION_STARTED, current_actor
from portal.accounts.forms import ActionForm
from portal.accounts.roles import Permission
from portal.entra import service
from portal.entra.forms import LinkForm, PolicyForm
from portal.shared import clock
from portal.shared.errors import ServiceError
from portal.shared.forms import show_error
from portal.shared.links import absolute_url
from portal.shared.permissions import public, requires

bp = Blueprint("entra", __name__)

SESSION_STATE = "entra_state"  # the state this browser was sent to Microsoft with


def _redirect_uri() -> str:
    # One reply URL registered at Microsoft for both round trips; built on BASE_URL, never on the request's Host.
    return absolute_url("entra.callback")


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or not target.isprintable():
        return ""
    return target


@bp.get("/entrar/microsoft")
@public
def sign_in():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    try:
        url, state = service.start_sign_in(redirect_uri=_redirect_uri(),
                                           next_url=_safe_next(request.args.get("next")))
    except service.EntraRefusal as refusal:
        flash(refusal.message, "danger")
        return redirect(url_for("accounts.login"))
    session[SESSION_STATE] = state
    return redirect(url)


@bp.get("/entrar/microsoft/retorno")
@public
def callback():
    expected = session.pop(SESSION_STATE, None)
    signed_in = current_user._get_current_object() if current_user.is_authenticated else None
    if request.args.get("error"):
        flash(_("A Microsoft não confirmou a entrada. Tente de novo."), "danger")
        return redirect(url_for("entra.settings" if signed_in else "accounts.login"))
    try:
        outcome = service.finish(state=request.args.get("state", ""), expected_state=expected,
                                 code=request.args.get("code", ""), redirect_uri=_redirect_uri(),
                                 actor=current_actor(), signed_in_user=signed_in,
                                 current_membership=g.membership)
    except service.EntraRefusal as refusal:
        flash(refusal.message, "danger")
        if refusal.purpose == "link" and signed_in is not None:
            return redirect(url_for("entra.settings"))
        return redirect(url_for("accounts.login"))
    if isinstance(outcome, service.Linked):
        flash(_("Organização vinculada ao tenant Microsoft %(tenant)s.", tenant=outcome.tenant_id), "success")
        return redirect(url_for("entra.settings"))
    # A new session (no fixation), as a password sign-in makes it; the language and pending messages survive.
    kept = {key: session[key] for key in ("lang", "_flashes") if key in session}
    session.clear()
    session.update(kept)
    login_user(outcome.user)
    session.permanent = True
    session[SESSION_SEEN] = session[SESSION_STARTED] = int(clock.now().timestamp())
    session[SESSION_KEY] = outcome.session_key
    if outcome.organization_id is not None:
        session[SESSION_ORG] = outcome.organization_id
    next_url = _safe_next(outcome.next_url)
    if outcome.user.is_staff:
        return redirect(next_url or url_for("backoffice.index"))
    return redirect(next_url or url_for("accounts.home"))


# ---------------------------------------------------------------- the Master's page

def _page(link_form=None, policy_form=None, status=200):
    # The link form's answer redirects to Microsoft: the page's CSP form-action must allow its origin.
    authority = urlsplit(current_app.config.get("ENTRA_AUTHORITY", ""))
    if authority.scheme in ("http", "https") and authority.netloc:
        request.form_action_origins = [f"{authority.scheme}://{authority.netloc}"]  # read by the app's CSP
    link = service.link_of(g.organization)
    if policy_form is None:
        policy_form = PolicyForm(data={"require_microsoft": link.require_microsoft, "jit_enabled": link.jit_enabled,
                                       "jit_role": link.jit_role}) if link else PolicyForm()
    return render_template("entra/settings.html", link=link, link_form=link_form or LinkForm(),
                           policy_form=policy_form, action_form=ActionForm(),
                           configured=service.is_configured()), status


@bp.get("/integracoes/microsoft")
@requires(Permission.INTEGRATIONS_MANAGE)
def settings():
    return _page()


@bp.post("/integracoes/microsoft/vincular")
@requires(Permission.INTEGRATIONS_MANAGE)
def link():
    form = LinkForm()
    if form.validate_on_submit():
        try:
            url, state = service.start_link(g.organization, form.tenant.data, actor_membership=g.membership,
                                     redirect_uri=_redirect_uri())
        except ServiceError as error:
            show_error(form, error)
        else:
            session[SESSION_STATE] = state  # finish() also checks the Master who comes back is the one who left
            return redirect(url)
    return _page(link_form=form, status=422)


@bp.post("/integracoes/microsoft/politica")
@requires(Permission.INTEGRATIONS_MANAGE)
def policy():
    form = PolicyForm()
    if form.validate_on_submit():
        try:
            service.set_policy(g.organization, jit_enabled=bool(form.jit_enabled.data), jit_role=form.jit_role.data,
                               require_microsoft=bool(form.require_microsoft.data), actor=current_actor(),
                               actor_membership=g.membership)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Regras de entrada com a Microsoft salvas."), "success")
            return redirect(url_for("entra.settings"))
    return _page(policy_form=form, status=422)


@bp.post("/integracoes/microsoft/desvincular")
@requires(Permission.INTEGRATIONS_MANAGE)
def unlink():
    if ActionForm().validate_on_submit():
        service.unlink(g.organization, actor=current_actor(), actor_membership=g.membership)
        flash(_("Vínculo com o Microsoft Entra ID removido. Todos voltam a entrar com e-mail e senha."), "success")
    return redirect(url_for("entra.settings"))
