"""Session fixtures: the shipped synthetic trial ingested once, and analysed once per
report type (blinded with the shipped draft SAP; unblinded and open with a final,
locked copy of it)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SAP = REPO / "analysis_plans" / "pod_synthetic_sap.toml"
TRIAL = REPO / "data" / "synthetic"


@dataclass(frozen=True)
class Run:
    out: Path
    results: dict[str, Any]

    def json_text(self) -> str:
        return (self.out / "results.json").read_text(encoding="utf-8")

    def outcome(self, oid: str) -> dict[str, Any]:
        return next(o for o in self.results["outcomes"] if o["id"] == oid)

    def sensitivity(self, sid: str) -> dict[str, Any]:
        return next(s for s in self.results["sensitivity"] if s["id"] == sid)


@pytest.fixture(scope="session")
def an_freeze(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import odtrial

    out = tmp_path_factory.mktemp("an_freeze") / "freeze"
    odtrial.ingest(TRIAL, out)
    return out


def without_imputation(text: str) -> str:
    """A plan's text without its ``[missing_data.imputation]`` table: for tests about
    other things, so they do not pay for 20 imputations and a tipping-point grid."""
    return re.sub(r"(?ms)^\[missing_data\.imputation\]\n.*?(?=^\[)", "", text)


def final_plan_text(status: str = "final", *, imputation: bool = False) -> str:
    """The shipped SAP as a final plan, its trial config path made absolute (and its
    multiple imputation left out unless asked for)."""
    text = SAP.read_text(encoding="utf-8")
    if not imputation:
        text = without_imputation(text)
    text = re.sub(r'(?m)^status = "draft"', f'status = "{status}"', text)
    return re.sub(
        r'(?m)^trial_config = ".*"$',
        f'trial_config = "{(TRIAL / "trial.toml").as_posix()}"',
        text,
    )


@pytest.fixture(scope="session")
def lean_sap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped draft SAP without its multiple imputation."""
    p = tmp_path_factory.mktemp("lean_sap") / "pod_synthetic_sap.toml"
    p.write_text(final_plan_text(status="draft"), encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def an_plan_text() -> Callable[[], str]:
    """``final_plan_text`` for test modules (they cannot import conftest)."""
    return final_plan_text


@pytest.fixture(scope="session")
def an_final_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from odtrial.plan import lock_plan

    p = tmp_path_factory.mktemp("an_plan") / "final_sap.toml"
    p.write_text(final_plan_text(imputation=True), encoding="utf-8")
    lock_plan(p)
    return p


@pytest.fixture(scope="session")
def blinded_run(an_freeze: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    from odtrial.analysis.analyse import analyse

    out = tmp_path_factory.mktemp("an_blinded")
    analyse(SAP, an_freeze, out)
    return Run(out, json.loads((out / "results.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def unblinded_run(
    an_freeze: Path, an_final_plan: Path, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    from odtrial.analysis.analyse import analyse

    out = tmp_path_factory.mktemp("an_unblinded")
    analyse(an_final_plan, an_freeze, out, unblind=True)
    return Run(out, json.loads((out / "results.json").read_text(encoding="utf-8")))


# The shipped plan costs antipsychotics by their WHO defined daily doses; the open run
# prices a DDD at this illustrative figure, at the plan's price year so no inflation applies.
ANTIPSYCHOTIC_DDD_PRICE = 2.0
ANTIPSYCHOTIC_DDD_COST = f"""
[[item]]
item = "antipsychotic_ddd"
unit = "defined daily dose of an antipsychotic"
cost = {ANTIPSYCHOTIC_DDD_PRICE}
price_year = 2023
source = "illustrative"
category = "medication"
"""


@pytest.fixture(scope="session")
def antipsychotic_ddd_price() -> float:
    """The open run's price of an antipsychotic DDD (for test modules)."""
    return ANTIPSYCHOTIC_DDD_PRICE


@pytest.fixture(scope="session")
def open_run(an_freeze: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Open report of a draft variant whose CPZ dose uses Leucht 2015, whose EQ-5D-5L is
    valued by NICE's 5L-to-3L mapping, and which prices an antipsychotic DDD at its own figure."""
    from odtrial.analysis.analyse import analyse

    folder = tmp_path_factory.mktemp("an_open")
    plan = folder / "leucht_sap.toml"
    text = final_plan_text(status="draft", imputation=True)  # described, not run
    marker = "[outcomes.cpz_mean_daily_dose]"
    head, tail = text.split(marker)
    tail = tail.replace(
        'equivalence = "chlorpromazine_woods2003"', 'equivalence = "chlorpromazine_leucht2015"', 1
    )
    tail = tail.replace(
        'value_set = "england"',
        'value_set = "3l_mapping"\nage = "age_at_consent"\nsex = "sex"',
        1,
    )
    costs = folder / "unit_costs.toml"
    blocks = (TRIAL / "unit_costs.toml").read_text(encoding="utf-8").split("\n\n")
    kept = [b for b in blocks if 'item = "antipsychotic_ddd"' not in b]
    assert len(kept) == len(blocks) - 1  # the shipped price, replaced by the open run's
    costs.write_text("\n\n".join(kept) + "\n" + ANTIPSYCHOTIC_DDD_COST, "utf-8")
    tail = tail.replace('unit_costs = "unit_costs.toml"', f'unit_costs = "{costs.as_posix()}"', 1)
    plan.write_text(head + marker + tail, encoding="utf-8")
    out = folder / "out"
    analyse(plan, an_freeze, out, report_type="open")
    return Run(out, json.loads((out / "results.json").read_text(encoding="utf-8")))
