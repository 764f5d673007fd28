"""The backoffice's Pix simulator button, for tests/test_permissions.py."""

from tests.backoffice.routes_billing import _invoice

STAFF_ROUTES = {
    # With PIX_BACKEND=static (the tests' default) the button answers with a message and a redirect: the POST
    # itself, with the simulator, is tested in tests/billing/test_pix_simulator.py and tests/e2e.
    "backoffice.invoice_simulated_pix": ("POST", _invoice),
}
