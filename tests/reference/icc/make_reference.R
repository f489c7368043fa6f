# Reference ICCs for odtrial's tests (run from this folder): Rscript make_reference.R
#  * ANOVA estimator from R's own aov() mean squares; Searle (1971) F-based CI
#    and Smith (1956) large-sample CI written out from the published formulas.
#  * REML ICC from lme4::lmer; its profile-likelihood CI found with lme4's own
#    profiled REML deviance (devFunOnly = TRUE, theta = sigma_u / sigma_e) and uniroot.
#  * Latent-scale ICC sigma_u^2 / (sigma_u^2 + pi^2/3) from glmer (nAGQ = 25), and
#    from glmmTMB (Laplace) with a Wald CI on log sigma_u from its sdreport.
suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(jsonlite)
})
level <- 0.95
anova_icc <- function(d) {
  d$cluster <- factor(d$cluster)
  tab <- anova(aov(y ~ cluster, data = d))
  msb <- tab$`Mean Sq`[1]; msw <- tab$`Mean Sq`[2]
  k <- nlevels(d$cluster); N <- nrow(d); n <- as.vector(table(d$cluster))
  n0 <- (N - sum(n^2) / N) / (k - 1)
  r <- (msb - msw) / (msb + (n0 - 1) * msw)
  Fs <- msb / msw
  FL <- Fs / qf(1 - (1 - level) / 2, k - 1, N - k)
  FU <- Fs / qf((1 - level) / 2, k - 1, N - k)
  v <- (2 * (1 - r)^2 / n0^2) * ((1 + r * (n0 - 1))^2 / (N - k) +
    ((k - 1) * (1 - r) * (1 + r * (2 * n0 - 1)) +
      r^2 * (sum(n^2) - 2 * sum(n^3) / N + sum(n^2)^2 / N^2)) / (k - 1)^2)
  z <- qnorm(1 - (1 - level) / 2)
  list(estimate = r, msb = msb, msw = msw, n0 = n0,
       searle = c((FL - 1) / (FL + n0 - 1), (FU - 1) / (FU + n0 - 1)),
       smith = c(r - z * sqrt(v), r + z * sqrt(v)))
}
reml_icc <- function(d) {
  f <- lmer(y ~ 1 + (1 | cluster), data = d, REML = TRUE,
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
  vc <- as.data.frame(VarCorr(f))
  su2 <- vc$vcov[1]; se2 <- vc$vcov[2]
  dev <- lmer(y ~ 1 + (1 | cluster), data = d, REML = TRUE, devFunOnly = TRUE)
  th <- sqrt(su2 / se2)
  dmin <- dev(th)
  crit <- qchisq(level, 1)
  g <- function(t) dev(t) - dmin - crit
  lo <- if (th == 0 || g(0) <= 0) 0 else uniroot(g, c(0, th), tol = 1e-12)$root
  hi <- uniroot(g, c(th, 100), tol = 1e-12)$root
  icc_of <- function(t) t^2 / (1 + t^2)
  list(estimate = su2 / (su2 + se2), between_var = su2, within_var = se2,
       profile = c(icc_of(lo), icc_of(hi)))
}
latent_icc <- function(d) {
  g25 <- glmer(y ~ 1 + (1 | cluster), data = d, family = binomial, nAGQ = 25)
  s2 <- as.numeric(VarCorr(g25)$cluster)
  tmb <- glmmTMB(y ~ 1 + (1 | cluster), data = d, family = binomial)
  s2t <- as.numeric(VarCorr(tmb)$cond$cluster)
  sdr <- summary(tmb$sdr, "fixed")
  ix <- which(rownames(sdr) == "theta")
  ls <- sdr[ix, 1]; se <- sdr[ix, 2]
  z <- qnorm(1 - (1 - level) / 2)
  tr <- function(l) exp(2 * l) / (exp(2 * l) + pi^2 / 3)
  list(glmer_nagq25 = list(estimate = s2 / (s2 + pi^2 / 3), cluster_var = s2),
       glmmtmb_laplace = list(estimate = s2t / (s2t + pi^2 / 3), cluster_var = s2t,
                              log_sigma = ls, se_log_sigma = se,
                              wald_log_sigma = c(tr(ls - z * se), tr(ls + z * se))))
}
out <- list(R_version = R.version.string, lme4 = as.character(packageVersion("lme4")),
            glmmTMB = as.character(packageVersion("glmmTMB")), level = level)
files <- c(cont15 = "cont15.csv", bin30 = "bin30.csv", bin_null = "bin_null.csv",
           gauss30 = "../gee/gauss30.csv", bin24 = "../gee/bin24.csv")
for (nm in names(files)) {
  d <- read.csv(files[[nm]])
  res <- list(file = files[[nm]], anova = anova_icc(d), reml = reml_icc(d))
  if (all(d$y %in% c(0, 1)) && nm != "bin_null") res$latent <- latent_icc(d)
  out[[nm]] <- res
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "reference.json")
cat("wrote reference.json\n")
