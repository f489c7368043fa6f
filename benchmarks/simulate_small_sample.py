"""Type I error and 95% CI coverage with few clusters (issues 3, 9; not part of the unit suite).

Simulates two-arm cluster trials with a binary outcome and fits

* GEE, exchangeable, Kauermann–Carroll sandwich, t on clusters - 2 df;
  Mancl–DeRouen (odtrial's default) and Fay–Graubard with the same df; and
  the uncorrected robust sandwich with z for contrast;
* the random-intercept logistic GLMM by ML (``fit_glmm(method="ML")``, adaptive
  quadrature) with between-within df (clusters - 2 for the cluster-level arm);
* the same GLMM fitted by restricted likelihood (``fit_glmm_reml``, ``fit_glmm``'s
  default: Laplace over (b, β), glmmTMB's ``REML=TRUE``), between-within df, with
  β's covariance given σ̂ (inverse Schur complement, the default) or glmmTMB's
  vcov (adds log σ̂'s uncertainty), both from one fit; and with Satterthwaite df
  (``df="satterthwaite"``, at most between-within).

Design: 12, 24 or 32 clusters, 1:1; cluster sizes gamma-distributed with mean
20 and coefficient of variation 0.6 (at least 5), or (``--sizes lognormal``)
lognormal with log-scale SD sqrt(log(1 + CV²)) (at least 2), ``--cv`` and
``--mean-size`` setting CV and mean; control risk 0.30
(intercept logit(0.3)); random intercept with latent ICC 0.05. Null
scenario: conditional odds ratio 1 (type I error at 5%). Effect scenario:
conditional odds ratio 1.6 (log 0.47) for coverage. The GLMM's target is the
conditional log odds ratio; GEE's is the marginal (population-averaged) log
odds ratio, computed here exactly by Gauss–Hermite integration over the
random intercept. Monte Carlo SE of a 5% rate with 1,000 trials is 0.7
points; of a 95% coverage, 0.7 points.

Every replicate draws from its own ``SeedSequence`` child, so the table is
the same whatever ``--jobs`` and whichever methods are fitted, and the first
1,000 trials of a 4,000-trial run are those of a 1,000-trial run.

    python benchmarks/simulate_small_sample.py --reps 1000 --jobs 2
    python benchmarks/simulate_small_sample.py --glmm-only --reps 4000 --effect-reps 1000
    python benchmarks/simulate_small_sample.py --methods glmm_bw glmm_reml_bw \
        --sizes lognormal --cv 0.6 --reps 4000 --effect-reps 1000 --jobs 1

The lognormal results (issue 9: the REML default) are in
docs/small_sample_inference.md, section "The binary GLMM default".

Options: ``--glmm-only`` / ``--no-glmm``, ``--methods`` (any subset), ``--null-only``
(type I error only), ``--effect-reps`` (coverage trials, default ``--reps``),
``--csv PREFIX`` (per-trial results), ``--markdown FILE``.

GLMM, ML against REML (2026-11-25, ``--glmm-only --reps 4000 --effect-reps 1000``;
848 s with 2 jobs on a shared machine; every fit converged; MC SE in brackets;
"var" is the mean estimated cluster variance under the null, truth 0.173):

    clusters  method                          type I %     coverage %    power %  var    var=0 %
    32        ML (AGQ 25), between-within     6.10 (0.38)  94.3 (0.73)   49.6     0.149   7.0
    32        REML, between-within            5.25 (0.35)  95.1 (0.68)   46.4     0.175   4.2
    32        REML, glmmTMB vcov, b-w         5.15 (0.35)  95.1 (0.68)   45.9     0.175   4.2
    24        ML (AGQ 25), between-within     5.45 (0.36)  94.4 (0.73)   43.5     0.145  12.5
    24        REML, between-within            4.47 (0.33)  95.4 (0.66)   40.4     0.182   7.7
    24        REML, glmmTMB vcov, b-w         4.35 (0.32)  95.5 (0.66)   40.0     0.182   7.7
    12        ML (AGQ 25), between-within     5.22 (0.35)  94.7 (0.71)   20.0     0.127  32.7
    12        REML, between-within            3.62 (0.30)  95.7 (0.64)   16.1     0.209  19.2
    12        REML, glmmTMB vcov, b-w         3.52 (0.29)  95.9 (0.63)   15.6     0.209  19.2

Earlier results of 2026-11-25 (1,000 trials per cell; GEE rows from ``--no-glmm``,
GLMM rows from the full run: the same seeds give the same GEE rows in both;
MC SE about 0.7 points throughout; one 12-cluster GEE fit of 1,000 under the
null stopped unconverged with alpha at its bound and is left out):

    clusters  method                                 type I %  coverage %  power %
    12        GEE exch., Kauermann-Carroll, t(G-2)       7.7        93.1      20.9
    12        GEE exch., Mancl-DeRouen, t(G-2)           4.3        96.0      15.0
    12        GEE exch., Fay-Graubard, t(G-2)            5.9        94.9      17.5
    12        GEE exch., robust (uncorrected), z        15.1        85.9      32.8
    12        GLMM (AGQ), between-within t(G-2)          5.2        94.7      20.0
    24        GEE exch., Kauermann-Carroll, t(G-2)       6.1        93.9      41.7
    24        GEE exch., Mancl-DeRouen, t(G-2)           5.3        95.4      38.2
    24        GEE exch., Fay-Graubard, t(G-2)            5.7        94.6      39.7
    24        GEE exch., robust (uncorrected), z         8.5        92.0      49.4
    24        GLMM (AGQ), between-within t(G-2)          6.5        94.4      43.5
    32        GEE exch., Kauermann-Carroll, t(G-2)       5.5        94.4      47.7
    32        GEE exch., Mancl-DeRouen, t(G-2)           4.9        95.2      45.3
    32        GEE exch., Fay-Graubard, t(G-2)            5.1        94.8      46.4
    32        GEE exch., robust (uncorrected), z         8.0        93.2      54.5
    32        GLMM (AGQ), between-within t(G-2)          6.0        94.3      49.6
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import special

from odtrial.models.gee import fit_gee
from odtrial.models.glmm import fit_glmm

BASE_RISK = 0.30
ICC_LATENT = 0.05
SIGMA2 = ICC_LATENT / (1 - ICC_LATENT) * np.pi**2 / 3
MEAN_SIZE, CV_SIZE = 20.0, 0.6
LOG_OR_EFFECT = float(np.log(1.6))
SIZE_DISTS = ("gamma", "lognormal")


@dataclass(frozen=True)
class Scenario:
    clusters: int
    log_or: float  # conditional (cluster-specific) log odds ratio
    sizes: str = "gamma"  # cluster-size distribution: gamma (min 5) or lognormal (min 2)
    cv: float = CV_SIZE  # its coefficient of variation (before rounding and the floor)
    mean: float = MEAN_SIZE  # its mean

    def entropy(self, seed: int) -> list[int]:
        """Seed material: the gamma design keeps its original seeds (so the tables
        of 2026-11-25 reproduce); other designs add their own."""
        base = [seed, self.clusters, int(self.log_or != 0)]
        if self.sizes == "gamma" and self.cv == CV_SIZE and self.mean == MEAN_SIZE:
            return base
        more = [SIZE_DISTS.index(self.sizes), round(1000 * self.cv)]
        return [*base, *more] if self.mean == MEAN_SIZE else [*base, *more, round(self.mean)]


def cluster_sizes(sc: Scenario, rng: np.random.Generator) -> np.ndarray:
    """Mean ``sc.mean`` with coefficient of variation ``sc.cv``: gamma (at least 5),
    or lognormal (at least 2; log-scale SD ``sqrt(log(1 + cv²))``, heavier right tail)."""
    if sc.sizes == "lognormal":
        s2 = np.log1p(sc.cv**2)
        raw = rng.lognormal(np.log(sc.mean) - s2 / 2, np.sqrt(s2), sc.clusters)
        return np.maximum(2, np.round(raw)).astype(int)
    shape = 1 / sc.cv**2
    return np.maximum(5, np.round(rng.gamma(shape, sc.mean / shape, sc.clusters))).astype(int)


def marginal_log_or(log_or: float) -> float:
    """Population-averaged log odds ratio implied by the conditional model."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    b0 = special.logit(BASE_RISK)
    u = np.sqrt(SIGMA2) * x
    p0 = np.sum(w * special.expit(b0 + u))
    p1 = np.sum(w * special.expit(b0 + log_or + u))
    return float(special.logit(p1) - special.logit(p0))


def simulate(sc: Scenario, rng: np.random.Generator) -> pd.DataFrame:
    sizes = cluster_sizes(sc, rng)
    arm_c = rng.permutation(np.arange(sc.clusters) % 2)
    g = np.repeat(np.arange(sc.clusters), sizes)
    u = rng.normal(0, np.sqrt(SIGMA2), sc.clusters)[g]
    eta = special.logit(BASE_RISK) + sc.log_or * arm_c[g] + u
    return pd.DataFrame({"g": g, "arm": arm_c[g], "y": rng.binomial(1, special.expit(eta))})


GEE_METHODS = ("gee_kc", "gee_md", "gee_fg", "gee_robust_z")
GLMM_METHODS = ("glmm_bw", "glmm_reml_bw", "glmm_reml_joint_bw", "glmm_reml_satt")


def _fitters(d: pd.DataFrame) -> dict[str, Callable[[], Any]]:
    reml = _reml_fitter(d)
    fits: dict[str, Callable[[], Any]] = {
        "gee_kc": lambda: fit_gee(
            "y ~ arm", d, cluster="g", family="binomial", cov_type="kauermann-carroll"
        ),
        "gee_md": lambda: fit_gee(
            "y ~ arm", d, cluster="g", family="binomial", cov_type="mancl-derouen"
        ),
        "gee_fg": lambda: fit_gee(
            "y ~ arm", d, cluster="g", family="binomial", cov_type="fay-graubard"
        ),
        "gee_robust_z": lambda: fit_gee(
            "y ~ arm", d, cluster="g", family="binomial", cov_type="robust", use_t=False
        ),
        "glmm_bw": lambda: fit_glmm(
            "y ~ arm", d, cluster="g", family="binomial", df="between-within", method="ML"
        ),
        "glmm_reml_bw": lambda: reml(),
        "glmm_reml_joint_bw": lambda: _with_cov(reml(), "cov_joint"),
        "glmm_reml_satt": lambda: fit_glmm(
            "y ~ arm", d, cluster="g", family="binomial", method="REML", df="satterthwaite"
        ),
    }
    return fits


def _reml_fitter(d: pd.DataFrame) -> Callable[[], Any]:
    """One restricted fit per dataset, shared by its two covariance variants."""
    from odtrial.models.glmm.reml import fit_glmm_reml  # imported only when asked for

    memo: list[Any] = []

    def fit() -> Any:
        if not memo:
            memo.append(
                fit_glmm_reml("y ~ arm", d, cluster="g", family="binomial", df="between-within")
            )
        return memo[0]

    return fit


def _with_cov(r: Any, key: str) -> Any:
    """The same fit with another of its covariance matrices (kept in ``extra``)."""
    from odtrial.models.results import ModelResults

    return ModelResults(
        model=r.model,
        family=r.family,
        link=r.link,
        formula=r.formula,
        params=r.params,
        cov=r.extra[key],
        df=r.df,
        nobs=r.nobs,
        n_clusters=r.n_clusters,
        llf=r.llf,
        n_estimated=r.n_estimated,
        cluster_var=r.cluster_var,
        df_method=r.df_method,
        diagnostics=r.diagnostics,
        extra=r.extra,
    )


def one(sc: Scenario, seed: np.random.SeedSequence, methods: tuple[str, ...]) -> dict[str, float]:
    d = simulate(sc, np.random.default_rng(seed))
    out: dict[str, float] = {}
    fits = _fitters(d)
    for name in methods:
        try:
            r = fits[name]()
            ci = r.conf_int().loc["arm"]
            out[f"{name}_p"] = float(r.pvalues["arm"])
            out[f"{name}_lo"] = float(ci["lower"])
            out[f"{name}_hi"] = float(ci["upper"])
            out[f"{name}_ok"] = float(r.converged)
            if r.cluster_var == r.cluster_var:  # not NaN: a GLMM
                out[f"{name}_var"] = float(r.cluster_var)
        except Exception:  # a failed fit counts as failed, it must not stop the study
            out[f"{name}_ok"] = 0.0
    return out


def run(sc: Scenario, reps: int, jobs: int, seed: int, methods: tuple[str, ...]) -> pd.DataFrame:
    # child i is the same whatever reps is, so 4,000 trials extend the first 1,000
    children = np.random.SeedSequence(sc.entropy(seed)).spawn(reps)
    rows = Parallel(n_jobs=jobs, batch_size=8)(delayed(one)(sc, c, methods) for c in children)
    return pd.DataFrame(rows)


LABELS = {
    "gee_kc": "GEE exch., Kauermann-Carroll, t(G-2)",
    "gee_md": "GEE exch., Mancl-DeRouen, t(G-2)",
    "gee_fg": "GEE exch., Fay-Graubard, t(G-2)",
    "gee_robust_z": "GEE exch., robust (uncorrected), z",
    "glmm_bw": "GLMM (ML, AGQ), between-within t(G-2)",
    "glmm_reml_bw": "GLMM (REML, Laplace), between-within t(G-2)",
    "glmm_reml_joint_bw": "GLMM (REML, glmmTMB vcov), between-within t(G-2)",
    "glmm_reml_satt": "GLMM (REML, Laplace), Satterthwaite t (at most b-w)",
}


def _rate(x: pd.Series) -> tuple[float, float, int]:
    n = len(x)
    r = float(x.mean()) if n else float("nan")
    return 100 * r, 100 * float(np.sqrt(r * (1 - r) / max(n, 1))), n


def summarise(
    null: pd.DataFrame, eff: pd.DataFrame | None, clusters: int
) -> list[dict[str, object]]:
    marginal = marginal_log_or(LOG_OR_EFFECT)
    rows = []
    for name, label in LABELS.items():
        if f"{name}_ok" not in null:
            continue
        truth = LOG_OR_EFFECT if name.startswith("glmm") else marginal
        ok0 = null[f"{name}_ok"] == 1
        type1, se1, n0 = _rate(null.loc[ok0, f"{name}_p"] < 0.05)
        row: dict[str, object] = {
            "clusters": clusters,
            "method": label,
            "type I error %": type1,
            "(MC SE)": se1,
        }
        if eff is not None:
            ok1 = eff[f"{name}_ok"] == 1
            lo, hi = eff.loc[ok1, f"{name}_lo"], eff.loc[ok1, f"{name}_hi"]
            cover, se2, n1 = _rate((lo <= truth) & (truth <= hi))
            power, _, _ = _rate(eff.loc[ok1, f"{name}_p"] < 0.05)
            row.update({"coverage %": cover, "(MC SE) ": se2, "power %": power})
            row["fits used (null/effect)"] = f"{n0}/{n1}"
        else:
            row["fits used (null)"] = str(n0)
        if f"{name}_var" in null:
            v = null.loc[ok0, f"{name}_var"]
            row["mean var (null)"] = float(v.mean())
            row["var = 0 %"] = 100 * float((v == 0).mean())
        rows.append(row)
    return rows


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table (pandas' to_markdown needs tabulate, not a dependency)."""
    cells = [[f"{v:.1f}" if isinstance(v, float) else str(v) for v in row] for row in table.values]
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * table.shape[1]]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000, help="trials per null cell")
    ap.add_argument(
        "--effect-reps", type=int, help="trials per effect (coverage) cell; default --reps"
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--clusters", type=int, nargs="+", default=[12, 24, 32])
    ap.add_argument(
        "--sizes", choices=SIZE_DISTS, default="gamma", help="cluster-size distribution"
    )
    ap.add_argument("--cv", type=float, default=CV_SIZE, help="CV of the cluster sizes")
    ap.add_argument("--mean-size", type=float, default=MEAN_SIZE, help="mean cluster size")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    ap.add_argument("--csv", type=Path, help="also write the per-trial results here (prefix)")
    ap.add_argument("--no-glmm", action="store_true", help="GEE only (much faster)")
    ap.add_argument("--glmm-only", action="store_true", help="GLMM rows only (no GEE)")
    ap.add_argument("--null-only", action="store_true", help="type I error only (no coverage)")
    ap.add_argument(
        "--methods",
        nargs="+",
        choices=sorted(LABELS),
        help="fit only these methods (overrides --no-glmm/--glmm-only)",
    )
    args = ap.parse_args()
    eff_reps = args.effect_reps if args.effect_reps is not None else args.reps
    print(
        f"binary outcome, control risk {BASE_RISK}, latent ICC {ICC_LATENT}, "
        f"cluster size {args.sizes}, mean {args.mean_size:g} (CV {args.cv}); {args.reps} null trials per cell, "
        f"{0 if args.null_only else eff_reps} effect trials; "
        f"effect: conditional OR 1.6 (marginal log OR {marginal_log_or(LOG_OR_EFFECT):.4f})"
    )
    if args.methods:
        methods = tuple(args.methods)
    elif args.no_glmm:
        methods = GEE_METHODS
    elif args.glmm_only:
        methods = GLMM_METHODS
    else:
        methods = GEE_METHODS + GLMM_METHODS
    print("methods: " + ", ".join(methods))
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    for k in args.clusters:
        null = run(
            Scenario(k, 0.0, args.sizes, args.cv, args.mean_size),
            args.reps,
            args.jobs,
            args.seed,
            methods,
        )
        eff = None
        if not args.null_only:
            eff = run(
                Scenario(k, LOG_OR_EFFECT, args.sizes, args.cv, args.mean_size),
                eff_reps,
                args.jobs,
                args.seed,
                methods,
            )
        if args.csv is not None:
            null.to_csv(f"{args.csv}_null_{k}.csv", index=False)
            if eff is not None:
                eff.to_csv(f"{args.csv}_effect_{k}.csv", index=False)
        rows.extend(summarise(null, eff, k))
        print(f"  {k} clusters done ({time.perf_counter() - t0:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if args.markdown is not None:
        args.markdown.write_text(_markdown(table))


if __name__ == "__main__":
    main()
