"""Fuzzing the plan loader: whatever the file holds, a plan or a one-line PlanError.

Four sources of input: TOML-ish text built from the shipped plan's own
fragments, the shipped plan with its keys and values mutated at any depth,
arbitrary bytes (mostly not UTF-8), and arbitrary nested tables. Each example
is counted; ``test_zz_inputs_tried`` reports the total (run with ``-s``).
"""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odtrial.errors import PlanError
from odtrial.plan import PlanErrors, load_plan, parse_plan
from odtrial.plan.model import Plan

SAP = Path(__file__).resolve().parents[2] / "analysis_plans" / "pod_synthetic_sap.toml"
SAP_TEXT = SAP.read_text(encoding="utf-8")
SAP_RAW = tomllib.loads(SAP_TEXT)
TRIED: dict[str, int] = {}
FUZZ = settings(
    # ODTRIAL_FUZZ_EXAMPLES=5000 for a longer run by hand
    max_examples=int(os.environ.get("ODTRIAL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)


def _one_line_or_plan(call: Any, kind: str) -> None:
    TRIED[kind] = TRIED.get(kind, 0) + 1
    try:
        result = call()
    except PlanError as e:
        msg = str(e)
        assert msg and "\n" not in msg and "\r" not in msg, msg
        if isinstance(e, PlanErrors):
            assert all(m and "\n" not in m for m in e.messages)
        return
    assert isinstance(result, Plan)


# -- 1. TOML-ish text ------------------------------------------------------------------

LINES = SAP_TEXT.splitlines()
FRAGMENT = st.one_of(
    st.sampled_from(LINES),
    st.sampled_from(["[", "]", "[[", "]]", "=", '"', "'", "{", "}", ",", ".", "#", "\n", "\\"]),
    st.text(max_size=12),
    st.from_regex(
        r"[a-z_]{1,10} = (\"[^\"\n]{0,10}\"|-?[0-9]{1,4}(\.[0-9]+)?|true|false)", fullmatch=True
    ),
)


@FUZZ
@given(st.lists(FRAGMENT, max_size=60))
def test_tomlish_text(tmp_path_factory: pytest.TempPathFactory, parts: list[str]) -> None:
    p = tmp_path_factory.getbasetemp() / "fuzz_text.toml"
    p.write_text("\n".join(parts), encoding="utf-8")
    _one_line_or_plan(lambda: load_plan(p), "toml-ish text")


@FUZZ
@given(st.data())
def test_shipped_text_with_lines_dropped_or_swapped(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    lines = list(LINES)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        how = data.draw(st.sampled_from(["drop", "dup", "edit"]))
        if how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(i, lines[i])
        else:
            j = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + data.draw(st.text(max_size=3)) + lines[i][j + 1 :]
    p = tmp_path_factory.getbasetemp() / "fuzz_lines.toml"
    p.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    _one_line_or_plan(lambda: load_plan(p), "shipped text, lines edited")


# -- 2. the shipped plan, mutated at any depth ---------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(SAP_RAW)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.sampled_from(
        [
            "glmm",
            "lmm",
            "gee",
            "cox",
            "binary",
            "count",
            "REML",
            "ML",
            "kenward-roger",
            "primary",
            "final",
            "draft",
            "itt",
            "work_study_24m",
            "exchangeable",
            "ratio",
        ]
    ),
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _mutate_key(key: str, data: st.DataObject) -> str:
    how = data.draw(st.sampled_from(["drop_char", "add_char", "swap", "case", "new"]))
    if how == "new" or not key:
        return data.draw(st.text(max_size=10))
    i = data.draw(st.integers(0, len(key) - 1))
    if how == "drop_char":
        return key[:i] + key[i + 1 :]
    if how == "add_char":
        return key[:i] + data.draw(st.characters()) + key[i:]
    if how == "swap" and len(key) > 1:
        j = min(i + 1, len(key) - 1)
        return key[:i] + key[j] + key[i] + key[j + 1 :]
    return key.upper()


@FUZZ
@given(st.data())
def test_shipped_plan_mutated(data: st.DataObject) -> None:
    raw = copy.deepcopy(SAP_RAW)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(PATHS))
        parent: Any = raw
        try:
            for k in path[:-1]:
                parent = parent[k]
            here = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the path
        how = data.draw(st.sampled_from(["value", "delete", "rename", "add"]))
        last = path[-1]
        if how == "value":
            parent[last] = data.draw(VALUE)
        elif how == "delete":
            del parent[last]
        elif how == "rename" and isinstance(parent, dict):
            parent[_mutate_key(str(last), data)] = parent.pop(last)
        elif how == "add" and isinstance(here, dict):
            here[data.draw(st.text(max_size=10))] = data.draw(VALUE)
    _one_line_or_plan(lambda: parse_plan(raw), "shipped plan, mutated")


# -- 3. bytes --------------------------------------------------------------------------


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=400),
        st.binary(min_size=1, max_size=8).map(lambda b: SAP_TEXT.encode()[:2000] + b"\xff" + b),
    )
)
def test_random_bytes(tmp_path_factory: pytest.TempPathFactory, blob: bytes) -> None:
    p = tmp_path_factory.getbasetemp() / "fuzz_bytes.toml"
    p.write_bytes(blob)
    _one_line_or_plan(lambda: load_plan(p), "bytes")


# -- 4. arbitrary nested tables ----------------------------------------------------------

KEYS = st.one_of(
    st.sampled_from(sorted({str(p[-1]) for p in PATHS if isinstance(p[-1], str)})),
    st.text(max_size=8),
)
TABLES = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=6)),
    max_leaves=40,
)


@FUZZ
@given(st.dictionaries(KEYS, TABLES, max_size=10))
def test_arbitrary_tables(raw: dict[str, Any]) -> None:
    _one_line_or_plan(lambda: parse_plan(raw), "arbitrary tables")


def test_deep_nesting_and_extreme_sample_sizes(tmp_path: Path) -> None:
    p = tmp_path / "deep.toml"
    p.write_text("a = " + "[" * 5000 + "]" * 5000, encoding="utf-8")
    _one_line_or_plan(lambda: load_plan(p), "edge cases")
    for key, value in [("sd", 1e-300), ("cluster_size", 1e6), ("cluster_size_cv", 10.0)]:
        raw = copy.deepcopy(SAP_RAW)
        ss = raw["design"]["sample_size"]
        if key == "sd":
            for k in ("p0", "p1"):
                del ss[k]
            ss.update(type="continuous", delta=1.0, outcome="cpz_mean_daily_dose")
        ss[key] = value
        _one_line_or_plan(lambda raw=raw: parse_plan(raw), "edge cases")


def test_zz_inputs_tried(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this module: how many inputs the fuzzing above tried."""
    total = sum(TRIED.values())
    with capsys.disabled():
        print(
            f"\nplan loader fuzz: {total} inputs tried: "
            + ", ".join(f"{k} {v}" for k, v in TRIED.items())
        )
    if TRIED:  # a selection of this module may skip the fuzz tests
        assert total >= 5
