"""Throttling as configured (issue 13 point 18): counted in the database so workers count together, per IP
and per attempted account, the client IP read through ProxyFix behind the load balancer, and "Esqueci minha
senha" answering the same for any address and mailing one address at most a few times an hour."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import portal.accounts.jobs
from portal.accounts import service
from portal.app import create_app
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag
from tests import factories
from tests.conftest import app_settings
from tests.factories import PASSWORD

WRONG = "Senha#Errada2026"
TOO_MANY = "Muitas tentativas em pouco tempo. Aguarde um minuto e tente de novo."


def attempt(client, email, password=WRONG, ip=None):
    headers = {"X-Forwarded-For": ip} if ip else {}
    return client.post("/entrar", data={"email": email, "password": password}, headers=headers)


def test_two_workers_sharing_the_database_count_together(make_app, engine_name):
    first = make_app(engine_name, LOGIN_RATE_LIMIT="3 per minute")
    second = create_app(app_settings(first.config["SQLALCHEMY_DATABASE_URI"], LOGIN_RATE_LIMIT="3 per minute"))
    try:
        workers = [first.test_client(), second.test_client()]
        # Inside one minute: the windows are fixed minutes, and a run that crossed one started counting again.
        with clock.frozen(datetime(2026, 12, 6, 12, 0, 10, tzinfo=UTC)):
            answers = [attempt(workers[n % 2], f"pessoa{n}@cliente.example.com").status_code for n in range(5)]
        assert answers == [422, 422, 422, 429, 429]  # one process alone would have allowed 3 each
    finally:  # its pool closed even when the test fails (an open connection warns later, in another test)
        with second.app_context():
            db.engine.dispose()


def test_30_attempts_on_one_account_from_30_ips_are_limited_behind_the_proxy(make_app, engine_name):
    app = make_app(engine_name, PROXY_FIX_X_FOR=1, LOGIN_RATE_LIMIT="100 per minute",
                   LOGIN_ACCOUNT_RATE_LIMIT="10 per minute;50 per hour")
    with app.app_context():
        victim = factories.MembershipFactory(roles=["master"]).user
        db.session.commit()
        email = victim.email
    client = app.test_client()
    answers = [attempt(client, email.upper() if n % 2 else email, ip=f"198.51.100.{n + 1}") for n in range(30)]
    assert [a.status_code for a in answers] == [422] * 10 + [429] * 20
    assert TOO_MANY in answers[-1].get_data(as_text=True)
    # Even the right password waits for the window: the limit is not a hint that the guess was right.
    assert attempt(client, email, PASSWORD, ip="198.51.100.99").status_code == 429
    with app.app_context():  # each attempt was recorded with the client's IP, not the balancer's
        ips = db.session.scalars(select(AuditEvent.ip).where(AuditEvent.tag == AuditTag.LOGIN_FAILED)).all()
        assert sorted(ips) == sorted(f"198.51.100.{n + 1}" for n in range(10))
    other = attempt(client, "outra.pessoa@cliente.example.com", ip="198.51.100.200")
    assert other.status_code == 422  # other accounts are not locked out


def test_without_proxy_fix_the_forwarded_ip_is_not_believed(make_app, engine_name):
    app = make_app(engine_name, LOGIN_RATE_LIMIT="3 per minute", LOGIN_ACCOUNT_RATE_LIMIT="100 per minute")
    client = app.test_client()
    answers = [attempt(client, f"p{n}@cliente.example.com", ip=f"198.51.100.{n + 1}").status_code for n in range(4)]
    assert answers == [422, 422, 422, 429]  # a forged header does not buy a fresh limit


def test_per_ip_limit_behind_the_proxy_counts_each_client_alone(make_app, engine_name):
    app = make_app(engine_name, PROXY_FIX_X_FOR=1, LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    same = [attempt(client, f"a{n}@cliente.example.com", ip="203.0.113.5").status_code for n in range(3)]
    others = [attempt(client, f"b{n}@cliente.example.com", ip=f"203.0.113.{n + 10}").status_code for n in range(3)]
    assert same == [422, 422, 429] and others == [422, 422, 422]


def test_second_factor_codes_are_limited_per_account(make_app, engine_name):
    app = make_app(engine_name, PROXY_FIX_X_FOR=1, LOGIN_RATE_LIMIT="100 per minute",
                   LOGIN_ACCOUNT_RATE_LIMIT="3 per minute")
    with app.app_context():
        staff = factories.StaffUserFactory(roles=["admin"])
        service.start_totp_enrolment(staff)
        staff.totp_enabled_at = staff.created_at
        db.session.commit()
        email = staff.email
    client = app.test_client()
    assert attempt(client, email, PASSWORD, ip="203.0.113.1").headers["Location"] == "/entrar/verificacao"
    codes = [client.post("/entrar/verificacao", data={"code": "abcdef"},  # never a valid code
                         headers={"X-Forwarded-For": f"203.0.113.{n + 2}"}).status_code for n in range(4)]
    assert codes == [422, 422, 422, 429]  # 3 codes a minute for the account, whatever the IP


# ---------------------------------------------------------------- "Esqueci minha senha"

def test_a_known_and_an_unknown_address_get_identical_answers_after_the_same_work(client, world, outbox,
                                                                                   monkeypatch):
    queued = []
    real = portal.accounts.jobs.send_password_reset

    def recording(*args):
        queued.append(args)
        return real(*args)

    monkeypatch.setattr(portal.accounts.jobs, "send_password_reset", recording)
    known_email, unknown_email = world.adm.email, "ninguem@cliente.example.com"
    known = client.post("/senha/esqueci", data={"email": known_email})
    unknown = client.post("/senha/esqueci", data={"email": unknown_email})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True).replace(known_email, "@") == unknown.get_data(as_text=True).replace(
        unknown_email, "@")
    ignored = {"Date", "Set-Cookie", "Content-Length", "X-Request-ID"}  # each request has its own id
    assert {k: v for k, v in known.headers if k not in ignored} == {k: v for k, v in unknown.headers
                                                                     if k not in ignored}
    assert [args[0] for args in queued] == [known_email, unknown_email]  # both queue the same job
    assert [m["To"] for m in outbox] == [known_email]


def test_the_fourth_reset_e_mail_in_an_hour_is_not_sent(client, world, outbox, frozen):
    for _ in range(4):
        assert client.post("/senha/esqueci", data={"email": world.adm.email}).status_code == 200
        frozen.advance(timedelta(minutes=5))
    assert len(outbox) == 3
    throttled = db.session.scalar(select(func.count()).where(AuditEvent.tag == AuditTag.PASSWORD_RESET_THROTTLED))
    assert throttled == 1
    frozen.advance(timedelta(minutes=50))  # the first was sent 65 minutes ago: one slot free again
    client.post("/senha/esqueci", data={"email": world.adm.email})
    assert len(outbox) == 4


@pytest.mark.parametrize("setting", ["LOGIN_RATE_LIMIT", "LOGIN_ACCOUNT_RATE_LIMIT"])
def test_reset_requests_are_limited_per_ip_and_per_address(make_app, engine_name, setting):
    app = make_app(engine_name, PROXY_FIX_X_FOR=1, **{"LOGIN_RATE_LIMIT": "100 per minute",
                                                     "LOGIN_ACCOUNT_RATE_LIMIT": "100 per minute",
                                                     setting: "2 per minute"})
    client = app.test_client()
    same_ip = setting == "LOGIN_RATE_LIMIT"
    answers = []
    for n in range(3):
        ip, email = ("203.0.113.7", f"x{n}@cliente.example.com") if same_ip else (f"203.0.113.{n}", "x@c.example")
        answers.append(client.post("/senha/esqueci", headers={"X-Forwarded-For": ip},
                                   data={"email": email}).status_code)
    assert answers == [200, 200, 429]


def test_ratelimit_enabled_false_turns_the_limits_off(make_app, engine_name):
    app = make_app(engine_name, LOGIN_RATE_LIMIT="1 per minute", RATELIMIT_ENABLED=False)
    client = app.test_client()
    assert {attempt(client, "ana@cliente.example.com").status_code for _ in range(3)} == {422}
