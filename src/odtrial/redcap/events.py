"""Events of a longitudinal REDCap project and the visits they become.

The instrument designations export (``arm_num, unique_event_name, form``) says
which forms each event collects, in event order. The event definitions (Define My
Events: ``event_name, arm_num, day_offset, offset_min, offset_max,
unique_event_name, custom_event_label``) say when each event is due: ``day_offset``
days after the first event, accepted ``offset_min`` days before to ``offset_max``
after. Each event's month after consent is, in this order: its day offset after
its arm's baseline event in months of 30.4375 days (365.25 / 12), rounded, when
that is a month or more; the month its unique name says (``month_6_arm_1`` -> 6,
``12m_fu_arm_1`` -> 12, ``year_2_arm_1`` -> 24, ``baseline_arm_1`` -> 0; weeks
and days are rounded to months); otherwise its place in the order (the first such
follow-up event month 1, the next 2, ... past the months already taken), which the
trial definition says in a comment to edit. An event that repeats whole and gives
no month either way is no scheduled visit (month 0).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from odtrial.errors import ConfigError

#: Days in a month on average (365.25 / 12): REDCap's day offsets -> months.
DAYS_PER_MONTH: Final = 30.4375
_UNITS: Final = {
    **dict.fromkeys(("m", "mo", "mon", "mth", "mths", "mnth", "month", "months"), 1.0),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 12.0),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 / DAYS_PER_MONTH),
    **dict.fromkeys(("d", "day", "days"), 1 / DAYS_PER_MONTH),
}
#: Columns of the event definitions besides the unique event name (REDCap's API
#: calls the offset ``day_offset``; ``days_offset`` is taken too).
_OFFSET: Final = ("day_offset", "days_offset")
_BASELINE: Final = re.compile(
    r"^(baseline|base|bl|screen|screening|enrol|enrolment|enroll|enrollment|consent|"
    r"registration|randomisation|randomization|recruitment|t0|v0|visit_0)"
)
_ARM: Final = re.compile(r"_arm_\d+$")


@dataclass(frozen=True)
class Event:
    """An event: its unique name, arm, the forms it collects, and its month after
    consent (``how``: ``"offset"`` from its day offset, ``"name"`` read from the
    name, ``"baseline"``, ``"order"`` given by its place, ``"weeks"``/``"days"``
    rounded from the name, ``"repeats"`` a repeating event that gives none: month 0),
    its days after the baseline event and its window (days before, after) where the
    event definitions give them."""

    name: str
    arm: int
    forms: tuple[str, ...]
    month: int
    how: str
    days: float | None = None
    window: tuple[int, int] | None = None

    @property
    def base(self) -> str:
        """The name without its ``_arm_N`` suffix."""
        return _ARM.sub("", self.name)


@dataclass(frozen=True)
class EventDefinition:
    """An event as Define My Events says: its unique name, arm, label, day offset
    (None: not given) and window (days before, after; None: REDCap's 0 and 0, none
    set)."""

    name: str
    arm: int
    label: str
    day_offset: float | None
    window: tuple[int, int] | None


def _read_rows(path: str | Path, what: str) -> tuple[Path, set[str], list[dict[str, str]]]:
    """A CSV export's columns (lower case) and rows (keys and values stripped)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the {what} ({e})") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = {c.strip().lower() for c in (reader.fieldnames or [])}
    rows = [
        {k.strip().lower(): (v or "").strip() for k, v in r.items() if k is not None}
        for r in reader
    ]
    return p, cols, rows


def is_definitions(path: str | Path) -> bool:
    """Whether a file is REDCap's event definitions (a unique event name and a day
    offset or event name, no form), not the instrument designations."""
    _, cols, _ = _read_rows(path, "events export")
    return (
        "unique_event_name" in cols and "form" not in cols and bool(cols & {*_OFFSET, "event_name"})
    )


def _arm(value: str, p: Path, n: int) -> int:
    arm = value or "1"
    if not arm.isdigit():
        raise ConfigError(f"{p}: line {n}: arm_num {arm!r} is not a number")
    return int(arm)


def read_designations(path: str | Path) -> list[tuple[int, str, str]]:
    """``(arm, unique event name, form)`` rows of an instrument designations CSV."""
    p, cols, rows = _read_rows(path, "instrument designations")
    if not {"unique_event_name", "form"} <= cols:
        extra = (
            " (this is the event definitions: give it as --redcap-event-definitions, and the "
            "instrument designations, arm_num, unique_event_name, form, as --redcap-events)"
            if cols & {*_OFFSET, "event_name"}
            else ""
        )
        raise ConfigError(
            f"{p}: not REDCap instrument designations (columns arm_num, unique_event_name, "
            f"form expected){extra}"
        )
    out = []
    for n, r in enumerate(rows, start=2):
        if not r["unique_event_name"] or not r["form"]:
            raise ConfigError(f"{p}: line {n} lacks an event or a form")
        out.append((_arm(r.get("arm_num", ""), p, n), r["unique_event_name"], r["form"]))
    if not out:
        raise ConfigError(f"{p}: no instrument designations")
    return out


def read_definitions(path: str | Path) -> list[EventDefinition]:
    """The events of a Define My Events export (or the API's events export), in any
    column order; ``offset_min``, ``offset_max``, ``event_name``, ``arm_num`` and
    ``custom_event_label`` may be missing.

    Raises
    ------
    ConfigError
        Not an event definitions file, an event twice, or an offset that is no number.
    """
    p, cols, rows = _read_rows(path, "event definitions")
    offset = next((c for c in _OFFSET if c in cols), None)
    if "form" in cols:
        raise ConfigError(
            f"{p}: this is the instrument designations: give it as --redcap-events, and the "
            "event definitions (Define My Events: event_name, arm_num, day_offset, offset_min, "
            "offset_max, unique_event_name) as --redcap-event-definitions"
        )
    if "unique_event_name" not in cols or offset is None:
        raise ConfigError(
            f"{p}: not REDCap event definitions (columns unique_event_name and day_offset "
            "expected; Project Setup > Define My Events > Download events, or the API's events "
            "export)"
        )

    def days(r: dict[str, str], col: str, n: int) -> float | None:
        v = r.get(col, "")
        if not v:
            return None
        try:
            x = float(v)
        except ValueError:
            x = math.nan
        if not math.isfinite(x):
            raise ConfigError(f"{p}: line {n}: {col} {v!r} is not a number of days")
        return x

    out: dict[str, EventDefinition] = {}
    for n, r in enumerate(rows, start=2):
        name = r["unique_event_name"]
        if not name:
            raise ConfigError(f"{p}: line {n} has no unique_event_name")
        if name in out:
            raise ConfigError(f"{p}: line {n}: event {name!r} is defined twice")
        lo, hi = days(r, "offset_min", n), days(r, "offset_max", n)
        # REDCap writes 0 and 0 when no window is set; a minimum is days before (its sign
        # varies between tools: its size is what counts)
        sides = (round(abs(lo or 0)), round(abs(hi or 0)))
        label = r.get("custom_event_label") or r.get("event_name") or name
        out[name] = EventDefinition(
            name,
            _arm(r.get("arm_num", ""), p, n),
            label,
            days(r, offset, n),
            sides if any(sides) else None,
        )
    if not out:
        raise ConfigError(f"{p}: no events")
    return list(out.values())


@dataclass(frozen=True)
class Scheduled:
    """An event as its definition places it: ``days`` after its arm's baseline event,
    ``month`` those days in whole months (None: less than one), its ``window``."""

    days: float
    month: int | None
    window: tuple[int, int] | None


def schedule(
    definitions: Iterable[EventDefinition], rows: Iterable[tuple[int, str, str]], baseline: str
) -> dict[str, Scheduled]:
    """Each defined event with a day offset, placed after its arm's baseline event (the
    first event collecting form ``baseline``; none: the offsets as they are).

    Examples
    --------
    >>> defs = [EventDefinition("bl_arm_1", 1, "BL", 7.0, None),
    ...         EventDefinition("fu_arm_1", 1, "FU", 189.0, (14, 28))]
    >>> rows = [(1, "bl_arm_1", "consent"), (1, "fu_arm_1", "qol")]
    >>> for e, s in schedule(defs, rows, "consent").items():
    ...     print(e, s.days, s.month, s.window)
    bl_arm_1 0.0 None None
    fu_arm_1 182.0 6 (14, 28)
    """
    start: dict[int, float] = {}
    defs = {d.name: d for d in definitions}
    for arm, event, form in rows:
        d = defs.get(event)
        if form == baseline and d is not None and d.day_offset is not None:
            start.setdefault(arm, d.day_offset)
    out = {}
    for d in defs.values():
        if d.day_offset is None:
            continue
        after = d.day_offset - start.get(d.arm, 0.0)
        month = round(after / DAYS_PER_MONTH)
        out[d.name] = Scheduled(after, month if month >= 1 else None, d.window)
    return out


def month_of(name: str) -> tuple[float | None, str]:
    """An event's months after consent as its name says (None: it says none).

    Examples
    --------
    >>> month_of("month_6_arm_1"), month_of("baseline_arm_1"), month_of("fu2_arm_1")
    ((6.0, 'name'), (0.0, 'baseline'), (None, 'order'))
    >>> month_of("12m_followup_arm_2"), month_of("year_2_arm_1")
    ((12.0, 'name'), (24.0, 'name'))
    >>> m, how = month_of("week_26_arm_1"); round(m, 2), how
    (5.98, 'weeks')
    """
    base = _ARM.sub("", name.lower())
    if _BASELINE.match(base):
        return 0.0, "baseline"
    toks = re.findall(r"[a-z]+|\d+", base)
    for i, t in enumerate(toks):
        if not t.isdigit():
            continue
        for j in (i + 1, i - 1):  # a unit after the number first (12m), then before (m12)
            if 0 <= j < len(toks) and toks[j] in _UNITS:
                factor = _UNITS[toks[j]]
                how = "name" if factor in (1.0, 12.0) else ("weeks" if factor > 0.1 else "days")
                return int(t) * factor, how
    return None, "order"


def events_from(
    rows: Iterable[tuple[int, str, str]],
    scheduled: Mapping[str, Scheduled] | None = None,
    repeating: Collection[str] = (),
) -> list[Event]:
    """Events in designation order with the forms each collects and its month: from its
    day offset (``scheduled``, a month or more), else from the name, rounded to whole
    months; events that give no month (or less than one month for a follow-up) take the
    next month free in order, but a ``repeating`` event (one repeated whole) month 0."""
    scheduled = scheduled or {}
    forms: dict[str, list[str]] = {}
    arms: dict[str, int] = {}
    for arm, event, form in rows:
        arms.setdefault(event, arm)
        if form not in forms.setdefault(event, []):
            forms[event].append(form)
    read: dict[str, tuple[int | None, str]] = {}
    for e in forms:
        m, how = month_of(e)
        if m is None or (how != "baseline" and round(m) < 1):
            read[e] = (None, "order")
        else:
            read[e] = (round(m), how)
    # the same event name in each arm has one month: the first arm's
    by_base: dict[str, tuple[int | None, str]] = {}
    for e in forms:
        by_base.setdefault(_ARM.sub("", e), read[e])
    own = {e: (s.month, "offset") for e, s in scheduled.items() if e in forms and s.month}
    taken = {m for m, _ in [*by_base.values(), *own.values()] if m is not None}
    nxt = 1
    for b, (m, _how) in by_base.items():
        if m is None and any(
            _ARM.sub("", e) == b and e not in own and e not in repeating for e in forms
        ):
            while nxt in taken:
                nxt += 1
            by_base[b] = (nxt, "order")
            taken.add(nxt)
    out = []
    for e, fs in forms.items():
        m, how = own.get(e) or by_base[_ARM.sub("", e)]
        if m is None:  # a repeating event that gives no month: no scheduled visit
            m, how = 0, "repeats"
        s = scheduled.get(e)
        days = s.days if s is not None else None
        # REDCap's window is around its day: it is the visit's only when the day gave the month
        window = s.window if s is not None and how == "offset" else None
        out.append(Event(e, arms[e], tuple(fs), m, how, days, window))
    return out


def offset_notes(
    events: Sequence[Event], baseline_form: str, defined: Collection[str]
) -> list[str]:
    """What to check in what the event definitions gave (``defined``: their events): an
    offset the name contradicts (the offset wins), events not defined, a day offset more
    than 3 days from its month's due date (its window is REDCap's, but around the
    month). An offset under a month is :func:`short_offset`'s, once the month is known."""
    warnings: list[str] = []
    baseline = {e.base for e in events if baseline_form in e.forms}
    follow_ups = [e for e in events if e.base not in baseline]
    absent = [e.name for e in follow_ups if e.name not in defined]
    if absent:
        warnings.append(
            f"event{'s' * (len(absent) > 1)} {', '.join(absent)} not in the event definitions: "
            "months from the names (or dates, or order)"
        )
    for e in follow_ups:
        if e.how != "offset" or e.days is None:
            continue
        named, how = month_of(e.name)
        if named is not None and (round(named) != e.month or how == "baseline"):
            said = "baseline" if how == "baseline" else f"month {round(named)}"
            warnings.append(
                f"event {e.name}: its name says {said} but its day_offset ({e.days:g} days "
                f"after the baseline event) month {e.month}: month {e.month} written (the "
                "event definitions win)"
            )
        due = e.month * DAYS_PER_MONTH
        if abs(e.days - due) > 3:
            warnings.append(
                f"event {e.name}: day_offset {e.days:g} days after the baseline event is month "
                f"{e.month} rounded, due about {due:.0f} days after consent; its window is "
                "REDCap's around that date: edit it if it must keep REDCap's days"
            )
    return warnings


def short_offset(e: Event) -> str | None:
    """What init did with a follow-up event whose day offset is under a month after the
    baseline event (so it gives no visit month), for a data manager to check; None for
    any other event."""
    if e.days is None or e.how in ("offset", "baseline") or month_of(e.name)[1] == "baseline":
        return None
    said = (
        f"event {e.name}: REDCap's event definitions put it {e.days:g} day"
        f"{'s' * (e.days != 1)} after the baseline event (day_offset), under a month"
    )
    if e.how == "repeats":
        return (
            f"{said}, and it repeats whole: init made it no scheduled visit (its forms' "
            "tables have no visit and no window is checked); check the protocol does not "
            "schedule it"
        )
    source = {
        "order": "its place among the events (its name gives no month)",
        "dates": "the median time from consent to its forms' dates",
    }.get(e.how, "its name")
    return (
        f"{said}: init made it the month-{e.month} visit from {source}; check that month "
        "against the protocol and edit [visits] if it differs"
    )
