"""The 5L-to-3L lookup by age band and sex: the shipped NICE DSU table, and a user's table
(a made-up one of the published layout)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.econ import EconError, eq5d_utility, map_5l_to_3l

BANDS = ["18-34", "35-44", "45-54", "55-64", "65+"]


def _table() -> pd.DataFrame:
    """Every state x band x sex, with a utility that encodes all three (not real values)."""
    states = ["".join(map(str, s)) for s in itertools.product(range(1, 6), repeat=5)]
    rows = []
    for b, band in enumerate(BANDS):
        for sex in ("male", "female"):
            for i, s in enumerate(states):
                rows.append((s, band, sex, i / 10000 + b / 10 + (0.05 if sex == "female" else 0)))
    return pd.DataFrame(rows, columns=["state", "age_band", "sex", "utility"])


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _table()


def test_looks_up_state_age_band_and_sex(table: pd.DataFrame, tmp_path: Path) -> None:
    states = ["11111", "11112", "55555", "11111", "21111"]
    ages = [18, 34.9, 35, 64, 90]
    sexes = ["male", "f", "M", "Female", "male"]
    expected = [0.0, 0.0001 + 0.05, 0.3124 + 0.1, 0.3 + 0.05, 0.0625 + 0.4]
    got = map_5l_to_3l(states, ages, sexes, lookup=table)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    path = tmp_path / "map.csv"
    table.to_csv(path, index=False)
    np.testing.assert_allclose(map_5l_to_3l(states, ages, sexes, lookup=path), expected, atol=1e-12)


def test_missing_inputs_give_nan(table: pd.DataFrame) -> None:
    got = map_5l_to_3l(
        ["11111", None, "11111", "11111"], [40, 40, np.nan, 40], ["m", "m", "m", None], lookup=table
    )
    assert got[0] == pytest.approx(0.1)
    assert np.isnan(got[1:]).all()


def test_bad_inputs(table: pd.DataFrame) -> None:
    with pytest.raises(EconError, match="age 17 at position 0 is outside"):
        map_5l_to_3l(["11111"], [17], ["male"], lookup=table)
    with pytest.raises(EconError, match="sex at position 0 is 'x'"):
        map_5l_to_3l(["11111"], [40], ["x"], lookup=table)
    with pytest.raises(EconError, match="1 states but 2 ages"):
        map_5l_to_3l(["11111"], [40, 41], ["m"], lookup=table)
    with pytest.raises(EconError, match="state '11116' at position 0"):
        map_5l_to_3l(["11116"], [40], ["m"], lookup=table)


def test_incomplete_or_malformed_table_is_refused(table: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(EconError, match=r"\(31250 rows\): 1 missing"):
        map_5l_to_3l(["11111"], [40], ["m"], lookup=table.iloc[1:])
    with pytest.raises(EconError, match=r"missing \['utility'\]"):
        map_5l_to_3l(["11111"], [40], ["m"], lookup=table.drop(columns="utility"))
    with pytest.raises(EconError, match="cannot read"):
        map_5l_to_3l(["11111"], [40], ["m"], lookup=tmp_path / "absent.csv")


# The NICE DSU table that ships with odtrial. Published cells, written out here
# independently of the shipped TOML: the R package eq5d's own checks of its
# eq5dmap() (12345 female 30 = 0.067; 24112 female 50 = 0.761; 23421 male 65+
# = 0.60885463) and cells read from its DSU5L table at 8 decimals.
PUBLISHED_DSU = [
    ("12345", 30, "female", 0.06718718),
    ("24112", 50, "female", 0.76065003),
    ("23421", 70, "male", 0.60885463),
    ("11112", 18, "male", 0.89307115),
    ("11111", 100, "female", 0.98791272),
    ("55555", 64.5, "male", -0.53103013),
    ("33333", 35, "female", 0.42393321),
]


@pytest.mark.parametrize(("state", "age", "sex", "value"), PUBLISHED_DSU)
def test_shipped_nice_dsu_table_gives_the_published_values(
    state: str, age: float, sex: str, value: float
) -> None:
    got = map_5l_to_3l([state], [age], [sex])
    assert got[0] == pytest.approx(value, abs=5e-9)


def test_shipped_table_anchors_are_the_published_ones() -> None:
    from odtrial.econ.mapping import mapping_source

    src = mapping_source()
    assert "Hernández Alava" in src["citation"]
    shipped = {(s, b, x): u for s, b, x, u in src["anchors"]}
    band = {
        30: "18-34",
        50: "45-54",
        70: "65+",
        18: "18-34",
        100: "65+",
        64.5: "55-64",
        35: "35-44",
    }
    for state, age, sex, value in PUBLISHED_DSU:
        assert shipped[(state, band[age], sex)] == value


def test_eq5d_utility_offers_the_mapping_with_age_and_sex() -> None:
    states = ["12345", "11111", "55555"]
    mapped = eq5d_utility(states, version="5L", value_set="3l_mapping", age=40, sex="m")
    np.testing.assert_array_equal(mapped, map_5l_to_3l(states, [40] * 3, ["male"] * 3))
    # the mapped 3L utilities are not the 5L England values, and are lower at the worst state
    england = eq5d_utility(states, version="5L")
    assert mapped[2] < england[2] < 0
    for alias in ("nice_dsu", "hernandez_alava", "DSU"):
        again = eq5d_utility(states, version="5L", value_set=alias, age=40, sex="m")
        np.testing.assert_array_equal(again, mapped)
    with pytest.raises(EconError, match="depends on age and sex"):
        eq5d_utility(states, version="5L", value_set="3l_mapping")
    with pytest.raises(EconError, match="not EQ-5D-3L"):
        eq5d_utility(["11111"], version="3L", value_set="3l_mapping", age=40, sex="m")
    with pytest.raises(EconError, match="does not use them"):
        eq5d_utility(states, version="5L", value_set="england", age=40, sex="m")
    with pytest.raises(EconError, match="outside the mapping's age bands"):
        eq5d_utility(["11111"], version="5L", value_set="3l_mapping", age=16, sex="m")
