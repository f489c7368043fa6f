"""Marginal log-likelihood of a random-intercept GLMM by adaptive Gauss–Hermite
quadrature (``nagq >= 2``) or the Laplace approximation (``nagq == 1``).

Model: ``η_ij = x_ij β + o_ij + σ u_j`` with ``u_j ~ N(0, 1)``. For cluster j let
``g_j(u) = Σ_i log f(y_ij | η_ij(u)) - u²/2``, ``û_j`` its mode (g is strictly
concave for all three families) and ``H_j = -g_j''(û_j) = 1 + σ² Σ_i d2_ij``.
With ``s_j = H_j^{-1/2}`` and probabilists' Gauss–Hermite nodes/weights
``(z_k, w_k)`` (``Σ w_k = √(2π)``), the cluster's log marginal likelihood is

    A_j = -½ log 2π + log s_j + log Σ_k w_k exp(g_j(û_j + s_j z_k) + z_k²/2).

With one node (z = 0, w = √(2π)) this is Laplace, ``g_j(û_j) - ½ log H_j``, as in
lme4 (nAGQ = 1). The parameters are ``φ = (β, σ[, log θ])``; σ enters only
through σ·u with u symmetric, so the likelihood is even in σ: it is optimised
unconstrained and reported as |σ|, and σ = 0 is a stationary point (the GLM).

The gradient is exact for the approximation: the fixed-node derivative plus the
terms through the mode and the curvature (implicit differentiation; these need
``d3``). The Hessian returned for Newton steps holds the nodes fixed; for
``nagq >= 2`` it differs from the exact one only by the quadrature error (the exact
integral does not depend on where the nodes are placed), for Laplace it adds the
Schur complement of the mode. Everything is vectorised across clusters (rows are
sorted by cluster and summed with ``np.add.reduceat``); memory is O(n·nagq·p).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from odtrial.models.glmm import families as fam

LOG_2PI = float(np.log(2 * np.pi))


@lru_cache(maxsize=32)
def gh_nodes(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite nodes and log-weights (weight exp(-z²/2))."""
    if nagq == 1:
        z, w = np.zeros(1), np.array([np.sqrt(2 * np.pi)])
    else:
        z, w = np.polynomial.hermite_e.hermegauss(nagq)
    z.flags.writeable = False
    lw = np.log(w)
    lw.flags.writeable = False
    return z, lw


@dataclass(frozen=True)
class Problem:
    """Arrays of one fit, rows sorted by cluster."""

    resp: fam.Response
    X: np.ndarray  # (n, p)
    offset: np.ndarray  # (n,)
    cl: np.ndarray  # (n,) cluster code of each (sorted) row
    starts: np.ndarray  # (G,) first row of each cluster
    nagq: int
    z: np.ndarray = field(init=False)
    logw: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        z, lw = gh_nodes(self.nagq)
        object.__setattr__(self, "z", z)
        object.__setattr__(self, "logw", lw)

    @property
    def family(self) -> str:
        return self.resp.family

    @property
    def n_clusters(self) -> int:
        return len(self.starts)

    @property
    def n_params(self) -> int:
        return self.X.shape[1] + 1 + (self.family == "negbin")

    def csum(self, a: np.ndarray) -> np.ndarray:
        """Sum rows within clusters (axis 0)."""
        return np.add.reduceat(a, self.starts, axis=0)


@dataclass
class Evaluation:
    """Log-likelihood (and derivatives) at φ; ``u`` are the conditional modes."""

    llf: float
    u: np.ndarray
    curvature: np.ndarray  # H_j
    grad: np.ndarray | None = None
    hess: np.ndarray | None = None
    mode_converged: bool = True


def unpack(prob: Problem, phi: np.ndarray) -> tuple[np.ndarray, float, float]:
    p = prob.X.shape[1]
    theta = float(np.exp(phi[p + 1])) if prob.family == "negbin" else np.inf
    return phi[:p], float(phi[p]), theta


def find_modes(
    prob: Problem, eta0: np.ndarray, sigma: float, theta: float, u0: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Conditional modes û_j by safeguarded Newton, all clusters at once.

    g_j is strictly concave (g'' <= -1); a bracket [lo, hi] on the root of g' is
    kept and a Newton step leaving it is replaced by bisection.
    """
    u = np.array(u0, dtype=float, copy=True)
    lo = np.full_like(u, -np.inf)
    hi = np.full_like(u, np.inf)
    for _ in range(200):
        d1, d2, _ = fam.derivs(prob.resp, eta0 + sigma * u[prob.cl], theta)
        gp = sigma * prob.csum(d1) - u
        curv = 1.0 + sigma * sigma * prob.csum(d2)
        lo = np.where(gp > 0, np.maximum(lo, u), lo)
        hi = np.where(gp < 0, np.minimum(hi, u), hi)
        new = u + np.clip(gp / curv, -4.0, 4.0)
        # outside or on the bracket's ends (a clipped step can land exactly on one)
        bad = ((new <= lo) | (new >= hi)) & (new != u)
        if bad.any():
            both = bad & np.isfinite(lo) & np.isfinite(hi)
            new[both] = 0.5 * (lo[both] + hi[both])
        step = np.max(np.abs(new - u)) if len(u) else 0.0
        u = new
        if step < 1e-11 * (1.0 + np.max(np.abs(u))):
            return u, True
    return u, False


def evaluate(prob: Problem, phi: np.ndarray, u0: np.ndarray, order: int = 0) -> Evaluation:
    """Marginal log-likelihood at ``φ`` with its gradient (order ≥ 1) and Newton
    Hessian (order 2)."""
    beta, sigma, theta = unpack(prob, phi)
    X, cl, z, resp = prob.X, prob.cl, prob.z, prob.resp
    negbin = prob.family == "negbin"
    eta0 = X @ beta + prob.offset
    u, ok = find_modes(prob, eta0, sigma, theta, u0)
    d1m, d2m, d3m = fam.derivs(resp, eta0 + sigma * u[cl], theta, third=order >= 1)
    s2m = prob.csum(d2m)
    curv = 1.0 + sigma * sigma * s2m
    s = 1.0 / np.sqrt(curv)

    U = u[:, None] + s[:, None] * z[None, :]  # (G, K) node positions
    Ur = U[cl]
    eta = eta0[:, None] + sigma * Ur  # (n, K)
    const = prob.csum(resp.const + fam.theta_const(resp, theta))  # (G,)
    lf, d1n, d2n = fam.node_terms(resp, eta, theta, order)
    S = prob.csum(lf) + const[:, None]
    T = prob.logw[None, :] + S - 0.5 * U * U + 0.5 * z * z
    tmax = T.max(axis=1, keepdims=True)
    e = np.exp(T - tmax)
    esum = e.sum(axis=1)
    A = -0.5 * LOG_2PI + np.log(s) + tmax[:, 0] + np.log(esum)
    out = Evaluation(llf=float(A.sum()), u=u, curvature=curv, mode_converged=ok)
    if order == 0:
        return out

    assert d1n is not None and d2n is not None
    p = X.shape[1]
    q = prob.n_params
    pi = e / esum[:, None]  # (G, K) normalised node weights
    pir = pi[cl]
    D1s = prob.csum(d1n)  # (G, K)
    grad = np.empty(q)
    grad[:p] = X.T @ np.einsum("ik,ik->i", pir, d1n)
    grad[p] = np.sum(pi * U * D1s)
    if negbin:
        l_t, l_tt, d1t, _ = fam.theta_derivs(resp, eta, theta)
        LTs = prob.csum(l_t)
        grad[p + 1] = theta * np.sum(pi * LTs)

    # terms through the mode û(φ) and the curvature s(φ) = H(φ)^(-1/2)
    gprime = sigma * D1s - U
    dA_du = np.sum(pi * gprime, axis=1)
    dA_ds = 1.0 / s + np.sum(pi * gprime * z[None, :], axis=1)
    assert d3m is not None
    s1m, s3m = prob.csum(d1m), prob.csum(d3m)
    cg = np.empty((prob.n_clusters, q))  # ∂φ g'(û) per cluster
    cg[:, :p] = -sigma * prob.csum(d2m[:, None] * X)
    cg[:, p] = s1m - sigma * u * s2m
    dH = np.empty_like(cg)  # ∂φ H at fixed û
    dH[:, :p] = sigma * sigma * prob.csum(d3m[:, None] * X)
    dH[:, p] = 2 * sigma * s2m + sigma * sigma * s3m * u
    if negbin:
        _, _, d1t_m, d2t_m = fam.theta_derivs(resp, eta0 + sigma * u[cl], theta)
        cg[:, p + 1] = sigma * theta * prob.csum(d1t_m)
        dH[:, p + 1] = sigma * sigma * theta * prob.csum(d2t_m)
    du = cg / curv[:, None]
    dH_total = dH + (sigma**3 * s3m)[:, None] * du
    ds = -0.5 * (s**3)[:, None] * dH_total
    grad += dA_du @ du + dA_ds @ ds
    out.grad = grad
    if order == 1:
        return out

    # Newton Hessian with the nodes held fixed: E_π[∇²g] + Var_π[∇g] per cluster
    K = len(z)
    hess = np.zeros((q, q))
    wd2 = pir * d2n
    hess[:p, :p] = -(X.T * wd2.sum(axis=1)) @ X
    hess[:p, p] = -X.T @ np.einsum("ik,ik->i", wd2, Ur)
    hess[p, p] = -np.sum(pi * U * U * prob.csum(d2n))
    a = np.empty((prob.n_clusters, K, q))  # ∇g at each node, per cluster
    bounds = np.r_[prob.starts, len(cl)]
    for j in range(prob.n_clusters):  # X_jᵀ D1_j per cluster: no (n, K, p) temporary
        lo, hi = bounds[j], bounds[j + 1]
        a[j, :, :p] = d1n[lo:hi].T @ X[lo:hi]
    a[:, :, p] = U * D1s
    if negbin:
        hess[:p, p + 1] = theta * X.T @ (pir * d1t).sum(axis=1)
        hess[p, p + 1] = theta * np.sum(pi * U * prob.csum(d1t))
        hess[p + 1, p + 1] = np.sum(pi * (theta * theta * prob.csum(l_tt) + theta * LTs))
        a[:, :, p + 1] = theta * LTs
    abar = np.einsum("gk,gkq->gq", pi, a)
    hess += np.einsum("gk,gkq,gkr->qr", pi, a, a) - abar.T @ abar
    if K == 1:  # Laplace: the mode moves with φ
        hess += (cg / curv[:, None]).T @ cg
    out.hess = np.triu(hess) + np.triu(hess, 1).T
    return out
