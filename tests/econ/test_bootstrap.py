"""The shrinkage correction makes the two-stage bootstrap's variance right."""

from __future__ import annotations

import numpy as np

from odtrial.econ.bootstrap import shrunken_outcomes, tsb_draws


def _trial(rng: np.random.Generator, k: int = 10, n: int = 12) -> tuple[np.ndarray, ...]:
    """Equal cluster sizes, so the cluster-level variance of a mean is the plain one."""
    cluster = np.repeat(np.arange(2 * k), n)
    arm = (cluster >= k).astype(np.int64)
    u = rng.normal(0, [0.5, 0.05], size=(2 * k, 2))
    y = u[cluster] + rng.normal(0, [2.0, 0.2], size=(2 * k * n, 2)) + arm[:, None] * [1.0, 0.1]
    x = np.column_stack([np.ones(len(arm)), arm])
    return y, x, cluster, arm


def _cluster_level_variance(y: np.ndarray, cluster: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """var(difference in means) from the cluster means: s_b^2/k per arm, summed."""
    out = np.zeros(2)
    for a in (0, 1):
        means = np.array([y[cluster == c].mean(axis=0) for c in np.unique(cluster[arm == a])])
        out += means.var(axis=0, ddof=1) / len(means)
    return out


def test_bootstrap_variance_matches_the_cluster_level_variance() -> None:
    rng = np.random.default_rng(42)
    y, x, cluster, arm = _trial(rng)
    target = _cluster_level_variance(y, cluster, arm)
    draws, info = tsb_draws(y, x, cluster, arm, term=1, n_boot=4000, rng=np.random.default_rng(1))
    assert info is not None and np.all((info.c >= 0) & (info.c <= 1.2))
    ratio = draws.var(axis=0, ddof=1) / target
    # 4,000 draws: the ratio's MC SE is about 0.03; the plain two-stage bootstrap
    # (below) overstates by the within-cluster share, here ~25-60%
    np.testing.assert_allclose(ratio, 1.0, atol=0.1)
    plain, _ = tsb_draws(
        y, x, cluster, arm, term=1, n_boot=4000, rng=np.random.default_rng(1), shrink=False
    )
    assert np.all(plain.var(axis=0, ddof=1) / target > 1.25)


def test_shrinkage_keeps_fitted_means_and_cluster_order() -> None:
    y, x, cluster, arm = _trial(np.random.default_rng(7))
    ys, info = shrunken_outcomes(y, x, cluster, arm)
    for a in (0, 1):
        np.testing.assert_allclose(ys[arm == a].mean(axis=0), y[arm == a].mean(axis=0), atol=1e-10)
        m = np.array([y[cluster == c].mean(axis=0) for c in np.unique(cluster[arm == a])])
        ms = np.array([ys[cluster == c].mean(axis=0) for c in np.unique(cluster[arm == a])])
        centred, shrunk = m - m.mean(axis=0), ms - ms.mean(axis=0)
        np.testing.assert_allclose(shrunk, centred * info.c[a], atol=1e-10)


def test_same_seed_same_draws() -> None:
    y, x, cluster, arm = _trial(np.random.default_rng(5))
    a, _ = tsb_draws(y, x, cluster, arm, term=1, n_boot=300, rng=np.random.default_rng(9))
    b, _ = tsb_draws(y, x, cluster, arm, term=1, n_boot=300, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
