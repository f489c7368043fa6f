"""The error the health-economics layer raises for bad input.

It is both an :class:`~odtrial.errors.OdtrialError` (the CLI prints it on one
line) and a :class:`ValueError` (callers that validate values catch it as such).
"""

from __future__ import annotations

from odtrial.errors import OdtrialError


class EconError(OdtrialError, ValueError):
    """Bad input to a health-economic calculation: an invalid EQ-5D state, a
    missing unit cost, a price year with no index, a malformed table."""

    exit_code = 2
