"""Backoffice "Contratos": the list by status, publishing versions, attesting for a customer, who may do what."""

import io
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.agreements.models import AcceptanceMethod, AgreementAcceptance, AgreementKind, AgreementVersion
from portal.extensions import db
from portal.integrations.partner_center import MCA_TEMPLATE_ID, PartnerCenterSimulator
from portal.shared import clock
from portal.shared.audit import AuditEvent, AuditTag
from tests import factories
from tests.agreements.routes import PDF_BYTES, make_acceptance, make_version
from tests.conftest import sign_in
from tests.html import field_errors, unescaped

NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TENANT = "4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04"


@pytest.fixture(autouse=True)
def frozen():
    with clock.frozen(NOON):
        yield


@pytest.fixture(autouse=True)
def simulator(app_ctx, world):
    world.demo.microsoft_tenant_id = TENANT
    db.session.commit()
    original = app_ctx.extensions["provisioner"]
    app_ctx.extensions["provisioner"] = PartnerCenterSimulator(delay_seconds=0)
    yield app_ctx.extensions["provisioner"]
    app_ctx.extensions["provisioner"] = original


def staff(client, world, role):
    return sign_in(client, getattr(world, f"staff_{role}"))


ATTESTATION = {"first_name": "Joana", "last_name": "Cliente", "email": "joana@cliente.example.com",
               "phone": "(11) 3000-0000", "accepted_on": "10/03/2026"}


def attest(client, organization, version, **changes):
    return client.post(f"/backoffice/contratos/{organization.id}/atestar",
                       data={"version_id": str(version.id), **ATTESTATION, **changes})


# ---------------------------------------------------------------- the list

def test_staff_sees_organizations_by_agreement_status(client, world):
    mca, terms = make_version(), make_version(AgreementKind.RESELLER, title="Termos do Portal Cloud")
    make_acceptance(world.demo, mca, first_name="Marina", last_name="Master", provider_status="done")
    make_acceptance(world.demo, terms, method=AcceptanceMethod.ATTESTED, first_name="Joana", last_name="Cliente")
    staff(client, world, "compliance")

    page = client.get("/backoffice/contratos")
    assert page.status_code == 200
    body = unescaped(page)
    assert "Demo Tecnologia Ltda" in body and "Outra Empresa S.A." in body
    assert "Marina Master · aceito no portal · 10/03/2026" in body
    assert "Joana Cliente · atestado pela equipe · 10/03/2026" in body
    assert "registrado na Microsoft" in body
    assert "Termos do Portal Cloud (em vigor desde 01/01/2020)" in body
    assert "Publicar nova versão" not in body  # compliance reads only
    assert "Contratos" in body[body.index('data-testid="nav"'):]

    missing = unescaped(client.get("/backoffice/contratos?situacao=nao_fornecido"))
    assert "Outra Empresa S.A." in missing and "Demo Tecnologia Ltda" not in missing
    provided = unescaped(client.get("/backoffice/contratos?situacao=fornecido&tipo=microsoft_mca"))
    assert "Demo Tecnologia Ltda" in provided and "Outra Empresa S.A." not in provided
    assert "Outra Empresa" in unescaped(client.get("/backoffice/contratos?q=outra"))
    # Nonsense filters are ignored, never a 500.
    assert client.get("/backoffice/contratos?situacao=talvez&tipo=x&pagina=99999999999").status_code == 200


def test_versions_are_listed_with_their_state(client, world):
    make_version(title="MCA antiga")
    make_version(title="MCA 2026", effective_from=clock.today(), pdf=PDF_BYTES)
    make_version(title="MCA futura", effective_from=date(2026, 4, 1))
    staff(client, world, "comercial")
    body = unescaped(client.get("/backoffice/contratos/versoes"))
    assert re.search(r"MCA antiga</td>\s*<td[^>]*>01/01/2020\s*<span[^>]*>substituída", body)
    assert re.search(r"MCA 2026</td>\s*<td[^>]*>10/03/2026\s*<span[^>]*>em vigor", body)
    assert re.search(r"MCA futura</td>\s*<td[^>]*>01/04/2026\s*<span[^>]*>futura", body)


def test_staff_downloads_a_version_pdf(client, world):
    version = make_version(pdf=PDF_BYTES)
    staff(client, world, "suporte")
    response = client.get(f"/backoffice/contratos/versoes/{version.id}/pdf")
    assert response.status_code == 200 and response.data == PDF_BYTES
    assert client.get(f"/backoffice/contratos/versoes/{make_version(AgreementKind.RESELLER).id}/pdf").status_code \
        == 404


# ---------------------------------------------------------------- publishing

def publish(client, pdf: bytes | None = None, **changes):
    data = {"kind": "microsoft_mca", "title": "Contrato de Cliente Microsoft (março)", "body": "Texto do contrato.",
            "link": "", "effective_from": "2026-03-10", "provider_template_id": "", "action": "publicar", **changes}
    if pdf is not None:
        data["pdf"] = FileStorage(io.BytesIO(pdf), filename="contrato.pdf", content_type="application/pdf")
    # Encoded in memory: the test client spools big bodies to a temporary file it never closes.
    boundary, body = encode_multipart(data)
    return client.post("/backoffice/contratos/versoes/nova", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_admin_publishes_a_version_with_its_pdf(client, world):
    staff(client, world, "admin")
    assert client.get("/backoffice/contratos/versoes/nova").status_code == 200
    response = publish(client, pdf=PDF_BYTES, provider_template_id=MCA_TEMPLATE_ID)
    assert response.status_code == 302 and response.headers["Location"] == "/backoffice/contratos/versoes"
    version = db.session.scalar(select(AgreementVersion))
    assert (version.title, version.provider_template_id) == ("Contrato de Cliente Microsoft (março)", MCA_TEMPLATE_ID)
    assert client.get(f"/backoffice/contratos/versoes/{version.id}/pdf").data == PDF_BYTES
    assert "Versão publicada: “Contrato de Cliente Microsoft (março)”" in unescaped(client.get("/backoffice/contratos"))
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.AGREEMENT_PUBLISHED))
    assert event.actor_id == world.staff_admin.id


def test_publishing_mistakes_come_back_with_the_input_kept(client, world):
    staff(client, world, "admin")
    not_pdf = publish(client, pdf=b"GIF89a...", title="Meu título")
    assert not_pdf.status_code == 422
    assert field_errors(not_pdf) == ["Este arquivo não é um PDF."]
    assert 'value="Meu título"' in unescaped(not_pdf)
    past = publish(client, effective_from="09/03/2026")
    assert past.status_code == 422
    assert field_errors(past) == ["A vigência começa hoje ou depois (10/03/2026): uma versão nunca é retroativa."]
    unreadable = publish(client, effective_from="amanhã")
    assert field_errors(unreadable) == ["Informe a data no formato dd/mm/aaaa."]
    assert db.session.scalar(select(func.count(AgreementVersion.id))) == 0


def test_a_pdf_over_10_mb_is_refused(client, world):
    staff(client, world, "admin")
    big = publish(client, pdf=b"%PDF-" + b"0" * (10 * 1024 * 1024))
    assert big.status_code == 422 and field_errors(big) == ["O PDF passa de 10 MB."]
    huge = publish(client, pdf=b"%PDF-" + b"0" * (11 * 1024 * 1024))
    assert huge.status_code == 413 and "O PDF passa de 10 MB." in unescaped(huge)


def test_the_template_id_is_fetched_from_microsoft(client, world):
    staff(client, world, "admin")
    response = publish(client, action="buscar", title="Rascunho", provider_template_id="")
    assert response.status_code == 200
    body = unescaped(response)
    assert f'value="{MCA_TEMPLATE_ID}"' in body and 'value="https://aka.ms/customeragreement"' in body
    assert 'value="Rascunho"' in body  # what was typed stays
    assert db.session.scalar(select(func.count(AgreementVersion.id))) == 0  # nothing published yet


@pytest.mark.parametrize("role", ["comercial", "financeiro", "suporte", "compliance"])
def test_only_admin_publishes(client, world, role):
    staff(client, world, role)
    assert publish(client).status_code == 403
    assert client.get("/backoffice/contratos/versoes/nova").status_code == 403


# ---------------------------------------------------------------- attesting for a customer

def test_comercial_attests_for_a_customer(client, world, outbox, simulator):
    version = make_version()
    staff(client, world, "comercial")
    page = unescaped(client.get(f"/backoffice/contratos/{world.demo.id}"))
    assert 'value="Master"' in page and 'value="Demo"' in page  # prefilled from the primary contact
    assert 'value="2026-03-10"' in page

    response = attest(client, world.demo, version)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/backoffice/contratos/{world.demo.id}"
    acceptance = db.session.scalar(select(AgreementAcceptance))
    assert (acceptance.method, acceptance.recorded_by_id, acceptance.email) == (
        "attested", world.staff_comercial.id, "joana@cliente.example.com")
    body = unescaped(client.get(f"/backoffice/contratos/{world.demo.id}"))
    assert "Aceite atestado em nome de Demo Tecnologia." in body
    assert "registrado na Microsoft" in body and "contato avisado em 10/03/2026 12:00" in body
    assert [m["To"] for m in outbox] == [world.master.email]
    assert len(simulator.agreements(TENANT)) == 1


def test_a_future_date_is_refused_with_the_input_kept(client, world):
    version = make_version()
    staff(client, world, "comercial")
    response = attest(client, world.demo, version, accepted_on="11/03/2026")
    assert response.status_code == 422
    assert field_errors(response) == ["A data do aceite não pode estar no futuro: use hoje (10/03/2026) ou uma data "
                                      "anterior."]
    assert 'value="Joana"' in unescaped(response) and 'value="joana@cliente.example.com"' in unescaped(response)
    assert db.session.scalar(select(func.count(AgreementAcceptance.id))) == 0


def test_attestation_form_mistakes(client, world):
    version = make_version()
    staff(client, world, "comercial")
    response = attest(client, world.demo, version, email="joana", first_name="", accepted_on="ontem")
    assert response.status_code == 422
    assert set(field_errors(response)) == {"Informe um e-mail válido.", "Preencha este campo.",
                                           "Informe a data no formato dd/mm/aaaa."}
    unknown = attest(client, world.demo, version, version_id="999999")
    assert unknown.status_code == 422 and field_errors(unknown) == ["Escolha a versão do contrato."]


def test_a_new_organization_can_be_attested(client, world, outbox):
    version = make_version(AgreementKind.RESELLER)
    newcomer = factories.OrganizationFactory(legal_name="Nova Cliente Ltda", trade_name="Nova Cliente")
    db.session.commit()
    staff(client, world, "comercial")
    assert attest(client, newcomer, version, email="joana@nova.example.com").status_code == 302
    assert [m["To"] for m in outbox] == ["joana@nova.example.com"]  # no Master yet: the attested e-mail


@pytest.mark.parametrize("role", ["financeiro", "suporte", "compliance"])
def test_other_staff_cannot_attest(client, world, role):
    version = make_version()
    staff(client, world, role)
    assert attest(client, world.demo, version).status_code == 403
    page = unescaped(client.get(f"/backoffice/contratos/{world.demo.id}"))
    assert "Atestar aceite" not in page
    assert db.session.scalar(select(func.count(AgreementAcceptance.id))) == 0


@pytest.mark.parametrize("role", ["master", "adm", "cobranca", "suporte"])
def test_customers_get_404_in_the_backoffice_agreements(login_as, world, role):
    version = make_version()
    client = login_as(role)
    assert client.get("/backoffice/contratos").status_code == 404
    assert attest(client, world.demo, version).status_code == 404


def test_comercial_resends_a_failed_acceptance(client, world, simulator):
    version = make_version()
    failed = make_acceptance(world.demo, version, provider_status="failed", first_name="Marina", last_name="Master",
                             provider_error="A organização não tem tenant Microsoft cadastrado.")
    staff(client, world, "comercial")
    page = unescaped(client.get(f"/backoffice/contratos/{world.demo.id}"))
    assert "A organização não tem tenant Microsoft cadastrado." in page and "Reenviar à Microsoft" in page
    response = client.post(f"/backoffice/contratos/aceites/{failed.id}/reenviar")
    assert response.status_code == 302
    assert "Aceite registrado na Microsoft." in unescaped(client.get(response.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(AgreementAcceptance, failed.id).provider_status == "done"
    assert client.post("/backoffice/contratos/aceites/999999/reenviar").status_code == 404
    staff(client, world, "compliance")
    assert client.post(f"/backoffice/contratos/aceites/{failed.id}/reenviar").status_code == 403


def test_an_unknown_organization_is_404(client, world):
    staff(client, world, "comercial")
    assert client.get("/backoffice/contratos/999999").status_code == 404
    assert client.post("/backoffice/contratos/999999/atestar", data=ATTESTATION).status_code == 404
