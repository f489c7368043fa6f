"""A third, minimal trial written by hand: rule kinds and links neither shipped trial uses.

Two sites, four clusters, a 6-month visit; participants keyed by a study id with no
NHS number; a sessions table whose ``session_id`` must be unique; an attendance table
whose ``session_ref`` must name a session (``foreign_key``) and may be recorded once per
visit; a per-site constant for a field one site does not collect. Each injected fault
must be queried at its source row with the code the definition gives it, and the
counts must add up.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from odtrial.data.ingest import ingest
from odtrial.trial import load_trial

TRIAL = textwrap.dedent(
    """
    [trial]
    name = "Minimal two-site trial (test)"
    registration = "none"
    synthetic = true
    arms = [{ code = "I", label = "Intervention" }, { code = "C", label = "Control" }]
    follow_up_months = 6
    data_cutoff = 2024-12-31

    [visits]
    schedule = [{ month = 6, window_days = 45 }]

    [eligibility]
    min_age = 16

    [pseudonymisation]
    key_env = "ODTRIAL_PSEUDONYM_KEY"
    test_key = "generic-tables-test-key"

    [randomisation]
    strata = { column = "region", label = "Regions" }

    [vocabularies]
    sex = ["f", "m"]
    room = ["hall", "clinic"]

    [tables.participants]
    key = "study_id"
    consent_date = "consented"
    cluster = "school"
    date_of_birth = "dob"
    fields = [
      { name = "study_id", type = "string" },
      { name = "dob", type = "date" },
      { name = "sex", type = "code", vocabulary = "sex" },
      { name = "school", type = "string" },
      { name = "consented", type = "date" },
      { name = "score0", type = "integer", min = 0, max = 40 },
    ]

    [tables.sessions]
    link = "study_id"
    date = "held_on"
    fields = [
      { name = "study_id", type = "string" },
      { name = "session_id", type = "string" },
      { name = "held_on", type = "date" },
      { name = "room", type = "code", vocabulary = "room" },
    ]
    rules = [{ kind = "unique", fields = ["session_id"], code = "session_repeated" }]

    [tables.attendance]
    link = "study_id"
    date = "seen_on"
    visit = "visit"
    fields = [
      { name = "study_id", type = "string" },
      { name = "visit", type = "visit" },
      { name = "seen_on", type = "date" },
      { name = "session_ref", type = "string" },
    ]
    rules = [
      { kind = "foreign_key", field = "session_ref", table = "sessions", column = "session_id" },
      { kind = "one_per_visit", severity = "warning" },
    ]

    [[trusts]]
    id = "N"
    name = "North"
    directory = "north"

    [[trusts]]
    id = "S"
    name = "South"
    directory = "south"

    [[strata]]
    id = "NR"
    trust = "N"
    name = "North region"

    [[strata]]
    id = "SR"
    trust = "S"
    name = "South region"
    """
)
CLUSTERS = [("N1", "NR", "I"), ("N2", "NR", "C"), ("S1", "SR", "I"), ("S2", "SR", "C")]


def _extracts(site: str, *, room_constant: bool) -> str:
    text = f"""
    [extracts.{site}.participants]
    pattern = "people_*.csv"
    format = "csv"
    date_format = "%Y-%m-%d"
    columns = {{ study_id = "id", dob = "dob", sex = "sex", school = "school", consented = "consent", score0 = "score" }}

    [extracts.{site}.sessions]
    pattern = "sessions_*.csv"
    format = "csv"
    date_format = "%Y-%m-%d"
    columns = {{ study_id = "id", session_id = "sid", held_on = "date"{"" if room_constant else ', room = "room"'} }}
    """
    if room_constant:  # this site holds every session in its hall and has no column
        text += f"""
    [extracts.{site}.sessions.constants]
    room = "hall"
    """
    text += f"""
    [extracts.{site}.attendance]
    pattern = "attendance_*.csv"
    format = "csv"
    date_format = "%Y-%m-%d"
    columns = {{ study_id = "id", visit = "visit", seen_on = "date", session_ref = "session" }}
    """
    return textwrap.dedent(text)


def _csv(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.fixture(scope="module")
def trial_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("generic") / "trial"
    src.mkdir()
    clusters = "".join(
        f'\n[[clusters]]\nid = "{c}"\nregion = "{s}"\narm = "{a}"\n' for c, s, a in CLUSTERS
    )
    (src / "trial.toml").write_text(
        TRIAL + clusters + _extracts("N", room_constant=False) + _extracts("S", room_constant=True),
        encoding="utf-8",
    )
    for site, schools in (("N", ("N1", "N2")), ("S", ("S1", "S2"))):
        d = src / ("north" if site == "N" else "south")
        people = [
            {
                "id": f"{site}{i:02d}",
                "dob": "2000-01-15",
                "sex": "f" if i % 2 else "m",
                "school": schools[i % 2],
                "consent": "2024-01-10",
                "score": 10 + i,
            }
            for i in range(1, 7)
        ]
        sessions = [
            {"id": f"{site}{i:02d}", "sid": f"{site}-s{i}", "date": "2024-03-01", "room": "clinic"}
            for i in range(1, 7)
        ]
        attendance = [
            {"id": f"{site}{i:02d}", "visit": 6, "date": "2024-07-10", "session": f"{site}-s{i}"}
            for i in range(1, 7)
        ]
        if site == "N":
            people[2]["score"] = 41  # row 3: above the field's max
            sessions[4]["sid"] = "N-s1"  # row 5: repeats row 1's session id
            attendance[1]["session"] = "N-s9"  # row 2: names no session
            attendance.append(dict(attendance[0], date="2024-07-20"))  # row 7: visit again
        else:
            for s in sessions:
                del s["room"]
            people[5]["dob"] = "2010-06-01"  # row 6: 13 at consent, below min_age 16
        _csv(d / "people_1.csv", people)
        _csv(d / "sessions_1.csv", sessions)
        _csv(d / "attendance_1.csv", attendance)
    return src


@pytest.fixture(scope="module")
def freeze(trial_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generic_freeze") / "fz"
    ingest(trial_dir, out)
    return out


def test_the_definition_loads_with_its_rules_and_links(trial_dir: Path) -> None:
    t = load_trial(trial_dir / "trial.toml")
    assert list(t.tables) == ["participants", "sessions", "attendance"]
    assert t.stratum_column == "region"
    assert [r.kind for r in t.tables["attendance"].rules] == ["foreign_key", "one_per_visit"]
    assert t.tables["sessions"].rules[0].code == "session_repeated"
    assert [v.month for v in t.visits] == [6]


def test_every_fault_is_queried_at_its_source_row(freeze: Path) -> None:
    q = pd.read_csv(freeze / "queries.csv", dtype=str)
    got = sorted(zip(q["file"], q["source_row"].astype(int), q["rule"], strict=True))
    assert got == [
        ("north/attendance_1.csv", 2, "unknown_reference"),
        ("north/attendance_1.csv", 3, "unknown_participant"),  # participant 3 quarantined
        ("north/attendance_1.csv", 5, "unknown_reference"),  # session N-s5 was renamed
        ("north/attendance_1.csv", 7, "duplicate_visit"),
        ("north/people_1.csv", 3, "out_of_range"),
        ("north/sessions_1.csv", 3, "unknown_participant"),
        ("north/sessions_1.csv", 5, "session_repeated"),
        ("south/people_1.csv", 6, "under_min_age"),  # a warning: kept
    ]
    sev = dict(zip(q["rule"], q["severity"], strict=True))
    assert sev["duplicate_visit"] == "warning" and sev["session_repeated"] == "error"


def test_counts_add_up_and_constants_fill_the_missing_column(freeze: Path) -> None:
    manifest = json.loads((freeze / "manifest.json").read_text(encoding="utf-8"))
    for i in manifest["inputs"]:
        assert i["rows_read"] == i["rows_accepted"] + i["rows_quarantined"], i["path"]
    people = pd.read_parquet(freeze / "tables" / "participants.parquet")
    sessions = pd.read_parquet(freeze / "tables" / "sessions.parquet")
    attendance = pd.read_parquet(freeze / "tables" / "attendance.parquet")
    # the participant above the score's range is quarantined, and with it their
    # session and attendance; the under-age one is kept with a warning
    assert len(people) == 11 and "study_id" not in people.columns
    assert (len(sessions), len(attendance)) == (12 - 2, 13 - 3)  # errors out, warnings in
    assert set(people["region"]) == {"NR", "SR"} and set(people["arm"]) == {"I", "C"}
    assert set(sessions.loc[sessions["trust"] == "S", "room"]) == {"hall"}
    assert set(sessions.loc[sessions["trust"] == "N", "room"]) == {"clinic"}
    assert attendance["participant_id"].isin(people["participant_id"]).all()
    assert sorted(manifest["tables"]) == ["attendance", "participants", "sessions"]
