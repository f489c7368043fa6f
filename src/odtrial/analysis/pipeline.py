"""The whole job on one trial: ingest -> derive -> analyse -> report.

``out/freeze`` holds the data freeze; ``out`` the analysis (``results.json``,
``analysis_dataset.csv``, ``tables/``) and the report (``report.docx``,
``report.html``, ``figures/``). Each stage writes its files atomically. The
analysis dataset is written by the analysis itself (with arms blinded as the
report is), never by a separate derive step, so a blinded output folder holds
no real arm anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunResult:
    out: Path
    freeze: Path
    results: Path
    report_docx: Path
    report_html: Path
    report_type: str
    n_participants: int


def run(
    src: str | Path | None = None,
    out: str | Path = "out",
    *,
    plan: str | Path | None = None,
    seed: int | None = None,
    unblind: bool = False,
    open_report: bool = False,
    progress: bool = False,
) -> RunResult:
    """Ingest the trial at ``src`` (default: the shipped synthetic trial), run the
    analysis plan (default: the shipped SAP) and write the report into ``out``."""
    from tqdm import tqdm

    from odtrial.analysis.analyse import DEFAULT_SEED, analyse
    from odtrial.data.ingest import ingest
    from odtrial.paths import shipped_plan, shipped_trial_dir
    from odtrial.report.build import build_report

    source = Path(src) if src is not None else shipped_trial_dir()
    sap = Path(plan) if plan is not None else shipped_plan()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    freeze = out_dir / "freeze"
    with tqdm(total=3, desc="odtrial run", disable=not progress, unit="step") as bar:
        bar.set_postfix_str("ingest")
        ingest(source, freeze)
        bar.update()
        bar.set_postfix_str("analyse")
        results = analyse(
            sap,
            freeze,
            out_dir,
            seed=DEFAULT_SEED if seed is None else seed,
            unblind=unblind,
            report_type="open" if open_report else None,
        )
        bar.update()
        bar.set_postfix_str("report")
        paths = build_report(out_dir / "results.json", out_dir)
        bar.update()
    return RunResult(
        out=out_dir,
        freeze=freeze,
        results=out_dir / "results.json",
        report_docx=Path(paths.docx),
        report_html=Path(paths.html),
        report_type=str(results["report_type"]),
        n_participants=sum(int(a["recruited"]) for a in results["flow"]["arms"]),
    )
