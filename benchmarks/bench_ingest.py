"""Benchmark: ingest + validate + derive of the 100,000-participant synthetic trial,
timed against a bare read of the same files with pandas/pyreadstat in the same run.

Targets (issue 2): at most 3x the bare read; peak memory at most 4x the size in
memory of the frozen tables.

    python benchmarks/bench_ingest.py [--participants 100000] [--seed 7]

The trial is generated once into benchmarks/data/ (git-ignored). Each timed
stage runs in a fresh subprocess so peak RSS (ru_maxrss) is the stage's own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

_BARE = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    import pandas as pd, pyreadstat
    from odtrial.trial import load_trial
    src = Path(sys.argv[1])
    trial = load_trial(src / "trial.toml")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    rows = 0
    for trust in trial.trusts:
        for spec in trial.extracts[trust.id].values():
            for f in sorted((src / trust.directory).glob(spec.pattern)):
                if spec.format == "csv":
                    df = pd.read_csv(f, sep=spec.delimiter, encoding=spec.encoding, dtype=str,
                                     on_bad_lines="skip", engine="c")
                elif spec.format == "excel":
                    df = pd.read_excel(f, sheet_name=spec.sheet)
                elif spec.format == "sav":
                    df, _ = pyreadstat.read_sav(f, apply_value_formats=spec.use_value_labels)
                elif spec.format == "dta":
                    df, _ = pyreadstat.read_dta(f, apply_value_formats=spec.use_value_labels)
                elif spec.format == "xpt":
                    df, _ = pyreadstat.read_xport(f)
                else:
                    df, _ = pyreadstat.read_sas7bdat(f)
                rows += len(df)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": secs, "rows": rows, "peak_kb": peak, "base_kb": base}))
    """
)

_PIPELINE = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    import odtrial
    from odtrial.data.freeze import read_freeze
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    odtrial.ingest(src, out / "freeze")
    t1 = time.perf_counter()
    ds = odtrial.derive(out / "freeze", out=out / "derived")
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fr = read_freeze(out / "freeze")
    table_bytes = sum(int(t.memory_usage(deep=True).sum()) for t in fr.tables.values())
    event_rows = sum(len(fr.tables[t]) for t in ("followup", "admissions", "crisis_referrals", "prescriptions"))
    print(json.dumps({"ingest_seconds": t1 - t0, "derive_seconds": t2 - t1, "seconds": t2 - t0,
                      "peak_kb": peak, "base_kb": base, "table_bytes": table_bytes,
                      "participants": len(ds), "event_rows": event_rows}))
    """
)


def _run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    src = HERE / "data" / f"trial_{a.participants}_{a.seed}"
    if not (src / "trial.toml").exists():
        # In a subprocess: a forked child's ru_maxrss starts at this process's RSS,
        # so generating here would inflate every stage's base_kb and hide its growth.
        t0 = time.perf_counter()
        gen = "import sys; from odtrial.synth import generate; generate(sys.argv[1], seed=int(sys.argv[2]), participants=int(sys.argv[3]))"
        subprocess.run(
            [sys.executable, "-c", gen, str(src), str(a.seed), str(a.participants)], check=True
        )
        print(f"generated {src} in {time.perf_counter() - t0:.1f} s")
    bare = min((_run(_BARE, str(src)) for _ in range(a.repeats)), key=lambda r: r["seconds"])
    work = HERE / "data" / "work"
    pipes = []
    for _ in range(a.repeats):
        subprocess.run(["rm", "-rf", str(work)], check=True)
        pipes.append(_run(_PIPELINE, str(src), str(work)))
    pipe = min(pipes, key=lambda r: r["seconds"])
    ratio = pipe["seconds"] / bare["seconds"]
    mem_ratio = (pipe["peak_kb"] - pipe["base_kb"]) * 1024 / pipe["table_bytes"]
    print(
        f"participants: {pipe['participants']:,}   event rows: {pipe['event_rows']:,}   rows read (bare): {bare['rows']:,}"
    )
    print(f"bare read:                {bare['seconds']:8.2f} s")
    print(f"ingest+validate+freeze:   {pipe['ingest_seconds']:8.2f} s")
    print(f"derive:                   {pipe['derive_seconds']:8.2f} s")
    print(f"pipeline / bare read:     {ratio:8.2f} x   (target <= 3)")
    print(f"frozen tables in memory:  {pipe['table_bytes'] / 2**20:8.1f} MiB")
    print(
        f"pipeline peak RSS growth: {(pipe['peak_kb'] - pipe['base_kb']) / 2**10:8.1f} MiB = {mem_ratio:.2f} x tables (target <= 4)"
    )


if __name__ == "__main__":
    main()
