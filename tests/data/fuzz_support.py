"""Shared parts of the fuzz tests of readers, mapping and ingest (imported by test_*_fuzz.py).

- :data:`FUZZ`: the one hypothesis setting every fuzz test starts from
  (derandomised, so CI is deterministic; no deadline, the machine is shared);
- :func:`tried` tallies every input a fuzz test tried, by strategy and
  outcome, and :func:`fuzz_summary` (a module fixture) prints the tallies of
  its module at the end: ``fuzz inputs tried ...: csv_structured 120 (read 80,
  ingest_error 40)``; ``pytest --hypothesis-show-statistics`` gives the same
  outcomes per test as hypothesis events;
- :func:`read_outcome` and :func:`check_mapped` are the properties every
  input must satisfy: a one-line :class:`~odtrial.errors.IngestError` naming
  the file, or a read whose every record is accepted or quarantined with a
  reason.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, settings

from odtrial.data.catalogue import FAILURE_COLUMNS, RULES
from odtrial.data.mapping import EARLIEST_DATE, MappedExtract, map_extract
from odtrial.data.readers import RawExtract, read_extract
from odtrial.errors import IngestError
from odtrial.synth.tables import ECONOMICS_TABLES, table_specs
from odtrial.trial import ExtractSpec, Trial, parse_trial

_SPECS = table_specs()
MAPPED = {t: s.fields for t, s in _SPECS.items()}
# the clinical tables the test kit writes (not the health economics')
SITE_TABLES = tuple(t for t in _SPECS if t not in ECONOMICS_TABLES)

FUZZ = settings(
    deadline=None,
    derandomize=True,
    max_examples=40,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

TALLY: Counter[tuple[str, str, str]] = Counter()  # (module, strategy, outcome) -> inputs


def tried(module: str, strategy: str, outcome: str) -> None:
    """Count one input of ``strategy`` and how it ended (also a hypothesis event)."""
    TALLY[(module.rsplit(".", 1)[-1], strategy, outcome)] += 1
    event(f"outcome: {outcome}")


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a module's tests: one line per strategy, inputs tried and their outcomes."""
    yield
    module = request.module.__name__.rsplit(".", 1)[-1]
    per: dict[str, Counter[str]] = {}
    for (mod, strategy, outcome), n in sorted(TALLY.items()):
        if mod == module:
            per.setdefault(strategy, Counter())[outcome] += n
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if not per or reporter is None:  # e.g. an xdist worker: nothing to print to
        return
    total = sum(sum(c.values()) for c in per.values())
    lines = [f"fuzz inputs tried in {module}: {total}"]
    for strategy, c in per.items():
        detail = ", ".join(f"{o} {n}" for o, n in sorted(c.items()))
        lines.append(f"  {strategy}: {sum(c.values())} ({detail})")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for line in lines:
            reporter.write_line(line)


def make_trial(dialects: dict[str, str]) -> Trial:
    """A trial (no files) whose trusts use the dialects of ``ingest_sources``."""
    from ingest_sources import trial_toml

    return parse_trial(tomllib.loads(trial_toml(dialects)), source="fuzz")


def one_line_error(e: IngestError, rel: str) -> str:
    """Check that ``e`` is one printable line naming the file; return its message."""
    msg = str(e)
    assert msg.isprintable(), msg  # no newline, no control character
    assert msg.startswith(f"{rel}: "), msg
    assert len(msg) > len(rel) + 2
    return msg


def read_outcome(path: Path, spec: ExtractSpec, rel: str) -> RawExtract | str:
    """Read ``path``: the extract, checked, or the one-line fatal message."""
    try:
        raw = read_extract(path, spec, rel=rel)
    except IngestError as e:
        return one_line_error(e, rel)
    check_raw(raw, spec)
    return raw


def check_raw(raw: RawExtract, spec: ExtractSpec) -> None:
    """Every record of the file is either split into fields or kept as malformed, once."""
    assert raw.rows_read == len(raw.data) + len(raw.malformed)
    good = raw.data.index.to_numpy()
    bad = raw.malformed["source_row"].to_numpy()
    assert raw.data.index.name == "source_row" and raw.data.index.dtype == np.int64
    assert np.all(np.diff(good) > 0) and np.all(np.diff(bad) > 0)
    assert sorted([*good.tolist(), *bad.tolist()]) == list(range(1, raw.rows_read + 1))
    assert list(raw.data.columns) == list(dict.fromkeys(spec.columns.values()))
    for msg in raw.malformed["message"]:
        assert isinstance(msg, str) and msg and msg.isprintable()


def check_mapped(raw: RawExtract, spec: ExtractSpec, trial: Trial) -> MappedExtract:
    """Map ``raw``; every record is in the frame or a malformed line, failures name a rule,
    and what passes mapping is what the canonical table promises."""
    m = map_extract(raw, spec, trial)
    assert m.rows_read == raw.rows_read
    assert len(m.frame) == len(raw.data)
    assert m.frame["source_row"].tolist() == raw.data.index.tolist()
    f = m.failures
    assert list(f.columns) == list(FAILURE_COLUMNS)
    assert f["rule"].isin(list(RULES)).all()
    assert all(isinstance(x, str) and x and x.isprintable() for x in f["message"])
    rows = set(raw.data.index.tolist()) | set(raw.malformed["source_row"].tolist())
    assert set(f["source_row"].tolist()) <= rows
    assert set(raw.malformed["source_row"].tolist()) <= set(m.failed_rows.tolist())
    assert sorted(set(f["source_row"].tolist())) == m.failed_rows.tolist()
    # Rows with no failure hold every required field, in range and in vocabulary.
    ok = m.frame[~m.frame["source_row"].isin(m.failed_rows)]
    cutoff = pd.Timestamp(trial.data_cutoff)
    for fld in MAPPED[spec.table]:
        col = ok[fld.name]
        if fld.required:
            assert col.notna().all(), fld.name
        present = col.dropna()
        if fld.kind == "date":
            assert m.frame[fld.name].dtype == "datetime64[ns]"
            assert ((present >= EARLIEST_DATE) & (present <= cutoff)).all(), fld.name
            assert (present == present.dt.normalize()).all()
        elif fld.kind == "float":
            assert np.isfinite(present.to_numpy(dtype=np.float64)).all(), fld.name
        elif fld.kind == "code" and fld.vocab != "drug":
            assert present.isin(list(trial.vocabulary(fld.vocab))).all(), fld.name
    return m


def record_count(text: str) -> int:
    """Data records of a CSV text as the reader defines them: lines after the header,
    trailing empty lines not counted (independent of the reader's code)."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    return max(len(lines) - 1, 0)
