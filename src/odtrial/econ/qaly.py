"""Quality-adjusted life years: the area under the utility curve, discounted.

Utility is taken to change linearly between visits (the trapezium rule).
Discounting follows the NICE reference case: nothing in the first year, then
a constant annual rate (3.5%), applied year by year: what accrues in year
``k`` (times in ``[k, k+1)`` years, ``k = 0, 1, ...``) is divided by
``(1 + rate) ** k``. Segments that straddle a year boundary are split there,
so the result is the exact integral of the piecewise-linear utility times the
stepped discount factor.

The QALYs here are not adjusted for baseline utility: that adjustment belongs
in the regression of the cost-effectiveness analysis (baseline utility as a
covariate, Manca et al. 2005), not in the outcome.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from odtrial.econ._errors import EconError


def discount_factor(times: Any, rate: float = 0.035) -> np.ndarray:
    """The NICE stepped discount factor ``(1 + rate) ** -floor(t)`` for times in years."""
    t = np.asarray(times, dtype=float)
    return np.asarray((1.0 + rate) ** -np.floor(np.maximum(t, 0.0)), dtype=float)


def qalys(utilities: Any, times: Any, discount: float = 0.035) -> np.ndarray | float:
    """QALYs by area under the curve between visits, discounted after the first year.

    Parameters
    ----------
    utilities
        Utilities at the visits: a 1-D array (one person, one value per visit)
        or 2-D ``(people, visits)``.
    times
        Visit times in years from randomisation, increasing: 1-D (the same
        schedule for everyone) or the shape of ``utilities`` (each person's
        own visit times).
    discount
        Annual discount rate applied after the first year (0 for none).

    Returns
    -------
    float or numpy.ndarray
        QALYs over ``[times[0], times[-1]]``: a float for 1-D input, else one
        per person. A person with any missing utility or time gets ``NaN``
        (impute before, not by interpolation here).

    Examples
    --------
    >>> qalys([0.5, 0.7], [0.0, 1.0])
    0.6
    >>> round(qalys([1.0, 1.0], [0.0, 2.0]), 6)  # 1 + 1/1.035
    1.966184
    """
    u = np.asarray(utilities, dtype=float)
    one = u.ndim == 1
    u2 = np.atleast_2d(u)
    t = np.asarray(times, dtype=float)
    if u.ndim not in (1, 2):
        raise EconError(f"utilities must be 1-D or 2-D (people x visits), got {u.ndim}-D")
    if t.ndim == 1:
        if t.shape[0] != u2.shape[1]:
            raise EconError(f"{t.shape[0]} visit times but {u2.shape[1]} utilities per person")
        t2 = np.broadcast_to(t, u2.shape)
    elif t.shape == u.shape:
        t2 = np.atleast_2d(t)
    else:
        raise EconError(f"times have shape {t.shape}; expected ({u2.shape[1]},) or {u.shape}")
    if u2.shape[1] < 2:
        raise EconError("QALYs need utilities at two or more visits")
    if not np.isfinite(discount) or discount < 0:
        raise EconError(f"discount rate must be a non-negative number, got {discount}")
    dt = np.diff(t2, axis=1)
    if np.any(dt[np.isfinite(dt)] < 0):
        raise EconError("visit times must be in increasing order")
    if np.any(t2[np.isfinite(t2)] < 0):
        raise EconError("visit times must be years from randomisation (not negative)")
    out = np.zeros(u2.shape[0])
    for j in range(u2.shape[1] - 1):
        out += _segment(t2[:, j], t2[:, j + 1], u2[:, j], u2[:, j + 1], discount)
    return float(out[0]) if one else out


def _segment(
    t0: np.ndarray, t1: np.ndarray, u0: np.ndarray, u1: np.ndarray, rate: float
) -> np.ndarray:
    """Discounted area under the straight line from ``(t0, u0)`` to ``(t1, u1)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(t1 > t0, (u1 - u0) / (t1 - t0), 0.0)
    total = np.zeros_like(t0)
    bad = ~(np.isfinite(t0) & np.isfinite(t1) & np.isfinite(u0) & np.isfinite(u1))
    safe_t0 = np.where(bad, 0.0, t0)
    safe_t1 = np.where(bad, 0.0, t1)
    first = int(np.floor(safe_t0.min())) if safe_t0.size else 0
    last = int(np.floor(safe_t1.max())) if safe_t1.size else 0
    for k in range(first, last + 1):  # pieces of the segment within year k
        a = np.clip(safe_t0, k, k + 1)
        b = np.clip(safe_t1, k, k + 1)
        ua = u0 + slope * (a - safe_t0)
        ub = u0 + slope * (b - safe_t0)
        total += (b - a) * (ua + ub) / 2.0 / (1.0 + rate) ** k
    total[bad] = np.nan
    return total
