"""``odtrial init`` on projects unlike STEADY: what it decides, and that ingest reads them.

HELIX is written here by hand: an API-style data dictionary, two data access groups, a
dropdown cluster field whose choice labels are cluster ids (one not randomised), a
cluster table with no column of group names, a consent date and time, follow-up events
whose names give no
month (``fu1_arm_1``: their months come from their dates), a repeating instrument at
baseline, a checkbox with a negative code, branching logic ordering choice codes,
naming a checkbox choice, and naming another form's field of the same row. With
REDCap's event definitions, its visits' months and windows are theirs. A classic
project (no events, no groups) is onboarded too, and the rules about replacing a
``trial.toml`` are checked.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tomllib
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from odtrial.data.ingest import ingest
from odtrial.errors import ConfigError
from odtrial.randomise.allocate import constrained
from odtrial.redcap.init import InitOptions, init
from odtrial.synth.population import nhs_numbers

META = (
    "field_name", "form_name", "section_header", "field_type", "field_label",
    "select_choices_or_calculations", "field_note", "text_validation_type_or_show_slider_number",
    "text_validation_min", "text_validation_max", "identifier", "branching_logic",
    "required_field", "custom_alignment", "question_number", "matrix_group_name",
    "matrix_ranking", "field_annotation",
)  # fmt: skip
PAIN = "0, None | 1, Mild | 2, Moderate | 3, Severe | 4, Worst imaginable"
FIELDS = [
    # name, form, type, label, choices, validation, min, max, identifier, logic, required
    ("study_no", "screening", "text", "Study number", "", "", "", "", "", "", ""),
    ("consent_dt", "screening", "text", "Date consent signed", "", "datetime_dmy", "", "", "", "",
     "y"),
    ("gp_practice", "screening", "dropdown", "Practice", "1, N1 | 2, N2 | 3, S1 | 4, S2 | 5, X9",
     "", "", "", "", "", "y"),
    ("nhs", "screening", "text", "NHS No.", "", "", "", "", "y", "", ""),
    ("initials", "screening", "text", "Initials", "", "", "", "", "y", "", "y"),
    ("pain", "screening", "radio", "Pain", PAIN, "", "", "", "", "", "y"),
    ("pain_site", "screening", "text", "Where", "", "", "", "", "", "[pain] > 2", "y"),
    ("smoker", "screening", "yesno", "Smoker", "", "", "", "", "", "", "y"),
    ("cigs", "screening", "text", "Cigarettes a day", "", "integer", "1", "80", "",
     "[smoker] = '1' and [pain] <> '0'", "y"),
    ("med_name", "meds", "text", "Medicine", "", "", "", "", "", "", "y"),
    ("med_dose", "meds", "text", "Dose (mg)", "", "number", "0", "", "", "", ""),
    ("visit_dt", "visit", "text", "Visit date", "", "date_ymd", "", "", "", "", "y"),
    ("weight", "visit", "text", "Weight (kg)", "", "number", "30", "250", "", "", "y"),
    ("symptoms", "visit", "checkbox", "Symptoms", "1, Cough | -1, None of these", "", "", "",
     "", "", ""),
    ("symptom_days", "visit", "text", "Days of cough", "", "integer", "0", "", "",
     "[symptoms(1)] = '1'", "y"),
    ("qol_score", "qol", "text", "Quality of life", "", "integer", "0", "100", "",
     "[weight] >= 40", "y"),
]  # fmt: skip
CLUSTERS = [("N1", "R-N", 10), ("N2", "R-N", 12), ("S1", "R-S", 9), ("S2", "R-S", 14)]


def _dictionary(fields: list[tuple[str, ...]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(META)
    for name, form, ftype, label, choices, val, lo, hi, ident, logic, req in fields:
        w.writerow([name, form, "", ftype, label, choices, "", val, lo, hi, ident, logic, req,
                    "", "", "", "", ""])  # fmt: skip
    return buf.getvalue()


def _record(folder: Path) -> Path:
    folder.mkdir(parents=True)
    table = pd.DataFrame(CLUSTERS, columns=["practice", "region", "size"])
    (folder / "clusters.csv").write_text(table.to_csv(index=False))
    alloc = constrained(
        table, id="practice", strata="region", balance=["size"], seed=7, arms=["I", "C"], cutoff=1.0
    )
    alloc.write(folder, source=folder / "clusters.csv")
    return folder


HEADER = [
    "study_no", "redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
    "redcap_data_access_group", "consent_dt", "gp_practice", "nhs", "initials", "pain",
    "pain_site", "smoker", "cigs", "screening_complete", "med_name", "med_dose",
    "meds_complete", "visit_dt", "weight", "symptoms___1", "symptoms____1", "symptom_days",
    "visit_complete", "qol_score", "qol_complete",
]  # fmt: skip


def _rows() -> list[dict[str, str]]:
    rows = []
    nhs = nhs_numbers(8, np.random.default_rng(3))  # valid, in the test range
    practice = {"N1": "1", "N2": "2", "S1": "3", "S2": "4"}
    n = 0
    for cluster, dag in (("N1", "north"), ("N2", "north"), ("S1", "south"), ("S2", "south")):
        for _ in range(2):
            n += 1
            sid = f"H{n:03d}"
            consent = date(2024, 1, 1) + timedelta(days=9 * n)
            rows.append({
                "study_no": sid, "redcap_event_name": "baseline_arm_1",
                "redcap_data_access_group": dag, "consent_dt": f"{consent.isoformat()} 09:{n:02d}",
                "gp_practice": practice[cluster], "nhs": str(nhs[n - 1]), "initials": "QXZ",
                "pain": "1", "smoker": "0", "screening_complete": "2",
                "symptoms___1": "0", "symptoms____1": "0",
            })  # fmt: skip
            rows.append({
                "study_no": sid, "redcap_event_name": "baseline_arm_1",
                "redcap_repeat_instrument": "meds", "redcap_repeat_instance": "1",
                "redcap_data_access_group": dag, "med_name": "paracetamol", "med_dose": "500",
                "meds_complete": "2", "symptoms___1": "0", "symptoms____1": "0",
            })  # fmt: skip
            for event, months in (("fu1_arm_1", 3), ("fu2_arm_1", 9)):
                seen = consent + timedelta(days=round(30.4 * months) + n % 5)
                rows.append({
                    "study_no": sid, "redcap_event_name": event, "redcap_data_access_group": dag,
                    "visit_dt": seen.isoformat(), "weight": "70.5", "symptoms___1": "1",
                    "symptoms____1": "0", "symptom_days": "4", "visit_complete": "2",
                    "qol_score": "80", "qol_complete": "2",
                })  # fmt: skip
    # faults: a practice not randomised, pain severe with no site, cough with no days,
    # weight given with no quality of life score
    rows[0].update(gp_practice="5")
    rows[4].update(pain="3")
    rows[6].update(symptom_days="")
    rows[7].update(qol_score="")
    return rows


#: Define My Events: the follow-ups at days 91 (14 days either side) and 274 (21 days
#: before, 42 after).
DEFINITIONS = (
    "event_name,arm_num,day_offset,offset_min,offset_max,unique_event_name,custom_event_label\n"
    "Baseline,1,0,0,0,baseline_arm_1,\n"
    "Follow-up 1,1,91,14,14,fu1_arm_1,\n"
    "Follow-up 2,1,274,21,42,fu2_arm_1,\n"
)


@pytest.fixture(scope="module")
def helix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("helix")
    (d / "exports").mkdir()
    (d / "exports" / "dd.csv").write_text(_dictionary(FIELDS))
    (d / "exports" / "events.csv").write_text(
        "arm_num,unique_event_name,form\n1,baseline_arm_1,screening\n1,baseline_arm_1,meds\n"
        "1,fu1_arm_1,visit\n1,fu1_arm_1,qol\n1,fu2_arm_1,visit\n1,fu2_arm_1,qol\n"
    )
    (d / "exports" / "defs.csv").write_text(DEFINITIONS)
    _write_records(d / "exports", _rows())
    _record(d / "rnd")
    return d


def _write_records(folder: Path, rows: list[dict[str, str]]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, HEADER, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path = folder / "HELIX_DATA_2025-03-31_0930.csv"
    path.write_text(buf.getvalue())
    return path


def _options(d: Path, **kw: object) -> InitOptions:
    base = {
        "dictionary": d / "exports" / "dd.csv",
        "records": d / "exports" / "HELIX_DATA_2025-03-31_0930.csv",
        "events": d / "exports" / "events.csv",
        "randomisation": d / "rnd",
        "cluster_field": "gp_practice",
        "test_key": "helix-test-key",
    }
    return InitOptions(**(base | kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def written(helix: Path) -> tuple[Path, dict]:
    r = init(helix / "trial", _options(helix))
    return r.path, {"result": r, "toml": tomllib.loads(r.path.read_text())}


def _field(t: dict, table: str, name: str) -> dict:
    return next(f for f in t["tables"][table]["fields"] if f["name"] == name)


def test_what_init_decides(written: tuple[Path, dict]) -> None:
    _, w = written
    r, t = w["result"], w["toml"]
    assert r.tables == {"participants": 9, "meds": 5, "visit": 8, "qol": 5}
    assert r.trusts == ("north", "south") and r.visits == (3, 9)
    assert t["visits"]["schedule"] == [
        {"month": 3, "window_days": 41},
        {"month": 9, "window_days": 83},
    ]
    assert t["trial"]["data_cutoff"] == date(2025, 3, 31)
    p = t["tables"]["participants"]
    # a date and time: its date is read, whatever the time
    assert t["extracts"]["north"]["participants"]["date_format"] == "native"
    assert t["extracts"]["north"]["visit"]["date_format"] == "%Y-%m-%d"
    assert (p["key"], p["consent_date"], p["cluster"]) == ("study_no", "consent_dt", "gp_practice")
    assert _field(t, "participants", "gp_practice")["vocabulary"] == "clusters"
    assert t["vocabularies"]["clusters"] == ["N1", "N2", "S1", "S2", "X9"]
    # no vocabulary that no field reads (the cluster field's choices are the clusters)
    read = {f.get("vocabulary") for x in t["tables"].values() for f in x["fields"]}
    assert set(t["vocabularies"]) <= read and "gp_practice" not in t["vocabularies"]
    assert _field(t, "participants", "nhs_number")["type"] == "nhs_number"
    assert _field(t, "participants", "initials")["identifier"] == "drop"
    assert _field(t, "participants", "pain_site")["required_if"] == (
        "[pain] = 'severe' or [pain] = 'worst_imaginable'"
    )
    assert _field(t, "participants", "cigs")["required_if"] == (
        "[smoker] = true and [pain] <> 'none'"
    )
    assert _field(t, "visit", "symptom_days")["required_if"] == "[symptoms_1] = true"
    assert [f["name"] for f in t["tables"]["visit"]["fields"]][-3:] == [
        "symptoms_1", "symptoms_m1", "symptom_days",
    ]  # fmt: skip
    # the quality of life form borrows the weight of the visit form (the same row)
    assert _field(t, "qol", "qol_score")["required_if"] == "[weight] >= 40"
    assert _field(t, "qol", "weight")["required"] is False
    meds = t["tables"]["meds"]
    assert "visit" not in meds and [f["name"] for f in meds["fields"]][:3] == [
        "study_no", "redcap_event", "redcap_repeat_instance",
    ]  # fmt: skip
    assert meds["rules"][0]["fields"] == ["study_no", "redcap_event", "redcap_repeat_instance"]
    # strata from the record; each cluster's site from where its participants are
    assert {(s["id"], s["trust"]) for s in t["strata"]} == {("R-N", "north"), ("R-S", "south")}
    assert any("X9" in w and "unknown_cluster" in w for w in r.warnings)
    assert any("where its participants are" in w for w in r.warnings)
    text = written[0].read_text()
    assert "median time from consent to its forms'" in text
    # the record names its columns only: readable labels, marked to edit
    assert t["randomisation"]["strata"] == {"column": "region", "label": "Region"}
    assert t["randomisation"]["balance"] == [{"column": "size", "label": "Size"}]
    assert 'label = "Region" }  # edit: the label the report shows' in text


def test_it_ingests_and_queries_the_faults(written: tuple[Path, dict], tmp_path: Path) -> None:
    report = ingest(written[0].parent, tmp_path / "freeze", config=written[0])
    q = pd.read_csv(tmp_path / "freeze" / "queries.csv", dtype=str, keep_default_na=False)
    got = {(int(r.source_row), r.rule, r.field) for r in q.itertuples()}
    assert {
        (1, "unknown_cluster", "gp_practice"),
        (2, "unknown_participant", "study_no"),  # the cascade of the first participant
        (5, "missing_value", "pain_site"),
        (7, "missing_value", "symptom_days"),
        (8, "missing_value", "qol_score"),
    } <= got
    (entry,) = [f for f in report.files if "records" in f]
    assert entry["rows_read"] == 32
    assert entry["rows_accepted"] + entry["rows_quarantined"] == 32


def _day_first(v: str) -> str:
    """A YYYY-MM-DD date (maybe with a time) as REDCap's DD/MM/YYYY export writes it."""
    day, _, time = v.partition(" ")
    y, m, d = day.split("-")
    return f"{d}/{m}/{y}" + (f" {time}" if time else "")


def test_day_first_dates_are_read_as_such(
    helix: Path, written: tuple[Path, dict], tmp_path: Path
) -> None:
    """HELIX exported with DD/MM/YYYY dates: init writes that pattern (with the time of
    day for the consent date and time), says how it knew, and ingest gives the rows and
    queries of the YYYY-MM-DD export."""
    rows = [
        {k: _day_first(v) if k in ("consent_dt", "visit_dt") and v else v for k, v in r.items()}
        for r in _rows()
    ]
    exports = tmp_path / "exports"
    shutil.copytree(helix / "exports", exports)
    r = init(tmp_path / "t", _options(helix, records=_write_records(exports, rows)))
    t = tomllib.loads(r.path.read_text())
    assert t["extracts"]["north"]["participants"]["date_format"] == "%d/%m/%Y %H:%M"
    assert t["extracts"]["north"]["visit"]["date_format"] == "%d/%m/%Y"
    assert t["visits"] == written[1]["toml"]["visits"]  # months from the dates, as before
    text = " ".join(r.path.read_text().split())
    assert (
        "# the records' dates are day/month/year (chosen in REDCap's export dialog): "
        "consent_dt # holds '19/01/2024 09:02', its first number over 12, so a day"
    ) in text
    ours = ingest(tmp_path / "t", tmp_path / "freeze").queries
    iso = ingest(written[0].parent, tmp_path / "iso").queries
    cols = ["source_row", "rule", "field"]
    assert len(ours) and ours[cols].equals(iso[cols])


def test_without_designations_the_record_id_makes_no_form_look_collected(
    helix: Path, written: tuple[Path, dict], tmp_path: Path
) -> None:
    """The record id is on every row: read as data, the screening form (its form)
    would look collected at every event and become a table of its own."""
    r = init(tmp_path / "t", _options(helix, events=None))
    assert r.tables == written[1]["result"].tables
    t = tomllib.loads(r.path.read_text())
    assert t["vocabularies"]["redcap_events"] == ["baseline_arm_1", "fu1_arm_1", "fu2_arm_1"]
    # the same tables and extracts as the designations give
    assert t["tables"] == written[1]["toml"]["tables"]
    assert t["extracts"] == written[1]["toml"]["extracts"]


def test_event_definitions_give_the_visits_months_and_windows(helix: Path, tmp_path: Path) -> None:
    """The months are the day offsets (91 and 274 days: months 3 and 9), not the dates'
    median, and the windows REDCap's: a second follow-up 30 days early is out of its
    window (21 days before), one 40 days late is in (42 after)."""
    rows = _rows()
    # the second follow-ups of H004 (consent 2024-02-06) and H005 (2024-02-15)
    rows[15].update(visit_dt="2024-10-07")
    rows[19].update(visit_dt="2024-12-25")
    exports = tmp_path / "exports"
    shutil.copytree(helix / "exports", exports)
    records = _write_records(exports, rows)
    opts = _options(
        helix, records=records, events=exports / "events.csv",
        event_definitions=exports / "defs.csv", dictionary=exports / "dd.csv",
    )  # fmt: skip
    r = init(tmp_path / "t", opts)
    assert r.visits == (3, 9)
    assert not any("median time" in w for w in r.warnings)
    t = tomllib.loads(r.path.read_text())
    assert t["visits"]["schedule"] == [
        {"month": 3, "window_days": 14},
        {"month": 9, "window_before_days": 21, "window_after_days": 42},
    ]
    text = " ".join(r.path.read_text().split())
    assert "# event definitions: ../exports/defs.csv" in text
    assert (
        "# events fu2_arm_1: REDCap's event definitions: day 274 after the baseline event, "
        "# offset_min 21 and offset_max 42 days"
    ) in text
    report = ingest(tmp_path / "t", tmp_path / "freeze")
    late = report.queries[report.queries["rule"] == "visit_out_of_window"]
    assert late["message"].tolist() == [
        "visit dt 2024-10-07 is 30 days before the 9-month visit due 2024-11-06 "
        "(window 21 days before, 42 after)"
    ]
    manifest = json.loads((tmp_path / "freeze" / "manifest.json").read_text())
    assert manifest["trial"]["visits"][1] == {
        "month": 9, "window_days": 42, "window_before_days": 21, "window_after_days": 42,
    }  # fmt: skip


def test_an_offset_under_a_month_says_what_init_made_of_the_event(
    helix: Path, tmp_path: Path
) -> None:
    """A follow-up 10 days after baseline in REDCap's definitions gives no month: the
    line says the month init took instead and from what (its forms' dates), once."""
    exports = tmp_path / "exports"
    shutil.copytree(helix / "exports", exports)
    (exports / "defs.csv").write_text(DEFINITIONS.replace(",91,14,14,", ",10,0,0,"))
    r = init(tmp_path / "t", _options(helix, event_definitions=exports / "defs.csv"))
    assert r.visits == (3, 9)
    fu1 = [w for w in r.warnings if w.startswith("event fu1_arm_1")]
    assert fu1 == [
        "event fu1_arm_1: REDCap's event definitions put it 10 days after the baseline event "
        "(day_offset), under a month: init made it the month-3 visit from the median time "
        "from consent to its forms' dates; check that month against the protocol and edit "
        "[visits] if it differs"
    ]


def test_event_definitions_given_as_the_designations(helix: Path, written: tuple) -> None:
    """The events list given as --redcap-events is read as the event definitions, and the
    forms each event collects come from its rows (the same tables)."""
    r = init(helix / "as-events", _options(helix, events=helix / "exports" / "defs.csv"))
    assert r.warnings[0] == (
        "--redcap-events defs.csv is the event definitions, not the instrument designations: "
        "read as --redcap-event-definitions (visit months and windows)"
    )
    assert any(w.startswith("no --redcap-events: each event's forms") for w in r.warnings)
    t = tomllib.loads(r.path.read_text())
    assert t["tables"] == written[1]["toml"]["tables"]
    assert [v["month"] for v in t["visits"]["schedule"]] == [3, 9]


@pytest.mark.parametrize(
    ("windows", "schedule", "said"),
    [
        # REDCap's windows overlap (a month is at least 28 days): each narrowed to half
        (
            ((14, 100), (100, 42)),
            [
                {"month": 3, "window_before_days": 14, "window_after_days": 83},
                {"month": 9, "window_before_days": 84, "window_after_days": 42},
            ],
            "the windows of the 3- and 9-month visits (100 days after, 100 before) may "
            "overlap: narrowed to 83 and 84 days",
        ),
        # no window set for the first: half the gap, but clear of the next one's
        (
            ((0, 0), (150, 10)),
            [
                {"month": 3, "window_days": 17},
                {"month": 9, "window_before_days": 150, "window_after_days": 10},
            ],
            None,
        ),
    ],
)
def test_redcap_windows_that_would_overlap(
    helix: Path, tmp_path: Path, windows: tuple, schedule: list, said: str | None
) -> None:
    (a, b), (c, e) = windows
    (tmp_path / "defs.csv").write_text(
        "unique_event_name,day_offset,offset_min,offset_max\nbaseline_arm_1,0,0,0\n"
        f"fu1_arm_1,91,{a},{b}\nfu2_arm_1,274,{c},{e}\n"
    )
    r = init(tmp_path / "t", _options(helix, event_definitions=tmp_path / "defs.csv"))
    assert tomllib.loads(r.path.read_text())["visits"]["schedule"] == schedule
    assert (said in r.warnings) if said else not any("narrowed" in w for w in r.warnings)


def test_a_definition_is_replaced_only_while_odtrial_init_wrote_it(
    helix: Path, written: tuple[Path, dict]
) -> None:
    path = written[0]
    init(path.parent, _options(helix))  # unchanged since written: replaced
    path.write_text(path.read_text() + "\n# my note\n")
    with pytest.raises(ConfigError, match="was edited since odtrial init wrote it"):
        init(path.parent, _options(helix))
    assert path.read_text().endswith("# my note\n")
    mine = helix / "mine"
    mine.mkdir()
    (mine / "trial.toml").write_text("# a definition written by hand\n")
    with pytest.raises(ConfigError, match="exists and was not written by odtrial"):
        init(mine, _options(helix))
    assert (mine / "trial.toml").read_text() == "# a definition written by hand\n"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"cluster_field": "cluster"}, "--cluster-field 'cluster' is not a field"),
        ({"cluster_field": "med_name"}, "is on a repeating form"),
        ({"consent_field": "pain"}, "--consent-field 'pain' is not a date field"),
        # a typo would leave the field it meant as it is
        (
            {"pseudonymise": ("initals",)},
            "^--pseudonymise 'initals' is not a field of the data dictionary; did you mean "
            "'initials'\\?$",
        ),
        ({"pseudonymise": ("qzx",)}, r"\(its identifier fields: nhs, initials\)$"),
        ({"pseudonymise": ("pain",)}, "'pain' is a radio field, not an identifier"),
        ({"pseudonymise": ("weight",)}, r"'weight' is a text field \(number\), not an"),
        ({"pseudonymise": ("gp_practice",)}, "'gp_practice' is the cluster field"),
        (
            {"event_definitions": Path("exports/events.csv")},
            "events.csv: this is the instrument designations: give it as --redcap-events",
        ),
        (
            {"events": Path("exports/defs.csv"), "event_definitions": Path("exports/defs.csv")},
            "is the event definitions, and --redcap-event-definitions is given too",
        ),
    ],
)
def test_what_init_cannot_use_is_one_line(helix: Path, change: dict, match: str) -> None:
    change = {k: helix / v if isinstance(v, Path) else v for k, v in change.items()}
    with pytest.raises(ConfigError, match=match):
        init(helix / "other", _options(helix, **change))


def test_what_pseudonymise_does_with_each_field(helix: Path, tmp_path: Path) -> None:
    """An identifier or free text is pseudonymised; a field odtrial keeps out of the
    freeze anyway is a warning saying how."""
    names = ("initials", "med_name", "nhs", "study_no")
    r = init(tmp_path / "t", _options(helix, pseudonymise=names))
    t = tomllib.loads(r.path.read_text())
    assert _field(t, "participants", "initials")["identifier"] == "pseudonymise"
    assert _field(t, "meds", "med_name")["identifier"] == "pseudonymise"
    assert _field(t, "participants", "nhs_number")["type"] == "nhs_number"
    said = [w for w in r.warnings if w.startswith("--pseudonymise")]
    assert said == [
        "--pseudonymise 'med_name' is not marked an identifier in the data dictionary: "
        "frozen as a keyed pseudonym as asked",
        "--pseudonymise 'nhs': an NHS number is checked (Modulus 11) and never frozen; "
        "nothing more to do",
        "--pseudonymise 'study_no': the record id is frozen only as participant_id, a keyed "
        "pseudonym; nothing more to do",
    ]


def _classic(folder: Path, forms: tuple[str, ...], started: int) -> Path:
    """A classic project (no events, no groups) of HELIX's ``forms``: each record's
    first follow-up values are on its one row for the first ``started`` records."""
    fields = [f for f in FIELDS if f[1] in forms]
    names = {f[0] for f in fields}
    header = [h for h in HEADER if h.split("___")[0] in names or h in (
        "redcap_repeat_instrument", "redcap_repeat_instance",
        *(f"{form}_complete" for form in forms),
    )]  # fmt: skip
    rows, n = [], 0
    for r in _rows():
        if r["redcap_event_name"] == "baseline_arm_1":
            rows.append({k: v for k, v in r.items() if k in header})
            n += not r.get("redcap_repeat_instrument")
        elif r["redcap_event_name"] == "fu1_arm_1" and n <= started:
            base = next(b for b in rows if b["study_no"] == r["study_no"])
            base.update({k: v for k, v in r.items() if k in header and k != "study_no"})
    rows[0]["gp_practice"] = "1"
    folder.mkdir()
    (folder / "dd.csv").write_text(_dictionary(fields))
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (folder / "records.csv").write_text(buf.getvalue())
    _record(folder / "rnd")
    return folder


def _classic_options(folder: Path, **kw: object) -> InitOptions:
    base = {
        "dictionary": folder / "dd.csv",
        "records": folder / "records.csv",
        "randomisation": folder / "rnd",
        "cluster_field": "gp_practice",
        "data_cutoff": date(2025, 1, 31),
        "test_key": "classic-key",
    }
    return InitOptions(**(base | kw))  # type: ignore[arg-type]


def test_a_classic_project_with_one_site(tmp_path: Path) -> None:
    """No events and no data access groups: the participants are the cluster field's
    form; a later form is a table of the rows where it holds data, at the visit its
    dates give; a repeating instrument a table of its rows; one site. A record whose
    follow-up form is not started yet is missing data, not a quarantined baseline."""
    d = _classic(tmp_path / "c", ("screening", "meds", "visit"), started=6)
    r = init(d / "t", _classic_options(d))
    assert r.tables == {"participants": 9, "meds": 4, "visit": 7} and r.trusts == ("site",)
    assert r.visits == (3,)
    t = tomllib.loads(r.path.read_text())
    visit = t["tables"]["visit"]
    assert (visit["link"], visit["visit"], visit["date"]) == ("study_no", "visit", "visit_dt")
    assert visit["rules"][0]["code"] == "duplicate_record"
    assert t["extracts"]["site"]["visit"]["constants"] == {"visit": 3}
    assert t["visits"]["schedule"] == [{"month": 3, "window_days": 41}]
    assert t["trial"]["follow_up_months"] == 3
    assert any("form 'visit': its visit, month 3" in w for w in r.warnings)
    rep = ingest(d / "t", tmp_path / "freeze")
    # the second participant's severe pain has no site: they, their medicine and their
    # visit are out; the last two have no visit yet and are in
    assert rep.by_table().to_dict("index") == {
        "participants": {"rows_read": 8, "rows_accepted": 7, "rows_quarantined": 1},
        "meds": {"rows_read": 8, "rows_accepted": 7, "rows_quarantined": 1},
        "visit": {"rows_read": 6, "rows_accepted": 5, "rows_quarantined": 1},
    }
    assert set(rep.queries["rule"]) == {"missing_value", "unknown_participant"}
    frozen = pd.read_parquet(tmp_path / "freeze" / "tables" / "visit.parquet")
    assert set(frozen["visit"]) == {3}


def test_a_classic_project_with_no_dated_later_form_has_a_placeholder_visit(
    tmp_path: Path,
) -> None:
    """Nothing after baseline gives a month, but a definition needs a visit: the one
    written is the longest follow-up the export holds (first consent, 2024-01-10, to the
    cut-off), marked as a placeholder to edit."""
    d = _classic(tmp_path / "c", ("screening", "meds"), started=0)
    r = init(d / "t", _classic_options(d, data_cutoff=date(2024, 11, 30)))
    assert r.tables == {"participants": 9, "meds": 4} and r.visits == (10,)
    assert any("is a placeholder" in w for w in r.warnings)
    text = r.path.read_text()
    assert "follow_up_months = 10  # edit: a placeholder" in text
    assert "# edit: a placeholder: no event or form after baseline gives a visit month" in text


def test_an_event_repeated_whole_is_a_table_of_its_instances(helix: Path, tmp_path: Path) -> None:
    """HELIX's first follow-up repeats whole (REDCap's repeating events: each instance a
    row with an instance number and no instrument): each instance is a record keyed by
    record, event and instance, like a repeating instrument's; an instance twice is
    duplicate_instance. Its name gives no month, so it is no scheduled visit."""
    rows = []
    for r in _rows():
        if r["redcap_event_name"] != "fu1_arm_1":
            rows.append(r)
            continue
        rows.append(r | {"redcap_repeat_instance": "1"})
        if r["study_no"] == "H003":
            rows.append(r | {"redcap_repeat_instance": "2", "weight": "71"})
        if r["study_no"] == "H005":
            rows.append(r | {"redcap_repeat_instance": "1", "weight": "72"})
    exports = tmp_path / "exports"
    shutil.copytree(helix / "exports", exports)
    records = _write_records(exports, rows)
    opts = _options(
        helix, dictionary=exports / "dd.csv", events=exports / "events.csv", records=records
    )
    r = init(tmp_path / "t", opts)
    assert r.tables == {
        "participants": 9, "meds": 5, "visit": 8, "visit_repeats": 8, "qol": 5,
        "qol_repeats": 5,
    }  # fmt: skip
    assert r.visits == (9,)
    assert any(w.startswith("event fu1_arm_1 repeats whole and gives no month") for w in r.warnings)
    t = tomllib.loads(r.path.read_text())
    reps = t["tables"]["visit_repeats"]
    assert [f["name"] for f in reps["fields"]][:3] == [
        "study_no", "redcap_event", "redcap_repeat_instance",
    ]  # fmt: skip
    assert "visit" not in reps and "visit" in t["tables"]["visit"]
    assert reps["rules"][0]["code"] == "duplicate_instance"
    assert t["extracts"]["north"]["visit_repeats"]["where"] == {
        "redcap_data_access_group": "north", "redcap_event_name": "fu1_arm_1",
        "redcap_repeat_instrument": "",
    }  # fmt: skip
    assert t["extracts"]["north"]["visit"]["where"]["redcap_event_name"] == "fu2_arm_1"
    # forms of a repeating event share its instance's row: qol borrows its weight
    assert _field(t, "qol_repeats", "qol_score")["required_if"] == "[weight] >= 40"
    rep = ingest(tmp_path / "t", tmp_path / "freeze")
    # H001 (an unknown cluster) and H002 (no days of cough) are out; H005's instance twice
    assert rep.by_table().loc["visit_repeats"].to_dict() == {
        "rows_read": 10, "rows_accepted": 7, "rows_quarantined": 3,
    }  # fmt: skip
    dup = rep.queries[rep.queries["rule"] == "duplicate_instance"]
    assert dup[["source_row", "value"]].values.tolist() == [[21, "H005"]]
    frozen = pd.read_parquet(tmp_path / "freeze" / "tables" / "visit_repeats.parquet")
    assert frozen["redcap_repeat_instance"].value_counts().to_dict() == {1: 6, 2: 1}
    # with the event definitions its day offset gives it a month: a visit, which each
    # instance names (no visit role: an instance's date is its own, like a repeat's)
    r = init(tmp_path / "t2", replace(opts, event_definitions=exports / "defs.csv"))
    assert r.visits == (3, 9)
    reps = tomllib.loads(r.path.read_text())["tables"]["visit_repeats"]
    assert _field({"tables": {"v": reps}}, "v", "visit")["type"] == "visit"
    assert "visit" not in reps


def test_a_choice_naming_no_cluster_keeps_the_code_when_codes_are_the_ids(
    helix: Path, tmp_path: Path
) -> None:
    """Choices coded by practice id, labelled by name: the choice of a practice that was
    never randomised is frozen (and queried) as its code, like the others, not its label."""
    choices = "N1, North One | N2, North Two | S1, South One | S2, South Two | X9, Oak (withdrew)"
    fields = [f if f[0] != "gp_practice" else (*f[:4], choices, *f[5:]) for f in FIELDS]
    exports = tmp_path / "exports"
    shutil.copytree(helix / "exports", exports)
    (exports / "dd.csv").write_text(_dictionary(fields))
    by_id = {"1": "N1", "2": "N2", "3": "S1", "4": "S2", "5": "X9"}
    rows = [r | {"gp_practice": by_id[r["gp_practice"]]} if "gp_practice" in r else r
            for r in _rows()]  # fmt: skip
    records = _write_records(exports, rows)
    opts = _options(helix, dictionary=exports / "dd.csv", records=records)
    r = init(tmp_path / "trial", opts)
    t = tomllib.loads(r.path.read_text())
    assert t["vocabularies"]["clusters"] == ["N1", "N2", "S1", "S2", "X9"]
    assert any("X9 'Oak (withdrew)'" in w and "unknown_cluster" in w for w in r.warnings)
    ingest(r.path.parent, tmp_path / "freeze", config=r.path)
    q = pd.read_csv(tmp_path / "freeze" / "queries.csv", dtype=str, keep_default_na=False)
    (hit,) = q[q.rule == "unknown_cluster"].itertuples()
    assert "'X9'" in hit.message and "Oak" not in hit.message


def test_a_notes_field_is_frozen_but_left_out_of_the_analysis_dataset(
    helix: Path, tmp_path: Path
) -> None:
    """Paragraphs someone typed may name people: init marks a notes field free_text, the
    freeze keeps it for the data manager, the analysis dataset leaves it out."""
    from odtrial.data.derive import derive

    notes = ("comments", "screening", "notes", "Comments", "", "", "", "", "", "", "")
    exports = tmp_path / "exports"
    shutil.copytree(helix / "exports", exports)
    (exports / "dd.csv").write_text(_dictionary([*FIELDS, notes]))
    rows = _rows()
    for r in rows:
        if r.get("redcap_event_name") == "baseline_arm_1" and "consent_dt" in r:
            r["comments"] = "spoke to her daughter, Mrs Q. Example"
    buf = io.StringIO()
    w = csv.DictWriter(buf, [*HEADER, "comments"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    records = exports / "HELIX_DATA_2025-03-31_0930.csv"
    records.write_text(buf.getvalue())
    r = init(tmp_path / "trial", _options(helix, dictionary=exports / "dd.csv", records=records))
    t = tomllib.loads(r.path.read_text())
    assert _field(t, "participants", "comments")["free_text"] is True
    assert "free_text" not in _field(t, "participants", "initials")
    fz = tmp_path / "freeze"
    ingest(r.path.parent, fz, config=r.path)
    frozen = pd.read_parquet(fz / "tables" / "participants.parquet")
    assert frozen["comments"].notna().sum() > 0  # kept for the data manager
    manifest = json.loads((fz / "manifest.json").read_text())
    assert manifest["tables"]["participants"]["free_text"] == ["comments"]
    ds = derive(fz)
    assert "comments" not in ds.columns and "pain" in ds.columns
    assert not ds.astype(str).apply(lambda c: c.str.contains("Example")).any().any()
