"""Shared set-up of the licence-use tests: a tenant read by the simulator with two SKUs of the organization's
subscriptions and one SKU the portal does not sell."""

from datetime import date

from portal.extensions import db
from portal.integrations.graph import InactiveUser, SimulatedTenant, SkuUsage
from portal.licence_usage import service
from tests import factories

STANDARD = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"
BASIC = "3b555118-da6a-4418-894f-7df1e2096870"
EXCHANGE = "4b9405b0-7788-4568-add1-99614e613b69"


def tenant_of(organization, index: int = 1) -> str:
    organization.microsoft_tenant_id = f"00000000-0000-4000-8000-{organization.id:06d}{index:06d}"
    db.session.flush()
    return organization.microsoft_tenant_id


def standard_product(**kwargs):
    return factories.ProductFactory(name="Microsoft 365 Business Standard", microsoft_sku_id=STANDARD,
                                    microsoft_sku_part_number="O365_BUSINESS_PREMIUM", **kwargs)


def basic_product(**kwargs):
    return factories.ProductFactory(name="Microsoft 365 Business Basic", microsoft_sku_id=BASIC,
                                    microsoft_sku_part_number="O365_BUSINESS_ESSENTIALS", **kwargs)


def simulated(*, consent=True, reports=True, concealed=False) -> SimulatedTenant:
    """Standard: 20 bought, 17 assigned, 2 of them inactive; Basic: 5 of 5; Exchange (not sold here): 3 of 1."""
    return SimulatedTenant(
        skus=[SkuUsage(STANDARD, "O365_BUSINESS_PREMIUM", 20, 17), SkuUsage(BASIC, "O365_BUSINESS_ESSENTIALS", 5, 5),
              SkuUsage(EXCHANGE, "EXCHANGESTANDARD", 3, 1)],
        inactive=[InactiveUser("bruno@cliente.example.com", date(2026, 10, 1), ("O365_BUSINESS_PREMIUM",)),
                  InactiveUser("carla@cliente.example.com", None, ("O365_BUSINESS_PREMIUM",))],
        consent=consent, reports=reports, concealed=concealed)


def read(app, organization, **kwargs):
    """The organization's tenant as `simulated(**kwargs)`, read now (a committed snapshot)."""
    tenant = organization.microsoft_tenant_id or tenant_of(organization)
    reader = app.extensions["licence_usage"]
    reader.set_tenant(tenant, simulated(**kwargs))
    return service.refresh(organization, reader=reader)
