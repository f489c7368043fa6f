"""Hypothesis over the whole ingest and ``odtrial ingest``: a broken extract is a one-line
IngestError naming that file (exit code 2 on the command line, no traceback), and
anything short of that is quarantined row by row, with the counts adding up.

The readers and mapping are fuzzed file by file in ``test_readers_fuzz.py`` and
``test_mapping_fuzz.py``; here a whole source (a clean CSV trust beside a trust of
another dialect) has one extract broken. Strategies (counts printed at the end of the
module, see ``fuzz_support``):

- ``ingest_garbage_cells``: cells of a clean CSV replaced by garbage (control
  characters, quotes, separators, NaN, impossible numbers and dates);
- ``ingest_broken_extract``: one extract of any dialect truncated, replaced by random
  bytes, emptied, cut to its header, or with bytes overwritten;
- ``cli_broken_extract``: the same through ``odtrial ingest``.
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odtrial.cli import main
from odtrial.data.ingest import ingest
from odtrial.errors import IngestError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import FUZZ, fuzz_summary, one_line_error, tried  # noqa: F401
from ingest_sources import write_source

_TMP = Path(tempfile.mkdtemp(prefix="odtrial-ingest-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
_OTHER = ("csv1252", "excel", "sav", "dta", "xpt")
# One clean source per dialect beside a UTF-8 CSV trust; each example works on a copy.
_SOURCES = {d: write_source(_TMP / f"src_{d}", {"A": "csv8", "Z": d}, n=3) for d in _OTHER}
_TABLES = ("participants", "followup", "admissions", "crisis_referrals", "prescriptions")

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
            "\x01",
            "\x1b[31m",
            "31/02/2024",
            "01/01/2600",
            "2600-01-01",
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


def _copy(dialect: str) -> tuple[Path, dict[str, dict[str, str]]]:
    root = Path(tempfile.mkdtemp(dir=_TMP))
    shutil.copytree(_SOURCES[dialect].root, root / "src")
    return root, _SOURCES[dialect].files


def _check_report(report, out: Path) -> None:
    """Counts add up per file, in the report and the manifest; every quarantined row has
    its reasons."""
    inputs = report.inputs
    assert (inputs.rows_read == inputs.rows_accepted + inputs.rows_quarantined).all()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for row in manifest["inputs"]:
        assert row["rows_read"] == row["rows_accepted"] + row["rows_quarantined"], row
    for t in _TABLES:
        q = pd.read_parquet(out / "quarantine" / f"{t}.parquet")
        assert q["rules"].notna().all() and q["reasons"].notna().all()
        assert len(q) == int(inputs.loc[inputs.table == t, "rows_quarantined"].sum())


@settings(FUZZ, max_examples=6)
@given(
    garbage=st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, 8), cells), min_size=1, max_size=6
    ),
    table=st.sampled_from(_TABLES),
)
def test_ingest_garbage_cells(garbage, table):
    """Garbage in the cells of a CSV: always quarantined rows, never fatal."""
    root, files = _copy("csv1252")
    p = root / "src" / files["A"][table]
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    for r, c, v in garbage:
        df.iat[r - 1, c % df.shape[1]] = v
    df.to_csv(p, index=False, lineterminator="\n")
    report = ingest(root / "src", root / "freeze")
    _check_report(report, root / "freeze")
    n_bad = int(report.inputs.rows_quarantined.sum())
    tried(__name__, "ingest_garbage_cells", "quarantine" if n_bad else "clean")


_breakage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("bytes"), st.binary(max_size=200)),
    st.tuples(st.just("empty"), st.none()),
    st.tuples(st.just("header_only"), st.none()),
    st.tuples(
        st.just("overwrite"),
        st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=6),
    ),
)


def _break(p: Path, how: tuple) -> None:
    data = p.read_bytes()
    kind, arg = how
    if kind == "truncate":
        data = data[: int(arg * len(data))]
    elif kind == "bytes":
        data = arg
    elif kind == "empty":
        data = b""
    elif kind == "header_only":  # CSV: the header line; other formats: a cut
        data = data[: data.index(b"\n") + 1] if p.suffix == ".csv" else data[: len(data) // 2]
    else:
        b = bytearray(data)
        for pos, val in arg:
            b[min(int(pos * len(b)), len(b) - 1)] = val
        data = bytes(b)
    p.write_bytes(data)


@settings(FUZZ, max_examples=12)
@given(
    dialect=st.sampled_from(_OTHER),
    trust=st.sampled_from(["A", "Z", "Z"]),
    table=st.sampled_from(_TABLES),
    how=_breakage,
)
def test_ingest_broken_extract(dialect, trust, table, how):
    root, files = _copy(dialect)
    rel = files[trust][table]
    _break(root / "src" / rel, how)
    try:
        report = ingest(root / "src", root / "freeze")
    except IngestError as e:
        one_line_error(e, rel)  # names the broken file, the others are clean
        assert not (root / "freeze").exists()
        tried(__name__, "ingest_broken_extract", "ingest_error")
        return
    assert not (how[0] == "empty")  # an empty file has no header: always fatal
    _check_report(report, root / "freeze")
    tried(__name__, "ingest_broken_extract", "ingested")


@settings(FUZZ, max_examples=5)
@given(
    dialect=st.sampled_from(_OTHER),
    table=st.sampled_from(_TABLES),
    how=st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 0.9)),
        st.tuples(st.just("bytes"), st.binary(max_size=100)),
        st.tuples(st.just("empty"), st.none()),
    ),
)
def test_cli_broken_extract(dialect, table, how, capsys):
    root, files = _copy(dialect)
    rel = files["Z"][table]
    _break(root / "src" / rel, how)
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(root / "src"), "--out", str(root / "freeze")])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    if e.value.code in (0, None):  # a cut that still reads: rows quarantined
        assert "quarantined" in out.out
        tried(__name__, "cli_broken_extract", "exit_0")
        return
    assert e.value.code == 2, out.err
    assert out.err.count("\n") == 1 and out.err.startswith(f"odtrial: error: {rel}: "), out.err
    assert not (root / "freeze").exists()
    tried(__name__, "cli_broken_extract", "exit_2")


# ------------------------------------------ what the fuzzing found, pinned
def test_control_characters_in_a_failing_cell_reach_the_query_workbook_escaped(tmp_path, capsys):
    """openpyxl refuses control characters: a sex code "M\\x01" used to end the ingest in
    an IllegalCharacterError traceback while writing the trust's query workbook."""
    import openpyxl

    src = write_source(tmp_path / "src", {"A": "csv8"}, n=3)
    p = src.root / src.files["A"]["participants"]
    lines = p.read_text(encoding="utf-8").split("\n")
    lines[1] = lines[1].replace(",M,", ",M\x01,").replace(",F,", ",F\x01,")
    p.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(src.root), "--out", str(tmp_path / "fz")])
    out = capsys.readouterr()
    assert e.value.code in (0, None), out.err
    assert "Traceback" not in out.err
    ws = openpyxl.load_workbook(tmp_path / "fz" / "queries" / "A.xlsx").active
    values = [c.value for c in next(ws.iter_cols(min_col=6, max_col=6))]
    messages = [c.value for c in next(ws.iter_cols(min_col=9, max_col=9))]
    assert any(v in ("M\\x01", "F\\x01") for v in values), values
    assert any(
        re.match(r"sex \(SEX\) '[MF]\\x01' has no mapping to a canonical sex code$", m or "")
        for m in messages
    ), messages
    q = pd.read_csv(tmp_path / "fz" / "queries.csv", dtype=str)  # the CSV keeps the raw text
    assert q["value"].isin(["M\x01", "F\x01"]).any()


def test_unusable_dialect_stops_the_cli_before_any_file_is_read(tmp_path, capsys):
    src = write_source(tmp_path / "src", {"A": "csv8"}, n=2)
    toml = src.root / "trial.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace("[extracts.A.followup]\n", '[extracts.A.followup]\nquotechar = ""\n'),
        encoding="utf-8",
    )
    (src.root / src.files["A"]["participants"]).write_bytes(b"\xff\xfe broken")  # never read
    with pytest.raises(SystemExit) as e:
        main(["ingest", str(src.root), "--out", str(tmp_path / "fz")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert re.match(r"odtrial: error: key 'extracts\.A\.followup\.quotechar' is '': it must", err)
    assert not (tmp_path / "fz").exists()
