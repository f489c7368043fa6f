"""Type I error of the Cox model's covariance choices in small cluster trials.

Not part of the unit suite (minutes of CPU). Run:
``python tests/reference/cox/simulate_type1.py [--reps 1000]``; writes
``type1_error.json`` next to this file. It is the evidence behind the default
``cov_type`` of :func:`odtrial.models.cox.fit_cox`.

Design (null: no arm effect): clusters in strata of 4 (1:1 within
stratum), gamma cluster sizes (mean 20, CV 0.6, at least 3), a log-normal
shared frailty (SD 0.5 on the log scale), Weibull hazard (shape 0.8) with
stratum effects, drop-out and administrative censoring at 730 whole days;
model ``~ arm + C(stratum)``, Efron ties. Each replicate has its own
SeedSequence child, so any subset of replicates can be reproduced.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from odtrial.errors import ModelError
from odtrial.models.cox import fit_cox

HERE = Path(__file__).resolve().parent
METHODS = ("robust z", "robust t", "robust-g t", "mancl-derouen t", "kauermann-carroll t")


def simulate(rng: np.random.Generator, n_clusters: int) -> pd.DataFrame:
    n_strata = n_clusters // 4
    strata = np.arange(n_clusters) % n_strata
    arm = np.empty(n_clusters, dtype=int)
    for s in range(n_strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        arm[members] = np.arange(len(members)) % 2
    sizes = np.maximum(3, np.round(rng.gamma(1 / 0.36, 20 * 0.36, n_clusters))).astype(int)
    frailty = np.exp(rng.normal(-0.125, 0.5, n_clusters))
    cl = np.repeat(np.arange(n_clusters), sizes)
    n = len(cl)
    eta = rng.normal(0, 0.3, n_strata)[strata[cl]]
    t_event = 900.0 * (-np.log(rng.random(n)) / (frailty[cl] * np.exp(eta))) ** (1 / 0.8)
    t_drop = rng.exponential(3000.0, n)
    t = np.floor(np.minimum.reduce([t_event, t_drop, np.full(n, 730.0)]))
    return pd.DataFrame(
        {
            "cluster": cl,
            "stratum": strata[cl],
            "arm": arm[cl],
            "time": t,
            "event": (t_event <= np.minimum(t_drop, 730.0)).astype(int),
        }
    )


def one(seed: np.random.SeedSequence, n_clusters: int) -> dict[str, bool] | None:
    d = simulate(np.random.default_rng(seed), n_clusters)
    kw = {"duration": "time", "event": "event", "cluster": "cluster"}
    try:
        fits = {
            c: fit_cox("~ arm + C(stratum)", d, cov_type=c, use_t=False, **kw)  # type: ignore[arg-type]
            for c in ("robust", "mancl-derouen", "kauermann-carroll")
        }
    except ModelError:
        return None
    p = len(fits["robust"].params)
    df = n_clusters - p
    z = {c: abs(f.params["arm"] / f.bse["arm"]) for c, f in fits.items()}
    zcrit, tcrit = stats.norm.ppf(0.975), stats.t.ppf(0.975, df)
    g = n_clusters / (n_clusters - 1)
    return {
        "robust z": bool(z["robust"] > zcrit),
        "robust t": bool(z["robust"] > tcrit),
        "robust-g t": bool(z["robust"] / np.sqrt(g) > tcrit),
        "mancl-derouen t": bool(z["mancl-derouen"] > tcrit),
        "kauermann-carroll t": bool(z["kauermann-carroll"] > tcrit),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--clusters", type=int, nargs="+", default=[12, 32])
    args = parser.parse_args()
    out: dict[str, object] = {"reps": args.reps, "nominal": 0.05}
    for G in args.clusters:
        children = np.random.SeedSequence(20261125 + G).spawn(args.reps)
        rows = [r for r in (one(s, G) for s in children) if r is not None]
        rates = {m: float(np.mean([r[m] for r in rows])) for m in METHODS}
        mcse = {m: float(np.sqrt(v * (1 - v) / len(rows))) for m, v in rates.items()}
        out[f"G={G}"] = {"fits": len(rows), "type1": rates, "mc_se": mcse}
        print(G, len(rows), {m: round(v, 3) for m, v in rates.items()}, flush=True)
    (HERE / "type1_error.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
