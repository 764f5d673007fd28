"""The fiscal issuers: the simulator's NFS-e XML and DANFSe (read back), the upload-only signal, from_config."""

import xml.etree.ElementTree as ET
from datetime import date

import pytest

from portal.integrations import fiscal, fiscal_issuers
from portal.integrations.fiscal import (
    Address,
    AwaitingUpload,
    FiscalRequest,
    FiscalSimulator,
    Party,
    UploadOnly,
)
from portal.shared.documents import DocumentFetchRefused
from tests.fakes import pdf

NS = {"n": fiscal.ABRASF_NS}
RESELLER = Party(cnpj="11444777000161", name="Portal Cloud Serviços de Tecnologia Ltda",
                 address=Address(street="Avenida Brigadeiro Faria Lima, 3000 – São Paulo/SP"))
CUSTOMER = Party(cnpj="11222333000181", name="Demo Tecnologia Ltda & Filhos <SA>",
                 address=Address(street="Rua Augusta", number="100", complement="cj. 12", district="Consolação",
                                 city="São Paulo", state="SP", postal_code="01304000"))


def request(**changes) -> FiscalRequest:
    fields = {"invoice_number": "2026/000123", "amount_cents": 94171, "issue_date": date(2026, 4, 1),
              "service_description": "Fatura 2026/000123\nMicrosoft 365 Business Standard – 11 licença(s)",
              "provider": RESELLER, "taker": CUSTOMER, "discount_cents": 0}
    return FiscalRequest(**{**fields, **changes})


@pytest.fixture(scope="module")
def issued():
    return FiscalSimulator().issue(request(discount_cents=5829))


def test_the_simulator_says_what_it_is(issued):
    assert issued.simulated is True
    assert issued.number == "SIM-2026000123"  # derived from the invoice number: no state to lose on a restart
    assert issued.issued_on == date(2026, 4, 1)
    assert len(issued.verification_code) == 9 and issued.verification_code.isalnum()


def test_the_xml_is_an_abrasf_compnfse_with_the_number_code_amounts_and_cnpjs(issued):
    assert issued.xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(issued.xml.encode("utf-8"))  # noqa: S314 - our own output, checked well-formed
    assert root.tag == f"{{{fiscal.ABRASF_NS}}}CompNfse"
    inf = root.find("n:Nfse/n:InfNfse", NS)
    assert root.find("n:Nfse", NS).get("versao") == "2.04"
    assert inf.findtext("n:Numero", namespaces=NS) == "SIM-2026000123"
    assert inf.findtext("n:CodigoVerificacao", namespaces=NS) == issued.verification_code
    assert inf.findtext("n:DataEmissao", namespaces=NS) == "2026-04-01T00:00:00"
    assert "SEM VALOR FISCAL" in inf.findtext("n:OutrasInformacoes", namespaces=NS)
    assert inf.findtext("n:ValoresNfse/n:ValorLiquidoNfse", namespaces=NS) == "941.71"
    assert inf.findtext("n:PrestadorServico/n:IdentificacaoPrestador/n:CpfCnpj/n:Cnpj",
                        namespaces=NS) == RESELLER.cnpj
    declaration = inf.find("n:DeclaracaoPrestacaoServico/n:InfDeclaracaoPrestacaoServico", NS)
    assert declaration.findtext("n:Servico/n:Valores/n:ValorServicos", namespaces=NS) == "1000.00"  # gross
    assert declaration.findtext("n:Servico/n:Valores/n:DescontoIncondicionado", namespaces=NS) == "58.29"
    assert declaration.findtext("n:Servico/n:ItemListaServico", namespaces=NS) == "01.05"
    taker = declaration.find("n:TomadorServico", NS)
    assert taker.findtext("n:IdentificacaoTomador/n:CpfCnpj/n:Cnpj", namespaces=NS) == CUSTOMER.cnpj
    assert taker.findtext("n:RazaoSocial", namespaces=NS) == CUSTOMER.name  # escaped, read back intact
    assert taker.findtext("n:Endereco/n:Cep", namespaces=NS) == "01304000"
    assert declaration.findtext("n:Rps/n:IdentificacaoRps/n:Numero", namespaces=NS) == "2026000123"


def test_issuing_again_gives_the_same_number_and_code(issued):
    again = FiscalSimulator().issue(request(discount_cents=5829))
    assert (again.number, again.verification_code, again.xml) == (issued.number, issued.verification_code,
                                                                   issued.xml)
    other = FiscalSimulator().issue(request(invoice_number="2026/000124"))
    assert other.number == "SIM-2026000124" and other.verification_code != issued.verification_code


def test_without_a_discount_there_is_no_discount_element():
    root = ET.fromstring(FiscalSimulator().xml(request(), number="SIM-1", code="ABC").encode())  # noqa: S314
    assert root.find(".//n:DescontoIncondicionado", NS) is None
    assert root.findtext(".//n:ValorServicos", namespaces=NS) == "941.71"


def test_the_danfse_is_a_pdf_marked_sem_valor_fiscal(issued):
    assert issued.pdf.startswith(b"%PDF-")
    text = pdf.pdf_text(issued.pdf)
    assert "SEM VALOR FISCAL" in text and "SIMULAÇÃO" in text
    assert "SIM-2026000123" in text and issued.verification_code in text
    assert "11.444.777/0001-61" in text and "11.222.333/0001-81" in text
    assert "R$ 941,71" in text and "R$ 1.000,00" in text and "R$ 58,29" in text
    assert "Demo Tecnologia Ltda & Filhos <SA>" in text
    assert pdf.page_count(issued.pdf) == 1


def test_upload_only_waits_for_staff():
    issuer = UploadOnly()
    assert issuer.backend == "upload"
    with pytest.raises(AwaitingUpload):
        issuer.issue(request())


def test_from_config_picks_the_backend():
    assert isinstance(fiscal.from_config({}), FiscalSimulator)  # the default: make run needs nothing
    assert isinstance(fiscal.from_config({"FISCAL_BACKEND": "simulator"}), FiscalSimulator)
    assert isinstance(fiscal.from_config({"FISCAL_BACKEND": "upload"}), UploadOnly)
    with pytest.raises(RuntimeError, match="FISCAL_BACKEND must be 'simulator' or 'upload', not 'prefeitura'"):
        fiscal.from_config({"FISCAL_BACKEND": "prefeitura"})
    with pytest.raises(RuntimeError, match="one of simulator, upload, nfse_nacional, nfse_sao_paulo, not 'prefeitura'"):
        fiscal_issuers.from_config({"FISCAL_BACKEND": "prefeitura"}, "instance")
    assert isinstance(fiscal_issuers.from_config({}, "instance"), FiscalSimulator)


def test_amounts_are_written_exactly():
    assert [fiscal.decimal_text(c) for c in (0, 1, 10, 94171, 123456789)] == [
        "0.00", "0.01", "0.10", "941.71", "1234567.89"]


# ---------------------------------------------------------------- the DANFSe fetches no URL (issue 13 point 19d)

@pytest.fixture
def probe():
    """An HTTP server on 127.0.0.1 that records every path asked of it (nothing may reach it)."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_a_nota_fiscal_whose_text_holds_urls_fetches_nothing(probe):
    url, hits = probe
    hostile = (f'<img src="file:///etc/passwd"><img src="{url}/text.png">'
               f'<link rel="stylesheet" href="{url}/text.css"> {url}/plain')
    issued = FiscalSimulator().issue(request(service_description=hostile,
                                             taker=Party(cnpj=CUSTOMER.cnpj, name=f'<img src="{url}/name.png">',
                                                         address=CUSTOMER.address)))
    text = pdf.pdf_text(issued.pdf)
    assert 'src="file:///etc/passwd"' in text  # shown as the text it is
    assert "root:x:0:0" not in text
    assert hits == []


def test_the_danfse_renderer_refuses_every_url_but_data(probe, tmp_path):
    """Even a template that names URLs (the simulator's templates directory is a parameter) fetches nothing:
    the DANFSe goes through the same restricted renderer as the invoices and boletos."""
    url, hits = probe
    documents = tmp_path / "documents"
    documents.mkdir()
    (documents / "danfse.html").write_text(
        f'<html><head><link rel="stylesheet" href="{url}/style.css"></head><body>NFS-e {{{{ number }}}}'
        f'<img src="file:///etc/passwd"><img src="{url}/logo.png"></body></html>')
    with pytest.raises(DocumentFetchRefused, match="Error fetching"):
        FiscalSimulator(templates=tmp_path).issue(request())
    assert hits == []
