"""Freeze writing: atomic folder swap, deterministic Parquet, read_freeze checks hashes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from odtrial.data.freeze import atomic_folder, read_freeze, sha256_file, write_parquet
from odtrial.errors import FreezeError


def _frame():
    return pd.DataFrame(
        {
            "participant_id": pd.Series(["P1", None], dtype="string"),
            "age_at_consent": pd.Series([30, None], dtype="Int64"),
            "consent_date": pd.to_datetime(["2024-01-01", None]).astype("datetime64[ns]"),
            "work": pd.Series([True, None], dtype="boolean"),
        }
    )


def test_parquet_bytes_are_deterministic_and_round_trip(tmp_path):
    write_parquet(_frame(), tmp_path / "a" / "t.parquet")
    write_parquet(_frame(), tmp_path / "b" / "t.parquet")
    assert (tmp_path / "a/t.parquet").read_bytes() == (tmp_path / "b/t.parquet").read_bytes()
    back = pd.read_parquet(tmp_path / "a/t.parquet")
    pd.testing.assert_frame_equal(back, _frame())


def test_atomic_folder_failure_leaves_nothing(tmp_path):
    target = tmp_path / "freeze"
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left behind


def test_atomic_folder_failure_keeps_old_freeze_and_success_replaces_it(tmp_path):
    target = tmp_path / "freeze"
    with atomic_folder(target) as tmp:
        (tmp / "manifest.json").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_folder(target) as tmp:
        (tmp / "manifest.json").write_text("new")
        raise KeyboardInterrupt
    assert (target / "manifest.json").read_text() == "old"
    with atomic_folder(target) as tmp:
        (tmp / "manifest.json").write_text("new")
    assert (target / "manifest.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["freeze"]


def test_atomic_folder_refuses_to_replace_a_non_freeze(tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.docx").write_text("x")
    with pytest.raises(FreezeError, match=r"precious: exists and was not written by odtrial"):
        with atomic_folder(tmp_path / "precious"):
            pass


def test_read_freeze_rejects_missing_and_changed_outputs(tmp_path):
    with pytest.raises(FreezeError, match=r"not a data freeze \(manifest\.json is missing\)"):
        read_freeze(tmp_path)
    write_parquet(_frame(), tmp_path / "tables" / "participants.parquet")
    manifest = {
        "inputs": [],
        "outputs": [
            {
                "path": "tables/participants.parquet",
                "sha256": sha256_file(tmp_path / "tables/participants.parquet"),
                "rows": 2,
            }
        ],
        "config_sha256": "",
        "package_version": "0",
        "trial": {},
        "counts": {},
    }  # no "randomisation": a freeze made before records were frozen still reads
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FreezeError, match=r"manifest lists no tables/clusters\.parquet"):
        read_freeze(tmp_path)
    (tmp_path / "tables/participants.parquet").write_bytes(b"tampered")
    with pytest.raises(FreezeError, match=r"participants\.parquet has changed since the freeze"):
        read_freeze(tmp_path)
    (tmp_path / "tables/participants.parquet").unlink()
    with pytest.raises(FreezeError, match=r"participants\.parquet is missing"):
        read_freeze(tmp_path)
