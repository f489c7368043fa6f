# Fit the GLMM reference datasets in R and store full-precision results.
# Run from this folder:  Rscript fit_reference.R   (writes reference.json, cbpp.csv)
# Needs lme4, glmmTMB, jsonlite. The vcov of glmer is lme4's default (Hessian-based
# for nAGQ > 0, from the finite-difference Hessian of the deviance in (theta, beta)).
suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(jsonlite)
})

cbpp_csv <- lme4::cbpp
cbpp_csv$period <- as.integer(as.character(cbpp_csv$period))
cbpp_csv$herd <- as.integer(as.character(cbpp_csv$herd))
write.csv(cbpp_csv, "cbpp.csv", row.names = FALSE)

ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
# lme4's default PIRLS tolerance (tolPwrss = 1e-7) leaves the conditional modes
# inexact; its Laplace deviance then differs from the exact Laplace value by ~1e-4
# and the Hessian-based SEs by up to ~1.3% (cbpp). "_tight" fits use 1e-12.
ctrl_tight <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)

glmer_out <- function(fit) {
  v <- as.matrix(vcov(fit))
  list(
    params = as.list(fixef(fit)),
    bse = as.list(sqrt(diag(v))),
    cov = unname(v),
    names = names(fixef(fit)),
    cluster_var = as.numeric(VarCorr(fit)[[1]][1, 1]),
    llf = as.numeric(logLik(fit)),
    aic = AIC(fit),
    nobs = nobs(fit),
    singular = isSingular(fit),
    theta_lme4 = as.numeric(getME(fit, "theta"))
  )
}

tmb_out <- function(fit) {
  v <- as.matrix(vcov(fit)$cond)
  list(
    params = as.list(fixef(fit)$cond),
    bse = as.list(sqrt(diag(v))),
    cov = unname(v),
    names = names(fixef(fit)$cond),
    cluster_var = as.numeric(VarCorr(fit)$cond[[1]][1, 1]),
    llf = as.numeric(logLik(fit)),
    aic = AIC(fit),
    nobs = nobs(fit),
    theta = as.numeric(sigma(fit))
  )
}

out <- list(
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    glmmTMB = as.character(packageVersion("glmmTMB")),
    jsonlite = as.character(packageVersion("jsonlite"))
  ),
  fits = list()
)

add <- function(key, formula, expr) {
  cat(key, "\n")
  out$fits[[key]] <<- c(list(formula = formula), expr)
}

f_bin <- "y ~ arm + x + base"
for (name in c("bin_12", "bin_24", "bin_32", "bin_60", "bin_rare", "bin_zero")) {
  d <- read.csv(paste0(name, ".csv"))
  for (q in c(1, 25)) {
    fit <- glmer(y ~ arm + x + base + (1 | cluster), data = d, family = binomial,
                 nAGQ = q, control = ctrl)
    add(paste0(name, "_agq", q), f_bin, c(list(data = name, nagq = q), glmer_out(fit)))
  }
  fit <- glmer(y ~ arm + x + base + (1 | cluster), data = d, family = binomial,
               nAGQ = 1, control = ctrl_tight)
  add(paste0(name, "_agq1_tight"), f_bin, c(list(data = name, nagq = 1), glmer_out(fit)))
}

d <- read.csv("pois_offset.csv")
for (q in c(1, 25)) {
  fit <- glmer(y ~ arm + x + (1 | cluster), offset = log(followup), data = d,
               family = poisson, nAGQ = q, control = ctrl)
  add(paste0("pois_offset_agq", q), "y ~ arm + x",
      c(list(data = "pois_offset", nagq = q, offset = "log(followup)"), glmer_out(fit)))
}
fit <- glmer(y ~ arm + x + (1 | cluster), offset = log(followup), data = d,
             family = poisson, nAGQ = 1, control = ctrl_tight)
add("pois_offset_agq1_tight", "y ~ arm + x",
    c(list(data = "pois_offset", nagq = 1, offset = "log(followup)"), glmer_out(fit)))

d <- read.csv("negbin.csv")
fit <- glmmTMB(y ~ arm + x + offset(log(followup)) + (1 | cluster), data = d,
               family = nbinom2, REML = FALSE)
add("negbin_tmb", "y ~ arm + x",
    c(list(data = "negbin", nagq = 1, offset = "log(followup)"), tmb_out(fit)))

cb <- lme4::cbpp
for (q in c(1, 25)) {
  fit <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cb,
               family = binomial, nAGQ = q, control = ctrl)
  add(paste0("cbpp_agq", q), "incidence ~ C(period)",
      c(list(data = "cbpp", nagq = q, trials = "size"), glmer_out(fit)))
}
fit <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cb,
             family = binomial, nAGQ = 1, control = ctrl_tight)
add("cbpp_agq1_tight", "incidence ~ C(period)",
    c(list(data = "cbpp", nagq = 1, trials = "size"), glmer_out(fit)))

# timing of glmer for the benchmark sizes is in benchmarks/bench_glmm.py, not here
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "reference.json")
