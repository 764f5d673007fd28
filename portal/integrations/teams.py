"""Microsoft Teams: the `TeamsNotifier` Protocol for the onboarding handover card (chosen by TEAMS_BACKEND).

- `simulator` (default): `TeamsSimulator` keeps the cards it would have posted (shown in the backoffice).
- `workflows`: `WorkflowsWebhookNotifier` POSTs an Adaptive Card envelope to a Teams Workflows ("When a Teams
  webhook request is received") URL and treats any 2xx (normally 202) as accepted. Office 365 connectors are
  retired; pymsteams builds the old MessageCard format and is not used.
"""

import http.client
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from portal.integrations.http import opener_without_redirects


@dataclass(frozen=True)
class HandoverCard:
    """The card of ../shared/seeds/000_*: title "Empresa - Responsável" and the minimum checklist."""

    company: str
    responsible: str
    phone: str
    email: str
    disk_space: str  # "500 GB", or "—"
    installation_sites: str
    licenses: str  # Windows Server licenses (Backup em Nuvem), or the license counts of the proposal
    windows_server_version: str
    billing_date: str  # dd/mm/aaaa
    first_payment_date: str  # dd/mm/aaaa
    notes: str
    contract_url: str  # link to the signed contract in the portal

    @property
    def title(self) -> str:
        return f"{self.company} - {self.responsible}"


class TeamsError(Exception):
    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class TeamsNotifier(Protocol):
    name: str

    def post_card(self, card: HandoverCard) -> None:
        """Post the card; raise TeamsError on refusal (retryable for 429/5xx and network trouble)."""


# ---------------------------------------------------------------- the Adaptive Card

ADAPTIVE_CARD_MIME = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_VERSION = "1.4"  # Teams renders up to 1.5; 1.4 is what the Workflows template posts

# The card's facts, in the order of the minimum checklist (../shared/seeds/000_*). Labels follow the locale of
# the context posting the card: jobs post in Portuguese (portal/app.py `_select_locale`).
FACTS = (
    ("company", _l("Empresa")),
    ("responsible", _l("Responsável")),
    ("phone", _l("Telefone")),
    ("email", _l("E-mail")),
    ("disk_space", _l("Espaço contratado")),
    ("installation_sites", _l("Quantidade de instalações")),
    ("licenses", _l("Quantidade de licenças")),
    ("windows_server_version", _l("Versão do Windows Server")),
    ("billing_date", _l("Data de faturamento")),
    ("first_payment_date", _l("Data da 1ª mensalidade")),
    ("notes", _l("Observações")),
)
OPEN_CONTRACT = _l("Abrir contrato assinado")
EMPTY = "—"  # Teams draws an empty fact as a dangling label


def adaptive_card(card: HandoverCard) -> dict:
    """The Workflows webhook envelope: a "message" with the card as its one Adaptive Card attachment."""
    facts = [{"title": str(label), "value": str(getattr(card, name) or "").strip() or EMPTY}
             for name, label in FACTS]
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": [
            {"type": "TextBlock", "text": card.title, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    if card.contract_url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": str(OPEN_CONTRACT), "url": card.contract_url}]
    return {"type": "message",
            "attachments": [{"contentType": ADAPTIVE_CARD_MIME, "contentUrl": None, "content": content}]}


# ---------------------------------------------------------------- the simulator

class TeamsSimulator:
    """A SIMULATOR of the Teams channel: keeps every card it was given in `posted` (process memory, forgotten on
    restart). `fail_with` (tests) makes every post raise that TeamsError instead."""

    name = "simulator"

    def __init__(self, fail_with: TeamsError | None = None) -> None:
        self.posted: list[HandoverCard] = []
        self.fail_with = fail_with
        self._lock = threading.Lock()

    def post_card(self, card: HandoverCard) -> None:
        adaptive_card(card)  # built as the real adapter would, so a card it cannot build fails here too
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.posted.append(card)


# ---------------------------------------------------------------- Teams Workflows

_OPENER = opener_without_redirects()


class WorkflowsWebhookNotifier:
    """POSTs the card to a Teams Workflows webhook URL (../shared/notes/integrations.md §4).

    Any 2xx is accepted (Workflows answers 202: the flow runs later, so acceptance is not delivery). 408, 429,
    5xx and network trouble are retryable; any other answer is not. The URL is a signed secret (its query
    carries the signature): messages name only its host.
    """

    name = "workflows"

    def __init__(self, url: str, timeout: float = 10) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("TEAMS_WEBHOOK_URL must be an http(s) URL")
        self.url = url
        self.host = parts.netloc
        self.timeout = timeout

    def post_card(self, card: HandoverCard) -> None:
        body = json.dumps(adaptive_card(card), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        # The URL is TEAMS_WEBHOOK_URL, an http(s) URL checked in __init__.
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with _OPENER.open(request, timeout=self.timeout) as answer:
                status, raw = answer.status, b""
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                raw = exc.read()
            except (OSError, http.client.HTTPException):
                raw = b""
        except urllib.error.URLError as exc:
            raise self._network_error(exc.reason) from None
        except (OSError, http.client.HTTPException) as exc:  # timeouts while reading, dropped connections
            raise self._network_error(exc) from None
        if 200 <= status < 300:
            return
        snippet = " ".join(raw.decode("utf-8", errors="replace").split())[:300] or "empty body"
        retryable = status >= 500 or status in (408, 429)
        raise TeamsError(f"Teams Workflows ({self.host}) answered HTTP {status}: {snippet}", retryable=retryable,
                         status=status)

    def _network_error(self, reason: object) -> TeamsError:
        detail = f"no answer within {self.timeout:g} s" if isinstance(reason, TimeoutError) else (
            str(reason) or type(reason).__name__)
        return TeamsError(f"network error posting to Teams Workflows ({self.host}): {detail}", retryable=True)


# ---------------------------------------------------------------- configuration

def from_config(config: Mapping[str, Any]) -> TeamsNotifier:
    """The notifier `TEAMS_BACKEND` names: "simulator" (default) or "workflows" (needs TEAMS_WEBHOOK_URL;
    TEAMS_TIMEOUT in seconds, default 10)."""
    backend = config.get("TEAMS_BACKEND") or "simulator"
    if backend == "simulator":
        return TeamsSimulator()
    if backend == "workflows":
        url = config.get("TEAMS_WEBHOOK_URL")
        if not url:
            raise RuntimeError("TEAMS_BACKEND=workflows needs TEAMS_WEBHOOK_URL (the flow's webhook URL)")
        return WorkflowsWebhookNotifier(url, timeout=float(config.get("TEAMS_TIMEOUT") or 10))
    raise RuntimeError(f"TEAMS_BACKEND must be simulator or workflows, not {backend!r}")
