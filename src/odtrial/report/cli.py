"""``odtrial report``: rebuild the report of an existing analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        analysis: Annotated[
            Path, typer.Argument(help="Analysis folder written by odtrial analyse or run.")
        ],
    ) -> None:
        """Rebuild report.docx, report.html and figures/ from the folder's results.json."""
        from odtrial.report.build import rebuild_report

        paths = rebuild_report(analysis)
        typer.echo(f"report:  {paths.docx}  {paths.html}")
