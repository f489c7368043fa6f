"""The statistical analysis plan: a versioned TOML file that drives the analysis."""

from __future__ import annotations

from odtrial.plan.load import PlanErrors, check_plan, load_plan, parse_plan
from odtrial.plan.lock import check_lock, lock_plan
from odtrial.plan.model import Plan
from odtrial.plan.sample_size import SampleSize

__all__ = [
    "Plan",
    "PlanErrors",
    "SampleSize",
    "check_lock",
    "check_plan",
    "load_plan",
    "lock_plan",
    "parse_plan",
]
