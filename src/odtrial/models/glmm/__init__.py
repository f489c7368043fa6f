"""Maximum-likelihood random-intercept GLMMs (binomial, Poisson, NB2) by adaptive
Gauss–Hermite quadrature, and marginal effects from a binary GLMM."""

from __future__ import annotations

from odtrial.models.glmm.marginal import MarginalEffects, marginal_effects
from odtrial.models.glmm.model import DEFAULT_NAGQ, fit_glmm, fit_glmm_arrays

__all__ = ["DEFAULT_NAGQ", "MarginalEffects", "fit_glmm", "fit_glmm_arrays", "marginal_effects"]
