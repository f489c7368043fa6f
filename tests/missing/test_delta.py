"""MNAR sensitivity: delta adjustment by arm and the tipping point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from odtrial.errors import ModelError
from odtrial.missing import Imputations, delta_adjust, impute, tipping_point
from odtrial.models import fit_lmm

FAST = {"n_burn": 40, "n_between": 5}


def trial(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(20), 15)
    n = cl.size
    arm = (np.arange(20) % 2)[cl]
    y = 0.8 * arm + rng.normal(0, 0.3, 20)[cl] + rng.normal(size=n)
    d = pd.DataFrame(
        {
            "cluster": cl,
            "arm": np.where(arm == 1, "T", "C"),
            "y": y,
            "b": pd.array(rng.random(n) < 1 / (1 + np.exp(-y)), dtype="boolean"),
            "k": pd.array(rng.poisson(np.exp(1 + 0.2 * y)), dtype="Int64"),
            "g": rng.choice(["u", "v", "w"], n),
        }
    )
    for col in ("y", "b", "k", "g"):
        d.loc[rng.random(n) < 0.2, col] = None
    return d


@pytest.fixture(scope="module")
def imps() -> Imputations:
    return impute(trial(1), cluster="cluster", m=4, seed=2, **FAST)


def test_delta_zero_gives_the_mar_imputations_back(imps: Imputations) -> None:
    for col in ("y", "b", "k"):
        same = delta_adjust(imps, col, 0.0)
        np.testing.assert_array_equal(same.imputed[col], imps.imputed[col])


def test_continuous_shift_by_arm(imps: Imputations) -> None:
    adj = delta_adjust(imps, "y", {"T": -0.7}, by="arm")
    rows = imps.missing_rows["y"]
    treated = (imps.data["arm"].iloc[rows] == "T").to_numpy()
    diff = adj.imputed["y"] - imps.imputed["y"]
    np.testing.assert_allclose(diff[:, treated], -0.7)
    np.testing.assert_array_equal(diff[:, ~treated], 0.0)
    assert adj.settings["delta"]["y"] == {"delta": {"T": -0.7}, "by": "arm", "scale": "identity"}
    assert imps.settings["delta"] == {}  # the MAR imputations are unchanged
    d = adj.datasets[0]
    observed = imps.data["y"].notna()
    pd.testing.assert_series_equal(d.loc[observed, "y"], imps.data.loc[observed, "y"])


def test_binary_shift_on_the_logit_scale_is_monotone(imps: Imputations) -> None:
    share = [delta_adjust(imps, "b", d).imputed["b"].mean() for d in (-3.0, -1.0, 0.0, 1.0, 3.0)]
    assert share == sorted(share) and share[0] < 0.2 < 0.8 < share[-1]
    lo, hi = delta_adjust(imps, "b", -1.0).imputed["b"], delta_adjust(imps, "b", 1.0).imputed["b"]
    assert (hi >= lo).all()  # the same uniforms: a 1 never becomes 0 as delta grows
    # the expected share of ones is the mean shifted probability
    p = imps.probabilities["b"]
    q = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + 1.0)))
    assert hi.mean() == pytest.approx(q.mean(), abs=0.08)
    probit = delta_adjust(imps, "b", 1.0, scale="probit").imputed["b"]
    assert probit.mean() > hi.mean()  # one probit unit is more than one logit unit


def test_count_shift_multiplies(imps: Imputations) -> None:
    adj = delta_adjust(imps, "k", np.log(2.0))
    np.testing.assert_array_equal(adj.imputed["k"], np.rint(imps.imputed["k"] * 2))
    add = delta_adjust(imps, "k", -100.0, scale="identity")
    assert (add.imputed["k"] == 0).all()
    assert adj.datasets[0]["k"].dtype == "Int64"


@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [
        (("g", 1.0), {}, "categorical"),
        (("x", 1.0), {}, "'x' was not imputed"),
        (("y", {"T": 1.0}), {}, "needs by="),
        (("y", 1.0), {"by": "arm"}, "mapping from each level"),
        (("y", {"Z": 1.0}), {"by": "arm"}, r"levels \['Z'\] not in 'arm'"),
        (("b", 1.0), {"scale": "identity"}, "use 'logit' or 'probit'"),
    ],
)
def test_bad_adjustments(imps: Imputations, args: tuple, kw: dict, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        delta_adjust(imps, *args, **kw)


def test_tipping_point_is_where_the_interval_reaches_the_null() -> None:
    """A clear effect (0.8 with SE ~0.2) is explained away by shifting the treated
    arm's missing outcomes down: the tipping delta makes the lower bound 0."""
    imps = impute(trial(3)[["cluster", "arm", "y"]], cluster="cluster", m=6, seed=4, **FAST)
    grid = np.linspace(-4.0, 0.0, 5)
    tp = tipping_point(
        imps, fit_lmm, "y ~ arm", column="y", term="arm[T.T]", deltas=grid, by="arm", shift="T"
    )
    assert tp.table["delta"].tolist() == grid.tolist()
    assert tp.mar["significant"] and tp.mar["ci_lower"] > 0
    assert tp.table["estimate"].is_monotonic_increasing
    below = tp.tipping_points["below"]
    assert below is not None and -4.0 < below < 0.0
    assert tp.tipping_points["above"] is None and tp.tipping_point == below
    # refitting at the interpolated delta puts the lower bound near 0 (interpolation error
    # is small next to the 1-unit grid step, on which the bound moves ~0.2)
    at = delta_adjust(imps, "y", {"T": below}, by="arm").fit(fit_lmm, "y ~ arm")
    assert abs(at.conf_int().loc["arm[T.T]", "lower"]) < 0.02
    fig = tp.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert "tipping point" in " ".join(t.get_text() for t in fig.axes[0].texts)


def test_tipping_point_needs_the_levels_to_shift(imps: Imputations) -> None:
    with pytest.raises(ModelError, match="name the level"):
        tipping_point(imps, fit_lmm, "y ~ arm", column="y", term="arm[T.T]", deltas=[1.0], by="arm")
    with pytest.raises(ModelError, match="term 'arm' is not in the model"):
        tipping_point(imps, fit_lmm, "y ~ arm", column="y", term="arm", deltas=[1.0])
