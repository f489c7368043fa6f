"""Fault bookkeeping: every recorded fault is where truth.json says, found by exactly the
recorded rule, and nothing else is found (checked with an independent re-statement of the
data contract's rules in conftest.mini_validate)."""

from __future__ import annotations

import json

from odtrial.data.catalogue import RULES
from odtrial.synth.faults import KINDS
from odtrial.synth.tables import table_specs


def _truth(src):
    return json.loads((src / "truth.json").read_text(encoding="utf-8"))


def test_every_kind_is_injected_in_the_default_trial(default_trial):
    counts = _truth(default_trial)["fault_counts"]
    assert set(KINDS) <= set(counts)
    pod_codes = {r.code for spec in table_specs().values() for r in spec.rules}
    assert all(k in RULES or k in pod_codes for k in counts)


def test_fault_rate_is_the_share_of_records(default_trial):
    t = _truth(default_trial)
    primary = sum(v for k, v in t["fault_counts"].items() if k != "unknown_participant")
    assert abs(primary / sum(t["rows"].values()) - t["fault_rate"]) < 0.002


def test_faults_point_at_existing_rows(default_trial):
    for f in _truth(default_trial)["faults"]:
        path = default_trial / f["file"]
        assert path.is_file(), f
        assert f["source_row"] >= 1
        assert set(f) == {"file", "source_row", "table", "trust", "kind", "field", "detail"}


def test_recorded_faults_equal_found_problems(default_trial, minival):
    found = {(p.file, p.source_row, p.rule) for p in minival(default_trial)}
    recorded = {(f["file"], f["source_row"], f["kind"]) for f in _truth(default_trial)["faults"]}
    assert recorded == found


def test_high_fault_rate_with_administrative_censoring_still_exact(tmp_path, minival):
    from datetime import date

    from odtrial.synth import generate

    # a cut-off inside many 24-month windows: later events absent, open stays/prescriptions
    src = generate(
        tmp_path, seed=5, participants=200, fault_rate=0.08, data_cutoff=date(2024, 3, 31)
    )
    found = {(p.file, p.source_row, p.rule) for p in minival(src)}
    recorded = {(f["file"], f["source_row"], f["kind"]) for f in _truth(src)["faults"]}
    assert recorded == found
    assert "2024-03-31" in (src / "trial.toml").read_text(encoding="utf-8")


def test_clean_trial_has_no_problem_at_all(clean_trial, minival):
    assert minival(clean_trial) == set()
    assert _truth(clean_trial)["faults"] == []


def test_invalid_nhs_numbers_really_fail_modulus_11(default_trial, readraw):
    from odtrial.synth.population import nhs_valid
    from odtrial.trial import load_trial

    t = load_trial(default_trial / "trial.toml")
    n = 0
    for f in _truth(default_trial)["faults"]:
        if f["kind"] != "nhs_number_invalid":
            continue
        spec = t.extracts[f["trust"]]["participants"]
        _, recs = readraw(default_trial, spec, t.trust(f["trust"]).directory)
        value = str(recs[f["source_row"] - 1][spec.columns["nhs_number"]])
        assert len(value) == 10 and not nhs_valid([value])[0]
        n += 1
    assert n > 0
