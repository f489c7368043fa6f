from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd


def test_run_on_the_shipped_trial(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "odtrial", "run", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "freeze" / "manifest.json").read_text())
    accepted = pd.read_parquet(out / "freeze" / "tables" / "participants.parquet")
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
    for name in ("report.docx", "report.html", "analysis_dataset.csv"):
        assert (out / name).stat().st_size > 0
    # the blinded output folder holds no real arm anywhere
    for f in out.rglob("*"):
        if f.is_file() and "freeze" not in f.parts and f.suffix in {".csv", ".json", ".html"}:
            text = f.read_text(encoding="utf-8")
            assert "POD" not in text and "TAU" not in text, f
