"""Bank-specific boleto fields (nosso número, free field, the printed nosso número) and a boleto's columns."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.billing import boleto as boleto_codes
from portal.billing import pix
from portal.billing.models import Boleto, Invoice, PixCharge, PixChargeStatus
from portal.billing.settings import BillingSettings
from portal.extensions import db
from portal.shared import clock


def nosso_numero(settings: BillingSettings, invoice_id: int, sequence: int) -> str:
    """The bank's reference for a boleto: the invoice id and the boleto's sequence, in the bank's length."""
    if settings.bank == "001":
        return f"{invoice_id:08d}{sequence:02d}"  # complemento of 10 digits (the convênio comes first)
    if settings.bank == "237":
        return f"{invoice_id:09d}{sequence:02d}"  # 11 digits
    return f"{invoice_id:06d}{sequence:02d}"  # Itaú: 8 digits


def free_field(settings: BillingSettings, number: str) -> str:
    if settings.bank == "001":
        return boleto_codes.free_field_bb(settings.convenio, number, settings.carteira)
    if settings.bank == "237":
        return boleto_codes.free_field_bradesco(settings.agency, settings.carteira, number, settings.account)
    return boleto_codes.free_field_itau(settings.carteira, number, settings.agency, settings.account)


def printed_nosso_numero(settings: BillingSettings, number: str) -> str:
    """The nosso número as printed on the ficha, with the bank's check digit where it has one."""
    if settings.bank == "001":
        return f"{settings.convenio}{number}"
    if settings.bank == "237":
        return f"{settings.carteira}/{number}-{boleto_codes.bradesco_nosso_numero_dv(settings.carteira, number)}"
    dac = boleto_codes.itau_nosso_numero_dac(settings.agency, settings.account, settings.carteira, number)
    return f"{settings.carteira}/{number}-{dac}"


def pix_txid(invoice: Invoice, sequence: int) -> str:
    return f"{invoice.series}{invoice.year}{invoice.number:06d}B{sequence}"  # alphanumeric, ≤ 25


def boleto_values(invoice: Any, settings: BillingSettings, *, due: date, amount_cents: int, sequence: int,
                  fine_cents: int = 0, interest_cents: int = 0, created_at: datetime | None = None) -> dict[str, Any]:
    """The columns of a boleto for `invoice` (an Invoice, or anything with its id, series, year and number)."""
    number = nosso_numero(settings, invoice.id, sequence)
    code = boleto_codes.barcode(settings.bank, amount_cents, due, free_field(settings, number))
    payload = pix.static_payload(settings.pix_key, settings.pix_merchant_name, settings.pix_merchant_city,
                                 amount_cents=amount_cents, txid=pix_txid(invoice, sequence))
    return {"invoice_id": invoice.id, "sequence": sequence, "bank": settings.bank, "nosso_numero": number,
            "due_date": due, "amount_cents": amount_cents, "fine_cents": fine_cents,
            "interest_cents": interest_cents, "barcode": code, "digitable_line": boleto_codes.digitable_line(code),
            "pix_payload": payload, "registered": False,
            "created_at": created_at if created_at is not None else clock.now()}


def new_boleto(invoice: Invoice, settings: BillingSettings, *, due: date, amount_cents: int, sequence: int,
               fine_cents: int = 0, interest_cents: int = 0) -> Boleto:
    found = Boleto(**boleto_values(invoice, settings, due=due, amount_cents=amount_cents, sequence=sequence,
                                   fine_cents=fine_cents, interest_cents=interest_cents))
    db.session.add(found)
    return found


def pix_ready(boleto: Boleto | None) -> bool:
    """Whether `boleto`'s Pix may be shown. Not while its cobv is being made: a charge PENDING at the PSP (down or
    slow; the job retries) whose copia-e-cola is not yet the boleto's — the static code still in the boleto would
    be a Pix nobody is told about. With PIX_BACKEND=static, or for a boleto no charge was ever attempted for (issued
    before the PSP was configured, the demo's invoices), the boleto's Pix is shown as it is."""
    if boleto is None:
        return False
    if current_app.extensions.get("pix_provider") is None:
        return True
    charges = list(db.session.execute(select(PixCharge.status, PixCharge.pix_copia_e_cola)
                                      .where(PixCharge.boleto_id == boleto.id)))
    return _shown(boleto.pix_payload, charges)


def _shown(payload: str, charges) -> bool:
    """No charge attempted, or one active (or paid) at the PSP with the boleto's own copia-e-cola."""
    return not charges or any(status in (PixChargeStatus.ACTIVE, PixChargeStatus.PAID) and code == payload
                              for status, code in charges)


def pix_ready_many(boletos: Sequence[Boleto]) -> dict[int, bool]:
    """`pix_ready` of several boletos (boleto id → may its Pix be shown), in one query whatever their number."""
    if current_app.extensions.get("pix_provider") is None or not boletos:
        return {boleto.id: True for boleto in boletos}
    charges: dict[int, list[tuple[str, str]]] = {boleto.id: [] for boleto in boletos}
    for boleto_id, status, code in db.session.execute(
        select(PixCharge.boleto_id, PixCharge.status, PixCharge.pix_copia_e_cola)
        .where(PixCharge.boleto_id.in_(list(charges)))
    ):
        charges[boleto_id].append((status, code))
    return {boleto.id: _shown(boleto.pix_payload, charges[boleto.id]) for boleto in boletos}
