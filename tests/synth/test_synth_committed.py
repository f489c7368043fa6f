"""The committed default trial (data/synthetic/) is exactly what the generator makes:
text files byte for byte, binary files read back equal (their bytes depend on the
pyreadstat/zlib/pyarrow versions, not on the generator). The randomisation log records
the software versions and the Parquet file's hash, which depend on the installed
versions: its entries must agree in everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from odtrial._io import RECORD

TEXT = {".csv", ".toml", ".json", ".md"}


def _log_content(path):
    """The log's entries without what depends on installed versions."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        data = dict(e["data"]) if isinstance(e["data"], dict) else e["data"]
        if e["event"] == "environment":
            data = sorted(data)  # the keys only: the versions differ by machine
        if e["event"] == "space":
            data.pop("sha256")  # Parquet bytes carry the pyarrow version
        out.append((e["seq"], e["event"], data))
    return out


def _record_content(path):
    """The record of odtrial's files: its kind, every name, and the hashes of text files
    (binary files' bytes depend on the installed versions, and so does a folder's own
    record, which hashes its randomisation log; each record is compared on its own)."""
    rec = json.loads(path.read_text(encoding="utf-8"))
    files = {
        k: (v if Path(k).suffix in TEXT and Path(k).name != RECORD else None)
        for k, v in rec["files"].items()
    }
    return rec["kind"], files


def _frame(path):
    if path.suffix == ".xlsx":
        return pd.read_excel(path)
    reader = {
        ".sav": pyreadstat.read_sav,
        ".dta": pyreadstat.read_dta,
        ".xpt": pyreadstat.read_xport,
    }
    df, meta = reader[path.suffix](path)
    return df, meta.variable_value_labels


def test_committed_synthetic_trial_matches_the_generator(default_trial, repo_root):
    committed = repo_root / "data" / "synthetic"
    if not (committed / "trial.toml").is_file():
        pytest.fail("data/synthetic/ is missing: regenerate it (see data/synthetic/README.md)")
    made = sorted(p.relative_to(default_trial) for p in default_trial.rglob("*") if p.is_file())
    have = sorted(
        p.relative_to(committed)
        for p in committed.rglob("*")
        if p.is_file() and p.name != "README.md"
    )
    assert made == have
    for rel in made:
        a, b = default_trial / rel, committed / rel
        if rel.name == RECORD:
            assert _record_content(a) == _record_content(b), f"{rel} drifted from the generator"
        elif rel.suffix == ".jsonl":
            assert _log_content(a) == _log_content(b), f"{rel} drifted from the generator"
        elif rel.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
        elif rel.suffix in TEXT:
            assert a.read_bytes() == b.read_bytes(), f"{rel} drifted from the generator"
        else:
            fa, fb = _frame(a), _frame(b)
            if isinstance(fa, tuple):
                pd.testing.assert_frame_equal(fa[0], fb[0])
                assert fa[1] == fb[1]
            else:
                pd.testing.assert_frame_equal(fa, fb)
