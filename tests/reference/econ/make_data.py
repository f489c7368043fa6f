"""Generate the bivariate cost-effectiveness reference datasets.

Run from this folder: ``python make_data.py``. Uses odtrial's simulator
(``odtrial.econ.simulate``) with fixed seeds; values are rounded to 6
decimals so the CSVs are the data R and Python both read.

| name | seed | clusters | model |
|---|---|---|---|
| cea_24 | 11 | 24 (12 per arm) | cost, qaly ~ treat + baseline_cost + baseline_utility |
| cea_16_skew | 22 | 16 (8 per arm), gamma cost errors | cost, qaly ~ treat |
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from odtrial.econ.simulate import CEAScenario, simulate_cea_trial

HERE = Path(__file__).resolve().parent

SPECS = {
    "cea_24": (11, CEAScenario()),
    "cea_16_skew": (
        22,
        CEAScenario(clusters_per_arm=8, skewed_costs=True, sd_cluster_cost=600.0, rho_cluster=0.5),
    ),
}


def main() -> None:
    for name, (seed, scenario) in SPECS.items():
        df = simulate_cea_trial(scenario, np.random.default_rng(seed))
        df.round(6).to_csv(HERE / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
