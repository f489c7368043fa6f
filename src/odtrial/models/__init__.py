"""Mixed-effects and marginal models for cluster randomised trials, with the
small-sample corrections a trial with ~30 clusters needs.

Every model returns an immutable :class:`ModelResults`; small-sample
inference is the default everywhere (between-within df for the GLMM,
Satterthwaite for the LMM, Mancl–DeRouen with t on clusters − parameters df
for GEE, Kauermann–Carroll with t for Cox); a z test must be asked for.
"""

from __future__ import annotations

from odtrial.models.cluster_level import cluster_level
from odtrial.models.cox import fit_cox
from odtrial.models.gee import fit_gee
from odtrial.models.glmm import MarginalEffects, fit_glmm, fit_glmm_arrays, marginal_effects
from odtrial.models.icc import ICCResult, icc
from odtrial.models.lmm import fit_lmm
from odtrial.models.results import Diagnostics, ModelResults

__all__ = [
    "Diagnostics",
    "ICCResult",
    "MarginalEffects",
    "ModelResults",
    "cluster_level",
    "fit_cox",
    "fit_gee",
    "fit_glmm",
    "fit_glmm_arrays",
    "fit_lmm",
    "icc",
    "marginal_effects",
]
