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
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyreadstat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odtrial.data.mapping import map_extract
from odtrial.data.readers import read_extract
from odtrial.errors import ConfigError, IngestError
from odtrial.synth.tables import ECONOMICS_TABLES, table_specs
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

_SPECS = table_specs()
MAPPED = {t: s.fields for t, s in _SPECS.items()}
# the clinical tables the test kit writes (not the health economics')
SITE_TABLES = tuple(t for t in _SPECS if t not in ECONOMICS_TABLES)

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
    broken = False  # a row so far holds a line break: a quoted one may join lines
    for kind, r in rows:
        text = line(r)
        row_no = n_lines  # 1-based among the lines after the header
        n_lines += text.count("\n") + 1
        exact = (
            not broken
            and kind == "clean"
            and not any(c in v for v in r for c in "\n\r")
            and (quoting != "none" or not any(c in v for v in r for c in sep + '"'))
        )
        if exact:
            clean[row_no] = dict(zip([n.strip() for n in names], r, strict=True))
        broken = broken or any(c in text for c in "\n\r")
        parts.append(text)
    text = eol.join(parts) + (eol if parts and draw(st.booleans()) else "")
    bom = draw(st.integers(0, 4)) == 0
    alien = draw(st.integers(0, 7)) == 0  # written in another encoding than declared
    enc = spec.encoding if not alien else draw(st.sampled_from(["utf-8", "cp1252", "utf-16"]))
    if bom and enc == "utf-8":
        text = "\ufeff" + text
    data = text.encode(enc, errors="replace")
    return (
        spec,
        data,
        {"mode": mode, "sep_ok": sep_ok, "enc": enc, "clean": clean, "broken": broken},
    )


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


@settings(FUZZ, max_examples=100)
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
    assert got.rows_read == len(got.data) + len(got.malformed)  # every record accounted for
    if info["broken"]:  # quoted line breaks join physical lines into records
        assert got.rows_read <= record_count(text)
    else:
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


# ------------------------------------------- odd dialects in the configuration
_odd = ["", "ab", "\n", "\r", '"', ";", ",", "\t", "|", "x", " ", "1", "-", "."]


@settings(FUZZ, max_examples=40)
@given(
    table=st.sampled_from(SITE_TABLES),
    delimiter=st.sampled_from([",", ";", "\t", "|", "x", " ", "-"] * 2 + _odd),
    quotechar=st.sampled_from(['"', "'", "|", "~"] * 4 + _odd),
    decimal=st.sampled_from([".", ","] * 6 + _odd),
    date_format=st.sampled_from(
        ["%Y-%m-%d", "%d/%m/%Y", "%Q", "%", "%Y%", "%H:%M", "%z", "native", "sas-days"]
    ),
)
def test_csv_dialect(table, delimiter, quotechar, decimal, date_format):
    """Whatever the extract's dialect says: a one-line ConfigError naming the key, a
    one-line IngestError naming the file, or a read whose rows are all accounted for."""
    base = _TRIAL.extracts["A"][table]
    spec = ExtractSpec(
        **{
            **base.__dict__,
            "delimiter": delimiter,
            "quotechar": quotechar,
            "decimal": decimal,
            "date_format": date_format,
        }
    )
    sep = delimiter if len(delimiter) == 1 else ","
    header = sep.join(spec.columns.values())
    p = _TMP / "dialect.csv"
    p.write_text(f"{header}\n{sep.join(['2024-01-02'] * len(spec.columns))}\n", encoding="utf-8")
    try:
        got = read_outcome(p, spec, "a/dialect.csv")
        if not isinstance(got, str):
            m = check_mapped(got, spec, _TRIAL)
    except ConfigError as e:
        msg = str(e)
        assert msg.isprintable() and re.match(rf"key 'extracts\.A\.{table}\.\w+' is ", msg), msg
        tried(__name__, "csv_dialect", "config_error")
        return
    if isinstance(got, str):
        tried(__name__, "csv_dialect", "ingest_error")
        return
    tried(__name__, "csv_dialect", "read_with_quarantine" if len(m.failed_rows) else "read_clean")


# ------------------------------------------------------ broken binary files
_REAL_DIR = _TMP / "real"
_REAL_SRC = write_source(_REAL_DIR, {"E": "excel", "S": "sav", "D": "dta", "X": "xpt"}, n=3)
_SHEET = "xl/worksheets/sheet1.xml"


def _rezip(data: bytes, member: str, body: bytes) -> bytes:
    """``data`` (a zip) with ``member`` replaced by ``body``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, body if info.filename == member else zin.read(info.filename))
    return out.getvalue()


def _mutate(data: bytes, how: tuple) -> bytes:
    kind, *args = how
    b = bytearray(data)
    if kind == "truncate":
        return bytes(b[: args[0] % (len(b) + 1)])
    if kind == "overwrite":
        for pos, val in args[0]:
            b[pos % len(b)] = val
        return bytes(b)
    if kind == "insert":
        pos = args[0] % (len(b) + 1)
        return bytes(b[:pos] + args[1] + b[pos:])
    pos = args[0] % (len(b) + 1)  # zero_tail
    return bytes(b[:pos] + bytes(len(b) - pos))


_mutation = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 2**20)),
    st.tuples(
        st.just("overwrite"),
        st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=8),
    ),
    st.tuples(st.just("insert"), st.integers(0, 2**20), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("zero_tail"), st.integers(0, 2**20)),
)


@settings(FUZZ, max_examples=80)
@given(
    trust=st.sampled_from(["E", "S", "D", "X"]),
    table=st.sampled_from(SITE_TABLES),
    how=_mutation,
    inside=st.booleans(),
)
def test_binary_mutated(trust, table, how, inside):
    spec = _TRIAL.extracts[trust][table]
    rel = _REAL_SRC.files[trust][table]
    data = (_REAL_DIR / rel).read_bytes()
    if trust == "E" and inside:  # break the sheet's XML, not the zip around it
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            sheet = z.read(_SHEET)
        data = _rezip(data, _SHEET, _mutate(sheet, how))
    else:
        data = _mutate(data, how)
    p = _TMP / f"mutated{Path(rel).suffix}"
    p.write_bytes(data)
    tried(__name__, "binary_mutated", _outcome(p, spec, rel))


# ----------------------------------------- wrong kinds of value in a workbook
_CUTOFF = _TRIAL.data_cutoff
_excel_cell = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from([*"abcXYZ019 .-/:", "é", "£", '"', ","]), max_size=10),
    st.integers(-(10**12), 10**12),
    # beyond ~1e308 a float written to a workbook reads back as infinity, which
    # pandas cannot turn into a whole number: a workbook no real site sends
    st.floats(-1e300, 1e300),
    st.booleans(),
    st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(9999, 12, 31)),
    st.dates(dt.date(1900, 1, 1), dt.date(9999, 12, 31)),
    st.times(),
    st.sampled_from(["2024-01-02", "02/01/2024", "45292", "1,5", "Male", "Y", "12", "INF"]),
)


@settings(FUZZ, max_examples=30)
@given(
    table=st.sampled_from(SITE_TABLES),
    mode=st.sampled_from(["ok"] * 6 + ["dup", "missing", "blank_first", "empty", "odd_names"]),
    rows=st.lists(st.lists(_excel_cell, min_size=9, max_size=9), max_size=6),
)
def test_excel_structured(table, mode, rows):
    spec = _TRIAL.extracts["E"][table]
    names: list = list(spec.columns.values())
    if mode == "dup":
        names.append(names[-1])
    elif mode == "missing":
        names = names[1:]
    elif mode == "odd_names":  # a name with a line break, a number, an empty cell
        names = [*names, "Notes\nfree text", 3.5, None]
    wb = openpyxl.Workbook()
    ws = wb.active
    if mode == "blank_first":
        ws.append([None])
        ws.append(["", ""])
    if mode != "empty":
        ws.append(names)
        for r in rows:
            ws.append(r[: len(names)])
    p = _TMP / "typed.xlsx"
    wb.save(p)
    rel = "e/typed.xlsx"
    got = read_outcome(p, spec, rel)
    expected = {
        "dup": r"appears 2 times in the header",
        "missing": r"is missing; the header, row 1 of sheet 'Sheet', has columns: ",
        "blank_first": r"the header, row 1 of sheet 'Sheet', is empty .*"
        r"\(row 3 has every mapped column: is it the header\? set header_row = 3\)$",
        "empty": r"Excel sheet 0 is empty \(no header row\)$",
    }.get(mode)
    if expected is not None:
        assert isinstance(got, str) and re.search(expected, got), got
        tried(__name__, "excel_structured", "ingest_error")
        return
    assert not isinstance(got, str), got
    last = max(
        # an empty text cell is an empty cell
        [i + 1 for i, r in enumerate(rows) if any(v not in (None, "") for v in r[: len(names)])],
        default=0,
    )
    assert got.rows_read == last
    m = check_mapped(got, spec, _TRIAL)
    # A date cell in a date column gives that date when it is in 1900..cut-off, else
    # the row is quarantined as an impossible date: never another date.
    fails = set(zip(m.failures["source_row"], m.failures["field"], strict=True))
    for canon, src in spec.columns.items():
        if canon not in {f.name for f in MAPPED[table] if f.kind == "date"}:
            continue
        j = names.index(src)
        for i, r in enumerate(rows[:last]):
            v = r[j]
            if isinstance(v, dt.date):
                d = v.date() if isinstance(v, dt.datetime) else v
                have = m.frame[canon].iloc[i]
                if dt.date(1900, 1, 1) <= d <= _CUTOFF:
                    assert have == pd.Timestamp(d), (v, have)
                else:
                    assert pd.isna(have) and (i + 1, canon) in fails, (v, have)
    tried(
        __name__, "excel_structured", "read_with_quarantine" if len(m.failed_rows) else "read_clean"
    )


# --------------------------------- SPSS/Stata/SAS columns of the wrong kind
@st.composite
def _stat_column(draw, n: int, is_date: bool):
    kind = draw(st.sampled_from(["date", "number", "text"]))
    if kind == "date":
        vals = draw(
            st.lists(
                st.one_of(
                    st.none(), st.dates(), st.dates(dt.date(1890, 1, 1), dt.date(2030, 1, 1))
                ),
                min_size=n,
                max_size=n,
            )
        )
        return kind, pd.Series(vals, dtype=object)
    if kind == "number":
        vals = draw(
            st.lists(
                st.one_of(
                    st.floats(allow_nan=True, allow_infinity=False, width=64),
                    st.integers(-(10**6), 10**6).map(float),
                ),
                min_size=n,
                max_size=n,
            )
        )
        return kind, pd.Series(vals, dtype="float64")
    alphabet = st.sampled_from([*"abcXYZ019 .-/:", "é"])
    vals = draw(
        st.lists(
            st.one_of(
                st.text(alphabet=alphabet, max_size=12),
                st.sampled_from(["2024-01-02", "02/01/2024", "23376", "Male", "1"]),
            ),
            min_size=n,
            max_size=n,
        )
    )
    return kind, pd.Series(vals, dtype=object)


@settings(FUZZ, max_examples=30)
@given(data=st.data(), trust=st.sampled_from(["S", "D", "X"]), table=st.sampled_from(SITE_TABLES))
def test_stat_typed(data, trust, table):
    spec = _TRIAL.extracts[trust][table]
    n = data.draw(st.integers(0, 6))
    dates = {f.name for f in MAPPED[table] if f.kind == "date"}
    cols, kinds = {}, {}
    for canon, src in spec.columns.items():
        kinds[src], cols[src] = data.draw(_stat_column(n, canon in dates))
    df = pd.DataFrame(cols)
    fmt = {"S": "sav", "D": "dta", "X": "xpt"}[trust]
    p = _TMP / f"typed.{fmt}"
    writer = {
        "sav": pyreadstat.write_sav,
        "dta": pyreadstat.write_dta,
        "xpt": pyreadstat.write_xport,
    }
    try:
        writer[fmt](df, str(p))
    except Exception as e:  # the writer's own limits (e.g. Stata's date range): not our reader
        tried(__name__, "stat_typed", f"not_written ({type(e).__name__})")
        return
    got = read_outcome(p, spec, f"x/typed.{fmt}")
    if isinstance(got, str):
        tried(__name__, "stat_typed", "ingest_error")
        return
    assert got.rows_read == n
    m = check_mapped(got, spec, _TRIAL)
    fails = set(zip(m.failures["source_row"], m.failures["field"], strict=True))
    for canon in dates & set(spec.columns):
        src = spec.columns[canon]
        if kinds[src] != "date":
            continue
        for i, d in enumerate(cols[src]):
            have = m.frame[canon].iloc[i]
            if d is None:
                assert pd.isna(have)
            elif dt.date(1900, 1, 1) <= d <= _CUTOFF:
                assert have == pd.Timestamp(d), (d, have)
            else:
                assert pd.isna(have) and (i + 1, canon) in fails, (d, have)
    tried(__name__, "stat_typed", "read_with_quarantine" if len(m.failed_rows) else "read_clean")


# ------------------------------------------ what the fuzzing found, pinned
def _spec(fmt: str = "csv", **kw) -> ExtractSpec:
    cols = {"nhs_number": "NHS", "referral_date": "REF"}
    return ExtractSpec(
        trust="T", table="crisis_referrals", pattern="*", format=fmt, columns=cols, **kw
    )


def _csv(tmp_path: Path, data: bytes | str, name: str = "x.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def test_duplicate_mapped_column_is_fatal_not_the_first_copy(tmp_path):
    p = _csv(tmp_path, "NHS,REF,NHS\n1,2024-01-01,2\n")
    with pytest.raises(
        IngestError, match=r"^t/x\.csv: column 'NHS' appears 2 times in the header, so which"
    ):
        read_extract(p, _spec(), rel="t/x.csv")
    xl = tmp_path / "x.xlsx"
    pd.DataFrame([["NHS", "REF", "REF"], ["1", "2024-01-01", "x"]]).to_excel(
        xl, index=False, header=False
    )
    with pytest.raises(IngestError, match=r"^t/x\.xlsx: column 'REF' appears 2 times"):
        read_extract(xl, _spec("excel"), rel="t/x.xlsx")


def test_long_quoted_field_is_read_not_called_broken_quoting(tmp_path):
    big = "x" * 200_000  # past the csv module's default limit of 131,072
    p = _csv(tmp_path, f'NHS,REF\n"{big}",2024-01-01\n1,"{big}"\n')
    raw = read_extract(p, _spec(), rel="t/x.csv")
    assert raw.malformed.empty
    assert raw.data["NHS"].tolist() == [big, "1"] and raw.data.loc[2, "REF"] == big
    p = _csv(tmp_path, f'NHS,REF,"{big}"\n1,2024-01-01,z\n')
    assert read_extract(p, _spec(), rel="t/x.csv").data["NHS"].tolist() == ["1"]
    assert csv.field_size_limit() == 131_072  # the process-wide limit is put back


def test_byte_order_mark_of_another_encoding_is_named(tmp_path):
    p = _csv(tmp_path, "NHS,REF\n1,2024-01-01\n".encode("utf-16"))
    with pytest.raises(
        IngestError,
        match=r"^t/x\.csv: the file starts with a utf-16 byte order mark but the extract is "
        r"declared utf-8; set encoding = 'utf-16'",
    ):
        read_extract(p, _spec(), rel="t/x.csv")
    p = _csv(tmp_path, b"\xef\xbb\xbfNHS;REF\n1;01/01/2024\n")
    with pytest.raises(
        IngestError, match=r"^t/x\.csv: the file starts with a utf-8 byte order mark but .* cp1252"
    ):
        read_extract(p, _spec(encoding="cp1252", delimiter=";"), rel="t/x.csv")
    p = _csv(tmp_path, "NHS,REF\n1,2024-01-01\n".encode("utf-16"))  # declared so: fine
    assert read_extract(p, _spec(encoding="utf-16"), rel="t/x.csv").data["NHS"].tolist() == ["1"]


def test_cr_only_line_ends_and_blank_or_wrong_header(tmp_path):
    p = _csv(tmp_path, "NHS,REF\r1,2024-01-01\r")
    with pytest.raises(IngestError, match=r"^t/x\.csv: lines end in a bare carriage return"):
        read_extract(p, _spec(), rel="t/x.csv")
    p = _csv(tmp_path, "\nNHS,REF\n1,2024-01-01\n")
    with pytest.raises(IngestError, match=r"^t/x\.csv: the header is empty"):
        read_extract(p, _spec(), rel="t/x.csv")
    p = _csv(tmp_path, '"NHS";"REF"\n1;2024-01-01\n')
    with pytest.raises(
        IngestError,
        match=r"^t/x\.csv: line 1: header cannot be parsed .* "
        r"\(split at ';', the header has every mapped column: is ';' the delimiter\?\)$",
    ):
        read_extract(p, _spec(), rel="t/x.csv")
    p = _csv(tmp_path, "NHS;REF\n1;2024-01-01\n")
    with pytest.raises(IngestError, match=r"columns: NHS;REF \(split at ';', .* delimiter\?\)$"):
        read_extract(p, _spec(), rel="t/x.csv")


def test_messages_stay_on_one_line(tmp_path):
    xl = tmp_path / "x.xlsx"
    pd.DataFrame([["NHS", "Notes\nfree text"], ["1", "x"]]).to_excel(xl, index=False, header=False)
    with pytest.raises(
        IngestError,
        match=r"^t/x\.xlsx: column 'REF' .* is missing; the header, row 1 of sheet 'Sheet1', "
        r"has columns: NHS, 'Notes\\nfree text'$",
    ):
        read_extract(xl, _spec("excel"), rel="t/x.xlsx")
    with pytest.raises(IngestError, match=r"^'t/a\\nb\.csv': file not found$"):
        read_extract(tmp_path / "none.csv", _spec(), rel="t/a\nb.csv")
    wb = openpyxl.Workbook()
    wb.save(xl)
    with pytest.raises(IngestError, match=r"^t/x\.xlsx: Excel sheet 0 is empty \(no header row\)$"):
        read_extract(xl, _spec("excel"), rel="t/x.xlsx")


def test_unusable_dialect_is_a_config_error_not_a_type_error(tmp_path):
    # quotechar "" made the csv module raise TypeError, and date_format "%Q" made pandas
    # raise ValueError, out of the ingest.
    p = _csv(tmp_path, "NHS,REF\n1,2024-01-01\n")
    with pytest.raises(
        ConfigError, match=r"^key 'extracts\.T\.crisis_referrals\.quotechar' is '': it must be"
    ):
        read_extract(p, _spec(quotechar=""), rel="t/x.csv")
    with pytest.raises(
        ConfigError, match=r"^key 'extracts\.T\.crisis_referrals\.delimiter' is '\\n'"
    ):
        read_extract(p, _spec(delimiter="\n"), rel="t/x.csv")
    raw = read_extract(p, _spec(), rel="t/x.csv")
    trial = make_trial({"T": "csv8"})
    with pytest.raises(ConfigError, match=r"date_format' is '%Q', not a usable pattern"):
        map_extract(raw, _spec(date_format="%Q"), trial)
    with pytest.raises(ConfigError, match=r"decimal' is '': it must be one character"):
        map_extract(raw, _spec(decimal=""), trial)
