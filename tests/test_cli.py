"""The command-line verbs: demo data, the demo two-factor code, staff creation."""

import pyotp
from sqlalchemy import func, select

from portal import demo
from portal.accounts.models import Membership, Organization, User
from portal.extensions import db
from portal.shared import clock


def _run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_demo_creates_the_documented_organizations_and_logins(make_app, engine_name):
    app = make_app(engine_name)
    result = _run(app, "demo")
    assert result.exit_code == 0 and "demo data loaded" in result.output
    with app.app_context():
        names = set(db.session.scalars(select(Organization.legal_name)))
        assert names == {"Demo Tecnologia Ltda", "Outra Empresa S.A."}
        emails = set(db.session.scalars(select(User.email)))
        assert {email for email, _what in demo.demo_logins()} == emails
        master = db.session.scalar(select(User).where(User.email == "master@demo.example.com"))
        assert {m.organization.legal_name for m in master.memberships} == {"Demo Tecnologia Ltda"}
        staff = db.session.scalar(select(User).where(User.email == "compliance@staff.example.com"))
        assert staff.is_staff and staff.totp_enabled and not staff.memberships
    again = _run(app, "demo")
    assert "already present" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Membership.id))) == 5


def test_demo_if_empty_only_loads_into_an_empty_development_database(make_app, engine_name):
    app = make_app(engine_name, PORTAL_ENV="development")
    assert "demo data loaded" in _run(app, "demo", "--if-empty").output
    assert "not loaded" in _run(app, "demo", "--if-empty").output
    production_like = make_app(engine_name, PORTAL_ENV="test")
    assert "only in development" in _run(production_like, "demo", "--if-empty").output


def test_demo_code_is_the_current_totp(app):
    result = _run(app, "demo-code")
    assert pyotp.TOTP(demo.DEMO_TOTP_SECRET).verify(result.output.strip(), for_time=clock.now(), valid_window=1)


def test_staff_create(make_app, engine_name):
    app = make_app(engine_name)
    result = _run(app, "staff", "create", "Nova@Staff.example.com", "--name", "Nova Pessoa", "--role", "financeiro",
                  input="Contas#Seguras9\nContas#Seguras9\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "nova@staff.example.com"))
        assert user.is_staff and user.staff_roles == {"financeiro"}
    duplicate = _run(app, "staff", "create", "nova@staff.example.com", "--name", "X", "--role", "admin",
                     input="Contas#Seguras9\nContas#Seguras9\n")
    assert duplicate.exit_code != 0 and "Já existe" in duplicate.output
    weak = _run(app, "staff", "create", "fraca@staff.example.com", "--name", "Fraca", "--role", "admin",
                input="curta\ncurta\n")
    assert weak.exit_code != 0 and "pelo menos" in weak.output
