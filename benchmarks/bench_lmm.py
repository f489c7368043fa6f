"""Benchmark: seconds per LMM fit, odtrial vs statsmodels MixedLM vs R lmer/lmerTest.

    python benchmarks/bench_lmm.py [--repeats 5] [--no-r]

For each simulated cluster trial (clusters x mean size, with arm, a stratum
factor and two individual covariates) it times, in the same run and on the
same data:

* odtrial ``fit_lmm`` (REML) with Satterthwaite df, and with Kenward–Roger;
* statsmodels ``MixedLM.fit(reml=True)`` (no small-sample df at all);
* R ``lmerTest::lmer`` + ``summary`` (Satterthwaite df), when ``Rscript``
  exists, timed inside R so R's start-up is not counted.

It also reports how far statsmodels' REML criterion (-2 llf) is above
odtrial's optimum, and the ratio of the two cluster variances. Times are the
median of ``--repeats`` fits after one warm-up fit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from odtrial.models.lmm import fit_lmm

FORMULA = "y ~ arm + age + baseline + C(stratum)"
CASES = [(24, 25), (60, 100), (200, 100), (400, 250)]  # clusters, mean cluster size

_R = """
suppressPackageStartupMessages(library(lmerTest))
d <- read.csv(commandArgs(TRUE)[1]); d$stratum <- factor(d$stratum)
reps <- as.integer(commandArgs(TRUE)[2])
f <- y ~ arm + age + baseline + stratum + (1 | cluster)
invisible(summary(lmer(f, data = d)))
t <- sapply(seq_len(reps), function(i) system.time(summary(lmer(f, data = d)))[["elapsed"]])
cat(median(t))
"""


def simulate(n_clusters: int, mean_size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(mean_size // 2, 3 * mean_size // 2 + 1, n_clusters)
    g = np.repeat(np.arange(n_clusters), sizes)
    stratum = (np.arange(n_clusters) % 4)[g]
    arm = (rng.permutation(n_clusters) % 2)[g]
    age = rng.uniform(18, 65, g.size)
    baseline = rng.normal(size=g.size)
    u = rng.normal(0, 0.4, n_clusters)[g]
    y = 1 + 0.5 * arm + 0.01 * age + 0.4 * baseline + 0.2 * stratum + u + rng.normal(size=g.size)
    return pd.DataFrame(
        {
            "cluster": [f"c{k:03d}" for k in g],
            "stratum": [f"s{k}" for k in stratum],
            "arm": arm,
            "age": age,
            "baseline": baseline,
            "y": y,
        }
    )


def seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def statsmodels_fit(data: pd.DataFrame) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.mixedlm(FORMULA, data, groups=data["cluster"]).fit(reml=True)


def r_seconds(data: pd.DataFrame, repeats: int) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        data.to_csv(csv, index=False)
        script = Path(tmp) / "bench.R"
        script.write_text(_R)
        out = subprocess.run(
            ["Rscript", str(script), str(csv), str(repeats)],
            capture_output=True,
            text=True,
            check=True,
        )
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-r", action="store_true", help="skip R even if Rscript exists")
    args = ap.parse_args()
    rows = []
    for i, (g, m) in enumerate(CASES):
        data = simulate(g, m, seed=1000 + i)
        ours = fit_lmm(FORMULA, data, cluster="cluster")
        sm = statsmodels_fit(data)
        # statsmodels' -2 llf is the same REML criterion as lme4's (a test checks it)
        gap = -2.0 * float(sm.llf) - ours.extra["criterion"]
        cluster_var_ratio = float(sm.cov_re.iloc[0, 0]) / ours.cluster_var
        row = {
            "clusters": g,
            "rows": len(data),
            "odtrial_satterthwaite_s": seconds(
                partial(fit_lmm, FORMULA, data, cluster="cluster"), args.repeats
            ),
            "odtrial_kenward_roger_s": seconds(
                partial(fit_lmm, FORMULA, data, cluster="cluster", ddf="kenward-roger"),
                args.repeats,
            ),
            "statsmodels_s": seconds(partial(statsmodels_fit, data), args.repeats),
            "statsmodels_reml_gap": gap,
            "statsmodels_cluster_var_ratio": cluster_var_ratio,
            "lmer_lmerTest_s": None if args.no_r else r_seconds(data, args.repeats),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    table["speedup_vs_statsmodels"] = table["statsmodels_s"] / table["odtrial_satterthwaite_s"]
    if table["lmer_lmerTest_s"].notna().any():
        table["speedup_vs_lmerTest"] = (
            table["lmer_lmerTest_s"].astype(float) / table["odtrial_satterthwaite_s"]
        )
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
