from __future__ import annotations

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
    from typer.testing import CliRunner

    from odtrial.cli import app

    names = _commands()
    assert {"run", "report", "randomise", "analyse"} <= set(names)
    runner = CliRunner()
    for name in [*names, None]:  # in process: a subprocess a command took 19 s
        out = runner.invoke(app, [*([name] if name else []), "--help"],
                            env={"COLUMNS": "120", "TERM": "dumb"}, prog_name="odtrial")  # fmt: skip
        assert out.exit_code == 0, out.output
        assert "<bool>" not in out.output, name
        assert "--help" in out.output and "Usage: odtrial" in out.output


def test_run_shows_its_progress_bar_only_where_asked_or_on_a_terminal(monkeypatch, tmp_path):
    """A log file gets no progress bar unless --progress; --quiet silences a terminal."""
    import pytest

    import odtrial.analysis.pipeline as pipeline
    from odtrial.cli import main
    from odtrial.errors import PlanError

    seen: list[bool] = []

    def fake_run(*args: object, progress: bool = False, **kw: object) -> None:
        seen.append(progress)
        raise PlanError("stop here")  # the flag is all this test needs

    monkeypatch.setattr(pipeline, "run", fake_run)
    for tty, flags in ((False, []), (True, []), (True, ["--quiet"]), (False, ["--progress"])):
        monkeypatch.setattr(sys.stderr, "isatty", lambda tty=tty: tty)
        with pytest.raises(SystemExit):
            main(["run", "--out", str(tmp_path / "out"), *flags])
    assert seen == [False, True, False, True]
