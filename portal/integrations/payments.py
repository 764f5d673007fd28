"""Payment gateways: the `PaymentGateway` Protocol, manual reconciliation (the default) and Stripe.

Chosen by `PAYMENTS_BACKEND`:

- `manual`: `ManualGateway`. Customers pay the invoice's boleto, its Pix or by bank deposit; finance
  records what arrived (portal/billing/payments.py `record_payment`). Nothing online: card and Stripe
  boleto are "not offered", and every webhook is refused.
- `stripe`: `StripeGateway`, the only module that imports `stripe`. One PaymentIntent per invoice and
  method, correlated by `metadata` {"portal_invoice_id", "portal_invoice_number"}; the money is recorded
  when the signed `payment_intent.succeeded` webhook arrives (the webhook is the source of truth).

The adapter never touches the database: it returns what the gateway said (`GatewayPaymentResult`,
`WebhookEvent`) and the billing service stores it.

Parameters sent to Stripe are the subset localstripe (the test server, ../shared/notes/integrations.md §1)
accepts: amount, currency, payment_method, payment_method_types, payment_method_options, metadata,
confirm. `description` and `receipt_email` are sent only to the real API (`full_params`).
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import stripe
from flask_babel import gettext as _

from portal.shared import clock
from portal.shared.errors import ServiceError

WEBHOOK_TOLERANCE_SECONDS = 300  # an event signed longer ago than this is a replay
REAL_STRIPE_API = "https://api.stripe.com"
BOLETO_EXPIRES_AFTER_DAYS = 3  # Stripe's default: the voucher is payable until 23:59 (São Paulo) of day 3


@dataclass(frozen=True)
class InvoiceCharge:
    """What the gateway charges for one portal invoice (built by the billing service)."""

    invoice_id: int
    number: str  # "2026/000123"
    amount_cents: int  # what is still due, in centavos (> 0)
    attempt: int = 1  # the how-many-th payment started for this invoice and method (idempotency key)

    @property
    def metadata(self) -> dict[str, str]:
        return {"portal_invoice_id": str(self.invoice_id), "portal_invoice_number": self.number}


@dataclass(frozen=True)
class BoletoPayer:
    """Who a Stripe boleto is issued to (Stripe requires all of it)."""

    name: str  # razão social
    email: str
    tax_id: str  # CNPJ, 14 characters (or a CPF, 11 digits)
    line1: str  # street, number, complement
    city: str
    state: str  # UF, 2 letters
    postal_code: str  # CEP, 8 digits


@dataclass(frozen=True)
class GatewayPaymentResult:
    """A payment the gateway started: its id and status in the gateway's own words."""

    external_id: str  # Stripe: the PaymentIntent id (pi_…)
    method: str  # "card" | "boleto"
    amount_cents: int
    # Stripe PaymentIntent status: succeeded, processing, requires_action (boleto issued, awaiting payment),
    # requires_payment_method (the browser still has to give a card), … or "failed" (declined).
    status: str
    client_secret: str | None = None  # for Stripe.js to confirm a card in the browser
    error: str | None = None  # the gateway's message when declined
    # Boleto: number (linha digitável), hosted_voucher_url, pdf, expires_at (ISO, UTC).
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class WebhookEvent:
    """A verified gateway event."""

    id: str  # evt_…: processed once (GatewayEvent)
    type: str  # "payment_intent.succeeded", …
    created: datetime  # aware UTC
    object: dict[str, Any]  # data.object as plain JSON (the PaymentIntent)
    payload: dict[str, Any]  # the whole event, as stored


class GatewayError(ServiceError):
    """The gateway could not be reached or refused the request for a reason of ours (not a card decline)."""


class WebhookRejected(Exception):
    """A webhook that must not be processed: forged signature, replayed (old) timestamp, unreadable body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PaymentGateway(Protocol):
    name: str  # stored with each GatewayPayment / GatewayEvent: "manual", "stripe"
    online_methods: frozenset[str]  # what the customer may pay online: {"card", "boleto"} or nothing

    def start_card_payment(self, invoice: InvoiceCharge, *, customer_email: str,
                           payment_method: str | None = None) -> GatewayPaymentResult:
        """Start paying `invoice` by card. With a payment method (pm_…) it is confirmed at once (succeeded
        or failed); without one, it waits for the browser (Stripe.js) to confirm with `client_secret`."""

    def start_boleto_payment(self, invoice: InvoiceCharge, *, payer: BoletoPayer) -> GatewayPaymentResult:
        """Issue a gateway boleto for `invoice`: status requires_action and the voucher in `detail`."""

    def parse_webhook(self, payload: bytes, signature_header: str) -> WebhookEvent:
        """Verify and read a webhook; raises WebhookRejected (bad signature, replay, unreadable)."""


# ---------------------------------------------------------------- manual reconciliation

class ManualGateway:
    """No online payment: boleto, Pix and deposit are reconciled by finance."""

    name = "manual"
    online_methods: frozenset[str] = frozenset()

    def _not_offered(self) -> ServiceError:
        return ServiceError(_("O pagamento on-line não está disponível. Pague pelo boleto, pelo Pix ou por "
                              "depósito; o financeiro registra o pagamento."))

    def start_card_payment(self, invoice: InvoiceCharge, *, customer_email: str,
                           payment_method: str | None = None) -> GatewayPaymentResult:
        raise self._not_offered()

    def start_boleto_payment(self, invoice: InvoiceCharge, *, payer: BoletoPayer) -> GatewayPaymentResult:
        raise self._not_offered()

    def parse_webhook(self, payload: bytes, signature_header: str) -> WebhookEvent:
        raise WebhookRejected("webhooks are not accepted with PAYMENTS_BACKEND=manual")


# ---------------------------------------------------------------- Stripe

class StripeGateway:
    """Stripe PaymentIntents (card, boleto) and signed webhooks; `api_base` points at localstripe in tests."""

    name = "stripe"
    online_methods = frozenset({"card", "boleto"})

    def __init__(self, api_key: str, api_base: str = REAL_STRIPE_API, webhook_secret: str = "", *,
                 full_params: bool | None = None, network_retries: int = 2) -> None:
        if not api_key:
            raise RuntimeError("STRIPE_API_KEY must be set when PAYMENTS_BACKEND=stripe")
        self.api_base = api_base.rstrip("/")
        self.webhook_secret = webhook_secret
        # Optional fields localstripe rejects ("Unexpected description") go only to the real API.
        self.full_params = self.api_base == REAL_STRIPE_API if full_params is None else full_params
        self.client = stripe.StripeClient(api_key, base_addresses={"api": self.api_base},
                                          max_network_retries=network_retries)

    def _create(self, params: dict[str, Any], invoice: InvoiceCharge, method: str) -> Any:
        # The same key for the same attempt: a request retried after a crash finds the PaymentIntent it made.
        key = f"portal-invoice-{invoice.invoice_id}-{method}-{invoice.amount_cents}-{invoice.attempt}"
        return self.client.v1.payment_intents.create(params=params, options={"idempotency_key": key})

    def start_card_payment(self, invoice: InvoiceCharge, *, customer_email: str,
                           payment_method: str | None = None) -> GatewayPaymentResult:
        params: dict[str, Any] = {"amount": invoice.amount_cents, "currency": "brl",
                                  "payment_method_types": ["card"], "metadata": invoice.metadata}
        if payment_method:
            params |= {"payment_method": payment_method, "confirm": True}
        if self.full_params:
            params["description"] = f"Fatura {invoice.number}"
            if customer_email:
                params["receipt_email"] = customer_email
        try:
            intent = self._create(params, invoice, "card")
        except stripe.CardError as error:
            return self._declined(error, invoice)
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        return GatewayPaymentResult(
            external_id=intent.id, method="card", amount_cents=invoice.amount_cents, status=intent.status,
            client_secret=getattr(intent, "client_secret", None),
        )

    def start_boleto_payment(self, invoice: InvoiceCharge, *, payer: BoletoPayer) -> GatewayPaymentResult:
        params: dict[str, Any] = {
            "amount": invoice.amount_cents, "currency": "brl", "payment_method_types": ["boleto"],
            "payment_method_data": {
                "type": "boleto", "boleto": {"tax_id": payer.tax_id},
                "billing_details": {"name": payer.name, "email": payer.email, "address": {
                    "line1": payer.line1, "city": payer.city, "state": payer.state,
                    "postal_code": payer.postal_code, "country": "BR"}},
            },
            "payment_method_options": {"boleto": {"expires_after_days": BOLETO_EXPIRES_AFTER_DAYS}},
            "metadata": invoice.metadata, "confirm": True,
        }
        if self.full_params:
            params["description"] = f"Fatura {invoice.number}"
        try:
            intent = self._create(params, invoice, "boleto")
        except stripe.StripeError as error:
            raise self._unavailable(error) from error
        detail: dict[str, Any] = {}
        next_action = intent.to_dict().get("next_action") or {}
        voucher = next_action.get("boleto_display_details") or {}
        if voucher:
            expires = voucher.get("expires_at")
            detail = {
                "number": voucher.get("number"), "hosted_voucher_url": voucher.get("hosted_voucher_url"),
                "pdf": voucher.get("pdf"),
                "expires_at": datetime.fromtimestamp(int(expires), UTC).isoformat() if expires else None,
            }
        return GatewayPaymentResult(external_id=intent.id, method="boleto", amount_cents=invoice.amount_cents,
                                    status=intent.status, detail=detail)

    def _declined(self, error: Any, invoice: InvoiceCharge) -> GatewayPaymentResult:
        body = (error.json_body or {}).get("error") or {}
        intent = body.get("payment_intent") or {}
        external_id = intent.get("id") if isinstance(intent, dict) else intent
        if not external_id and body.get("charge"):  # localstripe names only the charge; it knows its intent
            try:
                external_id = self.client.v1.charges.retrieve(body["charge"]).payment_intent
            except (stripe.StripeError, AttributeError):
                external_id = None
            external_id = external_id or body["charge"]
        return GatewayPaymentResult(external_id=external_id, method="card", amount_cents=invoice.amount_cents,
                                    status="failed", error=error.user_message or body.get("message") or str(error))

    @staticmethod
    def _unavailable(error: Any) -> GatewayError:
        return GatewayError(_("Não foi possível iniciar o pagamento no Stripe agora (%(reason)s). Tente de novo "
                              "em alguns minutos.", reason=(error.user_message or type(error).__name__)[:200]))

    def parse_webhook(self, payload: bytes, signature_header: str) -> WebhookEvent:
        if not self.webhook_secret:
            raise WebhookRejected("STRIPE_WEBHOOK_SECRET is not set: no webhook can be verified")
        if not signature_header:
            raise WebhookRejected("missing Stripe-Signature header")
        try:
            # The library checks the HMAC; its tolerance only looks back (and at time.time()), so the
            # timestamp is checked below, both ways, against the portal's clock.
            stripe.WebhookSignature.verify_header(payload, signature_header, self.webhook_secret, tolerance=None)
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected("signature does not match the webhook secret") from error
        except UnicodeDecodeError as error:
            raise WebhookRejected("unreadable payload") from error
        signed_at = _signed_at(signature_header)
        if signed_at is None or abs(clock.now().timestamp() - signed_at) > WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookRejected(
                f"replayed event: its timestamp is outside the {WEBHOOK_TOLERANCE_SECONDS} s tolerance")
        try:
            data = json.loads(payload)
        except ValueError as error:  # not JSON (UnicodeDecodeError is a ValueError)
            raise WebhookRejected("unreadable payload") from error
        if not isinstance(data, dict):  # a JSON array, string or number is signed text, not an event
            raise WebhookRejected("not a Stripe event (the body is not a JSON object)")
        event_data = data.get("data")
        event_object = event_data.get("object") if isinstance(event_data, dict) else None
        if not data.get("id") or not data.get("type") or not isinstance(event_object, dict):
            raise WebhookRejected("not a Stripe event (id, type or data.object missing)")
        return WebhookEvent(
            id=str(data["id"]), type=str(data["type"]), created=_event_created(data.get("created")),
            object=event_object, payload=data,
        )


def _signed_at(signature_header: str) -> int | None:
    """The `t=` of a Stripe-Signature header (seconds since the epoch), None when absent or not a number."""
    for item in signature_header.split(","):
        key, _sep, value = item.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _event_created(created: Any) -> datetime:
    """The event's `created` (epoch seconds) as aware UTC; now when missing or not a usable number."""
    if isinstance(created, int) and not isinstance(created, bool):
        try:
            return datetime.fromtimestamp(created, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    return clock.now()


def from_config(config: Any) -> PaymentGateway:
    backend = config["PAYMENTS_BACKEND"]
    if backend == "manual":
        return ManualGateway()
    if backend == "stripe":
        return StripeGateway(config["STRIPE_API_KEY"], config["STRIPE_API_BASE"], config["STRIPE_WEBHOOK_SECRET"])
    raise RuntimeError(f"PAYMENTS_BACKEND must be manual or stripe, not {backend!r}")
