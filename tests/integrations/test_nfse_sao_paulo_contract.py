"""The FiscalIssuer contract (tests/integrations/fiscal_contract.py) run on the São Paulo adapter against the city's
fake web service (tests/fakes/paulistana.py), with the city's own refusal codes."""

import pytest

from portal.integrations import nfse_sao_paulo as sp
from portal.shared import clock
from tests.fakes.paulistana import PaulistanaFake, PaulistanaPki
from tests.integrations.fiscal_contract import PROVIDER_CNPJ, AuthorityContract
from tests.integrations.test_nfse_sao_paulo import CCM, TODAY


@pytest.fixture(scope="module")
def pki():
    pki = PaulistanaPki(cnpj=PROVIDER_CNPJ)
    yield pki
    pki.remove()


@pytest.fixture
def city(pki):
    city = PaulistanaFake(pki, prestadores={CCM: PROVIDER_CNPJ}).start()
    yield city
    city.stop()
    assert city.answer_violations == []


@pytest.fixture(autouse=True)
def frozen_day():
    with clock.frozen(TODAY):
        yield


@pytest.fixture
def issuer(city, pki):
    return sp.SaoPauloIssuer(pki.a1, sp.Settings(url=city.url, ccm=CCM, ca_file=str(pki.ca_file), timeout=10))


class _CityControl:
    sample_rejection = "306"  # código do serviço inexistente

    def __init__(self, city: PaulistanaFake) -> None:
        self.city = city

    def reject_next(self, code: str) -> None:
        self.city.reject_next(code)

    def fail_next(self, count: int = 1) -> None:
        self.city.fail_next(500)

    def notes_issued(self) -> int:
        return len(self.city.notes)


@pytest.fixture
def authority(city):
    return _CityControl(city)


class TestSaoPauloContract(AuthorityContract):
    pass
