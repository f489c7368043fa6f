"""The drug catalogue: antipsychotic class, chlorpromazine (CPZ) equivalents,
and the plausible daily dose range.

CPZ equivalence methods disagree, so the method is a parameter:
- ``woods2003`` (Woods, J Clin Psychiatry 2003;64:663): mg equal to 100 mg CPZ.
  Clozapine and amisulpride are not covered (None): their CPZ equivalent is
  missing under this method and the derivation reports it.
- ``leucht2015`` (Leucht et al., Schizophr Bull 2015;42:S90, defined daily
  dose method): mg equal to 1 mg olanzapine; 1 mg olanzapine = 38.9 mg CPZ.

``max_daily_mg`` is the BNF adult maximum; a prescription above
``PLAUSIBLE_FACTOR`` times it, or not above zero, is implausible.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

CpzMethod = Literal["woods2003", "leucht2015"]
CPZ_METHODS: Final = ("woods2003", "leucht2015")
PLAUSIBLE_FACTOR: Final = 2.0
LEUCHT_CPZ_PER_MG_OLANZAPINE: Final = 38.9


@dataclass(frozen=True)
class Drug:
    name: str
    antipsychotic: bool
    max_daily_mg: float
    woods2003_mg_per_100cpz: float | None = None
    leucht2015_mg_per_1olz: float | None = None


DRUGS: Final = MappingProxyType(
    {
        d.name: d
        for d in (
            Drug("chlorpromazine", True, 1000, 100.0, 38.9),
            Drug("risperidone", True, 16, 2.0, 0.4),
            Drug("olanzapine", True, 20, 5.0, 1.0),
            Drug("quetiapine", True, 750, 75.0, 32.3),
            Drug("aripiprazole", True, 30, 7.5, 1.4),
            Drug("haloperidol", True, 20, 2.0, 0.7),
            Drug("ziprasidone", True, 160, 60.0, 7.9),
            Drug("clozapine", True, 900, None, 30.6),
            Drug("amisulpride", True, 1200, None, 38.3),
            Drug("sertraline", False, 200),
            Drug("fluoxetine", False, 60),
            Drug("mirtazapine", False, 45),
            Drug("lithium carbonate", False, 1800),
            Drug("sodium valproate", False, 2500),
            Drug("zopiclone", False, 7.5),
        )
    }
)


def cpz_equivalent(drug: str, daily_dose_mg: float, method: CpzMethod) -> float | None:
    """Daily dose of ``drug`` in mg chlorpromazine equivalents, or None if the
    method does not cover the drug (or the drug is not an antipsychotic)."""
    d = DRUGS[drug]
    if not d.antipsychotic:
        return None
    if method == "woods2003":
        return (
            None
            if d.woods2003_mg_per_100cpz is None
            else daily_dose_mg / d.woods2003_mg_per_100cpz * 100.0
        )
    if method == "leucht2015":
        if d.leucht2015_mg_per_1olz is None:
            return None
        return daily_dose_mg / d.leucht2015_mg_per_1olz * LEUCHT_CPZ_PER_MG_OLANZAPINE
    raise ValueError(f"unknown CPZ method {method!r}; expected one of {CPZ_METHODS}")
