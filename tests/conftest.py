from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``odtrial ARGV`` in process: (exit code, standard output, standard error)."""
    from odtrial.cli import main

    def run(argv: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main(argv)
        out = capsys.readouterr()
        return int(info.value.code or 0), out.out, out.err

    return run
