"""The generating model's building blocks, and the effects it produces on a large sample."""

from __future__ import annotations

import numpy as np

from odtrial.synth.events import add_months, place_intervals, split_total
from odtrial.synth.outcomes import Parameters, implied_estimands, person_outcomes
from odtrial.synth.population import (
    day,
    make_clusters,
    make_participants,
    nhs_check_digit,
    nhs_numbers,
    nhs_valid,
)


def test_modulus_11():
    # NHS Data Dictionary worked example: 943 476 5919 is valid
    assert nhs_valid(["9434765919"])[0]
    assert not nhs_valid(["9434765918", "943476591", "94347659AB"]).any()
    nums = nhs_numbers(2000, np.random.default_rng(1))
    assert len(set(nums)) == 2000 and nhs_valid(nums).all()
    assert all(n.startswith("999") for n in nums)
    assert nhs_check_digit(np.array([[9, 4, 3, 4, 7, 6, 5, 9, 1]]))[0] == 9


def test_add_months_clips_to_month_end():
    from datetime import date

    d = np.array([day(date(2021, 1, 31)), day(date(2020, 2, 29)), day(date(2021, 3, 15))])
    out = add_months(d, 1)
    assert list(out) == [day(date(2021, 2, 28)), day(date(2020, 3, 29)), day(date(2021, 4, 15))]
    assert add_months(np.array([day(date(2020, 2, 29))]), 24)[0] == day(date(2022, 2, 28))


def test_intervals_never_overlap_and_stay_inside_the_window():
    rng = np.random.default_rng(2)
    n = 3000
    k = rng.integers(1, 6, n)
    total = np.maximum(k, rng.integers(1, 900, n))  # some cannot fit: lengths get shrunk
    owner = np.repeat(np.arange(n), k)
    lengths = split_total(owner, total, rng)
    assert (np.bincount(owner, weights=lengths, minlength=n) == total).all()
    window = np.full(n, 730)
    start, lengths = place_intervals(owner, lengths, window, rng)
    end = start + lengths
    assert (start >= 1).all() and (end <= 729).all() and (lengths >= 1).all()
    same = owner[1:] == owner[:-1]
    assert (start[1:][same] >= end[:-1][same] + 1).all()


def test_large_sample_recovers_the_implied_contrasts():
    rng = np.random.default_rng(3)
    cl, _ = make_clusters(rng)
    p = make_participants(
        30_000,
        cl,
        day(__import__("datetime").date(2021, 3, 1)),
        day(__import__("datetime").date(2022, 12, 31)),
        rng,
    )
    prm = Parameters()
    years = np.full(len(p), 2.0)
    o = person_outcomes(p, cl.id.size, years, prm, rng)
    # the implied values are standardised over the same people, averaged over cluster effects;
    # with only 32 clusters the realised cluster effects add noise of about 0.03 on risks
    imp = implied_estimands(p, prm, rng, draws=20)
    t = p.treated
    for name, x in (
        ("p_work_study_24", o.ws24),
        ("p_any_admission", o.admitted),
        ("p_any_antipsychotic", o.antipsychotic),
    ):
        for arm, mask in (("pod", t), ("tau", ~t)):
            assert abs(x[mask].mean() - imp[f"{name}_{arm}"]) < 0.06, (name, arm)
    assert 0.12 < o.miss24.mean() < 0.28  # ~20% loss to follow-up at 24 months
    sizes = np.bincount(p.cluster)
    assert sizes.min() >= 3


def test_truth_coefficients_are_the_generating_coefficients():
    """Fitting the stated model (logit, cluster effects known and given as an offset) to a
    large sample recovers every coefficient truth.json lists under its name (within 4 SE)."""
    from datetime import date

    import statsmodels.api as sm

    from odtrial.synth.config import CATCHMENTS, DIAGNOSES
    from odtrial.synth.outcomes import truth_parameters

    rng = np.random.default_rng(4)
    cl, _ = make_clusters(rng)
    p = make_participants(40_000, cl, day(date(2021, 3, 1)), day(date(2022, 12, 31)), rng)
    prm = Parameters()
    o = person_outcomes(p, cl.id.size, np.full(len(p), 2.0), prm, rng)
    cols = {
        "Intercept": np.ones(len(p)),
        "arm[POD]": p.treated.astype(float),
        "baseline_work_study": p.baseline_ws.astype(float),
        "age_10": (p.age - 40) / 10,
    }
    cols |= {
        f"diagnosis[{d}]": (p.diagnosis == i).astype(float)
        for i, d in enumerate(DIAGNOSES)
        if d != "depression"
    }
    cols |= {
        f"catchment[{c.id}]": (p.catchment == k).astype(float)
        for k, c in enumerate(CATCHMENTS)
        if k
    }
    x = np.column_stack(list(cols.values()))
    truth = truth_parameters(prm)
    for outcome, y, u in (
        ("work_study_24m", o.ws24, o.cluster_effects["work_study_24"]),
        ("any_admission_24m", o.admitted, o.cluster_effects["any_admission"]),
    ):
        fit = sm.GLM(y.astype(float), x, family=sm.families.Binomial(), offset=u[p.cluster]).fit()
        coef = truth[outcome]["coefficients"]
        assert list(coef) == list(cols)
        z = (fit.params - np.array(list(coef.values()))) / fit.bse
        assert np.abs(z).max() < 4, (outcome, dict(zip(cols, np.round(z, 2), strict=True)))
