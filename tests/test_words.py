"""Numbers and the nouns that agree with them."""

from __future__ import annotations

import pytest

from odtrial._words import count, noun


@pytest.mark.parametrize(
    ("n", "words", "expected"),
    [
        (0, ("trust",), "0 trusts"),
        (1, ("trust",), "1 trust"),
        (2, ("secondary outcome",), "2 secondary outcomes"),
        (1204, ("participant",), "1,204 participants"),
        (1, ("person", "people"), "1 person"),
        (3, ("person", "people"), "3 people"),
        (2, ("sensitivity analysis", "sensitivity analyses"), "2 sensitivity analyses"),
    ],
)
def test_count(n: int, words: tuple[str, ...], expected: str) -> None:
    assert count(n, *words) == expected
    assert noun(n, *words) == expected.split(" ", 1)[1]


def test_a_or_an_by_sound() -> None:
    from odtrial._words import a_or_an

    cases = {
        "LMM with a random intercept": "an",
        "GEE, exchangeable": "a",
        "binomial GLMM": "a",
        "ordinal model": "an",
        "Cox model": "a",
        "SAP": "an",
        "": "a",
    }
    assert {p: a_or_an(p) for p in cases} == cases
