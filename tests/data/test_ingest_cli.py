"""``odtrial ingest``: a short summary on success; one line and exit code 2 on fatal errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from odtrial.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_sources import write_source


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_ingest_prints_summary(tmp_path, capsys):
    src = write_source(tmp_path / "src", {"A": "csv8", "B": "dta"}, n=2)
    p = src.root / src.files["A"]["participants"]
    p.write_text(p.read_text() + "garbage line\n")
    code, out, err = _run(["ingest", str(src.root), "--out", str(tmp_path / "fz")], capsys)
    assert code in (0, None), err
    assert "participants" in out and "quarantined" in out
    assert "queries: 1 error, 0 warning" in out
    assert (tmp_path / "fz" / "manifest.json").is_file()


def test_ingest_key_file_and_config_options(tmp_path, capsys):
    src = write_source(tmp_path / "src", {"A": "csv8"}, n=2, test_key=None)
    cfg = tmp_path / "elsewhere.toml"
    (src.root / "trial.toml").rename(cfg)
    key = tmp_path / "key"
    key.write_text("cli-secret-key-0123456789")
    code, _out, err = _run(
        [
            "ingest",
            str(src.root),
            "--out",
            str(tmp_path / "fz"),
            "--config",
            str(cfg),
            "--key-file",
            str(key),
        ],
        capsys,
    )
    assert code in (0, None), err


def test_fatal_error_is_one_line_exit_2(tmp_path, capsys):
    src = write_source(tmp_path / "src", {"A": "csv8"}, n=2)
    p = src.root / src.files["A"]["followup"]
    p.write_text(p.read_text().replace("VISIT", "VISITNO"))
    code, _out, err = _run(["ingest", str(src.root), "--out", str(tmp_path / "fz")], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("odtrial: error: a/followup_2025-06-30.csv: column 'VISIT'")
    assert not (tmp_path / "fz").exists()
