"""Deterministic JSON and CSV output for ``results.json`` and ``tables/*.csv``.

The contract (``RESULTS_CONTRACT.md``): ``json.dumps(obj, indent=2,
sort_keys=True, allow_nan=False)`` plus a newline; floats rounded to 10
significant digits so that the last-bit noise of floating-point arithmetic
never changes the bytes; NaN and infinities written as ``null``, except a
degrees-of-freedom value (key ``df``) that is infinite, written as ``"inf"``
(a z reference). Every file is written to a temporary sibling and renamed, so
a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SIGNIFICANT_DIGITS = 10


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


__all__ = ["SIGNIFICANT_DIGITS", "csv_text", "dumps", "normalise", "round_sig"]
