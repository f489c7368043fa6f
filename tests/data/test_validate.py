"""The validation stage as a whole: output shape, order of the checks
(participants first, accepted participants drive the events), independence
from row order, quarantine helpers, and a property test that garbage values
never make it raise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odtrial.data.catalogue import trial_rules
from odtrial.data.validate import FAILURE_COLUMNS, error_mask, error_rows, validate
from odtrial.synth.tables import ECONOMICS_TABLES, table_specs

_SPECS = table_specs()
MAPPED = {t: s.fields for t, s in _SPECS.items()}
# the clinical tables the test kit writes (not the health economics')
SITE_TABLES = tuple(t for t in _SPECS if t not in ECONOMICS_TABLES)

D = pd.Timestamp


def _assert_shape(f: pd.DataFrame, trial: Any) -> None:
    assert tuple(f.columns) == FAILURE_COLUMNS
    assert str(f["source_row"].dtype) == "Int64"
    for c in FAILURE_COLUMNS:
        if c != "source_row":
            assert isinstance(f[c].dtype, pd.StringDtype), c
    rules = trial_rules(trial)
    assert set(f["rule"]) <= set(rules)
    assert (f["severity"] == f["rule"].map({k: r.severity for k, r in rules.items()})).all()
    assert set(f["table"]) <= set(SITE_TABLES)


def test_clean_dataset_gives_an_empty_table_with_the_documented_columns(vkit: Any) -> None:
    f = validate(vkit.clean_mapped(), vkit.make_trial())
    assert len(f) == 0
    _assert_shape(f, vkit.make_trial())


def test_output_is_sorted_and_typed(vkit: Any) -> None:
    m = vkit.clean_mapped()
    m["prescriptions"].loc[5, "drug"] = "wonderzapine"
    m["participants"].loc[7, "sex"] = "?"
    m["admissions"].loc[0, "legal_status"] = "?"
    m["followup"].loc[3, "work_study"] = pd.NA
    f = validate(m, vkit.make_trial())
    _assert_shape(f, vkit.make_trial())
    order = [SITE_TABLES.index(t) for t in f["table"]]
    assert order == sorted(order)
    assert f.loc[0, "table"] == "participants"


def test_result_does_not_depend_on_row_order(vkit: Any) -> None:
    m = vkit.clean_mapped()
    a = m["admissions"]
    m["admissions"] = pd.concat([a, a.iloc[[2]].assign(source_row=pd.array([40], "Int64"))])
    m["admissions"].iloc[5, m["admissions"].columns.get_loc("admission_date")] = D("2023-02-10")
    m["participants"].loc[1, "nhs_number"] = vkit.valid_nhs(3)  # repeats participant 3's
    m["prescriptions"].loc[0, "end_date"] = D("2020-01-01")
    ref = validate(m, vkit.make_trial())
    assert len(ref) > 3
    rng = np.random.default_rng(7)
    shuffled = {k: v.iloc[rng.permutation(len(v))] for k, v in m.items()}
    pd.testing.assert_frame_equal(validate(shuffled, vkit.make_trial()), ref)


def test_warning_only_participant_is_accepted_and_its_events_checked(vkit: Any) -> None:
    m = vkit.clean_mapped()
    m["participants"].loc[0, "date_of_birth"] = D("2010-01-01")  # under 18: warning
    m["crisis_referrals"].loc[0, "referral_date"] = D("2022-12-01")  # before consent
    f = validate(m, vkit.make_trial())
    assert set(f["rule"]) == {"under_min_age", "date_before_consent"}


def test_events_of_a_quarantined_participant_are_unknown_not_date_checked(vkit: Any) -> None:
    m = vkit.clean_mapped()
    m["participants"].loc[0, "sex"] = pd.NA  # error: quarantined
    m["crisis_referrals"].loc[0, "referral_date"] = D("2022-12-01")  # would be before consent
    f = validate(m, vkit.make_trial())
    assert set(f["rule"]) == {"missing_value", "unknown_participant"}
    ev = f[f["table"] != "participants"]
    assert len(ev) == 6 and (ev["severity"] == "error").all()


def test_event_without_nhs_number_is_missing_value_only(vkit: Any) -> None:
    m = vkit.clean_mapped()
    m["admissions"].loc[6, "nhs_number"] = pd.NA
    f = validate(m, vkit.make_trial())
    assert f[["table", "rule", "field"]].values.tolist() == [
        ["admissions", "missing_value", "nhs_number"]
    ]


def test_follow_up_end_is_capped_by_the_data_cutoff(vkit: Any) -> None:
    m = vkit.clean_mapped()
    # Consent 2024-01-10: consent + 24 months (2026-01-10) is after the cut-off,
    # so follow-up ends on the cut-off 2025-06-30.
    m["participants"].loc[0, "consent_date"] = D("2024-01-10")
    for t in ("followup", "admissions"):
        m[t] = m[t][m[t]["nhs_number"] != vkit.valid_nhs(0)]
    m["crisis_referrals"].loc[0, "referral_date"] = D("2025-06-30")  # on the cut-off: fine
    m["prescriptions"].loc[0, ["start_date", "end_date"]] = [D("2024-02-01"), D("2025-07-01")]
    f = validate(m, vkit.make_trial())
    # An end date after the cut-off is impossible; no date_after_follow_up on top.
    assert f[["table", "rule", "field", "value"]].values.tolist() == [
        ["prescriptions", "impossible_date", "end_date", "2025-07-01"],
    ]
    m["crisis_referrals"].loc[0, "referral_date"] = D("2025-07-01")
    f = validate(m, vkit.make_trial())
    assert f[f["table"] == "crisis_referrals"]["rule"].tolist() == ["impossible_date"]


def test_absent_table_counts_as_empty(vkit: Any) -> None:
    m = vkit.clean_mapped()
    del m["crisis_referrals"]
    assert len(validate(m, vkit.make_trial())) == 0
    del m["participants"]
    f = validate(m, vkit.make_trial())
    assert set(f["rule"]) == {"unknown_participant"}
    assert len(f) == sum(len(v) for v in m.values())


def test_unknown_table_name_is_rejected(vkit: Any) -> None:
    m = vkit.clean_mapped()
    m["visits"] = m.pop("followup")
    with pytest.raises(ValueError, match="not a table of the trial: 'visits'"):
        validate(m, vkit.make_trial())


def test_error_rows_and_error_mask(vkit: Any) -> None:
    m = vkit.clean_mapped()
    m["participants"].loc[2, "cluster_id"] = "C99"  # error (+ its events unknown)
    m["participants"].loc[5, "date_of_birth"] = D("2010-01-01")  # warning only
    m["prescriptions"].loc[0, "daily_dose_mg"] = 0.0  # error
    f = validate(m, vkit.make_trial())
    rows = error_rows(f)
    assert set(rows) == set(SITE_TABLES)
    assert rows["participants"] == {("T1", "t1/participants.csv", 3)}
    assert rows["prescriptions"] == {
        ("T1", "t1/prescriptions.csv", 1),
        ("T1", "t1/prescriptions.csv", 3),
    }
    assert rows["followup"] == {("T1", "t1/followup.csv", 5), ("T1", "t1/followup.csv", 6)}
    for table in SITE_TABLES:
        mask = error_mask(f, table, m[table])
        assert mask.dtype == bool and mask.sum() == len(rows[table])
        picked = m[table][mask]
        got = set(zip(picked["trust"], picked["source_file"], picked["source_row"], strict=True))
        assert got == rows[table]


def test_identifiers_stay_out_of_messages(vkit: Any) -> None:
    m = vkit.clean_mapped()
    m["participants"].loc[0, "nhs_number"] = vkit.invalid_nhs(0)
    m["participants"].loc[1, "date_of_birth"] = D("2009-06-15")
    m["participants"].loc[2, "nhs_number"] = vkit.valid_nhs(1)
    m["admissions"].loc[9, "nhs_number"] = vkit.valid_nhs(77)
    f = validate(m, vkit.make_trial())
    for number in (vkit.invalid_nhs(0), vkit.valid_nhs(1), vkit.valid_nhs(77)):
        assert not f["message"].str.contains(number).any()
        assert f["value"].str.contains(number).any()  # the value column keeps it (masked later)
    assert not f["message"].str.contains("2009-06-15").any()


# --------------------------------------------------------------------------- property


def _column(f_kind: str, vocab: str | None, n: int) -> st.SearchStrategy[list[Any]]:
    if f_kind == "date":
        # Any year: columns in datetime64[us] may hold dates that [ns] cannot.
        el: st.SearchStrategy[Any] = st.one_of(
            st.none(),
            st.datetimes(),
            st.sampled_from([D("2023-01-10"), D("2024-01-10"), D("1899-12-31")]),
        )
    elif f_kind == "float":
        el = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
    elif vocab == "visit":
        el = st.one_of(st.none(), st.integers(-(2**40), 2**40), st.sampled_from([12, 24]))
    elif vocab == "yes_no":
        el = st.one_of(st.none(), st.booleans())
    else:
        el = st.one_of(
            st.none(),
            st.text(max_size=12),
            st.sampled_from(
                [
                    "9434765919",
                    "943 476 5919",
                    "female",
                    "informal",
                    "C1",
                    "C3",
                    "A001",
                    "B002",
                    "olanzapine",
                    "Olanzapine ",
                    "A",
                    "99",
                ]
            ),
        )
    return st.lists(el, min_size=n, max_size=n)


@st.composite
def garbage_mapped(draw: st.DrawFn) -> dict[str, pd.DataFrame]:
    out = {}
    for table in SITE_TABLES:
        n = draw(st.integers(0, 6))
        cols: dict[str, Any] = {
            "trust": pd.array(
                draw(st.lists(st.sampled_from(["T1", "T2", "T9", None]), min_size=n, max_size=n)),
                dtype="string",
            ),
            "source_file": pd.array(
                draw(st.lists(st.sampled_from(["a.csv", "b.csv"]), min_size=n, max_size=n)),
                dtype="string",
            ),
            "source_row": pd.array(
                draw(st.lists(st.one_of(st.none(), st.integers(1, 4)), min_size=n, max_size=n)),
                dtype="Int64",
            ),
        }
        for f in MAPPED[table]:
            vals = draw(_column(f.kind, f.vocab, n))
            if f.kind == "date":
                # Mapping gives [ns]; a [us] column with far dates must not break it either.
                us = pd.Series(
                    [pd.NaT if v is None else np.datetime64(v, "us") for v in vals],
                    dtype="datetime64[us]",
                )
                fits = us.isna() | us.between(D.min, D.max)
                cols[f.name] = (
                    us.astype("datetime64[ns]") if fits.all() and draw(st.booleans()) else us
                )
            elif f.kind == "float":
                cols[f.name] = pd.Series(
                    [np.nan if v is None else v for v in vals], dtype="float64"
                )
            elif f.vocab == "visit":
                cols[f.name] = pd.array(vals, dtype="Int64")
            elif f.vocab == "yes_no":
                cols[f.name] = pd.array(vals, dtype="boolean")
            else:
                cols[f.name] = pd.array(vals, dtype="string")
        frame = pd.DataFrame({k: pd.Series(v).reset_index(drop=True) for k, v in cols.items()})
        if draw(st.booleans()) and n:
            opt = [f.name for f in MAPPED[table] if not f.required]
            if opt:
                frame = frame.drop(columns=opt)  # optional fields may be unmapped
        out[table] = frame
    return out


@settings(
    max_examples=8,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(garbage_mapped(), st.booleans())
def test_validate_never_raises_on_garbage(
    vkit: Any, mapped: dict[str, pd.DataFrame], allocated: bool
) -> None:
    f = validate(mapped, vkit.make_trial(allocated=allocated))
    _assert_shape(f, vkit.make_trial())
    for table in SITE_TABLES:
        got = f[f["table"] == table]
        if len(got):
            src = mapped[table]
            keys = set(zip(src["source_file"].fillna("?"), src["source_row"], strict=True))
            assert set(zip(got["source_file"].fillna("?"), got["source_row"], strict=True)) <= keys
