"""Fixtures of the purchase offer tests: 11 March 2026 (15:00 in São Paulo), a small catalog, actors."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from tests import factories

MARCH_11 = datetime(2026, 3, 11, 18, 0, tzinfo=UTC)  # 15:00 in São Paulo


@pytest.fixture
def march(app_ctx, world):
    """The clock on 2026-03-11 15:00 (São Paulo); Demo Tecnologia billed on day 1 (period 03-01 → 04-01)."""
    world.demo.billing_day = 1
    world.demo.microsoft_tenant_id = "00000000-0000-4000-8000-000000000001"
    world.other.billing_day = 1
    db.session.commit()
    with clock.frozen(MARCH_11):
        yield clock


@pytest.fixture
def catalog(app_ctx):
    """Two Microsoft products (R$ 78,90 and R$ 19,25 a month) and an own service limited to 1–10 licenses."""
    family = factories.ProductFamilyFactory(name="Microsoft 365", position=1)
    standard = factories.ProductFactory(name="Microsoft 365 Business Standard", sku="M365-BS", family=family,
                                        max_quantity=300)
    defender = factories.ProductFactory(name="Defender for Business", sku="DEF-B", family=family, price=1925)
    vault = factories.own_service_product(name="Backup Cofre 1 TB", sku="BKP-1TB", family=family, price=19900,
                                          max_quantity=10)
    return SimpleNamespace(family=family, standard=standard, defender=defender, vault=vault)


@pytest.fixture
def comercial(world):
    return Actor.for_user(world.staff_comercial, ip="198.51.100.9", user_agent="pytest")
