"""Shared fixtures for the LMM tests: the R reference fits and their datasets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

REF_DIR = Path(__file__).resolve().parents[2] / "reference" / "lmm"
DATASETS = ("lmm_12", "lmm_24", "lmm_32", "lmm_60", "lmm_zero")


@pytest.fixture(scope="session")
def lmm_reference() -> dict:
    """R's full-precision output (tests/reference/lmm/fit_reference.R)."""
    return json.loads((REF_DIR / "lmm_reference.json").read_text())


@pytest.fixture(scope="session")
def lmm_data() -> Callable[[str], pd.DataFrame]:
    cache: dict[str, pd.DataFrame] = {}

    def load(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = pd.read_csv(REF_DIR / f"{name}.csv")
        return cache[name].copy()

    return load


@pytest.fixture(scope="session")
def r_names() -> Callable[[tuple[str, ...]], list[str]]:
    """odtrial's term names spelled as lme4 spells them."""

    def convert(names: tuple[str, ...]) -> list[str]:
        return [
            "(Intercept)" if n == "Intercept" else re.sub(r"C\((\w+)\)\[T\.(.+)\]", r"\1\2", n)
            for n in names
        ]

    return convert
