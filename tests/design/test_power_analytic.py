"""Analytic sample size and power, checked against published numbers verified by hand.

z quantiles used in the hand calculations: z_0.975 = 1.959964, z_0.90 = 1.281552,
z_0.80 = 0.841621.
"""

from __future__ import annotations

import json
import math

import pytest

from odtrial.cli import main
from odtrial.design import Outcome, analytic_power, design_effect
from odtrial.design.analytic import power_at
from odtrial.errors import DesignError


def cont(delta: float = 1.0, sd: float = 1.0) -> Outcome:
    return Outcome(kind="continuous", delta=delta, sd=sd)


def test_kerry_bland_1998_twenty_one_s2_over_d2():
    """Kerry & Bland, BMJ 1998;316:549 ("Sample size in cluster randomisation"):
    with 5% two-sided significance and 90% power, n = 21 s²/d² per group.
    By hand: 2 (1.959964 + 1.281552)² = 2 × 10.50743 = 21.015."""
    r = analytic_power(
        cont(delta=1.0, sd=1.0), icc=0.0, cluster_size=1, power=0.9, correction="none"
    )
    assert r.n_individual_exact == pytest.approx(21.015, abs=5e-4)
    assert round(r.n_individual_exact) == 21
    # scales with s²/d²: s = 2, d = 0.5 gives 21 × 16
    r2 = analytic_power(
        cont(delta=0.5, sd=2.0), icc=0.0, cluster_size=1, power=0.9, correction="none"
    )
    assert r2.n_individual_exact == pytest.approx(16 * 21.015, abs=1e-2)


def test_lehr_1992_sixteen_s2_over_d2():
    """Lehr, Stat Med 1992;11:1099 ("Sixteen s-squared over d-squared"): 80% power,
    5% two-sided: n ≈ 16 s²/d² per group. By hand: 2 (1.959964 + 0.841621)² = 15.698."""
    r = analytic_power(cont(), icc=0.0, cluster_size=1, power=0.8, correction="none")
    assert r.n_individual_exact == pytest.approx(15.698, abs=5e-4)
    assert r.n_individual_per_arm == 16


def test_design_effect_kerry_bland_and_eldridge():
    """Equal sizes: D = 1 + (m − 1) ρ (Kerry & Bland 1998). Unequal sizes:
    1 + ((cv² + 1) m − 1) ρ (Eldridge, Ashby & Kerry, IJE 2006;35:1292, who
    put cv ≈ 0.65 for trials randomising UK general practices).
    By hand: m = 20, ρ = 0.05: 1 + 19 × 0.05 = 1.95; cv = 0.65:
    1 + (1.4225 × 20 − 1) × 0.05 = 1 + 27.45 × 0.05 = 2.3725."""
    assert design_effect(20, 0.05) == pytest.approx(1.95)
    assert design_effect(20, 0.05, cv=0.65) == pytest.approx(2.3725)
    assert design_effect(1, 0.3) == pytest.approx(1.0)  # one person per cluster: no inflation


def test_binary_by_hand():
    """p0 = 0.30, p1 = 0.45, 5% two-sided, 80% power, ρ = 0.05, m = 20.
    By hand: V = 0.3×0.7 + 0.45×0.55 = 0.4575; (1.959964 + 0.841621)² = 7.848867;
    n = 7.848867 × 0.4575 / 0.15² = 159.594 → 160 per arm unclustered;
    normal theory k = 159.594 × 1.95 / 20 = 15.56 → 16 clusters per arm."""
    o = Outcome(kind="binary", p0=0.30, p1=0.45)
    z = analytic_power(o, icc=0.05, cluster_size=20, correction="none")
    assert z.n_individual_exact == pytest.approx(159.594, abs=1e-3)
    assert z.n_individual_per_arm == 160 and z.design_effect == pytest.approx(1.95)
    assert z.clusters_per_arm == 16
    assert (
        analytic_power(o, icc=0.05, cluster_size=20, correction="plus-one").clusters_per_arm == 17
    )
    t = analytic_power(o, icc=0.05, cluster_size=20, correction="t")
    assert t.clusters_per_arm in (16, 17) and t.power >= 0.8
    kw = {
        "effect": 0.15,
        "variance": 0.4575,
        "de": 1.95,
        "m_analysed": 20.0,
        "alpha": 0.05,
        "correction": "t",
    }
    assert power_at(t.clusters_per_arm - 1, **kw) < 0.8 <= power_at(t.clusters_per_arm, **kw)


def test_count_by_hand():
    """rate0 = 0.5, rate1 = 0.35 events per person-year, 2 years each:
    V = (0.5 + 0.35) / 2 = 0.425; n = 7.848867 × 0.425 / 0.15² = 148.26 → 149."""
    o = Outcome(kind="count", rate0=0.5, rate1=0.35, followup=2.0)
    r = analytic_power(o, icc=0.02, cluster_size=20)
    assert (
        r.n_individual_exact == pytest.approx(148.256, abs=1e-3) and r.n_individual_per_arm == 149
    )


def test_overdispersed_count_by_hand():
    """The same rates with NB2 dispersion theta = 1.5 per person:
    V = 0.425 + (0.5² + 0.35²) / 1.5 = 0.673333; n = 7.848880 × 0.673333 / 0.15² = 234.885 → 235."""
    o = Outcome(kind="count", rate0=0.5, rate1=0.35, followup=2.0, theta=1.5)
    r = analytic_power(o, icc=0.02, cluster_size=20)
    assert r.n_individual_exact == pytest.approx(234.885, abs=1e-3)
    assert r.n_individual_per_arm == 235
    # a very large theta is Poisson
    big = Outcome(kind="count", rate0=0.5, rate1=0.35, followup=2.0, theta=1e12)
    assert analytic_power(big, icc=0.02, cluster_size=20).n_individual_exact == pytest.approx(
        148.256, abs=1e-3
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p0": 0.3, "p1": 0.4, "theta": 2.0}, "applies to a count outcome only"),
        ({"rate0": 0.5, "rate1": 0.3, "theta": 0.0}, r"--theta must be positive \(got 0.0\)"),
    ],
)
def test_theta_errors_name_the_option(kwargs, message):
    with pytest.raises(DesignError, match=message):
        Outcome.from_options(**kwargs)


def test_attrition_shrinks_analysed_clusters():
    """20 recruited, 20% lost: 16 analysed; D = 1 + 15 × 0.05 = 1.75;
    k = 159.594 × 1.75 / 16 = 17.46 → 18 (normal theory)."""
    o = Outcome(kind="binary", p0=0.30, p1=0.45)
    r = analytic_power(o, icc=0.05, cluster_size=20, attrition=0.2, correction="none")
    assert r.cluster_size_analysed == pytest.approx(16) and r.design_effect == pytest.approx(1.75)
    assert r.clusters_per_arm == 18 and r.n_recruited_per_arm == 360


@pytest.mark.parametrize("correction", ["t", "plus-one", "none"])
def test_solve_for_power_round_trip(correction):
    o = Outcome(kind="binary", p0=0.3, p1=0.4)
    r = analytic_power(o, icc=0.03, cluster_size=25, cv=0.6, correction=correction)
    at = analytic_power(
        o,
        icc=0.03,
        cluster_size=25,
        cv=0.6,
        correction=correction,
        clusters_per_arm=r.clusters_per_arm,
    )
    below = analytic_power(
        o,
        icc=0.03,
        cluster_size=25,
        cv=0.6,
        correction=correction,
        clusters_per_arm=r.clusters_per_arm - 1,
    )
    assert at.power == pytest.approx(r.power) and at.power >= 0.8 > below.power
    assert at.target_power is None


def test_t_correction_needs_at_least_as_many_clusters_as_normal_theory():
    for icc in (0.01, 0.05, 0.1):
        o = cont(delta=0.3)
        z = analytic_power(o, icc=icc, cluster_size=30, correction="none").clusters_per_arm
        t = analytic_power(o, icc=icc, cluster_size=30, correction="t").clusters_per_arm
        assert z <= t <= z + 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"^give exactly one outcome: .* got none$"),
        (
            {"p0": 0.3, "delta": 1.0, "sd": 1.0},
            r"^give exactly one outcome: .* got binary, continuous$",
        ),
        ({"p0": 0.3}, r"^a binary outcome needs both --p0 and --p1$"),
        ({"p0": 1.3, "p1": 0.4}, r"^--p0 and --p1 must be proportions in \(0, 1\)"),
        ({"rate0": 0.5, "rate1": 0.5}, r"^--rate0 equals --rate1"),
        ({"delta": 1.0, "sd": -1.0}, r"^--sd must be positive"),
    ],
)
def test_bad_outcome(kwargs, message):
    with pytest.raises(DesignError, match=message):
        Outcome.from_options(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"icc": 1.0}, r"^--icc must be in \[0, 1\)"),
        ({"attrition": 1.0}, r"^--attrition must be in \[0, 1\)"),
        ({"cluster_size": 0.5}, r"^--cluster-size must be at least 1"),
        ({"correction": "kr"}, r"^--correction must be one of t, plus-one, none"),
        ({"clusters_per_arm": 1}, r"^--clusters-per-arm must be an integer of at least 2"),
    ],
)
def test_bad_design(kwargs, message):
    args = {"icc": 0.05, "cluster_size": 20.0}
    args.update(kwargs)
    with pytest.raises(DesignError, match=message):
        analytic_power(cont(), **args)


def _cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def test_cli_json(capsys):
    code, out, err = _cli(
        [
            "power",
            "--p0",
            "0.3",
            "--p1",
            "0.45",
            "--icc",
            "0.05",
            "--cluster-size",
            "20",
            "--correction",
            "none",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["design_effect"] == pytest.approx(1.95)
    assert d["n_individual_per_arm"] == 160 and d["clusters_per_arm"] == 16
    assert d["power"] >= 0.8 and d["correction_note"].startswith("none")
    code, out, _ = _cli(
        [
            "power",
            "--delta",
            "0.3",
            "--sd",
            "1",
            "--icc",
            "0.05",
            "--cluster-size",
            "20",
            "--clusters-per-arm",
            "10",
            "--json",
        ],
        capsys,
    )
    d = json.loads(out)
    assert d["clusters_per_arm"] == 10 and 0 < d["power"] < 1 and d["target_power"] is None
    assert math.isfinite(d["design_effect"])


def test_cli_text_and_bad_input(capsys):
    code, out, _ = _cli(
        ["power", "--rate0", "0.5", "--rate1", "0.35", "--icc", "0.02", "--cluster-size", "20"],
        capsys,
    )
    assert code == 0 and "small-sample correction: t distribution with 2k-2" in out
    code, _, err = _cli(["power", "--p0", "0.3", "--icc", "0.05", "--cluster-size", "20"], capsys)
    assert code == 2 and err == "odtrial: error: a binary outcome needs both --p0 and --p1\n"
    code, _, err = _cli(
        [
            "power",
            "--p0",
            "0.3",
            "--p1",
            "0.4",
            "--icc",
            "0.05",
            "--cluster-size",
            "20",
            "--method",
            "mc",
        ],
        capsys,
    )
    assert code == 2 and err.count("\n") == 1 and "--method must be analytic or simulation" in err
