"""The LicenseProvisioner contract, checked on the Partner Center simulator and on the REST adapter.

The REST adapter (`PartnerCenterClient`) talks real HTTP to a local fake of Partner Center
(tests/fakes/partner_center_fake.py) that enforces the bearer token, the etag and the NCE window.
No database and no Flask app of the portal are involved.
"""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from portal.integrations.partner_center import (
    MCA_TEMPLATE_ID,
    PartnerCenterClient,
    PartnerCenterSimulator,
    from_config,
)
from portal.integrations.provisioning import (
    AgreementAttestation,
    Outcome,
    Purchase,
    QuantityChange,
    RenewalQuantity,
    StaticTokenProvider,
)
from portal.shared import clock
from tests.fakes.externals import free_port
from tests.fakes.partner_center_fake import PartnerCenterFake

TOKEN = "token-de-teste"
CUSTOMER = "4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04"
OFFER = "CFQ7TTC0LH18:0001:CFQ7TTC0K5BF"  # productId:skuId:availabilityId


def correlation() -> str:
    return f"pedido-{uuid.uuid4()}"


def change(subscription_id: str, quantity: int, correlation_id: str | None = None) -> QuantityChange:
    return QuantityChange(CUSTOMER, subscription_id, quantity, correlation_id or correlation())


def renewal(subscription_id: str, quantity: int) -> RenewalQuantity:
    return RenewalQuantity(CUSTOMER, subscription_id, quantity, correlation())


def purchase(quantity: int = 3, offer_id: str = OFFER) -> Purchase:
    return Purchase(CUSTOMER, offer_id, quantity, "monthly", "P1Y", correlation())


# ---------------------------------------------------------------- adapters under the same contract

class Simulator:
    def __init__(self):
        self.provisioner = PartnerCenterSimulator(delay_seconds=0, failure_rate=0.0, seed=1)

    def add_subscription(self, quantity: int, cancellation_allowed_until: datetime | None) -> str:
        return self.provisioner.add_subscription(CUSTOMER, OFFER, quantity, cancellation_allowed_until)

    def agreements(self) -> list[dict]:
        return self.provisioner.agreements(CUSTOMER)

    def close(self):
        pass


class RestAgainstFake:
    def __init__(self):
        self.fake = PartnerCenterFake(token=TOKEN).start()
        self.provisioner = PartnerCenterClient(self.fake.url, StaticTokenProvider(TOKEN), timeout=5)

    def add_subscription(self, quantity: int, cancellation_allowed_until: datetime | None) -> str:
        return self.fake.add_subscription(CUSTOMER, OFFER, quantity, cancellation_allowed_until)

    def agreements(self) -> list[dict]:
        return self.fake.agreements(CUSTOMER)

    def close(self):
        self.fake.stop()


@pytest.fixture(params=[Simulator, RestAgainstFake])
def adapter(request):
    made = request.param()
    yield made
    made.close()


@pytest.fixture
def fake():
    server = PartnerCenterFake(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def client(fake):
    return PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=5)


def in_window() -> datetime:
    return clock.now() + timedelta(days=3)


def window_passed() -> datetime:
    return clock.now() - timedelta(days=1)


# ---------------------------------------------------------------- the contract

def test_increase_is_done_with_the_new_quantity(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    result = adapter.provisioner.change_quantity(change(subscription_id, 12))
    assert result.outcome is Outcome.DONE, result.error
    assert result.subscription.subscription_id == subscription_id
    assert result.subscription.quantity == 12
    # The added seats open their own 168 h window.
    assert result.subscription.cancellation_allowed_until > window_passed().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription.quantity == 12


def test_purchase_is_done_with_a_new_subscription(adapter):
    result = adapter.provisioner.purchase(purchase(quantity=3))
    assert result.outcome is Outcome.DONE, result.error
    new = result.subscription
    uuid.UUID(new.subscription_id)
    assert (new.quantity, new.offer_id) == (3, OFFER)
    assert new.cancellation_allowed_until is not None
    assert adapter.provisioner.get_subscription(CUSTOMER, new.subscription_id).subscription.quantity == 3
    assert adapter.provisioner.purchase(purchase()).subscription.subscription_id != new.subscription_id


def test_decrease_inside_the_window_is_done(adapter):
    subscription_id = adapter.add_subscription(10, in_window())
    result = adapter.provisioner.change_quantity(change(subscription_id, 8))
    assert result.outcome is Outcome.DONE, result.error
    assert result.subscription.quantity == 8


def test_decrease_outside_the_window_is_refused_for_good(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    result = adapter.provisioner.change_quantity(change(subscription_id, 8))
    assert result.outcome is Outcome.FAILED
    assert result.error.retryable is False
    assert result.error.code == "800090"
    assert "can't be decreased" in result.error.message
    assert adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription.quantity == 10


def test_only_the_seats_added_in_the_last_168_hours_can_be_removed(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    assert adapter.provisioner.change_quantity(change(subscription_id, 12)).outcome is Outcome.DONE
    assert adapter.provisioner.change_quantity(change(subscription_id, 11)).outcome is Outcome.DONE
    refused = adapter.provisioner.change_quantity(change(subscription_id, 9))
    assert refused.outcome is Outcome.FAILED and refused.error.code == "800090"
    assert adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription.quantity == 11


def test_negative_quantity_is_refused(adapter):
    subscription_id = adapter.add_subscription(2, in_window())
    for result in (adapter.provisioner.change_quantity(change(subscription_id, -1)),
                   adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, -1))):
        assert result.outcome is Outcome.FAILED
        assert (result.error.code, result.error.retryable) == ("2002", False)


def test_cancel_inside_the_window_is_done_and_the_subscription_deleted(adapter):
    subscription_id = adapter.add_subscription(10, in_window())
    result = adapter.provisioner.change_quantity(change(subscription_id, 0))
    assert result.outcome is Outcome.DONE, result.error
    cancelled = result.subscription
    # Partner Center keeps the last quantity on a deleted subscription.
    assert (cancelled.status, cancelled.quantity, cancelled.auto_renew) == ("deleted", 10, False)
    seen = adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription
    assert (seen.status, seen.quantity, seen.auto_renew, seen.scheduled_quantity) == ("deleted", 10, False, None)
    # A retry of the same cancellation (its first answer lost) is DONE as well.
    again = adapter.provisioner.change_quantity(change(subscription_id, 0))
    assert again.outcome is Outcome.DONE and again.subscription.status == "deleted"


def test_cancel_outside_the_window_is_refused_for_good(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    result = adapter.provisioner.change_quantity(change(subscription_id, 0))
    assert result.outcome is Outcome.FAILED
    assert (result.error.code, result.error.retryable) == ("800090", False)
    assert "can't be cancelled" in result.error.message
    seen = adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription
    assert (seen.status, seen.quantity) == ("active", 10)


def test_cancel_needs_every_seat_refundable(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    assert adapter.provisioner.change_quantity(change(subscription_id, 12)).outcome is Outcome.DONE
    result = adapter.provisioner.change_quantity(change(subscription_id, 0))  # only the 2 new seats are refundable
    assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, "800090", False)
    assert adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription.status == "active"


def test_a_cancelled_subscription_cannot_be_changed_but_is_not_renewed(adapter):
    subscription_id = adapter.add_subscription(10, in_window())
    assert adapter.provisioner.change_quantity(change(subscription_id, 0)).outcome is Outcome.DONE
    for result in (adapter.provisioner.change_quantity(change(subscription_id, 5)),
                   adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 5))):
        assert result.outcome is Outcome.FAILED
        assert (result.error.code, result.error.retryable) == ("subscription_deleted", False)
    # The portal may send "renew with 0" alongside the cancellation: already true, so DONE.
    not_renewed = adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 0))
    assert not_renewed.outcome is Outcome.DONE, not_renewed.error
    assert (not_renewed.subscription.status, not_renewed.subscription.auto_renew) == ("deleted", False)


def test_renewal_quantity_is_scheduled_for_the_next_term(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    result = adapter.provisioner.schedule_renewal_quantity(RenewalQuantity(CUSTOMER, subscription_id, 6, correlation()))
    assert result.outcome is Outcome.DONE, result.error
    seen = adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription
    assert (seen.quantity, seen.scheduled_quantity, seen.auto_renew) == (10, 6, True)


def test_renewal_with_zero_turns_auto_renew_off(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    assert adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 6)).outcome is Outcome.DONE
    result = adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 0))
    assert result.outcome is Outcome.DONE, result.error
    seen = adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription
    # Still active with its seats until the term ends; nothing scheduled for a term that will not come.
    assert (seen.status, seen.quantity, seen.auto_renew, seen.scheduled_quantity) == ("active", 10, False, None)
    assert adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 0)).outcome is Outcome.DONE


def test_renewal_back_to_the_current_quantity_clears_the_schedule(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    assert adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 6)).outcome is Outcome.DONE
    result = adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 10))
    assert result.outcome is Outcome.DONE, result.error
    seen = adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription
    assert (seen.quantity, seen.auto_renew, seen.scheduled_quantity) == (10, True, None)


def test_renewal_after_auto_renew_off_turns_it_back_on(adapter):
    subscription_id = adapter.add_subscription(10, window_passed())
    assert adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 0)).outcome is Outcome.DONE
    assert adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 10)).outcome is Outcome.DONE
    seen = adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription
    assert (seen.auto_renew, seen.scheduled_quantity) == (True, None)
    assert adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 0)).outcome is Outcome.DONE
    assert adapter.provisioner.schedule_renewal_quantity(renewal(subscription_id, 4)).outcome is Outcome.DONE
    seen = adapter.provisioner.get_subscription(CUSTOMER, subscription_id).subscription
    assert (seen.auto_renew, seen.scheduled_quantity) == (True, 4)


def test_unknown_subscription_is_not_found_when_read(adapter):
    result = adapter.provisioner.get_subscription(CUSTOMER, str(uuid.uuid4()))
    assert result.outcome is Outcome.FAILED
    assert (result.error.code, result.error.retryable) == ("20003", False)


# ---------------------------------------------------------------- the REST adapter on the wire

def test_every_request_carries_the_token_and_the_ids(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    correlation_id = correlation()
    assert client.change_quantity(change(subscription_id, 6, correlation_id)).outcome is Outcome.DONE
    get, patch = fake.requests
    assert (get.method, patch.method) == ("GET", "PATCH")
    assert patch.path == f"/v1/customers/{CUSTOMER}/subscriptions/{subscription_id}"
    for sent in (get, patch):
        assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
        assert sent.headers["Accept"] == "application/json"
        assert sent.headers["Ms-Correlationid"] == correlation_id
        uuid.UUID(sent.headers["Ms-Requestid"])
    assert get.headers["Ms-Requestid"] != patch.headers["Ms-Requestid"]
    assert patch.headers["Content-Type"] == "application/json"


def test_patch_sends_the_full_subscription_with_its_etag(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    etag = fake.subscription(CUSTOMER, subscription_id)["attributes"]["etag"]
    result = client.change_quantity(change(subscription_id, 7))
    [patch] = fake.requests_to("PATCH")
    assert patch.json["attributes"]["etag"] == etag
    assert patch.json["quantity"] == 7
    assert (patch.json["id"], patch.json["offerId"], patch.json["billingCycle"]) == (subscription_id, OFFER, "monthly")
    assert result.subscription.etag != etag  # the new one, for the next PATCH


def test_the_quantity_already_there_sends_no_patch(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    result = client.change_quantity(change(subscription_id, 5))
    assert result.outcome is Outcome.DONE and result.subscription.quantity == 5
    assert fake.requests_to("PATCH") == []


def test_accepted_change_is_pending_until_the_operation_finishes(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.respond_async(pending_polls=1)
    result = client.change_quantity(change(subscription_id, 9))
    assert result.outcome is Outcome.PENDING
    assert result.operation_url.startswith(f"{fake.url}/v1/operations/")  # absolute, from a relative Location
    assert client.get_subscription(CUSTOMER, subscription_id).subscription.quantity == 5

    still = client.poll(result.operation_url)
    assert still.outcome is Outcome.PENDING and still.operation_url == result.operation_url
    done = client.poll(result.operation_url)
    assert done.outcome is Outcome.DONE and done.subscription.quantity == 9
    assert client.get_subscription(CUSTOMER, subscription_id).subscription.quantity == 9
    for poll in fake.requests_to("GET", "/v1/operations/"):
        assert poll.headers["Authorization"] == f"Bearer {TOKEN}"


def test_inline_polls_can_finish_a_quick_operation(fake):
    client = PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=5, poll_interval=0.01,
                                 inline_polls=3)
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.respond_async(pending_polls=1)
    result = client.change_quantity(change(subscription_id, 6))
    assert result.outcome is Outcome.DONE and result.subscription.quantity == 6


def test_a_second_change_while_one_is_pending_is_retryable(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.respond_async(pending_polls=5)
    assert client.change_quantity(change(subscription_id, 6)).outcome is Outcome.PENDING
    result = client.change_quantity(change(subscription_id, 7))
    assert result.outcome is Outcome.FAILED
    assert (result.error.code, result.error.retryable) == ("900278", True)


def test_server_error_once_is_retryable_and_the_retry_succeeds(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.fail_next(503, when="/subscriptions/")
    order = change(subscription_id, 8)
    failed = client.change_quantity(order)
    assert failed.outcome is Outcome.FAILED
    assert (failed.error.code, failed.error.retryable) == ("503", True)
    assert "503" in failed.error.message
    retried = client.change_quantity(order)  # the job retries with the same correlation id
    assert retried.outcome is Outcome.DONE and retried.subscription.quantity == 8


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_throttling_and_server_errors_are_retryable(fake, client, status):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.fail_next(status)
    result = client.change_quantity(change(subscription_id, 6))
    assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, str(status), True)


def test_stale_etag_is_retryable(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.conflict_next_patch()
    result = client.change_quantity(change(subscription_id, 6))
    assert result.outcome is Outcome.FAILED
    assert (result.error.code, result.error.retryable) == ("2055", True)
    assert result.error.message == "Etag is no longer valid."
    assert client.change_quantity(change(subscription_id, 6)).outcome is Outcome.DONE  # a re-GET fixes it


def test_stale_etag_reported_as_400_is_retryable_too(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.fail_next(400, body={"code": 2055, "description": "Etag is no longer valid.", "isRetryable": False},
                   when="/subscriptions/")
    fake.requests.clear()
    # The GET gets the 400 here; what matters is the mapping of code 2055.
    result = client.change_quantity(change(subscription_id, 6))
    assert (result.error.code, result.error.retryable) == ("2055", True)


def test_provider_error_body_is_parsed(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.fail_next(400, body={"code": 800022, "message": "short", "description": "You may be eligible for this "
                              "transaction. Please contact Support for help", "errorName": "X", "isRetryable": True},
                   when="/subscriptions/")
    result = client.change_quantity(change(subscription_id, 6))
    assert result.error.code == "800022"
    assert result.error.message.startswith("You may be eligible")
    assert result.error.retryable is True  # isRetryable is honoured on a 4xx
    assert result.raw["errorName"] == "X"


def test_wrong_token_is_a_401_that_retrying_does_not_fix(fake):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    client = PartnerCenterClient(fake.url, StaticTokenProvider("outro-token"), timeout=5)
    result = client.change_quantity(change(subscription_id, 6))
    assert result.outcome is Outcome.FAILED
    assert (result.error.code, result.error.retryable) == ("401", False)
    assert fake.requests_to("PATCH") == []


def test_token_provider_failure_is_retryable(fake):
    class Broken:
        def token(self):
            raise OSError("login.microsoftonline.com unreachable")

    result = PartnerCenterClient(fake.url, Broken()).get_subscription(CUSTOMER, "x")
    assert (result.error.code, result.error.retryable) == ("token", True)
    assert "unreachable" in result.error.message
    assert fake.requests == []


def test_nothing_listening_is_a_retryable_network_failure():
    client = PartnerCenterClient(f"http://127.0.0.1:{free_port()}", StaticTokenProvider(TOKEN), timeout=2)
    result = client.change_quantity(change(str(uuid.uuid4()), 3))
    assert result.outcome is Outcome.FAILED
    assert (result.error.code, result.error.retryable) == ("network", True)


def test_timeout_is_a_retryable_network_failure(fake):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.stall_next(0.6)
    client = PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=0.2)
    result = client.change_quantity(change(subscription_id, 6))
    assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, "network", True)
    assert "0.2 s" in result.error.message


def test_non_json_error_body_is_handled(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    fake.fail_next(502, body="<html><body><h1>502 Bad Gateway</h1></body></html>")
    result = client.change_quantity(change(subscription_id, 6))
    assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, "502", True)
    assert "Bad Gateway" in result.error.message


def test_purchase_is_a_cart_then_a_checkout(fake, client):
    order = purchase(quantity=4)
    result = client.purchase(order)
    assert result.outcome is Outcome.DONE, result.error
    cart, checkout, *_ = fake.requests
    assert (cart.method, cart.path) == ("POST", f"/v1/customers/{CUSTOMER}/carts")
    assert cart.json == {"lineItems": [{"id": 0, "catalogItemId": OFFER, "quantity": 4, "billingCycle": "monthly",
                                        "termDuration": "P1Y"}]}
    assert checkout.method == "POST" and checkout.path.endswith("/checkout")
    assert checkout.headers["Ms-Correlationid"] == order.correlation_id
    assert result.provider_request_id == result.raw["orders"][0]["id"]
    assert result.subscription.etag  # read back from the subscription itself


def test_order_errors_fail_the_purchase(fake, client):
    fake.order_error_next(800069, "Order failed Risk Management check")
    result = client.purchase(purchase())
    assert result.outcome is Outcome.FAILED
    assert (result.error.code, result.error.message, result.error.retryable) == (
        "800069", "Order failed Risk Management check", False)


def test_invalid_offer_fails_at_the_cart(fake, client):
    result = client.purchase(purchase(offer_id="CFQ7TTC0LH18"))
    assert (result.error.code, result.error.retryable) == ("800004", False)
    assert fake.requests_to("POST", "/checkout") == []


def test_checkout_answered_with_a_server_error_is_not_retried_blindly(fake, client):
    fake.fail_next(503, when="/checkout")
    result = client.purchase(purchase())
    assert result.outcome is Outcome.FAILED
    assert result.error.retryable is False  # a retry would buy a second subscription if the first went through
    assert "check the customer's orders" in result.error.message


def test_cart_creation_server_error_is_retryable(fake, client):
    fake.fail_next(503, when="/carts")
    result = client.purchase(purchase())
    assert (result.error.code, result.error.retryable) == ("503", True)


def test_checkout_timeout_is_not_retried_blindly(fake):
    fake.stall_next(0.6, when="/checkout")
    client = PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=0.2)
    result = client.purchase(purchase())
    assert (result.error.code, result.error.retryable) == ("network", False)


def test_expired_cart_cannot_be_checked_out(fake):
    fake.cart_lifetime = timedelta(seconds=-1)
    result = PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN)).purchase(purchase())
    assert (result.error.code, result.error.retryable) == ("800008", False)
    assert "expired" in result.error.message


def test_pending_order_is_polled_until_its_subscription_exists(fake, client):
    fake.checkout_pending(pending_polls=1)
    result = client.purchase(purchase(quantity=2))
    assert result.outcome is Outcome.PENDING
    assert "/orders/" in result.operation_url
    assert client.poll(result.operation_url).outcome is Outcome.PENDING
    done = client.poll(result.operation_url)
    assert done.outcome is Outcome.DONE and done.subscription.quantity == 2


def test_renewal_instructions_name_the_product_of_the_subscription(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 10, billing_cycle="annual", term_duration="P1Y")
    result = client.schedule_renewal_quantity(RenewalQuantity(CUSTOMER, subscription_id, 4, correlation()))
    assert result.outcome is Outcome.DONE, result.error
    [patch] = fake.requests_to("PATCH")
    assert patch.json["quantity"] == 10
    assert patch.json["scheduledNextTermInstructions"] == {
        "product": {"productId": "CFQ7TTC0LH18", "skuId": "0001", "availabilityId": "CFQ7TTC0K5BF",
                    "billingCycle": "annual", "termDuration": "P1Y"},
        "quantity": 4,
    }
    assert patch.json["autoRenewEnabled"] is True


def test_cancel_patches_the_full_subscription_with_status_deleted(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5, cancellation_allowed_until=in_window())
    etag = fake.subscription(CUSTOMER, subscription_id)["attributes"]["etag"]
    result = client.change_quantity(change(subscription_id, 0))
    assert result.outcome is Outcome.DONE, result.error
    [patch] = fake.requests_to("PATCH")
    assert (patch.json["status"], patch.json["quantity"]) == ("deleted", 5)  # the quantity is left as it is
    assert patch.json["attributes"]["etag"] == etag
    assert (patch.json["id"], patch.json["offerId"]) == (subscription_id, OFFER)
    assert fake.subscription(CUSTOMER, subscription_id)["status"] == "deleted"
    fake.requests.clear()
    assert client.change_quantity(change(subscription_id, 0)).outcome is Outcome.DONE
    assert client.change_quantity(change(subscription_id, 3)).error.code == "subscription_deleted"
    assert fake.requests_to("PATCH") == []  # nothing is sent about a deleted subscription


def test_accepted_cancel_is_pending_until_the_operation_finishes(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5, cancellation_allowed_until=in_window())
    fake.respond_async(pending_polls=0)
    result = client.change_quantity(change(subscription_id, 0))
    assert result.outcome is Outcome.PENDING
    done = client.poll(result.operation_url)
    assert done.outcome is Outcome.DONE and (done.subscription.status, done.subscription.quantity) == ("deleted", 5)


def test_renewal_with_zero_sends_auto_renew_off_and_no_instructions(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 10)
    assert client.schedule_renewal_quantity(renewal(subscription_id, 6)).outcome is Outcome.DONE
    fake.requests.clear()
    assert client.schedule_renewal_quantity(renewal(subscription_id, 0)).outcome is Outcome.DONE
    [patch] = fake.requests_to("PATCH")
    assert patch.json["autoRenewEnabled"] is False
    assert patch.json["scheduledNextTermInstructions"] is None
    assert patch.json["quantity"] == 10 and patch.json["status"] == "active"
    fake.requests.clear()
    assert client.schedule_renewal_quantity(renewal(subscription_id, 0)).outcome is Outcome.DONE
    assert fake.requests_to("PATCH") == []  # already off: nothing to send


def test_renewal_back_to_the_current_quantity_sends_null_instructions(fake, client):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 10)
    assert client.schedule_renewal_quantity(renewal(subscription_id, 6)).outcome is Outcome.DONE
    fake.requests.clear()
    assert client.schedule_renewal_quantity(renewal(subscription_id, 10)).outcome is Outcome.DONE
    [patch] = fake.requests_to("PATCH")
    assert patch.json["scheduledNextTermInstructions"] is None
    assert patch.json["autoRenewEnabled"] is True
    fake.requests.clear()
    assert client.schedule_renewal_quantity(renewal(subscription_id, 10)).outcome is Outcome.DONE
    assert fake.requests_to("PATCH") == []  # nothing scheduled and auto-renew on: nothing to send


def test_fake_refuses_what_partner_center_refuses(fake):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 10, cancellation_allowed_until=in_window())

    http = fake.app.test_client()

    def patch(**changes):
        answer = http.patch(f"/v1/customers/{CUSTOMER}/subscriptions/{subscription_id}",
                            json={**fake.subscription(CUSTOMER, subscription_id), **changes},
                            headers={"Authorization": f"Bearer {TOKEN}"})
        return answer.status_code, answer.get_json()

    instructions = {"product": {"productId": "CFQ7TTC0LH18", "skuId": "0001", "availabilityId": "CFQ7TTC0K5BF",
                                "billingCycle": "monthly", "termDuration": "P1Y"}, "quantity": 4}
    assert patch(quantity=0)[1]["code"] == 2002  # cancelling is status deleted, not quantity 0
    assert patch(autoRenewEnabled=False, scheduledNextTermInstructions=instructions)[1]["code"] == 800002
    assert patch(status="deleted", quantity=9)[1]["code"] == 800002
    assert patch(scheduledNextTermInstructions=instructions)[0] == 200
    # Turning auto-renew off while re-sending the instructions as read is refused: they must be nulled.
    assert patch(autoRenewEnabled=False)[1]["code"] == 800002
    status, body = patch(autoRenewEnabled=False, scheduledNextTermInstructions=None)
    assert status == 200 and (body["autoRenewEnabled"], "scheduledNextTermInstructions" in body) == (False, False)
    assert patch(status="deleted")[0] == 200
    assert patch(status="active")[1]["code"] == 800002  # a deleted subscription cannot be changed


def test_poll_never_sends_the_token_elsewhere(fake, client):
    for url in ("https://evil.example.com/v1/operations/1", "simulator://operations/1"):
        result = client.poll(url)
        assert (result.error.code, result.error.retryable) == ("invalid_operation_url", False)
    assert fake.requests == []


# ---------------------------------------------------------------- the simulator

def test_simulator_delay_is_pending_until_the_clock_passes_it():
    simulator = PartnerCenterSimulator(delay_seconds=30)
    with clock.frozen(datetime(2026, 11, 22, 12, 0, tzinfo=UTC)):
        subscription_id = simulator.add_subscription(CUSTOMER, OFFER, 5)
        result = simulator.change_quantity(change(subscription_id, 7))
        assert result.outcome is Outcome.PENDING
        assert result.operation_url.startswith("simulator://operations/")
        clock.advance(timedelta(seconds=29))
        assert simulator.poll(result.operation_url).outcome is Outcome.PENDING
        assert simulator.get_subscription(CUSTOMER, subscription_id).subscription.quantity == 5
        busy = simulator.change_quantity(change(subscription_id, 8))
        assert (busy.error.code, busy.error.retryable) == ("900278", True)
        clock.advance(timedelta(seconds=1))
        done = simulator.poll(result.operation_url)
        assert done.outcome is Outcome.DONE and done.subscription.quantity == 7
        # The seats were added when applied: their window runs from then.
        assert done.subscription.cancellation_allowed_until == "2026-11-29T12:00:30Z"


def test_simulator_delayed_purchase_appears_when_ready():
    simulator = PartnerCenterSimulator(delay_seconds=5)
    with clock.frozen(datetime(2026, 11, 22, 12, 0, tzinfo=UTC)):
        pending = simulator.purchase(purchase(quantity=2))
        assert pending.outcome is Outcome.PENDING
        clock.advance(timedelta(seconds=5))
        done = simulator.poll(pending.operation_url)
        assert done.outcome is Outcome.DONE and done.subscription.quantity == 2
        assert done.subscription.commitment_end_date == "2027-11-21"


def test_simulator_failure_rate_one_always_fails_and_changes_nothing():
    simulator = PartnerCenterSimulator(delay_seconds=0, failure_rate=1.0, seed=3)
    subscription_id = simulator.add_subscription(CUSTOMER, OFFER, 5)
    for result in (simulator.change_quantity(change(subscription_id, 6)), simulator.purchase(purchase()),
                   simulator.schedule_renewal_quantity(RenewalQuantity(CUSTOMER, subscription_id, 2, correlation()))):
        assert result.outcome is Outcome.FAILED
        assert (result.error.code, result.error.retryable) == ("simulated", True)
        assert "Simulated failure" in result.error.message
    assert simulator.get_subscription(CUSTOMER, subscription_id).subscription.quantity == 5


def test_simulator_is_deterministic_for_a_seed():
    def outcomes(seed):
        simulator = PartnerCenterSimulator(delay_seconds=0, failure_rate=0.5, seed=seed)
        subscription_id = simulator.add_subscription(CUSTOMER, OFFER, 5)
        return [simulator.change_quantity(change(subscription_id, 6 + i)).outcome for i in range(30)]

    first = outcomes(42)
    assert first == outcomes(42)
    assert {Outcome.DONE, Outcome.FAILED} == set(first)


def test_simulator_meets_unknown_subscriptions_as_existing_ones():
    simulator = PartnerCenterSimulator(delay_seconds=0)
    with clock.frozen(datetime(2026, 11, 22, 12, 0, tzinfo=UTC)):
        subscription_id = str(uuid.uuid4())
        result = simulator.change_quantity(change(subscription_id, 7))
        assert result.outcome is Outcome.DONE and result.subscription.quantity == 7
        # Leniency: first-sight seats are refundable for 168 h (the portal checked its own window already).
        assert result.subscription.cancellation_allowed_until == "2026-11-29T12:00:00Z"
        clock.advance(timedelta(hours=167))
        decreased = simulator.change_quantity(change(subscription_id, 5))
        assert decreased.outcome is Outcome.DONE and decreased.subscription.quantity == 5
        cancelled = simulator.change_quantity(change(subscription_id, 0))
        assert cancelled.outcome is Outcome.DONE and cancelled.subscription.status == "deleted"

        late = str(uuid.uuid4())
        assert simulator.change_quantity(change(late, 7)).outcome is Outcome.DONE
        assert simulator.change_quantity(change(late, 9)).outcome is Outcome.DONE  # 2 more, their own window
        clock.advance(timedelta(hours=168, seconds=1))
        refused = simulator.change_quantity(change(late, 6))
        assert (refused.error.code, refused.error.retryable) == ("800090", False)
        assert simulator.change_quantity(change(late, 0)).error.code == "800090"


def test_simulator_first_sight_through_a_renewal_schedules_what_was_asked():
    simulator = PartnerCenterSimulator(delay_seconds=0)
    subscription_id = str(uuid.uuid4())
    result = simulator.schedule_renewal_quantity(renewal(subscription_id, 6))
    assert result.outcome is Outcome.DONE
    assert (result.subscription.scheduled_quantity, result.subscription.auto_renew) == (6, True)
    other = simulator.schedule_renewal_quantity(renewal(str(uuid.uuid4()), 0))
    assert other.outcome is Outcome.DONE and other.subscription.auto_renew is False


def test_simulator_delayed_cancel_is_applied_when_ready():
    simulator = PartnerCenterSimulator(delay_seconds=5)
    with clock.frozen(datetime(2026, 11, 22, 12, 0, tzinfo=UTC)):
        subscription_id = simulator.add_subscription(CUSTOMER, OFFER, 5, clock.now() + timedelta(days=3))
        pending = simulator.change_quantity(change(subscription_id, 0))
        assert pending.outcome is Outcome.PENDING
        assert simulator.get_subscription(CUSTOMER, subscription_id).subscription.status == "active"
        clock.advance(timedelta(seconds=5))
        done = simulator.poll(pending.operation_url)
        assert done.outcome is Outcome.DONE
        assert (done.subscription.status, done.subscription.quantity, done.subscription.auto_renew) == (
            "deleted", 5, False)


def test_simulator_unknown_operation_fails():
    result = PartnerCenterSimulator().poll("simulator://operations/nao-existe")
    assert (result.outcome, result.error.code, result.error.retryable) == (
        Outcome.FAILED, "unknown_operation", False)


def test_simulator_rejects_nonsense_settings():
    with pytest.raises(ValueError):
        PartnerCenterSimulator(failure_rate=1.5)
    with pytest.raises(ValueError):
        PartnerCenterSimulator(delay_seconds=-1)


# ---------------------------------------------------------------- configuration

def test_default_backend_is_the_simulator():
    provisioner = from_config({})
    assert isinstance(provisioner, PartnerCenterSimulator) and provisioner.name == "simulator"
    assert provisioner.delay == timedelta(seconds=5) and provisioner.failure_rate == 0.0


def test_simulator_settings_are_read():
    provisioner = from_config({"PROVISIONING_BACKEND": "simulator", "PROVISIONING_SIMULATOR_DELAY_SECONDS": "0",
                               "PROVISIONING_SIMULATOR_FAILURE_RATE": "1", "PROVISIONING_SIMULATOR_SEED": "7"})
    assert provisioner.delay == timedelta(0) and provisioner.failure_rate == 1.0


def test_partner_center_backend_uses_the_url_and_token(fake):
    subscription_id = fake.add_subscription(CUSTOMER, OFFER, 5)
    provisioner = from_config({"PROVISIONING_BACKEND": "partner_center", "PARTNER_CENTER_URL": fake.url,
                               "PARTNER_CENTER_TOKEN": TOKEN})
    assert isinstance(provisioner, PartnerCenterClient) and provisioner.name == "partner_center"
    assert provisioner.get_subscription(CUSTOMER, subscription_id).subscription.quantity == 5
    default = from_config({"PROVISIONING_BACKEND": "partner_center", "PARTNER_CENTER_TOKEN": "t"})
    assert default.base_url == "https://api.partnercenter.microsoft.com"


def test_partner_center_backend_needs_a_token():
    with pytest.raises(RuntimeError, match="PARTNER_CENTER_TOKEN"):
        from_config({"PROVISIONING_BACKEND": "partner_center"})


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(RuntimeError, match="PROVISIONING_BACKEND must be"):
        from_config({"PROVISIONING_BACKEND": "pombo-correio"})


# ---------------------------------------------------------------- the Microsoft Customer Agreement

def attestation(email: str = "marina@cliente.example.com", phone: str = "+55 11 3000-0000",
                agreed: date | None = None, template_id: str = MCA_TEMPLATE_ID) -> AgreementAttestation:
    return AgreementAttestation(CUSTOMER, template_id, "Marina", "Master da Silva", email, phone,
                                agreed or date(2026, 3, 10), correlation())


def test_agreement_template_is_the_microsoft_customer_agreement(adapter):
    result = adapter.provisioner.agreement_template()
    assert result.outcome is Outcome.DONE, result.error
    assert result.template.template_id == MCA_TEMPLATE_ID
    assert result.template.agreement_link == "https://aka.ms/customeragreement"


def test_attestation_is_recorded_at_the_provider(adapter):
    result = adapter.provisioner.attest_agreement(attestation())
    assert result.outcome is Outcome.DONE, result.error
    [stored] = adapter.agreements()
    assert stored["primaryContact"] == {"firstName": "Marina", "lastName": "Master da Silva",
                                        "email": "marina@cliente.example.com", "phoneNumber": "+55 11 3000-0000"}
    assert (stored["templateId"], stored["dateAgreed"], stored["type"]) == (
        MCA_TEMPLATE_ID, "2026-03-10T00:00:00Z", "MicrosoftCustomerAgreement")


def test_the_same_contact_again_is_a_duplicate_that_counts_as_done(adapter):
    assert adapter.provisioner.attest_agreement(attestation()).outcome is Outcome.DONE
    again = adapter.provisioner.attest_agreement(attestation())
    assert again.outcome is Outcome.DONE, again.error  # 600061 PartnerConfirmedAgreementAlreadyExists
    assert str(again.raw.get("code")) == "600061"
    assert len(adapter.agreements()) == 1
    # Another contact (here another e-mail) is a new agreement for the customer.
    assert adapter.provisioner.attest_agreement(attestation(email="outro@cliente.example.com")).outcome \
        is Outcome.DONE
    assert len(adapter.agreements()) == 2


def test_attestation_dated_in_the_future_is_refused_for_good(adapter):
    tomorrow = clock.now().astimezone(UTC).date() + timedelta(days=1)
    result = adapter.provisioner.attest_agreement(attestation(agreed=tomorrow))
    assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, "800002", False)
    assert "future" in result.error.message
    assert adapter.agreements() == []


def test_attestation_of_an_unknown_template_is_refused_for_good(adapter):
    result = adapter.provisioner.attest_agreement(attestation(template_id=str(uuid.uuid4())))
    assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, "800002", False)


def test_agreement_template_asks_partner_center_for_the_mca(fake, client):
    assert client.agreement_template().outcome is Outcome.DONE
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("GET", "/v1/agreements?agreementType=MicrosoftCustomerAgreement")
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


def test_attestation_posts_the_documented_body(fake, client):
    sent_attestation = attestation(phone="")
    assert client.attest_agreement(sent_attestation).outcome is Outcome.DONE
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("POST", f"/v1/customers/{CUSTOMER}/agreements")
    assert sent.json == {
        "primaryContact": {"firstName": "Marina", "lastName": "Master da Silva", "email": "marina@cliente.example.com"},
        "templateId": MCA_TEMPLATE_ID,
        "dateAgreed": "2026-03-10T00:00:00Z",
        "type": "MicrosoftCustomerAgreement",
    }  # no phoneNumber when none was given: it is optional
    assert sent.headers["Ms-Correlationid"] == sent_attestation.correlation_id
    assert sent.headers["Content-Type"] == "application/json"


def test_duplicate_answer_is_done_whatever_its_status(fake, client):
    fake.fail_next(409, body={"code": 600061, "description": "A partner confirmed agreement already exists for the "
                              "customer.", "errorName": "PartnerConfirmedAgreementAlreadyExists",
                              "isRetryable": False}, when="/agreements")
    assert client.attest_agreement(attestation()).outcome is Outcome.DONE


@pytest.mark.parametrize("status", [429, 500, 503])
def test_agreement_calls_answered_with_server_errors_are_retryable(fake, client, status):
    fake.fail_next(status, times=2, when="agreements")
    for result in (client.agreement_template(), client.attest_agreement(attestation())):
        assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, str(status), True)
    assert client.attest_agreement(attestation()).outcome is Outcome.DONE  # the retry gets through
    assert len(fake.agreements(CUSTOMER)) == 1


def test_agreement_template_without_an_mca_is_a_clear_failure(fake, client):
    fake.fail_next(200, body={"totalCount": 0, "items": []}, when="/v1/agreements")
    result = client.agreement_template()
    assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, "invalid_response", False)
    assert "no Microsoft Customer Agreement" in result.error.message


def test_agreement_calls_without_a_network_are_retryable():
    client = PartnerCenterClient(f"http://127.0.0.1:{free_port()}", StaticTokenProvider(TOKEN), timeout=2)
    for result in (client.agreement_template(), client.attest_agreement(attestation())):
        assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, "network", True)


def test_simulator_failure_rate_fails_agreement_calls_retryably():
    simulator = PartnerCenterSimulator(failure_rate=1.0, seed=1)
    for result in (simulator.agreement_template(), simulator.attest_agreement(attestation())):
        assert (result.outcome, result.error.code, result.error.retryable) == (Outcome.FAILED, "simulated", True)
    assert simulator.agreements(CUSTOMER) == []


# ---------------------------------------------------------------- customers: a new tenant, or an existing one by domain

def new_customer(domain: str = "acmebackup.onmicrosoft.com"):
    from portal.integrations.provisioning import NewCustomer

    return NewCustomer(domain=domain, company_name="Acme Backup Ltda", first_name="Rita", last_name="Responsável",
                       email="rita@acme.example.com", phone="11988887777", address_line1="Rua das Flores, 10",
                       city="São Paulo", state="SP", postal_code="01001000", correlation_id=correlation())


def test_creating_a_customer_gives_a_new_tenant_and_the_domain_is_then_taken(adapter):
    created = adapter.provisioner.create_customer(new_customer())
    assert created.outcome == Outcome.DONE and uuid.UUID(created.tenant_id)
    assert created.domain == "acmebackup.onmicrosoft.com"
    again = adapter.provisioner.create_customer(new_customer())
    assert again.outcome == Outcome.FAILED and again.error.retryable is False
    found = adapter.provisioner.find_customer("acmebackup.onmicrosoft.com")
    assert found.outcome == Outcome.DONE and found.tenant_id == created.tenant_id


def test_create_customer_posts_the_company_and_billing_profiles(fake, client):
    created = client.create_customer(new_customer())
    [sent] = fake.requests_to("POST", "/v1/customers")
    body = sent.json
    assert body["companyProfile"] == {"domain": "acmebackup.onmicrosoft.com"}
    billing = body["billingProfile"]
    assert (billing["companyName"], billing["email"], billing["culture"], billing["language"]) == (
        "Acme Backup Ltda", "rita@acme.example.com", "pt-BR", "pt")
    assert billing["defaultAddress"]["country"] == "BR" and billing["defaultAddress"]["postalCode"] == "01001000"
    assert fake.customers[created.tenant_id]["companyProfile"]["domain"] == "acmebackup.onmicrosoft.com"


def test_an_existing_customer_is_found_by_its_exact_domain(fake, client):
    tenant_id = fake.add_customer("contoso.onmicrosoft.com")
    fake.add_customer("contosobr.onmicrosoft.com")
    found = client.find_customer("contoso.onmicrosoft.com")
    assert found.outcome == Outcome.DONE and found.tenant_id == tenant_id
    missing = client.find_customer("fabrikam.onmicrosoft.com")
    assert missing.outcome == Outcome.FAILED and missing.error.code == "not_found"
    assert missing.error.retryable is False


def test_partner_center_down_while_creating_a_customer_is_retryable():
    client = PartnerCenterClient(f"http://127.0.0.1:{free_port()}", StaticTokenProvider(TOKEN), timeout=5)
    result = client.create_customer(new_customer())
    assert result.outcome == Outcome.FAILED and result.error.retryable is True
