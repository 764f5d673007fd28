"""The reseller's A1 certificate (portal/integrations/a1.py) and the fiscal XML signatures
(portal/integrations/xmldsig.py), against the NFS-e Nacional spec's vectors (specs/nfse-nacional.md §7) and an
independent verifier (xmlsec1)."""

import base64
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from portal.integrations import a1 as a1_module
from portal.integrations import xmldsig
from portal.shared import clock
from tests.fakes.externals import missing

VECTORS = Path(__file__).parent / "vectors"
DPS_ID = "DPS355030821122233300018100001000002026000123"
DPS_DIGEST = "dtO3C59AP/4OfUnyXxC0DqOXskhifVgwX4rAapqENsY="  # SHA-256 of C14N(infDPS), from the spec
EVENT_ID = "PRE35503082211222333000181000000000000126031234567899101101"
EVENT_DIGEST = "PX375hM6654wGt0uQZc5buw4mVBgZLWNB09QTLnWEWI="
DS = {"ds": xmldsig.DS}


@pytest.fixture(scope="module")
def a1():
    return a1_module.make_certificate("11222333000181", "EMPRESA EXEMPLO LTDA")


def vector(name: str) -> etree._Element:
    return etree.fromstring((VECTORS / name).read_bytes().strip())


@pytest.mark.parametrize(("name", "reference", "digest"), [("dps-spec.xml", DPS_ID, DPS_DIGEST),
                                                           ("cancelamento-spec.xml", EVENT_ID, EVENT_DIGEST)])
def test_the_spec_vectors_sign_with_the_spec_digest_and_verify(a1, name, reference, digest):
    signed = etree.fromstring(xmldsig.sign(vector(name), reference, a1))
    signature = signed[-1]
    assert signature.tag == f"{{{xmldsig.DS}}}Signature" and signature.prefix is None  # no "ds:" prefix (E1228)
    assert signature.find("ds:SignedInfo/ds:Reference", DS).get("URI") == f"#{reference}"
    assert signature.find("ds:SignedInfo/ds:Reference/ds:DigestValue", DS).text == digest
    transforms = [t.get("Algorithm") for t in signature.findall(".//ds:Transform", DS)]
    assert transforms == [xmldsig.ENVELOPED, xmldsig.C14N]
    assert signature.find("ds:SignedInfo/ds:SignatureMethod", DS).get("Algorithm").endswith("rsa-sha256")
    assert a1_module.certificate_cnpj(xmldsig.verify(signed)) == "11222333000181"


def test_the_bytes_sent_have_the_utf8_prolog_and_are_not_reindented(a1):
    data = xmldsig.sign(vector("dps-spec.xml"), DPS_ID, a1)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<DPS ")
    assert b"\n  <" not in data and b"<infDPS Id=" in data


@pytest.mark.parametrize("change", [(b"<vServ>1000.00<", b"<vServ>1000.01<"),
                                    (b"<CNPJ>11444777000161<", b"<CNPJ>11444777000242<")])
def test_a_changed_document_fails_verification(a1, change):
    data = xmldsig.sign(vector("dps-spec.xml"), DPS_ID, a1).replace(*change)
    with pytest.raises(xmldsig.SignatureInvalid, match="digest"):
        xmldsig.verify(etree.fromstring(data))


def test_a_signature_by_another_key_with_this_certificate_fails(a1):
    other = a1_module.make_certificate("11222333000181", "EMPRESA EXEMPLO LTDA")
    signed = etree.fromstring(xmldsig.sign(vector("dps-spec.xml"), DPS_ID, other))
    mine = base64.b64encode(a1.certificate.public_bytes(a1_module.serialization.Encoding.DER)).decode()
    signed[-1].find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", DS).text = mine
    with pytest.raises(xmldsig.SignatureInvalid, match="signature value"):
        xmldsig.verify(etree.fromstring(etree.tostring(signed)))


def test_sha1_when_the_authority_wants_it(a1):
    signed = etree.fromstring(xmldsig.sign(vector("dps-spec.xml"), DPS_ID, a1, algorithm="sha1"))
    assert signed[-1].find("ds:SignedInfo/ds:SignatureMethod", DS).get("Algorithm").endswith("rsa-sha1")
    xmldsig.verify(signed)


def test_the_whole_document_can_be_signed_as_sao_paulo_wants(a1):
    root = etree.fromstring(b'<PedidoEnvioRPS xmlns="http://www.prefeitura.sp.gov.br/nfe"><Cabecalho xmlns="" '
                            b'Versao="1"><CPFCNPJRemetente><CNPJ>11222333000181</CNPJ></CPFCNPJRemetente>'
                            b'</Cabecalho></PedidoEnvioRPS>')
    data = xmldsig.sign(root, None, a1, algorithm="sha1")
    assert etree.fromstring(data)[-1].find("ds:SignedInfo/ds:Reference", DS).get("URI") == ""
    assert a1_module.certificate_cnpj(xmldsig.verify(etree.fromstring(data))) == "11222333000181"
    with pytest.raises(xmldsig.SignatureInvalid):
        xmldsig.verify(etree.fromstring(data.replace(b"000181</CNPJ>", b"000262</CNPJ>")))


def test_xmlsec1_verifies_our_signature(a1, tmp_path):
    """An independent implementation agrees (the check the spec's lab used)."""
    tool = shutil.which("xmlsec1")
    if tool is None:
        missing("xmlsec1 is not installed (apt-get install xmlsec1)")
    document, certificate = tmp_path / "dps.xml", tmp_path / "cert.pem"
    document.write_bytes(xmldsig.sign(vector("dps-spec.xml"), DPS_ID, a1))
    certificate.write_bytes(a1.certificate_pem)
    good = subprocess.run([tool, "--verify", "--id-attr:Id", "infDPS", "--pubkey-cert-pem", str(certificate),
                           str(document)], capture_output=True, text=True, timeout=30)
    assert good.returncode == 0, good.stderr
    document.write_bytes(document.read_bytes().replace(b"1000.00", b"1000.01"))
    bad = subprocess.run([tool, "--verify", "--id-attr:Id", "infDPS", "--pubkey-cert-pem", str(certificate),
                          str(document)], capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0


# ---------------------------------------------------------------- the A1

def test_a_pkcs12_file_loads_with_its_password_and_says_its_cnpj(a1, tmp_path):
    path = tmp_path / "a1.p12"
    path.write_bytes(a1_module.pkcs12_bytes(a1, b"s3nha"))
    loaded = a1_module.load_pkcs12(path, "s3nha")
    assert loaded.cnpj == "11222333000181" and not loaded.development
    assert loaded.certificate == a1.certificate
    cert_file, key_file = loaded.pem_files()
    assert Path(cert_file).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert Path(key_file).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("content", "password", "message"), [
    (None, "errada", "wrong password"), (b"not a pfx", "s3nha", "wrong password or not a PKCS#12"),
])
def test_a_wrong_password_or_file_is_a_clear_error(a1, tmp_path, content, password, message):
    path = tmp_path / "a1.p12"
    path.write_bytes(content if content is not None else a1_module.pkcs12_bytes(a1, b"s3nha"))
    with pytest.raises(a1_module.CertificateError, match=message):
        a1_module.load_pkcs12(path, password)


def test_a_missing_or_expired_certificate_is_refused(a1, tmp_path):
    with pytest.raises(a1_module.CertificateError, match="cannot be read"):
        a1_module.load_pkcs12(tmp_path / "none.p12", "x")
    path = tmp_path / "a1.p12"
    path.write_bytes(a1_module.pkcs12_bytes(a1, b"s3nha"))
    with clock.frozen(datetime(2031, 1, 1, tzinfo=UTC)), pytest.raises(a1_module.CertificateError, match="expired"):
        a1_module.load_pkcs12(path, "s3nha")


def test_the_development_a1_is_marked_made_once_and_remade_for_another_cnpj(tmp_path):
    first = a1_module.development_a1(tmp_path, "11222333000181", "EMPRESA EXEMPLO LTDA")
    assert first.development and a1_module.DEVELOPMENT_MARK in first.certificate.subject.rfc4514_string()
    again = a1_module.development_a1(tmp_path, "11222333000181", "EMPRESA EXEMPLO LTDA")
    assert again.certificate == first.certificate
    other = a1_module.development_a1(tmp_path, "12ABC34501DE35", "OUTRA")
    assert other.cnpj == "12ABC34501DE35" and other.certificate != first.certificate


def test_the_cnpj_comes_from_the_subject_when_the_certificate_has_no_icp_brasil_san(a1):
    builder = a1_module.x509.CertificateBuilder().subject_name(a1_module.x509.Name([
        a1_module.x509.NameAttribute(a1_module.NameOID.COMMON_NAME, "EMPRESA:11222333000181")]))
    certificate = (builder.issuer_name(builder._subject_name).public_key(a1.key.public_key())
                   .serial_number(1).not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
                   .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC)).sign(a1.key, a1_module.hashes.SHA256()))
    assert a1_module.certificate_cnpj(certificate) == "11222333000181"
