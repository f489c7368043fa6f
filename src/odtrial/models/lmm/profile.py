"""The random-intercept LMM's likelihood, profiled over the variance ratio.

Model: ``y_ij = x_ij' beta + u_i + e_ij`` with ``u_i ~ N(0, s2u)`` and
``e_ij ~ N(0, s2)``. Write ``gamma = s2u / s2`` (lme4's ``theta**2``) and
``kappa_i = 1 / (1 + n_i gamma)``. Cluster ``i``'s covariance is
``s2 (I + gamma 11')`` whose inverse is ``(I - (1 - kappa_i)/n_i 11') / s2``,
so every quantity splits into a within-cluster part (data centred on cluster
means, which does not depend on gamma) and a between-cluster part (cluster
means weighted by ``n_i kappa_i``):

    M(gamma) = X' V^-1 X * s2 = Xw'Xw + sum_i n_i kappa_i xbar_i xbar_i'

The within part is reduced once to a (p+1) x (p+1) triangular factor, so each
evaluation is a QR of a (p + 1 + G) x (p + 1) matrix: no n x n matrix, memory
linear in n, time O(G p^2) per evaluation. For a fixed gamma, beta and s2
have closed forms; the criterion is then a function of gamma alone and its
first and second derivatives are analytic, so the optimum is found as the
root of an exact gradient.

The criteria are lme4's (``REMLcrit`` / ``deviance``): with ``c = n - p``
(REML) or ``n`` (ML) and ``r`` the weighted residual sum of squares,

    D(gamma) = sum log(1 + n_i gamma) [+ log|M|] + c (1 + log(2 pi r / c)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

_LOG2PI = float(np.log(2 * np.pi))


def _qr_r(a: np.ndarray) -> np.ndarray:
    """The triangular factor R of a QR decomposition (numpy's stubs mistype mode="r")."""
    return cast(np.ndarray, np.linalg.qr(a, mode="r"))


@dataclass(frozen=True)
class Sufficient:
    """What the likelihood needs from the data: O(G p + p^2) numbers."""

    sizes: np.ndarray  # (G,) cluster sizes n_i
    xbar: np.ndarray  # (G, p) cluster means of X
    ybar: np.ndarray  # (G,) cluster means of y
    r_within: np.ndarray  # (p+1, p+1) R of the QR of cluster-centred [X, y]
    nobs: int
    p: int

    @property
    def n_clusters(self) -> int:
        return len(self.sizes)

    def within_xx(self) -> np.ndarray:
        """Xw'Xw: the within-cluster cross-product of X."""
        r = self.r_within[: self.p, : self.p]
        return r.T @ r


def sufficient(y: np.ndarray, X: np.ndarray, cluster: np.ndarray, n_clusters: int) -> Sufficient:
    """Reduce the data once: cluster sizes and means, and the within-cluster QR."""
    sizes = np.bincount(cluster, minlength=n_clusters).astype(float)
    Xy = np.column_stack([X, y])
    sums = np.column_stack(
        [np.bincount(cluster, weights=Xy[:, k], minlength=n_clusters) for k in range(Xy.shape[1])]
    )
    means = sums / sizes[:, None]
    centred = Xy - means[cluster]
    r = _qr_r(centred)
    k = Xy.shape[1]
    if r.shape[0] < k:  # fewer rows than columns: pad the triangular factor
        r = np.vstack([r, np.zeros((k - r.shape[0], k))])
    return Sufficient(
        sizes=sizes,
        xbar=means[:, :-1],
        ybar=means[:, -1],
        r_within=r,
        nobs=len(y),
        p=X.shape[1],
    )


@dataclass(frozen=True)
class Profile:
    """The fit at one variance ratio gamma, with beta and s2 profiled out."""

    gamma: float
    reml: bool
    beta: np.ndarray  # (p,) GLS estimate
    rss: float  # r: weighted residual sum of squares, y'V^-1 y * s2 at beta
    r_x: np.ndarray  # (p, p) upper triangular, R'R = M(gamma)
    m_inv: np.ndarray  # (p, p) M(gamma)^-1
    kappa: np.ndarray  # (G,) 1 / (1 + n_i gamma)
    cluster_resid: np.ndarray  # (G,) e_i = n_i (ybar_i - xbar_i' beta)
    criterion: float  # REML criterion or ML deviance (-2 log-likelihood)
    gradient: float  # d criterion / d gamma
    c: int  # n - p (REML) or n (ML): the divisor of the profiled s2

    @property
    def sigma2(self) -> float:
        """Residual variance at this gamma (lme4's ``sigma(fit)^2``)."""
        return self.rss / self.c


def evaluate(s: Sufficient, gamma: float, *, reml: bool) -> Profile:
    """Profiled criterion and its gamma-derivative at ``gamma >= 0``."""
    p, n = s.p, s.nobs
    kappa = 1.0 / (1.0 + s.sizes * gamma)
    w = np.sqrt(s.sizes * kappa)[:, None]
    between = np.column_stack([s.xbar, s.ybar]) * w
    r = _qr_r(np.vstack([s.r_within, between]))
    r_x = np.ascontiguousarray(r[:p, :p])
    # p is small: invert the triangle once (scipy's solve_triangular has a high call cost)
    r_inv = np.triu(np.linalg.inv(r_x))
    beta = r_inv @ r[:p, p]
    rss = float(r[p, p] ** 2)
    m_inv = r_inv @ r_inv.T
    c = n - p if reml else n
    logdet_l = float(np.sum(np.log1p(s.sizes * gamma)))
    crit = logdet_l + c * (1.0 + _LOG2PI + np.log(rss / c))
    e = s.sizes * (s.ybar - s.xbar @ beta)
    k2 = kappa**2
    # d/dgamma of sum log(1 + n gamma), of r (envelope theorem), of log|M|
    grad = float(np.sum(s.sizes * kappa) - c * np.sum(k2 * e**2) / rss)
    if reml:
        crit += 2.0 * float(np.sum(np.log(np.abs(np.diag(r_x)))))
        q = np.einsum("gi,ij,gj->g", s.xbar, m_inv, s.xbar)
        grad -= float(np.sum(k2 * s.sizes**2 * q))
    return Profile(
        gamma=float(gamma),
        reml=reml,
        beta=beta,
        rss=rss,
        r_x=r_x,
        m_inv=m_inv,
        kappa=kappa,
        cluster_resid=e,
        criterion=float(crit),
        gradient=grad,
        c=c,
    )


def second_derivatives(s: Sufficient, prof: Profile) -> dict[str, float]:
    """First and second gamma-derivatives of the criterion's pieces.

    Returns ``ld1, ld2`` (sum log(1 + n gamma)), ``lm1, lm2`` (log|M|; zero
    for ML) and ``r1, r2`` (the weighted RSS ``r`` at the profiled beta).
    """
    n_i, kappa, e = s.sizes, prof.kappa, prof.cluster_resid
    ld1 = float(np.sum(n_i * kappa))
    ld2 = float(-np.sum(n_i**2 * kappa**2))
    # a = -(1/2) d/dbeta of r' : sum kappa^2 e_i s_i with s_i = n_i xbar_i
    a = (kappa**2 * e * n_i) @ s.xbar
    r1 = float(-np.sum(kappa**2 * e**2))
    r2 = float(np.sum(2.0 * n_i * kappa**3 * e**2) - 2.0 * a @ prof.m_inv @ a)
    lm1 = lm2 = 0.0
    if prof.reml:
        m1 = -(s.xbar * (kappa**2 * n_i**2)[:, None]).T @ s.xbar  # dM/dgamma
        m2 = (s.xbar * (2.0 * n_i**3 * kappa**3)[:, None]).T @ s.xbar
        a1 = prof.m_inv @ m1
        lm1 = float(np.trace(a1))
        lm2 = float(np.trace(prof.m_inv @ m2) - np.sum(a1 * a1.T))
    return {"ld1": ld1, "ld2": ld2, "lm1": lm1, "lm2": lm2, "r1": r1, "r2": r2}
