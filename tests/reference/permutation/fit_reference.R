# Reference for odtrial.randomise.permutation_test, computed independently in base R
# (run from the repository root after make_data.py):
#   Rscript tests/reference/permutation/fit_reference.R
# For each outcome: a GLM of the outcome on the covariates without treatment,
# response residuals averaged per cluster, the difference of arm means of those
# cluster residuals for every allocation in the space, and the two-sided p-value
# (share of allocations with |statistic| >= the observed one).
suppressPackageStartupMessages(library(jsonlite))
here <- "tests/reference/permutation"
d <- read.csv(file.path(here, "trial.csv"), stringsAsFactors = FALSE)
space <- read.csv(file.path(here, "space.csv"), check.names = FALSE)
ids <- setdiff(names(space), "chosen")
alloc <- as.matrix(space[, ids])

one <- function(y, formula, family) {
  fit <- glm(formula, data = d, family = family)
  r <- d[[y]] - fitted(fit)
  cm <- tapply(r, d$cluster, mean)[ids]
  n1 <- rowSums(alloc)
  stats <- as.vector(alloc %*% cm) / n1 - as.vector((1 - alloc) %*% cm) / (ncol(alloc) - n1)
  obs <- stats[space$chosen == 1]
  list(
    outcome = y, formula = deparse(formula), family = family$family,
    statistic = obs, p_value = mean(abs(stats) >= abs(obs) - 1e-10 * max(1, max(abs(stats)))),
    n_allocations = length(stats), null_first = stats[1:20],
    cluster_mean_residual = as.list(cm)
  )
}
out <- list(
  R = R.version.string,
  fits = list(
    binary_adjusted = one("y_bin", y_bin ~ factor(stratum) + x, binomial()),
    binary_unadjusted = one("y_bin", y_bin ~ 1, binomial()),
    count_adjusted = one("y_count", y_count ~ factor(stratum) + x, poisson()),
    continuous_adjusted = one("y_cont", y_cont ~ factor(stratum) + x, gaussian())
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "reference.json"))
