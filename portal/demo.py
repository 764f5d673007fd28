"""Demo data: two customer organizations with a user per role, and one staff user per staff role.

Loaded by `flask --app wsgi demo`, or by `make run` when the database is empty in development.
Every demo password is DEMO_PASSWORD; staff sign in with two-factor using DEMO_TOTP_SECRET.
"""

import uuid
from datetime import UTC, date, datetime, timedelta

import pyotp
from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from portal.accounts.models import Membership, MembershipRole, Organization, StaffRoleGrant, User
from portal.accounts.roles import Role, StaffRole
from portal.agreements.models import AcceptanceMethod, AgreementAcceptance, AgreementKind, AgreementVersion
from portal.api import tokens as api_tokens
from portal.approvals import service as approvals
from portal.billing import documents, fiscal, prorata
from portal.billing.payments import record_payment
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.budgets import service as budgets
from portal.catalog.models import TERM_MONTHS, Product, ProductFamily, ProductPrice, Term
from portal.extensions import db
from portal.integrations.graph import GraphSimulator, InactiveUser, SimulatedTenant, SkuUsage
from portal.integrations.partner_center import MCA_LINK, MCA_TEMPLATE_ID
from portal.licence_usage import service as licence_usage
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.periods import add_months
from portal.subscriptions.models import (
    ChangeKind,
    Lot,
    NextTermChange,
    Order,
    OrderKind,
    OrderStatus,
    QuantityChange,
    Subscription,
    SubscriptionStatus,
)
from portal.subscriptions.prices import monthly_equivalent
from portal.subscriptions.service import billing_period, purchase_for_new_customer, quote_quantity_change
from portal.subscriptions.window import window_end
from portal.support.models import MessageKind, Ticket, TicketCategory, TicketMessage, TicketPriority, TicketStatus

# Base32; enter it in any authenticator app, or run `flask --app wsgi demo-code`.
DEMO_TOTP_SECRET = "PORTALDEMOSTAFFXYZ234567ABCDEFGH"  # noqa: S105 - public demo key, documented

ORGANIZATIONS = [
    {
        "legal_name": "Demo Tecnologia Ltda", "trade_name": "Demo Tecnologia", "cnpj": "11222333000181",
        "street": "Avenida Paulista", "number": "1000", "complement": "10º andar", "district": "Bela Vista",
        "city": "São Paulo", "state": "SP", "postal_code": "01310100", "city_code": "3550308",
        "billing_day": 10,
        "users": [
            ("master@demo.example.com", "Marina Master", {Role.MASTER}),
            ("adm@demo.example.com", "Antônio Adm", {Role.ADM}),
            ("cobranca@demo.example.com", "Carla Cobrança", {Role.COBRANCA}),
            ("suporte@demo.example.com", "Sérgio Suporte", {Role.SUPORTE}),
        ],
    },
    {
        "legal_name": "Outra Empresa S.A.", "trade_name": "Outra Empresa", "cnpj": "12ABC34501DE35",
        "street": "Rua da Assembleia", "number": "10", "complement": "", "district": "Centro",
        "city": "Rio de Janeiro", "state": "RJ", "postal_code": "20011000", "city_code": "3304557",
        "billing_day": 25,
        "users": [("master@outra.example.com", "Otávio Master", {Role.MASTER})],
    },
]

STAFF = [
    ("comercial@staff.example.com", "Camila Comercial", StaffRole.COMERCIAL),
    ("financeiro@staff.example.com", "Fábio Financeiro", StaffRole.FINANCEIRO),
    ("suporte@staff.example.com", "Sônia Suporte", StaffRole.SUPORTE),
    ("compliance@staff.example.com", "Cláudio Compliance", StaffRole.COMPLIANCE),
    ("admin@staff.example.com", "Alice Admin", StaffRole.ADMIN),
]


# Families and products of the demo catalog, with prices in centavos per billing period.
# (family, SKU, name, provider, offer_id, term, billing, window hours, price, description)
CATALOG = [
    ("Microsoft 365", "M365-BASIC", "Microsoft 365 Business Basic", "microsoft_csp",
     "CFQ7TTC0LH18:0001:CFQ7TTC0LCHC", "annual", "monthly", 168, 3600,
     "E-mail, Teams e 1 TB no OneDrive, com os aplicativos do Office na web."),
    ("Microsoft 365", "M365-STD", "Microsoft 365 Business Standard", "microsoft_csp",
     "CFQ7TTC0LDPB:0001:CFQ7TTC0LDQ6", "annual", "monthly", 168, 7890,
     "Tudo do Basic e os aplicativos do Office para computador."),
    ("Microsoft 365", "M365-STD-ANUAL", "Microsoft 365 Business Standard (pagamento anual)", "microsoft_csp",
     "CFQ7TTC0LDPB:0001:CFQ7TTC0LDQ7", "annual", "annual", 168, 94680,
     "O mesmo Business Standard, com o ano todo faturado de uma vez."),
    ("Microsoft 365", "M365-PREM", "Microsoft 365 Business Premium", "microsoft_csp",
     "CFQ7TTC0LCHC:0002:CFQ7TTC0LCJ8", "annual", "monthly", 168, 13250,
     "Business Standard com segurança avançada e gerenciamento de dispositivos."),
    ("Microsoft 365", "M365-E3", "Microsoft 365 E3", "microsoft_csp",
     "CFQ7TTC0LFLX:0001:CFQ7TTC0LFM1", "annual", "monthly", 168, 21600,
     "Para empresas com mais de 300 usuários: Office, Windows Enterprise e conformidade."),
    ("Microsoft 365", "TEAMS-ESS", "Microsoft Teams Essentials", "microsoft_csp",
     "CFQ7TTC0RQRV:0001:CFQ7TTC0RQS0", "monthly", "monthly", 168, 2500,
     "Reuniões e chat do Teams, sem os aplicativos do Office."),
    ("Segurança", "DEF-BUSINESS", "Microsoft Defender for Business", "microsoft_csp",
     "CFQ7TTC0LHVD:0001:CFQ7TTC0LHVF", "annual", "monthly", 168, 1800,
     "Proteção de endpoints para pequenas e médias empresas."),
    ("Segurança", "DEF-O365-P1", "Microsoft Defender for Office 365 (Plano 1)", "microsoft_csp",
     "CFQ7TTC0LHSF:0001:CFQ7TTC0LHSG", "annual", "monthly", 168, 1200,
     "Proteção contra phishing e anexos maliciosos no e-mail."),
    ("Segurança", "ENTRA-P1", "Microsoft Entra ID P1", "microsoft_csp",
     "CFQ7TTC0LFLS:0001:CFQ7TTC0LFLT", "annual", "monthly", 168, 3600,
     "Acesso condicional e autenticação multifator para toda a empresa."),
    ("Backup em Nuvem", "BKP-100", "Backup em Nuvem 100 GB", "own_service", None, "monthly", "monthly", 0, 8900,
     "Backup diário de servidores e estações, com retenção de 30 dias."),
    ("Backup em Nuvem", "BKP-500", "Backup em Nuvem 500 GB", "own_service", None, "monthly", "monthly", 0, 29000,
     "Backup diário de servidores e estações, com retenção de 30 dias."),
    ("Backup em Nuvem", "BKP-1TB", "Backup em Nuvem 1 TB", "own_service", None, "monthly", "monthly", 0, 49000,
     "Backup diário de servidores e estações, com retenção de 90 dias."),
]

# (organization legal name, SKU, quantity bought at the start, start N days ago, later increase, N days ago)
SUBSCRIPTIONS = [
    ("Demo Tecnologia Ltda", "M365-STD", 10, 200, 2, 90),
    ("Demo Tecnologia Ltda", "DEF-BUSINESS", 12, 200, 0, 0),
    ("Demo Tecnologia Ltda", "M365-BASIC", 3, 40, 2, 2),  # the +2 two days ago is still inside its window
    ("Demo Tecnologia Ltda", "BKP-500", 1, 120, 0, 0),
    ("Outra Empresa S.A.", "M365-PREM", 20, 300, 5, 30),
    ("Outra Empresa S.A.", "ENTRA-P1", 25, 300, 0, 0),
]


def database_is_empty() -> bool:
    return not db.session.scalar(select(func.count(User.id)))


def demo_logins() -> list[tuple[str, str]]:
    """(e-mail, what it is) for the README and `make run`."""
    rows = []
    for org in ORGANIZATIONS:
        for email, _name, roles in org["users"]:
            rows.append((email, f"{org['trade_name']}: {', '.join(sorted(r.value for r in roles))}"))
    rows += [(email, f"staff: {role.value}") for email, _name, role in STAFF]
    return rows


def load(password: str, hash_method: str = "scrypt") -> bool:
    """Create the demo data; returns False (and changes nothing) if it is already there."""
    if db.session.execute(select(User.id).where(User.email == STAFF[-1][0])).first():
        return False
    actor = Actor.system("demo")
    password_hash = generate_password_hash(password, method=hash_method)
    now = clock.now()
    for index, spec in enumerate(ORGANIZATIONS):
        fields = {k: v for k, v in spec.items() if k != "users"}
        # The billing day follows the day the demo is loaded, so its last invoice is a few days old and still
        # open, the one before it overdue, and the one before that paid (see _load_invoices).
        fields["billing_day"] = min((clock.today() - timedelta(days=INVOICE_AGE_DAYS[index])).day, 28)
        org = Organization(**fields)
        db.session.add(org)
        for email, name, roles in spec["users"]:
            user = User(email=email, name=name, phone="(11) 3000-0000", password_hash=password_hash)
            membership = Membership(user=user, organization=org, accepted_at=now)
            membership.role_rows = [MembershipRole(role=str(r)) for r in sorted(roles)]
            db.session.add(membership)
        db.session.flush()
        record(AuditTag.ORGANIZATION_CREATED, actor=actor, organization_id=org.id,
               subject=f"organization:{org.id}", after={"legal_name": org.legal_name, "demo": True})
    billed_from = {org.id: _billing_dates(org)[0] for org in db.session.scalars(select(Organization))}
    _load_catalog_and_subscriptions(now, actor, billed_from)
    _load_renewals(now, actor)
    _load_agreements(now, actor)
    _load_licence_usage(now)
    for email, name, role in STAFF:
        user = User(email=email, name=name, password_hash=password_hash, is_staff=True,
                    totp_secret=DEMO_TOTP_SECRET, totp_enabled_at=now)
        user.staff_role_rows = [StaffRoleGrant(role=str(role))]
        db.session.add(user)
        db.session.flush()
        record(AuditTag.STAFF_USER_CREATED, actor=actor, subject=f"user:{user.id}",
               after={"email": email, "roles": [role.value], "demo": True})
    db.session.commit()
    _load_home(actor)
    _load_invoices(actor)
    _load_budgets()
    _load_approvals()
    _load_api_tokens()
    return True


# Days between today and each demo organization's last billing day when the demo is loaded.
INVOICE_AGE_DAYS = (3, 5)


def _billing_dates(organization: Organization) -> list:
    """The organization's last three billing days: paid, overdue, open (oldest first)."""

    last = clock.today() - timedelta(days=INVOICE_AGE_DAYS[0])
    while last.day != min(organization.billing_day, 28):
        last -= timedelta(days=1)
    return [add_months(last, -2), add_months(last, -1), last]


def _load_invoices(actor: Actor) -> None:
    """Three months of invoices per demo organization with their PDFs, boletos and simulated notas fiscais:
    the oldest paid, the next overdue, the last open ("Faturas" is never empty)."""
    settings = BillingSettings.from_config(current_app.config)
    for organization in db.session.scalars(select(Organization).order_by(Organization.id)).all():
        invoices = []
        for day in _billing_dates(organization):
            with clock.frozen(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)):
                issued = invoice_organization(organization.id, on=day, settings=settings, actor=actor)
            if issued.invoice is not None:
                invoices.append(issued.invoice)
        for invoice in invoices:
            documents.ensure_invoice_documents(invoice, settings=settings, actor=actor)
            fiscal.ensure_fiscal_document(invoice, issuer=current_app.extensions["fiscal_issuer"],
                                          settings=settings, actor=actor)
            invoice.emailed_at = invoice.issued_at  # as if e-mailed then: loading the demo sends no mail
        db.session.commit()
        if invoices:
            paid = invoices[0]
            record_payment(paid, amount_cents=paid.total_cents, method="boleto",
                           paid_on=paid.due_date - timedelta(days=2), actor=actor, note="demo")


# Demo Tecnologia's monthly budget is set so that the month's spend on the day the demo is loaded is this share of
# it (just under the 80 % e-mail), and Microsoft 365's so that it is at 90 % of its own.
DEMO_BUDGET_PERCENT, DEMO_FAMILY_PERCENT = 79, 90


def _load_budgets() -> None:
    """Demo Tecnologia's budgets, from what its month costs today (`budgets.month_spend`): the card shows spend near
    80 % of the organization's budget and Microsoft 365 close to its own. In the first days of a month, before
    anything of it is billed, the forecast stands in for the spend."""
    demo = db.session.scalar(select(Organization).where(Organization.legal_name == ORGANIZATIONS[0]["legal_name"]))
    master = db.session.scalar(select(User).where(User.email == ORGANIZATIONS[0]["users"][0][0]))
    office = db.session.scalar(select(ProductFamily).where(ProductFamily.name == "Microsoft 365"))
    month = budgets.month_spend(demo, clock.today())
    spent = month.spend_cents if month.spend_cents > 0 else month.forecast_cents
    if spent <= 0:
        return
    total = -(-spent * 100 // DEMO_BUDGET_PERCENT // 100) * 100  # rounded up to whole reais
    family = {}
    office_spent = month.family_spend_cents.get(office.id, 0) if month.spend_cents > 0 else \
        month.family_forecast_cents.get(office.id, 0)
    if office_spent > 0:
        family[office.id] = min(-(-office_spent * 100 // DEMO_FAMILY_PERCENT // 100) * 100, total)
    budgets.set_budgets(demo, total_cents=total, family_cents=family, actor=Actor.for_user(master))


# Demo Tecnologia's approval rule: an Adm's purchase or increase adding more than this a month waits for a Master
# (above what the other browser tests buy as its Adm). Antônio Adm's increase of its priciest Microsoft licence waits
# on the day the demo is loaded.
DEMO_APPROVAL_MONTHLY_CENTS = 100_000


def _load_approvals() -> None:
    demo = db.session.scalar(select(Organization).where(Organization.legal_name == ORGANIZATIONS[0]["legal_name"]))
    master, adm = (db.session.scalar(select(User).where(User.email == ORGANIZATIONS[0]["users"][i][0]))
                   for i in (0, 1))
    approvals.set_rules(demo, monthly_cents=DEMO_APPROVAL_MONTHLY_CENTS, one_off_cents=None, new_family=False,
                        actor=Actor.for_user(master))
    candidates = db.session.scalars(select(Subscription).where(
        Subscription.organization_id == demo.id, Subscription.status == SubscriptionStatus.ACTIVE,
        Subscription.renewal_quantity.is_(None)).order_by(Subscription.id)).all()
    microsoft = [s for s in candidates if s.product.provider == "microsoft_csp"]
    for subscription in sorted(microsoft, key=lambda s: -s.product.price_on(clock.today()).unit_price_cents):
        monthly = subscription.product.price_on(clock.today()).unit_price_cents
        monthly = max(monthly_equivalent(monthly, subscription.product), 1)
        quantity = subscription.quantity + DEMO_APPROVAL_MONTHLY_CENTS // monthly + 1
        if quantity > subscription.product.max_quantity:
            continue
        quote = quote_quantity_change(organization=demo, subscription=subscription,
                                                    new_quantity=quantity, actor=Actor.for_user(adm))
        approvals.request_approval(demo, quote, Actor.for_user(adm))
        return


def _load_api_tokens() -> None:
    """Demo Tecnologia's Master has an API token for its ERP (Cobrança's roles), so "Integrações: tokens de API" is
    not empty; its text is not kept anywhere (a token is shown once): create another to call the API."""
    master = db.session.scalar(select(Membership).join(User, User.id == Membership.user_id)
                               .where(User.email == ORGANIZATIONS[0]["users"][0][0]))
    api_tokens.create_token(organization=master.organization, membership=master, actor=Actor.for_user(master.user),
                            name="ERP financeiro (demonstração)", roles=["cobranca"])


# The home ("Início", issue 17): Demo Tecnologia has used Defender for Office 365 (Plano 1) for two years (its annual
# term renews about a month after the demo is loaded), so its home shows 12 months of invoices across families and a
# renewal soon; it has just bought Backup em Nuvem 100 GB, whose order waits for the staff's implantação; and its
# Suporte follows a ticket in progress.
HOME_ORGANIZATION = "Demo Tecnologia Ltda"
HOME_HISTORY_MONTHS = 9  # paid invoices before the three of _load_invoices: 12 months in all
HOME_PURCHASE = ("BKP-100", 1)


def _load_home(actor: Actor) -> None:
    """Before `_load_invoices` (so invoice numbers follow the billing dates): the long-standing subscription, its
    invoices for the nine months before the demo's three (issued by the billing run's path, paid, with their
    documents), and a purchase whose order is still open."""
    # The long-standing subscription is _load_renewals' Defender (RENEWING): bought two years ago, in its second
    # annual term, renewing in about 35 days.
    organization = db.session.scalar(select(Organization).where(Organization.legal_name == HOME_ORGANIZATION))
    now = clock.now()
    settings = BillingSettings.from_config(current_app.config)
    first = _billing_dates(organization)[0]
    invoices = []
    for back in range(HOME_HISTORY_MONTHS, 0, -1):
        billing_day = add_months(first, -back)
        with clock.frozen(datetime(billing_day.year, billing_day.month, billing_day.day, 12, tzinfo=UTC)):
            issued = invoice_organization(organization.id, on=billing_day, settings=settings, actor=actor)
        if issued.invoice is not None:
            invoices.append(issued.invoice)
    # Their PDFs and notas fiscais are made by the jobs the billing run queued (`billing.complete_invoice`): at once
    # where jobs run inline, by the consumer right after `make run` starts it otherwise (loading stays quick); as if
    # e-mailed when issued, so those jobs send nothing.
    for invoice in invoices:
        invoice.emailed_at = invoice.issued_at
    db.session.commit()
    for invoice in invoices:
        record_payment(invoice, amount_cents=invoice.total_cents, method="boleto",
                       paid_on=invoice.due_date - timedelta(days=1), actor=actor, note="demo")

    _load_home_ticket(organization, now)

    purchase_sku, purchase_quantity = HOME_PURCHASE
    adm = db.session.scalar(select(User).where(User.email == ORGANIZATIONS[0]["users"][1][0]))
    purchase_for_new_customer(organization=organization, actor=Actor.for_user(adm),
                              items=[(db.session.scalar(select(Product).where(Product.sku == purchase_sku)),
                                      purchase_quantity)])
    db.session.commit()


def _load_home_ticket(organization: Organization, now) -> None:
    """A ticket the Suporte follows: opened three hours ago, answered by the staff within the hour, in progress."""
    opener = db.session.scalar(select(User).where(User.email == ORGANIZATIONS[0]["users"][3][0]))
    staff = db.session.scalar(select(User).where(User.email == STAFF[2][0]))
    opened_at, answered_at = now - timedelta(hours=3), now - timedelta(hours=2)
    ticket = Ticket(organization_id=organization.id, opened_by_id=opener.id, category=TicketCategory.TECHNICAL,
                    priority=TicketPriority.NORMAL, subject="Outlook pede a senha a cada hora",
                    status=TicketStatus.IN_PROGRESS, assignee_id=staff.id, created_at=opened_at,
                    updated_at=answered_at, first_response_at=answered_at)
    db.session.add(ticket)
    db.session.flush()
    db.session.add_all([
        TicketMessage(ticket_id=ticket.id, author_id=opener.id, kind=MessageKind.MESSAGE, created_at=opened_at,
                      body="Desde a troca de senha, o Outlook de três pessoas do financeiro pede a senha a cada hora."),
        TicketMessage(ticket_id=ticket.id, author_id=staff.id, kind=MessageKind.MESSAGE, from_staff=True,
                      created_at=answered_at, body="Estamos verificando as políticas de acesso condicional do seu "
                                                   "locatário e retornamos ainda hoje."),
    ])


def current_code() -> str:
    return pyotp.TOTP(DEMO_TOTP_SECRET).at(clock.now())


def _load_catalog_and_subscriptions(now, actor: Actor, billed_from: dict) -> None:
    """The demo catalog and each organization's licenses with some history (an increase in and out of window).

    Changes from before the first demo invoice (`billed_from`) carry no pró-rata: they were billed before.
    """
    families: dict[str, ProductFamily] = {}
    products: dict[str, Product] = {}
    for family, sku, name, provider, offer, term, billing, window, price, description in CATALOG:
        if family not in families:
            families[family] = ProductFamily(name=family, position=len(families))
            db.session.add(families[family])
        product = Product(sku=sku, name=name, description=description, family=families[family], provider=provider,
                          offer_id=offer, term=term, billing_frequency=billing, decrease_window_hours=window,
                          min_quantity=1, max_quantity=300 if provider == "microsoft_csp" else 10)
        product.prices = [ProductPrice(unit_price_cents=price, effective_from=date(2025, 1, 1))]
        db.session.add(product)
        products[sku] = product
    db.session.flush()
    organizations = {o.legal_name: o for o in db.session.scalars(select(Organization))}
    for index, organization in enumerate(organizations.values()):
        organization.microsoft_tenant_id = f"00000000-0000-4000-8000-{index + 1:012d}"
    for org_name, sku, quantity, started_days_ago, added, added_days_ago in SUBSCRIPTIONS:
        organization, product = organizations[org_name], products[sku]
        started_at = now - timedelta(days=started_days_ago)
        term_start = clock.to_business(started_at).date()
        months = TERM_MONTHS[Term(product.term)]
        term_end = add_months(term_start, months)
        while term_end <= clock.to_business(now).date():  # monthly terms have renewed since
            term_start, term_end = term_end, add_months(term_end, months)
        price = product.prices[0].unit_price_cents
        subscription = Subscription(
            organization=organization, product=product, quantity=quantity + added, status=SubscriptionStatus.ACTIVE,
            term_start=term_start, term_end=term_end, provider_subscription_id=str(uuid.uuid4()) if product.offer_id
            else None, created_at=started_at,
        )
        db.session.add(subscription)
        db.session.flush()
        steps = [(ChangeKind.INITIAL, quantity, started_at)]
        if added:
            steps.append((ChangeKind.INCREASE, added, now - timedelta(days=added_days_ago)))
        running = 0
        for kind, delta, at in steps:
            running += delta
            day = clock.to_business(at).date()
            start, end = billing_period(subscription, organization, day)
            charge = prorata.prorated_amount(price, delta, start, end, day) if day >= billed_from[
                organization.id] else 0
            change = QuantityChange(subscription_id=subscription.id, organization_id=organization.id, kind=kind,
                                    delta=delta, quantity_after=running, effective_on=day, charge_cents=charge,
                                    period_start=start, period_end=end, created_at=at)
            db.session.add(change)
            db.session.flush()
            db.session.add(Lot(subscription_id=subscription.id, change_id=change.id, quantity=delta,
                               unit_price_cents=price, added_at=at,
                               window_end=window_end(at, product.decrease_window_hours), billed_cents=charge))
        record(AuditTag.SUBSCRIPTION_PURCHASED, actor=actor, organization_id=organization.id,
               subject=f"subscription:{subscription.id}", after={"product": sku, "quantity": running, "demo": True})


# Microsoft Graph's skuId and skuPartNumber of the demo catalog's Microsoft products ("Uso de licenças").
DEMO_GRAPH_SKUS = {
    "M365-BASIC": ("3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS"),
    "M365-STD": ("f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM"),
    "M365-STD-ANUAL": ("f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM"),
    "M365-PREM": ("cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB"),
    "M365-E3": ("05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3"),
    "TEAMS-ESS": ("7e74bd05-2c47-404e-829a-ba95c66fe8e5", "TEAMS_ESSENTIALS_AAD"),
    "DEF-BUSINESS": ("5b631642-bd26-49fe-bd20-1daaa972ef80", "MDE_SMB"),
    "DEF-O365-P1": ("4ef96642-f096-40de-a3e9-d83fb2f90211", "ATP_ENTERPRISE"),
    "ENTRA-P1": ("078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "AAD_PREMIUM"),
}


def _load_licence_usage(now) -> None:
    """The catalog's Graph SKUs, and what the Graph simulator answers for each demo tenant, read once: Demo Tecnologia
    has Business Standard licences nobody uses (3 unassigned, 2 users inactive for months) and a Business Basic one
    unassigned inside its 168 h window (a reduction with credit); Outra Empresa has not granted consent yet."""
    for product in db.session.scalars(select(Product).where(Product.sku.in_(DEMO_GRAPH_SKUS))):
        product.microsoft_sku_id, product.microsoft_sku_part_number = DEMO_GRAPH_SKUS[product.sku]
    db.session.flush()
    reader = current_app.extensions["licence_usage"]
    if not isinstance(reader, GraphSimulator):  # a real Graph: its numbers come from the tenants themselves
        return
    today = clock.to_business(now).date()
    tenants = {o.legal_name: o for o in db.session.scalars(select(Organization))}
    demo = tenants["Demo Tecnologia Ltda"]
    sku = {code: SkuUsage(*DEMO_GRAPH_SKUS[code], enabled, consumed)
           for code, enabled, consumed in (("M365-STD", 12, 9), ("DEF-BUSINESS", 12, 12), ("M365-BASIC", 5, 4))}
    reader.set_tenant(demo.microsoft_tenant_id, SimulatedTenant(
        skus=list(sku.values()),
        inactive=[InactiveUser("joao.pereira@demotecnologia.onmicrosoft.com", today - timedelta(days=74),
                               ("O365_BUSINESS_PREMIUM", "MDE_SMB")),
                  InactiveUser("estagio2025@demotecnologia.onmicrosoft.com", None, ("O365_BUSINESS_PREMIUM",))]))
    reader.set_tenant(tenants["Outra Empresa S.A."].microsoft_tenant_id, SimulatedTenant(consent=False))
    for organization in tenants.values():
        licence_usage.record_snapshot(organization, reader.read(organization.microsoft_tenant_id))


# Renewals (issue 17): upgrades the catalog offers at renewal, a monthly-term sibling of Business Basic, and two annual
# subscriptions of Demo Tecnologia renewing within 60 days, one with a change scheduled for its next term.
UPGRADES = {"M365-BASIC": ["M365-STD", "M365-PREM"], "M365-STD": ["M365-PREM"], "DEF-BUSINESS": []}
# (SKU, quantity, started N days ago, scheduled for the next term: (SKU, quantity) or None)
# Defender was bought two years ago (the home's 12 months of invoices carry it) and is in its second annual term.
RENEWING = [("DEF-O365-P1", 15, 695, ("DEF-O365-P1", 12)), ("ENTRA-P1", 20, 340, None)]


def _load_renewals(now, actor: Actor) -> None:
    """"Renovações" with meaningful dates the day the demo is loaded: Defender for Office 365 renews in about 35 days
    with 12 licenses instead of 15 (scheduled, and already confirmed by the simulated provider), Entra ID P1 in about
    25 days (its 30-day reminder is due), and Business Basic's 2 licenses added two days ago are still inside their
    window. Business Basic may also move to its monthly term or be upgraded at its renewal."""
    products = {p.sku: p for p in db.session.scalars(select(Product))}
    for sku, targets in UPGRADES.items():
        products[sku].upgrade_to = targets
    basic = products["M365-BASIC"]
    monthly = Product(sku="M365-BASIC-MENSAL", name="Microsoft 365 Business Basic (termo mensal)",
                      description="O mesmo Business Basic, com termo mensal: cancele quando quiser, pagando um pouco "
                                  "mais por licença.", family=basic.family, provider=basic.provider,
                      offer_id="CFQ7TTC0LH18:0001:CFQ7TTC0LCHM", term="monthly", billing_frequency="monthly",
                      decrease_window_hours=168, min_quantity=1, max_quantity=300)
    monthly.prices = [ProductPrice(unit_price_cents=4320, effective_from=basic.prices[0].effective_from)]
    db.session.add(monthly)
    organization = db.session.scalar(select(Organization)
                                     .where(Organization.legal_name == ORGANIZATIONS[0]["legal_name"]))
    adm = db.session.scalar(select(User).where(User.email == ORGANIZATIONS[0]["users"][1][0]))
    for sku, quantity, started_days_ago, scheduled in RENEWING:
        product = products[sku]
        started_at = now - timedelta(days=started_days_ago)
        bought_on = clock.to_business(started_at).date()
        months = TERM_MONTHS[Term(product.term)]
        term_start, term_end = bought_on, add_months(bought_on, months)
        while term_end <= clock.today():  # the terms that have renewed since
            term_start, term_end = term_end, add_months(term_end, months)
        subscription = Subscription(
            organization=organization, product=product, quantity=quantity, status=SubscriptionStatus.ACTIVE,
            term_start=term_start, term_end=term_end, provider_subscription_id=str(uuid.uuid4()),
            created_at=started_at)
        db.session.add(subscription)
        db.session.flush()
        start, end = billing_period(subscription, organization, bought_on)
        change = QuantityChange(subscription_id=subscription.id, organization_id=organization.id,
                                kind=ChangeKind.INITIAL, delta=quantity, quantity_after=quantity,
                                effective_on=bought_on, period_start=start, period_end=end, created_at=started_at)
        db.session.add(change)
        db.session.flush()
        price = product.prices[0].unit_price_cents
        db.session.add(Lot(subscription_id=subscription.id, change_id=change.id, quantity=quantity,
                           unit_price_cents=price, added_at=started_at,
                           window_end=window_end(started_at, product.decrease_window_hours),
                           billed_cents=price * quantity))
        record(AuditTag.SUBSCRIPTION_PURCHASED, actor=actor, organization_id=organization.id,
               subject=f"subscription:{subscription.id}", after={"product": sku, "quantity": quantity, "demo": True})
        if scheduled is None:
            continue
        next_sku, next_quantity = scheduled
        scheduled_at = now - timedelta(days=3)
        subscription.renewal_quantity = next_quantity
        db.session.add(NextTermChange(organization_id=organization.id, subscription_id=subscription.id,
                                      term_end=subscription.term_end, quantity=next_quantity,
                                      product_id=products[next_sku].id, created_by_id=adm.id,
                                      created_at=scheduled_at))
        db.session.add(Order(organization_id=organization.id, kind=OrderKind.RENEWAL_QUANTITY,
                             subscription_id=subscription.id, quantity=next_quantity, product_id=products[next_sku].id,
                             status=OrderStatus.DONE, correlation_id=str(uuid.uuid4()), attempts=1,
                             requested_by_id=adm.id, created_at=scheduled_at,
                             completed_at=scheduled_at + timedelta(seconds=5)))
        record(AuditTag.NEXT_TERM_SCHEDULED, actor=actor, organization_id=organization.id,
               subject=f"subscription:{subscription.id}",
               after={"quantity": next_quantity, "product_id": products[next_sku].id,
                      "next_product": products[next_sku].name, "on": subscription.term_end.isoformat(), "demo": True})
    db.session.flush()


def _load_agreements(now, actor: Actor) -> None:
    """Both agreements published long ago; Demo Tecnologia's Master accepted them (the MCA already registered at
    the simulated Microsoft), Outra Empresa has not: its purchases wait for the Master's "Li e aceito"."""
    versions = [
        AgreementVersion(kind=AgreementKind.MICROSOFT, title="Contrato de Cliente da Microsoft", link=MCA_LINK,
                         body="O Contrato de Cliente da Microsoft rege o uso dos serviços de nuvem da Microsoft "
                              "contratados por meio da revenda.\n\nO texto completo está no site da Microsoft.",
                         effective_from=date(2020, 1, 1), provider_template_id=MCA_TEMPLATE_ID, published_at=now),
        AgreementVersion(kind=AgreementKind.RESELLER, title="Termos de serviço do Portal Cloud",
                         body="1. Os preços por licença são os do catálogo no dia da compra.\n"
                              "2. Aumentos são cobrados pró-rata na fatura seguinte.\n"
                              "3. Reduções seguem a janela de cancelamento de cada produto.",
                         effective_from=date(2020, 1, 1), published_at=now),
    ]
    db.session.add_all(versions)
    db.session.flush()
    for version in versions:
        record(AuditTag.AGREEMENT_PUBLISHED, actor=actor, subject=f"agreement_version:{version.id}",
               after={"kind": version.kind, "title": version.title, "demo": True})
    demo = db.session.scalar(select(Organization).where(Organization.legal_name == ORGANIZATIONS[0]["legal_name"]))
    master = db.session.scalar(select(User).where(User.email == ORGANIZATIONS[0]["users"][0][0]))
    first_name, _, last_name = master.name.partition(" ")
    for version in versions:
        acceptance = AgreementAcceptance(
            organization_id=demo.id, version_id=version.id, method=AcceptanceMethod.ACCEPTED, first_name=first_name,
            last_name=last_name, email=master.email, phone=master.phone, accepted_on=clock.today() - timedelta(days=30),
            accepted_at=now - timedelta(days=30), recorded_by_id=master.id,
            provider_status="done" if version.kind == AgreementKind.MICROSOFT else "not_needed",
        )
        db.session.add(acceptance)
        db.session.flush()
        record(AuditTag.AGREEMENT_ACCEPTED, actor=actor, organization_id=demo.id,
               subject=f"agreement_acceptance:{acceptance.id}",
               after={"version_id": version.id, "kind": version.kind, "email": master.email, "demo": True})
