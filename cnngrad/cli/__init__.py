"""The ``cnngrad`` command line.  Thin commands: load → run → render → write.

The CLI package is the only place that prints or exits.  Each command lives in its own module
and registers itself on :data:`app`; every :class:`~cnngrad.errors.CnnGradError` is caught once,
in :func:`cnngrad.cli.common.guarded`, printed as one line ``error: <file>: <where>: <what>``
(and a hint line) on stderr, and mapped to its exit code (2 for bad input or usage).
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from cnngrad import __version__
from cnngrad.cli.plain_values import PlainValuesCommand, PlainValuesGroup

SETTINGS = dict(
    name="cnngrad",
    cls=PlainValuesGroup,  # option values read without pydantic: start-up time
    help="Gradients of a convolutional network, layer by layer, done by the numbers.\n\n"
         "Give a problem file (JSON: an input, layers, and a loss or the upstream delta) and "
         "cnngrad prints every layer's dE/dw, dE/db and input delta as tables you can compare "
         "with a hand computation, or as JSON for a script.\n\n"
         "\b\nStart with a bundled sample (works from any folder):\n"
         "  cnngrad samples stackexchange > problem.json\n"
         "  cnngrad backward problem.json\n"
         "  cnngrad samples                  (lists every sample)\n\n"
         "Each command has its own help and examples: cnngrad backward -h",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help (cnngrad.cli.plain_values formats it at 80 columns)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# one module per command, each with register(app); the order is the order in --help
COMMANDS = ("backward", "forward", "gradcheck", "explain", "check", "verify", "samples", "schema")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnngrad {__version__}")
        raise typer.Exit()


def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Gradients of a convolutional network, layer by layer, done by the numbers."""


def build_app(commands: tuple[str, ...] = COMMANDS) -> typer.Typer:
    """The command line with ``commands`` registered (each module's ``register``)."""
    application = typer.Typer(**SETTINGS)
    application.callback()(root)
    for name in commands:
        importlib.import_module(f"cnngrad.cli.{name}").register(application)
    for info in application.registered_commands:  # values read without pydantic: start-up
        if info.cls in (None, typer.core.TyperCommand):
            info.cls = PlainValuesCommand
    return application


def __getattr__(name: str):
    # ``from cnngrad.cli import app``: every command, built on first use
    if name == "app":
        globals()["app"] = application = build_app()
        return application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    # typer reads the signature of every registered command before it runs one (~10 ms for
    # seven): a run of one command builds the app with that command alone — the same function,
    # options and callback, so it parses, helps and fails as the full app does
    args = sys.argv[1:]
    only = (args[0],) if args and args[0] in COMMANDS else COMMANDS
    build_app(only)(prog_name="cnngrad")


__all__ = ["app", "main"]
