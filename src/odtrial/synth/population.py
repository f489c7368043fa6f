"""Clusters of GP practices, their allocation, and the participants recruited in them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from odtrial.randomise.allocate import ConstrainedAllocation, constrained
from odtrial.synth.config import ARMS, CATCHMENTS, DIAGNOSES
from odtrial.synth.tables import ETHNICITY

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

EPOCH = np.datetime64("1970-01-01", "D")

# Cluster sizes: gamma weights with CV 0.55; with multinomial recruitment the
# realised CV of cluster sizes is about 0.6 at ~20 per cluster.
CLUSTER_WEIGHT_CV = 0.55
MIN_CLUSTER_SIZE = 3
# The trial's randomisation: balance on these cluster covariates, choose among the best 10%.
BALANCE = ("list_size", "imd_score")
ALLOCATION_CUTOFF = 0.1


def day(d: date) -> int:
    """Days since 1970-01-01."""
    return int((np.datetime64(d, "D") - EPOCH).astype(np.int64))


# ------------------------------------------------------------------------ NHS numbers

_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)


def nhs_check_digit(first9: IntArray) -> IntArray:
    """Modulus 11 check digit of rows of 9 digits; 10 means the number is never issued."""
    r = (first9 * _WEIGHTS).sum(axis=1) % 11
    c = 11 - r
    return np.where(c == 11, 0, c)


def nhs_valid(numbers: list[str] | npt.NDArray[np.str_]) -> npt.NDArray[np.bool_]:
    """Whether each NHS number (10 digits as text) passes the Modulus 11 check."""
    out = np.zeros(len(numbers), dtype=bool)
    for i, s in enumerate(numbers):
        s = str(s)
        if len(s) != 10 or not s.isdigit():
            continue
        d = np.frombuffer(s.encode(), dtype=np.uint8).astype(np.int64) - 48
        c = nhs_check_digit(d[None, :9])[0]
        out[i] = c != 10 and c == d[9]
    return out


def nhs_numbers(n: int, rng: np.random.Generator) -> npt.NDArray[np.str_]:
    """``n`` distinct valid NHS numbers in the test range 999 000 0000 - 999 999 9999
    (reserved for testing, so no real person's number can appear)."""
    if n > 800_000:
        raise ValueError("the NHS test range holds fewer than 800,000 valid numbers")
    got = np.empty(0, dtype=np.int64)
    while got.size < n:
        body = rng.integers(0, 1_000_000, size=int((n - got.size) * 1.3) + 16)
        digits = np.empty((body.size, 9), dtype=np.int64)
        digits[:, :3] = 9
        for k in range(6):
            digits[:, 8 - k] = (body // 10**k) % 10
        check = nhs_check_digit(digits)
        ok = check != 10
        num = 999_000_000 + body[ok]
        num = num * 10 + check[ok]
        allnum = np.concatenate([got, num])
        _, first = np.unique(allnum, return_index=True)
        got = allnum[np.sort(first)]
    return got[:n].astype(str)


# ---------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class Clusters:
    id: npt.NDArray[np.str_]
    catchment: IntArray  # index into CATCHMENTS
    practices: list[list[str]]
    practice_sizes: list[list[int]]
    list_size: IntArray
    imd_score: FloatArray
    treated: npt.NDArray[np.bool_]  # arm == ARMS[0]
    weight: FloatArray  # relative recruitment weight

    @property
    def arm(self) -> list[str]:
        return [ARMS[0] if t else ARMS[1] for t in self.treated]

    def as_config(self) -> list[dict[str, object]]:
        return [
            {
                "id": str(self.id[j]),
                "catchment": CATCHMENTS[int(self.catchment[j])].id,
                "practices": self.practices[j],
                "list_size": int(self.list_size[j]),
                "imd_score": float(self.imd_score[j]),
                "arm": self.arm[j],
            }
            for j in range(len(self.id))
        ]


@dataclass(frozen=True)
class Randomisation:
    """The cluster table randomised and the allocation made from it."""

    table: pd.DataFrame
    allocation: ConstrainedAllocation


def make_clusters(rng: np.random.Generator) -> tuple[Clusters, Randomisation]:
    """32 clusters of 2-5 neighbouring practices with list sizes and IMD scores, allocated
    by :func:`odtrial.randomise.constrained` exactly as a real trial would be (see
    :func:`allocate`). Returns the clusters and the randomisation, whose record
    the generator ships beside the extracts."""
    cat, practices, sizes, imd = [], [], [], []
    for k, c in enumerate(CATCHMENTS):
        n_prac = rng.integers(2, 6, size=c.n_clusters)
        codes = rng.choice(np.arange(1, 900), size=int(n_prac.sum()), replace=False)
        pos = 0
        for j in range(c.n_clusters):
            cs = sorted(f"{c.practice_prefix}{x:03d}" for x in codes[pos : pos + n_prac[j]])
            pos += int(n_prac[j])
            practices.append(cs)
            sizes.append(
                [int(round(s, -1)) for s in rng.lognormal(np.log(7500), 0.45, size=len(cs))]
            )
            imd.append(round(float(np.clip(rng.normal(c.imd_mean, 6.0), 4.0, 60.0)), 1))
            cat.append(k)
    catchment = np.asarray(cat, dtype=np.int64)
    list_size = np.asarray([sum(s) for s in sizes], dtype=np.int64)
    imd_score = np.asarray(imd, dtype=np.float64)
    shape = 1.0 / CLUSTER_WEIGHT_CV**2
    weight = rng.gamma(shape, 1.0 / shape, size=len(cat))
    ids = np.asarray([f"C{j + 1:02d}" for j in range(len(cat))])
    table = randomisation_table(ids, catchment, practices, list_size, imd_score)
    result = allocate(table, seed=int(rng.integers(0, 2**31 - 1)))
    arm_of = dict(zip(result.allocation["id"], result.allocation["arm"], strict=True))
    treated = np.asarray([arm_of[i] == ARMS[0] for i in ids], dtype=bool)
    clusters = Clusters(ids, catchment, practices, sizes, list_size, imd_score, treated, weight)
    return clusters, Randomisation(table, result)


def randomisation_table(
    ids: npt.NDArray[np.str_],
    catchment: IntArray,
    practices: list[list[str]],
    list_size: IntArray,
    imd_score: FloatArray,
) -> pd.DataFrame:
    """The cluster table as :func:`odtrial.randomise.cluster_table` makes it from the
    trial config, so the shipped record verifies against the config by re-running."""
    return pd.DataFrame(
        {
            "id": [str(i) for i in ids],
            "trust": [CATCHMENTS[int(k)].trust for k in catchment],
            "catchment": [CATCHMENTS[int(k)].id for k in catchment],
            "n_practices": [len(p) for p in practices],
            "list_size": list_size.astype(np.int64),
            "imd_score": imd_score.astype(np.float64),
        }
    )


def allocate(table: pd.DataFrame, *, seed: int) -> ConstrainedAllocation:
    """1:1 within catchment with equal arm totals (16:16), chosen uniformly among the
    best-balanced 10% of allocations on list size and IMD score (l2 metric)."""
    return constrained(
        table,
        id="id",
        strata="catchment",
        balance=list(BALANCE),
        seed=seed,
        cutoff=ALLOCATION_CUTOFF,
        arms=ARMS,
        equal_arms=True,
    )


# ------------------------------------------------------------------------ participants


@dataclass(frozen=True)
class Participants:
    nhs: npt.NDArray[np.str_]
    cluster: IntArray  # index into Clusters
    catchment: IntArray
    treated: npt.NDArray[np.bool_]
    practice: npt.NDArray[np.str_]
    consent: IntArray  # day number
    dob: IntArray  # day number
    age: IntArray  # completed years at consent
    sex: npt.NDArray[np.str_]
    ethnicity: npt.NDArray[np.str_]
    diagnosis: IntArray  # index into DIAGNOSES
    baseline_ws: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.nhs.size)


SEX_P = {"female": 0.54, "male": 0.45, "other": 0.01}
ETHNICITY_P = np.array(
    [
        0.62,
        0.02,
        0.07,
        0.01,
        0.01,
        0.01,
        0.01,
        0.03,
        0.03,
        0.02,
        0.02,
        0.03,
        0.04,
        0.01,
        0.005,
        0.015,
        0.02,
        0.04,
    ]
)
DIAGNOSIS_P = np.array([0.24, 0.10, 0.30, 0.15, 0.13, 0.08])  # order of DIAGNOSES


def completed_years(dob: IntArray, at: IntArray) -> IntArray:
    """Age in completed years at day ``at`` of people born on day ``dob``."""
    b = (EPOCH + dob.astype("timedelta64[D]")).astype(object)
    a = (EPOCH + at.astype("timedelta64[D]")).astype(object)
    return np.fromiter(
        (
            x.year - y.year - ((x.month, x.day) < (y.month, y.day))
            for x, y in zip(a, b, strict=True)
        ),
        dtype=np.int64,
        count=len(b),
    )


def make_participants(
    n: int,
    clusters: Clusters,
    recruit_start: int,
    recruit_end: int,
    rng: np.random.Generator,
) -> Participants:
    """Recruit ``n`` participants: cluster by multinomial on the cluster weights (each cluster
    at least MIN_CLUSTER_SIZE), consent dates uniform over recruitment, covariates."""
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
    # practice: proportional to practice list size within the cluster
    practice = np.empty(n, dtype=object)
    u = rng.random(n)
    for j in range(n_cl):
        idx = np.flatnonzero(cluster == j)
        p = np.asarray(clusters.practice_sizes[j], dtype=np.float64)
        pick = np.searchsorted(np.cumsum(p / p.sum()), u[idx], side="right")
        practice[idx] = np.asarray(clusters.practices[j])[np.minimum(pick, p.size - 1)]
    # age: 18 to 80, right-skewed; at least 30 days past the 18th birthday
    age_days = (18 * 365.25 + 30 + rng.gamma(2.0, 9.0, size=n) * 365.25).astype(np.int64)
    age_days = np.minimum(age_days, int(80 * 365.25))
    dob = consent - age_days
    diagnosis = rng.choice(len(DIAGNOSES), size=n, p=DIAGNOSIS_P)
    sex = rng.choice(list(SEX_P), size=n, p=list(SEX_P.values()))
    ethnicity = rng.choice(np.asarray(ETHNICITY), size=n, p=ETHNICITY_P / ETHNICITY_P.sum())
    age = completed_years(dob, consent)
    # baseline work/study: less likely with psychosis, older age
    lp = -0.3 - 0.6 * (diagnosis == 0) - 0.25 * (age - 40) / 10
    baseline_ws = rng.random(n) < 1 / (1 + np.exp(-lp))
    return Participants(
        nhs=nhs_numbers(n, rng),
        cluster=cluster,
        catchment=clusters.catchment[cluster],
        treated=clusters.treated[cluster],
        practice=practice.astype(str),
        consent=consent,
        dob=dob,
        age=age,
        sex=sex.astype(str),
        ethnicity=ethnicity.astype(str),
        diagnosis=diagnosis,
        baseline_ws=baseline_ws,
    )
