"""The restricted (REML-type) GLMM against glmmTMB(REML = TRUE), plus identities.

Reference: ``tests/reference/glmm_reml`` (README there). Tolerances, all far
tighter than the issue's ML tolerances because the definition is the same
(Laplace over (b, β) with a flat prior on β) and both sides solve it exactly:

- β 1e-6 absolute: observed ≤ 7e-8; glmmTMB's inner Newton and outer
  ``rel.tol = 1e-12`` leave errors of that order.
- SEs (both covariances) 1e-5 relative: observed ≤ 1.1e-6.
- ``llf`` 1e-8 absolute: observed ≤ 7e-10 (values of -200 to -4,000).
- variance: R's σ is fixed only as well as its objective tolerance ε allows.
  Near the optimum ℓ_R(log σ) ≈ ℓ_R - Δ²/(2 SE²), so an objective within ε of
  the optimum leaves |Δ log σ| ≤ SE·√(2ε); with ε = 1e-12·|llf| (R's relative
  tolerance) and a factor 4 margin, |Δ log σ²| ≤ 8·SE·√(2ε). That is ~1e-5
  for the regular fits (observed ≤ 1e-7) and ~6e-4 for ``near_singular``
  (SE 9.1; observed 9e-5).
- NB2 (``negbin*``): the same tolerances; θ by the same rule as σ with the SE of
  log θ, |Δ log θ| ≤ 4·SE·√(2ε) (~2e-5; observed ≤ 2e-8), and the covariance of
  (log σ, log θ) 1e-3 relative like the SE of log σ (central differences of exact
  scores; observed ≤ 1.4e-6). Observed otherwise: β ≤ 5e-10, SEs ≤ 1.5e-8 relative,
  variance ≤ 4e-8 in log, ``llf`` ≤ 5e-10.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from odtrial.errors import ModelError
from odtrial.models.glmm import fit_glmm
from odtrial.models.glmm.reml import fit_glmm_reml, restricted_loglik

REF = Path(__file__).resolve().parents[2] / "reference" / "glmm_reml"
with open(REF / "reference.json", encoding="utf-8") as _f:
    REFERENCE: dict[str, Any] = json.load(_f)
FITS = REFERENCE["fits"]
BOUNDARY = {"bin_zero_reml", "bin_zero_arm_reml", "arm_12_reml", "negbin_zero_reml"}
NEGBIN = sorted(k for k, r in FITS.items() if r["family"] == "negbin")


def _data(path: str) -> pd.DataFrame:
    return pd.read_csv(REF / path)


def _fit(key: str, **kw: Any) -> Any:
    r = FITS[key]
    d = _data(r["data"])
    if "offset" in r:
        kw["offset"] = np.log(d["followup"].to_numpy())
    return fit_glmm_reml(r["formula"], d, cluster="cluster", family=r["family"], **kw)


def _names(r: dict[str, Any]) -> list[str]:
    return ["Intercept" if n == "(Intercept)" else n for n in r["names"]]


@pytest.mark.parametrize("key", sorted(FITS))
def test_matches_glmmtmb(key: str) -> None:
    r = FITS[key]
    res = _fit(key)
    assert list(res.params.index) == _names(r)
    assert res.nobs == r["nobs"]
    np.testing.assert_allclose(res.params.to_numpy(), list(r["params"].values()), atol=1e-6)
    se_schur = np.sqrt(np.diag(np.array(r["cov_schur"])))
    se_tmb = np.sqrt(np.diag(np.array(r["cov"])))
    # the default covariance is the inverse Schur complement ...
    np.testing.assert_allclose(res.bse.to_numpy(), se_schur, rtol=1e-5)
    np.testing.assert_allclose(res.cov_params().to_numpy(), r["cov_schur"], rtol=1e-5, atol=1e-9)
    # ... and glmmTMB's vcov (with log σ̂'s uncertainty) is kept and selectable
    np.testing.assert_allclose(res.extra["cov_joint"].to_numpy(), r["cov"], rtol=1e-5, atol=1e-9)
    joint = _fit(key, cov_type="joint")
    np.testing.assert_allclose(joint.bse.to_numpy(), se_tmb, rtol=1e-5)
    np.testing.assert_allclose(joint.params.to_numpy(), res.params.to_numpy(), rtol=0, atol=0)
    assert res.llf == pytest.approx(r["llf"], abs=1e-8)
    assert res.extra["estimation"] == "REML"
    if r["family"] == "negbin":
        _check_theta(res, r)
    if key in BOUNDARY:
        # glmmTMB stops at σ² ~ 1e-10 on the log σ scale; odtrial reports the boundary
        assert r["cluster_var"] < 1e-8
        assert res.cluster_var == 0.0 and res.diagnostics.singular
        assert res.converged
        return
    assert not res.diagnostics.singular and res.converged
    eps = 1e-12 * abs(r["llf"])
    tol = 8 * r["log_sigma_se"] * np.sqrt(2 * eps)
    assert abs(np.log(res.cluster_var / r["cluster_var"])) < tol
    se_log_sigma = np.sqrt(res.extra["cov_full"].loc["log_sigma", "log_sigma"])
    assert se_log_sigma == pytest.approx(r["log_sigma_se"], rel=1e-3)


def _check_theta(res: Any, r: dict[str, Any]) -> None:
    """NB2's θ̂ and the covariance of the outer parameters (tolerances in the docstring)."""
    eps = 1e-12 * abs(r["llf"])
    assert abs(np.log(res.theta / r["theta"])) < 4 * r["log_theta_se"] * np.sqrt(2 * eps)
    assert np.log(r["theta"]) == pytest.approx(r["log_theta"], abs=1e-12)
    assert not res.extra["theta_capped"] and res.n_estimated == len(r["names"]) + 2
    full = res.extra["cov_full"]
    se_log_theta = np.sqrt(full.loc["log_theta", "log_theta"])
    assert se_log_theta == pytest.approx(r["log_theta_se"], rel=1e-3)
    if r["cluster_var"] > 1e-8:  # interior σ̂: the whole 2 × 2 block
        outer = full.loc[["log_sigma", "log_theta"], ["log_sigma", "log_theta"]].to_numpy()
        np.testing.assert_allclose(outer, r["cov_outer"], rtol=1e-3)
    else:  # σ fixed at the boundary: no log σ row
        assert full.loc["log_sigma"].isna().all()


def test_tmb_vcov_is_larger_than_schur() -> None:
    """glmmTMB's vcov adds a positive semi-definite term: (dβ/dlog σ)(·)ᵀ / I."""
    res = _fit("bin_24_reml")
    diff = res.extra["cov_joint"].to_numpy() - res.extra["cov_schur"].to_numpy()
    assert np.linalg.eigvalsh(diff).min() > -1e-14
    assert np.trace(diff) > 0


def _dense_design(d: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    codes = pd.factorize(d["cluster"], sort=True)[0]
    X = np.c_[np.ones(len(d)), d[cols].to_numpy(float)]
    Z = np.zeros((len(d), codes.max() + 1))
    Z[np.arange(len(d)), codes] = 1.0
    return X, Z, codes


@pytest.mark.parametrize("sigma", [0.0, 0.2, 0.8])
def test_inner_mode_is_penalised_irls(sigma: float) -> None:
    """At fixed σ the block (Schur) Newton gives the dense penalised IRLS solution of
    max Σ log f(y | Xβ + σZu) - ½|u|², and ℓ_R equals the dense Laplace formula."""
    d = _data("../glmm/bin_24.csv")
    X, Z, codes = _dense_design(d, ["arm", "x", "base"])
    y = d["y"].to_numpy(float)
    p, G = X.shape[1], Z.shape[1]
    M = np.c_[X, sigma * Z]
    pen = np.r_[np.zeros(p), np.ones(G)]
    theta = np.zeros(p + G)
    for _ in range(50):  # penalised IRLS, full (p+G) x (p+G) system
        eta = M @ theta
        mu = 1 / (1 + np.exp(-eta))
        w = mu * (1 - mu)
        H = (M.T * w) @ M + np.diag(pen)
        step = np.linalg.solve(H, M.T @ (y - mu) - pen * theta)
        theta += step
        if np.max(np.abs(step)) < 1e-13:
            break
    ev = restricted_loglik(y, X, codes, sigma)
    np.testing.assert_allclose(ev.beta, theta[:p], atol=1e-10)
    np.testing.assert_allclose(ev.u, theta[p:], atol=1e-10)
    eta = M @ theta
    mu = 1 / (1 + np.exp(-eta))
    H = (M.T * (mu * (1 - mu))) @ M + np.diag(pen)
    ll = np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * theta[p:] @ theta[p:]
    dense = ll + 0.5 * p * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(H)[1]
    assert ev.value == pytest.approx(dense, abs=1e-9)
    # β's covariance given σ: the β block of the inverse of the full Hessian
    np.testing.assert_allclose(np.linalg.inv(ev.schur), np.linalg.inv(H)[:p, :p], rtol=1e-9)


@pytest.mark.parametrize("sigma", [1e-3, 0.3, 1.2])
def test_score_is_the_derivative(sigma: float) -> None:
    """The exact dℓ_R/dσ (implicit differentiation of the mode) against central
    differences (step 1e-6: truncation ~1e-12, rounding ~1e-7 on values ~500)."""
    d = _data("../glmm/bin_32.csv")
    X, _, codes = _dense_design(d, ["arm", "x", "base"])
    y = d["y"].to_numpy(float)
    h = 1e-6
    fd = (
        restricted_loglik(y, X, codes, sigma + h).value
        - restricted_loglik(y, X, codes, sigma - h).value
    ) / (2 * h)
    assert restricted_loglik(y, X, codes, sigma).score == pytest.approx(fd, abs=2e-6)


@pytest.mark.parametrize("name", ["bin_12", "bin_24", "bin_32", "bin_rare"])
def test_reml_variance_exceeds_ml(name: str) -> None:
    """Integrating β out removes ML's downward bias: on the same data the restricted
    variance is larger than the ML one (Laplace and AGQ 25), and so is the arm SE."""
    d = _data(f"../glmm/{name}.csv")
    reml = fit_glmm_reml("y ~ arm + x + base", d, cluster="cluster")
    for nagq in (1, 25):
        ml = fit_glmm("y ~ arm + x + base", d, cluster="cluster", nagq=nagq)
        assert reml.cluster_var > 1.05 * ml.cluster_var
        assert reml.bse["arm"] > ml.bse["arm"]


def test_boundary_equals_glm() -> None:
    """σ̂ = 0: β is the GLM's, its covariance the GLM's, and ℓ_R is the GLM
    log-likelihood plus (p/2) log 2π - ½ log det X'WX."""
    d = _data("../glmm/bin_zero.csv")
    res = fit_glmm_reml("y ~ arm + x + base", d, cluster="cluster")
    assert res.diagnostics.singular and res.cluster_var == 0.0
    assert any("singular" in w for w in res.diagnostics.warnings)
    X = np.c_[np.ones(len(d)), d[["arm", "x", "base"]].to_numpy(float)]
    glm = sm.GLM(d["y"].to_numpy(float), X, family=sm.families.Binomial()).fit(tol=1e-12)
    np.testing.assert_allclose(res.params.to_numpy(), glm.params, atol=1e-8)
    np.testing.assert_allclose(res.cov_params().to_numpy(), glm.cov_params(), rtol=1e-6)
    mu = glm.fittedvalues
    XtWX = (X.T * (mu * (1 - mu))) @ X
    expected = glm.llf + 2 * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(XtWX)[1]
    assert res.llf == pytest.approx(expected, abs=1e-7)
    assert np.all(res.extra["random_effects"] == 0.0)


def test_between_within_df_and_results_contract() -> None:
    d = _data("../glmm/bin_24.csv")
    res = fit_glmm_reml("y ~ arm + x + base", d, cluster="cluster")
    G, n = 24, len(d)
    assert res.df["Intercept"] == res.df["arm"] == G - 2  # cluster-level columns
    assert res.df["x"] == res.df["base"] == n - G - 2  # within-cluster columns
    assert res.extra["cluster_level_terms"] == ("Intercept", "arm")
    assert res.n_clusters == G and res.n_estimated == 5
    assert res.model == "glmm" and res.family == "binomial" and res.link == "logit"
    z = fit_glmm_reml("y ~ arm + x + base", d, cluster="cluster", df="z")
    assert np.all(np.isinf(z.df)) and z.pvalues["arm"] < res.pvalues["arm"]
    before = res.params.copy()
    got = res.params
    got.iloc[0] = 99.0  # a copy: the results cannot be changed through it
    pd.testing.assert_series_equal(res.params, before)
    assert res.to_frame().shape == (4, 7)
    assert len(res.extra["random_effects"]) == G


def test_poisson_offset_column_equals_array() -> None:
    d = _data("../glmm/pois_offset.csv")
    d["logf"] = np.log(d["followup"])
    a = fit_glmm_reml("y ~ arm + x", d, cluster="cluster", family="poisson", offset="logf")
    b = fit_glmm_reml(
        "y ~ arm + x", d, cluster="cluster", family="poisson", offset=d["logf"].to_numpy()
    )
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=0)
    assert a.extra["offset"] == "logf" and b.extra["offset"] is None


def _small() -> pd.DataFrame:
    return _data("arm_12.csv")


@pytest.mark.parametrize(
    ("kwargs", "frame", "match"),
    [
        ({"formula": "y ~ dose"}, None, "cannot build the design"),
        ({"formula": "outcome ~ arm"}, None, "response column 'outcome' is not in the data"),
        ({"cluster": "site"}, None, "cluster column 'site' is not in the data"),
        ({"family": "gamma"}, None, "supports family binomial, poisson or negbin; got 'gamma'"),
        ({"df": "kenward-roger"}, None, "df must be one of"),
        ({"cov_type": "sandwich"}, None, "cov_type must be one of"),
        ({"offset": "exposure"}, None, "offset column 'exposure' is not in the data"),
        ({}, "two", "binomial response must be 0/1"),
        ({}, "nan", "column 'arm' has 1 missing value"),
        ({"formula": "y ~ 1"}, "one_cluster", "needs at least 2 clusters; got 1"),
    ],
)
def test_errors(kwargs: dict[str, Any], frame: str | None, match: str) -> None:
    d = _small()
    if frame == "two":
        d.loc[3, "y"] = 2
    elif frame == "nan":
        d["arm"] = d["arm"].astype(float)
        d.loc[5, "arm"] = np.nan
    elif frame == "one_cluster":
        d["cluster"] = "c00"
    args: dict[str, Any] = {"formula": "y ~ arm", "cluster": "cluster", **kwargs}
    formula = args.pop("formula")
    with pytest.raises(ModelError, match=match):
        fit_glmm_reml(formula, d, **args)


def test_fit_glmm_method_reml_is_fit_glmm_reml() -> None:
    d = pd.read_csv(REF.parent / "glmm" / "bin_24.csv")
    a = fit_glmm("y ~ arm + x + base", d, cluster="cluster", method="REML")
    b = fit_glmm_reml("y ~ arm + x + base", d, cluster="cluster")
    pd.testing.assert_series_equal(a.params, b.params)
    np.testing.assert_array_equal(a.cov_params().to_numpy(), b.cov_params().to_numpy())
    assert a.extra["estimation"] == "REML" and a.df_method == "between-within"
    ml = fit_glmm("y ~ arm + x + base", d, cluster="cluster", method="ML")
    assert ml.extra["estimation"] == "ML" and ml.cluster_var < a.cluster_var


def test_fit_glmm_default_is_reml() -> None:
    """Issue 9: the default holds its size with few clusters (REML); ML is
    ``method="ML"``, or implied by asking for quadrature nodes."""
    d = pd.read_csv(REF.parent / "glmm" / "bin_24.csv")
    default = fit_glmm("y ~ arm + x + base", d, cluster="cluster")
    reml = fit_glmm_reml("y ~ arm + x + base", d, cluster="cluster")
    pd.testing.assert_series_equal(default.params, reml.params)
    np.testing.assert_array_equal(default.cov_params().to_numpy(), reml.cov_params().to_numpy())
    assert default.extra["estimation"] == "REML" and default.llf == reml.llf
    # the inner mode met the strict rule (a relaxed stop would be named and warned)
    assert default.extra["stopping_rule"] == "decrement"
    assert not any("relaxed" in w for w in default.diagnostics.warnings)
    ml = fit_glmm("y ~ arm + x + base", d, cluster="cluster", method="ML")
    by_nagq = fit_glmm("y ~ arm + x + base", d, cluster="cluster", nagq=25)
    assert ml.extra["estimation"] == by_nagq.extra["estimation"] == "ML"
    assert ml.extra["nagq"] == by_nagq.extra["nagq"] == 25
    pd.testing.assert_series_equal(ml.params, by_nagq.params)
    laplace = fit_glmm("y ~ arm + x + base", d, cluster="cluster", nagq=1)
    assert laplace.extra["estimation"] == "ML" and laplace.extra["nagq"] == 1
    # nagq=1 with REML says what REML is (Laplace): accepted, the same fit
    same = fit_glmm("y ~ arm + x + base", d, cluster="cluster", method="REML", nagq=1)
    pd.testing.assert_series_equal(same.params, reml.params)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "PQL"}, r"method must be 'ML' or 'REML'; got 'PQL'"),
        ({"method": "REML", "family": "gamma"}, r"family must be one of"),
        ({"method": "REML", "nagq": 7}, r"nagq applies to method='ML' only .*got nagq=7"),
        ({"method": "REML", "nagq": 25}, r"drop nagq or use method='ML'"),
        ({"method": "REML", "trials": "m"}, r"trials is not supported \(use method='ML'\)"),
        ({"trials": "m"}, r"trials= needs method='ML': REML \(fit_glmm's default\)"),
        ({"method": "ML", "nagq": 0}, r"nagq must be an integer from 1"),
    ],
)
def test_fit_glmm_method_errors(kwargs, message) -> None:
    d = pd.read_csv(REF.parent / "glmm" / "bin_24.csv").assign(m=1)
    with pytest.raises(ModelError, match=message):
        fit_glmm("y ~ arm", d, cluster="cluster", **kwargs)


# --- negative binomial (NB2) ---------------------------------------------------


def _nb_arrays(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d = _data(path)
    X, _, codes = _dense_design(d, ["arm", "x"])
    return d["y"].to_numpy(float), X, codes, np.log(d["followup"].to_numpy())


@pytest.mark.parametrize(("sigma", "theta"), [(0.0, 0.7), (0.45, 0.7), (0.45, 40.0)])
def test_negbin_inner_mode_is_dense_newton(sigma: float, theta: float) -> None:
    """At fixed (σ, θ) the block Newton gives the dense Newton solution of
    max Σ log f(y | Xβ + o + σZu) - ½|u|² with NB2's observed weights, and ℓ_R
    equals the dense Laplace formula with scipy's NB log-pmf (independent code)."""
    from scipy import stats

    y, X, codes, off = _nb_arrays("negbin_32.csv")
    Z = np.zeros((len(y), codes.max() + 1))
    Z[np.arange(len(y)), codes] = 1.0
    p, G = X.shape[1], Z.shape[1]
    M = np.c_[X, sigma * Z]
    pen = np.r_[np.zeros(p), np.ones(G)]

    def hess_grad(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = np.exp(M @ t + off)
        w = theta * mu * (y + theta) / (theta + mu) ** 2  # -∂² log f/∂η²
        g = M.T @ (theta * (y - mu) / (theta + mu)) - pen * t
        return (M.T * w) @ M + np.diag(pen), g, mu

    t = np.r_[np.log(y.mean() + 0.5), np.zeros(p - 1 + G)]
    for _ in range(100):
        H, g, _ = hess_grad(t)
        step = np.linalg.solve(H, g)
        t += step
        if np.max(np.abs(step)) < 1e-13:
            break
    ev = restricted_loglik(y, X, codes, sigma, family="negbin", offset=off, theta=theta)
    np.testing.assert_allclose(ev.beta, t[:p], atol=1e-10)
    np.testing.assert_allclose(ev.u, t[p:], atol=1e-10)
    H, _, mu = hess_grad(t)
    ll = np.sum(stats.nbinom.logpmf(y, theta, theta / (theta + mu))) - 0.5 * t[p:] @ t[p:]
    dense = ll + 0.5 * p * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(H)[1]
    assert ev.value == pytest.approx(dense, abs=1e-8)
    np.testing.assert_allclose(np.linalg.inv(ev.schur), np.linalg.inv(H)[:p, :p], rtol=1e-9)


@pytest.mark.parametrize(("sigma", "theta"), [(1e-3, 0.7), (0.45, 0.7), (0.45, 40.0)])
def test_negbin_scores_are_the_derivatives(sigma: float, theta: float) -> None:
    """The exact ∂ℓ_R/∂σ, ∂ℓ_R/∂log θ and ∂β̂/∂log θ (implicit differentiation of
    the mode) against finite differences. σ: central, step 1e-6 (truncation
    ~1e-12, rounding ~1e-7 on values ~1,600). log θ: the θ terms of log f sum to
    ~1e5 before they cancel (rounding ~1e-11 per value), so a 4-point stencil with
    step 1e-3 (truncation ~1e-12, rounding ~1e-8; β to ~1e-9)."""
    y, X, codes, off = _nb_arrays("negbin_32.csv")

    def ev(s: float, th: float) -> Any:
        return restricted_loglik(y, X, codes, s, family="negbin", offset=off, theta=th)

    h = 1e-6
    at = ev(sigma, theta)
    fd_sigma = (ev(sigma + h, theta).value - ev(sigma - h, theta).value) / (2 * h)
    assert at.score == pytest.approx(fd_sigma, abs=2e-6)
    k = 1e-3
    e = {j: ev(sigma, theta * np.exp(j * k)) for j in (-2, -1, 1, 2)}

    def stencil(f: Any) -> Any:
        return (f(e[-2]) - 8 * f(e[-1]) + 8 * f(e[1]) - f(e[2])) / (12 * k)

    assert at.score_log_theta == pytest.approx(stencil(lambda r: r.value), abs=1e-6)
    np.testing.assert_allclose(at.dbeta_log_theta, stencil(lambda r: r.beta), atol=1e-7)


@pytest.mark.parametrize("key", ["negbin_reml", "negbin_32_reml"])
def test_negbin_reml_variance_exceeds_ml(key: str) -> None:
    """As for the binary data: the NB2 restricted variance is larger than the ML one
    (Laplace and AGQ 25) on the same data, and so is the arm SE."""
    reml = _fit(key)
    d = _data(FITS[key]["data"])
    off = np.log(d["followup"].to_numpy())
    for nagq in (1, 25):
        ml = fit_glmm("y ~ arm + x", d, cluster="cluster", family="negbin", offset=off, nagq=nagq)
        assert reml.cluster_var > 1.05 * ml.cluster_var
        assert reml.bse["arm"] > ml.bse["arm"]


def test_negbin_poisson_limit() -> None:
    """θ → ∞ is the Poisson model: NB2's log f minus Poisson's is
    ≈ [(y - μ)² - y]/(2θ) per row (summed ≈ 100/θ on these data) and the weights
    differ by O(μ/θ). At a fixed σ with θ = 1e12: ℓ_R and its score agree to 1e-8
    (observed 2e-11), the mode to 1e-12 (observed 1e-14). Fitted to Poisson data,
    θ runs to its cap 1e8 (with the warning, as fit_glmm): ℓ_R within 2e-6 of the
    Poisson REML fit (≈ 100/θ = 1e-6; observed 2.3e-7), β, SEs and σ² within 1e-6
    relative (O(μ/θ); observed ≤ 8e-9)."""
    d = _data("../glmm/pois_offset.csv")
    off = np.log(d["followup"].to_numpy())
    X, _, codes = _dense_design(d, ["arm", "x"])
    y = d["y"].to_numpy(float)
    nb = restricted_loglik(y, X, codes, 0.3, family="negbin", offset=off, theta=1e12)
    po = restricted_loglik(y, X, codes, 0.3, family="poisson", offset=off)
    assert nb.value == pytest.approx(po.value, abs=1e-8)
    assert nb.score == pytest.approx(po.score, abs=1e-8)
    np.testing.assert_allclose(nb.beta, po.beta, atol=1e-12)

    kw: dict[str, Any] = {"cluster": "cluster", "offset": off}
    fit_nb = fit_glmm_reml("y ~ arm + x", d, family="negbin", **kw)
    fit_po = fit_glmm_reml("y ~ arm + x", d, family="poisson", **kw)
    assert fit_nb.theta == pytest.approx(1e8) and fit_nb.extra["theta_capped"]
    assert any("theta reached its cap" in w for w in fit_nb.diagnostics.warnings)
    np.testing.assert_allclose(fit_nb.params, fit_po.params, atol=1e-7)
    np.testing.assert_allclose(fit_nb.bse, fit_po.bse, rtol=1e-6)
    assert fit_nb.cluster_var == pytest.approx(fit_po.cluster_var, rel=1e-6)
    assert fit_nb.llf == pytest.approx(fit_po.llf, abs=2e-6)
    # θ is fixed at its cap: no log θ row; log σ's matches Poisson's
    full_nb, full_po = fit_nb.extra["cov_full"], fit_po.extra["cov_full"]
    assert full_nb.loc["log_theta"].isna().all()
    assert full_nb.loc["log_sigma", "log_sigma"] == pytest.approx(
        full_po.loc["log_sigma", "log_sigma"], rel=1e-6
    )


def test_negbin_boundary_is_the_nb_glm() -> None:
    """σ̂ = 0 (negbin_zero): β is the NB2 GLM's at θ̂ (statsmodels, θ held fixed),
    ℓ_R is its log-likelihood plus (p/2) log 2π - ½ log det X'WX with the observed
    weights, and θ̂ is stationary for that restricted GLM likelihood."""
    d = _data("negbin_zero.csv")
    res = fit_glmm_reml("y ~ arm", d, cluster="cluster", family="negbin")
    assert res.diagnostics.singular and res.cluster_var == 0.0 and res.converged
    theta = res.theta
    assert theta is not None
    X = np.c_[np.ones(len(d)), d["arm"].to_numpy(float)]
    y = d["y"].to_numpy(float)
    glm = sm.GLM(y, X, family=sm.families.NegativeBinomial(alpha=1 / theta)).fit(tol=1e-12)
    np.testing.assert_allclose(res.params.to_numpy(), glm.params, atol=1e-8)
    mu = glm.fittedvalues
    w = theta * mu * (y + theta) / (theta + mu) ** 2
    expected = glm.llf + np.log(2 * np.pi) - 0.5 * np.linalg.slogdet((X.T * w) @ X)[1]
    assert res.llf == pytest.approx(expected, abs=1e-7)
    assert res.diagnostics.max_abs_gradient < 1e-6  # ∂ℓ_R/∂log θ at θ̂


def test_fit_glmm_method_reml_negbin() -> None:
    d = _data("negbin_32.csv")
    off = np.log(d["followup"].to_numpy())
    kw: dict[str, Any] = {"cluster": "cluster", "family": "negbin", "offset": off}
    a = fit_glmm("y ~ arm + x", d, method="REML", **kw)
    b = fit_glmm_reml("y ~ arm + x", d, **kw)
    pd.testing.assert_series_equal(a.params, b.params)
    assert a.theta == b.theta and a.llf == b.llf
    assert a.family == "negbin" and a.link == "log" and a.extra["estimation"] == "REML"


def test_restricted_loglik_theta_only_for_negbin() -> None:
    y, X, codes, _ = _nb_arrays("negbin_32.csv")
    with pytest.raises(ModelError, match="theta for family='negbin' only"):
        restricted_loglik(y, X, codes, 0.3, family="negbin")
    with pytest.raises(ModelError, match="theta for family='negbin' only"):
        restricted_loglik(y, X, codes, 0.3, family="poisson", theta=2.0)


# --- Satterthwaite df (REML only) ----------------------------------------------


def _schur_var(
    y: np.ndarray, X: np.ndarray, codes: np.ndarray, sigma: float, **kw: Any
) -> np.ndarray:
    return np.diag(np.linalg.inv(restricted_loglik(y, X, codes, sigma, **kw).schur))


@pytest.mark.parametrize("key", ["bin_24_reml", "bin_12_arm_reml", "pois_offset_reml"])
def test_satterthwaite_df_by_definition(key: str) -> None:
    """df = 2 v² / (g² var(log σ̂)) with v = diag S⁻¹ and g = dv/dlog σ, recomputed
    here from ℓ_R's building block with another step (1e-3 against the fit's 1e-4),
    then capped at the between-within df."""
    r = FITS[key]
    d = _data(r["data"])
    cols = [c for c in ("arm", "x", "base") if c in r["formula"]]
    X, _, codes = _dense_design(d, cols)
    y = d["y"].to_numpy(float)
    kw: dict[str, Any] = {"family": r["family"]}
    if "offset" in r:
        kw["offset"] = np.log(d["followup"].to_numpy())
    res = _fit(key, df="satterthwaite")
    bw = _fit(key)
    sigma = np.sqrt(res.cluster_var)
    h = 1e-3
    g = (
        _schur_var(y, X, codes, sigma * np.exp(h), **kw)
        - _schur_var(y, X, codes, sigma * np.exp(-h), **kw)
    ) / (2 * h)
    v = _schur_var(y, X, codes, sigma, **kw)
    var_log_sigma = res.extra["cov_full"].loc["log_sigma", "log_sigma"]
    want = 2 * v**2 / (g**2 * var_log_sigma)
    np.testing.assert_allclose(res.extra["satterthwaite_df"].to_numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(res.df.to_numpy(), np.minimum(want, bw.df.to_numpy()), rtol=1e-5)
    assert res.df_method == "satterthwaite"
    # the same fit otherwise: only the reference distribution differs
    pd.testing.assert_series_equal(res.params, bw.params)
    pd.testing.assert_series_equal(res.bse, bw.bse)
    # never more than between-within; for these binary data (less information on σ²
    # than G Gaussian cluster means) fewer (the Poisson counts reach the cap)
    assert res.df["arm"] <= bw.df["arm"]
    if r["family"] == "binomial":
        assert res.df["arm"] < bw.df["arm"]


def test_satterthwaite_at_the_boundary_is_between_within() -> None:
    """σ̂ = 0: the variance does not move with a parameter the fit estimates, so
    there is no Satterthwaite df; the between-within df are used."""
    res = _fit("bin_zero_reml", df="satterthwaite")
    assert res.diagnostics.singular
    assert res.extra["satterthwaite_df"].isna().all()
    pd.testing.assert_series_equal(res.df, _fit("bin_zero_reml").df)


def test_satterthwaite_negbin_uses_both_outer_parameters() -> None:
    """NB2: g has a log σ and a log θ column and I is their 2 × 2 information; with
    only log σ it would be larger than it is."""
    res = _fit("negbin_32_reml", df="satterthwaite")
    bw = _fit("negbin_32_reml")
    raw = res.extra["satterthwaite_df"]
    assert raw.notna().all() and (raw > 0).all()
    np.testing.assert_array_equal(res.df.to_numpy(), np.minimum(raw, bw.df).to_numpy())
    r = FITS["negbin_32_reml"]
    d = _data(r["data"])
    X, _, codes = _dense_design(d, ["arm", "x"])
    y, off = d["y"].to_numpy(float), np.log(d["followup"].to_numpy())
    sigma, theta = np.sqrt(res.cluster_var), res.theta
    h = 1e-3

    def v(s: float, t: float) -> np.ndarray:
        return _schur_var(y, X, codes, s, family="negbin", offset=off, theta=t)

    g = np.c_[
        (v(sigma * np.exp(h), theta) - v(sigma * np.exp(-h), theta)) / (2 * h),
        (v(sigma, theta * np.exp(h)) - v(sigma, theta * np.exp(-h))) / (2 * h),
    ]
    cov = res.extra["cov_full"].loc[["log_sigma", "log_theta"], ["log_sigma", "log_theta"]]
    want = 2 * v(sigma, theta) ** 2 / np.einsum("ki,ij,kj->k", g, cov.to_numpy(), g)
    np.testing.assert_allclose(raw.to_numpy(), want, rtol=1e-4)


def test_satterthwaite_df_need_reml() -> None:
    d = _data("../glmm/bin_24.csv")
    with pytest.raises(ModelError, match="df='satterthwaite' needs method='REML'"):
        fit_glmm("y ~ arm", d, cluster="cluster", method="ML", df="satterthwaite")
    res = fit_glmm("y ~ arm", d, cluster="cluster", df="satterthwaite")
    assert res.df_method == "satterthwaite" and res.extra["estimation"] == "REML"
