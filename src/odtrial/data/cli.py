"""``odtrial ingest SRC --out FREEZE``: read, validate, pseudonymise and freeze."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd


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
        for line in [*uniform_failures(report.inputs, report.queries), *report.hints]:
            typer.echo(f"hint: {line}")


def uniform_failures(inputs: pd.DataFrame, queries: pd.DataFrame) -> list[str]:
    """A line for each input file whose every row was quarantined by one rule on one
    field: a fault of the trial definition (a missing code map, a wrong format) more
    often than of the data, and otherwise lost among as many queries as rows."""
    out = []
    errors = queries[queries["severity"] == "error"]
    for path, table, read, held in zip(
        inputs["path"],
        inputs["table"],
        inputs["rows_read"],
        inputs["rows_quarantined"],
        strict=True,
    ):
        n = int(read)
        if n == 0 or int(held) != n:
            continue
        # a workbook read sheet by sheet: its queries name the sheet after the file
        mine = errors[(errors["file"] == path) | errors["file"].str.startswith(f"{path} [sheet ")]
        rows = mine.groupby(["rule", "field"], sort=True)["source_row"].nunique()
        for rule, field in rows.index[rows.to_numpy() == n][:1]:
            first = mine[(mine["rule"] == rule) & (mine["field"] == field)].iloc[0]
            out.append(
                f"every row of {path} (table {table}, {n:,} rows) failed {rule} on "
                f"{field}, e.g. {first['message']}: check how the trial definition maps "
                f"{field}"
            )
    return out
