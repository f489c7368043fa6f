from __future__ import annotations

import copy
from datetime import date

import pytest

from odtrial.errors import ConfigError
from odtrial.synth.tables import tables_config
from odtrial.trial import load_trial, parse_trial

_EXTRACT = {
    "participants": {
        "pattern": "p.csv",
        "format": "csv",
        "columns": {
            "nhs_number": "NHS",
            "date_of_birth": "DOB",
            "sex": "Sex",
            "diagnosis": "Dx",
            "gp_practice": "GP",
            "cluster_id": "Cluster",
            "consent_date": "Consent",
            "baseline_work_study": "Work",
        },
        "codes": {"sex": {"M": "male", "F": "female"}},
    },
    "followup": {
        "pattern": "f.csv",
        "format": "csv",
        "columns": {
            "nhs_number": "NHS",
            "visit_month": "Visit",
            "assessment_date": "D",
            "work_study": "W",
        },
    },
    "admissions": {
        "pattern": "a.csv",
        "format": "csv",
        "columns": {"nhs_number": "NHS", "admission_date": "A", "legal_status": "L"},
    },
    "crisis_referrals": {
        "pattern": "c.csv",
        "format": "csv",
        "columns": {"nhs_number": "NHS", "referral_date": "R"},
    },
    "prescriptions": {
        "pattern": "rx.csv",
        "format": "csv",
        "columns": {
            "nhs_number": "NHS",
            "drug": "Drug",
            "daily_dose_mg": "Dose",
            "start_date": "S",
        },
    },
}

BASE = {
    "trial": {
        "name": "t",
        "arms": ["POD", "TAU"],
        "follow_up_months": 24,
        "data_cutoff": date(2025, 6, 30),
        "synthetic": True,
    },
    "visits": {"schedule": [{"month": 12, "window_days": 92}, {"month": 24, "window_days": 92}]},
    "eligibility": {"min_age": 18},
    "trusts": [{"id": "T1", "name": "Trust one"}],
    "strata": [{"id": "K1", "trust": "T1", "name": "Catch"}],
    "clusters": [
        {
            "id": "C1",
            "catchment": "K1",
            "practices": ["P1", "P2"],
            "list_size": 10000,
            "imd_score": 20.5,
            "arm": "POD",
        },
        {"id": "C2", "catchment": "K1", "practices": ["P3"], "list_size": 8000, "imd_score": 12},
    ],
    "extracts": {"T1": _EXTRACT},
    **tables_config(),  # the synthetic POD trial's tables
}


def test_parse_minimal_trial():
    t = parse_trial(BASE)
    assert t.arms == ("POD", "TAU")
    assert t.cluster_of_practice() == {"P1": "C1", "P2": "C1", "P3": "C2"}
    assert t.clusters[1].attributes["imd_score"] == 12.0 and t.clusters[1].arm is None
    # attributes: every non-structural key, in the first cluster's order; a whole
    # number stays int only when every cluster's value is one
    assert t.cluster_attributes == ("list_size", "imd_score")
    assert [type(v) for v in t.clusters[1].attributes.values()] == [int, float]
    assert t.clusters[0].stratum == "K1" and t.clusters[0].trust == "T1"
    assert [s.id for s in t.strata_levels] == ["K1"]
    assert not t.allocated
    spec = t.extracts["T1"]["participants"]
    assert spec.codes["sex"] == {"M": "male", "F": "female"}
    assert spec.delimiter == "," and spec.encoding == "utf-8"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("trial", "arms"), ["POD"], r"key 'trial\.arms' must list two"),
        (
            ("clusters", 0, "catchment"),
            "nowhere",
            r"key 'clusters\[0\]\.catchment' names unknown stratum 'nowhere'",
        ),
        (("clusters", 1, "practices"), ["P1"], r"practice 'P1' is already in cluster 'C1'"),
        (("clusters", 0, "arm"), "XYZ", r"key 'clusters\[0\]\.arm' must be one of"),
        (
            ("clusters", 0, "list_size"),
            "big",
            r"key 'clusters\[0\]\.list_size' must be a finite number",
        ),
        (
            ("extracts", "T1", "admissions", "format"),
            "pdf",
            r"key 'extracts\.T1\.admissions\.format' must be one of",
        ),
        (("extracts", "T1", "admissions", "encoding"), "klingon", r"names unknown encoding"),
        (
            ("extracts", "T1", "followup", "columns", "bogus"),
            "X",
            r"'extracts\.T1\.followup\.columns\.bogus' is not a field of followup",
        ),
        (("trial", "synthetic"), False, None),
    ],
)
def test_config_errors_name_the_key(path, value, message):
    raw = copy.deepcopy(BASE)
    node = raw
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    if message is None:  # not synthetic: parses, since there is no test key
        assert parse_trial(raw).synthetic is False
        return
    with pytest.raises(ConfigError, match=message):
        parse_trial(raw)


def test_missing_required_column_and_table():
    raw = copy.deepcopy(BASE)
    del raw["extracts"]["T1"]["participants"]["columns"]["nhs_number"]
    with pytest.raises(ConfigError, match=r"columns\.nhs_number' is missing"):
        parse_trial(raw)
    # every trust sends its participants table; any other table is optional
    raw = copy.deepcopy(BASE)
    del raw["extracts"]["T1"]["prescriptions"]
    assert "prescriptions" not in parse_trial(raw).extracts["T1"]
    del raw["extracts"]["T1"]["participants"]
    with pytest.raises(ConfigError, match=r"'extracts\.T1\.participants' is missing"):
        parse_trial(raw)


def test_test_key_only_for_synthetic():
    raw = copy.deepcopy(BASE)
    raw["trial"]["synthetic"] = False
    raw["pseudonymisation"] = {"test_key": "abc"}
    with pytest.raises(ConfigError, match=r"pseudonymisation\.test_key' is only allowed"):
        parse_trial(raw)


def test_load_trial_reports_bad_toml(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text("[trial\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_trial(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_trial(tmp_path / "absent.toml")


def test_arms_with_labels_and_the_allocation_design():
    raw = copy.deepcopy(BASE)
    raw["trial"]["arms"] = [{"code": "POD", "label": "Open Dialogue"}, {"code": "TAU"}]
    raw["randomisation"] = {
        "strata": {"column": "catchment", "label": "Areas"},
        "balance": [
            {"column": "imd_score", "label": "IMD", "decimals": 2},
            {"column": "list_size"},
        ],
    }
    raw["baseline"] = {
        "variables": [
            {"column": "baseline_work_study", "label": "Working"},
            {"column": "age_at_consent", "kind": "continuous", "decimals": 0},
        ]
    }
    t = parse_trial(raw)
    assert t.arms == ("POD", "TAU")
    assert t.arm_label("POD") == "Open Dialogue" and t.arm_label("TAU") == "TAU"
    assert (t.strata.column, t.strata.label) == ("catchment", "Areas")
    assert [(b.column, b.label, b.decimals) for b in t.balance] == [
        ("imd_score", "IMD", 2),
        ("list_size", "list_size", 1),
    ]
    assert [(v.column, v.label, v.kind) for v in t.baseline] == [
        ("baseline_work_study", "Working", "binary"),
        ("age_at_consent", "age_at_consent", "continuous"),
    ]


def test_the_plain_shape_has_no_labels_or_design():
    """A definition of the earlier shape still loads: codes are their own labels."""
    t = parse_trial(BASE)
    assert t.arm_labels == {"POD": "POD", "TAU": "TAU"}
    assert t.strata is None and t.balance == () and t.baseline == ()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (("trial", "arms"), [{"code": "POD"}, "TAU"], r"'trial\.arms' must list two arm codes"),
        (
            ("trial", "arms"),
            [{"code": "A"}, {"code": "A"}],
            r"'trial\.arms' must list two distinct",
        ),
        (
            ("trial", "arms"),
            [{"code": "A", "label": "X"}, {"code": "B", "label": "X"}],
            r"different labels",
        ),
        (("trial", "arms"), [{"code": "A", "colour": "red"}, {"code": "B"}], r"arms\[0\]\.colour"),
        (("randomisation", "strata"), {"column": "imd_score"}, r"strata\.column' must be one of"),
        (("randomisation", "strata"), {"column": "trust", "decimals": 1}, r"strata\.decimals"),
        (("randomisation", "balance"), [{"column": "catchment"}], r"balance\[0\]\.column"),
        (
            ("randomisation", "balance"),
            [{"column": "list_size"}, {"column": "list_size"}],
            r"'randomisation\.balance' names a column twice",
        ),
        (
            ("randomisation", "balance"),
            [{"column": "list_size", "decimals": 9}],
            r"balance\[0\]\.decimals' must be between",
        ),
        (
            ("baseline", "variables"),
            [{"column": "work_study"}],
            r"variables\[0\]\.column' is not a frozen participants field",
        ),
        (
            ("baseline", "variables"),
            [{"column": "sex", "kind": "ordinal"}],
            r"variables\[0\]\.kind' must be one of binary, continuous, categorical",
        ),
    ],
)
def test_labels_and_design_errors_name_the_key(key, value, message):
    raw = copy.deepcopy(BASE)
    raw.setdefault(key[0], {})[key[1]] = value
    with pytest.raises(ConfigError, match=message):
        parse_trial(raw)


def test_shipped_definition_declares_labels_and_design():
    from pathlib import Path

    t = load_trial(Path(__file__).resolve().parents[1] / "data" / "synthetic" / "trial.toml")
    assert [t.arm_label(a) for a in t.arms] == [
        "Peer-supported Open Dialogue",
        "Treatment as usual",
    ]
    assert t.strata is not None and t.strata.column == "catchment"
    assert [b.column for b in t.balance] == ["list_size", "imd_score"]
    assert [(v.column, v.kind) for v in t.baseline] == [
        ("sex", "categorical"),
        ("ethnicity", "categorical"),
        ("diagnosis", "categorical"),
        ("baseline_work_study", "binary"),
    ]


def test_every_error_is_reported_with_its_key_path():
    from odtrial.trial import ConfigErrors

    raw = copy.deepcopy(BASE)
    raw["trial"]["follow_up_month"] = 24  # a typo beside the real key
    raw["strata"][0]["trust"] = "T2"
    raw["clusters"][0]["list_size"] = "big"
    raw["extracts"]["T1"]["admissions"]["format"] = "cvs"
    raw["randomisation"] = {"strata": {"column": "catchmnt"}}
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="trial.toml")
    e = info.value
    assert e.messages == (
        "trial.toml: key 'trial.follow_up_month' is not a known key; did you mean "
        "'follow_up_months'? (allowed: arms, data_cutoff, follow_up_months, name, "
        "registration, synthetic)",
        "trial.toml: key 'randomisation.strata.column' must be one of the cluster fields "
        "trust, catchment, got 'catchmnt'; did you mean 'catchment'?",
        "trial.toml: key 'strata[0].trust' names unknown trust 'T2'",
        "trial.toml: key 'clusters[0].list_size' must be a finite number (a cluster "
        "attribute), got str 'big'",
        "trial.toml: key 'extracts.T1.admissions.format' must be one of csv, excel, sav, dta, "
        "xpt, sas7bdat, got 'cvs'; did you mean 'csv'?",
    )
    # one line: the first error and how many more
    assert str(e) == e.messages[0] + " (and 4 more errors; 'odtrial check' lists them)"
    assert isinstance(e, ConfigError) and e.exit_code == 2


def test_a_bad_entry_does_not_cascade_and_every_missing_piece_is_listed():
    from odtrial.trial import ConfigErrors

    raw = copy.deepcopy(BASE)
    del raw["trusts"][0]["name"]  # the trust is unusable, but its id is still known
    del raw["extracts"]["T1"]["participants"]
    raw["extracts"]["T1"]["prescriptions"]["columns"]["dose"] = "Dose"
    raw["clusters"][1]["colour"] = "red"
    raw["clusters"][1]["arm"] = "CTL"
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="t")
    lines = [m.removeprefix("t: ") for m in info.value.messages]
    assert lines == [
        "key 'trusts[0].name' is missing",
        "key 'clusters[1].arm' must be one of ['POD', 'TAU'], got 'CTL'",
        "key 'clusters[1].colour' is not an attribute of the first cluster (every "
        "cluster declares the same ones: list_size, imd_score)",
        "key 'extracts.T1.prescriptions.columns.dose' is not a field of prescriptions "
        "(known: daily_dose_mg, drug, end_date, nhs_number, start_date)",
        "key 'extracts.T1.participants' is missing (every trust sends its participants table)",
    ]


def test_visit_schedule_and_minimum_age():
    raw = copy.deepcopy(BASE)
    raw["visits"] = {
        "schedule": [
            {"month": 24, "window_days": 60},
            {"month": 3, "window_days": 14},
            {"month": 12, "window_days": 45},
        ]
    }
    raw["eligibility"] = {"min_age": 16}
    t = parse_trial(raw)
    assert t.visit_months == (3, 12, 24)  # sorted by month
    assert t.visit_windows() == {3: 14, 12: 45, 24: 60}
    assert t.min_age == 16


def test_shipped_definition_declares_visits_and_minimum_age():
    from pathlib import Path

    t = load_trial(Path(__file__).resolve().parents[1] / "data" / "synthetic" / "trial.toml")
    assert t.visit_windows() == {12: 92, 24: 92}
    assert t.min_age == 18


def test_bad_visit_schedule_reports_every_error_with_its_key_path():
    from odtrial.trial import ConfigErrors

    raw = copy.deepcopy(BASE)
    raw["visits"] = {
        "schedule": [
            {"month": 12, "window_days": 92},
            {"month": 12, "window_days": 30},  # duplicate month
            {"month": 6, "window_days": 0},  # window not positive
            {"month": 3.5, "window_days": 30},  # not a whole number
            {"month": 18, "window_days": "92"},  # not a number
            {"month": 30, "window_days": 30},  # after follow-up (24 months)
            {"month": 9, "window": 30},  # typo: window_days missing
            {"month": -1, "window_days": 10},
        ],
        "shedule": [],
    }
    raw["eligibility"] = {"min_age": 18.0, "max_age": 65}
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="t")
    lines = [m.removeprefix("t: ") for m in info.value.messages]
    assert lines == [
        "key 'visits.shedule' is not a known key; did you mean 'schedule'? (allowed: schedule)",
        "key 'visits.schedule[1].month' repeats month 12 (already at visits.schedule[0].month)",
        "key 'visits.schedule[2].window_days' must be a positive whole number of days, got 0",
        "key 'visits.schedule[3].month' must be int, got float 3.5",
        "key 'visits.schedule[4].window_days' must be int, got str '92'",
        "key 'visits.schedule[5].month' 30 is after the end of follow-up "
        "(trial.follow_up_months = 24)",
        "key 'visits.schedule[6].window' is not a known key; did you mean 'window_days'? "
        "(allowed: month, placeholder, window_after_days, window_before_days, window_days)",
        "key 'visits.schedule[6].window_days' is missing",
        "key 'visits.schedule[7].month' must be a positive whole number of months, got -1",
        "key 'eligibility.max_age' is not a known key; did you mean 'min_age'? (allowed: min_age)",
        "key 'eligibility.min_age' must be int, got float 18.0",
    ]


def test_visits_and_eligibility_are_required_and_windows_must_not_overlap():
    from odtrial.trial import ConfigErrors

    raw = copy.deepcopy(BASE)
    del raw["visits"], raw["eligibility"]
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="t")
    assert [m.removeprefix("t: ") for m in info.value.messages] == [
        "key 'visits' is missing",
        "key 'eligibility' is missing",
    ]
    raw["visits"] = {"schedule": []}
    raw["eligibility"] = {"min_age": 121}
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="t")
    assert [m.removeprefix("t: ") for m in info.value.messages] == [
        "key 'visits.schedule' must list at least one visit",
        "key 'eligibility.min_age' must be a whole number of years from 0 to 120, got 121",
    ]
    raw["eligibility"] = {"min_age": 0}  # no minimum: allowed
    raw["visits"] = {"schedule": [{"month": 3, "window_days": 45}, {"month": 6, "window_days": 45}]}
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="t")
    assert [m.removeprefix("t: ") for m in info.value.messages] == [
        "key 'visits.schedule' windows of the 3- and 6-month visits (45 + 45 days) may overlap"
    ]
    raw["visits"]["schedule"][1]["window_days"] = 30
    assert parse_trial(raw).visit_months == (3, 6)


def test_a_visit_window_may_have_a_side_each():
    """REDCap's windows are days before and after: each side its own key, window_days
    the other's default (or the wider side when both are given); overlap is checked
    between one visit's later side and the next one's earlier side."""
    from odtrial.trial import ConfigErrors

    raw = copy.deepcopy(BASE)
    raw["visits"] = {
        "schedule": [
            {"month": 3, "window_before_days": 0, "window_after_days": 14},
            {"month": 6, "window_days": 60, "window_before_days": 20},
            {"month": 12, "window_days": 30},
        ]
    }
    t = parse_trial(raw)
    assert t.visit_sides() == {3: (0, 14), 6: (20, 60), 12: (30, 30)}
    assert t.visit_windows() == {3: 14, 6: 60, 12: 30}
    raw["visits"]["schedule"] = [
        {"month": 3, "window_after_days": 50},  # one side only: window_days needed
        {"month": 9, "window_before_days": -1, "window_after_days": 10},
        {"month": 6, "window_before_days": 35, "window_after_days": 10},  # 50 + 35 >= 3 * 28
    ]
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="t")
    assert [m.removeprefix("t: ") for m in info.value.messages] == [
        "key 'visits.schedule[0].window_days' is missing",
        "key 'visits.schedule[1].window_before_days' must be a whole number of days, 0 or "
        "more, got -1",
        "key 'visits.schedule[1].window_days' is missing",
    ]
    raw["visits"]["schedule"][0]["window_days"] = 50
    del raw["visits"]["schedule"][1]
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="t")
    assert [m.removeprefix("t: ") for m in info.value.messages] == [
        "key 'visits.schedule' windows of the 3- and 6-month visits (50 + 35 days) may overlap"
    ]


def test_cluster_attributes_are_whatever_the_trial_declares():
    raw = copy.deepcopy(BASE)
    for c, beds in zip(raw["clusters"], (12, 30), strict=True):
        del c["list_size"], c["imd_score"]
        c["beds"] = beds
    raw["randomisation"] = {
        "strata": {"column": "catchment"},
        "balance": [{"column": "beds"}, {"column": "n_practices"}],
    }
    t = parse_trial(raw)
    assert t.cluster_attributes == ("beds",)
    assert [c.attributes for c in t.clusters] == [{"beds": 12}, {"beds": 30}]
    assert [b.column for b in t.balance] == ["beds", "n_practices"]
    # no attributes at all is a trial too
    for c in raw["clusters"]:
        del c["beds"]
    raw["randomisation"]["balance"] = [{"column": "n_practices"}]
    assert parse_trial(raw).cluster_attributes == ()


def test_cluster_attribute_errors_are_all_collected():
    from odtrial.trial import ConfigErrors

    raw = copy.deepcopy(BASE)
    raw["clusters"][0]["beds"] = True  # not a number; and C2 lacks it
    raw["clusters"][1]["wards"] = 3  # not declared by the first cluster
    raw["clusters"][1]["n_practices"] = 1  # a fixed field
    raw["clusters"][1]["imd_score"] = float("nan")
    raw["randomisation"] = {"balance": [{"column": "list_size"}, {"column": "imd_scor"}]}
    with pytest.raises(ConfigErrors) as info:
        parse_trial(raw, source="t.toml")
    assert info.value.messages == (
        "t.toml: key 'randomisation.balance[1].column' must be one of the cluster fields "
        "n_practices, list_size, imd_score, beds, got 'imd_scor'; did you mean 'imd_score'?",
        "t.toml: key 'clusters[0].beds' must be a finite number (a cluster attribute), "
        "got bool True",
        "t.toml: key 'clusters[1].imd_score' must be a finite number (a cluster attribute), "
        "got float nan",
        "t.toml: key 'clusters[1].wards' is not an attribute of the first cluster (every "
        "cluster declares the same ones: list_size, imd_score, beds)",
        "t.toml: key 'clusters[1].n_practices' is a cluster field every trial has "
        "(cluster_id, trust, n_practices), not an attribute to declare",
        "t.toml: key 'clusters[1].beds' is missing (every cluster declares the same "
        "attributes as the first)",
    )


def test_strata_column_is_trust_or_the_stratum():
    raw = copy.deepcopy(BASE)
    raw["randomisation"] = {"strata": {"column": "list_size"}}
    with pytest.raises(
        ConfigError,
        match=r"strata\.column' must be one of the cluster fields "
        r"trust, catchment, got 'list_size'",
    ):
        parse_trial(raw)
    raw["randomisation"] = {"strata": {"column": "trust"}}
    assert parse_trial(raw).strata.column == "trust"
