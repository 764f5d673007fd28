"""API tokens: made by a Master (page or CLI), shown once, stored hashed, no wider than the creator, revocable, and
the only way into /api/v1 (a wrong, expired or revoked token, an address outside its networks, or a session cookie
alone each get a 401 problem)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import MembershipRole
from portal.api import tokens
from portal.api.models import ApiToken
from portal.extensions import db
from portal.shared import clock
from portal.shared import cnpj as cnpj_module
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import ServiceError
from tests import html
from tests.api.helpers import bearer, token_for


def _problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["type"] == f"https://portal/errors/{kind}" and body["status"] == status and body["title"]
    return body


def test_a_token_is_stored_as_its_hash_and_works_as_a_bearer(app_ctx, world, client):
    text = token_for(world.master_membership, ["cobranca"], name="ERP financeiro")
    row = db.session.scalars(select(ApiToken)).one()
    assert text.startswith("ptk_") and len(text) == 47
    assert row.token_hash == tokens.digest(text) and text not in (row.token_hash, row.prefix)
    assert text.startswith(row.prefix) and row.roles == "cobranca"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.API_TOKEN_CREATED)).one()
    assert event.organization_id == world.demo.id and event.after["name"] == "ERP financeiro"
    assert text not in str(event.after)

    response = client.get("/api/v1/organization", headers=bearer(text), environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 200
    assert response.get_json()["cnpj"] == cnpj_module.format(world.demo.cnpj)
    assert response.headers["RateLimit-Limit"] == "120" and response.headers["RateLimit-Remaining"] == "119"
    db.session.expire_all()
    assert row.use.last_used_ip == "203.0.113.9" and row.use.last_used_at is not None


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ptk_wrong", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "ptk_x"])
def test_no_valid_token_is_a_401_problem(app_ctx, world, client, header):
    token_for(world.master_membership)
    response = client.get("/api/v1/subscriptions", headers={"Authorization": header} if header else {})
    _problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_session_cookie_is_not_api_authentication(app_ctx, world, login_as):
    client = login_as("master")
    assert client.get("/").status_code == 200  # signed in for the pages …
    _problem(client.get("/api/v1/organization"), 401, "unauthorized")  # … not for the API


def test_expired_revoked_and_foreign_address_tokens_are_refused(app_ctx, world, client):
    now = clock.now()
    expiring = token_for(world.master_membership, name="Temporário", expires_at=now + timedelta(days=1))
    assert client.get("/api/v1/organization", headers=bearer(expiring)).status_code == 200
    with clock.frozen(now + timedelta(days=1, seconds=1)):
        _problem(client.get("/api/v1/organization", headers=bearer(expiring)), 401, "unauthorized")

    revoked = token_for(world.master_membership, name="Antigo")
    row = db.session.scalars(select(ApiToken).where(ApiToken.name == "Antigo")).one()
    tokens.revoke_token(organization=world.demo, token_id=row.id, actor=Actor.system("tests"))
    _problem(client.get("/api/v1/organization", headers=bearer(revoked)), 401, "unauthorized")

    fenced = token_for(world.master_membership, name="Só do escritório", allowed_ips="198.51.100.0/24, 203.0.113.7")
    inside = {"REMOTE_ADDR": "198.51.100.20"}
    assert client.get("/api/v1/organization", headers=bearer(fenced), environ_base=inside).status_code == 200
    assert client.get("/api/v1/organization", headers=bearer(fenced),
                      environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 200
    _problem(client.get("/api/v1/organization", headers=bearer(fenced), environ_base={"REMOTE_ADDR": "203.0.113.8"}),
             401, "unauthorized")


def test_roles_no_wider_than_the_creator_and_narrowed_when_the_creator_loses_them(app_ctx, world, client):
    with pytest.raises(ServiceError) as refused:
        token_for(world.adm_membership, ["master"])
    assert refused.value.field == "roles"
    with pytest.raises(ServiceError):
        token_for(world.master_membership, ["dono"])
    with pytest.raises(ServiceError) as bad_ip:
        token_for(world.master_membership, ["adm"], allowed_ips="escritório")
    assert bad_ip.value.field == "allowed_ips"

    text = token_for(world.adm_membership, ["adm"])
    assert client.get("/api/v1/subscriptions", headers=bearer(text)).status_code == 200
    db.session.execute(MembershipRole.__table__.update()
                       .where(MembershipRole.membership_id == world.adm_membership.id).values(role="suporte"))
    db.session.commit()
    _problem(client.get("/api/v1/subscriptions", headers=bearer(text)), 403, "forbidden")
    world.adm_membership.active = False
    db.session.commit()
    _problem(client.get("/api/v1/subscriptions", headers=bearer(text)), 401, "unauthorized")


def test_the_master_creates_a_token_sees_it_once_and_revokes_it(app_ctx, world, login_as):
    client = login_as("master")
    page = client.get("/integracoes/tokens")
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    assert "ainda não tem tokens" in html.text(page)
    created = client.post("/integracoes/tokens", data={"name": "ITSM", "roles": ["adm", "suporte"],
                                                       "expires_on": "", "allowed_ips": ""})
    assert created.status_code == 200 and "no-store" in created.headers["Cache-Control"]
    text = html.input_value(created, "", "new-token-text")
    assert text.startswith("ptk_")
    assert client.get("/api/v1/subscriptions", headers=bearer(text)).status_code == 200
    again = client.get("/integracoes/tokens")
    assert text not in again.get_data(as_text=True) and text[:12] in again.get_data(as_text=True)
    row = db.session.scalars(select(ApiToken)).one()
    assert row.roles == "adm,suporte"
    revoked = client.post(f"/integracoes/tokens/{row.id}/revogar")
    assert revoked.status_code == 302
    assert "revogado" in html.text(client.get("/integracoes/tokens"))
    assert client.get("/api/v1/subscriptions", headers=bearer(text)).status_code == 401


def test_the_form_keeps_the_input_and_explains(app_ctx, world, login_as):
    client = login_as("master")
    refused = client.post("/integracoes/tokens", data={"name": "", "roles": [], "expires_on": "ontem",
                                                       "allowed_ips": "10.0.0.300"})
    assert refused.status_code == 422
    errors = " ".join(html.field_errors(refused))
    assert "Preencha este campo" in errors
    assert html.textarea(refused, "allowed_ips") == "10.0.0.300"
    assert db.session.scalars(select(ApiToken)).all() == []
    bad_ip = client.post("/integracoes/tokens", data={"name": "ERP", "roles": ["adm"], "allowed_ips": "10.0.0.300"})
    assert bad_ip.status_code == 422 and "10.0.0.300" in " ".join(html.field_errors(bad_ip))


@pytest.mark.parametrize(("role", "linked"), [("master", True), ("adm", False), ("cobranca", False)])
def test_the_profile_links_integrations_for_a_master_only(app_ctx, world, login_as, role, linked):
    page = login_as(role).get("/conta")
    assert page.status_code == 200
    assert ('href="/integracoes/tokens"' in page.get_data(as_text=True)) is linked


def test_cli_creates_a_token_with_the_cnpj_masked_or_not(app_ctx, world, client):
    runner = app_ctx.test_cli_runner()
    masked = cnpj_module.format(world.demo.cnpj)
    result = runner.invoke(args=["api", "token", "create", world.master.email, "--organization", masked,
                                 "--name", "Operações", "--roles", "adm,cobranca"])
    assert result.exit_code == 0, result.output
    text = result.output.strip()
    assert client.get("/api/v1/invoices", headers=bearer(text)).status_code == 200
    assert client.get("/api/v1/users", headers=bearer(text)).status_code == 403
    plain = runner.invoke(args=["api", "token", "create", world.cobranca.email, "--organization", world.demo.cnpj,
                                "--name", "Financeiro"])
    assert plain.exit_code == 0 and plain.output.startswith("ptk_")
    wider = runner.invoke(args=["api", "token", "create", world.cobranca.email, "--organization", world.demo.cnpj,
                                "--name", "X", "--roles", "master"])
    assert wider.exit_code != 0 and "papel" in wider.output
    stranger = runner.invoke(args=["api", "token", "create", world.other_master.email, "--organization",
                                   world.demo.cnpj, "--name", "X"])
    assert stranger.exit_code != 0
