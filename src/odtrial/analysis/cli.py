"""``odtrial run`` (the main job) and ``odtrial analyse`` (a SAP over a freeze)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Options both commands take.
Unblind = Annotated[
    bool, typer.Option("--unblind", help="Show the real arms (final, locked plan only).")
]
OpenReport = Annotated[
    bool, typer.Option("--open", help="Open report for a DMC: arms pooled, no effects.")
]
SEED_HELP = "Seed of the permutation test's space when the freeze has no randomisation record."


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        src: Annotated[
            Path | None,
            typer.Argument(help="Trial source folder (default: the shipped synthetic trial)."),
        ] = None,
        out: Annotated[
            Path, typer.Option("--out", help="Output folder: results and report.")
        ] = Path("out"),
        freeze: Annotated[
            Path | None,
            typer.Option(
                "--freeze", help="Data freeze folder, kept apart from OUT (default: OUT-freeze)."
            ),
        ] = None,
        plan: Annotated[
            Path | None,
            typer.Option(
                "--plan",
                help="Analysis plan (default: the plan in analysis_plans/ that names SRC).",
            ),
        ] = None,
        seed: Annotated[int | None, typer.Option("--seed", help=SEED_HELP)] = None,
        unblind: Unblind = False,
        open_report: OpenReport = False,
        progress: Annotated[
            bool | None,
            typer.Option(
                "--progress/--quiet",
                help="Show a progress bar (default: when standard error is a terminal).",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Run the whole job: ingest -> validate -> freeze -> derive -> analyse -> report."""
        import sys

        from odtrial._words import count
        from odtrial.analysis.pipeline import run

        r = run(
            src,
            out,
            freeze=freeze,
            plan=plan,
            seed=seed,
            unblind=unblind,
            open_report=open_report,
            progress=sys.stderr.isatty() if progress is None else progress,
        )
        typer.echo(f"freeze:  {r.freeze}")
        who = count(r.n_participants, "participant")
        typer.echo(f"results: {r.results} ({r.report_type}; {who})")
        typer.echo(f"report:  {r.report_docx}  {r.report_html}")
        for line in r.hints:
            typer.echo(f"hint: {line}")
        _warn(r.results)

    @app.command("analyse")
    def analyse_cmd(
        plan: Annotated[Path, typer.Option("--plan", help="Statistical analysis plan (TOML).")],
        freeze: Annotated[Path, typer.Option("--freeze", help="Data freeze folder.")],
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        seed: Annotated[
            int, typer.Option("--seed", help=SEED_HELP)
        ] = 20250630,  # = analyse.DEFAULT_SEED (not imported: keeps the CLI start fast)
        unblind: Unblind = False,
        open_report: OpenReport = False,
    ) -> None:
        """Run the analysis plan over a data freeze: results.json, analysis dataset, tables."""
        from odtrial.analysis.analyse import analyse

        res = analyse(
            plan, freeze, out, seed=seed, unblind=unblind,
            report_type="open" if open_report else None,
        )  # fmt: skip
        typer.echo(f"{res['report_type']} results: {out / 'results.json'}")
        _warn(out / "results.json")
        for o in res["outcomes"]:
            e = o["effect"]
            if e:
                typer.echo(
                    f"  {o['id']}: {e['abbrev']} {e['estimate']:.3g} "
                    f"(95% CI {e['ci_lower']:.3g} to {e['ci_upper']:.3g}), p = {e['p_value']:.3g}"
                )


def _warn(results: Path) -> None:
    """Outcomes the analysis could not estimate, one warning line each on stderr."""
    import json

    from odtrial.analysis.analyse import estimability_warnings

    for line in estimability_warnings(json.loads(results.read_text(encoding="utf-8"))):
        typer.echo(f"odtrial: warning: {line}", err=True)
