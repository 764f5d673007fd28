"""The backoffice "Venda conjunta" routes, for tests/test_permissions.py, and helpers that make deals."""

from dataclasses import replace
from datetime import timedelta

from portal.cosell import service
from portal.cosell.models import DealType
from portal.shared import clock
from portal.shared.audit import Actor

TEAM = [service.TeamMemberData("Ana Souza", "+55 11 98888-7777", "ana.souza@revenda.example.com")]


def deal_data(deal_type: str = DealType.SERVICES_COSELL, **overrides) -> service.DealData:
    """A referral form that every type accepts as it is (the type's own required fields filled in)."""
    data = service.DealData(
        deal_type=deal_type, name="Migração para o Azure — Metalúrgica Alfa", location="BR",
        customer_name="Metalúrgica Alfa Ltda", customer_location="Joinville, SC",
        estimated_value_minor=150_000_00, currency="BRL", estimated_close_date=clock.today() + timedelta(days=60),
        notes="Cliente quer sair do datacenter próprio até o fim do ano; precisamos de apoio técnico da Microsoft.",
        team=list(TEAM),
    )
    if deal_type == DealType.SERVICES_COSELL:
        data = replace(data, partner_role="deployment", solution_area="infrastructure",
                       solution_play="Migrate and Modernize")
    if deal_type in (DealType.IP_COSELL, DealType.SOLUTION_ASSESSMENT):
        data = replace(data, solutions=[service.SolutionData("Backup em Nuvem", ip_cosell_ready=True)])
    return replace(data, **overrides)


def comercial(world) -> Actor:
    return Actor.for_user(world.staff_comercial)


def make_deal(world, deal_type: str = DealType.SERVICES_COSELL, *, inbound: bool = False, **overrides):
    data = deal_data(deal_type, **overrides)
    if inbound:
        return service.register_inbound(data, actor=comercial(world))
    return service.create_outbound(data, actor=comercial(world))


def _deal(world, **kwargs) -> dict:
    return {"deal_id": make_deal(world, **kwargs).id}


STAFF_ROUTES = {
    "backoffice.deals": ("GET", {}),
    "backoffice.deal_create": ("GET", {}),
    "backoffice.deal_register_inbound": ("GET", {}),
    "backoffice.deal": ("GET", _deal),
    "backoffice.deal_edit": ("GET", _deal),
    "backoffice.deal_favorite": ("POST", _deal),
    "backoffice.deal_accept": ("POST", lambda w: _deal(w, inbound=True)),
    "backoffice.deal_decline": ("POST", lambda w: _deal(w, inbound=True)),  # no reason: refused with 422
    "backoffice.deal_mark_stage": ("POST", _deal),  # no stage: 422
    "backoffice.deal_win": ("POST", _deal),  # stages missing: 422
    "backoffice.deal_lose": ("POST", _deal),  # no reason: 422
    "backoffice.deal_close_error": ("POST", _deal),  # no reason: 422
    "backoffice.deal_upgrade": ("POST", lambda w: _deal(w, deal_type=DealType.PRIVATE)),  # no type: 422
}
