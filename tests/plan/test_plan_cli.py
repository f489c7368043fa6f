"""``odtrial plan check`` and ``odtrial plan lock``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from odtrial.cli import main


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def _copy(sap_path: Path, tmp_path: Path, *subs: tuple[str, str]) -> Path:
    text = sap_path.read_text(encoding="utf-8")
    for old, new in subs:
        assert old in text, old
        text = text.replace(old, new, 1)
    p = tmp_path / "sap.toml"
    p.write_text(text, encoding="utf-8")
    return p


FINAL = ('status = "draft"', 'status = "final"')


def test_check_ok_is_one_line(sap_path, capsys) -> None:
    code, out, err = _cli(["plan", "check", str(sap_path)], capsys)
    assert code == 0 and err == ""
    assert out.count("\n") == 1
    assert out.strip() == (
        f"{sap_path}: OK: version 0.1 (draft); 6 outcomes, primary work_study_24m; "
        "5 sensitivity analyses; sample size 16 clusters per arm, power 46.0% for an increase "
        "from 40% to 52%"
    )


def test_check_lists_every_error_and_exits_2(sap_path, tmp_path, capsys) -> None:
    p = _copy(
        sap_path,
        tmp_path,
        ('covariates = ["C(catchment)", "baseline_work_study"]', 'covariate = ["C(catchment)"]'),
        ('offset = "log_followup_years"', 'ofset = "log_followup_years"'),
        ('nagq = 25', 'nagg = 25'),
        ('cov_struct = "exchangeable"', 'cov_struc = "exchangeable"'),
        ('df = "kenward-roger"', 'df = "kenward-rodger"'),
        ("power = 0.46", "power = 0.80"),
    )  # fmt: skip
    code, out, err = _cli(["plan", "check", str(p)], capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert all(ln.startswith(f"odtrial: error: {p}: key '") for ln in lines)
    assert [re.search(r"key '([^']+)'", ln).group(1) for ln in lines] == [  # type: ignore[union-attr]
        "outcomes.work_study_24m.model.covariate",
        "outcomes.bed_days.model.ofset",
        "outcomes.cpz_mean_daily_dose.model.df",
        "sensitivity[0].options.cov_struc",
        "sensitivity[3].options.nagg",
    ]  # the sample size is checked once the structure is sound
    p2 = _copy(sap_path, tmp_path, ("power = 0.46", "power = 0.80"))
    code, _, err = _cli(["plan", "check", str(p2)], capsys)
    assert code == 2 and len(err.splitlines()) == 2 and "computation gives 0.460" in err


def test_check_names_a_wrong_derivation_kind_or_parameter(sap_path, tmp_path, capsys) -> None:
    p = _copy(
        sap_path,
        tmp_path,
        ('kind = "days_in_state"', 'kind = "days_in_stat"'),
        ('class = "antipsychotic" }', 'clas = "antipsychotic" }'),
        ('{ table = "crisis_referrals", date = "referral_date" }',
         '{ table = "crisis_referrals", date = "referral_date", end = "x" }'),
    )  # fmt: skip
    code, out, err = _cli(["plan", "check", str(p)], capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"odtrial: error: {p}: key 'outcomes.bed_days.derivation.kind' must be one of "
        "value_at_visit, change_from_baseline, score, any_event, count_events, days_in_state, "
        "time_to_event, medication_any, mean_dose, total_dose, composite, got 'days_in_stat'; "
        "did you mean 'days_in_state'?",
        f"odtrial: error: {p}: key 'outcomes.any_antipsychotic.derivation.clas' is not a known "
        "key; did you mean 'class'? (allowed: class, drug, end, kind, start, table, where, "
        "window_months)",
        f"odtrial: error: {p}: key 'outcomes.any_antipsychotic.derivation.class' is missing",
    ]  # the rules across keys (events[1]: date and end) once the structure is sound
    p2 = _copy(sap_path, tmp_path, ('{ table = "crisis_referrals", date = "referral_date" }',
                                    '{ table = "crisis_referrals", date = "referral_date", end = "x" }'))  # fmt: skip
    code, _, err = _cli(["plan", "check", str(p2)], capsys)
    assert code == 2 and err.strip() == (
        f"odtrial: error: {p2}: key 'outcomes.relapse.derivation.events[1]' takes either date "
        "or start and end, not both"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[plan\n", "not valid TOML"),
        (b"\xff\xfe[plan]", "not UTF-8 text (byte 0"),
        (None, "cannot read analysis plan"),
    ],
)
def test_check_unreadable_plan(tmp_path, capsys, content, message) -> None:
    p = tmp_path / "sap.toml"
    if content is not None:
        p.write_bytes(content)
    code, out, err = _cli(["plan", "check", str(p)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err


def test_lock_a_final_plan_then_check_sees_it(sap_path, tmp_path, capsys) -> None:
    p = _copy(sap_path, tmp_path, FINAL)
    code, out, _ = _cli(["plan", "check", str(p)], capsys)
    assert code == 0 and f"(final, not locked: run 'odtrial plan lock {p}')" in out
    code, out, _ = _cli(["plan", "lock", str(p)], capsys)
    assert code == 0 and re.fullmatch(
        rf"{re.escape(str(p))}: version 0\.1 locked \(sha256 [0-9a-f]{{12}}…\) in .*sap\.lock\.json\n",
        out,
    )
    lock = json.loads((tmp_path / "sap.lock.json").read_text(encoding="utf-8"))
    assert set(lock["locks"]) == {"0.1"}
    code, out, _ = _cli(["plan", "lock", str(p)], capsys)
    assert code == 0 and "already locked, unchanged" in out
    code, out, _ = _cli(["plan", "check", str(p)], capsys)
    assert code == 0 and "(final, locked)" in out
    # a change to the locked version: check and lock both refuse it
    p.write_text(p.read_text(encoding="utf-8").replace("Senior trial", "Trial"), encoding="utf-8")
    code, _, err = _cli(["plan", "check", str(p)], capsys)
    assert code == 2 and "has changed since it was locked" in err
    code, _, err = _cli(["plan", "lock", str(p)], capsys)
    assert code == 2 and "already locked with different content" in err


def test_lock_refuses_a_draft_and_an_invalid_plan(sap_path, tmp_path, capsys) -> None:
    code, _, err = _cli(["plan", "lock", str(sap_path)], capsys)
    assert code == 2 and "only a final plan can be locked (status is 'draft')" in err
    assert not sap_path.with_name("pod_synthetic_sap.lock.json").exists()
    p = _copy(sap_path, tmp_path, FINAL, ("power = 0.46", "power = 0.80"))
    code, _, err = _cli(["plan", "lock", str(p)], capsys)
    assert code == 2 and len(err.splitlines()) == 2
    assert not (tmp_path / "sap.lock.json").exists()


def test_plan_commands_from_a_shell(sap_path, tmp_path) -> None:
    """As a user runs them: exit codes, one line each, no traceback."""
    ok = subprocess.run(
        [sys.executable, "-m", "odtrial", "plan", "check", str(sap_path)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and ok.stdout.startswith(f"{sap_path}: OK")
    bad = _copy(sap_path, tmp_path, ('df = "kenward-roger"', 'df = "kenward-rodger"'))
    run = subprocess.run(
        [sys.executable, "-m", "odtrial", "plan", "check", str(bad)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "did you mean 'kenward-roger'?" in run.stderr and run.stderr.count("\n") == 1
