"""The analysis dataset: from a data freeze and a plan's derivations, one row per
participant.

Columns, in order:

==========================  ==================================================
column                      meaning
==========================  ==================================================
the participants columns    as frozen (participant_id, cluster_id, arm, the
                            stratum column, baseline fields, consent_date, ...),
                            without the provenance columns
trust                       the trust of the recruiting cluster (clusters table),
                            else the trust that sent the participant record
window_end                  consent + the default window's months (day of month
                            clipped to a shorter month's end), or the data
                            cut-off if earlier
followup_days               ``window_end - consent`` in days
window_end_<M>m,            the same for each other window a derivation uses
followup_days_<M>m
each derivation's column(s) the plan's ``[variables]`` then ``[outcomes]``, in
                            plan order (see :mod:`odtrial.data.derivations`);
                            a time to event gives ``<id>_days``, ``<id>_event``
==========================  ==================================================

The default window is ``window_months`` if given, else the plan's ``[derivation]
window_months``, else the trial's follow-up (freeze manifest ``trial.follow_up_months``).
``df.attrs`` records the parameters and counts (also written to ``derivation.json``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odtrial.data.derivations import WINDOWED, column_names, derive_columns
from odtrial.data.derive_context import PROVENANCE, Cohort
from odtrial.data.derive_events import from_days, to_days
from odtrial.data.medication_dictionary import MedicationDictionary
from odtrial.errors import DeriveError
from odtrial.plan.model import Derivation, Plan
from odtrial.plan.schema import DERIVATION_PARAMS

__all__ = [
    "derivation_specs",
    "derive",
    "followup_column",
    "window_of",
    "write_analysis_dataset",
]

Derivations = Plan | str | os.PathLike[str] | Mapping[str, Mapping[str, Any]] | Sequence[Derivation]


@dataclass(frozen=True)
class _Source:
    tables: Mapping[str, pd.DataFrame]
    manifest: Mapping[str, Any] | None
    dictionary: MedicationDictionary | None


def derive(
    freeze: str | os.PathLike[str] | Any,
    derivations: Derivations | None = None,
    *,
    window_months: int | None = None,
    data_cutoff: str | pd.Timestamp | Any | None = None,
    out: str | os.PathLike[str] | None = None,
    dictionary: MedicationDictionary | None = None,
) -> pd.DataFrame:
    """Derive the analysis dataset (one row per participant) from a freeze.

    Parameters
    ----------
    freeze
        A freeze folder (read with :func:`odtrial.data.freeze.read_freeze`), an
        object with ``.tables`` and ``.manifest`` (a ``Freeze``), or a mapping
        of table name to DataFrame (frozen columns and dtypes; ``participants``
        is required, ``clusters`` gives each participant's trust).
    derivations
        What to derive: a plan (a :class:`~odtrial.plan.Plan` or its file: its
        ``[variables]`` and ``[outcomes]``), a mapping of column id to a derivation
        table as a plan writes it (``{"kind": "value_at_visit", "table": ...}``), or
        :class:`~odtrial.plan.model.Derivation` objects. None: the participants and
        window columns only.
    window_months
        The default outcome window in calendar months from consent (see the module
        notes for its default).
    data_cutoff
        Date after which no data were collected; windows are clipped to it.
        Required for a plain mapping; for a freeze it defaults to the
        manifest's ``trial.data_cutoff`` and may only move earlier.
    out
        Folder to write ``analysis_dataset.parquet``, ``analysis_dataset.csv``
        and ``derivation.json`` into (each written to a temporary file, then
        renamed).
    dictionary
        Medication dictionary classifying prescriptions (default: the freeze's,
        else the shipped one).

    Returns
    -------
    pandas.DataFrame
        The columns of the module notes; parameters and counts in ``.attrs``.

    Raises
    ------
    DeriveError
        Bad parameters; a table or field a derivation names that the freeze lacks
        (naming the plan key); missing or duplicated participants, consent dates
        missing or after the cut-off.
    """
    source = _resolve_source(freeze, dictionary)
    specs, plan_window = derivation_specs(derivations)
    manifest = source.manifest or {}
    trial = manifest.get("trial") or {}
    default = _resolve_window(
        window_months if window_months is not None else plan_window,
        trial.get("follow_up_months"),
    )
    cutoff = _resolve_cutoff(source.manifest, data_cutoff)
    cohort, df = _cohort(source, cutoff, default)
    windows = sorted({window_of(d, default) for d in specs if d.kind in WINDOWED} - {default})
    for m in windows:
        w = cohort.window(m)
        df[f"window_end_{m}m"] = from_days(w.end, "us")
        df[followup_column(m, default)] = w.followup_days
    _check_names(specs, df.columns)
    columns, counts = derive_columns(cohort, specs)
    for name, col in columns.items():
        df[name] = col.to_numpy() if col.dtype == np.float64 else col.array
    w = cohort.window(default)
    df.attrs = {
        "window_months": default,
        "data_cutoff": cutoff.date().isoformat(),
        "counts": {
            "participants": cohort.n,
            "window_clipped_by_cutoff": w.clipped,
            "zero_followup": int((w.followup_days == 0).sum()),
            "derivations": counts,
        },
        "derivations": {d.id: _described(d, default, cohort) for d in specs},
    }
    if out is not None:
        write_analysis_dataset(df, out)
    return df


# -- derivations --------------------------------------------------------------


def derivation_specs(derivations: Derivations | None) -> tuple[tuple[Derivation, ...], int | None]:
    """The derivations asked for, and the plan's default window if a plan gave them."""
    if derivations is None:
        return (), None
    if isinstance(derivations, str | os.PathLike):
        from odtrial.plan import load_plan

        derivations = load_plan(Path(derivations))
    if isinstance(derivations, Plan):
        return derivations.derivations, derivations.window_months
    if isinstance(derivations, Mapping):
        return tuple(_from_table(str(k), v) for k, v in derivations.items()), None
    specs = tuple(derivations)
    bad = next((d for d in specs if not isinstance(d, Derivation)), None)
    if bad is not None:
        raise DeriveError(
            "derivations must be a plan, a mapping of id to derivation table or Derivation "
            f"objects, got {type(bad).__name__}"
        )
    return specs, None


def _from_table(oid: str, table: Any) -> Derivation:
    """A derivation table as a plan writes it, checked against the plan schema."""
    from odtrial.plan.schema import DERIVATION, Errors

    key = f"derivations.{oid}"
    errs = Errors()
    if DERIVATION.check(table, key, errs, {}):
        from odtrial.plan.schema import check_derivation

        check_derivation(table, key, errs)
    if errs.lines:
        more = f" (and {len(errs.lines) - 1} more)" if len(errs.lines) > 1 else ""
        raise DeriveError(errs.lines[0] + more)
    return Derivation(oid, table["kind"], {k: v for k, v in table.items() if k != "kind"}, key)


def window_of(d: Derivation, default: int) -> int:
    """The window (months) a derivation uses."""
    return default if d.window_months is None else d.window_months


def followup_column(months: int, default: int) -> str:
    """The dataset column of the follow-up days of a ``months`` window."""
    return "followup_days" if months == default else f"followup_days_{months}m"


def _described(d: Derivation, default: int, cohort: Cohort) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": d.kind, "key": d.key, **d.params}
    if "visit_field" in DERIVATION_PARAMS[d.kind]:  # as used: given, else the trial's
        table = str(d.params["table"])
        for what in ("visit", "date"):
            used = cohort.declared(table, what, d.params.get(f"{what}_field"))
            if used is not None:
                out[f"{what}_field"] = used
    if d.kind in WINDOWED:
        out["window_months"] = window_of(d, default)
    return out


def _check_names(specs: Sequence[Derivation], leading: pd.Index) -> None:
    seen: dict[str, str] = {}
    for d in specs:
        for name in column_names(d):
            if name in leading:
                raise DeriveError(
                    f"key {d.key!r}: the column {name!r} is already a column of the "
                    "analysis dataset (a participants field or a window column); rename it"
                )
            if name in seen:
                raise DeriveError(
                    f"key {d.key!r}: the column {name!r} is also made by {seen[name]!r}"
                )
            seen[name] = d.key


# -- inputs -------------------------------------------------------------------


def _resolve_source(freeze: Any, dictionary: MedicationDictionary | None) -> _Source:
    if isinstance(freeze, str | os.PathLike):
        from odtrial.data.freeze import read_freeze

        freeze = read_freeze(Path(freeze))
    if hasattr(freeze, "tables") and hasattr(freeze, "manifest"):
        if dictionary is None and callable(getattr(freeze, "medication", None)):
            dictionary = freeze.medication()
        return _Source(freeze.tables, freeze.manifest, dictionary)
    if isinstance(freeze, Mapping):
        return _Source(freeze, None, dictionary)
    raise DeriveError(
        f"freeze must be a freeze folder, a Freeze or a mapping of tables, got {type(freeze).__name__}"
    )


def _resolve_window(given: Any, trial_default: Any) -> int:
    months = given if given is not None else trial_default
    if months is None:
        raise DeriveError(
            "window_months is required when neither the plan ([derivation] window_months) "
            "nor the freeze manifest (trial.follow_up_months) gives it"
        )
    if isinstance(months, bool) or not isinstance(months, int | np.integer) or months <= 0:
        raise DeriveError(
            f"window_months must be a positive whole number of months, got {months!r}"
        )
    return int(months)


def _timestamp(value: Any, what: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DeriveError(f"{what} is not a date: {value!r}") from None
    if ts is pd.NaT:
        raise DeriveError(f"{what} is missing")
    return ts.normalize()


def _resolve_cutoff(manifest: Mapping[str, Any] | None, data_cutoff: Any) -> pd.Timestamp:
    frozen = None
    if manifest is not None:
        raw = (manifest.get("trial") or {}).get("data_cutoff")
        if raw is not None:
            frozen = _timestamp(raw, "manifest trial.data_cutoff")
    if data_cutoff is None:
        if frozen is None:
            raise DeriveError(
                "data_cutoff is required when the tables come without a manifest giving trial.data_cutoff"
            )
        return frozen
    cutoff = _timestamp(data_cutoff, "data_cutoff")
    if frozen is not None and cutoff > frozen:
        raise DeriveError(
            f"data_cutoff {cutoff.date()} is after the freeze's cut-off {frozen.date()}: no data exist past it"
        )
    return cutoff


def _participants(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    if "participants" not in tables:
        raise DeriveError(f"table 'participants' is missing (have: {', '.join(sorted(tables))})")
    parts = tables["participants"]
    absent = [c for c in ("participant_id", "consent_date") if c not in parts.columns]
    if absent:
        raise DeriveError(f"table 'participants' lacks column(s) {', '.join(absent)}")
    if parts["consent_date"].dtype.kind != "M":
        raise DeriveError(
            f"participants.consent_date must be datetime64, got {parts['consent_date'].dtype}"
        )
    for c in ("participant_id", "consent_date"):
        n_missing = int(parts[c].isna().sum())
        if n_missing:
            raise DeriveError(f"participants.{c} has {n_missing} missing value(s); it is required")
    dup = parts["participant_id"].duplicated()
    if dup.any():
        first = parts["participant_id"][dup].iloc[0]
        raise DeriveError(
            f"participants has {int(dup.sum())} duplicated participant_id(s), e.g. {first}"
        )
    return parts.sort_values("participant_id", kind="stable").reset_index(drop=True)


def _cohort(source: _Source, cutoff: pd.Timestamp, default: int) -> tuple[Cohort, pd.DataFrame]:
    """The cohort, and the dataset's leading columns (participants, trust, window)."""
    parts = _participants(source.tables)
    ids = pd.Index(parts["participant_id"].astype("string"))
    consent, _ = to_days(parts["consent_date"])
    cutoff_day = int(to_days(np.array([cutoff.to_datetime64()]))[0][0])
    late = consent > cutoff_day
    if late.any():
        pid = ids[int(np.flatnonzero(late)[0])]
        raise DeriveError(
            f"{int(late.sum())} participant(s) consented after the data cut-off {cutoff.date()}, e.g. {pid}"
        )
    info = (source.manifest or {}).get("tables") or {}
    # typed text that may name people stays in the freeze, out of the analysis dataset
    parts_info = info.get("participants") if isinstance(info, Mapping) else None
    free_text = set(parts_info.get("free_text", ())) if isinstance(parts_info, Mapping) else set()
    df = pd.DataFrame(index=pd.RangeIndex(len(parts)))
    for c in parts.columns:
        if c not in PROVENANCE and c not in free_text:
            df[c] = _normalised(parts[c])
    df["trust"] = _trust(parts, source.tables.get("clusters"))
    cohort = Cohort(
        ids=ids,
        participants=parts,
        consent=consent,
        trust=np.asarray(df["trust"].astype(object).where(df["trust"].notna(), None)),
        cutoff_day=cutoff_day,
        tables=source.tables,
        table_info=info if isinstance(info, Mapping) else {},
        default_window=default,
        dictionary=source.dictionary,
    )
    w = cohort.window(default)
    df["window_end"] = from_days(w.end, "us")
    df["followup_days"] = w.followup_days
    return cohort, df


def _normalised(col: pd.Series) -> pd.Series:
    """Fixed dtypes whatever the input's flavour: text as "string", dates in us."""
    if col.dtype.kind == "M":
        return col.astype("datetime64[us]")
    if pd.api.types.is_string_dtype(col) or col.dtype == object:
        return col.astype("string")
    return col.reset_index(drop=True)


def _trust(parts: pd.DataFrame, clusters: pd.DataFrame | None) -> pd.Series:
    """Trust of the recruiting cluster; the sending trust where the cluster is unknown."""
    trust = pd.Series(pd.NA, index=parts.index, dtype="string")
    if clusters is not None and {"cluster_id", "trust"} <= set(clusters.columns):
        if "cluster_id" in parts.columns:
            lookup = clusters.drop_duplicates("cluster_id").set_index("cluster_id")["trust"]
            trust = parts["cluster_id"].map(lookup).astype("string")
    if "trust" in parts.columns:
        trust = trust.fillna(parts["trust"].astype("string"))
    if trust.isna().all() and len(trust):
        raise DeriveError(
            "no trust for the participants: give a clusters table or a participants.trust column"
        )
    return trust


# -- output -------------------------------------------------------------------


def write_analysis_dataset(df: pd.DataFrame, out: str | os.PathLike[str]) -> Path:
    """Write ``analysis_dataset.parquet``, ``analysis_dataset.csv`` and
    ``derivation.json`` into ``out``; each file appears whole or not at all.

    Bytes are deterministic: no timestamps, fixed column order, dates as
    ISO days, ``\\n`` line ends.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    from odtrial import __version__

    meta = {
        "package_version": __version__,
        "parameters": {k: df.attrs[k] for k in ("window_months", "data_cutoff")},
        "derivations": df.attrs.get("derivations", {}),
        "counts": df.attrs.get("counts", {}),
        "columns": list(df.columns),
        "rows": len(df),
    }
    targets = {
        "analysis_dataset.parquet": lambda p: df.to_parquet(p, index=False, engine="pyarrow"),
        "analysis_dataset.csv": lambda p: df.to_csv(
            p, index=False, lineterminator="\n", date_format="%Y-%m-%d"
        ),
        "derivation.json": lambda p: Path(p).write_text(
            json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        ),
    }
    temps = [(folder / f".{name}.tmp-{os.getpid()}", folder / name) for name in targets]
    try:
        for (tmp, _), write in zip(temps, targets.values(), strict=True):
            write(tmp)
        # derivation.json is renamed last: its presence marks a complete set.
        for tmp, final in temps:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
    return folder
