"""Bivariate linear mixed model of costs and effects with correlated cluster effects.

For participant ``i`` in cluster ``j``, with covariates ``x_ij`` (intercept,
arm, baseline cost and utility ...), the model of Gomes et al. (2012) is

    (cost_ij, effect_ij)' = B' x_ij + u_j + e_ij,
    u_j ~ N(0, Sigma_u),   e_ij ~ N(0, Sigma_e),

with unstructured 2 x 2 covariances at both levels: costs and effects are
correlated within a cluster and within a person. It is the model nlme's
``lme`` fits to the stacked outcome with ``random = ~ 0 + outcome | cluster``,
``weights = varIdent(~ 1 | outcome)`` and a ``corSymm`` within person (see
tests/reference/econ/).

Fitting uses the cluster's orthonormal (Helmert) contrast: the cluster mean
has covariance ``Sigma_e + n_j Sigma_u`` and the ``n_j - 1`` within-cluster
contrasts have ``Sigma_e``, independently, so the likelihood needs only 2 x 2
matrices per cluster and the within-cluster cross-products, whatever the
cluster sizes. B is profiled out by generalised least squares; the six
parameters of the two Cholesky factors are optimised (L-BFGS-B, the cluster
factor's diagonal bounded at 0 so a zero cluster variance is reachable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from odtrial.econ._errors import EconError
from odtrial.models.lmm.ddf import kenward_roger_df

_LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class BivariateFit:
    """A fitted bivariate mixed model (outcomes in the order cost, effect)."""

    terms: tuple[str, ...]
    coef: np.ndarray  # (p, 2): column 0 cost, column 1 effect
    cov: np.ndarray  # (2p, 2p): cost coefficients first, then effect coefficients
    sigma_u: np.ndarray  # cluster-level covariance (2, 2)
    sigma_e: np.ndarray  # participant-level covariance (2, 2)
    loglik: float
    method: str
    n_obs: int
    n_clusters: int
    converged: bool
    singular: bool
    max_abs_gradient: float
    n_iterations: int
    warnings: tuple[str, ...] = field(default=())
    cov_kr: np.ndarray | None = field(default=None, repr=False)  # Kenward-Roger adjusted (REML)
    _kr: tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray, np.ndarray] | None = field(
        default=None, repr=False
    )

    def effect_of(self, term: str, *, kenward_roger: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(estimates, covariance)`` of ``term`` in the cost and effect equations.

        ``kenward_roger=True`` gives the Kenward-Roger adjusted covariance (REML fits).
        """
        k = self.terms.index(term)
        p = len(self.terms)
        idx = [k, p + k]
        if kenward_roger and self.cov_kr is None:
            raise EconError("the Kenward-Roger adjustment needs a REML fit")
        cov = self.cov_kr if kenward_roger and self.cov_kr is not None else self.cov
        return self.coef[k].copy(), cov[np.ix_(idx, idx)].copy()

    def kenward_roger_df(self, contrast: np.ndarray) -> float:
        """Kenward-Roger df of a contrast (one row over the cost, then the effect, coefficients)."""
        if self._kr is None:
            raise EconError("the Kenward-Roger adjustment needs a REML fit")
        phi, p_mats, w, d = self._kr
        # the fit's own parameters are on the standardised outcome scale
        return kenward_roger_df(np.asarray(contrast, dtype=float) * d, phi, p_mats, w)


def fit_bivariate(
    y: np.ndarray,
    x: np.ndarray,
    groups: np.ndarray,
    *,
    terms: tuple[str, ...] | None = None,
    method: str = "REML",
) -> BivariateFit:
    """Fit the bivariate model by REML (default) or ML.

    ``y`` is ``(n, 2)`` (cost, effect), ``x`` the ``(n, p)`` design shared by
    both equations (include the intercept), ``groups`` the cluster of each row.
    """
    method = method.upper()
    if method not in ("REML", "ML"):
        raise EconError(f"bivariate model method must be 'REML' or 'ML', got {method!r}")
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    n, p = x.shape
    if y.shape != (n, 2):
        raise EconError(f"y must be (n, 2) for cost and effect, got {y.shape}")
    if not (np.isfinite(y).all() and np.isfinite(x).all()):
        raise EconError("bivariate model: outcomes and covariates must have no missing values")
    if np.linalg.matrix_rank(x) < p:
        raise EconError("bivariate model: the covariates are collinear (design not of full rank)")
    terms = tuple(terms) if terms is not None else tuple(f"x{i}" for i in range(p))
    # Fit on standardised outcomes (costs in pounds, QALYs near 1), then rescale.
    scale = y.std(axis=0, ddof=1)
    scale[~(scale > 0)] = 1.0
    stats = _Stats(y / scale, x, groups)
    if stats.n_groups < 3:
        raise EconError(f"bivariate model needs 3 or more clusters, got {stats.n_groups}")
    reml = method == "REML"

    def objective(theta: np.ndarray) -> float:
        return stats.deviance(theta, reml)[0]

    theta0 = stats.start()
    bounds = [(None, None)] * 3 + [(0.0, None), (None, None), (0.0, None)]
    res = optimize.minimize(
        objective,
        theta0,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
    )
    theta = res.x
    # polish from the optimum (L-BFGS-B may stop early on a flat ridge)
    res2 = optimize.minimize(
        objective,
        theta,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
    )
    n_iter = int(res.nit) + int(res2.nit)
    if res2.fun <= res.fun:
        theta, res = res2.x, res2
    dev, coef, a_inv = stats.deviance(theta, reml, full=True)
    se_, su_ = _sigmas(theta)
    grad = _central_gradient(objective, theta, bounds)
    at_bound = np.array([False, False, False, theta[3] <= 1e-8, False, theta[5] <= 1e-8])
    free_grad = np.abs(grad[~at_bound])
    max_grad = float(free_grad.max()) if free_grad.size else 0.0
    eig_u = np.linalg.eigvalsh(su_)
    singular = bool(eig_u.min() <= 1e-8 * max(np.trace(se_), 1e-300))
    warnings = []
    if singular:
        warnings.append(
            "cluster-level covariance is singular (a variance or correlation at its boundary)"
        )
    # the deviance is O(n); a gradient below 1e-3 is at the optimum for any inference
    converged = bool(res.success) or max_grad < 1e-3
    if not converged:
        warnings.append(f"optimiser did not converge: {res.message}")
    s = np.outer(scale, scale)
    coef_o = coef * scale[None, :]
    d = np.concatenate([np.full(p, scale[0]), np.full(p, scale[1])])
    cov_o = a_inv * np.outer(d, d)
    cov_kr = kr = None
    if reml:
        phi, phi_a, p_mats, w = stats.kenward_roger(theta)
        cov_kr = phi_a * np.outer(d, d)
        kr = (phi, p_mats, w, d)
    # log-likelihood of the original data: the Jacobian of the rescaling (for REML,
    # of the 2n - 2p error contrasts)
    loglik = -0.5 * dev - (n - p if reml else n) * float(np.log(scale).sum())
    return BivariateFit(
        terms=terms,
        coef=coef_o,
        cov=cov_o,
        sigma_u=su_ * s,
        sigma_e=se_ * s,
        loglik=float(loglik),
        method=method,
        n_obs=n,
        n_clusters=stats.n_groups,
        converged=converged,
        singular=singular,
        max_abs_gradient=max_grad,
        n_iterations=n_iter,
        warnings=tuple(warnings),
        cov_kr=cov_kr,
        _kr=kr,
    )


def _central_gradient(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    bounds: Sequence[tuple[float | None, float | None]],
) -> np.ndarray:
    """Central differences (one-sided at a lower bound)."""
    g = np.zeros_like(x)
    for i in range(x.size):
        h = 1e-5 * max(1.0, abs(x[i]))
        up, dn = x.copy(), x.copy()
        up[i] += h
        lo = bounds[i][0]
        if lo is not None and x[i] - h < lo:
            g[i] = (f(up) - f(x)) / h
            continue
        dn[i] -= h
        g[i] = (f(up) - f(dn)) / (2 * h)
    return g


def _chol(a: float, b: float, c: float) -> np.ndarray:
    return np.array([[a, 0.0], [b, c]])


def _sigmas(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    le = _chol(np.exp(theta[0]), theta[1], np.exp(theta[2]))
    lu = _chol(theta[3], theta[4], theta[5])
    return le @ le.T, lu @ lu.T


class _Stats:
    """Sufficient statistics: cluster sizes and means, within-cluster cross-products."""

    def __init__(self, y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> None:
        codes, inv = np.unique(np.asarray(groups), return_inverse=True)
        self.n_groups = len(codes)
        self.n_obs, self.p = x.shape
        nj = np.bincount(inv).astype(float)
        xbar = np.zeros((self.n_groups, self.p))
        ybar = np.zeros((self.n_groups, 2))
        np.add.at(xbar, inv, x)
        np.add.at(ybar, inv, y)
        xbar /= nj[:, None]
        ybar /= nj[:, None]
        xw = x - xbar[inv]
        yw = y - ybar[inv]
        self.nj, self.xbar, self.ybar = nj, xbar, ybar
        self.wxx, self.wxy, self.wyy = xw.T @ xw, xw.T @ yw, yw.T @ yw

    def start(self) -> np.ndarray:
        """Moment estimates: within-cluster residual covariance, between-cluster excess."""
        try:
            bw = np.linalg.lstsq(self.wxx, self.wxy, rcond=None)[0]
        except np.linalg.LinAlgError:
            bw = np.zeros((self.p, 2))
        dfw = max(self.n_obs - self.n_groups - np.linalg.matrix_rank(self.wxx), 1)
        se = (self.wyy - bw.T @ self.wxy) / dfw
        se = 0.5 * (se + se.T) + 1e-6 * np.eye(2)
        sqrt_n = np.sqrt(self.nj)[:, None]
        bb = np.linalg.lstsq(self.xbar * sqrt_n, self.ybar * sqrt_n, rcond=None)[0]
        r = self.ybar - self.xbar @ bb
        cov_b = np.cov(r.T, ddof=min(self.p, self.n_groups - 1))
        su = cov_b - se / self.nj.mean()
        w, v = np.linalg.eigh(0.5 * (su + su.T))
        su = (v * np.maximum(w, 0.05 * np.diag(se).min() / 10)) @ v.T
        le = np.linalg.cholesky(se)
        lu = np.linalg.cholesky(su)
        return np.array(
            [np.log(le[0, 0]), le[1, 0], np.log(le[1, 1]), lu[0, 0], lu[1, 0], lu[1, 1]]
        )

    def deviance(
        self, theta: np.ndarray, reml: bool, full: bool = False
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """-2 log-likelihood (REML or ML) at ``theta``, with B profiled out."""
        se, su = _sigmas(theta)
        p = self.p
        try:
            se_inv = np.linalg.inv(se)
            m = se[None, :, :] + self.nj[:, None, None] * su[None, :, :]  # (J, 2, 2)
            det_m = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
            if np.any(det_m <= 0) or np.linalg.det(se) <= 0:
                return np.inf, np.zeros((p, 2)), np.zeros((2 * p, 2 * p))
            m_inv = np.empty_like(m)
            m_inv[:, 0, 0] = m[:, 1, 1] / det_m
            m_inv[:, 1, 1] = m[:, 0, 0] / det_m
            m_inv[:, 0, 1] = m_inv[:, 1, 0] = -m[:, 0, 1] / det_m
            wm = self.nj[:, None, None] * m_inv  # n_j M_j^{-1}
            # A = Se^{-1} (x) Wxx + sum_j n_j M_j^{-1} (x) xbar_j xbar_j'   (vec of B, column-major)
            a = np.kron(se_inv, self.wxx)
            b = (self.wxy @ se_inv).T.reshape(-1)  # vec(Wxy Se^{-1})
            xx = np.einsum("jp,jq->jpq", self.xbar, self.xbar)
            xy = np.einsum("jp,jk->jpk", self.xbar, self.ybar)  # xbar_j ybar_j'
            for r in range(2):
                for c in range(2):
                    a[r * p : (r + 1) * p, c * p : (c + 1) * p] += np.einsum(
                        "j,jpq->pq", wm[:, r, c], xx
                    )
            bb = np.einsum("jpk,jkc->pc", xy, wm)  # sum_j xbar_j ybar_j' n_j M_j^{-1}
            b = b + bb.T.reshape(-1)
            chol = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros((p, 2)), np.zeros((2 * p, 2 * p))
        beta = np.linalg.solve(a, b)
        coef = beta.reshape(2, p).T  # (p, 2)
        rr = self.wyy - coef.T @ self.wxy - self.wxy.T @ coef + coef.T @ self.wxx @ coef
        q_within = float(np.sum(se_inv * rr))
        d = self.ybar - self.xbar @ coef  # (J, 2)
        q_between = float(np.einsum("jk,jkl,jl->", d, wm, d))
        logdet_v = float(
            np.log(det_m).sum() + (self.n_obs - self.n_groups) * np.log(np.linalg.det(se))
        )
        dev = 2 * self.n_obs * _LOG2PI + logdet_v + q_within + q_between
        if reml:
            dev += 2.0 * float(np.log(np.diag(chol)).sum()) - 2 * p * _LOG2PI
        if not full:
            return dev, coef, np.empty((0, 0))
        a_inv = np.linalg.inv(a)
        return dev, coef, 0.5 * (a_inv + a_inv.T)

    def kenward_roger(
        self, theta: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
        """Kenward & Roger (1997) adjusted covariance of B (as pbkrtest's ``vcovAdj``).

        The variance parameters are the six entries of Sigma_e and Sigma_u, in
        which V is linear (so the second-derivative term R is 0). Returns
        ``(Phi, Phi_A, P_i, W)``, the last two for the df of a contrast.
        """
        se, su = _sigmas(theta)
        p = self.p
        se_inv = np.linalg.inv(se)
        m_inv = np.linalg.inv(se[None, :, :] + self.nj[:, None, None] * su[None, :, :])
        xx = np.einsum("jp,jq->jpq", self.xbar, self.xbar)
        basis = [
            np.array([[1.0, 0.0], [0.0, 0.0]]),
            np.array([[0.0, 1.0], [1.0, 0.0]]),
            np.array([[0.0, 0.0], [0.0, 1.0]]),
        ]
        # dV/dsigma_k: within-cluster contrasts (Sigma_e entries only) and cluster means
        d_within = [*basis, *(np.zeros((2, 2)),) * 3]
        d_between = [np.broadcast_to(e, (self.n_groups, 2, 2)) for e in basis] + [
            self.nj[:, None, None] * e[None, :, :] for e in basis
        ]

        def kron_between(b: np.ndarray) -> np.ndarray:  # sum_j n_j b_j (x) xbar_j xbar_j'
            out = np.zeros((2 * p, 2 * p))
            for r in range(2):
                for c in range(2):
                    out[r * p : (r + 1) * p, c * p : (c + 1) * p] = np.einsum(
                        "j,jpq->pq", self.nj * b[:, r, c], xx
                    )
            return out

        a = np.kron(se_inv, self.wxx) + kron_between(m_inv)
        phi = np.linalg.inv(a)
        phi = 0.5 * (phi + phi.T)
        k = len(d_within)
        mw = [se_inv @ d @ se_inv for d in d_within]  # Se^-1 dSe Se^-1
        mb = [m_inv @ d @ m_inv for d in d_between]  # M^-1 dM M^-1, per cluster
        p_mats = tuple(-(np.kron(mw[i], self.wxx) + kron_between(mb[i])) for i in range(k))
        info = np.zeros((k, k))
        q_sum = np.zeros((2 * p, 2 * p))
        q_mats = {}
        for i in range(k):
            for j in range(i, k):
                qw = mw[i] @ d_within[j] @ se_inv
                qb = mb[i] @ d_between[j] @ m_inv
                q = np.kron(qw, self.wxx) + kron_between(qb)
                q_mats[i, j] = q
                tr_v = (self.n_obs - self.n_groups) * np.trace(
                    se_inv @ d_within[i] @ se_inv @ d_within[j]
                ) + float(np.einsum("jab,jba->", m_inv @ d_between[i], m_inv @ d_between[j]))
                tr_p = tr_v - 2.0 * np.trace(phi @ q) + np.trace(phi @ p_mats[i] @ phi @ p_mats[j])
                info[i, j] = info[j, i] = 0.5 * tr_p
        w = np.linalg.pinv(info)
        for i in range(k):
            for j in range(k):
                q = q_mats[min(i, j), max(i, j)]
                q = q if i <= j else q.T
                q_sum += w[i, j] * (q - p_mats[i] @ phi @ p_mats[j])
        phi_a = phi + 2.0 * phi @ q_sum @ phi
        return phi, 0.5 * (phi_a + phi_a.T), p_mats, w
