"""Benchmark: ``odtrial run`` (ingest -> derive -> analyse -> report) on the
shipped synthetic trial, as a user runs it: a fresh process, wall time.

Target (issue 5): under 60 s on 2 cores. The anchor in the same run is the
start-up of a bare ``python -c "import pandas, scipy, statsmodels.api"``, so
the ratio separates our work from the interpreter and library import cost.

    python benchmarks/bench_run.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    anchor = min(
        _time([sys.executable, "-c", "import pandas, scipy, statsmodels.api"], ROOT)
        for _ in range(a.repeats)
    )
    runs = []
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(_time([sys.executable, "-m", "odtrial", "run", "--out", tmp], ROOT))
    best = min(runs)
    print(f"anchor (import pandas, scipy, statsmodels): {anchor:6.2f} s")
    print(
        f"odtrial run, best of {a.repeats}:                {best:6.2f} s  (all: {', '.join(f'{r:.1f}' for r in runs)})"
    )
    print(f"ratio to anchor:                          {best / anchor:6.1f} x")
    print(f"target: < 60 s  -> {'met' if best < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
