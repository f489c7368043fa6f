"""Events of a longitudinal REDCap project and the visits they become.

The instrument designations export (``arm_num, unique_event_name, form``) says
which forms each event collects, in event order. Each event's month after
consent is read from its unique name where the name says it (``month_6_arm_1``
-> 6, ``12m_fu_arm_1`` -> 12, ``year_2_arm_1`` -> 24, ``baseline_arm_1`` -> 0;
weeks and days are rounded to months); otherwise events take their place in the
order (the first such follow-up event month 1, the next 2, ... past the months
already taken) and the trial definition says so in a comment to edit.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from odtrial.errors import ConfigError

_UNITS: Final = {
    **dict.fromkeys(("m", "mo", "mon", "mth", "mths", "mnth", "month", "months"), 1.0),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 12.0),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7 / 30.4375),
    **dict.fromkeys(("d", "day", "days"), 1 / 30.4375),
}
_BASELINE: Final = re.compile(
    r"^(baseline|base|bl|screen|screening|enrol|enrolment|enroll|enrollment|consent|"
    r"registration|randomisation|randomization|recruitment|t0|v0|visit_0)"
)
_ARM: Final = re.compile(r"_arm_\d+$")


@dataclass(frozen=True)
class Event:
    """An event: its unique name, arm, the forms it collects, and its month after
    consent (``how``: ``"name"`` read from the name, ``"baseline"``, ``"order"``
    given by its place, ``"weeks"``/``"days"`` rounded from the name)."""

    name: str
    arm: int
    forms: tuple[str, ...]
    month: int
    how: str

    @property
    def base(self) -> str:
        """The name without its ``_arm_N`` suffix."""
        return _ARM.sub("", self.name)


def read_designations(path: str | Path) -> list[tuple[int, str, str]]:
    """``(arm, unique event name, form)`` rows of an instrument designations CSV."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the instrument designations ({e})") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    cols = {c.strip().lower() for c in (rows[0].keys() if rows else [])}
    if not {"unique_event_name", "form"} <= cols:
        extra = (
            " (this is the events list: export the instrument designations, "
            "arm_num, unique_event_name, form)"
            if "days_offset" in cols or "event_name" in cols
            else ""
        )
        raise ConfigError(
            f"{p}: not REDCap instrument designations (columns arm_num, unique_event_name, "
            f"form expected){extra}"
        )
    out = []
    for n, r in enumerate(rows, start=2):
        r = {k.strip().lower(): (v or "").strip() for k, v in r.items() if k is not None}
        if not r["unique_event_name"] or not r["form"]:
            raise ConfigError(f"{p}: line {n} lacks an event or a form")
        arm = r.get("arm_num") or "1"
        if not arm.isdigit():
            raise ConfigError(f"{p}: line {n}: arm_num {arm!r} is not a number")
        out.append((int(arm), r["unique_event_name"], r["form"]))
    if not out:
        raise ConfigError(f"{p}: no instrument designations")
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


def events_from(rows: Iterable[tuple[int, str, str]]) -> list[Event]:
    """Events in designation order with the forms each collects and its month: from the
    name, rounded to whole months; events the name gives no month (or less than one
    month for a follow-up) take the next month free in order."""
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
    taken = {m for m, _ in by_base.values() if m is not None}
    nxt = 1
    for b, (m, _how) in by_base.items():
        if m is None:
            while nxt in taken:
                nxt += 1
            by_base[b] = (nxt, "order")
            taken.add(nxt)
    out = []
    for e, fs in forms.items():
        m, how = by_base[_ARM.sub("", e)]
        assert m is not None
        out.append(Event(e, arms[e], tuple(fs), m, how))
    return out
