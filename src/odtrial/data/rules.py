"""Cross-field and cross-table validation rules, vectorised with pandas.

Every rule takes coerced mapped frames (see
:func:`odtrial.data.schemas.coerce_mapped`: RangeIndex, schema dtypes, rows
in provenance order ``trust, source_file, source_row``) and returns a hit
table (:data:`odtrial.data.schemas.HIT_COLUMNS`: ``row`` position, field,
value as text, rule code, message). No rule loops over rows in Python:
membership is ``isin``/``get_indexer``, "earlier record" is
``duplicated``/``groupby``, overlaps are a grouped running maximum.

Messages are one sentence naming the field and value, except for the
identifiers (NHS number, date of birth): their value goes only in the
``value`` column, which ingest masks before anything leaves the ingest step.
The order in which :func:`odtrial.data.validate.validate` applies these rules
and how the results feed each other is described there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from odtrial.data.canonical import MAPPED
from odtrial.data.drugs import DICTIONARY, PLAUSIBLE_FACTOR
from odtrial.data.medication_dictionary import Drug, MedicationDictionary
from odtrial.data.schemas import as_text, concat_hits, make_hits
from odtrial.trial import Trial

#: Earliest plausible date of any field.
EARLIEST_DATE: Final = pd.Timestamp("1900-01-01")
#: The date that places each event table's record in time.
EVENT_DATE: Final = {
    "followup": "assessment_date",
    "admissions": "admission_date",
    "crisis_referrals": "referral_date",
    "prescriptions": "start_date",
}


def _label(field: str) -> str:
    return field.replace("_", " ")


def _where(mask: pd.Series | np.ndarray) -> np.ndarray:
    """Positions where a (possibly nullable) boolean mask is True."""
    if isinstance(mask, pd.Series):
        mask = mask.fillna(False).to_numpy(dtype=bool)
    return np.flatnonzero(mask)


def _date_text(s: pd.Series, rows: np.ndarray) -> pd.Series:
    return as_text(s.iloc[rows])


def _record_ref(frame: pd.DataFrame, rows: np.ndarray) -> pd.Series:
    """``<source_file> row <source_row>`` for each of ``rows`` (text)."""
    sub = frame.iloc[rows]
    return (
        sub["source_file"].fillna("?").astype(str).reset_index(drop=True)
        + " row "
        + sub["source_row"].astype("string").fillna("?").reset_index(drop=True)
    )


def date_in_range(s: pd.Series, *, data_cutoff: pd.Timestamp) -> np.ndarray:
    """True where a date is present and within [1900-01-01, data_cutoff]."""
    return ((s >= EARLIEST_DATE) & (s <= data_cutoff)).fillna(False).to_numpy(dtype=bool)


# --------------------------------------------------------------------------- identity


def nhs_identity(nhs: pd.Series, keys: np.ndarray) -> np.ndarray:
    """An int64 per row, equal exactly when the stored NHS number texts are equal.

    ``keys`` is :func:`odtrial.data.nhs.nhs_keys` of ``nhs`` (the number for ten
    stored digits, else -1); other present values get distinct negative codes
    below -1 and missing values -1. Comparing integers instead of strings makes
    joins and duplicate checks over a million rows cheap.
    """
    ident = keys.copy()
    odd = (keys < 0) & nhs.notna().to_numpy(dtype=bool)
    if odd.any():
        codes = pd.factorize(nhs[odd])[0]
        ident[odd] = -2 - codes
    return ident


def nhs_number_invalid(frame: pd.DataFrame, *, valid: np.ndarray) -> pd.DataFrame:
    """``nhs_number_invalid``: present but not 10 digits or failing Modulus 11.

    ``valid`` is the Modulus 11 validity of the stored ten-digit values
    (:func:`odtrial.data.nhs.keys_valid`), computed once by the caller; a stored
    value with spaces or hyphens is invalid here, since mapping removes them and
    the pseudonym is keyed on the stored text.
    """
    s = frame["nhs_number"]
    rows = _where(s.notna().to_numpy(dtype=bool) & ~valid)
    if len(rows) == 0:
        return concat_hits([])
    sub = s.iloc[rows].reset_index(drop=True)
    ten = sub.str.fullmatch(r"[0-9]{10}").fillna(False).to_numpy(dtype=bool)
    msg = np.where(
        ten,
        "NHS number fails the Modulus 11 check digit",
        "NHS number is not 10 digits",
    )
    return make_hits(rows, "nhs_number", sub, "nhs_number_invalid", msg)


def duplicate_records(frame: pd.DataFrame, table: str, *, ident: np.ndarray) -> pd.DataFrame:
    """``duplicate_record``: a later record repeating an earlier one.

    Exact repeats of all mapped fields (provenance excluded) in any table; in
    participants also a later record with an NHS number seen before, even if
    other fields differ (one person, one baseline record). Each flagged record
    names the first record it repeats. ``ident`` is :func:`nhs_identity` of the
    frame's NHS numbers (stands in for the text column).
    """
    fields = [f.name for f in MAPPED[table]]
    sub = frame[fields].assign(nhs_number=ident)
    exact = sub.duplicated(keep="first").to_numpy(dtype=bool)
    parts = []
    if exact.any():
        rows = np.flatnonzero(exact)
        first = _first_of_group(sub, rows)
        msg = "record repeats " + _record_ref(frame, first) + " in every field"
        parts.append(make_hits(rows, "record", "", "duplicate_record", msg))
    if table == "participants":
        ids = pd.Series(ident)
        same = (ids.duplicated(keep="first") & (ids != -1)).to_numpy(dtype=bool) & ~exact
        if same.any():
            rows = np.flatnonzero(same)
            first = _first_of_group(sub[["nhs_number"]], rows)
            msg = "NHS number already has a participant record (" + _record_ref(frame, first) + ")"
            parts.append(
                make_hits(
                    rows, "nhs_number", frame["nhs_number"].iloc[rows], "duplicate_record", msg
                )
            )
    return concat_hits(parts)


def _first_of_group(sub: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """For each of ``rows`` (later copies), the position of the first row of
    ``sub`` equal in every column. Groups only the duplicated subset."""
    involved = sub.duplicated(keep=False).to_numpy(dtype=bool)
    part = sub.loc[involved]
    pos = pd.Series(np.flatnonzero(involved), index=part.index)
    first = pos.groupby([part[k] for k in part.columns], dropna=False, sort=False).transform(
        "first"
    )
    return first.loc[rows].to_numpy(dtype=np.int64)


# --------------------------------------------------------------------------- dates


def impossible_dates(frame: pd.DataFrame, table: str, *, data_cutoff: pd.Timestamp) -> pd.DataFrame:
    """``impossible_date``: any date field before 1900-01-01 or after the cut-off."""
    parts = []
    cutoff_text = data_cutoff.strftime("%Y-%m-%d")
    for f in MAPPED[table]:
        if f.kind != "date":
            continue
        s = frame[f.name]
        early = (s < EARLIEST_DATE).fillna(False).to_numpy(dtype=bool)
        late = (s > data_cutoff).fillna(False).to_numpy(dtype=bool)
        rows = np.flatnonzero(early | late)
        if len(rows) == 0:
            continue
        text = _date_text(s, rows)
        shown = "" if f.name == "date_of_birth" else " " + text
        reason = np.where(
            early[rows], " is before 1900-01-01", f" is after the data cut-off {cutoff_text}"
        )
        msg = _label(f.name) + shown + reason
        parts.append(make_hits(rows, f.name, text, "impossible_date", msg))
    return concat_hits(parts)


def age_under_18(participants: pd.DataFrame, *, min_age: int) -> pd.DataFrame:
    """``age_under_18``: under the trial's minimum age (``[eligibility] min_age``)
    in completed years at consent.

    Completed years counts a 29 February birthday on 1 March in other years.
    """
    dob, consent = participants["date_of_birth"], participants["consent_date"]
    age = completed_years(dob, consent)
    rows = _where((age < min_age).fillna(False))
    if len(rows) == 0:
        return concat_hits([])
    ages = age.iloc[rows].astype("Int64").astype("string").reset_index(drop=True)
    msg = (
        "participant is "
        + ages
        + " years old at consent on "
        + _date_text(consent, rows)
        + f" (date of birth gives under {min_age})"
    )
    return make_hits(rows, "date_of_birth", _date_text(dob, rows), "age_under_18", msg)


def completed_years(start: pd.Series, end: pd.Series) -> pd.Series:
    """Whole years from ``start`` to ``end`` (Int64, NA if either is missing)."""
    years = end.dt.year - start.dt.year
    before_birthday = (end.dt.month < start.dt.month) | (
        (end.dt.month == start.dt.month) & (end.dt.day < start.dt.day)
    )
    return (years - before_birthday.astype("Int64")).astype("Int64")


def add_months(dates: pd.Series, months: pd.Series | int) -> pd.Series:
    """Calendar month arithmetic, vectorised (31 Jan + 1 month = 28/29 Feb)."""
    if isinstance(months, int):
        return dates + pd.DateOffset(months=months)
    out = pd.Series(pd.NaT, index=dates.index, dtype=dates.dtype)
    for m in pd.unique(months.dropna()):  # a handful of distinct visit months
        sel = (months == m).fillna(False).to_numpy(dtype=bool)
        out[sel] = dates[sel] + pd.DateOffset(months=int(m))
    return out


def event_dates(
    events: pd.DataFrame,
    table: str,
    *,
    consent: pd.Series,
    follow_up_months: int,
    data_cutoff: pd.Timestamp,
    visit_windows: Mapping[int, int] | None = None,
) -> pd.DataFrame:
    """``date_before_consent`` / ``date_after_follow_up`` for an event table.

    Parameters
    ----------
    events : DataFrame
        Coerced event frame.
    table : str
        Its name; the date checked is :data:`EVENT_DATE` ``[table]``.
    consent : Series
        Consent date of the event's accepted participant, aligned with
        ``events`` (NaT where there is none: those rows are skipped).
    follow_up_months, data_cutoff
        Follow-up ends at ``min(consent + follow_up_months, data_cutoff)``;
        for follow-up assessments the end is extended to the close of the
        latest visit window, so a last visit held late but within its window
        is not queried here (``visit_out_of_window`` covers visits outside it).
    visit_windows : mapping of int to int
        The visit schedule, month -> window in days
        (:meth:`odtrial.trial.Trial.visit_windows`); required for ``followup``.
    """
    field = EVENT_DATE[table]
    d = events[field]
    usable = date_in_range(d, data_cutoff=data_cutoff) & consent.notna().to_numpy(dtype=bool)
    end = add_months(consent, follow_up_months)
    if table == "followup":
        if not visit_windows:
            raise ValueError("event_dates of followup needs the visit schedule (visit_windows)")
        for month, days in visit_windows.items():
            close = add_months(consent, month) + pd.Timedelta(days=days)
            end = end.where(end >= close, close)
    end = end.where(end <= data_cutoff, data_cutoff)
    before = usable & (d < consent).fillna(False).to_numpy(dtype=bool)
    after = usable & (d > end).fillna(False).to_numpy(dtype=bool)
    parts = []
    for mask, rule, other, word in (
        (before, "date_before_consent", consent, "before consent on"),
        (after, "date_after_follow_up", end, "after the end of follow-up on"),
    ):
        rows = np.flatnonzero(mask)
        if len(rows):
            text = _date_text(d, rows)
            msg = _label(field) + " " + text + f" is {word} " + _date_text(other, rows)
            parts.append(make_hits(rows, field, text, rule, msg))
    return concat_hits(parts)


def visit_out_of_window(
    followup: pd.DataFrame,
    *,
    consent: pd.Series,
    data_cutoff: pd.Timestamp,
    visit_windows: Mapping[int, int],
) -> pd.DataFrame:
    """``visit_out_of_window``: assessment further from consent + visit month than
    that visit's window (``visit_windows``: month -> days, the trial's schedule)."""
    d, visit = followup["assessment_date"], followup["visit_month"]
    known = visit.isin(list(visit_windows)).fillna(False).to_numpy(dtype=bool)
    usable = (
        known & date_in_range(d, data_cutoff=data_cutoff) & consent.notna().to_numpy(dtype=bool)
    )
    target = add_months(consent.where(usable), visit.where(usable))
    gap = (d - target).dt.days
    window = visit.map(dict(visit_windows)).astype("Int64")
    rows = _where((gap.abs() > window).fillna(False) & usable)
    if len(rows) == 0:
        return concat_hits([])
    text = _date_text(d, rows)
    days = gap.iloc[rows].astype("Int64").astype("string").reset_index(drop=True)
    months = visit.iloc[rows].astype("string").reset_index(drop=True)
    msg = (
        "assessment date "
        + text
        + " is "
        + days.str.lstrip("-")
        + np.where(gap.iloc[rows].to_numpy() < 0, " days before", " days after")
        + " the "
        + months
        + "-month visit due "
        + _date_text(target, rows)
        + " (window "
        + window.iloc[rows].astype("string").reset_index(drop=True)
        + " days)"
    )
    return make_hits(rows, "assessment_date", text, "visit_out_of_window", msg)


def _ordered_pair(
    frame: pd.DataFrame, first: str, second: str, rule: str, first_word: str, second_word: str
) -> pd.DataFrame:
    a, b = frame[first], frame[second]
    rows = _where((b < a).fillna(False))
    if len(rows) == 0:
        return concat_hits([])
    tb, ta = _date_text(b, rows), _date_text(a, rows)
    msg = second_word + " " + tb + " is before " + first_word + " " + ta
    return make_hits(rows, second, tb, rule, msg)


def discharge_before_admission(admissions: pd.DataFrame) -> pd.DataFrame:
    """``discharge_before_admission``: discharge date earlier than admission date."""
    return _ordered_pair(
        admissions,
        "admission_date",
        "discharge_date",
        "discharge_before_admission",
        "admission date",
        "discharge date",
    )


def end_before_start(prescriptions: pd.DataFrame) -> pd.DataFrame:
    """``end_before_start``: prescription end date earlier than its start date."""
    return _ordered_pair(
        prescriptions, "start_date", "end_date", "end_before_start", "start date", "end date"
    )


def overlapping_admissions(admissions: pd.DataFrame, *, eligible: np.ndarray) -> pd.DataFrame:
    """``overlapping_admissions``: a stay admitted before an earlier stay of the
    same participant was discharged.

    Among ``eligible`` rows (no error so far), stays are ordered per NHS number
    by admission date (ties by provenance order); a stay is flagged when its
    admission date is before the latest discharge date of the stays ordered
    before it. A stay with no discharge date is open and overlaps every later
    admission. Admission on the day of a discharge is a transfer, not an
    overlap.
    """
    sel = eligible & admissions["admission_date"].notna().to_numpy(dtype=bool)
    sel &= admissions["nhs_number"].notna().to_numpy(dtype=bool)
    pos = np.flatnonzero(sel)
    if len(pos) < 2:
        return concat_hits([])
    sub = admissions.iloc[pos]
    person = pd.factorize(sub["nhs_number"])[0]
    adm = sub["admission_date"].to_numpy(dtype="datetime64[us]")
    disch = sub["discharge_date"].to_numpy(dtype="datetime64[us]")
    order = np.lexsort((np.arange(len(pos)), adm, person))
    person, adm, disch_sorted = person[order], adm[order], disch[order]
    # Running max of discharge within person; open stays count as +infinity.
    big = np.iinfo(np.int64).max
    d_int = np.where(np.isnat(disch_sorted), big, disch_sorted.astype(np.int64))
    run = pd.Series(d_int).groupby(person).cummax().to_numpy()
    prev = np.empty_like(run)
    prev[0] = np.iinfo(np.int64).min
    prev[1:] = run[:-1]
    new_person = np.ones(len(person), dtype=bool)
    new_person[1:] = person[1:] != person[:-1]
    prev[new_person] = np.iinfo(np.int64).min
    hit = adm.astype(np.int64) < prev
    if not hit.any():
        return concat_hits([])
    rows = pos[order[hit]]
    prev_hit = prev[hit]
    adm_text = _date_text(admissions["admission_date"], rows)
    is_open = prev_hit == big
    prev_dates = pd.Series(np.where(is_open, 0, prev_hit).astype("datetime64[us]"))
    prev_text = as_text(prev_dates)
    msg = (
        "admission date "
        + adm_text
        + pd.Series(
            np.where(
                is_open,
                " is during an earlier stay of the same participant with no discharge date",
                (
                    " is before the discharge date " + prev_text + " of an earlier stay of the same"
                    " participant"
                ).to_numpy(dtype=object),
            ),
            dtype="string",
        )
    )
    return make_hits(rows, "admission_date", adm_text, "overlapping_admissions", msg)


# --------------------------------------------------------------------------- clusters


def cluster_rules(participants: pd.DataFrame, trial: Trial) -> pd.DataFrame:
    """``unknown_cluster`` and ``cluster_wrong_trust`` for the recruiting cluster."""
    cid = participants["cluster_id"]
    trust_of = {c.id: c.trust for c in trial.clusters}
    known = cid.isin(list(trust_of)).fillna(False).to_numpy(dtype=bool)
    present = cid.notna().to_numpy(dtype=bool)
    parts = []
    rows = np.flatnonzero(present & ~known)
    if len(rows):
        text = as_text(cid.iloc[rows])
        msg = "cluster id '" + text + "' is not a cluster of the trial"
        parts.append(make_hits(rows, "cluster_id", text, "unknown_cluster", msg))
    owner = cid.map(trust_of).astype("string")
    wrong = known & (owner != participants["trust"]).fillna(True).to_numpy(dtype=bool)
    rows = np.flatnonzero(wrong)
    if len(rows):
        text = as_text(cid.iloc[rows])
        msg = (
            "cluster id '"
            + text
            + "' belongs to trust "
            + owner.iloc[rows].reset_index(drop=True)
            + ", not to "
            + participants["trust"].iloc[rows].fillna("?").reset_index(drop=True)
            + " that sent the record"
        )
        parts.append(make_hits(rows, "cluster_id", text, "cluster_wrong_trust", msg))
    return concat_hits(parts)


def practice_rules(participants: pd.DataFrame, trial: Trial) -> pd.DataFrame:
    """``unknown_practice``; when the trial is allocated, ``practice_other_arm``
    (practice in a cluster of the other arm) and ``practice_other_cluster``
    (practice in another cluster of the same arm). Practice codes compare
    case-insensitively and without surrounding spaces (ODS codes are upper case).
    """
    cop = {p.upper(): c for p, c in trial.cluster_of_practice().items()}
    gp = participants["gp_practice"].str.strip().str.upper()
    present = gp.notna().to_numpy(dtype=bool)
    practice_cluster = gp.map(cop).astype("string")
    known = practice_cluster.notna().to_numpy(dtype=bool)
    parts = []
    rows = np.flatnonzero(present & ~known)
    if len(rows):
        text = as_text(participants["gp_practice"].iloc[rows])
        msg = "GP practice '" + text + "' is not a member practice of any cluster"
        parts.append(make_hits(rows, "gp_practice", text, "unknown_practice", msg))
    if not trial.allocated:
        return concat_hits(parts)
    arm_of = {c.id: c.arm for c in trial.clusters}
    cid = participants["cluster_id"]
    own_arm = cid.map(arm_of).astype("string")
    practice_arm = practice_cluster.map(arm_of).astype("string")
    comparable = known & own_arm.notna().to_numpy(dtype=bool)
    other_arm = comparable & (practice_arm != own_arm).fillna(False).to_numpy(dtype=bool)
    other_cluster = (
        comparable & ~other_arm & (practice_cluster != cid).fillna(False).to_numpy(dtype=bool)
    )
    for mask, rule, what in (
        (other_arm, "practice_other_arm", "arm"),
        (other_cluster, "practice_other_cluster", "cluster"),
    ):
        rows = np.flatnonzero(mask)
        if not len(rows):
            continue
        text = as_text(participants["gp_practice"].iloc[rows])

        def col(s: pd.Series, rows: np.ndarray = rows) -> pd.Series:
            return s.iloc[rows].fillna("?").reset_index(drop=True)

        msg = (
            "GP practice '"
            + text
            + "' is in cluster "
            + col(practice_cluster)
            + " ("
            + col(practice_arm)
            + ") but the participant was recruited in cluster "
            + col(cid)
            + " ("
            + col(own_arm)
            + f"), another {what}; analysed as randomised"
        )
        parts.append(make_hits(rows, "gp_practice", text, rule, msg))
    return concat_hits(parts)


# --------------------------------------------------------------------------- events


def unknown_participants(
    events: pd.DataFrame, *, accepted: np.ndarray, keys: np.ndarray, valid: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """``unknown_participant``: valid NHS number with no accepted participant.

    Parameters
    ----------
    events : DataFrame
        Coerced event frame.
    accepted : ndarray of int64
        Sorted, unique :func:`odtrial.data.nhs.nhs_keys` of the accepted
        participants.
    keys, valid : ndarray
        NHS keys of ``events`` and their Modulus 11 validity.

    Returns
    -------
    hits : DataFrame
    where : ndarray of int64
        For every event row, the position of its participant in ``accepted``,
        or -1 when there is none. Missing or invalid NHS numbers are not
        flagged again here (they have their own error).
    """
    where = np.searchsorted(accepted, keys)
    found = where < len(accepted)
    found[found] = accepted[where[found]] == keys[found]
    where = np.where(found & valid, where, -1)
    rows = np.flatnonzero(valid & ~found)
    hits = make_hits(
        rows,
        "nhs_number",
        events["nhs_number"].iloc[rows],
        "unknown_participant",
        "no accepted participant record has this NHS number",
    )
    return hits, where


def implausible_doses(
    prescriptions: pd.DataFrame, dictionary: MedicationDictionary | None = None
) -> pd.DataFrame:
    """``implausible_dose`` above the limit: more than PLAUSIBLE_FACTOR x the BNF
    maximum of a drug in ``dictionary`` (the trial's; the shipped one when None),
    named by generic or brand name. (Not above zero is a schema check.)"""
    codes, names = _drug_codes(prescriptions["drug"])
    drugs = _resolve(names, dictionary)
    limits = np.array([np.nan if d is None else d.max_daily_mg for d in drugs] + [np.nan])
    limit = limits[codes]  # code -1 (missing) picks the trailing NaN
    dose = prescriptions["daily_dose_mg"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero(dose > PLAUSIBLE_FACTOR * limit)
    if len(rows) == 0:
        return concat_hits([])
    drug = pd.Series(np.asarray(names, dtype=object)[codes[rows]], dtype="string")
    text = as_text(pd.Series(dose[rows]))
    lim = as_text(pd.Series(limit[rows]))
    msg = (
        "daily dose "
        + text
        + " mg of "
        + drug
        + f" is above {PLAUSIBLE_FACTOR:g} x the BNF maximum of "
        + lim
        + " mg"
    )
    return make_hits(rows, "daily_dose_mg", text, "implausible_dose", msg)


def unknown_drugs(
    prescriptions: pd.DataFrame, dictionary: MedicationDictionary | None = None
) -> pd.DataFrame:
    """``unknown_drug`` (warning): a drug name that is neither a generic nor a
    brand name of ``dictionary`` (the trial's; the shipped one when None)."""
    raw = prescriptions["drug"]
    codes, names = _drug_codes(raw)
    unknown = np.array([d is None for d in _resolve(names, dictionary)] + [False])
    rows = np.flatnonzero(unknown[codes])
    if len(rows) == 0:
        return concat_hits([])
    text = as_text(raw.iloc[rows])
    msg = "drug '" + text + "' is not in the drug catalogue; its CPZ equivalent is unknown"
    return make_hits(rows, "drug", text, "unknown_drug", msg)


def _resolve(names: list[str], dictionary: MedicationDictionary | None) -> list[Drug | None]:
    """The dictionary entry of each distinct name (None if it names no drug)."""
    med = DICTIONARY if dictionary is None else dictionary
    return [med.resolve(n) for n in names]


def _drug_codes(drug: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Factorised drug names, normalised (stripped, lower case) on the few
    distinct values only; code -1 is missing."""
    codes, uniques = pd.factorize(drug)
    return codes, [str(u).strip().lower() for u in uniques]
