"""The backoffice "Conciliação" routes, for tests/test_permissions.py."""

from portal.billing import exceptions
from portal.billing.models import ExceptionKind


def _exception(world) -> dict:
    row = exceptions.open_exception(ExceptionKind.UNKNOWN, "Nosso número 99999999 desconhecido.", {})
    return {"exception_id": row.id}


STAFF_ROUTES = {
    "backoffice.reconciliation": ("GET", {}),
    "backoffice.reconciliation_csv": ("GET", {}),
    # POST without a note: allowed roles get the page back with the message (422); resolving is in test_reconciliation.
    "backoffice.resolve_exception": ("POST", _exception),
}
