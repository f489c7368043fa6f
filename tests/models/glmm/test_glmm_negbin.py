"""Negative binomial (NB2) GLMM against glmmTMB(family = nbinom2, REML = FALSE).

glmmTMB integrates by Laplace, so the comparison uses nagq=1. Tolerances: ``EXACT``
(β, SE, cluster variance and θ 1e-5; llf 1e-6; glmmTMB's logLik is the full one).
"""

from __future__ import annotations

import numpy as np
import pytest

from odtrial.models.glmm import fit_glmm


def test_negbin_matches_glmmtmb(reference, load, fitted, matches_r, exact):
    r = reference["fits"]["negbin_tmb"]
    res = fitted("negbin_tmb")
    matches_r(res, r, load("negbin"), exact)
    assert res.theta is not None
    assert abs(res.theta / r["theta"] - 1) < 1e-5
    assert res.n_estimated == 5  # 3 fixed, variance, theta
    assert res.aic == pytest.approx(r["aic"], abs=1e-6)


def test_negbin_full_covariance_has_log_theta(fitted):
    res = fitted("negbin_tmb")
    cov = res.extra["cov_full"]
    assert list(cov.index)[-2:] == ["log_sigma", "log_theta"]
    assert np.all(np.isfinite(cov.to_numpy()))


def test_negbin_agq_close_to_laplace(load, fitted):
    """25-node AGQ moves the NB2 estimates only slightly from Laplace."""
    d = load("negbin")
    agq = fit_glmm(
        "y ~ arm + x",
        d,
        cluster="cluster",
        family="negbin",
        offset=np.log(d["followup"]),
        method="ML",
    )
    lap = fitted("negbin_tmb")
    assert agq.converged
    np.testing.assert_allclose(agq.params, lap.params, atol=0.02)
    assert abs(agq.theta / lap.theta - 1) < 0.05


def test_negbin_on_poisson_data_gives_large_theta(load):
    d = load("pois_offset")
    nb = fit_glmm(
        "y ~ arm + x", d, cluster="cluster", family="negbin", offset=np.log(d["followup"])
    )
    po = fit_glmm(
        "y ~ arm + x", d, cluster="cluster", family="poisson", offset=np.log(d["followup"])
    )
    assert nb.theta is not None and nb.theta > 20
    np.testing.assert_allclose(nb.params, po.params, atol=0.02)
