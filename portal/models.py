"""Imports every room's models so the metadata is complete (Alembic, tests, the shell)."""

from portal.accounts.models import (  # noqa: F401
    Invitation,
    Membership,
    MembershipRole,
    Organization,
    RecoveryCode,
    StaffRoleGrant,
    User,
)
from portal.agreements.models import AgreementAcceptance, AgreementVersion  # noqa: F401
from portal.api.models import ApiToken, ApiTokenUse, IdempotentRequest  # noqa: F401
from portal.approvals.models import ApprovalRequest, ApprovalRule  # noqa: F401
from portal.billing.models import (  # noqa: F401
    BillingContact,
    Boleto,
    CreditEntry,
    DunningNotice,
    FiscalDocument,
    GatewayEvent,
    GatewayPayment,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    Payment,
)
from portal.budgets.models import Budget, BudgetAlert  # noqa: F401
from portal.cancellations.models import CancellationRequest  # noqa: F401
from portal.catalog.models import CartItem, Product, ProductFamily, ProductPrice  # noqa: F401
from portal.cosell.models import (  # noqa: F401
    Deal,
    DealEvent,
    DealFavorite,
    DealSolution,
    DealStageMark,
    DealTeamMember,
)
from portal.entra.models import EntraLink, EntraSignInState  # noqa: F401
from portal.extensions import db  # noqa: F401
from portal.licence_usage.models import SkuRule, UnusedLicencesEmail, UsageSku, UsageSnapshot  # noqa: F401
from portal.notifications.models import EmailDelivery  # noqa: F401
from portal.offers.models import PurchaseOffer, PurchaseOfferItem, PurchaseOfferView  # noqa: F401
from portal.onboarding.models import Opportunity, OpportunityEvent, OpportunityItem  # noqa: F401
from portal.shared.audit import AuditChainHead, AuditEvent  # noqa: F401
from portal.shared.documents import StoredDocument  # noqa: F401
from portal.subscriptions.models import (  # noqa: F401
    Lot,
    LotDraw,
    Order,
    OrderEvent,
    QuantityChange,
    Quote,
    Subscription,
)
from portal.support.models import Ticket, TicketAttachment, TicketMessage  # noqa: F401
from portal.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent  # noqa: F401
