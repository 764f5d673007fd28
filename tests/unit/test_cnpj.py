"""CNPJ per ../shared/specs/cnpj.md: the spec's vectors, normalisation, and agreement with python-stdnum."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum.br import cnpj as stdnum_cnpj

from portal.shared import cnpj


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("11.222.333/0001-81", True),
        ("12.ABC.345/01DE-35", True),
        ("12ABC345000188", True),
        ("11.222.333/0001-82", False),
        ("11111111111111", False),
    ],
)
def test_spec_vectors(value, valid):
    assert cnpj.is_valid(value) is valid


@pytest.mark.parametrize(
    "value",
    [
        "", "1122233300018", "112223330001811", "12ABC3450001AB", "12.ÇBC.345/01DE-35",
        "AAAAAAAAAAAAAA", "11 222 333 0001 8X",
    ],
)
def test_malformed_is_invalid(value):
    assert cnpj.is_valid(value) is False


def test_input_may_be_masked_spaced_or_lowercase():
    assert cnpj.compact(" 12.abc.345/01de-35 ") == "12ABC34501DE35"
    assert cnpj.is_valid("12.abc.345/01de-35")
    assert cnpj.is_valid("11 222 333 0001 81")


def test_format_shows_the_mask():
    assert cnpj.format("12ABC34501DE35") == "12.ABC.345/01DE-35"
    assert cnpj.format("11222333000181") == "11.222.333/0001-81"


ALNUM = st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@given(st.lists(ALNUM, min_size=12, max_size=12), st.integers(0, 99))
def test_agrees_with_python_stdnum(base, check):
    number = "".join(base) + f"{check:02d}"
    assert cnpj.is_valid(number) == stdnum_cnpj.is_valid(number)


@given(st.lists(ALNUM, min_size=12, max_size=12))
def test_each_base_has_exactly_one_valid_check_pair(base):
    base = "".join(base)
    assume(len(set(base)) > 1)
    assert sum(cnpj.is_valid(base + f"{d:02d}") for d in range(100)) == 1
