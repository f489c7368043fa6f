"""The bivariate cost-effect mixed model against nlme (tests/reference/econ/).

Tolerances: both fits reach the same maximum (log-likelihoods agree to
1e-9), so the fixed effects agree to well under 1e-4 of a standard error and
the standard errors to 1e-4 relative. The variance components sit on a flat
likelihood surface (a relative change of 1e-5 moves the log-likelihood by
less than nlme's stopping tolerance), so they are compared at 1e-3 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.econ import EconError, fit_bivariate

REF = Path(__file__).resolve().parents[1] / "reference" / "econ"


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REF / "bivariate_reference.json").read_text())


@pytest.mark.parametrize("name", ["cea_24", "cea_16_skew"])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_matches_nlme(reference: dict, name: str, method: str) -> None:
    data = pd.read_csv(REF / f"{name}.csv")
    covs = np.atleast_1d(reference[name]["covariates"]).tolist()
    x = np.column_stack([np.ones(len(data)), *(data[c] for c in covs)])
    fit = fit_bivariate(
        data[["cost", "qaly"]].to_numpy(),
        x,
        data["cluster"].to_numpy(),
        method=method,
        terms=("intercept", *covs),
    )
    r = reference[name][method]
    r_cov = np.array(r["vcov"])
    r_se = np.sqrt(np.diag(r_cov))
    beta = np.concatenate([fit.coef[:, 0], fit.coef[:, 1]])
    assert fit.converged and not fit.warnings
    assert fit.loglik == pytest.approx(r["loglik"], abs=1e-6)
    assert np.max(np.abs(beta - np.array(r["beta"])) / r_se) < 1e-4
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), r_se, rtol=1e-4)
    np.testing.assert_allclose(fit.cov, r_cov, rtol=1e-3, atol=1e-4 * np.outer(r_se, r_se).max())
    np.testing.assert_allclose(fit.sigma_u, r["sigma_u"], rtol=1e-3)
    np.testing.assert_allclose(fit.sigma_e, r["sigma_e"], rtol=1e-3)
    est, cov = fit.effect_of("treat")
    k = covs.index("treat") + 1
    p = len(covs) + 1
    idx = [k, p + k]
    assert np.max(np.abs(est - np.array(r["beta"])[idx]) / r_se[idx]) < 1e-4
    np.testing.assert_allclose(cov, r_cov[np.ix_(idx, idx)], rtol=1e-3)


def test_zero_cluster_variation_is_reported_singular() -> None:
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(10), 15)
    x = np.column_stack([np.ones(150), np.repeat(np.arange(10) % 2, 15)])
    y = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]], size=150)
    y -= np.array([y[groups == g].mean(axis=0) for g in groups]) * 0.8  # less between than chance
    fit = fit_bivariate(y, x, groups)
    assert fit.singular
    assert any("singular" in w for w in fit.warnings)
    assert np.all(np.linalg.eigvalsh(fit.sigma_u) > -1e-10)


def test_bad_input() -> None:
    x = np.ones((6, 1))
    with pytest.raises(EconError, match="3 or more clusters"):
        fit_bivariate(np.zeros((6, 2)) + np.arange(6)[:, None], x, np.array([0, 0, 0, 1, 1, 1]))
    with pytest.raises(EconError, match="missing values"):
        fit_bivariate(np.full((6, 2), np.nan), x, np.arange(6))
    with pytest.raises(EconError, match="collinear"):
        fit_bivariate(np.zeros((6, 2)), np.ones((6, 2)), np.arange(6))
    with pytest.raises(EconError, match="'REML' or 'ML'"):
        fit_bivariate(np.zeros((6, 2)), x, np.arange(6), method="GLS")


def _dense_kenward_roger(
    x: np.ndarray, groups: np.ndarray, sigma_e: np.ndarray, sigma_u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Kenward & Roger (1997) from the full 2n x 2n V, as the textbook writes it."""
    n, p = x.shape
    z = np.zeros((2 * n, 2 * p))
    z[0::2, :p] = x
    z[1::2, p:] = x
    same = (groups[:, None] == groups[None, :]).astype(float)
    v = np.kron(np.eye(n), sigma_e) + np.kron(same, sigma_u)
    basis = [
        np.array([[1.0, 0], [0, 0]]),
        np.array([[0, 1.0], [1.0, 0]]),
        np.array([[0, 0], [0, 1.0]]),
    ]
    dv = [np.kron(np.eye(n), e) for e in basis] + [np.kron(same, e) for e in basis]
    vi = np.linalg.inv(v)
    phi = np.linalg.inv(z.T @ vi @ z)
    pm = [-z.T @ vi @ d @ vi @ z for d in dv]
    proj = vi - vi @ z @ phi @ z.T @ vi
    info = np.array([[0.5 * np.trace(proj @ a @ proj @ b) for b in dv] for a in dv])
    w = np.linalg.inv(info)
    s = sum(
        w[i, j] * (z.T @ vi @ dv[i] @ vi @ dv[j] @ vi @ z - pm[i] @ phi @ pm[j])
        for i in range(6)
        for j in range(6)
    )
    return phi, phi + 2 * phi @ s @ phi, pm, w


def test_kenward_roger_matches_the_dense_formulas() -> None:
    """The per-cluster (Helmert) computation equals the textbook one on the full V."""
    from odtrial.models.lmm.ddf import kenward_roger_df

    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(8), [3, 4, 5, 3, 6, 4, 2, 5])
    n = len(groups)
    x = np.column_stack([np.ones(n), (groups % 2).astype(float), rng.normal(size=n)])
    y = rng.normal(size=(n, 2)) * [900.0, 0.1] + rng.normal(size=(8, 2))[groups] * [400.0, 0.05]
    fit = fit_bivariate(y, x, groups)
    phi, phi_a, pm, w = _dense_kenward_roger(x, groups, fit.sigma_e, fit.sigma_u)
    assert fit.cov_kr is not None
    np.testing.assert_allclose(fit.cov, phi, rtol=1e-8)
    np.testing.assert_allclose(fit.cov_kr, phi_a, rtol=1e-8)
    contrast = np.zeros(6)
    contrast[[1, 4]] = [-1.0, 20000.0]
    assert fit.kenward_roger_df(contrast) == pytest.approx(
        kenward_roger_df(contrast, phi, pm, w), rel=1e-8
    )
    assert np.all(np.diag(fit.cov_kr) >= np.diag(fit.cov))
    ml = fit_bivariate(y, x, groups, method="ML")
    assert ml.cov_kr is None
    with pytest.raises(EconError, match="needs a REML fit"):
        ml.kenward_roger_df(contrast)
