"""Test data: factory_boy factories for the plain models, and functions that make the rows the business makes
(a subscription, an invoice, a ticket, an offer, a deal, an opportunity) as its services would leave them.

The session is whatever `db.session` is in the running test.
"""

import itertools
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta

import factory
from flask import current_app
from werkzeug.security import generate_password_hash

from portal.accounts.models import Membership, MembershipRole, Organization, StaffRoleGrant, User
from portal.billing.boletos import new_boleto
from portal.billing.models import FiscalDocument, Invoice, InvoiceLine, InvoiceStatus, LineKind
from portal.billing.numbering import INVOICE_SERIES, take_number
from portal.billing.settings import BillingSettings
from portal.catalog.models import BillingFrequency, Product, ProductFamily, ProductPrice, Provider, Term
from portal.cosell import service as cosell
from portal.cosell.models import Deal, DealType
from portal.extensions import db
from portal.offers import service as offers
from portal.offers.models import OfferStatus, PurchaseOffer
from portal.onboarding.models import STAGE_ORDER, Opportunity, OpportunityItem, Stage
from portal.shared import clock
from portal.shared import documents as stored_documents
from portal.shared.audit import Actor
from portal.shared.periods import add_months
from portal.subscriptions.models import Lot, QuantityChange, Subscription
from portal.support.models import MessageKind, Ticket, TicketAttachment, TicketMessage, TicketPriority, TicketStatus

PASSWORD = "Portal#Demo2026"
# Hashed once, cheaply: factories make many users.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")

_cnpj_roots = itertools.count(10_000_000)


def valid_cnpj(root: int | None = None, branch: int = 1) -> str:
    """A valid numeric CNPJ built from an 8-digit root and a 4-digit branch."""
    base = f"{root if root is not None else next(_cnpj_roots):08d}{branch:04d}"

    def dv(chars: str, weights: list[int]) -> int:
        r = sum(int(c) * w for c, w in zip(chars, weights, strict=True)) % 11
        return 0 if r < 2 else 11 - r

    d1 = dv(base, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    d2 = dv(base + str(d1), [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{base}{d1}{d2}"


class Base(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731 - the test's current session
        sqlalchemy_session_persistence = "flush"


class OrganizationFactory(Base):
    class Meta:
        model = Organization

    legal_name = factory.Sequence(lambda n: f"Empresa {n} Ltda")
    trade_name = factory.Sequence(lambda n: f"Empresa {n}")
    cnpj = factory.LazyFunction(valid_cnpj)
    street = "Rua Augusta"
    number = "100"
    complement = ""
    district = "Consolação"
    city = "São Paulo"
    state = "SP"
    postal_code = "01304000"
    city_code = "3550308"
    billing_day = 10


class UserFactory(Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@cliente.example.com")
    name = factory.Sequence(lambda n: f"Pessoa {n}")
    phone = "(11) 99999-0000"
    password_hash = PASSWORD_HASH
    active = True


class StaffUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@staff.example.com")
    is_staff = True

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        self.staff_role_rows = [StaffRoleGrant(role=r) for r in (extracted or ["admin"])]
        db.session.flush()


class MembershipFactory(Base):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    active = True
    accepted_at = factory.LazyFunction(clock.now)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        self.role_rows = [MembershipRole(role=r) for r in (extracted or ["adm"])]
        db.session.flush()


# ---------------------------------------------------------------- catalog and subscriptions

class ProductFamilyFactory(Base):
    class Meta:
        model = ProductFamily

    name = factory.Sequence(lambda n: f"Família {n}")
    description = ""
    position = factory.Sequence(lambda n: n)
    active = True


class ProductFactory(Base):
    """A Microsoft NCE product billed monthly at R$ 78,90 (the spec's P) unless told otherwise."""

    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Produto {n}")
    description = "Licença de teste"
    family = factory.SubFactory(ProductFamilyFactory)
    provider = Provider.MICROSOFT_CSP
    offer_id = factory.Sequence(lambda n: f"CFQ7TTC0{n:04d}:0001:CFQ7TTC0AV{n:02d}")
    term = Term.ANNUAL
    billing_frequency = BillingFrequency.MONTHLY
    decrease_window_hours = 168
    min_quantity = 1
    max_quantity = 300
    active = True

    @factory.post_generation
    def price(self, create, extracted, **kwargs):
        """`ProductFactory(price=7890)`: one price row, effective since 2020 (None: 7890; False: no price)."""
        if extracted is False:
            return
        db.session.add(ProductPrice(product=self, unit_price_cents=7890 if extracted is None else extracted,
                                    effective_from=date(2020, 1, 1)))
        db.session.flush()


def own_service_product(**kwargs) -> Product:
    return ProductFactory(provider=Provider.OWN_SERVICE, offer_id=None, decrease_window_hours=0,
                          term=Term.MONTHLY, **kwargs)


def subscription(organization, product=None, quantity=10, added_at=None, term_start=None, **kwargs) -> Subscription:
    """An active subscription with one lot of `quantity` licenses bought at `added_at` (default: 60 days ago,
    so its decrease window is closed) in a term starting `term_start` (default: that day)."""
    product = product or ProductFactory()
    added_at = added_at or clock.now() - timedelta(days=60)
    term_start = term_start or clock.to_business(added_at).date()
    months = {Term.MONTHLY: 1, Term.ANNUAL: 12, Term.TRIENNIAL: 36}[Term(product.term)]
    fields = {"status": "active", "provider_subscription_id": str(uuid.uuid4()), **kwargs}
    sub = Subscription(organization=organization, product=product, quantity=quantity, term_start=term_start,
                       term_end=add_months(term_start, months), created_at=added_at, **fields)
    db.session.add(sub)
    db.session.flush()
    price = product.price_on(clock.to_business(added_at).date()) or product.prices[-1]
    change = QuantityChange(subscription_id=sub.id, organization_id=organization.id, kind="initial", delta=quantity,
                            quantity_after=quantity, effective_on=term_start, created_at=added_at)
    db.session.add(change)
    db.session.flush()
    db.session.add(Lot(subscription_id=sub.id, change_id=change.id, quantity=quantity,
                       unit_price_cents=price.unit_price_cents, added_at=added_at,
                       window_end=added_at + timedelta(hours=product.decrease_window_hours),
                       billed_cents=price.unit_price_cents * quantity))
    db.session.flush()
    db.session.expire(sub, ["lots"])
    return sub


# ---------------------------------------------------------------- billing

PRODUCT = "Microsoft 365 Business Standard"
NFSE_XML = ('<?xml version="1.0" encoding="UTF-8"?>\n<CompNfse xmlns="http://www.abrasf.org.br/nfse.xsd"><Nfse>'
            '<InfNfse><Numero>{number}</Numero><OutrasInformacoes>SEM VALOR FISCAL — SIMULAÇÃO</OutrasInformacoes>'
            '</InfNfse></Nfse></CompNfse>\n')


def fake_pdf(label: str) -> bytes:
    """A small, valid-looking PDF whose bytes differ per label (stored documents are content-addressed)."""
    return f"%PDF-1.4\n% {label}\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".encode()


def invoice(organization, *, billing_date: date | None = None, due_date: date | None = None,
            lines: list[tuple[str, int, int]] | None = None, total_cents: int | None = None,
            status: str = InvoiceStatus.OPEN, boleto: bool = True, with_documents: bool = False,
            settings: BillingSettings | None = None) -> Invoice:
    """An issued invoice with its lines and first boleto, as the billing run leaves it (no jobs run), committed.

    `lines`: (kind, quantity, unit price) each, amounts quantity × price; default 10 licenses × R$ 78,90, or,
    with `total_cents`, one line of 10 licenses amounting to `total_cents`. `lines=()` makes an invoice without
    lines (of `total_cents`). `boleto=False`: no boleto. `with_documents=True`: every document stored too (its PDF,
    its boleto's PDF and its nota fiscal), as the documents job leaves it.
    """
    settings = settings or BillingSettings.from_config(current_app.config)
    billing_date = billing_date or clock.today()
    due_date = due_date or billing_date + timedelta(days=10)
    if lines is None and total_cents is not None:
        rows = [(LineKind.RECURRING, 10, total_cents // 10, total_cents)]
    else:
        rows = [(kind, quantity, price, quantity * price)
                for kind, quantity, price in ([(LineKind.RECURRING, 10, 7890)] if lines is None else lines)]
    total = sum(amount for *_, amount in rows) if rows or total_cents is None else total_cents
    made = Invoice(organization_id=organization.id, series=INVOICE_SERIES, year=billing_date.year,
                   number=take_number(INVOICE_SERIES, billing_date.year), status=status,
                   billing_date=billing_date, period_start=billing_date,
                   period_end=billing_date + timedelta(days=30), due_date=due_date, subtotal_cents=total,
                   credit_applied_cents=0, total_cents=total, issued_at=clock.now())
    db.session.add(made)
    db.session.flush()
    for position, (kind, quantity, price, amount) in enumerate(rows, start=1):
        db.session.add(InvoiceLine(invoice_id=made.id, position=position, kind=kind, description=PRODUCT,
                                   quantity=quantity, unit_price_cents=price, amount_cents=amount,
                                   period_start=billing_date, period_end=billing_date + timedelta(days=30)))
    if boleto and total > 0:
        new_boleto(made, settings, due=due_date, amount_cents=total, sequence=1)
    db.session.commit()
    if with_documents:
        store_pdfs(made)
        add_fiscal_document(made)
        db.session.expire(made)
    return made


def store_pdfs(invoice: Invoice) -> Invoice:
    """Store a PDF for the invoice and each boleto still without one (what documents.ensure_invoice_documents
    does, without WeasyPrint)."""
    if invoice.pdf_sha256 is None:
        invoice.pdf_sha256 = stored_documents.store(fake_pdf(f"fatura {invoice.display_number}"), "application/pdf")
    for boleto in invoice.boletos:
        if boleto.pdf_sha256 is None:
            boleto.pdf_sha256 = stored_documents.store(fake_pdf(f"boleto {boleto.nosso_numero}"), "application/pdf")
    db.session.commit()
    return invoice


def add_fiscal_document(invoice: Invoice, *, simulated: bool = True) -> FiscalDocument:
    """The invoice's nota fiscal (simulated, or as if uploaded), with its DANFSe stored."""
    number = f"SIM-{invoice.year}{invoice.number:06d}"
    note = FiscalDocument(invoice_id=invoice.id, number=number, verification_code="ABCDE2345",
                          issued_on=invoice.billing_date, amount_cents=invoice.total_cents,
                          xml=NFSE_XML.format(number=number),
                          pdf_sha256=stored_documents.store(fake_pdf(f"DANFSe {number}"), "application/pdf"),
                          simulated=simulated, source="simulator" if simulated else "upload", created_at=clock.now())
    db.session.add(note)
    db.session.commit()
    return note


# ---------------------------------------------------------------- support tickets

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def ticket_message(ticket: Ticket, author, body: str, *, kind=MessageKind.MESSAGE, from_staff=False,
                   files: list[tuple[str, bytes, str]] = (), created_at: datetime | None = None) -> TicketMessage:
    """A conversation row (and its files, stored in the document store) as the service leaves it."""
    created_at = created_at or clock.now()
    message = TicketMessage(ticket_id=ticket.id, author_id=author.id if author else None, kind=kind,
                            from_staff=from_staff, body=body, created_at=created_at)
    db.session.add(message)
    db.session.flush()
    for filename, content, content_type in files:
        db.session.add(TicketAttachment(ticket_id=ticket.id, message_id=message.id, filename=filename,
                                        content_type=content_type, size=len(content),
                                        sha256=stored_documents.store(content, content_type), created_at=created_at))
    db.session.flush()
    return message


def ticket(organization, opener, *, subject="O Outlook não sincroniza", body="Desde ontem o Outlook não "
           "recebe e-mails.", priority=TicketPriority.NORMAL, status=TicketStatus.OPEN,
           created_at: datetime | None = None, with_file=True, **fields) -> Ticket:
    """A ticket with its first message (and a PDF attached unless `with_file` is false), committed."""
    created_at = created_at or clock.now()
    made = Ticket(organization_id=organization.id, opened_by_id=opener.id, category="technical",
                  priority=priority, subject=subject, status=status, created_at=created_at, updated_at=created_at,
                  **fields)
    db.session.add(made)
    db.session.flush()
    ticket_message(made, opener, body, created_at=created_at,
                   files=[("erro.pdf", PDF, "application/pdf")] if with_file else [])
    db.session.commit()
    return made


# ---------------------------------------------------------------- purchase offers

OFFER_URL = "http://portal.test/oferta/"


def offer(creator, organization=None, *, products=None, quantities=None, status=OfferStatus.SENT,
          delegated_admin=False, days=30, message="") -> PurchaseOffer:
    """An offer made and (unless `status` is draft) sent through the service, as comercial would."""
    products = products or [ProductFactory()]
    quantities = quantities or [2] * len(products)
    data = offers.OfferData(
        partner_office="São Paulo (matriz)", usage_location="BR",
        quantities={p.id: q for p, q in zip(products, quantities, strict=True)}, delegated_admin=delegated_admin,
        expires_on=clock.today() + timedelta(days=days), organization_id=organization.id if organization else None,
        message=message,
    )
    actor = Actor.for_user(creator)
    made = offers.create_offer(data, actor=actor)
    if status != OfferStatus.DRAFT:
        offers.send_offer(made, actor=actor, offer_url=OFFER_URL + made.token)
    if status == OfferStatus.CANCELLED:
        offers.cancel_offer(made, reason="O cliente desistiu da compra.", actor=actor)
    return made


# ---------------------------------------------------------------- co-sell deals

TEAM = [cosell.TeamMemberData("Ana Souza", "+55 11 98888-7777", "ana.souza@revenda.example.com")]


def deal_data(deal_type: str = DealType.SERVICES_COSELL, **overrides) -> cosell.DealData:
    """A referral form that every type accepts as it is (the type's own required fields filled in)."""
    data = cosell.DealData(
        deal_type=deal_type, name="Migração para o Azure — Metalúrgica Alfa", location="BR",
        customer_name="Metalúrgica Alfa Ltda", customer_location="Joinville, SC",
        estimated_value_minor=150_000_00, currency="BRL", estimated_close_date=clock.today() + timedelta(days=60),
        notes="Cliente quer sair do datacenter próprio até o fim do ano; precisamos de apoio técnico da Microsoft.",
        team=list(TEAM),
    )
    if deal_type == DealType.SERVICES_COSELL:
        data = replace(data, partner_role="deployment", solution_area="infrastructure",
                       solution_play="Migrate and Modernize")
    if deal_type in (DealType.IP_COSELL, DealType.SOLUTION_ASSESSMENT):
        data = replace(data, solutions=[cosell.SolutionData("Backup em Nuvem", ip_cosell_ready=True)])
    return replace(data, **overrides)


def deal(creator, deal_type: str = DealType.SERVICES_COSELL, *, inbound: bool = False, **overrides) -> Deal:
    """A deal created (or, `inbound`, registered as received) through the service by `creator` (staff)."""
    data = deal_data(deal_type, **overrides)
    if inbound:
        return cosell.register_inbound(data, actor=Actor.for_user(creator))
    return cosell.create_outbound(data, actor=Actor.for_user(creator))


# ---------------------------------------------------------------- onboarding opportunities

STORED_PDF = b"%PDF-1.4\n% a stored document for tests\n%%EOF\n"


def opportunity_data(**overrides) -> dict:
    """Every field the stages ask for, valid: a Backup em Nuvem customer on a supported Windows Server."""
    return {
        "company_name": "Acme Backup", "contact_name": "Rita Responsável", "phone": "(11) 98888-7777",
        "email": "rita@acme.example.com", "cnpj": valid_cnpj(), "crm_id": "CRM-42",
        "legal_name": "Acme Backup Ltda", "trade_name": "Acme", "street": "Rua das Flores", "number": "10",
        "complement": "", "district": "Centro", "city": "São Paulo", "state": "SP", "postal_code": "01001000",
        "billing_day": 10, "first_payment_date": clock.today() + timedelta(days=15), "disk_space_gb": 500,
        "installation_sites": 2, "windows_server_licenses": 3, "windows_server_version": "2019",
        "notes": "Cliente prefere contato pela manhã.", "tenant_mode": "existing",
        "tenant_reference": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", **overrides,
    }


def opportunity(stage: Stage = Stage.PRESENTATION, *, items=None, owner=None, **data) -> Opportunity:
    """An opportunity at `stage` as the pipeline would have left it (complete data unless told otherwise),
    with `items` [(product, quantity)] (default: one Backup em Nuvem product), committed."""
    values = opportunity_data(**data)
    if items is None:
        items = [(own_service_product(price=15000), 1)]
    index = STAGE_ORDER.index(stage) if stage in STAGE_ORDER else 0
    now = clock.now()
    made = Opportunity(stage=stage, owner_id=owner.id if owner else None, created_at=now, updated_at=now, **values)
    stored = stored_documents.store(STORED_PDF, stored_documents.PDF)
    defaults = {}
    if index >= STAGE_ORDER.index(Stage.NEGOTIATION):
        defaults["proposal_pdf_sha256"] = stored
    if index >= STAGE_ORDER.index(Stage.CONTRACT_SENT):
        defaults.update(contract_pdf_sha256=stored, signature_provider="simulator",
                        signature_document_id=f"sim-test-{values['cnpj']}")
    if index >= STAGE_ORDER.index(Stage.CONTRACT_SIGNED):
        defaults.update(signed_pdf_sha256=stored, signed_at=now)
    if stage == Stage.LOST:
        defaults["lost_reason"] = "O cliente desistiu da contratação."
    for name, value in defaults.items():
        if name not in data:  # what the caller gave wins
            setattr(made, name, value)
    db.session.add(made)
    db.session.flush()
    for product, quantity in items:
        db.session.add(OpportunityItem(opportunity_id=made.id, product_id=product.id, quantity=quantity,
                                       unit_price_cents=product.price_on(clock.today()).unit_price_cents))
    db.session.commit()
    db.session.expire(made, ["items"])
    return made
