"""The trial definition: one TOML file, ``trial.toml``, describes a trial.

It declares the trial (arms, follow-up, data cut-off), its visit schedule and
minimum age, the sites (``[[trusts]]``), the randomisation strata and clusters
(their stratum, member GP practices when clusters are groups of practices, the
trial's own numeric attributes, arm once allocated), the randomisation record,
its vocabularies and tables (fields, types, keys and links, rules; parsed by
:mod:`odtrial.trial_tables`), the baseline table's rows, and for each trust the
extracts it sends: file pattern, format and dialect, the column map onto the
declared fields, code maps onto the vocabularies, and constants. A new trial,
trust or extract is a change to this file, not to the code.

Every key, its type, default and allowed values: ``docs/reference.md``
(``odtrial reference``, from :mod:`odtrial.trial_schema`, which the tests hold
to this parser both ways); step by step with the second shipped trial as the
example: ``docs/onboarding.md``. A sketch (``data/synthetic_bridge/trial.toml``
is a full one)::

    [trial]
    name = "..."
    arms = [{ code = "INT", label = "Intervention" }, { code = "CTL", label = "Usual care" }]
    follow_up_months = 24
    data_cutoff = 2025-06-30

    [visits]
    schedule = [{ month = 12, window_days = 60 }, { month = 24, window_days = 60 }]

    [eligibility]
    min_age = 18

    [randomisation]            # optional: the record `odtrial randomise` wrote
    record = "randomisation"
    strata = { column = "region", label = "Regions" }
    balance = [{ column = "size", label = "Registered patients", decimals = 0 }]

    [[trusts]]
    id = "S1"
    name = "..."
    directory = "site_one"

    [[strata]]
    id = "S1-A"
    trust = "S1"

    [[clusters]]
    id = "C01"
    region = "S1-A"            # its stratum, under the trial's stratum key
    size = 9690                # any other number: a cluster attribute

    [vocabularies]
    gender = ["woman", "man"]

    [tables.participants]
    key = "record_id"
    consent_date = "consent_date"
    cluster = "cluster_id"
    fields = [
      { name = "record_id", type = "string" },
      { name = "cluster_id", type = "string" },
      { name = "consent_date", type = "date" },
      { name = "gender", type = "code", vocabulary = "gender" },
    ]

    [extracts.S1.participants]
    pattern = "baseline_*.csv"
    format = "csv"             # csv | excel | sav | dta | xpt | sas7bdat
    [extracts.S1.participants.columns]     # field -> source column
    record_id = "Study ID"
    cluster_id = "Practice"
    consent_date = "Consent"
    gender = "Gender"
    [extracts.S1.participants.codes.gender] # source value (as text) -> code
    1 = "woman"
    2 = "man"
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

from odtrial._errorlist import Errors, summary
from odtrial._toml import TomlReader, suggest
from odtrial.data.canonical import BUILTIN_VOCABULARIES, PARTICIPANTS, Field, TableSpec
from odtrial.data.medication_dictionary import MedicationDictionary, load_medication_dictionary
from odtrial.errors import ConfigError
from odtrial.trial_tables import parse_tables, parse_vocabularies

FORMATS: Final = ("csv", "excel", "sav", "dta", "xpt", "sas7bdat")
DATE_FORMATS_SPECIAL: Final = ("native", "excel-serial", "sas-days", "spss-seconds")


@dataclass(frozen=True)
class Trust:
    id: str
    name: str
    directory: str


@dataclass(frozen=True)
class Stratum:
    """A randomisation stratum (a ``[[strata]]`` entry): clusters are
    allocated 1:1 within it."""

    id: str
    trust: str
    name: str


@dataclass(frozen=True)
class Cluster:
    """A randomised unit: its stratum id, GP practices, the trial's numeric
    attributes (name -> value, as declared on its ``[[clusters]]`` entry) and arm."""

    id: str
    trust: str
    stratum: str
    practices: tuple[str, ...]
    attributes: Mapping[str, int | float] = field(default_factory=dict, hash=False)
    arm: str | None = None


@dataclass(frozen=True)
class ExtractSpec:
    trust: str
    table: str
    pattern: str
    format: str
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    decimal: str = "."
    date_format: str = "%Y-%m-%d"
    sheet: str | int = 0
    # CSV and Excel: the 1-based line (CSV) or sheet row (Excel) holding the column
    # names; what is above it (a title) is skipped, and source_row counts records from
    # the one below it
    header_row: int = 1
    use_value_labels: bool = True
    columns: Mapping[str, str] = field(default_factory=dict)  # canonical -> source
    codes: Mapping[str, Mapping[str, Any]] = field(
        default_factory=dict
    )  # canonical field -> {source text: canonical}
    # field -> one value for every row: a field this site does not collect
    constants: Mapping[str, Any] = field(default_factory=dict)
    # the file's rows that are this extract's records (a file several extracts share,
    # or holding records of several kinds): source column -> accepted values as text
    # ("" for an empty cell); every column must match
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # ... and among those, the rows holding a value in one of these source columns
    # other than empty and the column's listed blanks (no such value: not a record)
    filled: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # one line added to a fatal error about this extract's file (how to export it again)
    hint: str = ""

    @property
    def selects(self) -> bool:
        """Whether the extract takes only some of its file's rows."""
        return bool(self.where or self.filled)


@dataclass(frozen=True)
class ClusterVariable:
    """A cluster field named in the randomisation design, with its display label."""

    column: str
    label: str
    decimals: int = 1


@dataclass(frozen=True)
class BaselineLevel:
    """A row of a categorical baseline variable: its label and the codes it counts."""

    label: str
    codes: tuple[Any, ...]


@dataclass(frozen=True)
class BaselineVariable:
    """A participant field tabulated by arm in the baseline table.

    ``binary``: Yes/No, n (%); ``continuous``: mean (SD) to ``decimals``;
    ``categorical``: one n (%) row per level, in ``levels`` order (or most
    common first when ``order`` is ``"frequency"``). A definition's categorical
    variable has a level per vocabulary code, or per declared group of codes;
    built by hand with no ``levels``, the values present are its levels.
    """

    column: str
    label: str
    kind: str = "binary"
    decimals: int = 1
    levels: tuple[BaselineLevel, ...] = ()
    order: str = "declared"


BASELINE_KINDS: Final = ("binary", "continuous", "categorical")
#: How a categorical variable's levels are ordered: as declared (the vocabulary's
#: order, or the groups' as listed), or most common first among all participants.
BASELINE_ORDERS: Final = ("declared", "frequency")


def code_label(code: Any) -> str:
    """A code shown as a label when the definition gives none: ``not_stated`` -> ``Not stated``."""
    s = str(code).replace("_", " ")
    return s[:1].upper() + s[1:]


#: The TOML name of the strata table.
STRATA_TABLE: Final = "strata"
#: Keys of a ``[[clusters]]`` entry that are not cluster attributes (besides its stratum key).
CLUSTER_KEYS: Final = ("id", "arm", "practices")
#: Cluster fields every trial has: no attribute may take their names.
CLUSTER_FIXED: Final = ("cluster_id", "trust", "n_practices")


@dataclass(frozen=True)
class Visit:
    """A scheduled follow-up assessment: due ``month`` calendar months after
    consent, accepted up to ``window_days`` days either side of that date, or
    ``window_before_days`` before and ``window_after_days`` after it when given
    (a protocol's window may be uneven, e.g. REDCap's event offsets). A
    ``placeholder`` is a visit ``odtrial init`` made up where the exports gave no
    month: ``odtrial check`` fails until the protocol's visits replace it."""

    month: int
    window_days: int
    window_before_days: int | None = None
    window_after_days: int | None = None
    placeholder: bool = False

    @property
    def before(self) -> int:
        """Days before the due date a record is accepted."""
        return self.window_days if self.window_before_days is None else self.window_before_days

    @property
    def after(self) -> int:
        """Days after the due date a record is accepted."""
        return self.window_days if self.window_after_days is None else self.window_after_days


@dataclass(frozen=True)
class Pseudonymisation:
    key_env: str = "ODTRIAL_PSEUDONYM_KEY"
    test_key: str | None = None


@dataclass(frozen=True)
class Trial:
    name: str
    registration: str
    synthetic: bool
    arms: tuple[str, str]
    follow_up_months: int
    data_cutoff: date
    trusts: tuple[Trust, ...]
    strata_levels: tuple[Stratum, ...]  # the strata table, in file order
    clusters: tuple[Cluster, ...]
    extracts: Mapping[str, Mapping[str, ExtractSpec]]  # trust id -> table -> spec
    pseudonymisation: Pseudonymisation
    config_sha256: str
    path: Path | None = None
    randomisation_record: str | None = None  # as written in the config
    arm_labels: Mapping[str, str] = field(default_factory=dict)  # code -> label (all arms)
    strata: ClusterVariable | None = None  # the allocation's stratum, if declared
    balance: tuple[ClusterVariable, ...] = ()  # the allocation's balance variables
    baseline: tuple[BaselineVariable, ...] = ()  # extra rows of the baseline table
    # the trial's own medication dictionary ([medication]); None: the shipped one
    medication: MedicationDictionary | None = None
    visits: tuple[Visit, ...] = ()  # [visits] schedule, by month
    min_age: int = 0  # [eligibility] min_age: completed years at consent
    # the numeric cluster attributes the trial declares, in the order of its first cluster
    cluster_attributes: tuple[str, ...] = ()
    # the declared tables (participants first) and vocabularies
    tables: Mapping[str, TableSpec] = field(default_factory=dict)
    vocabularies: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    # the cluster key naming its stratum: also the stratum's column in the frozen tables
    stratum_key: str = "stratum"

    @property
    def stratum_column(self) -> str:
        """The column holding a cluster's stratum id in the frozen tables."""
        return self.stratum_key

    @property
    def participants(self) -> TableSpec:
        """The participants table."""
        return self.tables[PARTICIPANTS]

    def vocabulary(self, name: str) -> tuple[Any, ...]:
        """The canonical values of a vocabulary: a declared one, ``yes_no``
        (True, False), ``visit`` (the schedule's months) or ``drug`` (the generic
        names of the trial's medication dictionary)."""
        if name == "yes_no":
            return (True, False)
        if name == "visit":
            return self.visit_months
        if name == "drug":
            from odtrial.data.drugs import DICTIONARY

            return tuple(DICTIONARY if self.medication is None else self.medication)
        return self.vocabularies[name]

    @property
    def visit_months(self) -> tuple[int, ...]:
        """The scheduled visit months, ascending."""
        return tuple(v.month for v in self.visits)

    def visit_windows(self) -> dict[int, int]:
        """Visit month -> its window in days (``window_days``)."""
        return {v.month: v.window_days for v in self.visits}

    def visit_sides(self) -> dict[int, tuple[int, int]]:
        """Visit month -> days accepted (before, after) its due date."""
        return {v.month: (v.before, v.after) for v in self.visits}

    def arm_label(self, code: str) -> str:
        """The display label of an arm code (the code itself when none is declared)."""
        return self.arm_labels.get(code, code)

    @property
    def randomisation_dir(self) -> Path | None:
        """The randomisation record folder, resolved against the config's folder."""
        if self.randomisation_record is None:
            return None
        rel = Path(self.randomisation_record)
        return rel if rel.is_absolute() or self.path is None else self.path.parent / rel

    def trust(self, trust_id: str) -> Trust:
        for t in self.trusts:
            if t.id == trust_id:
                return t
        raise KeyError(trust_id)

    def cluster_of_practice(self) -> dict[str, str]:
        """GP practice code -> cluster id."""
        return {p: c.id for c in self.clusters for p in c.practices}

    def cluster_by_id(self) -> dict[str, Cluster]:
        return {c.id: c for c in self.clusters}

    @property
    def allocated(self) -> bool:
        return all(c.arm is not None for c in self.clusters)


def load_trial(path: str | Path) -> Trial:
    """Read and validate a trial configuration TOML file.

    Raises :class:`~odtrial.errors.ConfigError` naming the offending key.
    """
    p = Path(path)
    try:
        raw_bytes = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read trial configuration ({e.strerror})") from None
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from None
    trial = parse_trial(raw, source=str(p), base=p.parent)
    return _replace_meta(trial, hashlib.sha256(raw_bytes).hexdigest(), p)


def _replace_meta(t: Trial, sha: str, path: Path) -> Trial:
    return replace(t, config_sha256=sha, path=path)


class ConfigErrors(ConfigError):
    """Every failure of a trial definition, one line each in :attr:`messages`.

    ``str()`` is one line: the first failure, and how many more there are
    (``odtrial check`` lists them all)."""

    def __init__(self, source: str, messages: Sequence[str]) -> None:
        self.source = source
        self.messages, message = summary(source, messages, "odtrial check")
        super().__init__(message)


_TOP_KEYS: Final = {
    "trial",
    "vocabularies",
    "tables",
    "pseudonymisation",
    "randomisation",
    "trusts",
    STRATA_TABLE,
    "clusters",
    "extracts",
    "baseline",
    "medication",
    "visits",
    "eligibility",
}


def parse_trial(
    raw: Mapping[str, Any], *, source: str = "<config>", base: Path | None = None
) -> Trial:
    """Validate a parsed TOML mapping into a :class:`Trial`.

    Every part is checked before failing: :class:`ConfigErrors` (a ConfigError)
    carries every failure, one line each with its full key path. Files the
    definition names are relative to ``base`` (default: the working folder).
    """
    errs = Errors()
    trial = _parse(TomlReader(raw, "", source, errs=errs), base or Path.cwd())
    if errs.lines or trial is None:
        raise ConfigErrors(source, errs.lines)
    return trial


def _raw_ids(top: TomlReader, key: str) -> list[str]:
    """The string ids of the tables in the array ``key``, valid or not, so that a
    bad entry elsewhere in a table does not make every reference to it an error too."""
    v = top.data.get(key)
    if not isinstance(v, list):
        return []
    return [x["id"] for x in v if isinstance(x, Mapping) and isinstance(x.get("id"), str)]


def _strata_names(top: TomlReader) -> tuple[str, str]:
    """The strata table's TOML name and the cluster key naming a stratum.

    The key is the cluster key whose values are most often stratum ids (ties: the
    column of ``[randomisation] strata``, then the first seen), so that a misspelt
    stratum or column is one error, not one per cluster; with none, that column
    when clusters have it, else ``stratum``.
    """
    clusters = top.data.get("clusters")
    entries = [c for c in clusters if isinstance(c, Mapping)] if isinstance(clusters, list) else []
    rnd = top.data.get("randomisation")
    strata = rnd.get("strata") if isinstance(rnd, Mapping) else None
    col = strata.get("column") if isinstance(strata, Mapping) else None
    ids = set(_raw_ids(top, STRATA_TABLE))
    hits: dict[str, int] = {}
    for c in entries:
        for k, v in c.items():
            if k not in CLUSTER_KEYS and isinstance(v, str) and v in ids:
                hits[k] = hits.get(k, 0) + 1
    if hits:
        best = max(hits.values())
        tied = [k for k, n in hits.items() if n == best]
        return STRATA_TABLE, col if col in tied else tied[0]
    if isinstance(col, str) and col != "trust" and entries and col in entries[0]:
        return STRATA_TABLE, col
    return STRATA_TABLE, "stratum"


def _parse(top: TomlReader, base: Path) -> Trial | None:
    top.unknown_keys(set(_TOP_KEYS))
    strata_table, stratum_key = _strata_names(top)
    arms: tuple[str, str] | None = None
    arm_labels: dict[str, str] = {}
    synthetic = False
    name = registration = cutoff = follow_up = None
    with top.guard():
        t = top.sub("trial")
        t.unknown_keys(
            {"name", "registration", "synthetic", "arms", "follow_up_months", "data_cutoff"}
        )
        with t.guard():
            arms, arm_labels = _parse_arms(t)
        synthetic = bool(t.value("synthetic", bool, False))
        cutoff = t.value("data_cutoff", date)
        follow_up = t.value("follow_up_months", int)
        if follow_up is not None and follow_up <= 0:
            t.report("follow_up_months", "must be positive")
        name = t.value("name", str)
        registration = t.value("registration", str, "")

    pseudo = Pseudonymisation()
    with top.guard():
        ps = top.sub("pseudonymisation", default={})
        ps.unknown_keys({"key_env", "test_key"})
        pseudo = Pseudonymisation(
            key_env=ps.value("key_env", str, "ODTRIAL_PSEUDONYM_KEY"),
            test_key=ps.value("test_key", str, None),
        )
        if pseudo.test_key is not None and not synthetic:
            ps.report("test_key", "is only allowed for a synthetic trial (trial.synthetic = true)")

    record = None
    strata = None
    balance: tuple[ClusterVariable, ...] = ()
    with top.guard():
        rnd = top.sub("randomisation", default={})
        rnd.unknown_keys({"record", "strata", "balance"})
        record = rnd.value("record", str, None)
        if record is not None and not record.strip():
            rnd.report("record", "must name a folder")
        if "strata" in rnd.data:
            with rnd.guard():
                strata = _cluster_variable(
                    rnd.sub("strata"), ("trust", stratum_key), decimals=False
                )
        if "balance" in rnd.data:
            # numeric cluster fields: the practice count and the declared attributes
            numeric = ("n_practices", *_raw_attribute_names(top, stratum_key))
            with rnd.guard():
                bal = []
                for r in rnd.items("balance"):
                    with r.guard():
                        bal.append(_cluster_variable(r, numeric))
                balance = tuple(bal)
                if len({b.column for b in balance}) != len(balance):
                    rnd.report("balance", "names a column twice")

    visits: tuple[Visit, ...] = ()
    with top.guard():
        visits = _parse_visits(top.sub("visits"), follow_up)

    min_age = 0
    with top.guard():
        el = top.sub("eligibility")
        el.unknown_keys({"min_age"})
        min_age = el.value("min_age", int)
        if min_age is not None and not 0 <= min_age <= 120:
            el.report("min_age", f"must be a whole number of years from 0 to 120, got {min_age}")

    medication = None
    with top.guard():
        medication = _parse_medication(top.sub("medication", default={}), base)

    trusts = []
    with top.guard():
        for r in top.items("trusts"):
            r.unknown_keys({"id", "name", "directory"})
            with r.guard():
                tid = r.get("id", str)
                trusts.append(Trust(tid, r.get("name", str), r.get("directory", str, tid)))
    trust_list = _raw_ids(top, "trusts")
    trust_ids = set(trust_list)
    if len(trust_ids) != len(trust_list):
        top.report("trusts", "has duplicated ids")

    strata_levels = []
    with top.guard():
        for r in top.items(strata_table):
            r.unknown_keys({"id", "trust", "name"})
            with r.guard():
                sid = r.get("id", str)
                st = Stratum(sid, r.get("trust", str), r.get("name", str, sid))
                if st.trust not in trust_ids:
                    raise r.fail(
                        "trust",
                        f"names unknown trust {st.trust!r}{suggest(st.trust, sorted(trust_ids))}",
                    )
                strata_levels.append(st)
    stratum_trust = {st.id: st.trust for st in strata_levels}
    stratum_list = _raw_ids(top, strata_table)
    stratum_ids = set(stratum_list)
    if len(stratum_ids) != len(stratum_list):
        top.report(strata_table, "has duplicated ids")

    clusters: list[Cluster] = []
    seen_practices: dict[str, str] = {}
    attributes = _raw_attribute_names(top, stratum_key)
    with top.guard():
        for r in top.items("clusters"):
            with r.guard():
                clusters.append(
                    _parse_cluster(
                        r,
                        stratum_ids,
                        stratum_trust,
                        seen_practices,
                        arms,
                        attributes,
                        (strata_table, stratum_key),
                    )
                )
    clusters = _common_attribute_types(clusters, attributes)
    cluster_list = _raw_ids(top, "clusters")
    if len(set(cluster_list)) != len(cluster_list):
        top.report("clusters", "has duplicated ids")

    vocabularies: dict[str, tuple[Any, ...]] = {}
    with top.guard():
        vocabularies = parse_vocabularies(top.sub("vocabularies", default={}))
    tables: dict[str, TableSpec] = {}
    with top.guard():
        tables = parse_tables(top, vocabularies)
    participants = tables.get(PARTICIPANTS)
    if participants is not None:
        raw_clusters = top.data.get("clusters")
        for i, c in enumerate(raw_clusters if isinstance(raw_clusters, list) else []):
            if not isinstance(c, Mapping):
                continue
            if participants.practice is None and "practices" in c:
                top.report(
                    f"clusters[{i}].practices",
                    "is only used when the participants table declares its practice field",
                )
                break
            if participants.practice is not None and "practices" not in c:
                top.report(
                    f"clusters[{i}].practices",
                    "is missing (the participants table declares a practice field)",
                )
    baseline: tuple[BaselineVariable, ...] = ()
    with top.guard():
        baseline = _parse_baseline(
            top.sub("baseline", default={}), participants, stratum_key, vocabularies
        )

    extracts: dict[str, dict[str, ExtractSpec]] = {}
    with top.guard():
        ex = top.sub("extracts")
        for trust_id in ex.data:
            with ex.guard():
                if trust_id not in trust_ids:
                    raise ex.fail(
                        trust_id, f"is not a trust id{suggest(trust_id, sorted(trust_ids))}"
                    )
                tr = ex.sub(trust_id)
                if tables:
                    tr.unknown_keys(set(tables))
                extracts[trust_id] = {}
                for table in tr.data:
                    if table in tables:  # an unknown one is reported above
                        with tr.guard():
                            extracts[trust_id][table] = _parse_extract(
                                _like(ex, tr.sub(table), table, trust_ids),
                                trust_id,
                                tables[table],
                            )
        for trust_id in sorted(trust_ids):
            sent = ex.data.get(trust_id)
            if not isinstance(sent, Mapping):  # absent (a non-table is reported above)
                if sent is None:
                    ex.report(trust_id, "is missing (every trust sends its participants table)")
                continue
            if PARTICIPANTS not in sent:
                ex.report(
                    f"{trust_id}.{PARTICIPANTS}",
                    "is missing (every trust sends its participants table)",
                )

    if (top.errs is not None and top.errs.lines) or arms is None:
        return None
    return Trial(
        name=name,
        registration=registration,
        synthetic=synthetic,
        arms=arms,
        follow_up_months=follow_up,
        data_cutoff=cutoff,
        trusts=tuple(trusts),
        strata_levels=tuple(strata_levels),
        clusters=tuple(clusters),
        extracts=extracts,
        pseudonymisation=pseudo,
        config_sha256="",
        randomisation_record=record,
        arm_labels=arm_labels,
        strata=strata,
        balance=balance,
        baseline=baseline,
        medication=medication,
        visits=visits,
        min_age=min_age,
        cluster_attributes=attributes,
        tables=tables,
        vocabularies=vocabularies,
        stratum_key=stratum_key,
    )


#: Keys of a visit giving one side of its window its own length.
_WINDOW_SIDES: Final = ("window_before_days", "window_after_days")


def _parse_visits(v: TomlReader, follow_up: int | None) -> tuple[Visit, ...]:
    """``[visits] schedule``: one ``{month, window_days}`` table per visit, each
    month once, within follow-up; windows positive and short enough that
    neighbouring visits' windows do not overlap (a record's visit is its label,
    but an overlap would let one assessment satisfy two visits). A side may have
    its own ``window_before_days`` / ``window_after_days`` (0 or more);
    ``window_days`` may then be left out when both are given."""
    v.unknown_keys({"schedule"})
    out: list[Visit] = []
    where: dict[int, str] = {}  # month -> key path of its first entry
    rows = v.items("schedule")
    if not rows:
        raise v.fail("schedule", "must list at least one visit")
    for r in rows:
        r.unknown_keys({"month", "window_days", "placeholder", *_WINDOW_SIDES})
        month = r.value("month", int)
        placeholder = r.value("placeholder", bool, False)
        sides = {k: r.value(k, int, None) for k in _WINDOW_SIDES}
        for k, days in sides.items():
            if days is not None and days < 0:
                r.report(k, f"must be a whole number of days, 0 or more, got {days}")
        both = all(d is not None and d >= 0 for d in sides.values())
        window = r.value("window_days", int, max(sides.values()) if both else ...)
        if month is not None:
            if month <= 0:
                r.report("month", f"must be a positive whole number of months, got {month}")
                month = None
            elif follow_up is not None and month > follow_up:
                r.report(
                    "month",
                    f"{month} is after the end of follow-up (trial.follow_up_months = {follow_up})",
                )
            elif month in where:
                r.report("month", f"repeats month {month} (already at {where[month]})")
                month = None
            else:
                where[month] = f"{r.where}.month"
        if window is not None and window <= 0:
            r.report("window_days", f"must be a positive whole number of days, got {window}")
            window = None
        if month is not None and window is not None:
            before, after = sides.values()
            out.append(Visit(month, window, before, after, placeholder=bool(placeholder)))
    out.sort(key=lambda x: x.month)
    for a, b in pairwise(out):
        # a month is at least 28 days: windows closer than that may overlap
        if a.after + b.before >= 28 * (b.month - a.month):
            v.report(
                "schedule",
                f"windows of the {a.month}- and {b.month}-month visits "
                f"({a.after} + {b.before} days) may overlap",
            )
    return tuple(out)


def _parse_medication(m: TomlReader, base: Path) -> MedicationDictionary | None:
    """``[medication]``: the trial's dictionary file (replacing the shipped one) and/or
    a file extending it, each loaded and validated here."""
    m.unknown_keys({"dictionary", "extend"})
    files: dict[str, Path | None] = {}
    for k in ("dictionary", "extend"):
        name = m.value(k, str, None)
        if name is not None and not name.strip():
            m.report(k, "must name a file")
            name = None
        f = None if name is None else base / name
        if f is not None and not f.is_file():
            m.report(k, f"names {name!r}, not a file in {base}")
            return None
        files[k] = f
    if files["dictionary"] is None and files["extend"] is None:
        return None
    try:
        return load_medication_dictionary(files["dictionary"], extend=files["extend"])
    except ConfigError as e:
        # the loader's message names the file at fault
        ext = files["extend"]
        m.report(
            "extend" if ext is not None and str(ext) in str(e) else "dictionary",
            f"does not load: {e}",
        )
        return None


def _raw_attribute_names(top: TomlReader, stratum_key: str) -> tuple[str, ...]:
    """The cluster attributes the trial declares: the keys of its first
    ``[[clusters]]`` entry that are not structural (:data:`CLUSTER_KEYS`), in file
    order. Read from the raw data so that a bad entry does not hide them."""
    v = top.data.get("clusters")
    first = next((x for x in v if isinstance(x, Mapping)), None) if isinstance(v, list) else None
    if first is None:
        return ()
    skip = {*CLUSTER_KEYS, *CLUSTER_FIXED, stratum_key}
    return tuple(k for k in first if k not in skip)


def _parse_cluster(
    r: TomlReader,
    stratum_ids: set[str],
    stratum_trust: Mapping[str, str],
    seen_practices: dict[str, str],
    arms: tuple[str, str] | None,
    attributes: tuple[str, ...],
    strata: tuple[str, str],
) -> Cluster:
    strata_table, stratum_key = strata
    cid = r.get("id", str)
    stratum = r.value(stratum_key, str)
    if stratum is not None and stratum not in stratum_ids:
        r.report(
            stratum_key,
            f"names unknown stratum {stratum!r}{suggest(stratum, sorted(stratum_ids))} "
            f"(the ids of [[{strata_table}]])",
        )
    practices = r.value("practices", list, None)
    if practices is not None:
        if not practices or not all(isinstance(x, str) for x in practices):
            r.report("practices", "must be a non-empty list of practice codes")
            practices = []
        for pc in practices:
            if pc in seen_practices:
                r.report(
                    "practices", f"practice {pc!r} is already in cluster {seen_practices[pc]!r}"
                )
            seen_practices[pc] = cid
    arm = r.value("arm", str, None)
    if arm is not None and arms is not None and arm not in arms:
        r.report("arm", f"must be one of {list(arms)}, got {arm!r}")
    values: dict[str, int | float] = {}
    for k in r.data:
        if k in CLUSTER_KEYS or k == stratum_key:
            continue
        if k in CLUSTER_FIXED:
            r.report(
                k,
                f"is a cluster field every trial has ({', '.join(CLUSTER_FIXED)}), "
                "not an attribute to declare",
            )
        elif k not in attributes:
            r.report(
                k,
                f"is not an attribute of the first cluster (every cluster declares the same "
                f"ones: {', '.join(attributes) or 'none'})",
            )
        else:
            v = r.data[k]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                r.report(
                    k,
                    f"must be a finite number (a cluster attribute), got {type(v).__name__} {v!r}",
                )
            else:
                values[k] = v
    for k in attributes:
        if k not in r.data:
            r.report(k, "is missing (every cluster declares the same attributes as the first)")
    return Cluster(
        id=cid,
        trust=stratum_trust.get(stratum or "", ""),
        stratum=stratum or "",
        practices=tuple(practices or ()),
        attributes=values,
        arm=arm,
    )


def _common_attribute_types(clusters: list[Cluster], attributes: tuple[str, ...]) -> list[Cluster]:
    """One type per attribute: whole numbers stay ``int`` only if every cluster's
    value is one, else all become ``float`` (the frozen column's dtype)."""
    floats = {
        k for k in attributes if any(isinstance(c.attributes.get(k), float) for c in clusters)
    }
    if not floats:
        return clusters
    return [
        replace(
            c,
            attributes={k: float(v) if k in floats else v for k, v in c.attributes.items()},
        )
        for c in clusters
    ]


def _parse_baseline(
    b: TomlReader,
    participants: TableSpec | None,
    stratum: str,
    vocabularies: Mapping[str, tuple[Any, ...]],
) -> tuple[BaselineVariable, ...]:
    """``[baseline] variables``: participant fields for the baseline table, each checked
    against the frozen participants column it names (``participants`` None: the
    table did not parse, so columns are not checked)."""
    b.unknown_keys({"variables"})
    if "variables" not in b.data:
        return ()
    types = _frozen_types(participants, stratum) if participants is not None else None
    out = []
    for r in b.items("variables"):
        r.unknown_keys({"column", "label", "kind", "decimals", "labels", "groups", "order"})
        with r.guard():
            column = r.get("column", str)
            kind = r.value("kind", str, "binary")
            if kind is not None and kind not in BASELINE_KINDS:
                r.report(
                    "kind",
                    f"must be one of {', '.join(BASELINE_KINDS)}, got {kind!r}"
                    f"{suggest(kind, BASELINE_KINDS)}",
                )
                kind = None
            ftype: tuple[str, str | None] | None = None
            if types is not None:
                ftype = types.get(column)
                if ftype is None:
                    known = sorted(types)
                    r.report(
                        "column",
                        f"is not a frozen participants field{suggest(column, known)} "
                        f"(known: {', '.join(known)})",
                    )
                elif kind is not None:
                    _check_baseline_type(r, column, kind, ftype)
            for k in ("labels", "groups", "order"):
                if k in r.data and kind not in (None, "categorical"):
                    r.report(k, f"is only used for kind categorical (this one is {kind})")
            if "decimals" in r.data and kind not in (None, "continuous"):
                r.report("decimals", f"is only used for kind continuous (this one is {kind})")
            nd = r.value("decimals", int, 1)
            if nd is not None and not 0 <= nd <= 6:
                r.report("decimals", "must be between 0 and 6")
            order = r.value("order", str, "declared")
            if order is not None and order not in BASELINE_ORDERS:
                r.report(
                    "order",
                    f"must be one of {', '.join(BASELINE_ORDERS)}, got {order!r}"
                    f"{suggest(order, BASELINE_ORDERS)}",
                )
            levels: tuple[BaselineLevel, ...] = ()
            vocab = ftype[1] if ftype is not None else None
            if kind == "categorical" and vocab in vocabularies:
                levels = _baseline_levels(r, vocabularies[str(vocab)])
            label = r.get("label", str, column)
            nd = 1 if nd is None else nd
            out.append(
                BaselineVariable(column, label, kind or "binary", nd, levels, order or "declared")
            )
    if len({v.column for v in out}) != len(out):
        b.report("variables", "names a column twice")
    return tuple(out)


def _frozen_types(participants: TableSpec, stratum: str) -> dict[str, tuple[str, str | None]]:
    """Frozen participants column -> (declared type, vocabulary) for the baseline checks:
    a declared field's type (``boolean`` for a yes/no code), ``integer`` for the age
    the freeze computes, ``boolean`` for its link flags, ``string`` for the rest."""
    declared: dict[str, Field] = {}
    for d in participants.fields:
        declared[d.name] = d
        if d.name == participants.consent_date:
            declared["consent_date"] = d
    out: dict[str, tuple[str, str | None]] = {}
    for col in participants.frozen_columns(stratum):
        f = declared.get(col)
        if col == "age_at_consent":
            out[col] = ("integer", None)
        elif col.startswith("has_") and col[4:] in participants.link_flags:
            out[col] = ("boolean", None)
        elif f is None or f.identifier is not None or f.nhs:
            out[col] = ("string", None)
        elif f.vocab == "yes_no":
            out[col] = ("boolean", None)
        else:
            word = {"int": "integer", "float": "number", "str": "string"}.get(f.kind, f.kind)
            out[col] = (word, f.vocab)
    return out


#: The field types each baseline kind can show.
_BASELINE_TYPES: Final = {
    "binary": ("boolean",),
    "continuous": ("integer", "number"),
    "categorical": ("code",),
}


def _check_baseline_type(
    r: TomlReader, column: str, kind: str, ftype: tuple[str, str | None]
) -> None:
    word, vocab = ftype
    if word in _BASELINE_TYPES[kind] and (
        kind != "categorical" or vocab not in BUILTIN_VOCABULARIES
    ):
        return
    fits = [k for k, ts in _BASELINE_TYPES.items() if word in ts]
    hint = f" (use kind = {fits[0]!r})" if fits else ""
    needs = " or ".join(_BASELINE_TYPES[kind])
    r.report("kind", f"{kind} needs {_a(needs)} field; {column!r} is {_a(word)} field{hint}")


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _baseline_levels(r: TomlReader, vocabulary: tuple[Any, ...]) -> tuple[BaselineLevel, ...]:
    """A categorical variable's rows: a level per vocabulary code (labelled by ``labels``,
    else :func:`code_label`), or per entry of ``groups`` (each code in exactly one)."""
    codes = {str(c): c for c in vocabulary}  # TOML keys are text; integer codes too
    known = list(codes)

    def bad(code: Any) -> str | None:
        if str(code) in codes:
            return None
        return (
            f"{code!r} is not a code of the field's vocabulary{suggest(str(code), known)} "
            f"(codes: {', '.join(known)})"
        )

    if "labels" in r.data and "groups" in r.data:
        raise r.fail("groups", "cannot be used with labels (a group has its own label)")
    if "groups" in r.data:
        levels: list[BaselineLevel] = []
        where: dict[str, str] = {}  # code -> its group
        for g in r.items("groups"):
            with g.guard():
                g.unknown_keys({"label", "codes"})
                label = g.get("label", str)
                if not label.strip():
                    g.report("label", "must not be empty")
                members = g.get("codes", list)
                if not members:
                    g.report("codes", "must list at least one code")
                for c in members:
                    if (msg := bad(c)) is not None:
                        g.report("codes", msg)
                    elif str(c) in where:
                        g.report("codes", f"{c!r} is already in group {where[str(c)]!r}")
                    else:
                        where[str(c)] = label
                if label in {lv.label for lv in levels}:
                    g.report("label", f"repeats group {label!r}")
                levels.append(BaselineLevel(label, tuple(codes.get(str(c), c) for c in members)))
        if (left := [c for c in known if c not in where]) and levels:
            r.report("groups", f"leaves codes {', '.join(left)} in no group (every code needs one)")
        return tuple(levels)
    labels = r.sub("labels", default={})
    names: dict[str, str] = {}
    for code, label in labels.data.items():
        if (msg := bad(code)) is not None:
            labels.report(code, msg)
        elif not isinstance(label, str) or not label.strip():
            labels.report(code, f"must be a non-empty label, got {label!r}")
        elif label in names.values():
            other = next(k for k, v in names.items() if v == label)
            labels.report(code, f"repeats the label of {other!r} (combine codes with groups)")
        else:
            names[code] = label
    return tuple(BaselineLevel(names.get(k, code_label(c)), (c,)) for k, c in codes.items())


def _parse_arms(t: TomlReader) -> tuple[tuple[str, str], dict[str, str]]:
    """``trial.arms``: two codes, or two ``{code, label}`` tables (intervention first)."""
    raw = t.get("arms", list)
    if len(raw) == 2 and all(isinstance(a, dict) for a in raw):
        codes, labels = [], {}
        for r in t.items("arms"):
            r.unknown_keys({"code", "label"})
            code = r.get("code", str)
            label = r.get("label", str, code)
            if not code.strip() or not label.strip():
                raise r.fail("label" if code.strip() else "code", "must not be empty")
            codes.append(code)
            labels[code] = label
    elif all(isinstance(a, str) for a in raw):
        codes, labels = list(raw), {a: a for a in raw}
    else:
        raise t.fail("arms", "must list two arm codes, or two {code, label} tables")
    if len(codes) != 2 or len(set(codes)) != 2:
        raise t.fail("arms", "must list two distinct arm names, intervention first")
    if len(set(labels.values())) != 2:
        raise t.fail("arms", "must give the two arms different labels")
    return (codes[0], codes[1]), labels


def _cluster_variable(
    r: TomlReader, allowed: tuple[str, ...], *, decimals: bool = True
) -> ClusterVariable:
    r.unknown_keys({"column", "label", "decimals"} if decimals else {"column", "label"})
    column = r.get("column", str)
    if column not in allowed:
        r.report(
            "column",
            f"must be one of the cluster fields {', '.join(allowed)}, got {column!r}"
            f"{suggest(column, allowed)}",
        )
    nd = r.value("decimals", int, 1)
    if nd is not None and not 0 <= nd <= 6:
        r.report("decimals", "must be between 0 and 6")
    return ClusterVariable(column, r.value("label", str, column), nd)


def _like(ex: TomlReader, r: TomlReader, table: str, trust_ids: set[str]) -> TomlReader:
    """An extract with ``like = "<trust>"``: that trust's extract of the same table with
    this one's keys in place of its own (sites sharing one export differ in a key or two)."""
    if "like" not in r.data:
        return r
    other = r.value("like", str)
    if other is None:
        return r
    sent = ex.data.get(other)
    base = sent.get(table) if isinstance(sent, Mapping) else None
    if other not in trust_ids or not isinstance(base, Mapping):
        raise r.fail(
            "like",
            f"names {other!r}, not a trust whose {table} extract is given"
            f"{suggest(other, sorted(trust_ids))}",
        )
    if "like" in base:
        raise r.fail("like", f"names {other!r}, whose {table} extract is itself like another")
    merged = {**base, **{k: v for k, v in r.data.items() if k != "like"}}
    return TomlReader(merged, r.where, r.source, r.error, r.errs)


_EXTRACT_KEYS = {
    "like",
    "pattern",
    "format",
    "encoding",
    "delimiter",
    "quotechar",
    "decimal",
    "date_format",
    "sheet",
    "header_row",
    "use_value_labels",
    "columns",
    "codes",
    "constants",
    "where",
    "filled",
    "hint",
}


def _parse_extract(r: TomlReader, trust: str, spec: TableSpec) -> ExtractSpec:
    table = spec.name
    r.unknown_keys(_EXTRACT_KEYS)
    fmt = r.value("format", str)
    if fmt is not None and fmt not in FORMATS:
        r.report(
            "format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}{suggest(fmt, FORMATS)}"
        )
    encoding = r.value("encoding", str, "utf-8")
    if encoding is not None:
        try:
            "".encode(encoding)
        except LookupError:
            r.report("encoding", f"names unknown encoding {encoding!r}")
    delimiter = r.value("delimiter", str, ",")
    if delimiter is not None and len(delimiter) != 1:
        r.report("delimiter", "must be one character")
    date_format = r.value("date_format", str, "%Y-%m-%d")
    if (
        date_format is not None
        and "%" not in date_format
        and date_format not in DATE_FORMATS_SPECIAL
    ):
        r.report(
            "date_format", f"must be a strftime pattern or one of {', '.join(DATE_FORMATS_SPECIAL)}"
        )
    header_row = r.value("header_row", int, 1)
    if header_row is not None and header_row < 1:
        r.report("header_row", f"must be a row number from 1, got {header_row}")
    elif header_row not in (None, 1) and fmt not in (None, "csv", "excel"):
        r.report("header_row", f"is only read for csv and excel extracts (this one is {fmt})")
    known = set(spec.names)
    constants: dict[str, Any] = {}
    with r.guard():
        const_r = r.sub("constants", default={})
        for k in const_r.data:
            if k not in known:
                const_r.report(k, f"is not a field of {table}{suggest(k, sorted(known))}")
            elif k in spec.identifiers():
                const_r.report(k, "identifies a participant: it cannot be a constant")
            else:
                v = const_r.data[k]
                if isinstance(v, dict | list):
                    const_r.report(k, "must be a single value")
                else:
                    constants[k] = v
    columns: dict[str, str] = {}
    with r.guard():
        cols_r = r.sub("columns")
        for k in cols_r.data:
            if k not in known:
                cols_r.report(
                    k,
                    f"is not a field of {table}{suggest(k, sorted(known))} "
                    f"(known: {', '.join(sorted(known))})",
                )
            elif k in constants:
                cols_r.report(k, "is also given a constant: keep one")
            elif (v := cols_r.value(k, str)) is not None:
                columns[k] = v
        for f in spec.fields:
            if f.required and f.name not in cols_r.data and f.name not in constants:
                cols_r.report(
                    f.name, "is missing (a required field: map a column or give a constant)"
                )
    codes: dict[str, dict[str, Any]] = {}
    with r.guard():
        codes_r = r.sub("codes", default={})
        for k in codes_r.data:
            if k not in known:
                codes_r.report(k, f"is not a canonical field of {table}{suggest(k, sorted(known))}")
            elif (m := codes_r.value(k, dict)) is not None:
                codes[k] = {str(src): dst for src, dst in m.items()}
    where: dict[str, tuple[str, ...]] = {}
    with r.guard():
        where_r = r.sub("where", default={})
        for k, v in where_r.data.items():
            values = v if isinstance(v, list) else [v]
            if not values or not all(
                isinstance(x, str | int) and not isinstance(x, bool) for x in values
            ):
                where_r.report(
                    k, "must be a value (text or a whole number) or a non-empty list of them"
                )
            else:
                where[k] = tuple(str(x) for x in values)
    filled: dict[str, tuple[str, ...]] = {}
    with r.guard():
        filled_r = r.sub("filled", default={})
        for k, v in filled_r.data.items():
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                filled_r.report(k, "must be a list of the texts that count as blank (may be empty)")
            else:
                filled[k] = tuple(v)
    hint = r.value("hint", str, "")
    return ExtractSpec(
        trust=trust,
        table=table,
        pattern=r.value("pattern", str),
        format=fmt or "",
        encoding=encoding or "utf-8",
        delimiter=delimiter or ",",
        quotechar=r.value("quotechar", str, '"'),
        decimal=r.value("decimal", str, "."),
        date_format=date_format or "%Y-%m-%d",
        sheet=r.value("sheet", (str, int), 0),
        header_row=header_row if header_row is not None and header_row >= 1 else 1,
        use_value_labels=bool(r.value("use_value_labels", bool, True)),
        columns=columns,
        codes=codes,
        constants=constants,
        where=where,
        filled=filled,
        hint=hint or "",
    )
