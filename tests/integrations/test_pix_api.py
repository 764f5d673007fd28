"""The PixProvider contract, checked on the simulator and on the API Pix adapter against a local HTTPS fake PSP
(tests/fakes/pix_psp.py: mTLS with a throwaway CA, OAuth2 tokens, request bodies checked against the schemas).
No database and no Flask app of the portal are involved."""

import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from datetime import date, timedelta

import pytest

from portal.billing.pix import crc_ok, parse_payload
from portal.integrations.pix import (
    ApiPixProvider,
    CobvRequest,
    PixError,
    SimulatedPixProvider,
    dynamic_payload,
    from_config,
    txid_for,
)
from portal.shared import clock
from tests.fakes.externals import LoopbackServer
from tests.fakes.openapi import OpenApi
from tests.fakes.pix_psp import PixPspFake, ThrowawayPki, cobv_violations

CHAVE = "11444777000161"
CLIENT_ID, CLIENT_SECRET = "portal-client", "segredo-do-cliente"


def cobv_request(txid: str, amount_cents: int = 123_45, due: date = date(2026, 3, 10)) -> CobvRequest:
    return CobvRequest(txid=txid, due_date=due, amount_cents=amount_cents, payer_document="12.ABC.345/01DE-35",
                       payer_name="Açaí Backup Ltda", chave=CHAVE, fine_bp=200, interest_monthly_bp=100,
                       solicitation="Fatura 42 — Portal Cloud")


def txid(n: int) -> str:
    return txid_for(n, 1, "segredo-de-teste")


@pytest.fixture(scope="module")
def pki():
    made = ThrowawayPki()
    yield made
    made.remove()


class Simulated:
    def __init__(self):
        self.provider = SimulatedPixProvider(CHAVE, "Portal Cloud", "São Paulo")

    def pay(self, txid):
        return self.provider.pay(txid)

    def refund(self, pix, cents):
        self.provider.refund(pix.end_to_end_id, cents)

    def close(self):
        pass


class ApiAgainstFake:
    def __init__(self, pki, **fake_options):
        self.pki = pki
        self.fake = PixPspFake(pki, CLIENT_ID, CLIENT_SECRET, **fake_options).start()
        self.provider = self.make()

    def make(self, **options):
        settings = dict(chave=CHAVE, cert_file=str(self.pki.client_cert), key_file=str(self.pki.client_key),
                        ca_file=str(self.pki.ca_cert), merchant_name="Portal Cloud", merchant_city="São Paulo",
                        timeout=5)
        settings.update(options)
        return ApiPixProvider(self.fake.api_url, self.fake.token_url, CLIENT_ID, CLIENT_SECRET, **settings)

    def pay(self, txid):
        return self.fake.pay(txid)

    def refund(self, pix, cents):
        self.fake.refund(pix["endToEndId"], cents)

    def close(self):
        self.fake.stop()
        assert self.fake.response_violations == []  # every answer of the fake fitted its OpenAPI response schema


@pytest.fixture(params=["simulator", "api_pix"])
def backend(request, pki):
    harness = Simulated() if request.param == "simulator" else ApiAgainstFake(pki)
    yield harness
    harness.close()


@pytest.fixture
def api(pki):
    harness = ApiAgainstFake(pki)
    yield harness
    harness.close()


# ---------------------------------------------------------------- the contract, on both

def test_create_get_revise_remove(backend):
    provider = backend.provider
    created = provider.create_cobv(cobv_request(txid(1)))
    assert (created.txid, created.status, created.revision, created.amount_cents) == (txid(1), "ATIVA", 0, 123_45)
    assert created.due_date == date(2026, 3, 10)
    assert created.location and "://" not in created.location
    assert crc_ok(created.pix_copia_e_cola)
    assert parse_payload(created.pix_copia_e_cola)["26"]["25"] == created.location

    again = provider.create_cobv(cobv_request(txid(1)))  # a retried job: the same txid replaces, no second cobv
    assert again.location == created.location and again.revision == 1

    assert provider.get_cobv(txid(1)).amount_cents == 123_45
    revised = provider.revise_cobv(txid(1), due_date=date(2026, 3, 13), amount_cents=130_00)
    assert (revised.revision, revised.due_date, revised.amount_cents) == (2, date(2026, 3, 13), 130_00)
    assert provider.get_cobv(txid(1)).due_date == date(2026, 3, 13)

    removed = provider.remove_cobv(txid(1))
    assert removed.status == "REMOVIDA_PELO_USUARIO_RECEBEDOR"
    with pytest.raises(PixError) as refused:
        provider.revise_cobv(txid(1), amount_cents=1_00)
    assert refused.value.status == 400 and refused.value.name == "CobVOperacaoInvalida"
    with pytest.raises(PixError) as refused:
        provider.create_cobv(cobv_request(txid(1)))
    assert refused.value.status == 400 and not refused.value.retryable


def test_unknown_cobv_is_404(backend):
    with pytest.raises(PixError) as missing:
        backend.provider.get_cobv(txid(99))
    assert missing.value.status == 404
    assert missing.value.name == "CobVNaoEncontrada"
    assert missing.value.title and missing.value.detail


def test_bad_requests_are_refused_before_sending(backend):
    with pytest.raises(PixError):
        backend.provider.create_cobv(cobv_request("curto"))
    with pytest.raises(PixError):
        backend.provider.create_cobv(cobv_request(txid(2), amount_cents=0))
    with pytest.raises(PixError):
        backend.provider.revise_cobv(txid(2))


def test_received_pix_after_payment(backend):
    provider = backend.provider
    before = clock.now() - timedelta(minutes=1)
    for n in (3, 4, 5):
        provider.create_cobv(cobv_request(txid(n), amount_cents=n * 100_00))
    paid = [backend.pay(txid(n)) for n in (3, 5)]
    assert len(paid) == 2
    got = provider.received(before, clock.now() + timedelta(minutes=1))
    assert sorted((p.txid, p.amount_cents) for p in got) == sorted([(txid(3), 300_00), (txid(5), 500_00)])
    assert all(p.end_to_end_id and p.paid_at.tzinfo for p in got)
    assert provider.get_cobv(txid(3)).status == "CONCLUIDA"
    assert [p.txid for p in provider.get_cobv(txid(3)).pix] == [txid(3)]
    assert provider.received(before - timedelta(days=2), before - timedelta(days=1)) == []


def test_webhook_register_show_remove(backend):
    provider = backend.provider
    assert provider.webhook() is None
    with pytest.raises(PixError) as missing:
        provider.remove_webhook()
    assert missing.value.status == 404
    provider.register_webhook("https://portal.example/webhooks/pix/segredo")
    assert provider.webhook() == "https://portal.example/webhooks/pix/segredo"
    provider.register_webhook("https://portal.example/webhooks/pix/outro")  # one URL per key: replaced
    assert provider.webhook() == "https://portal.example/webhooks/pix/outro"
    provider.remove_webhook()
    assert provider.webhook() is None
    with pytest.raises(PixError):
        provider.register_webhook("ftp://portal.example/x")


def test_a_refund_is_reported_with_the_pix(backend):
    provider = backend.provider
    before = clock.now() - timedelta(minutes=1)
    provider.create_cobv(cobv_request(txid(6), amount_cents=200_00))
    backend.refund(backend.pay(txid(6)), 50_00)
    [pix] = provider.received(before, clock.now() + timedelta(minutes=1))
    [refund] = pix.refunds
    assert (refund.amount_cents, refund.status) == (50_00, "DEVOLVIDO") and refund.rtr_id.startswith("D")
    assert pix.amount_cents == 200_00


def test_the_simulator_shares_its_state_through_a_directory(tmp_path):
    web = SimulatedPixProvider(CHAVE, "Portal Cloud", "São Paulo", state_dir=str(tmp_path))
    consumer = SimulatedPixProvider(CHAVE, "Portal Cloud", "São Paulo", state_dir=str(tmp_path))
    created = consumer.create_cobv(cobv_request(txid(7)))
    assert web.get_cobv(txid(7)) == created
    pix = web.pay(txid(7))
    assert consumer.get_cobv(txid(7)).status == "CONCLUIDA"
    assert consumer.received(pix.paid_at - timedelta(seconds=1), pix.paid_at) == [pix]
    web.register_webhook("https://portal.example/webhooks/pix/x")
    assert consumer.webhook() == "https://portal.example/webhooks/pix/x"
    assert from_config({"PIX_BACKEND": "simulator", "PIX_KEY": CHAVE,
                        "PIX_SIMULATOR_DIR": str(tmp_path)}).get_cobv(txid(7)).status == "CONCLUIDA"


# ---------------------------------------------------------------- the API Pix adapter only

def test_the_fakes_answers_are_checked_against_the_response_schemas(api):
    api.provider.create_cobv(cobv_request(txid(28)))
    api.pay(txid(28))
    api.provider.get_cobv(txid(28))
    with pytest.raises(PixError):
        api.provider.get_cobv(txid(98))
    assert {(method, rule) for method, rule in api.fake.requests} and api.fake.response_violations == []
    answer = json.loads(json.dumps(api.fake.cobvs[txid(28)]))
    answer["status"] = "PAGA"  # not a CobrancaStatus
    del answer["valor"]
    found = OpenApi.load().response_violations("/cobv/{txid}", "get", 200, answer)
    assert {v["propriedade"] for v in found} >= {"status"}
    assert OpenApi.load().response_violations("/cobv/{txid}", "get", 418, {}) != []


def test_an_invalid_body_is_a_400_problem_from_the_schema(api):
    api.provider.create_cobv(cobv_request(txid(29)))
    with pytest.raises(PixError) as refused:
        api.provider._call("PATCH", f"/cobv/{txid(29)}", {"valor": {"original": "1,00"}})
    assert refused.value.status == 400 and refused.value.name == "CobVOperacaoInvalida"
    assert [v["propriedade"] for v in refused.value.violations] == ["cobv.valor.original"]
    with pytest.raises(PixError) as refused:
        api.provider._call("PUT", "/webhook/" + CHAVE, {"url": "https://x.example"})
    assert refused.value.status == 400 and refused.value.violations



def test_received_follows_pagination(api):
    provider = api.make(page_size=2)
    start = clock.now() - timedelta(minutes=1)
    for n in range(10, 15):
        provider.create_cobv(cobv_request(txid(n)))
        api.pay(txid(n))
    got = provider.received(start, clock.now() + timedelta(minutes=1))
    assert len(got) == 5 and len({p.end_to_end_id for p in got}) == 5
    pages = [path for method, path in api.fake.requests if path.startswith("/api/v2/pix")]
    assert len(pages) == 3


def test_token_reused_then_refreshed(api):
    provider = api.provider
    provider.create_cobv(cobv_request(txid(20)))
    provider.get_cobv(txid(20))
    provider.revise_cobv(txid(20), amount_cents=99_00)
    assert api.fake.token_requests == 1
    api.fake.revoke_tokens()  # a 401: a new token, the call made again once
    assert provider.get_cobv(txid(20)).amount_cents == 99_00
    assert api.fake.token_requests == 2


def test_token_refreshed_when_it_expires(pki):
    harness = ApiAgainstFake(pki, token_lifetime=0.5)
    try:
        harness.provider.create_cobv(cobv_request(txid(21)))
        harness.provider.get_cobv(txid(21))
        assert harness.fake.token_requests == 1
        threading.Event().wait(0.6)
        harness.provider.get_cobv(txid(21))
        assert harness.fake.token_requests == 2
    finally:
        harness.close()


def test_wrong_client_secret_and_missing_scope(pki):
    harness = ApiAgainstFake(pki, scopes=frozenset({"cobv.read"}))
    try:
        with pytest.raises(PixError) as forbidden:
            harness.provider.create_cobv(cobv_request(txid(22)))
        assert forbidden.value.status == 403
        wrong = ApiPixProvider(harness.fake.api_url, harness.fake.token_url, CLIENT_ID, "errado", chave=CHAVE,
                               cert_file=str(pki.client_cert), key_file=str(pki.client_key), ca_file=str(pki.ca_cert))
        with pytest.raises(PixError) as refused:
            wrong.get_cobv(txid(22))
        assert refused.value.status == 401 and refused.value.title == "invalid_client"
    finally:
        harness.close()


def _plain_get(url: str, context: ssl.SSLContext) -> int:
    with urllib.request.urlopen(url, context=context, timeout=5) as answer:  # noqa: S310 - the local fake
        return answer.status


def test_connection_without_client_certificate_refused(api, pki):
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError, OSError)):
        _plain_get(api.fake.api_url + "/cobv/" + txid(1), context)
    rogue = ssl.create_default_context(cafile=str(pki.ca_cert))
    rogue.load_cert_chain(pki.rogue_cert, pki.rogue_key)  # a certificate from another CA
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError, OSError)):
        _plain_get(api.fake.api_url + "/cobv/" + txid(1), rogue)
    with pytest.raises(PixError) as refused:
        api.make(cert_file=str(pki.rogue_cert), key_file=str(pki.rogue_key)).get_cobv(txid(1))
    assert refused.value.retryable and refused.value.status is None
    assert api.fake.requests == []  # nothing reached the application


def test_timeout_is_a_retryable_pix_error(api):
    provider = api.make(timeout=0.3)
    provider.create_cobv(cobv_request(txid(23)))
    api.fake.stall_next(1.0)
    with pytest.raises(PixError) as slow:
        provider.get_cobv(txid(23))
    assert slow.value.retryable and "0.3" in str(slow.value)


def test_unreachable_psp_is_a_retryable_pix_error(api, pki):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = ApiPixProvider(f"https://127.0.0.1:{port}/v2", f"https://127.0.0.1:{port}/oauth/token", CLIENT_ID,
                              CLIENT_SECRET, chave=CHAVE, cert_file=str(pki.client_cert), key_file=str(pki.client_key),
                              ca_file=str(pki.ca_cert), timeout=2)
    with pytest.raises(PixError) as down:
        provider.get_cobv(txid(1))
    assert down.value.retryable


def test_location_made_when_the_psp_makes_none(pki):
    harness = ApiAgainstFake(pki, auto_location=False)
    try:
        created = harness.provider.create_cobv(cobv_request(txid(24)))
        assert created.location and crc_ok(created.pix_copia_e_cola)
        assert [m for m, p in harness.fake.requests] == ["PUT", "POST", "PATCH"]
    finally:
        harness.close()


def test_bodies_sent_match_the_schema(api):
    api.provider.create_cobv(cobv_request(txid(25)))
    stored = api.fake.cobvs[txid(25)]
    assert stored["devedor"] == {"cnpj": "12ABC34501DE35", "nome": "Açaí Backup Ltda"}
    assert stored["valor"] == {"original": "123.45", "multa": {"modalidade": 2, "valorPerc": "2.00"},
                               "juros": {"modalidade": 3, "valorPerc": "1.00"}}
    assert stored["calendario"]["dataDeVencimento"] == "2026-03-10"


def test_the_fakes_schema_check():
    spec_example = {  # cobBody1 from the OpenAPI document (modalidade as strings, as [O] writes them)
        "calendario": {"dataDeVencimento": "2020-12-31", "validadeAposVencimento": 30}, "loc": {"id": 789},
        "devedor": {"logradouro": "Alameda Souza, Numero 80, Bairro Braz", "cidade": "Recife", "uf": "PE",
                    "cep": "70011750", "cpf": "12345678909", "nome": "Francisco da Silva"},
        "valor": {"original": "123.45", "multa": {"modalidade": "2", "valorPerc": "15.00"},
                  "juros": {"modalidade": "2", "valorPerc": "2.00"},
                  "desconto": {"modalidade": "1", "descontoDataFixa": [{"data": "2020-11-30", "valorPerc": "30.00"}]}},
        "chave": "5f84a4c5-c5cb-4599-9f13-7eb4d419dacc", "solicitacaoPagador": "Cobrança dos serviços prestados."}
    assert cobv_violations(spec_example) == []
    broken = json.loads(json.dumps(spec_example))
    broken["valor"]["original"] = "123.4"
    broken["devedor"]["cnpj"] = "11444777000161"
    del broken["chave"]
    props = {v["propriedade"] for v in cobv_violations(broken)}
    assert {"cobv.valor.original", "cobv.devedor", "cobv.chave"} <= props
    assert cobv_violations({"status": "REMOVIDA_PELO_USUARIO_RECEBEDOR"}, revision=True) == []
    assert cobv_violations({"status": "REMOVIDA_PELO_USUARIO_RECEBEDOR", "valor": {"original": "1.00"}},
                           revision=True)


def test_webhook_registered_and_called_on_payment(api):
    calls = []

    def receiver(environ, start_response):
        calls.append((environ["PATH_INFO"], json.loads(environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = LoopbackServer(receiver).start()
    try:
        api.provider.register_webhook(server.url + "/webhooks/pix/segredo")
        assert api.fake.webhooks[CHAVE] == server.url + "/webhooks/pix/segredo"
        api.provider.create_cobv(cobv_request(txid(26)))
        pix = api.fake.pay(txid(26))
    finally:
        server.stop()
    assert calls == [("/webhooks/pix/segredo/pix", {"pix": [pix]})]
    assert api.fake.webhook_deliveries[0][2] == 200


def test_simulator_webhook_body():
    provider = SimulatedPixProvider(CHAVE, "Portal Cloud", "São Paulo")
    provider.register_webhook("https://portal.example/webhooks/pix/x")
    provider.create_cobv(cobv_request(txid(27)))
    pix = provider.pay(txid(27))
    body = provider.webhook_body(pix)
    assert body["pix"][0]["txid"] == txid(27) and body["pix"][0]["valor"] == "123.45"
    assert body["pix"][0]["endToEndId"] == pix.end_to_end_id and len(pix.end_to_end_id) == 32


# ---------------------------------------------------------------- configuration

def test_from_config(pki):
    assert from_config({}) is None
    assert from_config({"PIX_BACKEND": "static"}) is None
    assert isinstance(from_config({"PIX_BACKEND": "simulator", "PIX_KEY": CHAVE}), SimulatedPixProvider)
    with pytest.raises(RuntimeError, match="PIX_CLIENT_ID"):
        from_config({"PIX_BACKEND": "api_pix", "PIX_KEY": CHAVE, "PIX_API_URL": "https://psp.example/v2"})
    provider = from_config({"PIX_BACKEND": "api_pix", "PIX_KEY": CHAVE, "PIX_API_URL": "https://psp.example/v2",
                            "PIX_TOKEN_URL": "https://psp.example/oauth/token", "PIX_CLIENT_ID": "a",
                            "PIX_CLIENT_SECRET": "b", "PIX_CERT_FILE": str(pki.client_cert),
                            "PIX_KEY_FILE": str(pki.client_key), "PIX_CA_FILE": str(pki.ca_cert)})
    assert isinstance(provider, ApiPixProvider)
    with pytest.raises(RuntimeError):
        from_config({"PIX_BACKEND": "boleto"})


# ---------------------------------------------------------------- txid_for and the BR Code

def test_txid_for_is_deterministic_and_fits_the_schema():
    first = txid_for(42, 1, "segredo")
    assert first == txid_for(42, 1, "segredo")
    assert 26 <= len(first) <= 35 and first.isalnum() and first.isascii()
    others = {txid_for(42, 2, "segredo"), txid_for(43, 1, "segredo"), txid_for(42, 1, "outro")}
    assert first not in others and len(others) == 3


@pytest.mark.parametrize("args", [(0, 1, "s"), (1, 0, "s"), (1, 1, ""), ("1", 1, "s"), (True, 1, "s")])
def test_txid_for_refuses_bad_input(args):
    with pytest.raises(ValueError):
        txid_for(*args)


def test_dynamic_payload_vectors():
    d2 = ("00020101021226810014br.gov.bcb.pix2559pix.example.com/qr/v2/cobv/1e6c54d3ec9449b7a7fc53b6b0f998e7"
          "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***6304869A")
    assert dynamic_payload("pix.example.com/qr/v2/cobv/1e6c54d3ec9449b7a7fc53b6b0f998e7", "Fulano de Tal",
                           "BRASILIA") == d2
    built = dynamic_payload("pix.example.com/qr/c2/cobv/9d36b84fc70b478fb95c12729b90ca25", "EMPRESA EXEMPLO LTDA",
                            "SAO PAULO")
    assert built.endswith("62070503***6304313B")
    with pytest.raises(PixError):
        dynamic_payload("https://pix.example.com/qr", "A", "B")
