"""``odtrial check``: every trial-definition and plan error at once, one line each."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from odtrial.check import check

ROOT = Path(__file__).resolve().parents[1]
TRIAL = ROOT / "data" / "synthetic"
PLAN = ROOT / "analysis_plans" / "pod_synthetic_sap.toml"


@pytest.fixture
def trial_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "trial"
    shutil.copytree(TRIAL, dst)
    return dst


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count))


def test_the_shipped_trial_and_plan_pass(cli):
    r = check(TRIAL, PLAN)
    assert r.ok and r.errors == ()
    assert r.trial is not None and r.plan is not None
    code, out, err = cli(["check", str(TRIAL), "--plan", str(PLAN)])
    assert code == 0 and err == ""
    assert out.strip() == r.summary()
    assert re.fullmatch(
        r".*trial\.toml and .*pod_synthetic_sap\.toml: OK: 6 trusts, 32 clusters, 42 extract "
        r"patterns each matching a file, randomisation record verified; plan version \S+, "
        r"\d+ outcomes",
        out.strip(),
    )


def test_a_broken_trial_lists_every_error_and_exits_2(trial_copy, cli):
    cfg = trial_copy / "trial.toml"
    _edit(cfg, "follow_up_months = 24", "follow_up_month = 24")
    _edit(cfg, 'column = "catchment"', 'column = "catchmnt"')
    _edit(cfg, 'format = "csv"', 'format = "cvs"')
    # extract files and the record are checked only once the definition is valid
    r = check(trial_copy)
    assert [re.sub(r"^\S+: ", "", e) for e in r.errors] == [
        "key 'trial.follow_up_month' is not a known key; did you mean 'follow_up_months'? "
        "(allowed: arms, data_cutoff, follow_up_months, name, registration, synthetic)",
        "key 'trial.follow_up_months' is missing",
        "key 'randomisation.strata.column' must be one of the cluster fields trust, "
        "catchment, got 'catchmnt'; did you mean 'catchment'?",
        "key 'extracts.NELFT.participants.format' must be one of csv, excel, sav, dta, xpt, "
        "sas7bdat, got 'cvs'; did you mean 'csv'?",
    ]
    assert all(e.startswith(f"{cfg}: ") for e in r.errors)
    code, out, err = cli(["check", str(trial_copy)])
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[:-1] == [f"odtrial: error: {e}" for e in r.errors]
    assert lines[-1] == f"{cfg}: 4 errors"
    assert "Traceback" not in err


def test_missing_extract_files_and_an_edited_record_are_listed(trial_copy, cli):
    cfg = trial_copy / "trial.toml"
    for f in (trial_copy / "nelft").glob("admissions_*.csv"):
        f.unlink()
    shutil.rmtree(trial_copy / "somerset")
    _edit(trial_copy / "randomisation" / "allocation.csv", "POD", "TAU")
    _edit(cfg, 'date_format = "%Y-%m-%d"', 'date_format = "%Y-%Q-%d"')
    r = check(trial_copy)
    errors = [e.removeprefix(f"{cfg}: ") for e in r.errors]
    assert len(errors) == 4, errors
    assert re.fullmatch(r"key 'extracts\.NELFT\.\w+\.date_format' is '%Y-%Q-%d', .*", errors[0])
    assert errors[1] == (
        "key 'extracts.NELFT.admissions.pattern' 'admissions_*.csv' matches no file in "
        f"{trial_copy / 'nelft'}"
    )
    assert errors[2] == (
        f"key 'trusts' names folder 'somerset' for trust SOMPAR, not found in {trial_copy}"
    )
    assert errors[3].startswith("key 'randomisation.record': ")
    code, _, err = cli(["check", str(trial_copy)])
    assert code == 2 and err.splitlines()[-1] == f"{cfg}: 4 errors"
    assert "Traceback" not in err


def test_plan_errors_and_a_plan_for_another_trial(trial_copy, tmp_path, cli):
    # the shipped plan names data/synthetic/trial.toml, not the copy
    r = check(trial_copy, PLAN)
    assert r.errors == (
        f"{PLAN}: key 'plan.trial_config' names {str(TRIAL / 'trial.toml')!r}, "
        f"not the trial checked ({str((trial_copy / 'trial.toml').resolve())!r})",
    )
    bad = tmp_path / "sap.toml"
    shutil.copy(PLAN, bad)
    _edit(bad, "[plan]\n", "[plan]\nstatuss = 1\n")
    _edit(bad, 'trial_config = "../data/synthetic/trial.toml"', 'trial_config = "trial/trial.toml"')
    _edit(bad, 'status = "draft"', 'status = "drafty"')
    r = check(trial_copy, bad)
    assert len(r.errors) == 2 and all(e.startswith(f"{bad}: key 'plan.status") for e in r.errors)
    code, out, err = cli(["check", str(trial_copy), "--plan", str(bad)])
    assert code == 2 and out == ""
    assert err.splitlines() == [
        *(f"odtrial: error: {e}" for e in r.errors),
        f"{trial_copy / 'trial.toml'} and {bad}: 2 errors",
    ]


def test_an_unreadable_trial_is_one_line(tmp_path, cli):
    code, _out, err = cli(["check", str(tmp_path)])
    assert code == 2
    assert err.splitlines()[0].startswith(
        f"odtrial: error: {tmp_path / 'trial.toml'}: cannot read trial configuration"
    )
    assert err.splitlines()[-1] == f"{tmp_path / 'trial.toml'}: 1 error"


def test_a_renamed_column_in_a_csv_and_a_sav_file_is_listed(trial_copy, cli):
    import pyreadstat

    rx = trial_copy / "nelft" / "prescriptions_2025-06-30.csv"
    _edit(rx, "NHSNumber,MedicationName,", "NHSNumber,DrugName,")
    sav = trial_copy / "kent_medway" / "KMPT_POD_baseline_20250630.sav"
    df, meta = pyreadstat.read_sav(str(sav))
    pyreadstat.write_sav(
        df.rename(columns={"consdate": "consent", "workbl": "work"}),
        str(sav),
        variable_value_labels={
            k: v for k, v in meta.variable_value_labels.items() if k not in ("consdate", "workbl")
        },
    )

    result = check(trial_copy)
    cfg = trial_copy / "trial.toml"
    assert list(result.errors) == [
        f"{cfg}: key 'extracts.NELFT.prescriptions.columns.drug' names column "
        "'MedicationName', which nelft/prescriptions_2025-06-30.csv does not have",
        f"{cfg}: key 'extracts.KMPT.participants.columns.consent_date' names column "
        "'consdate', which kent_medway/KMPT_POD_baseline_20250630.sav does not have",
        f"{cfg}: key 'extracts.KMPT.participants.columns.baseline_work_study' names column "
        "'workbl', which kent_medway/KMPT_POD_baseline_20250630.sav does not have",
    ]
    code, out, err = cli(["check", str(trial_copy)])
    assert code == 2
    assert "'MedicationName', which nelft/prescriptions_2025-06-30.csv" in out + err


def test_a_column_twice_in_a_header_is_listed_as_ingest_would_refuse_it(trial_copy, capsys):
    from odtrial.data.ingest import ingest
    from odtrial.errors import IngestError

    rx = trial_copy / "nelft" / "prescriptions_2025-06-30.csv"
    lines = rx.read_text(encoding="utf-8").splitlines(keepends=True)
    rx.write_text(
        lines[0].rstrip("\n") + ",MedicationName\n"
        + "".join(x.rstrip("\n") + ",x\n" for x in lines[1:]),
        encoding="utf-8",
    )  # fmt: skip
    result = check(trial_copy)
    cfg = trial_copy / "trial.toml"
    assert list(result.errors) == [
        f"{cfg}: key 'extracts.NELFT.prescriptions.columns.drug' names column 'MedicationName', "
        "which appears 2 times in nelft/prescriptions_2025-06-30.csv's header: rename or remove "
        "the copies"
    ]
    with pytest.raises(IngestError, match="'MedicationName' appears 2 times in the header"):
        ingest(trial_copy, trial_copy.parent / "freeze")


def test_the_header_check_reads_no_data_row(trial_copy, monkeypatch):
    """Only headers are read: a file whose every data line is garbage still passes,
    and neither the full readers nor a full SPSS read are called."""
    import pyreadstat

    from odtrial.data import readers

    rx = trial_copy / "nelft" / "prescriptions_2025-06-30.csv"
    header = rx.read_text(encoding="utf-8").splitlines()[0]
    rx.write_bytes((header + "\n").encode() + b"\xff\xfe not text, not CSV \x00\n")

    def refuse(*a, **k):
        raise AssertionError("a full read")

    monkeypatch.setattr(readers, "read_extract", refuse)
    real_sav = pyreadstat.read_sav

    def header_only(path, **kw):
        assert kw.get("metadataonly") is True
        return real_sav(path, **kw)

    monkeypatch.setattr(pyreadstat, "read_sav", header_only)
    assert check(trial_copy).errors == ()


BRIDGE = ROOT / "data" / "synthetic_bridge"
BRIDGE_PLAN = ROOT / "analysis_plans" / "bridge_sap.toml"


@pytest.mark.parametrize(
    ("trial", "plan", "edits", "expected"),
    [
        (
            TRIAL,
            PLAN,
            [
                ('field = "work_study"', 'field = "work_sutdy"', 2),
                (
                    'covariates = ["C(catchment)"], df = "between-within", estimation = "REML" }',
                    'covariates = ["C(catchmnt)"], df = "between-within", estimation = "REML" }',
                    1,
                ),
            ],
            [
                "key 'variables.work_study_12m.derivation.field' names no field of table "
                "'followup': 'work_sutdy'; did you mean 'work_study'?",
                "key 'outcomes.work_study_24m.derivation.field' names no field of table "
                "'followup': 'work_sutdy'; did you mean 'work_study'?",
                "key 'outcomes.any_admission.model.covariates[0]' names no column of the "
                "analysis dataset: 'C(catchmnt)'; did you mean 'C(catchment)'?",
            ],
        ),
        (
            BRIDGE,
            BRIDGE_PLAN,
            [('table = "scripts"', 'table = "script"', 1), ('"q9"', '"q10"', 1)],
            [  # the typo in the first of three identical score item lists hits the first
                "key 'variables.phq9_3m.derivation.items[8]' names no field of table 'phq9': "
                "'q10'; did you mean 'q1'?",
                "key 'outcomes.any_antidepressant_12m.derivation.table' names no table of the "
                "freeze: 'script'; did you mean 'scripts'? (tables: clusters, contacts, eq5d, "
                "participants, phq9, scripts)",
            ],
        ),
    ],
    ids=["pod", "bridge"],
)
def test_the_plan_is_checked_against_the_trials_tables(
    tmp_path: Path,
    trial: Path,
    plan: Path,
    edits: list[tuple[str, str, int]],
    expected: list[str],
) -> None:
    bad = tmp_path / "sap.toml"
    shutil.copy(plan, bad)
    # the shipped plans name their trial relative to analysis_plans/
    _edit(bad, f'"../data/{trial.name}/trial.toml"', f'"{trial / "trial.toml"}"')
    for old, new, count in edits:
        _edit(bad, old, new, count)
    r = check(trial, bad)
    assert all(e.startswith(f"{bad}: ") for e in r.errors)
    lines = [e.removeprefix(f"{bad}: ") for e in r.errors]
    assert lines == expected


@pytest.mark.parametrize(
    ("trial", "plan", "old", "new", "expected"),
    [
        (
            TRIAL,
            PLAN,
            'covariates = ["C(catchment)", "baseline_work_study"]',
            'covariates = ["C(region)", "baseline_work_stdy"]',
            [
                ("outcomes.work_study_24m.model.covariates[0]", "'C(region)'", None),
                ("outcomes.work_study_24m.model.covariates[1]", "'baseline_work_stdy'",
                 "'baseline_work_study'"),
            ],
        ),
        (
            BRIDGE,
            BRIDGE_PLAN,
            'covariates = ["C(locality)", "phq9_baseline", "prior_antidepressant"]',
            'covariates = ["C(localty)", "np.log(phq9_basline + 1)", "C(region)", '
            '"prior_antidepressant"]',
            [
                ("outcomes.any_antidepressant_12m.model.covariates[0]", "'C(localty)'",
                 "'C(locality)'"),
                ("outcomes.any_antidepressant_12m.model.covariates[1]",
                 "'np.log(phq9_basline + 1)'", "'np.log(phq9_baseline + 1)'"),
                ("outcomes.any_antidepressant_12m.model.covariates[2]", "'C(region)'", None),
            ],
        ),
    ],
    ids=["pod", "bridge"],
)  # fmt: skip
def test_every_bad_covariate_is_listed_with_its_key_and_a_suggestion(
    tmp_path: Path,
    cli: pytest.CaptureFixture[str],
    trial: Path,
    plan: Path,
    old: str,
    new: str,
    expected: list[tuple[str, str, str | None]],
) -> None:
    """Each term naming no column is its own line, with its index in the key path and the
    nearest term that would be one, else the columns the dataset has."""
    bad = tmp_path / "sap.toml"
    shutil.copy(plan, bad)
    _edit(bad, f'"../data/{trial.name}/trial.toml"', f'"{trial / "trial.toml"}"')
    _edit(bad, old, new)
    code, _, err = cli(["check", str(trial), "--plan", str(bad)])
    assert code == 2
    lines = [e.removeprefix(f"odtrial: error: {bad}: ") for e in err.splitlines()[:-1]]
    assert len(lines) == len(expected), lines
    for line, (key, term, fix) in zip(lines, expected, strict=True):
        head = f"key '{key}' names no column of the analysis dataset: {term}"
        if fix is not None:
            assert line == f"{head}; did you mean {fix}?"
        else:  # no near name: the columns there are, without the model's own structure
            assert line.startswith(f"{head} (columns: ") and line.endswith(")")
            columns = line.removeprefix(f"{head} (columns: ")[:-1].split(", ")
            assert columns == sorted(columns)
            assert {"age_at_consent", "participant_id"} <= set(columns)
            assert not {"cluster_id", "treat", "arm"} & set(columns)
    assert err.splitlines()[-1].endswith(f"{len(expected)} errors")


@pytest.mark.parametrize(
    ("trial", "plan", "columns"),
    [
        (TRIAL, PLAN, ("work_study_12m", "work_study_24m")),
        (BRIDGE, BRIDGE_PLAN, ("phq9_3m", "phq9_24m")),
    ],
    ids=["pod", "bridge"],
)
def test_every_missing_data_column_the_dataset_lacks_is_listed(
    tmp_path: Path, trial: Path, plan: Path, columns: tuple[str, str]
) -> None:
    bad = tmp_path / "sap.toml"
    shutil.copy(plan, bad)
    _edit(bad, f'"../data/{trial.name}/trial.toml"', f'"{trial / "trial.toml"}"')
    first, last = columns
    _edit(bad, f'{{ column = "{first}"', f'{{ column = "{first}x"')
    _edit(bad, f'{{ column = "{last}"', '{ column = "nothing_like_it"')
    n = 2 if trial == TRIAL else 3
    assert [e.removeprefix(f"{bad}: ") for e in check(trial, bad).errors] == [
        "key 'missing_data.variables[0].column' names no column of the analysis dataset: "
        f"'{first}x'; did you mean '{first}'?",
        f"key 'missing_data.variables[{n - 1}].column' names no column of the analysis "
        "dataset: 'nothing_like_it'",
    ]


@pytest.mark.parametrize(
    ("trial", "first", "second"),
    [
        (TRIAL, '  { code = "POD", label = "Peer-supported Open Dialogue" },\n',
         '  { code = "TAU", label = "Treatment as usual" },\n'),
        (BRIDGE, '  { code = "CC", label = "Collaborative care" },\n',
         '  { code = "UC", label = "Usual care" },\n'),
    ],
    ids=["pod", "bridge"],
)  # fmt: skip
def test_a_record_that_disagrees_with_the_definition_is_one_clean_line(
    tmp_path: Path, cli: pytest.CaptureFixture[str], trial: Path, first: str, second: str
) -> None:
    """The record's message names the file and the key once (it used to repeat both)."""
    src = tmp_path / "trial"
    shutil.copytree(trial, src)
    cfg = src / "trial.toml"
    _edit(cfg, first + second, second + first)
    a, b = (re.search(r'code = "(\w+)"', x).group(1) for x in (first, second))  # type: ignore[union-attr]
    want = (
        f"key 'randomisation.record': the record's arms ['{a}', '{b}'] differ from "
        f"trial.arms ['{b}', '{a}']"
    )
    assert check(src).errors == (f"{cfg}: {want}",)
    _edit(cfg, 'record = "randomisation"', 'record = "no_such_folder"')
    (err,) = check(src).errors
    assert (
        err == f"{cfg}: key 'randomisation.record': {str(src / 'no_such_folder')!r} is not a folder"
    )
    code, _, stderr = cli(["check", str(src)])
    assert code == 2 and stderr.splitlines()[0] == f"odtrial: error: {err}"


def test_the_summary_counts_agree_with_their_nouns(tmp_path: Path) -> None:
    """A trial of one trust, one cluster, one extract and a plan of one outcome."""
    from types import SimpleNamespace

    from odtrial.check import CheckResult

    trial = SimpleNamespace(
        trusts=["T"], clusters=["C"], extracts={"T": {"t": object()}}, randomisation_record=None
    )
    plan = SimpleNamespace(version="1", outcomes={"y": object()})
    r = CheckResult(tmp_path / "trial.toml", None, (), trial, plan)  # type: ignore[arg-type]
    assert r.summary().endswith(
        ": OK: 1 trust, 1 cluster, 1 extract pattern each matching a file; plan version 1, "
        "1 outcome"
    )
    assert CheckResult(tmp_path, None, ("x",)).summary() == f"{tmp_path}: 1 error"


def test_a_visit_marked_placeholder_is_an_error_with_its_key_path(trial_copy, cli):
    """A hand-written definition may mark a visit as odtrial init does: check fails on it
    (and on a marker that is no boolean) until it goes."""
    cfg = trial_copy / "trial.toml"
    _edit(
        cfg,
        "{ month = 24, window_days = 92 }",
        "{ month = 24, window_days = 92, placeholder = true }",
    )
    r = check(trial_copy)
    assert r.errors == (
        f"{cfg}: key 'visits.schedule[1].placeholder': the 24-month visit is a placeholder "
        "odtrial init wrote (the exports give no visit month): put the protocol's visits in "
        "[visits] schedule, without placeholder = true, and the last one's month in "
        "trial.follow_up_months",
    )
    code, _, err = cli(["check", str(trial_copy)])
    assert code == 2 and err.splitlines()[-1] == f"{cfg}: 1 error"
    _edit(cfg, "placeholder = true", 'placeholder = "no"')
    assert check(trial_copy).errors == (
        f"{cfg}: key 'visits.schedule[1].placeholder' must be bool, got str 'no'",
    )
    _edit(cfg, 'placeholder = "no"', "placeholder = false")
    assert check(trial_copy).ok


def test_a_pattern_matching_two_files_of_an_extract_not_from_redcap_passes(trial_copy):
    """Only a REDCap records export holds every record; other extracts may come in
    several files (each read), so a second file is no error."""
    nelft = trial_copy / "nelft"
    shutil.copy(nelft / "admissions_2025-06-30.csv", nelft / "admissions_2025-07-31.csv")
    assert len(list(nelft.glob("admissions_*.csv"))) == 2
    assert check(trial_copy).errors == ()


def test_the_onboarding_guide_shows_what_check_prints_for_bridge(monkeypatch, cli):
    """docs/onboarding.md quotes the command's output on BRIDGE: it must be today's."""
    monkeypatch.chdir(ROOT)
    trial, plan = "data/synthetic_bridge", "analysis_plans/bridge_sap.toml"
    code, out, _ = cli(["check", trial, "--plan", plan])
    assert code == 0
    guide = (ROOT / "docs" / "onboarding.md").read_text(encoding="utf-8")
    assert f"```bash\nodtrial check {trial} --plan {plan}\n```\n\n```\n{out}```" in guide


def test_the_plans_cost_inputs_are_checked_before_any_data(trial_copy, tmp_path, cli):
    """An item with no unit cost, or a unit cost of another price year with no price index
    for it: listed by check, and refused by run before the freeze is written."""
    bad = tmp_path / "sap.toml"
    shutil.copy(PLAN, bad)
    _edit(bad, '"../data/synthetic/trial.toml"', f'"{trial_copy / "trial.toml"}"')
    _edit(bad, 'item = "gp_consultation"', 'item = "gp_consultatoin"')
    index = trial_copy / "price_index.toml"
    _edit(index, "2021 = 102.5\n", "")  # two unit costs are in 2021 prices
    lines = [e.removeprefix(f"{bad}: ") for e in check(trial_copy, bad).errors]
    assert lines[1] == (
        "key 'health_economics.resource_use.gp_consultations.item' names no item of the "
        "unit-cost table 'synthetic-2023-1' (unit_costs.toml): 'gp_consultatoin'; did you "
        "mean 'gp_consultation'?"
    )
    inflated = [lines[0], lines[2]]  # in the plan's order of resource use
    assert [ln.split(":")[0] for ln in inflated] == [
        "key 'health_economics.resource_use.inpatient_days.item'",
        "key 'health_economics.resource_use.cmht_contacts.item'",
    ]
    assert all("has no value for 2021 (has 2020, 2022, 2023)" in ln for ln in inflated)
    assert len(lines) == 3
    out = tmp_path / "out"
    code, _, err = cli(["run", str(trial_copy), "--plan", str(bad), "--out", str(out)])
    assert code == 2 and err.count("\n") == 1
    assert "(and 2 more errors; 'odtrial check TRIAL_DIR --plan PLAN' lists them)" in err
    assert not out.exists() and not (tmp_path / "out-freeze").exists()
