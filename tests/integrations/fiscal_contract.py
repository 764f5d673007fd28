"""What every `FiscalIssuer` must do, as a base class of tests: the simulator, the NFS-e Nacional adapter and the São
Paulo adapter run it (test_fiscal_contract.py, test_nfse_nacional.py, test_nfse_sao_paulo.py).

A test module subclasses `FiscalIssuerContract` and provides the fixtures:
- `issuer`: the adapter, talking to its fake (or in process, the simulator);
- `authority`: an `AuthorityControl` over the fake, or None for an issuer that has no authority (the simulator);
  the tests that need to make the authority refuse or fail are in `AuthorityContract`.
"""

from datetime import date
from typing import Protocol

import pytest
from lxml import etree

from portal.integrations.fiscal import (
    Address,
    FiscalCancellation,
    FiscalRejected,
    FiscalRequest,
    FiscalResult,
    FiscalUnavailable,
    IssuedNote,
    Party,
)

PROVIDER_CNPJ = "11222333000181"
PROVIDER = Party(cnpj=PROVIDER_CNPJ, name="REVENDA EXEMPLO LTDA",
                 address=Address(street="Avenida Brigadeiro Faria Lima, 3000 – São Paulo/SP", city_code="3550308"),
                 municipal_registration="")
TAKER = Party(cnpj="11444777000161", name="CLIENTE EXEMPLO LTDA", email="financeiro@cliente.example",
              address=Address(street="AVENIDA PAULISTA", number="1000", complement="CONJ 101", district="BELA VISTA",
                              city="São Paulo", state="SP", postal_code="01310100", city_code="3550308"))


def contract_request(number: int = 2026000123, **changes) -> FiscalRequest:
    fields = {"invoice_number": f"{str(number)[:4]}/{str(number)[4:]}", "amount_cents": 94171,
              "issue_date": date(2026, 3, 2),
              "service_description": "Licenca Microsoft 365 Business Standard - 10 usuarios - marco/2026",
              "provider": PROVIDER, "taker": TAKER, "discount_cents": 5829, "series": "1", "number": number}
    return FiscalRequest(**{**fields, **changes})


class AuthorityControl(Protocol):
    sample_rejection: str  # one of the authority's own refusal codes, with its official message at the fake

    def reject_next(self, code: str) -> None: ...

    def fail_next(self, count: int = 1) -> None: ...

    def notes_issued(self) -> int: ...


def note_of(result: FiscalResult, request: FiscalRequest) -> IssuedNote:
    return IssuedNote(number=result.number, verification_code=result.verification_code, issued_on=result.issued_on,
                      access_key=result.access_key, series=request.series, rps_number=request.number,
                      provider_cnpj=request.provider.cnpj)


class FiscalIssuerContract:
    def test_issuing_gives_a_note_with_its_document(self, issuer):
        request = contract_request(2026000201)
        result = issuer.issue(request)
        assert result.number and result.verification_code
        assert etree.fromstring(result.xml.encode()) is not None  # the authority's document, well-formed XML
        assert isinstance(result.issued_on, date)
        assert result.pdf is None or result.pdf.startswith(b"%PDF-")

    def test_issuing_the_same_series_and_number_again_gives_the_same_note(self, issuer):
        request = contract_request(2026000202)
        first = issuer.issue(request)
        again = issuer.issue(request)
        assert (again.number, again.verification_code) == (first.number, first.verification_code)

    def test_an_issued_note_can_be_cancelled(self, issuer):
        request = contract_request(2026000203)
        result = issuer.issue(request)
        cancelled = issuer.cancel(note_of(result, request),
                                  FiscalCancellation(reason_code=1, reason="Erro na emissão: valor divergente"))
        assert cancelled.xml and isinstance(cancelled.cancelled_at, date)


    def test_a_reissue_either_substitutes_the_old_note_or_it_is_cancelled_first(self, issuer):
        """`substitutes` tells billing which: the new note names the old one and the old cannot be cancelled after
        (the authority cancelled it), or the old one is cancelled on its own and the new one issued after."""
        assert isinstance(issuer.substitutes, bool)
        old_request = contract_request(2026000207)
        old = note_of(issuer.issue(old_request), old_request)
        if not issuer.substitutes:
            issuer.cancel(old, FiscalCancellation(reason_code=1, reason="Erro na emissão: valor divergente"))
        new = issuer.issue(contract_request(2026000208, replaces=old.access_key if issuer.substitutes else "",
                                            replaces_reason="Quantidade lançada errada"))
        assert new.number and new.number != old.number
        if issuer.substitutes:
            with pytest.raises(FiscalRejected):
                issuer.cancel(old, FiscalCancellation(reason_code=1, reason="Erro na emissão: valor divergente"))


class AuthorityContract(FiscalIssuerContract):
    def test_a_refusal_is_fiscal_rejected_with_the_code_and_message(self, issuer, authority):
        authority.reject_next(authority.sample_rejection)
        with pytest.raises(FiscalRejected) as caught:
            issuer.issue(contract_request(2026000204))
        assert [code for code, _message in caught.value.errors] == [authority.sample_rejection]
        assert all(message for _code, message in caught.value.errors)

    def test_a_server_error_is_unavailable_and_the_retry_issues_one_note(self, issuer, authority):
        request = contract_request(2026000205)
        before = authority.notes_issued()
        authority.fail_next(1)
        with pytest.raises(FiscalUnavailable):
            issuer.issue(request)
        result = issuer.issue(request)
        assert result.number
        assert authority.notes_issued() == before + 1

    def test_cancelling_twice_never_cancels_twice(self, issuer, authority):
        """A second cancellation (e.g. sent again after its answer was lost) is refused with the authority's reason,
        or answered with the cancellation already registered — never a second one."""
        request = contract_request(2026000206)
        result = issuer.issue(request)
        note = note_of(result, request)
        first = issuer.cancel(note, FiscalCancellation(reason_code=2, reason="Serviço não prestado ao cliente"))
        try:
            again = issuer.cancel(note, FiscalCancellation(reason_code=2, reason="Serviço não prestado ao cliente"))
        except FiscalRejected as refused:
            assert refused.errors and all(message for _code, message in refused.errors)
        else:
            assert again.xml == first.xml
