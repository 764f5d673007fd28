"""NFS-e Padrão Nacional: the `FiscalIssuer` that signs a DPS and posts it to the Sefin Nacional
(specs/nfse-nacional.md; `FISCAL_BACKEND=nfse_nacional`).

- The DPS (leiaute 1.01) is built with lxml, element by element in the XSD's order, and validated against the
  official XSD nfelib ships (`nfelib/nfse/schemas/v1_0/DPS_v1.01.xsd`) before anything is sent: an invalid DPS never
  leaves (`FiscalRejected` with the XSD's message: a bug, not retried). lxml rather than nfelib's xsdata bindings:
  the bytes sent must be exactly the spec's (§7 vector: default namespace without a prefix, E1228; no re-indenting,
  E1229; decimals as written) and the signature goes over exactly those bytes; the bindings' serializer decides
  prefixes and formatting itself.
- It is signed with the reseller's A1 (`xmldsig.sign`: the Signature is the DPS's last child, RSA-SHA256 unless
  `NFSE_SIGNATURE_ALGORITHM` says sha1) and POSTed as `{"dpsXmlGZipB64": …}` over mTLS with the same A1.
- Idempotent for the same series and number: the DPS Id derives from them only, so before every POST the adapter
  asks `GET /dps/{Id}` whether that DPS already produced a note (after a timeout the Sefin may have committed it);
  on 404 it posts, and on E0014 (duplicate) it asks again. The note is read back with `GET /nfse/{chave}`.
- 5xx, timeouts, refused connections → `FiscalUnavailable` (retry later with the same number); 400/403/422 →
  `FiscalRejected` with the Sefin's codes and messages as they come.
- The NFS-e XML is kept exactly as returned (gunzipped); the DANFSe is made locally with brazilfiscalreport (a
  failure there leaves `pdf` None: the billing room fetches it again later).
- `cancel` registers the e101101 event (`pedRegEvento`, Id "PRE" + chave + "101101", 59 characters), signed the same
  way, at `POST /nfse/{chave}/eventos`.
- A reissue substitutes (`substitutes = True`): its DPS carries `subst` (chSubstda = the old note's chave, cMotivo
  99 "outros", xMotivo the reason) and the Sefin, on authorising it, registers the event e105102 "cancelamento de
  NFS-e por substituição" on the old note itself; e105102 cannot be posted as an event (E1861). A note already
  cancelled cannot be substituted (E0046), so a reissue never cancels first. Source: the Manual dos Contribuintes
  v1.2 (out/2025) §1.3.2 as quoted in nfse-nacional/nfse-php `docs/docs/guides/substituicao.md` (motive codes 01–05,
  99; rules E0042 key, E0044 not found, E0046 cancelled, E0050 the município's deadline).
"""

import base64
import gzip
import json
import logging
import re
import ssl
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import nfelib
from brazilfiscalreport.danfse import Danfse
from lxml import etree

from portal.integrations import a1 as certificates
from portal.integrations import xmldsig
from portal.integrations.a1 import A1
from portal.integrations.fiscal import (
    CancellationResult,
    FiscalCancellation,
    FiscalRejected,
    FiscalRequest,
    FiscalResult,
    FiscalUnavailable,
    IssuedNote,
    decimal_text,
)
from portal.integrations.http import NoRedirects, send
from portal.shared import clock

log = logging.getLogger(__name__)

NS = "http://www.sped.fazenda.gov.br/nfse"
VERSION = "1.01"
APP_VERSION = "portal-1.0"
SAO_PAULO_IBGE = "3550308"
SERVICE_CODE = "010501"  # cTribNac: LC 116/2003 item 1.05, licenciamento de programas de computação (Anexo B)
NBS_CODE = "111032200"  # cNBS 1.1103.22.00 (UNCONFIRMED: the accountant approves)
IBSCBS_OPERATION = "100501"
IBSCBS_CST, IBSCBS_CLASS = "000", "000001"
SCHEMAS = Path(nfelib.__file__).resolve().parent / "nfse" / "schemas" / "v1_0"
SEFIN_URLS = {
    "producao_restrita": "https://sefin.producaorestrita.nfse.gov.br/SefinNacional",
    "producao": "https://sefin.nfse.gov.br/SefinNacional",
}
ENVIRONMENTS = {"producao": 1, "producao_restrita": 2}
TAX_REGIMES = {"opSimpNac": 1, "nao_optante": 1, "mei": 2, "me_epp": 3}
BRASILIA = ZoneInfo("America/Sao_Paulo")
SUBSTITUTION_REASON = "99"  # TSCodJustSubst: 01–05 are tax-regime and immunity changes; 99 outros (with xMotivo)
SUBSTITUTION_DEFAULT = "Reemissao da fatura: substitui a NFS-e anterior"
# Codes whose cause is the request's data a person can correct (the taker's registration): field names of FiscalRequest.
FIELD_CODES = {
    "E0234": ("taker.address.street", "taker.address.district", "taker.address.postal_code",
              "taker.address.city_code"),
}
_CEP_OR_CITY = re.compile(r"\b(CEP|cMun|munic[ií]pio)\b", re.IGNORECASE)


def dps_id(city_code: str, cnpj: str, series: str, number: int) -> str:
    """"DPS" + cLocEmi(7) + tpInsc(2 = CNPJ) + CNPJ(14) + serie(5) + nDPS(15): 45 characters (E0004)."""
    return f"DPS{city_code}2{cnpj}{int(series):05d}{number:015d}"


def access_key_dv(first_49: str) -> int:
    """Mod 11 with weights 2..9 from the right; remainder 0 or 1 → 0, otherwise 11 − remainder."""
    total = sum(int(digit) * (2 + index % 8) for index, digit in enumerate(reversed(first_49)))
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def valid_access_key(key: str) -> bool:
    return len(key) == 50 and key.isdigit() and access_key_dv(key[:49]) == int(key[49])


def _schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


_SCHEMAS: dict[str, etree.XMLSchema] = {}


def schema_errors(root: etree._Element, name: str) -> list[str]:
    """The XSD's messages for `root` against the official schema `name` ([] when valid)."""
    if name not in _SCHEMAS:
        _SCHEMAS[name] = _schema(name)
    schema = _SCHEMAS[name]
    if schema.validate(root):
        return []
    return [f"{error.message} (linha {error.line})" for error in schema.error_log]


def _percent(bp: int) -> str:
    return decimal_text(bp)  # basis points → "13.45"


def _gzip_b64(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data, mtime=0)).decode("ascii")


def _gunzip_b64(text: str) -> bytes:
    return gzip.decompress(base64.b64decode(text))


def _lower(mapping: object) -> dict:
    return {str(k).lower(): v for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def event_xml(body: dict, event_type: str = "101101") -> bytes | None:
    """The event's XML from an answer of GET /nfse/{chave}/eventos/{tipo}/{nSeq}, in either shape seen: the
    Swagger's `eventoXmlGZipB64`, or (the produção restrita, 2026) an `eventos` list whose `arquivoXml` is the
    base64 of the gzip+base64 text. None when it holds no event of that type."""
    fields = _lower(body)
    if fields.get("eventoxmlgzipb64"):
        return _gunzip_b64(str(fields["eventoxmlgzipb64"]))
    for entry in fields.get("eventos") or []:
        entry = _lower(entry)
        if str(entry.get("tipoevento")) != event_type or not entry.get("arquivoxml"):
            continue
        data = str(entry["arquivoxml"])
        try:
            return _gunzip_b64(data)
        except (ValueError, OSError):  # double-encoded: base64 of the gzip+base64 text
            return _gunzip_b64(base64.b64decode(data).decode("ascii"))
    return None


def errors_of(body: dict) -> list[tuple[str, str]]:
    """The (code, official message) pairs of a Sefin error answer: `erros` (a list) or `erro` (one object or, as
    production reportedly sends, a list); keys read case-insensitively."""
    body = _lower(body)
    raw = body.get("erros")
    if raw is None:
        raw = body.get("erro")
    if isinstance(raw, dict):
        raw = [raw]
    found = []
    for item in raw or []:
        item = _lower(item)
        message = str(item.get("descricao") or "").strip()
        complement = str(item.get("complemento") or "").strip()
        if complement:
            message = f"{message} ({complement})" if message else complement
        found.append((str(item.get("codigo") or "").strip(), message))
    return found


def fields_of(errors: list[tuple[str, str]]) -> tuple[str, ...]:
    fields: list[str] = []
    for code, message in errors:
        for field in FIELD_CODES.get(code, ()):
            if field not in fields:
                fields.append(field)
        if code not in FIELD_CODES and _CEP_OR_CITY.search(message) and "toma" in message.lower():
            for field in ("taker.address.postal_code", "taker.address.city_code"):
                if field not in fields:
                    fields.append(field)
    return tuple(fields)


@dataclass(frozen=True)
class NacionalSettings:
    environment: str = "producao_restrita"  # or "producao"
    base_url: str = ""  # Sefin base URL; the environment's when empty
    city_code: str = SAO_PAULO_IBGE  # cLocEmi / cLocPrestacao
    tax_regime: str = "opSimpNac"  # opSimpNac 1 (não optante) | mei (2) | me_epp (3)
    iss_rate_bp: int = 0  # pAliq, only when set (no pAliq for opSimpNac 1 with an active convênio, E0617)
    iss_withheld: bool = False  # tpRetISSQN 2 (retido pelo tomador) instead of 1
    tot_trib_fed_bp: int = 1345  # pTotTrib (Lei 12.741): illustrative defaults from the spec's vector
    tot_trib_est_bp: int = 0
    tot_trib_mun_bp: int = 290
    signature_algorithm: str = "sha256"
    ca_file: str = ""  # PEM bundle of the Sefin's server authorities (ICP-Brasil roots); system store if empty
    timeout: float = 30.0
    app_version: str = APP_VERSION
    ibscbs: bool = True  # send the IBSCBS group (optional in 2026, validated when present)

    @property
    def tp_amb(self) -> int:
        return ENVIRONMENTS[self.environment]

    @property
    def url(self) -> str:
        return (self.base_url or SEFIN_URLS[self.environment]).rstrip("/")

    @staticmethod
    def from_config(config) -> "NacionalSettings":
        environment = config.get("NFSE_ENVIRONMENT") or "producao_restrita"
        if environment not in ENVIRONMENTS:
            raise RuntimeError(f"NFSE_ENVIRONMENT must be 'producao_restrita' or 'producao', not {environment!r}")
        regime = config.get("NFSE_TAX_REGIME") or "opSimpNac"
        if regime not in TAX_REGIMES:
            raise RuntimeError(f"NFSE_TAX_REGIME must be one of {sorted(TAX_REGIMES)}, not {regime!r}")
        algorithm = config.get("NFSE_SIGNATURE_ALGORITHM") or "sha256"
        if algorithm not in ("sha256", "sha1"):
            raise RuntimeError(f"NFSE_SIGNATURE_ALGORITHM must be 'sha256' or 'sha1', not {algorithm!r}")
        if config.get("NFSE_SEFIN_URL") and not config["NFSE_SEFIN_URL"].startswith("https://"):
            raise RuntimeError("NFSE_SEFIN_URL must be an https:// URL")
        return NacionalSettings(
            environment=environment, base_url=config.get("NFSE_SEFIN_URL") or "",
            city_code=config.get("RESELLER_CITY_CODE") or SAO_PAULO_IBGE, tax_regime=regime,
            iss_rate_bp=int(config.get("NFSE_ISS_RATE_BP") or 0), iss_withheld=bool(config.get("NFSE_ISS_WITHHELD")),
            tot_trib_fed_bp=int(config.get("NFSE_TOT_TRIB_FED_BP", 1345)),
            tot_trib_est_bp=int(config.get("NFSE_TOT_TRIB_EST_BP", 0)),
            tot_trib_mun_bp=int(config.get("NFSE_TOT_TRIB_MUN_BP", 290)),
            signature_algorithm=algorithm, ca_file=config.get("NFSE_CA_FILE") or "",
            timeout=float(config.get("NFSE_TIMEOUT") or 30))


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def _root(tag: str) -> etree._Element:
    return etree.Element(f"{{{NS}}}{tag}", {"versao": VERSION}, nsmap={None: NS})


_PUNCTUATION = str.maketrans({"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "..."})


def single_line(text: str) -> str:
    """`text` as the layout's TSString allows (`[!-ÿ][ -ÿ]*[!-ÿ]`): one line, Latin-1 only, no edge spaces. Typed
    dashes and quotes become their ASCII forms, other characters "?"."""
    text = " ".join(text.translate(_PUNCTUATION).split())
    return text.encode("latin-1", "replace").decode("latin-1")


def substitution_text(reason: str) -> str:
    """The subst group's xMotivo (TSMotivo, 15–255 characters) for a reissue cancelled because of `reason`."""
    text = single_line(f"Reemissao da fatura: {reason}") if reason.strip() else SUBSTITUTION_DEFAULT
    return text[:255].rstrip()


def build_dps(request: FiscalRequest, settings: NacionalSettings, *, issued_at: datetime) -> etree._Element:
    """The unsigned DPS of `request` (specs/nfse-nacional.md §2), in the XSD's element order."""
    provider, taker = request.provider, request.taker
    identifier = dps_id(settings.city_code, provider.cnpj, request.series, request.number)
    moment = issued_at.astimezone(BRASILIA).replace(microsecond=0)
    root = _root("DPS")
    inf = _sub(root, "infDPS", Id=identifier)
    _sub(inf, "tpAmb", str(settings.tp_amb))
    _sub(inf, "dhEmi", moment.isoformat())
    _sub(inf, "verAplic", settings.app_version)
    _sub(inf, "serie", str(int(request.series)))
    _sub(inf, "nDPS", str(request.number))
    _sub(inf, "dCompet", min(request.issue_date, moment.date()).isoformat())
    _sub(inf, "tpEmit", "1")
    _sub(inf, "cLocEmi", settings.city_code)
    if request.replaces:
        subst = _sub(inf, "subst")
        _sub(subst, "chSubstda", request.replaces)
        _sub(subst, "cMotivo", SUBSTITUTION_REASON)
        _sub(subst, "xMotivo", substitution_text(request.replaces_reason))
    prest = _sub(inf, "prest")
    _sub(prest, "CNPJ", provider.cnpj)
    if provider.municipal_registration:
        _sub(prest, "IM", provider.municipal_registration)
    regime = _sub(prest, "regTrib")
    tax_regime = TAX_REGIMES[settings.tax_regime]
    _sub(regime, "opSimpNac", str(tax_regime))
    if tax_regime == 3:
        _sub(regime, "regApTribSN", "1")
    _sub(regime, "regEspTrib", "0")
    toma = _sub(inf, "toma")
    _sub(toma, "CNPJ", taker.cnpj)
    if taker.municipal_registration:
        _sub(toma, "IM", taker.municipal_registration)
    _sub(toma, "xNome", taker.name)
    address = taker.address
    end = _sub(toma, "end")
    national = _sub(end, "endNac")
    _sub(national, "cMun", address.city_code)
    _sub(national, "CEP", address.postal_code)
    _sub(end, "xLgr", address.street)
    _sub(end, "nro", address.number or "S/N")
    if address.complement:
        _sub(end, "xCpl", address.complement)
    _sub(end, "xBairro", address.district)
    if taker.email:
        _sub(toma, "email", taker.email)
    serv = _sub(inf, "serv")
    _sub(_sub(serv, "locPrest"), "cLocPrestacao", settings.city_code)
    code = _sub(serv, "cServ")
    _sub(code, "cTribNac", SERVICE_CODE)
    _sub(code, "xDescServ", request.service_description[:2000])
    _sub(code, "cNBS", NBS_CODE)
    if request.purchase_order:
        _sub(_sub(serv, "infoCompl"), "xPed", request.purchase_order[:60])
    values = _sub(inf, "valores")
    _sub(_sub(values, "vServPrest"), "vServ", decimal_text(request.amount_cents + request.discount_cents))
    if request.discount_cents:
        _sub(_sub(values, "vDescCondIncond"), "vDescIncond", decimal_text(request.discount_cents))
    trib = _sub(values, "trib")
    municipal = _sub(trib, "tribMun")
    _sub(municipal, "tribISSQN", "1")
    _sub(municipal, "tpRetISSQN", "2" if settings.iss_withheld else "1")
    if settings.iss_rate_bp:
        _sub(municipal, "pAliq", _percent(settings.iss_rate_bp))
    percent = _sub(_sub(trib, "totTrib"), "pTotTrib")
    _sub(percent, "pTotTribFed", _percent(settings.tot_trib_fed_bp))
    _sub(percent, "pTotTribEst", _percent(settings.tot_trib_est_bp))
    _sub(percent, "pTotTribMun", _percent(settings.tot_trib_mun_bp))
    if settings.ibscbs:
        ibscbs = _sub(inf, "IBSCBS")
        _sub(ibscbs, "finNFSe", "0")
        _sub(ibscbs, "cIndOp", IBSCBS_OPERATION)
        _sub(ibscbs, "indDest", "0")
        group = _sub(_sub(_sub(ibscbs, "valores"), "trib"), "gIBSCBS")
        _sub(group, "CST", IBSCBS_CST)
        _sub(group, "cClassTrib", IBSCBS_CLASS)
    return root


def build_cancellation(note: IssuedNote, cancellation: FiscalCancellation, settings: NacionalSettings, *,
                       at: datetime) -> etree._Element:
    """The unsigned pedRegEvento e101101 (§5)."""
    root = _root("pedRegEvento")
    inf = _sub(root, "infPedReg", Id=f"PRE{note.access_key}101101")
    _sub(inf, "tpAmb", str(settings.tp_amb))
    _sub(inf, "verAplic", settings.app_version)
    _sub(inf, "dhEvento", at.astimezone(BRASILIA).replace(microsecond=0).isoformat())
    _sub(inf, "CNPJAutor", note.provider_cnpj)
    _sub(inf, "chNFSe", note.access_key)
    event = _sub(inf, "e101101")
    _sub(event, "xDesc", "Cancelamento de NFS-e")
    _sub(event, "cMotivo", str(cancellation.reason_code))
    _sub(event, "xMotivo", single_line(cancellation.reason)[:255].rstrip())
    return root


def _ssl_context(a1: A1, ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(*a1.pem_files())
    return context


def danfse(xml: bytes) -> bytes | None:
    """The DANFSe v2.0 PDF of an NFS-e XML (brazilfiscalreport); None when it cannot be made now."""
    try:
        return bytes(Danfse(xml.decode("utf-8")).output())
    except Exception:  # noqa: BLE001 - the note is issued; its PDF is fetched again later
        log.exception("DANFSe could not be made")
        return None


class NfseNacionalIssuer:
    """See the module docstring."""

    backend = "nfse_nacional"
    substitutes = True  # a reissue's DPS carries subst/chSubstda: the Sefin cancels the old note (e105102) itself
    gives_pdf = True  # the DANFSe

    def __init__(self, settings: NacionalSettings, a1: A1, *, pdf=danfse) -> None:
        self.settings = settings
        self.a1 = a1
        self._pdf = pdf
        handlers = [NoRedirects, urllib.request.HTTPSHandler(context=_ssl_context(a1, settings.ca_file))]
        self._opener = urllib.request.build_opener(*handlers)

    # ------------------------------------------------------------ the DPS

    def signed_dps(self, request: FiscalRequest, *, issued_at: datetime | None = None) -> tuple[str, bytes]:
        """(Id, the signed DPS bytes to send); `FiscalRejected` when it fails the XSD (before and after signing)."""
        self._check_request(request)
        root = build_dps(request, self.settings, issued_at=issued_at or self._now())
        identifier = root[0].get("Id")
        errors = schema_errors(root, "DPS_v1.01.xsd")
        if errors:
            raise FiscalRejected([("XSD", message) for message in errors])
        data = xmldsig.sign(root, identifier, self.a1, algorithm=self.settings.signature_algorithm)
        errors = schema_errors(etree.fromstring(data), "DPS_v1.01.xsd")
        if errors:  # pragma: no cover - the signer's output must stay XSD-valid
            raise FiscalRejected([("XSD", message) for message in errors])
        return identifier, data

    @staticmethod
    def _now() -> datetime:
        return clock.now() - timedelta(seconds=5)  # never "in the future" for the Sefin's clock (E0008)

    def _check_request(self, request: FiscalRequest) -> None:
        problems, fields = [], []
        if not (request.series.isdigit() and 1 <= int(request.series) <= 99999):
            problems.append(("DPS", f"série {request.series!r} inválida: só dígitos, até 5"))
        if not 1 <= request.number < 10 ** 15:
            problems.append(("DPS", f"número da DPS {request.number} inválido"))
        address = request.taker.address
        if not re.fullmatch(r"\d{7}", address.city_code or ""):
            problems.append(("DPS", "tomador sem o código IBGE do município (7 dígitos)"))
            fields.append("taker.address.city_code")
        if not re.fullmatch(r"\d{8}", address.postal_code or ""):
            problems.append(("DPS", "tomador sem CEP válido (8 dígitos)"))
            fields.append("taker.address.postal_code")
        if not address.street.strip() or not address.district.strip():
            problems.append(("DPS", "tomador sem logradouro ou bairro"))
            fields.append("taker.address.street")
        if problems:
            raise FiscalRejected(problems, fields=tuple(fields))

    # ------------------------------------------------------------ HTTP

    def _call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.settings.url}{path}", data=data, method=method,  # noqa: S310 - https
                                         headers={"Accept": "application/json",
                                                  **({"Content-Type": "application/json"} if data else {})})
        status, raw = send(self._opener, request, self.settings.timeout,
                           lambda reason: FiscalUnavailable(f"Sefin Nacional: sem resposta ({reason})"))
        if status >= 500:
            raise FiscalUnavailable(f"Sefin Nacional: HTTP {status} {raw[:200]!r}")
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        return status, answer

    def _found(self, path: str) -> dict | None:
        """A GET's answer, or None when the Sefin has nothing there (404); any other refusal is raised."""
        status, answer = self._call("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise self._rejected(status, answer)
        return answer

    def _rejected(self, status: int, answer: dict) -> FiscalRejected:
        errors = errors_of(answer) or [(f"HTTP {status}", "resposta sem erros da Sefin Nacional")]
        return FiscalRejected(errors, fields=fields_of(errors))

    # ------------------------------------------------------------ issue

    def find(self, identifier: str) -> str | None:
        """The chave of the NFS-e the DPS `identifier` produced, or None (404)."""
        answer = self._found(f"/dps/{identifier}")
        if answer is None:
            return None
        key = str(_lower(answer).get("chaveacesso") or "")
        if not valid_access_key(key):
            raise FiscalUnavailable(f"Sefin Nacional: chave de acesso inválida em GET /dps ({key!r})")
        return key

    def note(self, key: str, identifier: str = "") -> FiscalResult:
        """The authorised NFS-e `key` (GET /nfse/{chave}), its XML exactly as returned, and its DANFSe."""
        status, answer = self._call("GET", f"/nfse/{key}")
        if status != 200:
            raise self._rejected(status, answer)
        return self._result(key, str(_lower(answer).get("nfsexmlgzipb64") or ""), identifier)

    def _result(self, key: str, payload: str, identifier: str) -> FiscalResult:
        if not valid_access_key(key):
            raise FiscalUnavailable(f"Sefin Nacional: chave de acesso com DV errado ({key!r})")
        try:
            xml = _gunzip_b64(payload)
            info = etree.fromstring(xml).find(f".//{{{NS}}}infNFSe")
        except (ValueError, OSError, etree.XMLSyntaxError) as error:
            raise FiscalUnavailable(f"Sefin Nacional: NFS-e {key} ilegível ({error})") from error
        if info is None:
            raise FiscalUnavailable(f"Sefin Nacional: NFS-e {key} sem infNFSe")
        number = info.findtext(f"{{{NS}}}nNFSe") or str(int(key[23:36]))
        processed = info.findtext(f"{{{NS}}}dhProc") or ""
        try:
            issued_on = date.fromisoformat(processed[:10])
        except ValueError:
            issued_on = self._now().date()
        return FiscalResult(number=number, verification_code=key, issued_on=issued_on, xml=xml.decode("utf-8"),
                            pdf=self._pdf(xml), simulated=self.settings.tp_amb != 1, access_key=key,
                            request_id=identifier)

    def issue(self, request: FiscalRequest) -> FiscalResult:
        identifier, data = self.signed_dps(request)
        key = self.find(identifier)  # an earlier attempt (a timeout after the Sefin committed) already made it
        if key is not None:
            return self.note(key, identifier)
        status, answer = self._call("POST", "/nfse", {"dpsXmlGZipB64": _gzip_b64(data)})
        if status == 201:
            fields = _lower(answer)
            return self._result(str(fields.get("chaveacesso") or ""), str(fields.get("nfsexmlgzipb64") or ""),
                                identifier)
        errors = errors_of(answer)
        if any(code == "E0014" for code, _message in errors):  # this DPS already produced its note
            key = self.find(identifier)
            if key is not None:
                return self.note(key, identifier)
        raise self._rejected(status, answer)

    # ------------------------------------------------------------ cancel

    def signed_cancellation(self, note: IssuedNote, cancellation: FiscalCancellation) -> bytes:
        if not valid_access_key(note.access_key):
            raise FiscalRejected([("E1831", f"chave de acesso inválida: {note.access_key!r}")])
        if cancellation.reason_code not in (1, 2, 9) or not 15 <= len(cancellation.reason.strip()) <= 255:
            raise FiscalRejected([("EVENTO", "motivo do cancelamento: código 1, 2 ou 9 e texto de 15 a 255 "
                                             "caracteres")])
        if not note.provider_cnpj:
            note = IssuedNote(**{**note.__dict__, "provider_cnpj": self.a1.cnpj})
        root = build_cancellation(note, cancellation, self.settings, at=self._now())
        errors = schema_errors(root, "pedRegEvento_v1.01.xsd")
        if errors:
            raise FiscalRejected([("XSD", message) for message in errors])
        return xmldsig.sign(root, root[0].get("Id"), self.a1, algorithm=self.settings.signature_algorithm)

    def registered_cancellation(self, key: str) -> bytes | None:
        """The note's cancellation event (e101101, the first) if the Sefin has one, else None (404)."""
        answer = self._found(f"/nfse/{key}/eventos/101101/1")
        if answer is None:
            return None
        try:
            return event_xml(answer)
        except (ValueError, OSError, UnicodeDecodeError) as error:
            raise FiscalUnavailable(f"Sefin Nacional: evento ilegível ({error})") from error

    def cancel(self, note: IssuedNote, cancellation: FiscalCancellation) -> CancellationResult:
        data = self.signed_cancellation(note, cancellation)
        status, answer = self._call("POST", f"/nfse/{note.access_key}/eventos",
                                    {"pedidoRegistroEventoXmlGZipB64": _gzip_b64(data)})
        if status not in (200, 201):
            if any(code == "E0840" for code, _message in errors_of(answer)):
                # Already cancelled or blocked: when it is our cancellation whose answer was lost (a timeout after
                # the Sefin registered it), the registered event is the answer; any other block stays a rejection.
                registered = self.registered_cancellation(note.access_key)
                if registered is not None:
                    return CancellationResult(cancelled_at=self._now().astimezone(BRASILIA).date(),
                                              xml=registered.decode("utf-8"), simulated=self.settings.tp_amb != 1)
            raise self._rejected(status, answer)
        payload = str(_lower(answer).get("eventoxmlgzipb64") or "")
        try:
            xml = _gunzip_b64(payload).decode("utf-8")
        except (ValueError, OSError) as error:
            raise FiscalUnavailable(f"Sefin Nacional: evento ilegível ({error})") from error
        return CancellationResult(cancelled_at=self._now().astimezone(BRASILIA).date(), xml=xml,
                                  simulated=self.settings.tp_amb != 1)


def from_config(config, instance_path: str) -> NfseNacionalIssuer:
    """The adapter for `FISCAL_BACKEND=nfse_nacional`: the A1 from FISCAL_CERT_FILE (the development A1 outside
    production when none is configured); production without an A1 refuses to start."""
    settings = NacionalSettings.from_config(config)
    certificate = certificates.from_config(config, instance_path, cnpj=config.get("RESELLER_CNPJ", ""),
                                 name=config.get("RESELLER_LEGAL_NAME", ""))
    if certificate is None:
        raise RuntimeError("FISCAL_BACKEND=nfse_nacional needs the reseller's A1: set FISCAL_CERT_FILE and "
                           "FISCAL_CERT_PASSWORD")
    return NfseNacionalIssuer(settings, certificate)
