# Small-sample corrected cluster sandwiches for the Cox model, computed by hand
# in R from their published definitions, for odtrial's tests.
#
#   cd tests/reference/cox/small_sample && Rscript make_reference.R
#
# Writes the data it generates (r12.csv, r24.csv, r32.csv; it also fits
# ../c12.csv and ../c32.csv) and reference.json. Nothing here calls odtrial.
#
# What is computed, for each data set and for ties = "efron" and "breslow":
#   fit    survival::coxph(Surv(time, event) ~ ..., cluster = cluster), eps 1e-11.
#   A      the information, solve(fit$naive.var); Ainv = fit$naive.var.
#   U_g    the score residuals, residuals(fit, type = "score"), summed by cluster
#          (checked: Ainv (sum U_g U_g') Ainv reproduces fit$var).
#   Omega_g  cluster g's share of the information, built here by a loop over the
#          event times and the Efron denominators: subject j at risk at t_k, in
#          the r-th of d_k denominators (c_r = r / d_k, 0 for Breslow), weight
#          w_j = exp(x_j b) (1 - c_r [j has its event at t_k]), contributes
#          w_j (x_j - xbar_r)(x_j - xbar_r)' / sum(w), xbar_r = sum(w x) / sum(w).
#          This is -dU_g/d beta without its mean-zero martingale part (the
#          predictable variation of cluster g's score). Checked: sum_g Omega_g = A.
#   robust   fit$var (Lin & Wei; Lee, Wei & Amato): the uncorrected sandwich.
#   robust_g robust * G / (G - 1).
#   mancl_derouen  Ainv sum_g (I - Omega_g Ainv)^-1 U_g U_g' (I - Ainv Omega_g)^-1 Ainv
#          (Mancl & DeRouen 2001, written in score form as for the Cox model by
#          Wang, Turner & Li 2023), with solve().
#   kauermann_carroll  the same with (I - Omega_g Ainv)^(-1/2), the principal
#          inverse square root of the (non-symmetric) matrix from eigen():
#          V diag(lambda^-1/2) V^-1 (Kauermann & Carroll 2001).
#   fay_graubard  Ainv sum_g H_g U_g U_g' H_g Ainv, H_g = diag((1 - min(b,
#          [Omega_g Ainv]_jj))^-1/2), b = 0.75 (Fay & Graubard 2001).
#   fg_df  Fay & Graubard's d-hat for each coefficient (contrast e_j), from the
#          stacked (G p x G p) matrices of their section 2.3: Gm = I - [Omega_g]
#          Ainv [I ... I], M = blockdiag(h_g h_g'), h_g = C_g' Ainv e_j,
#          C = Gm' M Gm, Ad = blockdiag(Omega_g); d = tr(Ad C)^2 / tr((Ad C)^2).
#          C_g is the matrix each covariance corrects U_g with (H_g for FG, as
#          in their paper; (I - Omega_g Ainv)^-1 for MD, ^-1/2 for KC, I for
#          robust, sqrt(G / (G - 1)) I for robust_g), one df set per covariance.
# Output: every number written with sprintf("%.17g") (17 significant digits,
# which round-trips a double exactly; jsonlite itself stops at 15).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

FOLLOW_UP <- 730

# ---- data ------------------------------------------------------------------
# A cluster trial: lognormal cluster sizes (CV `cv`, at least 2), treatment 1:1
# by cluster (within strata when there are strata), a log-normal cluster frailty
# (SD 0.4), exponential hazard, administrative censoring at 730 whole days.
make_trial <- function(seed, G, mean_size, cv, n_strata) {
  set.seed(seed)
  s2 <- log(1 + cv^2)
  sizes <- pmax(2, round(rlnorm(G, log(mean_size) - s2 / 2, sqrt(s2))))
  stratum <- (seq_len(G) - 1) %% n_strata + 1
  treat <- integer(G)
  for (s in unique(stratum)) {
    idx <- which(stratum == s)
    idx <- idx[sample.int(length(idx))]
    treat[idx] <- (seq_along(idx) + sample.int(2, 1)) %% 2
  }
  frailty <- exp(rnorm(G, -0.08, 0.4))
  cl <- rep(seq_len(G), sizes)
  n <- length(cl)
  x <- round(rnorm(n), 3)
  z <- rbinom(n, 1, 0.4)
  eta <- -0.3 * treat[cl] + 0.3 * (stratum[cl] - 1) + 0.25 * x + 0.4 * z
  t_event <- rexp(n, frailty[cl] * exp(eta) * 0.3 / 365.25)
  data.frame(
    id = seq_len(n),
    cluster = sprintf("H%02d", cl),
    stratum = sprintf("S%d", stratum[cl]),
    treat = treat[cl],
    x = x,
    z = z,
    time = floor(pmin(t_event, FOLLOW_UP)),
    event = as.integer(t_event <= FOLLOW_UP)
  )
}

generated <- list(
  r12 = make_trial(20261207, 12, 20, 0.6, 1),
  r24 = make_trial(20261208, 24, 20, 0.6, 3),
  r32 = make_trial(20261209, 32, 15, 0.9, 1)
)
for (nm in names(generated)) write.csv(generated[[nm]], paste0(nm, ".csv"), row.names = FALSE)

cases <- list(
  r12 = list(file = "r12.csv", f = Surv(time, event) ~ treat + x + z, py = "~ treat + x + z"),
  r24 = list(file = "r24.csv", f = Surv(time, event) ~ treat + factor(stratum) + x,
             py = "~ treat + C(stratum) + x"),
  r32 = list(file = "r32.csv", f = Surv(time, event) ~ treat + x, py = "~ treat + x"),
  c12 = list(file = "../c12.csv", f = Surv(time, event) ~ arm + factor(stratum),
             py = "~ arm + C(stratum)"),
  c32 = list(file = "../c32.csv", f = Surv(time, event) ~ arm + factor(stratum) + age,
             py = "~ arm + C(stratum) + age")
)

# ---- the pieces, by hand ---------------------------------------------------
# Omega_j for every subject (n x p x p), by explicit loops over event times.
information_shares <- function(time, status, X, beta, ties) {
  n <- nrow(X)
  p <- ncol(X)
  e <- exp(drop(X %*% beta))
  out <- array(0, c(n, p, p))
  for (tk in sort(unique(time[status == 1]))) {
    dead <- status == 1 & time == tk
    risk <- which(time >= tk)
    d <- sum(dead)
    for (r in 0:(d - 1)) {
      cr <- if (ties == "efron") r / d else 0
      w <- e[risk] * (1 - cr * dead[risk])
      xbar <- colSums(w * X[risk, , drop = FALSE]) / sum(w)
      for (i in seq_along(risk)) {
        dx <- X[risk[i], ] - xbar
        out[risk[i], , ] <- out[risk[i], , ] + w[i] * outer(dx, dx) / sum(w)
      }
    }
  }
  out
}

inv_sqrt_nonsym <- function(M) {
  ev <- eigen(M)
  if (any(abs(Im(ev$values)) > 1e-12)) stop("complex eigenvalues")
  V <- ev$vectors
  Re(V %*% diag(Re(ev$values)^-0.5, nrow(M)) %*% solve(V))
}

fg_df <- function(Omega, Ainv, Corr, L) {
  G <- dim(Omega)[1]
  p <- dim(Omega)[2]
  Gm <- diag(G * p)
  M <- matrix(0, G * p, G * p)
  Ad <- matrix(0, G * p, G * p)
  for (g in seq_len(G)) {
    rows <- (g - 1) * p + seq_len(p)
    for (k in seq_len(G)) {
      cols <- (k - 1) * p + seq_len(p)
      Gm[rows, cols] <- Gm[rows, cols] - Omega[g, , ] %*% Ainv
    }
    h <- drop(t(Corr[[g]]) %*% Ainv %*% L)
    M[rows, rows] <- outer(h, h)
    Ad[rows, rows] <- Omega[g, , ]
  }
  AC <- Ad %*% t(Gm) %*% M %*% Gm
  sum(diag(AC))^2 / sum(diag(AC %*% AC))
}

py_names <- function(nm) sub("^factor\\(stratum\\)(.*)$", "C(stratum)[T.\\1]", nm)
named <- function(x, nm) as.list(setNames(as.numeric(x), py_names(nm)))
ctl <- coxph.control(eps = 1e-11, iter.max = 200)
FG_BOUND <- 0.75

out <- list()
for (name in names(cases)) {
  cs <- cases[[name]]
  d <- read.csv(cs$file, stringsAsFactors = FALSE)
  res <- list(
    file = cs$file, formula = cs$py, nobs = nrow(d),
    n_clusters = length(unique(d$cluster)), n_events = sum(d$event)
  )
  for (ties in c("efron", "breslow")) {
    fit <- coxph(cs$f, data = d, cluster = cluster, ties = ties, control = ctl)
    X <- model.matrix(fit)
    beta <- coef(fit)
    p <- length(beta)
    clusters <- sort(unique(d$cluster))
    G <- length(clusters)
    Ainv <- fit$naive.var
    A <- solve(Ainv)
    U <- rowsum(residuals(fit, type = "score"), d$cluster)[clusters, , drop = FALSE]
    robust <- Ainv %*% crossprod(U) %*% Ainv
    stopifnot(max(abs(robust - fit$var)) < 1e-10 * max(abs(fit$var)))
    shares <- information_shares(d$time, d$event, X, beta, ties)
    Omega <- array(0, c(G, p, p))
    for (g in seq_len(G)) {
      rows <- d$cluster == clusters[g]
      Omega[g, , ] <- apply(shares[rows, , , drop = FALSE], c(2, 3), sum)
    }
    stopifnot(max(abs(apply(Omega, c(2, 3), sum) - A)) < 1e-8 * max(abs(A)))

    I_p <- diag(p)
    meat_md <- meat_kc <- meat_fg <- matrix(0, p, p)
    Hdiag <- matrix(0, G, p)
    lev <- numeric(G)
    corr <- list(robust = list(), robust_g = list(), mancl_derouen = list(),
                 kauermann_carroll = list(), fay_graubard = list())
    for (g in seq_len(G)) {
      OA <- Omega[g, , ] %*% Ainv
      lev[g] <- max(Re(eigen(OA)$values))
      u_md <- solve(I_p - OA, U[g, ])
      C_kc <- inv_sqrt_nonsym(I_p - OA)
      u_kc <- C_kc %*% U[g, ]
      Hdiag[g, ] <- (1 - pmin(FG_BOUND, diag(OA)))^-0.5
      u_fg <- Hdiag[g, ] * U[g, ]
      corr$robust[[g]] <- I_p
      corr$robust_g[[g]] <- sqrt(G / (G - 1)) * I_p
      corr$mancl_derouen[[g]] <- solve(I_p - OA)
      corr$kauermann_carroll[[g]] <- C_kc
      corr$fay_graubard[[g]] <- diag(Hdiag[g, ], p)
      meat_md <- meat_md + tcrossprod(u_md)
      meat_kc <- meat_kc + tcrossprod(u_kc)
      meat_fg <- meat_fg + tcrossprod(u_fg)
    }
    sandwich <- function(meat) Ainv %*% meat %*% Ainv
    nm <- names(beta)
    res[[ties]] <- list(
      names = py_names(nm),
      coef = named(beta, nm),
      loglik = fit$loglik[2],
      var_model = unname(Ainv),
      var_robust = unname(fit$var),
      var_robust_g = unname(fit$var * G / (G - 1)),
      var_mancl_derouen = unname(sandwich(meat_md)),
      var_kauermann_carroll = unname(sandwich(meat_kc)),
      var_fay_graubard = unname(sandwich(meat_fg)),
      fg_df = lapply(corr, function(Corr) {
        named(sapply(seq_len(p), function(j) fg_df(Omega, Ainv, Corr, I_p[, j])), nm)
      }),
      max_leverage = max(lev),
      clusters = clusters,
      cluster_scores = unname(U),
      cluster_information = lapply(seq_len(G), function(g) unname(Omega[g, , ]))
    )
  }
  out[[name]] <- res
}
out$r_version <- R.version.string
out$survival_version <- as.character(packageVersion("survival"))
# numbers (scalars, vectors, matrices) -> verbatim JSON text with 17 significant digits
num17 <- function(x) {
  if (is.list(x)) return(lapply(x, num17))
  if (!is.numeric(x)) return(x)
  fmt <- function(v) paste0("[", paste(sprintf("%.17g", v), collapse = ", "), "]")
  txt <- if (is.matrix(x)) {
    paste0("[", paste(apply(x, 1, fmt), collapse = ", "), "]")
  } else if (length(x) == 1) sprintf("%.17g", x) else fmt(x)
  structure(txt, class = "json")
}
write_json(num17(out), "reference.json", auto_unbox = TRUE, pretty = TRUE, json_verbatim = TRUE)
