"""BRIDGE's clusters (GP practices), their allocation, and the participants they recruit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from odtrial.randomise.allocate import ConstrainedAllocation, constrained
from odtrial.synth.bridge.design import (
    ARMS,
    BALANCE,
    CLUSTERS_PER_LOCALITY,
    LOCALITIES,
    SITES,
    STRATUM_COLUMN,
    VOCABULARIES,
)
from odtrial.synth.population import completed_years, nhs_numbers

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

CLUSTER_WEIGHT_CV = 0.5
MIN_CLUSTER_SIZE = 5
ALLOCATION_CUTOFF = 0.1
#: Share of participants who give no NHS number (their prescribing cannot be linked).
NO_NHS_NUMBER = 0.04
#: Share with no recorded ethnic group (an optional field).
NO_ETHNIC_GROUP = 0.03
GENDER_P = (0.66, 0.32, 0.01, 0.01)
ETHNIC_P = (0.82, 0.03, 0.07, 0.04, 0.02, 0.02)
# REDCap numbers records within its data access group (one per locality); the other
# sites use their own prefixes.
_DAG = {"GM-MAN": "101", "GM-SAL": "102"}
_PREFIX = {"BNSSG": "BS", "NENC": "NE-"}


@dataclass(frozen=True)
class Clusters:
    id: StrArray
    locality: IntArray  # index into LOCALITIES
    practice_size: IntArray
    treated: BoolArray
    weight: FloatArray  # relative recruitment weight

    @property
    def arm(self) -> list[str]:
        return [ARMS[0] if t else ARMS[1] for t in self.treated]

    @property
    def site(self) -> list[str]:
        return [LOCALITIES[int(k)].site for k in self.locality]

    def as_config(self) -> list[dict[str, object]]:
        return [
            {
                "id": str(self.id[j]),
                STRATUM_COLUMN: LOCALITIES[int(self.locality[j])].id,
                "practice_size": int(self.practice_size[j]),
                "arm": self.arm[j],
            }
            for j in range(len(self.id))
        ]


@dataclass(frozen=True)
class Randomisation:
    table: pd.DataFrame
    allocation: ConstrainedAllocation


def make_clusters(rng: np.random.Generator) -> tuple[Clusters, Randomisation]:
    """24 GP practices, four per locality, each a cluster (ids are synthetic ODS-style
    codes), allocated two to each arm within locality by constrained randomisation."""
    ids, loc, size = [], [], []
    for k, lo in enumerate(LOCALITIES):
        codes = np.sort(rng.choice(np.arange(1, 1000), size=CLUSTERS_PER_LOCALITY, replace=False))
        ids += [f"{lo.ods_prefix}{c:03d}" for c in codes]
        loc += [k] * CLUSTERS_PER_LOCALITY
        size += [int(round(s, -1)) for s in rng.lognormal(np.log(9000), 0.4, CLUSTERS_PER_LOCALITY)]
    shape = 1.0 / CLUSTER_WEIGHT_CV**2
    weight = rng.gamma(shape, 1.0 / shape, size=len(ids))
    id_arr = np.asarray(ids)
    locality = np.asarray(loc, dtype=np.int64)
    practice_size = np.asarray(size, dtype=np.int64)
    table = pd.DataFrame(
        {
            "id": ids,
            "trust": [LOCALITIES[k].site for k in loc],
            STRATUM_COLUMN: [LOCALITIES[k].id for k in loc],
            "practice_size": practice_size,
        }
    )
    result = constrained(
        table,
        id="id",
        strata=STRATUM_COLUMN,
        balance=list(BALANCE),
        seed=int(rng.integers(0, 2**31 - 1)),
        cutoff=ALLOCATION_CUTOFF,
        arms=ARMS,
        equal_arms=True,
    )
    arm_of = dict(zip(result.allocation["id"], result.allocation["arm"], strict=True))
    treated = np.asarray([arm_of[i] == ARMS[0] for i in ids], dtype=bool)
    return (
        Clusters(id_arr, locality, practice_size, treated, weight),
        Randomisation(table, result),
    )


@dataclass(frozen=True)
class Participants:
    record_id: StrArray
    nhs: StrArray  # "" when none was given
    cluster: IntArray
    locality: IntArray
    site: IntArray  # index into SITES
    treated: BoolArray
    consent: IntArray  # day number
    dob: IntArray
    age: IntArray
    gender: StrArray
    ethnic_group: StrArray  # "" when not recorded
    phq9_baseline: IntArray
    prior_ad: BoolArray

    def __len__(self) -> int:
        return int(self.record_id.size)


def make_participants(
    n: int, clusters: Clusters, recruit_start: int, recruit_end: int, rng: np.random.Generator
) -> Participants:
    """Recruit ``n`` adults with PHQ-9 of at least 10 (the eligibility threshold)."""
    n_cl = clusters.id.size
    if n < MIN_CLUSTER_SIZE * n_cl:
        raise ValueError(f"need at least {MIN_CLUSTER_SIZE * n_cl} participants")
    sizes = MIN_CLUSTER_SIZE + rng.multinomial(
        n - MIN_CLUSTER_SIZE * n_cl, clusters.weight / clusters.weight.sum()
    )
    cluster = np.repeat(np.arange(n_cl), sizes)
    consent = rng.integers(recruit_start, recruit_end + 1, size=n)
    order = np.lexsort((rng.random(n), consent))
    cluster, consent = cluster[order], consent[order]
    locality = clusters.locality[cluster]
    site_index = {s.id: i for i, s in enumerate(SITES)}
    site = np.asarray([site_index[LOCALITIES[int(k)].site] for k in locality], dtype=np.int64)
    age_days = (18 * 365.25 + 30 + rng.gamma(2.5, 10.0, size=n) * 365.25).astype(np.int64)
    dob = consent - np.minimum(age_days, int(90 * 365.25))
    gender = rng.choice(np.asarray(VOCABULARIES["gender"]), size=n, p=GENDER_P)
    ethnic = rng.choice(np.asarray(VOCABULARIES["ethnic_group"]), size=n, p=ETHNIC_P)
    ethnic = np.where(rng.random(n) < NO_ETHNIC_GROUP, "", ethnic)
    phq = np.clip(np.rint(rng.normal(16.5, 3.8, size=n)), 10, 27).astype(np.int64)
    prior = rng.random(n) < 1 / (1 + np.exp(-(-0.3 + 0.1 * (phq - 16))))
    nhs = nhs_numbers(n, rng).astype(object)
    nhs[rng.random(n) < NO_NHS_NUMBER] = ""
    return Participants(
        record_id=_record_ids(locality, site),
        nhs=nhs.astype(str),
        cluster=cluster,
        locality=locality,
        site=site,
        treated=clusters.treated[cluster],
        consent=consent,
        dob=dob,
        age=completed_years(dob, consent),
        gender=gender.astype(str),
        ethnic_group=ethnic.astype(str),
        phq9_baseline=phq,
        prior_ad=prior,
    )


def _record_ids(locality: IntArray, site: IntArray) -> StrArray:
    """Record ids in consent order: REDCap's ``<DAG>-<n>`` at GM, prefixed numbers elsewhere."""
    out = np.empty(locality.size, dtype=object)
    counters: dict[str, int] = {}
    for i, (k, s) in enumerate(zip(locality.tolist(), site.tolist(), strict=True)):
        lo = LOCALITIES[k]
        group = _DAG.get(lo.id, SITES[s].id)
        counters[group] = counters.get(group, 0) + 1
        c = counters[group]
        out[i] = f"{group}-{c}" if lo.id in _DAG else f"{_PREFIX[SITES[s].id]}{c:04d}"
    return out.astype(str)
