from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from odtrial.models.results import ModelResults


def _res(df_value: float) -> ModelResults:
    names = ["Intercept", "arm"]
    return ModelResults(
        model="glmm",
        family="binomial",
        link="logit",
        formula="y ~ arm",
        params=pd.Series([0.1, 0.5], index=names),
        cov=pd.DataFrame(np.diag([0.04, 0.01]), index=names, columns=names),
        df=pd.Series([df_value, df_value], index=names),
        nobs=100,
        n_clusters=10,
        llf=-60.0,
        n_estimated=3,
    )


def test_inference_uses_t_with_finite_df_and_z_with_inf():
    r = _res(8.0)
    assert r.bse["arm"] == pytest.approx(0.1)
    assert r.pvalues["arm"] == pytest.approx(2 * stats.t.sf(5.0, 8))
    assert r.conf_int(0.9).loc["arm", "upper"] == pytest.approx(0.5 + stats.t.ppf(0.95, 8) * 0.1)
    z = _res(np.inf)
    assert z.pvalues["arm"] == pytest.approx(2 * stats.norm.sf(5.0))
    assert z.aic == pytest.approx(126.0)


def test_results_are_immutable():
    r = _res(8.0)
    with pytest.raises(ValueError, match="read-only"):
        r._params[0] = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.nobs = 3  # type: ignore[misc]
    got = r.params
    got.iloc[1] = 9.0
    assert r.params["arm"] == 0.5
    assert list(r.to_frame().columns) == [
        "estimate",
        "std_error",
        "statistic",
        "df",
        "p_value",
        "ci_lower",
        "ci_upper",
    ]
    assert "converged: True" in r.summary()
