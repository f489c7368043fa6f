"""Cox proportional hazards model for cluster trials (time to first event), with
Efron/Breslow ties and small-sample cluster-robust inference."""

from __future__ import annotations

from odtrial.models.cox.covariance import COV_TYPES
from odtrial.models.cox.model import fit_cox, hazard_ratios

__all__ = ["COV_TYPES", "fit_cox", "hazard_ratios"]
