"""QALYs: trapezium rule, NICE stepped discounting after the first year."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from odtrial.econ import EconError, discount_factor, qalys


def test_undiscounted_area_under_the_curve() -> None:
    assert qalys([0.5, 0.7], [0.0, 1.0]) == pytest.approx(0.6)
    assert qalys([0.5, 0.7, 0.9], [0.0, 0.25, 1.0]) == pytest.approx(0.25 * 0.6 + 0.75 * 0.8)
    assert qalys([0.2, 0.8], [0.0, 2.0], discount=0) == pytest.approx(1.0)


def test_first_year_is_not_discounted() -> None:
    u = [0.3, 0.9, 0.6]
    t = [0.0, 0.5, 1.0]
    assert qalys(u, t, discount=0.035) == qalys(u, t, discount=0.0)


def test_discounting_splits_segments_at_year_boundaries() -> None:
    # utility rising from 0 to 1 over 2 years: year 0 holds 0.25, year 1 holds 0.75
    assert qalys([0.0, 1.0], [0.0, 2.0]) == pytest.approx(0.25 + 0.75 / 1.035)
    # against numerical integration of the piecewise-linear utility x stepped factor
    u = np.array([0.4, 0.7, 0.2, 0.9, 0.5])
    t = np.array([0.0, 0.8, 1.6, 2.5, 3.2])
    exact = sum(
        integrate.quad(lambda s: np.interp(s, t, u) * discount_factor(s, 0.035), a, b, limit=200)[0]
        for a, b in [(0, 1), (1, 2), (2, 3), (3, 3.2)]
    )
    assert qalys(u, t, discount=0.035) == pytest.approx(exact, rel=1e-10)


def test_discount_factor() -> None:
    np.testing.assert_allclose(
        discount_factor([0, 0.99, 1.0, 2.5], 0.035), [1, 1, 1 / 1.035, 1 / 1.035**2]
    )


def test_many_people_shared_or_own_times_and_missing() -> None:
    u = np.array([[0.5, 0.7], [0.2, np.nan], [1.0, 1.0]])
    got = qalys(u, [0.0, 1.0])
    assert got[0] == pytest.approx(0.6) and np.isnan(got[1]) and got[2] == pytest.approx(1.0)
    own = np.array([[0.0, 1.0], [0.0, 0.5], [0.0, 2.0]])
    got = qalys(np.array([[0.5, 0.7], [0.2, 0.4], [1.0, 1.0]]), own)
    np.testing.assert_allclose(got, [0.6, 0.15, 1 + 1 / 1.035])


@pytest.mark.parametrize(
    ("u", "t", "kw", "pattern"),
    [
        ([0.5, 0.6], [0.0, 1.0, 2.0], {}, "3 visit times but 2 utilities"),
        ([0.5, 0.6], [1.0, 0.0], {}, "increasing order"),
        ([0.5, 0.6], [-1.0, 0.0], {}, "not negative"),
        ([0.5], [0.0], {}, "two or more visits"),
        ([0.5, 0.6], [0.0, 1.0], {"discount": -0.1}, "non-negative"),
    ],
)
def test_bad_input(u: list, t: list, kw: dict, pattern: str) -> None:
    with pytest.raises(EconError, match=pattern):
        qalys(u, t, **kw)
