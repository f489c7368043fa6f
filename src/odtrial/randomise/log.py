"""The allocation log: a hash chain over everything the randomisation did.

``DIR/allocation_log.jsonl`` holds one JSON object per line: ``seq``,
``event``, ``data``, ``prev`` (the previous entry's hash; 64 zeros for the
first) and ``hash`` = SHA-256 of ``prev`` + a newline + the canonical JSON of
``{seq, event, data}``. The entries record the inputs hash, the parameters
and seed, the software versions (odtrial, numpy, pandas, Python), the space,
the validity report and the allocation, with the SHA-256 of each file
written beside the log. :func:`verify_allocation` recomputes the chain and
the file hashes, so an edit of any byte of the log, ``allocation.csv``,
``constrained_space.parquet`` or ``validity.json`` is detected.

A chain cannot stop someone from rewriting every entry consistently; for
that, record the head hash (printed by ``odtrial randomise``) somewhere
else, e.g. the trial master file, and pass it as ``expect_head``.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from odtrial._io import atomic_folder, sha256_file
from odtrial.errors import RandomisationError

if TYPE_CHECKING:
    from odtrial.randomise.allocate import ConstrainedAllocation

LOG_FILE = "allocation_log.jsonl"
ALLOCATION_FILE = "allocation.csv"
SPACE_FILE = "constrained_space.parquet"
VALIDITY_FILE = "validity.json"
GENESIS = "0" * 64
RECORD_KIND = "a randomisation record"


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace (stable across machines)."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def entry_hash(prev: str, seq: int, event: str, data: Any) -> str:
    body = canonical_json({"seq": seq, "event": event, "data": data})
    return hashlib.sha256((prev + "\n" + body).encode("utf-8")).hexdigest()


def _chain(events: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    entries, prev = [], GENESIS
    for seq, (event, data) in enumerate(events):
        h = entry_hash(prev, seq, event, data)
        entries.append({"seq": seq, "event": event, "data": data, "prev": prev, "hash": h})
        prev = h
    return entries


def write_allocation(
    result: ConstrainedAllocation, out: Path, *, source: Path | None = None
) -> Path:
    """Write the allocation, constrained space, validity report and log into ``out``.

    Returns the path of the log. The record is written as one folder (built
    beside ``out`` and renamed into place), so there is never a log without its
    files. An allocation is written once: ``out`` must be new or empty, except
    for the ``source`` file (the cluster table randomised), which is kept; an
    existing record is refused and no byte of it changes.
    """
    keep = (source.name,) if source is not None and source.parent.resolve() == out.resolve() else ()
    with atomic_folder(
        out, kind=RECORD_KIND, error=RandomisationError, keep=keep, replace=False
    ) as tmp:
        _write_record(result, tmp, source)
    return out / LOG_FILE


def _write_record(result: ConstrainedAllocation, out: Path, source: Path | None) -> None:
    from odtrial import __version__

    alloc_csv = result.allocation.to_csv(index=False, lineterminator="\n").encode("utf-8")
    (out / ALLOCATION_FILE).write_bytes(alloc_csv)
    result.constrained_frame().to_parquet(out / SPACE_FILE, index=False, engine="pyarrow")
    validity = (json.dumps(result.validity.to_dict(), indent=2, sort_keys=True) + "\n").encode()
    (out / VALIDITY_FILE).write_bytes(validity)

    params = result.parameters
    id_col = params["id"]
    events: list[tuple[str, Any]] = [
        (
            "inputs",
            {
                "sha256": result.inputs_sha256,
                "n_clusters": len(result.allocation),
                "source": None if source is None else source.name,
                "source_sha256": None if source is None else sha256_file(source),
            },
        ),
        ("parameters", params),
        (
            "environment",
            {
                "odtrial": __version__,
                "numpy": np.__version__,
                "pandas": pd.__version__,
                "python": platform.python_version(),
            },
        ),
        (
            "space",
            {
                "enumerated": result.space.enumerated,
                "n_stratified": result.space.n_stratified,
                "n_candidates": result.space.size,
                "n_constrained": result.n_constrained,
                "file": SPACE_FILE,
                "sha256": sha256_file(out / SPACE_FILE),
            },
        ),
        (
            "validity",
            {
                "file": VALIDITY_FILE,
                "sha256": sha256_file(out / VALIDITY_FILE),
                "warnings": list(result.validity.warnings),
            },
        ),
        (
            "allocation",
            {
                "chosen_row": result.chosen_row,
                "score": result.chosen_score,
                "rank": result.rank,
                "arms": list(result.arms),
                "allocation": [
                    [str(c), str(a)]
                    for c, a in zip(
                        result.allocation[id_col], result.allocation["arm"], strict=True
                    )
                ],
                "file": ALLOCATION_FILE,
                "sha256": sha256_file(out / ALLOCATION_FILE),
            },
        ),
    ]
    lines = "".join(canonical_json(e) + "\n" for e in _chain(events))
    (out / LOG_FILE).write_bytes(lines.encode("utf-8"))


@dataclass(frozen=True)
class VerifiedAllocation:
    """What :func:`verify_allocation` checked and found intact."""

    directory: Path
    head: str  # hash of the last log entry
    n_entries: int
    files: tuple[tuple[str, str], ...]  # (file name, sha256)
    allocation: pd.DataFrame
    arms: tuple[str, str]
    parameters: dict[str, Any]
    space: dict[str, Any] = field(default_factory=dict)  # the log's "space" entry


def _read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise RandomisationError(f"no allocation log {LOG_FILE} in {path.parent}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RandomisationError(f"{path} is not UTF-8 text: the log was edited") from None
    entries = []
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            raise RandomisationError(
                f"{path} line {n} is not valid JSON: the log was edited"
            ) from None
        if not isinstance(e, dict) or set(e) != {"seq", "event", "data", "prev", "hash"}:
            raise RandomisationError(f"{path} line {n} is not a log entry: the log was edited")
        entries.append(e)
    return entries


def verify_allocation(
    directory: str | Path,
    *,
    expect_head: str | None = None,
    clusters: pd.DataFrame | str | Path | None = None,
) -> VerifiedAllocation:
    """Check the log's hash chain and the hashes of the files it names.

    Parameters
    ----------
    directory
        Folder written by :meth:`ConstrainedAllocation.write` / ``odtrial randomise``.
    expect_head
        Head hash recorded elsewhere at randomisation time; must match.
    clusters
        The cluster table (or its CSV). When given, the randomisation is run
        again with the logged parameters and seed, and must reproduce the
        inputs hash and the allocation: a log rewritten consistently by hand
        is caught this way.

    Raises
    ------
    RandomisationError
        With a one-line message naming the first thing that does not match.
    """
    d = Path(directory)
    path = d / LOG_FILE
    entries = _read_log(path)
    required = ["inputs", "parameters", "environment", "space", "validity", "allocation"]
    prev = GENESIS
    for n, e in enumerate(entries, start=1):
        if e["seq"] != n - 1 or e["prev"] != prev:
            raise RandomisationError(
                f"{path} line {n}: the hash chain is broken (entry edited, removed or reordered)"
            )
        if not isinstance(e["event"], str):
            raise RandomisationError(f"{path} line {n} is not a log entry: the log was edited")
        try:
            h = entry_hash(prev, e["seq"], e["event"], e["data"])
        except ValueError:
            raise RandomisationError(
                f"{path} line {n} holds a non-finite number: the log was edited"
            ) from None
        if h != e["hash"]:
            raise RandomisationError(
                f"{path} line {n} ({e['event']}): hash mismatch, the entry was edited"
            )
        prev = h
    events = [e["event"] for e in entries]
    if events != required:
        raise RandomisationError(
            f"{path}: expected entries {', '.join(required)}, found {', '.join(events)}"
        )
    if expect_head is not None and prev != expect_head:
        raise RandomisationError(
            f"{path}: head hash {prev[:16]}… differs from the expected {expect_head[:16]}…"
        )
    by_event = {e["event"]: e["data"] for e in entries}
    files = []
    for event in ("space", "validity", "allocation"):
        name, want = by_event[event]["file"], by_event[event]["sha256"]
        f = d / name
        if not f.is_file():
            raise RandomisationError(f"{f} named in the allocation log is missing")
        if sha256_file(f) != want:
            raise RandomisationError(
                f"{f} does not match its hash in the allocation log: the file was edited"
            )
        files.append((name, want))
    params = by_event["parameters"]
    alloc = pd.read_csv(d / ALLOCATION_FILE, dtype=str, keep_default_na=False)
    logged = by_event["allocation"]["allocation"]
    pairs = [[c, a] for c, a in zip(alloc[params["id"]], alloc["arm"], strict=True)]
    if pairs != logged:
        raise RandomisationError(f"{d / ALLOCATION_FILE} differs from the allocation in the log")
    arms = tuple(by_event["allocation"]["arms"])
    if clusters is not None:
        _rerun(clusters, params, by_event, alloc, d)
    return VerifiedAllocation(
        directory=d,
        head=prev,
        n_entries=len(entries),
        files=tuple(files),
        allocation=alloc,
        arms=(arms[0], arms[1]),
        parameters=params,
        space=dict(by_event["space"]),
    )


def _rerun(
    clusters: pd.DataFrame | str | Path,
    params: dict[str, Any],
    by_event: dict[str, Any],
    alloc: pd.DataFrame,
    d: Path,
) -> None:
    from odtrial.randomise.allocate import constrained

    if not isinstance(clusters, pd.DataFrame):
        try:
            clusters = pd.read_csv(clusters)
        except (OSError, ValueError) as e:
            raise RandomisationError(f"cannot read {clusters}: {str(e).splitlines()[0]}") from None
    again = constrained(
        clusters,
        id=params["id"],
        strata=params["strata"],
        balance=params["balance"],
        seed=params["seed"],
        weights=params["weights"],
        metric=params["metric"],
        cutoff=params["cutoff"],
        arms=params["arms"],
        max_enumerate=params["max_enumerate"],
        n_sample=params["n_sample"],
        equal_arms=params["equal_arms"],
    )
    if again.inputs_sha256 != by_event["inputs"]["sha256"]:
        raise RandomisationError(f"the cluster table differs from the one randomised in {d}")
    if again.allocation["arm"].tolist() != alloc["arm"].tolist():
        raise RandomisationError(
            f"re-running the randomisation with the logged seed does not give the allocation in {d}"
        )


def load_constrained_space(
    directory: str | Path, *, expect_head: str | None = None
) -> tuple[pd.DataFrame, VerifiedAllocation]:
    """Verify ``directory`` and return its constrained space (``row, score, chosen``
    and one 0/1 column per cluster, 1 = first arm) with the verification."""
    v = verify_allocation(directory, expect_head=expect_head)
    frame = pd.read_parquet(Path(directory) / SPACE_FILE)
    return frame, v


__all__ = [
    "ALLOCATION_FILE",
    "LOG_FILE",
    "SPACE_FILE",
    "VALIDITY_FILE",
    "VerifiedAllocation",
    "load_constrained_space",
    "verify_allocation",
    "write_allocation",
]
