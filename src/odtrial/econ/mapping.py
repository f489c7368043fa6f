"""EQ-5D-5L responses to EQ-5D-3L UK utilities by age and sex (NICE's position).

NICE asks for 5L data to be valued through the mapping of Hernández Alava et
al. (EEPRU / NICE DSU): the expected 3L UK TTO utility given a 5L state, age
band and sex, from a copula model fitted to people who completed both
instruments. The model is published as a lookup table of 3125 states x 5
age bands (18-34, 35-44, 45-54, 55-64, 65+) x 2 sexes.

odtrial ships that table (``value_sets/eq5d_5l_to_3l_uk_dsu.csv.gz``, the
copula model's UK predictions to 8 decimals, as redistributed under the MIT
licence by the R package eq5d, Morton & Nijjar; its provenance and checked
values are in ``eq5d_5l_to_3l_uk_dsu.toml``). A user may pass another
published table instead (``lookup``: a CSV path or a DataFrame) with columns
``state`` (five digits), ``age_band`` (``"18-34"`` ... ``"65+"``), ``sex``
(``"male"``/``"female"``) and ``utility``; it is checked to be complete.

References: Hernández Alava M, Pudney S, Wailoo A. Estimating the relationship
between EQ-5D-5L and EQ-5D-3L: results from a UK population study.
PharmacoEconomics 2023;41:199-207; Hernández Alava M, Pudney S. Econometric
modelling of multiple self-reports of health states: the switch from EQ-5D-3L
to EQ-5D-5L in evaluating drug therapies for rheumatoid arthritis. J Health
Econ 2017;55:139-152.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from odtrial.econ._errors import EconError
from odtrial.econ.eq5d import parse_states

_SEX = {"male": "male", "m": "male", "1": "male", "female": "female", "f": "female", "2": "female"}
_SEX_COLUMN = {"male": 0, "female": 1}
_BAND = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)|\+)\s*$")


def map_5l_to_3l(
    states: Any,
    age: Any,
    sex: Any,
    *,
    lookup: str | PathLike[str] | pd.DataFrame | None = None,
) -> np.ndarray:
    """Expected EQ-5D-3L UK utility of each 5L state for a person's age and sex.

    Parameters
    ----------
    states
        5L states, in any form :func:`eq5d_utility` accepts.
    age
        Age in years, one per state or one for all (the band is taken from the lookup's
        ``age_band`` labels; an age below the lowest band is an error).
    sex
        ``"male"``/``"female"`` (or ``"m"``/``"f"``), one per state or one for all.
    lookup
        A mapping table in the published layout (see the module docstring);
        by default the NICE DSU UK table that ships with odtrial.

    Returns
    -------
    numpy.ndarray
        One utility per state; ``NaN`` where the state, age or sex is missing.
    """
    table, bands = _shipped_table() if lookup is None else _load_lookup(lookup)
    levels, missing = parse_states(states, version="5L")
    n = levels.shape[0]
    ages = pd.to_numeric(pd.Series(_per_state(age, n)), errors="coerce")
    sexes = pd.Series(_per_state(sex, n))
    if len(ages) != n or len(sexes) != n:
        raise EconError(f"map_5l_to_3l: {n} states but {len(ages)} ages and {len(sexes)} sexes")
    out = np.full(n, np.nan)
    codes = _state_index(levels)
    for i in range(n):
        if missing[i] or np.isnan(ages.iloc[i]) or _absent(sexes.iloc[i]):
            continue
        s = _SEX.get(str(sexes.iloc[i]).strip().lower())
        if s is None:
            raise EconError(
                f"sex at position {i} is {sexes.iloc[i]!r}; expected 'male' or 'female'"
            )
        band = _band_of(float(ages.iloc[i]), bands, i)
        out[i] = table[codes[i], band, _SEX_COLUMN[s]]
    return out


SHIPPED_TABLE = "eq5d_5l_to_3l_uk_dsu"


def mapping_source() -> dict[str, Any]:
    """The shipped table's name, citation and the published values the tests check."""
    text = resources.files("odtrial.econ").joinpath("value_sets", f"{SHIPPED_TABLE}.toml")
    return tomllib.loads(text.read_text("utf-8"))


@cache
def _shipped_table() -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    path = resources.files("odtrial.econ").joinpath("value_sets", f"{SHIPPED_TABLE}.csv.gz")
    with resources.as_file(path) as f:
        df = pd.read_csv(f, dtype={"state": str, "age_band": str, "sex": str})
    table, bands = _load_lookup(df)
    table.setflags(write=False)
    return table, bands


def _per_state(x: Any, n: int) -> np.ndarray:
    """``x`` as one value per state: a single age or sex applies to every state."""
    arr = np.asarray(x, dtype=object).ravel()
    return np.repeat(arr, n) if arr.size == 1 and n != 1 else arr


def _state_index(levels: np.ndarray) -> np.ndarray:
    """0..3124 for 11111..55555."""
    return np.asarray((levels - 1) @ (5 ** np.arange(4, -1, -1)), dtype=np.int64)


def _absent(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x))


def _band_of(age: float, bands: list[tuple[float, float, str]], i: int) -> int:
    for k, (lo, hi, _) in enumerate(bands):
        if lo <= age < hi:
            return k
    raise EconError(
        f"age {age:g} at position {i} is outside the mapping's age bands "
        f"({', '.join(b[2] for b in bands)})"
    )


def _load_lookup(
    lookup: str | PathLike[str] | pd.DataFrame,
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """The table as an array ``[state index, age band, sex]`` and the bands, sorted by age."""
    if isinstance(lookup, pd.DataFrame):
        df = lookup
    else:
        try:
            df = pd.read_csv(lookup, dtype={"state": str, "age_band": str, "sex": str})
        except OSError as e:
            raise EconError(f"cannot read the 5L-to-3L mapping table {lookup}: {e}") from None
    need = ["state", "age_band", "sex", "utility"]
    absent = [c for c in need if c not in df.columns]
    if absent:
        raise EconError(
            f"the 5L-to-3L mapping table needs columns {need}; missing {absent} "
            f"(has {list(df.columns)})"
        )
    band_labels = df["age_band"].astype(str).to_numpy(dtype=object)
    bands: list[tuple[float, float, str]] = []
    for label in sorted(set(band_labels)):
        m = _BAND.match(label)
        if not m:
            raise EconError(f"mapping table age_band {label!r}: expected 'a-b' or 'a+'")
        lo = float(m.group(1))
        hi = float(m.group(2)) + 1 if m.group(2) else np.inf
        bands.append((lo, hi, label))
    bands.sort()
    band_of = {b[2]: k for k, b in enumerate(bands)}
    levels, missing = parse_states(
        df["state"].astype(str).to_numpy(dtype=object).tolist(), version="5L"
    )
    if missing.any():
        raise EconError("the 5L-to-3L mapping table has rows with no state")
    sex_norm = [_SEX.get(str(x).strip().lower()) for x in df["sex"].to_numpy(dtype=object)]
    if any(x is None for x in sex_norm):
        raise EconError("the 5L-to-3L mapping table's sex must be 'male' or 'female'")
    util = pd.to_numeric(df["utility"], errors="coerce").to_numpy(float)
    si = _state_index(levels)
    bi = np.array([band_of[b] for b in band_labels], dtype=np.int64)
    xi = np.array([_SEX_COLUMN[str(x)] for x in sex_norm], dtype=np.int64)
    table = np.full((3125, len(bands), 2), np.nan)
    count = np.zeros(table.shape, dtype=np.int64)
    table[si, bi, xi] = util
    np.add.at(count, (si, bi, xi), 1)
    if (count != 1).any() or np.isnan(table).any():
        raise EconError(
            f"the 5L-to-3L mapping table must give one utility for every state, age band and "
            f"sex ({table.size} rows): {int((count == 0).sum())} missing, "
            f"{int((count > 1).sum())} repeated, {int(np.isnan(util).sum())} not numbers"
        )
    return table, bands
