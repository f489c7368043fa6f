"""Shared fixtures: R's stored GLMM results and the matching odtrial fits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, xlogy

from odtrial.models.glmm import fit_glmm
from odtrial.models.results import ModelResults

REF_DIR = Path(__file__).resolve().parents[2] / "reference" / "glmm"


@pytest.fixture(scope="session")
def reference() -> dict[str, Any]:
    with open(REF_DIR / "reference.json", encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def load() -> Callable[[str], pd.DataFrame]:
    cache: dict[str, pd.DataFrame] = {}

    def _load(name: str) -> pd.DataFrame:
        if name not in cache:
            cache[name] = pd.read_csv(REF_DIR / f"{name}.csv")
        return cache[name].copy()

    return _load


def fit_kwargs(r: dict[str, Any], data: pd.DataFrame) -> dict[str, Any]:
    """How a stored R fit maps onto fit_glmm's arguments."""
    kw: dict[str, Any] = {"nagq": int(r["nagq"]), "cluster": "cluster", "family": "binomial"}
    if r["data"] == "pois_offset":
        kw["family"] = "poisson"
    if r["data"] == "negbin":
        kw["family"] = "negbin"
    if "offset" in r:
        kw["offset"] = np.log(data["followup"].to_numpy())
    if r["data"] == "cbpp":
        kw["cluster"], kw["trials"] = "herd", "size"
    return kw


@pytest.fixture(scope="session")
def fitted(
    reference: dict[str, Any], load: Callable[[str], pd.DataFrame]
) -> Callable[[str], ModelResults]:
    """Fit (once per session) the odtrial model matching a stored R fit."""
    cache: dict[str, ModelResults] = {}

    def _fit(key: str) -> ModelResults:
        r = reference["fits"][key]
        # the tight-tolerance R fits are the same model as the default ones
        same = key.replace("_tight", "")
        if same not in cache:
            d = load(r["data"])
            cache[same] = fit_glmm(r["formula"], d, **fit_kwargs(r, d))
        return cache[same]

    return _fit


def saturated_llf(r: dict[str, Any], data: pd.DataFrame) -> float:
    """Log-likelihood of the saturated model (0 for a 0/1 response).

    lme4's logLik for nAGQ > 1 is built from deviance residuals and so omits this
    constant; for nAGQ = 1 it is the full log-likelihood like odtrial's ``llf``.
    """
    if r["data"] == "cbpp":
        y, m = data["incidence"].to_numpy(float), data["size"].to_numpy(float)
        return float(
            np.sum(
                gammaln(m + 1)
                - gammaln(y + 1)
                - gammaln(m - y + 1)
                + xlogy(y, y / m)
                + xlogy(m - y, (m - y) / m)
            )
        )
    y = data["y"].to_numpy(float)
    if r["data"] == "pois_offset":
        return float(np.sum(xlogy(y, y) - y - gammaln(y + 1)))
    return 0.0


def assert_matches_r(
    res: ModelResults, r: dict[str, Any], data: pd.DataFrame, se_tol: float
) -> None:
    """The issue's tolerances: β 1e-3 (absolute, or relative when |β| > 1), SE and
    cluster variance 1% (``se_tol``), llf 1e-3."""
    assert list(res.params.index) == _names(r)
    rb = np.array(list(r["params"].values()))
    err = np.abs(res.params.to_numpy() - rb) / np.maximum(1.0, np.abs(rb))
    assert err.max() < 1e-3, (res.params, rb)
    rse = np.array(list(r["bse"].values()))
    assert np.max(np.abs(res.bse.to_numpy() / rse - 1)) < se_tol, (res.bse, rse)
    if r["cluster_var"] > 1e-8:
        assert abs(res.cluster_var / r["cluster_var"] - 1) < 1e-2
    else:
        assert res.cluster_var == 0.0 and res.diagnostics.singular
    llf = res.llf - (saturated_llf(r, data) if r["nagq"] > 1 else 0.0)
    assert abs(llf - r["llf"]) < 1e-3
    assert res.nobs == r["nobs"]
    assert res.diagnostics.singular == bool(r.get("singular", False))


def _names(r: dict[str, Any]) -> list[str]:
    """R's coefficient names in odtrial's (formulaic) spelling."""
    out = []
    for n in r["names"]:
        if n == "(Intercept)":
            out.append("Intercept")
        elif n.startswith("period"):
            out.append(f"C(period)[T.{n[len('period') :]}]")
        else:
            out.append(n)
    return out


@pytest.fixture(scope="session")
def matches_r() -> Callable[[ModelResults, dict[str, Any], pd.DataFrame, float], None]:
    return assert_matches_r


@pytest.fixture(scope="session")
def kwargs_for() -> Callable[[dict[str, Any], pd.DataFrame], dict[str, Any]]:
    return fit_kwargs
