"""A trial run without --plan finds the plan that names the trial, not a plan by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from odtrial.errors import ConfigError
from odtrial.paths import plan_for, shipped_plan, shipped_trial_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("trial", ["synthetic", "synthetic_bridge", "synthetic_redcap"])
def test_each_shipped_trial_has_one_plan_that_names_it(trial: str) -> None:
    plan = plan_for(REPO / "data" / trial)
    assert plan.parent == REPO / "analysis_plans"
    assert f'trial_config = "../data/{trial}/trial.toml"' in plan.read_text(encoding="utf-8")


def test_the_default_run_is_the_shipped_trial_and_its_plan() -> None:
    assert shipped_plan() == plan_for(shipped_trial_dir())


def test_no_plan_or_several_plans_for_a_trial_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ODTRIAL_PLAN", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    with pytest.raises(ConfigError, match=r"no plan in analysis_plans/ is for .*mine/trial\.toml"):
        plan_for("mine")
    plans = tmp_path / "analysis_plans"
    plans.mkdir()
    (plans / "broken.toml").write_text("[plan\n", encoding="utf-8")  # unreadable: skipped
    (plans / "a.toml").write_text('[plan]\ntrial_config = "../mine/trial.toml"\n', "utf-8")
    assert plan_for("mine") == plans / "a.toml"
    (plans / "b.toml").write_text('[plan]\ntrial_config = "../mine/trial.toml"\n', "utf-8")
    with pytest.raises(ConfigError, match=r"2 plans in analysis_plans/ are for .*: a.toml, b.toml"):
        plan_for("mine")
    monkeypatch.setenv("ODTRIAL_PLAN", "chosen.toml")
    assert plan_for("mine") == Path("chosen.toml")
