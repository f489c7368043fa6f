"""The trial's tables as declared: fields, keys, links and rules.

A trial definition declares its tables (``[tables.<name>]`` in ``trial.toml``,
parsed by :mod:`odtrial.trial_tables`); nothing here names one trial's
tables or fields. Two stages:

- *mapped*: what a site extract becomes after column and code mapping, still
  carrying identifiers (NHS numbers, record ids, dates of birth);
- *frozen*: what a data freeze holds, pseudonymised (``participant_id``,
  ``age_at_consent``) and never containing an NHS number.

Every table in both stages also carries ``trust``, ``source_file`` (path
relative to the extract root, POSIX separators) and ``source_row`` (1-based
position of the record among the file's data records; the header is not
counted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from odtrial.data.conditions import Condition

Kind = Literal["str", "date", "int", "float", "bool", "code"]
Severity = Literal["error", "warning"]

#: Vocabularies every trial has: booleans, its visit schedule, its medication dictionary.
BUILTIN_VOCABULARIES: Final = ("yes_no", "visit", "drug")
#: The table with one record per participant; every trial has it.
PARTICIPANTS: Final = "participants"
PROVENANCE: Final = ("trust", "source_file", "source_row")
#: Identifier handling: replaced by a keyed pseudonym, or left out of the freeze.
IDENTIFIER_ACTIONS: Final = ("pseudonymise", "drop")


@dataclass(frozen=True)
class Field:
    """One declared field of a table.

    ``kind`` is the storage kind; ``vocab`` names the vocabulary of a ``code``
    field (the trial's ``[vocabularies]`` or a built-in one: ``yes_no`` for a
    boolean, ``visit`` for the schedule's months, ``drug`` for the medication
    dictionary). ``nhs`` marks an NHS number (Modulus 11 checked, never frozen
    raw); ``identifier`` says what the freeze does with an identifying field.
    ``required_if``: the field is required when this condition on the record's
    fields holds (:mod:`odtrial.data.conditions`); ``required_if_unchecked``: a
    condition odtrial cannot evaluate, as written, under which it is required.
    ``free_text``: typed text that may name people (a notes field): frozen for the data
    manager, left out of the analysis dataset.
    """

    name: str
    kind: Kind
    required: bool = True
    vocab: str | None = None
    nhs: bool = False
    identifier: str | None = None  # one of IDENTIFIER_ACTIONS, or None
    min: float | date | None = None
    max: float | date | None = None
    unit: str | None = None
    label: str | None = None
    required_if: Condition | None = None
    required_if_unchecked: str | None = None
    free_text: bool = False

    def __post_init__(self) -> None:
        if (self.kind == "code") != (self.vocab is not None):
            raise ValueError(f"field {self.name}: vocab is required exactly for kind 'code'")

    @property
    def display(self) -> str:
        """The field's label, or its name with spaces."""
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class RuleSpec:
    """A configured rule of a generic kind (:data:`odtrial.data.catalogue.RULE_KINDS`)."""

    kind: str
    code: str
    severity: Severity
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class TableSpec:
    """A declared table: its fields and what they mean to the trial.

    The participants table names its participant ``key``, ``consent_date`` and
    recruiting ``cluster`` fields, optionally ``date_of_birth`` and ``practice``;
    every other table names the participants field it ``link``-s by, and
    optionally its event ``date`` and ``visit`` fields.
    """

    name: str
    fields: tuple[Field, ...]
    description: str = ""
    key: str | None = None
    consent_date: str | None = None
    cluster: str | None = None
    date_of_birth: str | None = None
    practice: str | None = None
    link: str | None = None
    date: str | None = None
    visit: str | None = None
    rules: tuple[RuleSpec, ...] = ()
    # participants: the fields other than the key that other tables link by; the
    # freeze says per participant whether each could link (``has_<field>``)
    link_flags: tuple[str, ...] = ()

    @property
    def is_participants(self) -> bool:
        return self.name == PARTICIPANTS

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name}.{name}")

    @property
    def date_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.kind == "date")

    @property
    def nhs_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.nhs)

    def identifiers(self) -> tuple[str, ...]:
        """Fields that never reach the freeze as they are: NHS numbers, the
        participants key or the link, date of birth, and declared identifiers."""
        out = [f.name for f in self.fields if f.nhs or f.identifier is not None]
        out += [x for x in (self.key, self.link, self.date_of_birth) if x is not None]
        return tuple(dict.fromkeys(out))

    def frozen_columns(self, stratum: str) -> tuple[str, ...]:
        """The frozen table's columns (before :data:`PROVENANCE`).

        Participants: ``participant_id, cluster_id, <stratum>, arm``, the
        practice and its cluster (when declared), ``age_at_consent`` (when a date
        of birth is), ``has_<field>`` for each identifier other tables link by
        besides the key (True: present and valid), then the other fields in
        declared order with the consent date as ``consent_date``. Other tables: ``participant_id`` then their
        non-identifying fields in declared order.
        """
        skip = set(self.identifiers()) - set(self.pseudonymised_extra())
        if not self.is_participants:
            rest = [f for f in self.names if f not in skip]
            return ("participant_id", *_renamed(rest, self))
        head = ["participant_id", "cluster_id", stratum, "arm"]
        if self.practice is not None:
            head += [self.practice, "practice_cluster_id"]
        if self.date_of_birth is not None:
            head.append("age_at_consent")
        head += [f"has_{f}" for f in self.link_flags]
        skip |= {self.cluster or "", self.practice or ""}
        rest = [f for f in self.names if f not in skip]
        return (*head, *_renamed(rest, self))

    def pseudonymised_extra(self) -> tuple[str, ...]:
        """Identifying fields other than the key and link frozen as a pseudonym
        (``identifier = "pseudonymise"``), as ``<name>_pseudonym``."""
        return tuple(
            f.name
            for f in self.fields
            if f.identifier == "pseudonymise" and f.name not in (self.key, self.link)
        )


def _renamed(names: Sequence[str], t: TableSpec) -> list[str]:
    extra = set(t.pseudonymised_extra())
    out = []
    for n in names:
        if n in extra:
            out.append(f"{n}_pseudonym")
        elif t.is_participants and n == t.consent_date:
            out.append("consent_date")
        else:
            out.append(n)
    return out


def frozen_cluster_columns(stratum: str, attributes: Sequence[str]) -> tuple[str, ...]:
    """The frozen clusters table's columns (it has no PROVENANCE): the fixed ones
    around the trial's stratum column and its declared numeric cluster attributes
    (:attr:`odtrial.trial.Trial.cluster_attributes`), in their declared order.

    Examples
    --------
    >>> frozen_cluster_columns("area", ["staff_fte"])
    ('cluster_id', 'trust', 'area', 'n_practices', 'staff_fte', 'arm')
    """
    return ("cluster_id", "trust", stratum, "n_practices", *attributes, "arm")


def date_fields(tables: Mapping[str, TableSpec]) -> frozenset[str]:
    """Every field that holds a date, whichever table it is in."""
    return frozenset(f for t in tables.values() for f in t.date_fields)
