"""Costs: resource use times unit costs, in one price year, per participant.

Two configuration tables drive it, both versioned files a trial keeps beside
its analysis plan (TOML or CSV):

* a unit-cost table: one row per resource item with ``item``, ``unit``,
  ``cost``, ``price_year``, ``source`` and optionally ``category`` (e.g.
  "primary care"; the item itself if absent). Sources are PSSRU Unit Costs of
  Health and Social Care, the NHS National Cost Collection, the Drug Tariff or
  BNF; the table records which.
* a price index: one value per year (e.g. the NHS cost inflation index), used
  to move each unit cost from its own price year to the analysis's.

Unit-cost TOML::

    version = "1"
    [[item]]
    item = "physiotherapy_session"
    unit = "one-to-one session (30 min)"
    cost = 55.0
    price_year = 2021
    source = "where the figure comes from (table and year)"
    category = "community_care"

Price-index TOML::

    name = "NHS cost inflation index (pay and prices)"
    source = "PSSRU 2023, Table 13.1"
    [index]
    2021 = 100.0
    2022 = 103.9

Costs accrued after the first year are discounted like QALYs (3.5% a year,
year by year) when a time column is given.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from odtrial.econ._errors import EconError
from odtrial.econ.qaly import discount_factor

UNIT_COST_COLUMNS = ("item", "unit", "cost", "price_year", "source")


@dataclass(frozen=True)
class UnitCost:
    """The cost of one unit of a resource item, in its own price year."""

    item: str
    unit: str
    cost: float
    price_year: int
    source: str
    category: str


@dataclass(frozen=True)
class PriceIndex:
    """A price index by year, to move costs between price years."""

    name: str
    source: str
    values: Mapping[int, float]

    def factor(self, from_year: int, to_year: int) -> float:
        """Multiply a cost in ``from_year`` prices by this to get ``to_year`` prices."""
        for y in (from_year, to_year):
            if y not in self.values:
                have = ", ".join(str(k) for k in sorted(self.values))
                raise EconError(f"price index {self.name!r} has no value for {y} (has {have})")
        return self.values[to_year] / self.values[from_year]

    @classmethod
    def from_frame(
        cls, df: pd.DataFrame, *, name: str = "price index", source: str = ""
    ) -> PriceIndex:
        """From a table with columns ``year`` and ``index``."""
        _need(df, ("year", "index"), "price index")
        vals: dict[int, float] = {}
        for y, v in zip(df["year"], df["index"], strict=True):
            v = float(v)
            if not np.isfinite(v) or v <= 0:
                raise EconError(f"price index {name!r}: value for {y} must be positive, got {v}")
            vals[int(y)] = v
        return cls(name=name, source=source, values=MappingProxyType(vals))


@dataclass(frozen=True)
class UnitCostTable:
    """A versioned table of unit costs, keyed by item."""

    version: str
    items: Mapping[str, UnitCost]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", MappingProxyType(dict(self.items)))

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, version: str) -> UnitCostTable:
        """From a table with columns item, unit, cost, price_year, source [, category]."""
        _need(df, UNIT_COST_COLUMNS, f"unit-cost table {version!r}")
        items: dict[str, UnitCost] = {}
        for pos, row in enumerate(df.to_dict("records")):
            item = str(row["item"]).strip()
            if item in items:
                raise EconError(f"unit-cost table {version!r}: item {item!r} appears twice")
            cost = pd.to_numeric(row["cost"], errors="coerce")
            if not np.isfinite(cost) or cost < 0:
                raise EconError(
                    f"unit-cost table {version!r}, row {pos} ({item}): cost must be a "
                    f"non-negative number, got {row['cost']!r}"
                )
            year = pd.to_numeric(row["price_year"], errors="coerce")
            if not np.isfinite(year) or not float(year).is_integer():
                raise EconError(
                    f"unit-cost table {version!r}, row {pos} ({item}): price_year must be a "
                    f"year, got {row['price_year']!r}"
                )
            source = row["source"]
            if (
                source is None
                or (isinstance(source, float) and np.isnan(source))
                or not str(source).strip()
            ):
                raise EconError(f"unit-cost table {version!r}, row {pos} ({item}): give its source")
            cat = row.get("category")
            category = (
                item if cat is None or (isinstance(cat, float) and np.isnan(cat)) else str(cat)
            )
            items[item] = UnitCost(
                item=item,
                unit=str(row["unit"]),
                cost=float(cost),
                price_year=int(year),
                source=str(source),
                category=category,
            )
        return cls(version=version, items=items)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [vars(u) for u in self.items.values()],
            columns=[*UNIT_COST_COLUMNS, "category"],
        )

    def costs_in(
        self, price_year: int, index: PriceIndex | None, items: Sequence[str] | None = None
    ) -> dict[str, float]:
        """Each item's (or each of ``items``') unit cost in ``price_year`` prices."""
        out = {}
        for k in self.items if items is None else items:
            u = self.items[k]
            if u.price_year == price_year:
                out[k] = u.cost
            elif index is None:
                raise EconError(
                    f"unit cost of {k!r} is in {u.price_year} prices, not {price_year}: "
                    "give a price index to inflate it"
                )
            else:
                out[k] = u.cost * index.factor(u.price_year, price_year)
        return out


def load_unit_costs(path: str | PathLike[str]) -> UnitCostTable:
    """Read a unit-cost table from TOML (``version`` and ``[[item]]``) or CSV.

    A CSV has no version field: its version is the file name (keep a dated
    name, e.g. ``unit_costs_2025-1.csv``).
    """
    p = Path(path)
    try:
        if p.suffix.lower() == ".toml":
            raw = tomllib.loads(p.read_text("utf-8"))
            if "version" not in raw or "item" not in raw:
                raise EconError(f"{p}: a unit-cost TOML needs 'version' and [[item]] tables")
            return UnitCostTable.from_frame(pd.DataFrame(raw["item"]), version=str(raw["version"]))
        return UnitCostTable.from_frame(pd.read_csv(p), version=p.stem)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise EconError(f"cannot read unit costs {p}: {e}") from None


def load_intervention_costs(path: str | PathLike[str]) -> dict[str, float]:
    """Read the intervention's cost to each of its clusters from a CSV with columns
    ``cluster_id`` and ``cost`` (others, such as a source, are kept out): cluster id to
    cost, in the analysis's price year. Each cluster once; costs finite and not negative."""
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype={"cluster_id": str})
    except (OSError, ValueError) as e:
        raise EconError(f"cannot read intervention costs {p}: {e}") from None
    absent = [c for c in ("cluster_id", "cost") if c not in df.columns]
    if absent:
        raise EconError(
            f"{p}: intervention costs need columns cluster_id and cost; missing {absent} "
            f"(has {list(df.columns)})"
        )
    ids = df["cluster_id"].astype("string").str.strip()
    cost = pd.to_numeric(df["cost"], errors="coerce")
    bad = ids.isna() | (ids == "") | cost.isna() | ~np.isfinite(cost) | (cost < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # the file's line
        raise EconError(
            f"{p} line {row}: a cluster id and a cost of 0 or more are needed, got "
            f"{df['cluster_id'].iloc[row - 2]!r} and {df['cost'].iloc[row - 2]!r}"
        )
    twice = ids[ids.duplicated()]
    if len(twice):
        raise EconError(f"{p}: cluster {twice.iloc[0]!r} has more than one cost")
    return dict(zip(ids.tolist(), cost.astype(float).tolist(), strict=True))


def load_price_index(path: str | PathLike[str]) -> PriceIndex:
    """Read a price index from TOML (``name``, ``source``, ``[index]``) or CSV (year, index)."""
    p = Path(path)
    try:
        if p.suffix.lower() == ".toml":
            raw = tomllib.loads(p.read_text("utf-8"))
            if "index" not in raw:
                raise EconError(f"{p}: a price-index TOML needs an [index] table (year = value)")
            df = pd.DataFrame({"year": list(raw["index"]), "index": list(raw["index"].values())})
            try:
                df["year"] = df["year"].astype(int)
            except ValueError:
                raise EconError(f"{p}: [index] keys must be years") from None
            return PriceIndex.from_frame(
                df, name=str(raw.get("name", p.stem)), source=str(raw.get("source", ""))
            )
        return PriceIndex.from_frame(pd.read_csv(p), name=p.stem)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise EconError(f"cannot read price index {p}: {e}") from None


def participant_costs(
    resource_use: pd.DataFrame,
    unit_costs: UnitCostTable,
    *,
    price_year: int,
    price_index: PriceIndex | None = None,
    participants: Sequence[Any] | pd.Index | None = None,
    participant: str = "participant",
    item: str = "item",
    quantity: str = "quantity",
    time: str | None = None,
    discount: float = 0.035,
) -> pd.DataFrame:
    """Per-participant costs by category and in total, in ``price_year`` prices.

    Parameters
    ----------
    resource_use
        Long table: one row per participant, item (and time), with the
        quantity used.
    unit_costs, price_year, price_index
        Unit costs, the common price year, and the index to reach it.
    participants
        Everyone in the analysis; those with no resource-use rows cost 0.
        Default: the participants that appear in ``resource_use``.
    time
        Column with the time of use in years from randomisation: costs after
        the first year are discounted at ``discount`` a year.

    Returns
    -------
    pandas.DataFrame
        Indexed by participant: one column per category (sorted) and
        ``total``. A missing quantity makes its category and the total
        missing for that participant (impute, do not assume zero).
    """
    cols = [participant, item, quantity] + ([time] if time else [])
    _need(resource_use, cols, "resource use")
    unknown = sorted(set(resource_use[item].astype(str)) - set(unit_costs.items))
    if unknown:
        first = unknown[0]
        close = difflib.get_close_matches(first, list(unit_costs.items), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EconError(
            f"resource use has item(s) with no unit cost in table {unit_costs.version!r}: "
            f"{', '.join(map(repr, unknown))}{hint}"
        )
    q = pd.to_numeric(resource_use[quantity], errors="coerce")
    bad = resource_use[quantity].notna() & (q.isna() | (q < 0))
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise EconError(
            f"resource use quantity must be a non-negative number; row {pos} has "
            f"{resource_use[quantity].tolist()[pos]!r}"
        )
    items = resource_use[item].astype(str)
    unit = unit_costs.costs_in(price_year, price_index, sorted(set(items)))
    cost = q * items.map(unit)
    if time is not None:
        cost = cost * discount_factor(pd.to_numeric(resource_use[time], errors="coerce"), discount)
    cats = items.map({k: u.category for k, u in unit_costs.items.items()})
    frame = pd.DataFrame({"p": resource_use[participant].to_numpy(), "cat": cats, "cost": cost})
    wide = frame.pivot_table(
        index="p",
        columns="cat",
        values="cost",
        aggfunc=lambda s: s.sum(min_count=len(s)),
        dropna=False,
    )
    categories = sorted({u.category for u in unit_costs.items.values()})
    wide = wide.reindex(columns=categories)
    seen = wide.index
    wide = wide.fillna(0.0)  # categories a participant did not use
    # put back the missing ones: a category is missing where any of its quantities is
    miss = frame[frame["cost"].isna()][["p", "cat"]].drop_duplicates()
    for p, c in miss.itertuples(index=False, name=None):
        wide.loc[p, c] = np.nan
    if participants is not None:
        extra = sorted(set(seen) - set(participants), key=str)
        if extra:
            raise EconError(f"resource use for participants not in the analysis: {extra[:5]}")
        wide = _reindex_keep_nan(wide, participants)
    wide["total"] = wide[categories].sum(axis=1, min_count=len(categories))
    wide.index.name = participant
    wide.columns.name = None
    return wide


def _reindex_keep_nan(wide: pd.DataFrame, participants: Sequence[Any] | pd.Index) -> pd.DataFrame:
    out = wide.reindex(pd.Index(participants))
    absent = ~out.index.isin(wide.index)
    out.loc[absent] = 0.0
    return out


def intervention_costs(
    participants: pd.DataFrame,
    cost_per_cluster: float | Mapping[Any, float],
    *,
    cluster: str = "cluster",
    treat: str = "treat",
    treated: Any = 1,
    cluster_size: Mapping[Any, float] | None = None,
) -> pd.Series:
    """Each participant's share of the intervention's cost to their cluster.

    The cost of delivering the intervention in a cluster (training, a team,
    supervision), one value for all clusters or one per cluster, is shared
    equally by the people it serves: ``cluster_size`` (the cluster's
    caseload) when given, else the cluster's trial participants. Control
    clusters get 0.
    """
    _need(participants, (cluster, treat), "participants")
    arm = participants[treat] == treated
    if not arm.any():
        raise EconError(f"no participant has {treat} == {treated!r}")
    cl = participants[cluster]
    if isinstance(cost_per_cluster, Mapping):
        missing = sorted(set(cl[arm]) - set(cost_per_cluster), key=str)
        if missing:
            raise EconError(f"no intervention cost for cluster(s) {missing[:5]}")
        per_cluster = cl.map(cost_per_cluster).astype(float)
    else:
        per_cluster = pd.Series(float(cost_per_cluster), index=participants.index)
    if cluster_size is None:
        size = cl.map(cl[arm].value_counts()).astype(float)
    else:
        missing = sorted(set(cl[arm]) - set(cluster_size), key=str)
        if missing:
            raise EconError(f"no cluster size for cluster(s) {missing[:5]}")
        size = cl.map(cluster_size).astype(float)
    share = (per_cluster / size).where(arm, 0.0)
    return share.rename("intervention")


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise EconError(f"{what} needs column(s) {missing}; has {list(df.columns)}")
