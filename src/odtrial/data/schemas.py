"""Pandera schemas for the mapped site tables, and their failures as data.

One :class:`pandera.DataFrameSchema` per table the trial declares
(:class:`odtrial.data.canonical.TableSpec`), built from that declaration so
the field list lives in one place. A schema checks what a single field can
show on its own:

- dtype (pandas ``string``, ``datetime64``, ``float64``, ``Int64``, ``boolean``);
- a required field is not empty -> ``missing_value``;
- a code is in its vocabulary -> ``out_of_vocabulary`` (not for ``drug``: a
  drug outside the dictionary is kept and flagged ``unknown_drug`` by the
  ``dose`` rule of :mod:`odtrial.data.rules`);
- a value within the field's declared ``min`` and ``max`` -> ``out_of_range``.

Schemas are validated lazily (every failure collected), and pandera's
``failure_cases`` are turned into rows of the tidy failures table by
:func:`schema_failures`. Each check carries its rule code as its pandera
``error`` text, so the mapping does not depend on pandera's check names.

Mapped frames normally arrive in these dtypes already (see the data
contract); :func:`coerce_mapped` puts any frame into them first, adding an
absent optional column as all-missing and reporting as ``invalid_value`` a
cell that cannot be read as its field's type, so the dtype checks are a
safety net rather than a whole-column failure.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.api import types as ptypes
from pandas.api.extensions import ExtensionDtype

from odtrial.data.canonical import PROVENANCE, Field, TableSpec

if TYPE_CHECKING:
    from odtrial.trial import Trial

#: Columns of the intermediate hit tables the checks produce (``row`` is the
#: 0-based position in the validated frame).
HIT_COLUMNS: Final = ("row", "field", "value", "rule", "message")

_STRING: Final = pd.StringDtype()
#: Dates are compared in one resolution. Microseconds, not the mapped frames'
#: nanoseconds: every [ns] value fits, and so does any date a [us] or [ms]
#: column may hold, so mixed-resolution arithmetic can never overflow.
DATE_DTYPE: Final = "datetime64[us]"
_DTYPE: Final[dict[str, str | ExtensionDtype]] = {
    "str": _STRING,
    "code": _STRING,
    "date": DATE_DTYPE,
    "float": "float64",
    "int": "Int64",
    "bool": "boolean",
}


def field_dtype(f: Field) -> str | ExtensionDtype:
    """The pandas dtype of a mapped field."""
    if f.kind == "code" and f.vocab == "yes_no":
        return "boolean"
    if f.kind == "code" and f.vocab == "visit":
        return "Int64"
    return _DTYPE[f.kind]


def _checks(f: Field, trial: Trial) -> list[pa.Check]:
    checks = []
    if f.kind == "code" and f.vocab not in ("drug", "yes_no"):
        allowed = list(trial.vocabulary(str(f.vocab)))
        checks.append(pa.Check.isin(allowed, error="out_of_vocabulary"))
    for bound, check in ((f.min, pa.Check.ge), (f.max, pa.Check.le)):
        if bound is not None:
            value = pd.Timestamp(bound) if f.kind == "date" else bound
            checks.append(check(value, error="out_of_range"))
    return checks


def mapped_schema(spec: TableSpec, trial: Trial) -> pa.DataFrameSchema:
    """The pandera schema of one mapped table (provenance included).

    Vocabularies are the trial's (:meth:`odtrial.trial.Trial.vocabulary`).
    Extra columns are allowed (``strict=False``): mapping may carry more.
    """
    columns: dict[str, pa.Column] = {
        "trust": pa.Column(_STRING, nullable=False),
        "source_file": pa.Column(_STRING, nullable=False),
        "source_row": pa.Column("Int64", nullable=False),
    }
    for f in spec.fields:
        columns[f.name] = pa.Column(
            field_dtype(f), checks=_checks(f, trial), nullable=not f.required
        )
    return pa.DataFrameSchema(columns, name=spec.name, strict=False, coerce=False)


def empty_hits() -> pd.DataFrame:
    """A hit table with no rows."""
    return _empty_hits_template().copy()


@cache
def _empty_hits_template() -> pd.DataFrame:
    # Building string-dtype columns costs ~10 ms; rules return empties often.
    return pd.DataFrame(
        {
            "row": np.zeros(0, dtype=np.int64),
            **{c: pd.Series([], dtype=_STRING) for c in HIT_COLUMNS[1:]},
        }
    )


def make_hits(
    rows: np.ndarray,
    field: str,
    value: pd.Series | np.ndarray | str,
    rule: str,
    message: pd.Series | np.ndarray | str,
) -> pd.DataFrame:
    """Build a hit table: one rule firing on ``rows`` of a frame.

    ``value`` and ``message`` are aligned with ``rows`` (positional); a string
    is repeated on every row.
    """
    n = len(rows)
    if n == 0:
        return empty_hits()

    def _strings(x: pd.Series | np.ndarray | str) -> pd.Series:
        if isinstance(x, str):
            return pd.Series([x] * n, dtype=_STRING)
        return pd.Series(np.asarray(x, dtype=object), dtype=_STRING)

    return pd.DataFrame(
        {
            "row": np.asarray(rows, dtype=np.int64),
            "field": pd.Series([field] * n, dtype=_STRING),
            "value": _strings(value).fillna(""),
            "rule": pd.Series([rule] * n, dtype=_STRING),
            "message": _strings(message),
        }
    )


def as_text(values: pd.Series) -> pd.Series:
    """Values as display text (string dtype, "" for missing), vectorised.

    Dates print as ISO ``YYYY-MM-DD`` (with the time only if not midnight),
    integer-valued floats without ``.0``.
    """
    s = values.reset_index(drop=True)
    if ptypes.is_datetime64_any_dtype(s.dtype):
        has_time = bool((s.dropna() != s.dropna().dt.normalize()).any())
        text = s.dt.strftime("%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d")
        return text.astype(_STRING).fillna("")
    if ptypes.is_float_dtype(s.dtype):
        text = s.astype(str).str.replace(r"\.0$", "", regex=True)
        return text.astype(_STRING).where(s.notna(), "")
    return s.astype(_STRING).fillna("")


# --------------------------------------------------------------------------- coercion


def _coerce_column(s: pd.Series, f: Field) -> tuple[pd.Series, np.ndarray]:
    """Convert one column to the field's dtype; return it and a mask of cells
    that were present but could not be read (now missing)."""
    n = len(s)
    none = np.zeros(n, dtype=bool)
    dtype = field_dtype(f)
    if dtype is _STRING:
        if isinstance(s.dtype, pd.StringDtype) and s.dtype == _STRING:
            return s, none
        return s.astype(_STRING), none
    present = s.notna().to_numpy(dtype=bool)
    if f.kind == "date":
        if not ptypes.is_datetime64_any_dtype(s.dtype):
            parsed = pd.to_datetime(s.astype(_STRING), errors="coerce", format="ISO8601")
            if not ptypes.is_datetime64_dtype(parsed.dtype):  # pragma: no cover - defensive
                parsed = pd.Series(pd.NaT, index=s.index, dtype=DATE_DTYPE)
            s = parsed
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_localize(None)
        out, overflow = _as_date_unit(s)
        return out, (present & out.isna().to_numpy(dtype=bool)) | overflow
    if dtype == "float64":
        if ptypes.is_float_dtype(s.dtype) and s.dtype == np.float64:
            return s, none
        num = pd.to_numeric(s, errors="coerce") if not ptypes.is_bool_dtype(s.dtype) else None
        if num is None:
            out = pd.Series(np.nan, index=s.index, dtype="float64")
        else:
            out = num.astype("Float64").astype("float64")
        return out, present & out.isna().to_numpy(dtype=bool)
    if dtype == "Int64":
        if str(s.dtype) == "Int64":
            return s, none
        num = (
            pd.to_numeric(s, errors="coerce")
            if not ptypes.is_bool_dtype(s.dtype)
            else pd.Series(np.nan, index=s.index)
        )
        num = num.astype("Float64")
        whole = (num == num.round()) & (num.abs() < 2**53)
        out = num.where(whole.fillna(False)).round().astype("Int64")
        return out, present & out.isna().to_numpy(dtype=bool)
    # boolean
    if str(s.dtype) == "boolean":
        return s, none
    if ptypes.is_bool_dtype(s.dtype):
        return s.astype("boolean"), none
    text = s.astype(_STRING).str.strip().str.lower()
    out = text.map({"true": True, "false": False, "1": True, "0": False}).astype("boolean")
    return out, present & out.isna().to_numpy(dtype=bool)


def _as_date_unit(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``s`` (naive datetime64, any unit) in :data:`DATE_DTYPE`; values beyond its
    range (only possible from [s]/[ms] columns) become NaT and are reported."""
    overflow = np.zeros(len(s), dtype=bool)
    if str(s.dtype) == DATE_DTYPE:
        return s, overflow
    unit = np.datetime_data(s.to_numpy().dtype)[0]
    if unit in ("s", "ms"):
        raw = s.to_numpy()
        # Largest magnitude (in this unit) that still fits int64 microseconds.
        limit = np.iinfo(np.int64).max // {"s": 10**6, "ms": 10**3}[unit] - 1
        overflow = ~np.isnat(raw) & (np.abs(raw.view(np.int64)) > limit)
        if overflow.any():
            s = s.where(~overflow)
    return s.astype(DATE_DTYPE), overflow


def coerce_mapped(frame: pd.DataFrame, spec: TableSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Put a mapped frame into its schema dtypes with a fresh RangeIndex.

    Returns the converted frame (provenance and mapped fields only, in
    canonical order) and the ``invalid_value`` hits for cells that could not
    be read as their type. An absent field becomes an all-missing column
    (a required one then fails ``missing_value``).

    Raises
    ------
    ValueError
        If a provenance column (``trust``, ``source_file``, ``source_row``) is
        absent: without it a failure cannot be traced to its record.
    """
    for c in PROVENANCE:
        if c not in frame.columns:
            raise ValueError(f"mapped {spec.name} frame has no provenance column {c!r}")
    df = frame.reset_index(drop=True)
    n = len(df)
    out: dict[str, pd.Series] = {
        "trust": df["trust"].astype(_STRING),
        "source_file": df["source_file"].astype(_STRING),
        "source_row": _coerce_column(df["source_row"], Field("source_row", "int"))[0],
    }
    hits = []
    for f in spec.fields:
        if f.name not in df.columns:
            out[f.name] = pd.Series([None] * n, dtype=field_dtype(f))
            continue
        col, bad = _coerce_column(df[f.name], f)
        out[f.name] = col.reset_index(drop=True)
        if bad.any():
            rows = np.flatnonzero(bad)
            kind = {"date": "a date", "float": "a number", "int": "a whole number"}.get(
                f.kind, "yes/no" if field_dtype(f) == "boolean" else "a whole number"
            )
            raw = as_text(df[f.name].astype(_STRING).iloc[rows])
            msg = f.name + " '" + raw + f"' cannot be read as {kind}"
            hits.append(make_hits(rows, f.name, raw, "invalid_value", msg))
    result = pd.DataFrame(out)
    return result, concat_hits(hits)


def concat_hits(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate hit tables (an empty list gives an empty table)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_hits()
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- failures

_CHECK_RULE: Final = {
    "not_nullable": "missing_value",
    "out_of_vocabulary": "out_of_vocabulary",
    "out_of_range": "out_of_range",
}


def schema_failures(frame: pd.DataFrame, spec: TableSpec, trial: Trial) -> pd.DataFrame:
    """Validate a coerced mapped frame lazily against its schema.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`coerce_mapped` (RangeIndex, schema dtypes).
    spec : TableSpec
        The table's declaration.
    trial : Trial
        The trial (its vocabularies and visit schedule).

    Returns
    -------
    DataFrame
        Hit table (:data:`HIT_COLUMNS`), ``row`` the position in ``frame``.

    Raises
    ------
    RuntimeError
        If pandera reports a failure that is not tied to a row (a wrong
        dtype or a missing column): :func:`coerce_mapped` rules that out,
        so it would be a bug, not bad data.
    """
    table = spec.name
    schema = mapped_schema(spec, trial)
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases
    else:
        return empty_hits()
    rule = fc["check"].astype(str).map(_CHECK_RULE)
    if rule.isna().any() or fc["index"].isna().any():
        bad = fc[rule.isna() | fc["index"].isna()].iloc[0]
        raise RuntimeError(f"unexpected schema failure on {table}.{bad['column']}: {bad['check']}")
    parts = []
    for (column, code), grp in fc.groupby([fc["column"].astype(str), rule], sort=True):
        rows = grp["index"].to_numpy(dtype=np.int64)
        values = as_text(frame[column].iloc[rows]) if code != "missing_value" else ""
        label = column.replace("_", " ")
        if code == "missing_value":
            msg: pd.Series | str = f"required field {column} is empty"
        elif code == "out_of_vocabulary":
            f = spec.field(column)
            allowed = ", ".join(str(v) for v in trial.vocabulary(str(f.vocab)))
            msg = label + " '" + values + f"' is not in the vocabulary ({allowed})"
        else:  # out_of_range: the only other check
            msg = label + " " + values + " is outside " + _range_text(spec.field(column))
        parts.append(
            make_hits(rows, column, values if isinstance(values, pd.Series) else "", code, msg)
        )
    return concat_hits(parts)


def _range_text(f: Field) -> str:
    """``"[lo, hi]"`` style text of a field's bounds (dates ISO, numbers as written)."""

    def show(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    unit = f" {f.unit}" if f.unit else ""
    if f.min is not None and f.max is not None:
        return f"{show(f.min)} to {show(f.max)}{unit}"
    if f.min is not None:
        return f"the minimum {show(f.min)}{unit}"
    return f"the maximum {show(f.max)}{unit}"
