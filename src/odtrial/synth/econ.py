"""The synthetic POD trial's economic data: EQ-5D-5L responses and community service use.

Drawn after every other table from their own random stream, so the other extracts are
byte for byte those of the trial without them, and given no injected faults.

EQ-5D-5L: a latent health ``h`` per person and visit, ``h0 = -0.3 + 0.8 f + c + e`` at
baseline and ``h = 0.3 + 0.25 POD + 0.6 f + c + e`` at 12 and 24 months (``f ~ N(0, 1)`` a
person's frailty, ``c ~ N(0, 0.3^2)`` the cluster's, ``e ~ N(0, 0.6^2)``); each dimension's
level is 1 plus the number of thresholds (-0.3, 0.5, 1.2, 2.0) that ``-h + offset + N(0,
0.7^2)`` exceeds. A follow-up questionnaire exists when the follow-up assessment does
(same date); 3% of baseline questionnaires are missing, and 2% of questionnaires lack one
answer. Community contacts: GP and community mental health team (CMHT) contacts, Poisson
given a person's gamma(2, 1/2) frailty and a cluster's lognormal (SD 0.2) effect, uniform
over the 24-month window. Antipsychotics (the prescriptions table) are costed per WHO
defined daily dose.

The truth (``truth.json`` ``health_economics``): the expected QALYs and costs per arm
standardised over the trial's participants and cluster-effect draws (Monte Carlo), in the
unit costs and price year this module writes beside ``trial.toml``.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.special import expit

from odtrial.data.drugs import DRUGS
from odtrial.econ import eq5d_utility, qalys
from odtrial.synth.events import ANTIPSYCHOTICS
from odtrial.synth.tables import EQ5D_FIELDS

OFFSETS: Final = np.array([-0.6, -0.5, 0.0, 0.2, 0.5])  # mobility ... anxiety/depression
THRESHOLDS: Final = np.array([-0.3, 0.5, 1.2, 2.0])
POD_EFFECT: Final = 0.25  # on the latent health at 12 and 24 months
# Expected contacts over 24 months in the control arm, and the POD rate ratio.
CONTACTS: Final = {"gp": (8.0, 0.95), "cmht": (10.0, 1.3)}
CONTACT_CLUSTER_SD: Final = 0.2
PRICE_YEAR: Final = 2023
INTERVENTION_COST_PER_CLUSTER: Final = 30000.0
DISCOUNT: Final = 0.035

UNIT_COSTS_TOML: Final = """\
# Unit costs of the synthetic POD trial's economic evaluation. ILLUSTRATIVE: plausible
# values in the style of PSSRU Unit Costs of Health and Social Care and the NHS National
# Cost Collection, not transcribed from them; a real trial cites each published value.
version = "synthetic-2023-1"

[[item]]
item = "mental_health_inpatient_bed_day"
unit = "adult acute mental health inpatient bed day"
cost = 490.0
price_year = 2021
source = "illustrative (NHS National Cost Collection style, mental health inpatient)"
category = "secondary_care"

[[item]]
item = "crisis_team_episode"
unit = "referral to a crisis resolution and home treatment team"
cost = 1500.0
price_year = 2022
source = "illustrative (NHS National Cost Collection style, crisis resolution)"
category = "secondary_care"

[[item]]
item = "gp_consultation"
unit = "GP surgery consultation (9.22 minutes)"
cost = 42.0
price_year = 2022
source = "illustrative (PSSRU style, general practitioner)"
category = "primary_care"

[[item]]
item = "cmht_contact"
unit = "community mental health team contact"
cost = 140.0
price_year = 2021
source = "illustrative (PSSRU style, community mental health team)"
category = "community_care"

[[item]]
item = "antipsychotic_ddd"
unit = "WHO defined daily dose of an oral antipsychotic (net ingredient cost)"
cost = 0.6
price_year = 2022
source = "illustrative (Prescription Cost Analysis and Drug Tariff style, mean cost per DDD)"
category = "medication"
"""

PRICE_INDEX_TOML: Final = """\
# ILLUSTRATIVE price index for the synthetic trial (NHS cost inflation index style).
name = "NHS cost inflation index, pay and prices (illustrative)"
source = "illustrative values for the synthetic trial"

[index]
2020 = 100.0
2021 = 102.5
2022 = 108.0
2023 = 113.0
"""


def unit_costs_in(unit_costs_toml: str, price_index_toml: str, year: int) -> dict[str, float]:
    """Each item's unit cost of a synthetic trial's unit-cost table moved to ``year``
    with its price index (both TOML texts)."""
    import tomllib

    idx = {int(k): v for k, v in tomllib.loads(price_index_toml)["index"].items()}
    items = tomllib.loads(unit_costs_toml)["item"]
    return {i["item"]: i["cost"] * idx[year] / idx[i["price_year"]] for i in items}


def eq5d_levels(h: np.ndarray, offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """EQ-5D-5L levels (n x 5) from latent health ``h`` (n): each dimension's severity
    (``offsets``, mobility ... anxiety/depression, plus noise) against shared thresholds."""
    sev = -h[:, None] + offsets[None, :] + rng.normal(0, 0.7, (len(h), 5))
    return 1 + (sev[:, :, None] > THRESHOLDS[None, None, :]).sum(axis=2)


def _unit_costs() -> dict[str, float]:
    return unit_costs_in(UNIT_COSTS_TOML, PRICE_INDEX_TOML, PRICE_YEAR)


def _levels(h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return eq5d_levels(h, OFFSETS, rng)


def _health(
    treated: np.ndarray, cl: np.ndarray, n_cl: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Latent health at months 0, 12 and 24."""
    n = len(treated)
    f = rng.normal(0, 1, n)
    c = rng.normal(0, 0.3, n_cl)[cl]
    h0 = -0.3 + 0.8 * f + c + rng.normal(0, 0.6, n)
    out = [h0]
    for _ in (12, 24):
        out.append(0.3 + POD_EFFECT * treated + 0.6 * f + c + rng.normal(0, 0.6, n))
    return out


def econ_tables(
    p: Any,
    n_clusters: int,
    fu_end: np.ndarray,
    followup: pd.DataFrame,
    cutoff: int,
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """The ``eq5d`` and ``community_contacts`` tables (canonical fields, ``_pid``)."""
    n = len(p.treated)
    hs = _health(p.treated.astype(float), p.cluster, n_clusters, rng)
    rows = []
    base_missing = rng.random(n) < 0.03
    keep = ~base_missing
    rows.append(
        pd.DataFrame({"_pid": np.flatnonzero(keep), "month": 0, "assessment_date": p.consent[keep]})
    )
    levels = {0: _levels(hs[0], rng)}
    for k, m in enumerate((12, 24), start=1):
        levels[m] = _levels(hs[k], rng)
        fu = followup[followup["visit_month"] == m]
        rows.append(
            pd.DataFrame(
                {
                    "_pid": fu["_pid"].to_numpy(),
                    "month": m,
                    "assessment_date": fu["assessment_date"].to_numpy(),
                }
            )
        )
    eq = pd.concat(rows, ignore_index=True)
    lv = np.vstack([levels[int(m)][pid] for pid, m in zip(eq["_pid"], eq["month"], strict=True)])
    lv = lv.astype(float)
    gap = rng.random(len(eq)) < 0.02
    lv[np.flatnonzero(gap), rng.integers(0, 5, int(gap.sum()))] = np.nan
    for j, fld in enumerate(EQ5D_FIELDS):
        eq[fld] = lv[:, j]
    eq = eq.sort_values(["_pid", "month"], kind="stable").reset_index(drop=True)

    frames = []
    frail = rng.gamma(2.0, 0.5, (n, len(CONTACTS)))
    for s, (service, (mean, rr)) in enumerate(CONTACTS.items()):
        u = rng.normal(0, CONTACT_CLUSTER_SD, n_clusters)[p.cluster]
        mu = mean * np.where(p.treated, rr, 1.0) * np.exp(u - CONTACT_CLUSTER_SD**2 / 2)
        span = fu_end - p.consent
        mu = mu * frail[:, s] * span / span.mean()
        k = rng.poisson(mu)
        owner = np.repeat(np.arange(n), k)
        when = p.consent[owner] + np.floor(rng.random(len(owner)) * span[owner]).astype(np.int64)
        frames.append(pd.DataFrame({"_pid": owner, "contact_date": when, "service": service}))
    cc = pd.concat(frames, ignore_index=True)
    # one contact a day with a service (a second would be a duplicate record)
    cc = cc[cc["contact_date"] <= cutoff].drop_duplicates(["_pid", "contact_date", "service"])
    cc = cc.sort_values(["_pid", "contact_date", "service"], kind="stable").reset_index(drop=True)
    return {"eq5d": eq, "community_contacts": cc}


def _antipsychotic_ddds(
    p: Any,
    n_clusters: int,
    prm: Any,
    years: np.ndarray,
    rng: np.random.Generator,
    *,
    draws: int = 50,
) -> dict[str, float]:
    """Expected antipsychotic WHO DDDs per participant over the window, by arm: P(any) x
    expected share of the window covered x the covered days x the expected daily DDDs of
    a prescribed dose, which follows the generator's path (person's CPZ-equivalent dose,
    drug from the prescribing mix, per-course jitter, rounded to the drug's tablet step
    and capped at its BNF maximum: the cap binds often, so it is not ignorable). Monte
    Carlo over cluster effects, and over persons' doses and drugs."""
    names = [a[0] for a in ANTIPSYCHOTICS]
    mix = np.asarray([a[1] for a in ANTIPSYCHOTICS])
    step = np.asarray([a[2] for a in ANTIPSYCHOTICS])
    per_cpz = np.asarray([DRUGS[d].woods2003_mg_per_100cpz for d in names], dtype=float) / 100
    max_mg = np.asarray([DRUGS[d].max_daily_mg for d in names], dtype=float)
    ddd = np.asarray([DRUGS[d].ddd for d in names], dtype=float)
    a, b = prm.ap_coverage_beta
    days = years * 365.25 - 2
    n = len(p.treated)
    out: dict[str, list[float]] = {"pod": [], "tau": []}
    for _ in range(draws):
        u_any = rng.normal(0, prm.any_antipsychotic.cluster_sd, n_clusters)
        u_dose = rng.normal(0, prm.cpz_log_dose.cluster_sd, n_clusters)
        person = rng.normal(0, prm.cpz_person_sd, n)
        drug = rng.choice(len(names), size=n, p=mix)
        jitter = np.exp(rng.normal(0, 0.1, n))
        for arm, tag in ((True, "pod"), (False, "tau")):
            t = np.full(n, arm)
            apr = expit(prm.any_antipsychotic.eta(p, u_any, t))
            cpz = np.exp(prm.cpz_log_dose.eta(p, u_dose, t) + person)
            mg = np.round(cpz * per_cpz[drug] * jitter / step[drug]) * step[drug]
            daily = np.clip(mg, step[drug], max_mg[drug]) / ddd[drug]
            out[tag].append(float(np.mean(apr * a / (a + b) * days * daily)))
    return {k: float(np.mean(v)) for k, v in out.items()}


def econ_truth(
    p: Any,
    n_clusters: int,
    prm: Any,
    years: np.ndarray,
    implied: dict[str, float],
    rng: np.random.Generator,
    *,
    draws: int = 40,
) -> dict[str, Any]:
    """Expected QALYs and costs per arm (see the module notes), and their differences."""
    n = len(p.treated)
    crisis = {}
    for arm, tag in ((True, "pod"), (False, "tau")):
        eta = prm.crisis.eta(p, np.zeros(n_clusters), np.full(n, arm))
        crisis[tag] = float(np.mean(np.exp(eta) * years)) * np.exp(prm.crisis.cluster_sd**2 / 2)
    q: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(draws):
        state = rng.bit_generator.state
        for arm in (True, False):
            r = np.random.default_rng()
            r.bit_generator.state = state  # the same draws under both arms
            hs = _health(np.full(n, float(arm)), p.cluster, n_clusters, r)
            u = np.column_stack([eq5d_utility(_levels(h, r), version="5L") for h in hs])
            q[arm].append(float(np.mean(qalys(u, [0.0, 1.0, 2.0], discount=DISCOUNT))))
        rng.random()
    ap_ddds = _antipsychotic_ddds(p, n_clusters, prm, years, rng)
    uc = _unit_costs()
    # events spread evenly over two years: the second year's half is discounted once
    disc = (1 + 1 / (1 + DISCOUNT)) / 2
    arms = {}
    for arm, tag in ((True, "pod"), (False, "tau")):
        contacts = {s: m * (rr if arm else 1.0) for s, (m, rr) in CONTACTS.items()}
        treated = p.treated if arm else ~p.treated
        sizes = np.bincount(p.cluster[treated], minlength=n_clusters)
        interv = INTERVENTION_COST_PER_CLUSTER * (sizes > 0).sum() / treated.sum() if arm else 0.0
        cost = disc * (
            uc["mental_health_inpatient_bed_day"] * implied[f"bed_days_per_2y_{tag}"]
            + uc["crisis_team_episode"] * crisis[tag]
            + uc["gp_consultation"] * contacts["gp"]
            + uc["cmht_contact"] * contacts["cmht"]
            + uc["antipsychotic_ddd"] * ap_ddds[tag]
        )
        arms[tag] = {
            "qalys": round(float(np.mean(q[arm])), 5),
            "cost": round(float(cost + interv), 2),
            "intervention_cost": round(float(interv), 2),
            "gp_contacts": contacts["gp"],
            "cmht_contacts": contacts["cmht"],
            "crisis_referrals": round(crisis[tag], 4),
            "bed_days": implied[f"bed_days_per_2y_{tag}"],
            "antipsychotic_ddds": round(ap_ddds[tag], 2),
        }
    return {
        "price_year": PRICE_YEAR,
        "unit_costs_in_price_year": {k: round(v, 4) for k, v in uc.items()},
        "by_arm": arms,
        "incremental_cost": round(arms["pod"]["cost"] - arms["tau"]["cost"], 2),
        "incremental_qalys": round(arms["pod"]["qalys"] - arms["tau"]["qalys"], 5),
        "note": "expected values over this trial's participants (the intervention cost is "
        "the realised share per participant) and "
        f"{draws} Monte Carlo draws of the EQ-5D model; costs discounted at 3.5% in year 2 "
        "assuming use spread evenly over the 24 months; bed days, crisis referrals and "
        "antipsychotic defined daily doses from the implied expectations of their generating "
        "models (the DDDs: courses open at extract, and a window's edges, not modelled)",
    }
