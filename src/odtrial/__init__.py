"""odtrial: data management and analysis of a two-arm cluster randomised trial.

The trial (its sites, tables, clusters and arms) is declared in its ``trial.toml``
and the analysis in its statistical analysis plan; the shipped synthetic trial is
one such configuration."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("odtrial")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from odtrial.errors import OdtrialError

__all__ = ["OdtrialError", "__version__", "derive", "ingest", "load_trial"]


def __getattr__(name: str):  # lazy: keep `import odtrial` cheap
    if name == "ingest":
        from odtrial.data.ingest import ingest

        return ingest
    if name == "derive":
        from odtrial.data.derive import derive

        return derive
    if name == "load_trial":
        from odtrial.trial import load_trial

        return load_trial
    raise AttributeError(f"module 'odtrial' has no attribute {name!r}")
