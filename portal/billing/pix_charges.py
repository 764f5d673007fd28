"""Dynamic Pix (cobv) per invoice and the payments the PSP reports (issue 15, points 5–6).

`ensure_charge(invoice)` makes sure the invoice's current boleto has its cobv at the PSP: txid
`txid_for(invoice.id, boleto.sequence, secret)` (deterministic, so a retried job PUTs the same cobv again
instead of leaving a second one payable), the boleto's due date and amount, multa and juros from the billing
settings, the payer's CNPJ and legal name, our PIX_KEY. The PSP's copia-e-cola replaces the static BR Code in
`Boleto.pix_payload`, which the invoice page, the PDFs and the e-mails read. A PSP error leaves the charge
"pending" with `last_error` (the job `billing.ensure_pix_charge` retries). A 2ª via is a new boleto, so a new
txid (version = the boleto's sequence); the previous cobv is removed at the PSP. A cancelled invoice's cobvs
are removed.

`record_received(pix_list, via)`: each Pix once per endToEndId (a unique constraint; a concurrent delivery
loses the insert and records nothing), matched by txid to the charge's invoice and recorded with
`record_payment(..., method="pix", source="pix", external_id=endToEndId)`. A Pix whose txid matches no
charge is logged and kept as an unmatched receipt for finance. A Pix reported (again or first) with
`devolucoes[]` DEVOLVIDO has each devolução reversed from its payment once per rtrId (`reverse_payment`).

With PIX_BACKEND=static there is no provider (`provider()` is None) and nothing here runs.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import jobs
from portal.billing import exceptions
from portal.billing.models import (
    ExceptionKind,
    Invoice,
    InvoiceStatus,
    Payment,
    PixCharge,
    PixChargeStatus,
    PixReceipt,
)
from portal.billing.payments import record_payment, reverse_payment
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.integrations.pix import CobvRequest, PixError, PixProvider, ReceivedPix, parse_pix, pix_json, txid_for
from portal.shared import clock
from portal.shared.audit import Actor
from portal.shared.errors import ServiceError
from portal.shared.links import absolute_url

log = logging.getLogger(__name__)

SYSTEM = Actor.system("pix")
WEBHOOK = "webhook"
POLLING = "polling"
DEVOLVIDO = "DEVOLVIDO"


def provider() -> PixProvider | None:
    """The configured PSP (`app.extensions["pix_provider"]`), None with PIX_BACKEND=static."""
    return current_app.extensions.get("pix_provider")


def txid_secret(config: Mapping[str, Any]) -> str:
    return config.get("PIX_TXID_SECRET") or config["SECRET_KEY"]


def _charge(txid: str) -> PixCharge | None:
    return db.session.scalar(select(PixCharge).where(PixCharge.txid == txid))


def _error_text(error: PixError) -> str:
    return (f"{error.status or 'sem resposta'}: {error}")[:2000]


def ensure_charge(invoice: Invoice, *, pix: PixProvider | None = None,
                  settings: BillingSettings | None = None) -> PixCharge | None:
    """The cobv of `invoice`'s current boleto, created at the PSP if it is not yet (commits).

    None when there is nothing to charge (no provider, no boleto, paid or cancelled: a cancelled invoice's
    cobvs are removed). A PSP error is stored in the charge's `last_error` (status "pending") and raised again
    when trying later can help (`PixError.retryable`), so the job retries."""
    pix = pix if pix is not None else provider()
    if pix is None:
        return None
    if invoice.status == InvoiceStatus.CANCELLED:
        remove_charges(invoice, pix=pix)
        return None
    boleto = invoice.current_boleto
    if invoice.status != InvoiceStatus.OPEN or boleto is None:
        return None
    settings = settings or BillingSettings.from_config(current_app.config)
    txid = txid_for(invoice.id, boleto.sequence, txid_secret(current_app.config))
    charge = _charge(txid)
    if charge is None:
        try:
            charge = PixCharge(invoice_id=invoice.id, boleto_id=boleto.id, txid=txid, revision=0,
                               status=PixChargeStatus.PENDING)
            db.session.add(charge)
            db.session.commit()
        except IntegrityError:  # another job made it just now
            db.session.rollback()
            charge = _charge(txid)
    if charge.status == PixChargeStatus.ACTIVE and boleto.pix_payload == charge.pix_copia_e_cola:
        return charge
    organization = invoice.organization
    request = CobvRequest(txid=txid, due_date=boleto.due_date, amount_cents=boleto.amount_cents,
                          payer_document=organization.cnpj, payer_name=organization.legal_name[:200],
                          chave=current_app.config["PIX_KEY"], fine_bp=settings.fine_bp,
                          interest_monthly_bp=settings.interest_monthly_bp,
                          solicitation=f"Fatura {invoice.display_number}"[:140])
    try:
        cobv = pix.create_cobv(request)
    except PixError as error:
        db.session.rollback()
        charge = _charge(txid)
        charge.last_error = _error_text(error)
        db.session.commit()
        log.warning("pix charge %s of invoice %s not created: %s", txid, invoice.id, charge.last_error)
        if error.retryable or error.status is None or error.status >= 500:
            raise
        return charge
    charge.status, charge.revision = PixChargeStatus.ACTIVE, cobv.revision
    charge.location, charge.pix_copia_e_cola, charge.last_error = cobv.location, cobv.pix_copia_e_cola, None
    boleto.pix_payload = cobv.pix_copia_e_cola
    if boleto.pdf_sha256 is not None or invoice.pdf_sha256 is not None:
        # PDFs made while the Pix was being prepared (they say so): made again, now with this Pix
        boleto.pdf_sha256 = invoice.pdf_sha256 = None
        jobs.enqueue("billing.complete_invoice", invoice.id)
    db.session.commit()
    for older in _active_charges(invoice, but=txid):  # a 2ª via: the previous boleto's cobv goes
        _remove(older, pix)
    return charge


def _active_charges(invoice: Invoice, but: str | None = None) -> list[PixCharge]:
    query = select(PixCharge).where(PixCharge.invoice_id == invoice.id, PixCharge.status == PixChargeStatus.ACTIVE)
    if but is not None:
        query = query.where(PixCharge.txid != but)
    return list(db.session.scalars(query.order_by(PixCharge.id)))


def _remove(charge: PixCharge, pix: PixProvider) -> None:
    try:
        cobv = pix.remove_cobv(charge.txid)
    except PixError as error:
        charge.last_error = _error_text(error)
        log.warning("pix charge %s not removed: %s", charge.txid, charge.last_error)
    else:
        charge.status, charge.revision, charge.last_error = PixChargeStatus.REMOVED, cobv.revision, None
    db.session.commit()


def remove_charges(invoice: Invoice, *, pix: PixProvider | None = None) -> int:
    """Remove every active cobv of `invoice` at the PSP (a cancelled invoice). Commits; returns how many."""
    pix = pix if pix is not None else provider()
    if pix is None:
        return 0
    charges = _active_charges(invoice)
    for charge in charges:
        _remove(charge, pix)
    return len(charges)


# ---------------------------------------------------------------- received Pix

@dataclass
class Received:
    recorded: int = 0  # new payments
    duplicate: int = 0  # endToEndId seen before
    unmatched: int = 0  # txid of no charge: kept for finance
    reversed: int = 0  # devoluções (DEVOLVIDO) newly reversed from their payment


def record_received(pix_list: Iterable[ReceivedPix], via: str) -> Received:
    """Record each Pix the PSP reported (`via` "webhook" or "polling") once per endToEndId. Commits."""
    if via not in (WEBHOOK, POLLING):
        raise ValueError(f"via must be webhook or polling, not {via!r}")
    outcome = Received()
    actor = Actor.system(f"pix:{via}")
    for pix in pix_list:
        if db.session.scalar(select(PixReceipt.id).where(PixReceipt.end_to_end_id == pix.end_to_end_id)):
            outcome.duplicate += 1
            outcome.reversed += _reverse_refunds(pix, actor)  # a Pix seen before, reported again with a devolução
            continue
        receipt = PixReceipt(end_to_end_id=pix.end_to_end_id, txid=pix.txid, amount_cents=pix.amount_cents,
                             paid_at=pix.paid_at, raw=pix_json(pix), received_via=via)
        db.session.add(receipt)
        try:
            db.session.commit()  # claims the endToEndId: a concurrent delivery of the same Pix stops here
        except IntegrityError:
            db.session.rollback()
            outcome.duplicate += 1
            outcome.reversed += _reverse_refunds(pix, actor)
            continue
        charge = _charge(pix.txid) if pix.txid else None
        if charge is None:
            log.warning("pix %s (txid %s, %s centavos) matches no charge: kept for finance",
                        pix.end_to_end_id, pix.txid, pix.amount_cents)
            outcome.unmatched += 1
            exceptions.report_unknown_pix(receipt)
            continue
        invoice = db.session.get(Invoice, charge.invoice_id)
        paid_on = pix.paid_at.astimezone(clock.BUSINESS_TZ).date()  # ReceivedPix.paid_at is aware
        try:
            payment = record_payment(invoice, amount_cents=pix.amount_cents, method="pix", paid_on=paid_on,
                                     actor=actor, source="pix", external_id=pix.end_to_end_id,
                                     note=f"Pix {pix.end_to_end_id} (txid {pix.txid})")
        except ServiceError as error:  # a cancelled invoice (its cobv was being removed), a date in the future…
            _not_recorded(pix, receipt.id, invoice, error)
            outcome.unmatched += 1
            continue
        receipt = db.session.get(PixReceipt, receipt.id)
        receipt.payment_id = payment.id
        charge = _charge(pix.txid)
        charge.status = PixChargeStatus.PAID
        db.session.commit()
        outcome.recorded += 1
        outcome.reversed += _reverse_refunds(pix, actor)
    return outcome


def _not_recorded(pix: ReceivedPix, receipt_id: int, invoice: Invoice, error: ServiceError) -> None:
    """A Pix for a known charge that could not become a payment: money on a cancelled invoice becomes the
    organization's credit; anything else waits for finance. Either way an exception says so. Commits."""
    details = {"end_to_end_id": pix.end_to_end_id, "txid": pix.txid, "amount_cents": pix.amount_cents,
               "paid_at": pix.paid_at.isoformat(), "receipt_id": receipt_id, "error": error.message}
    if invoice.status == InvoiceStatus.CANCELLED:
        exceptions.paid_on_cancelled(invoice, pix.amount_cents, f"Pix {pix.end_to_end_id}", details)
    else:
        exceptions.open_exception(ExceptionKind.UNKNOWN_PIX, f"Pix {pix.end_to_end_id} da fatura "
                                  f"{invoice.display_number} não registrado: {error.message}", details, invoice=invoice)
    log.warning("pix %s for invoice %s not recorded: %s", pix.end_to_end_id, invoice.id, error.message)
    db.session.commit()


def _reverse_refunds(pix: ReceivedPix, actor: Actor) -> int:
    """Reverse, from the payment `pix` became, each of its devoluções that reached DEVOLVIDO, once per rtrId
    (a unique constraint: a concurrent report of the same devolução records nothing). Commits each; returns how
    many were new. A Pix that paid no invoice (unknown txid) has nothing to reverse: logged."""
    done = [refund for refund in pix.refunds if refund.status == DEVOLVIDO and refund.rtr_id]
    if not done:
        return 0
    payment_id = db.session.scalar(select(PixReceipt.payment_id).where(PixReceipt.end_to_end_id == pix.end_to_end_id))
    payment = db.session.get(Payment, payment_id) if payment_id else None
    if payment is None:
        log.warning("devolução of pix %s, which paid no invoice: nothing to reverse", pix.end_to_end_id)
        return 0
    new = 0
    for refund in done:
        try:
            _, created = reverse_payment(payment, amount_cents=refund.amount_cents, actor=actor, source="pix",
                                         external_id=refund.rtr_id, reversed_on=clock.today(),
                                         reason=f"Devolução Pix {refund.id} ({refund.rtr_id}) de {pix.end_to_end_id}")
            db.session.commit()
        except IntegrityError:  # the same devolução reversed by a concurrent delivery just now
            db.session.rollback()
            continue
        except ServiceError as error:
            db.session.rollback()
            log.warning("devolução %s of pix %s not reversed: %s", refund.rtr_id, pix.end_to_end_id, error)
            continue
        new += int(created)
    return new


def parse_webhook(body: Any) -> list[ReceivedPix]:
    """The `{"pix":[…]}` body of a webhook call → ReceivedPix; ValueError when it is not one."""
    if not isinstance(body, Mapping) or not isinstance(body.get("pix"), list):
        raise ValueError('the body must be a JSON object {"pix": [...]}')
    try:
        return [parse_pix(item) for item in body["pix"]]
    except PixError as error:
        raise ValueError(str(error)) from None


def poll(hours: int = 25, *, pix: PixProvider | None = None) -> Received:
    """Ask the PSP for every Pix of the last `hours` and record what the webhook missed."""
    pix = pix if pix is not None else provider()
    if pix is None:
        return Received()
    end: datetime = clock.now()
    return record_received(pix.received(end - timedelta(hours=hours), end), POLLING)


# ---------------------------------------------------------------- the webhook at the PSP

def webhook_url() -> str:
    """What to register at the PSP: BASE_URL + /webhooks/pix/<PIX_WEBHOOK_SECRET> (the PSP appends "/pix")."""
    secret = current_app.config.get("PIX_WEBHOOK_SECRET") or ""
    if not secret:
        raise ServiceError("PIX_WEBHOOK_SECRET is empty: set it before registering the webhook")
    return absolute_url("webhooks.pix_received", secret=secret).removesuffix("/pix")


def _configured(pix: PixProvider | None) -> PixProvider:
    pix = pix if pix is not None else provider()
    if pix is None:
        raise ServiceError("PIX_BACKEND=static: there is no PSP to talk to")
    return pix


def register_webhook(*, pix: PixProvider | None = None) -> str:
    """`PUT /webhook/{chave}` with `webhook_url()`; returns the URL. PixError when the PSP refuses."""
    pix, url = _configured(pix), webhook_url()
    pix.register_webhook(url)
    log.info("pix webhook registered at the PSP: %s", url.rsplit("/", 1)[0] + "/…")
    return url


def registered_webhook(*, pix: PixProvider | None = None) -> str | None:
    return _configured(pix).webhook()


def remove_webhook(*, pix: PixProvider | None = None) -> None:
    _configured(pix).remove_webhook()


def simulator_active() -> bool:
    """Whether the Pix backend is the SIMULATOR (the staff button "Simular pagamento Pix" shows then)."""
    pix = provider()
    return pix is not None and pix.name == "simulator"


def simulate_payment(invoice: Invoice) -> Received:
    """The demo's "Simular pagamento Pix": the SIMULATOR's payer pays the invoice's current cobv, and the Pix goes
    through `record_received(..., via="webhook")` as the PSP's call would. ServiceError unless the simulator is
    the backend and the invoice has an active cobv (made now if the job has not run yet)."""
    pix = provider()
    if pix is None or pix.name != "simulator":
        raise ServiceError(_("O pagamento simulado só existe com o simulador de Pix (PIX_BACKEND=simulator)."))
    if invoice.status != InvoiceStatus.OPEN or invoice.current_boleto is None:
        raise ServiceError(_("A fatura %(number)s não está em aberto.", number=invoice.display_number))
    try:
        charge = ensure_charge(invoice, pix=pix)
        if charge is None or charge.status != PixChargeStatus.ACTIVE:
            raise ServiceError(_("A cobrança Pix desta fatura ainda não está pronta. Tente de novo em instantes."))
        received = pix.pay(charge.txid)
    except PixError as error:
        reason = f"{error.title} {error.detail}".strip() or str(error)  # the simulator's problems are in Portuguese
        raise ServiceError(_("O simulador de Pix recusou o pagamento: %(reason)s", reason=reason)) from None
    return record_received([received], WEBHOOK)
