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
