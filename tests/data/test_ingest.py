"""End-to-end ingest of small hand-made extracts in all six dialects, with the
real validator: counts add up, values survive mapping, identifiers never
reach the freeze, outputs are byte-identical, writes are atomic, fatal
problems are one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from odtrial.data import ingest as ingest_mod
from odtrial.data.freeze import MANIFEST_KEYS, read_freeze
from odtrial.data.ingest import age_in_years, ingest
from odtrial.data.pseudonym import pseudonym
from odtrial.errors import IngestError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_sources import (
    KEY,
    all_bytes,
    nhs_forms,
    readable_contents,
    valid_nhs,
    write_source,
)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    src = write_source(root / "src")
    report = ingest(src.root, root / "freeze")
    return src, report, root / "freeze"


def _faulty(root: Path):
    """A two-trust source with one fault of each mapping kind and some validation faults."""
    src = write_source(root / "src", {"A": "csv8", "B": "csv1252"}, n=6)
    pa = root / "src" / src.files["A"]["participants"]
    lines = pa.read_text().splitlines()
    bad_nhs = valid_nhs(0)[:9] + str((int(valid_nhs(0)[9]) + 1) % 10)
    lines[1] = lines[1].replace(valid_nhs(0), bad_nhs)  # row 1: nhs_number_invalid
    lines[2] = lines[2].replace("1981-04-", "1981-02-30x")  # row 2: impossible_date (dob)
    lines[3] = lines[3] + ",extra"  # row 3: malformed_line
    lines[4] = re.sub(",[MF],", ",Q,", lines[4])  # row 4: out_of_vocabulary (sex)
    pa.write_text("\n".join(lines) + "\n")
    rx = root / "src" / src.files["B"]["prescriptions"]
    rl = rx.read_text(encoding="cp1252").splitlines()
    rl[1] = rl[1].replace(";2,5;", ";abc;")  # row 1: invalid_value
    rl[2] = rl[2].replace(";Olanzapine é;", ";;")  # row 2: missing_value (drug)
    rl[3] = rl[3].replace(";Risperidone;", ";Wonderpill;")  # row 3: unknown_drug (warning, kept)
    rx.write_text("\r\n".join(rl) + "\r\n", encoding="cp1252")
    return src, bad_nhs


def test_clean_source_every_dialect_is_accepted(clean):
    _, report, _ = clean
    assert len(report.inputs) == 30
    assert (report.inputs.rows_read == 4).all() and (report.inputs.rows_quarantined == 0).all()
    assert report.queries.empty
    assert report.queries_by_severity() == {"error": 0, "warning": 0}
    assert "participants" in report.summary()


def test_values_survive_each_dialect(clean):
    src, _, out = clean
    fz = read_freeze(out)
    parts = fz.tables["participants"]
    for trust, frames in src.canonical.items():
        want = frames["participants"]
        got = parts[parts.trust == trust].reset_index(drop=True)
        assert got["participant_id"].tolist() == [
            pseudonym(n, KEY.encode()) for n in want.nhs_number
        ]
        assert got["sex"].tolist() == want["sex"].tolist(), trust
        assert got["ethnicity"].tolist() == want["ethnicity"].tolist(), trust
        assert got["consent_date"].tolist() == want["consent_date"].tolist(), trust
        assert got["baseline_work_study"].tolist() == want["baseline_work_study"].tolist(), trust
        ages = age_in_years(want["date_of_birth"], want["consent_date"]).tolist()
        assert got["age_at_consent"].tolist() == ages, trust
        assert got["arm"].notna().all() and (got["practice_cluster_id"] == got["cluster_id"]).all()
        rx = fz.tables["prescriptions"]
        rx = rx[rx.trust == trust].reset_index(drop=True)
        assert rx["drug"].tolist() == frames["prescriptions"]["drug"].tolist(), trust
        assert rx["daily_dose_mg"].tolist() == frames["prescriptions"]["daily_dose_mg"].tolist()
        assert rx["end_date"].tolist() == frames["prescriptions"]["end_date"].tolist(), trust
        fu = fz.tables["followup"]
        assert fu[fu.trust == trust]["visit_month"].tolist() == [12] * 4


def test_frozen_columns_and_dtypes(clean):
    from odtrial.data.canonical import PROVENANCE
    from odtrial.synth.tables import table_specs

    frozen = {t: s.frozen_columns("catchment") for t, s in table_specs().items()}
    fz = read_freeze(clean[2])
    for t, df in fz.tables.items():
        if t == "clusters":  # the trial's stratum column and attributes, no provenance
            cols = ["cluster_id", "trust", "catchment", "n_practices", "list_size", "imd_score"]
            assert list(df.columns) == [*cols, "arm"]
        else:
            assert list(df.columns) == [*frozen[t], *PROVENANCE], t
        assert "nhs_number" not in df and "date_of_birth" not in df
    p = fz.tables["participants"]
    assert str(p["age_at_consent"].dtype) == "Int64"
    assert p["consent_date"].dtype == "datetime64[ns]"
    assert str(p["baseline_work_study"].dtype) == "boolean"
    assert str(p["participant_id"].dtype) == "string"
    c = fz.tables["clusters"]
    assert c["list_size"].dtype == "int64" and c["imd_score"].dtype == "float64"
    for t in ("participants", "followup"):
        df = fz.tables[t]
        order = df.sort_values(list(PROVENANCE)).index
        assert (order == df.index).all()


def test_manifest_fields_exactly_as_the_contract(clean):
    _, _, out = clean
    m = json.loads((out / "manifest.json").read_text())
    assert tuple(m) == MANIFEST_KEYS
    assert set(m["trial"]) == {
        "name",
        "arms",
        "follow_up_months",
        "data_cutoff",
        "visits",
        "stratum_column",
    }
    assert m["tables"]["followup"] == {
        "link": "nhs_number",
        "date": "assessment_date",
        "visit": "visit_month",
        "trusts": sorted(t for t in m["tables"]["participants"]["trusts"]),
    }
    assert m["trial"]["visits"] == [
        {"month": 12, "window_days": 92},
        {"month": 24, "window_days": 92},
    ]
    assert m["trial"]["data_cutoff"] == "2025-06-30"
    for i in m["inputs"]:
        assert list(i) == ["path", "sha256", "rows_read", "rows_accepted", "rows_quarantined"]
        assert i["rows_read"] == i["rows_accepted"] + i["rows_quarantined"]
    paths = [o["path"] for o in m["outputs"]]
    assert paths == sorted(paths)
    assert "queries.csv" in paths and "queries/TXPT.xlsx" in paths
    assert "tables/clusters.parquet" in paths and "quarantine/participants.parquet" in paths
    for o in m["outputs"]:
        assert list(o) == ["path", "sha256", "rows"]
    assert set(m["counts"]) >= {"malformed_line", "unknown_drug"}
    assert m["randomisation"] is None or set(m["randomisation"]) == {"folder", "log_head"}


def test_faults_are_quarantined_or_queried_and_counts_add_up(tmp_path):
    src, bad_nhs = _faulty(tmp_path)
    report = ingest(src.root, tmp_path / "freeze")
    q = report.queries
    got = set(zip(q["file"], q["source_row"], q["rule"], strict=True))
    pa, rx = src.files["A"]["participants"], src.files["B"]["prescriptions"]
    for expected in [
        (pa, 1, "nhs_number_invalid"),
        (pa, 2, "impossible_date"),
        (pa, 3, "malformed_line"),
        (pa, 4, "out_of_vocabulary"),
        (rx, 1, "invalid_value"),
        (rx, 2, "missing_value"),
        (rx, 3, "unknown_drug"),
    ]:
        assert expected in got, expected
    # events of the four quarantined participants of trust A become unknown_participant
    fu = src.files["A"]["followup"]
    assert {r for f, r, rule in got if f == fu and rule == "unknown_participant"} == {1, 2, 3, 4}
    for _, r in report.inputs.iterrows():
        assert r.rows_read == r.rows_accepted + r.rows_quarantined
    byfile = report.inputs.set_index("path")
    assert byfile.loc[pa, "rows_quarantined"] == 4 and byfile.loc[rx, "rows_quarantined"] == 2
    fz = read_freeze(tmp_path / "freeze")
    assert "wonderpill" in fz.tables["prescriptions"]["drug"].tolist()  # warning: kept
    qp = fz.quarantine["participants"].set_index("source_row")
    assert qp.loc[3, "rules"] == "malformed_line"
    assert qp.loc[3, "raw_text"].startswith("*** *** ")  # NHS number masked in raw text
    assert qp.loc[1, "nhs_number_masked"] == f"*** *** {bad_nhs[-4:]}"
    assert pd.isna(qp.loc[1, "participant_id"])  # invalid number: no pseudonym
    assert qp.loc[4, "participant_id"] == pseudonym(valid_nhs(3), KEY.encode())
    assert qp.loc[2, "birth_year"] is pd.NA or pd.isna(qp.loc[2, "birth_year"])
    # queries: masked identifiers, pseudonym as participant
    q1 = q[(q.file == pa) & (q.source_row == 1)].iloc[0]
    assert q1["value"] == f"*** *** {bad_nhs[-4:]}" and q1["participant"] == q1["value"]
    q2 = q[(q.file == pa) & (q.source_row == 2)].iloc[0]
    assert q2["field"] == "date_of_birth" and q2["value"] == "1981"
    assert "02-30x" not in q2["message"]
    # queries.csv on disk equals the report's queries; a workbook per trust
    disk = pd.read_csv(tmp_path / "freeze" / "queries.csv", dtype=str, keep_default_na=False)
    assert len(disk) == len(q) and disk["rule"].tolist() == q["rule"].tolist()
    wb = pd.read_excel(tmp_path / "freeze" / "queries" / "A.xlsx", dtype=str)
    assert len(wb) == (q.trust == "A").sum()
    m = json.loads((tmp_path / "freeze" / "manifest.json").read_text())
    assert m["counts"]["malformed_line"] == 1 and m["counts"]["unknown_drug"] == 1


def test_no_raw_nhs_number_anywhere_in_the_freeze(tmp_path):
    src, bad_nhs = _faulty(tmp_path)
    ingest(src.root, tmp_path / "freeze")
    blobs = readable_contents(tmp_path / "freeze")
    numbers = [*src.nhs_numbers, bad_nhs]
    assert len(blobs) > 10
    for name, data in blobs.items():
        for nhs in numbers:
            for form in nhs_forms(nhs):
                assert form not in data, (name, nhs)
    # and the date of birth is gone: no participant table carries it
    fz = read_freeze(tmp_path / "freeze")
    assert "date_of_birth" not in fz.tables["participants"]
    assert "date_of_birth" not in fz.quarantine["participants"]


def test_same_inputs_give_byte_identical_outputs(tmp_path):
    src, _ = _faulty(tmp_path)
    ingest(src.root, tmp_path / "f1")
    ingest(src.root, tmp_path / "f2")
    a, b = all_bytes(tmp_path / "f1"), all_bytes(tmp_path / "f2")
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_interrupted_ingest_leaves_no_half_freeze(tmp_path, monkeypatch):
    src, _ = _faulty(tmp_path)
    out = tmp_path / "freeze"
    calls = {"n": 0}
    real = ingest_mod.write_parquet

    def failing(df, path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(df, path)

    monkeypatch.setattr(ingest_mod, "write_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        ingest(src.root, out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    # with an older freeze in place, it survives intact
    monkeypatch.setattr(ingest_mod, "write_parquet", real)
    ingest(src.root, out)
    before = all_bytes(out)
    calls["n"] = 0
    monkeypatch.setattr(ingest_mod, "write_parquet", failing)
    (src.root / src.files["A"]["crisis_referrals"]).write_text("NHSNO,REFDATE\n")
    with pytest.raises(OSError, match="disk full"):
        ingest(src.root, out)
    assert all_bytes(out) == before
    read_freeze(out)


def _src(tmp_path):
    return write_source(tmp_path / "src", {"A": "csv8", "B": "sav"}, n=2)


def test_fatal_missing_file_pattern(tmp_path):
    src = _src(tmp_path)
    (src.root / src.files["A"]["admissions"]).unlink()
    with pytest.raises(IngestError, match=r"^a/admissions_\*\.csv: no file matches the admissions"):
        ingest(src.root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fatal_missing_column_names_file_and_column(tmp_path):
    src = _src(tmp_path)
    p = src.root / src.files["A"]["followup"]
    p.write_text(p.read_text().replace("ASSDATE", "ASSESSED"))
    with pytest.raises(
        IngestError,
        match=r"^a/followup_2025-06-30\.csv: column 'ASSDATE' \(mapped to followup\.assessment_date\) is missing",
    ):
        ingest(src.root, tmp_path / "out")


def test_fatal_undecodable_text_and_missing_trust_folder(tmp_path):
    src = _src(tmp_path)
    p = src.root / src.files["A"]["crisis_referrals"]
    p.write_bytes(p.read_bytes() + b"\xc3\x28,2024-01-01\n")
    with pytest.raises(IngestError, match=r"^a/crisis_referrals_2025-06-30\.csv: line 4: .*utf-8$"):
        ingest(src.root, tmp_path / "out")
    shutil.rmtree(src.root / "b")
    with pytest.raises(IngestError, match=r"^b: extract folder of trust B not found$"):
        ingest(src.root, tmp_path / "out")


def test_several_files_per_pattern_are_all_read_in_order(tmp_path):
    src = _src(tmp_path)
    first = src.root / src.files["A"]["crisis_referrals"]
    second = first.with_name("crisis_referrals_2025-07-01.csv")
    second.write_text(first.read_text())
    report = ingest(src.root, tmp_path / "out")
    rows = report.inputs[report.inputs.table == "crisis_referrals"]
    assert rows["path"].tolist()[:2] == [
        "a/crisis_referrals_2025-06-30.csv",
        "a/crisis_referrals_2025-07-01.csv",
    ]
    # the second file repeats the first: exact duplicates are quarantined
    r2 = rows.set_index("path").loc["a/crisis_referrals_2025-07-01.csv"]
    assert r2.rows_read == 2 and r2.rows_quarantined == 2


def test_one_line_user_errors_for_config_and_key(tmp_path, monkeypatch):
    src = write_source(tmp_path / "src", {"A": "csv8"}, n=2, test_key=None)
    monkeypatch.delenv("ODTRIAL_TEST_INGEST_KEY", raising=False)
    with pytest.raises(IngestError, match=r"^no pseudonymisation key"):
        ingest(src.root, tmp_path / "out")
    kf = tmp_path / "k"
    kf.write_text("a-real-secret-key-of-some-length")
    report = ingest(src.root, tmp_path / "out", key_file=kf)
    fz = read_freeze(tmp_path / "out")
    nhs = src.canonical["A"]["participants"]["nhs_number"].iloc[0]
    assert fz.tables["participants"]["participant_id"].iloc[0] == pseudonym(
        nhs, b"a-real-secret-key-of-some-length"
    )
    assert report.freeze == tmp_path / "out"


def test_only_malformed_lines(tmp_path):
    src = write_source(tmp_path / "src", {"A": "csv8"}, n=2)
    p = src.root / src.files["A"]["crisis_referrals"]
    p.write_text("NHSNO,REFDATE\nbroken\n" + '"unclosed,2024-01-01\n')
    report = ingest(src.root, tmp_path / "out")
    q = report.queries
    assert q["rule"].tolist() == ["malformed_line", "malformed_line"]
    assert q["participant"].isna().all()
    row = report.inputs.set_index("path").loc[src.files["A"]["crisis_referrals"]]
    assert (row.rows_read, row.rows_accepted, row.rows_quarantined) == (2, 0, 2)


def test_visit_schedule_from_the_trial_drives_validation_and_derivation(tmp_path):
    """A trial with visits at 3, 12 and 24 months, each with its own window: ingest
    checks each assessment against its visit's window and rejects an unscheduled
    month; the manifest records the schedule; derive builds the three columns."""
    from ingest_sources import _source_frame, _write_file

    from odtrial.data.derive import derive

    src = write_source(tmp_path / "src", {"A": "csv8"}, n=6)
    toml = src.root / "trial.toml"
    text = toml.read_text(encoding="utf-8")
    old = "schedule = [{ month = 12, window_days = 92 }, { month = 24, window_days = 92 }]"
    new = (
        "schedule = [{ month = 3, window_days = 14 }, { month = 12, window_days = 45 },"
        " { month = 24, window_days = 92 }]"
    )
    assert old in text
    toml.write_text(text.replace(old, new), encoding="utf-8")
    parts = src.canonical["A"]["participants"]
    nhs, consent = parts["nhs_number"], parts["consent_date"]

    def due(i: int, months: int, days: int) -> pd.Timestamp:
        return consent[i] + pd.DateOffset(months=months) + pd.Timedelta(days=days)

    rows = [  # (participant, visit, assessment date, work/study)
        (0, 3, due(0, 3, 10), True),  # in its 14-day window
        (0, 12, due(0, 12, 50), False),  # 50 days late: outside 45 (inside the old 92)
        (1, 3, due(1, 3, -20), True),  # 20 days early: outside 14
        (2, 6, due(2, 6, 0), True),  # month 6 is not in the schedule
        (3, 24, due(3, 24, -30), False),
        (4, 12, due(4, 12, 40), True),
    ]
    fu = pd.DataFrame(
        {
            "nhs_number": [nhs[i] for i, *_ in rows],
            "visit_month": [m for _, m, *_ in rows],
            "assessment_date": pd.Series([d for *_, d, _ in rows]),
            "work_study": [w for *_, w in rows],
        }
    )
    _write_file(
        _source_frame(fu, "followup", "csv8"), src.root / src.files["A"]["followup"], "csv8"
    )

    report = ingest(src.root, tmp_path / "freeze")
    q = report.queries[report.queries["file"] == src.files["A"]["followup"]]
    got = sorted(zip(q["source_row"], q["rule"], strict=True))
    assert got == [(2, "visit_out_of_window"), (3, "visit_out_of_window"), (4, "out_of_vocabulary")]
    msgs = q.set_index("source_row")["message"]
    assert msgs[2].endswith(
        "is 50 days after the 12-month visit due "
        + due(0, 12, 0).strftime("%Y-%m-%d")
        + " (window 45 days)"
    )
    assert msgs[3].endswith("(window 14 days)") and "20 days before the 3-month visit" in msgs[3]
    assert "'6' has no mapping to a canonical visit code" in msgs[4]
    m = json.loads((tmp_path / "freeze" / "manifest.json").read_text())
    assert [v["month"] for v in m["trial"]["visits"]] == [3, 12, 24]
    assert [v["window_days"] for v in m["trial"]["visits"]] == [14, 45, 92]

    fu = {"kind": "value_at_visit", "table": "followup", "field": "work_study",
          "visit_field": "visit_month", "date_field": "assessment_date"}  # fmt: skip
    df = derive(tmp_path / "freeze", {f"work_study_{m}m": {**fu, "visit": m} for m in (3, 12, 24)})
    cols = [c for c in df.columns if c.startswith("work_study_")]
    assert cols == ["work_study_3m", "work_study_12m", "work_study_24m"]
    pid = {pseudonym(nhs[i], KEY.encode()): i for i in range(6)}
    by = df.assign(i=df["participant_id"].map(pid)).set_index("i")
    # out-of-window assessments are queried (warnings) but kept
    assert by.loc[0, "work_study_3m"] and not by.loc[0, "work_study_12m"]
    assert by.loc[1, "work_study_3m"] and pd.isna(by.loc[1, "work_study_12m"])
    assert pd.isna(by.loc[2, "work_study_3m"])  # the 6-month record is no visit's
    assert not by.loc[3, "work_study_24m"] and by.loc[4, "work_study_12m"]
    assert df["work_study_24m"].notna().sum() == 1


def test_clusters_table_follows_the_trials_declared_attributes():
    """Another trial's cluster attributes (names, order, int or float) become the
    frozen clusters table's and the randomisation table's columns."""
    import tomllib

    from odtrial.data.ingest import clusters_table
    from odtrial.randomise import cluster_table
    from odtrial.trial import parse_trial

    path = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "trial.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    for i, c in enumerate(raw["clusters"]):
        del c["list_size"], c["imd_score"]
        c["beds"] = 10 + i
        c["deprivation"] = 1 if i else 0.5  # an int among floats: the column is float
    raw["randomisation"] = {"balance": [{"column": "deprivation"}]}
    t = parse_trial(raw, base=path.parent)
    df = clusters_table(t)
    assert list(df.columns) == [
        "cluster_id", "trust", "catchment", "n_practices", "beds", "deprivation", "arm"
    ]  # fmt: skip
    assert df["beds"].dtype == "int64" and df["deprivation"].dtype == "float64"
    assert df["beds"].tolist() == sorted(10 + i for i in range(len(raw["clusters"])))
    assert df["catchment"].tolist() == [c.stratum for c in sorted(t.clusters, key=lambda c: c.id)]
    rt = cluster_table(t)
    assert list(rt.columns) == ["id", "trust", "catchment", "n_practices", "beds", "deprivation"]
