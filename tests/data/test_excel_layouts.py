"""Extracts laid out as sites send them: a title above the header (``header_row``),
one workbook with a table per sheet, a misnamed sheet, a wrong delimiter, a
forgotten decimal comma. ``odtrial check`` and ingest must say the same thing about
each, in one line that says what to set.

The trial is hand-written: one site (EAST) sends one workbook whose first sheet holds
its participants under a title and a blank row, and whose second sheet holds the
6-month wellbeing scores.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import textwrap
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from odtrial.check import check
from odtrial.data.ingest import ingest
from odtrial.data.readers import MissingSheet, inspect_header, read_extract, read_header
from odtrial.errors import ConfigError, IngestError
from odtrial.trial import ExtractSpec, load_trial

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trial_text import trial_head

BOOK = "RESOLVE East baseline (June 2025).xlsx"
TITLE = "RESOLVE East baseline (June 2025)"
BASELINE = "Baseline - v2 (FINAL)"
WELLBEING = "Wellbeing Qs"

TRIAL = trial_head("Workbook layouts (test)", "layouts-test-key") + textwrap.dedent(
    """
    [tables.participants]
    key = "pid"
    consent_date = "consented"
    cluster = "cluster"
    fields = [
      { name = "pid", type = "string" },
      { name = "cluster", type = "string" },
      { name = "consented", type = "date" },
      { name = "score", type = "number", required = false },
    ]

    [tables.wellbeing]
    link = "pid"
    date = "seen"
    visit = "month"
    fields = [
      { name = "pid", type = "string" },
      { name = "month", type = "visit" },
      { name = "seen", type = "date" },
      { name = "wb", type = "number", required = false },
    ]

    [[trusts]]
    id = "EAST"
    name = "East"
    directory = "east"

    [[strata]]
    id = "E"
    trust = "EAST"

    [[clusters]]
    id = "E1"
    stratum = "E"
    arm = "I"

    [[clusters]]
    id = "E2"
    stratum = "E"
    arm = "C"

    [extracts.EAST.participants]
    pattern = "RESOLVE East baseline*.xlsx"
    format = "excel"
    sheet = "Baseline - v2 (FINAL)"
    header_row = 3
    date_format = "native"
    columns = { pid = "Study ID", cluster = "Site", consented = "Consent date", score = "Score" }

    [extracts.EAST.wellbeing]
    pattern = "RESOLVE East baseline*.xlsx"
    format = "excel"
    sheet = "Wellbeing Qs"
    date_format = "native"
    columns = { pid = "Study ID", month = "Visit", seen = "Date", wb = "WB total" }
    codes.month = { "Month 6" = 6 }
    """
)

PEOPLE = [  # sheet rows 4.. (source_row 1..)
    ["E001", "E1", dt.datetime(2025, 1, 10), 10.5],
    ["E002", "E2", dt.datetime(2025, 1, 11), "ten"],  # source_row 2: not a number
    ["E003", "E1", dt.datetime(2025, 1, 12), 7],
]
WELL = [  # sheet rows 2..
    ["E001", "Month 6", dt.datetime(2025, 7, 10), 40],
    ["E003", "Month 6", dt.datetime(2025, 7, 12), 38],
]


def _book(path: Path, *, title: bool = True) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = BASELINE
    if title:
        ws.append([TITLE])
        ws.append([])
    ws.append(["Study ID", "Site", "Consent date", "Score"])
    for r in PEOPLE:
        ws.append(r)
    ws2 = wb.create_sheet(WELLBEING)
    ws2.append(["Study ID", "Visit", "Date", "WB total"])
    for r in WELL:
        ws2.append(r)
    wb.save(path)


@pytest.fixture
def trial_dir(tmp_path: Path) -> Path:
    d = tmp_path / "trial"
    (d / "east").mkdir(parents=True)
    (d / "trial.toml").write_text(TRIAL)
    _book(d / "east" / BOOK)
    return d


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _spec(fmt: str = "excel", **kw) -> ExtractSpec:
    cols = {"pid": "Study ID", "cluster": "Site"}
    return ExtractSpec(trust="T", table="t", pattern="*", format=fmt, columns=cols, **kw)


# ----------------------------------------------------------------- header_row
def test_a_workbook_with_a_table_per_sheet_and_a_title_is_ingested(trial_dir, tmp_path):
    assert check(trial_dir).errors == ()
    report = ingest(trial_dir, tmp_path / "freeze")
    fz = tmp_path / "freeze"
    people = pd.read_parquet(fz / "tables" / "participants.parquet")
    well = pd.read_parquet(fz / "tables" / "wellbeing.parquet")
    # source_row counts the records under the header: sheet row = source_row + header_row
    assert people["source_row"].tolist() == [1, 3]
    assert people["score"].tolist() == [10.5, 7.0]
    assert well["source_row"].tolist() == [1, 2]
    q = pd.read_csv(fz / "queries.csv", dtype=str, keep_default_na=False)
    bad = q[q["rule"] == "invalid_value"]
    # each sheet counts its own rows: the query names the sheet its row is on
    assert bad[["file", "source_row", "field"]].values.tolist() == [
        [f"east/{BOOK} [sheet '{BASELINE}']", "2", "score"]
    ]

    (entry,) = json.loads((fz / "manifest.json").read_text())["inputs"]
    assert entry["path"] == f"east/{BOOK}"
    assert (entry["rows_read"], entry["rows_accepted"], entry["rows_quarantined"]) == (5, 4, 1)
    assert entry["rows_unassigned"] == 0
    assert entry["records"] == [
        {
            "trust": "EAST",
            "table": "participants",
            "sheet": BASELINE,
            "rows": 3,
            "rows_accepted": 2,
            "rows_quarantined": 1,
        },
        {
            "trust": "EAST",
            "table": "wellbeing",
            "sheet": WELLBEING,
            "rows": 2,
            "rows_accepted": 2,
            "rows_quarantined": 0,
        },
    ]
    assert report.by_table()["rows_read"].to_dict() == {"participants": 3, "wellbeing": 2}


def test_the_same_row_number_on_two_sheets_is_two_queries_each_naming_its_sheet(
    trial_dir, tmp_path
):
    path = trial_dir / "east" / BOOK
    wb = openpyxl.load_workbook(path)
    wb[WELLBEING]["B3"] = "Month 7"  # source_row 2 of the wellbeing sheet: no such visit
    wb.save(path)
    ingest(trial_dir, tmp_path / "freeze")
    q = pd.read_csv(tmp_path / "freeze" / "queries.csv", dtype=str, keep_default_na=False)
    rows = q[q["source_row"] == "2"][["file", "field"]].values.tolist()
    assert rows == [
        [f"east/{BOOK} [sheet '{BASELINE}']", "score"],
        [f"east/{BOOK} [sheet '{WELLBEING}']", "month"],
    ]


def test_without_header_row_check_and_ingest_name_the_sheet_row_and_the_fix(trial_dir, tmp_path):
    _edit(trial_dir / "trial.toml", "header_row = 3\n", "")
    errors = check(trial_dir).errors
    cfg = trial_dir / "trial.toml"
    assert len(errors) == 4  # each mapped column of the participants
    assert errors[0] == (
        f"{cfg}: key 'extracts.EAST.participants.columns.pid' names column 'Study ID', which "
        f"east/{BOOK} does not have (its header, row 1 of sheet '{BASELINE}': '{TITLE}'; "
        "row 3 has every mapped column: is it the header? set header_row = 3)"
    )
    with pytest.raises(
        IngestError,
        match="^"
        + re.escape(
            f"east/{BOOK}: column 'Study ID' (mapped to participants.pid) is missing; the "
            f"header, row 1 of sheet '{BASELINE}', has columns: {TITLE} (row 3 has every "
            "mapped column: is it the header? set header_row = 3)"
        )
        + "$",
    ):
        ingest(trial_dir, tmp_path / "freeze")


def test_an_extract_reading_the_wrong_sheet_is_told_which_sheet_has_its_columns(trial_dir):
    _edit(trial_dir / "trial.toml", 'sheet = "Wellbeing Qs"\n', "")  # reads the first sheet
    missing = [e for e in check(trial_dir).errors if "names column" in e]
    assert len(missing) == 4 and all(
        "extracts.EAST.wellbeing" in e
        and e.endswith(f'sheet {WELLBEING!r} has every mapped column: is it the sheet? '
                       f'set sheet = "{WELLBEING}")')
        for e in missing
    )  # fmt: skip
    # and the participants' sheet, asked for with its header under the title
    _edit(trial_dir / "trial.toml", 'sheet = "Baseline - v2 (FINAL)"', 'sheet = "Wellbeing Qs"')
    hint = f'set sheet = "{BASELINE}" and header_row = 3)'
    assert any(e.endswith(hint) for e in check(trial_dir).errors)


def test_a_header_row_past_the_header_suggests_the_row_above(trial_dir):
    _edit(trial_dir / "trial.toml", "header_row = 3", "header_row = 4")
    errors = check(trial_dir).errors
    assert errors and all(
        "(its header, row 4 of sheet 'Baseline - v2 (FINAL)': 'E001', 'E1', " in e
        and e.endswith("row 3 has every mapped column: is it the header? set header_row = 3)")
        for e in errors
    ), errors


def test_a_header_row_the_columns_are_not_in_gives_no_suggestion(trial_dir):
    _edit(trial_dir / "trial.toml", '"Study ID", cluster = "Site"', '"ID", cluster = "Centre"')
    _edit(trial_dir / "trial.toml", 'consented = "Consent date"', 'consented = "Consented"')
    errors = check(trial_dir).errors
    # one of the four columns is in row 3, which is the header: nothing better to say
    assert [e.split("names column ")[1] for e in errors] == [
        f"'ID', which east/{BOOK} does not have (its header, row 3 of sheet '{BASELINE}': "
        "'Study ID', 'Site', 'Consent date', 'Score')",
        f"'Centre', which east/{BOOK} does not have (its header, row 3 of sheet '{BASELINE}': "
        "'Study ID', 'Site', 'Consent date', 'Score')",
        f"'Consented', which east/{BOOK} does not have (its header, row 3 of sheet "
        f"'{BASELINE}': 'Study ID', 'Site', 'Consent date', 'Score')",
    ]


def test_excel_header_row_reads_the_rows_under_it(tmp_path):
    p = tmp_path / "x.xlsx"
    _book(p)
    spec = _spec(sheet=BASELINE, header_row=3)
    assert read_header(p, spec, rel="t/x.xlsx") == ["Study ID", "Site", "Consent date", "Score"]
    raw = read_extract(p, spec, rel="t/x.xlsx")
    assert raw.rows_read == 3
    assert raw.data.index.tolist() == [1, 2, 3]
    assert raw.data["Study ID"].tolist() == ["E001", "E002", "E003"]
    # sheet 0 is the same sheet
    assert read_extract(p, _spec(header_row=3), rel="t/x.xlsx").data.equals(raw.data)
    with pytest.raises(IngestError, match=r"the header, row 9 of sheet .* is empty"):
        read_extract(p, _spec(header_row=9), rel="t/x.xlsx")


def test_csv_header_row_skips_title_lines_and_counts_records_under_the_header(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text(
        "RESOLVE East; baseline\n"
        '"a title line with a ""quote"\n'
        "Study ID,Site\n"
        "E001,E1\n"
        "E002,E1,extra\n"
        '"E003","E2"\n'
    )
    raw = read_extract(p, _spec("csv", header_row=3), rel="t/x.csv")
    assert raw.rows_read == 3
    assert raw.data.index.tolist() == [1, 3]
    assert raw.data["Study ID"].tolist() == ["E001", "E003"]
    assert raw.malformed["source_row"].tolist() == [2]
    assert read_header(p, _spec("csv", header_row=3), rel="t/x.csv") == ["Study ID", "Site"]
    # without header_row, the fix is named (the delimiter hint does not apply)
    with pytest.raises(
        IngestError,
        match=r"^t/x\.csv: column 'Study ID' \(mapped to t\.pid\) is missing; the file has "
        r"columns: RESOLVE East; baseline \(line 3 has every mapped column: is it the "
        r"header\? set header_row = 3\)$",
    ):
        read_extract(p, _spec("csv"), rel="t/x.csv")
    with pytest.raises(IngestError, match=r"the file has 6 lines, so no header at line 7"):
        read_extract(p, _spec("csv", header_row=7), rel="t/x.csv")
    # all good lines under a skipped title: still read by pandas in one call
    p.write_text("title\nStudy ID,Site\nE001,E1\nE002,E2\n")
    raw = read_extract(p, _spec("csv", header_row=2), rel="t/x.csv")
    assert raw.data["Site"].tolist() == ["E1", "E2"] and raw.data.index.tolist() == [1, 2]


def test_csv_header_row_in_utf16_reads_only_the_lines_it_needs(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("Title\nStudy ID;Site\nE001;E1\n".encode("utf-16") + b"\xff")
    spec = _spec("csv", header_row=2, encoding="utf-16", delimiter=";")
    assert read_header(p, spec, rel="t/x.csv") == ["Study ID", "Site"]
    h = inspect_header(p, spec, rel="t/x.csv")
    assert (h.where, h.hint) == ("line 2", "")
    # a hint reads further lines only when a column is missing, and stops at bad bytes
    wrong = _spec("csv", header_row=1, encoding="utf-16", delimiter=";")
    h = inspect_header(p, wrong, rel="t/x.csv")
    assert h.names == ["Title"]
    assert h.hint == "line 2 has every mapped column: is it the header? set header_row = 2"


def test_header_row_is_validated_in_the_trial_definition(trial_dir):
    cfg = trial_dir / "trial.toml"
    _edit(cfg, "header_row = 3", "header_row = 0")
    assert any(
        "key 'extracts.EAST.participants.header_row' must be a row number from 1, got 0" in e
        for e in check(trial_dir).errors
    )
    _edit(cfg, "header_row = 0", 'header_row = 2\nformat = "sav"')
    _edit(cfg, 'format = "excel"\nsheet = "Baseline', 'sheet = "Baseline')
    with pytest.raises(ConfigError, match=r"header_row' is only read for csv and excel extracts"):
        load_trial(cfg)


# ---------------------------------------------------------------- sheets
def test_extracts_of_one_sheet_must_agree_on_its_dialect_in_check_and_ingest(trial_dir, tmp_path):
    cfg = trial_dir / "trial.toml"
    _edit(cfg, 'sheet = "Wellbeing Qs"', f'sheet = "{BASELINE}"\nheader_row = 2')
    line = (
        f"east/{BOOK}: extracts.EAST.participants and extracts.EAST.wellbeing read sheet "
        f"'{BASELINE}' of this file with different header_row (3 and 2); they must agree"
    )
    assert f"{cfg}: {line}" in check(trial_dir).errors
    with pytest.raises(ConfigError, match=f"^{re.escape(line)}$"):
        ingest(trial_dir, tmp_path / "freeze")


def test_sheet_0_and_its_name_are_one_source(trial_dir, tmp_path):
    """Named by index and by name, the first sheet is one sheet: read once for both."""
    cfg = trial_dir / "trial.toml"
    _edit(cfg, 'sheet = "Baseline - v2 (FINAL)"\n', "")  # sheet 0
    _edit(cfg, 'sheet = "Wellbeing Qs"', f'sheet = "{BASELINE}"\nheader_row = 3')
    _edit(cfg, 'pid = "Study ID", month = "Visit", seen = "Date", wb = "WB total"', (
        'pid = "Study ID", month = "Site", seen = "Consent date", wb = "Score"'
    ))  # fmt: skip
    assert check(trial_dir).errors == ()
    ingest(trial_dir, tmp_path / "freeze")  # no month code map: every row quarantined
    (entry,) = json.loads((tmp_path / "freeze" / "manifest.json").read_text())["inputs"]
    assert entry["rows_read"] == 3  # read once, shared: each row counted once
    assert {r["table"] for r in entry["records"]} == {"participants", "wellbeing"}


def test_one_table_from_two_sheets_of_one_file_is_refused_by_check_and_ingest(tmp_path):
    """Two sites in one folder, each its sheet of one workbook, for one table: their
    records would share file and row numbers, so this is refused in one line."""
    d = tmp_path / "trial"
    (d / "east").mkdir(parents=True)
    _book(d / "east" / BOOK)
    text = TRIAL.split("[extracts.EAST.wellbeing]")[0]
    west = textwrap.dedent(
        """
        [[trusts]]
        id = "WEST"
        name = "West"
        directory = "east"

        [[strata]]
        id = "W"
        trust = "WEST"

        [[clusters]]
        id = "W1"
        stratum = "W"
        arm = "I"

        [[clusters]]
        id = "W2"
        stratum = "W"
        arm = "C"

        [extracts.WEST.participants]
        like = "EAST"
        sheet = "Wellbeing Qs"
        header_row = 1
        """
    )
    (d / "trial.toml").write_text(text.replace("[extracts.EAST", west + "\n[extracts.EAST", 1))
    line = (
        f"east/{BOOK}: extracts.EAST.participants and extracts.WEST.participants read table "
        f"participants from different sheets of this workbook ('{BASELINE}' and 'Wellbeing "
        "Qs'); a table is read from one sheet of a file (the records of two would share row "
        "numbers)"
    )
    errors = check(d).errors
    assert f"{d / 'trial.toml'}: {line}" in errors, errors
    with pytest.raises(ConfigError) as e:
        ingest(d, tmp_path / "freeze")
    assert str(e.value) == line


def test_a_wrong_sheet_lists_the_sheets_nearest_first(trial_dir, tmp_path):
    cfg = trial_dir / "trial.toml"
    _edit(cfg, 'sheet = "Wellbeing Qs"', 'sheet = "Wellbeing"')
    line = (
        f"east/{BOOK}: cannot read Excel sheet 'Wellbeing': the workbook has no sheet of that "
        f"name; its sheets: 'Wellbeing Qs' (the nearest), '{BASELINE}'"
    )
    assert check(trial_dir).errors == (f"{cfg}: key 'extracts.EAST.wellbeing.sheet': {line}",)
    with pytest.raises(MissingSheet) as e:
        ingest(trial_dir, tmp_path / "freeze")
    assert str(e.value) == line
    p = trial_dir / "east" / BOOK
    with pytest.raises(
        MissingSheet, match=re.escape(f"its sheets: '{BASELINE}', 'Wellbeing Qs'") + "$"
    ):  # no close name: in workbook order
        read_header(p, _spec(sheet="Demographics"), rel="t/x.xlsx")
    with pytest.raises(
        MissingSheet,
        match=r"cannot read Excel sheet 2 \(a 0-based index\): the workbook has 2 sheets: 'B",
    ):
        read_extract(p, _spec(sheet=2), rel="t/x.xlsx")


# ------------------------------------------------------------ delimiter, decimal
def test_check_says_what_ingest_says_of_a_wrong_delimiter(tmp_path):
    d = tmp_path / "trial"
    (d / "east").mkdir(parents=True)
    text = TRIAL.split("[extracts.EAST.participants]")[0] + textwrap.dedent(
        """
        [extracts.EAST.participants]
        pattern = "baseline.csv"
        format = "csv"
        columns = { pid = "Study ID", cluster = "Site", consented = "Consent date" }
        """
    )
    (d / "trial.toml").write_text(text)
    (d / "east" / "baseline.csv").write_text("Study ID;Site;Consent date\nE001;E1;2025-01-10\n")
    hint = "split at ';', the header has every mapped column: is ';' the delimiter?"
    errors = check(d).errors
    assert len(errors) == 3 and all(e.endswith(f"does not have ({hint})") for e in errors), errors
    with pytest.raises(IngestError, match=re.escape(f"({hint})") + "$"):
        ingest(d, tmp_path / "freeze")


def _decimal_trial(tmp_path: Path, scores: list[str], decimal: str = "") -> Path:
    d = tmp_path / "trial"
    (d / "east").mkdir(parents=True)
    text = TRIAL.split("[extracts.EAST.participants]")[0] + textwrap.dedent(
        f"""
        [extracts.EAST.participants]
        pattern = "baseline.csv"
        format = "csv"
        delimiter = ";"
        {decimal}
        columns = {{ pid = "Study ID", cluster = "Site", consented = "Consent date", score = "Score" }}
        """
    )
    (d / "trial.toml").write_text(text)
    rows = [f"E{i:03};E1;2025-01-10;{s}" for i, s in enumerate(scores)]
    (d / "east" / "baseline.csv").write_text("\n".join(["Study ID;Site;Consent date;Score", *rows]))
    return d


HINT = (
    "key 'extracts.EAST.participants.decimal' is '.', but score (Score) in east/baseline.csv "
    "has 2 values that are not numbers, all with a decimal comma (e.g. '10,5'): is ',' the "
    'decimal separator? set decimal = ","'
)


def test_a_forgotten_decimal_comma_is_one_hint_though_few_rows_fail(tmp_path, capsys):
    from odtrial.cli import main

    d = _decimal_trial(tmp_path, ["10,5", "11", "", "12", "-3,25"])
    report = ingest(d, tmp_path / "freeze")
    assert report.hints == (HINT,)
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(d), "--out", str(tmp_path / "freeze2")])
    assert e.value.code in (0, None)
    assert f"hint: {HINT}\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("scores", "decimal"),
    [
        (["10,5", "ten", "12"], ""),  # one failure is no decimal comma: data, not dialect
        (["10,5", "12"], 'decimal = ","'),  # set: every value reads
        (["10.5", "1.234,5"], 'decimal = ","'),  # set and still failing: not this hint
    ],
)
def test_no_decimal_hint_unless_every_failure_is_a_decimal_comma(tmp_path, scores, decimal):
    report = ingest(_decimal_trial(tmp_path, scores, decimal), tmp_path / "freeze")
    assert report.hints == ()


def test_a_broken_workbook_is_one_line_per_extract_in_check(trial_dir):
    (trial_dir / "east" / BOOK).write_bytes(b"PK\x03\x04 not really a zip")
    cfg = trial_dir / "trial.toml"
    assert check(trial_dir).errors == tuple(
        f"{cfg}: extract east/{BOOK}: not a readable Excel workbook (BadZipFile)"
        for _ in ("participants", "wellbeing")
    )
