"""The outcome layer's guard against data that cannot estimate an arm effect, and the
descriptive summary of an arm without data."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from odtrial.analysis.outcomes import (
    OutcomeData,
    check_estimable,
    covariate_errors,
    effect_of,
    fit_model,
    outcome_data,
    summary_by_arm,
    term_names,
)
from odtrial.errors import ModelError, PlanError
from odtrial.plan.model import Derivation, ModelSpec, Outcome


def _frame(clusters_per_arm: tuple[int, int] = (3, 3), per_cluster: int = 4) -> pd.DataFrame:
    """``per_cluster`` people in each cluster; treat 1 for the first arm's clusters."""
    rows = []
    for arm, k in enumerate(clusters_per_arm):
        for c in range(k):
            for i in range(per_cluster):
                rows.append({"cluster_id": f"{arm}-{c}", "treat": 1 - arm, "arm": "AB"[arm],
                             "y": float(i % 2), "followup_days": 365.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_frame_with_two_clusters_per_arm_and_both_outcomes_is_estimable() -> None:
    for kind in ("binary", "continuous", "count"):
        check_estimable(_frame((2, 2)), kind, response="y", n_total=16)


@pytest.mark.parametrize(
    ("frame", "kind", "message"),
    [
        (_frame().iloc[:0], "continuous", r"^no observed values among the 30 participants "),
        (_frame().query("treat == 1"), "continuous", r"^12 participants observed, all in one arm$"),
        (_frame((1, 3)), "continuous", r"fewer than 2 clusters .* \(1 and 3 clusters with data\)"),
        (_frame().assign(y=0.0), "binary", r"^no participant had the event \(24 observed\)$"),
        (_frame().assign(y=1.0), "binary", r"^every participant had the event"),
        (_frame().assign(y=0.0), "count", r"^no participant had the event"),
    ],
)
def test_data_that_cannot_estimate_an_arm_effect_say_why(
    frame: pd.DataFrame, kind: str, message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        check_estimable(frame, kind, response="y", n_total=30)


def test_without_a_treatment_term_one_arm_is_enough() -> None:
    check_estimable(_frame((1, 0)), "continuous", response="y", treatment=False)


def test_the_event_column_decides_for_a_time_to_event_outcome() -> None:
    f = _frame().assign(ev=0)
    with pytest.raises(ModelError, match="no participant had the event"):
        check_estimable(f, "time-to-event", response="y", event="ev")
    check_estimable(f.assign(ev=1), "time-to-event", response="y", event="ev")  # all: fine


def _od(frame: pd.DataFrame) -> OutcomeData:
    return OutcomeData(frame, "y", None, (), None, {"outcome_missing": 5})


def test_fit_model_refuses_unestimable_data_before_fitting() -> None:
    spec = ModelSpec("lmm", None, (), {})
    with pytest.raises(ModelError, match="no observed values among the 5 participants"):
        fit_model(_od(_frame().iloc[:0]), "continuous", spec)


def test_a_numerical_failure_of_an_engine_is_a_model_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import odtrial.models

    def broken(*_: object, **__: object) -> None:
        raise ValueError("The function value at x=0.3 is NaN; solver cannot continue.")

    monkeypatch.setattr(odtrial.models, "fit_lmm", broken)
    with pytest.raises(ModelError, match=r"model fit failed on these data \(ValueError: The f"):
        fit_model(_od(_frame()), "continuous", ModelSpec("lmm", None, (), {}))


def test_an_effect_without_a_finite_interval_is_not_estimable() -> None:
    res = SimpleNamespace(
        params={"treat": 0.5},
        conf_int=lambda: pd.DataFrame({0: [np.nan], 1: [np.nan]}, index=["treat"]),
        df={"treat": 0.0},
    )
    with pytest.raises(ModelError, match=r"mean difference or its confidence interval is not"):
        effect_of(res, measure="mean difference", abbrev="MD", log_scale=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["binary", "continuous", "count"])
def test_an_arm_without_data_is_summarised_as_such(kind: str) -> None:
    s = summary_by_arm(_od(_frame().query("treat == 1")), kind, ("A", "B"))
    assert s["B"] == {"n": 0, "statistic": s["A"]["statistic"],
                      "display": "no observed values", "value": None}  # fmt: skip
    assert s["A"]["n"] == 12 and "nan" not in s["A"]["display"]


def test_the_sd_of_one_value_is_shown_as_a_dash() -> None:
    one = _frame().iloc[:1]
    assert summary_by_arm(_od(one), "continuous", ("A",))["A"]["display"] == "0.0 (\u2013)"


@pytest.mark.parametrize(
    ("term", "names"),
    [
        ("C(zone)", ["zone"]),
        ("np.log(x + 1)", ["x"]),
        ("C(site, Treatment(reference='S1'))", ["site"]),
        ('C(site, Treatment(reference="S1"))', ["site"]),
        ("age:sex", ["age", "sex"]),
        ("I(age**2)", ["age"]),
        ("x == 1", ["x"]),
    ],
)
def test_the_columns_of_a_formula_term(term: str, names: list[str]) -> None:
    assert term_names(term) == names


def test_every_term_naming_no_column_is_its_own_line() -> None:
    cols = pd.Index(["cluster_id", "treat", "arm", "zone", "wb_base", "age"])
    assert covariate_errors(["C(zone)", "C(zones)", "wb_baseline", "C(region)", "age:sx"],
                            cols, "k") == [
        "key 'k[1]' names no column of the analysis dataset: 'C(zones)'; did you mean 'C(zone)'?",
        "key 'k[2]' names no column of the analysis dataset: 'wb_baseline'; did you mean "
        "'wb_base'?",
        "key 'k[3]' names no column of the analysis dataset: 'C(region)' (columns: age, "
        "wb_base, zone)",
        "key 'k[4]' names no column of the analysis dataset: 'age:sx' (columns: age, wb_base, "
        "zone)",
    ]  # fmt: skip


def test_the_analysis_names_the_first_bad_covariate_and_how_many_more() -> None:
    o = Outcome(
        id="y", label="y", role="primary", type="continuous", definition="", population="itt",
        estimand=None, derivation=Derivation("y", "score", {}),
        model=ModelSpec("lmm", None, ("C(regio)", "wb_baseline"), {}),
    )  # fmt: skip
    with pytest.raises(PlanError) as e:
        outcome_data(_frame().assign(region="N", wb_base=1.0), o)
    assert str(e.value) == (
        "key 'outcomes.y.model.covariates[0]' names no column of the analysis dataset: "
        "'C(regio)'; did you mean 'C(region)'? (and 1 more; 'odtrial check' lists them)"
    )


def test_a_censored_count_takes_its_own_follow_up_as_the_offset() -> None:
    """``<id>_followup_days`` (a censored count_events) over the window's follow-up; a
    participant censored on the consent day has no time at risk and is left out."""
    o = Outcome(
        id="y", label="y", role="secondary", type="count", definition="", population="itt",
        estimand=None, derivation=Derivation("y", "count_events", {"censor": {}}),
        model=ModelSpec("glmm", "negbin", (), {"offset": "log_followup_years"}),
    )  # fmt: skip
    f = _frame()
    own = np.r_[0.0, np.full(len(f) - 1, 182.625)]
    od = outcome_data(f.assign(y_followup_days=own), o)
    assert od.exclusions["zero_followup"] == 1 and len(od.frame) == len(f) - 1
    assert np.allclose(od.frame[od.offset], np.log(0.5))
    uncensored = outcome_data(f, o)  # no column of its own: the window's
    assert np.allclose(uncensored.frame[uncensored.offset], np.log(365 / 365.25))
