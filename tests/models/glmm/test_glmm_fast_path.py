"""The fast 0/1 path of the quadrature and the staged optimiser give the same
numbers as the direct formulas and a plain Newton fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odtrial.models.design import build_design
from odtrial.models.glmm import families as fam
from odtrial.models.glmm import fit_glmm
from odtrial.models.glmm import quadrature as qd
from odtrial.models.glmm.model import STRICT_RULES, _glm_start, _newton

FORMULA = "y ~ arm + x + base"


def _problems(d: pd.DataFrame, nagq: int) -> tuple[qd.Problem, qd.Problem]:
    """The same binary data as a 0/1 response (fast path) and as successes out of
    one trial each (the family's direct formulas)."""
    des = build_design(FORMULA, d, cluster="cluster")
    order = np.argsort(des.cluster, kind="stable")
    cl = des.cluster[order]
    y = des.y[order]
    args = (
        np.ascontiguousarray(des.X[order]),
        np.zeros(len(cl)),
        cl,
        np.flatnonzero(np.r_[True, cl[1:] != cl[:-1]]),
        nagq,
    )
    fast = qd.Problem(fam.make_response("binomial", y, None), *args)
    direct = qd.Problem(fam.make_response("binomial", y, np.ones_like(y)), *args)
    assert fast.resp.binary and not direct.resp.binary
    return fast, direct


# σ up to 3 and |β| up to ~4 (fitted probabilities near 0 and 1), and an absurd
# intercept where the fast path must hand over to the direct formulas (|η| > 690).
PHIS = [
    (-0.5, 0.6, 0.3, -0.3, 0.9),
    (0.3, -0.2, 0.1, 0.4, -1.3),
    (-4.0, 2.5, 1.5, -2.0, 3.0),
    (2.0, 0.0, 0.0, 0.0, 0.05),
    (800.0, 0.0, 0.0, 0.0, 0.5),
]


@pytest.mark.parametrize("nagq", [1, 7, 25])
@pytest.mark.parametrize("phi", PHIS)
def test_fast_binary_path_equals_direct_formulas(load, nagq, phi):
    fast, direct = _problems(load("bin_24"), nagq)
    phi = np.array(phi)
    u0 = np.zeros(fast.n_clusters)
    a = qd.evaluate(fast, phi, u0, 2)
    b = qd.evaluate(direct, phi, u0, 2)
    assert a.grad is not None and b.grad is not None and a.hess is not None and b.hess is not None
    # both are exact formulas: they differ by rounding only (~1e-13 on llf ~ -500)
    assert a.llf == pytest.approx(b.llf, abs=1e-9)
    np.testing.assert_allclose(a.u, b.u, atol=1e-10)
    scale = max(1.0, float(np.abs(b.grad).max()))
    np.testing.assert_allclose(a.grad, b.grad, atol=1e-9 * scale)
    np.testing.assert_allclose(a.hess, b.hess, atol=1e-9 * np.abs(b.hess).max())
    g1 = qd.evaluate(fast, phi, u0, 1).grad
    assert g1 is not None
    np.testing.assert_allclose(g1, a.grad, atol=1e-9 * scale)


def test_log_sums_by_chunked_products():
    rng = np.random.default_rng(4)
    sizes = np.array([1, 7, 300, 129, 128, 2])
    cl = np.repeat(np.arange(len(sizes)), sizes)
    n = len(cl)
    resp = fam.make_response("binomial", rng.integers(0, 2, n).astype(float), None)
    prob = qd.Problem(resp, np.ones((n, 1)), np.zeros(n), cl, np.r_[0, np.cumsum(sizes)[:-1]], 5)
    for scale in (1.0, 8.0, 60.0, 600.0):  # up to a single product per row
        W = 1.0 + np.exp(rng.uniform(-scale, scale, (n, 5)))
        logmax = float(np.log(W).max())
        want = np.add.reduceat(np.log(W), prob.starts, axis=0)
        got = qd._csum_log(prob, W, logmax)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-12)


def test_flip_sigma_is_the_evaluation_at_minus_sigma(load):
    from odtrial.models.glmm.model import _flip_sigma

    fast, _ = _problems(load("bin_12"), 25)
    phi = np.array([-0.5, 0.6, 0.3, -0.3, -0.8])
    ev = qd.evaluate(fast, phi, np.zeros(12), 2)
    flipped = _flip_sigma(ev, 4)
    neg = phi.copy()
    neg[4] = 0.8
    direct = qd.evaluate(fast, neg, -ev.u, 2)
    assert flipped.grad is not None and flipped.hess is not None
    assert direct.grad is not None and direct.hess is not None
    assert flipped.llf == pytest.approx(direct.llf, abs=1e-10)
    np.testing.assert_allclose(flipped.u, direct.u, atol=1e-10)
    np.testing.assert_allclose(flipped.grad, direct.grad, atol=1e-9)
    np.testing.assert_allclose(flipped.hess, direct.hess, atol=1e-9 * np.abs(direct.hess).max())


def test_quick_mode_stop_is_within_tolerance(load):
    """Modes stopped on the quadratic error bound agree with modes iterated until
    the step itself is below the tolerance (the public find_modes)."""
    fast, _ = _problems(load("bin_60"), 25)
    phi = np.array([-0.3, 0.5, 0.3, -0.4, 1.2])
    eta0 = fast.X @ phi[:4]
    lay = qd._layout(fast)
    strict, ok = qd.find_modes(fast, eta0, 1.2, np.inf, np.zeros(fast.n_clusters))
    for start in (np.zeros(fast.n_clusters), strict + 1e-4, strict - 3e-3):
        m = qd._binary_modes(fast, lay, eta0, 1.2, start, third=True)
        assert m is not None and ok and m.ok
        np.testing.assert_allclose(m.u, strict, atol=1e-11 * (1 + np.abs(strict).max()))


@pytest.mark.parametrize("name", ["bin_24", "bin_60", "bin_rare"])
def test_staged_fit_equals_plain_newton_on_all_nodes(load, name):
    """The warm-up on 7 nodes and the first full step with the warm-up's Hessian
    change the path only: plain Newton on the 25-node likelihood from the same
    start reaches the same optimum and the same (analytic) Hessian there."""
    d = load(name)
    res = fit_glmm(FORMULA, d, cluster="cluster", method="ML")
    fast, _ = _problems(d, 25)
    free = np.ones(5, dtype=bool)
    phi, ev, _, converged, rule = _newton(fast, np.r_[_glm_start(fast, np.inf), 0.5], 100, free)
    assert converged and res.converged
    assert rule in STRICT_RULES and res.extra["stopping_rule"] in STRICT_RULES
    # both stop at a Newton decrement < 1e-14: within ~1e-7 of the optimum
    np.testing.assert_allclose(res.params.to_numpy(), phi[:4], atol=1e-7)
    assert np.sqrt(res.cluster_var) == pytest.approx(abs(phi[4]), abs=1e-7)
    assert res.llf == pytest.approx(ev.llf, abs=1e-9)
    assert ev.hess is not None
    cov = np.linalg.inv(-ev.hess)[:4, :4]
    # Hessians ~1e-8 apart in φ: seen ≤ 3e-8 relative on these data
    np.testing.assert_allclose(res.cov_params().to_numpy(), cov, rtol=1e-6)


def test_cluster_sums_of_column_products():
    """Per-cluster Σ [x, 1] ⊗ buf by one product per cluster equals the brute-force sum."""
    rng = np.random.default_rng(9)
    sizes = np.array([3, 1, 40, 17, 8])
    cl = np.repeat(np.arange(len(sizes)), sizes)
    n = len(cl)
    X = np.c_[np.ones(n), rng.integers(0, 2, len(sizes))[cl], rng.normal(size=(n, 3))]
    resp = fam.make_response("binomial", rng.integers(0, 2, n).astype(float), None)
    prob = qd.Problem(resp, X, np.zeros(n), cl, np.r_[0, np.cumsum(sizes)[:-1]], 7)
    buf = rng.normal(size=(2, n, 7))
    X1 = np.c_[X, np.ones(n)]
    want = np.stack(
        [np.einsum("ic,mik->mck", X1[cl == j], buf[:, cl == j]) for j in range(len(sizes))]
    )
    got = qd._cluster_xt(qd._layout(prob), buf)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
