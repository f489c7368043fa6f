"""Hypothesis: garbage cells and broken files never raise an uncaught exception.

Fatal problems may raise IngestError (one line); anything else must become a
row-level failure, and the counts must still add up.
"""

from __future__ import annotations

import atexit
import csv
import io
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyreadstat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odtrial.data.ingest import ingest
from odtrial.data.mapping import map_extract
from odtrial.data.readers import read_extract
from odtrial.errors import IngestError
from odtrial.trial import load_trial

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_sources import write_source

_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # reproducible in CI
    max_examples=40,
)
_TMP = Path(tempfile.mkdtemp(prefix="odtrial-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
_SRC = write_source(_TMP / "src", {"A": "csv8", "B": "csv1252"}, n=3)
_TRIAL = load_trial(_SRC.root / "trial.toml")

cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            '"',
            '""',
            ";",
            ",",
            "\r",
            "\x00",
            "31/02/2024",
            "1e400",
            "nan",
            "-1",
            "9999-99-99",
            "NaT",
            "None",
            "é",
            "\ufeff",
            "1.0",
            "12,5",
        ]
    ),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


def _check(raw, spec) -> None:
    m = map_extract(raw, spec, _TRIAL)
    assert raw.rows_read == len(raw.data) + len(raw.malformed)
    assert len(m.frame) == len(raw.data)
    rows = set(raw.data.index) | set(raw.malformed["source_row"])
    assert set(m.failures["source_row"]) <= rows
    assert m.failures["rule"].notna().all()


@_SETTINGS
@given(body=st.binary(max_size=300), trust=st.sampled_from(["A", "B"]))
def test_random_bytes_after_a_valid_header(body, trust):
    spec = _TRIAL.extracts[trust]["prescriptions"]
    header = (spec.delimiter.join(spec.columns.values()) + "\n").encode()
    p = _TMP / f"rand_{trust}.csv"
    p.write_bytes(header + body)
    try:
        raw = read_extract(p, spec, rel=f"x/{p.name}")
    except IngestError as e:
        assert "\n" not in str(e)
        return
    _check(raw, spec)


@_SETTINGS
@given(
    rows=st.lists(st.lists(cells, min_size=0, max_size=9), min_size=0, max_size=8),
    table=st.sampled_from(["participants", "prescriptions", "admissions", "followup"]),
    trust=st.sampled_from(["A", "B"]),
    quote=st.booleans(),
)
def test_garbage_cells_and_ragged_rows_are_row_failures(rows, table, trust, quote):
    spec = _TRIAL.extracts[trust][table]
    buf = io.StringIO()
    if quote:
        w = csv.writer(buf, delimiter=spec.delimiter, lineterminator="\n")
        w.writerow(spec.columns.values())
        w.writerows(rows)
        text = buf.getvalue()
    else:  # no quoting at all: delimiters and quotes inside cells break lines
        text = (
            "\n".join(spec.delimiter.join(r) for r in [list(spec.columns.values()), *rows]) + "\n"
        )
    p = _TMP / f"cells_{trust}_{table}.csv"
    try:
        p.write_bytes(text.encode(spec.encoding))
    except UnicodeEncodeError:
        p.write_bytes(text.encode(spec.encoding, errors="replace"))
    try:
        raw = read_extract(p, spec, rel=f"x/{p.name}")
    except IngestError as e:
        assert "\n" not in str(e)
        return
    _check(raw, spec)


@settings(
    deadline=None, max_examples=5, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    garbage=st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, 8), cells), min_size=1, max_size=6
    ),
    table=st.sampled_from(["participants", "prescriptions", "admissions"]),
)
def test_full_ingest_with_garbage_cells(garbage, table):
    """The whole pipeline (real validator) on a source with garbage cells."""
    root = Path(tempfile.mkdtemp(dir=_TMP))
    src = write_source(root / "src", {"A": "csv8"}, n=3)
    p = src.root / src.files["A"][table]
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    for r, c, v in garbage:
        df.iat[r - 1, c % df.shape[1]] = v
    df.to_csv(p, index=False, lineterminator="\n")
    try:
        report = ingest(src.root, root / "freeze")
    except IngestError as e:
        assert "\n" not in str(e)
        return
    inputs = report.inputs
    assert (inputs.rows_read == inputs.rows_accepted + inputs.rows_quarantined).all()


def _real_file(fmt: str) -> bytes:
    p = _TMP / f"real.{fmt}"
    df = pd.DataFrame({"NHSNO": ["9434765919", "123"], "REFDATE": [23000.0, 23001.0]})
    if fmt == "xlsx":
        df.to_excel(p, index=False)
    else:
        {"sav": pyreadstat.write_sav, "dta": pyreadstat.write_dta, "xpt": pyreadstat.write_xport}[
            fmt
        ](df, str(p))
    return p.read_bytes()


_REAL = {f: _real_file(f) for f in ("sav", "dta", "xpt", "xlsx")}


@settings(deadline=None, max_examples=30, derandomize=True)
@given(
    fmt=st.sampled_from(["sav", "dta", "xpt", "xlsx"]),
    cut=st.integers(0, 4000),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=5),
)
def test_broken_binary_files_are_fatal_or_read(fmt, cut, flips):
    from odtrial.trial import ExtractSpec

    data = bytearray(_REAL[fmt][: max(cut, 1)] if cut < len(_REAL[fmt]) else _REAL[fmt])
    for pos, val in flips:
        if data:
            data[pos % len(data)] = val
    p = _TMP / f"broken.{fmt}"
    p.write_bytes(bytes(data))
    spec = ExtractSpec(
        trust="A",
        table="crisis_referrals",
        pattern="*",
        format="excel" if fmt == "xlsx" else fmt,
        date_format="sas-days",
        columns={"nhs_number": "NHSNO", "referral_date": "REFDATE"},
    )
    try:
        raw = read_extract(p, spec, rel=f"x/{p.name}")
    except IngestError as e:
        assert "\n" not in str(e)
        return
    _check(raw, spec)
