"""The bank's simulator (issue 15 point 4): answers a remessa with the retorno a bank would send, so the whole
loop (invoice issued → remessa → retorno → boleto registered → paid → organization unblocked) can be watched in
a demo without a bank. Named as a simulator everywhere it shows; on with BANK_BACKEND=simulator (development,
`make run`), off (`none`) in production.

Pure: it reads the remessa file and writes a retorno file, nothing else (no database, no clock: the caller
passes the day). For every entrada (01) an "entrada confirmada" (02), for every pedido de baixa (02) a "baixa"
(09), for an alteração de vencimento (06) "vencimento alterado" (14), and for each boleto chosen in `pay` a
"liquidação" (06) paid on `on`, credited the next day, with the bank's fee `FEE_CENTS` and, when paid after the
due date, the multa and the juros per day the remessa itself carries (they come from the billing settings).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from portal.billing import cnab240

__all__ = ["FEE_CENTS", "BankSimulator", "SimulatedRetorno"]

FEE_CENTS = 250  # the simulated bank's tarifa per liquidação (R$ 2,50)
_ANSWER = {"01": "02", "02": "09", "06": "14"}  # remessa movement (C004) → retorno occurrence (C044)


@dataclass(frozen=True)
class SimulatedRetorno:
    data: bytes
    filename: str
    confirmed: int
    written_off: int
    paid: int
    paid_cents: int


def late_charges(entry: cnab240.RemessaEntry, on: date) -> int:
    """Multa (percent of the face value, once) + juros per day after the due date, as the remessa states them."""
    if entry.due is None or on <= entry.due:
        return 0
    return entry.amount_cents * entry.multa_percent // 10_000 + entry.juros_per_day_cents * (on - entry.due).days


class BankSimulator:
    """Answers remessas as the bank would (see the module). Stateless."""

    name = "simulator"

    def entradas(self, remessa_bytes: bytes) -> list[cnab240.RemessaEntry]:
        """The remessa's entradas: the boletos one can choose to pay."""
        return [e for e in cnab240.parse_remessa(remessa_bytes).entries if e.code == "01"]

    def respond(self, remessa_bytes: bytes, pay: dict[str, int | None] | None = None, *,
                on: date) -> SimulatedRetorno:
        """The retorno for `remessa_bytes`; `pay` maps a nosso número (the bank's part, as in the file) to the
        amount paid in centavos, or None for the face value (+ multa and juros when `on` is after the due
        date). A nosso número that is not an entrada of this remessa: ValueError. CnabError for a bad file."""
        if not isinstance(on, date):
            raise TypeError(f"on must be a date, got {type(on).__name__}")
        pay = dict(pay or {})
        remessa = cnab240.parse_remessa(remessa_bytes)
        entradas = {e.nosso_numero: e for e in remessa.entries if e.code == "01"}
        unknown = sorted(set(pay) - set(entradas))
        if unknown:
            raise ValueError(f"not an entrada of this remessa: {', '.join(unknown)}")
        events: list[cnab240.RetornoEvent] = []
        counts = {"02": 0, "09": 0}
        for entry in remessa.entries:
            code = _ANSWER.get(entry.code)
            if code is None:
                continue
            counts[code] = counts.get(code, 0) + 1
            events.append(self._event(entry, code, occurred_on=on))
        paid_cents = 0
        for nosso_numero, amount in pay.items():
            entry = entradas[nosso_numero]
            charges = late_charges(entry, on)
            paid = entry.amount_cents + charges if amount is None else amount
            if not isinstance(paid, int) or paid <= 0:
                raise ValueError(f"amount paid must be a positive number of centavos, got {amount!r}")
            charges = min(charges, max(paid - entry.amount_cents, 0))
            events.append(self._event(entry, "06", occurred_on=on, credited_on=on + timedelta(days=1),
                                      paid_cents=paid, charges_cents=charges, fee_cents=FEE_CENTS))
            paid_cents += paid
        nsa = remessa.nsa
        generated_at = datetime.combine(on, time(6, 0))
        data = cnab240.retorno(remessa.account, events, nsa=nsa, generated_at=generated_at)
        filename = f"retorno-simulado-{remessa.account.bank}-{on.strftime('%Y%m%d')}-{nsa:06d}.ret"
        return SimulatedRetorno(data=data, filename=filename, confirmed=counts["02"], written_off=counts["09"],
                                paid=len(pay), paid_cents=paid_cents)

    @staticmethod
    def _event(entry: cnab240.RemessaEntry, code: str, **values) -> cnab240.RetornoEvent:
        return cnab240.RetornoEvent(
            code=code, nosso_numero=entry.nosso_numero, seu_numero=entry.seu_numero, company_ref=entry.company_ref,
            due=entry.due, face_value_cents=entry.amount_cents, payer_document=entry.payer_document,
            payer_name=entry.payer_name, channel="CK" if code == "06" else "", **values)


def from_config(config) -> BankSimulator | None:
    """The simulator when BANK_BACKEND=simulator; None with `none`."""
    backend = config.get("BANK_BACKEND") or "none"
    if backend == "simulator":
        return BankSimulator()
    if backend == "none":
        return None
    raise RuntimeError(f"BANK_BACKEND must be 'simulator' or 'none', not {backend!r}")
