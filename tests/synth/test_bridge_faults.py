"""BRIDGE's injected faults are really in its files, at the rows truth.json names, and
nothing else is wrong: an independent, minimal re-statement of the validation rules
(read with only tomllib, pandas and pyreadstat) finds exactly the recorded faults, and
none in a clean trial."""

from __future__ import annotations

import tomllib
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from odtrial.data.medication_dictionary import load_medication_dictionary

Row = dict[str, Any]


def nhs_ok(s: str) -> bool:
    if len(s) != 10 or not s.isdigit():
        return False
    check = 11 - sum(int(c) * w for c, w in zip(s[:9], range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(s[9])


def add_months(d: date, m: int) -> date:
    return (pd.Timestamp(d) + pd.DateOffset(months=m)).date()


def _text(v: Any) -> str | None:
    if v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = str(v).strip()
    return s or None


def read_raw(path: Path, ex: dict[str, Any]) -> list[Row | None]:
    """Records as {source column: value}; None for a malformed CSV line."""
    if ex["format"] == "csv":
        text = path.read_bytes().decode(ex["encoding"]).lstrip("\ufeff")
        lines = text.splitlines()
        head = lines[0].split(ex["delimiter"])
        out: list[Row | None] = []
        for line in lines[1:]:
            parts = line.split(ex["delimiter"])
            out.append(dict(zip(head, parts, strict=True)) if len(parts) == len(head) else None)
        return out
    if ex["format"] == "excel":
        df = pd.read_excel(path, dtype=object)
    else:
        df, _ = pyreadstat.read_sav(path, apply_value_formats=ex["use_value_labels"])
    return df.astype(object).to_dict("records")


class Reject(Exception):
    pass


def canonical(rec: Row, ex: dict[str, Any], table: dict[str, Any], trial: dict[str, Any]) -> Row:
    """One record mapped to the table's fields, or Reject(rule)."""
    cutoff = trial["trial"]["data_cutoff"]
    out: Row = dict(ex.get("constants", {}))
    for f in table["fields"]:
        name, kind = f["name"], f["type"]
        if name not in ex["columns"]:
            continue
        raw = rec[ex["columns"][name]]
        v: Any = _text(raw)
        if v is not None and kind == "date":
            if ex["date_format"] == "native":
                v = pd.Timestamp(raw).date()
            else:
                try:
                    v = datetime.strptime(v, ex["date_format"]).date()
                except ValueError:
                    raise Reject("impossible_date") from None
            if not date(1900, 1, 1) <= v <= cutoff:
                raise Reject("impossible_date")
        elif v is not None and kind in ("code", "boolean", "visit"):
            codes = ex.get("codes", {}).get(name)
            if codes is not None:
                if v not in codes:
                    raise Reject("out_of_vocabulary")
                v = codes[v]
            if kind == "code" and v not in trial["vocabularies"][f["vocabulary"]]:
                raise Reject("out_of_vocabulary")
        elif v is not None and kind in ("integer", "number"):
            try:
                v = float(v)
            except ValueError:
                raise Reject("invalid_value") from None
            if not f.get("min", -np.inf) <= v <= f.get("max", np.inf):
                raise Reject("out_of_range")
        elif v is not None and kind == "nhs_number" and not nhs_ok(v):
            if name == table.get("key") or f.get("required", True):
                raise Reject("nhs_number_invalid")
            out["_unlinkable"] = name  # a warning: kept, but links by it fail
            v = None
        if v is None and f.get("required", True):
            raise Reject("missing_value")
        out[name] = v
    return out


def mini_validate(src: Path) -> Counter[tuple[str, int, str]]:
    """(file, source_row, rule) of every problem the rules find in the trial at ``src``."""
    trial = tomllib.loads((src / "trial.toml").read_text(encoding="utf-8"))
    tables = trial["tables"]
    found: Counter[tuple[str, int, str]] = Counter()
    dirs = {t["id"]: t["directory"] for t in trial["trusts"]}
    cluster_site = {
        c["id"]: s["trust"]
        for c in trial["clusters"]
        for s in trial["strata"]
        if s["id"] == c["locality"]
    }
    rows: dict[str, list[tuple[str, int, str, Row]]] = {t: [] for t in tables}
    for site, by_table in trial["extracts"].items():
        for name, ex in by_table.items():
            (path,) = sorted((src / dirs[site]).glob(ex["pattern"]))
            rel = path.relative_to(src).as_posix()
            seen: set[tuple[Any, ...]] = set()
            for i, rec in enumerate(read_raw(path, ex), start=1):
                if rec is None:
                    found[rel, i, "malformed_line"] += 1
                    continue
                key = tuple(sorted((k, str(v)) for k, v in rec.items()))
                if key in seen and name != "phq9":
                    found[rel, i, "duplicate_record"] += 1
                    continue
                seen.add(key)
                try:
                    row = canonical(rec, ex, tables[name], trial)
                except Reject as r:
                    found[rel, i, str(r)] += 1
                    continue
                if row.pop("_unlinkable", None):
                    found[rel, i, "unlinkable_identifier"] += 1
                rows[name].append((rel, i, site, row))
    consent: dict[str, date] = {}
    by_nhs: dict[str, str] = {}
    for rel, i, site, r in rows["participants"]:
        if r["cluster_id"] not in cluster_site:
            found[rel, i, "unknown_cluster"] += 1
            continue
        if cluster_site[r["cluster_id"]] != site:
            found[rel, i, "cluster_wrong_trust"] += 1
            continue
        if add_months(r["date_of_birth"], 12 * trial["eligibility"]["min_age"]) > r["consent_date"]:
            found[rel, i, "under_min_age"] += 1
        consent[r["record_id"]] = r["consent_date"]
        if r.get("nhs_number"):
            by_nhs[r["nhs_number"]] = r["record_id"]
    windows = {v["month"]: v["window_days"] for v in trial["visits"]["schedule"]}
    visits: set[tuple[str, int]] = set()
    for rel, i, _, r in sorted(rows["phq9"], key=lambda x: (x[3]["completed_on"], x[0], x[1])):
        if r["record_id"] not in consent:
            found[rel, i, "unknown_participant"] += 1
            continue
        due = add_months(consent[r["record_id"]], r["timepoint"])
        if abs((r["completed_on"] - due).days) > windows[r["timepoint"]]:
            found[rel, i, "visit_out_of_window"] += 1
        if (r["record_id"], r["timepoint"]) in visits:
            found[rel, i, "duplicate_visit"] += 1
        visits.add((r["record_id"], r["timepoint"]))
    drugs = load_medication_dictionary()
    for rel, i, _, r in rows["scripts"]:
        if r["nhs_number"] not in by_nhs:
            found[rel, i, "unknown_participant"] += 1
            continue
        c = consent[by_nhs[r["nhs_number"]]]
        if r["issue_date"] < c:
            found[rel, i, "date_before_consent"] += 1
        if r["issue_date"] > add_months(c, trial["trial"]["follow_up_months"]):
            found[rel, i, "date_after_follow_up"] += 1
        if r["supply_end"] is not None and r["supply_end"] < r["issue_date"]:
            found[rel, i, "supply_end_before_issue"] += 1
        drug = drugs.resolve(r["drug"])
        if drug is None:
            found[rel, i, "unknown_drug"] += 1
        elif r["daily_dose_mg"] <= 0 or r["daily_dose_mg"] > 2 * drug.max_daily_mg:
            found[rel, i, "implausible_dose"] += 1
    # the economic tables: any record of a participant the link cannot find
    for name, link, known in (("eq5d", "record_id", consent), ("contacts", "nhs_number", by_nhs)):
        for rel, i, _, r in rows.get(name, ()):
            if r[link] not in known:
                found[rel, i, "unknown_participant"] += 1
    return found


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from odtrial.synth.bridge import generate

    return generate(tmp_path_factory.mktemp("bridge_faulty"), seed=5, fault_rate=0.02)


def _truth(src: Path) -> dict[str, Any]:
    import json

    return json.loads((src / "truth.json").read_text(encoding="utf-8"))


def test_every_fault_is_found_where_truth_says_and_nothing_else(faulty: Path) -> None:
    truth = _truth(faulty)
    recorded = Counter((f["file"], f["source_row"], f["kind"]) for f in truth["faults"])
    assert mini_validate(faulty) == recorded


def test_every_kind_is_injected_once_before_any_twice(faulty: Path) -> None:
    from odtrial.synth.bridge.faults import KINDS

    kinds = {f["kind"] for f in _truth(faulty)["faults"]}
    assert kinds == {*KINDS, "unknown_participant"}


def test_faults_cascade_from_quarantined_participants(faulty: Path) -> None:
    faults = _truth(faulty)["faults"]
    cascades = [f for f in faults if f["detail"].startswith("cascade")]
    assert cascades and {f["table"] for f in cascades} <= {"phq9", "scripts", "eq5d", "contacts"}
    # the economic tables get no faults of their own, only the cascades
    econ = [f for f in faults if f["table"] in ("eq5d", "contacts")]
    assert econ and all(f["detail"].startswith("cascade") for f in econ)


def test_a_clean_trial_has_no_problems(tmp_path: Path) -> None:
    from odtrial.synth.bridge import generate

    src = generate(tmp_path / "clean", seed=6, fault_rate=0)
    assert _truth(src)["faults"] == []
    assert mini_validate(src) == Counter()
