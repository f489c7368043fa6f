"""``odtrial synth``: write a synthetic trial."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Annotated

import typer

from odtrial.errors import ConfigError

#: The synthetic trials ``--design`` names, with their generator modules (first: default).
DESIGNS = {
    "pod": "odtrial.synth.generate",
    "bridge": "odtrial.synth.bridge.generate",
    "redcap": "odtrial.synth.redcap.generate",
}
MIN_PARTICIPANTS = {"pod": 96}  # 3 per cluster; bridge's module states its own


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to ``app``."""

    @app.command("synth")
    def synth(
        out: Annotated[Path, typer.Option("--out", help="Folder to write the trial into.")],
        design: Annotated[
            str,
            typer.Option(
                "--design",
                help="Which synthetic trial: pod (six mental health trusts, the shipped "
                "data/synthetic), bridge (three sites, GP practices, data/synthetic_bridge) or "
                "redcap (a REDCap project of care homes, data/synthetic_redcap).",
            ),
        ] = "pod",
        seed: Annotated[
            int | None,
            typer.Option("--seed", help="Seed of everything (default: the design's)."),
        ] = None,
        participants: Annotated[
            int | None,
            typer.Option("--participants", help="Number of participants (default: the design's)."),
        ] = None,
        fault_rate: Annotated[
            float | None,
            typer.Option(
                "--fault-rate",
                help="Share of records given one fault (0: clean; default: the design's).",
            ),
        ] = None,
    ) -> None:
        """Generate a synthetic trial (extracts, trial.toml, truth.json, randomisation record)."""
        if design not in DESIGNS:
            raise ConfigError(f"--design must be one of {', '.join(DESIGNS)}, got {design!r}")
        mod = importlib.import_module(DESIGNS[design])
        minimum = MIN_PARTICIPANTS.get(design) or mod.MIN_PARTICIPANTS
        n = mod.DEFAULT_PARTICIPANTS if participants is None else participants
        rate = mod.DEFAULT_FAULT_RATE if fault_rate is None else fault_rate
        s = mod.DEFAULT_SEED if seed is None else seed
        if n < minimum:
            raise ConfigError(
                f"--participants must be at least {minimum} (for --design {design}), got {n}"
            )
        if not 0.0 <= rate < 0.5:
            raise ConfigError(f"--fault-rate must be in [0, 0.5), got {rate}")
        t0 = time.perf_counter()
        mod.generate(out, seed=s, participants=n, fault_rate=rate)
        typer.echo(f"wrote {out} ({n} participants, seed {s}) in {time.perf_counter() - t0:.1f} s")
