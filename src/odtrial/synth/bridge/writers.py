"""Render BRIDGE's canonical rows in a site's dialect and write them in its format.

The byte-level writers (Excel workbook, SPSS header stamp, impossible dates) are the
POD generator's (:mod:`odtrial.synth.writers`), so both trials' files are deterministic
in the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyreadstat

from odtrial.synth.bridge.design import TABLES, Extract
from odtrial.synth.writers import _fix_sav_stamp, _write_xlsx, text_dates

BRAND_SHARE = 0.25  # share of issues of a drug with a brand that carry the brand name
DOSAGE_TEXT = (
    "ONE to be taken each day",
    "ONE to be taken at night",
    "TWO to be taken each morning",
    "As directed",
)


def _number_text(x: np.ndarray) -> np.ndarray:
    return np.asarray(["" if np.isnan(v) else f"{v:g}" for v in x], dtype=object)


def _uniform(rows: pd.DataFrame, salt: str) -> np.ndarray:
    """A number in [0, 1) per row from its canonical values: repeated records (injected
    duplicates) render the same, which a draw from a generator would not."""
    fields = [c for c in rows.columns if not c.startswith("_")]
    text = ("|".join(map(str, r)) for r in rows[fields].itertuples(index=False))
    return np.asarray([zlib.crc32(f"{salt}|{t}".encode()) / 2**32 for t in text], dtype=float)


def _drug_names(names: np.ndarray, e: Extract, u: np.ndarray) -> np.ndarray:
    s = pd.Series(names, dtype=object)
    out = (
        s.str.upper() if e.drug_case == "upper" else s.str.title() if e.drug_case == "title" else s
    )
    col = out.to_numpy(dtype=object, copy=True)
    if e.drug_brands:
        brand_of = {g: b for b, g in e.drug_brands.items()}
        has = np.asarray([x in brand_of for x in names])
        use = has & (u < BRAND_SHARE)
        col[use] = [brand_of[x] for x in names[use]]
    return col


def render(
    rows: pd.DataFrame,
    table: str,
    e: Extract,
    *,
    overrides: Mapping[int, Mapping[str, Any]],
) -> pd.DataFrame:
    """Canonical rows (in file order) -> the extract's source columns. ``overrides``: row
    position -> {field: verbatim source value} (faults)."""
    spec = TABLES[table]
    cols: dict[str, Any] = {}
    for fld, src in e.columns.items():
        kind = spec.field(fld).type
        v = rows[fld].to_numpy()
        if kind == "date":
            v = v.astype(float)
            col: Any = text_dates(v, e.date_format) if e.text else pd.to_datetime(v, unit="D")
        elif kind in ("integer", "number"):
            col = _number_text(v.astype(float)) if e.text else v.astype(float)
        elif kind == "drug":
            names = np.asarray(["" if pd.isna(x) else str(x) for x in v], dtype=object)
            col = _drug_names(names, e, _uniform(rows, "brand"))
        elif fld in e.render:
            mapped = pd.Series(v, dtype=object).map(
                lambda x, m=e.render[fld]: None if pd.isna(x) else m[x]
            )
            numeric = isinstance(next(iter(e.render[fld].values())), int)
            if e.text:
                col = mapped.map(lambda x: "" if pd.isna(x) else str(x)).to_numpy(dtype=object)
            elif numeric:
                col = mapped.astype(float).to_numpy()
            else:
                col = mapped.to_numpy(dtype=object)
        else:  # string and NHS number fields
            col = np.asarray(["" if pd.isna(x) else str(x) for x in v], dtype=object)
        cols[src] = col
    for src, value in e.extra.items():
        cols[src] = np.full(len(rows), value, dtype=object)
    # REDCap puts its event name second, after the record id
    order = list(cols)
    order = (
        order[:1]
        + [c for c in order[1:] if c.startswith("redcap_")]
        + [c for c in order[1:] if not c.startswith("redcap_")]
    )
    cols = {c: cols[c] for c in order}
    if table == "scripts" and e.text:
        pick = (_uniform(rows, "dosage") * len(DOSAGE_TEXT)).astype(int)
        cols["Dosage"] = np.asarray(DOSAGE_TEXT, dtype=object)[pick]
    out = pd.DataFrame(cols)
    for pos, fields in overrides.items():
        for fld, raw in fields.items():
            src = e.columns[fld]
            if out[src].dtype != object and isinstance(raw, str):
                out[src] = out[src].astype(object)
            out.iloc[pos, cast(int, out.columns.get_loc(src))] = raw
    return out


def write(
    frame: pd.DataFrame, path: Path, table: str, e: Extract, *, malformed: set[int], stamp: date
) -> None:
    """Write ``frame`` to ``path`` in the extract's format; ``malformed``: row positions
    whose CSV line gets one field too many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if e.format == "csv":
        text = frame.to_csv(index=False, sep=e.delimiter, lineterminator="\n")
        if malformed:
            lines = text.split("\n")
            for pos in malformed:
                lines[pos + 1] += f"{e.delimiter} see previous entry"
            text = "\n".join(lines)
        text = text.replace("\n", e.line_terminator)
        path.write_bytes(("\ufeff" if e.bom else "").encode(e.encoding) + text.encode(e.encoding))
    elif e.format == "excel":
        _write_xlsx(frame, path, table, stamp)
    elif e.format == "sav":
        labels: dict[str, dict[int | float, str]] = {
            e.columns[f]: {k: v for k, v in lab.items()}
            for f, lab in e.value_labels.items()
            if f in e.columns
        }
        pyreadstat.write_sav(frame, str(path), variable_value_labels=labels or None)
        _fix_sav_stamp(path, stamp)
    else:  # pragma: no cover - the design names these three
        raise ValueError(e.format)
