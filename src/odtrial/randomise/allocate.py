"""Covariate-constrained randomisation: score the space, keep the best, pick one.

The stratified space (see :mod:`odtrial.randomise.space`) is scored for
balance (:mod:`odtrial.randomise.balance`); the constrained space is every
allocation scoring no worse than the ``ceil(cutoff * n)``-th best (ties at
the boundary are kept, so the cut never depends on an arbitrary order), and
one allocation is chosen uniformly from it. The seed feeds a
``SeedSequence`` with two children: one for sampling the space (when it is
too large to enumerate), one for the choice.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odtrial.errors import RandomisationError
from odtrial.randomise.balance import METRICS, balance_scores, check_weights, standardise
from odtrial.randomise.space import MAX_ENUMERATE, N_SAMPLE, AllocationSpace, build_space
from odtrial.randomise.validity import ValidityReport, count_partitions, validity_report


@dataclass(frozen=True)
class ConstrainedAllocation:
    """The result of a constrained randomisation, with everything needed to audit it."""

    allocation: pd.DataFrame  # columns: id column, stratum column, "arm"; sorted by id
    space: AllocationSpace
    scores: np.ndarray  # balance score of every allocation in ``space``
    constrained_rows: np.ndarray  # rows of ``space`` in the constrained space, best first
    chosen_row: int  # row of ``space`` chosen
    rank: int  # 1 + number of candidates scoring strictly better than the chosen one
    validity: ValidityReport
    arms: tuple[str, str]
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs_sha256: str = ""

    @property
    def chosen_score(self) -> float:
        return float(self.scores[self.chosen_row])

    @property
    def n_constrained(self) -> int:
        return len(self.constrained_rows)

    def constrained_frame(self) -> pd.DataFrame:
        """The constrained space as a table: row, score, chosen, one 0/1 column per cluster."""
        rows = self.constrained_rows
        frame = pd.DataFrame(
            self.space.allocations[rows].astype(np.int8), columns=list(self.space.cluster_ids)
        )
        frame.insert(0, "chosen", rows == self.chosen_row)
        frame.insert(0, "score", self.scores[rows])
        frame.insert(0, "row", rows.astype(np.int64))
        return frame

    def write(self, out: str | Path, *, source: str | Path | None = None) -> Path:
        """Write allocation.csv, the constrained space, the validity report and the log."""
        from odtrial.randomise.log import write_allocation

        return write_allocation(self, Path(out), source=None if source is None else Path(source))


def _one_line(value: Any) -> str:
    return str(value).replace("\n", " ")


def _check_clusters(
    clusters: pd.DataFrame, id_col: str, strata_col: str, balance: Sequence[str]
) -> pd.DataFrame:
    if not isinstance(clusters, pd.DataFrame):
        raise RandomisationError(
            f"clusters must be a pandas DataFrame, got {type(clusters).__name__}"
        )
    for role, name in [("id", id_col), ("strata", strata_col), *(("balance", b) for b in balance)]:
        if name not in clusters.columns:
            raise RandomisationError(
                f"{role} column {name!r} is not in the cluster table (columns: {', '.join(map(str, clusters.columns))})"
            )
    if len(balance) == 0:
        raise RandomisationError("give at least one balance column")
    if len(set(balance)) != len(balance):
        raise RandomisationError(f"balance columns repeat a name: {', '.join(balance)}")
    ids = clusters[id_col]
    if ids.isna().any():
        raise RandomisationError(
            f"id column {id_col!r} has an empty value at row {int(np.argmax(ids.isna().to_numpy())) + 1}"
        )
    ids_s = ids.astype(str)
    reserved = ids_s[ids_s.isin(["row", "score", "chosen"])]
    if len(reserved):
        # these name columns of the constrained-space file
        raise RandomisationError(f"cluster id {reserved.iloc[0]!r} is reserved; rename the cluster")
    dup = ids_s[ids_s.duplicated()]
    if len(dup):
        raise RandomisationError(
            f"cluster id {dup.iloc[0]!r} appears more than once in column {id_col!r}"
        )
    strata = clusters[strata_col]
    blank = strata.isna() | (strata.astype(str).str.strip() == "")
    if blank.any():
        first = ids_s[blank].iloc[0]
        raise RandomisationError(
            f"cluster {first!r} is in no stratum (column {strata_col!r} is empty); give every cluster a stratum"
        )
    sizes = strata.astype(str).value_counts()
    lonely = sorted(sizes[sizes < 2].index)
    if lonely:
        who = ids_s[strata.astype(str) == lonely[0]].iloc[0]
        raise RandomisationError(
            f"stratum {lonely[0]!r} has only one cluster ({who}); 1:1 allocation within strata needs at least 2, merge it with another stratum"
        )
    for b in balance:
        col = clusters[b]
        if col.dtype == bool or not pd.api.types.is_numeric_dtype(col):
            bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
            example = col[bad].iloc[0] if bad.any() else col.iloc[0]
            raise RandomisationError(
                f"balance column {b!r} is not numeric (value {_one_line(example)!r} in cluster {ids_s[bad].iloc[0] if bad.any() else ids_s.iloc[0]!r}); encode it as numbers"
            )
        if col.isna().any():
            raise RandomisationError(
                f"balance column {b!r} is missing for cluster {ids_s[col.isna()].iloc[0]!r}"
            )
    out = pd.DataFrame(
        {
            id_col: ids_s,
            strata_col: strata.astype(str),
            **{b: clusters[b].astype(float) for b in balance},
        }
    )
    return out.sort_values(id_col, kind="mergesort").reset_index(drop=True)


def cluster_table(trial: Any) -> pd.DataFrame:
    """The clusters of a :class:`~odtrial.trial.Trial` as a table for :func:`constrained`.

    Columns: ``id, trust``, the stratum column, ``n_practices`` and the trial's
    declared cluster attributes in their order (the arm, if the config already
    has one, is left out: it is what we allocate).
    """
    return pd.DataFrame(
        [
            {
                "id": c.id,
                "trust": c.trust,
                trial.stratum_column: c.stratum,
                "n_practices": len(c.practices),
                **{k: c.attributes[k] for k in trial.cluster_attributes},
            }
            for c in trial.clusters
        ]
    )


def inputs_hash(table: pd.DataFrame) -> str:
    """SHA-256 of a canonical CSV of the columns the randomisation used (sorted by id)."""
    text = table.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def constrained(
    clusters: pd.DataFrame,
    *,
    id: str,
    strata: str,
    balance: Sequence[str],
    seed: int,
    arms: Sequence[str],
    weights: Sequence[float] | None = None,
    metric: str = "l2",
    cutoff: float = 0.1,
    max_enumerate: int = MAX_ENUMERATE,
    n_sample: int = N_SAMPLE,
    equal_arms: bool = False,
) -> ConstrainedAllocation:
    """Allocate clusters 1:1 within strata, at random among the best-balanced allocations.

    Parameters
    ----------
    clusters
        One row per cluster.
    id, strata, balance
        Column names: cluster identifier, stratum, numeric cluster-level covariates to balance.
    seed
        Non-negative integer; the same seed gives the same allocation on any machine.
    weights
        One per balance column (default all 1).
    metric
        ``"l2"`` (squared differences of standardised arm means) or ``"l1"`` (absolute).
    cutoff
        Fraction of the candidate allocations, best first, to choose among (0 < cutoff <= 1).
    arms
        The trial's two arm codes (required: the record must carry the trial's own codes);
        the first is coded 1 in the space.
    max_enumerate, n_sample
        Enumerate the stratified space up to ``max_enumerate`` allocations, else sample
        ``n_sample`` distinct ones.
    equal_arms
        Also require the arm totals to differ by at most one (odd strata are
        otherwise free to tip either way, so 32 clusters could split 14:18).

    Examples
    --------
    >>> import pandas as pd
    >>> cl = pd.DataFrame({"id": list("ABCDEFGH"), "s": ["x"] * 4 + ["y"] * 4,
    ...                    "size": [10, 20, 30, 40, 15, 25, 35, 45]})
    >>> res = constrained(cl, id="id", strata="s", balance=["size"], seed=1, cutoff=0.5,
    ...                   arms=("A", "B"))
    >>> res.allocation["arm"].value_counts().tolist()
    [4, 4]
    """
    if metric not in METRICS:
        raise RandomisationError(f"metric must be one of {', '.join(METRICS)} (got {metric!r})")
    if not (isinstance(cutoff, int | float) and 0 < cutoff <= 1):
        raise RandomisationError(f"cutoff must be in (0, 1] (got {cutoff!r})")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise RandomisationError(f"seed must be a non-negative integer (got {seed!r})")
    arms_t = tuple(str(a) for a in arms)
    if len(arms_t) != 2 or arms_t[0] == arms_t[1]:
        raise RandomisationError(f"arms must be two different labels (got {list(arms)})")
    balance = [str(b) for b in balance]
    table = _check_clusters(clusters, id, strata, balance)
    w = check_weights(weights, balance)
    z = standardise(table[balance].to_numpy(), balance)

    ss_space, ss_choice = np.random.SeedSequence(int(seed)).spawn(2)
    ids = tuple(table[id])
    strata_t = tuple(table[strata])
    space = build_space(
        ids,
        strata_t,
        rng=np.random.default_rng(ss_space),
        max_enumerate=max_enumerate,
        n_sample=n_sample,
        equal_arms=bool(equal_arms),
    )
    scores = balance_scores(space.allocations, z, weights=w, metric=metric)
    order = np.lexsort((np.arange(space.size), scores))  # by score, then by row
    k = max(1, math.ceil(cutoff * space.size))
    threshold = scores[order[k - 1]]
    constrained_rows = order[scores[order] <= threshold]
    if count_partitions(space.allocations[constrained_rows]) < 2:
        raise RandomisationError(
            f"cutoff {cutoff} leaves a single allocation (with its mirror image) of {space.size} candidates; "
            "that is not a randomisation, raise the cutoff"
        )
    rng = np.random.default_rng(ss_choice)
    chosen_row = int(constrained_rows[rng.integers(len(constrained_rows))])
    rank = int(np.sum(scores < scores[chosen_row])) + 1

    first = space.allocations[chosen_row] == 1
    allocation = table[[id, strata]].copy()
    allocation["arm"] = np.where(first, arms_t[0], arms_t[1])
    validity = validity_report(
        space.allocations[constrained_rows],
        cluster_ids=ids,
        strata=strata_t,
        n_stratified=space.n_stratified,
        n_candidates=space.size,
        enumerated=space.enumerated,
    )
    parameters: dict[str, Any] = {
        "id": id,
        "strata": strata,
        "balance": list(balance),
        "weights": [float(x) for x in w],
        "metric": metric,
        "cutoff": float(cutoff),
        "seed": int(seed),
        "arms": list(arms_t),
        "max_enumerate": int(max_enumerate),
        "n_sample": int(n_sample),
        "equal_arms": bool(equal_arms),
    }
    return ConstrainedAllocation(
        allocation=allocation,
        space=space,
        scores=scores,
        constrained_rows=constrained_rows,
        chosen_row=chosen_row,
        rank=rank,
        validity=validity,
        arms=(arms_t[0], arms_t[1]),
        parameters=parameters,
        inputs_sha256=inputs_hash(table),
    )


__all__ = ["ConstrainedAllocation", "cluster_table", "constrained", "inputs_hash"]
