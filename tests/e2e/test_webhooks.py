"""Browser, as a customer's Master: Minha conta → Webhooks, an address refused on the form, then an endpoint
registered through the rendered form (loopback allowed in the test app), its secret shown once, "Testar", and
the delivery log showing the receiver's 200 — the receiver verified the signature with that secret; then
"Trocar segredo" after its confirmation shows a new secret."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.roles import Role
from portal.extensions import db
from portal.webhooks.models import WebhookEndpoint
from tests.e2e.customers import PEOPLE, new_customer
from tests.e2e.pagecheck import PageChecks
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver():
    fake = WebhookReceiver().start()
    yield fake
    fake.stop()


def test_master_registers_a_webhook_sees_the_secret_once_and_tests_it(page, log_in, live_server, check_page,
                                                                      receiver):
    checks = PageChecks(check_page)
    customer = new_customer(live_server.app, roles=(Role.MASTER,))
    log_in(page, customer.master_email)

    page.get_by_role("link", name=PEOPLE[Role.MASTER][0]).first.click()
    page.get_by_test_id("integrations-webhooks").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    expect(page.get_by_test_id("no-endpoints")).to_be_visible()
    checks(page)

    form = page.get_by_test_id("endpoint-form")
    form.get_by_label("Endereço (URL)").fill("ftp://erp.example.com/hooks")
    form.get_by_label("Fatura paga").check()
    form.get_by_role("button", name="Cadastrar webhook").click()
    expect(page.locator("#url-error")).to_have_text("O endereço deve começar com https://.")
    expect(form.get_by_label("Endereço (URL)")).to_have_value("ftp://erp.example.com/hooks")
    expect(form.get_by_label("Fatura paga")).to_be_checked()
    checks(page)

    form.get_by_label("Endereço (URL)").fill(receiver.url + "/portal")
    form.get_by_label("Pedido concluído").check()
    form.get_by_role("button", name="Cadastrar webhook").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Segredo do webhook")
    secret = page.get_by_test_id("secret").input_value()
    assert secret.startswith("whsec_")
    checks(page)
    receiver.secret = secret

    page.get_by_role("link", name="Já copiei, continuar").click()
    expect(page.get_by_test_id("no-deliveries")).to_be_visible()
    assert secret not in page.content()
    checks(page)

    page.get_by_test_id("endpoint-actions").get_by_role("button", name="Testar").click()
    expect(page.get_by_role("status")).to_contain_text("Evento de teste enviado.")
    row = page.get_by_test_id("delivery-row").first
    expect(row).to_contain_text("Teste")
    expect(row.get_by_test_id("delivery-status")).to_have_text("200")
    assert [payload["type"] for payload in receiver.verified()] == ["webhook.test"]
    checks(page)

    # Trocar segredo asks first; dismissed, nothing changes; accepted, a new secret is shown once.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("endpoint-actions").get_by_role("button", name="Trocar segredo").click()
    page.wait_for_load_state("load")
    expect(page).to_have_url(re.compile(r"/integracoes/webhooks/\d+$"))
    with live_server.app.app_context():
        stored = select(WebhookEndpoint.secret).where(WebhookEndpoint.url == receiver.url + "/portal")
        assert db.session.scalar(stored) == secret  # dismissed: not rotated
        db.session.remove()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("endpoint-actions").get_by_role("button", name="Trocar segredo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Segredo do webhook")
    rotated = page.get_by_test_id("secret").input_value()
    assert rotated.startswith("whsec_") and rotated != secret
    checks(page)
    checks.assert_clean()
