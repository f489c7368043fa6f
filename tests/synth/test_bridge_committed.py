"""The shipped second trial (data/synthetic_bridge/) is exactly what
``odtrial synth --design bridge`` makes: text files byte for byte, Excel and SPSS files
read back equal (their bytes depend on the zlib/pyreadstat versions), the randomisation
log equal apart from the software versions and the Parquet file's hash."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from odtrial._io import RECORD

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "synthetic_bridge"
TEXT = {".csv", ".toml", ".json"}


def _log(path: Path) -> list[tuple[int, str, object]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        data = dict(e["data"]) if isinstance(e["data"], dict) else e["data"]
        if e["event"] == "environment":
            data = sorted(data)
        if e["event"] == "space":
            data.pop("sha256")
        out.append((e["seq"], e["event"], data))
    return out


def _record(path: Path) -> tuple[str, dict[str, str | None]]:
    """Its kind, names and text files' hashes: not a nested record's, which hashes the
    randomisation log (software versions) and is compared on its own."""
    rec = json.loads(path.read_text(encoding="utf-8"))
    return rec["kind"], {
        k: (v if Path(k).suffix in TEXT and Path(k).name != RECORD else None)
        for k, v in rec["files"].items()
    }


def _read(path: Path) -> object:
    if path.suffix == ".xlsx":
        return pd.read_excel(path, dtype=object)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    df, meta = pyreadstat.read_sav(path)
    return df, meta.variable_value_labels


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from odtrial.synth.bridge import generate

    return generate(tmp_path_factory.mktemp("bridge_default"))


def test_shipped_bridge_trial_matches_the_generator(made: Path) -> None:
    if not (SHIPPED / "trial.toml").is_file():
        pytest.fail("data/synthetic_bridge/ is missing: regenerate it (see its README.md)")
    names = sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file() and p.name != "README.md"
    )
    assert names == shipped
    for rel in names:
        a, b = made / rel, SHIPPED / rel
        if rel.name == RECORD:
            assert _record(a) == _record(b), f"{rel} drifted from the generator"
        elif rel.suffix == ".jsonl":
            assert _log(a) == _log(b), f"{rel} drifted from the generator"
        elif rel.suffix in TEXT:
            assert a.read_bytes() == b.read_bytes(), f"{rel} drifted from the generator"
        else:
            ra, rb = _read(a), _read(b)
            if isinstance(ra, tuple):
                pd.testing.assert_frame_equal(ra[0], rb[0])  # type: ignore[index]
                assert ra[1] == rb[1]  # type: ignore[index]
            else:
                pd.testing.assert_frame_equal(ra, rb)  # type: ignore[arg-type]
