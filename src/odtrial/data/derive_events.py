"""Dates as day numbers, follow-up windows, spells in a state and time to event.

Everything here works on whole arrays (no loop per participant): events carry
``pidx``, the row of their participant in the participant table, and
per-participant quantities are arrays indexed by it.

Day conventions (shared by every outcome)
-----------------------------------------
Dates are whole days. A participant's follow-up covers the ``followup_days =
window_end - consent`` days ``consent, consent + 1, ..., window_end - 1``;
think of day ``k`` as the time interval ``[k, k + 1)``, so the window is the
half-open interval ``[consent, window_end)``. Exposure (nights in a state such
as hospital, days on a drug) is counted on it, so someone in the state
throughout has exactly ``followup_days`` nights in it.

Events (a spell starting, a dated record such as a referral) are dated, not
timed, and
count when their date lies in the closed range ``[consent, window_end]``: an
event on the consent day counts (day 0), and so does one dated exactly on the
window end (it happened "within 24 months"). Time to event is the date
difference in days; follow-up for it ends at the window end or an earlier censoring
date, and an event on that last day counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_NAT = np.iinfo(np.int64).min


def to_days(values: pd.Series | pd.Index | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dates as int64 day numbers since 1970-01-01, plus a mask of missing dates.

    Any datetime64 resolution is accepted; the time of day is dropped. Missing
    dates get day 0 in the first array (use the mask).
    """
    arr = np.asarray(values)
    if arr.dtype.kind != "M":
        raise TypeError(f"expected datetime64 values, got {arr.dtype}")
    days = arr.astype("datetime64[D]").astype(np.int64)
    missing = days == _NAT
    return np.where(missing, 0, days), missing


def from_days(days: np.ndarray, unit: str = "s") -> np.ndarray:
    """Day numbers back to ``datetime64[unit]`` (midnight)."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype(f"datetime64[{unit}]")


def add_months(days: np.ndarray, months: int) -> np.ndarray:
    """Add calendar months to day numbers, as :class:`pandas.DateOffset` does:
    the day of the month is kept, or clipped to the last day of a shorter month
    (31 January + 1 month = 28 or 29 February).
    """
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    day_of_month = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.timedelta64(months, "M")
    first = target.astype("datetime64[D]")
    month_len = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - first).astype(np.int64)
    return (first + np.minimum(day_of_month, month_len - 1)).astype(np.int64)


def _arrow_strings(values: pd.Series | pd.Index) -> pa.Array | pa.ChunkedArray:
    arr = pa.array(pd.Series(values).astype("string[pyarrow]").array)
    return arr.cast(pa.large_string())


def participant_index(ids: pd.Series, participant_ids: pd.Series | pd.Index) -> np.ndarray:
    """Row of each event's participant in ``participant_ids`` (-1 if unknown).

    A hash lookup in Arrow: several times faster than ``Index.get_indexer`` on
    a million string ids.
    """
    pos = pc.index_in(_arrow_strings(ids), value_set=_arrow_strings(participant_ids))
    return np.asarray(pos.fill_null(-1).to_numpy(), dtype=np.int64)


def group_cummax(pidx: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` within each run of equal ``pidx``.

    ``pidx`` must be sorted ascending and ``values`` non-negative and below
    ``2**31``: each group is lifted by ``pidx * stride`` so that one global
    cumulative maximum never carries a value across groups.
    """
    if len(values) == 0:
        return values.copy()
    stride = np.int64(values.max()) + 1
    lifted = pidx.astype(np.int64) * stride + values
    return np.maximum.accumulate(lifted) - pidx.astype(np.int64) * stride


@dataclass(frozen=True)
class Spells:
    """Continuous inpatient spells: stays merged where they overlap or touch.

    Each spell is the half-open day interval ``[start, end)`` (``end`` is the
    last stay's end date, e.g. a discharge, not itself a night in the state).
    """

    pidx: np.ndarray
    start: np.ndarray
    end: np.ndarray


def merge_stays(pidx: np.ndarray, admit: np.ndarray, discharge: np.ndarray) -> Spells:
    """Merge each participant's stays into continuous spells.

    Stays are ``[admit, discharge)`` in days; a stay starting on or before the
    latest end so far (overlap, or a new stay on the day the last one ended)
    continues the same spell. Sort by participant and start, then a running
    maximum of ends per participant marks where a new spell begins.
    """
    if len(pidx) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Spells(empty, empty, empty)
    order = np.lexsort((discharge, admit, pidx))
    p, a, d = pidx[order], admit[order], np.maximum(discharge[order], admit[order])
    base = min(int(a.min()), int(d.min()))
    a_rel, d_rel = a - base, d - base
    running = group_cummax(p, d_rel)
    previous = np.empty_like(running)
    previous[0] = -1
    previous[1:] = running[:-1]
    new_group = np.ones(len(p), dtype=bool)
    new_group[1:] = p[1:] != p[:-1]
    starts = new_group | (a_rel > previous)
    idx_start = np.flatnonzero(starts)
    idx_last = np.append(idx_start[1:] - 1, len(p) - 1)
    return Spells(p[idx_start], a[idx_start], running[idx_last] + base)


def overlap_days(start: np.ndarray, end: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Length in days of ``[start, end) ∩ [lo, hi)`` (0 when they do not meet)."""
    return np.maximum(np.minimum(end, hi) - np.maximum(start, lo), 0)


def spell_nights(spells: Spells, consent: np.ndarray, window_end: np.ndarray) -> np.ndarray:
    """Nights in the spells per participant within ``[consent, window_end)``."""
    n = len(consent)
    nights = overlap_days(spells.start, spells.end, consent[spells.pidx], window_end[spells.pidx])
    return np.bincount(spells.pidx, weights=nights, minlength=n).astype(np.int64)


def in_window(
    day: np.ndarray, pidx: np.ndarray, consent: np.ndarray, window_end: np.ndarray
) -> np.ndarray:
    """Whether each dated event falls in ``[consent, window_end]`` of its participant."""
    return (day >= consent[pidx]) & (day <= window_end[pidx])


def first_day(pidx: np.ndarray, day: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Earliest ``day`` per participant, and whether there is one."""
    none = np.iinfo(np.int64).max
    out = np.full(n, none, dtype=np.int64)
    np.minimum.at(out, pidx, day)
    has = out != none
    return np.where(has, out, 0), has


def time_to_first_event(
    first: np.ndarray,
    has_event: np.ndarray,
    consent: np.ndarray,
    window_end: np.ndarray,
    censor: np.ndarray | None = None,
    has_censor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Days from consent to the first event or the end of follow-up, and whether the
    event was observed.

    Follow-up ends at the window end or, where the participant has one, at the censoring
    day (withdrawal, death, loss to follow-up) if that is earlier. An event on the day
    follow-up ends is observed (an event on the day of withdrawal counts, as is usual in
    trials); one after it is not, and the time is that of the censoring. ``first`` must
    already lie in ``[consent, window_end]`` where ``has_event``.
    """
    stop = window_end
    if censor is not None and has_censor is not None:
        stop = np.where(has_censor, np.minimum(censor, window_end), window_end)
    event = has_event & (first <= stop)
    return np.where(event, first, stop).astype(np.int64) - consent, event
