"""Purchase order (PO) and cost centre (issue 16 point 7): set on a subscription (Adm/Master, audited) and on a cart
line before checkout, copied onto each invoice line when drafted, and sent in the DPS's xPed."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from portal.billing.fiscal import fiscal_request
from portal.billing.models import Invoice, LineKind
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.catalog import cart as carts
from portal.catalog import service as catalog
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import NotFound, ServiceError
from portal.subscriptions import purchase_orders
from portal.subscriptions import service as subscriptions
from portal.subscriptions.models import Subscription
from tests import factories
from tests import html as h

SYSTEM = Actor.system("tests")


def at(day: date, hour: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# ---------------------------------------------------------------- the rules of the values

@pytest.mark.parametrize(("typed", "kept"), [("  4500012345 ", "4500012345"), ("", ""), (None, ""),
                                             ("TI-SP / Açúcar", "TI-SP / Açúcar"), ("x" * 60, "x" * 60)])
def test_a_reference_is_trimmed_and_kept_as_typed(app_ctx, typed, kept):
    assert purchase_orders.clean_reference(typed, field="purchase_order") == kept


@pytest.mark.parametrize("typed", ["x" * 61, "45000\n12345", "PO\t1", "PO 😀", "数字"])
def test_a_reference_the_nota_fiscal_cannot_carry_is_refused(app_ctx, typed):
    with pytest.raises(ServiceError) as refused:
        purchase_orders.clean_reference(typed, field="cost_centre")
    assert refused.value.field == "cost_centre"


def test_the_dps_purchase_order_is_the_shared_po_or_several_joined_and_cut_to_60():
    assert purchase_orders.dps_purchase_order(["4500012345", "4500012345", ""]) == "4500012345"
    assert purchase_orders.dps_purchase_order(["4500012345", "", "4500012399"]) == "4500012345,4500012399"
    assert purchase_orders.dps_purchase_order(["", ""]) == ""
    many = purchase_orders.dps_purchase_order([f"45000123{n:02d}" for n in range(10)])
    assert len(many) <= 60 and many.startswith("4500012300,4500012301") and not many.endswith(",")
    # cut right after a separator: never ends in one
    assert purchase_orders.dps_purchase_order(["a" * 59, "b"]) == "a" * 59


# ---------------------------------------------------------------- on the subscription's page

def test_the_adm_sets_them_on_the_subscription_page_audited_with_before_and_after(world, login_as):
    subscription = factories.subscription(world.demo)
    client = login_as("adm")
    page = client.get(f"/licencas/{subscription.id}")
    assert h.section_html(page, "reference-form")
    response = client.post(f"/licencas/{subscription.id}/pedido-de-compra",
                           data={"purchase_order": " 4500012345 ", "cost_centre": "TI-SP"})
    assert "Pedido de compra e centro de custo salvos. Valem para as próximas faturas." in h.follow(client, response)
    db.session.expire_all()
    saved = db.session.get(Subscription, subscription.id)
    assert (saved.purchase_order, saved.cost_centre) == ("4500012345", "TI-SP")
    assert saved.version == subscription.version  # not a quantity fact: a pending quote stays valid
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == AuditTag.SUBSCRIPTION_REFERENCE_CHANGED))
    assert event.before == {"purchase_order": "", "cost_centre": ""}
    assert event.after == {"purchase_order": "4500012345", "cost_centre": "TI-SP"}
    assert event.actor_id == world.adm.id and event.organization_id == world.demo.id
    page = client.get(f"/licencas/{subscription.id}")
    assert h.input_value(page, "purchase_order") == "4500012345" and h.input_value(page, "cost_centre") == "TI-SP"
    history = h.visible(login_as("master").get("/historico"))
    assert "alterou o pedido de compra e o centro de custo" in history


def test_bad_input_is_explained_and_nothing_typed_is_lost(world, login_as):
    subscription = factories.subscription(world.demo, purchase_order="4500000001")
    client = login_as("master")
    response = client.post(f"/licencas/{subscription.id}/pedido-de-compra",
                           data={"purchase_order": "9" * 61, "cost_centre": "Financeiro 😀"})
    assert response.status_code == 422
    errors = h.field_errors(response)
    assert "Use no máximo 60 caracteres." in errors[0]
    assert "sem emojis" in " ".join(errors)
    assert h.input_value(response, "purchase_order") == "9" * 61
    assert h.input_value(response, "cost_centre") == "Financeiro 😀"
    db.session.expire_all()
    assert db.session.get(Subscription, subscription.id).purchase_order == "4500000001"


def test_roles_without_alterar_quantidades_see_them_without_a_form(world, login_as):
    subscription = factories.subscription(world.demo, purchase_order="4500012345", cost_centre="TI-SP")
    page = login_as("cobranca").get(f"/licencas/{subscription.id}")
    assert 'data-testid="reference-form"' not in h.text(page)
    assert h.section(page, "reference") == "Pedido de compra 4500012345 Centro de custo TI-SP"
    assert login_as("cobranca").post(f"/licencas/{subscription.id}/pedido-de-compra",
                                     data={"purchase_order": "1"}).status_code == 403


def test_another_organizations_subscription_is_404_and_untouched(world, login_as):
    theirs = factories.subscription(world.other, purchase_order="PO-OUTRA")
    response = login_as("adm").post(f"/licencas/{theirs.id}/pedido-de-compra", data={"purchase_order": "X"})
    assert response.status_code == 404
    with pytest.raises(NotFound):
        purchase_orders.set_subscription_reference(organization=world.demo, subscription=theirs,
                                                   purchase_order="X", cost_centre="", actor=Actor.for_user(world.adm))
    db.session.expire_all()
    assert db.session.get(Subscription, theirs.id).purchase_order == "PO-OUTRA"


# ---------------------------------------------------------------- on a cart line, through checkout

def test_each_cart_line_carries_its_own_po_into_the_subscription_it_buys(world, login_as):
    first, second = factories.ProductFactory(), factories.ProductFactory()
    for product in (first, second):
        carts.set_cart_quantity(organization=world.demo, user=world.adm, product_id=product.id, quantity=2)
    client = login_as("adm")
    response = client.post(f"/carrinho/{first.id}/pedido-de-compra",
                           data={"purchase_order": "4500012345", "cost_centre": "TI-SP"})
    assert "Pedido de compra e centro de custo salvos." in h.follow(client, response)
    client.post(f"/carrinho/{second.id}/pedido-de-compra", data={"purchase_order": "4500012399",
                                                                 "cost_centre": "RH"})
    cart_page = h.visible(client.get("/carrinho"))
    assert "4500012345 · TI-SP" in cart_page and "4500012399 · RH" in cart_page

    refused = client.post(f"/carrinho/{first.id}/pedido-de-compra", data={"purchase_order": "1" * 70,
                                                                          "cost_centre": "TI-SP"})
    assert refused.status_code == 422 and "Use no máximo 60 caracteres." in h.field_errors(refused)
    assert h.input_value(refused, "purchase_order", id_=f"purchase_order-{first.id}") == "1" * 70

    actor = Actor.for_user(world.adm)
    quote = subscriptions.quote_checkout(organization=world.demo, user=world.adm, actor=actor)
    catalog.confirm_checkout(world.demo, quote.token, actor=actor)
    bought = {s.product_id: (s.purchase_order, s.cost_centre) for s in db.session.scalars(
        select(Subscription).where(Subscription.organization_id == world.demo.id))}
    assert bought == {first.id: ("4500012345", "TI-SP"), second.id: ("4500012399", "RH")}


def test_a_product_not_in_the_cart_has_nothing_to_set(world, login_as):
    product = factories.ProductFactory()
    client = login_as("adm")
    response = client.post(f"/carrinho/{product.id}/pedido-de-compra", data={"purchase_order": "1"})
    assert "Este produto não está no seu carrinho." in h.follow(client, response)


# ---------------------------------------------------------------- onto the invoice lines and the DPS

def test_lines_keep_the_po_they_were_billed_with_and_the_dps_joins_them(world, app_ctx):
    settings = BillingSettings.from_config(app_ctx.config)
    demo = world.demo
    demo.billing_day = 1
    db.session.commit()
    with clock.frozen(at(date(2026, 3, 11))):
        first = factories.subscription(demo, quantity=2, added_at=at(date(2026, 1, 1)))
        second = factories.subscription(demo, quantity=3, added_at=at(date(2026, 1, 1)))
        actor = Actor.for_user(world.adm)
        purchase_orders.set_subscription_reference(organization=demo, subscription=first,
                                                   purchase_order="4500012345", cost_centre="TI-SP", actor=actor)
        purchase_orders.set_subscription_reference(organization=demo, subscription=second,
                                                   purchase_order="4500012399", cost_centre="RH", actor=actor)
    with clock.frozen(at(date(2026, 4, 1), 9)):
        issued = invoice_organization(demo.id, on=date(2026, 4, 1), settings=settings, actor=SYSTEM).invoice
    db.session.expire_all()
    invoice = db.session.get(Invoice, issued.id)
    by_subscription = {line.subscription_id: (line.purchase_order, line.cost_centre) for line in invoice.lines
                       if line.kind == LineKind.RECURRING}
    assert by_subscription == {first.id: ("4500012345", "TI-SP"), second.id: ("4500012399", "RH")}
    with app_ctx.test_request_context():
        assert fiscal_request(invoice, settings).purchase_order == "4500012345,4500012399"

    # A later change of the subscription's PO does not rewrite what was billed.
    purchase_orders.set_subscription_reference(organization=demo, subscription=db.session.get(Subscription, first.id),
                                               purchase_order="4500099999", cost_centre="TI-RJ",
                                               actor=Actor.for_user(world.master))
    db.session.expire_all()
    line = next(line for line in db.session.get(Invoice, issued.id).lines if line.subscription_id == first.id)
    assert (line.purchase_order, line.cost_centre) == ("4500012345", "TI-SP")
