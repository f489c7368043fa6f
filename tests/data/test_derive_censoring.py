"""A time to event censored at withdrawal, death or loss to follow-up (``censor``).

Everyone consents on 2023-01-01 (day 0); the 12-month window ends 2024-01-01 (day 365),
the 24-month one at the cut-off 2024-12-31 (day 730). Days are worked out by hand:
2023-02-01 = 31, 02-20 = 50, 03-01 = 59, 04-11 = 100, 06-01 = 151, 07-01 = 181,
08-01 = 212, 08-15 = 226, 09-01 = 243, 10-01 = 273, 2024-06-01 = 517.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from odtrial.data.derive import derive
from odtrial.errors import DeriveError

# id, trust, withdrawal date, first admission
PEOPLE = [
    ("P1", "north", "2023-06-01", "2023-03-01"),  # event before withdrawal: 59, event
    ("P2", "north", "2023-06-01", "2023-07-01"),  # event after withdrawal: 151, censored
    ("P3", "north", "2023-06-01", "2023-06-01"),  # event on the withdrawal day: counts
    ("P4", "north", "2024-06-01", None),  # withdrew after the 12-month window end
    ("P5", "north", None, "2023-10-01"),  # no censoring date: 273, event
    ("P6", "north", None, None),  # lost to follow-up (last contact 02-20) before death
    ("P7", "north", "2023-09-01", "2023-08-15"),  # died 08-01, before the event
    ("P8", "north", "2022-12-01", "2023-02-01"),  # withdrawal before consent: ignored
    ("P9", "south", "2023-01-01", None),  # withdrew on the consent day: 0 days
]
DEATHS = [
    ("P6", "2023-04-11"),
    ("P7", "2023-08-01"),
    ("P8", None),  # no date: does not censor
    ("X99", "2023-02-01"),  # no participant of the cohort
]
FOLLOWUP = [  # last contact; only "lost" records censor
    ("P6", "2023-01-15", "seen"),
    ("P6", "2023-02-20", "lost"),
    ("P5", "2023-03-01", "seen"),
]


def _dates(values: list) -> pd.Series:
    return pd.Series(pd.to_datetime(pd.Series(values, dtype="object")), dtype="datetime64[us]")


def _ids(values: list) -> pd.Series:
    return pd.Series(pd.array(values, dtype="string"))


def tables() -> dict[str, pd.DataFrame]:
    n = len(PEOPLE)
    participants = pd.DataFrame(
        {
            "participant_id": _ids([p[0] for p in PEOPLE]),
            "cluster_id": _ids(["C1" if p[1] == "north" else "C2" for p in PEOPLE]),
            "trust": _ids([p[1] for p in PEOPLE]),
            "consent_date": _dates(["2023-01-01"] * n),
            "withdrawal_date": _dates([p[2] for p in PEOPLE]),
        }
    )
    admitted = [(p[0], p[3]) for p in PEOPLE if p[3] is not None]
    return {
        "participants": participants,
        "clusters": pd.DataFrame(
            {"cluster_id": _ids(["C1", "C2"]), "trust": _ids(["north", "south"])}
        ),
        "admissions": pd.DataFrame(
            {
                "participant_id": _ids([a[0] for a in admitted]),
                "admitted": _dates([a[1] for a in admitted]),
            }
        ),
        "deaths": pd.DataFrame(
            {
                "participant_id": _ids([d[0] for d in DEATHS]),
                "date_of_death": _dates([d[1] for d in DEATHS]),
            }
        ),
        "followup": pd.DataFrame(
            {
                "participant_id": _ids([f[0] for f in FOLLOWUP]),
                "last_contact_date": _dates([f[1] for f in FOLLOWUP]),
                "status": _ids([f[2] for f in FOLLOWUP]),
            }
        ),
    }


MANIFEST = {
    "trial": {"data_cutoff": "2024-12-31", "follow_up_months": 12},
    "tables": {"deaths": {"trusts": ["north"]}},  # the south trust sent no deaths
}
EVENTS = [{"table": "admissions", "date": "admitted"}]
WITHDRAWAL = {"table": "participants", "date": "withdrawal_date"}
DEATH = {"table": "deaths", "date": "date_of_death"}
LOST = {
    "table": "followup",
    "date": "last_contact_date",
    "where": {"field": "status", "in": ["lost"]},
}


def run(**derivations: dict[str, Any]) -> pd.DataFrame:
    fr = SimpleNamespace(tables=tables(), manifest=MANIFEST)
    specs = {k: {"kind": "time_to_event", "events": EVENTS, **v} for k, v in derivations.items()}
    return derive(fr, specs).set_index("participant_id")


def counts(df: pd.DataFrame, name: str) -> dict[str, Any]:
    out: dict[str, Any] = df.attrs["counts"]["derivations"][name]
    return out


def test_without_censor_only_the_window_end_censors() -> None:
    df = run(t={})
    assert df["t_days"].tolist() == [59, 181, 151, 365, 273, 365, 226, 31, 365]
    assert df["t_event"].tolist() == [True, True, True, False, True, False, True, True, False]
    assert "censored_early" not in counts(df, "t")


def test_withdrawal_censors_and_an_event_on_the_day_counts() -> None:
    df = run(t={"censor": WITHDRAWAL}, t24={"censor": [WITHDRAWAL], "window_months": 24})
    assert df["t_days"].tolist() == [59, 151, 151, 365, 273, 365, 226, 31, 0]
    assert df["t_event"].tolist() == [True, False, True, False, True, False, True, True, False]
    c = counts(df, "t")
    assert (c["events"], c["censored_early"], c["events_after_censoring"]) == (5, 2, 1)
    assert c["sources"][0]["first"] == 5
    assert c["censor_sources"] == [
        {"table": "participants", "rows_unknown_participant": 0, "rows_missing_date": 2,
         "rows_before_consent": 1, "censored": 2},
    ]  # fmt: skip
    # P4 withdrew after the 12-month window end but inside the 24-month one
    assert df["t24_days"].tolist() == [59, 151, 151, 517, 273, 730, 226, 31, 0]
    assert counts(df, "t24")["censored_early"] == 3


def test_the_earliest_of_several_censoring_sources() -> None:
    df = run(t={"censor": [WITHDRAWAL, DEATH, LOST]})
    # P6: lost at 50 (a "seen" contact at 14 does not censor), died at 100;
    # P7: died at 212, before the event at 226 and the withdrawal at 243
    assert df["t_days"].tolist() == [59, 151, 151, 365, 273, 50, 212, 31, 0]
    assert df["t_event"].tolist() == [True, False, True, False, True, False, False, True, False]
    c = counts(df, "t")
    assert (c["events"], c["censored_early"], c["events_after_censoring"]) == (4, 4, 2)
    deaths, lost = c["censor_sources"][1:]
    assert (deaths["rows_unknown_participant"], deaths["rows_missing_date"]) == (1, 1)
    assert (deaths["censored"], lost["censored"]) == (1, 1)
    assert [s["censored"] for s in c["censor_sources"]] == [2, 1, 1]
    # the south trust sent no deaths: its participant is not NA, and is counted
    assert c["censor_not_collected"] == 1
    assert df["t_days"].notna().all()


def test_a_censoring_field_the_freeze_lacks_names_the_key() -> None:
    bad = {**DEATH, "date": "died_on"}
    with pytest.raises(
        DeriveError, match=r"key 'derivations\.t\.censor\[1\]\.date' names no field"
    ):
        run(t={"censor": [WITHDRAWAL, bad]})
    with pytest.raises(DeriveError, match=r"censor\.date' names deaths\.participant_id, which "):
        run(t={"censor": {"table": "deaths", "date": "participant_id"}})


def test_an_unknown_censor_key_lists_the_allowed_ones() -> None:
    with pytest.raises(
        DeriveError,
        match=r"key 'derivations\.t\.censor\.dat' is not a known key; did you mean 'date'\? "
        r"\(allowed: date, table, where\)",
    ):
        run(t={"censor": {"table": "deaths", "dat": "date_of_death"}})


# contacts (counted) and stays (nights) of a few participants, to censor a count and a
# number of days in a state: P1 withdrew on day 151, P2 on 151, P4 after the window end,
# P7 on 243, P9 on the consent day
CONTACTS = [("P1", "2023-02-01"), ("P1", "2023-06-01"), ("P1", "2023-07-01"),
            ("P2", "2023-08-01"), ("P4", "2023-10-01"), ("P9", "2023-02-01")]  # fmt: skip
STAYS = [("P1", "2023-04-11", "2023-07-01"), ("P7", "2023-08-15", None)]


def run_rates(**derivations: dict[str, Any]) -> pd.DataFrame:
    t = tables()
    t["contacts"] = pd.DataFrame(
        {"participant_id": _ids([c[0] for c in CONTACTS]), "seen": _dates([c[1] for c in CONTACTS])}
    )
    t["stays"] = pd.DataFrame(
        {
            "participant_id": _ids([s[0] for s in STAYS]),
            "admitted": _dates([s[1] for s in STAYS]),
            "discharged": _dates([s[2] for s in STAYS]),
        }
    )
    fr = SimpleNamespace(tables=t, manifest=MANIFEST)
    return derive(fr, derivations).set_index("participant_id")


def test_a_censored_count_stops_at_the_censoring_day_and_gives_its_follow_up() -> None:
    count = {"kind": "count_events", "table": "contacts", "date": "seen"}
    df = run_rates(n=count, nc=count | {"censor": WITHDRAWAL})
    assert "n_followup_days" not in df  # uncensored: the window's follow-up column serves
    assert df["n"].tolist() == [3, 1, 0, 1, 0, 0, 0, 0, 1]
    # P1: the contact on the withdrawal day counts, the one after does not; P2's is after
    assert df["nc"].tolist() == [2, 0, 0, 1, 0, 0, 0, 0, 0]
    assert df["nc_followup_days"].tolist() == [151, 151, 151, 365, 365, 365, 243, 365, 0]
    c = counts(df, "nc")
    assert (c["events"], c["events_after_censoring"], c["censored_early"]) == (3, 3, 5)
    assert list(df.columns[-2:]) == ["nc", "nc_followup_days"]


def test_nights_in_a_state_stop_at_the_censoring_day() -> None:
    nights = {"kind": "days_in_state", "table": "stays", "start": "admitted", "end": "discharged"}
    df = run_rates(d=nights, dc=nights | {"censor": [WITHDRAWAL]})
    assert df["d"].tolist() == [81, 0, 0, 0, 0, 0, 139, 0, 0]  # P7's open stay to day 365
    assert df["dc"].tolist() == [51, 0, 0, 0, 0, 0, 17, 0, 0]
    assert df["dc_followup_days"].tolist() == [151, 151, 151, 365, 365, 365, 243, 365, 0]
    assert counts(df, "dc")["censored_early"] == 5  # P1, P2, P3, P7, P9
