"""Clustered permutation test over the constrained space (as cvcrand::cptest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.errors import RandomisationError
from odtrial.randomise import constrained, permutation_test


def trial(effect: float, seed: int = 0):
    """16 clusters in 4 strata, constrained allocation, 15-30 people per cluster."""
    rng = np.random.default_rng(seed)
    cl = pd.DataFrame(
        {
            "id": [f"G{i:02d}" for i in range(16)],
            "stratum": np.repeat(["a", "b", "c", "d"], 4),
            "size": rng.integers(1000, 9000, 16),
        }
    )
    res = constrained(
        cl, id="id", strata="stratum", balance=["size"], seed=seed, cutoff=0.2, arms=("POD", "TAU")
    )
    arm = dict(zip(res.allocation["id"], res.allocation["arm"], strict=True))
    rows = []
    u = rng.normal(0, 0.3, 16)
    for j, cid in enumerate(cl["id"]):
        n = int(rng.integers(15, 31))
        x = rng.normal(0, 1, n)
        eta = -0.3 + 0.5 * x + u[j] + (effect if arm[cid] == "POD" else 0.0)
        y = rng.random(n) < 1 / (1 + np.exp(-eta))
        rows.append(
            pd.DataFrame(
                {
                    "cluster": cid,
                    "stratum": cl["stratum"][j],
                    "arm": arm[cid],
                    "x": x,
                    "y": y.astype(float),
                }
            )
        )
    return pd.concat(rows, ignore_index=True), res


def test_statistic_by_hand_gaussian_intercept_only():
    """Intercept-only gaussian: residuals are y - mean(y); the statistic is the
    difference of the arms' mean cluster residuals, computed here by hand."""
    space = pd.DataFrame(
        {
            "A": [1, 0, 1, 0, 1, 0],
            "B": [1, 0, 0, 1, 0, 1],
            "C": [0, 1, 1, 0, 0, 1],
            "D": [0, 1, 0, 1, 1, 0],
        }
    )
    data = pd.DataFrame(
        {
            "cluster": ["A", "A", "B", "B", "B", "C", "D", "D"],
            "arm": ["T", "T", "T", "T", "T", "C", "C", "C"],
            "y": [1.0, 3.0, 2.0, 4.0, 6.0, 0.0, 1.0, 3.0],
        }
    )
    r = permutation_test(
        data,
        outcome="y",
        cluster="cluster",
        arm="arm",
        space=space,
        family="gaussian",
        arms=("T", "C"),
    )
    ybar = data["y"].mean()  # 2.5
    cm = {"A": 2.0 - ybar, "B": 4.0 - ybar, "C": 0.0 - ybar, "D": 2.0 - ybar}
    stats = []
    for _, row in space.iterrows():
        t = [cm[c] for c in "ABCD" if row[c] == 1]
        c = [cm[c] for c in "ABCD" if row[c] == 0]
        stats.append(np.mean(t) - np.mean(c))
    assert r.statistic == pytest.approx(stats[0]) == pytest.approx(2.0)
    assert np.allclose(r.null_statistics, stats)
    # by hand: the six statistics are 2, -2, -2, 2, 0, 0, so |stat| >= 2 in 4 of 6
    assert np.allclose(stats, [2, -2, -2, 2, 0, 0])
    assert r.pvalue == pytest.approx(4 / 6)


def test_from_directory_and_object_agree(tmp_path: Path):
    data, res = trial(effect=0.0, seed=1)
    res.write(tmp_path / "alloc")
    a = permutation_test(
        data,
        outcome="y",
        cluster="cluster",
        arm="arm",
        space=tmp_path / "alloc",
        covariates=["x", "C(stratum)"],
    )
    b = permutation_test(
        data, outcome="y", cluster="cluster", arm="arm", space=res, covariates=["x", "C(stratum)"]
    )
    assert a.pvalue == b.pvalue and a.statistic == pytest.approx(b.statistic)
    assert a.n_allocations == res.n_constrained
    assert 1 / res.n_constrained <= a.pvalue <= 1


def test_large_effect_gives_small_p_and_null_is_not_small():
    data, res = trial(effect=2.0, seed=2)
    strong = permutation_test(
        data, outcome="y", cluster="cluster", arm="arm", space=res, covariates=["x"]
    )
    assert strong.statistic > 0 and strong.pvalue < 0.05
    pvals = [
        permutation_test(
            d, outcome="y", cluster="cluster", arm="arm", space=r, covariates=["x"]
        ).pvalue
        for d, r in (trial(effect=0.0, seed=s) for s in range(10, 30))
    ]
    # under the null the p-values are roughly uniform: not concentrated below 0.05
    assert np.mean(np.array(pvals) < 0.05) <= 0.2 and np.mean(pvals) > 0.3


def test_observed_allocation_must_be_in_the_space():
    data, res = trial(effect=0.0, seed=3)
    # every cluster but one in the first arm: not even a stratified allocation
    wrong = data.assign(arm=np.where(data["cluster"] == "G00", "TAU", "POD"))
    with pytest.raises(RandomisationError, match="not an allocation of the constrained space"):
        permutation_test(wrong, outcome="y", cluster="cluster", arm="arm", space=res)
    other = res.space.allocations[res.constrained_rows[res.constrained_rows != res.chosen_row][0]]
    ids = list(res.space.cluster_ids)
    swapped = data.assign(
        arm=data["cluster"].map({c: "POD" if a else "TAU" for c, a in zip(ids, other, strict=True)})
    )
    with pytest.raises(
        RandomisationError, match="differ from the allocation chosen at randomisation"
    ):
        permutation_test(swapped, outcome="y", cluster="cluster", arm="arm", space=res)
    mixed = data.copy()
    mixed.loc[mixed.index[0], "arm"] = "TAU" if mixed.loc[mixed.index[0], "arm"] == "POD" else "POD"
    with pytest.raises(RandomisationError, match="has people in both arms"):
        permutation_test(mixed, outcome="y", cluster="cluster", arm="arm", space=res)


def test_tampered_directory_refused(tmp_path: Path):
    data, res = trial(effect=0.0, seed=4)
    res.write(tmp_path / "d")
    p = tmp_path / "d" / "constrained_space.parquet"
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 1
    p.write_bytes(bytes(b))
    with pytest.raises(RandomisationError, match="the file was edited"):
        permutation_test(data, outcome="y", cluster="cluster", arm="arm", space=tmp_path / "d")
