"""The TeamsNotifier contract, checked on the simulator and on the Workflows webhook adapter.

The Workflows adapter (`WorkflowsWebhookNotifier`) POSTs over real HTTP to a local recorder
(tests/fakes/teams_recorder.py) that validates the Adaptive Card envelope and answers 202 or what a test asks.
"""

import json

import pytest

from portal.integrations import teams
from portal.integrations.teams import (
    ADAPTIVE_CARD_MIME,
    HandoverCard,
    TeamsError,
    TeamsSimulator,
    WorkflowsWebhookNotifier,
    adaptive_card,
    from_config,
)
from tests.fakes.externals import free_port
from tests.fakes.teams_recorder import TeamsRecorder, envelope_problems

CARD = HandoverCard(
    company="Açaí Backup Ltda",
    responsible="Maria Souza",
    phone="(11) 98765-4321",
    email="maria@acai.example.com",
    disk_space="500 GB",
    installation_sites="2",
    licenses="3",
    windows_server_version="Windows Server 2022",
    billing_date="05/12/2026",
    first_payment_date="05/01/2027",
    notes="Instalar fora do horário comercial; falar com o TI (ramal 204).",
    contract_url="https://portal.example.com/backoffice/contratacao/42/contrato-assinado",
)

LABELS = {
    "Empresa": CARD.company,
    "Responsável": CARD.responsible,
    "Telefone": CARD.phone,
    "E-mail": CARD.email,
    "Espaço contratado": CARD.disk_space,
    "Quantidade de instalações": CARD.installation_sites,
    "Quantidade de licenças": CARD.licenses,
    "Versão do Windows Server": CARD.windows_server_version,
    "Data de faturamento": CARD.billing_date,
    "Data da 1ª mensalidade": CARD.first_payment_date,
    "Observações": CARD.notes,
}


# ---------------------------------------------------------------- adapters under the same contract

class Simulator:
    def __init__(self):
        self.notifier = TeamsSimulator()

    def cards(self) -> list[dict]:
        """The Adaptive Card contents the channel got."""
        return [adaptive_card(card)["attachments"][0]["content"] for card in self.notifier.posted]

    def close(self):
        pass


class WorkflowsAgainstRecorder:
    def __init__(self):
        self.recorder = TeamsRecorder().start()
        self.notifier = WorkflowsWebhookNotifier(self.recorder.webhook_url, timeout=5)

    def cards(self) -> list[dict]:
        return self.recorder.cards

    def close(self):
        self.recorder.stop()


@pytest.fixture(params=[Simulator, WorkflowsAgainstRecorder])
def adapter(request):
    made = request.param()
    yield made
    made.close()


def recorder_with(*statuses: int) -> TeamsRecorder:
    return TeamsRecorder(statuses=list(statuses)).start()


@pytest.fixture
def recorder():
    server = TeamsRecorder().start()
    yield server
    server.stop()


def facts_of(content: dict) -> dict[str, str]:
    [fact_set] = [element for element in content["body"] if element["type"] == "FactSet"]
    return {fact["title"]: fact["value"] for fact in fact_set["facts"]}


# ---------------------------------------------------------------- the contract

def test_the_card_reaches_the_channel_with_every_field_and_the_contract_link(adapter):
    adapter.notifier.post_card(CARD)
    [content] = adapter.cards()
    assert content["type"] == "AdaptiveCard"
    title = content["body"][0]
    assert (title["type"], title["text"], title["weight"], title["size"], title["wrap"]) == (
        "TextBlock", "Açaí Backup Ltda - Maria Souza", "Bolder", "Medium", True)
    assert facts_of(content) == LABELS
    assert list(facts_of(content)) == list(LABELS)  # in the checklist's order
    assert content["actions"] == [{"type": "Action.OpenUrl", "title": "Abrir contrato assinado",
                                   "url": CARD.contract_url}]


def test_every_card_posted_is_kept_in_order(adapter):
    second = HandoverCard(**{**CARD.__dict__, "company": "Outra Empresa SA"})
    adapter.notifier.post_card(CARD)
    adapter.notifier.post_card(second)
    assert [c["body"][0]["text"] for c in adapter.cards()] == ["Açaí Backup Ltda - Maria Souza",
                                                               "Outra Empresa SA - Maria Souza"]


def test_empty_fields_show_a_dash(adapter):
    adapter.notifier.post_card(HandoverCard(**{**CARD.__dict__, "disk_space": "", "notes": "  "}))
    facts = facts_of(adapter.cards()[0])
    assert (facts["Espaço contratado"], facts["Observações"]) == ("—", "—")


# ---------------------------------------------------------------- the envelope

def test_the_envelope_is_what_workflows_expects():
    envelope = adaptive_card(CARD)
    assert envelope["type"] == "message"
    [attachment] = envelope["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD_MIME == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    assert attachment["content"]["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert attachment["content"]["version"] == "1.4"


def test_a_card_without_contract_link_has_no_action():
    content = adaptive_card(HandoverCard(**{**CARD.__dict__, "contract_url": ""}))["attachments"][0]["content"]
    assert "actions" not in content


def test_the_recorder_refuses_what_teams_would_refuse():
    good = adaptive_card(CARD)
    assert envelope_problems(json.dumps(good).encode(), "application/json") == []
    old_format = {"@type": "MessageCard", "text": "pymsteams"}
    assert envelope_problems(json.dumps(old_format).encode(), "application/json")
    too_new = json.loads(json.dumps(good))
    too_new["attachments"][0]["content"]["version"] = "1.6"
    assert envelope_problems(json.dumps(too_new).encode(), "application/json")
    assert envelope_problems(json.dumps(good).encode(), "text/plain")


# ---------------------------------------------------------------- the Workflows adapter's answers

def test_a_202_is_accepted_and_the_request_is_json_to_the_signed_url(recorder):
    WorkflowsWebhookNotifier(recorder.webhook_url, timeout=5).post_card(CARD)
    [sent] = recorder.requests
    assert sent.headers["Content-Type"].startswith("application/json")
    assert sent.args["sig"] == recorder.signature
    assert sent.json == adaptive_card(CARD)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_accepted(status):
    recorder = recorder_with(status)
    try:
        WorkflowsWebhookNotifier(recorder.webhook_url, timeout=5).post_card(CARD)
    finally:
        recorder.stop()
    assert len(recorder.cards) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_throttling_and_server_errors_are_retryable(status):
    recorder = recorder_with(status)
    notifier = WorkflowsWebhookNotifier(recorder.webhook_url, timeout=5)
    try:
        with pytest.raises(TeamsError) as failed:
            notifier.post_card(CARD)
        assert (failed.value.retryable, failed.value.status) == (True, status)
        notifier.post_card(CARD)  # the retry: the recorder answers 202 from now on
        assert len(recorder.cards) == 1
    finally:
        recorder.stop()


def test_a_refused_card_is_not_retryable_and_says_why(recorder):
    bad = WorkflowsWebhookNotifier(recorder.webhook_url.replace(recorder.signature, "assinatura-errada"), timeout=5)
    with pytest.raises(TeamsError) as refused:
        bad.post_card(CARD)
    assert (refused.value.retryable, refused.value.status) == (False, 401)
    assert "DirectApiAuthorizationRequired" in str(refused.value)
    assert "assinatura-errada" not in str(refused.value)  # the URL's signature is a secret


def test_a_400_is_not_retryable():
    recorder = recorder_with(400)
    try:
        with pytest.raises(TeamsError) as refused:
            WorkflowsWebhookNotifier(recorder.webhook_url, timeout=5).post_card(CARD)
    finally:
        recorder.stop()
    assert (refused.value.retryable, refused.value.status) == (False, 400)
    assert "400" in str(refused.value) and "SimulatedFailure" in str(refused.value)


def test_a_malformed_card_gets_the_recorders_400(recorder, monkeypatch):
    def message_card(card):
        return {"@type": "MessageCard", "summary": card.title}

    monkeypatch.setattr(teams, "adaptive_card", message_card)
    with pytest.raises(TeamsError) as refused:
        WorkflowsWebhookNotifier(recorder.webhook_url, timeout=5).post_card(CARD)
    assert (refused.value.retryable, refused.value.status) == (False, 400)
    assert "InvalidRequestContent" in str(refused.value)
    assert recorder.cards == []


def test_connection_refused_is_retryable():
    notifier = WorkflowsWebhookNotifier(f"http://127.0.0.1:{free_port()}/workflows?sig=segredo", timeout=5)
    with pytest.raises(TeamsError) as failed:
        notifier.post_card(CARD)
    assert failed.value.retryable is True and failed.value.status is None
    assert "segredo" not in str(failed.value)


def test_the_simulator_fails_when_told_to():
    simulator = TeamsSimulator(fail_with=TeamsError("canal fora do ar", retryable=True, status=503))
    with pytest.raises(TeamsError) as failed:
        simulator.post_card(CARD)
    assert failed.value.retryable is True
    assert simulator.posted == []


# ---------------------------------------------------------------- configuration

def test_from_config_defaults_to_the_simulator():
    assert isinstance(from_config({"TEAMS_BACKEND": "simulator", "TEAMS_WEBHOOK_URL": ""}), TeamsSimulator)
    assert isinstance(from_config({}), TeamsSimulator)


def test_from_config_workflows(recorder):
    notifier = from_config({"TEAMS_BACKEND": "workflows", "TEAMS_WEBHOOK_URL": recorder.webhook_url,
                            "TEAMS_TIMEOUT": 3})
    assert isinstance(notifier, WorkflowsWebhookNotifier)
    assert notifier.timeout == 3
    notifier.post_card(CARD)
    assert len(recorder.cards) == 1


def test_from_config_workflows_needs_the_url():
    with pytest.raises(RuntimeError, match="TEAMS_WEBHOOK_URL"):
        from_config({"TEAMS_BACKEND": "workflows", "TEAMS_WEBHOOK_URL": ""})
    with pytest.raises(ValueError, match="TEAMS_WEBHOOK_URL"):
        from_config({"TEAMS_BACKEND": "workflows", "TEAMS_WEBHOOK_URL": "ftp://teams.example.com/hook"})


def test_from_config_refuses_an_unknown_backend():
    with pytest.raises(RuntimeError, match="pymsteams"):
        from_config({"TEAMS_BACKEND": "pymsteams"})
