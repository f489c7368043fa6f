"""Derivation kinds over dated events and spells: any event, count of events, days in
a state, time to the first event.

An event source is a table with either a ``date`` field (each record is an event on that
day) or a ``start`` and an ``end`` field (each record is a stay, ``[start, end)`` in days:
the end day, a discharge, is not a night in the state). Stays are merged into spells
where they overlap or touch (``merge = true``, the default); an open end (no end date)
runs past the data cut-off. ``where = {field, in = [...]}`` keeps only the matching
records (before merging). Records without a date, or whose participant is not in the
cohort, are ignored and counted.

The day conventions are those of :mod:`odtrial.data.derive_events`: an event counts when
dated in ``[consent, window_end]``; a spell counts as an event when it *starts* there, so
a spell under way at consent (the index episode), and a stay that continues it without a
night out, does not; days in a state are nights in ``[consent, window_end)``. A time to
event may also be censored before the window end, at a date per participant (``censor``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from odtrial.data.derive_context import Cohort, Derived, Window, fail
from odtrial.data.derive_events import (
    Spells,
    first_day,
    in_window,
    merge_stays,
    spell_nights,
    time_to_first_event,
)


@dataclass(frozen=True)
class Occurrences:
    """Events of one source in a window: participant row and day of each."""

    pidx: np.ndarray
    day: np.ndarray
    counts: Mapping[str, int]


def _stays(
    c: Cohort, key: str, table: str, start: str, end: str, where: Mapping[str, Any] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Kept stays (participant row, start day, end day; open end past the cut-off)."""
    c.table(table, f"{key}.table")
    s_day, s_missing = c.days(table, start, f"{key}.start")
    e_day, e_missing = c.days(table, end, f"{key}.end")
    keep = c.where(table, where, key) & ~s_missing
    pidx = c.rows(table, key).pidx
    e_day = np.where(e_missing, c.cutoff_day + 1, e_day)
    counts = {
        "rows_unknown_participant": c.rows(table, key).unknown,
        "rows_missing_start": int((c.where(table, where, key) & s_missing).sum()),
        "open_ended": int((keep & e_missing).sum()),
    }
    return pidx[keep], s_day[keep], e_day[keep], counts


def _spells(pidx: np.ndarray, start: np.ndarray, end: np.ndarray, merge: bool) -> Spells:
    if merge:
        return merge_stays(pidx, start, end)
    return Spells(pidx, start, np.maximum(end, start))


def _ongoing(spells: Spells, consent: np.ndarray) -> int:
    """Spells under way at consent (index episodes)."""
    at = consent[spells.pidx]
    return int(((spells.start < at) & (spells.end > at)).sum())


def occurrences(
    c: Cohort,
    key: str,
    window: Window,
    *,
    table: str,
    date: str | None = None,
    start: str | None = None,
    end: str | None = None,
    merge: bool = True,
    where: Mapping[str, Any] | None = None,
) -> Occurrences:
    """The events of one source dated in ``[consent, window_end]``."""
    c.table(table, f"{key}.table")
    if date is not None:
        day, missing = c.days(table, date, f"{key}.date")
        keep = c.where(table, where, key)
        ok = keep & ~missing
        pidx, day = c.rows(table, key).pidx[ok], day[ok]
        counts = {
            "rows_unknown_participant": c.rows(table, key).unknown,
            "rows_missing_date": int((keep & missing).sum()),
        }
    elif start is not None and end is not None:
        sp, s, e, counts = _stays(c, key, table, start, end, where)
        spells = _spells(sp, s, e, merge)
        counts["ongoing_at_consent"] = _ongoing(spells, c.consent)
        pidx, day = spells.pidx, spells.start
    else:
        raise fail(key, "needs either date or both start and end")
    inside = in_window(day, pidx, c.consent, window.end)
    return Occurrences(pidx[inside], day[inside], counts)


def _as_bool(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.array(values, dtype="boolean"))


def _as_int(values: np.ndarray) -> pd.Series:
    return pd.Series(pd.array(values.astype(np.int64), dtype="Int64"))


def any_event(
    c: Cohort,
    key: str,
    *,
    table: str,
    date: str | None = None,
    start: str | None = None,
    end: str | None = None,
    merge: bool = True,
    where: Mapping[str, Any] | None = None,
    window_months: int | None = None,
) -> Derived:
    """Whether the participant has an event (or a spell starting) in the window."""
    occ = occurrences(
        c, key, c.window(window_months), table=table, date=date, start=start, end=end,
        merge=merge, where=where,
    )  # fmt: skip
    n = np.bincount(occ.pidx, minlength=c.n)
    return Derived(
        {"": _as_bool(n > 0)}, {**occ.counts, "with_event": int((n > 0).sum())}, (table,)
    )


def count_events(
    c: Cohort,
    key: str,
    *,
    table: str,
    date: str | None = None,
    start: str | None = None,
    end: str | None = None,
    merge: bool = True,
    where: Mapping[str, Any] | None = None,
    window_months: int | None = None,
    censor: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> Derived:
    """The number of events (or of spells starting) in the window; with ``censor``, in
    the follow-up it leaves (an event on the censoring day counts), and the follow-up
    days themselves (``_followup_days``: a rate's offset)."""
    w = c.window(window_months)
    occ = occurrences(
        c, key, w, table=table, date=date, start=start, end=end, merge=merge, where=where
    )
    counts: dict[str, Any] = dict(occ.counts)
    pidx = occ.pidx
    stop = w.end
    if censor is not None:
        cens = censoring(c, f"{key}.censor", censor)
        stop = cens.stop(w.end)
        kept = occ.day <= stop[pidx]
        counts |= cens.counts(c, cens.has & (cens.day < w.end))
        counts["events_after_censoring"] = int((~kept).sum())
        pidx = pidx[kept]
    n = np.bincount(pidx, minlength=c.n)
    counts["events"] = int(n.sum())
    cols = {"": _as_int(n)}
    if censor is not None:
        cols["_followup_days"] = _as_int(stop - c.consent)
    return Derived(cols, counts, (table,))


def days_in_state(
    c: Cohort,
    key: str,
    *,
    table: str,
    start: str,
    end: str,
    merge: bool = True,
    where: Mapping[str, Any] | None = None,
    window_months: int | None = None,
    censor: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> Derived:
    """Nights in the state within ``[consent, window_end)`` (midnight count: the start
    day counts, the end day does not; a same-day stay is 0 nights). Merged spells are
    counted once, so the result never exceeds the follow-up days; without merging,
    overlapping stays count twice. An open end runs to the window end. With ``censor``,
    nights up to the censoring day instead when it is earlier, and the follow-up days
    (``_followup_days``)."""
    w = c.window(window_months)
    sp, s, e, counts = _stays(c, key, table, start, end, where)
    spells = _spells(sp, s, e, merge)
    stop = w.end
    if censor is not None:
        cens = censoring(c, f"{key}.censor", censor)
        stop = cens.stop(w.end)
        counts |= cens.counts(c, cens.has & (cens.day < w.end))
    days = spell_nights(spells, c.consent, stop)
    counts["ongoing_at_consent"] = _ongoing(spells, c.consent)
    cols = {"": _as_int(days)}
    if censor is not None:
        cols["_followup_days"] = _as_int(stop - c.consent)
    return Derived(cols, counts, (table,))


@dataclass(frozen=True)
class Censoring:
    """Each participant's earliest censoring day (``day`` where ``has``), and per source
    its counts and each participant's earliest day from it."""

    day: np.ndarray
    has: np.ndarray
    by_source: list[tuple[np.ndarray, np.ndarray, dict[str, Any]]]
    tables: tuple[str, ...]

    def stop(self, window_end: np.ndarray) -> np.ndarray:
        """The day each participant's follow-up ends: the censoring day, or the window
        end if earlier."""
        return np.where(self.has, np.minimum(self.day, window_end), window_end)

    def counts(self, c: Cohort, early: np.ndarray) -> dict[str, Any]:
        """The derivation's censoring counts, ``early`` the participants whose follow-up
        a censoring date cut short (as the caller counts them)."""
        return {
            "censored_early": int(early.sum()),
            "censor_not_collected": int(c.not_collected(self.tables).sum()),
            "censor_sources": [
                {**n, "censored": int((early & h & (f == self.day)).sum())}
                for f, h, n in self.by_source
            ],
        }


def censoring(
    c: Cohort, key: str, censor: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> Censoring:
    """The censoring days of ``censor`` (``{table, date, where?}``, or a list of them): per
    participant the earliest date on or after consent of any matching record. A record
    without a date does not censor; one dated before consent is ignored and counted (an
    ingest rule queries such dates)."""
    one = isinstance(censor, Mapping)
    sources = [censor] if isinstance(censor, Mapping) else list(censor)
    if not sources:
        raise fail(key, "must list at least one censoring source (or be left out)")
    pidx_all, day_all, by_source = [], [], []
    for i, src in enumerate(sources):
        k = key if one else f"{key}[{i}]"
        table, date = src.get("table"), src.get("date")
        if table is None or date is None:
            raise fail(k, "needs table and date (the date that censors)")
        c.table(str(table), f"{k}.table")
        day, missing = c.days(str(table), str(date), f"{k}.date")
        keep = c.where(str(table), src.get("where"), k)
        pidx = c.rows(str(table), k).pidx
        early = keep & ~missing & (day < c.consent[pidx])
        ok = keep & ~missing & ~early
        first, has = first_day(pidx[ok], day[ok], c.n)
        counts = {
            "table": str(table),
            "rows_unknown_participant": c.rows(str(table), k).unknown,
            "rows_missing_date": int((keep & missing).sum()),
            "rows_before_consent": int(early.sum()),
        }
        by_source.append((first, has, counts))
        pidx_all.append(pidx[ok])
        day_all.append(day[ok])
    day, has = first_day(np.concatenate(pidx_all), np.concatenate(day_all), c.n)
    tables = tuple(dict.fromkeys(str(src["table"]) for src in sources))
    return Censoring(day, has, by_source, tables)


def time_to_event(
    c: Cohort,
    key: str,
    *,
    events: Sequence[Mapping[str, Any]],
    censor: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    window_months: int | None = None,
) -> Derived:
    """Days from consent to the first event of any source in the window (``_days``, 0 =
    on the consent day) and whether there was one (``_event``); without one, censored
    at the window end or at an earlier censoring date (``_event`` false).

    ``events`` lists the sources: ``{table, date}`` or ``{table, start, end}`` (a
    spell's start is the event), each with an optional ``where`` and ``merge``.
    ``censor`` (one table or a list) gives the censoring dates, ``{table, date, where?}``
    each (withdrawal, death, last contact): a participant is followed up to the earliest
    of them and the window end; an event on that day counts, one after it does not.
    A participant without a censoring date is censored at the window end only, and so is
    one whose trust did not send a censoring table (counted, not made NA).
    """
    w = c.window(window_months)
    found = [
        occurrences(c, f"{key}.events[{i}]", w, **{k: v for k, v in src.items()})
        for i, src in enumerate(events)
    ]
    pidx = np.concatenate([o.pidx for o in found]) if found else np.zeros(0, np.int64)
    day = np.concatenate([o.day for o in found]) if found else np.zeros(0, np.int64)
    first, has = first_day(pidx, day, c.n)
    cens = None
    if censor is not None:
        cens = censoring(c, f"{key}.censor", censor)
    cday, chas = (cens.day, cens.has) if cens is not None else (None, None)
    days, event = time_to_first_event(first, has, c.consent, w.end, cday, chas)
    tables = tuple(dict.fromkeys(str(src["table"]) for src in events))
    by_source = []
    for src, o in zip(events, found, strict=True):
        f, h = first_day(o.pidx, o.day, c.n)
        by_source.append(
            {"table": str(src["table"]), **o.counts, "first": int((event & h & (f == first)).sum())}
        )
    counts: dict[str, Any] = {"events": int(event.sum()), "sources": by_source}
    if cens is not None:
        # follow-up ended by a censoring date before the window end, without an event
        counts |= cens.counts(c, ~event & cens.has & (cens.day < w.end))
        counts["events_after_censoring"] = int((has & ~event).sum())
    return Derived({"_days": _as_int(days), "_event": _as_bool(event)}, counts, tables)
