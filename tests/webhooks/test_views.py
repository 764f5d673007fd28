"""The Master's webhook pages: register (the secret shown once), refusals on the form with the input kept, testar
with the delivery log, trocar segredo, desativar/ativar, reenviar, excluir; the link in "Minha conta"."""

import re

from sqlalchemy import func, select

from portal.extensions import db
from portal.shared.audit import AuditEvent, AuditTag
from portal.webhooks.models import WebhookEndpoint
from tests import html
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.webhooks import objects

BASE = "/integracoes/webhooks"


def _register(client, url: str, events=("invoice.paid", "order.completed")):
    return client.post(BASE, data={"url": url, "description": "ERP financeiro", "events": list(events)})


def test_a_master_registers_an_endpoint_and_sees_its_secret_once(login_as, world):
    client = login_as("master")
    receiver = WebhookReceiver().start()
    try:
        response = _register(client, receiver.url + "/hooks")
        secret = html.input_value(response, "secret", id_="secret")
        assert response.status_code == 200 and secret.startswith("whsec_")
        assert response.headers["Cache-Control"] == "no-store"
        endpoint = db.session.scalar(select(WebhookEndpoint))
        assert (endpoint.url, endpoint.events, endpoint.enabled) == (receiver.url + "/hooks",
                                                                     ["invoice.paid", "order.completed"], True)
        listing = client.get(BASE)
        assert receiver.url in html.visible(listing) and secret not in html.text(listing)
        page = client.get(f"{BASE}/{endpoint.id}")
        assert secret not in html.text(page)
        assert "Nenhuma entrega até agora" in html.visible(page)

        # Testar: the receiver gets a signed webhook.test; the log shows the 200.
        receiver.secret = secret
        flashed = html.follow(client, client.post(f"{BASE}/{endpoint.id}/testar"))
        assert flashed == ["Evento de teste enviado. O resultado aparece no registro de entregas."]
        assert [p["type"] for p in receiver.verified()] == ["webhook.test"]
        log = html.section(client.get(f"{BASE}/{endpoint.id}"), "delivery-log")
        assert "Teste webhook.test 1 200" in log
    finally:
        receiver.stop()
    subject = f"webhook_endpoint:{endpoint.id}"
    assert list(db.session.scalars(select(AuditEvent.tag).where(AuditEvent.subject == subject))) == [
        AuditTag.WEBHOOK_ENDPOINT_CREATED]


def test_refusals_come_back_on_the_form_with_the_input_kept(login_as, world, app_ctx, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "WEBHOOKS_ALLOW_LOOPBACK", False)
    client = login_as("master")
    response = _register(client, "https://127.0.0.1/hooks")
    assert response.status_code == 422
    assert html.field_errors(response) == [
        "Esse endereço aponta para uma rede privada ou local. Use um endereço público na internet."]
    assert html.input_value(response, "url") == "https://127.0.0.1/hooks"
    checked = re.findall(r'<input[^>]*\bchecked\b[^>]*value="([a-z._]+)"', html.text(response))
    assert checked == ["invoice.paid", "order.completed"]
    response = _register(client, "http://exemplo.com.br/hooks", events=())
    assert response.status_code == 422
    assert "Escolha pelo menos um evento." in html.field_errors(response)
    assert db.session.scalar(select(func.count(WebhookEndpoint.id))) == 0


def test_rotate_disable_enable_resend_and_delete(login_as, world):
    client = login_as("master")
    endpoint = objects.endpoint(world.demo)
    old = endpoint.secret
    found = objects.delivery(endpoint)
    db.session.commit()

    page = html.shown(client.get(f"{BASE}/{endpoint.id}"))
    form = html.submission(page, f"{BASE}/{endpoint.id}/segredo")
    rotated = client.post(f"{BASE}/{endpoint.id}/segredo", data=form)
    new = html.input_value(rotated, "secret", id_="secret")
    assert new.startswith("whsec_") and new != old
    assert "O anterior deixou de valer" in html.visible(rotated)

    assert html.follow(client, client.post(f"{BASE}/{endpoint.id}/desativar")) == [
        "Webhook desativado. Os eventos deixam de ser enviados a ele."]
    assert "desativado" in html.section(client.get(f"{BASE}/{endpoint.id}"), "endpoint-status")
    assert html.follow(client, client.post(f"{BASE}/{endpoint.id}/entregas/{found.id}/reenviar")) == [
        "Ative o webhook antes de reenviar."]
    assert html.follow(client, client.post(f"{BASE}/{endpoint.id}/ativar")) == ["Webhook ativado."]
    assert html.follow(client, client.post(f"{BASE}/{endpoint.id}/entregas/{found.id}/reenviar")) == [
        "Entrega reenviada. O resultado aparece no registro de entregas."]
    log = html.section(client.get(f"{BASE}/{endpoint.id}"), "delivery-log")
    assert "conexão recusada ou interrompida" in log  # nothing listens at objects.NOWHERE

    # A delivery of another endpoint (even of the same organization) is not this endpoint's.
    other = objects.delivery(objects.endpoint(world.demo))
    db.session.commit()
    assert client.post(f"{BASE}/{endpoint.id}/entregas/{other.id}/reenviar").status_code == 404

    assert html.follow(client, client.post(f"{BASE}/{endpoint.id}/excluir")) == ["Webhook excluído."]
    assert db.session.get(WebhookEndpoint, endpoint.id) is None
    tags = list(db.session.scalars(select(AuditEvent.tag).where(AuditEvent.subject == f"webhook_endpoint:{endpoint.id}")
                                   .order_by(AuditEvent.seq)))
    assert tags == [AuditTag.WEBHOOK_SECRET_ROTATED, AuditTag.WEBHOOK_ENDPOINT_DISABLED,
                    AuditTag.WEBHOOK_ENDPOINT_ENABLED, AuditTag.WEBHOOK_ENDPOINT_DELETED]


def test_minha_conta_links_to_webhooks_for_the_master_only(login_as, world):
    assert "Webhooks" in html.section(login_as("master").get("/conta"), "integrations-webhooks")
    assert "integrations-webhooks" not in html.text(login_as("adm").get("/conta"))
