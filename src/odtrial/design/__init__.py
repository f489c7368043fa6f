"""Sample size and power for cluster randomised trials: analytic formulas and simulation."""

from __future__ import annotations

from odtrial.design.analytic import Outcome, PowerResult, analytic_power, design_effect
from odtrial.design.simulation import TrialDesign, simulate_power

__all__ = [
    "Outcome",
    "PowerResult",
    "TrialDesign",
    "analytic_power",
    "design_effect",
    "simulate_power",
]
