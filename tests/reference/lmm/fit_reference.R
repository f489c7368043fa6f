# Reference fits for odtrial's LMM (fit_lmm), run from this folder:
#   Rscript fit_reference.R > r_run.log 2>&1
# Needs lme4, lmerTest, pbkrtest, jsonlite. Writes lmm_reference.json with
# full-precision numbers (jsonlite digits = NA).
#
# For every dataset: lmer REML and ML fits with a tight optimizer (so the
# reference is the optimum itself, not where a default stopping rule lands)
# and, for comparison, REML with lme4's default control. Satterthwaite df from
# lmerTest (summary), Kenward-Roger from pbkrtest (vcovAdj for the adjusted
# covariance, get_Lb_ddf per coefficient contrast).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(jsonlite)
})

datasets <- list(
  lmm_12 = "y ~ arm + age + baseline + C(stratum)",
  lmm_24 = "y ~ arm + baseline + C(stratum)",
  lmm_32 = "y ~ arm + age + sex + baseline + C(stratum)",
  lmm_60 = "y ~ arm + age + sex + baseline + C(stratum)",
  lmm_zero = "y ~ arm + baseline + C(stratum)"
)

tight <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-16, xtol_rel = 1e-14, ftol_rel = 1e-16, maxeval = 100000),
  check.conv.singular = "ignore"
)

fit_one <- function(rhs_r, d, reml, control) {
  f <- as.formula(paste(rhs_r, "+ (1 | cluster)"))
  lmerTest::lmer(f, data = d, REML = reml, control = control)
}

describe <- function(m, with_kr) {
  s <- summary(m)  # lmerTest: Satterthwaite by default
  co <- coef(s)
  V <- as.matrix(vcov(m))
  out <- list(
    names = rownames(co),
    beta = unname(fixef(m)),
    se = unname(co[, "Std. Error"]),
    vcov = unname(V),
    df_satterthwaite = unname(co[, "df"]),
    sigma = sigma(m),
    theta = unname(getME(m, "theta")),
    cluster_var = unname(as.numeric(VarCorr(m)$cluster)),
    loglik = as.numeric(logLik(m)),
    deviance_criterion = unname(if (isREML(m)) REMLcrit(m) else deviance(m)),
    singular = isSingular(m),
    nobs = nobs(m)
  )
  if (with_kr) {
    Va <- vcovAdj(m)
    p <- length(fixef(m))
    out$kr_vcov <- unname(as.matrix(Va))
    out$kr_se <- sqrt(diag(as.matrix(Va)))
    out$df_kenward_roger <- sapply(seq_len(p), function(k) {
      L <- matrix(0, 1, p); L[1, k] <- 1
      get_Lb_ddf(m, L)
    })
    sk <- coef(summary(m, ddf = "Kenward-Roger"))  # lmerTest's route to pbkrtest
    out$df_kenward_roger_lmertest <- unname(sk[, "df"])
    # a multi-row contrast: all stratum coefficients jointly (q = number of them)
    strat <- grep("^stratum", names(fixef(m)))
    Lq <- matrix(0, length(strat), p)
    Lq[cbind(seq_along(strat), strat)] <- 1
    out$kr_joint_stratum <- list(columns = strat - 1L, df = get_Lb_ddf(m, Lq))
  }
  out
}

res <- list(
  meta = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    lmerTest = as.character(packageVersion("lmerTest")),
    pbkrtest = as.character(packageVersion("pbkrtest"))
  )
)
for (nm in names(datasets)) {
  d <- read.csv(paste0(nm, ".csv"), stringsAsFactors = FALSE)
  d$stratum <- factor(d$stratum)
  rhs_py <- datasets[[nm]]
  rhs_r <- gsub("C\\(stratum\\)", "stratum", rhs_py)
  reml <- fit_one(rhs_r, d, TRUE, tight)
  ml <- fit_one(rhs_r, d, FALSE, tight)
  reml_default <- fit_one(rhs_r, d, TRUE, lmerControl(check.conv.singular = "ignore"))
  res[[nm]] <- list(
    formula = rhs_py,
    reml = describe(reml, TRUE),
    ml = describe(ml, FALSE),
    reml_default_control = describe(reml_default, FALSE)
  )
  cat(nm, ": theta =", getME(reml, "theta"), " REMLcrit =", format(REMLcrit(reml), digits = 17), "\n")
}
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), "lmm_reference.json")
