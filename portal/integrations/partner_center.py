"""Partner Center: the REST adapter (`PartnerCenterClient`) and an in-process SIMULATOR (`PartnerCenterSimulator`).

Both implement `LicenseProvisioner` (portal/integrations/provisioning.py); `from_config` picks one by
`PROVISIONING_BACKEND`. The HTTP client is the standard library's `urllib.request`, so the adapter adds
no dependency; nothing outside `portal/integrations/` talks HTTP.

Real protocol (Partner Center REST v1, see ../shared/notes/integrations.md §5):

- every request carries `Authorization: Bearer <token>`, `Accept: application/json`, a new
  `MS-RequestId` and the order's `MS-CorrelationId`;
- a quantity change GETs the subscription and PATCHes the *full* Subscription back with the new
  `quantity` and the `attributes.etag` it was read with; 200 = applied, 202 + `Location` = accepted,
  poll that URL;
- quantity 0 is a cancellation: the same full-resource PATCH with `"status": "deleted"` (quantity left
  as it is); new commerce allows it only while every seat is refundable;
- the next term: `scheduledNextTermInstructions` (a different quantity, auto-renew on), `null` with
  `autoRenewEnabled: true` (back to the current quantity: undo), or `autoRenewEnabled: false` with no
  instructions (renew with 0: the subscription ends with its term);
- a new product is a cart (`POST /carts`) then `POST /carts/{id}/checkout`, whose result holds
  `orders[].lineItems[].subscriptionId` or `orderErrors[]`;
- a decrease outside the NCE cancellation window is refused: the change goes to the next term through
  `scheduledNextTermInstructions` instead;
- `schedule_next_term`: `scheduledNextTermInstructions` with another product/term (productId, skuId,
  availabilityId, billingCycle, termDuration: a term or billing change, or an upgrade Partner Center lists) and
  a quantity; an immediate (mid-term) change deletes whatever was scheduled (Microsoft's "Schedule changes for
  a new commerce subscription"), so the portal sends the schedule again after such a change;
- errors are `{"code", "message", "description", "errorName", "isRetryable", ...}`;
- the Microsoft Customer Agreement: `GET /v1/agreements?agreementType=MicrosoftCustomerAgreement` gives its
  `templateId`; `POST /v1/customers/{id}/agreements` confirms a customer's acceptance (`primaryContact`,
  `templateId`, `dateAgreed`, `type`); a repeat with the same contact is refused with 600061
  (PartnerConfirmedAgreementAlreadyExists), which means it is already recorded: DONE.

No method raises for what the provider or the network answered: every answer becomes a
`ProvisioningResult` (FAILED with `retryable` telling the job whether trying again can help).
"""

import calendar
import http.client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from portal.integrations.provisioning import (
    MICROSOFT_CUSTOMER_AGREEMENT,
    AgreementAttestation,
    AgreementTemplate,
    AgreementTemplateResult,
    CustomerResult,
    LicenseProvisioner,
    NewCustomer,
    NextTerm,
    Outcome,
    ProviderError,
    ProviderSubscription,
    ProvisioningResult,
    Purchase,
    QuantityChange,
    RenewalQuantity,
    StaticTokenProvider,
    TokenProvider,
)
from portal.shared import clock

DEFAULT_BASE_URL = "https://api.partnercenter.microsoft.com"

# Partner Center error codes this module reasons about (the "Partner Center REST error codes" page).
ETAG_NO_LONGER_VALID = "2055"  # the subscription changed since it was read: GET again and retry
QUANTITY_OUT_OF_RANGE = "2002"
QUANTITY_CANNOT_BE_DECREASED = "800090"  # NCE: decrease outside the cancellation window
PENDING_OPERATION = "900278"  # another change on this subscription is still being applied
SUBSCRIPTION_NOT_FOUND = "20003"
INVALID_OFFER_ID = "800004"
# POST of an MCA attestation whose contact (names, e-mail, phone) Partner Center already has for the customer.
AGREEMENT_ALREADY_EXISTS = "600061"  # PartnerConfirmedAgreementAlreadyExists: it is recorded, i.e. done
DOMAIN_TAKEN = "domain_taken"  # the simulator's refusal of a domain it created already
MCA_TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"  # the simulator's MCA templateId (Partner Center's public one)
MCA_LINK = "https://aka.ms/customeragreement"
# Ours, not Partner Center's: a change asked of a subscription that is already cancelled (status "deleted").
# Nothing is sent; a deleted subscription cannot be changed, only bought again.
SUBSCRIPTION_DELETED = "subscription_deleted"
DELETED = "deleted"  # Partner Center's status of a cancelled subscription

NCE_CANCELLATION_WINDOW = timedelta(hours=168)
_OUT_OF_RANGE_MESSAGE = "Subscription quantity isn't within minimum and maximum allowed quantity."

_CHECKOUT_OUTCOME_UNKNOWN = (
    " The checkout may or may not have been placed: check the customer's orders in Partner Center"
    " before buying again."
)


def _failed(error: ProviderError, request_id: str | None = None, raw: Any = None) -> ProvisioningResult:
    return ProvisioningResult(Outcome.FAILED, error=error, provider_request_id=request_id,
                              raw=raw if isinstance(raw, dict) else {})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _deleted_error(subscription_id: str) -> ProviderError:
    return ProviderError(
        SUBSCRIPTION_DELETED,
        f"Subscription {subscription_id} is cancelled (status deleted): it can no longer be changed.",
        retryable=False,
    )


def _cancel_refused_message(quantity: int, refundable: int) -> str:
    return (f"Subscription can't be cancelled: only {refundable} of its {quantity} license(s) are still within "
            "the cancellation window (168 hours after purchase, renewal or being added). "
            "Turn auto-renew off to end it with its term instead.")


# ---------------------------------------------------------------- reading Partner Center JSON

def _field(obj: Any, name: str, default: Any = None) -> Any:
    """`obj[name]`, matching the key case-insensitively (the docs show both camelCase and PascalCase)."""
    if not isinstance(obj, dict):
        return default
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return default


def _with_field(obj: dict, name: str, value: Any) -> dict:
    """A copy of `obj` with `name` set, reusing the key's existing spelling."""
    out = dict(obj)
    for key in obj:
        if isinstance(key, str) and key.lower() == name.lower():
            out[key] = value
            return out
    out[name] = value
    return out


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def parse_subscription(body: Any) -> ProviderSubscription | None:
    """A Partner Center Subscription resource as a `ProviderSubscription` (None if it is not one)."""
    subscription_id = _field(body, "id")
    quantity = _as_int(_field(body, "quantity"))
    if not isinstance(subscription_id, str) or not subscription_id or quantity is None:
        return None
    scheduled = _field(body, "scheduledNextTermInstructions")
    auto_renew = _field(body, "autoRenewEnabled")
    next_product = _field(scheduled, "product") if isinstance(scheduled, dict) else None
    next_ids = [_text(_field(next_product, k)) for k in ("productId", "skuId", "availabilityId")] \
        if isinstance(next_product, dict) else []
    return ProviderSubscription(
        subscription_id=subscription_id,
        offer_id=str(_field(body, "offerId") or ""),
        quantity=quantity,
        status=str(_field(body, "status") or "active"),
        etag=_text(_field(_field(body, "attributes"), "etag")),
        cancellation_allowed_until=_text(_field(body, "cancellationAllowedUntilDate")),
        commitment_end_date=_text(_field(body, "commitmentEndDate")),
        scheduled_quantity=_as_int(_field(scheduled, "quantity")) if isinstance(scheduled, dict) else None,
        scheduled_offer_id=":".join(next_ids) if next_ids and all(next_ids) else None,
        scheduled_billing_cycle=_text(_field(next_product, "billingCycle")) if isinstance(next_product, dict) else None,
        scheduled_term_duration=_text(_field(next_product, "termDuration")) if isinstance(next_product, dict) else None,
        auto_renew=auto_renew if isinstance(auto_renew, bool) else True,
    )


def _is_deleted(subscription: ProviderSubscription) -> bool:
    return subscription.status.lower() == DELETED


def _next_term(body: dict, *, auto_renew: bool, instructions: dict | None) -> dict:
    """The full Subscription `body` with `autoRenewEnabled` and `scheduledNextTermInstructions` set (None is
    sent as JSON null: nothing scheduled)."""
    return _with_field(_with_field(body, "autoRenewEnabled", auto_renew), "scheduledNextTermInstructions",
                       instructions)


def next_term_instructions(next_term: NextTerm) -> dict:
    """Partner Center's `scheduledNextTermInstructions` for `next_term` (its offer split into the product's ids)."""
    product_id, sku_id, availability_id = split_offer_id(next_term.offer_id) or ("", "", "")
    return {
        "product": {"productId": product_id, "skuId": sku_id, "availabilityId": availability_id,
                    "billingCycle": next_term.billing_cycle, "termDuration": next_term.term_duration},
        "quantity": next_term.quantity,
    }


def parse_agreement_template(body: Any) -> AgreementTemplate | None:
    """The MCA's metadata out of a GET /v1/agreements collection (the first MCA item listed), or None."""
    for item in _field(body, "items") or []:
        kind = _field(item, "agreementType") or _field(item, "type") or MICROSOFT_CUSTOMER_AGREEMENT
        template_id = _text(_field(item, "templateId"))
        if template_id and str(kind).lower() == MICROSOFT_CUSTOMER_AGREEMENT.lower():
            return AgreementTemplate(template_id=template_id, agreement_link=_text(_field(item, "agreementLink")),
                                     version_rank=_as_int(_field(item, "versionRank")))
    return None


def attestation_body(attestation: AgreementAttestation) -> dict:
    """The documented body of POST /v1/customers/{id}/agreements (the body names the kind `type`)."""
    contact = {"firstName": attestation.first_name, "lastName": attestation.last_name, "email": attestation.email}
    if attestation.phone:
        contact["phoneNumber"] = attestation.phone
    return {
        "primaryContact": contact,
        "templateId": attestation.template_id,
        "dateAgreed": f"{attestation.date_agreed.isoformat()}T00:00:00Z",
        "type": MICROSOFT_CUSTOMER_AGREEMENT,
    }


def customer_body(customer: NewCustomer) -> dict:
    """The Customer resource of POST /v1/customers: companyProfile (the new tenant's domain) and billingProfile."""
    return {
        "companyProfile": {"domain": customer.domain},
        "billingProfile": {
            "culture": customer.culture, "email": customer.email, "language": customer.language,
            "companyName": customer.company_name,
            "defaultAddress": {
                "country": customer.country, "region": None, "city": customer.city, "state": customer.state,
                "addressLine1": customer.address_line1, "postalCode": customer.postal_code,
                "firstName": customer.first_name, "lastName": customer.last_name, "phoneNumber": customer.phone,
            },
        },
    }


def parse_customer(body: Any) -> tuple[str, str | None] | None:
    """(tenant id, domain) of a Customer resource: `id` (= companyProfile.tenantId) and companyProfile.domain."""
    if not isinstance(body, dict):
        return None
    profile = body.get("companyProfile") if isinstance(body.get("companyProfile"), dict) else {}
    tenant = _text(body.get("id")) or _text(profile.get("tenantId"))
    return (tenant, _text(profile.get("domain"))) if tenant else None


def split_offer_id(offer_id: str) -> tuple[str, str, str] | None:
    """"productId:skuId:availabilityId" → its three parts (None when it is not in that form)."""
    parts = offer_id.split(":")
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


# ---------------------------------------------------------------- the REST adapter

@dataclass
class _Response:
    status: int  # 0 when no HTTP answer came back
    request_id: str
    headers: Message | None = None
    body: Any = None  # parsed JSON, or None
    text: str = ""
    network_error: ProviderError | None = None
    surely_not_sent: bool = False  # the connection was never made (refused, unknown host)


class PartnerCenterClient:
    """The real Partner Center REST API (v1), over `urllib.request`.

    `tokens` supplies the bearer token for each request (production: an MSAL-based provider doing the
    Secure Application Model refresh-token exchange; tests: `StaticTokenProvider`).
    `inline_polls` > 0 makes a 202 answer be polled right away that many times, `poll_interval` seconds
    apart, before PENDING is returned (the order job polls later either way).
    """

    name = "partner_center"

    def __init__(self, base_url: str, tokens: TokenProvider, timeout: float = 30, poll_interval: float = 2.0,
                 inline_polls: int = 0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"PARTNER_CENTER_URL must be an http(s) URL, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc)
        self.tokens = tokens
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.inline_polls = inline_polls

    # ------------------------------------------------------------ LicenseProvisioner

    def get_subscription(self, customer_id: str, subscription_id: str) -> ProvisioningResult:
        response = self._send("GET", self._subscription_url(customer_id, subscription_id), str(uuid.uuid4()))
        return self._outcome(response)

    def change_quantity(self, change: QuantityChange) -> ProvisioningResult:
        url = self._subscription_url(change.customer_id, change.subscription_id)
        current = self._read_subscription(url, change.correlation_id)
        if isinstance(current, ProvisioningResult):
            return current
        body, subscription, request_id, already = current
        if _is_deleted(subscription):
            # Cancelling again is a retry whose answer was lost; anything else cannot be done any more.
            return already if change.quantity == 0 else _failed(
                _deleted_error(subscription.subscription_id), request_id, body)
        if change.quantity == 0:
            # Cancel now (refunded): the full resource with status "deleted"; Partner Center refuses it unless
            # every seat is still inside its cancellation window.
            patched = _with_field(body, "status", DELETED)
        elif subscription.quantity == change.quantity:
            # Already there (e.g. a retry after a PATCH whose answer was lost): nothing to send.
            return already
        else:
            patched = _with_field(body, "quantity", change.quantity)  # the full resource, etag included
        return self._follow(self._outcome(self._send("PATCH", url, change.correlation_id, patched)))

    def schedule_renewal_quantity(self, renewal: RenewalQuantity) -> ProvisioningResult:
        url = self._subscription_url(renewal.customer_id, renewal.subscription_id)
        current = self._read_subscription(url, renewal.correlation_id)
        if isinstance(current, ProvisioningResult):
            return current
        body, subscription, request_id, already = current
        nothing_scheduled = _field(body, "scheduledNextTermInstructions") is None
        if _is_deleted(subscription):
            # A cancelled subscription never renews: "renew with 0" is already true of it.
            return already if renewal.quantity == 0 else _failed(
                _deleted_error(subscription.subscription_id), request_id, body)
        if renewal.quantity == 0:
            # Do not renew: auto-renew off, and no instructions for a next term that will not come.
            if not subscription.auto_renew and nothing_scheduled:
                return already
            patched = _next_term(body, auto_renew=False, instructions=None)
            return self._follow(self._outcome(self._send("PATCH", url, renewal.correlation_id, patched)))
        if renewal.quantity == subscription.quantity:
            # Renew as it is (undo an earlier scheduled change, or an earlier "renew with 0").
            if subscription.auto_renew and nothing_scheduled:
                return already
            patched = _next_term(body, auto_renew=True, instructions=None)
            return self._follow(self._outcome(self._send("PATCH", url, renewal.correlation_id, patched)))
        product_ids = split_offer_id(subscription.offer_id)
        billing_cycle, term_duration = _field(body, "billingCycle"), _field(body, "termDuration")
        if product_ids is None or not billing_cycle or not term_duration:
            return _failed(ProviderError(
                "invalid_subscription",
                f"Cannot schedule the next term of subscription {subscription.subscription_id}: its offerId "
                f"{subscription.offer_id!r} is not 'productId:skuId:availabilityId' or it has no billingCycle/"
                "termDuration (not a new-commerce subscription?).",
                retryable=False,
            ), request_id, body)
        product_id, sku_id, availability_id = product_ids
        instructions = {
            "product": {
                "productId": product_id,
                "skuId": sku_id,
                "availabilityId": availability_id,
                "billingCycle": billing_cycle,
                "termDuration": term_duration,
            },
            "quantity": renewal.quantity,
        }
        # Scheduled changes only apply to a subscription that renews: make sure auto-renew is on.
        patched = _next_term(body, auto_renew=True, instructions=instructions)
        return self._follow(self._outcome(self._send("PATCH", url, renewal.correlation_id, patched)))

    def schedule_next_term(self, next_term: NextTerm) -> ProvisioningResult:
        """GET the subscription, then PATCH the full resource with `scheduledNextTermInstructions` (quantity and
        product/term) and `autoRenewEnabled: true`, or with the instructions null when the target is the
        subscription as it is (a withdrawal). Already so: DONE without a PATCH (a retry whose answer was lost)."""
        url = self._subscription_url(next_term.customer_id, next_term.subscription_id)
        current = self._read_subscription(url, next_term.correlation_id)
        if isinstance(current, ProvisioningResult):
            return current
        body, subscription, request_id, already = current
        if _is_deleted(subscription):
            return _failed(_deleted_error(subscription.subscription_id), request_id, body)
        target = split_offer_id(next_term.offer_id)
        if target is None or next_term.quantity < 1:
            return _failed(ProviderError(
                "invalid_next_term", f"Cannot schedule {next_term.quantity} x {next_term.offer_id!r} for the next "
                "term: the offer must be 'productId:skuId:availabilityId' and the quantity at least 1.",
                retryable=False), request_id, body)
        as_it_is = (next_term.offer_id == subscription.offer_id and next_term.quantity == subscription.quantity
                    and str(_field(body, "billingCycle") or "").lower() == next_term.billing_cycle.lower()
                    and _field(body, "termDuration") == next_term.term_duration)
        if as_it_is:
            if subscription.auto_renew and _field(body, "scheduledNextTermInstructions") is None:
                return already
            patched = _next_term(body, auto_renew=True, instructions=None)
            return self._follow(self._outcome(self._send("PATCH", url, next_term.correlation_id, patched)))
        instructions = next_term_instructions(next_term)
        if (subscription.auto_renew and _field(body, "scheduledNextTermInstructions") == instructions):
            return already
        patched = _next_term(body, auto_renew=True, instructions=instructions)
        return self._follow(self._outcome(self._send("PATCH", url, next_term.correlation_id, patched)))

    def purchase(self, purchase: Purchase) -> ProvisioningResult:
        customer = quote(purchase.customer_id, safe="")
        cart_request = {"lineItems": [{
            "id": 0,
            "catalogItemId": purchase.offer_id,
            "quantity": purchase.quantity,
            "billingCycle": purchase.billing_cycle,
            "termDuration": purchase.term_duration,
        }]}
        created = self._send("POST", f"{self.base_url}/v1/customers/{customer}/carts", purchase.correlation_id,
                             cart_request)
        if created.network_error is not None or created.status not in (200, 201):
            return self._outcome(created) if created.status != 202 else self._unexpected(created)
        cart = created.body
        for line in _field(cart, "lineItems") or []:
            error = _field(line, "error")
            if isinstance(error, dict):
                return _failed(ProviderError(
                    str(_field(error, "errorCode") or "cart_error"),
                    str(_field(error, "errorDescription") or "Partner Center refused the cart line item."),
                    retryable=False,
                ), created.request_id, cart)
        cart_id = _field(cart, "id")
        if not isinstance(cart_id, str) or not cart_id:
            return _failed(ProviderError("invalid_response", "Partner Center created a cart without an id.", False),
                           created.request_id, cart)

        checkout_url = f"{self.base_url}/v1/customers/{customer}/carts/{quote(cart_id, safe='')}/checkout"
        checkout = self._send("POST", checkout_url, purchase.correlation_id, None)
        ambiguous = self._checkout_failure(checkout)
        if ambiguous is not None:
            return ambiguous
        if checkout.status not in (200, 201):
            return self._outcome(checkout) if checkout.status >= 400 else self._unexpected(checkout)
        return self._checkout_result(purchase, checkout)

    def poll(self, operation_url: str) -> ProvisioningResult:
        parts = urlsplit(operation_url)
        if (parts.scheme, parts.netloc) != self._origin:
            # Never send our bearer token anywhere but Partner Center.
            return _failed(ProviderError(
                "invalid_operation_url",
                f"Refusing to poll {operation_url!r}: it is not on {self.base_url}.",
                retryable=False,
            ))
        response = self._send("GET", operation_url, str(uuid.uuid4()))
        if response.status == 200 and isinstance(response.body, dict) and _field(response.body, "lineItems"):
            return self._order_result(response, operation_url)
        if response.status == 202:
            return ProvisioningResult(Outcome.PENDING, operation_url=operation_url,
                                      provider_request_id=response.request_id,
                                      raw=response.body if isinstance(response.body, dict) else {})
        if response.status == 200 and parse_subscription(response.body) is None:
            return self._operation_status(response, operation_url)
        return self._outcome(response)

    # ------------------------------------------------------------ the Microsoft Customer Agreement

    def agreement_template(self) -> AgreementTemplateResult:
        url = f"{self.base_url}/v1/agreements?agreementType={MICROSOFT_CUSTOMER_AGREEMENT}"
        response = self._send("GET", url, str(uuid.uuid4()))
        raw = response.body if isinstance(response.body, dict) else {}
        if response.network_error is not None or response.status != 200:
            failed = self._outcome(response) if response.status != 200 else self._unexpected(response)
            return AgreementTemplateResult(Outcome.FAILED, error=failed.error,
                                           provider_request_id=response.request_id, raw=raw)
        template = parse_agreement_template(raw)
        if template is None:
            return AgreementTemplateResult(Outcome.FAILED, error=ProviderError(
                "invalid_response", "Partner Center listed no Microsoft Customer Agreement template: "
                + (" ".join(response.text.split())[:300] or "empty body"), retryable=False,
            ), provider_request_id=response.request_id, raw=raw)
        return AgreementTemplateResult(Outcome.DONE, template=template, provider_request_id=response.request_id,
                                       raw=raw)

    def attest_agreement(self, attestation: AgreementAttestation) -> ProvisioningResult:
        url = f"{self.base_url}/v1/customers/{quote(attestation.customer_id, safe='')}/agreements"
        response = self._send("POST", url, attestation.correlation_id, attestation_body(attestation))
        raw = response.body if isinstance(response.body, dict) else {}
        if response.network_error is not None:
            return _failed(response.network_error, response.request_id)
        if response.status in (200, 201):
            return ProvisioningResult(Outcome.DONE, provider_request_id=response.request_id, raw=raw)
        if response.status >= 400:
            error = self._error(response)
            if error.code == AGREEMENT_ALREADY_EXISTS:  # the same contact was confirmed before: already done
                return ProvisioningResult(Outcome.DONE, provider_request_id=response.request_id, raw=raw)
            return _failed(error, response.request_id, raw)
        return self._unexpected(response)

    def create_customer(self, customer: NewCustomer) -> CustomerResult:
        response = self._send("POST", f"{self.base_url}/v1/customers", customer.correlation_id,
                              customer_body(customer))
        return self._customer_result(response, parse_customer(response.body) if response.status in (200, 201)
                                     else None)

    def find_customer(self, domain: str) -> CustomerResult:
        """GET /v1/customers filtered by domain (the documented filter: Field Domain, Operator starts_with); only
        a customer whose domain is exactly `domain` counts."""
        query = json.dumps({"Field": "Domain", "Value": domain, "Operator": "starts_with"})
        response = self._send("GET", f"{self.base_url}/v1/customers?size=20&filter={quote(query, safe='')}",
                              str(uuid.uuid4()))
        found = None
        if response.status == 200 and isinstance(response.body, dict):
            for item in response.body.get("items") or []:
                parsed = parse_customer(item)
                if parsed and (parsed[1] or "").lower() == domain.lower():
                    found = parsed
                    break
            if found is None:
                return CustomerResult(Outcome.FAILED, error=ProviderError(
                    "not_found", f"No customer of this partner has the domain {domain}.", retryable=False),
                    provider_request_id=response.request_id, raw=response.body)
        return self._customer_result(response, found)

    def _customer_result(self, response: _Response, parsed: tuple[str, str | None] | None) -> CustomerResult:
        raw = response.body if isinstance(response.body, dict) else {}
        if parsed is not None:
            return CustomerResult(Outcome.DONE, tenant_id=parsed[0], domain=parsed[1],
                                  provider_request_id=response.request_id, raw=raw)
        failed = self._outcome(response) if response.status >= 400 or response.network_error else \
            self._unexpected(response)
        return CustomerResult(Outcome.FAILED, error=failed.error, provider_request_id=response.request_id, raw=raw)

    # ------------------------------------------------------------ HTTP

    def _subscription_url(self, customer_id: str, subscription_id: str) -> str:
        return (f"{self.base_url}/v1/customers/{quote(customer_id, safe='')}"
                f"/subscriptions/{quote(subscription_id, safe='')}")

    def _send(self, method: str, url: str, correlation_id: str, payload: dict | None = None) -> _Response:
        request_id = str(uuid.uuid4())
        try:
            token = self.tokens.token()
        except Exception as exc:  # a token provider failing (MSAL, network to Entra ID) is not our bug
            error = ProviderError("token", f"Could not obtain a Partner Center access token: {exc}", retryable=True)
            return _Response(0, request_id, network_error=error, surely_not_sent=True)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "MS-RequestId": request_id,
            "MS-CorrelationId": correlation_id,
        }
        data = None
        if payload is not None or method in ("POST", "PATCH", "PUT"):
            data = b"" if payload is None else json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        # The URL is PARTNER_CENTER_URL (an http(s) URL checked in __init__) or a Location on that same origin.
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - same reason
                return self._response(answer.status, answer.headers, answer.read(), request_id)
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            return self._response(exc.code, exc.headers, raw, request_id)
        except urllib.error.URLError as exc:
            reason = exc.reason
            return _Response(0, request_id, network_error=self._network_error(reason),
                             surely_not_sent=isinstance(reason, ConnectionRefusedError | socket.gaierror))
        except (OSError, http.client.HTTPException) as exc:  # timeouts while reading, dropped connections
            return _Response(0, request_id, network_error=self._network_error(exc))

    def _network_error(self, reason: object) -> ProviderError:
        if isinstance(reason, TimeoutError):
            detail = f"no answer within {self.timeout:g} s"
        else:
            detail = str(reason) or type(reason).__name__
        return ProviderError("network", f"Network error talking to Partner Center ({self.base_url}): {detail}",
                             retryable=True)

    @staticmethod
    def _response(status: int, headers: Message | None, raw: bytes, request_id: str) -> _Response:
        text = raw.decode("utf-8-sig", errors="replace")  # Partner Center may send a UTF-8 BOM
        body = None
        if text.strip():
            try:
                body = json.loads(text)
            except ValueError:
                body = None
        return _Response(status, request_id, headers=headers, body=body, text=text)

    # ------------------------------------------------------------ answers → results

    def _read_subscription(self, url: str, correlation_id: str):
        response = self._send("GET", url, correlation_id)
        if response.status != 200:
            return self._outcome(response)
        subscription = parse_subscription(response.body)
        if subscription is None:
            return self._unexpected(response)
        # The resource as read, and "already done" as a result (a retry whose answer was lost finds it so).
        already = ProvisioningResult(Outcome.DONE, subscription=subscription, provider_request_id=response.request_id,
                                     raw=response.body)
        return response.body, subscription, response.request_id, already

    def _outcome(self, response: _Response) -> ProvisioningResult:
        if response.network_error is not None:
            return _failed(response.network_error, response.request_id)
        raw = response.body if isinstance(response.body, dict) else {}
        if response.status in (200, 201):
            subscription = parse_subscription(response.body)
            if subscription is None:
                return self._unexpected(response)
            return ProvisioningResult(Outcome.DONE, subscription=subscription,
                                      provider_request_id=response.request_id, raw=raw)
        if response.status == 202:
            location = response.headers.get("Location") if response.headers is not None else None
            if not location:
                return _failed(ProviderError(
                    "invalid_response", "Partner Center accepted the change (202) without a Location to poll.",
                    retryable=False,
                ), response.request_id, raw)
            return ProvisioningResult(Outcome.PENDING, operation_url=urljoin(self.base_url + "/", location),
                                      provider_request_id=response.request_id, raw=raw)
        if response.status >= 400:
            return _failed(self._error(response), response.request_id, raw)
        return self._unexpected(response)

    @staticmethod
    def _error(response: _Response) -> ProviderError:
        body = response.body if isinstance(response.body, dict) else {}
        code = _text(_field(body, "code")) or str(response.status)
        message = (_text(_field(body, "description")) or _text(_field(body, "message"))
                   or _text(_field(body, "errorName")))
        if message is None:
            snippet = " ".join(response.text.split())[:300]
            reason = http.client.responses.get(response.status, "")
            message = f"HTTP {response.status} {reason}".strip() + (f": {snippet}" if snippet else "")
        retryable = (
            response.status >= 500
            or response.status in (409, 412, 429)  # conflict / stale etag: GET again; throttled: later
            or code == ETAG_NO_LONGER_VALID  # documented as a 400 with this code
            or _field(body, "isRetryable") is True
        )
        return ProviderError(code, message, retryable)

    @staticmethod
    def _unexpected(response: _Response) -> ProvisioningResult:
        snippet = " ".join(response.text.split())[:300]
        return _failed(ProviderError(
            "invalid_response",
            f"Unexpected answer from Partner Center (HTTP {response.status}): {snippet or 'empty body'}",
            retryable=False,
        ), response.request_id, response.body)

    def _follow(self, result: ProvisioningResult) -> ProvisioningResult:
        for _ in range(self.inline_polls):
            if result.outcome is not Outcome.PENDING or result.operation_url is None:
                break
            time.sleep(self.poll_interval)
            result = self.poll(result.operation_url)
        return result

    def _checkout_failure(self, checkout: _Response) -> ProvisioningResult | None:
        """A checkout whose fate is unknown must not be retried blindly: a retry buys a second subscription."""
        if checkout.network_error is not None:
            error = checkout.network_error
            if checkout.surely_not_sent:
                return _failed(error, checkout.request_id)
            return _failed(ProviderError(error.code, error.message + _CHECKOUT_OUTCOME_UNKNOWN, retryable=False),
                           checkout.request_id)
        if checkout.status >= 500:
            error = self._error(checkout)
            return _failed(ProviderError(error.code, error.message + _CHECKOUT_OUTCOME_UNKNOWN, retryable=False),
                           checkout.request_id, checkout.body)
        return None

    def _checkout_result(self, purchase: Purchase, checkout: _Response) -> ProvisioningResult:
        result = checkout.body if isinstance(checkout.body, dict) else {}
        errors = [e for e in _field(result, "orderErrors") or [] if isinstance(e, dict)]
        if errors:
            first = errors[0]
            return _failed(ProviderError(
                str(_field(first, "code") or "order_error"),
                str(_field(first, "description") or "Partner Center refused the order."),
                retryable=False,
            ), checkout.request_id, result)
        orders = [o for o in _field(result, "orders") or [] if isinstance(o, dict)]
        if not orders:
            return _failed(ProviderError(
                "invalid_response",
                "Partner Center answered the checkout without orders or orderErrors." + _CHECKOUT_OUTCOME_UNKNOWN,
                retryable=False,
            ), checkout.request_id, result)
        order = orders[0]
        order_id = _text(_field(order, "id"))
        line = next(iter(_field(order, "lineItems") or []), {})
        subscription_id = _text(_field(line, "subscriptionId"))
        if subscription_id is None:
            if order_id is None:
                return self._unexpected(checkout)
            # The order is still being fulfilled: its subscription id shows up on the order later.
            customer = quote(purchase.customer_id, safe="")
            return ProvisioningResult(
                Outcome.PENDING,
                operation_url=f"{self.base_url}/v1/customers/{customer}/orders/{quote(order_id, safe='')}",
                provider_request_id=order_id, raw=result,
            )
        subscription = self._subscription_after_order(purchase.customer_id, subscription_id, order, line,
                                                      purchase.correlation_id)
        return ProvisioningResult(Outcome.DONE, subscription=subscription,
                                  provider_request_id=order_id or checkout.request_id, raw=result)

    def _order_result(self, response: _Response, operation_url: str) -> ProvisioningResult:
        order = response.body
        line = next(iter(_field(order, "lineItems") or []), {})
        subscription_id = _text(_field(line, "subscriptionId"))
        if subscription_id is None:
            return ProvisioningResult(Outcome.PENDING, operation_url=operation_url,
                                      provider_request_id=response.request_id, raw=order)
        path = urlsplit(operation_url).path.split("/")  # …/customers/{customer-id}/orders/{order-id}
        customer_id = _text(_field(order, "referenceCustomerId")) or path[path.index("customers") + 1]
        subscription = self._subscription_after_order(customer_id, subscription_id, order, line, str(uuid.uuid4()))
        return ProvisioningResult(Outcome.DONE, subscription=subscription,
                                  provider_request_id=_text(_field(order, "id")) or response.request_id, raw=order)

    def _subscription_after_order(self, customer_id: str, subscription_id: str, order: dict, line: dict,
                                  correlation_id: str) -> ProviderSubscription:
        """The new subscription as Partner Center shows it; from the order line when it cannot be read yet.

        The purchase is done either way, so a failing read must not turn it into a failure."""
        response = self._send("GET", self._subscription_url(customer_id, subscription_id), correlation_id)
        if response.status == 200:
            subscription = parse_subscription(response.body)
            if subscription is not None:
                return subscription
        status = str(_field(order, "status") or "")
        return ProviderSubscription(
            subscription_id=subscription_id,
            offer_id=str(_field(line, "offerId") or ""),
            quantity=_as_int(_field(line, "quantity")) or 0,
            status="pending" if status.lower() == "pending" else "active",
        )

    def _operation_status(self, response: _Response, operation_url: str) -> ProvisioningResult:
        """A 200 operation-status body ({"status": ...}) instead of the resource itself."""
        body = response.body if isinstance(response.body, dict) else {}
        status = str(_field(body, "status") or "").lower()
        if status in ("notstarted", "running", "inprogress", "pending", "accepted"):
            return ProvisioningResult(Outcome.PENDING, operation_url=operation_url,
                                      provider_request_id=response.request_id, raw=body)
        if status in ("failed", "canceled", "cancelled"):
            error = _field(body, "error")
            source = error if isinstance(error, dict) else body
            return _failed(ProviderError(
                str(_field(source, "code") or "operation_failed"),
                str(_field(source, "description") or _field(source, "message") or f"The operation {status}."),
                retryable=_field(source, "isRetryable") is True,
            ), response.request_id, body)
        return self._unexpected(response)


# ---------------------------------------------------------------- the simulator

@dataclass
class _Seats:
    quantity: int
    refundable_until: datetime


@dataclass
class _SimSubscription:
    customer_id: str
    subscription_id: str
    offer_id: str
    quantity: int
    billing_cycle: str = "monthly"
    term_duration: str = "P1Y"
    commitment_end_date: str | None = None
    seats: list[_Seats] = field(default_factory=list)  # seats still (or once) inside their 168 h window
    scheduled_quantity: int | None = None
    scheduled_product: dict | None = None  # the next term's `product` of scheduledNextTermInstructions, if any
    auto_renew: bool = True
    status: str = "active"  # or DELETED once cancelled
    version: int = 1
    pending_operation: str | None = None

    def refundable(self, now: datetime) -> int:
        return sum(s.quantity for s in self.seats if now <= s.refundable_until)

    def as_provider(self) -> ProviderSubscription:
        until = max((s.refundable_until for s in self.seats), default=None)
        return ProviderSubscription(
            subscription_id=self.subscription_id,
            offer_id=self.offer_id,
            quantity=self.quantity,
            status=self.status,
            etag=f"simulator-{self.version}",
            cancellation_allowed_until=_iso(until) if until else None,
            commitment_end_date=self.commitment_end_date,
            scheduled_quantity=self.scheduled_quantity,
            scheduled_offer_id=":".join((self.scheduled_product["productId"], self.scheduled_product["skuId"],
                                         self.scheduled_product["availabilityId"])) if self.scheduled_product else None,
            scheduled_billing_cycle=self.scheduled_product["billingCycle"] if self.scheduled_product else None,
            scheduled_term_duration=self.scheduled_product["termDuration"] if self.scheduled_product else None,
            auto_renew=self.auto_renew,
        )


@dataclass
class _SimOperation:
    ready_at: datetime
    apply: Callable[[], _SimSubscription]
    result: ProvisioningResult | None = None


def _term_end(start: date, term: str) -> date | None:
    """The last day of an ISO 8601 term ("P1M", "P1Y", "P3Y") starting on `start`."""
    if len(term) < 3 or not term.startswith("P") or term[-1] not in "MY" or not term[1:-1].isdigit():
        return None
    months = int(term[1:-1]) * (12 if term[-1] == "Y" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) - timedelta(days=1)


class PartnerCenterSimulator:
    """A SIMULATOR of Partner Center, in process and in memory. It talks to nobody: nothing reaches
    Microsoft, no license is bought. It is the default backend so `make run` needs no account.

    It behaves like the real service where it matters to the portal:

    - `delay_seconds` = 0 answers DONE at once; > 0 answers PENDING with a `simulator://operations/<id>`
      URL that `poll` reports DONE once `clock.now()` has passed the ready time (the change is applied then);
    - `failure_rate` (0.0–1.0, drawn from `random.Random(seed)`) answers FAILED, retryable, code "simulated";
    - NCE: seats may only be removed within 168 h of being bought or added (`refundable` seats); otherwise
      FAILED, not retryable, code 800090, as Partner Center does; a negative quantity is refused (2002);
    - quantity 0 cancels the subscription (status "deleted", quantity kept, auto-renew off), only if every
      seat is refundable (else 800090); a cancelled subscription refuses further changes
      (`subscription_deleted`), except cancelling again or renewing with 0, which are DONE as they are;
    - renewal quantity: 0 turns auto-renew off and drops anything scheduled; the current quantity drops
      anything scheduled and turns auto-renew on; any other quantity is scheduled (auto-renew on);
    - one change at a time per subscription (a second one while PENDING gets 900278, retryable).

    LENIENCY (the simulator is kinder than Partner Center here, on purpose): a subscription it has never
    seen, i.e. not created by `purchase` or `add_subscription` in this process, is created on first sight
    with the quantity asked for, and ALL its seats refundable for 168 h from that first sight. State lives
    in this object only, so after a restart every subscription is new to it; the portal has already
    checked the 168 h window against its own records before asking, and a simulator that refused those
    decreases would only be wrong. After the 168 h the first-sight seats are no longer refundable, and
    seats added later open their own window as usual. A subscription seen first through a renewal change
    has no "current quantity" to compare with: the quantity asked for is scheduled as it is.
    Tests that need the strict rule seed subscriptions with `add_subscription` (refundable only until the
    `cancellation_allowed_until` given, none if not given). Pending operations of a restarted process poll
    as FAILED (`unknown_operation`).
    """

    name = "simulator"
    OPERATION_PREFIX = "simulator://operations/"

    def __init__(self, delay_seconds: float = 0, failure_rate: float = 0.0, seed: int | None = None) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be between 0.0 and 1.0, not {failure_rate!r}")
        if delay_seconds < 0:
            raise ValueError(f"delay_seconds must not be negative, not {delay_seconds!r}")
        self.delay = timedelta(seconds=delay_seconds)
        self.failure_rate = failure_rate
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._subscriptions: dict[tuple[str, str], _SimSubscription] = {}
        self._operations: dict[str, _SimOperation] = {}
        self._agreements: dict[str, list[dict]] = {}  # customer id → the MCA attestations it holds
        self._customers: dict[str, str] = {}  # domain → tenant id, of customers it created
        # productId:skuId → the productId:skuId it may move to at renewal (`allow_upgrade`); LENIENCY: when
        # nothing was told of a product, any target of another SKU is refused, its own SKU's terms accepted.
        self._upgrades: dict[tuple[str, str], set[tuple[str, str]]] = {}

    # ------------------------------------------------------------ set-up (demo data, tests)

    def add_subscription(self, customer_id: str, offer_id: str, quantity: int,
                         cancellation_allowed_until: datetime | None = None, subscription_id: str | None = None,
                         billing_cycle: str = "monthly", term_duration: str = "P1Y", auto_renew: bool = True) -> str:
        """An existing subscription; its seats are refundable until `cancellation_allowed_until` (if given,
        none of them otherwise): the strict behaviour tests rely on, unlike first sight (see the class)."""
        subscription_id = subscription_id or str(uuid.uuid4())
        end = _term_end(clock.now().date(), term_duration)
        with self._lock:
            self._subscriptions[(customer_id, subscription_id)] = _SimSubscription(
                customer_id, subscription_id, offer_id, quantity, billing_cycle, term_duration,
                end.isoformat() if end else None,
                [_Seats(quantity, cancellation_allowed_until)] if cancellation_allowed_until else [],
                auto_renew=auto_renew,
            )
        return subscription_id

    # ------------------------------------------------------------ LicenseProvisioner

    def get_subscription(self, customer_id: str, subscription_id: str) -> ProvisioningResult:
        with self._lock:
            self._settle()
            subscription = self._subscriptions.get((customer_id, subscription_id))
            if subscription is None:
                return self._refusal(404, SUBSCRIPTION_NOT_FOUND, f"Subscription with id {subscription_id} not found.")
            return self._done(subscription)

    def change_quantity(self, change: QuantityChange) -> ProvisioningResult:
        with self._lock:
            self._settle()
            failure = self._simulated_failure()
            if failure is not None:
                return failure
            if change.quantity < 0:
                return self._refusal(400, QUANTITY_OUT_OF_RANGE, _OUT_OF_RANGE_MESSAGE)
            subscription = self._subscription_for(change.customer_id, change.subscription_id, change.quantity)
            if subscription.status == DELETED:
                if change.quantity == 0:
                    return self._done(subscription)  # cancelled already: a retry
                return _failed(_deleted_error(subscription.subscription_id), f"simulator-{uuid.uuid4()}")
            busy = self._busy(subscription)
            if busy is not None:
                return busy
            decrease = subscription.quantity - change.quantity
            if decrease > 0:
                refundable = subscription.refundable(clock.now())
                if decrease > refundable:
                    message = (_cancel_refused_message(subscription.quantity, refundable) if change.quantity == 0
                               else _decrease_refused_message(decrease, refundable))
                    return self._refusal(400, QUANTITY_CANNOT_BE_DECREASED, message)

            def apply() -> _SimSubscription:
                if change.quantity == 0:
                    _cancel(subscription)
                else:
                    _set_quantity(subscription, change.quantity, clock.now())
                return subscription

            return self._run(apply, subscription)

    def schedule_renewal_quantity(self, renewal: RenewalQuantity) -> ProvisioningResult:
        with self._lock:
            self._settle()
            failure = self._simulated_failure()
            if failure is not None:
                return failure
            if renewal.quantity < 0:
                return self._refusal(400, QUANTITY_OUT_OF_RANGE, _OUT_OF_RANGE_MESSAGE)
            first_sight = (renewal.customer_id, renewal.subscription_id) not in self._subscriptions
            subscription = self._subscription_for(renewal.customer_id, renewal.subscription_id, renewal.quantity)
            if subscription.status == DELETED:
                if renewal.quantity == 0:
                    return self._done(subscription)  # a cancelled subscription never renews
                return _failed(_deleted_error(subscription.subscription_id), f"simulator-{uuid.uuid4()}")
            busy = self._busy(subscription)
            if busy is not None:
                return busy
            as_it_is = not first_sight and renewal.quantity == subscription.quantity

            def apply() -> _SimSubscription:
                if renewal.quantity == 0:
                    subscription.auto_renew = False
                    subscription.scheduled_quantity = subscription.scheduled_product = None
                else:
                    subscription.auto_renew = True
                    subscription.scheduled_quantity = None if as_it_is else renewal.quantity
                    subscription.scheduled_product = None
                subscription.version += 1
                return subscription

            return self._run(apply, subscription)

    def schedule_next_term(self, next_term: NextTerm) -> ProvisioningResult:
        """Scheduled as asked (auto-renew on); the subscription as it is drops the schedule. An offer of another
        productId:skuId must be an upgrade the simulator was told of (`allow_upgrade`), else 800004 as Partner
        Center refuses an ineligible target. LENIENCY as for renewal quantities: a subscription it has never seen is
        created with the quantity asked for and the target offer (nothing to compare it with)."""
        with self._lock:
            self._settle()
            failure = self._simulated_failure()
            if failure is not None:
                return failure
            if next_term.quantity < 1:
                return self._refusal(400, QUANTITY_OUT_OF_RANGE, _OUT_OF_RANGE_MESSAGE)
            target = split_offer_id(next_term.offer_id)
            if target is None:
                return self._refusal(400, INVALID_OFFER_ID, f"Invalid offer Id {next_term.offer_id!r} for the next "
                                     "term: expected productId:skuId:availabilityId.")
            key = (next_term.customer_id, next_term.subscription_id)
            if key not in self._subscriptions:
                self.add_subscription(next_term.customer_id, next_term.offer_id, next_term.quantity,
                                      subscription_id=next_term.subscription_id, billing_cycle=next_term.billing_cycle,
                                      term_duration=next_term.term_duration)
            subscription = self._subscriptions[key]
            if subscription.status == DELETED:
                return _failed(_deleted_error(subscription.subscription_id), f"simulator-{uuid.uuid4()}")
            busy = self._busy(subscription)
            if busy is not None:
                return busy
            current = split_offer_id(subscription.offer_id)
            if current is not None and current[:2] != target[:2] \
                    and target[:2] not in self._upgrades.get(current[:2], set()):
                return self._refusal(400, INVALID_OFFER_ID, f"{next_term.offer_id} is not an eligible upgrade of "
                                     f"{subscription.offer_id} for the next term.")
            as_it_is = (next_term.offer_id == subscription.offer_id and next_term.quantity == subscription.quantity
                        and next_term.billing_cycle == subscription.billing_cycle
                        and next_term.term_duration == subscription.term_duration)

            def apply() -> _SimSubscription:
                subscription.auto_renew = True
                if as_it_is:
                    subscription.scheduled_quantity = subscription.scheduled_product = None
                else:
                    subscription.scheduled_quantity = next_term.quantity
                    subscription.scheduled_product = next_term_instructions(next_term)["product"]
                subscription.version += 1
                return subscription

            return self._run(apply, subscription)

    def allow_upgrade(self, from_offer: str, to_offer: str) -> None:
        """Partner Center lists `to_offer` as an upgrade of `from_offer` (their productId:skuId count)."""
        source, target = split_offer_id(from_offer), split_offer_id(to_offer)
        if source is None or target is None:
            raise ValueError("offers are productId:skuId:availabilityId")
        with self._lock:
            self._upgrades.setdefault(source[:2], set()).add(target[:2])

    def purchase(self, purchase: Purchase) -> ProvisioningResult:
        with self._lock:
            self._settle()
            failure = self._simulated_failure()
            if failure is not None:
                return failure
            if split_offer_id(purchase.offer_id) is None:
                message = f"Invalid offer Id {purchase.offer_id!r}: expected productId:skuId:availabilityId."
                return self._refusal(400, INVALID_OFFER_ID, message)
            if purchase.quantity < 1:
                return self._refusal(400, QUANTITY_OUT_OF_RANGE, _OUT_OF_RANGE_MESSAGE)
            end = _term_end(clock.now().date(), purchase.term_duration)
            if end is None:
                return self._refusal(400, "800002", f"Invalid request input: termDuration {purchase.term_duration!r}.")
            subscription_id = str(uuid.uuid4())

            def apply() -> _SimSubscription:
                now = clock.now()
                subscription = _SimSubscription(
                    purchase.customer_id, subscription_id, purchase.offer_id, purchase.quantity,
                    purchase.billing_cycle, purchase.term_duration,
                    (_term_end(now.date(), purchase.term_duration) or end).isoformat(),
                    [_Seats(purchase.quantity, now + NCE_CANCELLATION_WINDOW)],
                )
                self._subscriptions[(purchase.customer_id, subscription_id)] = subscription
                return subscription

            return self._run(apply, None)

    def poll(self, operation_url: str) -> ProvisioningResult:
        with self._lock:
            self._settle()
            operation_id = operation_url.removeprefix(self.OPERATION_PREFIX)
            operation = self._operations.get(operation_id) if operation_url.startswith(self.OPERATION_PREFIX) else None
            if operation is None:
                return _failed(ProviderError(
                    "unknown_operation",
                    f"The simulator knows no operation {operation_url!r} (was the process restarted?).",
                    retryable=False,
                ))
            if operation.result is None:
                return ProvisioningResult(Outcome.PENDING, operation_url=operation_url,
                                          provider_request_id=operation_id)
            return operation.result

    # ------------------------------------------------------------ the Microsoft Customer Agreement

    def agreement_template(self) -> AgreementTemplateResult:
        with self._lock:
            failure = self._simulated_failure()
            if failure is not None:
                return AgreementTemplateResult(Outcome.FAILED, error=failure.error,
                                               provider_request_id=failure.provider_request_id)
            return AgreementTemplateResult(Outcome.DONE, template=AgreementTemplate(MCA_TEMPLATE_ID, MCA_LINK, 0),
                                           provider_request_id=f"simulator-{uuid.uuid4()}")

    def attest_agreement(self, attestation: AgreementAttestation) -> ProvisioningResult:
        """Recorded per customer; the same contact again is a duplicate Partner Center refuses (600061): DONE."""
        with self._lock:
            failure = self._simulated_failure()
            if failure is not None:
                return failure
            if attestation.template_id != MCA_TEMPLATE_ID:
                return self._refusal(400, "800002", f"Invalid request input: templateId {attestation.template_id!r} "
                                     "is not a Microsoft Customer Agreement template.")
            if not (attestation.first_name and attestation.last_name and attestation.email):
                return self._refusal(400, "800002", "Invalid request input: primaryContact needs firstName, "
                                     "lastName and email.")
            if attestation.date_agreed > clock.now().astimezone(UTC).date():
                return self._refusal(400, "800002", "Invalid request input: dateAgreed cannot be in the future.")
            body = attestation_body(attestation)
            held = self._agreements.setdefault(attestation.customer_id, [])
            same = [a for a in held if (a["templateId"], a["primaryContact"]) == (body["templateId"],
                                                                                   body["primaryContact"])]
            if same:
                return ProvisioningResult(Outcome.DONE, provider_request_id=f"simulator-{uuid.uuid4()}", raw={
                    "code": AGREEMENT_ALREADY_EXISTS, "errorName": "PartnerConfirmedAgreementAlreadyExists",
                    "description": "A partner confirmed agreement already exists for the customer."})
            agreement = {**body, "userId": "simulator"}
            held.append(agreement)
            return ProvisioningResult(Outcome.DONE, provider_request_id=f"simulator-{uuid.uuid4()}", raw=agreement)

    def create_customer(self, customer: NewCustomer) -> CustomerResult:
        """A new tenant id (a random GUID) for the domain; a domain it created before is taken."""
        with self._lock:
            failure = self._simulated_failure()
            if failure is not None:
                return CustomerResult(Outcome.FAILED, error=failure.error)
            domain = customer.domain.lower()
            if domain in self._customers:
                return CustomerResult(Outcome.FAILED, error=ProviderError(
                    DOMAIN_TAKEN, f"The domain {domain} is already in use.", retryable=False))
            tenant_id = self._customers[domain] = str(uuid.uuid4())
            return CustomerResult(Outcome.DONE, tenant_id=tenant_id, domain=domain,
                                  raw={"id": tenant_id, "companyProfile": {"tenantId": tenant_id, "domain": domain}})

    def find_customer(self, domain: str) -> CustomerResult:
        """LENIENCY: any domain is a customer of the reseller (it has no list of them); the tenant id is derived
        from the domain, so the same domain always gives the same id."""
        domain = domain.lower()
        with self._lock:
            tenant_id = self._customers.get(domain) or str(uuid.uuid5(uuid.NAMESPACE_DNS, domain))
        return CustomerResult(Outcome.DONE, tenant_id=tenant_id, domain=domain)

    def agreements(self, customer_id: str) -> list[dict]:
        """The attestations the simulator holds for a customer (tests, and staff curiosity in `make run`)."""
        with self._lock:
            return [dict(a) for a in self._agreements.get(customer_id, [])]

    # ------------------------------------------------------------ internals

    def _subscription_for(self, customer_id: str, subscription_id: str, quantity: int) -> _SimSubscription:
        """The subscription, created on first sight with all its seats refundable for 168 h (the leniency
        the class docstring explains)."""
        key = (customer_id, subscription_id)
        if key not in self._subscriptions:
            self.add_subscription(customer_id, "", quantity, subscription_id=subscription_id,
                                  cancellation_allowed_until=clock.now() + NCE_CANCELLATION_WINDOW)
        return self._subscriptions[key]

    def _simulated_failure(self) -> ProvisioningResult | None:
        if self._random.random() < self.failure_rate:
            return _failed(ProviderError(
                "simulated",
                f"Simulated failure (Partner Center simulator, failure_rate={self.failure_rate:g}): nothing was "
                "changed; trying again may succeed.",
                retryable=True,
            ), f"simulator-{uuid.uuid4()}")
        return None

    def _busy(self, subscription: _SimSubscription) -> ProvisioningResult | None:
        operation = self._operations.get(subscription.pending_operation or "")
        if operation is not None and operation.result is None:
            return self._refusal(409, PENDING_OPERATION,
                                 "There's a pending operation on this subscription. Try again after it completes.")
        return None

    def _run(self, apply: Callable[[], _SimSubscription], subscription: _SimSubscription | None) -> ProvisioningResult:
        if not self.delay:
            return self._done(apply())
        operation_id = str(uuid.uuid4())
        self._operations[operation_id] = _SimOperation(clock.now() + self.delay, apply)
        if subscription is not None:
            subscription.pending_operation = operation_id
        return ProvisioningResult(Outcome.PENDING, operation_url=self.OPERATION_PREFIX + operation_id,
                                  provider_request_id=operation_id)

    def _settle(self) -> None:
        now = clock.now()
        for operation in self._operations.values():
            if operation.result is None and now >= operation.ready_at:
                operation.result = self._done(operation.apply())

    @staticmethod
    def _done(subscription: _SimSubscription) -> ProvisioningResult:
        return ProvisioningResult(Outcome.DONE, subscription=subscription.as_provider(),
                                  provider_request_id=f"simulator-{uuid.uuid4()}")

    @staticmethod
    def _refusal(status: int, code: str, message: str) -> ProvisioningResult:
        retryable = status >= 500 or status in (409, 412, 429)
        return _failed(ProviderError(code, message, retryable), f"simulator-{uuid.uuid4()}",
                       {"code": code, "description": message, "isRetryable": retryable})


def _decrease_refused_message(decrease: int, refundable: int) -> str:
    return (f"Subscription quantity can't be decreased by {decrease}: only {refundable} license(s) are still "
            "within the cancellation window (168 hours after purchase, renewal or being added). "
            "Schedule the lower quantity for the renewal instead.")


def _cancel(subscription: _SimSubscription) -> None:
    """Cancelled now with refund: Partner Center keeps the last quantity on a deleted subscription."""
    subscription.seats = []
    subscription.status = DELETED
    subscription.auto_renew = False
    subscription.scheduled_quantity = subscription.scheduled_product = None
    subscription.version += 1


def _set_quantity(subscription: _SimSubscription, quantity: int, now: datetime) -> None:
    change = quantity - subscription.quantity
    if change > 0:
        subscription.seats.append(_Seats(change, now + NCE_CANCELLATION_WINDOW))
    remove = -change
    for seats in reversed(subscription.seats):  # the newest refundable seats go first
        if remove <= 0:
            break
        if now <= seats.refundable_until:
            taken = min(seats.quantity, remove)
            seats.quantity -= taken
            remove -= taken
    subscription.seats = [s for s in subscription.seats if s.quantity > 0]
    if quantity != subscription.quantity:
        # Partner Center: "If you make a mid-term (immediate) change before your renewal date, all scheduled
        # changes that were previously scheduled to occur at renewal are deleted."
        subscription.scheduled_quantity = subscription.scheduled_product = None
    subscription.quantity = quantity
    subscription.version += 1


# ---------------------------------------------------------------- configuration

def from_config(config: dict) -> LicenseProvisioner:
    """The provisioner `PROVISIONING_BACKEND` names: "simulator" (default) or "partner_center".

    Settings: PARTNER_CENTER_URL, PARTNER_CENTER_TOKEN, PARTNER_CENTER_TIMEOUT (seconds, default 30);
    PROVISIONING_SIMULATOR_DELAY_SECONDS (default 5), PROVISIONING_SIMULATOR_FAILURE_RATE (default 0.0),
    PROVISIONING_SIMULATOR_SEED (default: unseeded).
    """
    backend = config.get("PROVISIONING_BACKEND") or "simulator"
    if backend == "simulator":
        seed = config.get("PROVISIONING_SIMULATOR_SEED")
        return PartnerCenterSimulator(
            delay_seconds=float(config.get("PROVISIONING_SIMULATOR_DELAY_SECONDS", 5)),
            failure_rate=float(config.get("PROVISIONING_SIMULATOR_FAILURE_RATE", 0.0)),
            seed=None if seed in (None, "") else int(seed),
        )
    if backend == "partner_center":
        token = config.get("PARTNER_CENTER_TOKEN")
        if not token:
            raise RuntimeError("PROVISIONING_BACKEND=partner_center needs PARTNER_CENTER_TOKEN")
        # A static token expires within the hour: production plugs an MSAL-based TokenProvider here
        # (Secure Application Model: refresh token → access token for https://api.partnercenter.microsoft.com).
        return PartnerCenterClient(
            config.get("PARTNER_CENTER_URL") or DEFAULT_BASE_URL,
            StaticTokenProvider(token),
            timeout=float(config.get("PARTNER_CENTER_TIMEOUT", 30)),
        )
    raise RuntimeError(f"PROVISIONING_BACKEND must be simulator or partner_center, not {backend!r}")
