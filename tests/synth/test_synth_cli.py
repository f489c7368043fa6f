from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest


def test_cli_writes_a_trial(tmp_path):
    out = tmp_path / "trial"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "odtrial",
            "synth",
            "--out",
            str(out),
            "--seed",
            "3",
            "--participants",
            "200",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "200 participants" in r.stdout
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 3 and truth["participants"] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--participants", "10"], "--participants must be at least 96"),
        (["--fault-rate", "0.9"], r"--fault-rate must be in \[0, 0.5\)"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, args, message):
    import typer
    from typer.testing import CliRunner

    from odtrial.errors import ConfigError
    from odtrial.synth.cli import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps "synth" a subcommand
        pass

    r = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), *args])
    assert isinstance(r.exception, ConfigError)
    assert re.search(message, str(r.exception)) and "\n" not in str(r.exception)
    assert not (tmp_path / "trial.toml").exists()
