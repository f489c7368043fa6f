"""BRIDGE's injected faults, each named by the rule code that must find it.

The rules of :mod:`odtrial.synth.faults` hold here too: at most one fault per
participant; a fault that quarantines a participant record makes each of that
participant's interviews and prescriptions an ``unknown_participant`` (recorded as
cascades, not counted in the rate), and an invalid optional NHS number
(``unlinkable_identifier``, a warning: the participant stays) does so to the
prescriptions, which link by it; binary formats store real dates, so their
impossible dates lie after the data cut-off, while text formats get 30 February.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial.data.medication_dictionary import load_medication_dictionary
from odtrial.synth.bridge.design import (
    LOCALITIES,
    PHQ9_ITEMS,
    SITES,
    TABLES,
    VISIT_SCHEDULE,
    Extract,
)
from odtrial.synth.bridge.population import Clusters, Participants
from odtrial.synth.events import add_months
from odtrial.synth.population import nhs_numbers
from odtrial.synth.writers import impossible_text_date

#: The custom code of the scripts table's date_order rule (see design.SCRIPTS).
SUPPLY_ORDER: Final = "supply_end_before_issue"
TABLES_OF: Final = {
    "duplicate_record": ("participants", "scripts"),
    "unlinkable_identifier": ("participants",),
    "missing_value": ("participants", "phq9", "scripts"),
    "impossible_date": ("participants", "phq9", "scripts"),
    "out_of_vocabulary": ("participants", "phq9"),
    "out_of_range": ("participants", "phq9"),
    "invalid_value": ("phq9", "scripts"),
    "under_min_age": ("participants",),
    "unknown_cluster": ("participants",),
    "cluster_wrong_trust": ("participants",),
    "unknown_participant": ("phq9", "scripts"),
    "visit_out_of_window": ("phq9",),
    "duplicate_visit": ("phq9",),
    "date_before_consent": ("scripts",),
    "date_after_follow_up": ("scripts",),
    "implausible_dose": ("scripts",),
    "unknown_drug": ("scripts",),
    SUPPLY_ORDER: ("scripts",),
    "malformed_line": ("participants", "phq9", "scripts"),
}
KINDS: Final = tuple(TABLES_OF)
QUARANTINES_PARTICIPANT: Final = frozenset(
    {
        "missing_value",
        "impossible_date",
        "out_of_vocabulary",
        "out_of_range",
        "unknown_cluster",
        "cluster_wrong_trust",
        "malformed_line",
    }
)
DATE_FIELD: Final = {
    "participants": "date_of_birth",
    "phq9": "completed_on",
    "scripts": "issue_date",
}
MISSING_FIELDS: Final = {
    "participants": ("date_of_birth", "gender", "consent_date", "phq9_baseline"),
    "phq9": ("completed_on",),
    "scripts": ("issue_date", "drug"),
}
# Drug names no medication dictionary has: misspellings as hand-typed extracts carry
# (never a real drug, so adding drugs to the shipped dictionary cannot make them known)
UNKNOWN_DRUGS: Final = ("sertaline", "citalopam", "mirtazipine")
INVALID_TEXT: Final = {"phq9": "n/k", "scripts": "50mg"}


@dataclass
class Fault:
    table: str
    rid: int
    kind: str
    field: str
    detail: str
    raw: dict[str, Any] = dc_field(default_factory=dict)  # field -> verbatim source value
    malformed: bool = False


@dataclass
class _Ctx:
    p: Participants
    clusters: Clusters
    fu_end: np.ndarray
    cutoff: int
    ex: list[dict[str, Extract]]  # by site index
    rng: np.random.Generator
    tables: dict[str, dict[str, np.ndarray]]
    used: np.ndarray  # participant already has a fault
    faults: list[Fault] = dc_field(default_factory=list)
    dups: dict[str, list[tuple[int, dict[str, Any]]]] = dc_field(default_factory=dict)

    def extract(self, table: str, pos: int) -> Extract:
        return self.ex[int(self.tables[table]["_site"][pos])][table]

    def next_rid(self, table: str) -> int:
        return int(self.tables[table]["_rid"].max()) + 1 + len(self.dups.get(table, ()))


def inject(
    tables: dict[str, pd.DataFrame],
    p: Participants,
    clusters: Clusters,
    fu_end: np.ndarray,
    cutoff: int,
    ex: list[dict[str, Extract]],
    rate: float,
    rng: np.random.Generator,
) -> tuple[dict[str, pd.DataFrame], list[Fault]]:
    """Inject faults into about ``rate`` of all records (each kind once before any twice).
    Tables carry ``_rid`` (unique per table), ``_pid`` and ``_site``."""
    n_faults = round(rate * sum(len(t) for t in tables.values()))
    if n_faults <= 0:
        return tables, []
    kinds = list(rng.permutation(KINDS))[: min(n_faults, len(KINDS))]
    if n_faults > len(KINDS):
        kinds += list(rng.choice(KINDS, size=n_faults - len(KINDS)))
    cols = {k: {c: v[c].to_numpy(copy=True) for c in v.columns} for k, v in tables.items()}
    ctx = _Ctx(p, clusters, fu_end, cutoff, ex, rng, cols, np.zeros(len(p), dtype=bool))
    for kind in sorted(set(kinds), key=lambda k: (len(TABLES_OF[k]), KINDS.index(k))):
        size = np.asarray([len(cols[t]["_rid"]) for t in TABLES_OF[kind]], dtype=float)
        for table, k in zip(
            TABLES_OF[kind], rng.multinomial(kinds.count(kind), size / size.sum()), strict=True
        ):
            _apply(ctx, kind, table, int(k))
    for table, new_rows in ctx.dups.items():
        t = cols[table]
        for row in new_rows:
            for c in t:
                t[c] = np.append(t[c], np.asarray([row[1][c]], dtype=t[c].dtype))
    _cascade(ctx)
    out = {k: pd.DataFrame(v).astype({c: tables[k][c].dtype for c in v}) for k, v in cols.items()}
    return out, ctx.faults


def _candidates(ctx: _Ctx, kind: str, table: str) -> np.ndarray:
    """Row positions of ``table`` where ``kind`` can be injected."""
    t = ctx.tables[table]
    ok = ~ctx.used[t["_pid"]]
    site_ex = [e.get(table) for e in ctx.ex]
    text = np.asarray([e is not None and e.text for e in site_ex])[t["_site"]]
    if kind in ("malformed_line", "invalid_value"):
        ok &= text
    if kind == "unlinkable_identifier":
        ok &= np.asarray([isinstance(v, str) and v != "" for v in t["nhs_number"]])
    if kind == "out_of_vocabulary":
        has = [e is not None and any(f in e.oov for f in _coded(table)) for e in site_ex]
        ok &= np.asarray(has)[t["_site"]]
    if kind == "out_of_range" and table == "phq9":
        ok &= ~np.isnan(t["q1"])
    if kind == "visit_out_of_window":
        ok &= t["timepoint"] != VISIT_SCHEDULE[-1][0]
    if kind == "duplicate_visit":
        due = np.asarray([0.0] * len(t["_rid"]))
        for m, _ in VISIT_SCHEDULE:
            at = t["timepoint"] == m
            due[at] = add_months(ctx.p.consent[t["_pid"][at]], m)
        ok &= np.abs(t["completed_on"] - due) <= 10
    if kind == "date_after_follow_up":
        ok &= ctx.cutoff - ctx.fu_end[t["_pid"]] >= 100
    if kind == SUPPLY_ORDER:
        ok &= ~np.isnan(t["supply_end"]) & (t["supply_end"] <= ctx.fu_end[t["_pid"]])
    if kind == "implausible_dose":
        ok &= ~np.isnan(t["daily_dose_mg"])
    return np.flatnonzero(ok)


def _coded(table: str) -> list[str]:
    return [f.name for f in TABLES[table].fields if f.type == "code"]


def _apply(ctx: _Ctx, kind: str, table: str, k: int) -> None:
    cand = _candidates(ctx, kind, table)
    taken = 0
    for pos in cand[ctx.rng.permutation(cand.size)]:
        if taken == k:
            break
        pid = int(ctx.tables[table]["_pid"][pos])
        if ctx.used[pid]:
            continue
        fault = _mutate(ctx, kind, table, int(pos))
        if fault is None:
            continue
        ctx.used[pid] = True
        ctx.faults.append(fault)
        taken += 1


def _mutate(ctx: _Ctx, kind: str, table: str, pos: int) -> Fault | None:
    """Apply ``kind`` to row ``pos`` of ``table``; the fault, or None when it cannot be."""
    rng, t, p = ctx.rng, ctx.tables[table], ctx.p
    rid, pid = int(t["_rid"][pos]), int(t["_pid"][pos])
    e = ctx.extract(table, pos)

    def setv(col: str, value: Any) -> None:
        t[col][pos] = value

    if kind in ("duplicate_record", "duplicate_visit"):
        row = {c: v[pos] for c, v in t.items()}
        new_rid = ctx.next_rid(table)
        row["_rid"] = new_rid
        detail = f"exact repeat of record _rid {rid}"
        if kind == "duplicate_visit":
            shift = int(rng.integers(2, 8))
            row["completed_on"] = float(t["completed_on"][pos]) + shift
            detail = f"second interview at month {int(t['timepoint'][pos])}, {shift} days later"
        ctx.dups.setdefault(table, []).append((pos, row))
        return Fault(table, new_rid, kind, "", detail)
    if kind == "unlinkable_identifier":
        old = str(t["nhs_number"][pos])
        setv("nhs_number", old[:9] + str((int(old[9]) + int(rng.integers(1, 10))) % 10))
        return Fault(table, rid, kind, "nhs_number", "check digit changed: fails Modulus 11")
    if kind == "missing_value":
        fld = MISSING_FIELDS[table][int(rng.integers(0, len(MISSING_FIELDS[table])))]
        setv(fld, np.nan if t[fld].dtype.kind == "f" else None)
        return Fault(table, rid, kind, fld, "required field left empty")
    if kind == "impossible_date":
        fld = DATE_FIELD[table]
        if e.text:
            year = int(str(np.datetime64(int(t[fld][pos]), "D"))[:4])
            text = impossible_text_date(year, e.date_format)
            return Fault(table, rid, kind, fld, f"date does not exist: {text}", raw={fld: text})
        typo = ctx.cutoff + int(rng.integers(366, 3650))
        setv(fld, float(typo))
        return Fault(
            table, rid, kind, fld, f"date after the data cut-off: {np.datetime64(typo, 'D')}"
        )
    if kind == "out_of_vocabulary":
        fields = [f for f in _coded(table) if f in e.oov]
        fld = fields[int(rng.integers(0, len(fields)))]
        raw = e.oov[fld]
        return Fault(table, rid, kind, fld, f"code {raw!r} has no mapping", raw={fld: raw})
    if kind == "out_of_range":
        fld, bad = (
            ("phq9_baseline", float(rng.integers(28, 40)))
            if table == "participants"
            else (PHQ9_ITEMS[int(rng.integers(0, 9))], float(rng.integers(4, 8)))
        )
        if np.isnan(t[fld][pos]):
            return None
        setv(fld, bad)
        return Fault(table, rid, kind, fld, f"{bad:g} is outside the field's range")
    if kind == "invalid_value":
        fld = PHQ9_ITEMS[int(rng.integers(0, 9))] if table == "phq9" else "daily_dose_mg"
        if np.isnan(t[fld][pos]):
            return None
        raw = INVALID_TEXT[table]
        return Fault(table, rid, kind, fld, f"{raw!r} is not a number", raw={fld: raw})
    if kind == "under_min_age":
        age = int(rng.integers(16, 18))
        consent = np.asarray([int(p.consent[pid])])
        setv("date_of_birth", float(add_months(consent, -12 * age)[0] - int(rng.integers(1, 300))))
        return Fault(table, rid, kind, "date_of_birth", f"aged {age} at consent")
    if kind == "unknown_cluster":
        known = set(ctx.clusters.id.tolist())
        prefix = LOCALITIES[int(p.locality[pid])].ods_prefix
        code = next(
            c
            for c in (f"{prefix}{int(rng.integers(1, 1000)):03d}" for _ in range(1000))
            if c not in known
        )
        setv("cluster_id", code)
        return Fault(table, rid, kind, "cluster_id", f"{code} is not a practice of the trial")
    if kind == "cluster_wrong_trust":
        site = SITES[int(p.site[pid])].id
        other = [j for j, s in enumerate(ctx.clusters.site) if s != site]
        j = other[int(rng.integers(0, len(other)))]
        setv("cluster_id", str(ctx.clusters.id[j]))
        return Fault(
            table,
            rid,
            kind,
            "cluster_id",
            f"{ctx.clusters.id[j]} is a practice of {ctx.clusters.site[j]}",
        )
    if kind == "unknown_participant":
        if table == "phq9":
            known = set(p.record_id.tolist())
            new = str(t["record_id"][pos])
            while new in known:
                new += str(int(rng.integers(0, 10)))
            setv("record_id", new)
            return Fault(table, rid, kind, "record_id", f"record id {new} is not a participant")
        known = set(p.nhs.tolist())
        new = next(x for x in nhs_numbers(50, rng).tolist() if x not in known)
        setv("nhs_number", new)
        return Fault(table, rid, kind, "nhs_number", "valid NHS number of no participant")
    if kind == "visit_out_of_window":
        m = int(t["timepoint"][pos])
        window = dict(VISIT_SCHEDULE)[m]
        due = int(add_months(np.asarray([int(p.consent[pid])]), m)[0])
        late = int(rng.integers(window + 5, window + 31))
        setv("completed_on", float(due + late))
        return Fault(table, rid, kind, "completed_on", f"{late} days after the month-{m} due date")
    if kind == "date_before_consent":
        r = int(rng.integers(3, 61))
        setv("issue_date", float(p.consent[pid] - r))
        return Fault(table, rid, kind, "issue_date", f"{r} days before consent")
    if kind == "date_after_follow_up":
        late = int(rng.integers(5, 91))
        issue = float(ctx.fu_end[pid] + late)
        setv("issue_date", issue)
        setv("supply_end", issue + 27)
        return Fault(table, rid, kind, "issue_date", f"{late} days after the end of follow-up")
    if kind == "implausible_dose":
        dose = float(t["daily_dose_mg"][pos])
        drug = load_medication_dictionary().resolve(str(t["drug"][pos]))
        has_max = drug is not None and not np.isnan(drug.max_daily_mg)
        bad = dose * 20 if has_max and rng.random() < 0.7 else 0.0  # >= 4x any maximum
        setv("daily_dose_mg", bad)
        return Fault(table, rid, kind, "daily_dose_mg", f"daily dose {bad:g} mg (was {dose:g})")
    if kind == "unknown_drug":
        name = UNKNOWN_DRUGS[int(rng.integers(0, len(UNKNOWN_DRUGS)))]
        setv("drug", name)
        return Fault(table, rid, kind, "drug", f"{name} is not in the medication dictionary")
    if kind == SUPPLY_ORDER:
        a, b = t["issue_date"][pos], t["supply_end"][pos]
        setv("issue_date", b)
        setv("supply_end", a)
        return Fault(table, rid, kind, "supply_end", "issue and supply end dates swapped")
    if kind == "malformed_line":
        return Fault(table, rid, kind, "", "extra field (unquoted delimiter)", malformed=True)
    raise ValueError(kind)  # pragma: no cover


def _cascade(ctx: _Ctx) -> None:
    """Records of a participant they can no longer link to become unknown_participant
    (:func:`cascade_to`): interviews and prescriptions of a quarantined participant,
    prescriptions (linked by NHS number) of one whose NHS number fails its check."""
    causes = [f for f in ctx.faults if f.table == "participants"]
    for table, link in (("phq9", "record_id"), ("scripts", "nhs_number")):
        ctx.faults += cascade_to(causes, ctx.tables["participants"], table, ctx.tables[table], link)


Rows = pd.DataFrame | dict[str, np.ndarray]  # columns _rid and _pid at least


def cascade_to(
    faults: list[Fault], participants: Rows, table: str, t: Rows, link: str
) -> list[Fault]:
    """The ``unknown_participant`` cascades of a table drawn after the faults (``_rid``,
    ``_pid``): records of quarantined participants and, for a table linked by NHS number,
    of participants whose NHS number fails its check."""
    pid_of = dict(zip(participants["_rid"].tolist(), participants["_pid"].tolist(), strict=True))
    lost: dict[int, Fault] = {}
    for f in faults:
        if f.table != "participants":
            continue
        if f.kind in QUARANTINES_PARTICIPANT or (
            f.kind == "unlinkable_identifier" and link == "nhs_number"
        ):
            lost[pid_of[f.rid]] = f
    out = []
    for rid, pid in zip(t["_rid"].tolist(), t["_pid"].tolist(), strict=True):
        if pid in lost:
            cause = lost[pid]
            why = "quarantined" if cause.kind in QUARANTINES_PARTICIPANT else "unlinkable"
            out.append(
                Fault(
                    table,
                    int(rid),
                    "unknown_participant",
                    link,
                    f"cascade: participant record {why} ({cause.kind})",
                )
            )
    return out
