"""The analysis dataset of a plan's derivations, on a small hand-made trial laid out as
the POD trial's freeze, with numbers worked out by hand (the derivations reproduce the
columns the POD trial's derivation used to build).

Unless a test says otherwise: window 24 months, data cut-off 2024-12-31, and
participants consent on 2022-01-01, so window_end = 2024-01-01 and
followup_days = 730 (2022 and 2023 are not leap years).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from odtrial.data.derive import derive
from odtrial.errors import DeriveError

CUTOFF = "2024-12-31"
SCHEDULE = [{"month": 12, "window_days": 92}, {"month": 24, "window_days": 92}]
CONSENT = "2022-01-01"
F = 730  # followup_days for a 2022-01-01 consent

_FU = {"table": "followup", "field": "work_study", "visit_field": "visit_month",
       "date_field": "assessment_date"}  # fmt: skip
_ADM = {"table": "admissions", "start": "admission_date", "end": "discharge_date"}
_RX = {"table": "prescriptions", "drug": "drug", "start": "start_date", "end": "end_date"}
# the POD trial's outcomes as derivations (analysis_plans/pod_synthetic_sap.toml)
POD: dict[str, dict] = {
    "work_study_12m": {"kind": "value_at_visit", **_FU, "visit": 12},
    "work_study_24m": {"kind": "value_at_visit", **_FU, "visit": 24},
    "any_admission": {"kind": "any_event", **_ADM},
    "n_admissions": {"kind": "count_events", **_ADM},
    "bed_days": {"kind": "days_in_state", **_ADM},
    "any_antipsychotic": {"kind": "medication_any", **_RX, "class": "antipsychotic"},
    "cpz_mean_daily_dose": {"kind": "mean_dose", **_RX, "dose": "daily_dose_mg",
                            "class": "antipsychotic", "equivalence": "chlorpromazine_woods2003"},
    "relapse": {"kind": "time_to_event", "events": [
        _ADM, {"table": "crisis_referrals", "date": "referral_date"}]},
}  # fmt: skip
LEADING = [
    "participant_id", "cluster_id", "catchment", "arm", "gp_practice", "practice_cluster_id",
    "age_at_consent", "sex", "ethnicity", "diagnosis", "consent_date", "baseline_work_study",
    "trust", "window_end", "followup_days",
]  # fmt: skip
DERIVED = [
    "work_study_12m", "work_study_24m", "any_admission", "n_admissions", "bed_days",
    "any_antipsychotic", "cpz_mean_daily_dose", "relapse_days", "relapse_event",
]  # fmt: skip


def leucht() -> dict[str, dict]:
    return POD | {"cpz_mean_daily_dose": POD["cpz_mean_daily_dose"]
                  | {"equivalence": "chlorpromazine_leucht2015"}}  # fmt: skip


def pod(tables, derivations=None, **kw):
    """derive() with the POD derivations, a 24-month window and the test cut-off."""
    kw = {"window_months": 24, "data_cutoff": CUTOFF, **kw}
    return derive(tables, POD if derivations is None else derivations, **kw)


def _dates(values: list[str | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(pd.Series(values, dtype="object")), dtype="datetime64[us]")


def make_tables(
    participants: list[dict],
    *,
    followup: list[tuple] = (),
    admissions: list[tuple] = (),
    crisis: list[tuple] = (),
    prescriptions: list[tuple] = (),
) -> dict[str, pd.DataFrame]:
    """Frozen-style tables (frozen columns and dtypes) from short literals.

    participants: dicts with participant_id and optional consent_date, cluster_id;
    followup: (pid, visit_month, assessment_date, work_study);
    admissions: (pid, admission_date, discharge_date or None);
    crisis: (pid, referral_date);
    prescriptions: (pid, drug, daily_dose_mg, start_date, end_date or None).
    """
    rows = [
        {
            "cluster_id": "C01",
            "consent_date": CONSENT,
            **p,
        }
        for p in participants
    ]
    pt = pd.DataFrame(
        {
            "participant_id": pd.array([r["participant_id"] for r in rows], dtype="string"),
            "cluster_id": pd.array([r["cluster_id"] for r in rows], dtype="string"),
            "catchment": pd.array(["north"] * len(rows), dtype="string"),
            "arm": pd.array(
                ["POD" if r["cluster_id"] == "C01" else "TAU" for r in rows], dtype="string"
            ),
            "gp_practice": pd.array(["G1"] * len(rows), dtype="string"),
            "practice_cluster_id": pd.array([r["cluster_id"] for r in rows], dtype="string"),
            "age_at_consent": pd.array([30 + i for i in range(len(rows))], dtype="Int64"),
            "sex": pd.array(["female"] * len(rows), dtype="string"),
            "ethnicity": pd.array(["A"] * len(rows), dtype="string"),
            "diagnosis": pd.array(["psychosis"] * len(rows), dtype="string"),
            "consent_date": _dates([r["consent_date"] for r in rows]),
            "baseline_work_study": pd.array([False] * len(rows), dtype="boolean"),
            "trust": pd.array(["sender"] * len(rows), dtype="string"),
        }
    )
    clusters = pd.DataFrame(
        {
            "cluster_id": pd.array(["C01", "C02"], dtype="string"),
            "trust": pd.array(["nelft", "kent"], dtype="string"),
            "catchment": pd.array(["north", "north"], dtype="string"),
            "n_practices": np.array([3, 4], dtype=np.int64),
            "list_size": np.array([10_000, 12_000], dtype=np.int64),
            "imd_score": np.array([20.5, 30.1]),
            "arm": pd.array(["POD", "TAU"], dtype="string"),
        }
    )
    fu = pd.DataFrame(
        {
            "participant_id": pd.array([r[0] for r in followup], dtype="string"),
            "visit_month": pd.array([r[1] for r in followup], dtype="Int64"),
            "assessment_date": _dates([r[2] for r in followup]),
            "work_study": pd.array([r[3] for r in followup], dtype="boolean"),
        }
    )
    adm = pd.DataFrame(
        {
            "participant_id": pd.array([r[0] for r in admissions], dtype="string"),
            "admission_date": _dates([r[1] for r in admissions]),
            "discharge_date": _dates([r[2] for r in admissions]),
            "legal_status": pd.array(["informal"] * len(admissions), dtype="string"),
        }
    )
    cr = pd.DataFrame(
        {
            "participant_id": pd.array([r[0] for r in crisis], dtype="string"),
            "referral_date": _dates([r[1] for r in crisis]),
        }
    )
    rx = pd.DataFrame(
        {
            "participant_id": pd.array([r[0] for r in prescriptions], dtype="string"),
            "drug": pd.array([r[1] for r in prescriptions], dtype="string"),
            "daily_dose_mg": np.array([r[2] for r in prescriptions], dtype=np.float64),
            "start_date": _dates([r[3] for r in prescriptions]),
            "end_date": _dates([r[4] for r in prescriptions]),
        }
    )
    return {
        "clusters": clusters,
        "participants": pt,
        "followup": fu,
        "admissions": adm,
        "crisis_referrals": cr,
        "prescriptions": rx,
    }


# One participant per situation; see the expected values in EXPECTED below.
PARTICIPANTS = [
    {"participant_id": "P17", "cluster_id": "C99"},  # listed first: output must be sorted
    {"participant_id": "P01"},
    {"participant_id": "P02", "cluster_id": "C02"},
    {"participant_id": "P03"},
    {"participant_id": "P04"},
    {"participant_id": "P05"},
    {"participant_id": "P06"},
    {"participant_id": "P07"},
    {"participant_id": "P08"},
    {"participant_id": "P09"},
    {"participant_id": "P10", "consent_date": "2023-06-15"},
    {"participant_id": "P12"},
    {"participant_id": "P13"},
    {"participant_id": "P14"},
    {"participant_id": "P15"},
    {"participant_id": "P16"},
]
FOLLOWUP = [
    ("P01", 12, "2023-01-03", True),
    ("P01", 24, "2024-01-02", False),
    # two records of one visit: the later-dated one wins, whatever the row order
    ("P02", 24, "2024-01-10", True),
    ("P02", 24, "2024-01-05", False),
]
ADMISSIONS = [
    # P02 overlapping stays -> one spell [02-01, 02-20): 19 nights
    ("P02", "2022-02-01", "2022-02-11"),
    ("P02", "2022-02-05", "2022-02-20"),
    # P03 touching stays (readmitted on the discharge day) -> one spell of 14 nights,
    # then a separate 2-night stay after a night at home
    ("P03", "2022-03-10", "2022-03-15"),
    ("P03", "2022-03-01", "2022-03-10"),
    ("P03", "2022-03-16", "2022-03-18"),
    # P04 in hospital at consent, then a touching transfer: the index spell, not a
    # new admission; nights 1-6 January are in the window
    ("P04", "2021-12-20", "2022-01-05"),
    ("P04", "2022-01-05", "2022-01-07"),
    # P05 no discharge: runs to the window end, nights 1-31 December 2023
    ("P05", "2023-12-01", None),
    # P06 admitted on the window end: counts, relapse at day 730, no night in the window
    ("P06", "2024-01-01", "2024-01-03"),
    # P07 admitted the day after the window end: does not count
    ("P07", "2024-01-02", "2024-01-04"),
    # P08 admitted on the consent day (day 0), and a same-day stay (0 nights) later
    ("P08", "2022-01-01", "2022-01-03"),
    ("P08", "2022-05-01", "2022-05-01"),
    # P09 crisis referral before the admission
    ("P09", "2022-07-01", "2022-07-11"),
    # P10 window clipped by the cut-off 2024-12-31: nights 1-30 December 2024
    ("P10", "2024-12-01", None),
    # an admission of nobody in the participants table
    ("PXX", "2022-03-01", "2022-03-05"),
]
CRISIS = [
    ("P07", "2024-01-02"),  # day after the window end
    ("P09", "2021-12-01"),  # before consent: ignored
    ("P09", "2022-06-01"),  # day 151: the relapse
]
PRESCRIPTIONS = [
    # whole window, risperidone 4 mg: Woods 4/2*100 = 200; Leucht 4/0.4*38.9 = 389
    ("P12", "risperidone", 4.0, "2021-06-01", None),
    # two concurrent antipsychotics: 365 and 549 days in the window
    ("P13", "risperidone", 2.0, "2022-01-01", "2022-12-31"),
    ("P13", "haloperidol", 4.0, "2022-07-01", "2023-12-31"),
    # partly outside the window: 2023-12-02..2023-12-31 = 30 days inside
    ("P14", "olanzapine", 10.0, "2023-12-02", "2024-03-31"),
    ("P14", "risperidone", 6.0, "2021-01-01", "2021-12-31"),  # ends the day before consent
    ("P14", "risperidone", 2.0, "2024-01-01", None),  # starts on the window end: no day inside
    # clozapine is not covered by Woods 2003 -> NaN; Leucht covers it
    ("P15", "clozapine", 300.0, "2022-01-01", "2023-12-31"),
    ("P15", "risperidone", 2.0, "2022-01-01", "2023-12-31"),
    # a non-antipsychotic, and an antipsychotic that ended before consent
    ("P16", "sertraline", 100.0, "2022-01-01", None),
    ("P16", "risperidone", 6.0, "2021-01-01", "2021-12-31"),
    # a drug not in the catalogue (a made-up name): ignored, counted
    ("P17", "testapine", 3.0, "2022-01-01", None),
]


def trial_tables() -> dict[str, pd.DataFrame]:
    return make_tables(
        PARTICIPANTS,
        followup=FOLLOWUP,
        admissions=ADMISSIONS,
        crisis=CRISIS,
        prescriptions=PRESCRIPTIONS,
    )


# participant: (any_admission, n_admissions, bed_days, relapse_event, relapse_days)
EXPECTED_EVENTS = {
    "P01": (False, 0, 0, False, F),
    "P02": (True, 1, 19, True, 31),
    "P03": (True, 2, 16, True, 59),
    "P04": (False, 0, 6, False, F),
    "P05": (True, 1, 31, True, 699),
    "P06": (True, 1, 0, True, F),
    "P07": (False, 0, 0, False, F),
    "P08": (True, 2, 2, True, 0),
    "P09": (True, 1, 10, True, 151),
    "P10": (True, 1, 30, True, 535),
    "P12": (False, 0, 0, False, F),
}

# participant: (any_antipsychotic, Woods 2003 mean, Leucht 2015 mean)
EXPECTED_CPZ = {
    "P01": (False, 0.0, 0.0),
    "P12": (True, 200.0, 389.0),
    "P13": (
        True,
        (100.0 * 365 + 200.0 * 549) / F,
        (2 / 0.4 * 38.9 * 365 + 4 / 0.7 * 38.9 * 549) / F,
    ),
    "P14": (True, 200.0 * 30 / F, 389.0 * 30 / F),
    "P15": (True, np.nan, 300 / 30.6 * 38.9 + 2 / 0.4 * 38.9),
    "P16": (False, 0.0, 0.0),
    "P17": (False, 0.0, 0.0),
}


@pytest.fixture(scope="module")
def woods() -> pd.DataFrame:
    return pod(trial_tables()).set_index("participant_id")


def test_one_row_per_participant_sorted(woods: pd.DataFrame) -> None:
    assert list(woods.reset_index().columns) == LEADING + DERIVED
    assert list(woods.index) == sorted(p["participant_id"] for p in PARTICIPANTS)


def test_window_and_followup(woods: pd.DataFrame) -> None:
    assert woods.loc["P01", "window_end"] == pd.Timestamp("2024-01-01")
    assert woods.loc["P01", "followup_days"] == F
    # consent 2023-06-15 + 24 months = 2025-06-15, clipped to the cut-off:
    # 366 days to 2024-06-15 (29 Feb 2024) + 199 to 2024-12-31
    assert woods.loc["P10", "window_end"] == pd.Timestamp(CUTOFF)
    assert woods.loc["P10", "followup_days"] == 565


@pytest.mark.parametrize("pid", sorted(EXPECTED_EVENTS))
def test_admissions_bed_days_relapse(woods: pd.DataFrame, pid: str) -> None:
    row = woods.loc[pid]
    got = (
        bool(row["any_admission"]),
        int(row["n_admissions"]),
        int(row["bed_days"]),
        bool(row["relapse_event"]),
        int(row["relapse_days"]),
    )
    assert got == EXPECTED_EVENTS[pid]


def test_bed_days_never_exceed_followup(woods: pd.DataFrame) -> None:
    assert (woods["bed_days"] <= woods["followup_days"]).all()
    assert (woods["relapse_days"] <= woods["followup_days"]).all()


@pytest.mark.parametrize("pid", sorted(EXPECTED_CPZ))
def test_cpz_woods(woods: pd.DataFrame, pid: str) -> None:
    any_ap, mean_woods, _ = EXPECTED_CPZ[pid]
    assert bool(woods.loc[pid, "any_antipsychotic"]) is any_ap
    np.testing.assert_allclose(woods.loc[pid, "cpz_mean_daily_dose"], mean_woods, rtol=1e-12)


def test_cpz_leucht() -> None:
    df = pod(trial_tables(), leucht()).set_index("participant_id")
    for pid, (any_ap, _, mean_leucht) in EXPECTED_CPZ.items():
        assert bool(df.loc[pid, "any_antipsychotic"]) is any_ap, pid
        np.testing.assert_allclose(df.loc[pid, "cpz_mean_daily_dose"], mean_leucht, rtol=1e-12)
    d = df.attrs["derivations"]["cpz_mean_daily_dose"]
    assert d["equivalence"] == "chlorpromazine_leucht2015"
    assert df.attrs["counts"]["derivations"]["cpz_mean_daily_dose"]["uncovered_participants"] == 0


def test_work_study(woods: pd.DataFrame) -> None:
    assert str(woods["work_study_24m"].dtype) == "boolean"
    assert bool(woods.loc["P01", "work_study_12m"]) is True
    assert not woods.loc["P01", "work_study_24m"]
    assert woods.loc["P02", "work_study_24m"]  # later-dated record of two
    assert pd.isna(woods.loc["P02", "work_study_12m"])
    assert pd.isna(woods.loc["P03", "work_study_24m"])
    assert list(woods.index[woods["work_study_24m"].notna()]) == ["P01", "P02"]


def test_visits_of_any_schedule() -> None:
    """One column per value_at_visit derivation, whatever the months; a record at
    another month is not the visit's."""
    t = make_tables(
        [{"participant_id": "A"}, {"participant_id": "B"}],
        followup=[
            ("A", 3, "2022-04-02", True),
            ("A", 12, "2023-01-05", False),
            ("A", 24, "2023-12-20", True),
            ("B", 3, "2022-03-28", False),
            ("B", 6, "2022-07-01", True),  # not a visit asked for
        ],
    )
    visits = {f"ws_{m}": {"kind": "value_at_visit", **_FU, "visit": m} for m in (3, 12, 24)}
    df = pod(t, visits).set_index("participant_id")
    assert list(df.reset_index().columns) == [*LEADING, "ws_3", "ws_12", "ws_24"]
    assert [bool(df.loc["A", c]) for c in ("ws_3", "ws_12", "ws_24")] == [True, False, True]
    assert not df.loc["B", "ws_3"]
    assert pd.isna(df.loc["B", "ws_12"]) and pd.isna(df.loc["B", "ws_24"])
    c = df.attrs["counts"]["derivations"]
    assert [c[k]["missing"] for k in ("ws_3", "ws_12", "ws_24")] == [0, 1, 1]
    # the visit and date fields the freeze manifest declares are used when none is given
    bare = {k: {p: v for p, v in d.items() if p not in ("visit_field", "date_field")}
            for k, d in visits.items()}  # fmt: skip
    fr = SimpleNamespace(
        tables=t,
        manifest={
            "trial": {"data_cutoff": CUTOFF, "follow_up_months": 24},
            "tables": {"followup": {"visit": "visit_month", "date": "assessment_date"}},
        },
    )
    via_manifest = derive(fr, bare).set_index("participant_id")
    pd.testing.assert_frame_equal(
        via_manifest[["ws_3", "ws_12", "ws_24"]], df[["ws_3", "ws_12", "ws_24"]]
    )
    fr.manifest.pop("tables")
    with pytest.raises(DeriveError, match=r"key 'derivations.ws_3' needs visit_field"):
        derive(fr, bare)


def test_trust_from_cluster_else_sender(woods: pd.DataFrame) -> None:
    assert woods.loc["P01", "trust"] == "nelft"
    assert woods.loc["P02", "trust"] == "kent"
    assert woods.loc["P17", "trust"] == "sender"  # cluster C99 not in the clusters table


def test_participants_columns_carried(woods: pd.DataFrame) -> None:
    assert woods.loc["P02", "arm"] == "TAU"
    assert woods.loc["P02", "cluster_id"] == "C02"
    assert woods.loc["P01", "age_at_consent"] == 31
    assert woods.loc["P10", "consent_date"] == pd.Timestamp("2023-06-15")
    assert str(woods["age_at_consent"].dtype) == "Int64"
    assert "source_file" not in woods.columns


def test_attrs(woods: pd.DataFrame) -> None:
    a = woods.attrs
    assert (a["window_months"], a["data_cutoff"]) == (24, CUTOFF)
    assert a["derivations"]["bed_days"] == {
        "kind": "days_in_state", "key": "derivations.bed_days", "table": "admissions",
        "start": "admission_date", "end": "discharge_date", "window_months": 24,
    }  # fmt: skip
    assert "window_months" not in a["derivations"]["work_study_24m"]  # no window
    c = a["counts"]
    assert c["participants"] == len(PARTICIPANTS)
    assert c["window_clipped_by_cutoff"] == 1
    d = c["derivations"]
    cpz = d["cpz_mean_daily_dose"]
    assert cpz["uncovered_participants"] == 1 and cpz["uncovered_drugs"] == ["clozapine"]
    assert cpz["unknown_drug_rows"] == 1 and cpz["unknown_drug_participants_in_window"] == 1
    assert cpz["unknown_drugs"] == ["testapine"]
    assert d["bed_days"]["rows_unknown_participant"] == 1
    assert d["work_study_24m"]["duplicate_records"] == 1
    assert d["work_study_24m"]["missing"] == len(PARTICIPANTS) - 2
    assert d["bed_days"]["ongoing_at_consent"] == 1
    assert d["bed_days"]["open_ended"] == 2
    # relapses: P02 P03 P05 P06 P08 P09 P10; only P09 first by crisis referral
    assert d["relapse"]["events"] == 7
    assert [s["first"] for s in d["relapse"]["sources"]] == [6, 1]
    json.dumps(a)  # attrs are JSON-serialisable (they go into Parquet metadata)


def test_a_derivation_with_its_own_window() -> None:
    """window_months on a derivation: its own window and follow-up columns."""
    short = POD | {"n_admissions_12m": {**POD["n_admissions"], "window_months": 12},
                   "cpz_12m": {**POD["cpz_mean_daily_dose"], "window_months": 12}}  # fmt: skip
    df = pod(trial_tables(), short).set_index("participant_id")
    assert df.loc["P01", "window_end_12m"] == pd.Timestamp("2023-01-01")
    assert df.loc["P01", "followup_days_12m"] == 365
    assert df.loc["P01", "followup_days"] == F  # the default window's stay
    # P05's admission on 2023-12-01 is outside 12 months
    assert (df.loc["P05", "n_admissions"], df.loc["P05", "n_admissions_12m"]) == (1, 0)
    # P13: 365 days of risperidone 2 mg (100 CPZ) + 184 days of haloperidol 4 mg (200)
    np.testing.assert_allclose(
        df.loc["P13", "cpz_12m"], (100.0 * 365 + 200.0 * 184) / 365, rtol=1e-12
    )
    assert df.attrs["derivations"]["cpz_12m"]["window_months"] == 12


def test_shorter_default_window() -> None:
    df = pod(trial_tables(), window_months=12).set_index("participant_id")
    assert df.loc["P01", "window_end"] == pd.Timestamp("2023-01-01")
    assert df.loc["P01", "followup_days"] == 365
    assert (df.loc["P05", "n_admissions"], df.loc["P05", "bed_days"]) == (0, 0)
    assert (df.loc["P05", "relapse_event"], df.loc["P05", "relapse_days"]) == (False, 365)
    # work/study at the scheduled visits does not depend on the window
    assert not df.loc["P01", "work_study_24m"]


def test_the_window_defaults_to_the_trials_follow_up() -> None:
    fr = SimpleNamespace(
        tables=trial_tables(),
        manifest={"trial": {"data_cutoff": CUTOFF, "follow_up_months": 12}},
    )
    assert derive(fr, POD).attrs["window_months"] == 12
    with pytest.raises(DeriveError, match=r"window_months is required when neither the plan"):
        derive(trial_tables(), POD, data_cutoff=CUTOFF)


def test_no_events_gives_zeros() -> None:
    df = pod(make_tables([{"participant_id": "P1"}, {"participant_id": "P2"}]))
    assert (df["n_admissions"] == 0).all() and (df["bed_days"] == 0).all()
    assert not df["any_admission"].any() and not df["any_antipsychotic"].any()
    assert (df["cpz_mean_daily_dose"] == 0.0).all()
    assert not df["relapse_event"].any() and (df["relapse_days"] == F).all()
    assert df["work_study_24m"].isna().all()


def test_consent_on_cutoff_day_has_zero_followup() -> None:
    t = make_tables(
        [{"participant_id": "P1", "consent_date": CUTOFF}],
        crisis=[("P1", CUTOFF)],
        prescriptions=[("P1", "risperidone", 2.0, CUTOFF, None)],
    )
    row = pod(t).iloc[0]
    assert row["followup_days"] == 0
    assert (row["relapse_event"], row["relapse_days"]) == (True, 0)
    assert not row["any_antipsychotic"]  # no day of exposure
    assert np.isnan(row["cpz_mean_daily_dose"])  # mean over zero days is undefined


def test_freeze_like_object_uses_manifest_cutoff() -> None:
    fr = SimpleNamespace(
        tables=trial_tables(),
        manifest={
            "trial": {
                "data_cutoff": CUTOFF,
                "arms": ["POD", "TAU"],
                "follow_up_months": 24,
                "visits": SCHEDULE,
            }
        },
    )
    via_freeze = derive(fr, POD)
    via_mapping = pod(trial_tables())
    pd.testing.assert_frame_equal(via_freeze, via_mapping)
    # an earlier cut-off (interim look) is allowed and clips windows
    early = derive(fr, POD, data_cutoff="2024-06-30").set_index("participant_id")
    assert early.loc["P01", "followup_days"] == F
    # 2023-06-15 .. 2024-06-15 is 366 days, plus 15
    assert early.loc["P10", "followup_days"] == 381
    assert (early.loc["P10", "n_admissions"], early.loc["P10", "bed_days"]) == (0, 0)
    assert early.attrs["data_cutoff"] == "2024-06-30"
    with pytest.raises(
        DeriveError, match=r"data_cutoff 2025-01-01 is after the freeze's cut-off 2024-12-31"
    ):
        derive(fr, POD, data_cutoff="2025-01-01")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_months": 0}, r"window_months must be a positive whole number of months, got 0"),
        ({"window_months": -3}, r"window_months must be a positive whole number .* got -3"),
        ({"window_months": 1.5}, r"window_months must be a positive whole number .* got 1\.5"),
        ({"window_months": True}, r"window_months must be a positive whole number .* got True"),
        ({"window_months": "24"}, r"window_months must be a positive whole number .* got '24'"),
        ({"data_cutoff": "not a date"}, r"data_cutoff is not a date: 'not a date'"),
    ],
)
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(DeriveError, match=message):
        pod(trial_tables(), **kwargs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "value_at_visti"}, r"key 'derivations.x.kind' must be one of .*; did you mean 'value_at_visit'\?"),
        ({"feild": "work_study"}, r"key 'derivations.x.feild' is not a known key; did you mean 'field'\?"),
        ({"window_months": 12}, r"key 'derivations.x.window_months' applies to .* only \(this derivation is a value_at_visit\)"),
        ({"choose": "last"}, r"key 'derivations.x.choose' must be one of latest, earliest, closest"),
    ],
)  # fmt: skip
def test_a_derivation_table_is_checked_as_the_plan_checks_it(change: dict, message: str) -> None:
    spec = {"kind": "value_at_visit", **_FU, "visit": 24, **change}
    if "feild" in change:
        del spec["field"]
    with pytest.raises(DeriveError, match=message):
        pod(trial_tables(), {"x": spec})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**POD["bed_days"], "table": "admission"},
         r"key 'derivations.x.table' names no table of the freeze: 'admission'; did you mean 'admissions'\?"),
        ({**POD["bed_days"], "end": "discharge"},
         r"key 'derivations.x.end' names no field of table 'admissions': 'discharge'; did you mean 'discharge_date'\?"),
        ({**POD["bed_days"], "end": "legal_status"},
         r"key 'derivations.x.end' names admissions.legal_status, which is not a date field"),
        ({**POD["relapse"], "events": [{"table": "crisis_referrals", "date": "referal_date"}]},
         r"key 'derivations.x.events\[0\].date' names no field of table 'crisis_referrals'"),
        ({**POD["any_admission"], "where": {"field": "legal_statu", "in": ["x"]}},
         r"key 'derivations.x.where.field' names no field of table 'admissions': 'legal_statu'; did you mean 'legal_status'\?"),
        ({**POD["work_study_24m"], "field": "trust"},
         r"key 'derivations.x.field' names no field of table 'followup': 'trust'"),
    ],
)  # fmt: skip
def test_a_table_or_field_the_freeze_lacks_names_the_key(spec: dict, message: str) -> None:
    with pytest.raises(DeriveError, match=message) as info:
        pod(trial_tables(), {"x": spec})
    assert "\n" not in str(info.value)


def test_column_names_must_be_new() -> None:
    with pytest.raises(DeriveError, match=r"key 'derivations.sex': the column 'sex' is already"):
        pod(trial_tables(), {"sex": POD["any_admission"]})


def test_mapping_needs_cutoff() -> None:
    with pytest.raises(
        DeriveError, match=r"data_cutoff is required when the tables come without a manifest"
    ):
        derive(trial_tables(), POD, window_months=24)


def test_not_a_freeze() -> None:
    with pytest.raises(
        DeriveError,
        match=r"freeze must be a freeze folder, a Freeze or a mapping of tables, got int",
    ):
        pod(3)


def test_bad_tables() -> None:
    t = trial_tables()
    del t["participants"]
    with pytest.raises(DeriveError, match=r"table 'participants' is missing"):
        pod(t)
    t = trial_tables()
    t["crisis_referrals"]["referral_date"] = t["crisis_referrals"]["referral_date"].astype(str)
    with pytest.raises(
        DeriveError, match=r"names crisis_referrals.referral_date, which is not a date field"
    ):
        pod(t)
    t = trial_tables()
    t["participants"].loc[0, "consent_date"] = pd.NaT
    with pytest.raises(
        DeriveError, match=r"participants.consent_date has 1 missing value\(s\); it is required"
    ):
        pod(t)
    t = trial_tables()
    t["participants"].loc[1, "participant_id"] = "P17"
    with pytest.raises(
        DeriveError, match=r"participants has 1 duplicated participant_id\(s\), e.g. P17"
    ):
        pod(t)


def test_records_without_a_date_are_ignored_and_counted() -> None:
    t = trial_tables()
    t["crisis_referrals"].loc[2, "referral_date"] = pd.NaT  # P09's relapse
    df = pod(t).set_index("participant_id")
    assert df.loc["P09", "relapse_days"] == 181  # now the admission on 2022-07-01
    assert df.attrs["counts"]["derivations"]["relapse"]["sources"][1]["rows_missing_date"] == 1


def test_consent_after_cutoff() -> None:
    with pytest.raises(
        DeriveError,
        match=r"1 participant\(s\) consented after the data cut-off 2023-06-01, e.g. P10",
    ):
        pod(trial_tables(), data_cutoff="2023-06-01")


def test_written_dataset(tmp_path) -> None:
    df = pod(trial_tables(), out=tmp_path / "a")
    pod(trial_tables(), out=tmp_path / "b")
    names = ["analysis_dataset.csv", "analysis_dataset.parquet", "derivation.json"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == names  # no temporaries left
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    back = pd.read_parquet(tmp_path / "a" / "analysis_dataset.parquet")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back.attrs["counts"] == df.attrs["counts"]
    lines = (tmp_path / "a" / "analysis_dataset.csv").read_text().splitlines()
    assert lines[0] == ",".join(LEADING + DERIVED)
    p15 = next(line for line in lines if line.startswith("P15,"))
    assert ",2022-01-01,False,nelft,2024-01-01,730," in p15
    meta = json.loads((tmp_path / "a" / "derivation.json").read_text())
    assert meta["parameters"] == {"window_months": 24, "data_cutoff": CUTOFF}
    assert meta["derivations"]["relapse"]["kind"] == "time_to_event"
    assert meta["rows"] == len(PARTICIPANTS)
    assert meta["counts"]["derivations"]["cpz_mean_daily_dose"]["uncovered_participants"] == 1


def test_freeze_path_agrees_with_mapping(tmp_path) -> None:
    """A freeze folder read by read_freeze (hashes checked) gives the same dataset."""
    from odtrial.data.freeze import MANIFEST, MANIFEST_KEYS, sha256_file, write_parquet

    folder = tmp_path / "freeze"
    outputs = []
    for name, table in trial_tables().items():
        rel = f"tables/{name}.parquet"
        write_parquet(table, folder / rel)
        outputs.append({"path": rel, "sha256": sha256_file(folder / rel), "rows": len(table)})
    manifest = {k: [] for k in MANIFEST_KEYS} | {
        "medication_dictionary": None,
        "outputs": outputs,
        "trial": {
            "name": "t",
            "arms": ["POD", "TAU"],
            "follow_up_months": 24,
            "data_cutoff": CUTOFF,
            "visits": SCHEDULE,
        },
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    via_path = derive(folder, POD)
    via_str = derive(str(folder), POD)
    via_mapping = pod(trial_tables())
    pd.testing.assert_frame_equal(via_path, via_mapping)
    pd.testing.assert_frame_equal(via_str, via_mapping)
    assert via_path.attrs == via_mapping.attrs


def test_a_plan_gives_the_derivations(tmp_path) -> None:
    """derive(freeze, plan): the plan's [variables] then [outcomes], its default window."""
    import re
    from pathlib import Path

    from odtrial.plan import load_plan

    shipped = Path(__file__).resolve().parents[2] / "analysis_plans" / "pod_synthetic_sap.toml"
    # its clinical derivations (the health economics read tables these frames lack)
    sap = tmp_path / "sap.toml"
    text = shipped.read_text(encoding="utf-8")
    sap.write_text(re.sub(r"(?ms)^\[health_economics.*?(?=^\[(?!health_economics))", "", text))
    plan = load_plan(sap)
    assert not any(d.key.startswith("health_economics") for d in plan.derivations)
    # the plan leaves the follow-up visit and date fields to the trial (the manifest)
    fr = SimpleNamespace(
        tables=trial_tables(),
        manifest={
            "trial": {"data_cutoff": CUTOFF},
            "tables": {"followup": {"visit": "visit_month", "date": "assessment_date"}},
        },
    )
    df = derive(fr, plan)
    assert list(df.columns[len(LEADING):]) == [
        "work_study_12m", "work_study_24m", "any_admission", "bed_days", "any_antipsychotic",
        "cpz_mean_daily_dose", "relapse_days", "relapse_event",
    ]  # fmt: skip
    same = pod(trial_tables())
    for c in df.columns[len(LEADING) :]:
        pd.testing.assert_series_equal(df[c], same[c])
    pd.testing.assert_frame_equal(derive(fr, sap), df)
    assert df.attrs["derivations"]["work_study_24m"]["visit_field"] == "visit_month"


@pytest.mark.parametrize("flavour", ["object", "str"])
def test_string_flavours_give_same_dataset(flavour: str) -> None:
    """Ids and codes as object or pandas 'str' columns derive the same dataset."""
    tables = trial_tables()
    for t in tables.values():
        for c in t.columns:
            if str(t[c].dtype) == "string":
                t[c] = t[c].astype(flavour)
    pd.testing.assert_frame_equal(pod(tables), pod(trial_tables()))


def test_no_participants() -> None:
    df = pod(make_tables([]))
    assert list(df.columns) == LEADING + DERIVED and len(df) == 0


def test_no_derivations_gives_the_participants_and_window() -> None:
    df = derive(trial_tables(), window_months=24, data_cutoff=CUTOFF)
    assert list(df.columns) == LEADING
