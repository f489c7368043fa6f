"""``odtrial init``: a REDCap project's exports -> a trial definition that ingests them.

What it decides (each decision is written into ``trial.toml`` with a comment, so a
data manager can read and change it; ``docs/redcap.md`` says more):

- **Tables.** The event holding the cluster field's form is the baseline: its row
  is the participant, so every form it collects makes the ``participants`` table
  (keyed by the record id). Every other form becomes a table of its own with the
  rows of the events that collect it (a row where the form holds no value is no
  record of it: ``filled``), linked by the record id, with the event
  (``redcap_event``) and, when all its events are follow-ups, the visit. A
  repeating instrument is a table of its rows, with ``redcap_repeat_instance``;
  a record/event (and instance) may appear once (``unique`` rules). In a classic
  project (no events) the participants are the cluster field's form and every other
  form is a table of the rows where it holds data.
- **Fields.** Radio and dropdown fields become ``code`` fields whose vocabulary
  is their choices (codes -> slugs of the labels; fields with the same choices
  share one), but a matrix of numbered choices (a questionnaire's items) stays
  whole numbers; yes/no and true/false become booleans; a checkbox becomes one
  boolean per choice (``<field>_<code>``); text validation gives the type
  (integer, number, date; a date and time keeps its date) and ``min``/``max``;
  calculated fields are numbers; files and descriptive text are left out.
- **Required.** ``Required Field? = y`` is ``required``; with branching logic,
  ``required_if`` (its translation) or, when odtrial cannot evaluate it,
  ``required_if_unchecked`` (an empty value is then a warning).
- **Identifiers.** ``Identifier? = y`` fields never reach the freeze: an NHS
  number becomes ``nhs_number`` (checked, never frozen), a date of birth
  ``date_of_birth`` (frozen as age at consent), any other identifier is dropped
  (``identifier = "drop"``) unless named in ``pseudonymise``.
- **Sites.** Each data access group is a trust; all read the one records file,
  their rows told apart by the group (``where``); the cluster table's column of
  group names (or else the participants' records) says whose each cluster is.
- **Visits.** Each follow-up event is a visit at the month its day offset in the
  event definitions gives, else its name (:mod:`.events`), its window the event's
  (``offset_min`` before, ``offset_max`` after) or half the gap to the nearest other
  visit; a classic project's form dated a month or more after consent, at that
  month. With none, a placeholder visit at the longest follow-up the export holds,
  marked to edit. An event repeated whole is a table of its instances, like a
  repeating instrument.
- **Clusters.** The randomisation record gives the arms, clusters, strata and
  the numeric balance variables; the cluster field names a cluster.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Final

import pandas as pd

from odtrial._io import RECORD, RECORD_SCHEMA, read_record, sha256_file
from odtrial.data.canonical import PARTICIPANTS
from odtrial.errors import ConfigError
from odtrial.redcap import render as toml
from odtrial.redcap.clusters import ClusterRecord, cluster_sites, read_randomisation
from odtrial.redcap.dates import table_pattern
from odtrial.redcap.dictionary import Dictionary, read_dictionary
from odtrial.redcap.events import (
    DAYS_PER_MONTH,
    Event,
    events_from,
    is_definitions,
    offset_notes,
    read_definitions,
    read_designations,
    schedule,
    short_offset,
)
from odtrial.redcap.fields import (
    EVENTS_VOCABULARY,
    TablePlan,
    Vocabularies,
)
from odtrial.redcap.options import InitOptions
from odtrial.redcap.records import DAG, EVENT, SYSTEM_COLUMNS, Records, read_records
from odtrial.redcap.tables import plan_tables

KIND: Final = "a trial definition"
TRIAL_FILE: Final = "trial.toml"
_MAX_WINDOW: Final = 92  # days either side of a visit at most (about three months)


@dataclass(frozen=True)
class _Visit:
    """A visit to write: its month and window (days before and after its due date),
    and whether the window is REDCap's."""

    month: int
    before: int
    after: int
    redcap: bool = False


@dataclass(frozen=True)
class InitResult:
    """The definition written: its path, tables (name -> number of fields), sites,
    visits and what init could not decide for sure (also printed)."""

    path: Path
    tables: dict[str, int]
    trusts: tuple[str, ...]
    visits: tuple[int, ...]
    warnings: tuple[str, ...]


# ------------------------------------------------------------------------ entry point
def init(directory: str | Path, options: InitOptions) -> InitResult:
    """Write ``DIR/trial.toml`` from a REDCap project's exports.

    The definition is checked by the trial parser before it is written. An existing
    ``trial.toml`` is replaced only if ``odtrial init`` wrote it and it has not been
    edited since (the folder's record of odtrial's files says so); other files in
    the folder are never touched.

    Raises
    ------
    ConfigError
        An export cannot be read or is a labels export, the cluster field or the
        randomisation record does not fit the records, or ``trial.toml`` is not
        odtrial's to replace (one line each).
    """
    out = Path(directory)
    target = out / TRIAL_FILE
    _check_target(out)
    d = read_dictionary(options.dictionary)
    rec = read_records(options.records, d)
    text, result = build(out, options, d, rec)
    _write(out, text)
    return InitResult(target, *result)


def build(
    out: Path, options: InitOptions, d: Dictionary, rec: Records
) -> tuple[str, tuple[dict[str, int], tuple[str, ...], tuple[int, ...], tuple[str, ...]]]:
    """The definition's text and what it holds; checked by the trial parser."""
    warnings: list[str] = []
    if not d.has(options.cluster_field):
        raise ConfigError(
            f"--cluster-field {options.cluster_field!r} is not a field of the data dictionary"
        )
    options = _event_files(options, warnings)
    events = _events(options, d, rec, warnings)
    cluster_form = d.field(options.cluster_field).form
    baseline = [e for e in events if cluster_form in e.forms]
    if events and not baseline:
        raise ConfigError(
            f"--cluster-field {options.cluster_field!r} is on form {cluster_form!r}, which "
            "no event collects"
        )
    first = baseline[0] if baseline else None
    baseline_events = [e for e in events if first is not None and e.base == first.base]
    site = options.site_field if options.site_field in rec.header else None
    dags = rec.values(site) if site else []
    if site is None and options.site_field != DAG:
        raise ConfigError(f"--site-field {options.site_field!r} is not a column of the records")
    vocab = Vocabularies()
    record = read_randomisation(options.randomisation, warnings)
    tables = plan_tables(options, d, rec, events, baseline_events, vocab, record, warnings)
    if not rec.date_format.iso:
        for t in tables.values():
            cols = {f.source: rec.values(f.source) for f in t.fields if f.type == "date"}
            t.dates = table_pattern(rec.date_format, cols, t.name, str(rec.path))
            t.dates_how = ("" if rec.date_format.sure else "edit: ") + str(rec.date_format.how)
        if not rec.date_format.sure:
            warnings.append(f"date_format: {rec.date_format.how}")
    trusts, cluster_trust = cluster_sites(
        options, rec, dags, record, tables[PARTICIPANTS], warnings
    )
    given: dict[int, tuple[int, int]] = {}
    if events:
        months = {e.month for e in events if e not in baseline_events and e.month > 0}
        given = _redcap_windows(events, baseline_events, warnings)
    else:  # a classic project: the forms dated a month or more after consent
        months = {t.month for t in tables.values() if t.month}
    cutoff = _cutoff(options, rec, d, warnings)
    placeholder = None
    if not months:  # the definition needs a visit: the longest follow-up the export holds
        placeholder = _placeholder_month(rec, tables, cutoff)
        months = {placeholder}
        warnings.append(
            f"no event or form after baseline gives a visit month: the visit written (month "
            f"{placeholder}, from the first consent to the data cut-off) is a placeholder: "
            "edit [visits] and follow_up_months to the protocol's"
        )
    visits = _visits(sorted(months), given, warnings)
    text = _document(
        out,
        options,
        d,
        rec,
        events,
        tables,
        vocab,
        record,
        trusts,
        cluster_trust,
        site,
        visits,
        cutoff,
        placeholder,
    )
    import tomllib

    from odtrial.trial import parse_trial

    try:
        parse_trial(tomllib.loads(text), source=str(out / TRIAL_FILE), base=out)
    except ConfigError as e:  # a definition init wrote must parse: say what failed
        raise ConfigError(f"odtrial init wrote a definition that does not parse ({e})") from None
    return text, (
        {t.name: len(t.fields) for t in tables.values()},
        tuple(trusts),
        tuple(v.month for v in visits),
        tuple(warnings),
    )


# ------------------------------------------------------------------------ events
def _event_files(options: InitOptions, warnings: list[str]) -> InitOptions:
    """The event definitions given as ``--redcap-events`` (recognised by their columns)
    are read as ``--redcap-event-definitions``; the forms of each event are then those
    holding data in its rows."""
    if options.events is None or not is_definitions(options.events):
        return options
    if options.event_definitions is not None:
        raise ConfigError(
            f"--redcap-events {options.events} is the event definitions, and "
            "--redcap-event-definitions is given too: give the instrument designations "
            "(arm_num, unique_event_name, form) as --redcap-events"
        )
    warnings.append(
        f"--redcap-events {options.events.name} is the event definitions, not the instrument "
        "designations: read as --redcap-event-definitions (visit months and windows)"
    )
    return replace(options, events=None, event_definitions=options.events)


def _events(options: InitOptions, d: Dictionary, rec: Records, warnings: list[str]) -> list[Event]:
    """The project's events (none for a classic project)."""
    if not rec.longitudinal:
        if options.events is not None:
            warnings.append("the records have no redcap_event_name: the designations are not used")
        if options.event_definitions is not None:
            warnings.append(
                "the records have no redcap_event_name: the event definitions are not used"
            )
        return []
    if options.events is not None:
        rows = read_designations(options.events)
        unknown = sorted({f for _, _, f in rows} - set(d.forms))
        if unknown:
            raise ConfigError(
                f"{options.events}: names form {unknown[0]!r}, which the data dictionary lacks"
            )
    else:
        rows = _collected(d, rec, warnings)
    baseline_form = d.field(options.cluster_field).form
    scheduled = {}
    if options.event_definitions is not None:
        definitions = read_definitions(options.event_definitions)
        scheduled = schedule(definitions, rows, baseline_form)
    events = events_from(rows, scheduled, rec.repeating_events())
    if options.event_definitions is not None:
        warnings += offset_notes(events, baseline_form, {x.name for x in definitions})
    return _date_months(events, d, rec, options, warnings)


def _collected(d: Dictionary, rec: Records, warnings: list[str]) -> list[tuple[int, str, str]]:
    """No designations: the forms holding data in each event's rows."""
    warnings.append(
        "no --redcap-events: each event's forms are those holding data in its rows, and an "
        "event in the records that is not in the project cannot be told apart"
    )
    rows = []
    for e in rec.values(EVENT):
        sub = rec.frame[rec.frame[EVENT] == e]
        for form in d.forms:
            # the record id (the first form's first field) is on every row: it says
            # nothing of which forms the event collects
            cols = [
                c
                for f in d.form_fields(form)
                if f.name != d.record_id
                for c in f.columns
                if c in sub.columns and c not in SYSTEM_COLUMNS
            ]
            blanks = {c: ("0",) if "___" in c else () for c in cols}
            if any(((sub[c] != "") & ~sub[c].isin(blanks[c])).any() for c in cols):
                rows.append((1, e, form))
    return rows


def _date_months(
    events: list[Event], d: Dictionary, rec: Records, options: InitOptions, warnings: list[str]
) -> list[Event]:
    """Events whose names give no month: the median time from consent to the dates of
    their forms, in whole months, where the records say (else their place in order)."""
    unknown = [e for e in events if e.how == "order"]
    consent = options.consent_field or next(
        (
            f.name
            for f in d.fields
            if f.validation.startswith("date") and "consent" in f"{f.name} {f.label}".lower()
        ),
        None,
    )
    out: dict[str, Event] = {}
    if unknown and consent is not None and consent in rec.header:
        out = _months_from_dates(unknown, events, d, rec, consent)
    final = [out.get(e.name, e) for e in events]
    short = {e.name: note for e in final if (note := short_offset(e)) is not None}
    warnings += short.values()  # each a line of its own, saying what init did
    for e in events:
        if e.how == "repeats" and e.name not in short:
            warnings.append(
                f"event {e.name} repeats whole and gives no month (by its name or day_offset): "
                "no scheduled visit (its forms' tables have no visit)"
            )
    for e in unknown:
        if e.name in short:
            continue
        if e.name in out:
            how, month = "the median time from consent to its forms' dates", out[e.name].month
        else:
            how, month = "its place in order", e.month
        warnings.append(f"event {e.name}: its name gives no month; month {month} is {how}")
    return final


def _months_from_dates(
    unknown: list[Event], events: list[Event], d: Dictionary, rec: Records, consent: str
) -> dict[str, Event]:
    f = rec.frame
    start = f[d.record_id].map(rec.dates(consent).groupby(f[d.record_id]).first())
    taken = {e.month for e in events if e.how != "order"}
    out: dict[str, Event] = {}
    for e in unknown:
        cols = [
            x.name
            for form in e.forms
            for x in d.form_fields(form)
            if x.validation.startswith("date")
            and not x.identifier
            and x.name != consent
            and x.name in rec.header
        ]
        rows = f[EVENT] == e.name
        if not cols or not rows.any():
            continue
        month = rec.median_months(cols, rows, start) or 0
        if month >= 1 and month not in taken:
            out[e.name] = replace(e, month=month, how="dates")
            taken.add(month)
    return out


def _redcap_windows(
    events: list[Event], baseline: list[Event], warnings: list[str]
) -> dict[int, tuple[int, int]]:
    """Visit month -> the window (days before, after) the event definitions give its
    events; events of one month with different windows: the widest of each side."""
    by_month: dict[int, dict[tuple[int, int], list[str]]] = {}
    for e in events:
        if e.window is not None and e not in baseline and e.month > 0:
            by_month.setdefault(e.month, {}).setdefault(e.window, []).append(e.name)
    out = {}
    for m, windows in by_month.items():
        out[m] = (max(b for b, _ in windows), max(a for _, a in windows))
        if len(windows) > 1:
            said = "; ".join(
                f"{', '.join(n)} {b} before, {a} after" for (b, a), n in windows.items()
            )
            warnings.append(
                f"the events of month {m} have different windows ({said}): the widest of "
                f"each side written, {out[m][0]} days before and {out[m][1]} after"
            )
    return out


def _visits(
    months: Sequence[int], given: Mapping[int, tuple[int, int]], warnings: list[str]
) -> list[_Visit]:
    """The visits of the follow-up months (ascending): each with REDCap's window where
    ``given``, else half the gap to the nearest other visit (or to consent) either side,
    at most three months, and clear of a REDCap window next to it. Windows that would
    overlap (a month is at least 28 days, as the trial parser counts) are narrowed to
    share the gap."""
    out: list[_Visit] = []
    for i, m in enumerate(months):
        if m in given:
            out.append(_Visit(m, *given[m], redcap=True))
            continue
        prev, nxt = (months[i - 1] if i else 0), (months[i + 1] if i + 1 < len(months) else None)
        gaps = [m - prev] + ([nxt - m] if nxt is not None else [])
        w = min(_MAX_WINDOW, (28 * min(gaps) - 1) // 2)
        if prev in given:
            w = min(w, 28 * (m - prev) - 1 - given[prev][1])
        if nxt is not None and nxt in given:
            w = min(w, 28 * (nxt - m) - 1 - given[nxt][0])
        out.append(_Visit(m, max(1, w), max(1, w)))
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        limit = 28 * (b.month - a.month) - 1
        x, y = a.after, b.before
        if x + y <= limit:
            continue
        if x <= limit // 2:
            y = limit - x
        elif y <= limit - limit // 2:
            x = limit - y
        else:
            x, y = limit // 2, limit - limit // 2
        warnings.append(
            f"the windows of the {a.month}- and {b.month}-month visits ({a.after} days after, "
            f"{b.before} before) may overlap: narrowed to {x} and {y} days"
        )
        out[i], out[i + 1] = replace(a, after=x), replace(b, before=y)
    return out


def _placeholder_month(rec: Records, tables: dict[str, TablePlan], cutoff: date) -> int:
    """Whole months from the first consent to the data cut-off (at least 1): no visit
    can be later in this export."""
    p = tables[PARTICIPANTS]
    consent = next(f.source for f in p.fields if f.name == p.roles["consent_date"])
    first = rec.dates(consent).min()
    if pd.isna(first):
        return 1
    return max(1, int((pd.Timestamp(cutoff) - first).days // DAYS_PER_MONTH))


def _cutoff(options: InitOptions, rec: Records, d: Dictionary, warnings: list[str]) -> date:
    if options.data_cutoff is not None:
        return options.data_cutoff
    stamp = rec.export_date()
    if stamp is not None:
        return stamp
    today = date.today()
    latest = None
    for f in d.fields:
        if f.validation.startswith(("date_", "datetime_")) and f.name in rec.header:
            s = rec.dates(f.name)
            s = s[s.notna() & (s <= pd.Timestamp(today))]
            if len(s):
                m = s.max().date()
                latest = m if latest is None or m > latest else latest
    warnings.append("the data cut-off is a guess (the latest date in the records): edit it")
    return latest or today


# ------------------------------------------------------------------------ the text
def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()


def _document(
    out: Path,
    options: InitOptions,
    d: Dictionary,
    rec: Records,
    events: list[Event],
    tables: dict[str, TablePlan],
    vocab: Vocabularies,
    record: ClusterRecord,
    trusts: list[str],
    cluster_trust: dict[str, str],
    site: str | None,
    visits: list[_Visit],
    cutoff: date,
    placeholder: int | None,
) -> str:
    lines: list[str] = []
    add = lines.append
    add("# Trial definition written by `odtrial init` from a REDCap project's exports:")
    add(f"#   data dictionary:  {_rel(options.dictionary, out)}")
    if options.events is not None:
        add(f"#   designations:     {_rel(options.events, out)}")
    if options.event_definitions is not None:
        add(f"#   event definitions: {_rel(options.event_definitions, out)}")
    add(f"#   records:          {_rel(options.records, out)}")
    add(f"#   randomisation:    {_rel(record.folder, out)} (the record odtrial randomise wrote)")
    lines += toml.comment(
        "Edit it as the trial needs: `odtrial init` does not overwrite it once it has "
        "changed. What init decided and how to change it: docs/redcap.md; lines marked "
        "'edit:' are guesses to check."
    )
    add("")
    add("[trial]")
    name = options.name or _project_name(rec.path)
    add(f"name = {toml.value(name)}" + ("" if options.name else "  # edit: the trial's name"))
    add('registration = ""  # edit: e.g. the ISRCTN number')
    if options.test_key is not None:
        add("synthetic = true")
    add(
        f"arms = {toml.value(list(record.arms))}  # from the randomisation record, intervention first"
    )
    follow_up = visits[-1].month
    add(
        f"follow_up_months = {follow_up}"
        + ("  # edit: a placeholder" if placeholder else "  # the last visit")
    )
    how = "the records' export date" if options.data_cutoff is None and rec.export_date() else None
    add(f"data_cutoff = {cutoff.isoformat()}" + (f"  # edit: {how}" if how else ""))
    add("")
    add("[visits]")
    if placeholder is not None:
        lines += toml.comment(
            "edit: a placeholder: no event or form after baseline gives a visit month, and a "
            "definition needs one. This one is the longest follow-up the export holds (the "
            "first consent to the data cut-off); put the protocol's visits here."
        )
    elif any(e.how == "offset" for e in events):
        lines += toml.comment(
            "Each follow-up event is a visit, due at its month after consent: its day_offset "
            "after the baseline event in REDCap's event definitions, in months of "
            f"{DAYS_PER_MONTH} days (365.25 / 12), rounded. A record is accepted from "
            "window_before_days before to window_after_days after (window_days: either "
            "side): REDCap's offset_min and offset_max, or where REDCap sets none, half the "
            "gap to the nearest other visit (edit to the protocol's windows)."
        )
    else:
        lines += toml.comment(
            f"Each follow-up {'event' if events else 'form'} is a visit, due at its month "
            "after consent and accepted up to window_days either side (half the gap to the "
            "nearest other visit; edit to the protocol's windows)."
        )
    items = []
    for v in visits:
        m = v.month
        note = None
        if events and placeholder is None:
            evs = [e for e in events if e.month == m]
            hows = {e.how for e in evs}
            note = f"events {', '.join(e.name for e in evs)}"
            if "offset" in hows:
                note += ": " + _offset_note(evs, v)
            elif "order" in hows:
                note += ": edit: the month is the event's place in order (its name gives none)"
            elif "dates" in hows:
                note += ": edit: the month is the median time from consent to its forms' dates"
            elif hows & {"weeks", "days"}:
                note += ": its weeks or days rounded to months"
        elif placeholder is None:
            forms = [t.form for t in tables.values() if t.month == m]
            note = (
                f"forms {', '.join(forms)}: edit: the month is the median time from consent "
                "to their dates"
            )
        item: dict[str, object] = {"#": note} if note else {}
        item["month"] = m
        if v.before == v.after:
            item["window_days"] = v.before
        else:
            item |= {"window_before_days": v.before, "window_after_days": v.after}
        item |= {"placeholder": True} if placeholder is not None else {}  # check fails on it
        items.append(item)
    lines += [
        "schedule = " + toml.array_of_tables(items)[0],
        *toml.array_of_tables(items)[1:],
    ]
    add("")
    add("[eligibility]")
    add(f"min_age = {options.min_age}  # edit: completed years at consent (younger: a warning)")
    add("")
    add("[pseudonymisation]")
    add('key_env = "ODTRIAL_PSEUDONYM_KEY"  # or odtrial ingest --key-file')
    if options.test_key is not None:
        add(f"test_key = {toml.value(options.test_key)}  # a synthetic project's public key")
    add("")
    add("[randomisation]")
    add(f"record = {toml.value(_rel(record.folder, out))}")
    stratum_key = "stratum" if record.strata_col == "trust" else record.strata_col
    labelled = {"column": record.strata_col, "label": _readable(record.strata_col)}
    add(f"strata = {toml.inline(labelled)}  # edit: the label the report shows")
    if record.balance:
        balance = [{"column": b, "label": _readable(b)} for b in record.balance]
        add(f"balance = {toml.value(balance)}  # edit: the labels the report shows")
    add("")
    add("[vocabularies]")
    if events:
        add(f"{EVENTS_VOCABULARY} = {toml.value([e.name for e in events])}")
    # only those a field reads: the cluster field's choices became the clusters
    used = {f.vocabulary for t in tables.values() for f in t.fields}
    for vname, vals in vocab.values.items():
        if vname in used:
            add(f"{toml.key(vname)} = {toml.value(vals)}")
    for t in tables.values():
        add("")
        lines += toml.table_text(t)
    for tr in trusts:
        add("")
        add("[[trusts]]")
        add(f"id = {toml.value(tr)}")
        add(f"name = {toml.value(tr)}" + ("  # edit: the site's name" if site else ""))
        add(f"directory = {toml.value(_rel(options.records.parent, out))}")
    strata: dict[str, str] = {}
    ct = record.table
    for c, s in zip(ct[record.id_col], ct[record.strata_col], strict=True):
        owner = cluster_trust[c]
        if strata.setdefault(s, owner) != owner:
            raise ConfigError(
                f"stratum {s!r} of the randomisation record holds clusters of two sites "
                f"({strata[s]}, {owner}); a stratum belongs to one site"
            )
    for s, owner in sorted(strata.items()):
        add("")
        add("[[strata]]")
        add(f"id = {toml.value(s)}")
        add(f"trust = {toml.value(owner)}")
    for row in ct.sort_values(record.id_col).itertuples(index=False):
        r = dict(zip(ct.columns, row, strict=True))
        add("")
        add("[[clusters]]")
        add(f"id = {toml.value(str(r[record.id_col]))}")
        add(f"{toml.key(stratum_key)} = {toml.value(str(r[record.strata_col]))}")
        for b in record.balance:
            add(f"{toml.key(b)} = {toml.value(_number(r.get(b), b))}")
    records_name = options.records.name
    pattern = re.sub(r"\d{4}-\d{2}-\d{2}_\d{4}", "*", records_name)
    first = trusts[0]
    for t in tables.values():
        for tr in trusts:
            add("")
            lines += toml.extract_text(t, tr, first, site, pattern)
    return "\n".join(lines) + "\n"


def _offset_note(events: list[Event], v: _Visit) -> str:
    """Where a visit's month and window come from in REDCap's event definitions."""
    days = sorted({e.days for e in events if e.how == "offset" and e.days is not None})
    said = " and ".join(f"{d:g}" for d in days)
    note = f"REDCap's event definitions: day {said} after the baseline event"
    windows = {e.window for e in events if e.how == "offset" and e.window is not None}
    if not v.redcap:
        return note + "; REDCap sets no window (offset_min and offset_max 0): half the gap"
    b, a = max(w[0] for w in windows), max(w[1] for w in windows)
    note += f", offset_min {b} and offset_max {a} days"
    if (b, a) != (v.before, v.after):
        note += ", narrowed so as not to overlap a neighbouring visit's window"
    return note


def _readable(column: str) -> str:
    """A label from a column name (``pct_over80`` -> ``Pct over80``), for the user to
    replace: the randomisation record names its columns only."""
    text = column.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _project_name(path: Path) -> str:
    m = re.match(r"(.+?)_DATA_", path.name)
    return (m[1] if m else path.stem).replace("_", " ")


def _number(v: Any, column: str) -> int | float:
    try:
        x = float(str(v))
    except ValueError:
        raise ConfigError(f"balance column {column!r} holds {v!r}, not a number") from None
    return int(x) if x.is_integer() else x


# ------------------------------------------------------------------------ writing
def _check_target(out: Path) -> None:
    """Refuse a ``trial.toml`` odtrial did not write, or one edited since."""
    target = out / TRIAL_FILE
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file, not a folder")
    if not target.exists():
        return
    record = read_record(out, error=ConfigError)
    written = (record or {}).get("files", {})
    if TRIAL_FILE not in written:
        raise ConfigError(
            f"{target}: exists and was not written by odtrial; refusing to replace it "
            "(move it away or choose another folder)"
        )
    if sha256_file(target) != written[TRIAL_FILE]:
        raise ConfigError(
            f"{target}: was edited since odtrial init wrote it; refusing to replace your "
            "edits (move it away to write a new one)"
        )


def _write(out: Path, text: str) -> None:
    """Write ``trial.toml`` (atomically) and note it in the folder's record."""
    out.mkdir(parents=True, exist_ok=True)
    mask = os.umask(0)
    os.umask(mask)
    _replace(out / TRIAL_FILE, text.encode("utf-8"), mask)
    record = read_record(out, error=ConfigError) or {
        "schema": RECORD_SCHEMA,
        "kind": KIND,
        "note": "the files odtrial wrote here; any other file is yours and is kept on re-runs",
        "files": {},
    }
    record["files"][TRIAL_FILE] = sha256_file(out / TRIAL_FILE)
    body = json.dumps(record, indent=1, sort_keys=True) + "\n"
    _replace(out / RECORD, body.encode("utf-8"), mask)


def _replace(path: Path, data: bytes, mask: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
