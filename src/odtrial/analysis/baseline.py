"""Baseline characteristics by arm, at cluster and at individual level.

CONSORT for cluster trials asks for both levels. Cells are display strings
(NIHR style: ``n (%)``, ``mean (SD)``, thousands separated); each row is
``{"characteristic": ..., "<arm>": ...}``. Percentages use the non-missing
count as denominator; a "missing" row appears whenever data are missing.

The trial-specific rows come from the trial definition: the cluster table's
stratum and balance variables (``[randomisation] strata``/``balance``) and the
individual table's extra participant fields (``[baseline] variables``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial.trial import BaselineVariable, ClusterVariable

#: NHS ethnic category codes grouped as the ONS 2001 census groups.
ETHNIC_GROUPS: Final = {
    **dict.fromkeys("ABC", "White"),
    **dict.fromkeys("DEFG", "Mixed"),
    **dict.fromkeys("HJKL", "Asian or Asian British"),
    **dict.fromkeys("MNP", "Black or Black British"),
    **dict.fromkeys("RS", "Other ethnic group"),
    "Z": "Not stated or not known",
    "99": "Not stated or not known",
}
ETHNIC_ORDER: Final = (
    "White",
    "Mixed",
    "Asian or Asian British",
    "Black or Black British",
    "Other ethnic group",
    "Not stated or not known",
)


def _mean_sd(x: pd.Series, nd: int = 1) -> str:
    x = pd.to_numeric(x, errors="coerce").dropna().astype(float)
    if len(x) == 0:
        return "–"
    sd = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
    sd_s = "–" if np.isnan(sd) else f"{sd:,.{nd}f}"
    return f"{float(x.mean()):,.{nd}f} ({sd_s})"


def _median_range(x: pd.Series) -> str:
    x = pd.to_numeric(x, errors="coerce").dropna().astype(float)
    if len(x) == 0:
        return "–"
    return f"{x.median():,.0f} ({x.min():,.0f} to {x.max():,.0f})"


def _n_pct(k: int, n: int) -> str:
    return f"{k:,} ({100 * k / n:.1f})" if n else "0"


def _rows(
    groups: Sequence[tuple[str, pd.DataFrame]],
    specs: Sequence[tuple[str, Callable[[pd.DataFrame], str]]],
) -> list[dict[str, Any]]:
    return [{"characteristic": label, **{arm: f(sub) for arm, sub in groups}} for label, f in specs]


def _categorical(
    groups: Sequence[tuple[str, pd.DataFrame]],
    title: str,
    values: Callable[[pd.DataFrame], pd.Series],
    order: Sequence[str],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"characteristic": title, **{arm: "" for arm, _ in groups}}]
    vals = {arm: values(sub) for arm, sub in groups}
    for level in order:
        rows.append(
            {
                "characteristic": f"  {level}",
                **{
                    arm: _n_pct(int((v == level).sum()), int(v.notna().sum()))
                    for arm, v in vals.items()
                },
            }
        )
    if any(v.isna().any() for v in vals.values()):
        rows.append(
            {
                "characteristic": "  Missing",
                **{a: f"{int(v.isna().sum()):,}" for a, v in vals.items()},
            }
        )
    return rows


def _nunique(col: str) -> Callable[[pd.DataFrame], str]:
    return lambda d: f"{d[col].nunique():,}"


def _mean_sd_of(col: str, nd: int) -> Callable[[pd.DataFrame], str]:
    return lambda d: _mean_sd(d[col], nd)


def cluster_table(
    clusters: pd.DataFrame,
    dataset: pd.DataFrame,
    arms: Sequence[str],
    *,
    strata: ClusterVariable | None = None,
    balance: Sequence[ClusterVariable] = (),
) -> list[dict[str, Any]]:
    """Cluster-level characteristics. ``clusters`` and ``dataset`` carry displayed arm codes.

    ``strata`` adds the number of strata represented, and each ``balance``
    variable its mean (SD), labelled as the trial definition labels them.
    """
    recruited = dataset.groupby("cluster_id").size()
    cl = clusters.assign(recruited=clusters["cluster_id"].map(recruited).fillna(0).astype(int))
    groups = [(a, cl if a == "all" else cl[cl["arm"] == a]) for a in arms]
    specs: list[tuple[str, Callable[[pd.DataFrame], str]]] = [
        ("Clusters, n", lambda d: f"{len(d):,}")
    ]
    if strata is not None:
        specs.append((f"{strata.label} represented, n", _nunique(strata.column)))
    specs += [
        ("GP practices, n", lambda d: f"{int(d['n_practices'].sum()):,}"),
        ("GP practices per cluster, mean (SD)", lambda d: _mean_sd(d["n_practices"])),
    ]
    specs += [(f"{b.label}, mean (SD)", _mean_sd_of(b.column, b.decimals)) for b in balance]
    specs += [
        ("Participants recruited per cluster, mean (SD)", lambda d: _mean_sd(d["recruited"])),
        (
            "Participants recruited per cluster, median (range)",
            lambda d: _median_range(d["recruited"]),
        ),
    ]
    return _rows(groups, specs)


def individual_table(
    dataset: pd.DataFrame, arms: Sequence[str], *, variables: Sequence[BaselineVariable] = ()
) -> list[dict[str, Any]]:
    """Individual-level characteristics of everyone recruited (``dataset`` has displayed arm codes).

    Age, sex, ethnic group and primary diagnosis, then each of ``variables``
    (the trial definition's ``[baseline] variables``): a binary one as Yes/No
    n (%), a continuous one as mean (SD).
    """
    groups = [(a, dataset if a == "all" else dataset[dataset["arm"] == a]) for a in arms]
    rows = _rows(
        groups,
        [
            ("Participants, n", lambda d: f"{len(d):,}"),
            ("Age at consent (years), mean (SD)", lambda d: _mean_sd(d["age_at_consent"])),
        ],
    )
    sexes = [s for s in ("female", "male", "other") if s in set(dataset["sex"].dropna())]
    sexes += sorted(set(dataset["sex"].dropna()) - set(sexes))
    rows += _categorical(
        groups, "Sex, n (%)", lambda d: d["sex"].astype("object").map(lambda s: s if pd.isna(s) else str(s).capitalize()),
        [s.capitalize() for s in sexes],
    )  # fmt: skip
    rows += _categorical(
        groups,
        "Ethnic group, n (%)",
        lambda d: (
            d["ethnicity"]
            .astype("object")
            .map(
                lambda e: (
                    np.nan if pd.isna(e) else ETHNIC_GROUPS.get(str(e), "Not stated or not known")
                )
            )
        ),
        ETHNIC_ORDER,
    )
    diagnoses = dataset["diagnosis"].dropna().astype(str).value_counts()
    order = sorted(diagnoses.index, key=lambda d: (-int(diagnoses[d]), d))
    rows += _categorical(
        groups,
        "Primary diagnosis, n (%)",
        lambda d: (
            d["diagnosis"].astype("object").map(lambda x: x if pd.isna(x) else str(x).capitalize())
        ),
        [d.capitalize() for d in order],
    )
    for v in variables:
        if v.kind == "binary":
            rows += _categorical(groups, f"{v.label}, n (%)", _yes_no(v.column), ["Yes", "No"])
        else:
            rows += _rows(groups, [(f"{v.label}, mean (SD)", _mean_sd_of(v.column, v.decimals))])
    return rows


def _yes_no(col: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda d: (
        d[col]
        .astype("object")
        .map(lambda b: np.nan if pd.isna(b) else ("Yes" if bool(b) else "No"))
    )


__all__ = ["ETHNIC_GROUPS", "cluster_table", "individual_table"]
