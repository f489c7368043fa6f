"""REDCap branching logic -> a condition of :mod:`odtrial.data.conditions`.

REDCap shows a field only when its branching logic holds; a required field is
required only then. The logic this module translates: comparisons of a field
(``[sex] = '1'``, ``[age] >= 18``, ``[notes] <> ''``), of a checkbox choice
(``[aids(2)] = '1'``) or of the event (``[event-name] = 'month_12_arm_1'``) with
a value, joined by ``and``/``or`` (also ``&&``/``||``) and parentheses. Raw
codes become the canonical values of the trial definition (``'1'`` of a
dropdown becomes its vocabulary code, of a yes/no field ``true``); an ordered
comparison of a choice field with numeric codes becomes the choices it admits.

Anything else cannot be evaluated on one record of one table: functions
(``datediff``, ``sum``, ``if``), other events' values (``[baseline_arm_1][dob]``),
smart variables other than ``[event-name]``, fields of another table. Then
:class:`Unevaluable` says why, and the trial definition keeps the logic as
written (``required_if_unchecked``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Final

from odtrial.data.conditions import AllOf, AnyOf, Compare, Condition

_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<ref>(?:\[[^\[\]]*\])+)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<op><>|!=|==|<=|>=|=|<|>)
      | (?P<bool>&&|\|\|)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)


class Unevaluable(Exception):
    """Branching logic odtrial cannot evaluate on one record (the message says why)."""


@dataclass(frozen=True)
class Target:
    """What a reference in the logic is in the trial definition: a field of the
    table, its kind (``code``, ``boolean``, ``number``, ``date``, ``text``) and,
    for a code field, raw code -> canonical value."""

    field: str
    kind: str
    codes: Mapping[str, str] = dc_field(default_factory=dict)


Resolver = Callable[[str], Target]


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
    return out


def parse(logic: str) -> Condition:
    """REDCap logic as a condition over references as written (``sex``,
    ``aids(2)``, ``event-name``), values as written (raw codes, text).

    Raises
    ------
    Unevaluable
        A function, another event's value, or a form the grammar has no place for.
    """
    toks = _tokens(logic)
    for kind, text in toks:
        if kind == "word" and text.lower() not in ("and", "or"):
            raise Unevaluable(f"it uses {text!r}, a function or word odtrial does not evaluate")
        if kind == "other":
            raise Unevaluable(f"it uses {text!r}, which odtrial does not evaluate")
        if kind == "ref" and text.count("[") > 1:
            raise Unevaluable(f"{text} names another event's value")
    p = _Parser(toks)
    c = p.disjunction()
    if p.i != len(toks):
        raise Unevaluable(f"it has {toks[p.i][1]!r} where odtrial expects and/or")
    return c


class _Parser:
    def __init__(self, toks: list[tuple[str, str]]) -> None:
        self.toks, self.i = toks, 0

    def take(self) -> tuple[str, str]:
        t = self.toks[self.i] if self.i < len(self.toks) else ("end", "")
        self.i += 1
        return t

    def joiner(self, word: str, symbol: str) -> bool:
        kind, text = self.toks[self.i] if self.i < len(self.toks) else ("end", "")
        return (kind == "word" and text.lower() == word) or (kind == "bool" and text == symbol)

    def disjunction(self) -> Condition:
        parts = [self.conjunction()]
        while self.joiner("or", "||"):
            self.i += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def conjunction(self) -> Condition:
        parts = [self.atom()]
        while self.joiner("and", "&&"):
            self.i += 1
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def atom(self) -> Condition:
        kind, text = self.take()
        if (kind, text) == ("paren", "("):
            c = self.disjunction()
            if self.take() != ("paren", ")"):
                raise Unevaluable("a '(' is not closed")
            return c
        if kind != "ref":
            raise Unevaluable(f"it has {text or 'nothing'!r} where a [field] should be")
        ref = text[1:-1].strip()
        okind, op = self.take()
        if okind != "op":
            raise Unevaluable(f"[{ref}] is not compared with anything")
        op = {"!=": "<>", "==": "="}.get(op, op)
        vkind, value = self.take()
        if vkind == "string":
            value = value[1:-1]
        elif vkind != "number":
            raise Unevaluable(f"[{ref}] {op} is followed by {value or 'nothing'!r}, not a value")
        return Compare(ref, op, value)


def translate(logic: str, resolve: Resolver) -> Condition:
    """The condition of the trial definition that REDCap ``logic`` means.

    ``resolve`` names what each reference is in the table (:class:`Target`), or
    raises :class:`Unevaluable` (another table's field, an unknown name).
    """
    return _translate(parse(logic), resolve)


def _translate(c: Condition, resolve: Resolver) -> Condition:
    if isinstance(c, AllOf):
        return AllOf(tuple(_translate(p, resolve) for p in c.parts))
    if isinstance(c, AnyOf):
        return AnyOf(tuple(_translate(p, resolve) for p in c.parts))
    t = resolve(c.field)
    raw = str(c.value).strip()
    if raw == "":
        if c.op not in ("=", "<>"):
            raise Unevaluable(f"[{c.field}] {c.op} '' orders an empty value")
        return Compare(t.field, c.op, "")
    if t.kind == "boolean":
        value = {"1": True, "0": False, "true": True, "false": False}.get(raw.lower())
        if value is None or c.op not in ("=", "<>"):
            raise Unevaluable(f"[{c.field}] {c.op} {raw!r} is no yes/no comparison")
        return Compare(t.field, c.op, value)
    if t.kind == "code":
        return _choice(c, t, raw)
    if t.kind == "number":
        try:
            return Compare(t.field, c.op, float(raw))
        except ValueError:
            raise Unevaluable(f"[{c.field}] is a number compared with {raw!r}") from None
    if t.kind == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise Unevaluable(f"[{c.field}] is a date compared with {raw!r}")
        return Compare(t.field, c.op, raw)
    if c.op not in ("=", "<>"):
        raise Unevaluable(f"[{c.field}] is text, ordered by {c.op}")
    return Compare(t.field, c.op, raw)


def _choice(c: Compare, t: Target, raw: str) -> Condition:
    """A comparison of a choice field: its canonical value(s)."""
    if c.op in ("=", "<>"):
        if raw not in t.codes:
            raise Unevaluable(f"[{c.field}] is compared with {raw!r}, not one of its codes")
        return Compare(t.field, c.op, t.codes[raw])
    try:
        bound = float(raw)
        numeric = {float(k): v for k, v in t.codes.items()}
    except ValueError:
        raise Unevaluable(f"[{c.field}] {c.op} {raw!r} orders codes that are not numbers") from None
    test = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[c.op]
    admitted = [v for k, v in sorted(numeric.items()) if test(k, bound)]
    if not admitted or len(admitted) == len(numeric):
        raise Unevaluable(
            f"[{c.field}] {c.op} {raw} admits {'no' if not admitted else 'every'} choice"
        )
    parts = tuple(Compare(t.field, "=", v) for v in admitted)
    return parts[0] if len(parts) == 1 else AnyOf(parts)
