"""Cluster-level analyses against scipy's t-test, statsmodels' WLS and hand formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from odtrial.errors import ModelError
from odtrial.models import ModelResults
from odtrial.models.cluster_level import cluster_level

REF_DIR = Path(__file__).resolve().parents[1] / "reference" / "gee"


@pytest.fixture
def bin24() -> pd.DataFrame:
    d = pd.read_csv(REF_DIR / "bin24.csv")
    # a cluster-level stratum with 3 levels (2 design columns)
    d["stratum"] = "s" + (d["cluster"].str[1:].astype(int) % 3).astype(str)
    return d


def _per_cluster(d: pd.DataFrame, col: str) -> pd.DataFrame:
    return d.groupby("cluster").agg(s=(col, "mean"), arm=("arm", "first"), n=(col, "size"))


def test_unadjusted_equals_two_sample_t_test(bin24: pd.DataFrame) -> None:
    res = cluster_level("y", bin24, cluster="cluster", treatment="arm")
    assert isinstance(res, ModelResults)
    pc = _per_cluster(bin24, "y")
    t = stats.ttest_ind(pc.s[pc.arm == 1], pc.s[pc.arm == 0])
    assert res.params["arm"] == pytest.approx(pc.s[pc.arm == 1].mean() - pc.s[pc.arm == 0].mean())
    assert res.params["Intercept"] == pytest.approx(pc.s[pc.arm == 0].mean())
    assert res.tvalues["arm"] == pytest.approx(t.statistic, rel=1e-12)
    assert res.pvalues["arm"] == pytest.approx(t.pvalue, rel=1e-10)
    assert (res.df == 22).all()
    assert res.extra["effect"] == "risk difference"
    assert res.nobs == len(bin24) and res.n_clusters == 24


def test_two_stage_difference_matches_glm_residual_t_test(bin24: pd.DataFrame) -> None:
    res = cluster_level(
        "y ~ x + z + C(stratum)", bin24, cluster="cluster", treatment="arm", family="binomial"
    )
    glm = sm.GLM.from_formula("y ~ x + z + C(stratum)", bin24, family=sm.families.Binomial())
    fitted = glm.fit(tol=1e-12).fittedvalues
    r = (bin24["y"] - fitted).groupby(bin24["cluster"]).mean()
    arm = bin24.groupby("cluster")["arm"].first()
    t = stats.ttest_ind(r[arm == 1], r[arm == 0])
    assert res.params["arm"] == pytest.approx(r[arm == 1].mean() - r[arm == 0].mean(), abs=1e-9)
    assert res.tvalues["arm"] == pytest.approx(t.statistic, rel=1e-7)
    # the stratum is cluster-level (2 columns): df = 24 - 2 - 2
    assert res.extra["cluster_level_covariates"] == 2
    assert (res.df == 20).all()
    assert res.pvalues["arm"] == pytest.approx(2 * stats.t.sf(abs(t.statistic), 20), rel=1e-6)
    assert res.extra["adjusted"]
    assert set(res.extra["stage1_params"]) == {
        "Intercept",
        "C(stratum)[T.s1]",
        "C(stratum)[T.s2]",
        "x",
        "z",
    }


def test_covariates_argument_equals_formula(bin24: pd.DataFrame) -> None:
    a = cluster_level("y ~ x + C(stratum)", bin24, cluster="cluster", treatment="arm")
    b = cluster_level(
        "y", bin24, cluster="cluster", treatment="arm", covariates=["x", "C(stratum)"]
    )
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.bse, b.bse)


def test_ratio_scale_delta_method(bin24: pd.DataFrame) -> None:
    """log(m1/m0) with var s^2 (1/(k1 m1^2) + 1/(k0 m0^2)), s^2 the pooled variance."""
    res = cluster_level("y", bin24, cluster="cluster", treatment="arm", scale="ratio")
    pc = _per_cluster(bin24, "y")
    a, b = pc.s[pc.arm == 1], pc.s[pc.arm == 0]
    s2 = (a.var() * (len(a) - 1) + b.var() * (len(b) - 1)) / (len(pc) - 2)
    se = np.sqrt(s2 * (1 / (len(a) * a.mean() ** 2) + 1 / (len(b) * b.mean() ** 2)))
    assert res.params["arm"] == pytest.approx(np.log(a.mean() / b.mean()), rel=1e-12)
    assert res.bse["arm"] == pytest.approx(se, rel=1e-12)
    assert res.link == "log" and res.extra["effect"] == "risk ratio"


def test_poisson_two_stage_ratio_residuals() -> None:
    d = pd.read_csv(REF_DIR / "pois20.csv")
    res = cluster_level("y ~ x", d, cluster="cluster", treatment="arm", family="poisson")
    assert res.extra["effect"] == "rate ratio"
    e = sm.GLM.from_formula("y ~ x", d, family=sm.families.Poisson()).fit(tol=1e-12).fittedvalues
    ratio = d["y"].groupby(d["cluster"]).sum() / e.groupby(d["cluster"]).sum()
    arm = d.groupby("cluster")["arm"].first()
    assert res.params["arm"] == pytest.approx(
        np.log(ratio[arm == 1].mean() / ratio[arm == 0].mean()), rel=1e-8
    )
    assert (res.df == 18).all()  # x is individual-level: k = 0


def test_inverse_variance_weights_are_wls_with_anova_weights() -> None:
    d = pd.read_csv(REF_DIR / "gauss30.csv")
    res = cluster_level(
        "y", d, cluster="cluster", treatment="arm", family="gaussian", weights="inverse-variance"
    )
    pc = _per_cluster(d, "y")
    w = pd.Series(res.extra["cluster_weights"]).loc[pc.index]
    # weights are n / (1 + (n - 1) rho) up to a constant, rho = s_b / (s_b + s_w)
    sb, sw = res.extra["between_var"], res.extra["within_var"]
    rho = sb / (sb + sw)
    ratio = w * (1 + (pc.n - 1) * rho) / pc.n
    np.testing.assert_allclose(ratio, ratio.iloc[0], rtol=1e-10)
    assert 0 < rho < 0.5
    wls = sm.WLS(pc.s, sm.add_constant(pc.arm.astype(float)), weights=w).fit()
    np.testing.assert_allclose(res.params.to_numpy(), wls.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.bse.to_numpy(), wls.bse.to_numpy(), rtol=1e-10)
    assert res.pvalues["arm"] == pytest.approx(wls.pvalues["arm"], rel=1e-8)
    # unweighted differs
    unw = cluster_level("y", d, cluster="cluster", treatment="arm", family="gaussian")
    assert unw.params["arm"] != pytest.approx(res.params["arm"], rel=1e-6)


def test_string_arms_and_reference_level(bin24: pd.DataFrame) -> None:
    bin24["group"] = np.where(bin24["arm"] == 1, "POD", "TAU")
    res = cluster_level("y", bin24, cluster="cluster", treatment="group")
    # sorted: "POD" is the reference, the term names the other arm
    assert list(res.params.index) == ["Intercept", "group[T.TAU]"]
    base = cluster_level("y", bin24, cluster="cluster", treatment="arm")
    assert res.params.iloc[1] == pytest.approx(-base.params["arm"])
    bin24["group"] = pd.Categorical(bin24["group"], categories=["TAU", "POD"])
    res_cat = cluster_level("y", bin24, cluster="cluster", treatment="group")
    assert list(res_cat.params.index) == ["Intercept", "group[T.POD]"]
    assert res_cat.params.iloc[1] == pytest.approx(base.params["arm"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"treatment": "x"}, r"treatment 'x' varies within cluster 'c01'"),
        ({"treatment": "nope"}, r"treatment column 'nope' is not in the data"),
        ({"family": "gaussian", "scale": "ratio"}, r"ratio only for binomial or poisson"),
        ({"weights": "size"}, r"weights must be 'unweighted' or 'inverse-variance'"),
        ({"covariates": ["z"], "formula_or_outcome": "y ~ x"}, r"not both"),
        ({"formula_or_outcome": "y ~ arm + x"}, r"leave the treatment 'arm' out"),
        ({"formula_or_outcome": "x"}, r"binomial outcome 'x' must be 0/1"),
        ({"cluster": "site"}, r"cluster column 'site' is not in the data"),
    ],
)
def test_bad_input(bin24: pd.DataFrame, kwargs: dict, match: str) -> None:
    args = {"formula_or_outcome": "y", "cluster": "cluster", "treatment": "arm"} | kwargs
    outcome = args.pop("formula_or_outcome")
    with pytest.raises(ModelError, match=match) as err:
        cluster_level(outcome, bin24, **args)
    assert "\n" not in str(err.value)


def test_three_arms_and_too_few_clusters(bin24: pd.DataFrame) -> None:
    bin24["arm3"] = bin24["cluster"].str[1:].astype(int) % 3
    with pytest.raises(ModelError, match=r"exactly 2 arms, found 3"):
        cluster_level("y", bin24, cluster="cluster", treatment="arm3")
    few = bin24[bin24["cluster"].isin(["c01", "c02", "c03"])]
    with pytest.raises(ModelError, match=r"too few clusters"):
        cluster_level("y", few, cluster="cluster", treatment="arm")


def test_missing_values_are_an_error(bin24: pd.DataFrame) -> None:
    bin24.loc[7, "arm"] = np.nan
    with pytest.raises(ModelError, match=r"column 'arm' has 1 missing value"):
        cluster_level("y", bin24, cluster="cluster", treatment="arm")


def test_inverse_variance_needs_some_variation() -> None:
    d = pd.DataFrame({"g": np.repeat(np.arange(6), 4)})
    d["arm"] = d["g"] % 2
    d["y"] = d["arm"].astype(float)  # each cluster all 0 or all 1, no noise anywhere
    with pytest.raises(ModelError, match=r"inverse-variance weights undefined"):
        cluster_level("y", d, cluster="g", treatment="arm", weights="inverse-variance")
