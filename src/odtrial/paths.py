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


def shipped_trial_dir() -> Path:
    candidates = []
    if env := os.environ.get("ODTRIAL_SYNTHETIC_DIR"):
        candidates.append(Path(env))
    candidates.append(Path.cwd() / "data" / "synthetic")
    candidates.append(Path(__file__).resolve().parents[2] / "data" / "synthetic")
    for c in candidates:
        if (c / "trial.toml").is_file():
            return c
    raise ConfigError(
        "cannot find the shipped synthetic trial (data/synthetic/trial.toml): run from the "
        "repository root or set ODTRIAL_SYNTHETIC_DIR"
    )
