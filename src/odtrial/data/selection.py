"""Files whose rows are records of several extracts: one read, rows shared out.

Usually one file is one extract: every row a record of its table. A file may
instead hold records of several kinds, or of several sites: a REDCap records
export holds every site's rows (a data access group column says whose), every
event's rows and each repeating instrument's rows. Extracts then say which of
its rows they take (``where``: source column -> accepted values; ``filled``:
columns of which one must hold a value), and several extracts (trust x table)
may name the same file. A workbook's extracts that name different sheets read
different sources (a table per sheet): :func:`sources` splits a file's extracts by
the source they read, and refuses extracts of one source that read it in different
dialects (ingest and ``odtrial check`` both call it, so they agree).

:func:`read_shared` reads such a file once and gives each extract the rows it
takes, with the file's own row numbers as ``source_row``. A row that no extract
takes is assigned to no table: it is quarantined with a reason (``unmatched_row``:
a value of a selection column that no extract takes, such as an unknown event;
``empty_record``: selected, but no value in any of the selecting extracts'
columns; ``malformed_line``). A row two extracts of one table take would be two
records of one table: that is a fatal error of the definition.

Counting (ingest's manifest): a row of such a file is *accepted* when at least one
extract took it and every record made from it was accepted; otherwise it is
*quarantined*. So ``rows_read = rows_accepted + rows_quarantined`` per file, and
each extract's records are counted apart (``records`` of the file's manifest entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from odtrial.data.catalogue import FAILURE_COLUMNS, RULES
from odtrial.data.mapping import MappedExtract, as_text, empty_failures, map_extract
from odtrial.data.readers import (
    MissingSheet,
    RawExtract,
    excel_sheet_names,
    read_extract,
    sheet_name,
)
from odtrial.errors import ConfigError, IngestError
from odtrial.redcap.records import refuse_labels_export
from odtrial.trial import ExtractSpec, Trial

#: The ``table`` of failures and the quarantine file of rows assigned to no table
#: (not a valid table name, so no declared table can take it).
UNASSIGNED: Final = "_unassigned"
#: Dialect keys every extract of one source must agree on (they decide how it is read).
_DIALECT: Final = (
    "format",
    "encoding",
    "delimiter",
    "quotechar",
    "sheet",
    "header_row",
    "use_value_labels",
)
_SHOWN: Final = 12  # values listed in a message before "..."


@dataclass(frozen=True)
class SharedFile:
    """A file read once for its extracts.

    Attributes
    ----------
    parts
        Per extract (in the order given): its spec and its mapped records.
    taken
        Per extract: the ``source_row`` of each row it took.
    unassigned
        Failures (columns of the failures table, ``table`` :data:`UNASSIGNED`) of the
        rows no extract took, one per row.
    rows_read
        Records in the file (malformed lines included).
    """

    parts: tuple[tuple[ExtractSpec, MappedExtract], ...]
    taken: tuple[np.ndarray, ...]
    unassigned: pd.DataFrame
    rows_read: int


# every failure column but source_row is text
_TEXT_COLUMNS: Final = {c: "string" for c in FAILURE_COLUMNS if c != "source_row"}


def read_shared(path: Path, rel: str, specs: Sequence[ExtractSpec], trial: Trial) -> SharedFile:
    """Read ``path`` once and map each extract's rows (see the module docstring).

    Raises
    ------
    ConfigError
        The extracts read the file in different dialects.
    IngestError
        The file cannot be read or lacks a column (one line, with an extract's
        ``hint``), or two extracts of one table take the same row.
    """
    merged = _merged_spec(specs, rel)
    try:
        raw = read_extract(path, merged, rel=rel)
    except IngestError as e:
        hint = next((s.hint for s in specs if s.hint), "")
        raise IngestError(f"{e} ({hint})" if hint else str(e)) from None
    refuse_labels_export(raw.data, specs, rel)
    data = raw.data
    masks = [_where_masks(data, s) for s in specs]
    taken_masks = [m.all(axis=0) & _filled(data, s) for m, s in zip(masks, specs, strict=True)]
    _check_overlap(taken_masks, specs, data.index.to_numpy(dtype=np.int64), rel)
    parts = []
    taken = []
    for s, mask in zip(specs, taken_masks, strict=True):
        cols = list(dict.fromkeys(s.columns.values()))
        sub = RawExtract(rel, data.loc[mask, cols], raw.malformed.iloc[:0], int(mask.sum()))
        parts.append((s, map_extract(sub, s, trial)))
        taken.append(data.index.to_numpy(dtype=np.int64)[mask])
    any_taken = np.zeros(len(data), dtype=bool)
    for mask in taken_masks:
        any_taken |= mask
    unassigned = _unassigned(data, specs, masks, ~any_taken, rel)
    if len(raw.malformed):
        unassigned = pd.concat([unassigned, _malformed(raw, specs, trial, rel)], ignore_index=True)
        unassigned = unassigned.sort_values("source_row", kind="stable").reset_index(drop=True)
    return SharedFile(tuple(parts), tuple(taken), unassigned, raw.rows_read)


def sources(path: Path, rel: str, specs: Sequence[ExtractSpec]) -> list[list[ExtractSpec]]:
    """The extracts of file ``path`` grouped by the source each reads, in order: the
    file, or for a workbook whose extracts name different sheets, each sheet (their
    ``sheet`` then given by name). A group of several extracts is read once
    (:func:`read_shared`).

    Raises
    ------
    ConfigError
        Extracts of one source read it in different dialects (``format``,
        ``encoding``, ``delimiter``, ``quotechar``, ``header_row``,
        ``use_value_labels``), or one table is read from two sheets of the file (its
        records would share row numbers).
    IngestError
        The extracts name different sheets of a workbook that cannot be read.
    """
    groups: dict[object, list[ExtractSpec]] = {}
    if len({s.sheet for s in specs}) > 1 and all(s.format == "excel" for s in specs):
        sheets = excel_sheet_names(path, rel=rel)  # the workbook opened once for them all
        for s in specs:
            try:
                name: object = sheet_name(sheets, s.sheet, rel)
            except MissingSheet:  # its own source: reading it says so, its sheets listed
                groups.setdefault(("missing", s.sheet), []).append(s)
                continue
            groups.setdefault(name, []).append(replace(s, sheet=str(name)))
    else:
        groups[None] = list(specs)
    for group in groups.values():
        _agree(group, rel)
    first: dict[str, ExtractSpec] = {}
    for group in groups.values():
        for s in group:
            other = first.setdefault(s.table, s)
            if other.sheet != s.sheet:
                raise ConfigError(
                    f"{rel}: extracts.{other.trust}.{other.table} and extracts.{s.trust}."
                    f"{s.table} read table {s.table} from different sheets of this workbook "
                    f"({other.sheet!r} and {s.sheet!r}); a table is read from one sheet of a "
                    f"file (the records of two would share row numbers)"
                )
    return list(groups.values())


def _agree(specs: Sequence[ExtractSpec], rel: str) -> None:
    """ConfigError unless ``specs`` read their file (or sheet) in one dialect."""
    first = specs[0]
    what = f"sheet {first.sheet!r} of this file" if first.format == "excel" else "this file"
    for s in specs[1:]:
        for k in _DIALECT:
            if getattr(s, k) != getattr(first, k):
                if k == "sheet":
                    what = "this file"
                raise ConfigError(
                    f"{rel}: extracts.{first.trust}.{first.table} and "
                    f"extracts.{s.trust}.{s.table} read {what} with different {k} "
                    f"({getattr(first, k)!r} and {getattr(s, k)!r}); they must agree"
                )


def _merged_spec(specs: Sequence[ExtractSpec], rel: str) -> ExtractSpec:
    """One spec reading every column any of ``specs`` needs (no table of its own)."""
    _agree(specs, rel)
    first = specs[0]
    labels: dict[str, str] = {}  # source column -> what it is for (the first extract's)
    for s in specs:
        key = f"extracts.{s.trust}.{s.table}"
        named = [(src, f"mapped to {s.table}.{canon}") for canon, src in s.columns.items()]
        named += [(src, f"named by {key}.where.{src}") for src in s.where]
        named += [(src, f"named by {key}.filled.{src}") for src in s.filled]
        for src, label in named:
            if src not in labels:
                used = set(labels.values())
                labels[src] = label if label not in used else f"{label} ({key})"
    columns = {label: src for src, label in labels.items()}
    return replace(
        first,
        table="",
        columns=columns,
        codes={},
        constants={},
        where={},
        filled={},
    )


def _where_masks(data: pd.DataFrame, spec: ExtractSpec) -> np.ndarray:
    """Per ``where`` column of ``spec`` (in order), where a row's value is accepted;
    shape (columns, rows), one all-True row when the extract has no ``where``."""
    out = [np.ones(len(data), dtype=bool)]
    for col, values in spec.where.items():
        text = as_text(data[col])
        ok = text.isin([v for v in values if v != ""]).fillna(False).to_numpy(dtype=bool)
        if "" in values:
            ok = ok | text.isna().to_numpy(dtype=bool)
        out.append(ok)
    return np.vstack(out[1:] if len(out) > 1 else out)


def _filled(data: pd.DataFrame, spec: ExtractSpec) -> np.ndarray:
    """Where a row holds a value in one of ``spec.filled``'s columns (other than its
    blanks); every row when the extract names none."""
    if not spec.filled:
        return np.ones(len(data), dtype=bool)
    out = np.zeros(len(data), dtype=bool)
    for col, blanks in spec.filled.items():
        text = as_text(data[col])
        out |= (text.notna() & ~text.isin(list(blanks))).fillna(False).to_numpy(dtype=bool)
    return out


def _check_overlap(
    taken: list[np.ndarray], specs: Sequence[ExtractSpec], rows: np.ndarray, rel: str
) -> None:
    """No row taken by two extracts of one table (it would be two records)."""
    first: dict[str, tuple[int, np.ndarray]] = {}
    for i, (s, mask) in enumerate(zip(specs, taken, strict=True)):
        if s.table in first:
            j, seen = first[s.table]
            both = seen & mask
            if both.any():
                other = specs[j]
                raise IngestError(
                    f"{rel}: row {int(rows[np.argmax(both)])} is taken by the {s.table} "
                    f"extracts of trusts {other.trust} and {s.trust}; their where must not "
                    f"overlap"
                )
            first[s.table] = (j, seen | mask)
        else:
            first[s.table] = (i, mask.copy())


def _unassigned(
    data: pd.DataFrame,
    specs: Sequence[ExtractSpec],
    masks: list[np.ndarray],
    left: np.ndarray,
    rel: str,
) -> pd.DataFrame:
    """One failure per row no extract took: ``empty_record`` when some extract's
    ``where`` selects it, else ``unmatched_row`` naming the first selection column
    whose value no extract takes (of the extracts matching it best)."""
    pos = np.flatnonzero(left)
    if len(pos) == 0:
        return empty_failures()
    rows = data.index.to_numpy(dtype=np.int64)[pos]
    texts = {
        c: as_text(data[c]).iloc[pos].fillna("").to_numpy(dtype=object)
        for s in specs
        for c in s.where
    }
    matched = np.vstack(
        [
            m[:, pos].sum(axis=0) if len(s.where) else np.zeros(len(pos), dtype=int)
            for m, s in zip(masks, specs, strict=True)
        ]
    )
    full = np.vstack([m[:, pos].all(axis=0) for m in masks])
    out: dict[str, list[object]] = {k: [] for k in ("trust", "field", "value", "rule", "message")}
    for k in range(len(pos)):
        selecting = [specs[i] for i in np.flatnonzero(full[:, k]).tolist()]
        if selecting:
            tables = list(dict.fromkeys(s.table for s in selecting))
            columns = list(dict.fromkeys(c for s in selecting for c in s.filled))
            trusts = {s.trust for s in selecting}
            out["field"].append(None)
            out["value"].append("")
            out["rule"].append("empty_record")
            out["message"].append(
                f"the row holds no value in the columns of {', '.join(tables)} "
                f"({_listing(columns)}), the tables that take rows like it"
            )
        else:
            best = np.flatnonzero(matched[:, k] == matched[:, k].max()).tolist()
            trusts = {specs[i].trust for i in best}
            spec, mask = specs[best[0]], masks[best[0]]
            col = next(
                (c for j, c in enumerate(spec.where) if not mask[j, pos[k]]),
                next(iter(spec.where)),
            )
            value = str(texts[col][k])
            taken = sorted({v for s in specs for v in s.where.get(col, ())})
            out["field"].append(col)
            out["value"].append(value)
            out["rule"].append("unmatched_row")
            out["message"].append(
                f"{col} {value!r} is taken by no table of the trial definition "
                f"(values taken: {_listing([repr(v) for v in taken])})"
            )
        out["trust"].append(trusts.pop() if len(trusts) == 1 else None)
    n = len(pos)
    return pd.DataFrame(
        {
            "table": [UNASSIGNED] * n,
            "trust": out["trust"],
            "source_file": [rel] * n,
            "source_row": rows,
            "field": out["field"],
            "value": out["value"],
            "rule": out["rule"],
            "severity": [RULES[str(r)].severity for r in out["rule"]],
            "message": out["message"],
        }
    ).astype(_TEXT_COLUMNS)


def _listing(values: Sequence[str]) -> str:
    shown = ", ".join(values[:_SHOWN])
    return shown + (", ..." if len(values) > _SHOWN else "")


def _malformed(
    raw: RawExtract, specs: Sequence[ExtractSpec], trial: Trial, rel: str
) -> pd.DataFrame:
    """Malformed lines: assigned to no table (their columns cannot be told apart). Their
    text is withheld when the file holds identifying fields."""
    m = raw.malformed
    trusts = {s.trust for s in specs}
    identifying = any(
        f.nhs or f.identifier is not None or f.name == trial.tables[s.table].date_of_birth
        for s in specs
        for f in trial.tables[s.table].fields
        if f.name in s.columns
    )
    text = m["raw_text"].astype("string")
    message = m["message"].astype("string")
    if identifying:
        text = pd.Series([""] * len(m), dtype="string")
        message = message + " (the line's text is withheld: the file holds identifying fields)"
    n = len(m)
    return pd.DataFrame(
        {
            "table": [UNASSIGNED] * n,
            "trust": [next(iter(trusts)) if len(trusts) == 1 else None] * n,
            "source_file": [rel] * n,
            "source_row": m["source_row"].to_numpy(dtype=np.int64),
            "field": [None] * n,
            "value": text.to_numpy(dtype=object),
            "rule": ["malformed_line"] * n,
            "severity": [RULES["malformed_line"].severity] * n,
            "message": message.to_numpy(dtype=object),
        }
    ).astype(_TEXT_COLUMNS)


def unassigned_quarantine(failures: pd.DataFrame) -> pd.DataFrame:
    """The quarantine of rows assigned to no table: provenance, rule codes, reasons."""
    f = failures[failures["table"] == UNASSIGNED]
    out = pd.DataFrame(
        {
            "trust": f["trust"].astype("string"),
            "source_file": f["source_file"].astype("string"),
            "source_row": f["source_row"].astype("int64"),
            "rules": f["rule"].astype("string"),
            "reasons": f["message"].astype("string"),
        }
    )
    return out.sort_values(["source_file", "source_row"], kind="stable").reset_index(drop=True)
