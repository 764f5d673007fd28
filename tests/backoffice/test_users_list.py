"""Issue 13 point 7: /backoffice/usuarios shows each user's real situation (ativo, convite pendente, desativado)."""

import html
import re

from portal.extensions import db
from tests import factories


def user_rows(response) -> dict[str, str]:
    """e-mail → the row's visible text ("Nome e-mail Acesso Situação")."""
    body = response.get_data(as_text=True)
    found = re.findall(r'<tr data-testid="user-row" data-email="([^"]+)">(.*?)</tr>', body, re.S)
    return {email: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for email, row in found}


def test_the_staff_users_list_shows_deactivated_members_and_pending_invitations(login_as, world):
    deactivated = factories.MembershipFactory(organization=world.demo, roles=["adm"], active=False,
                                              user__name="Dora Desligada").user
    invited = factories.MembershipFactory(organization=world.demo, roles=["cobranca"], accepted_at=None,
                                          user__name="Ivo Convidado", user__password_hash=None).user
    account_off = factories.MembershipFactory(organization=world.demo, roles=["suporte"],
                                              user__name="Olga Bloqueada").user
    account_off.active = False
    two_seats = factories.MembershipFactory(organization=world.demo, roles=["master"], user__name="Bia Duas").user
    factories.MembershipFactory(organization=world.other, roles=["adm"], accepted_at=None, user=two_seats)
    db.session.commit()

    rows = user_rows(login_as("staff_admin").get("/backoffice/usuarios"))

    assert rows[deactivated.email].endswith("Demo Tecnologia (Adm) desativado")
    assert rows[invited.email].endswith("Demo Tecnologia (Cobrança) convite pendente")
    assert rows[account_off.email].endswith("desativado")
    assert rows[world.adm.email].endswith("Demo Tecnologia (Adm) ativo")
    assert rows[world.staff_admin.email].endswith("ativo")
    # A seat that gives access makes the user active; each seat says its own situation.
    assert rows[two_seats.email].endswith(
        "Demo Tecnologia (Master): ativo Outra Empresa (Adm): convite pendente ativo")
