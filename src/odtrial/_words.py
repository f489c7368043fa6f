"""Words that agree with their numbers, for every message and report sentence."""

from __future__ import annotations


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 cluster``, ``2 clusters``, ``1,204 participants``: the number and the noun
    that agrees with it (``plural`` for an irregular one, default ``singular + "s"``).

    >>> count(1, "trust"), count(6, "trust"), count(2, "analysis", "analyses")
    ('1 trust', '6 trusts', '2 analyses')
    """
    return f"{n:,} {noun(n, singular, plural)}"


def noun(n: int, singular: str, plural: str | None = None) -> str:
    """The noun alone, agreeing with ``n`` (``variable``/``variables``)."""
    return singular if n == 1 else plural or singular + "s"
