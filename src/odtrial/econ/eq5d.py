"""EQ-5D utilities from a published value set.

The value sets ship as TOML files in ``odtrial/econ/value_sets/``, each with
its citation and the published values of whole states that the tests check.
A value set here is the additive form every UK value set takes:

    utility = full_health - constant [if any level > 1]
                          - sum of the dimension decrements
                          - n3 [if any level = 3, 3L only]

Missing responses (``None``, ``NaN``, ``""``, or any missing dimension) give
``NaN``: they are missing data, for the analysis to handle. Anything else that
is not a state (a level out of range, a wrong length, a letter) is an error
naming the first bad state and its position.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from odtrial.econ._errors import EconError

DIMENSIONS = (
    "mobility",
    "self_care",
    "usual_activities",
    "pain_discomfort",
    "anxiety_depression",
)
VERSIONS = {"3L": 3, "5L": 5}
DEFAULT_VALUE_SET = {"3L": "uk", "5L": "england"}
_FILES = {
    ("3L", "uk"): "eq5d_3l_uk_tto.toml",
    ("5L", "england"): "eq5d_5l_england.toml",
}
#: The 5L value "set" that is NICE's mapping to 3L UK utilities by age and sex
#: (:mod:`odtrial.econ.mapping`), and the other names it answers to.
MAPPING = "3l_mapping"
_MAPPING_ALIASES = frozenset(
    {MAPPING, "mapping", "uk_3l_mapping", "dsu", "nice_dsu", "uk_dsu", "hernandez_alava"}
)


@dataclass(frozen=True)
class ValueSet:
    """One published EQ-5D value set (additive decrements, optional constant and N3)."""

    name: str
    version: str
    country: str
    citation: str
    full_health: float
    constant: float
    n3: float
    decrements: np.ndarray  # (5, levels): decrement by dimension and level (level 1 = 0)
    anchors: Mapping[str, float] = field(default_factory=dict)

    @property
    def levels(self) -> int:
        return int(self.decrements.shape[1])

    def utility_of_levels(self, levels: np.ndarray) -> np.ndarray:
        """Utilities of an ``(n, 5)`` integer array of levels 1..L (no checks)."""
        idx = levels - 1
        dec = self.decrements[np.arange(5), idx].sum(axis=1)
        worst = levels.max(axis=1)
        u = self.full_health - dec - self.constant * (worst > 1) - self.n3 * (worst >= 3)
        return np.asarray(u, dtype=float)


def available_value_sets() -> list[tuple[str, str]]:
    """``(version, value_set)`` pairs that ship with odtrial (the mapping included)."""
    return sorted([*_FILES, ("5L", MAPPING)])


def is_mapping(value_set: str | None) -> bool:
    """Whether ``value_set`` names the 5L-to-3L mapping (which needs age and sex)."""
    return value_set is not None and value_set.lower() in _MAPPING_ALIASES


@cache
def load_value_set(version: str = "5L", value_set: str | None = None) -> ValueSet:
    """The shipped value set for ``version`` ("3L" or "5L") and ``value_set`` (country)."""
    version = _check_version(version)
    name = (value_set or DEFAULT_VALUE_SET[version]).lower()
    if is_mapping(name):
        raise EconError(
            f"{value_set!r} is the 5L-to-3L mapping, not an additive value set: use "
            "eq5d_utility(..., age=, sex=) or map_5l_to_3l"
        )
    try:
        filename = _FILES[(version, name)]
    except KeyError:
        have = ", ".join(f"{v} {c!r}" for v, c in available_value_sets())
        raise EconError(f"no EQ-5D-{version} value set {value_set!r}; available: {have}") from None
    text = resources.files("odtrial.econ").joinpath("value_sets", filename).read_text("utf-8")
    raw = tomllib.loads(text)
    levels = VERSIONS[version]
    dec = np.array([raw["decrements"][d] for d in DIMENSIONS], dtype=float)
    if dec.shape != (5, levels):  # a corrupt shipped file, not a user error
        raise AssertionError(f"{filename}: decrements must be 5 x {levels}")
    dec.flags.writeable = False
    return ValueSet(
        name=raw["name"],
        version=version,
        country=raw["country"],
        citation=" ".join(raw["citation"].split()),
        full_health=float(raw["full_health"]),
        constant=float(raw["constant"]),
        n3=float(raw["n3"]),
        decrements=dec,
        anchors={str(k): float(v) for k, v in raw.get("anchors", {}).items()},
    )


def eq5d_utility(
    states: Any,
    *,
    version: str = "5L",
    value_set: str | None = None,
    age: Any = None,
    sex: Any = None,
) -> np.ndarray:
    """EQ-5D utilities of ``states``, in order, from a published value set.

    Parameters
    ----------
    states
        Five-digit states (``"11111"``, ``11111``, or a sequence/Series of
        them), or a DataFrame / ``(n, 5)`` array with one column per dimension
        in the EQ-5D order (mobility, self-care, usual activities,
        pain/discomfort, anxiety/depression).
    version
        ``"5L"`` (levels 1-5) or ``"3L"`` (levels 1-3).
    value_set
        ``"england"`` (5L, Devlin et al. 2018) or ``"uk"`` (3L, Dolan 1997);
        the default is the one for ``version``. ``"3l_mapping"`` (also
        ``"nice_dsu"``, ``"hernandez_alava"``) values 5L responses by NICE's
        mapping to 3L UK utilities (Hernández Alava et al. 2023), which needs
        ``age`` and ``sex``; see :func:`map_5l_to_3l`.
    age, sex
        One per state, for the mapping only: age in years (18 or over) and
        ``"male"``/``"female"`` (``"m"``/``"f"``).

    Returns
    -------
    numpy.ndarray
        One utility per state (``NaN`` where the response is missing).

    Raises
    ------
    EconError
        (a ``ValueError``) for a state that is not valid for ``version``,
        naming the first such state and its position.

    Examples
    --------
    >>> eq5d_utility(["11111", "55555", "12111"]).tolist()
    [1.0, -0.285, 0.95]
    >>> float(eq5d_utility("33333", version="3L", value_set="uk")[0])
    -0.594
    """
    if is_mapping(value_set):
        if _check_version(version) != "5L":
            raise EconError(f"the 5L-to-3L mapping values 5L responses, not EQ-5D-{version}")
        if age is None or sex is None:
            raise EconError("the 5L-to-3L mapping depends on age and sex: pass age= and sex=")
        from odtrial.econ.mapping import map_5l_to_3l  # mapping imports this module

        return map_5l_to_3l(states, age, sex)
    if age is not None or sex is not None:
        raise EconError(
            f"age and sex are for the 5L-to-3L mapping (value_set={MAPPING!r}); the "
            f"{value_set or DEFAULT_VALUE_SET.get(version, version)!r} value set does not use them"
        )
    vs = load_value_set(version, value_set)
    levels, missing = parse_states(states, version=vs.version)
    out = np.full(levels.shape[0], np.nan)
    ok = ~missing
    out[ok] = vs.utility_of_levels(levels[ok])
    return np.round(out, 12)  # exact decimal sums, not 0.95000000000000007


def parse_states(states: Any, *, version: str = "5L") -> tuple[np.ndarray, np.ndarray]:
    """``(levels, missing)``: an ``(n, 5)`` int array (1 where missing) and a missing mask.

    Raises :class:`EconError` for the first state that is present but invalid.
    """
    version = _check_version(version)
    top = VERSIONS[version]
    labels: list[Any] | None = None
    if isinstance(states, pd.DataFrame):
        if states.shape[1] != 5:
            raise EconError(
                f"EQ-5D states as a table need 5 columns (one per dimension), got "
                f"{states.shape[1]}: {list(states.columns)}"
            )
        labels = list(states.index)
        rows: list[Any] = [tuple(r) for r in states.itertuples(index=False, name=None)]
    elif isinstance(states, np.ndarray) and states.ndim == 2:
        if states.shape[1] != 5:
            raise EconError(f"EQ-5D states as an array need 5 columns, got shape {states.shape}")
        rows = [tuple(r) for r in states.tolist()]
    else:
        if isinstance(states, pd.Series):
            labels = list(states.index)
            rows = list(states.tolist())
        elif isinstance(states, (str, bytes, int, np.integer, float)):
            rows = [states]
        elif isinstance(states, Iterable):
            rows = list(states)
        else:
            raise EconError(
                f"EQ-5D states must be strings, a table or an array, got {type(states).__name__}"
            )
    fast = _parse_fast(rows, top)
    if fast is not None:
        return fast
    n = len(rows)
    levels = np.ones((n, 5), dtype=np.int64)
    missing = np.zeros(n, dtype=bool)
    bad: list[int] = []
    for i, row in enumerate(rows):
        parsed = _parse_one(row, top)
        if parsed is None:
            missing[i] = True
        elif parsed is False:
            bad.append(i)
        else:
            levels[i] = parsed
    if bad:
        i = bad[0]
        where = f"position {i}" + (f" (index {labels[i]!r})" if labels is not None else "")
        more = f"; {len(bad) - 1} more invalid" if len(bad) > 1 else ""
        raise EconError(
            f"invalid EQ-5D-{version} state {_show(rows[i])} at {where}: expected five "
            f"levels, each 1-{top}{more}"
        )
    return levels, missing


def _parse_fast(rows: list[Any], top: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Vectorised parse of valid five-digit strings/integers; ``None`` to take the slow path."""
    if not all(
        (isinstance(r, (str, int, np.integer)) and not isinstance(r, bool)) or _is_missing(r)
        for r in rows
    ):
        return None
    ser = pd.Series(rows, dtype=object)
    missing = ser.map(_is_missing).to_numpy(dtype=bool)
    text = ser[~missing].astype(str).str.strip()
    if not text.str.fullmatch(f"[1-{top}]{{5}}").all():
        return None
    levels = np.ones((len(rows), 5), dtype=np.int64)
    if len(text):
        raw = np.frombuffer("".join(text).encode("ascii"), dtype=np.uint8)
        levels[~missing] = raw.reshape(-1, 5).astype(np.int64) - ord("0")
    return levels, missing


def _check_version(version: str) -> str:
    v = str(version).upper()
    if v not in VERSIONS:
        raise EconError(f"EQ-5D version must be '3L' or '5L', got {version!r}")
    return v


def _is_missing(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    if isinstance(x, float) and np.isnan(x):
        return True
    return isinstance(x, str) and x.strip() == ""


def _parse_one(row: Any, top: int) -> list[int] | bool | None:
    """Levels of one state; ``None`` if missing, ``False`` if invalid."""
    if isinstance(row, tuple):
        if any(_is_missing(x) for x in row):
            return None
        out = []
        for x in row:
            v = _as_level(x)
            if v is None or not 1 <= v <= top:
                return False
            out.append(v)
        return out
    if _is_missing(row):
        return None
    if isinstance(row, (float, np.floating)):
        if not float(row).is_integer():
            return False
        row = int(row)
    text = str(row).strip()
    if len(text) != 5 or not text.isdigit():
        return False
    digits = [int(c) for c in text]
    if not all(1 <= d <= top for d in digits):
        return False
    return digits


def _as_level(x: Any) -> int | None:
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return int(x) if float(x).is_integer() else None
    if isinstance(x, str) and x.strip().isdigit():
        return int(x.strip())
    return None


def _show(row: Any) -> str:
    if isinstance(row, tuple):
        return "(" + ", ".join(repr(x) for x in row) + ")"
    return repr(row)
