"""The geepack reference (tests/reference/gee): cases, stored results, data and how
each case is written in an odtrial formula. Shared by the GEE test modules."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

REF_DIR = Path(__file__).resolve().parents[2] / "reference" / "gee"
REF = json.loads((REF_DIR / "reference.json").read_text())
CASES = ["bin24", "bin12rare", "gauss30", "pois20", "pois20off"]


def model_args(name: str) -> tuple[str, dict]:
    """Python formula and options for a reference case (R writes the offset in the formula)."""
    if name == "pois20off":
        return "y ~ arm + x", {"offset": "logt"}
    return REF[name]["formula"], {}


def reference_data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / f"{name}.csv")
