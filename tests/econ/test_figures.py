"""CE plane and CEAC figures draw what the result holds."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from odtrial.econ import cea, plot_ce_plane, plot_ceac

REF = Path(__file__).resolve().parents[1] / "reference" / "econ"


def test_figures(tmp_path: Path) -> None:
    data = pd.read_csv(REF / "cea_16_skew.csv")
    res = cea(data, cost="cost", effect="qaly", treat="treat", cluster="cluster", n_boot=800)
    fig = plot_ce_plane(res, max_points=500)
    ax = fig.axes[0]
    points = ax.collections[0].get_offsets()
    assert len(points) == 500
    est = ax.collections[1].get_offsets()[0]
    np.testing.assert_allclose(est, [res.incremental_effect, res.incremental_cost])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "£20,000 per QALY" in labels and "£30,000 per QALY" in labels
    fig.savefig(tmp_path / "plane.png")
    plt.close(fig)
    fig = plot_ceac(res)
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), res.ceac["wtp"])
    np.testing.assert_allclose(line.get_ydata(), res.ceac["probability"])
    assert fig.axes[0].get_ylim() == (0.0, 1.0)
    fig.savefig(tmp_path / "ceac.png")
    plt.close(fig)
    assert (tmp_path / "plane.png").stat().st_size > 0 and (
        tmp_path / "ceac.png"
    ).stat().st_size > 0
