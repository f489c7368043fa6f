"""Covariate-constrained cluster randomisation, its tamper-evident log and the
clustered permutation test over the constrained space."""

from __future__ import annotations

from typing import TYPE_CHECKING

from odtrial._lazy import lazy_getattr

if TYPE_CHECKING:
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

_EXPORTS = {
    "ConstrainedAllocation": "allocate",
    "PermutationResult": "permutation",
    "VerifiedAllocation": "log",
    "cluster_table": "allocate",
    "constrained": "allocate",
    "permutation_test": "permutation",
    "verify_allocation": "log",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
