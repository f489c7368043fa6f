"""The plan's sample size as data, and the statement computed from it.

``[design.sample_size]`` in the plan holds the inputs of the calculation (the
outcome type and effect, ICC, mean cluster size and its CV, attrition, alpha,
the small-sample correction) and what the plan claims (``clusters_per_arm``
and/or ``power``). The numbers are computed by
:func:`odtrial.design.analytic.analytic_power`, exactly what ``odtrial power``
uses, and the plan is refused when a claim disagrees with the computation:

* ``power`` stated with ``clusters_per_arm``: the computed power with that
  many clusters per arm must be within :data:`POWER_TOLERANCE` of it, and the
  clusters per arm the computation needs for that power within
  :data:`CLUSTER_TOLERANCE` of the stated number;
* only ``clusters_per_arm``: the power is computed and stated;
* only ``power``: the clusters per arm are computed and stated.

``target_power`` (with ``clusters_per_arm``) adds what that power would need
and the smallest effect the design detects with it. The report's sample-size
paragraph is :meth:`SampleSize.statement` of the inputs recorded in
``results.json`` (``design.sample_size``), so plan, report and ``odtrial
power`` cannot disagree.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Final

from odtrial.errors import DesignError, PlanError

if TYPE_CHECKING:
    from odtrial.design.analytic import Outcome as DesignOutcome
    from odtrial.design.analytic import PowerResult
    from odtrial.plan.schema import Errors

POWER_TOLERANCE: Final = 0.02
CLUSTER_TOLERANCE: Final = 1
_PARAMETERS: Final = {
    "binary": ("p0", "p1"),
    "continuous": ("delta", "sd"),
    "count": ("rate0", "rate1"),
}
_OPTIONAL: Final = {"binary": (), "continuous": (), "count": ("followup", "theta")}


@dataclass(frozen=True)
class SampleSize:
    """The inputs of ``[design.sample_size]`` (see the module notes); defaults as ``odtrial power``."""

    type: str
    icc: float
    cluster_size: float
    outcome: str | None = None
    p0: float | None = None
    p1: float | None = None
    delta: float | None = None
    sd: float | None = None
    rate0: float | None = None
    rate1: float | None = None
    followup: float | None = None
    theta: float | None = None
    cluster_size_cv: float = 0.0
    attrition: float = 0.0
    alpha: float = 0.05
    method: str = "analytic"
    correction: str = "t"
    clusters_per_arm: int | None = None
    power: float | None = None
    target_power: float | None = None
    rationale: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SampleSize:
        """From the plan's table (already schema-checked) or ``results.json``'s copy of it."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise PlanError(f"design.sample_size: key {unknown[0]!r} is not a known key")
        kw = {k: v for k, v in data.items() if v is not None}
        try:
            return cls(**kw)
        except TypeError as e:  # a required input absent
            raise PlanError(f"design.sample_size: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        """The inputs with the defaults filled in (what ``results.json`` records)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    # -- the computation ---------------------------------------------------------------

    def design_outcome(self, **change: float) -> DesignOutcome:
        from odtrial.design.analytic import Outcome

        pars = {k: getattr(self, k) for k in _PARAMETERS[self.type]} | change
        extra: dict[str, Any] = {}
        if self.type == "count":
            extra = {"followup": 1.0 if self.followup is None else self.followup}
            extra["theta"] = self.theta
        return Outcome(kind=self.type, **pars, **extra)  # type: ignore[arg-type]

    def _power(self, outcome: DesignOutcome, **kw: Any) -> PowerResult:
        from odtrial.design.analytic import analytic_power

        return analytic_power(
            outcome,
            icc=self.icc,
            cluster_size=self.cluster_size,
            cv=self.cluster_size_cv,
            attrition=self.attrition,
            alpha=self.alpha,
            correction=self.correction,
            **kw,
        )

    def compute(self) -> Computed:
        """Power at the stated clusters per arm (or the clusters for the stated power),
        the clusters the stated or target power needs, and the smallest detectable effect."""
        out = self.design_outcome()
        if self.clusters_per_arm is not None:
            at = self._power(out, clusters_per_arm=self.clusters_per_arm)
        else:
            assert self.power is not None
            at = self._power(out, power=self.power)
        needed_for = self.target_power if self.target_power is not None else self.power
        needed = None
        if self.clusters_per_arm is not None and needed_for is not None:
            needed = self._power(out, power=needed_for)
        detectable = None
        if self.clusters_per_arm is not None and self.target_power is not None:
            detectable = self.detectable(self.clusters_per_arm, self.target_power)
        return Computed(self, at, needed, detectable)

    def detectable(self, clusters_per_arm: int, power: float) -> float | None:
        """The smallest effect (``p1``, ``delta`` or ``rate1``, on the stated side) that
        ``clusters_per_arm`` clusters per arm detect with ``power``; None if none does."""
        key = {"binary": "p1", "continuous": "delta", "count": "rate1"}[self.type]
        base = {"binary": self.p0, "continuous": 0.0, "count": self.rate0}[self.type]
        assert base is not None
        stated = float(getattr(self, key))
        up = stated > base

        def pw(x: float) -> float:
            return self._power(
                self.design_outcome(**{key: x}), clusters_per_arm=clusters_per_arm
            ).power

        near = base
        if self.type == "binary":
            far = 1 - 1e-9 if up else 1e-9
        elif self.type == "count" and not up:
            far = base * 1e-9
        else:  # unbounded side: widen until the power is reached
            step = abs(stated - base) or 1.0
            far = base + (step if up else -step)
            while pw(far) < power:
                step *= 2
                far = base + (step if up else -step)
                if step > 1e12:
                    return None
        if pw(far) < power:
            return None
        for _ in range(80):
            mid = (near + far) / 2
            if mid in (near, far):
                break
            if pw(mid) >= power:
                far = mid
            else:
                near = mid
        return far

    # -- words -------------------------------------------------------------------------

    def effect_text(self, value: float | None = None) -> str:
        """The effect in words, ``value`` replacing the intervention arm's parameter."""
        if self.type == "binary":
            p0, p1 = float(self.p0), float(self.p1 if value is None else value)  # type: ignore[arg-type]
            way = "an increase" if p1 > p0 else "a decrease"
            return f"{way} from {_pct(p0)} to {_pct(p1)}"
        if self.type == "continuous":
            d = float(self.delta if value is None else value)  # type: ignore[arg-type]
            return f"a difference in means of {_num(d)} (SD {_num(float(self.sd))}, {_num(abs(d) / float(self.sd))} SD)"  # type: ignore[arg-type]
        r0, r1 = float(self.rate0), float(self.rate1 if value is None else value)  # type: ignore[arg-type]
        per = (
            f"per person over {_num(self.followup)} units of follow-up"
            if self.followup
            else "per person"
        )
        disp = f", negative binomial dispersion {_num(self.theta)}" if self.theta else ", Poisson"
        return f"a change in the event rate from {_num(r0)} to {_num(r1)} {per}{disp}"

    def command(self) -> str:
        """The ``odtrial power`` command line that gives the same numbers."""
        args = ["odtrial", "power"]
        for k in _PARAMETERS[self.type] + _OPTIONAL[self.type]:
            v = getattr(self, k)
            if v is not None:
                args += [f"--{k}", _num(v, 12)]
        args += ["--icc", _num(self.icc, 12), "--cluster-size", _num(self.cluster_size, 12)]
        args += ["--cv", _num(self.cluster_size_cv, 12), "--attrition", _num(self.attrition, 12)]
        args += ["--alpha", _num(self.alpha, 12), "--correction", self.correction]
        if self.clusters_per_arm is not None:
            args += ["--clusters-per-arm", str(self.clusters_per_arm)]
        elif self.power is not None:
            args += ["--power", _num(self.power, 12)]
        return shlex.join(args)

    def statement(self, outcome_label: str | None = None) -> str:
        """The sample-size paragraph (computed; see :meth:`compute`)."""
        return self.compute().text(outcome_label)


@dataclass(frozen=True)
class Computed:
    """What :meth:`SampleSize.compute` found."""

    inputs: SampleSize
    at: PowerResult  # at the stated clusters per arm, or solved for the stated power
    needed: PowerResult | None  # clusters for the target (or stated) power, when k is stated
    detectable: float | None  # smallest effect detected with the target power at k

    def disagreements(self) -> list[str]:
        """The claims of the plan the computation contradicts (empty when they agree)."""
        s, out = self.inputs, list[str]()
        if s.clusters_per_arm is None or s.power is None:
            return out
        if abs(self.at.power - s.power) > POWER_TOLERANCE:
            out.append(
                f"states power {s.power:g} with {s.clusters_per_arm} clusters per arm, but the "
                f"computation gives {self.at.power:.3f} ({s.command()})"
            )
        need = self.inputs._power(s.design_outcome(), power=s.power).clusters_per_arm
        if abs(need - s.clusters_per_arm) > CLUSTER_TOLERANCE:
            out.append(
                f"states {s.clusters_per_arm} clusters per arm for power {s.power:g}, but the "
                f"computation needs {need} ({replace(s, clusters_per_arm=None).command()})"
            )
        return out

    def text(self, outcome_label: str | None = None) -> str:
        s, r = self.inputs, self.at
        k = r.clusters_per_arm
        what = f"{outcome_label} (a {s.type} outcome)" if outcome_label else f"a {s.type} outcome"
        clusters = (
            f"{k} clusters per arm ({2 * k} in all), with a mean of {_num(s.cluster_size)} "
            "participants recruited per cluster (coefficient of variation of cluster sizes "
            f"{_num(s.cluster_size_cv)}; {r.n_recruited_per_arm} per arm, "
            f"{2 * r.n_recruited_per_arm} in all)"
        )
        assumed = (
            f"Assuming {_pct(s.attrition)} loss to follow-up ({_num(r.cluster_size_analysed)} "
            f"analysed per cluster) and an ICC of {_num(s.icc)}, the design effect for unequal "
            f"cluster sizes is {r.design_effect:.2f} (Eldridge, Ashby & Kerry 2006)."
        )
        how = f"two-sided alpha {_num(s.alpha)}, {_correction_text(s.correction, k)}"
        if s.clusters_per_arm is not None:
            parts = [
                f"The calculation is for {what}. The trial has {clusters}.",
                assumed,
                f"At {how}, this gives {_pct(r.power)} power to detect {s.effect_text()}.",
            ]
        else:
            parts = [
                f"The calculation is for {what}.",
                assumed,
                f"To detect {s.effect_text()} with {_pct(float(s.power))} power at {how}, "  # type: ignore[arg-type]
                f"the trial needs {clusters}; its power is then {_pct(r.power)}.",
            ]
        if s.target_power is not None and self.needed is not None:
            n = self.needed
            parts.append(
                f"{_pct(s.target_power)} power for that effect would need {n.clusters_per_arm} "
                f"clusters per arm ({n.n_recruited_per_arm} recruited per arm)"
                + (
                    f"; with {k} clusters per arm, {_pct(s.target_power)} power is reached for "
                    f"{s.effect_text(self.detectable)}."
                    if self.detectable is not None
                    else f"; no effect of that kind reaches it with {k} clusters per arm."
                )
            )
        if s.rationale:
            parts.append(s.rationale.strip())
        return " ".join(parts)


def _correction_text(correction: str, k: int) -> str:
    if correction == "t":
        return f"with power from a noncentral t distribution on {2 * k - 2} degrees of freedom (2k - 2)"
    if correction == "plus-one":
        return "with one cluster per arm added to the normal-theory number"
    return "by normal theory without a small-sample correction"


def _num(x: float | None, digits: int = 4) -> str:
    """A number without trailing zeros (``20``, ``0.6``, ``0.05``)."""
    if x is None:
        return ""
    return f"{float(x):.{digits}g}"


def _pct(x: float) -> str:
    """A proportion as a percentage with at most one decimal (``40%``, ``57.9%``)."""
    t = f"{100 * float(x):.1f}"
    return (t[:-2] if t.endswith(".0") else t) + "%"


# -- the plan rule ------------------------------------------------------------------------


def check_sample_size(raw: Mapping[str, Any], errs: Errors) -> None:
    """Rule for :func:`odtrial.plan.schema.validate`: the inputs are complete for their
    type, name a plan outcome of that type, and the claims agree with the computation."""
    path = "design.sample_size"
    before = len(errs.lines)
    d = raw["design"]["sample_size"]
    kind = d["type"]
    for k in _PARAMETERS[kind]:
        if k not in d:
            errs.add(
                f"{path}.{k}",
                f"is missing (a {kind} sample size needs {' and '.join(_PARAMETERS[kind])})",
            )
    for other, keys in _PARAMETERS.items():
        for k in keys + _OPTIONAL[other]:
            if other != kind and k in d and k not in _PARAMETERS[kind] + _OPTIONAL[kind]:
                errs.add(f"{path}.{k}", f"does not apply to a {kind} sample size")
    if "clusters_per_arm" not in d and "power" not in d:
        errs.add(f"{path}.clusters_per_arm", "is missing: give clusters_per_arm, power, or both")
    if "target_power" in d and "clusters_per_arm" not in d:
        errs.add(f"{path}.target_power", "needs clusters_per_arm (the design it is compared with)")
    outs = raw["outcomes"]
    oid = d.get("outcome")
    if oid is None:
        oid = next((k for k, o in outs.items() if o["role"] == "primary"), None)
    elif oid not in outs:
        from odtrial.plan.schema import suggest

        errs.add(f"{path}.outcome", f"names unknown outcome {oid!r}{suggest(oid, list(outs))}")
        oid = None
    if oid is not None and outs[oid]["type"] != kind:
        errs.add(
            f"{path}.type",
            f"is {kind!r} but the outcome it sizes, outcomes.{oid}, is {outs[oid]['type']!r}"
            + (
                " (name another outcome in design.sample_size.outcome)"
                if "outcome" not in d
                else ""
            ),
        )
    if len(errs.lines) > before:
        return  # compute only from complete, consistent inputs
    ss = SampleSize.from_mapping(d)
    try:
        computed = ss.compute()
        problems = computed.disagreements()
    except DesignError as e:
        errs.add(path, f"cannot be computed: {e}")
        return
    except (ArithmeticError, ValueError) as e:  # extreme inputs (an sd of 1e-300 ...)
        errs.add(path, f"cannot be computed from these inputs ({type(e).__name__}: {e})")
        return
    for msg in problems:
        errs.add(path, msg)


def sample_size_of(raw: Mapping[str, Any]) -> SampleSize:
    """The validated plan's sample-size inputs, with its ``outcome`` filled in."""
    d = dict(raw["design"]["sample_size"])
    if "outcome" not in d:
        d["outcome"] = next(k for k, o in raw["outcomes"].items() if o["role"] == "primary")
    return SampleSize.from_mapping(d)


__all__ = ["CLUSTER_TOLERANCE", "POWER_TOLERANCE", "Computed", "SampleSize", "check_sample_size"]
