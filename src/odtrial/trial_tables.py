"""The ``[vocabularies]`` and ``[tables.<name>]`` parts of a trial definition.

A trial declares its own tables (only ``participants`` is required), their
fields and types, the participant key and how every other table links to a
participant, its event date and visit fields, and rules of generic kinds
(:data:`odtrial.data.catalogue.RULE_KINDS`). See ``docs/onboarding.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any, Final

from odtrial._toml import TomlReader, suggest
from odtrial.data.canonical import (
    BUILTIN_VOCABULARIES,
    IDENTIFIER_ACTIONS,
    PARTICIPANTS,
    Field,
    RuleSpec,
    TableSpec,
)
from odtrial.data.catalogue import RULE_KINDS, RULES
from odtrial.data.conditions import ConditionError, check, parse

#: Declared field types -> (storage kind, vocabulary); ``nhs_number`` is a string and
#: ``code`` takes the field's own ``vocabulary`` (the None here is replaced).
FIELD_TYPES: Final[dict[str, tuple[str, str | None]]] = {
    "string": ("str", None),
    "integer": ("int", None),
    "number": ("float", None),
    "date": ("date", None),
    "boolean": ("code", "yes_no"),
    "code": ("code", None),
    "visit": ("code", "visit"),
    "drug": ("code", "drug"),
    "nhs_number": ("str", None),
}
#: A field's keys, in the order odtrial writes them (the synthetic trials, odtrial init).
FIELD_KEYS: Final = (
    "name",
    "type",
    "required",
    "vocabulary",
    "min",
    "max",
    "unit",
    "label",
    "identifier",
    "required_if",
    "required_if_unchecked",
    "free_text",
)
PARTICIPANT_ROLES: Final = ("key", "consent_date", "cluster", "date_of_birth", "practice")
EVENT_ROLES: Final = ("link", "date", "visit")
TABLE_KEYS: Final = {"description", "fields", "rules", *PARTICIPANT_ROLES, *EVENT_ROLES}
#: Names the freeze gives its own columns: no declared field may take them.
RESERVED: Final = (
    "participant_id",
    "arm",
    "age_at_consent",
    "practice_cluster_id",
    "trust",
    "source_file",
    "source_row",
)
_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")


def parse_vocabularies(v: TomlReader) -> dict[str, tuple[Any, ...]]:
    """``[vocabularies]``: name -> its canonical values (strings or integers)."""
    out: dict[str, tuple[Any, ...]] = {}
    for name in v.data:
        if name in BUILTIN_VOCABULARIES:
            v.report(name, f"is a built-in vocabulary ({', '.join(BUILTIN_VOCABULARIES)})")
            continue
        values = v.value(name, list)
        if values is None:
            continue
        if not values or not all(
            isinstance(x, str | int) and not isinstance(x, bool) for x in values
        ):
            v.report(name, "must be a non-empty list of codes (strings or whole numbers)")
        elif len(set(values)) != len(values):
            v.report(name, "lists a code twice")
        else:
            out[name] = tuple(values)
    return out


def parse_tables(top: TomlReader, vocabularies: Mapping[str, Any]) -> dict[str, TableSpec]:
    """``[tables.<name>]``: every declared table, participants first."""
    tr = top.sub("tables")
    if PARTICIPANTS not in tr.data:
        tr.report(PARTICIPANTS, "is missing (every trial declares its participants table)")
    out: dict[str, TableSpec] = {}
    for name in [PARTICIPANTS, *(n for n in tr.data if n != PARTICIPANTS)]:
        if name not in tr.data:
            continue
        with tr.guard():
            if not _NAME.fullmatch(name):
                raise tr.fail(name, "must be a lower-case name (letters, digits, _)")
            out[name] = _parse_table(tr.sub(name), name, vocabularies)
    participants = out.get(PARTICIPANTS)
    for name, t in out.items():
        if t.is_participants or participants is None:
            continue
        if t.link is not None and t.link not in participants.names:
            tr.report(
                f"{name}.link",
                f"names {t.link!r}, not a field of the participants table "
                f"({', '.join(participants.names)})",
            )
        elif t.link is not None:
            pf = participants.field(t.link)
            if t.link != participants.key and not (pf.nhs or pf.identifier):
                tr.report(
                    f"{name}.link",
                    f"names participants field {t.link!r}, which identifies no participant "
                    "(link by the participants key, an NHS number or an identifier field)",
                )
        for i, r in enumerate(t.rules):
            if r.kind == "foreign_key":
                _check_reference(tr, f"{name}.rules[{i}]", r, out)
    if participants is not None:
        flags = sorted(
            {t.link for t in out.values() if t.link not in (None, participants.key)}
            & set(participants.names)
        )
        for f in flags:
            if f"has_{f}" in participants.names:
                tr.report(
                    f"{PARTICIPANTS}.fields", f"names a field has_{f}, a column odtrial writes"
                )
        out[PARTICIPANTS] = replace(participants, link_flags=tuple(flags))
    return out


def _parse_table(r: TomlReader, name: str, vocabularies: Mapping[str, Any]) -> TableSpec:
    r.unknown_keys(TABLE_KEYS)
    fields: list[Field] = []
    seen: set[str] = set()
    for fr in r.items("fields"):
        with fr.guard():
            f = _parse_field(fr, vocabularies)
            if f.name in seen:
                fr.report("name", f"repeats field {f.name!r}")
            seen.add(f.name)
            fields.append(f)
    if not fields:
        raise r.fail("fields", "must declare at least one field")
    by_name = {f.name: f for f in fields}
    for i, f in enumerate(fields):
        if f.required_if is not None:
            for problem in check(f.required_if, by_name):
                r.report(f"fields[{i}].required_if", problem)

    def role(k: str, *, required: bool, kinds: tuple[str, ...] = ()) -> str | None:
        v = r.value(k, str, ... if required else None)
        if v is None:
            return None
        if v not in by_name:
            r.report(k, f"names {v!r}, not a field of this table{suggest(v, sorted(by_name))}")
            return None
        if kinds and by_name[v].kind not in kinds:
            r.report(k, f"names {v!r}, a {by_name[v].kind} field (must be {' or '.join(kinds)})")
        return v

    participants = name == PARTICIPANTS
    for k in EVENT_ROLES if participants else PARTICIPANT_ROLES:
        if k in r.data:
            r.report(
                k,
                "is not used for the participants table"
                if participants
                else "is only used for the participants table",
            )
    if participants:
        spec = TableSpec(
            name,
            tuple(fields),
            r.value("description", str, ""),
            key=role("key", required=True, kinds=("str", "int")),
            consent_date=role("consent_date", required=True, kinds=("date",)),
            cluster=role("cluster", required=True, kinds=("str", "int", "code")),
            date_of_birth=role("date_of_birth", required=False, kinds=("date",)),
            practice=role("practice", required=False, kinds=("str",)),
        )
    else:
        visit = role("visit", required=False)
        if visit is not None and by_name[visit].vocab != "visit":
            r.report("visit", f"names {visit!r}, which is not of type visit")
        spec = TableSpec(
            name,
            tuple(fields),
            r.value("description", str, ""),
            link=role("link", required=True),
            date=role("date", required=False, kinds=("date",)),
            visit=visit,
        )
    rules = []
    if "rules" in r.data:
        for i, rr in enumerate(r.items("rules")):
            with rr.guard():
                rules.append(_parse_rule(rr, spec, i))
    for k in ("key", "consent_date", "cluster", "link"):
        v = getattr(spec, k)
        if v is not None and not by_name[v].required:
            r.report(k, f"names {v!r}, which must be a required field")
    return replace(spec, rules=tuple(rules))


def _parse_field(r: TomlReader, vocabularies: Mapping[str, Any]) -> Field:
    r.unknown_keys(set(FIELD_KEYS))
    name = r.get("name", str)
    if not _NAME.fullmatch(name):
        raise r.fail("name", f"{name!r} must be a lower-case name (letters, digits, _)")
    if name in RESERVED:
        raise r.fail("name", f"{name!r} is a column odtrial writes ({', '.join(RESERVED)})")
    ftype = r.get("type", str)
    if ftype not in FIELD_TYPES:
        raise r.fail(
            "type",
            f"must be one of {', '.join(FIELD_TYPES)}, got {ftype!r}{suggest(ftype, list(FIELD_TYPES))}",
        )
    kind, vocab = FIELD_TYPES[ftype]
    if ftype == "code":
        vocab = r.get("vocabulary", str)
        if vocab not in vocabularies:
            raise r.fail(
                "vocabulary",
                f"names {vocab!r}, not a vocabulary of [vocabularies]"
                f"{suggest(vocab, sorted(vocabularies))}",
            )
    elif "vocabulary" in r.data:
        r.report("vocabulary", f"is only used for type code (this field is {ftype})")
    bounds: dict[str, Any] = {}
    for k in ("min", "max"):
        if k not in r.data:
            continue
        if kind == "date":
            bounds[k] = r.value(k, date)
        elif kind in ("int", "float"):
            bounds[k] = r.value(k, float)
        else:
            r.report(k, f"is only used for integer, number and date fields (this one is {ftype})")
    if bounds.get("min") is not None and bounds.get("max") is not None:
        if bounds["min"] > bounds["max"]:
            r.report("max", f"is below min ({bounds['min']})")
    ident = r.value("identifier", str, None)
    if ident is not None and ident not in IDENTIFIER_ACTIONS:
        r.report("identifier", f"must be one of {', '.join(IDENTIFIER_ACTIONS)}, got {ident!r}")
        ident = None
    required = bool(r.value("required", bool, True))
    condition = None
    text = r.value("required_if", str, None)
    if text is not None:
        try:
            condition = parse(text)
        except ConditionError as e:
            r.report("required_if", f"is not a condition: {e}")
    unchecked = r.value("required_if_unchecked", str, None)
    if unchecked is not None and not unchecked.strip():
        r.report("required_if_unchecked", "must not be empty")
    for k in ("required_if", "required_if_unchecked"):
        if k in r.data and r.data.get("required") is True:
            r.report(k, "is for a field that is not always required (required = false)")
    if "required_if" in r.data and "required_if_unchecked" in r.data:
        r.report("required_if_unchecked", "cannot be used with required_if: keep one")
    if "required_if" in r.data or "required_if_unchecked" in r.data:
        required = False
    free_text = bool(r.value("free_text", bool, False))
    if free_text and ftype != "string":
        r.report("free_text", f"is only used for string fields (this one is {ftype})")
        free_text = False
    return Field(
        name=name,
        kind=kind,  # type: ignore[arg-type]  # FIELD_TYPES holds Kind values
        required=required,
        vocab=vocab,
        nhs=ftype == "nhs_number",
        identifier=ident,
        min=bounds.get("min"),
        max=bounds.get("max"),
        unit=r.value("unit", str, None),
        label=r.value("label", str, None),
        required_if=condition,
        required_if_unchecked=unchecked,
        free_text=free_text,
    )


def _parse_rule(r: TomlReader, t: TableSpec, i: int) -> RuleSpec:
    kind_name = r.get("kind", str)
    kind = RULE_KINDS.get(kind_name)
    if kind is None:
        raise r.fail(
            "kind",
            f"must be one of {', '.join(RULE_KINDS)}, got {kind_name!r}"
            f"{suggest(kind_name, list(RULE_KINDS))}",
        )
    r.unknown_keys({"kind", "code", "severity", "description", *kind.required, *kind.optional})
    code = r.value("code", str, kind.code)
    if code is not None and not _NAME.fullmatch(code):
        r.report("code", f"{code!r} must be a lower-case name (letters, digits, _)")
    # default severity: a built-in code's, else the kind's own code's
    builtin = RULES.get(code or "") or RULES[kind.code]
    severity = r.value("severity", str, builtin.severity)
    if severity not in ("error", "warning"):
        r.report("severity", f"must be error or warning, got {severity!r}")
        severity = "error"
    params: dict[str, Any] = {}
    names = set(t.names)
    for p in kind.required:
        v = r.value(p, list if p == "fields" else str)
        if v is None:
            continue
        if p in ("table", "column"):
            params[p] = v  # checked against the other tables once all are read
            continue
        for fname in v if isinstance(v, list) else [v]:
            if fname not in names:
                r.report(
                    p, f"names {fname!r}, not a field of this table{suggest(fname, sorted(names))}"
                )
        params[p] = tuple(v) if isinstance(v, list) else v
    for p in ("earlier", "later", "start", "end"):
        if p in params and params[p] in names and t.field(params[p]).kind != "date":
            r.report(p, f"names {params[p]!r}, which is not a date field")
    if kind_name == "one_per_visit" and t.visit is None:
        r.report("kind", "one_per_visit needs the table's visit field (key 'visit')")
    return RuleSpec(
        kind_name,
        code or kind.code,
        "warning" if severity == "warning" else "error",
        {**params, "description": r.value("description", str, "")},
    )


def _check_reference(
    tr: TomlReader, where: str, r: RuleSpec, tables: Mapping[str, TableSpec]
) -> None:
    other = tables.get(str(r.params.get("table")))
    if other is None:
        tr.report(
            f"{where}.table",
            f"names {r.params.get('table')!r}, not a declared table"
            f"{suggest(str(r.params.get('table')), sorted(tables))}",
        )
    elif r.params.get("column") not in other.names:
        tr.report(
            f"{where}.column", f"names {r.params.get('column')!r}, not a field of {other.name}"
        )
