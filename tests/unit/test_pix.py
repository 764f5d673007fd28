"""Pix BR Code: the spec's vectors P1, P2, P5 and CRC check, accents, limits, amounts, txid, the TLV reader."""

import binascii
import string
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.billing.pix import crc16, crc_ok, parse_payload, static_payload

fast = settings(max_examples=100, deadline=None)

EVP = "123e4567-e12b-12d1-a456-426655440000"
P1 = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
P2 = (
    "00020101021226770014BR.GOV.BCB.PIX2555pix.example.com/qr/93598be0-1bd0-4997-8318-81776a1d8a99"
    "5204000053039865802BR5907EMPRESA6009SAO PAULO62070503***6304EEAB"
)
P5 = (
    "00020126360014BR.GOV.BCB.PIX0114+5511943214321520400005303986540566.665802BR5907EMPRESA"
    "6008BRASILIA62070503***630404ED"
)


# --- CRC ---------------------------------------------------------------------------------------------------


def test_crc_check_value():
    assert crc16("123456789") == "29B1"


def test_p1_exact_payload():
    assert static_payload(EVP, "Fulano de Tal", "BRASILIA") == P1


def test_p2_crc():
    assert crc16(P2[:-4]) == "EEAB"
    assert crc_ok(P2)


def test_p5_crc_keeps_its_leading_zero():
    assert crc16(P5[:-4]) == "04ED"
    assert crc_ok(P5)


def test_p5_fields_match_static_payload_but_for_the_gui_case():
    # P5 spells the GUI in upper case; ours follows P1 (lower case). Everything else is the same.
    ours = static_payload("+5511943214321", "EMPRESA", "BRASILIA", 6666)
    assert ours[:-4].replace("br.gov.bcb.pix", "BR.GOV.BCB.PIX") == P5[:-4]
    assert crc_ok(ours)


@given(st.text(alphabet=string.printable, max_size=300))
@fast
def test_crc_is_ccitt_false_and_always_four_uppercase_hex_digits(data):
    crc = crc16(data)
    assert len(crc) == 4 and all(c in "0123456789ABCDEF" for c in crc)
    assert int(crc, 16) == binascii.crc_hqx(data.encode(), 0xFFFF)  # an independent CCITT-FALSE


def test_crc_ok_rejects_tampering_and_truncation():
    assert not crc_ok(P1.replace("Fulano", "Ciclano"))
    assert not crc_ok(P1[:-4] + "1D3E")
    assert not crc_ok(P1[:-1])
    assert not crc_ok(P1[:-8])
    assert not crc_ok("")
    assert crc_ok(P1[:-4] + P1[-4:].lower())  # hex case does not change the number


# --- fields, accents, limits -------------------------------------------------------------------------------


def test_round_trip_with_accents_stripped():
    payload = static_payload(
        "12345678000195",
        "Conceição Software Ltda",
        "São Paulo",
        123456,
        txid="FAT2026000123",
        description="Fatura nº 123",
    )
    assert crc_ok(payload)
    assert parse_payload(payload) == {
        "00": "01",
        "26": {"00": "br.gov.bcb.pix", "01": "12345678000195", "02": "Fatura no 123"},
        "52": "0000",
        "53": "986",
        "54": "1234.56",
        "58": "BR",
        "59": "Conceicao Software Ltda",
        "60": "Sao Paulo",
        "62": {"05": "FAT2026000123"},
        "63": payload[-4:],
    }


def test_name_and_city_are_truncated_to_their_limits():
    fields = parse_payload(static_payload(EVP, "Brasoftware Cloud Serviços de Informática", "São José dos Campos"))
    assert fields["59"] == "Brasoftware Cloud Servico"  # 25
    assert fields["60"] == "Sao Jose dos Ca"  # 15


def test_truncation_does_not_leave_a_trailing_space():
    assert parse_payload(static_payload(EVP, "Fulano", "Rio de Janeiro RJ"))["60"] == "Rio de Janeiro"


@pytest.mark.parametrize("text", ["Straße", "北京", "Café\u200b", "tab\there"])
def test_characters_a_br_code_cannot_carry_are_refused(text):
    with pytest.raises(ValueError, match="cannot carry"):
        static_payload(EVP, text, "BRASILIA")


@pytest.mark.parametrize(("name", "city"), [("", "BRASILIA"), ("Fulano", "   "), ("\u0301", "BRASILIA")])
def test_name_and_city_are_mandatory(name, city):
    with pytest.raises(ValueError, match="must not be empty"):
        static_payload(EVP, name, city)


def test_template_26_fits_exactly_99():
    # 0014br.gov.bcb.pix (18) + 01LL key (4 + 77) = 99: the longest key without a description.
    key = "a" * 64 + "@example.com."  # 77 characters
    assert len(key) == 77
    assert len(parse_payload(static_payload(key, "F", "C"))["26"]["01"]) == 77
    with pytest.raises(ValueError, match="template 26"):
        static_payload(key + "x", "F", "C")


def test_key_and_description_that_do_not_fit_are_refused():
    # 18 + (4 + 36) + (4 + 37) = 99 fits; one more character of description does not.
    assert "26990014" in static_payload(EVP, "F", "C", description="d" * 37)
    with pytest.raises(ValueError, match="template 26"):
        static_payload(EVP, "F", "C", description="d" * 38)


def test_empty_description_is_left_out():
    assert static_payload(EVP, "Fulano de Tal", "BRASILIA", description="") == P1
    assert static_payload(EVP, "Fulano de Tal", "BRASILIA", description="  ") == P1


@pytest.mark.parametrize("key", ["", "with space", "chave\u00e7", "a\nb"])
def test_bad_keys_are_refused(key):
    with pytest.raises(ValueError, match="Pix key"):
        static_payload(key, "F", "C")


# --- amount ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (6666, "66.66"),
        (1, "0.01"),
        (10, "0.10"),
        (100, "1.00"),
        (123456789, "1234567.89"),
        (999_999_999_999, "9999999999.99"),
    ],
)
def test_amount_from_centavos(cents, text):
    assert parse_payload(static_payload(EVP, "F", "C", cents))["54"] == text


def test_open_amount_omits_field_54():
    assert "54" not in parse_payload(static_payload(EVP, "F", "C"))


@pytest.mark.parametrize("cents", [0, -1, 1_000_000_000_000])
def test_amount_out_of_range(cents):
    with pytest.raises(ValueError, match="amount_cents"):
        static_payload(EVP, "F", "C", cents)


@pytest.mark.parametrize("cents", [66.66, Decimal("66.66"), True, "6666"])
def test_amount_must_be_int_centavos(cents):
    with pytest.raises(TypeError, match="amount_cents"):
        static_payload(EVP, "F", "C", cents)


# --- txid --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("txid", ["***", "A", "FAT2026000123", "x" * 25, "abcXYZ019"])
def test_valid_txids(txid):
    assert parse_payload(static_payload(EVP, "F", "C", txid=txid))["62"] == {"05": txid}


@pytest.mark.parametrize("txid", ["", "x" * 26, "FAT-2026", "fat 1", "**", "****", "ção1", "１２"])
def test_invalid_txids(txid):
    with pytest.raises(ValueError, match="txid"):
        static_payload(EVP, "F", "C", txid=txid)


# --- parse_payload -----------------------------------------------------------------------------------------


def test_parse_p1_and_p2():
    assert parse_payload(P1)["26"] == {"00": "br.gov.bcb.pix", "01": EVP}
    p2 = parse_payload(P2)
    assert p2["01"] == "12" and p2["26"]["25"] == "pix.example.com/qr/93598be0-1bd0-4997-8318-81776a1d8a99"
    assert p2["62"] == {"05": "***"} and p2["63"] == "EEAB"


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("000201260", "header"),
        ("0002012610", "declares 10"),
        ("000201000201", "twice"),
        ("00020126040099", "inside field 26"),
        ("xx0201", "header"),
    ],
)
def test_parse_refuses_malformed_tlv(payload, match):
    with pytest.raises(ValueError, match=match):
        parse_payload(payload)


names = st.text(alphabet="abcdeçãéíóúâêôàü ABCÇÃÉ'-&.0123456789", min_size=1, max_size=40).filter(lambda s: s.strip())
txids = st.one_of(st.just("***"), st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=25))


@given(
    name=names,
    city=names,
    amount=st.one_of(st.none(), st.integers(min_value=1, max_value=999_999_999_999)),
    txid=txids,
    description=st.one_of(st.none(), st.text(alphabet="Faturçã nº0123456789", max_size=30)),
)
@fast
def test_static_payload_round_trips(name, city, amount, txid, description):
    payload = static_payload(EVP, name, city, amount, txid, description)
    assert crc_ok(payload) and payload.isascii()
    fields = parse_payload(payload)
    assert list(fields)[0] == "00" and list(fields)[-1] == "63"
    assert fields["59"] and len(fields["59"]) <= 25 and len(fields["60"]) <= 15
    assert fields["62"] == {"05": txid}
    assert fields.get("54") == (None if amount is None else f"{amount // 100}.{amount % 100:02d}")
    assert Decimal(fields.get("54", "0")) * 100 == (amount or 0)
    assert all(not c.isalpha() or c.isascii() for c in fields["59"] + fields["60"])
