"""Day numbers, calendar months, spell merging and time to event."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odtrial.data.derive_events import (
    add_months,
    first_day,
    from_days,
    group_cummax,
    in_window,
    merge_stays,
    overlap_days,
    spell_nights,
    time_to_first_event,
    to_days,
)


def day(s: str) -> int:
    return int((pd.Timestamp(s) - pd.Timestamp("1970-01-01")).days)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_to_days_any_resolution(unit: str) -> None:
    s = pd.Series(
        pd.to_datetime(["2022-01-01", None, "1969-12-31 13:00"], format="ISO8601")
    ).astype(f"datetime64[{unit}]")
    days, missing = to_days(s)
    assert days.tolist() == [day("2022-01-01"), 0, -1]
    assert missing.tolist() == [False, True, False]


def test_to_days_rejects_non_dates() -> None:
    with pytest.raises(TypeError, match="expected datetime64 values"):
        to_days(pd.Series(["2022-01-01"]))


def test_from_days_round_trip() -> None:
    d = np.array([day("2024-02-29"), 0])
    assert from_days(d, "us").tolist() == [pd.Timestamp("2024-02-29"), pd.Timestamp("1970-01-01")]


def test_add_months_clips_to_month_end() -> None:
    start = np.array(
        [day(s) for s in ("2022-01-31", "2022-03-31", "2022-03-31", "2023-06-15", "2022-02-28")]
    )
    got = [add_months(start[i : i + 1], m)[0] for i, m in enumerate((1, 11, 23, 24, 24))]
    assert got == [
        day("2022-02-28"),
        day("2023-02-28"),
        day("2024-02-29"),
        day("2025-06-15"),
        day("2024-02-28"),
    ]


def test_add_months_agrees_with_dateoffset() -> None:
    rng = np.random.default_rng(20261125)
    start = rng.integers(day("1990-01-01"), day("2030-12-31"), size=5_000)
    for months in (1, 12, 23, 24, 61):
        expected = to_days(pd.Series(from_days(start, "s")) + pd.DateOffset(months=months))[0]
        np.testing.assert_array_equal(add_months(start, months), expected)


def test_group_cummax_does_not_leak_between_groups() -> None:
    pidx = np.array([0, 0, 0, 1, 1, 2])
    vals = np.array([5, 3, 9, 1, 4, 0])
    assert group_cummax(pidx, vals).tolist() == [5, 5, 9, 1, 4, 0]


def test_merge_stays_overlap_touch_nested_gap_unsorted() -> None:
    # participant 0: [10,20) and [15,25) overlap; [25,30) touches; [31,33) after a gap
    # participant 1: [5,50) contains [10,12); [50,50) same-day stay touching it
    # participant 2: a lone stay
    pidx = np.array([1, 0, 0, 2, 0, 1, 0, 1])
    admit = np.array([10, 25, 10, 100, 31, 5, 15, 50])
    disch = np.array([12, 30, 20, 104, 33, 50, 25, 50])
    sp = merge_stays(pidx, admit, disch)
    got = list(zip(sp.pidx.tolist(), sp.start.tolist(), sp.end.tolist(), strict=True))
    assert got == [(0, 10, 30), (0, 31, 33), (1, 5, 50), (2, 100, 104)]


def test_merge_stays_empty() -> None:
    e = np.zeros(0, dtype=np.int64)
    sp = merge_stays(e, e, e)
    assert len(sp.pidx) == 0
    assert spell_nights(sp, np.array([0, 0]), np.array([10, 10])).tolist() == [0, 0]


def test_spell_nights_clipped_to_window() -> None:
    # window [100, 200) for participant 0, [0, 5) for participant 1
    sp = merge_stays(np.array([0, 0, 1]), np.array([90, 150, 3]), np.array([110, 400, 4]))
    beds = spell_nights(sp, np.array([100, 0]), np.array([200, 5]))
    assert beds.tolist() == [10 + 50, 1]


def test_bed_days_match_day_by_day_count() -> None:
    """Random stays against a plain set-of-nights count."""
    rng = np.random.default_rng(7)
    n, m = 40, 400
    pidx = rng.integers(0, n, m)
    admit = rng.integers(0, 300, m)
    disch = admit + rng.integers(0, 40, m)
    consent = rng.integers(0, 150, n)
    wend = consent + rng.integers(0, 200, n)
    got = spell_nights(merge_stays(pidx, admit, disch), consent, wend)
    for i in range(n):
        nights: set[int] = set()
        for p, a, d in zip(pidx, admit, disch, strict=True):
            if p == i:
                nights.update(range(a, d))
        assert got[i] == len(nights & set(range(consent[i], wend[i]))), i


def test_spell_count_matches_reference() -> None:
    """Spells counted by walking each participant's sorted stays."""
    rng = np.random.default_rng(11)
    n, m = 30, 300
    pidx = rng.integers(0, n, m)
    admit = rng.integers(0, 400, m)
    disch = admit + rng.integers(0, 30, m)
    sp = merge_stays(pidx, admit, disch)
    for i in range(n):
        stays = sorted((a, d) for p, a, d in zip(pidx, admit, disch, strict=True) if p == i)
        spells: list[list[int]] = []
        for a, d in stays:
            if spells and a <= spells[-1][1]:
                spells[-1][1] = max(spells[-1][1], d)
            else:
                spells.append([a, d])
        mine = [
            [int(s), int(e)] for p, s, e in zip(sp.pidx, sp.start, sp.end, strict=True) if p == i
        ]
        assert mine == spells, i


def test_overlap_days() -> None:
    got = overlap_days(
        np.array([0, 5, 20, 9]),
        np.array([10, 8, 30, 9]),
        np.array([5, 5, 5, 0]),
        np.array([15, 15, 15, 20]),
    )
    assert got.tolist() == [5, 3, 0, 0]


def test_in_window_is_closed_at_both_ends() -> None:
    consent, wend = np.array([10]), np.array([20])
    d = np.array([9, 10, 20, 21])
    assert in_window(d, np.zeros(4, dtype=np.int64), consent, wend).tolist() == [
        False,
        True,
        True,
        False,
    ]


def test_first_day_and_censoring() -> None:
    first, has = first_day(np.array([2, 0, 2, 2]), np.array([50, 7, 30, 40]), 4)
    assert has.tolist() == [True, False, True, False]
    assert first[has].tolist() == [7, 30]
    consent = np.array([0, 10, 20, 0])
    window_end = consent + np.array([100, 100, 100, 5])
    days, event = time_to_first_event(first, has, consent, window_end)
    assert days.tolist() == [7, 100, 10, 5]
    assert event.tolist() == has.tolist()


def test_censoring_before_at_and_after_the_event() -> None:
    # first events at days 10, 10, 10, none, 10, none; window end 100 (the last: 8)
    first = np.array([10, 10, 10, 0, 10, 0])
    has = np.array([True, True, True, False, True, False])
    consent = np.zeros(6, dtype=np.int64)
    end = np.array([100, 100, 100, 100, 100, 8])
    censor = np.array([5, 10, 50, 40, 0, 200])
    has_c = np.array([True, True, True, True, False, True])
    days, event = time_to_first_event(first, has, consent, end, censor, has_c)
    # censored before the event; event on the censoring day counts; event before it;
    # no event: censored at 40; no censoring date; censoring after the window end
    assert days.tolist() == [5, 10, 10, 40, 10, 8]
    assert event.tolist() == [False, True, True, False, True, False]
