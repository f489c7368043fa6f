"""``odtrial synth``: write a synthetic trial."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from odtrial.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""
    from odtrial.synth.generate import DEFAULT_FAULT_RATE, DEFAULT_PARTICIPANTS, DEFAULT_SEED

    @app.command("synth")
    def synth(
        out: Annotated[Path, typer.Option("--out", help="Folder to write the trial into.")],
        seed: Annotated[int, typer.Option("--seed", help="Seed of everything.")] = DEFAULT_SEED,
        participants: Annotated[
            int, typer.Option("--participants", help="Number of participants.")
        ] = DEFAULT_PARTICIPANTS,
        fault_rate: Annotated[
            float, typer.Option("--fault-rate", help="Share of records given one fault (0: clean).")
        ] = DEFAULT_FAULT_RATE,
    ) -> None:
        """Generate the shipped synthetic trial (extracts, trial.toml, truth.json)."""
        from odtrial.synth.generate import generate

        if participants < 96:
            raise ConfigError(
                f"--participants must be at least 96 (3 per cluster), got {participants}"
            )
        if not 0.0 <= fault_rate < 0.5:
            raise ConfigError(f"--fault-rate must be in [0, 0.5), got {fault_rate}")
        t0 = time.perf_counter()
        generate(out, seed=seed, participants=participants, fault_rate=fault_rate)
        typer.echo(
            f"wrote {out} ({participants} participants, seed {seed}) in {time.perf_counter() - t0:.1f} s"
        )
