"""Portuguese by default, a complete English catalog, and the display formats."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask_babel import force_locale

from portal.shared.formatting import format_date, format_datetime, format_money

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _source_messages() -> set[str]:
    with open(ROOT / "portal/translations/babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _english_catalog():
    with open(ROOT / "portal/translations/en/LC_MESSAGES/messages.po", "rb") as po:
        return read_po(po)


def test_english_catalog_is_complete():
    catalog = _english_catalog()
    missing = sorted(m for m in _source_messages() if m not in catalog or not catalog[m].string)
    assert not missing, f"{len(missing)} strings lack English (run `make messages` and translate): {missing[:10]}"


def test_english_catalog_has_no_fuzzy_entries_and_keeps_placeholders():
    catalog = _english_catalog()
    assert not [m.id for m in catalog if m.id and m.fuzzy]
    assert not [error for message in catalog for error in message.check(catalog)]


def test_portuguese_is_the_default(client):
    body = client.get("/entrar").get_data(as_text=True)
    assert 'lang="pt-BR"' in body and "Entrar no portal" in body


def test_english_when_chosen(client):
    client.get("/entrar")
    response = client.post("/idioma", data={"language": "en", "next": "/entrar"})
    assert response.status_code == 302
    body = client.get("/entrar").get_data(as_text=True)
    assert 'lang="en"' in body and "Entrar no portal" not in body


def test_unknown_language_is_ignored(client):
    client.post("/idioma", data={"language": "xx", "next": "/entrar"})
    assert 'lang="pt-BR"' in client.get("/entrar").get_data(as_text=True)


@pytest.mark.parametrize(
    ("locale", "money", "day", "moment"),
    [
        ("pt_BR", "R$ 1.234,56", "22/11/2026", "22/11/2026 11:05"),
        ("en", "R$1,234.56", "11/22/2026", "11/22/2026 11:05"),
    ],
)
def test_display_formats(app_ctx, locale, money, day, moment):
    with app_ctx.test_request_context(), force_locale(locale):
        assert format_money(123456) == money
        assert format_date(date(2026, 11, 22)) == day
        assert format_datetime(datetime(2026, 11, 22, 14, 5, tzinfo=UTC)) == moment  # shown in São Paulo time
