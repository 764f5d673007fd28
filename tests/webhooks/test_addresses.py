"""SSRF: only https:// addresses resolving to public IPs are accepted, at registration and at each attempt (a
name that resolves elsewhere later — DNS rebinding — is refused then), and the adapter refuses a peer it may not
talk to; WEBHOOKS_ALLOW_LOOPBACK admits loopback and plain http (tests and local trials)."""

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.integrations import webhook_http
from portal.shared.audit import Actor
from portal.shared.errors import ServiceError
from portal.webhooks import addresses, outbox, service
from portal.webhooks.addresses import AddressRefused, check_url, ip_allowed
from portal.webhooks.models import WebhookAttempt
from tests.fakes.webhook_receiver import WebhookReceiver

PUBLIC = "93.184.216.34"

REFUSED = [
    "https://127.0.0.1/hook", "https://127.10.20.30/hook", "https://10.0.0.1/hook", "https://10.255.255.254/hook",
    "https://172.16.0.1/hook", "https://172.31.255.1/hook", "https://192.168.0.10/hook",
    "https://169.254.169.254/latest/meta-data", "https://0.0.0.0/hook", "https://[::1]/hook", "https://[fc00::1]/hook",
    "https://[fd12:3456::1]/hook", "https://[fe80::1]/hook", "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:10.0.0.1]/hook", "https://100.64.0.1/hook", "https://224.0.0.1/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_local_ranges_are_refused(url):
    with pytest.raises(AddressRefused) as refused:
        check_url(url, allow_loopback=False)
    assert refused.value.reason == "private"


def test_a_public_address_is_accepted():
    assert check_url(f"https://{PUBLIC}/hooks", allow_loopback=False).addresses == (PUBLIC,)


@pytest.mark.parametrize(("url", "reason"), [
    (f"http://{PUBLIC}/hooks", "scheme"), (f"ftp://{PUBLIC}/hooks", "scheme"), ("https:///hooks", "format"),
    ("", "format"), (f"https://user:senha@{PUBLIC}/hooks", "credentials"), ("https://x" + "a" * 2000, "format"),
    (f"https://{PUBLIC}:99999/", "format"),
])
def test_malformed_addresses_are_refused(url, reason):
    with pytest.raises(AddressRefused) as refused:
        check_url(url, allow_loopback=False)
    assert refused.value.reason == reason


def test_a_name_resolving_to_loopback_is_refused_without_the_setting():
    with pytest.raises(AddressRefused) as refused:
        check_url("https://localhost/hooks", allow_loopback=False)
    assert refused.value.reason == "private"
    assert check_url("http://localhost/hooks", allow_loopback=True).host == "localhost"


def test_one_private_answer_among_public_ones_is_enough_to_refuse(monkeypatch):
    monkeypatch.setattr(addresses, "resolve", lambda host, port: [PUBLIC, "10.0.0.7"])
    with pytest.raises(AddressRefused):
        check_url("https://erp.cliente.com.br/hooks", allow_loopback=False)


def test_the_setting_admits_loopback_but_never_private_ranges():
    assert ip_allowed("127.0.0.1", allow_loopback=True) and ip_allowed("::1", allow_loopback=True)
    for address in ("10.0.0.1", "192.168.1.1", "169.254.169.254", "172.16.0.1", "fc00::1", "fe80::1", "0.0.0.0"):  # noqa: S104 - refused, not bound
        assert not ip_allowed(address, allow_loopback=True), address


def test_registration_refuses_a_private_address_with_a_clear_message(app_ctx, world, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "WEBHOOKS_ALLOW_LOOPBACK", False)
    for url, words in (("https://localhost/hooks", "rede privada ou local"), ("http://exemplo.com.br/", "https://"),
                       ("https://169.254.169.254/", "rede privada ou local")):
        with pytest.raises(ServiceError) as refused:
            service.create_endpoint(world.demo, url=url, description="", events=["invoice.paid"],
                                    actor=Actor.for_user(world.master))
        assert refused.value.field == "url" and words in refused.value.message


def test_a_name_that_resolves_to_loopback_later_is_refused_at_delivery(app_ctx, world, monkeypatch):
    """DNS rebinding: public when registered, 127.0.0.1 when the attempt is made → no request, the attempt says
    the address was refused."""
    receiver = WebhookReceiver().start()
    try:
        port = receiver.url.rsplit(":", 1)[1]
        monkeypatch.setitem(app_ctx.config, "WEBHOOKS_ALLOW_LOOPBACK", False)
        monkeypatch.setattr(addresses, "resolve", lambda host, port: [PUBLIC])
        endpoint, _secret = service.create_endpoint(world.demo, url=f"https://rebind.example.com:{port}/hooks",
                                                    description="", events=["invoice.paid"],
                                                    actor=Actor.for_user(world.master))
        monkeypatch.setattr(addresses, "resolve", lambda host, port: ["127.0.0.1"])
        outbox.emit("invoice.paid", organization_id=world.demo.id, data={"invoice": {"id": 1}})
        db.session.commit()
        (attempt,) = db.session.scalars(select(WebhookAttempt))
        assert (attempt.status_code, attempt.error) == (None, "address")
        assert receiver.received == []
    finally:
        receiver.stop()


def test_the_adapter_refuses_a_peer_it_may_not_talk_to():
    """What stops a rebinding between the check and the connection: the connected address is checked."""
    receiver = WebhookReceiver().start()
    try:
        with pytest.raises(webhook_http.SendError) as refused:
            webhook_http.post(receiver.url, b"{}", {}, timeout=5, peer_allowed=lambda address: False)
        assert refused.value.kind == "address" and refused.value.detail == "127.0.0.1"
        assert receiver.received == []
        answer = webhook_http.post(receiver.url, b"{}", {}, timeout=5, peer_allowed=lambda address: True)
        assert answer.status == 200 and len(receiver.received) == 1
    finally:
        receiver.stop()


def test_a_redirect_is_not_followed():
    receiver = WebhookReceiver(status=307).start()
    try:
        answer = webhook_http.post(receiver.url, b"{}", {}, timeout=5, peer_allowed=lambda address: True)
        assert answer.status == 307 and len(receiver.received) == 1
    finally:
        receiver.stop()
