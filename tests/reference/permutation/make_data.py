"""Data for the permutation-test reference (run from the repository root):

    python tests/reference/permutation/make_data.py
    Rscript tests/reference/permutation/fit_reference.R

Writes ``trial.csv`` (individual rows: cluster, stratum, x, a binary, a count
and a continuous outcome, and the arm of the allocation used) and
``space.csv`` (a constrained space: one 0/1 column per cluster, 1 = the first
arm, with the allocation used in row ``chosen``). The space is written as data,
so the reference checks only the test itself, not how the space was made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from odtrial.randomise import constrained

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(20261125)
    n_cl = 14
    clusters = pd.DataFrame(
        {
            "id": [f"K{i:02d}" for i in range(n_cl)],
            "stratum": ["s1"] * 4 + ["s2"] * 4 + ["s3"] * 3 + ["s4"] * 3,
            "size": rng.integers(5000, 30000, n_cl),
            "imd": np.round(rng.uniform(5, 50, n_cl), 1),
        }
    )
    alloc = constrained(
        clusters,
        id="id",
        strata="stratum",
        balance=["size", "imd"],
        seed=7,
        cutoff=0.3,
        arms=("POD", "TAU"),
    )
    frame = alloc.constrained_frame()
    ids = list(alloc.space.cluster_ids)
    space = frame[["chosen", *ids]].astype({"chosen": int})
    space.to_csv(HERE / "space.csv", index=False, lineterminator="\n")
    arm_of = dict(zip(alloc.allocation["id"], alloc.allocation["arm"], strict=True))

    sizes = rng.integers(6, 30, n_cl)
    cl = np.repeat(np.arange(n_cl), sizes)
    u = rng.normal(0, 0.4, n_cl)[cl]
    treat = np.array([arm_of[ids[c]] == "POD" for c in range(n_cl)])[cl]
    x = rng.normal(size=len(cl))
    eta = -0.3 + 0.5 * treat + 0.4 * x + u
    d = pd.DataFrame(
        {
            "cluster": [ids[c] for c in cl],
            "stratum": clusters.set_index("id").loc[[ids[c] for c in cl], "stratum"].to_numpy(),
            "x": np.round(x, 6),
            "arm": np.where(treat, "POD", "TAU"),
            "y_bin": rng.binomial(1, 1 / (1 + np.exp(-eta))),
            "y_count": rng.poisson(np.exp(0.2 + 0.3 * treat + 0.2 * x + u)),
            "y_cont": np.round(1.0 + 0.6 * treat + 0.5 * x + u + rng.normal(size=len(cl)), 6),
        }
    )
    d.to_csv(HERE / "trial.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
