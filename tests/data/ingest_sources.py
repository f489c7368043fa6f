"""Small hand-made trials on disk for the ingest tests (imported by test_*.py here).

:func:`write_source` writes ``SRC/trial.toml`` and one extract folder per
trust, each trust in its own dialect:

- ``csv8``: CSV UTF-8, ``,``, ISO dates, sex ``M/F``, yes/no ``Y/N``;
- ``csv1252``: CSV Windows-1252, ``;``, dd/mm/yyyy, sex ``1/2``, a drug name
  with an accent mapped by the config (``Olanzapine é``);
- ``excel``: xlsx with real date cells, sex ``Male/Female``;
- ``sav``: SPSS with value labels for sex and dates as SPSS dates;
- ``dta``: Stata with numeric codes and dates;
- ``xpt``: SAS transport, dates as SAS day numbers (``sas-days``).

Each trust has one cluster and ``n`` participants, each with one follow-up,
admission, crisis referral and prescription, all clean (validation silent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odtrial.synth.tables import DATE_FIELDS, TABLES_TOML

DIALECTS = ("csv8", "csv1252", "excel", "sav", "dta", "xpt")
KEY = "test-key-0123456789abcdef"
CUTOFF = date(2025, 6, 30)

_SRC_COLS = {  # canonical -> source column name (<= 8 chars for xpt)
    "participants": {
        "nhs_number": "NHSNO",
        "date_of_birth": "DOB",
        "sex": "SEX",
        "ethnicity": "ETHNIC",
        "diagnosis": "DIAG",
        "gp_practice": "GPPRAC",
        "cluster_id": "CLUSTER",
        "consent_date": "CONSENT",
        "baseline_work_study": "WORKBL",
    },
    "followup": {
        "nhs_number": "NHSNO",
        "visit_month": "VISIT",
        "assessment_date": "ASSDATE",
        "work_study": "WORK",
    },
    "admissions": {
        "nhs_number": "NHSNO",
        "admission_date": "ADMDATE",
        "discharge_date": "DISDATE",
        "legal_status": "LEGAL",
    },
    "crisis_referrals": {"nhs_number": "NHSNO", "referral_date": "REFDATE"},
    "prescriptions": {
        "nhs_number": "NHSNO",
        "drug": "DRUG",
        "daily_dose_mg": "DOSE",
        "start_date": "RXSTART",
        "end_date": "RXEND",
    },
}


def valid_nhs(i: int) -> str:
    """The i-th number of a fixed sequence of valid NHS numbers."""
    n = 0
    k = -1
    while True:
        nine = f"{943_476_500 + n:09d}"
        n += 1
        r = 11 - sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
        r = 0 if r == 11 else r
        if r == 10:
            continue
        k += 1
        if k == i:
            return nine + str(r)


@dataclass
class Source:
    """A written source folder and the canonical data it holds."""

    root: Path
    canonical: dict[str, dict[str, pd.DataFrame]]  # trust -> table -> canonical frame
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # trust -> table -> rel path

    @property
    def nhs_numbers(self) -> list[str]:
        out: list[str] = []
        for t in self.canonical.values():
            out.extend(t["participants"]["nhs_number"].tolist())
        return out


def canonical_frames(
    trust_index: int, n: int, cluster: str, practice: str
) -> dict[str, pd.DataFrame]:
    """Clean canonical data of one trust."""
    nhs = [valid_nhs(trust_index * 100 + i) for i in range(n)]
    consent = [
        pd.Timestamp("2023-01-10") + pd.Timedelta(days=3 * i + trust_index) for i in range(n)
    ]
    dob = [pd.Timestamp("1980-03-15") + pd.Timedelta(days=401 * i) for i in range(n)]
    c = pd.Series(consent)
    return {
        "participants": pd.DataFrame(
            {
                "nhs_number": nhs,
                "date_of_birth": dob,
                "sex": ["female" if i % 2 else "male" for i in range(n)],
                "ethnicity": ["A" if i % 3 else "J" for i in range(n)],
                "diagnosis": ["psychosis" if i % 2 else "bipolar" for i in range(n)],
                "gp_practice": [practice] * n,
                "cluster_id": [cluster] * n,
                "consent_date": consent,
                "baseline_work_study": [i % 2 == 0 for i in range(n)],
            }
        ),
        "followup": pd.DataFrame(
            {
                "nhs_number": nhs,
                "visit_month": [12] * n,
                "assessment_date": c + pd.Timedelta(days=366),
                "work_study": [i % 3 == 0 for i in range(n)],
            }
        ),
        "admissions": pd.DataFrame(
            {
                "nhs_number": nhs,
                "admission_date": c + pd.Timedelta(days=100),
                "discharge_date": c + pd.Timedelta(days=112),
                "legal_status": ["informal" if i % 2 else "section_2" for i in range(n)],
            }
        ),
        "crisis_referrals": pd.DataFrame(
            {"nhs_number": nhs, "referral_date": c + pd.Timedelta(days=50)}
        ),
        "prescriptions": pd.DataFrame(
            {
                "nhs_number": nhs,
                "drug": ["olanzapine" if i % 2 else "risperidone" for i in range(n)],
                "daily_dose_mg": [10.0 if i % 2 else 2.5 for i in range(n)],
                "start_date": c + pd.Timedelta(days=5),
                "end_date": c + pd.Timedelta(days=200),
            }
        ),
    }


# Codes by dialect: canonical -> source (the config maps source -> canonical).
_SEX = {
    "csv8": {"male": "M", "female": "F"},
    "csv1252": {"male": "1", "female": "2"},
    "excel": {"male": "Male", "female": "Female"},
    "sav": {"male": 1, "female": 2},  # value labels 1 Male, 2 Female
    "dta": {"male": 1, "female": 2},
    "xpt": {"male": 1, "female": 2},
}
_YES_NO = {"csv8": {True: "Y", False: "N"}, "csv1252": {True: "J", False: "N"}}
_LEGAL = {"informal": "INF", "section_2": "S2"}
_DRUG_1252 = {"olanzapine": "Olanzapine é", "risperidone": "Risperidone"}


def _source_frame(df: pd.DataFrame, table: str, dialect: str) -> pd.DataFrame:
    out = df.copy()
    if "sex" in out:
        out["sex"] = out["sex"].map(_SEX[dialect])
    for yn in ("baseline_work_study", "work_study"):
        if yn in out:
            out[yn] = out[yn].map(_YES_NO[dialect]) if dialect in _YES_NO else out[yn].astype(int)
    if "legal_status" in out:
        out["legal_status"] = out["legal_status"].map(_LEGAL)
    if "drug" in out and dialect == "csv1252":
        out["drug"] = out["drug"].map(_DRUG_1252)
    for d in DATE_FIELDS & set(out.columns):
        if dialect == "csv8":
            out[d] = out[d].dt.strftime("%Y-%m-%d")
        elif dialect == "csv1252":
            out[d] = out[d].dt.strftime("%d/%m/%Y")
        elif dialect == "xpt":
            out[d] = (out[d] - pd.Timestamp("1960-01-01")).dt.days.astype("float64")
        elif dialect in ("sav", "dta"):
            out[d] = out[d].dt.date
    if dialect == "csv1252" and "daily_dose_mg" in out:
        out["daily_dose_mg"] = out["daily_dose_mg"].map(lambda v: f"{v:.1f}".replace(".", ","))
    return out.rename(columns=_SRC_COLS[table])


def _spec(dialect: str, table: str) -> dict[str, Any]:
    ext = {
        "csv8": "csv",
        "csv1252": "csv",
        "excel": "xlsx",
        "sav": "sav",
        "dta": "dta",
        "xpt": "xpt",
    }
    fmt = {"csv8": "csv", "csv1252": "csv", "excel": "excel"}.get(dialect, dialect)
    spec: dict[str, Any] = {"pattern": f"{table}_*.{ext[dialect]}", "format": fmt}
    if dialect == "csv1252":
        spec.update(encoding="cp1252", delimiter=";", date_format="%d/%m/%Y", decimal=",")
    elif dialect in ("excel", "sav", "dta"):
        spec["date_format"] = "native"
    elif dialect == "xpt":
        spec["date_format"] = "sas-days"
    codes: dict[str, dict[str, Any]] = {}
    cols = _SRC_COLS[table]
    if "sex" in cols:
        codes["sex"] = (
            {"Male": "male", "Female": "female"}
            if dialect == "sav"
            else {str(v): k for k, v in _SEX[dialect].items()}
        )
    for yn in ("baseline_work_study", "work_study"):
        if yn in cols:
            codes[yn] = (
                {v: k for k, v in _YES_NO[dialect].items()}
                if dialect in _YES_NO
                else {"1": True, "0": False}
            )
    if "legal_status" in cols:
        codes["legal_status"] = {v: k for k, v in _LEGAL.items()}
    if "drug" in cols and dialect == "csv1252":
        codes["drug"] = {v: k for k, v in _DRUG_1252.items()}
    spec["columns"] = dict(cols)
    spec["codes"] = codes
    return spec


def _write_file(df: pd.DataFrame, path: Path, dialect: str) -> None:
    import pyreadstat

    if dialect == "csv8":
        df.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    elif dialect == "csv1252":
        df.to_csv(path, index=False, sep=";", lineterminator="\r\n", encoding="cp1252")
    elif dialect == "excel":
        df.to_excel(path, index=False)
    elif dialect == "sav":
        labels = {"SEX": {1: "Male", 2: "Female"}} if "SEX" in df else {}
        pyreadstat.write_sav(df, str(path), variable_value_labels=labels)
    elif dialect == "dta":
        pyreadstat.write_dta(df, str(path))
    elif dialect == "xpt":
        pyreadstat.write_xport(df, str(path))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else _toml_value(k)


def trial_toml(dialects: dict[str, str], *, test_key: str | None = KEY) -> str:
    """The trial.toml text for trusts named by ``dialects`` (trust id -> dialect)."""
    lines = [
        "[trial]",
        'name = "ingest test trial"',
        "synthetic = true",
        'arms = ["POD", "TAU"]',
        "follow_up_months = 24",
        f"data_cutoff = {CUTOFF.isoformat()}",
        "",
        "[visits]",
        "schedule = [{ month = 12, window_days = 92 }, { month = 24, window_days = 92 }]",
        "",
        "[eligibility]",
        "min_age = 18",
        "",
        "[pseudonymisation]",
        'key_env = "ODTRIAL_TEST_INGEST_KEY"',
    ]
    if test_key is not None:
        lines.append(f'test_key = "{test_key}"')
    lines += ["", *TABLES_TOML.splitlines()]  # the shipped trial's tables
    for i, trust in enumerate(dialects):
        lines += ["", "[[trusts]]", f'id = "{trust}"', f'name = "Trust {trust}"']
        lines.append(f'directory = "{trust.lower()}"')
        lines += ["", "[[strata]]", f'id = "K{trust}"', f'trust = "{trust}"']
        lines += ["", "[[clusters]]", f'id = "C{trust}"', f'catchment = "K{trust}"']
        lines += [f'practices = ["G{i:04d}"]', "list_size = 10000", "imd_score = 20.5"]
        lines.append(f'arm = "{"POD" if i % 2 == 0 else "TAU"}"')
    for trust, dialect in dialects.items():
        for table in _SRC_COLS:
            spec = _spec(dialect, table)
            lines += ["", f"[extracts.{trust}.{table}]"]
            for k in ("pattern", "format", "encoding", "delimiter", "date_format", "decimal"):
                if k in spec:
                    lines.append(f"{k} = {_toml_value(spec[k])}")
            lines += ["", f"[extracts.{trust}.{table}.columns]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in spec["columns"].items()]
            for fld, m in spec["codes"].items():
                lines += ["", f"[extracts.{trust}.{table}.codes.{fld}]"]
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in m.items()]
    return "\n".join(lines) + "\n"


def write_source(
    root: Path,
    dialects: dict[str, str] | None = None,
    *,
    n: int = 4,
    test_key: str | None = KEY,
) -> Source:
    """Write a clean source folder; ``dialects`` maps trust id -> dialect."""
    dialects = dialects or {f"T{d.upper()}": d for d in DIALECTS}
    root.mkdir(parents=True, exist_ok=True)
    (root / "trial.toml").write_text(trial_toml(dialects, test_key=test_key), encoding="utf-8")
    src = Source(root, {})
    ext = {
        "csv8": "csv",
        "csv1252": "csv",
        "excel": "xlsx",
        "sav": "sav",
        "dta": "dta",
        "xpt": "xpt",
    }
    for i, (trust, dialect) in enumerate(dialects.items()):
        frames = canonical_frames(i, n, f"C{trust}", f"G{i:04d}")
        src.canonical[trust] = frames
        src.files[trust] = {}
        folder = root / trust.lower()
        folder.mkdir(exist_ok=True)
        for table, df in frames.items():
            rel = f"{trust.lower()}/{table}_2025-06-30.{ext[dialect]}"
            _write_file(_source_frame(df, table, dialect), root / rel, dialect)
            src.files[trust][table] = rel
    return src


def all_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative POSIX path -> bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def readable_contents(folder: Path) -> dict[str, bytes]:
    """Every file's bytes plus its decoded content where the bytes are compressed.

    Parquet pages are compressed and xlsx files are zip archives, so a number
    stored in them need not appear literally in the file: the Parquet values
    (and schema metadata) are added as CSV text, the xlsx members unzipped.
    """
    import io
    import zipfile

    import pyarrow.parquet as pq

    out = {}
    for name, data in all_bytes(folder).items():
        extra = b""
        if name.endswith(".parquet"):
            t = pq.read_table(io.BytesIO(data))
            extra = str(t.schema.metadata).encode() + t.to_pandas().to_csv().encode()
        elif name.endswith(".xlsx"):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                extra = b"".join(z.read(m) for m in z.namelist())
        out[name] = data + b"\n" + extra
    return out


def nhs_forms(nhs: str) -> list[bytes]:
    """The byte patterns an NHS number could leak as (plain, 3-3-4 spaced)."""
    spaced = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    return [nhs.encode(), spaced.encode(), nhs.encode("utf-16-le")]


__all__ = [
    "DIALECTS",
    "KEY",
    "Source",
    "all_bytes",
    "nhs_forms",
    "np",
    "readable_contents",
    "valid_nhs",
    "write_source",
]
