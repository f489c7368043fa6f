"""``odtrial check``: a trial definition and, optionally, its analysis plan, before any data.

Every failure is collected, one line each prefixed with the file it is in:
the trial definition at every key (:func:`odtrial.trial.load_trial`), a visit
``odtrial init`` wrote as a placeholder, each extract's dialect and formats and that
its pattern matches a file (a REDCap records export's, only one: each holds every
record; no row is read), the randomisation record's verification, the plan at every key
(:func:`odtrial.plan.load_plan`), that the plan's ``plan.trial_config``,
when it names one, is this trial's definition, and that the plan fits the trial's
tables: its derivations run on a freeze with no records
(:func:`odtrial.data.empty_freeze.empty_freeze`, so every table, field and field
type they name is checked by the code that will read the real freeze) and each
model's covariates, imputation auxiliary and missing-data column name columns of the
dataset they make (every bad one its own line).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from odtrial._toml import suggest
from odtrial._words import count
from odtrial.errors import ConfigError, OdtrialError, PlanError
from odtrial.plan.model import Derivation, Outcome, Plan
from odtrial.trial import ConfigErrors, ExtractSpec, Trial, load_trial

if TYPE_CHECKING:
    from odtrial.data.readers import Header

TRIAL_FILE = "trial.toml"


@dataclass(frozen=True)
class CheckResult:
    """What ``odtrial check`` found: every error line, and what loaded."""

    trial_path: Path
    plan_path: Path | None
    errors: tuple[str, ...]
    trial: Trial | None = None
    plan: Plan | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line: OK with what was checked, or the error count."""
        files = str(self.trial_path) + (f" and {self.plan_path}" if self.plan_path else "")
        if self.errors:
            return f"{files}: {count(len(self.errors), 'error')}"
        assert self.trial is not None
        t = self.trial
        n_files = sum(len(s) for s in t.extracts.values())
        what = (
            f"{count(len(t.trusts), 'trust')}, {count(len(t.clusters), 'cluster')}, "
            f"{count(n_files, 'extract pattern')} each matching a file"
        )
        if t.randomisation_record is not None:
            what += ", randomisation record verified"
        if self.plan is not None:
            what += (
                f"; plan version {self.plan.version}, {count(len(self.plan.outcomes), 'outcome')}"
            )
        return f"{files}: OK: {what}"


def _lines(e: OdtrialError) -> tuple[str, ...]:
    messages = getattr(e, "messages", None)  # ConfigErrors, PlanErrors: every failure
    return tuple(messages) if messages else (str(e),)


def _prefixed(path: Path, msg: str) -> str:
    return msg if msg.startswith(f"{path}:") else f"{path}: {msg}"


def _record_error(cfg: Path, trial: Trial, e: OdtrialError) -> str:
    """The record's failure as one line naming the key once: the message may already
    start with the file and the key (``<file>: randomisation.record: ...``)."""
    msg = str(e)
    for where in dict.fromkeys((str(cfg), str(trial.path))):
        msg = msg.removeprefix(f"{where}: ")
    msg = re.sub(r"^randomisation\.record:?\s*", "", msg)
    return f"{cfg}: key 'randomisation.record': {msg}"


def _raw(trial: Trial) -> Mapping[str, Any]:
    """The definition as written (it parsed), for where a key is written."""
    assert trial.path is not None
    return tomllib.loads(trial.path.read_text(encoding="utf-8"))


def _placeholder_errors(trial: Trial, raw: Mapping[str, Any], cfg: Path) -> list[str]:
    """A visit marked ``placeholder = true`` (init's, where the exports gave no visit
    month): an error, so the trial is not ingested and analysed on a made-up schedule."""
    rows = raw["visits"]["schedule"]
    return [
        f"{cfg}: key 'visits.schedule[{i}].placeholder': the {v.month}-month visit is a "
        "placeholder odtrial init wrote (the exports give no visit month): put the "
        "protocol's visits in [visits] schedule, without placeholder = true, and the last "
        "one's month in trial.follow_up_months"
        for v in trial.visits
        if v.placeholder
        for i, r in enumerate(rows)
        if r["month"] == v.month
    ]


def _pattern_key(raw: Mapping[str, Any], trust: str, table: str) -> str:
    """Where an extract's pattern is written: its own table, or the one it is ``like``."""
    ex = raw.get("extracts", {}).get(trust, {}).get(table, {})
    if "pattern" not in ex and isinstance(ex.get("like"), str):
        trust = ex["like"]
    return f"extracts.{trust}.{table}.pattern"


def _extract_errors(trial: Trial, raw: Mapping[str, Any], src: Path, cfg: Path) -> list[str]:
    """Dialect, formats, one matching file per extract pattern (only one for a REDCap
    records export), every mapped column in each matching file's header (only the
    header is read), and that the extracts reading one file (or one sheet) agree on
    its dialect, as ingest requires (:func:`odtrial.data.selection.sources`)."""
    from odtrial.data.mapping import check_formats
    from odtrial.data.readers import check_dialect
    from odtrial.data.selection import sources
    from odtrial.redcap.records import is_records_extract, several_exports

    errors: list[str] = []
    several: dict[str, str] = {}  # folder/pattern -> its line (extracts may share one)
    # file -> its path and the extracts reading it, in ingest's order (by trust id)
    by_file: dict[str, tuple[Path, list[ExtractSpec]]] = {}
    for trust in trial.trusts:
        tdir = src / trust.directory
        if not tdir.is_dir():
            errors.append(
                f"{cfg}: key 'trusts' names folder {trust.directory!r} for trust {trust.id}, "
                f"not found in {src}"
            )
            continue
        for spec in trial.extracts[trust.id].values():
            table = spec.table
            dialect_ok = True
            for checker in ((check_dialect,) if spec.format == "csv" else ()) + (check_formats,):
                try:
                    checker(spec)
                except OdtrialError as e:
                    errors.append(_prefixed(cfg, str(e)))
                    dialect_ok = dialect_ok and checker is not check_dialect
            files = sorted(p for p in tdir.glob(spec.pattern) if p.is_file())
            if not files:
                errors.append(
                    f"{cfg}: key 'extracts.{trust.id}.{table}.pattern' {spec.pattern!r} "
                    f"matches no file in {tdir}"
                )
            where = f"{trust.directory}/{spec.pattern}"
            if len(files) > 1 and is_records_extract(spec) and where not in several:
                rels = [f.relative_to(src).as_posix() for f in files]
                several[where] = (
                    f"{cfg}: key '{_pattern_key(raw, trust.id, table)}': "
                    + several_exports(where, rels)
                )
            if dialect_ok:
                for f in files:
                    rel = f.relative_to(src).as_posix()
                    errors.extend(_header_errors(f, rel, spec, cfg))
                    by_file.setdefault(rel, (f, []))[1].append(spec)
    order = {t.id: i for i, t in enumerate(sorted(trial.trusts, key=lambda t: t.id))}
    tables = list(trial.tables)
    for rel, (f, specs) in by_file.items():
        if len(specs) > 1:
            specs.sort(key=lambda s: (order[s.trust], tables.index(s.table)))
            try:
                sources(f, rel, specs)
            except ConfigError as e:  # an unreadable workbook: its header line says so
                errors.append(_prefixed(cfg, str(e)))
            except OdtrialError:
                pass
    return errors + list(several.values())


def _header_errors(path: Path, rel: str, spec: ExtractSpec, cfg: Path) -> list[str]:
    """One line per source column the extract names (mapped, or selecting its rows:
    ``where``, ``filled``) absent from the file's header, saying where the header was
    read (an Excel sheet and row, a CSV line other than the first) and what to set
    when another delimiter or header row gives the columns (as ingest says)."""
    from odtrial.data.readers import MissingSheet, inspect_header, show

    key = f"extracts.{spec.trust}.{spec.table}"
    try:
        header = inspect_header(path, spec, rel=rel)
    except MissingSheet as e:
        return [f"{cfg}: key '{key}.sheet': {e}"]
    except OdtrialError as e:
        return [_prefixed(cfg, f"extract {e}")]
    names = header.names
    named = [(f"columns.{canon}", col) for canon, col in spec.columns.items()]
    named += [(f"{part}.{col}", col) for part in ("where", "filled") for col in getattr(spec, part)]
    note = _header_note(header)
    out = [
        f"{cfg}: key '{key}.{k}' names column {show(col)!r}, which {rel} does not have{note}"
        for k, col in named
        if col not in names
    ]
    # a column the extract reads twice in the header: ingest cannot tell which is meant
    first_key = {col: k for k, col in reversed(named)}  # each column at its first key
    for col, k in first_key.items():
        if (n := names.count(col)) > 1:
            out.append(
                f"{cfg}: key '{key}.{k}' names column {show(col)!r}, which appears {n} times "
                f"in {rel}'s header: rename or remove the copies"
            )
    return out


def _header_note(header: Header) -> str:
    """`` (its header, row 1 of sheet 'Baseline': 'Title'; <hint>)``: where the header
    was read and its first names, when that is not line 1 of a CSV file or there is a
    hint (a delimiter, a header row); else ``""``."""
    from odtrial.data.readers import shown_names

    parts = []
    if header.where:
        names = shown_names(header.names)
        shown = ", ".join(repr(n) for n in names[:_NAMES_SHOWN])
        more = ", ..." if len(names) > _NAMES_SHOWN else ""
        parts.append(f"its header, {header.where}: {shown or '(empty)'}{more}")
    if header.hint:
        parts.append(header.hint)
    return f" ({'; '.join(parts)})" if parts else ""


_NAMES_SHOWN = 8  # header names a line about a missing column shows


def check(trial_dir: str | Path, plan: str | Path | None = None) -> CheckResult:
    """Check ``trial_dir/trial.toml`` (and ``plan``) and collect every error.

    Parameters
    ----------
    trial_dir
        A trial's source folder: its ``trial.toml`` and one folder per trust.
    plan
        A statistical analysis plan (TOML) to check with it.

    Returns
    -------
    CheckResult
        ``errors`` holds one line per failure, each starting with its file;
        empty when everything is valid.
    """
    src = Path(trial_dir)
    cfg = src / TRIAL_FILE
    errors: list[str] = []
    trial: Trial | None = None
    try:
        trial = load_trial(cfg)
    except ConfigErrors as e:
        errors.extend(e.messages)
    except OdtrialError as e:  # unreadable or not TOML: one line
        errors.append(_prefixed(cfg, str(e)))
    if trial is not None:
        raw = _raw(trial)
        errors.extend(_placeholder_errors(trial, raw, cfg))
        errors.extend(_extract_errors(trial, raw, src, cfg))
        if trial.randomisation_record is not None:
            from odtrial.data.allocation import apply_record

            try:
                apply_record(trial)
            except OdtrialError as e:
                errors.append(_record_error(cfg, trial, e))

    loaded_plan: Plan | None = None
    plan_path = None if plan is None else Path(plan)
    if plan_path is not None:
        from odtrial.plan.load import load_plan

        try:
            loaded_plan = load_plan(plan_path)
        except PlanError as e:
            errors.extend(_prefixed(plan_path, m) for m in _lines(e))
        if loaded_plan is not None and loaded_plan.trial_config is not None:
            if loaded_plan.trial_config != cfg.resolve():
                errors.append(
                    f"{plan_path}: key 'plan.trial_config' names {str(loaded_plan.trial_config)!r}, "
                    f"not the trial checked ({str(cfg.resolve())!r})"
                )
        if trial is not None and loaded_plan is not None:
            errors.extend(_prefixed(plan_path, m) for m in plan_data_errors(trial, loaded_plan))
    return CheckResult(cfg, plan_path, tuple(errors), trial, loaded_plan)


def plan_data_errors(trial: Trial, plan: Plan) -> list[str]:
    """What in ``plan`` the trial's tables cannot give: each derivation is run (with
    the ones before it that worked) on the trial's empty freeze, then each outcome's
    and sensitivity analysis's covariates are looked up in the dataset made."""
    from odtrial.analysis.outcomes import TREAT, covariate_errors, outcome_data
    from odtrial.data.derive import derive
    from odtrial.data.empty_freeze import empty_freeze

    freeze = empty_freeze(trial)
    errors: list[str] = []
    good: list[Derivation] = []
    for d in plan.derivations:
        try:
            derive(freeze, [*good, d], window_months=plan.window_months)
        except OdtrialError as e:
            errors.append(str(e))
        else:
            good.append(d)
    dataset = derive(freeze, good, window_months=plan.window_months)
    dataset[TREAT] = pd.Series([], dtype="int64")  # added by the analysis
    failed = {d.id for d in plan.derivations} - {d.id for d in good}
    outcomes = plan.outcomes
    checks: list[tuple[Outcome, tuple[str, ...], str]]
    checks = [
        (o, o.model.covariates, f"outcomes.{o.id}.model.covariates") for o in outcomes.values()
    ]
    for i, s in enumerate(plan.sensitivity):
        covs = (s.options or {}).get("covariates")
        if covs is not None and s.outcome in outcomes:
            checks.append(
                (outcomes[s.outcome], tuple(covs), f"sensitivity[{i}].options.covariates")
            )
    if plan.imputation is not None:
        for i, a in enumerate(plan.imputation.get("auxiliaries", ())):
            if a not in dataset.columns and a not in failed:  # else said above
                errors.append(
                    f"key 'missing_data.imputation.auxiliaries[{i}]' names no column of the "
                    f"analysis dataset: {a!r}{suggest(str(a), list(dataset.columns))}"
                )
    for i, (col, _) in enumerate(plan.missing_data):
        if col not in dataset.columns and col not in failed:
            errors.append(
                f"key 'missing_data.variables[{i}].column' names no column of the analysis "
                f"dataset: {col!r}{suggest(col, list(dataset.columns))}"
            )
    for outcome, covs, key in checks:
        if outcome.id in failed:
            continue
        bad = covariate_errors(covs, dataset.columns, key)  # every bad term, each its line
        errors.extend(bad)
        if bad:
            continue
        try:
            outcome_data(dataset, outcome, covariates=covs)
        except OdtrialError as e:
            errors.append(str(e))
    if plan.health_economics is not None:
        from odtrial.analysis.health_economics import cost_input_errors

        errors.extend(cost_input_errors(plan.health_economics))
    return list(dict.fromkeys(errors))
