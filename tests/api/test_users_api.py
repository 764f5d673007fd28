"""Users and roles through the API (a Master's token): the "Usuários" page's service (roles, the last-Master rule,
the audit with the token's name), deactivate and reactivate; another organization's user is a 404."""

import pytest
from sqlalchemy import select

from portal.accounts.models import Membership
from portal.extensions import db
from portal.shared.audit import AuditEvent, AuditTag
from tests.api.helpers import bearer, token_for


@pytest.fixture
def master(app_ctx, world):
    return bearer(token_for(world.master_membership, ["master"], name="Diretório"))


def _problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["type"] == f"https://portal/errors/{kind}" and body["status"] == status
    return body


def test_changing_roles_is_audited_with_the_tokens_name(client, world, master):
    adm = world.adm_membership
    changed = client.patch(f"/api/v1/users/{adm.id}", json={"roles": ["adm", "cobranca"]}, headers=master)
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["roles"] == ["adm", "cobranca"] and changed.get_json()["email"] == world.adm.email
    db.session.expire_all()
    assert sorted(db.session.get(Membership, adm.id).roles) == ["adm", "cobranca"]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.tag == AuditTag.ROLES_CHANGED)).one()
    assert "Diretório" in (event.actor_label or "") and event.after == {"roles": ["adm", "cobranca"]}


def test_bad_roles_and_the_last_master_are_422(client, world, master):
    bad = _problem(client.patch(f"/api/v1/users/{world.adm_membership.id}", json={"roles": ["chefe"]},
                                headers=master), 422, "validation")
    assert "roles" in bad["errors"]
    empty = _problem(client.patch(f"/api/v1/users/{world.adm_membership.id}", json={"roles": []}, headers=master),
                     422, "refused")
    assert "roles" in empty["errors"]
    _problem(client.patch(f"/api/v1/users/{world.adm_membership.id}", json={}, headers=master), 422, "validation")
    last = _problem(client.patch(f"/api/v1/users/{world.master_membership.id}", json={"roles": ["adm"]},
                                 headers=master), 422, "refused")
    assert "Master ativo" in last["errors"]["roles"][0]
    _problem(client.post(f"/api/v1/users/{world.master_membership.id}/deactivate", headers=master), 422, "refused")
    db.session.expire_all()
    kept = db.session.get(Membership, world.master_membership.id)
    assert sorted(kept.roles) == ["master"] and kept.active


def test_deactivate_and_reactivate(client, world, master):
    member = world.cobranca_membership
    gone = client.post(f"/api/v1/users/{member.id}/deactivate", headers={**master, "Idempotency-Key": "d-1"})
    assert gone.status_code == 200 and gone.get_json()["active"] is False
    db.session.expire_all()
    assert db.session.get(Membership, member.id).active is False
    back = client.post(f"/api/v1/users/{member.id}/reactivate", headers=master)
    assert back.status_code == 200 and back.get_json()["active"] is True
    tags = list(db.session.scalars(select(AuditEvent.tag).where(AuditEvent.subject == f"membership:{member.id}")))
    assert AuditTag.MEMBERSHIP_DEACTIVATED in tags and AuditTag.MEMBERSHIP_REACTIVATED in tags


def test_another_organizations_user_is_a_404(client, world, master):
    theirs = world.other_master_membership.id
    _problem(client.patch(f"/api/v1/users/{theirs}", json={"roles": ["adm"]}, headers=master), 404, "not-found")
    _problem(client.post(f"/api/v1/users/{theirs}/deactivate", headers=master), 404, "not-found")
    _problem(client.post(f"/api/v1/users/{theirs}/reactivate", headers=master), 404, "not-found")
    db.session.expire_all()
    assert db.session.get(Membership, theirs).active and sorted(db.session.get(Membership, theirs).roles) == ["master"]
