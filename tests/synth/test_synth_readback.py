"""Every extract reads with pandas/pyreadstat using the dialect in trial.toml."""

from __future__ import annotations

import pandas as pd
import pyreadstat
import pytest

from odtrial.trial import load_trial


def _read(path, spec):
    if spec.format == "csv":
        return pd.read_csv(
            path,
            sep=spec.delimiter,
            encoding=spec.encoding,
            dtype=str,
            keep_default_na=False,
            on_bad_lines="skip",
        )
    if spec.format == "excel":
        return pd.read_excel(path, sheet_name=spec.sheet)
    if spec.format == "sav":
        return pyreadstat.read_sav(path, apply_value_formats=spec.use_value_labels)[0]
    if spec.format == "dta":
        return pyreadstat.read_dta(path, apply_value_formats=spec.use_value_labels)[0]
    return pyreadstat.read_xport(path)[0]


def test_every_file_reads_with_its_dialect(default_trial):
    t = load_trial(default_trial / "trial.toml")
    n = 0
    for trust in t.trusts:
        for table, spec in t.extracts[trust.id].items():
            files = sorted((default_trial / trust.directory).glob(spec.pattern))
            assert len(files) == 1
            df = _read(files[0], spec)
            assert len(df) > 0
            assert set(spec.columns.values()) <= set(df.columns), (trust.id, table)
            n += len(df)
    assert n > 4000


def test_native_and_sas_day_dates(default_trial):
    t = load_trial(default_trial / "trial.toml")
    xl = _read(
        next((default_trial / "nottinghamshire").glob("*participants*.xlsx")),
        t.extracts["NOTTS"]["participants"],
    )
    assert pd.api.types.is_datetime64_any_dtype(xl["Consent Date"])
    sav = _read(
        next((default_trial / "kent_medway").glob("*baseline*.sav")),
        t.extracts["KMPT"]["participants"],
    )
    assert pd.api.types.is_datetime64_any_dtype(sav["consdate"])
    assert set(sav["sex"].dropna().unique()) <= {"Male", "Female", "Other", 9.0}
    xpt = _read(
        next((default_trial / "avon_wiltshire").glob("awp_demog*.xpt")),
        t.extracts["AWP"]["participants"],
    )
    assert xpt["CONSDT"].between(22000, 24000).all()  # SAS days: 2020-2025


def test_windows_1252_text_is_really_cp1252(default_trial):
    raw = next((default_trial / "north_essex").glob("POD_Baseline_*.csv")).read_bytes()
    assert b"\x92" in raw or b"\xa3" in raw or b"\xe9" in raw  # ’ £ é in cp1252
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"\r\n" in raw
