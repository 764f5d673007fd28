"""The demo data shows "Uso de licenças" with meaningful numbers on the day it is loaded."""

from sqlalchemy import select

from portal.accounts.models import Organization
from portal.extensions import db
from portal.licence_usage import service


def test_demo_has_unassigned_and_inactive_licences_and_a_tenant_without_consent(make_app, engine_name):
    app = make_app(engine_name)
    assert "demo data loaded" in app.test_cli_runner().invoke(args=["demo"]).output
    with app.app_context():
        demo = db.session.scalar(select(Organization).where(Organization.legal_name == "Demo Tecnologia Ltda"))
        lines = {line.part_number: line for line in service.overview(demo).lines}
        standard = lines["O365_BUSINESS_PREMIUM"]
        assert (standard.enabled, standard.consumed, standard.inactive) == (12, 9, 2)
        assert [share.reduce for share in standard.subscriptions] == [5]
        assert lines["O365_BUSINESS_ESSENTIALS"].reducible == 1
        assert service.unused_lines(demo)
        other = db.session.scalar(select(Organization).where(Organization.legal_name == "Outra Empresa S.A."))
        assert service.overview(other).status == "consent_missing"
        db.session.remove()
