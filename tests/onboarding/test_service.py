"""The onboarding pipeline's service: every allowed and refused transition, what each stage says is missing, the
contract for e-signature, the signature's completion, the financeiro approval and the handover card."""

from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Membership, Organization
from portal.catalog.models import ProductPrice
from portal.extensions import db
from portal.integrations.esign import SignatureError, SignatureRequest, SignatureSimulator, Signer
from portal.integrations.teams import TeamsError, TeamsSimulator
from portal.onboarding import jobs
from portal.onboarding import service as onboarding
from portal.onboarding.models import STAGE_ORDER, Opportunity, OpportunityEvent, Stage
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.documents import load
from portal.shared.errors import PermissionDenied, ServiceError
from portal.subscriptions.models import Order, OrderKind, Subscription
from tests import factories
from tests.fakes.pdf import flat, page_count, pdf_text

S = Stage
ALL_STAGES = [*STAGE_ORDER, Stage.LOST]
LOST_REASON = "O cliente escolheu outro fornecedor."

# What staff may do with "Avançar" (and "Perder"): the one next stage when it is taken by hand, and LOST from any
# stage before the approval. Every other pair is refused.
BY_HAND = {
    (S.PRESENTATION, S.SURVEY), (S.SURVEY, S.REGISTERED), (S.REGISTERED, S.PROPOSAL), (S.PROPOSAL, S.NEGOTIATION),
    (S.CONTRACT_SIGNED, S.WON), (S.WON, S.REVIEW), (S.REVIEW, S.APPROVAL),
} | {(stage, S.LOST) for stage in (S.PRESENTATION, S.SURVEY, S.REGISTERED, S.PROPOSAL, S.NEGOTIATION,
                                   S.CONTRACT_SENT, S.CONTRACT_SIGNED, S.WON, S.REVIEW, S.APPROVAL)}


@pytest.fixture
def settings(app_ctx):
    return onboarding.OnboardingSettings.from_config(app_ctx.config)


@pytest.fixture
def comercial(app_ctx):
    return Actor.for_user(factories.StaffUserFactory(roles=["comercial"], name="Carla Comercial"))


@pytest.fixture
def esign(app_ctx):
    """A fresh e-signature simulator for the test (the app's is restored afterwards)."""
    original = app_ctx.extensions["esign"]
    app_ctx.extensions["esign"] = simulator = SignatureSimulator(webhook_secret="test-webhook-secret")
    yield simulator
    app_ctx.extensions["esign"] = original


@pytest.fixture
def teams(app_ctx):
    original = app_ctx.extensions["teams"]
    app_ctx.extensions["teams"] = simulator = TeamsSimulator()
    yield simulator
    app_ctx.extensions["teams"] = original


def _approve(opportunity, **kwargs):
    """The approval with the app's provisioner (the Partner Center simulator)."""
    from flask import current_app

    return onboarding.approve(opportunity, provisioner=current_app.extensions["provisioner"], **kwargs)


def _events(opportunity) -> list[tuple[str | None, str]]:
    return [tuple(row) for row in db.session.execute(
        select(OpportunityEvent.from_stage, OpportunityEvent.to_stage)
        .where(OpportunityEvent.opportunity_id == opportunity.id).order_by(OpportunityEvent.id))]


def _audit(tag, opportunity) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == str(tag),
                                                            AuditEvent.subject == f"opportunity:{opportunity.id}")
                                   .order_by(AuditEvent.seq)))


# ---------------------------------------------------------------- the state machine, pair by pair

@pytest.mark.parametrize("to", ALL_STAGES, ids=str)
@pytest.mark.parametrize("frm", ALL_STAGES, ids=str)
def test_every_transition_by_hand(app_ctx, settings, comercial, frm, to):
    opportunity = factories.opportunity(frm)
    note = LOST_REASON if to == S.LOST else ""
    if (frm, to) in BY_HAND:
        onboarding.advance(opportunity, to=to, actor=comercial, note=note, settings=settings)
        db.session.expire_all()
        opportunity = db.session.get(Opportunity, opportunity.id)
        assert opportunity.stage == to
        assert _events(opportunity)[-1] == (frm, to)
        [audit] = _audit(AuditTag.OPPORTUNITY_STAGE_CHANGED, opportunity)
        assert audit.before == {"stage": frm} and audit.after["stage"] == to
        assert audit.actor_id == comercial.user_id
        if to == S.LOST:
            assert opportunity.lost_reason == LOST_REASON and audit.after["note"] == LOST_REASON
    else:
        with pytest.raises(ServiceError):
            onboarding.advance(opportunity, to=to, actor=comercial, note=note, settings=settings)
        db.session.rollback()
        assert db.session.get(Opportunity, opportunity.id).stage == frm
        assert _events(opportunity) == []
        assert _audit(AuditTag.OPPORTUNITY_STAGE_CHANGED, opportunity) == []


@pytest.mark.parametrize("frm", ALL_STAGES, ids=str)
def test_contract_goes_out_only_from_negotiation(app_ctx, settings, comercial, esign, frm):
    opportunity = factories.opportunity(frm)
    if frm == S.NEGOTIATION:
        document_id = onboarding.send_contract(opportunity, actor=comercial, esign=esign, settings=settings)
        assert db.session.get(Opportunity, opportunity.id).stage == S.CONTRACT_SENT
        assert esign.status(document_id).signers
    else:
        with pytest.raises(ServiceError):
            onboarding.send_contract(opportunity, actor=comercial, esign=esign, settings=settings)
        assert db.session.get(Opportunity, opportunity.id).stage == frm
        assert esign._documents == {}


@pytest.mark.parametrize("frm", ALL_STAGES, ids=str)
def test_only_financeiro_approval_leaves_approval(app_ctx, settings, teams, frm):
    financeiro = Actor.for_user(factories.StaffUserFactory(roles=["financeiro"]))
    opportunity = factories.opportunity(frm)
    if frm == S.APPROVAL:
        _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: f"/c/{t}")
        db.session.expire_all()
        assert db.session.get(Opportunity, opportunity.id).stage == S.IMPLANTATION  # the card went out inline
    else:
        with pytest.raises(ServiceError):
            _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: f"/c/{t}")
        assert db.session.get(Opportunity, opportunity.id).stage == frm
        assert db.session.scalar(select(func.count(Organization.id)).where(
            Organization.cnpj == opportunity.cnpj)) == 0


@pytest.mark.parametrize("frm", ALL_STAGES, ids=str)
def test_implantation_is_done_only_after_the_card(app_ctx, frm):
    suporte = Actor.for_user(factories.StaffUserFactory(roles=["suporte"]))
    opportunity = factories.opportunity(frm)
    if frm == S.IMPLANTATION:
        onboarding.mark_implantation_done(opportunity, actor=suporte, note="Agente instalado nos 2 servidores.")
        opportunity = db.session.get(Opportunity, opportunity.id)
        assert opportunity.stage == S.ACTIVE and opportunity.implantation_done_by_id == suporte.user_id
        [audit] = _audit(AuditTag.IMPLANTATION_DONE, opportunity)
        assert audit.after == {"note": "Agente instalado nos 2 servidores."}
    else:
        with pytest.raises(ServiceError):
            onboarding.mark_implantation_done(opportunity, actor=suporte)
        assert db.session.get(Opportunity, opportunity.id).stage == frm


@pytest.mark.parametrize("frm", ALL_STAGES, ids=str)
def test_signature_completes_only_a_contract_out_for_signature(app_ctx, esign, frm):
    """A signed document moves the opportunity only from "contrato enviado"; later stages already have it."""
    opportunity = factories.opportunity(frm)
    system = Actor.system("test")
    if opportunity.signature_document_id is None:
        assert onboarding.complete_signature("sim-unknown", esign=esign, actor=system) == "unknown"
        assert db.session.get(Opportunity, opportunity.id).stage == frm
        return
    document_id = esign.create_document(SignatureRequest(name="Contrato", pdf=b"%PDF-1.4 x", signers=(
        Signer("Rita", "rita@acme.example.com"),)))
    opportunity.signature_document_id = document_id
    db.session.commit()
    esign.sign(document_id)
    outcome = onboarding.complete_signature(document_id, esign=esign, actor=system)
    if frm == S.CONTRACT_SENT:
        assert outcome == "signed" and db.session.get(Opportunity, opportunity.id).stage == S.CONTRACT_SIGNED
    else:
        assert outcome == "already" and db.session.get(Opportunity, opportunity.id).stage == frm


@pytest.mark.parametrize("frm", ALL_STAGES, ids=str)
def test_the_card_is_posted_only_in_handover(app_ctx, teams, frm):
    opportunity = factories.opportunity(frm)
    outcome = onboarding.post_handover(opportunity.id, teams=teams, contract_url="http://x/c.pdf",
                                       actor=Actor.system("t"))
    if frm == S.HANDOVER:
        assert outcome == "posted" and db.session.get(Opportunity, opportunity.id).stage == S.IMPLANTATION
        assert len(teams.posted) == 1
    else:
        assert outcome == "skipped" and teams.posted == []
        assert db.session.get(Opportunity, opportunity.id).stage == frm


def test_lost_needs_a_reason_of_ten_characters(app_ctx, settings, comercial):
    opportunity = factories.opportunity(S.PROPOSAL)
    with pytest.raises(ServiceError) as refused:
        onboarding.advance(opportunity, to=S.LOST, actor=comercial, note="  caro   ", settings=settings)
    assert refused.value.field == "reason" and "10 caracteres" in refused.value.message
    assert db.session.get(Opportunity, opportunity.id).stage == S.PROPOSAL


@pytest.mark.parametrize("terminal", [S.ACTIVE, S.LOST], ids=str)
def test_terminal_opportunities_are_immutable(app_ctx, settings, comercial, terminal):
    opportunity = factories.opportunity(terminal)
    product = factories.ProductFactory()
    with pytest.raises(ServiceError, match="encerrada"):
        onboarding.advance(opportunity, to=S.LOST, actor=comercial, note=LOST_REASON, settings=settings)
    with pytest.raises(ServiceError):
        onboarding.update_opportunity(opportunity, onboarding.OpportunityData(company_name="Outro nome"),
                                      actor=comercial)
    with pytest.raises(ServiceError):
        onboarding.set_item(opportunity, product_id=product.id, quantity=1, actor=comercial)
    with pytest.raises(ServiceError):
        onboarding.generate_proposal(opportunity, actor=comercial, settings=settings)
    assert db.session.get(Opportunity, opportunity.id).company_name == "Acme Backup"


def test_unknown_target_stage_is_refused(app_ctx, settings, comercial):
    opportunity = factories.opportunity(S.PRESENTATION)
    with pytest.raises(ServiceError, match="Etapa desconhecida"):
        onboarding.advance(opportunity, to="ganhou", actor=comercial, settings=settings)


def test_stage_actions_need_their_staff_permission(app_ctx, settings, esign):
    compliance = Actor.for_user(factories.StaffUserFactory(roles=["compliance"]))
    financeiro = Actor.for_user(factories.StaffUserFactory(roles=["financeiro"]))
    comercial = Actor.for_user(factories.StaffUserFactory(roles=["comercial"]))
    for actor in (compliance, financeiro):
        with pytest.raises(PermissionDenied):
            onboarding.advance(factories.opportunity(S.PRESENTATION), to=S.SURVEY, actor=actor, settings=settings)
        with pytest.raises(PermissionDenied):
            onboarding.send_contract(factories.opportunity(S.NEGOTIATION), actor=actor, esign=esign, settings=settings)
    for actor in (compliance, comercial):
        with pytest.raises(PermissionDenied):
            _approve(factories.opportunity(S.APPROVAL), actor=actor, settings=settings,
                     url_for_token=lambda t: t)
        with pytest.raises(PermissionDenied):
            onboarding.mark_implantation_done(factories.opportunity(S.IMPLANTATION), actor=actor)


# ---------------------------------------------------------------- what is missing

def test_registering_lists_every_missing_contact_field(app_ctx, settings, comercial):
    opportunity = onboarding.create_opportunity(onboarding.OpportunityData(company_name="Beta Ltda"), actor=comercial)
    onboarding.advance(opportunity, to=S.SURVEY, actor=comercial, settings=settings)
    with pytest.raises(onboarding.MissingData) as refused:
        onboarding.advance(opportunity, to=S.REGISTERED, actor=comercial, settings=settings)
    assert refused.value.missing == ["nome do responsável", "telefone", "e-mail", "CNPJ"]
    assert refused.value.message == ("Para ir para “Oportunidade registrada”, falta: nome do responsável; telefone; "
                                     "e-mail; CNPJ.")


def test_invalid_email_and_cnpj_are_named(app_ctx, settings):
    opportunity = factories.opportunity(S.SURVEY, email="rita-at-acme", cnpj="11222333000100")
    assert onboarding.missing_for(opportunity, S.REGISTERED, settings=settings) == [
        "e-mail válido (“rita-at-acme” não é um e-mail)", "CNPJ válido (confira os dígitos verificadores)"]


def test_a_proposal_needs_a_product(app_ctx, settings, comercial):
    opportunity = factories.opportunity(S.REGISTERED, items=[])
    with pytest.raises(onboarding.MissingData) as refused:
        onboarding.advance(opportunity, to=S.PROPOSAL, actor=comercial, settings=settings)
    assert refused.value.missing == ["pelo menos um produto na proposta"]


def test_the_contract_needs_registration_billing_and_backup_data(app_ctx, settings):
    opportunity = factories.opportunity(
        S.NEGOTIATION, legal_name="", street="", number="", district="", city="", state="", postal_code="0100",
        billing_day=None, first_payment_date=clock.today() - timedelta(days=1), disk_space_gb=None,
        installation_sites=None, windows_server_licenses=None, windows_server_version="")
    yesterday = (clock.today() - timedelta(days=1)).strftime("%d/%m/%Y")
    assert onboarding.missing_for(opportunity, S.CONTRACT_SENT, settings=settings) == [
        "razão social", "logradouro", "número do endereço", "bairro", "cidade", "UF", "CEP com 8 dígitos",
        "dia de faturamento", f"data da 1ª mensalidade a partir de hoje ({yesterday} já passou)",
        "espaço em disco (Backup em Nuvem)", "quantidade de locais de instalação (Backup em Nuvem)",
        "quantidade de licenças do Windows Server (Backup em Nuvem)", "versão do Windows Server (Backup em Nuvem)",
    ]


def test_without_backup_em_nuvem_no_sizing_is_asked(app_ctx, settings):
    opportunity = factories.opportunity(S.NEGOTIATION, items=[(factories.ProductFactory(), 10)],
                                        disk_space_gb=None, installation_sites=None, windows_server_licenses=None,
                                        windows_server_version="")
    assert onboarding.missing_for(opportunity, S.CONTRACT_SENT, settings=settings) == []


def test_approval_refuses_a_cnpj_that_is_already_a_customer(app_ctx, settings, comercial, world):
    opportunity = factories.opportunity(S.REVIEW, cnpj=world.demo.cnpj)
    with pytest.raises(onboarding.MissingData) as refused:
        onboarding.advance(opportunity, to=S.APPROVAL, actor=comercial, settings=settings)
    [problem] = refused.value.missing
    assert "já é a organização “Demo Tecnologia Ltda”" in problem


def test_the_next_step_says_what_is_missing_before_anyone_tries(app_ctx, settings):
    opportunity = factories.opportunity(S.NEGOTIATION, windows_server_version="2012 R2")
    step = onboarding.next_step(opportunity, settings=settings)
    assert step.stage == S.CONTRACT_SENT and step.how == "send_contract"
    assert step.missing == ["versão do Windows Server suportada: versão não suportada “2012 R2” "
                            "(suportadas: 2016, 2019, 2022, 2025)"]
    assert onboarding.next_step(factories.opportunity(S.CONTRACT_SENT), settings=settings).how == "signature"
    assert onboarding.next_step(factories.opportunity(S.ACTIVE), settings=settings).stage is None


# ---------------------------------------------------------------- the contract and its signature

def test_an_unsupported_windows_server_is_refused_before_the_contract_is_sent(app_ctx, settings, comercial, esign):
    opportunity = factories.opportunity(S.NEGOTIATION, windows_server_version="Windows Server 2012 R2")
    with pytest.raises(onboarding.MissingData) as refused:
        onboarding.send_contract(opportunity, actor=comercial, esign=esign, settings=settings)
    assert "versão não suportada “Windows Server 2012 R2”" in refused.value.message
    assert esign._documents == {}  # nothing went to the e-signature provider
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.NEGOTIATION and opportunity.signature_document_id is None
    assert _audit(AuditTag.CONTRACT_SENT_FOR_SIGNATURE, opportunity) == []


def test_windows_server_versions_come_from_the_settings(app_ctx):
    settings = onboarding.OnboardingSettings.from_config({**app_ctx.config, "BACKUP_WINDOWS_SERVER_VERSIONS": "2022"})
    assert settings.supports("Windows Server 2022") and settings.supports(" 2022 ")
    assert not settings.supports("2019") and not settings.supports("2022 R2")


def test_sending_the_contract(app_ctx, settings, comercial, esign):
    microsoft = factories.ProductFactory(name="Microsoft 365 Business Basic", price=3290)
    backup = factories.own_service_product(name="Backup em Nuvem 500 GB", price=15000)
    opportunity = factories.opportunity(S.NEGOTIATION, items=[(backup, 1), (microsoft, 12)], proposal_pdf_sha256=None)
    document_id = onboarding.send_contract(opportunity, actor=comercial, esign=esign, settings=settings)

    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.CONTRACT_SENT and opportunity.signature_document_id == document_id
    assert opportunity.signature_provider == "simulator"
    document = esign._documents[document_id]
    assert [(s.name, s.email) for s in document.signers] == [
        ("Rita Responsável", "rita@acme.example.com"), ("Carla Comercial", comercial.user.email)]
    contract, _type = load(opportunity.contract_pdf_sha256)
    assert contract == document.pdf
    text = flat(pdf_text(contract))
    assert "CONTRATANTE: Acme Backup Ltda (Acme)" in text and "neste ato representada por Rita Responsável" in text
    assert "todo dia 10" in text and opportunity.first_payment_date.strftime("%d/%m/%Y") in text
    annex = flat(pdf_text(contract, first_page=2))  # the approved proposal starts on a page of its own
    assert "Anexo I — Proposta" in annex and "Serviços propostos" in annex
    assert "Microsoft 365 Business Basic" in text and "R$ 394,80" in text  # 12 × R$ 32,90 a month
    assert "Windows Server" in text and "2019" in text
    assert page_count(contract) >= 2
    proposal, _type = load(opportunity.proposal_pdf_sha256)
    assert "Backup em Nuvem 500 GB" in flat(pdf_text(proposal))
    [audit] = _audit(AuditTag.CONTRACT_SENT_FOR_SIGNATURE, opportunity)
    assert audit.after["document_id"] == document_id
    assert audit.after["signers"] == ["rita@acme.example.com", comercial.user.email]
    assert _events(opportunity)[-1] == (S.NEGOTIATION, S.CONTRACT_SENT)


def test_the_proposal_pdf_lists_items_prices_totals_and_terms(app_ctx, settings, comercial):
    product = factories.ProductFactory(name="Microsoft 365 E3", price=20000)
    opportunity = factories.opportunity(S.PROPOSAL, items=[(product, 5)])
    digest = onboarding.generate_proposal(opportunity, actor=comercial, settings=settings)
    text = flat(pdf_text(load(digest)[0]))
    assert "Proposta comercial" in text and "Microsoft 365 E3" in text
    assert "R$ 200,00" in text and "R$ 1.000,00" in text and "anual" in text
    # A change to the items drops the proposal: it is made again from the new items.
    onboarding.set_item(opportunity, product_id=product.id, quantity=6, actor=comercial)
    assert db.session.get(Opportunity, opportunity.id).proposal_pdf_sha256 is None


def test_the_provider_refusing_the_contract_changes_nothing(app_ctx, settings, comercial):
    class Down:
        name = "autentique"

        def create_document(self, request):
            raise SignatureError("503 Service Unavailable", retryable=True)

    opportunity = factories.opportunity(S.NEGOTIATION)
    with pytest.raises(ServiceError, match="não respondeu"):
        onboarding.send_contract(opportunity, actor=comercial, esign=Down(), settings=settings)
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.NEGOTIATION and opportunity.contract_pdf_sha256 is None


def test_the_contract_is_kept_before_anyone_is_asked_to_sign_it(app_ctx, settings, comercial, esign, request):
    opportunity = factories.opportunity(S.NEGOTIATION)
    request.getfixturevalue("store_down")  # from now on
    with pytest.raises(ServiceError, match="Não foi possível guardar os arquivos agora"):
        onboarding.send_contract(opportunity, actor=comercial, esign=esign, settings=settings)
    assert esign._documents == {}  # nothing went to the e-signature provider
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.NEGOTIATION and opportunity.contract_pdf_sha256 is None
    assert _audit(AuditTag.CONTRACT_SENT_FOR_SIGNATURE, opportunity) == []


def _sent(settings, comercial, esign, **data) -> Opportunity:
    opportunity = factories.opportunity(S.NEGOTIATION, **data)
    onboarding.send_contract(opportunity, actor=comercial, esign=esign, settings=settings)
    return db.session.get(Opportunity, opportunity.id)


def test_signature_completion_is_idempotent(app_ctx, settings, comercial, esign):
    opportunity = _sent(settings, comercial, esign)
    document_id = opportunity.signature_document_id
    system = Actor.system("test")
    esign.sign(document_id, "rita@acme.example.com")
    assert onboarding.complete_signature(document_id, esign=esign, actor=system) == "pending"
    esign.sign(document_id)
    assert onboarding.complete_signature(document_id, esign=esign, actor=system) == "signed"
    assert onboarding.complete_signature(document_id, esign=esign, actor=system) == "already"
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.CONTRACT_SIGNED and opportunity.signed_at is not None
    assert load(opportunity.signed_pdf_sha256)[0] == esign.download_signed(document_id)
    assert len(_audit(AuditTag.CONTRACT_SIGNED, opportunity)) == 1
    assert _events(opportunity)[-1] == (S.CONTRACT_SENT, S.CONTRACT_SIGNED)


def test_a_refused_signature_does_not_move_the_opportunity(app_ctx, settings, comercial, esign):
    opportunity = _sent(settings, comercial, esign)
    esign.reject(opportunity.signature_document_id, "rita@acme.example.com")
    assert onboarding.complete_signature(opportunity.signature_document_id, esign=esign,
                                         actor=Actor.system("t")) == "rejected"
    assert db.session.get(Opportunity, opportunity.id).stage == S.CONTRACT_SENT


def test_the_polling_job_completes_a_signature_whose_webhook_was_lost(app_ctx, settings, comercial, esign):
    opportunity = _sent(settings, comercial, esign)
    waiting = _sent(settings, comercial, esign, company_name="Ainda Assinando")
    esign.sign(opportunity.signature_document_id)  # the webhook call it returns is dropped
    assert jobs.poll_signatures.call_local() == 1
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).stage == S.CONTRACT_SIGNED
    assert db.session.get(Opportunity, waiting.id).stage == S.CONTRACT_SENT


def test_a_signed_contract_waits_while_the_document_store_is_down(app_ctx, settings, comercial, esign, request):
    opportunity = _sent(settings, comercial, esign)
    esign.sign(opportunity.signature_document_id)  # its webhook call is dropped; the poll finds it
    back_up = request.getfixturevalue("store_down")  # from now on
    assert jobs.poll_signatures.call_local() == 0  # the store is down: nothing moves, the next run asks again
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).stage == S.CONTRACT_SENT
    back_up()
    assert jobs.poll_signatures.call_local() == 1
    db.session.expire_all()
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.CONTRACT_SIGNED and load(opportunity.signed_pdf_sha256)[0] == \
        esign.download_signed(opportunity.signature_document_id)


# ---------------------------------------------------------------- approval, handover, implantação

def test_approval_creates_the_customer_its_master_and_its_subscriptions(app_ctx, settings, teams, outbox):
    financeiro = Actor.for_user(factories.StaffUserFactory(roles=["financeiro"]))
    backup = factories.own_service_product(name="Backup em Nuvem 500 GB", price=15000)
    microsoft = factories.ProductFactory(name="Microsoft 365 Business Basic", price=3290)
    opportunity = factories.opportunity(S.APPROVAL, items=[(backup, 1), (microsoft, 12)], billing_day=15)

    organization = _approve(opportunity, actor=financeiro, settings=settings,
                                      url_for_token=lambda t: f"http://portal.test/convite/{t}")
    db.session.expire_all()

    assert (organization.legal_name, organization.trade_name, organization.cnpj, organization.billing_day) == (
        "Acme Backup Ltda", "Acme", opportunity.cnpj, 15)
    [membership] = db.session.scalars(select(Membership).where(Membership.organization_id == organization.id))
    assert membership.user.email == "rita@acme.example.com" and membership.roles == {"master"}
    assert membership.accepted_at is None and membership.pending_invitation is not None
    [invitation] = [m for m in outbox if "rita@acme.example.com" in m["To"]]
    assert "http://portal.test/convite/" in invitation.get_body(("plain",)).get_content()
    subscriptions = db.session.scalars(select(Subscription).where(
        Subscription.organization_id == organization.id).order_by(Subscription.id)).all()
    assert [(s.product_id, s.quantity) for s in subscriptions] == [(backup.id, 1), (microsoft.id, 12)]
    orders = db.session.scalars(select(Order).where(Order.organization_id == organization.id)).all()
    assert sorted((o.subscription_id, o.kind, o.quantity) for o in orders) == sorted(
        (s.id, OrderKind.PURCHASE, s.quantity) for s in subscriptions)

    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.organization_id == organization.id and opportunity.approved_by_id == financeiro.user_id
    assert opportunity.stage == S.IMPLANTATION and opportunity.handover_status == "posted"
    assert [(frm, to) for frm, to in _events(opportunity) if frm != to] == [
        (S.APPROVAL, S.HANDOVER), (S.HANDOVER, S.IMPLANTATION)]
    [approved] = _audit(AuditTag.OPPORTUNITY_APPROVED, opportunity)
    assert approved.organization_id == organization.id and approved.after["orders"] == [o.id for o in orders]
    [posted] = _audit(AuditTag.HANDOVER_POSTED, opportunity)
    assert posted.after["title"] == "Acme Backup Ltda - Rita Responsável"

    [card] = teams.posted
    assert card.title == "Acme Backup Ltda - Rita Responsável"
    assert (card.company, card.responsible, card.phone, card.email) == (
        "Acme Backup Ltda", "Rita Responsável", "(11) 98888-7777", "rita@acme.example.com")
    assert (card.disk_space, card.installation_sites, card.licenses, card.windows_server_version) == (
        "500 GB", "2", "3", "2019")
    assert card.billing_date.startswith("dia 15 de cada mês")
    assert card.first_payment_date == opportunity.first_payment_date.strftime("%d/%m/%Y")
    assert card.notes == "Cliente prefere contato pela manhã."
    assert card.contract_url == f"http://portal.test/backoffice/contratacao/{opportunity.id}/contrato-assinado.pdf"


def test_approval_refuses_a_price_that_changed_since_the_proposal(app_ctx, settings, teams):
    financeiro = Actor.for_user(factories.StaffUserFactory(roles=["financeiro"]))
    product = factories.ProductFactory(name="Microsoft 365 E3", price=20000)
    opportunity = factories.opportunity(S.APPROVAL, items=[(product, 5)])
    db.session.add(ProductPrice(product=product, unit_price_cents=21000, effective_from=clock.today()))
    db.session.commit()
    with pytest.raises(onboarding.MissingData) as refused:
        _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    assert refused.value.missing == [
        "o preço de Microsoft 365 E3 na proposta (R$ 200,00) igual ao do catálogo hoje (R$ 210,00)"]
    assert db.session.scalar(select(func.count(Organization.id)).where(Organization.cnpj == opportunity.cnpj)) == 0
    assert teams.posted == []


def test_an_approval_that_fails_half_way_leaves_nothing_behind(app_ctx, settings, teams, world):
    """The responsible person's e-mail belongs to staff: the organization, already flushed, is rolled back."""
    financeiro = Actor.for_user(world.staff_financeiro)
    opportunity = factories.opportunity(S.APPROVAL, email=world.staff_comercial.email)
    with pytest.raises(ServiceError, match="pertence à equipe"):
        _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    assert db.session.scalar(select(func.count(Organization.id)).where(Organization.cnpj == opportunity.cnpj)) == 0
    assert db.session.get(Opportunity, opportunity.id).stage == S.APPROVAL


def test_a_refused_card_is_shown_and_can_be_posted_again(app_ctx, settings, teams):
    financeiro = Actor.for_user(factories.StaffUserFactory(roles=["financeiro"]))
    comercial = Actor.for_user(factories.StaffUserFactory(roles=["comercial"]))
    teams.fail_with = TeamsError("Teams Workflows answered 400: flow disabled", retryable=False, status=400)
    opportunity = factories.opportunity(S.APPROVAL)
    _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    db.session.expire_all()
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.HANDOVER and opportunity.handover_status == "failed"
    assert "flow disabled" in opportunity.handover_error
    assert _audit(AuditTag.HANDOVER_POSTED, opportunity) == []

    teams.fail_with = None
    onboarding.request_handover_again(opportunity, actor=comercial)  # the job runs inline
    db.session.expire_all()
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.IMPLANTATION and opportunity.handover_status == "posted"
    assert opportunity.handover_error is None and opportunity.handover_posted_at is not None
    assert len(teams.posted) == 1
    with pytest.raises(ServiceError, match="só é publicado"):
        onboarding.request_handover_again(opportunity, actor=comercial)


def test_a_retryable_teams_failure_is_retried_by_the_job(app_ctx, settings, teams):
    teams.fail_with = TeamsError("Teams Workflows answered 503", retryable=True, status=503)
    opportunity = factories.opportunity(S.HANDOVER)
    with pytest.raises(jobs.HandoverRetry):
        jobs.post_handover_card.call_local(opportunity.id, task=type("T", (), {"retries": 3})())
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).handover_status == "failed"
    # The last try records the failure and stops.
    assert jobs.post_handover_card.call_local(opportunity.id, task=type("T", (), {"retries": 0})()) == "retry"


# ---------------------------------------------------------------- data and items

def test_editing_data_is_audited_with_what_changed(app_ctx, comercial):
    opportunity = factories.opportunity(S.SURVEY)
    data = onboarding.OpportunityData(**{**factories.opportunity_data(), "cnpj": opportunity.cnpj,
                                         "phone": "(21) 3333-4444",
                                         "postal_code": "01001-000", "state": "sp"})
    assert onboarding.update_opportunity(opportunity, data, actor=comercial) is True
    [audit] = _audit(AuditTag.OPPORTUNITY_UPDATED, opportunity)
    assert (audit.before, audit.after) == ({"phone": "(11) 98888-7777"}, {"phone": "(21) 3333-4444"})
    assert onboarding.update_opportunity(opportunity, data, actor=comercial) is False


def test_items_are_frozen_once_the_contract_is_out(app_ctx, comercial):
    opportunity = factories.opportunity(S.CONTRACT_SENT)
    with pytest.raises(ServiceError, match="não mudam mais"):
        onboarding.set_item(opportunity, product_id=factories.ProductFactory().id, quantity=1, actor=comercial)
    with pytest.raises(ServiceError, match="não mudam mais"):
        onboarding.remove_item(opportunity, item_id=opportunity.items[0].id, actor=comercial)


def test_item_quantity_and_product_are_checked(app_ctx, comercial):
    opportunity = factories.opportunity(S.PROPOSAL, items=[])
    product = factories.ProductFactory(min_quantity=5, max_quantity=10)
    with pytest.raises(ServiceError) as refused:
        onboarding.set_item(opportunity, product_id=product.id, quantity=11, actor=comercial)
    assert refused.value.field == "quantity"
    with pytest.raises(ServiceError) as refused:
        onboarding.set_item(opportunity, product_id=999_999, quantity=5, actor=comercial)
    assert refused.value.field == "product_id"
    item = onboarding.set_item(opportunity, product_id=product.id, quantity=5, actor=comercial)
    assert item.unit_price_cents == 7890


# ---------------------------------------------------------------- the signed contract's evidence (issue 13, 8)

def test_the_signed_contract_carries_the_signature_evidence(app_ctx, settings, comercial, esign):
    """contrato-assinado.pdf was byte-identical to contrato.pdf: it now has the contract's pages and an evidence
    page (signers, times, the contract's SHA-256, SIMULAÇÃO from the simulator)."""
    opportunity = _sent(settings, comercial, esign)
    signing_time = clock.now().replace(second=0, microsecond=0)  # frozen: a minute boundary cannot split the check
    with clock.frozen(signing_time):
        esign.sign(opportunity.signature_document_id)
        onboarding.complete_signature(opportunity.signature_document_id, esign=esign, actor=Actor.system("t"))
    opportunity = db.session.get(Opportunity, opportunity.id)
    contract, _type = load(opportunity.contract_pdf_sha256)
    signed, _type = load(opportunity.signed_pdf_sha256)
    assert signed != contract and opportunity.signed_pdf_sha256 != opportunity.contract_pdf_sha256
    pages = page_count(contract)
    assert page_count(signed) == pages + 1
    assert flat(pdf_text(signed, last_page=pages)) == flat(pdf_text(contract))  # the contract as it was sent
    evidence = flat(pdf_text(signed, first_page=pages + 1))
    assert "SIMULAÇÃO" in evidence
    assert opportunity.contract_pdf_sha256 in evidence  # the SHA-256 of the PDF that went out for signature
    for name, email in (("Rita Responsável", "rita@acme.example.com"), ("Carla Comercial", comercial.user.email)):
        assert name in evidence and email in evidence
    signed_at = signing_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    assert evidence.count(signed_at) >= 2  # each signer's time (UTC) is printed


def test_with_autentique_the_signed_contract_is_the_file_autentique_returns(app_ctx, settings, comercial):
    from portal.integrations.esign import AutentiqueClient
    from tests.fakes.autentique_fake import AutentiqueFake

    fake = AutentiqueFake(token="tok", webhook_secret="segredo").start()
    try:
        client = AutentiqueClient(fake.graphql_url, "tok", "segredo", timeout=5)
        opportunity = _sent(settings, comercial, client)
        assert opportunity.signature_provider == "autentique"
        fake.sign(opportunity.signature_document_id)
        assert onboarding.complete_signature(opportunity.signature_document_id, esign=client,
                                             actor=Actor.system("t")) == "signed"
        expected = fake.signed_pdf(opportunity.signature_document_id)
    finally:
        fake.stop()
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert load(opportunity.signed_pdf_sha256)[0] == expected
    assert expected != load(opportunity.contract_pdf_sha256)[0]


# ---------------------------------------------------------------- what provisioning needs (issue 13, 2)

GUID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"


@pytest.fixture
def financeiro(app_ctx):
    return Actor.for_user(factories.StaffUserFactory(roles=["financeiro"]))


@pytest.fixture
def partner_center(app_ctx):
    """The REST adapter against the local Partner Center fake."""
    from portal.integrations.partner_center import PartnerCenterClient
    from portal.integrations.provisioning import StaticTokenProvider
    from tests.fakes.partner_center_fake import PartnerCenterFake

    fake = PartnerCenterFake(token="tok").start()
    yield fake, PartnerCenterClient(fake.url, StaticTokenProvider("tok"), timeout=5)
    fake.stop()


def _microsoft_opportunity(**data) -> Opportunity:
    microsoft = factories.ProductFactory(name="Microsoft 365 E3", price=20000)
    return factories.opportunity(S.APPROVAL, items=[(microsoft, 3)], **data)


def _customer(opportunity) -> Organization | None:
    return db.session.scalar(select(Organization).where(Organization.cnpj == opportunity.cnpj))


def test_the_approval_needs_the_microsoft_tenant_and_the_first_order_no_longer_fails(app_ctx, settings, financeiro,
                                                                                      teams):
    opportunity = _microsoft_opportunity(tenant_mode=None, tenant_reference="")
    assert any("tenant Microsoft" in thing for thing in onboarding.next_step(opportunity, settings=settings).missing)
    with pytest.raises(onboarding.MissingData, match="tenant Microsoft"):
        _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    assert _customer(opportunity) is None

    opportunity = _microsoft_opportunity(tenant_mode="existing", tenant_reference=GUID)
    organization = _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    assert organization.microsoft_tenant_id == GUID
    [order] = db.session.scalars(select(Order).where(Order.organization_id == organization.id)).all()
    assert order.status == "done" and order.error_code is None  # was FAILED, no_tenant


def test_a_backup_only_proposal_needs_no_tenant(app_ctx, settings, financeiro, teams):
    opportunity = factories.opportunity(S.APPROVAL, tenant_mode=None, tenant_reference="")
    organization = _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    assert organization.microsoft_tenant_id is None


def test_a_new_tenant_is_created_at_partner_center_once(app_ctx, settings, financeiro, teams, partner_center):
    fake, client = partner_center
    opportunity = _microsoft_opportunity(tenant_mode="new", tenant_reference="acmebackup.onmicrosoft.com")
    organization = onboarding.approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t,
                                      provisioner=client)
    [created] = fake.customers.values()
    assert created["companyProfile"]["domain"] == "acmebackup.onmicrosoft.com"
    assert created["billingProfile"]["companyName"] == "Acme Backup Ltda"
    assert organization.microsoft_tenant_id == created["id"]
    assert db.session.get(Opportunity, opportunity.id).microsoft_tenant_id == created["id"]
    assert "Novo tenant Microsoft criado" in " ".join(e.note for e in opportunity.events)


def test_a_tenant_created_before_a_failed_approval_is_not_created_again(app_ctx, settings, financeiro, teams,
                                                                         partner_center, monkeypatch):
    fake, client = partner_center
    opportunity = _microsoft_opportunity(tenant_mode="new", tenant_reference="acmebackup.onmicrosoft.com")
    monkeypatch.setattr(onboarding, "_create_customer", lambda *a, **k: (_ for _ in ()).throw(
        ServiceError("falhou depois do tenant")))
    with pytest.raises(ServiceError, match="falhou depois do tenant"):
        onboarding.approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t,
                           provisioner=client)
    monkeypatch.undo()
    kept = db.session.get(Opportunity, opportunity.id).microsoft_tenant_id
    assert kept and kept in fake.customers
    organization = onboarding.approve(db.session.get(Opportunity, opportunity.id), actor=financeiro,
                                      settings=settings, url_for_token=lambda t: t, provisioner=client)
    assert organization.microsoft_tenant_id == kept and len(fake.customers) == 1


def test_an_existing_tenant_is_found_by_its_domain(app_ctx, settings, financeiro, teams, partner_center):
    fake, client = partner_center
    tenant_id = fake.add_customer("contoso.onmicrosoft.com")
    unknown = _microsoft_opportunity(tenant_mode="existing", tenant_reference="fabrikam.onmicrosoft.com")
    with pytest.raises(ServiceError, match="não é de um cliente da revenda"):
        onboarding.approve(unknown, actor=financeiro, settings=settings, url_for_token=lambda t: t,
                           provisioner=client)
    assert _customer(unknown) is None and db.session.get(Opportunity, unknown.id).stage == S.APPROVAL
    opportunity = _microsoft_opportunity(tenant_mode="existing", tenant_reference="contoso.onmicrosoft.com")
    organization = onboarding.approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t,
                                      provisioner=client)
    assert organization.microsoft_tenant_id == tenant_id


def test_a_domain_already_in_use_is_said_in_portuguese_and_nothing_is_created(app_ctx, settings, financeiro, teams):
    from portal.integrations.partner_center import PartnerCenterSimulator

    simulator = PartnerCenterSimulator()
    first = _microsoft_opportunity(tenant_mode="new", tenant_reference="acmebackup.onmicrosoft.com")
    onboarding.approve(first, actor=financeiro, settings=settings, url_for_token=lambda t: t, provisioner=simulator)
    second = _microsoft_opportunity(tenant_mode="new", tenant_reference="acmebackup.onmicrosoft.com")
    with pytest.raises(ServiceError) as refused:
        onboarding.approve(second, actor=financeiro, settings=settings, url_for_token=lambda t: t,
                           provisioner=simulator)
    assert "já está em uso na Microsoft" in refused.value.message and "already" not in refused.value.message
    assert db.session.get(Opportunity, second.id).microsoft_tenant_id is None


@pytest.mark.parametrize(("mode", "reference", "message"), [
    ("existing", "not a tenant", "não é um ID de tenant"),
    ("existing", "0f1e2d3c-4b5a-4978", "não é um ID de tenant"),
    ("new", "acme-backup.onmicrosoft.com", "só com letras e números"),
    ("new", "acme.com.br", "só com letras e números"),
    ("bogus", "", "Escolha um tenant existente"),
    ("", "acme.onmicrosoft.com", "já tem um tenant ou se um novo será criado"),  # a reference without its kind
])
def test_a_tenant_that_cannot_be_one_is_refused_on_its_field(app_ctx, comercial, mode, reference, message):
    opportunity = factories.opportunity(S.REVIEW)
    data = onboarding.OpportunityData(**{**{f: getattr(opportunity, f) for f in
                                            onboarding.OpportunityData.__dataclass_fields__},
                                         "tenant_mode": mode, "tenant_reference": reference})
    with pytest.raises(ServiceError, match=message) as refused:
        onboarding.update_opportunity(opportunity, data, actor=comercial)
    assert refused.value.field in ("tenant_reference", "tenant_mode")


def test_the_tenant_is_stored_as_microsoft_writes_it(app_ctx, comercial):
    opportunity = factories.opportunity(S.REVIEW)
    base = {f: getattr(opportunity, f) for f in onboarding.OpportunityData.__dataclass_fields__}
    onboarding.update_opportunity(opportunity, onboarding.OpportunityData(
        **{**base, "tenant_mode": "new", "tenant_reference": " AcmeBackup "}), actor=comercial)
    assert db.session.get(Opportunity, opportunity.id).tenant_reference == "acmebackup.onmicrosoft.com"
    onboarding.update_opportunity(opportunity, onboarding.OpportunityData(
        **{**base, "tenant_mode": "existing", "tenant_reference": "Contoso.OnMicrosoft.com "}), actor=comercial)
    assert db.session.get(Opportunity, opportunity.id).tenant_reference == "contoso.onmicrosoft.com"


def test_microsoft_orders_wait_for_the_agreement_then_go(app_ctx, settings, financeiro, teams):
    from portal.agreements.models import AcceptanceMethod, AgreementAcceptance
    from portal.subscriptions import orders as order_service
    from portal.subscriptions.models import AGREEMENT_RECHECK
    from tests.agreements.routes import make_version

    version = make_version()
    backup = factories.own_service_product(name="Backup em Nuvem", price=15000)
    microsoft = factories.ProductFactory(name="Microsoft 365 E3", price=20000)
    opportunity = factories.opportunity(S.APPROVAL, items=[(backup, 1), (microsoft, 3)])
    organization = _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    orders = {o.subscription.product_id: o for o in
              db.session.scalars(select(Order).where(Order.organization_id == organization.id))}
    held = orders[microsoft.id]
    assert held.waiting_for_agreement and held.status == "pending"
    assert held.status_label == "aguardando o aceite do contrato pelo Master"
    assert orders[backup.id].status == "sent" and not orders[backup.id].waiting_for_agreement  # support's
    in_an_hour = clock.now() + timedelta(hours=1)  # the customer's step: not "atrasado" for staff
    assert held.id not in db.session.scalars(select(Order.id).where(order_service.overdue_filter(in_an_hour))).all()
    provisioner = app_ctx.extensions["provisioner"]
    later = clock.now() + AGREEMENT_RECHECK
    with clock.frozen(later):
        order_service.run_order(held.id, provisioner=provisioner)  # the sweep: still not accepted
    db.session.expire_all()
    assert db.session.get(Order, held.id).status == "pending"

    db.session.add(AgreementAcceptance(
        organization_id=organization.id, version_id=version.id, method=AcceptanceMethod.ACCEPTED,
        first_name="Rita", last_name="Responsável", email="rita@acme.example.com", accepted_on=clock.today(),
        accepted_at=clock.now()))
    db.session.commit()
    assert order_service.due_orders(later + AGREEMENT_RECHECK) == [held.id]
    with clock.frozen(later + AGREEMENT_RECHECK):
        order_service.run_order(held.id, provisioner=provisioner)
    db.session.expire_all()
    sent = db.session.get(Order, held.id)
    assert sent.status == "done" and not sent.waiting_for_agreement


def test_implantation_is_refused_while_an_order_is_pending_or_failed(app_ctx, settings, financeiro, teams):
    from portal.subscriptions import orders as order_service

    suporte = Actor.for_user(factories.StaffUserFactory(roles=["suporte"]))
    opportunity = factories.opportunity(S.APPROVAL)  # Backup em Nuvem: an order support completes by hand
    organization = _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    opportunity = db.session.get(Opportunity, opportunity.id)
    assert opportunity.stage == S.IMPLANTATION
    [order] = db.session.scalars(select(Order).where(Order.organization_id == organization.id)).all()
    with pytest.raises(ServiceError, match=f"nº {order.id}"):
        onboarding.mark_implantation_done(opportunity, actor=suporte)
    order.status, order.needs_staff = "failed", True
    db.session.commit()
    with pytest.raises(ServiceError, match="falhou"):
        onboarding.mark_implantation_done(db.session.get(Opportunity, opportunity.id), actor=suporte)
    assert db.session.get(Opportunity, opportunity.id).stage == S.IMPLANTATION
    order_service.complete_by_staff(db.session.get(Order, order.id), actor=suporte, note="Agente instalado.")
    onboarding.mark_implantation_done(db.session.get(Opportunity, opportunity.id), actor=suporte)
    assert db.session.get(Opportunity, opportunity.id).stage == S.ACTIVE


def test_the_held_orders_go_as_soon_as_the_agreement_is_recorded(app_ctx, settings, financeiro, teams):
    from portal.agreements import service as agreements
    from tests.agreements.routes import make_version

    version = make_version()
    opportunity = factories.opportunity(S.APPROVAL, items=[(factories.ProductFactory(name="Microsoft 365 E3"), 3)])
    organization = _approve(opportunity, actor=financeiro, settings=settings, url_for_token=lambda t: t)
    [order] = db.session.scalars(select(Order).where(Order.organization_id == organization.id)).all()
    assert order.waiting_for_agreement and order.status == "pending"
    comercial = Actor.for_user(factories.StaffUserFactory(roles=["comercial"]))
    agreements.attest(organization=organization, version_id=version.id, first_name="Rita", last_name="Responsável",
                      email="rita@acme.example.com", phone=None, accepted_on=clock.today(), actor=comercial)
    db.session.expire_all()
    order = db.session.get(Order, order.id)  # sent when the attestation committed (jobs run inline in tests)
    assert order.status == "done" and not order.waiting_for_agreement
