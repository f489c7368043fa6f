"""The BRIDGE generator: its files, determinism, randomisation record, truth and CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from odtrial.synth.bridge import MIN_PARTICIPANTS, generate

EXTRACTS = (
    "greater_manchester/BRIDGE-Baseline_DATA_2025-06-30_0900.csv",
    "greater_manchester/BRIDGE-FollowUp_DATA_2025-06-30_0900.csv",
    "greater_manchester/GM_GP_prescribing_20250630.csv",
    "bristol/bnssg_bridge_participants_20250630.xlsx",
    "bristol/bnssg_bridge_phq9_20250630.xlsx",
    "bristol/bnssg_bridge_scripts_20250630.xlsx",
    "north_east/NENC_BRIDGE_baseline_20250630.sav",
    "north_east/NENC_BRIDGE_phq9_20250630.sav",
    "greater_manchester/BRIDGE-EQ5D_DATA_2025-06-30_0900.csv",
    "greater_manchester/GM_GP_consultations_20250630.csv",
    "bristol/bnssg_bridge_eq5d_20250630.xlsx",
    "bristol/bnssg_bridge_contacts_20250630.xlsx",
    "north_east/NENC_BRIDGE_eq5d_20250630.sav",
)
ECON_CONFIG = ("unit_costs.toml", "price_index.toml")
RECORD = (
    "randomisation/allocation.csv",
    "randomisation/allocation_log.jsonl",
    "randomisation/clusters.csv",
    "randomisation/constrained_space.parquet",
    "randomisation/validity.json",
)


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("bridge_det")
    a, b, c = (
        generate(root / name, seed=seed, participants=MIN_PARTICIPANTS + 30)
        for name, seed in (("a", 3), ("b", 3), ("c", 4))
    )
    return a, b, c


def test_it_writes_the_extracts_definition_truth_and_randomisation_record(three) -> None:
    files = set(_digest(three[0]))
    marks = {".odtrial-written.json", "randomisation/.odtrial-written.json"}
    assert files == {*EXTRACTS, *RECORD, *ECON_CONFIG, "trial.toml", "truth.json", *marks}


def test_same_seed_same_bytes_different_seed_different_data(three) -> None:
    a, b, c = (_digest(x) for x in three)
    assert a == b
    assert all(a[k] != c[k] for k in EXTRACTS)


def test_the_definition_declares_the_design(three) -> None:
    trial = tomllib.loads((three[0] / "trial.toml").read_text(encoding="utf-8"))
    assert [a["code"] for a in trial["trial"]["arms"]] == ["CC", "UC"]
    assert [v["month"] for v in trial["visits"]["schedule"]] == [3, 12, 24]
    assert set(trial["tables"]) == {"participants", "phq9", "scripts", "eq5d", "contacts"}
    assert trial["tables"]["eq5d"]["link"] == "record_id"
    assert trial["tables"]["contacts"]["link"] == "nhs_number"
    assert trial["tables"]["participants"]["key"] == "record_id"
    assert trial["tables"]["phq9"]["link"] == "record_id"
    assert trial["tables"]["scripts"]["link"] == "nhs_number"
    assert trial["randomisation"]["strata"]["column"] == "locality"
    assert len(trial["strata"]) == 6 and len(trial["clusters"]) == 24
    assert {k for c in trial["clusters"] for k in c} == {"id", "locality", "practice_size", "arm"}
    # the site that keeps no prescribing sends no extract for it
    assert set(trial["extracts"]["NENC"]) == {"participants", "phq9", "eq5d"}
    assert trial["extracts"]["BNSSG"]["phq9"]["constants"] == {"mode": "telephone"}


def test_every_mapped_column_is_in_its_file(three) -> None:
    import pyreadstat

    src = three[0]
    trial = tomllib.loads((src / "trial.toml").read_text(encoding="utf-8"))
    dirs = {t["id"]: t["directory"] for t in trial["trusts"]}
    for site, tables in trial["extracts"].items():
        for ex in tables.values():
            (path,) = (src / dirs[site]).glob(ex["pattern"])
            if ex["format"] == "csv":
                head = path.read_bytes().decode(ex["encoding"]).lstrip("\ufeff").split("\n")[0]
                columns = head.rstrip("\r").split(ex["delimiter"])
            elif ex["format"] == "excel":
                columns = list(pd.read_excel(path, nrows=0).columns)
            else:
                columns = pyreadstat.read_sav(path, metadataonly=True)[1].column_names
            assert set(ex["columns"].values()) <= set(columns), path.name


def test_the_randomisation_record_verifies_and_matches_the_definition(three) -> None:
    from odtrial.randomise.log import verify_allocation

    src = three[0]
    v = verify_allocation(src / "randomisation", clusters=src / "randomisation" / "clusters.csv")
    trial = tomllib.loads((src / "trial.toml").read_text(encoding="utf-8"))
    assert v.arms == ("CC", "UC")
    arm_of = dict(zip(v.allocation["id"], v.allocation["arm"], strict=True))
    assert arm_of == {c["id"]: c["arm"] for c in trial["clusters"]}
    by_locality = pd.DataFrame(trial["clusters"]).groupby("locality")["arm"].value_counts()
    assert set(by_locality) == {2}


def test_truth_holds_the_effects_and_what_was_realised(three) -> None:
    truth = json.loads((three[0] / "truth.json").read_text(encoding="utf-8"))
    effects = truth["parameters"]["true_effects"]
    assert effects["phq9_12m_mean_difference_conditional"] == -2.0
    assert effects["any_antidepressant_12m_odds_ratio_conditional"] == pytest.approx(1.6)
    # clipping at 0 shrinks the marginal PHQ-9 difference a little, never flips it
    assert -2.0 < truth["implied"]["phq9_12m_mean_difference"] < -1.6
    assert truth["participants"] == sum(truth["design"]["cluster_sizes"].values())
    assert truth["fault_counts"] == {
        k: sum(f["kind"] == k for f in truth["faults"]) for k in truth["fault_counts"]
    }


def test_the_economic_tables_leave_the_other_extracts_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, three
) -> None:
    """The EQ-5D and contacts come from their own stream after the faults: a trial made
    with both tables empty has the same bytes in every other file."""
    import importlib

    gen = importlib.import_module("odtrial.synth.bridge.generate")
    real = gen.econ_tables

    def empty(*args: Any) -> dict[str, pd.DataFrame]:
        return {k: v.iloc[:0] for k, v in real(*args).items()}

    monkeypatch.setattr(gen, "econ_tables", empty)
    bare = _digest(generate(tmp_path / "bare", seed=3, participants=MIN_PARTICIPANTS + 30))
    made = _digest(three[0])
    for k in (*EXTRACTS[:8], *RECORD):
        assert made[k] == bare[k], k
    assert made[EXTRACTS[8]] != bare[EXTRACTS[8]]


def test_truth_holds_the_economic_expectations(three) -> None:
    he = json.loads((three[0] / "truth.json").read_text(encoding="utf-8"))["health_economics"]
    cc, uc = he["by_arm"]["CC"], he["by_arm"]["UC"]
    assert he["incremental_cost"] == pytest.approx(cc["cost"] - uc["cost"], abs=0.01)
    assert he["incremental_qalys"] == pytest.approx(cc["qalys"] - uc["qalys"], abs=1e-5)
    # collaborative care costs more (case manager, practice cost, more therapy) and helps
    assert he["incremental_cost"] > cc["intervention_cost"] > 0 == uc["intervention_cost"]
    assert 0 < he["incremental_qalys"] < 0.2 and 0.5 < uc["qalys"] < 2.0
    unit = tomllib.loads((three[0] / "unit_costs.toml").read_text(encoding="utf-8"))
    assert {i["item"] for i in unit["item"]} == set(he["unit_costs_in_price_year"])


def test_cli_writes_bridge_and_refuses_an_unknown_design(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "odtrial", "synth", "--design", "bridge", "--seed", "3"]
    r = subprocess.run(
        [*run, "--out", str(tmp_path / "b"), "--participants", "150"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "150 participants" in r.stdout
    assert json.loads((tmp_path / "b" / "truth.json").read_text())["participants"] == 150
    for args, message in (
        (["--design", "trial3"], "--design must be one of pod, bridge, redcap, got 'trial3'"),
        (["--design", "bridge", "--participants", "50"], "--participants must be at least 120"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "odtrial", "synth", "--out", str(tmp_path / "x"), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 2 and message in r.stderr
        assert not (tmp_path / "x").exists()
