"""Baseline characteristics by arm, at cluster and at individual level.

CONSORT for cluster trials asks for both levels. Cells are display strings
(NIHR style: ``n (%)``, ``mean (SD)``, thousands separated); each row is
``{"characteristic": ..., "<arm>": ...}``. Percentages use the non-missing
count as denominator; a "missing" row appears whenever data are missing.

The trial-specific rows come from the trial definition: the cluster table's
stratum and balance variables (``[randomisation] strata``/``balance``) and every
individual-level row but age (``[baseline] variables``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from odtrial.trial import BaselineLevel, BaselineVariable, ClusterVariable, code_label


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
    variable its mean (SD), labelled as the trial definition labels them. The GP
    practice rows appear only when clusters are made of practices (some cluster
    has ``n_practices`` above 0).
    """
    recruited = dataset.groupby("cluster_id").size()
    cl = clusters.assign(recruited=clusters["cluster_id"].map(recruited).fillna(0).astype(int))
    groups = [(a, cl if a == "all" else cl[cl["arm"] == a]) for a in arms]
    specs: list[tuple[str, Callable[[pd.DataFrame], str]]] = [
        ("Clusters, n", lambda d: f"{len(d):,}")
    ]
    if strata is not None:
        specs.append((f"{strata.label} represented, n", _nunique(strata.column)))
    if "n_practices" in cl and cl["n_practices"].fillna(0).gt(0).any():  # clusters of practices
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

    The number of participants, their age at consent when the dataset has it (the
    participants table declares a date of birth) and no variable names it, then
    each of ``variables`` (the trial definition's ``[baseline] variables``): a
    binary one as Yes/No n (%), a continuous one as mean (SD), a categorical one as
    n (%) per level.
    """
    groups = [(a, dataset if a == "all" else dataset[dataset["arm"] == a]) for a in arms]
    specs: list[tuple[str, Callable[[pd.DataFrame], str]]] = [
        ("Participants, n", lambda d: f"{len(d):,}")
    ]
    if "age_at_consent" in dataset and all(v.column != "age_at_consent" for v in variables):
        specs.append(("Age at consent (years), mean (SD)", lambda d: _mean_sd(d["age_at_consent"])))
    rows = _rows(groups, specs)
    for v in variables:
        if v.kind == "binary":
            rows += _categorical(groups, f"{v.label}, n (%)", _yes_no(v.column), ["Yes", "No"])
        elif v.kind == "categorical":
            label, order = _levels(dataset[v.column], v)
            rows += _categorical(groups, f"{v.label}, n (%)", _mapped(v.column, label), order)
        else:
            rows += _rows(groups, [(f"{v.label}, mean (SD)", _mean_sd_of(v.column, v.decimals))])
    return rows


def _levels(x: pd.Series, v: BaselineVariable) -> tuple[Callable[[Any], Any], list[str]]:
    """A categorical variable's value -> row label (missing stays missing), and its row
    labels in order. Values no level holds (a hand-made variable has none) get rows of
    their own, after the declared ones, labelled as :func:`odtrial.trial.code_label`
    labels a code."""
    levels = list(v.levels)
    label_of = {str(c): lv.label for lv in levels for c in lv.codes}
    present = sorted({str(c) for c in x.dropna()} - set(label_of))
    levels += [BaselineLevel(code_label(c), (c,)) for c in present]
    label_of |= {c: code_label(c) for c in present}

    def label(value: Any) -> Any:
        return np.nan if pd.isna(value) else label_of[str(value)]

    order = [lv.label for lv in levels]
    if v.order == "frequency":  # most common first among all participants; ties as declared
        counts = x.dropna().astype("object").map(label).value_counts()
        order = sorted(order, key=lambda lab: -int(counts.get(lab, 0)))
    return label, list(dict.fromkeys(order))


def _mapped(col: str, f: Callable[[Any], Any]) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda d: d[col].astype("object").map(f)


def _yes_no(col: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda d: (
        d[col]
        .astype("object")
        .map(lambda b: np.nan if pd.isna(b) else ("Yes" if bool(b) else "No"))
    )


__all__ = ["cluster_table", "individual_table"]
