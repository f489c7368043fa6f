"""Which columns enter the imputation model: labels of the cluster and of units
nested in it are left out, cluster-level covariates are kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odtrial.errors import ModelError
from odtrial.missing import impute
from odtrial.missing._columns import describe, unusable_reason

N_CLUSTERS, SIZE = 16, 12


def practices(seed: int = 2) -> pd.DataFrame:
    """16 practices (clusters) of 12, with every sort of column a practice or a
    patient can carry."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(N_CLUSTERS), SIZE)
    n = cl.size
    u = rng.normal(0, 0.6, N_CLUSTERS)[cl]
    x = rng.normal(size=n)
    stratum = np.array(["north"] + ["south"] * 7 + ["east"] * 8)  # north: one practice
    d = pd.DataFrame(
        {
            "cluster": [f"c{k:02d}" for k in cl],
            "practice": [f"Practice {k + 1:02d}" for k in cl],
            "practice_code": 101 + cl,
            "ward": [f"P{k:02d}-{'ab'[i % 2]}" for i, k in enumerate(cl)],
            "site": [f"site {k // 4}" for k in cl],
            "stratum": stratum[cl],
            "list_size": rng.integers(3000, 15000, N_CLUSTERS)[cl],
            "imd": rng.normal(25, 8, N_CLUSTERS)[cl],
            "arm": np.where(cl % 2 == 1, "B", "A"),
            "x": x,
            "y": 0.4 * (cl % 2) + 0.5 * x + u + rng.normal(size=n),
        }
    )
    d.loc[rng.random(n) < 0.25, "y"] = np.nan
    d.loc[rng.random(n) < 0.1, "practice"] = None  # a label can be missing too
    return d


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return practices()


def _describe(data: pd.DataFrame, **kw: object) -> tuple[list[str], dict[str, str]]:
    args: dict = {"variables": None, "auxiliaries": (), "methods": {}, "max_levels": 20}
    columns, excluded = describe(data, cluster="cluster", **(args | kw))
    return [c.name for c in columns], excluded


def test_labels_of_the_cluster_and_nested_units_are_left_out(data: pd.DataFrame) -> None:
    used, excluded = _describe(data)
    assert set(excluded) == {"practice", "practice_code", "ward"}
    assert "another label of the cluster 'cluster'" in excluded["practice"]
    assert "random intercept" in excluded["practice"]
    assert "numbers the clusters of 'cluster'" in excluded["practice_code"]
    # 32 wards: more than max_levels, but said to be nested, not an identifier
    assert "within a single cluster of 'cluster'" in excluded["ward"]
    # cluster-level covariates the clusters nest in, or measured on each cluster, stay
    assert used == ["site", "stratum", "list_size", "imd", "arm", "x", "y"]


def test_a_nested_unit_with_few_levels(data: pd.DataFrame) -> None:
    first = data["cluster"] < "c08"  # 8 practices of 2 wards: 16 levels, 8 clusters
    d = data.assign(ward=data["ward"].where(first))
    assert "within a single cluster" in _describe(d)[1]["ward"]
    # one ward in a practice of its own while the others share theirs: still nested
    d["ward"] = d["ward"].where(d["cluster"] != "c00", "P00")
    assert "within a single cluster" in _describe(d)[1]["ward"]


def test_a_label_shared_by_two_clusters_is_not_nested(data: pd.DataFrame) -> None:
    # 'Practice 02' recorded on one row of practice 1: no longer every level nested
    d = data.copy()
    d.loc[d.index[d["cluster"] == "c00"][0], "practice"] = "Practice 02"
    used, excluded = _describe(d)
    assert "practice" in used and "practice" not in excluded


def test_numbers_of_a_cluster_measurement_are_kept(data: pd.DataFrame) -> None:
    cl = data["cluster"]
    code = data["practice_code"]
    # a code read with missing values is a float column: still a code
    with_gaps = code.astype(float).where(data.index % 7 != 0)
    assert unusable_reason(with_gaps, 20, cl) is not None
    # one per cluster but not consecutive: a measurement (list size)
    assert unusable_reason(code.where(code < 110, code + 50), 20, cl) is None
    # consecutive but few clusters: a count (GPs in four practices: 3, 4, 5, 6)
    few = data[data["cluster"] < "c04"]
    assert unusable_reason(few["practice_code"] - 98, 20, few["cluster"]) is None
    assert "another label" in str(unusable_reason(few["practice"], 20, few["cluster"]))
    # not one per cluster (ties between clusters): kept
    assert unusable_reason(101 + (code - 101) // 2, 20, cl) is None


def test_one_cluster_nests_nothing() -> None:
    s = pd.Series(["a", "b", "a", "b"])
    assert unusable_reason(s, 20, pd.Series(["c1"] * 4, name="cluster")) is None
    assert unusable_reason(s, 20) is None  # without the cluster: no nesting check


def test_a_label_asked_for_by_name_is_an_error(data: pd.DataFrame) -> None:
    for kw in ({"variables": ["y", "practice"]}, {"auxiliaries": ["ward"]}):
        with pytest.raises(
            ModelError, match=r"cannot be used in the imputation model: .*'cluster'"
        ):
            impute(data, cluster="cluster", m=2, seed=1, **kw)  # type: ignore[arg-type]


def test_left_out_labels_do_not_change_the_imputations(data: pd.DataFrame) -> None:
    fast = {"m": 2, "seed": 5, "n_burn": 20, "n_between": 3}
    with_labels = impute(data, cluster="cluster", **fast)  # type: ignore[arg-type]
    plain = data.drop(columns=["practice", "practice_code", "ward"])
    without = impute(plain, cluster="cluster", **fast)  # type: ignore[arg-type]
    assert "practice" not in " ".join(with_labels.predictors["y"])
    assert with_labels.predictors == without.predictors
    np.testing.assert_array_equal(with_labels.imputed["y"], without.imputed["y"])
