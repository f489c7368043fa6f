"""``odtrial run``: the main job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        src: Annotated[
            Path | None,
            typer.Argument(help="Trial source folder (default: the shipped synthetic trial)."),
        ] = None,
        out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out"),
    ) -> None:
        """Run the whole job: ingest, validate, freeze and derive the analysis dataset."""
        from odtrial.analysis.pipeline import run

        result = run(src, out, progress=True)
        typer.echo(f"freeze: {result.freeze}")
        typer.echo(
            f"analysis dataset: {result.analysis_dataset} ({result.n_participants} participants)"
        )
