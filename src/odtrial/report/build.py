"""Turn results.json into the report: ``report.docx``, ``report.html`` and figures.

The content is built once (:func:`odtrial.report.sections.build_sections`) and
rendered by both writers. Output is deterministic (SVG hash salt, no dates in
SVG/PNG metadata, fixed docx zip timestamps). :func:`build_report` writes a
report folder, or rebuilds the report inside an existing analysis folder
(:func:`rebuild_report`, ``odtrial report``); either is written whole.
``odtrial run`` instead renders with :func:`write_report_files` into the
analysis folder while it is being built, so the whole output folder appears at
once (:func:`odtrial._io.atomic_folder`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from odtrial._io import atomic_folder, read_record
from odtrial.errors import ReportError
from odtrial.report.consort import draw_consort
from odtrial.report.docx_report import write_docx
from odtrial.report.econ_figures import draw_ce_plane, draw_ceac
from odtrial.report.forest import draw_forest
from odtrial.report.html_report import render_html
from odtrial.report.sections import ReportContent, build_sections
from odtrial.report.tipping import draw_tipping

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
        if "tipping_point" in keys and content.imputation:
            mi = content.imputation
            arms = content.arm_labels
            fig = draw_tipping(
                mi["tipping_point"], measure=mi["pooled"]["abbrev"], arm_labels=(arms[0], arms[1])
            )
            png, svg = fig_dir / "tipping_point.png", fig_dir / "tipping_point.svg"
            _save(fig, png, svg)
            out["tipping_point"] = {"png": png, "svg": svg}
        he = content.health_economics
        if he:
            arms = (content.arm_labels[0], content.arm_labels[1])
            if "ce_plane" in keys:
                fig = draw_ce_plane(he["base_case"], arm_labels=arms)
                _save(fig, fig_dir / "ce_plane.png", fig_dir / "ce_plane.svg")
                out["ce_plane"] = {"png": fig_dir / "ce_plane.png", "svg": fig_dir / "ce_plane.svg"}
            if "ceac" in keys:
                fig = draw_ceac(he["base_case"], he["sensitivity"], arm_labels=arms)
                _save(fig, fig_dir / "ceac.png", fig_dir / "ceac.svg")
                out["ceac"] = {"png": fig_dir / "ceac.png", "svg": fig_dir / "ceac.svg"}
    return out


def write_report_files(results: Mapping[str, Any] | str | Path, folder: Path) -> ReportPaths:
    """Render the report into ``folder`` (a folder being built, e.g. inside
    :func:`odtrial._io.atomic_folder`): ``report.docx``, ``report.html``, ``figures/``.
    If ``folder`` holds a ``results.json`` (an analysis folder), its ``figures``
    list is updated to the figures drawn (path, format, SHA-256)."""
    from odtrial.analysis.results_io import record_figures

    data = load_results(results)
    content = build_sections(data)
    figs = draw_figures(content, folder / "figures")
    record_figures(folder)
    write_docx(content, folder / "report.docx", figures={k: v["png"] for k, v in figs.items()})
    svgs = {k: v["svg"].read_text(encoding="utf-8") for k, v in figs.items()}
    (folder / "report.html").write_text(render_html(content, svgs=svgs), encoding="utf-8")
    return ReportPaths(folder / "report.docx", folder / "report.html", figs)


REPORT_KIND = "an odtrial report"
REPORT_FILES = ("report.docx", "report.html")
# what a report writes (for the check, before any work, that no file of the user's is in the way)
REPORT_OUTPUTS = (
    *REPORT_FILES,
    *(
        f"figures/{name}.{fmt}"
        for name in ("consort", "forest", "tipping_point", "ce_plane", "ceac")
        for fmt in ("png", "svg")
    ),
)


def _is_report_output(rel: str) -> bool:
    return rel in REPORT_FILES or rel.startswith("figures/")


def build_report(results: Mapping[str, Any] | str | Path, out: str | Path) -> ReportPaths:
    """Write ``out/report.docx``, ``out/report.html`` and ``out/figures/*.png|svg``.

    ``out`` is written whole (:func:`odtrial._io.atomic_folder`). If it is an
    analysis folder, its other files are kept and only the report is rebuilt
    (what ``odtrial report`` does); otherwise it is a new folder, or a report
    folder odtrial wrote earlier. Files a user added to it are kept.

    Parameters
    ----------
    results
        The parsed results.json, or its path.
    out
        The output folder.

    Returns
    -------
    ReportPaths
        The paths written.

    Raises
    ------
    ReportError
        When the results file is unreadable, not the ``odtrial.results/1`` schema, or
        its arms contradict the report type; or when ``out`` is a folder odtrial
        may not change.
    """
    from odtrial.analysis.analyse import OUTPUT_KIND

    data = load_results(results)
    out_dir = Path(out)
    record = read_record(out_dir, error=ReportError) if out_dir.is_dir() else None
    kind, keep = REPORT_KIND, ()
    if record is not None and record.get("kind") == OUTPUT_KIND:
        kind = OUTPUT_KIND
        keep = tuple(p for p in sorted(record["files"]) if not _is_report_output(p))
    with atomic_folder(
        out_dir, kind=kind, error=ReportError, keep=keep, expected=REPORT_OUTPUTS
    ) as tmp:
        made = write_report_files(data, tmp)
    figures = {
        key: {fmt: out_dir / path.relative_to(tmp) for fmt, path in kinds.items()}
        for key, kinds in made.figures.items()
    }
    return ReportPaths(out_dir / "report.docx", out_dir / "report.html", figures)


def rebuild_report(analysis: str | Path) -> ReportPaths:
    """Rebuild the report of an existing analysis folder from its ``results.json``
    (``odtrial report ANALYSIS_DIR``), written whole like the rest."""
    from odtrial.analysis.analyse import OUTPUT_KIND

    folder = Path(analysis)
    record = read_record(folder, error=ReportError) if folder.is_dir() else None
    if record is None or record.get("kind") != OUTPUT_KIND:
        raise ReportError(
            f"{folder}: not an analysis folder written by odtrial (odtrial analyse or run)"
        )
    if not (folder / "results.json").is_file():
        raise ReportError(f"{folder}: has no results.json to build the report from")
    return build_report(folder / "results.json", folder)
