"""The Cox partial likelihood, its derivatives and score residuals, vectorised.

Rows are sorted by time once. With ``e_j = exp(x_j' beta)`` the risk-set sums
``S0(t) = sum_{t_j >= t} e_j`` and ``S1(t) = sum_{t_j >= t} e_j x_j`` are
reverse cumulative sums read at the first row of each tied block, so one
evaluation costs a few passes over the rows whatever the number of events.

Ties. At an event time with ``d`` deaths whose sums are ``A0``, ``A1``, the
Efron approximation uses ``d`` denominators ``S0 - c_l A0`` with
``c_l = l / d`` (``l = 0 .. d - 1``); Breslow is ``c_l = 0``. Every event
row is given one of these "expanded" denominators, so both methods are the
same arrays with a different ``c``:

    loglik = sum_deaths eta - sum_r log(den_r)
    score  = sum_deaths x   - sum_r xbar_r,          xbar_r = (S1 - c_r A1) / den_r
    info   = sum_r [ (S2 - c_r A2) / den_r - xbar_r xbar_r' ].

Rows before the first event time are in no risk set and are never summed.
The ``S2`` part never forms p x p matrices per time: summing over event times
first, ``sum_k w_k S2(t_k) = X' diag(e_j W_j) X`` where ``W_j`` is the
cumulative sum of ``w_k = sum_{r in k} 1 / den_r`` up to ``t_j``.

Score residuals (per subject, summing to the score) follow the same
decomposition as R's survival package for the cluster-robust variance: a
subject dying at ``t_k`` contributes ``x_j - mean_r xbar_r``, and every
subject at risk contributes ``-e_j sum_r (1 - c_r [j died at t_k]) (x_j -
xbar_r) / den_r`` at each earlier or equal event time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RiskSets:
    """Data sorted by time and the bookkeeping of event times, built once per fit.

    Attributes
    ----------
    X : ndarray, shape (n, p)
        Covariates in time order, centred by their means (the partial
        likelihood is unchanged by centring; it avoids cancellation in the
        information).
    event : ndarray, shape (n,)
        1.0 for an event, 0.0 for censoring, in time order.
    order : ndarray, shape (n,)
        ``sorted_rows = original_rows[order]``.
    first : ndarray, shape (K,)
        For each distinct event time, the first sorted row with that time
        (the risk set is that row and all after it).
    n_deaths : ndarray, shape (K,)
        Number of events at each event time.
    death_rows : ndarray, shape (D,)
        Sorted-row indices of the events, in time order.
    death_k : ndarray, shape (D,)
        Event-time index of each event (and of each expanded denominator).
    c : ndarray, shape (D,)
        Efron fractions ``l / d_k`` (all zero for Breslow).
    k_of_row : ndarray, shape (n,)
        Index of the last event time ``<= t_j``; -1 if there is none.
    """

    X: np.ndarray
    event: np.ndarray
    order: np.ndarray
    first: np.ndarray
    n_deaths: np.ndarray
    death_rows: np.ndarray
    death_k: np.ndarray
    c: np.ndarray
    k_of_row: np.ndarray

    @property
    def n_event_times(self) -> int:
        return len(self.first)


def build_risk_sets(time: np.ndarray, event: np.ndarray, X: np.ndarray, ties: str) -> RiskSets:
    """Sort the data by time and index its event times.

    Parameters
    ----------
    time : ndarray, shape (n,)
        Non-negative durations.
    event : ndarray of bool, shape (n,)
        True for an event, False for censoring.
    X : ndarray, shape (n, p)
        Covariates (no intercept).
    ties : {"efron", "breslow"}
        Handling of tied event times.

    Returns
    -------
    RiskSets
    """
    order = np.argsort(time, kind="stable")
    t = time[order]
    d = event[order]
    Xs = X[order] - X.mean(axis=0)
    death_rows = np.flatnonzero(d)
    event_times, n_deaths = np.unique(t[death_rows], return_counts=True)
    first = np.searchsorted(t, event_times, side="left")
    death_k = np.repeat(np.arange(len(event_times)), n_deaths)
    if ties == "efron":
        starts = np.concatenate(([0], np.cumsum(n_deaths)[:-1]))
        rank_in_tie = np.arange(len(death_rows)) - np.repeat(starts, n_deaths)
        c = rank_in_tie / n_deaths[death_k]
    else:
        c = np.zeros(len(death_rows))
    k_of_row = np.searchsorted(event_times, t, side="right") - 1
    return RiskSets(
        X=np.asfortranarray(Xs),
        event=d.astype(float),
        order=order,
        first=first,
        n_deaths=n_deaths,
        death_rows=death_rows,
        death_k=death_k,
        c=c,
        k_of_row=k_of_row,
    )


@dataclass(frozen=True)
class _Pieces:
    """Per-evaluation quantities shared by the likelihood and the residuals.

    Nothing here has one row per event and p columns: every sum over the
    expanded denominators ``r`` of an event time is written with the
    scalar sums ``w_a = sum_r c_r^a / den_r`` and ``v_a = sum_r c_r^a / den_r^2``,
    e.g. ``sum_r xbar_r = S1 w_0 - A1 w_1``.
    """

    eta: np.ndarray  # shifted linear predictor (n,)
    e: np.ndarray  # exp(eta) (n,)
    den: np.ndarray  # expanded denominators (D,)
    s1: np.ndarray  # risk-set sums of e x at each event time (K, p)
    a1: np.ndarray  # sums of e x over the events at each event time (K, p)
    w1: np.ndarray  # sum_r 1/den_r (K,)
    w2: np.ndarray  # sum_r c_r/den_r (K,)
    v0: np.ndarray  # sum_r 1/den_r^2 (K,)
    v1: np.ndarray  # sum_r c_r/den_r^2 (K,)
    v2: np.ndarray  # sum_r c_r^2/den_r^2 (K,)

    def xbar_sum(self) -> np.ndarray:
        """``sum_r xbar_r`` per event time, shape (K, p)."""
        return np.asarray(self.s1 * self.w1[:, None] - self.a1 * self.w2[:, None])


def _pieces(rs: RiskSets, beta: np.ndarray) -> _Pieces:
    X = rs.X
    eta = X @ beta
    eta = eta - eta.max()  # the partial likelihood is invariant to a common shift
    e = np.exp(eta)
    ex = X * e[:, None]  # X is Fortran-ordered: column-wise passes are contiguous
    # rows first[k] .. first[k+1] - 1 summed, then reverse-cumulated: the risk-set sums.
    # The events among those rows all happen at t_k, so the same blocks give A0, A1.
    s0 = np.cumsum(np.add.reduceat(e, rs.first)[::-1])[::-1]
    s1 = np.cumsum(np.add.reduceat(ex, rs.first, axis=0)[::-1], axis=0)[::-1]
    a0 = np.add.reduceat(e * rs.event, rs.first)
    a1 = np.add.reduceat(ex * rs.event[:, None], rs.first, axis=0)
    k, c = rs.death_k, rs.c
    den = s0[k] - c * a0[k]
    K = rs.n_event_times
    inv = 1.0 / den
    inv2 = inv * inv

    def by_k(w: np.ndarray) -> np.ndarray:
        return np.bincount(k, weights=w, minlength=K)

    return _Pieces(
        eta=eta,
        e=e,
        den=den,
        s1=np.ascontiguousarray(s1),
        a1=a1,
        w1=by_k(inv),
        w2=by_k(c * inv),
        v0=by_k(inv2),
        v1=by_k(c * inv2),
        v2=by_k(c * c * inv2),
    )


def _at_row(cum: np.ndarray, k_of_row: np.ndarray) -> np.ndarray:
    """Read a cumulative sum over event times at each row's last event time (0 before any)."""
    out = cum[np.maximum(k_of_row, 0)]
    out[k_of_row < 0] = 0.0
    return out


def loglik(rs: RiskSets, beta: np.ndarray) -> float:
    """Log partial likelihood at ``beta``."""
    pc = _pieces(rs, beta)
    return float(pc.eta[rs.death_rows].sum() - np.log(pc.den).sum())


def evaluate(rs: RiskSets, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score and observed information at ``beta``.

    Returns
    -------
    loglik : float
    score : ndarray, shape (p,)
    information : ndarray, shape (p, p)
        Minus the Hessian of the log partial likelihood.
    """
    pc = _pieces(rs, beta)
    X, dr = rs.X, rs.death_rows
    ll = float(pc.eta[dr].sum() - np.log(pc.den).sum())
    score = X[dr].sum(axis=0) - pc.xbar_sum().sum(axis=0)
    wt = pc.e * _at_row(np.cumsum(pc.w1), rs.k_of_row)
    wt[dr] -= pc.e[dr] * pc.w2[rs.death_k]
    # sum_r xbar_r xbar_r' with xbar_r = (S1 - c_r A1) / den_r, expanded in c_r
    s1, a1 = pc.s1, pc.a1
    cross = (s1 * pc.v1[:, None]).T @ a1
    outer = (s1 * pc.v0[:, None]).T @ s1 - cross - cross.T + (a1 * pc.v2[:, None]).T @ a1
    info = X.T @ (X * wt[:, None]) - outer
    return ll, score, (info + info.T) / 2


def score_residuals(rs: RiskSets, beta: np.ndarray) -> np.ndarray:
    """Per-subject score residuals at ``beta``, in the ORIGINAL row order.

    They sum to the score, so at the estimate they sum to (nearly) zero;
    ``residuals @ inv(information)`` are R's ``dfbeta`` residuals.

    Returns
    -------
    ndarray, shape (n, p)
    """
    pc = _pieces(rs, beta)
    X, dr, k = rs.X, rs.death_rows, rs.death_k
    s1, a1 = pc.s1, pc.a1
    q = s1 * pc.v0[:, None] - a1 * pc.v1[:, None]  # sum_r xbar_r / den_r
    qc = s1 * pc.v1[:, None] - a1 * pc.v2[:, None]  # sum_r c_r xbar_r / den_r
    xbar_mean = pc.xbar_sum() / rs.n_deaths[:, None]
    h_row = _at_row(np.cumsum(pc.w1), rs.k_of_row)
    q_row = _at_row(np.cumsum(q, axis=0), rs.k_of_row)
    resid = -pc.e[:, None] * (X * h_row[:, None] - q_row)
    ed = pc.e[dr][:, None]
    resid[dr] += X[dr] - xbar_mean[k] + ed * (X[dr] * pc.w2[k][:, None] - qc[k])
    out = np.empty_like(resid)
    out[rs.order] = resid
    return out


def cluster_information(
    rs: RiskSets, beta: np.ndarray, codes: np.ndarray, n_clusters: int
) -> np.ndarray:
    """Each cluster's share of the observed information at ``beta``.

    The information is a sum over subjects of
    ``Omega_j = e_j sum_r (1 - c_r [j died at t_k]) (x_j - xbar_r)(x_j - xbar_r)' / den_r``
    over the denominators ``r`` of the event times at which ``j`` is at risk
    (with the weights R's score residuals use); ``Omega_g`` sums it over the
    cluster. Each is symmetric positive semi-definite and ``sum_g Omega_g``
    is the information: the Cox analogue of GEE's ``D_i' V_i^{-1} D_i``.

    Parameters
    ----------
    rs : RiskSets
    beta : ndarray, shape (p,)
    codes : ndarray of int, shape (n,)
        Cluster codes in the ORIGINAL row order.
    n_clusters : int

    Returns
    -------
    ndarray, shape (n_clusters, p, p)
    """
    from scipy import sparse

    pc = _pieces(rs, beta)
    X, dr, k = rs.X, rs.death_rows, rs.death_k
    p = X.shape[1]
    K = rs.n_event_times
    g = codes[rs.order]
    s1, a1 = pc.s1, pc.a1
    inv3 = 1.0 / pc.den**3
    c = rs.c
    u = [np.bincount(k, weights=c**a * inv3, minlength=K) for a in range(4)]
    ss = np.einsum("ka,kb->kab", s1, s1)
    sa = np.einsum("ka,kb->kab", s1, a1)
    sa = sa + sa.transpose(0, 2, 1)
    aa = np.einsum("ka,kb->kab", a1, a1)

    def xx_sum(lo: int) -> np.ndarray:
        """sum_r c_r^lo xbar_r xbar_r' / den_r per event time, (K, p, p)."""
        w = u[lo : lo + 3]
        return np.asarray(
            ss * w[0][:, None, None] - sa * w[1][:, None, None] + aa * w[2][:, None, None]
        )

    # per-row weights of the outer product x x' and of the cross term x Q'
    h = pc.e * _at_row(np.cumsum(pc.w1), rs.k_of_row)
    h[dr] -= pc.e[dr] * pc.w2[k]
    q = s1 * pc.v0[:, None] - a1 * pc.v1[:, None]
    qc = s1 * pc.v1[:, None] - a1 * pc.v2[:, None]
    eq = pc.e[:, None] * _at_row(np.cumsum(q, axis=0), rs.k_of_row)
    eq[dr] -= pc.e[dr][:, None] * qc[k]
    out = np.empty((n_clusters, p, p))
    for a in range(p):
        for b in range(a, p):
            w = X[:, a] * X[:, b] * h - X[:, a] * eq[:, b] - eq[:, a] * X[:, b]
            out[:, a, b] = out[:, b, a] = np.bincount(g, weights=w, minlength=n_clusters)
    # sum_j e_j R(t_j): cluster x event-time weights (sparse) times the cumulated xbar xbar'
    at = rs.k_of_row >= 0
    e_gk = sparse.csr_matrix((pc.e[at], (g[at], rs.k_of_row[at])), shape=(n_clusters, K))
    d_gk = sparse.csr_matrix((pc.e[dr], (g[dr], k)), shape=(n_clusters, K))
    r_cum = np.cumsum(xx_sum(0), axis=0).reshape(K, p * p)
    out += (e_gk @ r_cum - d_gk @ xx_sum(1).reshape(K, p * p)).reshape(n_clusters, p, p)
    return out


__all__ = [
    "RiskSets",
    "build_risk_sets",
    "cluster_information",
    "evaluate",
    "loglik",
    "score_residuals",
]
