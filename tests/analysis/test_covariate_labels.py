"""The report names adjustment covariates by the labels the trial definition and plan
give their columns, not by the column names."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from odtrial.analysis.analyse import column_labels
from odtrial.analysis.blinding import trial_definition
from odtrial.analysis.outcomes import covariate_labels
from odtrial.plan import load_plan
from odtrial.report.sections import Para, TableBlock, build_sections

REPO = Path(__file__).resolve().parents[2]
PLANS = REPO / "analysis_plans"


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ("pod_synthetic_sap.toml", ["Catchment areas (strata)", "In work or study at baseline"]),
        ("bridge_sap.toml", ["Localities (strata)", "PHQ-9 score at baseline"]),
    ],
)
def test_the_primary_models_covariates_take_the_trials_labels(
    plan: str, expected: list[str]
) -> None:
    pl = load_plan(PLANS / plan)
    labels = column_labels(pl, trial_definition(pl))
    assert covariate_labels(pl.primary.model.covariates, labels) == expected


def test_the_plans_label_comes_first_then_the_definitions_then_the_name() -> None:
    pl = load_plan(PLANS / "bridge_sap.toml")
    labels = column_labels(pl, trial_definition(pl))
    assert labels["phq9_3m"] == pl.variables["phq9_3m"].label  # a derived variable
    assert labels["phq9_12m"] == pl.outcomes["phq9_12m"].label
    assert labels["phq9_baseline"] == "PHQ-9 score at baseline"  # [baseline] and the field
    terms = ["C(locality)", "np.log(phq9_baseline + 1)", "age_at_consent", "phq9_3m"]
    assert covariate_labels(terms, labels) == [
        "Localities (strata)",
        "np.log(phq9_baseline + 1)",  # a transform is shown as written
        "age at consent",  # no label: the column's name
        pl.variables["phq9_3m"].label,
    ]


def test_without_a_trial_definition_only_the_plans_labels_exist() -> None:
    pl = load_plan(PLANS / "pod_synthetic_sap.toml")
    labels = column_labels(pl, None)
    assert "catchment" not in labels and labels["work_study_12m"]


@pytest.fixture(scope="module")
def pod_results(
    an_freeze: Path,
    an_plan_text: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The shipped POD plan without health economics and imputation, analysed."""
    from odtrial.analysis.analyse import compute_analysis

    text = an_plan_text(status="draft")
    text = re.sub(
        r"(?ms)^\[health_economics(\.[^\]]*)?\]\n.*?(?=^\[(?!health_economics))", "", text
    )
    plan = tmp_path_factory.mktemp("labels") / "sap.toml"
    plan.write_text(text, encoding="utf-8")
    return compute_analysis(plan, an_freeze)[0]


def test_the_analysis_records_the_labels_and_the_report_uses_them(
    pod_results: dict[str, Any],
) -> None:
    r = pod_results
    primary = next(o for o in r["outcomes"] if o["role"] == "primary")
    assert primary["model"]["covariate_labels"] == [
        "Catchment areas (strata)",
        "In work or study at baseline",
    ]
    notes = {s["id"]: s["note"] for s in r["sensitivity"]}
    assert (
        "two-stage adjustment for catchment areas (strata) and in work or study at "
        in (notes["cluster_level"])
    )
    assert notes["glmm_ml"].endswith(
        "covariates: catchment areas (strata) and in work or study at baseline"
    )
    assert notes["unadjusted"].endswith("covariates: none")
    content = build_sections(r)
    paras = [b.text for s in content.sections for b in s.blocks if isinstance(b, Para)]
    said = ", adjusted for catchment areas (strata) and in work or study at baseline."
    assert sum(said in p for p in paras) == 1  # the primary outcome's model paragraph
    (models,) = (t for t in content.tables if "Adjusted for" in t.body.columns)
    assert models.body["Adjusted for"].iloc[0] == (
        "catchment areas (strata), in work or study at baseline"
    )
    assert not any(re.search(r"\b(catchment|baseline work study)[,.]", p) for p in paras)


def test_a_results_file_without_labels_names_the_formulas_columns(
    blinded_results_file: dict[str, Any],
) -> None:
    r = blinded_results_file
    assert all("covariate_labels" not in o["model"] for o in r["outcomes"])
    content = build_sections(r)
    tables = [b.table for s in content.sections for b in s.blocks if isinstance(b, TableBlock)]
    (models,) = (t for t in tables if "Adjusted for" in t.body.columns)
    assert models.body["Adjusted for"].iloc[0] == "catchment, baseline work study"


@pytest.fixture
def blinded_results_file() -> dict[str, Any]:
    import json

    path = REPO / "tests" / "report" / "fixtures" / "results_blinded.json"
    return json.loads(path.read_text(encoding="utf-8"))
