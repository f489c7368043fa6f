"""Load and validate a SAP TOML file; every error names the offending key."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from odtrial._toml import TomlReader
from odtrial.data.drugs import CPZ_METHODS
from odtrial.errors import PlanError
from odtrial.plan.model import (
    ESTIMAND_LEVELS,
    IE_STRATEGIES,
    MODEL_KINDS,
    OUTCOME_ROLES,
    OUTCOME_TYPES,
    SENSITIVITY_METHODS,
    STATUSES,
    Estimand,
    IntercurrentEvent,
    ModelSpec,
    Outcome,
    Plan,
    Population,
    Sensitivity,
    SignOff,
)

_TOP_KEYS = {
    "plan", "design", "populations", "estimands", "outcomes", "sensitivity",
    "multiplicity", "missing_data", "harms", "software",
}  # fmt: skip
_FREE_TEXT_SECTIONS = ("multiplicity", "missing_data", "harms", "software")
_FAMILIES = {"glmm": ("binomial", "poisson", "negbin"), "gee": ("binomial", "poisson", "gaussian")}


def load_plan(path: str | Path) -> Plan:
    """Read a SAP, validate it and compute its content hash (sha256 of the file bytes)."""
    p = Path(path)
    try:
        raw_bytes = p.read_bytes()
    except OSError as e:
        raise PlanError(f"{p}: cannot read analysis plan ({e.strerror})") from None
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise PlanError(f"{p}: not valid TOML ({e})") from None
    return parse_plan(raw, source=str(p), sha256=hashlib.sha256(raw_bytes).hexdigest(), path=p)


GLMM_ESTIMATION = ("ML", "REML")


def _check_estimation(
    m: TomlReader, kind: str, family: str | None, options: Mapping[str, Any]
) -> None:
    """``estimation`` of a GLMM: ML (adaptive quadrature) or REML (Laplace, so
    ``nagq`` does not apply)."""
    est = options.get("estimation")
    if est is None:
        return
    if kind != "glmm":
        raise m.fail("estimation", f"applies to a glmm only (this model is {kind!r})")
    if est not in GLMM_ESTIMATION:
        raise m.fail("estimation", f"must be one of {', '.join(GLMM_ESTIMATION)}, got {est!r}")
    if est == "REML" and "nagq" in options:
        raise m.fail("nagq", "does not apply with estimation = 'REML' (Laplace approximation)")


def _one_of(r: TomlReader, key: str, allowed: tuple[str, ...], default: Any = ...) -> str:
    v = r.get(key, str, default)
    if v not in allowed and not (default is not ... and v == default):
        raise r.fail(key, f"must be one of {', '.join(allowed)}, got {v!r}")
    return str(v)


def _text(r: TomlReader, key: str) -> str:
    v = r.get(key, str)
    if not v.strip():
        raise r.fail(key, "must not be empty")
    return str(v)


def parse_plan(
    raw: Mapping[str, Any], *, source: str = "<plan>", sha256: str = "", path: Path | None = None
) -> Plan:
    top = TomlReader(raw, "", source, PlanError)
    top.unknown_keys(_TOP_KEYS)
    meta = top.sub("plan")
    meta.unknown_keys(
        {
            "title",
            "short_title",
            "version",
            "date",
            "status",
            "registration",
            "trial_config",
            "sign_off",
        }
    )
    status = _one_of(meta, "status", STATUSES)
    sign_off = tuple(
        SignOff(_text(s, "name"), _text(s, "role"), s.get("date", date))
        for s in meta.items("sign_off")
    )
    if status == "final" and not sign_off:
        raise meta.fail("sign_off", "must name at least one signatory for a final plan")

    design = top.sub("design")
    design_text = {k: _text(design, k) for k in design.data}
    for required in ("description", "cluster_definition", "randomisation", "sample_size"):
        if required not in design_text:
            raise design.fail(required, "is missing")

    pops_r = top.sub("populations")
    populations = {
        pid: Population(pid, _text(pops_r.sub(pid), "label"), _text(pops_r.sub(pid), "definition"))
        for pid in pops_r.data
    }
    if not populations:
        raise top.fail("populations", "must define at least one analysis population")

    est_r = top.sub("estimands")
    estimands = {eid: _estimand(est_r.sub(eid), eid) for eid in est_r.data}

    out_r = top.sub("outcomes")
    outcomes = {oid: _outcome(out_r.sub(oid), oid, populations, estimands) for oid in out_r.data}
    primaries = [o.id for o in outcomes.values() if o.role == "primary"]
    if len(primaries) != 1:
        raise top.fail("outcomes", f"must have exactly one primary outcome, found {len(primaries)}")

    sensitivity = []
    for s in top.items("sensitivity") if "sensitivity" in top.data else []:
        s.unknown_keys({"id", "outcome", "label", "method", "options"})
        oid = s.get("outcome", str)
        if oid not in outcomes:
            raise s.fail("outcome", f"names unknown outcome {oid!r}")
        sensitivity.append(
            Sensitivity(
                id=_text(s, "id"),
                outcome=oid,
                label=_text(s, "label"),
                method=_one_of(s, "method", SENSITIVITY_METHODS),
                options=MappingProxyType(dict(s.get("options", dict, {}))),
            )
        )
    if len({s.id for s in sensitivity}) != len(sensitivity):
        raise top.fail("sensitivity", "has duplicated ids")

    sections = {}
    for name in _FREE_TEXT_SECTIONS:
        sec = top.sub(name)
        sections[name] = MappingProxyType({k: _text(sec, k) for k in sec.data})

    trial_config = meta.get("trial_config", str, None)
    return Plan(
        title=_text(meta, "title"),
        short_title=meta.get("short_title", str, meta.get("title", str)),
        version=_text(meta, "version"),
        date=meta.get("date", date),
        status=status,
        registration=_text(meta, "registration"),
        sign_off=sign_off,
        design=MappingProxyType(design_text),
        populations=MappingProxyType(populations),
        estimands=MappingProxyType(estimands),
        outcomes=MappingProxyType(outcomes),
        sensitivity=tuple(sensitivity),
        sections=MappingProxyType(sections),
        trial_config=None
        if trial_config is None
        else ((path.parent if path else Path.cwd()) / trial_config).resolve(),
        sha256=sha256,
        path=path,
    )


def _estimand(r: TomlReader, eid: str) -> Estimand:
    r.unknown_keys(
        {"treatment", "population", "variable", "intercurrent_events", "summary", "level"}
    )
    ies = []
    for ie in r.items("intercurrent_events"):
        ies.append(IntercurrentEvent(_text(ie, "event"), _one_of(ie, "strategy", IE_STRATEGIES)))
    return Estimand(
        id=eid,
        treatment=_text(r, "treatment"),
        population=_text(r, "population"),
        variable=_text(r, "variable"),
        intercurrent_events=tuple(ies),
        summary=_text(r, "summary"),
        level=_one_of(r, "level", ESTIMAND_LEVELS),
    )


def _outcome(
    r: TomlReader,
    oid: str,
    populations: Mapping[str, Population],
    estimands: Mapping[str, Estimand],
) -> Outcome:
    r.unknown_keys(
        {"label", "role", "estimand", "population", "type", "definition", "derivation", "model"}
    )
    population = r.get("population", str)
    if population not in populations:
        raise r.fail("population", f"names unknown population {population!r}")
    estimand = r.get("estimand", str, None)
    if estimand is not None and estimand not in estimands:
        raise r.fail("estimand", f"names unknown estimand {estimand!r}")
    role = _one_of(r, "role", OUTCOME_ROLES)
    if role == "primary" and estimand is None:
        raise r.fail("estimand", "is required for the primary outcome")
    der = r.sub("derivation")
    der.unknown_keys({"window_months", "cpz_method"})
    window = der.get("window_months", int)
    if window <= 0:
        raise der.fail("window_months", "must be a positive number of months")
    m = r.sub("model")
    kind = _one_of(m, "kind", MODEL_KINDS)
    family = m.get("family", str, None)
    if kind in _FAMILIES and family not in _FAMILIES[kind]:
        raise m.fail("family", f"must be one of {', '.join(_FAMILIES[kind])} for a {kind}")
    covariates = m.get("covariates", list, [])
    if not all(isinstance(c, str) and c.strip() for c in covariates):
        raise m.fail("covariates", "must be a list of formula terms")
    options = {k: v for k, v in m.data.items() if k not in {"kind", "family", "covariates"}}
    _check_estimation(m, kind, family, options)
    return Outcome(
        id=oid,
        label=_text(r, "label"),
        role=role,
        type=_one_of(r, "type", OUTCOME_TYPES),
        definition=_text(r, "definition"),
        population=population,
        estimand=estimand,
        window_months=window,
        cpz_method=_one_of(der, "cpz_method", CPZ_METHODS),
        model=ModelSpec(kind, family, tuple(covariates), MappingProxyType(options)),
    )
