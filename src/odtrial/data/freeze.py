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
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from odtrial._io import atomic_folder as _atomic_folder
from odtrial._io import check_output_target, sha256_file
from odtrial.data.canonical import PARTICIPANTS
from odtrial.data.medication_dictionary import (
    MedicationDictionary,
    load_medication_dictionary,
    shipped_path,
)
from odtrial.errors import ConfigError, FreezeError

MANIFEST: Final = "manifest.json"
MANIFEST_KEYS: Final = (
    "inputs",
    "outputs",
    "config_sha256",
    "package_version",
    "trial",
    "counts",
    "randomisation",  # {"folder", "log_head"} of the record copied in, or null
    "medication_dictionary",  # the trial's dictionary file(s) copied in, or null (shipped)
    "tables",  # per declared table: its link/date/visit fields and the trusts that sent it
)
# Keys a freeze must have to be read; "randomisation" and "medication_dictionary"
# came later and are optional (absent: no randomisation record, the shipped dictionary).
REQUIRED_MANIFEST_KEYS: Final = MANIFEST_KEYS[:-3]
DICTIONARY_FOLDER: Final = "dictionary"
# role -> the copy's stem in DICTIONARY_FOLDER (a JSON header keeps the same stem,
# which is how the loader finds it)
_DICTIONARY_STEMS: Final = {"dictionary": "medication", "extend": "medication_extend"}


@dataclass(frozen=True)
class Freeze:
    """A data freeze read back from disk.

    Attributes
    ----------
    tables
        ``clusters`` and each table the trial declares, as DataFrames.
    manifest
        The parsed ``manifest.json``.
    path
        The freeze folder.
    """

    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    path: Path
    quarantine: dict[str, pd.DataFrame] = field(default_factory=dict)

    def medication(self) -> MedicationDictionary | None:
        """The trial's medication dictionary as frozen at ingest, or None for the
        shipped one (see :func:`copy_medication_dictionary`).

        Raises
        ------
        FreezeError
            The manifest's entry is malformed or the frozen files do not load.
        """
        return frozen_medication_dictionary(self.manifest, self.path)

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
    manifest.setdefault("medication_dictionary", None)
    manifest.setdefault("tables", None)
    for out in manifest["outputs"]:
        f = p / out["path"]
        if not f.is_file():
            raise FreezeError(f"{p}: output {out['path']} is missing")
        if sha256_file(f) != out["sha256"]:
            raise FreezeError(
                f"{p}: output {out['path']} has changed since the freeze (sha256 mismatch)"
            )
    listed = {o["path"] for o in manifest["outputs"]}
    for t in ("clusters", PARTICIPANTS):
        if f"tables/{t}.parquet" not in listed:
            raise FreezeError(f"{p}: manifest lists no tables/{t}.parquet")
    # every table the trial declared, in the manifest's (sorted) order
    tables = {
        Path(rel).stem: pd.read_parquet(p / rel)
        for rel in sorted(listed)
        if rel.startswith("tables/") and rel.endswith(".parquet")
    }
    quarantine = {
        Path(o["path"]).stem: pd.read_parquet(p / o["path"])
        for o in manifest["outputs"]
        if o["path"].startswith("quarantine/")
    }
    return Freeze(tables=tables, manifest=manifest, path=p, quarantine=quarantine)


def copy_medication_dictionary(trial: Any, folder: Path) -> dict[str, Any] | None:
    """Copy the trial's own medication dictionary file(s) into ``folder/dictionary``.

    The derivation reads a freeze, not the trial definition, so the dictionary
    that classified the prescriptions must travel with the data. ``trial`` is an
    :class:`odtrial.trial.Trial`; its ``medication`` (None: the shipped
    dictionary, nothing is copied) lists the files it was loaded from.

    Returns
    -------
    dict or None
        The manifest entry ``{"mode": "replace" | "extend", "version",
        "files": [{"role", "path", "header"}]}`` (``path`` and ``header``
        relative to the freeze; ``header`` is the copied JSON header or None;
        the caller adds each file's ``sha256``), or None.
    """
    med: MedicationDictionary | None = trial.medication
    if med is None:
        return None
    files = [Path(f) for f in med.files]
    roles = ["dictionary", "extend"][: len(files)]
    if files[0].resolve() == shipped_path().resolve():  # extends the shipped one
        files, roles = files[1:], roles[1:]
    if not files:
        return None
    out = folder / DICTIONARY_FOLDER
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    for role, src in zip(roles, files, strict=True):
        stem = _DICTIONARY_STEMS[role]
        shutil.copyfile(src, out / f"{stem}.csv")
        header = None
        if src.with_suffix(".json").is_file():
            shutil.copyfile(src.with_suffix(".json"), out / f"{stem}.json")
            header = f"{DICTIONARY_FOLDER}/{stem}.json"
        entries.append({"role": role, "path": f"{DICTIONARY_FOLDER}/{stem}.csv", "header": header})
    return {
        "mode": "replace" if roles[0] == "dictionary" else "extend",
        "version": med.version,
        "files": entries,
    }


def frozen_medication_dictionary(
    manifest: dict[str, Any], path: Path
) -> MedicationDictionary | None:
    """Load the dictionary a freeze's manifest names (None: the shipped one).

    The files' hashes were checked by :func:`read_freeze` with every output.
    """
    entry = manifest.get("medication_dictionary")
    if entry is None:
        return None
    try:
        files = {f["role"]: path / f["path"] for f in entry["files"]}
        unknown = set(files) - set(_DICTIONARY_STEMS)
    except (KeyError, TypeError):
        unknown = {"?"}
    if unknown or not files:
        raise FreezeError(f"{path}: manifest key 'medication_dictionary' is malformed")
    try:
        return load_medication_dictionary(files.get("dictionary"), extend=files.get("extend"))
    except ConfigError as e:
        raise FreezeError(f"{path}: the frozen medication dictionary does not load ({e})") from None
