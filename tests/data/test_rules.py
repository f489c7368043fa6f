"""One test per validation rule: inject one fault into the clean mapped frames
of the test trial (tests/data/conftest.py), run ``validate`` and check that
the rule fires on exactly the bad record, with the catalogue's severity, and
that nothing else fires unless the fault implies it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from odtrial.data import rules
from odtrial.data.catalogue import trial_rules
from odtrial.data.validate import validate

D = pd.Timestamp


def _set(m: dict[str, pd.DataFrame], table: str, pos: int, **values: object) -> None:
    for k, v in values.items():
        m[table].loc[pos, k] = v  # type: ignore[index]


def _only(
    vkit: Any, failures: pd.DataFrame, rule: str, expected: set[tuple[str, str, int]]
) -> None:
    """``rule`` fires exactly on ``expected`` with its catalogue severity and no
    other rule fires."""
    assert vkit.hits(failures, rule) == expected
    assert set(failures["rule"]) == {rule}
    assert (failures["severity"] == trial_rules(vkit.make_trial())[rule].severity).all()
    assert failures["message"].str.len().gt(10).all()


def test_clean_dataset_raises_nothing(vkit: Any) -> None:
    f = validate(vkit.clean_mapped(), vkit.make_trial())
    assert len(f) == 0


def test_nhs_number_invalid_participant_makes_its_events_unknown(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 2, nhs_number=vkit.invalid_nhs(2))
    f = validate(m, vkit.make_trial())
    assert vkit.hits(f, "nhs_number_invalid") == {vkit.row_key("participants", 2)}
    # The participant is quarantined, so its (valid-numbered) events are unknown.
    ev = f[f["rule"] == "unknown_participant"]
    assert set(ev["table"]) == {"followup", "admissions", "crisis_referrals", "prescriptions"}
    assert len(ev) == 2 + 2 + 1 + 1
    assert set(f["rule"]) == {"nhs_number_invalid", "unknown_participant"}
    assert (f["severity"] == "error").all()
    msg = f.loc[f["rule"] == "nhs_number_invalid", "message"].item()
    assert "Modulus 11" in msg and vkit.invalid_nhs(2) not in msg


def test_nhs_number_invalid_on_event_short_number(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "crisis_referrals", 5, nhs_number="12345")
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "nhs_number_invalid", {vkit.row_key("crisis_referrals", 5)})
    assert f["value"].item() == "12345"
    assert "not 10 digits" in f["message"].item()


def test_nhs_number_with_layout_is_invalid_in_mapped_data(vkit: Any) -> None:
    # Mapping removes spaces; one left in the stored value would break the pseudonym.
    m = vkit.clean_mapped()
    nhs = vkit.valid_nhs(0)
    _set(m, "crisis_referrals", 0, nhs_number=f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}")
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "nhs_number_invalid", {vkit.row_key("crisis_referrals", 0)})


def test_unknown_participant(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "admissions", 3, nhs_number=vkit.valid_nhs(50))
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "unknown_participant", {vkit.row_key("admissions", 3)})


def test_duplicate_record_exact_copy_flags_the_later_one(vkit: Any) -> None:
    m = vkit.clean_mapped()
    p = m["prescriptions"]
    copy = p.iloc[[1]].assign(source_row=pd.array([99], dtype="Int64"))
    m["prescriptions"] = pd.concat([p, copy], ignore_index=True)
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "duplicate_record", {("prescriptions", "T1", 99)})
    assert "t1/prescriptions.csv row 2" in f["message"].item()


def test_duplicate_participant_nhs_number_with_other_fields_different(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 3, nhs_number=vkit.valid_nhs(1), sex="female")
    f = validate(m, vkit.make_trial())
    # Participant 3's own events now have no participant: unknown_participant.
    assert vkit.hits(f, "duplicate_record") == {vkit.row_key("participants", 3)}
    assert set(f["rule"]) == {"duplicate_record", "unknown_participant"}
    assert set(f.loc[f["rule"] == "unknown_participant", "source_row"]) == {4, 7, 8}  # fu
    # ... while the events of the first record (participant 1) stay accepted.
    first_events = m["admissions"]["nhs_number"] == vkit.valid_nhs(1)
    assert first_events.sum() == 2


def test_duplicate_later_copy_even_when_frames_arrive_unsorted(vkit: Any) -> None:
    m = vkit.clean_mapped()
    p = m["participants"]
    m["participants"] = pd.concat([p.iloc[[0]].assign(source_row=pd.array([50], "Int64")), p])
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "duplicate_record", {("participants", "T1", 50)})


def test_unknown_cluster(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 1, cluster_id="C99")
    f = validate(m, vkit.make_trial())
    assert vkit.hits(f, "unknown_cluster") == {vkit.row_key("participants", 1)}
    # An unknown recruiting cluster quarantines the participant and so its events.
    assert set(f["rule"]) == {"unknown_cluster", "unknown_participant"}
    assert f.loc[f["rule"] == "unknown_cluster", "severity"].item() == "error"


def test_cluster_wrong_trust(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 6, cluster_id="C1", gp_practice="A001")
    f = validate(m, vkit.make_trial())
    assert vkit.hits(f, "cluster_wrong_trust") == {vkit.row_key("participants", 6)}
    assert set(f["rule"]) == {"cluster_wrong_trust", "unknown_participant"}
    msg = f.loc[f["rule"] == "cluster_wrong_trust", "message"].item()
    assert msg == "cluster id 'C1' belongs to trust T1, not to T2 that sent the record"


def test_unknown_practice(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 0, gp_practice="Z999")
    f = validate(m, vkit.make_trial())
    assert vkit.hits(f, "unknown_practice") == {vkit.row_key("participants", 0)}
    assert set(f["rule"]) == {"unknown_practice", "unknown_participant"}


def test_practice_codes_compare_case_insensitively(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 0, gp_practice=" a001")
    assert len(validate(m, vkit.make_trial())) == 0


def test_practice_other_arm_is_a_warning_and_keeps_the_participant(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 0, gp_practice="A003")  # C1 (POD) recruit at a C2 (TAU) practice
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "practice_other_arm", {vkit.row_key("participants", 0)})
    assert "analysed as randomised" in f["message"].item()


def test_practice_other_cluster_same_arm(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 0, gp_practice="B001")  # C1 POD recruit at C3 (POD) practice
    # B001 belongs to T2's cluster; the recruiting cluster stays C1 of T1.
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "practice_other_cluster", {vkit.row_key("participants", 0)})


def test_practice_arm_rules_skipped_when_not_allocated(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 0, gp_practice="A003")
    assert len(validate(m, vkit.make_trial(allocated=False))) == 0


def test_under_min_age(vkit: Any) -> None:
    m = vkit.clean_mapped()
    # Consent 2023-01-10; born 2005-01-11 -> 17 completed years (18 the next day).
    _set(m, "participants", 0, date_of_birth=D("2005-01-11"))
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "under_min_age", {vkit.row_key("participants", 0)})
    assert f["value"].item() == "2005-01-11"
    assert "2005" not in f["message"].item()  # the date of birth stays in `value` only
    _set(m, "participants", 0, date_of_birth=D("2005-01-10"))  # 18 today: fine
    assert len(validate(m, vkit.make_trial())) == 0


def test_completed_years_leap_day_birthday(vkit: Any) -> None:
    dob = pd.Series(pd.to_datetime(["2004-02-29", "2004-02-29", "2004-02-29"]))
    at = pd.Series(pd.to_datetime(["2022-02-28", "2022-03-01", "2024-02-29"]))
    assert rules.completed_years(dob, at).tolist() == [17, 18, 20]


def test_impossible_date_after_cutoff_and_before_1900(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "crisis_referrals", 2, referral_date=D("2025-07-01"))
    _set(m, "prescriptions", 4, start_date=D("1899-12-31"))
    f = validate(m, vkit.make_trial())
    _only(
        vkit,
        f,
        "impossible_date",
        {vkit.row_key("crisis_referrals", 2), vkit.row_key("prescriptions", 4)},
    )
    crisis = f[f["table"] == "crisis_referrals"]
    assert crisis["message"].item() == (
        "referral date 2025-07-01 is after the data cut-off 2025-06-30"
    )


def test_impossible_date_of_birth_quarantines_the_participant(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 5, date_of_birth=D("1899-12-31"))
    f = validate(m, vkit.make_trial())
    assert vkit.hits(f, "impossible_date") == {vkit.row_key("participants", 5)}
    assert set(f["rule"]) == {"impossible_date", "unknown_participant"}
    msg = f.loc[f["rule"] == "impossible_date", "message"].item()
    assert msg == "date of birth is before 1900-01-01"  # no identifier in the message


def test_date_before_consent(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "crisis_referrals", 4, referral_date=D("2023-01-13"))  # consent 2023-01-14
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "date_before_consent", {vkit.row_key("crisis_referrals", 4)})
    assert f["message"].item() == ("referral date 2023-01-13 is before consent on 2023-01-14")


def test_date_after_follow_up(vkit: Any) -> None:
    m = vkit.clean_mapped()
    # Person 2 (second stay, row 5): consent 2023-01-12 + 24 months = 2025-01-12.
    _set(m, "admissions", 5, admission_date=D("2025-01-13"), discharge_date=D("2025-01-20"))
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "date_after_follow_up", {vkit.row_key("admissions", 5)})
    assert f["message"].item() == (
        "admission date 2025-01-13 is after the end of follow-up on 2025-01-12"
    )
    _set(m, "admissions", 5, admission_date=D("2025-01-12"))  # last day of follow-up
    assert len(validate(m, vkit.make_trial())) == 0


def test_discharge_before_admission(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "admissions", 0, discharge_date=D("2023-02-01"))  # admitted 2023-02-09
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "discharge_before_admission", {vkit.row_key("admissions", 0)})
    assert f["message"].item() == ("discharge date 2023-02-01 is before admission date 2023-02-09")


def test_end_before_start(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "prescriptions", 0, end_date=D("2023-01-12"))  # started 2023-01-13
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "end_before_start", {vkit.row_key("prescriptions", 0)})


def test_overlapping_admissions_flags_the_later_stay(vkit: Any) -> None:
    m = vkit.clean_mapped()
    # Person 0: stays 2023-02-09..2023-03-01 and 2023-03-01..2023-03-08.
    _set(m, "admissions", 1, admission_date=D("2023-02-28"))
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "overlapping_admissions", {vkit.row_key("admissions", 1)})
    assert f["message"].item() == (
        "admission date 2023-02-28 is before the discharge date 2023-03-01 of an earlier"
        " record of the same participant"
    )


def test_overlapping_admissions_open_stay_and_row_order(vkit: Any) -> None:
    m = vkit.clean_mapped()
    # Person 1's second stay (row 4) is open (no discharge); a third stay later on
    # overlaps it. It is listed first in the file, yet the later-starting stay is flagged.
    a = m["admissions"]
    extra = a.iloc[[3]].assign(
        source_row=pd.array([0], "Int64"),
        admission_date=D("2023-06-01"),
        discharge_date=D("2023-06-05"),
    )
    m["admissions"] = pd.concat([extra, a], ignore_index=True)
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "overlapping_admissions", {("admissions", "T1", 0)})
    assert "no discharge date" in f["message"].item()


def test_overlap_ignores_a_quarantined_stay(vkit: Any) -> None:
    m = vkit.clean_mapped()
    a = m["admissions"]
    dup = a.iloc[[0]].assign(source_row=pd.array([77], "Int64"))
    m["admissions"] = pd.concat([a, dup], ignore_index=True)
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "duplicate_record", {("admissions", "T1", 77)})


def test_implausible_dose_above_limit_and_not_positive(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "prescriptions", 1, daily_dose_mg=1500.01)  # quetiapine max 750 mg
    _set(m, "prescriptions", 2, daily_dose_mg=0.0)
    f = validate(m, vkit.make_trial())
    _only(
        vkit,
        f,
        "implausible_dose",
        {vkit.row_key("prescriptions", 1), vkit.row_key("prescriptions", 2)},
    )
    by_row = dict(zip(f["source_row"], f["message"], strict=True))
    assert by_row[2] == (
        "daily dose 1500.01 mg of quetiapine is above 2 x the BNF maximum of 750 mg"
    )
    assert by_row[3] == "daily dose 0 mg is not above zero"
    _set(m, "prescriptions", 1, daily_dose_mg=1500.0)  # exactly 2 x max: plausible
    _set(m, "prescriptions", 2, daily_dose_mg=100.0)
    assert len(validate(m, vkit.make_trial())) == 0


def test_unknown_drug_is_a_warning(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "prescriptions", 3, drug="wonderzapine", daily_dose_mg=1e6)
    f = validate(m, vkit.make_trial())
    # No upper dose limit is known for an uncatalogued drug.
    _only(vkit, f, "unknown_drug", {vkit.row_key("prescriptions", 3)})
    assert f["value"].item() == "wonderzapine"


def test_visit_out_of_window(vkit: Any) -> None:
    m = vkit.clean_mapped()
    # Person 0: consent 2023-01-10, 12-month visit due 2024-01-10; 93 days late.
    _set(m, "followup", 0, assessment_date=D("2024-04-12"))
    f = validate(m, vkit.make_trial())
    _only(vkit, f, "visit_out_of_window", {vkit.row_key("followup", 0)})
    assert f["message"].item() == (
        "assessment date 2024-04-12 is 93 days after the 12-month visit due 2024-01-10"
        " (window 92 days)"
    )
    _set(m, "followup", 0, assessment_date=D("2024-04-11"))  # 92 days: in window
    assert len(validate(m, vkit.make_trial())) == 0


def test_an_uneven_visit_window_has_a_side_each(vkit: Any) -> None:
    """A window of 7 days before and 100 after (REDCap's offsets, say): 8 days early is
    out, 93 days late is in, and the end of follow-up stretches to the later side."""
    from dataclasses import replace

    from odtrial.trial import Visit

    trial = vkit.make_trial()
    trial = replace(trial, visits=(Visit(12, 100, 7, 100), Visit(24, 92)))
    assert trial.visit_sides() == {12: (7, 100), 24: (92, 92)}
    m = vkit.clean_mapped()
    # Person 0: consent 2023-01-10, 12-month visit due 2024-01-10.
    _set(m, "followup", 0, assessment_date=D("2024-04-12"))  # 93 days late: in
    assert len(validate(m, trial)) == 0
    _set(m, "followup", 0, assessment_date=D("2024-01-02"))  # 8 days early: out
    f = validate(m, trial)
    _only(vkit, f, "visit_out_of_window", {vkit.row_key("followup", 0)})
    assert f["message"].item() == (
        "assessment date 2024-01-02 is 8 days before the 12-month visit due 2024-01-10"
        " (window 7 days before, 100 after)"
    )


def test_late_24_month_visit_within_window_is_not_after_follow_up(vkit: Any) -> None:
    m = vkit.clean_mapped()
    # Person 0's 24-month visit due 2025-01-10; held 2025-03-01 (50 days late).
    _set(m, "followup", 1, assessment_date=D("2025-03-01"))
    assert len(validate(m, vkit.make_trial())) == 0


def test_missing_value_and_out_of_vocabulary_through_validate(vkit: Any) -> None:
    m = vkit.clean_mapped()
    _set(m, "participants", 4, sex=pd.NA)
    _set(m, "admissions", 5, legal_status="section_99")
    f = validate(m, vkit.make_trial())
    assert vkit.hits(f, "missing_value") == {vkit.row_key("participants", 4)}
    assert vkit.hits(f, "out_of_vocabulary") == {vkit.row_key("admissions", 5)}
    assert set(f["rule"]) == {"missing_value", "out_of_vocabulary", "unknown_participant"}


def test_add_months_clips_month_end(vkit: Any) -> None:
    d = pd.Series(pd.to_datetime(["2024-01-31", "2023-02-28", None]))
    out = rules.add_months(d, pd.Series([1, 12, 12], dtype="Int64"))
    assert out.tolist()[:2] == [D("2024-02-29"), D("2024-02-28")]
    assert pd.isna(out.iloc[2])
    assert np.array_equal(rules.add_months(d, 1).isna(), [False, False, True])
