"""Simulation power: reproducible whatever the engine, and in line with the analytic formula."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from odtrial.design import Outcome, TrialDesign, analytic_power, simulate_power
from odtrial.design.fitters import cluster_t_pvalue, engine_available, resolve_fitter
from odtrial.design.simulation import simulate_pvalues, simulate_trial
from odtrial.errors import DesignError


def cont_design(k: int = 6, m: float = 8, icc: float = 0.05, **kw) -> TrialDesign:
    return TrialDesign(
        outcome=Outcome(kind="continuous", delta=0.45, sd=1.0),
        clusters_per_arm=k,
        cluster_size=m,
        icc=icc,
        **kw,
    )


def test_simulated_trial_has_the_design():
    d = TrialDesign(
        outcome=Outcome(kind="binary", p0=0.3, p1=0.5),
        clusters_per_arm=8,
        cluster_size=40,
        icc=0.05,
        cv=0.6,
        attrition=0.25,
        n_strata=4,
    )
    data = simulate_trial(d, np.random.default_rng(1))
    per = data.groupby("cluster").agg(
        arm=("arm", "first"), stratum=("stratum", "first"), n=("y", "size")
    )
    assert len(per) == 16 and (per["arm"] == 1).sum() == 8
    assert (
        per.groupby("stratum")["arm"]
        .agg(["sum", "size"])
        .apply(lambda r: r["size"] == 2 * r["sum"], axis=1)
        .all()
    )
    assert set(data["y"].unique()) <= {0.0, 1.0}
    # over many trials: mean analysed size ≈ 40 × 0.75, size CV ≈ 0.6, ICC ≈ 0.05
    sizes, props = [], []
    for s in range(60):
        x = simulate_trial(d, np.random.default_rng(100 + s))
        g = x.groupby("cluster")
        sizes += list(g.size() / 0.75)
        props += list(g["y"].mean()[g["arm"].first() == 0])
    sizes_a = np.array(sizes)
    assert sizes_a.mean() == pytest.approx(40, rel=0.05)
    assert sizes_a.std() / sizes_a.mean() == pytest.approx(0.6, abs=0.06)


def test_cluster_level_fitter_matches_a_two_sample_t_test():
    """With equal sizes and one stratum the cluster-level analysis is the pooled t test on cluster means."""
    from scipy import stats

    d = cont_design(k=5, m=6)
    data = simulate_trial(d, np.random.default_rng(3))
    means = data.groupby("cluster").agg(y=("y", "mean"), arm=("arm", "first"))
    ref = stats.ttest_ind(means.loc[means.arm == 1, "y"], means.loc[means.arm == 0, "y"]).pvalue
    assert cluster_t_pvalue(data, "continuous") == pytest.approx(ref, rel=1e-10)


def test_continuous_power_agrees_with_analytic_t_within_monte_carlo_error():
    """Normal data, equal sizes, cluster-level t test: the analytic 't' power is exact theory here."""
    d = cont_design()
    ana = analytic_power(
        d.outcome, icc=d.icc, cluster_size=d.cluster_size, clusters_per_arm=d.clusters_per_arm
    )
    sim = simulate_power(d, nsim=600, seed=11, fitter="cluster-t")
    assert sim.n_failed == 0 and sim.mc_se == pytest.approx(
        math.sqrt(sim.power * (1 - sim.power) / 600)
    )
    assert abs(sim.power - ana.power) < 3 * math.sqrt(ana.power * (1 - ana.power) / 600)


def test_binary_power_with_cluster_level_fitter_agrees_with_analytic():
    o = Outcome(kind="binary", p0=0.25, p1=0.5)
    ana = analytic_power(o, icc=0.03, cluster_size=12, clusters_per_arm=6)
    d = TrialDesign(outcome=o, clusters_per_arm=6, cluster_size=12, icc=0.03)
    sim = simulate_power(d, nsim=500, seed=5, fitter="cluster-t")
    assert abs(sim.power - ana.power) < 3 * math.sqrt(ana.power * (1 - ana.power) / 500)


@pytest.mark.skipif(not engine_available("glmm"), reason="odtrial.models.glmm not installed")
def test_binary_power_with_odtrial_glmm_agrees_with_analytic():
    """The default fitter for a binary outcome is odtrial's GLMM by REML (between-within df)."""
    o = Outcome(kind="binary", p0=0.25, p1=0.5)
    d = TrialDesign(outcome=o, clusters_per_arm=6, cluster_size=12, icc=0.03)
    assert resolve_fitter("auto", "binary")[0] == "glmm-reml"
    ana = analytic_power(o, icc=0.03, cluster_size=12, clusters_per_arm=6)
    sim = simulate_power(d, nsim=150, seed=5)
    assert sim.fitter == "glmm-reml" and sim.n_failed <= 3
    assert abs(sim.power - ana.power) < 3 * math.sqrt(ana.power * (1 - ana.power) / 150)


@pytest.mark.skipif(not engine_available("glmm"), reason="odtrial.models.glmm not installed")
@pytest.mark.parametrize("kind", ["binary", "count"])
def test_glmm_reml_fitter_is_the_individual_level_reml_fit(kind):
    from odtrial.design.fitters import glmm_reml_pvalue
    from odtrial.models.glmm import fit_glmm

    o = (
        Outcome(kind="binary", p0=0.3, p1=0.45)
        if kind == "binary"
        else Outcome(kind="count", rate0=0.8, rate1=0.5, followup=2.0)
    )
    d = TrialDesign(outcome=o, clusters_per_arm=8, cluster_size=15, icc=0.05, n_strata=2)
    data = simulate_trial(d, np.random.default_rng(6))
    offset = np.log(data["followup"].to_numpy()) if kind == "count" else None
    family = "binomial" if kind == "binary" else "poisson"
    full = fit_glmm(
        "y ~ arm + C(stratum)", data, cluster="cluster", family=family, offset=offset, method="REML"
    )
    assert glmm_reml_pvalue(data, kind) == pytest.approx(float(full.pvalues["arm"]), rel=1e-12)
    nb = TrialDesign(
        outcome=Outcome(kind="count", rate0=0.8, rate1=0.5, followup=2.0, theta=1.0),
        clusters_per_arm=4,
        cluster_size=10,
        icc=0.05,
    )
    # overdispersed counts: the negative binomial GLMM by REML
    nb_data = simulate_trial(nb, np.random.default_rng(1))
    nb_fit = fit_glmm(
        "y ~ arm", nb_data, cluster="cluster", family="negbin",
        offset=np.log(nb_data["followup"].to_numpy()), method="REML",
    )  # fmt: skip
    assert glmm_reml_pvalue(nb_data, "count") == pytest.approx(
        float(nb_fit.pvalues["arm"]), rel=1e-12
    )


@pytest.mark.skipif(not engine_available("glmm"), reason="odtrial.models.glmm not installed")
@pytest.mark.parametrize("kind", ["binary", "count"])
def test_glmm_on_cluster_totals_equals_the_individual_level_fit(kind):
    """The simulation fits the GLMM on cluster totals; with cluster-level covariates
    only, that is the same likelihood (up to a constant) and the same df as the
    individual-level formula fit."""
    from odtrial.design.fitters import glmm_pvalue
    from odtrial.models.glmm import fit_glmm

    o = (
        Outcome(kind="binary", p0=0.3, p1=0.45)
        if kind == "binary"
        else Outcome(kind="count", rate0=0.8, rate1=0.5, followup=2.0)
    )
    d = TrialDesign(
        outcome=o, clusters_per_arm=8, cluster_size=15, icc=0.05, cv=0.5, attrition=0.2, n_strata=3
    )
    data = simulate_trial(d, np.random.default_rng(4))
    offset = np.log(data["followup"].to_numpy()) if kind == "count" else None
    family = "binomial" if kind == "binary" else "poisson"
    full = fit_glmm(
        "y ~ arm + C(stratum)", data, cluster="cluster", family=family, offset=offset, method="ML"
    )
    # optimiser tolerance: both fits stop at a gradient near zero, so p agrees to ~1e-8
    assert glmm_pvalue(data, kind) == pytest.approx(float(full.pvalues["arm"]), rel=1e-6)


def test_overdispersed_counts_have_the_nb2_variance_and_power_agrees_with_analytic():
    o = Outcome(kind="count", rate0=0.8, rate1=0.5, followup=2.0, theta=1.2)
    # no clustering, many people: a person's count has variance mu + mu^2 / theta
    flat = TrialDesign(outcome=o, clusters_per_arm=50, cluster_size=400, icc=0.0)
    data = simulate_trial(flat, np.random.default_rng(8))
    y0 = data.loc[data["arm"] == 0, "y"]
    mu = 0.8 * 2.0
    assert y0.mean() == pytest.approx(mu, rel=0.02)
    assert y0.var() == pytest.approx(mu + mu**2 / 1.2, rel=0.05)  # SE of a variance ~1.5% here
    d = TrialDesign(outcome=o, clusters_per_arm=8, cluster_size=15, icc=0.03)
    ana = analytic_power(o, icc=0.03, cluster_size=15, clusters_per_arm=8)
    sim = simulate_power(d, nsim=600, seed=7, fitter="cluster-t")
    assert abs(sim.power - ana.power) < 3 * math.sqrt(ana.power * (1 - ana.power) / 600)
    # planning the same trial as Poisson would promise far more power
    poisson = Outcome(kind="count", rate0=0.8, rate1=0.5, followup=2.0)
    assert analytic_power(poisson, icc=0.03, cluster_size=15, clusters_per_arm=8).power > (
        ana.power + 0.2
    )


@pytest.mark.skipif(not engine_available("glmm"), reason="odtrial.models.glmm not installed")
def test_glmm_fitter_models_overdispersed_counts_as_negative_binomial():
    from odtrial.design.fitters import glmm_pvalue
    from odtrial.models.glmm import fit_glmm

    o = Outcome(kind="count", rate0=0.8, rate1=0.5, followup=2.0, theta=1.2)
    d = TrialDesign(outcome=o, clusters_per_arm=6, cluster_size=15, icc=0.03, n_strata=2)
    data = simulate_trial(d, np.random.default_rng(5))
    assert data.attrs["theta"] == 1.2
    nb = fit_glmm(
        "y ~ arm + C(stratum)",
        data,
        cluster="cluster",
        family="negbin",
        offset=np.log(data["followup"].to_numpy()),
        method="ML",
    )
    assert glmm_pvalue(data, "count") == pytest.approx(float(nb.pvalues["arm"]), rel=1e-12)


def test_same_seed_same_answer_whatever_chunks_different_seeds_differ():
    # jobs and engines: see test_power_dask.py (serial, joblib and Dask compared there)
    d = cont_design()
    _, a = simulate_pvalues(d, nsim=40, seed=3, fitter="cluster-t")
    _, b = simulate_pvalues(d, nsim=40, seed=3, fitter="cluster-t", chunk_size=7)
    _, c = simulate_pvalues(d, nsim=40, seed=3, fitter="cluster-t", chunk_size=1)
    assert np.array_equal(a, b) and np.array_equal(a, c)
    _, other = simulate_pvalues(d, nsim=40, seed=4, fitter="cluster-t")
    assert not np.array_equal(a, other)
    # the first replicates do not depend on how many there are
    _, short = simulate_pvalues(d, nsim=10, seed=3, fitter="cluster-t")
    assert np.array_equal(short, a[:10])


def test_count_outcome_runs_and_failed_fits_are_counted():
    d = TrialDesign(
        outcome=Outcome(kind="count", rate0=0.8, rate1=0.5, followup=2.0),
        clusters_per_arm=5,
        cluster_size=10,
        icc=0.02,
        cv=0.5,
    )
    r = simulate_power(d, nsim=30, seed=1, fitter="cluster-t")
    assert 0 <= r.power <= 1 and r.n_failed == 0 and r.fitter == "cluster-t"

    def always_fails(data: pd.DataFrame, kind: str) -> float:
        raise DesignError("no fit")

    r = simulate_power(d, nsim=5, seed=1, fitter=always_fails)
    assert r.n_failed == 5 and r.power == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nsim": 0}, r"^--nsim must be a positive integer"),
        ({"jobs": 0}, r"^--jobs must be a positive integer"),
        ({"fitter": "bayes"}, r"^fitter must be one of auto, cluster-t, glmm, glmm-reml, lmm"),
        ({"fitter": "lmm", "design": "binary"}, r"^fitter 'lmm' does not handle binary outcomes"),
        ({"design": "strata"}, r"^--strata must be between 1 and the clusters per arm"),
    ],
)
def test_bad_simulation_input(kwargs, message):
    design = cont_design()
    which = kwargs.pop("design", None)
    if which == "binary":
        design = TrialDesign(
            outcome=Outcome(kind="binary", p0=0.2, p1=0.3),
            clusters_per_arm=4,
            cluster_size=5,
            icc=0.0,
        )
    elif which == "strata":
        design = cont_design(n_strata=9)
    args = {"nsim": 5, "seed": 1}
    args.update(kwargs)
    with pytest.raises(DesignError, match=message):
        simulate_power(design, **args)


def test_cli_simulation_json(capsys):
    import json

    from odtrial.cli import main

    with pytest.raises(SystemExit) as e:
        main(
            [
                "power",
                "--delta",
                "0.45",
                "--sd",
                "1",
                "--icc",
                "0.05",
                "--cluster-size",
                "8",
                "--clusters-per-arm",
                "6",
                "--method",
                "simulation",
                "--nsim",
                "50",
                "--seed",
                "2",
                "--fitter",
                "cluster-t",
                "--json",
            ]
        )
    out = capsys.readouterr()
    assert e.value.code in (0, None), out.err
    d = json.loads(out.out)
    for key in (
        "design_effect",
        "n_individual_per_arm",
        "clusters_per_arm",
        "power",
        "mc_se",
        "analytic_power",
    ):
        assert d[key] is not None
    assert d["clusters_per_arm"] == 6 and d["nsim"] == 50 and d["method"] == "simulation"
    direct = simulate_power(cont_design(), nsim=50, seed=2, fitter="cluster-t")
    assert d["power"] == direct.power
