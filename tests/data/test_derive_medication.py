"""The medication kinds: classification by the dictionary, exposure, time-weighted dose
(each on an antipsychotic table laid out as the POD trial's and on another trial's
antidepressant ``scripts``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odtrial.data.derive_context import Cohort
from odtrial.data.derive_medication import (
    IN_CLASS,
    OTHER_CLASS,
    UNKNOWN,
    classify_drugs,
    mean_dose,
    medication_any,
    total_dose,
)
from odtrial.errors import DeriveError

BASE = pd.Timestamp("2000-01-01")


def _date(day: int | None) -> pd.Timestamp | None:
    return None if day is None else BASE + pd.Timedelta(days=day)


def cohort(
    rows: list[tuple], consent: list[int], wend: list[int], *, table: str = "prescriptions",
    names: tuple[str, str, str, str] = ("drug", "daily_dose_mg", "start_date", "end_date"),
) -> Cohort:  # fmt: skip
    """A cohort whose windows are ``[consent, wend)`` (days from 2000-01-01; the window's
    months are chosen long enough and the cut-off clips them to ``wend``).

    rows: (participant row, drug, dose, start, end or None)."""
    ids = pd.Index([f"P{i}" for i in range(len(consent))], dtype="string")
    drug, dose, start, end = names
    t = pd.DataFrame(
        {
            "participant_id": pd.array([ids[r[0]] for r in rows], dtype="string"),
            drug: pd.array([r[1] for r in rows], dtype="string"),
            dose: np.array([r[2] for r in rows], dtype=np.float64),
            start: pd.Series([_date(r[3]) for r in rows], dtype="datetime64[us]"),
            end: pd.Series([_date(r[4]) for r in rows], dtype="datetime64[us]"),
        }
    )
    c = np.array(consent, dtype=np.int64) + (BASE - pd.Timestamp("1970-01-01")).days
    cut = int(c.max()) + 10_000
    co = Cohort(
        ids=ids, participants=pd.DataFrame({"participant_id": ids}), consent=c,
        trust=np.array(["t"] * len(ids), dtype=object), cutoff_day=cut, tables={table: t},
        table_info={}, default_window=1,
    )  # fmt: skip
    # the window ends where the test says: [consent, wend)
    from odtrial.data.derive_context import Window

    end_day = np.array(wend, dtype=np.int64) - np.array(consent) + c
    co._windows[1] = Window(1, end_day, end_day - c, 0)
    return co


RX = {"table": "prescriptions", "drug": "drug", "start": "start_date", "end": "end_date"}
CPZ = {**RX, "dose": "daily_dose_mg", "drug_class": "antipsychotic"}


def test_classify_drugs() -> None:
    names = ["risperidone", " Haloperidol ", "clozapine", "sertraline", "olanzipine"]
    kinds, woods = classify_drugs(names, "antipsychotic", "chlorpromazine_woods2003")
    assert kinds.tolist() == [IN_CLASS, IN_CLASS, IN_CLASS, OTHER_CLASS, UNKNOWN]
    # Woods: mg CPZ per mg = 100 / (mg equal to 100 mg CPZ)
    np.testing.assert_allclose(woods[:2], [50.0, 50.0])
    assert np.isnan(woods[2:]).all()
    _, leucht = classify_drugs(names, "antipsychotic", "chlorpromazine_leucht2015")
    # Leucht: 38.9 / (mg equal to 1 mg olanzapine)
    np.testing.assert_allclose(leucht[:3], [38.9 / 0.4, 38.9 / 0.7, 38.9 / 30.6])
    assert np.isnan(leucht[3:]).all()
    kinds, ddd = classify_drugs(names, "antidepressant", "ddd")
    assert kinds.tolist() == [OTHER_CLASS, OTHER_CLASS, OTHER_CLASS, IN_CLASS, UNKNOWN]
    assert ddd[3] == pytest.approx(1 / 50)  # sertraline's DDD is 50 mg
    kinds, mg = classify_drugs(names, None, "mg")  # no class: every known drug
    assert kinds.tolist() == [IN_CLASS] * 4 + [UNKNOWN]
    assert mg[:4].tolist() == [1.0] * 4


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
    c = cohort(rows, [100, 0], [200, 10])
    res = mean_dose(c, "k", **CPZ, equivalence="chlorpromazine_woods2003")
    np.testing.assert_allclose(
        res.columns[""], [(200 * 100 + 100 * 10 + 200 * 10) / 100, 200.0 / 10]
    )
    anyap = medication_any(c, "k", **RX, drug_class="antipsychotic")
    assert anyap.columns[""].tolist() == [True, True]
    assert str(anyap.columns[""].dtype) == "boolean"
    assert res.counts["uncovered_participants"] == 0 and res.counts["unknown_drugs"] == []


def test_uncovered_drug_only_under_woods() -> None:
    rows = [(0, "clozapine", 300.0, 0, None), (1, "amisulpride", 400.0, 500, 600)]
    c = cohort(rows, [0, 0], [100, 100])
    woods = mean_dose(c, "k", **CPZ, equivalence="chlorpromazine_woods2003")
    # participant 1's amisulpride is after the window: 0, not missing
    assert np.isnan(woods.columns[""][0]) and woods.columns[""][1] == 0
    assert woods.counts["uncovered_drugs"] == ["clozapine"]
    assert medication_any(c, "k", **RX, drug_class="antipsychotic").columns[""].tolist() == [
        True,
        False,
    ]
    leucht = mean_dose(c, "k", **CPZ, equivalence="chlorpromazine_leucht2015")
    np.testing.assert_allclose(leucht.columns[""], [300 / 30.6 * 38.9, 0.0])


def test_unknown_drug_ignored_and_counted() -> None:
    rows = [
        (0, "olanzipine", 3.0, 0, None),  # misspelt: no dictionary has it
        (1, "olanzipine", 3.0, 500, 510),  # outside the window: a row, not a participant in window
        (1, "Quetiapene", 10.0, 0, 5),
    ]
    c = cohort(rows, [0, 0], [100, 100])
    res = mean_dose(c, "k", **CPZ, equivalence="chlorpromazine_woods2003")
    assert res.columns[""].tolist() == [0.0, 0.0]
    assert not medication_any(c, "k", **RX, drug_class="antipsychotic").columns[""].any()
    assert res.counts["unknown_drug_rows"] == 3
    assert res.counts["unknown_drug_participants_in_window"] == 2
    assert res.counts["unknown_drugs"] == ["olanzipine", "quetiapene"]


@pytest.mark.parametrize("equivalence", ["chlorpromazine_woods2003", "chlorpromazine_leucht2015"])
def test_mean_dose_matches_day_by_day_sum(equivalence: str) -> None:
    """Random prescriptions against a plain per-day sum."""
    from odtrial.data.drugs import cpz_equivalent

    method = equivalence.removeprefix("chlorpromazine_")
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
    wend = consent + rng.integers(1, 200, n)
    res = mean_dose(cohort(rows, consent.tolist(), wend.tolist()), "k", **CPZ,
                    equivalence=equivalence)  # fmt: skip
    for i in range(n):
        total = 0.0
        for p, drug, dose, start, end in rows:
            cpz = cpz_equivalent(drug, dose, method)  # type: ignore[arg-type]
            if p != i or cpz is None:
                continue
            last = wend[i] - 1 if end is None else end
            total += cpz * sum(1 for d in range(start, last + 1) if consent[i] <= d < wend[i])
        np.testing.assert_allclose(
            res.columns[""][i], total / (wend[i] - consent[i]), rtol=1e-12, err_msg=str(i)
        )


def test_antidepressant_scripts_of_another_trial() -> None:
    """Another layout: a ``scripts`` table of antidepressants, DDDs, a where filter."""
    names = ("medicine", "mg_per_day", "from_date", "to_date")
    rows = [
        (0, "sertraline", 100.0, 0, 49),  # 50 days x 2 DDD
        (0, "Prozac", 20.0, 50, None),  # brand of fluoxetine, DDD 20 mg: 50 days x 1 DDD
        (0, "risperidone", 2.0, 0, None),  # another class
        (1, "mirtazapine", 30.0, 200, 300),  # after the window
    ]
    c = cohort(rows, [0, 0], [100, 100], table="scripts", names=names)
    src = {"table": "scripts", "drug": "medicine", "start": "from_date", "end": "to_date"}
    res = mean_dose(c, "k", **src, dose="mg_per_day", drug_class="antidepressant",
                    equivalence="ddd")  # fmt: skip
    np.testing.assert_allclose(res.columns[""], [(2 * 50 + 1 * 50) / 100, 0.0])
    assert res.counts["unit"] == "WHO defined daily doses"
    mg = mean_dose(c, "k", **src, dose="mg_per_day", drug_class="antidepressant",
                   equivalence="mg")  # fmt: skip
    np.testing.assert_allclose(mg.columns[""], [(100 * 50 + 20 * 50) / 100, 0.0])
    anyad = medication_any(c, "k", **src, drug_class="antidepressant")
    assert anyad.columns[""].tolist() == [True, False]
    only = medication_any(
        c, "k", **src, drug_class="antidepressant",
        where={"field": "medicine", "in": ["mirtazapine"]},
    )  # fmt: skip
    assert only.columns[""].tolist() == [False, False]


def test_classify_brands_and_a_trial_dictionary(tmp_path) -> None:
    from odtrial.data.medication_dictionary import load_medication_dictionary

    names = ["Zyprexa", "LUSTRAL", "Clozaril", "zotepine"]
    kinds, leucht = classify_drugs(names, "antipsychotic", "chlorpromazine_leucht2015")
    assert kinds.tolist() == [IN_CLASS, OTHER_CLASS, IN_CLASS, UNKNOWN]
    np.testing.assert_allclose(leucht[[0, 2]], [38.9, 38.9 / 30.6])
    # a trial's own file extends the catalogue
    extra = tmp_path / "meds.csv"
    extra.write_text(
        "generic,class,leucht2015_mg_per_1olz,leucht2015_source\nzotepine,antipsychotic,13.2,Leucht 2015\n"
    )
    d = load_medication_dictionary(extend=extra)
    kinds, leucht = classify_drugs(
        names, "antipsychotic", "chlorpromazine_leucht2015", dictionary=d
    )
    assert kinds[3] == IN_CLASS
    assert leucht[3] == pytest.approx(38.9 / 13.2)
    c = cohort([(0, "zotepine", 13.2, 0, None)], [0], [10])
    assert mean_dose(c, "k", **CPZ, equivalence="chlorpromazine_leucht2015").counts[
        "unknown_drugs"
    ] == ["zotepine"]
    c.dictionary = d
    res = mean_dose(c, "k", **CPZ, equivalence="chlorpromazine_leucht2015")
    assert res.columns[""][0] == pytest.approx(38.9)


def test_a_class_the_trials_dictionary_declares(tmp_path) -> None:
    import json

    from odtrial.data.medication_dictionary import load_medication_dictionary
    from odtrial.errors import DeriveError

    rows = [(0, "simvastatin", 40.0, 0, None), (1, "olanzapine", 10.0, 0, None)]
    c = cohort(rows, [0, 0], [100, 100])
    # the shipped dictionary has no such class: the plan key is named, with the classes
    with pytest.raises(
        DeriveError,
        match=r"^key 'k\.class' names 'lipid_regulating', not a class of the trial's "
        r"medication dictionary \(antipsychotic, antidepressant, .*, other\)$",
    ):
        medication_any(c, "k", **RX, drug_class="lipid_regulating")
    with pytest.raises(
        DeriveError, match=r"names 'antipsychotics', .*did you mean 'antipsychotic'"
    ):
        mean_dose(c, "k", **CPZ | {"drug_class": "antipsychotics"}, equivalence="mg")
    # a trial's extension declares it (a statin is not a psychotropic)
    more = tmp_path / "more.csv"
    more.write_text("generic,class\nsimvastatin,lipid_regulating\n", encoding="utf-8")
    more.with_suffix(".json").write_text(
        json.dumps(
            {"version": "t1", "date": "2026-01-01", "sources": {},
             "classes": {"lipid_regulating": "statins (BNF 2.12)"}}
        ),
        encoding="utf-8",
    )  # fmt: skip
    c.dictionary = load_medication_dictionary(extend=more)
    statin = medication_any(c, "k", **RX, drug_class="lipid_regulating")
    assert statin.columns[""].tolist() == [True, False]
    assert statin.counts["unknown_drugs"] == []
    mg = mean_dose(c, "k", **CPZ | {"drug_class": "lipid_regulating"}, equivalence="mg")
    np.testing.assert_allclose(mg.columns[""], [40.0, 0.0])
    ap = medication_any(c, "k", **RX, drug_class="antipsychotic")
    assert ap.columns[""].tolist() == [False, True]


def test_total_dose_of_a_class_or_of_one_drug() -> None:
    # window [100, 200) for participant 0, [0, 10) for participant 1
    rows = [
        (0, "risperidone", 4.0, 50, None),  # 100 days x 4 mg
        (0, "Risperdal", 2.0, 150, 159),  # the brand of the same drug: 10 days x 2 mg
        (0, "olanzapine", 10.0, 190, 250),  # 10 days inside x 10 mg
        (0, "sertraline", 50.0, 100, 199),  # not an antipsychotic
        (1, "quetiapine", 150.0, 9, 9),  # one day
        (1, "olanzipine", 5.0, 0, 9),  # unknown: ignored and counted
    ]
    c = cohort(rows, [100, 0], [200, 10])
    mg = total_dose(c, "k", **CPZ)
    np.testing.assert_allclose(mg.columns[""], [4 * 100 + 2 * 10 + 10 * 10, 150.0])
    assert mg.counts["unit"] == "mg of the drug" and mg.counts["unknown_drugs"] == ["olanzipine"]
    one = total_dose(c, "k", **CPZ, generic="RISPERDAL")  # a brand names its generic
    np.testing.assert_allclose(one.columns[""], [4 * 100 + 2 * 10, 0.0])
    ddd = total_dose(
        c, "k", **CPZ, equivalence="ddd"
    )  # risperidone 5, olanzapine 10, quetiapine 400
    np.testing.assert_allclose(ddd.columns[""], [420 / 5 + 100 / 10, 150 / 400])
    # the mean daily dose is the total over the window's days
    mean = mean_dose(c, "k", **CPZ, equivalence="mg")
    np.testing.assert_allclose(mean.columns[""], mg.columns[""] / [100, 10])


def test_total_dose_unknown_when_a_dose_or_factor_is() -> None:
    rows = [(0, "clozapine", 300.0, 0, None), (1, "haloperidol", np.nan, 0, 9)]
    c = cohort(rows, [0, 0], [100, 100])
    res = total_dose(c, "k", **CPZ, equivalence="chlorpromazine_woods2003")
    assert np.isnan(res.columns[""]).all()  # Woods has no clozapine; a dose is missing
    assert res.counts["uncovered_drugs"] == ["clozapine", "haloperidol"]


def test_total_dose_generic_must_be_a_drug_of_the_class() -> None:
    c = cohort([(0, "risperidone", 4.0, 0, None)], [0], [100])
    with pytest.raises(DeriveError, match=r"k.generic.*'risperidon'.*did you mean 'risperidone'"):
        total_dose(c, "k", **CPZ, generic="risperidon")
    with pytest.raises(DeriveError, match="'sertraline' is a drug of class 'antidepressant'"):
        total_dose(c, "k", **CPZ, generic="sertraline")
