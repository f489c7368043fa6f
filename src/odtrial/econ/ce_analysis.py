"""Cost-effectiveness analysis of a two-arm cluster randomised trial (:func:`cea`).

(The module is not named ``cea``: that would hide the function on the package.)

:func:`cea` estimates the incremental cost and effect (QALYs) of the
intervention, the ICER, the incremental net monetary benefit (INMB) at each
willingness to pay (WTP) with its confidence interval, and the
cost-effectiveness acceptability curve (CEAC), by one of the two methods the
literature recommends for cluster trials (Gomes et al., Med Decis Making
2012; Ng et al. 2016):

``method="bivariate"`` (the default)
    A bivariate linear mixed model of cost and effect with correlated random
    cluster intercepts and correlated individual errors, fitted by REML
    (:mod:`odtrial.econ.bivariate`). INMB(λ) = λ·ΔE − ΔC with variance
    λ²·var(ΔE) + var(ΔC) − 2λ·cov(ΔC, ΔE) from the model; intervals and the
    CEAC use a t distribution on clusters − 2 degrees of freedom (the
    between-within rule for a cluster-level treatment), and the CE-plane
    draws are parametric draws from the matching bivariate t.
``method="tsb"``
    The two-stage non-parametric cluster bootstrap with shrinkage
    correction (:mod:`odtrial.econ.bootstrap`); least-squares estimates,
    percentile intervals, the CEAC as the share of draws with INMB > 0.

Why the bivariate model is the default: in Gomes et al.'s simulations both
methods kept interval coverage at 0.92-0.95 across their scenarios (few
clusters, unequal sizes, skewed costs), so the choice rests on other grounds.
The model gives the same answer every time (no seed, no Monte Carlo error in
a reported interval), has a small-sample t reference, weighs unequal
clusters by likelihood rather than by resampling them as if exchangeable,
and can be checked against standard software (nlme; tests/reference/econ).
Cluster bootstraps also lose coverage when clusters are few (Flynn & Peters,
BMC Health Serv Res 2004: below about 24 per arm without a correction).
Ng et al. (Stat Methods Med Res 2016) recommend choosing among multilevel
models, the bivariate normal being the base case. The normal model is a
poorer approximation for very skewed costs in small trials: the bootstrap is
the sensitivity analysis for that. docs/health_economics.md gives the
simulation figures for both.

Baseline cost and utility (or any numeric covariate) adjust both equations
when named in ``covariates`` (Manca et al. 2005; van Asselt et al. 2009).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from odtrial.econ._errors import EconError
from odtrial.econ.bivariate import BivariateFit, fit_bivariate
from odtrial.econ.bootstrap import ShrinkageInfo, ols, tsb_draws

METHODS = ("bivariate", "tsb")
DEFAULT_DF = "between-within"
_ALIASES = {
    **dict.fromkeys(
        (
            "bivariate",
            "mlm",
            "multilevel",
            "bivariate_mlm",
            "bivariate_multilevel",
            "bivariate_lmm",
        ),
        "bivariate",
    ),
    **dict.fromkeys(
        ("tsb", "bootstrap", "two_stage_bootstrap", "two_stage", "cluster_bootstrap"), "tsb"
    ),
}


@dataclass(frozen=True, eq=False)
class CEAResult:
    """The result of :func:`cea`. Tables are returned as copies; nothing is mutable."""

    method: str
    incremental_cost: float
    incremental_effect: float
    se_cost: float
    se_effect: float
    cov_cost_effect: float
    wtp: tuple[float, ...]
    level: float
    df: float  # of the t reference at the first WTP (NaN for the bootstrap)
    df_method: str
    n_obs: int
    n_clusters: tuple[int, int]  # control, intervention
    n_boot: int
    seed: int
    _inmb: pd.DataFrame = field(repr=False)
    _ceac: pd.DataFrame = field(repr=False)
    _draws: pd.DataFrame = field(repr=False)
    fit: BivariateFit | None = field(default=None, repr=False)
    shrinkage: ShrinkageInfo | None = field(default=None, repr=False)
    covariates: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def icer(self) -> float:
        """Incremental cost per unit of effect (``NaN`` when the effect is exactly 0).

        Read it with the CE plane: a negative ICER may be dominance either way.
        """
        if self.incremental_effect == 0:
            return float("nan")
        return self.incremental_cost / self.incremental_effect

    @property
    def inmb(self) -> pd.DataFrame:
        """INMB by willingness to pay: ``estimate``, ``se``, ``ci_lower``, ``ci_upper``, ``df``.

        ``df`` is the t reference's degrees of freedom (``NaN`` for bootstrap percentiles).
        """
        return self._inmb.copy()

    @property
    def ceac(self) -> pd.DataFrame:
        """Probability that the intervention is cost-effective: columns ``wtp``, ``probability``."""
        return self._ceac.copy()

    @property
    def draws(self) -> pd.DataFrame:
        """Draws of (``incremental_cost``, ``incremental_effect``) for the CE plane."""
        return self._draws.copy()

    def to_dict(self) -> dict[str, Any]:
        """Every number, JSON-ready (the draws are summarised, not listed)."""
        return {
            "method": self.method,
            "incremental_cost": self.incremental_cost,
            "incremental_effect": self.incremental_effect,
            "icer": self.icer,
            "se_cost": self.se_cost,
            "se_effect": self.se_effect,
            "cov_cost_effect": self.cov_cost_effect,
            "level": self.level,
            "df": self.df,
            "df_method": self.df_method,
            "n_obs": self.n_obs,
            "n_clusters": list(self.n_clusters),
            "n_boot": self.n_boot,
            "seed": self.seed,
            "covariates": list(self.covariates),
            "inmb": [
                {"wtp": float(w), **{k: float(v) for k, v in row.items()}}
                for w, row in zip(self.wtp, self._inmb.to_dict("records"), strict=True)
            ],
            "ceac": self._ceac.to_dict("records"),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """A short text summary."""
        pct = round(self.level * 100)
        lines = [
            f"Cost-effectiveness ({self.method}; {self.n_obs} participants, "
            f"{self.n_clusters[0]} + {self.n_clusters[1]} clusters)",
            f"  incremental cost    {self.incremental_cost:12.2f}  (SE {self.se_cost:.2f})",
            f"  incremental effect  {self.incremental_effect:12.4f}  (SE {self.se_effect:.4f})",
            f"  ICER                {self.icer:12.0f}",
        ]
        for w, row in zip(self.wtp, self._inmb.to_dict("records"), strict=True):
            p = float(np.interp(w, self._ceac["wtp"], self._ceac["probability"]))
            lines.append(
                f"  INMB at {w:,.0f}: {row['estimate']:.0f} ({pct}% CI "
                f"{row['ci_lower']:.0f} to {row['ci_upper']:.0f}); P(cost-effective) {p:.3f}"
            )
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def cea(
    data: pd.DataFrame,
    *,
    cost: str,
    effect: str,
    treat: str,
    cluster: str,
    covariates: Sequence[str] | None = None,
    wtp: Sequence[float] = (20000, 30000),
    n_boot: int = 2000,
    seed: int = 20130,
    method: str = "bivariate",
    level: float = 0.95,
    treated: Any = None,
    ceac_wtp: Sequence[float] | None = None,
    df: float | str | None = None,
    reml: bool = True,
) -> CEAResult:
    """Incremental cost, effect, ICER, INMB and CEAC of a two-arm cluster trial.

    Parameters
    ----------
    data
        One row per participant (complete cases: impute missing costs and
        QALYs first, e.g. by multiple imputation, and combine the results).
    cost, effect, treat, cluster
        Column names: total cost, QALYs, the arm, the randomised cluster.
    covariates
        Numeric columns adjusting both equations, e.g. baseline cost and
        baseline utility.
    wtp
        Willingness to pay per unit of effect (NICE: £20,000 and £30,000 per QALY).
    n_boot
        Bootstrap samples (``"tsb"``) or parametric draws for the CE plane
        (``"bivariate"``).
    seed
        Seed of the random draws (results are reproducible; record it).
    method
        ``"bivariate"`` (default; see the module docstring for why) or ``"tsb"``.
    level
        Confidence level of the INMB intervals.
    treated
        The intervention's value in ``treat``; default 1 (or True, or "1" when the arm is text "0" and "1").
    ceac_wtp
        WTP grid for the CEAC; default 0 to max(50,000, 2 × the largest
        ``wtp``) in 101 steps, plus the ``wtp`` values.
    df
        The bivariate model's t reference: ``"between-within"`` (clusters − 2),
        ``"kenward-roger"`` (Kenward–Roger adjusted covariance and df, REML
        only), a number, or ``float("inf")`` for a normal reference.
        Default ``"between-within"``: in the simulations (docs/health_economics.md)
        Kenward–Roger changed the INMB's SE by well under 1% and its df from
        22 to about 21.5 with 24 clusters, and coverage by 0.1 points.
    reml
        Fit the bivariate model by REML (default) or ML.

    Returns
    -------
    CEAResult
    """
    m = _ALIASES.get(str(method).lower().replace("-", "_").replace(" ", "_"))
    if m is None:
        raise EconError(f"CEA method must be one of {METHODS}, got {method!r}")
    if not 0 < level < 1:
        raise EconError(f"level must be between 0 and 1, got {level}")
    wtp_t = tuple(float(w) for w in wtp)
    if not wtp_t or any(not np.isfinite(w) or w < 0 for w in wtp_t):
        raise EconError(f"willingness to pay must be one or more non-negative numbers, got {wtp!r}")
    covs = tuple(covariates or ())
    y, x, groups, arm, n_clusters = _prepare(data, cost, effect, treat, cluster, covs, treated)
    grid = _grid(wtp_t, ceac_wtp)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise EconError(f"seed must be an integer (the bootstrap's, recorded), got {seed!r}")
    rng = np.random.default_rng(seed)
    lam = np.asarray(wtp_t)
    alpha = 1 - level
    warnings: list[str] = []
    if m == "bivariate":
        fit = fit_bivariate(
            y, x, groups, terms=("intercept", treat, *covs), method="REML" if reml else "ML"
        )
        warnings.extend(fit.warnings)
        kr = df == "kenward-roger"
        est, cov = fit.effect_of(treat, kenward_roger=kr)
        g = np.asarray(grid)
        lam_all = np.concatenate([lam, g])
        var_all = lam_all**2 * cov[1, 1] + cov[0, 0] - 2 * lam_all * cov[0, 1]
        se_all = np.sqrt(np.maximum(var_all, 0.0))
        nmb_all = lam_all * est[1] - est[0]
        df_rule, df_all = _df_of(df, fit, treat, lam_all, n_clusters)
        q = stats.t.ppf(1 - alpha / 2, df_all[: len(lam)])
        k = len(lam)
        inmb = pd.DataFrame(
            {
                "estimate": nmb_all[:k],
                "se": se_all[:k],
                "ci_lower": nmb_all[:k] - q * se_all[:k],
                "ci_upper": nmb_all[:k] + q * se_all[:k],
                "df": df_all[:k],
            },
            index=pd.Index(wtp_t, name="wtp"),
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            prob = np.where(
                se_all[k:] > 0,
                stats.t.cdf(nmb_all[k:] / se_all[k:], df_all[k:]),
                (nmb_all[k:] > 0).astype(float),
            )
        dfree = float(df_all[0])
        draws = _mvt_draws(est, cov, dfree, n_boot, rng)
        shrinkage = None
        se_c, se_e, cov_ce = float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1])), float(cov[0, 1])
        fitted: BivariateFit | None = fit
    else:
        coef, _ = ols(y, x)
        est = coef[1]
        draws, shrinkage = tsb_draws(y, x, groups, arm, term=1, n_boot=n_boot, rng=rng)
        nmb_draws = draws[:, 1][:, None] * lam[None, :] - draws[:, 0][:, None]
        inmb = pd.DataFrame(
            {
                "estimate": lam * est[1] - est[0],
                "se": nmb_draws.std(axis=0, ddof=1),
                "ci_lower": np.quantile(nmb_draws, alpha / 2, axis=0),
                "ci_upper": np.quantile(nmb_draws, 1 - alpha / 2, axis=0),
                "df": np.nan,
            },
            index=pd.Index(wtp_t, name="wtp"),
        )
        g = np.asarray(grid)
        prob = (draws[:, 1][:, None] * g[None, :] - draws[:, 0][:, None] > 0).mean(axis=0)
        c = np.cov(draws.T, ddof=1)
        se_c, se_e, cov_ce = float(np.sqrt(c[0, 0])), float(np.sqrt(c[1, 1])), float(c[0, 1])
        dfree = float("nan")
        df_rule = "bootstrap percentile"
        fitted = None
        if n_boot < 1000:
            warnings.append(
                f"only {n_boot} bootstrap samples: percentile intervals need 1000 or more"
            )
    ceac = pd.DataFrame(
        {"wtp": np.asarray(grid, dtype=float), "probability": np.clip(prob, 0.0, 1.0)}
    )
    return CEAResult(
        method=m,
        incremental_cost=float(est[0]),
        incremental_effect=float(est[1]),
        se_cost=se_c,
        se_effect=se_e,
        cov_cost_effect=cov_ce,
        wtp=wtp_t,
        level=float(level),
        df=dfree,
        df_method=df_rule,
        n_obs=int(y.shape[0]),
        n_clusters=n_clusters,
        n_boot=int(n_boot),
        seed=int(seed),
        _inmb=inmb,
        _ceac=ceac,
        _draws=pd.DataFrame(draws, columns=["incremental_cost", "incremental_effect"]),
        fit=fitted,
        shrinkage=shrinkage,
        covariates=covs,
        warnings=tuple(warnings),
    )


def _df_of(
    df: float | str | None,
    fit: BivariateFit,
    treat: str,
    lam: np.ndarray,
    n_clusters: tuple[int, int],
) -> tuple[str, np.ndarray]:
    """The t reference's rule and its df at each willingness to pay."""
    rule = DEFAULT_DF if df is None else df
    if rule == "between-within":
        return "between-within", np.full(lam.shape, float(sum(n_clusters) - 2))
    if rule == "kenward-roger":
        if fit.cov_kr is None:
            raise EconError("df='kenward-roger' needs the REML fit (reml=True)")
        p = len(fit.terms)
        k = fit.terms.index(treat)
        out = np.empty(lam.shape)
        for i, w in enumerate(lam):
            contrast = np.zeros(2 * p)
            contrast[k], contrast[p + k] = -1.0, w
            out[i] = fit.kenward_roger_df(contrast)
        if not np.all(np.isfinite(out) & (out > 0)):  # degenerate fit: fall back, and say so
            return "between-within (Kenward-Roger df not usable)", np.full(
                lam.shape, float(sum(n_clusters) - 2)
            )
        return "kenward-roger", out
    if isinstance(rule, str):
        raise EconError(f"df must be 'between-within', 'kenward-roger' or a number, got {rule!r}")
    value = float(rule)
    if not value > 0:
        raise EconError(f"degrees of freedom must be positive, got {value}")
    return ("z" if np.isinf(value) else "fixed"), np.full(lam.shape, value)


def _grid(wtp: tuple[float, ...], ceac_wtp: Sequence[float] | None) -> list[float]:
    if ceac_wtp is None:
        top = max(50000.0, 2 * max(wtp))
        base = np.linspace(0.0, top, 101).tolist()
    else:
        base = [float(w) for w in ceac_wtp]
        if any(not np.isfinite(w) or w < 0 for w in base):
            raise EconError("ceac_wtp must be non-negative numbers")
    return sorted(set(base) | set(wtp))


def _mvt_draws(
    mean: np.ndarray, cov: np.ndarray, dfree: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Draws from the bivariate t (normal when ``dfree`` is infinite)."""
    if n < 1:
        raise EconError(f"n_boot must be a positive number of draws, got {n}")
    z = rng.multivariate_normal(np.zeros(2), cov, size=n, method="eigh")
    if np.isfinite(dfree):
        z = z / np.sqrt(rng.chisquare(dfree, size=n) / dfree)[:, None]
    return np.asarray(mean[None, :] + z)


def _prepare(
    data: pd.DataFrame,
    cost: str,
    effect: str,
    treat: str,
    cluster: str,
    covs: tuple[str, ...],
    treated: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    if not isinstance(data, pd.DataFrame):
        raise EconError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    cols = [cost, effect, treat, cluster, *covs]
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise EconError(f"CEA data has no column(s) {missing}; has {list(data.columns)}")
    if treat in covs or cluster in covs:
        raise EconError("the arm and the cluster cannot also be covariates")
    for c in (cost, effect, *covs):
        if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            raise EconError(f"CEA column {c!r} must be numeric (code categories as 0/1 columns)")
    gaps = data[cols].isna()
    incomplete = gaps.any(axis=1)
    if incomplete.any():
        which = ", ".join(f"{c} ({int(n)})" for c, n in gaps.sum().items() if n)
        raise EconError(
            f"{int(incomplete.sum())} of {len(data)} rows have missing values (rows missing, by "
            f"column: {which}): impute (multiple imputation) or choose complete cases "
            "explicitly before the CEA"
        )
    arms = pd.unique(data[treat])
    shown = [a.item() if isinstance(a, np.generic) else a for a in arms]  # 1, not np.int64(1)
    if len(arms) != 2:
        raise EconError(f"{treat!r} must have exactly two arms, found {len(arms)}: {shown[:5]}")
    if treated is None:
        if set(arms.tolist()) <= {0, 1}:
            treated = 1
        elif set(arms.tolist()) <= {"0", "1"}:  # a 0/1 arm read as text from a CSV
            treated = "1"
        else:
            raise EconError(
                f"say which value of {treat!r} is the intervention (treated=...); arms are {shown}"
            )
    if treated not in set(arms.tolist()):
        raise EconError(f"treated={treated!r} is not an arm of {treat!r} ({shown})")
    arm = (data[treat] == treated).to_numpy().astype(np.int64)
    groups = data[cluster].to_numpy()
    per_cluster = pd.Series(arm).groupby(pd.Series(groups)).nunique()
    if (per_cluster > 1).any():
        bad = per_cluster[per_cluster > 1].index[0]
        raise EconError(
            f"cluster {bad!r} has participants in both arms: clusters must be nested in arms"
        )
    n_clusters = (
        int(pd.Series(groups[arm == 0]).nunique()),
        int(pd.Series(groups[arm == 1]).nunique()),
    )
    if min(n_clusters) < 2:
        raise EconError(
            f"each arm needs 2 or more clusters, got {n_clusters[0]} and {n_clusters[1]}"
        )
    y = data[[cost, effect]].to_numpy(dtype=float)
    x = np.column_stack(
        [np.ones(len(data)), arm.astype(float), *(data[c].to_numpy(float) for c in covs)]
    )
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise EconError("CEA data must be finite (no infinite costs, effects or covariates)")
    flat = [name for name, col in ((cost, y[:, 0]), (effect, y[:, 1])) if np.ptp(col) == 0]
    if flat:
        raise EconError(
            f"{' and '.join(repr(c) for c in flat)} {'is' if len(flat) == 1 else 'are'} the same "
            "for every participant: there is no variation to compare between the arms"
        )
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise EconError(f"covariates {list(covs)} are collinear with each other or the arm")
    return y, x, groups, arm, n_clusters
