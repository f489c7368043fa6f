"""The synthetic six-trust POD trial: extracts, configuration and known truth.

``generate(out, seed=20250630, participants=640, fault_rate=0.02)`` writes
``out/trial.toml``, ``out/truth.json`` and each trust's five extracts in its own
dialect (CSV UTF-8; CSV Windows-1252 with ``;``; Excel; SPSS; Stata; SAS transport).

The generating model
--------------------
- Design: 6 trusts, 9 catchments (strata), 32 clusters of 2-5 GP practices (list sizes,
  IMD scores), allocated 1:1 within catchment among the best-balanced 10% of sampled
  allocations. Cluster recruitment weights ~ Gamma (CV 0.55); participants by multinomial
  (at least 3 per cluster), realised cluster-size CV about 0.6. Consent dates uniform over
  2021-03-01..2022-12-31; follow-up 24 calendar months; data cut-off 2025-06-30.
- Covariates: age 18-80 (right-skewed), sex, NHS ethnic category, diagnosis group,
  baseline work/study (logistic in diagnosis and age), GP practice of the cluster.
- Outcomes: for each, a linear predictor ``b0 + b_arm*POD + b_bws*baseline_work_study +
  b_age*(age-40)/10 + b_dx[diagnosis] + b_catchment + u_cluster`` with an independent
  normal cluster random intercept per outcome:
  work/study at 12 and 24 months (logit; OR 1.3 and 1.6, latent ICC 0.05); any admission
  (logit; OR 0.7, ICC 0.04); bed days (hurdle: among the admitted, 1 + NB2 with log link
  and follow-up offset, ratio 1.04, so that the overall rate ratio is about 0.8); number
  of stays 1 + Poisson, stays placed without overlap inside the window and adding up to
  the bed days; crisis referrals (NB2, log link, offset, RR 0.75); any antipsychotic
  (logit; OR 0.6, ICC 0.06); dose among users (log-normal mean daily CPZ, Woods 2003,
  ratio 0.85) realised as 1-3 courses of real drugs rounded to tablet steps; every course
  (and courses of other psychotropics by diagnosis) is issued as repeat prescriptions of
  56-112 days, one record each (about 5 prescription records per participant).
- Loss to follow-up (~20% at 24 months): assessment rows absent, missing at random given
  arm and baseline work/study; administrative events stay complete.
- Faults at ``fault_rate`` (share of records), each named by the validation rule code
  that must find it and recorded in ``truth.json`` with file and source row
  (see :mod:`odtrial.synth.faults`).

All parameters, with the exact model each belongs to, are written to ``truth.json``.
"""

from __future__ import annotations

from odtrial.synth.generate import (
    DEFAULT_FAULT_RATE,
    DEFAULT_PARTICIPANTS,
    DEFAULT_SEED,
    generate,
)

__all__ = ["DEFAULT_FAULT_RATE", "DEFAULT_PARTICIPANTS", "DEFAULT_SEED", "generate"]
