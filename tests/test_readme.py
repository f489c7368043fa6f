"""The README's library snippet runs and reproduces the report's primary estimate."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _snippet() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python block"
    return blocks[0]


@pytest.mark.slow
def test_the_library_snippet_reproduces_the_reports_primary_estimate(tmp_path, monkeypatch):
    from odtrial.analysis.pipeline import run

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(REPO / "data")
    code = _snippet()
    assert "unblinded" in code  # it says plainly which arms it reads
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # our own README
    fit = ns["fit"]
    r = run(None, tmp_path / "report")
    results = json.loads(r.results.read_text(encoding="utf-8"))
    effect = next(o for o in results["outcomes"] if o["role"] == "primary")["effect"]
    log_or = fit.params["treat"]
    # the blinded report gives A against B; A is POD or TAU, so the log OR may be negated
    assert abs(abs(log_or) - abs(math.log(effect["estimate"]))) < 1e-6
    assert fit.bse["treat"] == pytest.approx(effect["std_error"], rel=1e-6)
    lo, hi = (math.exp(v) for v in fit.conf_int().loc["treat"])
    shown = sorted([effect["ci_lower"], effect["ci_upper"]])
    assert sorted([lo, hi]) == pytest.approx(shown, rel=1e-6) or sorted(
        [1 / hi, 1 / lo]
    ) == pytest.approx(shown, rel=1e-6)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    est = math.exp(log_or)
    assert f"odds ratio\nfor POD against TAU is the report's primary estimate ({est:.2f}" in readme
