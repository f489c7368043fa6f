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
    path = given.resolve()
    cwd = Path.cwd().resolve()
    if given.name in ("", ".", "..") or path == cwd or path in cwd.parents:
        raise error(
            f"{raw}: is the current folder or one of its parents; odtrial writes a new "
            "folder, so name one (e.g. --out results)"
        )
    if path.exists() and not path.is_dir():
        raise error(f"{raw}: is a file, not a folder")
    anc = path.parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise error(f"{raw}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.R_OK | os.W_OK | os.X_OK)
    ):
        raise error(f"{raw}: no permission to write in {anc if not path.exists() else path}")
    return path


@dataclass(frozen=True)
class FolderState:
    """What an existing output folder holds: odtrial's files and the user's."""

    exists: bool
    kind: str | None = None
    written: dict[str, str] = field(default_factory=dict)  # odtrial's: path -> sha256
    user_files: tuple[str, ...] = ()
    user_dirs: tuple[str, ...] = ()  # empty folders the user made


def _walk(folder: Path) -> tuple[list[str], list[str]]:
    """Relative paths of the files (but the record) and of the empty folders."""
    files: list[str] = []
    empty: list[str] = []
    for root, dirs, names in os.walk(folder):
        rel = Path(root).relative_to(folder)
        files.extend((rel / n).as_posix() for n in names if not (rel == Path(".") and n == RECORD))
        if not dirs and not names and rel != Path("."):
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
        p for p, h in written.items() if (target / p).is_file() and sha256_file(target / p) != h
    ]
    if changed:
        raise error(
            f"{target}: files odtrial wrote were changed since: {_names(changed)}; move them"
            " out of the folder (or restore them) and run again"
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
) -> FolderState:
    """Every refusal :func:`atomic_folder` would make, made before any work."""
    path = check_target_path(target, error=error)
    state = inspect_folder(path, kind=kind, error=error, keep=keep)
    if not replace and state.kind is not None:
        raise error(
            f"{target}: already holds {kind}, which is written once; nothing was changed:"
            " write the new one to a new folder"
        )
    return state


def _carry(src: Path, dst: Path) -> None:
    """Put the user's file ``src`` at ``dst``: a hard link (same bytes, no copy), or a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_record(tmp: Path, kind: str, user: set[str]) -> None:
    files, _ = _walk(tmp)
    record = {
        "schema": RECORD_SCHEMA,
        "kind": kind,
        "note": "the files odtrial wrote here; any other file is yours and is kept on re-runs",
        "files": {f: sha256_file(tmp / f) for f in files if f not in user},
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

    The body writes into the yielded folder. Files of the user's in the old
    ``target`` are carried into the new one; if the body wrote a file of the
    same name, the call refuses and ``target`` is left exactly as it was, as it
    is when the body raises.
    """
    given = target
    state = check_output_target(target, kind=kind, error=error, keep=keep, replace=replace)
    target = Path(target).resolve()
    mode = 0o777 & ~_umask()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        os.chmod(tmp, mode)  # mkdtemp makes 0700; an output folder follows the umask
    except PermissionError as e:
        raise error(f"{given}: no permission to write ({e.filename})") from None
    try:
        for rel in keep:
            if (target / rel).is_file():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target / rel, tmp / rel)
        yield tmp
        users = set(state.user_files)
        clash = [u for u in users - set(keep) if (tmp / u).exists()]
        if clash:
            raise error(
                f"{given}: odtrial would overwrite files it did not write: {_names(clash)};"
                " move them out of the folder and run again (nothing was changed)"
            )
        _write_record(tmp, kind, users)
        for u in sorted(users - set(keep)):
            _carry(target / u, tmp / u)
        for d in state.user_dirs:
            (tmp / d).mkdir(parents=True, exist_ok=True)
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
    # a file the user added while the run was going: keep it too
    late, _ = _walk(prev)
    for rel in late:
        if rel not in state.written and not (target / rel).exists():
            _carry(prev / rel, target / rel)
    shutil.rmtree(old, ignore_errors=True)
