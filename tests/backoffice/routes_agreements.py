"""The backoffice "Contratos" routes, for tests/test_permissions.py."""

from tests.agreements.routes import make_acceptance, make_version, version_with_pdf


def _failed_acceptance(world) -> dict:
    acceptance = make_acceptance(world.demo, make_version(), provider_status="failed",
                                 provider_error="800002: Invalid request input.")
    return {"acceptance_id": acceptance.id}


def _demo(world) -> dict:
    return {"organization_id": world.demo.id}


STAFF_ROUTES = {
    "backoffice.agreements": ("GET", {}),
    "backoffice.agreement_versions": ("GET", {}),
    "backoffice.agreement_publish": ("GET", {}),
    "backoffice.agreement_pdf": ("GET", version_with_pdf),
    "backoffice.agreement_customer": ("GET", _demo),
    "backoffice.agreement_attest": ("POST", _demo),  # an empty form: allowed, refused with 422
    "backoffice.agreement_resend": ("POST", _failed_acceptance),
}
