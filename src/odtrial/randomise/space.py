"""The space of stratified 1:1 allocations of clusters to two arms.

An allocation is a row of 0/1 (1 = the first arm) over the clusters, in a
fixed cluster order. Within each stratum half the clusters get the first
arm; an odd stratum is split as evenly as possible, both ways (3 clusters:
1 or 2 to the first arm), so an allocation's mirror image is always in the
space.

When the number of stratified allocations is manageable the space is
enumerated in a fixed (lexicographic) order; otherwise a seeded sample of
distinct allocations is drawn, uniformly over the stratified space. Neither
depends on dict/set iteration order or hash randomisation.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from odtrial.errors import RandomisationError

#: Enumerate the whole stratified space up to this many allocations.
MAX_ENUMERATE = 1_000_000
#: Distinct allocations drawn when the space is too large to enumerate.
N_SAMPLE = 100_000


@dataclass(frozen=True)
class AllocationSpace:
    """Candidate allocations: ``allocations[i, j] == 1`` puts cluster j in the first arm."""

    cluster_ids: tuple[str, ...]
    strata: tuple[str, ...]  # stratum of each cluster, same order
    allocations: np.ndarray  # (n, G) uint8, read-only
    enumerated: bool
    n_stratified: int  # number of stratified allocations in all (exact)
    equal_arms: bool = False  # only allocations with arm totals differing by at most one

    @property
    def size(self) -> int:
        return int(self.allocations.shape[0])


def stratum_groups(strata: Sequence[str]) -> list[np.ndarray]:
    """Cluster positions of each stratum, strata in sorted label order."""
    labels = np.asarray(strata, dtype=object)
    return [np.flatnonzero(labels == s) for s in sorted(set(strata))]


def _first_arm_counts(n: int) -> tuple[int, ...]:
    return (n // 2,) if n % 2 == 0 else (n // 2, n // 2 + 1)


def count_stratified(sizes: Sequence[int], *, equal_arms: bool = False) -> int:
    """Number of stratified 1:1 allocations for strata of these sizes.

    With ``equal_arms`` only allocations whose arm totals differ by at most
    one are counted.

    Examples
    --------
    >>> count_stratified([4, 4])  # C(4,2)^2
    36
    >>> count_stratified([3])  # 1 or 2 of 3 to the first arm
    6
    >>> count_stratified([3, 3], equal_arms=True)  # 1+2 or 2+1: 2 * (3 * 3)
    18
    """
    # ways[t] = number of allocations of the strata so far with t in the first arm
    ways = [1]
    for n in sizes:
        new = [0] * (len(ways) + n)
        for t, w in enumerate(ways):
            if w:
                for k in _first_arm_counts(n):
                    new[t + k] += w * math.comb(n, k)
        ways = new
    if not equal_arms:
        return sum(ways)
    n_all = sum(sizes)
    return sum(ways[t] for t in {n_all // 2, (n_all + 1) // 2})


def stratum_patterns(n: int) -> np.ndarray:
    """Every within-stratum pattern of a stratum of ``n`` clusters, in lexicographic order."""
    rows = []
    for k in _first_arm_counts(n):
        for chosen in itertools.combinations(range(n), k):
            row = np.zeros(n, dtype=np.uint8)
            row[list(chosen)] = 1
            rows.append(row)
    return np.array(rows, dtype=np.uint8)


def _enumerate(groups: list[np.ndarray], n_clusters: int) -> np.ndarray:
    out = np.zeros((1, n_clusters), dtype=np.uint8)
    for idx in groups:
        pats = stratum_patterns(len(idx))
        # Cartesian product: every existing row with every pattern of this stratum.
        out = np.repeat(out, len(pats), axis=0)
        out[:, idx] = np.tile(pats, (len(out) // len(pats), 1))
    return out


def _row_keys(allocs: np.ndarray) -> np.ndarray:
    """One unsigned integer per row (two or more columns past 64 clusters) for fast de-duplication."""
    packed = np.packbits(allocs, axis=1)
    width = -(-packed.shape[1] // 8) * 8
    padded = np.zeros((len(allocs), width), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    keys = padded.view(">u8")
    return keys[:, 0] if keys.shape[1] == 1 else keys


def _equal(allocs: np.ndarray) -> np.ndarray:
    """Rows whose arm totals differ by at most one."""
    return np.abs(2 * allocs.sum(axis=1, dtype=np.int64) - allocs.shape[1]) <= 1


def _sample(
    groups: list[np.ndarray],
    n_clusters: int,
    n_sample: int,
    rng: np.random.Generator,
    equal_arms: bool = False,
) -> np.ndarray:
    """Distinct allocations drawn uniformly from the stratified space, in order of first draw."""
    batches: list[np.ndarray] = []
    n_drawn = 0
    batch = max(1024, n_sample // 4)
    while True:
        draws = np.zeros((batch, n_clusters), dtype=np.uint8)
        for idx in groups:
            n = len(idx)
            ks = _first_arm_counts(n)
            k = np.full(batch, ks[0]) if len(ks) == 1 else rng.choice(np.array(ks), size=batch)
            # k ones then zeros, each row shuffled independently: a uniform subset of size k.
            base = (np.arange(n)[None, :] < k[:, None]).astype(np.uint8)
            draws[:, idx] = rng.permuted(base, axis=1)
        if equal_arms:
            draws = draws[_equal(draws)]  # rejection keeps the draw uniform on the subset
        batches.append(draws)
        n_drawn += len(draws)
        if n_drawn < n_sample:
            continue
        allocs = np.concatenate(batches)
        _, first = np.unique(_row_keys(allocs), axis=0, return_index=True)
        if len(first) >= n_sample:
            return allocs[np.sort(first)[:n_sample]]


def build_space(
    cluster_ids: Sequence[str],
    strata: Sequence[str],
    *,
    rng: np.random.Generator,
    max_enumerate: int = MAX_ENUMERATE,
    n_sample: int = N_SAMPLE,
    equal_arms: bool = False,
) -> AllocationSpace:
    """Enumerate, or sample, the stratified allocations of these clusters.

    Parameters
    ----------
    cluster_ids, strata
        Cluster identifiers and the stratum of each (same order).
    rng
        Used only when the space is sampled.
    max_enumerate
        Enumerate when the stratified space has at most this many allocations.
    n_sample
        Otherwise draw this many distinct allocations (at least 100,000 by default).
    equal_arms
        Keep only allocations whose arm totals differ by at most one (with odd
        strata split both ways the totals can otherwise differ by more).
    """
    if n_sample < 1 or 2 * n_sample > max_enumerate:
        # Sampling is used only for spaces larger than max_enumerate, so at
        # most half of the space is ever drawn and distinct draws come quickly.
        raise RandomisationError(
            f"n_sample ({n_sample}) must be between 1 and half of max_enumerate ({max_enumerate})"
        )
    groups = stratum_groups(strata)
    sizes = [len(g) for g in groups]
    total = count_stratified(sizes, equal_arms=equal_arms)
    n = len(cluster_ids)
    if count_stratified(sizes) <= max_enumerate:
        allocs = _enumerate(groups, n)
        if equal_arms:
            allocs = allocs[_equal(allocs)]
        enumerated = True
    elif total < 2 * n_sample:
        raise RandomisationError(
            f"only {total} allocations have equal arms but the stratified space is too large to enumerate; raise max_enumerate"
        )
    else:
        allocs = _sample(groups, n, n_sample, rng, equal_arms)
        enumerated = False
    allocs.flags.writeable = False
    return AllocationSpace(
        cluster_ids=tuple(cluster_ids),
        strata=tuple(strata),
        allocations=allocs,
        enumerated=enumerated,
        n_stratified=total,
        equal_arms=equal_arms,
    )


__all__ = [
    "MAX_ENUMERATE",
    "N_SAMPLE",
    "AllocationSpace",
    "build_space",
    "count_stratified",
    "stratum_groups",
    "stratum_patterns",
]
