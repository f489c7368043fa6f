"""A real (local, in-process) Dask cluster gives the same answer as joblib and the serial loop."""

from __future__ import annotations

import numpy as np
import pytest

from odtrial.design import Outcome, TrialDesign, simulate_power
from odtrial.design.simulation import simulate_pvalues
from odtrial.errors import DesignError

distributed = pytest.importorskip("dask.distributed")


def test_dask_local_cluster_same_answer_as_joblib_and_serial():
    d = TrialDesign(
        outcome=Outcome(kind="binary", p0=0.25, p1=0.45),
        clusters_per_arm=6,
        cluster_size=10,
        icc=0.03,
        cv=0.4,
        attrition=0.1,
        n_strata=2,
    )
    _, serial = simulate_pvalues(d, nsim=30, seed=21, fitter="cluster-t")
    _, jl = simulate_pvalues(d, nsim=30, seed=21, fitter="cluster-t", jobs=2, chunk_size=4)
    with distributed.LocalCluster(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as cluster:
        # by address, as `--scheduler ADDRESS` does
        _, by_address = simulate_pvalues(
            d, nsim=30, seed=21, fitter="cluster-t", scheduler=cluster.scheduler_address
        )
        with distributed.Client(cluster) as client:
            res = simulate_power(
                d, nsim=30, seed=21, fitter="cluster-t", scheduler=client, chunk_size=3
            )
            assert client.status == "running"  # a client we were given is left open
    assert np.array_equal(serial, jl) and np.array_equal(serial, by_address)
    assert res.power == float(np.mean(serial < 0.05)) and res.nsim == 30


def test_unreachable_scheduler_is_a_one_line_error():
    d = TrialDesign(
        outcome=Outcome(kind="continuous", delta=0.5, sd=1.0),
        clusters_per_arm=3,
        cluster_size=4,
        icc=0.0,
    )
    import dask

    # a short connect timeout keeps the test quick (the default is 30 s)
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(
            DesignError, match=r"^cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"
        ),
    ):
        simulate_pvalues(d, nsim=2, seed=1, fitter="cluster-t", scheduler="tcp://127.0.0.1:9")
