"""Sample size and power for cluster randomised trials: analytic formulas and simulation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from odtrial._lazy import lazy_getattr

if TYPE_CHECKING:
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

_EXPORTS = {
    "Outcome": "analytic",
    "PowerResult": "analytic",
    "TrialDesign": "simulation",
    "analytic_power": "analytic",
    "design_effect": "analytic",
    "simulate_power": "simulation",
}
__getattr__ = lazy_getattr(__name__, _EXPORTS)
