"""Queries: one row per problem, identifiers masked, to send back to the sites.

``queries.csv`` holds every query of the delivery; ``queries/<trust>.xlsx``
holds one trust's queries as a workbook for its data manager (written for
every trust, also when a trust has none). Both are deterministic: the same
failures give the same bytes (workbook timestamps are pinned).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from odtrial.data.canonical import TableSpec
from odtrial.data.masking import (
    mask_dob,
    mask_dob_message,
    mask_free_text,
    mask_nhs,
    mask_nhs_text,
    mask_text,
)

QUERY_COLUMNS: Final = (
    "trust",
    "file",
    "source_row",
    "participant",
    "field",
    "value",
    "rule",
    "severity",
    "message",
)
_FIXED_TIME: Final = "2000-01-01T00:00:00Z"
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class IdentifierFields:
    """Which ``(table, field)`` pairs hold identifiers, by how a query shows them."""

    nhs: frozenset[tuple[str, str]] = frozenset()
    date_of_birth: frozenset[tuple[str, str]] = frozenset()
    other: frozenset[tuple[str, str]] = frozenset()  # names, postcodes, e-mails ...

    @classmethod
    def of(cls, tables: Iterable[TableSpec]) -> IdentifierFields:
        """The declared identifiers of ``tables`` (the trial's, not guessed from names)."""
        nhs, dob, other = set(), set(), set()
        for t in tables:
            for f in t.fields:
                pair = (t.name, f.name)
                if f.nhs:
                    nhs.add(pair)
                elif f.name == t.date_of_birth:
                    dob.add(pair)
                elif f.identifier is not None:
                    other.add(pair)
        return cls(frozenset(nhs), frozenset(dob), frozenset(other))


def _flags(failures: pd.DataFrame, pairs: frozenset[tuple[str, str]]) -> np.ndarray:
    keys = zip(failures["table"].astype(object), failures["field"].astype(object), strict=True)
    return np.fromiter((k in pairs for k in keys), dtype=bool, count=len(failures))


def mask_failures(failures: pd.DataFrame, identifiers: IdentifierFields) -> pd.DataFrame:
    """Failures with identifiers masked in ``value`` and ``message``.

    The trial's NHS-number fields become ``*** *** 1234``, its date of birth
    its year, its other identifier fields ``****``; any NHS-number-like run of
    digits in other values or messages is masked too.
    """
    m = failures.reset_index(drop=True).copy()
    value = m["value"].astype("string").fillna("")
    message = m["message"].astype("string").fillna("")
    is_nhs = _flags(m, identifiers.nhs)
    is_dob = _flags(m, identifiers.date_of_birth)
    is_other = _flags(m, identifiers.other)
    m["value"] = mask_text(value)
    m["message"] = mask_text(message)
    if is_nhs.any():
        m.loc[is_nhs, "value"] = mask_nhs(value[is_nhs]).to_numpy()
        m.loc[is_nhs, "message"] = [
            mask_free_text(msg.replace(raw, mask_nhs_text(raw)) if raw else msg)
            for msg, raw in zip(message[is_nhs], value[is_nhs], strict=True)
        ]
    if is_other.any():
        m.loc[is_other, "value"] = value[is_other].where(value[is_other] == "", "****").to_numpy()
        m.loc[is_other, "message"] = [
            mask_free_text(msg.replace(raw, "****") if raw else msg)
            for msg, raw in zip(message[is_other], value[is_other], strict=True)
        ]
    if is_dob.any():
        m.loc[is_dob, "value"] = mask_dob(value[is_dob]).to_numpy()
        m.loc[is_dob, "message"] = [  # few rows: date-of-birth failures only
            mask_dob_message(msg, raw)
            for msg, raw in zip(message[is_dob], value[is_dob], strict=True)
        ]
    return m


def build_queries(
    failures: pd.DataFrame, participant: pd.Series, identifiers: IdentifierFields
) -> pd.DataFrame:
    """Queries from failures, with identifiers masked, each distinct query once.

    Parameters
    ----------
    failures
        Failures (mapping and validation) with columns ``table, trust,
        source_file, source_row, field, value, rule, severity, message``.
    participant
        Per failure, the participant pseudonym (or masked NHS number); aligned
        with ``failures`` by position.
    identifiers
        The trial's identifier fields (:meth:`IdentifierFields.of`).
    """
    f = mask_failures(failures, identifiers)
    q = pd.DataFrame(
        {
            "trust": f["trust"].astype("string"),
            "file": f["source_file"].astype("string"),
            "source_row": f["source_row"].astype("int64"),
            "participant": pd.Series(participant.to_numpy(), dtype="string"),
            "field": f["field"].astype("string"),
            "value": f["value"].astype("string"),
            "rule": f["rule"].astype("string"),
            "severity": f["severity"].astype("string"),
            "message": f["message"].astype("string"),
        }
    )
    # one records row can feed several tables (REDCap forms of one event): a site gets
    # each problem once
    q = q.drop_duplicates(ignore_index=True)
    q = q.sort_values(["trust", "file", "source_row", "field", "rule"], kind="stable")
    return q.reset_index(drop=True)


def write_queries_csv(queries: pd.DataFrame, path: Path) -> None:
    """Write ``queries.csv`` (UTF-8, ``\\n`` line ends, fixed column order)."""
    queries.loc[:, list(QUERY_COLUMNS)].to_csv(path, index=False, lineterminator="\n")


def write_trust_workbooks(
    queries: pd.DataFrame, folder: Path, trusts: Sequence[str]
) -> dict[str, int]:
    """Write ``<trust>.xlsx`` per trust; returns rows written per file name."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    widths = (8, 36, 10, 20, 20, 24, 24, 9, 70)
    for trust in trusts:
        q = queries[queries["trust"] == trust].loc[:, list(QUERY_COLUMNS)]
        wb = Workbook(write_only=True)  # streams rows: fast and small for big deliveries
        ws = wb.create_sheet("queries")
        for i, width in enumerate(widths):
            ws.column_dimensions["ABCDEFGHI"[i]].width = width
        ws.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for name in QUERY_COLUMNS:
            c = WriteOnlyCell(ws, value=name)
            c.font = bold
            header.append(c)
        ws.append(header)
        # A worksheet cannot hold control characters (a raw NUL or \x01 from a broken
        # extract): write them escaped, as "\x01", the way the messages show them.
        q = q.assign(
            **{
                c: q[c].astype("string").str.replace(ILLEGAL_CHARACTERS_RE, _escape, regex=True)
                for c in QUERY_COLUMNS
                if c != "source_row"
            }
        )
        cols = [q[c].astype(object).where(q[c].notna(), None).tolist() for c in QUERY_COLUMNS]
        cols[2] = [int(v) for v in q["source_row"]]
        for row in zip(*cols, strict=True):
            ws.append(list(row))
        buf = io.BytesIO()
        wb.save(buf)
        name = f"{trust}.xlsx"
        (folder / name).write_bytes(_pin_zip(buf.getvalue()))
        written[name] = len(q)
    return written


def _escape(m: re.Match[str]) -> str:
    return repr(m.group())[1:-1]


def _pin_zip(data: bytes) -> bytes:
    """Rewrite an xlsx with fixed entry timestamps and document times."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + _FIXED_TIME.encode() + rb"\g<3>",
                    body,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, body)
    return out.getvalue()
