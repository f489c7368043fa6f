"""Gibbs steps for the two-level (random-intercept) conditional models.

One model per incomplete variable (probit models per step for a categorical
one): ``r = X β + u[cluster] + e``, ``u ~ N(0, σ²_u)``, ``e ~ N(0, σ²_e)``,
where ``r`` is the variable itself (continuous), its log1p (count, for
predictive mean matching) or a latent normal with ``σ²_e = 1`` (probit,
Albert & Chib 1993). Each step draws, in turn,

* β from its posterior given the variances with the cluster effects integrated
  out (generalised least squares through the compound-symmetric covariance of
  each cluster; collapsing removes the slow mixing between the intercept and
  the mean of the u's);
* the u's given β;
* σ²_u given the u's, under a uniform prior on σ_u (Gelman 2006, the choice
  for a few dozen clusters): inverse gamma ``((J - 1) / 2, Σu² / 2)``;
* σ²_e given β and the u's, under the Jeffreys prior: inverse gamma
  ``(n / 2, SSR / 2)``.

β has a flat prior, except in probit models, where a N(0, 5²) prior per
coefficient keeps the posterior proper under separation (a rare category in
which every outcome is 1) and is negligible otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, sparse, special

PROBIT_PRIOR_SD = 5.0


@dataclass
class Rows:
    """The rows a model is fitted to (observed values of its response)."""

    index: np.ndarray  # positions in the data
    group: np.ndarray  # cluster code of each row
    n_j: np.ndarray  # rows per cluster (all J clusters)
    sums: sparse.csr_matrix  # J x n indicator: cluster sums

    @classmethod
    def of(cls, index: np.ndarray, group_all: np.ndarray, n_clusters: int) -> Rows:
        g = group_all[index]
        n = len(index)
        s = sparse.csr_matrix((np.ones(n), (g, np.arange(n))), shape=(n_clusters, n), dtype=float)
        return cls(index, g, np.bincount(g, minlength=n_clusters).astype(float), s)


@dataclass
class State:
    """Current draw of one conditional model's parameters."""

    beta: np.ndarray
    u: np.ndarray
    s2u: float
    s2e: float
    beta_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    latent: np.ndarray | None = None  # probit: current latent normals of the rows

    @classmethod
    def start(cls, p: int, n_clusters: int, s2e: float) -> State:
        return cls(np.zeros(p), np.zeros(n_clusters), 0.1 * s2e, s2e, np.zeros(p))


def regression_step(
    r: np.ndarray,
    X: np.ndarray,
    XtX: np.ndarray,
    Xs: np.ndarray,
    rows: Rows,
    st: State,
    rng: np.random.Generator,
    *,
    probit: bool,
) -> None:
    """One Gibbs sweep over (β, u, σ²_u[, σ²_e]) given the response ``r``.

    ``XtX`` is ``X'X`` and ``Xs`` the cluster sums of ``X`` (J x p), passed in
    because most of their blocks do not change between iterations.
    """
    n, p = X.shape
    J = rows.n_j.size
    s2u, s2e = st.s2u, st.s2e
    rs = rows.sums @ r
    w = s2u / (s2e + rows.n_j * s2u)  # shrinkage per unit of cluster sum
    Xw = Xs.T * w
    A = (XtX - Xw @ Xs) / s2e
    b = (X.T @ r - Xw @ rs) / s2e
    if probit:
        A[np.diag_indices(p)] += 1.0 / PROBIT_PRIOR_SD**2
    chol = _cholesky(A)
    st.beta_mean = linalg.cho_solve((chol, True), b)
    st.beta = st.beta_mean + linalg.solve_triangular(chol.T, rng.standard_normal(p), lower=False)
    resid_sum = rs - Xs @ st.beta
    var_u = s2u * s2e / (s2e + rows.n_j * s2u)
    st.u = w * resid_sum + np.sqrt(var_u) * rng.standard_normal(J)
    st.s2u = max(float(st.u @ st.u) / 2.0 / rng.gamma((J - 1) / 2.0), 1e-12)
    if not probit:
        e = r - X @ st.beta - st.u[rows.group]
        st.s2e = float(e @ e) / 2.0 / rng.gamma(n / 2.0)


def _cholesky(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor; a tiny ridge if rounding left A not quite positive definite."""
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        ridge = 1e-8 * max(float(np.mean(np.diag(A))), 1.0)
        return np.linalg.cholesky(A + ridge * np.eye(A.shape[0]))


def truncated_latent(eta: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Latent normals N(eta, 1) truncated to > 0 where y is 1 and < 0 where 0.

    Inverse-CDF draws written so that the tail in use is the small
    probability (stable for |eta| up to ~37).
    """
    u = rng.random(eta.size)
    up = y > 0.5
    # y = 1: e > -eta, i.e. -e < eta: -e = Phi^-1(U Phi(eta)); y = 0: e = Phi^-1(U Phi(-eta))
    tail = special.ndtr(np.where(up, eta, -eta))
    e = special.ndtri(np.clip(u * tail, 1e-300, 1.0 - 1e-16))
    return eta + np.where(up, -e, e)
