"""What ``odtrial init`` is told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from odtrial.redcap.records import DAG


@dataclass(frozen=True)
class InitOptions:
    """What ``odtrial init`` is told (see :func:`init`)."""

    dictionary: Path
    records: Path
    randomisation: Path
    cluster_field: str
    events: Path | None = None
    event_definitions: Path | None = None
    site_field: str = DAG
    consent_field: str | None = None
    data_cutoff: date | None = None
    name: str | None = None
    min_age: int = 18
    pseudonymise: tuple[str, ...] = ()
    test_key: str | None = None
