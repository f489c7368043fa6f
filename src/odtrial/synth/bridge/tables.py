"""From participants and outcomes to BRIDGE's three canonical tables.

Dates are day numbers (float, NaN = missing) until the writers render them; integers
are floats (NaN = missing); every row carries ``_pid`` (participant index) and
``_site`` (index into SITES). Clean data keep every interview within its visit window
and every prescription issued between consent and the end of follow-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from odtrial.synth.bridge.design import PHQ9_ITEMS, SITES, VISIT_SCHEDULE, Extract
from odtrial.synth.bridge.outcomes import Outcomes, Parameters, spread_items
from odtrial.synth.bridge.population import Participants
from odtrial.synth.events import add_months

# antidepressants used: name, probability, daily doses (mg) in order of strength
ANTIDEPRESSANTS: tuple[tuple[str, float, tuple[float, ...]], ...] = (
    ("sertraline", 0.34, (50.0, 100.0, 150.0, 200.0)),
    ("citalopram", 0.20, (20.0, 40.0)),
    ("fluoxetine", 0.15, (20.0, 40.0, 60.0)),
    ("mirtazapine", 0.14, (15.0, 30.0, 45.0)),
    ("escitalopram", 0.06, (10.0, 20.0)),
    ("venlafaxine", 0.06, (75.0, 150.0, 225.0)),
    ("amitriptyline", 0.05, (10.0, 25.0, 50.0)),
)
# prescribed to some participants, in or out of the window: never an antidepressant
OTHER_DRUGS: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("zopiclone", (3.75, 7.5)),
    ("diazepam", (2.0, 5.0, 10.0)),
    ("promethazine", (25.0,)),
)
# spread (SD, days) of interview dates around the due date, clipped inside the window
VISIT_SD = {3: 8.0, 12: 15.0, 24: 15.0}
INTERVIEW_MODE_P = (("telephone", 0.6), ("video", 0.25), ("in_person", 0.15))


def build_tables(
    p: Participants,
    o: Outcomes,
    prm: Parameters,
    ex: dict[str, dict[str, Extract]],
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """The canonical tables (participants, phq9, scripts) before faults; ``ex``: each
    site's extracts (which tables it sends, which fields are constants there)."""
    site_ex = [ex[s.id] for s in SITES]
    return {
        "participants": _participants(p),
        "phq9": _phq9(p, o, prm, site_ex, rng),
        "scripts": _scripts(p, o, prm, site_ex, rng),
    }


def _none_if_empty(a: np.ndarray) -> np.ndarray:
    out = a.astype(object)
    out[out == ""] = None
    return out


def _participants(p: Participants) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "_pid": np.arange(len(p)),
            "_site": p.site,
            "record_id": p.record_id.astype(object),
            "nhs_number": _none_if_empty(p.nhs),
            "date_of_birth": p.dob.astype(float),
            "gender": p.gender.astype(object),
            "ethnic_group": _none_if_empty(p.ethnic_group),
            "cluster_id": np.full(len(p), None, dtype=object),  # set by the generator
            "consent_date": p.consent.astype(float),
            "phq9_baseline": p.phq9_baseline.astype(float),
            "prior_antidepressant": p.prior_ad.astype(object),
        }
    )


def _phq9(
    p: Participants,
    o: Outcomes,
    prm: Parameters,
    site_ex: list[dict[str, Extract]],
    rng: np.random.Generator,
) -> pd.DataFrame:
    parts = []
    modes = np.asarray([m for m, _ in INTERVIEW_MODE_P])
    mode_p = [q for _, q in INTERVIEW_MODE_P]
    fixed_mode = {i: e["phq9"].constants.get("mode") for i, e in enumerate(site_ex) if "phq9" in e}
    for month, window in VISIT_SCHEDULE:
        who = np.flatnonzero(o.attended[month])
        due = add_months(p.consent[who], month)
        off = np.clip(np.rint(rng.normal(0, VISIT_SD[month], who.size)), -(window - 2), window - 2)
        items = spread_items(o.phq_total[month][who], rng).astype(float)
        items[rng.random(items.shape) < prm.item_missing] = np.nan
        mode = rng.choice(modes, size=who.size, p=mode_p).astype(object)
        site = p.site[who]
        for i, fixed in fixed_mode.items():
            if fixed is not None:
                mode[site == i] = fixed
        frame = pd.DataFrame(
            {
                "_pid": who,
                "_site": site,
                "record_id": p.record_id[who].astype(object),
                "timepoint": np.full(who.size, month, dtype=np.int64),
                "completed_on": (due + off).astype(float),
                "mode": mode,
            }
        )
        for j, q in enumerate(PHQ9_ITEMS):
            frame[q] = items[:, j]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _course(
    start: int, end: int, doses: tuple[float, ...], rng: np.random.Generator
) -> list[tuple[float, int, int]]:
    """Repeat issues from ``start`` while before ``end``: (daily dose, issue day, last day)."""
    interval = 28 if rng.random() < 0.6 else 56
    k = 1 + int(rng.geometric(0.12))
    step = int(rng.integers(0, max(1, len(doses) - 1)))
    bump = int(rng.integers(1, k + 1)) if rng.random() < 0.25 else k + 1
    out = []
    for j in range(k):
        day = start + j * interval
        if day >= end:
            break
        if j == bump:
            step = min(step + 1, len(doses) - 1)
        out.append((doses[step], day, day + interval - 1))
    return out


def _scripts(
    p: Participants,
    o: Outcomes,
    prm: Parameters,
    site_ex: list[dict[str, Extract]],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Issues of the participants with an NHS number at sites that send prescribing."""
    sends = np.asarray(["scripts" in e for e in site_ex])
    w12 = add_months(p.consent, 12)
    fu_end = add_months(p.consent, 24)
    ad_p = np.asarray([q for _, q, _ in ANTIDEPRESSANTS])
    rows: list[tuple[int, str, float, int, int]] = []
    for i in range(len(p)):
        if not p.nhs[i] or not sends[p.site[i]]:
            continue
        c, end = int(p.consent[i]), int(fu_end[i])
        start = None
        if o.any_ad_12m[i]:
            start = c + int(rng.integers(0, 28 if p.prior_ad[i] else 300))
        elif rng.random() < prm.late_start:
            start = int(rng.integers(int(w12[i]) + 14, end - 30))
        if start is not None:
            name, _, doses = ANTIDEPRESSANTS[rng.choice(len(ANTIDEPRESSANTS), p=ad_p / ad_p.sum())]
            rows += [(i, name, d, a, b) for d, a, b in _course(start, end, doses, rng)]
        if rng.random() < prm.other_scripts:
            name, doses = OTHER_DRUGS[int(rng.integers(0, len(OTHER_DRUGS)))]
            dose = doses[int(rng.integers(0, len(doses)))]
            # distinct days: two equal issues would be an (unrecorded) exact repeat
            days = rng.choice(np.arange(c, end - 30), size=int(rng.integers(1, 4)), replace=False)
            for a in sorted(days.tolist()):
                rows.append((i, name, dose, a, a + int(rng.choice([14, 28])) - 1))
    pid = np.asarray([r[0] for r in rows], dtype=np.int64)
    return pd.DataFrame(
        {
            "_pid": pid,
            "_site": p.site[pid],
            "nhs_number": p.nhs[pid].astype(object),
            "drug": np.asarray([r[1] for r in rows], dtype=object),
            "daily_dose_mg": np.asarray([r[2] for r in rows], dtype=float),
            "issue_date": np.asarray([r[3] for r in rows], dtype=float),
            "supply_end": np.asarray([r[4] for r in rows], dtype=float),
        }
    )
