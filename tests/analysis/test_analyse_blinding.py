"""Blinded, unblinded and open reports; the final-plan lock; determinism; the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from odtrial._io import RECORD, sha256_file
from odtrial.errors import OdtrialError, PlanError

SAP = Path(__file__).resolve().parents[2] / "analysis_plans" / "pod_synthetic_sap.toml"
REVEALING = ("POD", "TAU", "Open Dialogue")


def _all_output_text(out: Path) -> dict[str, str]:
    files = [out / "results.json", *sorted((out / "tables").glob("*.csv")),
             *sorted(out.glob("analysis_dataset*.csv"))]  # fmt: skip
    return {f.name: f.read_text(encoding="utf-8") for f in files}


def test_blinded_outputs_never_name_an_arm(blinded_run) -> None:
    for name, text in _all_output_text(blinded_run.out).items():
        for word in REVEALING:
            assert word not in text, (name, word)
        assert not re.search("treatment as usual", text, re.I), name
    assert blinded_run.results["report_type"] == "blinded"
    assert {a["label"] for a in blinded_run.results["arms"]} == {"Arm A", "Arm B"}


def test_unblinded_report_shows_real_arms(unblinded_run) -> None:
    r = unblinded_run.results
    assert r["report_type"] == "unblinded" and r["plan"]["status"] == "final"
    assert r["arms"][0] == {"code": "POD", "label": "Peer-supported Open Dialogue"}
    assert set(r["outcomes"][0]["n_analysed"]) == {"POD", "TAU"}
    assert "Open Dialogue" in r["title"]


def test_open_report_pools_arms_and_hides_effects(open_run) -> None:
    r = open_run.results
    assert r["arms"] == [{"code": "all", "label": "All participants"}]
    for o in r["outcomes"]:
        assert o["effect"] is None and o["absolute"] is None and o["coefficients"] == []
        assert set(o["n_analysed"]) == {"all"}
        assert o["icc"] is not None
    for s in r["sensitivity"]:
        assert s["effect"] is None and s["p_value"] is None
    assert len(r["flow"]["arms"]) == 1 and r["flow"]["arms"][0]["recruited"] == 619
    for name, text in _all_output_text(open_run.out).items():
        for word in REVEALING:
            assert word not in text, (name, word)
    assert "treat" not in (open_run.out / "analysis_dataset.csv").read_text().splitlines()[0]


def test_each_derivation_is_recorded_and_one_dataset_written(open_run) -> None:
    der = open_run.results["derivation"]
    assert der["window_months"] == 24 and der["dataset"] == "analysis_dataset.csv"
    plan = sorted([
        "work_study_12m", "work_study_24m", "any_admission", "bed_days", "any_antipsychotic",
        "cpz_mean_daily_dose", "relapse",
    ])  # fmt: skip
    # and the health economics' resource use (also at 12 months; the open run's plan costs
    # antipsychotics by DDD too) and EQ-5D answers
    assert sorted(k for k in der["derivations"] if not k.startswith("eq5d_")) == sorted(
        [*plan, *(f"{r}{s}" for r in ("inpatient_days", "crisis_episodes", "gp_consultations",
                                      "cmht_contacts", "antipsychotic_ddds") for s in ("", "_m12"))]
    )  # fmt: skip
    assert len([k for k in der["derivations"] if k.startswith("eq5d_")]) == 15
    assert sorted(p.name for p in open_run.out.glob("analysis_dataset*")) == [der["dataset"]]
    cpz = next(o for o in open_run.results["outcomes"] if o["id"] == "cpz_mean_daily_dose")
    assert cpz["derivation"] == der["derivations"]["cpz_mean_daily_dose"]
    assert cpz["derivation"]["equivalence"] == "chlorpromazine_leucht2015"
    assert cpz["derivation"]["key"] == "outcomes.cpz_mean_daily_dose.derivation"
    assert der["counts"]["derivations"]["cpz_mean_daily_dose"]["unit"] == (
        "mg chlorpromazine equivalents (Leucht 2015)"
    )


def test_unblinding_a_draft_plan_is_refused(an_freeze, tmp_path) -> None:
    from odtrial.analysis.analyse import analyse

    with pytest.raises(PlanError, match=r"cannot unblind: the analysis plan is 'draft'"):
        analyse(SAP, an_freeze, tmp_path / "out", unblind=True)
    with pytest.raises(PlanError, match="cannot unblind"):
        analyse(SAP, an_freeze, tmp_path / "out", report_type="unblinded")
    assert not (tmp_path / "out").exists()


def test_final_plan_lock_is_enforced(an_freeze, an_plan_text, tmp_path) -> None:
    from odtrial.analysis.analyse import analyse
    from odtrial.plan import lock_plan

    plan = tmp_path / "sap.toml"
    plan.write_text(an_plan_text(), encoding="utf-8")
    with pytest.raises(PlanError, match=r"final plan version 0\.1 is not locked"):
        analyse(plan, an_freeze, tmp_path / "out")
    lock_plan(plan)
    plan.write_text(an_plan_text().replace("nagq = 25", "nagq = 15", 1), encoding="utf-8")
    with pytest.raises(PlanError, match=r"has changed since it was locked"):
        analyse(plan, an_freeze, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_report_type_and_seed(an_freeze, tmp_path) -> None:
    from odtrial.analysis.analyse import analyse

    with pytest.raises(PlanError, match="report_type must be one of"):
        analyse(SAP, an_freeze, tmp_path, report_type="closed")
    with pytest.raises(PlanError, match="seed must be a non-negative integer"):
        analyse(SAP, an_freeze, tmp_path, seed=-1)


def test_cli_rerun_is_byte_identical(blinded_run, an_freeze, tmp_path, capsys) -> None:
    """A second run (through the CLI, same plan, freeze and default seed) writes the same bytes."""
    from odtrial.analysis.analyse import DEFAULT_SEED
    from odtrial.cli import main

    out = tmp_path / "again"
    with pytest.raises(SystemExit) as exc:
        main(["analyse", "--plan", str(SAP), "--freeze", str(an_freeze), "--out", str(out),
              "--seed", str(DEFAULT_SEED)])  # fmt: skip
    assert exc.value.code == 0
    assert "blinded results" in capsys.readouterr().out
    first, second = _all_output_text(blinded_run.out), _all_output_text(out)
    assert first.keys() == second.keys() and len(first) == 1 + 7 + 1 + 1  # + ce_plane
    for name in first:
        assert first[name] == second[name], name
    assert not list(out.rglob(".*tmp*"))  # no temporaries left behind


def test_cli_error_is_one_line(an_freeze, tmp_path, capsys) -> None:
    from odtrial.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["analyse", "--plan", str(SAP), "--freeze", str(an_freeze),
              "--out", str(tmp_path), "--unblind"])  # fmt: skip
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot unblind" in err


def test_arm_view_is_keyed_and_stable() -> None:
    from odtrial.analysis.blinding import arm_view, first_is_a

    arms = ("POD", "TAU")
    keys = [f"key-{i}".encode() for i in range(16)]
    picks = {first_is_a(arms, key=k, trial_name="T") for k in keys}
    assert picks == {True, False}  # the key decides; both outcomes occur
    v1 = arm_view(arms, "blinded", key=keys[0], trial_name="T")
    v2 = arm_view(arms, "blinded", key=keys[0], trial_name="T")
    assert v1 == v2 and sorted(v1.display.values()) == ["A", "B"]
    assert v1.arms_json() == [{"code": "A", "label": "Arm A"}, {"code": "B", "label": "Arm B"}]
    with pytest.raises(PlanError, match="needs the blinding key"):
        arm_view(arms, "blinded")


def test_scrub_replaces_codes_and_labels_without_revealing_mapping() -> None:
    from odtrial.analysis.blinding import arm_view, check_blind, scrub

    labels = {"POD": "Peer-supported Open Dialogue", "TAU": "Treatment as usual"}
    view = arm_view(("POD", "TAU"), "open", labels=labels)
    text = {
        "t": [
            "Peer-supported Open Dialogue versus treatment as usual",
            "POD trial",
            "PODCAST",
            "Teams offer Peer-supported Open Dialogue or their treatment as usual. "
            "Treatment as usual is the POD trial's comparator.",
        ]
    }
    assert scrub(text, view.hidden_terms) == {
        "t": [
            "The intervention versus the control",
            "intervention trial",
            "PODCAST",
            # a determiner goes with the label; a sentence's start stays capitalised
            "Teams offer the intervention or the control. "
            "The control is the intervention trial's comparator.",
        ]
    }
    # without labels (no trial definition) only the codes are hidden
    bare = arm_view(("POD", "TAU"), "open")
    assert set(bare.hidden_terms) == {"POD", "TAU"}
    with pytest.raises(OdtrialError, match="would reveal arm 'TAU'"):
        check_blind("arm TAU", view.hidden_terms, "x.csv")


def test_real_trial_needs_its_own_blinding_key(tmp_path, monkeypatch):
    """Only a synthetic trial may blind with its published test key."""
    import dataclasses
    from pathlib import Path

    from odtrial.analysis.blinding import KEY_ENV, blinding_key
    from odtrial.errors import PlanError
    from odtrial.paths import shipped_plan
    from odtrial.plan import load_plan

    plan = load_plan(shipped_plan())
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert blinding_key(plan)  # synthetic: the documented test key
    cfg = Path(plan.trial_config).read_text(encoding="utf-8")
    real = tmp_path / "trial.toml"
    real.write_text(
        "\n".join(
            ln
            for ln in cfg.replace("synthetic = true", "synthetic = false").splitlines()
            if not ln.strip().startswith("test_key")
        ),
        encoding="utf-8",
    )
    real_plan = dataclasses.replace(plan, trial_config=real)
    with pytest.raises(PlanError, match="no blinding key: set ODTRIAL_BLINDING_KEY"):
        blinding_key(real_plan)
    monkeypatch.setenv(KEY_ENV, "a-separate-secret-key")
    assert blinding_key(real_plan) == b"a-separate-secret-key"


def test_analyse_replaces_its_own_folder_whole_and_refuses_others(
    an_freeze, lean_sap, tmp_path
) -> None:
    from odtrial.analysis.analyse import analyse

    out = tmp_path / "analysis"
    analyse(lean_sap, an_freeze, out)
    # a table an older run wrote (on odtrial's record) goes; a file the user added stays
    stale = out / "tables" / "from_an_older_run.csv"
    stale.write_text("x\n", encoding="utf-8")
    record = json.loads((out / RECORD).read_text(encoding="utf-8"))
    record["files"]["tables/from_an_older_run.csv"] = sha256_file(stale)
    (out / RECORD).write_text(json.dumps(record), encoding="utf-8")
    (out / "my_notes.txt").write_text("mine\n", encoding="utf-8")
    analyse(lean_sap, an_freeze, out)
    assert not stale.exists() and (out / "results.json").is_file()
    assert (out / "my_notes.txt").read_text(encoding="utf-8") == "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["analysis"]  # no temporaries
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "draft.docx").write_bytes(b"not ours")
    with pytest.raises(PlanError, match=r"was not written by odtrial"):
        analyse(lean_sap, an_freeze, mine)
    assert [p.name for p in mine.iterdir()] == ["draft.docx"]
