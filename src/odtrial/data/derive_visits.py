"""Derivation kinds over scheduled assessments: a value at a visit, its change from
baseline, and a questionnaire score.

A table's visit field is the one the trial declared (freeze manifest
``tables.<name>.visit``) unless the derivation gives ``visit_field``; its date field
likewise (``tables.<name>.date``, or ``date_field``). A participant with no record at
the visit gets NA (lost to follow-up); with several, ``choose`` decides:

``latest`` (default)
    the latest-dated record (a record without a date loses; equal dates: the last in
    table order);
``earliest``
    the earliest-dated record (a record without a date loses; equal dates: the first);
``closest``
    the record dated nearest the visit's due date, consent + ``visit`` calendar months
    (ties: the earlier date, then table order); needs a date field.

Without a date field, ``latest`` and ``earliest`` are the last and first record in table
order. These kinds do not depend on the outcome window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from odtrial.data.derive_context import Cohort, Derived, fail
from odtrial.data.derive_events import add_months, to_days

CHOICES = ("latest", "earliest", "closest")
_BIG = np.iinfo(np.int64).max // 4


def pick_records(
    c: Cohort,
    key: str,
    *,
    table: str,
    visit: int,
    choose: str = "latest",
    visit_field: str | None = None,
    date_field: str | None = None,
) -> tuple[np.ndarray, int]:
    """The table row chosen for each participant at ``visit`` (-1: none), and how many
    records beyond one per participant the visit had."""
    c.table(table, f"{key}.table")
    vf = c.declared(table, "visit", visit_field)
    if vf is None:
        raise fail(
            key,
            f"needs visit_field: the freeze does not say which field of table {table!r} "
            "names the visit",
        )
    vcol = c.column(table, vf, f"{key}.visit_field", kind="number")
    rows = c.rows(table, key)
    at_visit = (vcol == visit).to_numpy(dtype=bool, na_value=False)
    pos = np.flatnonzero(rows.keep & at_visit)
    p = rows.all_pidx[pos]
    df = c.declared(table, "date", date_field)
    if df is None:
        if choose == "closest":
            raise fail(
                f"{key}.choose",
                f"'closest' needs date_field: the freeze does not say which field of "
                f"table {table!r} dates a record",
            )
        day, missing = np.zeros(len(pos), dtype=np.int64), np.zeros(len(pos), dtype=bool)
    else:
        col = c.column(table, df, f"{key}.date_field", kind="date")
        day, missing = to_days(col.to_numpy()[pos])
    if choose == "latest":
        # sorted by participant, date, table order: the last of each participant wins
        order = np.lexsort((pos, np.where(missing, -_BIG, day), p))[::-1]
    elif choose == "earliest":
        order = np.lexsort((pos, np.where(missing, _BIG, day), p))
    else:
        due = add_months(c.consent[p], visit) if len(p) else np.zeros(0, dtype=np.int64)
        dist = np.where(missing, _BIG, np.abs(day - due))
        order = np.lexsort((pos, np.where(missing, _BIG, day), dist, p))
    p_sorted = p[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = p_sorted[1:] != p_sorted[:-1]
    chosen = np.full(c.n, -1, dtype=np.int64)
    chosen[p_sorted[first]] = pos[order][first]
    return chosen, int(len(p) - first.sum())


def take(values: pd.Series, chosen: np.ndarray) -> pd.Series:
    """``values`` at the chosen rows, NA where none (-1); the field's own dtype where it
    has an NA (boolean, Int64, string, float)."""
    arr = values.array
    if isinstance(arr, pd.arrays.NumpyExtensionArray):
        out = pd.api.extensions.take(arr.to_numpy(), chosen, allow_fill=True)
        return pd.Series(out)
    return pd.Series(arr.take(chosen, allow_fill=True))


def value_at_visit(
    c: Cohort,
    key: str,
    *,
    table: str,
    field: str,
    visit: int,
    choose: str = "latest",
    visit_field: str | None = None,
    date_field: str | None = None,
) -> Derived:
    """The ``field`` of the participant's record at ``visit`` (see the module notes).

    Returns
    -------
    Derived
        One column with the field's dtype (NA: no record at the visit); counts
        ``missing`` and ``duplicate_records``.
    """
    c.table(table, f"{key}.table")
    col = c.column(table, field, f"{key}.field")
    chosen, dup = pick_records(
        c, key, table=table, visit=visit, choose=choose,
        visit_field=visit_field, date_field=date_field,
    )  # fmt: skip
    out = take(col, chosen)
    counts = {
        "missing": int(out.isna().sum()),
        "duplicate_records": dup,
        "rows_unknown_participant": c.rows(table, key).unknown,
    }
    return Derived({"": out}, counts, (table,))


def _numeric(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def change_from_baseline(
    c: Cohort,
    key: str,
    *,
    table: str,
    field: str,
    visit: int,
    baseline: Mapping[str, Any],
    choose: str = "latest",
    visit_field: str | None = None,
    date_field: str | None = None,
) -> Derived:
    """The value of a numeric ``field`` at ``visit`` minus its baseline.

    ``baseline`` is ``{table, field, visit}`` (a record at the baseline visit, chosen as
    the outcome's is; optional ``visit_field``, ``date_field`` of that table) or
    ``{field}``, a participants field. NA when either value is missing.
    """
    c.table(table, f"{key}.table")
    col = c.column(table, field, f"{key}.field", kind="number")
    chosen, dup = pick_records(
        c, key, table=table, visit=visit, choose=choose,
        visit_field=visit_field, date_field=date_field,
    )  # fmt: skip
    after = _numeric(take(col, chosen))
    bkey = f"{key}.baseline"
    tables = [table]
    if "table" in baseline:
        btable = str(baseline["table"])
        c.table(btable, f"{bkey}.table")
        bcol = c.column(btable, str(baseline["field"]), f"{bkey}.field", kind="number")
        bchosen, _ = pick_records(
            c, bkey, table=btable, visit=int(baseline["visit"]), choose=choose,
            visit_field=baseline.get("visit_field"), date_field=baseline.get("date_field"),
        )  # fmt: skip
        before = _numeric(take(bcol, bchosen))
        tables.append(btable)
    else:
        c.column("participants", str(baseline["field"]), f"{bkey}.field", kind="number")
        before = _numeric(c.participants[str(baseline["field"])])
    out = pd.Series(after - before, dtype=np.float64)
    counts = {
        "missing": int(out.isna().sum()),
        "baseline_missing": int(np.isnan(before).sum()),
        "duplicate_records": dup,
    }
    return Derived({"": out}, counts, tuple(dict.fromkeys(tables)))


def score(
    c: Cohort,
    key: str,
    *,
    table: str,
    items: Sequence[str],
    visit: int,
    method: str = "sum",
    reverse: Mapping[str, Any] | None = None,
    prorate: Mapping[str, Any] | None = None,
    choose: str = "latest",
    visit_field: str | None = None,
    date_field: str | None = None,
) -> Derived:
    """A questionnaire score from the record at ``visit``.

    Items listed in ``reverse = {items, min, max}`` are scored ``min + max - value``.
    ``method = "sum"`` adds the items, ``"mean"`` averages the answered ones. More than
    ``prorate.max_missing`` items unanswered (0 without ``prorate``), or no record: NA.
    With prorating, a sum is the mean of the answered items times the number of items.
    """
    c.table(table, f"{key}.table")
    values = np.empty((c.n, len(items)), dtype=np.float64)
    chosen, dup = pick_records(
        c, key, table=table, visit=visit, choose=choose,
        visit_field=visit_field, date_field=date_field,
    )  # fmt: skip
    flip = set(reverse["items"]) if reverse else set()
    for j, item in enumerate(items):
        col = c.column(table, item, f"{key}.items[{j}]", kind="number")
        v = _numeric(take(col, chosen))
        if item in flip:
            assert reverse is not None
            v = float(reverse["min"]) + float(reverse["max"]) - v
        values[:, j] = v
    n_missing = np.isnan(values).sum(axis=1)
    allowed = int(prorate["max_missing"]) if prorate else 0
    answered = len(items) - n_missing
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(values, axis=1) / answered
    total = mean * len(items) if prorate else np.nansum(values, axis=1)
    result = mean if method == "mean" else total
    bad = (chosen < 0) | (n_missing > allowed) | (answered == 0)
    out = pd.Series(np.where(bad, np.nan, result), dtype=np.float64)
    counts = {
        "missing": int(out.isna().sum()),
        "too_many_items_missing": int(((chosen >= 0) & bad).sum()),
        "prorated": int(((chosen >= 0) & ~bad & (n_missing > 0)).sum()),
        "duplicate_records": dup,
    }
    return Derived({"": out}, counts, (table,))
