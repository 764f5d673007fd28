"""A small local HTTP fake of the Partner Center REST API (v1), for testing `PartnerCenterClient` over real HTTP.

A Flask app served by werkzeug on 127.0.0.1 (a free port) in a daemon thread:

    fake = PartnerCenterFake(token="t").start()
    ...  PartnerCenterClient(fake.url, StaticTokenProvider("t"))  ...
    fake.stop()

What it enforces, like the real service (../shared/notes/integrations.md §5):

- `Authorization: Bearer <token>` on every route (401 with the error body otherwise); `MS-CorrelationId`
  and `MS-RequestId` are echoed on the response;
- PATCH of a subscription needs the full resource (`id` and `offerId`) and the current `attributes.etag`
  (a stale one → 412, code 2055); a quantity below 1 → 400 (2002);
- NCE: seats may be removed only within 168 h of being bought or added, per batch of seats
  (`refundableQuantity`, `cancellationAllowedUntilDate`); otherwise 400, code 800090, isRetryable false;
- cancellation is `"status": "deleted"` with the quantity unchanged, allowed only while every seat is
  refundable (else 800090, as a decrease); the subscription then reads `status: deleted`, its last
  quantity and `autoRenewEnabled: false`, and any further PATCH is refused (400, 800002);
- `autoRenewEnabled` (a bool) is taken from the body; turning it off drops the scheduled instructions;
  `scheduledNextTermInstructions` absent = unchanged, `null` = dropped, an object = validated and set
  (it needs `autoRenewEnabled: true`, else 400, 800002; its product is this productId:skuId in any
  availability, i.e. another term or billing, or an upgrade told with `allow_upgrade`, else 800004);
- a quantity change (mid-term, immediate) deletes the scheduled instructions, whatever the body carried;
- one change at a time: a PATCH while an accepted (202) change is pending → 409 (900278);
- carts expire (`expirationTimestamp`); checkout creates the subscriptions and answers `orders`
  (or `orderErrors`); a cart is checked out once (800065).

The Microsoft Customer Agreement: `GET /v1/agreements` lists the agreement templates (filtered by
`agreementType`); `POST /v1/customers/{id}/agreements` checks the documented body (`primaryContact` with
firstName, lastName, email and an optional phoneNumber; a known `templateId`; `dateAgreed` not in the future;
`type`) and stores it per customer; the same contact again → 400 with code 600061
(PartnerConfirmedAgreementAlreadyExists; the docs give the code, not the status); `GET` of the same URL lists
what is stored (`agreements(customer_id)` too).

Every request is recorded (`fake.requests`) for assertions. Test controls: `add_subscription`,
`respond_async`, `fail_next`, `stall_next`, `conflict_next_patch`, `order_error_next`, `checkout_pending`.
The clock is `portal.shared.clock`, so a frozen clock drives the windows and cart expiry.
"""

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, request

from portal.shared import clock
from tests.fakes.externals import LoopbackFake, LoopbackServer

WINDOW = timedelta(hours=168)
MCA_TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"
AGREEMENT_TEMPLATES = [
    {"templateId": MCA_TEMPLATE_ID, "agreementType": "MicrosoftCustomerAgreement",
     "agreementLink": "https://aka.ms/customeragreement", "versionRank": 0},
    {"templateId": "998b88de-aa99-4388-a42c-1b3517d49490", "agreementType": "MicrosoftCloudAgreement",
     "agreementLink": "https://aka.ms/microsoftcloudagreement", "versionRank": 0},
]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(code: Any, description: str, error_name: str, retryable: bool = False) -> dict:
    """Partner Center's error shape."""
    return {
        "code": code,
        "message": description,
        "description": description,
        "errorName": error_name,
        "isRetryable": retryable,
        "parameters": {},
        "errorMessageExtended": None,
    }


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class _Seats:
    quantity: int
    refundable_until: datetime


@dataclass
class _Subscription:
    customer_id: str
    id: str
    offer_id: str
    quantity: int
    billing_cycle: str
    term_duration: str
    created: datetime
    auto_renew: bool = True
    seats: list[_Seats] = field(default_factory=list)
    scheduled: dict | None = None
    status: str = "active"  # or "deleted" once cancelled
    version: int = 1
    order_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    pending_operation: str | None = None

    @property
    def etag(self) -> str:
        return base64.b64encode(json.dumps({"id": self.id, "version": self.version}).encode()).decode()

    def refundable(self, now: datetime) -> int:
        return sum(s.quantity for s in self.seats if now <= s.refundable_until)

    def resource(self, now: datetime) -> dict:
        open_seats = [s for s in self.seats if now <= s.refundable_until]
        until = max((s.refundable_until for s in self.seats), default=None)
        body = {
            "id": self.id,
            "offerId": self.offer_id,
            "offerName": f"Offer {self.offer_id}",
            "friendlyName": f"Offer {self.offer_id}",
            "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
            "quantity": self.quantity,
            "unitType": "Licenses",
            "creationDate": _iso(self.created),
            "effectiveStartDate": _iso(self.created),
            "commitmentEndDate": _iso(self.created + (timedelta(days=30) if self.term_duration == "P1M"
                                                      else timedelta(days=365))),
            "cancellationAllowedUntilDate": _iso(until) if until else None,
            "refundableQuantity": {
                "totalQuantity": sum(s.quantity for s in open_seats),
                "details": [{"quantity": s.quantity, "allowedUntilDateTime": _iso(s.refundable_until)}
                            for s in open_seats],
            },
            "status": self.status,
            "autoRenewEnabled": self.auto_renew,
            "billingType": "license",
            "billingCycle": self.billing_cycle,
            "termDuration": self.term_duration,
            "contractType": "subscription",
            "orderId": self.order_id,
            "links": {"self": {"uri": f"/customers/{self.customer_id}/subscriptions/{self.id}", "method": "GET",
                               "headers": []}},
            "attributes": {"etag": self.etag, "objectType": "Subscription"},
        }
        if self.scheduled is not None:
            body["scheduledNextTermInstructions"] = self.scheduled
        return body


@dataclass
class _Operation:
    customer_id: str
    subscription_id: str
    pending_polls: int
    apply: Any  # callable applying the change
    done: bool = False


class PartnerCenterFake(LoopbackFake):
    def __init__(self, token: str = "fake-partner-center-token",  # noqa: S107 - a test double's token
                 cart_lifetime: timedelta = timedelta(days=7)):
        self.token = token
        self.cart_lifetime = cart_lifetime
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self._lock = threading.RLock()
        self._subscriptions: dict[tuple[str, str], _Subscription] = {}
        self._carts: dict[tuple[str, str], dict] = {}
        self._orders: dict[tuple[str, str], dict] = {}
        self._operations: dict[str, _Operation] = {}
        self._async_next: int | None = None
        self._failures: list[tuple[int, Any, str | None]] = []
        self._stalls: list[tuple[float, str | None]] = []
        self._conflict_next_patch = False
        self._order_errors: list[tuple[Any, str]] = []
        self._pending_orders: int | None = None
        self._agreements: dict[str, list[dict]] = {}
        self._upgrades: dict[tuple[str, str], set[tuple[str, str]]] = {}  # productId:skuId → eligible upgrades
        self.customers: dict[str, dict] = {}  # tenant id → the Customer resource (created or added)
        self._http: LoopbackServer | None = None
        self.app = self._build_app()

    # ------------------------------------------------------------ test controls

    def add_subscription(self, customer_id: str, offer_id: str, quantity: int,
                         cancellation_allowed_until: datetime | None = None, subscription_id: str | None = None,
                         billing_cycle: str = "monthly", term_duration: str = "P1Y", auto_renew: bool = True) -> str:
        """An existing subscription whose `quantity` seats are refundable until `cancellation_allowed_until`."""
        subscription_id = subscription_id or str(uuid.uuid4())
        now = clock.now()
        with self._lock:
            self._subscriptions[(customer_id, subscription_id)] = _Subscription(
                customer_id, subscription_id, offer_id, quantity, billing_cycle, term_duration,
                created=min(now, (cancellation_allowed_until or now) - WINDOW), auto_renew=auto_renew,
                seats=[_Seats(quantity, cancellation_allowed_until)] if cancellation_allowed_until else [],
            )
        return subscription_id

    def allow_upgrade(self, from_offer: str, to_offer: str) -> None:
        """Partner Center lists `to_offer`'s productId:skuId as an upgrade of `from_offer`'s at renewal."""
        with self._lock:
            self._upgrades.setdefault(tuple(from_offer.split(":")[:2]), set()).add(tuple(to_offer.split(":")[:2]))

    def subscription(self, customer_id: str, subscription_id: str) -> dict:
        """The subscription as a GET would answer it."""
        with self._lock:
            return self._subscriptions[(customer_id, subscription_id)].resource(clock.now())

    def respond_async(self, enabled: bool = True, pending_polls: int = 1) -> None:
        """The next PATCH answers 202 + Location /v1/operations/<id>; that operation answers 202 to the first
        `pending_polls` GETs, then applies the change and answers 200 with the subscription."""
        self._async_next = pending_polls if enabled else None

    def fail_next(self, status: int = 503, times: int = 1, body: Any = None, when: str | None = None) -> None:
        """The next `times` requests (whose path contains `when`, if given) answer `status` with `body`
        (a dict → JSON, a str → text/html, None → empty)."""
        with self._lock:
            self._failures.extend([(status, body, when)] * times)

    def stall_next(self, seconds: float, when: str | None = None) -> None:
        """The next request (whose path contains `when`) waits `seconds` before being handled (client timeouts)."""
        with self._lock:
            self._stalls.append((seconds, when))

    def conflict_next_patch(self) -> None:
        """Someone else changes the subscription just before the next PATCH arrives (its etag goes stale)."""
        self._conflict_next_patch = True

    def order_error_next(self, code: Any = 800069, description: str = "Order failed Risk Management check") -> None:
        """The next checkout answers `orderErrors` instead of orders."""
        with self._lock:
            self._order_errors.append((code, description))

    def checkout_pending(self, pending_polls: int = 1) -> None:
        """The next checkout answers a "pending" order without subscription ids; GET of the order shows them
        after `pending_polls` reads."""
        self._pending_orders = pending_polls

    def agreements(self, customer_id: str) -> list[dict]:
        """The MCA attestations stored for a customer, as GET /v1/customers/{id}/agreements lists them."""
        with self._lock:
            return [dict(a) for a in self._agreements.get(customer_id, [])]

    def requests_to(self, method: str, path_part: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # ------------------------------------------------------------ the app

    def _build_app(self) -> Flask:
        app = Flask("partner_center_fake")
        fake = self

        @app.before_request
        def record_and_guard():
            body = request.get_json(silent=True) if request.data else None
            fake.requests.append(RecordedRequest(request.method, request.full_path.rstrip("?"),
                                                 dict(request.headers), body))
            stall = fake._take(fake._stalls, 1)
            if stall is not None:
                time.sleep(stall[0])
            failure = fake._take(fake._failures, 2)
            if failure is not None:
                status, payload, _ = failure
                if isinstance(payload, dict):
                    return fake._json(payload, status)
                return Response(payload or "", status=status, mimetype="text/html")
            if request.headers.get("Authorization") != f"Bearer {fake.token}":
                response = fake._json(error_body(
                    "401", "Access denied: the bearer token is missing, expired or not for "
                    "https://api.partnercenter.microsoft.com.", "Unauthorized"), 401)
                response.headers["WWW-Authenticate"] = "OAuth realm=urn:cpsvc:cpid:fake"
                return response
            return None

        @app.after_request
        def echo_ids(response):
            for header in ("MS-CorrelationId", "MS-RequestId"):
                if header in request.headers:
                    response.headers[header] = request.headers[header]
            return response

        @app.get("/v1/customers/<customer_id>/subscriptions")
        def list_subscriptions(customer_id):
            with fake._lock:
                items = [s.resource(clock.now()) for (c, _), s in fake._subscriptions.items() if c == customer_id]
            return fake._json({"totalCount": len(items), "items": items, "links": {},
                               "attributes": {"objectType": "Collection"}})

        @app.get("/v1/customers/<customer_id>/subscriptions/<subscription_id>")
        def get_subscription(customer_id, subscription_id):
            with fake._lock:
                subscription = fake._subscriptions.get((customer_id, subscription_id))
                if subscription is None:
                    return fake._not_found(subscription_id)
                return fake._json(subscription.resource(clock.now()))

        @app.patch("/v1/customers/<customer_id>/subscriptions/<subscription_id>")
        def patch_subscription(customer_id, subscription_id):
            return fake._patch(customer_id, subscription_id, request.get_json(silent=True))

        @app.get("/v1/operations/<operation_id>")
        def get_operation(operation_id):
            return fake._poll(operation_id)

        @app.post("/v1/customers/<customer_id>/carts")
        def create_cart(customer_id):
            return fake._create_cart(customer_id, request.get_json(silent=True))

        @app.post("/v1/customers/<customer_id>/carts/<cart_id>/checkout")
        def checkout(customer_id, cart_id):
            return fake._checkout(customer_id, cart_id)

        @app.get("/v1/customers/<customer_id>/orders/<order_id>")
        def get_order(customer_id, order_id):
            return fake._read_order(customer_id, order_id)

        @app.post("/v1/customers")
        def create_customer():
            return fake._create_customer(request.get_json(silent=True))

        @app.get("/v1/customers")
        def list_customers():
            try:
                wanted = json.loads(request.args.get("filter", "null"))
            except ValueError:
                wanted = None
            if wanted is not None and (not isinstance(wanted, dict) or wanted.get("Field") not in (
                    "Domain", "CompanyName") or wanted.get("Operator") != "starts_with"):
                return fake._error(400, 800002, "Invalid request input: filter.", "InvalidInput")
            with fake._lock:
                items = list(fake.customers.values())
            if wanted is not None:
                key = "domain" if wanted["Field"] == "Domain" else "companyName"
                items = [c for c in items if str(c["companyProfile"].get(key, "")).lower().startswith(
                    str(wanted.get("Value", "")).lower())]
            return fake._json({"totalCount": len(items), "items": items, "links": {},
                               "attributes": {"objectType": "Collection"}})

        @app.get("/v1/agreements")
        def agreement_templates():
            wanted = request.args.get("agreementType", "*")
            if wanted not in ("*", "MicrosoftCustomerAgreement", "MicrosoftCloudAgreement"):
                return fake._error(400, 800002, f"Invalid request input: agreementType {wanted!r}.", "InvalidInput")
            items = [t for t in AGREEMENT_TEMPLATES if wanted in ("*", t["agreementType"])]
            return fake._json({"totalCount": len(items), "items": items, "links": {},
                               "attributes": {"objectType": "Collection"}})

        @app.post("/v1/customers/<customer_id>/agreements")
        def attest_agreement(customer_id):
            return fake._attest(customer_id, request.get_json(silent=True))

        @app.get("/v1/customers/<customer_id>/agreements")
        def customer_agreements(customer_id):
            wanted = request.args.get("agreementType", "*")
            items = [a for a in fake.agreements(customer_id) if wanted in ("*", a["type"])]
            return fake._json({"totalCount": len(items), "items": items, "links": {},
                               "attributes": {"objectType": "Collection"}})

        return app

    # ------------------------------------------------------------ handlers

    def _attest(self, customer_id: str, body: Any) -> Response:
        def invalid(what: str) -> Response:
            return self._error(400, 800002, f"Invalid request input: {what}.", "InvalidInput")

        if not isinstance(body, dict):
            return invalid("send the Agreement resource as JSON")
        contact = body.get("primaryContact")
        if not isinstance(contact, dict) or not all(isinstance(contact.get(k), str) and contact[k].strip()
                                                    for k in ("firstName", "lastName", "email")):
            return invalid("primaryContact needs firstName, lastName and email")
        if "phoneNumber" in contact and not isinstance(contact["phoneNumber"], str):
            return invalid("primaryContact.phoneNumber must be a string")
        unknown = set(contact) - {"firstName", "lastName", "email", "phoneNumber"}
        if unknown:
            return invalid(f"unknown primaryContact fields {sorted(unknown)}")
        template = next((t for t in AGREEMENT_TEMPLATES if t["templateId"] == body.get("templateId")), None)
        if template is None:
            return invalid(f"templateId {body.get('templateId')!r} is not an agreement template")
        if body.get("type") != template["agreementType"]:
            return invalid(f"type must be {template['agreementType']} for this templateId (not agreementType)")
        try:
            agreed = datetime.fromisoformat(str(body.get("dateAgreed", "")).replace("Z", "+00:00"))
        except ValueError:
            return invalid("dateAgreed must be a UTC date time such as 2026-06-14T00:00:00Z")
        if agreed.tzinfo is None or agreed.astimezone(UTC).date() > clock.now().astimezone(UTC).date():
            return invalid("dateAgreed must be a UTC date time, not in the future")
        key = {k: contact.get(k, "") for k in ("firstName", "lastName", "email", "phoneNumber")}
        with self._lock:
            held = self._agreements.setdefault(customer_id, [])
            for existing in held:
                known = {k: existing["primaryContact"].get(k, "") for k in key}
                if existing["templateId"] == template["templateId"] and known == key:
                    return self._error(400, 600061, "A partner confirmed agreement already exists for the "
                                       "customer.", "PartnerConfirmedAgreementAlreadyExists")
            agreement = {"primaryContact": dict(contact), "templateId": template["templateId"],
                         "dateAgreed": body["dateAgreed"], "type": template["agreementType"],
                         "userId": "fake-partner-user", "attributes": {"objectType": "Agreement"}}
            held.append(agreement)
        return self._json(agreement, 201)

    def add_customer(self, domain: str, company_name: str = "Cliente Existente Ltda") -> str:
        """A customer the partner already has (a reseller relationship): its tenant id."""
        tenant_id = str(uuid.uuid4())
        with self._lock:
            self.customers[tenant_id] = {"id": tenant_id, "companyProfile": {
                "tenantId": tenant_id, "domain": domain, "companyName": company_name},
                "attributes": {"objectType": "Customer"}}
        return tenant_id

    def _create_customer(self, body: Any) -> Response:
        """POST /v1/customers: companyProfile.domain (<prefix>.onmicrosoft.com, not taken) and a billingProfile
        with email, culture, language, companyName and a defaultAddress (country, city, state, addressLine1,
        postalCode, firstName, lastName)."""
        def invalid(what: str) -> Response:
            return self._error(400, 800002, f"Invalid request input: {what}.", "InvalidInput")

        if not isinstance(body, dict) or not isinstance(body.get("companyProfile"), dict) \
                or not isinstance(body.get("billingProfile"), dict):
            return invalid("send the Customer resource with companyProfile and billingProfile")
        domain = str(body["companyProfile"].get("domain") or "").lower()
        if not domain.endswith(".onmicrosoft.com") or not domain.removesuffix(".onmicrosoft.com").isalnum():
            return invalid(f"companyProfile.domain {domain!r} must be <letters and digits>.onmicrosoft.com")
        billing = body["billingProfile"]
        address = billing.get("defaultAddress") if isinstance(billing.get("defaultAddress"), dict) else {}
        missing = [k for k in ("email", "culture", "language", "companyName") if not billing.get(k)] + [
            f"defaultAddress.{k}" for k in ("country", "city", "state", "addressLine1", "postalCode", "firstName",
                                            "lastName") if not address.get(k)]
        if missing:
            return invalid(f"billingProfile needs {', '.join(missing)}")
        with self._lock:
            if any(c["companyProfile"].get("domain") == domain for c in self.customers.values()):
                return self._error(400, 600010, f"The domain {domain} is not available.", "DomainNotAvailable")
            tenant_id = str(uuid.uuid4())
            customer = {"id": tenant_id, "companyProfile": {"tenantId": tenant_id, "domain": domain,
                                                            "companyName": billing["companyName"]},
                        "billingProfile": billing, "relationshipToPartner": "reseller",
                        "attributes": {"objectType": "Customer"}}
            self.customers[tenant_id] = customer
        return self._json(customer, 201)

    def _take(self, queue: list, when_index: int):
        with self._lock:
            for i, item in enumerate(queue):
                when = item[when_index]
                if when is None or when in request.path:
                    return queue.pop(i)
        return None

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _error(self, status: int, code: Any, description: str, name: str, retryable: bool = False) -> Response:
        return self._json(error_body(code, description, name, retryable), status)

    def _not_found(self, subscription_id: str) -> Response:
        return self._error(404, 20003, f"Subscription with id {subscription_id} not found.", "SubscriptionNotFound")

    def _patch(self, customer_id: str, subscription_id: str, body: Any) -> Response:
        now = clock.now()
        with self._lock:
            subscription = self._subscriptions.get((customer_id, subscription_id))
            if subscription is None:
                return self._not_found(subscription_id)
            if self._conflict_next_patch:
                self._conflict_next_patch = False
                subscription.version += 1
            if not isinstance(body, dict) or body.get("id") != subscription_id or not body.get("offerId"):
                return self._error(400, 800002, "Invalid request input: send the full Subscription resource.",
                                   "InvalidInput")
            etag = (body.get("attributes") or {}).get("etag")
            if etag != subscription.etag:
                return self._error(412, 2055, "Etag is no longer valid.", "EtagNoLongerValid", retryable=True)
            operation = self._operations.get(subscription.pending_operation or "")
            if operation is not None and not operation.done:
                return self._error(409, 900278, "There's a pending operation on this subscription. "
                                   "Try again after 24 hours.", "PendingOperation", retryable=True)

            if subscription.status == "deleted":
                return self._error(400, 800002, f"Subscription {subscription_id} is deleted (cancelled): it "
                                   "cannot be changed.", "InvalidInput")
            status = body.get("status", subscription.status)
            if status not in ("active", "deleted"):
                return self._error(400, 800002, f"Invalid request input: status {status!r} (this fake knows "
                                   "active and deleted).", "InvalidInput")
            cancel = status == "deleted"
            quantity = body.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                return self._error(400, 2002, "Subscription quantity isn't within minimum and maximum allowed "
                                   "quantity.", "QuantityOutOfRange")
            if cancel and quantity != subscription.quantity:
                return self._error(400, 800002, "Invalid request input: cancel (status deleted) with the "
                                   "subscription's current quantity, or change the quantity, not both.",
                                   "InvalidInput")
            refundable = subscription.refundable(now)
            until = max((s.refundable_until for s in subscription.seats), default=None)
            window = f"cancellationAllowedUntilDate {_iso(until) if until else 'none'}"
            if cancel and subscription.quantity > refundable:
                return self._error(400, 800090, (
                    f"Subscription can't be cancelled: only {refundable} of its {subscription.quantity} "
                    f"license(s) are still refundable ({window}). Turn autoRenewEnabled off to end it with its "
                    "term."), "SubscriptionQuantityCannotBeDecreased")
            decrease = subscription.quantity - quantity
            if decrease > refundable:
                return self._error(400, 800090, (
                    f"Subscription quantity can't be decreased by {decrease}: only {refundable} license(s) are "
                    f"still refundable ({window}). Reduce the quantity at renewal with "
                    "scheduledNextTermInstructions."), "SubscriptionQuantityCannotBeDecreased")
            auto_renew = body.get("autoRenewEnabled", subscription.auto_renew)
            if not isinstance(auto_renew, bool):
                return self._error(400, 800002, "Invalid request input: autoRenewEnabled must be true or false.",
                                   "InvalidInput")
            scheduled_sent = "scheduledNextTermInstructions" in body
            scheduled = body.get("scheduledNextTermInstructions")
            if scheduled is not None:
                product = scheduled.get("product") if isinstance(scheduled, dict) else None
                keys = ("productId", "skuId", "availabilityId", "billingCycle", "termDuration")
                next_quantity = scheduled.get("quantity") if isinstance(scheduled, dict) else None
                if (not isinstance(product, dict) or not all(product.get(k) for k in keys)
                        or not isinstance(next_quantity, int) or isinstance(next_quantity, bool)):
                    return self._error(400, 800002, "Invalid request input: scheduledNextTermInstructions needs "
                                       "product{productId,skuId,availabilityId,billingCycle,termDuration} and "
                                       "quantity.", "InvalidInput")
                if next_quantity < 1:
                    return self._error(400, 2002, "Subscription quantity isn't within minimum and maximum allowed "
                                       "quantity.", "QuantityOutOfRange")
                current = tuple(subscription.offer_id.split(":")[:2])
                target = (product["productId"], product["skuId"])
                if target != current and target not in self._upgrades.get(current, set()):
                    # The same product and SKU in another term/billing (availability), or an eligible upgrade.
                    return self._error(400, 800004, "Invalid offer Id for the next term: not this SKU nor an "
                                       "eligible upgrade of it.", "InvalidOfferId")
                if not auto_renew and not cancel:
                    return self._error(400, 800002, "Invalid request input: scheduled changes apply at renewal "
                                       "and need autoRenewEnabled true.", "InvalidInput")

            def apply() -> None:
                if cancel:
                    subscription.seats = []
                    subscription.status = "deleted"
                    subscription.auto_renew = False
                    subscription.scheduled = None
                else:
                    immediate = quantity != subscription.quantity
                    self._set_quantity(subscription, quantity, clock.now())
                    subscription.auto_renew = auto_renew
                    if not auto_renew or immediate:
                        # A mid-term (immediate) change deletes what was scheduled for the renewal, whatever the
                        # body carried (Microsoft: "Schedule changes for a new commerce subscription").
                        subscription.scheduled = None
                    elif scheduled_sent:
                        subscription.scheduled = scheduled
                subscription.version += 1

            if self._async_next is not None:
                operation_id = str(uuid.uuid4())
                self._operations[operation_id] = _Operation(customer_id, subscription_id, self._async_next, apply)
                self._async_next = None
                subscription.pending_operation = operation_id
                response = Response(status=202)
                response.headers["Location"] = f"/v1/operations/{operation_id}"
                response.headers["Retry-After"] = "1"
                return response
            apply()
            return self._json(subscription.resource(clock.now()))

    @staticmethod
    def _set_quantity(subscription: _Subscription, quantity: int, now: datetime) -> None:
        change = quantity - subscription.quantity
        if change > 0:
            subscription.seats.append(_Seats(change, now + WINDOW))
        remove = -change
        for seats in reversed(subscription.seats):
            if remove <= 0:
                break
            if now <= seats.refundable_until:
                taken = min(seats.quantity, remove)
                seats.quantity -= taken
                remove -= taken
        subscription.seats = [s for s in subscription.seats if s.quantity > 0]
        subscription.quantity = quantity

    def _poll(self, operation_id: str) -> Response:
        with self._lock:
            operation = self._operations.get(operation_id)
            if operation is None:
                return self._error(404, 1000, f"Operation {operation_id} not found.", "NotFound")
            if operation.pending_polls > 0:
                operation.pending_polls -= 1
                response = Response(status=202)
                response.headers["Location"] = f"/v1/operations/{operation_id}"
                response.headers["Retry-After"] = "1"
                return response
            if not operation.done:
                operation.apply()
                operation.done = True
            subscription = self._subscriptions[(operation.customer_id, operation.subscription_id)]
            return self._json(subscription.resource(clock.now()))

    def _create_cart(self, customer_id: str, body: Any) -> Response:
        lines = body.get("lineItems") if isinstance(body, dict) else None
        if not isinstance(lines, list) or not lines:
            return self._error(400, 800002, "Invalid request input: lineItems is required.", "InvalidInput")
        for line in lines:
            if not isinstance(line, dict):
                return self._error(400, 800002, "Invalid request input.", "InvalidInput")
            parts = str(line.get("catalogItemId", "")).split(":")
            if len(parts) != 3 or not all(parts):
                return self._error(400, 800004, "Invalid offer Id: catalogItemId must be "
                                   "productId:skuId:availabilityId.", "InvalidOfferId")
            if not isinstance(line.get("quantity"), int) or line["quantity"] < 1:
                return self._error(400, 2002, "Subscription quantity isn't within minimum and maximum allowed "
                                   "quantity.", "QuantityOutOfRange")
            if line.get("billingCycle") not in ("monthly", "annual", "triennial") or \
                    line.get("termDuration") not in ("P1M", "P1Y", "P3Y"):
                return self._error(400, 800002, "Invalid request input: billingCycle/termDuration.", "InvalidInput")
        now = clock.now()
        cart = {
            "id": str(uuid.uuid4()),
            "creationTimestamp": _iso(now),
            "lastModifiedTimestamp": _iso(now),
            "expirationTimestamp": _iso(now + self.cart_lifetime),
            "lastModifiedUser": "fake-user",
            "status": "Active",
            "lineItems": [{**line, "orderGroup": "0", "currencyCode": "BRL"} for line in lines],
            "links": {},
            "attributes": {"objectType": "Cart"},
        }
        with self._lock:
            self._carts[(customer_id, cart["id"])] = cart
        return self._json(cart, 201)

    def _checkout(self, customer_id: str, cart_id: str) -> Response:
        now = clock.now()
        with self._lock:
            cart = self._carts.get((customer_id, cart_id))
            if cart is None:
                return self._error(404, 800008, f"Unable to retrieve cart Id {cart_id}.", "CartIdNotFound")
            if now > datetime.fromisoformat(cart["expirationTimestamp"].replace("Z", "+00:00")):
                return self._error(404, 800008, f"Unable to retrieve cart Id {cart_id}: the cart expired at "
                                   f"{cart['expirationTimestamp']}.", "CartIdNotFound")
            if cart["status"] != "Active":
                return self._error(400, 800065, f"Cannot check out an already submitted cart {cart_id}.",
                                   "CartAlreadySubmitted")
            cart["status"] = "Ordered"
            if self._order_errors:
                code, description = self._order_errors.pop(0)
                return self._json({"orders": [], "orderErrors": [
                    {"orderGroupId": "0", "code": code, "description": description}]}, 201)
            order_id = str(uuid.uuid4())
            order = {
                "id": order_id,
                "alternateId": order_id[:12],
                "referenceCustomerId": customer_id,
                "billingCycle": cart["lineItems"][0]["billingCycle"],
                "currencyCode": "BRL",
                "currencySymbol": "R$",
                "lineItems": [],
                "creationDate": _iso(now),
                "status": "completed",
                "transactionType": "UserPurchase",
                "links": {},
                "attributes": {"objectType": "Order"},
                "_cart_id": cart_id,
            }
            for number, line in enumerate(cart["lineItems"]):
                order["lineItems"].append({
                    "lineItemNumber": number,
                    "offerId": line["catalogItemId"],
                    "termDuration": line["termDuration"],
                    "transactionType": "New",
                    "friendlyName": f"Offer {line['catalogItemId']}",
                    "quantity": line["quantity"],
                })
            if self._pending_orders is not None:
                order["status"] = "pending"
                order["_pending_polls"] = self._pending_orders
                self._pending_orders = None
            else:
                self._fulfil(customer_id, order, cart)
            self._orders[(customer_id, order_id)] = order
            return self._json({"orders": [self._public(order)], "orderErrors": []}, 201)

    def _fulfil(self, customer_id: str, order: dict, cart: dict) -> None:
        now = clock.now()
        for line, cart_line in zip(order["lineItems"], cart["lineItems"], strict=True):
            subscription = _Subscription(
                customer_id, str(uuid.uuid4()), cart_line["catalogItemId"], cart_line["quantity"],
                cart_line["billingCycle"], cart_line["termDuration"], created=now, order_id=order["id"],
                seats=[_Seats(cart_line["quantity"], now + WINDOW)],
            )
            self._subscriptions[(customer_id, subscription.id)] = subscription
            line["subscriptionId"] = subscription.id
        order["status"] = "completed"

    def _read_order(self, customer_id: str, order_id: str) -> Response:
        with self._lock:
            order = self._orders.get((customer_id, order_id))
            if order is None:
                return self._error(404, 20000, "Order Id not found.", "OrderNotFound")
            if order["status"] == "pending":
                if order["_pending_polls"] > 0:
                    order["_pending_polls"] -= 1
                else:
                    self._fulfil(customer_id, order, self._carts[(customer_id, order["_cart_id"])])
            return self._json(self._public(order))

    @staticmethod
    def _public(order: dict) -> dict:
        return {k: v for k, v in order.items() if not k.startswith("_")}
