"""Benchmark: outcome derivation alone on random frozen-style tables.

100,000 participants and about a million event rows (followup 180k,
admissions 250k, crisis referrals 170k, prescriptions 400k by default).
Prints the seconds of ``odtrial.derive`` (best of ``--repeats``) and of
writing the analysis dataset.

    python benchmarks/bench_derive.py [--participants N] [--events M] [--repeats R]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from odtrial.data.derive import derive
from odtrial.data.drugs import DRUGS


def random_tables(n: int, m: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{x:016x}" for x in rng.integers(0, 2**63, n)])
    base = np.datetime64("2021-01-01", "D")
    consent = base + rng.integers(0, 900, n)

    def pick(k: int) -> tuple[np.ndarray, np.ndarray]:
        i = rng.integers(0, n, k)
        return ids[i], consent[i]

    def dates(d: np.ndarray) -> pd.Series:
        return pd.Series(d.astype("datetime64[us]"))

    clusters = pd.DataFrame(
        {
            "cluster_id": pd.array([f"C{i:02d}" for i in range(32)], dtype="string"),
            "trust": pd.array([f"T{i % 6}" for i in range(32)], dtype="string"),
            "catchment": pd.array([f"K{i % 9}" for i in range(32)], dtype="string"),
            "n_practices": np.full(32, 3, dtype=np.int64),
            "list_size": np.full(32, 10_000, dtype=np.int64),
            "imd_score": np.full(32, 20.0),
            "arm": pd.array(["POD", "TAU"] * 16, dtype="string"),
        }
    )
    cl = rng.integers(0, 32, n)
    participants = pd.DataFrame(
        {
            "participant_id": pd.array(ids, dtype="string"),
            "cluster_id": pd.array(clusters["cluster_id"].to_numpy()[cl], dtype="string"),
            "catchment": pd.array(clusters["catchment"].to_numpy()[cl], dtype="string"),
            "arm": pd.array(clusters["arm"].to_numpy()[cl], dtype="string"),
            "gp_practice": pd.array(["G"] * n, dtype="string"),
            "practice_cluster_id": pd.array(clusters["cluster_id"].to_numpy()[cl], dtype="string"),
            "age_at_consent": pd.array(rng.integers(18, 80, n), dtype="Int64"),
            "sex": pd.array(rng.choice(["female", "male"], n), dtype="string"),
            "ethnicity": pd.array(rng.choice(["A", "B", "99"], n), dtype="string"),
            "diagnosis": pd.array(rng.choice(["psychosis", "depression"], n), dtype="string"),
            "consent_date": dates(consent),
            "baseline_work_study": pd.array(rng.random(n) < 0.3, dtype="boolean"),
            "trust": pd.array(clusters["trust"].to_numpy()[cl], dtype="string"),
        }
    )
    k = int(m * 0.18)
    pid, c = pick(k)
    visit = rng.choice([12, 24], k)
    followup = pd.DataFrame(
        {
            "participant_id": pd.array(pid, dtype="string"),
            "visit_month": pd.array(visit, dtype="Int64"),
            "assessment_date": dates(c + visit * 30 + rng.integers(-20, 20, k)),
            "work_study": pd.array(rng.random(k) < 0.5, dtype="boolean"),
        }
    )
    k = int(m * 0.25)
    pid, c = pick(k)
    adm = c + rng.integers(-30, 800, k)
    dis = adm + rng.integers(0, 60, k)
    discharge = np.where(rng.random(k) < 0.02, np.datetime64("NaT"), dis)
    admissions = pd.DataFrame(
        {
            "participant_id": pd.array(pid, dtype="string"),
            "admission_date": dates(adm),
            "discharge_date": dates(discharge),
            "legal_status": pd.array(["informal"] * k, dtype="string"),
        }
    )
    k = int(m * 0.17)
    pid, c = pick(k)
    crisis = pd.DataFrame(
        {
            "participant_id": pd.array(pid, dtype="string"),
            "referral_date": dates(c + rng.integers(-10, 800, k)),
        }
    )
    k = int(m * 0.40)
    pid, c = pick(k)
    names = [*DRUGS, "olanzipine"]  # the last: a misspelling no dictionary has
    start = c + rng.integers(-200, 750, k)
    end = start + rng.integers(0, 365, k)
    prescriptions = pd.DataFrame(
        {
            "participant_id": pd.array(pid, dtype="string"),
            "drug": pd.array(rng.choice(names, k), dtype="string"),
            "daily_dose_mg": rng.integers(1, 20, k).astype(np.float64),
            "start_date": dates(start),
            "end_date": dates(np.where(rng.random(k) < 0.1, np.datetime64("NaT"), end)),
        }
    )
    return {
        "clusters": clusters,
        "participants": participants,
        "followup": followup,
        "admissions": admissions,
        "crisis_referrals": crisis,
        "prescriptions": prescriptions,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    tables = random_tables(a.participants, a.events, a.seed)
    n_events = sum(
        len(tables[t]) for t in ("followup", "admissions", "crisis_referrals", "prescriptions")
    )
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        df = derive(tables, data_cutoff="2024-06-30")
        times.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        derive(tables, data_cutoff="2024-06-30", out=Path(tmp))
        with_write = time.perf_counter() - t0
    print(f"participants: {len(df):,}   event rows: {n_events:,}")
    print(
        f"derive (best of {a.repeats}):  {min(times):6.2f} s   (all: {', '.join(f'{t:.2f}' for t in times)})"
    )
    print(f"derive + write parquet/csv:  {with_write:6.2f} s")


if __name__ == "__main__":
    main()
