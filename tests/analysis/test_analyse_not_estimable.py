"""An outcome the data cannot estimate (no observed value, one arm, one cluster per arm)
is reported as not estimable by every analysis of it (main model, sensitivity analyses,
permutation test, multiple imputation) and by the report, on two trials, without a
traceback; the command line warns, and ingest says when a whole file failed one rule."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from odtrial._words import count

REPO = Path(__file__).resolve().parents[2]
PLANS = {
    "pod": (REPO / "analysis_plans" / "pod_synthetic_sap.toml", REPO / "data" / "synthetic"),
    "bridge": (REPO / "analysis_plans" / "bridge_sap.toml", REPO / "data" / "synthetic_bridge"),
}


def _lean_plan(trial: str, folder: Path, trial_toml: Path | None = None) -> Path:
    """The trial's shipped plan without health economics (not what these tests are
    about), its trial definition path made absolute."""
    sap, src = PLANS[trial]
    text = sap.read_text(encoding="utf-8")
    text = re.sub(
        r"(?ms)^\[health_economics(\.[^\]]*)?\]\n.*?(?=^\[(?!health_economics))", "", text
    )
    toml = (trial_toml or src / "trial.toml").as_posix()
    text = re.sub(r'(?m)^trial_config = ".*"$', f'trial_config = "{toml}"', text)
    out = folder / sap.name
    out.write_text(text, encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def bridge_freeze(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import odtrial

    out = tmp_path_factory.mktemp("bridge") / "freeze"
    odtrial.ingest(PLANS["bridge"][1], out)
    return out


def _degrade(how: str, column: str) -> Callable[[pd.DataFrame], None]:
    def apply(ds: pd.DataFrame) -> None:
        cols = [c for c in ds.columns if c == column or c.startswith(f"{column}_")]
        if how == "none":
            keep = pd.Series(False, index=ds.index)
        elif how == "one_arm":
            keep = ds["arm"].astype(str) == sorted(ds["arm"].astype(str).unique())[0]
        else:  # one cluster per arm
            first = ds.groupby(ds["arm"].astype(str))["cluster_id"].transform("min")
            keep = ds["cluster_id"] == first
        for c in cols:
            ds.loc[~keep, c] = np.nan

    return apply


@pytest.fixture
def degraded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """Make the analysis dataset lose the observed values of one outcome."""
    import odtrial.data.derive

    def use(how: str, column: str) -> None:
        real = odtrial.data.derive.derive
        change = _degrade(how, column)

        def derive(*args: Any, **kw: Any) -> pd.DataFrame:
            ds = real(*args, **kw)
            change(ds)
            return ds

        monkeypatch.setattr(odtrial.data.derive, "derive", derive)

    yield use


def _analyse_and_report(plan: Path, freeze: Path, out: Path) -> dict[str, Any]:
    from odtrial.analysis.analyse import compute_analysis
    from odtrial.report.build import write_report_files

    results, _ = compute_analysis(plan, freeze)
    out.mkdir()
    write_report_files(results, out)  # docx, html and figures: no traceback
    return results


def _text(results: dict[str, Any]) -> str:
    from odtrial.report.sections import Para, TableBlock, build_sections

    parts = []
    for s in build_sections(results).sections:
        for b in s.blocks:
            if isinstance(b, Para):
                parts.append(b.text)
            elif isinstance(b, TableBlock):
                parts.append(b.table.body.to_string())
                parts.extend(b.table.footnotes)
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("trial", "how", "reason"),
    [
        ("pod", "none", "no observed values among the 619 participants of the analysis dataset"),
        ("pod", "one_arm", "participants observed, all in one arm"),
        ("bridge", "one_cluster", "an arm has fewer than 2 clusters with observed values"),
    ],
)
def test_every_analysis_of_the_outcome_says_it_is_not_estimable(
    trial: str,
    how: str,
    reason: str,
    degraded: Callable[[str, str], None],
    an_freeze: Path,
    bridge_freeze: Path,
    tmp_path: Path,
) -> None:
    from odtrial.analysis.analyse import estimability_warnings
    from odtrial.plan import load_plan

    plan = _lean_plan(trial, tmp_path)
    primary = load_plan(plan).primary.id
    degraded(how, primary)
    freeze = an_freeze if trial == "pod" else bridge_freeze
    r = _analyse_and_report(plan, freeze, tmp_path / "out")

    o = next(o for o in r["outcomes"] if o["id"] == primary)
    assert o["effect"] is None and o["icc"] is None
    assert any(n.startswith("model not estimable: ") and reason in n for n in o["notes"])
    others = [x for x in r["outcomes"] if x["id"] != primary]
    assert all(x["effect"] is not None for x in others)  # the other outcomes are analysed
    sens = [s for s in r["sensitivity"] if s["outcome"] == primary]
    assert {s["method"] for s in sens} >= {"permutation", "cluster-level", "unadjusted"}
    for s in sens:
        assert s["effect"] is None and s["p_value"] is None
        assert s["note"].startswith("not estimable: ") and reason in s["note"], s
    mi = r["multiple_imputation"]
    assert "pooled" not in mi and reason in mi["note"]

    (line,) = estimability_warnings(r)
    assert line.startswith(f"primary outcome {primary} is not estimable: ") and reason in line
    assert ("queries.csv" in line) == (how == "none")

    text = _text(r)
    assert f"The effect on the primary outcome was not estimable: {o['notes'][0][21:]}" in text
    assert "There was not enough information to compare the two." in text
    assert "Not estimable{" in text  # the outcomes table's cell, its reason as a footnote
    assert "The multiple-imputation analysis was not estimable: " in text
    assert "sensitivity analyses of the primary outcome were not estimable." in text
    if how == "none":
        assert "Arm A no observed values, Arm B no observed values" in text
    n_secondary = sum(x["role"] != "primary" for x in r["outcomes"])  # POD 5, BRIDGE 2
    assert f"and on {count(n_secondary, 'secondary outcome')}: " in text


def test_a_trial_whose_visit_codes_are_not_mapped_runs_to_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The red team's case: a definition without its visit code maps (every questionnaire
    row quarantined). Ingest says why in one line; the analysis and the report go
    through, with the primary outcome not estimable and a warning naming it."""
    from odtrial.cli import main

    src = tmp_path / "trial"
    shutil.copytree(PLANS["bridge"][1], src)
    toml = src / "trial.toml"
    text = toml.read_text(encoding="utf-8")
    text, n = re.subn(r"(?ms)^\[extracts\.\w+\.phq9\.codes\.timepoint\]\n.*?\n\n", "", text)
    assert n == 3
    toml.write_text(text, encoding="utf-8")
    plan = _lean_plan("bridge", tmp_path, toml)

    def odtrial(*args: str) -> tuple[str, str]:
        with pytest.raises(SystemExit) as e:
            main([*args])
        out = capsys.readouterr()
        assert e.value.code in (0, None), out.err
        assert "Traceback" not in out.err
        return out.out, out.err

    out, _ = odtrial("ingest", str(src), "--out", str(tmp_path / "freeze"))
    hints = [line for line in out.splitlines() if line.startswith("hint: ")]
    assert len(hints) == 3  # one per trust's questionnaire file
    assert all(
        re.fullmatch(
            r"hint: every row of \S+ \(table phq9, [\d,]+ rows\) failed out_of_vocabulary on "
            r"timepoint, e\.g\. .*: check how the trial definition maps timepoint",
            h,
        )
        for h in hints
    ), hints
    _, err = odtrial(
        "analyse", "--plan", str(plan), "--freeze", str(tmp_path / "freeze"),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert err.splitlines() == [
        f"odtrial: warning: {role} outcome {oid} is not estimable: no observed values "
        "among the 356 participants of the analysis dataset; check its derivation in the "
        "plan and the freeze's queries.csv (rows quarantined at ingest)"
        for role, oid in (("primary", "phq9_12m"), ("secondary", "phq9_24m"))
    ]
    out, _ = odtrial("report", str(tmp_path / "out"))
    assert (tmp_path / "out" / "report.docx").is_file()
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert results["flow"]["arms"][0]["analysed"] == 0
    # the whole job says the same as ingest
    out, err = odtrial("run", str(src), "--plan", str(plan), "--out", str(tmp_path / "run"))
    assert [line for line in out.splitlines() if line.startswith("hint: ")] == hints
    assert err.count("is not estimable") == 2


def test_a_permutation_test_without_data_is_a_randomisation_error() -> None:
    from odtrial.errors import RandomisationError
    from odtrial.randomise import permutation_test

    space = pd.DataFrame({"c1": [1, 0], "c2": [0, 1]})
    empty = pd.DataFrame({"y": [], "cluster": [], "arm": []})
    with pytest.raises(RandomisationError, match=r"at least 2 clusters \(got 0 rows from 0"):
        permutation_test(
            empty, outcome="y", cluster="cluster", arm="arm", space=space, arms=("X", "Y"),
            family="gaussian",
        )  # fmt: skip
