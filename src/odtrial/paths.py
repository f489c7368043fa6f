"""Where the shipped synthetic trial lives.

The synthetic trial is committed at the repository's ``data/synthetic/``.
``odtrial run`` with no arguments uses it: found from ``ODTRIAL_SYNTHETIC_DIR``,
else ``./data/synthetic`` (the README runs from the repository root), else
beside an editable install's source tree.
"""

from __future__ import annotations

import os
from pathlib import Path

from odtrial.errors import ConfigError


def _repo_candidates() -> list[Path]:
    return [Path.cwd(), Path(__file__).resolve().parents[2]]


def shipped_plan() -> Path:
    """The shipped statistical analysis plan of the synthetic trial."""
    if env := os.environ.get("ODTRIAL_PLAN"):
        return Path(env)
    for root in _repo_candidates():
        p = root / "analysis_plans" / "pod_synthetic_sap.toml"
        if p.is_file():
            return p
    raise ConfigError(
        "cannot find the shipped analysis plan (analysis_plans/pod_synthetic_sap.toml): run from "
        "the repository root or set ODTRIAL_PLAN"
    )


def shipped_trial_dir() -> Path:
    candidates = []
    if env := os.environ.get("ODTRIAL_SYNTHETIC_DIR"):
        candidates.append(Path(env))
    candidates.extend(root / "data" / "synthetic" for root in _repo_candidates())
    for c in candidates:
        if (c / "trial.toml").is_file():
            return c
    raise ConfigError(
        "cannot find the shipped synthetic trial (data/synthetic/trial.toml): run from the "
        "repository root or set ODTRIAL_SYNTHETIC_DIR"
    )
