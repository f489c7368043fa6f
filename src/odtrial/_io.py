"""Output folders that never lose a user's file.

Every odtrial output folder (a data freeze, a randomisation record, an
analysis with its report, a synthetic trial) is written through
:func:`atomic_folder`:

- it is built in a temporary sibling and renamed into place only when
  complete, so a reader never sees half of one and a failed run leaves the
  previous folder untouched;
- it carries a record, :data:`RECORD`, of every file odtrial wrote into it
  with its SHA-256. A re-run replaces only those files. Files a user added
  survive (they are carried into the new folder); a file odtrial wrote and
  the user has since edited, or a user's file that odtrial would now
  overwrite, makes the run refuse with the list of names, changing nothing;
- a folder without the record was not written by odtrial: unless it is
  empty, it is never emptied or replaced;
- folders and files honour the umask.

There is deliberately no ``force`` option: nothing odtrial did not write is
ever deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from odtrial.errors import OdtrialError

RECORD: Final = ".odtrial-written.json"
RECORD_SCHEMA: Final = "odtrial.written/1"
_SHOWN = 5  # names listed in a one-line refusal before "and N more"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _names(paths: Iterable[str]) -> str:
    p = sorted(paths)
    more = f" and {len(p) - _SHOWN} more" if len(p) > _SHOWN else ""
    return ", ".join(p[:_SHOWN]) + more


def check_target_path(target: str | Path, *, error: type[OdtrialError]) -> Path:
    """The absolute path of an output folder, or ``error`` (one line) when ``target``
    cannot be one: empty, ``.``/``..``, the current folder or one of its parents,
    a file, or a place without write permission."""
    raw = str(target)
    if not raw.strip():
        raise error("the output folder name is empty")
    given = Path(target)
    try:
        path = given.resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop, a vanished working folder
        raise error(f"{raw}: cannot be resolved to a folder ({_reason(e)})") from None
    if given.name in ("", ".", "..") or path == cwd or path in cwd.parents:
        raise error(
            f"{raw}: is the current folder or one of its parents; odtrial writes a folder "
            "of its own, so give the name of a new one"
        )
    if path.exists() and not path.is_dir():
        raise error(f"{raw}: is a file, not a folder")
    anc = path.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise error(f"{raw}: {anc} is a file, not a folder")
    if not os.access(path.parent if path.exists() else anc, os.W_OK | os.X_OK):
        raise error(f"{raw}: no permission to write in {path.parent if path.exists() else anc}")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise error(f"{raw}: no permission to read and write {path}")
    return path


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _names_line(paths: Iterable[str]) -> str:
    # names on one line even if a user's file name holds a line break
    return _names(paths).encode("unicode_escape").decode("ascii")


@dataclass(frozen=True)
class FolderState:
    """What an existing output folder holds: odtrial's files and the user's."""

    exists: bool
    kind: str | None = None
    written: dict[str, str] = field(default_factory=dict)  # odtrial's: path -> sha256
    user_files: tuple[str, ...] = ()
    user_dirs: tuple[str, ...] = ()  # empty folders the user made


class _Unreadable(Exception):
    """A folder inside an output folder could not be listed."""


def _walk(folder: Path) -> tuple[list[str], list[str]]:
    """Relative paths of the entries (files and symlinks, but the record) and of the
    empty folders. A symlink is an entry of its own and is never followed; a
    folder that cannot be listed raises, since it may hold a user's files."""

    def unreadable(e: OSError) -> None:
        raise _Unreadable(e.filename) from e

    files: list[str] = []
    empty: list[str] = []
    for root, dirs, names in os.walk(folder, onerror=unreadable):
        rel = Path(root).relative_to(folder)
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        dirs[:] = [d for d in dirs if d not in links]
        entries = [*names, *links]
        files.extend(
            (rel / n).as_posix() for n in entries if not (rel == Path(".") and n == RECORD)
        )
        if not dirs and not entries and rel != Path("."):
            empty.append(rel.as_posix())
    return sorted(files), sorted(empty)


def read_record(folder: Path, *, error: type[OdtrialError]) -> dict[str, Any] | None:
    """The folder's record of odtrial's files, or None if it has none."""
    rec = folder / RECORD
    if not rec.is_file():
        return None
    try:
        data = json.loads(rec.read_text(encoding="utf-8"))
        if data.get("schema") != RECORD_SCHEMA or not isinstance(data.get("files"), dict):
            raise ValueError
    except (ValueError, OSError, AttributeError):
        raise error(
            f"{folder}: {RECORD} is unreadable, so odtrial cannot tell its files from yours;"
            " refusing to change the folder"
        ) from None
    return data


def inspect_folder(
    target: Path, *, kind: str, error: type[OdtrialError], keep: tuple[str, ...] = ()
) -> FolderState:
    """Refuse (``error``) a folder odtrial may not change; else say what it holds.

    A folder without a record may be used only when it holds nothing but the
    ``keep`` files (a user's input kept beside the outputs, e.g. the cluster
    table of a randomisation record)."""
    if not target.exists():
        return FolderState(exists=False)
    try:
        return _inspect(target, kind=kind, error=error, keep=keep)
    except _Unreadable as e:
        raise error(
            f"{target}: cannot list {e.args[0]}, so odtrial cannot tell whether it holds your"
            " files; refusing to change the folder"
        ) from None
    except OSError as e:
        raise error(f"{target}: cannot read it ({_reason(e)}); refusing to change it") from None


def _inspect(
    target: Path, *, kind: str, error: type[OdtrialError], keep: tuple[str, ...]
) -> FolderState:
    files, empty = _walk(target)
    record = read_record(target, error=error)
    if record is None:
        foreign = [f for f in files if f not in keep]
        if foreign or empty:
            raise error(
                f"{target}: exists and was not written by odtrial (no {RECORD}); refusing to"
                " change it: choose a new folder"
            )
        return FolderState(exists=True, user_files=tuple(files))
    if record.get("kind") != kind:
        raise error(
            f"{target}: holds {record.get('kind')}, not {kind}; refusing to replace it:"
            " choose another folder"
        )
    written: dict[str, str] = {str(k): str(v) for k, v in record["files"].items()}
    changed = [
        p
        for p, h in written.items()
        if os.path.lexists(target / p)
        and (
            (target / p).is_symlink() or not (target / p).is_file() or sha256_file(target / p) != h
        )
    ]
    if changed:
        raise error(
            f"{target}: files odtrial wrote were changed since: {_names_line(changed)}; move"
            " them out of the folder (or restore them) and run again"
        )
    user = tuple(f for f in files if f not in written)
    return FolderState(True, kind, written, user, tuple(empty))


def check_output_target(
    target: str | Path,
    *,
    kind: str,
    error: type[OdtrialError],
    keep: tuple[str, ...] = (),
    replace: bool = True,
    expected: tuple[str, ...] = (),
) -> FolderState:
    """Every refusal :func:`atomic_folder` would make, made before any work.

    ``expected`` names files the coming run will write (beyond those on the
    folder's record): a user's file in the way of one is refused now, not
    after the work is done."""
    path = check_target_path(target, error=error)
    state = inspect_folder(path, kind=kind, error=error, keep=keep)
    if not replace and state.kind is not None:
        raise error(
            f"{target}: already holds {kind}, which is written once; nothing was changed:"
            " write the new one to a new folder"
        )
    clash = _clashes(state, set(expected), set(keep))
    if clash:
        raise _clash_error(error, target, clash)
    return state


def _clashes(state: FolderState, paths: set[str], keep: set[str]) -> list[str]:
    """The user's entries that sit where odtrial writes ``paths``: the same path, a
    path inside a folder odtrial writes as a file, or a folder of the user's."""
    if not paths:
        return []
    parents = {str(Path(p).parent.as_posix()) for p in paths} | {
        q.as_posix() for p in paths for q in Path(p).parents
    }
    out = []
    for u in [*state.user_files, *state.user_dirs]:
        if u in keep:
            continue
        if u in paths or u in parents or any(q.as_posix() in paths for q in Path(u).parents):
            out.append(u)
    return sorted(out)


def _clash_error(error: type[OdtrialError], target: str | Path, clash: list[str]) -> OdtrialError:
    return error(
        f"{target}: odtrial would overwrite files it did not write: {_names_line(clash)};"
        " move them out of the folder and run again (nothing was changed)"
    )


def _carry(src: Path, dst: Path) -> None:
    """Put the user's entry ``src`` at ``dst``: a symlink as a symlink (never
    followed), a file as a hard link (same bytes, no copy) or else a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _odtrial_files(tmp: Path, user: set[str]) -> list[str]:
    files, _ = _walk(tmp)
    return [f for f in files if f not in user]


def _set_modes(tmp: Path, files: list[str], old: Path, old_written: dict[str, str]) -> None:
    """odtrial's folders and files follow the umask (some writers fix their own
    mode); a mode the user gave the old folder or one of odtrial's files is kept."""
    mask = _umask()
    for root, dirs, _ in os.walk(tmp):
        for d in dirs:
            p = Path(root) / d
            if not p.is_symlink():
                os.chmod(p, 0o777 & ~mask)
    for f in files:
        before = old / f
        keep_mode = f in old_written and before.is_file() and not before.is_symlink()
        os.chmod(tmp / f, stat.S_IMODE(before.stat().st_mode) if keep_mode else 0o666 & ~mask)
    os.chmod(tmp, stat.S_IMODE(old.stat().st_mode) if old.is_dir() else 0o777 & ~mask)


def _write_record(tmp: Path, kind: str, files: list[str]) -> None:
    record = {
        "schema": RECORD_SCHEMA,
        "kind": kind,
        "note": "the files odtrial wrote here; any other file is yours and is kept on re-runs",
        "files": {f: sha256_file(tmp / f) for f in files},
    }
    (tmp / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", "utf-8")


@contextlib.contextmanager
def atomic_folder(
    target: str | Path,
    *,
    kind: str,
    error: type[OdtrialError],
    keep: tuple[str, ...] = (),
    replace: bool = True,
    expected: tuple[str, ...] = (),
) -> Iterator[Path]:
    """Build an output folder in a temporary sibling and move it onto ``target``.

    Parameters
    ----------
    target
        The folder to create, or to replace if odtrial wrote it.
    kind
        What the folder is ("a data freeze"); recorded, so that one kind of
        folder never replaces another.
    error
        The error class raised on refusal (one line, before anything is written).
    keep
        Relative paths of files in an existing ``target`` to copy into the new
        folder before the body runs (inputs kept beside the outputs, or earlier
        outputs a partial rebuild keeps). Those odtrial wrote stay on its record.
    replace
        False for write-once folders: an existing folder of this kind is refused.
    expected
        Files the body will write that may not be on the old record: checked
        against the user's files before the body runs (see
        :func:`check_output_target`).

    The body writes into the yielded folder. The user's entries in the old
    ``target`` (files, symlinks, empty folders) are carried into the new one;
    if the body wrote something in the place of one, the call refuses and
    ``target`` is left exactly as it was, as it is when the body raises.
    """
    given = target
    state = check_output_target(
        target, kind=kind, error=error, keep=keep, replace=replace, expected=expected
    )
    target = Path(target).resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as e:
        raise error(f"{given}: cannot write ({_reason(e)})") from None
    try:
        for rel in keep:
            if (target / rel).is_file():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target / rel, tmp / rel)
        yield tmp
        users = set(state.user_files)
        made, _ = _walk(tmp)
        clash = _clashes(state, set(made) - set(keep), set(keep))
        if clash:
            raise _clash_error(error, given, clash)
        files = _odtrial_files(tmp, users)
        _set_modes(tmp, files, target, state.written)
        _write_record(tmp, kind, files)
        os.chmod(tmp / RECORD, 0o666 & ~_umask())
        try:
            for u in sorted(users - set(keep)):
                _carry(target / u, tmp / u)
            for d in state.user_dirs:
                (tmp / d).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise error(
                f"{given}: cannot carry your file into the new folder ({_reason(e)});"
                " nothing was changed"
            ) from None
        _swap(tmp, target, state)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(tmp: Path, target: Path, state: FolderState) -> None:
    if not target.exists():
        os.replace(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    prev = old / "previous"
    os.replace(target, prev)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(prev, target)
        shutil.rmtree(old, ignore_errors=True)
        raise
    # an entry the user added while the run was going: keep it too
    try:
        late, _ = _walk(prev)
        for rel in late:
            if rel not in state.written and not os.path.lexists(target / rel):
                _carry(prev / rel, target / rel)
    except (OSError, _Unreadable):
        return  # leave the old folder where it is rather than lose anything in it
    shutil.rmtree(old, ignore_errors=True)
