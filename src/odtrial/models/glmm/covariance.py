"""Covariance of the GLMM estimates from the Hessian of the log-likelihood.

lme4 (``vcov.merMod`` with the default ``use.hessian``) inverts the Hessian of the
deviance in *all* parameters (θ = σ_u, β), and reports the β block of the inverse
(times 2, the deviance being -2 log L). This module does the same with the
Hessian of -log L in φ = (β, σ[, log θ]). The β block of the inverse does not
depend on how the variance parameter is written (σ, σ² or log σ), because the
gradient is zero at the optimum.

At a boundary fit (σ = 0) the log-likelihood is even in σ, so the cross
derivatives between σ and the other parameters vanish and the β covariance is
the inverse of the β block alone: the GLM covariance.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numeric_hessian(grad: Callable[[np.ndarray], np.ndarray], phi: np.ndarray) -> np.ndarray:
    """Central differences of an exact gradient (error O(h²) ~ 1e-8 relative)."""
    q = len(phi)
    H = np.empty((q, q))
    for i in range(q):
        h = 1e-4 * (1.0 + abs(phi[i]))
        e = np.zeros(q)
        e[i] = h
        H[:, i] = (grad(phi + e) - grad(phi - e)) / (2 * h)
    return 0.5 * (H + H.T)


def invert_information(info: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, bool]:
    """Inverse of the information restricted to ``keep``; NaN elsewhere.

    Returns the full-size covariance and whether the kept block is positive definite.
    """
    q = info.shape[0]
    cov = np.full((q, q), np.nan)
    sub = info[np.ix_(keep, keep)]
    try:
        L = np.linalg.cholesky(sub)
    except np.linalg.LinAlgError:
        try:
            inv = np.linalg.inv(sub)
        except np.linalg.LinAlgError:
            return cov, False
        cov[np.ix_(keep, keep)] = inv
        return cov, False
    Li = np.linalg.inv(L)
    cov[np.ix_(keep, keep)] = Li.T @ Li
    return cov, True


def to_log_sigma(cov: np.ndarray, p: int, sigma: float) -> np.ndarray:
    """Change the σ row/column of a covariance in (β, σ, ...) to log σ (delta method)."""
    J = np.ones(cov.shape[0])
    J[p] = 1.0 / sigma if sigma > 0 else np.nan
    out = cov * J[:, None] * J[None, :]
    if not sigma > 0:
        out[p, :] = np.nan
        out[:, p] = np.nan
    return out
