"""The accountant's pack routes, for tests/test_permissions.py: the month's download and the "e-mail do contador"
(billing:read: Master and Cobrança), and finance's download of the reseller's books (billing:manage). None has an
object of its own (the organization is the signed-in user's); tests/billing/test_pack.py shows another
organization's data never reaches a pack. The signed link (`billing.accountant_pack_link`) is @public."""

from datetime import date

from tests import factories


def _march_of(organization) -> dict:
    """An invoice of March 2026 with its documents, so a role that may download gets the ZIP (200)."""
    factories.invoice(organization, billing_date=date(2026, 3, 10), with_documents=True)
    return {"mes": "2026-03"}


CUSTOMER_ROUTES = {
    "billing.accountant_pack": ("GET", lambda world: _march_of(world.demo), None),
    "billing.accountant": ("GET", lambda world: {}, None),
    "billing.remove_accountant": ("POST", lambda world: {}, None),
}

STAFF_ROUTES = {
    "backoffice.accountant_pack": ("GET", lambda world: _march_of(world.other)),
}
