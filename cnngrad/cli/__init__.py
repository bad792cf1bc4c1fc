"""The ``cnngrad`` command line.  Thin commands: load → run → render → write.

The CLI package is the only place that prints or exits.  Each command lives in its own module
and registers itself on :data:`app`; every :class:`~cnngrad.errors.CnnGradError` is caught once,
in :func:`cnngrad.cli.common.guarded`, printed as one line ``error: <file>: <where>: <what>``
(``; hint: <what to do>`` on the same line) on stderr, and mapped to its exit code (2 for bad
input or usage).

The command modules leave their annotations evaluated (no ``from __future__ import
annotations``): typer reads every command's annotations whenever it builds the command line,
and strings it compiles and evaluates anew each time (30 ms a build of the whole app, against
7 ms).
"""

import contextlib
import gc
import importlib
import os
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
COMMANDS = ("backward", "forward", "gradcheck", "explain", "check", "generate", "verify",
            "samples", "schema")


_version_said = False  # --version: written by click, like help (see main)


def _version(value: bool) -> None:
    global _version_said
    if value:
        _version_said = True
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


class _Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl-C (every ``finally`` runs), then the process dies of it."""


def _on_sigterm(signum, frame) -> None:
    from cnngrad.cli.output import remove_pending

    remove_pending()  # the temporary file of an -o being written
    raise _Terminated()


def _say(line: str) -> None:
    try:
        if sys.stderr is not None:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def main() -> None:
    """The ``cnngrad`` program.  Exit codes: 0 ok, 1 a wrong answer or gradient, 2 bad input
    or usage (one ``error:`` line), 130 interrupted (Ctrl-C); on SIGTERM the temporary file
    of an ``-o`` is removed and the process ends by the signal."""
    import signal

    # one run makes little cyclic garbage: collect after 50,000 new objects, not 700 (at
    # Python's default, ~70 collections and ~12 ms while a run imports numpy, typer and Rich)
    gc.set_threshold(50_000)
    from cnngrad.cli.output import flush_stdout, stdout_as_reports

    stdout_as_reports()

    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main thread
        pass
    # typer reads the signature of every registered command before it runs one (~10 ms for
    # seven): a run of one command builds the app with that command alone — the same function,
    # options and callback, so it parses, helps and fails as the full app does
    args = sys.argv[1:]
    only = (args[0],) if args and args[0] in COMMANDS else COMMANDS
    code, stdout_failed = 0, False
    try:
        build_app(only)(prog_name="cnngrad")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        helping = not args or "--help" in args or "-h" in args
        if code == 1 and (helping or type(sys.stdout).__name__ == "PacifyFlushWrapper"):
            code = 0  # click's and Rich's answer to `cnngrad --help | head`: exit 1
    except KeyboardInterrupt:
        _say("error: interrupted")
        code = 130
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        code = 143
    except OSError as exc:  # --help or a usage message to a full or closed output
        reason = flush_stdout() or (exc.strerror or str(exc)).lower()
        _say(f"error: cannot write standard output: {reason}")
        code = 2
        stdout_failed = True  # that is the one line: no usage error after it
    reason = flush_stdout()
    from cnngrad.cli import plain_values

    if reason is None and sys.stdout is None and (plain_values.help_made or _version_said):
        reason = "it is closed"  # click writes help and --version to a closed one silently
    if reason is not None:
        _say(f"error: cannot write standard output: {reason}")
        code = code or 2
    elif not args and code == 2 and not stdout_failed:
        # the help went to stdout; the usage error is one line on stderr, as every command's
        # missing argument is (where stdout took the help: else that is the one line)
        _say("error: COMMAND: missing; hint: give one of those listed above: cnngrad "
             "backward PROBLEM (cnngrad samples lists problems to start from)")
    # what is left goes with the process: Python's last collection over every object of a
    # run (numpy, Rich, typer, the trace) at exit is skipped; objects are still freed
    gc.freeze()
    verifying = sys.modules.get("cnngrad.verify.runner")
    if verifying is not None and verifying.calls_still_running():
        # a verify call abandoned inside OpenBLAS: its exit handler joins the BLAS threads,
        # which wait for that call for ever, so the process would never end; the report is
        # written, and nothing else is left to do at exit
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


__all__ = ["app", "main"]
