"""Costs: unit-cost and price-index tables, per-participant costs, intervention cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.econ import (
    EconError,
    PriceIndex,
    UnitCostTable,
    intervention_costs,
    load_intervention_costs,
    load_price_index,
    load_unit_costs,
    participant_costs,
)

UNIT_TOML = """
version = "test-1"
[[item]]
item = "gp_visit"
unit = "consultation"
cost = 40.0
price_year = 2021
source = "made up for the test"
category = "primary_care"
[[item]]
item = "nurse_visit"
unit = "consultation"
cost = 10.0
price_year = 2022
source = "made up for the test"
category = "primary_care"
[[item]]
item = "bed_day"
unit = "day"
cost = 400.0
price_year = 2022
source = "made up for the test"
category = "inpatient"
"""

INDEX_TOML = """
name = "test index"
source = "made up"
[index]
2021 = 100.0
2022 = 110.0
"""


@pytest.fixture
def tables(tmp_path: Path) -> tuple[UnitCostTable, PriceIndex]:
    (tmp_path / "units.toml").write_text(UNIT_TOML)
    (tmp_path / "index.toml").write_text(INDEX_TOML)
    return load_unit_costs(tmp_path / "units.toml"), load_price_index(tmp_path / "index.toml")


def test_tables_load_and_inflate(tables: tuple[UnitCostTable, PriceIndex]) -> None:
    units, index = tables
    assert units.version == "test-1"
    assert units.items["gp_visit"].price_year == 2021
    assert index.factor(2021, 2022) == pytest.approx(1.1)
    assert units.costs_in(2022, index) == pytest.approx(
        {"gp_visit": 44.0, "nurse_visit": 10.0, "bed_day": 400.0}
    )
    frame = units.to_frame()
    assert list(frame.columns) == ["item", "unit", "cost", "price_year", "source", "category"]
    assert UnitCostTable.from_frame(frame, version="again").items == units.items


def test_participant_costs_by_category_and_total(tables: tuple[UnitCostTable, PriceIndex]) -> None:
    units, index = tables
    use = pd.DataFrame(
        {
            "participant": ["a", "a", "a", "b", "c"],
            "item": ["gp_visit", "nurse_visit", "bed_day", "gp_visit", "nurse_visit"],
            "quantity": [2, 3, 1, 1, np.nan],
        }
    )
    got = participant_costs(
        use, units, price_year=2022, price_index=index, participants=["a", "b", "c", "d"]
    )
    assert list(got.columns) == ["inpatient", "primary_care", "total"]
    assert got.loc["a"].tolist() == pytest.approx([400.0, 2 * 44 + 30, 400 + 118])
    assert got.loc["b"].tolist() == pytest.approx([0.0, 44.0, 44.0])
    assert got.loc["c", "inpatient"] == 0.0
    assert np.isnan(got.loc["c", "primary_care"]) and np.isnan(got.loc["c", "total"])
    assert got.loc["d"].tolist() == [0.0, 0.0, 0.0]  # no resource use recorded: costs nothing


def test_costs_after_the_first_year_are_discounted(
    tables: tuple[UnitCostTable, PriceIndex],
) -> None:
    units, index = tables
    use = pd.DataFrame(
        {
            "participant": ["a", "a"],
            "item": ["bed_day", "bed_day"],
            "quantity": [1, 1],
            "years": [0.5, 1.5],
        }
    )
    got = participant_costs(use, units, price_year=2022, price_index=index, time="years")
    assert got.loc["a", "total"] == pytest.approx(400 + 400 / 1.035)


def test_cost_errors(tables: tuple[UnitCostTable, PriceIndex]) -> None:
    units, index = tables
    use = pd.DataFrame({"participant": ["a"], "item": ["gp_vist"], "quantity": [1]})
    with pytest.raises(
        EconError, match=r"no unit cost in table 'test-1': 'gp_vist' \(did you mean 'gp_visit'\?\)"
    ):
        participant_costs(use, units, price_year=2022, price_index=index)
    use = pd.DataFrame({"participant": ["a"], "item": ["gp_visit"], "quantity": [-1]})
    with pytest.raises(EconError, match="non-negative number; row 0 has -1"):
        participant_costs(use, units, price_year=2022, price_index=index)
    use = pd.DataFrame({"participant": ["a"], "item": ["gp_visit"], "quantity": [1]})
    with pytest.raises(EconError, match="in 2021 prices, not 2022: give a price index"):
        participant_costs(use, units, price_year=2022)
    with pytest.raises(EconError, match=r"no value for 2020 \(has 2021, 2022\)"):
        participant_costs(use, units, price_year=2020, price_index=index)
    with pytest.raises(EconError, match="participants not in the analysis"):
        participant_costs(use, units, price_year=2021, participants=["b"])
    with pytest.raises(EconError, match="needs column"):
        participant_costs(use.drop(columns="quantity"), units, price_year=2021)
    bad = units.to_frame()
    bad.loc[0, "source"] = ""
    with pytest.raises(EconError, match="give its source"):
        UnitCostTable.from_frame(bad, version="x")
    bad = pd.concat([units.to_frame()] * 2)
    with pytest.raises(EconError, match="appears twice"):
        UnitCostTable.from_frame(bad, version="x")


def test_intervention_cost_shared_within_treated_clusters() -> None:
    people = pd.DataFrame({"cluster": ["x", "x", "y", "z", "z", "z"], "treat": [1, 1, 1, 0, 0, 0]})
    got = intervention_costs(people, 1200.0)
    assert got.tolist() == [600.0, 600.0, 1200.0, 0.0, 0.0, 0.0]
    got = intervention_costs(people, {"x": 1000.0, "y": 3000.0}, cluster_size={"x": 10, "y": 20})
    assert got.tolist() == [100.0, 100.0, 150.0, 0.0, 0.0, 0.0]
    with pytest.raises(EconError, match=r"no intervention cost for cluster\(s\) \['y'\]"):
        intervention_costs(people, {"x": 1.0})


def test_each_clusters_intervention_cost_from_a_csv(tmp_path: Path) -> None:
    p = tmp_path / "intervention_costs.csv"
    p.write_text("cluster_id,cost,source\nC01,12000,budget 2023\n C02 ,9500.5,budget\n", "utf-8")
    assert load_intervention_costs(p) == {"C01": 12000.0, "C02": 9500.5}
    bad = {
        "cluster_id,amount\nC01,1\n": r"need columns cluster_id and cost; missing \['cost'\]",
        "cluster_id,cost\nC01,1\nC02,-5\n": r"line 3: a cluster id and a cost of 0 or more",
        "cluster_id,cost\nC01,1\n,4\n": r"line 3: a cluster id and a cost",
        "cluster_id,cost\nC01,1\nC01,2\n": r"cluster 'C01' has more than one cost",
    }
    for text, message in bad.items():
        p.write_text(text, "utf-8")
        with pytest.raises(EconError, match=message):
            load_intervention_costs(p)
    with pytest.raises(EconError, match="cannot read intervention costs"):
        load_intervention_costs(tmp_path / "absent.csv")
