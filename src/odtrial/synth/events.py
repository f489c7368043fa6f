"""From person-level outcomes to the five canonical tables (one row per record).

Dates are day numbers (days since 1970-01-01, float with NaN for missing) until the
writers render them. Every row carries ``_pid`` (participant index). Clean data
keep every event strictly after consent and strictly before the end of follow-up
(consent + 24 months), stays separated by at least one day, prescriptions ending
after they start.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from odtrial.data.drugs import DRUGS
from odtrial.synth.config import DIAGNOSES, LEGAL
from odtrial.synth.outcomes import Outcomes
from odtrial.synth.population import EPOCH, Participants

IntArray = npt.NDArray[np.int64]

LEGAL_P = np.array([0.55, 0.25, 0.12, 0.05, 0.03])
# antipsychotics used (all covered by both CPZ methods): name, probability, tablet step (mg)
ANTIPSYCHOTICS = (
    ("olanzapine", 0.30, 2.5),
    ("risperidone", 0.20, 0.5),
    ("quetiapine", 0.25, 25.0),
    ("aripiprazole", 0.20, 2.5),
    ("haloperidol", 0.05, 0.5),
)
# other psychotropics by diagnosis: (drugs, probability of any, typical doses)
OTHER_DRUGS = {
    "psychosis": (("sertraline", "zopiclone"), 0.2),
    "bipolar": (("lithium carbonate", "sodium valproate"), 0.7),
    "depression": (("sertraline", "fluoxetine", "mirtazapine"), 0.6),
    "anxiety": (("sertraline", "fluoxetine"), 0.5),
    "personality": (("fluoxetine", "mirtazapine", "zopiclone"), 0.4),
    "other": (("sertraline", "zopiclone"), 0.3),
}
OTHER_DOSES = {
    "sertraline": (50.0, 100.0, 150.0),
    "fluoxetine": (20.0, 40.0),
    "mirtazapine": (15.0, 30.0, 45.0),
    "lithium carbonate": (400.0, 800.0, 1000.0),
    "sodium valproate": (500.0, 1000.0, 1500.0),
    "zopiclone": (3.75, 7.5),
}


def add_months(days: IntArray, months: int) -> IntArray:
    """Day numbers ``months`` calendar months later, clipped to the month's end (31 Jan + 1
    month = 28/29 Feb), as pandas DateOffset does."""
    d = EPOCH + days.astype("timedelta64[D]")
    m = d.astype("datetime64[M]")
    dom = (d - m.astype("datetime64[D]")).astype(np.int64)
    tm = m + np.timedelta64(months, "M")
    last = (
        (tm + np.timedelta64(1, "M")).astype("datetime64[D]") - tm.astype("datetime64[D]")
    ).astype(np.int64)
    out = tm.astype("datetime64[D]") + np.minimum(dom, last - 1).astype("timedelta64[D]")
    return (out - EPOCH).astype(np.int64)


def _group_starts(owner: IntArray) -> IntArray:
    """Index of the first element of each element's (contiguous) group."""
    first = np.r_[True, owner[1:] != owner[:-1]]
    return np.maximum.accumulate(np.where(first, np.arange(owner.size), 0))


def split_total(owner: IntArray, total: IntArray, rng: np.random.Generator) -> IntArray:
    """Split each owner's ``total`` (>= its number of parts) into parts of at least 1, at
    random (exponential weights); ``owner`` is sorted, one element per part."""
    n_parts = np.bincount(owner, minlength=total.size)
    w = rng.exponential(size=owner.size)
    wsum = np.bincount(owner, weights=w, minlength=total.size)
    spare = total - n_parts
    parts = 1 + np.floor(spare[owner] * w / wsum[owner]).astype(np.int64)
    short = total - np.bincount(owner, weights=parts, minlength=total.size).astype(np.int64)
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    parts[first] += short[owner[first]]
    return parts


def place_intervals(
    owner: IntArray, lengths: IntArray, window: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """Place each owner's intervals in order inside (0, window) with at least one day
    between them. Returns (start offset, length); lengths are shrunk if they cannot fit.
    ``owner`` sorted; ``window`` indexed by owner."""
    n_own = window.size
    n = np.bincount(owner, minlength=n_own)
    room = window - 2 - np.maximum(n - 1, 0)  # days available for stays + gaps
    tot = np.bincount(owner, weights=lengths, minlength=n_own).astype(np.int64)
    over = (tot > room) & (n > 0)
    if over.any():
        scale = np.where(over, room / np.maximum(tot, 1), 1.0)
        lengths = np.maximum(1, np.floor(lengths * scale[owner]).astype(np.int64))
        tot = np.bincount(owner, weights=lengths, minlength=n_own).astype(np.int64)
    free = np.maximum(room - tot, 0)
    e = rng.exponential(size=owner.size)
    e_sum = np.bincount(owner, weights=e, minlength=n_own) + rng.exponential(size=n_own)
    gap = np.floor(free[owner] * e / e_sum[owner]).astype(np.int64)
    inc = gap + lengths + 1
    cs = np.cumsum(inc)
    g0 = _group_starts(owner)
    before = cs - inc - (cs[g0] - inc[g0])
    start = 1 + before + gap
    return start, lengths


def split_issues(
    course_start: IntArray, course_len: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray, IntArray]:
    """Split prescription courses into repeat issues of 56, 84 or 112 days (the last one
    shorter), each issue one record: returns (course index, start offset, length)."""
    issue = rng.choice(np.array([56, 84, 112]), size=course_len.size, p=[0.3, 0.4, 0.3])
    n_iss = -(-course_len // issue)
    course = np.repeat(np.arange(course_len.size), n_iss)
    k = np.arange(course.size) - _group_starts(course)
    s = course_start[course] + k * issue[course]
    e = np.minimum(s + issue[course], course_start[course] + course_len[course])
    return course, s, e - s


def build_tables(
    p: Participants,
    o: Outcomes,
    fu_end: IntArray,
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """The five canonical tables for all trusts (dates as day numbers)."""
    n = len(p)
    window = fu_end - p.consent
    idx = np.arange(n)
    tables: dict[str, pd.DataFrame] = {}

    tables["participants"] = pd.DataFrame(
        {
            "_pid": idx,
            "nhs_number": p.nhs,
            "date_of_birth": p.dob.astype(float),
            "sex": p.sex,
            "ethnicity": p.ethnicity,
            "diagnosis": np.asarray(DIAGNOSES)[p.diagnosis],
            "gp_practice": p.practice,
            "cluster_id": p.cluster,  # index; the generator maps to ids
            "consent_date": p.consent.astype(float),
            "baseline_work_study": p.baseline_ws,
        }
    )

    # follow-up: 12 months +-45 days; 24 months in the 75 days before the anniversary
    m12 = add_months(p.consent, 12) + rng.integers(-45, 46, size=n)
    m24 = fu_end - rng.integers(1, 76, size=n)
    keep12, keep24 = ~o.miss12, ~o.miss24
    tables["followup"] = pd.DataFrame(
        {
            "_pid": np.r_[idx[keep12], idx[keep24]],
            "visit_month": np.r_[np.full(keep12.sum(), 12), np.full(keep24.sum(), 24)],
            "assessment_date": np.r_[m12[keep12], m24[keep24]].astype(float),
            "work_study": np.r_[o.ws12[keep12], o.ws24[keep24]],
        }
    )

    # admissions: n stays adding up to the bed days, placed without overlap
    owner = np.repeat(idx, o.n_admissions)
    lengths = split_total(owner, o.bed_days, rng)
    start, lengths = place_intervals(owner, lengths, window, rng)
    adm = p.consent[owner] + start
    tables["admissions"] = pd.DataFrame(
        {
            "_pid": owner,
            "admission_date": adm.astype(float),
            "discharge_date": (adm + lengths).astype(float),
            "legal_status": np.asarray(LEGAL)[rng.choice(len(LEGAL), size=owner.size, p=LEGAL_P)],
        }
    )

    # crisis referrals: distinct days, uniform in the window
    owner = np.repeat(idx, o.n_crisis)
    off = 1 + np.floor(rng.random(owner.size) * (window[owner] - 2)).astype(np.int64)
    key = np.unique(owner * 100_000 + off)
    owner, off = key // 100_000, key % 100_000
    tables["crisis_referrals"] = pd.DataFrame(
        {"_pid": owner, "referral_date": (p.consent[owner] + off).astype(float)}
    )

    tables["prescriptions"] = _prescriptions(p, o, window, rng)
    return tables


def _prescriptions(
    p: Participants, o: Outcomes, window: IntArray, rng: np.random.Generator
) -> pd.DataFrame:
    n = len(p)
    idx = np.arange(n)
    # antipsychotic episodes: 1-3 per user covering ap_coverage of the window
    n_ep = np.where(o.antipsychotic, np.minimum(1 + rng.poisson(0.5, n), 3), 0)
    cover = np.maximum(np.round(o.ap_coverage * (window - 2)).astype(np.int64), n_ep * 14)
    owner = np.repeat(idx, n_ep)
    lengths = split_total(owner, np.where(n_ep > 0, cover, 0), rng)
    start, lengths = place_intervals(owner, lengths, window, rng)
    names = np.asarray([a[0] for a in ANTIPSYCHOTICS])
    probs = np.asarray([a[1] for a in ANTIPSYCHOTICS])
    steps = np.asarray([a[2] for a in ANTIPSYCHOTICS])
    first_drug = rng.choice(names.size, size=n, p=probs)
    switch = rng.random(owner.size) < 0.4
    drug = np.where(switch, rng.choice(names.size, size=owner.size, p=probs), first_drug[owner])
    per100 = np.asarray([DRUGS[str(d)].woods2003_mg_per_100cpz for d in names], dtype=float)
    maxmg = np.asarray([DRUGS[str(d)].max_daily_mg for d in names], dtype=float)
    mg = o.cpz_dose[owner] * per100[drug] / 100.0 * np.exp(rng.normal(0, 0.1, owner.size))
    mg = np.clip(np.round(mg / steps[drug]) * steps[drug], steps[drug], maxmg[drug])
    c, start, lengths = split_issues(start, lengths, rng)
    owner = owner[c]
    ap = pd.DataFrame(
        {
            "_pid": owner,
            "drug": names[drug][c],
            "daily_dose_mg": mg[c],
            "start_date": (p.consent[owner] + start).astype(float),
            "end_date": (p.consent[owner] + start + lengths).astype(float),
        }
    )
    # other psychotropics: 0-2 episodes by diagnosis
    dx = np.asarray(DIAGNOSES)[p.diagnosis]
    p_any = np.asarray([OTHER_DRUGS[d][1] for d in dx])
    n_oth = np.where(rng.random(n) < p_any, 1 + (rng.random(n) < 0.3), 0)
    owner = np.repeat(idx, n_oth)
    cover = np.round(rng.beta(2, 2, n) * (window - 2)).astype(np.int64)
    lengths = split_total(owner, np.maximum(np.where(n_oth > 0, cover, 0), n_oth * 7), rng)
    start, lengths = place_intervals(owner, lengths, window, rng)
    u = rng.random(owner.size)
    v = rng.random(owner.size)
    oname, odose = [], []
    for k, pid in enumerate(owner):
        opts = OTHER_DRUGS[dx[pid]][0]
        name = opts[int(u[k] * len(opts))]
        doses = OTHER_DOSES[name]
        oname.append(name)
        odose.append(doses[int(v[k] * len(doses))])
    c, start, lengths = split_issues(start, lengths, rng)
    owner = owner[c]
    other = pd.DataFrame(
        {
            "_pid": owner,
            "drug": np.asarray(oname, dtype=str)[c] if oname else np.empty(0, dtype=str),
            "daily_dose_mg": np.asarray(odose, dtype=float)[c],
            "start_date": (p.consent[owner] + start).astype(float),
            "end_date": (p.consent[owner] + start + lengths).astype(float),
        }
    )
    rx = pd.concat([ap, other], ignore_index=True)
    # a course reaching the last month of the window is often still open at extract
    near_end = rx["end_date"].to_numpy() >= (p.consent + window)[rx["_pid"].to_numpy()] - 30
    ongoing = near_end & (rng.random(len(rx)) < 0.5)
    rx.loc[ongoing, "end_date"] = np.nan
    return rx
