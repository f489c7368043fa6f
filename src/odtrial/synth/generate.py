"""The orchestrator: design -> participants -> outcomes -> events -> faults -> files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odtrial._io import atomic_folder
from odtrial.errors import ConfigError
from odtrial.synth import config as cfg
from odtrial.synth.econ import PRICE_INDEX_TOML, UNIT_COSTS_TOML, econ_tables, econ_truth
from odtrial.synth.events import add_months, build_tables
from odtrial.synth.faults import Fault, inject
from odtrial.synth.outcomes import Parameters, implied_estimands, person_outcomes, truth_parameters
from odtrial.synth.population import Randomisation, day, make_clusters, make_participants
from odtrial.synth.writers import render, write

SYNTH_KIND = "a synthetic trial"
DEFAULT_SEED = 20250630
DEFAULT_PARTICIPANTS = 640
DEFAULT_FAULT_RATE = 0.02
RECRUIT_START = date(2021, 3, 1)
RECRUIT_END = date(2022, 12, 31)
# Last 24-month window ends 2024-12-31; the cut-off leaves six months for data to arrive.
DEFAULT_CUTOFF = date(2025, 6, 30)

SORT_DATE = {
    "participants": "consent_date",
    "followup": "assessment_date",
    "admissions": "admission_date",
    "crisis_referrals": "referral_date",
    "prescriptions": "start_date",
    "eq5d": "assessment_date",
    "community_contacts": "contact_date",
}


def generate(
    out: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    participants: int = DEFAULT_PARTICIPANTS,
    fault_rate: float = DEFAULT_FAULT_RATE,
    data_cutoff: date | None = None,
) -> Path:
    """Write a synthetic six-trust trial (extracts, ``trial.toml``, ``truth.json``) to ``out``.

    Parameters
    ----------
    out
        Source folder to write, whole (:func:`odtrial._io.atomic_folder`): new, or one
        odtrial wrote, whose files it replaces; files a user added there are kept.
    seed
        Seed of everything (a numpy SeedSequence); the same seed gives the same files.
    participants
        Number of participants (at least 96; 100,000 makes the benchmark trial).
    fault_rate
        Share of records (rows over all five tables) that get one injected fault;
        0 gives a clean trial. Cascaded ``unknown_participant`` records are extra.
    data_cutoff
        Extract date; default 2025-06-30, six months after the last 24-month window.
        An earlier date censors administratively: later events are absent, later
        discharge/end dates empty.

    Returns
    -------
    Path
        ``out``.
    """
    if not 0.0 <= fault_rate < 0.5:
        raise ValueError("fault_rate must be in [0, 0.5)")
    out = Path(out)
    cutoff_d = data_cutoff or DEFAULT_CUTOFF
    if cutoff_d <= RECRUIT_END:
        raise ValueError(f"data_cutoff must be after the end of recruitment ({RECRUIT_END})")
    cutoff = day(cutoff_d)
    ss = np.random.SeedSequence(seed)
    r_cl, r_pt, r_out, r_ev, r_flt, r_rend, r_imp = (np.random.default_rng(s) for s in ss.spawn(7))

    clusters, randomisation = make_clusters(r_cl)
    p = make_participants(participants, clusters, day(RECRUIT_START), day(RECRUIT_END), r_pt)
    fu_end = add_months(p.consent, cfg.FOLLOW_UP_MONTHS)
    years = (fu_end - p.consent) / 365.25
    prm = Parameters()
    o = person_outcomes(p, clusters.id.size, years, prm, r_out)
    tables = build_tables(p, o, fu_end, r_ev)

    dialects = cfg.dialects(cutoff_d)
    trust_index = {d.trust: i for i, d in enumerate(dialects)}
    trust_of_pid = np.asarray(
        [trust_index[cfg.CATCHMENTS[k].trust] for k in range(len(cfg.CATCHMENTS))]
    )[p.catchment]
    for name, t in tables.items():
        pid = t["_pid"].to_numpy()
        t["_rid"] = np.arange(len(t))
        t["_trust"] = trust_of_pid[pid]
        if name != "participants":
            t.insert(1, "nhs_number", p.nhs[pid])
        else:
            t["cluster_id"] = clusters.id[t["cluster_id"].to_numpy()]
    if cutoff < int(fu_end.max()):
        tables = _censor(tables, cutoff)
    followup = tables["followup"].copy()  # before faults: the EQ-5D questionnaires' visits

    tables, faults = inject(tables, p, clusters, fu_end, cutoff, dialects, fault_rate, r_flt)
    # the economic tables: their own stream (the others stay as they were), no faults
    r_econ = np.random.default_rng(ss.spawn(1)[0])
    econ = econ_tables(p, int(clusters.id.size), fu_end, followup, cutoff, r_econ)
    for name, t in econ.items():
        pid = t["_pid"].to_numpy()
        t.insert(1, "nhs_number", p.nhs[pid])
        t["_rid"] = np.arange(len(t))
        t["_trust"] = trust_of_pid[pid]
        econ[name] = t

    by_key: dict[tuple[str, int], list[Fault]] = {}
    for f in faults:
        by_key.setdefault((f.table, f.rid), []).append(f)
    with atomic_folder(out, kind=SYNTH_KIND, error=ConfigError) as tmp:
        records: list[dict[str, Any]] = []
        for ti, d in enumerate(dialects):
            trust = cfg.TRUSTS[ti]
            for table in cfg.TABLE_SOURCE_NAMES:
                t = tables[table] if table in tables else econ[table]
                rows = t[t["_trust"] == ti]
                rows = rows.assign(_nhs=rows["nhs_number"]).sort_values(
                    [SORT_DATE[table], "_nhs", "_rid"], kind="stable", na_position="last"
                )
                rel = f"{trust.directory}/{d.files[table]}"
                overrides: dict[int, dict[str, Any]] = {}
                malformed: set[int] = set()
                for pos, rid in enumerate(rows["_rid"].to_numpy().tolist()):
                    for f in by_key.get((table, rid), ()):
                        if f.raw:
                            overrides[pos] = dict(f.raw)
                        if f.malformed:
                            malformed.add(pos)
                        records.append(
                            {
                                "file": rel,
                                "source_row": pos + 1,
                                "table": table,
                                "trust": d.trust,
                                "kind": f.kind,
                                "field": f.field,
                                "detail": f.detail,
                            }
                        )
                frame = render(rows, table, d, overrides=overrides, rng=r_rend)
                write(frame, tmp / rel, table, d, malformed=malformed, stamp=cutoff_d)

        _write_randomisation(tmp / cfg.RANDOMISATION_DIR, randomisation)
        (tmp / "trial.toml").write_text(
            cfg.trial_toml(
                data_cutoff=cutoff_d,
                clusters=clusters.as_config(),
                dialect_list=dialects,
                seed=seed,
            ),
            encoding="utf-8",
            newline="\n",
        )
        records.sort(key=lambda r: (r["file"], r["source_row"], r["kind"]))
        truth = _truth(
            seed, participants, fault_rate, cutoff_d, clusters, p, o, prm, tables, records, r_imp
        )
        truth["health_economics"] = econ_truth(
            p, int(clusters.id.size), prm, years, truth["implied"], r_econ
        )
        truth["health_economics"]["rows"] = {k: len(v) for k, v in econ.items()}
        (tmp / cfg.UNIT_COSTS).write_text(UNIT_COSTS_TOML, encoding="utf-8", newline="\n")
        (tmp / cfg.PRICE_INDEX).write_text(PRICE_INDEX_TOML, encoding="utf-8", newline="\n")
        (tmp / "truth.json").write_text(
            json.dumps(truth, indent=1) + "\n", encoding="utf-8", newline="\n"
        )
    return out


def _write_randomisation(folder: Path, randomisation: Randomisation) -> None:
    """The randomisation record as ``odtrial randomise`` writes it, with the cluster
    table it randomised (``clusters.csv``) kept beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / cfg.RANDOMISATION_INPUT
    text = randomisation.table.to_csv(index=False, lineterminator="\n")
    source.write_text(text, encoding="utf-8")
    randomisation.allocation.write(folder, source=source)


def _censor(tables: dict[str, pd.DataFrame], cutoff: int) -> dict[str, pd.DataFrame]:
    out = {}
    for name, t in tables.items():
        t = t[~(t[SORT_DATE[name]] > cutoff)].copy() if name != "participants" else t
        for col in ("discharge_date", "end_date"):
            if col in t:
                t.loc[t[col] > cutoff, col] = np.nan
        out[name] = t.reset_index(drop=True)
        out[name]["_rid"] = np.arange(len(out[name]))
    return out


def _truth(
    seed: int,
    n: int,
    fault_rate: float,
    cutoff: date,
    clusters: Any,
    p: Any,
    o: Any,
    prm: Parameters,
    tables: dict[str, pd.DataFrame],
    faults: list[dict[str, Any]],
    rng: np.random.Generator,
) -> dict[str, Any]:
    sizes = np.bincount(p.cluster, minlength=clusters.id.size)
    draws = int(max(10, min(100, 4_000_000 // max(n, 1))))
    kinds: dict[str, int] = {}
    for f in faults:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1

    def by_arm(x: np.ndarray) -> dict[str, float]:
        return {
            cfg.ARMS[0]: round(float(x[p.treated].mean()), 4),
            cfg.ARMS[1]: round(float(x[~p.treated].mean()), 4),
        }

    return {
        "what": "Synthetic POD cluster randomised trial generated by odtrial.synth. Not real data.",
        "seed": seed,
        "participants": n,
        "fault_rate": fault_rate,
        "data_cutoff": cutoff.isoformat(),
        "recruitment": {"start": RECRUIT_START.isoformat(), "end": RECRUIT_END.isoformat()},
        "follow_up_months": cfg.FOLLOW_UP_MONTHS,
        "pseudonymisation_test_key": cfg.TEST_KEY,
        "nhs_numbers": "test range 999 000 0000 - 999 999 9999, valid Modulus 11",
        "definitions": {
            "window": "consent_date to consent_date + 24 calendar months (month-end clipped)",
            "bed_days": "sum of (discharge_date - admission_date) over stays in the window",
            "any_antipsychotic": "a prescription of an antipsychotic in the window",
            "source_row": "1-based record position in the file (header not counted)",
        },
        "design": {
            "trusts": len(cfg.TRUSTS),
            "catchments": len(cfg.CATCHMENTS),
            "clusters": int(clusters.id.size),
            "clusters_per_arm": {
                cfg.ARMS[0]: int(clusters.treated.sum()),
                cfg.ARMS[1]: int((~clusters.treated).sum()),
            },
            "cluster_sizes": {str(c): int(s) for c, s in zip(clusters.id, sizes, strict=True)},
            "cluster_size_cv": round(float(sizes.std() / sizes.mean()), 4),
            "allocation": "odtrial.randomise.constrained: 1:1 within catchment, 16:16 overall, "
            "uniformly among the best-balanced 10% (l2, standardised list size and IMD); "
            f"record in {cfg.RANDOMISATION_DIR}/",
        },
        "parameters": truth_parameters(prm),
        "implied": implied_estimands(p, prm, rng, draws=draws),
        "implied_note": "population-averaged contrasts standardised over this trial's "
        f"participants and {draws} draws of the cluster effects (Monte Carlo)",
        "realised_before_faults": {
            "participants_by_arm": {
                cfg.ARMS[0]: int(p.treated.sum()),
                cfg.ARMS[1]: int((~p.treated).sum()),
            },
            "work_study_24m": by_arm(o.ws24.astype(float)),
            "any_admission_24m": by_arm(o.admitted.astype(float)),
            "bed_days_24m_mean": by_arm(o.bed_days.astype(float)),
            "any_antipsychotic_24m": by_arm(o.antipsychotic.astype(float)),
            "missing_24m": by_arm(o.miss24.astype(float)),
            "missing_12m": by_arm(o.miss12.astype(float)),
        },
        "rows": {k: len(v) for k, v in tables.items()},
        "fault_policy": "one fault per participant at most; faults quarantining a participant "
        "record are followed by kind unknown_participant for each of that participant's events "
        "(not counted in fault_rate); dates in binary formats are made impossible by a year "
        "after the data cut-off, in text formats by a non-existent day (30 February); "
        "malformed lines (CSV only) carry one extra field",
        "fault_counts": dict(sorted(kinds.items())),
        "faults": faults,
    }
