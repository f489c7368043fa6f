"""The plan is validated at every depth: every key of every table, every enumerated value,
the combinations the analysis cannot honour, all failures reported together."""

from __future__ import annotations

import ast
import importlib
import typing
from pathlib import Path
from typing import Any

import pytest

from odtrial.errors import PlanError
from odtrial.plan import PlanErrors, parse_plan
from odtrial.plan import schema as sc

ANALYSIS = Path(__file__).resolve().parents[2] / "src" / "odtrial" / "analysis"
WS = ("outcomes", "work_study_24m")
ABSENT = object()  # the key is removed


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def errors_of(raw: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(PlanErrors) as info:
        parse_plan(raw, source="sap.toml")
    return info.value.messages


# -- the findings of issue 9, reproduced ---------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # `covariate` made the primary model unadjusted
        (
            (*WS, "model", "covariate"),
            ["C(catchment)"],
            "sap.toml: key 'outcomes.work_study_24m.model.covariate' is not a known key; "
            "did you mean 'covariates'?",
        ),
        (
            ("outcomes", "bed_days", "model", "ofset"),
            "log_followup_years",
            "sap.toml: key 'outcomes.bed_days.model.ofset' is not a known key; "
            "did you mean 'offset'?",
        ),
        (
            ("sensitivity", 3, "options", "nagg"),
            25,
            "sap.toml: key 'sensitivity[3].options.nagg' is not a known key; did you mean 'nagq'?",
        ),
        (
            ("sensitivity", 0, "options", "cov_struc"),
            "exchangeable",
            "sap.toml: key 'sensitivity[0].options.cov_struc' is not a known key; "
            "did you mean 'cov_struct'?",
        ),
        (
            ("outcomes", "cpz_mean_daily_dose", "model", "df"),
            "kenward-rodger",
            "sap.toml: key 'outcomes.cpz_mean_daily_dose.model.df' must be one of satterthwaite, "
            "kenward-roger, between-within, residual, z, got 'kenward-rodger'; "
            "did you mean 'kenward-roger'?",
        ),
    ],
)
def test_issue_9_typos_are_refused_with_path_and_suggestion(
    raw, plan_with, path, value, message
) -> None:
    bad = plan_with(raw, path, value)
    if path[-1] == "covariate":  # the typo replaces the key, as in the report
        del bad["outcomes"]["work_study_24m"]["model"]["covariates"]
    assert errors_of(bad) == (message,)


def test_glmm_refuses_kenward_roger(raw, plan_with) -> None:
    # the GLMM's df methods are not the LMM's: the outcome used to fall into a note
    msgs = errors_of(plan_with(raw, (*WS, "model", "df"), "kenward-roger"))
    assert msgs == (
        "sap.toml: key 'outcomes.work_study_24m.model.df' must be one of satterthwaite, "
        "between-within, residual, z, got 'kenward-roger'",
    )


def test_all_errors_are_collected_one_line_each(raw, plan_with) -> None:
    bad = plan_with(raw, (*WS, "model", "covariate"), ["x"])
    bad = plan_with(bad, ("outcomes", "bed_days", "model", "ofset"), "log_followup_years")
    bad = plan_with(bad, ("sensitivity", 3, "options", "nagg"), 25)
    bad = plan_with(bad, ("sensitivity", 0, "options", "cov_struc"), "exchangeable")
    bad = plan_with(bad, ("outcomes", "cpz_mean_daily_dose", "model", "df"), "kenward-rodger")
    bad = plan_with(bad, ("plan", "status"), "fnal")
    with pytest.raises(PlanErrors) as info:
        parse_plan(bad, source="sap.toml")
    e = info.value
    assert len(e.messages) == 6
    assert all("\n" not in m and m.startswith("sap.toml: key '") for m in e.messages)
    assert "did you mean 'final'?" in e.messages[0]  # in the plan's order: [plan] first
    assert "\n" not in str(e) and str(e).endswith(
        "(and 5 more errors; 'odtrial plan check' lists them)"
    )
    assert isinstance(e, PlanError) and e.exit_code == 2


# -- every table, every depth -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key", "suggestion"),
    [
        (("plan",), "titel", "title"),
        (("plan", "sign_off", 0), "rol", "role"),
        (("design",), "randomization", "randomisation"),
        (("design", "sample_size"), "clusters_per_am", "clusters_per_arm"),
        (("design", "sample_size"), "cv", None),
        (("populations", "itt"), "labl", "label"),
        (("estimands", "primary"), "sumary", "summary"),
        (("estimands", "primary", "intercurrent_events", 0), "strategie", "strategy"),
        (WS, "derivations", "derivation"),
        (("variables", "work_study_12m"), "lable", "label"),
        ((*WS, "model"), "familly", "family"),
        (("outcomes", "relapse", "model"), "tie", "ties"),
        (("sensitivity", 1, "options"), "weight", "weights"),
        (("sensitivity", 0), "option", "options"),
        (("multiplicity",), "approch", "approach"),
        (("software",), "analysys", "analysis"),
    ],
)
def test_unknown_key_at_any_depth(raw, plan_with, path, key, suggestion) -> None:
    msgs = errors_of(plan_with(raw, (*path, key), "x"))
    want = f"key '{dotted((*path, key))}' is not a known key"
    want += f"; did you mean {suggestion!r}?" if suggestion else ""
    assert msgs == (f"sap.toml: {want}",)


@pytest.mark.parametrize(
    ("path", "key", "message"),
    [
        (("outcomes", "bed_days", "derivation"), "window",
         "did you mean 'window_months'? (allowed: censor, end, kind, merge, start, table, where, "
         "window_months)"),
        (("outcomes", "relapse", "derivation", "events", 1), "dat",
         "did you mean 'date'? (allowed: date, end, merge, start, table, where)"),
        (("outcomes", "relapse", "derivation"), "censr",
         "did you mean 'censor'? (allowed: censor, events, kind, window_months)"),
        (("outcomes", "relapse", "derivation", "censor"), "dat",
         "did you mean 'date'? (allowed: date, table, where)"),
    ],
)  # fmt: skip
def test_an_unknown_derivation_key_lists_the_allowed_ones(raw, plan_with, path, key, message):
    if path[-1] == "censor":
        raw = plan_with(raw, path, {"table": "participants", "date": "withdrawal_date"})
    msgs = errors_of(plan_with(raw, (*path, key), "x"))
    assert msgs == (f"sap.toml: key '{dotted((*path, key))}' is not a known key; {message}",)


@pytest.mark.parametrize(
    "censor",
    [
        {"table": "participants", "date": "withdrawal_date"},
        [{"table": "participants", "date": "withdrawal_date"},
         {"table": "followup", "date": "assessment_date",
          "where": {"field": "status", "in": ["lost"]}}],
    ],
)  # fmt: skip
def test_a_time_to_event_takes_censoring_dates(raw, plan_with, censor) -> None:
    plan = parse_plan(plan_with(raw, ("outcomes", "relapse", "derivation", "censor"), censor))
    assert plan.outcomes["relapse"].derivation.params["censor"] == censor


@pytest.mark.parametrize(
    ("censor", "message"),
    [
        ([], "key 'outcomes.relapse.derivation.censor' must list at least one censoring source "
         "(or be left out)"),
        ("withdrawal_date", "key 'outcomes.relapse.derivation.censor' must be a table or an "
         "array of tables, got string 'withdrawal_date'"),
        ({"table": "participants"}, "key 'outcomes.relapse.derivation.censor.date' is missing"),
        ([{"table": "t", "start": "a", "date": "d"}],
         "key 'outcomes.relapse.derivation.censor[0].start' is not a known key "
         "(allowed: date, table, where)"),
    ],
)  # fmt: skip
def test_bad_censoring_dates(raw, plan_with, censor, message) -> None:
    msgs = errors_of(plan_with(raw, ("outcomes", "relapse", "derivation", "censor"), censor))
    assert msgs == (f"sap.toml: {message}",)


def test_an_option_of_another_kind_says_where_it_applies(raw, plan_with) -> None:
    assert errors_of(plan_with(raw, ("outcomes", "relapse", "model", "nagq"), 5)) == (
        "sap.toml: key 'outcomes.relapse.model.nagq' applies to a glmm model only "
        "(this model is a cox)",
    )
    assert errors_of(plan_with(raw, ("sensitivity", 2, "options"), {"weights": "unweighted"})) == (
        "sap.toml: key 'sensitivity[2].options.weights' applies to a cluster-level analysis only "
        "(this is an unadjusted analysis)",
    )


def test_the_old_cox_variance_key_is_refused(raw, plan_with) -> None:
    # the shipped plan said variance = "cluster-robust", which nothing read
    msgs = errors_of(plan_with(raw, ("outcomes", "relapse", "model", "variance"), "robust"))
    assert len(msgs) == 1
    assert msgs[0].startswith("sap.toml: key 'outcomes.relapse.model.variance' is not a known key")


def _choices(spec: sc.Spec, path: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every enumerated field of the schema, with its path pattern."""
    out: list[tuple[str, tuple[str, ...]]] = []
    if isinstance(spec, sc.Choice):
        out.append((path, spec.values))
    elif isinstance(spec, sc.Table):
        for k, s in spec.fields.items():
            out += _choices(s, f"{path}.{k}" if path else k)
    elif isinstance(spec, sc.TableOf):
        out += _choices(spec.value, f"{path}.*")
    elif isinstance(spec, sc.ArrayOf):
        out += _choices(spec.item, f"{path}[*]")
    elif isinstance(spec, sc.Switch):
        for case, t in spec.cases.items():
            out += _choices(t, f"{path}<{case}>")
    return out


ENUMERATED = [
    # (a path in the shipped plan, the schema path pattern it exercises)
    (("health_economics", "method"), "health_economics.method"),
    (("health_economics", "utilities", "version"), "health_economics.utilities.version"),
    (("health_economics", "utilities", "value_set"), "health_economics.utilities.value_set"),
    (("health_economics", "utilities", "choose"), "health_economics.utilities.choose"),
    (("plan", "status"), "plan.status"),
    (("design", "sample_size", "type"), "design.sample_size.type"),
    (("design", "sample_size", "method"), "design.sample_size.method"),
    (("design", "sample_size", "correction"), "design.sample_size.correction"),
    (("estimands", "primary", "level"), "estimands.*.level"),
    (
        ("estimands", "primary", "intercurrent_events", 0, "strategy"),
        "estimands.*.intercurrent_events[*].strategy",
    ),
    ((*WS, "role"), "outcomes.*.role"),
    ((*WS, "type"), "outcomes.*.type"),
    ((*WS, "derivation", "kind"), "outcomes.*.derivation<value_at_visit>.kind"),
    ((*WS, "derivation", "choose"), "outcomes.*.derivation<value_at_visit>.choose"),
    (
        ("outcomes", "cpz_mean_daily_dose", "derivation", "equivalence"),
        "outcomes.*.derivation<mean_dose>.equivalence",
    ),
    ((*WS, "model", "kind"), "outcomes.*.model<glmm>.kind"),
    ((*WS, "model", "family"), "outcomes.*.model<glmm>.family"),
    ((*WS, "model", "estimation"), "outcomes.*.model<glmm>.estimation"),
    ((*WS, "model", "df"), "outcomes.*.model<glmm>.df"),
    (("outcomes", "bed_days", "model", "offset"), "outcomes.*.model<glmm>.offset"),
    (("outcomes", "cpz_mean_daily_dose", "model", "df"), "outcomes.*.model<lmm>.df"),
    (("outcomes", "relapse", "model", "cov_type"), "outcomes.*.model<cox>.cov_type"),
    (("outcomes", "relapse", "model", "ties"), "outcomes.*.model<cox>.ties"),
    (("sensitivity", 0, "method"), "sensitivity[*].method"),
    (("sensitivity", 0, "options", "cov_struct"), "sensitivity[*].options<gee>.cov_struct"),
    (("sensitivity", 0, "options", "cov_type"), "sensitivity[*].options<gee>.cov_type"),
    (("sensitivity", 0, "options", "family"), "sensitivity[*].options<gee>.family"),
    (("sensitivity", 1, "options", "weights"), "sensitivity[*].options<cluster-level>.weights"),
    (("sensitivity", 1, "options", "scale"), "sensitivity[*].options<cluster-level>.scale"),
    (("sensitivity", 3, "options", "estimation"), "sensitivity[*].options<glmm>.estimation"),
    (("sensitivity", 3, "options", "df"), "sensitivity[*].options<glmm>.df"),
    (("sensitivity", 3, "options", "family"), "sensitivity[*].options<glmm>.family"),
    (
        ("missing_data", "imputation", "tipping_point", "shift"),
        "missing_data.imputation.tipping_point.shift",
    ),
    (
        ("missing_data", "imputation", "tipping_point", "scale"),
        "missing_data.imputation.tipping_point.scale",
    ),
    (
        ("missing_data", "imputation", "methods", "work_study_24m"),
        "missing_data.imputation.methods.*",
    ),
]


def test_every_enumerated_field_is_exercised() -> None:
    # derivations: every kind's enumerations by test_every_derivation_enumeration_is_checked
    schema = {p for p, _ in _choices(sc.PLAN, "") if ".derivation<" not in p}
    # the gee model table and the lmm sensitivity share their value sets with tables above
    untested = schema - {p for _, p in ENUMERATED} - {
        "outcomes.*.model<gee>.kind", "outcomes.*.model<lmm>.kind",
        "outcomes.*.model<cox>.kind", "outcomes.*.model<gee>.family", "outcomes.*.model<gee>.cov_struct",
        "outcomes.*.model<gee>.cov_type", "outcomes.*.model<gee>.offset",
        "sensitivity[*].options<lmm>.df",
    }  # fmt: skip
    assert not untested


@pytest.mark.parametrize(("path", "pattern"), ENUMERATED, ids=[p for _, p in ENUMERATED])
def test_every_enumerated_value_is_checked(raw, plan_with, path, pattern) -> None:
    allowed = dict(_choices(sc.PLAN, ""))[pattern]
    good = allowed[0]
    bad = good[:-1] + "Q" + good[-1]  # a one-letter typo of an allowed value
    msgs = errors_of(plan_with(raw, path, bad))
    assert len(msgs) == 1
    assert f"must be one of {', '.join(allowed)}, got {bad!r}; did you mean {good!r}?" in msgs[0]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("sensitivity", 3, "options", "nagq"), 0, "must be in [1, 100], got 0"),
        (("sensitivity", 3, "options", "nagq"), 101, "must be in [1, 100], got 101"),
        (("sensitivity", 3, "options", "nagq"), 2.5, "must be an integer, got float 2.5"),
        (("sensitivity", 3, "options", "nagq"), True, "must be an integer, got boolean True"),
        (("sensitivity", 4, "options"), {"cutoff": 0}, "must be in (0, 1], got 0"),
        (("sensitivity", 4, "options"), {"cutoff": 1.5}, "must be in (0, 1], got 1.5"),
        (("outcomes", "cpz_mean_daily_dose", "model", "reml"), "yes", "must be true or false"),
        ((*WS, "model", "covariates"), "C(catchment)", "must be a list of formula terms"),
        ((*WS, "model", "covariates"), ["C(catchment)", " "], "must be a list of formula terms"),
        (("plan", "date"), "2026-11-25", "must be date (YYYY-MM-DD, unquoted)"),
        (("populations", "itt", "label"), "  ", "must not be empty"),
        (("populations",), {}, "must define at least 1 entry"),
        (
            ("outcomes", "bed_days", "derivation", "window_months"),
            24.0,
            "must be an integer, got float 24.0",
        ),
        (("derivation", "window_months"), 0, "must be in [1, 1200], got 0"),
        ((*WS, "derivation", "visit"), "24", "must be an integer, got string '24'"),
        (("design", "sample_size", "icc"), 1.0, "must be in [0, 1), got 1.0"),
        (("design", "sample_size", "alpha"), float("nan"), "must be finite, got nan"),
    ],
)
def test_values_out_of_range_or_of_the_wrong_type(raw, plan_with, path, value, message) -> None:
    msgs = errors_of(plan_with(raw, path, value))
    assert len(msgs) == 1 and message in msgs[0], msgs


# -- combinations the analysis cannot honour ------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {(*WS, "model"): {"kind": "lmm", "covariates": []}},
            "key 'outcomes.work_study_24m.model.kind' 'lmm' cannot analyse a binary outcome (use glmm, gee)",
        ),
        (
            {(*WS, "model", "family"): "negbin"},
            "key 'outcomes.work_study_24m.model.family' must be binomial for a binary outcome with a glmm",
        ),
        (
            {("outcomes", "bed_days", "model", "family"): "binomial"},
            "must be poisson or negbin for a count outcome with a glmm",
        ),
        (
            {("outcomes", "relapse", "model"): {"kind": "gee", "family": "binomial"}},
            "'gee' cannot analyse a time-to-event outcome (use cox)",
        ),
        (
            {(*WS, "model", "family"): ABSENT},
            "key 'outcomes.work_study_24m.model.family' is missing",
        ),
        (
            {(*WS, "model", "nagq"): 25},
            "key 'outcomes.work_study_24m.model.nagq' does not apply with estimation = 'REML'",
        ),
        (
            {(*WS, "model", "estimation"): ABSENT, (*WS, "model", "nagq"): 25},
            "nagq' does not apply unless estimation = 'ML' is stated",
        ),
        (
            {(*WS, "model", "estimation"): "ML", (*WS, "model", "df"): "satterthwaite"},
            "key 'outcomes.work_study_24m.model.df' 'satterthwaite' needs estimation = 'REML'",
        ),
        (
            {("outcomes", "cpz_mean_daily_dose", "model", "reml"): False},
            "key 'outcomes.cpz_mean_daily_dose.model.df' 'kenward-roger' needs a REML fit",
        ),
        (
            {("sensitivity", 3, "options"): {"nagq": 25}},
            "key 'sensitivity[3].options.nagq' does not apply with estimation = 'REML'",
        ),
        (
            {("sensitivity", 3, "method"): "lmm", ("sensitivity", 3, "options"): {}},
            "key 'sensitivity[3].method' 'lmm' refits the outcome's own model, which is a 'glmm'",
        ),
        (
            {("sensitivity", 3, "options", "family"): "poisson"},
            "key 'sensitivity[3].options.family' must be binomial for a binary outcome",
        ),
        (
            {("sensitivity", 0, "options", "family"): "gaussian"},
            "key 'sensitivity[0].options.family' must be binomial for a binary outcome with a gee",
        ),
        (
            {("sensitivity", 0, "outcome"): "relapse"},
            "key 'sensitivity[0].method' 'gee' is not available for a time-to-event outcome",
        ),
        (
            {("sensitivity", 4, "outcome"): "relapse"},
            "'permutation' is not available for a time-to-event outcome",
        ),
        (
            {
                ("sensitivity", 1, "outcome"): "cpz_mean_daily_dose",
                ("sensitivity", 1, "options", "scale"): "ratio",
            },
            "key 'sensitivity[1].options.scale' 'ratio' needs a binary or count outcome",
        ),
        (
            {("sensitivity", 2, "options"): {"covariates": []}},
            "key 'sensitivity[2].options.covariates' applies to a glmm analysis or a lmm analysis only",
        ),
        (
            {("sensitivity", 3, "options", "offset"): "log_followup_years"},
            "key 'sensitivity[3].options.offset' is not a known key",
        ),
        (
            {("sensitivity", 1, "id"): "gee_kc"},
            "key 'sensitivity[1].id' duplicates the id 'gee_kc'",
        ),
        (
            {("sensitivity", 1, "outcome"): "work_study"},
            "names unknown outcome 'work_study'; did you mean 'work_study_24m'?",
        ),
        (
            {(*WS, "population"): "itts"},
            "key 'outcomes.work_study_24m.population' names unknown population 'itts'; did you mean 'itt'?",
        ),
        (
            {(*WS, "estimand"): ABSENT},
            "key 'outcomes.work_study_24m.estimand' is required for the primary outcome",
        ),
        (
            {("plan", "status"): "final", ("plan", "sign_off"): []},
            "key 'plan.sign_off' must name at least one signatory for a final plan",
        ),
    ],
)
def test_combinations_the_analysis_cannot_honour(raw, plan_with, changes, message) -> None:
    bad = raw
    for path, value in changes.items():
        bad = plan_with(bad, path, plan_with.DELETE if value is ABSENT else value)
    msgs = errors_of(bad)
    assert any(message in m for m in msgs), msgs


def test_cluster_level_main_model_is_refused(raw, plan_with) -> None:
    # the analysis fits no cluster-level main model: it used to fail after ingest
    msgs = errors_of(plan_with(raw, (*WS, "model", "kind"), "cluster-level"))
    assert "must be one of glmm, lmm, gee, cox, got 'cluster-level'" in msgs[0]


def test_the_shipped_plan_has_every_option_it_states_honoured(raw) -> None:
    assert sc.validate(raw) == []


# -- the schema is what the analysis layer reads -----------------------------------------


def _is_options(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id in ("opts", "options")) or (
        isinstance(node, ast.Attribute) and node.attr == "options"
    )


def consumed_option_keys() -> set[str]:
    """Every option name analysis/*.py reads from ModelSpec.options or Sensitivity.options."""
    keys: set[str] = set()
    for f in sorted(ANALYSIS.glob("*.py")):
        for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and n.func.attr == "get"
                and _is_options(n.func.value)
                and n.args
                and isinstance(n.args[0], ast.Constant)
            ):
                keys.add(n.args[0].value)
            elif (
                isinstance(n, ast.Subscript)
                and _is_options(n.value)
                and isinstance(n.slice, ast.Constant)
            ):
                keys.add(n.slice.value)
            elif (
                isinstance(n, ast.Compare)
                and isinstance(n.left, ast.Constant)
                and isinstance(n.ops[0], ast.In | ast.NotIn)
                and _is_options(n.comparators[0])
            ):
                keys.add(n.left.value)
    return keys


def test_option_names_are_exactly_what_the_analysis_reads() -> None:
    schema = {k for t in sc.MODEL_OPTIONS.values() for k in t}
    schema |= {k for t in sc.SENSITIVITY_OPTIONS.values() for k in t}
    assert consumed_option_keys() == schema


def test_option_values_are_exactly_what_the_models_accept() -> None:
    from odtrial.analysis.outcomes import FOLLOWUP_OFFSET, GEE_FAMILY
    from odtrial.design.analytic import CORRECTIONS

    cl = importlib.import_module("odtrial.models.cluster_level")
    from odtrial.models.cox import COV_TYPES as COX
    from odtrial.models.cox import model as cox_model
    from odtrial.models.gee import covariance as gee_cov
    from odtrial.models.gee import model as gee_model
    from odtrial.models.glmm import model as glmm_model
    from odtrial.models.glmm import reml
    from odtrial.models.glmm.families import FAMILIES
    from odtrial.models.lmm import DDF_METHODS

    assert sc.GLMM_FAMILIES == FAMILIES == reml.REML_FAMILIES
    assert sc.GLMM_DF == reml.DF_METHODS
    assert set(glmm_model.DF_METHODS) == set(reml.DF_METHODS) - {"satterthwaite"}
    assert sc.GLMM_MAX_NAGQ == glmm_model.MAX_NAGQ
    assert sc.GLMM_ESTIMATION == typing.get_args(glmm_model.Method)
    assert sc.LMM_DF == DDF_METHODS
    assert set(sc.GEE_FAMILIES) == set(typing.get_args(gee_model.Family))
    assert set(sc.GEE_FAMILIES) == set(GEE_FAMILY.values())
    assert sc.GEE_COV_STRUCTS == typing.get_args(gee_model.CovStruct)
    assert sc.GEE_COV_TYPES == gee_cov.COV_TYPES
    assert sc.COX_COV_TYPES == COX
    assert set(sc.COX_TIES) == set(cox_model._TIES)
    assert sc.CL_WEIGHTS == typing.get_args(cl.Weights)
    assert sc.CL_SCALES == typing.get_args(cl.Scale)
    assert sc.OFFSETS == (FOLLOWUP_OFFSET,)
    assert sc.SAMPLE_SIZE_CORRECTIONS == CORRECTIONS


def _capture(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> dict[str, Any]:
    import importlib

    seen: dict[str, Any] = {}

    def fake(*args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(importlib.import_module(module), name, fake)
    return seen


FULL_OPTIONS = {
    # one non-default value of every option of each kind: each must reach the fit
    "glmm": (
        {"family": "negbin", "estimation": "ML", "nagq": 7, "df": "residual", "offset": "log_followup_years"},
        {"family": "negbin", "method": "ML", "nagq": 7, "df": "residual", "offset": "_offset"},
        ("odtrial.models.glmm", "fit_glmm"),
    ),
    "lmm": ({"df": "kenward-roger", "reml": True}, {"ddf": "kenward-roger", "reml": True}, ("odtrial.models", "fit_lmm")),
    "gee": (
        {"family": "poisson", "cov_struct": "independence", "cov_type": "fay-graubard", "offset": "log_followup_years"},
        {"family": "poisson", "cov_struct": "independence", "cov_type": "fay-graubard", "offset": "_offset"},
        ("odtrial.models", "fit_gee"),
    ),
    "cox": ({"cov_type": "robust-g", "ties": "breslow"}, {"cov_type": "robust-g", "ties": "breslow"}, ("odtrial.models.cox", "fit_cox")),
}  # fmt: skip


@pytest.mark.parametrize("kind", sc.MODEL_KINDS)
def test_every_allowed_model_option_reaches_the_fit(monkeypatch, kind) -> None:
    import pandas as pd

    from odtrial.analysis.outcomes import fit_model, outcome_data
    from odtrial.plan.model import ModelSpec

    opts, expected, (module, name) = FULL_OPTIONS[kind]
    assert set(opts) == set(sc.MODEL_OPTIONS[kind])  # every option of the kind is exercised
    seen = _capture(monkeypatch, module, name)
    otype = {"glmm": "count", "lmm": "continuous", "gee": "count", "cox": "time-to-event"}[kind]
    ds = pd.DataFrame(  # two clusters per arm: fewer is refused before any fit
        {"cluster_id": ["a", "b", "c", "d"], "treat": [1, 0, 1, 0], "arm": ["A", "B", "A", "B"],
         "y": [1, 2, 2, 1], "y_days": [3.0, 4.0, 5.0, 6.0], "y_event": [1, 0, 0, 1],
         "followup_days": [365.0] * 4}
    )  # fmt: skip
    spec = ModelSpec(kind, opts.get("family"), (), {k: v for k, v in opts.items() if k != "family"})
    from odtrial.plan.model import Derivation, Outcome

    d = Derivation("y", "value_at_visit", {})
    o = Outcome("y", "y", "primary", otype, "y", "itt", None, d, spec)
    fit_model(outcome_data(ds, o), otype, spec)
    assert {k: seen[k] for k in expected} == expected


# -- [missing_data] variables ----------------------------------------------------------

MD = ("missing_data", "variables")


def test_missing_data_variables_are_loaded_apart_from_the_text(raw, plan_with) -> None:
    plan = parse_plan(raw, source="sap.toml")
    assert plan.missing_data == (("work_study_12m", "12 months"), ("work_study_24m", "24 months"))
    assert dict(plan.sections["missing_data"]) == {"approach": raw["missing_data"]["approach"]}
    assert parse_plan(plan_with(raw, MD, plan_with.DELETE)).missing_data == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("work_study_24m", "sap.toml: key 'missing_data.variables' must be an array of tables"),
        ([{"column": "x"}], "sap.toml: key 'missing_data.variables[0].time_point' is missing"),
        (
            [{"column": "x", "time_point": "1", "when": "2"}],
            "sap.toml: key 'missing_data.variables[0].when' is not a known key",
        ),
        (
            [{"column": "x", "time_point": "1"}, {"column": "x", "time_point": "2"}],
            "sap.toml: key 'missing_data.variables[1].column' repeats 'x'",
        ),
    ],
)
def test_missing_data_variables_are_validated(raw, plan_with, value, message) -> None:
    msgs = errors_of(plan_with(raw, MD, value))
    assert len(msgs) == 1 and msgs[0].startswith(message)


# -- [summary]: the trial's own words in the report ----------------------------------


def test_summary_is_optional_and_read_whole(raw, plan_with) -> None:
    plan = parse_plan(raw, source="sap.toml")
    summary = plan.sections["summary"]
    assert summary["plain_language"] == raw["summary"]["plain_language"]
    assert summary["clusters"] == "groups of practices"
    assert dict(summary["abbreviations"])["IMD"] == "Index of Multiple Deprivation"
    assert "summary" not in parse_plan(plan_with(raw, ("summary",), plan_with.DELETE)).sections


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "plain_language",
            "We compared care. " + "word " * 300,
            "must be at most 300 words, got 303",
        ),
        (
            "plain_language",
            "We compared care offered by GP practices in each NHS trust.",
            "must be plain language without abbreviations, got GP, NHS",
        ),
        ("plain_language", " ", "must not be empty"),
        (
            "clusters",
            "groups of GP practices",
            "must be plain language without abbreviations, got GP",
        ),
        ("abbreviations", {"IMD": 3}, "must be a string, got int 3"),
        ("colour", "blue", "is not a known key"),
    ],
)
def test_summary_text_is_plain_and_short(raw, plan_with, key, value, message) -> None:
    errors = errors_of(plan_with(raw, ("summary", key), value))
    path = f"summary.{key}" + (".IMD" if key == "abbreviations" else "")
    assert len(errors) == 1 and errors[0].startswith(f"sap.toml: key '{path}' {message}")


# -- derivations -----------------------------------------------------------------------

# A minimal valid derivation of every kind (as a [variables] entry of the shipped plan).
MINIMAL: dict[str, dict[str, Any]] = {
    "value_at_visit": {"table": "phq9", "field": "q1", "visit": 12},
    "change_from_baseline": {"table": "phq9", "field": "q1", "visit": 12,
                             "baseline": {"field": "q1_baseline"}},
    "score": {"table": "phq9", "items": ["q1", "q2"], "visit": 12},
    "any_event": {"table": "contacts", "date": "contact_date"},
    "count_events": {"table": "stays", "start": "entered", "end": "left"},
    "days_in_state": {"table": "stays", "start": "entered", "end": "left"},
    "time_to_event": {"events": [{"table": "contacts", "date": "contact_date"}]},
    "medication_any": {"table": "scripts", "drug": "medicine", "start": "from", "end": "to",
                       "class": "antidepressant"},
    "mean_dose": {"table": "scripts", "drug": "medicine", "dose": "mg", "start": "from",
                  "end": "to", "equivalence": "ddd"},
    "total_dose": {"table": "scripts", "drug": "medicine", "dose": "mg", "start": "from",
                   "end": "to", "generic": "sertraline"},
    "composite": {"of": ["work_study_24m", "any_admission"], "rule": "any"},
}  # fmt: skip
VAR = ("variables", "v")


def with_variable(
    raw: dict[str, Any], plan_with: Any, kind: str, change: dict | None = None, **more: Any
) -> dict:
    """The shipped plan with ``[variables.v]`` a minimal ``kind`` derivation, changed."""
    d = {"kind": kind, **MINIMAL[kind], **(change or {}), **more}
    return plan_with(raw, VAR, {"label": "v", "derivation": d})


def test_minimal_derivations_cover_every_kind(raw, plan_with) -> None:
    assert set(MINIMAL) == set(sc.DERIVATION_KINDS)
    for kind in MINIMAL:
        plan = parse_plan(with_variable(raw, plan_with, kind))
        assert plan.variables["v"].derivation.kind == kind
        assert plan.variables["v"].derivation.key == "variables.v.derivation"


def test_every_derivation_enumeration_is_checked(raw, plan_with) -> None:
    fields = _choices(sc.DERIVATION, "")
    assert {p.split(">")[0].strip("<") for p, _ in fields} == set(sc.DERIVATION_KINDS)
    for pattern, allowed in fields:
        kind, name = pattern.strip("<").split(">.")
        good = allowed[-1]
        bad = good[:-1] + "Q" + good[-1]
        msgs = errors_of(with_variable(raw, plan_with, kind, {name: bad}))
        assert len(msgs) == 1, (pattern, msgs)
        assert msgs[0].startswith(f"sap.toml: key 'variables.v.derivation.{name}' must be one of")
        assert f"got {bad!r}; did you mean {good!r}?" in msgs[0]


@pytest.mark.parametrize(
    ("kind", "change", "message"),
    [
        ("any_event", {"tabel": "x"},
         "key 'variables.v.derivation.tabel' is not a known key; did you mean 'table'?"),
        ("value_at_visit", {"window_months": 12},
         "key 'variables.v.derivation.window_months' applies to an any_event derivation or"),
        ("value_at_visit", {"equivalence": "mg"},
         "key 'variables.v.derivation.equivalence' applies to a mean_dose derivation or a "
         "total_dose derivation only "
         "(this derivation is a value_at_visit)"),
        ("any_event", {"start": "a", "end": "b"},
         "key 'variables.v.derivation' takes either date or start and end, not both"),
        ("count_events", {"end": None},
         "key 'variables.v.derivation' needs either date (dated events) or both start and end"),
        ("any_event", {"merge": False},
         "key 'variables.v.derivation.merge' applies to stays (start and end) only"),
        ("time_to_event", {"events": []},
         "key 'variables.v.derivation.events' must list at least one event source"),
        ("time_to_event", {"events": [{"table": "t", "date": "d", "start": "s", "end": "e"}]},
         "key 'variables.v.derivation.events[0]' takes either date or start and end, not both"),
        ("time_to_event", {"events": [{"table": "t", "dat": "d"}]},
         "key 'variables.v.derivation.events[0].dat' is not a known key; did you mean 'date'?"),
        ("change_from_baseline", {"baseline": {"table": "phq9", "field": "q1"}},
         "key 'variables.v.derivation.baseline' takes table and visit together"),
        ("score", {"reverse": {"items": ["q3"], "min": 0, "max": 3}},
         "key 'variables.v.derivation.reverse.items' names 'q3', not one of items"),
        ("score", {"reverse": {"items": ["q1"], "min": 3, "max": 3}},
         "key 'variables.v.derivation.reverse.max' must be greater than min"),
        ("score", {"prorate": {"max_missing": 2}},
         "key 'variables.v.derivation.prorate.max_missing' must be fewer than the number of items"),
        ("score", {"items": ["q1", "q1"]}, "key 'variables.v.derivation.items' repeats a name"),
        ("mean_dose", {"equivalence": "chlorpromazine_woods2003"},
         "key 'variables.v.derivation.class' must be 'antipsychotic' for a chlorpromazine"),
        ("total_dose", {"equivalence": "chlorpromazine_leucht2015"},
         "key 'variables.v.derivation.class' must be 'antipsychotic' for a chlorpromazine"),
        ("any_event", {"where": {"field": "team", "in": []}},
         "key 'variables.v.derivation.where.in' must be a non-empty list of values"),
        ("composite", {"of": ["v"]}, "key 'variables.v.derivation.of[0]' names 'v': itself"),
        ("composite", {"of": ["any_admision"]},
         "key 'variables.v.derivation.of[0]' names 'any_admision': no variable or outcome; "
         "did you mean 'any_admission'?"),
    ],
)  # fmt: skip
def test_derivation_rules(raw, plan_with, kind, change, message) -> None:
    bad = with_variable(raw, plan_with, kind, change)
    d = bad["variables"]["v"]["derivation"]
    for k in [k for k, v in change.items() if v is None]:
        del d[k]
    msgs = errors_of(bad)
    assert len(msgs) == 1 and message in msgs[0], msgs


def test_derivation_kind_and_outcome_type(raw, plan_with) -> None:
    bad = plan_with(raw, ("outcomes", "relapse", "derivation"),
                    {"kind": "any_event", "table": "admissions", "date": "admission_date"})  # fmt: skip
    assert errors_of(bad) == (
        "sap.toml: key 'outcomes.relapse.derivation.kind' 'any_event' cannot make a "
        "time-to-event outcome (it makes binary)",
    )
    bad = plan_with(raw, ("outcomes", "work_study_24m", "derivation", "kind"), "value_at_vist")
    msgs = errors_of(bad)
    assert msgs[0].startswith(
        "sap.toml: key 'outcomes.work_study_24m.derivation.kind' must be one of value_at_visit,"
    ) and msgs[0].endswith("did you mean 'value_at_visit'?")


def test_derived_columns_are_unique_and_composites_acyclic(raw, plan_with) -> None:
    bad = with_variable(raw, plan_with, "any_event")
    bad["variables"]["relapse_days"] = bad["variables"].pop("v")
    assert errors_of(bad) == (
        "sap.toml: key 'outcomes.relapse' makes column 'relapse_days', as "
        "variables.relapse_days does",
    )
    # a censored count or days in a state also makes its own follow-up column
    censor = {"table": "participants", "date": "withdrawal_date"}
    bad = plan_with(raw, ("outcomes", "bed_days", "derivation", "censor"), censor)
    bad = with_variable(bad, plan_with, "any_event")
    bad["variables"]["bed_days_followup_days"] = bad["variables"].pop("v")
    assert errors_of(bad) == (
        "sap.toml: key 'outcomes.bed_days' makes column 'bed_days_followup_days', as "
        "variables.bed_days_followup_days does",
    )
    bad = with_variable(raw, plan_with, "composite", of=["w"])
    bad["variables"]["w"] = {"label": "w", "derivation": {"kind": "composite", "of": ["v"],
                                                          "rule": "all"}}  # fmt: skip
    msgs = errors_of(bad)
    assert msgs == (
        "sap.toml: key 'variables.v.derivation.of' makes a cycle through 'w'",
        "sap.toml: key 'variables.w.derivation.of' makes a cycle through 'v'",
    )


def _he(raw: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda h: h["resource_use"]["gp_consultations"].update(column="gp"),
            "key 'health_economics.resource_use.gp_consultations' takes either derivation or "
            "column (a dataset column), not both",
        ),
        (
            lambda h: h["resource_use"]["gp_consultations"]["derivation"].update(window_months=12),
            "key 'health_economics.resource_use.gp_consultations.derivation.window_months' is "
            "set by health_economics.time_horizon_months",
        ),
        (
            lambda h: h.update(sensitivity=["tsb", "bivariate"]),
            "key 'health_economics.sensitivity[1]' 'bivariate' is the base case method",
        ),
        (
            lambda h: h.update(sensitivity=["tbs"]),
            "key 'health_economics.sensitivity[0]' must be one of bivariate, tsb, unadjusted, "
            "kenward-roger, multiple-imputation, got 'tbs'",
        ),
        (
            lambda h: h["utilities"].update(value_set="uk"),
            "key 'health_economics.utilities.value_set' must be england or 3l_mapping for "
            "EQ-5D-5L, got 'uk'",
        ),
        (
            lambda h: h["utilities"].update(value_set="3l_mapping", age="age_at_consent"),
            "key 'health_economics.utilities' value_set 3l_mapping needs sex (the dataset "
            "column of sex)",
        ),
        (
            lambda h: h["utilities"].update(sex="sex"),
            "key 'health_economics.utilities.sex' is only for value_set 3l_mapping",
        ),
        (
            lambda h: h["utilities"].update(visits=[0, 12]),
            "key 'health_economics.utilities.visits' must end at the time horizon (24 months)",
        ),
        (
            lambda h: h["utilities"].update(visits=[3, 12, 24]),
            "key 'health_economics.utilities.visits' must start at 0 (baseline) and increase",
        ),
        (
            lambda h: h["utilities"].update(fields=["mobility"]),
            "key 'health_economics.utilities.fields' must name the 5 dimensions",
        ),
        (
            lambda h: h["resource_use"].update(
                bed_days={
                    "label": "x",
                    "item": "y",
                    "derivation": {
                        "kind": "count_events",
                        "table": "admissions",
                        "date": "admission_date",
                    },
                }
            ),
            "key 'health_economics.resource_use.bed_days' makes column 'bed_days', which the "
            "plan already makes",
        ),
        (
            lambda h: h["costs"].update(intervention_costs="per_cluster.csv"),
            "key 'health_economics.costs.intervention_costs' cannot be used with "
            "intervention_cost_per_cluster: keep one",
        ),
        (
            lambda h: h["costs"].update(unit_cost="x.toml"),
            "key 'health_economics.costs.unit_cost' is not a known key; did you mean 'unit_costs'?",
        ),
    ],
)
def test_health_economics_errors_name_the_key(raw, change, message) -> None:
    bad = _he(raw)
    change(bad["health_economics"])
    errors = errors_of(bad)
    assert any(e.startswith(f"sap.toml: {message}") for e in errors), errors


def test_health_economics_is_loaded_with_its_derivations(sap_path) -> None:
    from odtrial.plan import load_plan

    pl = load_plan(sap_path)
    he = pl.health_economics
    assert (
        he is not None
        and he.method == "bivariate"
        and he.sensitivity
        == (
            "tsb",
            "unadjusted",
            "multiple-imputation",
        )
    )
    assert he.unit_costs.is_file() and he.price_index is not None and he.price_index.is_file()
    gp = he.resource_use["gp_consultations"]
    assert gp.cumulative == ((12, "gp_consultations_m12"), (24, "gp_consultations"))
    ids = [d.id for d in pl.derivations]
    assert "gp_consultations_m12" in ids and "eq5d_m24_anxiety_depression" in ids
    windows = {d.id: d.window_months for d in he.derivations}
    assert windows["gp_consultations_m12"] == 12 and windows["gp_consultations"] == 24
    assert [v for v, _ in he.utility_columns] == [0, 12, 24]
