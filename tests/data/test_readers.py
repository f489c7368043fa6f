"""Readers: each format gives the mapped source columns indexed by source_row;
malformed CSV lines are kept with their raw text; fatal problems are one-line
IngestErrors naming the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from odtrial.data.readers import read_extract
from odtrial.errors import IngestError
from odtrial.trial import ExtractSpec


def _spec(fmt: str = "csv", **kw) -> ExtractSpec:
    cols = {"nhs_number": "NHS", "referral_date": "REF"}
    return ExtractSpec(
        trust="T", table="crisis_referrals", pattern="*", format=fmt, columns=cols, **kw
    )


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "x.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_csv_rows_numbered_from_one_and_extra_columns_ignored(tmp_path):
    p = _write(tmp_path, "NHS,OTHER,REF\n111,a,2024-01-02\n222,b,2024-02-03\n")
    raw = read_extract(p, _spec(), rel="t/x.csv")
    assert raw.rows_read == 2 and raw.malformed.empty
    assert list(raw.data.columns) == ["NHS", "REF"]
    assert raw.data.index.tolist() == [1, 2]
    assert raw.data.loc[2, "REF"] == "2024-02-03"


def test_csv_malformed_lines_are_kept_and_the_rest_stays_aligned(tmp_path):
    lines = [
        "NHS,REF",
        "111,2024-01-01",  # 1 ok
        "222,2024-01-02,extra",  # 2 too many fields
        "333",  # 3 too few
        '444,"2024-01-04',  # 4 unclosed quote: must not swallow line 5
        "555,2024-01-05",  # 5 ok
        '666,"20"24-01-06',  # 6 broken quoting
        "",  # 7 empty line inside the file
        '"777","2024-01-07"',  # 8 ok, quoted
        '"8,88",2024-01-08',  # 9 ok, delimiter inside quotes
    ]
    p = _write(tmp_path, "\n".join(lines) + "\n")
    raw = read_extract(p, _spec(), rel="t/x.csv")
    assert raw.rows_read == 9
    bad = raw.malformed.set_index("source_row")
    assert bad.index.tolist() == [2, 3, 4, 6, 7]
    assert bad.loc[2, "raw_text"] == "222,2024-01-02,extra"
    assert bad.loc[4, "raw_text"] == '444,"2024-01-04'
    assert "3 fields, expected 2" in bad.loc[2, "message"]
    assert bad.loc[6, "message"].startswith("broken quoting")
    assert raw.data.index.tolist() == [1, 5, 8, 9]
    assert raw.data["NHS"].tolist() == ["111", "555", "777", "8,88"]
    assert raw.data["REF"].tolist() == ["2024-01-01", "2024-01-05", "2024-01-07", "2024-01-08"]


def test_csv_quoted_line_breaks_stay_inside_their_record(tmp_path):
    # REDCap and EHR free text: a quoted value may hold line breaks (and doubled quotes);
    # source_row counts records, not physical lines.
    lines = [
        "NHS,NOTE,REF",
        "111,plain,2024-01-01",  # record 1
        '222,"asked for the ""pack"".',  # record 2 spans three lines
        "",
        'call back",2024-01-02',
        '333,"one',  # record 3: a CRLF inside the quoted value
        'two",2024-01-03',
        '444,5" tall,2024-01-04',  # record 4: a stray quote inside a value, alone
        '555,"never closed,2024-01-05',  # record 5: broken quoting, alone
        "666,ok,2024-01-06",  # record 6
    ]
    p = _write(tmp_path, "\r\n".join(lines) + "\r\n")
    spec = ExtractSpec(
        trust="T",
        table="t",
        pattern="*",
        format="csv",
        columns={"nhs_number": "NHS", "note": "NOTE", "referral_date": "REF"},
    )
    raw = read_extract(p, spec, rel="t/x.csv")
    assert raw.rows_read == 6
    assert raw.malformed["source_row"].tolist() == [5]
    assert raw.data.index.tolist() == [1, 2, 3, 4, 6]
    assert raw.data.loc[2, "NOTE"] == 'asked for the "pack".\n\ncall back'
    assert raw.data.loc[3, "NOTE"] == "one\ntwo"
    assert raw.data.loc[4, "NOTE"] == '5" tall'
    assert raw.data.loc[6, "REF"] == "2024-01-06"


def test_csv_stray_quotes_do_not_swallow_the_lines_between_them(tmp_path):
    # two unbalanced lines whose join is not one record of the header's width stay apart
    lines = ["NHS,REF", '111,"2024-01-01', "222,2024-01-02", '333,"2024-01-03', "444,2024-01-04"]
    p = _write(tmp_path, "\n".join(lines) + "\n")
    raw = read_extract(p, _spec(), rel="t/x.csv")
    assert raw.rows_read == 4
    assert raw.malformed["source_row"].tolist() == [1, 3]
    assert raw.data.index.tolist() == [2, 4]


def test_csv_stray_carriage_return_and_nul_are_malformed_not_misaligned(tmp_path):
    # pandas' C parser treats a lone CR as a line end; the reader must not misalign.
    p = _write(tmp_path, "NHS,REF\n1\r1,2024-01-01\n222,2024-01-02\n3\x003,2024-01-03\n")
    raw = read_extract(p, _spec(), rel="t/x.csv")
    assert raw.malformed["source_row"].tolist() == [1]
    assert raw.data.index.tolist() == [2, 3]
    assert raw.data["NHS"].tolist() == ["222", "3\x003"]


def test_csv_cp1252_semicolon_crlf(tmp_path):
    p = _write(tmp_path, "NHS;REF\r\n1é1;02/01/2024\r\n222;03/02/2024\r\n", encoding="cp1252")
    raw = read_extract(p, _spec(encoding="cp1252", delimiter=";"), rel="t/x.csv")
    assert raw.data["NHS"].tolist() == ["1é1", "222"]
    assert raw.data["REF"].tolist() == ["02/01/2024", "03/02/2024"]


def test_csv_utf8_bom_header(tmp_path):
    p = _write(tmp_path, "\ufeffNHS,REF\n111,2024-01-02\n")
    assert read_extract(p, _spec(), rel="t/x.csv").data["NHS"].tolist() == ["111"]


def test_csv_undecodable_bytes_name_file_and_line(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"NHS,REF\n111,2024-01-02\n2\xff2,2024-01-03\n")
    with pytest.raises(IngestError, match=r"^t/x\.csv: line 3: .* cannot be decoded as utf-8$"):
        read_extract(p, _spec(), rel="t/x.csv")


def test_missing_column_names_file_and_column(tmp_path):
    p = _write(tmp_path, "NHS,REFDATE\n111,2024-01-02\n")
    with pytest.raises(
        IngestError,
        match=r"^t/x\.csv: column 'REF' \(mapped to crisis_referrals\.referral_date\) is missing",
    ):
        read_extract(p, _spec(), rel="t/x.csv")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(IngestError, match=r"^t/none\.csv: file not found$"):
        read_extract(tmp_path / "none.csv", _spec(), rel="t/none.csv")
    p = _write(tmp_path, "")
    with pytest.raises(IngestError, match=r"^t/x\.csv: file is empty"):
        read_extract(p, _spec(), rel="t/x.csv")


def test_excel_source_row_is_sheet_row_minus_one(tmp_path):
    p = tmp_path / "x.xlsx"
    df = pd.DataFrame(
        {"NHS": ["111", None, "333"], "REF": [pd.Timestamp("2024-01-02"), None, "garbage"]}
    )
    df.to_excel(p, index=False)
    raw = read_extract(p, _spec("excel"), rel="t/x.xlsx")
    assert raw.rows_read == 3
    assert raw.data.index.tolist() == [1, 2, 3]
    assert raw.data.loc[3, "REF"] == "garbage"


def test_excel_broken_workbook_is_fatal(tmp_path):
    p = tmp_path / "x.xlsx"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(IngestError, match=r"^t/x\.xlsx: "):
        read_extract(p, _spec("excel"), rel="t/x.xlsx")


def test_sav_value_labels_applied(tmp_path):
    p = tmp_path / "x.sav"
    df = pd.DataFrame({"NHS": ["111", "222"], "REF": [1.0, 2.0]})
    pyreadstat.write_sav(df, str(p), variable_value_labels={"REF": {1.0: "one"}})
    raw = read_extract(p, _spec("sav"), rel="t/x.sav")
    assert raw.data.index.tolist() == [1, 2]
    assert [str(v) for v in raw.data["REF"].tolist()] == ["one", "2.0"]
    off = read_extract(p, _spec("sav", use_value_labels=False), rel="t/x.sav")
    assert off.data["REF"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("fmt", ["dta", "xpt"])
def test_stata_and_sas_transport(tmp_path, fmt):
    p = tmp_path / f"x.{fmt}"
    df = pd.DataFrame({"NHS": ["111", "222"], "REF": [23000.0, 23001.0]})
    (pyreadstat.write_dta if fmt == "dta" else pyreadstat.write_xport)(df, str(p))
    raw = read_extract(p, _spec(fmt), rel=f"t/x.{fmt}")
    assert raw.data["NHS"].tolist() == ["111", "222"]
    assert raw.data["REF"].tolist() == [23000.0, 23001.0]
    with pytest.raises(IngestError, match=rf"^t/x\.{fmt}: column 'NOPE'"):
        read_extract(
            p,
            _spec(fmt).__class__(
                **{**_spec(fmt).__dict__, "columns": {"nhs_number": "NOPE", "referral_date": "REF"}}
            ),
            rel=f"t/x.{fmt}",
        )


def test_corrupt_stat_file_is_fatal(tmp_path):
    p = tmp_path / "x.sav"
    p.write_bytes(b"not an spss file at all")
    with pytest.raises(IngestError, match=r"^t/x\.sav: cannot read sav file"):
        read_extract(p, _spec("sav"), rel="t/x.sav")
