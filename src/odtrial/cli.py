"""The ``odtrial`` command line: thin, every command calls the library.

Each layer registers its own commands (``register(app)`` in its ``cli``
module). User errors (:class:`~odtrial.errors.OdtrialError`) print one line
to stderr and exit with the error's code; no traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import signal
import sys
import threading
from typing import Annotated, Any

import typer
from typer.core import TyperOption

from odtrial.errors import OdtrialError

_display_type_rich = TyperOption.display_type_rich


def _flag_without_type(self: TyperOption, ctx: Any) -> str | None:
    """Typer labels on/off flags ``<bool>`` in the help, as if they took a value;
    a flag takes none, so its help shows no type."""
    return None if self.is_flag else _display_type_rich(self, ctx)


TyperOption.display_type_rich = _flag_without_type  # type: ignore[method-assign]

app = typer.Typer(
    name="odtrial",
    help="Data management and analysis of a two-arm cluster randomised trial.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that contribute commands; each defines register(app).
COMMAND_MODULES = (
    "odtrial.synth.cli",
    "odtrial.data.cli",
    "odtrial.randomise.cli",
    "odtrial.design.cli",
    "odtrial.analysis.cli",
    "odtrial.report.cli",
    "odtrial.plan.cli",
    "odtrial.check_cli",
    "odtrial.reference",
    "odtrial.redcap.cli",
)


@app.command("version")
def version() -> None:
    """Print the package version."""
    from odtrial import __version__

    typer.echo(__version__)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:  # layer not built yet
            continue
        importlib.import_module(name).register(app)


def _print_version(value: bool) -> None:
    if value:
        from odtrial import __version__

        typer.echo(f"odtrial {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Data management and analysis of a two-arm cluster randomised trial."""


def _terminated(signum: int, frame: Any) -> None:
    # unwind like Ctrl-C, so a folder being built is removed and the old one stays
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and ``python -m odtrial``."""
    _register_all()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        app(args=argv, prog_name="odtrial")
    except OdtrialError as e:
        typer.echo(f"odtrial: error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("odtrial: interrupted", err=True)
        sys.exit(130)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
