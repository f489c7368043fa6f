"""Rubin's rules and Barnard–Rubin df: by hand and against mitml::testEstimates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from odtrial.errors import ModelError
from odtrial.missing import PooledResults, barnard_rubin, pool
from odtrial.models import ModelResults, fit_lmm

REF = Path(__file__).resolve().parents[1] / "reference" / "missing"


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((REF / "reference.json").read_text())


@pytest.fixture(scope="module")
def fits() -> list[ModelResults]:
    comp = pd.read_csv(REF / "completed_cont.csv")
    return [
        fit_lmm("y ~ arm + x", d.drop(columns="imp"), cluster="cluster", ddf="between-within")
        for _, d in comp.groupby("imp")
    ]


def test_rubins_rules_by_hand(fits: list[ModelResults]) -> None:
    m = len(fits)
    Q = np.array([f.params.to_numpy() for f in fits])
    U = np.array([f.bse.to_numpy() ** 2 for f in fits])
    dfc = fits[0].df.to_numpy()
    qbar = Q.mean(axis=0)
    ubar = U.mean(axis=0)
    b = ((Q - qbar) ** 2).sum(axis=0) / (m - 1)
    t = ubar + (1 + 1 / m) * b
    r = (1 + 1 / m) * b / ubar
    lam = (1 + 1 / m) * b / t
    nu_old = (m - 1) / lam**2
    nu_obs = (dfc + 1) / (dfc + 3) * dfc * (1 - lam)
    nu = nu_old * nu_obs / (nu_old + nu_obs)
    fmi = (r + 2 / (nu + 3)) / (r + 1)
    se = np.sqrt(t)
    p = 2 * stats.t.sf(np.abs(qbar / se), nu)
    half = stats.t.ppf(0.975, nu) * se

    res = pool(fits)
    assert isinstance(res, PooledResults)
    for got, want in [
        (res.params, qbar),
        (res.bse, se),
        (res.df, nu),
        (res.riv, r),
        (res.lambda_, lam),
        (res.fmi, fmi),
        (res.pvalues, p),
        (res.within, ubar),
        (res.between, b),
        (res.conf_int()["lower"], qbar - half),
        (res.conf_int()["upper"], qbar + half),
    ]:
        np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-8, atol=1e-12)
    # the full covariance: mean within + (1 + 1/m) between, off-diagonals too
    covs = np.array([f.cov_params().to_numpy() for f in fits])
    dev = Q - qbar
    np.testing.assert_allclose(
        res.cov_params().to_numpy(),
        covs.mean(axis=0) + (1 + 1 / m) * dev.T @ dev / (m - 1),
        rtol=1e-10,
    )
    assert list(res.conf_int().columns) == ["lower", "upper"]
    assert list(res.conf_int().index) == list(fits[0].names)


def test_fits_match_the_stored_python_fits() -> None:
    """The completed datasets give the estimates make_data.py stored (what R pooled)."""
    comp = pd.read_csv(REF / "completed_cont.csv")
    stored = pd.read_csv(REF / "python_fits.csv")
    for i, d in comp.groupby("imp"):
        r = fit_lmm("y ~ arm + x", d.drop(columns="imp"), cluster="cluster", ddf="between-within")
        s = stored[stored["imp"] == i].set_index("term")
        np.testing.assert_allclose(r.params.to_numpy(), s["estimate"], rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(r.bse.to_numpy(), s["se"], rtol=1e-7)


def _results(params: pd.Series, se: pd.Series, df: pd.Series) -> ModelResults:
    return ModelResults(
        model="lmm",
        family="gaussian",
        link="identity",
        formula="y ~ arm + x",
        params=params,
        cov=np.diag(se.to_numpy() ** 2),
        df=df,
        nobs=500,
        n_clusters=24,
    )


def test_matches_mitml_on_the_same_estimates(reference: dict) -> None:
    """mitml::testEstimates(qhat, uhat, df.com) on odtrial's per-dataset estimates."""
    stored = pd.read_csv(REF / "python_fits.csv")
    fits = [
        _results(
            s.set_index("term")["estimate"], s.set_index("term")["se"], s.set_index("term")["df"]
        )
        for _, s in stored.groupby("imp")
    ]
    res = pool(fits)
    ref = reference["pool_python"]
    assert list(res.names) == ref["terms"]
    for ours, key in [
        (res.params, "estimate"),
        (res.bse, "se"),
        (res.tvalues, "t"),
        (res.df, "df"),
        (res.pvalues, "p"),
        (res.riv, "riv"),
        (res.fmi, "fmi"),
    ]:
        # atol: R's 2 * (1 - pt(t, df)) is 0 where the tail is below 1e-16
        np.testing.assert_allclose(ours.to_numpy(), ref[key], rtol=1e-10, atol=1e-15, err_msg=key)


def test_matches_mitml_pooling_lmer_fits_of_the_same_datasets(
    fits: list[ModelResults], reference: dict
) -> None:
    """R refits the completed datasets with lmer and pools them: the pooled numbers
    agree to the precision with which fit_lmm and lmer agree (~1e-6)."""
    res = pool(fits)
    ref = reference["pool_lmer"]
    np.testing.assert_allclose(res.params.to_numpy(), ref["estimate"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.bse.to_numpy(), ref["se"], rtol=1e-5)
    np.testing.assert_allclose(res.df.to_numpy(), ref["df"], rtol=1e-4)
    np.testing.assert_allclose(res.fmi.to_numpy(), ref["fmi"], rtol=1e-4)
    np.testing.assert_allclose(reference["df_com"], fits[0].df.to_numpy())


def test_limits_of_the_degrees_of_freedom() -> None:
    q = np.array([[1.0, 2.0], [1.2, 2.0], [0.9, 2.0]])
    u = np.repeat(np.diag([0.04, 0.09])[None], 3, axis=0)
    # infinite complete-data df: nu = (m - 1) / lambda^2; no between variance: nu = nu_obs
    out = barnard_rubin(q, u, np.array([np.inf, 20.0]))
    lam = out["lambda"][0]
    assert out["df"][0] == pytest.approx(2 / lam**2)
    assert out["riv"][1] == 0.0
    assert out["df"][1] == pytest.approx(20 * 21 / 23)
    assert np.isfinite(out["fmi"]).all()


def test_complete_data_df_can_be_given() -> None:
    stored = pd.read_csv(REF / "python_fits.csv")
    fits = [
        _results(
            s.set_index("term")["estimate"], s.set_index("term")["se"], s.set_index("term")["df"]
        )
        for _, s in stored.groupby("imp")
    ]
    default = pool(fits)
    assert (pool(fits, df_com=1e12).df > default.df).all()
    assert pool(fits, df_com=[22, 22, 400]).df_com.tolist() == [22, 22, 400]


def test_pooled_results_present_like_any_fit(fits: list[ModelResults]) -> None:
    res = pool(fits)
    frame = res.to_frame()
    assert {"estimate", "std_error", "df", "p_value", "riv", "fmi"} <= set(frame.columns)
    assert "multiple imputation, m = 5" in res.estimation
    assert "Barnard–Rubin" in res.df_method
    assert "riv" in res.summary() and "<table" in res.to_html()
    assert res.m == 5 and len(res.fits) == 5
    assert res.converged


def test_pool_refuses_mismatched_or_too_few_fits(fits: list[ModelResults]) -> None:
    with pytest.raises(ModelError, match="at least 2 fits"):
        pool(fits[:1])
    other = fit_lmm(
        "y ~ arm", pd.read_csv(REF / "completed_cont.csv").query("imp == 1"), cluster="cluster"
    )
    with pytest.raises(ModelError, match="pool fits of one model"):
        pool([fits[0], other])
