"""Sample size as data: computed by odtrial.design, checked against the plan's claims,
and the same numbers in the plan check, the report and ``odtrial power``."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from odtrial.cli import main
from odtrial.design.analytic import Outcome, analytic_power
from odtrial.plan import PlanErrors, SampleSize, load_plan, parse_plan
from odtrial.report.sample_size import sample_size_paragraph

SS = ("design", "sample_size")
ASSUMED = {"icc": 0.05, "cluster_size": 20, "cv": 0.6, "attrition": 0.2}
BINARY = Outcome(kind="binary", p0=0.40, p1=0.52)


def errors_of(raw: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(PlanErrors) as info:
        parse_plan(raw, source="sap.toml")
    return info.value.messages


def test_issue_9_contradiction_is_refused(raw, plan_with) -> None:
    # what the shipped plan used to claim: 16 clusters per arm give 80% power for 40% -> 52%
    bad = plan_with(raw, (*SS, "power"), 0.80)
    msgs = errors_of(bad)
    computed = analytic_power(BINARY, **ASSUMED, clusters_per_arm=16).power
    needed = analytic_power(BINARY, **ASSUMED, power=0.80).clusters_per_arm
    assert (round(computed, 3), needed) == (0.46, 35)  # the issue's "about 50%" and 35
    assert msgs == (
        "sap.toml: key 'design.sample_size' states power 0.8 with 16 clusters per arm, but the "
        "computation gives 0.460 (odtrial power --p0 0.4 --p1 0.52 --icc 0.05 --cluster-size 20 "
        "--cv 0.6 --attrition 0.2 --alpha 0.05 --correction t --clusters-per-arm 16)",
        "sap.toml: key 'design.sample_size' states 16 clusters per arm for power 0.8, but the "
        "computation needs 35 (odtrial power --p0 0.4 --p1 0.52 --icc 0.05 --cluster-size 20 "
        "--cv 0.6 --attrition 0.2 --alpha 0.05 --correction t --power 0.8)",
    )


@pytest.mark.parametrize(
    ("power", "ok"),
    [(0.46, True), (0.45, True), (0.48, True), (0.43, False), (0.49, False)],
)
def test_power_tolerance_is_two_points(raw, plan_with, power, ok) -> None:
    # computed 0.4604: within 0.02 passes, beyond fails
    bad = plan_with(raw, (*SS, "power"), power)
    if ok:
        parse_plan(bad)
    else:
        assert "computation gives 0.460" in errors_of(bad)[0]


def test_cluster_tolerance_is_one_cluster(raw, plan_with) -> None:
    # a large trial: one cluster moves power by less than 0.02, so the cluster check bites
    big = plan_with(raw, (*SS, "p1"), 0.44)
    big = plan_with(big, (*SS, "target_power"), 0.80)
    ss = SampleSize.from_mapping(big["design"]["sample_size"])
    k80 = replace(ss, clusters_per_arm=None, power=0.80).compute().at.clusters_per_arm
    assert k80 > 100
    for k, ok in (
        (k80, True),
        (k80 + 1, True),
        (k80 - 1, True),
        (k80 + 3, False),
        (k80 - 3, False),
    ):
        at = analytic_power(Outcome(kind="binary", p0=0.4, p1=0.44), **ASSUMED, clusters_per_arm=k)
        assert abs(at.power - 0.80) <= 0.02  # the power check alone would pass them all
        trial = plan_with(plan_with(big, (*SS, "clusters_per_arm"), k), (*SS, "power"), 0.80)
        if ok:
            parse_plan(trial)
        else:
            assert any(f"states {k} clusters per arm for power 0.8" in m for m in errors_of(trial))


def test_only_clusters_or_only_power_is_computed_not_checked(raw, plan_with) -> None:
    only_k = plan_with(raw, (*SS, "power"), plan_with.DELETE)
    assert parse_plan(only_k).sample_size.compute().at.power == pytest.approx(0.46045, abs=1e-5)
    only_p = plan_with(
        plan_with(only_k, (*SS, "clusters_per_arm"), plan_with.DELETE),
        (*SS, "target_power"),
        plan_with.DELETE,
    )
    only_p = plan_with(only_p, (*SS, "power"), 0.80)
    comp = parse_plan(only_p).sample_size.compute()
    assert (comp.at.clusters_per_arm, comp.needed) == (35, None)
    neither = plan_with(only_p, (*SS, "power"), plan_with.DELETE)
    assert errors_of(neither) == (
        "sap.toml: key 'design.sample_size.clusters_per_arm' is missing: give clusters_per_arm, "
        "power, or both",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"p1": None}, "key 'design.sample_size.p1' is missing (a binary sample size needs p0 and p1)"),
        ({"sd": 1.0}, "key 'design.sample_size.sd' does not apply to a binary sample size"),
        ({"type": "continuous"}, "key 'design.sample_size.type' is 'continuous' but the outcome it sizes, outcomes.work_study_24m, is 'binary'"),
        ({"outcome": "bed_dayz"}, "names unknown outcome 'bed_dayz'; did you mean 'bed_days'?"),
        ({"outcome": "bed_days"}, "is 'binary' but the outcome it sizes, outcomes.bed_days, is 'count'"),
        ({"p1": 0.40}, "key 'design.sample_size' cannot be computed: --p0 equals --p1"),
        ({"clusters_per_arm": None, "power": 0.8}, "key 'design.sample_size.target_power' needs clusters_per_arm"),
        ({"clusters_per_arm": 1}, "key 'design.sample_size.clusters_per_arm' must be in [2, 100000], got 1"),
        ({"correction": "welch"}, "key 'design.sample_size.correction' must be one of t, plus-one, none"),
        ({"method": "simulation"}, "key 'design.sample_size.method' must be one of analytic, got 'simulation'"),
    ],
)  # fmt: skip
def test_sample_size_inputs_are_checked(raw, plan_with, changes, message) -> None:
    bad = raw
    for k, v in changes.items():
        bad = plan_with(bad, (*SS, k), plan_with.DELETE if v is None else v)
    msgs = errors_of(bad)
    assert any(message in m for m in msgs), msgs


def test_a_count_sample_size_sizes_a_count_outcome(raw, plan_with) -> None:
    ss = {
        "outcome": "bed_days", "type": "count", "rate0": 6.0, "rate1": 4.8, "followup": 2.0,
        "theta": 0.8, "icc": 0.03, "cluster_size": 20, "cluster_size_cv": 0.6,
        "attrition": 0.2, "clusters_per_arm": 16, "target_power": 0.8,
    }  # fmt: skip
    plan = parse_plan(plan_with(raw, SS, ss))
    comp = plan.sample_size.compute()
    want = analytic_power(
        Outcome(kind="count", rate0=6.0, rate1=4.8, followup=2.0, theta=0.8),
        icc=0.03, cluster_size=20, cv=0.6, attrition=0.2, clusters_per_arm=16,
    )  # fmt: skip
    assert comp.at == want
    # the smallest detectable rate gives the target power, and a smaller change does not
    hit = replace(plan.sample_size, rate1=comp.detectable).compute().at.power
    assert hit == pytest.approx(0.80, abs=1e-6)
    assert comp.detectable is not None and comp.detectable < 4.8


def test_detectable_difference_of_the_shipped_design() -> None:
    ss = load_plan_sample_size()
    comp = ss.compute()
    assert comp.detectable == pytest.approx(0.5797, abs=1e-4)
    at = analytic_power(
        Outcome(kind="binary", p0=0.4, p1=comp.detectable), **ASSUMED, clusters_per_arm=16
    )
    assert at.power == pytest.approx(0.80, abs=1e-6)
    assert comp.needed is not None and comp.needed.clusters_per_arm == 35


def load_plan_sample_size() -> SampleSize:
    from pathlib import Path

    return load_plan(
        Path(__file__).resolve().parents[2] / "analysis_plans" / "pod_synthetic_sap.toml"
    ).sample_size


def _power_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    with pytest.raises(SystemExit) as e:
        main(["power", *args, "--json"])
    assert not e.value.code
    return dict(json.loads(capsys.readouterr().out))


def test_the_computation_is_odtrial_power(capsys) -> None:
    """The statement's numbers are what `odtrial power` prints for the same inputs."""
    ss = load_plan_sample_size()
    cli = _power_json(ss.command().split()[2:], capsys)
    comp = ss.compute()
    at = comp.at
    assert (cli["clusters_per_arm"], cli["power"], cli["design_effect"]) == (
        at.clusters_per_arm, at.power, at.design_effect,
    )  # fmt: skip
    solve = replace(ss, clusters_per_arm=None, power=0.8).command().split()[2:]
    assert comp.needed is not None
    assert _power_json(solve, capsys)["clusters_per_arm"] == comp.needed.clusters_per_arm == 35


def test_report_paragraph_is_computed_from_the_inputs(raw, plan_with) -> None:
    plan = load_plan_from(raw)
    design = json.loads(json.dumps(dict(plan.design), default=dict))  # as results.json holds it
    outcomes = [{"id": "work_study_24m", "label": "Return to work or study at 24 months"}]
    text = sample_size_paragraph(design, outcomes)
    assert text is not None
    assert text.startswith(
        "The calculation is for return to work or study at 24 months (a binary outcome)."
    )
    for part in (
        "16 clusters per arm (32 in all)", "320 per arm, 640 in all", "ICC of 0.05",
        "design effect for unequal cluster sizes is 2.04", "46% power to detect an increase from 40% to 52%",
        "80% power for that effect would need 35 clusters per arm (700 recruited per arm)",
        "80% power is reached for an increase from 40% to 58%",
    ):  # fmt: skip
        assert part in text
    # change an input and the paragraph follows: no typed text can go stale
    design["sample_size"]["icc"] = 0.02
    assert "2.04" not in str(sample_size_paragraph(design, outcomes))
    # results from before the inputs were data keep their text
    assert sample_size_paragraph({"sample_size": "old text"}) == "old text"
    assert sample_size_paragraph({}) is None


def load_plan_from(raw: dict[str, Any]) -> Any:
    return parse_plan(raw)


def test_report_methods_section_uses_the_computed_paragraph(raw) -> None:
    """The builder's Methods section shows the computed paragraph under 'Sample size.'."""
    from pathlib import Path

    from odtrial.report import sections

    fixture = Path(__file__).resolve().parents[1] / "report" / "fixtures" / "results_blinded.json"
    r = json.loads(fixture.read_text(encoding="utf-8"))
    r["design"] = json.loads(json.dumps(dict(parse_plan(raw).design), default=dict))
    texts = [
        b.text
        for b in sections.build_sections(r).section("methods").blocks
        if isinstance(b, sections.Para) and b.lead == "Sample size."
    ]
    assert len(texts) == 1 and "46% power" in texts[0]
