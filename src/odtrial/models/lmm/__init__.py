"""Linear mixed model with a random intercept per cluster (REML or ML) and
small-sample degrees of freedom: Satterthwaite (lmerTest), Kenward–Roger
(pbkrtest), between-within and residual."""

from __future__ import annotations

from odtrial.models.lmm.model import DDF_METHODS, fit_lmm

__all__ = ["DDF_METHODS", "fit_lmm"]
