"""The whole job on one trial: ingest -> derive (-> analyse -> report, issue 5).

Each stage writes into its own folder under ``out``; every stage's output is
written atomically by the stage itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class RunResult:
    out: Path
    freeze: Path
    analysis_dataset: Path
    n_participants: int


def run(
    src: str | Path | None = None, out: str | Path = "out", *, progress: bool = False
) -> RunResult:
    """Ingest the trial at ``src`` (default: the shipped synthetic trial) and derive
    the analysis dataset, writing ``out/freeze`` and ``out/analysis_dataset.{csv,parquet}``."""
    from tqdm import tqdm

    from odtrial.data.derive import derive
    from odtrial.data.ingest import ingest
    from odtrial.paths import shipped_trial_dir

    source = Path(src) if src is not None else shipped_trial_dir()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    freeze = out_dir / "freeze"
    steps = tqdm(total=2, desc="odtrial run", disable=not progress, unit="step")
    steps.set_postfix_str("ingest")
    ingest(source, freeze)
    steps.update()
    steps.set_postfix_str("derive")
    dataset: pd.DataFrame = derive(freeze, out=out_dir)
    steps.update()
    steps.close()
    return RunResult(
        out=out_dir,
        freeze=freeze,
        analysis_dataset=out_dir / "analysis_dataset.csv",
        n_participants=len(dataset),
    )
