"""The date format of a records export, found from its date fields' values: small
exports written by hand, as REDCap's export dialog writes them (YYYY-MM-DD, or
DD/MM/YYYY or MM/DD/YYYY, a date and time with HH:MM after the date)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from odtrial.errors import ConfigError
from odtrial.redcap.dates import ISO, DateFormat, table_pattern
from odtrial.redcap.dictionary import read_dictionary
from odtrial.redcap.records import read_records

HEAD = (
    "field_name,form_name,section_header,field_type,field_label,"
    "select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number,"
    "text_validation_min,text_validation_max,identifier,branching_logic,required_field\n"
)


def _read(tmp_path: Path, validation: tuple[str, str, str], rows: list[str]) -> DateFormat:
    """A project of a record id, two dates and a date and time (their validation types
    ``validation``) and its records (``rows``: id,consent,seen,stamp)."""
    dd = tmp_path / "dd.csv"
    dd.write_text(
        HEAD
        + "record_id,f,,text,Record ID,,,,,,,,\n"
        + "".join(
            f"{n},f,,text,{n},,,{v},,,,,\n"
            for n, v in zip(("consent", "seen", "stamp"), validation, strict=True)
        )
    )
    rec = tmp_path / "records.csv"
    rec.write_text("record_id,consent,seen,stamp\n" + "".join(f"{r}\n" for r in rows))
    return read_records(rec, read_dictionary(dd)).date_format


YMD = ("date_ymd", "date_ymd", "datetime_ymd")
DMY = ("date_dmy", "date_ymd", "datetime_dmy")
MDY = ("date_mdy", "date_mdy", "datetime_mdy")


def test_iso_dates_and_no_dates_are_iso(tmp_path: Path) -> None:
    # the validation type is how a date is typed in, not how it is exported
    assert _read(tmp_path, DMY, ["1,2024-01-31,2024-02-01,2024-01-31 09:30"]) == ISO
    assert _read(tmp_path, DMY, ["1,,,", "2,,,"]) == ISO


def test_day_first_with_slashes(tmp_path: Path) -> None:
    found = _read(tmp_path, YMD, ["1,03/04/2024,,", "2,,31/01/2024,31/01/2024 09:30"])
    assert (found.order, found.sep, found.pattern, found.sure) == ("dmy", "/", "%d/%m/%Y", True)
    assert found.how is not None and "'31/01/2024', its first number over 12" in found.how


def test_month_first_with_dashes_and_dots(tmp_path: Path) -> None:
    found = _read(tmp_path, YMD, ["1,03-04-2024,01-31-2024,"])
    assert (found.order, found.pattern) == ("mdy", "%m-%d-%Y")
    assert _read(tmp_path, YMD, ["1,12.25.2024,,"]).pattern == "%m.%d.%Y"


def test_a_tie_is_decided_by_the_validation_types(tmp_path: Path) -> None:
    """Every day and month 12 or less: the date fields' validation types say which
    (only those of fields holding values), and init is not sure."""
    rows = ["1,03/04/2024,05/06/2024,", "2,01/02/2024,,"]
    found = _read(tmp_path, ("date_dmy", "date_ymd", "datetime_mdy"), rows)
    assert (found.order, found.sure) == ("dmy", False)
    assert found.how is not None and "validation types (*_dmy) decided" in found.how
    assert _read(tmp_path, MDY, rows).order == "mdy"
    with pytest.raises(ConfigError, match=r"day/month or month/day: .* do not say"):
        _read(tmp_path, YMD, rows)
    with pytest.raises(ConfigError, match=r"validation types differ"):
        _read(tmp_path, ("date_dmy", "date_mdy", "date_ymd"), rows)


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        (
            ["1,2024-01-31,31/01/2024,"],
            r"dates of two formats: 'seen' holds '31/01/2024' \(NN/NN/YYYY\) but 'consent' "
            r"holds '2024-01-31' \(YYYY-MM-DD\)",
        ),
        (["1,31/01/2024,", "2,31-01-2024,"], r"'consent' holds '31-01-2024' \(NN-NN-YYYY\)"),
        (
            ["1,31/01/2024,01/31/2024,"],
            r"two orders: 'consent' holds '31/01/2024' \(day first\) but 'seen' holds "
            r"'01/31/2024' \(month first\)",
        ),
        (["1,,January 2024,"], r"'seen' holds 'January 2024', which fits no date format"),
        (["1,,,31/01/2024 9am"], r"'stamp' holds '31/01/2024 9am', which fits no date"),
    ],
)
def test_mixed_or_unknown_dates_are_refused(tmp_path: Path, rows: list[str], said: str) -> None:
    with pytest.raises(ConfigError, match=said) as e:
        _read(tmp_path, YMD, [r + "," * (3 - r.count(",")) for r in rows])
    assert "\n" not in str(e.value) and "as YYYY-MM-DD" in str(e.value)


def test_a_stray_value_is_left_to_ingest(tmp_path: Path) -> None:
    """A value fitting no format among a field's dates is no reason to refuse the export:
    ingest queries its row."""
    assert _read(tmp_path, YMD, ["1,31/01/2024,,", "2,unknown,,"]).order == "dmy"


def test_a_tables_pattern_has_its_time_of_day() -> None:
    dmy = DateFormat("dmy", "/")
    assert table_pattern(dmy, {"a": ["31/01/2024"], "b": []}, "t", "x.csv") == "%d/%m/%Y"
    assert table_pattern(dmy, {"a": ["31/01/2024 09:30"]}, "t", "x") == "%d/%m/%Y %H:%M"
    assert table_pattern(dmy, {"a": ["1/2/2024 9:30:05"]}, "t", "x") == "%d/%m/%Y %H:%M:%S"
    assert table_pattern(dmy, {"a": []}, "t", "x") == "%d/%m/%Y"
    # each pattern reads what it says
    parsed = pd.to_datetime(pd.Series(["1/2/2024 9:30:05"]), format="%d/%m/%Y %H:%M:%S")
    assert parsed[0] == pd.Timestamp(2024, 2, 1, 9, 30, 5)
    with pytest.raises(ConfigError, match=r"table t has dates alone and dates with times"):
        table_pattern(dmy, {"a": ["31/01/2024"], "b": ["31/01/2024 09:30"]}, "t", "x")
