"""Small file helpers shared by the layers that write hashed outputs.

Every odtrial output folder (a data freeze, a randomisation record, an
analysis with its report) is written through :func:`atomic_folder`: built in a
temporary sibling and renamed into place only when complete, so a reader never
sees half of one, and a failed run leaves the previous folder untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from odtrial.errors import OdtrialError


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_replaceable(
    target: Path,
    *,
    marker: str,
    kind: str,
    error: type[OdtrialError],
    keep: tuple[str, ...] = (),
) -> None:
    """Raise ``error`` unless ``target`` is absent, empty (but for ``keep``), or holds
    ``marker`` (see :func:`atomic_folder`); callers use it to refuse before any work."""
    if target.exists() and not (target / marker).is_file():
        if not target.is_dir() or any(f.name not in keep for f in target.iterdir()):
            raise error(f"{target}: exists and is not {kind} (no {marker}); refusing to overwrite")


@contextlib.contextmanager
def atomic_folder(
    target: str | Path,
    *,
    marker: str,
    kind: str,
    error: type[OdtrialError],
    keep: tuple[str, ...] = (),
) -> Iterator[Path]:
    """Build a folder in a temporary sibling and move it onto ``target`` on success.

    Parameters
    ----------
    target
        The folder to create or replace.
    marker
        A file that every folder of this kind holds (``manifest.json`` for a
        freeze): an existing non-empty ``target`` without it is not ours to
        replace, and the call refuses before writing anything.
    kind
        What the folder is, for the error message ("a data freeze").
    error
        The error class raised on refusal.
    keep
        Names of files in an existing ``target`` to copy into the new folder
        before the body runs (inputs kept beside the outputs).

    If the body raises, the temporary folder is removed and ``target`` (absent
    or an older folder) is left exactly as it was.
    """
    target = Path(target)
    check_replaceable(target, marker=marker, kind=kind, error=error, keep=keep)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        for name in keep:
            if (target / name).is_file():
                shutil.copy2(target / name, tmp / name)
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "previous")
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old / "previous", target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
