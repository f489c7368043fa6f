from __future__ import annotations

import os
import subprocess
import sys

from odtrial import __version__


def test_version_and_unknown_command():
    out = subprocess.run(
        [sys.executable, "-m", "odtrial", "version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == __version__
    bad = subprocess.run(
        [sys.executable, "-m", "odtrial", "no-such-command"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def _commands():
    from odtrial.cli import COMMAND_MODULES, _register_all, app

    _register_all()
    assert len(COMMAND_MODULES) >= 7
    return sorted({c.name or c.callback.__name__ for c in app.registered_commands})


def test_version_option():
    out = subprocess.run(
        [sys.executable, "-m", "odtrial", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"odtrial {__version__}"


def test_no_help_labels_a_flag_as_taking_a_bool():
    env = {**os.environ, "COLUMNS": "120", "TERM": "dumb"}
    names = _commands()
    assert {"run", "report", "randomise", "analyse"} <= set(names)
    for name in [*names, None]:
        argv = [sys.executable, "-m", "odtrial", *([name] if name else []), "--help"]
        out = subprocess.run(argv, capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        assert "<bool>" not in out.stdout, name
        assert "--help" in out.stdout
