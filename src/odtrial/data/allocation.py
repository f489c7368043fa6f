"""The trial's allocation at ingest: taken from the verified randomisation record.

A trial config may name the folder written by ``odtrial randomise``
(``[randomisation] record``). Ingest then verifies its hash chain and file
hashes, takes each cluster's arm from it (an arm also written in the config
must agree), and copies the record into the freeze under ``randomisation/``,
so the analysis can run its permutation test over the very constrained space
the trial was randomised from, and the report can quote the log's head hash.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from odtrial.errors import IngestError
from odtrial.trial import Trial

FREEZE_FOLDER: Final = "randomisation"


@dataclass(frozen=True)
class Record:
    """A verified randomisation record."""

    directory: Path
    head: str  # hash of the log's last entry
    files: tuple[str, ...]  # the log and the files it names


def apply_record(trial: Trial) -> tuple[Trial, Record | None]:
    """Verify the trial's randomisation record and put its arms on the clusters.

    Returns the trial unchanged (and None) when the config names no record.

    Raises
    ------
    IngestError
        The folder is missing, or the record and the config disagree on the
        arms or the clusters.
    RandomisationError
        The record fails verification (a file or log entry was edited).
    """
    from odtrial.randomise.log import LOG_FILE, verify_allocation

    folder = trial.randomisation_dir
    if folder is None:
        return trial, None
    where = f"{trial.path or 'trial config'}: randomisation.record"
    if not folder.is_dir():
        raise IngestError(f"{where} {str(folder)!r} is not a folder")
    v = verify_allocation(folder)
    if v.arms != trial.arms:
        raise IngestError(
            f"{where}: the record's arms {list(v.arms)} differ from trial.arms {list(trial.arms)}"
        )
    id_col = str(v.parameters["id"])
    arm_of = dict(zip(v.allocation[id_col], v.allocation["arm"], strict=True))
    config_ids = {c.id for c in trial.clusters}
    extra = sorted(set(arm_of) - config_ids)
    if extra:
        raise IngestError(f"{where}: cluster {extra[0]!r} is in the record but not in the config")
    clusters = []
    for c in trial.clusters:
        if c.id not in arm_of:
            raise IngestError(f"{where}: cluster {c.id!r} is not in the randomisation record")
        if c.arm is not None and c.arm != arm_of[c.id]:
            raise IngestError(
                f"{where}: cluster {c.id!r} is {c.arm!r} in the config "
                f"but {arm_of[c.id]!r} in the record"
            )
        clusters.append(replace(c, arm=arm_of[c.id]))
    files = (*(name for name, _ in v.files), LOG_FILE)
    return replace(trial, clusters=tuple(clusters)), Record(folder, v.head, files)


def copy_record(record: Record, freeze_tmp: Path) -> list[str]:
    """Copy the record's files into ``freeze_tmp/randomisation``; return their freeze paths."""
    dest = freeze_tmp / FREEZE_FOLDER
    dest.mkdir(parents=True, exist_ok=True)
    for name in record.files:
        shutil.copyfile(record.directory / name, dest / name)
    return [f"{FREEZE_FOLDER}/{name}" for name in sorted(record.files)]
