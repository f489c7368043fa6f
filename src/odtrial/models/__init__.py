"""Mixed-effects and marginal models for cluster randomised trials, with the
small-sample corrections a trial with ~30 clusters needs."""

from __future__ import annotations

from odtrial.models.results import Diagnostics, ModelResults

__all__ = ["Diagnostics", "ModelResults"]
