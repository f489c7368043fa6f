"""Generate the GLMM reference datasets (run from this folder: ``python make_data.py``).

Each dataset is a two-arm cluster trial: ``arm`` is constant within a cluster
(cluster-level), ``x`` (continuous) and ``base`` (binary) vary within clusters.
Cluster sizes are unequal (gamma-distributed, CV about 0.6). Seeds are fixed so
the CSVs are reproducible; ``fit_reference.R`` fits them in R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def _sizes(rng: np.random.Generator, n_clusters: int, mean: float) -> np.ndarray:
    shape = 1 / 0.6**2  # CV 0.6
    return np.maximum(3, np.round(rng.gamma(shape, mean / shape, n_clusters))).astype(int)


def _frame(
    rng: np.random.Generator, n_clusters: int, mean_size: float, sd_u: float
) -> pd.DataFrame:
    sizes = _sizes(rng, n_clusters, mean_size)
    arm_c = rng.permutation(np.arange(n_clusters) % 2)
    u_c = rng.normal(0.0, sd_u, n_clusters)
    cl = np.repeat(np.arange(n_clusters), sizes)
    n = len(cl)
    return pd.DataFrame(
        {
            "cluster": [f"c{c:02d}" for c in cl],
            "arm": arm_c[cl],
            "x": np.round(rng.normal(0.0, 1.0, n), 4),
            "base": rng.binomial(1, 0.4, n),
            "_u": u_c[cl],
        }
    )


def binomial(seed: int, n_clusters: int, mean_size: float, sd_u: float, b0: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = _frame(rng, n_clusters, mean_size, sd_u)
    eta = b0 + 0.47 * d["arm"] + 0.3 * d["x"] - 0.4 * d["base"] + d["_u"]
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return d.drop(columns="_u")


def binomial_zero_icc(seed: int, n_clusters: int, mean_size: float) -> pd.DataFrame:
    """No cluster effect and under-dispersed cluster totals: the ML variance is 0."""
    rng = np.random.default_rng(seed)
    d = _frame(rng, n_clusters, mean_size, 0.0)
    y = np.zeros(len(d), dtype=int)
    for _, idx in d.groupby("cluster").indices.items():
        k = round(0.35 * len(idx))  # the same proportion in every cluster
        y[rng.choice(idx, size=k, replace=False)] = 1
    d["y"] = y
    return d.drop(columns="_u")


def poisson(seed: int, n_clusters: int, mean_size: float, sd_u: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = _frame(rng, n_clusters, mean_size, sd_u)
    d["followup"] = np.round(rng.uniform(0.5, 2.0, len(d)), 3)
    eta = np.log(d["followup"]) + 0.2 - 0.22 * d["arm"] + 0.25 * d["x"] + d["_u"]
    d["y"] = rng.poisson(np.exp(eta))
    return d.drop(columns="_u")


def negbin(seed: int, n_clusters: int, mean_size: float, sd_u: float, theta: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = _frame(rng, n_clusters, mean_size, sd_u)
    d["followup"] = np.round(rng.uniform(0.5, 2.0, len(d)), 3)
    mu = np.exp(np.log(d["followup"]) + 1.5 - 0.22 * d["arm"] + 0.2 * d["x"] + d["_u"])
    d["y"] = rng.negative_binomial(theta, theta / (theta + mu))
    return d.drop(columns="_u")


DATASETS = {
    "bin_24": lambda: binomial(20261, 24, 25, 0.5, -0.3),
    "bin_60": lambda: binomial(20262, 60, 100, 0.4, 0.2),
    "bin_12": lambda: binomial(20263, 12, 30, 0.7, -0.5),
    "bin_32": lambda: binomial(20264, 32, 20, 0.3, 0.0),
    "bin_rare": lambda: binomial(20265, 40, 30, 0.6, -3.2),
    "bin_zero": lambda: binomial_zero_icc(20266, 30, 20),
    "pois_offset": lambda: poisson(20267, 32, 20, 0.4),
    "negbin": lambda: negbin(20268, 32, 20, 0.35, 2.0),
}


def main() -> None:
    for name, make in DATASETS.items():
        make().to_csv(HERE / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
