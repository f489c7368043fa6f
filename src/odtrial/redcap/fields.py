"""The fields and tables ``odtrial init`` plans, and how a REDCap field becomes fields.

A REDCap field becomes (:func:`convert`): for a radio or dropdown, a ``code`` field
whose vocabulary is its choices (codes -> slugs of the labels, :class:`Vocabularies`;
fields with the same choices share one), but a matrix of numbered choices stays whole
numbers; for yes/no and true/false a boolean; for a checkbox one boolean per choice;
for text, the type its validation gives (integer, number, date) with ``min``/``max``;
for a calculation a number; files and descriptive text nothing. An NHS number becomes
``nhs_number`` and a date of birth ``date_of_birth`` (so that they are checked and
masked as such); any other identifier is dropped or pseudonymised.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from odtrial._toml import suggest
from odtrial.data.canonical import BUILTIN_VOCABULARIES
from odtrial.errors import ConfigError
from odtrial.redcap.dictionary import Choice, DictField, Dictionary, slug
from odtrial.trial_tables import RESERVED

#: Fields init adds to a table besides the form's own, and its own vocabularies.
EVENT_FIELD: Final = "redcap_event"
VISIT_FIELD: Final = "visit"
INSTANCE_FIELD: Final = "redcap_repeat_instance"
EVENTS_VOCABULARY: Final = "redcap_events"
CLUSTERS_VOCABULARY: Final = "clusters"
_NHS: Final = re.compile(r"nhs", re.I)
_DOB: Final = re.compile(
    r"(^|_)(dob|birth|date_of_birth|birthdate|birth_date)($|_)|date of birth", re.I
)


@dataclass
class FieldPlan:
    """A field of the definition and where its value comes from."""

    name: str
    type: str
    source: str
    required: bool = True
    vocabulary: str | None = None
    min: Any = None
    max: Any = None
    label: str | None = None
    identifier: str | None = None
    required_if: str | None = None
    required_if_unchecked: str | None = None
    free_text: bool | None = None  # written only when true
    codes: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    redcap: str | None = None  # the REDCap field ("aids(2)" for a checkbox choice)
    kind: str = "text"  # what a branching comparison compares (branching.Target.kind)
    blanks: tuple[str, ...] = ()  # values that do not count as data (filled)
    branching: str = ""  # the REDCap field's branching logic
    datetime: bool = False  # a date and time in the export (its date is kept)
    constant: Any = None  # the value of every row (no column holds it): a classic form's visit


@dataclass
class TablePlan:
    """A table of the definition and the rows of the records export it takes."""

    name: str
    description: str
    fields: list[FieldPlan]
    roles: dict[str, str]
    where: dict[str, Any]
    filled: dict[str, list[str]] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: tuple[str, ...] = ()  # the events whose rows it takes
    repeating: bool = False
    month: int | None = None  # a classic project's form: its visit month (from its dates)
    form: str = ""  # the form whose rows it takes ("" for the participants)
    whole: bool = False  # the rows of events that repeat whole (``repeating`` too)
    dates: str | None = None  # the records' date pattern when not YYYY-MM-DD (init's)
    dates_how: str | None = None  # how init found it (a comment)

    @property
    def date_format(self) -> str:
        """The records' pattern; for YYYY-MM-DD, ``native`` (a date with a time of day)
        when a field has times."""
        if self.dates is not None:
            return self.dates
        return "native" if any(f.datetime for f in self.fields) else "%Y-%m-%d"


class Vocabularies:
    """Vocabularies made from choice lists: one per distinct list of choices."""

    def __init__(self) -> None:
        self.by_choices: dict[tuple[Choice, ...], str] = {}
        self.values: dict[str, list[Any]] = {}
        self.codes: dict[str, dict[str, str]] = {}

    def add(self, name: str, choices: tuple[Choice, ...]) -> str:
        if choices in self.by_choices:
            return self.by_choices[choices]
        vname = name
        n = 2
        while (
            vname in self.values
            or vname in BUILTIN_VOCABULARIES
            or vname
            in (
                EVENTS_VOCABULARY,
                CLUSTERS_VOCABULARY,
            )
        ):
            vname, n = f"{name}_{n}", n + 1
        slugs: list[str] = []
        codes: dict[str, str] = {}
        for c in choices:
            s = slug(c.label) or f"code_{c.code}"
            if s in slugs:
                s = f"{s}_{c.code}"
            slugs.append(s)
            codes[c.code] = s
        self.by_choices[choices] = vname
        self.values[vname] = slugs
        self.codes[vname] = codes
        return vname

    def fixed(self, name: str, values: list[Any]) -> None:
        self.values[name] = values


def _code_name(code: str) -> str:
    """A choice code in a field name: ``-1`` -> ``m1`` (a checkbox's choice field)."""
    return ("m" if code.strip().startswith("-") else "") + (slug(code) or "x")


def field_name(raw: str, taken: set[str]) -> str:
    """A field or table name from a REDCap name, not reserved, not taken."""
    n = re.sub(r"[^a-z0-9_]", "_", raw.lower())
    if not n or not n[0].isalpha():
        n = f"f_{n}"
    if n in RESERVED:
        n = f"{n}_redcap"
    base, k = n, 2
    while n in taken:
        n, k = f"{base}_{k}", k + 1
    taken.add(n)
    return n


def _int_choices(choices: tuple[Choice, ...]) -> list[int] | None:
    try:
        codes = sorted(int(c.code) for c in choices)
    except ValueError:
        return None
    return codes if codes == list(range(codes[0], codes[0] + len(codes))) else None


def _bound(text: str, kind: str) -> Any:
    """A validation min/max as the field's type takes it (None: not a fixed value)."""
    t = text.strip()
    if not t:
        return None
    if kind in ("integer", "number"):
        try:
            v = float(t)
        except ValueError:
            return None
        return int(v) if v.is_integer() else v
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%m-%d-%Y", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return pd.to_datetime(t, format=fmt).date()
        except ValueError:
            continue
    return None  # "today", "now", a piped value: not fixed


def _label(f: DictField, extra: str = "") -> str | None:
    text = f.label + (f": {extra}" if extra else "")
    if not text:
        return None
    return text if len(text) <= 90 else text[:87].rsplit(" ", 1)[0] + "..."


def is_nhs_number(f: DictField) -> bool:
    """An NHS number, by its name or label (checked, never frozen)."""
    label = f.label.lower()
    return bool(_NHS.search(f.name)) or "nhs number" in label or "nhs no" in label


def is_date_of_birth(f: DictField) -> bool:
    """A date of birth: a date field so named or labelled (frozen as age at consent)."""
    is_date = f.validation.startswith(("date_", "datetime_"))
    return is_date and bool(_DOB.search(f.name) or _DOB.search(f.label))


def _free_text(f: DictField) -> bool:
    """Text a person typed (no number or date validation): what may identify someone."""
    numeric = f.validation.startswith(("integer", "number", "date", "datetime", "time"))
    return f.type in ("text", "notes") and not numeric


def check_pseudonymise(
    names: Sequence[str],
    d: Dictionary,
    header: Collection[str],
    cluster_field: str,
    warnings: list[str],
) -> None:
    """Check ``--pseudonymise``: a name that is no field is an error (a typo would
    leave the field it meant as it is); a field odtrial already keeps out of the
    freeze (the record id, an NHS number, a date of birth, a file, a field not in the
    export) is a warning saying so; a field that is not an identifier is pseudonymised
    when it is free text, and is an error otherwise (a code, number or date is not
    frozen as a pseudonym: its value is what the analysis reads).

    Raises
    ------
    ConfigError
        A name is no field of the dictionary, the cluster field, or a field that is
        neither an identifier nor free text.
    """
    idents = [f.name for f in d.fields if f.identifier]
    for name in names:
        if not d.has(name):
            near = suggest(name, idents) or suggest(name, [f.name for f in d.fields])
            shown = f" (its identifier fields: {', '.join(idents)})" if idents and not near else ""
            raise ConfigError(
                f"--pseudonymise {name!r} is not a field of the data dictionary{near}{shown}"
            )
        f = d.field(name)
        fate = None
        if name == d.record_id:
            fate = "the record id is frozen only as participant_id, a keyed pseudonym"
        elif is_nhs_number(f):
            fate = "an NHS number is checked (Modulus 11) and never frozen"
        elif is_date_of_birth(f):
            fate = "a date of birth is frozen only as age at consent"
        elif f.type in ("file", "descriptive"):
            fate = f"a {f.type} field holds no value in the records: it is left out"
        elif any(c not in header for c in f.columns):
            fate = "it is not in the records export: left out"
        if fate is not None:
            warnings.append(f"--pseudonymise {name!r}: {fate}; nothing more to do")
            continue
        if name == cluster_field:
            raise ConfigError(
                f"--pseudonymise {name!r} is the cluster field: it is frozen as the cluster "
                "id, which the analysis needs"
            )
        if f.identifier:
            continue
        if not _free_text(f):
            raise ConfigError(
                f"--pseudonymise {name!r} is a {f.type} field"
                + (f" ({f.validation})" if f.validation else "")
                + ", not an identifier (Identifier? = y) nor free text: its values would be "
                "frozen as they are; leave it out, or mark it an identifier in REDCap so that "
                "it is dropped"
            )
        warnings.append(
            f"--pseudonymise {name!r} is not marked an identifier in the data dictionary: "
            "frozen as a keyed pseudonym as asked"
        )


def convert(
    f: DictField, taken: set[str], vocab: Vocabularies, pseudonymise: tuple[str, ...] = ()
) -> list[FieldPlan]:
    """The fields a REDCap field becomes (none for descriptive text and files)."""
    if f.type in ("descriptive", "file"):
        return []
    common: dict[str, Any] = {"redcap": f.name, "label": _label(f)}
    if is_nhs_number(f):
        return [
            FieldPlan(
                field_name("nhs_number", taken),
                "nhs_number",
                f.name,
                f.required,
                **common,
                note="an NHS number: Modulus 11 checked, never frozen",
            )
        ]
    is_date = f.validation.startswith(("date_", "datetime_"))
    if is_date_of_birth(f):
        return [
            FieldPlan(
                field_name("date_of_birth", taken),
                "date",
                f.name,
                f.required,
                kind="date",
                **common,
                note="a date of birth: the freeze gives age at consent instead",
            )
        ]
    if f.identifier or f.name in pseudonymise:  # named: free text (check_pseudonymise)
        action = "pseudonymise" if f.name in pseudonymise else "drop"
        why = "Identifier? = y" if f.identifier else "--pseudonymise"
        return [
            FieldPlan(
                field_name(f.name, taken),
                "string",
                f.name,
                f.required,
                identifier=action,
                **common,
                note=f"{why}: "
                + (
                    "frozen as a keyed pseudonym"
                    if action == "pseudonymise"
                    else "left out of the freeze"
                ),
            )
        ]
    if f.type == "checkbox":
        return [
            FieldPlan(
                field_name(f"{f.name}_{_code_name(c.code)}", taken),
                "boolean",
                col,
                False,
                label=_label(f, c.label),
                codes={"1": True, "0": False},
                redcap=f"{f.name}({c.code})",
                kind="boolean",
                blanks=("0",),
            )
            for c, col in zip(f.choices, f.columns, strict=True)
        ]
    name = field_name(f.name, taken)
    if f.type in ("yesno", "truefalse"):
        return [
            FieldPlan(
                name,
                "boolean",
                f.name,
                f.required,
                codes={"1": True, "0": False},
                kind="boolean",
                **common,
            )
        ]
    if f.type in ("radio", "dropdown"):
        ints = _int_choices(f.choices) if f.matrix else None
        if ints is not None:
            shown = "; ".join(f"{c.code} {c.label}" for c in f.choices)
            return [
                FieldPlan(
                    name,
                    "integer",
                    f.name,
                    f.required,
                    min=ints[0],
                    max=ints[-1],
                    kind="number",
                    note=f"matrix {f.matrix}: numbered choices kept as numbers ({shown})",
                    **common,
                )
            ]
        v = vocab.add(f.matrix or f.name, f.choices)
        return [
            FieldPlan(
                name,
                "code",
                f.name,
                f.required,
                vocabulary=v,
                codes=dict(vocab.codes[v]),
                kind="code",
                **common,
            )
        ]
    if f.type == "calc":
        return [
            FieldPlan(
                name, "number", f.name, False, kind="number", note="a calculated field", **common
            )
        ]
    if f.type == "slider":
        lo, hi = _bound(f.min, "integer"), _bound(f.max, "integer")
        return [
            FieldPlan(
                name,
                "integer",
                f.name,
                f.required,
                min=0 if lo is None else lo,
                max=100 if hi is None else hi,
                kind="number",
                **common,
            )
        ]
    numeric = next((t for t in ("integer", "number") if f.validation.startswith(t)), None)
    if f.type == "text" and numeric is not None:
        return [
            FieldPlan(
                name,
                numeric,
                f.name,
                f.required,
                min=_bound(f.min, numeric),
                max=_bound(f.max, numeric),
                kind="number",
                **common,
            )
        ]
    if f.type == "text" and is_date:
        stamped = f.validation.startswith("datetime")
        note = "a date and time: its date is kept" if stamped else None
        return [
            FieldPlan(
                name,
                "date",
                f.name,
                f.required,
                min=_bound(f.min, "date"),
                max=_bound(f.max, "date"),
                kind="date",
                note=note,
                datetime=stamped,
                **common,
            )
        ]
    if f.type == "notes":  # paragraphs a person typed: may name people
        return [
            FieldPlan(
                name,
                "string",
                f.name,
                f.required,
                free_text=True,
                note="a notes field: frozen for queries, left out of the analysis dataset",
                **common,
            )
        ]
    return [FieldPlan(name, "string", f.name, f.required, **common)]
