"""Person-level outcomes from known parameters (the generating model).

Every linear predictor has the same shape::

    eta_i = b0 + b_arm * POD_i + b_bws * baseline_work_study_i + b_age * (age_i - 40) / 10
            + b_dx[diagnosis_i] + b_catchment[catchment_i] + u_j(i),   u_j ~ N(0, sd^2)

with reference levels arm TAU, diagnosis "depression", catchment NELFT-BD; a separate,
independent cluster effect ``u_j`` per outcome. The models are described in words (and the
coefficients listed) by :func:`truth_parameters`, which goes to ``truth.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from odtrial.synth.config import CATCHMENTS, DIAGNOSES
from odtrial.synth.population import Participants

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

LOGISTIC_VAR = math.pi**2 / 3


def sd_for_icc(icc: float) -> float:
    """Cluster SD on the logit scale giving latent-scale ICC ``icc``."""
    return math.sqrt(icc / (1 - icc) * LOGISTIC_VAR)


@dataclass(frozen=True)
class Linear:
    """Coefficients of one linear predictor (see module docstring)."""

    intercept: float
    arm: float
    bws: float = 0.0
    age10: float = 0.0
    dx: dict[str, float] = field(default_factory=dict)  # diagnosis -> effect (vs depression)
    cluster_sd: float = 0.0

    def eta(self, p: Participants, u: FloatArray, treated: BoolArray | None = None) -> FloatArray:
        t = p.treated if treated is None else treated
        dx = np.array([self.dx.get(d, 0.0) for d in DIAGNOSES])
        catch = np.array([c.effect for c in CATCHMENTS])
        return (
            self.intercept
            + self.arm * t
            + self.bws * p.baseline_ws
            + self.age10 * (p.age - 40) / 10
            + dx[p.diagnosis]
            + catch[p.catchment]
            + u[p.cluster]
        )

    def coefficients(self) -> dict[str, float]:
        out = {
            "Intercept": self.intercept,
            "arm[POD]": self.arm,
            "baseline_work_study": self.bws,
            "age_10": self.age10,
        }
        out |= {f"diagnosis[{d}]": self.dx.get(d, 0.0) for d in DIAGNOSES if d != "depression"}
        out |= {f"catchment[{c.id}]": c.effect for c in CATCHMENTS[1:]}
        return out


@dataclass(frozen=True)
class Parameters:
    """All generating parameters (defaults: the shipped synthetic trial)."""

    work_study_24: Linear = Linear(
        -0.55,
        math.log(1.6),
        1.2,
        -0.15,
        {"psychosis": -0.5, "bipolar": -0.2, "anxiety": 0.2, "personality": -0.3},
        sd_for_icc(0.05),
    )
    work_study_12: Linear = Linear(
        -0.8,
        math.log(1.3),
        1.4,
        -0.15,
        {"psychosis": -0.5, "bipolar": -0.2, "anxiety": 0.2, "personality": -0.3},
        sd_for_icc(0.05),
    )
    any_admission: Linear = Linear(
        -0.9,
        math.log(0.7),
        -0.3,
        -0.1,
        {"psychosis": 0.8, "bipolar": 0.6, "anxiety": -0.5, "personality": 0.3},
        sd_for_icc(0.04),
    )
    # bed days given admission: 1 + NB2(mean exp(eta) * years/2, theta)
    bed_days_positive: Linear = Linear(
        math.log(34.0), 0.0, 0.0, 0.05, {"psychosis": 0.4, "bipolar": 0.3}, 0.2
    )
    bed_days_theta: float = 1.2
    # extra admissions among the admitted: Poisson(exp(eta))
    extra_admissions: Linear = Linear(math.log(0.4), 0.0, 0.0, 0.0, {"psychosis": 0.3}, 0.0)
    crisis: Linear = Linear(
        math.log(0.6), math.log(0.75), -0.3, -0.1, {"psychosis": 0.2, "personality": 0.5}, 0.2
    )
    crisis_theta: float = 1.5
    any_antipsychotic: Linear = Linear(
        -1.0,
        math.log(0.6),
        0.0,
        0.0,
        {"psychosis": 2.5, "bipolar": 1.5, "anxiety": -0.5, "personality": 0.3},
        sd_for_icc(0.06),
    )
    # mean daily dose among users, log mg CPZ (Woods 2003): normal, person SD below
    cpz_log_dose: Linear = Linear(
        math.log(300.0), math.log(0.85), 0.0, 0.0, {"psychosis": 0.3}, 0.15
    )
    cpz_person_sd: float = 0.45
    ap_coverage_beta: tuple[float, float] = (4.0, 2.0)  # share of the window on antipsychotics
    # loss to follow-up (assessment rows absent), MAR given baseline covariates and arm
    miss_24: Linear = Linear(-1.15, -0.2, -0.5)
    miss_12: Linear = Linear(-2.0, 0.0, -0.4)


def expit(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def nb2(mean: FloatArray, theta: float, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Negative binomial NB2 (variance mean + mean^2/theta) as a gamma-Poisson mixture."""
    return rng.poisson(mean * rng.gamma(theta, 1.0 / theta, size=mean.shape)).astype(np.int64)


@dataclass(frozen=True)
class Outcomes:
    ws12: BoolArray
    ws24: BoolArray
    miss12: BoolArray
    miss24: BoolArray
    admitted: BoolArray
    bed_days: npt.NDArray[np.int64]  # target total; events may trim to fit the window
    n_admissions: npt.NDArray[np.int64]
    n_crisis: npt.NDArray[np.int64]
    antipsychotic: BoolArray
    cpz_dose: FloatArray  # target mean daily mg CPZ while on antipsychotics (users)
    ap_coverage: FloatArray  # share of the window on antipsychotics (users)
    cluster_effects: dict[str, FloatArray]


def person_outcomes(
    p: Participants,
    n_clusters: int,
    years: FloatArray,
    prm: Parameters,
    rng: np.random.Generator,
) -> Outcomes:
    """Draw every person-level outcome. ``years``: follow-up time in the window (offset)."""
    n = len(p)
    u = {
        name: rng.normal(0.0, getattr(prm, name).cluster_sd, size=n_clusters)
        for name in (
            "work_study_24",
            "work_study_12",
            "any_admission",
            "bed_days_positive",
            "crisis",
            "any_antipsychotic",
            "cpz_log_dose",
        )
    }
    zero = np.zeros(n_clusters)
    ws24 = rng.random(n) < expit(prm.work_study_24.eta(p, u["work_study_24"]))
    ws12 = rng.random(n) < expit(prm.work_study_12.eta(p, u["work_study_12"]))
    miss24 = rng.random(n) < expit(prm.miss_24.eta(p, zero) - _catch(p))
    miss12 = rng.random(n) < expit(prm.miss_12.eta(p, zero) - _catch(p))

    admitted = rng.random(n) < expit(prm.any_admission.eta(p, u["any_admission"]))
    m_pos = np.exp(prm.bed_days_positive.eta(p, u["bed_days_positive"])) * years / 2.0
    bed = np.where(admitted, 1 + nb2(m_pos, prm.bed_days_theta, rng), 0)
    extra = rng.poisson(np.exp(prm.extra_admissions.eta(p, zero)))
    n_adm = np.where(admitted, np.minimum(1 + extra, np.minimum(bed, 8)), 0)

    crisis_mu = np.exp(prm.crisis.eta(p, u["crisis"])) * years
    n_crisis = np.minimum(nb2(crisis_mu, prm.crisis_theta, rng), 40)

    ap = rng.random(n) < expit(prm.any_antipsychotic.eta(p, u["any_antipsychotic"]))
    log_dose = prm.cpz_log_dose.eta(p, u["cpz_log_dose"]) + rng.normal(0, prm.cpz_person_sd, n)
    cov = rng.beta(*prm.ap_coverage_beta, size=n)
    return Outcomes(
        ws12=ws12,
        ws24=ws24,
        miss12=miss12 | (miss24 & (rng.random(n) < 0.5)),
        miss24=miss24,
        admitted=admitted,
        bed_days=bed.astype(np.int64),
        n_admissions=n_adm.astype(np.int64),
        n_crisis=n_crisis,
        antipsychotic=ap,
        cpz_dose=np.where(ap, np.exp(log_dose), 0.0),
        ap_coverage=np.where(ap, cov, 0.0),
        cluster_effects=u,
    )


def _catch(p: Participants) -> FloatArray:
    """Missingness does not depend on catchment: cancel the catchment term of Linear.eta."""
    return np.array([c.effect for c in CATCHMENTS])[p.catchment]


def implied_estimands(
    p: Participants, prm: Parameters, rng: np.random.Generator, *, draws: int = 50
) -> dict[str, float]:
    """Population-averaged contrasts implied by the generating model, standardised over the
    given participants' covariates and the cluster-effect distribution (Monte Carlo over
    ``draws`` sets of cluster effects; both arms evaluated for everyone)."""
    n_cl = int(p.cluster.max()) + 1
    acc: dict[str, list[float]] = {}
    for _ in range(draws):
        u = {
            k: rng.normal(0, getattr(prm, k).cluster_sd, n_cl)
            for k in (
                "work_study_24",
                "any_admission",
                "bed_days_positive",
                "any_antipsychotic",
                "cpz_log_dose",
            )
        }
        res: dict[str, dict[bool, float]] = {}
        for arm in (True, False):
            t = np.full(len(p), arm)
            ws = expit(prm.work_study_24.eta(p, u["work_study_24"], t))
            adm = expit(prm.any_admission.eta(p, u["any_admission"], t))
            pos = 1 + np.exp(prm.bed_days_positive.eta(p, u["bed_days_positive"], t))
            apr = expit(prm.any_antipsychotic.eta(p, u["any_antipsychotic"], t))
            dose = np.exp(prm.cpz_log_dose.eta(p, u["cpz_log_dose"], t) + prm.cpz_person_sd**2 / 2)
            a, b = prm.ap_coverage_beta
            res.setdefault("p_work_study_24", {})[arm] = float(ws.mean())
            res.setdefault("p_any_admission", {})[arm] = float(adm.mean())
            res.setdefault("bed_days_per_2y", {})[arm] = float((adm * pos).mean())
            res.setdefault("p_any_antipsychotic", {})[arm] = float(apr.mean())
            res.setdefault("cpz_twm", {})[arm] = float((apr * dose * a / (a + b)).mean())
        for k, v in res.items():
            acc.setdefault(f"{k}_pod", []).append(v[True])
            acc.setdefault(f"{k}_tau", []).append(v[False])
    out = {k: float(np.mean(v)) for k, v in acc.items()}
    out["bed_days_rate_ratio"] = out["bed_days_per_2y_pod"] / out["bed_days_per_2y_tau"]
    out["cpz_twm_difference"] = out["cpz_twm_pod"] - out["cpz_twm_tau"]
    return {k: round(v, 4) for k, v in sorted(out.items())}


def truth_parameters(prm: Parameters) -> dict[str, Any]:
    """Parameters with the exact model each belongs to (for truth.json)."""
    fixed = (
        "fixed effects: arm (POD vs TAU), baseline_work_study, age_10 = (age_at_consent - 40)/10, "
        "diagnosis (reference depression), catchment (reference NELFT-BD)"
    )

    def lin(x: Linear) -> dict[str, Any]:
        return {
            "coefficients": {k: round(v, 6) for k, v in x.coefficients().items()},
            "cluster_sd": round(x.cluster_sd, 6),
        }

    def icc(x: Linear) -> float:
        return round(x.cluster_sd**2 / (x.cluster_sd**2 + LOGISTIC_VAR), 4)

    return {
        "work_study_24m": {
            "model": "binomial GLMM, logit link, normal random intercept per cluster; " + fixed,
            "odds_ratio_arm": 1.6,
            "icc_latent": icc(prm.work_study_24),
            **lin(prm.work_study_24),
            "note": "conditional (cluster-specific) OR. The SAP model adjusts for catchment and "
            "baseline_work_study only; omitting age and diagnosis attenuates a logistic OR "
            "slightly towards 1.",
        },
        "work_study_12m": {
            "model": "binomial GLMM, logit link, normal random intercept per cluster; " + fixed,
            "odds_ratio_arm": 1.3,
            "icc_latent": icc(prm.work_study_12),
            **lin(prm.work_study_12),
        },
        "any_admission_24m": {
            "model": "binomial GLMM, logit link, normal random intercept per cluster; " + fixed,
            "odds_ratio_arm": 0.7,
            "icc_latent": icc(prm.any_admission),
            **lin(prm.any_admission),
        },
        "bed_days_24m": {
            "model": "hurdle: zero part = any_admission_24m model; among the admitted, "
            "bed_days - 1 ~ NB2(mean exp(eta) * follow_up_years / 2, theta), log link, normal "
            "random intercept per cluster (cluster_sd), " + fixed + ". Bed days = sum over "
            "stays of (discharge_date - admission_date); stays never overlap and lie inside the "
            "24-month window. The rate ratio a negative binomial GLMM with log follow-up offset "
            "estimates is approximately implied.bed_days_rate_ratio.",
            "rate_ratio_arm_given_admitted": round(math.exp(prm.bed_days_positive.arm), 4),
            "theta": prm.bed_days_theta,
            **lin(prm.bed_days_positive),
            "extra_admissions": "number of stays = 1 + Poisson(exp(eta_extra)), capped at "
            "min(bed days, 8); " + str(lin(prm.extra_admissions)["coefficients"]),
        },
        "crisis_referrals_24m": {
            "model": "NB2 count, log link, offset log(follow_up_years), normal random intercept "
            "per cluster; " + fixed + " (counts capped at 40, one referral per day at most)",
            "rate_ratio_arm": 0.75,
            "theta": prm.crisis_theta,
            **lin(prm.crisis),
        },
        "any_antipsychotic_24m": {
            "model": "binomial GLMM, logit link, normal random intercept per cluster; " + fixed,
            "odds_ratio_arm": 0.6,
            "icc_latent": icc(prm.any_antipsychotic),
            **lin(prm.any_antipsychotic),
        },
        "cpz_dose": {
            "model": "among antipsychotic users: log(mean daily mg CPZ, Woods 2003, while on "
            "treatment) ~ normal, identity link on the log scale, normal random intercept per "
            "cluster (cluster_sd), person SD " + str(prm.cpz_person_sd) + "; " + fixed + ". The "
            "share of the window on treatment ~ Beta" + str(prm.ap_coverage_beta) + ". Doses are "
            "rounded to tablet steps and clipped to the BNF maximum. The time-weighted mean over "
            "the window (0 for non-users) has the difference implied.cpz_twm_difference.",
            "dose_ratio_arm_among_users": 0.85,
            **lin(prm.cpz_log_dose),
        },
        "loss_to_follow_up": {
            "model": "missing at random: 24-month assessment absent with probability "
            "expit(-1.15 - 0.2*POD - 0.5*baseline_work_study); 12-month absent with probability "
            "expit(-2.0 - 0.4*baseline_work_study), or with probability 0.5 when the 24-month "
            "one is absent. Administrative data (admissions, crisis, prescriptions) stay complete.",
        },
        "relapse": {
            "model": "implied: first admission or crisis referral within the window",
        },
    }
