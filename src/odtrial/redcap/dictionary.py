"""The REDCap data dictionary: one row per field of the project.

Read from the CSV the Designer's "Download the current Data Dictionary" gives
(headers such as ``Variable / Field Name``, ``Choices, Calculations, OR Slider
Labels``) or the API's metadata export (``field_name``,
``select_choices_or_calculations``); both name the same columns. Choices are
``code, label`` pairs separated by ``|`` (``1, Female | 2, Male``); a checkbox
field is exported as one 0/1 column per choice, ``<field>___<code>``.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from odtrial.errors import ConfigError

#: Our name for each dictionary column -> the header names it may have (lower case,
#: spaces collapsed): the Designer's download, then the API's metadata export.
COLUMNS: Final = {
    "name": ("variable / field name", "field_name"),
    "form": ("form name", "form_name"),
    "section": ("section header", "section_header"),
    "type": ("field type", "field_type"),
    "label": ("field label", "field_label"),
    "choices": ("choices, calculations, or slider labels", "select_choices_or_calculations"),
    "note": ("field note", "field_note"),
    "validation": (
        "text validation type or show slider number",
        "text_validation_type_or_show_slider_number",
    ),
    "min": ("text validation min", "text_validation_min"),
    "max": ("text validation max", "text_validation_max"),
    "identifier": ("identifier?", "identifier"),
    "branching": ("branching logic (show field only if...)", "branching_logic"),
    "required": ("required field?", "required_field"),
    "matrix": ("matrix group name", "matrix_group_name"),
}
_NEEDED: Final = ("name", "form", "type")
#: Field types that hold no value of their own in the records export.
NO_DATA: Final = ("descriptive",)
#: Field types whose choices column lists code, label pairs.
CHOICE_TYPES: Final = ("radio", "dropdown", "checkbox")


@dataclass(frozen=True)
class Choice:
    """One choice of a radio, dropdown or checkbox field."""

    code: str
    label: str


@dataclass(frozen=True)
class DictField:
    """A field of the data dictionary (``line``: its line in the file, header 1)."""

    name: str
    form: str
    type: str
    label: str = ""
    choices: tuple[Choice, ...] = ()
    validation: str = ""
    min: str = ""
    max: str = ""
    identifier: bool = False
    required: bool = False
    branching: str = ""
    matrix: str = ""
    note: str = ""
    line: int = 0

    @property
    def columns(self) -> tuple[str, ...]:
        """The field's columns in the records export (a checkbox: one per choice)."""
        if self.type == "checkbox":
            return tuple(checkbox_column(self.name, c.code) for c in self.choices)
        if self.type in NO_DATA:
            return ()
        return (self.name,)


def checkbox_column(field: str, code: str) -> str:
    """A checkbox choice's column: ``<field>___<code>``, the code lower-cased with
    characters other than letters, digits and ``_`` as ``_`` (REDCap writes code
    ``-1`` as ``field____1``).

    Examples
    --------
    >>> checkbox_column("aids", "2"), checkbox_column("aids", "-1")
    ('aids___2', 'aids____1')
    """
    return f"{field}___{re.sub(r'[^a-z0-9_]', '_', code.lower())}"


@dataclass(frozen=True)
class Dictionary:
    """A project's data dictionary, in its order."""

    path: Path
    fields: tuple[DictField, ...]

    @property
    def record_id(self) -> str:
        """The record id field: the first field of the first form."""
        return self.fields[0].name

    @property
    def forms(self) -> tuple[str, ...]:
        """The forms (instruments), in order."""
        return tuple(dict.fromkeys(f.form for f in self.fields))

    def form_fields(self, form: str) -> tuple[DictField, ...]:
        return tuple(f for f in self.fields if f.form == form)

    def field(self, name: str) -> DictField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)


def parse_choices(text: str) -> tuple[Choice, ...]:
    """``"1, Female | 2, Male"`` -> choices (a label may hold commas; an entry with no
    comma is its own code and label).

    Examples
    --------
    >>> parse_choices("1, Female | 2, Male, or man")
    (Choice(code='1', label='Female'), Choice(code='2', label='Male, or man'))
    """
    out = []
    for part in text.split("|"):
        part = part.strip()
        if not part:
            continue
        code, sep, label = part.partition(",")
        out.append(Choice(code.strip(), plain(label) if sep else code.strip()))
    return tuple(out)


def plain(text: str) -> str:
    """A label without HTML tags or entities, on one line."""
    text = re.sub(r"<[^>]*>", " ", text or "")
    return " ".join(html.unescape(text).split())


def slug(label: str, limit: int = 40) -> str:
    """A code from a label: lower case, runs of other characters as ``_``.

    Examples
    --------
    >>> slug("Prefer not to say"), slug("Asian / Asian British"), slug("18-24")
    ('prefer_not_to_say', 'asian_asian_british', '18_24')
    """
    s = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if len(s) > limit:
        s = s[:limit].rsplit("_", 1)[0] or s[:limit]
    return s


def read_dictionary(path: str | Path) -> Dictionary:
    """Read a data dictionary CSV (UTF-8, with or without a byte order mark).

    Raises
    ------
    ConfigError
        The file cannot be read, lacks a needed column, repeats a field, or has a
        choice field without choices (one line naming the file and line).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the data dictionary ({e})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ConfigError(f"{p}: the data dictionary is empty")
    header = [" ".join(h.lower().split()) for h in rows[0]]
    where: dict[str, int] = {}
    for ours, names in COLUMNS.items():
        for i, h in enumerate(header):
            if h in names:
                where[ours] = i
                break
    missing = [COLUMNS[k][0] for k in _NEEDED if k not in where]
    if missing:
        raise ConfigError(
            f"{p}: not a REDCap data dictionary (no column {', '.join(map(repr, missing))}; "
            f"download it from the Designer or export the metadata as CSV)"
        )
    fields: list[DictField] = []
    seen: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue

        def cell(k: str, row: Sequence[str] = row) -> str:
            i = where.get(k)
            return row[i].strip() if i is not None and i < len(row) else ""

        name, ftype = cell("name"), cell("type").lower()
        if not name:
            raise ConfigError(f"{p}: line {n} has no field name")
        if name in seen:
            raise ConfigError(f"{p}: line {n} repeats field {name!r}")
        seen.add(name)
        choices = parse_choices(cell("choices")) if ftype in CHOICE_TYPES else ()
        if ftype in CHOICE_TYPES and not choices:
            raise ConfigError(f"{p}: line {n}: {ftype} field {name!r} has no choices")
        fields.append(
            DictField(
                name=name,
                form=cell("form"),
                type=ftype,
                label=plain(cell("label")),
                choices=choices,
                validation=cell("validation").lower(),
                min=cell("min"),
                max=cell("max"),
                identifier=cell("identifier").lower() == "y",
                required=cell("required").lower() == "y",
                branching=" ".join(cell("branching").split()),
                matrix=cell("matrix"),
                note=plain(cell("note")),
                line=n,
            )
        )
    if not fields:
        raise ConfigError(f"{p}: the data dictionary lists no field")
    return Dictionary(p, tuple(fields))
