"""factory_boy factories for the models; the session is whatever `db.session` is in the running test."""

import itertools
import uuid
from datetime import date, timedelta

import factory
from werkzeug.security import generate_password_hash

from portal.accounts.models import Membership, MembershipRole, Organization, StaffRoleGrant, User
from portal.catalog.models import BillingFrequency, Product, ProductFamily, ProductPrice, Provider, Term
from portal.extensions import db
from portal.shared import clock
from portal.subscriptions.models import Lot, QuantityChange, Subscription

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


# ---------------------------------------------------------------- catalog and subscriptions

class ProductFamilyFactory(Base):
    class Meta:
        model = ProductFamily

    name = factory.Sequence(lambda n: f"Família {n}")
    description = ""
    position = factory.Sequence(lambda n: n)
    active = True


class ProductFactory(Base):
    """A Microsoft NCE product billed monthly at R$ 78,90 (the spec's P) unless told otherwise."""

    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Produto {n}")
    description = "Licença de teste"
    family = factory.SubFactory(ProductFamilyFactory)
    provider = Provider.MICROSOFT_CSP
    offer_id = factory.Sequence(lambda n: f"CFQ7TTC0{n:04d}:0001:CFQ7TTC0AV{n:02d}")
    term = Term.ANNUAL
    billing_frequency = BillingFrequency.MONTHLY
    decrease_window_hours = 168
    min_quantity = 1
    max_quantity = 300
    active = True

    @factory.post_generation
    def price(self, create, extracted, **kwargs):
        """`ProductFactory(price=7890)`: one price row, effective since 2020 (None: 7890; False: no price)."""
        if extracted is False:
            return
        db.session.add(ProductPrice(product=self, unit_price_cents=7890 if extracted is None else extracted,
                                    effective_from=date(2020, 1, 1)))
        db.session.flush()


def own_service_product(**kwargs) -> Product:
    return ProductFactory(provider=Provider.OWN_SERVICE, offer_id=None, decrease_window_hours=0,
                          term=Term.MONTHLY, **kwargs)


def subscription(organization, product=None, quantity=10, added_at=None, term_start=None, **kwargs) -> Subscription:
    """An active subscription with one lot of `quantity` licenses bought at `added_at` (default: 60 days ago,
    so its decrease window is closed) in a term starting `term_start` (default: that day)."""
    product = product or ProductFactory()
    added_at = added_at or clock.now() - timedelta(days=60)
    term_start = term_start or clock.to_business(added_at).date()
    months = {Term.MONTHLY: 1, Term.ANNUAL: 12, Term.TRIENNIAL: 36}[Term(product.term)]
    from portal.shared.periods import add_months

    fields = {"status": "active", "provider_subscription_id": str(uuid.uuid4()), **kwargs}
    sub = Subscription(organization=organization, product=product, quantity=quantity, term_start=term_start,
                       term_end=add_months(term_start, months), created_at=added_at, **fields)
    db.session.add(sub)
    db.session.flush()
    price = product.price_on(clock.to_business(added_at).date()) or product.prices[-1]
    change = QuantityChange(subscription_id=sub.id, organization_id=organization.id, kind="initial", delta=quantity,
                            quantity_after=quantity, effective_on=term_start, created_at=added_at)
    db.session.add(change)
    db.session.flush()
    db.session.add(Lot(subscription_id=sub.id, change_id=change.id, quantity=quantity,
                       unit_price_cents=price.unit_price_cents, added_at=added_at,
                       window_end=added_at + timedelta(hours=product.decrease_window_hours),
                       billed_cents=price.unit_price_cents * quantity))
    db.session.flush()
    db.session.expire(sub, ["lots"])
    return sub
