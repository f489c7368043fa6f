"""The examples in the docstrings of odtrial.missing run."""

from __future__ import annotations

import doctest

import pytest

from odtrial.missing import imputation, pooling


@pytest.mark.parametrize("module", [imputation, pooling])
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
