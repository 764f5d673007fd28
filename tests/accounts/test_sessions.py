"""Sessions end on the server (issue 13 point 17): a copy of the session cookie taken before logout, "Sair de
todos os dispositivos", a password change or reset, or a deactivation no longer reads anything afterwards."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import LoginSession
from portal.extensions import db
from portal.shared.audit import AuditEvent, AuditTag
from tests.factories import PASSWORD

NEW_PASSWORD = "Jabuticaba#Doce42"
COOKIE = "portal_session"


def signed_in_browser(app, user):
    """A client signed in through the sign-in form, as a person does."""
    client = app.test_client()
    response = client.post("/entrar", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/", response.get_data(as_text=True)
    return client


def stolen_copy(app, client):
    """Another client carrying a copy of `client`'s session cookie (what an attacker copied)."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def reads_invoices(client) -> bool:
    response = client.get("/faturas")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/entrar"), response.status_code
    return False


def events(tag):
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag)))


@pytest.fixture
def master(app_ctx, world):
    browser = signed_in_browser(app_ctx, world.master)
    thief = stolen_copy(app_ctx, browser)
    assert reads_invoices(browser) and reads_invoices(thief)
    return browser, thief


def test_a_cookie_copied_before_logout_is_refused_after_it(app_ctx, world, master):
    browser, thief = master
    other_device = signed_in_browser(app_ctx, world.master)
    assert browser.post("/sair").status_code == 302
    assert not reads_invoices(thief)
    assert not reads_invoices(browser)
    assert reads_invoices(other_device)  # "Sair" ends this session only
    [ended] = db.session.scalars(select(LoginSession).where(LoginSession.ended_at.is_not(None))).all()
    assert ended.end_reason == "logout" and ended.user_id == world.master.id
    assert events(AuditTag.LOGOUT)


def test_sair_de_todos_os_dispositivos_ends_every_session(app_ctx, world, master):
    browser, thief = master
    other_device = signed_in_browser(app_ctx, world.master)
    page = browser.get("/conta").get_data(as_text=True)
    form = re.search(r'<form method="post" action="(/conta/sair-de-todos)"[^>]*>.*?</form>', page, re.S)
    assert form and "Sair de todos os dispositivos" in form.group(0)
    response = browser.post(form.group(1), follow_redirects=True)
    assert "Você saiu do portal em todos os dispositivos." in response.get_data(as_text=True)
    assert not reads_invoices(browser) and not reads_invoices(thief) and not reads_invoices(other_device)
    [event] = events(AuditTag.SESSIONS_ENDED)
    assert event.actor_id == world.master.id and event.after == {"sessions": 2}
    assert reads_invoices(signed_in_browser(app_ctx, world.master))  # signing in again works


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app_ctx, world, master):
    browser, thief = master
    other_device = signed_in_browser(app_ctx, world.master)
    response = browser.post("/conta/senha", data={"pw-current_password": PASSWORD, "pw-password": NEW_PASSWORD,
                                                  "pw-confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert reads_invoices(browser)
    # The copy carries the token of before the change; only this browser's cookie was renewed.
    assert not reads_invoices(thief) and not reads_invoices(other_device)
    [event] = events(AuditTag.PASSWORD_CHANGED)
    assert event.after == {"sessions_ended": 1}


def test_a_password_reset_ends_every_session(app_ctx, world, master, outbox):
    browser, thief = master
    anonymous = app_ctx.test_client()
    anonymous.post("/senha/esqueci", data={"email": world.master.email})
    link = re.search(r"https?://[^/\s]+(/senha/redefinir/\S+)", outbox[-1].get_body(("plain",)).get_content())
    response = anonymous.post(link.group(1), data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert not reads_invoices(browser) and not reads_invoices(thief)


def test_deactivating_the_membership_ends_the_members_sessions(app_ctx, world, master):
    cobranca = signed_in_browser(app_ctx, world.cobranca)
    copy = stolen_copy(app_ctx, cobranca)
    browser, _thief = master
    assert browser.post(f"/usuarios/{world.cobranca_membership.id}/desativar").status_code == 302
    assert not reads_invoices(cobranca) and not reads_invoices(copy)
    [event] = events(AuditTag.SESSIONS_ENDED)
    assert event.subject == f"user:{world.cobranca.id}" and event.organization_id == world.demo.id


def test_deactivating_the_user_ends_every_session(app_ctx, world, master):
    browser, thief = master
    world.master.active = False
    db.session.commit()
    assert not reads_invoices(browser) and not reads_invoices(thief)


def test_a_session_key_the_server_does_not_know_is_refused(app_ctx, world, master):
    browser, _thief = master
    with browser.session_transaction() as session:
        session["sk"] = "forged-or-purged"
    assert not reads_invoices(browser)


def test_sessions_past_the_cookie_lifetime_are_forgotten_at_the_next_sign_in(app_ctx, world, frozen):
    signed_in_browser(app_ctx, world.master)
    frozen.advance(app_ctx.config["PERMANENT_SESSION_LIFETIME"] + timedelta(minutes=1))
    signed_in_browser(app_ctx, world.master)
    rows = db.session.scalars(select(LoginSession).where(LoginSession.user_id == world.master.id)).all()
    assert len(rows) == 1 and rows[0].created_at == frozen.now()
