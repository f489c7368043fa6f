"""Outcomes and variables come from the plan's derivations: a new outcome needs no code,
its window and follow-up are its own, and an error against the data names the plan key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from odtrial.errors import DeriveError

EXTRA = """
[variables.antipsychotic_or_admission]
label = "Any antipsychotic or admission"
derivation = { kind = "composite", of = ["any_antipsychotic", "any_admission"], rule = "any" }

[outcomes.crisis_referrals_12m]
label = "Crisis team referrals in the first year"
role = "secondary"
population = "randomised"
type = "count"
definition = "Referrals to a crisis resolution / home treatment team within 12 months of consent."
derivation = { kind = "count_events", table = "crisis_referrals", date = "referral_date", window_months = 12 }
model = { kind = "glmm", family = "poisson", covariates = ["C(catchment)"], df = "between-within", estimation = "REML", offset = "log_followup_years" }

[multiplicity]"""


def _plan(tmp: Path, text: str, *subs: tuple[str, str]) -> Path:
    """The shipped plan without its sensitivity analyses, changed."""
    text = re.sub(r"(?s)\[\[sensitivity\]\].*?\[multiplicity\]", "[multiplicity]", text)
    for old, new in subs:
        assert old in text, old
        text = text.replace(old, new, 1)
    p = tmp / "sap.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_new_outcome_with_its_own_window_needs_no_code(
    an_freeze: Path, an_plan_text: Callable[..., str], tmp_path: Path
) -> None:
    from odtrial.analysis.analyse import compute_analysis

    plan = _plan(tmp_path, an_plan_text(status="draft"), ("\n[multiplicity]", EXTRA))
    results, files = compute_analysis(plan, an_freeze)
    o = next(o for o in results["outcomes"] if o["id"] == "crisis_referrals_12m")
    assert o["derivation"]["window_months"] == 12 and o["effect"]["abbrev"] == "RR"
    ds = pd.read_csv(pd.io.common.StringIO(files["analysis_dataset.csv"]))
    assert {"window_end_12m", "followup_days_12m", "antipsychotic_or_admission"} <= set(ds)
    # person-years are the outcome's own window's (12 months), not the default 24
    years = ds.groupby("arm")["followup_days_12m"].sum() / 365.25
    for arm in ("A", "B"):
        assert o["summary_by_arm"][arm]["person_years"] == pytest.approx(years[arm])
        assert (
            o["summary_by_arm"][arm]["events"]
            == ds.loc[ds["arm"] == arm, "crisis_referrals_12m"].sum()
        )
    either = ds["any_antipsychotic"] | ds["any_admission"]
    assert (ds["antipsychotic_or_admission"] == either).all()
    counts = results["derivation"]["counts"]["derivations"]
    assert counts["antipsychotic_or_admission"]["true"] == int(either.sum())


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('end = "discharge_date" }', 'end = "discharge" }',
         r"sap.toml: key 'outcomes.any_admission.derivation.end' names no field of table "
         r"'admissions': 'discharge'; did you mean 'discharge_date'\?"),
        ('table = "crisis_referrals"', 'table = "crisis_referral"',
         r"key 'outcomes.relapse.derivation.events\[1\].table' names no table of the freeze: "
         r"'crisis_referral'; did you mean 'crisis_referrals'\?"),
    ],
)  # fmt: skip
def test_a_table_or_field_the_freeze_lacks_is_one_line_naming_the_key(
    an_freeze: Path, an_plan_text: Callable[..., str], tmp_path: Path, old, new, message
) -> None:
    from odtrial.analysis.analyse import compute_analysis

    plan = _plan(tmp_path, an_plan_text(status="draft"), (old, new))
    with pytest.raises(DeriveError, match=message) as info:
        compute_analysis(plan, an_freeze)
    assert "\n" not in str(info.value) and info.value.exit_code == 2
