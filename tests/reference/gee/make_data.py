"""Generate the GEE reference datasets (run once; the CSVs are committed).

    python tests/reference/gee/make_data.py

Each dataset is a cluster trial: a cluster-level arm (1:1), an individual
continuous covariate ``x`` and binary covariate ``z``, unequal cluster sizes
and a normal random cluster effect. Rows are sorted by cluster because
geepack needs each cluster's rows to be contiguous; the Python tests also
refit shuffled copies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _trial(rng: np.random.Generator, n_clusters: int, size_range: tuple[int, int]) -> pd.DataFrame:
    sizes = rng.integers(size_range[0], size_range[1] + 1, size=n_clusters)
    arm_c = rng.permutation(np.arange(n_clusters) % 2)
    cluster = np.repeat(np.arange(1, n_clusters + 1), sizes)
    return pd.DataFrame(
        {
            "cluster": [f"c{c:02d}" for c in cluster],
            "arm": arm_c[cluster - 1],
            "x": np.round(rng.normal(size=len(cluster)), 6),
            "z": rng.integers(0, 2, size=len(cluster)),
        }
    )


def make(name: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if name == "bin24":
        d = _trial(rng, 24, (8, 45))
        u = rng.normal(0, 0.5, 24)[d["cluster"].str[1:].astype(int) - 1]
        eta = -0.5 + 0.47 * d["arm"] + 0.3 * d["x"] + 0.4 * d["z"] + u
        d["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    elif name == "bin12rare":
        d = _trial(rng, 12, (10, 40))
        u = rng.normal(0, 0.4, 12)[d["cluster"].str[1:].astype(int) - 1]
        eta = -2.4 - 0.3 * d["arm"] + 0.3 * d["x"] + u
        d["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    elif name == "gauss30":
        d = _trial(rng, 30, (5, 35))
        u = rng.normal(0, 1.0, 30)[d["cluster"].str[1:].astype(int) - 1]
        d["y"] = np.round(
            10 + 1.5 * d["arm"] + 2 * d["x"] - 0.5 * d["z"] + u + rng.normal(0, 3, len(d)), 6
        )
    elif name == "pois20":
        d = _trial(rng, 20, (6, 30))
        u = rng.normal(0, 0.35, 20)[d["cluster"].str[1:].astype(int) - 1]
        eta = 0.5 - 0.25 * d["arm"] + 0.3 * d["x"] + u
        d["y"] = rng.poisson(np.exp(eta))
    elif name == "pois20off":
        d = _trial(rng, 20, (6, 30))
        u = rng.normal(0, 0.35, 20)[d["cluster"].str[1:].astype(int) - 1]
        d["logt"] = np.round(np.log(rng.uniform(0.2, 2.0, len(d))), 6)  # log follow-up (years)
        eta = 0.8 - 0.25 * d["arm"] + 0.3 * d["x"] + d["logt"] + u
        d["y"] = rng.poisson(np.exp(eta))
    else:
        raise ValueError(name)
    return d


DATASETS = {"bin24": 20261125, "bin12rare": 7, "gauss30": 11, "pois20": 13, "pois20off": 17}

if __name__ == "__main__":
    for name, seed in DATASETS.items():
        make(name, seed).to_csv(HERE / f"{name}.csv", index=False)
        print(name, "written")
