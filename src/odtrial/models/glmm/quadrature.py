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
sorted by cluster and summed with ``np.add.reduceat``, or with one small matrix
product per cluster for the ``x``-weighted sums); memory is O(n·nagq).

Cost. The work is in the (row, node) terms. A 0/1 response (the common case)
has a fast path with the same formulas rearranged (``_BinaryNodes``):
``exp(-η)`` is a product of a per-row, a per-cluster and a per-(cluster, node)
exponential, so no exponential is taken per row and node; the log terms are
summed as logs of products over chunks of rows (``_csum_log``); the y-dependent
parts are summed per cluster in closed form; scratch arrays are reused across
evaluations. It agrees with the direct formulas to rounding (tested). The
modes are warm-started by the caller and may stop on a quadratic error bound
(``_solve_modes``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np

from odtrial.models.glmm import families as fam

LOG_2PI = float(np.log(2 * np.pi))
# The binary fast path forms exp(-η) as a product of row, cluster and node
# factors; it is used while |η| and every factor's exponent stay below this
# bound (exp overflows past ~709), otherwise the direct formulas are used.
EXP_BOUND = 690.0
# With this many adaptive nodes the fixed-node Hessian equals the exact one up to
# the quadrature error and fits use it; with fewer, the covariance uses central
# differences of the exact gradient, so their modes are solved to the strict
# tolerance (see ``_solve_modes``).
ANALYTIC_HESSIAN_MIN_NODES = 12


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
    # data-only constants and scratch arrays, built on first use (``_layout``,
    # ``_workspace``): evaluate one problem from one thread at a time
    cache: dict[str, Any] = field(init=False, default_factory=dict, repr=False, compare=False)

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


def with_nodes(prob: Problem, nagq: int, *, warmup: bool = False) -> Problem:
    """The same data with another number of nodes (sharing the data constants).

    ``warmup``: the copy only leads the optimiser towards the optimum of ``prob``
    (its modes may stop on the quadratic error bound whatever its node count).
    """
    out = Problem(prob.resp, prob.X, prob.offset, prob.cl, prob.starts, nagq)
    _layout(prob)
    if prob.resp.binary:
        _workspace(prob, max(nagq, prob.nagq))
    out.cache.update(prob.cache)
    out.cache["warmup"] = warmup
    return out


@dataclass(frozen=True)
class _Layout:
    """Constants of a problem that depend on the data only."""

    bounds: list[tuple[int, int]]  # row range of each cluster
    xt1: list[np.ndarray]  # per cluster, [X | 1]ᵀ as a contiguous (p + 1, n_j) block
    const: np.ndarray  # (G,) Σ resp.const per cluster
    # 0/1 response only (else empty): successes and failures per cluster, Σ y x
    n1: np.ndarray
    n0: np.ndarray
    xy: np.ndarray  # (G, p)
    ym1: np.ndarray  # (n,) y - 1


def _layout(prob: Problem) -> _Layout:
    lay = prob.cache.get("layout")
    if lay is None:
        n, p = prob.X.shape
        edges = np.r_[prob.starts, n].tolist()
        bounds = list(pairwise(edges))
        X1 = np.empty((n, p + 1))
        X1[:, :p] = prob.X
        X1[:, p] = 1.0
        xt1 = [np.ascontiguousarray(X1[lo:hi].T) for lo, hi in bounds]
        y = prob.resp.y
        empty = np.empty(0)
        if prob.resp.binary:
            n1 = prob.csum(y)
            n0 = prob.csum(np.ones(n)) - n1
            xy = prob.csum(y[:, None] * prob.X)
            ym1 = y - 1.0
        else:
            n1 = n0 = ym1 = empty
            xy = np.empty((0, p))
        lay = _Layout(bounds, xt1, prob.csum(prob.resp.const), n1, n0, xy, ym1)
        prob.cache["layout"] = lay
    assert isinstance(lay, _Layout)
    return lay


def _cluster_xt(lay: _Layout, buf: np.ndarray) -> np.ndarray:
    """``Σ_{i∈j} [x_i, 1] ⊗ buf[:, i]`` for every cluster j, ``buf`` of shape (m, n, K):
    returns (G, m, p + 1, K); row p of each block is the plain cluster sum.

    One small matrix product per cluster keeps memory at O(n·K) (no (n, K, p)
    temporary). (Timed alternatives, slower here: column-by-column products
    with ``reduceat``, and cluster-level columns as value × cluster sum.)
    """
    m, _, K = buf.shape
    out = np.empty((len(lay.bounds), m, lay.xt1[0].shape[0], K))
    for j, ((lo, hi), xt) in enumerate(zip(lay.bounds, lay.xt1, strict=True)):
        np.matmul(xt, buf[:, lo:hi], out=out[j])
    return out


def _workspace(prob: Problem, K: int) -> dict[str, np.ndarray]:
    """Scratch (n, K) arrays of the binary node terms, reused by every evaluation
    of a problem and shared with its copies for other node counts (``with_nodes``):
    fresh arrays of this size cost page faults comparable to the arithmetic."""
    n = len(prob.cl)
    flat = prob.cache.get("work")
    if flat is None or flat.shape[1] < n * K:
        flat = np.empty((4, n * max(K, prob.nagq)))
        prob.cache["work"] = flat
    assert isinstance(flat, np.ndarray)
    v = flat[:, : n * K].reshape(4, n, K)  # rows of ``flat`` are contiguous: so are these
    # W is spent once P and the log sums are formed: π by row reuses it
    return {"E": v[0], "W": v[1], "PD": v[2:4], "pir": v[1]}


LOG_2 = float(np.log(2.0))
LOG_CHUNKS = (128, 64, 32, 16, 8)  # rows per product in _csum_log, largest that is safe
LOG_PRODUCT_MAX = 700.0  # products stay below exp(700) < the largest double


def _chunks(prob: Problem, C: int) -> tuple[np.ndarray, np.ndarray]:
    """First rows of chunks of at most ``C`` rows that never straddle clusters,
    and the index of each cluster's first chunk."""
    key = f"chunks{C}"
    got = prob.cache.get(key)
    if got is None:
        n = len(prob.cl)
        edges = np.r_[prob.starts, n]
        per = -(-np.diff(edges) // C)  # chunks per cluster
        first = np.r_[0, np.cumsum(per)[:-1]]
        owner = np.repeat(np.arange(len(per)), per)
        rows = edges[owner] + (np.arange(int(per.sum())) - first[owner]) * C
        got = (rows, first)
        prob.cache[key] = got
    assert isinstance(got, tuple)
    return got


def _csum_log(prob: Problem, W: np.ndarray, logmax: float) -> np.ndarray:
    """``Σ_{i∈j} log W_ik`` per cluster for ``1 <= W <= exp(logmax)``.

    Logarithms of products over chunks of up to 128 rows, chosen so that no
    product can overflow: a chunk's relative rounding (≤ C ulp) is an absolute
    error ≤ C·1.1e-16 in its log, the same order as rounding C separate logs,
    at a fraction of their cost.
    """
    for C in LOG_CHUNKS:
        if C * logmax <= LOG_PRODUCT_MAX:
            rows, first = _chunks(prob, C)
            return np.add.reduceat(np.log(np.multiply.reduceat(W, rows, axis=0)), first, axis=0)
    return prob.csum(np.log(W))


@dataclass
class Evaluation:
    """Log-likelihood (and derivatives) at φ; ``u`` are the conditional modes."""

    llf: float
    u: np.ndarray
    curvature: np.ndarray  # H_j
    grad: np.ndarray | None = None
    hess: np.ndarray | None = None
    mode_converged: bool = True
    du: np.ndarray | None = None  # (G, q) ∂û/∂φ (order ≥ 1): predicts the modes at a new φ


def unpack(prob: Problem, phi: np.ndarray) -> tuple[np.ndarray, float, float]:
    p = prob.X.shape[1]
    theta = float(np.exp(phi[p + 1])) if prob.family == "negbin" else np.inf
    return phi[:p], float(phi[p]), theta


# --- conditional modes -------------------------------------------------------

Sums = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def find_modes(
    prob: Problem, eta0: np.ndarray, sigma: float, theta: float, u0: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Conditional modes û_j by safeguarded Newton, all clusters at once.

    g_j is strictly concave (g'' <= -1); a bracket [lo, hi] on the root of g' is
    kept and a Newton step leaving it is replaced by bisection.
    """

    def sums(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d1, d2, _ = fam.derivs(prob.resp, eta0 + sigma * u[prob.cl], theta)
        return prob.csum(d1), prob.csum(d2)

    return _solve_modes(sums, sigma, u0)


def _solve_modes(
    sums: Sums, sigma: float, u0: np.ndarray, quadratic: bool = False
) -> tuple[np.ndarray, bool]:
    """The safeguarded Newton of ``find_modes`` given ``sums(u) = (Σ d1, Σ d2)``.

    Converged when the step is below ``tol = 1e-11 (1 + max |u|)``. With
    ``quadratic``, also after a plain Newton step δ with ``|σ| δ² <= tol``: with
    ``f = g'``, the error left by the step is ``|f''| δ² / (2 |f'|)`` and
    ``|f''| / |f'| = |σ|³ |Σ d3| / (1 + σ² Σ d2) <= |σ|`` because ``|d3| <= d2``
    in all three families, so the modes are within tol / 2 without another
    iteration to confirm it.
    """
    u = np.array(u0, dtype=float, copy=True)
    lo = np.full_like(u, -np.inf)
    hi = np.full_like(u, np.inf)
    for _ in range(200):
        s1, s2 = sums(u)
        gp = sigma * s1 - u
        curv = 1.0 + sigma * sigma * s2
        lo = np.where(gp > 0, np.maximum(lo, u), lo)
        hi = np.where(gp < 0, np.minimum(hi, u), hi)
        new = u + np.minimum(np.maximum(gp / curv, -4.0), 4.0)  # steps of at most 4
        # outside or on the bracket's ends (a clipped step can land exactly on one)
        bad = ((new <= lo) | (new >= hi)) & (new != u)
        bisected = bool(bad.any())
        if bisected:
            both = bad & np.isfinite(lo) & np.isfinite(hi)
            new[both] = 0.5 * (lo[both] + hi[both])
        step = float(np.abs(new - u).max()) if len(u) else 0.0
        u = new
        tol = 1e-11 * (1.0 + float(np.abs(u).max()))
        if step < tol:
            return u, True
        if quadratic and not bisected and step <= 1e-3 and abs(sigma) * step * step <= tol:
            return u, True
    return u, False


class _Overflow(Exception):
    """The binary fast path would leave the safe exponent range."""


@dataclass
class _ModeTerms:
    """The modes and ``d1, d2, d3`` of every row at its cluster's mode."""

    u: np.ndarray
    ok: bool
    d1: np.ndarray
    d2: np.ndarray
    d3: np.ndarray | None
    em: np.ndarray | None = None  # binary fast path: exp(-η) at the mode, per row
    bound: float = 0.0  # binary fast path: max |η0|


def _generic_modes(
    prob: Problem, eta0: np.ndarray, sigma: float, theta: float, u0: np.ndarray, third: bool
) -> _ModeTerms:
    u, ok = find_modes(prob, eta0, sigma, theta, u0)
    d1, d2, d3 = fam.derivs(prob.resp, eta0 + sigma * u[prob.cl], theta, third=third)
    return _ModeTerms(u, ok, d1, d2, d3)


def _binary_modes(
    prob: Problem, lay: _Layout, eta0: np.ndarray, sigma: float, u0: np.ndarray, third: bool
) -> _ModeTerms | None:
    """Modes of a 0/1 response with ``exp(-η) = exp(-η0) · exp(-σu_j)``: one
    exponential per cluster (not per row) in each Newton iteration.

    With ``E = exp(-η)`` and ``P = 1/(1 + E)``: ``d1 = y - P`` (written so that
    it keeps its relative accuracy), ``d2 = E P²``, ``d3 = d2 (1 - 2P)``. Returns
    None when an exponent could leave the safe range (the caller then uses the
    direct formulas).
    """
    bound = float(np.max(np.abs(eta0))) if len(eta0) else 0.0
    if not (bound <= EXP_BOUND and np.isfinite(sigma)):  # (NaN included)
        return None
    c0 = np.exp(-eta0)
    cl = prob.cl

    def emode(u: np.ndarray) -> np.ndarray:
        if not bound + abs(sigma) * float(np.max(np.abs(u))) <= EXP_BOUND:
            raise _Overflow
        return c0 * np.take(np.exp(-sigma * u), cl)

    def sums(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        E = emode(u)
        P = 1.0 / (1.0 + E)
        s1 = lay.n1 - prob.csum(P)
        E *= P
        E *= P
        return s1, prob.csum(E)

    try:
        # the quick stop leaves errors up to ~5e-12 in û: harmless for the
        # analytic derivatives, but avoided where a Hessian is differenced
        quick = prob.nagq >= ANALYTIC_HESSIAN_MIN_NODES or bool(prob.cache.get("warmup"))
        u, ok = _solve_modes(sums, sigma, u0, quadratic=quick)
        em = emode(u)
    except _Overflow:
        return None
    P = 1.0 / (1.0 + em)
    d1 = P * (prob.resp.y * em + lay.ym1)  # y = 1: E P = 1 - P; y = 0: -P
    d2 = em * P * P
    d3 = d2 * (1.0 - 2.0 * P) if third else None
    return _ModeTerms(u, ok, d1, d2, d3, em, bound)


# --- node terms --------------------------------------------------------------


class _Nodes:
    """Cluster sums over rows at every node (G, K), computed in two phases: the
    log-likelihood terms ``S`` first, then (given the normalised node weights
    π) the derivative sums."""

    S: np.ndarray

    def d1_sums(self, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Σ_i d1_ik per cluster (G, K), Σ_i x_i Σ_k π_jk d1_ik (p,))``."""
        raise NotImplementedError

    def all_sums(
        self, pi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(D1s, XD1, D2s, XD2, r2)``: cluster sums of d1 and d2 (G, K), of
        ``x d1`` and ``x d2`` (G, p, K), and per row ``Σ_k π_jk d2_ik`` (n,)."""
        raise NotImplementedError


class _GenericNodes(_Nodes):
    """Any family: ``η`` at every node and the family's formulas."""

    def __init__(
        self,
        prob: Problem,
        lay: _Layout,
        eta0: np.ndarray,
        sigma: float,
        U: np.ndarray,
        theta: float,
        order: int,
    ):
        self.prob, self.lay = prob, lay
        self.eta = eta0[:, None] + sigma * U[prob.cl]  # (n, K)
        const = lay.const
        if prob.family == "negbin":
            const = const + prob.csum(fam.theta_const(prob.resp, theta))
        lf, self.d1n, self.d2n = fam.node_terms(prob.resp, self.eta, theta, order)
        self.S = prob.csum(lf) + const[:, None]

    def d1_sums(self, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.d1n is not None
        pir = pi[self.prob.cl]
        return self.prob.csum(self.d1n), self.prob.X.T @ np.einsum("ik,ik->i", pir, self.d1n)

    def all_sums(
        self, pi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        assert self.d1n is not None and self.d2n is not None
        p = self.prob.X.shape[1]
        M = _cluster_xt(self.lay, np.stack((self.d1n, self.d2n)))
        r2 = np.einsum("ik,ik->i", pi[self.prob.cl], self.d2n)
        return M[:, 0, p], M[:, 0, :p], M[:, 1, p], M[:, 1, :p], r2


class _BinaryNodes(_Nodes):
    """A 0/1 response with ``E = exp(-η)`` formed as ``E_mode,i · exp(-σ s_j z_k)``
    (no exponential per row and node). With ``P = 1/(1 + E)``:
    ``log f = -log(1 + E) - (1 - y) η``, ``d1 = y - P``, ``d2 = E P²``; the
    (1 - y) η and y parts are summed per cluster in closed form."""

    def __init__(
        self,
        prob: Problem,
        lay: _Layout,
        eta0: np.ndarray,
        sigma: float,
        U: np.ndarray,
        s: np.ndarray,
        em: np.ndarray,
        bound: float,
        order: int,
    ):
        cl, z = prob.cl, prob.z
        self.prob, self.lay = prob, lay
        self.ws = ws = _workspace(prob, len(z))
        E, W, PD = ws["E"], ws["W"], ws["PD"]
        P, d2 = PD[0], PD[1]
        np.take(np.exp((-sigma * s)[:, None] * z[None, :]), cl, axis=0, out=E, mode="clip")
        E *= em[:, None]
        np.add(E, 1.0, out=W)
        np.divide(1.0, W, out=P)
        fail = prob.csum((1.0 - prob.resp.y) * eta0)  # Σ (1 - y) η0 per cluster
        logw = _csum_log(prob, W, bound + LOG_2)
        self.S = lay.const[:, None] - logw - fail[:, None] - (sigma * lay.n0)[:, None] * U
        if order >= 2:
            np.multiply(E, P, out=d2)
            d2 *= P

    def d1_sums(self, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prob, P = self.prob, self.ws["PD"][0]
        pir = np.take(pi, prob.cl, axis=0, out=self.ws["pir"], mode="clip")
        r1 = np.einsum("ik,ik->i", pir, P)  # Σ_k π P per row
        D1s = self.lay.n1[:, None] - prob.csum(P)
        return D1s, prob.X.T @ (prob.resp.y - r1)

    def all_sums(
        self, pi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        p = self.prob.X.shape[1]
        PD = self.ws["PD"]
        M = _cluster_xt(self.lay, PD)
        D1s = self.lay.n1[:, None] - M[:, 0, p]
        XD1 = self.lay.xy[:, :, None] - M[:, 0, :p]
        pir = np.take(pi, self.prob.cl, axis=0, out=self.ws["pir"], mode="clip")
        r2 = np.einsum("ik,ik->i", pir, PD[1])
        return D1s, XD1, M[:, 1, p], M[:, 1, :p], r2


def _mode_terms(
    prob: Problem,
    lay: _Layout,
    eta0: np.ndarray,
    sigma: float,
    theta: float,
    u0: np.ndarray,
    third: bool,
) -> _ModeTerms:
    m = _binary_modes(prob, lay, eta0, sigma, u0, third) if prob.resp.binary else None
    return m if m is not None else _generic_modes(prob, eta0, sigma, theta, u0, third)


def evaluate(prob: Problem, phi: np.ndarray, u0: np.ndarray, order: int = 0) -> Evaluation:
    """Marginal log-likelihood at ``φ`` with its gradient (order ≥ 1) and Newton
    Hessian (order 2)."""
    beta, sigma, theta = unpack(prob, phi)
    X, cl, z, resp = prob.X, prob.cl, prob.z, prob.resp
    lay = _layout(prob)
    negbin = prob.family == "negbin"
    eta0 = X @ beta + prob.offset
    m = _mode_terms(prob, lay, eta0, sigma, theta, u0, order >= 1)
    u = m.u
    s2m = prob.csum(m.d2)
    curv = 1.0 + sigma * sigma * s2m
    s = 1.0 / np.sqrt(curv)

    U = u[:, None] + s[:, None] * z[None, :]  # (G, K) node positions
    nodes: _Nodes
    bound = m.bound + abs(sigma) * float(np.max(np.abs(U)))  # >= max |η| (fast path)
    if m.em is not None and bound <= EXP_BOUND:
        nodes = _BinaryNodes(prob, lay, eta0, sigma, U, s, m.em, bound, order)
    else:
        nodes = _GenericNodes(prob, lay, eta0, sigma, U, theta, order)
    T = prob.logw[None, :] + nodes.S - 0.5 * U * U + 0.5 * z * z
    tmax = T.max(axis=1, keepdims=True)
    e = np.exp(T - tmax)
    esum = e.sum(axis=1)
    A = -0.5 * LOG_2PI + np.log(s) + tmax[:, 0] + np.log(esum)
    out = Evaluation(llf=float(A.sum()), u=u, curvature=curv, mode_converged=m.ok)
    if order == 0:
        return out

    p = X.shape[1]
    q = prob.n_params
    pi = e / esum[:, None]  # (G, K) normalised node weights
    grad = np.empty(q)
    if order == 1:
        D1s, grad[:p] = nodes.d1_sums(pi)
    else:
        D1s, XD1, D2s, XD2, r2 = nodes.all_sums(pi)
        grad[:p] = np.einsum("gk,gck->c", pi, XD1)
    grad[p] = np.sum(pi * U * D1s)
    if negbin:
        assert isinstance(nodes, _GenericNodes)
        eta = nodes.eta
        l_t, l_tt, d1t, _ = fam.theta_derivs(resp, eta, theta)
        LTs = prob.csum(l_t)
        grad[p + 1] = theta * np.sum(pi * LTs)

    # terms through the mode û(φ) and the curvature s(φ) = H(φ)^(-1/2)
    gprime = sigma * D1s - U
    dA_du = np.sum(pi * gprime, axis=1)
    dA_ds = 1.0 / s + np.sum(pi * gprime * z[None, :], axis=1)
    assert m.d3 is not None
    d2m, d3m = m.d2, m.d3
    s1m, s3m = prob.csum(m.d1), prob.csum(d3m)
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
    out.du = du
    if order == 1:
        return out

    # Newton Hessian with the nodes held fixed: E_π[∇²g] + Var_π[∇g] per cluster
    K = len(z)
    hess = np.zeros((q, q))
    hess[:p, :p] = -(X.T * r2) @ X
    piU = pi * U
    hess[:p, p] = -np.einsum("gk,gck->c", piU, XD2)
    hess[p, p] = -np.sum(piU * U * D2s)
    a = np.empty((prob.n_clusters, K, q))  # ∇g at each node, per cluster
    a[:, :, :p] = XD1.transpose(0, 2, 1)
    a[:, :, p] = U * D1s
    if negbin:
        hess[:p, p + 1] = theta * X.T @ (pi[cl] * d1t).sum(axis=1)
        hess[p, p + 1] = theta * np.sum(piU * prob.csum(d1t))
        hess[p + 1, p + 1] = np.sum(pi * (theta * theta * prob.csum(l_tt) + theta * LTs))
        a[:, :, p + 1] = theta * LTs
    abar = np.matmul(pi[:, None, :], a)[:, 0]  # (G, q) π-means
    hess += (a * pi[:, :, None]).reshape(-1, q).T @ a.reshape(-1, q) - abar.T @ abar
    if K == 1:  # Laplace: the mode moves with φ
        hess += (cg / curv[:, None]).T @ cg
    lower = _lower(q)
    hess[lower] = hess.T[lower]  # the upper triangle, mirrored
    out.hess = hess
    return out


@lru_cache(maxsize=8)
def _lower(q: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(q, -1)
