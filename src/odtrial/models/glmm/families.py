"""Conditional log-densities of the GLMM response and their η-derivatives.

Each family gives, for a response ``y`` and linear predictor ``η``:

- ``logf``: the full log-density (with the constants, so the log-likelihood is
  comparable to R's ``logLik``);
- ``d1 = ∂ logf/∂η``, ``d2 = -∂² logf/∂η²`` (the observed weight, > 0),
  ``d3 = ∂ d2/∂η`` (needed for the exact gradient of the Laplace/AGQ curvature term).

The negative binomial (NB2, var = μ + μ²/θ, log link) also gives the derivatives
in its dispersion θ. Binomial uses the logit link and Poisson the log link (both
canonical, so observed and expected weights coincide); NB2's log link is not
canonical and the *observed* weight is used, as glmmTMB's Laplace does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

FAMILIES = ("binomial", "poisson", "negbin")


@dataclass(frozen=True)
class Response:
    """The response and the family's constant data (per row)."""

    family: str
    y: np.ndarray
    trials: np.ndarray  # binomial trials m (ones for a 0/1 response); unused otherwise
    const: np.ndarray  # the η- and θ-free part of logf per row
    binary: bool = False  # binomial with one trial per row: the fast path applies
    sign: np.ndarray | None = None  # 2y - 1 for a binary response


def make_response(family: str, y: np.ndarray, trials: np.ndarray | None) -> Response:
    """Precompute the parts of the log-density that do not depend on η or θ."""
    y = np.asarray(y, dtype=float)
    m = np.ones_like(y) if trials is None else np.asarray(trials, dtype=float)
    if family == "binomial" and trials is None and np.all((y == 0.0) | (y == 1.0)):
        const = np.zeros_like(y)  # the formula below, exactly (log Γ(1) = log Γ(2) = 0)
    elif family == "binomial":
        const = special.gammaln(m + 1) - special.gammaln(y + 1) - special.gammaln(m - y + 1)
    else:
        const = -special.gammaln(y + 1)
    binary = family == "binomial" and trials is None
    sign = (2.0 * y - 1.0) if binary else None
    return Response(family=family, y=y, trials=m, const=const, binary=binary, sign=sign)


def node_terms(
    r: Response, eta: np.ndarray, theta: float, order: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """η-part of logf and, for ``order >= 1``, ``(d1, d2)`` in one pass.

    A 0/1 response uses ``q = expit(s η)`` with ``s = 2y - 1``: ``logf = log q``,
    ``d1 = s (1 - q)``, ``d2 = q (1 - q)`` (accurate for any η short of underflow).
    """
    if not r.binary:
        lf = log_density(r, eta, theta)
        if order == 0:
            return lf, None, None
        d1, d2, _ = derivs(r, eta, theta)
        return lf, d1, d2
    assert r.sign is not None
    s = r.sign.reshape(r.sign.shape + (1,) * (eta.ndim - 1))
    se = s * eta
    q = special.expit(se)
    if q.min() > 0.0:
        lf = np.log(q)
    else:  # log expit(x) without underflow
        lf = -np.logaddexp(0.0, -se)
    if order == 0:
        return lf, None, None
    c = 1.0 - q
    return lf, s * c, q * c


ETA_MAX = 700.0  # exp(η) overflows past ~709; clipped only in absurd regions of a line search


def safe_exp(eta: np.ndarray) -> np.ndarray:
    return np.exp(np.minimum(eta, ETA_MAX))


def _nb_parts(y: np.ndarray, eta: np.ndarray, theta: float) -> tuple[np.ndarray, np.ndarray]:
    mu = safe_exp(eta)
    return mu, theta + mu


def log_density(r: Response, eta: np.ndarray, theta: float = np.inf) -> np.ndarray:
    """η-dependent part of logf (add ``theta_const`` and ``r.const`` for the full value).

    ``eta`` may have trailing axes (nodes); ``y`` broadcasts over them.
    """
    y = r.y.reshape(r.y.shape + (1,) * (eta.ndim - 1))
    if r.family == "binomial":
        m = r.trials.reshape(y.shape)
        return y * eta - m * np.logaddexp(0.0, eta)
    if r.family == "poisson":
        return y * eta - safe_exp(eta)
    return y * eta - (y + theta) * np.log(theta + safe_exp(eta))


def theta_const(r: Response, theta: float) -> np.ndarray:
    """The θ-dependent, η-free part of the NB2 log-density per row (0 otherwise)."""
    if r.family != "negbin":
        return np.zeros_like(r.y)
    return theta * np.log(theta) + special.gammaln(r.y + theta) - special.gammaln(theta)


def derivs(
    r: Response, eta: np.ndarray, theta: float = np.inf, third: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(d1, d2, d3)`` at ``eta`` (``d3`` only when ``third``)."""
    y = r.y.reshape(r.y.shape + (1,) * (eta.ndim - 1))
    d3: np.ndarray | None = None
    if r.family == "binomial":
        m = r.trials.reshape(y.shape)
        p = special.expit(eta)
        w = p * (1.0 - p)
        d1, d2 = y - m * p, m * w
        if third:
            d3 = d2 * (1.0 - 2.0 * p)
    elif r.family == "poisson":
        mu = safe_exp(eta)
        d1, d2 = y - mu, mu
        if third:
            d3 = mu
    else:
        mu, tm = _nb_parts(y, eta, theta)
        d1 = theta * (y - mu) / tm
        d2 = (y + theta) * theta * mu / tm**2
        if third:
            d3 = d2 * (theta - mu) / tm
    return d1, d2, d3


def theta_derivs(
    r: Response, eta: np.ndarray, theta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NB2 derivatives in θ: ``(∂logf/∂θ, ∂²logf/∂θ², ∂d1/∂θ, ∂d2/∂θ)`` (full logf)."""
    y = r.y.reshape(r.y.shape + (1,) * (eta.ndim - 1))
    mu, tm = _nb_parts(y, eta, theta)
    l_t = (
        special.digamma(y + theta)
        - special.digamma(theta)
        + np.log(theta / tm)
        + 1
        - (y + theta) / tm
    )
    l_tt = (
        special.polygamma(1, y + theta)
        - special.polygamma(1, theta)
        + 1 / theta
        - 2 / tm
        + (y + theta) / tm**2
    )
    d1_t = (y - mu) * mu / tm**2
    d2_t = mu * (y * (mu - theta) + 2 * theta * mu) / tm**3
    return l_t, l_tt, d1_t, d2_t


LINKS = {"binomial": "logit", "poisson": "log", "negbin": "log"}
