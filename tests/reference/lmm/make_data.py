"""Generate the LMM reference datasets (run from this folder: ``python make_data.py``).

Each dataset is a cluster trial: clusters of unequal size, 1:1 allocation of
clusters to ``arm`` within strata (a cluster-level covariate and a
stratification factor), and individual covariates (``age``, ``sex``,
``baseline``). The outcome follows a random-intercept linear model:

    y = b0 + b_arm*arm + b_age*(age-40)/10 + b_sex*sex + b_base*baseline + stratum effect + u + e

``lmm_zero`` is built so that the REML cluster variance is 0 (a singular
fit): half of each cluster's mean noise is removed, which makes between
cluster variation smaller than independence implies. The seeds are fixed, so
the CSVs are reproduced byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

# name, seed, clusters, (min, max) cluster size, strata, sd_u, sd_e
SPECS: list[tuple[str, int, int, tuple[int, int], int, float, float]] = [
    ("lmm_12", 101, 12, (4, 40), 3, 0.6, 1.0),
    ("lmm_24", 202, 24, (8, 45), 4, 0.4, 1.2),
    ("lmm_32", 303, 32, (2, 30), 4, 0.25, 1.0),
    ("lmm_60", 404, 60, (20, 180), 6, 0.3, 1.5),
    ("lmm_zero", 505, 20, (5, 35), 2, 0.0, 1.0),
]


def make(
    seed: int, n_clusters: int, size: tuple[int, int], n_strata: int, sd_u: float, sd_e: float
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(size[0], size[1] + 1, size=n_clusters)
    stratum = np.array([f"s{1 + i % n_strata}" for i in range(n_clusters)])
    arm = np.zeros(n_clusters, dtype=int)
    for s in np.unique(stratum):
        idx = np.flatnonzero(stratum == s)
        treated = rng.permutation(idx)[: (len(idx) + int(rng.integers(0, 2))) // 2]
        arm[treated] = 1
    s_effect = {f"s{k + 1}": 0.3 * k for k in range(n_strata)}
    u = rng.normal(0.0, sd_u, n_clusters)
    rows = []
    for g in range(n_clusters):
        n = int(sizes[g])
        age = np.round(rng.uniform(18, 65, n), 1)
        sex = rng.integers(0, 2, n)
        baseline = np.round(rng.normal(0.2 * u[g], 1.0, n), 4)
        e = rng.normal(0.0, sd_e, n)
        if sd_u == 0.0:
            e = e - 0.5 * e.mean()  # shrink between-cluster noise: REML variance is 0
        y = (
            1.0
            + 0.5 * arm[g]
            + 0.15 * (age - 40) / 10
            - 0.2 * sex
            + 0.4 * baseline
            + s_effect[stratum[g]]
            + u[g]
            + e
        )
        rows.append(
            pd.DataFrame(
                {
                    "cluster": f"c{g + 1:02d}",
                    "stratum": stratum[g],
                    "arm": arm[g],
                    "age": age,
                    "sex": sex,
                    "baseline": baseline,
                    "y": np.round(y, 6),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    for name, seed, g, size, strata, sd_u, sd_e in SPECS:
        df = make(seed, g, size, strata, sd_u, sd_e)
        df.to_csv(HERE / f"{name}.csv", index=False, lineterminator="\n")
        print(name, len(df), "rows", df["cluster"].nunique(), "clusters")


if __name__ == "__main__":
    main()
