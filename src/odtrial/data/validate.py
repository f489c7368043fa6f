"""Validation stage: mapped site tables -> one tidy table of failures.

:func:`validate` checks the five mapped site tables of a trial (data
contract, "Validation stage") and returns every failure found, one row per
(record, field, rule), with columns :data:`FAILURE_COLUMNS`. It never stops
at the first problem and never raises on bad values; ingest then quarantines
the rows with an error (:func:`error_rows`, :func:`error_mask`) and writes
the rest of the failures as queries.

Order and semantics
-------------------
1. **Preparation.** Each table is put into its schema dtypes
   (:func:`odtrial.data.schemas.coerce_mapped`: dates compared in
   ``datetime64[us]``; an unreadable cell becomes ``invalid_value`` and is
   not reported ``missing_value`` again) and ordered by provenance
   ``(trust, source_file, source_row)``. "Earlier" and "later" below refer to
   that order, so the result does not depend on the order the frames arrive
   in. The pandera schema of each table then gives ``missing_value``,
   ``out_of_vocabulary`` and ``implausible_dose`` (dose not above zero).
2. **Participants first.** Schema, ``nhs_number_invalid`` (present but not
   10 stored digits passing Modulus 11), ``duplicate_record`` (a later exact repeat of all mapped
   fields, or a later record with an NHS number already seen, even if other
   fields differ), ``impossible_date`` (before 1900-01-01 or after
   ``trial.data_cutoff``), ``unknown_cluster`` / ``cluster_wrong_trust`` (the
   recruiting ``cluster_id`` must be a trial cluster of the trust that sent
   the record), ``unknown_practice``, ``practice_other_arm`` /
   ``practice_other_cluster`` (only when every cluster has an arm;
   :meth:`Trial.cluster_of_practice`), ``age_under_18`` (under the trial's
   ``[eligibility] min_age``).
3. **Accepted participants.** A participant row is accepted if it has no
   error-level failure. Their NHS numbers (unique, since a repeat is an
   error) and consent dates drive the event checks.
4. **Events** (followup, admissions, crisis_referrals, prescriptions):
   schema, ``nhs_number_invalid``, ``duplicate_record`` (exact repeats),
   ``impossible_date``, ``unknown_participant`` (a valid NHS number with no
   accepted participant: events of a quarantined participant become errors;
   a missing or invalid NHS number is not reported twice),
   ``discharge_before_admission``, ``end_before_start``,
   ``implausible_dose`` (not above zero, or above ``PLAUSIBLE_FACTOR`` x the
   BNF maximum), ``unknown_drug`` (warning), then, for events of an accepted
   participant whose date is in range: ``date_before_consent`` and
   ``date_after_follow_up`` on the table's event date
   (:data:`odtrial.data.rules.EVENT_DATE`) with follow-up ending at
   ``min(consent + trial.follow_up_months months, data_cutoff)`` (for
   assessments the end is extended to the close of the latest visit window of
   the trial's ``[visits]`` schedule), ``visit_out_of_window`` (assessment
   further from consent + ``visit_month`` months than that visit's
   ``window_days``), and last ``overlapping_admissions`` among the
   admissions with no error (the later-starting stay of two is flagged).
5. **Output.** Severity from :data:`odtrial.data.catalogue.RULES`; rows sorted
   by table (canonical order), trust, source file, source row, field, rule.
   ``value`` is the offending value as text ("" when missing), not masked;
   messages never repeat an NHS number or a date of birth.

Performance: everything is column-wise (pandera's vectorised checks,
``duplicated``, ``isin``, factorised codes, grouped running maxima); NHS
numbers are joined and compared as int64 keys (binary search over the
accepted participants) rather than strings; no Python loop runs per row.
About 1.2-1.5 s of CPU for 100,000 participants and ~1,000,000 event rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd

from odtrial.data import rules
from odtrial.data.canonical import EVENT_TABLES, MAPPED, PROVENANCE, SITE_TABLES
from odtrial.data.catalogue import FAILURE_COLUMNS, RULES
from odtrial.data.catalogue import empty_failures as _empty_failures
from odtrial.data.nhs import nhs_keys_valid
from odtrial.data.schemas import (
    DATE_DTYPE,
    coerce_mapped,
    concat_hits,
    field_dtype,
    schema_failures,
)
from odtrial.trial import Trial

_ERROR_RULES: Final = frozenset(c for c, r in RULES.items() if r.severity == "error")
_SEVERITY: Final = {c: r.severity for c, r in RULES.items()}


def validate(mapped: Mapping[str, pd.DataFrame], trial: Trial) -> pd.DataFrame:
    """Validate the mapped site tables of a trial; return every failure.

    Parameters
    ----------
    mapped : mapping of str to DataFrame
        Mapped frames keyed by site table name (``participants``, ``followup``,
        ``admissions``, ``crisis_referrals``, ``prescriptions``), each with the
        provenance columns and the canonical fields of
        :data:`odtrial.data.canonical.MAPPED` (an absent optional field counts
        as empty; an absent table as having no rows).
    trial : Trial
        The trial: clusters, practices, arms, follow-up length, data cut-off,
        medication dictionary (drug names and dose limits).

    Returns
    -------
    DataFrame
        Columns :data:`FAILURE_COLUMNS` (strings, ``source_row`` Int64), one
        row per failure; empty (with those columns) for a clean dataset.

    Raises
    ------
    ValueError
        If a table lacks a provenance column or is not a site table.
    """
    unknown = sorted(set(mapped) - set(SITE_TABLES))
    if unknown:
        raise ValueError(f"not a site table: {unknown[0]!r} (expected {', '.join(SITE_TABLES)})")
    cutoff = pd.Timestamp(trial.data_cutoff)
    windows = trial.visit_windows()
    frames: dict[str, pd.DataFrame] = {}
    hits: dict[str, list[pd.DataFrame]] = {}
    for table in SITE_TABLES:
        frame, coerce_hits = _prepare(mapped.get(table), table)
        frames[table] = frame
        hits[table] = [
            coerce_hits,
            _drop_echoes(
                schema_failures(frame, table, visit_months=trial.visit_months), coerce_hits
            ),
        ]

    # Participants first: their accepted rows decide the event checks.
    p = frames["participants"]
    keys, valid = nhs_keys_valid(p["nhs_number"])
    hits["participants"] += [
        rules.nhs_number_invalid(p, valid=valid),
        rules.duplicate_records(p, "participants", ident=rules.nhs_identity(p["nhs_number"], keys)),
        rules.impossible_dates(p, "participants", data_cutoff=cutoff),
        rules.cluster_rules(p, trial),
        rules.practice_rules(p, trial),
        rules.age_under_18(p, min_age=trial.min_age),
    ]
    # Accepted: no error. Their keys are unique (a repeated NHS number is an
    # error) and valid; sorted for a binary-search join.
    accepted = ~_error_positions(hits["participants"], len(p)) & valid
    order = np.argsort(keys[accepted], kind="stable")
    accepted_keys = keys[accepted][order]
    accepted_consent = p["consent_date"][accepted].iloc[order].reset_index(drop=True)

    for table in EVENT_TABLES:
        ev = frames[table]
        keys, valid = nhs_keys_valid(ev["nhs_number"])
        unknown_hits, where = rules.unknown_participants(
            ev, accepted=accepted_keys, keys=keys, valid=valid
        )
        consent = _take_dates(accepted_consent, where)
        hs = hits[table]
        hs += [
            rules.nhs_number_invalid(ev, valid=valid),
            unknown_hits,
            rules.duplicate_records(ev, table, ident=rules.nhs_identity(ev["nhs_number"], keys)),
            rules.impossible_dates(ev, table, data_cutoff=cutoff),
            rules.event_dates(
                ev,
                table,
                consent=consent,
                follow_up_months=trial.follow_up_months,
                data_cutoff=cutoff,
                visit_windows=windows,
            ),
        ]
        if table == "followup":
            hs.append(
                rules.visit_out_of_window(
                    ev, consent=consent, data_cutoff=cutoff, visit_windows=windows
                )
            )
        elif table == "admissions":
            hs.append(rules.discharge_before_admission(ev))
            eligible = ~_error_positions(hs, len(ev))
            hs.append(rules.overlapping_admissions(ev, eligible=eligible))
        elif table == "prescriptions":
            hs += [
                rules.end_before_start(ev),
                rules.implausible_doses(ev, trial.medication),
                rules.unknown_drugs(ev, trial.medication),
            ]

    return _assemble(frames, hits)


def empty_failures() -> pd.DataFrame:
    """A failures frame with no rows and the canonical columns and dtypes."""
    return _empty_failures("Int64")


def error_rows(failures: pd.DataFrame) -> dict[str, set[tuple[str, str, int]]]:
    """Records with at least one error-level failure, per table.

    Returns ``{table: {(trust, source_file, source_row), ...}}`` for every
    site table (an empty set when a table has no error). Ingest quarantines
    these records; for large frames :func:`error_mask` is the vectorised form.
    """
    out: dict[str, set[tuple[str, str, int]]] = {t: set() for t in SITE_TABLES}
    err = failures[failures["severity"] == "error"]
    for table, grp in err.groupby("table", sort=False):
        keys = grp[list(PROVENANCE)].drop_duplicates()
        out.setdefault(str(table), set()).update(
            zip(
                keys["trust"].tolist(),
                keys["source_file"].tolist(),
                keys["source_row"].tolist(),
                strict=True,
            )
        )
    return out


def error_mask(failures: pd.DataFrame, table: str, frame: pd.DataFrame) -> np.ndarray:
    """Boolean array over ``frame``'s rows: True where the record has an error.

    ``frame`` is any frame of ``table`` carrying the provenance columns (e.g. the
    mapped frame given to :func:`validate`); matching is on
    ``(trust, source_file, source_row)``.
    """
    err = failures.loc[
        (failures["table"] == table) & (failures["severity"] == "error"), list(PROVENANCE)
    ].drop_duplicates()
    if len(err) == 0 or len(frame) == 0:
        return np.zeros(len(frame), dtype=bool)
    keys = frame[list(PROVENANCE)].astype({"trust": "string", "source_file": "string"})
    keys = keys.astype({"source_row": "Int64"})
    flagged = pd.MultiIndex.from_frame(err.astype({"source_row": "Int64"}))
    return pd.MultiIndex.from_frame(keys).isin(flagged)


# --------------------------------------------------------------------------- internals


def _prepare(frame: pd.DataFrame | None, table: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce a mapped frame and put it in provenance order."""
    if frame is None:
        cols = {c: pd.Series([], dtype="string") for c in ("trust", "source_file")}
        cols["source_row"] = pd.Series([], dtype="Int64")
        for f in MAPPED[table]:
            cols[f.name] = pd.Series([], dtype=field_dtype(f))
        frame = pd.DataFrame(cols)
    df, coerce_hits = coerce_mapped(frame, table)
    order = _provenance_order(df)
    if order is None:
        return df, coerce_hits
    df = df.iloc[order].reset_index(drop=True)
    if len(coerce_hits):
        # Re-point the hits at the new positions.
        new_pos = np.empty(len(order), dtype=np.int64)
        new_pos[order] = np.arange(len(order))
        coerce_hits = coerce_hits.assign(row=new_pos[coerce_hits["row"].to_numpy()])
    return df, coerce_hits


def _drop_echoes(schema_hits: pd.DataFrame, coerce_hits: pd.DataFrame) -> pd.DataFrame:
    """Drop ``missing_value`` on cells already reported ``invalid_value`` (an
    unreadable cell becomes missing; one failure is enough)."""
    if len(coerce_hits) == 0 or len(schema_hits) == 0:
        return schema_hits
    bad = pd.MultiIndex.from_arrays([coerce_hits["row"], coerce_hits["field"].astype(object)])
    cell = pd.MultiIndex.from_arrays([schema_hits["row"], schema_hits["field"].astype(object)])
    echo = cell.isin(bad) & (schema_hits["rule"] == "missing_value").to_numpy(dtype=bool)
    return schema_hits[~echo].reset_index(drop=True)


def _provenance_order(df: pd.DataFrame) -> np.ndarray | None:
    """The stable sort order by provenance, or None when already sorted."""
    if len(df) < 2:
        return None
    trust = pd.factorize(df["trust"], sort=True, use_na_sentinel=True)[0]
    src = pd.factorize(df["source_file"], sort=True, use_na_sentinel=True)[0]
    row = df["source_row"].fillna(-1).to_numpy(dtype=np.int64)
    order = np.lexsort((row, src, trust))
    if np.array_equal(order, np.arange(len(df))):
        return None
    return order


def _error_positions(parts: list[pd.DataFrame], n: int) -> np.ndarray:
    """Mask over a frame's rows: True where some hit is an error."""
    mask = np.zeros(n, dtype=bool)
    for h in parts:
        if len(h):
            err = h["rule"].isin(_ERROR_RULES).to_numpy(dtype=bool)
            mask[h["row"].to_numpy()[err]] = True
    return mask


def _take_dates(values: pd.Series, where: np.ndarray) -> pd.Series:
    """``values[where]`` with NaT where ``where`` is -1."""
    if len(values) == 0:
        return pd.Series(pd.NaT, index=range(len(where)), dtype=DATE_DTYPE)
    picked = values.iloc[np.where(where < 0, 0, where)].reset_index(drop=True)
    return picked.where(pd.Series(where >= 0), pd.NaT)


def _assemble(frames: dict[str, pd.DataFrame], hits: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    out = []
    for rank, table in enumerate(SITE_TABLES):
        h = concat_hits(hits[table])
        if len(h) == 0:
            continue
        prov = frames[table][list(PROVENANCE)].iloc[h["row"].to_numpy()].reset_index(drop=True)
        part = pd.concat([prov, h.drop(columns="row")], axis=1)
        part.insert(0, "table", table)
        part["_rank"] = rank
        out.append(part)
    if not out:
        return empty_failures()
    f = pd.concat(out, ignore_index=True)
    f["severity"] = f["rule"].map(_SEVERITY)
    f = f.sort_values(
        ["_rank", "trust", "source_file", "source_row", "field", "rule"],
        kind="stable",
        na_position="last",
    )
    f = f[list(FAILURE_COLUMNS)].reset_index(drop=True)
    return f.astype({c: "string" for c in FAILURE_COLUMNS if c != "source_row"}).astype(
        {"source_row": "Int64"}
    )
