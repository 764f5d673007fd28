"""Demo data: two customer organizations with a user per role, and one staff user per staff role.

Loaded by `flask --app wsgi demo`, or by `make run` when the database is empty in development.
Every demo password is DEMO_PASSWORD; staff sign in with two-factor using DEMO_TOTP_SECRET.
"""

import pyotp
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from portal.accounts.models import Membership, MembershipRole, Organization, StaffRoleGrant, User
from portal.accounts.roles import Role, StaffRole
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record

# Base32; enter it in any authenticator app, or run `flask --app wsgi demo-code`.
DEMO_TOTP_SECRET = "PORTALDEMOSTAFFXYZ234567ABCDEFGH"  # noqa: S105 - public demo key, documented

ORGANIZATIONS = [
    {
        "legal_name": "Demo Tecnologia Ltda", "trade_name": "Demo Tecnologia", "cnpj": "11222333000181",
        "street": "Avenida Paulista", "number": "1000", "complement": "10º andar", "district": "Bela Vista",
        "city": "São Paulo", "state": "SP", "postal_code": "01310100", "billing_day": 10,
        "users": [
            ("master@demo.example.com", "Marina Master", {Role.MASTER}),
            ("adm@demo.example.com", "Antônio Adm", {Role.ADM}),
            ("cobranca@demo.example.com", "Carla Cobrança", {Role.COBRANCA}),
            ("suporte@demo.example.com", "Sérgio Suporte", {Role.SUPORTE}),
        ],
    },
    {
        "legal_name": "Outra Empresa S.A.", "trade_name": "Outra Empresa", "cnpj": "12ABC34501DE35",
        "street": "Rua da Assembleia", "number": "10", "complement": "", "district": "Centro",
        "city": "Rio de Janeiro", "state": "RJ", "postal_code": "20011000", "billing_day": 25,
        "users": [("master@outra.example.com", "Otávio Master", {Role.MASTER})],
    },
]

STAFF = [
    ("comercial@staff.example.com", "Camila Comercial", StaffRole.COMERCIAL),
    ("financeiro@staff.example.com", "Fábio Financeiro", StaffRole.FINANCEIRO),
    ("suporte@staff.example.com", "Sônia Suporte", StaffRole.SUPORTE),
    ("compliance@staff.example.com", "Cláudio Compliance", StaffRole.COMPLIANCE),
    ("admin@staff.example.com", "Alice Admin", StaffRole.ADMIN),
]


def database_is_empty() -> bool:
    return not db.session.scalar(select(func.count(User.id)))


def demo_logins() -> list[tuple[str, str]]:
    """(e-mail, what it is) for the README and `make run`."""
    rows = []
    for org in ORGANIZATIONS:
        for email, _name, roles in org["users"]:
            rows.append((email, f"{org['trade_name']}: {', '.join(sorted(r.value for r in roles))}"))
    rows += [(email, f"staff: {role.value}") for email, _name, role in STAFF]
    return rows


def load(password: str, hash_method: str = "scrypt") -> bool:
    """Create the demo data; returns False (and changes nothing) if it is already there."""
    if db.session.execute(select(User.id).where(User.email == STAFF[-1][0])).first():
        return False
    actor = Actor.system("demo")
    password_hash = generate_password_hash(password, method=hash_method)
    now = clock.now()
    for spec in ORGANIZATIONS:
        fields = {k: v for k, v in spec.items() if k != "users"}
        org = Organization(**fields)
        db.session.add(org)
        for email, name, roles in spec["users"]:
            user = User(email=email, name=name, phone="(11) 3000-0000", password_hash=password_hash)
            membership = Membership(user=user, organization=org, accepted_at=now)
            membership.role_rows = [MembershipRole(role=str(r)) for r in sorted(roles)]
            db.session.add(membership)
        db.session.flush()
        record(AuditTag.ORGANIZATION_CREATED, actor=actor, organization_id=org.id,
               subject=f"organization:{org.id}", after={"legal_name": org.legal_name, "demo": True})
    for email, name, role in STAFF:
        user = User(email=email, name=name, password_hash=password_hash, is_staff=True,
                    totp_secret=DEMO_TOTP_SECRET, totp_enabled_at=now)
        user.staff_role_rows = [StaffRoleGrant(role=str(role))]
        db.session.add(user)
        db.session.flush()
        record(AuditTag.STAFF_USER_CREATED, actor=actor, subject=f"user:{user.id}",
               after={"email": email, "roles": [role.value], "demo": True})
    db.session.commit()
    return True


def current_code() -> str:
    return pyotp.TOTP(DEMO_TOTP_SECRET).at(clock.now())
