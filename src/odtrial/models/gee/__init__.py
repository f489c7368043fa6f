"""GEE with small-sample sandwich corrections (Mancl–DeRouen, Kauermann–Carroll, Fay–Graubard)."""

from __future__ import annotations

from odtrial.models.gee.covariance import ClusterContributions, sandwich_cov
from odtrial.models.gee.model import fit_gee

__all__ = ["ClusterContributions", "fit_gee", "sandwich_cov"]
