"""The NFS-e issuer `FISCAL_BACKEND` names, each behind the `FiscalIssuer` Protocol of `fiscal.py`:
`simulator` (the default: `make run` needs nothing), `upload` (staff upload the notes), `nfse_nacional` (the Sefin
Nacional, `nfse_nacional.py`) and `nfse_sao_paulo` (the city of São Paulo's web service, `nfse_sao_paulo.py`).
The two real adapters sign with the reseller's A1 (`a1.py`), kept in development under `instance_path`."""

from collections.abc import Mapping
from typing import Any

from portal.integrations import fiscal, nfse_nacional, nfse_sao_paulo
from portal.integrations.fiscal import FiscalIssuer

BACKENDS = ("simulator", "upload", "nfse_nacional", "nfse_sao_paulo")


def from_config(config: Mapping[str, Any], instance_path: str) -> FiscalIssuer:
    backend = config.get("FISCAL_BACKEND") or "simulator"
    if backend == "nfse_nacional":
        return nfse_nacional.from_config(config, instance_path)
    if backend == "nfse_sao_paulo":
        return nfse_sao_paulo.SaoPauloIssuer.from_config(config, instance_path)
    if backend in ("simulator", "upload"):
        return fiscal.from_config(config)
    raise RuntimeError(f"FISCAL_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")
