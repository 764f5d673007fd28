"""Notas fiscais de serviço (NFS-e): the `FiscalIssuer` Protocol, the data it speaks, and its adapters.

The billing room asks an issuer for the NFS-e of an invoice and stores what comes back; it never talks
to a city hall itself. Adapters (chosen by `FISCAL_BACKEND`):

- `simulator` (default, `make run`): `FiscalSimulator`, a SIMULATOR. It issues, in process, a document
  shaped like an ABRASF 2.04 NFS-e (layout below) and its DANFSe PDF, both marked "SEM VALOR FISCAL —
  SIMULAÇÃO". Nothing is sent anywhere; the documents have no legal value.
- `upload`: `UploadOnly`. The real NFS-e is issued by staff at the city hall's site; `issue` raises
  `AwaitingUpload` and the billing room waits for staff to upload the XML and the PDF in the backoffice.

The simulator's XML (ABRASF 2.04 `CompNfse`, namespace http://www.abrasf.org.br/nfse.xsd)::

    CompNfse/Nfse[@versao="2.04"]/InfNfse[@Id]
      Numero                 "SIM-" + the invoice number's digits ("SIM-2026000123")
      CodigoVerificacao      9 characters [A-Z2-7], from a SHA-256 of number, CNPJs and amount (deterministic)
      DataEmissao            the issue date, "2026-03-01T00:00:00"
      OutrasInformacoes      the "SEM VALOR FISCAL — SIMULAÇÃO" notice
      ValoresNfse/BaseCalculo, ValorLiquidoNfse   the net amount (the invoice total), "941.71"
      PrestadorServico/IdentificacaoPrestador/CpfCnpj/Cnpj, RazaoSocial, Endereco/Endereco
      OrgaoGerador/CodigoMunicipio, Uf            São Paulo (3550308, SP)
      DeclaracaoPrestacaoServico/InfDeclaracaoPrestacaoServico
        Rps/IdentificacaoRps/Numero, Serie, Tipo  the invoice number's digits, series "F", type 1 (RPS)
        Competencia                               the issue date
        Servico/Valores/ValorServicos             gross amount (total + credit applied)
        Servico/Valores/DescontoIncondicionado    the credit applied (only when there is one)
        Servico/IssRetido (2 = no), ItemListaServico (01.05: licenciamento de programas de computação),
        Servico/Discriminacao, CodigoMunicipio, ExigibilidadeISS (1)
        Prestador/CpfCnpj/Cnpj
        TomadorServico/IdentificacaoTomador/CpfCnpj/Cnpj, RazaoSocial,
        TomadorServico/Endereco/Endereco, Numero, Complemento, Bairro, Uf, Cep

No taxes are computed (no Aliquota, no ValorIss): a simulated note must not pretend to know the ISS.
"""

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from jinja2 import Environment, FileSystemLoader, select_autoescape

from portal.shared import clock
from portal.shared import cnpj as cnpj_module
from portal.shared.documents import render_pdf
from portal.shared.money import format_brl

ABRASF_NS = "http://www.abrasf.org.br/nfse.xsd"
SIMULATION_NOTICE = "SEM VALOR FISCAL — SIMULAÇÃO"
SAO_PAULO_IBGE = "3550308"
SERVICE_ITEM = "01.05"  # LC 116/2003 item 1.05: licenciamento ou cessão de direito de uso de programas de computação
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class Address:
    """A postal address; the reseller's comes as one line (`street` only)."""

    street: str
    number: str = ""
    complement: str = ""
    district: str = ""
    city: str = ""
    state: str = ""  # UF
    postal_code: str = ""  # CEP, digits only
    city_code: str = ""  # the município's IBGE code, 7 digits (the NFS-e's cMun)

    @property
    def one_line(self) -> str:
        first = ", ".join(part for part in (self.street, self.number, self.complement) if part)
        place = "/".join(part for part in (self.city, self.state) if part)
        cep = f"CEP {self.postal_code[:5]}-{self.postal_code[5:]}" if len(self.postal_code) == 8 else ""
        return " – ".join(part for part in (first, self.district, place, cep) if part)


@dataclass(frozen=True)
class Party:
    cnpj: str  # compact: 14 characters, no mask
    name: str  # razão social
    address: Address
    municipal_registration: str = ""  # inscrição municipal (CCM in São Paulo)
    email: str = ""


@dataclass(frozen=True)
class FiscalRequest:
    """What an NFS-e says: who provided the service to whom, what, when, for how much."""

    invoice_number: str  # the portal's invoice number, "2026/000123" (the RPS)
    amount_cents: int  # the net amount: the invoice total (centavos, ≥ 0)
    issue_date: date  # business date
    service_description: str  # the "discriminação dos serviços", several lines
    provider: Party  # the reseller (prestador)
    taker: Party  # the customer organization (tomador)
    discount_cents: int = 0  # credit applied on the invoice (desconto incondicionado); gross = amount + discount
    series: str = ""  # the DPS / RPS series (settings)
    number: int = 0  # the DPS / RPS number: gapless per series, taken once per invoice (billing/fiscal.py)
    # The customer's purchase-order number(s) (DPS infDPS/serv/infoCompl/xPed, 1–60 characters): the one PO the
    # invoice's lines share, or several joined "4500012345,4500012399" cut to 60; "" = none (leave xPed out).
    purchase_order: str = ""
    replaces: str = ""  # the access key of the note this one substitutes (a reissue; NFS-e Nacional chSubstda)
    replaces_reason: str = ""  # why (the substitution's xMotivo): the reason the replaced invoice was cancelled


@dataclass(frozen=True)
class FiscalResult:
    number: str  # the NFS-e number as the issuer gives it
    verification_code: str  # código de verificação / chave de acesso
    issued_on: date
    xml: str  # the NFS-e document, as text: exactly as the authority returned it
    pdf: bytes | None  # the DANFSe (None when the authority's PDF could not be fetched yet)
    simulated: bool  # True: "SEM VALOR FISCAL"
    access_key: str = ""  # NFS-e Nacional: the chave de acesso (50 digits)
    public_url: str = ""  # the authority's public page of the note (São Paulo), when there is one
    request_id: str = ""  # the id the authority knows the request by (the DPS Id; São Paulo: series + RPS number)


@dataclass(frozen=True)
class IssuedNote:
    """An NFS-e already issued, as stored (what a cancellation or a consultation needs)."""

    number: str
    verification_code: str
    issued_on: date
    access_key: str = ""
    series: str = ""
    rps_number: int = 0
    provider_cnpj: str = ""


@dataclass(frozen=True)
class FiscalCancellation:
    """Why a note is cancelled: the national event's cMotivo — 1 erro na emissão, 2 serviço não prestado,
    9 outros — and its text (15–255 characters); the access key of the note that replaces it, if any."""

    reason_code: int
    reason: str
    replaced_by: str = ""


@dataclass(frozen=True)
class CancellationResult:
    cancelled_at: date
    xml: str  # the authority's answer (the registered event), as returned
    simulated: bool


class FiscalRejected(Exception):  # noqa: N818 - the authority's answer, not a bug
    """The authority refused the request. `errors` are its (code, official message) pairs, shown to finance as
    they are; `fields` name the request data at cause ("taker.address.postal_code", "taker.address.city_code", …)
    so that a page can offer them for correction. Not retried until something changes."""

    def __init__(self, errors: list[tuple[str, str]], *, fields: tuple[str, ...] = ()) -> None:
        super().__init__("; ".join(f"{code} {message}".strip() for code, message in errors))
        self.errors = errors
        self.fields = fields


class FiscalUnavailable(Exception):  # noqa: N818 - a transient state
    """No answer that settles it (timeout, 5xx, connection refused): retry later with the SAME series and number;
    the adapter asks the authority first whether that request was already authorised, so no second note appears."""


class AwaitingUpload(Exception):  # noqa: N818 - a signal, not an error
    """The issuer does not issue: the real NFS-e is issued at the city hall and uploaded by staff."""


class FiscalIssuer(Protocol):
    backend: str  # "simulator" | "upload" | "nfse_nacional" | "nfse_sao_paulo"
    # True: a reissue's note names the note it replaces (`FiscalRequest.replaces`) and the authority cancels that
    # one when it authorises the new one (NFS-e Nacional: the DPS's subst group; the Sefin registers the event
    # e105102 "cancelamento por substituição" itself). False: the old note is cancelled first (`cancel`).
    substitutes: bool
    # True: an issued note comes with its PDF (the DANFSe), and one stored without it (the PDF could not be made
    # then) is asked for again. False: the authority has no PDF to give (São Paulo: its public page instead).
    gives_pdf: bool

    def issue(self, request: FiscalRequest) -> FiscalResult:
        """Issue the NFS-e (idempotent for the same series and number: an already authorised request gives its note
        back), or raise `AwaitingUpload` (staff upload it), `FiscalRejected` (finance must look),
        `FiscalUnavailable` (retry later)."""

    def cancel(self, note: IssuedNote, cancellation: FiscalCancellation) -> CancellationResult:
        """Cancel an issued note (the authority's cancellation event or message), or raise `AwaitingUpload` (staff
        cancel it at the city hall), `FiscalRejected`, `FiscalUnavailable`."""


def decimal_text(centavos: int) -> str:
    """`94171` → `"941.71"` (the XML's decimal notation, never a float)."""
    return str((Decimal(centavos) / 100).quantize(Decimal("0.01")))


class FiscalSimulator:
    """A SIMULATOR of an NFS-e issuer: ABRASF-like XML and a DANFSe, both "SEM VALOR FISCAL".

    It keeps no state: the number derives from the invoice number and the verification code from a hash,
    so issuing the same request again (after a crash) gives the same document.
    """

    backend = "simulator"
    substitutes = False  # its notes are cancelled first (locally), like São Paulo's
    gives_pdf = True

    def __init__(self, templates: Path = TEMPLATES) -> None:
        self._jinja = Environment(loader=FileSystemLoader(str(templates)), autoescape=select_autoescape(["html"]))
        self._jinja.filters["brl"] = format_brl
        self._jinja.filters["cnpj"] = cnpj_module.format
        self._jinja.filters["date"] = lambda value: value.strftime("%d/%m/%Y")

    def issue(self, request: FiscalRequest) -> FiscalResult:
        digits = re.sub(r"\D", "", request.invoice_number)
        number = f"SIM-{digits}"
        code = self.verification_code(number, request)
        xml = self.xml(request, number=number, code=code)
        pdf = self.danfse(request, number=number, code=code)
        return FiscalResult(number=number, verification_code=code, issued_on=request.issue_date, xml=xml, pdf=pdf,
                            simulated=True)

    def cancel(self, note: IssuedNote, cancellation: FiscalCancellation) -> CancellationResult:
        """A simulated cancellation: nothing is sent anywhere; the answer says so."""
        root = ET.Element("CancelamentoSimulado", {"xmlns": ABRASF_NS})
        for tag, text in (("Numero", note.number), ("CodigoCancelamento", str(cancellation.reason_code)),
                          ("Motivo", cancellation.reason), ("Aviso", SIMULATION_NOTICE)):
            ET.SubElement(root, tag).text = text
        return CancellationResult(cancelled_at=clock.today(), xml=ET.tostring(root, encoding="unicode"),
                                  simulated=True)

    @staticmethod
    def verification_code(number: str, request: FiscalRequest) -> str:
        seed = f"{number}|{request.provider.cnpj}|{request.taker.cnpj}|{request.amount_cents}".encode()
        return base64.b32encode(hashlib.sha256(seed).digest()).decode()[:9]

    def xml(self, request: FiscalRequest, *, number: str, code: str) -> str:
        ET.register_namespace("", ABRASF_NS)

        def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
            element = ET.SubElement(parent, f"{{{ABRASF_NS}}}{tag}", attrs)
            if text is not None:
                element.text = text
            return element

        def cnpj(parent: ET.Element, value: str) -> None:
            sub(sub(parent, "CpfCnpj"), "Cnpj", value)

        gross = request.amount_cents + request.discount_cents
        root = ET.Element(f"{{{ABRASF_NS}}}CompNfse")
        root.append(ET.Comment(f" {SIMULATION_NOTICE}: gerado pelo simulador do portal, não é uma NFS-e. "))
        inf = sub(sub(root, "Nfse", versao="2.04"), "InfNfse", Id=f"nfse{number}")
        sub(inf, "Numero", number)
        sub(inf, "CodigoVerificacao", code)
        sub(inf, "DataEmissao", f"{request.issue_date.isoformat()}T00:00:00")
        sub(inf, "OutrasInformacoes", f"{SIMULATION_NOTICE}. Documento gerado pelo simulador do portal.")
        values = sub(inf, "ValoresNfse")
        sub(values, "BaseCalculo", decimal_text(request.amount_cents))
        sub(values, "ValorLiquidoNfse", decimal_text(request.amount_cents))
        provider = sub(inf, "PrestadorServico")
        cnpj(sub(provider, "IdentificacaoPrestador"), request.provider.cnpj)
        sub(provider, "RazaoSocial", request.provider.name)
        sub(sub(provider, "Endereco"), "Endereco", request.provider.address.one_line)
        issuer = sub(inf, "OrgaoGerador")
        sub(issuer, "CodigoMunicipio", SAO_PAULO_IBGE)
        sub(issuer, "Uf", "SP")
        declaration = sub(sub(inf, "DeclaracaoPrestacaoServico"), "InfDeclaracaoPrestacaoServico", Id=f"rps{number}")
        rps = sub(declaration, "Rps")
        rps_id = sub(rps, "IdentificacaoRps")
        sub(rps_id, "Numero", re.sub(r"\D", "", request.invoice_number))
        sub(rps_id, "Serie", "F")
        sub(rps_id, "Tipo", "1")
        sub(rps, "DataEmissao", request.issue_date.isoformat())
        sub(rps, "Status", "1")
        sub(declaration, "Competencia", request.issue_date.isoformat())
        service = sub(declaration, "Servico")
        amounts = sub(service, "Valores")
        sub(amounts, "ValorServicos", decimal_text(gross))
        if request.discount_cents:
            sub(amounts, "DescontoIncondicionado", decimal_text(request.discount_cents))
        sub(service, "IssRetido", "2")
        sub(service, "ItemListaServico", SERVICE_ITEM)
        sub(service, "Discriminacao", request.service_description)
        sub(service, "CodigoMunicipio", SAO_PAULO_IBGE)
        sub(service, "ExigibilidadeISS", "1")
        cnpj(sub(declaration, "Prestador"), request.provider.cnpj)
        taker = sub(declaration, "TomadorServico")
        cnpj(sub(taker, "IdentificacaoTomador"), request.taker.cnpj)
        sub(taker, "RazaoSocial", request.taker.name)
        address = request.taker.address
        where = sub(taker, "Endereco")
        sub(where, "Endereco", address.street)
        sub(where, "Numero", address.number or "S/N")
        if address.complement:
            sub(where, "Complemento", address.complement)
        sub(where, "Bairro", address.district)
        sub(where, "Uf", address.state)
        sub(where, "Cep", address.postal_code)
        sub(declaration, "OptanteSimplesNacional", "2")
        sub(declaration, "IncentivoFiscal", "2")
        ET.indent(root, space="  ")
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

    def danfse(self, request: FiscalRequest, *, number: str, code: str) -> bytes:

        html = self._jinja.get_template("documents/danfse.html").render(
            request=request, number=number, code=code, simulated=True, notice=SIMULATION_NOTICE,
            gross_cents=request.amount_cents + request.discount_cents, service_item=SERVICE_ITEM)
        return render_pdf(html)


class UploadOnly:
    """No issuing here: staff issue the NFS-e at the city hall and upload its XML and PDF in the backoffice."""

    backend = "upload"
    gives_pdf = True  # staff upload the PDF with the XML
    substitutes = False

    def issue(self, request: FiscalRequest) -> FiscalResult:
        raise AwaitingUpload(f"invoice {request.invoice_number}: waiting for staff to upload the NFS-e")

    def cancel(self, note: IssuedNote, cancellation: FiscalCancellation) -> CancellationResult:
        raise AwaitingUpload(f"NFS-e {note.number}: staff cancel it at the city hall")


# Adapters in their own modules (they import this module's dataclasses, so this module names them as strings).
def from_config(config: dict) -> FiscalIssuer:
    """The issuers of this module: "simulator" (default) or "upload" (the real adapters: fiscal_issuers.py)."""
    backend = config.get("FISCAL_BACKEND") or "simulator"
    if backend == "simulator":
        return FiscalSimulator()
    if backend == "upload":
        return UploadOnly()
    raise RuntimeError(f"FISCAL_BACKEND must be 'simulator' or 'upload', not {backend!r}")
