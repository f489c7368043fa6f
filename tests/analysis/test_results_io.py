"""Deterministic JSON normalisation of results.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from odtrial.analysis.results_io import csv_text, dumps, normalise, round_sig


def test_round_sig_keeps_ten_significant_digits() -> None:
    assert round_sig(math.pi) == 3.141592654
    assert round_sig(123456.789012345) == 123456.789
    assert round_sig(1.23456789012e-7) == 1.23456789e-7
    assert round_sig(-0.0) == 0.0 and str(round_sig(-0.0)) == "0.0"
    # last-bit noise disappears
    assert round_sig(0.1 + 0.2) == round_sig(0.3)


def test_normalise_nan_inf_numpy_and_df() -> None:
    obj = {"a": np.float64("nan"), "df": np.inf, "b": {"df": 12.0, "x": -np.inf},
           "n": np.int64(3), "flag": np.bool_(True), "t": (1, 2.5), "arr": np.array([1.0, 2.0]),
           "na": pd.NA}  # fmt: skip
    out = normalise(obj)
    assert out == {"a": None, "df": "inf", "b": {"df": 12.0, "x": None}, "n": 3, "flag": True,
                   "t": [1, 2.5], "arr": [1.0, 2.0], "na": None}  # fmt: skip
    text = dumps(obj)
    assert text.endswith("}\n") and json.loads(text) == out
    assert text == dumps(dict(reversed(list(obj.items()))))  # key order never matters


def test_csv_text_is_deterministic() -> None:
    frame = pd.DataFrame({"x": [0.1 + 0.2, float("nan")], "s": ["a", "b"]})
    assert csv_text(frame) == "x,s\n0.3,a\n,b\n"
