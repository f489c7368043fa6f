"""The statistical analysis plan: a versioned TOML file that drives the analysis."""

from __future__ import annotations

from odtrial.plan.load import load_plan, parse_plan
from odtrial.plan.lock import check_lock, lock_plan
from odtrial.plan.model import Plan

__all__ = ["Plan", "check_lock", "load_plan", "lock_plan", "parse_plan"]
