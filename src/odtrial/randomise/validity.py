"""Is the constrained space still a meaningful randomisation?

Moulton (2004) and Li et al. (Stat Med 2016) warn against over-constraining:
if the constrained space is small, or some pairs of clusters are always (or
never) in the same arm, the trial is close to a deterministic allocation and
the permutation test loses its footing. The report counts the space and
lists such pairs, separating those forced by the stratified design (the two
clusters of a 2-cluster stratum are never together) from those the balance
constraint created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Warn when the constrained space holds fewer allocations than this.
MIN_CONSTRAINED = 100


@dataclass(frozen=True)
class ValidityReport:
    """Size of the spaces, pairs always/never together, and warnings."""

    n_stratified: int  # stratified allocations in all
    n_candidates: int  # allocations scored (all of them, or the sample)
    enumerated: bool
    n_constrained: int  # allocations in the constrained space
    n_partitions: int  # distinct splits of the clusters (an allocation and its mirror count once)
    always_together: tuple[tuple[str, str], ...]
    never_together: tuple[tuple[str, str], ...]
    forced_by_design: tuple[tuple[str, str], ...]  # pairs never together because of the strata
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_stratified": self.n_stratified,
            "n_candidates": self.n_candidates,
            "enumerated": self.enumerated,
            "n_constrained": self.n_constrained,
            "n_partitions": self.n_partitions,
            "always_together": [list(p) for p in self.always_together],
            "never_together": [list(p) for p in self.never_together],
            "forced_by_design": [list(p) for p in self.forced_by_design],
            "warnings": list(self.warnings),
        }


def count_partitions(allocations: np.ndarray) -> int:
    """Distinct splits of the clusters, ignoring which side gets which arm."""
    a = np.asarray(allocations, dtype=np.uint8)
    canon = np.where(a[:, :1] == 1, a, 1 - a)  # flip so the first cluster is always in arm 1
    return int(np.unique(np.packbits(canon, axis=1), axis=0).shape[0])


def validity_report(
    constrained: np.ndarray,
    *,
    cluster_ids: Sequence[str],
    strata: Sequence[str],
    n_stratified: int,
    n_candidates: int,
    enumerated: bool,
    min_constrained: int = MIN_CONSTRAINED,
) -> ValidityReport:
    """Describe the constrained space (rows of 0/1 over ``cluster_ids``)."""
    c = np.asarray(constrained, dtype=np.int64)
    n_c = c.shape[0]
    same = c.T @ c + (1 - c).T @ (1 - c)  # times each pair shares an arm
    ids = list(cluster_ids)
    sizes = {s: list(strata).count(s) for s in strata}
    always, never, forced = [], [], []
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            pair = (ids[i], ids[j])
            if strata[i] == strata[j] and sizes[strata[i]] == 2:
                forced.append(pair)
            elif same[i, j] == n_c:
                always.append(pair)
            elif same[i, j] == 0:
                never.append(pair)
    n_part = count_partitions(c)
    warnings: list[str] = []
    if n_c < min_constrained:
        warnings.append(
            f"the constrained space holds only {n_c} allocations (fewer than {min_constrained}): "
            "the randomisation is close to deterministic and a permutation test has few values; raise the cutoff"
        )
    if always or never:
        warnings.append(
            f"{len(always)} pair(s) of clusters always and {len(never)} never in the same arm "
            "across the constrained space: the constraint is too tight; raise the cutoff or drop a balance variable"
        )
    return ValidityReport(
        n_stratified=int(n_stratified),
        n_candidates=int(n_candidates),
        enumerated=bool(enumerated),
        n_constrained=int(n_c),
        n_partitions=n_part,
        always_together=tuple(always),
        never_together=tuple(never),
        forced_by_design=tuple(forced),
        warnings=tuple(warnings),
    )


__all__ = ["MIN_CONSTRAINED", "ValidityReport", "count_partitions", "validity_report"]
