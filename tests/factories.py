"""factory_boy factories for the models; the session is whatever `db.session` is in the running test."""

import itertools

import factory
from werkzeug.security import generate_password_hash

from portal.accounts.models import Membership, MembershipRole, Organization, StaffRoleGrant, User
from portal.extensions import db
from portal.shared import clock

PASSWORD = "Portal#Demo2026"
# Hashed once, cheaply: factories make many users.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")

_cnpj_roots = itertools.count(10_000_000)


def valid_cnpj(root: int | None = None, branch: int = 1) -> str:
    """A valid numeric CNPJ built from an 8-digit root and a 4-digit branch."""
    base = f"{root if root is not None else next(_cnpj_roots):08d}{branch:04d}"

    def dv(chars: str, weights: list[int]) -> int:
        r = sum(int(c) * w for c, w in zip(chars, weights, strict=True)) % 11
        return 0 if r < 2 else 11 - r

    d1 = dv(base, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    d2 = dv(base + str(d1), [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{base}{d1}{d2}"


class Base(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731 - the test's current session
        sqlalchemy_session_persistence = "flush"


class OrganizationFactory(Base):
    class Meta:
        model = Organization

    legal_name = factory.Sequence(lambda n: f"Empresa {n} Ltda")
    trade_name = factory.Sequence(lambda n: f"Empresa {n}")
    cnpj = factory.LazyFunction(valid_cnpj)
    street = "Rua Augusta"
    number = "100"
    complement = ""
    district = "Consolação"
    city = "São Paulo"
    state = "SP"
    postal_code = "01304000"
    billing_day = 10


class UserFactory(Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@cliente.example.com")
    name = factory.Sequence(lambda n: f"Pessoa {n}")
    phone = "(11) 99999-0000"
    password_hash = PASSWORD_HASH
    active = True


class StaffUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@staff.example.com")
    is_staff = True

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        self.staff_role_rows = [StaffRoleGrant(role=r) for r in (extracted or ["admin"])]
        db.session.flush()


class MembershipFactory(Base):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    active = True
    accepted_at = factory.LazyFunction(clock.now)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        self.role_rows = [MembershipRole(role=r) for r in (extracted or ["adm"])]
        db.session.flush()
