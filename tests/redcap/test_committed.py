"""The shipped REDCap project (data/synthetic_redcap/) is what ``odtrial synth --design
redcap`` makes: text files byte for byte (its trial.toml is odtrial init's), the
randomisation log equal apart from the software versions and the Parquet file's hash."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from odtrial._io import RECORD

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "synthetic_redcap"


def _log(path: Path) -> list[tuple[int, str, object]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        data = e["data"]
        if e["event"] == "environment":
            data = sorted(data)
        if e["event"] == "space":
            data = {k: v for k, v in data.items() if k != "sha256"}
        out.append((e["seq"], e["event"], data))
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from odtrial.synth.redcap.generate import generate

    return generate(tmp_path_factory.mktemp("steady"))


def test_shipped_project_matches_the_generator(made: Path) -> None:
    files = sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file() and p.name != "README.md"
    )
    assert files == shipped
    for rel in files:
        ours, theirs = made / rel, SHIPPED / rel
        if rel.name == "allocation_log.jsonl":
            assert _log(ours) == _log(theirs)
        elif rel.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(ours), pd.read_parquet(theirs))
        elif rel.name == RECORD or rel.suffix == ".parquet":
            continue
        else:
            assert ours.read_bytes() == theirs.read_bytes(), f"{rel} differs: regenerate"


def test_synth_cli_makes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from odtrial.cli import main

    with pytest.raises(SystemExit) as e:
        main(["synth", "--design", "redcap", "--out", str(tmp_path / "s"), "--fault-rate", "0"])
    assert not e.value.code, capsys.readouterr().err
    truth = json.loads((tmp_path / "s" / "truth.json").read_text())
    assert truth["faults"] == [] and truth["participants"] == 216
    assert (tmp_path / "s" / "trial.toml").is_file()
