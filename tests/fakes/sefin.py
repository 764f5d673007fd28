"""A local HTTPS fake of the Sefin Nacional (specs/nfse-nacional.md §6), with mTLS.

    pki = SefinPki(cnpj="11222333000181")     # a test root CA, the server's certificate, the reseller's A1
    sefin = SefinFake(pki).start()
    ... NfseNacionalIssuer(NacionalSettings(base_url=sefin.url, ca_file=str(pki.ca_file)), pki.a1) ...
    sefin.stop(); pki.remove()

TLS: `ssl.CERT_REQUIRED` against the test root CA (a certificate from elsewhere fails the handshake). Checks of
`POST /nfse`, in this order: the client certificate's CNPJ (SAN otherName 2.16.76.1.3.3) is one it knows (403
E1200); the body is JSON with exactly `dpsXmlGZipB64` (400); base64 (E1225); gunzip and parse (E1226); the UTF-8
prolog (E1229); no prefixed namespaces (E1228); the XSD (E1235); the Id (E0004); tpAmb = 2 (E0006); dhEmi not in
the future and dCompet not after it (E0008, E0015); the signature: reference `#Id`, digest and value (E0714), the
signer's CNPJ = prest/CNPJ (E0718); pAliq with opSimpNac 1 (E0617), indTotTrib/pTotTribSN (E0713), IBSCBS
without cNBS (E0322), IBSCBS in versao 1.00 (E0854); a DPS Id already authorised (E0014). Then 201 with a
deterministic chave (cMun, ambGer 2, tpInsc 2, CNPJ, nNFSe, AAMM, cNum from the Id, DV) and an NFSe XML
(`infNFSe Id="NFS"+chave`, nNFSe, cStat 100, the signed DPS embedded). A DPS with `subst/chSubstda` substitutes
that note (E0042 key invalid or another emitente's, E0044 not found, E0046 already cancelled): on authorising it
the old note is cancelled with the event e105102 naming the new chave (chSubstituta), as the Sefin does.

Also `GET /dps/{Id}` (200 {idDps, chaveAcesso} / 404), `GET /nfse/{chave}` (200 / 404), `POST
/nfse/{chave}/eventos` (e101101: E1831 not found, E1827 Id, E0812 CNPJAutor ≠ the signer's, E0840 already
cancelled or blocked; 201 with the event), `GET /nfse/{chave}/eventos/{tipo}/{nSeq}` (200 in the shape the
produção restrita answered in 2026 — an `eventos` list whose `arquivoXml` is the base64 of the gzip+base64 text, not
the Swagger's `eventoXmlGZipB64` — or 404). Switches: `fail_next(n)` answers 500 to the next n requests;
`commit_then_stall(seconds)` makes the next POST (a note or an event) register it and then answer only after
`seconds` (the client's timeout elapses: a timeout after commit). `dps_seen` keeps every DPS Id posted, in order;
`notes` the authorised notes by chave; `reject_next(code, message)` answers 400 with that error once.
"""

import base64
import gzip
import ipaddress
import json
import shutil
import ssl
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask, Response, request
from lxml import etree

from portal.integrations import a1 as certificates
from portal.integrations import nfse_nacional, xmldsig
from portal.shared import clock
from tests.fakes.externals import LoopbackServer, mtls_server_context

NS = nfse_nacional.NS
N = f"{{{NS}}}"
BRASILIA = ZoneInfo("America/Sao_Paulo")
MESSAGES = {  # paraphrases of Anexo I/II (the official texts are longer); codes as the Sefin sends them
    "E0004": "O identificador da DPS não corresponde à concatenação dos seus campos.",
    "E0006": "O ambiente informado na DPS difere do ambiente de recepção.",
    "E0008": "A data e hora de emissão da DPS não pode ser posterior à data e hora de processamento.",
    "E0014": "Conjunto de Série, Número, Código do Município Emissor e CNPJ/CPF informado nesta DPS já existe "
             "em uma NFS-e gerada a partir de uma DPS enviada anteriormente.",
    "E0042": "A chave de acesso da NFS-e a ser substituída é inválida ou não pertence ao emitente.",
    "E0044": "A NFS-e a ser substituída não existe.",
    "E0046": "A NFS-e a ser substituída está cancelada.",
    "E0015": "A data de competência não pode ser posterior à data de emissão da DPS.",
    "E0234": "Endereço do tomador incompleto: informe CEP, município, logradouro e bairro.",
    "E0322": "O código NBS é obrigatório quando o grupo IBSCBS é informado.",
    "E0617": "Não deve ser informada a alíquota para prestador não optante com convênio ativo.",
    "E0713": "Informação de tributos totais não permitida para o regime de apuração do prestador.",
    "E0714": "Assinatura digital inválida.",
    "E0717": "A DPS não está assinada.",
    "E0718": "O certificado de assinatura não pertence ao emitente da DPS.",
    "E0812": "O CNPJ do autor do evento difere do CNPJ do certificado de assinatura.",
    "E0840": "A NFS-e já está cancelada ou bloqueada para este evento.",
    "E0854": "O grupo IBSCBS exige a versão 1.01 do leiaute.",
    "E1200": "Certificado de transmissão inválido ou não autorizado.",
    "E1225": "Conteúdo do XML não está em base64 válido.",
    "E1226": "XML mal formado ou não compactado em GZip.",
    "E1228": "Não é permitido o uso de prefixo de namespace.",
    "E1229": "O XML deve ser codificado em UTF-8.",
    "E1235": "Falha no esquema XML.",
    "E1827": "O identificador do pedido de registro de evento não corresponde à concatenação dos seus campos.",
    "E1831": "NFS-e não encontrada.",
}


class SefinPki:
    """A test root CA (RSA), the server's certificate for 127.0.0.1, and A1s it signs: `a1` for `cnpj`,
    `other_a1` for another CNPJ (a valid chain, an unknown company: 403 E1200)."""

    def __init__(self, cnpj: str = "11222333000181", other_cnpj: str = "11444777000161") -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="portal-sefin-pki-"))
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake AC Raiz Brasileira")])
        now = datetime.now(UTC)  # TLS validity is wall-clock time
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(self.ca_key, hashes.SHA256()))
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))
        server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        server = (x509.CertificateBuilder()
                  .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                  .issuer_name(name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
                  .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                  .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                 critical=False)
                  .sign(self.ca_key, hashes.SHA256()))
        self.server_cert = self.directory / "server.pem"
        self.server_key = self.directory / "server.key"
        self.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
        self.server_key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        self.cnpj = cnpj
        self.a1 = certificates.make_certificate(cnpj, "REVENDA EXEMPLO LTDA", issuer_key=self.ca_key, issuer=self.ca)
        self.other_a1 = certificates.make_certificate(other_cnpj, "OUTRA EMPRESA LTDA", issuer_key=self.ca_key,
                                                      issuer=self.ca)

    def server_context(self) -> ssl.SSLContext:
        return mtls_server_context(self.server_cert, self.server_key, self.ca_file)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _b64gz(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data, mtime=0)).decode("ascii")


def chave(city: str, cnpj: str, number: int, when: datetime, cnum: str) -> str:
    first = f"{city}22{cnpj}{number:013d}{when:%y%m}{cnum}"
    return first + str(nfse_nacional.access_key_dv(first))


class SefinFake:
    """See the module docstring."""

    def __init__(self, pki: SefinPki, *, known_cnpjs: tuple[str, ...] | None = None) -> None:
        self.pki = pki
        self.known_cnpjs = set(known_cnpjs or (pki.cnpj,))
        self.dps_seen: list[str] = []
        self.notes: dict[str, dict] = {}  # chave → {"id", "xml", "cancelled", "events"}
        self.by_dps: dict[str, str] = {}  # DPS Id → chave
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._fail = 0
        self._stall = 0.0
        self._reject: list[tuple[int, str, str]] = []
        self._http: LoopbackServer | None = None
        self.url = ""

    # ------------------------------------------------------------ switches

    def fail_next(self, count: int = 1) -> None:
        self._fail = count

    def commit_then_stall(self, seconds: float) -> None:
        self._stall = seconds

    def reject_next(self, code: str, message: str = "", status: int = 400) -> None:
        self._reject.append((status, code, message or MESSAGES.get(code, code)))

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "SefinFake":
        self._http = LoopbackServer(self.app(), ssl_context=self.pki.server_context()).start()
        self.url = self._http.url + "/SefinNacional"
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    # ------------------------------------------------------------ answers

    @staticmethod
    def _json(status: int, body: dict) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def _error(self, status: int, code: str, dps_id: str = "", complement: str = "", message: str = "") -> Response:
        return self._json(status, {"tipoAmbiente": 2, "versaoAplicativo": "fake-sefin",
                                   "dataHoraProcessamento": clock.now().astimezone(BRASILIA).isoformat(),
                                   "idDPS": dps_id,
                                   "erros": [{"codigo": code, "descricao": message or MESSAGES.get(code, code),
                                              "complemento": complement}]})

    def _client_cnpj(self) -> str:
        pem = request.environ.get("SSL_CLIENT_CERT") or ""
        if not pem:
            return ""
        return certificates.certificate_cnpj(x509.load_pem_x509_certificate(pem.encode()))

    def app(self) -> Flask:
        app = Flask("sefin_fake")

        @app.before_request
        def _gate():
            self.requests.append((request.method, request.path))
            if self._fail > 0:
                self._fail -= 1
                return Response("erro interno", status=500)
            if self._client_cnpj() not in self.known_cnpjs:
                return self._error(403, "E1200")
            return None

        @app.post("/SefinNacional/nfse")
        def post_nfse():
            return self.receive()

        @app.get("/SefinNacional/dps/<dps_id>")
        def get_dps(dps_id: str):
            key = self.by_dps.get(dps_id)
            if key is None:
                return Response(status=404)
            return self._json(200, {"tipoAmbiente": 2, "versaoAplicativo": "fake-sefin", "idDps": dps_id,
                                    "chaveAcesso": key,
                                    "dataHoraProcessamento": clock.now().astimezone(BRASILIA).isoformat()})

        @app.get("/SefinNacional/nfse/<key>")
        def get_nfse(key: str):
            note = self.notes.get(key)
            if note is None:
                return Response(status=404)
            return self._json(200, {"tipoAmbiente": 2, "versaoAplicativo": "fake-sefin", "chaveAcesso": key,
                                    "nfseXmlGZipB64": _b64gz(note["xml"]),
                                    "dataHoraProcessamento": clock.now().astimezone(BRASILIA).isoformat()})

        @app.post("/SefinNacional/nfse/<key>/eventos")
        def post_event(key: str):
            return self.event(key)

        @app.get("/SefinNacional/nfse/<key>/eventos/<event_type>/<int:sequence>")
        def get_event(key: str, event_type: str, sequence: int):
            wanted = f'Id="EVT{key}{event_type}{sequence:03d}"'.encode()
            found = [event for event in self.notes.get(key, {}).get("events", []) if wanted in event]
            if not found:
                return Response(status=404)
            twice = base64.b64encode(_b64gz(found[0]).encode()).decode()
            return self._json(200, {"tipoAmbiente": 2, "versaoAplicativo": "fake-sefin",
                                    "dataHoraProcessamento": clock.now().astimezone(BRASILIA).isoformat(),
                                    "eventos": [{"chaveAcesso": key, "tipoEvento": int(event_type),
                                                 "numeroPedidoRegistroEvento": sequence,
                                                 "dataHoraRecebimento": clock.now().isoformat(),
                                                 "arquivoXml": twice}]})

        return app

    def receive(self) -> Response:  # noqa: C901, PLR0911, PLR0912 - the checks, in the spec's order
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) != {"dpsXmlGZipB64"}:
            return self._error(400, "E1235", complement="corpo JSON deve ter exatamente dpsXmlGZipB64")
        try:
            compressed = base64.b64decode(body["dpsXmlGZipB64"], validate=True)
        except (ValueError, TypeError):
            return self._error(400, "E1225")
        try:
            raw = gzip.decompress(compressed)
            root = etree.fromstring(raw)
        except (OSError, EOFError, etree.XMLSyntaxError):
            return self._error(400, "E1226")
        if not raw.lstrip().lower().startswith((b"<?xml version='1.0' encoding='utf-8'?>",
                                                b'<?xml version="1.0" encoding="utf-8"?>')):
            return self._error(400, "E1229")
        if any(element.prefix for element in root.iter() if isinstance(element.tag, str)):
            return self._error(400, "E1228")
        errors = nfse_nacional.schema_errors(root, "DPS_v1.01.xsd")
        if errors:
            return self._error(400, "E1235", complement=errors[0])
        inf = root.find(f"{N}infDPS")
        dps_id = inf.get("Id")
        text = {child.tag.removeprefix(N): (child.text or "") for child in inf}
        cnpj = inf.findtext(f"{N}prest/{N}CNPJ") or ""
        if dps_id != nfse_nacional.dps_id(text["cLocEmi"], cnpj, text["serie"], int(text["nDPS"])):
            return self._error(400, "E0004", dps_id)
        if text["tpAmb"] != "2":
            return self._error(400, "E0006", dps_id)
        issued = datetime.fromisoformat(text["dhEmi"])
        if issued > clock.now() + timedelta(seconds=1):
            return self._error(400, "E0008", dps_id)
        if text["dCompet"] > issued.date().isoformat():
            return self._error(400, "E0015", dps_id)
        signature = root[-1]
        if signature.tag != f"{{{xmldsig.DS}}}Signature":
            return self._error(400, "E0717", dps_id)
        reference = signature.find(f".//{{{xmldsig.DS}}}Reference")
        try:
            if reference is None or reference.get("URI") != f"#{dps_id}":
                raise xmldsig.SignatureInvalid("reference")
            signer = xmldsig.verify(root)
        except xmldsig.SignatureInvalid as error:
            return self._error(400, "E0714", dps_id, str(error))
        if certificates.certificate_cnpj(signer) != cnpj:
            return self._error(400, "E0718", dps_id)
        if inf.findtext(f"{N}prest/{N}regTrib/{N}opSimpNac") == "1" and inf.find(f".//{N}tribMun/{N}pAliq") is not None:
            return self._error(400, "E0617", dps_id)
        if inf.find(f".//{N}totTrib/{N}indTotTrib") is not None or inf.find(f".//{N}pTotTribSN") is not None:
            return self._error(400, "E0713", dps_id)
        if inf.find(f"{N}IBSCBS") is not None:
            if inf.find(f"{N}serv/{N}cServ/{N}cNBS") is None:
                return self._error(400, "E0322", dps_id)
            if root.get("versao") != "1.01":
                return self._error(400, "E0854", dps_id)
        if self._reject:
            status, code, message = self._reject.pop(0)
            return self._error(status, code, dps_id, message=message)
        with self._lock:
            self.dps_seen.append(dps_id)
            if dps_id in self.by_dps:
                return self._error(400, "E0014", dps_id)
            replaced = inf.findtext(f"{N}subst/{N}chSubstda")
            if replaced is not None:
                refused = self._substitution_refused(replaced, cnpj)
                if refused:
                    return self._error(400, refused, dps_id)
            number = len(self.notes) + 1
            key = chave(text["cLocEmi"], cnpj, number, issued, dps_id[-9:])
            xml = self._nfse(key, number, root, raw)
            self.notes[key] = {"id": dps_id, "xml": xml, "cancelled": False, "events": []}
            self.by_dps[dps_id] = key
            if replaced is not None:
                self._register_substitution(replaced, key)
        if self._stall:
            seconds, self._stall = self._stall, 0.0
            time.sleep(seconds)
        return self._json(201, {"tipoAmbiente": 2, "versaoAplicativo": "fake-sefin", "idDps": dps_id,
                                "chaveAcesso": key, "nfseXmlGZipB64": _b64gz(xml), "alertas": [],
                                "dataHoraProcessamento": clock.now().astimezone(BRASILIA).isoformat()})

    def _substitution_refused(self, replaced: str, cnpj: str) -> str:
        """The code refusing a substitution of `replaced` (E0042 key not valid or another emitente's, E0044 not
        found, E0046 cancelled), or ""."""
        if not nfse_nacional.valid_access_key(replaced) or replaced[9:23] != cnpj:
            return "E0042"
        old = self.notes.get(replaced)
        if old is None:
            return "E0044"
        return "E0046" if old["cancelled"] else ""

    def _register_substitution(self, replaced: str, substitute: str) -> None:
        """What the Sefin does on authorising a substitute: the event e105102 on the old note, which is cancelled."""
        old = self.notes[replaced]
        old["cancelled"] = True
        sequence = len(old["events"]) + 1
        processed = clock.now().astimezone(BRASILIA).replace(microsecond=0).isoformat()
        old["events"].append((f'<?xml version="1.0" encoding="UTF-8"?><evento xmlns="{NS}" versao="1.01"><infEvento '
                              f'Id="EVT{replaced}105102{sequence:03d}"><verAplic>fake-sefin</verAplic><ambGer>2'
                              f"</ambGer><nSeqEvento>{sequence}</nSeqEvento><dhProc>{processed}</dhProc>"
                              f"<nDFe>{sequence}</nDFe><chSubstituta>{substitute}</chSubstituta></infEvento>"
                              f"</evento>").encode())

    @staticmethod
    def _nfse(key: str, number: int, dps: etree._Element, raw: bytes) -> bytes:
        """The authorised NFS-e: infNFSe (the fields the XSD requires, in its order) and the signed DPS as sent."""
        inf_dps = dps.find(f"{N}infDPS")

        def find(path: str) -> str:
            return inf_dps.findtext("/".join(N + part for part in path.split("/"))) or ""

        gross = int(round(float(find("valores/vServPrest/vServ")) * 100))
        discount = int(round(float(find("valores/vDescCondIncond/vDescIncond") or 0) * 100))
        net = nfse_nacional.decimal_text(gross - discount)
        now = clock.now().astimezone(BRASILIA).replace(microsecond=0).isoformat()
        values = f"<vBC>{net}</vBC><vLiq>{net}</vLiq>"
        head = (f'<NFSe xmlns="{NS}" versao="1.01"><infNFSe Id="NFS{key}"><xLocEmi>São Paulo</xLocEmi>'
                f"<xLocPrestacao>São Paulo</xLocPrestacao><nNFSe>{number}</nNFSe><cLocIncid>3550308</cLocIncid>"
                f"<xLocIncid>São Paulo</xLocIncid><xTribNac>Licenciamento ou cessão de direito de uso de programas "
                f"de computação.</xTribNac><verAplic>fake-sefin</verAplic><ambGer>2</ambGer><tpEmis>1</tpEmis>"
                f"<procEmi>1</procEmi><cStat>100</cStat><dhProc>{now}</dhProc><nDFSe>{number}</nDFSe>"
                f"<emit><CNPJ>{find('prest/CNPJ')}</CNPJ><xNome>REVENDA EXEMPLO LTDA</xNome><enderNac>"
                f"<xLgr>AVENIDA BRIGADEIRO FARIA LIMA</xLgr><nro>3000</nro><xBairro>ITAIM BIBI</xBairro>"
                f"<cMun>3550308</cMun><UF>SP</UF><CEP>01452000</CEP></enderNac></emit>"
                f"<valores>{values}</valores>")
        body = raw.split(b"?>", 1)[1].lstrip() if raw.lstrip().startswith(b"<?xml") else raw
        return ('<?xml version="1.0" encoding="UTF-8"?>' + head).encode() + body + b"</infNFSe></NFSe>"

    def event(self, key: str) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) != {"pedidoRegistroEventoXmlGZipB64"}:
            return self._error(400, "E1235", complement="corpo JSON deve ter exatamente pedidoRegistroEventoXmlGZipB64")
        try:
            root = etree.fromstring(gzip.decompress(base64.b64decode(body["pedidoRegistroEventoXmlGZipB64"],
                                                                     validate=True)))
        except (ValueError, TypeError, OSError, EOFError, etree.XMLSyntaxError):
            return self._error(400, "E1226")
        errors = nfse_nacional.schema_errors(root, "pedRegEvento_v1.01.xsd")
        if errors:
            return self._error(400, "E1235", complement=errors[0])
        inf = root.find(f"{N}infPedReg")
        note = self.notes.get(key)
        if note is None or inf.findtext(f"{N}chNFSe") != key:
            return self._error(404 if note is None else 400, "E1831")
        if inf.get("Id") != f"PRE{key}101101":
            return self._error(400, "E1827")
        try:
            signer = xmldsig.verify(root)
        except xmldsig.SignatureInvalid as error:
            return self._error(400, "E0714", complement=str(error))
        if certificates.certificate_cnpj(signer)[:8] != (inf.findtext(f"{N}CNPJAutor") or "")[:8]:
            return self._error(400, "E0812")
        if self._reject:
            status, code, message = self._reject.pop(0)
            return self._error(status, code, message=message)
        with self._lock:
            if note["cancelled"]:
                return self._error(400, "E0840")
            note["cancelled"] = True
            sequence = len(note["events"]) + 1
            processed = clock.now().astimezone(BRASILIA).replace(microsecond=0).isoformat()
            event = (f'<?xml version="1.0" encoding="UTF-8"?><evento xmlns="{NS}" versao="1.01"><infEvento '
                     f'Id="EVT{key}101101{sequence:03d}"><verAplic>fake-sefin</verAplic><ambGer>2</ambGer>'
                     f"<nSeqEvento>{sequence}</nSeqEvento><dhProc>{processed}</dhProc>"
                     f"<nDFe>{sequence}</nDFe></infEvento></evento>").encode()
            note["events"].append(event)
        if self._stall:
            seconds, self._stall = self._stall, 0.0
            time.sleep(seconds)
        return self._json(201, {"tipoAmbiente": 2, "versaoAplicativo": "fake-sefin", "eventoXmlGZipB64": _b64gz(event),
                                "dataHoraProcessamento": clock.now().astimezone(BRASILIA).isoformat()})
