"""The date format of a REDCap records export, found from its date fields' values.

REDCap's export dialog writes every date and datetime field one way: YYYY-MM-DD (its
default), or MM/DD/YYYY or DD/MM/YYYY when the user chooses so, a date and time with
`` HH:MM`` (``:SS`` for seconds) after the date. A field's validation type
(``date_dmy``) is how it is typed in, not how it is exported, so it only decides
between day/month and month/day when no day in the export is over 12.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from odtrial.errors import ConfigError

_ISO: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_OTHER: Final = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")
_TIME: Final = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
#: Each order's name as a data manager reads it, and its strftime directives.
ORDERS: Final = {
    "ymd": ("year-month-day", ("%Y", "%m", "%d")),
    "dmy": ("day/month/year", ("%d", "%m", "%Y")),
    "mdy": ("month/day/year", ("%m", "%d", "%Y")),
}
_AGAIN: Final = (
    "export the records again with dates as YYYY-MM-DD (REDCap's default in the export "
    "dialog's date format)"
)


@dataclass(frozen=True)
class DateFormat:
    """How a records export writes its dates: an order, a separator, and how init knew
    (``how``: None for REDCap's default, YYYY-MM-DD, or no dates to tell from)."""

    order: str = "ymd"
    sep: str = "-"
    how: str | None = None
    sure: bool = True  # False: decided by the fields' validation types (a tie)

    @property
    def iso(self) -> bool:
        return self.order == "ymd"

    @property
    def pattern(self) -> str:
        """The strftime pattern of a date."""
        return self.sep.join(ORDERS[self.order][1])

    def with_time(self, time: str | None) -> str:
        """The pattern of a value with ``time`` ("%H:%M", "%H:%M:%S") or none."""
        return self.pattern + (f" {time}" if time else "")


ISO: Final = DateFormat()


def _shape(value: str) -> tuple[str, str, int, int, str | None] | None:
    """(style, separator, first, second number, time pattern) of a value, or None when
    it is no date REDCap writes (style ``iso`` or ``other``)."""
    date, _, time = value.partition(" ")
    clock: str | None = None
    if time:
        m = _TIME.fullmatch(time.strip())
        if m is None:
            return None
        clock = "%H:%M:%S" if m[1] else "%H:%M"
    if _ISO.fullmatch(date):
        return "iso", "-", 0, 0, clock
    o = _OTHER.fullmatch(date)
    if o is None:
        return None
    return "other", o[2], int(o[1]), int(o[3]), clock


def _style(shape: tuple[str, str, int, int, str | None]) -> str:
    return "YYYY-MM-DD" if shape[0] == "iso" else f"NN{shape[1]}NN{shape[1]}YYYY"


def sniff(
    values: Mapping[str, Sequence[str]], validation: Mapping[str, str], where: str
) -> DateFormat:
    """The date format of a records export from its date fields' values (field ->
    non-empty values, in the dictionary's order), ``validation`` their types.

    Raises
    ------
    ConfigError
        Values of two formats (in one field or two), a field whose values fit no date
        format, both a day and a month over 12 in the second place, or day/month and
        month/day left undecided (one line naming a field and a value).
    """
    first: tuple[str, str, str] | None = None  # field, value, style of the first date
    later: dict[str, tuple[str, str] | None] = {"dmy": None, "mdy": None}  # order -> proof
    for name, vals in values.items():
        shapes = [(v, _shape(v)) for v in vals]
        fitting = [(v, s) for v, s in shapes if s is not None]
        if vals and not fitting:
            raise ConfigError(
                f"{where}: date field {name!r} holds {vals[0]!r}, which fits no date format "
                f"REDCap exports (YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY); {_AGAIN}"
            )
        for v, s in fitting:
            assert s is not None
            style = _style(s)
            if first is None:
                first = (name, v, style)
            elif style != first[2]:
                raise ConfigError(
                    f"{where}: dates of two formats: {name!r} holds {v!r} ({style}) but "
                    f"{first[0]!r} holds {first[1]!r} ({first[2]}); one export writes every "
                    f"date one way: {_AGAIN}"
                )
            if s[0] == "other":
                a, b = s[2], s[3]
                if a > 12 and b <= 12:
                    later["dmy"] = later["dmy"] or (name, v)
                elif b > 12 and a <= 12:
                    later["mdy"] = later["mdy"] or (name, v)
    if first is None or first[2] == "YYYY-MM-DD":
        return ISO
    sep = first[2][2]
    d, m = later["dmy"], later["mdy"]
    if d is not None and m is not None:
        raise ConfigError(
            f"{where}: dates of two orders: {d[0]!r} holds {d[1]!r} (day first) but {m[0]!r} "
            f"holds {m[1]!r} (month first); {_AGAIN}"
        )
    if d is not None or m is not None:
        order = "dmy" if d is not None else "mdy"
        proof = d if d is not None else m
        assert proof is not None
        name, v = proof
        place = "first" if order == "dmy" else "second"
        how = (
            f"the records' dates are {ORDERS[order][0]} (chosen in REDCap's export dialog): "
            f"{name} holds {v!r}, its {place} number over 12, so a day"
        )
        return DateFormat(order, sep, how)
    votes = {
        o
        for name in values
        for o in ("dmy", "mdy")
        if values[name] and validation.get(name, "").endswith(f"_{o}")
    }
    name, v, _ = first
    if len(votes) != 1:
        typed = "differ" if votes else "do not say"
        raise ConfigError(
            f"{where}: cannot tell whether dates such as {v!r} ({name}) are day/month or "
            f"month/day: no day is over 12 and the date fields' validation types {typed}; " + _AGAIN
        )
    order = votes.pop()
    how = (
        f"the records' dates are taken as {ORDERS[order][0]}: no day or month is over 12 "
        f"(e.g. {name} {v!r}), so the date fields' validation types (*_{order}) decided; "
        "check a date you know"
    )
    return DateFormat(order, sep, how, sure=False)


def time_of(values: Sequence[str]) -> set[str | None]:
    """The time patterns of a field's values (None: a date alone)."""
    out: set[str | None] = set()
    for v in values:
        s = _shape(v)
        if s is not None:
            out.add(s[4])
    return out


def table_pattern(
    found: DateFormat, columns: Mapping[str, Sequence[str]], table: str, where: str
) -> str:
    """The pattern of a table's dates in a records export not in YYYY-MM-DD (``columns``:
    its date fields' columns -> their values): the date's, with the time of day its
    dates and times have (an extract reads one pattern).

    Raises
    ------
    ConfigError
        The table's values mix dates alone with dates and times (or times with and
        without seconds): one pattern cannot read them all.
    """
    seen: dict[str | None, tuple[str, str]] = {}
    for col, vals in columns.items():
        for v in vals:
            s = _shape(v)
            if s is not None:
                seen.setdefault(s[4], (col, v))
    if len(seen) > 1:
        (a, va), (b, vb) = list(seen.values())[:2]
        raise ConfigError(
            f"{where}: table {table} has dates alone and dates with times ({a!r} holds "
            f"{va!r}, {b!r} {vb!r}), which odtrial reads together only as YYYY-MM-DD; " + _AGAIN
        )
    return found.with_time(next(iter(seen), None))
