"""Every cluster-robust Cox covariance against R, computed there by hand.

``tests/reference/cox/small_sample/make_reference.R`` fits ``coxph(cluster=)``
and builds each corrected sandwich (robust, robust-G, Mancl–DeRouen,
Kauermann–Carroll, Fay–Graubard and Fay–Graubard's df) from R's score
residuals and information shares it computes itself by loops over risk sets,
from the published definitions; nothing there calls odtrial. Five data sets
(unequal cluster sizes, tied whole-day times, 2 to 10 covariates, 12 to 32
clusters), each with Efron and Breslow ties.

Tolerances. R stops Newton–Raphson at a relative log-likelihood change of
1e-11 and odtrial at a step of 1e-10 relative; the estimates agree to 1e-12
(relative). Each covariance is a smooth function of the estimate (through the
score residuals and information shares), amplified at most by
``1 / (1 - leverage)`` (largest leverage here 0.59, so by less than 2.5), and
R's eigen-decomposition of the non-symmetric ``I - Omega_g A^-1`` and
odtrial's of a symmetric similar matrix agree to rounding. The largest
differences seen were 1.5e-13 (covariances) and 1.7e-13 (df). We assert
1e-10: three orders of magnitude of room for another BLAS or platform, and
still seven below what any error of definition would change (a wrong power, a
transposed leverage, a missing Efron weight each move the results by 1e-3 or
more). Entries of a covariance matrix are compared relative to the product of
the two standard errors, so an entry near zero is not held to a relative
tolerance it cannot meet.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from odtrial.models.cox import fit_cox
from odtrial.models.cox.covariance import cluster_scores
from odtrial.models.cox.partial import build_risk_sets, cluster_information, score_residuals
from odtrial.models.design import build_design

REF_DIR = Path(__file__).resolve().parents[2] / "reference" / "cox" / "small_sample"
REF: dict[str, Any] = json.loads((REF_DIR / "reference.json").read_text())
CASES = ("r12", "r24", "r32", "c12", "c32")
TIES = ("efron", "breslow")
RTOL = 1e-10  # see the module docstring
COV_TYPES = {
    "robust": "var_robust",
    "robust-g": "var_robust_g",
    "mancl-derouen": "var_mancl_derouen",
    "kauermann-carroll": "var_kauermann_carroll",
    "fay-graubard": "var_fay_graubard",
    "model": "var_model",
}


@cache
def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / REF[name]["file"])


def _fit(name: str, ties: str, cov_type: str, **kw: Any) -> Any:
    return fit_cox(
        REF[name]["formula"], _data(name), duration="time", event="event", cluster="cluster",
        ties=ties, cov_type=cov_type, **kw,
    )  # fmt: skip


def _assert_cov_close(got: np.ndarray, want: np.ndarray) -> None:
    scale = np.sqrt(np.outer(np.diag(want), np.diag(want)))
    np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=RTOL)


def test_reference_covers_what_the_brief_asks() -> None:
    """Unequal cluster sizes, ties, two tie methods, at least two covariates, 12 to 32 clusters."""
    for name in CASES:
        d = _data(name)
        sizes = d.groupby("cluster").size()
        assert sizes.max() > 2 * sizes.min()
        assert d.loc[d["event"] == 1, "time"].duplicated().any()  # tied event times
        assert len(REF[name]["efron"]["names"]) >= 2
        assert set(TIES) <= set(REF[name])
    assert {REF[n]["n_clusters"] for n in CASES} == {12, 24, 32}


@pytest.mark.parametrize("ties", TIES)
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("cov_type", list(COV_TYPES))
def test_covariance_matches_r_by_hand(name: str, ties: str, cov_type: str) -> None:
    ref = REF[name][ties]
    res = _fit(name, ties, cov_type)
    assert list(res.params.index) == ref["names"]
    np.testing.assert_allclose(res.params, pd.Series(ref["coef"]), rtol=RTOL)
    _assert_cov_close(res.cov_params().to_numpy(), np.array(ref[COV_TYPES[cov_type]]))


@pytest.mark.parametrize("ties", TIES)
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("cov_type", [c for c in COV_TYPES if c != "model"])
def test_fay_graubard_df_matches_r(name: str, ties: str, cov_type: str) -> None:
    """odtrial's G x G reduction against R's stacked Gp x Gp matrices, for each correction."""
    res = _fit(name, ties, cov_type, df="fay-graubard")
    want = pd.Series(REF[name][ties]["fg_df"][COV_TYPES[cov_type].removeprefix("var_")])
    np.testing.assert_allclose(res.df, want, rtol=RTOL)
    assert res.df_method == "t(Fay-Graubard)"
    assert ((res.df > 1) & (res.df < REF[name]["n_clusters"])).all()
    # the covariance is the one cov_type asks for, whatever the df
    _assert_cov_close(res.cov_params().to_numpy(), np.array(REF[name][ties][COV_TYPES[cov_type]]))


@pytest.mark.parametrize("ties", TIES)
@pytest.mark.parametrize("name", ["r12", "r24", "c32"])
def test_cluster_scores_and_information_shares_match_r(name: str, ties: str) -> None:
    """The two per-cluster pieces every correction is built from."""
    ref = REF[name][ties]
    d = _data(name)
    rhs = REF[name]["formula"].split("~", 1)[1]
    design = build_design(f"time ~ 1 + {rhs}", d, cluster="cluster", extra=("event",))
    keep = [j for j, n in enumerate(design.names) if n != "Intercept"]
    X = np.asarray(design.X[:, keep])
    rs = build_risk_sets(d["time"].to_numpy(float), d["event"].to_numpy(bool), X, ties)
    beta = np.array(list(ref["coef"].values()))
    G = design.n_clusters
    assert list(design.cluster_labels) == ref["clusters"]  # both sorted
    u = cluster_scores(score_residuals(rs, beta), design.cluster, G)
    omega = cluster_information(rs, beta, design.cluster, G)
    want_u = np.array(ref["cluster_scores"])
    want_omega = np.array(ref["cluster_information"])
    np.testing.assert_allclose(u, want_u, rtol=0, atol=RTOL * np.abs(want_u).max())
    np.testing.assert_allclose(omega, want_omega, rtol=0, atol=RTOL * np.abs(want_omega).max())
