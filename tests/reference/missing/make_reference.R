# Reference results for tests/missing (run from this folder: Rscript make_reference.R;
# writes reference.json; about 10 minutes, most of it mice's 2l.bin).
#
# 1. Pooling (Rubin's rules, Barnard-Rubin df) with mitml::testEstimates:
#    pool_python: qhat/uhat = odtrial's fit_lmm estimates and SEs on the 5 completed
#                 datasets (python_fits.csv), df.com = their between-within df;
#    pool_lmer:   lmer(y ~ arm + x + (1 | cluster)) (REML) fitted here to the same
#                 completed datasets (completed_cont.csv), same df.com.
# 2. Imputation of the shared incomplete datasets by jomo (joint latent-normal
#    random-intercept model: y and aux as responses, (1, arm, x) as covariates) and by
#    mice (two-level FCS: 2l.pan for continuous with the other incomplete variable as a
#    fixed effect plus its cluster mean (type 3), 2l.bin for binary), many
#    imputations each, analysed by lmer (REML; continuous) or glmer (Laplace ML;
#    binary) and pooled by testEstimates. Stored per method: pooled estimate, SE
#    (sqrt of T), mean within variance, between variance, m, and the per-imputation
#    arm estimates, so the tests can derive a Monte Carlo tolerance.
suppressPackageStartupMessages({
  library(lme4)
  library(mitml)
  library(jomo)
  library(mice)
  library(jsonlite)
})
set.seed(20261207)

pooled_out <- function(te) {
  est <- te$estimates
  list(
    terms = rownames(est),
    estimate = unname(est[, "Estimate"]),
    se = unname(est[, "Std.Error"]),
    t = unname(est[, "t.value"]),
    df = unname(est[, "df"]),
    p = unname(est[, "P(>|t|)"]),
    riv = unname(est[, "RIV"]),
    fmi = unname(est[, "FMI"])
  )
}

# ---- 1. pooling ---------------------------------------------------------------
pf <- read.csv("python_fits.csv")
terms <- unique(pf$term)
m <- max(pf$imp)
qhat <- sapply(seq_len(m), function(i) setNames(pf$estimate[pf$imp == i], terms))
uhat <- sapply(seq_len(m), function(i) pf$se[pf$imp == i]^2)
dfcom <- pf$df[pf$imp == 1]
pool_python <- pooled_out(testEstimates(qhat = qhat, uhat = uhat, df.com = dfcom))

comp <- read.csv("completed_cont.csv")
fits <- lapply(seq_len(m), function(i) {
  lmer(y ~ arm + x + (1 | cluster), data = comp[comp$imp == i, ], REML = TRUE)
})
pool_lmer <- pooled_out(testEstimates(fits, df.com = dfcom))

# ---- 2. jomo and mice ---------------------------------------------------------
analyse <- function(datasets, binary) {
  fits <- lapply(datasets, function(d) {
    if (binary) {
      glmer(y ~ arm + x + (1 | cluster), data = d, family = binomial, nAGQ = 1)
    } else {
      lmer(y ~ arm + x + (1 | cluster), data = d, REML = TRUE)
    }
  })
  te <- testEstimates(fits)
  est <- te$estimates
  qhat <- sapply(fits, fixef)
  uhat <- sapply(fits, function(f) diag(as.matrix(vcov(f))))
  list(
    terms = rownames(est),
    m = length(fits),
    estimate = unname(est[, "Estimate"]),
    se = unname(est[, "Std.Error"]),
    ubar = unname(rowMeans(uhat)),
    b = unname(apply(qhat, 1, var)),
    arm_estimates = unname(qhat["arm", ])
  )
}

run_jomo <- function(d, binary, nimp) {
  Y <- data.frame(y = d$y, aux = d$aux)
  if (binary) {
    Y$y <- factor(Y$y)
    Y$aux <- factor(Y$aux)
  }
  X <- data.frame(icpt = 1, arm = d$arm, x = d$x)
  t0 <- proc.time()[["elapsed"]]
  imp <- jomo(Y = Y, X = X, clus = d$cluster, nburn = 2000, nbetween = 200, nimp = nimp,
              output = 0)
  secs <- proc.time()[["elapsed"]] - t0
  sets <- lapply(seq_len(nimp), function(i) {
    s <- imp[imp$Imputation == i, ]
    data.frame(cluster = s$clus, arm = s$arm, x = s$x,
               y = as.numeric(as.character(s$y)), aux = as.numeric(as.character(s$aux)))
  })
  c(analyse(sets, binary), list(seconds = secs, nburn = 2000, nbetween = 200))
}

run_mice <- function(d, binary, nimp, maxit) {
  dd <- data.frame(cluster = as.integer(factor(d$cluster)), arm = d$arm, x = d$x,
                   y = d$y, aux = d$aux)
  pred <- make.predictorMatrix(dd)
  pred[, ] <- 0
  pred[c("y", "aux"), "cluster"] <- -2
  pred[c("y", "aux"), c("arm", "x")] <- 1
  meth <- make.method(dd)
  if (binary) {
    dd$y <- factor(dd$y)
    dd$aux <- factor(dd$aux)
    pred["y", "aux"] <- 1
    pred["aux", "y"] <- 1
    meth[c("y", "aux")] <- "2l.bin"
  } else {
    pred["y", "aux"] <- 3
    pred["aux", "y"] <- 3
    meth[c("y", "aux")] <- "2l.pan"
  }
  t0 <- proc.time()[["elapsed"]]
  imp <- mice(dd, m = nimp, maxit = maxit, method = meth, predictorMatrix = pred,
              printFlag = FALSE, seed = 20261207)
  secs <- proc.time()[["elapsed"]] - t0
  sets <- lapply(seq_len(nimp), function(i) {
    s <- complete(imp, i)
    s$y <- as.numeric(as.character(s$y))
    s$aux <- as.numeric(as.character(s$aux))
    s
  })
  c(analyse(sets, binary), list(seconds = secs, maxit = maxit))
}

cont <- read.csv("incomplete_cont.csv")
bin <- read.csv("incomplete_bin.csv")
complete_case <- function(d, binary) {
  cc <- d[!is.na(d$y), ]
  f <- if (binary) glmer(y ~ arm + x + (1 | cluster), data = cc, family = binomial, nAGQ = 1)
       else lmer(y ~ arm + x + (1 | cluster), data = cc, REML = TRUE)
  list(estimate = unname(fixef(f)), se = unname(sqrt(diag(as.matrix(vcov(f))))))
}

out <- list(
  versions = list(
    R = R.version.string,
    lme4 = as.character(packageVersion("lme4")),
    mitml = as.character(packageVersion("mitml")),
    jomo = as.character(packageVersion("jomo")),
    mice = as.character(packageVersion("mice")),
    pan = as.character(packageVersion("pan")),
    jsonlite = as.character(packageVersion("jsonlite"))
  ),
  pool_python = pool_python,
  pool_lmer = pool_lmer,
  df_com = dfcom,
  continuous = list(
    jomo = run_jomo(cont, FALSE, 200),
    mice = run_mice(cont, FALSE, 100, 20),
    complete_case = complete_case(cont, FALSE)
  ),
  binary = list(
    jomo = run_jomo(bin, TRUE, 200),
    mice = run_mice(bin, TRUE, 50, 10),
    complete_case = complete_case(bin, TRUE)
  )
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "reference.json")
