"""The data freeze: Parquet tables, quarantine, queries and a manifest of hashes.

A freeze is written whole or not at all: everything is built in a temporary
folder beside the target and renamed into place at the end (an existing
freeze is swapped out only after the new one is complete). Parquet files are
written without timestamps, so the same inputs give byte-identical files.

:func:`read_freeze` reads a freeze back and checks the SHA-256 of every output
listed in its manifest.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from odtrial._io import atomic_folder as _atomic_folder
from odtrial._io import check_output_target, sha256_file
from odtrial.data.canonical import FROZEN_TABLES
from odtrial.errors import FreezeError

MANIFEST: Final = "manifest.json"
MANIFEST_KEYS: Final = (
    "inputs",
    "outputs",
    "config_sha256",
    "package_version",
    "trial",
    "counts",
    "randomisation",  # {"folder", "log_head"} of the record copied in, or null
)
# Keys a freeze must have to be read; "randomisation" came later and is optional
# (a freeze without it is read as one without a randomisation record).
REQUIRED_MANIFEST_KEYS: Final = MANIFEST_KEYS[:-1]


@dataclass(frozen=True)
class Freeze:
    """A data freeze read back from disk.

    Attributes
    ----------
    tables
        ``clusters, participants, followup, admissions, crisis_referrals,
        prescriptions`` as DataFrames.
    manifest
        The parsed ``manifest.json``.
    path
        The freeze folder.
    """

    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    path: Path
    quarantine: dict[str, pd.DataFrame] = field(default_factory=dict)

    def queries(self) -> pd.DataFrame:
        """The queries raised at ingest (``queries.csv``, all columns as text)."""
        return pd.read_csv(self.path / "queries.csv", dtype="string", keep_default_na=False)


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write a frame as Parquet with deterministic bytes (no index, fixed options)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, compression="zstd", use_dictionary=True, write_statistics=True)


FREEZE_KIND = "a data freeze"


def atomic_folder(target: Path) -> contextlib.AbstractContextManager[Path]:
    """Build a freeze in a temporary sibling and move it onto ``target`` on success
    (see :func:`odtrial._io.atomic_folder`): only odtrial's files of an earlier
    freeze are replaced, and a folder odtrial did not write is refused."""
    return _atomic_folder(target, kind=FREEZE_KIND, error=FreezeError)


def check_freeze_target(target: str | Path) -> None:
    """Refuse, before any work, a ``target`` that :func:`atomic_folder` would refuse."""
    check_output_target(target, kind=FREEZE_KIND, error=FreezeError)


def read_freeze(path: str | Path) -> Freeze:
    """Read a data freeze, verifying every output against the manifest.

    Raises
    ------
    FreezeError
        No manifest, a manifest without the contract's keys, or an output
        that is missing or whose SHA-256 differs from the manifest.
    """
    p = Path(path)
    mpath = p / MANIFEST
    if not mpath.is_file():
        raise FreezeError(f"{p}: not a data freeze ({MANIFEST} is missing)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FreezeError(f"{mpath}: cannot read manifest ({e})") from None
    if not isinstance(manifest, dict) or any(k not in manifest for k in REQUIRED_MANIFEST_KEYS):
        raise FreezeError(
            f"{mpath}: manifest lacks one of the keys {', '.join(REQUIRED_MANIFEST_KEYS)}"
        )
    manifest.setdefault("randomisation", None)
    for out in manifest["outputs"]:
        f = p / out["path"]
        if not f.is_file():
            raise FreezeError(f"{p}: output {out['path']} is missing")
        if sha256_file(f) != out["sha256"]:
            raise FreezeError(
                f"{p}: output {out['path']} has changed since the freeze (sha256 mismatch)"
            )
    listed = {o["path"] for o in manifest["outputs"]}
    tables = {}
    for t in FROZEN_TABLES:
        rel = f"tables/{t}.parquet"
        if rel not in listed:
            raise FreezeError(f"{p}: manifest lists no {rel}")
        tables[t] = pd.read_parquet(p / rel)
    quarantine = {
        Path(o["path"]).stem: pd.read_parquet(p / o["path"])
        for o in manifest["outputs"]
        if o["path"].startswith("quarantine/")
    }
    return Freeze(tables=tables, manifest=manifest, path=p, quarantine=quarantine)
