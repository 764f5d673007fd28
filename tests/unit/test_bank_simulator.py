"""billing/bank_simulator.py: the bank's simulator answers a remessa (entradas confirmed, baixas confirmed, the
chosen boletos paid with the fee, and multa + juros when paid late), for the three banks; pure."""

import ast
import dataclasses
from datetime import date
from pathlib import Path

import pytest

from portal.billing import bank_simulator, cnab240
from portal.billing.bank_simulator import FEE_CENTS, BankSimulator
from tests.unit.test_cnab240 import _NN, AT, BB, BOLETO, BRADESCO, ITAU

DUE = BOLETO.due  # 2029-05-21; face value 6.757,87, juros 2,25 a day, multa 2 %


def _remessa(account, *extra):
    entrada = dataclasses.replace(BOLETO, nosso_numero=_NN[account.bank])
    return cnab240.remessa(account, [entrada, *extra], nsa=4, generated_at=AT)


@pytest.mark.parametrize("account", [ITAU, BB, BRADESCO], ids=["itau", "bb", "bradesco"])
def test_every_entrada_and_baixa_is_confirmed_and_the_chosen_boleto_paid(account):
    baixa = dataclasses.replace(BOLETO, kind=cnab240.BAIXA, nosso_numero="9")
    nn = _NN[account.bank]
    simulated = BankSimulator().respond(_remessa(account, baixa), {nn: None}, on=DUE)
    ret = cnab240.parse_retorno(simulated.data, account)  # the configured account's own file
    assert ret.bank == account.bank and ret.nsa == 4
    assert [(e.code, e.kind) for e in ret.events] == [("02", cnab240.CONFIRMED), ("09", cnab240.WRITTEN_OFF),
                                                      ("06", cnab240.PAID)]
    paid = ret.events[2]
    assert (paid.nosso_numero, paid.paid_cents, paid.charges_cents, paid.fee_cents) == (nn, 675787, 0, FEE_CENTS)
    assert paid.net_credit_cents == 675787 - FEE_CENTS
    assert (paid.occurred_on, paid.credited_on, paid.company_ref) == (DUE, date(2029, 5, 22), "PORTAL-INV-000123")
    assert (simulated.confirmed, simulated.written_off, simulated.paid, simulated.paid_cents) == (1, 1, 1, 675787)
    assert simulated.filename == f"retorno-simulado-{account.bank}-20290521-000004.ret"


def test_paid_late_carries_multa_and_juros_from_the_remessa():
    three_days_late = date(2029, 5, 24)
    simulated = BankSimulator().respond(_remessa(ITAU), {"00010152": None}, on=three_days_late)
    paid = cnab240.parse_retorno(simulated.data).events[-1]
    charges = 675787 * 200 // 10_000 + 3 * 225  # multa 2 % once + juros 2,25 a day
    assert (paid.paid_cents, paid.charges_cents) == (675787 + charges, charges)


def test_a_chosen_amount_is_paid_as_is():
    simulated = BankSimulator().respond(_remessa(ITAU), {"00010152": 500_000}, on=DUE)
    paid = cnab240.parse_retorno(simulated.data).events[-1]
    assert (paid.paid_cents, paid.charges_cents) == (500_000, 0)


def test_nothing_to_pay_confirms_only():
    simulated = BankSimulator().respond(_remessa(BB), on=DUE)
    assert [e.code for e in cnab240.parse_retorno(simulated.data).events] == ["02"]


def test_the_same_answer_gives_the_same_bytes():
    simulator = BankSimulator()
    assert simulator.respond(_remessa(ITAU), {"00010152": None}, on=DUE).data == simulator.respond(
        _remessa(ITAU), {"00010152": None}, on=DUE).data


def test_refusals():
    simulator = BankSimulator()
    with pytest.raises(ValueError, match="not an entrada of this remessa: 12345678"):
        simulator.respond(_remessa(ITAU), {"12345678": None}, on=DUE)
    with pytest.raises(ValueError, match="positive"):
        simulator.respond(_remessa(ITAU), {"00010152": 0}, on=DUE)
    with pytest.raises(cnab240.CnabError):
        simulator.respond(b"lixo\r\n", on=DUE)
    with pytest.raises(TypeError):
        simulator.respond(_remessa(ITAU), on="2029-05-21")


def test_entradas_lists_what_can_be_paid():
    baixa = dataclasses.replace(BOLETO, kind=cnab240.BAIXA, nosso_numero="9")
    (entrada,) = BankSimulator().entradas(_remessa(ITAU, baixa))
    assert (entrada.nosso_numero, entrada.amount_cents, entrada.seu_numero) == ("00010152", 675787, "FAT0001234")


def test_from_config():
    assert isinstance(bank_simulator.from_config({"BANK_BACKEND": "simulator"}), BankSimulator)
    assert bank_simulator.from_config({"BANK_BACKEND": "none"}) is None
    with pytest.raises(RuntimeError, match="BANK_BACKEND must be 'simulator' or 'none', not 'itau'"):
        bank_simulator.from_config({"BANK_BACKEND": "itau"})


def test_the_simulator_is_pure():
    tree = ast.parse(Path(bank_simulator.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported <= {"dataclasses", "datetime", "portal.billing"}
