"""Binomial GLMM against lme4::glmer (nAGQ = 1 and 25), incl. lme4's cbpp example.

Tolerances (``conftest.tolerance``): the nAGQ = 25 fits and the Laplace fits where
lme4 reached the exact Laplace optimum are held to ``EXACT`` (β, SE, cluster
variance 1e-5; vcov entries 2e-5 of the largest variance; llf 1e-6). Only lme4's
Laplace fits whose optimum is lower than the exact one (its inner PIRLS stops at
tolPwrss, 1e-7 by default) get ``LME4_LAPLACE`` (β 1e-3, SE 1%, 1.5% on cbpp's
tiny herds, llf 1e-3); test_glmm_lme4_optimum.py shows, for each of them, that
odtrial's log-likelihood at its own estimate is above its value at lme4's.
"""

from __future__ import annotations

import numpy as np
import pytest

BINOMIAL = [
    f"{d}_{q}"
    for d in ("bin_12", "bin_24", "bin_32", "bin_60", "bin_rare", "bin_zero", "cbpp")
    for q in ("agq1", "agq25", "agq1_tight")
]


@pytest.mark.parametrize("key", BINOMIAL)
def test_binomial_matches_glmer(key, reference, load, fitted, matches_r, tolerance_for):
    r = reference["fits"][key]
    res = fitted(key)
    matches_r(res, r, load(r["data"]), tolerance_for(key))
    assert res.converged and res.extra["estimation"] == "ML"
    assert res.diagnostics.hessian_positive_definite
    assert res.diagnostics.max_abs_gradient < 1e-4


@pytest.mark.parametrize("key", ["bin_24_agq25", "bin_60_agq25", "cbpp_agq25", "bin_12_agq1_tight"])
def test_full_covariance_matches_glmer(key, reference, fitted):
    """Not just the SEs: every entry of vcov within 2e-5 of the largest variance."""
    r = reference["fits"][key]
    cov = fitted(key).cov_params().to_numpy()
    rc = np.array(r["cov"])
    assert np.max(np.abs(cov - rc)) < 2e-5 * np.max(np.diag(rc))


def test_rare_outcome_reports_all_zero_clusters(fitted):
    res = fitted("bin_rare_agq25")
    assert any("all-zero outcomes" in w for w in res.diagnostics.warnings)
    assert res.converged


def test_boundary_fit_is_flagged(fitted, reference):
    res = fitted("bin_zero_agq25")
    assert reference["fits"]["bin_zero_agq25"]["singular"]
    assert res.cluster_var == 0.0 and res.diagnostics.singular
    assert any("singular" in w for w in res.diagnostics.warnings)


def test_cbpp_aic_and_parameter_count(fitted, reference):
    res = fitted("cbpp_agq1_tight")
    r = reference["fits"]["cbpp_agq1_tight"]
    assert res.n_estimated == 5  # 4 fixed + the variance, as lme4 counts
    assert res.aic == pytest.approx(r["aic"], abs=1e-6)
