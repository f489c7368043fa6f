"""Deterministic JSON normalisation of results.json; its software and figures blocks."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import shutil
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from odtrial.analysis.results_io import (
    csv_text,
    declared_dependencies,
    dumps,
    figure_list,
    normalise,
    record_figures,
    round_sig,
    software_versions,
)


def test_round_sig_keeps_ten_significant_digits() -> None:
    assert round_sig(math.pi) == 3.141592654
    assert round_sig(123456.789012345) == 123456.789
    assert round_sig(1.23456789012e-7) == 1.23456789e-7
    assert round_sig(-0.0) == 0.0 and str(round_sig(-0.0)) == "0.0"
    # last-bit noise disappears
    assert round_sig(0.1 + 0.2) == round_sig(0.3)


def test_normalise_nan_inf_numpy_and_df() -> None:
    obj = {"a": np.float64("nan"), "df": np.inf, "b": {"df": 12.0, "x": -np.inf},
           "n": np.int64(3), "flag": np.bool_(True), "t": (1, 2.5), "arr": np.array([1.0, 2.0]),
           "na": pd.NA}  # fmt: skip
    out = normalise(obj)
    assert out == {"a": None, "df": "inf", "b": {"df": 12.0, "x": None}, "n": 3, "flag": True,
                   "t": [1, 2.5], "arr": [1.0, 2.0], "na": None}  # fmt: skip
    text = dumps(obj)
    assert text.endswith("}\n") and json.loads(text) == out
    assert text == dumps(dict(reversed(list(obj.items()))))  # key order never matters


def test_csv_text_is_deterministic() -> None:
    frame = pd.DataFrame({"x": [0.1 + 0.2, float("nan")], "s": ["a", "b"]})
    assert csv_text(frame) == "x,s\n0.3,a\n,b\n"


# --- software and figures blocks ---------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def _pyproject_dependencies() -> list[str]:
    """The names in pyproject's [project].dependencies (an independent reading)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0] for d in deps["dependencies"]]


def test_declared_dependencies_are_pyproject_s() -> None:
    assert list(declared_dependencies()) == _pyproject_dependencies()
    assert "pytest" not in declared_dependencies()  # the test extra is not a dependency


def test_software_lists_python_odtrial_and_every_dependency() -> None:
    import odtrial

    sw = software_versions()
    assert sw["python"] == platform.python_version()
    assert sw["odtrial"] == odtrial.__version__
    assert set(sw) == {"python", "odtrial", *_pyproject_dependencies()}
    for name in _pyproject_dependencies():
        assert sw[name] == metadata.version(name), name


def test_software_without_odtrial_metadata_says_so(monkeypatch) -> None:
    def missing(name: str):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "requires", missing)
    sw = software_versions()
    assert set(sw) == {"python", "odtrial", "dependencies"}
    assert sw["dependencies"].startswith("unknown")


def test_results_json_carries_the_software_block(blinded_run) -> None:
    assert blinded_run.results["software"] == software_versions()
    assert blinded_run.results["figures"] == []  # analyse alone draws no figures


def _report_into_copy(run_out: Path, dest: Path) -> Path:
    from odtrial.report.build import write_report_files

    shutil.copytree(run_out, dest)
    write_report_files(dest / "results.json", dest)
    return dest


def test_figures_are_listed_with_their_hashes_and_stable(blinded_run, tmp_path) -> None:
    a = _report_into_copy(blinded_run.out, tmp_path / "a")
    b = _report_into_copy(blinded_run.out, tmp_path / "b")
    ra = json.loads((a / "results.json").read_text(encoding="utf-8"))
    on_disk = sorted(p.relative_to(a).as_posix() for p in (a / "figures").rglob("*") if p.is_file())
    assert [f["path"] for f in ra["figures"]] == on_disk
    assert {f["format"] for f in ra["figures"]} == {"png", "svg"}
    assert {Path(f["path"]).stem for f in ra["figures"]} == {
        "consort",
        "forest",
        "tipping_point",
        "ce_plane",
        "ceac",
    }
    for f in ra["figures"]:
        assert f["sha256"] == hashlib.sha256((a / f["path"]).read_bytes()).hexdigest()
    # only the figures list changed, and a second report gives the same bytes
    assert {k: v for k, v in ra.items() if k != "figures"} == {
        k: v for k, v in blinded_run.results.items() if k != "figures"
    }
    assert (a / "results.json").read_bytes() == (b / "results.json").read_bytes()
    for name in ("2024", "2025", "2026", "T00:", "UTC"):  # no timestamps crept in
        assert name not in json.dumps(ra["figures"]) + json.dumps(ra["software"])
    # still blinded
    text = (a / "results.json").read_text(encoding="utf-8")
    assert "POD" not in text and "TAU" not in text and "Open Dialogue" not in text


def test_record_figures_rewrites_in_the_contract_s_bytes(blinded_run, tmp_path) -> None:
    copy = tmp_path / "c"
    shutil.copytree(blinded_run.out, copy)
    before = (copy / "results.json").read_bytes()
    assert record_figures(copy) == blinded_run.results  # no figures: nothing changes
    assert (copy / "results.json").read_bytes() == before
    assert not list(copy.glob(".*tmp*"))
    assert record_figures(tmp_path / "nothing-here") is None


def test_figure_list_is_relative_and_sorted(tmp_path) -> None:
    (tmp_path / "figures" / "sub").mkdir(parents=True)
    (tmp_path / "figures" / "z.SVG").write_bytes(b"<svg/>")
    (tmp_path / "figures" / "sub" / "a.png").write_bytes(b"png")
    assert figure_list(tmp_path) == [
        {
            "path": "figures/sub/a.png",
            "format": "png",
            "sha256": hashlib.sha256(b"png").hexdigest(),
        },
        {"path": "figures/z.SVG", "format": "svg", "sha256": hashlib.sha256(b"<svg/>").hexdigest()},
    ]
    assert figure_list(tmp_path / "none") == []
