"""Identities the engine must satisfy, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import integrate, optimize, special

from odtrial.models.design import build_design
from odtrial.models.glmm import families as fam
from odtrial.models.glmm import fit_glmm, fit_glmm_arrays
from odtrial.models.glmm.covariance import numeric_hessian
from odtrial.models.glmm.quadrature import Problem, evaluate

FORMULA = "y ~ arm + x + base"


def _problem(d: pd.DataFrame, nagq: int) -> Problem:
    des = build_design(FORMULA, d, cluster="cluster")
    order = np.argsort(des.cluster, kind="stable")
    cl = des.cluster[order]
    return Problem(
        resp=fam.make_response("binomial", des.y[order], None),
        X=np.ascontiguousarray(des.X[order]),
        offset=np.zeros(len(cl)),
        cl=cl,
        starts=np.flatnonzero(np.r_[True, cl[1:] != cl[:-1]]),
        nagq=nagq,
    )


def _cluster_terms(d: pd.DataFrame, beta: np.ndarray, sigma: float):
    des = build_design(FORMULA, d, cluster="cluster")
    eta0 = des.X @ beta
    for j in range(des.n_clusters):
        m = des.cluster == j
        yield des.y[m], eta0[m], sigma


def _laplace_by_hand(d: pd.DataFrame, beta: np.ndarray, sigma: float) -> float:
    """Textbook Laplace, one cluster at a time with a scalar optimiser (no shared code)."""
    total = 0.0
    for y, eta0, s in _cluster_terms(d, beta, sigma):

        def neg_h(b: float, y=y, eta0=eta0, s=s) -> float:  # -(log f(y|b) + log N(b; 0, s²))
            eta = eta0 + b
            return -(
                np.sum(y * eta - np.logaddexp(0, eta))
                - 0.5 * b * b / s**2
                - 0.5 * np.log(2 * np.pi * s**2)
            )

        b = optimize.minimize_scalar(
            neg_h, bounds=(-20, 20), method="bounded", options={"xatol": 1e-12}
        ).x
        p = special.expit(eta0 + b)
        curv = np.sum(p * (1 - p)) + 1 / s**2  # -d²h/db²
        total += -neg_h(b) + 0.5 * np.log(2 * np.pi) - 0.5 * np.log(curv)
    return total


def _integral_by_quad(d: pd.DataFrame, beta: np.ndarray, sigma: float) -> float:
    """The exact marginal likelihood by adaptive (non-Gaussian) quadrature."""
    total = 0.0
    for y, eta0, s in _cluster_terms(d, beta, sigma):

        def integrand(b: float, y=y, eta0=eta0, s=s) -> float:
            eta = eta0 + b
            return float(
                np.exp(np.sum(y * eta - np.logaddexp(0, eta)) + 200) * np.exp(-0.5 * b * b / s**2)
            )

        val, _ = integrate.quad(integrand, -12 * s, 12 * s, epsabs=0, epsrel=1e-12, limit=200)
        total += np.log(val) - 200 - 0.5 * np.log(2 * np.pi * s**2)
    return total


@pytest.mark.parametrize("phi", [(-0.4, 0.5, 0.2, -0.2, 0.6), (0.3, -0.2, 0.1, 0.4, 1.3)])
def test_nagq1_is_the_laplace_formula(load, phi):
    d = load("bin_24")
    phi = np.array(phi)
    ours = evaluate(_problem(d, 1), phi, np.zeros(24)).llf
    assert ours == pytest.approx(_laplace_by_hand(d, phi[:4], phi[4]), abs=1e-8)


def test_nagq1_fit_maximises_the_laplace_formula(load, fitted):
    d = load("bin_24")
    res = fitted("bin_24_agq1_tight")
    phi = np.r_[res.params.to_numpy(), np.sqrt(res.cluster_var)]
    best = _laplace_by_hand(d, phi[:4], phi[4])
    for i in range(5):  # no coordinate move improves the independent Laplace value
        for h in (-1e-3, 1e-3):
            step = phi.copy()
            step[i] += h
            assert _laplace_by_hand(d, step[:4], step[4]) < best
    assert res.llf == pytest.approx(best, abs=1e-7)


def test_agq25_is_the_exact_integral(load):
    d = load("bin_12")
    phi = np.array([-0.5, 0.6, 0.3, -0.3, 0.9])
    ours = evaluate(_problem(d, 25), phi, np.zeros(12)).llf
    assert ours == pytest.approx(_integral_by_quad(d, phi[:4], phi[4]), abs=1e-8)


def test_likelihood_is_even_in_sigma(load):
    prob = _problem(load("bin_12"), 25)
    phi = np.array([-0.5, 0.6, 0.3, -0.3, 0.9])
    neg = phi.copy()
    neg[4] = -0.9
    assert evaluate(prob, phi, np.zeros(12)).llf == pytest.approx(
        evaluate(prob, neg, np.zeros(12)).llf, abs=1e-10
    )


@pytest.mark.parametrize("nagq", [1, 3, 25])
def test_gradient_is_exact(load, nagq):
    prob = _problem(load("bin_12"), nagq)
    phi = np.array([-0.5, 0.6, 0.3, -0.3, 0.9])
    u0 = np.zeros(12)
    g = evaluate(prob, phi, u0, 1).grad
    num = np.array(
        [
            (evaluate(prob, phi + e, u0).llf - evaluate(prob, phi - e, u0).llf) / 2e-5
            for e in np.eye(5) * 1e-5
        ]
    )
    np.testing.assert_allclose(g, num, atol=1e-6)


def test_analytic_hessian_exact_with_many_nodes(load):
    prob = _problem(load("bin_12"), 25)
    phi = np.array([-0.5, 0.6, 0.3, -0.3, 0.9])
    u0 = np.zeros(12)
    H = evaluate(prob, phi, u0, 2).hess
    Hn = numeric_hessian(lambda x: evaluate(prob, x, u0, 1).grad, phi)
    np.testing.assert_allclose(H, Hn, atol=1e-6 * np.abs(Hn).max())


def test_zero_variance_equals_glm(load, fitted):
    d = load("bin_zero")
    res = fitted("bin_zero_agq25")
    glm = sm.GLM.from_formula(FORMULA, d, family=sm.families.Binomial()).fit()
    assert res.diagnostics.singular and res.cluster_var == 0.0
    np.testing.assert_allclose(res.params.to_numpy(), glm.params.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(res.bse.to_numpy(), glm.bse.to_numpy(), rtol=1e-6)
    assert res.llf == pytest.approx(glm.llf, abs=1e-8)


def test_sigma_zero_likelihood_is_glm_likelihood_for_any_beta(load):
    d = load("bin_24")
    beta = np.array([0.1, -0.3, 0.5, 0.2])
    glm = sm.GLM.from_formula(FORMULA, d, family=sm.families.Binomial())
    for nagq in (1, 25):
        assert evaluate(_problem(d, nagq), np.r_[beta, 0.0], np.zeros(24)).llf == pytest.approx(
            glm.loglike(beta), abs=1e-9
        )


def test_poisson_zero_variance_equals_glm():
    rng = np.random.default_rng(7)
    d = pd.DataFrame({"cluster": np.repeat(np.arange(20), 15), "x": rng.normal(size=300)})
    # identical cluster totals pattern: no between-cluster excess variation
    d["y"] = np.tile([0, 1, 2, 1, 0, 3, 1, 1, 0, 2, 1, 0, 2, 1, 1], 20)
    res = fit_glmm("y ~ x", d, cluster="cluster", family="poisson", method="ML")
    glm = sm.GLM.from_formula("y ~ x", d, family=sm.families.Poisson()).fit()
    assert res.diagnostics.singular
    np.testing.assert_allclose(res.params.to_numpy(), glm.params.to_numpy(), atol=1e-7)
    assert res.llf == pytest.approx(glm.llf, abs=1e-7)


def test_formula_and_arrays_agree(load):
    d = load("bin_32")
    a = fit_glmm(FORMULA, d, cluster="cluster", method="ML")
    des = build_design(FORMULA, d, cluster="cluster")
    b = fit_glmm_arrays(des.y, des.X, d["cluster"].to_numpy(), names=des.names)
    np.testing.assert_allclose(a.params, b.params, atol=1e-12)
    np.testing.assert_allclose(a.cov_params(), b.cov_params(), atol=1e-12)
    assert a.llf == b.llf and a.cluster_var == b.cluster_var
    np.testing.assert_array_equal(a.df, b.df)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_row_order_does_not_matter(load, method):
    d = load("bin_24")
    a = fit_glmm(FORMULA, d, cluster="cluster", method=method)
    b = fit_glmm(FORMULA, d.sample(frac=1.0, random_state=3), cluster="cluster", method=method)
    np.testing.assert_allclose(a.params, b.params, atol=1e-9)
    assert a.llf == pytest.approx(b.llf, abs=1e-9)


def test_between_within_df(load):
    d = load("bin_24")  # 24 clusters, 734 rows; arm is cluster-level, x and base are not
    d["stratum"] = d["cluster"].str[1:].astype(int) % 3  # a cluster-level factor
    res = fit_glmm("y ~ arm + C(stratum) + x + base", d, cluster="cluster")
    df = res.df
    assert res.df_method == "between-within"
    between = 24 - 4  # Intercept, arm, two stratum dummies
    within = 734 - 24 - 2  # x, base
    assert df["Intercept"] == df["arm"] == df["C(stratum)[T.1]"] == between
    assert df["x"] == df["base"] == within
    assert set(res.extra["cluster_level_terms"]) == {
        "Intercept",
        "arm",
        "C(stratum)[T.1]",
        "C(stratum)[T.2]",
    }
    z = fit_glmm("y ~ arm + x", d, cluster="cluster", df="z")
    assert np.all(np.isinf(z.df)) and z.pvalues["arm"] < res.pvalues["arm"] + 0.05
    resid = fit_glmm("y ~ arm + x", d, cluster="cluster", df="residual")
    assert np.all(resid.df == 734 - 3)


def test_results_are_immutable(fitted):
    res = fitted("bin_24_agq25")
    p = res.params
    p.iloc[0] = 99.0
    assert res.params.iloc[0] != 99.0
    with pytest.raises(AttributeError):
        res.cluster_var = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        res.extra["sigma"] = 1.0  # type: ignore[index]
