"""Where odtrial and R differ by more than 1e-5, R's optimum is the lower one.

lme4's Laplace fits (nAGQ = 1) solve the conditional modes by PIRLS only to
tolPwrss (1e-7 by default), so the deviance its optimiser sees is slightly off the
exact Laplace deviance and it stops at a slightly different point. odtrial's
Laplace log-likelihood is exact (modes to machine precision). For each fit held
to the looser ``LME4_LAPLACE`` tolerance (conftest), odtrial's log-likelihood at
its own estimate is higher than at lme4's estimate (evaluated exactly) and
higher than the log-likelihood lme4 reports: odtrial found the better optimum.
For every other stored fit both points are the same optimum (log-likelihoods
within 1e-9, and within 1e-8 of what R reports).
"""

from __future__ import annotations

import numpy as np
import pytest

ALL_FITS = [
    *(
        f"{d}_{q}"
        for d in ("bin_12", "bin_24", "bin_32", "bin_60", "bin_rare", "bin_zero")
        for q in ("agq1", "agq25", "agq1_tight")
    ),
    *(f"{d}_{q}" for d in ("pois_offset", "cbpp") for q in ("agq1", "agq25", "agq1_tight")),
    "negbin_tmb",
]


@pytest.mark.parametrize("key", ALL_FITS)
def test_where_r_differs_its_optimum_is_lower(
    key, reference, load, fitted, loglik, saturated, lme4_laplace_lower
):
    r = reference["fits"][key]
    d = load(r["data"])
    beta = np.array(list(r["params"].values()))
    at_r = loglik(r, d, beta, float(np.sqrt(r["cluster_var"])), r.get("theta"))
    res = fitted(key)
    reported = r["llf"] + (saturated(r, d) if r["nagq"] > 1 else 0.0)
    if key in lme4_laplace_lower:
        # measured: 8.5e-10 (bin_32) to 4.5e-6 (cbpp) above lme4's point, and
        # 1.3e-6 to 2.8e-4 above what lme4 reports (its inexact Laplace deviance)
        assert res.llf - at_r > 5e-10
        assert res.llf - reported > 1e-6
    else:
        assert abs(res.llf - at_r) < 1e-9
        assert abs(res.llf - reported) < 1e-8


def test_every_stored_fit_is_checked(reference, lme4_laplace_lower):
    assert set(ALL_FITS) == set(reference["fits"])
    assert lme4_laplace_lower < set(ALL_FITS)
