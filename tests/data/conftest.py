"""Fixtures for the validation tests: a 2-trust, 4-cluster trial and clean
mapped frames for it (every rule silent), small enough to edit by hand.

Trial: T1 (catchment K1: C1 POD practices A001/A002, C2 TAU practice A003),
T2 (catchment K2: C3 POD practice B001, C4 TAU practices B002/B003);
follow-up 24 months, data cut-off 2025-06-30.
Participants: 8 (4 per trust), consent in January 2023, adults.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import pytest

from odtrial.data.nhs import check_digit
from odtrial.synth.tables import ECONOMICS_TABLES, table_specs, tables_config
from odtrial.trial import Trial, parse_trial

_SPECS = table_specs()
MAPPED = {t: s.fields for t, s in _SPECS.items()}
# the clinical tables the test kit writes (not the health economics')
SITE_TABLES = tuple(t for t in _SPECS if t not in ECONOMICS_TABLES)

_COLUMNS = {table: {f.name: f.name.upper() for f in fields} for table, fields in MAPPED.items()}


def _extracts() -> dict[str, Any]:
    return {
        table: {"pattern": f"{table}.csv", "format": "csv", "columns": dict(cols)}
        for table, cols in _COLUMNS.items()
    }


def trial_config(*, allocated: bool = True) -> dict[str, Any]:
    """The raw TOML mapping of the test trial."""
    arms = {"C1": "POD", "C2": "TAU", "C3": "POD", "C4": "TAU"}
    practices = {"C1": ["A001", "A002"], "C2": ["A003"], "C3": ["B001"], "C4": ["B002", "B003"]}
    catch = {"C1": "K1", "C2": "K1", "C3": "K2", "C4": "K2"}
    clusters = []
    for cid in ("C1", "C2", "C3", "C4"):
        c: dict[str, Any] = {
            "id": cid,
            "catchment": catch[cid],
            "practices": practices[cid],
            "list_size": 10000,
            "imd_score": 20.0,
        }
        if allocated:
            c["arm"] = arms[cid]
        clusters.append(c)
    return {
        "trial": {
            "name": "validation test trial",
            "arms": ["POD", "TAU"],
            "follow_up_months": 24,
            "data_cutoff": date(2025, 6, 30),
            "synthetic": True,
        },
        "visits": {
            "schedule": [{"month": 12, "window_days": 92}, {"month": 24, "window_days": 92}]
        },
        "eligibility": {"min_age": 18},
        "trusts": [{"id": "T1", "name": "Trust one"}, {"id": "T2", "name": "Trust two"}],
        "strata": [
            {"id": "K1", "trust": "T1", "name": "K one"},
            {"id": "K2", "trust": "T2", "name": "K two"},
        ],
        "clusters": clusters,
        "extracts": {"T1": _extracts(), "T2": _extracts()},
        **tables_config(),
    }


def make_trial(*, allocated: bool = True) -> Trial:
    return parse_trial(copy.deepcopy(trial_config(allocated=allocated)), source="test")


def valid_nhs(i: int) -> str:
    """The i-th valid NHS number of a fixed sequence (deterministic)."""
    n = 0
    base = 401_023_210
    while True:
        nine = str(base + n)
        cd = check_digit(nine)
        n += 1
        if cd is None:
            continue
        if i == 0:
            return nine + str(cd)
        i -= 1


def invalid_nhs(i: int) -> str:
    """A 10-digit number failing Modulus 11 (wrong check digit)."""
    good = valid_nhs(i)
    return good[:9] + str((int(good[9]) + 1) % 10)


_D = pd.Timestamp


def _frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Mapped frame in contract dtypes, with provenance numbered per trust."""
    df = pd.DataFrame(rows)
    df["source_file"] = df["trust"].str.lower() + f"/{table}.csv"
    df["source_row"] = df.groupby("trust").cumcount() + 1
    out: dict[str, pd.Series] = {
        "trust": df["trust"].astype("string"),
        "source_file": df["source_file"].astype("string"),
        "source_row": df["source_row"].astype("Int64"),
    }
    for f in MAPPED[table]:
        col = df[f.name] if f.name in df else pd.Series([None] * len(df))
        if f.kind == "date":
            out[f.name] = pd.to_datetime(col).astype("datetime64[ns]")
        elif f.kind == "float":
            out[f.name] = col.astype("float64")
        elif f.vocab == "visit":
            out[f.name] = col.astype("Int64")
        elif f.vocab == "yes_no":
            out[f.name] = col.astype("boolean")
        else:
            out[f.name] = col.astype("string")
    return pd.DataFrame(out)


def clean_mapped() -> dict[str, pd.DataFrame]:
    """Clean mapped frames: :func:`odtrial.data.validate.validate` finds nothing.

    A fresh deep copy each call, so tests may edit it.
    """
    return {k: v.copy(deep=True) for k, v in _clean_mapped().items()}


@functools.cache
def _clean_mapped() -> dict[str, pd.DataFrame]:
    people = [
        # trust, cluster, practice, consent
        ("T1", "C1", "A001", "2023-01-10"),
        ("T1", "C1", "A002", "2023-01-11"),
        ("T1", "C2", "A003", "2023-01-12"),
        ("T1", "C2", "A003", "2023-01-13"),
        ("T2", "C3", "B001", "2023-01-14"),
        ("T2", "C3", "B001", "2023-01-15"),
        ("T2", "C4", "B002", "2023-01-16"),
        ("T2", "C4", "B003", "2023-01-17"),
    ]
    parts, fu, adm, crisis, rx = [], [], [], [], []
    for i, (trust, cid, gp, consent) in enumerate(people):
        nhs = valid_nhs(i)
        c = _D(consent)
        parts.append(
            {
                "trust": trust,
                "nhs_number": nhs,
                "date_of_birth": _D(f"{1970 + i}-05-0{1 + i % 9}"),
                "sex": ("female", "male")[i % 2],
                "ethnicity": ("A", "99", None, "M")[i % 4],
                "diagnosis": ("psychosis", "depression", "bipolar", "other")[i % 4],
                "gp_practice": gp,
                "cluster_id": cid,
                "consent_date": c,
                "baseline_work_study": i % 3 == 0,
            }
        )
        for m in (12, 24):
            fu.append(
                {
                    "trust": trust,
                    "nhs_number": nhs,
                    "visit_month": m,
                    "assessment_date": c + pd.DateOffset(months=m) + pd.Timedelta(days=i * 5),
                    "work_study": i % 2 == 0,
                }
            )
        # Two stays per person: back-to-back (transfer on the discharge day), the
        # second still open for odd i.
        a1 = c + pd.Timedelta(days=30 + i)
        d1 = a1 + pd.Timedelta(days=20)
        adm.append(
            {
                "trust": trust,
                "nhs_number": nhs,
                "admission_date": a1,
                "discharge_date": d1,
                "legal_status": "informal",
            }
        )
        adm.append(
            {
                "trust": trust,
                "nhs_number": nhs,
                "admission_date": d1,
                "discharge_date": None if i % 2 else d1 + pd.Timedelta(days=7),
                "legal_status": "section_2",
            }
        )
        crisis.append(
            {"trust": trust, "nhs_number": nhs, "referral_date": c + pd.Timedelta(days=100)}
        )
        rx.append(
            {
                "trust": trust,
                "nhs_number": nhs,
                "drug": ("olanzapine", "quetiapine", "sertraline", "clozapine")[i % 4],
                "daily_dose_mg": (10.0, 300.0, 100.0, 400.0)[i % 4],
                "start_date": c + pd.Timedelta(days=3),
                "end_date": None if i % 2 else c + pd.Timedelta(days=200),
            }
        )
    return {
        "participants": _frame("participants", parts),
        "followup": _frame("followup", fu),
        "admissions": _frame("admissions", adm),
        "crisis_referrals": _frame("crisis_referrals", crisis),
        "prescriptions": _frame("prescriptions", rx),
    }


def hits(failures: pd.DataFrame, rule: str) -> set[tuple[str, str, int]]:
    """(table, trust, source_row) of every failure with ``rule``."""
    f = failures[failures["rule"] == rule]
    return set(zip(f["table"], f["trust"], f["source_row"].astype(int), strict=True))


def row_key(table: str, pos: int) -> tuple[str, str, int]:
    """(table, trust, source_row) of the clean frame's row at position ``pos``."""
    df = _clean_mapped()[table]
    return (table, str(df.loc[pos, "trust"]), int(df.loc[pos, "source_row"]))


@dataclass(frozen=True)
class ValidationKit:
    """The helpers above, handed to tests as one fixture (test modules cannot
    import conftest under --import-mode=importlib)."""

    make_trial: Callable[..., Trial] = make_trial
    clean_mapped: Callable[[], dict[str, pd.DataFrame]] = clean_mapped
    valid_nhs: Callable[[int], str] = valid_nhs
    invalid_nhs: Callable[[int], str] = invalid_nhs
    hits: Callable[[pd.DataFrame, str], set[tuple[str, str, int]]] = hits
    row_key: Callable[[str, int], tuple[str, str, int]] = row_key


@pytest.fixture(scope="session")
def vkit() -> ValidationKit:
    return ValidationKit()
