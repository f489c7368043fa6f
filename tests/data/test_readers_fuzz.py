"""Hypothesis over the readers (then mapping): whatever the file holds, the outcome is a
one-line IngestError naming the file, or a read in which every record is accepted or
quarantined with a reason; never another exception.

Strategies (counts printed at the end of the module, see ``fuzz_support``):

- ``csv_random_bytes``: any bytes, alone or after a valid header (or a BOM and one);
- ``csv_structured``: generated CSVs with ragged rows, quoting or none, huge fields
  (past the csv module's 131,072-character limit), NUL and control characters, BOMs,
  LF/CRLF/CR line ends, the wrong separator, the wrong encoding (cp1252 declared
  UTF-8, UTF-8 declared cp1252, UTF-16), empty and header-only files, padded,
  duplicate and missing column names. The fatal outcome is predicted from the
  input and must be the one raised; clean rows must come back exactly;
- ``binary_mutated``: real .sav/.dta/.xpt/.xlsx extracts truncated, with bytes
  overwritten, or with a chunk inserted;
- ``excel_structured`` / ``stat_typed``: workbooks and SPSS/Stata/SAS files whose
  columns hold the wrong kind of value (numbers where dates are expected and vice
  versa, text, booleans, times, extreme dates), with odd headers.
"""

from __future__ import annotations

import atexit
import csv
import datetime as dt
import io
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from odtrial.data.canonical import SITE_TABLES
from odtrial.data.readers import read_extract
from odtrial.errors import IngestError
from odtrial.trial import ExtractSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import (  # noqa: F401  (fuzz_summary: module fixture)
    FUZZ,
    check_mapped,
    fuzz_summary,
    make_trial,
    read_outcome,
    record_count,
    tried,
)
from ingest_sources import write_source

_TMP = Path(tempfile.mkdtemp(prefix="odtrial-readers-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
_DIALECTS = {"A": "csv8", "B": "csv1252", "E": "excel", "S": "sav", "D": "dta", "X": "xpt"}
_TRIAL = make_trial(_DIALECTS)


def _outcome(path: Path, spec: ExtractSpec, rel: str) -> str:
    """Read and map; the outcome's name for the tally."""
    got = read_outcome(path, spec, rel)
    if isinstance(got, str):
        return "ingest_error"
    m = check_mapped(got, spec, _TRIAL)
    return "read_with_quarantine" if len(m.failed_rows) else "read_clean"


# -------------------------------------------------------------- random bytes
@FUZZ
@given(
    prefix=st.sampled_from(["none", "header", "bom+header"]),
    body=st.binary(max_size=400),
    trust=st.sampled_from(["A", "B"]),
    table=st.sampled_from(SITE_TABLES),
)
def test_csv_random_bytes(prefix, body, trust, table):
    spec = _TRIAL.extracts[trust][table]
    header = spec.delimiter.join(spec.columns.values()).encode() + b"\n"
    lead = {"none": b"", "header": header, "bom+header": b"\xef\xbb\xbf" + header}[prefix]
    p = _TMP / f"bytes_{trust}.csv"
    p.write_bytes(lead + body)
    tried(__name__, "csv_random_bytes", _outcome(p, spec, f"x/{p.name}"))


# ------------------------------------------------------------ structured CSV
_CHARS = [*"abcXYZ019 .-/:", "é", "£", '"', ",", ";", "\t", "\x00", "\x01", "\x7f"]
_cell = st.one_of(
    st.text(alphabet=st.sampled_from(_CHARS), max_size=10),
    st.sampled_from(["", " ", "2024-01-02", "02/01/2024", "45292", "1,5", "1.5", "1e400", "NaN"]),
)
_garbage_cell = st.one_of(_cell, st.sampled_from(["\n", "a\r", '"', '"x"y', "x\r\ny"]))


@st.composite
def _csv_case(draw):
    """A CSV file's bytes and what the reader must make of it."""
    trust = draw(st.sampled_from(["A", "B"]))
    spec = _TRIAL.extracts[trust][draw(st.sampled_from(SITE_TABLES))]
    mapped = list(spec.columns.values())
    names = draw(st.permutations([*mapped, *[f"X{i}" for i in range(draw(st.integers(0, 2)))]]))
    mode = draw(st.sampled_from(["ok"] * 8 + ["padded", "dup", "missing", "blank_first", "none"]))
    if mode == "padded":
        names = [f" {n}\t" for n in names]
    elif mode == "dup":
        names = [*names, draw(st.sampled_from(mapped))]
    elif mode == "missing":
        gone = draw(st.sampled_from(mapped))
        names = [n for n in names if n != gone]
    k = len(names)
    quoting = draw(st.sampled_from(["minimal", "all", "none"]))
    sep_ok = draw(st.integers(0, 5)) > 0
    sep = spec.delimiter if sep_ok else {",": ";", ";": ","}[spec.delimiter]
    eol = draw(st.sampled_from(["\n"] * 4 + ["\r\n"] * 3 + ["\r"]))
    rows = (
        []
        if mode == "none"
        else draw(
            st.lists(
                st.one_of(
                    st.lists(_cell, min_size=k, max_size=k).map(lambda r: ("clean", r)),
                    st.lists(_garbage_cell, max_size=k + 2).map(lambda r: ("garbage", r)),
                ),
                max_size=8,
            )
        )
    )
    huge = draw(st.sampled_from([0] * 6 + [150_000, 600_000]))
    if huge and rows:
        i = draw(st.integers(0, len(rows) - 1))
        kind, r = rows[i]
        if r:
            r = list(r)
            r[draw(st.integers(0, len(r) - 1))] = "h" * huge
            rows[i] = (kind, r)

    def line(cells):
        if quoting == "none":
            return sep.join(cells)
        buf = io.StringIO()
        q = csv.QUOTE_ALL if quoting == "all" else csv.QUOTE_MINIMAL
        csv.writer(buf, delimiter=sep, quoting=q, lineterminator="").writerow(cells)
        return buf.getvalue()

    parts = [] if mode == "none" else ([""] if mode == "blank_first" else []) + [line(names)]
    clean: dict[int, dict[str, str]] = {}
    n_lines = len(parts)
    for kind, r in rows:
        text = line(r)
        row_no = n_lines  # 1-based among the lines after the header
        n_lines += text.count("\n") + 1
        exact = (
            kind == "clean"
            and not any(c in v for v in r for c in "\n\r")
            and (quoting != "none" or not any(c in v for v in r for c in sep + '"'))
        )
        if exact:
            clean[row_no] = dict(zip([n.strip() for n in names], r, strict=True))
        parts.append(text)
    text = eol.join(parts) + (eol if parts and draw(st.booleans()) else "")
    bom = draw(st.integers(0, 4)) == 0
    alien = draw(st.integers(0, 7)) == 0  # written in another encoding than declared
    enc = spec.encoding if not alien else draw(st.sampled_from(["utf-8", "cp1252", "utf-16"]))
    if bom and enc == "utf-8":
        text = "\ufeff" + text
    data = text.encode(enc, errors="replace")
    return spec, data, {"mode": mode, "sep_ok": sep_ok, "enc": enc, "clean": clean}


def _expected_error(spec: ExtractSpec, data: bytes, case: dict) -> str | None:
    """The fatal error the input must raise (a pattern), or None when it must read.

    Worked out from the input, in the reader's documented order of checks.
    """
    boms = {b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16", b"\xef\xbb\xbf": "utf-8"}
    for bom, fam in boms.items():
        if data.startswith(bom) and not spec.encoding.replace("-", "").startswith(
            fam.replace("-", "")
        ):
            return rf"starts with a {fam} byte order mark but the extract is declared"
    try:
        text = data.decode(spec.encoding)
    except UnicodeDecodeError:
        return rf"line \d+: bytes .* cannot be decoded as {spec.encoding}$"
    text = text.removeprefix("\ufeff")
    if "\r" in text and "\n" not in text:
        return "lines end in a bare carriage return"
    if record_count(text) == 0 and not text.replace("\r\n", "\n").strip("\n"):
        return r"file is empty \(no header line\)$"
    if case["mode"] == "blank_first":
        return "the header is empty"
    if not case["sep_ok"]:
        if case["mode"] == "missing":  # no delimiter gives every mapped column: no hint
            return r"(is missing; the file has columns: |header cannot be parsed)"
        return r"the header has every mapped column: is '[,;]' the delimiter\?\)$"
    if case["mode"] == "missing":
        return r"column '\w+' \(mapped to \w+\.\w+\) is missing; the file has columns: "
    if case["mode"] == "dup":
        return r"column '\w+' appears 2 times in the header"
    return None


@FUZZ.__class__(FUZZ, max_examples=150)
@given(case=_csv_case())
def test_csv_structured(case):
    spec, data, info = case
    p = _TMP / "structured.csv"
    p.write_bytes(data)
    rel = "x/structured.csv"
    expected = _expected_error(spec, data, info)
    got = read_outcome(p, spec, rel)
    if expected is not None:
        assert isinstance(got, str), f"expected an error matching {expected!r}"
        assert re.search(expected, got), got
        tried(__name__, "csv_structured", "ingest_error")
        return
    assert not isinstance(got, str), got
    text = data.decode(spec.encoding).removeprefix("\ufeff")
    assert got.rows_read == record_count(text)
    if info["enc"] == spec.encoding:  # rows written cleanly come back exactly
        for row, cells in info["clean"].items():
            assert row in got.data.index, (row, got.malformed.to_dict("records"))
            for col in got.data.columns:
                assert got.data.at[row, col] == cells[col], (row, col)
    m = check_mapped(got, spec, _TRIAL)
    tried(
        __name__, "csv_structured", "read_with_quarantine" if len(m.failed_rows) else "read_clean"
    )
