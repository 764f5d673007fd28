"""The accounts verbs called directly: credentials, passwords, two-factor, invitations, roles, guards."""

import re
import threading
from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from portal.accounts import service
from portal.accounts.models import Membership, User
from portal.accounts.roles import ROLE_PERMISSIONS, Permission, Role
from portal.extensions import db
from portal.shared import audit
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import NotFound, PermissionDenied, ServiceError
from tests import factories
from tests.factories import PASSWORD

M, A, C, S = Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


class Links:
    """Stands in for `url_for`: keeps every token a service put in an e-mailed link."""

    def __init__(self) -> None:
        self.tokens: list[str] = []

    def __call__(self, token: str) -> str:
        self.tokens.append(token)
        return f"http://portal.test/link/{token}"

    @property
    def last(self) -> str:
        return self.tokens[-1]


@pytest.fixture
def link():
    return Links()


def as_user(user) -> Actor:
    return Actor.for_user(user, ip="203.0.113.9", user_agent="pytest")


# ---------------------------------------------------------------- credentials

def test_credentials_match_whatever_the_case_of_the_email(world, visitor):
    assert service.check_credentials(f"  {world.adm.email.upper()} ", PASSWORD, actor=visitor) == world.adm
    assert events(AuditTag.LOGIN_FAILED) == []


def test_wrong_password_unknown_email_inactive_user_and_pending_invitee_all_fail(world, visitor):
    world.cobranca.active = False
    pending = factories.UserFactory(password_hash=None)
    db.session.commit()
    attempts = [
        (world.adm.email, "Errada#2026xyz"),
        ("ninguem@cliente.example.com", PASSWORD),
        (world.cobranca.email, PASSWORD),
        (pending.email, ""),
    ]
    for email, password in attempts:
        assert service.check_credentials(email, password, actor=visitor) is None, email
    failed = events(AuditTag.LOGIN_FAILED)
    assert [e.after["email"] for e in failed] == [email for email, _ in attempts]
    assert failed[0].subject == f"user:{world.adm.id}" and failed[1].subject is None
    assert {e.ip for e in failed} == {"203.0.113.7"}


def test_an_unknown_email_costs_a_password_check_like_a_known_one(world, visitor, monkeypatch, app_ctx):
    checked = []
    real_check = service.check_password_hash
    monkeypatch.setattr(service, "check_password_hash", lambda h, p: checked.append(h) or real_check(h, p))
    service.check_credentials(world.adm.email, "Errada#2026x", actor=visitor)
    service.check_credentials("ninguem@cliente.example.com", "Errada#2026x", actor=visitor)
    method = app_ctx.config["PASSWORD_HASH_METHOD"]
    assert [h.startswith(f"{method}$") for h in checked] == [True, True]


def test_who_needs_a_second_factor(world, enrol):
    assert service.needs_second_factor(world.staff_comercial)  # staff always
    assert not service.needs_second_factor(world.adm)
    enrol(world.adm)
    assert service.needs_second_factor(world.adm)
    world.demo.require_2fa = True
    db.session.commit()
    assert service.needs_second_factor(world.suporte)
    assert not service.needs_second_factor(world.other_master)
    world.suporte_membership.active = False  # a seat that gives no access imposes nothing
    assert not service.needs_second_factor(world.suporte)


def test_login_and_logout_are_recorded(world, visitor):
    key = service.complete_login(world.adm, actor=as_user(world.adm))
    assert service.session_is_open(world.adm, key)
    service.logout(world.adm, key, actor=as_user(world.adm))
    assert not service.session_is_open(world.adm, key)
    assert world.adm.last_login_at is not None
    [login], [logout] = events(AuditTag.LOGIN_SUCCEEDED), events(AuditTag.LOGOUT)
    assert login.actor_id == logout.actor_id == world.adm.id
    assert login.subject == f"user:{world.adm.id}"


# ---------------------------------------------------------------- passwords

@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Curta#1", "pelo menos 10 caracteres"),
        ("", "pelo menos 10 caracteres"),
        ("Joaquina#Segura2026", "não pode conter seu nome"),  # first name
        ("xSILVEIRAx#2026", "não pode conter seu nome"),  # surname, any case
        ("joaquina.s-Forte#1", "não pode conter seu nome"),  # e-mail local part
        ("abababababab", "repetitiva"),
        ("!!!!!!!!!!!!", "repetitiva"),
    ],
)
def test_weak_passwords_are_explained(app_ctx, password, problem):
    problems = service.password_problems(password, email="Joaquina.S@cliente.example.com", name="Joaquina da Silveira")
    assert any(problem in p for p in problems), problems


def test_a_good_password_has_no_problems(app_ctx):
    problems = service.password_problems(
        "Ipê-Amarelo#2026", email="joaquina@cliente.example.com", name="Joaquina da Silva"
    )
    assert problems == []


def test_reset_token_works_once(world, visitor, outbox):
    token = _reset_token(world.adm, visitor)
    assert service.user_for_reset_token(token) == world.adm
    service.reset_password(token, "Jabuticaba#Doce42", actor=visitor)
    assert service.check_credentials(world.adm.email, "Jabuticaba#Doce42", actor=visitor) == world.adm
    with pytest.raises(ServiceError, match="já foi usado"):
        service.reset_password(token, "Outra#Senha#Boa77", actor=visitor)
    assert [e.subject for e in events(AuditTag.PASSWORD_RESET)] == [f"user:{world.adm.id}"]
    assert [m["Subject"] for m in outbox] == ["Redefinição de senha do portal", "Sua senha do portal foi alterada"]


def test_reset_token_expires(world, visitor, frozen, app_ctx):
    token = _reset_token(world.adm, visitor)
    frozen.advance(timedelta(seconds=app_ctx.config["PASSWORD_RESET_MAX_AGE"] - 1))
    assert service.user_for_reset_token(token) == world.adm
    frozen.advance(timedelta(seconds=2))
    with pytest.raises(ServiceError, match="expirou"):
        service.user_for_reset_token(token)


def test_tampered_or_foreign_tokens_are_refused(world, visitor, link):
    token = _reset_token(world.adm, visitor)
    _invite(world, link, "nova@cliente.example.com")
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "abc", "", link.last):
        with pytest.raises(ServiceError, match="não é válido"):
            service.user_for_reset_token(bad)


def test_reset_is_not_offered_to_unknown_inactive_or_pending_accounts(world, visitor, outbox, link):
    world.cobranca.active = False
    pending = factories.UserFactory(password_hash=None)
    db.session.commit()
    for email in ("ninguem@cliente.example.com", world.cobranca.email, pending.email):
        service.request_password_reset(email, actor=visitor)
    assert outbox == [] and events(AuditTag.PASSWORD_RESET_REQUESTED) == []


def test_weak_reset_password_changes_nothing(world, visitor):
    token = _reset_token(world.adm, visitor)
    with pytest.raises(ServiceError) as refused:
        service.reset_password(token, "curta", actor=visitor)
    assert refused.value.field == "password"
    assert service.user_for_reset_token(token) == world.adm  # the link still works


def test_change_password_checks_the_current_one_and_rotates_the_session(world):
    old_session = world.adm.session_token
    with pytest.raises(ServiceError) as wrong:
        service.change_password(world.adm, "Errada#2026x", "Jabuticaba#Doce42", actor=as_user(world.adm))
    assert wrong.value.field == "current_password"
    with pytest.raises(ServiceError, match="pelo menos 10"):
        service.change_password(world.adm, PASSWORD, "curta", actor=as_user(world.adm))
    assert world.adm.session_token == old_session
    service.change_password(world.adm, PASSWORD, "Jabuticaba#Doce42", actor=as_user(world.adm))
    assert world.adm.session_token != old_session
    assert len(events(AuditTag.PASSWORD_CHANGED)) == 1


def test_profile_language_must_be_known(world):
    with pytest.raises(ServiceError) as refused:
        service.update_profile(world.adm, name="Adm", phone="", language="fr", actor=as_user(world.adm))
    assert refused.value.field == "language"
    service.update_profile(world.adm, name=" Ana Adm ", phone=" 11 5555-0000 ", language="en", actor=as_user(world.adm))
    assert (world.adm.name, world.adm.phone, world.adm.language) == ("Ana Adm", "11 5555-0000", "en")
    [event] = events(AuditTag.PROFILE_UPDATED)
    assert event.before["language"] is None and event.after["language"] == "en"


def _reset_token(user, actor) -> str:
    """The token of the link the reset e-mail carries (built on BASE_URL by the job)."""
    service.request_password_reset(user.email, actor=actor)
    body = current_app.extensions["mailer"].outbox[-1].get_body(("plain",)).get_content()
    return re.search(r"http://portal\.test/senha/redefinir/(\S+)", body).group(1)


# ---------------------------------------------------------------- two-factor

def test_enrolment_needs_a_right_code_and_gives_ten_recovery_codes(world, authenticator, frozen):
    user = world.adm
    secret = service.start_totp_enrolment(user)
    with pytest.raises(ServiceError) as wrong:
        service.confirm_totp_enrolment(user, authenticator.wrong_code(secret), actor=as_user(user))
    assert wrong.value.field == "code" and not user.totp_enabled
    codes = service.confirm_totp_enrolment(user, authenticator.code(secret), actor=as_user(user))
    assert user.totp_enabled and len(set(codes)) == 10
    assert service.remaining_recovery_codes(user) == 10
    with pytest.raises(ServiceError):
        service.start_totp_enrolment(user)  # already on


def test_second_factor_accepts_the_code_or_a_recovery_code_once(world, authenticator, frozen):
    user = world.adm
    secret = service.start_totp_enrolment(user)
    codes = service.confirm_totp_enrolment(user, authenticator.code(secret), actor=as_user(user))
    actor = as_user(user)
    frozen.advance(timedelta(seconds=30))  # the enrolment spent the current code
    assert service.verify_second_factor(user, authenticator.code(secret), actor=actor)
    assert not service.verify_second_factor(user, authenticator.wrong_code(secret), actor=actor)
    assert service.verify_second_factor(user, f" {codes[3].upper()} ", actor=actor)
    assert not service.verify_second_factor(user, codes[3], actor=actor)
    assert service.remaining_recovery_codes(user) == 9
    assert len(events(AuditTag.TWO_FACTOR_FAILED)) == 2
    assert len(events(AuditTag.RECOVERY_CODE_USED)) == 1


def test_a_totp_code_is_accepted_once(world, authenticator, frozen):
    user = world.adm
    secret = service.start_totp_enrolment(user)
    enrolment_code = authenticator.code(secret)
    service.confirm_totp_enrolment(user, enrolment_code, actor=as_user(user))
    assert not service.verify_second_factor(user, enrolment_code, actor=as_user(user))  # replayed
    frozen.advance(timedelta(seconds=30))
    fresh = authenticator.code(secret)
    assert service.verify_second_factor(user, fresh, actor=as_user(user))
    assert not service.verify_second_factor(user, fresh, actor=as_user(user))  # replayed within its window
    frozen.advance(timedelta(seconds=30))
    assert not service.verify_second_factor(user, fresh, actor=as_user(user))  # an older step than the last
    assert service.verify_second_factor(user, authenticator.code(secret), actor=as_user(user))


def test_regenerated_recovery_codes_replace_the_old_ones(world, authenticator, frozen):
    user = world.adm
    secret = service.start_totp_enrolment(user)
    old = service.confirm_totp_enrolment(user, authenticator.code(secret), actor=as_user(user))
    new = service.regenerate_recovery_codes(user, actor=as_user(user))
    assert not set(old) & set(new)
    assert not service.verify_second_factor(user, old[0], actor=as_user(user))
    assert service.verify_second_factor(user, new[0], actor=as_user(user))


def test_disabling_two_factor(world, enrol):
    enrol(world.staff_admin)
    with pytest.raises(ServiceError, match="obrigatória para a equipe"):
        service.disable_totp(world.staff_admin, PASSWORD, actor=as_user(world.staff_admin))
    enrol(world.adm)
    with pytest.raises(ServiceError) as wrong:
        service.disable_totp(world.adm, "Errada#2026x", actor=as_user(world.adm))
    assert wrong.value.field == "password"
    world.demo.require_2fa = True
    with pytest.raises(ServiceError, match="organização exige"):
        service.disable_totp(world.adm, PASSWORD, actor=as_user(world.adm))
    world.demo.require_2fa = False
    service.disable_totp(world.adm, PASSWORD, actor=as_user(world.adm))
    assert not world.adm.totp_enabled and world.adm.totp_secret is None
    assert world.staff_admin.totp_enabled
    assert len(events(AuditTag.TWO_FACTOR_DISABLED)) == 1


# ---------------------------------------------------------------- roles and memberships

def _change(membership, roles, *, by):
    service.change_roles(membership, set(roles), actor=as_user(by.user), actor_membership=by)


def test_master_changes_roles_and_the_event_keeps_before_and_after(world):
    _change(world.suporte_membership, {S, C}, by=world.master_membership)
    assert world.suporte_membership.roles == {S, C}
    [event] = events(AuditTag.ROLES_CHANGED)
    assert event.before == {"roles": ["suporte"]} and event.after == {"roles": ["cobranca", "suporte"]}
    assert event.organization_id == world.demo.id and event.actor_id == world.master.id
    _change(world.suporte_membership, {S, C}, by=world.master_membership)
    assert len(events(AuditTag.ROLES_CHANGED)) == 1  # nothing changed, nothing recorded


@pytest.mark.parametrize("role", ["adm", "cobranca", "suporte"])
def test_only_a_holder_of_users_manage_changes_roles(world, role, link):
    actor = getattr(world, f"{role}_membership")
    with pytest.raises(PermissionDenied):
        _change(world.suporte_membership, {S, C}, by=actor)
    with pytest.raises(PermissionDenied):
        service.deactivate_membership(world.suporte_membership, actor=as_user(actor.user), actor_membership=actor)
    with pytest.raises(PermissionDenied):
        service.invite_member(world.demo, email="x@cliente.example.com", name="X", roles={S},
                              actor=as_user(actor.user), actor_membership=actor, url_for_token=link)
    with pytest.raises(PermissionDenied):
        service.set_require_2fa(world.demo, True, actor=as_user(actor.user), actor_membership=actor)
    assert world.suporte_membership.roles == {S} and not world.demo.require_2fa


def test_a_master_of_another_organization_manages_nothing_here(world):
    with pytest.raises(PermissionDenied):
        _change(world.suporte_membership, {M}, by=world.other_master_membership)
    with pytest.raises(NotFound):
        service.get_membership_in(world.other, world.suporte_membership.id)


def test_nobody_grants_a_role_they_lack(world, monkeypatch, link):
    # Were Adm allowed to manage users, it still could not hand out Master or Cobrança.
    monkeypatch.setitem(ROLE_PERMISSIONS, A, ROLE_PERMISSIONS[A] | {Permission.USERS_MANAGE})
    with pytest.raises(PermissionDenied, match="papel que não tem"):
        _change(world.suporte_membership, {M}, by=world.adm_membership)
    with pytest.raises(PermissionDenied, match="papel que não tem"):
        service.invite_member(world.demo, email="x@cliente.example.com", name="X", roles={A, C},
                              actor=as_user(world.adm), actor_membership=world.adm_membership, url_for_token=link)
    _change(world.suporte_membership, {A}, by=world.adm_membership)
    assert world.suporte_membership.roles == {A}


def test_empty_roles_are_refused(world):
    with pytest.raises(ServiceError) as refused:
        _change(world.suporte_membership, set(), by=world.master_membership)
    assert refused.value.field == "roles"


def test_the_last_active_master_stays(world):
    master = world.master_membership
    with pytest.raises(ServiceError, match="pelo menos um Master ativo"):
        _change(master, {A}, by=master)
    with pytest.raises(ServiceError, match="pelo menos um Master ativo"):
        service.deactivate_membership(master, actor=as_user(master.user), actor_membership=master)
    assert master.roles == {M} and master.active
    # A second Master who has not accepted the invitation yet does not count.
    pending = factories.MembershipFactory(organization=world.demo, roles=["master"], accepted_at=None)
    with pytest.raises(ServiceError, match="pelo menos um Master ativo"):
        _change(master, {A}, by=master)
    pending.accepted_at = master.accepted_at
    _change(master, {A, M}, by=master)  # still a Master: fine
    _change(master, {A}, by=master)
    assert master.roles == {A}


def test_deactivating_a_pending_member_revokes_the_invitation(world, link):
    invitation = _invite(world, link, "nova@cliente.example.com")
    membership = invitation.membership
    service.deactivate_membership(membership, actor=as_user(world.master), actor_membership=world.master_membership)
    assert not membership.active and invitation.revoked_at is not None
    with pytest.raises(ServiceError, match="cancelado"):
        service.invitation_for_token(link.last)
    with pytest.raises(ServiceError, match="Reative"):
        service.resend_invitation(membership, actor=as_user(world.master), actor_membership=world.master_membership,
                                  url_for_token=link)
    service.reactivate_membership(membership, actor=as_user(world.master), actor_membership=world.master_membership)
    assert membership.active
    about_it = select(AuditEvent.tag).where(AuditEvent.subject == f"membership:{membership.id}")
    tags = list(db.session.scalars(about_it.order_by(AuditEvent.seq)))
    assert tags == [AuditTag.INVITATION_SENT, AuditTag.MEMBERSHIP_DEACTIVATED, AuditTag.MEMBERSHIP_REACTIVATED]


# ---------------------------------------------------------------- invitations

def _invite(world, link, email, roles=frozenset({S}), name="Convidada"):
    return service.invite_member(
        world.demo, email=email, name=name, roles=set(roles), actor=as_user(world.master),
        actor_membership=world.master_membership, url_for_token=link,
    )


def test_invitation_creates_a_pending_seat_for_a_new_user(world, outbox, link):
    invitation = _invite(world, link, " Nova.Pessoa@Cliente.example.com ", roles={C, S})
    user = invitation.membership.user
    assert user.email == "nova.pessoa@cliente.example.com" and user.password_hash is None
    assert invitation.membership.roles == {C, S} and invitation.membership.accepted_at is None
    [message] = outbox
    assert message["To"] == "nova.pessoa@cliente.example.com"
    [sent] = events(AuditTag.INVITATION_SENT)
    assert sent.after == {"email": "nova.pessoa@cliente.example.com", "roles": ["cobranca", "suporte"]}


def test_invitation_refuses_members_staff_and_empty_roles(world, link):
    with pytest.raises(ServiceError, match="já é usuário desta organização") as member:
        _invite(world, link, world.adm.email.upper())
    assert member.value.field == "email"
    with pytest.raises(ServiceError, match="pertence à equipe"):
        _invite(world, link, world.staff_suporte.email)
    with pytest.raises(ServiceError, match="pelo menos um papel"):
        _invite(world, link, "nova@cliente.example.com", roles=set())


def test_new_invitee_sets_name_and_password(world, visitor, link):
    invitation = _invite(world, link, "nova@cliente.example.com")
    token = link.last
    with pytest.raises(ServiceError) as no_name:
        service.accept_invitation(token, actor=visitor, name="  ", password="Jabuticaba#Doce42")
    assert no_name.value.field == "name"
    with pytest.raises(ServiceError) as weak:
        service.accept_invitation(token, actor=visitor, name="Nova Pessoa", password="curta")
    assert weak.value.field == "password"
    user = service.accept_invitation(token, actor=visitor, name="Nova Pessoa", phone="11 4000-0000",
                                     password="Jabuticaba#Doce42")
    assert user.name == "Nova Pessoa" and user.phone == "11 4000-0000"
    assert invitation.membership.is_usable
    assert service.check_credentials(user.email, "Jabuticaba#Doce42", actor=visitor) == user
    with pytest.raises(ServiceError, match="já foi usado"):
        service.accept_invitation(token, actor=visitor, name="Outra", password="Jabuticaba#Doce42")
    [accepted] = events(AuditTag.INVITATION_ACCEPTED)
    assert accepted.actor_id == user.id and accepted.organization_id == world.demo.id


def test_existing_user_accepts_only_as_that_account(world, visitor, link):
    _invite(world, link, world.other_master.email)
    token = link.last
    for someone in (None, world.adm):
        with pytest.raises(PermissionDenied, match=world.other_master.email):
            service.accept_invitation(token, actor=visitor, user=someone)
    user = service.accept_invitation(token, actor=visitor, user=world.other_master)
    assert {m.organization for m in service.usable_memberships(user)} == {world.demo, world.other}


def test_invitation_expires_and_resending_replaces_it(world, frozen, app_ctx, link):
    first = _invite(world, link, "nova@cliente.example.com")
    first_token = link.last
    frozen.advance(timedelta(seconds=app_ctx.config["INVITATION_MAX_AGE"]))
    with pytest.raises(ServiceError, match="expirou"):
        service.invitation_for_token(first_token)
    second = service.resend_invitation(first.membership, actor=as_user(world.master),
                                       actor_membership=world.master_membership, url_for_token=link)
    with pytest.raises(ServiceError, match="substituído"):
        service.invitation_for_token(first_token)
    assert service.invitation_for_token(link.last) == second
    assert len(events(AuditTag.INVITATION_RESENT)) == 1


def test_an_accepted_invitation_cannot_be_resent(world, link):
    with pytest.raises(ServiceError, match="já aceitou"):
        service.resend_invitation(world.adm_membership, actor=as_user(world.master),
                                  actor_membership=world.master_membership, url_for_token=link)


def test_actions_keep_the_audit_chain_intact(world, visitor, link):
    _change(world.suporte_membership, {S, C}, by=world.master_membership)
    service.check_credentials(world.adm.email, "Errada#2026x", actor=visitor)
    _invite(world, link, "nova@cliente.example.com")
    assert audit.verify().ok
    assert db.session.scalar(select(User).where(User.email == "nova@cliente.example.com")) is not None
    assert db.session.scalar(select(Membership).where(Membership.organization_id == world.demo.id,
                                                      Membership.accepted_at.is_(None))) is not None


def test_two_masters_demoting_each_other_at_once_leave_one(make_app, engine_name):
    app = make_app(engine_name)
    with app.app_context():
        first = factories.MembershipFactory(roles=["master"])
        second = factories.MembershipFactory(organization=first.organization, roles=["master"])
        db.session.commit()
        ids = (first.id, second.id)
    outcomes: list[str] = []
    start = threading.Barrier(2, timeout=30)

    def demote(actor_id: int, target_id: int) -> None:
        with app.app_context():
            start.wait()  # before any query: on SQLite the first one takes the write lock
            actor_membership, target = db.session.get(Membership, actor_id), db.session.get(Membership, target_id)
            try:
                service.change_roles(target, {Role.ADM}, actor=as_user(actor_membership.user),
                                     actor_membership=actor_membership)
            except ServiceError as error:
                db.session.rollback()
                outcomes.append(error.message)
            else:
                outcomes.append("demoted")

    threads = [threading.Thread(target=demote, args=ids), threading.Thread(target=demote, args=ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The loser is told it is the last Master, or that it is no longer a Master at all.
    assert outcomes.count("demoted") == 1 and len(outcomes) == 2
    with app.app_context():
        masters = [i for i in ids if Role.MASTER in db.session.get(Membership, i).roles]
        assert len(masters) == 1
