"""Build ``notebooks/02_models.ipynb``: the primary model, its diagnostics, ICC,
marginal effects and sensitivity analyses, as a trial statistician runs them.

The notebook is saved without outputs (the test suite executes it). Regenerate with::

    python notebooks/build/make_02_models.py
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write  # notebooks/build/, on sys.path when run as a script

OUT = Path(__file__).resolve().parents[1] / "02_models.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """
        # 02 · The primary model, its diagnostics and its sensitivity analyses

        The statistician's work once the data are frozen: fit the primary model the
        statistical analysis plan (SAP) specifies, check that it reached a real optimum,
        report the treatment effect on the scales readers need (a conditional odds ratio,
        and a risk difference and ratio), the intracluster correlation (ICC), and set the
        sensitivity analyses side by side. The shipped trial is synthetic, so at the end we
        can also ask whether the truth it was generated from lies inside our intervals.

        **Primary outcome**: in work or study at 24 months. **Primary model**: logistic
        GLMM with a random intercept per cluster of GP practices, adjusted for the
        stratification factor (catchment) and the baseline value, with between-within
        degrees of freedom. We fit it first by maximum likelihood with adaptive
        Gauss–Hermite quadrature (25 nodes), as lme4's `glmer` does; the shipped plan
        fits the same model by REML, compared with ML below.
        """,
    ),
    (
        "code",
        """
        import json
        import tempfile
        from pathlib import Path

        import numpy as np
        import pandas as pd
        from scipy import stats

        import odtrial
        from odtrial.models import cluster_level, fit_gee, fit_lmm, icc
        from odtrial.models.glmm import fit_glmm, marginal_effects
        from odtrial.models.icc import LOGISTIC_VARIANCE
        from odtrial.paths import shipped_plan, shipped_trial_dir

        pd.set_option("display.precision", 4)
        pd.set_option("display.width", 120)
        src = shipped_trial_dir()
        work = Path(tempfile.mkdtemp(prefix="odtrial-nb02-"))
        trial = odtrial.load_trial(src / "trial.toml")
        truth = json.loads((src / "truth.json").read_text())
        print("odtrial", odtrial.__version__, "| source:", src)
        """,
    ),
    (
        "md",
        """
        ## From the extracts to the analysis dataset
        Ingest the six trusts' extracts into a freeze (notebook 01 looks at it closely),
        then derive one row per participant with the outcomes the analysis plan defines,
        over its 24-month window.
        """,
    ),
    (
        "code",
        """
        odtrial.ingest(src, work / "freeze")
        ds = odtrial.derive(work / "freeze", shipped_plan())
        print(len(ds), "participants in", ds["cluster_id"].nunique(), "clusters")
        """,
    ),
    (
        "md",
        """
        ## The analysis population
        The primary analysis uses everyone with a 24-month assessment, in the arm their
        cluster was randomised to (missing outcomes are assumed missing at random given
        the covariates in the model). The model wants numbers: `treat` is 1 for the
        intervention arm (the first arm in the trial configuration) and 0 for treatment as
        usual; the binary columns become 0/1.
        """,
    ),
    (
        "code",
        """
        intervention, control = trial.arms
        d = ds.dropna(subset=["work_study_24m"]).copy()
        d["treat"] = (d["arm"] == intervention).astype(int)
        d["work_study_24m"] = d["work_study_24m"].astype(int)
        d["baseline_work_study"] = d["baseline_work_study"].astype(int)
        d.groupby("arm").agg(
            clusters=("cluster_id", "nunique"),
            people=("participant_id", "size"),
            work_study_24m=("work_study_24m", "mean"),
            baseline_work_study=("baseline_work_study", "mean"),
        )
        """,
    ),
    (
        "md",
        """
        ## The primary model
        With `df="between-within"` the terms that vary only between clusters (the
        intercept, the arm and the catchment dummies) get *clusters − cluster-level
        columns* degrees of freedom, 32 − 10 = 22 here; baseline work/study varies within
        clusters and gets the within-cluster residual df. The information about the arm
        comes from 32 clusters, not from ~500 people, and the df say so.
        """,
    ),
    (
        "code",
        """
        FORMULA = "work_study_24m ~ treat + C(catchment) + baseline_work_study"
        primary = fit_glmm(
            FORMULA, d, cluster="cluster_id", family="binomial", method="ML", nagq=25,
            df="between-within",
        )
        print(primary.summary())
        """,
    ),
    (
        "md",
        """
        ### The odds ratio
        The coefficient of `treat` is a log odds ratio *conditional* on the cluster: the
        effect of the intervention for people in the same (or an exchangeable) cluster.
        The interval is exponentiated from the t-based interval on the log scale.
        """,
    ),
    (
        "code",
        """
        def odds_ratio(fit, term="treat", level=0.95):
            ci = fit.conf_int(level).loc[term]
            return pd.Series(
                {
                    "odds_ratio": np.exp(fit.params[term]),
                    "ci_lower": np.exp(ci["lower"]),
                    "ci_upper": np.exp(ci["upper"]),
                    "df": fit.df[term],
                    "p_value": fit.pvalues[term],
                }
            )


        odds_ratio(primary).to_frame(f"{intervention} vs {control}")
        """,
    ),
    (
        "md",
        """
        ### Maximum likelihood or REML?
        `fit_glmm(method="ML")` fits by maximum likelihood (what lme4's `glmer` does). With ~30
        clusters and ten cluster-level columns, the ML cluster variance is biased low and
        is often estimated as 0; the arm's standard error is then too small. REML
        (`fit_glmm`'s default, the Laplace approximation integrating over the cluster effects
        *and* the fixed effects, as glmmTMB's `REML=TRUE`) removes most of that bias: in
        4,000 simulated null trials of 32 clusters its type I error was 5.3% against 6.1%
        for ML (`docs/small_sample_inference.md`). The shipped analysis plan fits the
        primary outcome by REML and keeps ML as a sensitivity analysis.
        """,
    ),
    (
        "code",
        """
        reml = fit_glmm(FORMULA, d, cluster="cluster_id", family="binomial", method="REML")
        COLS = ["odds_ratio", "ci_lower", "ci_upper", "p_value"]
        pd.DataFrame(
            {
                name: [fit.cluster_var, fit.diagnostics.singular, *odds_ratio(fit)[COLS]]
                for name, fit in (("ML (AGQ 25)", primary), ("REML", reml))
            },
            index=["cluster variance", "singular", "odds ratio", "ci_lower", "ci_upper", "p"],
        )
        """,
    ),
    (
        "md",
        """
        ## Diagnostics: believe nothing before this
        Did the optimiser converge (largest absolute gradient of the log-likelihood near
        0, Hessian positive definite)? Is the fit *singular*, the cluster variance on its
        boundary at 0?

        A singular fit is not a failure. The maximum-likelihood estimate of the cluster
        variance is then 0 and the GLMM equals ordinary logistic regression; the fit says
        so rather than crashing or inventing a variance. With ~30 clusters and a modest ICC
        this is common, because the cluster variance is poorly determined (see the width of
        the ICC interval below). Inference for the arm stays honest because its df count
        clusters, not people. The warnings also name clusters in which everyone (or no
        one) had the outcome: they are kept (the likelihood handles them) but are worth
        knowing about.
        """,
    ),
    (
        "code",
        """
        dg = primary.diagnostics
        assert dg.converged and dg.hessian_positive_definite
        pd.Series(
            {
                "converged": dg.converged,
                "singular": dg.singular,
                "max |gradient|": f"{dg.max_abs_gradient:.1e}",
                "Hessian positive definite": dg.hessian_positive_definite,
                "Newton iterations": dg.n_iterations,
                "cluster variance": f"{primary.cluster_var:.4g}",
            },
            name="primary model",
        ).to_frame()
        """,
    ),
    (
        "code",
        """
        for w in dg.warnings:
            print("warning:", w)
        """,
    ),
    (
        "md",
        """
        ## The ICC, on both scales
        An ICC must say its scale.

        * **Latent scale**, σ²ᵤ / (σ²ᵤ + π²/3), from a random-intercept logistic model:
          `icc(method="latent")` fits the unadjusted model `outcome ~ 1`; its interval is
          a Wald interval on log σᵤ mapped back, so it stays inside (0, 1).
        * **Proportion scale**, the one-way ANOVA estimator on the 0/1 outcome with
          Smith's large-sample interval: the ICC that sample-size formulas use (notebook
          03). Its interval can dip below 0; report it as it is.
        * The primary model's own latent ICC is *adjusted*: catchment and baseline
          work/study explain part of the between-cluster variation, so it is smaller (0
          when the fit is singular).
        """,
    ),
    (
        "code",
        """
        icc_latent = icc(d, outcome="work_study_24m", cluster="cluster_id", method="latent")
        icc_prop = icc(d, outcome="work_study_24m", cluster="cluster_id", method="anova")
        icc_adjusted = primary.cluster_var / (primary.cluster_var + LOGISTIC_VARIANCE)
        rows = {
            "latent, unadjusted": icc_latent,
            "proportion, unadjusted": icc_prop,
        }
        icc_table = pd.DataFrame.from_dict(
            {k: (r.estimate, r.lower, r.upper, r.ci_method) for k, r in rows.items()}
            | {"latent, primary model": (icc_adjusted, np.nan, np.nan, "point estimate")},
            orient="index",
            columns=["estimate", "ci_lower", "ci_upper", "interval"],
        )
        icc_table
        """,
    ),
    (
        "md",
        """
        ## Marginal effects: risks, not odds
        Commissioners think in risks. By standardisation, every analysed participant's
        risk is predicted with `treat` set to 1 and then to 0, integrated over the
        random-intercept distribution, and averaged over people. The risk difference
        and risk ratio are population-average effects (the odds ratio above is not);
        their intervals use the delta method and the arm term's df.
        """,
    ),
    (
        "code",
        """
        me = marginal_effects(primary, d, treatment="treat", levels=(0, 1))
        marginal = me.to_frame().rename(
            index={"risk[0]": f"risk {control}", "risk[1]": f"risk {intervention}"}
        )
        marginal
        """,
    ),
    (
        "md",
        """
        ## Against the truth
        The synthetic trial was generated from known parameters (`truth.json`). The
        conditional odds ratio of 1.6 was set in a model that also had age and diagnosis;
        the SAP model leaves them out, and a logistic odds ratio is not collapsible, so
        the SAP model's target is slightly closer to 1. The risks standardised over this
        trial's participants (`implied` in `truth.json`) are the targets of the marginal
        effects; the latent ICC of 0.05 is that of the generating model's random
        intercept (the unadjusted ICC also carries the catchments' differences). One
        trial is one draw: a 95% interval misses the truth one time in twenty.
        """,
    ),
    (
        "code",
        """
        generating = truth["parameters"]["work_study_24m"]
        implied = truth["implied"]
        p_int = implied[f"p_work_study_24_{intervention.lower()}"]
        p_ctl = implied[f"p_work_study_24_{control.lower()}"]
        orr = odds_ratio(primary)
        cols = ["estimate", "ci_lower", "ci_upper"]
        icc_ci = (icc_latent.estimate, icc_latent.lower, icc_latent.upper)
        check = pd.DataFrame.from_dict(
            {
                "conditional odds ratio": (generating["odds_ratio_arm"], *orr.iloc[:3]),
                "risk difference": (p_int - p_ctl, *marginal.loc["risk_difference", cols]),
                "risk ratio": (p_int / p_ctl, *marginal.loc["risk_ratio", cols]),
                "ICC, latent scale": (generating["icc_latent"], *icc_ci),
            },
            orient="index",
            columns=["truth", *cols],
        )
        check["truth inside CI"] = check["ci_lower"].le(check["truth"]) & check["truth"].le(
            check["ci_upper"]
        )
        check
        """,
    ),
    (
        "md",
        """
        ## Sensitivity analyses side by side
        Does the conclusion depend on the model? Two analyses with different assumptions:

        * **GEE**, exchangeable working correlation, with Kauermann–Carroll's
          bias-corrected sandwich and t on *clusters − parameters* df: a population-average
          odds ratio that does not assume normal random effects.
        * **Cluster-level analysis** (Hayes & Moulton), adjusted in two stages for the
          same covariates: a logistic regression without the arm gives each person's
          expected outcome, and each cluster's (observed − expected) / size, or
          observed / expected, is compared between arms by a t-test on
          *clusters − 2 − cluster-level covariate columns* df, clusters equally weighted.

        The GLMM's standardised risk difference and ratio sit beside the cluster-level
        ones; the population-average odds ratio is expected to be a little closer to 1 than
        the conditional one whenever the cluster variance is above 0.
        """,
    ),
    (
        "code",
        """
        STAGE1 = "work_study_24m ~ C(catchment) + baseline_work_study"
        gee = fit_gee(
            FORMULA,
            d,
            cluster="cluster_id",
            family="binomial",
            cov_struct="exchangeable",
            cov_type="kauermann-carroll",
        )
        cl_rd = cluster_level(STAGE1, d, cluster="cluster_id", treatment="treat")
        cl_rr = cluster_level(STAGE1, d, cluster="cluster_id", treatment="treat", scale="ratio")


        def effect_row(analysis, effect, fit, exp=False):
            est, (lo, hi) = fit.params["treat"], fit.conf_int().loc["treat"]
            f = np.exp if exp else float
            return (analysis, effect, f(est), f(lo), f(hi), fit.df["treat"], fit.pvalues["treat"])


        def marginal_row(quantity, effect):
            r = marginal.loc[quantity]
            log = quantity == "risk_ratio"
            z = np.log(r["estimate"]) / me.se_log_risk_ratio if log else r["estimate"] / r["std_error"]
            p = 2 * stats.t.sf(abs(z), me.df)
            return ("GLMM, standardised", effect, r["estimate"], r["ci_lower"], r["ci_upper"], me.df, p)


        side = pd.DataFrame(
            [
                effect_row("GLMM (primary)", "odds ratio, conditional", primary, exp=True),
                effect_row("GEE, Kauermann–Carroll", "odds ratio, population", gee, exp=True),
                marginal_row("risk_difference", "risk difference"),
                effect_row("cluster-level, adjusted", "risk difference", cl_rd),
                marginal_row("risk_ratio", "risk ratio"),
                effect_row("cluster-level, adjusted", "risk ratio", cl_rr, exp=True),
            ],
            columns=["analysis", "effect", "estimate", "ci_lower", "ci_upper", "df", "p_value"],
        ).set_index("analysis")
        print(f"GEE working correlation (exchangeable): {gee.extra['alpha']:.4f}")
        side
        """,
    ),
    (
        "md",
        """
        ## A continuous secondary outcome: antipsychotic dose, LMM with Kenward–Roger
        Mean daily antipsychotic dose in chlorpromazine (CPZ) equivalents (Woods 2003; 0 for
        people on none) comes from prescribing records, so nobody is lost to follow-up; a
        participant taking a drug the method does not cover would be NaN and left out.
        Linear mixed model, REML, Kenward–Roger: the standard errors are inflated for the
        uncertainty in the estimated variance components (`bse` are the adjusted ones) and
        the df are approximated. Satterthwaite's df alongside, for comparison; the truth is
        the difference in time-weighted mean dose implied by the generating model.
        """,
    ),
    (
        "code",
        """
        CPZ = "cpz_mean_daily_dose ~ treat + C(catchment) + baseline_work_study"
        dc = ds.dropna(subset=["cpz_mean_daily_dose"]).copy()
        dc["treat"] = (dc["arm"] == intervention).astype(int)
        dc["baseline_work_study"] = dc["baseline_work_study"].astype(int)
        cpz = fit_lmm(CPZ, dc, cluster="cluster_id", ddf="kenward-roger")
        cpz_sw = fit_lmm(CPZ, dc, cluster="cluster_id", ddf="satterthwaite")
        print(cpz.summary())
        """,
    ),
    (
        "code",
        """
        ddf = {"Kenward–Roger": cpz, "Satterthwaite": cpz_sw}
        pd.DataFrame({k: f.to_frame().loc["treat"] for k, f in ddf.items()}).T.assign(
            truth=implied["cpz_twm_difference"]
        )
        """,
    ),
    (
        "md",
        """
        ## What z-based inference would have given
        Swap the t references for the normal distribution (`df="z"`) and the corrected
        sandwich for the uncorrected one (`cov_type="robust"`, `use_t=False`), as many
        packages do by default:
        """,
    ),
    (
        "code",
        """
        glmm_z = fit_glmm(FORMULA, d, cluster="cluster_id", nagq=25, df="z")
        gee_z = fit_gee(FORMULA, d, cluster="cluster_id", family="binomial", cov_type="robust", use_t=False)
        lmm_z = fit_lmm(CPZ, dc, cluster="cluster_id", ddf="z")
        z_fits = {
            "GLMM (OR)": (primary, glmm_z),
            "GEE (OR)": (gee, gee_z),
            "LMM (mg CPZ)": (cpz, lmm_z),
        }
        rows = []
        for name, (small, large) in z_fits.items():
            a, b = small.conf_int().loc["treat"], large.conf_int().loc["treat"]
            rows.append(
                {
                    "model": name,
                    "default df": small.df["treat"],
                    "default SE": small.bse["treat"],
                    "default p": small.pvalues["treat"],
                    "z SE": large.bse["treat"],
                    "z p": large.pvalues["treat"],
                    "z CI width / default": (b["upper"] - b["lower"]) / (a["upper"] - a["lower"]),
                }
            )
        pd.DataFrame(rows).set_index("model")
        """,
    ),
    (
        "code",
        """
        t_crit = stats.t.ppf(0.975, primary.df["treat"])
        print(
            f"GLMM: 1.960 instead of t({primary.df['treat']:.0f}) = {t_crit:.3f}; the z interval "
            f"for the OR would be {np.exp(glmm_z.conf_int().loc['treat']).round(2).tolist()} "
            f"instead of {np.exp(primary.conf_int().loc['treat']).round(2).tolist()}."
        )
        """,
    ),
    (
        "md",
        """
        The z versions are always narrower, and the difference is not cosmetic. With 32
        clusters the arm effect is estimated from 32 cluster-level units: its standard
        error is itself estimated from few clusters, which a normal reference ignores, and
        the uncorrected sandwich underestimates the variance by a bias of order
        1/clusters. Together they push the type I error above the nominal 5% when there
        are fewer than about 40 clusters (Li & Redden, BMC Med Res Methodol 2015;15:38;
        Leyrat et al., Int J Epidemiol 2018;47:321). So odtrial's defaults are the
        small-sample ones: between-within df for the GLMM, Kenward–Roger or Satterthwaite
        for the LMM, Mancl–DeRouen with t on clusters − parameters for GEE, and t on
        clusters − 2 − k for the cluster-level analysis. `benchmarks/simulate_small_sample.py`
        measures their type I error and coverage at 12, 24 and 32 clusters.
        """,
    ),
]


if __name__ == "__main__":
    write(CELLS, "nb02", OUT)
