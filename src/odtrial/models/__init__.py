"""Mixed-effects and marginal models for cluster randomised trials, with the
small-sample corrections a trial with ~30 clusters needs."""

from __future__ import annotations

from odtrial.models.cox import fit_cox
from odtrial.models.glmm import MarginalEffects, fit_glmm, fit_glmm_arrays, marginal_effects
from odtrial.models.lmm import fit_lmm
from odtrial.models.results import Diagnostics, ModelResults

__all__ = [
    "Diagnostics",
    "MarginalEffects",
    "ModelResults",
    "fit_cox",
    "fit_glmm",
    "fit_glmm_arrays",
    "fit_lmm",
    "marginal_effects",
]
