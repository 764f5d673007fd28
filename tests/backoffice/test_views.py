"""The staff backoffice: lists, organization detail, and creating an organization with its first Master."""

import re

from sqlalchemy import select

from portal.accounts.models import Membership, Organization
from portal.extensions import db
from portal.shared import cnpj
from portal.shared.audit import AuditEvent

VALID = {
    "legal_name": "Nova Cliente Ltda", "trade_name": "Nova Cliente", "cnpj": "12.ABC.345/01DE-35",
    "street": "Rua XV de Novembro", "number": "50", "complement": "", "district": "Centro",
    "city": "Curitiba", "state": "PR", "postal_code": "80020-310", "billing_day": "5",
    "master_name": "Paula Master", "master_email": "Paula@NovaCliente.example.com",
}


def test_lists_show_organizations_and_users(login_as, world):
    client = login_as("staff_comercial")
    organizations = client.get("/backoffice/organizacoes").get_data(as_text=True)
    assert "Demo Tecnologia Ltda" in organizations and "Outra Empresa S.A." in organizations
    found = client.get("/backoffice/organizacoes?q=outra").get_data(as_text=True)
    assert "Outra Empresa S.A." in found and "Demo Tecnologia Ltda" not in found
    by_cnpj = client.get(f"/backoffice/organizacoes?q={world.demo.cnpj[:8]}").get_data(as_text=True)
    assert "Demo Tecnologia Ltda" in by_cnpj
    masked = cnpj.format(world.demo.cnpj)[:10]  # "12.345.678", as staff copy it from a document
    assert "Demo Tecnologia Ltda" in client.get(f"/backoffice/organizacoes?q={masked}").get_data(as_text=True)
    for nothing_like_it in ("%", "_", "./-"):  # taken literally; a mask alone is no CNPJ to look for
        listed = client.get("/backoffice/organizacoes", query_string={"q": nothing_like_it}).get_data(as_text=True)
        assert "Demo Tecnologia Ltda" not in listed and "Outra Empresa S.A." not in listed, nothing_like_it
    users = client.get("/backoffice/usuarios").get_data(as_text=True)
    assert world.adm.email in users and world.staff_admin.email in users
    detail = client.get(f"/backoffice/organizacoes/{world.demo.id}").get_data(as_text=True)
    assert world.cobranca.email in detail
    assert client.get("/backoffice/organizacoes/999999").status_code == 404


def test_admin_creates_an_organization_and_invites_its_first_master(login_as, world, outbox):
    client = login_as("staff_admin")
    response = client.post("/backoffice/organizacoes/nova", data=VALID)
    assert response.status_code == 302
    org = db.session.scalar(select(Organization).where(Organization.cnpj == "12ABC34501DE35"))
    assert org.billing_day == 5 and org.postal_code == "80020310" and org.state == "PR"
    membership = db.session.scalar(select(Membership).where(Membership.organization_id == org.id))
    assert membership.user.email == "paula@novacliente.example.com"
    assert membership.roles == {"master"} and membership.accepted_at is None
    [message] = outbox
    assert message["To"] == "paula@novacliente.example.com"
    assert re.search(r"/convite/\S+", message.get_body(("plain",)).get_content())
    tags = set(db.session.scalars(select(AuditEvent.tag).where(AuditEvent.organization_id == org.id)))
    assert {"accounts:organization:created", "accounts:invitation:sent"} <= tags


def _form_errors(client, **changes):
    response = client.post("/backoffice/organizacoes/nova", data={**VALID, **changes})
    return response.status_code, response.get_data(as_text=True)


def test_wrong_input_is_explained_and_kept(login_as, world):
    client = login_as("staff_admin")
    cases = {
        "cnpj": ("11.222.333/0001-82", "CNPJ inválido"),
        "billing_day": ("32", "O dia de faturamento vai de 1 a 31."),
        "postal_code": ("123", "Informe o CEP com 8 dígitos."),
        "master_email": ("não-é-email", "Informe um e-mail válido."),
        "legal_name": ("", "Preencha este campo."),
        "state": ("XX", "Escolha inválida."),
    }
    for field, (value, message) in cases.items():
        status, body = _form_errors(client, **{field: value})
        assert status == 422, field
        assert message in body, (field, body[:500])
        assert "Rua XV de Novembro" in body  # the rest of the input is kept
    status, body = _form_errors(client, billing_day="dez")
    assert status == 422 and "Rua XV de Novembro" in body
    assert db.session.scalar(select(Organization).where(Organization.legal_name == VALID["legal_name"])) is None


def test_duplicate_cnpj_is_refused(login_as, world):
    client = login_as("staff_admin")
    status, body = _form_errors(client, cnpj=world.demo.cnpj)
    assert status == 422 and "Já existe uma organização com este CNPJ." in body


def test_staff_email_cannot_be_a_customer_master(login_as, world):
    status, body = _form_errors(login_as("staff_admin"), master_email=world.staff_comercial.email)
    assert status == 422 and "pertence à equipe" in body


def test_numbers_out_of_range_in_urls_are_not_errors(login_as, world):
    client = login_as("staff_compliance")
    for too_big in (2**31, 10**20):
        assert client.get(f"/backoffice/organizacoes/{too_big}").status_code == 404


TENANT = "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"


def test_admin_links_an_organization_to_its_microsoft_tenant(login_as, world):
    client = login_as("staff_admin")
    url = f"/backoffice/organizacoes/{world.demo.id}/tenant"
    assert client.post(url, data={"tenant_id": f"  {TENANT} "}).status_code == 302
    assert world.demo.microsoft_tenant_id == TENANT.lower()
    page = client.get(f"/backoffice/organizacoes/{world.demo.id}").get_data(as_text=True)
    assert TENANT.lower() in page
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.tag == "accounts:organization:tenant_changed"))
    assert event.before == {"microsoft_tenant_id": None} and event.after == {"microsoft_tenant_id": TENANT.lower()}
    refused = client.post(url, data={"tenant_id": "não-é-um-guid"})
    assert refused.status_code == 422 and "formato GUID" in refused.get_data(as_text=True)
    assert "não-é-um-guid" in refused.get_data(as_text=True)  # kept to be corrected
    taken = client.post(f"/backoffice/organizacoes/{world.other.id}/tenant", data={"tenant_id": TENANT})
    assert taken.status_code == 422 and "outra organização" in taken.get_data(as_text=True)
    assert client.post(url, data={"tenant_id": ""}).status_code == 302 and world.demo.microsoft_tenant_id is None
