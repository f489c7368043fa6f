"""Conditions (``required_if``): parsing, rendering, checking against fields, evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odtrial.data.canonical import Field
from odtrial.data.conditions import (
    AllOf,
    AnyOf,
    Compare,
    ConditionError,
    check,
    evaluate,
    fields_of,
    parse,
    render,
)

FIELDS = {
    "admitted": Field("admitted", "code", vocab="yes_no"),
    "nights": Field("nights", "int"),
    "ward": Field("ward", "code", vocab="ward"),
    "seen": Field("seen", "date"),
    "note": Field("note", "str"),
}


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    c = parse("[a] = '1' or [b] = '2' and [c] = '3'")
    assert c == AnyOf(
        (Compare("a", "=", "1"), AllOf((Compare("b", "=", "2"), Compare("c", "=", "3"))))
    )
    g = parse("([a] = '1' OR [b] = '2') AND [c] != 3")
    assert g == AllOf(
        (AnyOf((Compare("a", "=", "1"), Compare("b", "=", "2"))), Compare("c", "<>", 3.0))
    )
    assert fields_of(g) == ("a", "b", "c")


@pytest.mark.parametrize(
    "text",
    [
        "[a] = 'x'",
        "[a] >= 2.5 and ([b] <> '' or [c] = false)",
        '[a] = "it\'s"',
        "([a] = 1 or [b] = 2) and ([c] = 3 or [d] = 4)",
    ],
)
def test_render_reads_back_to_the_same_condition(text: str) -> None:
    assert parse(render(parse(text))) == parse(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ("[a] =", "expected a value"),
        ("[a] 'x'", "expected an operator"),
        ("([a] = 1", "not closed"),
        ("[a] = 1 [b] = 2", "unexpected"),
        ("datediff([a], 'today', 'y') > 1", "cannot read"),
        ("[a] = 1 # 2", "cannot read"),
        ("datediff = 1", "expected \\[field\\]"),
    ],
)
def test_what_is_not_a_condition_says_where(text: str, match: str) -> None:
    with pytest.raises(ConditionError, match=match):
        parse(text)


def test_check_names_unknown_fields_and_impossible_comparisons() -> None:
    assert (
        check(parse("[admitted] = true and [nights] > 2 and [seen] >= '2024-01-01'"), FIELDS) == []
    )
    problems = check(
        parse("[missing] = 1 or [ward] > 'a' or [nights] = 'many' or [admitted] = 'perhaps'"),
        FIELDS,
    )
    assert problems == [
        "names [missing], not a field of this table",
        "orders [ward], a text field (only numbers and dates)",
        "compares [nights] (number) with 'many'",
        "compares [admitted] (boolean) with 'perhaps'",
    ]


def test_evaluation_on_mapped_values_empty_makes_equality_false_and_difference_true() -> None:
    frame = pd.DataFrame(
        {
            "admitted": pd.array([True, False, None, True], dtype="boolean"),
            "nights": pd.array([3, 0, None, None], dtype="Int64"),
            "ward": pd.array(["general", "acute", None, "acute"], dtype="string"),
            "seen": pd.Series(
                pd.to_datetime(["2024-01-02", "2023-12-31", None, "2024-06-01"]),
                dtype="datetime64[us]",
            ),
            "note": pd.array(["x", None, None, ""], dtype="string"),
        }
    )

    def ev(text: str) -> list[bool]:
        return evaluate(parse(text), frame, FIELDS).tolist()

    assert ev("[admitted] = true") == [True, False, False, True]
    assert ev("[admitted] = '1'") == [True, False, False, True]
    assert ev("[ward] <> 'general'") == [False, True, True, True]
    assert ev("[nights] > 2") == [True, False, False, False]
    assert ev("[nights] = ''") == [False, False, True, True]
    assert ev("[seen] >= '2024-01-01'") == [True, False, False, True]
    assert ev("[admitted] = true and ([nights] > 2 or [ward] = 'acute')") == [
        True,
        False,
        False,
        True,
    ]
    assert isinstance(evaluate(parse("[note] <> ''"), frame, FIELDS), np.ndarray)
