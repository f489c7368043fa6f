"""Small-sample sandwich corrections: against R by hand, statsmodels, and identities."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gee_reference import CASES, REF, model_args, reference_data

from odtrial.errors import ModelError
from odtrial.models.gee import ClusterContributions, fit_gee, sandwich_cov

KEYS = {
    "robust": "se_robust",
    "mancl-derouen": "se_mancl_derouen",
    "kauermann-carroll": "se_kauermann_carroll",
    "fay-graubard": "se_fay_graubard",
}


@pytest.mark.parametrize("cov_type", list(KEYS))
@pytest.mark.parametrize("cov_struct", ["exchangeable", "independence"])
@pytest.mark.parametrize("name", CASES)
def test_corrections_match_r_by_hand(name: str, cov_struct: str, cov_type: str) -> None:
    """R forms the n_i x n_i leverages explicitly from geepack's fit; we use p x p algebra.

    Tolerance 1e-4 relative: R evaluates at geepack's estimates, which differ
    from ours by geepack's convergence tolerance (~1e-6); the algebra itself
    agrees to ~1e-14 (independence, where both solutions are exact).
    """
    ref = REF[name]
    formula, kw = model_args(name)
    res = fit_gee(
        formula,
        reference_data(name),
        cluster="cluster",
        family=ref["family"],
        cov_struct=cov_struct,
        cov_type=cov_type,
        **kw,
    )
    np.testing.assert_allclose(res.bse, pd.Series(ref[cov_struct][KEYS[cov_type]]), rtol=1e-4)


def _statsmodels_pieces(name: str) -> tuple[ClusterContributions, object]:
    """Per-cluster U_i, M_i at statsmodels' own GEE solution, and its results."""
    d = reference_data(name)
    model = sm.GEE.from_formula(
        REF[name]["formula"],
        groups="cluster",
        data=d,
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    )
    fit = model.fit(cov_type="bias_reduced")
    scores, info = [], []
    for i in range(len(model.endog_li)):
        X, y = model.exog_li[i], model.endog_li[i]
        mu = 1 / (1 + np.exp(-X @ fit.params.to_numpy()))
        v = mu * (1 - mu)
        R, _ = model.cov_struct.covariance_matrix(mu, i)
        V_inv = np.linalg.inv(np.sqrt(v)[:, None] * R * np.sqrt(v)[None, :])
        D = v[:, None] * X
        scores.append(D.T @ V_inv @ (y - mu))
        info.append(D.T @ V_inv @ D)
    pieces = ClusterContributions(np.array(scores), np.array(info), np.arange(len(scores)))
    return pieces, fit


@pytest.mark.parametrize("name", ["bin24", "bin12rare"])
def test_mancl_derouen_equals_statsmodels_bias_reduced(name: str) -> None:
    """statsmodels' ``bias_reduced`` is Mancl–DeRouen: same pieces, same matrix."""
    pieces, fit = _statsmodels_pieces(name)
    np.testing.assert_allclose(
        sandwich_cov(pieces, "mancl-derouen"), fit.cov_robust_bc, rtol=1e-10, atol=1e-14
    )
    np.testing.assert_allclose(sandwich_cov(pieces, "robust"), fit.cov_robust, rtol=1e-10)


def _explicit(D: list, V: list, e: list, cov_type: str, b: float = 0.75) -> np.ndarray:
    """The textbook n_i x n_i formulas, for the algebra check."""
    V_inv = [np.linalg.inv(v) for v in V]
    B = sum(d.T @ vi @ d for d, vi in zip(D, V_inv, strict=True))
    B_inv = np.linalg.inv(B)
    meat = np.zeros_like(B)
    for d, vi, ei in zip(D, V_inv, e, strict=True):
        IH = np.eye(len(ei)) - d @ B_inv @ d.T @ vi
        if cov_type == "mancl-derouen":
            c = d.T @ vi @ np.linalg.solve(IH, ei)
        elif cov_type == "kauermann-carroll":
            c = d.T @ vi @ np.real(linalg.inv(linalg.sqrtm(IH))) @ ei
        else:
            q = np.diag(d.T @ vi @ d @ B_inv)
            c = (d.T @ vi @ ei) / np.sqrt(1 - np.minimum(b, q))
        meat += np.outer(c, c)
    return B_inv @ meat @ B_inv


@pytest.mark.parametrize("cov_type", ["mancl-derouen", "kauermann-carroll", "fay-graubard"])
def test_p_by_p_algebra_equals_explicit_leverage(cov_type: str) -> None:
    """Arbitrary D_i, V_i, e_i (not from a fit): the two routes must agree."""
    rng = np.random.default_rng(42)
    D, V, e = [], [], []
    for n in rng.integers(2, 9, size=7):
        D.append(rng.normal(size=(n, 3)))
        L = rng.normal(size=(n, n))
        V.append(L @ L.T + n * np.eye(n))
        e.append(rng.normal(size=n))
    pieces = ClusterContributions(
        np.array([d.T @ np.linalg.solve(v, ei) for d, v, ei in zip(D, V, e, strict=True)]),
        np.array([d.T @ np.linalg.solve(v, d) for d, v in zip(D, V, strict=True)]),
        np.arange(7),
    )
    np.testing.assert_allclose(
        sandwich_cov(pieces, cov_type), _explicit(D, V, e, cov_type), rtol=1e-9
    )


def test_identical_clusters_give_exact_ratios() -> None:
    """Same design in every cluster (gaussian): P_i = I/G, so MD = (G/(G-1))^2 x robust
    and KC = G/(G-1) x robust, exactly; the ordering MD >= KC >= robust is then sure."""
    rng = np.random.default_rng(5)
    G, m = 10, 6
    x = rng.normal(size=m)
    d = pd.DataFrame({"g": np.repeat(np.arange(G), m), "x": np.tile(x, G)})
    d["y"] = 1 + 0.5 * d["x"] + np.repeat(rng.normal(size=G), m) + rng.normal(size=G * m)
    var = {
        ct: fit_gee("y ~ x", d, cluster="g", family="gaussian", cov_type=ct).bse ** 2
        for ct in ("robust", "kauermann-carroll", "mancl-derouen")
    }
    np.testing.assert_allclose(var["kauermann-carroll"] / var["robust"], G / (G - 1), rtol=1e-10)
    np.testing.assert_allclose(var["mancl-derouen"] / var["robust"], (G / (G - 1)) ** 2, rtol=1e-10)


@pytest.mark.parametrize("cov_struct", ["exchangeable", "independence"])
@pytest.mark.parametrize("name", CASES)
def test_ordering_on_typical_trial_data(name: str, cov_struct: str) -> None:
    """MD >= KC >= robust holds on these realistic trials (not guaranteed in general;
    see odtrial.models.gee.covariance); FG >= robust always holds on the diagonal."""
    ref = REF[name]
    formula, kw = model_args(name)
    se = {
        ct: fit_gee(
            formula,
            reference_data(name),
            cluster="cluster",
            family=ref["family"],
            cov_struct=cov_struct,
            cov_type=ct,
            **kw,
        ).bse
        for ct in KEYS
    }
    assert (se["mancl-derouen"] >= se["kauermann-carroll"]).all()
    assert (se["kauermann-carroll"] >= se["robust"]).all()
    assert (se["fay-graubard"] >= se["robust"]).all()


def test_fay_graubard_bound_in_closed_form() -> None:
    """Mean of a gaussian outcome with working independence: q_i = n_i / N, U_i = sum of
    residuals, so var_FG = sum_i U_i^2 / (1 - min(b, n_i/N)) / N^2 in closed form. The big
    cluster has q = 0.8, so the bound b = 0.75 is active there; b -> 0 gives the robust."""
    rng = np.random.default_rng(8)
    sizes = [40, 3, 3, 4]
    d = pd.DataFrame({"g": np.repeat(np.arange(4), sizes)})
    d["y"] = rng.normal(size=len(d))
    e = d["y"] - d["y"].mean()
    U = e.groupby(d["g"]).sum().to_numpy()
    q = np.array(sizes) / len(d)
    kw = {"cluster": "g", "family": "gaussian", "cov_struct": "independence"}
    for b in (0.75, 0.5, 1e-9):
        fg = fit_gee("y ~ 1", d, cov_type="fay-graubard", fg_bound=b, **kw)
        want = np.sum(U**2 / (1 - np.minimum(b, q))) / len(d) ** 2
        assert fg.bse["Intercept"] ** 2 == pytest.approx(want, rel=1e-12)
        assert fg.extra["fg_bound"] == b
    rob = fit_gee("y ~ 1", d, cov_type="robust", **kw)
    assert rob.bse["Intercept"] ** 2 == pytest.approx(np.sum(U**2) / len(d) ** 2, rel=1e-12)
    with pytest.raises(ModelError, match=r"fg_bound must be in \(0, 1\)"):
        fit_gee("y ~ 1", d, cov_type="fay-graubard", fg_bound=1.0, **kw)


def test_leverage_one_cluster_is_refused_by_md_but_not_fg() -> None:
    """A term that only one cluster identifies gives that cluster leverage 1."""
    d = reference_data("gauss30")
    d["only_c01"] = (d["cluster"] == "c01").astype(float)
    with pytest.raises(ModelError, match=r"cluster 'c01' has leverage 1"):
        fit_gee(
            "y ~ arm + only_c01", d, cluster="cluster", family="gaussian", cov_type="mancl-derouen"
        )
    res = fit_gee(
        "y ~ arm + only_c01", d, cluster="cluster", family="gaussian", cov_type="fay-graubard"
    )
    assert np.isfinite(res.bse).all()
