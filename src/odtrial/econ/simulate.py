"""Simulated cluster trials with known incremental cost and QALYs.

For checking the cost-effectiveness methods (benchmarks/simulate_cea.py and
the tests): clusters of unequal size, half allocated to the intervention;
baseline cost and utility; cost and QALY outcomes with correlated cluster
effects and correlated individual errors; optionally right-skewed costs.

    cost = cost0 + delta_cost*treat + 0.5*(baseline_cost - 1000) + u_c + e_c
    qaly = qaly0 + delta_qaly*treat + 0.4*(baseline_utility - 0.6) + u_q + e_q

The truth is ``delta_cost`` and ``delta_qaly`` (so INMB(wtp) =
wtp*delta_qaly - delta_cost), conditional on the baselines and, because the
model is linear, also marginal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class CEAScenario:
    """Parameters of a simulated cluster trial (costs in pounds, QALYs over a year)."""

    clusters_per_arm: int = 12
    size_range: tuple[int, int] = (10, 30)
    cost0: float = 2000.0
    qaly0: float = 0.60
    delta_cost: float = 300.0
    delta_qaly: float = 0.03
    sd_cluster_cost: float = 400.0
    sd_cluster_qaly: float = 0.04
    rho_cluster: float = -0.4
    sd_cost: float = 1500.0
    sd_qaly: float = 0.15
    rho: float = -0.3
    skewed_costs: bool = False  # gamma (shape 2) individual cost errors, same SD

    def inmb(self, wtp: float) -> float:
        return wtp * self.delta_qaly - self.delta_cost


def simulate_cea_trial(scenario: CEAScenario, rng: np.random.Generator) -> pd.DataFrame:
    """One trial: columns cluster, treat (0/1), cost, qaly, baseline_cost, baseline_utility."""
    s = scenario
    k = 2 * s.clusters_per_arm
    treat_c = np.repeat([0, 1], s.clusters_per_arm)
    sizes = rng.integers(s.size_range[0], s.size_range[1] + 1, size=k)
    cov_u = _cov2(s.sd_cluster_cost, s.sd_cluster_qaly, s.rho_cluster)
    u = rng.multivariate_normal(np.zeros(2), cov_u, size=k)
    cl = np.repeat(np.arange(k), sizes)
    n = cl.size
    treat = treat_c[cl]
    z = rng.multivariate_normal(np.zeros(2), np.array([[1.0, s.rho], [s.rho, 1.0]]), size=n)
    if s.skewed_costs:  # gamma(2) quantiles of the normal scores, standardised
        g = stats.gamma.ppf(stats.norm.cdf(z[:, 0]), a=2.0)
        e_c = s.sd_cost * (g - 2.0) / np.sqrt(2.0)
    else:
        e_c = s.sd_cost * z[:, 0]
    e_q = s.sd_qaly * z[:, 1]
    base_cost = rng.gamma(2.0, 500.0, size=n)
    base_util = np.clip(rng.normal(0.6, 0.2, size=n), -0.2, 1.0)
    cost = s.cost0 + s.delta_cost * treat + 0.5 * (base_cost - 1000.0) + u[cl, 0] + e_c
    qaly = s.qaly0 + s.delta_qaly * treat + 0.4 * (base_util - 0.6) + u[cl, 1] + e_q
    return pd.DataFrame(
        {
            "cluster": [f"c{j:02d}" for j in cl],
            "treat": treat,
            "cost": cost,
            "qaly": qaly,
            "baseline_cost": base_cost,
            "baseline_utility": base_util,
        }
    )


def _cov2(sd1: float, sd2: float, rho: float) -> np.ndarray:
    return np.array([[sd1**2, rho * sd1 * sd2], [rho * sd1 * sd2, sd2**2]])
