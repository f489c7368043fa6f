"""Leverage-corrected cluster scores, shared by the GEE and Cox sandwich estimators.

For cluster scores ``U_g``, their information shares ``Ω_g`` (positive
semi-definite, summing to the information ``B``), the corrected score is
``(I − Ω_g B⁻¹)^(−a) U_g``: ``a = 1`` is Mancl–DeRouen's bias correction,
``a = 1/2`` Kauermann–Carroll's. With ``P_g = B^(−1/2) Ω_g B^(−1/2)``
(symmetric, eigenvalues in [0, 1)), ``(I − Ω_g B⁻¹)^(−a) = B^(1/2) (I − P_g)^(−a)
B^(−1/2)``, computed from the eigen-decomposition of each ``P_g``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from odtrial.errors import ModelError

LEVERAGE_MAX = 1.0 - 1e-10  # a cluster at leverage 1 alone determines a term


def sym_power(mat: np.ndarray, power: float, *, what: str) -> np.ndarray:
    """``mat**power`` of a symmetric positive-definite matrix; ``what`` names it in the error."""
    vals, vecs = np.linalg.eigh(mat)
    if vals.min() <= 0:
        raise ModelError(f"{what} is not positive definite: a term is not identified by the data")
    return np.asarray((vecs * vals**power) @ vecs.T)


def leverage_corrected_scores(
    scores: np.ndarray,
    cluster_info: np.ndarray,
    information: np.ndarray,
    power: float,
    *,
    labels: Any = None,
    what: str,
    remedy: str,
) -> np.ndarray:
    """``(I − Ω_g B⁻¹)^(−power) U_g`` for every cluster ``g``.

    Parameters
    ----------
    scores : ndarray, shape (G, p)
    cluster_info : ndarray, shape (G, p, p)
    information : ndarray, shape (p, p)
    power : float
        1 (Mancl–DeRouen) or 0.5 (Kauermann–Carroll).
    labels : sequence, optional
        Cluster labels for the error message.
    what, remedy : str
        The information matrix's name and what to do instead, for the errors.
    """
    b_half = sym_power(information, 0.5, what=what)
    b_mhalf = sym_power(information, -0.5, what=what)
    P = b_mhalf @ cluster_info @ b_mhalf  # (G, p, p), symmetric
    lam, W = np.linalg.eigh(P)
    worst = int(np.argmax(lam.max(axis=1)))
    if lam[worst].max() >= LEVERAGE_MAX:
        name = str(labels[worst]) if labels is not None else worst
        raise ModelError(
            f"cluster {name!r} has leverage 1 (it alone determines a term): "
            f"the correction is undefined; {remedy}"
        )
    lam = np.clip(lam, 0.0, None)  # rounding can give -1e-17 on a zero eigenvalue
    u_tilde = scores @ b_mhalf
    coef = np.einsum("gkj,gk->gj", W, u_tilde) * (1.0 - lam) ** (-power)
    return np.asarray(np.einsum("gkj,gj->gk", W, coef) @ b_half)
