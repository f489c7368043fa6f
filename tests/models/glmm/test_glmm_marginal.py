"""Standardised risks, risk difference and ratio from a binary GLMM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import integrate, special

from odtrial.errors import ModelError
from odtrial.models.glmm import fit_glmm, marginal_effects

FORMULA = "y ~ arm + x + base"


def _risk_by_quad(d: pd.DataFrame, beta: np.ndarray, sigma: float, arm: int) -> float:
    """Independent: each row's risk by adaptive quadrature over N(0, σ²)."""
    eta = beta[0] + beta[1] * arm + beta[2] * d["x"].to_numpy() + beta[3] * d["base"].to_numpy()
    risks = [
        integrate.quad(
            lambda b, e=e: special.expit(e + b) * np.exp(-0.5 * (b / sigma) ** 2),
            -10 * sigma,
            10 * sigma,
            epsrel=1e-12,
        )[0]
        / (sigma * np.sqrt(2 * np.pi))
        for e in eta[:: max(1, len(eta) // 60)]
    ]
    return float(np.mean(risks)), eta[:: max(1, len(eta) // 60)]


def test_risks_equal_quadrature(load):
    d = load("bin_24")
    res = fit_glmm(FORMULA, d, cluster="cluster")
    sub = d.iloc[:: max(1, len(d) // 60)]
    me = marginal_effects(res, sub)
    beta, sigma = res.params.to_numpy(), np.sqrt(res.cluster_var)
    r0, _ = _risk_by_quad(sub, beta, sigma, 0)
    r1, _ = _risk_by_quad(sub, beta, sigma, 1)
    assert me.risk_reference == pytest.approx(r0, abs=1e-10)
    assert me.risk_comparator == pytest.approx(r1, abs=1e-10)
    assert me.risk_difference == pytest.approx(r1 - r0, abs=1e-10)
    assert me.risk_ratio == pytest.approx(r1 / r0, rel=1e-9)


def test_delta_method_matches_numeric_gradient(load):
    d = load("bin_24")
    res = fit_glmm(FORMULA, d, cluster="cluster")
    me = marginal_effects(res, d)
    cov = res.extra["cov_full"].to_numpy()
    theta0 = np.r_[res.params.to_numpy(), np.log(np.sqrt(res.cluster_var))]
    z, w = np.polynomial.hermite_e.hermegauss(40)
    w = w / w.sum()
    X = np.c_[np.ones(len(d)), np.zeros(len(d)), d["x"], d["base"]]

    def rd(t: np.ndarray) -> np.ndarray:
        out = []
        for a in (0, 1):
            X[:, 1] = a
            out.append(np.mean(special.expit((X @ t[:4])[:, None] + np.exp(t[4]) * z) @ w))
        return np.array([out[1] - out[0], np.log(out[1] / out[0])])

    J = np.array([(rd(theta0 + e) - rd(theta0 - e)) / 2e-6 for e in np.eye(5) * 1e-6]).T
    se = np.sqrt(np.diag(J @ cov @ J.T))
    assert me.se_risk_difference == pytest.approx(se[0], rel=1e-5)
    assert me.se_log_risk_ratio == pytest.approx(se[1], rel=1e-5)
    assert me.df == res.df["arm"] == 22.0


def test_frame_and_intervals(load):
    d = load("bin_24")
    me = marginal_effects(fit_glmm(FORMULA, d, cluster="cluster"), d)
    f = me.to_frame()
    assert list(f.index) == ["risk[0]", "risk[1]", "risk_difference", "risk_ratio"]
    assert (f["ci_lower"] < f["estimate"]).all() and (f["estimate"] < f["ci_upper"]).all()
    rr = f.loc["risk_ratio"]
    assert np.log(rr["estimate"]) == pytest.approx(
        0.5 * (np.log(rr["ci_lower"]) + np.log(rr["ci_upper"]))
    )
    assert (
        f.loc["risk_difference", "ci_upper"] - f.loc["risk_difference", "ci_lower"]
        < me.to_frame(0.99).loc["risk_difference", "ci_upper"]
        - me.to_frame(0.99).loc["risk_difference", "ci_lower"]
    )


def test_boundary_fit_gives_glm_standardisation(load):
    d = load("bin_zero")
    res = fit_glmm(FORMULA, d, cluster="cluster")
    me = marginal_effects(res, d)
    assert not me.sigma_variance_used
    glm = sm.GLM.from_formula(FORMULA, d, family=sm.families.Binomial()).fit()
    r = [glm.predict(d.assign(arm=a)).mean() for a in (0, 1)]
    assert me.risk_reference == pytest.approx(r[0], abs=1e-8)
    assert me.risk_comparator == pytest.approx(r[1], abs=1e-8)


def test_marginal_effect_is_attenuated(load):
    """Population-average risks differ from plugging in b = 0 when σ > 0."""
    d = load("bin_12")
    res = fit_glmm(FORMULA, d, cluster="cluster")
    me = marginal_effects(res, d)
    X = np.c_[np.ones(len(d)), np.ones(len(d)), d["x"], d["base"]]
    conditional = special.expit(X @ res.params.to_numpy()).mean()
    assert res.cluster_var > 0.1
    assert abs(me.risk_comparator - 0.5) < abs(conditional - 0.5)


def test_marginal_errors(load):
    d = load("pois_offset")
    pois = fit_glmm("y ~ arm", d, cluster="cluster", family="poisson")
    with pytest.raises(ModelError, match="need a binomial GLMM"):
        marginal_effects(pois, d)
    b = load("bin_12")
    res = fit_glmm(FORMULA, b, cluster="cluster")
    with pytest.raises(ModelError, match="treatment column 'group'"):
        marginal_effects(res, b, treatment="group")
    with pytest.raises(ModelError, match="has 3 distinct values"):
        marginal_effects(res, b.assign(arm=np.arange(len(b)) % 3))
    with pytest.raises(ModelError, match="levels must be a pair"):
        marginal_effects(res, b, levels=(0, 1, 2))
