"""``odtrial check TRIAL_DIR [--plan PLAN]``: every configuration and plan error at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from odtrial.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add the ``check`` command to ``app``."""

    @app.command("check")
    def check_cmd(
        trial_dir: Annotated[
            Path, typer.Argument(help="Trial source folder: trial.toml and the trust folders.")
        ],
        plan: Annotated[
            Path | None, typer.Option("--plan", help="Statistical analysis plan to check with it.")
        ] = None,
    ) -> None:
        """Validate a trial definition (and plan) without reading data; list every error."""
        from odtrial.check import check

        result = check(trial_dir, plan)
        for line in result.errors:
            typer.echo(f"odtrial: error: {line}", err=True)
        typer.echo(result.summary(), err=not result.ok)
        if not result.ok:
            raise typer.Exit(ConfigError.exit_code)
