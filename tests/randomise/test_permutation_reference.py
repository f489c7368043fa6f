"""odtrial's clustered permutation test against the same test computed in base R
(tests/reference/permutation: the R script, the data, the space and R's output)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.randomise import permutation_test

REF = Path(__file__).resolve().parents[1] / "reference" / "permutation"
FITS = json.loads((REF / "reference.json").read_text(encoding="utf-8"))["fits"]
COVARIATES = {"binary_unadjusted": []}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "trial.csv")


@pytest.fixture(scope="module")
def space() -> pd.DataFrame:
    return pd.read_csv(REF / "space.csv").astype({"chosen": bool})


@pytest.mark.parametrize("name", sorted(FITS))
def test_statistic_p_value_and_null_distribution_match_r(name, data, space) -> None:
    ref = FITS[name]
    res = permutation_test(
        data,
        outcome=ref["outcome"],
        cluster="cluster",
        arm="arm",
        space=space,
        covariates=COVARIATES.get(name, ["C(stratum)", "x"]),
        family=ref["family"],
        arms=("POD", "TAU"),
    )
    # Both fit the same GLM by IRLS to convergence (R's default epsilon 1e-8 on the
    # deviance, statsmodels' 1e-8): fitted values, hence residual means and the
    # statistics, agree to about 1e-9; the p-value is a count over the same 390
    # allocations and must be equal.
    assert res.n_allocations == ref["n_allocations"] == len(space)
    assert res.statistic == pytest.approx(ref["statistic"], abs=1e-8)
    assert res.pvalue == pytest.approx(ref["p_value"], abs=1e-12)
    np.testing.assert_allclose(res.null_statistics[:20], ref["null_first"], atol=1e-8)
