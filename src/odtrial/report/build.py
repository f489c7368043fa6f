"""Turn results.json into the report: ``report.docx``, ``report.html`` and figures.

The content is built once (:func:`odtrial.report.sections.build_sections`) and
rendered by both writers. Output is deterministic (SVG hash salt, no dates in
SVG/PNG metadata, fixed docx zip timestamps). :func:`build_report` adds the
report to an existing analysis folder: everything is made in a temporary folder
inside ``out`` and each file is moved into place only when all were written.
``odtrial run`` instead renders with :func:`write_report_files` into the
analysis folder while it is being built, so the whole output folder appears at
once (:func:`odtrial._io.atomic_folder`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from odtrial.errors import ReportError
from odtrial.report.consort import draw_consort
from odtrial.report.docx_report import write_docx
from odtrial.report.forest import draw_forest
from odtrial.report.html_report import render_html
from odtrial.report.sections import ReportContent, build_sections

_PNG_DPI = 200
# fixed hash salt: SVG ids do not change between runs; text as paths: no font needed
_RC: Any = {"svg.hashsalt": "odtrial", "svg.fonttype": "path", "font.family": "DejaVu Sans"}


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`build_report` wrote the report."""

    docx: Path
    html: Path
    figures: dict[str, dict[str, Path]]  # key -> {"png": path, "svg": path}


def load_results(results: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """Parse a results.json path (or pass a dict through)."""
    if isinstance(results, Mapping):
        return dict(results)
    path = Path(results)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot read results file {path}: {exc.strerror}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"results file {path} is not valid JSON (line {exc.lineno})") from None
    if not isinstance(obj, dict):
        raise ReportError(f"results file {path}: top level must be a JSON object")
    return obj


def _save(fig: Figure, png: Path, svg: Path) -> None:
    with plt.rc_context(_RC):
        fig.savefig(png, dpi=_PNG_DPI, metadata={"Software": None}, facecolor="white")
        fig.savefig(svg, metadata={"Date": None, "Creator": None}, facecolor="white")
    plt.close(fig)


def draw_figures(content: ReportContent, fig_dir: Path) -> dict[str, dict[str, Path]]:
    """Draw every figure the content refers to into ``fig_dir``."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict[str, Path]] = {}
    keys = {f.key for f in content.figures}
    with plt.rc_context(_RC):
        if "consort" in keys:
            _save(draw_consort(content.flow), fig_dir / "consort.png", fig_dir / "consort.svg")
            out["consort"] = {"png": fig_dir / "consort.png", "svg": fig_dir / "consort.svg"}
        if "forest" in keys:
            arms = content.arm_labels
            fig = draw_forest(content.effects, arm_labels=(arms[0], arms[1]))
            _save(fig, fig_dir / "forest.png", fig_dir / "forest.svg")
            out["forest"] = {"png": fig_dir / "forest.png", "svg": fig_dir / "forest.svg"}
    return out


def write_report_files(results: Mapping[str, Any] | str | Path, folder: Path) -> ReportPaths:
    """Render the report into ``folder`` (a folder being built, e.g. inside
    :func:`odtrial._io.atomic_folder`): ``report.docx``, ``report.html``, ``figures/``."""
    data = load_results(results)
    content = build_sections(data)
    figs = draw_figures(content, folder / "figures")
    write_docx(content, folder / "report.docx", figures={k: v["png"] for k, v in figs.items()})
    svgs = {k: v["svg"].read_text(encoding="utf-8") for k, v in figs.items()}
    (folder / "report.html").write_text(render_html(content, svgs=svgs), encoding="utf-8")
    return ReportPaths(folder / "report.docx", folder / "report.html", figs)


def build_report(results: Mapping[str, Any] | str | Path, out: str | Path) -> ReportPaths:
    """Write ``out/report.docx``, ``out/report.html`` and ``out/figures/*.png|svg``.

    Parameters
    ----------
    results
        The parsed results.json, or its path.
    out
        The output folder (created if needed); other files in it are left alone.

    Returns
    -------
    ReportPaths
        The paths written.

    Raises
    ------
    ReportError
        When the results file is unreadable, not the ``odtrial.results/1`` schema, or
        its arms contradict the report type.
    """
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out_dir))
    try:
        figs = write_report_files(results, tmp).figures
        # all written: move into place (same filesystem, each replace is atomic)
        final_figs: dict[str, dict[str, Path]] = {}
        (out_dir / "figures").mkdir(exist_ok=True)
        for key, kinds in figs.items():
            final_figs[key] = {}
            for kind, path in kinds.items():
                dest = out_dir / "figures" / path.name
                os.replace(path, dest)
                final_figs[key][kind] = dest
        os.replace(tmp / "report.html", out_dir / "report.html")
        os.replace(tmp / "report.docx", out_dir / "report.docx")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ReportPaths(out_dir / "report.docx", out_dir / "report.html", final_figs)
