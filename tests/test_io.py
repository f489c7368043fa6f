"""Output folders (odtrial._io): a user's files are never deleted or overwritten."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from odtrial._io import RECORD, atomic_folder, check_output_target, check_target_path
from odtrial.errors import FreezeError

KIND = "a test folder"


def _write(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _make(target: Path, files: dict[str, str], **kw) -> None:
    with atomic_folder(target, kind=KIND, error=FreezeError, **kw) as tmp:
        _write(tmp, files)


def test_a_new_folder_carries_a_record_of_odtrials_files(tmp_path):
    _make(tmp_path / "out", {"a.txt": "1", "sub/b.csv": "2"})
    rec = json.loads((tmp_path / "out" / RECORD).read_text(encoding="utf-8"))
    assert rec["kind"] == KIND and sorted(rec["files"]) == ["a.txt", "sub/b.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporaries


def test_a_rerun_replaces_odtrials_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "out"
    _make(out, {"a.txt": "old", "gone.txt": "only in the first run"})
    _write(out, {"notes.txt": "mine", "sub/important.csv": "x,y\n"})
    (out / "empty_dir_of_mine").mkdir()
    _make(out, {"a.txt": "new"})
    assert _tree(out) == {
        "a.txt": b"new",
        "notes.txt": b"mine",
        "sub/important.csv": b"x,y\n",
        RECORD: (out / RECORD).read_bytes(),
    }
    assert (out / "empty_dir_of_mine").is_dir()
    assert "notes.txt" not in json.loads((out / RECORD).read_text())["files"]
    # and the user's files survive a third run too
    _make(out, {"a.txt": "newer"})
    assert (out / "sub" / "important.csv").read_text() == "x,y\n"


def test_a_folder_odtrial_did_not_write_is_never_touched(tmp_path):
    mine = tmp_path / "mine"
    _write(mine, {"notes.txt": "keep", "sub/important.csv": "1", "results.json": "{}"})
    before = _tree(mine)
    with pytest.raises(FreezeError, match=r"mine: exists and was not written by odtrial"):
        _make(mine, {"results.json": "odtrial's"})
    assert _tree(mine) == before
    # an empty folder is fine: nothing in it to lose
    (tmp_path / "empty").mkdir()
    _make(tmp_path / "empty", {"a.txt": "1"})
    assert (tmp_path / "empty" / "a.txt").read_text() == "1"


def test_an_edited_odtrial_file_or_a_clash_with_a_users_file_refuses_and_changes_nothing(
    tmp_path,
):
    out = tmp_path / "out"
    _make(out, {"report.docx": "odtrial's"})
    (out / "report.docx").write_text("edited by the statistician")
    before = _tree(out)
    with pytest.raises(FreezeError, match=r"files odtrial wrote were changed since: report\.docx"):
        _make(out, {"report.docx": "new"})
    assert _tree(out) == before
    (out / "report.docx").write_text("odtrial's")  # restored
    _write(out, {"new_table.csv": "the user's"})
    before = _tree(out)
    with pytest.raises(
        FreezeError, match=r"would overwrite files it did not write: new_table\.csv"
    ):
        _make(out, {"report.docx": "new", "new_table.csv": "odtrial's"})
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_one_kind_of_folder_never_replaces_another(tmp_path):
    _make(tmp_path / "freeze", {"manifest.json": "{}"})
    with pytest.raises(FreezeError, match="holds a test folder, not an analysis"):
        with atomic_folder(tmp_path / "freeze", kind="an analysis", error=FreezeError):
            pass


def test_write_once_folders_refuse_an_existing_one(tmp_path):
    _make(tmp_path / "rec", {"log": "1"}, replace=False)
    before = _tree(tmp_path / "rec")
    with pytest.raises(FreezeError, match="already holds a test folder, which is written once"):
        _make(tmp_path / "rec", {"log": "2"}, replace=False)
    assert _tree(tmp_path / "rec") == before


def test_a_failing_body_leaves_everything_as_it_was(tmp_path):
    out = tmp_path / "out"
    _make(out, {"a.txt": "1"})
    _write(out, {"mine.txt": "m"})
    before = _tree(out)
    with pytest.raises(RuntimeError):
        with atomic_folder(out, kind=KIND, error=FreezeError) as tmp:
            _write(tmp, {"a.txt": "half"})
            raise RuntimeError("disk full")
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("name", [".", "..", "", "sub/..", "/", "CWD"])
def test_the_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(FreezeError) as e:
        check_target_path(str(tmp_path) if name == "CWD" else name, error=FreezeError)
    assert "\n" not in str(e.value)


def test_a_file_and_a_folder_inside_a_file_are_refused(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(FreezeError, match=r"f\.txt: is a file, not a folder"):
        check_target_path(tmp_path / "f.txt", error=FreezeError)
    with pytest.raises(FreezeError, match=r"f\.txt is a file, not a folder"):
        check_target_path(tmp_path / "f.txt" / "out", error=FreezeError)


def test_no_permission_is_one_line(tmp_path, monkeypatch):
    # root may write anywhere, so the permission answer is simulated
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(FreezeError, match=r"no permission to write in"):
        check_output_target(tmp_path / "out", kind=KIND, error=FreezeError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a read-only folder")
def test_a_read_only_parent_is_refused(tmp_path):  # pragma: no cover - non-root only
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(FreezeError, match="no permission"):
            _make(ro / "out", {"a": "1"})
    finally:
        ro.chmod(0o755)


def test_folders_and_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        _make(tmp_path / "out", {"a.txt": "1", "sub/b.txt": "2"})
    finally:
        os.umask(old)
    mode = stat.S_IMODE
    assert mode((tmp_path / "out").stat().st_mode) == 0o755
    assert mode((tmp_path / "out" / "sub").stat().st_mode) == 0o755
    assert mode((tmp_path / "out" / "a.txt").stat().st_mode) == 0o644
    assert mode((tmp_path / "out" / RECORD).stat().st_mode) == 0o644
    old = os.umask(0o077)
    try:
        _make(tmp_path / "private", {"a.txt": "1"})
    finally:
        os.umask(old)
    assert mode((tmp_path / "private").stat().st_mode) == 0o700


def test_an_unreadable_record_refuses(tmp_path):
    _make(tmp_path / "out", {"a.txt": "1"})
    (tmp_path / "out" / RECORD).write_text("not json")
    with pytest.raises(FreezeError, match="is unreadable, so odtrial cannot tell its files"):
        _make(tmp_path / "out", {"a.txt": "2"})
    assert (tmp_path / "out" / "a.txt").read_text() == "1"


def test_kept_inputs_stay_the_users(tmp_path):
    out = tmp_path / "rec"
    _write(out, {"clusters.csv": "id\n1\n"})
    _make(out, {"log": "1"}, keep=("clusters.csv",), replace=False)
    assert (out / "clusters.csv").read_text() == "id\n1\n"
    assert sorted(json.loads((out / RECORD).read_text())["files"]) == ["log"]


# --- found by an adversarial review: symlinks, unreadable folders, clashes, modes ---


def test_a_users_symlinks_are_entries_of_their_own_never_followed(tmp_path):
    shared = tmp_path / "shared"
    _write(shared, {"data.csv": "1"})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "l").symlink_to(shared)
    with pytest.raises(FreezeError, match="was not written by odtrial"):
        _make(foreign, {"a.txt": "1"})
    assert (foreign / "l").is_symlink()
    out = tmp_path / "out"
    _make(out, {"a.txt": "1"})
    (out / "to_shared").symlink_to(shared)
    (out / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    _make(out, {"a.txt": "2"})
    assert os.readlink(out / "to_shared") == str(shared)
    assert os.readlink(out / "dangling") == str(tmp_path / "nowhere" / "x")
    assert _tree(shared) == {"data.csv": b"1"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "out", "shared"]


def test_a_folder_that_cannot_be_listed_refuses_the_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _make(out, {"a.txt": "1"})
    (out / "private").mkdir()
    (out / "private" / "s.txt").write_text("colleague's")
    real_walk = os.walk

    def walk(top, onerror=None, **kw):  # as for a folder of mode 000 (root reads anything)
        for root, dirs, names in real_walk(top, onerror=onerror, **kw):
            if Path(root).name == "private" and onerror is not None:
                onerror(PermissionError(13, "Permission denied", root))
                continue
            yield root, dirs, names

    monkeypatch.setattr(os, "walk", walk)
    before = _tree(out)
    with pytest.raises(FreezeError, match=r"cannot list .*private, so odtrial cannot tell"):
        _make(out, {"a.txt": "2"})
    monkeypatch.undo()
    assert _tree(out) == before


def test_a_users_entry_where_odtrial_writes_is_refused_before_any_work(tmp_path):
    out = tmp_path / "out"
    _make(out, {"results.json": "{}"})
    (out / "report.html").mkdir()  # an empty folder of the user's
    body_ran = []
    with pytest.raises(FreezeError, match=r"would overwrite files it did not write: report\.html"):
        with atomic_folder(
            out, kind=KIND, error=FreezeError, expected=("report.html", "figures/a.png")
        ):
            body_ran.append(True)
    assert not body_ran and (out / "report.html").is_dir()
    (out / "report.html").rmdir()
    (out / "figures").write_text("a file where odtrial puts a folder")
    with pytest.raises(FreezeError, match=r"would overwrite files it did not write: figures"):
        check_output_target(out, kind=KIND, error=FreezeError, expected=("figures/a.png",))
    with pytest.raises(FreezeError, match=r"would overwrite files it did not write: figures"):
        _make(out, {"figures/a.png": "png"})  # not announced: caught after the body
    assert (out / "figures").read_text() == "a file where odtrial puts a folder"


def test_a_symlink_loop_is_one_line(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(FreezeError, match="cannot be resolved to a folder"):
        check_target_path(tmp_path / "loop", error=FreezeError)


def test_odtrials_files_follow_the_umask_whatever_their_writer_did(tmp_path):
    old = os.umask(0o002)
    try:
        with atomic_folder(tmp_path / "out", kind=KIND, error=FreezeError) as tmp:
            (tmp / "fixed.sav").write_text("x")
            os.chmod(tmp / "fixed.sav", 0o644)  # as pyreadstat does
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out" / "fixed.sav").stat().st_mode) == 0o664


def test_a_mode_the_user_gave_the_folder_or_a_file_is_kept(tmp_path):
    out = tmp_path / "out"
    _make(out, {"allocation.csv": "a", "other.csv": "b"})
    out.chmod(0o700)
    (out / "allocation.csv").chmod(0o600)
    _make(out, {"allocation.csv": "a", "other.csv": "b", "new.csv": "c"})
    mode = stat.S_IMODE
    assert mode(out.stat().st_mode) == 0o700
    assert mode((out / "allocation.csv").stat().st_mode) == 0o600
    assert mode((out / "new.csv").stat().st_mode) == 0o666 & ~_current_umask()


def _current_umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_a_name_with_a_line_break_stays_on_one_line(tmp_path):
    out = tmp_path / "out"
    _make(out, {"a.txt": "1"})
    (out / "b\nc.txt").write_text("the user's")
    with pytest.raises(FreezeError) as e:
        _make(out, {"a.txt": "1", "b\nc.txt": "odtrial's"})
    assert "\n" not in str(e.value) and "b\\nc.txt" in str(e.value)
