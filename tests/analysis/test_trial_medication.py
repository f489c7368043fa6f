"""A trial's own medication dictionary travels in the freeze and reaches the analysis.

A copy of the shipped trial gains one prescription of a drug that only the
trial's dictionary extension names; ``odtrial run`` counts it as an
antipsychotic only when ``[medication] extend`` names that extension.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from odtrial.data.freeze import read_freeze
from odtrial.errors import FreezeError

REPO = Path(__file__).resolve().parents[2]
TRIAL = REPO / "data" / "synthetic"
MORE = (
    "generic,class,brands,bnf_section,atc_code,max_daily_mg,max_daily_source,"
    "woods2003_mg_per_100cpz,woods2003_source\n"
    "testapine,antipsychotic,Testaril,4.2.1,N05AX99,400,trial,100,trial\n"
)


def _variant(root: Path, *, extend: bool) -> Path:
    """The shipped trial plus a 60-day prescription of testapine for a NELFT
    participant with no prescription at all (and the extension, if ``extend``)."""
    src = root / "trial"
    shutil.copytree(TRIAL, src)
    site = src / "nelft"
    with open(site / "participants_2025-06-30.csv", encoding="utf-8", newline="") as f:
        people = list(csv.DictReader(f))
    rx_file = site / "prescriptions_2025-06-30.csv"
    with open(rx_file, encoding="utf-8", newline="") as f:
        prescribed = {r["NHSNumber"] for r in csv.DictReader(f)}
    who = next(p for p in people if p["NHSNumber"] not in prescribed)
    start = pd.Timestamp(who["ConsentDate"]) + pd.Timedelta(days=10)
    end = start + pd.Timedelta(days=59)
    with open(rx_file, "a", encoding="utf-8", newline="") as f:
        f.write(f"{who['NHSNumber']},testapine,200,{start:%Y-%m-%d},{end:%Y-%m-%d}\n")
    if extend:
        (src / "more.csv").write_text(MORE, encoding="utf-8")
        cfg = src / "trial.toml"
        cfg.write_text(
            cfg.read_text(encoding="utf-8") + '\n[medication]\nextend = "more.csv"\n',
            encoding="utf-8",
        )
    return src


def _run(src: Path, out: Path, plan_text: str) -> subprocess.CompletedProcess[str]:
    plan = out.parent / "sap.toml"
    plan.write_text(plan_text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "odtrial", "run", str(src), "--plan", str(plan), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=out.parent,
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, an_plan_text: Callable[..., str]
) -> dict[bool, Path]:
    """Output folders of the variant run without and with the extension (the shipped plan
    without its multiple imputation: not what this tests, and costly)."""
    outs = {}
    for extend in (False, True):
        root = tmp_path_factory.mktemp(f"medication_extend_{extend}")
        proc = _run(_variant(root, extend=extend), root / "out", an_plan_text(status="draft"))
        assert proc.returncode == 0, proc.stderr
        outs[extend] = root / "out"
    return outs


def _events(out: Path, oid: str) -> int:
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    o = next(o for o in results["outcomes"] if o["id"] == oid)
    return sum(int(a["events"]) for a in o["summary_by_arm"].values())


def test_a_drug_only_in_the_extension_counts_in_the_medication_outcome(runs):
    without, with_ = (pd.read_csv(runs[e] / "analysis_dataset.csv") for e in (False, True))
    assert with_["any_antipsychotic"].sum() == without["any_antipsychotic"].sum() + 1
    assert _events(runs[True], "any_antipsychotic") == _events(runs[False], "any_antipsychotic") + 1
    # one participant's mean dose: 0 without the extension; with it, 200 mg testapine
    # (= 200 mg CPZ under Woods 2003 at 100 mg per 100 mg CPZ) on 60 of the window's days
    changed = with_["cpz_mean_daily_dose"] != without["cpz_mean_daily_dose"]
    assert int(changed.sum()) == 1
    row = with_[changed].iloc[0]
    assert without.loc[changed, "cpz_mean_daily_dose"].iloc[0] == 0
    assert row["cpz_mean_daily_dose"] == pytest.approx(200 * 60 / row["followup_days"])


def test_the_freeze_carries_and_lists_the_dictionary(runs):
    freeze = runs[True].parent / "out-freeze"
    fz = read_freeze(freeze)
    entry = fz.manifest["medication_dictionary"]
    assert entry["mode"] == "extend"
    (f,) = entry["files"]
    assert f["role"] == "extend" and f["header"] is None
    assert (freeze / f["path"]).read_text(encoding="utf-8") == MORE
    listed = {o["path"]: o["sha256"] for o in fz.manifest["outputs"]}
    assert listed[f["path"]] == f["sha256"]
    med = fz.medication()
    assert med is not None and med.canonical_name("Testaril") == "testapine"
    assert med.resolve("olanzapine") is not None  # the shipped drugs are still there
    # without [medication] the freeze holds no dictionary and reads as the shipped one
    plain = read_freeze(runs[False].parent / "out-freeze")
    assert plain.manifest["medication_dictionary"] is None
    assert plain.medication() is None
    assert not (plain.path / "dictionary").exists()


def test_a_changed_dictionary_copy_fails_the_freeze_check(runs, tmp_path):
    freeze = tmp_path / "freeze"
    shutil.copytree(runs[True].parent / "out-freeze", freeze)
    path = freeze / "dictionary" / "medication_extend.csv"
    path.write_text(MORE.replace("400", "800"), encoding="utf-8")
    with pytest.raises(FreezeError, match=r"dictionary/medication_extend\.csv has changed"):
        read_freeze(freeze)
