"""Readers: one site extract file -> a frame of its mapped source columns.

Every reader returns a :class:`RawExtract`: the source columns named in the
extract's column mapping, indexed by ``source_row`` (1-based record position,
header not counted), plus the records that could not be split into fields
(CSV malformed lines, with their raw text). A CSV or Excel extract may say which
line or sheet row names its columns (``header_row``, default 1: a title above
the header is skipped); records are counted from the one below it, so an Excel
record is at sheet row ``source_row + header_row``.

Fatal problems raise :class:`~odtrial.errors.IngestError` with one line that
names the file (and the column or line): missing or unreadable file, an empty
file or header, a workbook without the extract's sheet (its sheets listed), a mapped
column absent from the file (with a hint when another delimiter or header row would
give the mapped columns) or present twice, text
that does not decode in the declared encoding or starts with the byte order
mark of another encoding, CR-only line ends. Names that hold control
characters are shown escaped, so a message is always one printable line.

CSV is parsed so that a malformed line (wrong number of fields, broken
quoting) costs only that line: the field count of every line is checked with
vectorised string counts (the :mod:`csv` module parses only lines that hold a
quote character), then the good lines go through pandas' C parser in one call.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial._words import count
from odtrial.errors import ConfigError, IngestError
from odtrial.trial import ExtractSpec

MALFORMED_COLUMNS = ("source_row", "raw_text", "message")
# Byte order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class RawExtract:
    """One file as read, before mapping.

    Attributes
    ----------
    path
        Path relative to the source root (POSIX separators).
    data
        Mapped source columns (by source name), index ``source_row`` (int64).
        CSV/Excel cells are text or the spreadsheet's own values; SPSS, Stata
        and SAS cells have their native types (value labels applied if asked).
    malformed
        Records that could not be split into fields: ``source_row``,
        ``raw_text``, ``message``.
    rows_read
        Number of data records in the file (``len(data) + len(malformed)``).
    """

    path: str
    data: pd.DataFrame
    malformed: pd.DataFrame
    rows_read: int


def read_extract(path: Path, spec: ExtractSpec, *, rel: str) -> RawExtract:
    """Read one extract file with the dialect of ``spec``.

    Parameters
    ----------
    path
        The file.
    spec
        Its extract specification (format, encoding, delimiter, columns).
    rel
        Its path relative to the source root, used in messages and provenance.
    """
    if not path.is_file():
        raise _error(rel, "file not found")
    readers = {
        "csv": _read_csv,
        "excel": _read_excel,
        "sav": _read_stat,
        "dta": _read_stat,
        "xpt": _read_stat,
        "sas7bdat": _read_stat,
    }
    return readers[spec.format](path, spec, rel)


class MissingSheet(IngestError):
    """The workbook has no sheet of the extract's name or index (the message lists its sheets)."""


@dataclass(frozen=True)
class Header:
    """An extract file's header as read, for messages about its columns.

    Attributes
    ----------
    names
        The column names, stripped (as the readers compare them).
    where
        Where they were read: ``"line 3"`` (a CSV file whose ``header_row`` is 3),
        ``"row 1 of sheet 'Baseline'"`` (Excel); ``""`` for line 1 of a CSV file and
        for SPSS, Stata and SAS files (their metadata).
    hint
        When the extract names a column ``names`` lack and the file, split at another
        delimiter or read from another header row, has them: that, and what to set
        (one clause, no brackets); else ``""``.
    """

    names: list[str]
    where: str
    hint: str = ""


_SCAN: Final = 30  # rows or lines below the header row looked through for a better one


def read_header(path: Path, spec: ExtractSpec, *, rel: str) -> list[str]:
    """The column names of one extract file, reading only its header.

    CSV: line ``header_row`` (default the first), decoded and split with the extract's
    dialect (encoding, byte order mark, delimiter, quote character) as
    :func:`read_extract` does; Excel: row ``header_row`` of the sheet; SPSS, Stata,
    SAS: the file's metadata. No data row is read. Names are stripped, as the
    readers compare them.

    Raises
    ------
    IngestError
        The file cannot be read or its header cannot be parsed (one line naming it);
        :class:`MissingSheet` when the workbook has no such sheet.
    ConfigError
        An unusable CSV dialect.
    """
    return inspect_header(path, spec, rel=rel, hint=False).names


def inspect_header(path: Path, spec: ExtractSpec, *, rel: str, hint: bool = True) -> Header:
    """:func:`read_header`'s names, where they were read and, with ``hint`` when the
    extract names a column they lack, how the file would give its columns: split at
    another delimiter (CSV) or with another ``header_row`` (the first rows or lines are
    read for it, only then)."""
    if spec.format == "csv":
        check_dialect(spec)
        h = spec.header_row
        lines = _csv_head(path, spec, rel, h)
        names = _csv_header(lines[h - 1] if len(lines) >= h else "", h, spec, rel)
        where = "" if h == 1 else f"line {h}"
        found = ""
        if hint and _lacks(names, spec):
            found = _delimiter_hint(lines[h - 1], spec) if len(lines) >= h else ""
            if not found:
                scanned = _csv_head(path, spec, rel, h + _SCAN)
                found = _header_row_hint([_split_line(x, spec) for x in scanned], spec, "line")
        return Header(names, where, found)
    if spec.format == "excel":
        h = spec.header_row
        sheet, df = _excel_sheet(path, spec, rel, nrows=h)
        names = _cells(df.iloc[h - 1]) if len(df) >= h else []
        found = ""
        if hint and _lacks(names, spec):
            _, df = _excel_sheet(path, spec, rel, nrows=h + _SCAN)
            found = _header_row_hint([_cells(r) for _, r in df.iterrows()], spec, "row")
            if not found:
                found = _other_sheet_hint(path, spec, rel, sheet)
        return Header(names, f"row {h} of sheet {sheet!r}", found)
    fn, kw = _stat_reader(spec)
    try:
        _, meta = fn(str(path), metadataonly=True, **kw)
    except Exception as e:  # pyreadstat.ReadstatError and friends
        raise _stat_error(rel, spec, e) from None
    return Header(list(meta.column_names), "")  # compared as is, as _read_stat does


def _csv_head(path: Path, spec: ExtractSpec, rel: str, n: int) -> list[str]:
    """The first ``n`` lines of a CSV file (fewer at its end), decoded (byte order mark
    dropped, line ends stripped). A line up to ``header_row`` that does not decode is
    an error; one after it ends the lines read (only a hint looks there)."""
    try:
        with open(path, "rb") as f:
            _check_bom(f.read(4), spec.encoding, rel)
            f.seek(0)
            return _head_lines(f, spec.encoding, n, spec.header_row)
    except OSError as e:
        raise _error(rel, f"cannot read file ({e.strerror})") from None
    except _Undecodable as e:
        raise _error(
            rel, f"line {e.line} cannot be decoded as {spec.encoding} ({e.reason})"
        ) from None


class _Undecodable(Exception):
    def __init__(self, line: int, reason: str) -> None:
        self.line, self.reason = line, reason


def _head_lines(f: Any, encoding: str, n: int, must: int) -> list[str]:
    """Up to ``n`` lines of binary file ``f``, decoded a byte at a time by one decoder
    (so no byte after the last line is decoded, in any encoding, UTF-16 and UTF-32
    included); a line up to ``must`` that does not decode raises :class:`_Undecodable`."""
    dec = codecs.getincrementaldecoder(encoding)()
    lines: list[str] = []
    text = io.StringIO()
    try:
        while len(lines) < n:
            b = f.read(1)
            piece = dec.decode(b, final=not b)
            text.write(piece)
            if "\n" in piece or not b:
                line = text.getvalue()
                if b or line:
                    lines.append(line)
                text = io.StringIO()
                if not b:
                    break
    except UnicodeDecodeError as e:
        if len(lines) < must:
            raise _Undecodable(len(lines) + 1, e.reason) from None
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    return [x.rstrip("\r\n") for x in lines]


def _csv_header(line: str, h: int, spec: ExtractSpec, rel: str) -> list[str]:
    """The names of header line ``line`` (line ``h``), split with the dialect."""
    try:
        cells = next(csv.reader((line,), delimiter=spec.delimiter, quotechar=spec.quotechar))
    except (csv.Error, StopIteration) as e:
        raise _error(rel, f"line {h}: header cannot be parsed ({e})") from None
    return [c.strip() for c in cells]


def _split_line(line: str, spec: ExtractSpec) -> list[str]:
    """One line's stripped cells, or none when it does not parse alone."""
    try:
        cells = next(csv.reader((line,), delimiter=spec.delimiter, quotechar=spec.quotechar))
    except (csv.Error, StopIteration):
        return []
    return [c.strip() for c in cells]


def _needed(spec: ExtractSpec) -> list[str]:
    """Distinct source columns of the mapping, in the order the trial maps them."""
    return list(dict.fromkeys(spec.columns.values()))


def _named(spec: ExtractSpec) -> set[str]:
    """Every source column the extract names: mapped, or selecting its rows."""
    return {*spec.columns.values(), *spec.where, *spec.filled}


def _lacks(names: Sequence[str], spec: ExtractSpec) -> bool:
    return not _named(spec) <= set(names)


def show(text: str) -> str:
    """``text`` as is when printable, else its escaped repr (keeps messages on one line).

    Examples
    --------
    >>> show("NHSNO"), show("NHS\\nNO")
    ('NHSNO', "'NHS\\\\nNO'")
    """
    return text if text.isprintable() else repr(text)


def shown_names(names: list[str]) -> list[str]:
    """A header's names as a message lists them: without the empty cells after the last
    name (a sheet's row is as wide as its widest row)."""
    end = len(names)
    while end and not names[end - 1]:
        end -= 1
    return names[:end]


def _error(rel: str, message: str, cls: type[IngestError] = IngestError) -> IngestError:
    """A fatal error on one line naming the file (a library's multi-line text escaped)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    return cls(f"{show(rel)}: {text}")


def _check_columns(
    have: list[str], spec: ExtractSpec, rel: str, *, where: str = "", hint: str = ""
) -> None:
    """Every mapped column present exactly once in the header ``have`` (read at
    ``where``; ``hint`` says how the file would give them)."""
    note = f" ({hint})" if hint else ""
    if not any(have):
        if not where:
            raise _error(
                rel, f"the header is empty (the first line or row must name the columns){note}"
            )
        raise _error(
            rel,
            f"the header, {where}, is empty (header_row must name the row of the columns){note}",
        )
    present = set(have)
    for canon, src in spec.columns.items():
        if src not in present:
            named = shown_names(have)
            shown = ", ".join(show(h) for h in named[:20]) + (", ..." if len(named) > 20 else "")
            # a spec with no table reads a file for several extracts: its keys say
            # what each column is for
            what = f"mapped to {spec.table}.{canon}" if spec.table else canon
            holder = f"the header, {where}," if where else "the file"
            raise _error(
                rel,
                f"column {show(src)!r} ({what}) is missing; {holder} has columns: {shown}{note}",
            )
    for src in dict.fromkeys(spec.columns.values()):
        if (k := have.count(src)) > 1:
            raise _error(
                rel,
                f"column {show(src)!r} appears {k} times in the header, so which one is "
                f"mapped is ambiguous; rename or remove the copies",
            )


def _delimiter_hint(line: str, spec: ExtractSpec) -> str:
    """When the header line splits into every mapped column at another delimiter: that,
    as a question (no brackets); else ``""``."""
    for d in (",", ";", "\t", "|"):
        if d == spec.delimiter or d not in line:
            continue
        try:
            cells = next(csv.reader((line,), delimiter=d, quotechar=spec.quotechar))
        except csv.Error:
            continue
        cells = [c.strip() for c in cells]
        if set(spec.columns.values()) <= set(cells):
            return f"split at {d!r}, the header has every mapped column: is {d!r} the delimiter?"
    return ""


def _best_row(rows: Sequence[Sequence[str]], wanted: set[str]) -> tuple[int, int]:
    """How many of ``wanted`` the row holding most of them holds (the first such row),
    and its 1-based number; (0, 0) without rows."""
    counts = [len(wanted.intersection(r)) for r in rows]
    if not counts:
        return 0, 0
    best = max(range(len(counts)), key=lambda i: (counts[i], -i))
    return counts[best], best + 1


def _holds(n: int, wanted: set[str]) -> str | None:
    """``every mapped column`` or ``n of the m mapped columns``; None under half of them
    (too few to suggest a fix)."""
    if not n or 2 * n < len(wanted):
        return None
    return "every mapped column" if n == len(wanted) else f"{n} of the {len(wanted)} mapped columns"


def _header_row_hint(rows: Sequence[Sequence[str]], spec: ExtractSpec, unit: str) -> str:
    """When another of ``rows`` (the first rows or lines, from 1) holds more of the
    columns the extract names than its header row does, and at least half of them:
    which, as a question with the setting (no brackets); else ``""``."""
    wanted = _named(spec)
    h = spec.header_row
    now = len(wanted.intersection(rows[h - 1])) if len(rows) >= h else 0
    n, row = _best_row(rows, wanted)
    has = _holds(n, wanted)
    if has is None or n <= now:
        return ""
    return f"{unit} {row} has {has}: is it the header? set header_row = {row}"


def _other_sheet_hint(path: Path, spec: ExtractSpec, rel: str, read: str) -> str:
    """When another sheet of the workbook holds at least half of the columns the
    extract names in one of its first rows (and more than the sheet read does): which,
    as a question with the settings; else ``""``."""
    wanted = _named(spec)
    best: tuple[int, int, str] = (0, 0, "")
    with pd.ExcelFile(path) as book:
        for name in (str(n) for n in book.sheet_names if str(n) != read):
            df = pd.read_excel(book, sheet_name=name, dtype=object, header=None, nrows=_SCAN)
            n, row = _best_row([_cells(r) for _, r in df.iterrows()], wanted)
            if n > best[0]:
                best = (n, row, name)
    n, row, name = best
    has = _holds(n, wanted)
    if has is None:
        return ""
    at = "" if row == 1 else f" (row {row})"
    # as TOML writes it, to paste into trial.toml
    setting = f"sheet = {json.dumps(name)}" + ("" if row == 1 else f" and header_row = {row}")
    return f"sheet {name!r} has {has}{at}: is it the sheet? set {setting}"


def _empty_malformed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_row": pd.Series([], dtype="int64"),
            "raw_text": pd.Series([], dtype="string"),
            "message": pd.Series([], dtype="string"),
        }
    )


# --------------------------------------------------------------------- CSV
@contextmanager
def _field_limit(n: int) -> Iterator[None]:
    """Let the csv module parse fields of up to ``n`` characters (its default is 131,072).

    Lines are already in memory, so the limit guards nothing here; left in place it
    would report a long but well-formed field as broken quoting.
    """
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, n))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _check_bom(raw: bytes, encoding: str, rel: str) -> None:
    """Refuse a file whose byte order mark belongs to another encoding than the declared one."""
    family = next((fam for bom, fam in _BOMS if raw.startswith(bom)), None)
    if family is None:
        return
    declared = codecs.lookup(encoding).name  # e.g. "cp1252", "utf-8", "utf-16-le"
    if declared.startswith(family):
        return
    raise _error(
        rel,
        f"the file starts with a {family} byte order mark but the extract is declared "
        f"{encoding}; set encoding = {family!r} for this extract if that is what it is",
    )


def _decode(raw: bytes, encoding: str, rel: str) -> str:
    _check_bom(raw, encoding, rel)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise _error(
            rel, f"line {line}: bytes {raw[e.start : e.end]!r} cannot be decoded as {encoding}"
        ) from None


def check_dialect(spec: ExtractSpec) -> None:
    """ConfigError unless the extract's delimiter and quote character can split lines.

    Both must be single characters, distinct, and not a line break (the file is split
    into lines first); the csv module would otherwise raise a TypeError mid-ingest.
    """
    key = f"extracts.{spec.trust}.{spec.table}"
    if len(spec.delimiter) != 1 or spec.delimiter in "\r\n":
        raise ConfigError(
            f"key '{key}.delimiter' is {spec.delimiter!r}: it must be one character, "
            f"not a line break"
        )
    if len(spec.quotechar) != 1 or spec.quotechar in "\r\n" or spec.quotechar == spec.delimiter:
        raise ConfigError(
            f"key '{key}.quotechar' is {spec.quotechar!r}: it must be one character, "
            f"not a line break nor the delimiter"
        )


def _read_csv(path: Path, spec: ExtractSpec, rel: str) -> RawExtract:
    check_dialect(spec)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _error(rel, f"cannot read file ({e.strerror})") from None
    text = _decode(raw, spec.encoding, rel)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        if "\n" not in text:
            raise _error(
                rel,
                "lines end in a bare carriage return (CR, old Mac line ends); "
                "save the file with LF or CRLF line ends",
            )
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    while lines and lines[-1] == "":  # trailing newline(s) end the file, they are no records
        lines.pop()
    if not lines:
        raise _error(rel, "file is empty (no header line)")
    if len(lines) < spec.header_row:
        raise _error(
            rel,
            f"the file has {count(len(lines), 'line')}, so no header at line "
            f"{spec.header_row} (header_row)",
        )
    with _field_limit(len(text) + 1):
        return _split_csv(raw, lines, spec, rel)


def _split_csv(raw: bytes, lines: list[str], spec: ExtractSpec, rel: str) -> RawExtract:
    """Header check, field counts, then the good lines parsed in one call."""
    dialect: dict[str, Any] = {
        "delimiter": spec.delimiter,
        "quotechar": spec.quotechar,
        "strict": True,
    }
    h = spec.header_row  # lines above it (a title) are skipped
    try:
        header = next(csv.reader((lines[h - 1],), **dialect))
    except csv.Error as e:
        hint = _delimiter_hint(lines[h - 1], spec)
        note = f" ({hint})" if hint else ""
        raise _error(rel, f"line {h}: header cannot be parsed ({e}){note}") from None
    header = [c.strip() for c in header]
    hint = ""
    if _lacks(header, spec):
        hint = _delimiter_hint(lines[h - 1], spec) or _header_row_hint(
            [_split_line(x, spec) for x in lines[: h + _SCAN]], spec, "line"
        )
    _check_columns(header, spec, rel, where="" if h == 1 else f"line {h}", hint=hint)
    k = len(header)
    body = _join_quoted_line_breaks(lines[h:], k, spec.quotechar, dialect)
    n = len(body)

    nfields, parsed = _field_counts(body, spec, dialect)
    bad = nfields != k
    bad_idx = np.flatnonzero(bad)
    malformed = _empty_malformed()
    if bad_idx.size:
        msgs = []
        for i in bad_idx:
            f = int(nfields[i])
            msgs.append(
                "broken quoting or a line break inside the line"
                if f < 0
                else ("empty line" if body[i] == "" else f"line has {f} fields, expected {k}")
            )
        malformed = pd.DataFrame(
            {
                "source_row": pd.Series(bad_idx + 1, dtype="int64"),
                "raw_text": pd.Series([body[i] for i in bad_idx], dtype="string"),
                "message": pd.Series(msgs, dtype="string"),
            }
        )

    needed = _needed(spec)
    pos = [header.index(c) for c in needed]
    good_idx = np.flatnonzero(~bad)
    # the file's bytes go to pandas whole only when no line above the header is skipped
    all_good = bad_idx.size == 0 and h == 1
    data = _parse_good(raw, body, good_idx, all_good, k, pos, spec)
    if data is None:  # pandas disagreed with the line split (e.g. a stray CR): parse line by line
        data = _parse_lines(body, good_idx, parsed, pos, dialect)
    data.columns = pd.Index(needed)
    data.index = pd.Index(good_idx + 1, dtype="int64", name="source_row")
    return RawExtract(rel, data, malformed, n)


MAX_LINES_PER_RECORD = 1000  # a quoted value may span lines; beyond this, broken quoting


def _join_quoted_line_breaks(
    body: list[str], k: int, quotechar: str, dialect: dict[str, Any]
) -> list[str]:
    """Physical lines joined into records where a quoted value holds a line break.

    A line with an odd number of quote characters opens a quoted value; it is
    joined with the lines up to the next such line when the result parses to
    exactly ``k`` fields (REDCap notes, free text). Otherwise the line stays
    alone and is reported as broken quoting, as before: a stray quote never
    swallows its neighbours.
    """
    if not body:
        return body
    import pyarrow as pa
    import pyarrow.compute as pc

    quotes = pc.count_substring(pa.array(body, type=pa.large_string()), pattern=quotechar)
    odd = np.flatnonzero(quotes.to_numpy() % 2 == 1)
    if odd.size < 2:
        return body
    out: list[str] = []
    done = 0  # body[:done] is in out
    a = 0
    while a + 1 < odd.size:
        i, j = int(odd[a]), int(odd[a + 1])
        record = "\n".join(body[i : j + 1])
        if j - i < MAX_LINES_PER_RECORD and _fields(record, dialect) == k:
            out.extend(body[done:i])
            out.append(record)
            done = j + 1
            a += 2
        else:
            a += 1
    out.extend(body[done:])
    return out


def _fields(record: str, dialect: dict[str, Any]) -> int:
    """Fields of one record, or -1 if it does not parse as exactly one record."""
    try:
        recs = list(csv.reader(io.StringIO(record, newline=""), **dialect))
    except csv.Error:
        return -1
    return len(recs[0]) if len(recs) == 1 else -1


def _field_counts(
    body: list[str], spec: ExtractSpec, dialect: dict[str, Any]
) -> tuple[np.ndarray, dict[int, list[str]]]:
    """Fields per line (-1: broken quoting), and the parsed fields of quoted lines."""
    n = len(body)
    if n == 0:
        return np.zeros(0, dtype=np.int64), {}
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(body, type=pa.large_string())
    counts = pc.count_substring(arr, pattern=spec.delimiter).to_numpy().astype(np.int64) + 1
    quoted = pc.match_substring(arr, pattern=spec.quotechar).to_numpy(zero_copy_only=False)
    # NUL and lone CR trip pandas' C parser; the csv module judges those lines.
    odd = pc.or_(pc.match_substring(arr, pattern="\x00"), pc.match_substring(arr, pattern="\r"))
    odd_np = odd.to_numpy(zero_copy_only=False)
    counts[pc.binary_length(arr).to_numpy() == 0] = 0  # an empty line has no fields
    parsed: dict[int, list[str]] = {}
    for i in np.flatnonzero(quoted | odd_np):
        try:
            rec = next(csv.reader((body[i],), **dialect))
        except csv.Error:
            counts[i] = -1
            continue
        counts[i] = len(rec)
        parsed[int(i)] = rec
    return counts, parsed


def _parse_good(
    raw: bytes,
    body: list[str],
    good_idx: np.ndarray,
    all_good: bool,
    k: int,
    pos: list[int],
    spec: ExtractSpec,
) -> pd.DataFrame | None:
    """Parse the good lines with pandas' C parser; None if it splits them otherwise."""
    if good_idx.size == 0:
        return pd.DataFrame({i: pd.Series([], dtype="string") for i in pos})
    if all_good:
        buf: io.BytesIO = io.BytesIO(raw)
        enc, skip = spec.encoding, 1
    else:
        buf = io.BytesIO("\n".join([body[i] for i in good_idx]).encode("utf-8"))
        enc, skip = "utf-8", 0
    try:
        df = pd.read_csv(
            buf,
            sep=spec.delimiter,
            quotechar=spec.quotechar,
            header=None,
            names=list(range(k)),
            usecols=pos,
            skiprows=skip,
            dtype=str,
            na_filter=False,
            encoding=enc,
            encoding_errors="strict",
            skip_blank_lines=False,
            engine="c",
        )
    except (ValueError, pd.errors.ParserError):
        return None
    if len(df) != good_idx.size:
        return None
    return df[pos]


def _parse_lines(
    body: list[str],
    good_idx: np.ndarray,
    parsed: dict[int, list[str]],
    pos: list[int],
    dialect: dict[str, Any],
) -> pd.DataFrame:
    """Slow but exact: split every good line with the csv module."""
    cols: list[list[str]] = [[] for _ in pos]
    for i in good_idx:
        rec = parsed.get(int(i))
        if rec is None:
            rec = next(csv.reader((body[i],), **dialect))
        for j, p in enumerate(pos):
            cols[j].append(rec[p])
    return pd.DataFrame({p: pd.Series(c, dtype="string") for p, c in zip(pos, cols, strict=True)})


# ------------------------------------------------------------------- Excel
def _read_excel(path: Path, spec: ExtractSpec, rel: str) -> RawExtract:
    # header=None: the header row is read as data, so duplicate column names stay
    # visible (pandas would rename them "X.1") and row positions are unchanged.
    sheet, df = _excel_sheet(path, spec, rel)
    if len(df) == 0:
        raise _error(rel, f"Excel sheet {spec.sheet!r} is empty (no header row)")
    h = spec.header_row
    where = f"row {h} of sheet {sheet!r}"
    header = _cells(df.iloc[h - 1]) if len(df) >= h else []
    hint = ""
    if _lacks(header, spec):
        hint = _header_row_hint(
            [_cells(r) for _, r in df.iloc[: h + _SCAN].iterrows()], spec, "row"
        )
    _check_columns(header, spec, rel, where=where, hint=hint)
    needed = _needed(spec)
    data = df.iloc[h:, [header.index(c) for c in needed]].copy()
    data.columns = pd.Index(needed)
    # pandas keeps leading and inner blank rows, so frame position + 1 is the sheet
    # row, and source_row counts the rows below the header.
    data.index = pd.Index(np.arange(1, len(data) + 1, dtype=np.int64), name="source_row")
    return RawExtract(rel, data, _empty_malformed(), len(data))


def _excel_sheet(
    path: Path, spec: ExtractSpec, rel: str, *, nrows: int | None = None
) -> tuple[str, pd.DataFrame]:
    """The name of the extract's sheet and its first ``nrows`` rows (all by default),
    every cell as stored, a row per sheet row from row 1 (trailing empty rows dropped)."""
    try:
        book = pd.ExcelFile(path)
    except Exception as e:  # openpyxl/zipfile raise many kinds on a broken workbook
        raise _error(rel, f"not a readable Excel workbook ({type(e).__name__})") from None
    with book:
        name = sheet_name([str(n) for n in book.sheet_names], spec.sheet, rel)
        try:
            df = pd.read_excel(book, sheet_name=name, dtype=object, header=None, nrows=nrows)
        except (ValueError, KeyError, OSError, IndexError) as e:
            raise _error(rel, f"cannot read Excel sheet {name!r} ({e})") from None
        except Exception as e:  # a broken sheet inside a readable workbook
            raise _error(rel, f"not a readable Excel workbook ({type(e).__name__})") from None
    return name, df


def excel_sheet_names(path: Path, *, rel: str) -> list[str]:
    """The names of workbook ``path``'s sheets (only its list of sheets is read).

    Raises
    ------
    IngestError
        Not a readable workbook.
    """
    try:
        book = pd.ExcelFile(path)
    except Exception as e:  # openpyxl/zipfile raise many kinds on a broken workbook
        raise _error(rel, f"not a readable Excel workbook ({type(e).__name__})") from None
    with book:
        return [str(n) for n in book.sheet_names]


def sheet_name(names: list[str], sheet: str | int, rel: str) -> str:
    """``sheet`` (a name or 0-based index) as a name of ``names``, else :class:`MissingSheet`
    listing them, the nearest name to ``sheet`` first."""
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return names[sheet]
        listing = _listing([repr(n) for n in names])
        raise _error(
            rel,
            f"cannot read Excel sheet {sheet} (a 0-based index): the workbook has "
            f"{count(len(names), 'sheet')}: {listing}",
            MissingSheet,
        )
    if sheet in names:
        return sheet
    folded = [n.strip().casefold() for n in names]
    near = difflib.get_close_matches(sheet.strip().casefold(), folded, n=1, cutoff=0.6)
    order = list(range(len(names)))
    if near:
        first = folded.index(near[0])
        order = [first, *(i for i in order if i != first)]
    shown = [
        repr(names[i]) + (" (the nearest)" if near and k == 0 else "") for k, i in enumerate(order)
    ]
    raise _error(
        rel,
        f"cannot read Excel sheet {sheet!r}: the workbook has no sheet of that name; "
        f"its sheets: {_listing(shown)}",
        MissingSheet,
    )


def _listing(items: list[str], most: int = 20) -> str:
    return ", ".join(items[:most]) + (", ..." if len(items) > most else "")


def _cells(row: pd.Series) -> list[str]:
    """A sheet row's cells as stripped text, an empty cell as ``""``."""
    return ["" if _blank(v) else str(v).strip() for v in row.tolist()]


def _blank(v: object) -> bool:
    """An empty header cell (None or NaN)."""
    return v is None or (isinstance(v, float) and v != v)


# ---------------------------------------------------- SPSS / Stata / SAS
def _stat_reader(spec: ExtractSpec) -> tuple[Any, dict[str, Any]]:
    """pyreadstat's reader for the format and the keywords every read passes."""
    import pyreadstat

    fn: Any = {
        "sav": pyreadstat.read_sav,
        "dta": pyreadstat.read_dta,
        "xpt": pyreadstat.read_xport,
        "sas7bdat": pyreadstat.read_sas7bdat,
    }[spec.format]
    kw: dict[str, Any] = {}
    # SPSS and Stata files declare their encoding; SAS files often do not.
    if spec.format in ("xpt", "sas7bdat") or spec.encoding.lower().replace("-", "") != "utf8":
        kw["encoding"] = spec.encoding
    return fn, kw


def _stat_error(rel: str, spec: ExtractSpec, e: Exception) -> IngestError:
    msg = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
    return _error(rel, f"cannot read {spec.format} file ({msg})")


def _read_stat(path: Path, spec: ExtractSpec, rel: str) -> RawExtract:
    fn, kw = _stat_reader(spec)
    try:
        _, meta = fn(str(path), metadataonly=True, **kw)
        header = list(meta.column_names)
        _check_columns(header, spec, rel)
        needed = _needed(spec)
        if spec.format in ("sav", "dta"):
            kw["apply_value_formats"] = spec.use_value_labels
            kw["formats_as_category"] = True
        df, _ = fn(str(path), usecols=needed, dates_as_pandas_datetime=True, **kw)
    except IngestError:
        raise
    except Exception as e:  # pyreadstat.ReadstatError and friends
        raise _stat_error(rel, spec, e) from None
    data = df.loc[:, needed]
    data.index = pd.Index(np.arange(1, len(df) + 1, dtype=np.int64), name="source_row")
    return RawExtract(rel, data, _empty_malformed(), len(df))
