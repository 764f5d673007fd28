"""WTForms' built-in messages (not ours) follow the UI language, and a bad number is not called "empty"."""

import re

import pytest
from babel import support

from portal.shared import forms
from tests.backoffice.test_views import VALID

NEW_ORGANIZATION = "/backoffice/organizacoes/nova"

NOT_A_CHOICE = {"pt": "Escolha inválida.", "en": "Not a valid choice."}
NOT_AN_INTEGER = {"pt": "O valor inteiro não é válido.", "en": "Not a valid integer value."}


def _field_error(client, field: str, value: str) -> str:
    """Submit the new-organization form with one bad field; return that field's error text."""
    response = client.post(NEW_ORGANIZATION, data={**VALID, field: value})
    body = response.get_data(as_text=True)
    assert response.status_code == 422, body[:500]
    found = re.search(rf'<div id="{field}-error" class="invalid-feedback[^"]*">(.*?)</div>', body, re.S)
    assert found, f"no error shown for {field}"
    return found.group(1).strip()


def _choose_english(client):
    response = client.post("/idioma", data={"language": "en", "next": NEW_ORGANIZATION})
    assert response.status_code == 302
    assert 'lang="en"' in client.get(NEW_ORGANIZATION).get_data(as_text=True)


@pytest.mark.parametrize(
    ("field", "value", "messages"),
    [
        ("state", "XX", NOT_A_CHOICE),
        ("billing_day", "dez", NOT_AN_INTEGER),
    ],
)
def test_wtforms_messages_are_portuguese_by_default(login_as, field, value, messages):
    client = login_as("staff_admin")
    error = _field_error(client, field, value)
    assert error == messages["pt"]
    assert messages["en"] not in error


@pytest.mark.parametrize(
    ("field", "value", "messages"),
    [
        ("state", "XX", NOT_A_CHOICE),
        ("billing_day", "dez", NOT_AN_INTEGER),
    ],
)
def test_wtforms_messages_are_english_when_chosen(login_as, field, value, messages):
    client = login_as("staff_admin")
    _choose_english(client)
    error = _field_error(client, field, value)
    assert error == messages["en"]
    assert messages["pt"] not in error


def test_a_word_in_a_number_field_is_not_reported_as_empty_nor_out_of_range(login_as):
    error = _field_error(login_as("staff_admin"), "billing_day", "dez")
    assert "Preencha este campo." not in error
    assert "O dia de faturamento vai de 1 a 31." not in error


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_number_field_is_still_required(login_as, value):
    assert _field_error(login_as("staff_admin"), "billing_day", value) == "Preencha este campo."


def test_our_own_messages_still_apply_to_numbers_that_were_read(login_as):
    assert _field_error(login_as("staff_admin"), "billing_day", "32") == "O dia de faturamento vai de 1 a 31."


def test_english_catalog_translates_our_required_message(login_as):
    client = login_as("staff_admin")
    _choose_english(client)
    assert _field_error(client, "legal_name", "") == "This field is required."


def test_wtforms_catalog_is_read_once_per_language(login_as, monkeypatch):
    """Flask-WTF read WTForms' catalog from disk on every request that made a form with a number field; now once
    per language, and each language still gets its own messages."""
    monkeypatch.setattr(forms, "_wtforms_catalogs", {})
    loaded = []
    load = support.Translations.load

    def counted(dirname, locales, domain):
        loaded.append((str(locales[0]), domain))
        return load(dirname, locales, domain)

    monkeypatch.setattr(support.Translations, "load", counted)
    client = login_as("staff_admin")
    assert [_field_error(client, "billing_day", "dez") for _ in range(3)] == [NOT_AN_INTEGER["pt"]] * 3
    _choose_english(client)
    assert [_field_error(client, "billing_day", "dez") for _ in range(2)] == [NOT_AN_INTEGER["en"]] * 2
    assert loaded == [("pt_BR", "wtforms"), ("en", "wtforms")]
