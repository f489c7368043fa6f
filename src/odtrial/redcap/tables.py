"""The tables ``odtrial init`` plans from the project's forms, events and records.

The event holding the cluster field's form is the baseline: its row is the
participant, so every form it collects makes the ``participants`` table. Every other
form is a table of its rows at its other events (with the event and, for follow-ups,
the visit), every repeating instrument a table of its rows (with the instance), and
a form of an event that repeats whole a table of its rows at those events (with the
instance: each instance of the event is a record). A
classic project (no events) has the cluster field's form as the participants and
every other form as a table of the rows where it holds data (a form not started is
missing, not an empty required field), at the visit its dates give.
Required fields with branching logic get ``required_if`` (its translation) or
``required_if_unchecked``; a field of another form of the same row that the logic
names is added to the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from odtrial.data.canonical import PARTICIPANTS
from odtrial.data.conditions import render as render_condition
from odtrial.errors import ConfigError
from odtrial.redcap.branching import Target, Unevaluable, translate
from odtrial.redcap.clusters import ClusterRecord
from odtrial.redcap.dictionary import DictField, Dictionary
from odtrial.redcap.events import Event
from odtrial.redcap.fields import (
    CLUSTERS_VOCABULARY,
    EVENT_FIELD,
    EVENTS_VOCABULARY,
    INSTANCE_FIELD,
    VISIT_FIELD,
    FieldPlan,
    TablePlan,
    Vocabularies,
    check_pseudonymise,
    convert,
    field_name,
    is_date_of_birth,
)
from odtrial.redcap.options import InitOptions
from odtrial.redcap.records import EVENT, INSTANCE, INSTRUMENT, Records


def plan_tables(
    options: InitOptions,
    d: Dictionary,
    rec: Records,
    events: list[Event],
    baseline: list[Event],
    vocab: Vocabularies,
    record: ClusterRecord,
    warnings: list[str],
) -> dict[str, TablePlan]:
    header = set(rec.header)
    check_pseudonymise(options.pseudonymise, d, header, options.cluster_field, warnings)
    repeating = rec.repeating()
    whole = rec.repeating_events()  # events repeated whole (instance set, no instrument)
    twice = [e.name for e in baseline if e.name in whole]
    if twice:
        warnings.append(
            f"the baseline event {twice[0]} repeats whole: a record's second instance of it "
            "is queried duplicate_record"
        )
    classic = not events  # one row per record (and a row per repeat of an instrument)
    if classic:
        # the participant is the cluster field's form; every other form is a table of
        # its own rows, so that a form not yet started is missing, not a broken baseline
        base_forms: tuple[str, ...] = (d.field(options.cluster_field).form,)
        base_repeating = repeating.get("", set())
    else:
        base_forms = baseline[0].forms
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
        if classic:
            if form not in base_forms:
                rep = form in base_repeating
                tables[form] = _form_table(
                    form, [], rep, d, rec, names, fields_of, warnings, classic=True
                )
            continue
        later = [
            e
            for e in events
            if form in e.forms and e not in baseline and form not in repeating.get(e.name, ())
        ]
        at = [e for e in later if e.name not in whole]
        again = [e for e in later if e.name in whole]  # each instance of the event a record
        reps = [e for e in events if form in repeating.get(e.name, ())]
        if at:
            tables[form] = _form_table(form, at, False, d, rec, names, fields_of, warnings)
        for evs, instrument in ((reps, True), (again, False)):
            if evs:
                name = form if not at and not (reps and not instrument) else f"{form}_repeats"
                t = _form_table(
                    name, evs, True, d, rec, names, fields_of, warnings, form=form,
                    whole=not instrument,
                )  # fmt: skip
                tables[t.name] = t
        if not later and not reps and form not in base_forms and form not in base_repeating:
            warnings.append(f"form {form!r} is collected at no event: left out")
    if classic:
        consent = next(f.source for f in pfields if f.name == roles["consent_date"])
        for t in tables.values():
            if t.name != PARTICIPANTS and not t.repeating:
                _classic_visit(t, d, rec, consent, warnings)
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
    classic: bool = False,
    whole: bool = False,
) -> TablePlan:
    """A table of ``form``'s rows at ``events``: its own rows there (``repeating``: a
    repeating instrument's, with the instance; ``whole``: the rows of events that repeat
    whole, with the instance too)."""
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
    if len(key) > 1 or classic:  # a classic form: one record per record
        code = "duplicate_instance" if repeating else "duplicate_event"
        what = "record, event and instance" if repeating else "record and event"
        if len(key) == 1:
            code, what = "duplicate_record", "record"
        elif classic:
            what = "record and instance"
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
    where = _where(rec, events, form if repeating and not whole else "")
    desc = (
        f"Form {form}"
        + (" (repeating)" if repeating and not whole else "")
        + (f" at events {', '.join(e.name for e in events)}" if events else "")
        + (" (each repeats whole: a record per instance)" if whole else "")
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
        tuple(e.name for e in events),
        repeating,
        form=form,
        whole=whole,
    )


def _classic_visit(
    t: TablePlan, d: Dictionary, rec: Records, consent: str, warnings: list[str]
) -> None:
    """A classic project's form: a visit at the median time from consent to its dates,
    when that is a month or more (a constant ``visit``); else no visit (a form filled at
    consent, or undated)."""
    form = t.form
    cols = [
        f.name
        for f in d.form_fields(form)
        if f.validation.startswith("date")
        and not f.identifier
        and not is_date_of_birth(f)
        and f.name != consent
        and f.name in rec.header
    ]
    if not cols:
        return
    f = rec.frame
    rows = f[INSTRUMENT] == "" if INSTRUMENT in f.columns else pd.Series(True, index=f.index)
    month = rec.median_months(cols, rows, rec.dates(consent))  # consent: the same row
    if month is None or month < 1:
        return
    t.month = month
    visit = FieldPlan(
        VISIT_FIELD,
        "visit",
        "",
        True,
        label="Visit (months after consent)",
        constant=month,
        note=f"every record of the form is at month {month} (edit: the median time from "
        "consent to its dates)",
    )
    t.fields.insert(1, visit)
    t.roles = {"link": t.roles["link"], "visit": VISIT_FIELD} | t.roles
    warnings.append(
        f"form {form!r}: its visit, month {month}, is the median time from consent to its dates"
    )


def _participant_roles(
    options: InitOptions,
    d: Dictionary,
    fields: list[FieldPlan],
    record: ClusterRecord,
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
    f: FieldPlan, df: DictField, record: ClusterRecord, vocab: Vocabularies, warnings: list[str]
) -> None:
    """The cluster field as the trial reads it: text naming a cluster id, or choices
    whose codes or labels are cluster ids."""
    f.required, f.required_if = True, None
    ids = {c.casefold(): c for c in record.ids}
    if f.type == "code":
        mapped: dict[str, str] = {}
        # a choice naming no cluster is frozen as the others name theirs (by code or by
        # label), so its query quotes what the project calls it
        by_code = sum(c.code.casefold() in ids for c in df.choices) >= sum(
            c.label.casefold() in ids for c in df.choices
        )
        for c in df.choices:
            hit = ids.get(c.code.casefold()) or ids.get(c.label.casefold())
            if hit is None:
                warnings.append(
                    f"cluster choice {c.code} {c.label!r} is no cluster of the randomisation "
                    "record: its participants are queried unknown_cluster"
                )
            mapped[c.code] = hit or (c.code if by_code else c.label)
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
    if (t.repeating and not t.whole) or (events and not t.events) or not d.has(name):
        return False
    df = d.field(name)
    if not all(c in rec.header for c in df.columns):
        return False
    if not events:  # a classic project: every form but a repeating one is on the row
        if df.form in rec.repeating().get("", ()):
            return False
    else:
        at = [e for e in events if e.name in t.events]
        if not all(df.form in e.forms for e in at):
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
