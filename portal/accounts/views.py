"""Accounts pages: home, sign-in with two-factor, passwords, invitations, profile, "Usuários", "Histórico"."""

from urllib.parse import urlsplit

import segno
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.accounts import history as history_service
from portal.accounts import service
from portal.accounts.context import (
    SESSION_KEY,
    SESSION_ORG,
    SESSION_SEEN,
    SESSION_STARTED,
    current_actor,
    tenant_get,
)
from portal.accounts.forms import (
    AcceptInvitationForm,
    ActionForm,
    ChangePasswordForm,
    CityCodeForm,
    ConfirmPasswordForm,
    EnrolTotpForm,
    ForgotPasswordForm,
    InviteForm,
    LoginForm,
    ProfileForm,
    ResetPasswordForm,
    RolesForm,
    SecurityForm,
    TwoFactorForm,
)
from portal.accounts.models import Membership, User
from portal.accounts.roles import ROLE_DESCRIPTIONS, ROLE_LABELS, ROLE_ORDER, Permission, Role, permissions_for
from portal.accounts.throttle import TooManyAttempts
from portal.entra import service as entra_service
from portal.home.presenters import home_page
from portal.shared import clock
from portal.shared.errors import ServiceError
from portal.shared.forms import show_error
from portal.shared.links import absolute_url
from portal.shared.paging import requested_page
from portal.shared.permissions import authenticated, public, requires
from portal.support.service import SlaTargets

bp = Blueprint("accounts", __name__)

PENDING = "pending_login"
PENDING_MAX_AGE = 600  # seconds between password and second factor


def _too_many(template: str, **context):
    """A limit of accounts/throttle.py passed: the same page, the message, 429."""
    flash(_("Muitas tentativas em pouco tempo. Aguarde um minuto e tente de novo."), "danger")
    return render_template(template, **context), 429


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or not target.isprintable():  # browsers read a backslash as a slash: /\evil.com
        return None
    return target


def _status() -> int:
    """200 for a page shown; 422 when a submitted form comes back with its problems."""
    return 200 if request.method == "GET" else 422


def _finish_login(user: User, next_url: str | None):
    # A new session (no fixation); the chosen language and messages waiting to be shown survive.
    kept = {key: session[key] for key in ("lang", "_flashes") if key in session}
    session.clear()
    session.update(kept)
    login_user(user)
    session.permanent = True
    session[SESSION_SEEN] = session[SESSION_STARTED] = int(clock.now().timestamp())
    session[SESSION_KEY] = service.complete_login(user, actor=current_actor(user))
    if user.is_staff:
        return redirect(_safe_next(next_url) or url_for("backoffice.index"))
    return redirect(_safe_next(next_url) or url_for("accounts.home"))


def _pending_user() -> User | None:
    pending = session.get(PENDING)
    if not pending or int(clock.now().timestamp()) - pending["at"] > PENDING_MAX_AGE:
        session.pop(PENDING, None)
        return None
    user = service.get_user(pending["uid"])
    if user is None or not user.active or user.session_token != pending["tok"]:
        session.pop(PENDING, None)
        return None
    return user


# ---------------------------------------------------------------- home

@bp.get("/")
@authenticated
def home():
    if current_user.is_staff:
        return redirect(url_for("backoffice.index"))
    if g.membership is None:
        return render_template("accounts/no_organization.html"), 403
    roles = [role for role in ROLE_ORDER if role in g.membership.roles]
    # The home's cards (portal/home/) and budget, those the user's permissions allow.
    home = home_page(g.organization, g.permissions, today=clock.today(), now=clock.now(),
                     targets=SlaTargets.from_config(current_app.config))
    return render_template(
        "home/index.html", roles=roles, role_labels=ROLE_LABELS, role_descriptions=ROLE_DESCRIPTIONS,
        cards=home.cards, budget=home.budget,
    )


# ---------------------------------------------------------------- sign-in

@bp.route("/entrar", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = LoginForm()
    next_url = _safe_next(request.args.get("next"))
    if form.validate_on_submit():
        try:
            user = service.check_credentials(form.email.data, form.password.data, actor=current_actor())
        except TooManyAttempts:
            return _too_many("accounts/login.html", form=form)
        if user is None:
            flash(_("E-mail ou senha incorretos."), "danger")
        elif entra_service.password_refused(user):
            flash(_("Sua organização exige a entrada com a Microsoft: use o botão “Entrar com a Microsoft”."),
                  "warning")
        elif service.needs_second_factor(user):
            session[PENDING] = {
                "uid": user.id, "tok": user.session_token, "at": int(clock.now().timestamp()), "next": next_url,
            }
            if user.totp_enabled:
                return redirect(url_for("accounts.login_verify"))
            return redirect(url_for("accounts.login_enrol"))
        else:
            return _finish_login(user, next_url)
    return render_template("accounts/login.html", form=form), _status()


@bp.route("/entrar/verificacao", methods=["GET", "POST"])
@public
def login_verify():
    user = _pending_user()
    if user is None or not user.totp_enabled:
        flash(_("Entre novamente com e-mail e senha."), "warning")
        return redirect(url_for("accounts.login"))
    form = TwoFactorForm()
    if form.validate_on_submit():
        try:
            verified = service.verify_second_factor(user, form.code.data, actor=current_actor(user))
        except TooManyAttempts:
            return _too_many("accounts/login_verify.html", form=form)
        if verified:
            next_url = session.pop(PENDING)["next"]
            return _finish_login(user, next_url)
        form.code.errors = [_("Código inválido.")]
    return render_template("accounts/login_verify.html", form=form), _status()


def _qr_svg(uri: str) -> str:
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")


@bp.route("/entrar/configurar-verificacao", methods=["GET", "POST"])
@public
def login_enrol():
    """First sign-in of someone who must use two-factor but has not enrolled yet."""
    user = _pending_user()
    if user is None or user.totp_enabled:
        return redirect(url_for("accounts.login"))
    form = EnrolTotpForm()
    if form.validate_on_submit():
        try:
            codes = service.confirm_totp_enrolment(user, form.code.data, actor=current_actor(user))
        except ServiceError as error:
            show_error(form, error)
        else:
            next_url = session.pop(PENDING)["next"]
            _finish_login(user, next_url)
            return render_template("accounts/recovery_codes.html", codes=codes, continue_url=url_for("accounts.home"))
    elif request.method == "GET" or not user.totp_secret:
        service.start_totp_enrolment(user)
    return render_template(
        "accounts/enrol.html", form=form, secret=user.totp_secret, qr=_qr_svg(service.totp_uri(user)),
        action=url_for("accounts.login_enrol"),
    ), _status()


@bp.post("/sair")
@authenticated
def logout():
    if ActionForm().validate_on_submit():
        service.logout(current_user._get_current_object(), session.get(SESSION_KEY), actor=current_actor())
        logout_user()
        session.clear()
        flash(_("Você saiu do portal."), "info")
    # `next` brings someone who signed out to accept an invitation for another account back to it.
    return redirect(url_for("accounts.login", next=_safe_next(request.form.get("next"))))


@bp.post("/idioma")
@public
def set_language():
    form = ActionForm()
    language = request.form.get("language", "")
    if form.validate_on_submit() and language in current_app.config["LANGUAGES"]:
        session["lang"] = language
    return redirect(_safe_next(request.form.get("next")) or url_for("accounts.home"))


# ---------------------------------------------------------------- passwords

@bp.route("/senha/esqueci", methods=["GET", "POST"])
@public
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            service.request_password_reset(form.email.data, actor=current_actor())
        except TooManyAttempts:
            return _too_many("accounts/forgot.html", form=form)
        return render_template("accounts/forgot_sent.html", email=form.email.data,
                               minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60)
    return render_template("accounts/forgot.html", form=form), _status()


@bp.route("/senha/redefinir/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    try:
        user = service.user_for_reset_token(token)
    except ServiceError as error:
        return render_template("accounts/link_invalid.html", message=error.message), 410
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            service.reset_password(token, form.password.data, actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Senha redefinida. Entre com a nova senha."), "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form, user=user), _status()


# ---------------------------------------------------------------- invitations

@bp.route("/convite/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    try:
        invitation = service.invitation_for_token(token)
    except ServiceError as error:
        return render_template("accounts/link_invalid.html", message=error.message), 410
    invitee = invitation.membership.user
    existing = invitee.password_hash is not None
    if existing and not (current_user.is_authenticated and current_user.id == invitee.id):
        here = url_for("accounts.accept_invitation", token=token)
        return render_template(
            "accounts/invitation_login.html", invitation=invitation, here=here,
            login_url=url_for("accounts.login", next=here), action_form=ActionForm(),
        )
    form = ActionForm() if existing else AcceptInvitationForm(name=invitee.name)
    if form.validate_on_submit():
        try:
            if existing:
                user = service.accept_invitation(token, actor=current_actor(), user=current_user._get_current_object())
            else:
                user = service.accept_invitation(
                    token, actor=current_actor(), name=form.name.data, phone=form.phone.data or "",
                    password=form.password.data,
                )
        except ServiceError as error:
            show_error(form, error)
        else:
            organization = invitation.membership.organization
            flash(_("Boas-vindas ao portal de %(org)s!", org=organization.display_name), "success")
            if existing:
                session[SESSION_ORG] = invitation.membership.organization_id
                return redirect(url_for("accounts.home"))
            if service.needs_second_factor(user):
                session[PENDING] = {"uid": user.id, "tok": user.session_token,
                                    "at": int(clock.now().timestamp()), "next": None}
                return redirect(url_for("accounts.login_enrol"))
            return _finish_login(user, None)
    return render_template(
        "accounts/invitation.html", form=form, invitation=invitation, existing=existing
    ), _status()


# ---------------------------------------------------------------- organization switch, profile

@bp.post("/organizacao/<int:organization_id>/usar")
@authenticated
def switch_organization(organization_id: int):
    if ActionForm().validate_on_submit():
        if any(m.organization_id == organization_id for m in g.memberships):
            session[SESSION_ORG] = organization_id
        else:
            return render_template("errors/404.html"), 404
        # From the "trocar de organização?" page (portal/accounts/switching.py): on to the link that asked.
        return redirect(_safe_next(request.form.get("next")) or url_for("accounts.home"))
    return redirect(url_for("accounts.home"))


@bp.route("/conta", methods=["GET", "POST"])
@authenticated
def profile():
    user = current_user._get_current_object()
    form = ProfileForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.language.data = user.language or ""
    if form.validate_on_submit():
        try:
            service.update_profile(
                user, name=form.name.data, phone=form.phone.data or "", language=form.language.data or None,
                actor=current_actor(), renewal_reminders=None if user.is_staff else form.reminders_choice(),
            )
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Dados atualizados."), "success")
            return redirect(url_for("accounts.profile"))
    return render_template(
        "accounts/profile.html", form=form, password_form=ChangePasswordForm(prefix="pw"),
        disable_form=ConfirmPasswordForm(prefix="off"), action_form=ActionForm(),
        recovery_left=service.remaining_recovery_codes(user) if user.totp_enabled else 0,
    ), _status()


@bp.post("/conta/senha")
@authenticated
def change_password():
    user = current_user._get_current_object()
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            service.change_password(user, form.current_password.data, form.password.data, actor=current_actor(),
                                    keep_session=session.get(SESSION_KEY))
        except ServiceError as error:
            show_error(form, error)
        else:
            login_user(user)  # the user's token changed with the password (other sessions end); keep this one
            flash(_("Senha alterada."), "success")
            return redirect(url_for("accounts.profile"))
    return render_template(
        "accounts/profile.html", form=ProfileForm(obj=user), password_form=form,
        disable_form=ConfirmPasswordForm(prefix="off"), action_form=ActionForm(),
        recovery_left=service.remaining_recovery_codes(user) if user.totp_enabled else 0,
    ), 422


@bp.post("/conta/sair-de-todos")
@authenticated
def logout_everywhere():
    """"Sair de todos os dispositivos": every session of this user ends, here and on any other device."""
    if ActionForm().validate_on_submit():
        service.end_all_sessions(current_user._get_current_object(), actor=current_actor())
        logout_user()
        session.clear()
        flash(_("Você saiu do portal em todos os dispositivos. Entre novamente para continuar."), "info")
        return redirect(url_for("accounts.login"))
    return redirect(url_for("accounts.profile"))


@bp.route("/conta/verificacao", methods=["GET", "POST"])
@authenticated
def enrol_totp():
    user = current_user._get_current_object()
    if user.totp_enabled:
        return redirect(url_for("accounts.profile"))
    form = EnrolTotpForm()
    if form.validate_on_submit():
        try:
            codes = service.confirm_totp_enrolment(user, form.code.data, actor=current_actor())
        except ServiceError as error:
            show_error(form, error)
        else:
            return render_template("accounts/recovery_codes.html", codes=codes,
                                   continue_url=url_for("accounts.profile"))
    elif request.method == "GET" or not user.totp_secret:
        service.start_totp_enrolment(user)
    return render_template(
        "accounts/enrol.html", form=form, secret=user.totp_secret, qr=_qr_svg(service.totp_uri(user)),
        action=url_for("accounts.enrol_totp"),
    ), _status()


@bp.post("/conta/verificacao/desativar")
@authenticated
def disable_totp():
    form = ConfirmPasswordForm(prefix="off")
    if form.validate_on_submit():
        try:
            service.disable_totp(current_user._get_current_object(), form.password.data, actor=current_actor())
        except ServiceError as error:
            flash(error.message, "danger")
        else:
            flash(_("Verificação em duas etapas desativada."), "info")
    else:
        flash(_("Informe sua senha para desativar."), "danger")
    return redirect(url_for("accounts.profile"))


@bp.post("/conta/verificacao/codigos")
@authenticated
def regenerate_codes():
    if not ActionForm().validate_on_submit():
        return redirect(url_for("accounts.profile"))
    try:
        codes = service.regenerate_recovery_codes(current_user._get_current_object(), actor=current_actor())
    except ServiceError as error:
        flash(error.message, "danger")
        return redirect(url_for("accounts.profile"))
    return render_template("accounts/recovery_codes.html", codes=codes, continue_url=url_for("accounts.profile"))


# ---------------------------------------------------------------- "Usuários" (Master)

def _invitation_days() -> int:
    return max(current_app.config["INVITATION_MAX_AGE"] // 86400, 1)


def _invite_url(token: str) -> str:
    return absolute_url("accounts.accept_invitation", token=token)


@bp.get("/usuarios")
@requires(Permission.USERS_MANAGE)
def users():
    memberships = service.organization_memberships(g.organization.id)
    memberships.sort(key=lambda m: (not m.active, m.user.name.lower()))
    return render_template(
        "accounts/users.html", memberships=memberships, role_labels=ROLE_LABELS, role_order=ROLE_ORDER,
        action_form=ActionForm(), security_form=SecurityForm(require_2fa=g.organization.require_2fa),
        city_form=CityCodeForm(city_code=g.organization.city_code or ""),
    )


@bp.post("/usuarios/municipio")
@requires(Permission.USERS_MANAGE)
def organization_city_code():
    """The Master sets the organization's IBGE city code (the NFS-e needs the customer's city)."""
    form = CityCodeForm()
    if form.validate_on_submit():
        try:
            service.set_city_code(g.organization, form.city_code.data or "", actor=current_actor(),
                                  actor_membership=g.membership)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Código IBGE do município salvo."), "success")
            return redirect(url_for("accounts.users"))
    memberships = service.organization_memberships(g.organization.id)
    memberships.sort(key=lambda m: (not m.active, m.user.name.lower()))
    return render_template(
        "accounts/users.html", memberships=memberships, role_labels=ROLE_LABELS, role_order=ROLE_ORDER,
        action_form=ActionForm(), security_form=SecurityForm(require_2fa=g.organization.require_2fa),
        city_form=form,
    ), 422


@bp.route("/usuarios/convidar", methods=["GET", "POST"])
@requires(Permission.USERS_MANAGE)
def invite():
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation = service.invite_member(
                g.organization, email=form.email.data, name=form.name.data,
                roles={Role(r) for r in form.roles.data}, actor=current_actor(), actor_membership=g.membership,
                url_for_token=_invite_url,
            )
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Convite enviado para %(email)s. O link vale por %(days)d dias.",
                    email=invitation.membership.user.email, days=_invitation_days()), "success")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/invite.html", form=form, role_descriptions=ROLE_DESCRIPTIONS,
                           role_labels=ROLE_LABELS, days=_invitation_days()), _status()


@bp.route("/usuarios/<int:membership_id>", methods=["GET", "POST"])
@requires(Permission.USERS_MANAGE)
def edit_user(membership_id: int):
    membership = tenant_get(Membership, membership_id)
    form = RolesForm(roles=sorted(membership.roles)) if request.method == "GET" else RolesForm()
    if form.validate_on_submit():
        try:
            service.change_roles(membership, {Role(r) for r in form.roles.data}, actor=current_actor(),
                                 actor_membership=g.membership)
        except ServiceError as error:
            show_error(form, error)
        else:
            flash(_("Papéis de %(name)s atualizados.", name=membership.user.name), "success")
            return redirect(url_for("accounts.users"))
    return render_template(
        "accounts/edit_user.html", form=form, membership=membership, role_descriptions=ROLE_DESCRIPTIONS,
        role_labels=ROLE_LABELS, action_form=ActionForm(),
        permissions=permissions_for(membership.roles),
    ), _status()


def _membership_action(membership_id: int, verb, done_message: str):
    membership = tenant_get(Membership, membership_id)
    if ActionForm().validate_on_submit():
        try:
            verb(membership, actor=current_actor(), actor_membership=g.membership)
        except ServiceError as error:
            flash(error.message, "danger")
        else:
            flash(done_message % {"name": membership.user.name}, "success")
    return redirect(url_for("accounts.users"))


@bp.post("/usuarios/<int:membership_id>/desativar")
@requires(Permission.USERS_MANAGE)
def deactivate_user(membership_id: int):
    return _membership_action(membership_id, service.deactivate_membership, _("%(name)s foi desativado(a)."))


@bp.post("/usuarios/<int:membership_id>/reativar")
@requires(Permission.USERS_MANAGE)
def reactivate_user(membership_id: int):
    return _membership_action(membership_id, service.reactivate_membership, _("%(name)s foi reativado(a)."))


@bp.post("/usuarios/<int:membership_id>/reenviar-convite")
@requires(Permission.USERS_MANAGE)
def resend_invitation(membership_id: int):
    def resend(membership, **kwargs):
        service.resend_invitation(membership, url_for_token=_invite_url, **kwargs)

    return _membership_action(membership_id, resend, _("Convite reenviado para %(name)s."))


@bp.post("/usuarios/seguranca")
@requires(Permission.USERS_MANAGE)
def organization_security():
    form = SecurityForm()
    if form.validate_on_submit():
        service.set_require_2fa(g.organization, bool(form.require_2fa.data), actor=current_actor(),
                                actor_membership=g.membership)
        flash(_("Configuração de segurança salva."), "success")
    return redirect(url_for("accounts.users"))


# ---------------------------------------------------------------- "Histórico" (Master)

@bp.get("/historico")
@requires(Permission.HISTORY_READ)
def history():
    filters = history_service.parse_filters(request.args)
    page = requested_page(history_service.MAX_PAGE)
    lines, has_next = history_service.history_page(g.organization.id, filters, page)
    return render_template("accounts/history.html", lines=lines, page=page, has_next=has_next, filters=filters,
                           areas=history_service.AREAS), 422 if filters.errors else 200


@bp.get("/historico.csv")
@requires(Permission.HISTORY_READ)
def history_csv():
    """The filtered history as a spreadsheet: the same sentences, with date, actor and kind."""
    filters = history_service.parse_filters(request.args)
    if filters.errors:  # never export something other than what was asked: back to the page that explains
        return redirect(url_for("accounts.history", **{k: v for k, v in filters.raw.items() if v}))
    body = history_service.history_csv(g.organization.id, filters)
    name = f"historico-{clock.today():%Y-%m-%d}.csv"
    return body, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="{name}"'}
