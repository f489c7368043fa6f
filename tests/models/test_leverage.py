"""The shared leverage correction against its definition by explicit matrix powers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from odtrial.errors import ModelError
from odtrial.models.leverage import leverage_corrected_scores


def _shares(rng: np.random.Generator, G: int, p: int) -> np.ndarray:
    parts = [a.T @ a for a in rng.normal(size=(G, 3, p))]
    return np.stack(parts)


@pytest.mark.parametrize("power", [1.0, 0.5])
def test_equals_the_matrix_power_of_the_definition(power: float) -> None:
    rng = np.random.default_rng(3)
    omega = _shares(rng, 12, 3)
    B = omega.sum(axis=0)
    U = rng.normal(size=(12, 3))
    got = leverage_corrected_scores(U, omega, B, power, what="B", remedy="r")
    for g in range(12):
        m = np.eye(3) - omega[g] @ np.linalg.inv(B)
        want = np.real(linalg.fractional_matrix_power(m, -power)) @ U[g]
        np.testing.assert_allclose(got[g], want, rtol=1e-10, atol=1e-12)


def test_a_cluster_that_alone_identifies_a_term_is_named() -> None:
    omega = np.zeros((3, 2, 2))
    omega[:, 0, 0] = 1.0
    omega[0, 1, 1] = 1.0  # only cluster "a" informs the second term
    with pytest.raises(ModelError, match=r"cluster 'a' has leverage 1 .* use X"):
        leverage_corrected_scores(
            np.ones((3, 2)), omega, omega.sum(axis=0), 1.0,
            labels=np.array(["a", "b", "c"]), what="B", remedy="use X",
        )  # fmt: skip
