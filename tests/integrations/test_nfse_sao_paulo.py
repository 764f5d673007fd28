"""The NFS-e Paulistana adapter (portal/integrations/nfse_sao_paulo.py) against the spec's vectors
(specs/nfse-sao-paulo.md §7) and a local mTLS fake of lotenfe.asmx (tests/fakes/paulistana.py).

The behaviours of the FiscalIssuer contract: issue, idempotent retry after a timeout (ONE note at the city), rejection
with the city's official message, cancel, cancel refused."""

import base64
import hashlib
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from portal.integrations import a1 as a1_module
from portal.integrations import fiscal_issuers, xmldsig
from portal.integrations import nfse_sao_paulo as sp
from portal.integrations.fiscal import (
    Address,
    FiscalCancellation,
    FiscalRejected,
    FiscalRequest,
    FiscalUnavailable,
    IssuedNote,
    Party,
)
from portal.shared import clock
from tests.fakes.paulistana import OFFICIAL, PaulistanaFake, PaulistanaPki

CCM = "12345678"
RESELLER_CNPJ = "11444777000161"
RESELLER = Party(cnpj=RESELLER_CNPJ, name="Portal Cloud Serviços de Tecnologia Ltda",
                 address=Address(street="Avenida Brigadeiro Faria Lima, 3000 – São Paulo/SP"),
                 municipal_registration=CCM)
CUSTOMER = Party(cnpj="11222333000181", name="Demo Tecnologia Ltda & Filhos <SA>",
                 address=Address(street="Rua Augusta", number="100", complement="cj. 12", district="Consolação",
                                 city="São Paulo", state="SP", postal_code="01304000", city_code="3550308"),
                 email="financeiro@demo.example")
TODAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def request(**changes) -> FiscalRequest:
    fields = {"invoice_number": "2026/000123", "amount_cents": 94171, "issue_date": date(2026, 3, 2),
              "service_description": "Fatura 2026/000123\nMicrosoft 365 Business Standard – 11 licença(s)",
              "provider": RESELLER, "taker": CUSTOMER, "series": "F", "number": 2026000123}
    return FiscalRequest(**{**fields, **changes})


# ---------------------------------------------------------------- the spec's vectors (§7)

def test_manual_vectors_of_the_rps_string():
    v1 = sp.rps_string(ccm="31000000", series="OL03", number=1, issue_date=date(2007, 1, 3), amount_cents=2050000,
                       deductions_cents=500000, service_code="2658", taker_kind="1", taker_cnpj="13167474254")
    assert v1 == "31000000OL03 00000000000120070103TNN00000000205000000000000050000002658100013167474254"
    assert len(v1) == 86
    v2 = sp.rps_string(ccm="123456789012", series="RTNT", number=1, issue_date=date(2026, 1, 1),
                       amount_cents=2050000, deductions_cents=500000, service_code="2658", taker_kind="1",
                       taker_cnpj="13167474254", layout=2)
    assert v2 == "123456789012RTNT 00000000000120260101TNN00000000205000000000000050000002658100013167474254"
    assert len(v2) == 90
    assert sp.cancel_string(ccm="31000000", nfe_number="9") == "31000000000000000009"


def test_our_vectors_of_the_rps_and_cancel_strings():
    common = {"ccm": CCM, "series": "F", "number": 2026000123, "issue_date": date(2026, 3, 2),
              "amount_cents": 94171, "service_code": "02800", "taker_cnpj": "11444777000161"}
    v1 = sp.rps_string(**common)
    assert v1 == "12345678F    00202600012320260302TNN00000000009417100000000000000002800211444777000161"
    assert hashlib.sha1(v1.encode("ascii")).hexdigest() == "208726f70b0f51bca0643e2b916e6660cbf508d8"  # noqa: S324
    v2 = sp.rps_string(**common, layout=2)
    assert v2 == "0000" + v1
    assert hashlib.sha1(v2.encode("ascii")).hexdigest() == "9fab7b3679eb027d2fe9b9895ef5e0febc042692"  # noqa: S324
    cancel_v1 = sp.cancel_string(ccm=CCM, nfe_number="42")
    cancel_v2 = sp.cancel_string(ccm=CCM, nfe_number="42", ccm_width=12)
    assert (cancel_v1, cancel_v2) == ("12345678000000000042", "000012345678000000000042")
    assert hashlib.sha1(cancel_v1.encode()).hexdigest().startswith("be0b07e9")  # noqa: S324
    assert hashlib.sha1(cancel_v2.encode()).hexdigest().startswith("7a3e1cb3")  # noqa: S324


def test_a_string_too_long_is_refused():
    with pytest.raises(ValueError, match="too long"):
        sp.rps_string(ccm="123456789", series="F", number=1, issue_date=date(2026, 3, 2), amount_cents=1,
                      service_code="2800", taker_cnpj="11444777000161")


@pytest.fixture(scope="module")
def pki():
    pki = PaulistanaPki(cnpj=RESELLER_CNPJ)
    yield pki
    pki.remove()


def test_the_assinatura_is_rsa_sha1_of_the_string_itself(pki):
    text = "12345678F    00202600012320260302TNN00000000009417100000000000000002800211444777000161"
    value = base64.b64decode(sp.sign_text(pki.a1, text))
    pki.a1.certificate.public_key().verify(value, text.encode("ascii"), padding.PKCS1v15(),
                                           hashes.SHA1())  # noqa: S303


@pytest.mark.parametrize("layout", [1, 2])
def test_the_message_passes_the_xsd_the_signature_checks_and_xmlsec1_agrees(pki, layout, tmp_path):
    settings = sp.Settings(layout=layout, ccm=CCM)
    signed = sp.rps_message(request(), settings, pki.a1)
    root = etree.fromstring(signed)
    assert sp.schema_errors(root, layout) == []
    assert xmldsig.verify(root).serial_number == pki.a1.certificate.serial_number
    signature = root[-1]
    assert signature.tag == f"{{{xmldsig.DS}}}Signature"
    assert signature.find(f"{{{xmldsig.DS}}}SignedInfo/{{{xmldsig.DS}}}Reference").get("URI") == ""
    rps = root.find("RPS")
    assert b'<Cabecalho xmlns="" Versao="%d">' % layout in signed and b'<RPS xmlns="">' in signed  # unqualified
    assert rps.findtext("ChaveRPS/InscricaoPrestador") == CCM
    assert rps.findtext("Discriminacao") == "Fatura 2026/000123|Microsoft 365 Business Standard – 11 licença(s)"
    assert rps.findtext("EnderecoTomador/Cidade") == "3550308"
    assert (rps.find("ValorServicos") is not None) == (layout == 1)
    assert (rps.findtext("ValorInicialCobrado") == "941.71") == (layout == 2)
    body = signed.split(b"?>", 1)[1].strip()
    assert b">\n" not in body and b">  " not in body  # no whitespace between tags
    path = tmp_path / "message.xml"
    path.write_bytes(signed)
    done = subprocess.run([shutil.which("xmlsec1") or "xmlsec1", "--verify", "--trusted-pem",  # noqa: S603
                           str(pki.ca_file), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- against the fake

@pytest.fixture
def city(pki):
    city = PaulistanaFake(pki, prestadores={CCM: RESELLER_CNPJ}).start()
    yield city
    city.stop()
    assert city.answer_violations == []


def issuer(city, pki, a1=None, **settings) -> sp.SaoPauloIssuer:
    """The adapter on the fake; 10 s per call (a loaded CI machine signs and checks slowly: 2 s once timed out the
    consultation after issuing) unless a test wants a timeout."""
    settings = {"timeout": 10, **settings}
    return sp.SaoPauloIssuer(a1 or pki.a1, sp.Settings(url=city.url, ccm=CCM, ca_file=str(pki.ca_file), **settings))


@pytest.fixture(autouse=True)
def frozen_day():
    with clock.frozen(TODAY):
        yield


@pytest.mark.parametrize("layout", [1, 2])
def test_issue_gives_the_note_number_code_xml_and_public_link(city, pki, layout):
    city.layouts[CCM] = layout
    result = issuer(city, pki, layout=layout).issue(request())
    assert result.number == "42"
    assert len(result.verification_code) == 8 and result.verification_code.isalnum()
    assert result.simulated is False and result.pdf is None
    assert result.public_url == ("https://nfe.prefeitura.sp.gov.br/contribuinte/notaprint.aspx?inscricao=12345678"
                                 f"&nf=42&verificacao={result.verification_code}")
    note = etree.fromstring(result.xml)
    assert note.tag == "NFe" and note.findtext("ChaveNFe/NumeroNFe") == "42"
    assert note.findtext("ChaveRPS/NumeroRPS") == "2026000123"
    assert result.request_id == "F-2026000123"
    assert [method for method, _ in city.received] == ["ConsultaNFe", "EnvioRPS", "ConsultaNFe"]
    assert len(city.active_notes()) == 1


def test_the_credit_applied_is_named_in_the_discriminacao_and_the_value_is_the_net(city, pki):
    result = issuer(city, pki).issue(request(discount_cents=5829, purchase_order="PO-77"))
    note = etree.fromstring(result.xml)
    assert note.findtext("ValorServicos") == "941.71"
    assert note.findtext("Discriminacao").endswith(
        "|Valor bruto R$ 1.000,00, crédito aplicado R$ 58,29|Pedido de compra: PO-77")


def test_numbers_are_sequential(city, pki):
    adapter = issuer(city, pki)
    first = adapter.issue(request())
    second = adapter.issue(request(number=2026000124, invoice_number="2026/000124"))
    assert (first.number, second.number) == ("42", "43")


def test_issuing_the_same_rps_again_gives_the_same_note_without_resending(city, pki):
    adapter = issuer(city, pki)
    first = adapter.issue(request())
    again = adapter.issue(request())
    assert (again.number, again.verification_code) == (first.number, first.verification_code)
    assert [m for m, _ in city.received].count("EnvioRPS") == 1
    assert len(city.notes) == 1


def test_a_timeout_after_the_city_committed_then_the_retry_gives_the_same_one_note(city, pki):
    adapter = issuer(city, pki, timeout=2)
    city.timeout_after_commit(4)
    with pytest.raises(FiscalUnavailable):
        adapter.issue(request())
    assert len(city.notes) == 1  # the city did issue it
    result = adapter.issue(request())  # the billing side retries with the SAME series and number
    assert result.number == "42"
    assert len(city.notes) == 1 and len(city.active_notes()) == 1  # no 217: nothing was re-sent
    assert [m for m, _ in city.received].count("EnvioRPS") == 1


def test_a_5xx_is_unavailable_and_the_retry_sends_the_rps_once(city, pki):
    adapter = issuer(city, pki)
    city.fail_next(503)
    with pytest.raises(FiscalUnavailable):
        adapter.issue(request())
    assert city.notes == {}
    assert adapter.issue(request()).number == "42"
    assert len(city.notes) == 1


def test_a_refused_connection_is_unavailable(pki):
    adapter = sp.SaoPauloIssuer(pki.a1, sp.Settings(url="https://127.0.0.1:9/lotenfe.asmx", ccm=CCM,
                                                    ca_file=str(pki.ca_file), timeout=2))
    with pytest.raises(FiscalUnavailable):
        adapter.issue(request())


@pytest.mark.parametrize(("code", "fields"), [
    ("306", ()), ("219", ("taker.municipal_registration",)), ("302", ("taker.cnpj",)),
])
def test_a_rejection_carries_the_citys_code_and_official_message(city, pki, code, fields):
    city.reject_next(code)
    with pytest.raises(FiscalRejected) as caught:
        issuer(city, pki).issue(request())
    assert caught.value.errors == [(code, OFFICIAL[code].format("2800"))]
    assert caught.value.fields == fields
    assert city.notes == {}


def test_a_future_date_is_313_with_the_official_message(city, pki):
    with pytest.raises(FiscalRejected) as caught:
        issuer(city, pki).issue(request(issue_date=date(2026, 3, 3)))
    assert caught.value.errors == [("313", "A data da emissão do RPS não poderá ser superior a data de hoje.")]
    assert caught.value.fields == ("issue_date",)


def test_a_service_code_not_enabled_is_367(city, pki):
    with pytest.raises(FiscalRejected) as caught:
        issuer(city, pki, service_code="2798").issue(request())
    assert caught.value.errors == [("367", "Código do Serviço 2798 não pode ser utilizado pelo prestador de serviço.")]


def test_the_wrong_layout_is_641_or_631(city, pki):
    with pytest.raises(FiscalRejected) as caught:
        issuer(city, pki, layout=2).issue(request())
    assert caught.value.errors[0][0] == "641"
    city.layouts[CCM] = 2
    with pytest.raises(FiscalRejected) as caught:
        issuer(city, pki, layout=1).issue(request())
    assert caught.value.errors[0][0] == "631"


def test_a_certificate_of_another_cnpj_is_1107_at_the_city(city, pki):
    other = pki.a1_for("11222333000181")
    with pytest.raises(FiscalRejected) as caught:
        issuer(city, pki, a1=other).issue(request())
    # the TLS certificate and the remetente agree (both the other CNPJ), the signer is not the prestador's
    assert caught.value.errors == [("1107", OFFICIAL["1107"])]
    assert city.notes == {}


def test_a_tls_certificate_other_than_the_remetente_is_1100(city, pki):
    other = pki.a1_for("11222333000181")
    adapter = sp.SaoPauloIssuer(pki.a1, sp.Settings(url=city.url, ccm=CCM, timeout=2),
                                opener=sp.SaoPauloIssuer._mtls_opener(other, str(pki.ca_file)))
    with pytest.raises(FiscalRejected) as caught:
        adapter.issue(request())
    assert caught.value.errors == [("1100", OFFICIAL["1100"])]


def test_a_certificate_from_an_untrusted_authority_is_refused_at_the_handshake(city, pki):
    with pytest.raises(FiscalUnavailable):
        issuer(city, pki, a1=PaulistanaPki.rogue_a1()).issue(request())
    assert city.received == []


def test_a_schema_invalid_message_is_never_sent(city, pki):
    bad = replace(CUSTOMER, address=replace(CUSTOMER.address, postal_code="0130", city_code="355030"))
    with pytest.raises(FiscalRejected) as caught:
        issuer(city, pki).issue(request(taker=bad))
    assert caught.value.errors[0][0] == "1001"
    assert "nada foi enviado" in caught.value.errors[0][1]
    assert set(caught.value.fields) >= {"taker.address.postal_code", "taker.address.city_code"}
    assert city.received == []


def test_the_fake_rejects_a_tampered_rps_signature_and_a_tampered_message(city, pki):
    adapter = issuer(city, pki)
    signed = sp.rps_message(request(), adapter.settings, pki.a1)
    answer = adapter.call("EnvioRPS", signed.replace(b"<ValorServicos>941.71", b"<ValorServicos>941.70"))
    assert answer.errors == [("1056", OFFICIAL["1056"])]
    root = etree.fromstring(signed)
    root[-1].getparent().remove(root[-1])
    root.find("RPS/Assinatura").text = sp.sign_text(pki.a1, "x" * 86)
    resigned = xmldsig.sign(root, None, pki.a1, algorithm="sha1")
    assert adapter.call("EnvioRPS", resigned).errors == [("1206", OFFICIAL["1206"])]
    assert city.notes == {}


# ---------------------------------------------------------------- cancel

def issued_note(result) -> IssuedNote:
    return IssuedNote(number=result.number, verification_code=result.verification_code, issued_on=result.issued_on,
                      series="F", rps_number=2026000123, provider_cnpj=RESELLER_CNPJ)


REASON = FiscalCancellation(reason_code=1, reason="Erro na emissão da nota fiscal")


@pytest.mark.parametrize("layout", [1, 2])
def test_cancel_ok(city, pki, layout):
    city.layouts[CCM] = layout
    adapter = issuer(city, pki, layout=layout)
    result = adapter.issue(request())
    cancelled = adapter.cancel(issued_note(result), REASON)
    assert cancelled.cancelled_at == date(2026, 3, 2) and cancelled.simulated is False
    assert etree.fromstring(cancelled.xml).findtext("Cabecalho/Sucesso") == "true"
    assert city.notes[42]["status"] == "C"


def test_cancel_in_layout_2_retries_once_with_the_other_width_on_1305(city, pki):
    city.layouts[CCM] = 2
    adapter = issuer(city, pki, layout=2, cancel_ccm_width=8)
    result = adapter.issue(request())
    adapter.cancel(issued_note(result), REASON)
    assert [m for m, _ in city.received].count("CancelamentoNFe") == 2
    assert city.notes[42]["status"] == "C"


def test_cancel_refused_when_already_cancelled_or_not_issued_through_the_web_service(city, pki):
    adapter = issuer(city, pki)
    note = issued_note(adapter.issue(request()))
    adapter.cancel(note, REASON)
    with pytest.raises(FiscalRejected) as caught:
        adapter.cancel(note, REASON)
    assert caught.value.errors == [("1301", "NF-e já cancelada em 02/03/2026.")]
    from_site = city.issue_outside_web_service(CCM)
    with pytest.raises(FiscalRejected) as caught:
        adapter.cancel(replace(note, number=str(from_site)), REASON)
    assert caught.value.errors == [("1306", OFFICIAL["1306"])]


def test_a_cancelled_note_for_the_rps_is_not_issued_again(city, pki):
    adapter = issuer(city, pki)
    adapter.cancel(issued_note(adapter.issue(request())), REASON)
    with pytest.raises(FiscalRejected, match="cancelada"):
        adapter.issue(request())
    assert [m for m, _ in city.received].count("EnvioRPS") == 1


# ---------------------------------------------------------------- configuration

def test_from_config_builds_the_sao_paulo_issuer(tmp_path, pki):
    path = tmp_path / "a1.p12"
    path.write_bytes(a1_module.pkcs12_bytes(pki.a1, b"secret"))
    config = {"FISCAL_BACKEND": "nfse_sao_paulo", "FISCAL_CERT_FILE": str(path), "FISCAL_CERT_PASSWORD": "secret",
              "RESELLER_MUNICIPAL_REGISTRATION": "1234567-8", "PAULISTANA_LAYOUT": 2, "RESELLER_CNPJ": RESELLER_CNPJ}
    adapter = fiscal_issuers.from_config(config, str(tmp_path))
    assert isinstance(adapter, sp.SaoPauloIssuer) and adapter.backend == "nfse_sao_paulo"
    assert (adapter.settings.ccm, adapter.settings.layout, adapter.settings.service_code) == (CCM, 2, "2800")
    with pytest.raises(RuntimeError, match="RESELLER_MUNICIPAL_REGISTRATION"):
        fiscal_issuers.from_config({**config, "RESELLER_MUNICIPAL_REGISTRATION": ""}, str(tmp_path))
