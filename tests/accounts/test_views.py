"""The accounts pages as a person uses them: sign-in, sessions, passwords, two-factor, invitations, users."""

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts import service
from portal.accounts.models import Membership, User
from portal.accounts.roles import Role
from portal.accounts.views import PENDING_MAX_AGE
from portal.app import create_app
from portal.extensions import db
from portal.shared.audit import Actor, AuditEvent, AuditTag
from tests import factories
from tests.conftest import sign_in
from tests.factories import PASSWORD
from tests.html import alerts, field_errors, text
from tests.test_query_budget import counting

NEW_PASSWORD = "Jabuticaba#Doce42"


# ---------------------------------------------------------------- steps

def submit_login(client, email, password=PASSWORD, next_url=None):
    query = {"next": next_url} if next_url is not None else {}
    return client.post("/entrar", query_string=query, data={"email": email, "password": password})


def enter_code(client, code):
    return client.post("/entrar/verificacao", data={"code": code})


def signed_in(client) -> bool:
    return client.get("/conta").status_code == 200


def request_reset(client, email):
    return client.post("/senha/esqueci", data={"email": email})


def change_password(client, current, new, confirm=None):
    return client.post(
        "/conta/senha",
        data={"pw-current_password": current, "pw-password": new, "pw-confirm": new if confirm is None else confirm},
    )


INVITE = {"email": "nova.pessoa@cliente.example.com", "name": "Nova Pessoa", "roles": ["cobranca", "suporte"]}


def submit_invite(client, **changes):
    return client.post("/usuarios/convidar", data={**INVITE, **changes})


def accept(client, link, **changes):
    data = {"name": "Nova Pessoa", "phone": "(11) 4000-1234", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    return client.post(link, data={**data, **changes})


def mailed_link(outbox, path: str) -> str:
    """The path of the link to `path…` in the newest e-mail that has one."""
    for message in reversed(outbox):
        found = re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", message.get_body(("plain",)).get_content())
        if found:
            return found.group(1)
    raise AssertionError(f"no e-mail with a link to {path}")


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def checked_roles(response) -> set[str]:
    return set(re.findall(r'<input checked[^>]*name="roles" type="checkbox" value="(\w+)"', text(response)))


def table_rows(response) -> dict[str, str]:
    """Body rows of the page's table, keyed by the text of their first cell."""
    rows = re.findall(r"<tr>(.*?)</tr>", text(response), re.S)[1:]
    return {re.search(r"<td>([^<(]+)", row).group(1).strip(): row for row in rows}


def heading(response) -> str:
    return html.unescape(re.search(r"<h1[^>]*>([^<]*)</h1>", text(response)).group(1)).strip()


def totp_secret(response) -> str:
    return re.search(r'data-testid="totp-secret">(\w+)<', text(response)).group(1)


def recovery_codes(response) -> list[str]:
    return re.findall(r"<li>([0-9a-f]{6}-[0-9a-f]{6})</li>", text(response))


def membership_of(email: str, organization) -> Membership:
    return db.session.scalar(
        select(Membership).join(User).where(User.email == email, Membership.organization_id == organization.id)
    )


# ---------------------------------------------------------------- sign-in and sign-out

def test_customer_signs_in_and_lands_on_home(client, world):
    response = submit_login(client, world.adm.email)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and heading(home) == "Demo Tecnologia"
    [event] = events(AuditTag.LOGIN_SUCCEEDED)
    assert event.actor_id == world.adm.id and event.subject == f"user:{world.adm.id}"
    assert world.adm.last_login_at is not None


def test_staff_signs_in_to_the_backoffice(client, world, enrol, authenticator, frozen):
    secret = enrol(world.staff_comercial)
    assert submit_login(client, world.staff_comercial.email).headers["Location"] == "/entrar/verificacao"
    response = enter_code(client, authenticator.code(secret))
    assert response.status_code == 302 and response.headers["Location"] == "/backoffice/"
    assert client.get("/backoffice/").status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_answer(client, world):
    unknown_email = "ninguem@cliente.example.com"
    wrong = submit_login(client, world.adm.email, "Errada#2026xyz")
    unknown = submit_login(client, unknown_email, "Errada#2026xyz")
    assert wrong.status_code == unknown.status_code == 422
    assert alerts(wrong) == alerts(unknown) == ["E-mail ou senha incorretos."]
    assert f'value="{world.adm.email}"' in text(wrong)  # the e-mail typed is kept
    assert text(wrong).replace(world.adm.email, "@") == text(unknown).replace(unknown_email, "@")
    assert not signed_in(client)
    failed = events(AuditTag.LOGIN_FAILED)
    assert [e.after["email"] for e in failed] == [world.adm.email, unknown_email]


def test_an_inactive_user_cannot_sign_in(client, world):
    world.adm.active = False
    db.session.commit()
    response = submit_login(client, world.adm.email)
    assert response.status_code == 422 and alerts(response) == ["E-mail ou senha incorretos."]
    assert not signed_in(client)


def test_the_email_is_case_insensitive(client, world):
    response = submit_login(client, f"  {world.adm.email.upper()}  ")
    assert response.headers["Location"] == "/" and signed_in(client)


def test_an_empty_login_form_is_explained(client):
    response = submit_login(client, "", "")
    assert response.status_code == 422
    assert field_errors(response) == ["Preencha este campo.", "Preencha este campo."]


def test_next_is_followed_only_to_paths_of_this_site(app_ctx, world):
    cases = {
        "/usuarios": "/usuarios",
        "/historico?pagina=2": "/historico?pagina=2",
        "//evil.com": "/",
        "//evil.com/usuarios": "/",
        "http://evil.com": "/",
        "https://evil.com/usuarios": "/",
        "/\\evil.com": "/",
        "/\\/evil.com": "/",
        "evil.com": "/",
        "javascript:alert(1)": "/",
    }
    for target, lands_on in cases.items():
        response = submit_login(app_ctx.test_client(), world.master.email, next_url=target)
        assert response.headers["Location"] == lands_on, target


def test_sign_out(login_as, world):
    client = login_as("adm")
    response = client.post("/sair")
    assert response.status_code == 302 and response.headers["Location"] == "/entrar"
    assert alerts(client.get("/entrar")) == ["Você saiu do portal."]
    assert not signed_in(client)
    [event] = events(AuditTag.LOGOUT)
    assert event.actor_id == world.adm.id


@pytest.fixture
def strict_app(engine_name, make_app):
    return make_app(engine_name, LOGIN_RATE_LIMIT="3 per minute")


def test_sign_in_is_rate_limited(strict_app):
    client = strict_app.test_client()
    answers = [client.post("/entrar", data={"email": "alguem@cliente.example.com", "password": "x"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [422, 422, 422, 429]
    assert "Muitas tentativas em pouco tempo. Aguarde um minuto e tente de novo." in text(answers[-1])
    assert client.get("/entrar").status_code == 200  # only attempts are counted


# ---------------------------------------------------------------- sessions, cookies, headers

def test_an_idle_session_ends_with_a_message(login_as, world, frozen, app_ctx):
    client = login_as("adm")
    idle = timedelta(minutes=app_ctx.config["SESSION_IDLE_MINUTES"])
    frozen.advance(idle - timedelta(minutes=1))
    assert client.get("/").status_code == 200  # activity restarts the count
    frozen.advance(idle - timedelta(minutes=1))
    assert client.get("/").status_code == 200
    frozen.advance(idle + timedelta(seconds=1))
    response = client.get("/conta")
    assert response.status_code == 302 and response.headers["Location"] == "/entrar?next=/conta"
    assert alerts(client.get("/entrar")) == ["Sua sessão expirou por inatividade. Entre novamente."]
    assert not signed_in(client)


def test_a_busy_session_still_ends_after_its_lifetime(login_as, world, frozen, app_ctx):
    client = login_as("adm")
    lifetime = app_ctx.config["PERMANENT_SESSION_LIFETIME"]
    step = timedelta(minutes=app_ctx.config["SESSION_IDLE_MINUTES"] - 1)
    elapsed = timedelta(0)
    while elapsed + step <= lifetime:
        frozen.advance(step)
        elapsed += step
        assert client.get("/").status_code == 200  # never idle
    frozen.advance(lifetime - elapsed + timedelta(seconds=1))
    response = client.get("/conta")
    assert response.status_code == 302 and response.headers["Location"].startswith("/entrar")
    assert not signed_in(client)


def test_changing_the_password_ends_the_other_sessions(app_ctx, world):
    here, elsewhere = sign_in(app_ctx.test_client(), world.adm), sign_in(app_ctx.test_client(), world.adm)
    assert signed_in(here) and signed_in(elsewhere)
    assert change_password(here, PASSWORD, NEW_PASSWORD).status_code == 302
    assert signed_in(here)
    assert not signed_in(elsewhere)


def test_the_session_cookie_is_httponly_and_lax(client, world):
    response = submit_login(client, world.adm.email)
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("portal_session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test server speaks plain HTTP, like development


def test_the_session_cookie_is_secure_in_production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-this-test-only")
    monkeypatch.setenv("AUDIT_CHAIN_KEY", "a-production-audit-key-for-this-test-only")  # required in production
    monkeypatch.setenv("AUDIT_SIGNING_KEY", "B" * 43 + "=")
    monkeypatch.setenv("BASE_URL", "https://localhost")
    app = create_app({"PORTAL_ENV": "production", "SQLALCHEMY_DATABASE_URI": "sqlite://", "MAIL_BACKEND": "memory"})
    response = app.test_client().get("/entrar")  # the CSRF token starts a session
    [cookie] = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("portal_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_security_headers(client, login_as):
    for response in (client.get("/entrar"), client.get("/nao-existe"), login_as("adm").get("/")):
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"  # a signed-in page is never cached


# ---------------------------------------------------------------- forgotten password

def test_forgot_password_answers_the_same_for_known_and_unknown_emails(client, world, outbox):
    unknown_email = "ninguem@cliente.example.com"
    known, unknown = request_reset(client, world.adm.email), request_reset(client, unknown_email)
    assert known.status_code == unknown.status_code == 200
    assert heading(known) == "Verifique seu e-mail"
    assert text(known).replace(world.adm.email, "@") == text(unknown).replace(unknown_email, "@")
    assert [m["To"] for m in outbox] == [world.adm.email]
    [event] = events(AuditTag.PASSWORD_RESET_REQUESTED)
    assert event.subject == f"user:{world.adm.id}"


def test_spaces_around_a_pasted_email_do_not_matter(client, world, outbox):
    assert heading(request_reset(client, f"  {world.adm.email}  ")) == "Verifique seu e-mail"
    assert [m["To"] for m in outbox] == [world.adm.email]


def test_forgot_password_needs_an_email(client):
    response = request_reset(client, "não-é-email")
    assert response.status_code == 422 and field_errors(response) == ["Informe um e-mail válido."]
    assert 'value="não-é-email"' in text(response)


def test_the_reset_link_sets_a_new_password_once(client, world, outbox):
    request_reset(client, world.adm.email)
    link = mailed_link(outbox, "/senha/redefinir/")
    form = client.get(link)
    assert form.status_code == 200 and world.adm.email in text(form)
    response = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/entrar"
    assert alerts(client.get("/entrar")) == ["Senha redefinida. Entre com a nova senha."]
    assert submit_login(client, world.adm.email, PASSWORD).status_code == 422
    assert submit_login(client, world.adm.email, NEW_PASSWORD).status_code == 302
    other = "Outra#Senha#77"
    for again in (client.get(link), client.post(link, data={"password": other, "confirm": other})):
        assert again.status_code == 410
        assert "Este link de redefinição já foi usado ou não é mais válido." in text(again)
    assert outbox[-1]["Subject"] == "Sua senha do portal foi alterada" and outbox[-1]["To"] == world.adm.email
    [reset] = events(AuditTag.PASSWORD_RESET)
    assert reset.subject == f"user:{world.adm.id}"


def test_the_reset_link_expires(client, world, outbox, frozen, app_ctx):
    request_reset(client, world.adm.email)
    link = mailed_link(outbox, "/senha/redefinir/")
    frozen.advance(timedelta(seconds=app_ctx.config["PASSWORD_RESET_MAX_AGE"] + 1))
    response = client.get(link)
    assert response.status_code == 410 and "Este link de redefinição expirou. Peça um novo." in text(response)


def test_a_tampered_reset_link_is_refused(client, world, outbox):
    request_reset(client, world.adm.email)
    link = mailed_link(outbox, "/senha/redefinir/")
    tampered = link[:-3] + ("xyz" if not link.endswith("xyz") else "abc")
    for bad in (tampered, "/senha/redefinir/qualquer-coisa"):
        response = client.get(bad)
        assert response.status_code == 410 and "Este link de redefinição não é válido." in text(response), bad


def test_a_weak_new_password_is_explained_on_the_reset_form(client, world, outbox):
    request_reset(client, world.adm.email)
    link = mailed_link(outbox, "/senha/redefinir/")
    local_part = world.adm.email.partition("@")[0]
    cases = {
        "Curta#1": "A senha precisa ter pelo menos 10 caracteres.",
        "Demo#Forte#2026": "A senha não pode conter seu nome nem seu e-mail.",  # "Adm Demo"
        f"{local_part.upper()}#Forte#2026": "A senha não pode conter seu nome nem seu e-mail.",
        "abcabcabcabc": "A senha é repetitiva demais.",
    }
    for password, message in cases.items():
        response = client.post(link, data={"password": password, "confirm": password})
        assert response.status_code == 422, password
        assert message in field_errors(response)[0], password
    mismatch = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 422 and field_errors(mismatch) == ["As senhas não conferem."]
    assert client.get(link).status_code == 200  # nothing was spent
    assert submit_login(client, world.adm.email, PASSWORD).status_code == 302


# ---------------------------------------------------------------- two-factor sign-in

def test_staff_must_set_up_two_factor_at_first_sign_in(client, world, authenticator, frozen):
    response = submit_login(client, world.staff_admin.email)
    assert response.headers["Location"] == "/entrar/configurar-verificacao"
    page = client.get("/entrar/configurar-verificacao")
    assert page.status_code == 200 and "<svg" in text(page)
    secret = totp_secret(page)
    wrong = client.post("/entrar/configurar-verificacao", data={"code": authenticator.wrong_code(secret)})
    assert wrong.status_code == 422
    assert field_errors(wrong) == ["Código inválido. Confira o relógio do celular e tente de novo."]
    assert totp_secret(wrong) == secret and client.get("/backoffice/").status_code == 302  # not in yet
    done = client.post("/entrar/configurar-verificacao", data={"code": authenticator.code(secret)})
    assert done.status_code == 200 and len(set(recovery_codes(done))) == 10
    assert client.get("/backoffice/").status_code == 200
    assert world.staff_admin.totp_enabled
    assert [e.actor_id for e in events(AuditTag.TWO_FACTOR_ENABLED)] == [world.staff_admin.id]


def test_an_enrolled_user_signs_in_with_the_code(client, world, enrol, authenticator, frozen):
    secret = enrol(world.master)
    response = submit_login(client, world.master.email, next_url="/usuarios")
    assert response.headers["Location"] == "/entrar/verificacao"
    assert not signed_in(client)
    wrong = enter_code(client, authenticator.wrong_code(secret))
    assert wrong.status_code == 422 and field_errors(wrong) == ["Código inválido."]
    assert [e.subject for e in events(AuditTag.TWO_FACTOR_FAILED)] == [f"user:{world.master.id}"]
    right = enter_code(client, authenticator.code(secret))
    assert right.status_code == 302 and right.headers["Location"] == "/usuarios"
    assert signed_in(client)


def test_a_recovery_code_signs_in_once(client, world, authenticator, frozen):
    secret = service.start_totp_enrolment(world.adm)
    codes = service.confirm_totp_enrolment(world.adm, authenticator.code(secret), actor=Actor.for_user(world.adm))
    submit_login(client, world.adm.email)
    assert enter_code(client, codes[0]).headers["Location"] == "/"
    client.post("/sair")
    submit_login(client, world.adm.email)
    again = enter_code(client, codes[0])
    assert again.status_code == 422 and field_errors(again) == ["Código inválido."]
    assert enter_code(client, codes[1]).headers["Location"] == "/"
    assert "Códigos de recuperação restantes: 8" in text(client.get("/conta"))
    assert len(events(AuditTag.RECOVERY_CODE_USED)) == 2


def test_waiting_for_the_code_expires(client, world, enrol, authenticator, frozen):
    secret = enrol(world.adm)
    submit_login(client, world.adm.email)
    frozen.advance(timedelta(seconds=PENDING_MAX_AGE + 1))
    response = enter_code(client, authenticator.code(secret))
    assert response.status_code == 302 and response.headers["Location"] == "/entrar"
    assert alerts(client.get("/entrar")) == ["Entre novamente com e-mail e senha."]
    assert not signed_in(client)


def test_the_code_page_needs_a_password_first(client, world):
    response = client.get("/entrar/verificacao")
    assert response.status_code == 302 and response.headers["Location"] == "/entrar"
    assert client.get("/entrar/configurar-verificacao").headers["Location"] == "/entrar"


def test_master_requires_two_factor_for_the_organization(client, world, app_ctx):
    master = sign_in(app_ctx.test_client(), world.master)
    response = master.post("/usuarios/seguranca", data={"require_2fa": "y"})
    assert response.status_code == 302 and world.demo.require_2fa
    assert re.search(r'<input [^>]*checked [^>]*id="require_2fa"', text(master.get("/usuarios")))
    [event] = events(AuditTag.ORGANIZATION_SECURITY_CHANGED)
    assert event.before == {"require_2fa": False} and event.after == {"require_2fa": True}
    assert submit_login(client, world.suporte.email).headers["Location"] == "/entrar/configurar-verificacao"
    elsewhere = app_ctx.test_client()
    assert submit_login(elsewhere, world.other_master.email).headers["Location"] == "/"  # another organization
    master.post("/usuarios/seguranca", data={})
    assert not world.demo.require_2fa
    assert submit_login(app_ctx.test_client(), world.suporte.email).headers["Location"] == "/"


def test_customer_turns_two_factor_on_from_the_profile(login_as, world, authenticator, frozen):
    client = login_as("adm")
    page = client.get("/conta/verificacao")
    secret = totp_secret(page)
    wrong = client.post("/conta/verificacao", data={"code": authenticator.wrong_code(secret)})
    assert wrong.status_code == 422 and "Código inválido" in field_errors(wrong)[0]
    done = client.post("/conta/verificacao", data={"code": authenticator.code(secret)})
    assert done.status_code == 200 and len(set(recovery_codes(done))) == 10
    assert "Códigos de recuperação restantes: 10" in text(client.get("/conta"))
    fresh = client.post("/conta/verificacao/codigos")
    assert len(set(recovery_codes(fresh)) - set(recovery_codes(done))) == 10


def test_customer_turns_two_factor_off_with_the_password(login_as, world, enrol):
    enrol(world.adm)
    client = login_as("adm")
    empty = client.post("/conta/verificacao/desativar", data={"off-password": ""}, follow_redirects=True)
    assert alerts(empty) == ["Informe sua senha para desativar."]
    wrong = client.post("/conta/verificacao/desativar", data={"off-password": "Errada#2026x"}, follow_redirects=True)
    assert alerts(wrong) == ["Senha incorreta."] and world.adm.totp_enabled
    done = client.post("/conta/verificacao/desativar", data={"off-password": PASSWORD}, follow_redirects=True)
    assert alerts(done) == ["Verificação em duas etapas desativada."] and not world.adm.totp_enabled
    assert len(events(AuditTag.TWO_FACTOR_DISABLED)) == 1


def test_two_factor_stays_on_when_the_organization_requires_it(login_as, world, enrol):
    enrol(world.adm)
    world.demo.require_2fa = True
    db.session.commit()
    response = login_as("adm").post("/conta/verificacao/desativar", data={"off-password": PASSWORD},
                                    follow_redirects=True)
    assert alerts(response) == ["Sua organização exige a verificação em duas etapas."]
    assert world.adm.totp_enabled


def test_staff_cannot_turn_two_factor_off(login_as, world, enrol):
    enrol(world.staff_admin)
    client = login_as("staff_admin")
    assert "off-password" not in text(client.get("/conta"))
    response = client.post("/conta/verificacao/desativar", data={"off-password": PASSWORD}, follow_redirects=True)
    assert alerts(response) == ["A verificação em duas etapas é obrigatória para a equipe."]
    assert world.staff_admin.totp_enabled


# ---------------------------------------------------------------- invitations

def test_master_invites_and_the_invitee_creates_an_account(login_as, world, outbox, app_ctx):
    master = login_as("master")
    response = submit_invite(master)
    assert response.status_code == 302 and response.headers["Location"] == "/usuarios"
    users = master.get("/usuarios")
    assert alerts(users) == ["Convite enviado para nova.pessoa@cliente.example.com. O link vale por 7 dias."]
    assert "convite pendente" in text(users)
    [message] = outbox
    assert message["To"] == "nova.pessoa@cliente.example.com"
    link = mailed_link(outbox, "/convite/")

    invitee = app_ctx.test_client()
    form = invitee.get(link)
    assert form.status_code == 200 and heading(form) == "Convite para Demo Tecnologia"
    assert 'value="Nova Pessoa"' in text(form)
    done = accept(invitee, link, name="Nova Pessoa Silva")
    assert done.status_code == 302 and done.headers["Location"] == "/"
    home = invitee.get("/")
    assert alerts(home) == ["Boas-vindas ao portal de Demo Tecnologia!"]
    assert re.findall(r"<li class=\"mb-2\"><strong>(\w+)</strong>", text(home)) == ["Cobrança", "Suporte"]
    membership = membership_of("nova.pessoa@cliente.example.com", world.demo)
    assert membership.is_usable and membership.user.name == "Nova Pessoa Silva"
    assert membership.user.phone == "(11) 4000-1234"
    again = app_ctx.test_client().get(link)
    assert again.status_code == 410
    assert "Este convite já foi usado. Entre com seu e-mail e senha." in text(again)
    assert [e.subject for e in events(AuditTag.INVITATION_SENT)] == [f"membership:{membership.id}"]
    [accepted] = events(AuditTag.INVITATION_ACCEPTED)
    assert accepted.actor_id == membership.user_id and accepted.organization_id == world.demo.id


def test_the_invitation_form_explains_mistakes_and_keeps_the_input(login_as, world, outbox, app_ctx):
    submit_invite(login_as("master"))
    link = mailed_link(outbox, "/convite/")
    invitee = app_ctx.test_client()
    cases = [
        ({"password": "Curta#1", "confirm": "Curta#1"}, "A senha precisa ter pelo menos 10 caracteres."),
        ({"password": "Pessoa#Forte#26", "confirm": "Pessoa#Forte#26"}, "A senha não pode conter seu nome"),
        ({"confirm": "Outra#Coisa#2026"}, "As senhas não conferem."),
        ({"name": ""}, "Preencha este campo."),
    ]
    for changes, message in cases:
        response = accept(invitee, link, **changes)
        assert response.status_code == 422, changes
        assert any(message in error for error in field_errors(response)), (changes, field_errors(response))
        assert 'value="(11) 4000-1234"' in text(response)
        if "name" not in changes:
            assert 'value="Nova Pessoa"' in text(response)
    assert not signed_in(invitee)
    assert membership_of("nova.pessoa@cliente.example.com", world.demo).accepted_at is None
    assert accept(invitee, link).status_code == 302


def test_the_invitation_expires(login_as, world, outbox, app_ctx, frozen):
    submit_invite(login_as("master"))
    link = mailed_link(outbox, "/convite/")
    frozen.advance(timedelta(seconds=app_ctx.config["INVITATION_MAX_AGE"]))
    response = app_ctx.test_client().get(link)
    assert response.status_code == 410
    assert "Este convite expirou. Peça ao Master da sua organização para reenviá-lo." in text(response)


def test_resending_replaces_the_link(login_as, world, outbox, app_ctx):
    master = login_as("master")
    submit_invite(master)
    old_link = mailed_link(outbox, "/convite/")
    membership = membership_of("nova.pessoa@cliente.example.com", world.demo)
    response = master.post(f"/usuarios/{membership.id}/reenviar-convite", follow_redirects=True)
    assert alerts(response)[-1] == "Convite reenviado para Nova Pessoa."
    new_link = mailed_link(outbox, "/convite/")
    assert len(outbox) == 2 and new_link != old_link
    visitor = app_ctx.test_client()
    refused = visitor.get(old_link)
    assert refused.status_code == 410
    assert "Este convite foi cancelado ou substituído por um mais recente." in text(refused)
    assert visitor.get(new_link).status_code == 200
    assert len(events(AuditTag.INVITATION_RESENT)) == 1
    accepted = master.post(f"/usuarios/{world.adm_membership.id}/reenviar-convite", follow_redirects=True)
    assert alerts(accepted) == ["Este usuário já aceitou o convite."] and len(outbox) == 2


def test_deactivating_a_pending_member_revokes_the_link(login_as, world, outbox, app_ctx):
    master = login_as("master")
    submit_invite(master)
    link = mailed_link(outbox, "/convite/")
    membership = membership_of("nova.pessoa@cliente.example.com", world.demo)
    master.post(f"/usuarios/{membership.id}/desativar")
    response = app_ctx.test_client().get(link)
    assert response.status_code == 410
    assert "Este convite foi cancelado ou substituído por um mais recente." in text(response)


def test_an_existing_user_accepts_as_that_account_and_switches_organizations(login_as, world, outbox, app_ctx):
    person = world.other_master
    assert submit_invite(login_as("master"), email=person.email.upper(), name="Outro Nome",
                         roles=["adm"]).status_code == 302
    link = mailed_link(outbox, "/convite/")

    browser = app_ctx.test_client()
    page = browser.get(link)
    assert page.status_code == 200 and 'name="password"' not in text(page)
    assert f"{person.email} já tem acesso ao portal." in text(page)
    login_url = html.unescape(re.search(r'href="(/entrar\?next=[^"]+)"', text(page)).group(1))
    response = browser.post(login_url, data={"email": person.email, "password": PASSWORD})
    assert response.headers["Location"] == link
    assert "Aceitar convite" in text(browser.get(link))
    done = browser.post(link)
    assert done.status_code == 302 and done.headers["Location"] == "/"
    home = browser.get("/")
    assert heading(home) == "Demo Tecnologia" and alerts(home) == ["Boas-vindas ao portal de Demo Tecnologia!"]
    assert person.name != "Outro Nome"

    assert browser.post(f"/organizacao/{world.other.id}/usar").status_code == 302
    assert heading(browser.get("/")) == "Outra Empresa"
    stranger = factories.OrganizationFactory()
    db.session.commit()
    assert browser.post(f"/organizacao/{stranger.id}/usar").status_code == 404
    assert heading(browser.get("/")) == "Outra Empresa"
    assert browser.post(f"/organizacao/{world.demo.id}/usar").status_code == 302
    assert heading(browser.get("/")) == "Demo Tecnologia"


def test_an_invitation_opened_in_another_accounts_session_offers_to_switch(login_as, world, outbox, app_ctx):
    person = world.other_master
    submit_invite(login_as("master"), email=person.email, name=person.name, roles=["adm"])
    link = mailed_link(outbox, "/convite/")
    browser = sign_in(app_ctx.test_client(), world.cobranca)
    page = browser.get(link)
    assert f"Você está conectado como {world.cobranca.email}." in text(page)
    signed_out = browser.post("/sair", data={"next": link})
    assert signed_out.headers["Location"] == f"/entrar?next={link}"
    assert not signed_in(browser)
    assert browser.post(signed_out.headers["Location"],
                        data={"email": person.email, "password": PASSWORD}).headers["Location"] == link
    assert browser.post(link).headers["Location"] == "/"
    assert membership_of(person.email, world.demo).accepted_at is not None


def test_sign_out_follows_only_this_sites_paths(login_as, world):
    response = login_as("adm").post("/sair", data={"next": "https://evil.example.com/"})
    assert response.headers["Location"] == "/entrar"


def test_sign_ins_show_in_each_organizations_history(app_ctx, world):
    factories.MembershipFactory(user=world.suporte, organization=world.other, roles=["suporte"])
    db.session.commit()
    assert submit_login(app_ctx.test_client(), world.suporte.email).status_code == 302
    assert submit_login(app_ctx.test_client(), world.suporte.email, "errada#123456").status_code == 422
    for organization, who in ((world.demo, "master"), (world.other, "other_master")):
        logged = db.session.scalars(
            select(AuditEvent.tag).where(AuditEvent.organization_id == organization.id,
                                         AuditEvent.subject == f"user:{world.suporte.id}")
        ).all()
        assert sorted(logged) == [AuditTag.LOGIN_FAILED, AuditTag.LOGIN_SUCCEEDED]
        history = text(sign_in(app_ctx.test_client(), getattr(world, who), organization).get("/historico"))
        assert "Suporte Demo entrou no portal." in history
        assert f"Tentativa de entrada recusada para {world.suporte.email}." in history


def test_the_invite_form_explains_mistakes_and_keeps_the_input(login_as, world, outbox):
    master = login_as("master")
    cases = {
        "a member already": ({"email": world.adm.email.upper()}, f"{world.adm.email} já é usuário desta organização."),
        "staff": ({"email": world.staff_suporte.email},
                  "Este e-mail pertence à equipe e não pode ser membro de um cliente."),
        "no role": ({"roles": []}, "Escolha pelo menos um papel."),
        "unknown role": ({"roles": ["root"]}, "‘root’ não é uma escolha válida para este campo."),
        "bad e-mail": ({"email": "nova.pessoa@"}, "Informe um e-mail válido."),
        "no name": ({"name": ""}, "Preencha este campo."),
    }
    for case, (changes, message) in cases.items():
        response = submit_invite(master, **changes)
        assert response.status_code == 422, case
        assert field_errors(response) == [message], case
        sent = {**INVITE, **changes}
        for field in ("email", "name"):
            if sent[field]:
                assert f'value="{sent[field]}"' in text(response), (case, field)
        if case != "unknown role":
            assert checked_roles(response) == set(sent["roles"]), case
    assert outbox == [] and events(AuditTag.INVITATION_SENT) == []


def test_an_invitee_of_an_organization_that_requires_two_factor_sets_it_up_first(
    login_as, world, outbox, app_ctx, authenticator, frozen
):
    world.demo.require_2fa = True
    db.session.commit()
    assert submit_invite(login_as("master"), email=" nova.pessoa@cliente.example.com ").status_code == 302
    invitee = app_ctx.test_client()
    done = accept(invitee, mailed_link(outbox, "/convite/"))
    assert done.headers["Location"] == "/entrar/configurar-verificacao" and not signed_in(invitee)
    setup = invitee.get("/entrar/configurar-verificacao")
    assert alerts(setup) == ["Boas-vindas ao portal de Demo Tecnologia!"]
    codes = invitee.post("/entrar/configurar-verificacao", data={"code": authenticator.code(totp_secret(setup))})
    assert len(recovery_codes(codes)) == 10
    assert invitee.get("/").status_code == 200


# ---------------------------------------------------------------- "Usuários"

def test_the_users_page_lists_members_and_their_state(login_as, world):
    factories.MembershipFactory(organization=world.demo, roles=["adm"], accepted_at=None, user__name="Pendente Silva")
    factories.MembershipFactory(organization=world.demo, roles=["suporte"], active=False, user__name="Saiu Souza")
    db.session.commit()
    rows = table_rows(login_as("master").get("/usuarios"))
    assert set(rows) == {"Master Demo", "Adm Demo", "Cobranca Demo", "Suporte Demo", "Pendente Silva", "Saiu Souza"}
    assert "(você)" in rows["Master Demo"]
    assert "convite pendente" in rows["Pendente Silva"] and "reenviar-convite" in rows["Pendente Silva"]
    assert "desativado" in rows["Saiu Souza"] and "reativar" in rows["Saiu Souza"]
    assert "ativo" in rows["Adm Demo"] and world.adm.email in rows["Adm Demo"]


def test_the_users_page_reads_the_seats_roles_and_invitations_in_one_statement(login_as, world):
    factories.MembershipFactory(organization=world.demo, roles=["adm", "cobranca"], accepted_at=None,
                                user__name="Pendente Silva")
    db.session.commit()
    master = login_as("master")
    with counting(db.engine) as statements:
        rows = table_rows(master.get("/usuarios"))
    assert "convite pendente" in rows["Pendente Silva"] and "Adm" in rows["Pendente Silva"]
    assert "Cobrança" in rows["Pendente Silva"]
    seats = [s for s in statements if "memberships.organization_id =" in s]
    assert len(seats) == 1 and "membership_roles" in seats[0] and "invitations" in seats[0]
    assert not [s for s in statements if s.lstrip().startswith("SELECT invitations.")]


def test_master_changes_roles_and_it_shows_in_the_history(login_as, world):
    service.set_require_2fa(world.other, True, actor=Actor.for_user(world.other_master),
                            actor_membership=world.other_master_membership)  # another organization's event
    master = login_as("master")
    url = f"/usuarios/{world.suporte_membership.id}"
    assert checked_roles(master.get(url)) == {"suporte"}
    response = master.post(url, data={"roles": ["suporte", "cobranca"]}, follow_redirects=True)
    assert alerts(response) == ["Papéis de Suporte Demo atualizados."]
    assert world.suporte_membership.roles == {Role.SUPORTE, Role.COBRANCA}
    [event] = events(AuditTag.ROLES_CHANGED)
    assert event.before == {"roles": ["suporte"]} and event.after == {"roles": ["cobranca", "suporte"]}
    assert event.organization_id == world.demo.id and event.actor_id == world.master.id
    history = text(master.get("/historico"))
    assert "Master Demo mudou os papéis de Suporte Demo de Suporte para Cobrança, Suporte." in history
    assert '{"roles"' not in history and "verificação em duas etapas" not in history


def test_roles_need_at_least_one(login_as, world):
    response = login_as("master").post(f"/usuarios/{world.suporte_membership.id}", data={})
    assert response.status_code == 422 and field_errors(response) == ["Escolha pelo menos um papel."]
    assert world.suporte_membership.roles == {Role.SUPORTE}


def test_the_last_master_can_be_neither_demoted_nor_deactivated(login_as, world):
    master = login_as("master")
    url = f"/usuarios/{world.master_membership.id}"
    demote = master.post(url, data={"roles": ["adm", "cobranca"]})
    assert demote.status_code == 422
    assert field_errors(demote) == ["A organização precisa de pelo menos um Master ativo."]
    assert checked_roles(demote) == {"adm", "cobranca"}  # what was chosen is kept
    deactivate = master.post(f"{url}/desativar", follow_redirects=True)
    assert alerts(deactivate) == ["A organização precisa de pelo menos um Master ativo."]
    assert world.master_membership.roles == {Role.MASTER} and world.master_membership.active
    assert events(AuditTag.ROLES_CHANGED) == events(AuditTag.MEMBERSHIP_DEACTIVATED) == []


def test_with_two_masters_one_may_step_down(login_as, world):
    master = login_as("master")
    assert master.post(f"/usuarios/{world.adm_membership.id}", data={"roles": ["master", "adm"]}).status_code == 302
    assert master.post(f"/usuarios/{world.master_membership.id}", data={"roles": ["suporte"]}).status_code == 302
    assert world.master_membership.roles == {Role.SUPORTE}
    assert master.get("/usuarios").status_code == 403  # the seat given up takes the page with it


def test_deactivate_and_reactivate_a_member(login_as, world, app_ctx):
    member = sign_in(app_ctx.test_client(), world.suporte)
    master = login_as("master")
    url = f"/usuarios/{world.suporte_membership.id}"
    off = master.post(f"{url}/desativar", follow_redirects=True)
    assert alerts(off) == ["Suporte Demo foi desativado(a)."]
    locked_out = member.get("/")  # signed out at once (issue 13 point 17)
    assert locked_out.status_code == 302 and locked_out.headers["Location"].startswith("/entrar")
    sign_in(member, world.suporte)  # signing in again finds no organization
    assert "Você não tem acesso a nenhuma organização" in text(member.get("/"))
    on = master.post(f"{url}/reativar", follow_redirects=True)
    assert alerts(on) == ["Suporte Demo foi reativado(a)."]
    assert member.get("/").status_code == 200
    [deactivated], [reactivated] = events(AuditTag.MEMBERSHIP_DEACTIVATED), events(AuditTag.MEMBERSHIP_REACTIVATED)
    assert deactivated.before == {"active": True} and deactivated.after == {"active": False}
    assert reactivated.subject == deactivated.subject == f"membership:{world.suporte_membership.id}"
    history = text(master.get("/historico"))
    assert "desativou o acesso de" in history and "reativou o acesso de" in history


def test_numbers_out_of_range_in_urls_are_not_errors(login_as, world):
    master = login_as("master")
    for too_big in (2**31, 10**20):
        assert master.get(f"/usuarios/{too_big}").status_code == 404
        assert master.post(f"/usuarios/{too_big}/desativar").status_code == 404
        assert master.post(f"/organizacao/{too_big}/usar").status_code == 404
        assert master.get(f"/historico?pagina={too_big}").status_code == 200
    assert master.get("/historico?pagina=-3").status_code == master.get("/historico?pagina=dez").status_code == 200


def test_only_the_master_sees_users_and_history(login_as, world):
    for role in ("adm", "cobranca", "suporte"):
        client = login_as(role)
        home = text(client.get("/"))
        assert 'href="/usuarios"' not in home and 'href="/historico"' not in home, role
        assert client.get("/usuarios").status_code == 403 and client.get("/historico").status_code == 403
    home = text(login_as("master").get("/"))
    assert 'href="/usuarios"' in home and 'href="/historico"' in home


# ---------------------------------------------------------------- profile

def test_profile_update_switches_the_language(login_as, world):
    client = login_as("adm")
    response = client.post("/conta", data={"name": "Ana Adm", "phone": "(11) 98888-7777", "language": "en"})
    assert response.status_code == 302 and response.headers["Location"] == "/conta"
    page = text(client.get("/conta"))
    assert 'lang="en"' in page and 'value="Ana Adm"' in page
    assert (world.adm.name, world.adm.phone, world.adm.language) == ("Ana Adm", "(11) 98888-7777", "en")
    client.post("/conta", data={"name": "Ana Adm", "phone": "", "language": ""})
    assert 'lang="pt-BR"' in text(client.get("/conta")) and world.adm.language is None
    [first, second] = events(AuditTag.PROFILE_UPDATED)
    assert first.before["name"] == "Adm Demo" and first.after["language"] == "en"
    assert second.after == {"name": "Ana Adm", "phone": "", "language": None}


def test_profile_mistakes_are_explained_and_the_input_kept(login_as, world):
    client = login_as("adm")
    cases = {
        "": "Preencha este campo.",
        "x" * 201: "Use no máximo 200 caracteres.",
    }
    for name, message in cases.items():
        response = client.post("/conta", data={"name": name, "phone": "(11) 98888-7777", "language": "en"})
        assert response.status_code == 422 and field_errors(response) == [message]
        assert 'value="(11) 98888-7777"' in text(response) and '<option selected value="en">' in text(response)
    unknown = client.post("/conta", data={"name": "Ana", "phone": "", "language": "fr"})
    assert unknown.status_code == 422 and field_errors(unknown) == ["Escolha inválida."]
    assert world.adm.name == "Adm Demo" and world.adm.language is None


def test_changing_the_password(login_as, world, outbox, app_ctx):
    client = login_as("adm")
    response = change_password(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/conta"
    assert alerts(client.get("/conta")) == ["Senha alterada."]
    assert submit_login(app_ctx.test_client(), world.adm.email, NEW_PASSWORD).status_code == 302
    assert [m["Subject"] for m in outbox] == ["Sua senha do portal foi alterada"]
    assert [e.actor_id for e in events(AuditTag.PASSWORD_CHANGED)] == [world.adm.id]


def test_password_change_mistakes_are_explained(login_as, world, app_ctx):
    client = login_as("adm")
    cases = [
        (("Errada#2026x", NEW_PASSWORD, None), "Senha atual incorreta."),
        ((PASSWORD, "Curta#1", None), "A senha precisa ter pelo menos 10 caracteres."),
        ((PASSWORD, "Demo#Forte#2026", None), "A senha não pode conter seu nome nem seu e-mail."),
        ((PASSWORD, "aaaaaaaaaaaa", None), "A senha é repetitiva demais."),
        ((PASSWORD, NEW_PASSWORD, "Outra#Coisa#2026"), "As senhas não conferem."),
        (("", NEW_PASSWORD, None), "Preencha este campo."),
    ]
    for (current, new, confirm), message in cases:
        response = change_password(client, current, new, confirm)
        assert response.status_code == 422, message
        assert field_errors(response) == [message]
        assert 'value="Adm Demo"' in text(response)  # the profile form above still shows the data
    assert submit_login(app_ctx.test_client(), world.adm.email, PASSWORD).status_code == 302


# ---------------------------------------------------------------- several organizations

def test_permissions_follow_the_current_organization(app_ctx, world):
    factories.MembershipFactory(user=world.master, organization=world.other, roles=["suporte"])
    db.session.commit()
    client = sign_in(app_ctx.test_client(), world.master, world.demo)
    assert client.get("/usuarios").status_code == 200
    assert client.post(f"/organizacao/{world.other.id}/usar").status_code == 302
    home = client.get("/")
    assert heading(home) == "Outra Empresa" and 'href="/usuarios"' not in text(home)
    assert client.get("/usuarios").status_code == 403
    assert client.get(f"/usuarios/{world.other_master_membership.id}").status_code == 403
    assert client.post(f"/organizacao/{world.demo.id}/usar").status_code == 302
    assert client.get("/usuarios").status_code == 200


def test_a_deactivated_seat_cannot_be_switched_to(app_ctx, world):
    factories.MembershipFactory(user=world.master, organization=world.other, roles=["suporte"], active=False)
    db.session.commit()
    client = sign_in(app_ctx.test_client(), world.master, world.demo)
    assert client.post(f"/organizacao/{world.other.id}/usar").status_code == 404
    assert heading(client.get("/")) == "Demo Tecnologia"
