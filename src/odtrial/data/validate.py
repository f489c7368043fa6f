"""Validation stage: mapped site tables -> one tidy table of failures.

:func:`validate` checks the mapped tables a trial declares (data contract,
"Validation stage") and returns every failure found, one row per (record,
field, rule), with columns :data:`FAILURE_COLUMNS`. It never stops at the
first problem and never raises on bad values; ingest then quarantines the rows
with an error (:func:`error_rows`, :func:`error_mask`) and writes the rest of
the failures as queries. Rule codes and severities: :mod:`odtrial.data.catalogue`.

Order and semantics
-------------------
1. **Preparation.** Each table is put into its schema dtypes
   (:func:`odtrial.data.schemas.coerce_mapped`: dates compared in
   ``datetime64[us]``; an unreadable cell becomes ``invalid_value`` and is
   not reported ``missing_value`` again) and ordered by provenance
   ``(trust, source_file, source_row)``. "Earlier" and "later" below refer to
   that order, so the result does not depend on the order the frames arrive
   in. The pandera schema of each table then gives ``missing_value``,
   ``out_of_vocabulary`` and ``out_of_range`` (the field's declared bounds);
   a field empty where its ``required_if`` condition holds is ``missing_value``
   too, and one empty under a condition odtrial cannot evaluate
   (``required_if_unchecked``) the warning ``unchecked_requirement``.
2. **Participants first.** Schema; each NHS number field: ``nhs_number_invalid``
   (present but not 10 digits passing Modulus 11) for the key or a required
   one, ``unlinkable_identifier`` (a warning: the participant stays, but cannot
   be linked by it) for an optional one beside the key; ``duplicate_record`` (a
   later exact repeat of all mapped fields, or a later record repeating the key or
   an identifier another table links by); ``impossible_date`` (before 1900-01-01
   or after ``trial.data_cutoff``); ``unknown_cluster`` / ``cluster_wrong_trust``
   (the recruiting cluster must be a trial cluster of the trust that sent the
   record); ``unknown_practice``, ``practice_other_arm`` / ``practice_other_cluster``
   when the table declares a practice; ``under_min_age`` (under the trial's
   ``[eligibility] min_age``) when it declares a date of birth; then the table's
   configured rules (``rules = [...]``: date order, no overlap, one per visit,
   unique, foreign key, dose).
3. **Accepted participants.** A participant row is accepted if it has no
   error-level failure and a valid key. Their link identifiers (unique, since a
   repeat is an error) and consent dates drive the checks of the other tables.
4. **Other tables**, each linked to a participant by its ``link`` field: schema,
   ``nhs_number_invalid`` for NHS number fields, ``unknown_participant`` (a link
   value of no accepted participant: records of a quarantined participant become
   errors), ``duplicate_record`` (exact repeats), ``impossible_date``, then, for
   records of an accepted participant whose date is in range,
   ``date_before_consent`` and ``date_after_follow_up`` on the table's declared
   ``date`` field with follow-up ending at ``min(consent + trial.follow_up_months
   months, data_cutoff)`` (for a table with a ``visit`` field, extended to the close
   of the latest visit window), ``visit_out_of_window`` (a record further from
   consent + its visit's months than that visit's ``window_days``), and last the
   table's configured rules.
5. **Output.** Severity from the rule catalogue (a configured rule may set its
   own); rows sorted by table (declared order), trust, source file, source row,
   field, rule. ``value`` is the offending value as text ("" when missing), not
   masked; messages never repeat an NHS number or a date of birth.

Performance: everything is column-wise (pandera's vectorised checks,
``duplicated``, ``isin``, factorised codes, grouped running maxima); NHS
numbers are joined and compared as int64 keys (binary search over the
accepted participants) rather than strings; no Python loop runs per row.
About 1.2-1.5 s of CPU for 100,000 participants and ~1,000,000 event rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from odtrial.data import rules
from odtrial.data.canonical import PARTICIPANTS, PROVENANCE, TableSpec
from odtrial.data.catalogue import FAILURE_COLUMNS, trial_rules
from odtrial.data.catalogue import empty_failures as _empty_failures
from odtrial.data.schemas import (
    DATE_DTYPE,
    coerce_mapped,
    concat_hits,
    field_dtype,
    schema_failures,
)
from odtrial.trial import Trial


def validate(mapped: Mapping[str, pd.DataFrame], trial: Trial) -> pd.DataFrame:
    """Validate the mapped tables of a trial; return every failure.

    Parameters
    ----------
    mapped : mapping of str to DataFrame
        Mapped frames keyed by the trial's table names
        (:attr:`odtrial.trial.Trial.tables`), each with the provenance columns
        and the declared fields (an absent optional field counts as empty; an
        absent table as having no rows).
    trial : Trial
        The trial: its tables and rules, clusters, practices, arms, follow-up
        length, data cut-off, vocabularies, medication dictionary.

    Returns
    -------
    DataFrame
        Columns :data:`FAILURE_COLUMNS` (strings, ``source_row`` Int64), one
        row per failure; empty (with those columns) for a clean dataset.

    Raises
    ------
    ValueError
        If a table lacks a provenance column or is not a table of the trial.
    """
    unknown = sorted(set(mapped) - set(trial.tables))
    if unknown:
        raise ValueError(
            f"not a table of the trial: {unknown[0]!r} (expected {', '.join(trial.tables)})"
        )
    cutoff = pd.Timestamp(trial.data_cutoff)
    windows = trial.visit_sides()
    frames: dict[str, pd.DataFrame] = {}
    hits: dict[str, list[pd.DataFrame]] = {}
    for name, spec in trial.tables.items():
        frame, coerce_hits = _prepare(mapped.get(name), spec)
        frames[name] = frame
        hits[name] = [
            coerce_hits,
            _drop_echoes(schema_failures(frame, spec, trial), coerce_hits),
            _drop_echoes(rules.conditional_required(frame, spec), coerce_hits),
        ]

    # Participants first: their accepted rows decide the checks of every other table.
    ps = trial.participants
    p = frames[PARTICIPANTS]
    assert ps.key is not None and ps.cluster is not None and ps.consent_date is not None
    links = [ps.key, *(t.link for t in trial.tables.values() if t.link is not None)]
    unique = tuple(dict.fromkeys([*links, *ps.nhs_fields]))
    idents: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}
    for f in unique:
        idents[f], valid[f] = rules.identity(p[f], nhs=ps.field(f).nhs)
    hp = hits[PARTICIPANTS]
    for f in ps.nhs_fields:
        # an optional NHS number beside the key only links: a bad one costs the links
        optional = f != ps.key and not ps.field(f).required
        if f not in valid:
            idents[f], valid[f] = rules.identity(p[f], nhs=True)
        code = "unlinkable_identifier" if optional else "nhs_number_invalid"
        hp.append(rules.nhs_number_invalid(p, valid=valid[f], field=f, code=code))
    hp += [
        rules.duplicate_records(p, ps, idents=idents, unique=unique),
        rules.impossible_dates(p, ps, data_cutoff=cutoff),
        rules.cluster_rules(p, trial, field=ps.cluster),
        rules.under_min_age(p, ps, min_age=trial.min_age),
    ]
    if ps.practice is not None:
        hp.append(rules.practice_rules(p, trial, field=ps.practice, cluster=ps.cluster))
    hp += _configured(p, ps, trial, frames, person=idents[ps.key], hits=hp)
    # Accepted: no error, a valid key. Link values are unique among them (a repeat
    # is an error).
    accepted = ~_error_positions(hp, len(p), trial) & valid[ps.key]
    consent = p[ps.consent_date]

    for name, spec in trial.tables.items():
        if spec.is_participants:
            continue
        assert spec.link is not None
        ev = frames[name]
        hs = hits[name]
        ev_idents: dict[str, np.ndarray] = {}
        for f in spec.nhs_fields:
            ev_idents[f], ok = rules.identity(ev[f], nhs=True)
            hs.append(rules.nhs_number_invalid(ev, valid=ok, field=f))
        link_field = ps.field(spec.link)
        if link_field.nhs:
            keys, ev_valid = rules.identity(ev[spec.link], nhs=True)
            p_keys, p_valid = idents[spec.link], valid[spec.link]
        else:
            p_keys, keys = rules.shared_identity(p[spec.link], ev[spec.link])
            p_valid, ev_valid = p_keys >= 0, keys >= 0
        usable = accepted & p_valid
        order = np.argsort(p_keys[usable], kind="stable")
        accepted_keys = p_keys[usable][order]
        accepted_consent = consent[usable].iloc[order].reset_index(drop=True)
        what = "NHS number" if link_field.nhs else link_field.display
        unknown_hits, where = rules.unknown_participants(
            ev, accepted=accepted_keys, keys=keys, valid=ev_valid, field=spec.link, what=what
        )
        event_consent = _take_dates(accepted_consent, where)
        hs += [
            unknown_hits,
            rules.duplicate_records(ev, spec, idents={spec.link: keys, **ev_idents}),
            rules.impossible_dates(ev, spec, data_cutoff=cutoff),
            rules.event_dates(
                ev,
                spec,
                consent=event_consent,
                follow_up_months=trial.follow_up_months,
                data_cutoff=cutoff,
                visit_windows=windows,
            ),
            rules.visit_out_of_window(
                ev, spec, consent=event_consent, data_cutoff=cutoff, visit_windows=windows
            ),
        ]
        hs += _configured(ev, spec, trial, frames, person=np.where(ev_valid, keys, -1), hits=hs)
    return _assemble(frames, hits, trial)


def _configured(
    frame: pd.DataFrame,
    spec: TableSpec,
    trial: Trial,
    frames: Mapping[str, pd.DataFrame],
    *,
    person: np.ndarray,
    hits: list[pd.DataFrame],
) -> list[pd.DataFrame]:
    """The table's configured rules, in declared order; ``no_overlap`` last, among
    the records with no error so far (``hits`` plus the other rules' hits)."""
    out: list[pd.DataFrame] = []
    for r in spec.rules:
        prm = r.params
        if r.kind == "date_order":
            out.append(
                rules.date_order(frame, earlier=prm["earlier"], later=prm["later"], code=r.code)
            )
        elif r.kind == "one_per_visit" and spec.visit is not None:
            out.append(rules.one_per_visit(frame, visit=spec.visit, person=person, code=r.code))
        elif r.kind == "unique":
            out.append(rules.unique_key(frame, fields=tuple(prm["fields"]), code=r.code))
        elif r.kind == "foreign_key":
            other = frames[prm["table"]][prm["column"]]
            where = f"{prm['table']}.{prm['column']}"
            out.append(
                rules.foreign_key(
                    frame, field=prm["field"], allowed=other, where=where, code=r.code
                )
            )
        elif r.kind == "dose":
            out += [
                rules.implausible_doses(
                    frame, trial.medication, drug=prm["drug"], dose=prm["dose"], code=r.code
                ),
                rules.unknown_drugs(frame, trial.medication, drug=prm["drug"]),
            ]
    for r in spec.rules:
        if r.kind == "no_overlap":
            eligible = ~_error_positions([*hits, *out], len(frame), trial)
            out.append(
                rules.no_overlap(
                    frame,
                    start=r.params["start"],
                    end=r.params["end"],
                    person=person,
                    eligible=eligible,
                    code=r.code,
                )
            )
    return out


def empty_failures() -> pd.DataFrame:
    """A failures frame with no rows and the canonical columns and dtypes."""
    return _empty_failures("Int64")


def error_rows(failures: pd.DataFrame) -> dict[str, set[tuple[str, str, int]]]:
    """Records with at least one error-level failure, per table.

    Returns ``{table: {(trust, source_file, source_row), ...}}`` for every
    table with a failure (an empty set when it has no error). Ingest quarantines
    these records; for large frames :func:`error_mask` is the vectorised form.
    """
    out: dict[str, set[tuple[str, str, int]]] = {
        str(t): set() for t in failures["table"].dropna().unique()
    }
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


def _prepare(frame: pd.DataFrame | None, spec: TableSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce a mapped frame and put it in provenance order."""
    if frame is None:
        cols = {c: pd.Series([], dtype="string") for c in ("trust", "source_file")}
        cols["source_row"] = pd.Series([], dtype="Int64")
        for f in spec.fields:
            cols[f.name] = pd.Series([], dtype=field_dtype(f))
        frame = pd.DataFrame(cols)
    df, coerce_hits = coerce_mapped(frame, spec)
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


def _error_positions(parts: list[pd.DataFrame], n: int, trial: Trial) -> np.ndarray:
    """Mask over a frame's rows: True where some hit is an error."""
    mask = np.zeros(n, dtype=bool)
    for h in parts:
        if len(h):
            err = h["rule"].isin(_error_codes(trial)).to_numpy(dtype=bool)
            mask[h["row"].to_numpy()[err]] = True
    return mask


def _take_dates(values: pd.Series, where: np.ndarray) -> pd.Series:
    """``values[where]`` with NaT where ``where`` is -1."""
    if len(values) == 0:
        return pd.Series(pd.NaT, index=range(len(where)), dtype=DATE_DTYPE)
    picked = values.iloc[np.where(where < 0, 0, where)].reset_index(drop=True)
    return picked.where(pd.Series(where >= 0), pd.NaT)


def _error_codes(trial: Trial) -> list[str]:
    return [c for c, r in trial_rules(trial).items() if r.severity == "error"]


def _assemble(
    frames: dict[str, pd.DataFrame], hits: dict[str, list[pd.DataFrame]], trial: Trial
) -> pd.DataFrame:
    out = []
    for rank, table in enumerate(trial.tables):
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
    f["severity"] = f["rule"].map({c: r.severity for c, r in trial_rules(trial).items()})
    f = f.sort_values(
        ["_rank", "trust", "source_file", "source_row", "field", "rule"],
        kind="stable",
        na_position="last",
    )
    f = f[list(FAILURE_COLUMNS)].reset_index(drop=True)
    return f.astype({c: "string" for c in FAILURE_COLUMNS if c != "source_row"}).astype(
        {"source_row": "Int64"}
    )
