"""What every derivation kind reads: the participants, their windows, and checked access
to the frozen tables.

A :class:`Cohort` is built once per analysis dataset. Participants are its rows (sorted by
``participant_id``); per-participant quantities are arrays indexed by that row, and event
records carry ``pidx``, the row of their participant (see
:mod:`odtrial.data.derive_events` for the day conventions).

Errors name the plan key of the derivation that asked (``key 'outcomes.<id>.derivation
.events[1].table' ...``), in one line, with the nearest valid name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from odtrial._toml import suggest
from odtrial.data.derive_events import add_months, participant_index, to_days
from odtrial.data.medication_dictionary import MedicationDictionary
from odtrial.errors import DeriveError

# Columns every frozen table carries to say where a row came from; never a field.
PROVENANCE = ("trust", "source_file", "source_row")


@dataclass(frozen=True)
class Window:
    """One follow-up window: ``[consent, end)`` per participant, in day numbers."""

    months: int
    end: np.ndarray
    followup_days: np.ndarray
    clipped: int  # participants whose window the data cut-off shortened


@dataclass(frozen=True)
class Rows:
    """Where each record of one table belongs: its participant's row, -1 for a record
    naming no participant of the cohort (ignored, and counted)."""

    all_pidx: np.ndarray  # per table row

    @property
    def keep(self) -> np.ndarray:
        return self.all_pidx >= 0

    @property
    def pidx(self) -> np.ndarray:
        """The participant row of each kept record."""
        return self.all_pidx[self.all_pidx >= 0]

    @property
    def unknown(self) -> int:
        return int((self.all_pidx < 0).sum())


@dataclass(frozen=True)
class Derived:
    """What a derivation kind returns.

    ``columns`` maps a suffix of the derivation's id to the values (``""``: the column
    named by the id itself; ``"_days"``, ``"_event"`` for a time to event); ``tables``
    are the tables read, so that a trust that did not send one gives NA, not "none".
    """

    columns: Mapping[str, pd.Series]
    counts: Mapping[str, Any]
    tables: tuple[str, ...] = ()


def fail(key: str, message: str) -> DeriveError:
    """A one-line DeriveError about the plan key ``key``."""
    return DeriveError(f"key {key!r} {message}")


@dataclass
class Cohort:
    """The participants of a derivation and the frozen tables it reads.

    Parameters
    ----------
    ids
        Participant ids, sorted (the rows of every per-participant array).
    participants
        The frozen participants table in that order.
    consent
        Consent day numbers, one per participant.
    trust
        Each participant's trust (for tables a trust did not send).
    cutoff_day
        The data cut-off as a day number: no window runs past it.
    tables
        The frozen tables by name (participants included).
    table_info
        The freeze manifest's ``tables`` (per table: ``trusts`` that sent it, its
        declared ``visit`` and ``date`` fields); empty when the manifest has none.
    default_window
        Months of the window a derivation without ``window_months`` uses.
    dictionary
        The medication dictionary (None: the shipped one).
    """

    ids: pd.Index
    participants: pd.DataFrame
    consent: np.ndarray
    trust: np.ndarray
    cutoff_day: int
    tables: Mapping[str, pd.DataFrame]
    table_info: Mapping[str, Mapping[str, Any]]
    default_window: int
    dictionary: MedicationDictionary | None = None
    # the columns derived so far, by id (a time to event: its event indicator)
    derived: dict[str, pd.Series] = field(default_factory=dict)
    _windows: dict[int, Window] = field(default_factory=dict, repr=False)
    _rows: dict[str, Rows] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.ids)

    # -- windows ------------------------------------------------------------------

    def window(self, months: int | None = None) -> Window:
        """The window of ``months`` calendar months from consent (default: the cohort's),
        clipped to the data cut-off."""
        m = self.default_window if months is None else int(months)
        if m not in self._windows:
            full = add_months(self.consent, m)
            end = np.minimum(full, self.cutoff_day)
            self._windows[m] = Window(
                m, end, (end - self.consent).astype(np.int64), int((full > end).sum())
            )
        return self._windows[m]

    # -- tables and fields --------------------------------------------------------

    def table(self, name: str, key: str) -> pd.DataFrame:
        """The frozen table ``name``; a DeriveError naming ``key`` if there is none."""
        if name not in self.tables:
            have = sorted(self.tables)
            raise fail(
                key,
                f"names no table of the freeze: {name!r}{suggest(name, have)} "
                f"(tables: {', '.join(have)})",
            )
        return self.tables[name]

    def column(self, table: str, name: str, key: str, *, kind: str | None = None) -> pd.Series:
        """A field of a frozen table; ``kind`` ("date", "number") checks its type."""
        t = self.table(table, key)
        fields = [c for c in t.columns if c not in PROVENANCE and c != "participant_id"]
        if name not in t.columns or name in PROVENANCE:
            raise fail(
                key,
                f"names no field of table {table!r}: {name!r}{suggest(name, fields)}",
            )
        col = t[name]
        if kind == "date" and col.dtype.kind != "M":
            raise fail(key, f"names {table}.{name}, which is not a date field ({col.dtype})")
        if kind == "number" and not (
            pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        ):
            raise fail(key, f"names {table}.{name}, which is not a numeric field ({col.dtype})")
        return col

    def declared(self, table: str, what: str, given: str | None) -> str | None:
        """The table's ``visit`` or ``date`` field: as given, else as the trial declared
        it (freeze manifest ``tables.<table>.<what>``), else None."""
        if given is not None:
            return given
        value = (self.table_info.get(table) or {}).get(what)
        return None if value is None else str(value)

    def rows(self, table: str, key: str) -> Rows:
        """The records of ``table`` whose participant is in the cohort."""
        if table not in self._rows:
            t = self.table(table, key)
            if "participant_id" not in t.columns:
                raise fail(key, f"names table {table!r}, which has no participant_id column")
            self._rows[table] = Rows(participant_index(t["participant_id"], self.ids))
        return self._rows[table]

    def days(self, table: str, name: str, key: str) -> tuple[np.ndarray, np.ndarray]:
        """A date field of the kept records as day numbers, and its missing mask."""
        col = self.column(table, name, key, kind="date")
        return to_days(col.to_numpy()[self.rows(table, key).keep])

    def where(self, table: str, where: Mapping[str, Any] | None, key: str) -> np.ndarray:
        """The kept records matching ``where = {field, in = [...]}`` (all when None)."""
        rows = self.rows(table, key)
        if where is None:
            return np.ones(len(rows.pidx), dtype=bool)
        col = self.column(table, str(where["field"]), f"{key}.where.field")
        values = list(where["in"])
        match = col.isin(values).to_numpy(dtype=bool, na_value=False)
        return match[rows.keep]

    def not_collected(self, tables: Sequence[str]) -> np.ndarray:
        """Participants whose trust did not send one of ``tables`` (freeze manifest
        ``tables.<name>.trusts``; a table without that list was sent by every trust),
        or who cannot be linked to it: the table links by an identifier other than the
        participant key and the participant has none valid (``has_<link>`` False)."""
        out = np.zeros(self.n, dtype=bool)
        for name in tables:
            info = self.table_info.get(name) or {}
            trusts = info.get("trusts")
            if trusts is not None:
                out |= ~np.isin(self.trust, [str(t) for t in trusts])
            flag = f"has_{info.get('link')}"
            if flag in self.participants.columns:
                out |= ~self.participants[flag].to_numpy(dtype=bool, na_value=False)
        return out
