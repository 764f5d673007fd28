"""The SignatureProvider contract, checked on the simulator and on the Autentique adapter.

The Autentique adapter (`AutentiqueClient`) talks real HTTP to a local fake of Autentique's GraphQL API
(tests/fakes/autentique_fake.py), which checks the bearer token and the multipart upload and signs its
webhook calls on its own (not with the portal's helpers). No database and no Flask app of the portal are involved.
"""

import hashlib
import hmac
import json
import urllib.request
from datetime import UTC, datetime

import pytest

from portal.integrations.esign import (
    SIGNATURE_HEADER,
    AutentiqueClient,
    DocumentStatus,
    SignatureError,
    SignatureRejected,
    SignatureRequest,
    SignatureSimulator,
    Signer,
    SignerStatus,
    from_config,
    webhook_envelope,
)
from portal.shared import clock
from tests.fakes import pdf
from tests.fakes.autentique_fake import AutentiqueFake
from tests.fakes.externals import free_port

TOKEN = "token-de-teste"
SECRET = "segredo-do-webhook"
PDF = b"%PDF-1.7\n% contrato de teste\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CLIENTE = Signer("Maria Souza", "maria@cliente.example.com")
TESTEMUNHA = Signer("João Lima", "joao@cliente.example.com")


def request_for(*signers: Signer, pdf: bytes = PDF, message: str = "") -> SignatureRequest:
    return SignatureRequest(name="Contrato — Açaí Backup Ltda", pdf=pdf, signers=signers or (CLIENTE,),
                            message=message)


def sign_with(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- adapters under the same contract

class Simulator:
    def __init__(self):
        self.provider = SignatureSimulator(webhook_secret=SECRET)

    def sign(self, document_id, email=None):
        return self.provider.sign(document_id, email)

    def reject(self, document_id, email=None, reason="Não concordo com as condições"):
        return self.provider.reject(document_id, email, reason)

    def close(self):
        pass


class AutentiqueAgainstFake:
    def __init__(self):
        self.fake = AutentiqueFake(token=TOKEN, webhook_secret=SECRET).start()
        self.provider = AutentiqueClient(self.fake.graphql_url, TOKEN, SECRET, timeout=5)

    def sign(self, document_id, email=None):
        return self.fake.sign(document_id, email)

    def reject(self, document_id, email=None, reason="Não concordo com as condições"):
        return self.fake.reject(document_id, email, reason)

    def close(self):
        self.fake.stop()


@pytest.fixture(params=[Simulator, AutentiqueAgainstFake])
def adapter(request):
    made = request.param()
    yield made
    made.close()


@pytest.fixture
def fake():
    server = AutentiqueFake(token=TOKEN, webhook_secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def client(fake):
    return AutentiqueClient(fake.graphql_url, TOKEN, SECRET, timeout=5)


# ---------------------------------------------------------------- the contract

def test_created_document_is_pending_for_every_signer(adapter):
    document_id = adapter.provider.create_document(request_for(CLIENTE, TESTEMUNHA))
    status = adapter.provider.status(document_id)
    assert status.document_id == document_id
    assert [s.email for s in status.signers] == [CLIENTE.email, TESTEMUNHA.email]
    assert not status.complete and not status.rejected
    assert status.signed_pdf_url is None


def test_signing_completes_the_document_and_the_signed_pdf_downloads(adapter):
    document_id = adapter.provider.create_document(request_for())
    body, headers = adapter.sign(document_id)

    event = adapter.provider.parse_webhook(body, headers)
    assert (event.event_type, event.document_id) == ("document.finished", document_id)
    assert event.event_id and event.raw["object"] == "webhook"
    status = adapter.provider.status(document_id)
    assert status.complete and not status.rejected
    assert status.signers[0].signed_at
    assert status.signed_pdf_url
    signed = adapter.provider.download_signed(document_id)
    assert signed.startswith(b"%PDF") and signed != PDF  # the provider's evidence is added, never the upload as is


def test_one_of_two_signers_is_a_signature_event_not_completion(adapter):
    document_id = adapter.provider.create_document(request_for(CLIENTE, TESTEMUNHA))
    event = adapter.provider.parse_webhook(*adapter.sign(document_id, TESTEMUNHA.email))
    assert (event.event_type, event.document_id) == ("signature.accepted", document_id)
    status = adapter.provider.status(document_id)
    assert not status.complete
    assert {s.email: bool(s.signed_at) for s in status.signers} == {CLIENTE.email: False, TESTEMUNHA.email: True}

    event = adapter.provider.parse_webhook(*adapter.sign(document_id, CLIENTE.email))
    assert event.event_type == "document.finished"
    assert adapter.provider.status(document_id).complete


def test_the_signed_pdf_is_refused_before_everybody_signed(adapter):
    document_id = adapter.provider.create_document(request_for())
    with pytest.raises(SignatureError) as refused:
        adapter.provider.download_signed(document_id)
    assert refused.value.retryable is False


def test_rejection_is_reported_with_its_reason(adapter):
    document_id = adapter.provider.create_document(request_for(CLIENTE, TESTEMUNHA))
    event = adapter.provider.parse_webhook(*adapter.reject(document_id, CLIENTE.email, "Valor divergente"))
    assert (event.event_type, event.document_id) == ("signature.rejected", document_id)
    status = adapter.provider.status(document_id)
    assert status.rejected and not status.complete
    [refused] = [s for s in status.signers if s.rejected_at]
    assert (refused.email, refused.rejection_reason) == (CLIENTE.email, "Valor divergente")


def test_unknown_document_is_not_retryable(adapter):
    with pytest.raises(SignatureError) as unknown:
        adapter.provider.status("0" * 40)
    assert unknown.value.retryable is False


@pytest.mark.parametrize("bad", [
    request_for(pdf=b"<html>not a pdf</html>"),
    SignatureRequest(name="Contrato", pdf=PDF, signers=()),
    SignatureRequest(name="  ", pdf=PDF, signers=(CLIENTE,)),
])
def test_an_invalid_request_is_refused_before_anything_is_sent(adapter, bad):
    with pytest.raises(SignatureError) as refused:
        adapter.provider.create_document(bad)
    assert refused.value.retryable is False


# ---------------------------------------------------------------- webhooks

def signed_call(adapter) -> tuple[bytes, dict[str, str], str]:
    document_id = adapter.provider.create_document(request_for())
    body, headers = adapter.sign(document_id)
    return body, headers, document_id


def test_webhook_header_is_read_case_insensitively_and_may_carry_the_algorithm(adapter):
    body, headers, document_id = signed_call(adapter)
    digest = headers[SIGNATURE_HEADER]
    for given in ({"X-Autentique-Signature": digest}, {SIGNATURE_HEADER: f"sha256={digest}"},
                  {SIGNATURE_HEADER: digest.upper()}):
        assert adapter.provider.parse_webhook(body, given).document_id == document_id


def test_tampered_webhook_body_is_rejected(adapter):
    body, headers, document_id = signed_call(adapter)
    tampered = body.replace(b"document.finished", b"document.deleted")
    assert tampered != body
    with pytest.raises(SignatureRejected):
        adapter.provider.parse_webhook(tampered, headers)


def test_webhook_signed_with_another_secret_is_rejected(adapter):
    body, _headers, _ = signed_call(adapter)
    with pytest.raises(SignatureRejected):
        adapter.provider.parse_webhook(body, {SIGNATURE_HEADER: sign_with(body, "outro-segredo")})


@pytest.mark.parametrize("headers", [{}, {SIGNATURE_HEADER: ""}, {"x-other-signature": "abc"}])
def test_webhook_without_signature_is_rejected(adapter, headers):
    body, _headers, _ = signed_call(adapter)
    with pytest.raises(SignatureRejected):
        adapter.provider.parse_webhook(body, headers)


@pytest.mark.parametrize("body", [
    b"partes[0][email]=maria%40cliente.example.com",  # the deprecated form-encoded webhook
    b"[]",
    json.dumps({"id": "wh", "object": "webhook"}).encode(),
    json.dumps(webhook_envelope("document.finished", {"object": "document"})).encode(),  # no document id
])
def test_signed_but_unreadable_webhook_is_rejected(adapter, body):
    with pytest.raises(SignatureRejected):
        adapter.provider.parse_webhook(body, {SIGNATURE_HEADER: sign_with(body, SECRET)})


def test_signature_event_names_its_document_in_either_shape(adapter):
    for document in ("doc-1", {"id": "doc-1"}):
        envelope = webhook_envelope("signature.viewed", {"object": "signature", "public_id": "p", "document": document})
        body = json.dumps(envelope).encode()
        event = adapter.provider.parse_webhook(body, {SIGNATURE_HEADER: sign_with(body, SECRET)})
        assert (event.event_type, event.document_id) == ("signature.viewed", "doc-1")


def test_without_a_secret_every_webhook_is_rejected():
    client = AutentiqueClient("https://api.autentique.com.br/v2/graphql", TOKEN, "")
    body = json.dumps(webhook_envelope("document.finished", {"object": "document", "id": "d"})).encode()
    with pytest.raises(SignatureRejected):
        client.parse_webhook(body, {SIGNATURE_HEADER: sign_with(body, "")})


# ---------------------------------------------------------------- the Autentique protocol itself

def test_create_document_is_a_graphql_multipart_upload(fake, client):
    document_id = client.create_document(request_for(CLIENTE, TESTEMUNHA, message="Segue o contrato."))
    [sent] = fake.requests
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert "createDocument" in sent.operations["query"]
    assert sent.operations["variables"] == {
        "document": {"name": "Contrato — Açaí Backup Ltda", "message": "Segue o contrato."},
        "signers": [{"email": CLIENTE.email, "action": "SIGN"}, {"email": TESTEMUNHA.email, "action": "SIGN"}],
        "file": None,
        "sandbox": True,
    }
    assert sent.map == {"file": ["variables.file"]}
    assert (sent.file, sent.file_type, sent.file_name) == (PDF, "application/pdf", "Contrato-Acai-Backup-Ltda.pdf")
    assert fake.documents[document_id].sandbox is True


def test_production_mode_sends_sandbox_false(fake):
    client = AutentiqueClient(fake.graphql_url, TOKEN, SECRET, sandbox=False, timeout=5)
    document_id = client.create_document(request_for())
    assert fake.requests[-1].operations["variables"]["sandbox"] is False
    assert "message" not in fake.requests[-1].operations["variables"]["document"]
    assert fake.documents[document_id].sandbox is False


def test_status_is_a_json_document_query(fake, client):
    document_id = client.create_document(request_for())
    client.status(document_id)
    query = fake.requests[-1]
    assert query.headers["Content-Type"] == "application/json"
    assert f'document(id: "{document_id}")' in query.operations["query"]


def test_status_refuses_an_id_that_would_change_the_query(fake, client):
    with pytest.raises(SignatureError) as refused:
        client.status('x") { id } mutation { deleteDocument(id: "y')
    assert refused.value.retryable is False
    assert fake.requests == []


def test_a_wrong_token_is_not_retryable(fake):
    client = AutentiqueClient(fake.graphql_url, "outro-token", SECRET, timeout=5)
    with pytest.raises(SignatureError) as refused:
        client.create_document(request_for())
    assert refused.value.retryable is False
    assert "401" in str(refused.value)


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (400, False),
                                                    (200, False)])
def test_graphql_errors_are_retryable_only_when_the_status_says_so(fake, client, status, retryable):
    fake.fail_next(status, {"errors": [{"message": "Falhou"}]})
    with pytest.raises(SignatureError) as failed:
        client.create_document(request_for())
    assert failed.value.retryable is retryable
    assert "Falhou" in str(failed.value)


def test_an_answer_that_is_not_json_is_an_error(fake, client):
    fake.fail_next(502, "<html>Bad gateway</html>")
    with pytest.raises(SignatureError) as failed:
        client.create_document(request_for())
    assert failed.value.retryable is True


def test_network_trouble_is_retryable():
    client = AutentiqueClient(f"http://127.0.0.1:{free_port()}/v2/graphql", TOKEN, SECRET, timeout=5)
    with pytest.raises(SignatureError) as failed:
        client.create_document(request_for())
    assert failed.value.retryable is True


def test_the_signed_pdf_is_fetched_with_the_token_from_the_api_origin(fake, client):
    document_id = client.create_document(request_for())
    fake.sign(document_id)
    assert client.download_signed(document_id) == fake.signed_pdf(document_id)
    assert client.status(document_id).signed_pdf_url.startswith(fake.url)


def test_a_signed_pdf_url_elsewhere_must_be_https(client, monkeypatch):
    signed = SignerStatus("maria@cliente.example.com", signed_at="2026-11-22 10:00:00")
    monkeypatch.setattr(client, "status", lambda document_id: DocumentStatus(
        document_id, (signed,), signed_pdf_url="http://files.example.com/signed.pdf"))
    with pytest.raises(SignatureError) as refused:
        client.download_signed("doc")
    assert refused.value.retryable is False
    assert "https" in str(refused.value)


def test_a_signature_without_action_does_not_hold_completion_back():
    fake = AutentiqueFake(token=TOKEN, webhook_secret=SECRET, owner_email="contratos@revenda.example.com").start()
    try:
        client = AutentiqueClient(fake.graphql_url, TOKEN, SECRET, timeout=5)
        document_id = client.create_document(request_for())
        fake.sign(document_id)
        status = client.status(document_id)
    finally:
        fake.stop()
    assert [s.email for s in status.signers] == [CLIENTE.email]
    assert status.complete


def test_the_fake_delivers_its_webhook_to_the_callback(fake, client):
    received = []
    fake.callback = lambda body, headers: received.append(client.parse_webhook(body, headers)) or 200
    document_id = client.create_document(request_for())
    # The fake's own loopback URL.
    control = urllib.request.Request(f"{fake.url}/_test/sign/{document_id}", data=b"", method="POST")  # noqa: S310
    with urllib.request.urlopen(control, timeout=5) as answer:  # noqa: S310 - same reason
        assert answer.status == 204
    [event] = received
    assert (event.event_type, event.document_id) == ("document.finished", document_id)
    assert client.status(document_id).complete


# ---------------------------------------------------------------- the simulator's own promises

def test_simulator_forgets_on_restart_and_says_to_send_again():
    first = SignatureSimulator(webhook_secret=SECRET)
    document_id = first.create_document(request_for())
    restarted = SignatureSimulator(webhook_secret=SECRET)
    with pytest.raises(SignatureError) as forgotten:
        restarted.sign(document_id)
    assert forgotten.value.retryable is False
    assert "again" in str(forgotten.value)


def _weasy_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html).write_pdf()


CONTRACT_HTML = "<html><body><h1>Contrato de prestação de serviços</h1><p>Cláusula primeira.</p></body></html>"


def test_simulator_signs_with_an_evidence_page_marked_simulacao():
    """Issue 13 point 8: the signed PDF was byte-identical to the uploaded one (no evidence at all)."""
    contract = _weasy_pdf(CONTRACT_HTML)
    simulator = SignatureSimulator(webhook_secret=SECRET)
    with clock.frozen(datetime(2026, 12, 6, 13, 0, tzinfo=UTC)):
        document_id = simulator.create_document(SignatureRequest(
            name="Contrato — Açaí Backup Ltda", pdf=contract, signers=(CLIENTE, TESTEMUNHA), html=CONTRACT_HTML))
    with clock.frozen(datetime(2026, 12, 6, 14, 5, 9, tzinfo=UTC)):
        simulator.sign(document_id, CLIENTE.email)
    with clock.frozen(datetime(2026, 12, 7, 9, 30, 0, tzinfo=UTC)):
        simulator.sign(document_id, TESTEMUNHA.email)
    signed = simulator.download_signed(document_id)
    assert signed != contract and signed.startswith(b"%PDF")
    assert pdf.page_count(signed) == pdf.page_count(contract) + 1  # the contract's pages, then the evidence
    assert "Cláusula primeira." in pdf.pdf_text(signed, first_page=1, last_page=1)
    evidence = pdf.flat(pdf.pdf_text(signed, first_page=pdf.page_count(signed)))
    assert "SIMULAÇÃO" in evidence
    for signer, when in ((CLIENTE, "06/12/2026 11:05:09"), (TESTEMUNHA, "07/12/2026 06:30:00")):
        assert signer.name in evidence and signer.email in evidence
        assert when in evidence  # Brasília time (UTC−3)
    assert "2026-12-06 14:05:09 UTC" in evidence and "2026-12-07 09:30:00 UTC" in evidence
    assert hashlib.sha256(contract).hexdigest() in evidence
    assert document_id in evidence


def test_simulator_without_html_signs_with_the_evidence_page_alone():
    simulator = SignatureSimulator(webhook_secret=SECRET)
    document_id = simulator.create_document(request_for())
    simulator.sign(document_id)
    signed = simulator.download_signed(document_id)
    assert signed != PDF
    evidence = pdf.flat(pdf.pdf_text(signed))
    assert "SIMULAÇÃO" in evidence and CLIENTE.email in evidence and hashlib.sha256(PDF).hexdigest() in evidence


# ---------------------------------------------------------------- configuration

BASE = {"SECRET_KEY": "chave", "AUTENTIQUE_URL": "https://api.autentique.com.br/v2/graphql",
        "AUTENTIQUE_TOKEN": "", "AUTENTIQUE_WEBHOOK_SECRET": "", "AUTENTIQUE_SANDBOX": True}


def test_from_config_defaults_to_the_simulator_with_a_secret_derived_from_the_secret_key():
    simulator = from_config({**BASE, "ESIGN_BACKEND": "simulator"})
    again = from_config({**BASE})
    other = from_config({**BASE, "SECRET_KEY": "outra"})
    assert isinstance(simulator, SignatureSimulator) and isinstance(again, SignatureSimulator)
    assert simulator.webhook_secret == again.webhook_secret != other.webhook_secret
    assert simulator.webhook_secret not in ("", "chave")


def test_from_config_simulator_uses_the_configured_webhook_secret():
    simulator = from_config({**BASE, "AUTENTIQUE_WEBHOOK_SECRET": SECRET})
    assert simulator.webhook_secret == SECRET


def test_from_config_autentique():
    client = from_config({**BASE, "ESIGN_BACKEND": "autentique", "AUTENTIQUE_TOKEN": TOKEN,
                          "AUTENTIQUE_WEBHOOK_SECRET": SECRET, "AUTENTIQUE_SANDBOX": False, "AUTENTIQUE_TIMEOUT": 7})
    assert isinstance(client, AutentiqueClient)
    assert (client.url, client.token, client.webhook_secret, client.sandbox, client.timeout) == (
        BASE["AUTENTIQUE_URL"], TOKEN, SECRET, False, 7)


@pytest.mark.parametrize("missing", ["AUTENTIQUE_URL", "AUTENTIQUE_TOKEN", "AUTENTIQUE_WEBHOOK_SECRET"])
def test_from_config_autentique_names_what_is_missing(missing):
    config = {**BASE, "ESIGN_BACKEND": "autentique", "AUTENTIQUE_TOKEN": TOKEN, "AUTENTIQUE_WEBHOOK_SECRET": SECRET,
              missing: ""}
    with pytest.raises(RuntimeError, match=missing):
        from_config(config)


def test_from_config_refuses_an_unknown_backend():
    with pytest.raises(RuntimeError, match="docusign"):
        from_config({**BASE, "ESIGN_BACKEND": "docusign"})


def test_from_config_refuses_a_url_that_is_not_http():
    with pytest.raises(ValueError, match="AUTENTIQUE_URL"):
        from_config({**BASE, "ESIGN_BACKEND": "autentique", "AUTENTIQUE_URL": "file:///etc/passwd",
                     "AUTENTIQUE_TOKEN": TOKEN, "AUTENTIQUE_WEBHOOK_SECRET": SECRET})


def test_the_app_picks_both_integrations_from_its_settings(app):
    from portal.integrations.teams import TeamsSimulator

    assert isinstance(app.extensions["esign"], SignatureSimulator)
    assert isinstance(app.extensions["teams"], TeamsSimulator)


def test_the_simulator_shares_its_documents_between_processes_through_its_directory(tmp_path):
    from portal.integrations.esign import SignatureRequest, SignatureSimulator, Signer

    web_worker = SignatureSimulator("segredo", state_dir=tmp_path)
    other_worker = SignatureSimulator("segredo", state_dir=tmp_path)  # another process, same directory
    document_id = web_worker.create_document(SignatureRequest(
        name="Contrato", pdf=b"%PDF-1.7 contrato", signers=(Signer("Ana", "ana@cliente.example.com"),)))
    assert not other_worker.status(document_id).complete
    body, headers = other_worker.sign(document_id)
    assert web_worker.status(document_id).complete
    assert "SIMULAÇÃO" in pdf.pdf_text(web_worker.download_signed(document_id))
    assert web_worker.parse_webhook(body, headers).document_id == document_id
