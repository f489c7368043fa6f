"""Which columns the imputation model uses, what kind each is, and how each is
encoded as a predictor.

A column is one of four kinds, each with its own conditional model (see
:mod:`odtrial.missing.imputation`): ``continuous`` (two-level normal, or predictive
mean matching), ``binary`` (two-level probit), ``count`` (predictive mean
matching on the log scale) and ``categorical`` (a sequence of two-level probit
models). Columns that cannot enter a regression (dates, identifiers, constants)
are left out of the default selection, each with a reason, and are an error
when asked for by name: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from odtrial.errors import ModelError

Kind = Literal["continuous", "binary", "count", "categorical"]
Method = Literal["norm", "pmm", "probit", "catprobit"]

METHODS_BY_KIND: dict[str, tuple[str, ...]] = {
    "continuous": ("norm", "pmm"),
    "binary": ("probit",),
    "count": ("pmm",),
    "categorical": ("catprobit",),
}
DEFAULT_METHOD = {
    "continuous": "norm",
    "binary": "probit",
    "count": "pmm",
    "categorical": "catprobit",
}


@dataclass(frozen=True)
class Column:
    """One column of the imputation model.

    ``levels`` are the observed values in code order for a binary or
    categorical column (code ``k`` is ``levels[k]``; the first is the
    reference); empty otherwise. ``center``/``spread`` standardise a numeric
    column as a predictor (log1p scale for a count).
    """

    name: str
    kind: Kind
    method: str
    levels: tuple[Any, ...]
    n_missing: int
    center: float = 0.0
    spread: float = 1.0

    @property
    def width(self) -> int:
        """Number of predictor columns it contributes."""
        return len(self.levels) - 1 if self.kind == "categorical" else 1


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s)) and not pd.api.types.is_bool_dtype(s)


def unusable_reason(s: pd.Series, max_levels: int) -> str | None:
    """Why a column cannot enter the imputation model, or None if it can."""
    obs = s.dropna()
    if obs.empty:
        return "every value is missing"
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
        return "a date or time (derive a number from it to use it)"
    if obs.nunique() < 2:
        return "constant"
    if pd.api.types.is_integer_dtype(s) and len(obs) >= 50 and obs.nunique() == len(obs):
        return "a different whole number in every row (an identifier?)"
    if not _is_numeric(s) and not pd.api.types.is_bool_dtype(s):
        k = obs.nunique()
        if k > max_levels:
            return f"{k} distinct values (an identifier? at most max_levels={max_levels} levels)"
    return None


def infer_kind(s: pd.Series) -> Kind:
    """The kind of a usable column from its dtype and observed values."""
    obs = s.dropna()
    if pd.api.types.is_bool_dtype(s) or obs.nunique() == 2:
        return "binary"
    if not _is_numeric(s):
        return "categorical"
    vals = obs.to_numpy(dtype=float)
    if pd.api.types.is_integer_dtype(s) and vals.min() >= 0:
        return "count"
    return "continuous"


def _levels(s: pd.Series) -> tuple[Any, ...]:
    obs = s.dropna()
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(obs.unique())
        return tuple(c for c in s.cat.categories if c in present)
    return tuple(sorted(obs.unique().tolist(), key=lambda v: (str(type(v)), v)))


def describe(
    data: pd.DataFrame,
    *,
    cluster: str,
    variables: Sequence[str] | None,
    auxiliaries: Sequence[str],
    methods: Mapping[str, str],
    max_levels: int,
) -> tuple[list[Column], dict[str, str]]:
    """Columns of the imputation model, and the columns left out with the reason.

    ``variables`` None: every column but ``cluster``, less the unusable ones
    (returned with their reason). Named columns that are unusable are an error.
    """
    if cluster not in data.columns:
        raise ModelError(f"cluster column {cluster!r} is not in the data")
    if data[cluster].isna().any():
        raise ModelError(
            f"cluster column {cluster!r} has missing values; every row needs a cluster"
        )
    named = list(variables) if variables is not None else None
    for c in [*(named or []), *auxiliaries, *methods]:
        if c not in data.columns:
            raise ModelError(f"column {c!r} (variables, auxiliaries or methods) is not in the data")
        if c == cluster:
            raise ModelError(f"{c!r} is the cluster column; it enters as the random intercept")
    candidates = (
        [c for c in data.columns if c != cluster]
        if named is None
        else list(dict.fromkeys([*named, *auxiliaries, *methods]))
    )
    excluded: dict[str, str] = {}
    columns: list[Column] = []
    for c in candidates:
        s = data[c]
        reason = unusable_reason(s, max_levels)
        if reason is not None:
            if named is not None or c in auxiliaries or c in methods:
                raise ModelError(f"column {c!r} cannot be used in the imputation model: {reason}")
            excluded[str(c)] = reason
            continue
        kind = infer_kind(s)
        method = methods.get(c, DEFAULT_METHOD[kind])
        if method not in METHODS_BY_KIND[kind]:
            raise ModelError(
                f"method {method!r} does not fit column {c!r} ({kind}); "
                f"use {' or '.join(map(repr, METHODS_BY_KIND[kind]))}"
            )
        levels = _levels(s) if kind in ("binary", "categorical") else ()
        center, spread = 0.0, 1.0
        if kind in ("continuous", "count"):
            v = s.dropna().to_numpy(dtype=float)
            if kind == "count":
                v = np.log1p(v)
            center, spread = float(v.mean()), float(v.std()) or 1.0
        columns.append(Column(str(c), kind, method, levels, int(s.isna().sum()), center, spread))
    if not any(col.n_missing for col in columns):
        raise ModelError("no column of the imputation model has a missing value: nothing to impute")
    return columns, excluded


def to_codes(s: pd.Series, col: Column) -> np.ndarray:
    """Internal values: floats for continuous and count, integer codes (as
    floats) for binary and categorical; NaN where missing."""
    out = np.full(len(s), np.nan)
    present = s.notna().to_numpy()
    if col.kind in ("binary", "categorical"):
        lookup = {v: k for k, v in enumerate(col.levels)}
        out[present] = [lookup[v] for v in s[present]]
    else:
        out[present] = s[present].to_numpy(dtype=float)
    return out


def encode(values: np.ndarray, col: Column) -> np.ndarray:
    """Predictor columns (n x width) of a complete internal column."""
    if col.kind == "categorical":
        k = len(col.levels)
        return (values[:, None] == np.arange(1, k)[None, :]).astype(float)
    if col.kind == "binary":
        return values[:, None].astype(float)
    v = np.log1p(values) if col.kind == "count" else values
    return ((v - col.center) / col.spread)[:, None]


def from_codes(values: np.ndarray, col: Column) -> list[Any] | np.ndarray:
    """Imputed internal values back to the column's own values."""
    if col.kind in ("binary", "categorical"):
        return [col.levels[int(k)] for k in values]
    return values
