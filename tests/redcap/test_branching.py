"""REDCap branching logic -> conditions of the trial definition, or why not."""

from __future__ import annotations

import pytest

from odtrial.data.conditions import render
from odtrial.redcap.branching import Target, Unevaluable, translate

TARGETS = {
    "sex": Target("sex", "code", {"1": "female", "2": "male"}),
    "pain": Target("pain", "code", {"0": "none", "1": "mild", "2": "bad", "3": "worst"}),
    "smoker": Target("smoker", "boolean"),
    "aids(2)": Target("aids_2", "boolean"),
    "age": Target("age", "number"),
    "seen": Target("seen", "date"),
    "notes": Target("notes", "text"),
    "event-name": Target("redcap_event", "text"),
}


def resolve(ref: str) -> Target:
    if ref not in TARGETS:
        raise Unevaluable(f"[{ref}] is not a field of this table")
    return TARGETS[ref]


@pytest.mark.parametrize(
    ("logic", "condition"),
    [
        ("[sex] = '1'", "[sex] = 'female'"),
        ('[sex] <> "2"', "[sex] <> 'male'"),
        ("[smoker] = 1", "[smoker] = true"),
        ("[aids(2)] = '1' AND [age] >= 18", "[aids_2] = true and [age] >= 18"),
        ("[pain] > 1", "[pain] = 'bad' or [pain] = 'worst'"),
        ("[pain] <= 0 || [notes] = ''", "[pain] = 'none' or [notes] = ''"),
        ("([sex] = '1' or [sex] = '2') and [seen] > '2024-01-01'",
         "([sex] = 'female' or [sex] = 'male') and [seen] > '2024-01-01'"),
        ("[event-name] = 'month_12_arm_1'", "[redcap_event] = 'month_12_arm_1'"),
    ],
)  # fmt: skip
def test_translated(logic: str, condition: str) -> None:
    assert render(translate(logic, resolve)) == condition


@pytest.mark.parametrize(
    ("logic", "why"),
    [
        ("datediff([seen], 'today', 'y') > 1", "'datediff', a function"),
        ("[baseline_arm_1][sex] = '1'", "names another event's value"),
        ("[weight] > 40", r"\[weight\] is not a field of this table"),
        ("[sex] = '3'", "not one of its codes"),
        ("[pain] > 3", "admits no choice"),
        ("[notes] > 'a'", "is text, ordered"),
        ("[smoker] = '1' and", "where a \\[field\\] should be"),
        ("[user-role-name] = 'x'", "not a field of this table"),
    ],
)
def test_unevaluable_says_why(logic: str, why: str) -> None:
    with pytest.raises(Unevaluable, match=why):
        translate(logic, resolve)
