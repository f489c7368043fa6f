"""``odtrial ingest SRC --out FREEZE``: read, validate, pseudonymise and freeze."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command to ``app``."""

    @app.command("ingest")
    def ingest_cmd(
        src: Annotated[Path, typer.Argument(help="Source folder: trial.toml and trust folders.")],
        out: Annotated[Path, typer.Option("--out", help="Freeze folder to write.")],
        config: Annotated[
            Path | None,
            typer.Option("--config", help="Trial configuration (default: SRC/trial.toml)."),
        ] = None,
        key_file: Annotated[
            Path | None,
            typer.Option(
                "--key-file",
                help="File holding the pseudonymisation key (default: the environment "
                "variable named in the configuration).",
            ),
        ] = None,
        progress: Annotated[
            bool, typer.Option("--progress/--quiet", help="Show a progress bar.")
        ] = False,
    ) -> None:
        """Ingest a trial's site extracts into a validated, pseudonymised data freeze."""
        from odtrial.data.ingest import ingest

        report = ingest(src, out, config=config, key_file=key_file, progress=progress)
        typer.echo(report.summary())
