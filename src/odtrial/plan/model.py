"""The statistical analysis plan (SAP) as typed, immutable objects.

Content follows Gamble et al. (JAMA 2017;318:2337): version and date,
registration, sign-off, design, populations, estimands with the five
ICH E9(R1) attributes, outcomes with their derivation and model, sensitivity
analyses, multiplicity, missing data, harms, software.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from odtrial.plan.sample_size import SampleSize

STATUSES: Final = ("draft", "final")
OUTCOME_ROLES: Final = ("primary", "secondary")
OUTCOME_TYPES: Final = ("binary", "count", "continuous", "time-to-event")
ESTIMAND_LEVELS: Final = ("individual-average", "cluster-average")
IE_STRATEGIES: Final = (
    "treatment policy",
    "hypothetical",
    "composite",
    "while on treatment",
    "principal stratum",
)
# Model kinds, sensitivity methods and their options: odtrial.plan.schema.


@dataclass(frozen=True)
class SignOff:
    name: str
    role: str
    date: date


@dataclass(frozen=True)
class IntercurrentEvent:
    event: str
    strategy: str


@dataclass(frozen=True)
class Estimand:
    id: str
    treatment: str
    population: str
    variable: str
    intercurrent_events: tuple[IntercurrentEvent, ...]
    summary: str
    level: str


@dataclass(frozen=True)
class Population:
    id: str
    label: str
    definition: str


@dataclass(frozen=True)
class ModelSpec:
    kind: str
    family: str | None
    covariates: tuple[str, ...]
    options: Mapping[str, Any]  # per kind: odtrial.plan.schema.MODEL_OPTIONS


@dataclass(frozen=True)
class Outcome:
    id: str
    label: str
    role: str
    type: str
    definition: str
    population: str
    estimand: str | None
    window_months: int
    cpz_method: str
    model: ModelSpec


@dataclass(frozen=True)
class Sensitivity:
    id: str
    outcome: str
    label: str
    method: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    title: str
    short_title: str
    version: str
    date: date
    status: str
    registration: str
    sign_off: tuple[SignOff, ...]
    design: Mapping[str, Any]  # texts, and "sample_size": the inputs (SampleSize.to_dict())
    populations: Mapping[str, Population]
    estimands: Mapping[str, Estimand]
    outcomes: Mapping[str, Outcome]
    sensitivity: tuple[Sensitivity, ...]
    # multiplicity, missing_data, harms, software; summary (optional: the report's own words)
    sections: Mapping[str, Mapping[str, Any]]
    trial_config: Path | None
    sha256: str
    path: Path | None
    # [missing_data] variables: (dataset column, time point) tabulated by arm; empty = default
    missing_data: tuple[tuple[str, str], ...] = ()

    @property
    def sample_size(self) -> SampleSize:
        """The sample-size inputs of ``[design.sample_size]``."""
        from odtrial.plan.sample_size import SampleSize

        return SampleSize.from_mapping(self.design["sample_size"])

    @property
    def primary(self) -> Outcome:
        return next(o for o in self.outcomes.values() if o.role == "primary")

    @property
    def is_final(self) -> bool:
        return self.status == "final"
