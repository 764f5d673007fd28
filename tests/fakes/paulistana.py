"""A local HTTPS fake of São Paulo's `lotenfe.asmx` (NFS-e Paulistana), specs/nfse-sao-paulo.md §6.

    pki = PaulistanaPki(cnpj="11444777000161")   # a throwaway CA, the server's certificate, the reseller's A1
    city = PaulistanaFake(pki, prestadores={"12345678": "11444777000161"}).start()
    ... SaoPauloIssuer(pki.a1, Settings(url=city.url, ccm="12345678", ca_file=str(pki.ca_file))) ...
    city.stop(); pki.remove()

What it enforces, in the order of §6: TLS ≥ 1.2 with a client certificate signed by its CA (the handshake fails
otherwise); the SOAP body's element → the method (EnvioRPS, ConsultaNFe, CancelamentoNFe); 1102 (empty) / 1101
(> 500 KB); VersaoSchema = Cabecalho/@Versao (1002); that layout's XSD (1001, the vendored schemas); the XMLDSig
(`xmldsig.verify`, Reference URI="", rsa-sha1/sha1: 1056 digest / 1057 otherwise); the TLS certificate's CNPJ =
CPFCNPJRemetente (1100); the CCM known (1202) and the XMLDSig signer's CNPJ = the prestador's (1107); the RPS string
rebuilt from the XML and its Assinatura verified, PKCS#1 v1.5 SHA-1 (1206); the layout the CCM must use (641 for a
layout-2 RPS from a layout-1 prestador, 631 the other way); 313 (future date), 367 (service code not enabled), 303
(value ≤ 0), 317/318 (address). Then: sequential NumeroNFe, an 8-character [A-Z0-9] CodigoVerificacao, and a repeated
ChaveRPS cancels the old note and issues a new one with alert 217, as the city does. The messages are the manual's
(v3.3.5 table, `OFFICIAL`). Every answer is checked against its XSD (`answer_violations`, expected empty).

State: `notes` (by NumeroNFe), `received` (method, signed message) in order. Switches: `fail_next(status=500)`,
`timeout_after_commit(seconds)` (the next EnvioRPS is committed, then the answer waits `seconds`),
`reject_next(code)` (the next EnvioRPS answers that error from `OFFICIAL`).
"""

import base64
import ipaddress
import secrets
import shutil
import ssl
import string
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask, Response, request
from lxml import etree

from portal.integrations import a1 as a1_module
from portal.integrations import nfse_sao_paulo as sp
from portal.integrations import xmldsig
from portal.shared import clock
from tests.fakes.externals import LoopbackServer, mtls_server_context

OFFICIAL = {  # NFe_Web_Service manual v3.3.5, table of errors and alerts (641: the text the spec quotes)
    "1001": "XML não compatível com Schema.",
    "1002": "Versão do Schema XML Incorreto.",
    "1056": "Rejeição: Assinatura – Digest difere do calculado.",
    "1057": "Rejeição: Assinatura difere do calculado.",
    "1100": "O CNPJ do usuário autorizado a enviar a mensagem XML não confere com o CNPJ usado na comunicação.",
    "1101": "Tamanho da mensagem XML ultrapassou o limite máximo permitido de 500 Kbytes.",
    "1102": "Mensagem XML de Pedido do serviço sem conteúdo.",
    "1106": "NF-e não encontrada.",
    "1107": "O CPF/CNPJ da assinatura da mensagem XML não corresponde ao CPF/CNPJ do Prestador de Serviços.",
    "1202": "Inscrição Municipal do Prestador não encontrada.",
    "1206": "Assinatura Digital do RPS incorreta.",
    "1301": "NF-e já cancelada em {0}.",
    "1305": "Assinatura de cancelamento da NF-e incorreta.",
    "1306": "A NF-e que se deseja cancelar não foi gerada via Web Service.",
    "217": "RPS reenviado. A NF-e ({0}) referente ao RPS (Número: {1}, Série: {2}) foi cancelada e uma nova NF-e foi "
           "emitida.",
    "219": "O campo Inscrição Municipal do Tomador ({0}) só deverá ser preenchido para tomadores estabelecidos no "
           "município de São Paulo.",
    "302": "CNPJ do Tomador de Serviços inválido (dígitos verificadores não conferem).",
    "303": "O Valor dos serviços deverá ser superior a R$ 0,00 (zero).",
    "306": "Código do Serviço Prestado {0} do RPS inexistente.",
    "313": "A data da emissão do RPS não poderá ser superior a data de hoje.",
    "317": "Campo Endereço não preenchido (obrigatório para tomador com CNPJ).",
    "318": "Campo Cidade/UF não preenchido (obrigatório para tomador com CNPJ).",
    "323": "Nota não pode ser cancelada. Ver detalhes no Manual.",
    "367": "Código do Serviço {0} não pode ser utilizado pelo prestador de serviço.",
    "631": "Emissões com fato gerador a partir de {0} deverão utilizar o leiaute 2.",
    "641": "Para este prestador deverá ser utilizado o leiaute 1.",
}
METHOD_BY_ELEMENT = {request_tag: method for method, (request_tag, *_rest) in sp.METHODS.items()}


class PaulistanaPki:
    """A throwaway CA (RSA), a server certificate for 127.0.0.1, the reseller's A1 signed by the CA (SAN otherName
    2.16.76.1.3.3 = `cnpj`), and `a1_for(cnpj)` / `rogue_a1()` for other certificates. PEM files in a temporary
    directory."""

    def __init__(self, cnpj: str = "11444777000161", name: str = "Portal Cloud Servicos de Tecnologia Ltda") -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="paulistana-pki-"))
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake ICP-Brasil CA (tests)")])
        now = datetime.now(UTC)  # wall-clock time for the TLS stack
        self.ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                   .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(self.ca_key, hashes.SHA256()))
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))
        server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        server = (x509.CertificateBuilder()
                  .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                  .issuer_name(ca_name).public_key(server_key.public_key())
                  .serial_number(x509.random_serial_number())
                  .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
                  .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                 critical=False)
                  .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                  .sign(self.ca_key, hashes.SHA256()))
        self.server_cert, self.server_key = self.directory / "server.pem", self.directory / "server.key"
        self.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
        self.server_key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        self.a1 = self.a1_for(cnpj, name)

    def a1_for(self, cnpj: str, name: str = "Outra Empresa Ltda") -> a1_module.A1:
        return a1_module.make_certificate(cnpj, name, issuer=self.ca, issuer_key=self.ca_key)

    @staticmethod
    def rogue_a1(cnpj: str = "11444777000161") -> a1_module.A1:
        """A certificate for the same CNPJ that no authority the fake trusts signed (self-signed)."""
        return a1_module.make_certificate(cnpj, "Rogue")

    def server_context(self) -> ssl.SSLContext:
        return mtls_server_context(self.server_cert, self.server_key, self.ca_file)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class Refused(Exception):  # noqa: N818 - an answer of the fake
    def __init__(self, code: str, *args: str, key: etree._Element | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = OFFICIAL[code].format(*args)
        self.key = key


def _text(element: etree._Element | None, path: str) -> str:
    return (element.findtext(path) if element is not None else "") or ""


class PaulistanaFake:
    """See the module docstring. `url` is the lotenfe.asmx URL once started."""

    def __init__(self, pki: PaulistanaPki, *, prestadores: dict[str, str], layouts: dict[str, int] | None = None,
                 service_codes: frozenset[int] = frozenset({2800}), first_number: int = 42) -> None:
        self.pki = pki
        self.prestadores = prestadores  # CCM → CNPJ
        self.layouts = layouts or {}  # CCM → the layout the city wants from it (default 1)
        self.service_codes = service_codes
        self.notes: dict[int, dict] = {}
        self.received: list[tuple[str, bytes]] = []
        self.answer_violations: list[tuple[str, list[str]]] = []
        self._next_number = first_number
        self._fail_status: int | None = None
        self._stall_after_commit = 0.0
        self._reject_next: str | None = None
        self._lock = threading.Lock()
        self._http: LoopbackServer | None = None
        self.url = ""
        self.app = self._build()

    def start(self) -> "PaulistanaFake":
        self._http = LoopbackServer(self.app, ssl_context=self.pki.server_context()).start()
        self.url = f"{self._http.url}/lotenfe.asmx"
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    # ------------------------------------------------------------ switches

    def fail_next(self, status: int = 500) -> None:
        self._fail_status = status

    def timeout_after_commit(self, seconds: float) -> None:
        self._stall_after_commit = seconds

    def reject_next(self, code: str) -> None:
        self._reject_next = code

    def issue_outside_web_service(self, ccm: str) -> int:
        """A note issued on the city's site (not cancellable through the web service: 1306)."""
        with self._lock:
            number = self._next_number
            self._next_number += 1
            self.notes[number] = {"ccm": ccm, "series": "", "rps": 0, "status": "N", "code": "SITE0001",
                                  "issued": clock.now(), "cancelled": None, "via_ws": False, "rps_xml": None,
                                  "layout": 1}
            return number

    def active_notes(self) -> list[dict]:
        return [note for note in self.notes.values() if note["status"] == "N"]

    # ------------------------------------------------------------ the app

    def _build(self) -> Flask:
        app = Flask("paulistana_fake")

        @app.post("/lotenfe.asmx")
        def lotenfe():
            if self._fail_status is not None:
                status, self._fail_status = self._fail_status, None
                return Response("<html><body>Service Unavailable</body></html>", status, mimetype="text/html")
            try:
                envelope = etree.fromstring(request.get_data())
                call = envelope.find(f"{{{sp.SOAP12}}}Body")[0]
            except (etree.XMLSyntaxError, TypeError, IndexError):
                return Response("not a SOAP 1.2 envelope", 400)
            method = METHOD_BY_ELEMENT.get(etree.QName(call).localname)
            if method is None or etree.QName(call).namespace != sp.NS:
                return Response("unknown method", 400)
            declared = (call.findtext(f"{{{sp.NS}}}VersaoSchema") or "").strip()
            message = (call.findtext(f"{{{sp.NS}}}MensagemXML") or "").encode("utf-8")
            self.received.append((method, message))
            layout = int(declared) if declared in ("1", "2") else 1
            stall = 0.0
            try:
                root, signer = self._authenticate(method, declared, message)
                ccm = self._ccm_of(root, signer)
                if method == "EnvioRPS":
                    events, key = self._envio(root, ccm, int(declared), signer)
                    stall, self._stall_after_commit = self._stall_after_commit, 0.0
                    answer = self._answer(method, layout, True, alerts=events, key=key)
                elif method == "ConsultaNFe":
                    answer = self._consulta(root, ccm, layout)
                else:
                    answer = self._cancelamento(root, ccm, layout, signer)
            except Refused as refused:
                answer = self._answer(method, layout, False, errors=[refused])
            if stall:
                time.sleep(stall)
            return self._soap(method, answer)

        return app

    def _authenticate(self, method: str, declared: str, message: bytes) -> tuple[etree._Element, x509.Certificate]:
        if not message.strip():
            raise Refused("1102")
        if len(message) > sp.MAX_MESSAGE_BYTES:
            raise Refused("1101")
        try:
            root = etree.fromstring(message)
        except etree.XMLSyntaxError:
            raise Refused("1001") from None
        if etree.QName(root).localname != sp.METHODS[method][2] or etree.QName(root).namespace != sp.NS:
            raise Refused("1001")
        if declared not in ("1", "2") or root.find("Cabecalho") is None or root.find("Cabecalho").get("Versao") != \
                declared:
            raise Refused("1002")
        if not sp.schema(int(declared), sp.METHODS[method][2]).validate(root):
            raise Refused("1001")
        signature = root[-1]
        ds = {"ds": xmldsig.DS}
        reference = signature.find("ds:SignedInfo/ds:Reference", ds)
        if (reference is None or reference.get("URI") != ""
                or signature.find("ds:SignedInfo/ds:SignatureMethod", ds).get("Algorithm")
                != "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
                or reference.find("ds:DigestMethod", ds).get("Algorithm") != "http://www.w3.org/2000/09/xmldsig#sha1"):
            raise Refused("1057")
        try:
            signer = xmldsig.verify(root)
        except xmldsig.SignatureInvalid as error:
            raise Refused("1056" if "digest" in str(error) else "1057") from None
        tls = request.environ.get("SSL_CLIENT_CERT")
        tls_cnpj = a1_module.certificate_cnpj(x509.load_pem_x509_certificate(tls.encode())) if tls else ""
        if tls_cnpj != _text(root, "Cabecalho/CPFCNPJRemetente/CNPJ"):
            raise Refused("1100")
        return root, signer

    def _ccm_of(self, root: etree._Element, signer: x509.Certificate) -> str:
        found = root.find(".//InscricaoPrestador")
        ccm = (found.text or "").strip() if found is not None else ""
        if ccm not in self.prestadores:
            raise Refused("1202")
        if a1_module.certificate_cnpj(signer) != self.prestadores[ccm]:
            raise Refused("1107")
        return ccm

    # ------------------------------------------------------------ EnvioRPS

    def _envio(self, root: etree._Element, ccm: str, layout: int,
               signer: x509.Certificate) -> tuple[list[Refused], etree._Element]:
        rps = root.find("RPS")
        amount_text = _text(rps, "ValorServicos") if layout == 1 else _text(rps, "ValorInicialCobrado")
        amount_cents = round(float(amount_text or "0") * 100)
        issue_date = date.fromisoformat(_text(rps, "DataEmissao"))
        series, number = _text(rps, "ChaveRPS/SerieRPS"), int(_text(rps, "ChaveRPS/NumeroRPS"))
        expected = sp.rps_string(
            ccm=ccm, series=series, number=number, issue_date=issue_date, amount_cents=amount_cents,
            deductions_cents=round(float(_text(rps, "ValorDeducoes") or "0") * 100),
            service_code=_text(rps, "CodigoServico"), taker_cnpj=_text(rps, "CPFCNPJTomador/CNPJ"), layout=layout,
            taxation=_text(rps, "TributacaoRPS"), status=_text(rps, "StatusRPS"),
            iss_retained=_text(rps, "ISSRetido") == "true")
        try:
            signer.public_key().verify(base64.b64decode(_text(rps, "Assinatura")), expected.encode("ascii"),
                                             padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - the city's choice
        except (InvalidSignature, ValueError):
            raise Refused("1206") from None
        wanted = self.layouts.get(ccm, 1)
        if layout == 2 and wanted == 1:
            raise Refused("641")
        if layout == 1 and wanted == 2:
            raise Refused("631", "01/01/2026")
        if self._reject_next:
            code, self._reject_next = self._reject_next, None
            raise Refused(code, _text(rps, "CodigoServico"))
        if issue_date > clock.today():
            raise Refused("313")
        if int(_text(rps, "CodigoServico")) not in self.service_codes:
            raise Refused("367", _text(rps, "CodigoServico"))
        if amount_cents <= 0:
            raise Refused("303")
        address = rps.find("EnderecoTomador")
        if not _text(address, "Logradouro"):
            raise Refused("317")
        if not _text(address, "Cidade") or not _text(address, "UF"):
            raise Refused("318")
        alerts = []
        with self._lock:
            for old_number, old in self.notes.items():
                if (old["ccm"], old["series"], old["rps"], old["status"]) == (ccm, series, number, "N"):
                    old["status"], old["cancelled"] = "C", clock.now()
                    alerts.append(Refused("217", str(old_number), str(number), series))
            nfe = self._next_number
            self._next_number += 1
            code = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
            self.notes[nfe] = {"ccm": ccm, "series": series, "rps": number, "status": "N", "code": code,
                               "issued": clock.now(), "cancelled": None, "via_ws": True, "rps_xml": rps,
                               "layout": layout}
        return alerts, self._chave(nfe, ccm, series, number)

    def _chave(self, nfe: int, ccm: str, series: str, rps_number: int) -> etree._Element:
        pair = etree.Element("ChaveNFeRPS")
        key = etree.SubElement(pair, "ChaveNFe")
        etree.SubElement(key, "InscricaoPrestador").text = ccm
        etree.SubElement(key, "NumeroNFe").text = str(nfe)
        etree.SubElement(key, "CodigoVerificacao").text = self.notes[nfe]["code"]
        chave_rps = etree.SubElement(pair, "ChaveRPS")
        etree.SubElement(chave_rps, "InscricaoPrestador").text = ccm
        etree.SubElement(chave_rps, "SerieRPS").text = series
        etree.SubElement(chave_rps, "NumeroRPS").text = str(rps_number)
        return pair

    # ------------------------------------------------------------ ConsultaNFe

    def _consulta(self, root: etree._Element, ccm: str, layout: int) -> etree._Element:
        found = []
        for detail in root.findall("Detalhe"):
            if detail.find("ChaveNFe") is not None:
                number = int(_text(detail, "ChaveNFe/NumeroNFe"))
                matches = [number] if number in self.notes and self.notes[number]["ccm"] == ccm else []
            else:
                series, rps = _text(detail, "ChaveRPS/SerieRPS"), int(_text(detail, "ChaveRPS/NumeroRPS"))
                matches = [n for n, note in self.notes.items()
                           if (note["ccm"], note["series"], note["rps"]) == (ccm, series, rps)]
                matches = [n for n in matches if self.notes[n]["status"] == "N"] or matches[-1:]
            found.extend(matches)
        if not found:
            raise Refused("1106")
        answer = self._answer("ConsultaNFe", layout, True)
        for number in found:
            sp.top_child(answer, "NFe").extend(list(self._nfe(number)))
        self._check(answer, layout)
        return answer

    def _nfe(self, number: int) -> etree._Element:
        note = self.notes[number]
        rps = note["rps_xml"]
        nfe = etree.Element("NFe")

        def add(tag: str, text: str) -> etree._Element:
            element = etree.SubElement(nfe, tag)
            element.text = text
            return element

        def copy_from_rps(tag: str) -> None:
            source = rps.find(tag) if rps is not None else None
            if source is not None:
                nfe.append(etree.fromstring(etree.tostring(source)))

        key = add("ChaveNFe", "")
        key.text = None
        etree.SubElement(key, "InscricaoPrestador").text = note["ccm"]
        etree.SubElement(key, "NumeroNFe").text = str(number)
        etree.SubElement(key, "CodigoVerificacao").text = note["code"]
        add("DataEmissaoNFe", note["issued"].strftime("%Y-%m-%dT%H:%M:%S"))
        if rps is not None:
            copy_from_rps("ChaveRPS")
            add("TipoRPS", "RPS")
            add("DataEmissaoRPS", _text(rps, "DataEmissao"))
        add("DataFatoGeradorNFe", note["issued"].strftime("%Y-%m-%dT%H:%M:%S"))
        cpfcnpj = etree.SubElement(nfe, "CPFCNPJPrestador")
        etree.SubElement(cpfcnpj, "CNPJ").text = self.prestadores[note["ccm"]]
        add("RazaoSocialPrestador", "PRESTADOR DO FAKE")
        add("EnderecoPrestador", None)
        add("StatusNFe", note["status"])
        if note["cancelled"] is not None:
            add("DataCancelamento", note["cancelled"].strftime("%Y-%m-%dT%H:%M:%S"))
        add("TributacaoNFe", "T")
        add("OpcaoSimples", "0")
        amount = _text(rps, "ValorServicos") or _text(rps, "ValorInicialCobrado") or "1.00"
        add("ValorServicos", amount)
        add("CodigoServico", _text(rps, "CodigoServico") or "2800")
        add("AliquotaServicos", "0.029")
        add("ValorISS", "0")
        add("ValorCredito", "0")
        add("ISSRetido", "false")
        for tag in ("CPFCNPJTomador", "RazaoSocialTomador", "EnderecoTomador", "EmailTomador"):
            copy_from_rps(tag)
        add("Discriminacao", _text(rps, "Discriminacao") or "Nota emitida no site")
        if note["layout"] == 2:
            add("ValorInicialCobrado", amount)
            add("ExigibilidadeSuspensa", "0")
            add("PagamentoParceladoAntecipado", "0")
        return nfe

    # ------------------------------------------------------------ CancelamentoNFe

    def _cancelamento(self, root: etree._Element, ccm: str, layout: int, signer: x509.Certificate) -> etree._Element:
        for detail in root.findall("Detalhe"):
            number = int(_text(detail, "ChaveNFe/NumeroNFe"))
            note = self.notes.get(number)
            if note is None or note["ccm"] != ccm:
                raise Refused("1106")
            width = 12 if layout == 2 else 8  # the fake's choice for layout 2: 24 characters, as [NET]
            expected = sp.cancel_string(ccm=ccm, nfe_number=str(number), ccm_width=width)
            try:
                signer.public_key().verify(base64.b64decode(_text(detail, "AssinaturaCancelamento")),
                                                 expected.encode("ascii"), padding.PKCS1v15(),
                                                 hashes.SHA1())  # noqa: S303 - the city's choice
            except (InvalidSignature, ValueError):
                raise Refused("1305") from None
            if not note["via_ws"]:
                raise Refused("1306")
            if note["status"] == "C":
                raise Refused("1301", note["cancelled"].strftime("%d/%m/%Y"))
            note["status"], note["cancelled"] = "C", clock.now()
        answer = self._answer("CancelamentoNFe", layout, True)
        self._check(answer, layout)
        return answer

    # ------------------------------------------------------------ answers

    def _answer(self, method: str, layout: int, success: bool, *, alerts: list[Refused] = (),
                errors: list[Refused] = (), key: etree._Element | None = None) -> etree._Element:
        root = etree.Element(f"{{{sp.NS}}}{sp.METHODS[method][3]}", nsmap={None: sp.NS})
        header = sp.top_child(root, "Cabecalho")
        header.set("Versao", str(layout))
        etree.SubElement(header, "Sucesso").text = "true" if success else "false"
        for tag, events in (("Alerta", alerts), ("Erro", errors)):
            for event in events:
                element = sp.top_child(root, tag)
                etree.SubElement(element, "Codigo").text = event.code
                etree.SubElement(element, "Descricao").text = event.message
        if key is not None:
            pair = sp.top_child(root, "ChaveNFeRPS")
            pair.extend(list(key))
        if method == "EnvioRPS" or not success:
            self._check(root, layout)
        return root

    def _check(self, answer: etree._Element, layout: int) -> None:
        checker = sp.schema(layout, etree.QName(answer).localname)
        if not checker.validate(answer):
            self.answer_violations.append((etree.QName(answer).localname, [str(e) for e in checker.error_log]))

    @staticmethod
    def _soap(method: str, answer: etree._Element) -> Response:
        envelope = etree.Element(f"{{{sp.SOAP12}}}Envelope", nsmap={"soap": sp.SOAP12})
        body = etree.SubElement(envelope, f"{{{sp.SOAP12}}}Body")
        response = etree.SubElement(body, f"{{{sp.NS}}}{method}Response", nsmap={None: sp.NS})
        etree.SubElement(response, f"{{{sp.NS}}}RetornoXML").text = etree.tostring(answer, encoding="unicode")
        return Response(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
                        mimetype="application/soap+xml")
