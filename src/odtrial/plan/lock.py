"""Locking a final SAP: once signed off, a version's content cannot change.

``lock_plan`` records the content hash of a ``final`` plan's version in
``<plan>.lock.json`` beside it (one entry per version, never overwritten).
``check_lock`` is what ``analyse``/``run`` call: a final plan whose version is
not locked, or whose content no longer matches its locked hash, is refused —
changing a final plan needs a new version, locked in its turn.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from odtrial.errors import PlanError
from odtrial.plan.load import load_plan
from odtrial.plan.model import Plan


def lock_path(plan_path: Path) -> Path:
    return plan_path.with_name(plan_path.stem + ".lock.json")


def _read_locks(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): dict(v) for k, v in data["locks"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PlanError(f"{path}: lock file is unreadable or malformed") from None


def lock_plan(path: str | Path) -> Plan:
    """Lock the version of a final plan; idempotent for unchanged content."""
    plan = load_plan(path)
    assert plan.path is not None
    if not plan.is_final:
        raise PlanError(f"{plan.path}: only a final plan can be locked (status is {plan.status!r})")
    lp = lock_path(plan.path)
    locks = _read_locks(lp)
    entry = locks.get(plan.version)
    if entry is not None:
        if entry["sha256"] != plan.sha256:
            raise PlanError(
                f"{plan.path}: version {plan.version} is already locked with different content; "
                "give the changed plan a new version"
            )
        return plan
    locks[plan.version] = {"sha256": plan.sha256, "date": plan.date.isoformat()}
    tmp = lp.with_name(lp.name + ".tmp")
    tmp.write_text(json.dumps({"locks": locks}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, lp)
    return plan


def check_lock(plan: Plan) -> None:
    """Refuse a final plan that is unlocked or changed since it was locked."""
    if not plan.is_final:
        return
    if plan.path is None:
        raise PlanError("a final plan must be loaded from its file so its lock can be checked")
    entry = _read_locks(lock_path(plan.path)).get(plan.version)
    if entry is None:
        raise PlanError(
            f"{plan.path}: final plan version {plan.version} is not locked; run 'odtrial plan lock {plan.path}'"
        )
    if entry["sha256"] != plan.sha256:
        raise PlanError(
            f"{plan.path}: final plan version {plan.version} has changed since it was locked "
            f"(locked sha256 {entry['sha256'][:12]}…, now {plan.sha256[:12]}…); "
            "record the change as a new version"
        )
