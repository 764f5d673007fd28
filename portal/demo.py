"""Demo data: two customer organizations with a user per role, and one staff user per staff role.

Loaded by `flask --app wsgi demo`, or by `make run` when the database is empty in development.
Every demo password is DEMO_PASSWORD; staff sign in with two-factor using DEMO_TOTP_SECRET.
"""

import uuid
from datetime import timedelta

import pyotp
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from portal.accounts.models import Membership, MembershipRole, Organization, StaffRoleGrant, User
from portal.accounts.roles import Role, StaffRole
from portal.agreements.models import AcceptanceMethod, AgreementAcceptance, AgreementKind, AgreementVersion
from portal.billing import documents, fiscal, prorata
from portal.billing.payments import record_payment
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.catalog.models import TERM_MONTHS, Product, ProductFamily, ProductPrice, Term
from portal.extensions import db
from portal.integrations.partner_center import MCA_LINK, MCA_TEMPLATE_ID
from portal.shared import clock
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.periods import add_months
from portal.subscriptions.models import ChangeKind, Lot, QuantityChange, Subscription, SubscriptionStatus
from portal.subscriptions.service import billing_period
from portal.subscriptions.window import window_end

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
    _load_agreements(now, actor)
    for email, name, role in STAFF:
        user = User(email=email, name=name, password_hash=password_hash, is_staff=True,
                    totp_secret=DEMO_TOTP_SECRET, totp_enabled_at=now)
        user.staff_role_rows = [StaffRoleGrant(role=str(role))]
        db.session.add(user)
        db.session.flush()
        record(AuditTag.STAFF_USER_CREATED, actor=actor, subject=f"user:{user.id}",
               after={"email": email, "roles": [role.value], "demo": True})
    db.session.commit()
    _load_invoices(actor)
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
    from datetime import UTC, datetime

    from flask import current_app


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


def current_code() -> str:
    return pyotp.TOTP(DEMO_TOTP_SECRET).at(clock.now())


def _load_catalog_and_subscriptions(now, actor: Actor, billed_from: dict) -> None:
    """The demo catalog and each organization's licenses with some history (an increase in and out of window).

    Changes from before the first demo invoice (`billed_from`) carry no pró-rata: they were billed before.
    """
    from datetime import date


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


def _load_agreements(now, actor: Actor) -> None:
    """Both agreements published long ago; Demo Tecnologia's Master accepted them (the MCA already registered at
    the simulated Microsoft), Outra Empresa has not: its purchases wait for the Master's "Li e aceito"."""
    from datetime import date


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
