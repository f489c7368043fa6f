"""Deterministic JSON and CSV output for ``results.json`` and ``tables/*.csv``.

The contract (``RESULTS_CONTRACT.md``): ``json.dumps(obj, indent=2,
sort_keys=True, allow_nan=False)`` plus a newline; floats rounded to 10
significant digits so that the last-bit noise of floating-point arithmetic
never changes the bytes; NaN and infinities written as ``null``, except a
degrees-of-freedom value (key ``df``) that is infinite, written as ``"inf"``
(a z reference). Every file is written to a temporary sibling and renamed, so
a reader never sees half a file.

Two blocks say what made the numbers (no timestamps, so a re-run on the same
machine gives the same bytes):

``software``
    ``python``, ``odtrial`` and the installed version of every dependency
    odtrial's distribution declares (``[project].dependencies``, read with
    :mod:`importlib.metadata`; optional extras are not needed to analyse).
``figures``
    One entry per figure file written beside ``results.json``: its ``path``
    relative to the analysis folder, its ``format`` and its ``sha256``
    (:func:`record_figures`, run once the report's figures exist).
"""

from __future__ import annotations

import json
import math
import platform
import re
from collections.abc import Mapping
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

SIGNIFICANT_DIGITS = 10
RESULTS_FILE: Final = "results.json"
FIGURES_DIR: Final = "figures"
NOT_INSTALLED: Final = "not installed"
# a requirement's distribution name (PEP 508): what comes before extras, version, marker
_REQ_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def round_sig(x: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """Round ``x`` to ``digits`` significant digits (0 stays 0, -0.0 becomes 0.0).

    Examples
    --------
    >>> round_sig(1.23456789012345)
    1.23456789
    >>> round_sig(-0.0)
    0.0
    """
    if x == 0:
        return 0.0
    return float(f"{x:.{digits}g}") + 0.0


def normalise(obj: Any, *, key: str | None = None) -> Any:
    """Turn ``obj`` into plain JSON types with rounded floats.

    numpy scalars and arrays, pandas NA, tuples, dates and paths are converted;
    NaN and infinities become ``None`` except an infinite ``df`` (``"inf"``).
    Mapping keys become strings.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        x = float(obj)
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if key == "df" and x > 0 else None
        return round_sig(x)
    if isinstance(obj, Mapping):
        return {str(k): normalise(v, key=str(k)) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray | pd.Series):
        return [normalise(v, key=key) for v in list(obj)]
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Path):
        return obj.as_posix()
    if obj is pd.NA or obj is pd.NaT:
        return None
    raise TypeError(f"cannot write {type(obj).__name__} to results.json")


def dumps(obj: Any) -> str:
    """The contract's JSON text of ``obj`` (normalised first)."""
    return json.dumps(normalise(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def csv_text(frame: pd.DataFrame) -> str:
    """A table as CSV text with deterministic bytes (floats at 10 significant digits)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = [None if pd.isna(v) else repr(round_sig(float(v))) for v in out[col]]
    return out.to_csv(index=False, lineterminator="\n")


def declared_dependencies(distribution: str = "odtrial") -> tuple[str, ...]:
    """The names of the packages ``distribution`` requires, extras left out.

    Read from the installed distribution's metadata (its ``Requires-Dist``,
    which is ``[project].dependencies`` plus the optional extras), so the list
    follows ``pyproject.toml`` without being typed twice.

    Raises
    ------
    importlib.metadata.PackageNotFoundError
        When ``distribution`` is not installed.
    """
    names = []
    for req in metadata.requires(distribution) or []:
        spec, _, marker = req.partition(";")
        if re.search(r"\bextra\s*==", marker):  # an optional extra ("dask", "test")
            continue
        m = _REQ_NAME.match(spec)
        if m:
            names.append(m.group(1))
    return tuple(dict.fromkeys(names))


def software_versions() -> dict[str, str]:
    """The ``software`` block: Python, odtrial, and each declared dependency's
    installed version (``"not installed"`` if absent).

    Examples
    --------
    >>> sw = software_versions()
    >>> {"python", "odtrial", "numpy", "python-docx"} <= set(sw)
    True
    """
    from odtrial import __version__

    out = {"python": platform.python_version(), "odtrial": __version__}
    try:
        names = declared_dependencies()
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        out["dependencies"] = "unknown: odtrial is not installed, so its requirements are unknown"
        return out
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = NOT_INSTALLED
    return out


def figure_list(folder: str | Path) -> list[dict[str, str]]:
    """Every file under ``folder/figures``: path (relative to ``folder``, with ``/``),
    format (the file suffix) and SHA-256, sorted by path."""
    from odtrial._io import sha256_file

    root = Path(folder)
    files = sorted(
        (p for p in (root / FIGURES_DIR).rglob("*") if p.is_file()),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    return [
        {
            "path": f.relative_to(root).as_posix(),
            "format": f.suffix.lstrip(".").lower(),
            "sha256": sha256_file(f),
        }
        for f in files
    ]


def record_figures(folder: str | Path) -> dict[str, Any] | None:
    """List the figures in ``folder`` in its ``results.json`` (rewritten in the
    contract's bytes); returns the updated results, or None when ``folder`` holds
    no ``results.json`` (a report written on its own)."""
    path = Path(folder) / RESULTS_FILE
    if not path.is_file():
        return None
    results = json.loads(path.read_text(encoding="utf-8"))
    results["figures"] = figure_list(folder)
    text = dumps(results)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(text.encode("utf-8"))
    tmp.replace(path)
    return normalise(results)


__all__ = [
    "SIGNIFICANT_DIGITS",
    "csv_text",
    "declared_dependencies",
    "dumps",
    "figure_list",
    "normalise",
    "record_figures",
    "round_sig",
    "software_versions",
]
