from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pandas as pd
import pytest

from odtrial.analysis.pipeline import default_freeze_dir, run
from odtrial.errors import PlanError


def _tree(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    out = root / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "odtrial", "run", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=root,
    )
    return proc, out


def test_run_on_the_shipped_trial(shipped_run):
    proc, out = shipped_run
    assert proc.returncode == 0, proc.stderr
    freeze = out.with_name("out-freeze")
    assert f"freeze:  {freeze}" in proc.stdout
    manifest = json.loads((freeze / "manifest.json").read_text())
    accepted = pd.read_parquet(freeze / "tables" / "participants.parquet")
    dataset = pd.read_csv(out / "analysis_dataset.csv")
    assert len(dataset) == len(accepted) > 500
    assert all(
        i["rows_read"] == i["rows_accepted"] + i["rows_quarantined"] for i in manifest["inputs"]
    )
    assert f"blinded; {len(dataset)} participants" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["report_type"] == "blinded" and [a["code"] for a in results["arms"]] == [
        "A",
        "B",
    ]
    assert results["freeze"]["randomisation_log_head"] == manifest["randomisation"]["log_head"]
    for name in ("report.docx", "report.html", "analysis_dataset.csv"):
        assert (out / name).stat().st_size > 0


def test_the_blinded_output_folder_holds_no_real_arm_and_no_freeze(shipped_run):
    from odtrial.paths import shipped_trial_dir
    from odtrial.randomise import verify_allocation

    _, out = shipped_run
    seed = str(verify_allocation(shipped_trial_dir() / "randomisation").parameters["seed"])
    files = [f for f in out.rglob("*") if f.is_file()]
    assert not any(f.name in ("manifest.json", "allocation.csv") for f in files)
    assert not any(f.suffix == ".parquet" for f in files)  # no frozen tables
    for f in files:
        if f.suffix in {".csv", ".json", ".html", ".svg"}:
            texts = [f.read_text(encoding="utf-8")]
        elif f.suffix == ".docx":
            with zipfile.ZipFile(f) as z:
                texts = [z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml")]
        else:
            continue
        for text in texts:
            assert "POD" not in text and "TAU" not in text, f
            assert seed not in text, f  # the randomisation seed re-creates the allocation


def test_a_failed_run_leaves_the_previous_output_untouched(shipped_run, tmp_path):
    _, out = shipped_run
    before = _tree(out)
    bad_plan = tmp_path / "bad.toml"
    bad_plan.write_text('[plan]\nversion = "x"\n', encoding="utf-8")
    with pytest.raises(PlanError):
        run(None, out, plan=bad_plan)
    assert _tree(out) == before
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".out")] == []


def test_a_run_failing_while_writing_the_report_changes_nothing(shipped_run, monkeypatch):
    import odtrial.report.build as build

    _, out = shipped_run
    before = _tree(out)

    def half_then_fail(results, folder):
        (folder / "report.html").write_text("half", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(build, "write_report_files", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        run(None, out)
    assert _tree(out) == before  # the new results.json never appeared beside the old report
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".out")] == []


def test_run_refuses_a_freeze_inside_the_output_and_a_foreign_folder(tmp_path):
    with pytest.raises(PlanError, match="must be separate folders"):
        run(None, tmp_path / "out", freeze=tmp_path / "out" / "freeze")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(PlanError, match="was not written by odtrial"):
        run(None, foreign, freeze=tmp_path / "fz")
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_default_freeze_sits_beside_the_output():
    assert default_freeze_dir("results/out").as_posix() == "results/out-freeze"
