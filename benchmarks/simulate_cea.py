"""Bias and interval coverage of odtrial.econ.cea in simulated cluster trials (issue 13).

Simulates two-arm cluster trials with ``odtrial.econ.simulate_cea_trial``:
12 clusters per arm (sizes uniform 10-30), baseline cost and utility,
correlated cluster effects on cost and QALYs (SD £400 and 0.04, correlation
-0.4) and correlated individual errors (SD £1,500 and 0.15, correlation
-0.3); truth ΔC = £300, ΔE = 0.03 QALYs, so INMB = £300 at £20,000 and £600
at £30,000 per QALY. Scenarios:

* ``normal``: normal errors, analysis adjusted for baseline cost and utility;
* ``unadjusted``: the same trials analysed without the baselines;
* ``skewed``: right-skewed (gamma, shape 2) individual cost errors, adjusted.

Both methods are fitted to every trial: the bivariate multilevel model
(REML, t on clusters - 2 df; ``bivariate_kr``: with the Kenward-Roger
covariance and df instead) and the two-stage bootstrap with shrinkage
(``--n-boot`` samples, percentile intervals). Reported: mean bias of ΔC and
ΔE with its Monte Carlo SE, coverage of the 95% INMB interval at £20,000 and
£30,000 with its MC SE, mean interval width, the range of the CEAC, and the
share of fits with warnings.

Every trial draws from its own ``SeedSequence`` child, so a 100-trial run is
the first 100 trials of a 1,000-trial run.

    python benchmarks/simulate_cea.py --trials 100
    python benchmarks/simulate_cea.py --trials 1000 --markdown /tmp/cea.md

The figures in docs/health_economics.md come from this script.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from odtrial.econ import CEAScenario, cea, simulate_cea_trial

WTP = (20000.0, 30000.0)
SCENARIOS: dict[str, tuple[CEAScenario, bool]] = {
    "normal": (CEAScenario(), True),
    "unadjusted": (CEAScenario(), False),
    "skewed": (replace(CEAScenario(), skewed_costs=True), True),
}


def run_trial(
    scenario: CEAScenario, adjust: bool, method: str, seed: np.random.SeedSequence, n_boot: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    data = simulate_cea_trial(scenario, rng)
    covs = ["baseline_cost", "baseline_utility"] if adjust else None
    df = "kenward-roger" if method == "bivariate_kr" else None
    res = cea(
        data,
        cost="cost",
        effect="qaly",
        treat="treat",
        cluster="cluster",
        covariates=covs,
        wtp=WTP,
        method="bivariate" if method == "bivariate_kr" else method,
        df=df,
        n_boot=n_boot,
        seed=int(seed.generate_state(1)[0]),
    )
    inmb = res.inmb
    row: dict[str, float] = {
        "d_cost": res.incremental_cost,
        "d_effect": res.incremental_effect,
        "ceac_min": float(res.ceac["probability"].min()),
        "ceac_max": float(res.ceac["probability"].max()),
        "warned": float(bool(res.warnings)),
        "singular": float(res.fit is not None and res.fit.singular),
    }
    for w in WTP:
        truth = scenario.inmb(w)
        lo, hi = inmb.loc[w, "ci_lower"], inmb.loc[w, "ci_upper"]
        row[f"cover_{w:.0f}"] = float(lo <= truth <= hi)
        row[f"width_{w:.0f}"] = float(hi - lo)
        row[f"inmb_{w:.0f}"] = float(inmb.loc[w, "estimate"])
    return row


def summarise(rows: pd.DataFrame, scenario: CEAScenario) -> dict[str, str]:
    n = len(rows)

    def bias(col: str, truth: float, fmt: str) -> str:
        b = rows[col].mean() - truth
        se = rows[col].std(ddof=1) / np.sqrt(n)
        return f"{b:{fmt}} ({se:{fmt}})"

    out = {
        "bias ΔC £": bias("d_cost", scenario.delta_cost, ".1f"),
        "bias ΔE": bias("d_effect", scenario.delta_qaly, ".4f"),
    }
    for w in WTP:
        c = rows[f"cover_{w:.0f}"].mean()
        out[f"coverage {w / 1000:.0f}k %"] = f"{100 * c:.1f} ({100 * np.sqrt(c * (1 - c) / n):.1f})"
    out["width 20k £"] = f"{rows['width_20000'].mean():.0f}"
    out["CEAC range"] = f"[{rows['ceac_min'].min():.3f}, {rows['ceac_max'].max():.3f}]"
    out["warnings %"] = f"{100 * rows['warned'].mean():.0f}"
    sing = rows["singular"] == 1
    out["singular %"] = f"{100 * sing.mean():.1f}"
    out["coverage 20k if singular / not %"] = (
        f"{100 * rows.loc[sing, 'cover_20000'].mean():.0f} / "
        f"{100 * rows.loc[~sing, 'cover_20000'].mean():.1f}"
        if sing.any()
        else "-"
    )
    return out


def _markdown(df: pd.DataFrame) -> str:
    cells = [list(map(str, df.columns)), *[[str(v) for v in r] for r in df.to_numpy()]]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("---" for _ in df.columns) + "|")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2013)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument(
        "--methods",
        nargs="+",
        default=["bivariate", "tsb"],
        choices=["bivariate", "bivariate_kr", "tsb"],
    )
    ap.add_argument("--markdown", help="write the table to this file too")
    args = ap.parse_args()
    children = np.random.SeedSequence(args.seed).spawn(args.trials)
    table = []
    for name in args.scenarios:
        scenario, adjust = SCENARIOS[name]
        for method in args.methods:
            t0 = time.perf_counter()
            rows = pd.DataFrame(
                [run_trial(scenario, adjust, method, ch, args.n_boot) for ch in children]
            )
            secs = time.perf_counter() - t0
            table.append(
                {
                    "scenario": name,
                    "method": method,
                    **summarise(rows, scenario),
                    "s": f"{secs:.0f}",
                }
            )
            print(f"{name:10s} {method:9s} done in {secs:.0f} s", flush=True)
    df = pd.DataFrame(table)
    text = (
        f"{args.trials} trials per scenario, seed {args.seed}, {args.n_boot} bootstrap samples; "
        "Monte Carlo SE in brackets\n\n" + _markdown(df)
    )
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
