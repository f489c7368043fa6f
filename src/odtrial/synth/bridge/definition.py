"""BRIDGE's ``trial.toml``: the trial definition in the declarative-tables format."""

from __future__ import annotations

from datetime import date
from typing import Any

from odtrial.synth.bridge.design import (
    ARM_LABELS,
    ARMS,
    BALANCE_LABELS,
    FOLLOW_UP_MONTHS,
    KEY_ENV,
    LOCALITIES,
    MIN_AGE,
    RANDOMISATION_DIR,
    REGISTRATION,
    SITES,
    STRATA_LABEL,
    STRATUM_COLUMN,
    TABLES,
    TEST_KEY,
    TRIAL_NAME,
    VISIT_SCHEDULE,
    VOCABULARIES,
    Extract,
    Field,
    Table,
)
from odtrial.synth.config import _key, _q
from odtrial.trial_tables import FIELD_KEYS


def _inline(d: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{_key(k)} = {_q(v)}" for k, v in d.items()) + " }"


def _field(f: Field) -> str:
    d: dict[str, Any] = {"name": f.name}
    for k in FIELD_KEYS[1:]:  # name first, above
        v = getattr(f, k, None)
        if k == "required":
            if not v:
                d[k] = False
        elif v is not None:
            d[k] = v
    return "  " + _inline(d) + ","


def _table(t: Table) -> list[str]:
    lines = [f"[tables.{t.name}]", f"description = {_q(t.description)}"]
    lines += [f"{k} = {_q(v)}" for k, v in t.roles.items()]
    lines += ["fields = [", *(_field(f) for f in t.fields), "]"]
    if t.rules:
        lines += ["rules = [", *(f"  {_inline(r)}," for r in t.rules), "]"]
    return [*lines, ""]


def _extract(site: str, table: str, e: Extract) -> list[str]:
    head = f"extracts.{site}.{table}"
    lines = [f"[{head}]", f"pattern = {_q(e.pattern)}", f"format = {_q(e.format)}"]
    if e.text:
        lines += [f"encoding = {_q(e.encoding)}", f"delimiter = {_q(e.delimiter)}"]
    lines.append(f"date_format = {_q(e.date_format)}")
    if e.format == "sav":
        lines.append(f"use_value_labels = {_q(e.use_value_labels)}")
    lines += ["", f"[{head}.columns]", *(f"{_key(k)} = {_q(v)}" for k, v in e.columns.items()), ""]
    if e.constants:
        lines += [
            f"[{head}.constants]",
            *(f"{_key(k)} = {_q(v)}" for k, v in e.constants.items()),
            "",
        ]
    for fld in e.columns:
        if fld not in e.render and fld != "drug":
            continue
        codes = e.codes(fld)
        if codes:
            lines += [
                f"[{head}.codes.{fld}]",
                *(f"{_key(k)} = {_q(v)}" for k, v in codes.items()),
                "",
            ]
    return lines


def trial_toml(
    *,
    data_cutoff: date,
    clusters: list[dict[str, Any]],
    ex: dict[str, dict[str, Extract]],
    seed: int,
) -> str:
    """The trial definition text (deterministic)."""
    lines = [
        "# Synthetic BRIDGE cluster randomised trial, written by "
        f"`odtrial synth --design bridge` (seed {seed}). Not real data.",
        "# Format: see the docstring of odtrial.trial.",
        "",
        "[trial]",
        f"name = {_q(TRIAL_NAME)}",
        f"registration = {_q(REGISTRATION)}",
        "synthetic = true",
        "arms = [",
        *(f"  {{ code = {_q(a)}, label = {_q(ARM_LABELS[a])} }}," for a in ARMS),
        "]",
        f"follow_up_months = {FOLLOW_UP_MONTHS}",
        f"data_cutoff = {_q(data_cutoff)}",
        "",
        "[visits]",
        "# Follow-up research interviews: months after consent, each accepted within",
        "# window_days either side of its due date.",
        "schedule = [",
        *(f"  {{ month = {m}, window_days = {w} }}," for m, w in VISIT_SCHEDULE),
        "]",
        "",
        "[eligibility]",
        f"min_age = {MIN_AGE}",
        "",
        "[pseudonymisation]",
        f"key_env = {_q(KEY_ENV)}",
        "# Public test key of the synthetic trial; a real trial reads its key from key_env.",
        f"test_key = {_q(TEST_KEY)}",
        "",
        "[randomisation]",
        "# Written by odtrial.randomise; ingest verifies it and takes the arms from it.",
        f"record = {_q(RANDOMISATION_DIR)}",
        f"strata = {{ column = {_q(STRATUM_COLUMN)}, label = {_q(STRATA_LABEL)} }}",
        "balance = [",
        *(
            f"  {{ column = {_q(c)}, label = {_q(lab)}, decimals = {nd} }},"
            for c, lab, nd in BALANCE_LABELS
        ),
        "]",
        "",
        "[baseline]",
        "# The rows of the baseline table by arm, in this order, after age at consent.",
        "variables = [",
        '  { column = "gender", label = "Gender", kind = "categorical", labels = { '
        'non_binary = "Non-binary", not_stated = "Not stated" } },',
        '  { column = "ethnic_group", label = "Ethnic group", kind = "categorical", labels = { '
        'mixed = "Mixed or multiple ethnic groups", asian = "Asian or Asian British", '
        'black = "Black, Black British, Caribbean or African", other = "Other ethnic group", '
        'not_stated = "Not stated" } },',
        '  { column = "phq9_baseline", label = "PHQ-9 score at baseline", kind = "continuous" },',
        '  { column = "prior_antidepressant", label = "Antidepressant in the 3 months before '
        'consent", kind = "binary" },',
        "]",
        "",
        "[vocabularies]",
        *(f"{k} = {_q(list(v))}" for k, v in VOCABULARIES.items()),
        "",
    ]
    for t in TABLES.values():
        lines += _table(t)
    for s in SITES:
        lines += [
            "[[trusts]]",
            f"id = {_q(s.id)}",
            f"name = {_q(s.name)}",
            f"directory = {_q(s.directory)}",
            "",
        ]
    for lo in LOCALITIES:
        lines += [
            "[[strata]]",
            f"id = {_q(lo.id)}",
            f"trust = {_q(lo.site)}",
            f"name = {_q(lo.name)}",
            "",
        ]
    lines.append("# Each cluster is one GP practice (its synthetic ODS code); no practice lists.")
    for cl in clusters:
        lines += ["[[clusters]]", *(f"{_key(k)} = {_q(v)}" for k, v in cl.items()), ""]
    for s in SITES:
        for table, e in ex[s.id].items():
            lines += _extract(s.id, table, e)
    return "\n".join(lines).rstrip("\n") + "\n"
