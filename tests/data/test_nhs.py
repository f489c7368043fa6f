"""NHS number Modulus 11 check (NHS Data Dictionary), scalar and vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odtrial.data.nhs import (
    check_digit,
    format_nhs,
    is_valid_nhs_number,
    keys_valid,
    nhs_keys,
    nhs_keys_valid,
    normalise_nhs,
    valid_nhs_numbers,
)


def test_check_digit_worked_example() -> None:
    # 9 4 3 4 7 6 5 9 1 weighted 10..2: 90+36+24+28+42+30+20+27+2 = 299;
    # 299 mod 11 = 2; 11 - 2 = 9.
    assert check_digit("943476591") == 9
    assert is_valid_nhs_number("9434765919")


def test_check_digit_eleven_becomes_zero_and_ten_is_never_issued() -> None:
    # 100000001: 10*1 + 2*1 = 12 -> r = 1 -> 10: no valid number.
    assert check_digit("100000001") is None
    assert not any(is_valid_nhs_number(f"100000001{d}") for d in "0123456789")
    # 000000000: sum 0 -> 11 -> 0.
    assert check_digit("000000000") == 0
    # 100000010: 10*1 + 3*1 = 13 -> r 2 -> 9.
    assert check_digit("100000010") == 9
    # 000000011: 3*1 + 2*1 = 5 -> 6.
    assert check_digit("000000011") == 6
    # Every prefix whose weighted sum is a multiple of 11 takes check digit 0.
    zeros = [n for n in range(1000) if check_digit(f"{n:09d}") == 0]
    assert zeros and all(is_valid_nhs_number(f"{n:09d}0") for n in zeros)


def test_check_digit_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="expected nine digits, got '12345'"):
        check_digit("12345")
    with pytest.raises(ValueError, match="nine digits"):
        check_digit("94347659a")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("9434765919", True),
        ("943 476 5919", True),  # layout ignored
        ("943-476-5919", True),
        ("9434765918", False),  # wrong check digit
        ("943476591", False),  # nine digits
        ("94347659190", False),  # eleven digits
        ("94347659l9", False),
        ("٩٤٣٤٧٦٥٩١٩", False),  # Arabic-Indic digits are not ASCII digits
        ("", False),
        (None, False),
        (9434765919, False),  # not text
        (float("nan"), False),
    ],
)
def test_is_valid_nhs_number(value: object, ok: bool) -> None:
    assert is_valid_nhs_number(value) is ok


def test_vectorised_matches_scalar_on_edge_cases() -> None:
    values = ["9434765919", "943 476 5919", None, "9434765918", "12", "٩٤٣٤٧٦٥٩١٩", ""]
    s = pd.Series(values, dtype="string", index=[10, 3, 7, 1, 2, 0, 5])
    got = valid_nhs_numbers(s)
    assert isinstance(got, np.ndarray) and got.dtype == bool
    assert got.tolist() == [is_valid_nhs_number(v) for v in values]


def test_vectorised_accepts_object_and_python_string_series() -> None:
    obj = pd.Series(["9434765919", 12, None, 3.5], dtype=object)
    assert valid_nhs_numbers(obj).tolist() == [True, False, False, False]
    py = pd.Series(["943-476-5919", pd.NA], dtype=pd.StringDtype("python"))
    assert valid_nhs_numbers(py).tolist() == [True, False]
    assert valid_nhs_numbers(pd.Series([], dtype="string")).tolist() == []


def test_vectorised_handles_chunked_arrow_strings() -> None:
    a = pd.Series(["9434765919"], dtype="string")
    b = pd.Series(["9434765918", "9434765919"], dtype="string")
    assert valid_nhs_numbers(pd.concat([a, b])).tolist() == [True, False, True]


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.from_regex(r"[0-9]{10}", fullmatch=True),
            st.from_regex(r"[0-9]{3}[ -][0-9]{3}[ -][0-9]{4}", fullmatch=True),
            st.text(max_size=12),
        ),
        max_size=30,
    )
)
def test_vectorised_equals_scalar(values: list[str | None]) -> None:
    s = pd.Series(values, dtype="string")
    assert valid_nhs_numbers(s).tolist() == [is_valid_nhs_number(v) for v in values]


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.none(), st.from_regex(r"[0-9]{10}", fullmatch=True)), max_size=30))
def test_keys_are_the_numbers_and_validity_agrees(values: list[str | None]) -> None:
    s = pd.Series(values, dtype="string")
    keys, valid = nhs_keys_valid(s)
    assert keys.tolist() == [-1 if v is None else int(v) for v in values]
    assert np.array_equal(nhs_keys(s), keys)
    assert np.array_equal(keys_valid(keys), valid)
    assert valid.tolist() == [is_valid_nhs_number(v) for v in values]


def test_keys_do_not_normalise_layout() -> None:
    # The stored text is what gets pseudonymised, so "943 476 5919" has no key.
    keys, valid = nhs_keys_valid(pd.Series(["943 476 5919", "9434765919"], dtype="string"))
    assert keys.tolist() == [-1, 9434765919]
    assert valid.tolist() == [False, True]


def test_format_and_normalise() -> None:
    assert format_nhs("9434765919") == "943 476 5919"
    assert format_nhs("943-476-5919") == "943 476 5919"
    assert normalise_nhs(" 943 476-5919 ") == "9434765919"
    with pytest.raises(ValueError, match="an NHS number has 10 digits, got '12345'"):
        format_nhs("12345")
