"""A freeze with no records, built from a trial definition alone.

``odtrial check TRIAL --plan PLAN`` runs the plan's derivations on it, before any
data exist: every table or field a derivation names, and every type it needs (a
date, a number), is then checked by the code that will read the real freeze, so
the check cannot disagree with ``odtrial derive``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from odtrial.data.canonical import PROVENANCE
from odtrial.data.ingest import clusters_table, freeze_table, manifest_tables
from odtrial.data.medication_dictionary import MedicationDictionary
from odtrial.data.schemas import field_dtype
from odtrial.trial import Trial

_PROVENANCE_DTYPES = {"trust": "string", "source_file": "string", "source_row": "Int64"}


@dataclass(frozen=True)
class EmptyFreeze:
    """What :func:`odtrial.data.derive.derive` reads of a freeze, with no records."""

    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    trial: Trial

    def medication(self) -> MedicationDictionary | None:
        return self.trial.medication


def empty_freeze(trial: Trial) -> EmptyFreeze:
    """The trial's frozen tables, with their columns and dtypes but no rows."""
    tables = {"clusters": clusters_table(trial).iloc[0:0]}
    for name, spec in trial.tables.items():
        mapped = pd.DataFrame(
            {
                **{f.name: pd.Series([], dtype=field_dtype(f)) for f in spec.fields},
                **{c: pd.Series([], dtype=_PROVENANCE_DTYPES[c]) for c in PROVENANCE},
            }
        )
        tables[name] = freeze_table(mapped, spec, trial, b"empty", {}, {})
    manifest = {
        "trial": {
            "name": trial.name,
            "arms": list(trial.arms),
            "follow_up_months": trial.follow_up_months,
            "data_cutoff": trial.data_cutoff.isoformat(),
            "stratum_column": trial.stratum_column,
        },
        "tables": manifest_tables(trial),
    }
    return EmptyFreeze(tables, manifest, trial)
