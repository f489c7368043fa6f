"""Power by simulation: generate the trial many times, fit the primary model, count rejections.

One replicate = one trial: ``2k`` clusters (``k`` per arm) in ``n_strata``
strata (each stratum gets whole pairs of clusters, one per arm), cluster
sizes drawn with mean ``m`` and coefficient of variation ``cv`` (gamma,
rounded, at least 1), outcomes with the given ICC and effect, then each
person lost to follow-up with probability ``attrition``:

* binary: cluster risk ~ Beta with mean p0 or p1 and ICC ρ (so ρ is the
  proportion-scale ICC the analytic formula uses), y ~ Bernoulli;
* continuous: y = delta·arm + u + e, var(u) = ρ sd², var(e) = (1 − ρ) sd²;
* count: y ~ Poisson(rate · followup · G · E), cluster frailty G and, when
  the outcome has an NB2 dispersion θ, person frailty E ~ Gamma(θ, 1/θ)
  (so a person's count is negative binomial given the cluster; E = 1 for
  Poisson). G ~ Gamma(mean 1) with variance ρ (1/μ̄ + 1/θ) / (1 − ρ),
  μ̄ = r̄ t the mean count, giving a count-scale ICC of about ρ.

Each replicate draws from its own child of ``SeedSequence(seed)``, so the
answer depends on the seed only, not on ``jobs``, chunking or the engine
(sequential, joblib, or a Dask cluster).

The model fitted to each replicate is chosen by ``fitter`` (see
:mod:`odtrial.design.fitters`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from odtrial.design.analytic import Outcome, PowerResult, design_effect
from odtrial.design.fitters import Fitter, resolve_fitter
from odtrial.errors import DesignError, OdtrialError


@dataclass(frozen=True)
class TrialDesign:
    """What one simulated trial looks like."""

    outcome: Outcome
    clusters_per_arm: int
    cluster_size: float
    icc: float
    cv: float = 0.0
    attrition: float = 0.0
    n_strata: int = 1

    def check(self) -> None:
        self.outcome.effect_and_variance()
        if self.clusters_per_arm < 2:
            raise DesignError(f"clusters per arm must be at least 2 (got {self.clusters_per_arm})")
        if not 1 <= self.n_strata <= self.clusters_per_arm:
            raise DesignError(
                f"--strata must be between 1 and the clusters per arm ({self.clusters_per_arm}); got {self.n_strata}"
            )
        if not 0 <= self.icc < 1:
            raise DesignError(f"--icc must be in [0, 1) (got {self.icc})")
        if not self.cluster_size >= 1:
            raise DesignError(f"--cluster-size must be at least 1 (got {self.cluster_size})")
        if not self.cv >= 0:
            raise DesignError(f"--cv must be non-negative (got {self.cv})")
        if not 0 <= self.attrition < 1:
            raise DesignError(f"--attrition must be in [0, 1) (got {self.attrition})")


def simulate_trial(design: TrialDesign, rng: np.random.Generator) -> pd.DataFrame:
    """One simulated trial: columns ``y, arm (0/1), cluster, stratum (integer code), followup``."""
    k, m, o = design.clusters_per_arm, design.cluster_size, design.outcome
    n_cl = 2 * k
    arm = np.tile(np.array([1, 0]), k)
    stratum = np.repeat(np.arange(k), 2) % design.n_strata
    if design.cv > 0:
        shape = 1.0 / design.cv**2
        sizes = np.maximum(1, np.rint(rng.gamma(shape, m / shape, size=n_cl))).astype(np.int64)
    else:
        sizes = np.full(n_cl, max(1, round(m)), dtype=np.int64)
    cl = np.repeat(np.arange(n_cl), sizes)
    a = arm[cl]
    rho = design.icc
    if o.kind == "binary":
        p_arm = np.where(arm == 1, float(o.p1), float(o.p0))  # type: ignore[arg-type]
        if rho > 0:
            s = (1 - rho) / rho
            p_cl = rng.beta(p_arm * s, (1 - p_arm) * s)
        else:
            p_cl = p_arm
        y = (rng.random(len(cl)) < p_cl[cl]).astype(float)
    elif o.kind == "continuous":
        sd = float(o.sd)  # type: ignore[arg-type]
        u = rng.normal(0.0, math.sqrt(rho) * sd, size=n_cl)
        y = float(o.delta) * a + u[cl] + rng.normal(0.0, math.sqrt(1 - rho) * sd, size=len(cl))  # type: ignore[arg-type]
    else:
        r0, r1, t = float(o.rate0), float(o.rate1), float(o.followup)  # type: ignore[arg-type]
        rate = np.where(arm == 1, r1, r0)
        inv_theta = 0.0 if o.theta is None else 1.0 / float(o.theta)
        if rho > 0:
            var_g = rho * (1.0 / (0.5 * (r0 + r1) * t) + inv_theta) / (1 - rho)
            g = rng.gamma(1.0 / var_g, var_g, size=n_cl)
        else:
            g = np.ones(n_cl)
        e = rng.gamma(1.0 / inv_theta, inv_theta, size=len(cl)) if inv_theta > 0 else 1.0
        y = rng.poisson((rate * g * t)[cl] * e).astype(float)
    keep = rng.random(len(cl)) >= design.attrition
    out = pd.DataFrame(
        {
            "y": y[keep],
            "arm": a[keep].astype(float),
            "cluster": cl[keep],
            "stratum": stratum[cl[keep]],
            "followup": np.full(int(keep.sum()), float(o.followup)),
        }
    )
    out.attrs["theta"] = o.theta  # fitters model overdispersed counts as such
    return out


def run_replicates(
    design: TrialDesign, seeds: Sequence[np.random.SeedSequence], fitter: Fitter
) -> list[float]:
    """P-values of the replicates with these seeds; a failed fit gives NaN (not significant)."""
    out = []
    for ss in seeds:
        data = simulate_trial(design, np.random.default_rng(ss))
        try:
            with warnings.catch_warnings():
                # Numerical warnings of thousands of fits would drown the
                # progress bar; a failed or non-converged fit is counted instead.
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(fitter(data, design.outcome.kind))
        except (OdtrialError, np.linalg.LinAlgError, FloatingPointError, ValueError):
            p = float("nan")
        out.append(p)
    return out


def _chunks(seeds: list[np.random.SeedSequence], size: int) -> list[list[np.random.SeedSequence]]:
    return [seeds[i : i + size] for i in range(0, len(seeds), size)]


def _results_joblib(
    design: TrialDesign, chunks: list[list[np.random.SeedSequence]], fitter: Fitter, jobs: int
) -> Iterator[list[float]]:
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=jobs, return_as="generator")
    yield from par(delayed(run_replicates)(design, c, fitter) for c in chunks)


def _results_dask(
    design: TrialDesign, chunks: list[list[np.random.SeedSequence]], fitter: Fitter, scheduler: Any
) -> Iterator[list[float]]:
    from dask.distributed import Client

    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler) if own else scheduler
    except OSError as e:
        raise DesignError(
            f"cannot reach the Dask scheduler at {scheduler!r}: {str(e).splitlines()[0]}"
        ) from None
    try:
        futures = client.map(
            run_replicates, [design] * len(chunks), chunks, [fitter] * len(chunks), pure=False
        )
        for f in futures:  # in order, so the p-values line up with the seeds
            yield f.result()
    finally:
        if own:
            client.close()


def simulate_pvalues(
    design: TrialDesign,
    *,
    nsim: int,
    seed: int,
    fitter: str | Fitter = "auto",
    jobs: int = 1,
    scheduler: Any = None,
    progress: bool = False,
    chunk_size: int | None = None,
) -> tuple[str, np.ndarray]:
    """The fitter's name and the p-value of every replicate, in replicate order.

    See :func:`simulate_power` for the parameters.
    """
    design.check()
    if not isinstance(nsim, int) or isinstance(nsim, bool) or nsim < 1:
        raise DesignError(f"--nsim must be a positive integer (got {nsim!r})")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise DesignError(f"--seed must be a non-negative integer (got {seed!r})")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise DesignError(f"--jobs must be a positive integer (got {jobs!r})")
    name, fit = resolve_fitter(fitter, design.outcome.kind)
    seeds = np.random.SeedSequence(seed).spawn(nsim)
    workers = jobs if scheduler is None else 8
    size = chunk_size or max(1, min(50, math.ceil(nsim / (4 * workers))))
    chunks = _chunks(seeds, size)

    from tqdm import tqdm

    bar = tqdm(total=nsim, desc="simulating trials", unit="trial", disable=not progress)
    if scheduler is not None:
        results: Iterator[list[float]] = _results_dask(design, chunks, fit, scheduler)
    elif jobs > 1:
        results = _results_joblib(design, chunks, fit, jobs)
    else:
        results = (run_replicates(design, c, fit) for c in chunks)
    pvalues: list[float] = []
    try:
        for r in results:
            pvalues.extend(r)
            bar.update(len(r))
    finally:
        bar.close()
    return name, np.array(pvalues, dtype=float)


def simulate_power(
    design: TrialDesign,
    *,
    nsim: int = 1000,
    seed: int,
    alpha: float = 0.05,
    target_power: float = 0.8,
    fitter: str | Fitter = "auto",
    jobs: int = 1,
    scheduler: Any = None,
    progress: bool = False,
    chunk_size: int | None = None,
) -> PowerResult:
    """Power of ``design`` by simulation, with its Monte Carlo standard error.

    Parameters
    ----------
    design
        The trial to simulate.
    nsim
        Number of simulated trials.
    seed
        Non-negative integer; replicate ``i`` uses child ``i`` of ``SeedSequence(seed)``.
    alpha
        Two-sided significance level.
    target_power
        Only used to report ``n_individual_per_arm`` (the unclustered sample size for it).
    fitter
        ``"auto"``, ``"glmm"``, ``"cluster-t"`` or a picklable callable ``(data, kind) -> p``.
    jobs
        Worker processes for joblib (1 = in this process).
    scheduler
        Address of a ``dask.distributed`` scheduler (or a ``Client``); overrides ``jobs``.
    progress
        Show a tqdm progress bar on stderr.
    chunk_size
        Replicates per task (default: about 4 tasks per worker, at most 50 each).

    A replicate whose fit fails counts as not significant; ``n_failed`` says how many.
    """
    if not 0 < alpha < 1:
        raise DesignError(f"--alpha must be in (0, 1) (got {alpha})")
    if not 0 < target_power < 1:
        raise DesignError(f"--power must be in (0, 1) (got {target_power})")
    name, p = simulate_pvalues(
        design,
        nsim=nsim,
        seed=seed,
        fitter=fitter,
        jobs=jobs,
        scheduler=scheduler,
        progress=progress,
        chunk_size=chunk_size,
    )
    failed = int(np.isnan(p).sum())
    power = float((np.nan_to_num(p, nan=1.0) < alpha).mean())
    effect, variance = design.outcome.effect_and_variance()
    z = stats.norm.ppf
    n_exact = float((z(1 - alpha / 2) + z(target_power)) ** 2 * variance / effect**2)
    m_a = design.cluster_size * (1 - design.attrition)
    return PowerResult(
        outcome=design.outcome.kind,
        method="simulation",
        design_effect=design_effect(m_a, design.icc, design.cv),
        n_individual_per_arm=math.ceil(n_exact - 1e-9),
        n_individual_exact=n_exact,
        clusters_per_arm=design.clusters_per_arm,
        cluster_size=float(design.cluster_size),
        cluster_size_analysed=m_a,
        n_recruited_per_arm=math.ceil(design.clusters_per_arm * design.cluster_size - 1e-9),
        power=power,
        target_power=None,
        alpha=alpha,
        icc=design.icc,
        cv=design.cv,
        attrition=design.attrition,
        correction="model",
        correction_note=f"that of the fitted model ({name})",
        mc_se=math.sqrt(power * (1 - power) / nsim),
        nsim=nsim,
        n_failed=failed,
        seed=seed,
        fitter=name,
        n_strata=design.n_strata,
    )


__all__ = [
    "TrialDesign",
    "run_replicates",
    "simulate_power",
    "simulate_pvalues",
    "simulate_trial",
]
