"""Analytic sample size and power for a two-arm parallel cluster randomised trial.

The outcome gives an effect ``Δ`` and a per-person variance sum ``V`` (both
arms together) under individual randomisation:

===========  ====================  ==============================
outcome      Δ                     V
===========  ====================  ==============================
binary       p1 − p0               p0(1 − p0) + p1(1 − p1)
continuous   delta                 2 sd²
count        rate1 − rate0         (rate0 + rate1) / followup
                                   + (rate0² + rate1²) / theta
===========  ====================  ==============================

For counts, ``theta`` is the negative binomial (NB2) dispersion of a
person's count over follow-up (variance μ + μ²/θ, μ = rate × followup);
``theta=None`` is Poisson. Bed days and admissions are far more variable
than Poisson, and planning them as Poisson overstates power.

Unclustered, ``n = (z_{1−α/2} + z_{1−β})² V / Δ²`` people per arm. For
clusters of mean size ``m`` (recruited) of whom a fraction ``attrition``
is lost, ``m_a = m(1 − attrition)`` are analysed per cluster, and the
variance of the effect estimate with ``k`` clusters per arm is
``V · DE / (k m_a)`` with the design effect for unequal cluster sizes
(Eldridge, Ashby & Kerry, IJE 2006;35:1292)::

    DE = 1 + ((cv² + 1) m_a − 1) ρ

where ``cv`` is the coefficient of variation of cluster sizes and ``ρ`` the
ICC (on the proportion scale for binary outcomes). ``cv`` is applied to the
analysed sizes as given (attrition thins clusters at random, which raises
the cv of analysed sizes only slightly).

Small-sample corrections (``correction``):

``"t"`` (default)
    Power from a noncentral t with ``2k − 2`` degrees of freedom (a
    cluster-level analysis's df): ``P(|T| > t_{1−α/2, 2k−2})`` with
    noncentrality ``|Δ| / SE``; the smallest ``k`` reaching the target.
``"plus-one"``
    The normal-theory ``k`` plus one cluster per arm.
``"none"``
    Normal theory: power ``Φ(|Δ|/SE − z_{1−α/2})``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy import stats

from odtrial.errors import DesignError

Correction = Literal["t", "plus-one", "none"]
CORRECTIONS: tuple[str, ...] = ("t", "plus-one", "none")
CORRECTION_NOTES = {
    "t": "t distribution with 2k-2 degrees of freedom (noncentral t power)",
    "plus-one": "normal-theory clusters per arm plus one cluster per arm",
    "none": "none (normal theory)",
}
MAX_CLUSTERS = 100_000


@dataclass(frozen=True)
class Outcome:
    """The outcome and the effect to detect.

    Give exactly one group: ``p0, p1`` (binary), ``delta, sd`` (continuous)
    or ``rate0, rate1`` (count: events per person per unit of follow-up;
    ``followup`` units per person; ``theta`` the NB2 dispersion of a person's
    count, None for Poisson).
    """

    kind: Literal["binary", "continuous", "count"]
    p0: float | None = None
    p1: float | None = None
    delta: float | None = None
    sd: float | None = None
    rate0: float | None = None
    rate1: float | None = None
    followup: float = 1.0
    theta: float | None = None

    @classmethod
    def from_options(
        cls,
        *,
        p0: float | None = None,
        p1: float | None = None,
        delta: float | None = None,
        sd: float | None = None,
        rate0: float | None = None,
        rate1: float | None = None,
        followup: float = 1.0,
        theta: float | None = None,
    ) -> Outcome:
        """Infer the kind from which pair of options was given."""
        groups = {
            "binary": (p0, p1),
            "continuous": (delta, sd),
            "count": (rate0, rate1),
        }
        given = [k for k, (a, b) in groups.items() if a is not None or b is not None]
        if len(given) != 1:
            raise DesignError(
                "give exactly one outcome: --p0 and --p1 (binary), --delta and --sd (continuous) "
                f"or --rate0 and --rate1 (count); got {', '.join(given) or 'none'}"
            )
        kind = given[0]
        a, b = groups[kind]
        if a is None or b is None:
            names = {
                "binary": "--p0 and --p1",
                "continuous": "--delta and --sd",
                "count": "--rate0 and --rate1",
            }
            raise DesignError(f"a {kind} outcome needs both {names[kind]}")
        out = cls(
            kind=kind,  # type: ignore[arg-type]
            p0=p0,
            p1=p1,
            delta=delta,
            sd=sd,
            rate0=rate0,
            rate1=rate1,
            followup=followup,
            theta=theta,
        )
        if theta is not None and kind != "count":
            raise DesignError("--theta (overdispersion) applies to a count outcome only")
        out.effect_and_variance()  # validates
        return out

    def effect_and_variance(self) -> tuple[float, float]:
        """``(Δ, V)``: the effect and the per-person variance summed over both arms."""
        if self.kind == "binary":
            p0, p1 = float(self.p0), float(self.p1)  # type: ignore[arg-type]
            if not (0 < p0 < 1 and 0 < p1 < 1):
                raise DesignError(f"--p0 and --p1 must be proportions in (0, 1) (got {p0}, {p1})")
            if p0 == p1:
                raise DesignError("--p0 equals --p1: there is no effect to detect")
            return p1 - p0, p0 * (1 - p0) + p1 * (1 - p1)
        if self.kind == "continuous":
            d, sd = float(self.delta), float(self.sd)  # type: ignore[arg-type]
            if not sd > 0:
                raise DesignError(f"--sd must be positive (got {sd})")
            if d == 0:
                raise DesignError("--delta is 0: there is no effect to detect")
            return d, 2 * sd**2
        r0, r1 = float(self.rate0), float(self.rate1)  # type: ignore[arg-type]
        if not (r0 > 0 and r1 > 0):
            raise DesignError(f"--rate0 and --rate1 must be positive (got {r0}, {r1})")
        if r0 == r1:
            raise DesignError("--rate0 equals --rate1: there is no effect to detect")
        if not self.followup > 0:
            raise DesignError(f"--followup must be positive (got {self.followup})")
        v = (r0 + r1) / self.followup
        if self.theta is not None:
            if not self.theta > 0:
                raise DesignError(f"--theta must be positive (got {self.theta})")
            v += (r0 * r0 + r1 * r1) / self.theta
        return r1 - r0, v


@dataclass(frozen=True)
class PowerResult:
    """Sample size and power of a cluster trial (analytic or simulated)."""

    outcome: str
    method: str
    design_effect: float
    n_individual_per_arm: int  # people per arm analysed, individual randomisation, no clustering
    n_individual_exact: float  # the same before rounding up
    clusters_per_arm: int
    cluster_size: float  # mean recruited per cluster
    cluster_size_analysed: float  # after attrition
    n_recruited_per_arm: int  # clusters_per_arm * cluster_size, rounded up
    power: float
    target_power: float | None
    alpha: float
    icc: float
    cv: float
    attrition: float
    correction: str
    correction_note: str
    mc_se: float | None = None
    nsim: int | None = None
    n_failed: int | None = None
    seed: int | None = None
    fitter: str | None = None
    n_strata: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def design_effect(cluster_size: float, icc: float, cv: float = 0.0) -> float:
    """Design effect for clusters of mean size ``m`` and size CV (Eldridge et al. 2006).

    Examples
    --------
    >>> round(design_effect(20, 0.05), 4)  # equal sizes: 1 + (m - 1) rho
    1.95
    >>> round(design_effect(20, 0.05, cv=0.65), 4)
    2.3725
    """
    return 1.0 + ((cv**2 + 1.0) * cluster_size - 1.0) * icc


def _z(q: float) -> float:
    return float(stats.norm.ppf(q))


def _check(icc: float, cluster_size: float, cv: float, attrition: float, alpha: float) -> None:
    if not 0 <= icc < 1:
        raise DesignError(f"--icc must be in [0, 1) (got {icc})")
    if not cluster_size >= 1:
        raise DesignError(f"--cluster-size must be at least 1 (got {cluster_size})")
    if not cv >= 0:
        raise DesignError(f"--cv must be non-negative (got {cv})")
    if not 0 <= attrition < 1:
        raise DesignError(f"--attrition must be in [0, 1) (got {attrition})")
    if not 0 < alpha < 1:
        raise DesignError(f"--alpha must be in (0, 1) (got {alpha})")


def power_at(
    k: int,
    *,
    effect: float,
    variance: float,
    de: float,
    m_analysed: float,
    alpha: float,
    correction: str,
) -> float:
    """Power with ``k`` clusters per arm under the chosen small-sample correction."""
    if correction == "plus-one":
        k_eff = k - 1
        if k_eff < 1:
            return 0.0
        correction = "none"
    else:
        k_eff = k
    se = math.sqrt(variance * de / (k_eff * m_analysed))
    ncp = abs(effect) / se
    if correction == "none":
        return float(stats.norm.cdf(ncp - _z(1 - alpha / 2)))
    df = 2 * k - 2
    if df < 1:
        return 0.0
    tc = float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.nct.sf(tc, df, ncp) + stats.nct.cdf(-tc, df, ncp))


def analytic_power(
    outcome: Outcome,
    *,
    icc: float,
    cluster_size: float,
    cv: float = 0.0,
    attrition: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    clusters_per_arm: int | None = None,
    correction: str = "t",
) -> PowerResult:
    """Clusters per arm for the target ``power``, or power given ``clusters_per_arm``.

    Examples
    --------
    >>> r = analytic_power(Outcome(kind="continuous", delta=0.5, sd=1.0), icc=0.05,
    ...                    cluster_size=20, correction="none")
    >>> r.n_individual_per_arm, round(r.design_effect, 2), r.clusters_per_arm
    (63, 1.95, 7)
    """
    _check(icc, cluster_size, cv, attrition, alpha)
    if correction not in CORRECTIONS:
        raise DesignError(
            f"--correction must be one of {', '.join(CORRECTIONS)} (got {correction!r})"
        )
    if clusters_per_arm is None and not 0 < power < 1:
        raise DesignError(f"--power must be in (0, 1) (got {power})")
    effect, variance = outcome.effect_and_variance()
    m_a = cluster_size * (1.0 - attrition)
    de = design_effect(m_a, icc, cv)
    n_exact = (_z(1 - alpha / 2) + _z(power)) ** 2 * variance / effect**2
    kwargs: dict[str, Any] = {
        "effect": effect,
        "variance": variance,
        "de": de,
        "m_analysed": m_a,
        "alpha": alpha,
        "correction": correction,
    }
    if clusters_per_arm is not None:
        if (
            isinstance(clusters_per_arm, bool)
            or int(clusters_per_arm) != clusters_per_arm
            or clusters_per_arm < 2
        ):
            raise DesignError(
                f"--clusters-per-arm must be an integer of at least 2 (got {clusters_per_arm})"
            )
        k = int(clusters_per_arm)
        target: float | None = None
    else:
        # Normal theory gives the smallest k; corrections only ever add clusters.
        k = max(2, math.ceil(n_exact * de / m_a - 1e-9))
        while power_at(k, **kwargs) < power:
            k += 1
            if k > MAX_CLUSTERS:
                raise DesignError(
                    f"more than {MAX_CLUSTERS} clusters per arm needed; check the inputs"
                )
        target = power
    achieved = power_at(k, **kwargs)
    return PowerResult(
        outcome=outcome.kind,
        method="analytic",
        design_effect=de,
        n_individual_per_arm=math.ceil(n_exact - 1e-9),
        n_individual_exact=n_exact,
        clusters_per_arm=k,
        cluster_size=float(cluster_size),
        cluster_size_analysed=m_a,
        n_recruited_per_arm=math.ceil(k * cluster_size - 1e-9),
        power=achieved,
        target_power=target,
        alpha=alpha,
        icc=icc,
        cv=cv,
        attrition=attrition,
        correction=correction,
        correction_note=CORRECTION_NOTES[correction],
    )


__all__ = [
    "CORRECTIONS",
    "Outcome",
    "PowerResult",
    "analytic_power",
    "design_effect",
    "power_at",
]
