"""Denominator degrees of freedom for t tests of LMM coefficients.

* ``satterthwaite`` (lmerTest): for a contrast ``l``, ``v = l'V l`` and
  ``g = d v / d varpar``; ``df = 2 v^2 / (g' A g)`` with ``A`` the asymptotic
  covariance of ``varpar = (theta, sigma)``.
* ``kenward-roger`` (pbkrtest ``Lb_ddf``): the Kenward & Roger (1997) df of
  an F test of ``L beta = 0`` with ``q = rank L`` rows; for one coefficient it
  reduces to ``2 v^2 / (g' W g)`` with ``g`` the derivative of ``v`` in the
  variance components and ``W`` their expected-information covariance.
* ``between-within`` (SAS DDFM=BETWITHIN, simplified to one grouping
  factor): a column constant within every cluster gets the between-cluster
  df ``G - rank(cluster-level columns)``, any other column the within df
  ``n - G - rank(within-cluster part of the other columns)``.
* ``residual``: ``n - p`` for every coefficient.
"""

from __future__ import annotations

import numpy as np


def satterthwaite_df(
    contrasts: np.ndarray,
    cov: np.ndarray,
    jacobian: list[np.ndarray],
    varpar_cov: np.ndarray,
) -> np.ndarray:
    """Satterthwaite df of each row of ``contrasts`` (one df per row).

    NaN where the denominator ``g' A g`` is not positive (the variance of the
    contrast does not move in any direction the fit can estimate): the formula
    has no answer there, and the caller decides what to use instead (``fit_lmm``
    warns and uses the between-within df).
    """
    L = np.atleast_2d(contrasts)
    v = np.einsum("ki,ij,kj->k", L, cov, L)
    g = np.column_stack([np.einsum("ki,ij,kj->k", L, jac, L) for jac in jacobian])
    denom = np.einsum("ki,ij,kj->k", g, varpar_cov, g)
    ok = np.isfinite(denom) & (denom > 0)
    return np.where(ok, 2.0 * v**2 / np.where(ok, denom, 1.0), np.nan)


def kenward_roger_df(
    contrast: np.ndarray, cov: np.ndarray, p_mats: tuple[np.ndarray, ...], w: np.ndarray
) -> float:
    """Kenward–Roger df for ``L beta = 0`` (``L`` is q x p, or one row).

    ``cov`` is the unadjusted var(beta_hat); ``p_mats`` and ``w`` come from
    :func:`odtrial.models.lmm.covariance.kenward_roger`. Computed as pbkrtest
    does, so a degenerate fit can give a non-finite or non-positive value
    (``q rho <= 1``); ``fit_lmm`` treats those as failed and says what it used.
    """
    L = np.atleast_2d(contrast)
    q = L.shape[0]
    theta = L.T @ np.linalg.solve(L @ cov @ L.T, L)
    theta_v = theta @ cov
    u = [theta_v @ pm @ cov for pm in p_mats]
    a1 = a2 = 0.0
    k = len(p_mats)
    for i in range(k):
        for j in range(i, k):
            e = 1.0 if i == j else 2.0
            a1 += e * w[i, j] * np.trace(u[i]) * np.trace(u[j])
            a2 += e * w[i, j] * np.sum(u[i] * u[j].T)
    b = (a1 + 6.0 * a2) / (2.0 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    den = 3.0 * q + 2.0 * (1.0 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    v0 = 1.0 + c1 * b
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    v1 = 1.0 - c2 * b
    v2 = 1.0 - c3 * b
    num = 1.0 - a2 / q
    ratio = 1.0 if abs(num) < 1e-14 and abs(v1) < 1e-14 else num / v1
    rho = ratio**2 * v0 / v2 / q
    return float(4.0 + (q + 2.0) / (q * rho - 1.0))


def between_within_df(X: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """Between-within df per column of ``X`` (see the module docstring)."""
    n, _p = X.shape
    sizes = np.bincount(cluster, minlength=n_clusters).astype(float)
    means = (
        np.column_stack(
            [np.bincount(cluster, weights=X[:, k], minlength=n_clusters) for k in range(X.shape[1])]
        )
        / sizes[:, None]
    )
    within = X - means[cluster]
    scale = np.maximum(np.abs(X).max(axis=0), 1.0)
    is_between = np.abs(within).max(axis=0) <= 1e-10 * scale
    rank_b = np.linalg.matrix_rank(means[:, is_between]) if is_between.any() else 0
    rank_w = np.linalg.matrix_rank(within[:, ~is_between]) if (~is_between).any() else 0
    df_between = float(n_clusters - rank_b)
    df_within = float(n - n_clusters - rank_w)
    return np.where(is_between, df_between, df_within)


def residual_df(nobs: int, p: int) -> np.ndarray:
    """``n - p`` for each of the ``p`` coefficients."""
    return np.full(p, float(nobs - p))
