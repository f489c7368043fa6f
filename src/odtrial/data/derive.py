"""Outcome derivation: from a data freeze to the analysis dataset.

One row per accepted participant (sorted by ``participant_id``) with the
randomisation and baseline fields and the outcomes over a follow-up window
of ``window_months`` calendar months from consent, clipped to the data
cut-off:

==========================  ==================================================
column                      meaning
==========================  ==================================================
participant_id, arm,        as frozen; ``trust`` is the trust of the recruiting
cluster_id, catchment,      cluster (clusters table), else the trust that sent
trust                       the participant record
age_at_consent, sex,        baseline covariates, as frozen
ethnicity, diagnosis,
baseline_work_study,
consent_date
window_end                  consent + ``window_months`` calendar months (day of
                            month clipped to a shorter month's end), or the
                            data cut-off if earlier
followup_days               ``window_end - consent`` in days
work_study_<M>m             work/study at the M-month assessment, one column
                            per visit of the trial's ``[visits]`` schedule
                            (nullable boolean; NA = assessment missing, i.e.
                            lost to follow-up). They do not depend on the
                            window. If a visit has several accepted records,
                            the latest-dated one is used (counted in attrs).
followup_<L>m_observed      the assessment of the last visit L exists
any_admission,              inpatient spells (stays merged where they overlap
n_admissions                or touch) *starting* in ``[consent, window_end]``:
                            an admission on the consent day counts; a stay
                            already under way at consent does not (it is the
                            index episode), nor does a stay that continues it
                            without a night at home
bed_days                    nights in hospital within ``[consent, window_end)``
                            (midnight count: the admission day counts, the
                            discharge day does not, a same-day stay is 0 bed
                            days but is still an admission); overlapping
                            stays counted once; a stay with no discharge date
                            runs to the window end; at most ``followup_days``
any_antipsychotic           an antipsychotic prescription with days in the
                            window (see :mod:`odtrial.data.derive_medication`)
cpz_mean_daily_dose         time-weighted mean daily dose, mg CPZ equivalents
                            by ``cpz_method``; 0 without antipsychotics; NaN
                            if an antipsychotic the method does not cover was
                            taken in the window, or ``followup_days`` is 0
relapse_event,              first admission spell start or crisis referral in
relapse_days                ``[consent, window_end]``: days from consent to it
                            (0 = on the consent day); without one, censored:
                            ``relapse_days = followup_days``, event False
==========================  ==================================================

The day conventions are those of :mod:`odtrial.data.derive_events`.
``df.attrs`` records the parameters and counts (also written to
``derivation.json``).
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

from odtrial.data.derive_events import (
    add_months,
    first_day,
    from_days,
    in_window,
    merge_stays,
    participant_index,
    spell_bed_days,
    time_to_first_event,
    to_days,
)
from odtrial.data.derive_medication import medication_exposure
from odtrial.data.drugs import CPZ_METHODS, CpzMethod
from odtrial.data.medication_dictionary import MedicationDictionary
from odtrial.errors import DeriveError

__all__ = ["derive", "output_columns", "write_analysis_dataset"]

BASELINE = (
    "age_at_consent",
    "sex",
    "ethnicity",
    "diagnosis",
    "baseline_work_study",
    "consent_date",
)
_BASELINE_DTYPES = {
    "age_at_consent": "Int64",
    "sex": "string",
    "ethnicity": "string",
    "diagnosis": "string",
    "baseline_work_study": "boolean",
    "consent_date": "datetime64[us]",
}
_LEADING: tuple[str, ...] = (
    "participant_id",
    "arm",
    "cluster_id",
    "catchment",
    "trust",
    *BASELINE,
    "window_end",
    "followup_days",
)
_TRAILING: tuple[str, ...] = (
    "any_admission",
    "n_admissions",
    "bed_days",
    "any_antipsychotic",
    "cpz_mean_daily_dose",
    "relapse_event",
    "relapse_days",
)

# Columns derivation reads; the ones that must never be missing are listed too.
_NEEDED: dict[str, tuple[str, ...]] = {
    "participants": ("participant_id", "cluster_id", "catchment", "arm", *BASELINE),
    "followup": ("participant_id", "visit_month", "assessment_date", "work_study"),
    "admissions": ("participant_id", "admission_date", "discharge_date"),
    "crisis_referrals": ("participant_id", "referral_date"),
    "prescriptions": ("participant_id", "drug", "daily_dose_mg", "start_date", "end_date"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "participants": ("participant_id", "consent_date"),
    "followup": ("participant_id", "visit_month", "work_study"),
    "admissions": ("participant_id", "admission_date"),
    "crisis_referrals": ("participant_id", "referral_date"),
    "prescriptions": ("participant_id", "drug", "daily_dose_mg", "start_date"),
}
_DATES: dict[str, tuple[str, ...]] = {
    "participants": ("consent_date",),
    "followup": ("assessment_date",),
    "admissions": ("admission_date", "discharge_date"),
    "crisis_referrals": ("referral_date",),
    "prescriptions": ("start_date", "end_date"),
}


def output_columns(visit_months: Sequence[int]) -> tuple[str, ...]:
    """The analysis dataset's columns for a visit schedule (months, ascending)."""
    months = sorted(int(m) for m in visit_months)
    return (
        *_LEADING,
        *(f"work_study_{m}m" for m in months),
        f"followup_{months[-1]}m_observed",
        *_TRAILING,
    )


@dataclass(frozen=True)
class _Source:
    tables: Mapping[str, pd.DataFrame]
    manifest: Mapping[str, Any] | None


def derive(
    freeze: str | os.PathLike[str] | Any,
    *,
    window_months: int = 24,
    cpz_method: CpzMethod | str = "woods2003",
    data_cutoff: str | pd.Timestamp | Any | None = None,
    out: str | os.PathLike[str] | None = None,
    dictionary: MedicationDictionary | None = None,
    visit_months: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Derive the analysis dataset (one row per participant) from a freeze.

    Parameters
    ----------
    freeze
        A freeze folder (read with :func:`odtrial.data.freeze.read_freeze`), an
        object with ``.tables`` and ``.manifest`` (a ``Freeze``), or a mapping
        of table name to DataFrame (frozen columns and dtypes; ``clusters`` is
        optional, the other five tables are required).
    window_months
        Length of the outcome window in calendar months from consent.
    cpz_method
        Chlorpromazine-equivalence method, one of ``CPZ_METHODS``.
    data_cutoff
        Date after which no data were collected; windows are clipped to it.
        Required for a plain mapping; for a freeze it defaults to the
        manifest's ``trial.data_cutoff`` and may only move earlier.
    out
        Folder to write ``analysis_dataset.parquet``, ``analysis_dataset.csv``
        and ``derivation.json`` into (each written to a temporary file, then
        renamed).
    dictionary
        Medication dictionary classifying the prescriptions (default: the
        shipped one); a trial's own is :attr:`odtrial.trial.Trial.medication`.
    visit_months
        The visit schedule's months (one ``work_study_<M>m`` column each).
        Required for a plain mapping; for a freeze it defaults to the
        manifest's ``trial.visits`` (recorded by ingest from the trial).

    Returns
    -------
    pandas.DataFrame
        Columns :func:`output_columns` (see the module docstring); parameters
        and counts in ``.attrs``.

    Raises
    ------
    DeriveError
        Bad parameters, missing tables or columns, wrong dtypes, missing
        required values, duplicated participants, or consent after the
        cut-off.
    """
    _check_parameters(window_months, cpz_method)
    source = _resolve_source(freeze)
    cutoff = _resolve_cutoff(source.manifest, data_cutoff)
    months = _resolve_visits(source.manifest, visit_months)
    tables = _checked_tables(source.tables)
    method: CpzMethod = "woods2003" if cpz_method == "woods2003" else "leucht2015"
    df, counts = _derive_tables(
        tables,
        window_months=int(window_months),
        cpz_method=method,
        cutoff=cutoff,
        dictionary=dictionary,
        visit_months=months,
    )
    df.attrs = {
        "window_months": int(window_months),
        "cpz_method": str(cpz_method),
        "data_cutoff": cutoff.date().isoformat(),
        "counts": counts,
    }
    if out is not None:
        write_analysis_dataset(df, out)
    return df


# -- inputs -------------------------------------------------------------------


def _check_parameters(window_months: object, cpz_method: object) -> None:
    if (
        isinstance(window_months, bool)
        or not isinstance(window_months, int | np.integer)
        or window_months <= 0
    ):
        raise DeriveError(
            f"window_months must be a positive whole number of months, got {window_months!r}"
        )
    if cpz_method not in CPZ_METHODS:
        raise DeriveError(f"cpz_method must be one of {', '.join(CPZ_METHODS)}, got {cpz_method!r}")


def _resolve_source(freeze: Any) -> _Source:
    if isinstance(freeze, str | os.PathLike):
        from odtrial.data.freeze import read_freeze

        fr = read_freeze(Path(freeze))
        return _Source(fr.tables, fr.manifest)
    if hasattr(freeze, "tables") and hasattr(freeze, "manifest"):
        return _Source(freeze.tables, freeze.manifest)
    if isinstance(freeze, Mapping):
        return _Source(freeze, None)
    raise DeriveError(
        f"freeze must be a freeze folder, a Freeze or a mapping of tables, got {type(freeze).__name__}"
    )


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


def _resolve_visits(
    manifest: Mapping[str, Any] | None, visit_months: Sequence[int] | None
) -> tuple[int, ...]:
    """The visit months: as given, else the freeze manifest's ``trial.visits``."""
    if visit_months is None and manifest is not None:
        visits = (manifest.get("trial") or {}).get("visits")
        if isinstance(visits, list):
            try:
                visit_months = [v["month"] for v in visits]
            except (TypeError, KeyError):
                raise DeriveError(f"manifest trial.visits is malformed: {visits!r}") from None
    if visit_months is None:
        raise DeriveError(
            "visit_months is required when the tables come without a manifest giving trial.visits"
        )
    months = list(visit_months)
    if (
        not months
        or any(isinstance(m, bool) or not isinstance(m, int | np.integer) or m <= 0 for m in months)
        or len(set(months)) != len(months)
    ):
        raise DeriveError(
            f"visit_months must be distinct positive whole numbers of months, got {visit_months!r}"
        )
    return tuple(sorted(int(m) for m in months))


def _checked_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for name, cols in _NEEDED.items():
        if name not in tables:
            raise DeriveError(f"table {name!r} is missing (have: {', '.join(sorted(tables))})")
        t = tables[name]
        absent = [c for c in cols if c not in t.columns]
        if absent:
            raise DeriveError(f"table {name!r} lacks column(s) {', '.join(absent)}")
        for c in _DATES[name]:
            if t[c].dtype.kind != "M":
                raise DeriveError(f"{name}.{c} must be datetime64, got {t[c].dtype}")
        for c in _REQUIRED[name]:
            n_missing = int(t[c].isna().sum())
            if n_missing:
                raise DeriveError(f"{name}.{c} has {n_missing} missing value(s); it is required")
        out[name] = t
    dup = tables["participants"]["participant_id"].duplicated()
    if dup.any():
        first = tables["participants"]["participant_id"][dup].iloc[0]
        raise DeriveError(
            f"participants has {int(dup.sum())} duplicated participant_id(s), e.g. {first}"
        )
    if "clusters" in tables:
        out["clusters"] = tables["clusters"]
    return out


# -- derivation ---------------------------------------------------------------


def _derive_tables(
    tables: dict[str, pd.DataFrame],
    *,
    window_months: int,
    cpz_method: CpzMethod,
    cutoff: pd.Timestamp,
    visit_months: tuple[int, ...],
    dictionary: MedicationDictionary | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    parts = tables["participants"].sort_values("participant_id", kind="stable")
    parts = parts.reset_index(drop=True)
    ids = pd.Index(parts["participant_id"].astype("string"))
    n = len(parts)
    counts: dict[str, Any] = {"participants": n}

    consent, _ = to_days(parts["consent_date"])
    cutoff_day = int(to_days(np.array([cutoff.to_datetime64()]))[0][0])
    late = consent > cutoff_day
    if late.any():
        pid = ids[int(np.flatnonzero(late)[0])]
        raise DeriveError(
            f"{int(late.sum())} participant(s) consented after the data cut-off {cutoff.date()}, e.g. {pid}"
        )
    full_end = add_months(consent, window_months)
    window_end = np.minimum(full_end, cutoff_day)
    followup_days = window_end - consent
    counts["window_clipped_by_cutoff"] = int((full_end > cutoff_day).sum())
    counts["zero_followup"] = int((followup_days == 0).sum())

    df = pd.DataFrame({"participant_id": ids.to_numpy()}, index=pd.RangeIndex(n))
    df["participant_id"] = df["participant_id"].astype("string")
    # Fixed output dtypes, whatever the input's string/date flavours.
    for c in ("arm", "cluster_id", "catchment"):
        df[c] = parts[c].astype("string")
    df["trust"] = _trust(parts, tables.get("clusters"))
    for c in BASELINE:
        # pandas_dtype: the stubs type astype's string aliases as literals only.
        df[c] = parts[c].astype(pd.api.types.pandas_dtype(_BASELINE_DTYPES[c]))
    df["window_end"] = from_days(window_end, "us")
    df["followup_days"] = followup_days.astype(np.int64)

    unknown: dict[str, int] = {}

    # Work/study at the scheduled assessments.
    fu = tables["followup"]
    fpidx = participant_index(fu["participant_id"], ids)
    unknown["followup"] = int((fpidx < 0).sum())
    dup_visits = 0
    for month in visit_months:
        status, n_dup = _visit_status(fu, fpidx, month, n)
        df[f"work_study_{month}m"] = status
        dup_visits += n_dup
        counts[f"followup_{month}m_missing"] = int(status.isna().sum())
    counts["followup_duplicate_visits"] = dup_visits
    last = visit_months[-1]
    df[f"followup_{last}m_observed"] = df[f"work_study_{last}m"].notna().to_numpy(dtype=bool)

    # Admissions: spells, counts, bed days.
    adm = tables["admissions"]
    apidx = participant_index(adm["participant_id"], ids)
    keep = apidx >= 0
    unknown["admissions"] = int((~keep).sum())
    a_day, _ = to_days(adm["admission_date"])
    d_day, d_missing = to_days(adm["discharge_date"])
    apidx, a_day, d_day, d_missing = apidx[keep], a_day[keep], d_day[keep], d_missing[keep]
    # No discharge yet: in hospital up to the data cut-off (beyond any window end).
    d_day = np.where(d_missing, cutoff_day + 1, d_day)
    spells = merge_stays(apidx, a_day, d_day)
    starts_in = in_window(spells.start, spells.pidx, consent, window_end)
    n_adm = np.bincount(spells.pidx[starts_in], minlength=n).astype(np.int64)
    df["any_admission"] = n_adm > 0
    df["n_admissions"] = n_adm
    df["bed_days"] = spell_bed_days(spells, consent, window_end)
    counts["admissions_without_discharge"] = int(d_missing.sum())
    counts["spells_ongoing_at_consent"] = int(
        ((spells.start < consent[spells.pidx]) & (spells.end > consent[spells.pidx])).sum()
    )

    # Medication.
    rx = tables["prescriptions"]
    rpidx = participant_index(rx["participant_id"], ids)
    keep = rpidx >= 0
    unknown["prescriptions"] = int((~keep).sum())
    s_day, _ = to_days(rx["start_date"])
    e_day, e_missing = to_days(rx["end_date"])
    med = medication_exposure(
        rpidx[keep],
        rx["drug"][keep].astype("string"),
        rx["daily_dose_mg"].to_numpy(dtype=np.float64)[keep],
        s_day[keep],
        e_day[keep],
        e_missing[keep],
        consent,
        window_end,
        method=cpz_method,
        dictionary=dictionary,
    )
    df["any_antipsychotic"] = med.any_antipsychotic
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = med.cpz_dose_days / followup_days
    df["cpz_mean_daily_dose"] = np.where(med.cpz_uncovered | (followup_days == 0), np.nan, mean)
    counts["cpz_uncovered_participants"] = int(med.cpz_uncovered.sum())
    counts["cpz_uncovered_drugs"] = list(med.uncovered_drugs)
    counts["cpz_missing"] = int(df["cpz_mean_daily_dose"].isna().sum())
    counts["unknown_drug_rows"] = med.unknown_drug_rows
    counts["unknown_drug_participants_in_window"] = med.unknown_drug_participants
    counts["unknown_drugs"] = list(med.unknown_drugs)

    # Relapse: first admission spell start or crisis referral in the window.
    cr = tables["crisis_referrals"]
    cpidx = participant_index(cr["participant_id"], ids)
    keep = cpidx >= 0
    unknown["crisis_referrals"] = int((~keep).sum())
    r_day, _ = to_days(cr["referral_date"])
    cpidx, r_day = cpidx[keep], r_day[keep]
    r_in = in_window(r_day, cpidx, consent, window_end)
    ev_pidx = np.concatenate([spells.pidx[starts_in], cpidx[r_in]])
    ev_day = np.concatenate([spells.start[starts_in], r_day[r_in]])
    first, has = first_day(ev_pidx, ev_day, n)
    df["relapse_event"] = has
    df["relapse_days"] = time_to_first_event(first, has, consent, followup_days)
    first_adm, has_adm = first_day(spells.pidx[starts_in], spells.start[starts_in], n)
    by_admission = has_adm & (first_adm == first)
    counts["relapse_events"] = int(has.sum())
    counts["relapse_first_by_admission"] = int((has & by_admission).sum())
    counts["relapse_first_by_crisis_referral"] = int((has & ~by_admission).sum())

    counts["events_unknown_participant"] = unknown
    return df[list(output_columns(visit_months))], counts


def _trust(parts: pd.DataFrame, clusters: pd.DataFrame | None) -> pd.Series:
    """Trust of the recruiting cluster; the sending trust where the cluster is unknown."""
    trust = pd.Series(pd.NA, index=parts.index, dtype="string")
    if clusters is not None and {"cluster_id", "trust"} <= set(clusters.columns):
        lookup = clusters.drop_duplicates("cluster_id").set_index("cluster_id")["trust"]
        trust = parts["cluster_id"].map(lookup).astype("string")
    if "trust" in parts.columns:
        trust = trust.fillna(parts["trust"].astype("string"))
    if trust.isna().all() and len(trust):
        raise DeriveError(
            "no trust for the participants: give a clusters table or a participants.trust column"
        )
    return trust


def _visit_status(fu: pd.DataFrame, fpidx: np.ndarray, month: int, n: int) -> tuple[pd.Series, int]:
    """Work/study status at one visit (latest-dated record wins) and how many
    participants had more than one record for it."""
    sel = (fpidx >= 0) & (fu["visit_month"].to_numpy(dtype=np.int64, na_value=-1) == month)
    p = fpidx[sel]
    day, missing = to_days(fu["assessment_date"].to_numpy()[sel])
    day = np.where(missing, np.iinfo(np.int64).min + 1, day)
    value = fu["work_study"].to_numpy(dtype=bool, na_value=False)[sel]
    # Sort by participant then date (stable: table order breaks ties); keep the last.
    order = np.lexsort((np.arange(len(p)), day, p))
    p, value = p[order], value[order]
    last = np.ones(len(p), dtype=bool)
    last[:-1] = p[1:] != p[:-1]
    observed = np.zeros(n, dtype=bool)
    observed[p[last]] = True
    vals = np.zeros(n, dtype=bool)
    vals[p[last]] = value[last]
    out = pd.arrays.BooleanArray(vals, ~observed)
    return pd.Series(out, dtype="boolean"), int(len(p) - last.sum())


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
        "parameters": {k: df.attrs[k] for k in ("window_months", "cpz_method", "data_cutoff")},
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
