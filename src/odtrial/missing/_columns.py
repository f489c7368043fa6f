"""Which columns the imputation model uses, what kind each is, and how each is
encoded as a predictor.

A column is one of four kinds, each with its own conditional model (see
:mod:`odtrial.missing.imputation`): ``continuous`` (two-level normal, or predictive
mean matching), ``binary`` (two-level probit), ``count`` (predictive mean
matching on the log scale) and ``categorical`` (a sequence of two-level probit
models). Columns that cannot enter a regression (dates, identifiers, constants)
or should not (labels of the cluster or of units nested in it, whose dummies
would be fixed cluster effects in place of the random intercept) are left out
of the default selection, each with a reason, and are an error when asked for
by name: nothing is dropped silently.
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


#: Fewest clusters for which consecutive whole numbers, one per cluster, are
#: taken for a cluster code: with fewer, a genuine cluster-level count (GPs in
#: each of four practices: 3, 4, 5, 6) can look the same.
MIN_CLUSTERS_FOR_CODE = 8


def _nesting(s: pd.Series, cluster: pd.Series) -> tuple[bool, bool]:
    """Whether every observed value of ``s`` lies within a single cluster (of
    at least two that it is observed in), and whether it is one-to-one with
    those clusters."""
    seen = s.notna().to_numpy()
    pairs = pd.DataFrame(
        {"v": s[seen].to_numpy(dtype=object), "c": cluster[seen].to_numpy(dtype=object)}
    ).drop_duplicates()
    nested = bool(pairs["v"].is_unique) and pairs["c"].nunique() >= 2
    return nested, nested and bool(pairs["c"].is_unique)


def _is_cluster_code(s: pd.Series, cluster: pd.Series) -> bool:
    """A numeric column that numbers the clusters: consecutive whole numbers
    (101..116), one per cluster and a different one for each. Numbers that are
    not consecutive (list sizes, IMD scores) are taken for a cluster-level
    measurement, which is constant within a cluster and one-to-one with the
    clusters just the same."""
    vals = s.dropna().to_numpy(dtype=float)
    k = len(np.unique(vals))
    if k < MIN_CLUSTERS_FOR_CODE or not np.all(vals == np.round(vals)):
        return False
    return vals.max() - vals.min() + 1 == k and _nesting(s, cluster)[1]


def unusable_reason(s: pd.Series, max_levels: int, cluster: pd.Series | None = None) -> str | None:
    """Why a column cannot (or should not) enter the imputation model, or None
    if it can. ``cluster`` (named, aligned with ``s``) enables the checks for
    labels of the cluster and of units nested in it."""
    obs = s.dropna()
    if obs.empty:
        return "every value is missing"
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
        return "a date or time (derive a number from it to use it)"
    k = obs.nunique()
    if k < 2:
        return "constant"
    if pd.api.types.is_integer_dtype(s) and len(obs) >= 50 and k == len(obs):
        return "a different whole number in every row (an identifier?)"
    if _is_numeric(s):
        if cluster is not None and _is_cluster_code(s, cluster):
            return (
                f"numbers the clusters of {cluster.name!r} (consecutive whole numbers, one "
                "per cluster): a code, not a measurement"
            )
        return None
    distinct_rows = k == len(obs)  # an identifier rather than a label of groups
    if cluster is not None and not (k > max_levels and distinct_rows):
        nested, one_to_one = _nesting(s, cluster)
        if one_to_one:
            return (
                f"another label of the cluster {cluster.name!r} (one value per cluster): its "
                "dummies would be fixed cluster effects in place of the random intercept"
            )
        if nested:
            return (
                f"each value lies within a single cluster of {cluster.name!r} (units nested "
                "in the clusters, as wards in a hospital): its dummies would stand in for "
                "the cluster random intercept"
            )
    if not pd.api.types.is_bool_dtype(s) and k > max_levels:
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
    (returned with their reason), among them labels of the cluster and of units
    nested in it. Named columns that are unusable are an error.
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
        reason = unusable_reason(s, max_levels, data[cluster])
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
