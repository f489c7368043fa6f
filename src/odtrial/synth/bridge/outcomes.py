"""BRIDGE's generating model: PHQ-9 at each visit and antidepressant prescribing.

PHQ-9 total at visit m (3, 12, 24 months), before rounding and clipping to 0..27::

    Y_im = mu_m + delta_m * CC_i + beta * (phq9_baseline_i - 16) + s_locality(i)
           + u_j(i),m + v_i + e_im

``u_j,m ~ N(0, cluster_sd^2)`` independently per visit, a person effect ``v_i ~ N(0,
person_sd^2)`` shared by the visits, ``e_im ~ N(0, residual_sd^2)``. The total is rounded,
clipped and spread over the nine items (each 0..3); an item is missing with a small
probability. Any antidepressant prescribed in the 12 months after consent::

    logit P = a0 + log(OR) * CC_i + a_prior * prior_antidepressant_i
              + a_phq * (phq9_baseline_i - 16) + t_locality(i) + w_j(i)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from odtrial.synth.bridge.design import ARMS, LOCALITIES, VISIT_SCHEDULE
from odtrial.synth.bridge.population import Participants

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
VISITS = tuple(m for m, _ in VISIT_SCHEDULE)


@dataclass(frozen=True)
class Parameters:
    """Every generating parameter (defaults: the shipped BRIDGE trial)."""

    phq_mean_uc: dict[int, float] = field(default_factory=lambda: {3: 13.0, 12: 10.5, 24: 9.5})
    phq_effect_cc: dict[int, float] = field(default_factory=lambda: {3: -1.5, 12: -2.0, 24: -1.0})
    phq_baseline_slope: float = 0.5
    phq_cluster_sd: float = 1.2
    phq_person_sd: float = 3.0
    phq_residual_sd: float = 4.0
    item_missing: float = 0.015
    # attendance at each visit: logit of the probability of an interview
    attend_logit: dict[int, float] = field(default_factory=lambda: {3: 2.3, 12: 1.6, 24: 1.2})
    attend_cc: float = 0.2
    attend_phq: float = -0.05  # per baseline point above 16
    ad_intercept: float = -0.4
    ad_log_or_cc: float = math.log(1.6)
    ad_prior: float = 1.6
    ad_phq: float = 0.08
    ad_cluster_sd: float = math.sqrt(0.05 / 0.95 * math.pi**2 / 3)  # latent ICC 0.05
    late_start: float = 0.12  # non-users in months 0-12 who start in months 12-24
    other_scripts: float = 0.2  # hypnotics and anxiolytics, which are not antidepressants


@dataclass(frozen=True)
class Outcomes:
    phq_total: dict[int, FloatArray]  # true total per visit (integer valued)
    attended: dict[int, BoolArray]
    any_ad_12m: BoolArray


def person_outcomes(
    p: Participants, n_clusters: int, prm: Parameters, rng: np.random.Generator
) -> Outcomes:
    """Draw every participant's PHQ-9 totals, attendance and 12-month prescribing."""
    n = len(p)
    v = rng.normal(0, prm.phq_person_sd, n)
    totals, attended = {}, {}
    for m in VISITS:
        u = rng.normal(0, prm.phq_cluster_sd, n_clusters)
        e = rng.normal(0, prm.phq_residual_sd, n)
        totals[m] = _clip(_phq_mean(p, prm, m, p.treated) + u[p.cluster] + v + e)
        lp = (
            prm.attend_logit[m]
            + prm.attend_cc * p.treated
            + prm.attend_phq * (p.phq9_baseline - 16)
        )
        attended[m] = rng.random(n) < 1 / (1 + np.exp(-lp))
    w = rng.normal(0, prm.ad_cluster_sd, n_clusters)
    any_ad = rng.random(n) < _expit(_ad_eta(p, prm, p.treated) + w[p.cluster])
    return Outcomes(totals, attended, any_ad)


def _clip(y: FloatArray) -> FloatArray:
    return np.clip(np.rint(y), 0, 27)


def _expit(x: FloatArray) -> FloatArray:
    return 1 / (1 + np.exp(-x))


def _phq_mean(p: Participants, prm: Parameters, m: int, treated: BoolArray) -> FloatArray:
    s = np.asarray([lo.effect for lo in LOCALITIES])
    return (
        prm.phq_mean_uc[m]
        + prm.phq_effect_cc[m] * treated
        + prm.phq_baseline_slope * (p.phq9_baseline - 16)
        + s[p.locality]
    )


def _ad_eta(p: Participants, prm: Parameters, treated: BoolArray) -> FloatArray:
    t = np.asarray([lo.ad_effect for lo in LOCALITIES])
    return (
        prm.ad_intercept
        + prm.ad_log_or_cc * treated
        + prm.ad_prior * p.prior_ad
        + prm.ad_phq * (p.phq9_baseline - 16)
        + t[p.locality]
    )


def spread_items(total: FloatArray, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Nine items (0..3 each) adding up to each total: points go one at a time to a
    random item that is not yet at 3, the first items (mood, anhedonia) more often."""
    weight = np.asarray([1.4, 1.4, 1.2, 1.3, 1.0, 1.0, 0.9, 0.7, 0.4])
    items = np.zeros((total.size, 9), dtype=np.int64)
    for i, t in enumerate(total.astype(np.int64).tolist()):
        for _ in range(t):
            w = np.where(items[i] < 3, weight, 0.0)
            items[i, rng.choice(9, p=w / w.sum())] += 1
    return items


def implied_estimands(
    p: Participants, n_clusters: int, prm: Parameters, rng: np.random.Generator, draws: int
) -> dict[str, Any]:
    """Population-averaged contrasts over this trial's participants (Monte Carlo): the mean
    PHQ-9 difference after rounding and clipping, and the marginal antidepressant risks."""
    n = len(p)
    cc, uc = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    out: dict[str, Any] = {}
    for m in VISITS:
        diff = 0.0
        for _ in range(draws):
            noise = (
                rng.normal(0, prm.phq_cluster_sd, n_clusters)[p.cluster]
                + rng.normal(0, prm.phq_person_sd, n)
                + rng.normal(0, prm.phq_residual_sd, n)
            )
            diff += float(
                (
                    _clip(_phq_mean(p, prm, m, cc) + noise)
                    - _clip(_phq_mean(p, prm, m, uc) + noise)
                ).mean()
            )
        out[f"phq9_{m}m_mean_difference"] = round(diff / draws, 4)
    risk = {ARMS[0]: 0.0, ARMS[1]: 0.0}
    for _ in range(draws):
        w = rng.normal(0, prm.ad_cluster_sd, n_clusters)[p.cluster]
        risk[ARMS[0]] += float(_expit(_ad_eta(p, prm, cc) + w).mean())
        risk[ARMS[1]] += float(_expit(_ad_eta(p, prm, uc) + w).mean())
    r1, r0 = risk[ARMS[0]] / draws, risk[ARMS[1]] / draws
    out["any_antidepressant_12m_risk"] = {ARMS[0]: round(r1, 4), ARMS[1]: round(r0, 4)}
    out["any_antidepressant_12m_marginal_or"] = round(r1 / (1 - r1) / (r0 / (1 - r0)), 4)
    return out


def truth_parameters(prm: Parameters) -> dict[str, Any]:
    """The parameters for truth.json, with the models they belong to in words."""
    raw = asdict(prm)
    for k, v in raw.items():
        if isinstance(v, dict):
            raw[k] = {str(m): x for m, x in v.items()}
        elif isinstance(v, float):
            raw[k] = round(v, 6)
    return {
        "phq9_model": "Y_m = phq_mean_uc[m] + phq_effect_cc[m]*CC + phq_baseline_slope*"
        "(phq9_baseline - 16) + locality effect + N(0, phq_cluster_sd^2) per cluster and visit "
        "+ N(0, phq_person_sd^2) per person + N(0, phq_residual_sd^2); rounded, clipped to 0..27",
        "antidepressant_model": "logit P(any antidepressant issued in months 0-12) = ad_intercept "
        "+ ad_log_or_cc*CC + ad_prior*prior_antidepressant + ad_phq*(phq9_baseline - 16) "
        "+ locality effect + N(0, ad_cluster_sd^2) per cluster",
        "locality_effects": {
            lo.id: {"phq9": lo.effect, "antidepressant_log_odds": lo.ad_effect} for lo in LOCALITIES
        },
        "true_effects": {
            "phq9_3m_mean_difference_conditional": prm.phq_effect_cc[3],
            "phq9_12m_mean_difference_conditional": prm.phq_effect_cc[12],
            "phq9_24m_mean_difference_conditional": prm.phq_effect_cc[24],
            "any_antidepressant_12m_odds_ratio_conditional": round(math.exp(prm.ad_log_or_cc), 6),
        },
        "values": raw,
    }
