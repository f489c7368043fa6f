"""Bad input to fit_cox: one-line ModelErrors; degenerate data: reported, not crashed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from odtrial.errors import ModelError
from odtrial.models.cox import fit_cox

REF_DIR = Path(__file__).resolve().parents[2] / "reference" / "cox"


@pytest.fixture()
def d() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "c12.csv")


def _fit(data: Any, formula: str = "~ arm + C(stratum)", **kw: Any) -> Any:
    opts = {"duration": "time", "event": "event", "cluster": "cluster"} | kw
    return fit_cox(formula, data, **opts)


def _raises(match: str, data: Any, formula: str = "~ arm + C(stratum)", **kw: Any) -> None:
    with pytest.raises(ModelError, match=match) as err:
        _fit(data, formula, **kw)
    assert "\n" not in str(err.value)


def test_negative_or_infinite_duration(d: pd.DataFrame) -> None:
    d.loc[3, "time"] = -1
    _raises(r"duration column 'time' must be finite and >= 0: row 3 has -1", d)
    d.loc[3, "time"] = np.inf
    _raises(r"duration column 'time' must be finite and >= 0: row 3 has inf", d)


def test_non_binary_event(d: pd.DataFrame) -> None:
    d.loc[5, "event"] = 2
    _raises(r"event column 'event' must be 0/1 or True/False: row 5 has 2", d)
    d["event"] = np.where(d["event"] == 1, "yes", "no")
    _raises(r"event column 'event' must be 0/1 or True/False \(got", d)


@pytest.mark.parametrize("col", ["time", "event", "arm", "stratum", "cluster"])
def test_missing_values(d: pd.DataFrame, col: str) -> None:
    d[col] = d[col].astype(object)
    d.loc[7, col] = None
    _raises(rf"column '{col}' has 1 missing value\(s\), first at row 7", d)


@pytest.mark.parametrize(
    ("kw", "formula", "match"),
    [
        ({"duration": "days"}, "~ arm", r"duration column 'days' is not in the data"),
        ({"event": "relapse"}, "~ arm", r"event column 'relapse' is not in the data"),
        ({"cluster": "practice"}, "~ arm", r"cluster column 'practice' is not in the data"),
        ({}, "~ arm + C(catchment)", r"cannot build the design from"),
        ({}, "days ~ arm", r"formula response 'days' differs from duration='time'"),
        ({}, "arm", r"has no '~'"),
        ({}, "~ 1", r"has no covariates"),
        ({}, "time ~ 0", r"has no covariates"),
        ({"ties": "exact"}, "~ arm", r"ties must be 'efron' or 'breslow'; got 'exact'"),
        ({"cov_type": "hc3"}, "~ arm", r"cov_type must be one of model, robust, robust-g"),
        ({"cluster": 3}, "~ arm", r"cluster must be a column name, got int"),
    ],
)
def test_bad_arguments(d: pd.DataFrame, kw: dict[str, Any], formula: str, match: str) -> None:
    _raises(match, d, formula, **kw)


def test_not_a_data_frame(d: pd.DataFrame) -> None:
    _raises("data must be a pandas DataFrame, got dict", d.to_dict())


def test_no_events(d: pd.DataFrame) -> None:
    _raises(r"event column 'event' has no events", d.assign(event=0))


def test_collinear_or_constant_covariates(d: pd.DataFrame) -> None:
    _raises(r"collinear or constant", d.assign(arm2=2 * d["arm"]), "~ arm + arm2")
    _raises(r"collinear or constant", d.assign(one=5.0), "~ arm + one")
    # a factor coded with all its levels is collinear with the (absent) intercept
    _raises(
        r"collinear or constant",
        d.assign(
            s1=(d["stratum"] == "S1") * 1.0,
            s2=(d["stratum"] == "S2") * 1.0,
            s3=(d["stratum"] == "S3") * 1.0,
        ),
        "~ s1 + s2 + s3",
    )


def test_no_events_in_an_arm_is_reported_not_crashed(d: pd.DataFrame) -> None:
    """Monotone likelihood: like coxph, a finite last iterate and a warning; here also NaN SE."""
    d.loc[d["arm"] == 1, "event"] = 0
    res = _fit(d)
    assert not res.converged
    warnings = " | ".join(res.diagnostics.warnings)
    assert "no events among the 112 rows with arm = 1" in warnings
    assert "monotone likelihood: the estimate of 'arm' is infinite" in warnings
    assert res.params["arm"] < -15  # heading to minus infinity
    # the default leverage correction needs I^{-1/2}: undefined, all NaN, and said so
    assert np.isnan(res.bse).all()
    assert "mancl-derouen covariance undefined with an infinite estimate" in warnings
    assert "Fay–Graubard df undefined with an infinite estimate" in warnings
    kc = _fit(d, cov_type="kauermann-carroll", df="clusters-parameters")
    assert np.isnan(kc.bse).all()
    assert "kauermann-carroll covariance undefined with an infinite estimate" in " | ".join(
        kc.diagnostics.warnings
    )
    # with the factor-only correction and G - p df the other terms keep finite inference
    g = _fit(d, cov_type="robust-g", df="clusters-parameters")
    assert np.isnan(g.bse["arm"]) and np.isnan(g.pvalues["arm"])
    assert np.isfinite(g.bse.drop("arm")).all()
    assert np.isfinite(g.pvalues.drop("arm")).all()
    np.testing.assert_allclose(g.params, res.params, rtol=0, atol=0)
    # Fay–Graubard df need the information shares, undefined here: no p-values at all
    g_fg = _fit(d, cov_type="robust-g")
    np.testing.assert_allclose(g_fg.bse, g.bse, rtol=0, atol=0)
    assert np.isnan(g_fg.df).all() and np.isnan(g_fg.pvalues).all()


def test_event_on_one_side_of_a_covariate_only_warns_when_estimable(d: pd.DataFrame) -> None:
    """A 0/1 covariate with events on both sides gets no warning."""
    res = _fit(d)
    assert res.converged and res.diagnostics.warnings == ()


def test_iteration_limit_is_reported(d: pd.DataFrame) -> None:
    res = _fit(d, maxiter=1)
    assert not res.converged and res.diagnostics.n_iterations == 1
    assert res.diagnostics.warnings == ("Newton–Raphson did not converge in 1 iterations",)
    assert res.diagnostics.max_abs_gradient > 1e-6
