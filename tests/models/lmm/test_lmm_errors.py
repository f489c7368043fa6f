"""Bad input to fit_lmm: one-line ModelError saying what was wrong and where."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odtrial.errors import ModelError
from odtrial.models.lmm import fit_lmm


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(10), 6)
    return pd.DataFrame(
        {
            "y": rng.normal(size=60) + rng.normal(size=10)[g],
            "arm": (g % 2).astype(float),
            "x": rng.normal(size=60),
            "site": [f"c{k}" for k in g],
        }
    )


def _raises(match: str, *args, **kwargs) -> None:
    with pytest.raises(ModelError, match=match) as info:
        fit_lmm(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_missing_columns(data):
    _raises(r"response column 'z' is not in the data", "z ~ arm", data, cluster="site")
    _raises(r"cluster column 'clinic' is not in the data", "y ~ arm", data, cluster="clinic")
    _raises(r"cannot build the design", "y ~ arm + nothere", data, cluster="site")


def test_missing_and_infinite_values(data):
    bad = data.copy()
    bad.loc[7, "x"] = np.nan
    _raises(r"column 'x' has 1 missing value\(s\), first at row 7", "y ~ x", bad, cluster="site")
    bad = data.copy()
    bad.loc[3, "y"] = np.inf
    _raises(r"response of 'y ~ x' has infinite values", "y ~ x", bad, cluster="site")
    bad = data.copy()
    bad.loc[3, "x"] = -np.inf
    _raises(r"design matrix of 'y ~ x' has infinite values", "y ~ x", bad, cluster="site")


def test_non_numeric_response(data):
    bad = data.assign(y=["a"] * len(data))
    _raises(r"response 'y' must be numeric", "y ~ arm", bad, cluster="site")


def test_bad_options(data):
    _raises(
        r"ddf must be one of satterthwaite, kenward-roger",
        "y ~ arm",
        data,
        cluster="site",
        ddf="kr",
    )
    _raises(r"reml must be True or False, got 1", "y ~ arm", data, cluster="site", reml=1)
    _raises(
        r"ddf='kenward-roger' needs a REML fit",
        "y ~ arm",
        data,
        cluster="site",
        reml=False,
        ddf="kenward-roger",
    )
    _raises(r"cluster must be a column name", "y ~ arm", data, cluster=None)
    _raises(r"data must be a pandas DataFrame", "y ~ arm", data.to_dict(), cluster="site")
    _raises(r"has no '~'", "y arm", data, cluster="site")


def test_cluster_structure(data):
    one = data.assign(site="c0")
    _raises(r"at least 2 clusters, got 1", "y ~ x", one, cluster="site")
    singletons = data.assign(site=np.arange(len(data)))
    _raises(r"every cluster has one row", "y ~ x", singletons, cluster="site")


def test_too_few_rows_and_rank(data):
    small = data.iloc[:4].assign(site=["a", "a", "b", "b"])
    _raises(
        r"4 rows are too few for 4 fixed effects", "y ~ x + arm + I(x**2)", small, cluster="site"
    )
    twice = data.assign(arm2=2 * data["arm"])
    _raises(r"rank deficient", "y ~ arm + arm2", twice, cluster="site")


def test_degenerate_response(data):
    _raises(r"response 'y' is constant", "y ~ arm", data.assign(y=1.5), cluster="site")
    exact = data.assign(y=1.0 + 2.0 * data["x"])
    _raises(r"fits the response exactly", "y ~ x", exact, cluster="site")
    by_cluster = data.assign(y=data["site"].str[1:].astype(float) ** 2)
    _raises(r"no residual variation within clusters", "y ~ arm", by_cluster, cluster="site")
