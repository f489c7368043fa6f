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
  a record/event (and instance) may appear once (``unique`` rules).
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
- **Visits.** Each follow-up event is a visit at the month its name gives
  (:mod:`.events`), its window half the gap to the nearest other visit.
- **Clusters.** The randomisation record gives the arms, clusters, strata and
  the numeric balance variables; the cluster field names a cluster.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Final

import pandas as pd

from odtrial._io import RECORD, RECORD_SCHEMA, read_record, sha256_file
from odtrial.data.canonical import PARTICIPANTS
from odtrial.data.conditions import render as render_condition
from odtrial.errors import ConfigError
from odtrial.redcap import render as toml
from odtrial.redcap.branching import Target, Unevaluable, translate
from odtrial.redcap.dictionary import DictField, Dictionary, read_dictionary
from odtrial.redcap.events import Event, events_from, read_designations
from odtrial.redcap.fields import (
    CLUSTERS_VOCABULARY,
    EVENT_FIELD,
    EVENTS_VOCABULARY,
    INSTANCE_FIELD,
    VISIT_FIELD,
    FieldPlan,
    TablePlan,
    Vocabularies,
    convert,
    field_name,
)
from odtrial.redcap.records import (
    DAG,
    EVENT,
    INSTANCE,
    INSTRUMENT,
    Records,
    read_records,
)

KIND: Final = "a trial definition"
TRIAL_FILE: Final = "trial.toml"
_MAX_WINDOW: Final = 92  # days either side of a visit at most (about three months)


#: Fields init adds to a table besides the form's own.
@dataclass(frozen=True)
class InitOptions:
    """What ``odtrial init`` is told (see :func:`init`)."""

    dictionary: Path
    records: Path
    randomisation: Path
    cluster_field: str
    events: Path | None = None
    site_field: str = DAG
    consent_field: str | None = None
    data_cutoff: date | None = None
    name: str | None = None
    min_age: int = 18
    pseudonymise: tuple[str, ...] = ()
    test_key: str | None = None


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
    record = _record(options.randomisation, warnings)
    tables = _tables(options, d, rec, events, baseline_events, vocab, record, warnings)
    trusts, cluster_trust = _trusts(options, rec, dags, record, tables[PARTICIPANTS], warnings)
    visits = _visits([e for e in events if e not in baseline_events and e.month > 0])
    cutoff = _cutoff(options, rec, d, warnings)
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
        tuple(m for m, _ in visits),
        tuple(warnings),
    )


# ------------------------------------------------------------------------ events
def _events(options: InitOptions, d: Dictionary, rec: Records, warnings: list[str]) -> list[Event]:
    """The project's events (none for a classic project)."""
    if not rec.longitudinal:
        if options.events is not None:
            warnings.append("the records have no redcap_event_name: the designations are not used")
        return []
    if options.events is not None:
        rows = read_designations(options.events)
        unknown = sorted({f for _, _, f in rows} - set(d.forms))
        if unknown:
            raise ConfigError(
                f"{options.events}: names form {unknown[0]!r}, which the data dictionary lacks"
            )
        return _date_months(events_from(rows), d, rec, options, warnings)
    # no designations: the forms holding data in each event's rows
    warnings.append(
        "no --redcap-events: each event's forms are those holding data in its rows, and an "
        "event in the records that is not in the project cannot be told apart"
    )
    rows = []
    for e in rec.values(EVENT):
        sub = rec.frame[rec.frame[EVENT] == e]
        for form in d.forms:
            cols = [c for f in d.form_fields(form) for c in f.columns if c in sub.columns]
            blanks = {c: ("0",) if "___" in c else () for c in cols}
            if any(((sub[c] != "") & ~sub[c].isin(blanks[c])).any() for c in cols):
                rows.append((1, e, form))
    return _date_months(events_from(rows), d, rec, options, warnings)


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
    for e in unknown:
        if e.name in out:
            how, month = "the median time from consent to its forms' dates", out[e.name].month
        else:
            how, month = "its place in order", e.month
        warnings.append(f"event {e.name}: its name gives no month; month {month} is {how}")
    return [out.get(e.name, e) for e in events]


def _months_from_dates(
    unknown: list[Event], events: list[Event], d: Dictionary, rec: Records, consent: str
) -> dict[str, Event]:
    f = rec.frame

    def dates(col: str) -> pd.Series:
        return pd.to_datetime(f[col].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")

    start = dates(consent).groupby(f[d.record_id]).first()
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
        seen = pd.concat([dates(c)[rows] for c in cols], axis=1).bfill(axis=1).iloc[:, 0]
        gap = (seen - f.loc[rows, d.record_id].map(start)).dt.days.dropna()
        month = round(float(gap.median()) / 30.4375) if len(gap) else 0
        if month >= 1 and month not in taken:
            out[e.name] = replace(e, month=month, how="dates")
            taken.add(month)
    return out


def _visits(events: Sequence[Event]) -> list[tuple[int, int]]:
    """(month, window days) per follow-up month: half the gap to the nearest other visit
    (or to consent), at most three months."""
    months = sorted({e.month for e in events})
    out = []
    for i, m in enumerate(months):
        gaps = [m - (months[i - 1] if i else 0)]
        if i + 1 < len(months):
            gaps.append(months[i + 1] - m)
        out.append((m, max(1, min(_MAX_WINDOW, (28 * min(gaps) - 1) // 2))))
    return out


# ------------------------------------------------------------------------ tables
def _tables(
    options: InitOptions,
    d: Dictionary,
    rec: Records,
    events: list[Event],
    baseline: list[Event],
    vocab: Vocabularies,
    record: _Record,
    warnings: list[str],
) -> dict[str, TablePlan]:
    header = set(rec.header)
    repeating = rec.repeating()
    base_forms = (
        baseline[0].forms
        if baseline
        else tuple(f for f in d.forms if not any(f in s for s in repeating.values()))
    )
    base_repeating = {f for e in baseline for f in repeating.get(e.name, ())}
    base_forms = tuple(f for f in base_forms if f not in base_repeating)
    if d.field(options.cluster_field).form not in base_forms:
        raise ConfigError(
            f"--cluster-field {options.cluster_field!r} is on a repeating form; the cluster "
            "is a baseline field"
        )
    missing_cols: list[str] = []

    matrices: set[str] = set()

    def fields_of(forms: Sequence[str], taken: set[str]) -> list[FieldPlan]:
        out = []
        for form in forms:
            for f in d.form_fields(form):
                if f.name == d.record_id:
                    continue
                absent = [c for c in f.columns if c not in header]
                if absent:
                    missing_cols.append(f.name)
                    continue
                for plan in convert(f, taken, vocab, options.pseudonymise):
                    plan.branching = f.branching
                    if f.matrix and plan.type == "integer":  # say it once per matrix
                        plan.note = None if f.matrix in matrices else plan.note
                        matrices.add(f.matrix)
                    out.append(plan)
        return out

    tables: dict[str, TablePlan] = {}
    rid = FieldPlan(d.record_id, "string", d.record_id, True, label="REDCap record id")
    # participants: the baseline event's row
    # names the frozen participants table gives its own columns are taken too
    taken = {d.record_id, "cluster_id", record.strata_col, "stratum"}
    pfields = [rid, *fields_of(base_forms, taken)]
    roles = {"key": d.record_id}
    roles.update(_participant_roles(options, d, pfields, record, vocab, warnings))
    where = _where(rec, baseline, "")
    tables[PARTICIPANTS] = TablePlan(
        PARTICIPANTS,
        "The baseline record of each participant"
        + (f" (event {', '.join(e.name for e in baseline)})" if baseline else "")
        + f": forms {', '.join(base_forms)}",
        pfields,
        roles,
        where,
    )
    # other tables: each form at its other events; each repeating instrument
    names = {PARTICIPANTS}
    for form in d.forms:
        if not d.form_fields(form):
            continue
        at = [
            e
            for e in events
            if form in e.forms and e not in baseline and form not in repeating.get(e.name, ())
        ]
        reps = [e for e in events if form in repeating.get(e.name, ())] if events else []
        classic_rep = not events and form in repeating.get("", set())
        if at:
            tables[form] = _form_table(form, at, False, d, rec, names, fields_of, warnings)
        if reps or classic_rep:
            name = form if not at else f"{form}_repeats"
            tables[name] = _form_table(
                name, reps, True, d, rec, names, fields_of, warnings, form=form
            )
        if (
            not at
            and not reps
            and not classic_rep
            and form not in base_forms
            and form not in base_repeating
        ):
            warnings.append(f"form {form!r} is collected at no event: left out")
    for t in tables.values():

        def borrow(ref: str, t: TablePlan = t) -> bool:
            return _borrow(ref, t, d, rec, events, vocab)

        _requirements(t, warnings, borrow)
    if missing_cols:
        warnings.append(
            f"fields not in the records export, left out: {', '.join(dict.fromkeys(missing_cols))}"
        )
    return tables


def _where(rec: Records, events: Sequence[Event], instrument: str) -> dict[str, Any]:
    w: dict[str, Any] = {}
    if rec.longitudinal and events:
        w[EVENT] = [e.name for e in events] if len(events) > 1 else events[0].name
    if INSTRUMENT in rec.header:
        w[INSTRUMENT] = instrument
    return w


def _form_table(
    name: str,
    events: list[Event],
    repeating: bool,
    d: Dictionary,
    rec: Records,
    names: set[str],
    fields_of: Any,
    warnings: list[str],
    *,
    form: str | None = None,
) -> TablePlan:
    form = form or name
    tname = field_name(name, names)
    taken = {d.record_id, EVENT_FIELD, VISIT_FIELD, INSTANCE_FIELD}
    own = fields_of([form], taken)
    fields = [FieldPlan(d.record_id, "string", d.record_id, True, label="REDCap record id")]
    roles = {"link": d.record_id}
    followups = bool(events) and all(e.month > 0 for e in events)
    if events:
        fields.append(
            FieldPlan(
                EVENT_FIELD,
                "code",
                EVENT,
                True,
                vocabulary=EVENTS_VOCABULARY,
                label="REDCap event",
                redcap="event-name",
                kind="text",
            )
        )
    if followups:
        fields.append(
            FieldPlan(
                VISIT_FIELD,
                "visit",
                EVENT,
                True,
                label="Visit (months after consent)",
                codes={e.name: e.month for e in events},
            )
        )
        if not repeating:  # a repeating form's dates are its own (a fall), not the visit's
            roles["visit"] = VISIT_FIELD
    if repeating:
        fields.append(
            FieldPlan(INSTANCE_FIELD, "integer", INSTANCE, True, min=1, label="Repeat instance")
        )
    fields += own
    dates = [
        f
        for f in own
        if f.type == "date" and f.identifier is None and not f.name.startswith("date_of_birth")
    ]
    dated = next((f for f in dates if f.required), dates[0] if dates else None)
    notes = []
    if dated is not None:
        roles["date"] = dated.name
    key = (
        [d.record_id] + ([EVENT_FIELD] if events else []) + ([INSTANCE_FIELD] if repeating else [])
    )
    rules = []
    if len(key) > 1:
        code = "duplicate_instance" if repeating else "duplicate_event"
        what = "record, event and instance" if repeating else "record and event"
        rules.append(
            {
                "kind": "unique",
                "fields": key,
                "code": code,
                "description": f"The same {what} twice in the records export",
            }
        )
    filled = {f.source: list(f.blanks) for f in own}
    status = f"{form}_complete"
    if status in rec.header:
        filled[status] = ["0"]
        notes.append(
            f"A row is a record of {tname} when one of the form's columns holds a value "
            "(an unticked box, 0, and the status Incomplete, 0, do not count)."
        )
    where = _where(rec, events, form if repeating else "")
    if rec.repeating_events() & {e.name for e in events} and not repeating:
        warnings.append(f"events of form {form!r} repeat whole: their instances are not told apart")
    date_format = "native" if any(f.note and "date and time" in f.note for f in own) else "%Y-%m-%d"
    desc = (
        f"Form {form}"
        + (" (repeating)" if repeating else "")
        + (f" at events {', '.join(e.name for e in events)}" if events else "")
    )
    return TablePlan(
        tname,
        desc,
        fields,
        roles,
        where,
        filled,
        rules,
        notes,
        date_format,
        tuple(e.name for e in events),
        repeating,
    )


def _participant_roles(
    options: InitOptions,
    d: Dictionary,
    fields: list[FieldPlan],
    record: _Record,
    vocab: Vocabularies,
    warnings: list[str],
) -> dict[str, str]:
    by_redcap = {f.redcap: f for f in fields if f.redcap}
    roles: dict[str, str] = {}
    cl = by_redcap.get(options.cluster_field)
    if cl is None:
        raise ConfigError(
            f"--cluster-field {options.cluster_field!r} cannot name the cluster (an identifier, "
            "checkbox or file field, or not in the records export)"
        )
    _cluster_field(cl, d.field(options.cluster_field), record, vocab, warnings)
    roles["cluster"] = cl.name
    if options.consent_field is not None:
        c = by_redcap.get(options.consent_field)
        if c is None or c.type != "date":
            raise ConfigError(
                f"--consent-field {options.consent_field!r} is not a date field of the baseline forms"
            )
    else:
        dates = [
            f
            for f in fields
            if f.type == "date" and f.identifier is None and f.name != "date_of_birth"
        ]
        named = [
            f for f in dates if "consent" in f.name.lower() or "consent" in (f.label or "").lower()
        ]
        if not dates:
            raise ConfigError(
                "no date field on the baseline forms to be the consent date: give --consent-field"
            )
        c = next((f for f in named if f.required), named[0] if named else dates[0])
        if not named:
            warnings.append(
                f"no field named for consent: {c.redcap!r} is taken as the consent date "
                "(or give --consent-field)"
            )
    c.required, c.required_if, c.note = (
        True,
        None,
        (c.note or "the consent date: follow-up starts here"),
    )
    roles["consent_date"] = c.name
    dob = next((f for f in fields if f.name.startswith("date_of_birth") and f.type == "date"), None)
    if dob is not None:
        roles["date_of_birth"] = dob.name
    return roles


def _cluster_field(
    f: FieldPlan, df: DictField, record: _Record, vocab: Vocabularies, warnings: list[str]
) -> None:
    """The cluster field as the trial reads it: text naming a cluster id, or choices
    whose codes or labels are cluster ids."""
    f.required, f.required_if = True, None
    ids = {c.casefold(): c for c in record.ids}
    if f.type == "code":
        mapped: dict[str, str] = {}
        for c in df.choices:
            hit = ids.get(c.code.casefold()) or ids.get(c.label.casefold())
            if hit is None:
                warnings.append(
                    f"cluster choice {c.code} {c.label!r} is no cluster of the randomisation "
                    "record: its participants are queried unknown_cluster"
                )
            mapped[c.code] = hit or c.label
        vocab.fixed(CLUSTERS_VOCABULARY, list(dict.fromkeys(mapped.values())))
        f.vocabulary, f.codes = CLUSTERS_VOCABULARY, mapped
        f.note = "the recruiting cluster: each choice names a cluster of the randomisation record"
    elif f.type in ("string", "integer"):
        f.type, f.kind = "string", "text"
        f.min = f.max = None
        f.note = "the recruiting cluster: a cluster id of the randomisation record"
    else:
        raise ConfigError(f"--cluster-field {df.name!r} is a {f.type} field, not a cluster id")


def _borrow(
    ref: str, t: TablePlan, d: Dictionary, rec: Records, events: list[Event], vocab: Vocabularies
) -> bool:
    """Add to ``t`` the field ``ref`` of another form when every row ``t`` takes holds
    it (a form of the same events; forms of one event share a row), so that branching
    logic naming it can be evaluated; whether it was added."""
    name = ref.split("(")[0]
    if t.repeating or not t.events or not d.has(name):
        return False
    df = d.field(name)
    at = [e for e in events if e.name in t.events]
    if not all(df.form in e.forms for e in at) or not all(c in rec.header for c in df.columns):
        return False
    if any(df.form in rec.repeating().get(e.name, ()) for e in at):
        return False
    plans = convert(df, {f.name for f in t.fields}, vocab)
    for p in plans:
        p.required, p.note = (
            False,
            f"from form {df.form} (the same row): its branching logic names it",
        )
    t.fields += plans
    return bool(plans)


def _requirements(t: TablePlan, warnings: list[str], borrow: Callable[[str], bool]) -> None:
    """Required fields with branching logic: ``required_if`` or ``required_if_unchecked``."""
    by_redcap: dict[str, FieldPlan] = {f.redcap: f for f in t.fields if f.redcap}

    def resolve(ref: str) -> Target:
        f = by_redcap.get(ref)
        if f is None and borrow(ref):
            by_redcap.update({g.redcap: g for g in t.fields if g.redcap})
            f = by_redcap.get(ref)
        if f is None:
            raise Unevaluable(f"[{ref}] is not a field of table {t.name}")
        return Target(
            f.name, f.kind, {k: str(v) for k, v in f.codes.items()} if f.type == "code" else {}
        )

    role_fields = set(t.roles.values())
    for f in list(t.fields):
        logic = f.branching
        if not logic or not f.required or f.name in role_fields:
            continue
        try:
            cond = translate(logic, resolve)
        except Unevaluable as e:
            f.required, f.required_if_unchecked = False, logic
            f.note = (
                f"REDCap branching logic odtrial cannot evaluate ({e}): an empty value is a warning"
            )
            warnings.append(f"{t.name}.{f.name}: branching logic not evaluated ({e})")
            continue
        f.required, f.required_if = False, render_condition(cond)
        f.note = (f.note + "; " if f.note else "") + f"required when REDCap shows it: {logic}"


# ------------------------------------------------------------------------ clusters and sites
@dataclass(frozen=True)
class _Record:
    """What init takes from the randomisation record."""

    folder: Path
    head: str
    arms: tuple[str, str]
    id_col: str
    strata_col: str
    balance: tuple[str, ...]
    table: pd.DataFrame  # id, stratum, balance columns (+ the cluster table's others)

    @property
    def ids(self) -> list[str]:
        return self.table[self.id_col].tolist()


def _record(folder: Path, warnings: list[str]) -> _Record:
    from odtrial.randomise.log import LOG_FILE, verify_allocation

    if not Path(folder).is_dir():
        raise ConfigError(f"--randomisation {folder}: not a folder written by odtrial randomise")
    v = verify_allocation(folder)
    prm = v.parameters
    id_col, strata = str(prm["id"]), str(prm["strata"])
    balance = tuple(str(b) for b in prm["balance"])
    table = v.allocation.astype({id_col: str, strata: str})
    source = None
    for line in (Path(folder) / LOG_FILE).read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("event") == "inputs":
            source = entry["data"].get("source")
            break
    # the cluster table randomised: kept in the record's folder, or beside it
    found = [p / source for p in (Path(folder), Path(folder).parent) if source] if source else []
    found = [f for f in found if f.is_file()]
    if found:
        src = pd.read_csv(found[0], dtype=str, keep_default_na=False)
        table = table.drop(columns=[strata]).merge(src, on=id_col, how="left")
    else:  # no cluster table: the clusters and strata of allocation.csv, no balance values
        warnings.append(
            f"the cluster table the record randomised ({source or 'not named'}) is neither in "
            f"{folder} nor beside it: the clusters' balance variables are left out"
        )
        balance = ()
    return _Record(Path(folder), v.head, v.arms, id_col, strata, balance, table)


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def _trusts(
    options: InitOptions,
    rec: Records,
    dags: list[str],
    record: _Record,
    participants: TablePlan,
    warnings: list[str],
) -> tuple[list[str], dict[str, str]]:
    """The trusts (data access groups) and each cluster's trust."""
    ids = record.ids
    if not dags:
        return ["site"], {c: "site" for c in ids}
    by_norm = {_norm(g): g for g in dags}
    t = record.table
    skip = {record.id_col, *record.balance, "arm"}
    for col in [c for c in t.columns if c not in skip]:
        vals = t[col].astype(str)
        if len(vals) and all(_norm(v) in by_norm for v in vals):
            return sorted(dags), {
                c: by_norm[_norm(v)] for c, v in zip(t[record.id_col], vals, strict=True)
            }
    # else: where each cluster's participants are
    cl = next(f for f in participants.fields if f.name == participants.roles["cluster"])
    f = rec.frame
    base = participants.where.get(EVENT)
    if base is not None:
        f = f[f[EVENT].isin([base] if isinstance(base, str) else base)]
    values = f[cl.source].map(lambda v: str(cl.codes.get(v, v)))
    counts = pd.crosstab(values, f[options.site_field])
    out = {}
    for c in ids:
        if c in counts.index:
            out[c] = str(counts.loc[c].idxmax())
    strata = dict(zip(t[record.id_col], t[record.strata_col], strict=True))
    for c in ids:
        if c not in out:
            peers = [out[o] for o in ids if o in out and strata[o] == strata[c]]
            if not peers:
                raise ConfigError(
                    f"cannot tell which data access group cluster {c!r} belongs to (no "
                    "participant yet): add a column of data access group names to the "
                    "randomisation record's cluster table"
                )
            out[c] = peers[0]
    warnings.append(
        "each cluster's site is where its participants are (the cluster table has no "
        "column of data access group names)"
    )
    return sorted(dags), out


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
            s = pd.to_datetime(
                rec.frame[f.name].str.slice(0, 10), format="%Y-%m-%d", errors="coerce"
            )
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
    record: _Record,
    trusts: list[str],
    cluster_trust: dict[str, str],
    site: str | None,
    visits: list[tuple[int, int]],
    cutoff: date,
) -> str:
    lines: list[str] = []
    add = lines.append
    add("# Trial definition written by `odtrial init` from a REDCap project's exports:")
    add(f"#   data dictionary:  {_rel(options.dictionary, out)}")
    if options.events is not None:
        add(f"#   designations:     {_rel(options.events, out)}")
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
    follow_up = max((m for m, _ in visits), default=12)
    add(f"follow_up_months = {follow_up}" + ("  # the last visit" if visits else "  # edit"))
    how = "the records' export date" if options.data_cutoff is None and rec.export_date() else None
    add(f"data_cutoff = {cutoff.isoformat()}" + (f"  # edit: {how}" if how else ""))
    add("")
    add("[visits]")
    if visits:
        lines += toml.comment(
            "Each follow-up event is a visit, due at its month after consent and accepted "
            "up to window_days either side (half the gap to the nearest other visit; edit "
            "to the protocol's windows)."
        )
        items = []
        for m, w in visits:
            evs = [e for e in events if e.month == m]
            hows = {e.how for e in evs}
            note = f"events {', '.join(e.name for e in evs)}"
            if "order" in hows:
                note += ": edit: the month is the event's place in order (its name gives none)"
            elif "dates" in hows:
                note += ": edit: the month is the median time from consent to its forms' dates"
            elif hows & {"weeks", "days"}:
                note += ": its weeks or days rounded to months"
            items.append({"#": note, "month": m, "window_days": w})
        lines += ["schedule = " + toml.array_of_tables(items)[0], *toml.array_of_tables(items)[1:]]
    else:
        lines += toml.comment("edit: a classic project has no events; this visit is a placeholder")
        add("schedule = [{ month = 12, window_days = 92 }]")
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
    add(f"strata = {toml.inline({'column': record.strata_col, 'label': record.strata_col})}")
    if record.balance:
        add(f"balance = {toml.value([{'column': b, 'label': b} for b in record.balance])}")
    add("")
    add("[vocabularies]")
    if events:
        add(f"{EVENTS_VOCABULARY} = {toml.value([e.name for e in events])}")
    for vname, vals in vocab.values.items():
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
