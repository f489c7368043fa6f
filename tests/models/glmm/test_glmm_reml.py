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
BOUNDARY = {"bin_zero_reml", "bin_zero_arm_reml", "arm_12_reml"}


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
        ({"family": "negbin"}, None, "supports family binomial or poisson; got 'negbin'"),
        ({"df": "satterthwaite"}, None, "df must be one of"),
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
    ml = fit_glmm("y ~ arm + x + base", d, cluster="cluster")
    assert "estimation" not in ml.extra and ml.cluster_var < a.cluster_var


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "PQL"}, r"method must be 'ML' or 'REML'; got 'PQL'"),
        ({"method": "REML", "family": "negbin"}, r"method='REML' supports family binomial or"),
        ({"method": "REML", "nagq": 7}, r"nagq does not apply \(got 7\)"),
        ({"method": "REML", "trials": "m"}, r"trials is not supported"),
    ],
)
def test_fit_glmm_method_errors(kwargs, message) -> None:
    d = pd.read_csv(REF.parent / "glmm" / "bin_24.csv").assign(m=1)
    with pytest.raises(ModelError, match=message):
        fit_glmm("y ~ arm", d, cluster="cluster", **kwargs)
