"""Events -> visit months: from REDCap's event definitions (day offsets in months, their
windows), else from the name, rounded from weeks, else by order; a repeating event that
gives no month is no visit."""

from __future__ import annotations

from pathlib import Path

import pytest

from odtrial.errors import ConfigError
from odtrial.redcap.events import (
    Event,
    EventDefinition,
    events_from,
    month_of,
    offset_notes,
    read_definitions,
    read_designations,
    schedule,
    short_offset,
)


@pytest.mark.parametrize(
    ("name", "month"),
    [
        ("baseline_arm_1", 0),
        ("screening_arm_2", 0),
        ("month_6_arm_1", 6),
        ("6_month_fu_arm_1", 6),
        ("m18_arm_1", 18),
        ("fu_12m_arm_1", 12),
        ("year_2_arm_1", 24),
        ("week_26_arm_1", 6),
        ("day_90_arm_1", 3),
        ("followup_1_arm_1", None),
        ("final_arm_1", None),
    ],
)
def test_month_of(name: str, month: int | None) -> None:
    m, _ = month_of(name)
    assert (None if m is None else round(m)) == month


def test_unreadable_events_take_the_next_free_month_in_order() -> None:
    rows = [
        (1, "baseline_arm_1", "a"),
        (1, "visit_x_arm_1", "b"),
        (1, "month_1_arm_1", "b"),
        (1, "visit_y_arm_1", "b"),
        (2, "baseline_arm_2", "a"),
        (2, "visit_x_arm_2", "b"),
        (1, "visit_x_arm_1", "c"),
    ]
    ev = {e.name: (e.month, e.how, e.forms) for e in events_from(rows)}
    assert ev["baseline_arm_1"] == (0, "baseline", ("a",))
    assert ev["month_1_arm_1"][:2] == (1, "name")
    assert ev["visit_x_arm_1"] == (2, "order", ("b", "c"))
    assert ev["visit_y_arm_1"][:2] == (3, "order")
    assert ev["visit_x_arm_2"][:2] == (2, "order")  # the same event in the other arm


def test_the_events_list_is_not_the_designations(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text(
        "event_name,arm_num,unique_event_name,custom_event_label,event_id,days_offset\n"
        "Baseline,1,baseline_arm_1,,1,0\n"
    )
    (tmp_path / "d.csv").write_text("unique_event_name,form\nbaseline_arm_1,a\n")
    with pytest.raises(ConfigError, match="this is the event definitions: give it as --redcap-"):
        read_designations(tmp_path / "e.csv")
    with pytest.raises(ConfigError, match="this is the instrument designations: give it as"):
        read_definitions(tmp_path / "d.csv")
    assert read_designations(tmp_path / "d.csv") == [(1, "baseline_arm_1", "a")]


def test_event_definitions_in_any_column_order(tmp_path: Path) -> None:
    """Define My Events' download, or the API's export with its event_id and days_offset:
    the columns are found by name; 0 and 0 is no window; a minimum's sign is ignored."""
    (tmp_path / "page.csv").write_text(
        "event_name,arm_num,day_offset,offset_min,offset_max,unique_event_name,"
        "custom_event_label\n"
        "Baseline,1,0,0,0,baseline_arm_1,\n"
        '"6 Month",1,182.5,14,28,6_month_arm_1,Six months\n'
        "Unscheduled,1,,,,unscheduled_arm_1,\n"
    )
    (tmp_path / "api.csv").write_text(
        "unique_event_name,event_id,days_offset,offset_max,event_name,offset_min\n"
        "baseline_arm_1,41,0,,Baseline,\n"
        "6_month_arm_1,42,182.5,28,6 Month,-14\n"
    )
    page, api = read_definitions(tmp_path / "page.csv"), read_definitions(tmp_path / "api.csv")
    assert page == [
        EventDefinition("baseline_arm_1", 1, "Baseline", 0.0, None),
        EventDefinition("6_month_arm_1", 1, "Six months", 182.5, (14, 28)),
        EventDefinition("unscheduled_arm_1", 1, "Unscheduled", None, None),
    ]
    assert [(d.name, d.day_offset, d.window) for d in api] == [
        (d.name, d.day_offset, d.window) for d in page[:2]
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("unique_event_name,day_offset\n", "no events"),
        ("unique_event_name,event_name\na_arm_1,A\n", "not REDCap event definitions"),
        ("event_name,arm_num\nBaseline,1\n", "not REDCap event definitions"),
        ("unique_event_name,day_offset\na_arm_1,0\na_arm_1,3\n", "line 3: event 'a_arm_1' is"),
        ("unique_event_name,day_offset\na_arm_1,six\n", "line 2: day_offset 'six' is not a"),
        ("unique_event_name,day_offset,arm_num\na_arm_1,1,one\n", "arm_num 'one' is not a n"),
    ],
)
def test_event_definitions_that_cannot_be_read(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "e.csv").write_text(text)
    with pytest.raises(ConfigError, match=match):
        read_definitions(tmp_path / "e.csv")


ROWS = [
    (1, "screening_arm_1", "elig"),
    (1, "baseline_arm_1", "consent"),
    (1, "month_6_arm_1", "qol"),
    (1, "week_12_arm_1", "qol"),
    (1, "fu_x_arm_1", "qol"),
    (1, "unscheduled_arm_1", "qol"),
    (1, "fu_y_arm_1", "qol"),
    (2, "baseline_arm_2", "consent"),
    (2, "month_6_arm_2", "qol"),
]
DEFS = [
    EventDefinition("screening_arm_1", 1, "S", 0.0, None),
    EventDefinition("baseline_arm_1", 1, "B", 7.0, None),
    EventDefinition("month_6_arm_1", 1, "M6", 220.0, (14, 14)),  # 213 days: month 7
    EventDefinition("week_12_arm_1", 1, "W12", 91.0, (7, 7)),  # 84 days: month 3
    EventDefinition("fu_x_arm_1", 1, "X", 9.0, (3, 3)),  # 2 days: an order, not a month
    EventDefinition("baseline_arm_2", 2, "B", 0.0, None),
    EventDefinition("month_6_arm_2", 2, "M6", 183.0, (0, 30)),
]


def test_day_offsets_after_each_arms_baseline_in_months() -> None:
    """Days after the arm's baseline event (the one collecting the consent form) in
    months of 30.4375 days, rounded; under a month, the name or the order decides; a
    repeating event giving no month is no visit; the same name in another arm keeps its
    own offset."""
    s = schedule(DEFS, ROWS, "consent")
    assert (s["screening_arm_1"].days, s["screening_arm_1"].month) == (-7.0, None)
    assert (s["month_6_arm_1"].days, s["month_6_arm_1"].month) == (213.0, 7)
    assert (s["month_6_arm_2"].days, s["month_6_arm_2"].month) == (183.0, 6)
    ev = {e.name: e for e in events_from(ROWS, s, repeating={"unscheduled_arm_1"})}
    got = {n: (e.month, e.how, e.window) for n, e in ev.items()}
    assert got == {
        "screening_arm_1": (0, "baseline", None),
        "baseline_arm_1": (0, "baseline", None),
        "month_6_arm_1": (7, "offset", (14, 14)),
        "week_12_arm_1": (3, "offset", (7, 7)),
        "fu_x_arm_1": (1, "order", None),  # the first month free
        "unscheduled_arm_1": (0, "repeats", None),
        "fu_y_arm_1": (2, "order", None),  # not defined: its place in order
        "baseline_arm_2": (0, "baseline", None),
        "month_6_arm_2": (6, "offset", (0, 30)),
    }
    notes = offset_notes(list(ev.values()), "consent", {d.name for d in DEFS})
    assert notes == [
        "events unscheduled_arm_1, fu_y_arm_1 not in the event definitions: months from the "
        "names (or dates, or order)",
        "event month_6_arm_1: its name says month 6 but its day_offset (213 days after the "
        "baseline event) month 7: month 7 written (the event definitions win)",
        "event week_12_arm_1: day_offset 84 days after the baseline event is month 3 rounded, "
        "due about 91 days after consent; its window is REDCap's around that date: edit it "
        "if it must keep REDCap's days",
    ]
    # an offset under a month: what init made of the event, once its month is known
    assert {n: short_offset(e) for n, e in ev.items() if short_offset(e)} == {
        "fu_x_arm_1": "event fu_x_arm_1: REDCap's event definitions put it 2 days after the "
        "baseline event (day_offset), under a month: init made it the month-1 visit from its "
        "place among the events (its name gives no month); check that month against the "
        "protocol and edit [visits] if it differs"
    }
    episode = Event("episode_arm_1", 1, ("episode",), 0, "repeats", 1.0)
    assert short_offset(episode) == (
        "event episode_arm_1: REDCap's event definitions put it 1 day after the baseline "
        "event (day_offset), under a month, and it repeats whole: init made it no scheduled "
        "visit (its forms' tables have no visit and no window is checked); check the "
        "protocol does not schedule it"
    )
