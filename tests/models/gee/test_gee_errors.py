"""Bad input to fit_gee: one-line ModelError saying what and where; awkward data reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odtrial.errors import ModelError
from odtrial.models.gee import fit_gee


@pytest.fixture
def trial() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"g": np.repeat(np.arange(10), 8)})
    d["arm"] = d["g"] % 2
    d["x"] = rng.normal(size=len(d))
    d["y"] = rng.binomial(1, 0.4, size=len(d))
    d["count"] = rng.poisson(2.0, size=len(d))
    return d


@pytest.mark.parametrize(
    ("change", "kwargs", "match"),
    [
        ({}, {"cluster": "site"}, r"cluster column 'site' is not in the data"),
        (
            {},
            {"family": "gamma"},
            r"family must be one of binomial, gaussian, poisson; got 'gamma'",
        ),
        ({}, {"cov_struct": "ar1"}, r"cov_struct must be 'exchangeable' or 'independence'"),
        ({}, {"cov_type": "hc3"}, r"cov_type must be one of robust, mancl-derouen, .*'hc3'"),
        ({"y": 2}, {}, r"binomial response 'y' must be 0/1; row 5 has 2"),
        ({"x": np.nan}, {}, r"column 'x' has 1 missing value\(s\), first at row 5"),
    ],
)
def test_bad_input_one_line(trial: pd.DataFrame, change: dict, kwargs: dict, match: str) -> None:
    d = trial.copy()
    for col, value in change.items():
        d.loc[5, col] = value
    args = {"cluster": "g", "family": "binomial"} | kwargs
    with pytest.raises(ModelError, match=match) as err:
        fit_gee("y ~ arm + x", d, **args)
    assert "\n" not in str(err.value)


def test_missing_term_column(trial: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"cannot build the design from 'arm \+ age'"):
        fit_gee("y ~ arm + age", trial, cluster="g", family="binomial")


def test_negative_count(trial: pd.DataFrame) -> None:
    trial.loc[3, "count"] = -1
    with pytest.raises(ModelError, match=r"poisson response 'count' must be >= 0; row 3 has -1"):
        fit_gee("count ~ arm", trial, cluster="g", family="poisson")


def test_too_few_clusters(trial: pd.DataFrame) -> None:
    small = trial[trial["g"] < 3]
    with pytest.raises(ModelError, match=r"more clusters than parameters: 3 clusters, 3 param"):
        fit_gee("y ~ arm + x", small, cluster="g", family="binomial")


def test_collinear_terms(trial: pd.DataFrame) -> None:
    trial["arm2"] = 2 * trial["arm"]
    with pytest.raises(ModelError, match=r"rank deficient"):
        fit_gee("y ~ arm + arm2", trial, cluster="g", family="binomial")


def test_cluster_must_be_a_column_name(trial: pd.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"cluster must be a column name, got ndarray"):
        fit_gee("y ~ arm", trial, cluster=trial["g"].to_numpy(), family="binomial")  # type: ignore[arg-type]


def test_constant_clusters_are_reported_not_fatal(trial: pd.DataFrame) -> None:
    trial.loc[trial["g"] == 0, "y"] = 0
    trial.loc[trial["g"] == 3, "y"] = 1
    res = fit_gee("y ~ arm + x", trial, cluster="g", family="binomial")
    assert res.converged
    assert any(
        "2 cluster(s) with an outcome all 0 or all 1: 0, 3" in w for w in res.diagnostics.warnings
    )


def test_separation_is_reported_not_a_crash(trial: pd.DataFrame) -> None:
    trial["y"] = (trial["x"] > 0).astype(int)  # x separates the outcome perfectly
    res = fit_gee("y ~ arm + x", trial, cluster="g", family="binomial", maxiter=50)
    warnings = " ".join(res.diagnostics.warnings)
    assert "separation" in warnings
    assert not res.converged or abs(res.params["x"]) > 10


def test_all_singleton_clusters_give_alpha_zero() -> None:
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"g": np.arange(40), "x": rng.normal(size=40)})
    d["y"] = d["x"] + rng.normal(size=40)
    res = fit_gee("y ~ x", d, cluster="g", family="gaussian")
    assert res.extra["alpha"] == 0.0
    ind = fit_gee("y ~ x", d, cluster="g", family="gaussian", cov_struct="independence")
    np.testing.assert_allclose(res.params, ind.params, rtol=1e-12)


def test_bad_offset(trial: pd.DataFrame) -> None:
    kw = {"cluster": "g", "family": "poisson"}
    with pytest.raises(ModelError, match=r"offset column 'logt' is not in the data"):
        fit_gee("count ~ arm", trial, offset="logt", **kw)
    with pytest.raises(ModelError, match=r"offset has 3 values but the data have 80 rows"):
        fit_gee("count ~ arm", trial, offset=np.zeros(3), **kw)
    bad = np.zeros(len(trial))
    bad[7] = -np.inf
    with pytest.raises(ModelError, match=r"offset has a missing or infinite value at position 7"):
        fit_gee("count ~ arm", trial, offset=bad, **kw)
    trial["t"] = np.nan
    with pytest.raises(ModelError, match=r"column 't' has 80 missing value"):
        fit_gee("count ~ arm", trial, offset="t", **kw)
