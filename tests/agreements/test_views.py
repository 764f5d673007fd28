"""The customer's "Contrato" page as people use it: a Master reads and accepts; other roles are kept out."""

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, update

from portal.agreements.models import AgreementAcceptance, AgreementKind
from portal.extensions import db
from portal.integrations.partner_center import PartnerCenterSimulator
from portal.shared import clock
from portal.shared.documents import StoredDocument
from tests import factories
from tests.agreements.routes import PDF_BYTES, make_acceptance, make_version
from tests.html import field_errors, nav, unescaped

NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with clock.frozen(NOON):
        yield


@pytest.fixture(autouse=True)
def simulator(app_ctx, world):
    """Demo Tecnologia is known at Microsoft, here a simulator of its own."""
    world.demo.microsoft_tenant_id = "4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04"
    db.session.commit()
    original = app_ctx.extensions["provisioner"]
    app_ctx.extensions["provisioner"] = PartnerCenterSimulator(delay_seconds=0)
    yield app_ctx.extensions["provisioner"]
    app_ctx.extensions["provisioner"] = original


def accept(client, *versions, phone="(11) 98888-7777"):
    return client.post("/contrato", data={"versions": [str(v.id) for v in versions], "phone": phone})


def acceptances() -> int:
    return db.session.scalar(select(func.count(AgreementAcceptance.id)))


def test_master_reads_and_accepts_the_current_agreements(login_as, world, simulator):
    mca = make_version(body="Primeira cláusula.\n\nSegunda cláusula,\ncom duas linhas.", pdf=PDF_BYTES)
    terms = make_version(AgreementKind.RESELLER, title="Termos do Portal Cloud")
    client = login_as("master")

    page = client.get("/contrato")
    assert page.status_code == 200
    body = unescaped(page)
    assert "Contrato de Cliente Microsoft" in body and "Termos do Portal Cloud" in body
    assert "<p>Primeira cláusula.</p>" in body and "Segunda cláusula,<br>com duas linhas." in body
    assert body.count("Não fornecido") == 2 and body.count("Li e aceito") == 2
    assert f'href="/contrato/{mca.id}/pdf"' in body
    assert 'value="(11) 99999-0000"' in body  # the Master's phone from the profile, editable
    assert "Master Demo" in body and world.master.email in body
    assert "Contrato" in nav(page) and "pendente" in nav(page)

    done = accept(client, mca, terms)
    assert done.status_code == 302 and done.headers["Location"] == "/contrato"
    page = client.get("/contrato")
    body = unescaped(page)
    assert "Contrato aceito." in body
    assert body.count("Fornecido") == 2 and "Não fornecido" not in body
    assert "Aceito no portal por Master Demo (" + world.master.email + ") em 10/03/2026." in body
    assert "Li e aceito" not in body
    assert "pendente" not in nav(page)
    assert 'href="/contrato"' in nav(page)  # the page itself stays reachable while on it
    assert 'href="/contrato"' not in nav(client.get("/"))  # nothing pending: no menu item
    assert acceptances() == 2
    assert len(simulator.agreements(world.demo.microsoft_tenant_id)) == 1  # the MCA only


def test_accepting_one_of_two_leaves_the_other_pending(login_as, world):
    mca, terms = make_version(), make_version(AgreementKind.RESELLER)
    client = login_as("master")
    assert accept(client, terms).status_code == 302
    body = unescaped(client.get("/contrato"))
    assert body.count("Li e aceito") == 1 and f'value="{mca.id}"' in body


def test_nothing_ticked_or_a_bad_phone_comes_back_with_the_input_kept(login_as, world):
    mca = make_version()
    client = login_as("master")
    nothing = accept(client, phone="(21) 2222-3333")
    assert nothing.status_code == 422
    assert field_errors(nothing) == ["Marque “Li e aceito” no contrato que você aceita."]
    assert 'value="(21) 2222-3333"' in unescaped(nothing)

    bad_phone = accept(client, mca, phone="não tenho")
    assert bad_phone.status_code == 422
    assert field_errors(bad_phone) == ["Informe o telefone com DDD, só com números, espaços, parênteses, + e -."]
    assert re.search(rf'value="{mca.id}" id="accept-{mca.id}" checked', unescaped(bad_phone))
    assert acceptances() == 0


def test_a_version_replaced_while_reading_is_not_accepted(login_as, world):
    old = make_version(effective_from=date(2020, 1, 1))
    make_version(effective_from=date(2026, 3, 10))
    response = accept(login_as("master"), old)
    assert response.status_code == 422
    assert "não é mais a versão vigente" in field_errors(response)[0]
    assert acceptances() == 0


def test_accepting_again_changes_nothing(login_as, world):
    mca = make_version()
    client = login_as("master")
    accept(client, mca)
    again = accept(client, mca)
    assert again.status_code == 302
    assert "já estava aceito" in unescaped(client.get("/contrato"))
    assert acceptances() == 1


@pytest.mark.parametrize("role", ["adm", "cobranca", "suporte"])
def test_other_roles_cannot_accept_nor_see_the_menu_item(login_as, world, role):
    mca = make_version()
    client = login_as(role)
    assert accept(client, mca).status_code == 403
    assert client.get("/contrato").status_code == 403
    assert client.get(f"/contrato/{mca.id}/pdf").status_code == 403
    assert 'href="/contrato"' not in nav(client.get("/"))
    assert acceptances() == 0


def test_the_pdf_is_served_to_the_master(login_as, world):
    with_pdf = make_version(pdf=PDF_BYTES)
    without = make_version(AgreementKind.RESELLER)
    future = make_version(AgreementKind.RESELLER, effective_from=date(2026, 4, 1), pdf=PDF_BYTES)
    client = login_as("master")
    response = client.get(f"/contrato/{with_pdf.id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == PDF_BYTES
    assert 'filename="contrato-microsoft-2020-01-01.pdf"' in response.headers["Content-Disposition"]
    assert client.get(f"/contrato/{without.id}/pdf").status_code == 404
    assert client.get(f"/contrato/{future.id}/pdf").status_code == 404  # not in force yet: not shown
    assert client.get("/contrato/999999/pdf").status_code == 404


def test_the_pdf_is_streamed_from_the_store_and_a_damaged_one_is_a_503_page(login_as, world):
    version = make_version(pdf=PDF_BYTES)
    client = login_as("master")
    response = client.get(f"/contrato/{version.id}/pdf")
    assert response.is_streamed and response.headers["Content-Length"] == str(len(PDF_BYTES))
    assert response.headers["Content-Disposition"].startswith("inline;") and response.data == PDF_BYTES
    db.session.execute(update(StoredDocument).where(StoredDocument.sha256 == version.pdf_sha256)
                       .values(content=PDF_BYTES + b"changed"))
    db.session.commit()
    response = client.get(f"/contrato/{version.id}/pdf")
    assert response.status_code == 503 and "Documento indisponível" in response.get_data(as_text=True)


def test_without_a_published_agreement_there_is_nothing_to_accept(login_as, world):
    client = login_as("master")
    assert "Nenhum contrato em vigor" in unescaped(client.get("/contrato"))
    assert 'href="/contrato"' not in nav(client.get("/"))


def test_a_master_of_two_organizations_accepts_for_the_current_one(client, world):
    from tests.conftest import sign_in

    mca = make_version()
    factories.MembershipFactory(organization=world.other, user=world.master, roles=["master"])
    sign_in(client, world.master, world.other)
    assert accept(client, mca).status_code == 302
    assert db.session.scalar(select(AgreementAcceptance.organization_id)) == world.other.id


# ---------------------------------------------------------------- the gate, as the cart shows it

def add_to_cart(client, product):
    return client.post("/carrinho/adicionar", data={"product_id": str(product.id), "quantity": "2"})


def review_cart(client):
    return client.post("/carrinho/revisar", follow_redirects=True)


def test_the_cart_tells_the_master_how_to_accept_and_then_lets_the_purchase_through(login_as, world):
    mca = make_version()
    product = factories.ProductFactory()
    client = login_as("master")
    assert add_to_cart(client, product).status_code == 302
    refused = unescaped(review_cart(client))
    assert "Para comprar ou aumentar licenças, aceite antes “Contrato de Cliente Microsoft”." in refused
    assert "(/contrato)" in refused

    accept(client, mca)
    reviewed = client.post("/carrinho/revisar")
    assert reviewed.status_code == 302 and "/carrinho/orcamento/" in reviewed.headers["Location"]


def test_the_cart_tells_the_adm_who_can_accept(login_as, world):
    make_version(AgreementKind.RESELLER, title="Termos do Portal Cloud")
    product = factories.ProductFactory()
    client = login_as("adm")
    assert add_to_cart(client, product).status_code == 302
    refused = unescaped(review_cart(client))
    assert "até que um Master da organização aceite “Termos do Portal Cloud”. Quem pode aceitar: Master Demo." \
        in refused


def test_a_contract_accepted_elsewhere_counts(login_as, world):
    """Staff attested it: the Master sees it provided, with who and how."""
    mca = make_version()
    make_acceptance(world.demo, mca, method="attested", first_name="Joana", last_name="Cliente",
                    email="joana@cliente.example.com")
    body = unescaped(login_as("master").get("/contrato"))
    assert "Atestado pela equipe por Joana Cliente (joana@cliente.example.com) em 10/03/2026." in body
