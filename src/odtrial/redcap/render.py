"""TOML text for the trial definition ``odtrial init`` writes: values, keys, comments."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from odtrial.redcap.fields import TablePlan
from odtrial.redcap.records import RECORDS_HINT
from odtrial.trial_tables import FIELD_KEYS

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def key(k: str) -> str:
    """A TOML key: bare when it can be, else quoted."""
    return k if _BARE.fullmatch(k) else json.dumps(k, ensure_ascii=False)


def value(v: Any) -> str:
    """A TOML value (inline tables and arrays on one line)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, Mapping):
        return inline(v)
    if isinstance(v, Sequence):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {type(v).__name__}")


def inline(m: Mapping[str, Any]) -> str:
    """An inline table; ``{}`` when empty."""
    if not m:
        return "{}"
    return "{ " + ", ".join(f"{key(k)} = {value(v)}" for k, v in m.items()) + " }"


def comment(text: str, width: int = 88, indent: str = "") -> list[str]:
    """``text`` as ``#`` lines of at most ``width`` characters."""
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(indent) + 2 + len(line) + 1 + len(word) > width:
            out.append(f"{indent}# {line}")
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        out.append(f"{indent}# {line}")
    return out


def array_of_tables(items: Sequence[Mapping[str, Any]], indent: str = "  ") -> list[str]:
    """An array of inline tables, one per line (a ``# ...`` comment entry of an item,
    key ``"#"``, goes on the line before it)."""
    lines = ["["]
    for it in items:
        note = it.get("#")
        if note:
            lines += comment(str(note), indent=indent)
        body = {k: v for k, v in it.items() if k != "#"}
        lines.append(f"{indent}{inline(body)},")
    lines.append("]")
    return lines


def table_text(t: TablePlan) -> list[str]:
    """``[tables.<name>]``: description, roles, fields (each note as a comment), rules."""
    lines = [f"[tables.{t.name}]", f"description = {value(t.description)}"]
    for role, fname in t.roles.items():
        lines.append(f"{role} = {value(fname)}")
    items = []
    for f in t.fields:
        item: dict[str, Any] = {"#": f.note} if f.note else {}
        for k in FIELD_KEYS:
            v = getattr(f, k, None)
            if k == "required":
                if not v and f.required_if is None and f.required_if_unchecked is None:
                    item[k] = False
            elif v is not None:
                item[k] = v
        items.append(item)
    arr = array_of_tables(items)
    lines += ["fields = " + arr[0], *arr[1:]]
    if t.rules:
        arr = array_of_tables(t.rules)
        lines += ["rules = " + arr[0], *arr[1:]]
    return lines


def extract_text(t: TablePlan, trust: str, first: str, site: str | None, pattern: str) -> list[str]:
    where = ({site: trust} if site else {}) | t.where
    head = f"[extracts.{key(trust)}.{t.name}]"
    if trust != first:
        return [head, f"like = {value(first)}", f"where = {inline(where)}"]
    lines = [head]
    lines += comment(
        "One records export holds every site, event and instrument: where picks this "
        "table's rows"
        + (" and filled those holding the form's data" if t.filled else "")
        + "; other sites' extracts are like this one but for their where."
    )
    for n in t.notes:
        lines += comment(n)
    lines += [
        f"pattern = {value(pattern)}  # one export at a time: keep only the latest here",
        'format = "csv"',
        'encoding = "utf-8"',
    ]
    if t.dates_how:
        lines += comment(t.dates_how)
    lines += [
        f"date_format = {value(t.date_format)}",
        f"hint = {value(RECORDS_HINT)}",
        f"where = {inline(where)}",
    ]
    if t.filled:
        lines.append(f"filled = {inline(t.filled)}")
    lines.append("")
    lines.append(f"[extracts.{key(trust)}.{t.name}.columns]")
    lines += [f"{key(f.name)} = {value(f.source)}" for f in t.fields if f.constant is None]
    constants = [f for f in t.fields if f.constant is not None]
    if constants:
        lines.append("")
        lines.append(f"[extracts.{key(trust)}.{t.name}.constants]")
        lines += [f"{key(f.name)} = {value(f.constant)}" for f in constants]
    coded = [f for f in t.fields if f.codes]
    if coded:
        lines.append("")
        lines.append(f"[extracts.{key(trust)}.{t.name}.codes]")
        lines += [f"{key(f.name)} = {inline(f.codes)}" for f in coded]
    return lines
