"""BRIDGE through odtrial: the definition checks clean, ingest finds every injected fault
at its row (and nothing else) with counts that add up, the plan's derivations give the
outcomes, and ``odtrial run`` goes from the extracts to the report."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "synthetic_bridge"
PLAN = REPO / "analysis_plans" / "bridge_sap.toml"


def _odtrial(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "odtrial", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )


@pytest.fixture(scope="module", params=["shipped", "seed5"])
def ingested(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(source, freeze) for the shipped trial and for another seed with more faults."""
    import odtrial
    from odtrial.synth.bridge import generate

    root = tmp_path_factory.mktemp(f"bridge_{request.param}")
    src = SHIPPED if request.param == "shipped" else generate(root / "src", seed=5, fault_rate=0.02)
    odtrial.ingest(src, root / "freeze")
    return src, root / "freeze"


def _truth(src: Path) -> dict[str, Any]:
    return json.loads((src / "truth.json").read_text(encoding="utf-8"))


def test_check_is_clean_for_the_definition_and_its_plan() -> None:
    r = _odtrial("check", str(SHIPPED), "--plan", str(PLAN))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 trusts, 24 clusters, 13 extract patterns" in r.stdout


def test_ingest_finds_every_fault_at_its_row_and_nothing_else(ingested) -> None:
    src, fz = ingested
    queries = pd.read_csv(fz / "queries.csv", dtype=str)
    got = sorted(
        zip(queries["file"], queries["source_row"].astype(int), queries["rule"], strict=True)
    )
    want = sorted((f["file"], f["source_row"], f["kind"]) for f in _truth(src)["faults"])
    assert got == want


def test_ingest_counts_add_up(ingested) -> None:
    src, fz = ingested
    manifest = json.loads((fz / "manifest.json").read_text(encoding="utf-8"))
    truth = _truth(src)
    table_of = _tables_of_files(src)
    read: dict[str, int] = {}
    for i in manifest["inputs"]:
        assert i["rows_read"] == i["rows_accepted"] + i["rows_quarantined"], i["path"]
        read[table_of[i["path"]]] = read.get(table_of[i["path"]], 0) + i["rows_read"]
    assert read == truth["rows"]
    for table, n in truth["rows"].items():
        frozen = len(pd.read_parquet(fz / "tables" / f"{table}.parquet"))
        held = len(pd.read_parquet(fz / "quarantine" / f"{table}.parquet"))
        assert frozen + held == n, table
    assert manifest["tables"]["scripts"]["trusts"] == ["BNSSG", "GM"]
    assert manifest["tables"]["contacts"]["trusts"] == ["BNSSG", "GM"]


def _tables_of_files(src: Path) -> dict[str, str]:
    """Extract file (relative path) -> the table it holds, from the definition's patterns."""
    trial = tomllib.loads((src / "trial.toml").read_text(encoding="utf-8"))
    dirs = {t["id"]: t["directory"] for t in trial["trusts"]}
    return {
        p.relative_to(src).as_posix(): table
        for site, tables in trial["extracts"].items()
        for table, ex in tables.items()
        for p in (src / dirs[site]).glob(ex["pattern"])
    }


def test_the_freeze_keeps_no_identifier(ingested) -> None:
    _, fz = ingested
    people = pd.read_parquet(fz / "tables" / "participants.parquet")
    scripts = pd.read_parquet(fz / "tables" / "scripts.parquet")
    phq9 = pd.read_parquet(fz / "tables" / "phq9.parquet")
    assert not {"record_id", "nhs_number", "date_of_birth"} & set(people.columns)
    assert "nhs_number" not in scripts.columns and "record_id" not in phq9.columns
    assert {"locality", "arm", "age_at_consent", "phq9_baseline"} <= set(people.columns)
    assert people["has_nhs_number"].dtype == "boolean" and people["has_nhs_number"].notna().all()
    # the site without interview modes gets the extract's constant
    assert set(phq9.loc[phq9["trust"] == "BNSSG", "mode"]) == {"telephone"}


def test_the_plan_derives_the_outcomes(ingested) -> None:
    from odtrial.data.derive import derive

    src, fz = ingested
    ds = derive(fz, PLAN)
    truth = _truth(src)["realised_before_faults"]
    for m in (3, 12, 24):
        mean = ds.groupby("arm")[f"phq9_{m}m"].mean()
        for arm, value in truth[f"phq9_{m}m_mean_interviewed"].items():
            assert mean[arm] == pytest.approx(value, abs=0.6)
    # NENC sends no prescribing: not collected, not "no antidepressant"
    ad = ds["any_antidepressant_12m"]
    assert ad[ds["trust"] == "NENC"].isna().all()
    assert ad[ds["trust"] != "NENC"].sum() > 0
    # nor for a participant without a valid NHS number, the scripts' only link
    people = pd.read_parquet(fz / "tables" / "participants.parquet")
    unlinked = set(people.loc[~people["has_nhs_number"], "participant_id"])
    assert unlinked
    assert ad[ds["participant_id"].isin(unlinked)].isna().all()
    # the economic columns: NENC sends no practice records, so its contacts (and a
    # participant's without an NHS number) are not collected; EQ-5D is collected everywhere
    gp = ds["gp_surgery"]
    assert (
        gp[ds["trust"] == "NENC"].isna().all()
        and gp[ds["participant_id"].isin(unlinked)].isna().all()
    )
    assert gp[(ds["trust"] != "NENC") & ~ds["participant_id"].isin(unlinked)].notna().all()
    assert ds.loc[ds["trust"] == "NENC", "eq5d_m0_mobility"].notna().mean() > 0.9


def test_run_goes_from_the_extracts_to_the_report(tmp_path: Path) -> None:
    from odtrial.plan import load_plan

    r = _odtrial("run", str(SHIPPED), "--plan", str(PLAN), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    by_id = {o["id"]: o for o in results["outcomes"]}
    assert list(by_id) == list(load_plan(PLAN).outcomes)
    assert list(by_id) == ["phq9_12m", "any_antidepressant_12m", "phq9_24m"]
    primary = by_id["phq9_12m"]
    assert primary["model"]["kind"] == "lmm" and primary["model"]["df_method"] == "kenward-roger"
    # blinded: arm A may be either arm, so the true -2 points is -2 or +2; the CI covers it
    e = primary["effect"]
    assert e["ci_lower"] < 2.0 < e["ci_upper"] or e["ci_lower"] < -2.0 < e["ci_upper"]
    # the baseline tables follow the definition: its variables, no practices row for
    # clusters that are single practices
    rows = {
        level: [r["characteristic"] for r in results["baseline"][level]]
        for level in ("cluster_level", "individual_level")
    }
    assert not [c for c in rows["cluster_level"] if "practices" in c]
    assert "Registered patients per practice, mean (SD)" in rows["cluster_level"]
    ind = rows["individual_level"]
    gender = ind.index("Gender, n (%)")
    assert [c.strip() for c in ind[gender + 1 : gender + 5]] == [
        "Woman", "Man", "Non-binary", "Not stated",
    ]  # fmt: skip
    assert ind[:2] == ["Participants, n", "Age at consent (years), mean (SD)"]
    assert {"Ethnic group, n (%)", "PHQ-9 score at baseline, mean (SD)"} <= set(ind)
    # PHQ-9 at 12 months multiply imputed (continuous, LMM with Kenward-Roger df per
    # completed dataset) beside the complete-case analysis, which is the primary one
    mi = results["multiple_imputation"]
    assert mi["complete_case"] == e and mi["auxiliaries"] == ["phq9_3m"]
    assert mi["missing"]["phq9_12m"] > 0 and mi["n"] > mi["n_complete"]
    assert mi["pooled"]["measure"] == "mean difference" and 0 < mi["pooled"]["fmi"] < 1
    assert abs(mi["pooled"]["estimate"] - e["estimate"]) < 2 * e["std_error"]
    rows_tp = mi["tipping_point"]["rows"]
    assert [r["delta"] for r in rows_tp] == [-10.0, -7.5, -5.0, -2.5, 0.0, 2.5, 5.0]
    # a shift added to arm A's imputed scores moves A - B by the share imputed
    slope = (rows_tp[-1]["estimate"] - rows_tp[0]["estimate"]) / 15.0
    assert 0 < slope < 0.5
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Non-binary" in html and "Sex, n (%)" not in html
    assert "Tipping-point analysis of PHQ-9" in html
    assert (tmp_path / "out" / "report.docx").stat().st_size > 0
    _check_health_economics(results, _truth(SHIPPED)["health_economics"])


def _check_health_economics(results: dict[str, Any], truth: dict[str, Any]) -> None:
    """The base case and the bootstrap sensitivity analysis cover the true incremental cost
    and QALYs, with the same sign for both (blinded: A - B is CC - UC or UC - CC)."""
    he = results["health_economics"]
    assert he["method"] == "bivariate" and [s["id"] for s in he["sensitivity"]] == ["tsb"]
    # the complete cases are of the sites that send practice records
    complete = sum(he["complete_cases"].values())
    assert 80 < complete < truth["participants"]["CC"] + truth["participants"]["UC"]
    # blinded: the intervention's own cost (one arm's only) is left out of every cost
    assert he["intervention_cost_withheld"] is True
    assert "intervention" not in {c["category"] for c in he["costs"]}
    cost = truth["incremental_cost"] - truth["by_arm"]["CC"]["intervention_cost"]
    qaly = truth["incremental_qalys"]
    for res in (he["base_case"], *he["sensitivity"]):
        covers = [
            res["cost_ci"][0] < s * cost < res["cost_ci"][1]
            and res["effect_ci"][0] < s * qaly < res["effect_ci"][1]
            for s in (1, -1)
        ]
        assert any(covers), res


def test_the_record_re_randomises_from_the_definitions_clusters() -> None:
    from odtrial.randomise import cluster_table
    from odtrial.randomise.log import verify_allocation
    from odtrial.trial import load_trial

    trial = load_trial(SHIPPED / "trial.toml")
    v = verify_allocation(SHIPPED / "randomisation", clusters=cluster_table(trial))
    assert v.arms == trial.arms
    assert trial.stratum_column == "locality" and trial.cluster_attributes == ("practice_size",)


def test_antidepressant_ddds_over_the_window_as_worked_out_from_the_scripts(ingested) -> None:
    """total_dose on the second trial (GP scripts linked by NHS number, Excel and CSV):
    each participant's antidepressant WHO DDDs are the sum over their frozen issues of
    dose / DDD x the days of [issue, supply end] inside [consent, window end)."""
    from odtrial.data.derive import derive
    from odtrial.data.medication_dictionary import load_medication_dictionary

    _, fz = ingested
    spec = {"kind": "total_dose", "table": "scripts", "drug": "drug", "dose": "daily_dose_mg",
            "start": "issue_date", "end": "supply_end", "class": "antidepressant",
            "equivalence": "ddd", "window_months": 12}  # fmt: skip
    ds = derive(fz, {"ad": spec}).set_index("participant_id")
    book = load_medication_dictionary()
    scripts = pd.read_parquet(fz / "tables" / "scripts.parquet")
    drugs = {n: book.resolve(n) for n in scripts["drug"].unique()}
    ddd = {n: d.ddd if d is not None and d.drug_class == "antidepressant" else None
           for n, d in drugs.items()}  # fmt: skip
    sc = scripts[scripts["drug"].map(ddd).notna()].join(
        ds[["consent_date", "window_end_12m"]], on="participant_id"
    )
    day = pd.Timedelta(days=1)
    lo = sc[["issue_date", "consent_date"]].max(axis=1)
    hi = pd.concat([sc["supply_end"] + day, sc["window_end_12m"]], axis=1).min(axis=1)
    days = ((hi - lo) / day).clip(lower=0)
    by_hand = (sc["daily_dose_mg"] / sc["drug"].map(ddd) * days).groupby(sc["participant_id"]).sum()
    got = ds["ad"]
    linked = got.notna()
    assert linked.sum() > 100 and (got[linked] > 0).sum() > 30
    expected = by_hand.reindex(got.index).fillna(0.0)[linked]
    assert (got[linked] - expected).abs().max() < 1e-9
    # not collected (NENC sends no prescribing; no NHS number): unknown, not 0
    assert got[ds["trust"] == "NENC"].isna().all()
