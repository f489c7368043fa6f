"""Fay–Graubard covariance and degrees of freedom for the Cox model: identities
and errors (the numbers themselves are checked against R in
``test_cox_small_sample_reference.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from odtrial.errors import ModelError
from odtrial.models.cox import fit_cox
from odtrial.models.cox.covariance import (
    correction_matrices,
    fay_graubard_df,
    fay_graubard_factors,
)
from odtrial.models.cox.partial import build_risk_sets, cluster_information, evaluate
from odtrial.models.leverage import leverage_corrected_scores

REF_DIR = Path(__file__).resolve().parents[2] / "reference" / "cox"
KW: dict[str, Any] = {"duration": "time", "event": "event", "cluster": "cluster"}


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / f"{name}.csv")


def _identical_clusters(G: int, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    m = rng.standard_normal((p, p))
    A = m @ m.T + p * np.eye(p)
    omega = np.broadcast_to(A / G, (G, p, p)).copy()
    return omega, A, np.linalg.inv(A)


@pytest.mark.parametrize("cov_type", ["robust", "robust-g", "mancl-derouen", "kauermann-carroll"])
def test_identical_clusters_give_g_minus_1_df(cov_type: str) -> None:
    """With G identical clusters the quadratic form is a scaled chi-square on G - 1 df.

    Q = k (I - J/G) / G, whose G - 1 non-zero eigenvalues are equal, so
    tr(Q)^2 / tr(Q^2) = G - 1 exactly, whatever the (common) correction.
    """
    G, p = 10, 3
    omega, A, A_inv = _identical_clusters(G, p)
    corr = correction_matrices(cov_type, A_inv, omega, A)
    for c in (np.eye(p)[0], np.array([1.0, -2.0, 0.5])):
        assert fay_graubard_df(omega, A_inv, corr, c) == pytest.approx(G - 1, rel=1e-12)


def test_correction_matrices_reproduce_the_corrected_scores() -> None:
    d = _data("c32")
    X = np.column_stack([d["arm"], d["age"] / 10, d["stratum"].isin(["S2", "S5"])]).astype(float)
    rs = build_risk_sets(d["time"].to_numpy(float), d["event"].to_numpy(bool), X, "efron")
    beta = np.array([-0.2, 0.01, 0.3])
    codes = pd.factorize(d["cluster"])[0]
    G = codes.max() + 1
    info = evaluate(rs, beta)[2]
    omega = cluster_information(rs, beta, codes, G)
    u = np.random.default_rng(1).standard_normal((G, 3))
    for cov_type, power in (("mancl-derouen", 1.0), ("kauermann-carroll", 0.5)):
        corr = correction_matrices(cov_type, np.linalg.inv(info), omega, info)
        want = leverage_corrected_scores(u, omega, info, power, what="I", remedy="-")
        np.testing.assert_allclose(np.einsum("gjk,gk->gj", corr, u), want, rtol=1e-12)


def test_fay_graubard_equals_kauermann_carroll_with_one_covariate() -> None:
    """p = 1 and every leverage below b: both scale U_g by (1 - h_g)^(-1/2)."""
    d = _data("c12")
    fg = fit_cox("~ arm", d, cov_type="fay-graubard", **KW)
    kc = fit_cox("~ arm", d, cov_type="kauermann-carroll", **KW)
    np.testing.assert_allclose(fg.cov_params(), kc.cov_params(), rtol=1e-12)


def test_fay_graubard_bound_caps_the_inflation() -> None:
    """A leverage above b = 0.75 is inflated as if it were b: factor 1 / sqrt(0.25) = 2."""
    A_inv = np.eye(2)
    omega = np.array([np.diag([0.9, 0.1]), np.diag([0.05, 0.5])])
    f = fay_graubard_factors(omega, A_inv)
    np.testing.assert_allclose(f, [[2.0, 1 / np.sqrt(0.9)], [1 / np.sqrt(0.95), 1 / np.sqrt(0.5)]])
    np.testing.assert_allclose(fay_graubard_factors(omega, A_inv, 0.95)[0, 0], 1 / np.sqrt(0.1))
    with pytest.raises(ModelError, match=r"bound must be in \(0, 1\), got 1.0"):
        fay_graubard_factors(omega, A_inv, 1.0)


def test_fay_graubard_df_is_per_coefficient_and_reported() -> None:
    d = _data("c32")
    res = fit_cox("~ arm + age", d, cov_type="mancl-derouen", df="fay-graubard", **KW)
    assert res.df_method == "t(Fay-Graubard)"
    assert res.df["arm"] != res.df["age"]
    assert ((res.df > 1) & (res.df < 32)).all()
    t = fit_cox("~ arm + age", d, cov_type="mancl-derouen", df="clusters-parameters", **KW)
    assert (t.df == 30).all() and t.df_method == "t(clusters - parameters = 30)"
    np.testing.assert_allclose(res.cov_params(), t.cov_params(), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"df": "satterthwaite"}, r"df must be one of clusters-parameters, fay-graubard"),
        (
            {"df": "fay-graubard", "cov_type": "model"},
            r"df='fay-graubard' needs a cluster-robust cov_type and a t reference",
        ),
        ({"df": "fay-graubard", "use_t": False}, r"got cov_type='[a-z-]+', use_t=False"),
    ],
)
def test_df_errors(kw: dict[str, Any], msg: str) -> None:
    with pytest.raises(ModelError, match=msg):
        fit_cox("~ arm", _data("c12"), **KW, **kw)
