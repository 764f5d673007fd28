"""Boletos registered at the bank through CNAB 240 files (issue 15 points 1–3): the day's remessa and the
import of the bank's retorno. The file format is `cnab240.py` (pure); this module is the database side.

Movements are derived when the remessa is built (not hooked into issuing, cancelling or the 2ª via), so the
billing run's batch writer stays as it is and no code path can forget one:
- entrada: the current boleto (highest sequence) of an open invoice of the configured bank, without one yet;
- baixa: a boleto whose entrada went to the bank, without a baixa yet, when its invoice is no longer open
  (cancelled or reissued, or paid by other means) or a newer boleto (a 2ª via) replaced it, and the bank has
  not reported it paid.
A 2ª via is a new boleto with its own nosso número and a new amount (multa and juros), so it is sent as baixa of
the previous boleto + entrada of the new one for the three banks (an alteração de vencimento would keep the old
nosso número and amount). A rejected entrada is made pending again: it goes in the next remessa.

Each (boleto, kind) has one BankMovement row; a movement is pending while its `remessa_id` is empty. NSAs are
gapless per account: max + 1 while the account's latest remessa row is locked, with the unique constraints
(account + NSA, account + business day) as the backstop; the day's file built again is the stored one.
"""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from portal.accounts.models import Organization
from portal.billing import boleto as boleto_codes
from portal.billing import cnab240, exceptions
from portal.billing.bank_simulator import BankSimulator, SimulatedRetorno
from portal.billing.models import (
    BankMovement,
    BankOccurrence,
    BillingException,
    Boleto,
    ExceptionKind,
    Invoice,
    InvoiceStatus,
    MovementKind,
    PaymentMethod,
    Remessa,
    RetornoImport,
)
from portal.billing.payments import add_payment
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock, cnpj
from portal.shared.audit import Actor, AuditTag, record
from portal.shared.errors import ServiceError

log = logging.getLogger(__name__)

RETORNO_SOURCE = "retorno"
# C044 17 (BB, Bradesco): "liquidação após baixa ou título não registrado", booked and flagged (Itaú's 17 is a
# rejected change: not a payment).
LIQUIDATION_AFTER_BAIXA = "17"
_CNAB_KIND = {MovementKind.ENTRADA: cnab240.ENTRADA, MovementKind.BAIXA: cnab240.BAIXA,
              MovementKind.VENCIMENTO: cnab240.VENCIMENTO}


class BankFileRefused(ServiceError):
    """A retorno (or remessa request) the portal refuses; nothing was recorded."""


# ---------------------------------------------------------------- the account and the movements


def account_of(settings: BillingSettings) -> cnab240.Account:
    dac = ""
    if settings.bank == cnab240.ITAU:
        dac = str(boleto_codes.mod10(settings.agency + settings.account))
    return cnab240.Account(bank=settings.bank, agencia=settings.agency, conta=settings.account,
                           cnpj=settings.reseller_cnpj, name=settings.reseller_legal_name, carteira=settings.carteira,
                           agencia_dv=settings.agency_dv, conta_dv=settings.account_dv, dac=dac,
                           convenio=settings.convenio, variacao=settings.variacao)


def _movement(kind: str, boleto: Boleto, invoice: Invoice, organization: Organization,
              settings: BillingSettings) -> cnab240.Movement:
    address = " ".join(part for part in (organization.street, organization.number, organization.complement) if part)
    juros = boleto.amount_cents * settings.interest_monthly_bp // 10_000 // 30
    return cnab240.Movement(
        kind=_CNAB_KIND[kind], nosso_numero=boleto.nosso_numero, seu_numero=invoice.display_number,
        due=boleto.due_date, amount_cents=boleto.amount_cents, issued=clock.to_business(boleto.created_at).date(),
        payer_document=organization.cnpj, payer_name=organization.legal_name, address=address,
        neighborhood=organization.district, city=organization.city, uf=organization.state,
        cep=organization.postal_code, company_ref=str(boleto.id), juros_per_day_cents=juros,
        multa_percent=settings.fine_bp)


def _has_movement(kind: str, *, sent: bool = False):
    condition = and_(BankMovement.boleto_id == Boleto.id, BankMovement.kind == kind)
    if sent:
        condition = and_(condition, BankMovement.remessa_id.is_not(None))
    return exists().where(condition)


def _newer_boleto_exists():
    newer = aliased(Boleto)
    return exists().where(newer.invoice_id == Boleto.invoice_id, newer.sequence > Boleto.sequence)


def _reported_paid():
    return exists().where(BankOccurrence.boleto_id == Boleto.id, BankOccurrence.kind == cnab240.PAID)


def _derive_movements(settings: BillingSettings) -> int:
    """Add the movements that follow from the boletos and invoices as they are now (see the module's rule)."""
    now = clock.now()
    entradas = db.session.scalars(
        select(Boleto.id).join(Invoice, Invoice.id == Boleto.invoice_id)
        .where(Boleto.bank == settings.bank, Invoice.status == InvoiceStatus.OPEN, ~_newer_boleto_exists(),
               ~_has_movement(MovementKind.ENTRADA))).all()
    baixas = db.session.scalars(
        select(Boleto.id).join(Invoice, Invoice.id == Boleto.invoice_id)
        .where(Boleto.bank == settings.bank, _has_movement(MovementKind.ENTRADA, sent=True),
               ~_has_movement(MovementKind.BAIXA), (Invoice.status != InvoiceStatus.OPEN) | _newer_boleto_exists(),
               ~_reported_paid())).all()
    rows = [BankMovement(boleto_id=i, kind=MovementKind.ENTRADA, created_at=now) for i in entradas]
    rows += [BankMovement(boleto_id=i, kind=MovementKind.BAIXA, created_at=now) for i in baixas]
    db.session.add_all(rows)
    db.session.flush()
    return len(rows)


# ---------------------------------------------------------------- remessa


@dataclass(frozen=True)
class RemessaResult:
    remessa: Remessa
    created: bool  # False: the day's file already existed and is returned as stored

    @property
    def data(self) -> bytes:
        return self.remessa.content.encode("ascii")


def _account_filter(settings: BillingSettings):
    return and_(Remessa.bank == settings.bank, Remessa.agency == settings.agency, Remessa.account == settings.account)


def remessa_of_day(day: date, settings: BillingSettings) -> Remessa | None:
    return db.session.scalar(select(Remessa).where(_account_filter(settings), Remessa.business_date == day))


def build_remessa(day: date, settings: BillingSettings, actor: Actor, *, skip_empty: bool = False
                  ) -> RemessaResult | None:
    """The remessa of `day` for the configured account, with every pending movement; commits. The same day
    again returns the stored file (no new NSA, no movement twice). With `skip_empty`, no file is made when
    nothing is pending (None; the NSA is not used), as the periodic job wants."""
    existing = remessa_of_day(day, settings)
    if existing is not None:
        return RemessaResult(existing, False)
    try:
        result = _build(day, settings, actor, skip_empty=skip_empty)
        db.session.commit()
    except IntegrityError:  # another session built the day's file (or derived the same movements) just now
        db.session.rollback()
        existing = remessa_of_day(day, settings)
        if existing is None:
            raise
        return RemessaResult(existing, False)
    return result


def _writable(pending: list, account: cnab240.Account, settings: BillingSettings, *, nsa: int,
              generated_at) -> list:
    """The pending movements the bank's layout can carry. One the writer refuses (a payer whose CNPJ is not valid, a
    name it cannot write…) is held back — it stays pending, for the next remessa once corrected — and finance gets
    an exception saying why (one per boleto while it is open), instead of the whole file failing."""
    writable = []
    for row in pending:
        movement, boleto, invoice, organization = row
        try:
            cnab240.remessa(account, [_movement(movement.kind, boleto, invoice, organization, settings)], nsa=nsa,
                            generated_at=generated_at)
        except ValueError as error:
            log.warning("boleto %s held back from the remessa: %s", boleto.nosso_numero, error)
            already = db.session.scalar(select(BillingException.id).where(
                BillingException.kind == ExceptionKind.HELD_BACK, BillingException.boleto_id == boleto.id,
                BillingException.resolved_at.is_(None)))
            if already is None:
                why = (f"o CNPJ do pagador ({organization.cnpj}) não é válido" if not cnpj.is_valid(organization.cnpj)
                       else "o banco não aceitaria os dados do pagador como estão")
                exceptions.open_exception(
                    ExceptionKind.HELD_BACK,
                    f"O boleto {boleto.nosso_numero} da fatura {invoice.display_number} ({organization.display_name}) "
                    f"ficou fora da remessa: {why}. Corrija o cadastro da organização (CNPJ, nome, endereço); "
                    "ele vai na próxima remessa.",
                    {"nosso_numero": boleto.nosso_numero, "movement": str(movement.kind), "error": str(error)},
                    boleto=boleto)
            continue
        writable.append(row)
    return writable


def _build(day: date, settings: BillingSettings, actor: Actor, *, skip_empty: bool = False) -> RemessaResult | None:
    account = account_of(settings)
    # The account's latest remessa, locked: a second builder waits here, then finds the day's file.
    db.session.execute(select(Remessa.id).where(_account_filter(settings)).order_by(Remessa.nsa.desc()).limit(1)
                       .with_for_update())
    existing = remessa_of_day(day, settings)
    if existing is not None:
        return RemessaResult(existing, False)
    _derive_movements(settings)
    pending = db.session.execute(
        select(BankMovement, Boleto, Invoice, Organization)
        .join(Boleto, Boleto.id == BankMovement.boleto_id).join(Invoice, Invoice.id == Boleto.invoice_id)
        .join(Organization, Organization.id == Invoice.organization_id)
        .where(BankMovement.remessa_id.is_(None), Boleto.bank == settings.bank).order_by(BankMovement.id)).all()
    if skip_empty and not pending:
        return None
    nsa = (db.session.scalar(select(func.max(Remessa.nsa)).where(_account_filter(settings))) or 0) + 1
    generated_at = clock.to_business(clock.now())
    pending = _writable(pending, account, settings, nsa=nsa, generated_at=generated_at)
    if skip_empty and not pending:
        return None
    movements = [_movement(m.kind, b, i, o, settings) for m, b, i, o in pending]
    data = cnab240.remessa(account, movements, nsa=nsa, generated_at=generated_at)
    entradas = [b for m, b, _i, _o in pending if m.kind == MovementKind.ENTRADA]
    remessa = Remessa(bank=settings.bank, agency=settings.agency, account=settings.account, nsa=nsa,
                      business_date=day, generated_at=clock.now(), generated_by_id=actor.user_id,
                      content=data.decode("ascii"), sha256=hashlib.sha256(data).hexdigest(),
                      movement_count=len(pending), entradas=len(entradas), baixas=len(pending) - len(entradas),
                      total_cents=sum(b.amount_cents for _m, b, _i, _o in pending))
    db.session.add(remessa)
    db.session.flush()
    for movement, *_rest in pending:
        movement.remessa_id = remessa.id
    record(AuditTag.REMESSA_GENERATED, actor=actor, subject=f"remessa:{remessa.id}",
           after={"bank": remessa.bank, "nsa": nsa, "business_date": day.isoformat(), "sha256": remessa.sha256,
                  "movements": remessa.movement_count, "entradas": remessa.entradas, "baixas": remessa.baixas,
                  "total_cents": remessa.total_cents})
    return RemessaResult(remessa, True)


# ---------------------------------------------------------------- retorno


@dataclass
class RetornoSummary:
    filename: str
    bank: str = ""
    nsa: int = 0
    file_already_imported: bool = False
    confirmed: int = 0
    rejected: int = 0
    paid: int = 0
    paid_cents: int = 0
    unknown: int = 0
    already_imported: int = 0  # occurrences recorded before (by the bank's identity of them)
    other: int = 0
    exceptions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "bank": self.bank, "nsa": self.nsa,
                "file_already_imported": self.file_already_imported, "confirmed": self.confirmed,
                "rejected": self.rejected, "paid": self.paid, "paid_cents": self.paid_cents, "unknown": self.unknown,
                "already_imported": self.already_imported, "other": self.other, "exceptions": list(self.exceptions)}


def occurrence_id(bank: str, event: cnab240.Event) -> str:
    """The bank's own identity of an occurrence, stable across files (a payment's external_id)."""
    occurred = event.occurred_on.isoformat() if event.occurred_on else "-"
    return f"{bank}:{event.nosso_numero}:{event.code}:{occurred}:{event.paid_cents}"


def _parse(data: bytes, settings: BillingSettings) -> cnab240.Retorno:
    try:
        return cnab240.parse_retorno(data, account_of(settings))
    except cnab240.CnabError as error:
        raise BankFileRefused(_("Arquivo recusado, nada foi importado: %(error)s", error=str(error))) from error


def import_retorno(data: bytes, filename: str, actor: Actor, settings: BillingSettings) -> RetornoSummary:
    """Import a retorno in one transaction (commits). BankFileRefused when the file is refused (nothing is
    recorded); the same file again records nothing ("já importado")."""
    retorno = _parse(data, settings)
    sha = hashlib.sha256(data).hexdigest()
    for _attempt in range(2):
        if db.session.scalar(select(RetornoImport.id).where(RetornoImport.sha256 == sha)) is not None:
            return RetornoSummary(filename=filename, bank=retorno.bank, nsa=retorno.nsa, file_already_imported=True,
                                  already_imported=len(retorno.events))
        try:
            summary = _import(retorno, sha, filename, actor, settings)
            db.session.commit()
            return summary
        except IntegrityError:  # the same file or occurrence imported by another session just now: again
            db.session.rollback()
    raise BankFileRefused(_("O arquivo está sendo importado por outra pessoa agora. Tente de novo."))


def _import(retorno: cnab240.Retorno, sha: str, filename: str, actor: Actor,
            settings: BillingSettings) -> RetornoSummary:
    summary = RetornoSummary(filename=filename, bank=retorno.bank, nsa=retorno.nsa)
    imported = RetornoImport(sha256=sha, filename=filename[:255], bank=retorno.bank, nsa=retorno.nsa,
                             imported_at=clock.now(), imported_by_id=actor.user_id, summary={})
    db.session.add(imported)
    db.session.flush()  # a second session importing the same file waits here, then fails on the unique SHA-256
    for event in retorno.events:
        _import_event(event, retorno.bank, imported, filename, actor, settings, summary)
    imported.summary = summary.as_dict()
    record(AuditTag.RETORNO_IMPORTED, actor=actor, subject=f"retorno:{imported.id}",
           after={"sha256": sha, **summary.as_dict()})
    return summary


def _exception(kind: str, message: str, details: dict[str, Any], summary: RetornoSummary, *,
               boleto: Boleto | None = None) -> None:
    exceptions.open_exception(kind, message, details, boleto=boleto)
    summary.exceptions.append(message)


def _import_event(event: cnab240.Event, bank: str, imported: RetornoImport, filename: str, actor: Actor,
                  settings: BillingSettings, summary: RetornoSummary) -> None:
    identity = dict(bank=bank, nosso_numero=event.nosso_numero, code=event.code, occurred_on=event.occurred_on,
                    paid_cents=event.paid_cents)
    if db.session.scalar(select(BankOccurrence.id).filter_by(**identity)) is not None:
        summary.already_imported += 1
        return
    boleto = db.session.scalar(select(Boleto).where(Boleto.bank == bank, Boleto.nosso_numero == event.nosso_numero))
    occurrence = BankOccurrence(import_id=imported.id, line=event.line_numbers[0], kind=event.kind,
                                face_value_cents=event.face_value_cents, charges_cents=event.charges_cents,
                                fee_cents=event.fee_cents, credited_on=event.credited_on,
                                boleto_id=boleto.id if boleto else None, **identity)
    db.session.add(occurrence)
    db.session.flush()
    details = {"file": filename, "line": event.line_numbers[0], "code": event.code, "meaning": event.meaning,
               "nosso_numero": event.nosso_numero, "paid_cents": event.paid_cents,
               "occurred_on": event.occurred_on.isoformat() if event.occurred_on else None,
               "reasons": [list(reason) for reason in event.reasons]}
    if boleto is None:
        summary.unknown += 1
        _exception(ExceptionKind.UNKNOWN, f"Nosso número {event.nosso_numero} desconhecido no retorno {filename} "
                   f"(linha {event.line_numbers[0]}, ocorrência {event.code} – {event.meaning}).", details, summary)
        return
    invoice = db.session.get(Invoice, boleto.invoice_id)
    if event.kind == cnab240.CONFIRMED:
        summary.confirmed += 1
        if not boleto.registered:
            boleto.registered = True
            record(AuditTag.BOLETO_REGISTERED, actor=actor, organization_id=invoice.organization_id,
                   subject=f"invoice:{invoice.id}",
                   after={"number": invoice.display_number, "nosso_numero": boleto.nosso_numero, "file": filename})
    elif event.kind == cnab240.REJECTED:
        summary.rejected += 1
        reasons = "; ".join(f"{code} {meaning}".strip() for code, meaning in event.reasons) or "sem motivo informado"
        _exception(ExceptionKind.REJECTED, f"O banco rejeitou a entrada do boleto {boleto.nosso_numero} da fatura "
                   f"{invoice.display_number}: {reasons}. Corrija os dados; a entrada vai de novo na próxima remessa.",
                   details, summary, boleto=boleto)
        movement = db.session.scalar(select(BankMovement).where(BankMovement.boleto_id == boleto.id,
                                                                BankMovement.kind == MovementKind.ENTRADA))
        if movement is not None:
            movement.remessa_id = None  # pending again: sent in the next remessa
    elif event.kind == cnab240.PAID:
        _paid(event, bank, boleto, invoice, occurrence, filename, actor, settings, summary, details)
    else:
        summary.other += 1


def _paid(event: cnab240.Event, bank: str, boleto: Boleto, invoice: Invoice, occurrence: BankOccurrence,
          filename: str, actor: Actor, settings: BillingSettings, summary: RetornoSummary,
          details: dict[str, Any]) -> None:
    summary.paid += 1
    summary.paid_cents += event.paid_cents
    paid_on = event.occurred_on or event.credited_on or clock.today()
    earlier = _booked_liquidation(boleto, but=occurrence.id)
    if earlier is not None:  # one payment per (bank, nosso número): a repeat is logged, not booked
        summary.paid -= 1
        summary.paid_cents -= event.paid_cents
        summary.already_imported += 1
        log.warning("retorno %s line %s: boleto %s already paid by the bank's occurrence %s (payment %s); not booked",
                    filename, event.line_numbers[0], boleto.nosso_numero, earlier.id, earlier.payment_id)
        return
    if invoice.status == InvoiceStatus.CANCELLED:
        exceptions.paid_on_cancelled(invoice, event.paid_cents, f"Boleto {boleto.nosso_numero}", details, boleto=boleto)
        summary.exceptions.append(f"Boleto {boleto.nosso_numero}: fatura cancelada {invoice.display_number}")
        return
    try:
        payment = add_payment(invoice, amount_cents=event.paid_cents, method=PaymentMethod.BOLETO, paid_on=paid_on,
                              actor=actor, source=RETORNO_SOURCE, external_id=occurrence_id(bank, event),
                              note=f"retorno {filename[:200]}, linha {event.line_numbers[0]}",
                              interest_paid_cents=event.charges_cents, fee_cents=event.fee_cents,
                              credited_on=event.credited_on, settings=settings)
    except ServiceError as error:
        _exception(ExceptionKind.UNKNOWN, f"Pagamento do boleto {boleto.nosso_numero} não registrado: "
                   f"{error.message}", details, summary, boleto=boleto)
        return
    occurrence.payment_id = payment.id
    if _baixa_sent(boleto) or event.code == LIQUIDATION_AFTER_BAIXA:
        _exception(ExceptionKind.PAID_AFTER_BAIXA, f"Boleto {boleto.nosso_numero} da fatura {invoice.display_number} "
                   f"pago (R$ {event.paid_cents / 100:.2f}) depois do pedido de baixa (ocorrência {event.code} – "
                   f"{event.meaning}): confira o pagamento e o crédito da organização.", details, summary,
                   boleto=boleto)


def _booked_liquidation(boleto: Boleto, *, but: int) -> BankOccurrence | None:
    """The bank's earlier liquidação of `boleto` that became a payment, if any (the spec: one payment per bank and
    nosso número)."""
    return db.session.scalar(select(BankOccurrence).where(
        BankOccurrence.boleto_id == boleto.id, BankOccurrence.payment_id.is_not(None), BankOccurrence.id != but)
        .limit(1))


def _baixa_sent(boleto: Boleto) -> bool:
    return db.session.scalar(select(BankMovement.id).where(
        BankMovement.boleto_id == boleto.id, BankMovement.kind == MovementKind.BAIXA,
        BankMovement.remessa_id.is_not(None)).limit(1)) is not None


def open_exceptions() -> list[BillingException]:
    return list(db.session.scalars(select(BillingException).where(BillingException.resolved_at.is_(None))
                                   .order_by(BillingException.id)))



# ---------------------------------------------------------------- the bank's simulator (demonstration)


@dataclass(frozen=True)
class SimulatorEntry:
    """An entrada of a remessa, as the simulator box lists it."""

    nosso_numero: str
    amount_cents: int
    due: date | None
    invoice_id: int | None
    invoice_number: str
    organization: str
    payable: bool = True  # its invoice is still open (a paid or cancelled one is not offered again)


def recent_remessas(settings: BillingSettings, limit: int = 10) -> list[Remessa]:
    return list(db.session.scalars(select(Remessa).where(_account_filter(settings))
                                   .order_by(Remessa.nsa.desc()).limit(limit)))


def remessa_for(remessa_id: int, settings: BillingSettings) -> Remessa | None:
    remessa = db.session.get(Remessa, remessa_id)
    if remessa is None or remessa.bank != settings.bank or remessa.agency != settings.agency \
            or remessa.account != settings.account:
        return None
    return remessa


def simulator_entries(remessa: Remessa, simulator: BankSimulator) -> list[SimulatorEntry]:
    """The remessa's entradas with their invoice and organization (read from the file, then looked up)."""
    entradas = simulator.entradas(remessa.content.encode("ascii"))
    rows = db.session.execute(
        select(Boleto.nosso_numero, Invoice, Organization.legal_name)
        .join(Invoice, Invoice.id == Boleto.invoice_id).join(Organization, Organization.id == Invoice.organization_id)
        .where(Boleto.bank == remessa.bank, Boleto.nosso_numero.in_([e.nosso_numero for e in entradas]))).all()
    found = {nn: (invoice, organization) for nn, invoice, organization in rows}
    entries = []
    for entrada in entradas:
        invoice, organization = found.get(entrada.nosso_numero, (None, ""))
        entries.append(SimulatorEntry(
            nosso_numero=entrada.nosso_numero, amount_cents=entrada.amount_cents, due=entrada.due,
            invoice_id=invoice.id if invoice else None,
            invoice_number=invoice.display_number if invoice else entrada.seu_numero, organization=organization,
            payable=invoice is not None and invoice.status == InvoiceStatus.OPEN))
    return entries


def simulate_retorno(remessa: Remessa, pay: list[str], simulator: BankSimulator, actor: Actor,
                     settings: BillingSettings) -> tuple[SimulatedRetorno, RetornoSummary]:
    """The simulator's retorno for `remessa` (every movement answered, the boletos in `pay` paid today at face
    value, with multa and juros when late), imported exactly as an uploaded retorno (commits)."""
    try:
        simulated = simulator.respond(remessa.content.encode("ascii"), dict.fromkeys(pay), on=clock.today())
    except (cnab240.CnabError, ValueError) as error:
        raise ServiceError(_("O simulador não respondeu a esta remessa: %(error)s", error=str(error))) from error
    return simulated, import_retorno(simulated.data, simulated.filename, actor, settings)
