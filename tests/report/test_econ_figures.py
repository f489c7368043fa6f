"""The CE plane's confidence ellipse (from results.json's variances) and the figures'
axes: its reach along each axis is the known t/F-based half-width."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from odtrial.report.econ_figures import confidence_ellipse, draw_ce_plane, draw_ceac

RES = {
    "incremental_effect": -0.05,
    "incremental_cost": -4000.0,
    "se_effect": 0.03,
    "se_cost": 3000.0,
    "cov_cost_effect": 20.0,
    "df": 30.0,
    "level": 0.95,
    "inmb": [{"wtp": 20000.0}, {"wtp": 30000.0}],
    "ceac": [{"wtp": w, "probability": 0.9 - w / 1e5} for w in (0.0, 20000.0, 30000.0, 60000.0)],
    "plane_quadrants": {"less_costly_less_effective": 0.9, "less_costly_more_effective": 0.1},
}


def test_ellipse_reaches_the_f_based_half_width_along_each_axis() -> None:
    x, y = confidence_ellipse(RES, n=20_000)
    r = math.sqrt(2 * stats.f.ppf(0.95, 2, 30.0))
    # the projection of the region {(z-m)' S^-1 (z-m) <= r^2} on an axis is m ± r * se
    assert np.isclose(x.max(), -0.05 + r * 0.03, rtol=1e-4)
    assert np.isclose(x.min(), -0.05 - r * 0.03, rtol=1e-4)
    assert np.isclose(y.max(), -4000 + r * 3000, rtol=1e-4)
    # without finite df (the bootstrap): chi-squared on 2 df
    x2, _ = confidence_ellipse({**RES, "df": None}, n=20_000)
    assert np.isclose(x2.max(), -0.05 + math.sqrt(stats.chi2.ppf(0.95, 2)) * 0.03, rtol=1e-4)


def test_figures_label_axes_with_the_displayed_arms_and_pounds() -> None:
    plane = draw_ce_plane(RES, arm_labels=("Arm A", "Arm B"))
    ax = plane.axes[0]
    assert ax.get_xlabel() == "Incremental QALYs (Arm A minus Arm B)"
    assert ax.get_ylabel() == "Incremental cost, £ (Arm A minus Arm B)"
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "90.0% of draws" in texts and "10.0% of draws" in texts
    labels = [t.get_text() for t in plane.legends[0].get_texts()]
    assert "£20,000 per QALY" in labels and "£30,000 per QALY" in labels
    ceac = draw_ceac(RES, [{**RES, "label": "Bootstrap"}], arm_labels=("Arm A", "Arm B"))
    cax = ceac.axes[0]
    assert cax.get_ylabel() == "Probability Arm A is cost-effective"
    assert [t.get_text() for t in cax.texts] == ["0.70", "0.60"]
    assert [t.get_text() for t in cax.get_legend().get_texts()] == ["Bootstrap", "Base case"]
