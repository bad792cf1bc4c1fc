"""The ``cnngrad`` command line.  Thin commands: load → run → render → write.

The CLI package is the only place that prints or exits.  Each command lives in its own module
and registers itself on :data:`app`; every :class:`~cnngrad.errors.CnnGradError` is caught once,
in :func:`cnngrad.cli.common.guarded`, printed as one line ``error: <file>: <where>: <what>``
(and a hint line) on stderr, and mapped to its exit code (2 for bad input or usage).
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from cnngrad import __version__

app = typer.Typer(
    name="cnngrad",
    help="Gradients of a convolutional network, layer by layer, done by the numbers.\n\n"
         "Give a problem file (JSON: an input, layers, and a loss or the upstream delta) and "
         "cnngrad prints every layer's dE/dw, dE/db and input delta as tables you can compare "
         "with a hand computation, or as JSON for a script.\n\n"
         "Start with: cnngrad backward samples/stackexchange.json",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# one module per command, each with register(app); the order is the order in --help
COMMANDS = ("backward", "forward", "gradcheck", "explain", "check", "samples", "schema")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnngrad {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Gradients of a convolutional network, layer by layer, done by the numbers."""


for _name in COMMANDS:
    importlib.import_module(f"cnngrad.cli.{_name}").register(app)


def main() -> None:
    app(prog_name="cnngrad")


__all__ = ["app", "main"]
