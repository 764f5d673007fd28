"""Browser: compliance publishes a signed checkpoint of the audit chain from the trail (issue 19, point 1), then
checks the chain's integrity, which now covers the checkpoint too. Every page on the way passes `check_page`."""

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.shared.audit import AuditCheckpoint
from tests.e2e.pagecheck import PageChecks
from tests.e2e.staff_walk import flash, staff_nav

pytestmark = pytest.mark.e2e

COMPLIANCE = "compliance@staff.example.com"


def test_compliance_publishes_a_checkpoint_and_verifies_the_chain(page, log_in, check_page, page_watch, live_server):
    checks = PageChecks(check_page)
    log_in(page, COMPLIANCE, totp=True)
    staff_nav(page, "Auditoria")
    page.get_by_role("link", name="Trilha de auditoria").click()
    checks(page)
    page.get_by_role("button", name="Publicar ponto de controle assinado").click()
    flash(page, "Ponto de controle assinado publicado no evento")
    checks(page)
    with live_server.app.app_context():
        checkpoint = db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).first()
        assert checkpoint.made_by == COMPLIANCE
        db.session.remove()
    page.get_by_role("button", name="Verificar integridade").click()
    flash(page, "Trilha de auditoria íntegra")
    checks(page)
    checks.assert_clean()
