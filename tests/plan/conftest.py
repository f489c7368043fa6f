"""Shared inputs for the plan tests: the shipped SAP, parsed, and a way to change one key."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

SAP = Path(__file__).resolve().parents[2] / "analysis_plans" / "pod_synthetic_sap.toml"
DELETE = object()


@pytest.fixture(scope="session")
def raw() -> dict[str, Any]:
    return tomllib.loads(SAP.read_text(encoding="utf-8"))


def with_value(raw: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``raw`` with ``path`` set to ``value`` (``DELETE`` removes the key)."""
    out = copy.deepcopy(raw)
    node = out
    for k in path[:-1]:
        node = node[k]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


@pytest.fixture(scope="session")
def plan_with() -> Any:
    """``plan_with(raw, path, value)``: see :func:`with_value`; ``plan_with.DELETE`` removes."""

    def f(raw: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
        return with_value(raw, path, value)

    f.DELETE = DELETE  # type: ignore[attr-defined]
    return f


@pytest.fixture(scope="session")
def sap_path() -> Path:
    return SAP
