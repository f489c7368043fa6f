"""Benchmark: simulation power with odtrial's binary GLMM, 1 and 2 jobs.

1,000 simulated trials of 32 clusters (16 per arm) x 20 people, binary outcome,
each fitted with ``odtrial.models.glmm.fit_glmm`` (y ~ arm, random cluster
intercept, nagq=25). Target (issue 4): under 60 s on 2 cores. Prints the
seconds for jobs=1 and jobs=2 (after a short warm-up that starts the worker
processes; its time is printed too), the speed-up, and checks that both runs
give the same power (same seed).

    python benchmarks/bench_power.py [--nsim 1000] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

from odtrial.design import Outcome, TrialDesign
from odtrial.design.fitters import engine_available
from odtrial.design.simulation import simulate_power


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsim", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not engine_available("glmm"):
        raise SystemExit("odtrial.models.glmm is not available: nothing to benchmark")
    design = TrialDesign(
        outcome=Outcome(kind="binary", p0=0.30, p1=0.45),
        clusters_per_arm=16,
        cluster_size=20,
        icc=0.05,
    )
    rows = {}
    cold = {}
    cpu = {}  # CPU seconds of this process: with jobs=1 the whole work, load-independent
    for jobs in (1, 2):
        # Warm-up: start the worker processes (loky keeps them) and import the
        # model engine, so the timing is of the simulation, not of start-up.
        t0 = time.perf_counter()
        simulate_power(
            design, nsim=4 * jobs, seed=args.seed + 1, fitter="glmm", jobs=jobs, chunk_size=2
        )
        cold[jobs] = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        r = simulate_power(design, nsim=args.nsim, seed=args.seed, fitter="glmm", jobs=jobs)
        rows[jobs] = (time.perf_counter() - t0, r)
        cpu[jobs] = time.process_time() - c0
    (t1, r1), (t2, r2) = rows[1], rows[2]
    out = {
        "nsim": args.nsim,
        "clusters": 32,
        "cluster_size": 20,
        "seconds_jobs1": round(t1, 2),
        "seconds_jobs2": round(t2, 2),
        "speedup": round(t1 / t2, 2),
        "cpu_seconds_jobs1": round(cpu[1], 2),
        "warmup_seconds_jobs1": round(cold[1], 2),
        "warmup_seconds_jobs2": round(cold[2], 2),
        "power": r1.power,
        "mc_se": round(r1.mc_se or 0.0, 4),
        "n_failed": r1.n_failed,
        "same_answer": r1.power == r2.power and r1.n_failed == r2.n_failed,
        "target_seconds": 60,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:>14}: {v}")


if __name__ == "__main__":
    main()
