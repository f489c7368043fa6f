"""analyse() on the shipped synthetic trial: the contract, the numbers, the truth."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.analysis.analyse import TABLES
from odtrial.randomise.space import count_stratified

TOP_KEYS = {
    "schema", "title", "trial", "plan", "freeze", "software", "seed", "report_type", "arms",
    "derivation", "flow", "baseline", "outcomes", "sensitivity", "missing_data", "tables",
    "figures", "design", "multiple_imputation", "health_economics",
}  # fmt: skip
# results.json keeps 10 significant digits; the direct fit runs the same code on the
# same rows (the CSV round-trips floats exactly), so only that rounding separates them.
REL = 1e-8


def _dataset(run_out: Path) -> pd.DataFrame:
    d = pd.read_csv(run_out / "analysis_dataset.csv")
    for c in ("work_study_24m", "baseline_work_study", "any_admission", "any_antipsychotic",
              "relapse_event"):  # fmt: skip
        d[c] = d[c].map({True: 1, False: 0, "True": 1, "False": 0})
    return d


def test_contract_shape(blinded_run) -> None:
    r = blinded_run.results
    assert set(r) == TOP_KEYS
    assert r["schema"] == "odtrial.results/1"
    assert "cluster randomised" in r["title"]
    assert r["report_type"] == "blinded"
    assert [a["code"] for a in r["arms"]] == ["A", "B"]
    assert set(r["tables"]) == set(TABLES)
    for rel in r["tables"].values():
        assert (blinded_run.out / rel).is_file()
    assert len(r["plan"]["sha256"]) == 64 and r["plan"]["file"] == "pod_synthetic_sap.toml"
    assert len(r["freeze"]["manifest_sha256"]) == 64
    assert r["freeze"]["data_cutoff"] == "2025-06-30"
    assert {"odtrial", "python", "numpy", "scipy", "pandas", "statsmodels"} <= set(r["software"])
    assert r["outcomes"][0]["id"] == "work_study_24m"
    assert r["outcomes"][0]["role"] == "primary"
    # no absolute paths anywhere
    assert "/tmp" not in blinded_run.json_text() and "/work" not in blinded_run.json_text()


def test_every_outcome_has_effect_icc_and_diagnostics(blinded_run) -> None:
    abbrevs = {"work_study_24m": "OR", "any_admission": "OR", "bed_days": "RR",
               "any_antipsychotic": "OR", "cpz_mean_daily_dose": "MD", "relapse": "HR"}  # fmt: skip
    for o in blinded_run.results["outcomes"]:
        e = o["effect"]
        assert e["abbrev"] == abbrevs[o["id"]], o["id"]
        assert e["ci_lower"] < e["estimate"] < e["ci_upper"]
        assert 0 < e["p_value"] <= 1
        assert o["diagnostics"]["converged"] is True
        assert o["icc"] is not None and o["icc"]["scale"] in ("latent", "proportion", "continuous")
        assert set(o["n_analysed"]) == {"A", "B"} and set(o["n_clusters"]) == {"A", "B"}
        assert sum(o["n_clusters"].values()) == 32
        assert {s["statistic"] for s in o["summary_by_arm"].values()} <= {
            "n (%)", "mean (SD)", "events / person-years"}  # fmt: skip
        assert o["coefficients"][0]["term"] in ("Intercept", "treat")
    binary = [o for o in blinded_run.results["outcomes"] if o["type"] == "binary"]
    assert all(o["icc"]["scale"] == "latent" for o in binary)
    assert all(o["absolute"]["measure"] == "risk difference" for o in binary)
    bed = blinded_run.outcome("bed_days")
    assert bed["model"]["options"]["offset"] == "log_followup_years" and bed["theta"] > 0
    assert bed["absolute"]["ci_lower"] < bed["absolute"]["estimate"] < bed["absolute"]["ci_upper"]


def test_primary_estimates_equal_direct_fit(blinded_run) -> None:
    from odtrial.models.glmm import fit_glmm, marginal_effects

    d = _dataset(blinded_run.out)
    ws = d.dropna(subset=["work_study_24m"]).reset_index(drop=True)
    ws["work_study_24m"] = ws["work_study_24m"].astype(int)
    formula = "work_study_24m ~ treat + C(catchment) + baseline_work_study"
    # the SAP's primary model: REML, between-within df
    res = fit_glmm(formula, ws, cluster="cluster_id", family="binomial", method="REML")
    # its ML sensitivity analysis: adaptive quadrature with 25 nodes
    ml = fit_glmm(formula, ws, cluster="cluster_id", family="binomial", nagq=25)
    sens = blinded_run.sensitivity("glmm_ml")["effect"]
    assert sens["estimate"] == pytest.approx(math.exp(ml.params["treat"]), rel=REL)
    assert sens["p_value"] == pytest.approx(ml.pvalues["treat"], rel=REL)
    o = blinded_run.outcome("work_study_24m")
    ci = res.conf_int().loc["treat"]
    assert o["effect"]["estimate"] == pytest.approx(math.exp(res.params["treat"]), rel=REL)
    assert o["effect"]["ci_lower"] == pytest.approx(math.exp(ci["lower"]), rel=REL)
    assert o["effect"]["ci_upper"] == pytest.approx(math.exp(ci["upper"]), rel=REL)
    assert o["effect"]["p_value"] == pytest.approx(res.pvalues["treat"], rel=REL)
    assert o["n_analysed"]["A"] + o["n_analysed"]["B"] == res.nobs
    coef = {c["term"]: c["estimate"] for c in o["coefficients"]}
    for term, value in res.params.items():
        assert coef[term] == pytest.approx(value, rel=REL, abs=1e-12)
    rd = marginal_effects(res, ws, treatment="treat", levels=(0, 1))
    assert o["absolute"]["estimate"] == pytest.approx(rd.risk_difference, rel=REL)


def test_secondary_estimates_equal_direct_fits(blinded_run) -> None:
    from odtrial.models import fit_lmm
    from odtrial.models.cox import fit_cox
    from odtrial.models.glmm import fit_glmm

    d = _dataset(blinded_run.out)
    nb = d.assign(off=np.log(d["followup_days"] / 365.25))
    r_nb = fit_glmm("bed_days ~ treat + C(catchment)", nb, cluster="cluster_id",
                    family="negbin", method="REML", offset="off")  # fmt: skip
    e = blinded_run.outcome("bed_days")["effect"]
    assert e["estimate"] == pytest.approx(math.exp(r_nb.params["treat"]), rel=REL)
    assert e["ci_lower"] == pytest.approx(math.exp(r_nb.conf_int().loc["treat", "lower"]), rel=REL)
    assert blinded_run.outcome("bed_days")["theta"] == pytest.approx(r_nb.theta, rel=REL)
    r_lmm = fit_lmm("cpz_mean_daily_dose ~ treat + C(catchment)", d, cluster="cluster_id",
                    ddf="kenward-roger")  # fmt: skip
    e = blinded_run.outcome("cpz_mean_daily_dose")["effect"]
    assert e["estimate"] == pytest.approx(r_lmm.params["treat"], rel=REL)
    assert e["df"] == pytest.approx(r_lmm.df["treat"], rel=REL)
    r_cox = fit_cox("~ treat + C(catchment)", d, duration="relapse_days", event="relapse_event",
                    cluster="cluster_id")  # fmt: skip
    e = blinded_run.outcome("relapse")["effect"]
    assert e["estimate"] == pytest.approx(math.exp(r_cox.params["treat"]), rel=REL)
    assert e["ci_upper"] == pytest.approx(math.exp(r_cox.conf_int().loc["treat", "upper"]), rel=REL)


def test_truth_recovered_within_confidence_intervals(unblinded_run, repo_root) -> None:
    truth = json.loads((repo_root / "data/synthetic/truth.json").read_text())["parameters"]
    r = unblinded_run.results
    assert [a["code"] for a in r["arms"]] == ["POD", "TAU"]
    for oid, key in (("work_study_24m", "work_study_24m"), ("any_admission", "any_admission_24m"),
                     ("any_antipsychotic", "any_antipsychotic_24m")):  # fmt: skip
        e = unblinded_run.outcome(oid)["effect"]
        true_or = truth[key]["odds_ratio_arm"]
        assert e["ci_lower"] < true_or < e["ci_upper"], (oid, true_or, e)


def test_blinded_numbers_are_the_unblinded_ones_relabelled(blinded_run, unblinded_run) -> None:
    for ob, ou in zip(
        blinded_run.results["outcomes"], unblinded_run.results["outcomes"], strict=True
    ):
        eb, eu = ob["effect"], ou["effect"]
        same = eb["estimate"] == pytest.approx(eu["estimate"], rel=1e-6)
        if eb["log_scale"]:
            inverted = eb["estimate"] == pytest.approx(1 / eu["estimate"], rel=1e-6)
        else:
            inverted = eb["estimate"] == pytest.approx(-eu["estimate"], rel=1e-6)
        assert same or inverted, ob["id"]
        assert eb["p_value"] == pytest.approx(eu["p_value"], rel=1e-5)
        assert sorted(ob["n_analysed"].values()) == sorted(ou["n_analysed"].values())
    # the imputations are the same blinded or not: the pooled effect only relabelled
    pb = blinded_run.results["multiple_imputation"]["pooled"]
    pu = unblinded_run.results["multiple_imputation"]["pooled"]
    assert pb["estimate"] == pytest.approx(pu["estimate"], rel=1e-6) or pb[
        "estimate"
    ] == pytest.approx(1 / pu["estimate"], rel=1e-6)
    assert pb["p_value"] == pytest.approx(pu["p_value"], rel=1e-5)


def test_sensitivity_analyses(blinded_run) -> None:
    r = blinded_run.results
    assert [s["id"] for s in r["sensitivity"]] == [
        "gee_kc",
        "cluster_level",
        "unadjusted",
        "glmm_ml",
        "permutation",
    ]
    gee = blinded_run.sensitivity("gee_kc")
    assert gee["effect"]["abbrev"] == "OR" and gee["effect"]["df"] == 32 - 11  # clusters - params
    cl = blinded_run.sensitivity("cluster_level")
    assert cl["effect"]["measure"] == "risk difference" and cl["effect"]["df"] == 32 - 2 - 8
    un = blinded_run.sensitivity("unadjusted")
    assert un["effect"]["df"] == 30 and un["formula"] == "work_study_24m ~ treat"
    perm = blinded_run.sensitivity("permutation")
    space = perm["space"]
    # the space is the shipped randomisation record's, verified against the freeze
    assert space["source"] == "randomisation record"
    assert space["log_head"] == r["freeze"]["randomisation_log_head"]
    assert len(space["log_head"]) == 64
    # 9 catchments split 1:1 (odd ones either way) with 16:16 overall
    assert space["n_stratified"] == count_stratified([4, 3, 4, 4, 3, 4, 3, 4, 3], equal_arms=True)
    assert space["n_constrained"] == space["n_reference"] == 10_000
    assert space["observed_in_constrained_space"] is True
    # the randomisation seed would re-create the allocation from the cluster table:
    # it must not reach a blinded output
    from odtrial.paths import shipped_trial_dir
    from odtrial.randomise import verify_allocation

    seed = verify_allocation(shipped_trial_dir() / "randomisation").parameters["seed"]
    assert "seed" not in space
    assert str(seed) not in (blinded_run.out / "results.json").read_text(encoding="utf-8")
    assert 0 < perm["p_value"] <= 1 and perm["effect"] is None
    # the permutation statistic is the unweighted cluster-level residual difference
    assert perm["statistic"] == pytest.approx(cl["effect"]["estimate"], rel=1e-6)
    # both primary-outcome p-values agree in direction of evidence (same data, valid tests)
    assert abs(perm["p_value"] - cl["p_value"]) < 0.1


def test_flow_missing_data_and_baseline(blinded_run, an_freeze) -> None:
    r = blinded_run.results
    d = _dataset(blinded_run.out)
    flow = r["flow"]
    assert flow["clusters_randomised"] == 32
    primary = blinded_run.outcome("work_study_24m")
    for arm in flow["arms"]:
        code = arm["arm"]
        people = d[d["arm"] == code]
        assert arm["recruited"] == len(people) == sum(arm["cluster_sizes"])
        assert arm["analysed"] == primary["n_analysed"][code]
        assert arm["lost"] == int(people["work_study_24m"].isna().sum())
    # participant records quarantined at ingest that are no accepted participant's
    held = pd.read_parquet(an_freeze / "quarantine" / "participants.parquet")
    kept = set(pd.read_parquet(an_freeze / "tables" / "participants.parquet")["participant_id"])
    others = held["participant_id"]
    expected = int(others.isna().sum()) + len(set(others.dropna()) - kept)
    assert flow["participant_records_held_back"] == expected > 0
    assert expected < len(held)  # a duplicate of an accepted participant is not held back
    miss = pd.DataFrame(r["missing_data"])
    assert set(miss["time_point"]) == {"12 months", "24 months"}
    m24 = miss[miss["variable"] == "work_study_24m"].set_index("arm")["missing"]
    assert m24.sum() == r["derivation"]["counts"]["derivations"]["work_study_24m"]["missing"]
    cl = {row["characteristic"]: row for row in r["baseline"]["cluster_level"]}
    assert int(cl["Clusters, n"]["A"]) + int(cl["Clusters, n"]["B"]) == 32
    ind = {row["characteristic"].strip(): row for row in r["baseline"]["individual_level"]}
    assert int(ind["Participants, n"]["A"].replace(",", "")) == (d["arm"] == "A").sum()
    assert {"Age at consent (years), mean (SD)", "Sex, n (%)", "Ethnic group, n (%)",
            "Primary diagnosis, n (%)", "In work or study at baseline, n (%)"} <= set(ind)  # fmt: skip


def test_tables_match_results(blinded_run) -> None:
    out = pd.read_csv(blinded_run.out / "tables" / "outcomes.csv")
    assert list(out["outcome"]) == [o["id"] for o in blinded_run.results["outcomes"]]
    assert out.loc[0, "estimate"] == blinded_run.outcome("work_study_24m")["effect"]["estimate"]
    diag = pd.read_csv(blinded_run.out / "tables" / "diagnostics.csv")
    assert {"work_study_24m", "gee_kc"} <= set(diag["analysis"])
    assert diag.set_index("analysis").loc["work_study_24m", "singular"] in (True, False)


def test_multiple_imputation_beside_complete_case(blinded_run, unblinded_run, open_run) -> None:
    """The plan's [missing_data.imputation]: the complete-case row is the primary
    analysis itself; the pooled one is what odtrial.missing gives on the same data."""
    from odtrial.missing import impute
    from odtrial.models.glmm import fit_glmm

    mi = blinded_run.results["multiple_imputation"]
    assert (mi["outcome"], mi["m"], mi["auxiliaries"]) == ("work_study_24m", 20, ["work_study_12m"])
    assert mi["methods"] == {"work_study_24m": "probit", "work_study_12m": "probit"}
    primary = blinded_run.outcome("work_study_24m")["effect"]
    assert mi["complete_case"] == primary
    d = _dataset(blinded_run.out)
    assert mi["missing"]["work_study_24m"] == int(d["work_study_24m"].isna().sum()) > 0
    assert mi["n"] == len(d) and mi["n_complete"] == int(d["work_study_24m"].notna().sum())
    # the same imputation and model run directly
    d["work_study_12m"] = d["work_study_12m"].map(
        {True: 1.0, False: 0.0, "True": 1.0, "False": 0.0}
    )
    # the imputation model holds the real arm (the same imputations blinded or not)
    assert mi["variables"][-1] == "_real_arm"
    real = _dataset(unblinded_run.out).set_index("participant_id")["treat"]
    d["_real_arm"] = d["participant_id"].map(real).astype(float)
    frame = d[["cluster_id", "treat", *mi["variables"]]].astype({"work_study_24m": float})
    imps = impute(
        frame,
        cluster="cluster_id",
        m=20,
        seed=mi["seed"],
        variables=mi["variables"],
        n_burn=mi["n_burn"],
        n_between=mi["n_between"],
    )
    pooled = imps.fit(
        fit_glmm,
        "work_study_24m ~ treat + C(catchment) + baseline_work_study",
        family="binomial",
        method="REML",
    )
    ci = pooled.conf_int().loc["treat"]
    assert mi["pooled"]["estimate"] == pytest.approx(math.exp(pooled.params["treat"]), rel=1e-6)
    assert mi["pooled"]["ci_lower"] == pytest.approx(math.exp(ci["lower"]), rel=1e-6)
    assert mi["pooled"]["df"] == pytest.approx(pooled.df["treat"], rel=1e-6)
    assert mi["pooled"]["fmi"] == pytest.approx(pooled.fmi["treat"], rel=1e-6)
    assert 0 < mi["pooled"]["fmi"] < 1 and mi["pooled"]["df"] < mi["complete_case"]["df"] + 1
    # tipping point: delta 0 is the MAR analysis; raising arm A's imputed log-odds
    # raises the odds ratio of A against B
    tp = mi["tipping_point"]
    assert tp["shift"] == "intervention" and tp["scale"] == "logit"
    rows = tp["rows"]
    assert [r["delta"] for r in rows] == sorted(r["delta"] for r in rows) and len(rows) == 8
    mar = next(r for r in rows if r["delta"] == 0.0)
    assert mar["estimate"] == pytest.approx(mi["pooled"]["estimate"], rel=1e-9)
    assert all(a["estimate"] < b["estimate"] for a, b in itertools.pairwise(rows))
    for side in ("below", "above"):
        v = tp[side]
        assert v is None or rows[0]["delta"] <= v <= rows[-1]["delta"]
    # the chains' convergence and observed against imputed values are recorded
    assert {c["variable"] for c in mi["convergence"]} == set(mi["imputed"])
    assert all(np.isfinite(c["rhat"]) and c["rhat"] > 0.9 for c in mi["convergence"])
    ovi = {o["variable"]: o for o in mi["observed_vs_imputed"]}
    y = ovi["work_study_24m"]
    assert y["n_imputed"] == mi["missing"]["work_study_24m"]
    assert y["observed_mean"] == pytest.approx(d["work_study_24m"].mean(), rel=1e-9)
    assert 0 < y["imputed_mean"] < 1
    # an open report describes the imputation, compares nothing
    open_mi = open_run.results["multiple_imputation"]
    assert open_mi["outcome"] == "work_study_24m" and "pooled" not in open_mi
