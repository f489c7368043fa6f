"""Run a statistical analysis plan over a data freeze and write every number.

:func:`analyse` loads and checks the plan (a ``final`` plan must be locked and
unchanged), derives the analysis dataset from the plan's ``[variables]`` and
``[outcomes]`` (:mod:`odtrial.data.derive`), fits each outcome's model as the SAP says, runs the
sensitivity analyses, tabulates baseline characteristics, missing data and
the CONSORT flow, and writes into ``out``:

``results.json``
    Every number the report shows (contract: ``odtrial.results/1``), with
    deterministic bytes: same freeze, plan and seed, same file. Its
    ``software`` block gives Python, odtrial and every declared dependency's
    version; its ``figures`` list (path, format, SHA-256) is filled in when
    the report's figures are drawn beside it (``odtrial run``), and stays
    empty after :func:`analyse` alone.
``analysis_dataset.csv``
    The analysis dataset as analysed: ``arm`` holds the *displayed* arm code and
    ``treat`` the indicator of the first displayed arm (the models' treatment
    term), so a direct fit on this file reproduces ``results.json``. In an open
    report the arms are pooled and ``treat`` is not written.
``tables/<name>.csv``
    One per table of the report.

Each file is written to a temporary name and renamed (``results.json`` last).
See :mod:`odtrial.analysis.outcomes` for the models and
:mod:`odtrial.analysis.blinding` for blinded and open reports.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pandas as pd

from odtrial._io import atomic_folder, check_output_target
from odtrial._words import count
from odtrial.analysis import baseline
from odtrial.analysis.blinding import (
    ArmView,
    arm_view,
    blinding_key,
    check_blind,
    resolve_report_type,
    scrub,
    trial_definition,
)
from odtrial.analysis.health_economics import check_cost_inputs, health_economics
from odtrial.analysis.multiple_imputation import imputation_outcome, multiple_imputation
from odtrial.analysis.outcomes import (
    CLUSTER,
    TREAT,
    OutcomeData,
    absolute_difference,
    coefficients,
    covariate_labels,
    effect_dict,
    fit_model,
    icc_dict,
    outcome_data,
    summary_by_arm,
)
from odtrial.analysis.results_io import csv_text, dumps, normalise, software_versions
from odtrial.analysis.sensitivity import AllocationDesign, RecordRef, run_sensitivity
from odtrial.data.freeze import MANIFEST, Freeze, read_freeze
from odtrial.errors import DeriveError, ModelError, OdtrialError, PlanError
from odtrial.plan import Plan, check_lock, load_plan
from odtrial.plan.model import Outcome
from odtrial.trial import ClusterVariable, Trial

SCHEMA: Final = "odtrial.results/1"
DATASET: Final = "analysis_dataset.csv"
DEFAULT_SEED: Final = 20250630
TABLES: Final = (
    "baseline_cluster",
    "baseline_individual",
    "outcomes",
    "sensitivity",
    "icc",
    "missing_data",
    "diagnostics",
)


def analyse(
    plan: str | Path | Plan,
    freeze: str | Path | Freeze,
    out: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    unblind: bool = False,
    report_type: str | None = None,
) -> dict[str, Any]:
    """Analyse a data freeze as the plan says; write ``results.json``, the dataset and tables.

    Parameters
    ----------
    plan
        SAP file or a loaded :class:`~odtrial.plan.Plan`.
    freeze
        Data freeze folder or a :class:`~odtrial.data.freeze.Freeze`.
    out
        Output folder, written whole: built beside ``out`` and renamed into
        place, replacing an earlier analysis folder (one holding a
        ``results.json``); any other non-empty folder is refused.
    seed
        Seed of the permutation test's constrained-space regeneration (the
        only random step); recorded in the results.
    unblind
        Show the real arms; refused unless the plan is ``final``.
    report_type
        ``"blinded"`` (default), ``"unblinded"`` (same as ``unblind=True``) or
        ``"open"`` (arms pooled, no comparative estimates).

    Returns
    -------
    dict
        The normalised content of ``results.json``.

    Raises
    ------
    PlanError
        Invalid plan, a final plan that is unlocked or changed since locking,
        unblinding a draft plan, or an outcome the dataset cannot supply.
    """
    # refuse a folder odtrial may not write, or one mixed with the freeze, before any work
    check_output_folder(out, freeze=None if isinstance(freeze, Freeze) else freeze)
    results, files = compute_analysis(
        plan, freeze, seed=seed, unblind=unblind, report_type=report_type
    )
    with output_folder(out) as tmp:
        write_files(tmp, files)
    return results


OUTPUT_KIND: Final = "an odtrial analysis folder"


def output_folder(
    out: str | Path, *, keep: tuple[str, ...] = (), expected: tuple[str, ...] = ()
) -> contextlib.AbstractContextManager[Path]:
    """An analysis output folder, written whole (see :func:`odtrial._io.atomic_folder`):
    only odtrial's files of an earlier analysis are replaced; a folder odtrial did
    not write is refused."""
    return atomic_folder(out, kind=OUTPUT_KIND, error=PlanError, keep=keep, expected=expected)


def check_output_folder(
    out: str | Path, *, freeze: str | Path | None = None, expected: tuple[str, ...] = ()
) -> None:
    """Refuse, before any work, an ``out`` that :func:`output_folder` would refuse, or
    one that is inside the ``freeze`` or holds it (the freeze has the real arms)."""
    check_output_target(out, kind=OUTPUT_KIND, error=PlanError, expected=expected)
    if freeze is not None:
        o, f = Path(out).resolve(), Path(freeze).resolve()
        if o == f or o in f.parents or f in o.parents:
            raise PlanError(
                f"the freeze {freeze} and the output folder {out} must be separate folders "
                "(neither inside the other): the freeze holds the real allocation"
            )


def compute_analysis(
    plan: str | Path | Plan,
    freeze: str | Path | Freeze,
    *,
    seed: int = DEFAULT_SEED,
    unblind: bool = False,
    report_type: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """:func:`analyse` without writing: the results and the output files' text by path."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PlanError(f"seed must be a non-negative integer, got {seed!r}")
    pl = plan if isinstance(plan, Plan) else load_plan(plan)
    check_lock(pl)
    costs = check_cost_inputs(pl)
    rtype = resolve_report_type(pl, unblind=unblind, report_type=report_type)
    fz = freeze if isinstance(freeze, Freeze) else read_freeze(freeze)
    trial = dict(fz.manifest.get("trial") or {})
    arms = tuple(str(a) for a in trial.get("arms", ()))
    if len(arms) != 2:
        raise PlanError(f"{fz.path}: the freeze manifest does not name the two trial arms")
    definition = trial_definition(pl)
    if definition is not None and definition.arms != arms:
        raise PlanError(
            f"{pl.trial_config}: trial.arms {list(definition.arms)} differ from the freeze's "
            f"arms {list(arms)} (plan.trial_config names another trial)"
        )
    view = arm_view(
        arms,
        rtype,
        key=blinding_key(pl, definition) if rtype == "blinded" else None,
        trial_name=str(trial.get("name", "")),
        labels=None if definition is None else definition.arm_labels,
    )

    ordered = sorted(pl.outcomes.values(), key=lambda o: o.role != "primary")
    derived = _derive(fz, pl)
    pdata = _prepare(derived, view, arms)
    clusters = _clusters(fz.tables["clusters"], view)
    primary = pl.primary
    described = derived.attrs["derivations"]

    labels = column_labels(pl, definition)
    outcome_rows = [_outcome(o, pdata, view, described[o.id], labels) for o in ordered]
    flip = view.report_type == "blinded" and view.display[arms[0]] != view.codes[0]
    record = _record(fz)
    strata, balance = allocation_variables(definition, record)
    allocation = (
        None
        if strata is None
        else AllocationDesign(strata.column, tuple(b.column for b in balance))
    )
    sens_rows = []
    for sens in pl.sensitivity:
        so = pl.outcomes[sens.outcome]
        sens_rows.append(
            run_sensitivity(
                sens,
                so,
                pdata,
                clusters=clusters,
                arms=(arms[0], arms[1]),
                flip=flip,
                seed=seed,
                record=record,
                allocation=allocation,
                labels=labels,
            )
        )
    if not view.comparative:
        sens_rows = [_open_sensitivity(r) for r in sens_rows]

    # before the economics add their columns to pdata, which the imputation must not see
    mi_outcome = imputation_outcome(pl)
    imputed = multiple_imputation(
        pdata,
        pl,
        arms,
        comparative=view.comparative,
        complete_case=next(
            (r["effect"] for r in outcome_rows if mi_outcome and r["id"] == mi_outcome.id), None
        ),
    )
    econ, econ_files = health_economics(
        pdata,
        pl,
        arms,
        view.codes,
        comparative=view.comparative,
        blinded=view.report_type == "blinded",
        tables=costs,
    )
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "title": _title(pl),
        "trial": {
            "name": trial.get("name", ""),
            "registration": pl.registration,
            "config_sha256": fz.manifest.get("config_sha256"),
        },
        "plan": {
            "title": pl.title,
            "short_title": pl.short_title,
            "version": pl.version,
            "date": pl.date.isoformat(),
            "status": pl.status,
            "sha256": pl.sha256,
            "file": pl.path.name if pl.path is not None else None,
            "sections": {k: dict(v) for k, v in sorted(pl.sections.items())},
        },
        "freeze": {
            "manifest_sha256": hashlib.sha256((fz.path / MANIFEST).read_bytes()).hexdigest(),
            "package_version": fz.manifest.get("package_version"),
            "data_cutoff": trial.get("data_cutoff"),
            "randomisation_log_head": (fz.manifest.get("randomisation") or {}).get("log_head"),
        },
        "design": dict(pl.design),
        "software": software_versions(),
        "seed": seed,
        "report_type": rtype,
        "arms": view.arms_json(),
        "derivation": {
            "window_months": derived.attrs["window_months"],
            "data_cutoff": derived.attrs["data_cutoff"],
            "counts": derived.attrs["counts"],
            "derivations": described,
            "dataset": DATASET,
        },
        "flow": _flow(pdata, clusters, primary, view, arms)
        | {"participant_records_held_back": _held_back(fz)},
        "baseline": {
            "cluster_level": baseline.cluster_table(
                clusters, pdata, view.codes, strata=strata, balance=balance
            ),
            "individual_level": baseline.individual_table(
                pdata, view.codes, variables=() if definition is None else definition.baseline
            ),
        },
        "outcomes": outcome_rows,
        "sensitivity": sens_rows,
        "missing_data": _missing(
            pdata,
            view.codes,
            missing_data_variables(pl, pdata.columns, window_months=derived.attrs["window_months"]),
            labels=labels,
        ),
        "multiple_imputation": imputed,
        "health_economics": econ,
        "tables": {name: f"tables/{name}.csv" for name in TABLES},
        "figures": [],  # listed once the report draws them (results_io.record_figures)
    }
    results = normalise(scrub(results, view.hidden_terms))
    results["title"] = results["title"][:1].upper() + results["title"][1:]
    files = {f"tables/{k}.csv": v for k, v in _tables(results).items()}
    files.update(econ_files)
    files[DATASET] = _dataset_csv(pdata, view)
    files["results.json"] = dumps(results)
    for name, text in files.items():
        check_blind(text, view.hidden_terms, name)
    return results, files


# -- data -----------------------------------------------------------------------


def _derive(fz: Freeze, pl: Plan) -> pd.DataFrame:
    """The analysis dataset of the plan's derivations (with the trial's dictionary, frozen
    at ingest); an error against the data names the plan file and key."""
    from odtrial.data.derive import derive

    try:
        return derive(fz, pl)
    except DeriveError as e:
        raise DeriveError(f"{pl.path or 'plan'}: {e}") from None


def _prepare(ds: pd.DataFrame, view: ArmView, arms: Sequence[str]) -> pd.DataFrame:
    """Displayed arm codes in ``arm``, the real one in ``arm_real``; ``treat`` = first
    displayed arm (intervention in an open report, used for diagnostics only)."""
    out = ds.copy()
    # the derivation's record stays with ``ds``: pandas deep-copies ``attrs`` into every
    # frame and column made from a frame, which was half the analysis's time
    out.attrs = {}
    out["arm_real"] = out["arm"].astype(str)
    out["arm"] = out["arm_real"].map(view.display)
    first_real = (
        arms[0]
        if not view.comparative
        else next(a for a, d in view.display.items() if d == view.codes[0])
    )
    out[TREAT] = (out["arm_real"] == first_real).astype("int64")
    return out


def _record(fz: Freeze) -> RecordRef | None:
    """The freeze's randomisation record (None for a freeze without one)."""
    rnd = fz.manifest.get("randomisation")
    if not rnd:
        return None
    return RecordRef(fz.path / str(rnd["folder"]), str(rnd["log_head"]))


def allocation_variables(
    definition: Trial | None, record: RecordRef | None
) -> tuple[ClusterVariable | None, tuple[ClusterVariable, ...]]:
    """The allocation's stratum and balance variables, labelled for the report.

    The columns are the randomisation record's logged parameters when the freeze
    has a record (the trial definition, if it declares them, must agree), else
    the trial definition's ``[randomisation] strata``/``balance``; labels come
    from the trial definition (a column without one is shown by its name).
    """
    strata = None if definition is None else definition.strata
    balance = () if definition is None else definition.balance
    if record is None:
        return strata, balance
    from odtrial.randomise.log import verify_allocation

    params = verify_allocation(record.folder, expect_head=record.log_head).parameters
    logged_strata, logged_balance = str(params["strata"]), [str(b) for b in params["balance"]]
    where = f"{definition.path}: randomisation" if definition is not None else ""
    if strata is not None and strata.column != logged_strata:
        raise PlanError(
            f"{where}.strata names {strata.column!r} but the randomisation record "
            f"stratified by {logged_strata!r}"
        )
    if balance and [b.column for b in balance] != logged_balance:
        raise PlanError(
            f"{where}.balance names {[b.column for b in balance]} but the randomisation "
            f"record balanced {logged_balance}"
        )
    return (
        strata or ClusterVariable(logged_strata, logged_strata),
        balance or tuple(ClusterVariable(b, b) for b in logged_balance),
    )


def _clusters(table: pd.DataFrame, view: ArmView) -> pd.DataFrame:
    cl = table.copy()
    cl["arm_real"] = cl["arm"].astype(str)
    cl["arm"] = cl["arm_real"].map(view.display)
    return cl.sort_values("cluster_id", kind="mergesort").reset_index(drop=True)


def _dataset_csv(ds: pd.DataFrame, view: ArmView) -> str:
    drop = ["arm_real"] + ([] if view.comparative else [TREAT])
    return ds.drop(columns=drop).to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%d")


# -- outcomes -----------------------------------------------------------------------


def _by_arm(frame: pd.DataFrame, codes: Sequence[str], what: str) -> dict[str, int]:
    out = {}
    for c in codes:
        sub = frame if c == "all" else frame[frame["arm"] == c]
        out[c] = len(sub) if what == "n" else int(sub[CLUSTER].nunique())
    return out


def column_labels(pl: Plan, definition: Trial | None) -> dict[str, str]:
    """What the report calls each analysis-dataset column: the plan's label of a derived
    variable or outcome, else the trial definition's label of a baseline variable, of
    the allocation's stratum or balance variable, or of a participants field."""
    out: dict[str, str] = {}
    if definition is not None:
        out |= {f.name: f.label for f in definition.participants.fields if f.label}
        out |= {v.column: v.label for v in definition.balance}
        if definition.strata is not None:
            out[definition.strata.column] = definition.strata.label
        out |= {v.column: v.label for v in definition.baseline}
    out |= {k: v.label for k, v in pl.variables.items()}
    return out | {k: o.label for k, o in pl.outcomes.items()}


def _outcome(
    o: Outcome,
    ds: pd.DataFrame,
    view: ArmView,
    derivation: Mapping[str, Any],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    od: OutcomeData = outcome_data(ds, o)
    spec = o.model
    row: dict[str, Any] = {
        "id": o.id,
        "label": o.label,
        "role": o.role,
        "type": o.type,
        "definition": o.definition,
        "population": o.population,
        "estimand": o.estimand,
        "derivation": dict(derivation),
        "model": {
            "kind": spec.kind,
            "family": spec.family or {"lmm": "gaussian", "cox": "cox"}.get(spec.kind),
            "formula": None,
            "cluster": CLUSTER,
            "df_method": None,
            "covariates": list(spec.covariates),
            "covariate_labels": covariate_labels(spec.covariates, labels),
            "options": dict(spec.options),
        },
        "n_analysed": _by_arm(od.frame, view.codes, "n"),
        "n_clusters": _by_arm(od.frame, view.codes, "clusters"),
        "exclusions": dict(od.exclusions),
        "summary_by_arm": summary_by_arm(od, o.type, view.codes),
        "effect": None,
        "absolute": None,
        "icc": None,
        "coefficients": [],
        "cluster_var": None,
        "theta": None,
        "diagnostics": None,
        "notes": [],
    }
    try:
        res = fit_model(od, o.type, spec)
    except ImportError as e:  # an engine not installed yet: say so, keep going
        row["notes"].append(f"model not fitted: {e}")
        return row
    except ModelError as e:
        row["notes"].append(f"model not estimable: {e}")
        return row
    row["model"]["formula"] = res.formula
    row["model"]["df_method"] = res.df_method
    if spec.kind == "glmm":  # the estimator used, also when the plan left it to the default
        row["model"]["options"].setdefault("estimation", res.extra.get("estimation", "ML"))
        if row["model"]["options"]["estimation"] == "ML" and "nagq" in res.extra:
            row["model"]["options"].setdefault("nagq", int(res.extra["nagq"]))  # nodes used
    if spec.kind in ("cox", "gee") and "cov_type" in res.extra:  # the sandwich used
        row["model"]["options"].setdefault("cov_type", str(res.extra["cov_type"]))
    row["diagnostics"] = res.diagnostics.to_dict()
    try:
        row["icc"] = icc_dict(od, o.type, spec.options.get("nagq"))
    except OdtrialError as e:
        row["notes"].append(f"ICC not estimable: {e}")
    if not view.comparative:
        row["notes"].append("open report: arms pooled, no comparative estimates")
        return row
    try:
        row["effect"] = effect_dict(res, o.type)
    except ModelError as e:  # e.g. a CI on 0 df: the fit is kept, the effect is not given
        row["notes"].append(f"model not estimable: {e}")
        return row
    try:
        row["absolute"] = absolute_difference(od, res, o.type)
    except OdtrialError as e:
        row["notes"].append(f"absolute difference not estimable: {e}")
    row["coefficients"] = coefficients(res)
    row["cluster_var"] = res.cluster_var
    row["theta"] = res.theta
    return row


def estimability_warnings(results: Mapping[str, Any]) -> list[str]:
    """One line per outcome whose main model was not estimable (what the command line
    prints as warnings; the report says the same in its tables). An outcome without
    any observed value is usually a configuration fault (a derivation that finds
    nothing, rows quarantined at ingest), so its line says where to look."""
    out = []
    for o in results.get("outcomes", []):
        why = next(
            (str(n).split(": ", 1)[1] for n in o.get("notes") or []
             if str(n).startswith("model not estimable: ")),
            None,
        )  # fmt: skip
        if why is None:
            continue
        line = f"{o.get('role', '')} outcome {o['id']} is not estimable: {why}".lstrip()
        if why.startswith("no observed values"):
            line += (
                "; check its derivation in the plan and the freeze's queries.csv "
                "(rows quarantined at ingest)"
            )
        out.append(line)
    return out


def _open_sensitivity(row: dict[str, Any]) -> dict[str, Any]:
    keep = {
        "id",
        "outcome",
        "label",
        "method",
        "options",
        "diagnostics",
        "n_analysed",
        "n_clusters",
    }
    out = {k: (v if k in keep else None) for k, v in row.items()}
    out["note"] = "open report: arms pooled, no comparative estimates"
    return out


# -- flow, missing data ---------------------------------------------------------------


def _flow(
    ds: pd.DataFrame, clusters: pd.DataFrame, primary: Outcome, view: ArmView, arms: Sequence[str]
) -> dict[str, Any]:
    from odtrial.analysis.outcomes import response_columns
    from odtrial.report.consort import flow_from_dataset

    col = response_columns(primary, ds.columns)[0]
    real = view.comparative is False
    d = ds.assign(arm=ds["arm_real"]) if real else ds
    c = clusters.assign(arm=clusters["arm_real"]) if real else clusters
    order = tuple(arms) if real else view.codes
    flow = flow_from_dataset(
        d, c, outcome=col, arm_labels=dict(zip(order, order, strict=True)), arm_order=order,
        outcome_label=primary.label,
    )  # fmt: skip
    rows: list[dict[str, Any]] = [
        {
            "arm": code,
            "randomised_clusters": a.randomised_clusters,
            "received_clusters": a.received_clusters,
            "recruited": a.recruited,
            "received": a.received,
            "lost_clusters": a.lost_clusters,
            "lost": a.lost,
            "analysed_clusters": a.analysed_clusters,
            "analysed": a.analysed,
            "cluster_sizes": list(a.cluster_sizes),
        }
        for code, a in zip(order, flow.arms, strict=True)
    ]
    if real:  # open report: pool the arms
        pooled: dict[str, Any] = {"arm": view.codes[0]}
        for k in rows[0]:
            if k == "cluster_sizes":
                pooled[k] = sorted(x for r in rows for x in r["cluster_sizes"])
            elif k != "arm":
                pooled[k] = sum(r[k] for r in rows)
        rows = [pooled]
    return {"clusters_randomised": flow.clusters_randomised, "outcome": primary.label, "arms": rows}


def _held_back(fz: Freeze) -> int:
    """Participant records quarantined at ingest that are no accepted participant's (a
    duplicate of an accepted record is not): the flow counts the accepted ones, so the
    report says how many more wait on queries. A pseudonym counts once; a record without
    one (its key unreadable) counts as one."""
    from odtrial.trial_tables import PARTICIPANTS

    held = fz.quarantine.get(PARTICIPANTS)
    if held is None or held.empty or "participant_id" not in held:
        return 0
    ids = held["participant_id"]
    known = set(fz.tables[PARTICIPANTS]["participant_id"].dropna())
    other = ids.dropna()
    return int(ids.isna().sum()) + len(set(other) - known)


def missing_data_variables(
    pl: Plan, columns: pd.Index, *, window_months: int
) -> tuple[tuple[str, str], ...]:
    """The (column, time point) pairs whose missingness the report tabulates.

    The plan's ``[missing_data] variables``; without them, the primary outcome's
    response at its time point: the derivation's visit, else its window
    (``window_months`` by default). A named column the dataset lacks is a PlanError.
    """
    from odtrial.analysis.outcomes import response_columns

    if not pl.missing_data:
        primary = pl.primary
        params = primary.derivation.params
        months = params.get("visit", params.get("window_months", window_months))
        return ((response_columns(primary, columns)[0], count(int(months), "month")),)
    for i, (col, _) in enumerate(pl.missing_data):
        if col not in columns:
            raise PlanError(
                f"{pl.path or 'plan'}: missing_data.variables[{i}].column {col!r} "
                "is not a column of the analysis dataset"
            )
    return pl.missing_data


def _missing(
    ds: pd.DataFrame,
    codes: Sequence[str],
    variables: Sequence[tuple[str, str]],
    *,
    labels: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Missing values by variable, time point and arm; ``label`` is the plan's label of
    the column (an outcome's or a variable's), else the column name."""
    rows = []
    for var, when in variables:
        for c in codes:
            sub = ds if c == "all" else ds[ds["arm"] == c]
            n, miss = len(sub), int(sub[var].isna().sum())
            rows.append(
                {"variable": var, "label": labels.get(var, var), "time_point": when, "arm": c,
                 "n": n, "missing": miss, "percent": 100 * miss / n if n else float("nan")}
            )  # fmt: skip
    return rows


# -- metadata -----------------------------------------------------------------------


def _title(pl: Plan) -> str:
    base = re.sub(r"^\s*statistical analysis plan\s*[:\-–]\s*", "", pl.title, flags=re.I).strip()
    if "cluster randomised" not in base.lower():
        base += ": a cluster randomised trial"
    return base


# -- tables -----------------------------------------------------------------------


def _fmt_effect(e: Mapping[str, Any] | None) -> dict[str, Any]:
    if not e:
        return dict.fromkeys(("measure", "estimate", "ci_lower", "ci_upper", "p_value", "df"))
    return {k: e.get(k) for k in ("measure", "estimate", "ci_lower", "ci_upper", "p_value", "df")}


def _tables(results: Mapping[str, Any]) -> dict[str, str]:
    codes = [a["code"] for a in results["arms"]]
    outcome_rows, icc_rows, diag_rows = [], [], []
    for o in results["outcomes"]:
        row: dict[str, Any] = {"outcome": o["id"], "label": o["label"], "role": o["role"]}
        for c in codes:
            row[f"n_{c}"] = o["n_analysed"].get(c)
            row[f"summary_{c}"] = o["summary_by_arm"].get(c, {}).get("display")
        row.update(_fmt_effect(o["effect"]))
        ab = o["absolute"] or {}
        row.update(
            {f"absolute_{k}": ab.get(k) for k in ("measure", "estimate", "ci_lower", "ci_upper")}
        )
        outcome_rows.append(row)
        ic = o["icc"] or {}
        icc_rows.append(
            {"outcome": o["id"], "label": o["label"],
             **{k: ic.get(k) for k in ("estimate", "ci_lower", "ci_upper", "scale", "method")}}
        )  # fmt: skip
        diag_rows.append(_diag_row(o["id"], o["model"]["kind"], o["diagnostics"]))
    sens_rows = []
    for s in results["sensitivity"]:
        sens_rows.append(
            {"id": s["id"], "outcome": s["outcome"], "label": s["label"], "method": s["method"],
             **_fmt_effect(s["effect"]), "p_value": s["p_value"], "note": s["note"]}
        )  # fmt: skip
        if s.get("diagnostics"):
            diag_rows.append(_diag_row(s["id"], s["method"], s["diagnostics"]))
    frames = {
        "baseline_cluster": pd.DataFrame(results["baseline"]["cluster_level"]),
        "baseline_individual": pd.DataFrame(results["baseline"]["individual_level"]),
        "outcomes": pd.DataFrame(outcome_rows),
        "sensitivity": pd.DataFrame(sens_rows),
        "icc": pd.DataFrame(icc_rows),
        "missing_data": pd.DataFrame(results["missing_data"]),
        "diagnostics": pd.DataFrame(diag_rows),
    }
    return {k: csv_text(v) for k, v in frames.items()}


def _diag_row(analysis: str, model: str, d: Mapping[str, Any] | None) -> dict[str, Any]:
    d = d or {}
    return {
        "analysis": analysis,
        "model": model,
        "converged": d.get("converged"),
        "singular": d.get("singular"),
        "max_abs_gradient": d.get("max_abs_gradient"),
        "hessian_positive_definite": d.get("hessian_positive_definite"),
        "n_iterations": d.get("n_iterations"),
        "warnings": "; ".join(d.get("warnings") or []),
    }


def write_files(folder: Path, files: Mapping[str, str]) -> None:
    """Write the analysis files (relative path -> UTF-8 text) into ``folder``."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


__all__ = ["DEFAULT_SEED", "SCHEMA", "TABLES", "analyse", "estimability_warnings"]
