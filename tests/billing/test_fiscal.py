"""Notas fiscais of invoices: the simulated NFS-e issued once, the real one uploaded by staff and checked
against the invoice (amount, taker, provider), every refusal a message on the form, and who may do what.

The invoice is issued by the real billing service on 2026-04-01 for Demo Tecnologia (billed on day 1):
10 licenses at R$ 78,90 bought in January → R$ 789,00.
"""

import html
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.billing import fiscal
from portal.billing import jobs as billing_jobs
from portal.billing.models import CreditEntry, FiscalDocument, Invoice, InvoiceStatus
from portal.billing.run import invoice_organization
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.fiscal import FiscalSimulator, UploadOnly
from portal.shared import clock
from portal.shared.audit import Actor, AuditEvent, AuditTag
from portal.shared.documents import StoredDocument
from portal.shared.errors import ServiceError
from tests import factories
from tests.billing.routes_fiscal import TINY_PDF
from tests.conftest import sign_in

SYSTEM = Actor.system("tests")
APRIL_1 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo
RESELLER_CNPJ = "11444777000161"  # config.py's default RESELLER_CNPJ
ABRASF = "http://www.abrasf.org.br/nfse.xsd"


# ---------------------------------------------------------------- fixtures and sample documents

@pytest.fixture
def settings(app_ctx):
    return BillingSettings.from_config(app_ctx.config)


@pytest.fixture
def queued(monkeypatch):
    """complete_invoice calls (invoice ids) instead of running the job: each test runs the step it checks."""
    calls: list[int] = []
    monkeypatch.setattr(billing_jobs, "complete_invoice", calls.append)
    return calls


def issue_invoice(world, settings, *, credit_cents: int = 0) -> Invoice:
    demo = world.demo
    demo.billing_day = 1
    if credit_cents:
        db.session.add(CreditEntry(organization_id=demo.id, amount_cents=credit_cents, description="test credit",
                                   created_at=datetime(2026, 3, 1, tzinfo=UTC)))
    db.session.commit()
    with clock.frozen(datetime(2026, 3, 11, 15, 0, tzinfo=UTC)):
        factories.subscription(demo, quantity=10, added_at=datetime(2026, 1, 2, 15, 0, tzinfo=UTC))
    with clock.frozen(APRIL_1):
        issued = invoice_organization(demo.id, on=date(2026, 4, 1), settings=settings, actor=SYSTEM)
    db.session.expire_all()
    return db.session.get(Invoice, issued.invoice.id)


@pytest.fixture
def invoice(app_ctx, world, settings, queued) -> Invoice:
    found = issue_invoice(world, settings)
    assert found.total_cents == 78900
    queued.clear()
    return found


@pytest.fixture
def simulated(invoice, settings) -> FiscalDocument:
    with clock.frozen(APRIL_1):
        return fiscal.ensure_fiscal_document(invoice, issuer=FiscalSimulator(), settings=settings, actor=SYSTEM)


def abrasf(*, taker: str, number: str = "4471", code: str = "X7K2-9QPA", services: str = "789.00",
           discount: str | None = None, provider: str = RESELLER_CNPJ, issued: str = "2026-04-01T10:42:17",
           prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n', extra: str = "") -> bytes:
    """An NFS-e as an ABRASF 2.04 city hall returns it (ConsultarNfseRps), signed; the taker's address has its own
    `Numero` and the RPS another, which must not be taken for the note's number."""
    discount_xml = f"<DescontoIncondicionado>{discount}</DescontoIncondicionado>" if discount else ""
    return f"""{prolog}<ConsultarNfseRpsResposta xmlns="{ABRASF}">
  <CompNfse>
    <Nfse versao="2.04">
      <InfNfse Id="nfse{number}">
        <Numero>{number}</Numero>
        <CodigoVerificacao>{code}</CodigoVerificacao>
        <DataEmissao>{issued}</DataEmissao>
        <ValoresNfse><BaseCalculo>789.00</BaseCalculo><Aliquota>2.90</Aliquota><ValorIss>22.88</ValorIss>
          <ValorLiquidoNfse>789.00</ValorLiquidoNfse></ValoresNfse>
        <PrestadorServico>
          <IdentificacaoPrestador><CpfCnpj><Cnpj>{provider}</Cnpj></CpfCnpj>
            <InscricaoMunicipal>12345678</InscricaoMunicipal></IdentificacaoPrestador>
          <RazaoSocial>Portal Cloud Serviços de Tecnologia Ltda</RazaoSocial>
          <Endereco><Endereco>Avenida Brigadeiro Faria Lima</Endereco><Numero>3000</Numero>
            <Bairro>Itaim Bibi</Bairro><CodigoMunicipio>3550308</CodigoMunicipio><Uf>SP</Uf>
            <Cep>01452000</Cep></Endereco>
        </PrestadorServico>
        <OrgaoGerador><CodigoMunicipio>3550308</CodigoMunicipio><Uf>SP</Uf></OrgaoGerador>
        <DeclaracaoPrestacaoServico>
          <InfDeclaracaoPrestacaoServico Id="rps98">
            <Rps><IdentificacaoRps><Numero>98</Numero><Serie>F</Serie><Tipo>1</Tipo></IdentificacaoRps>
              <DataEmissao>2026-04-01</DataEmissao><Status>1</Status></Rps>
            <Competencia>2026-04-01</Competencia>
            <Servico>
              <Valores><ValorServicos>{services}</ValorServicos>{discount_xml}<ValorDeducoes>0.00</ValorDeducoes>
                <ValorIss>22.88</ValorIss><Aliquota>2.90</Aliquota></Valores>
              <IssRetido>2</IssRetido><ItemListaServico>01.05</ItemListaServico>
              <Discriminacao>Licenciamento de software Microsoft - fatura 2026/000001</Discriminacao>
              <CodigoMunicipio>3550308</CodigoMunicipio><ExigibilidadeISS>1</ExigibilidadeISS>
            </Servico>
            <Prestador><CpfCnpj><Cnpj>{provider}</Cnpj></CpfCnpj><InscricaoMunicipal>12345678</InscricaoMunicipal></Prestador>
            <TomadorServico>
              <IdentificacaoTomador><CpfCnpj><Cnpj>{taker}</Cnpj></CpfCnpj></IdentificacaoTomador>
              <RazaoSocial>Demo Tecnologia Ltda</RazaoSocial>
              <Endereco><Endereco>Rua Augusta</Endereco><Numero>100</Numero><Bairro>Consolação</Bairro>
                <CodigoMunicipio>3550308</CodigoMunicipio><Uf>SP</Uf><Cep>01304000</Cep></Endereco>
            </TomadorServico>
            <OptanteSimplesNacional>2</OptanteSimplesNacional><IncentivoFiscal>2</IncentivoFiscal>
          </InfDeclaracaoPrestacaoServico>
        </DeclaracaoPrestacaoServico>
      </InfNfse>
      <Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/><SignatureValue>c2lnbg==</SignatureValue></Signature>
    </Nfse>
  </CompNfse>{extra}
</ConsultarNfseRpsResposta>
""".encode()


def upload(invoice, xml: bytes, pdf: bytes = TINY_PDF, actor=SYSTEM) -> FiscalDocument:
    with clock.frozen(APRIL_1):
        return fiscal.upload_fiscal_document(invoice, xml_bytes=xml, pdf_bytes=pdf, actor=actor,
                                             provider_cnpj=RESELLER_CNPJ)


def events(tag) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tag == str(tag)).order_by(AuditEvent.seq)))


def documents_count() -> int:
    return db.session.scalar(select(func.count(FiscalDocument.id)))


# ---------------------------------------------------------------- issuing through the simulator

def test_the_simulator_issues_one_note_and_a_second_call_returns_it(invoice, settings, world):
    with clock.frozen(APRIL_1):
        first = fiscal.ensure_fiscal_document(invoice, issuer=FiscalSimulator(), settings=settings, actor=SYSTEM)
        again = fiscal.ensure_fiscal_document(invoice, issuer=FiscalSimulator(), settings=settings, actor=SYSTEM)
    assert again.id == first.id and documents_count() == 1
    digits = f"{invoice.year}{invoice.number:06d}"
    assert (first.number, first.issued_on, first.amount_cents) == (f"SIM-{digits}", date(2026, 4, 1), 78900)
    assert (first.simulated, first.source) == (True, "simulator")
    assert f"<Cnpj>{world.demo.cnpj}</Cnpj>" in first.xml and "<ValorServicos>789.00</ValorServicos>" in first.xml
    stored = db.session.get(StoredDocument, first.pdf_sha256)
    assert stored.content.startswith(b"%PDF-") and stored.content_type == "application/pdf"
    [event] = events(AuditTag.FISCAL_DOCUMENT_ISSUED)
    assert event.subject == f"invoice:{invoice.id}" and event.organization_id == world.demo.id
    assert event.after["number"] == first.number and event.after["simulated"] is True


def test_the_simulated_note_lists_the_lines_and_takes_the_credit_as_a_discount(app_ctx, world, settings, queued):
    invoice = issue_invoice(world, settings, credit_cents=1000)
    assert (invoice.subtotal_cents, invoice.credit_applied_cents, invoice.total_cents) == (78900, 1000, 77900)
    with clock.frozen(APRIL_1):
        document = fiscal.ensure_fiscal_document(invoice, issuer=FiscalSimulator(), settings=settings, actor=SYSTEM)
    assert document.amount_cents == 77900
    assert "<ValorServicos>789.00</ValorServicos>" in document.xml
    assert "<DescontoIncondicionado>10.00</DescontoIncondicionado>" in document.xml
    assert "<ValorLiquidoNfse>779.00</ValorLiquidoNfse>" in document.xml
    assert "10 licenças × R$ 78,90 (01/04/2026 a 30/04/2026): R$ 789,00" in document.xml


def test_the_billing_job_gives_each_issued_invoice_its_simulated_note(app_ctx, world, settings):
    invoice = issue_invoice(world, settings)  # complete_invoice runs inline: documents → nota fiscal → e-mail
    db.session.expire_all()
    document = db.session.scalar(select(FiscalDocument).where(FiscalDocument.invoice_id == invoice.id))
    assert document is not None and document.simulated and document.amount_cents == invoice.total_cents
    assert len(events(AuditTag.FISCAL_DOCUMENT_ISSUED)) == 1


def test_a_cancelled_invoice_gets_no_note(invoice, settings):
    invoice.status = InvoiceStatus.CANCELLED
    db.session.commit()
    assert fiscal.ensure_fiscal_document(invoice, issuer=FiscalSimulator(), settings=settings, actor=SYSTEM) is None
    assert documents_count() == 0 and not events(AuditTag.FISCAL_DOCUMENT_ISSUED)


def test_with_the_upload_backend_nothing_is_issued(invoice, settings):
    assert fiscal.ensure_fiscal_document(invoice, issuer=UploadOnly(), settings=settings, actor=SYSTEM) is None
    assert documents_count() == 0 and not events(AuditTag.FISCAL_DOCUMENT_ISSUED)


def test_an_issuer_failure_stores_nothing_and_raises_for_a_retry(invoice, settings):
    class Down:
        backend = "simulator"

        def issue(self, request):
            raise ConnectionError("prefeitura fora do ar")

    with pytest.raises(ConnectionError):
        fiscal.ensure_fiscal_document(invoice, issuer=Down(), settings=settings, actor=SYSTEM)
    assert documents_count() == 0
    with clock.frozen(APRIL_1):  # the next sweep gets it
        assert fiscal.ensure_fiscal_document(invoice, issuer=FiscalSimulator(), settings=settings, actor=SYSTEM)


# ---------------------------------------------------------------- staff upload: the happy paths

def test_the_real_note_replaces_the_simulated_one_and_the_invoice_is_completed(simulated, invoice, world, queued):
    before = {"number": simulated.number, "code": simulated.verification_code, "pdf": simulated.pdf_sha256}
    pdf = TINY_PDF + b"% real DANFSe\n"
    document = upload(invoice, abrasf(taker=world.demo.cnpj), pdf)
    db.session.expire_all()
    [row] = db.session.scalars(select(FiscalDocument)).all()  # one per invoice: replaced in place
    assert row.id == document.id == simulated.id
    assert (row.number, row.verification_code, row.issued_on) == ("4471", "X7K2-9QPA", date(2026, 4, 1))
    assert (row.simulated, row.source, row.amount_cents) == (False, "upload", 78900)
    assert "<Numero>4471</Numero>" in row.xml and "xmldsig" in row.xml  # kept as uploaded
    assert db.session.get(StoredDocument, row.pdf_sha256).content == pdf
    [event] = events(AuditTag.FISCAL_DOCUMENT_UPLOADED)
    assert event.before["number"] == before["number"] and event.before["simulated"] is True
    assert event.before["verification_code"] == before["code"] and event.before["pdf_sha256"] == before["pdf"]
    assert event.after["number"] == "4471" and event.after["source"] == "upload"
    assert queued == [invoice.id]  # the e-mail goes out with the real note


def test_an_upload_without_a_simulated_note_first(invoice, world, queued):
    document = upload(invoice, abrasf(taker=world.demo.cnpj))
    assert document.number == "4471" and documents_count() == 1
    [event] = events(AuditTag.FISCAL_DOCUMENT_UPLOADED)
    assert event.before is None
    assert queued == [invoice.id]


def test_the_same_files_again_change_nothing(invoice, world, queued):
    upload(invoice, abrasf(taker=world.demo.cnpj))
    upload(invoice, abrasf(taker=world.demo.cnpj))
    assert len(events(AuditTag.FISCAL_DOCUMENT_UPLOADED)) == 1 and queued == [invoice.id]


def test_a_net_amount_after_the_discount_matches_and_a_masked_cnpj_too(app_ctx, world, settings, queued):
    invoice = issue_invoice(world, settings, credit_cents=1000)
    masked = f"{world.demo.cnpj[:2]}.{world.demo.cnpj[2:5]}.{world.demo.cnpj[5:8]}/{world.demo.cnpj[8:12]}-" \
             f"{world.demo.cnpj[12:]}"
    document = upload(invoice, abrasf(taker=masked, services="789.00", discount="10.00"))
    assert document.amount_cents == 77900


def test_iso_8859_1_is_read_and_given_back_byte_for_byte(invoice, world):
    xml = abrasf(taker=world.demo.cnpj, prolog='<?xml version="1.0" encoding="ISO-8859-1"?>\n').decode()
    content = xml.encode("iso-8859-1")
    upload(invoice, content)
    _document, served = fiscal.fiscal_xml(invoice)
    assert served == content


def test_the_padrao_nacional_layout_is_read():
    key = "35503082211444777000161000000000000426049876543210"
    parsed = fiscal.parse_nfse(f"""<?xml version="1.0" encoding="UTF-8"?>
<NFSe versao="1.00" xmlns="http://www.sped.fazenda.gov.br/nfse">
  <infNFSe Id="NFS{key}">
    <xLocEmi>São Paulo</xLocEmi><nNFSe>42</nNFSe><cLocIncid>3550308</cLocIncid>
    <dhProc>2026-04-01T10:20:30-03:00</dhProc><nDFSe>1234567</nDFSe>
    <emit><CNPJ>{RESELLER_CNPJ}</CNPJ><xNome>Portal Cloud Serviços de Tecnologia Ltda</xNome></emit>
    <valores><vBC>789.00</vBC><vLiq>789.00</vLiq></valores>
    <DPS versao="1.00"><infDPS Id="DPS355030821144477700016100001000000000000098">
      <dhEmi>2026-04-01T10:00:00-03:00</dhEmi><nDPS>98</nDPS>
      <prest><CNPJ>{RESELLER_CNPJ}</CNPJ></prest>
      <toma><CNPJ>11222333000181</CNPJ><xNome>Demo Tecnologia Ltda</xNome>
        <end><endNac><cMun>3550308</cMun><CEP>01304000</CEP></endNac><xLgr>Rua Augusta</xLgr><nro>100</nro></end></toma>
      <serv><cServ><cTribNac>010501</cTribNac><xDescServ>Licenciamento</xDescServ></cServ></serv>
      <valores><vServPrest><vServ>789.00</vServ></vServPrest></valores>
    </infDPS></DPS>
  </infNFSe>
</NFSe>""".encode())
    assert (parsed.number, parsed.verification_code, parsed.issued_on) == ("42", key, date(2026, 4, 1))
    assert (parsed.services_cents, parsed.taker_cnpj, parsed.provider_cnpj) == (78900, "11222333000181",
                                                                                RESELLER_CNPJ)


def test_the_sao_paulo_layout_is_read():
    parsed = fiscal.parse_nfse(f"""<?xml version="1.0" encoding="UTF-8"?>
<RetornoConsulta xmlns="http://www.prefeitura.sp.gov.br/nfe">
  <Cabecalho xmlns="" Versao="1"><Sucesso>true</Sucesso></Cabecalho>
  <NFe xmlns="">
    <Assinatura>AAAA</Assinatura>
    <ChaveNFe><InscricaoPrestador>12345678</InscricaoPrestador><NumeroNFe>00004321</NumeroNFe>
      <CodigoVerificacao>XK9P2M7Q</CodigoVerificacao></ChaveNFe>
    <DataEmissaoNFe>2026-04-01T10:15:00</DataEmissaoNFe>
    <CPFCNPJPrestador><CNPJ>{RESELLER_CNPJ}</CNPJ></CPFCNPJPrestador>
    <StatusNFe>N</StatusNFe><ValorServicos>941.71</ValorServicos>
    <CPFCNPJTomador><CNPJ>11222333000181</CNPJ></CPFCNPJTomador>
  </NFe>
</RetornoConsulta>""".encode())
    assert (parsed.number, parsed.verification_code, parsed.services_cents) == ("00004321", "XK9P2M7Q", 94171)
    assert parsed.taker_cnpj == "11222333000181"


def test_the_simulators_own_xml_reads_back(world, simulated, invoice):
    parsed = fiscal.parse_nfse(simulated.xml.encode())
    assert (parsed.number, parsed.verification_code, parsed.issued_on) == (simulated.number,
                                                                         simulated.verification_code,
                                                                         simulated.issued_on)
    assert (parsed.net_cents, parsed.taker_cnpj, parsed.provider_cnpj) == (78900, world.demo.cnpj, RESELLER_CNPJ)


@pytest.mark.parametrize(("text", "cents"), [("941.71", 94171), ("941.7", 94170), ("941", 94100),
                                             ("0.01", 1), ("1234567.89", 123456789)])
def test_amounts_are_read_exactly(text, cents):
    assert fiscal.parse_nfse(abrasf(taker="11222333000181", services=text)).services_cents == cents


# ---------------------------------------------------------------- staff upload: every refusal

def refused(invoice, xml: bytes, pdf: bytes = TINY_PDF) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        upload(invoice, xml, pdf)
    return caught.value


@pytest.fixture
def nothing_changes(simulated, queued):
    """After each refusal the simulated note is still the one on file, and nothing was audited or queued."""
    yield
    db.session.expire_all()
    [row] = db.session.scalars(select(FiscalDocument)).all()
    assert row.id == simulated.id and row.simulated is True
    assert not events(AuditTag.FISCAL_DOCUMENT_UPLOADED) and queued == []


@pytest.mark.usefixtures("nothing_changes")
class TestRefusals:
    def test_another_amount(self, invoice, world):
        error = refused(invoice, abrasf(taker=world.demo.cnpj, services="789.01"))
        assert error.field == "xml_file"
        assert error.message == "O valor da nota (R$ 789,01) é diferente do total da fatura (R$ 789,00)."

    def test_the_full_amount_with_a_discount_nets_to_less(self, invoice, world):
        error = refused(invoice, abrasf(taker=world.demo.cnpj, services="789.00", discount="10.00"))
        assert error.message == "O valor da nota (R$ 779,00) é diferente do total da fatura (R$ 789,00)."

    def test_an_amount_written_with_a_comma(self, invoice, world):
        error = refused(invoice, abrasf(taker=world.demo.cnpj, services="789,00"))
        assert error.field == "xml_file" and "não é um valor válido" in error.message

    def test_another_taker(self, invoice, world):
        error = refused(invoice, abrasf(taker=world.other.cnpj))
        assert error.field == "xml_file" and "não é o cliente da fatura" in error.message
        assert world.demo.cnpj[:2] in error.message

    def test_a_person_as_taker(self, invoice, world):
        xml = abrasf(taker="X").replace(b"<Cnpj>X</Cnpj>", b"<Cpf>52998224725</Cpf>")
        assert "pessoa física" in refused(invoice, xml).message

    def test_another_provider(self, invoice, world):
        error = refused(invoice, abrasf(taker=world.demo.cnpj, provider="11222333000181"))
        assert "não é a nossa empresa" in error.message

    def test_malformed_xml(self, invoice, world):
        error = refused(invoice, abrasf(taker=world.demo.cnpj)[:-40])
        assert error.field == "xml_file" and error.message.startswith("O arquivo não é um XML válido")

    def test_not_xml_at_all(self, invoice):
        assert refused(invoice, TINY_PDF).field == "xml_file"

    def test_an_external_entity_xxe(self, invoice, world):
        xml = abrasf(taker=world.demo.cnpj, number="&xxe;", prolog=(
            '<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'))
        error = refused(invoice, xml)
        assert error.field == "xml_file" and "DOCTYPE" in error.message

    def test_billion_laughs(self, invoice, world):
        entities = '<!ENTITY lol "lol">' + "".join(
            f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
        xml = abrasf(taker=world.demo.cnpj, number="&lol9;", prolog=f'<?xml version="1.0"?>\n'
                                                                    f'<!DOCTYPE lolz [{entities}]>\n')
        assert "DOCTYPE" in refused(invoice, xml).message

    def test_a_bare_doctype(self, invoice, world):
        xml = abrasf(taker=world.demo.cnpj, prolog='<?xml version="1.0"?>\n<!DOCTYPE ConsultarNfseRpsResposta>\n')
        assert "DOCTYPE" in refused(invoice, xml).message

    def test_not_a_pdf(self, invoice, world):
        error = refused(invoice, abrasf(taker=world.demo.cnpj), b"<html>DANFSe</html>")
        assert (error.field, error.message) == ("pdf_file", "Este arquivo não é um PDF.")

    def test_files_too_large(self, invoice, world):
        big_pdf = TINY_PDF + b"0" * fiscal.MAX_UPLOAD_BYTES
        assert refused(invoice, abrasf(taker=world.demo.cnpj), big_pdf).field == "pdf_file"
        big_xml = abrasf(taker=world.demo.cnpj, extra="<!--" + "x" * fiscal.MAX_UPLOAD_BYTES + "-->")
        error = refused(invoice, big_xml)
        assert (error.field, error.message) == ("xml_file", "O arquivo passa de 2 MB.")

    def test_empty_files(self, invoice):
        assert refused(invoice, b"").message == "O arquivo está vazio."

    def test_a_cancelled_note(self, invoice, world):
        cancelled = abrasf(taker=world.demo.cnpj, extra=(
            "<NfseCancelamento><Confirmacao><DataHora>2026-04-02T09:00:00</DataHora></Confirmacao></NfseCancelamento>"))
        assert refused(invoice, cancelled).message == "Esta NFS-e consta como cancelada no XML."

    def test_two_notes_in_one_file(self, invoice, world):
        one = abrasf(taker=world.demo.cnpj).decode()
        start, end = one.index("<CompNfse>"), one.index("</CompNfse>") + len("</CompNfse>")
        two = one[:end] + one[start:end] + one[end:]
        assert "2 notas fiscais" in refused(invoice, two.encode()).message

    def test_a_simulated_note_uploaded_as_real(self, invoice, simulated):
        error = refused(invoice, simulated.xml.encode())
        assert "nota simulada" in error.message

    def test_an_unknown_layout(self, invoice):
        assert "Não reconhecemos" in refused(invoice, b"<nota><numero>1</numero></nota>").message

    def test_missing_verification_code(self, invoice, world):
        xml = abrasf(taker=world.demo.cnpj).replace(b"<CodigoVerificacao>X7K2-9QPA</CodigoVerificacao>", b"")
        assert refused(invoice, xml).message == "O XML não traz o código de verificação da NFS-e."

    def test_a_bad_issue_date(self, invoice, world):
        xml = abrasf(taker=world.demo.cnpj, issued="01/04/2026")
        assert refused(invoice, xml).message == "O XML não traz uma data de emissão válida."


def test_the_same_note_cannot_go_on_two_invoices(invoice, world, settings):
    upload(invoice, abrasf(taker=world.demo.cnpj, services="789.00"))
    second = factories.invoice(world.demo, total_cents=78900, lines=(), boleto=False)
    error = refused(second, abrasf(taker=world.demo.cnpj, services="789.00"))
    assert error.message == f"Esta nota fiscal já está registrada na fatura {invoice.display_number}."


def test_cancelled_invoices_and_credit_notes_take_no_upload(invoice, world):
    invoice.status = InvoiceStatus.CANCELLED
    db.session.commit()
    assert refused(invoice, abrasf(taker=world.demo.cnpj)).message == (
        "Esta fatura foi cancelada: não recebe nota fiscal.")


# ---------------------------------------------------------------- the backoffice page

def staff(client, world, role):
    return sign_in(client, getattr(world, f"staff_{role}"))


def page_url(invoice) -> str:
    return f"/backoffice/faturas/{invoice.id}/nota-fiscal"


def files(xml: bytes | None, pdf: bytes | None, *, xml_name="nfse.xml", pdf_name="nfse.pdf") -> dict:
    data = {}
    if xml is not None:
        data["xml_file"] = FileStorage(io.BytesIO(xml), filename=xml_name, content_type="application/xml")
    if pdf is not None:
        data["pdf_file"] = FileStorage(io.BytesIO(pdf), filename=pdf_name, content_type="application/pdf")
    return data


def post(client, invoice, data):
    # The body is encoded in memory: the test client's own encoding spools big bodies to a temporary file it
    # never closes (a ResourceWarning in a later test).
    boundary, body = encode_multipart(data)
    return client.post(page_url(invoice), data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_finance_sees_the_simulated_note_and_downloads_it(client, world, simulated, invoice):
    body = staff(client, world, "financeiro").get(page_url(invoice)).get_data(as_text=True)
    assert simulated.number in body and simulated.verification_code in body
    assert "SIMULAÇÃO, sem valor fiscal" in body and 'enctype="multipart/form-data"' in body
    pdf = client.get(f"{page_url(invoice)}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    assert f'filename="nfse-{simulated.number}.pdf"' in pdf.headers["Content-Disposition"]
    xml = client.get(f"{page_url(invoice)}.xml")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert xml.data.decode() == simulated.xml


def test_finance_uploads_the_real_note(client, world, simulated, invoice, queued):
    response = post(staff(client, world, "financeiro"), invoice, files(abrasf(taker=world.demo.cnpj), TINY_PDF))
    assert response.status_code == 302 and response.headers["Location"].endswith(page_url(invoice))
    body = client.get(page_url(invoice)).get_data(as_text=True)
    assert "Nota fiscal registrada" in body and "4471" in body and "enviada pela equipe" in body
    [event] = events(AuditTag.FISCAL_DOCUMENT_UPLOADED)
    assert event.actor_id == world.staff_financeiro.id and queued == [invoice.id]


def test_an_upload_while_the_document_store_is_down_is_a_message_and_changes_nothing(
        client, world, simulated, invoice, queued, store_down):
    response = post(staff(client, world, "financeiro"), invoice, files(abrasf(taker=world.demo.cnpj), TINY_PDF))
    assert response.status_code == 422
    error = response.get_data(as_text=True).split('id="pdf_file-error"', 1)[1].split("</div>", 1)[0]
    assert "Não foi possível guardar os arquivos agora. Tente de novo em alguns minutos." in html.unescape(error)
    db.session.expire_all()
    [row] = db.session.scalars(select(FiscalDocument)).all()
    assert row.id == simulated.id and row.simulated is True  # the simulated note still on file
    assert not events(AuditTag.FISCAL_DOCUMENT_UPLOADED) and queued == []


@pytest.mark.parametrize(("data", "field", "message"), [
    ({}, "xml_file", "Escolha o arquivo XML da nota fiscal."),
    ({"pdf": b"<html/>"}, "pdf_file", "Este arquivo não é um PDF."),
    ({"pdf_name": "nfse.html"}, "pdf_file", "Envie o arquivo .pdf da nota fiscal."),
    ({"xml_name": "nfse.txt"}, "xml_file", "Envie o arquivo .xml da nota fiscal."),
    ({"services": "1.00"}, "xml_file", "O valor da nota (R$ 1,00) é diferente do total da fatura (R$ 789,00)."),
    ({"pdf": TINY_PDF + b"0" * (2 * 1024 * 1024)}, "pdf_file", "O arquivo passa de 2 MB."),
    ({"xml": b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>"},
     "xml_file", "O XML traz uma declaração DOCTYPE ou de entidades"),
])
def test_each_refusal_is_a_message_on_its_field(client, world, invoice, data, field, message):
    if data:
        xml = data.get("xml") or abrasf(taker=world.demo.cnpj, services=data.get("services", "789.00"))
        sent = files(xml, data.get("pdf", TINY_PDF), xml_name=data.get("xml_name", "nfse.xml"),
                     pdf_name=data.get("pdf_name", "nfse.pdf"))
    else:
        sent = files(None, TINY_PDF)
    response = post(staff(client, world, "financeiro"), invoice, sent)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    error = body.split(f'id="{field}-error"', 1)[1].split("</div>", 1)[0]
    assert message in html.unescape(error)
    assert documents_count() == 0


def test_a_request_far_too_large_is_refused_before_reading(client, world, invoice):
    huge = b"0" * (5 * 1024 * 1024)
    response = post(staff(client, world, "financeiro"), invoice, files(huge, huge))
    assert response.status_code == 413
    assert "passam do limite de 2 MB cada" in response.get_data(as_text=True)


def test_an_invoice_without_a_note(client, world, invoice):
    staff(client, world, "admin")
    assert "ainda não tem nota fiscal" in client.get(page_url(invoice)).get_data(as_text=True)
    assert client.get(f"{page_url(invoice)}.pdf").status_code == 404
    assert client.get(f"{page_url(invoice)}.xml").status_code == 404
    assert client.get("/backoffice/faturas/999999/nota-fiscal").status_code == 404


@pytest.mark.parametrize(("who", "page", "upload_status", "download"), [
    ("staff_financeiro", 200, 302, 200),
    ("staff_admin", 200, 302, 200),
    ("staff_comercial", 403, 403, 200),
    ("staff_compliance", 403, 403, 200),
    ("master", 404, 404, 404),
    ("cobranca", 404, 404, 404),
])
def test_who_may_do_what(client, world, simulated, invoice, queued, who, page, upload_status, download):
    sign_in(client, getattr(world, who), world.demo if not who.startswith("staff_") else None)
    assert client.get(page_url(invoice)).status_code == page
    assert post(client, invoice, files(abrasf(taker=world.demo.cnpj), TINY_PDF)).status_code == upload_status
    assert client.get(f"{page_url(invoice)}.pdf").status_code == download
    assert client.get(f"{page_url(invoice)}.xml").status_code == download
    assert len(events(AuditTag.FISCAL_DOCUMENT_UPLOADED)) == (1 if upload_status == 302 else 0)
