"""``odtrial plan check`` and ``odtrial plan lock``: the analysis plan before any data.

``check`` validates a plan at every depth without touching data: exit 0 and
one line of summary, or exit 2 and every failure, one line each. ``lock``
records the content hash of a *final* plan's version beside it, which is
what ``analyse``/``run`` require of a final plan (and ``--unblind`` of any).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from odtrial.errors import PlanError

PlanPath = Annotated[Path, typer.Argument(help="Statistical analysis plan (TOML).")]


def _lock_state(path: Path, version: str, sha256: str) -> str:
    from odtrial.plan.lock import _read_locks, lock_path

    entry = _read_locks(lock_path(path)).get(version)
    if entry is None:
        return f"final, not locked: run 'odtrial plan lock {path}'"
    if entry["sha256"] != sha256:
        raise PlanError(
            f"{path}: final plan version {version} has changed since it was locked; "
            "record the change as a new version"
        )
    return "final, locked"


def check_summary(path: Path) -> str:
    """The one-line summary of a valid plan (raises :class:`PlanError` otherwise)."""
    from odtrial.plan.load import load_plan

    plan = load_plan(path)
    comp = plan.sample_size.compute()
    r = comp.at
    state = _lock_state(path, plan.version, plan.sha256) if plan.is_final else "draft"
    n_out = len(plan.outcomes)
    return (
        f"{path}: OK: version {plan.version} ({state}); {n_out} outcome{'s' * (n_out > 1)}, "
        f"primary {plan.primary.id}; {len(plan.sensitivity)} sensitivity analyses; "
        f"sample size {r.clusters_per_arm} clusters per arm, power {r.power:.1%} for "
        f"{plan.sample_size.effect_text()}"
    )


def register(app: typer.Typer) -> None:
    plan_app = typer.Typer(
        name="plan",
        help="Check and lock a statistical analysis plan (no data needed).",
        no_args_is_help=True,
    )

    @plan_app.command("check")
    def check_cmd(plan: PlanPath) -> None:
        """Validate PLAN at every depth without running it; list every error."""
        from odtrial.plan.load import PlanErrors

        try:
            typer.echo(check_summary(plan))
        except PlanErrors as e:
            for line in e.messages:
                typer.echo(f"odtrial: error: {line}", err=True)
            raise typer.Exit(PlanError.exit_code) from None

    @plan_app.command("lock")
    def lock_cmd(plan: PlanPath) -> None:
        """Lock a final PLAN: record its version's content hash beside it (once per version)."""
        from odtrial.plan.load import PlanErrors
        from odtrial.plan.lock import _read_locks, lock_path, lock_plan

        lp = lock_path(plan)
        before = set(_read_locks(lp))
        try:
            p = lock_plan(plan)
        except PlanErrors as e:
            for line in e.messages:
                typer.echo(f"odtrial: error: {line}", err=True)
            raise typer.Exit(PlanError.exit_code) from None
        how = "already locked, unchanged" if p.version in before else "locked"
        typer.echo(f"{plan}: version {p.version} {how} (sha256 {p.sha256[:12]}…) in {lp}")

    app.add_typer(plan_app)
