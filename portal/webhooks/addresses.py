"""Which addresses a webhook may be sent to: `https://` on public IP addresses only, so a Master cannot make the
portal call into its own network (SSRF: 127.0.0.0/8, 10/8, 172.16/12, 192.168/16, 169.254/16 — cloud metadata —,
0.0.0.0, ::1, fc00::/7, fe80::/10 and every other non-global range).

Checked when an endpoint is registered and again before each attempt (its host name is resolved anew, so a name
that later resolves to a private address — DNS rebinding — is refused then); the HTTP adapter also checks the
address it actually connected to (portal/integrations/webhook_http.py). `WEBHOOKS_ALLOW_LOOPBACK` admits loopback
addresses and plain http, for tests and local trials only.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2000


class AddressRefused(Exception):
    """`reason`: scheme, format, credentials, dns or private (see service.ADDRESS_MESSAGES)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    addresses: tuple[str, ...]  # what the host resolved to, every one allowed


def ip_allowed(address: str, *, allow_loopback: bool) -> bool:
    """Whether the portal may connect to `address` (an IPv4 or IPv6 literal)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local)


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a test replaces this to play a DNS server)."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def check_url(url: str, *, allow_loopback: bool) -> Target:
    """The URL's host, port and addresses, or AddressRefused. Every address the host resolves to must be allowed:
    one private answer among public ones is enough to refuse (the client may pick any of them)."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL:
        raise AddressRefused("format")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused("format", str(exc)) from None
    if parts.scheme not in ({"https", "http"} if allow_loopback else {"https"}):
        raise AddressRefused("scheme", parts.scheme)
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("credentials")
    host = parts.hostname
    if not host:
        raise AddressRefused("format")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused("dns", str(exc)) from None
    if not addresses:
        raise AddressRefused("dns")
    refused = [address for address in addresses if not ip_allowed(address, allow_loopback=allow_loopback)]
    if refused:
        raise AddressRefused("private", ", ".join(refused))
    return Target(host=host, port=port, addresses=tuple(addresses))
