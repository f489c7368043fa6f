"""Covariate-constrained cluster randomisation, its tamper-evident log and the
clustered permutation test over the constrained space."""

from __future__ import annotations

from odtrial.randomise.allocate import ConstrainedAllocation, cluster_table, constrained
from odtrial.randomise.log import VerifiedAllocation, verify_allocation
from odtrial.randomise.permutation import PermutationResult, permutation_test

__all__ = [
    "ConstrainedAllocation",
    "PermutationResult",
    "VerifiedAllocation",
    "cluster_table",
    "constrained",
    "permutation_test",
    "verify_allocation",
]
