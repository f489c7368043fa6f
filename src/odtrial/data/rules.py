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

from odtrial.data.canonical import TableSpec
from odtrial.data.drugs import DICTIONARY, PLAUSIBLE_FACTOR
from odtrial.data.medication_dictionary import Drug, MedicationDictionary
from odtrial.data.schemas import as_text, concat_hits, make_hits
from odtrial.trial import Trial

#: Earliest plausible date of any field.
EARLIEST_DATE: Final = pd.Timestamp("1900-01-01")


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


def nhs_number_invalid(
    frame: pd.DataFrame,
    *,
    valid: np.ndarray,
    field: str,
    code: str = "nhs_number_invalid",
) -> pd.DataFrame:
    """``nhs_number_invalid``: present but not 10 digits or failing Modulus 11.

    ``valid`` is the Modulus 11 validity of the stored ten-digit values
    (:func:`odtrial.data.nhs.keys_valid`), computed once by the caller; a stored
    value with spaces or hyphens is invalid here, since mapping removes them and
    the pseudonym is keyed on the stored text.
    """
    s = frame[field]
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
    if code != "nhs_number_invalid":
        msg = np.char.add(msg.astype(str), "; the participant is kept but cannot be linked by it")
    return make_hits(rows, field, sub, code, msg)


def identity(values: pd.Series, *, nhs: bool) -> tuple[np.ndarray, np.ndarray]:
    """int64 codes equal exactly when the stored texts are equal (missing: -1), and
    validity (present; for an NHS number also 10 digits passing Modulus 11).

    NHS numbers use :func:`nhs_identity` (the number itself), so codes of two
    frames agree without a shared factorisation; for other identifiers use
    :func:`shared_identity`.
    """
    if nhs:
        from odtrial.data.nhs import nhs_keys_valid

        keys, valid = nhs_keys_valid(values)
        return nhs_identity(values, keys), valid
    codes = pd.factorize(values.astype("string"))[0].astype(np.int64)
    return codes, codes >= 0


def shared_identity(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`identity` codes of two frames' identifier columns on one scale."""
    both = pd.concat([a.astype("string"), b.astype("string")], ignore_index=True)
    codes = pd.factorize(both)[0].astype(np.int64)
    return codes[: len(a)], codes[len(a) :]


def duplicate_records(
    frame: pd.DataFrame,
    spec: TableSpec,
    *,
    idents: dict[str, np.ndarray],
    unique: tuple[str, ...] = (),
) -> pd.DataFrame:
    """``duplicate_record``: a later record repeating an earlier one.

    Exact repeats of all declared fields (provenance excluded) in any table;
    and, for each field in ``unique`` (the participants key and the other
    identifiers tables link by), a later record with a value seen before, even
    if other fields differ (one person, one baseline record). Each flagged
    record names the first record it repeats. ``idents`` holds the
    :func:`identity` codes of identifier fields (they stand in for the text).
    """
    fields = list(spec.names)
    sub = frame[fields].assign(**{k: v for k, v in idents.items() if k in fields})
    exact = sub.duplicated(keep="first").to_numpy(dtype=bool)
    parts = []
    if exact.any():
        rows = np.flatnonzero(exact)
        first = _first_of_group(sub, rows)
        msg = "record repeats " + _record_ref(frame, first) + " in every field"
        parts.append(make_hits(rows, "record", "", "duplicate_record", msg))
    flagged = exact.copy()
    for name in unique:
        ids = pd.Series(idents[name])
        same = (ids.duplicated(keep="first") & (ids != -1)).to_numpy(dtype=bool) & ~flagged
        if same.any():
            rows = np.flatnonzero(same)
            first = _first_of_group(sub[[name]], rows)
            what = "NHS number" if spec.field(name).nhs else _label(name)
            msg = f"{what} already has a participant record (" + _record_ref(frame, first) + ")"
            parts.append(make_hits(rows, name, frame[name].iloc[rows], "duplicate_record", msg))
            flagged |= same
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


def conditional_required(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """``missing_value`` for a field empty where its ``required_if`` condition holds,
    and the warning ``unchecked_requirement`` for a field empty that is required
    under a condition odtrial cannot evaluate (``required_if_unchecked``)."""
    from odtrial.data.conditions import evaluate, render

    by_name = {f.name: f for f in spec.fields}
    parts = []
    for f in spec.fields:
        if f.required_if is None and f.required_if_unchecked is None:
            continue
        empty = frame[f.name].isna().to_numpy(dtype=bool)
        if f.required_if is not None:
            rows = np.flatnonzero(empty & evaluate(f.required_if, frame, by_name))
            msg = f"{f.name} is empty but required when {render(f.required_if)}"
            parts.append(make_hits(rows, f.name, "", "missing_value", msg))
        else:
            rows = np.flatnonzero(empty)
            msg = (
                f"{f.name} is empty; it is required when {f.required_if_unchecked}, "
                "which odtrial cannot evaluate: check by hand"
            )
            parts.append(make_hits(rows, f.name, "", "unchecked_requirement", msg))
    return concat_hits(parts)


# --------------------------------------------------------------------------- dates


def impossible_dates(
    frame: pd.DataFrame, spec: TableSpec, *, data_cutoff: pd.Timestamp
) -> pd.DataFrame:
    """``impossible_date``: any date field before 1900-01-01 or after the cut-off
    (an identifying date, such as a date of birth, is not repeated in the message)."""
    parts = []
    cutoff_text = data_cutoff.strftime("%Y-%m-%d")
    hidden = set(spec.identifiers())
    for f in spec.fields:
        if f.kind != "date":
            continue
        s = frame[f.name]
        early = (s < EARLIEST_DATE).fillna(False).to_numpy(dtype=bool)
        late = (s > data_cutoff).fillna(False).to_numpy(dtype=bool)
        rows = np.flatnonzero(early | late)
        if len(rows) == 0:
            continue
        text = _date_text(s, rows)
        shown = "" if f.name in hidden else " " + text
        reason = np.where(
            early[rows], " is before 1900-01-01", f" is after the data cut-off {cutoff_text}"
        )
        msg = _label(f.name) + shown + reason
        parts.append(make_hits(rows, f.name, text, "impossible_date", msg))
    return concat_hits(parts)


def under_min_age(participants: pd.DataFrame, spec: TableSpec, *, min_age: int) -> pd.DataFrame:
    """``under_min_age``: under the trial's minimum age (``[eligibility] min_age``)
    in completed years at consent (needs the table's ``date_of_birth`` field).

    Completed years counts a 29 February birthday on 1 March in other years.
    """
    if spec.date_of_birth is None or spec.consent_date is None:
        return concat_hits([])
    dob = participants[spec.date_of_birth]
    consent = participants[spec.consent_date]
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
    return make_hits(rows, spec.date_of_birth, _date_text(dob, rows), "under_min_age", msg)


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
    spec: TableSpec,
    *,
    consent: pd.Series,
    follow_up_months: int,
    data_cutoff: pd.Timestamp,
    visit_windows: Mapping[int, int | tuple[int, int]] | None = None,
) -> pd.DataFrame:
    """``date_before_consent`` / ``date_after_follow_up`` for an event table.

    Parameters
    ----------
    events : DataFrame
        Coerced event frame.
    spec : TableSpec
        Its declaration; the date checked is its ``date`` field (none: no hits).
    consent : Series
        Consent date of the event's accepted participant, aligned with
        ``events`` (NaT where there is none: those rows are skipped).
    follow_up_months, data_cutoff
        Follow-up ends at ``min(consent + follow_up_months, data_cutoff)``;
        for follow-up assessments the end is extended to the close of the
        latest visit window, so a last visit held late but within its window
        is not queried here (``visit_out_of_window`` covers visits outside it).
    visit_windows : mapping of int to int or (int, int)
        The visit schedule, month -> window in days either side, or (before, after)
        (:meth:`odtrial.trial.Trial.visit_sides`); required for a table with visits.
    """
    if spec.date is None:
        return concat_hits([])
    field = spec.date
    d = events[field]
    usable = date_in_range(d, data_cutoff=data_cutoff) & consent.notna().to_numpy(dtype=bool)
    end = add_months(consent, follow_up_months)
    if spec.visit is not None:
        if not visit_windows:
            raise ValueError(f"event_dates of {spec.name} needs the visit schedule")
        for month, days in visit_windows.items():
            close = add_months(consent, month) + pd.Timedelta(days=_sides(days)[1])
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
    spec: TableSpec,
    *,
    consent: pd.Series,
    data_cutoff: pd.Timestamp,
    visit_windows: Mapping[int, int | tuple[int, int]],
) -> pd.DataFrame:
    """``visit_out_of_window``: a record dated further from consent + its visit's
    month than that visit's window (``visit_windows``: month -> days either side, or
    days (before, after), the trial's schedule); for a table declaring both ``date``
    and ``visit``."""
    if spec.date is None or spec.visit is None:
        return concat_hits([])
    d, visit = followup[spec.date], followup[spec.visit]
    known = visit.isin(list(visit_windows)).fillna(False).to_numpy(dtype=bool)
    usable = (
        known & date_in_range(d, data_cutoff=data_cutoff) & consent.notna().to_numpy(dtype=bool)
    )
    target = add_months(consent.where(usable), visit.where(usable))
    gap = (d - target).dt.days
    sides = {m: _sides(w) for m, w in visit_windows.items()}
    before = visit.map({m: b for m, (b, _) in sides.items()}).astype("Int64")
    after = visit.map({m: a for m, (_, a) in sides.items()}).astype("Int64")
    rows = _where(((gap < -before) | (gap > after)).fillna(False) & usable)
    if len(rows) == 0:
        return concat_hits([])
    text = _date_text(d, rows)
    days = gap.iloc[rows].astype("Int64").astype("string").reset_index(drop=True)
    months = visit.iloc[rows].astype("string").reset_index(drop=True)
    msg = (
        _label(spec.date)
        + " "
        + text
        + " is "
        + days.str.lstrip("-")
        + np.where(gap.iloc[rows].to_numpy() < 0, " days before", " days after")
        + " the "
        + months
        + "-month visit due "
        + _date_text(target, rows)
        + " (window "
        + _window_text(visit.iloc[rows].astype("Int64"), sides)
        + ")"
    )
    return make_hits(rows, spec.date, text, "visit_out_of_window", msg)


def _sides(window: int | tuple[int, int]) -> tuple[int, int]:
    """A visit window as days (before, after) its due date."""
    return (window, window) if isinstance(window, int) else window


def _window_text(months: pd.Series, sides: Mapping[int, tuple[int, int]]) -> pd.Series:
    """``92 days`` (either side) or ``7 days before, 14 after``, per visit month."""
    text = {
        m: f"{b} days" if b == a else f"{b} days before, {a} after" for m, (b, a) in sides.items()
    }
    return months.map(text).astype("string").reset_index(drop=True)


def date_order(frame: pd.DataFrame, *, earlier: str, later: str, code: str) -> pd.DataFrame:
    """``date_order`` (or the rule's own ``code``): ``later`` is before ``earlier``."""
    a, b = frame[earlier], frame[later]
    rows = _where((b < a).fillna(False))
    if len(rows) == 0:
        return concat_hits([])
    tb, ta = _date_text(b, rows), _date_text(a, rows)
    msg = _label(later) + " " + tb + " is before " + _label(earlier) + " " + ta
    return make_hits(rows, later, tb, code, msg)


def no_overlap(
    frame: pd.DataFrame,
    *,
    start: str,
    end: str,
    person: np.ndarray,
    eligible: np.ndarray,
    code: str,
) -> pd.DataFrame:
    """``overlap`` (or the rule's own ``code``): an interval starting before an
    earlier interval of the same participant ended.

    Among ``eligible`` rows (no error so far) with a start and a participant
    (``person``: identity codes, -1 missing), intervals are ordered per person by
    start (ties by provenance order); one is flagged when it starts before the
    latest end of those ordered before it. A missing end is open (ongoing) and
    overlaps every later start. Starting on the day another ends is a transfer,
    not an overlap.
    """
    sel = eligible & frame[start].notna().to_numpy(dtype=bool) & (person != -1)
    pos = np.flatnonzero(sel)
    if len(pos) < 2:
        return concat_hits([])
    sub = frame.iloc[pos]
    who = pd.factorize(person[pos])[0]
    adm = sub[start].to_numpy(dtype="datetime64[us]")
    disch = sub[end].to_numpy(dtype="datetime64[us]")
    order = np.lexsort((np.arange(len(pos)), adm, who))
    who, adm, disch_sorted = who[order], adm[order], disch[order]
    # Running max of the end within person; open intervals count as +infinity.
    big = np.iinfo(np.int64).max
    d_int = np.where(np.isnat(disch_sorted), big, disch_sorted.astype(np.int64))
    run = pd.Series(d_int).groupby(who).cummax().to_numpy()
    prev = np.empty_like(run)
    prev[0] = np.iinfo(np.int64).min
    prev[1:] = run[:-1]
    new_person = np.ones(len(who), dtype=bool)
    new_person[1:] = who[1:] != who[:-1]
    prev[new_person] = np.iinfo(np.int64).min
    hit = adm.astype(np.int64) < prev
    if not hit.any():
        return concat_hits([])
    rows = pos[order[hit]]
    prev_hit = prev[hit]
    start_text = _date_text(frame[start], rows)
    is_open = prev_hit == big
    prev_dates = pd.Series(np.where(is_open, 0, prev_hit).astype("datetime64[us]"))
    prev_text = as_text(prev_dates)
    msg = (
        _label(start)
        + " "
        + start_text
        + pd.Series(
            np.where(
                is_open,
                f" is during an earlier record of the same participant with no {_label(end)}",
                (
                    f" is before the {_label(end)} "
                    + prev_text
                    + " of an earlier record of the same participant"
                ).to_numpy(dtype=object),
            ),
            dtype="string",
        )
    )
    return make_hits(rows, start, start_text, code, msg)


def one_per_visit(
    frame: pd.DataFrame, *, visit: str, person: np.ndarray, code: str
) -> pd.DataFrame:
    """``duplicate_visit`` (or the rule's own ``code``): a later record of a
    participant at a visit that already has one (each names the first)."""
    has = frame[visit].notna().to_numpy(dtype=bool) & (person != -1)
    key = pd.DataFrame({"p": person, "v": frame[visit].astype("Int64")})
    dup = key.duplicated(keep="first").to_numpy(dtype=bool) & has
    rows = np.flatnonzero(dup)
    if len(rows) == 0:
        return concat_hits([])
    first = _first_of_group(key, rows)
    text = as_text(frame[visit].iloc[rows])
    msg = (
        "a record of this participant at visit "
        + text
        + " is already at "
        + _record_ref(frame, first)
    )
    return make_hits(rows, visit, text, code, msg)


def unique_key(frame: pd.DataFrame, *, fields: tuple[str, ...], code: str) -> pd.DataFrame:
    """``duplicate_key`` (or the rule's own ``code``): a later record with the same
    values of ``fields`` as an earlier one (records missing any of them are skipped)."""
    sub = frame[list(fields)]
    complete = sub.notna().all(axis=1).to_numpy(dtype=bool)
    dup = sub.duplicated(keep="first").to_numpy(dtype=bool) & complete
    rows = np.flatnonzero(dup)
    if len(rows) == 0:
        return concat_hits([])
    first = _first_of_group(sub, rows)
    what = ", ".join(_label(f) for f in fields)
    msg = f"{what} repeat" + "s" * (len(fields) == 1) + " " + _record_ref(frame, first)
    return make_hits(rows, fields[0], as_text(sub[fields[0]].iloc[rows]), code, msg)


def foreign_key(
    frame: pd.DataFrame, *, field: str, allowed: pd.Series, where: str, code: str
) -> pd.DataFrame:
    """``unknown_reference`` (or the rule's own ``code``): a value of ``field`` not
    among ``allowed`` (the referenced column, named ``where`` in the message)."""
    s = frame[field]
    ok = s.astype("string").isin(allowed.dropna().astype("string").unique())
    rows = _where(s.notna().to_numpy(dtype=bool) & ~ok.fillna(False).to_numpy(dtype=bool))
    if len(rows) == 0:
        return concat_hits([])
    text = as_text(s.iloc[rows])
    msg = _label(field) + " '" + text + f"' is not in {where}"
    return make_hits(rows, field, text, code, msg)


# --------------------------------------------------------------------------- clusters


def cluster_rules(participants: pd.DataFrame, trial: Trial, *, field: str) -> pd.DataFrame:
    """``unknown_cluster`` and ``cluster_wrong_trust`` for the recruiting cluster
    (``field``: the participants table's cluster field)."""
    cid = participants[field].astype("string")
    trust_of = {c.id: c.trust for c in trial.clusters}
    known = cid.isin(list(trust_of)).fillna(False).to_numpy(dtype=bool)
    present = cid.notna().to_numpy(dtype=bool)
    parts = []
    rows = np.flatnonzero(present & ~known)
    if len(rows):
        text = as_text(cid.iloc[rows])
        msg = "cluster id '" + text + "' is not a cluster of the trial"
        parts.append(make_hits(rows, field, text, "unknown_cluster", msg))
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
        parts.append(make_hits(rows, field, text, "cluster_wrong_trust", msg))
    return concat_hits(parts)


def practice_rules(
    participants: pd.DataFrame, trial: Trial, *, field: str, cluster: str
) -> pd.DataFrame:
    """``unknown_practice``; when the trial is allocated, ``practice_other_arm``
    (practice in a cluster of the other arm) and ``practice_other_cluster``
    (practice in another cluster of the same arm). Practice codes compare
    case-insensitively and without surrounding spaces (ODS codes are upper case).
    """
    cop = {p.upper(): c for p, c in trial.cluster_of_practice().items()}
    gp = participants[field].str.strip().str.upper()
    present = gp.notna().to_numpy(dtype=bool)
    practice_cluster = gp.map(cop).astype("string")
    known = practice_cluster.notna().to_numpy(dtype=bool)
    parts = []
    rows = np.flatnonzero(present & ~known)
    if len(rows):
        text = as_text(participants[field].iloc[rows])
        msg = "GP practice '" + text + "' is not a member practice of any cluster"
        parts.append(make_hits(rows, field, text, "unknown_practice", msg))
    if not trial.allocated:
        return concat_hits(parts)
    arm_of = {c.id: c.arm for c in trial.clusters}
    cid = participants[cluster].astype("string")
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
        text = as_text(participants[field].iloc[rows])

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
        parts.append(make_hits(rows, field, text, rule, msg))
    return concat_hits(parts)


# --------------------------------------------------------------------------- events


def unknown_participants(
    events: pd.DataFrame,
    *,
    accepted: np.ndarray,
    keys: np.ndarray,
    valid: np.ndarray,
    field: str,
    what: str,
) -> tuple[pd.DataFrame, np.ndarray]:
    """``unknown_participant``: a valid link value (``field``) naming no accepted
    participant.

    Parameters
    ----------
    events : DataFrame
        Coerced event frame.
    accepted : ndarray of int64
        Sorted, unique :func:`identity` codes of the accepted participants' link
        field.
    keys, valid : ndarray
        Identity codes of ``events``' link values (on the same scale) and their
        validity (present; NHS numbers: Modulus 11).

    Returns
    -------
    hits : DataFrame
    where : ndarray of int64
        For every event row, the position of its participant in ``accepted``,
        or -1 when there is none. Missing or invalid values are not
        flagged again here (they have their own error).
    """
    if len(accepted) == 0:
        where = np.full(len(keys), -1, dtype=np.int64)
        return _unknown_hits(events, np.flatnonzero(valid), field, what), where
    where = np.searchsorted(accepted, keys)
    found = where < len(accepted)
    found[found] = accepted[where[found]] == keys[found]
    where = np.where(found & valid, where, -1)
    rows = np.flatnonzero(valid & ~found)
    return _unknown_hits(events, rows, field, what), where


def _unknown_hits(events: pd.DataFrame, rows: np.ndarray, field: str, what: str) -> pd.DataFrame:
    return make_hits(
        rows,
        field,
        events[field].iloc[rows],
        "unknown_participant",
        f"no accepted participant record has this {what}",
    )


def implausible_doses(
    prescriptions: pd.DataFrame,
    dictionary: MedicationDictionary | None = None,
    *,
    drug: str,
    dose: str,
    code: str = "implausible_dose",
) -> pd.DataFrame:
    """``implausible_dose`` (or the rule's own ``code``): a daily dose not above
    zero, or more than PLAUSIBLE_FACTOR x the BNF maximum of a drug in
    ``dictionary`` (the trial's; the shipped one when None), named by generic or
    brand name."""
    d = prescriptions[dose]
    low = _where((d <= 0).fillna(False))
    parts = []
    if len(low):
        text = as_text(d.iloc[low])
        msg = "daily dose " + text + " mg is not above zero"
        parts.append(make_hits(low, dose, text, code, msg))
    return concat_hits([*parts, _above_limit(prescriptions, dictionary, drug, dose, code)])


def _above_limit(
    prescriptions: pd.DataFrame,
    dictionary: MedicationDictionary | None,
    drug_field: str,
    dose_field: str,
    code: str,
) -> pd.DataFrame:
    codes, names = _drug_codes(prescriptions[drug_field])
    drugs = _resolve(names, dictionary)
    limits = np.array([np.nan if d is None else d.max_daily_mg for d in drugs] + [np.nan])
    limit = limits[codes]  # code -1 (missing) picks the trailing NaN
    dose = prescriptions[dose_field].to_numpy(dtype=np.float64)
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
    return make_hits(rows, dose_field, text, code, msg)


def unknown_drugs(
    prescriptions: pd.DataFrame,
    dictionary: MedicationDictionary | None = None,
    *,
    drug: str = "drug",
) -> pd.DataFrame:
    """``unknown_drug`` (warning): a drug name that is neither a generic nor a
    brand name of ``dictionary`` (the trial's; the shipped one when None)."""
    raw = prescriptions[drug]
    codes, names = _drug_codes(raw)
    unknown = np.array([d is None for d in _resolve(names, dictionary)] + [False])
    rows = np.flatnonzero(unknown[codes])
    if len(rows) == 0:
        return concat_hits([])
    text = as_text(raw.iloc[rows])
    msg = (
        "drug '" + text + "' is not in the medication dictionary; its dose equivalents are unknown"
    )
    return make_hits(rows, drug, text, "unknown_drug", msg)


def _resolve(names: list[str], dictionary: MedicationDictionary | None) -> list[Drug | None]:
    """The dictionary entry of each distinct name (None if it names no drug)."""
    med = DICTIONARY if dictionary is None else dictionary
    return [med.resolve(n) for n in names]


def _drug_codes(drug: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Factorised drug names, normalised (stripped, lower case) on the few
    distinct values only; code -1 is missing."""
    codes, uniques = pd.factorize(drug)
    return codes, [str(u).strip().lower() for u in uniques]
