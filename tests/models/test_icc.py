"""ICCs against R (tests/reference/icc/make_reference.R): aov, lmer, glmer, glmmTMB."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.errors import ModelError
from odtrial.models.icc import LOGISTIC_VARIANCE, ICCResult, icc

REF_DIR = Path(__file__).resolve().parents[1] / "reference" / "icc"
REF = json.loads((REF_DIR / "reference.json").read_text())
ALL = ["cont15", "bin30", "bin_null", "gauss30", "bin24"]
BINARY = ["bin30", "bin24"]


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / REF[name]["file"])


@pytest.mark.parametrize("name", ALL)
def test_anova_icc_and_both_intervals_match_r(name: str) -> None:
    """Closed forms on R's aov mean squares: agreement to rounding (1e-10)."""
    d, ref = _data(name), REF[name]["anova"]
    for ci in ("searle", "smith"):
        r = icc(d, outcome="y", cluster="cluster", ci=ci)
        assert r.estimate == pytest.approx(ref["estimate"], abs=1e-10)
        np.testing.assert_allclose([r.lower, r.upper], ref[ci], atol=1e-10)
        assert r.within_var == pytest.approx(ref["msw"], rel=1e-10)
        assert r.method == "anova" and r.ci_method.startswith(ci)


def test_anova_scale_and_default_interval_follow_the_outcome() -> None:
    b = icc(_data("bin30"), outcome="y", cluster="cluster")
    c = icc(_data("cont15"), outcome="y", cluster="cluster")
    assert (b.scale, b.ci_method.split()[0]) == ("proportion", "smith")
    assert (c.scale, c.ci_method.split()[0]) == ("continuous", "searle")


def test_negative_anova_estimate_is_reported_as_is() -> None:
    r = icc(_data("bin_null"), outcome="y", cluster="cluster")
    assert r.estimate < 0
    assert any("negative" in n for n in r.notes)


@pytest.mark.parametrize("name", ALL)
def test_reml_icc_and_profile_interval_match_lme4(name: str) -> None:
    """lmer's REML optimum (rhoend 1e-12) and lme4's own profiled REML deviance.

    Estimate to 1e-7 (lmer's optimiser tolerance on theta), limits to 1e-8
    (both sides solve the same deviance equation by root finding).
    """
    d, ref = _data(name), REF[name]["reml"]
    r = icc(d, outcome="y", cluster="cluster", method="reml")
    assert r.estimate == pytest.approx(ref["estimate"], abs=1e-7)
    np.testing.assert_allclose([r.lower, r.upper], ref["profile"], atol=1e-8)
    assert r.between_var == pytest.approx(ref["between_var"], rel=1e-5, abs=1e-10)
    assert r.within_var == pytest.approx(ref["within_var"], rel=1e-7)
    assert r.lower <= r.estimate <= r.upper


def test_reml_at_boundary_has_lower_limit_zero() -> None:
    r = icc(_data("bin_null"), outcome="y", cluster="cluster", method="reml")
    assert r.estimate == pytest.approx(0.0, abs=1e-9) and r.lower == 0.0
    assert any("boundary" in n for n in r.notes)


def test_reml_equals_anova_on_balanced_data() -> None:
    rng = np.random.default_rng(9)
    d = pd.DataFrame({"g": np.repeat(np.arange(12), 8)})
    d["y"] = rng.normal(0, 0.6, 12)[d["g"]] + rng.normal(size=len(d))
    a = icc(d, outcome="y", cluster="g")
    r = icc(d, outcome="y", cluster="g", method="reml")
    assert a.estimate > 0
    assert r.estimate == pytest.approx(a.estimate, abs=1e-9)


@pytest.mark.parametrize("name", BINARY)
def test_latent_icc_matches_glmer_and_glmmtmb(name: str) -> None:
    """Estimate vs glmer nAGQ = 25 within 1e-4 relative (both quadratures are exact
    to ~1e-6 here); with nagq = 1 (Laplace) vs glmmTMB, whose sdreport gives the SE of
    log sigma: the Wald limits within 1e-4 relative (two numerical Hessians)."""
    d, ref = _data(name), REF[name]["latent"]
    r = icc(d, outcome="y", cluster="cluster", method="latent")
    want = ref["glmer_nagq25"]
    assert r.estimate == pytest.approx(want["estimate"], rel=1e-4)
    assert r.between_var == pytest.approx(want["cluster_var"], rel=1e-4)
    assert r.within_var == LOGISTIC_VARIANCE == pytest.approx(np.pi**2 / 3)
    assert (r.scale, r.method) == ("latent", "latent")
    lap = icc(d, outcome="y", cluster="cluster", method="latent", nagq=1)
    tmb = ref["glmmtmb_laplace"]
    assert lap.estimate == pytest.approx(tmb["estimate"], rel=1e-4)
    np.testing.assert_allclose([lap.lower, lap.upper], tmb["wald_log_sigma"], rtol=1e-4)


def test_latent_boundary_fit_gives_zero_and_says_why() -> None:
    r = icc(_data("bin_null"), outcome="y", cluster="cluster", method="latent")
    assert r.estimate == 0.0 and r.lower == 0.0 and np.isnan(r.upper)
    assert any("boundary" in n for n in r.notes)


def test_level_widens_the_interval() -> None:
    d = _data("gauss30")
    for method in ("anova", "reml"):
        r95 = icc(d, outcome="y", cluster="cluster", method=method)
        r80 = icc(d, outcome="y", cluster="cluster", method=method, level=0.8)
        assert r80.lower > r95.lower and r80.upper < r95.upper
        assert r80.estimate == r95.estimate


def test_result_is_frozen_and_serialisable() -> None:
    r = icc(_data("bin24"), outcome="y", cluster="cluster")
    assert isinstance(r, ICCResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.estimate = 0.5  # type: ignore[misc]
    out = r.to_dict()
    assert json.loads(json.dumps(out))["scale"] == "proportion"
    assert out["n_clusters"] == 24 and out["nobs"] == 543


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"outcome": "nope"}, r"column 'nope' is not in the data"),
        ({"cluster": "nope"}, r"column 'nope' is not in the data"),
        ({"method": "bayes"}, r"method must be 'anova', 'reml' or 'latent'; got 'bayes'"),
        ({"level": 1.5}, r"level must be in \(0, 1\), got 1.5"),
        ({"ci": "smith", "method": "reml"}, r"ci= applies to method='anova' only"),
        ({"ci": "wald"}, r"ci must be 'searle' or 'smith'; got 'wald'"),
        ({"method": "latent", "outcome": "x"}, r"method='latent' needs a 0/1 outcome; 'x'"),
        ({"outcome": "label"}, r"outcome 'label' must be numeric"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    d = _data("bin24").assign(label="a")
    args = {"outcome": "y", "cluster": "cluster"} | kwargs
    with pytest.raises(ModelError, match=match) as err:
        icc(d, **args)
    assert "\n" not in str(err.value)


def test_missing_values_and_degenerate_data() -> None:
    d = _data("bin24")
    d.loc[4, "y"] = np.nan
    with pytest.raises(ModelError, match=r"column 'y' has 1 missing value\(s\), first at row 4"):
        icc(d, outcome="y", cluster="cluster")
    one = pd.DataFrame({"g": [1, 1, 1], "y": [0.0, 1.0, 2.0]})
    with pytest.raises(ModelError, match=r"at least 2 clusters"):
        icc(one, outcome="y", cluster="g")
    singles = pd.DataFrame({"g": [1, 2, 3], "y": [0.0, 1.0, 2.0]})
    with pytest.raises(ModelError, match=r"clusters with 2 or more people"):
        icc(singles, outcome="y", cluster="g")
    flat = pd.DataFrame({"g": [1, 1, 2, 2], "y": [1.0, 1.0, 1.0, 1.0]})
    with pytest.raises(ModelError, match=r"does not vary at all"):
        icc(flat, outcome="y", cluster="g")
