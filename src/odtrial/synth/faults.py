"""Fault injection: realistic data errors, each named by the validation rule that must find it.

Rules of the game (so every fault is found exactly where it is recorded):

- at most one fault per participant (over all tables), so faults never mask each other;
- a fault on a participant record that quarantines it (error-level: invalid NHS number,
  unknown practice, impossible or missing date, out-of-vocabulary code, malformed line)
  makes every event of that participant an ``unknown_participant`` error, as the data
  contract defines; these cascades are recorded too, as kind ``unknown_participant``
  (they are not counted in the fault rate);
- date faults on binary formats (which store real dates) put the date after the data
  cut-off (a typed-in wrong year); text formats get a date that does not exist (30 Feb).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial.synth.config import CATCHMENTS, Dialect
from odtrial.synth.events import add_months
from odtrial.synth.population import Clusters, Participants
from odtrial.synth.writers import impossible_text_date

KINDS: Final = (
    "duplicate_record",
    "nhs_number_invalid",
    "impossible_date",
    "discharge_before_admission",
    "overlapping_admissions",
    "unknown_practice",
    "out_of_vocabulary",
    "under_min_age",
    "practice_other_arm",
    "implausible_dose",
    "unknown_drug",
    "date_after_follow_up",
    "date_before_consent",
    "missing_value",
    "malformed_line",
    "end_before_start",
)
# relative frequency of kinds beyond the first of each
WEIGHTS: Final = {k: 1.0 for k in KINDS} | {
    "missing_value": 3.0,
    "duplicate_record": 2.0,
    "impossible_date": 2.0,
    "out_of_vocabulary": 2.0,
}
TABLES_OF: Final = {
    "duplicate_record": ("participants", "followup", "crisis_referrals", "prescriptions"),
    "nhs_number_invalid": ("participants",),
    "impossible_date": (
        "participants",
        "followup",
        "admissions",
        "crisis_referrals",
        "prescriptions",
    ),
    "discharge_before_admission": ("admissions",),
    "overlapping_admissions": ("admissions",),
    "unknown_practice": ("participants",),
    "out_of_vocabulary": ("participants", "followup", "admissions"),
    "under_min_age": ("participants",),
    "practice_other_arm": ("participants",),
    "implausible_dose": ("prescriptions",),
    "unknown_drug": ("prescriptions",),
    "date_after_follow_up": ("crisis_referrals", "prescriptions"),
    "date_before_consent": ("crisis_referrals", "prescriptions"),
    "missing_value": (
        "participants",
        "followup",
        "admissions",
        "crisis_referrals",
        "prescriptions",
    ),
    "malformed_line": (
        "participants",
        "followup",
        "admissions",
        "crisis_referrals",
        "prescriptions",
    ),
    "end_before_start": ("prescriptions",),
}
DATE_FIELD: Final = {
    "participants": "date_of_birth",
    "followup": "assessment_date",
    "admissions": "admission_date",
    "crisis_referrals": "referral_date",
    "prescriptions": "start_date",
}
OOV_FIELDS: Final = {
    "participants": ("sex", "ethnicity", "diagnosis", "baseline_work_study"),
    "followup": ("work_study",),
    "admissions": ("legal_status",),
}
QUARANTINES_PARTICIPANT: Final = frozenset(
    {
        "nhs_number_invalid",
        "unknown_practice",
        "impossible_date",
        "missing_value",
        "out_of_vocabulary",
        "malformed_line",
    }
)
# Drug names no medication dictionary has: misspellings as hand-typed extracts carry
# (never a real drug, so adding drugs to the shipped dictionary cannot make them known)
UNKNOWN_DRUGS: Final = ("olanzipine", "respiridone", "quetiapene", "arippiprazole")


@dataclass
class Fault:
    table: str
    rid: int
    kind: str
    field: str
    detail: str
    raw: dict[str, Any] = dc_field(default_factory=dict)  # field -> verbatim source value
    malformed: bool = False


Columns = dict[str, np.ndarray]


@dataclass
class _State:
    tables: dict[str, Columns]
    used: np.ndarray  # participant already has a fault
    faults: list[Fault] = dc_field(default_factory=list)
    dups: dict[str, list[tuple[int, int]]] = dc_field(default_factory=dict)  # (position, new rid)


def inject(
    tables: dict[str, pd.DataFrame],
    p: Participants,
    clusters: Clusters,
    fu_end: np.ndarray,
    cutoff: int,
    dialects: tuple[Dialect, ...],
    rate: float,
    rng: np.random.Generator,
) -> tuple[dict[str, pd.DataFrame], list[Fault]]:
    """Inject faults into about ``rate`` of all records. Tables must carry ``_rid`` (row id,
    unique per table), ``_pid`` and ``_trust`` (index into ``dialects``)."""
    total = sum(len(t) for t in tables.values())
    n_faults = round(rate * total)
    if n_faults <= 0:
        return tables, []
    kinds = list(rng.permutation(KINDS))[: min(n_faults, len(KINDS))]
    if n_faults > len(KINDS):
        w = np.asarray([WEIGHTS[k] for k in KINDS])
        kinds += list(rng.choice(KINDS, size=n_faults - len(KINDS), p=w / w.sum()))
    cols = {k: {c: v[c].to_numpy(copy=True) for c in v.columns} for k, v in tables.items()}
    st = _State(tables=cols, used=np.zeros(len(p), dtype=bool))
    ctx = _Ctx(p, clusters, fu_end, cutoff, dialects, rng)
    # restrictive kinds first so they find candidates
    order = sorted(set(kinds), key=lambda k: (len(TABLES_OF[k]), KINDS.index(k)))
    for kind in order:
        need = kinds.count(kind)
        # every record equally likely: tables weighted by their size
        size = np.asarray([len(st.tables[t]["_rid"]) for t in TABLES_OF[kind]], dtype=float)
        per_table = rng.multinomial(need, size / size.sum())
        for table, k in zip(TABLES_OF[kind], per_table, strict=True):
            if k:
                _apply(st, ctx, kind, table, int(k))
    for table, dups in st.dups.items():
        t = st.tables[table]
        take = np.asarray([pos for pos, _ in dups])
        new = {c: np.concatenate([v, v[take]]) for c, v in t.items()}
        new["_rid"][len(t["_rid"]) :] = [rid for _, rid in dups]
        st.tables[table] = new
    _cascade(st)
    out = {
        k: pd.DataFrame(v).astype({c: tables[k][c].dtype for c in v}) for k, v in st.tables.items()
    }
    return out, st.faults


@dataclass
class _Ctx:
    p: Participants
    clusters: Clusters
    fu_end: np.ndarray
    cutoff: int
    dialects: tuple[Dialect, ...]
    rng: np.random.Generator


def _candidates(st: _State, ctx: _Ctx, kind: str, table: str) -> np.ndarray:
    """Row positions of ``table`` where ``kind`` can be injected."""
    t = st.tables[table]
    pid = t["_pid"]
    ok = ~st.used[pid]
    trust = t["_trust"]
    if kind == "malformed_line":
        ok &= np.asarray([d.text for d in ctx.dialects], dtype=bool)[trust]
    if kind in ("discharge_before_admission", "end_before_start"):
        col = "discharge_date" if table == "admissions" else "end_date"
        start = "admission_date" if table == "admissions" else "start_date"
        ok &= ~np.isnan(t[col]) & (t[col] > t[start])
    if kind == "overlapping_admissions":
        prev_same = np.r_[False, pid[1:] == pid[:-1]]
        prev_len = np.r_[0.0, (t["discharge_date"] - t["admission_date"])[:-1]]
        ok &= prev_same & (prev_len >= 3)
    if kind == "date_after_follow_up":
        ok &= ctx.cutoff - ctx.fu_end[pid] >= 10
    if kind in ("implausible_dose",):
        ok &= ~np.isnan(t["daily_dose_mg"])
    return np.flatnonzero(ok)


def _apply(st: _State, ctx: _Ctx, kind: str, table: str, k: int) -> None:
    rng = ctx.rng
    cand = _candidates(st, ctx, kind, table)
    cand = cand[rng.permutation(cand.size)]
    taken = 0
    for pos in cand:
        if taken == k:
            break
        pid = int(st.tables[table]["_pid"][pos])
        if st.used[pid]:
            continue
        fault = _mutate(st, ctx, kind, table, int(pos))
        if fault is None:
            continue
        st.used[pid] = True
        st.faults.append(fault)
        taken += 1


def _mutate(st: _State, ctx: _Ctx, kind: str, table: str, pos: int) -> Fault | None:
    """Apply ``kind`` to row ``pos`` of ``table``; return the fault (None if not possible)."""
    rng = ctx.rng
    t = st.tables[table]
    rid = int(t["_rid"][pos])
    pid = int(t["_pid"][pos])
    d = ctx.dialects[int(t["_trust"][pos])]
    consent = int(ctx.p.consent[pid])

    def setv(col: str, value: Any) -> None:
        t[col][pos] = value

    if kind == "duplicate_record":
        pending = st.dups.setdefault(table, [])
        new_rid = int(t["_rid"].max()) + 1 + len(pending)
        pending.append((pos, new_rid))
        return Fault(table, new_rid, kind, "", f"exact repeat of record _rid {rid}")
    if kind == "nhs_number_invalid":
        old = str(t["nhs_number"][pos])
        changed = old[:9] + str((int(old[9]) + int(rng.integers(1, 10))) % 10)
        setv("nhs_number", changed)
        return Fault(table, rid, kind, "nhs_number", "check digit changed: fails Modulus 11")
    if kind in ("impossible_date", "missing_value"):
        fld = DATE_FIELD[table]
        if kind == "missing_value":
            setv(fld, np.nan)
            return Fault(table, rid, kind, fld, "required date left empty")
        if d.text:
            year = int(str(np.datetime64(int(t[fld][pos]), "D"))[:4])
            text = impossible_text_date(year, d.date_format)
            return Fault(table, rid, kind, fld, f"date does not exist: {text}", raw={fld: text})
        typo = ctx.cutoff + int(rng.integers(366, 3650))
        setv(fld, float(typo))
        return Fault(
            table, rid, kind, fld, f"date after the data cut-off: {np.datetime64(typo, 'D')}"
        )
    if kind == "discharge_before_admission":
        a, b = t["admission_date"][pos], t["discharge_date"][pos]
        setv("admission_date", b)
        setv("discharge_date", a)
        return Fault(table, rid, kind, "discharge_date", "admission and discharge dates swapped")
    if kind == "end_before_start":
        a, b = t["start_date"][pos], t["end_date"][pos]
        setv("start_date", b)
        setv("end_date", a)
        return Fault(table, rid, kind, "end_date", "start and end dates swapped")
    if kind == "overlapping_admissions":
        prev_d = float(t["discharge_date"][pos - 1])
        prev_a = float(t["admission_date"][pos - 1])
        r = int(rng.integers(2, int(min(prev_d - prev_a - 1, 10)) + 1))
        setv("admission_date", prev_d - r)
        return Fault(
            table, rid, kind, "admission_date", f"starts {r} days before the previous stay ends"
        )
    if kind == "unknown_practice":
        c = CATCHMENTS[int(ctx.p.catchment[pid])]
        known = {x for ps in ctx.clusters.practices for x in ps}
        while True:
            code = f"{c.practice_prefix}{int(rng.integers(1, 1000)):03d}"
            if code not in known:
                break
        setv("gp_practice", code)
        return Fault(table, rid, kind, "gp_practice", f"{code} is in no cluster")
    if kind == "out_of_vocabulary":
        fields = OOV_FIELDS[table]
        fld = fields[int(rng.integers(0, len(fields)))]
        raw = d.oov[fld]
        return Fault(table, rid, kind, fld, f"code {raw!r} has no mapping", raw={fld: raw})
    if kind == "under_min_age":
        age = int(rng.integers(16, 18))
        dob = int(add_months(np.asarray([consent]), -12 * age)[0]) - int(rng.integers(1, 300))
        setv("date_of_birth", float(dob))
        return Fault(table, rid, kind, "date_of_birth", f"aged {age} at consent")
    if kind == "practice_other_arm":
        j = int(ctx.p.cluster[pid])
        others = [
            i
            for i in range(ctx.clusters.id.size)
            if ctx.clusters.catchment[i] == ctx.clusters.catchment[j]
            and ctx.clusters.treated[i] != ctx.clusters.treated[j]
        ]
        i = others[int(rng.integers(0, len(others)))]
        code = ctx.clusters.practices[i][int(rng.integers(0, len(ctx.clusters.practices[i])))]
        setv("gp_practice", code)
        return Fault(
            table, rid, kind, "gp_practice", f"{code} belongs to {ctx.clusters.id[i]} (other arm)"
        )
    if kind == "implausible_dose":
        dose = float(t["daily_dose_mg"][pos])
        bad = 0.0 if rng.random() < 0.3 else dose * 1000
        setv("daily_dose_mg", bad)
        return Fault(table, rid, kind, "daily_dose_mg", f"daily dose {bad:g} mg (was {dose:g})")
    if kind == "unknown_drug":
        name = UNKNOWN_DRUGS[int(rng.integers(0, len(UNKNOWN_DRUGS)))]
        setv("drug", name)
        return Fault(table, rid, kind, "drug", f"{name} is not in the drug catalogue")
    if kind == "date_after_follow_up":
        end = int(ctx.fu_end[pid])
        late = end + int(rng.integers(5, min(90, ctx.cutoff - end - 1) + 1))
        fld = DATE_FIELD[table]
        setv(fld, float(late))
        if table == "prescriptions":
            setv("end_date", np.nan)
        return Fault(table, rid, kind, fld, f"{late - end} days after the end of follow-up")
    if kind == "date_before_consent":
        fld = DATE_FIELD[table]
        r = int(rng.integers(3, 91))
        setv(fld, float(consent - r))
        return Fault(table, rid, kind, fld, f"{r} days before consent")
    if kind == "malformed_line":
        return Fault(table, rid, kind, "", "extra field (unquoted delimiter)", malformed=True)
    raise ValueError(kind)  # pragma: no cover


def _cascade(st: _State) -> None:
    """Events of participants whose record is quarantined become unknown_participant."""
    pt = st.tables["participants"]
    pid_of = dict(zip(pt["_rid"].tolist(), pt["_pid"].tolist(), strict=True))
    gone = {
        pid_of[f.rid]: f
        for f in st.faults
        if f.table == "participants" and f.kind in QUARANTINES_PARTICIPANT
    }
    if not gone:
        return
    pids = np.fromiter(gone, dtype=np.int64)
    for table in ("followup", "admissions", "crisis_referrals", "prescriptions"):
        t = st.tables[table]
        hit = np.isin(t["_pid"], pids)
        for rid, pid in zip(t["_rid"][hit], t["_pid"][hit], strict=True):
            st.faults.append(
                Fault(
                    table,
                    int(rid),
                    "unknown_participant",
                    "nhs_number",
                    f"cascade: participant record quarantined ({gone[int(pid)].kind})",
                )
            )
