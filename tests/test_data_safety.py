"""A user's files are safe with the command line: each finding of the integrity
review reproduced end to end (`odtrial run`, `randomise`, `report`)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from odtrial._io import RECORD
from odtrial.cli import main

REPO = Path(__file__).resolve().parents[1]
RECORD_DIR = REPO / "data" / "synthetic" / "randomisation"


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the command line in-process: exit code, stdout, stderr."""
    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _one_line_error(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("odtrial: error:")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One `odtrial run` (umask 022) whose folders the tests copy and re-run."""
    root = tmp_path_factory.mktemp("safety")
    old = os.umask(0o022)
    try:
        main(["run", "--out", str(root / "out")])
    except SystemExit as e:
        assert not e.code
    finally:
        os.umask(old)
    return root


def test_run_refuses_a_folder_of_the_users_that_holds_a_results_json(tmp_path, capsys):
    mine = tmp_path / "mine"
    for rel, text in {"notes.txt": "n", "sub/important.csv": "1", "results.json": "{}"}.items():
        (mine / rel).parent.mkdir(parents=True, exist_ok=True)
        (mine / rel).write_text(text)
    before = _tree(mine)
    code, _, err = _cli(capsys, "run", "--out", str(mine))
    _one_line_error(code, err)
    assert "was not written by odtrial" in err
    assert _tree(mine) == before
    assert not (tmp_path / "mine-freeze").exists()  # refused before ingest


def test_a_rerun_keeps_files_the_user_added_to_out_and_to_the_freeze(first_run, tmp_path, capsys):
    shutil.copytree(first_run / "out", tmp_path / "out")
    shutil.copytree(first_run / "out-freeze", tmp_path / "out-freeze")
    (tmp_path / "out" / "notes.txt").write_text("my reading of the report")
    (tmp_path / "out" / "tables" / "extra.csv").write_text("a,b\n")
    (tmp_path / "out-freeze" / "dm_log.txt").write_text("queries sent 3 Dec")
    code, _, err = _cli(capsys, "run", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert (tmp_path / "out" / "notes.txt").read_text() == "my reading of the report"
    assert (tmp_path / "out" / "tables" / "extra.csv").read_text() == "a,b\n"
    assert (tmp_path / "out-freeze" / "dm_log.txt").read_text() == "queries sent 3 Dec"
    # the same inputs give the same outputs: odtrial's files are byte-identical
    new, old = _tree(tmp_path / "out"), _tree(first_run / "out")
    assert {k: v for k, v in new.items() if k in old} == old
    assert sorted(tmp_path.iterdir()) == [tmp_path / "out", tmp_path / "out-freeze"]


def test_output_folders_honour_the_umask(first_run):
    for folder in ("out", "out-freeze", "out/figures", "out-freeze/randomisation"):
        assert stat.S_IMODE((first_run / folder).stat().st_mode) == 0o755, folder
    assert stat.S_IMODE((first_run / "out" / "results.json").stat().st_mode) == 0o644


@pytest.mark.parametrize("out", [".", "..", "FILE", "FILE/sub"])
def test_path_edge_cases_are_one_line_errors(tmp_path, monkeypatch, capsys, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("a file")
    code, _, err = _cli(capsys, "run", "--out", out)
    _one_line_error(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]


def test_unblinding_a_draft_plan_is_refused_before_the_freeze_is_written(tmp_path, capsys):
    code, _, err = _cli(capsys, "run", "--out", str(tmp_path / "out"), "--unblind")
    _one_line_error(code, err)
    assert "cannot unblind" in err
    assert list(tmp_path.iterdir()) == []


def test_an_allocation_is_written_once(tmp_path, capsys):
    rec = tmp_path / "rec"
    args = ["randomise", str(RECORD_DIR / "clusters.csv"), "--id", "id"]
    args += ["--strata", "catchment", "--balance", "list_size,imd_score", "--arms", "POD,TAU"]
    args += ["--out", str(rec)]
    code, _, err = _cli(capsys, *args, "--seed", "1")
    assert code == 0, err
    before = _tree(rec)
    code, _, err = _cli(capsys, *args, "--seed", "2")
    _one_line_error(code, err)
    assert "already holds a randomisation record, which is written once" in err
    assert _tree(rec) == before
    code, _, _ = _cli(
        capsys, "verify-allocation", str(rec), "--clusters", str(RECORD_DIR / "clusters.csv")
    )
    assert code == 0


def test_report_rebuilds_an_analysis_report_whole_and_keeps_the_users_files(
    first_run, tmp_path, capsys
):
    out = tmp_path / "out"
    shutil.copytree(first_run / "out", out)
    (out / "notes.txt").write_text("mine")
    (out / "report.docx").unlink()
    code, stdout, err = _cli(capsys, "report", str(out))
    assert code == 0, err
    assert "report.docx" in stdout
    assert (out / "notes.txt").read_text() == "mine"
    assert _tree(out)["report.docx"] == _tree(first_run / "out")["report.docx"]
    assert {k: v for k, v in _tree(out).items() if k not in ("notes.txt",)} == _tree(
        first_run / "out"
    )
    # not an analysis folder: the freeze, a user's folder, nothing at all
    for other in (first_run / "out-freeze", tmp_path / "nothing"):
        code, _, err = _cli(capsys, "report", str(other))
        _one_line_error(code, err)
        assert "not an analysis folder written by odtrial" in err


def test_an_edited_report_is_not_overwritten(first_run, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(first_run / "out", out)
    (out / "report.html").write_text("<p>my edits</p>")
    before = _tree(out)
    code, _, err = _cli(capsys, "report", str(out))
    _one_line_error(code, err)
    assert "files odtrial wrote were changed since: report.html" in err
    assert _tree(out) == before


def test_every_folder_odtrial_wrote_carries_its_record(first_run):
    for folder in ("out", "out-freeze"):
        assert (first_run / folder / RECORD).is_file()


def test_analyse_keeps_the_output_and_the_freeze_apart(first_run, tmp_path, capsys):
    freeze = tmp_path / "fz"
    shutil.copytree(first_run / "out-freeze", freeze)
    plan = str(REPO / "analysis_plans" / "pod_synthetic_sap.toml")
    for out in (freeze / "ana", freeze):
        code, _, err = _cli(
            capsys, "analyse", "--plan", plan, "--freeze", str(freeze), "--out", str(out)
        )
        _one_line_error(code, err)
    assert _tree(freeze) == _tree(first_run / "out-freeze")


def test_a_users_file_where_the_report_goes_is_refused_before_the_freeze(
    first_run, tmp_path, capsys
):
    ana = tmp_path / "ana"
    plan = str(REPO / "analysis_plans" / "pod_synthetic_sap.toml")
    args = ("analyse", "--plan", plan, "--freeze", str(first_run / "out-freeze"), "--out", str(ana))
    assert _cli(capsys, *args)[0] == 0
    (ana / "report.html").write_text("<html>mine</html>")
    before = _tree(ana)
    code, _, err = _cli(capsys, "run", "--out", str(ana), "--freeze", str(tmp_path / "newfz"))
    _one_line_error(code, err)
    assert "would overwrite files it did not write: report.html" in err
    assert _tree(ana) == before and not (tmp_path / "newfz").exists()
    code, _, err = _cli(capsys, "report", str(ana))
    _one_line_error(code, err)
    assert _tree(ana) == before


def test_the_report_writes_only_what_it_announces(first_run):
    from odtrial.report.build import REPORT_OUTPUTS

    out = first_run / "out"
    drawn = {p.relative_to(out).as_posix() for p in (out / "figures").iterdir()}
    assert drawn | {"report.docx", "report.html"} == set(REPORT_OUTPUTS)
