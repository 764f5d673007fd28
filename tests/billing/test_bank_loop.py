"""The bank's loop without a bank: the simulator answers the day's remessa and its retorno is imported
(registered, paid); a retorno for another account is refused; the file-transfer folder (BANK_TRANSFER_DIR):
the day's remessa written once, atomically, only with movements; retornos imported and moved to processados
or recusados (+ motivo); the periodic job; the simulate-retorno CLI.

Itaú (341, the default config); the clock is 2026-03-25 12:00 in São Paulo."""

import os
from datetime import date

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.billing import bank, bank_transfer
from portal.billing import jobs as billing_jobs
from portal.billing.bank_simulator import FEE_CENTS
from portal.billing.models import BankOccurrence, InvoiceStatus, Payment, Remessa, RetornoImport
from portal.extensions import db
from tests.billing.test_bank import ACTOR, fresh, nn, pair, retorno
from tests.billing.test_bank import invoice as invoice  # noqa: F401 - fixtures
from tests.billing.test_bank import march as march  # noqa: F401
from tests.billing.test_bank import settings as settings  # noqa: F401

OLD = 1_000_000_000  # an mtime long settled (2001)


def simulator():
    return current_app.extensions["bank_simulator"]


def test_the_simulated_retorno_registers_and_pays_through_the_import(invoice, settings):  # noqa: F811
    remessa = bank.build_remessa(date(2026, 3, 25), settings, ACTOR).remessa
    (entry,) = bank.simulator_entries(remessa, simulator())
    assert (entry.nosso_numero, entry.invoice_id, entry.amount_cents) == (nn(invoice), invoice.id, 100_000)
    assert entry.invoice_number == invoice.display_number and entry.organization

    simulated, summary = bank.simulate_retorno(remessa, [nn(invoice)], simulator(), ACTOR, settings)
    assert (summary.confirmed, summary.paid, summary.paid_cents, summary.unknown) == (1, 1, 100_000, 0)
    paid = fresh(invoice)
    assert paid.status == InvoiceStatus.PAID and paid.current_boleto.registered
    payment = db.session.scalar(select(Payment))
    assert (payment.amount_cents, payment.fee_cents, payment.source) == (100_000, FEE_CENTS, "retorno")
    assert simulated.filename.startswith("retorno-simulado-341-20260325")

    _again, summary = bank.simulate_retorno(remessa, [nn(invoice)], simulator(), ACTOR, settings)
    assert summary.file_already_imported
    assert db.session.scalar(select(func.count(Payment.id))) == 1


def test_the_simulator_refuses_a_boleto_not_in_the_remessa(invoice, settings):  # noqa: F811
    remessa = bank.build_remessa(date(2026, 3, 25), settings, ACTOR).remessa
    with pytest.raises(bank.ServiceError, match="12345678"):
        bank.simulate_retorno(remessa, ["12345678"], simulator(), ACTOR, settings)
    assert db.session.scalar(select(func.count(RetornoImport.id))) == 0


def test_a_retorno_for_another_account_records_nothing(invoice, settings):  # noqa: F811
    data = retorno(pair(nn(invoice), "06", paid=100_000), conta="99999")
    with pytest.raises(bank.BankFileRefused) as info:
        bank.import_retorno(data, "r.ret", ACTOR, settings)
    assert "linha 1" in info.value.message and "99999" in info.value.message
    data = retorno(pair(nn(invoice), "06", paid=100_000), cnpj="11.222.333/0001-81")
    with pytest.raises(bank.BankFileRefused, match="linha 1: o CNPJ da empresa no arquivo"):
        bank.import_retorno(data, "r.ret", ACTOR, settings)
    assert db.session.scalar(select(func.count(BankOccurrence.id))) == 0
    assert db.session.scalar(select(func.count(RetornoImport.id))) == 0


# ---------------------------------------------------------------- the file-transfer folder


def test_the_days_remessa_is_written_once_atomically(invoice, settings, tmp_path):  # noqa: F811
    path = bank_transfer.write_remessa(tmp_path, settings, ACTOR)
    assert path == tmp_path / "remessa" / "CB250301.REM"
    assert path.read_bytes() == db.session.scalar(select(Remessa.content)).encode("ascii")
    assert bank_transfer.write_remessa(tmp_path, settings, ACTOR) == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["CB250301.REM"]  # no second file, no temporary
    assert db.session.scalar(select(func.count(Remessa.id))) == 1


def test_no_movements_no_remessa(march, settings, tmp_path):  # noqa: F811
    assert bank_transfer.write_remessa(tmp_path, settings, ACTOR) is None
    assert list((tmp_path / "remessa").iterdir()) == []
    assert db.session.scalar(select(func.count(Remessa.id))) == 0  # no NSA spent on an empty file


def _drop(folder, name: str, data: bytes, *, settled: bool = True):
    path = folder / "retorno" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if settled:
        os.utime(path, (OLD, OLD))
    return path


def test_retornos_in_the_folder_are_imported_and_moved(invoice, settings, tmp_path):  # noqa: F811
    _drop(tmp_path, "RET0001.RET", retorno(pair(nn(invoice), "02"), pair(nn(invoice), "06", paid=100_000)))
    _drop(tmp_path, "RET0002.RET", b"lixo\r\n")
    _drop(tmp_path, "RET0003.RET", retorno(pair(nn(invoice), "02"), nsa=11), settled=False)  # still arriving
    _drop(tmp_path, ".RET0004.part", b"partial")
    outcome = bank_transfer.import_folder(tmp_path, settings, ACTOR)
    assert (outcome.processed, outcome.refused, outcome.waiting) == (["RET0001.RET"], ["RET0002.RET"],
                                                                      ["RET0003.RET"])
    incoming = tmp_path / "retorno"
    assert (incoming / "processados" / "RET0001.RET").exists()
    assert (incoming / "recusados" / "RET0002.RET").read_bytes() == b"lixo\r\n"
    assert "linha 1" in (incoming / "recusados" / "RET0002.RET.motivo.txt").read_text(encoding="utf-8")
    assert sorted(p.name for p in incoming.iterdir() if p.is_file()) == [".RET0004.part", "RET0003.RET"]
    assert fresh(invoice).status == InvoiceStatus.PAID

    _drop(tmp_path, "RET0001.RET", retorno(pair(nn(invoice), "02"), pair(nn(invoice), "06", paid=100_000)))
    assert bank_transfer.import_folder(tmp_path, settings, ACTOR).processed == ["RET0001.RET"]  # already imported
    assert (incoming / "processados" / "RET0001.RET.1").exists()
    assert db.session.scalar(select(func.count(Payment.id))) == 1


def test_the_periodic_job(invoice, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setitem(current_app.config, "BANK_TRANSFER_DIR", "")
    assert billing_jobs.bank_transfer_folder.call_local() == {}
    monkeypatch.setitem(current_app.config, "BANK_TRANSFER_DIR", str(tmp_path))
    monkeypatch.setitem(current_app.config, "BANK_TRANSFER_REMESSA_HOUR", 13)  # it is 12:00 in São Paulo
    _drop(tmp_path, "a.ret", b"lixo\r\n")
    assert billing_jobs.bank_transfer_folder.call_local() == {"imported": 0, "refused": 1, "waiting": 0,
                                                              "remessa": 0}
    assert not (tmp_path / "remessa").exists()
    monkeypatch.setitem(current_app.config, "BANK_TRANSFER_REMESSA_HOUR", 12)
    assert billing_jobs.bank_transfer_folder.call_local()["remessa"] == 1
    assert [p.name for p in (tmp_path / "remessa").iterdir()] == ["CB250301.REM"]


# ---------------------------------------------------------------- CLI


def test_cli_simulate_retorno(app, invoice, settings, tmp_path):  # noqa: F811
    runner = app.test_cli_runner()
    remessa_path, retorno_path = tmp_path / "r.rem", tmp_path / "r.ret"
    assert runner.invoke(args=["billing", "remessa", "--bank", "341", "--output", str(remessa_path)]).exit_code == 0
    result = runner.invoke(args=["billing", "simulate-retorno", str(remessa_path), "--pay", f"{nn(invoice)}=60000",
                                 "--output", str(retorno_path)])
    assert result.exit_code == 0, result.output
    assert "1 entrada(s) confirmada(s)" in result.output and "1 paga(s) (R$ 600.00)" in result.output
    result = runner.invoke(args=["billing", "retorno", str(retorno_path)])
    assert result.exit_code == 0 and "pagas 1 (R$ 600.00)" in result.output, result.output
    assert fresh(invoice).status == InvoiceStatus.OPEN  # R$ 600 of R$ 1.000: open with its balance

    for bad in (["--pay", "abc"], ["--pay", "99999999"]):
        result = runner.invoke(args=["billing", "simulate-retorno", str(remessa_path), *bad, "--output",
                                     str(retorno_path)])
        assert result.exit_code != 0


def test_cli_simulate_retorno_needs_the_simulator(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.extensions, "bank_simulator", None)
    (tmp_path / "r.rem").write_bytes(b"x")
    result = app.test_cli_runner().invoke(args=["billing", "simulate-retorno", str(tmp_path / "r.rem"), "--output",
                                                str(tmp_path / "r.ret")])
    assert result.exit_code != 0 and "BANK_BACKEND=none" in result.output

