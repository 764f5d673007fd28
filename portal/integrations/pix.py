"""Dynamic Pix: the `PixProvider` Protocol for cobranças com vencimento (cobv), and its adapters.

Chosen by `PIX_BACKEND` (`from_config`):

- `static` (default): no PSP. `from_config` answers None and the invoice keeps today's static BR Code
  (`portal/billing/pix.py`); nobody is told when it is paid.
- `simulator`: `SimulatedPixProvider`, a SIMULATOR of a PSP, its state in memory or, with PIX_SIMULATOR_DIR, in a
  directory shared by the web processes and the job consumer. Its cobvs get a made-up location and a real dynamic
  BR Code built for it; `pay(txid)` stands for a payer (the staff button "Simular pagamento Pix"), `refund` for a
  devolução.
- `api_pix`: `ApiPixProvider`, any PSP implementing the Banco Central's API Pix (OpenAPI v2.9.0,
  ../shared/specs/pix-cobv.md): OAuth2 client credentials over mTLS, `PUT`/`PATCH`/`GET /cobv/{txid}`,
  `GET /pix?inicio=&fim=` (every page), `PUT`/`GET`/`DELETE /webhook/{chave}`. Tested against tests/fakes/pix_psp.py.

Choices on what the spec leaves UNCONFIRMED (confirm each in the PSP's manual before going live):

- token request: `POST PIX_TOKEN_URL` with `grant_type=client_credentials` as a form and the client id/secret in
  HTTP Basic (RFC 6749 §2.3.1, what Efí and most PSPs document), no `scope` (the PSP grants the scopes the
  application was registered with); the answer's `expires_in` is honoured minus a margin, and a 401 on a
  call made with a cached token fetches a new token and retries that call once;
- `PIX_API_URL` carries the major version (`https://…/v2`): paths are appended to it (`/cobv/{txid}`);
- a `PUT /cobv` whose answer has no `loc.location` (the PSP did not create a location): one is made with
  `POST /loc {"tipoCob":"cobv"}` and linked with `PATCH /cobv/{txid} {"loc":{"id":…}}`;
- an answer without `pixCopiaECola`: the BR Code is built from `loc.location` (`dynamic_payload`), as the spec's
  "BR Code of a cobv" section describes; when the PSP gives one, it is kept verbatim (its CRC covers its bytes);
- a revision sends only what changes (`{"calendario":{"dataDeVencimento"}}`, `{"valor":{"original"}}`): the PSP
  merges it into the cobv (multa and juros stay as they were); a removal sends the status alone, as [O] requires.
"""

import base64
import fcntl
import hashlib
import hmac
import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from portal.billing.pix import GUI, crc16
from portal.billing.pix import _text as _brcode_text
from portal.integrations import http as http_kit
from portal.integrations.http import NoRedirects
from portal.shared import clock

__all__ = [
    "ApiPixProvider", "Cobv", "CobvRequest", "PixError", "PixProvider", "ReceivedPix", "Refund",
    "SimulatedPixProvider", "dynamic_payload", "from_config", "txid_for",
]

TXID = re.compile(r"^[A-Za-z0-9]{26,35}$")
ERROR_TYPE_BASE = "https://pix.bcb.gov.br/api/v2/error/"
ATIVA = "ATIVA"
CONCLUIDA = "CONCLUIDA"
REMOVIDA = "REMOVIDA_PELO_USUARIO_RECEBEDOR"
MAX_AMOUNT_CENTS = 99_999_999_999  # "\d{1,10}\.\d{2}"
MAX_PAGE_SIZE = 1000  # paginacao.itensPorPagina


# ================================================================ txids

def txid_for(invoice_id: int, version: int, secret_or_prefix: str) -> str:
    """The cobv txid of an invoice's `version` (1 = the first cobv, 2 = its 2ª via, …): 32 lowercase hex
    characters, the HMAC-SHA256 of "invoice_id:version" under `secret_or_prefix`, truncated.

    The spec suggests `uuid4().hex` stored before the PUT; issue 15 asks instead for txids deterministic per
    invoice and version, so a job retried after a timeout (the PSP may have created the cobv, the portal never
    heard) recreates the *same* txid and the PUT replaces the cobv instead of leaving a second, payable one.
    The HMAC keeps txids unguessable from invoice numbers (they travel in every Pix the payer's bank sees);
    `secret_or_prefix` must stay the same for the life of the invoices (the portal stores the txid anyway).
    32 characters, like every example in the API Pix, within the TxId schema's 26–35 alphanumerics.
    """
    if not isinstance(invoice_id, int) or isinstance(invoice_id, bool) or invoice_id < 1:
        raise ValueError(f"invoice_id must be a positive int, got {invoice_id!r}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be an int ≥ 1, got {version!r}")
    if not isinstance(secret_or_prefix, str) or not secret_or_prefix:
        raise ValueError("txid_for needs a non-empty secret")
    digest = hmac.new(secret_or_prefix.encode(), f"pix-cobv-txid:{invoice_id}:{version}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


# ================================================================ data

@dataclass(frozen=True)
class CobvRequest:
    """What the portal asks of a cobv. Money in int centavos; rates in basis points (200 = 2 %)."""

    txid: str
    due_date: date
    amount_cents: int
    payer_document: str  # CNPJ (14, letters allowed since 2.9.0) or CPF (11 digits); punctuation is stripped
    payer_name: str
    chave: str  # our Pix key (PIX_KEY)
    fine_bp: int = 0  # multa, percentual (modalidade 2)
    interest_monthly_bp: int = 0  # juros, percentual ao mês, dias corridos (modalidade 3)
    rebate_cents: int = 0  # abatimento, valor fixo (modalidade 1)
    days_valid_after_due: int = 30  # calendario.validadeAposVencimento
    solicitation: str = ""  # solicitacaoPagador, ≤ 140, shown to the payer


@dataclass(frozen=True)
class Refund:
    """A devolução of a received Pix (`devolucoes[]`)."""

    id: str
    rtr_id: str
    amount_cents: int
    status: str  # EM_PROCESSAMENTO, DEVOLVIDO, NAO_REALIZADO
    nature: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ReceivedPix:
    """A Pix received (`/pix`, `GET /cobv` `pix[]`, the webhook's `pix[]`); `end_to_end_id` identifies it."""

    end_to_end_id: str
    txid: str | None
    amount_cents: int
    paid_at: datetime  # aware
    payer_info: str = ""
    components: Mapping[str, int] = field(default_factory=dict)  # original/juros/multa/desconto/abatimento → cents
    refunds: tuple[Refund, ...] = ()


@dataclass(frozen=True)
class Cobv:
    """A cobv as the PSP holds it."""

    txid: str
    revision: int
    status: str  # ATIVA, CONCLUIDA, REMOVIDA_PELO_USUARIO_RECEBEDOR, REMOVIDA_PELO_PSP
    due_date: date
    amount_cents: int
    location: str  # loc.location (no scheme), what the QR points to
    pix_copia_e_cola: str  # the dynamic BR Code to show and print
    loc_id: int | None = None
    pix: tuple[ReceivedPix, ...] = ()


class PixError(Exception):
    """The PSP refused (an RFC 7807 problem: `title`, `detail`, `type`, `status`) or could not be reached
    (`status` None). `retryable` says whether trying later can help."""

    def __init__(self, message: str, *, status: int | None = None, title: str = "", detail: str = "",
                 type: str = "", violations: tuple = (), retryable: bool = False) -> None:  # noqa: A002 - RFC 7807
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.violations = violations
        self.retryable = retryable

    @property
    def name(self) -> str:
        """The problem's last path segment, e.g. "CobVNaoEncontrada"."""
        return self.type.rstrip("/").rpartition("/")[2]


class PixProvider(Protocol):
    name: str

    def create_cobv(self, request: CobvRequest) -> Cobv:
        """`PUT /cobv/{txid}`: create, or replace an ATIVA one (the same txid again is idempotent)."""

    def revise_cobv(self, txid: str, *, due_date: date | None = None, amount_cents: int | None = None) -> Cobv:
        """`PATCH /cobv/{txid}` with a new due date and/or amount (a 2ª via); revisão + 1."""

    def remove_cobv(self, txid: str) -> Cobv:
        """`PATCH /cobv/{txid}` `{"status":"REMOVIDA_PELO_USUARIO_RECEBEDOR"}` (a cancelled invoice)."""

    def get_cobv(self, txid: str) -> Cobv:
        """`GET /cobv/{txid}`, with the Pix received for it."""

    def received(self, start: datetime, end: datetime) -> list[ReceivedPix]:
        """`GET /pix?inicio=&fim=`: every Pix received in [start, end], all pages."""

    def register_webhook(self, url: str) -> None:
        """`PUT /webhook/{chave}`: the PSP will POST `{"pix":[…]}` to `url + "/pix"`."""

    def webhook(self) -> str | None:
        """`GET /webhook/{chave}`: the URL registered for our key, None when there is none."""

    def remove_webhook(self) -> None:
        """`DELETE /webhook/{chave}` (PixError 404 when none is registered)."""


# ================================================================ shared: bodies, amounts, BR Code

def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _percent(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}"


def _cents(text: Any) -> int:
    match = re.fullmatch(r"(\d{1,10})\.(\d{2})", str(text or ""))
    if not match:
        raise PixError(f"not an API Pix amount: {text!r}")
    return int(match.group(1)) * 100 + int(match.group(2))


def _document(value: str) -> tuple[str, str]:
    """("cnpj" | "cpf", digits and letters) of a document typed with or without punctuation."""
    clean = re.sub(r"[.\-/\s]", "", value or "").upper()
    if re.fullmatch(r"[0-9A-Z]{12}[0-9]{2}", clean):
        return "cnpj", clean
    if re.fullmatch(r"[0-9]{11}", clean):
        return "cpf", clean
    raise PixError(f"the payer's document is neither a CNPJ nor a CPF: {value!r}")


def _check_txid(txid: str) -> None:
    if not isinstance(txid, str) or not TXID.match(txid):
        raise PixError(f"a cobv txid is 26–35 letters and digits, not {txid!r}")


def _check_amount(cents: Any, what: str = "amount_cents") -> None:
    if not isinstance(cents, int) or isinstance(cents, bool) or not 0 < cents <= MAX_AMOUNT_CENTS:
        raise PixError(f"{what} must be an int between 1 and {MAX_AMOUNT_CENTS} centavos, got {cents!r}")


def cobv_body(request: CobvRequest) -> dict:
    """The CobVSolicitada for `request` (checked before anything is sent)."""
    _check_txid(request.txid)
    _check_amount(request.amount_cents)
    kind, number = _document(request.payer_document)
    name = (request.payer_name or "").strip()
    if not name or len(name) > 200:
        raise PixError("the payer's name must have 1–200 characters")
    if not request.chave or len(request.chave) > 77:
        raise PixError("the Pix key (chave) must have 1–77 characters")
    if len(request.solicitation) > 140:
        raise PixError("solicitacaoPagador has at most 140 characters")
    if request.days_valid_after_due < 0:
        raise PixError("days_valid_after_due must be ≥ 0")
    valor: dict[str, Any] = {"original": _money(request.amount_cents)}
    if request.fine_bp:
        valor["multa"] = {"modalidade": 2, "valorPerc": _percent(request.fine_bp)}
    if request.interest_monthly_bp:
        valor["juros"] = {"modalidade": 3, "valorPerc": _percent(request.interest_monthly_bp)}
    if request.rebate_cents:
        if not 0 < request.rebate_cents < request.amount_cents:
            raise PixError("the abatimento must be below the amount")
        valor["abatimento"] = {"modalidade": 1, "valorPerc": _money(request.rebate_cents)}
    body: dict[str, Any] = {
        "calendario": {"dataDeVencimento": request.due_date.isoformat(),
                       "validadeAposVencimento": request.days_valid_after_due},
        "devedor": {kind: number, "nome": name},
        "valor": valor,
        "chave": request.chave,
    }
    if request.solicitation:
        body["solicitacaoPagador"] = request.solicitation
    return body


def dynamic_payload(location: str, name: str, city: str) -> str:
    """The BR Code of a cobv whose payload lives at `location` (no scheme): template 26 with the GUI and field
    25, no amount (the payer's PSP reads it from the location), `***` in 62/05, CRC-16 as portal/billing/pix.py.
    Name and city are stripped of accents and cut to 25 and 15 characters."""
    if not location or "://" in location or len(location) > 77:
        raise PixError(f"not a payload location: {location!r}")
    merchant_name, merchant_city = _brcode_text("name", name, 25), _brcode_text("city", city, 15)
    if not merchant_name or not merchant_city:
        raise PixError("the BR Code needs the merchant's name and city")

    def tlv(field_id: str, value: str) -> str:
        return f"{field_id}{len(value):02d}{value}"

    payload = (tlv("00", "01") + tlv("01", "12") + tlv("26", tlv("00", GUI) + tlv("25", location))
               + tlv("52", "0000") + tlv("53", "986") + tlv("58", "BR") + tlv("59", merchant_name)
               + tlv("60", merchant_city) + tlv("62", tlv("05", "***")) + "6304")
    return payload + crc16(payload)


def _instant(text: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise PixError(f"not an RFC 3339 instant: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("pass aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_pix(item: Mapping[str, Any]) -> ReceivedPix:
    """A `Pix` object (from /pix, a cobv's pix[] or a webhook) → ReceivedPix; PixError when it is not one."""
    if not isinstance(item, Mapping) or not item.get("endToEndId"):
        raise PixError(f"not a Pix: {str(item)[:200]}")
    components = {}
    for key, part in (item.get("componentesValor") or {}).items():
        if isinstance(part, Mapping) and "valor" in part:
            components[key] = _cents(part["valor"])
    refunds = []
    for refund in item.get("devolucoes") or []:
        if isinstance(refund, Mapping):
            refunds.append(Refund(id=str(refund.get("id") or ""), rtr_id=str(refund.get("rtrId") or ""),
                                  amount_cents=_cents(refund.get("valor")), status=str(refund.get("status") or ""),
                                  nature=str(refund.get("natureza") or ""), reason=str(refund.get("motivo") or "")))
    return ReceivedPix(end_to_end_id=str(item["endToEndId"]), txid=item.get("txid") or None,
                       amount_cents=_cents(item.get("valor")), paid_at=_instant(item.get("horario")),
                       payer_info=str(item.get("infoPagador") or ""), components=components, refunds=tuple(refunds))


def pix_json(pix: ReceivedPix) -> dict:
    """A ReceivedPix as the API Pix writes it (the webhook body's items)."""
    item: dict[str, Any] = {"endToEndId": pix.end_to_end_id, "valor": _money(pix.amount_cents),
                            "horario": _rfc3339(pix.paid_at)}
    if pix.txid:
        item["txid"] = pix.txid
    if pix.components:
        item["componentesValor"] = {k: {"valor": _money(v)} for k, v in pix.components.items()}
    if pix.payer_info:
        item["infoPagador"] = pix.payer_info
    if pix.refunds:
        item["devolucoes"] = [{"id": r.id, "rtrId": r.rtr_id, "valor": _money(r.amount_cents), "status": r.status,
                               **({"natureza": r.nature} if r.nature else {})} for r in pix.refunds]
    return item


# ================================================================ the simulator

def _cobv_state(cobv: Cobv) -> dict:
    return {"txid": cobv.txid, "revision": cobv.revision, "status": cobv.status, "due_date": cobv.due_date.isoformat(),
            "amount_cents": cobv.amount_cents, "location": cobv.location, "pix_copia_e_cola": cobv.pix_copia_e_cola,
            "loc_id": cobv.loc_id, "pix": [pix_json(p) for p in cobv.pix]}


def _cobv_from_state(state: Mapping[str, Any]) -> Cobv:
    return Cobv(txid=state["txid"], revision=state["revision"], status=state["status"],
                due_date=date.fromisoformat(state["due_date"]), amount_cents=state["amount_cents"],
                location=state["location"], pix_copia_e_cola=state["pix_copia_e_cola"], loc_id=state["loc_id"],
                pix=tuple(parse_pix(p) for p in state["pix"]))


class SimulatedPixProvider:
    """A SIMULATOR of a PSP speaking the API Pix: nothing leaves the machine and no money moves. It applies the
    API's rules (PUT replaces only an ATIVA cobv, PATCH only an ATIVA one, 404 CobVNaoEncontrada, the status alone
    to remove), gives each cobv a location under `location_host` and the dynamic BR Code for it
    (`dynamic_payload`), and `pay(txid)` stands for a payer: the cobv becomes CONCLUIDA and a Pix is recorded,
    returned, and listed by `received`. The registered webhook URL is only remembered (`webhook()`): the caller
    delivers `webhook_body(pix)` itself if it wants the webhook path exercised.

    State lives in this process's memory, or with `state_dir` (PIX_SIMULATOR_DIR, as ESIGN_SIMULATOR_DIR) in
    `state.json` there, read and rewritten under an exclusive `flock` for every operation, so the web process
    and the job consumer see the same cobvs (a cobv made by the job, paid from the staff button).
    """

    name = "simulator"
    STATE_FILE = "state.json"

    def __init__(self, chave: str, merchant_name: str, merchant_city: str,
                 location_host: str = "pix.simulador.invalid", state_dir: str | None = None) -> None:
        self.chave = chave
        self.merchant_name = merchant_name
        self.merchant_city = merchant_city
        self.location_host = location_host
        self.state_dir = Path(state_dir) if state_dir else None
        self._memory: dict = self._empty()
        self._lock = threading.Lock()

    @staticmethod
    def _empty() -> dict:
        return {"cobvs": {}, "bodies": {}, "received": [], "next_loc": 1, "webhook_url": None}

    @contextmanager
    def _state(self, write: bool = True) -> Iterator[dict]:
        with self._lock:
            if self.state_dir is None:
                yield self._memory
                return
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with open(self.state_dir / ".lock", "a+") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                path = self.state_dir / self.STATE_FILE
                state = json.loads(path.read_text()) if path.exists() else self._empty()
                yield state
                if write:
                    temporary = path.with_name(f"{self.STATE_FILE}.{uuid.uuid4().hex}")
                    temporary.write_text(json.dumps(state))
                    temporary.replace(path)

    @property
    def webhook_url(self) -> str | None:
        with self._state(write=False) as state:
            return state["webhook_url"]

    @staticmethod
    def _problem(status: int, name: str, detail: str) -> PixError:
        title = {"CobVNaoEncontrada": "Cobrança não encontrada.",
                 "CobVOperacaoInvalida": "Cobrança inválida.",
                 "WebhookNaoEncontrado": "Webhook não encontrado."}.get(name, name)
        return PixError(f"{title} {detail}", status=status, title=title, detail=detail,
                        type=ERROR_TYPE_BASE + name, retryable=False)

    def _get(self, state: dict, txid: str) -> Cobv:
        _check_txid(txid)
        found = state["cobvs"].get(txid)
        if found is None:
            raise self._problem(404, "CobVNaoEncontrada", f"Nenhuma cobrança encontrada para o txid {txid}.")
        return _cobv_from_state(found)

    def _active(self, state: dict, txid: str) -> Cobv:
        current = self._get(state, txid)
        if current.status != ATIVA:
            raise self._problem(400, "CobVOperacaoInvalida", f"A cobrança {txid} não está ATIVA.")
        return current

    @staticmethod
    def _put(state: dict, cobv: Cobv) -> Cobv:
        state["cobvs"][cobv.txid] = _cobv_state(cobv)
        return cobv

    def create_cobv(self, request: CobvRequest) -> Cobv:
        body = cobv_body(request)  # the same checks as the real adapter
        with self._state() as state:
            state["bodies"][request.txid] = body
            existing = state["cobvs"].get(request.txid)
            if existing is not None and existing["status"] != ATIVA:
                raise self._problem(400, "CobVOperacaoInvalida",
                                    f"A cobrança {request.txid} está {existing['status']} e não pode ser alterada.")
            if existing is None:
                loc_id, state["next_loc"] = state["next_loc"], state["next_loc"] + 1
                location = f"{self.location_host}/qr/v2/cobv/{uuid.uuid4().hex}"
                revision = 0
            else:
                loc_id, location, revision = existing["loc_id"], existing["location"], existing["revision"] + 1
            return self._put(state, Cobv(
                txid=request.txid, revision=revision, status=ATIVA, due_date=request.due_date,
                amount_cents=request.amount_cents, location=location, loc_id=loc_id,
                pix_copia_e_cola=dynamic_payload(location, self.merchant_name, self.merchant_city)))

    def revise_cobv(self, txid: str, *, due_date: date | None = None, amount_cents: int | None = None) -> Cobv:
        if due_date is None and amount_cents is None:
            raise PixError("a revision needs a new due date or amount")
        if amount_cents is not None:
            _check_amount(amount_cents)
        with self._state() as state:
            current = self._active(state, txid)
            return self._put(state, replace(current, revision=current.revision + 1,
                                            due_date=due_date or current.due_date,
                                            amount_cents=amount_cents or current.amount_cents))

    def remove_cobv(self, txid: str) -> Cobv:
        with self._state() as state:
            current = self._active(state, txid)
            return self._put(state, replace(current, revision=current.revision + 1, status=REMOVIDA))

    def get_cobv(self, txid: str) -> Cobv:
        with self._state(write=False) as state:
            return self._get(state, txid)

    def body_of(self, txid: str) -> dict:
        """The CobVSolicitada last PUT for `txid` (what a PSP would have received)."""
        with self._state(write=False) as state:
            return state["bodies"][txid]

    def received(self, start: datetime, end: datetime) -> list[ReceivedPix]:
        with self._state(write=False) as state:
            found = [parse_pix(item) for item in state["received"]]
        return [pix for pix in found if start <= pix.paid_at <= end]

    def register_webhook(self, url: str) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise PixError(f"the webhook URL must be http(s), not {url!r}")
        with self._state() as state:
            state["webhook_url"] = url

    def webhook(self) -> str | None:
        return self.webhook_url

    def remove_webhook(self) -> None:
        with self._state() as state:
            if state["webhook_url"] is None:
                raise self._problem(404, "WebhookNaoEncontrado", f"Nenhum webhook para a chave {self.chave}.")
            state["webhook_url"] = None

    # ------------------------------------------------------------ the simulated payer

    def pay(self, txid: str, amount_cents: int | None = None, at: datetime | None = None) -> ReceivedPix:
        """A payer pays the cobv (its amount unless told): CONCLUIDA, and the Pix recorded and returned."""
        with self._state() as state:
            current = self._active(state, txid)
            paid = amount_cents or current.amount_cents
            now = clock.now()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # what RFC 3339 in the API keeps
            pix = ReceivedPix(end_to_end_id="E00000000" + now.strftime("%Y%m%d%H%M") + uuid.uuid4().hex[:11],
                              txid=txid, amount_cents=paid, paid_at=at or now,
                              payer_info="Pagamento simulado", components={"original": current.amount_cents})
            self._put(state, replace(current, status=CONCLUIDA, pix=(*current.pix, pix)))
            state["received"].append(pix_json(pix))
            return pix

    def refund(self, end_to_end_id: str, amount_cents: int, refund_id: str = "D1") -> ReceivedPix:
        """The recebedor refunds part or all of a received Pix, settled at once (DEVOLVIDO); the Pix with it."""
        _check_amount(amount_cents)
        with self._state() as state:
            for index, item in enumerate(state["received"]):
                if item["endToEndId"] == end_to_end_id:
                    pix = parse_pix(item)
                    rtr = "D00000000" + clock.now().strftime("%Y%m%d%H%M") + uuid.uuid4().hex[:11]
                    pix = replace(pix, refunds=(*pix.refunds, Refund(id=refund_id, rtr_id=rtr,
                                                                     amount_cents=amount_cents, status="DEVOLVIDO")))
                    state["received"][index] = pix_json(pix)
                    return pix
        raise self._problem(404, "PixNaoEncontrado", f"Nenhum Pix {end_to_end_id}.")

    @staticmethod
    def webhook_body(*pix: ReceivedPix) -> dict:
        """The body the PSP would POST to `{webhookUrl}/pix`."""
        return {"pix": [pix_json(p) for p in pix]}


# ================================================================ the API Pix adapter

class ApiPixProvider:
    """The Banco Central's API Pix over `urllib.request` with mTLS (the client certificate the PSP issued, on
    every call, token included) and OAuth2 client credentials (see the module docstring for what is chosen).

    Errors: RFC 7807 problems become PixError with the problem's title/detail/type (retryable for 408, 429 and
    5xx); no answer within `timeout` seconds, or a refused TLS handshake, is a retryable PixError.
    """

    name = "api_pix"
    TOKEN_MARGIN_SECONDS = 30.0

    def __init__(self, api_url: str, token_url: str, client_id: str, client_secret: str, *, chave: str,
                 cert_file: str, key_file: str, ca_file: str | None = None, merchant_name: str = "",
                 merchant_city: str = "", timeout: float = 30, page_size: int = MAX_PAGE_SIZE) -> None:
        for setting, url in (("PIX_API_URL", api_url), ("PIX_TOKEN_URL", token_url)):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme != "https" or not parts.netloc:
                raise ValueError(f"{setting} must be an https URL (the API Pix runs over mTLS), not {url!r}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1–{MAX_PAGE_SIZE}")
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.chave = chave
        self.merchant_name = merchant_name
        self.merchant_city = merchant_city
        self.timeout = timeout
        self.page_size = page_size
        context = ssl.create_default_context(cafile=ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        self._opener = urllib.request.build_opener(NoRedirects, urllib.request.HTTPSHandler(context=context))
        self._token: str | None = None
        self._token_expires = 0.0  # time.monotonic()
        self._token_lock = threading.Lock()

    # ------------------------------------------------------------ PixProvider

    def create_cobv(self, request: CobvRequest) -> Cobv:
        body = cobv_body(request)
        answer = self._call("PUT", f"/cobv/{request.txid}", body)
        if not ((answer.get("loc") or {}).get("location") or answer.get("location")):
            # The PSP made no location (UNCONFIRMED whether it must): make one and link it.
            loc = self._call("POST", "/loc", {"tipoCob": "cobv"})
            answer = self._call("PATCH", f"/cobv/{request.txid}", {"loc": {"id": loc.get("id")}})
        return self._cobv(answer)

    def revise_cobv(self, txid: str, *, due_date: date | None = None, amount_cents: int | None = None) -> Cobv:
        _check_txid(txid)
        body: dict[str, Any] = {}
        if due_date is not None:
            body["calendario"] = {"dataDeVencimento": due_date.isoformat()}
        if amount_cents is not None:
            _check_amount(amount_cents)
            body["valor"] = {"original": _money(amount_cents)}
        if not body:
            raise PixError("a revision needs a new due date or amount")
        return self._cobv(self._call("PATCH", f"/cobv/{txid}", body))

    def remove_cobv(self, txid: str) -> Cobv:
        _check_txid(txid)
        return self._cobv(self._call("PATCH", f"/cobv/{txid}", {"status": REMOVIDA}))

    def get_cobv(self, txid: str) -> Cobv:
        _check_txid(txid)
        return self._cobv(self._call("GET", f"/cobv/{txid}"))

    def received(self, start: datetime, end: datetime) -> list[ReceivedPix]:
        found: list[ReceivedPix] = []
        page = 0
        while True:
            query = urllib.parse.urlencode({"inicio": _rfc3339(start), "fim": _rfc3339(end),
                                            "paginacao.paginaAtual": page,
                                            "paginacao.itensPorPagina": self.page_size})
            answer = self._call("GET", f"/pix?{query}")
            found.extend(parse_pix(item) for item in answer.get("pix") or [])
            paging = (answer.get("parametros") or {}).get("paginacao") or {}
            pages = int(paging.get("quantidadeDePaginas") or 1)
            page += 1
            if page >= pages:
                return found

    def register_webhook(self, url: str) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise PixError(f"the webhook URL must be http(s), not {url!r}")
        self._call("PUT", self._webhook_path(), {"webhookUrl": url})

    def webhook(self) -> str | None:
        try:
            return str(self._call("GET", self._webhook_path()).get("webhookUrl") or "") or None
        except PixError as error:
            if error.status == 404:
                return None
            raise

    def remove_webhook(self) -> None:
        self._call("DELETE", self._webhook_path())

    def _webhook_path(self) -> str:
        return f"/webhook/{urllib.parse.quote(self.chave, safe='')}"

    # ------------------------------------------------------------ answers

    def _cobv(self, answer: Mapping[str, Any]) -> Cobv:
        try:
            loc = answer.get("loc") or {}
            location = str(loc.get("location") or answer.get("location") or "")
            copia_e_cola = answer.get("pixCopiaECola") or ""
            if not copia_e_cola and location:
                copia_e_cola = dynamic_payload(location, self.merchant_name or "RECEBEDOR",
                                               self.merchant_city or "BRASIL")
            return Cobv(
                txid=str(answer["txid"]), revision=int(answer.get("revisao") or 0), status=str(answer["status"]),
                due_date=date.fromisoformat(answer["calendario"]["dataDeVencimento"]),
                amount_cents=_cents(answer["valor"]["original"]), location=location,
                pix_copia_e_cola=copia_e_cola, loc_id=loc.get("id"),
                pix=tuple(parse_pix(item) for item in answer.get("pix") or []),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PixError(f"unexpected cobv from the PSP ({exc!r}): {json.dumps(answer)[:300]}") from None

    # ------------------------------------------------------------ HTTP

    def _token_now(self, *, renew: bool = False) -> str:
        with self._token_lock:
            if not renew and self._token and time.monotonic() < self._token_expires:
                return self._token
            basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            request = urllib.request.Request(  # noqa: S310 - PIX_TOKEN_URL, https checked in __init__
                self.token_url, data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json",
                         "Content-Type": "application/x-www-form-urlencoded"}, method="POST")
            status, raw = self._send(request)
            answer = _json(raw)
            if status != 200 or not isinstance(answer, dict) or not answer.get("access_token"):
                raise _problem_error(status, raw, answer, "the PSP refused the token request")
            lifetime = float(answer.get("expires_in") or 3600)
            self._token = str(answer["access_token"])
            self._token_expires = time.monotonic() + lifetime - min(self.TOKEN_MARGIN_SECONDS, lifetime / 10)
            return self._token

    def _call(self, method: str, path: str, body: Any = None) -> dict:
        renewed = False
        token = self._token_now()
        while True:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body, ensure_ascii=False).encode()
                headers["Content-Type"] = "application/json"
            # The URL is PIX_API_URL (https, checked in __init__) + a path built here.
            request = urllib.request.Request(self.api_url + path, data=data, headers=headers, method=method)  # noqa: S310
            status, raw = self._send(request)
            if status == 401 and not renewed:  # the token was revoked or expired early: once more with a new one
                token, renewed = self._token_now(renew=True), True
                continue
            answer = _json(raw)
            if not 200 <= status < 300:
                raise _problem_error(status, raw, answer, f"{method} {path.partition('?')[0]}")
            return answer if isinstance(answer, dict) else {}

    def _send(self, request: urllib.request.Request) -> tuple[int, bytes]:
        return http_kit.send(self._opener, request, self.timeout, self._network_error)

    def _network_error(self, reason: object) -> PixError:
        host = urllib.parse.urlsplit(self.api_url).netloc
        if isinstance(reason, TimeoutError):
            detail = f"no answer within {self.timeout:g} s"
        else:
            detail = str(reason) or type(reason).__name__
        return PixError(f"network error talking to the PSP ({host}): {detail}", retryable=True)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8-sig")) if raw.strip() else None
    except ValueError:
        return None


def _problem_error(status: int, raw: bytes, answer: Any, what: str) -> PixError:
    retryable = status >= 500 or status in (408, 429)
    if isinstance(answer, dict) and (answer.get("title") or answer.get("detail")):
        title, detail = str(answer.get("title") or ""), str(answer.get("detail") or "")
        violations = tuple(answer.get("violacoes") or ())
        return PixError(f"{what}: HTTP {status} {title} {detail}".strip(), status=status, title=title,
                        detail=detail, type=str(answer.get("type") or ""), violations=violations,
                        retryable=retryable)
    if isinstance(answer, dict) and answer.get("error"):  # OAuth2 token endpoint errors (RFC 6749 §5.2)
        detail = str(answer.get("error_description") or "")
        return PixError(f"{what}: HTTP {status} {answer['error']} {detail}".strip(), status=status,
                        title=str(answer["error"]), detail=detail, retryable=retryable)
    snippet = " ".join(raw.decode("utf-8", errors="replace").split())[:300] or "empty body"
    return PixError(f"{what}: HTTP {status} {snippet}", status=status, retryable=retryable)


# ================================================================ configuration

def from_config(config: Mapping[str, Any]) -> PixProvider | None:
    """The provider `PIX_BACKEND` names: "static" (default: None, no PSP; the static BR Code stays),
    "simulator" or "api_pix" (PIX_API_URL, PIX_TOKEN_URL, PIX_CLIENT_ID, PIX_CLIENT_SECRET, PIX_CERT_FILE,
    PIX_KEY_FILE, optional PIX_CA_FILE, PIX_TIMEOUT; PIX_KEY is the chave of every cobv)."""
    backend = config.get("PIX_BACKEND") or "static"
    name, city = config.get("PIX_MERCHANT_NAME") or "", config.get("PIX_MERCHANT_CITY") or ""
    if backend == "static":
        return None
    if not config.get("PIX_KEY"):
        raise RuntimeError(f"PIX_BACKEND={backend} needs PIX_KEY (the chave of the cobvs)")
    if backend == "simulator":
        return SimulatedPixProvider(config["PIX_KEY"], name or "PORTAL", city or "SAO PAULO",
                                    state_dir=config.get("PIX_SIMULATOR_DIR") or None)
    if backend == "api_pix":
        required = ("PIX_API_URL", "PIX_TOKEN_URL", "PIX_CLIENT_ID", "PIX_CLIENT_SECRET", "PIX_CERT_FILE",
                    "PIX_KEY_FILE")
        missing = [setting for setting in required if not config.get(setting)]
        if missing:
            raise RuntimeError(f"PIX_BACKEND=api_pix needs {', '.join(missing)}")
        return ApiPixProvider(
            config["PIX_API_URL"], config["PIX_TOKEN_URL"], config["PIX_CLIENT_ID"], config["PIX_CLIENT_SECRET"],
            chave=config["PIX_KEY"], cert_file=config["PIX_CERT_FILE"], key_file=config["PIX_KEY_FILE"],
            ca_file=config.get("PIX_CA_FILE") or None, merchant_name=name, merchant_city=city,
            timeout=float(config.get("PIX_TIMEOUT") or 30),
        )
    raise RuntimeError(f"PIX_BACKEND must be static, simulator or api_pix, not {backend!r}")
