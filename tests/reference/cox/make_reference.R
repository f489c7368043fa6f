# Reference Cox fits for odtrial's tests (run from this folder):
#   python make_data.py && Rscript make_reference.R
# survival::coxph with cluster = cluster gives the estimates, the naive
# (inverse information) variance fit$naive.var and the cluster-robust
# sandwich fit$var (sum over clusters of dfbeta residuals' outer products,
# no small-sample factor). coxph(..., robust = TRUE) without a cluster gives
# the individual (Lin & Wei) sandwich. The convergence tolerance is tightened
# (eps = 1e-11; toler.chol must stay below it) so the stored numbers are the optimum, not one Newton step
# short of it. Everything is written with jsonlite digits = NA (full precision).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

cases <- list(
  c12 = Surv(time, event) ~ arm + factor(stratum),
  c32 = Surv(time, event) ~ arm + factor(stratum) + age,
  c60 = Surv(time, event) ~ arm + factor(stratum) + age,
  c20notie = Surv(time, event) ~ arm + factor(stratum) + age
)
# the same right-hand sides in odtrial's (formulaic) spelling
py_formula <- c(
  c12 = "~ arm + C(stratum)",
  c32 = "~ arm + C(stratum) + age",
  c60 = "~ arm + C(stratum) + age",
  c20notie = "~ arm + C(stratum) + age"
)

py_names <- function(nm) sub("^factor\\(stratum\\)(.*)$", "C(stratum)[T.\\1]", nm)
named <- function(x, nm) as.list(setNames(as.numeric(x), py_names(nm)))
ctl <- coxph.control(eps = 1e-11, iter.max = 200)

out <- list()
for (name in names(cases)) {
  d <- read.csv(paste0(name, ".csv"), stringsAsFactors = FALSE)
  res <- list(
    formula = unname(py_formula[name]),
    nobs = nrow(d),
    n_clusters = length(unique(d$cluster)),
    n_events = sum(d$event)
  )
  for (ties in c("efron", "breslow")) {
    fit <- coxph(cases[[name]], data = d, cluster = cluster, ties = ties, control = ctl)
    ind <- coxph(cases[[name]], data = d, robust = TRUE, ties = ties, control = ctl)
    nm <- names(coef(fit))
    res[[ties]] <- list(
      coef = named(coef(fit), nm),
      se_naive = named(sqrt(diag(fit$naive.var)), nm),
      se_robust = named(sqrt(diag(fit$var)), nm),
      se_robust_individual = named(sqrt(diag(ind$var)), nm),
      var_robust = unname(fit$var),
      loglik = fit$loglik[2],
      loglik_null = fit$loglik[1],
      iter = fit$iter
    )
  }
  out[[name]] <- res
}
out$r_version <- R.version.string
out$survival_version <- as.character(packageVersion("survival"))
write_json(out, "reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
