"""The data dictionary: both header styles, choices, checkbox columns, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from odtrial.errors import ConfigError
from odtrial.redcap.dictionary import Choice, checkbox_column, parse_choices, read_dictionary

DESIGNER = (
    '\ufeff"Variable / Field Name","Form Name","Section Header","Field Type","Field Label",'
    '"Choices, Calculations, OR Slider Labels","Field Note",'
    '"Text Validation Type OR Show Slider Number","Text Validation Min","Text Validation Max",'
    '"Identifier?","Branching Logic (Show field only if...)","Required Field?",'
    '"Custom Alignment","Question Number (surveys only)","Matrix Group Name","Matrix Ranking?",'
    '"Field Annotation"\n'
    "pid,intake,,text,Participant ID,,,,,,,,,,,,,\n"
    'eth,intake,,dropdown,"<b>Ethnic</b> group","1, White | 4, Black, Black British | 99, '
    'Not stated",,,,,,,y,,,,,\n'
    "aids,intake,,checkbox,Aids,\"1, Stick | -1, None\",,,,,,[eth] = '1',,,,,,\n"
    "dob,intake,,text,Date of birth,,,date_dmy,,,y,,y,,,,,\n"
)


def test_designer_download(tmp_path: Path) -> None:
    (tmp_path / "dd.csv").write_text(DESIGNER, encoding="utf-8")
    d = read_dictionary(tmp_path / "dd.csv")
    assert d.record_id == "pid" and d.forms == ("intake",)
    eth = d.field("eth")
    assert eth.label == "Ethnic group" and eth.required and eth.line == 3
    assert eth.choices[1] == Choice("4", "Black, Black British")
    aids = d.field("aids")
    assert aids.branching == "[eth] = '1'" and aids.columns == ("aids___1", "aids____1")
    dob = d.field("dob")
    assert dob.identifier and dob.validation == "date_dmy"


def test_api_metadata_export_names_the_same_columns(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text(
        "field_name,form_name,field_type,field_label,select_choices_or_calculations,"
        'required_field,identifier\nrecord_id,a,text,ID,,,\nsex,a,radio,Sex,"1, F | 2, M",y,\n'
    )
    d = read_dictionary(tmp_path / "m.csv")
    assert [f.name for f in d.fields] == ["record_id", "sex"]
    assert d.field("sex").choices == (Choice("1", "F"), Choice("2", "M"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a,b\n1,2\n", "not a REDCap data dictionary"),
        ("field_name,form_name,field_type\nx,f,text\nx,f,text\n", "line 3 repeats field 'x'"),
        ("field_name,form_name,field_type\nx,f,radio\n", "radio field 'x' has no choices"),
        ("", "is empty"),
    ],
)
def test_what_is_not_a_dictionary_is_one_line(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "dd.csv").write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_dictionary(tmp_path / "dd.csv")


def test_choices_and_checkbox_columns() -> None:
    assert parse_choices("0, No | 1, Yes|") == (Choice("0", "No"), Choice("1", "Yes"))
    assert parse_choices("A | B") == (Choice("A", "A"), Choice("B", "B"))
    assert checkbox_column("Meds", "X.1") == "Meds___x_1"
