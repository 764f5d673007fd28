"""Agreements: the current version, the purchase gate, acceptance, attestation, Partner Center, the contact e-mail."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.agreements import jobs, service
from portal.agreements.models import AcceptanceMethod, AgreementAcceptance, AgreementKind, AgreementVersion
from portal.agreements.service import ProviderStatus
from portal.extensions import db
from portal.integrations.partner_center import MCA_TEMPLATE_ID, PartnerCenterClient, PartnerCenterSimulator
from portal.integrations.provisioning import StaticTokenProvider
from portal.shared import clock, documents
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.errors import PermissionDenied, ServiceError
from portal.subscriptions import service as subscriptions
from tests import factories
from tests.agreements.routes import PDF_BYTES, make_acceptance, make_version
from tests.fakes.partner_center_fake import PartnerCenterFake

# 12:00 in São Paulo on Tuesday 10/03/2026.
NOON = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TODAY = date(2026, 3, 10)
TENANT = "4d3cf487-70f4-4e1e-9ff1-b2bfce8d9f04"
TOKEN = "token-de-teste"


@pytest.fixture(autouse=True)
def frozen():
    with clock.frozen(NOON):
        yield


@pytest.fixture
def tenant(world):
    """Demo Tecnologia is a customer at Microsoft (its MCA acceptances can be confirmed there)."""
    world.demo.microsoft_tenant_id = TENANT
    db.session.commit()
    return TENANT


@pytest.fixture
def simulator(app_ctx):
    """A fresh Partner Center simulator for the test (the app's is shared by the whole run)."""
    original = app_ctx.extensions["provisioner"]
    app_ctx.extensions["provisioner"] = PartnerCenterSimulator(delay_seconds=0)
    yield app_ctx.extensions["provisioner"]
    app_ctx.extensions["provisioner"] = original


@pytest.fixture
def partner_center(app_ctx):
    """The real REST adapter against the local HTTP fake of Partner Center."""
    fake = PartnerCenterFake(token=TOKEN).start()
    original = app_ctx.extensions["provisioner"]
    app_ctx.extensions["provisioner"] = PartnerCenterClient(fake.url, StaticTokenProvider(TOKEN), timeout=5)
    yield fake
    app_ctx.extensions["provisioner"] = original
    fake.stop()


def actor(user) -> Actor:
    return Actor.for_user(user, ip="203.0.113.7")


def accept(world, versions, *, who="master", phone="(11) 98888-7777"):
    return service.accept(organization=world.demo, membership=getattr(world, f"{who}_membership"),
                          version_ids=[v.id for v in versions], phone=phone, actor=actor(getattr(world, who)))


def attest(world, version, organization=None, *, who="staff_comercial", **changes):
    fields = {"first_name": "Joana", "last_name": "Cliente", "email": "joana@cliente.example.com",
              "phone": "", "accepted_on": TODAY, **changes}
    return service.attest(organization=organization or world.demo, version_id=version.id,
                          actor=actor(getattr(world, who)), **fields)


def fresh(acceptance: AgreementAcceptance) -> AgreementAcceptance:
    """As the database has it now (jobs ran in sessions of their own)."""
    db.session.expire_all()
    return db.session.get(AgreementAcceptance, acceptance.id)


def events(tag: AuditTag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)))


def acceptances() -> int:
    return db.session.scalar(select(func.count(AgreementAcceptance.id)))


def increase(world, who="master"):
    subscription = factories.subscription(world.demo, quantity=10)
    return subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=12,
                                               actor=actor(getattr(world, who)))


# ---------------------------------------------------------------- the current version

def test_the_current_version_is_the_latest_in_force_today(app_ctx, world):
    old = make_version(effective_from=date(2020, 1, 1))
    today = make_version(effective_from=TODAY, title="MCA 2026")
    future = make_version(effective_from=date(2026, 4, 1), title="MCA abril")
    terms = make_version(AgreementKind.RESELLER, effective_from=date(2025, 1, 1))
    assert service.current_version(AgreementKind.MICROSOFT, TODAY) == today
    assert service.current_version(AgreementKind.MICROSOFT, TODAY - timedelta(days=1)) == old
    assert service.current_version(AgreementKind.MICROSOFT, date(2026, 4, 1)) == future
    assert service.current_versions(TODAY) == {"microsoft_mca": today, "reseller_terms": terms}
    assert service.current_versions(date(2019, 12, 31)) == {}


def test_status_is_fornecido_only_for_the_current_version(app_ctx, world):
    old = make_version(effective_from=date(2020, 1, 1))
    make_acceptance(world.demo, old)
    [mca, terms] = service.organization_status(world.demo, TODAY)
    assert (mca.version, mca.provided, mca.pending) == (old, True, False)
    assert (terms.version, terms.provided, terms.pending) == (None, False, False)  # nothing published

    new = make_version(effective_from=TODAY, title="MCA nova")  # supersedes from today on
    [mca, _terms] = service.organization_status(world.demo, TODAY)
    assert (mca.version, mca.provided, mca.pending) == (new, False, True)
    assert mca.last_acceptance.version == old  # the history still shows what was accepted
    assert service.pending_versions(world.demo, TODAY) == [new]
    assert service.has_pending_agreement(world.demo, TODAY)
    assert service.pending_versions(world.other, TODAY) == [new]
    assert service.has_pending_agreement(world.other, TODAY)


# ---------------------------------------------------------------- the purchase gate

def test_no_version_published_means_no_gate(app_ctx, world):
    service.ensure_agreement_accepted(world.demo, actor(world.adm))
    assert increase(world).new_quantity == 12


def test_increase_is_refused_until_accepted_and_the_master_is_told_how(app_ctx, world, simulator):
    version = make_version()
    with pytest.raises(ServiceError) as refused:
        increase(world, "master")
    message = refused.value.message
    assert "Contrato de Cliente Microsoft" in message and "/contrato" in message and "Li e aceito" in message
    assert "continuam funcionando" in message

    accept(world, [version])
    assert increase(world, "master").new_quantity == 12


def test_others_are_told_who_can_accept(app_ctx, world):
    make_version()
    other_master = factories.MembershipFactory(organization=world.demo, roles=["master"],
                                               user__name="Segunda Master").user
    with pytest.raises(ServiceError) as refused:
        increase(world, "adm")
    message = refused.value.message
    assert "Quem pode aceitar: Master Demo, Segunda Master." in message
    assert "/contrato" not in message
    assert other_master.name in message


def test_checkout_is_refused_until_every_current_agreement_is_accepted(app_ctx, world, simulator):
    mca, terms = make_version(), make_version(AgreementKind.RESELLER)
    checkout = dict(organization=world.demo, user=world.adm, actor=actor(world.adm))
    with pytest.raises(ServiceError, match="Contrato de Cliente Microsoft.*Termos de serviço"):
        subscriptions.quote_checkout(**checkout)
    accept(world, [mca])
    with pytest.raises(ServiceError) as refused:
        subscriptions.quote_checkout(**checkout)
    assert "Termos de serviço" in refused.value.message and "Microsoft" not in refused.value.message
    attest(world, terms)
    with pytest.raises(ServiceError, match="Seu carrinho está vazio"):  # the gate let it through
        subscriptions.quote_checkout(**checkout)


def test_decreases_are_allowed_without_the_agreement(app_ctx, world):
    make_version()
    subscription = factories.subscription(world.demo, quantity=10, added_at=clock.now() - timedelta(days=2))
    quote = subscriptions.quote_quantity_change(organization=world.demo, subscription=subscription, new_quantity=8,
                                                actor=actor(world.adm))
    assert quote.new_quantity == 8


# ---------------------------------------------------------------- a Master accepts

def test_master_accepts_and_the_mca_reaches_microsoft(app_ctx, world, tenant, simulator):
    version = make_version()
    [acceptance] = accept(world, [version], phone="  (11)  98888-7777 ")
    acceptance = fresh(acceptance)
    assert (acceptance.method, acceptance.first_name, acceptance.last_name, acceptance.email) == (
        AcceptanceMethod.ACCEPTED, "Master", "Demo", world.master.email)
    assert (acceptance.phone, acceptance.accepted_on, acceptance.ip, acceptance.recorded_by_id) == (
        "(11) 98888-7777", TODAY, "203.0.113.7", world.master.id)
    assert acceptance.accepted_at == NOON
    assert acceptance.provider_status == ProviderStatus.DONE and acceptance.provider_error is None
    [sent] = simulator.agreements(TENANT)
    assert sent["primaryContact"] == {"firstName": "Master", "lastName": "Demo", "email": world.master.email,
                                      "phoneNumber": "(11) 98888-7777"}
    assert (sent["templateId"], sent["dateAgreed"]) == (MCA_TEMPLATE_ID, "2026-03-10T00:00:00Z")
    [accepted] = events(AuditTag.AGREEMENT_ACCEPTED)
    assert (accepted.actor_id, accepted.organization_id, accepted.ip) == (world.master.id, world.demo.id,
                                                                         "203.0.113.7")
    assert accepted.after["version_id"] == version.id and accepted.after["email"] == world.master.email
    [sent_event] = events(AuditTag.AGREEMENT_SENT_TO_PROVIDER)
    assert sent_event.after["provider_status"] == "done" and sent_event.after["tenant_id"] == TENANT
    assert not service.pending_versions(world.demo, TODAY)
    assert not service.has_pending_agreement(world.demo, TODAY)


def test_reseller_terms_are_not_sent_to_microsoft(app_ctx, world, tenant, simulator):
    terms = make_version(AgreementKind.RESELLER)
    [acceptance] = accept(world, [terms])
    assert fresh(acceptance).provider_status == ProviderStatus.NOT_NEEDED
    assert simulator.agreements(TENANT) == []


def test_accepting_twice_records_it_once(app_ctx, world, tenant, simulator):
    version = make_version()
    assert len(accept(world, [version])) == 1
    assert accept(world, [version]) == []  # a double click, or a second Master: already accepted
    assert acceptances() == 1
    assert len(events(AuditTag.AGREEMENT_ACCEPTED)) == 1


def test_only_a_master_accepts(app_ctx, world):
    version = make_version()
    for who in ("adm", "cobranca", "suporte"):
        with pytest.raises(PermissionDenied):
            accept(world, [version], who=who)
    with pytest.raises(PermissionDenied):  # someone else's membership
        service.accept(organization=world.demo, membership=world.master_membership, version_ids=[version.id],
                       phone="", actor=actor(world.adm))
    assert acceptances() == 0


def test_acceptance_needs_a_ticked_current_version_a_full_name_and_a_phone_that_is_one(app_ctx, world):
    old = make_version(effective_from=date(2020, 1, 1))
    current = make_version(effective_from=date(2026, 1, 1))
    with pytest.raises(ServiceError) as nothing:
        accept(world, [])
    assert nothing.value.field == "versions"
    with pytest.raises(ServiceError, match="não é mais a versão vigente") as stale:
        accept(world, [old])
    assert stale.value.field == "versions"
    with pytest.raises(ServiceError) as phone:
        accept(world, [current], phone="ligue pra mim")
    assert phone.value.field == "phone"
    world.master.name = "Marina"
    with pytest.raises(ServiceError, match="nome e sobrenome"):
        accept(world, [current])
    assert acceptances() == 0


def test_without_a_tenant_the_mca_fails_at_microsoft_with_a_message_for_staff(app_ctx, world, simulator):
    version = make_version()
    [acceptance] = accept(world, [version])
    acceptance = fresh(acceptance)
    assert acceptance.provider_status == ProviderStatus.FAILED
    assert "tenant Microsoft" in acceptance.provider_error
    assert not service.pending_versions(world.demo, TODAY)
    assert not service.has_pending_agreement(world.demo, TODAY)  # accepted all the same: purchases go on
    [failed] = events(AuditTag.AGREEMENT_SENT_TO_PROVIDER)
    assert failed.after["provider_status"] == "failed"

    world.demo.microsoft_tenant_id = TENANT  # staff fills in the tenant and resends
    db.session.commit()
    service.resend_to_provider(acceptance, actor=actor(world.staff_comercial))
    assert fresh(acceptance).provider_status == ProviderStatus.DONE
    assert len(simulator.agreements(TENANT)) == 1


def test_a_version_without_template_id_asks_microsoft_for_it(app_ctx, world, tenant, simulator):
    version = make_version(template_id=None)
    [acceptance] = accept(world, [version])
    assert fresh(acceptance).provider_status == ProviderStatus.DONE
    assert simulator.agreements(TENANT)[0]["templateId"] == MCA_TEMPLATE_ID


# ---------------------------------------------------------------- Partner Center over HTTP

def test_attestation_reaches_partner_center_with_the_documented_body(app_ctx, world, tenant, partner_center):
    version = make_version()
    acceptance = attest(world, version, phone="+55 11 3000-0000", accepted_on=date(2026, 3, 2))
    assert fresh(acceptance).provider_status == ProviderStatus.DONE
    [posted] = partner_center.requests_to("POST", "/agreements")
    assert posted.path == f"/v1/customers/{TENANT}/agreements"
    assert posted.json == {"primaryContact": {"firstName": "Joana", "lastName": "Cliente",
                                              "email": "joana@cliente.example.com", "phoneNumber": "+55 11 3000-0000"},
                           "templateId": MCA_TEMPLATE_ID, "dateAgreed": "2026-03-02T00:00:00Z",
                           "type": "MicrosoftCustomerAgreement"}
    assert posted.headers["Ms-Correlationid"] == service.correlation_id(acceptance)


def test_a_duplicate_at_partner_center_600061_counts_as_done(app_ctx, world, tenant, partner_center):
    version = make_version()
    attest(world, version, accepted_on=date(2026, 3, 2))
    # The same person again (another date): Partner Center already has this contact and refuses with 600061.
    again = attest(world, version, accepted_on=date(2026, 3, 9))
    assert fresh(again).provider_status == ProviderStatus.DONE and fresh(again).provider_error is None
    assert len(partner_center.requests_to("POST", "/agreements")) == 2
    assert len(partner_center.agreements(TENANT)) == 1
    assert events(AuditTag.AGREEMENT_SENT_TO_PROVIDER)[-1].after["already_there"] is True


def test_server_errors_are_retried_then_the_acceptance_fails(app_ctx, world, tenant, partner_center):
    version = make_version()
    partner_center.fail_next(503, times=20, when="/agreements")
    [acceptance] = accept(world, [version])
    waiting = fresh(acceptance)
    assert waiting.provider_status == ProviderStatus.PENDING  # the first try failed; Huey retries later
    assert waiting.provider_error.startswith("503")
    assert jobs.send_agreement_to_provider.call_local(acceptance.id) == "failed"  # the last try
    failed = fresh(acceptance)
    assert failed.provider_status == ProviderStatus.FAILED and "503" in failed.provider_error
    assert not service.pending_versions(world.demo, TODAY)
    assert not service.has_pending_agreement(world.demo, TODAY)  # the customer's acceptance stands


def test_a_retry_that_gets_through_is_done(app_ctx, world, tenant, partner_center):
    version = make_version()
    partner_center.fail_next(429, when="/agreements")
    [acceptance] = accept(world, [version])
    assert fresh(acceptance).provider_status == ProviderStatus.PENDING
    assert service.send_to_provider(acceptance.id, provisioner=app_ctx.extensions["provisioner"],
                                    final_attempt=False) == "done"
    assert fresh(acceptance).provider_status == ProviderStatus.DONE
    assert len(partner_center.agreements(TENANT)) == 1


def test_a_refusal_for_good_fails_at_once(app_ctx, world, tenant, partner_center):
    version = make_version(template_id="00000000-0000-4000-8000-000000000000")  # not a template Microsoft knows
    [acceptance] = accept(world, [version])
    failed = fresh(acceptance)
    assert failed.provider_status == ProviderStatus.FAILED and failed.provider_error.startswith("800002")


def test_the_job_skips_what_is_not_pending(app_ctx, world, tenant, simulator):
    terms = make_version(AgreementKind.RESELLER)
    [acceptance] = accept(world, [terms])
    assert jobs.send_agreement_to_provider.call_local(acceptance.id) == "skipped"
    assert jobs.send_agreement_to_provider.call_local(999_999) == "skipped"


# ---------------------------------------------------------------- staff attests

def test_staff_attests_and_the_primary_contact_is_emailed(app_ctx, world, tenant, simulator, outbox):
    version = make_version()
    acceptance = fresh(attest(world, version))
    assert (acceptance.method, acceptance.recorded_by_id, acceptance.accepted_on) == (
        AcceptanceMethod.ATTESTED, world.staff_comercial.id, TODAY)
    assert acceptance.provider_status == ProviderStatus.DONE
    assert acceptance.contact_notified_at == NOON
    [attested] = events(AuditTag.AGREEMENT_ATTESTED)
    assert (attested.actor_id, attested.organization_id) == (world.staff_comercial.id, world.demo.id)
    assert attested.after["email"] == "joana@cliente.example.com"
    [mail] = outbox
    assert mail["To"] == world.master.email  # the first active Master is the primary contact
    assert mail["Subject"] == "Registramos o aceite do contrato de Demo Tecnologia"
    body = mail.get_body(("plain",)).get_content()
    assert "Joana Cliente (joana@cliente.example.com)" in body and "10/03/2026" in body
    assert "http://portal.test/contrato" in body
    assert not service.pending_versions(world.demo, TODAY)
    assert not service.has_pending_agreement(world.demo, TODAY)


def test_without_a_master_the_attested_email_is_the_contact(app_ctx, world, simulator, outbox):
    version = make_version(AgreementKind.RESELLER)
    newcomer = factories.OrganizationFactory(trade_name="Nova Cliente")
    attest(world, version, newcomer, email="Joana@Nova.example.com")
    [mail] = outbox
    assert mail["To"] == "joana@nova.example.com"
    assert mail["Subject"] == "Registramos o aceite do contrato de Nova Cliente"


def test_the_same_attestation_twice_is_recorded_and_emailed_once(app_ctx, world, simulator, outbox):
    version = make_version(AgreementKind.RESELLER)
    first = attest(world, version)
    assert attest(world, version).id == first.id
    assert acceptances() == 1 and len(outbox) == 1 and len(events(AuditTag.AGREEMENT_ATTESTED)) == 1
    attest(world, version, email="outra.pessoa@cliente.example.com")  # another person: a new attestation
    assert acceptances() == 2


def test_an_acceptance_date_in_the_future_is_refused(app_ctx, world):
    version = make_version()
    with pytest.raises(ServiceError) as refused:
        attest(world, version, accepted_on=TODAY + timedelta(days=1))
    assert refused.value.field == "accepted_on"
    assert refused.value.message == ("A data do aceite não pode estar no futuro: use hoje (10/03/2026) ou uma data "
                                     "anterior.")
    # Late evening in São Paulo is already tomorrow in UTC: the business date is what counts.
    with clock.frozen(datetime(2026, 3, 11, 2, 30, tzinfo=UTC)), pytest.raises(ServiceError, match="futuro"):
        attest(world, version, accepted_on=date(2026, 3, 11))
    assert acceptances() == 0


def test_an_acceptance_date_before_the_version_is_refused(app_ctx, world):
    version = make_version(effective_from=date(2026, 3, 1))
    with pytest.raises(ServiceError, match="anterior ao início da vigência desta versão \\(01/03/2026\\)") as refused:
        attest(world, version, accepted_on=date(2026, 2, 28))
    assert refused.value.field == "accepted_on"
    assert attest(world, version, accepted_on=date(2026, 3, 1)).accepted_on == date(2026, 3, 1)


def test_a_version_not_yet_in_force_cannot_be_attested(app_ctx, world):
    version = make_version(effective_from=TODAY + timedelta(days=1))
    with pytest.raises(ServiceError, match="só entra em vigor") as refused:
        attest(world, version)
    assert refused.value.field == "version_id"


def test_attestation_checks_the_contact(app_ctx, world):
    version = make_version(AgreementKind.RESELLER)
    for changes, field in (({"first_name": " "}, "first_name"), ({"last_name": ""}, "last_name"),
                           ({"email": "joana"}, "email"), ({"phone": "abc"}, "phone"),
                           ({"accepted_on": None}, "accepted_on")):
        with pytest.raises(ServiceError) as refused:
            attest(world, version, **changes)
        assert refused.value.field == field, changes


def test_only_comercial_and_admin_attest(app_ctx, world):
    version = make_version(AgreementKind.RESELLER)
    for who in ("staff_financeiro", "staff_suporte", "staff_compliance", "master"):
        with pytest.raises(PermissionDenied):
            attest(world, version, who=who)
    assert attest(world, version, who="staff_admin").recorded_by_id == world.staff_admin.id


# ---------------------------------------------------------------- the sweep

def test_the_sweep_emails_a_contact_the_job_missed_within_30_minutes(app_ctx, world, outbox):
    version = make_version(AgreementKind.RESELLER)
    missed = make_acceptance(world.demo, version, method=AcceptanceMethod.ATTESTED,
                             accepted_at=NOON - timedelta(minutes=11))
    recent = make_acceptance(world.demo, version, method=AcceptanceMethod.ATTESTED, email="b@cliente.example.com",
                             accepted_at=NOON - timedelta(minutes=5))
    accepted = make_acceptance(world.demo, version, accepted_at=NOON - timedelta(hours=1))
    assert jobs.sweep_agreements.call_local() == 1
    assert fresh(missed).contact_notified_at == NOON
    assert fresh(recent).contact_notified_at is None  # its own job is still expected
    assert fresh(accepted).contact_notified_at is None  # a Master's own acceptance sends no notice
    assert [m["To"] for m in outbox] == [world.master.email]
    assert jobs.sweep_agreements.call_local() == 0  # never twice


def test_the_sweep_sends_an_mca_acceptance_whose_job_was_lost(app_ctx, world, tenant, simulator):
    version = make_version()
    lost = make_acceptance(world.demo, version, provider_status="pending", first_name="Marina", last_name="Master",
                           accepted_at=NOON - timedelta(minutes=15))
    jobs.sweep_agreements.call_local()
    assert fresh(lost).provider_status == ProviderStatus.DONE
    assert len(simulator.agreements(TENANT)) == 1


# ---------------------------------------------------------------- publishing

def publish(world, who="staff_admin", **changes):
    fields = {"kind": "microsoft_mca", "title": "Contrato de Cliente Microsoft (2026)", "body": "Texto.",
              "effective_from": TODAY, "link": "https://aka.ms/customeragreement",
              "provider_template_id": MCA_TEMPLATE_ID.upper(), **changes}
    return service.publish_version(actor=actor(getattr(world, who)), **fields)


def test_admin_publishes_a_version(app_ctx, world):
    version = publish(world, pdf=PDF_BYTES)
    assert (version.kind, version.effective_from, version.provider_template_id) == (
        "microsoft_mca", TODAY, MCA_TEMPLATE_ID)
    assert version.published_by_id == world.staff_admin.id
    assert documents.load(version.pdf_sha256) == (PDF_BYTES, "application/pdf")
    [published] = events(AuditTag.AGREEMENT_PUBLISHED)
    assert published.after["title"] == "Contrato de Cliente Microsoft (2026)"
    assert service.current_version(AgreementKind.MICROSOFT, TODAY) == version
    terms = publish(world, kind="reseller_terms", title="Termos", effective_from=TODAY + timedelta(days=30))
    assert terms.provider_template_id is None  # only the MCA has one


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"effective_from": TODAY - timedelta(days=1)}, "effective_from", "hoje ou depois"),
    ({"effective_from": None}, "effective_from", "Informe a data"),
    ({"title": "  "}, "title", "Preencha"),
    ({"body": "", "pdf": None}, "body", "texto do contrato ou envie o PDF"),
    ({"pdf": b"<html>not a pdf</html>"}, "pdf", "não é um PDF"),
    ({"pdf": b"%PDF-" + b"0" * (10 * 1024 * 1024)}, "pdf", "10 MB"),
    ({"link": "javascript:alert(1)"}, "link", "https://"),
    ({"provider_template_id": "modelo-1"}, "provider_template_id", "GUID"),
    ({"kind": "outro"}, "kind", "tipo"),
])
def test_publishing_refuses_what_is_wrong(app_ctx, world, changes, field, message):
    with pytest.raises(ServiceError) as refused:
        publish(world, **changes)
    assert refused.value.field == field and message in refused.value.message
    assert db.session.scalar(select(func.count(AgreementVersion.id))) == 0


def test_publishing_while_the_document_store_is_down_keeps_nothing(app_ctx, world, store_down):
    with pytest.raises(ServiceError) as refused:
        publish(world, pdf=PDF_BYTES)
    assert refused.value.field == "pdf" and "Não foi possível guardar os arquivos agora" in refused.value.message
    assert db.session.scalar(select(func.count(AgreementVersion.id))) == 0
    assert events(AuditTag.AGREEMENT_PUBLISHED) == []


def test_a_second_version_on_the_same_day_is_refused(app_ctx, world):
    publish(world)
    with pytest.raises(ServiceError, match="Já existe uma versão deste contrato") as refused:
        publish(world, title="Outra")
    assert refused.value.field == "effective_from"
    publish(world, title="Outra", effective_from=TODAY + timedelta(days=1))


def test_only_admin_publishes(app_ctx, world):
    for who in ("staff_comercial", "staff_compliance", "master"):
        with pytest.raises(PermissionDenied):
            publish(world, who=who)


def test_the_template_is_fetched_from_microsoft(app_ctx):
    template = service.fetch_provider_template(PartnerCenterSimulator())
    assert template.template_id == MCA_TEMPLATE_ID
    with pytest.raises(ServiceError, match="Simulated failure") as refused:
        service.fetch_provider_template(PartnerCenterSimulator(failure_rate=1.0))
    assert refused.value.field == "provider_template_id"


# ---------------------------------------------------------------- the staff list

def test_organizations_by_status(app_ctx, world):
    mca, terms = make_version(), make_version(AgreementKind.RESELLER)
    make_acceptance(world.demo, mca)
    make_acceptance(world.demo, terms)
    make_acceptance(world.other, mca)
    third = factories.OrganizationFactory(legal_name="Zeta Ltda")

    def names(**filters):
        rows, _more = service.search_organizations(today=TODAY, **filters)
        return [row.organization.legal_name for row in rows]

    assert names() == ["Demo Tecnologia Ltda", "Outra Empresa S.A.", "Zeta Ltda"]
    assert names(status="fornecido") == ["Demo Tecnologia Ltda"]
    assert names(status="nao_fornecido") == ["Outra Empresa S.A.", "Zeta Ltda"]
    assert names(status="fornecido", kind="microsoft_mca") == ["Demo Tecnologia Ltda", "Outra Empresa S.A."]
    assert names(status="nao_fornecido", kind="microsoft_mca") == ["Zeta Ltda"]
    assert names(query="zeta") == ["Zeta Ltda"]
    [row] = service.search_organizations(today=TODAY, query=third.cnpj)[0]
    assert [s.provided for s in row.statuses] == [False, False]
    rows, more = service.search_organizations(today=TODAY, per_page=2)
    assert len(rows) == 2 and more
