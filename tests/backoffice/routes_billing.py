"""The backoffice "Faturas" and "Faturamento" routes, for tests/test_permissions.py."""

from datetime import date

from tests import factories


def _invoice(world) -> dict:
    return {"invoice_id": factories.invoice(world.demo, total_cents=100_000, billing_date=date(2026, 3, 10)).id}


STAFF_ROUTES = {
    "backoffice.invoices": ("GET", {}),
    "backoffice.invoice": ("GET", _invoice),
    # GET shows the form; the POST that records money is checked role by role in tests/backoffice/test_billing.py.
    "backoffice.invoice_payment": ("GET", _invoice),
    "backoffice.billing_run": ("GET", {}),
}

STAFF_ROUTES.update({
    "backoffice.correct_invoice": ("GET", _invoice),
    "backoffice.reissue_invoice": ("POST", _invoice),
    "backoffice.cancel_note": ("POST", _invoice),
    "backoffice.credit_note": ("POST", _invoice),
})

STAFF_ROUTES.update({
    "backoffice.bank_files": ("GET", {}),
    "backoffice.bank_remessa": ("POST", {}),
    "backoffice.bank_simulate": ("POST", {}),
})
