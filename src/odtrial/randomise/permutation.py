"""Clustered permutation test over the constrained space (as R's cvcrand::cptest).

1. Fit a GLM of the outcome on the adjustment covariates *without*
   treatment (binomial, gaussian or poisson).
2. Take response-scale residuals (y - fitted) and average them per cluster.
3. For every allocation in the constrained space, the statistic is the mean
   cluster residual in the first arm minus that in the second.
4. The two-sided p-value is the share of allocations whose |statistic| is at
   least the observed one (the observed allocation is in the space, so p > 0).

Under the null of no effect the residuals do not depend on the allocation,
so the test is exact with respect to the randomisation actually used
(Moulton 2004; Li et al., Stat Med 2016).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from odtrial._words import count
from odtrial.errors import RandomisationError
from odtrial.models.design import build_design

# statsmodels family classes by name; imported when used so the CLI starts fast.
FAMILIES = ("binomial", "gaussian", "poisson")


@dataclass(frozen=True)
class PermutationResult:
    """Observed statistic, permutation p-value and the null distribution."""

    statistic: float  # mean cluster residual, first arm minus second
    pvalue: float
    n_allocations: int
    family: str
    covariates: tuple[str, ...]
    arms: tuple[str, str]
    null_statistics: np.ndarray

    def to_dict(self) -> dict[str, object]:
        return {
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "n_allocations": self.n_allocations,
            "family": self.family,
            "covariates": list(self.covariates),
            "arms": list(self.arms),
            "residuals": "response",
        }


def _space_frame(space: object, arms: Sequence[str] | None) -> tuple[pd.DataFrame, tuple[str, str]]:
    from odtrial.randomise.allocate import ConstrainedAllocation
    from odtrial.randomise.log import load_constrained_space

    if isinstance(space, str | Path):
        frame, verified = load_constrained_space(space)
        return frame, verified.arms
    if isinstance(space, ConstrainedAllocation):
        return space.constrained_frame(), space.arms
    if isinstance(space, pd.DataFrame):
        if arms is None or len(arms) != 2:
            raise RandomisationError("with a space given as a table, pass arms=(first, second)")
        return space, (str(arms[0]), str(arms[1]))
    raise RandomisationError(
        f"space must be an allocation directory, a ConstrainedAllocation or a DataFrame (got {type(space).__name__})"
    )


def permutation_test(
    data: pd.DataFrame,
    *,
    outcome: str,
    cluster: str,
    arm: str,
    space: str | Path | pd.DataFrame | object,
    covariates: Sequence[str] = (),
    family: str = "binomial",
    arms: Sequence[str] | None = None,
) -> PermutationResult:
    """Clustered permutation test of the arm effect over the constrained space.

    Parameters
    ----------
    data
        Individual-level data: outcome, cluster, arm and covariates, no missing values.
    outcome, cluster, arm
        Column names.
    space
        The randomisation directory written by ``odtrial randomise`` (verified first),
        a :class:`~odtrial.randomise.allocate.ConstrainedAllocation`, or a table with one
        0/1 column per cluster (1 = first arm; pass ``arms``).
    covariates
        Right-hand-side terms of the residual model, e.g. ``["C(stratum)", "age"]``.
    family
        ``binomial``, ``gaussian`` or ``poisson``.
    """
    if family not in FAMILIES:
        raise RandomisationError(f"family must be one of {', '.join(FAMILIES)} (got {family!r})")
    frame, arms_t = _space_frame(space, arms)
    for col in (outcome, cluster, arm):
        if col not in data.columns:
            raise RandomisationError(f"column {col!r} is not in the data")
    n_obs = len(data)
    if n_obs == 0 or data[cluster].nunique() < 2:
        raise RandomisationError(
            f"the test needs data from at least 2 clusters (got {count(n_obs, 'row')} from "
            f"{count(int(data[cluster].nunique()), 'cluster')})"
        )
    rhs = " + ".join(covariates) if covariates else "1"
    design = build_design(f"{outcome} ~ {rhs}", data, cluster=cluster, extra=(arm,))
    import statsmodels.api as sm

    fam = {
        "binomial": sm.families.Binomial,
        "gaussian": sm.families.Gaussian,
        "poisson": sm.families.Poisson,
    }
    fit = sm.GLM(design.y, design.X, family=fam[family]()).fit()
    resid = design.y - fit.fittedvalues
    labels = [str(c) for c in design.cluster_labels]
    cluster_mean = np.bincount(design.cluster, weights=resid) / np.bincount(design.cluster)

    arm_of = data.groupby(data[cluster].astype(str))[arm].agg(
        lambda s: s.astype(str).unique().tolist()
    )
    mixed = [c for c, a in arm_of.items() if len(a) != 1]
    if mixed:
        raise RandomisationError(
            f"cluster {mixed[0]!r} has people in both arms; the test needs one arm per cluster"
        )
    unknown = sorted({a[0] for a in arm_of} - set(arms_t))
    if unknown:
        raise RandomisationError(
            f"arm {unknown[0]!r} in the data is not one of the allocated arms {list(arms_t)}"
        )
    missing = [c for c in labels if c not in frame.columns]
    if missing:
        raise RandomisationError(
            f"cluster {missing[0]!r} in the data is not in the constrained space"
        )
    alloc = frame[labels].to_numpy(dtype=float)  # clusters with no data are left out
    observed = np.array([1.0 if arm_of[c][0] == arms_t[0] else 0.0 for c in labels])
    match = np.all(alloc == observed, axis=1)
    if not match.any():
        raise RandomisationError(
            "the arms in the data are not an allocation of the constrained space"
        )
    if "chosen" in frame.columns and not match[frame["chosen"].to_numpy(dtype=bool)].any():
        raise RandomisationError(
            "the arms in the data differ from the allocation chosen at randomisation"
        )
    n1 = alloc.sum(axis=1)
    n0 = alloc.shape[1] - n1
    if np.any(n1 == 0) or np.any(n0 == 0):
        raise RandomisationError(
            "an allocation puts every cluster with data in one arm; the test cannot run"
        )
    stats_ = (alloc @ cluster_mean) / n1 - ((1 - alloc) @ cluster_mean) / n0
    obs = float(stats_[np.flatnonzero(match)[0]])
    # A relative tolerance so that allocations tied with the observed one in
    # exact arithmetic are counted despite rounding.
    tol = 1e-10 * max(1.0, float(np.max(np.abs(stats_))))
    p = float(np.mean(np.abs(stats_) >= abs(obs) - tol))
    stats_.flags.writeable = False
    return PermutationResult(
        statistic=obs,
        pvalue=p,
        n_allocations=len(stats_),
        family=family,
        covariates=tuple(covariates),
        arms=arms_t,
        null_statistics=stats_,
    )


__all__ = ["FAMILIES", "PermutationResult", "permutation_test"]
