"""Collecting every validation failure of a configuration file, one line each.

Shared by the trial definition (:mod:`odtrial.trial`) and the analysis plan
(:mod:`odtrial.plan`) loaders: each records every failure with its full key
path (``key '<path>' <message>``), then raises one error carrying them all,
whose message is the first failure and the count of the others.
"""

from __future__ import annotations

from collections.abc import Sequence


class Errors:
    """Collected validation failures, one line each (``key '<path>' <message>``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, msg: str) -> None:
        line = " ".join(f"key '{path}' {msg}".split())  # one line, whatever the input held
        if line not in self.lines:
            self.lines.append(line)


def summary(source: str, messages: Sequence[str], lister: str) -> tuple[tuple[str, ...], str]:
    """The messages prefixed with ``source``, and the one-line message of the error.

    The one-line message is the first failure and how many more there are,
    naming ``lister``, the command that lists them all.
    """
    lines = tuple(f"{source}: {m}" for m in messages)
    more = len(lines) - 1
    tail = f" (and {more} more error{'s' * (more > 1)}; '{lister}' lists them)"
    return lines, lines[0] + (tail if more else "")
