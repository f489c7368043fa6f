"""cea(): incremental cost and effect, INMB, CEAC by both methods."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from odtrial.econ import CEAScenario, EconError, cea, fit_bivariate, simulate_cea_trial

REF = Path(__file__).resolve().parents[1] / "reference" / "econ"
COVS = ["baseline_cost", "baseline_utility"]


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    return pd.read_csv(REF / "cea_24.csv")


def _run(data: pd.DataFrame, **kw: object) -> object:
    args: dict = {"cost": "cost", "effect": "qaly", "treat": "treat", "cluster": "cluster"}
    args.update(kw)
    return cea(data, **args)


def test_bivariate_result_is_the_models_and_inmb_follows(trial: pd.DataFrame) -> None:
    res = _run(trial, covariates=COVS, n_boot=500)
    x = np.column_stack([np.ones(len(trial)), trial["treat"], trial[COVS]])
    fit = fit_bivariate(trial[["cost", "qaly"]].to_numpy(), x, trial["cluster"].to_numpy())
    est, cov = fit.effect_of("x1")
    assert (res.incremental_cost, res.incremental_effect) == pytest.approx(tuple(est))
    assert res.icer == pytest.approx(est[0] / est[1])
    assert res.df == 22  # clusters - 2
    inmb = res.inmb
    assert list(inmb.index) == [20000.0, 30000.0]
    assert list(inmb.columns) == ["estimate", "se", "ci_lower", "ci_upper", "df"]
    q = stats.t.ppf(0.975, 22)
    for lam in (20000.0, 30000.0):
        se = np.sqrt(lam**2 * cov[1, 1] + cov[0, 0] - 2 * lam * cov[0, 1])
        row = inmb.loc[lam]
        assert row["estimate"] == pytest.approx(lam * est[1] - est[0])
        assert row["se"] == pytest.approx(se)
        assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(
            (row["estimate"] - q * se, row["estimate"] + q * se)
        )
        p = res.ceac.set_index("wtp").loc[lam, "probability"]
        assert p == pytest.approx(stats.t.cdf(row["estimate"] / se, 22))
    assert res.ceac["probability"].iloc[0] == pytest.approx(
        stats.t.cdf(-est[0] / np.sqrt(cov[0, 0]), 22)
    )
    draws = res.draws
    assert list(draws.columns) == ["incremental_cost", "incremental_effect"] and len(draws) == 500
    json.dumps(res.to_dict())  # every number is JSON-ready
    assert "INMB at 20,000" in res.summary()


def test_tsb_result_is_least_squares_with_percentile_intervals(trial: pd.DataFrame) -> None:
    res = _run(trial, covariates=COVS, method="tsb", n_boot=1000, seed=3)
    x = np.column_stack([np.ones(len(trial)), trial["treat"], trial[COVS]])
    coef = np.linalg.lstsq(x, trial[["cost", "qaly"]].to_numpy(), rcond=None)[0]
    assert (res.incremental_cost, res.incremental_effect) == pytest.approx(tuple(coef[1]))
    d = res.draws.to_numpy()
    nmb = 20000 * d[:, 1] - d[:, 0]
    row = res.inmb.loc[20000.0]
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(
        tuple(np.quantile(nmb, [0.025, 0.975]))
    )
    assert res.ceac.set_index("wtp").loc[20000.0, "probability"] == pytest.approx((nmb > 0).mean())
    again = _run(trial, covariates=COVS, method="tsb", n_boot=1000, seed=3)
    pd.testing.assert_frame_equal(again.draws, res.draws)
    other = _run(trial, covariates=COVS, method="tsb", n_boot=1000, seed=4)
    assert not other.draws.equals(res.draws)


def test_adjusting_for_baseline_explains_variance(trial: pd.DataFrame) -> None:
    # baseline utility explains ~30% of the QALYs' individual variance, so the
    # effect's SE falls; baseline cost only ~5% of the costs' (cluster variance
    # dominates the cost SE), so only the residual variance is sure to fall there
    adj = _run(trial, covariates=COVS)
    raw = _run(trial)
    assert adj.fit is not None and raw.fit is not None
    assert np.all(np.diag(adj.fit.sigma_e) < np.diag(raw.fit.sigma_e))
    assert adj.se_effect < 0.95 * raw.se_effect
    tsb_adj = _run(trial, covariates=COVS, method="tsb", n_boot=1000)
    tsb_raw = _run(trial, method="tsb", n_boot=1000)
    assert tsb_adj.se_effect < 0.95 * tsb_raw.se_effect


def test_smoke_simulation_unbiased_covering_and_probabilities() -> None:
    """A fast version of benchmarks/simulate_cea.py: 12 trials, both methods.

    Fixed seeds, so the counts are fixed; the thresholds are loose enough to
    hold for a correct method (bias within 3 Monte Carlo SEs, at least 9 of
    12 intervals covering) and fail for a broken one.
    """
    scenario = CEAScenario()
    truth = scenario.inmb(20000)
    for method in ("bivariate", "tsb"):
        rows = []
        for seed in np.random.SeedSequence(99).spawn(12):
            data = simulate_cea_trial(scenario, np.random.default_rng(seed))
            res = _run(data, covariates=COVS, method=method, n_boot=400, seed=1)
            lo, hi = res.inmb.loc[20000.0, ["ci_lower", "ci_upper"]]
            p = res.ceac["probability"]
            assert ((p >= 0) & (p <= 1)).all()
            rows.append((res.incremental_cost, res.incremental_effect, lo <= truth <= hi))
        dc, de, cover = map(np.array, zip(*rows, strict=True))
        assert abs(dc.mean() - scenario.delta_cost) < 3 * dc.std(ddof=1) / np.sqrt(12)
        assert abs(de.mean() - scenario.delta_qaly) < 3 * de.std(ddof=1) / np.sqrt(12)
        assert cover.sum() >= 9


def test_arm_labels_and_grid(trial: pd.DataFrame) -> None:
    labelled = trial.assign(arm=np.where(trial["treat"] == 1, "new", "usual"))
    with pytest.raises(EconError, match=r"say which value of 'arm' is the intervention"):
        _run(labelled, treat="arm")
    a = _run(labelled, treat="arm", treated="new", ceac_wtp=[0, 10000, 50000], wtp=[25000])
    b = _run(trial, ceac_wtp=[0, 10000, 50000], wtp=[25000])
    assert a.incremental_cost == pytest.approx(b.incremental_cost)
    assert a.ceac["wtp"].tolist() == [0, 10000, 25000, 50000]
    flipped = _run(labelled, treat="arm", treated="usual", wtp=[25000])
    assert flipped.incremental_cost == pytest.approx(-b.incremental_cost, rel=1e-6)
    text = _run(trial.assign(treat=trial["treat"].astype(str)), wtp=[25000])  # read from a CSV
    assert text.incremental_cost == pytest.approx(b.incremental_cost)
    three = trial.assign(treat=np.arange(len(trial), dtype=np.int64) % 3)
    with pytest.raises(EconError, match=r"found 3: \[\d, \d, \d\]$"):  # no np.int64(...)
        _run(three)


def test_bad_input(trial: pd.DataFrame) -> None:
    with pytest.raises(
        EconError,
        match=r"1 of 478 rows have missing values \(rows missing, by "
        r"column: cost \(1\)\)",
    ):
        _run(trial.assign(cost=trial["cost"].where(trial.index != 5)))
    with pytest.raises(EconError, match="'qaly' is the same for every participant"):
        _run(trial.assign(qaly=0.5))
    with pytest.raises(EconError, match="seed must be an integer"):
        _run(trial, seed=None)
    mixed = trial.copy()
    mixed.loc[0, "treat"] = 1 - mixed.loc[0, "treat"]
    with pytest.raises(EconError, match="has participants in both arms"):
        _run(mixed)
    with pytest.raises(EconError, match="method must be one of"):
        _run(trial, method="naive")
    with pytest.raises(EconError, match="no column"):
        _run(trial, covariates=["age"])
    with pytest.raises(EconError, match="must be numeric"):
        _run(trial.assign(site=trial["cluster"]), covariates=["site"])
    with pytest.raises(EconError, match="2 or more clusters"):
        two = trial[trial["cluster"].isin(["c00", "c01", "c12"])]
        _run(two)
    with pytest.raises(EconError, match="willingness to pay"):
        _run(trial, wtp=[-1])
