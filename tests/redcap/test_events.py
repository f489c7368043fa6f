"""Events -> visit months: from the name, rounded from weeks, else by order."""

from __future__ import annotations

from pathlib import Path

import pytest

from odtrial.errors import ConfigError
from odtrial.redcap.events import events_from, month_of, read_designations


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
    with pytest.raises(ConfigError, match="this is the events list: export the instrument"):
        read_designations(tmp_path / "e.csv")
    (tmp_path / "d.csv").write_text("unique_event_name,form\nbaseline_arm_1,a\n")
    assert read_designations(tmp_path / "d.csv") == [(1, "baseline_arm_1", "a")]
