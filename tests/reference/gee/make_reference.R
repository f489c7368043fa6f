# Reference GEE results for odtrial's tests (run from this folder):
#   Rscript make_reference.R
# geepack::geeglm gives the estimates, the working correlation (alpha), the
# scale and its robust ("san.se") standard errors. The small-sample
# corrections are computed here by hand from geepack's fitted values with
# full n_i x n_i matrices, straight from the published formulas:
#   Mancl & DeRouen (2001), Biometrics 57:126  -- (I - H_ii)^{-1} e_i
#   Kauermann & Carroll (2001), JASA 96:1387    -- (I - H_ii)^{-1/2} e_i
#   Fay & Graubard (2001), Biometrics 57:1198   -- diag(1 - min(b, Q_jj))^{-1/2}, b = 0.75
# where H_ii = D_i B^{-1} D_i' V_i^{-1}, B = sum_i D_i' V_i^{-1} D_i and
# Q_i = D_i' V_i^{-1} D_i B^{-1}. The principal inverse square root of the
# non-symmetric I - H_ii is taken by the Denman-Beavers iteration, a route
# independent of the p x p algebra odtrial uses.
suppressPackageStartupMessages({
  library(geepack)
  library(jsonlite)
})

cases <- list(
  bin24 = list(formula = y ~ arm + x + z, family = "binomial"),
  bin12rare = list(formula = y ~ arm + x, family = "binomial"),
  gauss30 = list(formula = y ~ arm + x + z, family = "gaussian"),
  pois20 = list(formula = y ~ arm + x, family = "poisson"),
  pois20off = list(formula = y ~ arm + x + offset(logt), family = "poisson")
)

inv_sqrt_db <- function(A, tol = 1e-13, maxit = 100) {
  Y <- A
  Z <- diag(nrow(A))
  for (k in seq_len(maxit)) {
    Yn <- (Y + solve(Z)) / 2
    Zn <- (Z + solve(Y)) / 2
    done <- max(abs(Yn - Y)) < tol
    Y <- Yn
    Z <- Zn
    if (done) break
  }
  stopifnot(max(abs(Z %*% A %*% Z - diag(nrow(A)))) < 1e-9)
  Z
}

by_hand <- function(fit, data, fam, corstr, b = 0.75) {
  X <- model.matrix(fit)
  mu <- as.vector(fitted(fit))
  e <- data$y - mu
  v <- switch(fam, binomial = mu * (1 - mu), poisson = mu, gaussian = rep(1, length(mu)))
  dmu <- v # canonical links: d mu / d eta = variance function
  alpha <- if (corstr == "exchangeable") as.numeric(summary(fit)$corr[1, 1]) else 0
  phi <- as.numeric(summary(fit)$dispersion[1, 1])
  ids <- split(seq_len(nrow(data)), data$cluster)
  p <- ncol(X)
  pieces <- lapply(ids, function(ix) {
    n <- length(ix)
    D <- dmu[ix] * X[ix, , drop = FALSE]
    R <- matrix(alpha, n, n)
    diag(R) <- 1
    V <- phi * (sqrt(v[ix]) %o% sqrt(v[ix])) * R
    Vinv <- solve(V)
    list(D = D, Vinv = Vinv, e = e[ix], M = t(D) %*% Vinv %*% D, n = n)
  })
  B <- Reduce(`+`, lapply(pieces, `[[`, "M"))
  Binv <- solve(B)
  meat <- list(robust = 0, md = 0, kc = 0, fg = 0)
  for (pc in pieces) {
    U <- t(pc$D) %*% pc$Vinv %*% pc$e
    IH <- diag(pc$n) - pc$D %*% Binv %*% t(pc$D) %*% pc$Vinv
    Umd <- t(pc$D) %*% pc$Vinv %*% solve(IH, pc$e)
    Ukc <- t(pc$D) %*% pc$Vinv %*% inv_sqrt_db(IH) %*% pc$e
    q <- diag(pc$M %*% Binv)
    Ufg <- (1 / sqrt(1 - pmin(b, q))) * U
    meat$robust <- meat$robust + U %*% t(U)
    meat$md <- meat$md + Umd %*% t(Umd)
    meat$kc <- meat$kc + Ukc %*% t(Ukc)
    meat$fg <- meat$fg + Ufg %*% t(Ufg)
  }
  lapply(meat, function(m) Binv %*% m %*% Binv)
}

nm <- function(x) sub("(Intercept)", "Intercept", x, fixed = TRUE)
out <- list(
  R_version = R.version.string,
  geepack_version = as.character(packageVersion("geepack"))
)
for (name in names(cases)) {
  cs <- cases[[name]]
  d <- read.csv(paste0(name, ".csv"))
  fam <- switch(cs$family, binomial = binomial(), gaussian = gaussian(), poisson = poisson())
  res <- list(family = cs$family, formula = deparse(cs$formula), nobs = nrow(d),
              n_clusters = length(unique(d$cluster)))
  g <- glm(cs$formula, data = d, family = fam)
  res$glm <- list(coef = as.list(setNames(coef(g), nm(names(coef(g))))))
  for (corstr in c("exchangeable", "independence")) {
    fit <- geeglm(cs$formula, id = factor(cluster), data = d, family = fam, corstr = corstr)
    covs <- by_hand(fit, d, cs$family, corstr)
    # the by-hand robust covariance must reproduce geepack's own
    stopifnot(max(abs(covs$robust - fit$geese$vbeta)) < 1e-8 * max(abs(fit$geese$vbeta)))
    cf <- coef(fit)
    se <- function(V) as.list(setNames(sqrt(diag(V)), nm(names(cf))))
    res[[corstr]] <- list(
      coef = as.list(setNames(cf, nm(names(cf)))),
      alpha = if (corstr == "exchangeable") as.numeric(summary(fit)$corr[1, 1]) else 0,
      scale = as.numeric(summary(fit)$dispersion[1, 1]),
      se_robust = se(fit$geese$vbeta),
      se_mancl_derouen = se(covs$md),
      se_kauermann_carroll = se(covs$kc),
      se_fay_graubard = se(covs$fg)
    )
  }
  out[[name]] <- res
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "reference.json")
cat("wrote reference.json\n")
