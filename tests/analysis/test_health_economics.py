"""[health_economics] in results.json: its shape, its numbers equal odtrial.econ called
directly on the analysis dataset, the synthetic truth recovered, and the blinded labels."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from odtrial.econ import cea

TRUTH = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "truth.json"


@pytest.fixture(scope="module")
def he(blinded_run):
    return blinded_run.results["health_economics"]


def test_the_block_has_every_table(he, blinded_run) -> None:
    assert he["method"] == "bivariate" and he["price_year"] == 2023
    assert [u["visit"] for u in he["utilities"]] == [0, 12, 24]
    assert "total" in {c["category"] for c in he["costs"]}
    assert set(he["qalys"]) == {"A", "B"}  # blinded: displayed codes only
    assert [s["id"] for s in he["sensitivity"]] == ["tsb", "unadjusted", "multiple-imputation"]
    assert len(he["unit_costs"]) == 5 and all(u["cost_in_price_year"] > 0 for u in he["unit_costs"])
    plane = pd.read_csv(blinded_run.out / he["plane_table"])
    assert list(plane.columns) == ["incremental_cost", "incremental_effect"]
    assert len(plane) == 1000


def test_base_case_is_cea_on_the_analysis_dataset(he, blinded_run) -> None:
    ds = pd.read_csv(blinded_run.out / "analysis_dataset.csv")
    cc = ds.dropna(subset=["cost_total", "qaly", "utility_m0"])
    assert len(cc) == sum(he["complete_cases"].values())
    res = cea(
        cc,
        cost="cost_total",
        effect="qaly",
        treat="treat",
        cluster="cluster_id",
        covariates=["utility_m0"],
        wtp=[20000, 30000],
        n_boot=1000,
        seed=20261207,
    )
    b = he["base_case"]
    assert b["incremental_cost"] == pytest.approx(res.incremental_cost, rel=1e-6)
    assert b["incremental_effect"] == pytest.approx(res.incremental_effect, rel=1e-6)
    assert b["inmb"][0]["estimate"] == pytest.approx(res.inmb["estimate"].iloc[0], rel=1e-6)


def test_the_synthetic_truth_is_in_the_intervals(unblinded_run) -> None:
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["health_economics"]
    res = unblinded_run.results
    assert res["arms"][0]["code"] == "POD"  # treat = 1: the intervention
    b = res["health_economics"]["base_case"]
    lo, hi = b["cost_ci"]
    assert lo <= truth["incremental_cost"] <= hi
    lo, hi = b["effect_ci"]
    assert lo <= truth["incremental_qalys"] <= hi


def test_an_open_report_has_no_comparison(open_run) -> None:
    he = open_run.results["health_economics"]
    assert "base_case" not in he and "sensitivity" not in he
    assert set(he["qalys"]) == {"all"} or len(he["qalys"]) == 1
    # its pooled dataset must not tell the intervention's participants apart by their cost
    assert he["intervention_cost_withheld"] is True
    ds = pd.read_csv(open_run.out / "analysis_dataset.csv", nrows=1)
    assert "cost_intervention" not in ds.columns


def test_a_blinded_report_leaves_the_intervention_cost_out(he, blinded_run, unblinded_run) -> None:
    """Only the intervention arm has the intervention's own cost: a blinded file that
    carried it (by arm, in the totals, in the dataset) would reveal the allocation."""
    assert he["intervention_cost_withheld"] is True
    assert "intervention" not in {c["category"] for c in he["costs"]}
    ds = pd.read_csv(blinded_run.out / "analysis_dataset.csv", nrows=1)
    assert "cost_intervention" not in ds.columns
    un = unblinded_run.results["health_economics"]
    assert un["intervention_cost_withheld"] is False
    by_cat = {c["category"]: c["by_arm"] for c in un["costs"]}
    assert "intervention" in by_cat


def test_multiple_imputation_of_costs_and_qalys(he, blinded_run) -> None:
    """The sensitivity analysis: every participant, missing costs and QALYs imputed with
    the plan's imputation settings, the bivariate CEA on each completed dataset pooled by
    Rubin's rules (the pooled increments are the means of the per-dataset ones)."""
    import numpy as np

    from odtrial.missing import impute

    (mi,) = [s for s in he["sensitivity"] if s["id"] == "multiple-imputation"]
    ds = pd.read_csv(blinded_run.out / "analysis_dataset.csv")
    assert mi["n_obs"] == len(ds) > sum(he["complete_cases"].values())
    variables = ["cost_total", "qaly", "utility_m0", "treat"]
    settings = blinded_run.results["multiple_imputation"]
    imps = impute(
        ds[["cluster_id", *variables]],
        cluster="cluster_id",
        m=settings["m"],
        seed=settings["seed"],
        variables=variables,
        n_burn=settings["n_burn"],
    )
    fits = [
        cea(
            d, cost="cost_total", effect="qaly", treat="treat", cluster="cluster_id",
            covariates=["utility_m0"], wtp=[20000, 30000], n_boot=1000, seed=20261207,
        )
        for d in imps.datasets
    ]  # fmt: skip
    assert mi["incremental_cost"] == pytest.approx(
        np.mean([f.incremental_cost for f in fits]), rel=1e-6
    )
    assert mi["incremental_effect"] == pytest.approx(
        np.mean([f.incremental_effect for f in fits]), rel=1e-6
    )
    inmb = mi["inmb"][0]
    assert inmb["estimate"] == pytest.approx(
        20000 * mi["incremental_effect"] - mi["incremental_cost"], rel=1e-9
    )
    assert 0 < mi["fmi"]["effect"] < 1 and mi["se_effect"] > 0
    assert all(0 <= r["probability"] <= 1 for r in mi["ceac"])


def test_the_5l_to_3l_mapping_values_each_participant_by_age_and_sex(open_run) -> None:
    from odtrial.econ import eq5d_utility

    he = open_run.results["health_economics"]
    mapping = he["eq5d"]["mapping"]
    assert he["eq5d"]["value_set"] == "3l_mapping"
    assert "Hernández Alava" in mapping["citation"]
    data = pd.read_csv(open_run.out / "analysis_dataset.csv")
    dims = ["mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression"]
    states = data[[f"eq5d_m12_{d}" for d in dims]]
    known = data["sex"].isin(["male", "female"])
    assert mapping["sex_averaged"] == int((~known).sum()) > 0  # the synthetic trial has "other"
    assert mapping["age_below_youngest_band"] == int((data["age_at_consent"] < 18).sum())
    expected = eq5d_utility(
        states[known],
        version="5L",
        value_set="3l_mapping",
        age=data.loc[known, "age_at_consent"].clip(lower=18),  # under 18: the youngest band
        sex=data.loc[known, "sex"],
    )
    got = data.loc[known, "utility_m12"].to_numpy()
    assert ((pd.isna(expected)) == pd.isna(got)).all()
    assert abs(got - expected)[~pd.isna(got)].max() < 1e-12
    other = data.loc[~known].iloc[0]
    both = [
        eq5d_utility(
            states.loc[[other.name]],
            version="5L",
            value_set="3l_mapping",
            age=other["age_at_consent"],
            sex=s,
        )[0]
        for s in ("male", "female")
    ]
    if not pd.isna(other["utility_m12"]):
        assert other["utility_m12"] == pytest.approx(sum(both) / 2, abs=1e-12)
    england = eq5d_utility(states[known], version="5L", value_set="england")
    assert (abs(england - expected) > 1e-6)[~pd.isna(got)].mean() > 0.9


def test_medication_is_costed_by_its_total_dose_year_by_year(
    open_run, antipsychotic_ddd_price
) -> None:
    he = open_run.results["health_economics"]
    data = pd.read_csv(open_run.out / "analysis_dataset.csv")
    year1 = data["antipsychotic_ddds_m12"]
    both = data["antipsychotic_ddds"]  # over the 24-month horizon
    assert (year1 <= both + 1e-9).all() and both.max() > 100  # a year of a DDD a day is 365
    expected = antipsychotic_ddd_price * (year1 + (both - year1) / 1.035)
    got = data["cost_medication"]
    assert (got.isna() == expected.isna()).all()
    assert (got - expected).abs().max() < 1e-6
    total = data[[c for c in data if c.startswith("cost_") and c != "cost_total"]].sum(
        axis=1, min_count=1
    )
    ok = data["cost_total"].notna()
    assert (data.loc[ok, "cost_total"] - total[ok]).abs().max() < 1e-6
    assert any(r.get("item") == "antipsychotic_ddd" for r in he["unit_costs"])


def test_each_clusters_own_intervention_cost_from_a_file(
    unblinded_run, an_final_plan, tmp_path
) -> None:
    """``intervention_costs``: a CSV of each intervention cluster's cost, shared among its
    participants; the unblinded results give its spread, not the clusters."""
    import dataclasses

    from odtrial.analysis.health_economics import economic_columns, health_economics
    from odtrial.errors import PlanError
    from odtrial.plan import load_plan

    data = pd.read_csv(unblinded_run.out / "analysis_dataset.csv")
    plan = load_plan(an_final_plan)
    arms = [a["code"] for a in unblinded_run.results["arms"]]
    data["arm_real"] = data["arm"]
    treated = sorted(data.loc[data["arm"] == arms[0], "cluster_id"].unique())
    costs = {c: 10000.0 + 1000 * i for i, c in enumerate(treated)}
    path = tmp_path / "intervention_costs.csv"
    rows = "".join(f"{c},{v},illustrative\n" for c, v in costs.items())
    path.write_text("cluster_id,cost,source\n" + rows, encoding="utf-8")
    he = dataclasses.replace(
        plan.health_economics, intervention_cost_per_cluster=None, intervention_costs=path
    )
    cols = economic_columns(data, he, arms[0])
    n = data.groupby("cluster_id").size()
    expected = [
        costs[c] / n[c] if a == arms[0] else 0.0
        for c, a in zip(data["cluster_id"], data["arm"], strict=True)
    ]
    assert cols["cost_intervention"].tolist() == pytest.approx(expected, rel=1e-12)
    block, _ = health_economics(
        data.copy(), dataclasses.replace(plan, health_economics=he), arms, arms,
        comparative=True, blinded=False,
    )  # fmt: skip
    assert block is not None
    assert block["intervention_costs_by_cluster"] == {
        "n_clusters": len(treated),
        "mean": pytest.approx(sum(costs.values()) / len(costs)),
        "min": 10000.0,
        "max": 10000.0 + 1000 * (len(treated) - 1),
    }
    path.write_text("cluster_id,cost\n" + "".join(f"{c},5\n" for c in treated[1:]), "utf-8")
    with pytest.raises(PlanError, match=r"health_economics.costs: no intervention cost for "):
        economic_columns(data, he, arms[0])
