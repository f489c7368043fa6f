"""Antipsychotic exposure and CPZ-equivalent dose-days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odtrial.data.derive_medication import (
    ANTIPSYCHOTIC,
    NON_ANTIPSYCHOTIC,
    UNKNOWN,
    classify_drugs,
    medication_exposure,
)


def test_classify_drugs() -> None:
    names = ["risperidone", " Haloperidol ", "clozapine", "sertraline", "flupentixol"]
    kinds, woods = classify_drugs(names, "woods2003")
    assert kinds.tolist() == [
        ANTIPSYCHOTIC,
        ANTIPSYCHOTIC,
        ANTIPSYCHOTIC,
        NON_ANTIPSYCHOTIC,
        UNKNOWN,
    ]
    # Woods: mg CPZ per mg = 100 / (mg equal to 100 mg CPZ)
    np.testing.assert_allclose(woods[:2], [50.0, 50.0])
    assert np.isnan(woods[2:]).all()
    _, leucht = classify_drugs(names, "leucht2015")
    # Leucht: 38.9 / (mg equal to 1 mg olanzapine)
    np.testing.assert_allclose(leucht[:3], [38.9 / 0.4, 38.9 / 0.7, 38.9 / 30.6])
    assert np.isnan(leucht[3:]).all()


def _exposure(rows: list[tuple], consent: list[int], wend: list[int], method: str = "woods2003"):
    """rows: (pidx, drug, dose, start, end or None) with days as integers."""
    return medication_exposure(
        np.array([r[0] for r in rows], dtype=np.int64),
        pd.Series([r[1] for r in rows], dtype="string"),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.array([r[3] for r in rows], dtype=np.int64),
        np.array([0 if r[4] is None else r[4] for r in rows], dtype=np.int64),
        np.array([r[4] is None for r in rows]),
        np.array(consent, dtype=np.int64),
        np.array(wend, dtype=np.int64),
        method=method,  # type: ignore[arg-type]
    )


def test_dose_days_concurrent_partial_ongoing() -> None:
    # window [100, 200): 100 days for participant 0, [0, 10) for participant 1
    rows = [
        (0, "risperidone", 4.0, 50, None),  # ongoing: days 100..199 -> 100 days x 200 mg
        (0, "haloperidol", 2.0, 150, 159),  # end inclusive: 10 days x 100 mg
        (0, "olanzapine", 10.0, 190, 250),  # 10 days inside x 200 mg
        (0, "olanzapine", 10.0, 20, 99),  # ends the day before consent
        (0, "sertraline", 50.0, 100, 199),  # not an antipsychotic
        (1, "quetiapine", 150.0, 9, 9),  # one day, last of the window: 200 mg
        (1, "aripiprazole", 15.0, 10, 20),  # starts on the window end: no day inside
    ]
    med = _exposure(rows, [100, 0], [200, 10])
    np.testing.assert_allclose(med.cpz_dose_days, [200 * 100 + 100 * 10 + 200 * 10, 200.0])
    assert med.any_antipsychotic.tolist() == [True, True]
    assert med.cpz_uncovered.tolist() == [False, False]
    assert (med.unknown_drug_rows, med.unknown_drugs) == (0, ())


def test_uncovered_drug_only_under_woods() -> None:
    rows = [(0, "clozapine", 300.0, 0, None), (1, "amisulpride", 400.0, 500, 600)]
    woods = _exposure(rows, [0, 0], [100, 100])
    assert woods.cpz_uncovered.tolist() == [
        True,
        False,
    ]  # participant 1's amisulpride is after the window
    assert woods.any_antipsychotic.tolist() == [True, False]
    assert woods.uncovered_drugs == ("clozapine",)
    leucht = _exposure(rows, [0, 0], [100, 100], "leucht2015")
    assert not leucht.cpz_uncovered.any()
    np.testing.assert_allclose(leucht.cpz_dose_days, [300 / 30.6 * 38.9 * 100, 0.0])


def test_unknown_drug_ignored_and_counted() -> None:
    rows = [
        (0, "flupentixol", 3.0, 0, None),
        (1, "flupentixol", 3.0, 500, 510),  # outside the window: a row, not a participant in window
        (1, "Zuclopenthixol", 10.0, 0, 5),
    ]
    med = _exposure(rows, [0, 0], [100, 100])
    assert not med.any_antipsychotic.any()
    np.testing.assert_array_equal(med.cpz_dose_days, [0.0, 0.0])
    assert med.unknown_drug_rows == 3
    assert med.unknown_drug_participants == 2
    assert med.unknown_drugs == ("flupentixol", "zuclopenthixol")


@pytest.mark.parametrize("method", ["woods2003", "leucht2015"])
def test_dose_days_match_day_by_day_sum(method: str) -> None:
    """Random prescriptions against a plain per-day sum."""
    from odtrial.data.drugs import cpz_equivalent

    rng = np.random.default_rng(3)
    drugs = ["risperidone", "olanzapine", "haloperidol", "quetiapine", "sertraline"]
    n, m = 20, 200
    rows = []
    for _ in range(m):
        start = int(rng.integers(0, 300))
        end = None if rng.random() < 0.2 else start + int(rng.integers(0, 60))
        drug = drugs[int(rng.integers(0, len(drugs)))]
        rows.append((int(rng.integers(0, n)), drug, float(rng.integers(1, 10)), start, end))
    consent = rng.integers(0, 150, n)
    wend = consent + rng.integers(0, 200, n)
    med = _exposure(rows, consent.tolist(), wend.tolist(), method)
    for i in range(n):
        total = 0.0
        for p, drug, dose, start, end in rows:
            cpz = cpz_equivalent(drug, dose, method)  # type: ignore[arg-type]
            if p != i or cpz is None:
                continue
            last = wend[i] - 1 if end is None else end
            total += cpz * sum(1 for d in range(start, last + 1) if consent[i] <= d < wend[i])
        np.testing.assert_allclose(med.cpz_dose_days[i], total, rtol=1e-12, err_msg=str(i))


def test_classify_brands_and_a_trial_dictionary(tmp_path) -> None:
    from odtrial.data.medication_dictionary import load_medication_dictionary

    names = ["Zyprexa", "LUSTRAL", "Clozaril", "zotepine"]
    kinds, leucht = classify_drugs(names, "leucht2015")
    assert kinds.tolist() == [ANTIPSYCHOTIC, NON_ANTIPSYCHOTIC, ANTIPSYCHOTIC, UNKNOWN]
    np.testing.assert_allclose(leucht[[0, 2]], [38.9, 38.9 / 30.6])
    # a trial's own file extends the catalogue
    extra = tmp_path / "meds.csv"
    extra.write_text(
        "generic,class,leucht2015_mg_per_1olz,leucht2015_source\nzotepine,antipsychotic,13.2,Leucht 2015\n"
    )
    d = load_medication_dictionary(extend=extra)
    kinds, leucht = classify_drugs(names, "leucht2015", dictionary=d)
    assert kinds[3] == ANTIPSYCHOTIC
    assert leucht[3] == pytest.approx(38.9 / 13.2)
    med = _exposure([(0, "zotepine", 13.2, 0, None)], [0], [10], method="leucht2015")
    assert med.unknown_drugs == ("zotepine",)
