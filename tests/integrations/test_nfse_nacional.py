"""The NFS-e Nacional adapter (portal/integrations/nfse_nacional.py) against the spec's vectors
(specs/nfse-nacional.md §7) and the fake Sefin (tests/fakes/sefin.py) over mTLS."""

import base64
import copy
import gzip
import hashlib
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from portal.integrations import nfse_nacional, xmldsig
from portal.integrations.fiscal import FiscalCancellation, FiscalRejected, FiscalUnavailable, IssuedNote
from portal.integrations.nfse_nacional import NacionalSettings, NfseNacionalIssuer
from tests.fakes.sefin import MESSAGES, SefinFake, SefinPki
from tests.integrations.fiscal_contract import AuthorityContract, contract_request, note_of

VECTORS = Path(__file__).parent / "vectors"
BRASILIA = ZoneInfo("America/Sao_Paulo")
SPEC_ISSUED_AT = datetime(2026, 3, 2, 10, 15, tzinfo=BRASILIA)
DPS_ID = "DPS355030821122233300018100001000002026000123"
DPS_DIGEST = "dtO3C59AP/4OfUnyXxC0DqOXskhifVgwX4rAapqENsY="
EVENT_DIGEST = "PX375hM6654wGt0uQZc5buw4mVBgZLWNB09QTLnWEWI="
SPEC_KEY = "35503082211222333000181000000000000126031234567899"


def spec_request():
    return contract_request(2026000123, amount_cents=94171, discount_cents=5829)


@pytest.fixture(scope="module")
def pki():
    made = SefinPki()
    yield made
    made.remove()


@pytest.fixture(scope="module")
def sefin(pki):
    fake = SefinFake(pki).start()
    yield fake
    fake.stop()


class _Control:
    sample_rejection = "E0310"

    def __init__(self, fake: SefinFake) -> None:
        self.fake = fake

    def reject_next(self, code: str) -> None:
        self.fake.reject_next(code, "Código de tributação nacional inexistente.")

    def fail_next(self, count: int = 1) -> None:
        self.fake.fail_next(count)

    def notes_issued(self) -> int:
        return len(self.fake.notes)


def make_issuer(sefin, pki, *, a1=None, timeout=10.0) -> NfseNacionalIssuer:
    return NfseNacionalIssuer(NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file), timeout=timeout),
                              a1 or pki.a1)


@pytest.fixture
def issuer(sefin, pki):
    return make_issuer(sefin, pki)


@pytest.fixture
def authority(sefin):
    return _Control(sefin)


class TestNfseNacionalContract(AuthorityContract):
    pass


# ---------------------------------------------------------------- the spec's vectors

def test_the_dps_of_the_spec_inputs_is_the_spec_vector_and_xsd_valid():
    root = nfse_nacional.build_dps(spec_request(), NacionalSettings(), issued_at=SPEC_ISSUED_AT)
    assert etree.tostring(root) == (VECTORS / "dps-spec.xml").read_bytes().strip()
    assert nfse_nacional.schema_errors(root, "DPS_v1.01.xsd") == []
    digest = base64.b64encode(hashlib.sha256(etree.tostring(copy.deepcopy(root[0]), method="c14n")).digest())
    assert digest.decode() == DPS_DIGEST


def test_the_signed_dps_keeps_the_vector_and_passes_the_xsd(pki):
    issuer = NfseNacionalIssuer(NacionalSettings(), pki.a1)
    identifier, data = issuer.signed_dps(spec_request(), issued_at=SPEC_ISSUED_AT)
    assert identifier == DPS_ID == nfse_nacional.dps_id("3550308", "11222333000181", "1", 2026000123)
    assert len(identifier) == 45
    root = etree.fromstring(data)
    assert root[-1].tag == f"{{{xmldsig.DS}}}Signature" and root[-1].prefix is None
    assert nfse_nacional.schema_errors(root, "DPS_v1.01.xsd") == []
    assert xmldsig.verify(root) is not None
    assert root.find(f".//{{{xmldsig.DS}}}DigestValue").text == DPS_DIGEST  # infDPS unchanged by the signature


def test_the_cancellation_event_is_the_spec_vector():
    note = IssuedNote(number="1", verification_code=SPEC_KEY, issued_on=date(2026, 3, 2), access_key=SPEC_KEY,
                      provider_cnpj="11222333000181")
    root = nfse_nacional.build_cancellation(
        note, FiscalCancellation(reason_code=1, reason="Erro na emissao: valor do servico divergente"),
        NacionalSettings(), at=datetime(2026, 3, 3, 9, 0, tzinfo=BRASILIA))
    assert etree.tostring(root) == (VECTORS / "cancelamento-spec.xml").read_bytes().strip()
    assert len(root[0].get("Id")) == 59
    assert nfse_nacional.schema_errors(root, "pedRegEvento_v1.01.xsd") == []
    digest = base64.b64encode(hashlib.sha256(etree.tostring(copy.deepcopy(root[0]), method="c14n")).digest())
    assert digest.decode() == EVENT_DIGEST


def test_the_access_key_check_digit():
    assert nfse_nacional.valid_access_key(SPEC_KEY)
    assert nfse_nacional.valid_access_key("43030042228189466000104000000000004624101791626748")  # production, DV 8
    assert not nfse_nacional.valid_access_key(SPEC_KEY[:-1] + "8")
    assert nfse_nacional.access_key_dv(SPEC_KEY[:49]) == 9


def test_purchase_order_iss_rate_and_withholding_go_where_the_layout_has_them():
    settings = NacionalSettings(iss_rate_bp=290, iss_withheld=True, tax_regime="me_epp")
    root = nfse_nacional.build_dps(spec_request().__class__(**{**spec_request().__dict__, "purchase_order": "PO-77"}),
                                   settings, issued_at=SPEC_ISSUED_AT)
    ns = {"n": nfse_nacional.NS}
    assert root.findtext("n:infDPS/n:serv/n:infoCompl/n:xPed", namespaces=ns) == "PO-77"
    assert root.findtext(".//n:tribMun/n:pAliq", namespaces=ns) == "2.90"
    assert root.findtext(".//n:tribMun/n:tpRetISSQN", namespaces=ns) == "2"
    assert root.findtext(".//n:regTrib/n:regApTribSN", namespaces=ns) == "1"
    assert nfse_nacional.schema_errors(root, "DPS_v1.01.xsd") == []


def test_a_reissue_links_the_note_it_replaces():
    request = spec_request().__class__(**{**spec_request().__dict__, "replaces": SPEC_KEY})
    root = nfse_nacional.build_dps(request, NacionalSettings(), issued_at=SPEC_ISSUED_AT)
    assert root.findtext(f".//{{{nfse_nacional.NS}}}subst/{{{nfse_nacional.NS}}}chSubstda") == SPEC_KEY
    assert nfse_nacional.schema_errors(root, "DPS_v1.01.xsd") == []


def test_an_xsd_invalid_dps_never_leaves(issuer, sefin):
    seen = len(sefin.requests)
    long_name = spec_request().taker.__class__(**{**spec_request().taker.__dict__, "name": "X" * 400})
    with pytest.raises(FiscalRejected) as caught:
        issuer.issue(spec_request().__class__(**{**spec_request().__dict__, "taker": long_name, "number": 77}))
    assert caught.value.errors[0][0] == "XSD" and "xNome" in caught.value.errors[0][1]
    assert len(sefin.requests) == seen


def test_missing_taker_city_code_is_rejected_before_sending_naming_the_field(issuer, sefin):
    request = spec_request()
    taker = request.taker.__class__(**{**request.taker.__dict__,
                                       "address": request.taker.address.__class__(
                                           **{**request.taker.address.__dict__, "city_code": ""})})
    seen = len(sefin.requests)
    with pytest.raises(FiscalRejected) as caught:
        issuer.issue(request.__class__(**{**request.__dict__, "taker": taker, "number": 78}))
    assert caught.value.fields == ("taker.address.city_code",)
    assert len(sefin.requests) == seen


# ---------------------------------------------------------------- against the fake Sefin

def test_issue_stores_the_note_as_returned(issuer, sefin):
    request = contract_request(2026000301)
    result = issuer.issue(request)
    assert nfse_nacional.valid_access_key(result.access_key)
    assert result.verification_code == result.access_key
    assert result.request_id == nfse_nacional.dps_id("3550308", "11222333000181", "1", 2026000301)
    stored = sefin.notes[result.access_key]
    assert result.xml.encode() == stored["xml"]  # exactly as the Sefin returned it
    info = etree.fromstring(result.xml.encode()).find(f"{{{nfse_nacional.NS}}}infNFSe")
    assert info.get("Id") == "NFS" + result.access_key
    assert result.number == info.findtext(f"{{{nfse_nacional.NS}}}nNFSe")
    assert result.pdf is not None and result.pdf.startswith(b"%PDF-")
    assert result.simulated is True  # produção restrita: no legal value


@pytest.mark.parametrize(("code", "fields"), [("E0234", ("taker.address.street", "taker.address.district",
                                                          "taker.address.postal_code", "taker.address.city_code")),
                                               ("E0037", ())])
def test_sefin_codes_become_fiscal_rejected_with_the_official_message(issuer, sefin, code, fields):
    sefin.reject_next(code, "Município emissor sem convênio ativo." if code == "E0037" else "")
    with pytest.raises(FiscalRejected) as caught:
        issuer.issue(contract_request(2026000310 + len(fields)))
    assert caught.value.errors[0][0] == code
    assert caught.value.errors[0][1] == (MESSAGES[code] if code == "E0234" else "Município emissor sem convênio ativo.")
    assert caught.value.fields == fields


def test_a_timeout_after_the_sefin_committed_finds_the_note_on_retry(sefin, pki):
    issuer = make_issuer(sefin, pki, timeout=0.5)
    request = contract_request(2026000320)
    sefin.commit_then_stall(1.5)
    with pytest.raises(FiscalUnavailable):
        issuer.issue(request)
    identifier = nfse_nacional.dps_id("3550308", "11222333000181", "1", 2026000320)
    assert sefin.by_dps.get(identifier)  # the Sefin did commit it
    result = issuer.issue(request)
    assert result.access_key == sefin.by_dps[identifier]
    assert sefin.dps_seen.count(identifier) == 1  # the retry asked GET /dps and did not post again
    assert [note for note in sefin.notes.values() if note["id"] == identifier] == [sefin.notes[result.access_key]]


def test_a_duplicate_answer_e0014_gives_the_note_back(issuer, sefin, monkeypatch):
    request = contract_request(2026000321)
    first = issuer.issue(request)
    identifier, data = issuer.signed_dps(request)
    status, answer = issuer._call("POST", "/nfse", {"dpsXmlGZipB64": base64.b64encode(gzip.compress(data)).decode()})
    assert status == 400 and answer["erros"][0]["codigo"] == "E0014"  # the Sefin never replays the first answer
    # Another worker posted it between our GET /dps and our POST: the POST gets E0014 and the note is read back.
    asked = []
    real_find = issuer.find

    def find(dps):
        asked.append(dps)
        return None if len(asked) == 1 else real_find(dps)

    monkeypatch.setattr(issuer, "find", find)
    assert issuer.issue(request).access_key == first.access_key
    assert asked == [identifier, identifier]
    assert sefin.dps_seen.count(identifier) == 3
    assert len([note for note in sefin.notes.values() if note["id"] == identifier]) == 1


def test_a_wrong_client_certificate_is_403_mapped(sefin, pki):
    issuer = make_issuer(sefin, pki, a1=pki.other_a1)
    with pytest.raises(FiscalRejected) as caught:
        issuer.issue(contract_request(2026000330, provider=contract_request().provider.__class__(
            **{**contract_request().provider.__dict__, "cnpj": pki.other_a1.cnpj})))
    assert caught.value.errors[0][0] == "E1200"


def test_an_unreachable_sefin_is_unavailable(pki):
    issuer = NfseNacionalIssuer(NacionalSettings(base_url="https://127.0.0.1:9/SefinNacional",
                                                 ca_file=str(pki.ca_file), timeout=1), pki.a1)
    with pytest.raises(FiscalUnavailable):
        issuer.issue(contract_request(2026000331))


def test_cancel_registers_the_event(issuer, sefin):
    request = contract_request(2026000340)
    result = issuer.issue(request)
    cancelled = issuer.cancel(note_of(result, request),
                              FiscalCancellation(reason_code=9, reason="Fatura cancelada a pedido do cliente"))
    assert sefin.notes[result.access_key]["cancelled"] is True
    assert f'Id="EVT{result.access_key}101101001"' in cancelled.xml


def test_cancel_errors_are_mapped(issuer, sefin):
    request = contract_request(2026000341)
    result = issuer.issue(request)
    with pytest.raises(FiscalRejected) as caught:
        issuer.cancel(note_of(result, request), FiscalCancellation(reason_code=1, reason="curto"))
    assert caught.value.errors[0][0] == "EVENTO"
    unknown = "3550308221122233300018100000000009992603123456789"
    unknown += str(nfse_nacional.access_key_dv(unknown))
    with pytest.raises(FiscalRejected) as caught:
        issuer.cancel(IssuedNote(number="9", verification_code=unknown, issued_on=date(2026, 3, 2),
                                 access_key=unknown, provider_cnpj="11222333000181"),
                      FiscalCancellation(reason_code=1, reason="Erro na emissão do documento"))
    assert caught.value.errors[0][0] == "E1831"
    sefin.reject_next("E0822", "Prazo para cancelamento expirado.")
    with pytest.raises(FiscalRejected) as caught:
        issuer.cancel(note_of(result, request),
                      FiscalCancellation(reason_code=1, reason="Erro na emissão do documento"))
    assert caught.value.errors == [("E0822", "Prazo para cancelamento expirado.")]


def test_a_cancellation_whose_answer_was_lost_is_found_when_sent_again(sefin, pki):
    """The Sefin registered the cancellation but the answer never came (a timeout after commit): sent again, it is
    refused with E0840 (already cancelled), and the adapter answers with the event the Sefin registered."""
    issuer = make_issuer(sefin, pki, timeout=0.5)
    request = contract_request(2026000342)
    result = issuer.issue(request)
    cancellation = FiscalCancellation(reason_code=9, reason="Fatura cancelada a pedido do cliente")
    sefin.commit_then_stall(1.5)
    with pytest.raises(FiscalUnavailable):
        issuer.cancel(note_of(result, request), cancellation)
    assert sefin.notes[result.access_key]["cancelled"] is True  # the Sefin did register it
    again = issuer.cancel(note_of(result, request), cancellation)
    assert f'Id="EVT{result.access_key}101101001"' in again.xml
    assert len(sefin.notes[result.access_key]["events"]) == 1  # no second event
    assert ("GET", f"/SefinNacional/nfse/{result.access_key}/eventos/101101/1") in sefin.requests


def test_e0840_for_another_block_stays_a_rejection(issuer, sefin):
    request = contract_request(2026000343)
    result = issuer.issue(request)
    sefin.reject_next("E0840", "NFS-e bloqueada por evento.")  # not cancelled: no event 101101 to find
    with pytest.raises(FiscalRejected) as caught:
        issuer.cancel(note_of(result, request),
                      FiscalCancellation(reason_code=1, reason="Erro na emissão do documento"))
    assert caught.value.errors == [("E0840", "NFS-e bloqueada por evento.")]
    assert sefin.notes[result.access_key]["cancelled"] is False


def test_a_registered_event_is_read_in_both_shapes():
    event = b'<evento versao="1.01"><infEvento Id="EVT1"/></evento>'
    packed = base64.b64encode(gzip.compress(event)).decode()
    assert nfse_nacional.event_xml({"eventoXmlGZipB64": packed}) == event  # the Swagger's
    assert nfse_nacional.event_xml({"eventos": [{"tipoEvento": 101101, "arquivoXml": base64.b64encode(
        packed.encode()).decode()}]}) == event  # the produção restrita's, double-encoded
    assert nfse_nacional.event_xml({"eventos": [{"tipoEvento": 101101, "arquivoXml": packed}]}) == event
    assert nfse_nacional.event_xml({"eventos": [{"tipoEvento": 105102, "arquivoXml": packed}]}) is None
    assert nfse_nacional.event_xml({"eventos": []}) is None


def test_error_bodies_are_read_in_both_shapes():
    one = {"idDPS": "x", "Erro": {"Codigo": "E0840", "Descricao": "Bloqueada", "Complemento": "evento 101101"}}
    many = {"erro": [{"codigo": "E0812", "descricao": "CNPJ"}]}
    assert nfse_nacional.errors_of(one) == [("E0840", "Bloqueada (evento 101101)")]
    assert nfse_nacional.errors_of(json.loads(json.dumps(many))) == [("E0812", "CNPJ")]
