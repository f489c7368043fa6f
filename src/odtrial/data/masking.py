"""Masking of identifiers in what leaves ingest for people to read.

Queries go back to the sites and quarantine tables sit in the freeze, so
neither may hold a full NHS number or date of birth:

- an NHS number becomes ``*** *** 1234`` (only the last four digits kept);
- a date of birth becomes its year;
- free text (raw malformed lines, messages) has every run of nine or more
  digits, optionally grouped with spaces or dashes as NHS numbers are
  written (3-3-4), masked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import numpy as np
import pandas as pd

# Nine or more digits, allowing single space/dash separators between them.
_DIGIT_RUN: Final = re.compile(r"(?<!\d)\d(?:[ \-]?\d){8,}(?!\d)")
_DATE_LIKE: Final = re.compile(
    r"(?<!\d)(?:(\d{4})[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.](\d{4}))(?!\d)"
)


def mask_nhs_text(value: str) -> str:
    """Mask one NHS-number-like value, keeping its last four digits.

    Examples
    --------
    >>> mask_nhs_text("943 476 5919")
    '*** *** 5919'
    >>> mask_nhs_text("12")
    '*** *** **'
    """
    digits = re.sub(r"\D", "", value)
    if len(digits) < 8:  # too short to keep any digit safely
        return "*** *** " + "*" * min(len(digits), 4)
    return "*** *** " + digits[-4:]


def mask_free_text(value: str) -> str:
    """Mask every NHS-number-like run of digits inside free text.

    Examples
    --------
    >>> mask_free_text("9434765919,1990-01-02,F")
    '*** *** 5919,1990-01-02,F'
    """
    return _DIGIT_RUN.sub(lambda m: mask_nhs_text(m.group(0)), value)


def mask_dates_to_year(value: str) -> str:
    """Replace every date-looking substring by its year.

    Examples
    --------
    >>> mask_dates_to_year("born 12/05/1990, consent 2024-01-02")
    'born 1990, consent 2024'
    """
    return _DATE_LIKE.sub(lambda m: m.group(1) or m.group(2), value)


_YEAR: Final = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")


def mask_dob_text(value: str) -> str:
    """A date of birth (any format, possibly garbled) reduced to its year, else ``****``.

    Examples
    --------
    >>> mask_dob_text("12/05/1990"), mask_dob_text("1981-02-30x20"), mask_dob_text("n/a")
    ('1990', '1981', '****')
    """
    m = _DATE_LIKE.search(value)
    if m:
        return m.group(1) or m.group(2)
    y = _YEAR.search(value)
    return y.group(1) if y else "****"


def map_unique(s: pd.Series, fn: Callable[[str], str | None]) -> pd.Series:
    """Apply a str -> str function once per distinct non-missing value (NA stays NA).

    Identifier columns repeat each value many times (events of one
    participant), so factorising first keeps the Python work per distinct
    value, not per row.
    """
    codes, uniq = pd.factorize(s.astype("string"), use_na_sentinel=True)
    labels = np.array([*(fn(str(u)) for u in uniq), None], dtype=object)
    return pd.Series(labels[codes], index=s.index, dtype="string")


def mask_nhs(s: pd.Series) -> pd.Series:
    """Mask a column of NHS numbers (``*** *** 1234``)."""
    return map_unique(s, mask_nhs_text)


def mask_text(s: pd.Series) -> pd.Series:
    """Mask NHS-number-like digit runs in a column of free text."""
    return map_unique(s, mask_free_text)


def mask_dob(s: pd.Series) -> pd.Series:
    """Reduce a column of dates of birth (as text) to their years."""
    return map_unique(s, mask_dob_text)


def mask_dob_message(message: str, raw: str) -> str:
    """A message about a date of birth with the raw value and any date reduced to a year."""
    if raw:
        message = message.replace(raw, mask_dob_text(raw))
    return mask_free_text(mask_dates_to_year(message))
