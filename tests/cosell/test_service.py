"""Co-sell deals: the referral form's rules per type, the stage machine (every allowed and refused transition,
terminal immutability, Ganho after every earlier stage, private → co-sell), the expiry job, favourites and the
deal-registration eligibility of won deals."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.cosell import jobs, service
from portal.cosell.models import (
    Deal,
    DealEvent,
    DealStage,
    DealStageMark,
    DealTeamMember,
    DealType,
    Direction,
)
from portal.extensions import db
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import PermissionDenied, ServiceError
from tests import factories
from tests.cosell.routes import comercial
from tests.support.test_service import mail_text

NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo
RATES = service.parse_usd_rates("BRL=0.18,EUR=1.08")


@pytest.fixture
def frozen():
    with clock.frozen(NOON):
        yield


def audit(deal: Deal, tag: AuditTag | None = None) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.subject == f"deal:{deal.id}").order_by(AuditEvent.seq)
    if tag is not None:
        statement = statement.where(AuditEvent.tag == tag)
    return list(db.session.scalars(statement))


def deal_events(deal: Deal) -> list[DealEvent]:
    return list(db.session.scalars(select(DealEvent).where(DealEvent.deal_id == deal.id).order_by(DealEvent.id)))


def deal_count() -> int:
    return db.session.scalar(select(func.count(Deal.id)))


def refusals(data, direction=Direction.OUTBOUND) -> dict[str, str]:
    return service.validate(service._clean(data), direction=direction, today=clock.today())


def mark_through(deal: Deal, actor: Actor, until: DealStage = DealStage.NEGOTIATED) -> Deal:
    for stage in service.SALES_STAGES:
        deal = service.mark_stage(deal, stage, actor=actor)
        if stage == until:
            break
    return deal


# ---------------------------------------------------------------- creating

def test_an_outbound_deal_starts_at_criado_with_its_mark_event_and_audit(app_ctx, world, frozen):
    deal = factories.deal(world.staff_comercial, DealType.SERVICES_COSELL, estimated_value_minor=123_456,
                          currency="USD")
    assert (deal.direction, deal.stage, deal.created_at) == (Direction.OUTBOUND, DealStage.CREATED, NOON)
    assert service.stage_percent(deal.stage) == 10
    assert [m.stage for m in deal.marks] == [DealStage.CREATED]
    assert [(m.name, m.phone, m.email) for m in deal.team] == [
        ("Ana Souza", "+55 11 98888-7777", "ana.souza@revenda.example.com")]
    [event] = deal_events(deal)
    assert (event.from_stage, event.to_stage, event.actor_label) == (None, "created", world.staff_comercial.email)
    [created] = audit(deal)
    assert created.tag == AuditTag.DEAL_CREATED and created.actor_id == world.staff_comercial.id
    assert created.after["estimated_value_minor"] == 123_456 and created.after["currency"] == "USD"
    assert created.after["partner_role"] == "deployment" and created.after["stage"] == "created"


def test_an_inbound_deal_is_registered_as_received_and_waits_14_days(app_ctx, world, frozen):
    deal = factories.deal(world.staff_comercial, DealType.IP_COSELL, inbound=True, microsoft_accepted=True)
    assert (deal.direction, deal.stage, deal.received_at) == (Direction.INBOUND, DealStage.RECEIVED, NOON)
    assert deal.marks == [] and deal.microsoft_accepted is True
    assert service.expires_at(deal) == NOON + timedelta(days=14)
    assert service.stage_percent(deal.stage) is None
    assert [e.to_stage for e in deal_events(deal)] == ["received"]
    assert [e.tag for e in audit(deal)] == [AuditTag.DEAL_CREATED]


def test_the_stage_percentages_are_partner_centers(app_ctx):
    assert {str(s): p for s, p in service.STAGE_PERCENT.items()} == {
        "created": 10, "accepted": 10, "qualified": 20, "developed": 40, "proposed": 60, "negotiated": 80, "won": 100}


def test_only_comercial_and_admin_create_deals(app_ctx, world, frozen):
    for role in ("financeiro", "suporte", "compliance"):
        with pytest.raises(PermissionDenied):
            service.create_outbound(factories.deal_data(), actor=Actor.for_user(getattr(world, f"staff_{role}")))
    with pytest.raises(PermissionDenied):
        service.create_outbound(factories.deal_data(), actor=Actor.for_user(world.master))
    assert service.create_outbound(factories.deal_data(),
                                   actor=Actor.for_user(world.staff_admin)).stage == DealStage.CREATED


# ---------------------------------------------------------------- the form's rules per type

ASSESSMENT, IP, SERVICES = DealType.SOLUTION_ASSESSMENT, DealType.IP_COSELL, DealType.SERVICES_COSELL
ONE = [service.SolutionData("Avaliação de segurança", True)]
TWO = [service.SolutionData("Avaliação de segurança"), service.SolutionData("Avaliação de dados")]


@pytest.mark.parametrize(("deal_type", "overrides", "field", "message"), [
    (ASSESSMENT, {"solutions": []}, "solutions", "exatamente uma solução (informadas: 0)"),
    (ASSESSMENT, {"solutions": TWO}, "solutions", "exatamente uma solução (informadas: 2)"),
    (IP, {"solutions": []}, "solutions", "Co-sell de IP precisa de pelo menos uma solução"),
    (SERVICES, {"partner_role": ""}, "partner_role", "obrigatória em co-sell de serviços"),
    (SERVICES, {"solution_area": ""}, "solution_area", "obrigatória em co-sell de serviços"),
    (SERVICES, {"solution_play": "  "}, "solution_play", "obrigatório em co-sell de serviços"),
    (SERVICES, {"partner_role": "vendas"}, "partner_role", "Escolha uma função do parceiro da lista"),
    (SERVICES, {"team": []}, "team", "pelo menos um membro da equipe"),
    (SERVICES, {"team": [service.TeamMemberData("Ana", "", "ana@revenda.example.com")]}, "team-0-phone",
     "Informe o telefone do membro da equipe"),
    (SERVICES, {"team": [service.TeamMemberData("Ana", "11 9999-0000", "ana@revenda.example.com"),
                         service.TeamMemberData("", "11 9999-0001", "bruno@revenda.example.com")]}, "team-1-name",
     "Informe o nome do membro da equipe"),
    (SERVICES, {"team": [service.TeamMemberData("Ana", "11 9999-0000", "ana arroba revenda")]}, "team-0-email",
     "e-mail válido"),
    (SERVICES, {"solutions": [service.SolutionData(" ")]}, "solutions-0-name", "Informe o nome da solução"),
    (SERVICES, {"notes": ""}, "notes", "anotações"),
    (SERVICES, {"name": ""}, "name", "Informe o nome do negócio"),
    (SERVICES, {"customer_name": ""}, "customer_name", "Informe o nome do cliente"),
    (SERVICES, {"customer_location": ""}, "customer_location", "localização do cliente"),
    (SERVICES, {"customer_contact_email": "contato@"}, "customer_contact_email", "e-mail válido"),
    (SERVICES, {"location": "XX"}, "location", "localização da lista"),
    (SERVICES, {"estimated_value_minor": None}, "estimated_value", "Informe o valor estimado"),
    (SERVICES, {"estimated_value_minor": 0}, "estimated_value", "maior que zero"),
    (SERVICES, {"estimated_value_minor": 10**16}, "estimated_value", "grande demais"),
    (SERVICES, {"currency": "GBP"}, "currency", "BRL, USD ou EUR"),
    (SERVICES, {"estimated_close_date": None}, "estimated_close_date", "Informe a data prevista"),
    (SERVICES, {"crm_id": "x" * 61}, "crm_id", "no máximo 60"),
    (IP, {"marketplace_intent": "talvez"}, "marketplace_intent", "sim, não ou não decidido"),
    ("", {}, "deal_type", "Escolha o tipo do negócio"),
    ("consultoria", {}, "deal_type", "Escolha um tipo de negócio da lista"),
])
def test_each_refusal_names_its_field(app_ctx, world, frozen, deal_type, overrides, field, message):
    errors = refusals(replace(factories.deal_data(deal_type or SERVICES), deal_type=deal_type, **overrides))
    assert field in errors, errors
    assert message in errors[field]


@pytest.mark.parametrize(("deal_type", "overrides"), [
    (ASSESSMENT, {"solutions": ONE}),
    (IP, {"solutions": TWO, "partner_role": "", "solution_area": "", "solution_play": ""}),  # no role for IP
    (SERVICES, {"solutions": []}),  # solutions are optional for services co-sell
    (DealType.PRIVATE, {"partner_role": "", "solutions": []}),
    (DealType.PARTNER_LED, {}),
    (DealType.P2P, {}),
])
def test_what_each_type_accepts(app_ctx, world, frozen, deal_type, overrides):
    assert refusals(factories.deal_data(deal_type, **overrides)) == {}


def test_the_close_date_is_today_or_later(app_ctx, world, frozen):
    assert refusals(factories.deal_data(estimated_close_date=clock.today())) == {}
    assert "hoje ou uma data futura" in refusals(
        factories.deal_data(estimated_close_date=clock.today() - timedelta(days=1)))["estimated_close_date"]


def test_inbound_deals_are_co_sell_or_partner_to_partner(app_ctx, world, frozen):
    for deal_type in (IP, SERVICES, DealType.P2P):
        assert refusals(factories.deal_data(deal_type), Direction.INBOUND) == {}
    for deal_type in (DealType.PRIVATE, DealType.PARTNER_LED, ASSESSMENT):
        assert "Indicações recebidas" in refusals(factories.deal_data(deal_type, solutions=ONE),
                                                  Direction.INBOUND)["deal_type"]


def test_every_refusal_is_reported_at_once_and_nothing_is_stored(app_ctx, world, frozen):
    bad = factories.deal_data(SERVICES, name="", partner_role="", notes="",
                              team=[service.TeamMemberData("Ana", "", "")], estimated_value_minor=None)
    with pytest.raises(service.DealInputError) as refused:
        service.create_outbound(bad, actor=comercial(world))
    assert set(refused.value.errors) == {"name", "partner_role", "notes", "team-0-phone", "team-0-email",
                                         "estimated_value"}
    assert deal_count() == 0
    assert db.session.scalar(select(func.count(AuditEvent.seq)).where(AuditEvent.tag == AuditTag.DEAL_CREATED)) == 0


def test_what_a_type_does_not_use_is_not_stored(app_ctx, world, frozen):
    ip = factories.deal(world.staff_comercial, IP, partner_role="deployment", marketplace_intent="yes",
                        microsoft_accepted=True)
    assert (ip.partner_role, ip.marketplace_intent, ip.microsoft_accepted) == ("", "yes", True)
    services = factories.deal(world.staff_comercial, SERVICES, marketplace_intent="yes", microsoft_accepted=True)
    assert (services.marketplace_intent, services.microsoft_accepted) == ("undecided", True)
    private = factories.deal(world.staff_comercial, DealType.PRIVATE, microsoft_accepted=True)
    assert private.microsoft_accepted is False


# ---------------------------------------------------------------- the stage machine, table-driven

def _build(world, state: str) -> Deal:
    """A private outbound deal (so "Converter em co-sell" applies) or a services co-sell inbound one, at `state`."""
    actor = comercial(world)
    if state in {"received", "accepted", "declined", "expired"}:
        deal = factories.deal(world.staff_comercial, SERVICES, inbound=True)
        if state == "accepted":
            deal = service.accept(deal, actor=actor)
        elif state == "declined":
            deal = service.decline(deal, reason="Fora da nossa região de atuação.", actor=actor)
        elif state == "expired":
            clock.advance(timedelta(days=14))
            jobs.expire_inbound_deals.call_local()
            db.session.expire_all()
            deal = db.session.get(Deal, deal.id)
        return deal
    deal = factories.deal(world.staff_comercial, DealType.PRIVATE)
    if state == "qualified":
        deal = mark_through(deal, actor, DealStage.QUALIFIED)
    elif state in {"negotiated", "won"}:
        deal = mark_through(deal, actor)
        if state == "won":
            deal = service.win(deal, actor=actor)
    elif state == "lost":
        deal = service.lose(deal, reason="O cliente escolheu outro fornecedor.", actor=actor)
    elif state == "error":
        deal = service.close_as_error(deal, reason="Negócio duplicado.", actor=actor)
    return deal


def _same_data(deal: Deal, **changes) -> service.DealData:
    """The form as `make_deal` filled it, with `changes`."""
    return replace(factories.deal_data(deal.deal_type), **{"estimated_close_date": deal.estimated_close_date,
                                                           "name": deal.name, **changes})


ACTIONS = {
    "accept": lambda deal, actor: service.accept(deal, actor=actor),
    "decline": lambda deal, actor: service.decline(deal, reason="Sem fit com o cliente.", actor=actor),
    "mark_qualified": lambda deal, actor: service.mark_stage(deal, DealStage.QUALIFIED, actor=actor),
    "mark_developed": lambda deal, actor: service.mark_stage(deal, DealStage.DEVELOPED, actor=actor),
    "win": lambda deal, actor: service.win(deal, actor=actor),
    "lose": lambda deal, actor: service.lose(deal, reason="Orçamento cortado.", actor=actor),
    "error": lambda deal, actor: service.close_as_error(deal, reason="Cliente errado.", actor=actor),
    "update": lambda deal, actor: service.update_deal(deal, _same_data(deal, name="Nome novo do negócio"),
                                                      actor=actor),
    "upgrade": lambda deal, actor: service.upgrade(deal, deal_type=SERVICES, partner_role="deployment",
                                                   solution_area="infrastructure", solution_play="Migrate",
                                                   actor=actor),
}
SAME = "same"  # allowed, the stage does not change (edits)
NOT_RECEIVED = "Só indicações recebidas"
ENCERRADO = "está encerrado"
ORDER = "Marque as etapas em ordem"
ALREADY = "já foi marcada"
ACCEPT_FIRST = "Aceite a indicação antes"
MISSING = "Falta marcar"
PRIVATE_ONLY = "Só negócios privados"
OPEN_EXPECTED = {
    "created": {"accept": NOT_RECEIVED, "decline": NOT_RECEIVED, "mark_qualified": "qualified",
                "mark_developed": ORDER, "win": MISSING, "lose": "lost", "error": "error", "update": SAME,
                "upgrade": SAME},
    "qualified": {"accept": NOT_RECEIVED, "decline": NOT_RECEIVED, "mark_qualified": ALREADY,
                  "mark_developed": "developed", "win": MISSING, "lose": "lost", "error": "error", "update": SAME,
                  "upgrade": SAME},
    "negotiated": {"accept": NOT_RECEIVED, "decline": NOT_RECEIVED, "mark_qualified": ALREADY,
                   "mark_developed": ALREADY, "win": "won", "lose": "lost", "error": "error", "update": SAME,
                   "upgrade": SAME},
    "received": {"accept": "accepted", "decline": "declined", "mark_qualified": ACCEPT_FIRST,
                 "mark_developed": ACCEPT_FIRST, "win": ACCEPT_FIRST, "lose": "recusada, não perdida",
                 "error": "error", "update": SAME, "upgrade": PRIVATE_ONLY},
    "accepted": {"accept": "já foi aceita", "decline": "já foi aceita", "mark_qualified": "qualified",
                 "mark_developed": ORDER, "win": MISSING, "lose": "lost", "error": "error", "update": SAME,
                 "upgrade": PRIVATE_ONLY},
}
TERMINAL = ("won", "lost", "declined", "expired", "error")
CASES = [(state, action, expected) for state, row in OPEN_EXPECTED.items() for action, expected in row.items()] + [
    (state, action, ENCERRADO) for state in TERMINAL for action in ACTIONS]
STAGES = {s.value for s in DealStage}


@pytest.mark.parametrize(("state", "action", "expected"), CASES, ids=[f"{s}-{a}" for s, a, _e in CASES])
def test_the_stage_machine(app_ctx, world, frozen, state, action, expected):
    deal = _build(world, state)
    assert deal.stage == state
    before = (deal.stage, deal.deal_type, deal.name, len(deal_events(deal)), len(audit(deal)), len(deal.marks))
    if expected == SAME or expected in STAGES:
        ACTIONS[action](deal, comercial(world))
        db.session.expire_all()
        deal = db.session.get(Deal, deal.id)
        assert deal.stage == (state if expected == SAME else expected)
        [*_, event] = deal_events(deal)
        [*_, audited] = audit(deal)
        assert len(deal_events(deal)) == before[3] + 1 and len(audit(deal)) == before[4] + 1
        assert audited.tag == (AuditTag.DEAL_UPDATED if expected == SAME else AuditTag.DEAL_STAGE_CHANGED)
        assert (event.from_stage, event.to_stage) == (state, deal.stage)
        if deal.stage in {s.value for s in service.TERMINAL_STAGES}:
            assert deal.closed_at == NOON
        if expected in {"lost", "declined", "error"}:
            assert deal.close_reason and audited.after["reason"] == deal.close_reason == event.note
    else:
        with pytest.raises(ServiceError) as refused:
            ACTIONS[action](deal, comercial(world))
        assert expected in refused.value.message
        db.session.expire_all()
        deal = db.session.get(Deal, deal.id)
        assert (deal.stage, deal.deal_type, deal.name, len(deal_events(deal)), len(audit(deal)),
                len(deal.marks)) == before


@pytest.mark.parametrize("action", ["decline", "lose", "error"])
@pytest.mark.parametrize("reason", ["", "   "])
def test_closing_needs_a_reason(app_ctx, world, frozen, action, reason):
    deal = _build(world, "received" if action == "decline" else "created")
    verb = {"decline": service.decline, "lose": service.lose, "error": service.close_as_error}[action]
    with pytest.raises(ServiceError) as refused:
        verb(deal, reason=reason, actor=comercial(world))
    assert refused.value.field == "reason" and "motivo" in refused.value.message
    assert db.session.get(Deal, deal.id).stage == deal.stage


def test_a_received_deal_can_be_closed_as_an_error(app_ctx, world, frozen):
    deal = service.close_as_error(_build(world, "received"), reason="Indicação duplicada.", actor=comercial(world))
    assert (deal.stage, deal.close_reason) == (DealStage.ERROR, "Indicação duplicada.")


def test_ganho_after_every_earlier_stage_of_an_outbound_deal(app_ctx, world, frozen):
    actor = comercial(world)
    deal = mark_through(factories.deal(world.staff_comercial), actor, DealStage.PROPOSED)
    assert service.stage_percent(deal.stage) == 60
    with pytest.raises(ServiceError) as refused:
        service.win(deal, actor=actor)
    assert "Falta marcar: Negociado." in refused.value.message
    deal = service.mark_stage(deal, DealStage.NEGOTIATED, actor=actor)
    deal = service.win(deal, actor=actor)
    assert (deal.stage, deal.won_at, service.stage_percent(deal.stage)) == (DealStage.WON, NOON, 100)
    assert [m.stage for m in deal.marks] == ["created", "qualified", "developed", "proposed", "negotiated", "won"]


def test_ganho_is_refused_when_an_earlier_mark_is_missing_even_out_of_order(app_ctx, world, frozen):
    """Marks written some other way (an import, an old version) with a gap: Ganho names the gap."""
    deal = factories.deal(world.staff_comercial)
    for stage in (DealStage.DEVELOPED, DealStage.PROPOSED, DealStage.NEGOTIATED):
        db.session.add(DealStageMark(deal_id=deal.id, stage=stage))
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(ServiceError) as refused:
        service.win(db.session.get(Deal, deal.id), actor=comercial(world))
    assert "Falta marcar: Qualificado." in refused.value.message


def test_an_inbound_deal_needs_aceito_before_ganho(app_ctx, world, frozen):
    actor = comercial(world)
    deal = factories.deal(world.staff_comercial, SERVICES, inbound=True)
    assert service.missing_before_won(deal) == [DealStage.ACCEPTED, *service.SALES_STAGES]
    deal = service.accept(deal, actor=actor)
    assert [m.stage for m in deal.marks] == ["accepted"] and service.stage_percent(deal.stage) == 10
    deal = service.win(mark_through(deal, actor), actor=actor)
    assert deal.stage == DealStage.WON


def test_an_unknown_stage_is_refused(app_ctx, world, frozen):
    for stage in ("created", "won", "fechado"):
        with pytest.raises(ServiceError) as refused:
            service.mark_stage(factories.deal(world.staff_comercial), stage, actor=comercial(world))
        assert refused.value.field == "stage" and "Escolha uma etapa de vendas" in refused.value.message


def test_read_only_roles_move_nothing(app_ctx, world, frozen):
    deal = factories.deal(world.staff_comercial, SERVICES, inbound=True)
    for role in ("financeiro", "suporte", "compliance"):
        with pytest.raises(PermissionDenied):
            service.accept(deal, actor=Actor.for_user(getattr(world, f"staff_{role}")))
    assert db.session.get(Deal, deal.id).stage == DealStage.RECEIVED


# ---------------------------------------------------------------- editing and upgrading

def test_an_edit_records_what_changed_and_replaces_the_team(app_ctx, world, frozen):
    deal = factories.deal(world.staff_comercial)
    team = [service.TeamMemberData("Bruno Lima", "+55 21 97777-6666", "bruno@revenda.example.com"),
            service.TeamMemberData("Carla Dias", "+55 31 96666-5555", "carla@revenda.example.com")]
    changes = service.update_deal(deal, _same_data(deal, estimated_value_minor=200_000_00, team=team),
                                  actor=comercial(world))
    assert set(changes) == {"estimated_value_minor", "team"}
    db.session.expire_all()
    deal = db.session.get(Deal, deal.id)
    assert [m.name for m in deal.team] == ["Bruno Lima", "Carla Dias"]
    assert db.session.scalar(select(func.count(DealTeamMember.id)).where(DealTeamMember.deal_id == deal.id)) == 2
    updated = audit(deal, AuditTag.DEAL_UPDATED)[-1]
    assert updated.before == {"estimated_value_minor": 150_000_00,
                              "team": [["Ana Souza", "+55 11 98888-7777", "ana.souza@revenda.example.com"]]}
    assert updated.after["estimated_value_minor"] == 200_000_00 and len(updated.after["team"]) == 2
    assert deal_events(deal)[-1].detail == {"action": "updated", "fields": ["estimated_value_minor", "team"]}


def test_an_edit_without_changes_writes_nothing(app_ctx, world, frozen):
    deal = factories.deal(world.staff_comercial)
    assert service.update_deal(deal, _same_data(deal), actor=comercial(world)) == {}
    assert len(deal_events(deal)) == 1 and len(audit(deal)) == 1


def test_an_edit_keeps_the_type_and_the_location(app_ctx, world, frozen):
    deal = factories.deal(world.staff_comercial)
    with pytest.raises(service.DealInputError) as refused:
        service.update_deal(deal, _same_data(deal, location="PT", deal_type=DealType.P2P), actor=comercial(world))
    assert set(refused.value.errors) == {"location", "deal_type"}
    assert "Converter em co-sell" in refused.value.errors["deal_type"]


def test_a_past_close_date_is_kept_on_edit_but_not_typed(app_ctx, world, frozen):
    deal = factories.deal(world.staff_comercial, estimated_close_date=clock.today() + timedelta(days=5))
    clock.advance(timedelta(days=30))
    assert service.update_deal(deal, _same_data(deal, notes="Cliente pediu mais uma reunião."),
                               actor=comercial(world))
    with pytest.raises(service.DealInputError) as refused:
        service.update_deal(deal, _same_data(deal, estimated_close_date=clock.today() - timedelta(days=1)),
                            actor=comercial(world))
    assert set(refused.value.errors) == {"estimated_close_date"}


def test_a_private_deal_becomes_services_co_sell_with_the_services_fields(app_ctx, world, frozen):
    actor = comercial(world)
    deal = factories.deal(world.staff_comercial, DealType.PRIVATE, partner_role="", solution_area="")
    with pytest.raises(service.DealInputError) as refused:
        service.upgrade(deal, deal_type=SERVICES, actor=actor)
    assert set(refused.value.errors) == {"partner_role", "solution_area", "solution_play"}
    assert db.session.get(Deal, deal.id).deal_type == DealType.PRIVATE
    deal = service.upgrade(deal, deal_type=SERVICES, partner_role="proof_of_concept", solution_area="security",
                           solution_play="Secure your identities", actor=actor)
    assert (deal.deal_type, deal.partner_role, deal.stage) == (SERVICES, "proof_of_concept", DealStage.CREATED)
    upgraded = audit(deal, AuditTag.DEAL_UPDATED)[-1]
    assert upgraded.before["deal_type"] == "private" and upgraded.after["deal_type"] == "services_cosell"
    assert deal_events(deal)[-1].detail == {"action": "upgraded", "from_type": "private",
                                            "to_type": "services_cosell"}


def test_a_private_deal_becomes_ip_co_sell_only_with_a_solution(app_ctx, world, frozen):
    actor = comercial(world)
    deal = factories.deal(world.staff_comercial, DealType.PRIVATE)
    with pytest.raises(service.DealInputError) as refused:
        service.upgrade(deal, deal_type=IP, marketplace_intent="yes", actor=actor)
    assert set(refused.value.errors) == {"solutions"}
    assert "adicione a solução antes de converter" in refused.value.errors["solutions"]
    service.update_deal(deal, _same_data(deal, solutions=[service.SolutionData("Backup em Nuvem", True)]),
                        actor=actor)
    deal = service.upgrade(deal, deal_type=IP, marketplace_intent="yes", actor=actor)
    assert (deal.deal_type, deal.marketplace_intent, deal.partner_role) == (IP, "yes", "")


@pytest.mark.parametrize("target", [DealType.P2P, ASSESSMENT, DealType.PRIVATE, "qualquer"])
def test_a_private_deal_becomes_only_co_sell_or_partner_led(app_ctx, world, frozen, target):
    deal = factories.deal(world.staff_comercial, DealType.PRIVATE)
    with pytest.raises(service.DealInputError) as refused:
        service.upgrade(deal, deal_type=target, actor=comercial(world))
    assert "co-sell de IP, co-sell de serviços ou liderado por parceiro" in refused.value.errors["deal_type"]
    assert service.upgrade(deal, deal_type=DealType.PARTNER_LED, actor=comercial(world)).deal_type == "partner_led"


def test_only_a_private_deal_is_upgraded(app_ctx, world, frozen):
    deal = factories.deal(world.staff_comercial, DealType.PARTNER_LED)
    with pytest.raises(ServiceError) as refused:
        service.upgrade(deal, deal_type=SERVICES, partner_role="deployment", solution_area="security",
                        solution_play="x", actor=comercial(world))
    assert "Só negócios privados" in refused.value.message and "Liderado por parceiro" in refused.value.message


# ---------------------------------------------------------------- expiry of unanswered inbound deals

def test_unanswered_inbound_deals_expire_after_14_days_with_one_email(app_ctx, world, frozen, outbox):
    actor = comercial(world)
    waiting = factories.deal(world.staff_comercial, SERVICES, inbound=True, name="Indicação Microsoft — Hospital Beta")
    answered = service.accept(factories.deal(world.staff_comercial, IP, inbound=True), actor=actor)
    outbound = factories.deal(world.staff_comercial)
    clock.advance(timedelta(days=13))
    assert jobs.expire_inbound_deals.call_local() == 0
    clock.advance(timedelta(days=1) - timedelta(minutes=1))
    assert jobs.expire_inbound_deals.call_local() == 0
    db.session.expire_all()
    assert db.session.get(Deal, waiting.id).stage == DealStage.RECEIVED and outbox == []
    clock.advance(timedelta(minutes=1))  # 14 days to the minute
    assert jobs.expire_inbound_deals.call_local() == 1
    db.session.expire_all()
    expired = db.session.get(Deal, waiting.id)
    assert (expired.stage, expired.closed_at, expired.close_reason) == (
        DealStage.EXPIRED, NOON + timedelta(days=14), "Sem resposta em 14 dias.")
    assert db.session.get(Deal, answered.id).stage == DealStage.ACCEPTED
    assert db.session.get(Deal, outbound.id).stage == DealStage.CREATED
    [changed] = audit(expired, AuditTag.DEAL_STAGE_CHANGED)
    assert changed.actor_label == "system:cosell" and changed.before == {"stage": "received"}
    assert changed.after["stage"] == "expired"
    [mail] = outbox
    assert mail["To"] == app_ctx.config["MAIL_STAFF_TO"]
    body = mail_text(mail)
    assert "1 indicação de venda conjunta expirou sem resposta" in mail["Subject"]
    assert "Indicação Microsoft — Hospital Beta" in body and "Metalúrgica Alfa Ltda" in body
    assert f"http://portal.test/backoffice/venda-conjunta/{waiting.id}" in body
    clock.advance(timedelta(days=1))
    assert jobs.expire_inbound_deals.call_local() == 0  # never twice
    assert len(outbox) == 1


def test_several_expired_deals_share_one_email(app_ctx, world, frozen, outbox):
    first = factories.deal(world.staff_comercial, SERVICES, inbound=True, name="Primeira indicação")
    clock.advance(timedelta(days=2))
    second = factories.deal(world.staff_comercial, IP, inbound=True, name="Segunda indicação")
    clock.advance(timedelta(days=16))
    assert jobs.expire_inbound_deals.call_local() == 2
    [mail] = outbox
    assert "2 indicações de venda conjunta expiraram sem resposta" in mail["Subject"]
    body = mail_text(mail)
    assert "Primeira indicação" in body and "Segunda indicação" in body
    db.session.expire_all()
    assert {db.session.get(Deal, d.id).stage for d in (first, second)} == {DealStage.EXPIRED}


# ---------------------------------------------------------------- favourites

def test_favourites_are_per_user_and_toggle(app_ctx, world, frozen):
    inbound = factories.deal(world.staff_comercial, SERVICES, inbound=True)
    outbound = factories.deal(world.staff_comercial)
    comercial_actor, financeiro = comercial(world), Actor.for_user(world.staff_financeiro)
    assert service.toggle_favorite(inbound, actor=comercial_actor) is True
    assert service.toggle_favorite(outbound, actor=financeiro) is True
    assert [d.id for d in service.search_deals(tab="favoritos", user_id=world.staff_comercial.id)] == [inbound.id]
    assert [d.id for d in service.search_deals(tab="favoritos", user_id=world.staff_financeiro.id)] == [outbound.id]
    assert service.toggle_favorite(inbound, actor=comercial_actor) is False
    assert service.search_deals(tab="favoritos", user_id=world.staff_comercial.id) == []
    assert service.tab_counts(world.staff_financeiro.id) == {"entrada": 1, "saida": 1, "favoritos": 1, "waiting": 1}
    with pytest.raises(PermissionDenied):
        service.toggle_favorite(inbound, actor=Actor.for_user(world.master))


def test_tabs_and_filters(app_ctx, world, frozen):
    inbound = factories.deal(world.staff_comercial, IP, inbound=True, name="Data platform",
                             customer_name="Hospital Beta")
    private = factories.deal(world.staff_comercial, DealType.PRIVATE, name="Backup dos servidores",
                             customer_name="Loja Gama")
    services = factories.deal(world.staff_comercial, SERVICES, name="Migração 100%_total",
                              customer_name="Metalúrgica Alfa")
    uid = world.staff_comercial.id
    assert [d.id for d in service.search_deals(tab="entrada", user_id=uid)] == [inbound.id]
    assert [d.id for d in service.search_deals(tab="saida", user_id=uid)] == [services.id, private.id]
    assert [d.id for d in service.search_deals(tab="saida", user_id=uid, deal_type="private")] == [private.id]
    assert [d.id for d in service.search_deals(tab="saida", user_id=uid, query="GAMA")] == [private.id]
    assert [d.id for d in service.search_deals(tab="saida", user_id=uid, query="backup")] == [private.id]
    assert [d.id for d in service.search_deals(tab="saida", user_id=uid, query="100%_")] == [services.id]
    assert [d.id for d in service.search_deals(tab="saida", user_id=uid, query="0%_t")] == [services.id]
    assert service.search_deals(tab="saida", user_id=uid, query="%%") == []
    service.mark_stage(services, DealStage.QUALIFIED, actor=comercial(world))
    assert [d.id for d in service.search_deals(tab="saida", user_id=uid, stage="qualified")] == [services.id]
    page_one = service.search_deals(tab="saida", user_id=uid, page=1, per_page=1)
    page_two = service.search_deals(tab="saida", user_id=uid, page=2, per_page=1)
    assert [d.id for d in page_one] == [services.id, private.id] and [d.id for d in page_two] == [private.id]


# ---------------------------------------------------------------- deal registration eligibility

T0 = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def won_deal(world, *, after: timedelta = timedelta(hours=80), deal_type=IP, **overrides) -> Deal:
    """A deal created at T0 that meets every criterion unless `overrides` say otherwise, won `after` later."""
    fields = {"estimated_value_minor": 30_000_00, "currency": "USD", "account_managed_by_microsoft": True,
              "microsoft_accepted": True, **overrides}
    actor = comercial(world)
    with clock.frozen(T0):
        deal = mark_through(factories.deal(world.staff_comercial, deal_type, **fields), actor)
    with clock.frozen(T0 + after):
        return service.win(deal, actor=actor)


def test_a_deal_that_meets_every_criterion_is_eligible(app_ctx, world):
    result = service.eligibility(won_deal(world), usd_rates=RATES)
    assert result.eligible
    assert [(c.key, c.met) for c in result.criteria] == [
        ("ip_solution", True), ("deal_type", True), ("microsoft_accepted", True), ("value", True),
        ("managed_account", True), ("gap", True)]
    assert result["ip_solution"].facts["solutions"] == ["Backup em Nuvem"]
    assert result["value"].facts["usd_minor"] == 30_000_00 and result["value"].facts["converted"] is False
    assert (result["gap"].facts["hours"], result["gap"].facts["minutes"]) == (80, 0)


@pytest.mark.parametrize(("overrides", "unmet"), [
    ({"solutions": [service.SolutionData("Backup em Nuvem", ip_cosell_ready=False)]}, "ip_solution"),
    ({"deal_type": DealType.PRIVATE}, "deal_type"),
    ({"deal_type": DealType.P2P}, "deal_type"),
    ({"microsoft_accepted": False}, "microsoft_accepted"),
    ({"estimated_value_minor": 24_999_99}, "value"),
    ({"account_managed_by_microsoft": False}, "managed_account"),
    ({"after": timedelta(hours=72) - timedelta(seconds=1)}, "gap"),
])
def test_each_criterion_unmet(app_ctx, world, overrides, unmet):
    overrides = dict(overrides)
    if overrides.get("deal_type") in (DealType.PRIVATE, DealType.P2P):
        overrides["solutions"] = [service.SolutionData("Backup em Nuvem", ip_cosell_ready=True)]
    result = service.eligibility(won_deal(world, **overrides), usd_rates=RATES)
    assert not result.eligible
    assert [c.key for c in result.criteria if not c.met] == [unmet]


def test_72_hours_to_the_second_is_enough(app_ctx, world):
    result = service.eligibility(won_deal(world, after=timedelta(hours=72)), usd_rates=RATES)
    assert result["gap"].met and result["gap"].facts["hours"] == 72


def test_partner_led_needs_no_microsoft_acceptance(app_ctx, world):
    result = service.eligibility(won_deal(world, deal_type=DealType.PARTNER_LED,
                                          solutions=[service.SolutionData("Backup em Nuvem", True)]),
                                 usd_rates=RATES)
    assert result.eligible and result["microsoft_accepted"].facts == {"applies": False}


@pytest.mark.parametrize(("value", "currency", "rate", "usd", "met"), [
    (150_000_00, "BRL", Decimal("0.18"), 27_000_00, True),
    (138_888_00, "BRL", Decimal("0.18"), 24_999_84, False),
    (138_889_00, "BRL", Decimal("0.18"), 25_000_02, True),
    (23_148_15, "EUR", Decimal("1.08"), 25_000_00, True),  # 23,148.15 × 1.08 = 25,000.002 → 25,000.00
    (23_148_14, "EUR", Decimal("1.08"), 24_999_99, False),
])
def test_the_value_is_converted_to_dollars_with_the_configured_rate(app_ctx, world, value, currency, rate, usd, met):
    result = service.eligibility(won_deal(world, estimated_value_minor=value, currency=currency), usd_rates=RATES)
    facts = result["value"].facts
    assert (facts["rate"], facts["usd_minor"], facts["converted"], result["value"].met) == (rate, usd, True, met)


def test_a_currency_without_a_rate_is_not_converted(app_ctx, world):
    result = service.eligibility(won_deal(world, estimated_value_minor=1_000_000_00, currency="EUR"),
                                 usd_rates=service.parse_usd_rates("BRL=0.2"))
    assert not result["value"].met and result["value"].facts["usd_minor"] is None


def test_only_won_deals_have_an_eligibility(app_ctx, world, frozen):
    assert service.eligibility(factories.deal(world.staff_comercial), usd_rates=RATES) is None
    lost = service.lose(factories.deal(world.staff_comercial), reason="Perdemos.", actor=comercial(world))
    assert service.eligibility(lost, usd_rates=RATES) is None


@pytest.mark.parametrize(("text", "rates"), [
    ("BRL=0.18,EUR=1.08", {"USD": Decimal(1), "BRL": Decimal("0.18"), "EUR": Decimal("1.08")}),
    (" brl = 0.2 , ", {"USD": Decimal(1), "BRL": Decimal("0.2")}),
    ("", {"USD": Decimal(1)}),
])
def test_the_rate_setting_is_read(text, rates):
    assert service.parse_usd_rates(text) == rates


@pytest.mark.parametrize("text", ["BRL", "BRL=abc", "BRL=-1", "BRL=0", "REAL=0.2", "BRL=NaN", "BRL=inf"])
def test_a_bad_rate_setting_is_refused(text):
    with pytest.raises(ValueError):
        service.parse_usd_rates(text)


def test_amounts_show_their_currency():
    assert service.format_amount(123_456, "BRL") == "R$ 1.234,56"
    assert service.format_amount(2_500_000, "USD") == "US$ 25.000,00"
    assert service.format_amount(99, "EUR", "en") == "€0.99"
