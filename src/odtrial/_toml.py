"""Typed access to parsed TOML that names the full dotted key on every error.

Shared by the trial configuration and the statistical analysis plan loaders.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from odtrial.errors import ConfigError, OdtrialError


def suggest(name: str, allowed: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest allowed name (difflib), or ``""``."""
    close = difflib.get_close_matches(name, [str(a) for a in allowed], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class TomlReader:
    """Typed access to a TOML table that names the full key on every error."""

    def __init__(
        self,
        data: Mapping[str, Any],
        where: str,
        source: str,
        error: type[OdtrialError] = ConfigError,
    ) -> None:
        self.error = error
        if not isinstance(data, Mapping):
            raise error(f"{source}: key '{where}' must be a table")
        self.data, self.where, self.source = data, where, source

    def _key(self, k: str) -> str:
        return f"{self.where}.{k}" if self.where else k

    def fail(self, k: str, msg: str) -> OdtrialError:
        return self.error(f"{self.source}: key '{self._key(k)}' {msg}")

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

    def sub(self, k: str, default: Any = ...) -> TomlReader:
        return TomlReader(
            self.get(k, dict, {} if default is not ... else ...),
            self._key(k),
            self.source,
            self.error,
        )

    def items(self, k: str) -> list[TomlReader]:
        lst = self.get(k, list)
        return [
            TomlReader(x, f"{self._key(k)}[{i}]", self.source, self.error)
            for i, x in enumerate(lst)
        ]

    def unknown_keys(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise self.fail(
                extra[0],
                f"is not a known key{suggest(extra[0], sorted(allowed))} "
                f"(allowed: {', '.join(sorted(allowed))})",
            )
