"""The imputation model: completed datasets, seeds, variable kinds, clustering."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from odtrial.errors import ModelError
from odtrial.missing import Imputations, impute
from odtrial.models import cluster_level, fit_cox, fit_gee, fit_glmm, fit_lmm

FAST = {"n_burn": 40, "n_between": 5}


def trial(seed: int = 1, n_clusters: int = 20, size: int = 15) -> pd.DataFrame:
    """Every kind of column, some incomplete; arm and stratum at cluster level."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(n_clusters), size)
    n = cl.size
    arm = (np.arange(n_clusters) % 2)[cl]
    c = rng.normal(0, 0.5, n_clusters)[cl]
    x = rng.normal(size=n)
    y = 0.5 * arm + 0.5 * x + c + rng.normal(size=n)
    d = pd.DataFrame(
        {
            "id": [f"p{i:04d}" for i in range(n)],
            "cluster": [f"c{k:02d}" for k in cl],
            "arm": np.where(arm == 1, "B", "A"),
            "stratum": (np.arange(n_clusters) % 3)[cl],
            "x": x,
            "y": y,
            "work": pd.array(rng.random(n) < 1 / (1 + np.exp(-(y - 0.3))), dtype="boolean"),
            "visits": pd.array(rng.poisson(np.exp(0.5 + 0.3 * y)), dtype="Int64"),
            "group": pd.array(rng.choice(["low", "mid", "high"], n), dtype="string"),
            "consent": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
        }
    )
    for col, rate in (("y", 0.2), ("work", 0.15), ("visits", 0.1), ("group", 0.1)):
        d.loc[rng.random(n) < rate, col] = None
    return d


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return trial()


@pytest.fixture(scope="module")
def imps(data: pd.DataFrame) -> Imputations:
    return impute(data, cluster="cluster", m=4, seed=7, **FAST)


def test_completed_datasets_keep_observed_values_and_dtypes(
    data: pd.DataFrame, imps: Imputations
) -> None:
    assert imps.m == 4 and len(imps.datasets) == 4
    for d in imps.datasets:
        assert list(d.columns) == list(data.columns)
        assert (d.dtypes == data.dtypes).all()
        for col in ("y", "work", "visits", "group"):
            assert d[col].notna().all()
            seen = data[col].notna()
            pd.testing.assert_series_equal(d.loc[seen, col], data.loc[seen, col])
    # the input is not changed
    assert data["y"].isna().sum() > 0


def test_the_index_is_kept(data: pd.DataFrame) -> None:
    shuffled = data.sample(frac=1.0, random_state=1).set_axis([f"r{i}" for i in range(len(data))])
    imps = impute(shuffled, cluster="cluster", m=2, seed=1, **FAST)
    d = imps.datasets[1]
    assert d.index.equals(shuffled.index)
    seen = shuffled["y"].notna()
    pd.testing.assert_series_equal(d.loc[seen, "y"], shuffled.loc[seen, "y"])


def test_each_kind_is_imputed_with_values_of_its_kind(
    data: pd.DataFrame, imps: Imputations
) -> None:
    kinds = {c.name: (c.kind, c.method) for c in imps.columns}
    assert kinds["y"] == ("continuous", "norm")
    assert kinds["work"] == ("binary", "probit")
    assert kinds["visits"] == ("count", "pmm")
    assert kinds["group"] == ("categorical", "catprobit")
    observed_counts = set(data["visits"].dropna().astype(int))
    for d in imps.datasets:
        miss = data["visits"].isna()
        assert set(d.loc[miss, "visits"].astype(int)) <= observed_counts  # donors' values
        assert set(d["group"]) == {"low", "mid", "high"}
        assert set(d["work"]) <= {True, False}


def test_unusable_columns_are_left_out_with_a_reason(data: pd.DataFrame, imps: Imputations) -> None:
    assert set(imps.excluded) == {"id", "consent"}
    numbered = impute(data.assign(pid=np.arange(len(data))), cluster="cluster", m=2, seed=1, **FAST)
    assert "identifier" in numbered.excluded["pid"]
    assert "identifier" in imps.excluded["id"] and "date" in imps.excluded["consent"]
    assert imps.predictors["y"][0] == "Intercept"
    assert "cluster mean of work[True]" in imps.predictors["y"]
    assert "cluster" not in " ".join(imps.predictors["y"]).replace("cluster mean", "")


def test_same_seed_same_imputations_whatever_n_jobs(data: pd.DataFrame) -> None:
    a = impute(data, cluster="cluster", m=4, seed=3, chains=2, n_jobs=1, **FAST)
    with joblib.parallel_config(backend="threading"):  # the seeds, not the backend, matter
        b = impute(data, cluster="cluster", m=4, seed=3, chains=2, n_jobs=2, **FAST)
    c = impute(data, cluster="cluster", m=4, seed=4, chains=2, **FAST)
    for k in a.imputed:
        np.testing.assert_array_equal(a.imputed[k], b.imputed[k])
    assert not np.array_equal(a.imputed["y"], c.imputed["y"])
    # imputations differ from one another (draws, not a single fill)
    assert np.ptp(a.imputed["y"], axis=0).min() > 0


def test_one_chain_per_imputation(data: pd.DataFrame) -> None:
    one = impute(data, cluster="cluster", m=3, seed=3, chains=3, **FAST)
    assert one.settings["chains"] == 3
    assert one.trace_values.shape[:2] == (3, FAST["n_burn"])


def test_variables_auxiliaries_and_methods(data: pd.DataFrame) -> None:
    imps = impute(
        data,
        cluster="cluster",
        m=2,
        seed=1,
        variables=["arm", "y"],
        auxiliaries=["x"],
        methods={"y": "pmm"},
        **FAST,
    )
    assert imps.imputed_columns == ("y",)
    assert imps.settings["auxiliaries"] == ["x"]
    assert imps.predictors["y"] == ("Intercept", "arm[B]", "x")
    d = imps.datasets[0]
    assert set(d.loc[data["y"].isna(), "y"]) <= set(data["y"].dropna())  # matched donors
    assert d["work"].isna().sum() == data["work"].isna().sum()  # not in the model: left as is


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"variables": ["y", "consent"]}, "cannot be used.*date"),
        ({"variables": ["y", "nope"]}, "'nope'.*not in the data"),
        ({"methods": {"work": "norm"}}, "method 'norm' does not fit column 'work'"),
        ({"variables": ["x", "arm"]}, "nothing to impute"),
        ({"variables": ["y", "cluster"]}, "is the cluster column"),
        ({"m": 1}, "at least 2"),
        ({"chains": 9, "m": 4}, "chains must be between 1 and m=4"),
    ],
)
def test_bad_requests_are_one_line_errors(data: pd.DataFrame, kw: dict, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        impute(data, cluster="cluster", seed=1, **{"m": 2, **kw})


def test_missing_cluster_is_an_error(data: pd.DataFrame) -> None:
    d = data.copy()
    d.loc[0, "cluster"] = None
    with pytest.raises(ModelError, match="cluster column 'cluster' has missing values"):
        impute(d, cluster="cluster", m=2, seed=1)


def _anova_icc(y: np.ndarray, g: np.ndarray) -> float:
    groups = pd.Series(y).groupby(g)
    k = groups.size().mean()
    msb = (groups.mean() - y.mean()).pow(2).mul(groups.size()).sum() / (groups.ngroups - 1)
    msw = groups.var(ddof=1).mul(groups.size() - 1).sum() / (len(y) - groups.ngroups)
    return (msb - msw) / (msb + (k - 1) * msw)


def test_the_random_intercept_keeps_the_between_cluster_variance() -> None:
    """40% of an outcome with ICC 0.3 missing completely at random, nothing else to
    predict it: imputations drawn around each cluster's own mean keep the ICC, as a
    model ignoring the clusters would not (it would halve the between variance)."""
    rng = np.random.default_rng(5)
    cl = np.repeat(np.arange(24), 20)
    y = rng.normal(0, np.sqrt(0.3), 24)[cl] + rng.normal(0, np.sqrt(0.7), cl.size)
    d = pd.DataFrame({"cluster": cl, "z": rng.normal(size=cl.size), "y": y})
    full_icc = _anova_icc(y, cl)
    d.loc[rng.random(cl.size) < 0.4, "y"] = np.nan
    imps = impute(d, cluster="cluster", m=5, seed=2, **FAST)
    iccs = [_anova_icc(c["y"].to_numpy(), cl) for c in imps.datasets]
    assert full_icc > 0.2
    assert np.mean(iccs) == pytest.approx(full_icc, rel=0.25)
    # imputed values follow the cluster means of the observed values
    obs_means = d.groupby("cluster")["y"].mean()
    imp_means = pd.Series(imps.imputed["y"].mean(axis=0)).groupby(cl[imps.missing_rows["y"]]).mean()
    assert np.corrcoef(obs_means.loc[imp_means.index], imp_means)[0, 1] > 0.8


def test_fit_pools_every_odtrial_fitter(data: pd.DataFrame, imps: Imputations) -> None:
    lmm = imps.fit(fit_lmm, "y ~ arm + x")  # cluster taken from the imputations
    assert lmm.model == "lmm" and lmm.m == 4
    assert list(lmm.params.index) == ["Intercept", "arm[T.B]", "x"]
    assert (lmm.fmi > 0).all() and (lmm.riv > 0).all()
    glmm = imps.fit(fit_glmm, "work ~ arm + x")
    assert glmm.model == "glmm" and glmm.extra["estimation"] == "REML"
    gee = imps.fit(fit_gee, "work ~ arm + x", family="binomial")
    assert gee.model == "gee"
    cl = imps.fit(cluster_level, "y", treatment="arm", family="gaussian")
    assert cl.model == "cluster-level"
    cox = imps.fit(fit_cox, "~ arm + x", duration="visits", event="work")
    assert cox.model == "cox" and cox.ratio_name == "hazard ratio"
    assert lmm.to_frame()["p_value"].between(0, 1).all()
