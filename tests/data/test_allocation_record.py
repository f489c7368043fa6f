"""Ingest takes the allocation from the trial's verified randomisation record."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from odtrial.data.freeze import read_freeze
from odtrial.data.ingest import ingest
from odtrial.errors import IngestError, RandomisationError
from odtrial.randomise import verify_allocation
from odtrial.synth import generate


@pytest.fixture(scope="module")
def trial_src(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("rec") / "src", seed=11, participants=200)


def _copy(src, tmp_path):
    dst = tmp_path / "src"
    shutil.copytree(src, dst)
    return dst


def _edit_toml(src, fn):
    p = src / "trial.toml"
    p.write_text(fn(p.read_text(encoding="utf-8")), encoding="utf-8")


def test_freeze_carries_the_verified_record_and_its_arms(trial_src, tmp_path):
    ingest(trial_src, tmp_path / "freeze")
    fz = read_freeze(tmp_path / "freeze")
    v = verify_allocation(trial_src / "randomisation")
    assert fz.manifest["randomisation"] == {"folder": "randomisation", "log_head": v.head}
    # the copy in the freeze verifies on its own and is listed (hash-checked) in the manifest
    assert verify_allocation(fz.path / "randomisation", expect_head=v.head).head == v.head
    listed = {o["path"] for o in fz.manifest["outputs"]}
    assert {
        "randomisation/allocation.csv",
        "randomisation/allocation_log.jsonl",
        "randomisation/constrained_space.parquet",
        "randomisation/validity.json",
    } <= listed
    arms = fz.tables["clusters"].set_index("cluster_id")["arm"].astype(str).to_dict()
    assert arms == dict(zip(v.allocation["id"], v.allocation["arm"], strict=True))


def test_arms_missing_from_the_config_come_from_the_record(trial_src, tmp_path):
    src = _copy(trial_src, tmp_path)
    _edit_toml(src, lambda t: re.sub(r'(?m)^arm = "(POD|TAU)"\n', "", t))
    ingest(src, tmp_path / "freeze")
    fz = read_freeze(tmp_path / "freeze")
    v = verify_allocation(src / "randomisation")
    arms = fz.tables["clusters"].set_index("cluster_id")["arm"].astype(str).to_dict()
    assert arms == dict(zip(v.allocation["id"], v.allocation["arm"], strict=True))


def test_a_config_arm_that_contradicts_the_record_is_refused(trial_src, tmp_path):
    src = _copy(trial_src, tmp_path)
    text = (src / "trial.toml").read_text(encoding="utf-8")
    first = re.search(r'id = "(C\d\d)"\ncatchment = [^\n]+\npractices = [^\n]+\n'
                      r'list_size = \d+\nimd_score = [^\n]+\narm = "(POD|TAU)"', text)  # fmt: skip
    assert first is not None
    cid, arm = first.group(1), first.group(2)
    other = "TAU" if arm == "POD" else "POD"
    _edit_toml(
        src, lambda t: t.replace(first.group(0), first.group(0)[: -len(arm) - 1] + f'{other}"')
    )
    with pytest.raises(
        IngestError, match=rf"cluster '{cid}' is '{other}' in the config but '{arm}'"
    ):
        ingest(src, tmp_path / "freeze")
    assert not (tmp_path / "freeze").exists()


def test_an_edited_record_stops_ingest_with_one_line(trial_src, tmp_path):
    src = _copy(trial_src, tmp_path)
    alloc = src / "randomisation" / "allocation.csv"
    frame = pd.read_csv(alloc, dtype=str)
    frame.loc[0, "arm"] = "TAU" if frame.loc[0, "arm"] == "POD" else "POD"
    frame.to_csv(alloc, index=False, lineterminator="\n")
    with pytest.raises(RandomisationError, match=r"allocation\.csv does not match its hash"):
        ingest(src, tmp_path / "freeze")
    proc = subprocess.run(
        [sys.executable, "-m", "odtrial", "ingest", str(src), "--out", str(tmp_path / "fz")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "allocation.csv" in proc.stderr


def test_a_missing_record_folder_is_named(trial_src, tmp_path):
    src = _copy(trial_src, tmp_path)
    shutil.rmtree(src / "randomisation")
    with pytest.raises(IngestError, match=r"randomisation.record .*randomisation' is not a folder"):
        ingest(src, tmp_path / "freeze")


def test_a_trial_without_a_record_freezes_without_one(trial_src, tmp_path):
    src = _copy(trial_src, tmp_path)
    _edit_toml(
        # drop the record line only: the strata and balance stay in [randomisation]
        src,
        lambda t: re.sub(r'(?m)^(\[randomisation\]\n(#[^\n]*\n)*)record = "[^"]+"\n', r"\1", t),
    )
    ingest(src, tmp_path / "freeze")
    fz = read_freeze(tmp_path / "freeze")
    assert fz.manifest["randomisation"] is None
    assert not (fz.path / "randomisation").exists()
    assert json.loads((fz.path / "manifest.json").read_text())["trial"]["arms"] == ["POD", "TAU"]
