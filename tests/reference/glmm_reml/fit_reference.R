# Restricted (REML-type) GLMM reference: glmmTMB(..., REML = TRUE) on the datasets of
# ../glmm (bin_*.csv, pois_offset.csv, negbin.csv) and of this folder (arm_12.csv,
# near_singular.csv, negbin_32.csv, negbin_zero.csv).
# Run from this folder:  Rscript fit_reference.R   (writes reference.json; ~10 s)
#
# glmmTMB with REML = TRUE treats beta as random with a flat prior and takes the Laplace
# approximation over (b, beta) jointly; logLik is that restricted log-likelihood.
# Stored per fit:
#   params       fixef(fit)$cond (the joint mode of beta at the estimated variance)
#   cov          vcov(fit)$cond: the beta block of the inverse of sdreport's joint
#                precision marginalised over b, i.e. it includes the uncertainty of
#                log(sigma) carried through beta-hat(sigma)
#   cov_schur    the inverse of the beta Schur complement of the inner Hessian alone
#                (the (b, beta) block of the joint precision, which is TMB's Hessian of
#                the joint negative log-density in the random effects): beta's
#                covariance given sigma
#   cluster_var  VarCorr; log_sigma and its SE (sdreport, the outer parameter theta)
#   llf          logLik(fit)
suppressPackageStartupMessages({
  library(glmmTMB)
  library(Matrix)
  library(jsonlite)
})

tmb_reml_out <- function(fit) {
  v <- as.matrix(vcov(fit)$cond)
  Q <- fit$sdr$jointPrecision
  rn <- rownames(Q)
  rand <- which(rn %in% c("b", "beta"))
  Qr <- Q[rand, rand]
  beta_in_rand <- which(rownames(Qr) == "beta")
  Sm <- glmmTMB:::GMRFmarginal(Qr, beta_in_rand)
  v_schur <- solve(as.matrix(Sm))
  sdr_fixed <- summary(fit$sdr, "fixed")
  list(
    params = as.list(fixef(fit)$cond),
    bse = as.list(sqrt(diag(v))),
    cov = unname(v),
    cov_schur = unname(v_schur),
    names = names(fixef(fit)$cond),
    cluster_var = as.numeric(VarCorr(fit)$cond[[1]][1, 1]),
    log_sigma = unname(sdr_fixed[rownames(sdr_fixed) == "theta", "Estimate"]),
    log_sigma_se = unname(sdr_fixed[rownames(sdr_fixed) == "theta", "Std. Error"]),
    llf = as.numeric(logLik(fit)),
    nobs = nobs(fit),
    convergence = fit$fit$convergence,
    pdHess = fit$sdr$pdHess
  )
}

out <- list(
  versions = list(
    R = R.version.string,
    glmmTMB = as.character(packageVersion("glmmTMB")),
    TMB = as.character(packageVersion("TMB")),
    jsonlite = as.character(packageVersion("jsonlite"))
  ),
  fits = list()
)

add <- function(key, formula, data_path, family, expr) {
  cat(key, "\n")
  out$fits[[key]] <<- c(list(formula = formula, data = data_path, family = family), expr)
}

ctrl <- glmmTMBControl(optCtrl = list(iter.max = 1e4, eval.max = 1e4, rel.tol = 1e-12))

for (name in c("bin_12", "bin_24", "bin_32", "bin_rare", "bin_zero")) {
  path <- paste0("../glmm/", name, ".csv")
  d <- read.csv(path)
  fit <- glmmTMB(y ~ arm + x + base + (1 | cluster), data = d, family = binomial,
                 REML = TRUE, control = ctrl)
  add(paste0(name, "_reml"), "y ~ arm + x + base", path, "binomial", tmb_reml_out(fit))
  fit <- glmmTMB(y ~ arm + (1 | cluster), data = d, family = binomial,
                 REML = TRUE, control = ctrl)
  add(paste0(name, "_arm_reml"), "y ~ arm", path, "binomial", tmb_reml_out(fit))
}

for (name in c("arm_12", "near_singular")) {
  path <- paste0(name, ".csv")
  d <- read.csv(path)
  fit <- glmmTMB(y ~ arm + (1 | cluster), data = d, family = binomial,
                 REML = TRUE, control = ctrl)
  add(paste0(name, "_reml"), "y ~ arm", path, "binomial", tmb_reml_out(fit))
}

d <- read.csv("../glmm/pois_offset.csv")
fit <- glmmTMB(y ~ arm + x + offset(log(followup)) + (1 | cluster), data = d,
               family = poisson, REML = TRUE, control = ctrl)
add("pois_offset_reml", "y ~ arm + x", "../glmm/pois_offset.csv", "poisson",
    c(list(offset = "log(followup)"), tmb_reml_out(fit)))

# NB2 (variance mu + mu^2/theta): theta is a second outer parameter (sdreport's "betad",
# log theta) next to log sigma. Stored in addition: theta (sigma(fit)), log_theta and its
# SE, and cov_outer, sdreport's covariance of the outer parameters (log sigma, log theta).
nb_out <- function(fit) {
  sdr_fixed <- summary(fit$sdr, "fixed")
  cf <- fit$sdr$cov.fixed
  keep <- match(c("theta", "betad"), rownames(cf))
  c(tmb_reml_out(fit), list(
    theta = sigma(fit),
    log_theta = unname(sdr_fixed[rownames(sdr_fixed) == "betad", "Estimate"]),
    log_theta_se = unname(sdr_fixed[rownames(sdr_fixed) == "betad", "Std. Error"]),
    cov_outer = unname(cf[keep, keep])
  ))
}
for (name in c("../glmm/negbin.csv", "negbin_32.csv")) {
  d <- read.csv(name)
  fit <- glmmTMB(y ~ arm + x + offset(log(followup)) + (1 | cluster), data = d,
                 family = nbinom2, REML = TRUE, control = ctrl)
  key <- paste0(sub("\\.csv$", "", basename(name)), "_reml")
  add(key, "y ~ arm + x", name, "negbin", c(list(offset = "log(followup)"), nb_out(fit)))
}
d <- read.csv("negbin_zero.csv")
fit <- glmmTMB(y ~ arm + (1 | cluster), data = d, family = nbinom2, REML = TRUE,
               control = ctrl)
add("negbin_zero_reml", "y ~ arm", "negbin_zero.csv", "negbin", nb_out(fit))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "reference.json")
