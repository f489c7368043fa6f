"""BRIDGE's economic data: EQ-5D-5L at each interview and primary-care contacts.

Drawn after the faults from their own random stream, so every other extract is byte for
byte that of the trial without them; no faults are injected into them, but a quarantined
participant's records (and an unlinkable NHS number's contacts) cascade as
``unknown_participant``, as the others do.

EQ-5D-5L: a latent health ``h`` per person and interview (months 0, 3, 12, 24),
``h_m = mu_m + effect_m CC - 0.06 (phq9_baseline - 16) + 0.7 f + c + e`` (``f ~ N(0, 1)``
a person's, ``c ~ N(0, 0.25^2)`` the practice's, ``e ~ N(0, 0.5^2)``); each dimension's
level is 1 plus the number of thresholds that ``-h + offset + N(0, 0.7^2)`` exceeds. The
baseline questionnaire is completed at consent (3% missing), a follow-up one with each
follow-up interview that took place (same date); 2% of questionnaires lack one answer.

Contacts: per service, a person's count over its period (Poisson given a gamma(2, 1/2)
frailty, the person's health ``exp(-0.3 f)`` and the practice's lognormal effect, all of
mean 1) on distinct days drawn uniformly over the period: the 24 months of follow-up,
the first 12 for psychological therapy, the first 6 for the case manager (collaborative
care only). Only participants with an NHS number at a site that sends practice records
(not NENC) have records.

The truth (``truth.json`` ``health_economics``): expected QALYs and costs per arm over the
participants whose contacts are collected (Monte Carlo for the QALYs), in the unit costs
and price year written beside ``trial.toml``.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial.econ import eq5d_utility, qalys
from odtrial.synth.bridge.design import EQ5D_FIELDS, EQ5D_MONTHS
from odtrial.synth.bridge.population import Participants
from odtrial.synth.econ import eq5d_levels, unit_costs_in
from odtrial.synth.events import add_months

MU: Final = {0: -0.6, 3: -0.2, 12: 0.1, 24: 0.2}  # latent health, usual care
CC_EFFECT: Final = {0: 0.0, 3: 0.15, 12: 0.25, 24: 0.15}  # on the latent health
OFFSETS: Final = np.array([-0.7, -0.9, -0.1, 0.0, 0.6])  # mobility ... anxiety/depression
CLUSTER_SD: Final = 0.25
RESIDUAL_SD: Final = 0.5
BASELINE_MISSING: Final = 0.03
ANSWER_MISSING: Final = 0.02
HEALTH_ON_USE: Final = -0.3  # log rate per SD of a person's latent health
#: service -> (expected contacts usual care, collaborative care; period in days from
#: consent, None: the whole follow-up; unit-cost item)
SERVICES: Final = {
    "gp_surgery": (6.0, 5.6, None, "gp_surgery_consultation"),
    "gp_telephone": (4.0, 4.0, None, "gp_telephone_consultation"),
    "practice_nurse": (2.5, 2.5, None, "practice_nurse_consultation"),
    "psychological_therapy": (2.5, 3.5, 365, "psychological_therapy_session"),
    "case_manager": (0.0, 7.0, 183, "case_manager_contact"),
}
CLUSTER_USE_SD: Final = 0.2
PRICE_YEAR: Final = 2024
INTERVENTION_COST_PER_CLUSTER: Final = 6000.0
DISCOUNT: Final = 0.035

UNIT_COSTS_TOML: Final = """\
# Unit costs of the synthetic BRIDGE trial's economic evaluation. ILLUSTRATIVE: plausible
# values in the style of PSSRU Unit Costs of Health and Social Care and the NHS National
# Cost Collection, not transcribed from them; a real trial cites each published value.
version = "bridge-synthetic-2024-1"

[[item]]
item = "gp_surgery_consultation"
unit = "GP surgery consultation (9.22 minutes)"
cost = 41.0
price_year = 2022
source = "illustrative (PSSRU style, general practitioner)"
category = "primary_care"

[[item]]
item = "gp_telephone_consultation"
unit = "GP telephone consultation"
cost = 22.0
price_year = 2022
source = "illustrative (PSSRU style, general practitioner)"
category = "primary_care"

[[item]]
item = "practice_nurse_consultation"
unit = "practice nurse consultation (15.5 minutes)"
cost = 12.0
price_year = 2021
source = "illustrative (PSSRU style, nurse in general practice)"
category = "primary_care"

[[item]]
item = "psychological_therapy_session"
unit = "NHS Talking Therapies (IAPT) high-intensity session"
cost = 105.0
price_year = 2022
source = "illustrative (NHS National Cost Collection style, IAPT)"
category = "psychological_therapy"

[[item]]
item = "case_manager_contact"
unit = "collaborative care case manager contact (30 minutes)"
cost = 35.0
price_year = 2023
source = "illustrative (PSSRU style, psychological wellbeing practitioner)"
category = "collaborative_care"
"""

PRICE_INDEX_TOML: Final = """\
# ILLUSTRATIVE price index for the synthetic BRIDGE trial (NHS cost inflation index style).
name = "NHS cost inflation index, pay and prices (illustrative)"
source = "illustrative values for the synthetic trial"

[index]
2021 = 100.0
2022 = 105.6
2023 = 110.9
2024 = 114.2
"""


def unit_costs() -> dict[str, float]:
    """Each item's unit cost in the analysis price year."""
    return unit_costs_in(UNIT_COSTS_TOML, PRICE_INDEX_TOML, PRICE_YEAR)


def _levels(h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return eq5d_levels(h, OFFSETS, rng)


def _health(
    p: Participants, treated: np.ndarray, n_cl: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """A person's health factor and the latent health at each EQ-5D month."""
    n = len(p)
    f = rng.normal(0, 1, n)
    c = rng.normal(0, CLUSTER_SD, n_cl)[p.cluster]
    base = -0.06 * (p.phq9_baseline - 16) + 0.7 * f + c
    h = {
        m: MU[m] + CC_EFFECT[m] * treated + base + rng.normal(0, RESIDUAL_SD, n)
        for m in EQ5D_MONTHS
    }
    return f, h


def linked(p: Participants, sends: np.ndarray) -> np.ndarray:
    """Participants whose contacts are collected: an NHS number, a site that sends them."""
    return (p.nhs != "") & sends[p.site]


def econ_tables(
    p: Participants,
    n_clusters: int,
    phq9: pd.DataFrame,
    sends: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """The ``eq5d`` and ``contacts`` tables (canonical fields, ``_pid``, ``_site``);
    ``phq9``: the interviews before faults; ``sends``: by site, whether it sends contacts."""
    n = len(p)
    f, h = _health(p, p.treated.astype(float), n_clusters, rng)
    levels = {m: _levels(h[m], rng) for m in EQ5D_MONTHS}
    keep = rng.random(n) >= BASELINE_MISSING
    parts = [
        pd.DataFrame({"_pid": np.flatnonzero(keep), "month": 0, "completed_on": p.consent[keep]})
    ]
    for m in EQ5D_MONTHS[1:]:
        at = phq9[phq9["timepoint"] == m]
        parts.append(
            pd.DataFrame(
                {
                    "_pid": at["_pid"].to_numpy(),
                    "month": m,
                    "completed_on": at["completed_on"].to_numpy(),
                }
            )
        )
    eq = pd.concat(parts, ignore_index=True)
    lv = np.vstack(
        [levels[int(m)][pid] for pid, m in zip(eq["_pid"], eq["month"], strict=True)]
    ).astype(float)
    gap = np.flatnonzero(rng.random(len(eq)) < ANSWER_MISSING)
    lv[gap, rng.integers(0, 5, gap.size)] = np.nan
    pid = eq["_pid"].to_numpy()
    eq = pd.DataFrame(
        {
            "_pid": pid,
            "_site": p.site[pid],
            "record_id": p.record_id[pid].astype(object),
            "month": eq["month"].to_numpy(dtype=float),
            "completed_on": eq["completed_on"].to_numpy(dtype=float),
            **{fld: lv[:, j] for j, fld in enumerate(EQ5D_FIELDS)},
        }
    )
    eq = eq.sort_values(["_pid", "month"], kind="stable").reset_index(drop=True)

    who = linked(p, sends)
    fu_end = add_months(p.consent, 24)
    health = np.exp(HEALTH_ON_USE * f - HEALTH_ON_USE**2 / 2)
    rows: list[tuple[int, int, str]] = []
    for service, (uc, cc, period, _) in SERVICES.items():
        u = rng.normal(0, CLUSTER_USE_SD, n_clusters)[p.cluster]
        mean = np.where(p.treated, cc, uc) * np.exp(u - CLUSTER_USE_SD**2 / 2)
        k = rng.poisson(mean * rng.gamma(2.0, 0.5, n) * health)
        span = fu_end - p.consent if period is None else np.full(n, period)
        for i in np.flatnonzero(who & (k > 0)):
            days = rng.choice(int(span[i]), size=min(int(k[i]), int(span[i])), replace=False)
            rows += [(int(i), int(p.consent[i] + d), service) for d in days]
    pid = np.asarray([r[0] for r in rows], dtype=np.int64)
    contacts = pd.DataFrame(
        {
            "_pid": pid,
            "_site": p.site[pid],
            "nhs_number": p.nhs[pid].astype(object),
            "contact_date": np.asarray([r[1] for r in rows], dtype=float),
            "service": np.asarray([r[2] for r in rows], dtype=object),
        }
    )
    contacts = contacts.sort_values(["_pid", "contact_date", "service"], kind="stable")
    return {"eq5d": eq, "contacts": contacts.reset_index(drop=True)}


def econ_truth(
    p: Participants,
    n_clusters: int,
    sends: np.ndarray,
    rng: np.random.Generator,
    *,
    draws: int = 40,
) -> dict[str, Any]:
    """Expected QALYs and costs per arm over the participants whose contacts are collected
    (see the module notes), and their differences."""
    who = linked(p, sends)
    times = [m / 12 for m in EQ5D_MONTHS]
    q: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(draws):
        state = rng.bit_generator.state
        for arm in (True, False):
            r = np.random.default_rng()
            r.bit_generator.state = state  # the same draws under both arms
            _, h = _health(p, np.full(len(p), float(arm)), n_clusters, r)
            u = np.column_stack([eq5d_utility(_levels(h[m], r), version="5L") for m in h])
            q[arm].append(float(np.mean(np.asarray(qalys(u, times, discount=DISCOUNT))[who])))
        rng.random()
    uc_cost = unit_costs()
    # the share of a period's contacts after the first year (uniform over its days),
    # discounted once
    span = (add_months(p.consent, 24) - p.consent)[who]
    year1 = (add_months(p.consent, 12) - p.consent)[who] + 1
    sizes = np.bincount(p.cluster, minlength=n_clusters)
    share = INTERVENTION_COST_PER_CLUSTER / sizes[p.cluster]
    arms: dict[str, dict[str, Any]] = {}
    for arm, tag in ((True, "CC"), (False, "UC")):
        contacts, cost = {}, 0.0
        for service, (m_uc, m_cc, period, item) in SERVICES.items():
            mean = m_cc if arm else m_uc
            later = 0.0 if period is not None and period <= 365 else np.mean(1 - year1 / span)
            contacts[service] = mean
            cost += mean * uc_cost[item] * (1 - later + later / (1 + DISCOUNT))
        interv = float(share[who & p.treated].mean()) if arm else 0.0
        arms[tag] = {
            "qalys": round(float(np.mean(q[arm])), 5),
            "cost": round(float(cost + interv), 2),
            "intervention_cost": round(interv, 2),
            "contacts": contacts,
        }
    return {
        "price_year": PRICE_YEAR,
        "unit_costs_in_price_year": {k: round(v, 4) for k, v in uc_cost.items()},
        "intervention_cost_per_cluster": INTERVENTION_COST_PER_CLUSTER,
        "population": "participants whose contacts are collected (an NHS number; GM and "
        "BNSSG: NENC sends no practice records)",
        "participants": {
            "CC": int((who & p.treated).sum()),
            "UC": int((who & ~p.treated).sum()),
        },
        "by_arm": arms,
        "incremental_cost": round(arms["CC"]["cost"] - arms["UC"]["cost"], 2),
        "incremental_qalys": round(arms["CC"]["qalys"] - arms["UC"]["qalys"], 5),
        "eq5d_model": "latent health h_m = mu[m] + cc_effect[m]*CC - 0.06*(phq9_baseline - 16) "
        "+ 0.7 f + N(0, 0.25^2) per practice + N(0, 0.5^2); level = 1 + #thresholds exceeded "
        "by -h + offset + N(0, 0.7^2)",
        "mu": {str(k): v for k, v in MU.items()},
        "cc_effect": {str(k): v for k, v in CC_EFFECT.items()},
        "note": "expected values over the participants named (the intervention cost is the "
        "realised share of each collaborative care practice's cost among its participants) "
        f"and {draws} Monte Carlo draws of the EQ-5D model; QALYs by area under the curve "
        "over months 0, 3, 12 and 24; costs discounted at 3.5% after the first year, "
        "contacts uniform over their period",
    }
