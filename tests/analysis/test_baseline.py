"""Baseline tables from the trial definition: the ``[baseline] variables`` kinds
(binary, continuous, categorical with labels, groups and frequency order), age only
when the dataset has it, GP practice rows only for clusters of practices, and the
definition's errors named by key path."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from odtrial.analysis.baseline import cluster_table, individual_table
from odtrial.errors import ConfigError
from odtrial.trial import BaselineLevel, BaselineVariable, parse_trial

REPO = Path(__file__).resolve().parents[2]
POD = REPO / "data" / "synthetic"


def _rows(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(r["characteristic"], *(str(r[a]) for a in r if a != "characteristic")) for r in rows]


@pytest.fixture(scope="module")
def pod_raw() -> dict[str, Any]:
    return tomllib.loads((POD / "trial.toml").read_text(encoding="utf-8"))


def _parse(raw: dict[str, Any], *variables: dict[str, Any]):
    raw = copy.deepcopy(raw)
    raw["baseline"] = {"variables": list(variables)}
    return parse_trial(raw, base=POD).baseline


PEOPLE = pd.DataFrame(
    {
        "arm": ["A", "A", "A", "B", "B", "B"],
        "gender": ["woman", "man", "woman", "not_stated", None, "woman"],
        "ethnicity": ["A", "D", "99", "B", "H", "A"],
    }
)


def test_categorical_levels_follow_the_vocabulary_with_labels(pod_raw) -> None:
    (sex,) = _parse(
        pod_raw, {"column": "sex", "label": "Sex", "kind": "categorical",
                  "labels": {"other": "Another sex"}},
    )  # fmt: skip
    assert sex.levels == (
        BaselineLevel("Female", ("female",)),
        BaselineLevel("Male", ("male",)),
        BaselineLevel("Another sex", ("other",)),
    )
    d = pd.DataFrame({"arm": ["A", "A", "B", "B"], "sex": ["male", "male", "female", np.nan]})
    assert _rows(individual_table(d, ("A", "B"), variables=[sex])) == [
        ("Participants, n", "2", "2"),
        ("Sex, n (%)", "", ""),
        ("  Female", "0 (0.0)", "1 (100.0)"),  # every level, in vocabulary order
        ("  Male", "2 (100.0)", "0 (0.0)"),
        ("  Another sex", "0 (0.0)", "0 (0.0)"),
        ("  Missing", "0", "1"),  # percentages are of those with data
    ]


def test_unlabelled_codes_show_capitalised_with_spaces() -> None:
    v = BaselineVariable(
        "gender", "Gender", "categorical",
        levels=tuple(BaselineLevel(lab, (c,)) for lab, c in
                     [("Woman", "woman"), ("Man", "man"), ("Not stated", "not_stated")]),
    )  # fmt: skip
    rows = _rows(individual_table(PEOPLE, ("A", "B", "all"), variables=[v]))
    assert rows[1:] == [
        ("Gender, n (%)", "", "", ""),
        ("  Woman", "2 (66.7)", "1 (50.0)", "3 (60.0)"),
        ("  Man", "1 (33.3)", "0 (0.0)", "1 (20.0)"),
        ("  Not stated", "0 (0.0)", "1 (50.0)", "1 (20.0)"),
        ("  Missing", "0", "1", "1"),
    ]
    # made by hand without levels: the values present, sorted, labelled the same way
    bare = individual_table(
        PEOPLE, ("all",), variables=[BaselineVariable("gender", "G", "categorical")]
    )
    assert [r[0] for r in _rows(bare)][2:] == ["  Man", "  Not stated", "  Woman", "  Missing"]


def test_groups_count_their_codes_and_frequency_orders_them(pod_raw) -> None:
    groups = [
        {"label": "White", "codes": ["A", "B", "C"]},
        {"label": "Mixed", "codes": ["D", "E", "F", "G"]},
        {"label": "Asian", "codes": ["H", "J", "K", "L"]},
        {"label": "Other", "codes": ["M", "N", "P", "R", "S"]},
        {"label": "Not known", "codes": ["Z", "99"]},
    ]
    (eth,) = _parse(pod_raw, {"column": "ethnicity", "label": "Ethnic group",
                              "kind": "categorical", "groups": groups})  # fmt: skip
    assert [lv.label for lv in eth.levels] == ["White", "Mixed", "Asian", "Other", "Not known"]
    rows = _rows(individual_table(PEOPLE, ("A", "B"), variables=[eth]))
    assert rows[2:] == [
        ("  White", "1 (33.3)", "2 (66.7)"),
        ("  Mixed", "1 (33.3)", "0 (0.0)"),
        ("  Asian", "0 (0.0)", "1 (33.3)"),
        ("  Other", "0 (0.0)", "0 (0.0)"),
        ("  Not known", "1 (33.3)", "0 (0.0)"),
    ]
    (by_freq,) = _parse(pod_raw, {"column": "ethnicity", "kind": "categorical",
                                  "groups": groups, "order": "frequency"})  # fmt: skip
    rows = _rows(individual_table(PEOPLE, ("A", "B"), variables=[by_freq]))
    # most common first among everyone; ties keep the declared order
    assert [r[0].strip() for r in rows[2:]] == ["White", "Mixed", "Asian", "Not known", "Other"]
    assert rows[1][0] == "ethnicity, n (%)"  # no label: the column name


def test_the_shipped_pod_definition_groups_every_ethnic_code(pod_raw) -> None:
    eth = next(v for v in parse_trial(pod_raw, base=POD).baseline if v.column == "ethnicity")
    codes = [c for lv in eth.levels for c in lv.codes]
    assert sorted(codes) == sorted(pod_raw["vocabularies"]["ethnicity"])
    assert eth.levels[0] == BaselineLevel("White", ("A", "B", "C"))
    assert eth.levels[-1] == BaselineLevel("Not stated or not known", ("Z", "99"))


def test_integer_codes_take_labels_by_their_text(pod_raw) -> None:
    raw = copy.deepcopy(pod_raw)
    raw["vocabularies"]["housing"] = [1, 2, 9]
    raw["tables"]["participants"]["fields"].append(
        {"name": "housing", "type": "code", "vocabulary": "housing", "required": False}
    )
    (v,) = _parse(raw, {"column": "housing", "kind": "categorical",
                        "labels": {"1": "Own home", "9": "Not known"}})  # fmt: skip
    assert [(lv.label, lv.codes) for lv in v.levels] == [
        ("Own home", (1,)), ("2", (2,)), ("Not known", (9,)),
    ]  # fmt: skip
    d = pd.DataFrame({"arm": ["A", "A", "A"], "housing": pd.array([1, 9, None], dtype="Int64")})
    assert _rows(individual_table(d, ("A",), variables=[v]))[2:] == [
        ("  Own home", "1 (50.0)"),
        ("  2", "0 (0.0)"),
        ("  Not known", "1 (50.0)"),
        ("  Missing", "1"),
    ]


def test_age_only_when_the_dataset_has_it() -> None:
    score = BaselineVariable("score", "Score", "continuous", decimals=2)
    d = pd.DataFrame({"arm": ["A", "B", "A"], "score": [1.0, 2.0, 4.0]})
    rows = _rows(individual_table(d, ("A", "B"), variables=[score]))
    assert rows == [("Participants, n", "2", "1"), ("Score, mean (SD)", "2.50 (2.12)", "2.00 (–)")]
    aged = d.assign(age_at_consent=[30, 40, 50])
    rows = _rows(individual_table(aged, ("A", "B"), variables=[score]))
    assert rows[1] == ("Age at consent (years), mean (SD)", "40.0 (14.1)", "40.0 (–)")
    # a variable naming age replaces the default row
    age = BaselineVariable("age_at_consent", "Age", "continuous", decimals=0)
    rows = _rows(individual_table(aged, ("A", "B"), variables=[age]))
    assert [r[0] for r in rows] == ["Participants, n", "Age, mean (SD)"]


def _clusters(n_practices: list[int] | None) -> pd.DataFrame:
    c = pd.DataFrame({"cluster_id": ["C1", "C2", "C3"], "arm": ["A", "B", "A"]})
    return c if n_practices is None else c.assign(n_practices=n_practices)


@pytest.mark.parametrize(
    ("n_practices", "shown"), [([2, 3, 4], True), ([0, 0, 0], False), (None, False)]
)
def test_practice_rows_only_for_clusters_of_practices(n_practices, shown) -> None:
    people = pd.DataFrame({"cluster_id": ["C1", "C1", "C2"], "arm": ["A", "A", "B"]})
    rows = {r[0]: r[1:] for r in _rows(cluster_table(_clusters(n_practices), people, ("A", "B")))}
    assert ("GP practices, n" in rows) is shown
    assert ("GP practices per cluster, mean (SD)" in rows) is shown
    if shown:
        assert rows["GP practices, n"] == ("6", "3")
    assert rows["Participants recruited per cluster, mean (SD)"] == ("1.0 (1.4)", "1.0 (–)")


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ({"column": "gender", "kind": "categorical"},
         r"variables\[0\]\.column' is not a frozen participants field"),
        ({"column": "sex", "kind": "categorical", "labels": {"f": "Women"}},
         r"variables\[0\]\.labels\.f' 'f' is not a code of the field's vocabulary"),
        ({"column": "sex", "kind": "categorical", "labels": {"male": "X", "female": "X"}},
         r"labels\.female' repeats the label of 'male' \(combine codes with groups\)"),
        ({"column": "sex", "kind": "categorical", "groups": [
            {"label": "F", "codes": ["female"]}, {"label": "M", "codes": ["male", "female"]}]},
         r"groups\[1\]\.codes' 'female' is already in group 'F'"),
        ({"column": "sex", "kind": "categorical", "groups": [{"label": "F", "codes": ["female"]}]},
         r"variables\[0\]\.groups' leaves codes male, other in no group"),
        ({"column": "sex", "kind": "categorical", "groups": [
            {"label": "F", "codes": ["femal"]}, {"label": "M", "codes": ["male", "other"]}]},
         r"groups\[0\]\.codes' 'femal' is not a code .*did you mean 'female'"),
        ({"column": "sex", "kind": "categorical", "groups": [
            {"label": "F", "codes": ["female"]}, {"label": "F", "codes": ["male", "other"]}]},
         r"groups\[1\]\.label' repeats group 'F'"),
        ({"column": "sex", "kind": "categorical", "groups": [{"label": "F", "code": ["female"]}]},
         r"groups\[0\]\.code' is not a known key; did you mean 'codes'"),
        ({"column": "sex", "kind": "categorical", "labels": {"male": "M"},
          "groups": [{"label": "All", "codes": ["male", "female", "other"]}]},
         r"variables\[0\]\.groups' cannot be used with labels"),
        ({"column": "sex", "kind": "categorical", "order": "alphabetical"},
         r"order' must be one of declared, frequency"),
        ({"column": "sex"},
         r"kind' binary needs a boolean field; 'sex' is a code field \(use kind = 'categorical'\)"),
        ({"column": "age_at_consent", "kind": "categorical"},
         r"kind' categorical needs a code field; 'age_at_consent' is an integer field \(use kind = 'continuous'\)"),
        ({"column": "cluster_id", "kind": "continuous"},
         r"kind' continuous needs an integer or number field; 'cluster_id' is a string field"),
        ({"column": "baseline_work_study", "labels": {"x": "y"}},
         r"labels' is only used for kind categorical \(this one is binary\)"),
        ({"column": "sex", "kind": "categorical", "decimals": 2},
         r"decimals' is only used for kind continuous"),
    ],
)  # fmt: skip
def test_definition_errors_name_the_key(pod_raw, variable, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _parse(pod_raw, variable)


def test_every_baseline_error_is_reported(pod_raw) -> None:
    from odtrial.trial import ConfigErrors

    with pytest.raises(ConfigErrors) as e:
        _parse(
            pod_raw,
            {"column": "sex", "kind": "categorical", "labels": {"f": "F", "m": "M"}},
            {"column": "diagnosis", "kind": "categorical", "order": "size"},
        )
    assert [m.split("'")[1] for m in e.value.messages] == [
        "baseline.variables[0].labels.f",
        "baseline.variables[0].labels.m",
        "baseline.variables[1].order",
    ]


def test_without_a_date_of_birth_there_is_no_age(pod_raw) -> None:
    raw = copy.deepcopy(pod_raw)
    participants = raw["tables"]["participants"]
    del participants["date_of_birth"]
    participants["fields"] = [f for f in participants["fields"] if f["name"] != "date_of_birth"]
    for ex in raw["extracts"].values():
        ex["participants"]["columns"].pop("date_of_birth")
    age = {"column": "age_at_consent", "kind": "continuous"}
    assert _parse(pod_raw, age)[0].column == "age_at_consent"
    with pytest.raises(ConfigError, match=r"variables\[0\]\.column' is not a frozen participants"):
        _parse(raw, age)
