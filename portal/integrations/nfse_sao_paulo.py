"""NFS-e Paulistana: the city of São Paulo's web service `lotenfe.asmx` (FISCAL_BACKEND=nfse_sao_paulo).

Specification: ../shared/specs/nfse-sao-paulo.md (the §s below are its sections). In short:

- `issue`: a `PedidoEnvioRPS` (layout 1 or 2, `PAULISTANA_LAYOUT`) with ONE RPS whose `Assinatura` is the RSA-SHA1
  of an ASCII string (`rps_string`, §2), the whole message signed (XMLDSig enveloped, URI="", RSA-SHA1, §3),
  validated against the city's XSDs (vendored in schemas/paulistana/) and sent in a SOAP 1.2 envelope to
  `EnvioRPS` over mTLS with the reseller's A1 (§1). The answer `RetornoEnvioRPS` gives NumeroNFe and
  CodigoVerificacao; its `Erro` codes become `FiscalRejected` with the city's own messages (§5).
- **No idempotency at the city** (§5): re-sending an RPS that already has a note CANCELS that note and issues a new
  one (alert 217). So `issue` ALWAYS asks first (`ConsultaNFe` by ChaveRPS = CCM + série + número): a note found is
  the answer (the retry after a timeout gives the same note); only "1106 NF-e não encontrada" lets the RPS go. A
  timeout/5xx is `FiscalUnavailable`: the billing side retries with the same series and number, and the consultation
  settles it. Nothing is ever re-sent blindly.
- `xml` is the `NFe` of the consultation after issuing (§2 "Portal"); `public_url` the city's printable page
  (`PAULISTANA_PRINT_URL`, §5); `pdf` None: the web service has no PDF method (§5).
- `cancel`: `PedidoCancelamentoNFe` with `AssinaturaCancelamento` (CCM + NumeroNFe, 8+12 = 20 in layout 1; layout 2
  width UNCONFIRMED: `PAULISTANA_CANCEL_CCM_WIDTH`, and on 1305 one retry with the other width).
"""

import base64
import re
import ssl
import unicodedata
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from portal.integrations import a1 as a1_module
from portal.integrations import http as http_kit
from portal.integrations import xmldsig
from portal.integrations.a1 import A1
from portal.integrations.fiscal import (
    SAO_PAULO_IBGE,
    CancellationResult,
    FiscalCancellation,
    FiscalRejected,
    FiscalRequest,
    FiscalResult,
    FiscalUnavailable,
    IssuedNote,
    decimal_text,
)
from portal.shared import clock
from portal.shared.money import format_brl

NS = "http://www.prefeitura.sp.gov.br/nfe"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP_ACTION_BASE = "http://www.prefeitura.sp.gov.br/nfe/ws/"
SCHEMAS = Path(__file__).resolve().parent / "schemas" / "paulistana"
DEFAULT_URL = "https://nfews.prefeitura.sp.gov.br/lotenfe.asmx"
DEFAULT_PRINT_URL = "https://nfe.prefeitura.sp.gov.br/contribuinte/notaprint.aspx"
MAX_MESSAGE_BYTES = 500 * 1024  # 1101

# method → (SOAP request element, SOAPAction suffix, request message, answer message)
METHODS = {
    "EnvioRPS": ("EnvioRPSRequest", "envioRPS", "PedidoEnvioRPS", "RetornoEnvioRPS"),
    "ConsultaNFe": ("ConsultaNFeRequest", "consultaNFe", "PedidoConsultaNFe", "RetornoConsulta"),
    "CancelamentoNFe": ("CancelamentoNFeRequest", "cancelamentoNFe", "PedidoCancelamentoNFe",
                        "RetornoCancelamentoNFe"),
}

# The city's codes that point at request data (FiscalRejected.fields), §5.
FIELDS_BY_CODE = {
    "219": ("taker.municipal_registration",), "220": ("taker.municipal_registration",),
    "302": ("taker.cnpj",), "303": ("amount_cents",), "313": ("issue_date",), "322": ("service_description",),
    "317": ("taker.address.street", "taker.address.postal_code"),
    "318": ("taker.address.city_code", "taker.address.state"),
}
NOT_FOUND = "1106"
BAD_CANCEL_SIGNATURE = "1305"


# ---------------------------------------------------------------- the signature strings (§2, §5)

def _digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def rps_string(*, ccm: str, series: str, number: int, issue_date: date, amount_cents: int, service_code: str,
               taker_cnpj: str, layout: int = 1, taxation: str = "T", status: str = "N", iss_retained: bool = False,
               deductions_cents: int = 0, taker_kind: str = "2") -> str:
    """The ASCII string whose RSA-SHA1 is the RPS `Assinatura` (§2): 86 characters in layout 1, 90 in layout 2
    (the CCM takes 12 positions), without intermediary. `taker_kind`: 1 CPF, 2 CNPJ (the portal's tomadores)."""
    ccm_width = 12 if layout == 2 else 8
    text = (ccm.zfill(ccm_width) + series.ljust(5) + str(number).zfill(12) + issue_date.strftime("%Y%m%d")
            + taxation + status + ("S" if iss_retained else "N") + str(amount_cents).zfill(15)
            + str(deductions_cents).zfill(15) + str(int(service_code)).zfill(5) + taker_kind + taker_cnpj.zfill(14))
    if len(text) != (90 if layout == 2 else 86):
        raise ValueError(f"RPS signature string of {len(text)} characters (a field is too long): {text!r}")
    return text


def cancel_string(*, ccm: str, nfe_number: str, ccm_width: int = 8) -> str:
    """The ASCII string of the `AssinaturaCancelamento` (§5): CCM + NumeroNFe (12), zeros left."""
    return ccm.zfill(ccm_width) + str(int(nfe_number)).zfill(12)


def sign_text(a1: A1, text: str) -> str:
    """base64 of the RSA-SHA1 (PKCS#1 v1.5) of the ASCII string itself (not of its hash)."""
    raw = a1.key.sign(text.encode("ascii"), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - the city's choice
    return base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------- schemas (vendored, see schemas/paulistana/SOURCE.md)

@cache
def schema(layout: int, message: str) -> etree.XMLSchema:
    """The city's XSD of `message` ("PedidoEnvioRPS", "RetornoConsulta", …) for layout 1 or 2."""
    path = SCHEMAS / f"v{layout}" / f"{message}_v0{layout}.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def schema_errors(root: etree._Element, layout: int) -> list[str]:
    name = etree.QName(root).localname
    checker = schema(layout, name)
    if checker.validate(root):
        return []
    return [f"{error.path}: {error.message}" for error in checker.error_log]


# ---------------------------------------------------------------- building messages

def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)  # unqualified (xmlns=""), as the city's XSDs want the children
    if text is not None:
        element.text = text
    return element


def _plain(text: str, limit: int) -> str:
    """Text the city prints: no control characters, at most `limit` characters."""
    cleaned = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", unicodedata.normalize("NFC", text or "")).strip()
    return cleaned[:limit]


def discriminacao(text: str) -> str:
    """Line breaks become `|` (the city's line separator), at most 2000 characters (§2)."""
    lines = [line.strip() for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _plain("|".join(line for line in lines if line), 2000)


def top_child(root: etree._Element, tag: str) -> etree._Element:
    """An unqualified child of a root in the city's default namespace, serialized with `xmlns=""` (lxml writes no
    `xmlns=""` for an element made by SubElement there, and the XML would name it in the city's namespace)."""
    element = etree.fromstring(f'<{tag} xmlns=""/>')
    root.append(element)
    return element


def _root(message: str, layout: int, remetente_cnpj: str) -> etree._Element:
    root = etree.Element(f"{{{NS}}}{message}", nsmap={None: NS})
    header = top_child(root, "Cabecalho")
    header.set("Versao", str(layout))
    _sub(_sub(header, "CPFCNPJRemetente"), "CNPJ", remetente_cnpj)
    return root


def _chave_rps(parent: etree._Element, ccm: str, series: str, number: int) -> None:
    key = _sub(parent, "ChaveRPS")
    _sub(key, "InscricaoPrestador", ccm)
    _sub(key, "SerieRPS", series)
    _sub(key, "NumeroRPS", str(number))


@dataclass(frozen=True)
class Settings:
    url: str = DEFAULT_URL
    layout: int = 1
    ccm: str = ""  # RESELLER_MUNICIPAL_REGISTRATION
    service_code: str = "2800"
    iss_rate: str = "0.029"  # AliquotaServicos (decimal fraction); with TributacaoRPS T the city uses its own
    series: str = "F"
    nbs: str = "111032200"
    print_url: str = DEFAULT_PRINT_URL
    cancel_ccm_width: int = 0  # 0: 8 in layout 1, 12 in layout 2 (UNCONFIRMED, §5)
    ca_file: str = ""
    timeout: float = 60.0


def rps_message(request: FiscalRequest, settings: Settings, a1: A1) -> bytes:
    """The signed `PedidoEnvioRPS` (bytes to send, with the UTF-8 prolog), checked against the XSD: a message the
    schema refuses raises FiscalRejected (code 1001, "not sent") and never leaves the portal."""
    layout = settings.layout
    series = request.series or settings.series
    taker = request.taker
    address = taker.address
    root = _root("PedidoEnvioRPS", layout, a1.cnpj)
    rps = top_child(root, "RPS")
    signature_text = rps_string(ccm=settings.ccm, series=series, number=request.number,
                                issue_date=request.issue_date, amount_cents=request.amount_cents,
                                service_code=settings.service_code, taker_cnpj=taker.cnpj, layout=layout)
    _sub(rps, "Assinatura", sign_text(a1, signature_text))
    _chave_rps(rps, settings.ccm, series, request.number)
    _sub(rps, "TipoRPS", "RPS")
    _sub(rps, "DataEmissao", request.issue_date.isoformat())
    _sub(rps, "StatusRPS", "N")
    _sub(rps, "TributacaoRPS", "T")
    amount = decimal_text(request.amount_cents)
    if layout == 1:
        _sub(rps, "ValorServicos", amount)
    _sub(rps, "ValorDeducoes", "0")
    if layout == 2:  # PIS…CSLL required (0) in layout 2, left out in layout 1
        for tag in ("ValorPIS", "ValorCOFINS", "ValorINSS", "ValorIR", "ValorCSLL"):
            _sub(rps, tag, "0")
    _sub(rps, "CodigoServico", str(int(settings.service_code)))
    _sub(rps, "AliquotaServicos", settings.iss_rate)
    _sub(rps, "ISSRetido", "false")
    _sub(_sub(rps, "CPFCNPJTomador"), "CNPJ", taker.cnpj)
    _sub(rps, "RazaoSocialTomador", _plain(taker.name, 75))
    where = _sub(rps, "EnderecoTomador")
    _sub(where, "Logradouro", _plain(address.street, 50))
    _sub(where, "NumeroEndereco", _plain(address.number or "S/N", 10))
    if address.complement:
        _sub(where, "ComplementoEndereco", _plain(address.complement, 30))
    _sub(where, "Bairro", _plain(address.district, 30))
    _sub(where, "Cidade", address.city_code)
    _sub(where, "UF", address.state)
    _sub(where, "CEP", _digits(address.postal_code))
    if taker.email:
        _sub(rps, "EmailTomador", _plain(taker.email, 75))
    description = request.service_description
    if request.discount_cents:  # no discount field in the RPS: the net is the value, the credit named (UNCONFIRMED)
        description = (f"{description}\nValor bruto {format_brl(request.amount_cents + request.discount_cents)}, "
                       f"crédito aplicado {format_brl(request.discount_cents)}")
    if request.purchase_order:
        description = f"{description}\nPedido de compra: {request.purchase_order}"
    _sub(rps, "Discriminacao", discriminacao(description))
    if layout == 2:
        _sub(rps, "ValorInicialCobrado", amount)
        _sub(rps, "ValorIPI", "0")
        _sub(rps, "ExigibilidadeSuspensa", "0")
        _sub(rps, "PagamentoParceladoAntecipado", "0")
        _sub(rps, "NBS", settings.nbs)
        _sub(rps, "cLocPrestacao", SAO_PAULO_IBGE)
        ibscbs = _sub(rps, "IBSCBS")  # national-spec values, UNCONFIRMED (§2)
        _sub(ibscbs, "finNFSe", "0")
        _sub(ibscbs, "indFinal", "0")
        _sub(ibscbs, "cIndOp", "100501")
        _sub(ibscbs, "indDest", "0")
        _sub(_sub(_sub(_sub(ibscbs, "valores"), "trib"), "gIBSCBS"), "cClassTrib", "000001")
    return _signed(root, layout, a1)


def consult_message(layout: int, a1: A1, *, ccm: str, series: str = "", rps_number: int = 0,
                    nfe_number: str = "") -> bytes:
    root = _root("PedidoConsultaNFe", layout, a1.cnpj)
    detail = top_child(root, "Detalhe")
    if nfe_number:
        key = _sub(detail, "ChaveNFe")
        _sub(key, "InscricaoPrestador", ccm)
        _sub(key, "NumeroNFe", str(int(nfe_number)))
    else:
        _chave_rps(detail, ccm, series, rps_number)
    return _signed(root, layout, a1)


def cancel_message(layout: int, a1: A1, *, ccm: str, nfe_number: str, ccm_width: int) -> bytes:
    root = _root("PedidoCancelamentoNFe", layout, a1.cnpj)
    _sub(root[0], "transacao", "true")
    detail = top_child(root, "Detalhe")
    key = _sub(detail, "ChaveNFe")
    _sub(key, "InscricaoPrestador", ccm)
    _sub(key, "NumeroNFe", str(int(nfe_number)))
    _sub(detail, "AssinaturaCancelamento",
         sign_text(a1, cancel_string(ccm=ccm, nfe_number=nfe_number, ccm_width=ccm_width)))
    return _signed(root, layout, a1)


def _signed(root: etree._Element, layout: int, a1: A1) -> bytes:
    signed = xmldsig.sign(root, None, a1, algorithm="sha1")
    errors = schema_errors(etree.fromstring(signed), layout)
    if errors:
        raise FiscalRejected([("1001", "Mensagem fora do schema do leiaute "
                               f"{layout} (validação local; nada foi enviado à Prefeitura): {'; '.join(errors)}")],
                             fields=_fields_of_schema_errors(errors))
    if len(signed) > MAX_MESSAGE_BYTES:
        raise FiscalRejected([("1101", "Mensagem acima de 500 KB (validação local; nada foi enviado)")])
    return signed


def _fields_of_schema_errors(errors: list[str]) -> tuple[str, ...]:
    names = {"CEP": "taker.address.postal_code", "Cidade": "taker.address.city_code", "UF": "taker.address.state",
             "Logradouro": "taker.address.street", "Bairro": "taker.address.district",
             "NumeroEndereco": "taker.address.number", "CNPJ": "taker.cnpj", "EmailTomador": "taker.email",
             "RazaoSocialTomador": "taker.name", "InscricaoPrestador": "provider.municipal_registration"}
    found = []
    for error in errors:
        for tag, field_name in names.items():
            if f"/{tag}" in error.split(":", 1)[0] or f"'{tag}'" in error:
                found.append(field_name)
    return tuple(dict.fromkeys(found))


def soap_envelope(method: str, layout: int, signed: bytes) -> bytes:
    """SOAP 1.2: `<{method}Request><VersaoSchema/><MensagemXML>` the signed message as a string (escaped, no XML
    declaration), §1."""
    request_tag = METHODS[method][0]
    message = signed.decode("utf-8")
    if message.startswith("<?xml"):
        message = message[message.index("?>") + 2:].lstrip()
    envelope = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap12": SOAP12})
    body = etree.SubElement(envelope, f"{{{SOAP12}}}Body")
    call = etree.SubElement(body, f"{{{NS}}}{request_tag}", nsmap={None: NS})
    etree.SubElement(call, f"{{{NS}}}VersaoSchema").text = str(layout)
    etree.SubElement(call, f"{{{NS}}}MensagemXML").text = message
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------- answers

@dataclass(frozen=True)
class Answer:
    success: bool
    alerts: list[tuple[str, str]]
    errors: list[tuple[str, str]]
    root: etree._Element
    text: str  # RetornoXML exactly as returned


def _events(root: etree._Element, tag: str) -> list[tuple[str, str]]:
    return [((event.findtext("Codigo") or "").strip(), (event.findtext("Descricao") or "").strip())
            for event in root.findall(tag)]


def parse_answer(method: str, body: bytes) -> Answer:
    """The `RetornoXML` string inside the SOAP answer, parsed. A body that is not such an answer (a proxy's page,
    a SOAP Fault) raises FiscalUnavailable: nothing says whether the city acted."""
    try:
        envelope = etree.fromstring(body)
    except etree.XMLSyntaxError as error:
        raise FiscalUnavailable(f"Prefeitura de São Paulo: answer is not XML ({error})") from None
    found = envelope.find(f".//{{{NS}}}RetornoXML")
    if found is None or not (found.text or "").strip():
        fault = envelope.findtext(f".//{{{SOAP12}}}Text") or envelope.findtext(".//faultstring") or ""
        raise FiscalUnavailable(f"Prefeitura de São Paulo: no RetornoXML in the answer to {method} {fault}".strip())
    text = found.text.strip()
    try:
        root = etree.fromstring(text.encode("utf-8"))
    except etree.XMLSyntaxError as error:
        raise FiscalUnavailable(f"Prefeitura de São Paulo: RetornoXML is not XML ({error})") from None
    if etree.QName(root).localname != METHODS[method][3]:
        raise FiscalUnavailable(f"Prefeitura de São Paulo: {etree.QName(root).localname} in answer to {method}")
    success = (root.findtext("Cabecalho/Sucesso") or "").strip().lower() == "true"
    return Answer(success=success, alerts=_events(root, "Alerta"), errors=_events(root, "Erro"), root=root,
                  text=text)


def _rejected(answer: Answer) -> FiscalRejected:
    errors = answer.errors or [("", "A Prefeitura recusou o pedido sem dizer o motivo (Sucesso=false).")]
    fields: list[str] = []
    for code, _message in errors:
        fields.extend(FIELDS_BY_CODE.get(code, ()))
    return FiscalRejected(errors, fields=tuple(dict.fromkeys(fields)))


# ---------------------------------------------------------------- the issuer

class SaoPauloIssuer:
    """FiscalIssuer for the city of São Paulo (NFS-e Paulistana), see the module docstring."""

    backend = "nfse_sao_paulo"
    substitutes = False  # the RPS has no substitution field: a reissue cancels the old note first
    gives_pdf = False  # the web service has no PDF method: the note's public page at the city (public_url)

    def __init__(self, a1: A1, settings: Settings, *, opener: urllib.request.OpenerDirector | None = None) -> None:
        if not settings.ccm:
            raise RuntimeError("FISCAL_BACKEND=nfse_sao_paulo needs RESELLER_MUNICIPAL_REGISTRATION (the CCM)")
        if settings.layout not in (1, 2):
            raise RuntimeError(f"PAULISTANA_LAYOUT must be 1 or 2, not {settings.layout!r}")
        self.a1 = a1
        self.settings = settings
        self._opener = opener or self._mtls_opener(a1, settings.ca_file)

    @staticmethod
    def _mtls_opener(a1: A1, ca_file: str) -> urllib.request.OpenerDirector:
        context = ssl.create_default_context(cafile=ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # 426/1000
        context.load_cert_chain(*a1.pem_files())
        return urllib.request.build_opener(http_kit.NoRedirects, urllib.request.HTTPSHandler(context=context))

    @classmethod
    def from_config(cls, config, instance_path: str) -> "SaoPauloIssuer":
        a1 = a1_module.from_config(config, instance_path,
                                   cnpj=config.get("RESELLER_CNPJ", ""), name=config.get("RESELLER_LEGAL_NAME", ""))
        if a1 is None:
            raise RuntimeError("FISCAL_BACKEND=nfse_sao_paulo needs FISCAL_CERT_FILE (the reseller's A1)")
        return cls(a1, settings_from_config(config))

    # ------------------------------------------------------------ transport

    def call(self, method: str, signed: bytes) -> Answer:
        soap_action = SOAP_ACTION_BASE + METHODS[method][1]
        request = urllib.request.Request(  # noqa: S310 - PAULISTANA_URL, https
            self.settings.url, data=soap_envelope(method, self.settings.layout, signed), method="POST",
            headers={"Content-Type": f'application/soap+xml; charset=utf-8; action="{soap_action}"'})
        status, body = http_kit.send(self._opener, request, self.settings.timeout,
                                     lambda reason: FiscalUnavailable(f"Prefeitura de São Paulo: {reason}"))
        if status >= 500 and b"RetornoXML" not in body:
            raise FiscalUnavailable(f"Prefeitura de São Paulo: HTTP {status} to {method}")
        if status >= 400 and b"RetornoXML" not in body:
            raise FiscalUnavailable(f"Prefeitura de São Paulo: HTTP {status} to {method} (not an answer)")
        return parse_answer(method, body)

    # ------------------------------------------------------------ issue

    def issue(self, request: FiscalRequest) -> FiscalResult:
        if request.number <= 0:
            raise ValueError("the RPS number is taken by the billing side before issuing")
        series = request.series or self.settings.series
        signed = rps_message(request, self.settings, self.a1)  # local checks first: a bad message is never sent
        existing = self.consult_rps(series, request.number)
        if existing is not None:
            return self._result(existing, request)
        answer = self.call("EnvioRPS", signed)
        if not answer.success or answer.errors:
            raise _rejected(answer)
        key = answer.root.find("ChaveNFeRPS/ChaveNFe")
        if key is None:
            raise FiscalUnavailable("Prefeitura de São Paulo: Sucesso without ChaveNFeRPS; consult before retrying")
        number = (key.findtext("NumeroNFe") or "").strip()
        try:
            note = self.consult_nfe(number)
        except FiscalUnavailable:
            note = None
        if note is None:  # the note exists (the city said so); keep its key as answered
            return self._from_key(key, request, answer.text)
        return self._result(note, request)

    def consult_rps(self, series: str, rps_number: int) -> etree._Element | None:
        """The `NFe` the city holds for this RPS, or None (1106 NF-e não encontrada)."""
        return self._consult(consult_message(self.settings.layout, self.a1, ccm=self.settings.ccm, series=series,
                                             rps_number=rps_number))

    def consult_nfe(self, nfe_number: str) -> etree._Element | None:
        return self._consult(consult_message(self.settings.layout, self.a1, ccm=self.settings.ccm,
                                             nfe_number=nfe_number))

    def _consult(self, signed: bytes) -> etree._Element | None:
        answer = self.call("ConsultaNFe", signed)
        if answer.success and not answer.errors:
            notes = answer.root.findall("NFe")
            return notes[0] if notes else None
        codes = {code for code, _ in answer.errors}
        if codes <= {NOT_FOUND} and NOT_FOUND in codes | {code for code, _ in answer.alerts}:
            return None
        raise _rejected(answer)

    def _result(self, note: etree._Element, request: FiscalRequest) -> FiscalResult:
        key = note.find("ChaveNFe")
        if (note.findtext("StatusNFe") or "").strip() == "C":
            raise FiscalRejected([("C", f"O RPS {request.series or self.settings.series} {request.number} já foi "
                                        f"convertido na NFS-e {key.findtext('NumeroNFe')}, que está cancelada; "
                                        "reenviá-lo emitiria outra nota. Use um novo número de RPS.")])
        issued = (note.findtext("DataEmissaoNFe") or "").strip()
        issued_on = datetime.fromisoformat(issued[:19]).date() if issued else request.issue_date
        return self._from_key(key, request, etree.tostring(note, encoding="unicode"), issued_on=issued_on)

    def _from_key(self, key: etree._Element, request: FiscalRequest, xml: str,
                  issued_on: date | None = None) -> FiscalResult:
        number = (key.findtext("NumeroNFe") or "").strip()
        code = (key.findtext("CodigoVerificacao") or "").strip()
        return FiscalResult(number=number, verification_code=code, issued_on=issued_on or request.issue_date, xml=xml,
                            pdf=None, simulated=False, access_key=(key.findtext("ChaveNotaNacional") or "").strip(),
                            public_url=self.public_url(number, code),
                            request_id=f"{request.series or self.settings.series}-{request.number}")

    def public_url(self, number: str, code: str) -> str:
        query = urllib.parse.urlencode({"inscricao": self.settings.ccm, "nf": number, "verificacao": code})
        return f"{self.settings.print_url}?{query}"

    # ------------------------------------------------------------ cancel

    def cancel(self, note: IssuedNote, cancellation: FiscalCancellation) -> CancellationResult:
        """CancelamentoNFe (São Paulo has no reason field: `cancellation` stays in the portal's records)."""
        layout = self.settings.layout
        width = self.settings.cancel_ccm_width or (12 if layout == 2 else 8)
        answer = self.call("CancelamentoNFe", cancel_message(layout, self.a1, ccm=self.settings.ccm,
                                                             nfe_number=note.number, ccm_width=width))
        codes = [code for code, _ in answer.errors]
        if layout == 2 and codes == [BAD_CANCEL_SIGNATURE]:  # the v2 width is UNCONFIRMED: one try with the other
            answer = self.call("CancelamentoNFe", cancel_message(layout, self.a1, ccm=self.settings.ccm,
                                                                 nfe_number=note.number,
                                                                 ccm_width=8 if width == 12 else 12))
        if not answer.success or answer.errors:
            raise _rejected(answer)
        return CancellationResult(cancelled_at=clock.today(), xml=answer.text, simulated=False)


def settings_from_config(config) -> Settings:
    return Settings(
        url=config.get("PAULISTANA_URL") or DEFAULT_URL,
        layout=int(config.get("PAULISTANA_LAYOUT") or 1),
        ccm=_digits(config.get("RESELLER_MUNICIPAL_REGISTRATION", "")),
        service_code=str(config.get("PAULISTANA_SERVICE_CODE") or "2800"),
        iss_rate=str(config.get("PAULISTANA_ISS_RATE") or "0.029"),
        series=config.get("PAULISTANA_RPS_SERIES") or "F",
        nbs=config.get("PAULISTANA_NBS") or "111032200",
        print_url=config.get("PAULISTANA_PRINT_URL") or DEFAULT_PRINT_URL,
        cancel_ccm_width=int(config.get("PAULISTANA_CANCEL_CCM_WIDTH") or 0),
        ca_file=config.get("PAULISTANA_CA_FILE") or "",
        timeout=float(config.get("PAULISTANA_TIMEOUT") or 60),
    )
