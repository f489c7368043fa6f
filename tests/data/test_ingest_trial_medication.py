"""Ingest checks and maps drug names against the trial's own medication dictionary.

A one-trust source prescribes "testapine", a drug only a dictionary extension
names (brand "Testa", BNF maximum 800 mg/day), by generic name, by brand, and
through a code mapping whose target is the brand. With ``[medication] extend``
naming the extension, ingest raises no ``unknown_drug`` for it, freezes the
brand as the generic and checks its dose against the extension's maximum;
without it, the old behaviour holds (each row an ``unknown_drug`` warning,
names kept lower-cased, no dose check).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from odtrial.data import rules
from odtrial.data.drugs import PLAUSIBLE_FACTOR
from odtrial.data.freeze import read_freeze
from odtrial.data.ingest import IngestReport, ingest
from odtrial.data.medication_dictionary import load_medication_dictionary

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_sources import Source, _source_frame, _write_file, write_source

MAX_MG = 800.0
EXTENSION = (
    "generic,class,brands,bnf_section,atc_code,max_daily_mg,max_daily_source\n"
    f"testapine,antipsychotic,Testa,4.2.1,N05AX99,{MAX_MG:g},trial\n"
)
# participant -> (drug as written in the extract, daily dose in mg)
ROWS = {
    0: ("testapine", 400.0),
    1: ("Testa", 300.0),  # the brand
    2: ("testapine", PLAUSIBLE_FACTOR * MAX_MG + 100),  # above 2 x the maximum: implausible
    3: ("testapine", 900.0),  # above the maximum, within 2 x it: plausible
    4: ("TST", 20.0),  # the extract's code, mapped by the config to the brand
    5: ("olanzapine", 10.0),  # a shipped drug, unaffected
}


def _source(root: Path, *, extend: bool) -> Source:
    src = write_source(root / "src", {"A": "csv8"}, n=len(ROWS))
    rx = src.canonical["A"]["prescriptions"].copy()
    rx["drug"] = [ROWS[i][0] for i in range(len(rx))]
    rx["daily_dose_mg"] = [ROWS[i][1] for i in range(len(rx))]
    _write_file(
        _source_frame(rx, "prescriptions", "csv8"),
        src.root / src.files["A"]["prescriptions"],
        "csv8",
    )
    toml = src.root / "trial.toml"
    text = toml.read_text(encoding="utf-8")
    text += '\n[extracts.A.prescriptions.codes.drug]\nTST = "Testa"\n'
    if extend:
        (src.root / "more.csv").write_text(EXTENSION, encoding="utf-8")
        text += '\n[medication]\nextend = "more.csv"\n'
    toml.write_text(text, encoding="utf-8")
    return src


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[Source, IngestReport]]:
    out = {}
    for extend in (False, True):
        root = tmp_path_factory.mktemp(f"trial_medication_{extend}")
        src = _source(root, extend=extend)
        out[extend] = (src, ingest(src.root, root / "freeze"))
    return out


def _rx_queries(src: Source, report: IngestReport) -> list[tuple[int, str]]:
    q = report.queries[report.queries["file"] == src.files["A"]["prescriptions"]]
    return sorted(zip(q["source_row"].astype(int), q["rule"], strict=True))


def _frozen_drugs(report: IngestReport) -> list[str]:
    rx = read_freeze(report.freeze).tables["prescriptions"]
    return rx.sort_values("source_row")["drug"].tolist()


def test_with_the_extension_its_drug_is_known_mapped_and_dose_checked(ingested):
    src, report = ingested[True]
    # source rows are 1-based data rows; only the 1700 mg row (participant 2) is queried
    assert _rx_queries(src, report) == [(3, "implausible_dose")]
    q = report.queries.set_index("rule").loc["implausible_dose"]
    assert "of testapine is above 2 x the BNF maximum of 800 mg" in q["message"]
    # the implausible row is quarantined; the brand and the code both freeze as the generic
    assert _frozen_drugs(report) == [
        "testapine",
        "testapine",
        "testapine",
        "testapine",
        "olanzapine",
    ]
    assert report.counts.get("unknown_drug", 0) == 0


def test_without_the_extension_the_old_behaviour_holds(ingested):
    src, report = ingested[False]
    # every testapine row is an unknown drug (a warning, kept); no dose is checked
    assert _rx_queries(src, report) == [(i + 1, "unknown_drug") for i in range(5)]
    assert _frozen_drugs(report) == [
        "testapine",
        "testa",
        "testapine",
        "testapine",
        "testa",
        "olanzapine",
    ]


def test_rules_take_the_dictionary_and_default_to_the_shipped_one(tmp_path):
    (tmp_path / "more.csv").write_text(EXTENSION, encoding="utf-8")
    med = load_medication_dictionary(extend=tmp_path / "more.csv")
    rx = pd.DataFrame(
        {
            "drug": pd.Series(["Testa ", "testapine", "olanzapine", None], dtype="string"),
            "daily_dose_mg": [1700.0, 900.0, 41.0, 5.0],
        }
    )
    assert rules.unknown_drugs(rx, med).empty
    assert rules.unknown_drugs(rx)["row"].tolist() == [0, 1]
    # a brand resolves to its generic's maximum; the shipped olanzapine maximum still applies
    assert rules.implausible_doses(rx, med, drug="drug", dose="daily_dose_mg")["row"].tolist() == [
        0,
        2,
    ]
    assert rules.implausible_doses(rx, drug="drug", dose="daily_dose_mg")["row"].tolist() == [2]
