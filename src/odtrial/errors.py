"""One root error for the package, one subclass per layer.

User errors (bad config, bad input files, bad arguments) derive from
:class:`OdtrialError`; the CLI prints their message on one line and exits
with :attr:`OdtrialError.exit_code`, never with a traceback.
"""

from __future__ import annotations


class OdtrialError(Exception):
    """Root of every error odtrial raises on purpose."""

    exit_code: int = 1


class ConfigError(OdtrialError):
    """A trial configuration (TOML) is missing a key or has a bad value."""

    exit_code = 2


class IngestError(OdtrialError):
    """A fatal ingest problem: missing/unreadable file, missing required column, undecodable text."""

    exit_code = 2


class FreezeError(OdtrialError):
    """A data freeze is missing, incomplete or inconsistent with its manifest."""

    exit_code = 2


class DeriveError(OdtrialError):
    """Outcome derivation was asked for something impossible (bad window, unknown method)."""

    exit_code = 2


class ModelError(OdtrialError):
    """Bad input to a model: missing column, NaN, wrong response type."""

    exit_code = 2


class RandomisationError(OdtrialError):
    """Bad input to constrained randomisation, or a tampered allocation log."""

    exit_code = 2


class DesignError(OdtrialError):
    """Bad input to sample size / power calculations."""

    exit_code = 2


class PlanError(OdtrialError):
    """A statistical analysis plan is invalid or locked."""

    exit_code = 2


class ReportError(OdtrialError):
    """A results file cannot be turned into a report (wrong schema, arms inconsistent with blinding)."""

    exit_code = 2
