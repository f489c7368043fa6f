"""Reference data for ``tests/missing`` (run from this folder: ``python make_data.py``).

* ``incomplete_cont.csv``: 24 clusters (1:1, sizes gamma mean 20, CV 0.6, at
  least 5), ``y = 0.5 arm + 0.5 x + c + e`` (ICC 0.05), auxiliary
  ``aux = 0.8 y + 0.2 x + d + e'``; ``aux`` missing completely at random (10%),
  ``y`` missing at random given ``aux`` and the arm (seed 11).
* ``incomplete_bin.csv``: the same design with a binary ``y`` (logit
  ``logit(0.3) + 0.47 arm + 0.3 x + c``, latent ICC 0.05) and a binary ``aux``
  (seed 12). The generator is that of ``benchmarks/simulate_missing.py``.
* ``completed_cont.csv``: 5 completed datasets of ``incomplete_cont.csv`` made
  by ``odtrial.missing.impute`` (seed 1; stacked, column ``imp`` 1..5), for
  the pooling reference; ``python_fits.csv``: odtrial's ``fit_lmm("y ~ arm +
  x")`` (REML, between-within df) on each, full precision, which
  ``make_reference.R`` pools with ``mitml::testEstimates``.

The imputations depend on odtrial's sampler: regenerate ``completed_cont.csv``
and ``python_fits.csv`` (then rerun the R script) only if it changes on
purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2] / "benchmarks"))

from simulate_missing import make_missing, make_trial  # noqa: E402

from odtrial.missing import impute  # noqa: E402
from odtrial.models import fit_lmm  # noqa: E402


def incomplete(kind: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = make_missing(make_trial(kind, rng), rng)
    d["cluster"] = [f"c{c:02d}" for c in d["cluster"]]
    return d


def main() -> None:
    cont = incomplete("continuous", 11)
    binary = incomplete("binary", 12)
    cont.to_csv(HERE / "incomplete_cont.csv", index=False, float_format="%.17g")
    binary.to_csv(HERE / "incomplete_bin.csv", index=False, float_format="%.17g")
    imps = impute(cont, cluster="cluster", m=5, seed=1, auxiliaries=["aux"])
    stacked = pd.concat([d.assign(imp=i + 1) for i, d in enumerate(imps.datasets)])
    stacked.to_csv(HERE / "completed_cont.csv", index=False, float_format="%.17g")
    rows = []
    for i, d in enumerate(imps.datasets):
        r = fit_lmm("y ~ arm + x", d, cluster="cluster", ddf="between-within")
        for term in r.names:
            rows.append(
                {
                    "imp": i + 1,
                    "term": term,
                    "estimate": r.params[term],
                    "se": r.bse[term],
                    "df": r.df[term],
                }
            )
    pd.DataFrame(rows).to_csv(HERE / "python_fits.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
