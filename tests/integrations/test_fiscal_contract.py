"""The FiscalIssuer contract (tests/integrations/fiscal_contract.py) run on the simulator; the NFS-e Nacional
adapter runs it (with its authority's refusals and failures) in test_nfse_nacional.py."""

import pytest

from portal.integrations.fiscal import FiscalSimulator
from tests.integrations.fiscal_contract import FiscalIssuerContract


@pytest.fixture
def issuer():
    return FiscalSimulator()


class TestSimulatorContract(FiscalIssuerContract):
    pass
