"""``odtrial randomise`` and ``odtrial verify-allocation``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from odtrial.errors import RandomisationError


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(p) for p in _split(text)]
    except ValueError:
        raise RandomisationError(
            f"--weights must be comma-separated numbers (got {text!r})"
        ) from None


def register(app: typer.Typer) -> None:
    @app.command("randomise")
    def randomise_cmd(
        clusters: Annotated[Path, typer.Argument(help="CSV with one row per cluster.")],
        id: Annotated[str, typer.Option("--id", help="Cluster id column.")],
        strata: Annotated[str, typer.Option("--strata", help="Stratum column (1:1 within each).")],
        balance: Annotated[
            str, typer.Option("--balance", help="Comma-separated numeric columns to balance.")
        ],
        seed: Annotated[int, typer.Option("--seed", help="Non-negative integer seed.")],
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        # required, not defaulted: the record's arms must equal the trial definition's
        # trial.arms (ingest checks), so only the trial can say what they are
        arms: Annotated[
            str,
            typer.Option(
                "--arms",
                help="The two arm codes, intervention first, as in the trial definition's "
                "trial.arms (e.g. INT,CTL).",
            ),
        ],
        weights: Annotated[
            str | None, typer.Option("--weights", help="Comma-separated weight per balance column.")
        ] = None,
        metric: Annotated[str, typer.Option("--metric", help="l2 or l1.")] = "l2",
        cutoff: Annotated[
            float,
            typer.Option("--cutoff", help="Fraction of best-balanced allocations to choose among."),
        ] = 0.1,
        equal_arms: Annotated[
            bool,
            typer.Option("--equal-arms", help="Also require arm totals to differ by at most one."),
        ] = False,
    ) -> None:
        """Constrained randomisation of clusters 1:1 within strata, with a tamper-evident log."""
        import pandas as pd

        from odtrial.randomise.allocate import constrained

        if not clusters.is_file():
            raise RandomisationError(f"cluster file {clusters} does not exist")
        try:
            table = pd.read_csv(clusters)
        except Exception as e:
            raise RandomisationError(f"cannot read {clusters}: {str(e).splitlines()[0]}") from None
        result = constrained(
            table,
            id=id,
            strata=strata,
            balance=_split(balance),
            weights=_weights(weights),
            metric=metric,
            cutoff=cutoff,
            seed=seed,
            arms=_split(arms),
            equal_arms=equal_arms,
        )
        log = result.write(out, source=clusters)
        from odtrial.randomise.log import verify_allocation

        head = verify_allocation(out).head
        how = "enumerated" if result.space.enumerated else "sampled"
        typer.echo(
            f"{len(result.allocation)} clusters; {result.space.size} stratified allocations {how}"
            f" (of {result.space.n_stratified}); {result.n_constrained} in the constrained space;"
            f" chosen rank {result.rank}"
        )
        typer.echo(f"allocation: {out / 'allocation.csv'}")
        typer.echo(f"log: {log} (head {head})")
        for w in result.validity.warnings:
            typer.echo(f"warning: {w}", err=True)

    @app.command("verify-allocation")
    def verify_cmd(
        directory: Annotated[Path, typer.Argument(help="Folder written by odtrial randomise.")],
        expect_head: Annotated[
            str | None, typer.Option("--expect-head", help="Head hash recorded elsewhere.")
        ] = None,
        clusters: Annotated[
            Path | None,
            typer.Option("--clusters", help="Cluster CSV: re-run and compare the allocation."),
        ] = None,
    ) -> None:
        """Check the allocation log's hash chain and the files it names."""
        from odtrial.randomise.log import verify_allocation

        v = verify_allocation(directory, expect_head=expect_head, clusters=clusters)
        typer.echo(f"ok: {v.n_entries} log entries, {len(v.files)} files intact; head {v.head}")
        if clusters is not None:
            typer.echo(
                "ok: re-running with the logged parameters and seed gives the same allocation"
            )
