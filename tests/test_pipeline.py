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
    assert f"({len(dataset)} participants)" in proc.stdout
