"""Ingest of trials made by the synthetic generator, with the real validator:
a clean trial raises no error-level query, and every injected fault in
truth.json is found by a query with the same file, source row and rule."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from odtrial.data.ingest import ingest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_sources import nhs_forms, readable_contents

_NHS_LIKE = re.compile(rb"(?<![0-9])999[ -]?[0-9]{3}[ -]?[0-9]{4}(?![0-9])")

synth = pytest.importorskip("odtrial.synth")


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    synth.generate(root / "src", seed=11, participants=300, fault_rate=0.05)
    report = ingest(root / "src", root / "freeze")
    return root, report


def test_clean_trial_raises_no_error_query(tmp_path):
    synth.generate(tmp_path / "src", seed=5, participants=200, fault_rate=0.0)
    report = ingest(tmp_path / "src", tmp_path / "freeze")
    errors = report.queries[report.queries["severity"] == "error"]
    assert errors.empty, errors.head(20).to_string()
    assert (report.inputs["rows_quarantined"] == 0).all()


def test_every_injected_fault_is_found(faulty):
    root, report = faulty
    truth = json.loads((root / "src" / "truth.json").read_text())
    faults = pd.DataFrame(truth["faults"])
    assert len(faults) > 20 and faults["kind"].nunique() >= 10
    q = report.queries
    found = set(zip(q["file"], q["source_row"], q["rule"], strict=True))
    missed = [
        (f.file, f.source_row, f.kind)
        for f in faults.itertuples()
        if (f.file, int(f.source_row), f.kind) not in found
    ]
    assert missed == [], missed[:20]


def test_counts_add_up_and_no_raw_nhs_number(faulty):
    root, _report = faulty
    m = json.loads((root / "freeze" / "manifest.json").read_text())
    for i in m["inputs"]:
        assert i["rows_read"] == i["rows_accepted"] + i["rows_quarantined"], i["path"]
    # The synthetic trial draws NHS numbers from the test range 999 000 0000 -
    # 999 999 9999: collect every such number written in the source files.
    numbers = set()
    for data in readable_contents(root / "src").values():
        numbers.update(re.sub(rb"[ -]", b"", m) for m in _NHS_LIKE.findall(data))
    assert len(numbers) > 250
    forms = {f for n in numbers for f in nhs_forms(n.decode())}
    for name, data in readable_contents(root / "freeze").items():
        leaked = [f for f in forms if f in data]
        assert not leaked, (name, leaked[:3])
