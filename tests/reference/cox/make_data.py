"""Make the clustered survival data sets the Cox reference results are fitted to.

Run from anywhere: ``python tests/reference/cox/make_data.py`` (writes the CSVs
next to this file; same seeds, same files).

Each data set is a cluster trial: clusters in strata, arms allocated 1:1
within stratum, unequal cluster sizes (gamma-distributed, CV about 0.6), a
shared cluster frailty (log-normal or gamma) multiplying a Weibull hazard,
administrative censoring at two years plus random drop-out, and times in
whole days (so ties are many, and floor() makes some events on day 0).
``c20notie`` keeps continuous times (no ties) for the Breslow = Efron check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

# name: (seed, clusters, strata, mean cluster size, frailty, continuous covariate, whole days)
CASES: dict[str, tuple[int, int, int, float, str, bool, bool]] = {
    "c12": (20261125, 12, 3, 18.0, "lognormal", False, True),
    "c32": (20261126, 32, 9, 20.0, "lognormal", True, True),
    "c60": (20261127, 60, 6, 40.0, "gamma", True, True),
    "c20notie": (20261128, 20, 4, 15.0, "lognormal", True, False),
}

LOG_HR_ARM = -0.35
FRAILTY_SD = 0.5  # log-normal sd, or gamma variance 0.25
WEIBULL_SHAPE = 0.8
BASE_SCALE_DAYS = 900.0
FOLLOW_UP_DAYS = 730.0


def make(name: str) -> pd.DataFrame:
    seed, n_clusters, n_strata, mean_size, frailty, with_age, whole_days = CASES[name]
    rng = np.random.default_rng(seed)
    strata = np.arange(n_clusters) % n_strata
    arm = np.empty(n_clusters, dtype=int)
    for s in range(n_strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        arm[members] = (np.arange(len(members)) + rng.integers(2)) % 2
    sizes = np.maximum(3, np.round(rng.gamma(1 / 0.36, mean_size * 0.36, n_clusters))).astype(int)
    if frailty == "gamma":
        w = rng.gamma(1 / FRAILTY_SD**2, FRAILTY_SD**2, n_clusters)
    else:
        w = np.exp(rng.normal(-(FRAILTY_SD**2) / 2, FRAILTY_SD, n_clusters))
    stratum_effect = rng.normal(0, 0.3, n_strata)
    cl = np.repeat(np.arange(n_clusters), sizes)
    n = len(cl)
    age = np.round(rng.normal(38, 12, n)).clip(18, 80) if with_age else np.zeros(n)
    eta = LOG_HR_ARM * arm[cl] + stratum_effect[strata[cl]] + 0.01 * (age - 38)
    u = rng.random(n)
    t_event = BASE_SCALE_DAYS * (-np.log(u) / (w[cl] * np.exp(eta))) ** (1 / WEIBULL_SHAPE)
    t_drop = rng.exponential(3000.0, n)
    t = np.minimum.reduce([t_event, t_drop, np.full(n, FOLLOW_UP_DAYS)])
    event = (t_event <= np.minimum(t_drop, FOLLOW_UP_DAYS)).astype(int)
    if whole_days:
        t = np.floor(t)
    out = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "cluster": [f"K{g + 1:02d}" for g in cl],
            "stratum": [f"S{s + 1}" for s in strata[cl]],
            "arm": arm[cl],
            "time": t if whole_days else np.round(t, 6),
            "event": event,
        }
    )
    if with_age:
        out["age"] = age.astype(int)
    return out


def main() -> None:
    for name in CASES:
        make(name).to_csv(HERE / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
