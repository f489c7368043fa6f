"""The statistical analysis plan (SAP) as typed, immutable objects.

Content follows Gamble et al. (JAMA 2017;318:2337): version and date,
registration, sign-off, design, populations, estimands with the five
ICH E9(R1) attributes, outcomes with their derivation and model, sensitivity
analyses, multiplicity, missing data, harms, software.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
class Derivation:
    """How one analysis-dataset column (or column pair) is derived from the freeze.

    ``kind`` names a function of :mod:`odtrial.data.derivations`; ``params`` are its
    parameters as the plan gives them (without ``kind``). ``key`` is the plan key of the
    derivation table, so an error found against the data names it.
    """

    id: str
    kind: str
    params: Mapping[str, Any]
    key: str = ""

    @property
    def window_months(self) -> int | None:
        """The derivation's own window (None: the default window, or no window)."""
        w = self.params.get("window_months")
        return None if w is None else int(w)


@dataclass(frozen=True)
class Variable:
    """A ``[variables]`` entry: a derived column that is not an outcome."""

    id: str
    label: str
    derivation: Derivation


@dataclass(frozen=True)
class Outcome:
    id: str
    label: str
    role: str
    type: str
    definition: str
    population: str
    estimand: str | None
    derivation: Derivation
    model: ModelSpec


@dataclass(frozen=True)
class Sensitivity:
    id: str
    outcome: str
    label: str
    method: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class ResourceUse:
    """A ``[health_economics.resource_use]`` entry: a quantity per participant, costed at
    the unit cost of ``item``; made by ``derivation`` or read from dataset ``column``."""

    id: str
    label: str
    item: str
    derivation: Derivation | None
    column: str
    # with a windowed derivation: (months, column) of the cumulative quantity at each year's
    # end, the last the horizon's (``column``); empty: the whole horizon, undiscounted
    cumulative: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class HealthEconomics:
    """The plan's ``[health_economics]``: a within-trial cost-effectiveness analysis."""

    perspective: str
    time_horizon_months: int
    price_year: int
    discount_rate: float
    method: str
    sensitivity: tuple[str, ...]
    wtp: tuple[float, ...]
    n_boot: int
    seed: int
    covariates: tuple[str, ...]
    unit_costs: Path
    price_index: Path | None
    intervention_cost_per_cluster: float | None
    # or a CSV of each intervention cluster's cost (cluster_id, cost)
    intervention_costs: Path | None
    baseline_cost: str | None
    resource_use: Mapping[str, ResourceUse]
    # utilities: EQ-5D version and value set, and (visit month, {dimension field: column})
    version: str
    value_set: str
    # the 5L-to-3L mapping's age and sex columns of the analysis dataset (else None)
    age_column: str | None
    sex_column: str | None
    utility_columns: tuple[tuple[int, tuple[str, ...]], ...]
    adjust_baseline_utility: bool
    utility_derivations: tuple[Derivation, ...]

    @property
    def has_intervention_cost(self) -> bool:
        return self.intervention_cost_per_cluster is not None or self.intervention_costs is not None

    @property
    def derivations(self) -> tuple[Derivation, ...]:
        """The columns the analysis dataset needs for the economics: each resource use's
        (cumulative windows too), then each EQ-5D response at each visit."""
        out: list[Derivation] = []
        for r in self.resource_use.values():
            d = r.derivation
            if d is None:
                continue
            for months, col in r.cumulative or ((0, r.column),):
                params = dict(d.params)
                if r.cumulative:
                    params["window_months"] = months
                out.append(Derivation(col, d.kind, params, d.key))
        return (*out, *self.utility_derivations)


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
    # [missing_data.imputation]: the multiple imputation's settings (None: none)
    imputation: Mapping[str, Any] | None = None
    # [variables]: derived columns that are not outcomes
    variables: Mapping[str, Variable] = field(default_factory=dict)
    # [derivation] window_months: the default outcome window (None: the trial's follow-up)
    window_months: int | None = None
    # [health_economics] (None: no economic evaluation)
    health_economics: HealthEconomics | None = None

    @property
    def derivations(self) -> tuple[Derivation, ...]:
        """Every derivation of the plan: the variables', then the outcomes', in plan order,
        then the health economics' columns."""
        he = () if self.health_economics is None else self.health_economics.derivations
        return (
            *(v.derivation for v in self.variables.values()),
            *(o.derivation for o in self.outcomes.values()),
            *he,
        )

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
