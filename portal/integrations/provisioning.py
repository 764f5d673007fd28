"""Provisioning licenses at the provider: the `LicenseProvisioner` Protocol and the data it speaks.

The portal's order job calls one of these and records what came back; it never talks HTTP itself.
Adapters (chosen by `PROVISIONING_BACKEND`):

- `simulator`: `PartnerCenterSimulator` (portal/integrations/partner_center.py): a *simulator* of
  Partner Center, in process, with a configurable delay and failure rate. The default for `make run`.
- `partner_center`: `PartnerCenterClient` (same module): the real Partner Center REST API, with a
  bearer token from a `TokenProvider`. Tested against a local HTTP fake speaking the same routes.

Own-service products (Backup em Nuvem, …) never reach these: the subscriptions room hands them to the
staff "implantação" queue instead.
"""

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    DONE = "done"  # the provider applied the change
    PENDING = "pending"  # accepted (HTTP 202); ask again with `poll(operation_url)`
    FAILED = "failed"  # refused; `error` says why and whether trying again can help


@dataclass(frozen=True)
class ProviderError:
    code: str  # the provider's error code ("800002"), or an HTTP status ("503") when it gave none
    message: str  # the provider's own words, shown to staff as-is
    retryable: bool  # True when the same request may succeed later (throttling, 5xx, timeouts)


@dataclass(frozen=True)
class ProviderSubscription:
    """What the provider says a subscription is now."""

    subscription_id: str  # the provider's id (Partner Center: a GUID)
    offer_id: str  # "productId:skuId:availabilityId" (Partner Center catalogItemId without the term)
    # The seats. A cancelled subscription (status "deleted") keeps the quantity it had when it was
    # cancelled, as Partner Center's own answer does: check `status`, not `quantity == 0`.
    quantity: int
    status: str = "active"  # Partner Center: "active", "suspended", "deleted" (cancelled), …
    etag: str | None = None  # Partner Center's optimistic-concurrency tag; sent back on the next PATCH
    # NCE: the last instant a decrease is refundable (None for legacy offers); the portal's own
    # decrease window is computed from its lots, this is only kept for staff to compare.
    cancellation_allowed_until: str | None = None
    commitment_end_date: str | None = None  # ISO date the term ends (renewal date)
    # The quantity scheduled for the next term (Partner Center `scheduledNextTermInstructions.quantity`),
    # None when nothing is scheduled.
    scheduled_quantity: int | None = None
    # The offer ("productId:skuId:availabilityId"), billing cycle and term duration scheduled for the next term
    # (`scheduledNextTermInstructions.product`), None when nothing is scheduled.
    scheduled_offer_id: str | None = None
    scheduled_billing_cycle: str | None = None
    scheduled_term_duration: str | None = None
    # Partner Center `autoRenewEnabled`: False = the subscription ends at `commitment_end_date` (this is
    # how "renew with 0 licenses" is done); always False once cancelled.
    auto_renew: bool = True


@dataclass(frozen=True)
class ProvisioningResult:
    outcome: Outcome
    subscription: ProviderSubscription | None = None  # set when DONE
    operation_url: str | None = None  # set when PENDING: where to poll
    error: ProviderError | None = None  # set when FAILED
    provider_request_id: str | None = None  # MS-RequestId / order id, kept for support calls
    raw: dict = field(default_factory=dict)  # the provider's response body, for the order's log


@dataclass(frozen=True)
class QuantityChange:
    """Set an existing subscription's quantity (an absolute number, not a delta).

    `quantity` 0 cancels the subscription now (with refund): Partner Center allows it only while every seat
    is still inside its cancellation window, and refuses it like a too-large decrease (800090) otherwise.
    The result is DONE with `status="deleted"` (and the last quantity, see `ProviderSubscription`).
    """

    customer_id: str  # the customer's tenant id at the provider
    subscription_id: str
    quantity: int
    correlation_id: str  # our order reference, sent as MS-CorrelationId; idempotent retries reuse it


@dataclass(frozen=True)
class Purchase:
    """Buy a product the customer does not have yet (Partner Center: cart → checkout)."""

    customer_id: str
    offer_id: str  # "productId:skuId:availabilityId"
    quantity: int
    billing_cycle: str  # "monthly" | "annual"
    term_duration: str  # ISO 8601: "P1M", "P1Y", "P3Y"
    correlation_id: str


@dataclass(frozen=True)
class RenewalQuantity:
    """Quantity to apply at the next term (a decrease outside the cancellation window).

    - 1 or more, not the current quantity: scheduled for the renewal (and auto-renew turned on);
    - the current quantity: undo, i.e. drop whatever was scheduled and make sure auto-renew is on;
    - 0: do not renew, i.e. auto-renew off (nothing scheduled); the subscription ends with its term.
      Already true of a cancelled subscription, so that answers DONE too.
    """

    customer_id: str
    subscription_id: str
    quantity: int
    correlation_id: str


@dataclass(frozen=True)
class NextTerm:
    """What a subscription becomes at its next term: Partner Center's `scheduledNextTermInstructions` (a quantity and
    the product/term: productId, skuId, availabilityId, billingCycle, termDuration), auto-renew on.

    A term or billing change names the same productId:skuId with the availability of that term; an upgrade names
    another SKU Partner Center offers as an upgrade. When the target is the subscription as it is (same offer,
    billing cycle, term and quantity) the schedule is dropped instead (auto-renew on, nothing scheduled): that is
    how a scheduled change is withdrawn. Refusals (an offer not eligible, a quantity out of range) come back FAILED.
    """

    customer_id: str
    subscription_id: str
    offer_id: str  # "productId:skuId:availabilityId" of the next term
    billing_cycle: str  # "monthly" | "annual"
    term_duration: str  # ISO 8601: "P1M", "P1Y", "P3Y"
    quantity: int  # ≥ 1 (not renewing at all is `RenewalQuantity` 0, auto-renew off)
    correlation_id: str


@dataclass(frozen=True)
class NewCustomer:
    """A customer (and its new Microsoft tenant) to create: Partner Center POST /v1/customers."""

    domain: str  # the tenant's initial domain to create, "<prefix>.onmicrosoft.com"
    company_name: str
    first_name: str
    last_name: str
    email: str
    phone: str
    address_line1: str
    city: str
    state: str  # UF
    postal_code: str  # 8 digits
    correlation_id: str
    country: str = "BR"
    culture: str = "pt-BR"
    language: str = "pt"


@dataclass(frozen=True)
class CustomerResult:
    """DONE with the customer's tenant id (Partner Center's customer id), or FAILED with `error`."""

    outcome: Outcome
    tenant_id: str | None = None
    domain: str | None = None
    error: ProviderError | None = None
    provider_request_id: str | None = None
    raw: dict = field(default_factory=dict)


MICROSOFT_CUSTOMER_AGREEMENT = "MicrosoftCustomerAgreement"  # Partner Center's agreement type of the MCA


@dataclass(frozen=True)
class AgreementTemplate:
    """Partner Center's metadata of the Microsoft Customer Agreement (GET /v1/agreements)."""

    template_id: str  # the templateId an attestation names
    agreement_link: str | None = None  # e.g. https://aka.ms/customeragreement
    version_rank: int | None = None


@dataclass(frozen=True)
class AgreementTemplateResult:
    outcome: Outcome  # DONE with `template`, or FAILED with `error` (never PENDING)
    template: AgreementTemplate | None = None
    error: ProviderError | None = None
    provider_request_id: str | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AgreementAttestation:
    """The partner confirms that the customer accepted the MCA (POST /v1/customers/{id}/agreements).

    A repeat with the same contact is answered DONE: Partner Center refuses it as a duplicate (600061),
    which means it is already recorded there.
    """

    customer_id: str  # the customer's tenant id at the provider
    template_id: str
    first_name: str
    last_name: str
    email: str
    phone: str  # "" when not given (optional at Partner Center)
    date_agreed: date  # the business date the customer accepted (never in the future)
    correlation_id: str  # stable per acceptance, sent as MS-CorrelationId


class LicenseProvisioner(Protocol):
    """Every method returns a result instead of raising for provider refusals; network trouble is
    reported as FAILED with `retryable=True` so the job's retry policy decides."""

    name: str  # "simulator" | "partner_center"

    def change_quantity(self, change: QuantityChange) -> ProvisioningResult: ...

    def purchase(self, purchase: Purchase) -> ProvisioningResult: ...

    def schedule_renewal_quantity(self, renewal: RenewalQuantity) -> ProvisioningResult: ...

    def schedule_next_term(self, next_term: NextTerm) -> ProvisioningResult:
        """Schedule quantity and product/term for the renewal (see `NextTerm`); DONE with the subscription."""

    def poll(self, operation_url: str) -> ProvisioningResult: ...

    def get_subscription(self, customer_id: str, subscription_id: str) -> ProvisioningResult: ...

    def agreement_template(self) -> AgreementTemplateResult: ...

    def attest_agreement(self, attestation: AgreementAttestation) -> ProvisioningResult: ...

    def create_customer(self, customer: NewCustomer) -> CustomerResult:
        """A new customer with a new tenant (its initial domain); FAILED when the domain is taken."""

    def find_customer(self, domain: str) -> CustomerResult:
        """The reseller's customer that owns `domain` (FAILED, code "not_found", when none does)."""


class TokenProvider(Protocol):
    """A bearer token for the Partner Center API (MSAL refresh-token exchange in production)."""

    def token(self) -> str: ...


class StaticTokenProvider:
    """A fixed token (tests, or a token minted outside the portal)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token
