"""Pix BR Code (specs/pix.md): static "copia e cola" payloads, their CRC-16 and a TLV reader. Pure."""

# Pure by rule 1: no Flask, no database. Money is int centavos (rule 4); the amount is written from the
# integer with two decimals, never through a float. A payload is EMV QRCPS-MPM TLV: ID(2) LEN(2) VALUE.

import string
import unicodedata

__all__ = ["crc16", "crc_ok", "parse_payload", "static_payload"]

GUI = "br.gov.bcb.pix"  # lower case, as in the BCB manual's static example (P1)
MAX_VALUE = 99  # any TLV value, and the whole merchant account template 26
MAX_NAME = 25
MAX_CITY = 15
MAX_TXID = 25
MAX_AMOUNT_CENTS = 999_999_999_999  # field 54 holds at most 13 characters: "9999999999.99"
OPEN_TXID = "***"  # static code without an identifier
NESTED = frozenset({"26", "62"})  # templates parse_payload reads into dicts
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")
_ALNUM = frozenset(string.ascii_letters + string.digits)


def _crc16_table() -> tuple[int, ...]:
    """The CRC of each byte value, computed bit by bit once (the billing run makes a payload per invoice)."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC16_TABLE = _crc16_table()


def crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) as 4 uppercase hex digits."""
    crc = 0xFFFF
    table = _CRC16_TABLE
    for byte in data.encode("utf-8"):
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return f"{crc:04X}"


def _tlv(field_id: str, value: str) -> str:
    if len(value) > MAX_VALUE:
        raise ValueError(f"Pix field {field_id} is {len(value)} characters long; the limit is {MAX_VALUE}")
    return f"{field_id}{len(value):02d}{value}"


def _text(name: str, value: object, limit: int | None = None) -> str:
    """Accents stripped (ã → a, ç → c), then truncated to `limit`; anything still not printable ASCII is refused."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    decomposed = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in decomposed if not unicodedata.combining(c)).strip()
    bad = sorted({c for c in text if c not in _PRINTABLE})
    if bad:
        raise ValueError(f"Pix {name} has characters a BR Code cannot carry: {''.join(bad)!r}")
    if limit is not None:
        text = text[:limit].rstrip()
    return text


def _amount(amount_cents: object) -> str:
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise TypeError(f"amount_cents must be an int (centavos) or None, got {type(amount_cents).__name__}")
    if not 0 < amount_cents <= MAX_AMOUNT_CENTS:
        raise ValueError(
            f"amount_cents must be between 1 and {MAX_AMOUNT_CENTS} (None for an open amount), got {amount_cents}"
        )
    return f"{amount_cents // 100}.{amount_cents % 100:02d}"


def static_payload(
    key: str,
    name: str,
    city: str,
    amount_cents: int | None = None,
    txid: str = "***",
    description: str | None = None,
) -> str:
    """The static BR Code ("copia e cola") paying `amount_cents` (None: the payer types it) to a Pix key.

    Name and city are stripped of accents and truncated to 25 and 15 characters; the key is used as
    given (a key is exact); an empty description is left out. ValueError when the key and description
    do not fit the 99-character template 26, or the txid is not "***" or 1–25 ASCII letters and digits.
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, got {type(key).__name__}")
    if not key or any(c not in _PRINTABLE or c.isspace() for c in key):
        raise ValueError(f"Pix key must be non-empty printable ASCII without spaces, got {key!r}")
    merchant_name = _text("name", name, MAX_NAME)
    merchant_city = _text("city", city, MAX_CITY)
    if not merchant_name or not merchant_city:
        raise ValueError("Pix name and city must not be empty")
    if not isinstance(txid, str):
        raise TypeError(f"txid must be a str, got {type(txid).__name__}")
    if txid != OPEN_TXID and not (0 < len(txid) <= MAX_TXID and all(c in _ALNUM for c in txid)):
        raise ValueError(f"txid must be '***' or 1–{MAX_TXID} ASCII letters and digits, got {txid!r}")

    account = _tlv("00", GUI) + _tlv("01", key)
    if description is not None:
        text = _text("description", description)
        if text:
            account += _tlv("02", text)
    if len(account) > MAX_VALUE:
        raise ValueError(
            f"Pix key and description take {len(account)} characters of template 26; the limit is {MAX_VALUE}"
        )
    payload = (
        _tlv("00", "01")
        + _tlv("26", account)
        + _tlv("52", "0000")
        + _tlv("53", "986")
        + ("" if amount_cents is None else _tlv("54", _amount(amount_cents)))
        + _tlv("58", "BR")
        + _tlv("59", merchant_name)
        + _tlv("60", merchant_city)
        + _tlv("62", _tlv("05", txid))
        + "6304"
    )
    return payload + crc16(payload)


def _parse_tlv(data: str, where: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    i = 0
    while i < len(data):
        head = data[i : i + 4]
        if len(head) < 4 or not all(c in string.digits for c in head):
            raise ValueError(f"bad TLV header {head!r} at position {i}{where}")
        field_id, length = head[:2], int(head[2:])
        value = data[i + 4 : i + 4 + length]
        if len(value) != length:
            raise ValueError(f"field {field_id}{where} declares {length} characters but only {len(value)} remain")
        if field_id in fields:
            raise ValueError(f"field {field_id} appears twice{where}")
        fields[field_id] = value
        i += 4 + length
    return fields


def parse_payload(payload: str) -> dict[str, str | dict]:
    """The payload's TLV fields by ID; templates 26 and 62 as dicts of their sub-fields. Does not check the CRC."""
    if not isinstance(payload, str):
        raise TypeError(f"payload must be a str, got {type(payload).__name__}")
    parsed: dict[str, str | dict] = {}
    for field_id, value in _parse_tlv(payload, "").items():
        parsed[field_id] = _parse_tlv(value, f" inside field {field_id}") if field_id in NESTED else value
    return parsed


def crc_ok(payload: str) -> bool:
    """True when the payload ends in field 63 (`6304` + 4 hex digits) holding the CRC of everything before them."""
    if not isinstance(payload, str) or len(payload) < 8 or payload[-8:-4] != "6304":
        return False
    return payload[-4:].upper() == crc16(payload[:-4])
