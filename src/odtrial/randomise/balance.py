"""Balance score of an allocation over cluster-level covariates.

Each covariate is standardised over all clusters ((x - mean) / SD, SD with
n - 1), then the score is the weighted sum over covariates of the squared
(``l2``) or absolute (``l1``) difference between the arm means, as the B
score of R's cvcrand. Smaller is better balanced; an allocation and its
mirror image score the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from odtrial.errors import RandomisationError

Metric = Literal["l2", "l1"]
METRICS: tuple[str, ...] = ("l2", "l1")
#: Scores are rounded to this many decimals before ranking so that BLAS
#: differences in the last bits between machines cannot reorder allocations.
SCORE_DECIMALS = 10


def standardise(values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Centre and scale each column; a constant column is an error (it cannot be balanced)."""
    x = np.asarray(values, dtype=float)
    sd = x.std(axis=0, ddof=1)
    for j, name in enumerate(names):
        if not np.isfinite(sd[j]) or sd[j] == 0:
            raise RandomisationError(
                f"balance column {name!r} is constant across clusters; it cannot be balanced, drop it"
            )
    return (x - x.mean(axis=0)) / sd


def check_weights(weights: Sequence[float] | None, names: Sequence[str]) -> np.ndarray:
    """Weights per balance column (default 1 each); non-negative, not all zero."""
    if weights is None:
        return np.ones(len(names))
    w = np.asarray(list(weights), dtype=float)
    if w.shape != (len(names),):
        raise RandomisationError(
            f"got {w.size} weight(s) for {len(names)} balance column(s) ({', '.join(names)}); give one weight per column"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise RandomisationError(
            f"weights must be finite, non-negative and not all zero (got {list(w)})"
        )
    return w


def balance_scores(
    allocations: np.ndarray,
    z: np.ndarray,
    *,
    weights: np.ndarray,
    metric: str = "l2",
) -> np.ndarray:
    """Score every allocation (rows of 0/1) for balance of standardised covariates ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.array([[-1.0], [1.0], [-1.0], [1.0]])
    >>> balance_scores(np.array([[1, 1, 0, 0], [1, 0, 1, 0]]), z, weights=np.ones(1))
    array([0., 4.])
    """
    if metric not in METRICS:
        raise RandomisationError(f"metric must be one of {', '.join(METRICS)} (got {metric!r})")
    a = np.asarray(allocations, dtype=float)
    n1 = a.sum(axis=1)
    n0 = a.shape[1] - n1
    diff = (a @ z) / n1[:, None] - ((1.0 - a) @ z) / n0[:, None]
    per = diff**2 if metric == "l2" else np.abs(diff)
    score = per @ weights
    return np.round(score, SCORE_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


__all__ = ["METRICS", "SCORE_DECIMALS", "Metric", "balance_scores", "check_weights", "standardise"]
