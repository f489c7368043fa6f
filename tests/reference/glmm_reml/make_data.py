"""Generate the extra REML reference datasets (run from this folder: ``python make_data.py``).

The binary datasets of ``../glmm`` (bin_12, bin_24, bin_32, bin_rare, bin_zero) and
``../glmm/pois_offset.csv`` are reused as they are; this adds two datasets with the
design of ``benchmarks/simulate_small_sample.py`` (1:1, cluster sizes mean 20 with
CV 0.6, control risk 0.30, latent ICC 0.05, model ``y ~ arm``):

- ``arm_12.csv``: 12 clusters (seed 31);
- ``near_singular.csv``: 24 clusters, latent ICC 0.01; the first seed from 100 whose
  cluster totals make the ML (Laplace) variance 0 while the restricted variance is
  small but positive, so the two estimators sit on either side of the boundary.
- ``negbin_32.csv``: 32 clusters like the trial (1:1, sizes mean 20, CV 0.6), an
  over-dispersed count with many zeros like bed days: NB2 with θ = 0.6, mean
  ``followup · exp(1.0 + 0.3 arm + 0.25 x)``, cluster SD 0.35 (seed 47). Fitted as
  ``y ~ arm + x`` with offset ``log(followup)``.

- ``negbin_zero.csv``: 12 clusters of 15, ``y ~ arm``, NB2 counts (θ = 1, mean 3)
  with no cluster effect (seed 5): the restricted variance is at the boundary 0.

``python make_data.py negbin`` writes only the two NB files (the others need odtrial
to choose their seed).

Seeds are fixed and the search is deterministic, so the CSVs are reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

HERE = Path(__file__).parent


def trial(seed: int, n_clusters: int, icc: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shape = 1 / 0.6**2
    sizes = np.maximum(5, np.round(rng.gamma(shape, 20.0 / shape, n_clusters))).astype(int)
    arm_c = rng.permutation(np.arange(n_clusters) % 2)
    cl = np.repeat(np.arange(n_clusters), sizes)
    sigma = np.sqrt(icc / (1 - icc) * np.pi**2 / 3)
    eta = special.logit(0.3) + rng.normal(0.0, sigma, n_clusters)[cl]
    return pd.DataFrame(
        {
            "cluster": [f"c{c:02d}" for c in cl],
            "arm": arm_c[cl],
            "y": rng.binomial(1, special.expit(eta)),
        }
    )


def near_singular() -> pd.DataFrame:
    from odtrial.models.glmm import fit_glmm
    from odtrial.models.glmm.reml import fit_glmm_reml

    for seed in range(100, 1100):
        d = trial(seed, 24, 0.01)
        ml = fit_glmm("y ~ arm", d, cluster="cluster", nagq=1)
        reml = fit_glmm_reml("y ~ arm", d, cluster="cluster")
        if ml.cluster_var == 0.0 and 1e-3 < reml.cluster_var < 0.05:
            print(f"near_singular: seed {seed}, REML variance {reml.cluster_var:.4g}")
            return d
    raise RuntimeError("no seed in 100..1099 gave ML variance 0 and a small REML variance")


def negbin_32(seed: int = 47) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_clusters, theta = 32, 0.6
    shape = 1 / 0.6**2
    sizes = np.maximum(5, np.round(rng.gamma(shape, 20.0 / shape, n_clusters))).astype(int)
    arm_c = rng.permutation(np.arange(n_clusters) % 2)
    cl = np.repeat(np.arange(n_clusters), sizes)
    x = rng.normal(0.0, 1.0, len(cl))
    followup = rng.uniform(0.5, 1.5, len(cl))
    eta = 1.0 + 0.3 * arm_c[cl] + 0.25 * x + rng.normal(0.0, 0.35, n_clusters)[cl]
    mu = followup * np.exp(eta)
    y = rng.negative_binomial(theta, theta / (theta + mu))  # NB2: var = μ + μ²/θ
    return pd.DataFrame(
        {
            "cluster": [f"c{c:02d}" for c in cl],
            "arm": arm_c[cl],
            "x": np.round(x, 4),
            "followup": np.round(followup, 3),
            "y": y,
        }
    )


def negbin_zero(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(12), 15)
    theta, mu = 1.0, 3.0
    return pd.DataFrame(
        {
            "cluster": [f"c{c:02d}" for c in cl],
            "arm": cl % 2,
            "y": rng.negative_binomial(theta, theta / (theta + mu), len(cl)),
        }
    )


def main(which: str = "all") -> None:
    if which == "all":
        trial(31, 12, 0.05).to_csv(HERE / "arm_12.csv", index=False)
        near_singular().to_csv(HERE / "near_singular.csv", index=False)
    negbin_32().to_csv(HERE / "negbin_32.csv", index=False)
    negbin_zero().to_csv(HERE / "negbin_zero.csv", index=False)


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "all")
