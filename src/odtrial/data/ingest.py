"""Ingest: site extracts -> validated, pseudonymised data freeze.

``ingest(src, out)`` reads every extract of every trust (readers), maps it
onto the canonical tables (mapping), validates the mapped tables
(:func:`odtrial.data.validate.validate`), quarantines rows with any
error-level failure, raises a query for every failure, replaces NHS numbers
by keyed pseudonyms and dates of birth by age at consent, and writes the
freeze atomically with a manifest of hashes and row counts.

Nothing is dropped silently: every record of every input file is either
accepted into ``tables/`` or kept in ``quarantine/`` with its reasons, and
the manifest's counts add up per file. A file whose rows several extracts
share (one records export for every site and event) is read once and its rows
shared out (:mod:`odtrial.data.selection`); rows no extract takes go to
``quarantine/_unassigned.parquet``. A workbook whose extracts read different sheets
is a source per sheet; its manifest entry counts the rows of them all.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
import pandas as pd

from odtrial._words import count
from odtrial.data.allocation import FREEZE_FOLDER, Record, apply_record, copy_record
from odtrial.data.canonical import PARTICIPANTS, PROVENANCE, TableSpec, frozen_cluster_columns
from odtrial.data.catalogue import trial_rules
from odtrial.data.freeze import (
    MANIFEST,
    atomic_folder,
    check_freeze_target,
    copy_medication_dictionary,
    sha256_file,
    write_parquet,
)
from odtrial.data.mapping import FAILURE_COLUMNS, check_formats, empty_failures, map_extract
from odtrial.data.masking import mask_nhs
from odtrial.data.pseudonym import nhs_valid, pseudonymise, resolve_key
from odtrial.data.queries import (
    IdentifierFields,
    build_queries,
    mask_failures,
    write_queries_csv,
    write_trust_workbooks,
)
from odtrial.data.readers import check_dialect, read_extract
from odtrial.data.selection import (
    UNASSIGNED,
    SharedFile,
    read_shared,
    sources,
    unassigned_quarantine,
)
from odtrial.errors import IngestError
from odtrial.redcap.records import is_records_extract, refuse_labels_export, several_exports
from odtrial.trial import ExtractSpec, Trial, Visit, load_trial

Validator = Callable[[dict[str, pd.DataFrame], Trial], pd.DataFrame]
_KEY: Final = ("table", "source_file", "source_row")


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did.

    Attributes
    ----------
    freeze
        The freeze folder written.
    inputs
        One row per input file: ``path, trust, table, sha256, rows_read,
        rows_accepted, rows_quarantined``.
    queries
        The queries as written to ``queries.csv`` (identifiers masked).
    counts
        Failures per rule code.
    files
        The manifest's entries per input file (a file several extracts share counts
        its own rows: see :mod:`odtrial.data.selection`).
    hints
        One line per likely fault of the trial definition found in the values (a
        number column whose every unreadable value has a decimal comma while the
        extract's ``decimal`` is ``"."``).
    """

    freeze: Path
    inputs: pd.DataFrame
    queries: pd.DataFrame
    counts: dict[str, int]
    files: list[dict[str, Any]] = field(default_factory=list)
    hints: tuple[str, ...] = ()

    def by_table(self) -> pd.DataFrame:
        """Rows read, accepted and quarantined per table."""
        cols = ["rows_read", "rows_accepted", "rows_quarantined"]
        return self.inputs.groupby("table", sort=False)[cols].sum()

    def queries_by_severity(self) -> dict[str, int]:
        """Number of queries per severity (``error``, ``warning``)."""
        vc = self.queries["severity"].value_counts()
        return {s: int(vc.get(s, 0)) for s in ("error", "warning")}

    def summary(self) -> str:
        """A short plain-text summary (what the CLI prints)."""
        lines = [f"freeze: {self.freeze}"]
        lines.append(f"{'table':<18}{'read':>10}{'accepted':>10}{'quarantined':>13}")
        for table, r in self.by_table().iterrows():
            lines.append(
                f"{table!s:<18}{r.rows_read:>10,}{r.rows_accepted:>10,}{r.rows_quarantined:>13,}"
            )
        for f in self.files:
            if "records" in f:  # a file whose rows several extracts share
                lines.append(
                    f"{f['path']}: {f['rows_read']:,} rows, {f['rows_accepted']:,} accepted, "
                    f"{f['rows_quarantined']:,} quarantined ({f['rows_unassigned']:,} "
                    "taken by no table)"
                )
        sev = self.queries_by_severity()
        lines.append(f"queries: {sev['error']:,} error, {sev['warning']:,} warning")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _load_validator() -> Validator:
    """The validation stage (imported late: it is its own module)."""
    try:
        from odtrial.data.validate import validate
    except ModuleNotFoundError as e:  # pragma: no cover - only while validate.py is missing
        raise IngestError(f"validation is not available ({e})") from None
    return validate


def ingest(
    src: str | Path,
    out: str | Path,
    *,
    config: str | Path | None = None,
    key: str | bytes | None = None,
    key_file: str | Path | None = None,
    progress: bool = False,
) -> IngestReport:
    """Read, map, validate, pseudonymise and freeze a trial's site extracts.

    Parameters
    ----------
    src
        The source folder (``trial.toml`` and one folder per trust).
    out
        The freeze folder to write (replaced atomically if it is a freeze).
    config
        The trial configuration; default ``src/trial.toml``.
    key, key_file
        The pseudonymisation key, or a file holding it; default the
        environment variable named by the configuration (or a synthetic
        trial's test key).
    progress
        Show a progress bar over the files on stderr.

    Raises
    ------
    IngestError
        A fatal problem (missing file, no file matching a pattern, a missing
        mapped column, undecodable text, no key), on one line naming the file.
    """
    src = Path(src)
    if not src.is_dir():
        raise IngestError(f"{src}: source folder not found")
    check_freeze_target(out)  # refuse a folder odtrial may not write before reading anything
    trial = load_trial(Path(config) if config is not None else src / "trial.toml")
    trial, record = apply_record(trial)
    secret = resolve_key(trial, key=key, key_file=key_file)
    validate = _load_validator()

    jobs = _plan(src, trial)
    # Rows that map cleanly go on to validation; the few that failed mapping are
    # held back for the quarantine (kept apart so no full-table copy is needed).
    names = list(trial.tables)
    passed: dict[str, list[pd.DataFrame]] = {t: [] for t in names}
    held: dict[str, list[pd.DataFrame]] = {t: [] for t in names}
    fails: list[pd.DataFrame] = []
    inputs: list[dict[str, Any]] = []
    it: Any = jobs
    if progress:
        from tqdm import tqdm

        it = tqdm(jobs, desc="ingest", unit="file")
    shared: dict[str, list[SharedFile]] = {}  # per file, its sources several extracts share
    # files read as several sources (a workbook's sheets): their counts are summed
    multi = {rel for rel, n in Counter(rel for _, rel, _ in jobs).items() if n > 1}
    shas: dict[str, str] = {}
    commas = _DecimalCommas()
    for path, rel, specs in it:
        alone = len(specs) == 1 and not specs[0].selects
        if alone:  # the common case: one file (or sheet), one extract
            spec = specs[0]
            raw = read_extract(path, spec, rel=rel)
            refuse_labels_export(raw.data, specs, rel)
            parts = [(spec, map_extract(raw, spec, trial))]
            del raw
        else:
            sf = read_shared(path, rel, specs, trial)
            shared.setdefault(rel, []).append(sf)
            parts = list(sf.parts)
            fails.append(sf.unassigned)
        sha = shas.get(rel) or shas.setdefault(rel, sha256_file(path))
        for spec, m in parts:
            if len(m.failed_rows):
                failed = np.isin(m.frame["source_row"].to_numpy(), m.failed_rows)
                passed[spec.table].append(m.frame.iloc[np.flatnonzero(~failed)])
                held[spec.table].append(m.frame.iloc[np.flatnonzero(failed)])
            else:
                passed[spec.table].append(m.frame)
            fails.append(m.failures)
            commas.add(spec, m.failures, rel)
            inputs.append(
                {
                    "path": rel,
                    "trust": spec.trust,
                    "table": spec.table,
                    "sha256": sha,
                    "rows_read": m.rows_read,
                    "alone": alone,  # its source's rows are its records
                    "sheet": spec.sheet if rel in multi else None,
                }
            )
        del parts

    mapped = {t: _concat(passed.pop(t), trial.tables[t]) for t in names}
    held_back = {
        t: _concat(held[t], trial.tables[t]) if held[t] else mapped[t].iloc[:0] for t in names
    }
    map_fail = pd.concat(fails, ignore_index=True) if fails else empty_failures()
    val_fail = _normalise_failures(validate(mapped, trial))
    failures = pd.concat([map_fail, val_fail], ignore_index=True)
    failures = failures.astype({c: "string" for c in FAILURE_COLUMNS if c != "source_row"})
    errors = failures[failures["severity"] == "error"]

    linker = _Linker(trial.participants, mapped[PARTICIPANTS], secret)
    participant = _participant_of_failures(failures, mapped, held_back, linker, trial)
    identifiers = IdentifierFields.of(trial.tables.values())
    queries = build_queries(_sheet_named(failures, inputs, multi), participant, identifiers)
    masked = mask_failures(failures, identifiers)

    accepted: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    cache: dict[str, str] = {}  # participant key -> pseudonym, shared by the tables
    ids: dict[str, pd.Series] = {}  # link field -> participant_id by its value
    for t in names:
        frame = mapped.pop(t)  # freed table by table as the frozen ones are built
        bad = _in(frame, errors, t)
        rows = pd.concat([held_back[t], frame.iloc[np.flatnonzero(bad)]], ignore_index=True)
        kept = _take_releasing(frame, np.flatnonzero(~bad))
        del frame
        if t == PARTICIPANTS:
            ids = _participant_ids(kept, trial, secret, cache)
        accepted[t] = freeze_table(kept, trial.tables[t], trial, secret, cache, ids)
        del kept
        quarantine[t] = _quarantine_table(rows, trial.tables[t], masked, linker)

    for row in inputs:
        t, p = row["table"], row["path"]
        if p in shared or p in multi:  # several extracts' records: this trust's only
            acc, qua = accepted[t], quarantine[t]
            row["rows_accepted"] = int(
                ((acc["source_file"] == p) & (acc["trust"] == row["trust"])).sum()
            )
            row["rows_quarantined"] = int(
                ((qua["source_file"] == p) & (qua["trust"] == row["trust"])).sum()
            )
        else:
            row["rows_accepted"] = int((accepted[t]["source_file"] == p).sum())
            row["rows_quarantined"] = int((quarantine[t]["source_file"] == p).sum())
    if shared:
        quarantine[UNASSIGNED] = unassigned_quarantine(failures)
    counts = {c: 0 for c in sorted(trial_rules(trial))}
    for c, n in queries["rule"].value_counts().items():  # as the sites are asked
        counts[str(c)] = int(n)

    out = Path(out)
    tables = {"clusters": clusters_table(trial), **accepted}
    files = _file_counts(inputs, shared, quarantine, multi)
    _write(out, trial, tables, quarantine, queries, files, counts, record)
    report_inputs = pd.DataFrame(
        inputs,
        columns=[
            "path",
            "trust",
            "table",
            "sha256",
            "rows_read",
            "rows_accepted",
            "rows_quarantined",
        ],
    )
    return IngestReport(out, report_inputs, queries, counts, files, commas.hints())


def _sheet_named(
    failures: pd.DataFrame, inputs: Sequence[Mapping[str, Any]], multi: set[str]
) -> pd.DataFrame:
    """The failures with the file of a workbook read sheet by sheet named with the sheet
    of the failing table (``book.xlsx [sheet 'Wellbeing']``): each sheet counts its own
    rows, so a query's row is only found with its sheet. A table is read from one sheet
    of a file, so (file, trust, table) names it."""
    sheets = {
        (row["path"], row["trust"], row["table"]): row["sheet"]
        for row in inputs
        if row["path"] in multi and row["sheet"] is not None
    }
    if not sheets:
        return failures
    keys = zip(failures["source_file"], failures["trust"], failures["table"], strict=True)
    named = [
        f"{file} [sheet {sheets[key]!r}]" if (key := (file, trust, table)) in sheets else file
        for file, trust, table in keys
    ]
    return failures.assign(source_file=pd.Series(named, index=failures.index, dtype="string"))


_DECIMAL_COMMA: Final = re.compile(r"-?\d+,\d+")


class _DecimalCommas:
    """Per extract and number field, whether every value that is not a number has a
    decimal comma (``10,5``) while the extract's decimal separator is ``.``: a
    forgotten ``decimal = ","`` quarantines those rows, and their participants' other
    records after them, so it is worth one line however few rows it hits."""

    def __init__(self) -> None:
        # (trust, table, field) -> [values, all decimal commas, an example, source, files]
        self.seen: dict[tuple[str, str, str], list[Any]] = {}

    def add(self, spec: ExtractSpec, failures: pd.DataFrame, rel: str) -> None:
        if spec.decimal != ".":
            return
        bad = failures[failures["rule"] == "invalid_value"]
        for f, values in bad.groupby("field", sort=True)["value"]:
            texts = values.dropna().astype(str).tolist()
            ok = all(_DECIMAL_COMMA.fullmatch(v) for v in texts)
            key = (spec.trust, spec.table, str(f))
            entry = self.seen.setdefault(
                key, [0, True, texts[0] if texts else "", spec.columns.get(str(f), f), []]
            )
            entry[0] += len(texts)
            entry[1] = entry[1] and ok
            entry[4].append(rel)

    def hints(self) -> tuple[str, ...]:
        out = []
        for (trust, table, f), (n, ok, example, source, files) in self.seen.items():
            if not ok or n == 0:
                continue
            where = files[0] if len(files) == 1 else f"{len(files)} files"
            which = "is not a number, with" if n == 1 else "are not numbers, all with"
            out.append(
                f"key 'extracts.{trust}.{table}.decimal' is '.', but {f} ({source}) in "
                f"{where} has {count(n, 'value')} that {which} a decimal comma (e.g. "
                f"{example!r}): is ',' the decimal separator? set decimal = \",\""
            )
        return tuple(out)


# ------------------------------------------------------------------ planning
def _plan(src: Path, trial: Trial) -> list[tuple[Path, str, list[ExtractSpec]]]:
    """Every source to read with the extracts that read it (several when they share it),
    in provenance order: a file, or each sheet of a workbook whose extracts name
    different sheets (:func:`~odtrial.data.selection.sources`); fatal if a pattern is
    empty."""
    jobs: list[tuple[Path, str, ExtractSpec]] = []
    for trust in sorted(trial.trusts, key=lambda t: t.id):
        tdir = src / trust.directory
        if not tdir.is_dir():
            raise IngestError(f"{trust.directory}: extract folder of trust {trust.id} not found")
        for table in trial.tables:
            spec = trial.extracts[trust.id].get(table)
            if spec is None:  # this trust does not send the table
                continue
            if spec.format == "csv":  # an unusable dialect fails before any file is read
                check_dialect(spec)
            check_formats(spec)
            found = [(p.relative_to(src).as_posix(), p) for p in tdir.glob(spec.pattern)]
            found = sorted((rel, p) for rel, p in found if p.is_file())
            if not found:
                raise IngestError(
                    f"{trust.directory}/{spec.pattern}: no file matches the {table} extract "
                    f"pattern of trust {trust.id}"
                )
            if len(found) > 1 and is_records_extract(spec):  # each export holds every record
                where = f"{trust.directory}/{spec.pattern}"
                raise IngestError(several_exports(where, [rel for rel, _ in found]))
            jobs.extend((p, rel, spec) for rel, p in found)
    by_file: dict[str, tuple[Path, str, list[ExtractSpec]]] = {}
    for p, rel, spec in jobs:
        by_file.setdefault(rel, (p, rel, []))[2].append(spec)
    return [
        (p, rel, group) for p, rel, specs in by_file.values() for group in sources(p, rel, specs)
    ]


def _file_counts(
    inputs: list[dict[str, Any]],
    shared: dict[str, list[SharedFile]],
    quarantine: dict[str, pd.DataFrame],
    multi: set[str],
) -> list[dict[str, Any]]:
    """The manifest's ``inputs``: per file its rows read, accepted and quarantined.

    A shared file (:mod:`odtrial.data.selection`) counts its own rows: quarantined
    when assigned to no table or when a record made from it was quarantined, else
    accepted; its entry lists each extract's ``records`` too. A workbook read as
    several sheets (``multi``) sums its sheets' rows, and its ``records`` name them.
    """
    out: dict[str, dict[str, Any]] = {}
    for row in inputs:
        p = row["path"]
        if p not in shared and p not in multi:
            out[p] = {k: row[k] for k in _INPUT_KEYS}
            continue
        entry = out.setdefault(p, {"path": p, "sha256": row["sha256"], "records": []})
        for k in ("rows_read", "rows_accepted", "rows_quarantined", "rows_unassigned"):
            entry.setdefault(k, 0)
        record = {"trust": row["trust"], "table": row["table"]}
        if p in multi:
            record["sheet"] = row["sheet"]
        entry["records"].append(
            {
                **record,
                "rows": row["rows_read"],
                "rows_accepted": row["rows_accepted"],
                "rows_quarantined": row["rows_quarantined"],
            }
        )
        if row["alone"]:  # a sheet one extract reads: its rows are its records
            for k in ("rows_read", "rows_accepted", "rows_quarantined"):
                entry[k] += row[k]
    for p, sfs in shared.items():
        entry = out[p]
        for sf in sfs:
            taken = np.unique(np.concatenate([np.zeros(0, dtype=np.int64), *sf.taken]))
            bad = [sf.unassigned["source_row"].to_numpy(dtype=np.int64)]
            for spec, _ in sf.parts:  # a table is read from one sheet of a file
                q = quarantine[spec.table]
                sel = ((q["source_file"] == p) & (q["trust"] == spec.trust)).to_numpy(dtype=bool)
                bad.append(q["source_row"].to_numpy(dtype=np.int64)[sel])
            quarantined = np.unique(np.concatenate(bad))
            entry["rows_read"] += sf.rows_read
            entry["rows_accepted"] += int(np.isin(taken, quarantined, invert=True).sum())
            entry["rows_quarantined"] += len(quarantined)
            entry["rows_unassigned"] += len(sf.unassigned)
    for p in shared.keys() | multi:
        out[p] = {k: out[p][k] for k in (*_INPUT_KEYS, "rows_unassigned", "records")}
    return [out[p] for p in sorted(out)]


#: A manifest input's keys (a shared file's entry adds rows_unassigned and records).
_INPUT_KEYS: Final = ("path", "sha256", "rows_read", "rows_accepted", "rows_quarantined")


def _concat(parts: list[pd.DataFrame], spec: TableSpec) -> pd.DataFrame:
    if not parts:  # no trust sends the table: no records, the declared columns
        from odtrial.data.mapping import empty_mapped

        return empty_mapped(spec)
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    return pd.concat(parts, ignore_index=True)


def _take_releasing(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.iloc[rows]``, built column by column while dropping each column from
    ``frame``, so the source and the copy of a large table never coexist whole."""
    cols: dict[str, pd.Series] = {}
    for c in list(frame.columns):
        cols[c] = frame[c].iloc[rows].reset_index(drop=True)
        del frame[c]
    return pd.DataFrame(cols)


def _keys(files: np.ndarray, rows: pd.Series) -> np.ndarray:
    """Integer keys (file code, source_row) for fast membership tests."""
    return files.astype(np.int64) * (1 << 32) + rows.to_numpy(dtype=np.int64)


def _in(frame: pd.DataFrame, failures: pd.DataFrame, table: str) -> np.ndarray:
    """Mask of ``frame`` rows that have a failure in ``failures`` (of ``table``)."""
    f = failures[failures["table"] == table]
    if len(f) == 0 or len(frame) == 0:
        return np.zeros(len(frame), dtype=bool)
    # Factorise the frame's files without a Python str per row (the event tables
    # have ~10^6 rows): codes come from Arrow; failure files not in the frame -> -1.
    codes, files = pd.factorize(frame["source_file"])
    fk = _keys(pd.Index(files).get_indexer(f["source_file"]), f["source_row"])
    return np.isin(_keys(codes, frame["source_row"]), fk)


def _normalise_failures(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in FAILURE_COLUMNS if c not in df.columns]
    if missing:
        raise TypeError(f"validate() returned failures without columns {missing}")
    df = df.loc[:, list(FAILURE_COLUMNS)].copy()
    for c in FAILURE_COLUMNS:
        df[c] = df[c].astype("int64") if c == "source_row" else df[c].astype("string")
    return df.reset_index(drop=True)


class _Linker:
    """Who a record is about, for queries and the quarantine: the pseudonym of
    its participant when its key or link value names one, else a masked NHS
    number (or nothing, for another identifier)."""

    def __init__(self, spec: TableSpec, participants: pd.DataFrame, key: bytes) -> None:
        assert spec.key is not None
        self.spec, self.secret = spec, key
        first = (
            participants.drop_duplicates(subset=[spec.key]) if len(participants) else participants
        )
        self.key_of: dict[str, pd.Series] = {}
        for f in spec.names:
            if f == spec.key or not (spec.field(f).nhs or spec.field(f).identifier):
                continue
            sub = first.loc[first[f].notna(), [f, spec.key]].drop_duplicates(subset=[f])
            self.key_of[f] = pd.Series(
                sub[spec.key].astype("string").to_numpy(), index=sub[f].astype("string").to_numpy()
            )

    def label(self, values: pd.Series, field: str, nhs: bool) -> pd.Series:
        """Per value of ``field`` (the table's key or link): the participant's
        pseudonym where known, else a masked NHS number (NA otherwise)."""
        values = values.reset_index(drop=True).astype("string")
        if field == self.spec.key:
            keys = values
        else:
            keys = values.map(self.key_of.get(field, pd.Series(dtype="string"))).astype("string")
        ok = keys.notna().to_numpy(dtype=bool)
        if self.spec.field(_who(self.spec)).nhs:
            ok = ok & nhs_valid(keys.fillna("")).to_numpy(dtype=bool)
        out = mask_nhs(values) if nhs else pd.Series(pd.NA, index=values.index, dtype="string")
        if ok.any():
            out[ok] = pseudonymise(keys[ok], self.secret).to_numpy()
        return out.astype("string")


def _who(spec: TableSpec) -> str:
    """The field naming a table's participant: the key, or the link."""
    who = spec.key if spec.is_participants else spec.link
    assert who is not None
    return who


def _participant_of_failures(
    failures: pd.DataFrame,
    mapped: dict[str, pd.DataFrame],
    held_back: dict[str, pd.DataFrame],
    linker: _Linker,
    trial: Trial,
) -> pd.Series:
    """Per failure: its participant's pseudonym when known, else the masked NHS number."""
    out = pd.Series(pd.NA, index=range(len(failures)), dtype="string")
    for t, spec in trial.tables.items():
        sel = (failures["table"] == t).to_numpy(dtype=bool)
        if not sel.any():
            continue
        who = _who(spec)
        cols = ["source_file", "source_row", who]
        hit = mapped[t].loc[_in(mapped[t], failures, t), cols]  # only rows with a failure
        look = pd.concat([hit, held_back[t].loc[:, cols]], ignore_index=True)
        f = failures[sel]
        idx = pd.MultiIndex.from_frame(f.loc[:, ["source_file", "source_row"]].astype(object))
        look_idx = pd.MultiIndex.from_frame(
            look.loc[:, ["source_file", "source_row"]].astype(object)
        )
        pos = look_idx.get_indexer(idx)
        vals = np.empty(len(look) + 1, dtype=object)  # last slot None: for pos -1
        # the stubs reject na_value=None with dtype=object, which pandas accepts
        vals[:-1] = cast(Any, look[who]).to_numpy(dtype=object, na_value=None)
        picked = pd.Series(vals[pos], dtype="string")  # pos -1 (malformed line) -> None
        out[sel] = linker.label(picked, who, spec.field(who).nhs).to_numpy()
    return out


# ------------------------------------------------------------------ freezing
def clusters_table(trial: Trial) -> pd.DataFrame:
    """The frozen clusters table, from the trial configuration.

    Columns: :func:`~odtrial.data.canonical.frozen_cluster_columns`. A cluster
    attribute is ``int64`` when every value is a whole number written as one in
    the trial file, else ``float64``.
    """
    cl = sorted(trial.clusters, key=lambda c: c.id)
    attrs = {
        k: pd.Series(
            vals := [c.attributes[k] for c in cl],
            dtype="int64" if all(isinstance(v, int) for v in vals) else "float64",
        )
        for k in trial.cluster_attributes
    }
    out = pd.DataFrame(
        {
            "cluster_id": pd.Series([c.id for c in cl], dtype="string"),
            "trust": pd.Series([c.trust for c in cl], dtype="string"),
            trial.stratum_column: pd.Series([c.stratum for c in cl], dtype="string"),
            "n_practices": pd.Series([len(c.practices) for c in cl], dtype="int64"),
            **attrs,
            "arm": pd.Series([c.arm for c in cl], dtype="string"),
        }
    )
    cols = frozen_cluster_columns(trial.stratum_column, trial.cluster_attributes)
    return out.loc[:, list(cols)]


def _participant_ids(
    kept: pd.DataFrame, trial: Trial, key: bytes, cache: dict[str, str]
) -> dict[str, pd.Series]:
    """For each participants field another table links by (other than the key):
    participant_id by that field's value, over the accepted participants."""
    spec = trial.participants
    assert spec.key is not None
    out: dict[str, pd.Series] = {}
    links = {t.link for t in trial.tables.values() if t.link not in (None, spec.key)}
    if not links:
        return out
    pid = pseudonymise(kept[spec.key].astype("string"), key, cache=cache).to_numpy()
    for f in sorted(x for x in links if x is not None):
        has = kept[f].notna().to_numpy(dtype=bool)
        if spec.field(f).nhs:  # an invalid optional NHS number links nobody
            has = has & nhs_valid(kept[f].astype("string").fillna("")).to_numpy(dtype=bool)
        out[f] = pd.Series(pid[has], index=kept[f].astype("string").to_numpy()[has])
    return out


def _visit(v: Visit) -> dict[str, int]:
    """A visit in the manifest: its month and window (each side only when given)."""
    out = {"month": v.month, "window_days": v.window_days}
    if v.window_before_days is not None or v.window_after_days is not None:
        out |= {"window_before_days": v.before, "window_after_days": v.after}
    return out


def manifest_tables(trial: Trial) -> dict[str, dict[str, Any]]:
    """The manifest's ``tables``: per table its link, date and visit fields, the trusts
    that sent it (a trust that did not has no records there: not collected, rather than
    no events) and its free-text fields (left out of the analysis dataset)."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in trial.tables.items():
        entry: dict[str, Any] = {
            k: getattr(spec, k)
            for k in ("link", "date", "visit")
            if getattr(spec, k) is not None and not spec.is_participants
        }
        entry["trusts"] = sorted(t for t, ex in trial.extracts.items() if name in ex)
        free = [f.name for f in spec.fields if f.free_text]
        if free:
            entry["free_text"] = free
        out[name] = entry
    return out


def freeze_table(
    df: pd.DataFrame,
    spec: TableSpec,
    trial: Trial,
    key: bytes,
    cache: dict[str, str],
    ids: dict[str, pd.Series],
) -> pd.DataFrame:
    """The frozen table: ``participant_id`` for its key or link, identifiers
    replaced or left out (:meth:`TableSpec.frozen_columns`)."""
    out = df.reset_index(drop=True)
    who = _who(spec)
    if spec.is_participants or who not in ids:  # linked by the key itself
        out["participant_id"] = pseudonymise(out[who].astype("string"), key, cache=cache)
    else:
        out["participant_id"] = out[who].astype("string").map(ids[who]).astype("string")
    for f in spec.pseudonymised_extra():
        out[f"{f}_pseudonym"] = pseudonymise(out[f].astype("string"), key)
    if spec.is_participants:
        assert spec.cluster is not None and spec.consent_date is not None
        by_id = trial.cluster_by_id()
        cl = out[spec.cluster].astype("string").astype(object)
        out["cluster_id"] = cl.astype("string")
        out[trial.stratum_column] = cl.map({k: c.stratum for k, c in by_id.items()}).astype(
            "string"
        )
        out["arm"] = cl.map({k: c.arm for k, c in by_id.items()}).astype("string")
        if spec.practice is not None:
            out["practice_cluster_id"] = (
                out[spec.practice].astype(object).map(trial.cluster_of_practice()).astype("string")
            )
        if spec.date_of_birth is not None:
            out["age_at_consent"] = age_in_years(out[spec.date_of_birth], out[spec.consent_date])
        for f in spec.link_flags:
            ok = out[f].notna()
            if spec.field(f).nhs:
                ok &= nhs_valid(out[f].astype("string").fillna(""))
            out[f"has_{f}"] = ok.astype("boolean")
        out["consent_date"] = out[spec.consent_date]
    cols = [*spec.frozen_columns(trial.stratum_column), *PROVENANCE]
    return out.loc[:, cols].reset_index(drop=True)


def age_in_years(dob: pd.Series, on: pd.Series) -> pd.Series:
    """Completed years from ``dob`` to ``on`` (Int64, NA if either is missing).

    Examples
    --------
    >>> d = pd.Series(pd.to_datetime(["2000-03-01", "2000-03-01"]))
    >>> age_in_years(d, pd.Series(pd.to_datetime(["2018-02-28", "2018-03-01"]))).tolist()
    [17, 18]
    """
    years = on.dt.year - dob.dt.year
    before = (on.dt.month < dob.dt.month) | (
        (on.dt.month == dob.dt.month) & (on.dt.day < dob.dt.day)
    )
    return (years - before.astype("int64")).astype("Int64")


def _quarantine_table(
    rows: pd.DataFrame,
    spec: TableSpec,
    masked: pd.DataFrame,
    linker: _Linker,
) -> pd.DataFrame:
    """Quarantined rows: provenance, rule codes, reasons, the participant's pseudonym,
    masked NHS numbers, birth year, the other fields, raw text of malformed lines."""
    table = spec.name
    err = (masked["table"] == table).to_numpy(dtype=bool) & (
        masked["severity"] == "error"
    ).to_numpy(dtype=bool)
    q = masked[err]
    reasons = _reasons(q)
    malformed = q[q["rule"] == "malformed_line"].loc[:, ["source_file", "source_row", "value"]]
    malformed = malformed.rename(columns={"value": "raw_text"}).drop_duplicates(
        ["source_file", "source_row"]
    )

    body = rows.copy()
    who = _who(spec)
    body["participant_id"] = pd.Series(
        linker.label(body[who], who, nhs=False).to_numpy(), index=body.index, dtype="string"
    )
    masks = [f"{f}_masked" for f in spec.nhs_fields]
    for f in spec.nhs_fields:
        body[f"{f}_masked"] = mask_nhs(body[f])
    dob = spec.date_of_birth
    if dob is not None:
        body["birth_year"] = body[dob].dt.year.astype("Int64")
    mrows = malformed.assign(trust=cast(Any, pd.NA), table=table)  # stubs: NA is a scalar
    if len(mrows):
        trust_of = q.drop_duplicates(["source_file"]).set_index("source_file")["trust"]
        mrows["trust"] = mrows["source_file"].map(trust_of)
    hidden = set(spec.identifiers())
    fields = [f for f in spec.names if f not in hidden]
    cols = [
        *PROVENANCE,
        "participant_id",
        *masks,
        *(["birth_year"] if dob is not None else []),
        *fields,
    ]
    body = body.loc[:, cols]
    merged = pd.concat(
        [body, mrows.loc[:, ["trust", "source_file", "source_row"]]], ignore_index=True
    )
    merged = merged.astype({c: body[c].dtype for c in cols})
    merged = merged.merge(reasons, on=["source_file", "source_row"], how="left")
    merged = merged.merge(
        malformed.loc[:, ["source_file", "source_row", "raw_text"]],
        on=["source_file", "source_row"],
        how="left",
    )
    merged = merged.sort_values(list(PROVENANCE), kind="stable").reset_index(drop=True)
    final = [*PROVENANCE, "rules", "reasons", *cols[3:], "raw_text"]
    merged = merged.loc[:, final]
    for c in ("trust", "source_file", "rules", "reasons", "raw_text"):
        merged[c] = merged[c].astype("string")
    merged["source_row"] = merged["source_row"].astype("int64")
    return merged


def _reasons(q: pd.DataFrame) -> pd.DataFrame:
    """Per quarantined row: its error rule codes and messages, joined with "; "."""
    q = q.sort_values(["source_file", "source_row", "rule"], kind="stable")
    several = q.duplicated(["source_file", "source_row"], keep=False).to_numpy(dtype=bool)
    one = q.loc[~several, ["source_file", "source_row", "rule", "message"]]
    one = one.rename(columns={"rule": "rules", "message": "reasons"})
    if not several.any():  # the common case: one error per row, no Python per group
        return one.reset_index(drop=True)
    multi = (
        q[several]
        .groupby(["source_file", "source_row"], sort=True)
        .agg(
            rules=("rule", lambda s: "; ".join(dict.fromkeys(s))),
            reasons=("message", "; ".join),
        )
        .reset_index()
    )
    return pd.concat([one, multi], ignore_index=True)


def _write(
    out: Path,
    trial: Trial,
    tables: dict[str, pd.DataFrame],
    quarantine: dict[str, pd.DataFrame],
    queries: pd.DataFrame,
    inputs: list[dict[str, Any]],
    counts: dict[str, int],
    record: Record | None = None,
) -> None:
    """Write the freeze; ``inputs`` are the manifest's entries (:func:`_file_counts`)."""
    from odtrial import __version__

    with atomic_folder(out) as tmp:
        outputs: list[dict[str, Any]] = []
        for name, df in tables.items():
            write_parquet(df, tmp / "tables" / f"{name}.parquet")
            outputs.append({"path": f"tables/{name}.parquet", "rows": len(df)})
        for name, df in quarantine.items():
            write_parquet(df, tmp / "quarantine" / f"{name}.parquet")
            outputs.append({"path": f"quarantine/{name}.parquet", "rows": len(df)})
        write_queries_csv(queries, tmp / "queries.csv")
        outputs.append({"path": "queries.csv", "rows": len(queries)})
        books = write_trust_workbooks(queries, tmp / "queries", sorted(t.id for t in trial.trusts))
        outputs.extend({"path": f"queries/{n}", "rows": r} for n, r in books.items())
        if record is not None:
            outputs.extend({"path": p, "rows": None} for p in copy_record(record, tmp))
        medication = copy_medication_dictionary(trial, tmp)
        if medication is not None:
            for f in medication["files"]:
                outputs.append({"path": f["path"], "rows": None})
                if f["header"] is not None:
                    outputs.append({"path": f["header"], "rows": None})
        for o in outputs:
            o["sha256"] = sha256_file(tmp / o["path"])
        if medication is not None:  # each file's hash, as listed in the outputs
            sha = {o["path"]: o["sha256"] for o in outputs}
            for f in medication["files"]:
                f["sha256"] = sha[f["path"]]
        manifest = {
            "inputs": inputs,
            "outputs": [
                {"path": o["path"], "sha256": o["sha256"], "rows": o["rows"]}
                for o in sorted(outputs, key=lambda o: o["path"])
            ],
            "config_sha256": trial.config_sha256,
            "package_version": __version__,
            "trial": {
                "name": trial.name,
                "arms": list(trial.arms),
                "follow_up_months": trial.follow_up_months,
                "data_cutoff": trial.data_cutoff.isoformat(),
                # the visit schedule: derive builds one column per visit from it
                "visits": [_visit(v) for v in trial.visits],
                "stratum_column": trial.stratum_column,
            },
            "counts": counts,
            "randomisation": None
            if record is None
            else {"folder": FREEZE_FOLDER, "log_head": record.head},
            "medication_dictionary": medication,
            "tables": manifest_tables(trial),
        }
        (tmp / MANIFEST).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
