"""Benchmark: odtrial's binomial GLMM (nagq=25) against statsmodels'
BinomialBayesMixedGLM.fit_vb and, when Rscript is available, lme4::glmer(nAGQ=25),
on the same data in the same run.

Targets (issue 3): 6,000 rows in 60 clusters under 0.2 s per fit and at least
100x faster than glmer; 600 rows in 24 clusters under 20 ms. Memory is linear in
rows x nodes: the peak traced allocation of one fit is printed next to
rows x nodes x 8 bytes. Also times the power-simulation path (32 clusters x 20
people, the array API).

    python benchmarks/bench_glmm.py [--reps 20] [--r-reps 3] [--no-r]

R is timed inside R (system.time over r-reps fits after one warm-up fit), so R's
start-up and package loading are excluded.

Measured 2026-11-25 (2 shared cores, load average 0.7; wall = CPU within 0.1 ms):

    data                       odtrial formula / arrays   glmer    ratio   target
    6,000 rows / 60 clusters   14.7 ms / 11.4 ms          1.71 s   116x    < 0.2 s, >= 100x
    600 rows / 24 clusters      8.2 ms /  5.0 ms          0.21 s    26x    < 20 ms
    power path 640 / 32         8.1 ms /  4.8 ms

statsmodels fit_vb: 0.88 s and 0.23 s (odtrial 60x and 28x faster). Peak traced
memory 6.6 MiB at 6,000 rows (5.8x rows x nodes x 8 B). Before the 2026-11-25
speed-up the same run gave 73 ms / 28x and 18.9 ms at a quiet moment (the old
code timed again today, interleaved with the new: 30-41 ms and 8-12 ms). glmer
varies between runs (1.7-2.1 s at 6,000 rows), so the ratio does too; about
3.5 ms of the formula time is building the design matrix (formulaic).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from odtrial.models.design import build_design
from odtrial.models.glmm import fit_glmm, fit_glmm_arrays

FORMULA = "y ~ arm + x + base"
NAGQ = 25

R_SCRIPT = """
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2])
f <- function() glmer(y ~ arm + x + base + (1 | cluster), data = d, family = binomial, nAGQ = 25)
fit <- f()
st <- system.time(for (i in seq_len(reps)) fit <- f())
t <- st[["elapsed"]] / reps
cpu <- (st[["user.self"]] + st[["sys.self"]]) / reps
cat(sprintf('{"seconds": %.6f, "cpu": %.6f, "lme4": "%s", "beta_arm": %.10f}',
            t, cpu, packageVersion("lme4"), fixef(fit)[["arm"]]))
"""


def make_trial(seed: int, n_rows: int, n_clusters: int) -> pd.DataFrame:
    """A two-arm cluster trial with unequal cluster sizes (CV about 0.6), exactly n_rows."""
    rng = np.random.default_rng(seed)
    share = rng.gamma(1 / 0.36, 0.36, n_clusters)
    sizes = np.maximum(2, np.round(share / share.sum() * n_rows)).astype(int)
    sizes[np.argmax(sizes)] += n_rows - sizes.sum()
    cl = np.repeat(np.arange(n_clusters), sizes)
    arm = rng.permutation(np.arange(n_clusters) % 2)[cl]
    x = rng.normal(size=n_rows)
    base = rng.binomial(1, 0.4, n_rows)
    eta = -0.2 + 0.47 * arm + 0.3 * x - 0.4 * base + rng.normal(0, 0.5, n_clusters)[cl]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame(
        {"cluster": [f"c{c:03d}" for c in cl], "arm": arm, "x": x, "base": base, "y": y}
    )


def per_fit(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """(median wall, median CPU) seconds per call after one warm-up call.

    CPU time (this process) is printed too because on a shared machine the wall
    time includes waiting for a core.
    """
    fn()
    ts, cs = [], []
    for _ in range(reps):
        c = time.process_time()
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    return statistics.median(ts), statistics.median(cs)


def peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def time_r(d: pd.DataFrame, reps: int) -> dict[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "d.csv", Path(tmp) / "t.R"
        d.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        out = subprocess.run(
            ["Rscript", str(script), str(csv), str(reps)],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print("  R failed:", out.stderr.strip().splitlines()[-1:])
            return None
        return json.loads(out.stdout.strip().splitlines()[-1])


def time_statsmodels(d: pd.DataFrame, reps: int) -> float:
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    def fit() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = BinomialBayesMixedGLM.from_formula(FORMULA, {"a": "0 + C(cluster)"}, d)
            return m.fit_vb()

    return per_fit(fit, reps)[0]  # wall, like R's system.time elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--r-reps", type=int, default=3)
    ap.add_argument("--sm-reps", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    args = ap.parse_args()

    results = {}
    for label, n, g, seed, target in (
        ("6000 rows / 60 clusters", 6000, 60, 11, 0.2),
        ("600 rows / 24 clusters", 600, 24, 12, 0.02),
        ("power path: 640 rows / 32 clusters (arrays)", 640, 32, 13, None),
    ):
        d = make_trial(seed, n, g)
        des = build_design(FORMULA, d, cluster="cluster")
        res = fit_glmm(FORMULA, d, cluster="cluster", nagq=NAGQ)
        by_formula = partial(fit_glmm, FORMULA, d, cluster="cluster", nagq=NAGQ)
        by_arrays = partial(fit_glmm_arrays, des.y, des.X, des.cluster, nagq=NAGQ)
        med, best = per_fit(by_formula, args.reps)
        amed, abest = per_fit(by_arrays, args.reps)
        mem = peak_bytes(by_formula)
        print(f"\n{label}: nagq={NAGQ}, converged={res.converged}, arm={res.params['arm']:.6f}")
        print(
            f"  odtrial fit_glmm (formula): median {med * 1e3:8.2f} ms  (CPU {best * 1e3:.2f} ms)"
        )
        print(
            f"  odtrial fit_glmm_arrays:    median {amed * 1e3:8.2f} ms  (CPU {abest * 1e3:.2f} ms)"
        )
        if target is not None:
            print(
                f"  target < {target * 1e3:.0f} ms: wall {'met' if med < target else 'NOT met'},"
                f" CPU {'met' if best < target else 'NOT met'}  (load average {os.getloadavg()[0]:.1f})"
            )
        print(
            f"  peak traced memory {mem / 2**20:.1f} MiB; rows x nodes x 8 B = {n * NAGQ * 8 / 2**20:.2f} MiB"
            f" (ratio {mem / (n * NAGQ * 8):.1f})"
        )
        row: dict[str, float] = {
            "odtrial": med,
            "odtrial_cpu": best,
            "odtrial_arrays": amed,
            "odtrial_arrays_cpu": abest,
            "peak_mib": mem / 2**20,
        }
        if target is not None:
            sm_t = time_statsmodels(d, args.sm_reps)
            row["statsmodels_fit_vb"] = sm_t
            print(
                f"  statsmodels BinomialBayesMixedGLM.fit_vb: {sm_t * 1e3:8.1f} ms  -> odtrial {sm_t / med:.1f}x faster"
            )
            r = None if args.no_r else time_r(d, args.r_reps)
            if r is not None:
                row["glmer"] = r["seconds"]
                row["glmer_cpu"] = r["cpu"]
                print(
                    f"  lme4 {r['lme4']} glmer nAGQ=25: {r['seconds'] * 1e3:8.1f} ms  -> odtrial {r['seconds'] / med:.0f}x faster"
                    f"  (arm: R {r['beta_arm']:.6f}, odtrial {res.params['arm']:.6f})"
                )
                print(
                    f"  CPU per fit: glmer {r['cpu'] * 1e3:.1f} ms, odtrial {best * 1e3:.1f} ms"
                    f" -> {r['cpu'] / best:.0f}x"
                )
            elif not args.no_r:
                print("  Rscript not found: glmer not timed")
        results[label] = row
    print("\n" + json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
