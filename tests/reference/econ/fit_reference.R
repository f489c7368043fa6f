# Reference fits of the bivariate cost-effectiveness model, run from this folder:
#   Rscript fit_reference.R > r_run.log 2>&1
# Needs nlme and jsonlite. Writes bivariate_reference.json (digits = NA).
#
# The model (Gomes et al. 2012): cost and QALY stacked into one outcome y, a
# fixed-effect intercept and covariate slopes per outcome, correlated random
# cluster intercepts for the two outcomes (random = ~ 0 + outcome | cluster,
# an unstructured 2 x 2 covariance) and a correlated pair of residuals within
# each participant (varIdent by outcome, corSymm within cluster/id), fitted by
# REML and by ML with tight tolerances.
#
# Costs are fitted in thousands of pounds: with costs in pounds (variance ~1e6)
# beside QALYs (variance ~1e-2), nlme stops short of the optimum (the cluster
# correlation stays near 0 and the log-likelihood is ~0.3-0.8 below the
# maximum). Everything is converted back to pounds before it is written:
# cost coefficients x 1000, covariances D V D, and the log-likelihood
# - n log(1000) (ML) or - (n - p_cost) log(1000) (REML: the Jacobian of the
# error contrasts), n participants, p_cost cost coefficients.
suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

datasets <- list(
  cea_24 = c("treat", "baseline_cost", "baseline_utility"),
  cea_16_skew = c("treat")
)

ctrl <- lmeControl(maxIter = 1000, msMaxIter = 1000, niterEM = 200, msMaxEval = 5000,
                   tolerance = 1e-12, msTol = 1e-14, opt = "nlminb")

cost_scale <- 1000

stack <- function(d) {
  d$id <- seq_len(nrow(d))
  long <- rbind(
    data.frame(d, outcome = "cost", y = d$cost / cost_scale, k = 1L),
    data.frame(d, outcome = "qaly", y = d$qaly, k = 2L)
  )
  long$outcome <- factor(long$outcome, levels = c("cost", "qaly"))
  long$cluster <- factor(long$cluster)
  long$id <- factor(long$id)
  long[order(long$cluster, long$id, long$k), ]
}

fit_one <- function(long, covs, method) {
  rhs <- paste(c("0 + outcome", paste0("outcome:", covs)), collapse = " + ")
  f <- as.formula(paste("y ~", rhs))
  lme(f, data = long, random = ~ 0 + outcome | cluster,
      weights = varIdent(form = ~ 1 | outcome),
      correlation = corSymm(form = ~ k | cluster/id),
      method = method, control = ctrl)
}

describe <- function(m, covs) {
  # fixed effects in the order: cost intercept, cost covariates..., qaly intercept, qaly covariates...
  fe <- fixef(m)
  nm <- names(fe)
  ord <- c("outcomecost", paste0("outcomecost:", covs), "outcomeqaly", paste0("outcomeqaly:", covs))
  V <- vcov(m)[ord, ord]
  su <- getVarCov(m, type = "random.effects")
  sig <- m$sigma
  ratio <- coef(m$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
  sds <- sig * ratio[c("cost", "qaly")]
  rho <- coef(m$modelStruct$corStruct, unconstrained = FALSE)
  se <- matrix(c(sds[1]^2, rho * sds[1] * sds[2], rho * sds[1] * sds[2], sds[2]^2), 2, 2)
  n <- nrow(m$data) / 2
  p_cost <- length(covs) + 1
  D <- diag(c(rep(cost_scale, p_cost), rep(1, p_cost)))
  S <- diag(c(cost_scale, 1))
  reml <- m$method == "REML"
  list(
    names = ord,
    beta = unname(as.numeric(D %*% fe[ord])),
    vcov = unname(D %*% V %*% D),
    sigma_u = unname(S %*% matrix(as.numeric(su), 2, 2) %*% S),
    sigma_e = unname(S %*% se %*% S),
    loglik = as.numeric(logLik(m)) - (if (reml) n - p_cost else n) * log(cost_scale),
    nobs = n
  )
}

out <- list()
for (name in names(datasets)) {
  d <- read.csv(paste0(name, ".csv"))
  covs <- datasets[[name]]
  long <- stack(d)
  res <- list(covariates = covs)
  for (method in c("REML", "ML")) {
    m <- fit_one(long, covs, method)
    cat("==", name, method, "\n")
    print(summary(m))
    res[[method]] <- describe(m, covs)
  }
  out[[name]] <- res
}
out$meta <- list(
  R = R.version.string,
  nlme = as.character(packageVersion("nlme")),
  cost_scale = cost_scale,
  script = "fit_reference.R"
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "bivariate_reference.json")
