"""STEADY's generator: care homes -> allocation -> residents -> REDCap exports -> faults.

``generate(out)`` writes the REDCap project's standard exports under ``redcap/``
(data dictionary, instrument designations, records as raw codes: one file for the
three sites), the cluster table and the randomisation record ``odtrial randomise``
makes from it, ``truth.json`` (parameters and every injected fault at its source row)
and the ``trial.toml`` that ``odtrial init`` writes from them.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial._io import atomic_folder
from odtrial.errors import ConfigError
from odtrial.randomise.allocate import constrained
from odtrial.redcap.dictionary import checkbox_column, parse_choices
from odtrial.synth.population import nhs_numbers
from odtrial.synth.redcap import design as ds

SYNTH_KIND: Final = "a synthetic trial"
DEFAULT_SEED: Final = 20250630
DEFAULT_PARTICIPANTS: Final = 216
DEFAULT_FAULT_RATE: Final = 0.01
MIN_CLUSTER_SIZE: Final = 4
MIN_PARTICIPANTS: Final = MIN_CLUSTER_SIZE * ds.HOMES_PER_SITE * len(ds.SITES)
RECORDS_FILE: Final = f"{ds.TRIAL_NAME}_DATA_{ds.EXPORT_STAMP}.csv"
DICTIONARY_FILE: Final = f"{ds.TRIAL_NAME}_DataDictionary_{ds.EXPORT_STAMP[:10]}.csv"
DESIGNATIONS_FILE: Final = f"{ds.TRIAL_NAME}_InstrumentDesignations_{ds.EXPORT_STAMP[:10]}.csv"


@dataclass(frozen=True)
class Parameters:
    """The generating model (truth): effects on the exercise arm."""

    barthel_effect_12m: float = 1.2  # points of the Barthel index at 12 months
    barthel_decline_per_6m: float = 0.8
    home_sd_barthel: float = 0.8
    resident_sd: float = 1.6
    falls_rate_6m: float = 0.55  # falls per resident per 6 months, usual care
    falls_rate_ratio: float = 0.7
    home_sd_log_falls: float = 0.3
    fesi_effect: float = -0.25  # shift of each item's latent concern
    admission_p: float = 0.12
    missed_6m: float = 0.08
    missed_12m: float = 0.12


# ------------------------------------------------------------------ care homes
def cluster_table(rng: np.random.Generator) -> pd.DataFrame:
    """Six care homes per site: id, site (its data access group), beds."""
    rows = []
    for s in ds.SITES:
        for k in range(1, ds.HOMES_PER_SITE + 1):
            rows.append(
                {"home_id": f"{s.prefix}-{k:02d}", "site": s.dag, "beds": int(rng.integers(24, 96))}
            )
    return pd.DataFrame(rows)


def randomise(table: pd.DataFrame) -> Any:
    """The allocation ``odtrial randomise`` makes with the design's parameters."""
    r = ds.RANDOMISE
    return constrained(
        table,
        id=str(r["id"]),
        strata=str(r["strata"]),
        balance=list(r["balance"]),  # type: ignore[call-overload]
        seed=int(r["seed"]),  # type: ignore[call-overload]
        arms=list(ds.ARMS),
        cutoff=float(r["cutoff"]),  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ records
@dataclass
class Row:
    """A row of the records export, with what it is (for faults and the truth)."""

    cells: dict[str, str]
    record: str
    event: str
    table: str  # participants, follow_up, fall_log, or "" (no table)
    faults: list[dict[str, Any]] = field(default_factory=list)


def _columns(dictionary: list[dict[str, str]]) -> list[str]:
    cols = ["record_id", "redcap_event_name", "redcap_repeat_instrument",
            "redcap_repeat_instance", "redcap_data_access_group"]  # fmt: skip
    form = None
    for f in dictionary:
        name, ftype = f["Variable / Field Name"], f["Field Type"]
        if form is not None and f["Form Name"] != form:
            cols.append(f"{form}_complete")
        form = f["Form Name"]
        if name == "record_id":
            continue
        if ftype == "checkbox":
            cols += [
                checkbox_column(name, c.code)
                for c in parse_choices(f["Choices, Calculations, OR Slider Labels"])
            ]
        else:
            cols.append(name)
    cols.append(f"{form}_complete")
    return cols


def _iso(d: date) -> str:
    return d.isoformat()


def residents(
    n: int, homes: pd.DataFrame, arm: dict[str, str], prm: Parameters, rng: np.random.Generator
) -> list[Row]:
    """Every row of the records export before faults, in REDCap's order (record, event,
    instance)."""
    weights = rng.gamma(4.0, 0.25, len(homes))
    extra = rng.multinomial(n - MIN_CLUSTER_SIZE * len(homes), weights / weights.sum())
    sizes = MIN_CLUSTER_SIZE + extra
    home_u = rng.normal(0, prm.home_sd_barthel, len(homes))
    home_v = rng.normal(0, prm.home_sd_log_falls, len(homes))
    nhs = nhs_numbers(n, rng)
    span = (ds.RECRUIT_END - ds.RECRUIT_START).days
    aids = parse_choices(ds.AIDS)
    actions = parse_choices(ds.ACTIONS)
    rows: list[Row] = []
    person = 0
    counters = {s.dag: s.record_base for s in ds.SITES}
    for j, home in enumerate(homes.itertuples(index=False)):
        treated = arm[str(home.home_id)] == ds.ARMS[0]
        site = str(home.site)
        for _ in range(int(sizes[j])):
            counters[site] += 1
            rid = str(counters[site])
            consent = ds.RECRUIT_START + timedelta(days=int(rng.integers(0, span + 1)))
            age_days = int(rng.integers(65 * 365 + 20, 99 * 365))
            dob = consent - timedelta(days=age_days)
            dementia = bool(rng.random() < 0.45)
            barthel0 = int(np.clip(round(rng.normal(12, 4)), 0, 20))
            prior = int(min(50, rng.poisson(1.4)))
            concern = rng.normal(0.4, 0.7)
            base = {
                "record_id": rid,
                "redcap_event_name": ds.EVENTS[0],
                "redcap_data_access_group": site,
                "consent_date": _iso(consent),
                "care_home": str(home.home_id),
                "first_name": ds.FIRST_NAMES[int(rng.integers(len(ds.FIRST_NAMES)))],
                "last_name": ds.LAST_NAMES[int(rng.integers(len(ds.LAST_NAMES)))],
                "nhs_no": str(nhs[person]),
                "dob": _iso(dob),
                "sex": "1" if rng.random() < 0.7 else "2",
                "ethnicity": ""
                if rng.random() < 0.03
                else str(rng.choice([1, 2, 3, 4, 5, 99], p=[0.86, 0.02, 0.05, 0.03, 0.02, 0.02])),
                "falls_prior_year": str(prior),
                "barthel_bl": str(barthel0),
                "dementia": "1" if dementia else "0",
                "dementia_severity": str(int(rng.integers(1, 4))) if dementia else "",
                "enrolment_complete": "2",
            }
            for c in aids:
                base[checkbox_column("mobility_aids", c.code)] = "1" if rng.random() < 0.3 else "0"
            rows.append(Row(base, rid, ds.EVENTS[0], "participants"))
            level = barthel0 + rng.normal(0, prm.resident_sd) + home_u[j]
            for k, month in enumerate((6, 12)):
                if rng.random() < (prm.missed_6m if month == 6 else prm.missed_12m):
                    continue
                event = ds.EVENTS[k + 1]
                due = _add_months(consent, month)
                seen = due + timedelta(days=int(rng.integers(-21, 22)))
                effect = prm.barthel_effect_12m * month / 12 if treated else 0.0
                score = level - prm.barthel_decline_per_6m * (k + 1) + effect + rng.normal(0, 1.5)
                admitted = rng.random() < prm.admission_p
                fu = {
                    "record_id": rid,
                    "redcap_event_name": event,
                    "redcap_data_access_group": site,
                    "fu_date": _iso(seen),
                    "barthel": str(int(np.clip(round(score), 0, 20))),
                    "hosp_admission": "1" if admitted else "0",
                    "hosp_nights": str(1 + int(rng.poisson(6))) if admitted else "",
                    "frailty": str(int(np.clip(round(rng.normal(5.5, 1.2)), 1, 9))),
                    "fu_notes": "",
                    "follow_up_complete": "2",
                }
                latent = concern + (prm.fesi_effect if treated else 0.0)
                for i in range(1, len(ds.FESI_ITEMS) + 1):
                    fu[f"fesi_{i}"] = str(
                        int(np.clip(round(2.2 + latent + rng.normal(0, 0.8)), 1, 4))
                    )
                rows.append(Row(fu, rid, event, "follow_up"))
                rate = prm.falls_rate_6m * np.exp(home_v[j] + 0.15 * min(prior, 5))
                rate *= prm.falls_rate_ratio if treated else 1.0
                start = _add_months(consent, month - 6)
                end = min(seen, _add_months(consent, month))
                days = max(1, (end - start).days)
                for inst in range(1, int(rng.poisson(rate)) + 1):
                    fall = {
                        "record_id": rid,
                        "redcap_event_name": event,
                        "redcap_repeat_instrument": ds.REPEATING,
                        "redcap_repeat_instance": str(inst),
                        "redcap_data_access_group": site,
                        "fall_date": _iso(start + timedelta(days=int(rng.integers(1, days + 1)))),
                        "fall_place": str(int(rng.integers(1, 6))),
                        "fall_injury": str(int(rng.choice([0, 1, 2], p=[0.6, 0.32, 0.08]))),
                        "fall_hospital": "1" if rng.random() < 0.1 else "0",
                        "fall_log_complete": "2",
                    }
                    for c in actions:
                        fall[checkbox_column("fall_actions", c.code)] = (
                            "1" if rng.random() < 0.35 else "0"
                        )
                    rows.append(Row(fall, rid, event, "fall_log"))
            person += 1
    return rows


def _add_months(d: date, months: int) -> date:
    return (pd.Timestamp(d) + pd.DateOffset(months=months)).date()


# ------------------------------------------------------------------ faults
#: Every fault kind injected, with the rule code that must find it and where.
FAULT_KINDS: Final = (
    "out_of_vocabulary",  # a choice that is not among the choices (sex)
    "checkbox_value",  # a checkbox column holding 2 (out_of_vocabulary)
    "invalid_value",  # text in an integer field
    "impossible_date",  # 30 February
    "above_max",  # out_of_range
    "below_min",  # out_of_range
    "missing_value",  # a required field empty
    "required_if",  # missing_value: a field its branching logic requires
    "unchecked_requirement",  # empty, required under logic odtrial cannot evaluate
    "unmatched_row",  # an event not in the project
    "duplicate_instance",  # the same record, event and instance twice
    "duplicate_event",  # the same record and event twice
    "unknown_participant",  # a follow-up row of a record with no baseline row
    "unknown_cluster",  # a care home not in the randomisation record
    "nhs_number_invalid",  # fails the Modulus 11 check
)


def inject(rows: list[Row], per_kind: int, rng: np.random.Generator) -> list[Row]:
    """Inject ``per_kind`` faults of each kind, each on a resident of its own; returns
    the rows (with inserted ones) in export order."""
    by_record: dict[str, list[Row]] = {}
    for r in rows:
        by_record.setdefault(r.record, []).append(r)
    free = [k for k, rs in by_record.items() if sum(r.table == "follow_up" for r in rs) == 2
            and any(r.table == "fall_log" for r in rs)]  # fmt: skip
    order = rng.permutation(len(free))
    chosen = iter([free[i] for i in order])
    inserted: dict[int, list[Row]] = {}  # after this row (id) -> new rows

    def fault(row: Row, kind: str, rule: str, fld: str, detail: str) -> None:
        row.faults.append({"kind": rule, "fault": kind, "field": fld, "detail": detail})

    def of(rid: str, table: str, n: int = 0) -> Row:
        return [r for r in by_record[rid] if r.table == table][n]

    for kind in FAULT_KINDS:
        for _ in range(per_kind):
            rid = next(chosen)
            base, fu, fu12 = of(rid, "participants"), of(rid, "follow_up"), of(rid, "follow_up", 1)
            fall = of(rid, "fall_log")
            if kind == "out_of_vocabulary":
                base.cells["sex"] = "3"
                fault(base, kind, kind, "sex", "sex '3' is not a choice (1 Female, 2 Male)")
            elif kind == "checkbox_value":
                col = checkbox_column("fall_actions", "2")
                fall.cells[col] = "2"
                fault(fall, kind, "out_of_vocabulary", "fall_actions_2", f"{col} = 2")
            elif kind == "invalid_value":
                fu.cells["barthel"] = "fifteen"
                fault(fu, kind, kind, "barthel", "barthel 'fifteen' (text in an integer field)")
            elif kind == "impossible_date":
                fu.cells["fu_date"] = fu.cells["fu_date"][:5] + "02-30"
                fault(fu, kind, kind, "fu_date", "fu_date on 30 February")
            elif kind == "above_max":
                fu.cells["barthel"] = "27"
                fault(fu, kind, "out_of_range", "barthel", "barthel 27 above the maximum 20")
            elif kind == "below_min":
                fu.cells["fesi_2"] = "0"
                fault(fu, kind, "out_of_range", "fesi_2", "fesi_2 0 below the minimum 1")
            elif kind == "missing_value":
                fu.cells["fu_date"] = ""
                fault(fu, kind, kind, "fu_date", "required fu_date empty")
            elif kind == "required_if":
                fu.cells["hosp_admission"], fu.cells["hosp_nights"] = "1", ""
                fault(fu, kind, "missing_value", "hosp_nights",
                      "hosp_nights empty though hosp_admission = 1 shows it")  # fmt: skip
            elif kind == "unchecked_requirement":
                fu.cells["frailty"] = ""
                fault(fu, kind, kind, "frailty", "frailty empty; its branching logic uses datediff")
            elif kind == "unmatched_row":
                extra = Row(dict(fu.cells, redcap_event_name="month_9_arm_1"), rid,
                            "month_9_arm_1", "")  # fmt: skip
                fault(
                    extra, kind, kind, "redcap_event_name", "event month_9_arm_1 not in the project"
                )
                inserted.setdefault(id(fu), []).append(extra)
            elif kind == "duplicate_instance":
                extra = Row(dict(fall.cells), rid, fall.event, "fall_log")
                fault(extra, kind, kind, "record_id", "the same record, event and instance twice")
                inserted.setdefault(id(fall), []).append(extra)
            elif kind == "duplicate_event":
                cells = dict(fu12.cells, barthel=str((int(fu12.cells["barthel"]) + 3) % 21))
                extra = Row(cells, rid, fu12.event, "follow_up")
                fault(extra, kind, kind, "record_id", "the same record and event twice")
                inserted.setdefault(id(fu12), []).append(extra)
            elif kind == "unknown_participant":
                orphan = str(int(rid) + 900)
                cells = dict(fu.cells, record_id=orphan)
                extra = Row(cells, orphan, fu.event, "follow_up")
                fault(extra, kind, kind, "record_id",
                      f"record {orphan} has a follow-up but no baseline row")  # fmt: skip
                inserted.setdefault(id(by_record[rid][-1]), []).append(extra)
            elif kind == "unknown_cluster":
                base.cells["care_home"] = base.cells["care_home"][:4] + "99"
                fault(
                    base,
                    kind,
                    kind,
                    "care_home",
                    f"care home {base.cells['care_home']} not randomised",
                )
            elif kind == "nhs_number_invalid":
                digits = base.cells["nhs_no"]
                base.cells["nhs_no"] = digits[:9] + str((int(digits[9]) + 1) % 10)
                fault(base, kind, kind, "nhs_number", "NHS number fails the Modulus 11 check")
            if kind in ("out_of_vocabulary", "unknown_cluster", "nhs_number_invalid"):
                for r in by_record[rid]:  # the participant is quarantined: so are their rows
                    if r.table not in ("participants", ""):
                        fault(r, "cascade", "unknown_participant", "record_id",
                              "a record of a quarantined participant")  # fmt: skip
    out = []
    for r in rows:
        out.append(r)
        out += inserted.get(id(r), [])
    for r in inserted.get(-1, []):
        out.append(r)
    return out


# ------------------------------------------------------------------ writing
def _csv(rows: list[dict[str, str]] | list[list[str]], header: list[str] | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header is not None:
        w.writerow(header)
    for r in rows:
        w.writerow([r.get(c, "") for c in header] if isinstance(r, dict) and header else r)
    return buf.getvalue()


def generate(
    out: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    participants: int = DEFAULT_PARTICIPANTS,
    fault_rate: float = DEFAULT_FAULT_RATE,
) -> Path:
    """Write the synthetic STEADY REDCap project to ``out`` (see the module docstring).

    ``fault_rate`` 0 gives a clean project; otherwise each fault kind of
    :data:`FAULT_KINDS` is injected ``max(1, round(fault_rate * participants / 2))``
    times, each on a resident of its own.
    """
    if not 0.0 <= fault_rate < 0.5:
        raise ValueError("fault_rate must be in [0, 0.5)")
    if participants < MIN_PARTICIPANTS:
        raise ValueError(f"participants must be at least {MIN_PARTICIPANTS}")
    out = Path(out)
    r_home, r_people, r_fault = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    prm = Parameters()
    homes = cluster_table(r_home)
    allocation = randomise(homes)
    arm = dict(
        zip(allocation.allocation[ds.RANDOMISE["id"]], allocation.allocation["arm"], strict=True)
    )
    rows = residents(participants, homes, arm, prm, r_people)
    per_kind = 0 if fault_rate == 0 else max(1, round(fault_rate * participants / 2))
    rows = inject(rows, per_kind, r_fault) if per_kind else rows
    dictionary = ds.dictionary_rows()
    columns = _columns(dictionary)
    with atomic_folder(out, kind=SYNTH_KIND, error=ConfigError) as tmp:
        red = tmp / ds.REDCAP_DIR
        red.mkdir()
        (red / DICTIONARY_FILE).write_text(
            _csv(dictionary, list(ds.DICTIONARY_HEADER)), encoding="utf-8-sig", newline=""
        )
        (red / DESIGNATIONS_FILE).write_text(
            _csv([["1", e, f] for e, f in ds.DESIGNATIONS], ["arm_num", "unique_event_name", "form"]),
            encoding="utf-8", newline="",
        )  # fmt: skip
        (red / RECORDS_FILE).write_text(
            _csv([r.cells for r in rows], columns), encoding="utf-8-sig", newline=""
        )
        rnd = tmp / ds.RANDOMISATION_DIR
        rnd.mkdir()
        (rnd / ds.CLUSTER_TABLE).write_text(homes.to_csv(index=False, lineterminator="\n"))
        allocation.write(rnd, source=rnd / ds.CLUSTER_TABLE)
        truth = _truth(seed, participants, fault_rate, prm, rows, arm)
        (tmp / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
        (tmp / "trial.toml").write_text(trial_definition(tmp), encoding="utf-8", newline="\n")
    return out


def init_options(folder: Path) -> Any:
    """The ``odtrial init`` options of the project in ``folder``."""
    from odtrial.redcap.init import InitOptions

    red = folder / ds.REDCAP_DIR
    return InitOptions(
        dictionary=red / DICTIONARY_FILE,
        records=red / RECORDS_FILE,
        events=red / DESIGNATIONS_FILE,
        randomisation=folder / ds.RANDOMISATION_DIR,
        cluster_field="care_home",
        name="STEADY: strength and balance exercise in care homes (synthetic)",
        test_key=ds.TEST_KEY,
    )


def trial_definition(folder: Path) -> str:
    """The ``trial.toml`` ``odtrial init`` writes for the project in ``folder``."""
    from odtrial.redcap.dictionary import read_dictionary
    from odtrial.redcap.init import build
    from odtrial.redcap.records import read_records

    opts = init_options(folder)
    d = read_dictionary(opts.dictionary)
    text, _ = build(folder, opts, d, read_records(opts.records, d))
    return text


def _truth(
    seed: int,
    n: int,
    fault_rate: float,
    prm: Parameters,
    rows: list[Row],
    arm: dict[str, str],
) -> dict[str, Any]:
    faults = []
    for pos, r in enumerate(rows, start=1):
        for f in r.faults:
            faults.append(
                {
                    "file": f"{ds.REDCAP_DIR}/{RECORDS_FILE}",
                    "source_row": pos,
                    "record": r.record,
                    "event": r.event,
                    "table": r.table or None,
                    "trust": r.cells["redcap_data_access_group"],
                    **f,
                }
            )
    kinds: dict[str, int] = {}
    for f in faults:
        kinds[f["fault"]] = kinds.get(f["fault"], 0) + 1
    return {
        "what": "Synthetic STEADY cluster randomised trial (a REDCap project) generated by "
        "odtrial.synth.redcap. Not real data.",
        "seed": seed,
        "participants": n,
        "fault_rate": fault_rate,
        "data_cutoff": ds.DATA_CUTOFF.isoformat(),
        "pseudonymisation_test_key": ds.TEST_KEY,
        "randomisation": {
            k: list(v) if isinstance(v, tuple) else v for k, v in ds.RANDOMISE.items()
        },
        "arms": arm,
        "parameters": prm.__dict__,
        "rows": len(rows),
        "nhs_numbers": "test range 999 000 0000 - 999 999 9999, valid Modulus 11",
        "fault_policy": "each fault on a resident of its own; a fault quarantining a "
        "resident's baseline record (kinds out_of_vocabulary, unknown_cluster, "
        "nhs_number_invalid) is followed by kind unknown_participant (fault 'cascade') on "
        "each of their other rows",
        "fault_counts": dict(sorted(kinds.items())),
        "faults": faults,
    }
