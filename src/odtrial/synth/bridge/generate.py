"""BRIDGE's orchestrator: design -> participants -> outcomes -> tables -> faults -> files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from odtrial._io import atomic_folder
from odtrial.errors import ConfigError
from odtrial.synth.bridge import design
from odtrial.synth.bridge.definition import trial_toml
from odtrial.synth.bridge.econ import (
    PRICE_INDEX_TOML,
    UNIT_COSTS_TOML,
    econ_tables,
    econ_truth,
)
from odtrial.synth.bridge.faults import Fault, cascade_to, inject
from odtrial.synth.bridge.outcomes import (
    Outcomes,
    Parameters,
    implied_estimands,
    person_outcomes,
    truth_parameters,
)
from odtrial.synth.bridge.population import (
    MIN_CLUSTER_SIZE,
    Clusters,
    Participants,
    Randomisation,
    make_clusters,
    make_participants,
)
from odtrial.synth.bridge.tables import build_tables
from odtrial.synth.bridge.writers import render, write
from odtrial.synth.events import add_months
from odtrial.synth.population import day

SYNTH_KIND = "a synthetic trial"
DEFAULT_SEED = 20250331
DEFAULT_PARTICIPANTS = 360
DEFAULT_FAULT_RATE = 0.01
MIN_PARTICIPANTS = MIN_CLUSTER_SIZE * len(design.LOCALITIES) * design.CLUSTERS_PER_LOCALITY
RECRUIT_START = date(2022, 2, 1)
RECRUIT_END = date(2023, 1, 31)
# The last 24-month interview window closes 2025-04-01; the cut-off leaves three months.
DEFAULT_CUTOFF = date(2025, 6, 30)


def generate(
    out: str | Path,
    *,
    seed: int = DEFAULT_SEED,
    participants: int = DEFAULT_PARTICIPANTS,
    fault_rate: float = DEFAULT_FAULT_RATE,
) -> Path:
    """Write the synthetic BRIDGE trial (extracts, ``trial.toml``, ``truth.json`` and the
    randomisation record) to ``out``, whole.

    Parameters
    ----------
    out
        Folder to write (new, or one odtrial wrote; files a user added are kept).
    seed
        Seed of everything; the same seed gives the same bytes.
    participants
        Number of participants (at least :data:`MIN_PARTICIPANTS`).
    fault_rate
        Share of records given one injected fault (0: a clean trial); cascaded
        ``unknown_participant`` records are extra.

    Returns
    -------
    Path
        ``out``.
    """
    if not 0.0 <= fault_rate < 0.5:
        raise ValueError("fault_rate must be in [0, 0.5)")
    out = Path(out)
    cutoff_d = DEFAULT_CUTOFF
    cutoff = day(cutoff_d)
    ss = np.random.SeedSequence(seed)
    r_cl, r_pt, r_out, r_tab, r_flt, r_imp = (np.random.default_rng(s) for s in ss.spawn(6))
    ex = design.extracts(cutoff_d.isoformat(), cutoff_d.strftime("%Y%m%d"))
    site_ex = [ex[s.id] for s in design.SITES]

    clusters, randomisation = make_clusters(r_cl)
    p = make_participants(participants, clusters, day(RECRUIT_START), day(RECRUIT_END), r_pt)
    prm = Parameters()
    o = person_outcomes(p, clusters.id.size, prm, r_out)
    tables = build_tables(p, o, prm, ex, r_tab)
    tables["participants"]["cluster_id"] = clusters.id[p.cluster].astype(object)
    for t in tables.values():
        t["_rid"] = np.arange(len(t))
    fu_end = add_months(p.consent, design.FOLLOW_UP_MONTHS)
    interviews = tables["phq9"].copy()  # before faults: the follow-up EQ-5D questionnaires
    tables, faults = inject(tables, p, clusters, fu_end, cutoff, site_ex, fault_rate, r_flt)
    # the economic tables: their own stream (the others stay as they were), no faults of
    # their own; a lost participant's records cascade as the interviews' do
    r_econ = np.random.default_rng(ss.spawn(1)[0])
    sends_contacts = np.asarray(["contacts" in e for e in site_ex])
    econ = econ_tables(p, int(clusters.id.size), interviews, sends_contacts, r_econ)
    for name, t in econ.items():
        t["_rid"] = np.arange(len(t))
        link = design.TABLES[name].roles["link"]
        faults += cascade_to(faults, tables["participants"], name, t, link)
    tables_all = {**tables, **econ}

    by_key: dict[tuple[str, int], list[Fault]] = {}
    for f in faults:
        by_key.setdefault((f.table, f.rid), []).append(f)
    records: list[dict[str, Any]] = []
    with atomic_folder(out, kind=SYNTH_KIND, error=ConfigError) as tmp:
        for si, site in enumerate(design.SITES):
            for table, e in site_ex[si].items():
                t = tables_all[table]
                rows = t[t["_site"] == si].sort_values(
                    [design.SORT_DATE[table], "_pid", "_rid"], kind="stable", na_position="last"
                )
                rel = f"{site.directory}/{e.file}"
                overrides: dict[int, dict[str, Any]] = {}
                malformed: set[int] = set()
                for pos, rid in enumerate(rows["_rid"].tolist()):
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
                                "trust": site.id,
                                "kind": f.kind,
                                "field": f.field,
                                "detail": f.detail,
                            }
                        )
                frame = render(rows, table, e, overrides=overrides)
                write(frame, tmp / rel, table, e, malformed=malformed, stamp=cutoff_d)
        _write_randomisation(tmp / design.RANDOMISATION_DIR, randomisation)
        (tmp / "trial.toml").write_text(
            trial_toml(data_cutoff=cutoff_d, clusters=clusters.as_config(), ex=ex, seed=seed),
            encoding="utf-8",
            newline="\n",
        )
        records.sort(key=lambda r: (r["file"], r["source_row"], r["kind"]))
        sends = np.asarray(["scripts" in e for e in site_ex])
        linked = (p.nhs != "") & sends[p.site]
        truth = _truth(
            seed,
            participants,
            fault_rate,
            cutoff_d,
            clusters,
            p,
            o,
            prm,
            tables,
            records,
            linked,
            r_imp,
        )
        truth["rows"] |= {k: len(v) for k, v in econ.items()}
        truth["health_economics"] = econ_truth(p, int(clusters.id.size), sends_contacts, r_econ)
        (tmp / design.UNIT_COSTS).write_text(UNIT_COSTS_TOML, encoding="utf-8", newline="\n")
        (tmp / design.PRICE_INDEX).write_text(PRICE_INDEX_TOML, encoding="utf-8", newline="\n")
        (tmp / "truth.json").write_text(
            json.dumps(truth, indent=1) + "\n", encoding="utf-8", newline="\n"
        )
    return out


def _write_randomisation(folder: Path, randomisation: Randomisation) -> None:
    """The record as ``odtrial randomise`` writes it, with the cluster table it randomised."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / design.RANDOMISATION_INPUT
    source.write_text(
        randomisation.table.to_csv(index=False, lineterminator="\n"), encoding="utf-8"
    )
    randomisation.allocation.write(folder, source=source)


def _truth(
    seed: int,
    n: int,
    fault_rate: float,
    cutoff: date,
    clusters: Clusters,
    p: Participants,
    o: Outcomes,
    prm: Parameters,
    tables: dict[str, pd.DataFrame],
    faults: list[dict[str, Any]],
    linked: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """``linked``: participants whose prescribing was extracted (an NHS number, a site
    that sends it)."""
    sizes = np.bincount(p.cluster, minlength=clusters.id.size)
    kinds: dict[str, int] = {}
    for f in faults:
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    draws = int(max(10, min(200, 2_000_000 // max(n, 1))))

    def by_arm(x: np.ndarray, keep: np.ndarray | None = None) -> dict[str, float]:
        k = np.ones(len(p), dtype=bool) if keep is None else keep
        return {
            design.ARMS[0]: round(float(x[k & p.treated].mean()), 4),
            design.ARMS[1]: round(float(x[k & ~p.treated].mean()), 4),
        }

    realised: dict[str, Any] = {
        "participants_by_arm": {
            design.ARMS[0]: int(p.treated.sum()),
            design.ARMS[1]: int((~p.treated).sum()),
        },
        "any_antidepressant_12m_linked": by_arm(o.any_ad_12m.astype(float), linked),
    }
    for m in o.phq_total:
        realised[f"phq9_{m}m_mean_interviewed"] = by_arm(o.phq_total[m], o.attended[m])
        realised[f"phq9_{m}m_missing"] = by_arm((~o.attended[m]).astype(float))
    return {
        "what": "Synthetic BRIDGE cluster randomised trial generated by odtrial.synth.bridge. "
        "Not real data.",
        "seed": seed,
        "participants": n,
        "fault_rate": fault_rate,
        "data_cutoff": cutoff.isoformat(),
        "recruitment": {"start": RECRUIT_START.isoformat(), "end": RECRUIT_END.isoformat()},
        "follow_up_months": design.FOLLOW_UP_MONTHS,
        "pseudonymisation_test_key": design.TEST_KEY,
        "nhs_numbers": "test range 999 000 0000 - 999 999 9999, valid Modulus 11; "
        "about 4% of participants give none (their prescribing is not linked)",
        "definitions": {
            "phq9_total": "sum of items q1..q9 (0..3 each) of the interview at the visit",
            "any_antidepressant_12m": "an antidepressant issue whose supply overlaps the 12 "
            "months after consent (GM and BNSSG only: NENC sends no prescribing)",
            "source_row": "1-based record position in the file (header not counted)",
        },
        "design": {
            "sites": len(design.SITES),
            "localities": len(design.LOCALITIES),
            "clusters": int(clusters.id.size),
            "clusters_per_arm": {
                design.ARMS[0]: int(clusters.treated.sum()),
                design.ARMS[1]: int((~clusters.treated).sum()),
            },
            "cluster_sizes": {str(c): int(s) for c, s in zip(clusters.id, sizes, strict=True)},
            "cluster_size_cv": round(float(sizes.std() / sizes.mean()), 4),
            "allocation": "odtrial.randomise.constrained: 2:2 within each locality, uniformly "
            "among the best-balanced 10% on practice size; record in "
            f"{design.RANDOMISATION_DIR}/",
        },
        "parameters": truth_parameters(prm),
        "implied": implied_estimands(p, clusters.id.size, prm, rng, draws=draws),
        "implied_note": "population-averaged contrasts standardised over this trial's "
        f"participants and {draws} draws of the random effects (Monte Carlo)",
        "realised_before_faults": realised,
        "rows": {k: len(v) for k, v in tables.items()},
        "fault_policy": "one fault per participant at most; faults quarantining a participant "
        "record are followed by kind unknown_participant for each of that participant's "
        "interviews and prescriptions (not counted in fault_rate); impossible dates are "
        "30 February in CSV files and after the data cut-off in Excel and SPSS files; "
        "malformed lines (CSV only) carry one extra field",
        "fault_counts": dict(sorted(kinds.items())),
        "faults": faults,
    }
