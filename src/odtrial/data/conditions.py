"""Conditions on a record's fields: when a field is required (``required_if``).

A condition compares fields of the same record with values, joined by ``and``
and ``or`` (``and`` binds tighter; parentheses group)::

    [fell_since_last_visit] = true and ([falls] > 2 or [injury] <> 'none')

- ``[field]`` names a field of the table; the value compared is the mapped,
  canonical one (a code of the field's vocabulary, ``true``/``false`` for a
  boolean, a number, a date written ``'YYYY-MM-DD'``).
- Operators: ``=``, ``<>`` (or ``!=``) on any field; ``<``, ``<=``, ``>``,
  ``>=`` on integer, number and date fields.
- ``[field] = ''`` holds when the field is empty, ``[field] <> ''`` when it is
  not. Otherwise an empty field makes ``=`` and the ordered comparisons false
  and ``<>`` true (an empty answer is not the value compared with).

This is the shape of REDCap's branching logic without its functions and event
prefixes, so a REDCap project's logic translates into it field by field
(:mod:`odtrial.redcap.branching`). Conditions are parsed once, when the trial
definition is read, and evaluated column-wise over a table's records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from odtrial.data.canonical import Field

#: Comparison operators; the ordered ones need a number or a date.
OPERATORS: Final = ("=", "<>", "<", "<=", ">", ">=")
ORDERED: Final = ("<", "<=", ">", ">=")

Value = str | float | bool


class ConditionError(ValueError):
    """A condition that cannot be parsed, or that names or compares a field wrongly."""


@dataclass(frozen=True)
class Compare:
    """``[field] op value``; ``value`` "" tests for an empty field."""

    field: str
    op: str
    value: Value


@dataclass(frozen=True)
class AllOf:
    """Every part holds (``and``)."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """Some part holds (``or``)."""

    parts: tuple[Condition, ...]


Condition = Compare | AllOf | AnyOf

_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<field>\[[^\[\]]*\])
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z_]+)
    )""",
    re.VERBOSE,
)


def tokens(text: str) -> list[tuple[str, str]]:
    """The tokens of a condition as ``(kind, text)``; ConditionError at the first
    character that starts none."""
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ConditionError(f"cannot read {text[pos:].strip()[:20]!r} at character {pos + 1}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks, self.i = toks, 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        t = self.peek()
        self.i += 1
        return t

    def word(self, w: str) -> bool:
        kind, text = self.peek()
        return kind == "word" and text.lower() == w

    def parse(self) -> Condition:
        c = self.disjunction()
        kind, text = self.peek()
        if kind != "end":
            raise ConditionError(f"unexpected {text!r} after a complete condition")
        return c

    def disjunction(self) -> Condition:
        parts = [self.conjunction()]
        while self.word("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def conjunction(self) -> Condition:
        parts = [self.atom()]
        while self.word("and"):
            self.take()
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def atom(self) -> Condition:
        kind, text = self.take()
        if kind == "paren" and text == "(":
            c = self.disjunction()
            if self.take() != ("paren", ")"):
                raise ConditionError("a '(' is not closed")
            return c
        if kind != "field":
            raise ConditionError(f"expected [field] or '(', got {text or 'the end'!r}")
        name = text[1:-1].strip()
        okind, op = self.take()
        if okind != "op":
            raise ConditionError(f"expected an operator after [{name}], got {op or 'the end'!r}")
        op = "<>" if op == "!=" else op
        vkind, vtext = self.take()
        value: Value
        if vkind == "string":
            value = vtext[1:-1]
        elif vkind == "number":
            value = float(vtext)
        elif vkind == "word" and vtext.lower() in ("true", "false"):
            value = vtext.lower() == "true"
        else:
            raise ConditionError(
                f"expected a value after [{name}] {op} (a quoted text, a number, true or "
                f"false), got {vtext or 'the end'!r}"
            )
        return Compare(name, op, value)


def parse(text: str) -> Condition:
    """Parse a condition (syntax: the module docstring).

    Examples
    --------
    >>> parse("[a] = 'x' and ([b] > 2 or [c] = true)")
    AllOf(parts=(Compare(field='a', op='=', value='x'), AnyOf(parts=(Compare(field='b', op='>', value=2.0), Compare(field='c', op='=', value=True)))))
    """
    if not text.strip():
        raise ConditionError("is empty")
    return _Parser(tokens(text)).parse()


def fields_of(c: Condition) -> tuple[str, ...]:
    """The fields a condition names, each once, in order."""
    if isinstance(c, Compare):
        return (c.field,)
    return tuple(dict.fromkeys(f for p in c.parts for f in fields_of(p)))


def render(c: Condition, *, top: bool = True) -> str:
    """The condition as text that :func:`parse` reads back to the same condition.

    Examples
    --------
    >>> render(parse("[a]='x' AND ([b]>=2 OR [c]<>'')"))
    "[a] = 'x' and ([b] >= 2 or [c] <> '')"
    """
    if isinstance(c, Compare):
        return f"[{c.field}] {c.op} {_value_text(c.value)}"
    joiner = " and " if isinstance(c, AllOf) else " or "
    text = joiner.join(render(p, top=False) for p in c.parts)
    return text if top or isinstance(c, AllOf) else f"({text})"


def _value_text(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return f'"{v}"' if "'" in v else f"'{v}'"


def check(c: Condition, fields: Mapping[str, Field]) -> list[str]:
    """What is wrong with a condition over a table's ``fields`` (empty: nothing):
    an unknown field, an ordered comparison of a field that is no number or date,
    a value that the field cannot hold."""
    problems: list[str] = []
    for cmp in _compares(c):
        f = fields.get(cmp.field)
        if f is None:
            problems.append(f"names [{cmp.field}], not a field of this table")
            continue
        if cmp.value == "":
            if cmp.op not in ("=", "<>"):
                problems.append(f"compares [{cmp.field}] {cmp.op} '' (only = '' and <> '')")
            continue
        kind = _kind(f)
        if cmp.op in ORDERED and kind not in ("number", "date"):
            problems.append(f"orders [{cmp.field}], a {kind} field (only numbers and dates)")
        elif _typed(cmp.value, kind) is None:
            problems.append(f"compares [{cmp.field}] ({kind}) with {_value_text(cmp.value)}")
    return problems


def _compares(c: Condition) -> list[Compare]:
    if isinstance(c, Compare):
        return [c]
    return [x for p in c.parts for x in _compares(p)]


def _kind(f: Field) -> str:
    """How a condition compares the field: by the dtype the field is mapped to."""
    from odtrial.data.schemas import DATE_DTYPE, field_dtype  # (pandera: not at trial load)

    dtype = field_dtype(f)
    if dtype in ("float64", "Int64"):
        return "number"
    if dtype == DATE_DTYPE:
        return "date"
    return "boolean" if dtype == "boolean" else "text"


def _typed(v: Value, kind: str) -> float | bool | str | pd.Timestamp | None:
    """``v`` as the field's kind compares it, or None when it cannot be one."""
    if kind == "boolean":
        if isinstance(v, bool):
            return v
        t = str(v).strip().lower()
        return {"true": True, "false": False, "1": True, "0": False}.get(t)
    if kind == "number":
        if isinstance(v, bool):
            return None
        try:
            return float(v)
        except ValueError:
            return None
    if kind == "date":
        if not isinstance(v, str):
            return None
        try:
            return pd.Timestamp(v)
        except ValueError:
            return None
    if isinstance(v, bool):
        return None
    return _value_text(v).strip("'\"") if isinstance(v, float) else v


def evaluate(c: Condition, frame: pd.DataFrame, fields: Mapping[str, Field]) -> np.ndarray:
    """Where the condition holds over the rows of a coerced mapped ``frame``
    (boolean array; conditions are :func:`check`-ed when the trial is read)."""
    if isinstance(c, AllOf):
        return _fold(np.logical_and, [evaluate(p, frame, fields) for p in c.parts])
    if isinstance(c, AnyOf):
        return _fold(np.logical_or, [evaluate(p, frame, fields) for p in c.parts])
    s = frame[c.field]
    present = s.notna().to_numpy(dtype=bool)
    if c.value == "":
        return ~present if c.op == "=" else present
    kind = _kind(fields[c.field])
    v: Any = _typed(c.value, kind)
    vals: pd.Series
    if kind == "text":
        vals = s.astype("string")
    elif kind == "number":
        vals = pd.to_numeric(s, errors="coerce").astype("float64")
    elif kind == "date":
        vals = pd.Series(s, dtype="datetime64[us]")
    else:
        vals = s.astype("boolean")
    if c.op == "=":
        hit = (vals == v).fillna(False).to_numpy(dtype=bool)
    elif c.op == "<>":
        hit = ~(vals == v).fillna(False).to_numpy(dtype=bool)
    else:
        cmp = {"<": vals.lt, "<=": vals.le, ">": vals.gt, ">=": vals.ge}[c.op]
        hit = cmp(v).fillna(False).to_numpy(dtype=bool)
    return hit


def _fold(
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray], parts: list[np.ndarray]
) -> np.ndarray:
    out = parts[0]
    for p in parts[1:]:
        out = fn(out, p)
    return out
