"""Bad input gets one-line ModelErrors; degenerate data never crash but are reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.errors import ModelError
from odtrial.models.glmm import fit_glmm, fit_glmm_arrays


@pytest.fixture
def d() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    out = pd.DataFrame({"cluster": np.repeat([f"k{i}" for i in range(10)], 12)})
    out["arm"] = np.repeat(np.arange(10) % 2, 12)
    out["x"] = rng.normal(size=len(out))
    out["y"] = rng.binomial(1, 0.4, len(out))
    out["n"] = rng.poisson(2, len(out))
    out["fu"] = rng.uniform(0.5, 2, len(out))
    return out


@pytest.mark.parametrize(
    ("change", "kwargs", "match"),
    [
        (None, {"cluster": "practice"}, "cluster column 'practice' is not in the data"),
        (None, {"cluster": "cluster", "family": "gamma"}, "family must be one of"),
        (None, {"cluster": "cluster", "nagq": 0}, "nagq must be an integer"),
        (None, {"cluster": "cluster", "nagq": 2.5}, "nagq must be an integer"),
        (None, {"cluster": "cluster", "df": "kenward-roger"}, "df must be one of"),
        (None, {"cluster": "cluster", "offset": "followup"}, "column 'followup'"),
        (None, {"cluster": "cluster", "offset": np.zeros(5)}, "offset has 5 values"),
        (("y", 2), {"cluster": "cluster"}, "binomial response must be 0/1"),
        (("x", np.nan), {"cluster": "cluster"}, "column 'x' has 1 missing value"),
        (("y", np.nan), {"cluster": "cluster"}, "column 'y' has 1 missing value"),
        (
            ("cluster", "k0"),
            {"cluster": "cluster", "trials": "n", "method": "ML"},
            "trials must be positive integers",
        ),
    ],
)
def test_bad_input_one_line_error(d, change, kwargs, match):
    if change is not None:
        col, val = change
        if col == "cluster":
            d["n"] = 0
        else:
            d.loc[3, col] = val
    with pytest.raises(ModelError, match=match) as err:
        fit_glmm("y ~ arm + x", d, **kwargs)
    assert "\n" not in str(err.value)


def test_missing_formula_column(d):
    with pytest.raises(ModelError, match="cannot build the design"):
        fit_glmm("y ~ arm + age", d, cluster="cluster")


def test_negative_and_fractional_counts(d):
    d.loc[0, "n"] = -1
    with pytest.raises(ModelError, match="non-negative counts; found -1"):
        fit_glmm("n ~ arm", d, cluster="cluster", family="poisson")
    d["n"] = d["n"].astype(float)
    d.loc[0, "n"] = 1.5
    with pytest.raises(ModelError, match=r"whole counts; found 1\.5"):
        fit_glmm("n ~ arm", d, cluster="cluster", family="negbin")


def test_successes_above_trials(d):
    d["succ"] = d["n"] + 1
    d["n"] = d["n"] + 1
    d.loc[0, "succ"] = d.loc[0, "n"] + 1
    with pytest.raises(ModelError, match="between 0 and trials"):
        fit_glmm("succ ~ arm", d, cluster="cluster", trials="n", method="ML")


def test_one_cluster_and_collinear_terms(d):
    with pytest.raises(ModelError, match="at least 2 clusters"):
        fit_glmm("y ~ x", d.assign(cluster="k0"), cluster="cluster")
    with pytest.raises(ModelError, match="rank deficient"):
        fit_glmm("y ~ arm + z", d.assign(z=d["arm"] * 2.0), cluster="cluster")


def test_arrays_api_checks(d):
    X = np.c_[np.ones(len(d)), d["arm"]]
    with pytest.raises(ModelError, match="X must be"):
        fit_glmm_arrays(d["y"].to_numpy(), X[:5], d["cluster"])
    with pytest.raises(ModelError, match="rank deficient"):
        fit_glmm_arrays(d["y"].to_numpy(), np.c_[X, X[:, 1]], d["cluster"])
    with pytest.raises(ModelError, match="finite"):
        fit_glmm_arrays(np.r_[np.nan, d["y"].to_numpy()[1:]], X, d["cluster"])


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_all_zero_and_all_one_clusters_reported(d, method):
    d.loc[d["cluster"] == "k0", "y"] = 0
    d.loc[d["cluster"] == "k1", "y"] = 1
    res = fit_glmm("y ~ arm + x", d, cluster="cluster", method=method)
    w = " ".join(res.diagnostics.warnings)
    assert "1 of 10 clusters have all-zero outcomes (k0)" in w
    assert "1 of 10 clusters have all-one outcomes (k1)" in w
    assert np.all(np.isfinite(res.params))


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_complete_separation_reported_not_raised(d, method):
    d["y"] = (d["x"] > 0).astype(int)  # x separates the outcome perfectly
    res = fit_glmm("y ~ arm + x", d, cluster="cluster", method=method)
    assert any("separation" in w for w in res.diagnostics.warnings)
    assert not res.converged


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_constant_response_reported_not_raised(d, method):
    res = fit_glmm("y ~ arm + x", d.assign(y=0), cluster="cluster", method=method)
    assert not res.converged
    assert any("separation" in w for w in res.diagnostics.warnings)


def test_degenerate_simulated_trials_never_raise():
    """The power-simulation path: 32 clusters x tiny sizes, rare outcomes, big ICC."""
    ss = np.random.SeedSequence(2026)
    for child in ss.spawn(40):
        rng = np.random.default_rng(child)
        sizes = rng.integers(1, 6, 32)
        cl = np.repeat(np.arange(32), sizes)
        arm = (np.arange(32) % 2)[cl]
        u = rng.normal(0, rng.choice([0.0, 2.0]), 32)[cl]
        p = 1 / (1 + np.exp(-(rng.choice([-4.0, 0.0, 3.0]) + 0.5 * arm + u)))
        y = rng.binomial(1, p)
        res = fit_glmm_arrays(y, np.c_[np.ones(len(y)), arm], cl, names=("Intercept", "arm"))
        assert res.nobs == len(y)
        d = res.diagnostics
        assert (
            isinstance(d.converged, bool) and np.isfinite(d.max_abs_gradient)
        ) or not d.converged


def test_too_few_clusters_for_between_within_gives_nan_df_not_error():
    # 3 clusters, 2 cluster-level terms (Intercept, arm) and x: between df = 1,
    # within df = 5 - 3 - 1 = 1; with 4 rows within df = 0 -> NaN and a warning
    y = np.array([0, 1, 1, 0])
    cl = np.array([0, 1, 2, 2])
    X = np.c_[np.ones(4), [0, 1, 0, 0], [0.1, -0.3, 0.5, 0.2]]
    res = fit_glmm_arrays(y, X, cl, names=("Intercept", "arm", "x"))
    assert np.isnan(res.df["x"]) and res.df["arm"] == 1.0
    assert np.isnan(res.pvalues["x"])
    assert any("between-within df not positive" in w for w in res.diagnostics.warnings)


def test_negbin_theta_capped_on_underdispersed_counts():
    rng = np.random.default_rng(5)
    cl = np.repeat(np.arange(12), 10)
    y = np.tile([2, 3, 2, 2, 3, 2, 3, 2, 2, 3], 12)  # far less variable than Poisson
    X = np.c_[np.ones(len(y)), (np.arange(12) % 2)[cl], rng.normal(size=len(y))]
    res = fit_glmm_arrays(y, X, cl, family="negbin")
    assert res.theta is not None and res.theta > 1e7
    assert any("theta reached its cap" in w for w in res.diagnostics.warnings)
    assert np.all(np.isfinite(res.params))


def test_ml_hessian_not_positive_definite_is_not_converged():
    """Issue 9: fit_glmm (ML) reported converged=True at a stationary point whose
    Hessian is not positive definite (here 4 clusters, 3 of them all-0 or all-1:
    Newton on |eigenvalues| settles on a saddle with σ ≈ 17 and zero gradient)."""
    cl = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3, 3])
    y = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1])
    x = np.array([-0.543, 1.067, -1.075, -1.654, -0.862, -1.326, -0.419, 0.988, -1.043])
    x = np.r_[x, -0.539, -0.975, 0.16, -0.442, 0.709]
    X = np.c_[np.ones(14), cl % 2, x].astype(float)
    res = fit_glmm_arrays(y, X, cl, names=("Intercept", "arm", "x"))
    d = res.diagnostics
    assert d.max_abs_gradient < 1e-5  # a stationary point ...
    assert not d.hessian_positive_definite  # ... that is not a maximum
    assert not res.converged
    assert any("not positive definite" in w and "not converged" in w for w in d.warnings)


def test_relaxed_stopping_rule_is_reported():
    """A fit accepted by a relaxed rule (here: out of iterations with the Newton
    decrement below 1e-6 but above the strict 1e-14) says so on the results."""
    d = pd.read_csv(Path(__file__).resolve().parents[2] / "reference" / "glmm" / "bin_12.csv")
    res = fit_glmm("y ~ arm + x + base", d, cluster="cluster", nagq=1, maxiter=3)
    assert res.converged
    rule = res.extra["stopping_rule"]
    assert rule.startswith("out of iterations at Newton decrement")
    assert f"optimiser stopped by a relaxed rule: {rule}" in res.diagnostics.warnings
    strict = fit_glmm("y ~ arm + x + base", d, cluster="cluster", nagq=1)
    assert strict.extra["stopping_rule"] in ("decrement", "quadratic")
    assert not any("relaxed" in w for w in strict.diagnostics.warnings)
    # ~1e-8 decrement: the estimates are within ~1e-4 of the optimum
    np.testing.assert_allclose(res.params, strict.params, atol=1e-4)


def test_a_separated_outcome_is_a_model_error_not_a_solver_failure() -> None:
    # every participant of the first arm has the event: the REML likelihood is not finite
    d = pd.DataFrame({"y": [1, 1, 1, 0], "treat": [1, 0, 1, 0], "cluster": list("abcd")})
    with pytest.raises(ModelError, match="the outcome is probably separated"):
        fit_glmm("y ~ treat", d, cluster="cluster", family="binomial")
