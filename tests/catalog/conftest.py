"""Fixtures of the catalog tests: 11 March 2026 with Demo Tecnologia billed on day 1, a small catalog, actors."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from portal.catalog.models import BillingFrequency
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories

MARCH_11 = datetime(2026, 3, 11, 18, 0, tzinfo=UTC)  # 15:00 in São Paulo


@pytest.fixture
def march(app_ctx, world):
    """The clock on 2026-03-11 15:00 (São Paulo); Demo Tecnologia billed on day 1 (period 03-01 → 04-01, 31 days)."""
    world.demo.billing_day = 1
    world.other.billing_day = 1
    db.session.commit()
    with clock.frozen(MARCH_11):
        yield clock


@pytest.fixture
def catalog(app_ctx):
    """Three families in display order and products the way a reseller sells them (R$ 78,90 a month unless told)."""
    m365 = factories.ProductFamilyFactory(name="Microsoft 365", position=1)
    security = factories.ProductFamilyFactory(name="Segurança", position=2)
    backup = factories.ProductFamilyFactory(name="Backup em Nuvem", position=3)
    standard = factories.ProductFactory(name="Microsoft 365 Business Standard", sku="M365-BS", family=m365,
                                        description="E-mail, Teams e Office para empresas", max_quantity=300)
    basic = factories.ProductFactory(name="Microsoft 365 Business Basic", sku="M365-BB", family=m365, price=3590)
    annual = factories.ProductFactory(name="Microsoft 365 E3 (cobrança anual)", sku="M365-E3-A", family=m365,
                                      billing_frequency=BillingFrequency.ANNUAL, price=94680)
    defender = factories.ProductFactory(name="Defender for Business", sku="DEF-B", family=security,
                                        description="Proteção de endpoints com detecção e resposta", price=1925)
    vault = factories.own_service_product(name="Backup Cofre 1 TB", sku="BKP-1TB", family=backup, price=19900,
                                          description="Cópia diária com retenção de 30 dias")
    return SimpleNamespace(m365=m365, security=security, backup=backup, standard=standard, basic=basic,
                           annual=annual, defender=defender, vault=vault)


@pytest.fixture
def admin_actor(world):
    return Actor.for_user(world.staff_admin, ip="198.51.100.9", user_agent="pytest")


@pytest.fixture
def adm_actor(world):
    return Actor.for_user(world.adm, ip="203.0.113.7", user_agent="pytest")

