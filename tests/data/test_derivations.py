"""Every derivation kind on a second trial laid out unlike the POD trial: a PHQ-9
questionnaire table ``phq9`` (items q1..q9 at visits 3 and 12, visit field ``timepoint``),
antidepressant ``scripts``, dated team ``contacts`` and ``respite`` stays; trust "south"
sent no scripts. Numbers are worked out by hand.

Participants consent on 2023-03-01; the window is 12 months, so window_end = 2024-03-01
and followup_days = 366 (February 2024 has 29 days); cut-off 2024-12-31.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from odtrial.data.derivations import KINDS, WINDOWED
from odtrial.data.derive import derive
from odtrial.errors import DeriveError

F = 366
ITEMS = [f"q{i}" for i in range(1, 10)]


def _dates(values: list) -> pd.Series:
    return pd.Series(pd.to_datetime(pd.Series(values, dtype="object")), dtype="datetime64[us]")


def _table(rows: list[tuple], columns: dict[str, str]) -> pd.DataFrame:
    out = {}
    for j, (name, dtype) in enumerate(columns.items()):
        vals = [r[j] for r in rows]
        out[name] = _dates(vals) if dtype == "date" else pd.array(vals, dtype=dtype)
    return pd.DataFrame(out)


def phq(pid: str, visit: int, day: str, answers: list) -> tuple:
    return (pid, visit, day, *answers)


PEOPLE = [  # id, cluster, baseline PHQ-9
    ("R1", "N1", 20), ("R2", "N1", 15), ("R3", "S1", 10), ("R4", "S1", None), ("R5", "N1", 5),
]  # fmt: skip
PHQ9 = [
    phq("R1", 3, "2023-06-01", [1] * 9),  # sum 9
    phq("R1", 12, "2024-02-20", [2] * 9),  # sum 18 (due 2024-03-01: 10 days early)
    phq("R1", 12, "2024-03-25", [0] * 9),  # sum 0 (24 days late): latest, not closest
    phq("R2", 12, "2024-03-01", [3, 3, 3, 3, 3, 3, 3, 3, None]),  # one missing item
    phq("R3", 12, "2024-03-05", [1, 1, None, None, 1, 1, 1, 1, 1]),  # two missing
    phq("R5", 3, "2023-06-02", [0, 1, 2, 3, 0, 1, 2, 3, 0]),  # sum 12
]
SCRIPTS = [
    ("R1", "sertraline", 100.0, "2023-03-01", "2023-08-31"),  # 184 days x 2 DDD
    ("R2", "risperidone", 2.0, "2023-03-01", None),  # not an antidepressant
    ("R5", "mirtazapine", 30.0, "2022-01-01", "2023-02-28"),  # ends before consent
]
CONTACTS = [  # dated events; team filters
    ("R1", "2023-03-01", "crisis"),  # day 0
    ("R1", "2023-05-01", "crisis"),  # day 61
    ("R1", "2023-04-01", "community"),  # day 31
    ("R2", "2024-03-01", "crisis"),  # on the window end: counts
    ("R2", "2024-03-02", "crisis"),  # after it
    ("R3", "2023-02-28", "crisis"),  # before consent
    ("R4", None, "crisis"),  # no date: ignored, counted
]
RESPITE = [  # stays: nights in [consent, window_end)
    ("R1", "2023-02-20", "2023-03-05"),  # under way at consent: index, 4 nights inside
    ("R1", "2023-03-05", "2023-03-10"),  # continues it (touching): 5 nights, no new spell
    ("R1", "2023-06-01", "2023-06-11"),  # 10 nights, a new spell on day 92
    ("R1", "2023-06-05", "2023-06-08"),  # overlaps it
    ("R3", "2024-02-25", None),  # open: runs to the window end, 5 nights
]


def mind_tables() -> dict[str, pd.DataFrame]:
    parts = pd.DataFrame(
        {
            "participant_id": pd.array([p[0] for p in PEOPLE], dtype="string"),
            "cluster_id": pd.array([p[1] for p in PEOPLE], dtype="string"),
            "region": pd.array(["r"] * len(PEOPLE), dtype="string"),
            "arm": pd.array(["INT" if p[1] == "N1" else "CTL" for p in PEOPLE], dtype="string"),
            "consent_date": _dates(["2023-03-01"] * len(PEOPLE)),
            "phq9_baseline": pd.array([p[2] for p in PEOPLE], dtype="Int64"),
            "trust": pd.array(["north" if p[1] == "N1" else "south" for p in PEOPLE], "string"),
        }
    )
    return {
        "participants": parts,
        "clusters": pd.DataFrame(
            {
                "cluster_id": pd.array(["N1", "S1"], dtype="string"),
                "trust": pd.array(["north", "south"], dtype="string"),
            }
        ),
        "phq9": _table(
            PHQ9,
            {
                "participant_id": "string",
                "timepoint": "Int64",
                "completed_on": "date",
                **dict.fromkeys(ITEMS, "Int64"),
            },
        ),
        "scripts": _table(
            SCRIPTS,
            {
                "participant_id": "string",
                "medicine": "string",
                "mg_per_day": "float64",
                "from_date": "date",
                "to_date": "date",
            },
        ),
        "contacts": _table(
            CONTACTS, {"participant_id": "string", "contact_date": "date", "team": "string"}
        ),
        "respite": _table(RESPITE, {"participant_id": "string", "entered": "date", "left": "date"}),
    }


MANIFEST = {
    "trial": {"data_cutoff": "2024-12-31", "follow_up_months": 12},
    "tables": {
        "phq9": {"visit": "timepoint", "date": "completed_on", "trusts": ["north", "south"]},
        "scripts": {"trusts": ["north"]},  # the south trust sent none
        "contacts": {"date": "contact_date"},
    },
}


def mind(derivations: dict, **kw) -> pd.DataFrame:
    fr = SimpleNamespace(tables=mind_tables(), manifest=MANIFEST)
    return derive(fr, derivations, **kw).set_index("participant_id")


def one(spec: dict, **kw) -> pd.Series:
    return mind({"x": spec}, **kw)["x"]


def values(s: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in s]


# -- value_at_visit, change_from_baseline, score ------------------------------------


@pytest.mark.parametrize(
    ("choose", "r1"),
    [("latest", 0), ("earliest", 2), ("closest", 2)],
)
def test_value_at_visit_choose(choose: str, r1: int) -> None:
    x = one({"kind": "value_at_visit", "table": "phq9", "field": "q1", "visit": 12,
             "choose": choose})  # fmt: skip
    assert values(x) == [r1, 3, 1, None, None]
    assert str(x.dtype) == "Int64"  # the field's own dtype


def test_value_at_visit_counts_and_no_date_field() -> None:
    df = mind({"x": {"kind": "value_at_visit", "table": "phq9", "field": "q1", "visit": 3}})
    assert values(df["x"]) == [1, None, None, None, 0]
    assert df.attrs["counts"]["derivations"]["x"]["missing"] == 3
    # no date field: table order decides, and closest cannot be chosen
    t = mind_tables()
    t["phq9"] = t["phq9"].drop(columns="completed_on")
    fr = SimpleNamespace(
        tables=t, manifest={**MANIFEST, "tables": {"phq9": {"visit": "timepoint"}}}
    )
    spec = {"kind": "value_at_visit", "table": "phq9", "field": "q1", "visit": 12}
    got = derive(fr, {"x": spec}).set_index("participant_id")["x"]
    assert got["R1"] == 0  # the last record in table order
    got = derive(fr, {"x": {**spec, "choose": "earliest"}}).set_index("participant_id")["x"]
    assert got["R1"] == 2
    with pytest.raises(DeriveError, match=r"key 'derivations.x.choose' 'closest' needs date_field"):
        derive(fr, {"x": {**spec, "choose": "closest"}})


def test_change_from_baseline() -> None:
    # q2 at 12 months minus q2 at 3 months (a record of the same table)
    x = one({"kind": "change_from_baseline", "table": "phq9", "field": "q2", "visit": 12,
             "baseline": {"table": "phq9", "field": "q2", "visit": 3}})  # fmt: skip
    assert values(x) == [-1.0, None, None, None, None]
    # a participants field as baseline
    y = one({"kind": "change_from_baseline", "table": "phq9", "field": "q2", "visit": 12,
             "baseline": {"field": "phq9_baseline"}})  # fmt: skip
    assert values(y) == [-20.0, -12.0, -9.0, None, None]


def test_score_sum_mean_reverse_prorate() -> None:
    base = {"kind": "score", "table": "phq9", "items": ITEMS, "visit": 12}
    df = mind({
        "total": base,
        "mean": {**base, "method": "mean"},
        "prorated": {**base, "prorate": {"max_missing": 1}},
        "reversed": {**base, "visit": 3, "reverse": {"items": ["q1", "q2"], "min": 0, "max": 3}},
    })  # fmt: skip
    assert values(df["total"]) == [0.0, None, None, None, None]  # R2, R3 miss items
    assert values(df["mean"]) == [0.0, None, None, None, None]
    # R2: 8 answered of 9, mean 3 -> 27; R3 misses 2 > 1
    assert values(df["prorated"]) == [0.0, 27.0, None, None, None]
    # R1 at 3 months: q1, q2 = 1 -> 2 each: 9 - 2 + 4 = 11; R5: q1 0 -> 3, q2 1 -> 2: 12 + 4
    assert values(df["reversed"]) == [11.0, None, None, None, 16.0]
    c = df.attrs["counts"]["derivations"]["prorated"]
    assert (c["prorated"], c["too_many_items_missing"]) == (1, 1)


# -- any_event, count_events, days_in_state, time_to_event --------------------------


def test_dated_events_with_a_filter() -> None:
    crisis = {"table": "contacts", "date": "contact_date",
              "where": {"field": "team", "in": ["crisis"]}}  # fmt: skip
    df = mind({
        "n_crisis": {"kind": "count_events", **crisis},
        "any_crisis": {"kind": "any_event", **crisis},
        "n_contacts": {"kind": "count_events", "table": "contacts", "date": "contact_date"},
    })  # fmt: skip
    assert values(df["n_crisis"]) == [2, 1, 0, 0, 0]
    assert values(df["any_crisis"]) == [True, True, False, False, False]
    assert values(df["n_contacts"]) == [3, 1, 0, 0, 0]
    assert str(df["n_crisis"].dtype) == "Int64" and str(df["any_crisis"].dtype) == "boolean"
    assert df.attrs["counts"]["derivations"]["n_contacts"]["rows_missing_date"] == 1


def test_spells_index_episode_and_merging() -> None:
    stay = {"table": "respite", "start": "entered", "end": "left"}
    df = mind({
        "n_stays": {"kind": "count_events", **stay},
        "nights": {"kind": "days_in_state", **stay},
        "nights_unmerged": {"kind": "days_in_state", **stay, "merge": False},
        "stays_unmerged": {"kind": "count_events", **stay, "merge": False},
    })  # fmt: skip
    # R1: the index spell (with its touching continuation) is not counted; June counts
    assert values(df["n_stays"]) == [1, 0, 1, 0, 0]
    assert values(df["nights"]) == [4 + 5 + 10, 0, 5, 0, 0]
    assert values(df["nights_unmerged"]) == [4 + 5 + 10 + 3, 0, 5, 0, 0]
    # unmerged, the continuation starting on 5 March is a stay of its own
    assert values(df["stays_unmerged"]) == [3, 0, 1, 0, 0]
    c = df.attrs["counts"]["derivations"]["nights"]
    assert (c["ongoing_at_consent"], c["open_ended"]) == (1, 1)


def test_time_to_event_over_two_sources() -> None:
    df = mind({"first_crisis": {"kind": "time_to_event", "events": [
        {"table": "respite", "start": "entered", "end": "left"},
        {"table": "contacts", "date": "contact_date", "where": {"field": "team", "in": ["crisis"]}},
    ]}})  # fmt: skip
    assert values(df["first_crisis_days"]) == [0, F, 361, F, F]
    assert values(df["first_crisis_event"]) == [True, True, True, False, False]
    src = df.attrs["counts"]["derivations"]["first_crisis"]["sources"]
    assert [s["first"] for s in src] == [1, 2]


def test_a_derivations_own_window() -> None:
    spec = {"kind": "count_events", "table": "contacts", "date": "contact_date"}
    df = mind({"n_3m": {**spec, "window_months": 3}, "n_12m": spec})
    assert values(df["n_3m"]) == [3, 0, 0, 0, 0]  # window_end 2023-06-01
    assert values(df["n_12m"]) == [3, 1, 0, 0, 0]
    assert df["followup_days_3m"].iloc[0] == 92 and df["followup_days"].iloc[0] == F


# -- medication, composite, trusts that did not send a table ------------------------


def test_medication_and_a_trust_that_sent_no_scripts() -> None:
    rx = {"table": "scripts", "drug": "medicine", "start": "from_date", "end": "to_date"}
    df = mind({
        "any_ad": {"kind": "medication_any", **rx, "class": "antidepressant"},
        "ddd": {"kind": "mean_dose", **rx, "dose": "mg_per_day", "class": "antidepressant",
                "equivalence": "ddd"},
    })  # fmt: skip
    # R3 and R4 are of the south trust, which sent no scripts: not known, not "none"
    assert values(df["any_ad"]) == [True, False, None, None, False]
    assert values(df["ddd"])[:2] == [pytest.approx(2 * 184 / F), 0.0]
    assert values(df["ddd"])[2:] == [None, None, 0.0]
    assert df.attrs["counts"]["derivations"]["ddd"]["not_collected"] == 2


def test_a_manifest_without_trusts_means_every_trust_sent_the_table() -> None:
    fr = SimpleNamespace(tables=mind_tables(), manifest={"trial": MANIFEST["trial"]})
    spec = {"kind": "medication_any", "table": "scripts", "drug": "medicine",
            "start": "from_date", "end": "to_date", "class": "antidepressant"}  # fmt: skip
    got = derive(fr, {"x": spec})["x"]
    assert values(got) == [True, False, False, False, False]


def test_composite_rules_and_missing_values() -> None:
    rx = {"table": "scripts", "drug": "medicine", "start": "from_date", "end": "to_date",
          "class": "antidepressant"}  # fmt: skip
    crisis = {"table": "contacts", "date": "contact_date"}
    df = mind({
        # composites may come before what they combine
        "either": {"kind": "composite", "of": ["any_ad", "any_contact"], "rule": "any"},
        "both": {"kind": "composite", "of": ["any_ad", "any_contact"], "rule": "all"},
        "total": {"kind": "composite", "of": ["any_ad", "n_contact", "tte"], "rule": "sum"},
        "any_ad": {"kind": "medication_any", **rx},
        "any_contact": {"kind": "any_event", **crisis},
        "n_contact": {"kind": "count_events", **crisis},
        "tte": {"kind": "time_to_event", "events": [crisis]},
    })  # fmt: skip
    # any_ad: T F NA NA F; any_contact: T T F F F (R3's contact was before consent)
    assert values(df["either"]) == [True, True, None, None, False]
    assert values(df["both"]) == [True, False, False, False, False]
    assert values(df["total"]) == [1 + 3 + 1, 0 + 1 + 1, None, None, 0.0]
    assert list(df.columns[-8:]) == [  # plan order, whatever the order of derivation
        "either", "both", "total", "any_ad", "any_contact", "n_contact", "tte_days", "tte_event",
    ]  # fmt: skip


def test_composite_errors() -> None:
    with pytest.raises(DeriveError, match=r"key 'derivations.a.of' makes a cycle through 'a'"):
        mind({"a": {"kind": "composite", "of": ["b"], "rule": "any"},
              "b": {"kind": "composite", "of": ["a"], "rule": "any"}})  # fmt: skip
    with pytest.raises(DeriveError, match=r"key 'derivations.a.of\[0\]' names no column"):
        mind({"a": {"kind": "composite", "of": ["nope"], "rule": "any"}})


def test_the_kinds_are_the_plans() -> None:
    """Every kind the plan schema knows is a function here, with the same parameters."""
    import inspect

    from odtrial.plan.schema import DERIVATION_PARAMS

    assert set(KINDS) == set(DERIVATION_PARAMS)
    for kind, fn in KINDS.items():
        params = {p for p in inspect.signature(fn).parameters if p not in ("c", "key")}
        plan = {"drug_class" if k == "class" else k for k in DERIVATION_PARAMS[kind]}
        assert params == plan, kind
        assert (kind in WINDOWED) == ("window_months" in plan), kind
        assert fn.__doc__, kind


def test_the_shipped_trial_layout_is_not_special() -> None:
    """Nothing of the POD trial's tables is needed: this trial has none of them."""
    df = mind({})
    assert list(df.reset_index().columns) == [
        "participant_id", "cluster_id", "region", "arm", "consent_date", "phq9_baseline",
        "trust", "window_end", "followup_days",
    ]  # fmt: skip
    assert (df["followup_days"] == F).all()
    assert np.all(df["trust"].to_numpy() == ["north", "north", "south", "south", "north"])


def test_derivation_objects_made_by_hand_are_checked() -> None:
    from odtrial.plan.model import Derivation

    fr = SimpleNamespace(tables=mind_tables(), manifest=MANIFEST)
    bad = Derivation("x", "count_events", {"table": "contacts", "dat": "contact_date"}, "mine")
    with pytest.raises(DeriveError, match=r"key 'mine.dat' is not a parameter of count_events; "
                                          r"did you mean 'date'\?"):  # fmt: skip
        derive(fr, [bad])
    bad = Derivation("x", "score", {"table": "phq9", "visit": 3}, "mine")
    with pytest.raises(DeriveError, match=r"key 'mine.items' is missing \(a score needs it\)"):
        derive(fr, [bad])
    with pytest.raises(DeriveError, match=r"derivations must be a plan, a mapping"):
        derive(fr, [{"kind": "score"}])  # type: ignore[list-item]


def test_a_visit_field_must_be_numeric() -> None:
    spec = {"kind": "value_at_visit", "table": "contacts", "field": "team", "visit": 3,
            "visit_field": "team"}  # fmt: skip
    with pytest.raises(DeriveError, match=r"key 'derivations.x.visit_field' names contacts.team, "
                                          r"which is not a numeric field"):  # fmt: skip
        mind({"x": spec})
