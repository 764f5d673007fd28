"""Banks reached through a file-transfer folder (issue 15 point 1, BANK_TRANSFER_DIR): the bank's VAN or SFTP
client takes the remessas from `<dir>/remessa/` and drops the retornos into `<dir>/retorno/`.

- `write_remessa`: the day's remessa (made only when movements are pending) written as `CB<DDMM><NSA>.REM`,
  atomically (a temporary file in the same folder, then a rename); the same file again is not written twice.
- `import_folder`: every file in `<dir>/retorno/` imported through `bank.import_retorno`, then moved to
  `retorno/processados/`, or to `retorno/recusados/` with `<name>.motivo.txt` saying why. Hidden files and
  files changed in the last `SETTLE_SECONDS` (maybe still being written by the transfer) wait for the next run.
"""

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from portal.billing import bank
from portal.billing.settings import BillingSettings
from portal.shared import clock
from portal.shared.audit import Actor

log = logging.getLogger(__name__)

SETTLE_SECONDS = 60
REMESSA, RETORNO, PROCESSED, REFUSED = "remessa", "retorno", "processados", "recusados"


def remessa_filename(remessa) -> str:
    """`CB` + day and month + the NSA (2 digits, as the banks' 8.3 names: CBDDMMNN.REM)."""
    return f"CB{remessa.business_date.strftime('%d%m')}{remessa.nsa % 100:02d}.REM"


def _write_atomically(path: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_remessa(directory: str | Path, settings: BillingSettings, actor: Actor) -> Path | None:
    """The day's remessa in `<directory>/remessa/`, when it has movements; its path, or None (nothing pending)."""
    folder = Path(directory) / REMESSA
    folder.mkdir(parents=True, exist_ok=True)
    result = bank.build_remessa(clock.today(), settings, actor, skip_empty=True)
    if result is None or result.remessa.movement_count == 0:
        return None
    path = folder / remessa_filename(result.remessa)
    data = result.data
    if path.exists() and path.read_bytes() == data:
        return path
    _write_atomically(path, data)
    log.info("remessa NSA %s written to %s", result.remessa.nsa, path)
    return path


@dataclass
class FolderImport:
    processed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def _free_name(folder: Path, name: str) -> Path:
    path = folder / name
    number = 1
    while path.exists():
        path = folder / f"{name}.{number}"
        number += 1
    return path


def import_folder(directory: str | Path, settings: BillingSettings, actor: Actor) -> FolderImport:
    """Import every settled file of `<directory>/retorno/` (oldest name first) and move it out of the way."""
    incoming = Path(directory) / RETORNO
    processed, refused = incoming / PROCESSED, incoming / REFUSED
    for folder in (incoming, processed, refused):
        folder.mkdir(parents=True, exist_ok=True)
    outcome = FolderImport()
    now = clock.now().timestamp()
    for path in sorted(incoming.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if now - path.stat().st_mtime < SETTLE_SECONDS:
            outcome.waiting.append(path.name)
            continue
        data = path.read_bytes()
        try:
            summary = bank.import_retorno(data, path.name, actor, settings)
        except bank.BankFileRefused as error:
            target = _free_name(refused, path.name)
            path.replace(target)
            _write_atomically(target.with_name(target.name + ".motivo.txt"), (error.message + "\n").encode("utf-8"))
            log.warning("retorno %s refused: %s", path.name, error.message)
            outcome.refused.append(path.name)
            continue
        path.replace(_free_name(processed, path.name))
        log.info("retorno %s imported: %s", path.name, summary.as_dict())
        outcome.processed.append(path.name)
    return outcome
