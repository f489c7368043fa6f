"""Load and validate a SAP TOML file.

Validation is two passes over the parsed TOML, both before any object is
built (and before any data are read): the schema (:mod:`odtrial.plan.schema`:
every key of every table at every depth, every type and enumerated value),
then the rules across keys (references between outcomes, populations and
estimands; model kind and family for the outcome type; option combinations;
the sample size against its computation, :mod:`odtrial.plan.sample_size`).
Each pass reports all its failures, one line each with the full key path; the
rules run once the structure is sound. :class:`PlanErrors` carries them all;
its message is the first, with the count of the others.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from odtrial._errorlist import summary
from odtrial.errors import PlanError
from odtrial.plan.model import (
    Derivation,
    Estimand,
    HealthEconomics,
    IntercurrentEvent,
    ModelSpec,
    Outcome,
    Plan,
    Population,
    ResourceUse,
    Sensitivity,
    SignOff,
    Variable,
)
from odtrial.plan.sample_size import check_sample_size, sample_size_of
from odtrial.plan.schema import HE_WINDOWED, utility_column, validate

_FREE_TEXT_SECTIONS = ("multiplicity", "missing_data", "harms", "software", "summary")


def _frozen(v: Any) -> Any:
    """A section's value, tables read-only (``[summary.abbreviations]``)."""
    return MappingProxyType(dict(v)) if isinstance(v, dict) else v


_SPEC_KEYS = ("kind", "family", "covariates")  # ModelSpec fields; the rest are its options


class PlanErrors(PlanError):
    """Every failure of a plan, one line each in :attr:`messages`.

    ``str()`` is one line: the first failure, and how many more there are
    (``odtrial plan check`` lists them all)."""

    def __init__(self, source: str, messages: Sequence[str]) -> None:
        self.source = source
        self.messages, message = summary(source, messages, "odtrial plan check")
        super().__init__(message)


def read_plan_toml(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """The parsed TOML of a plan file and its bytes; a one-line PlanError otherwise."""
    p = Path(path)
    try:
        raw_bytes = p.read_bytes()
    except OSError as e:
        raise PlanError(f"{p}: cannot read analysis plan ({e.strerror or e})") from None
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PlanError(
            f"{p}: not UTF-8 text (byte {e.start}: {raw_bytes[e.start : e.start + 1]!r})"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PlanError(f"{p}: not valid TOML ({' '.join(str(e).split())})") from None
    except RecursionError:
        raise PlanError(f"{p}: not valid TOML (arrays or tables nested too deeply)") from None
    return raw, raw_bytes


def load_plan(path: str | Path) -> Plan:
    """Read a SAP, validate it and compute its content hash (sha256 of the file bytes).

    Raises
    ------
    PlanError
        The file cannot be read or parsed; :class:`PlanErrors` (a PlanError)
        with every failure when it does not validate.
    """
    p = Path(path)
    raw, raw_bytes = read_plan_toml(p)
    return parse_plan(raw, source=str(p), sha256=hashlib.sha256(raw_bytes).hexdigest(), path=p)


def check_plan(raw: Any) -> list[str]:
    """Every failure of a parsed plan (``key '<path>' <message>``), empty when it is valid."""
    return validate(raw, extra_rules=(check_sample_size,))


def parse_plan(
    raw: Mapping[str, Any], *, source: str = "<plan>", sha256: str = "", path: Path | None = None
) -> Plan:
    """Validate a parsed plan and build the :class:`Plan` (see the module notes)."""
    errors = check_plan(raw)
    if errors:
        raise PlanErrors(source, errors)
    meta = raw["plan"]
    design: dict[str, Any] = {k: v for k, v in raw["design"].items() if k != "sample_size"}
    design["sample_size"] = MappingProxyType(sample_size_of(raw).to_dict())
    populations = {
        pid: Population(pid, p["label"], p["definition"]) for pid, p in raw["populations"].items()
    }
    estimands = {eid: _estimand(eid, e) for eid, e in raw["estimands"].items()}
    outcomes = {oid: _outcome(oid, o) for oid, o in raw["outcomes"].items()}
    variables = {
        vid: Variable(vid, v["label"], _derivation(f"variables.{vid}", vid, v["derivation"]))
        for vid, v in raw.get("variables", {}).items()
    }
    sensitivity = tuple(
        Sensitivity(
            id=s["id"],
            outcome=s["outcome"],
            label=s["label"],
            method=s["method"],
            options=MappingProxyType(dict(s.get("options", {}))),
        )
        for s in raw.get("sensitivity", [])
    )
    trial_config = meta.get("trial_config")
    return Plan(
        title=meta["title"],
        short_title=meta.get("short_title", meta["title"]),
        version=meta["version"],
        date=meta["date"],
        status=meta["status"],
        registration=meta["registration"],
        sign_off=tuple(SignOff(s["name"], s["role"], s["date"]) for s in meta.get("sign_off", [])),
        design=MappingProxyType(design),
        populations=MappingProxyType(populations),
        estimands=MappingProxyType(estimands),
        outcomes=MappingProxyType(outcomes),
        sensitivity=sensitivity,
        sections=MappingProxyType(
            {
                name: MappingProxyType(
                    {
                        k: _frozen(v)
                        for k, v in raw[name].items()
                        if k not in ("variables", "imputation")
                    }
                )
                for name in _FREE_TEXT_SECTIONS
                if name in raw  # [summary] is optional
            }
        ),
        trial_config=None
        if trial_config is None
        else ((path.parent if path else Path.cwd()) / trial_config).resolve(),
        sha256=sha256,
        path=path,
        missing_data=tuple(
            (v["column"], v["time_point"]) for v in raw["missing_data"].get("variables", [])
        ),
        variables=MappingProxyType(variables),
        imputation=_frozen(raw["missing_data"]["imputation"])
        if "imputation" in raw["missing_data"]
        else None,
        window_months=raw.get("derivation", {}).get("window_months"),
        health_economics=None
        if "health_economics" not in raw
        else _health_economics(
            raw["health_economics"],
            path,
            None if trial_config is None else (path.parent if path else Path.cwd()) / trial_config,
        ),
    )


def _health_economics(
    he: Mapping[str, Any], path: Path | None, trial: Path | None
) -> HealthEconomics:
    """``[health_economics]`` as objects; its tables' paths relative to the trial's folder
    (the trial's configuration, beside ``trial.toml``) when the file is there, else to the
    plan's folder."""
    plan_dir = path.parent if path else Path.cwd()

    def resolve(name: str) -> Path:
        if trial is not None and (trial.parent / name).is_file():
            return (trial.parent / name).resolve()
        return (plan_dir / name).resolve()

    horizon = int(he["time_horizon_months"])
    method = he.get("method", "bivariate")
    costs = he["costs"]
    resource_use = {}
    for rid, r in he["resource_use"].items():
        d = r.get("derivation")
        der = None if d is None else _derivation(f"health_economics.resource_use.{rid}", rid, d)
        cumulative = (
            (*tuple((m, f"{rid}_m{m}") for m in range(12, horizon, 12)), (horizon, rid))
            if d is not None and d["kind"] in HE_WINDOWED
            else ()
        )
        resource_use[rid] = ResourceUse(
            rid, r["label"], r["item"], der, r.get("column", rid), cumulative
        )
    u = he["utilities"]
    visits = tuple(int(v) for v in u["visits"])
    uderiv = []
    ucols = []
    for v in visits:
        cols = []
        for fld in u["fields"]:
            col = utility_column(u["table"], v, fld)
            cols.append(col)
            params = {"table": u["table"], "field": fld, "visit": v}
            params |= {k: u[k] for k in ("visit_field", "date_field", "choose") if k in u}
            uderiv.append(
                Derivation(
                    col, "value_at_visit", MappingProxyType(params), "health_economics.utilities"
                )
            )
        ucols.append((v, tuple(cols)))
    return HealthEconomics(
        perspective=he["perspective"],
        time_horizon_months=horizon,
        price_year=int(he["price_year"]),
        discount_rate=float(he.get("discount_rate", 0.035)),
        method=method,
        sensitivity=tuple(he.get("sensitivity", ["tsb" if method == "bivariate" else "bivariate"])),
        wtp=tuple(float(w) for w in he.get("wtp", [20000, 30000])),
        n_boot=int(he.get("n_boot", 1000)),
        seed=int(he.get("seed", 20130)),
        covariates=tuple(he.get("covariates", ())),
        unit_costs=resolve(costs["unit_costs"]),
        price_index=None if "price_index" not in costs else resolve(costs["price_index"]),
        intervention_cost_per_cluster=costs.get("intervention_cost_per_cluster"),
        intervention_costs=(
            None if "intervention_costs" not in costs else resolve(costs["intervention_costs"])
        ),
        baseline_cost=costs.get("baseline_cost"),
        resource_use=MappingProxyType(resource_use),
        version=u["version"],
        value_set=u.get("value_set", "england" if u["version"] == "5L" else "uk"),
        age_column=u.get("age"),
        sex_column=u.get("sex"),
        utility_columns=tuple(ucols),
        adjust_baseline_utility=bool(u.get("adjust_baseline", True)),
        utility_derivations=tuple(uderiv),
    )


def _estimand(eid: str, e: Mapping[str, Any]) -> Estimand:
    return Estimand(
        id=eid,
        treatment=e["treatment"],
        population=e["population"],
        variable=e["variable"],
        intercurrent_events=tuple(
            IntercurrentEvent(ie["event"], ie["strategy"]) for ie in e["intercurrent_events"]
        ),
        summary=e["summary"],
        level=e["level"],
    )


def _derivation(path: str, oid: str, d: Mapping[str, Any]) -> Derivation:
    params = MappingProxyType({k: v for k, v in d.items() if k != "kind"})
    return Derivation(oid, d["kind"], params, f"{path}.derivation")


def _outcome(oid: str, o: Mapping[str, Any]) -> Outcome:
    m = o["model"]
    return Outcome(
        id=oid,
        label=o["label"],
        role=o["role"],
        type=o["type"],
        definition=o["definition"],
        population=o["population"],
        estimand=o.get("estimand"),
        derivation=_derivation(f"outcomes.{oid}", oid, o["derivation"]),
        model=ModelSpec(
            m["kind"],
            m.get("family"),
            tuple(m.get("covariates", ())),
            MappingProxyType({k: v for k, v in m.items() if k not in _SPEC_KEYS}),
        ),
    )
