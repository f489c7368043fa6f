"""The medication dictionary: a versioned data file, not code.

The package ships ``dictionaries/medication_v<N>.csv`` (one row per generic
drug), each with a JSON header of the same stem (name, version, date, the drug
classes it declares, the full citation of every source, notes). The newest
version is the default (:data:`SHIPPED`). A shipped version's rows never change:
adding or changing a row classifies the same prescriptions differently, so it
makes a new version, and the earlier files stay in the package. A trial pins a
version by naming that file (a copy of ``shipped_path("1")`` next to its
``trial.toml``) as its ``[medication] dictionary``; ingest then copies it into
the freeze, whose manifest records its version. Columns:

``generic``
    Canonical name, compared lower case.
``class``
    A class the dictionary declares: its header's ``classes`` (class name ->
    description). A file that declares none uses the shipped dictionary's; an
    extension may declare more. ``antipsychotic`` is the class chlorpromazine
    equivalents are defined for.
``brands``
    Common UK brand names, ``;``-separated; a brand resolves to its generic.
``bnf_section``, ``atc_code``
    BNF section (e.g. ``4.2.1``) and WHO ATC code (7 characters, e.g. ``N05AH03``).
``max_daily_mg``
    Adult maximum daily dose (drives the ``implausible_dose`` check).
``woods2003_mg_per_100cpz``, ``leucht2015_mg_per_1olz``
    Chlorpromazine (CPZ) equivalence factors (antipsychotics only).
``ddd``, ``ddd_unit``
    WHO defined daily dose (oral) and its unit (``mg`` or ``mmol``).

Every value column has a ``*_source`` column; a value needs a source and a
source needs a value. An empty cell means "not recorded", never zero. When the
file has a header, every source must be one it cites.

A trial extends the shipped dictionary with its own file (``extend=``: rows
and classes are added; a name, brand or class already present is an error) or
replaces it (``path=``). A trial names its files in its definition's
``[medication]`` table (``dictionary`` replaces, ``extend`` adds; see
:mod:`odtrial.trial`).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Final

from odtrial.errors import ConfigError

# The class chlorpromazine equivalents are defined for (a pharmacological fact, not a
# choice of the shipped dictionary).
ANTIPSYCHOTIC: Final = "antipsychotic"
DDD_UNITS: Final = ("mg", "mmol")
SHIPPED_VERSIONS: Final = ("1", "2")  # dictionaries/medication_v<version>.csv
SHIPPED: Final = f"medication_v{SHIPPED_VERSIONS[-1]}.csv"

# value column -> its source column
_VALUED: Final = {
    "max_daily_mg": "max_daily_source",
    "woods2003_mg_per_100cpz": "woods2003_source",
    "leucht2015_mg_per_1olz": "leucht2015_source",
    "ddd": "ddd_source",
}
COLUMNS: Final = (
    "generic",
    "class",
    "brands",
    "bnf_section",
    "atc_code",
    "max_daily_mg",
    "max_daily_source",
    "woods2003_mg_per_100cpz",
    "woods2003_source",
    "leucht2015_mg_per_1olz",
    "leucht2015_source",
    "ddd",
    "ddd_unit",
    "ddd_source",
)
_BNF = re.compile(r"\d{1,2}(\.\d{1,2}){0,3}")
_ATC = re.compile(r"[A-Z]\d\d[A-Z]{2}\d\d")
_CLASS = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Drug:
    """One generic drug of the dictionary.

    ``max_daily_mg`` is NaN when no maximum is recorded (no upper dose check);
    the CPZ factors and ``ddd`` are None when not recorded.
    """

    name: str
    drug_class: str
    max_daily_mg: float
    woods2003_mg_per_100cpz: float | None = None
    leucht2015_mg_per_1olz: float | None = None
    brands: tuple[str, ...] = ()
    bnf_section: str = ""
    atc_code: str = ""
    ddd: float | None = None
    ddd_unit: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def antipsychotic(self) -> bool:
        return self.drug_class == ANTIPSYCHOTIC


@dataclass(frozen=True)
class MedicationDictionary:
    """Drugs by generic name, brand index, the classes declared, and the provenance of
    each file loaded."""

    drugs: Mapping[str, Drug]
    brands: Mapping[str, str]  # lower-case brand -> generic
    headers: tuple[Mapping[str, object], ...]  # one per file (empty if it has none)
    files: tuple[str, ...]
    classes: Mapping[str, str]  # class -> description, in declaration order

    def resolve(self, name: str) -> Drug | None:
        """The drug called ``name`` (generic or brand, any case/surrounding space), or None."""
        key = str(name).strip().lower()
        drug = self.drugs.get(key)
        if drug is None and key in self.brands:
            drug = self.drugs[self.brands[key]]
        return drug

    def canonical_name(self, name: str) -> str | None:
        """The generic name for a generic or brand name, or None if unknown."""
        drug = self.resolve(name)
        return None if drug is None else drug.name

    def by_class(self, drug_class: str) -> tuple[str, ...]:
        """Generic names of one class, in file order."""
        return tuple(n for n, d in self.drugs.items() if d.drug_class == drug_class)

    @property
    def version(self) -> str:
        """The versions of the files loaded, '+'-joined (``?`` for a file with no header)."""
        return "+".join(str(h.get("version", "?")) for h in self.headers)

    def __iter__(self) -> Iterator[str]:
        return iter(self.drugs)

    def __len__(self) -> int:
        return len(self.drugs)


def shipped_path(version: str | None = None) -> Path:
    """Where a shipped dictionary is (inside the installed package): ``version`` (one
    of :data:`SHIPPED_VERSIONS`), or the newest when None."""
    if version is not None and version not in SHIPPED_VERSIONS:
        raise ConfigError(
            f"medication dictionary version {version!r} is not shipped "
            f"(shipped: {', '.join(SHIPPED_VERSIONS)})"
        )
    name = SHIPPED if version is None else f"medication_v{version}.csv"
    ref = resources.files("odtrial.data").joinpath("dictionaries", name)
    return Path(str(ref))


def load_medication_dictionary(
    path: str | Path | None = None, *, extend: str | Path | None = None
) -> MedicationDictionary:
    """Load a medication dictionary, validated.

    Parameters
    ----------
    path
        The dictionary file (CSV); None for the shipped one. Passing a trial's
        own file replaces the shipped dictionary.
    extend
        A further file whose rows (and the classes its header declares) are added; a
        generic or brand name or a class it shares with ``path`` is an error (to
        change a shipped row, replace the file).

    Raises
    ------
    ConfigError
        One line naming the file, line and column at fault.
    """
    files = [shipped_path() if path is None else Path(path)]
    if extend is not None:
        files.append(Path(extend))
    drugs: dict[str, Drug] = {}
    brands: dict[str, str] = {}
    where: dict[str, str] = {}  # lower-case name or brand -> "file line N"
    headers = []
    classes: dict[str, str] = {}
    for i, f in enumerate(files):
        header = _header(f)
        headers.append(MappingProxyType(header))
        own = header.get("classes")
        if i == 0 and own is None:  # declares no classes: the shipped dictionary's
            own = _header(shipped_path()).get("classes")
            if own is None:  # pragma: no cover - the shipped header declares them
                raise ConfigError(f"medication dictionary {shipped_path()}: no 'classes'")
        assert own is None or isinstance(own, dict)  # checked by _header
        for cls, description in (own or {}).items():
            if cls in classes:
                raise ConfigError(
                    f"medication dictionary header {f.with_suffix('.json')}: key 'classes' "
                    f"declares {cls!r}, which {Path(files[0]).name} already declares"
                )
            classes[cls] = description
        cited = header.get("sources")
        for line, drug in _rows(f, cited if isinstance(cited, Mapping) else None, classes):
            for key, what in [(drug.name, "generic"), *((b.lower(), "brand") for b in drug.brands)]:
                if key in where:
                    raise ConfigError(
                        f"medication dictionary {f}: line {line}, column "
                        f"'{'generic' if what == 'generic' else 'brands'}': {what} name "
                        f"{key!r} is already defined ({where[key]})"
                    )
                where[key] = f"{f.name} line {line}"
            drugs[drug.name] = drug
            brands.update({b.lower(): drug.name for b in drug.brands})
    return MedicationDictionary(
        drugs=MappingProxyType(drugs),
        brands=MappingProxyType(brands),
        headers=tuple(headers),
        files=tuple(str(f) for f in files),
        classes=MappingProxyType(classes),
    )


def _header(csv_path: Path) -> dict[str, object]:
    """The JSON header next to ``csv_path`` (same stem), or {} if there is none."""
    hp = csv_path.with_suffix(".json")
    if not hp.is_file():
        return {}
    try:
        header = json.loads(hp.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"medication dictionary header {hp}: not readable JSON ({e})") from None
    if not isinstance(header, dict):
        raise ConfigError(f"medication dictionary header {hp}: must be a JSON object")
    for key in ("version", "date", "sources"):
        if key not in header:
            raise ConfigError(f"medication dictionary header {hp}: key '{key}' is missing")
    if not isinstance(header["sources"], dict):
        raise ConfigError(f"medication dictionary header {hp}: key 'sources' must be an object")
    classes = header.get("classes")
    if classes is not None:
        if not isinstance(classes, dict) or not classes:
            raise ConfigError(
                f"medication dictionary header {hp}: key 'classes' must be an object of "
                "class name -> description"
            )
        for cls, description in classes.items():
            if not _CLASS.fullmatch(cls):
                raise ConfigError(
                    f"medication dictionary header {hp}: key 'classes' declares {cls!r}: a "
                    "class name is lower-case letters, digits and _ (e.g. lipid_regulating)"
                )
            if not isinstance(description, str) or not description.strip():
                raise ConfigError(
                    f"medication dictionary header {hp}: key 'classes.{cls}' must be a "
                    "description (text)"
                )
    return header


def _rows(
    f: Path, cited: Mapping[str, object] | None, classes: Mapping[str, str]
) -> Iterator[tuple[int, Drug]]:
    """(line number, drug) per data row of ``f``; ``classes`` are those declared."""
    try:
        text = f.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"medication dictionary {f}: cannot be read ({e})") from None
    reader = csv.reader(text.splitlines())
    head = next(reader, None)
    if not head:
        raise ConfigError(f"medication dictionary {f}: the file is empty")
    head = [h.strip() for h in head]
    for col in head:
        if col not in COLUMNS:
            raise ConfigError(
                f"medication dictionary {f}: line 1, column '{col}': unknown column "
                f"(expected {', '.join(COLUMNS)})"
            )
    for col in ("generic", "class"):
        if col not in head:
            raise ConfigError(
                f"medication dictionary {f}: line 1: required column '{col}' is missing"
            )
    for col, src in _VALUED.items():
        if (col in head) != (src in head):
            raise ConfigError(
                f"medication dictionary {f}: line 1: column '{col}' and its source "
                f"column '{src}' must come together"
            )
    if "ddd" in head and "ddd_unit" not in head:
        raise ConfigError(f"medication dictionary {f}: line 1: column 'ddd' needs 'ddd_unit'")
    if len(set(head)) != len(head):
        raise ConfigError(f"medication dictionary {f}: line 1: a column is repeated")
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(head):
            raise ConfigError(
                f"medication dictionary {f}: line {line}: {len(cells)} cells, expected {len(head)}"
            )
        row = {h: c.strip() for h, c in zip(head, cells, strict=True)}
        yield line, _drug(f, line, row, cited, classes)


def _drug(
    f: Path,
    line: int,
    row: Mapping[str, str],
    cited: Mapping[str, object] | None,
    classes: Mapping[str, str],
) -> Drug:
    def bad(col: str, why: str) -> ConfigError:
        return ConfigError(f"medication dictionary {f}: line {line}, column '{col}': {why}")

    name = row["generic"].lower()
    if not name:
        raise bad("generic", "empty")
    cls = row["class"]
    if cls not in classes:
        raise bad(
            "class",
            f"{cls!r} is not a declared class ({', '.join(classes)}); declare it with a "
            f"description in the header {f.with_suffix('.json').name}: "
            f'"classes": {{"{cls}": "..."}}',
        )
    brands = tuple(b.strip() for b in row.get("brands", "").split(";") if b.strip())
    lowered = [b.lower() for b in brands]
    if len(set(lowered)) != len(lowered) or name in lowered:
        raise bad("brands", "a brand is repeated or equals the generic name")
    bnf = row.get("bnf_section", "")
    if bnf and not _BNF.fullmatch(bnf):
        raise bad("bnf_section", f"{bnf!r} is not a BNF section such as 4.2.1")
    atc = row.get("atc_code", "")
    if atc and not _ATC.fullmatch(atc):
        raise bad("atc_code", f"{atc!r} is not a 7-character ATC code such as N05AH03")

    values: dict[str, float | None] = {}
    sources: dict[str, str] = {}
    for col, src_col in _VALUED.items():
        text, src = row.get(col, ""), row.get(src_col, "")
        if not text:
            if src:
                raise bad(src_col, f"source {src!r} given but '{col}' is empty")
            values[col] = None
            continue
        try:
            v = float(text)
        except ValueError:
            raise bad(col, f"{text!r} is not a number") from None
        if not (math.isfinite(v) and v > 0):
            raise bad(col, f"{text!r} must be a positive number")
        if not src:
            raise bad(src_col, f"'{col}' is {text} but its source is empty")
        if cited is not None and src not in cited:
            raise bad(src_col, f"source {src!r} is not cited in the header's 'sources'")
        values[col], sources[col] = v, src
    for col in ("woods2003_mg_per_100cpz", "leucht2015_mg_per_1olz"):
        if values[col] is not None and cls != ANTIPSYCHOTIC:
            raise bad(
                col,
                f"chlorpromazine equivalents are for antipsychotics only (class "
                f"{ANTIPSYCHOTIC!r}), not class {cls!r}",
            )
    unit = row.get("ddd_unit", "")
    if (values["ddd"] is None) != (not unit):
        raise bad("ddd_unit", "a DDD needs its unit and a unit needs a DDD")
    if unit and unit not in DDD_UNITS:
        raise bad("ddd_unit", f"{unit!r} is not one of {', '.join(DDD_UNITS)}")
    mx = values["max_daily_mg"]
    return Drug(
        name=name,
        drug_class=cls,
        max_daily_mg=math.nan if mx is None else mx,
        woods2003_mg_per_100cpz=values["woods2003_mg_per_100cpz"],
        leucht2015_mg_per_1olz=values["leucht2015_mg_per_1olz"],
        brands=brands,
        bnf_section=bnf,
        atc_code=atc,
        ddd=values["ddd"],
        ddd_unit=unit,
        sources=MappingProxyType(sources),
    )
