"""The permission matrix: the one source of truth for who may do what (DESIGN.md, "Who uses it").

Permissions are typed and named `resource:action`. A view declares the one it needs with
`@requires(...)` (customer side) or `@staff_requires(...)` (backoffice); navigation and templates
ask `can(...)` with the same names, so a role never sees a link it would get a 403 from.
"""

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class Permission(StrEnum):
    """What a customer user may do inside its current organization."""

    PORTAL_ACCESS = "portal:access"  # any active member: home, own profile
    LICENSES_READ = "licenses:read"
    LICENSES_MANAGE = "licenses:manage"  # change quantities, buy from catalog, accept purchase offers
    SUBSCRIPTIONS_CANCEL = "subscriptions:cancel"  # cancel / rescind, always with a reason
    BILLING_READ = "billing:read"  # invoices, boletos, notas fiscais, second copy, payment
    TICKETS_MANAGE = "tickets:manage"  # open and follow tickets
    USERS_MANAGE = "users:manage"  # invite, change roles, deactivate; require 2FA
    AGREEMENT_ACCEPT = "agreement:accept"
    RESCISSION_WITHDRAW = "rescission:withdraw"  # withdraw the contract's rescission in its grace period (Master)
    HISTORY_READ = "history:read"  # the organization's audit history
    SETTINGS_MANAGE = "settings:manage"  # the organization's budgets and licence-use exclusions (Master)
    # "Integrações" (issue 18): API tokens, webhooks, the link to the organization's Entra ID tenant (Master)
    INTEGRATIONS_MANAGE = "integrations:manage"
    # Internal approvals (issue 18): the approval rules, and approving or refusing what waits for them (Master)
    PURCHASES_APPROVE = "purchases:approve"


class Role(StrEnum):
    MASTER = "master"
    ADM = "adm"
    COBRANCA = "cobranca"
    SUPORTE = "suporte"


ROLE_LABELS = {
    Role.MASTER: _l("Master"),
    Role.ADM: _l("Adm"),
    Role.COBRANCA: _l("Cobrança"),
    Role.SUPORTE: _l("Suporte"),
}

ROLE_DESCRIPTIONS = {
    Role.MASTER: _l("Aceita o contrato, gerencia usuários e papéis e pode fazer tudo o que os outros papéis fazem."),
    Role.ADM: _l("Altera quantidades de licenças, compra novos produtos, cancela e rescinde (sempre com motivo)."),
    Role.COBRANCA: _l("Vê faturas, boletos, notas fiscais e pagamentos; consulta as licenças sem alterá-las."),
    Role.SUPORTE: _l("Abre e acompanha chamados de suporte técnico."),
}

# Order matters only for display (most powerful first).
ROLE_ORDER = (Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Master: everything, including users, the customer agreement and the organization's history.
    Role.MASTER: frozenset(Permission),
    # Adm: licenses (read and change), cancellations; no invoices, tickets or users.
    Role.ADM: frozenset(
        {
            Permission.PORTAL_ACCESS,
            Permission.LICENSES_READ,
            Permission.LICENSES_MANAGE,
            Permission.SUBSCRIPTIONS_CANCEL,
        }
    ),
    # Cobrança: financial data; licenses read-only; may not change or cancel anything.
    Role.COBRANCA: frozenset({Permission.PORTAL_ACCESS, Permission.LICENSES_READ, Permission.BILLING_READ}),
    # Suporte: tickets only.
    Role.SUPORTE: frozenset({Permission.PORTAL_ACCESS, Permission.TICKETS_MANAGE}),
}


def permissions_for(roles: set[Role] | frozenset[Role]) -> frozenset[Permission]:
    result: set[Permission] = set()
    for role in roles:
        result |= ROLE_PERMISSIONS[role]
    return frozenset(result)


def effective_roles(roles: set[Role] | frozenset[Role]) -> frozenset[Role]:
    """The roles a holder acts as: Master includes every other role (it 'can do everything')."""
    return frozenset(Role) if Role.MASTER in roles else frozenset(roles)


def grantable_roles(actor_roles: set[Role] | frozenset[Role]) -> frozenset[Role]:
    """A user never grants a role it lacks; only holders of users:manage grant at all."""
    if Permission.USERS_MANAGE not in permissions_for(actor_roles):
        return frozenset()
    return effective_roles(actor_roles)


class StaffPermission(StrEnum):
    """What a staff user may do in the backoffice."""

    BACKOFFICE_ACCESS = "backoffice:access"  # every staff role
    ORGANIZATIONS_READ = "organizations:read"
    ORGANIZATIONS_MANAGE = "organizations:manage"  # create organizations and their first Master
    USERS_READ = "users:read"
    STAFF_MANAGE = "staff:manage"  # create staff users, change staff roles
    AUDIT_READ = "audit:read"
    CATALOG_MANAGE = "catalog:manage"  # product families, products, prices
    ORDERS_READ = "orders:read"  # "Pedidos": every order and its provisioning log
    ORDERS_MANAGE = "orders:manage"  # retry a failed order, complete an implantação by hand
    AGREEMENTS_ATTEST = "agreements:attest"  # attest a customer's acceptance on its behalf (comercial)
    AGREEMENTS_PUBLISH = "agreements:publish"  # publish agreement versions (admin)
    TICKETS_READ = "tickets:read"  # see the ticket queue and conversations (internal notes included)
    TICKETS_MANAGE = "tickets:manage"  # reply, assign, add notes, change status (suporte)
    PIPELINE_READ = "pipeline:read"  # the onboarding pipeline, offers and co-sell deals (read-only)
    PIPELINE_MANAGE = "pipeline:manage"  # move opportunities, proposals, contracts, handover (comercial)
    PIPELINE_APPROVE = "pipeline:approve"  # approve an opportunity: creates the customer (financeiro)
    IMPLANTATION_MANAGE = "implantation:manage"  # mark an implantação done (suporte)
    OFFERS_MANAGE = "offers:manage"  # create, send, cancel purchase offers (comercial)
    COSELL_MANAGE = "cosell:manage"  # create and move co-sell deals (comercial)
    BILLING_MANAGE = "billing:manage"  # invoices, payments, notas fiscais (upload of the real NFS-e)


class StaffRole(StrEnum):
    COMERCIAL = "comercial"
    FINANCEIRO = "financeiro"
    SUPORTE = "suporte"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


STAFF_ROLE_LABELS = {
    StaffRole.COMERCIAL: _l("Comercial"),
    StaffRole.FINANCEIRO: _l("Financeiro"),
    StaffRole.SUPORTE: _l("Suporte"),
    StaffRole.COMPLIANCE: _l("Compliance"),
    StaffRole.ADMIN: _l("Administração"),
}

_STAFF_READ = frozenset(
    {
        StaffPermission.BACKOFFICE_ACCESS,
        StaffPermission.ORGANIZATIONS_READ,
        StaffPermission.USERS_READ,
        StaffPermission.ORDERS_READ,
        StaffPermission.PIPELINE_READ,
    }
)

STAFF_ROLE_PERMISSIONS: dict[StaffRole, frozenset[StaffPermission]] = {
    # Comercial: reads the customer base and its orders; attests customers' agreement acceptance.
    StaffRole.COMERCIAL: _STAFF_READ | {StaffPermission.AGREEMENTS_ATTEST, StaffPermission.PIPELINE_MANAGE,
                                        StaffPermission.OFFERS_MANAGE, StaffPermission.COSELL_MANAGE},
    # Financeiro: manages billing and approves new customers in the onboarding pipeline.
    StaffRole.FINANCEIRO: _STAFF_READ | {StaffPermission.BILLING_MANAGE, StaffPermission.PIPELINE_APPROVE},
    # Suporte: also acts on orders (retries, implantação of own services) and answers tickets.
    StaffRole.SUPORTE: _STAFF_READ | {StaffPermission.ORDERS_MANAGE, StaffPermission.TICKETS_READ,
                                      StaffPermission.TICKETS_MANAGE, StaffPermission.IMPLANTATION_MANAGE},
    # Compliance: read-only everywhere, plus the audit trail.
    StaffRole.COMPLIANCE: _STAFF_READ | {StaffPermission.AUDIT_READ, StaffPermission.TICKETS_READ},
    # Admin: creates organizations and staff users, edits the catalog and prices, acts on orders.
    StaffRole.ADMIN: frozenset(StaffPermission),
}


def staff_permissions_for(roles: set[StaffRole] | frozenset[StaffRole]) -> frozenset[StaffPermission]:
    result: set[StaffPermission] = set()
    for role in roles:
        result |= STAFF_ROLE_PERMISSIONS[role]
    return frozenset(result)
