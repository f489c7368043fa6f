"""Typed access to parsed TOML that names the full dotted key on every error.

Shared by the trial configuration and the statistical analysis plan loaders.

A reader may carry an :class:`~odtrial._errorlist.Errors` collector; then a
loader checks every part of the file before failing. A failure that leaves a
part unusable is raised (:meth:`TomlReader.fail`) and recorded by the
:meth:`TomlReader.guard` around that part, which the loader then skips; a
failure that does not (an unknown key, a value out of range) is recorded with
:meth:`TomlReader.report` and checking carries on.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from odtrial._errorlist import Errors
from odtrial.errors import ConfigError, OdtrialError


def suggest(name: str, allowed: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest allowed name (difflib), or ``""``."""
    close = difflib.get_close_matches(name, [str(a) for a in allowed], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _keyed(error: type[OdtrialError], source: str, path: str, msg: str) -> OdtrialError:
    e = error(f"{source}: key '{path}' {msg}")
    e.key_path, e.key_message = path, msg  # type: ignore[attr-defined]  # read by guard()
    return e


class TomlReader:
    """Typed access to a TOML table that names the full key on every error."""

    def __init__(
        self,
        data: Mapping[str, Any],
        where: str,
        source: str,
        error: type[OdtrialError] = ConfigError,
        errs: Errors | None = None,
    ) -> None:
        self.error = error
        self.errs = errs
        if not isinstance(data, Mapping):
            raise _keyed(error, source, where, "must be a table")
        self.data, self.where, self.source = data, where, source

    def _key(self, k: str) -> str:
        return f"{self.where}.{k}" if self.where else k

    def fail(self, k: str, msg: str) -> OdtrialError:
        """The error for key ``k`` (raise it: the part being read is unusable)."""
        return _keyed(self.error, self.source, self._key(k), msg)

    def report(self, k: str, msg: str) -> None:
        """Record a failure of key ``k`` and carry on (raise it without a collector)."""
        if self.errs is None:
            raise self.fail(k, msg)
        self.errs.add(self._key(k), msg)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Record a keyed failure raised inside the block (re-raise without a collector)."""
        try:
            yield
        except OdtrialError as e:
            path = getattr(e, "key_path", None)
            if self.errs is None or path is None:
                raise
            self.errs.add(path, getattr(e, "key_message", str(e)))

    def get(self, k: str, typ: type | tuple[type, ...], default: Any = ...) -> Any:
        if k not in self.data:
            if default is ...:
                raise self.fail(k, "is missing")
            return default
        v = self.data[k]
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, typ) or (isinstance(v, bool) and typ in (int, float)):
            names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.fail(k, f"must be {names}, got {type(v).__name__} {v!r}")
        return v

    def value(self, k: str, typ: type | tuple[type, ...], default: Any = ...) -> Any:
        """:meth:`get`, but a failure is recorded (raised without a collector) and
        gives ``None``."""
        with self.guard():
            return self.get(k, typ, default)
        return None

    def sub(self, k: str, default: Any = ...) -> TomlReader:
        return TomlReader(
            self.get(k, dict, {} if default is not ... else ...),
            self._key(k),
            self.source,
            self.error,
            self.errs,
        )

    def items(self, k: str) -> list[TomlReader]:
        """One reader per table of the array ``k``; with a collector, a non-table
        element is recorded and left out."""
        lst = self.get(k, list)
        out = []
        for i, x in enumerate(lst):
            with self.guard():
                out.append(
                    TomlReader(x, f"{self._key(k)}[{i}]", self.source, self.error, self.errs)
                )
        return out

    def unknown_keys(self, allowed: set[str]) -> None:
        """Report each key not in ``allowed``, with the nearest allowed one."""
        for extra in sorted(set(self.data) - allowed):
            self.report(
                extra,
                f"is not a known key{suggest(extra, sorted(allowed))} "
                f"(allowed: {', '.join(sorted(allowed))})",
            )
