"""Render canonical rows in a trust's dialect and write them in its file format.

Binary formats carry a creation time in their headers; the writers overwrite it with
a fixed stamp (the extract date) so the same seed gives byte-identical files.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyreadstat

from odtrial.synth.config import Dialect
from odtrial.synth.population import EPOCH
from odtrial.synth.tables import DATE_FIELDS, INTEGER_FIELDS

SAS_EPOCH_SHIFT = 3653  # days from 1960-01-01 to 1970-01-01
NOTES = (
    "Seen at home with family",
    "Client’s mother present at meeting",
    "Network meeting held at Café Nero, Colchester",
    "Travel expenses £12.50 reimbursed",
    "Naïve to antipsychotic medication",
    "Prefers contact by phone – not letters",
    "Interpreter needed (Portuguese)",
    "Risk assessment reviewed, no change",
)
REFERRAL_NOTES = (
    "Referred by GP out of hours",
    "Self-referral via crisis line",
    "Police referral (s136 suite) – assessed same day",
    "Family concerned, Café meeting declined",
    "A&E liaison referral",
)


def iso_dates(days: np.ndarray) -> np.ndarray:
    """Day numbers (NaN = missing) -> 'YYYY-MM-DD' strings ('' for missing)."""
    out = np.full(days.shape, "", dtype=object)
    ok = ~np.isnan(days)
    out[ok] = np.datetime_as_string(EPOCH + days[ok].astype(np.int64).astype("timedelta64[D]"))
    return out


def text_dates(days: np.ndarray, fmt: str) -> np.ndarray:
    iso = iso_dates(days)
    if fmt == "%Y-%m-%d":
        return iso
    if fmt == "%d/%m/%Y":
        s = pd.Series(iso, dtype=object)
        ok = s != ""
        s[ok] = s[ok].str[8:10] + "/" + s[ok].str[5:7] + "/" + s[ok].str[:4]
        return s.to_numpy(dtype=object, copy=True)
    raise ValueError(f"unsupported text date format {fmt!r}")


def impossible_text_date(year: int, fmt: str) -> str:
    """A date that does not exist (30 February), in the trust's text format."""
    return f"{year:04d}-02-30" if fmt == "%Y-%m-%d" else f"30/02/{year:04d}"


def _dose_text(x: np.ndarray) -> np.ndarray:
    return np.asarray(["" if np.isnan(v) else f"{v:g}" for v in x], dtype=object)


def _int_text(x: np.ndarray) -> np.ndarray:
    return np.asarray(["" if np.isnan(v) else str(int(v)) for v in x], dtype=object)


def _drug_case(names: np.ndarray, case: str) -> np.ndarray:
    s = pd.Series(names, dtype=object)
    if case == "upper":
        return s.str.upper().to_numpy(dtype=object, copy=True)
    if case == "title":
        return s.str.title().to_numpy(dtype=object, copy=True)
    return s.to_numpy(dtype=object, copy=True)


def render(
    rows: pd.DataFrame,
    table: str,
    d: Dialect,
    *,
    overrides: Mapping[int, Mapping[str, Any]],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Canonical rows (in file order) -> source columns. ``overrides``: row position ->
    {canonical field: raw source value} written verbatim (faults)."""
    cols: dict[str, Any] = {}
    n = len(rows)
    for fld, src in d.columns[table].items():
        v = rows[fld].to_numpy()
        if fld in DATE_FIELDS:
            v = v.astype(float)
            if d.text:
                col: Any = text_dates(v, d.date_format)
            elif d.format == "xpt":
                col = v + SAS_EPOCH_SHIFT
            else:
                col = pd.to_datetime(v, unit="D")  # NaN -> NaT
        elif fld == "drug":
            col = _drug_case(v.astype(str), d.drug_case)
            if d.drug_brands:
                brand_of = {c: b for b, c in d.drug_brands.items()}
                has = np.asarray([x in brand_of for x in v])
                use = has & (rng.random(n) < 0.25)
                col[use] = [brand_of[x] for x in v[use]]
        elif fld in INTEGER_FIELDS:
            x = v.astype(float)
            col = _int_text(x) if d.text else x
        elif fld == "daily_dose_mg":
            col = _dose_text(v.astype(float)) if d.text else v.astype(float)
        elif fld in d.render:
            mapped = rows[fld].astype(object).map(dict(d.render[fld]))
            first = next(iter(d.render[fld].values()))
            if d.text:
                col = mapped.astype(str).to_numpy(dtype=object)
            elif isinstance(first, int):
                col = mapped.astype(float).to_numpy()
            else:
                col = mapped.to_numpy(dtype=object)
        else:
            col = v.astype(str).astype(object)
        cols[src] = col
    if table in d.free_text:
        pool = NOTES if table == "participants" else REFERRAL_NOTES
        pick = rng.integers(0, len(pool), n)
        blank = rng.random(n) < 0.5
        cols[d.free_text[table]] = np.where(blank, "", np.asarray(pool, dtype=object)[pick])
    out = pd.DataFrame(cols)
    for pos, fields in overrides.items():
        for fld, raw in fields.items():
            src = d.columns[table][fld]
            if out[src].dtype != object and isinstance(raw, str):
                out[src] = out[src].astype(object)
            # Column names are unique (the frame is built from a dict): get_loc is an int.
            out.iloc[pos, cast(int, out.columns.get_loc(src))] = raw
    return out


# ------------------------------------------------------------------------------ writers


def write(
    frame: pd.DataFrame,
    path: Path,
    table: str,
    d: Dialect,
    *,
    malformed: set[int],
    stamp: date,
) -> None:
    """Write ``frame`` (source columns) to ``path`` in the dialect's format.
    ``malformed``: row positions whose CSV line gets an extra field."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if d.format == "csv":
        _write_csv(frame, path, d, malformed)
    elif d.format == "excel":
        _write_xlsx(frame, path, table, stamp)
    elif d.format == "sav":
        labels: dict[str, dict[int | float, str]] = {
            d.columns[table][f]: {k: v for k, v in lab.items()}
            for f, lab in d.value_labels.items()
            if f in d.columns[table]
        }
        pyreadstat.write_sav(frame, str(path), variable_value_labels=labels or None)
        _fix_sav_stamp(path, stamp)
    elif d.format == "dta":
        pyreadstat.write_dta(frame, str(path), version=15)
        _fix_dta_stamp(path, stamp)
    elif d.format == "xpt":
        pyreadstat.write_xport(
            frame, str(path), table_name=table[:8].upper(), file_format_version=5
        )
        _fix_xpt_stamp(path, stamp)
    else:  # pragma: no cover - dialects are fixed
        raise ValueError(d.format)


def _write_csv(frame: pd.DataFrame, path: Path, d: Dialect, malformed: set[int]) -> None:
    text = frame.to_csv(index=False, sep=d.delimiter, lineterminator="\n")
    if malformed:
        lines = text.split("\n")
        for pos in malformed:
            # an unquoted delimiter typed into the last field: one field too many
            lines[pos + 1] += f"{d.delimiter} see previous entry"
        text = "\n".join(lines)
    if d.line_terminator != "\n":
        text = text.replace("\n", d.line_terminator)
    path.write_bytes(text.encode(d.encoding))


_ZIP_TIME = (2025, 1, 1, 0, 0, 0)
EXCEL_EPOCH_SHIFT = 25569  # Excel serial of 1970-01-01 (1900 date system)

_XLSX_STATIC = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        "</Relationships>"
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts>'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def _xml_escape(s: pd.Series) -> pd.Series:
    return s.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")


def _col_letter(i: int) -> str:
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _write_xlsx(frame: pd.DataFrame, path: Path, table: str, stamp: date) -> None:
    """A minimal OOXML workbook (one sheet, inline strings, dates as real Excel dates with
    a date number format), built with vectorised string operations: openpyxl's
    cell-by-cell writer took most of the generation time of the 100,000-participant trial.
    The result reads back with openpyxl/pandas (tested)."""
    n = len(frame)
    rownum = pd.Series(np.arange(2, n + 2).astype(str), dtype=object)
    cells: list[pd.Series] = []
    head = []
    for j, c in enumerate(frame.columns):
        ref = _col_letter(j)
        head.append(
            f'<c r="{ref}1" t="inlineStr"><is><t>{_xml_escape(pd.Series([c])).iat[0]}</t></is></c>'
        )
        s = frame[c]
        r = ref + rownum
        if pd.api.types.is_datetime64_any_dtype(s):
            serial = (
                s.to_numpy().astype("datetime64[D]").astype(np.int64) + EXCEL_EPOCH_SHIFT
            ).astype(str)
            cell = '<c r="' + r + '" s="1"><v>' + pd.Series(serial, dtype=object) + "</v></c>"
            cell[s.isna().to_numpy()] = ""
        elif pd.api.types.is_float_dtype(s):
            v = pd.Series([f"{x:.15g}" for x in s.to_numpy()], dtype=object)
            cell = '<c r="' + r + '"><v>' + v + "</v></c>"
            cell[s.isna().to_numpy()] = ""
        else:
            txt = s.astype(object)
            miss = txt.isna().to_numpy() | (txt.astype(str) == "").to_numpy()
            body = _xml_escape(txt.astype(str).reset_index(drop=True))
            cell = '<c r="' + r + '" t="inlineStr"><is><t>' + body + "</t></is></c>"
            cell[miss] = ""
        cells.append(cell.reset_index(drop=True))
    rows = (
        '<row r="' + rownum + '">' + pd.concat(cells, axis=1).sum(axis=1) + "</row>"
        if n
        else pd.Series([], dtype=object)
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<sheetData><row r="1">{"".join(head)}</row>'
        + "".join(rows.tolist())
        + "</sheetData></worksheet>"
    )
    fixed = f"{stamp.isoformat()}T00:00:00Z"
    parts = dict(_XLSX_STATIC)
    parts["xl/workbook.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{table}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    parts["docProps/core.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<dc:creator>odtrial synth</dc:creator>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{fixed}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{fixed}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    parts["xl/worksheets/sheet1.xml"] = sheet
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(parts):
            zi = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            z.writestr(zi, parts[name].encode("utf-8"))
    path.write_bytes(buf.getvalue())


def _patch(path: Path, offset: int, new: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + len(new)] = new
    path.write_bytes(bytes(data))


def _fix_sav_stamp(path: Path, stamp: date) -> None:
    # SPSS header: creation date (9 bytes 'dd Mon yy') at 92, time (8 bytes) at 101
    head = path.read_bytes()[:120]
    if head[:4] not in (b"$FL2", b"$FL3"):
        return
    _patch(path, 92, stamp.strftime("%d %b %y").encode("ascii") + b"00:00:00")


def _fix_dta_stamp(path: Path, stamp: date) -> None:
    data = path.read_bytes()
    i = data.find(b"<timestamp>")
    if i < 0:
        return
    n = data[i + 11]
    if n == 17:
        _patch(path, i + 12, stamp.strftime("%d %b %Y").encode("ascii") + b" 00:00")


_XPT_TIME = re.compile(rb"\d{2}[A-Z]{3}\d{2}:\d{2}:\d{2}:\d{2}")


def _fix_xpt_stamp(path: Path, stamp: date) -> None:
    data = path.read_bytes()
    head_end = data.find(b"HEADER RECORD*******OBS")
    if head_end < 0:
        return
    fixed = stamp.strftime("%d%b%y").upper().encode("ascii") + b":00:00:00"
    head = _XPT_TIME.sub(fixed, data[:head_end])
    path.write_bytes(head + data[head_end:])
