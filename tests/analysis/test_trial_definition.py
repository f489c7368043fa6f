"""Trial-specific names come from the trial definition and the plan, not the code:
arm labels, the allocation's strata and balance rows, the baseline rows, the
permutation test's rebuilt space and the missing-data table."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from odtrial.errors import PlanError

REPO = Path(__file__).resolve().parents[2]
TRIAL = REPO / "data" / "synthetic" / "trial.toml"
SAP = REPO / "analysis_plans" / "pod_synthetic_sap.toml"


def _final_plan(folder: Path, text: str, trial_toml: Path) -> Path:
    from odtrial.plan import lock_plan

    p = folder / "sap.toml"
    p.write_text(
        re.sub(r'(?m)^trial_config = ".*"$', f'trial_config = "{trial_toml.as_posix()}"', text),
        encoding="utf-8",
    )
    lock_plan(p)
    return p


def _relabelled(text: str) -> str:
    """The shipped trial definition with every label changed, the codes and columns kept."""
    swaps = {
        '"Peer-supported Open Dialogue"': '"Dialogue teams"',
        '"Treatment as usual"': '"Usual care"',
        '"Catchment areas (strata)"': '"Localities"',
        '"Practice list size per cluster", decimals = 0': '"Registered list", decimals = 2',
        '"In work or study at baseline"': '"Employed or studying"',
    }
    for old, new in swaps.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def _rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["characteristic"].strip(): r for r in rows}


def test_unblinded_labels_and_rows_follow_the_shipped_definition(unblinded_run, an_freeze):
    r = unblinded_run.results
    assert r["arms"] == [
        {"code": "POD", "label": "Peer-supported Open Dialogue"},
        {"code": "TAU", "label": "Treatment as usual"},
    ]
    cl = _rows(r["baseline"]["cluster_level"])
    clusters = pd.read_parquet(an_freeze / "tables" / "clusters.parquet")
    for arm in ("POD", "TAU"):
        sub = clusters[clusters["arm"] == arm]
        assert cl["Catchment areas (strata) represented, n"][arm] == str(sub["catchment"].nunique())
        lst = cl["Practice list size per cluster, mean (SD)"][arm]
        assert lst == f"{sub['list_size'].mean():,.0f} ({sub['list_size'].std():,.0f})"
        imd = cl["IMD score, mean (SD)"][arm]
        assert imd == f"{sub['imd_score'].mean():,.1f} ({sub['imd_score'].std():,.1f})"
    assert "In work or study at baseline, n (%)" in _rows(r["baseline"]["individual_level"])


def test_labels_are_read_from_the_trial_definition(
    an_freeze: Path, an_plan_text: Callable[..., str], tmp_path: Path
) -> None:
    from odtrial.analysis.analyse import compute_analysis

    toml = tmp_path / "trial.toml"
    toml.write_text(_relabelled(TRIAL.read_text(encoding="utf-8")), encoding="utf-8")
    for name in ("unit_costs.toml", "price_index.toml"):  # the trial's economic configuration
        (tmp_path / name).write_bytes((TRIAL.parent / name).read_bytes())
    results, _ = compute_analysis(_final_plan(tmp_path, an_plan_text(), toml), an_freeze,
                                  unblind=True)  # fmt: skip
    assert [a["label"] for a in results["arms"]] == ["Dialogue teams", "Usual care"]
    cl = _rows(results["baseline"]["cluster_level"])
    assert {"Localities represented, n", "Registered list, mean (SD)"} <= set(cl)
    assert not {"Catchment areas (strata) represented, n"} & set(cl)
    assert re.fullmatch(r"[\d,]+\.\d\d \([\d,]+\.\d\d\)", cl["Registered list, mean (SD)"]["POD"])
    ind = _rows(results["baseline"]["individual_level"])
    assert "Employed or studying, n (%)" in ind
    assert "In work or study at baseline, n (%)" not in ind


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"TAU"', '"CTL"', r"trial\.arms \['POD', 'CTL'\] differ from the freeze"),
        ('column = "catchment"', 'column = "trust"', r"strata names 'trust' but .* 'catchment'"),
        ('column = "imd_score"', 'column = "n_practices"', r"balance names .* record balanced"),
    ],
)
def test_a_definition_that_contradicts_the_freeze_is_refused(
    an_freeze: Path, an_plan_text: Callable[..., str], tmp_path: Path, old, new, message
) -> None:
    from odtrial.analysis.analyse import compute_analysis

    text = TRIAL.read_text(encoding="utf-8")
    assert old in text
    toml = tmp_path / "trial.toml"
    toml.write_text(text.replace(old, new), encoding="utf-8")
    for costs in ("unit_costs.toml", "price_index.toml"):  # the rest of its configuration
        shutil.copy(TRIAL.parent / costs, tmp_path / costs)
    plan = _final_plan(tmp_path, an_plan_text(), toml)
    with pytest.raises(PlanError, match=message):
        compute_analysis(plan, an_freeze, unblind=True)


def test_missing_data_variables_come_from_the_plan(blinded_run) -> None:
    from odtrial.analysis.analyse import missing_data_variables
    from odtrial.plan import load_plan

    plan = load_plan(SAP)
    assert plan.missing_data == (("work_study_12m", "12 months"), ("work_study_24m", "24 months"))
    assert "variables" not in plan.sections["missing_data"]  # the text sections stay text
    rows = pd.DataFrame(blinded_run.results["missing_data"])
    assert list(dict.fromkeys(zip(rows["variable"], rows["time_point"], strict=True))) == list(
        plan.missing_data
    )
    columns = pd.read_csv(blinded_run.out / "analysis_dataset.csv", nrows=1).columns
    # without the key: the primary outcome's response at its visit, else its window
    default = dataclasses.replace(plan, missing_data=())
    got = missing_data_variables(default, columns, window_months=36)
    assert got == (("work_study_24m", "24 months"),)  # the derivation's visit
    primary = plan.outcomes["any_admission"]
    other = dataclasses.replace(
        default, outcomes={**plan.outcomes, "any_admission": dataclasses.replace(primary, role="primary"),
                           "work_study_24m": dataclasses.replace(plan.primary, role="secondary")},
    )  # fmt: skip
    assert missing_data_variables(other, columns, window_months=36) == (
        ("any_admission", "36 months"),  # the default window
    )
    absent = dataclasses.replace(plan, missing_data=(("work_study_6m", "6 months"),))
    with pytest.raises(PlanError, match=r"variables\[0\]\.column 'work_study_6m' is not a column"):
        missing_data_variables(absent, columns, window_months=24)


def _trial_without_record(tmp: Path, *, design: bool) -> Path:
    """The shipped trial with no randomisation record (arms written in the config);
    ``design=False`` also drops the declared strata and balance."""
    src = tmp / "trial"
    shutil.copytree(
        REPO / "data" / "synthetic", src, ignore=shutil.ignore_patterns("randomisation")
    )
    text = (src / "trial.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^record = "randomisation"\n', "", text)
    if not design:
        text = re.sub(r"(?ms)^strata = .*?^\]\n", "", text)
        assert "balance = " not in text and "strata = " not in text
    (src / "trial.toml").write_text(text, encoding="utf-8")
    return src


@pytest.mark.parametrize("design", [True, False])
def test_permutation_space_without_a_record_uses_the_definition(
    an_plan_text: Callable[..., str], tmp_path: Path, design: bool
) -> None:
    import odtrial
    from odtrial.analysis.analyse import compute_analysis

    src = _trial_without_record(tmp_path, design=design)
    odtrial.ingest(src, tmp_path / "freeze")
    plan = _final_plan(tmp_path, an_plan_text(), src / "trial.toml")
    results, _ = compute_analysis(plan, tmp_path / "freeze", unblind=True, seed=7)
    perm = next(s for s in results["sensitivity"] if s["id"] == "permutation")
    cl = _rows(results["baseline"]["cluster_level"])
    if design:
        assert perm["space"]["source"] == "regenerated"
        assert perm["space"]["strata"] == "catchment"
        assert perm["space"]["balance"] == ["list_size", "imd_score"]
        assert 0 < perm["p_value"] <= 1
        assert "IMD score, mean (SD)" in cl
    else:
        assert perm["p_value"] is None
        assert "declares no randomisation.strata and randomisation.balance" in perm["note"]
        assert [k for k in cl if "mean (SD)" in k] == [
            "GP practices per cluster, mean (SD)",
            "Participants recruited per cluster, mean (SD)",
        ]


def test_baseline_rows_of_each_kind(blinded_run) -> None:
    from odtrial.analysis.baseline import individual_table
    from odtrial.trial import BaselineVariable

    d = pd.read_csv(blinded_run.out / "analysis_dataset.csv")
    variables = (
        BaselineVariable("age_at_consent", "Age", kind="continuous", decimals=2),
        BaselineVariable("baseline_work_study", "Working"),
    )
    rows = _rows(individual_table(d, ("A", "B"), variables=variables))
    a = d.loc[d["arm"] == "A", "age_at_consent"]
    assert rows["Age, mean (SD)"]["A"] == f"{a.mean():,.2f} ({a.std():,.2f})"
    w = d.loc[d["arm"] == "B", "baseline_work_study"].dropna().astype(bool)
    assert rows["Working, n (%)"]["B"] == ""
    assert rows["Yes"]["B"] == f"{int(w.sum()):,} ({100 * w.mean():.1f})"
