"""``odtrial check`` on trials ``odtrial init`` wrote from REDCap exports: the shipped
STEADY project, a placeholder visit init made up, and a records export twice."""

from __future__ import annotations

import csv
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from odtrial.check import check
from odtrial.data.ingest import ingest
from odtrial.errors import IngestError
from odtrial.redcap.init import init
from odtrial.redcap.options import InitOptions

STEADY = Path(__file__).resolve().parents[1] / "data" / "synthetic_redcap"
EXPORT = "STEADY_DATA_2025-06-30_1200.csv"
NEWER = "STEADY_DATA_2025-07-31_1200.csv"


@pytest.fixture
def steady(tmp_path: Path) -> Path:
    dst = tmp_path / "steady"
    shutil.copytree(STEADY, dst)
    return dst


def _enrolment_only(folder: Path) -> InitOptions:
    """STEADY cut to a classic project of its enrolment form: no events, baseline rows
    only, so no event or form after baseline gives a visit month."""
    folder.mkdir()
    redcap = STEADY / "redcap"
    with (redcap / "STEADY_DataDictionary_2025-06-30.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    fields = {r[0] for r in rows[1:] if r[1] == "enrolment"}
    with (folder / "dd.csv").open("w", newline="") as f:
        csv.writer(f).writerows([rows[0], *(r for r in rows[1:] if r[1] == "enrolment")])
    with (redcap / EXPORT).open(newline="", encoding="utf-8-sig") as f:
        records = list(csv.DictReader(f))
    keep = [
        c
        for c in records[0]
        if c.split("___")[0] in fields or c in ("redcap_data_access_group", "enrolment_complete")
    ]
    with (folder / "records.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, keep, extrasaction="ignore")
        w.writeheader()
        w.writerows(
            r
            for r in records
            if r["redcap_event_name"] == "baseline_arm_1" and not r["redcap_repeat_instrument"]
        )
    shutil.copytree(STEADY / "randomisation", folder / "randomisation")
    return InitOptions(
        dictionary=folder / "dd.csv",
        records=folder / "records.csv",
        randomisation=folder / "randomisation",
        cluster_field="care_home",
        data_cutoff=date(2025, 6, 30),
        test_key="steady-test-key",
    )


def test_the_shipped_redcap_trial_passes() -> None:
    """Nine extracts share one records export: one file matches, no error."""
    r = check(STEADY)
    assert r.errors == ()
    assert r.summary() == (
        f"{STEADY / 'trial.toml'}: OK: 3 trusts, 18 clusters, 9 extract patterns each "
        "matching a file, randomisation record verified"
    )


def test_init_s_placeholder_visit_is_an_error_until_the_protocol_s_visits_replace_it(
    tmp_path: Path, cli: pytest.CaptureFixture[str]
) -> None:
    opts = _enrolment_only(tmp_path / "classic")
    written = init(tmp_path / "classic" / "t", opts)
    assert written.visits == (27,)
    trial_dir = written.path.parent
    cfg = written.path
    assert "{ month = 27, window_days = 92, placeholder = true }" in cfg.read_text()
    r = check(trial_dir)
    assert r.errors == (
        f"{cfg}: key 'visits.schedule[0].placeholder': the 27-month visit is a placeholder "
        "odtrial init wrote (the exports give no visit month): put the protocol's visits in "
        "[visits] schedule, without placeholder = true, and the last one's month in "
        "trial.follow_up_months",
    )
    code, out, err = cli(["check", str(trial_dir)])
    assert code == 2 and out == ""
    assert err.splitlines() == [f"odtrial: error: {r.errors[0]}", f"{cfg}: 1 error"]

    text = cfg.read_text()
    text = text.replace(
        "{ month = 27, window_days = 92, placeholder = true }",
        "{ month = 6, window_days = 60 },\n  { month = 12, window_days = 60 }",
    )
    cfg.write_text(text.replace("follow_up_months = 27", "follow_up_months = 12"))
    r = check(trial_dir)
    assert r.ok, r.errors
    assert r.trial is not None and [v.month for v in r.trial.visits] == [6, 12]


def test_a_second_records_export_is_ingest_s_line_with_its_key_path(
    steady: Path, tmp_path: Path, cli: pytest.CaptureFixture[str]
) -> None:
    """Each export holds every record: one line for the pattern the nine extracts
    share, the one ingest refuses with, at the key where the pattern is written."""
    shutil.copy(steady / "redcap" / EXPORT, steady / "redcap" / NEWER)
    with pytest.raises(IngestError) as refused:
        ingest(steady, tmp_path / "freeze")
    cfg = steady / "trial.toml"
    r = check(steady)
    assert r.errors == (f"{cfg}: key 'extracts.exeter.participants.pattern': {refused.value}",)
    assert str(refused.value) == (
        f"redcap/STEADY_DATA_*.csv: matches 2 REDCap records exports (redcap/{EXPORT}, "
        f"redcap/{NEWER}); each holds every record, so keep only the latest in the folder"
    )
    code, _, err = cli(["check", str(steady)])
    assert code == 2 and err.splitlines()[-1] == f"{cfg}: 1 error"


def test_each_folder_and_pattern_is_its_own_line_at_the_key_that_writes_it(
    steady: Path,
) -> None:
    """A site in its own folder with two exports is named by the pattern its extracts
    are ``like``; a pattern of its own, matching two exports, by its own key."""
    cfg = steady / "trial.toml"
    text = cfg.read_text()
    old = 'id = "leeds"\nname = "leeds"  # edit: the site\'s name\ndirectory = "redcap"'
    assert old in text
    text = text.replace(old, old.replace('directory = "redcap"', 'directory = "leeds"'))
    own = '[extracts.nottingham.follow_up]\nlike = "exeter"\n'
    assert own in text
    text = text.replace(own, own + 'pattern = "STEADY_DATA_2025-0*.csv"\n')
    cfg.write_text(text)
    (steady / "leeds").mkdir()
    for name in (EXPORT, NEWER):
        shutil.copy(steady / "redcap" / EXPORT, steady / "leeds" / name)
    shutil.copy(steady / "redcap" / EXPORT, steady / "redcap" / "STEADY_DATA_2025-07-01_0900.csv")
    r = check(steady)
    assert [re.sub(r": matches .*", "", e.removeprefix(f"{cfg}: ")) for e in r.errors] == [
        "key 'extracts.exeter.participants.pattern': redcap/STEADY_DATA_*.csv",
        "key 'extracts.exeter.participants.pattern': leeds/STEADY_DATA_*.csv",
        "key 'extracts.nottingham.follow_up.pattern': redcap/STEADY_DATA_2025-0*.csv",
    ]
