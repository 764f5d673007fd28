"""Browser: an Adm cancels a license with a reason; compliance finds it, with the same text, in the audit."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.pagecheck import PageChecks

pytestmark = pytest.mark.e2e

PRODUCT = "Microsoft 365 Business Standard"  # test_licenses.py changes Defender; keep them apart


def test_adm_cancels_and_compliance_finds_the_same_reason(page, another_browser, log_in, check_page):
    checks = PageChecks(check_page)
    # A reason nobody else wrote: the audit must show this very text.
    reason = f"Migramos a proteção de endpoints para outra ferramenta ({uuid.uuid4().hex[:8]})."

    log_in(page, "adm@demo.example.com")
    page.goto("/licencas")
    row = page.get_by_test_id("licenses-table").get_by_role("row").filter(has_text=PRODUCT)
    checks(page)
    row.get_by_role("link", name=re.compile("^Cancelar")).click()
    checks(page)

    page.get_by_label("Motivo do cancelamento").select_option(label="Migração para outro fornecedor")
    page.get_by_label("Explique o motivo").fill("curto demais")
    page.get_by_role("button", name="Ver as consequências antes de confirmar").click()
    expect(page.get_by_text("Explique o motivo com pelo menos 20 caracteres.")).to_be_visible()  # refused, text kept
    expect(page.get_by_label("Explique o motivo")).to_have_value("curto demais")

    page.get_by_label("Explique o motivo").fill(reason)
    page.get_by_role("button", name="Ver as consequências antes de confirmar").click()
    expect(page.get_by_test_id("consequences")).to_be_visible()
    expect(page.get_by_test_id("ends-later")).to_contain_text("sem crédito")  # bought long ago: ends at term end
    checks(page)

    page.get_by_role("textbox", name="Sua senha").fill("senha-errada")
    page.get_by_role("button", name="Confirmar cancelamento").click()
    expect(page.get_by_text("Senha incorreta", exact=False)).to_be_visible()
    page.get_by_role("textbox", name="Sua senha").fill("Portal#Demo2026")
    page.get_by_role("button", name="Confirmar cancelamento").click()
    expect(page).to_have_url(re.compile(r"/licencas$"))
    checks(page)

    compliance = another_browser()
    log_in(compliance, "compliance@staff.example.com", totp=True)
    compliance.goto("/backoffice/auditoria/cancelamentos")
    found = compliance.get_by_test_id("cancellations-table").get_by_role("row").filter(has_text=reason)
    expect(found).to_have_count(1)
    expect(found).to_contain_text("Demo Tecnologia")
    expect(found).to_contain_text("adm@demo.example.com")
    expect(found).to_contain_text("Migração para outro fornecedor")
    expect(found.get_by_test_id("reason")).to_have_text(reason)
    checks(compliance)
    checks.assert_clean()
