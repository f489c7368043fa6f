"""Cluster-robust Cox covariances: R's sandwich, the individual sandwich, the
small-sample factor and t reference, and the default (Mancl–DeRouen with
Fay–Graubard df; Kauermann–Carroll with t(G - p) before)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from odtrial.errors import ModelError
from odtrial.models import ModelResults
from odtrial.models.cox import fit_cox
from odtrial.models.cox.covariance import cluster_scores
from odtrial.models.cox.partial import (
    build_risk_sets,
    cluster_information,
    evaluate,
    score_residuals,
)

REF_DIR = Path(__file__).resolve().parents[2] / "reference" / "cox"
REF = json.loads((REF_DIR / "reference.json").read_text())

# 1e-5 relative, the tolerance for standard errors; we agree to ~1e-12.
SE_RTOL = 1e-5


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / f"{name}.csv")


def _fit(name: str, **kw: Any) -> ModelResults:
    return fit_cox(REF[name]["formula"], _data(name), duration="time", event="event", **kw)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("name", ["c12", "c32", "c60"])
def test_full_robust_matrix_matches_coxph(name: str, ties: str) -> None:
    res = _fit(name, cluster="cluster", ties=ties, cov_type="robust", use_t=False)
    want = np.array(REF[name][ties]["var_robust"])
    got = res.cov_params().to_numpy()
    scale = np.sqrt(np.outer(np.diag(want), np.diag(want)))  # relative to the SEs' product
    np.testing.assert_allclose(got / scale, want / scale, atol=SE_RTOL)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("name", ["c12", "c32", "c20notie"])
def test_cluster_of_one_is_the_individual_sandwich(name: str, ties: str) -> None:
    """cluster = each individual reproduces coxph(robust = TRUE) (Lin & Wei)."""
    want = pd.Series(REF[name][ties]["se_robust_individual"])
    by_id = _fit(name, cluster="id", ties=ties, cov_type="robust", use_t=False)
    no_cluster = _fit(name, cluster=None, ties=ties, cov_type="robust", use_t=False)
    np.testing.assert_allclose(by_id.bse, want, rtol=SE_RTOL)
    np.testing.assert_allclose(no_cluster.bse, want, rtol=SE_RTOL)
    assert no_cluster.n_clusters == REF[name]["nobs"]


@pytest.mark.parametrize("name", ["c12", "c32", "c60"])
def test_small_sample_factor_is_g_over_g_minus_1(name: str) -> None:
    """robust-g = R's cluster sandwich x G/(G-1), t on clusters - parameters df (an identity)."""
    res = _fit(name, cluster="cluster", cov_type="robust-g", df="clusters-parameters")
    robust = _fit(name, cluster="cluster", cov_type="robust", use_t=False)
    G, p = REF[name]["n_clusters"], len(res.params)
    np.testing.assert_allclose(
        res.cov_params(), robust.cov_params() * G / (G - 1), rtol=1e-14, atol=0
    )
    np.testing.assert_allclose(
        res.bse, pd.Series(REF[name]["efron"]["se_robust"]) * np.sqrt(G / (G - 1)), rtol=SE_RTOL
    )
    assert (res.df == G - p).all()
    assert res.df_method == f"t(clusters - parameters = {G - p})"
    t = np.abs(res.params / res.bse)
    np.testing.assert_allclose(res.pvalues, 2 * stats.t.sf(t, G - p), rtol=1e-12)
    q = stats.t.ppf(0.975, G - p)
    np.testing.assert_allclose(res.conf_int()["upper"], res.params + q * res.bse, rtol=1e-12)
    # the same estimate whatever the covariance
    np.testing.assert_allclose(res.params, robust.params, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["c12", "c32"])
def test_default_is_mancl_derouen_with_fay_graubard_df(name: str) -> None:
    d = _data(name)
    res = fit_cox(REF[name]["formula"], d, duration="time", event="event", cluster="cluster")
    md = _fit(name, cluster="cluster", cov_type="mancl-derouen", df="fay-graubard")
    G, p = REF[name]["n_clusters"], len(res.params)
    assert res.extra["cov_type"] == "mancl-derouen"
    assert res.df_method == "t(Fay-Graubard)"
    np.testing.assert_allclose(res.cov_params(), md.cov_params(), rtol=0, atol=0)
    np.testing.assert_allclose(res.df, md.df, rtol=0, atol=0)
    # unequal clusters: fewer df than clusters - parameters
    assert (res.df < G - p).all() and (res.df > 1).all()
    t = np.abs(res.params / res.bse)
    np.testing.assert_allclose(res.pvalues, 2 * stats.t.sf(t, res.df), rtol=1e-12)
    # the correction inflates the uncorrected sandwich of the arm effect
    assert res.bse["arm"] > _fit(name, cluster="cluster", cov_type="robust").bse["arm"]


@pytest.mark.parametrize("name", ["c12", "c32"])
def test_old_default_kauermann_carroll_with_t_stays_a_keyword_away(name: str) -> None:
    kc = _fit(name, cluster="cluster", cov_type="kauermann-carroll", df="clusters-parameters")
    G, p = REF[name]["n_clusters"], len(kc.params)
    assert kc.extra["cov_type"] == "kauermann-carroll"
    assert (kc.df == G - p).all()
    assert kc.df_method == f"t(clusters - parameters = {G - p})"
    assert kc.bse["arm"] > _fit(name, cluster="cluster", cov_type="robust").bse["arm"]


def test_robust_with_t_and_g_with_z_are_separate_choices() -> None:
    z = _fit("c32", cluster="cluster", use_t=False)
    assert np.isinf(z.df).all() and z.extra["cov_type"] == "mancl-derouen"
    assert z.df_method == "z"
    t = _fit("c32", cluster="cluster", cov_type="robust", df="clusters-parameters")
    assert (t.df == 32 - len(t.params)).all()
    np.testing.assert_allclose(
        _fit("c32", cluster="cluster", cov_type="robust").bse, t.bse, rtol=0, atol=0
    )


def test_model_based_variance_keeps_z_and_refuses_fay_graubard_df() -> None:
    res = _fit("c12", cluster="cluster", cov_type="model")
    assert np.isinf(res.df).all() and res.df_method == "z"
    with_t = _fit("c12", cluster="cluster", cov_type="model", use_t=True)
    assert (with_t.df == 12 - len(with_t.params)).all()


def test_sandwich_ignores_cluster_labels_and_row_order() -> None:
    d = _data("c32")
    base = fit_cox("~ arm + age", d, duration="time", event="event", cluster="cluster")
    relabelled = d.assign(cluster=d["cluster"].map(lambda c: f"z{c[::-1]}")).iloc[::-1]
    res = fit_cox("~ arm + age", relabelled, duration="time", event="event", cluster="cluster")
    np.testing.assert_allclose(res.cov_params(), base.cov_params(), rtol=1e-10)


def test_clustering_matters_with_a_shared_frailty() -> None:
    """With a cluster frailty the cluster sandwich exceeds the model-based SE of arm."""
    res = _fit("c12", cluster="cluster", cov_type="robust", use_t=False)
    assert res.bse["arm"] > 1.2 * res.extra["bse_model_based"]["arm"]


def test_too_few_clusters_for_t_is_an_error() -> None:
    d = _data("c12")
    with pytest.raises(
        ModelError, match=r"more clusters than parameters: 3 clusters, 3 parameters"
    ):
        fit_cox("~ arm + C(stratum)", d, duration="time", event="event", cluster="stratum")
    one = d.assign(site="all")
    with pytest.raises(ModelError, match="at least 2 clusters, got 1"):
        fit_cox("~ arm", one, duration="time", event="event", cluster="site", use_t=False)


def _brute_force_information_shares(
    t: np.ndarray, ev: np.ndarray, X: np.ndarray, beta: np.ndarray, ties: str
) -> np.ndarray:
    """Each subject's share of the information, by explicit loops over risk sets."""
    xc = X - X.mean(axis=0)
    e = np.exp(xc @ beta)
    out = np.zeros((len(t), X.shape[1], X.shape[1]))
    for tk in np.unique(t[ev]):
        dead = ev & (t == tk)
        at_risk = np.flatnonzero(t >= tk)
        d = int(dead.sum())
        for rank in range(d):
            c = rank / d if ties == "efron" else 0.0
            w = e[at_risk] * (1 - c * dead[at_risk])
            xbar = w @ xc[at_risk] / w.sum()
            for j, wj in zip(at_risk, w, strict=True):
                dx = xc[j] - xbar
                out[j] += wj * np.outer(dx, dx) / w.sum()
    return out


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cluster_information_shares(ties: str) -> None:
    d = _data("c32").iloc[:150]
    X = np.column_stack([d["arm"], (d["age"] - 38) / 10]).astype(float)
    t, ev = d["time"].to_numpy(float), d["event"].to_numpy(bool)
    beta = np.array([0.4, -0.2])
    rs = build_risk_sets(t, ev, X, ties)
    want = _brute_force_information_shares(t, ev, X, beta, ties)
    np.testing.assert_allclose(
        cluster_information(rs, beta, np.arange(len(t)), len(t)), want, atol=1e-12
    )
    codes = pd.factorize(d["cluster"])[0]
    shares = cluster_information(rs, beta, codes, codes.max() + 1)
    np.testing.assert_allclose(shares.sum(axis=0), evaluate(rs, beta)[2], rtol=1e-12)
    assert (np.linalg.eigvalsh(shares) > -1e-12).all()


@pytest.mark.parametrize("name", ["c12", "c32"])
def test_leverage_corrections_closed_form_with_one_covariate(name: str) -> None:
    """With p = 1 the corrections are scalars: U_g / (1 - h_g) and U_g / sqrt(1 - h_g)."""
    d = _data(name)
    kw: dict[str, Any] = {"duration": "time", "event": "event", "cluster": "cluster"}
    robust = fit_cox("~ arm", d, cov_type="robust", **kw)
    beta = robust.params.to_numpy()
    rs = build_risk_sets(
        d["time"].to_numpy(float), d["event"].to_numpy(bool), d[["arm"]].to_numpy(float), "efron"
    )
    codes = pd.factorize(d["cluster"], sort=True)[0]
    G = codes.max() + 1
    info = evaluate(rs, beta)[2][0, 0]
    u = cluster_scores(score_residuals(rs, beta), codes, G)[:, 0]
    h = cluster_information(rs, beta, codes, G)[:, 0, 0] / info
    for cov_type, power in (("mancl-derouen", 1.0), ("kauermann-carroll", 0.5)):
        res = fit_cox("~ arm", d, cov_type=cov_type, df="clusters-parameters", **kw)
        want = np.sqrt(np.sum((u / (1 - h) ** power) ** 2)) / info
        assert res.bse["arm"] == pytest.approx(want, rel=1e-10)
        assert (res.df == G - 1).all()
    md = fit_cox("~ arm", d, cov_type="mancl-derouen", **kw).bse["arm"]
    kc = fit_cox("~ arm", d, cov_type="kauermann-carroll", **kw).bse["arm"]
    assert md > kc > robust.bse["arm"]


def test_leverage_corrections_multi_parameter_run() -> None:
    res = _fit("c32", cluster="cluster", cov_type="kauermann-carroll")
    robust = _fit("c32", cluster="cluster", cov_type="robust")
    assert res.extra["cov_type"] == "kauermann-carroll"
    assert res.bse["arm"] > robust.bse["arm"]
    np.testing.assert_allclose(res.params, robust.params, rtol=0, atol=0)
