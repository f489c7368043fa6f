"""Two-stage non-parametric cluster bootstrap with shrinkage correction.

Resampling clusters, then participants within the chosen clusters, counts the
within-cluster variation twice: a cluster mean already carries it, and the
second stage adds it again, so the plain two-stage bootstrap overstates the
variance. Davison & Hinkley (1997, section 3.8) shrink the cluster means
towards the overall mean before resampling so that the bootstrap reproduces
the estimated between- and within-cluster variances; Ng, Grieve & Carpenter
(Stata Journal 2013) apply it to costs and QALYs (their ``tsb``), and Gomes
et al. (Med Decis Making 2012) compare it with bivariate multilevel models.

Here, within each arm separately (the clusters were randomised within arms)
and for cost and effect each, with residuals ``r`` from the regression on the
treatment and covariates:

* cluster means ``rbar_j`` (``a`` clusters in the arm), their mean ``m`` and
  variance ``s_b^2``; the pooled within-cluster variance ``s_w^2``; the
  between-cluster variance ``s_x^2 = max(0, s_b^2 - s_w^2 mean(1/n_j))``;
* shrinkage ``c = sqrt(a s_x^2 / ((a - 1) s_b^2))`` (so that resampling ``a``
  shrunken means reproduces ``s_x^2``, the ``a/(a-1)`` undoing the bootstrap's
  own shrinkage), and ``d_j = sqrt(n_j / (n_j - 1))`` for the deviations;
* ``y* = fitted + m + c (rbar_j - m) + d_j (r - rbar_j)``.

Cost and effect are resampled together (whole participants, whole clusters),
so their correlation at both levels carries into the draws; each bootstrap
sample is refitted by least squares with the same covariates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from odtrial.econ._errors import EconError

_CHUNK = 250  # bootstrap samples per weighted least-squares batch


@dataclass(frozen=True)
class ShrinkageInfo:
    """Shrinkage factors per arm (rows: control, intervention; columns: cost, effect)."""

    c: np.ndarray  # (2, 2)
    between_var: np.ndarray  # (2, 2) s_x^2 by arm and outcome
    within_var: np.ndarray  # (2, 2) s_w^2 by arm and outcome


def ols(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients ``(p, 2)`` and residuals ``(n, 2)``."""
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef, y - x @ coef


def shrunken_outcomes(
    y: np.ndarray, x: np.ndarray, cluster: np.ndarray, arm: np.ndarray
) -> tuple[np.ndarray, ShrinkageInfo]:
    """Outcomes with cluster effects shrunk so the two-stage bootstrap has the right variance."""
    coef, resid = ols(y, x)
    fitted = x @ coef
    ys = np.empty_like(y)
    c_all = np.zeros((2, 2))
    sx_all = np.zeros((2, 2))
    sw_all = np.zeros((2, 2))
    for a in (0, 1):
        rows = np.flatnonzero(arm == a)
        codes, inv = np.unique(cluster[rows], return_inverse=True)
        k = len(codes)
        nj = np.bincount(inv).astype(float)
        r = resid[rows]
        rbar = np.zeros((k, 2))
        np.add.at(rbar, inv, r)
        rbar /= nj[:, None]
        dev = r - rbar[inv]
        m = rbar.mean(axis=0)
        s_b = rbar.var(axis=0, ddof=1)
        dfw = max(len(rows) - k, 1)
        s_w = (dev**2).sum(axis=0) / dfw
        s_x = np.maximum(0.0, s_b - s_w * np.mean(1.0 / nj))
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(s_b > 0, np.sqrt(k * s_x / ((k - 1) * s_b)), 0.0)
        d = np.where(nj > 1, np.sqrt(nj / np.maximum(nj - 1, 1)), 1.0)
        ys[rows] = fitted[rows] + m + c * (rbar[inv] - m) + d[inv, None] * dev
        c_all[a], sx_all[a], sw_all[a] = c, s_x, s_w
    return ys, ShrinkageInfo(c=c_all, between_var=sx_all, within_var=sw_all)


def tsb_draws(
    y: np.ndarray,
    x: np.ndarray,
    cluster: np.ndarray,
    arm: np.ndarray,
    *,
    term: int,
    n_boot: int,
    rng: np.random.Generator,
    shrink: bool = True,
) -> tuple[np.ndarray, ShrinkageInfo | None]:
    """``(n_boot, 2)`` bootstrap draws of the coefficient ``term`` (cost, effect).

    ``arm`` is 0/1 per row; clusters are resampled within arm, then
    participants within each chosen cluster.
    """
    if n_boot < 1:
        raise EconError(f"n_boot must be a positive number of bootstrap samples, got {n_boot}")
    if shrink:
        ys, info = shrunken_outcomes(y, x, cluster, arm)
    else:
        ys, info = y, None
    # members of each cluster, per arm
    groups: list[list[np.ndarray]] = []
    for a in (0, 1):
        rows = np.flatnonzero(arm == a)
        codes, inv = np.unique(cluster[rows], return_inverse=True)
        groups.append([rows[inv == j] for j in range(len(codes))])
    out = np.empty((n_boot, 2))
    for start in range(0, n_boot, _CHUNK):
        b = min(_CHUNK, n_boot - start)
        w = np.zeros((b, y.shape[0]))
        for members in groups:
            k = len(members)
            picks = rng.multinomial(
                k, np.full(k, 1.0 / k), size=b
            )  # (b, k) times each cluster drawn
            for j, idx in enumerate(members):
                nj = len(idx)
                # k_bj draws of n_j members each = one multinomial of k_bj * n_j
                w[:, idx] = rng.multinomial(picks[:, j] * nj, np.full(nj, 1.0 / nj))
        out[start : start + b] = _weighted_ls(w, x, ys)[:, term, :]
    return out, info


def _weighted_ls(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients ``(b, p, 2)`` for each row of case weights ``w``."""
    xtx = np.einsum("bn,np,nq->bpq", w, x, x)
    xty = np.einsum("bn,np,nk->bpk", w, x, y)
    try:
        return np.linalg.solve(xtx, xty)
    except np.linalg.LinAlgError:  # a degenerate resample: solve one at a time
        return np.stack(
            [np.linalg.lstsq(a, c, rcond=None)[0] for a, c in zip(xtx, xty, strict=True)]
        )
