"""The state of a Microsoft round trip is used once: 8 requests coming back with the same state and code at the same
moment (committed transactions, one connection per thread) open exactly one session, on SQLite and PostgreSQL."""

from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import func, select

from portal.accounts.models import LoginSession, User
from portal.entra import service
from portal.entra.models import EntraLink
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, verify
from tests import factories
from tests.entra.conftest import CLIENT_ID, CLIENT_SECRET
from tests.fakes.concurrency import concurrently
from tests.fakes.oidc_provider import Identity

SESSIONS = 8


def test_the_same_state_coming_back_8_times_at_once_signs_in_once(make_app, engine_name, provider):
    app = make_app(engine_name, ENTRA_CLIENT_ID=CLIENT_ID, ENTRA_CLIENT_SECRET=CLIENT_SECRET,
                   ENTRA_AUTHORITY=provider.url)
    tenant = provider.add_tenant(f"corrida-{engine_name}.onmicrosoft.com")
    with app.app_context():
        membership = factories.MembershipFactory(roles=["suporte"])
        db.session.add(EntraLink(organization_id=membership.organization_id, tenant_id=tenant,
                                 verified_at=clock.now()))
        db.session.commit()
        user_id, email = membership.user_id, membership.user.email
        redirect_uri = "http://portal.test/entrar/microsoft/retorno"
        url, state = service.start_sign_in(redirect_uri=redirect_uri)
    provider.sign_in_as(Identity(tenant, email))
    back = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    code = parse_qs(urlsplit(back).query)["code"][0]

    def come_back(_index):
        with app.app_context():  # its own session, hence its own connection
            try:
                outcome = service.finish(state=state, expected_state=state, code=code, redirect_uri=redirect_uri,
                                         actor=Actor.anonymous(ip="203.0.113.9"), signed_in_user=None,
                                         current_membership=None)
            except service.EntraRefusal as refusal:
                return refusal.message
            return outcome.user.id

    results, errors = concurrently(SESSIONS, come_back)
    assert not errors, errors
    assert sorted(results, key=str) == sorted(
        [user_id] + ["Este retorno da Microsoft já foi usado ou expirou. Comece de novo."] * (SESSIONS - 1), key=str)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginSession)
                                 .where(LoginSession.user_id == user_id)) == 1
        assert db.session.get(User, user_id).last_login_at is not None
        assert verify().ok
