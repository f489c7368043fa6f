"""Where the shipped synthetic trial and the plans beside it live.

The synthetic trial is committed at the repository's ``data/synthetic/``.
``odtrial run`` with no arguments uses it: found from ``ODTRIAL_SYNTHETIC_DIR``,
else ``./data/synthetic`` (the README runs from the repository root), else
beside an editable install's source tree. A trial run without ``--plan`` takes
the one plan in ``analysis_plans/`` whose ``trial_config`` is that trial's
``trial.toml`` (``ODTRIAL_PLAN`` overrides): the plan says which trial it is
for, so no plan's name is written here.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from odtrial.errors import ConfigError


def _repo_candidates() -> list[Path]:
    return [Path.cwd(), Path(__file__).resolve().parents[2]]


def plan_for(trial_dir: str | os.PathLike[str]) -> Path:
    """The shipped analysis plan whose ``trial_config`` is ``trial_dir``'s ``trial.toml``."""
    if env := os.environ.get("ODTRIAL_PLAN"):
        return Path(env)
    target = (Path(trial_dir) / "trial.toml").resolve()
    seen: set[Path] = set()
    found: list[Path] = []
    for root in _repo_candidates():
        folder = (root / "analysis_plans").resolve()
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        for p in sorted(folder.glob("*.toml")):
            if _trial_config_of(p) == target:
                found.append(p)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            f"no plan in analysis_plans/ is for {target} (its trial_config): pass --plan PLAN"
        )
    raise ConfigError(
        f"{len(found)} plans in analysis_plans/ are for {target}: "
        f"{', '.join(p.name for p in found)}; pass --plan PLAN"
    )


def _trial_config_of(plan: Path) -> Path | None:
    """The plan's ``plan.trial_config``, resolved against the plan's folder (None if unreadable)."""
    try:
        raw = tomllib.loads(plan.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    tc = raw.get("plan", {}).get("trial_config")
    return (plan.parent / tc).resolve() if isinstance(tc, str) else None


def shipped_plan() -> Path:
    """The shipped statistical analysis plan of the shipped synthetic trial."""
    return plan_for(shipped_trial_dir())


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
