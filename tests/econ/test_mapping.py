"""The 5L-to-3L lookup by age band and sex (on a made-up table of the published layout)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.econ import EconError, map_5l_to_3l

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
