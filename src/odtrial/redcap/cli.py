"""``odtrial init DIR --redcap-dictionary ... --redcap-records ...``: a REDCap project's
exports -> a trial definition (``DIR/trial.toml``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from odtrial.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add the ``init`` command to ``app``."""

    @app.command("init")
    def init_cmd(
        directory: Annotated[Path, typer.Argument(help="Folder to write trial.toml into.")],
        dictionary: Annotated[
            Path, typer.Option("--redcap-dictionary", help="The project's data dictionary (CSV).")
        ],
        records: Annotated[
            Path,
            typer.Option("--redcap-records", help="The records export (CSV, raw data, all sites)."),
        ],
        randomisation: Annotated[
            Path,
            typer.Option(
                "--randomisation", help="The randomisation record (folder odtrial randomise wrote)."
            ),
        ],
        cluster_field: Annotated[
            str,
            typer.Option(
                "--cluster-field", help="The baseline field naming the participant's cluster."
            ),
        ],
        events: Annotated[
            Path | None,
            typer.Option(
                "--redcap-events",
                help="Instrument designations (CSV arm_num, unique_event_name, form) of a "
                "longitudinal project.",
            ),
        ] = None,
        event_definitions: Annotated[
            Path | None,
            typer.Option(
                "--redcap-event-definitions",
                help="Event definitions (Define My Events: CSV event_name, arm_num, day_offset, "
                "offset_min, offset_max, unique_event_name): visit months and windows.",
            ),
        ] = None,
        site_field: Annotated[
            str,
            typer.Option("--site-field", help="The records column naming each row's site."),
        ] = "redcap_data_access_group",
        consent_field: Annotated[
            str | None,
            typer.Option(
                "--consent-field", help="The consent date field (default: the one named so)."
            ),
        ] = None,
        data_cutoff: Annotated[
            str | None,
            typer.Option(
                "--data-cutoff", help="The data cut-off, YYYY-MM-DD (default: the export's date)."
            ),
        ] = None,
        name: Annotated[str | None, typer.Option("--name", help="The trial's name.")] = None,
        min_age: Annotated[
            int, typer.Option("--min-age", help="Minimum age at consent in years.")
        ] = 18,
        pseudonymise: Annotated[
            str,
            typer.Option(
                "--pseudonymise",
                help="Comma-separated identifier (or free-text) fields to freeze as keyed "
                "pseudonyms (other identifiers are dropped).",
            ),
        ] = "",
        test_key: Annotated[
            str | None,
            typer.Option(
                "--test-key", help="A public pseudonymisation key: marks the trial synthetic."
            ),
        ] = None,
    ) -> None:
        """Write a trial definition for a REDCap project that odtrial ingest reads as it is."""
        from odtrial.redcap.init import InitOptions, init

        cutoff = None
        if data_cutoff is not None:
            try:
                cutoff = date.fromisoformat(data_cutoff)
            except ValueError:
                raise ConfigError(
                    f"--data-cutoff must be a date YYYY-MM-DD, got {data_cutoff!r}"
                ) from None
        opts = InitOptions(
            dictionary=dictionary,
            records=records,
            randomisation=randomisation,
            cluster_field=cluster_field,
            events=events,
            event_definitions=event_definitions,
            site_field=site_field,
            consent_field=consent_field,
            data_cutoff=cutoff,
            name=name,
            min_age=min_age,
            pseudonymise=tuple(p.strip() for p in pseudonymise.split(",") if p.strip()),
            test_key=test_key,
        )
        r = init(directory, opts)
        shown = ", ".join(f"{t} ({n} fields)" for t, n in r.tables.items())
        typer.echo(f"wrote {r.path}: tables {shown}")
        typer.echo(
            f"sites: {', '.join(r.trusts)}; visits at months: "
            f"{', '.join(map(str, r.visits)) or 'none'}"
        )
        for w in r.warnings:
            typer.echo(f"check: {w}", err=True)
        typer.echo(f"next: odtrial ingest {directory} --out FREEZE")
