"""A REDCap project onboarded end to end: randomise -> init -> ingest -> run.

The shipped STEADY project (data/synthetic_redcap) is copied without its trial
definition and randomisation record; ``odtrial randomise`` randomises its cluster
table, ``odtrial init`` writes the definition from the exports, ``odtrial ingest``
freezes it with no edits. Then: every row of the records export is counted once,
every fault of truth.json is queried at its source row with its rule, no NHS
number, name or date of birth is in any output, a second ingest gives the same
bytes, a labels export is refused, and ``odtrial run`` analyses it with its plan.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from odtrial.cli import _register_all, app, main

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "synthetic_redcap"
RECORDS = "redcap/STEADY_DATA_2025-06-30_1200.csv"
DICTIONARY = "redcap/STEADY_DataDictionary_2025-06-30.csv"
EVENTS = "redcap/STEADY_InstrumentDesignations_2025-06-30.csv"
KEY = "a-key-for-the-redcap-tests-only"
runner = CliRunner()


def _fails(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """Run odtrial as the console script does: a user error is one line and a code."""
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    return int(e.value.code or 0), capsys.readouterr().err


def _odtrial(*args: str | Path) -> str:
    _register_all()
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exports and the cluster table, randomised and onboarded by the CLI."""
    d = tmp_path_factory.mktemp("steady")
    shutil.copytree(SHIPPED / "redcap", d / "redcap")
    (d / "randomisation").mkdir()
    shutil.copy(SHIPPED / "randomisation" / "clusters.csv", d / "randomisation" / "clusters.csv")
    _odtrial(
        "randomise", d / "randomisation" / "clusters.csv", "--id", "home_id", "--strata",
        "site", "--balance", "beds", "--seed", "20230214", "--cutoff", "0.2",
        "--arms", "EX,UC", "--out", d / "randomisation",
    )  # fmt: skip
    out = _odtrial(
        "init", d, "--redcap-dictionary", d / DICTIONARY, "--redcap-records", d / RECORDS,
        "--redcap-events", d / EVENTS, "--randomisation", d / "randomisation",
        "--cluster-field", "care_home",
    )  # fmt: skip
    assert "tables participants (16 fields), follow_up (16 fields), fall_log (11 fields)" in out
    (d / "key.txt").write_text(KEY)
    return d


@pytest.fixture(scope="module")
def freeze(project: Path) -> Path:
    out = project.parent / "freeze"
    _odtrial("ingest", project, "--out", out, "--key-file", project / "key.txt")
    return out


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((SHIPPED / "truth.json").read_text())


def test_the_allocation_is_the_one_the_data_were_made_with(project: Path) -> None:
    ours = (project / "randomisation" / "allocation.csv").read_bytes()
    assert ours == (SHIPPED / "randomisation" / "allocation.csv").read_bytes()


def test_init_writes_what_the_shipped_project_holds(project: Path) -> None:
    """The definition differs from the shipped one only where the generator told init
    more: the trial's name and a synthetic project's test key."""
    ours = (project / "trial.toml").read_text().splitlines()
    shipped = (SHIPPED / "trial.toml").read_text().splitlines()
    diff = [
        line
        for line in difflib.unified_diff(ours, shipped, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == [
        '-name = "STEADY"  # edit: the trial\'s name',
        '+name = "STEADY: strength and balance exercise in care homes (synthetic)"',
        "+synthetic = true",
        '+test_key = "odtrial-steady-synthetic-test-key-not-secret"  # a synthetic project\'s '
        "public key",
    ]


def test_every_row_is_accepted_or_quarantined_once(freeze: Path) -> None:
    m = json.loads((freeze / "manifest.json").read_text())
    (entry,) = m["inputs"]
    with open(SHIPPED / RECORDS, encoding="utf-8-sig") as f:
        n = sum(1 for _ in csv.reader(f)) - 1
    assert entry["path"] == RECORDS and entry["rows_read"] == n == 876
    assert entry["rows_accepted"] + entry["rows_quarantined"] == n
    assert sum(r["rows"] for r in entry["records"]) + entry["rows_unassigned"] == n
    tables = {
        t: pd.read_parquet(freeze / "tables" / f"{t}.parquet")
        for t in ("participants", "follow_up", "fall_log")
    }
    quarantine = {
        t: pd.read_parquet(freeze / "quarantine" / f"{t}.parquet")
        for t in ("participants", "follow_up", "fall_log", "_unassigned")
    }
    rows = [df["source_row"] for df in (*tables.values(), *quarantine.values())]
    seen = pd.concat(rows)
    assert sorted(set(seen)) == list(range(1, n + 1))  # every row somewhere
    assert not seen.duplicated().any()  # each once: a row feeds one table here
    accepted = set(pd.concat([df["source_row"] for df in tables.values()]))
    assert len(accepted) == entry["rows_accepted"]


def test_every_fault_is_queried_at_its_source_row(freeze: Path, truth: dict) -> None:
    q = pd.read_csv(freeze / "queries.csv", dtype=str, keep_default_na=False)
    got = {(r.file, int(r.source_row), r.rule) for r in q.itertuples()}
    missing = [f for f in truth["faults"] if (f["file"], f["source_row"], f["kind"]) not in got]
    assert missing == []
    assert len({f["fault"] for f in truth["faults"]} - {"cascade"}) == 15
    # nothing else is queried: each query is at a fault's row
    rows = {f["source_row"] for f in truth["faults"]}
    assert set(q["source_row"].astype(int)) == rows
    sev = q.set_index(["source_row", "rule"])["severity"]
    assert (sev[sev.index.get_level_values("rule") == "unchecked_requirement"] == "warning").all()


def _texts(folder: Path) -> dict[str, str]:
    out = {}
    for p in folder.rglob("*"):
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            out[str(p)] = pd.read_parquet(p).astype(str).to_csv()
        elif p.suffix == ".xlsx":
            book = pd.read_excel(p, sheet_name=None, dtype=str)
            out[str(p)] = "\n".join(df.to_csv() for df in book.values())
        else:
            out[str(p)] = p.read_text(errors="replace")
    return out


def test_no_nhs_number_name_or_date_of_birth_in_any_output(freeze: Path, project: Path) -> None:
    rec = pd.read_csv(SHIPPED / RECORDS, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    secrets = {v for c in ("nhs_no", "first_name", "last_name", "dob") for v in rec[c] if v != ""}
    assert len(secrets) > 200
    texts = {**_texts(freeze), str(project / "trial.toml"): (project / "trial.toml").read_text()}
    leaks = {p: sorted(s for s in secrets if s in t) for p, t in texts.items()}
    assert {p: s for p, s in leaks.items() if s} == {}


def test_a_second_ingest_gives_the_same_bytes(freeze: Path, project: Path) -> None:
    again = project.parent / "freeze_again"
    _odtrial("ingest", project, "--out", again, "--key-file", project / "key.txt")

    def digest(folder: Path) -> dict[str, str]:
        return {
            p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    assert digest(again) == digest(freeze)


def _labelled(project: Path) -> pd.DataFrame:
    """The records as REDCap's labels export writes them: choice labels for codes,
    Checked/Unchecked for checkboxes (column names still raw)."""
    from odtrial.redcap.dictionary import read_dictionary

    rec = pd.read_csv(project / RECORDS, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for f in read_dictionary(project / DICTIONARY).fields:
        if f.type in ("radio", "dropdown"):
            rec[f.name] = rec[f.name].map({c.code: c.label for c in f.choices} | {"": ""})
        elif f.type == "yesno":
            rec[f.name] = rec[f.name].map({"1": "Yes", "0": "No", "": ""})
        elif f.type == "checkbox":
            for col in f.columns:
                rec[col] = rec[col].map({"1": "Checked", "0": "Unchecked", "": ""})
    return rec.fillna("")


def test_a_labels_export_is_refused_in_one_line(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _labelled(project)
    labelled = tmp_path / "labels.csv"
    labelled.write_text(rec.to_csv(index=False))
    code, err = _fails(
        capsys, "init", tmp_path / "t", "--redcap-dictionary", project / DICTIONARY,
        "--redcap-records", labelled, "--randomisation", project / "randomisation",
        "--cluster-field", "care_home",
    )  # fmt: skip
    assert code == 2
    assert "labels.csv: a labels export (choice labels such as" in err
    assert "export the records again as raw data" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "t" / "trial.toml").exists()
    # field labels as column names too: refused by init, and by ingest with the hint
    rec = rec.rename(columns={"record_id": "Record ID", "redcap_event_name": "Event Name"})
    labelled.write_text(rec.to_csv(index=False))
    code, err = _fails(
        capsys, "init", tmp_path / "t", "--redcap-dictionary", project / DICTIONARY,
        "--redcap-records", labelled, "--randomisation", project / "randomisation",
        "--cluster-field", "care_home",
    )  # fmt: skip
    assert code == 2 and "a labels export (its columns are field labels such as 'Record ID')" in err
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    shutil.copy(labelled, copy / RECORDS)
    code, err = _fails(
        capsys, "ingest", copy, "--out", tmp_path / "f", "--key-file", copy / "key.txt"
    )
    assert code == 2 and err.count("\n") == 1
    assert "column 'record_id' (mapped to participants.record_id) is missing" in err
    assert err.rstrip().endswith(
        "(a REDCap raw records export: export the records again as raw data (Data Exports: "
        "'CSV / Microsoft Excel (raw data)'; the API: rawOrLabel=raw, rawOrLabelHeaders=raw))"
    )


LABELS_ADVICE = (
    "; export the records again as raw data (Data Exports: 'CSV / Microsoft Excel (raw "
    "data)'; the API: rawOrLabel=raw, rawOrLabelHeaders=raw)\n"
)


@pytest.mark.parametrize("events", ["raw", "labels"])
def test_ingest_refuses_a_labels_export_as_init_does(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], events: str
) -> None:
    """A labels export dropped in after init: refused with init's line, nothing written
    (it used to be read: every row unmatched, a freeze of no participant, exit 0)."""
    rec = _labelled(project)
    if events == "labels":
        rec["redcap_event_name"] = rec["redcap_event_name"].map(
            lambda e: e.replace("_arm_1", "").replace("_", " ").title() + " (Arm 1: Arm 1)"
        )
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    (copy / RECORDS).write_text(rec.to_csv(index=False))
    code, err = _fails(
        capsys, "init", tmp_path / "t", "--redcap-dictionary", copy / DICTIONARY,
        "--redcap-records", copy / RECORDS, "--randomisation", copy / "randomisation",
        "--cluster-field", "care_home",
    )  # fmt: skip
    said_by_init = err.removeprefix(f"odtrial: error: {copy / RECORDS}: ")
    code, err = _fails(
        capsys, "ingest", copy, "--out", tmp_path / "f", "--key-file", copy / "key.txt"
    )
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    if events == "labels":
        reason = (
            "a labels export (event 'Baseline (Arm 1: Arm 1)' is a label, not a unique event name)"
        )
        assert err == f"odtrial: error: {RECORDS}: {reason}{LABELS_ADVICE}"
        assert said_by_init == f"{reason}{LABELS_ADVICE}"
    else:  # raw events, choice labels: the definition's codes tell them from codes
        assert err.startswith(f"odtrial: error: {RECORDS}: a labels export (choice labels such as ")
        assert err.endswith(f" instead of their codes){LABELS_ADVICE}")
        assert said_by_init.startswith("a labels export (choice labels such as ")
    assert not (tmp_path / "f").exists()


def test_a_second_records_export_in_the_folder_is_refused(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each export holds every record: reading an older and a newer one would quarantine
    the newer as duplicates, so ingest names both and reads neither."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    newer = "redcap/STEADY_DATA_2025-07-31_1200.csv"
    shutil.copy(copy / RECORDS, copy / newer)
    code, err = _fails(
        capsys, "ingest", copy, "--out", tmp_path / "f", "--key-file", copy / "key.txt"
    )
    assert code == 2 and err == (
        f"odtrial: error: redcap/STEADY_DATA_*.csv: matches 2 REDCap records exports ({RECORDS}, "
        f"{newer}); each holds every record, so keep only the latest in the folder\n"
    )
    assert not (tmp_path / "f").exists()


def test_odtrial_run_analyses_it_with_its_plan(freeze: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    text = _odtrial(
        "run", SHIPPED, "--plan", REPO / "analysis_plans" / "redcap_sap.toml", "--out", out,
        "--freeze", tmp_path / "run-freeze",
    )  # fmt: skip
    assert "213 participants" in text
    results = json.loads((out / "results.json").read_text())
    ids = [o["id"] for o in results["outcomes"]]
    assert ids == ["barthel_12m", "any_fall_12m", "fesi_12m"]
    assert (out / "report.docx").is_file()
    # the shipped definition freezes what the one init wrote freezes
    for t in ("participants", "follow_up", "fall_log"):
        a = pd.read_parquet(tmp_path / "run-freeze" / "tables" / f"{t}.parquet")
        b = pd.read_parquet(freeze / "tables" / f"{t}.parquet")
        assert a.drop(columns="participant_id").equals(b.drop(columns="participant_id"))
