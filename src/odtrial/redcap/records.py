"""The REDCap records export, as ``odtrial init`` looks at it.

A raw export (CSV) has the record id, ``redcap_event_name`` (a longitudinal
project), ``redcap_repeat_instrument`` and ``redcap_repeat_instance`` (when
some instrument or event repeats), ``redcap_data_access_group`` (when the
project has data access groups), then the fields, a checkbox as one 0/1
column per choice and each form's ``<form>_complete`` status (0, 1, 2).

A *labels* export writes choice labels instead of codes (and field labels as
column names when asked): a trial definition reads codes, so such a file is
refused with one line saying how to export the raw data. Its dates are written one
way, chosen in the export dialog: found from the date fields' values (:mod:`.dates`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pandas as pd

from odtrial.errors import ConfigError, IngestError
from odtrial.redcap.dates import ISO, DateFormat, sniff
from odtrial.redcap.dictionary import Dictionary, slug

if TYPE_CHECKING:
    from odtrial.trial import ExtractSpec

EVENT: Final = "redcap_event_name"
INSTRUMENT: Final = "redcap_repeat_instrument"
INSTANCE: Final = "redcap_repeat_instance"
DAG: Final = "redcap_data_access_group"
#: Columns REDCap adds to a records export besides the project's fields.
SYSTEM_COLUMNS: Final = frozenset({EVENT, INSTRUMENT, INSTANCE, DAG, "redcap_survey_identifier"})
EXPORT_AGAIN: Final = (
    "export the records again as raw data (Data Exports: 'CSV / Microsoft Excel (raw "
    "data)'; the API: rawOrLabel=raw, rawOrLabelHeaders=raw)"
)
_LABELLED_HEADERS: Final = ("record id", "event name", "repeat instrument", "data access group")
#: The hint init writes on each extract of a records export.
RECORDS_HINT: Final = "a REDCap raw records export: " + EXPORT_AGAIN
#: System columns holding REDCap's unique names (a labels export writes labels).
_SYSTEM_NAMES: Final = {EVENT: "event", INSTRUMENT: "instrument", DAG: "data access group"}
#: Labels of a yes/no, true/false or checkbox choice in a labels export (as slugs).
_BOOLEAN_LABELS: Final = frozenset({"yes", "no", "true", "false", "checked", "unchecked"})


@dataclass(frozen=True)
class Records:
    """A records export: its columns, its cells as text (``""`` when empty) and how it
    writes its dates."""

    path: Path
    frame: pd.DataFrame
    date_format: DateFormat = field(default=ISO)

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(self.frame.columns)

    @property
    def longitudinal(self) -> bool:
        return EVENT in self.frame.columns

    def values(self, column: str) -> list[str]:
        """The distinct non-empty values of a column, in order of first appearance."""
        if column not in self.frame.columns:
            return []
        s = self.frame[column]
        return list(dict.fromkeys(s[s != ""].tolist()))

    def repeating(self) -> dict[str, set[str]]:
        """Event ("" in a classic project) -> the instruments repeating in it."""
        if INSTRUMENT not in self.frame.columns:
            return {}
        f = self.frame[self.frame[INSTRUMENT] != ""]
        events = f[EVENT] if self.longitudinal else pd.Series([""] * len(f), index=f.index)
        out: dict[str, set[str]] = {}
        for e, form in zip(events, f[INSTRUMENT], strict=True):
            out.setdefault(str(e), set()).add(str(form))
        return out

    def repeating_events(self) -> set[str]:
        """Events repeated whole: rows with an instance but no instrument."""
        if INSTANCE not in self.frame.columns or not self.longitudinal:
            return set()
        instrument = self.frame.get(INSTRUMENT, pd.Series([""] * len(self.frame)))
        f = self.frame[(self.frame[INSTANCE] != "") & (instrument == "")]
        return set(f[EVENT])

    def dates(self, column: str) -> pd.Series:
        """A column's dates (of a date and time, its date; NaT where none)."""
        day = self.frame[column].str.split(" ", n=1).str[0]
        return pd.to_datetime(day, format=self.date_format.pattern, errors="coerce")

    def median_months(
        self, columns: Sequence[str], rows: pd.Series, start: pd.Series
    ) -> int | None:
        """The median time in whole months from ``start`` (a date per row) to the first
        of ``columns`` holding a date, over ``rows`` (None: no row has both)."""
        seen = pd.concat([self.dates(c)[rows] for c in columns], axis=1).bfill(axis=1).iloc[:, 0]
        gap = (seen - start[rows]).dt.days.dropna()
        return round(float(gap.median()) / 30.4375) if len(gap) else None

    def export_date(self) -> date | None:
        """The export's date from its file name (``PROJECT_DATA_2025-06-30_1200.csv``)."""
        m = re.search(r"(\d{4})-(\d{2})-(\d{2})", self.path.name)
        if m is None:
            return None
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None


def read_records(path: str | Path, dictionary: Dictionary) -> Records:
    """Read a records export and refuse a labels export (one line).

    Raises
    ------
    ConfigError
        Unreadable, no record id column, choice labels instead of codes, or dates
        of two formats or none (:func:`~odtrial.redcap.dates.sniff`).
    """
    p = Path(path)
    try:
        frame = pd.read_csv(
            p, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=False
        )
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{p}: cannot read the records export ({msg})") from None
    frame = frame.rename(columns=lambda c: str(c).strip())
    frame = frame.apply(lambda col: col.str.strip())
    records = Records(p, frame)
    _refuse_labels(records, dictionary)
    dated = [
        f
        for f in dictionary.fields
        if f.validation.startswith(("date_", "datetime_")) and f.name in frame.columns
    ]
    found = sniff(
        {f.name: records.values(f.name) for f in dated},
        {f.name: f.validation for f in dated},
        str(p),
    )
    return Records(p, frame, found)


def _refuse_labels(records: Records, dictionary: Dictionary) -> None:
    p, header = records.path, set(records.header)
    rid = dictionary.record_id
    labels = {f.label.casefold() for f in dictionary.fields}
    if rid not in header:
        named = [
            h for h in records.header if h.casefold() in labels or h.casefold() in _LABELLED_HEADERS
        ]
        if named:
            raise ConfigError(
                f"{p}: a labels export (its columns are field labels such as {named[0]!r}); "
                + EXPORT_AGAIN
            )
        raise ConfigError(
            f"{p}: has no column {rid!r}, the record id (the dictionary's first field); is it "
            "this project's records export?"
        )
    choices: list[tuple[str, Collection[str], Collection[str]]] = []
    for f in dictionary.fields:
        if f.type in ("radio", "dropdown", "yesno", "truefalse") and f.name in header:
            codes = {c.code for c in f.choices} or {"0", "1"}
            names = {slug(c.label) for c in f.choices} or _BOOLEAN_LABELS
            choices.append((f.name, codes, names))
        elif f.type == "checkbox":
            choices += [(c, ("0", "1"), _BOOLEAN_LABELS) for c in f.columns if c in header]
    reason = labels_reason(records.values, header, choices)
    if reason is not None:
        raise ConfigError(f"{p}: {reason}; " + EXPORT_AGAIN)


def labels_reason(
    values: Callable[[str], list[str]],
    header: Collection[str],
    choices: Iterable[tuple[str, Collection[str], Collection[str]]],
) -> str | None:
    """Why a records export is a labels export, or None: a system column holding a
    label (``Baseline (Arm 1: Arm 1)`` for ``baseline_arm_1``), or choice columns
    holding their labels at least as often as their codes.

    Parameters
    ----------
    values
        A column's distinct non-empty values.
    header
        The export's columns.
    choices
        Per choice column: its codes and the slugs of its labels
        (:func:`~odtrial.redcap.dictionary.slug`).
    """
    for col, what in _SYSTEM_NAMES.items():
        if col in header:
            odd = [v for v in values(col) if not re.fullmatch(r"[a-z0-9_]+", v)]
            if odd:
                return f"a labels export ({what} {odd[0]!r} is a label, not a unique {what} name)"
    label_like = code_like = 0
    example = ""
    for col, codes, names in choices:
        for v in values(col):
            if v in codes:
                code_like += 1
            elif slug(v) in names:
                label_like += 1
                example = example or v
    if label_like and label_like >= code_like:
        return f"a labels export (choice labels such as {example!r} instead of their codes)"
    return None


def is_records_extract(spec: ExtractSpec) -> bool:
    """Whether an extract of a trial definition reads a REDCap records export: it names
    a column REDCap adds (``where`` or ``columns``), or has the hint init writes."""
    named = set(spec.where) | set(spec.columns.values())
    return bool(named & SYSTEM_COLUMNS) or spec.hint == RECORDS_HINT


def several_exports(where: str, files: Sequence[str]) -> str:
    """The one line for a records-export pattern (``where``: folder/pattern) matching
    ``files``: ingest refuses it and ``odtrial check`` reports it."""
    return (
        f"{where}: matches {len(files)} REDCap records exports ({', '.join(files)}); each "
        "holds every record, so keep only the latest in the folder"
    )


def refuse_labels_export(data: pd.DataFrame, specs: Sequence[ExtractSpec], rel: str) -> None:
    """At ingest: refuse a labels export read for extracts of a REDCap records export,
    as init does, the definition's codes standing in for the dictionary's choices.

    Raises
    ------
    IngestError
        The file is a labels export (one line saying how to export the raw data).
    """
    if not any(is_records_extract(s) for s in specs):
        return

    def values(col: str) -> list[str]:
        s = data[col].dropna().astype(str)
        return list(dict.fromkeys(s[s != ""]))

    choices: list[tuple[str, Collection[str], Collection[str]]] = []
    for spec in specs:
        for canon, codes in spec.codes.items():
            col = spec.columns.get(canon)
            if col is None or col not in data.columns:
                continue
            if all(isinstance(v, bool) for v in codes.values()):
                names: Collection[str] = _BOOLEAN_LABELS
            else:
                names = {slug(str(v)) for v in codes.values()}
            choices.append((col, {str(c) for c in codes}, names))
    reason = labels_reason(values, set(data.columns), choices)
    if reason is not None:
        raise IngestError(f"{rel}: {reason}; " + EXPORT_AGAIN)
