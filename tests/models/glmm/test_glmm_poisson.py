"""Poisson GLMM with an offset against lme4::glmer (nAGQ = 1 and 25).

Same tolerances as the binomial tests (``conftest.tolerance``: 1e-5 except lme4's
default Laplace fit, whose optimum is lower); lme4's nAGQ > 1 logLik omits the
saturated log-likelihood (it is built from deviance residuals), which the
comparison adds.
"""

from __future__ import annotations

import numpy as np
import pytest

from odtrial.models.glmm import fit_glmm


@pytest.mark.parametrize("key", ["pois_offset_agq1", "pois_offset_agq25", "pois_offset_agq1_tight"])
def test_poisson_offset_matches_glmer(key, reference, load, fitted, matches_r, tolerance_for):
    r = reference["fits"][key]
    res = fitted(key)
    matches_r(res, r, load(r["data"]), tolerance_for(key))
    assert res.family == "poisson" and res.link == "log"
    assert res.converged


def test_offset_column_equals_offset_array(load):
    d = load("pois_offset")
    d["log_fu"] = np.log(d["followup"])
    kw = {"cluster": "cluster", "family": "poisson", "method": "ML"}
    a = fit_glmm("y ~ arm + x", d, offset="log_fu", **kw)
    b = fit_glmm("y ~ arm + x", d, offset=d["log_fu"].to_numpy(), **kw)
    np.testing.assert_allclose(a.params, b.params, rtol=0, atol=1e-12)
    assert a.extra["offset"] == "log_fu" and b.extra["offset"] is None


def test_offset_matters(load):
    d = load("pois_offset")
    with_off = fit_glmm(
        "y ~ arm + x", d, cluster="cluster", family="poisson", offset=np.log(d["followup"])
    )
    without = fit_glmm("y ~ arm + x", d, cluster="cluster", family="poisson")
    assert abs(with_off.params["Intercept"] - without.params["Intercept"]) > 0.05
