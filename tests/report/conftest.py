"""Shared inputs for the report tests: the hand-made fixtures, and a real results.json
made by ``odtrial.analysis.analyse`` on the shipped synthetic trial (once per session)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def unblinded_from(blinded: dict[str, Any]) -> dict[str, Any]:
    """The blinded fixture relabelled as an unblinded report (A = POD, B = TAU)."""
    names = {"A": "POD", "B": "TAU"}
    r = copy.deepcopy(blinded)
    r["report_type"] = "unblinded"
    r["arms"] = [
        {"code": "POD", "label": "Peer-supported Open Dialogue"},
        {"code": "TAU", "label": "Treatment as usual"},
    ]
    for a in r["flow"]["arms"]:
        a["arm"] = names[a["arm"]]
    for level in ("cluster_level", "individual_level"):
        r["baseline"][level] = [
            {names.get(k, k): v for k, v in row.items()} for row in r["baseline"][level]
        ]
    for o in r["outcomes"]:
        for key in ("n_analysed", "n_clusters", "summary_by_arm"):
            o[key] = {names[k]: v for k, v in o[key].items()}
    for m in r["missing_data"]:
        m["arm"] = names[m["arm"]]
    return r


@pytest.fixture(scope="session")
def real_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """A blinded results.json from the real engine on the shipped synthetic trial."""
    try:
        from odtrial.analysis.analyse import analyse
        from odtrial.data.ingest import ingest
        from odtrial.paths import shipped_trial_dir
    except ImportError as exc:  # pragma: no cover - the engine is part of the package
        pytest.skip(f"analysis engine not importable: {exc}")
    root = tmp_path_factory.mktemp("real")
    ingest(shipped_trial_dir(), root / "freeze")
    plan = Path(__file__).parents[2] / "analysis_plans" / "pod_synthetic_sap.toml"
    out = {}
    # blinded only: the open path is covered by the fixture and by the engine's own tests,
    # and each analyse run costs seconds
    analyse(plan, root / "freeze", root / "blinded", report_type="blinded")
    out["blinded"] = json.loads((root / "blinded" / "results.json").read_text(encoding="utf-8"))
    return out


@pytest.fixture
def blinded_results() -> dict[str, Any]:
    return load_fixture("results_blinded.json")


@pytest.fixture
def open_results() -> dict[str, Any]:
    return load_fixture("results_open.json")


@pytest.fixture
def unblinded_results() -> dict[str, Any]:
    return unblinded_from(load_fixture("results_blinded.json"))


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The three fixture reports (blinded, unblinded, open), built once per session."""
    from odtrial.report.build import build_report

    root = tmp_path_factory.mktemp("built")
    return {
        "blinded": build_report(load_fixture("results_blinded.json"), root / "blinded"),
        "unblinded": build_report(
            unblinded_from(load_fixture("results_blinded.json")), root / "unblinded"
        ),
        "open": build_report(load_fixture("results_open.json"), root / "open"),
    }
