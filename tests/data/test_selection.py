"""One file, several extracts: rows shared out by ``where``/``filled``, each row counted once.

A hand-written trial whose two sites send one records file together (the second
site's extracts are ``like`` the first's but for their ``where``): a ``site``
column says whose row it is, a ``kind`` column whether it is a baseline or a
6-month visit, and a visit row is a record only when one of its columns holds a
value (an unticked ``ticked`` box, ``0``, counts as blank). Rows of an unknown kind
or site, an empty visit row and a malformed line are assigned to no table; a visit
missing a field its ``required_if`` condition requires is quarantined; one missing a
field required under a condition odtrial cannot evaluate is a warning.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from odtrial.data.ingest import ingest
from odtrial.errors import IngestError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trial_text import trial_head

TRIAL = trial_head(
    "Shared records file (test)", "selection-test-key", data_cutoff="2024-12-31"
) + textwrap.dedent(
    """
    [tables.participants]
    key = "pid"
    consent_date = "consented"
    cluster = "cluster"
    fields = [
      { name = "pid", type = "string" },
      { name = "cluster", type = "string" },
      { name = "consented", type = "date" },
      { name = "name", type = "string", required = false, identifier = "drop" },
    ]

    [tables.visits]
    link = "pid"
    date = "seen"
    visit = "month"
    fields = [
      { name = "pid", type = "string" },
      { name = "month", type = "visit" },
      { name = "seen", type = "date" },
      { name = "admitted", type = "boolean", required = false },
      { name = "nights", type = "integer", required_if = "[admitted] = true" },
      { name = "why", type = "string", required_if_unchecked = "sum([nights], 2) > 3" },
      { name = "ticked", type = "boolean", required = false },
    ]

    [[trusts]]
    id = "N"
    name = "North"
    directory = "records"

    [[trusts]]
    id = "S"
    name = "South"
    directory = "records"

    [[strata]]
    id = "NR"
    trust = "N"

    [[strata]]
    id = "SR"
    trust = "S"

    [[clusters]]
    id = "N1"
    stratum = "NR"
    arm = "I"

    [[clusters]]
    id = "N2"
    stratum = "NR"
    arm = "C"

    [[clusters]]
    id = "S1"
    stratum = "SR"
    arm = "I"

    [[clusters]]
    id = "S2"
    stratum = "SR"
    arm = "C"
    """
)


def _extracts(trust: str, site: str) -> str:
    """Trust S's extracts are ``like`` these, with their own ``where``."""
    return textwrap.dedent(
        f"""
        [extracts.{trust}.participants]
        pattern = "records_*.csv"
        format = "csv"
        hint = "export the records again"
        columns = {{ pid = "id", cluster = "cluster", consented = "consent", name = "name" }}
        where = {{ site = "{site}", kind = "baseline" }}

        [extracts.{trust}.visits]
        pattern = "records_*.csv"
        format = "csv"
        columns = {{ pid = "id", month = "kind", seen = "seen", admitted = "adm", nights = "nights", why = "why", ticked = "ticked" }}
        codes.month = {{ month6 = 6 }}
        codes.admitted = {{ 1 = true, 0 = false }}
        codes.ticked = {{ 1 = true, 0 = false }}
        where = {{ site = "{site}", kind = ["month6"] }}
        filled = {{ seen = [], adm = [], ticked = ["0"] }}
        """
    )


HEADER = "id,site,kind,name,cluster,consent,seen,adm,nights,why,ticked"
ROWS = [
    "p1,north,baseline,Ann Example,N1,2024-01-10,,,,,0",  # 1
    "p2,north,baseline,Bob Example,N2,2024-01-11,,,,,0",  # 2
    "p3,south,baseline,Cy Example,S1,2024-01-12,,,,,0",  # 3
    "p1,north,month6,,,,2024-07-10,1,3,,0",  # 4 accepted
    "p2,north,month6,,,,2024-07-11,1,,,0",  # 5 nights required: quarantined
    "p3,south,month6,,,,,,,,0",  # 6 nothing filled: empty_record
    "p3,south,month9,,,,2024-10-12,0,,,0",  # 7 unknown kind: unmatched_row
    "p4,west,baseline,Di Example,N1,2024-01-13,,,,,0",  # 8 unknown site: unmatched_row
    "p3,south,month6,,,,2024-07-12,0,,,1",  # 9 accepted, 'why' empty: warning
    "p5,south,baseline,Ed Example,S2,2024-01-14,,,,,0,extra",  # 10 malformed
]


@pytest.fixture
def trial_dir(tmp_path: Path) -> Path:
    d = tmp_path / "trial"
    (d / "records").mkdir(parents=True)
    like = textwrap.dedent(
        """
        [extracts.S.participants]
        like = "N"
        where = { site = "south", kind = "baseline" }

        [extracts.S.visits]
        like = "N"
        where = { site = "south", kind = ["month6"] }
        """
    )
    (d / "trial.toml").write_text(TRIAL + _extracts("N", "north") + like)
    (d / "records" / "records_2024.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    return d


def test_every_row_of_the_shared_file_is_counted_once(trial_dir: Path, tmp_path: Path) -> None:
    report = ingest(trial_dir, tmp_path / "freeze")
    manifest = json.loads((tmp_path / "freeze" / "manifest.json").read_text())
    (entry,) = manifest["inputs"]
    assert entry["path"] == "records/records_2024.csv"
    assert entry["rows_read"] == 10
    assert entry["rows_accepted"] + entry["rows_quarantined"] == 10
    # accepted: the three baselines, visits 4 and 9; quarantined: 5..8 and 10
    assert (entry["rows_accepted"], entry["rows_quarantined"], entry["rows_unassigned"]) == (
        5,
        5,
        4,
    )
    records = {(r["trust"], r["table"]): r for r in entry["records"]}
    assert records["N", "visits"]["rows"] == 2
    assert records["N", "visits"]["rows_quarantined"] == 1
    assert records["S", "participants"]["rows"] == 1
    assert sum(r["rows"] for r in entry["records"]) + entry["rows_unassigned"] == 10
    assert "records/records_2024.csv: 10 rows, 5 accepted, 5 quarantined" in report.summary()

    visits = pd.read_parquet(tmp_path / "freeze" / "tables" / "visits.parquet")
    assert visits["source_row"].tolist() == [4, 9]
    assert visits["trust"].tolist() == ["N", "S"]
    people = pd.read_parquet(tmp_path / "freeze" / "tables" / "participants.parquet")
    assert sorted(people["source_row"]) == [1, 2, 3]
    assert "name" not in people.columns

    q = pd.read_csv(tmp_path / "freeze" / "queries.csv", dtype=str, keep_default_na=False)
    got = {(int(r.source_row), r.rule, r.field) for r in q.itertuples()}
    assert got == {
        (4, "unchecked_requirement", "why"),
        (5, "missing_value", "nights"),
        (5, "unchecked_requirement", "why"),
        (6, "empty_record", ""),
        (7, "unmatched_row", "kind"),
        (8, "unmatched_row", "site"),
        (9, "unchecked_requirement", "why"),
        (10, "malformed_line", ""),
    }
    msg = dict(zip(q["source_row"] + q["rule"], q["message"], strict=True))
    assert msg["5missing_value"] == "nights is empty but required when [admitted] = true"
    assert "kind 'month9' is taken by no table" in msg["7unmatched_row"]
    assert "'baseline', 'month6'" in msg["7unmatched_row"]
    assert "site 'west' is taken by no table" in msg["8unmatched_row"]
    assert "no value in the columns of visits (seen, adm, ticked)" in msg["6empty_record"]
    assert "which odtrial cannot evaluate" in msg["9unchecked_requirement"]
    trust = dict(zip(q["source_row"], q["trust"], strict=True))
    assert (trust["7"], trust["8"]) == ("S", "")  # an unknown site is no trust's
    # the malformed line's text (it holds a name) is withheld
    assert "Ed Example" not in (tmp_path / "freeze" / "queries.csv").read_text()
    un = pd.read_parquet(tmp_path / "freeze" / "quarantine" / "_unassigned.parquet")
    assert un["source_row"].tolist() == [6, 7, 8, 10]


def test_a_missing_column_names_its_use_and_the_hint(trial_dir: Path, tmp_path: Path) -> None:
    f = trial_dir / "records" / "records_2024.csv"
    f.write_text(f.read_text().replace("kind", "event"))
    with pytest.raises(
        IngestError,
        match=r"column 'kind' \(named by extracts\.N\.participants\.where\.kind\) is missing; .*"
        r"\(export the records again\)$",
    ):
        ingest(trial_dir, tmp_path / "freeze")


def test_two_extracts_of_one_table_may_not_take_one_row(trial_dir: Path, tmp_path: Path) -> None:
    t = trial_dir / "trial.toml"
    t.write_text(t.read_text().replace('site = "south", kind = "baseline"', 'kind = "baseline"'))
    with pytest.raises(IngestError, match=r"row 1 is taken by the participants extracts of"):
        ingest(trial_dir, tmp_path / "freeze")


def test_odtrial_check_names_a_selection_column_the_file_lacks(trial_dir: Path) -> None:
    from odtrial.check import check

    f = trial_dir / "records" / "records_2024.csv"
    f.write_text(f.read_text().replace("kind", "event"))
    errors = check(trial_dir).errors
    assert any(
        "key 'extracts.N.visits.where.kind' names column 'kind', which "
        "records/records_2024.csv does not have" in e
        for e in errors
    ), errors
