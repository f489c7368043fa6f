"""The randomisation record as ``odtrial init`` reads it, and each cluster's site.

The record gives the arms, the clusters with their strata, and (from the cluster table
it randomised, kept in its folder or beside it) the balance variables and, best, a
column of data access group names saying each cluster's site; without one, a
cluster's site is where its participants' baseline records are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from odtrial.errors import ConfigError
from odtrial.redcap.fields import TablePlan
from odtrial.redcap.options import InitOptions
from odtrial.redcap.records import EVENT, Records


@dataclass(frozen=True)
class ClusterRecord:
    """What init takes from the randomisation record."""

    folder: Path
    head: str
    arms: tuple[str, str]
    id_col: str
    strata_col: str
    balance: tuple[str, ...]
    table: pd.DataFrame  # id, stratum, balance columns (+ the cluster table's others)

    @property
    def ids(self) -> list[str]:
        return self.table[self.id_col].tolist()


def read_randomisation(folder: Path, warnings: list[str]) -> ClusterRecord:
    from odtrial.randomise.log import LOG_FILE, verify_allocation

    if not Path(folder).is_dir():
        raise ConfigError(f"--randomisation {folder}: not a folder written by odtrial randomise")
    v = verify_allocation(folder)
    prm = v.parameters
    id_col, strata = str(prm["id"]), str(prm["strata"])
    balance = tuple(str(b) for b in prm["balance"])
    table = v.allocation.astype({id_col: str, strata: str})
    source = None
    for line in (Path(folder) / LOG_FILE).read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("event") == "inputs":
            source = entry["data"].get("source")
            break
    # the cluster table randomised: kept in the record's folder, or beside it
    found = [p / source for p in (Path(folder), Path(folder).parent) if source] if source else []
    found = [f for f in found if f.is_file()]
    if found:
        src = pd.read_csv(found[0], dtype=str, keep_default_na=False)
        table = table.drop(columns=[strata]).merge(src, on=id_col, how="left")
    else:  # no cluster table: the clusters and strata of allocation.csv, no balance values
        warnings.append(
            f"the cluster table the record randomised ({source or 'not named'}) is neither in "
            f"{folder} nor beside it: the clusters' balance variables are left out"
        )
        balance = ()
    return ClusterRecord(Path(folder), v.head, v.arms, id_col, strata, balance, table)


def norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def cluster_sites(
    options: InitOptions,
    rec: Records,
    dags: list[str],
    record: ClusterRecord,
    participants: TablePlan,
    warnings: list[str],
) -> tuple[list[str], dict[str, str]]:
    """The trusts (data access groups) and each cluster's trust."""
    ids = record.ids
    if not dags:
        return ["site"], {c: "site" for c in ids}
    by_norm = {norm(g): g for g in dags}
    t = record.table
    skip = {record.id_col, *record.balance, "arm"}
    for col in [c for c in t.columns if c not in skip]:
        vals = t[col].astype(str)
        if len(vals) and all(norm(v) in by_norm for v in vals):
            return sorted(dags), {
                c: by_norm[norm(v)] for c, v in zip(t[record.id_col], vals, strict=True)
            }
    # else: where each cluster's participants are
    cl = next(f for f in participants.fields if f.name == participants.roles["cluster"])
    f = rec.frame
    base = participants.where.get(EVENT)
    if base is not None:
        f = f[f[EVENT].isin([base] if isinstance(base, str) else base)]
    values = f[cl.source].map(lambda v: str(cl.codes.get(v, v)))
    counts = pd.crosstab(values, f[options.site_field])
    out = {}
    for c in ids:
        if c in counts.index:
            out[c] = str(counts.loc[c].idxmax())
    strata = dict(zip(t[record.id_col], t[record.strata_col], strict=True))
    for c in ids:
        if c not in out:
            peers = [out[o] for o in ids if o in out and strata[o] == strata[c]]
            if not peers:
                raise ConfigError(
                    f"cannot tell which data access group cluster {c!r} belongs to (no "
                    "participant yet): add a column of data access group names to the "
                    "randomisation record's cluster table"
                )
            out[c] = peers[0]
    warnings.append(
        "each cluster's site is where its participants are (the cluster table has no "
        "column of data access group names)"
    )
    return sorted(dags), out
