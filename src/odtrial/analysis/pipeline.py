"""The whole job on one trial: ingest -> derive -> analyse -> report.

Two folders come out, kept apart on purpose:

- the **data freeze** (default ``<out>-freeze`` beside ``out``): the
  pseudonymised tables with the real allocation, the randomisation record,
  the quarantine and the data queries. It is the data manager's, unblinded.
- the **output folder** ``out``: ``results.json``, the analysis datasets,
  ``tables/``, ``figures/``, ``report.docx`` and ``report.html``, with arms
  as the report shows them (A/B when blinded). Nothing in it names a real arm.

Each folder is written whole: built in a temporary sibling and renamed into
place when complete (:func:`odtrial._io.atomic_folder`), so a failed run
leaves the previous results and report exactly as they were, and a reader
never sees a new ``results.json`` beside an old report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from odtrial._io import check_target_path
from odtrial.errors import PlanError


@dataclass(frozen=True)
class RunResult:
    out: Path
    freeze: Path
    results: Path
    report_docx: Path
    report_html: Path
    report_type: str
    n_participants: int
    # ingest's hints: a file whose every row one rule on one field quarantined, a
    # number column whose unreadable values all have a decimal comma
    hints: tuple[str, ...] = ()


def default_freeze_dir(out: str | Path) -> Path:
    """``<out>-freeze`` beside ``out``: the freeze never sits inside a (blinded) output."""
    check_target_path(out, error=PlanError)  # '.', '..' or a file: one line, not a traceback
    o = Path(out)
    return o.with_name(f"{o.name}-freeze")


def run(
    src: str | Path | None = None,
    out: str | Path = "out",
    *,
    freeze: str | Path | None = None,
    plan: str | Path | None = None,
    seed: int | None = None,
    unblind: bool = False,
    open_report: bool = False,
    progress: bool = False,
) -> RunResult:
    """Ingest the trial at ``src`` (default: the shipped synthetic trial) into the
    freeze folder ``freeze`` (default ``<out>-freeze``), run the analysis plan
    (default: the plan in ``analysis_plans/`` for ``src``) and write results and report
    into ``out``."""
    from tqdm import tqdm

    from odtrial.analysis.analyse import DEFAULT_SEED, compute_analysis, output_folder, write_files
    from odtrial.analysis.blinding import resolve_report_type
    from odtrial.analysis.health_economics import check_cost_inputs
    from odtrial.data.cli import uniform_failures
    from odtrial.data.ingest import ingest
    from odtrial.paths import plan_for, shipped_trial_dir
    from odtrial.plan import load_plan
    from odtrial.plan.lock import check_lock
    from odtrial.report.build import REPORT_OUTPUTS, write_report_files

    source = Path(src) if src is not None else shipped_trial_dir()
    # Everything that can be refused is refused before the freeze is written:
    # the plan (valid, locked if final, final if unblinding) and the output
    # folder here; ingest checks its own folder before it reads anything.
    sap = load_plan(Path(plan) if plan is not None else plan_for(source))
    check_lock(sap)
    check_cost_inputs(sap)
    report_type = "open" if open_report else None
    resolve_report_type(sap, unblind=unblind, report_type=report_type)
    out_dir = Path(out)
    freeze_dir = Path(freeze) if freeze is not None else default_freeze_dir(out_dir)
    _check_apart(out_dir, freeze_dir)
    with tqdm(total=3, desc="odtrial run", disable=not progress, unit="step") as bar:
        bar.set_postfix_str("ingest")
        ingested = ingest(source, freeze_dir)
        hints = (*uniform_failures(ingested.inputs, ingested.queries), *ingested.hints)
        bar.update()
        bar.set_postfix_str("analyse")
        results, files = compute_analysis(
            sap,
            freeze_dir,
            seed=DEFAULT_SEED if seed is None else seed,
            unblind=unblind,
            report_type=report_type,
        )
        bar.update()
        bar.set_postfix_str("report")
        with output_folder(out_dir, expected=REPORT_OUTPUTS) as tmp:
            write_files(tmp, files)
            write_report_files(results, tmp)
        bar.update()
    return RunResult(
        out=out_dir,
        freeze=freeze_dir,
        results=out_dir / "results.json",
        report_docx=out_dir / "report.docx",
        report_html=out_dir / "report.html",
        report_type=str(results["report_type"]),
        n_participants=sum(int(a["recruited"]) for a in results["flow"]["arms"]),
        hints=hints,
    )


def _check_apart(out: Path, freeze: Path) -> None:
    """Fail before any work: the two folders must be apart, and ``out`` ours to replace
    (with nothing of the user's where the report will be written)."""
    from odtrial.analysis.analyse import check_output_folder
    from odtrial.report.build import REPORT_OUTPUTS

    check_output_folder(out, freeze=freeze, expected=REPORT_OUTPUTS)
