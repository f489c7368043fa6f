"""From a formula and a data frame to the arrays a model fits.

Formulas follow the patsy/formulaic convention (``y ~ arm + C(stratum)``);
the intercept is named ``Intercept``. The formulaic model spec travels with
the design so the same encoding applies to new data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec

from odtrial.errors import ModelError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


@dataclass(frozen=True)
class Design:
    """The response, fixed-effects matrix and cluster membership of a model."""

    formula: str
    y: np.ndarray  # (n,)
    X: np.ndarray  # (n, p), Fortran order
    names: tuple[str, ...]
    cluster: np.ndarray  # (n,) integer codes 0..G-1, rows sorted by nothing in particular
    cluster_labels: np.ndarray  # (G,)
    response: str
    spec: Any  # formulaic ModelSpec of the right-hand side
    row_index: pd.Index  # index of the rows used, in data order

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_labels)

    @property
    def nobs(self) -> int:
        return len(self.y)


def _variables(formula: str, data: pd.DataFrame) -> list[str]:
    """Column names the formula mentions (identifiers that are columns)."""
    return [v for v in dict.fromkeys(_IDENT.findall(formula)) if v in data.columns]


def build_design(
    formula: str,
    data: pd.DataFrame,
    *,
    cluster: str | None,
    extra: tuple[str, ...] = (),
) -> Design:
    """Build the design; fails with a one-line :class:`ModelError` on bad input.

    Missing values are an error (with the column and first row named), not
    silently dropped: the analysis decides its population before the model.
    """
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if "~" not in formula:
        raise ModelError(f"formula {formula!r} has no '~': write it as 'response ~ terms'")
    lhs, rhs = (s.strip() for s in formula.split("~", 1))
    if lhs not in data.columns:
        raise ModelError(
            f"response column {lhs!r} is not in the data (columns: {', '.join(map(str, data.columns[:12]))})"
        )
    mentioned = _variables(rhs, data)
    needed = [lhs, *mentioned, *extra]
    if cluster is not None:
        if cluster not in data.columns:
            raise ModelError(f"cluster column {cluster!r} is not in the data")
        needed.append(cluster)
    for col in dict.fromkeys(needed):
        na = data[col].isna().to_numpy()
        if na.any():
            first = data.index[int(np.argmax(na))]
            raise ModelError(
                f"column {col!r} has {int(na.sum())} missing value(s), first at row {first!r}; drop or impute them before fitting"
            )
    y = data[lhs].to_numpy()
    if y.dtype == bool:
        y = y.astype(float)
    if not np.issubdtype(np.asarray(y).dtype, np.number):
        raise ModelError(f"response {lhs!r} must be numeric (got {data[lhs].dtype})")
    y = np.asarray(y, dtype=float)
    try:
        mm = Formula(rhs).get_model_matrix(data, na_action="raise")
    except Exception as e:  # formulaic raises many types; one line for the user
        raise ModelError(
            f"cannot build the design from {rhs!r}: {str(e).splitlines()[0]}"
        ) from None
    X = np.asfortranarray(mm.to_numpy(dtype=float))
    names = tuple(str(c) for c in mm.columns)
    labels: np.ndarray | pd.Index
    if cluster is not None:
        codes, labels = pd.factorize(data[cluster], sort=True)
    else:
        codes, labels = np.arange(len(data)), np.arange(len(data))
    return Design(
        formula=formula,
        y=y,
        X=X,
        names=names,
        cluster=np.asarray(codes, dtype=np.int64),
        cluster_labels=np.asarray(labels),
        response=lhs,
        spec=mm.model_spec,
        row_index=data.index,
    )


def check_rank(design: Design) -> None:
    """Fail clearly if the fixed-effects matrix is rank deficient."""
    rank = np.linalg.matrix_rank(design.X)
    if rank < design.X.shape[1]:
        raise ModelError(
            f"design matrix of {design.formula!r} is rank deficient ({rank} < {design.X.shape[1]} columns): "
            "a term is collinear with others or a factor level is empty"
        )


__all__ = ["Design", "ModelSpec", "build_design", "check_rank"]
