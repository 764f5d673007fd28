"""No N+1: every customer page runs the same number of SQL statements with 1 and with 50 subscriptions (and
as many invoices, users, tickets and history events), and every staff page finance and compliance use daily with
1 and with 30 organizations' invoices (with payments, reversals and audit events). Timings are measured in bench/,
never asserted here."""

from contextlib import contextmanager
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import event

from portal.billing import payments
from portal.billing.models import PaymentMethod, PaymentReversal
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.catalog import cart
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor
from portal.subscriptions import service as subscriptions
from portal.support.models import Ticket, TicketMessage
from tests import factories
from tests.conftest import sign_in

BOUGHT = datetime(2026, 1, 5, 12, tzinfo=UTC)

# page → who looks at it (the URL's {placeholders} are filled from the data made below)
PAGES = {
    "/": "master",
    "/licencas": "master",
    "/licencas/{subscription}": "master",
    "/licencas/{subscription}/alterar": "master",
    "/licencas/orcamento/{quote}": "master",
    "/renovacoes": "master",
    "/produtos": "master",
    "/carrinho": "master",
    "/faturas": "master",
    "/faturas/{invoice}": "master",
    "/usuarios": "master",
    "/conta": "master",
    "/integracoes/tokens": "master",
    "/historico": "master",
    "/chamados": "suporte",
    "/chamados/{ticket}": "suporte",
}


@contextmanager
def counting(engine):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture(autouse=True)
def no_documents(monkeypatch):
    """The invoices' PDFs are not what is counted here."""
    import portal.billing.run as billing

    monkeypatch.setattr(billing, "_queue_documents", lambda invoice: None)


def grow(world, app, count: int, month: int) -> dict:
    """Add `count` subscriptions, users, tickets (with a reply each) and an invoice holding them all."""
    organization = world.demo
    organization.billing_day = 1
    for n in range(count):
        factories.subscription(organization, quantity=5 + n, added_at=BOUGHT)
        factories.MembershipFactory(organization=organization, roles=["suporte"])
        ticket = Ticket(organization_id=organization.id, opened_by_id=world.suporte.id, category="technical",
                        priority="normal", subject=f"Chamado {n}", status="open")
        db.session.add(ticket)
        db.session.flush()
        db.session.add_all([
            TicketMessage(ticket_id=ticket.id, author_id=world.suporte.id, kind="message", body="Ajuda"),
            TicketMessage(ticket_id=ticket.id, author_id=world.staff_suporte.id, kind="message", from_staff=True,
                          body="Resposta"),
        ])
    db.session.commit()
    settings = BillingSettings.from_config(app.config)
    with clock.frozen(datetime(2026, month, 1, 9, tzinfo=UTC)):
        invoice = invoice_organization(organization.id, on=date(2026, month, 1), settings=settings,
                                       actor=Actor.system("tests")).invoice
    first = subscriptions.list_subscriptions(organization)[0]
    quote = subscriptions.quote_quantity_change(organization=organization, subscription=first,
                                                new_quantity=first.quantity + 1, actor=Actor.for_user(world.adm))
    for _ in range(count):
        product = factories.ProductFactory()
        cart.set_cart_quantity(organization=organization, user=world.master, product_id=product.id,
                                        quantity=1)
    ticket_id = db.session.scalar(db.select(Ticket.id).order_by(Ticket.id.desc()))
    return {"invoice": invoice.id, "subscription": first.id, "quote": quote.token, "ticket": ticket_id}


def measure(app, world, made: dict, pages: dict[str, str] = PAGES) -> dict[str, int]:
    sessions = {who: (getattr(world, who).id, getattr(world, who).get_id()) for who in set(pages.values())}
    counts = {}
    for path, who in pages.items():
        url = path.format(**made)
        user_id, session_id = sessions[who]
        client = sign_in(app.test_client(), SimpleNamespace(id=user_id, get_id=lambda known=session_id: known))
        db.session.expunge_all()  # nothing cached from setting up: each page loads what it needs itself
        with counting(db.engine) as statements:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts[path] = len(statements)
    return counts


def test_customer_pages_run_as_many_queries_for_1_and_for_50_subscriptions(app_ctx, world):
    small = measure(app_ctx, world, grow(world, app_ctx, 1, month=2))
    for name, value in vars(world).items():  # measuring detached them: back into the session
        if hasattr(value, "_sa_instance_state"):
            setattr(world, name, db.session.merge(value))
    large = measure(app_ctx, world, grow(world, app_ctx, 49, month=3))
    grew = {path: (small[path], large[path]) for path in PAGES if large[path] != small[path]}
    assert not grew, f"pages whose query count grows with the data (1 → 50): {grew}"


# The staff pages finance ("financeiro") and compliance use daily (bench/README.md lists them too).
STAFF_PAGES = {
    "/backoffice/faturas": "staff_financeiro",
    "/backoffice/faturas/{invoice}": "staff_financeiro",
    "/backoffice/faturamento": "staff_financeiro",
    "/backoffice/conciliacao": "staff_financeiro",
    "/backoffice/banco": "staff_financeiro",
    "/backoffice/regua-de-cobranca": "staff_financeiro",
    "/backoffice/faturas/rascunhos": "staff_financeiro",
    "/backoffice/auditoria/trilha": "staff_compliance",
    "/backoffice/auditoria/cancelamentos": "staff_compliance",
}


def grow_staff(world, count: int) -> dict:
    """`count` more organizations, each with an invoice paid twice (one payment reversed) and its audit events."""
    actor = Actor.for_user(world.staff_financeiro)
    made = None
    for _n in range(count):
        organization = factories.OrganizationFactory()
        made = factories.invoice(organization, billing_date=date(2026, 2, 1), total_cents=10_000)
        for cents in (4_000, 3_000):
            payment = payments.record_payment(made, amount_cents=cents, method=PaymentMethod.DEPOSIT,
                                              paid_on=date(2026, 2, 5), actor=actor)
        db.session.add(PaymentReversal(payment_id=payment.id, invoice_id=made.id, amount_cents=cents,
                                       reversed_on=date(2026, 2, 6), source="pix", external_id=f"D{payment.id}",
                                       reason="Estorno"))
        db.session.commit()
    return {"invoice": made.id}


def test_staff_pages_run_as_many_queries_for_1_and_for_30_organizations(app_ctx, world):
    with clock.frozen(datetime(2026, 2, 10, 12, tzinfo=UTC)):
        small = measure(app_ctx, world, grow_staff(world, 1), STAFF_PAGES)
        for name, value in vars(world).items():
            if hasattr(value, "_sa_instance_state"):
                setattr(world, name, db.session.merge(value))
        large = measure(app_ctx, world, grow_staff(world, 29), STAFF_PAGES)
    grew = {path: (small[path], large[path]) for path in STAFF_PAGES if large[path] != small[path]}
    assert not grew, f"staff pages whose query count grows with the data (1 → 30): {grew}"
