"""Multiple imputation under MAR with an auxiliary outcome (issue 12; not part of the unit suite).

Each simulated trial has 24 clusters (1:1; sizes gamma with mean 20 and CV 0.6,
at least 5), a baseline covariate ``x``, the outcome ``y`` (the analysis
model's response, "24 months") and an auxiliary earlier outcome ``aux`` ("12
months") that the analysis model does not use:

* continuous: ``y = 0.5 arm + 0.5 x + c_j + e`` (ICC 0.05, σ_e = 1), ``aux =
  0.8 y + 0.2 x + d_j + e'`` (σ_e' = 0.6, cluster SD 0.15); analysed by
  ``fit_lmm("y ~ arm + x")`` (REML, Satterthwaite df);
* binary: ``logit P(y) = logit(0.3) + 0.47 arm + 0.3 x + c_j`` (latent ICC 0.05),
  ``logit P(aux) = -1.5 + 2.5 y + 0.3 x + 0.5 c_j + d_j``; analysed by the
  REML GLMM ``fit_glmm("y ~ arm + x")`` (between-within df).

The analysis model is thus correctly specified with known truth (0.5; log odds
ratio 0.47). ``aux`` is missing completely at random (10%); ``y`` is missing at
random given ``aux`` and the arm: ``logit P(missing) = -1.8 + 0.2 arm + 1.2 aux_s
(1 + arm)`` where ``aux`` is observed (``aux_s`` standardised) and 30% where it
is not (about a fifth of ``y`` missing). Because dropout depends on the
auxiliary differently by arm, the complete-case analysis is biased.

Per trial: the full-data fit (before deletion), the complete-case fit and the
multiple imputation fit (``odtrial.missing.impute`` with ``aux`` as an
auxiliary, ``m`` imputations, Rubin's rules with Barnard–Rubin df). Reported:
paired bias (MI minus the same trial's full-data estimate) and its Monte Carlo
SE, bias against the truth, empirical SE, mean model SE and 95% CI coverage of
the truth, for full data, complete cases and MI.

Every trial draws from its own ``SeedSequence`` child, so results do not
depend on ``--jobs``.

    python benchmarks/simulate_missing.py --continuous 200 --binary 100 --m 20 --jobs 2

Results are in docs/missing_data.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import joblib
import numpy as np
import pandas as pd
from scipy import special

from odtrial.missing import impute
from odtrial.models import fit_glmm, fit_lmm

SEED = 20261207
N_CLUSTERS = 24
TRUTH = {"continuous": 0.5, "binary": 0.47}


def make_trial(kind: str, rng: np.random.Generator, n_clusters: int = N_CLUSTERS) -> pd.DataFrame:
    """One complete trial (no missing values yet)."""
    shape = 1 / 0.6**2
    sizes = np.maximum(5, np.round(rng.gamma(shape, 20.0 / shape, n_clusters))).astype(int)
    arm_c = rng.permutation(np.arange(n_clusters) % 2)
    cl = np.repeat(np.arange(n_clusters), sizes)
    n = cl.size
    arm = arm_c[cl]
    x = rng.normal(size=n)
    if kind == "continuous":
        c = rng.normal(0, np.sqrt(0.05 / 0.95), n_clusters)[cl]
        y = 0.5 * arm + 0.5 * x + c + rng.normal(size=n)
        aux = 0.8 * y + 0.2 * x + rng.normal(0, 0.15, n_clusters)[cl] + rng.normal(0, 0.6, n)
    else:
        c = rng.normal(0, np.sqrt(0.05 / 0.95 * np.pi**2 / 3), n_clusters)[cl]
        y = rng.binomial(1, special.expit(special.logit(0.3) + 0.47 * arm + 0.3 * x + c))
        d = rng.normal(0, 0.3, n_clusters)[cl]
        aux = rng.binomial(1, special.expit(-1.5 + 2.5 * y + 0.3 * x + 0.5 * c + d))
    return pd.DataFrame(
        {"cluster": cl, "arm": arm, "x": x, "y": y.astype(float), "aux": aux.astype(float)}
    )


def make_missing(full: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """MCAR auxiliary (10%); outcome MAR given the auxiliary and the arm."""
    d = full.copy()
    n = len(d)
    aux_missing = rng.random(n) < 0.10
    aux = d["aux"].to_numpy()
    aux_s = (aux - aux.mean()) / aux.std()
    arm = d["arm"].to_numpy()
    p = np.where(aux_missing, 0.30, special.expit(-1.8 + 0.2 * arm + 1.2 * aux_s * (1 + arm)))
    d.loc[rng.random(n) < p, "y"] = np.nan
    d.loc[aux_missing, "aux"] = np.nan
    return d


def _fit(kind: str, d: pd.DataFrame) -> Any:
    if kind == "continuous":
        return fit_lmm("y ~ arm + x", d, cluster="cluster")
    return fit_glmm("y ~ arm + x", d, cluster="cluster")


def _row(res: Any, truth: float) -> dict[str, float]:
    ci = res.conf_int().loc["arm"]
    return {
        "est": float(res.params["arm"]),
        "se": float(res.bse["arm"]),
        "cover": float(ci["lower"] <= truth <= ci["upper"]),
    }


def one_trial(
    kind: str, seq: np.random.SeedSequence, m: int = 20, **impute_kw: Any
) -> dict[str, float]:
    """Full-data, complete-case and MI estimates of the arm effect for one trial."""
    rng = np.random.default_rng(seq)
    full = make_trial(kind, rng)
    d = make_missing(full, rng)
    truth = TRUTH[kind]
    out: dict[str, float] = {"n": len(d), "missing_y": float(d["y"].isna().mean())}
    for name, res in (
        ("full", _fit(kind, full)),
        ("cc", _fit(kind, d.dropna(subset=["y"]))),
    ):
        out.update({f"{name}_{k}": v for k, v in _row(res, truth).items()})
    seed = int(seq.generate_state(1)[0])
    imps = impute(d, cluster="cluster", m=m, seed=seed, auxiliaries=["aux"], **impute_kw)
    pooled = imps.fit(fit_lmm if kind == "continuous" else fit_glmm, "y ~ arm + x")
    out.update({f"mi_{k}": v for k, v in _row(pooled, truth).items()})
    out["mi_fmi"] = float(pooled.fmi["arm"])
    out["mi_df"] = float(pooled.df["arm"])
    return out


def summarise(kind: str, rows: Sequence[dict[str, float]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    truth = TRUTH[kind]
    n = len(df)
    out = []
    for name in ("full", "cc", "mi"):
        est = df[f"{name}_est"]
        paired = est - df["full_est"]
        cov = df[f"{name}_cover"].mean()
        out.append(
            {
                "outcome": kind,
                "analysis": {"full": "full data", "cc": "complete cases", "mi": "MI"}[name],
                "trials": n,
                "paired bias": paired.mean(),
                "MCSE paired": paired.std(ddof=1) / np.sqrt(n),
                "bias vs truth": est.mean() - truth,
                "empirical SE": est.std(ddof=1),
                "mean SE": df[f"{name}_se"].mean(),
                "coverage %": 100 * cov,
                "MCSE cov": 100 * np.sqrt(cov * (1 - cov) / n),
            }
        )
    return pd.DataFrame(out)


def run(kind: str, reps: int, m: int, jobs: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    seqs = np.random.SeedSequence([SEED, 0 if kind == "continuous" else 1]).spawn(reps)
    rows = joblib.Parallel(n_jobs=jobs)(joblib.delayed(one_trial)(kind, s, m) for s in seqs)
    return pd.DataFrame(rows), summarise(kind, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--continuous", type=int, default=200, help="continuous trials")
    ap.add_argument("--binary", type=int, default=100, help="binary trials")
    ap.add_argument("--m", type=int, default=20, help="imputations per trial")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--csv", help="write per-trial results to PREFIX_<kind>.csv")
    args = ap.parse_args()
    tables = []
    for kind, reps in (("continuous", args.continuous), ("binary", args.binary)):
        if reps <= 0:
            continue
        t = time.perf_counter()
        per_trial, table = run(kind, reps, args.m, args.jobs)
        secs = time.perf_counter() - t
        print(f"{kind}: {reps} trials, m = {args.m}, {secs:.0f} s, "
              f"outcome missing {100 * per_trial['missing_y'].mean():.1f}%, "
              f"mean FMI (arm) {per_trial['mi_fmi'].mean():.3f}", flush=True)  # fmt: skip
        if args.csv:
            per_trial.to_csv(f"{args.csv}_{kind}.csv", index=False)
        tables.append(table)
    if tables:
        print(pd.concat(tables).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
