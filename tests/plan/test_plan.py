from __future__ import annotations

import copy
import shutil
import tomllib
from pathlib import Path

import pytest

from odtrial.errors import PlanError
from odtrial.plan import check_lock, load_plan, lock_plan, parse_plan

SAP = Path(__file__).resolve().parents[2] / "analysis_plans" / "pod_synthetic_sap.toml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return tomllib.loads(SAP.read_text(encoding="utf-8"))


def test_shipped_plan_loads(raw):
    plan = load_plan(SAP)
    assert plan.status == "draft" and plan.version
    assert plan.primary.id == "work_study_24m"
    assert plan.primary.model.kind == "glmm" and plan.primary.model.family == "binomial"
    assert "C(catchment)" in plan.primary.model.covariates  # stratification factor adjusted for
    est = plan.estimands[plan.primary.estimand]
    assert (
        est.treatment
        and est.population
        and est.variable
        and est.summary
        and est.intercurrent_events
    )
    assert {s.method for s in plan.sensitivity} >= {
        "gee",
        "cluster-level",
        "unadjusted",
        "permutation",
    }
    assert len(plan.sha256) == 64
    assert plan.outcomes["bed_days"].model.options["offset"] == "log_followup_years"
    assert plan.imputation is not None and plan.imputation["m"] == 20
    assert "imputation" not in plan.sections["missing_data"]  # settings, not words


def _set(raw: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(raw)
    node = out
    for k in path[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("plan", "status"), "approved", r"key 'plan\.status' must be one of draft, final"),
        (("plan", "version"), _DELETE, r"key 'plan\.version' is missing"),
        (("plan", "date"), "yesterday", r"key 'plan\.date' must be date"),
        (
            ("outcomes", "work_study_24m", "role"),
            "secondary",
            r"key 'outcomes' must have exactly one primary",
        ),
        (
            ("outcomes", "any_admission", "population"),
            "pp",
            r"'outcomes\.any_admission\.population' names unknown population",
        ),
        (
            ("outcomes", "bed_days", "model", "kind"),
            "svm",
            r"'outcomes\.bed_days\.model\.kind' must be one of",
        ),
        (
            ("outcomes", "bed_days", "model", "family"),
            "gamma",
            r"'outcomes\.bed_days\.model\.family' must be one of",
        ),
        (
            ("outcomes", "cpz_mean_daily_dose", "derivation", "equivalence"),
            "davis1974",
            r"derivation\.equivalence' must be one of",
        ),
        (
            ("outcomes", "bed_days", "derivation", "window_months"),
            0,
            r"window_months' must be in \[1, 1200\], got 0",
        ),
        (("estimands", "primary", "level"), "both", r"'estimands\.primary\.level' must be one of"),
        (
            ("estimands", "primary", "intercurrent_events"),
            [{"event": "death", "strategy": "ignore"}],
            r"intercurrent_events\[0\]\.strategy' must be one of",
        ),
        (
            ("sensitivity", 0, "outcome"),
            "nothing",
            r"'sensitivity\[0\]\.outcome' names unknown outcome",
        ),
        (("surprise",), {}, r"key 'surprise' is not a known key"),
        (
            ("outcomes", "work_study_24m", "model", "estimation"),
            "PQL",
            r"'outcomes\.work_study_24m\.model\.estimation' must be one of ML, REML",
        ),
        (
            ("outcomes", "work_study_24m", "model", "nagq"),
            25,
            r"'outcomes\.work_study_24m\.model\.nagq' does not apply with estimation = 'REML'",
        ),
        (
            ("outcomes", "cpz_mean_daily_dose", "model", "estimation"),
            "ML",
            r"'outcomes\.cpz_mean_daily_dose\.model\.estimation' applies to a glmm model only",
        ),
        (
            ("missing_data", "imputation", "outcome"),
            "work_study_42m",
            r"'missing_data\.imputation\.outcome' names unknown outcome 'work_study_42m'; "
            r"did you mean 'work_study_24m'\?",
        ),
        (
            ("missing_data", "imputation", "outcome"),
            "relapse",
            r"'missing_data\.imputation\.outcome' 'relapse' is a time to event",
        ),
        (("missing_data", "imputation", "m"), 1, r"imputation\.m' must be in \[2, 1000\]"),
        (
            ("missing_data", "imputation", "methods"),
            {"work_study_24m": "logistic"},
            r"imputation\.methods\.work_study_24m' must be one of norm, pmm, probit, catprobit",
        ),
        (
            ("missing_data", "imputation", "tipping_point"),
            {"deltas": [], "shift": "treated"},
            r"tipping_point\.deltas' must be a non-empty list of numbers",
        ),
        (
            ("missing_data", "imputation", "tipping_point"),
            {"deltas": [1.0], "shift": "treated"},
            r"tipping_point\.shift' must be one of intervention, control, both",
        ),
    ],
)
def test_plan_errors_name_the_key(raw, path, value, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(_set(raw, path, value))


def test_final_plan_needs_sign_off(raw):
    bad = _set(_set(raw, ("plan", "status"), "final"), ("plan", "sign_off"), [])
    with pytest.raises(PlanError, match="at least one signatory"):
        parse_plan(bad)


def _final_copy(tmp_path: Path) -> Path:
    p = tmp_path / "sap.toml"
    shutil.copy(SAP, p)
    p.write_text(
        p.read_text(encoding="utf-8").replace('status = "draft"', 'status = "final"'),
        encoding="utf-8",
    )
    return p


def test_lock_refuses_changed_final_plan(tmp_path):
    p = _final_copy(tmp_path)
    with pytest.raises(PlanError, match="is not locked; run 'odtrial plan lock"):
        check_lock(load_plan(p))
    lock_plan(p)
    check_lock(load_plan(p))  # unchanged: accepted
    lock_plan(p)  # idempotent
    p.write_text(
        p.read_text(encoding="utf-8").replace("two-sided 5%", "two-sided 10%"), encoding="utf-8"
    )
    with pytest.raises(PlanError, match=r"has changed since it was locked.*new version"):
        check_lock(load_plan(p))
    with pytest.raises(PlanError, match="already locked with different content"):
        lock_plan(p)
    # a new version is locked on its own and accepted
    p.write_text(
        p.read_text(encoding="utf-8").replace('version = "0.1"', 'version = "0.2"'),
        encoding="utf-8",
    )
    lock_plan(p)
    check_lock(load_plan(p))


def test_draft_is_not_locked_and_cannot_be(tmp_path):
    plan = load_plan(SAP)
    check_lock(plan)  # drafts are never refused
    with pytest.raises(PlanError, match="only a final plan can be locked"):
        lock_plan(SAP)
