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


_VOWEL_LETTERS = frozenset("AEFHILMNORSX")  # letters whose names start with a vowel sound


def a_or_an(phrase: str) -> str:
    """``a`` or ``an`` before ``phrase``: by its first letter's sound for an abbreviation
    (``an LMM``, ``a GEE``), else by its first letter (``an ordinal``, ``a binomial``).

    >>> a_or_an("LMM with a random intercept"), a_or_an("GEE"), a_or_an("ordinal model")
    ('an', 'a', 'an')
    """
    word = phrase.split(maxsplit=1)[0] if phrase.strip() else ""
    if len(word) > 1 and word.isupper():
        return "an" if word[0] in _VOWEL_LETTERS else "a"
    return "an" if word[:1].lower() in "aeiou" and word else "a"
