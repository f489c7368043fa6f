"""Helpers for the synthetic-trial tests: read extracts back with the dialect in trial.toml
and an independent, minimal re-statement of the data contract's rules, so the tests can
say "this fault is really there, and nothing else is".
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from odtrial.data.catalogue import RULES
from odtrial.data.drugs import DRUGS, PLAUSIBLE_FACTOR
from odtrial.synth.config import VISIT_SCHEDULE
from odtrial.synth.tables import table_specs, tables_config
from odtrial.trial import ExtractSpec, Trial, load_trial

_SPECS = table_specs()
MAPPED = {t: s.fields for t, s in _SPECS.items()}
SITE_TABLES = tuple(_SPECS)

DATE_KIND = "date"
VISIT_MONTHS = tuple(m for m, _ in VISIT_SCHEDULE)  # the synthetic trial's visit vocabulary


def nhs_ok(s: str) -> bool:
    if len(s) != 10 or not s.isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(s[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(s[9])


def read_raw(
    src: Path, spec: ExtractSpec, directory: str
) -> tuple[str, list[dict[str, Any] | None]]:
    """(relative path, records) with records as {source column: value}; None = malformed."""
    files = sorted((src / directory).glob(spec.pattern))
    assert len(files) == 1, files
    f = files[0]
    rel = f.relative_to(src).as_posix()
    if spec.format == "csv":
        text = f.read_bytes().decode(spec.encoding)
        lines = text.splitlines()
        head = lines[0].split(spec.delimiter)
        recs: list[dict[str, Any] | None] = []
        for line in lines[1:]:
            parts = line.split(spec.delimiter)
            recs.append(dict(zip(head, parts, strict=True)) if len(parts) == len(head) else None)
        return rel, recs
    if spec.format == "excel":
        df = pd.read_excel(f, sheet_name=spec.sheet, dtype=object)
    elif spec.format == "sav":
        df, _ = pyreadstat.read_sav(f, apply_value_formats=spec.use_value_labels)
    elif spec.format == "dta":
        df, _ = pyreadstat.read_dta(f, apply_value_formats=spec.use_value_labels)
    else:
        df, _ = pyreadstat.read_xport(f)
    return rel, df.astype(object).to_dict("records")


class Reject(Exception):
    def __init__(self, rule: str, field: str) -> None:
        self.rule, self.field = rule, field


def _text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = str(v).strip()
    return s or None


def _date(v: Any, spec: ExtractSpec, cutoff: date) -> date | None:
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)) or v == "":
        return None
    if spec.date_format == "sas-days":
        d = date(1960, 1, 1) + timedelta(days=int(v))
    elif spec.date_format == "native":
        d = pd.Timestamp(v).date()
    else:
        try:
            d = datetime.strptime(str(v), spec.date_format).date()
        except ValueError:
            raise Reject("impossible_date", "") from None
    if d < date(1900, 1, 1) or d > cutoff:
        raise Reject("impossible_date", "")
    return d


def map_record(rec: dict[str, Any], spec: ExtractSpec, table: str, cutoff: date) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in MAPPED[table]:
        if f.name not in spec.columns:
            out[f.name] = None
            continue
        v = rec[spec.columns[f.name]]
        try:
            if f.kind == DATE_KIND:
                val: Any = _date(v, spec, cutoff)
            else:
                val = _text(v)
                if val is not None and f.kind == "code":
                    codes = spec.codes.get(f.name, {})
                    if val in codes:
                        val = codes[val]
                    elif f.vocab == "drug":
                        val = val.lower()
                    else:
                        canon = {str(c).lower(): c for c in _vocabulary(f.vocab or "")}
                        if val.lower() not in canon:
                            raise Reject("out_of_vocabulary", f.name)
                        val = canon[val.lower()]
                elif val is not None and f.kind == "float":
                    val = float(val)
        except Reject as r:
            raise Reject(r.rule, f.name) from None
        if val is None and f.required:
            raise Reject("missing_value", f.name)
        out[f.name] = val
    return out


@dataclass(frozen=True)
class Problem:
    file: str
    source_row: int
    table: str
    rule: str

    @property
    def severity(self) -> str:
        return _severity(self.rule)


def add_months(d: date, m: int) -> date:
    return (pd.Timestamp(d) + pd.DateOffset(months=m)).date()


def mini_validate(src: Path) -> set[Problem]:
    """Every problem the contract's rules raise on a synthetic source folder."""
    trial: Trial = load_trial(src / "trial.toml")
    cutoff = trial.data_cutoff
    probs: set[Problem] = set()
    mapped: dict[str, list[tuple[str, int, str, dict[str, Any]]]] = {}
    for trust in trial.trusts:
        for table, spec in trial.extracts[trust.id].items():
            rel, recs = read_raw(src, spec, trust.directory)
            for i, rec in enumerate(recs, start=1):
                if rec is None:
                    probs.add(Problem(rel, i, table, "malformed_line"))
                    continue
                try:
                    row = map_record(rec, spec, table, cutoff)
                except Reject as r:
                    probs.add(Problem(rel, i, table, r.rule))
                    continue
                mapped.setdefault(table, []).append((rel, i, trust.id, row))

    practice_cluster = trial.cluster_of_practice()
    clusters = trial.cluster_by_id()
    errors: set[tuple[str, int]] = set()

    def flag(rel: str, i: int, table: str, rule: str) -> None:
        probs.add(Problem(rel, i, table, rule))
        if _severity(rule) == "error":
            errors.add((rel, i))

    for table, rows in mapped.items():
        seen: set[tuple[Any, ...]] = set()
        for rel, i, _, row in rows:
            key = tuple(sorted((k, str(v)) for k, v in row.items()))
            if key in seen:
                flag(rel, i, table, "duplicate_record")
            seen.add(key)
            if not nhs_ok(str(row["nhs_number"])):
                flag(rel, i, table, "nhs_number_invalid")
    people: dict[str, dict[str, Any]] = {}
    for rel, i, trust, row in mapped.get("participants", []):
        nhs = str(row["nhs_number"])
        if nhs in people:
            flag(rel, i, "participants", "duplicate_record")
            continue
        cl = clusters.get(row["cluster_id"])
        if cl is None:
            flag(rel, i, "participants", "unknown_cluster")
        elif cl.trust != trust:
            flag(rel, i, "participants", "cluster_wrong_trust")
        pc = practice_cluster.get(row["gp_practice"])
        if pc is None:
            flag(rel, i, "participants", "unknown_practice")
        elif cl is not None and pc != cl.id:
            rule = "practice_other_arm" if clusters[pc].arm != cl.arm else "practice_other_cluster"
            flag(rel, i, "participants", rule)
        dob, consent = row["date_of_birth"], row["consent_date"]
        age = consent.year - dob.year - ((consent.month, consent.day) < (dob.month, dob.day))
        if age < 18:
            flag(rel, i, "participants", "under_min_age")
        if (rel, i) not in errors:
            people[nhs] = row
    date_field = {
        "followup": ("assessment_date",),
        "admissions": ("admission_date", "discharge_date"),
        "crisis_referrals": ("referral_date",),
        "prescriptions": ("start_date", "end_date"),
    }
    stays: dict[str, list[tuple[date, date, str, int]]] = {}
    for table, fields in date_field.items():
        for rel, i, _, row in mapped.get(table, []):
            if (rel, i) in errors:
                continue
            person = people.get(str(row["nhs_number"]))
            if person is None:
                flag(rel, i, table, "unknown_participant")
                continue
            consent = person["consent_date"]
            end = min(add_months(consent, trial.follow_up_months), cutoff)
            for fld in fields:
                d = row[fld]
                if d is None:
                    continue
                if d < consent:
                    flag(rel, i, table, "date_before_consent")
                if d > end:
                    flag(rel, i, table, "date_after_follow_up")
            if table == "followup":
                target = add_months(consent, int(row["visit_month"]))
                if abs((row["assessment_date"] - target).days) > 92:
                    flag(rel, i, table, "visit_out_of_window")
            if table == "admissions":
                a, b = row["admission_date"], row["discharge_date"]
                if b is not None and b < a:
                    flag(rel, i, table, "discharge_before_admission")
                else:
                    stays.setdefault(str(row["nhs_number"]), []).append((a, b or cutoff, rel, i))
            if table == "prescriptions":
                if row["end_date"] is not None and row["end_date"] < row["start_date"]:
                    flag(rel, i, table, "end_before_start")
                drug = DRUGS.get(row["drug"])
                if drug is None:
                    flag(rel, i, table, "unknown_drug")
                elif not 0 < row["daily_dose_mg"] <= PLAUSIBLE_FACTOR * drug.max_daily_mg:
                    flag(rel, i, table, "implausible_dose")
    for lst in stays.values():
        lst.sort()
        for (_a0, b0, _, _), (a1, _, rel, i) in itertools.pairwise(lst):
            if a1 < b0:
                probs.add(Problem(rel, i, "admissions", "overlapping_admissions"))
    return probs


@pytest.fixture(scope="session")
def minival():
    return mini_validate


@pytest.fixture(scope="session")
def default_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default trial (default seed, size and fault rate), generated once per session."""
    from odtrial.synth import generate

    return generate(tmp_path_factory.mktemp("synth_default"))


@pytest.fixture(scope="session")
def clean_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from odtrial.synth import generate

    return generate(tmp_path_factory.mktemp("synth_clean"), seed=11, participants=300, fault_rate=0)


@pytest.fixture(scope="session")
def readraw():
    return read_raw


def _vocabulary(name: str) -> tuple[Any, ...]:
    """The POD trial's canonical values of a vocabulary (as its trial.toml declares)."""
    if name == "yes_no":
        return (True, False)
    if name == "visit":
        return tuple(VISIT_MONTHS)
    return tuple(tables_config()["vocabularies"][name])


def _severity(code: str) -> str:
    """A rule code's severity in the POD trial: built in, or its tables' rules'."""
    configured = {r.code: r.severity for spec in table_specs().values() for r in spec.rules}
    return configured.get(code) or RULES[code].severity
