"""Covariance of the fixed effects and of the variance parameters.

Two parameterisations of the variance, each the one its reference uses:

* Satterthwaite (as lmerTest): ``varpar = (theta, sigma)`` with
  ``theta = sigma_u / sigma`` (lme4's relative factor). The asymptotic
  covariance of ``varpar`` is ``2 H^+`` where ``H`` is the Hessian of the
  unprofiled criterion (REML criterion or ML deviance) and ``^+`` inverts the
  eigenvalues above 1e-8 only; ``d var(beta) / d varpar`` is analytic here.
  The parameterisation matters on the boundary: at ``theta = 0`` the
  derivative in theta vanishes, as in lmerTest.
* Kenward–Roger (as pbkrtest, 1997 adjustment): the variance components
  ``(sigma_u^2, sigma^2)``, with ``dSigma/dsigma_u^2 = ZZ'`` and
  ``dSigma/dsigma^2 = I``. Both are linear in the components, so the second
  derivative term of Kenward & Roger (1997) vanishes. Every matrix
  ``X' Sigma^-k X`` has the closed form
  ``sigma^-2k (Xw'Xw + sum_i n_i kappa_i^k xbar_i xbar_i')`` because
  ``Sigma_i^-1`` has eigenvalue ``kappa_i / sigma^2`` on the cluster's ones
  vector and ``1 / sigma^2`` on its complement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from odtrial.models.lmm.profile import Profile, Sufficient, second_derivatives

EIGEN_TOL = 1e-8  # lmerTest's tolerance for a zero eigenvalue of the Hessian


def beta_covariance(prof: Profile) -> np.ndarray:
    """var(beta_hat) = sigma^2 M^-1 (lme4's ``vcov``)."""
    return prof.sigma2 * prof.m_inv


def varpar_hessian(s: Sufficient, prof: Profile) -> np.ndarray:
    """Hessian of the unprofiled criterion in ``(theta, sigma)`` at the fit.

    ``D(theta, sigma) = h(theta^2) + c log(2 pi sigma^2)`` with
    ``h(gamma) = log|L|^2 [+ log|M|] + r(gamma) / sigma^2``.
    """
    d = second_derivatives(s, prof)
    sigma2 = prof.sigma2
    sigma = np.sqrt(sigma2)
    theta = np.sqrt(prof.gamma)
    h1 = d["ld1"] + d["lm1"] + d["r1"] / sigma2
    h2 = d["ld2"] + d["lm2"] + d["r2"] / sigma2
    d_tt = 2.0 * h1 + 4.0 * prof.gamma * h2
    d_ts = -4.0 * theta * d["r1"] / sigma**3
    d_ss = -2.0 * prof.c / sigma2 + 6.0 * prof.rss / sigma2**2
    return np.array([[d_tt, d_ts], [d_ts, d_ss]])


def varpar_covariance(hessian: np.ndarray, sigma: float = 1.0) -> tuple[np.ndarray, bool]:
    """``2 H^+`` over the eigenvalues above the tolerance; and whether H is PD.

    The tolerance is applied to the Hessian in ``(theta, sigma / sigma_hat)``,
    ``D H D`` with ``D = diag(1, sigma_hat)``, and the result mapped back. theta
    has no units but sigma has the response's, so lmerTest's absolute tolerance
    on ``H`` itself depends on the units of the response: with costs in pence
    (sigma ~ 1e6) the sigma eigenvalue ``~4c / sigma^2`` falls below 1e-8, is
    dropped, and Satterthwaite's df become infinite or wrong. Scaled, the
    eigenvalues do not depend on the units, and where none is near the
    tolerance (every ordinary fit) the result is lmerTest's exactly.
    """
    d = np.array([1.0, sigma if sigma > 0 else 1.0])
    vals, vecs = np.linalg.eigh(hessian * d[:, None] * d[None, :])
    pos = vals > EIGEN_TOL
    inv = (vecs[:, pos] / vals[pos]) @ vecs[:, pos].T
    return 2.0 * inv * d[:, None] * d[None, :], bool(np.all(pos))


def beta_covariance_jacobian(s: Sufficient, prof: Profile) -> list[np.ndarray]:
    """``d var(beta) / d theta`` and ``d var(beta) / d sigma`` (p x p each)."""
    theta = np.sqrt(prof.gamma)
    sigma2 = prof.sigma2
    n_i, kappa = s.sizes, prof.kappa
    minus_dm = (s.xbar * (kappa**2 * n_i**2)[:, None]).T @ s.xbar  # -dM/dgamma
    d_theta = 2.0 * theta * sigma2 * prof.m_inv @ minus_dm @ prof.m_inv
    d_sigma = 2.0 * np.sqrt(sigma2) * prof.m_inv
    return [d_theta, d_sigma]


@dataclass(frozen=True)
class KenwardRoger:
    """pbkrtest's ``vcovAdj``: the adjusted covariance and what the df need."""

    cov_adjusted: np.ndarray  # Phi_A
    cov: np.ndarray  # Phi: the unadjusted var(beta_hat)
    p_mats: tuple[np.ndarray, ...]  # P_r = -X'S^-1 G_r S^-1 X, r = (s2u, s2)
    w: np.ndarray  # 2 x inverse of the expected REML information of the components
    condition: float  # smallest |eigenvalue| of that information


def kenward_roger(s: Sufficient, prof: Profile) -> KenwardRoger:
    """Kenward–Roger (1997) adjusted covariance of beta for the REML fit."""
    if not prof.reml:
        raise ValueError("Kenward-Roger needs the REML fit")
    n_i, kappa = s.sizes, prof.kappa
    a = 1.0 / prof.sigma2
    phi = beta_covariance(prof)
    wxx = s.within_xx()
    outer = np.einsum("gi,gj->gij", s.xbar, s.xbar)  # xbar_i xbar_i'

    def weighted(v: np.ndarray) -> np.ndarray:
        return np.tensordot(v, outer, axes=1)

    def x_sig_k_x(k: int) -> np.ndarray:  # X' Sigma^-k X
        return a**k * (wxx + weighted(n_i * kappa**k))

    # X'S^-1 ZZ' S^-1 X = a^2 sum kappa^2 s_i s_i' with s_i = n_i xbar_i
    p1 = -(a**2) * weighted(n_i**2 * kappa**2)
    p2 = -x_sig_k_x(2)
    q = {
        (0, 0): a**3 * weighted(n_i**3 * kappa**3),
        (0, 1): a**3 * weighted(n_i**2 * kappa**3),
        (1, 1): x_sig_k_x(3),
    }
    q[(1, 0)] = q[(0, 1)].T
    ktrace = np.array(
        [
            [a**2 * np.sum((kappa * n_i) ** 2), a**2 * np.sum(kappa**2 * n_i)],
            [a**2 * np.sum(kappa**2 * n_i), a**2 * np.sum(n_i - 1.0 + kappa**2)],
        ]
    )
    pm = (p1, p2)
    info = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            info[i, j] = (
                ktrace[i, j] - 2.0 * np.sum(phi * q[(i, j)]) + np.sum((phi @ pm[i]) * (pm[j] @ phi))
            )
    eig = np.linalg.eigvalsh(info)
    condition = float(np.min(np.abs(eig)))
    w = 2.0 * (np.linalg.inv(info) if condition > 1e-10 else np.linalg.pinv(info))
    uu = np.zeros_like(phi)
    for i in range(2):
        for j in range(2):
            uu += w[i, j] * (q[(i, j)] - pm[i] @ phi @ pm[j])
    phi_a = phi + 2.0 * phi @ uu @ phi
    phi_a = 0.5 * (phi_a + phi_a.T)
    return KenwardRoger(cov_adjusted=phi_a, cov=phi, p_mats=pm, w=w, condition=condition)
