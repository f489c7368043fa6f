"""EQ-5D utilities against published values of whole states."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from odtrial.econ import EconError, available_value_sets, eq5d_utility, load_value_set

# Published values, written out here independently of the shipped TOML files.
# 3L: Dolan (1997) MVH TTO tariff. 5L: Devlin et al. (2018), whose value set
# runs from -0.285 (55555) to 0.950 (11211 and 12111); the other states from
# the value set's published table of all 3,125 states.
PUBLISHED_3L_UK = {
    "11111": 1.0,
    "33333": -0.594,
    "11112": 0.848,
    "11113": 0.414,
    "22222": 0.516,
    "21111": 0.850,
    "12111": 0.815,
    "11211": 0.883,
    "11121": 0.796,
}
PUBLISHED_5L_ENGLAND = {
    "11111": 1.0,
    "55555": -0.285,
    "11211": 0.950,
    "12111": 0.950,
    "21111": 0.942,
    "11121": 0.937,
    "11112": 0.922,
    "12345": 0.322,
    "54321": 0.436,
    "23434": 0.331,
    "33333": 0.593,
}


@pytest.mark.parametrize(("state", "value"), PUBLISHED_5L_ENGLAND.items())
def test_5l_england_published_states(state: str, value: float) -> None:
    assert eq5d_utility(state, version="5L", value_set="england")[0] == pytest.approx(
        value, abs=5e-4
    )


@pytest.mark.parametrize(("state", "value"), PUBLISHED_3L_UK.items())
def test_3l_uk_published_states(state: str, value: float) -> None:
    assert eq5d_utility(state, version="3L", value_set="uk")[0] == pytest.approx(value, abs=5e-4)


def test_shipped_anchors_hold_and_match_the_published_ones() -> None:
    for version, name in available_value_sets():
        if name == "3l_mapping":  # not additive: its anchors are checked in test_mapping
            continue
        vs = load_value_set(version, name)
        assert vs.citation  # every value set names its source
        states = list(vs.anchors)
        assert len(states) >= 8
        np.testing.assert_allclose(
            eq5d_utility(states, version=version, value_set=name),
            list(vs.anchors.values()),
            atol=5e-4,
        )
    assert load_value_set("5L").anchors["55555"] == PUBLISHED_5L_ENGLAND["55555"]
    assert load_value_set("3L").anchors["33333"] == PUBLISHED_3L_UK["33333"]


@pytest.mark.parametrize(("version", "top"), [("3L", 3), ("5L", 5)])
def test_worse_levels_never_raise_utility_and_the_range_is_the_published_one(
    version: str, top: int
) -> None:
    states = ["".join(map(str, s)) for s in itertools.product(range(1, top + 1), repeat=5)]
    u = eq5d_utility(states, version=version)
    lookup = dict(zip(states, u, strict=True))
    for s in states:
        for k in range(5):
            if s[k] != str(top):
                worse = s[:k] + str(int(s[k]) + 1) + s[k + 1 :]
                assert lookup[worse] <= lookup[s] + 1e-12
    worst = "3" * 5 if version == "3L" else "5" * 5
    assert u.max() == 1.0
    assert u.min() == lookup[worst]
    if version == "5L":  # best states short of full health: 11211 and 12111 at 0.950
        below = sorted(set(u) - {1.0})
        assert below[-1] == pytest.approx(0.950)
        assert {s for s, v in lookup.items() if v == below[-1]} == {"11211", "12111"}


def test_input_forms_agree_and_keep_order() -> None:
    strings = ["12345", "11111", "55555"]
    expected = eq5d_utility(strings)
    digits = np.array([[1, 2, 3, 4, 5], [1, 1, 1, 1, 1], [5, 5, 5, 5, 5]])
    frame = pd.DataFrame(digits, columns=["mo", "sc", "ua", "pd", "ad"], index=["a", "b", "c"])
    np.testing.assert_array_equal(eq5d_utility(digits), expected)
    np.testing.assert_array_equal(eq5d_utility(frame), expected)
    np.testing.assert_array_equal(eq5d_utility([12345, 11111, 55555]), expected)
    np.testing.assert_array_equal(eq5d_utility(pd.Series([12345.0, 11111.0, 55555.0])), expected)


def test_missing_responses_are_nan_not_errors() -> None:
    u = eq5d_utility(["11111", None, "", np.nan, "55555"])
    assert u[0] == 1.0 and u[4] == -0.285
    assert np.isnan(u[1:4]).all()
    frame = pd.DataFrame(
        {"mo": [1, np.nan], "sc": [1, 2], "ua": [1, 2], "pd": [1, 2], "ad": [1, 2]}
    )
    u = eq5d_utility(frame)
    assert u[0] == 1.0 and np.isnan(u[1])


@pytest.mark.parametrize(
    ("states", "version", "pattern"),
    [
        (["11111", "11161", "9"], "5L", r"invalid EQ-5D-5L state '11161' at position 1.*1 more"),
        (["11111", "11114"], "3L", r"invalid EQ-5D-3L state '11114' at position 1: .*1-3"),
        (["1111"], "5L", r"state '1111' at position 0"),
        (["1a111"], "5L", r"state '1a111' at position 0"),
        (["111110"], "5L", r"state '111110' at position 0"),
        ([11111.5], "5L", r"state 11111.5 at position 0"),
    ],
)
def test_invalid_states_name_the_first_and_its_position(
    states: list, version: str, pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        eq5d_utility(states, version=version)


def test_invalid_row_of_a_table_names_its_index_label() -> None:
    frame = pd.DataFrame([[1, 1, 1, 1, 1], [1, 6, 1, 1, 1]], index=["p1", "p2"])
    with pytest.raises(EconError, match=r"\(1, 6, 1, 1, 1\) at position 1 \(index 'p2'\)"):
        eq5d_utility(frame)
    with pytest.raises(EconError, match="5 columns"):
        eq5d_utility(frame.iloc[:, :4])


def test_unknown_version_or_value_set() -> None:
    with pytest.raises(EconError, match="'3L' or '5L'"):
        eq5d_utility("11111", version="4L")
    with pytest.raises(
        EconError,
        match=r"no EQ-5D-5L value set 'uk'; available: 3L 'uk', 5L '3l_mapping', 5L 'england'",
    ):
        eq5d_utility("11111", version="5L", value_set="uk")
