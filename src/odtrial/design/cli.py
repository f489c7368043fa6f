"""``odtrial power``: sample size and power, analytic or by simulation."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer

from odtrial.errors import DesignError


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN: report a missing number as null.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def register(app: typer.Typer) -> None:
    @app.command("power")
    def power_cmd(
        icc: Annotated[
            float,
            typer.Option("--icc", help="Intracluster correlation (proportion scale for binary)."),
        ],
        cluster_size: Annotated[
            float, typer.Option("--cluster-size", help="Mean people recruited per cluster.")
        ],
        p0: Annotated[
            float | None, typer.Option("--p0", help="Binary: control proportion.")
        ] = None,
        p1: Annotated[
            float | None, typer.Option("--p1", help="Binary: intervention proportion.")
        ] = None,
        delta: Annotated[
            float | None, typer.Option("--delta", help="Continuous: difference in means.")
        ] = None,
        sd: Annotated[
            float | None, typer.Option("--sd", help="Continuous: standard deviation.")
        ] = None,
        rate0: Annotated[
            float | None,
            typer.Option("--rate0", help="Count: control rate per person per unit time."),
        ] = None,
        rate1: Annotated[
            float | None, typer.Option("--rate1", help="Count: intervention rate.")
        ] = None,
        followup: Annotated[
            float, typer.Option("--followup", help="Count: follow-up per person (rate units).")
        ] = 1.0,
        theta: Annotated[
            float | None,
            typer.Option(
                "--theta", help="Count: NB2 dispersion of a person's count (default: Poisson)."
            ),
        ] = None,
        cv: Annotated[
            float, typer.Option("--cv", help="Coefficient of variation of cluster sizes.")
        ] = 0.0,
        attrition: Annotated[
            float, typer.Option("--attrition", help="Fraction lost to follow-up.")
        ] = 0.0,
        alpha: Annotated[
            float, typer.Option("--alpha", help="Two-sided significance level.")
        ] = 0.05,
        power: Annotated[
            float, typer.Option("--power", help="Target power (when solving for clusters).")
        ] = 0.8,
        clusters_per_arm: Annotated[
            int | None,
            typer.Option(
                "--clusters-per-arm",
                help="Solve for power with this many (simulation: default the analytic answer).",
            ),
        ] = None,
        correction: Annotated[
            str, typer.Option("--correction", help="Small-sample correction: t, plus-one or none.")
        ] = "t",
        method: Annotated[
            str, typer.Option("--method", help="analytic or simulation.")
        ] = "analytic",
        nsim: Annotated[int, typer.Option("--nsim", help="Simulated trials.")] = 1000,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation.")] = 20240601,
        strata: Annotated[int, typer.Option("--strata", help="Simulation: number of strata.")] = 1,
        fitter: Annotated[
            str,
            typer.Option("--fitter", help="Simulation: auto, glmm, glmm-reml, lmm or cluster-t."),
        ] = "auto",
        jobs: Annotated[
            int, typer.Option("--jobs", help="Simulation: parallel worker processes.")
        ] = 1,
        scheduler: Annotated[
            str | None,
            typer.Option("--scheduler", help="Simulation: dask.distributed scheduler address."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Clusters per arm for a target power, or power for given clusters per arm."""
        from odtrial.design.analytic import Outcome, analytic_power
        from odtrial.design.simulation import TrialDesign, simulate_power

        outcome = Outcome.from_options(
            p0=p0,
            p1=p1,
            delta=delta,
            sd=sd,
            rate0=rate0,
            rate1=rate1,
            followup=followup,
            theta=theta,
        )
        if method not in ("analytic", "simulation"):
            raise DesignError(f"--method must be analytic or simulation (got {method!r})")
        analytic = analytic_power(
            outcome,
            icc=icc,
            cluster_size=cluster_size,
            cv=cv,
            attrition=attrition,
            alpha=alpha,
            power=power,
            clusters_per_arm=clusters_per_arm,
            correction=correction,
        )
        if method == "analytic":
            result = analytic
        else:
            design = TrialDesign(
                outcome=outcome,
                clusters_per_arm=analytic.clusters_per_arm,
                cluster_size=cluster_size,
                icc=icc,
                cv=cv,
                attrition=attrition,
                n_strata=strata,
            )
            result = simulate_power(
                design,
                nsim=nsim,
                seed=seed,
                alpha=alpha,
                target_power=power,
                fitter=fitter,
                jobs=jobs,
                scheduler=scheduler,
                progress=not as_json,
            )
        d = result.to_dict()
        if method == "simulation":
            d["analytic_power"] = analytic.power
        if as_json:
            typer.echo(json.dumps(_clean(d), indent=2))
            return
        lines = [
            f"outcome: {result.outcome} ({result.method})",
            f"design effect: {result.design_effect:.4f} (ICC {icc}, mean cluster size {cluster_size},"
            f" {result.cluster_size_analysed:g} analysed, CV {cv})",
            f"individuals per arm before clustering: {result.n_individual_per_arm}",
            f"clusters per arm: {result.clusters_per_arm} ({result.n_recruited_per_arm} people recruited per arm)",
        ]
        if result.mc_se is not None:
            lines.append(
                f"power: {result.power:.3f} (Monte Carlo SE {result.mc_se:.3f}; {result.nsim} trials,"
                f" fitter {result.fitter}, {result.n_failed} failed fits; analytic {analytic.power:.3f})"
            )
        else:
            lines.append(f"power: {result.power:.3f}")
        lines.append(f"small-sample correction: {result.correction_note}")
        typer.echo("\n".join(lines))
