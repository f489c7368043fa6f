"""Convergence of the imputation chains and the observed-vs-imputed figure."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from odtrial.missing import convergence, impute, plot_imputed, plot_trace
from odtrial.missing.diagnostics import split_rhat


def test_split_rhat_separates_mixed_from_stuck_chains() -> None:
    rng = np.random.default_rng(1)
    mixed = rng.normal(size=(4, 400))
    assert split_rhat(mixed) == pytest.approx(1.0, abs=0.02)
    stuck = mixed + np.array([0.0, 0.0, 2.5, 2.5])[:, None]
    assert split_rhat(stuck) > 1.3
    drifting = mixed + np.linspace(0, 3, 400)[None, :]  # one chain's halves disagree
    assert split_rhat(drifting[:1]) > 1.3
    assert np.isnan(split_rhat(np.ones((2, 10))))


@pytest.fixture(scope="module")
def imps():
    rng = np.random.default_rng(2)
    cl = np.repeat(np.arange(16), 12)
    n = cl.size
    y = rng.normal(0, 0.5, 16)[cl] + rng.normal(size=n)
    d = pd.DataFrame(
        {
            "cluster": cl,
            "arm": cl % 2,
            "y": y,
            "b": pd.array(rng.random(n) < 0.4, dtype="boolean"),
            "g": rng.choice(["a", "b", "c"], n),
        }
    )
    for col in ("y", "b", "g"):
        d.loc[rng.random(n) < 0.2, col] = None
    return impute(d, cluster="cluster", m=4, seed=1, n_burn=120, n_between=5)


def test_convergence_table(imps) -> None:
    conv = convergence(imps)
    assert set(conv["variable"]) == {"y", "b", "g"}
    assert set(conv.loc[conv["variable"] == "y", "statistic"]) == {
        "mean",
        "cluster_var",
        "residual_var",
    }
    assert set(conv.loc[conv["variable"] == "b", "statistic"]) == {"mean", "cluster_var"}
    assert (conv["chains"] == 4).all() and (conv["iterations"] == 60).all()
    means = conv[conv["statistic"] == "mean"]
    assert means["converged"].all() and (means["rhat"] < 1.1).all()


def test_trace_long_format(imps) -> None:
    tr = imps.trace
    assert list(tr.columns) == ["chain", "iteration", "variable", "statistic", "value"]
    y_mean = tr[(tr["variable"] == "y") & (tr["statistic"] == "mean")]
    assert len(y_mean) == 4 * 120


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_figures(imps) -> None:
    trace = plot_trace(imps)
    assert isinstance(trace, Figure) and len(trace.axes) == 3 * 3
    fig = plot_imputed(imps)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert sorted(t.split(" ")[0] for t in titles) == ["b", "g", "y"]
    assert _png(fig)[:4] == b"\x89PNG"
    one = plot_imputed(imps, ["b"])
    bars = one.axes[0].patches
    assert len(bars) == 4  # observed and imputed for each of two levels
