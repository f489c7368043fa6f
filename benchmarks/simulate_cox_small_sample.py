"""Type I error, coverage and power of ``fit_cox``'s cluster-robust inference with few clusters.

Not part of the unit suite. It is the evidence behind ``fit_cox``'s default
(``docs/small_sample_inference.md``, section "Cox proportional hazards").

Design. A two-arm cluster trial, 1:1 allocation of clusters (exactly G/2 per
arm; with ``--model stratum``, 1:1 within two strata of G/2 clusters each).
Cluster sizes are lognormal with mean ``--mean-size`` (20) and coefficient of
variation ``--cv`` (0.6), at least 2. Each cluster has a frailty multiplying
the hazard of all its members: log-normal with SD ``--frailty-sd`` (0.4) on
the log-hazard scale, or gamma with variance ``--frailty-sd``**2 (0.16); both
have mean 1. The baseline hazard is exponential or Weibull (``--shape``),
scaled so that a share ``--events`` of subjects (at frailty 1, control arm)
has the event by two years. Administrative censoring at 730 days; times are
whole days (so there are ties; Efron's method). Models:

* ``treat``: ``~ treat`` (p = 1);
* ``stratum``: ``~ treat + C(stratum)``, cluster-level strata of
  ``--stratum-clusters`` clusters each (default G/2: two strata, p = 2; 4
  gives G/4 strata as in a trial stratified by small catchments), odd strata
  with a log hazard ratio of 0.5;
* ``covariate``: ``~ treat + x``, an individual standard-normal covariate with
  a log hazard ratio of 0.3 (p = 2).

Null scenario (no treatment effect): type I error of the two-sided 5% Wald
test, and the mean estimated SE over the empirical SD of the estimates ("SE
ratio"). Effect scenario (conditional log hazard ratio ``--log-hr``, -0.4):
coverage of the 95% CI and power. With a frailty the marginal Cox model that
``fit_cox`` fits has a different (attenuated) target than the conditional
log hazard ratio; coverage is of that target, the limit of the estimate,
computed once by fitting the same model to one trial of 20,000 clusters.

Methods (one fit per covariance; the df variants reuse it): the uncorrected
sandwich (R's ``coxph(cluster=)``) with z and t, ``robust-g`` (x G/(G-1)),
Kauermann–Carroll, Mancl–DeRouen and Fay–Graubard (b = 0.75), with t on
``G - p`` df, on ``G - p - 1`` (counting the baseline hazard as GEE counts
its intercept) and on Fay & Graubard's ``d-hat`` ("FG df", computed for each
correction's own score factors: ``df="fay-graubard"`` in ``fit_cox``).

Every trial draws from its own ``SeedSequence`` child of (``--seed``,
scenario, G), so results do not depend on ``--jobs``. Monte Carlo SE of a 5%
rate from 1,000 trials: 0.69 points; of a 95% coverage: 0.69 points.

    nice python benchmarks/simulate_cox_small_sample.py --reps 1000
    nice python benchmarks/simulate_cox_small_sample.py --frailty gamma --reps 1000
    nice python benchmarks/simulate_cox_small_sample.py --model stratum --effect-reps 0

Options: ``--clusters`` (default 12 24 32), ``--reps``, ``--effect-reps``
(default ``--reps``; 0 skips the effect scenario), ``--events``,
``--baseline {exponential,weibull}``, ``--shape``, ``--jobs`` (joblib, if
installed), ``--json FILE``, ``--markdown FILE``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from odtrial.errors import ModelError
from odtrial.models.cox import fit_cox

FOLLOW_UP_DAYS = 730.0
MODELS = {
    "treat": "~ treat",
    "stratum": "~ treat + C(stratum)",
    "covariate": "~ treat + x",
}
STRATUM_LOG_HR = 0.5
X_LOG_HR = 0.3
# (label, fitted cov_type, df rule); "robust-g" reuses the robust fit x G/(G-1)
METHODS: tuple[tuple[str, str, str], ...] = (
    ("robust, z", "robust", "z"),
    ("robust, t(G-p)", "robust", "G-p"),
    ("robust-G, t(G-p)", "robust-g", "G-p"),
    ("robust-G, t(FG df)", "robust-g", "fg"),
    ("KC, t(G-p)", "kauermann-carroll", "G-p"),
    ("KC, t(G-p-1)", "kauermann-carroll", "G-p-1"),
    ("KC, t(FG df)", "kauermann-carroll", "fg"),
    ("MD, t(G-p)", "mancl-derouen", "G-p"),
    ("MD, t(G-p-1)", "mancl-derouen", "G-p-1"),
    ("MD, t(FG df)", "mancl-derouen", "fg"),
    ("FG, t(G-p)", "fay-graubard", "G-p"),
    ("FG, t(FG df)", "fay-graubard", "fg"),
)
FITTED = ("robust", "kauermann-carroll", "mancl-derouen", "fay-graubard")


@dataclass(frozen=True)
class Design:
    frailty: str
    frailty_sd: float
    events: float
    baseline: str
    shape: float
    model: str
    mean_size: float
    cv: float
    stratum_clusters: int | None = None

    def rate_per_day(self) -> float:
        """Baseline scale so that P(T <= 2 years) = ``events`` at frailty 1, control arm."""
        shape = self.shape if self.baseline == "weibull" else 1.0
        return float((-np.log1p(-self.events)) ** (1 / shape) / FOLLOW_UP_DAYS)


def simulate(rng: np.random.Generator, n_clusters: int, log_hr: float, d: Design) -> pd.DataFrame:
    """One trial (see the module docstring)."""
    s2 = np.log1p(d.cv**2)
    sizes = np.maximum(
        2, np.round(rng.lognormal(np.log(d.mean_size) - s2 / 2, np.sqrt(s2), n_clusters))
    ).astype(int)
    if d.model == "stratum":
        per = d.stratum_clusters or n_clusters // 2
        stratum = np.arange(n_clusters) // per
        treat = np.empty(n_clusters, dtype=int)
        for s in np.unique(stratum):
            members = rng.permutation(np.flatnonzero(stratum == s))
            treat[members] = np.arange(len(members)) % 2
    else:
        stratum = np.zeros(n_clusters, dtype=int)
        treat = rng.permutation(np.arange(n_clusters) % 2)
    if d.frailty == "gamma":
        v = d.frailty_sd**2
        frailty = rng.gamma(1 / v, v, n_clusters)
    else:
        frailty = np.exp(rng.normal(-(d.frailty_sd**2) / 2, d.frailty_sd, n_clusters))
    cl = np.repeat(np.arange(n_clusters), sizes)
    n = len(cl)
    x = rng.standard_normal(n)
    eta = log_hr * treat[cl] + STRATUM_LOG_HR * (stratum[cl] % 2)
    if d.model == "covariate":
        eta = eta + X_LOG_HR * x
    shape = d.shape if d.baseline == "weibull" else 1.0
    # S(t) = exp(-(rate t)^shape * frailty * exp(eta))  =>  invert a uniform
    hazard_mult = frailty[cl] * np.exp(eta)
    t_event = (-np.log(rng.random(n)) / hazard_mult) ** (1 / shape) / d.rate_per_day()
    event = t_event <= FOLLOW_UP_DAYS
    return pd.DataFrame(
        {
            "cluster": cl,
            "treat": treat[cl],
            "stratum": stratum[cl],
            "x": x,
            "time": np.floor(np.minimum(t_event, FOLLOW_UP_DAYS)),
            "event": event.astype(int),
        }
    )


def one_trial(
    seed: np.random.SeedSequence, n_clusters: int, log_hr: float, d: Design
) -> dict[str, Any] | None:
    """Estimate, SE and df of ``treat`` under every method; None if a fit fails."""
    data = simulate(np.random.default_rng(seed), n_clusters, log_hr, d)
    kw: dict[str, Any] = {"duration": "time", "event": "event", "cluster": "cluster"}
    formula = MODELS[d.model]
    try:
        fits = {c: fit_cox(formula, data, cov_type=c, df="fay-graubard", **kw) for c in FITTED}
    except ModelError:
        return None
    if not all(f.diagnostics.converged for f in fits.values()):
        return None
    p = len(fits["robust"].params)
    beta = float(fits["robust"].params["treat"])
    out: dict[str, Any] = {"beta": beta, "events": float(data["event"].mean())}
    for label, cov, rule in METHODS:
        # robust-g is the robust fit x G/(G - 1); a common factor leaves the FG df unchanged
        fit = fits["robust" if cov == "robust-g" else cov]
        se = float(fit.bse["treat"])
        if cov == "robust-g":
            se *= np.sqrt(n_clusters / (n_clusters - 1))
        df = {
            "z": np.inf,
            "G-p": n_clusters - p,
            "G-p-1": n_clusters - p - 1,
            "fg": float(fit.df["treat"]),
        }[rule]
        out[label] = (se, df)
    return out


def limit_of_estimate(log_hr: float, d: Design, seed: int) -> float:
    """The marginal Cox target: the estimate from one trial of 20,000 clusters."""
    data = simulate(np.random.default_rng(seed), 20_000, log_hr, d)
    res = fit_cox(
        MODELS[d.model], data, duration="time", event="event", cluster=None,
        cov_type="model",
    )  # fmt: skip
    return float(res.params["treat"])


def run_cell(
    n_clusters: int, reps: int, log_hr: float, d: Design, seed: int, scenario: int, jobs: int
) -> list[dict[str, Any]]:
    children = np.random.SeedSequence([seed, scenario, n_clusters]).spawn(reps)
    if jobs > 1:
        from joblib import Parallel, delayed

        rows = Parallel(n_jobs=jobs)(delayed(one_trial)(s, n_clusters, log_hr, d) for s in children)
    else:
        rows = [one_trial(s, n_clusters, log_hr, d) for s in children]
    return [r for r in rows if r is not None]


def summarise(
    null: list[dict[str, Any]], effect: list[dict[str, Any]], target: float | None
) -> dict[str, dict[str, float]]:
    """Type I error, SE ratio, coverage and power (percent) of each method."""
    out: dict[str, dict[str, float]] = {}
    b0 = np.array([r["beta"] for r in null])
    sd0 = float(np.std(b0, ddof=1))
    for label, _, _ in METHODS:
        se0 = np.array([r[label][0] for r in null])
        df0 = np.array([r[label][1] for r in null])
        crit0 = stats.t.ppf(0.975, df0)
        row = {
            "type1": 100 * float(np.mean(np.abs(b0) / se0 > crit0)),
            "se_ratio": float(np.mean(se0) / sd0),
            "mean_df": float(np.mean(df0)) if np.isfinite(df0).all() else float("inf"),
        }
        if effect and target is not None:
            b1 = np.array([r["beta"] for r in effect])
            se1 = np.array([r[label][0] for r in effect])
            crit1 = stats.t.ppf(0.975, np.array([r[label][1] for r in effect]))
            row["coverage"] = 100 * float(np.mean(np.abs(b1 - target) <= crit1 * se1))
            row["power"] = 100 * float(np.mean(np.abs(b1) / se1 > crit1))
        out[label] = row
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| clusters | method | type I % | coverage % | power % | SE ratio | mean df |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, cell in results["cells"].items():
        for label, row in cell["methods"].items():
            cov = f"{row['coverage']:.1f}" if "coverage" in row else "–"
            pw = f"{row['power']:.1f}" if "power" in row else "–"
            lines.append(
                f"| {key} | {label} | {row['type1']:.1f} | {cov} | {pw} | "
                f"{row['se_ratio']:.3f} | {row['mean_df']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clusters", type=int, nargs="+", default=[12, 24, 32])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--effect-reps", type=int, default=None)
    ap.add_argument("--frailty", choices=("lognormal", "gamma"), default="lognormal")
    ap.add_argument("--frailty-sd", type=float, default=0.4)
    ap.add_argument("--events", type=float, default=0.45)
    ap.add_argument("--baseline", choices=("exponential", "weibull"), default="exponential")
    ap.add_argument("--shape", type=float, default=0.8)
    ap.add_argument("--model", choices=tuple(MODELS), default="treat")
    ap.add_argument("--mean-size", type=float, default=20.0)
    ap.add_argument("--cv", type=float, default=0.6)
    ap.add_argument("--stratum-clusters", type=int, default=None)
    ap.add_argument("--log-hr", type=float, default=-0.4)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args(argv)
    d = Design(
        args.frailty, args.frailty_sd, args.events, args.baseline, args.shape, args.model,
        args.mean_size, args.cv, args.stratum_clusters,
    )  # fmt: skip
    effect_reps = args.reps if args.effect_reps is None else args.effect_reps
    target = limit_of_estimate(args.log_hr, d, args.seed) if effect_reps else None
    results: dict[str, Any] = {
        "design": {k: v for k, v in vars(args).items() if k not in ("json", "markdown")}
        | {"formula": MODELS[args.model], "target_log_hr": target},
        "cells": {},
    }
    for G in args.clusters:
        t0 = time.time()
        null = run_cell(G, args.reps, 0.0, d, args.seed, 0, args.jobs)
        effect = run_cell(G, effect_reps, args.log_hr, d, args.seed, 1, args.jobs)
        cell = {
            "null_trials": len(null),
            "effect_trials": len(effect),
            "null_failed": args.reps - len(null),
            "effect_failed": effect_reps - len(effect),
            "mean_event_share": float(np.mean([r["events"] for r in null])),
            "seconds": round(time.time() - t0, 1),
            "methods": summarise(null, effect, target),
        }
        results["cells"][str(G)] = cell
        print(
            f"G={G}: {len(null)} null + {len(effect)} effect trials, events "
            f"{cell['mean_event_share']:.2f}, {cell['seconds']} s",
            file=sys.stderr,
            flush=True,
        )
    table = markdown(results)
    print(f"target log HR {target}\n" + table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
            fh.write("\n")
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table)


if __name__ == "__main__":
    main()
