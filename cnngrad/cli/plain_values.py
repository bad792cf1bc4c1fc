"""Command-line values read without pydantic, for start-up time.

Typer (0.2x) turns every option's text into its Python value through a pydantic
``TypeAdapter``, built on first use: importing pydantic and building the adapters costs more
than importing numpy, on every run, for options that are a plain ``str``, ``int``, ``float``
or ``Path``.  :class:`PlainValuesGroup` and :class:`PlainValuesCommand` (the app's group and
command classes) give each parameter of the command being run a :class:`PlainValues` reader:
it returns the values whose meaning is beyond doubt (``"json"`` for a ``str``, ``"6"`` for an
``int`` within its bounds, a ``Path`` to a file that does not exist yet) and hands anything
else — an out-of-range number, an existing path that typer must check, a spelling it accepts
in its own way — to typer's own reader, so every value means, and every error reads, exactly
what typer makes of it.

It relies on typer's lazy ``_runtime_param`` slot and its private ``typer._coercion`` reader
(typer is pinned to 0.29.x); a typer without either is left alone (its own reading then
applies: correct, only slower).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer.core

if TYPE_CHECKING:  # for the annotation; usage_error imports it when it runs
    from cnngrad.errors import UsageError

# only the canonical spellings: typer also takes " 7 ", "007", "1_000" (its reader decides)
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
# (the fraction part hangs on its point: a long digit run that ends in something else fails in
# one pass, not in time quadratic in its length)
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_UNSURE = object()


class PlainValues:
    """A parameter's value reader (typer's ``RuntimeParam`` interface: ``coerce``):
    the plain cases here, everything else by typer's own reader, built only when needed."""

    def __init__(self, descriptor) -> None:
        self.descriptor = descriptor
        self.typer_reader = None

    def coerce(self, value, param, ctx):
        if value is None:  # as typer's own: nothing given, no default
            return () if param.multiple or param.nargs == -1 else None
        plain = plain_value(self.descriptor.annotation, self.descriptor.parameter_info, value)
        if plain is not _UNSURE:
            return plain
        if self.typer_reader is None:
            from typer._coercion import build_runtime_param

            self.typer_reader = build_runtime_param(self.descriptor)
        return self.typer_reader.coerce(value, param=param, ctx=ctx)


def plain_value(annotation, info, value):
    """``value`` as typer would read it for ``annotation`` when that is beyond doubt, else
    ``_UNSURE``."""
    if annotation is str:
        return value if isinstance(value, str) else _UNSURE
    if annotation == list[str]:  # several file names (check's ANSWERS...)
        plain = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        return list(value) if plain else _UNSURE
    if annotation is int:
        if isinstance(value, str) and _INT.fullmatch(value):
            value = int(value)
        if type(value) is not int or info.clamp:
            return _UNSURE
        return value if _within(value, info) else _out_of_range(value, info)
    if annotation is float:
        if isinstance(value, str) and _FLOAT.fullmatch(value):
            value = float(value)
        if type(value) is not float or not math.isfinite(value) or info.clamp:
            return _UNSURE
        return value if _within(value, info) else _out_of_range(value, info)
    if annotation is Path:
        # a file not there yet (an -o target) needs no check; an existing one typer checks
        if (not isinstance(value, str) or value in ("", "-") or "\0" in value
                or info.path_type is not None or info.resolve_path or info.exists
                or os.path.lexists(value)):
            return _UNSURE
        return Path(value)
    return _UNSURE


def _out_of_range(value, info):
    """A number outside its option's bounds: the error says the bounds and the value."""
    if info.min is not None and info.max is not None:
        bounds = f"{info.min} to {info.max}"
    else:
        bounds = f"at least {info.min}" if info.min is not None else f"at most {info.max}"
    raise typer.BadParameter(f"{value} is out of range: it takes {bounds}")


def _within(value, info) -> bool:
    return ((info.min is None or value >= info.min) and
            (info.max is None or value <= info.max))


def plain_values(command, ctx) -> None:
    """Give each typer parameter of ``command`` (its help option too) a :class:`PlainValues`
    reader."""
    if not _typer_reader_there():
        return  # a typer without the reader this hands the unsure values to: its own reading
    for param in command.get_params(ctx):
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", _UNSURE) is not None:
            continue  # not typer's lazy reader (another typer), or already built
        param._runtime_param = PlainValues(descriptor)


def _typer_reader_there() -> bool:
    """Whether typer's own reader (``typer._coercion.build_runtime_param``, private, in the
    pinned typer range) is where :class:`PlainValues` imports it from; looked up without
    importing it, which would cost the start-up time this module saves."""
    import importlib.util

    try:
        return importlib.util.find_spec("typer._coercion") is not None
    except (ImportError, ValueError):
        return False


# --------------------------------------------------------------------------- help


_MARKUP = re.compile(r"\[/?(?:bold|dim|italic|underline)?\]")


def _metavar(param) -> str:
    """An option's value name in help: its own metavar, else one by its type (never
    typer's ``<str>``)."""
    if param.metavar:
        return param.metavar
    info = getattr(getattr(param, "type_descriptor", None), "parameter_info", None)
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if annotation is Path:
        return "DIR" if info is not None and not info.file_okay else "FILE"
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    return param.name.upper()


def _is(error, name: str) -> bool:
    """``error`` is click's exception class ``name`` (typer 0.2x carries its own copy of
    click: the class is recognised by name, whichever copy raised it)."""
    return any(cls.__name__ == name for cls in type(error).__mro__)


def _option_record(param, ctx) -> tuple[str, str]:
    names = ", ".join(sorted(param.opts, key=len))
    if not param.is_flag:
        names += f" {_metavar(param)}"
    extra = []
    default = param.default
    if param.show_default not in (False, None) and isinstance(param.show_default, str):
        extra.append(f"default: {param.show_default}")
    elif (param.show_default is not False and not param.is_flag and not callable(default)
          # by identity: 0 == False, and a default of 0 (verify --seed) is one to show
          and not any(default is absent for absent in (None, False)) and default != ()):
        extra.append(f"default: {default}")
    if param.is_flag and param.secondary_opts:  # --diagnose/--no-diagnose: how to turn it off
        if default is True:
            extra.append("default: on")
        extra.append(f"{', '.join(param.secondary_opts)} turns it off")
    info = getattr(getattr(param, "type_descriptor", None), "parameter_info", None)
    low, high = (getattr(info, "min", None), getattr(info, "max", None))
    if low is not None and high is not None:
        extra.append(f"{low} to {high}")
    elif low is not None:
        extra.append(f"at least {low}")
    elif high is not None:
        extra.append(f"at most {high}")
    help_text = param.help or ""
    if extra:
        help_text += f"  [{'; '.join(extra)}]"
    return names, help_text


def _argument_name(param) -> str:
    name = param.metavar or param.name.upper()
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name


def _epilog_lines(epilog: str, width: int) -> list[str]:
    """The epilog as written, Rich markup dropped.  An example command (an indented line)
    longer than ``width`` continues on the next line after `` \\`` (shell continuation); a
    paragraph of prose with a line too long is wrapped again as a whole."""
    import textwrap

    lines: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if any(len(line) + 2 > width for line in prose):
            lines.extend(textwrap.wrap(" ".join(prose), width - 2, break_long_words=False,
                                       break_on_hyphens=False))
        else:
            lines.extend(prose)
        prose.clear()

    for line in _MARKUP.sub("", epilog).splitlines():
        line = line.rstrip()
        indent = len(line) - len(line.lstrip())
        if line and not indent:
            prose.append(line)
            continue
        flush()
        if len(line) + 2 <= width:
            lines.append(line)
            continue
        # an example: a command to copy, cut between words with a backslash
        current = " " * indent
        for word in _command_pieces(line):
            if word == "\\":  # the example's own continuation: it stays at the end
                current += " \\"
                continue
            candidate = f"{current} {word}" if current.strip() else current + word
            if len(candidate) + 4 > width and current.strip():
                lines.append(current + " \\")
                current = " " * (indent + 4) + word
            else:
                current = candidate
        lines.append(current)
    flush()
    return lines


def _command_pieces(line: str) -> list[str]:
    """The words of an example command, a quoted argument whole (a backslash inside quotes
    would not continue the line) and an option with its value (``--style cs231n``, ``--lr
    -1/10``), so that a cut never parts them."""
    pieces: list[str] = []
    for word in line.split():
        if pieces and (_open_quote(pieces[-1]) or _takes_this_value(pieces[-1], word)):
            pieces[-1] += " " + word
        else:
            pieces.append(word)
    return pieces


def _open_quote(text: str) -> bool:
    """Whether ``text`` ends inside a '...' or "..." (each quote inside the other is a
    character: "Ana's sheet")."""
    quote = None
    for char in text:
        if quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
    return quote is not None


def _takes_this_value(previous: str, word: str) -> bool:
    """Whether ``word`` is the value of the option ``previous`` is: a lone option before a
    word that is not an option (a negative number, and "-" for standard output, are values)
    nor a shell operator."""
    return (previous.startswith("-") and " " not in previous and len(previous) > 1
            and (not word.startswith("-") or word == "-" or re.match(r"-[\d.]", word))
            and word not in ("|", ">", "<", "&&", "\\"))


@contextlib.contextmanager
def _section(formatter, heading: str):
    """click's ``formatter.section``, its heading wrapped at the width: click writes a heading
    on one line, and a panel's (generate's "Sizes (an option a recipe does not take ...)")
    would run past a narrow terminal's edge."""
    import textwrap

    formatter.write_paragraph()
    indent = " " * formatter.current_indent
    # the standard library's wrapping: typer vendors its click as a private module
    formatter.write(textwrap.fill(f"{heading}:", formatter.width, initial_indent=indent,
                                  subsequent_indent=indent, break_on_hyphens=False) + "\n")
    formatter.indent()
    try:
        yield
    finally:
        formatter.dedent()


#: Whether this run made a help text (``--help``, or the program alone): click writes it to
#: standard output itself, and to a closed one without a word (cnngrad.cli.main says it)
help_made = False


def _format_help(command, ctx, formatter) -> None:
    """Plain help at most 80 columns: usage, text, arguments, options (one section per
    help panel), commands, and the examples as written."""
    global help_made
    help_made = True
    command.format_usage(ctx, formatter)
    command.format_help_text(ctx, formatter)
    arguments = [(_argument_name(p), p.help or "") for p in command.get_params(ctx)
                 if isinstance(p, typer.core.TyperArgument)]
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    panels: dict[str, list] = {}
    for param in command.get_params(ctx):
        if isinstance(param, typer.core.TyperOption) and not param.hidden:
            panel = getattr(param, "rich_help_panel", None) or "Options"
            panels.setdefault(panel, []).append(_option_record(param, ctx))
    for panel, records in panels.items():
        with _section(formatter, panel):
            formatter.write_dl(records)
    if isinstance(command, typer.core.TyperGroup):
        commands = [(name, command.get_command(ctx, name)) for name in
                    command.list_commands(ctx)]
        rows = [(name, cmd.short_help or cmd.get_short_help_str(1000)) for name, cmd in commands
                if cmd is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
    if command.epilog:
        formatter.write_paragraph()
        for line in _epilog_lines(command.epilog, formatter.width):
            formatter.write(f"  {line}\n" if line else "\n")


def _usage_pieces(command, ctx) -> list[str]:
    """``[OPTIONS] PROBLEM [PATH]``: a required argument bare, an optional one in brackets."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, typer.core.TyperArgument):
            name = _argument_name(param)
            pieces.append(name if param.required else f"[{name}]")
    if isinstance(command, typer.core.TyperGroup):
        pieces.append(command.subcommand_metavar)
    return pieces


# --------------------------------------------------------------------------- usage errors


_PYDANTIC = ((re.compile(r"Input should be less than or equal to (\S+)"), r"must be at most \1"),
             (re.compile(r"Input should be greater than or equal to (\S+)"),
              r"must be at least \1"),
             (re.compile(r"Input should be less than (\S+)"), r"must be less than \1"),
             (re.compile(r"Input should be greater than (\S+)"), r"must be more than \1"),
             (re.compile(r"Input should be a valid integer.*"), "must be a whole number"),
             (re.compile(r"Input should be a valid number.*"), "must be a number"),
)
_PATH_ERROR = re.compile(r"(?i)(?:file|dir|directory|path) '(.*)' (is a directory|is a file|"
                         r"does not exist|is not readable|is not writable)\.?")
_PATH_WHAT = {"is a directory": "is a folder, not a file", "is a file": "is a file, not a folder"}


def _param_name(param) -> str | None:
    if param is None:
        return None
    if isinstance(param, typer.core.TyperOption):
        return max(param.opts, key=len)
    return _argument_name(param)


#: (command, option) → the hint for an option another command has and this one has not
#: (``gradcheck --exact``): what to do instead, rather than click's closest spelling, which
#: names an option of another meaning (``--exact`` → ``--atol``).  Each command adds its own
#: when it registers.
ABSENT_OPTION_HINTS: dict[tuple[str, str], str] = {}


#: Quick mode's options, backward's alone.
QUICK_OPTIONS = ("--input", "--kernel", "--delta", "--bias", "--stride", "--padding",
                 "--dilation", "--flip-kernel")


def hint_quick_mode_is_backward_s(command: str) -> None:
    """Register, for a command that reads problem files only, the hint for quick mode's
    options asked of it: click's closest spelling would offer ``--output`` for ``--input``,
    where what the user wants is backward, or a problem file."""
    for option in QUICK_OPTIONS:
        ABSENT_OPTION_HINTS[command, option] = (
            f"quick mode (--input, --kernel, --delta, ...) is backward's alone: cnngrad "
            f"backward --input o.csv --kernel w.csv --delta d.csv (-f json gives the conv's "
            f"output too); {command} reads a problem file, and "
            f'{{"input": ..., "kernel": ..., "delta": ...}} is a whole one')


#: The commands that read a problem file, where a layer's field asked as an option gets
#: the layer's hint
_PROBLEM_COMMANDS = ("backward", "forward", "explain", "gradcheck", "check")


def _conv_field_not_quick(command: str | None, option: str) -> str | None:
    """The hint for a conv2d layer field asked as an option (``--groups``,
    ``--padding-mode``): it goes in the problem file's layer, and backward's quick mode does
    not take it; not click's "did you mean --output?" """
    from cnngrad.problem import SHORTHAND, layer_family

    key = option.lstrip("-").replace("-", "_")
    if command not in _PROBLEM_COMMANDS or key not in layer_family(SHORTHAND).fields or \
            f"--{key.replace('_', '-')}" in QUICK_OPTIONS:
        return None
    hint = (f"'{key}' is a {SHORTHAND} layer field: give it in the problem file's layer, "
            f"\"layers\": [{{\"type\": \"{SHORTHAND}\", ..., \"{key}\": ...}}]")
    if command == "backward":
        hint += f" (quick mode takes only {', '.join(QUICK_OPTIONS)})"
    return hint


def _closest(name: str, possibilities) -> list[str]:
    """click's spellings close to ``name``, only those nearly as close as the closest
    (``--one-base``: ``--one-based``, not ``--bias`` beside it)."""
    import difflib

    scored = [(difflib.SequenceMatcher(None, name, p).ratio(), p) for p in possibilities]
    best = max((score for score, _ in scored), default=0.0)
    return [p for score, p in scored if score >= best - 0.15]


def usage_error(error, fallback: str = "cnngrad") -> UsageError:
    """A click/typer usage error as cnngrad's one-line error (``--decimals: must be at most
    17``), with a hint where one helps; never click's boxed usage panel.  ``fallback`` is the
    command the hints name when the error does not know its command (click's parser raises
    ``-o``'s "needs a value" without one)."""
    from cnngrad.errors import UsageError

    ctx = getattr(error, "ctx", None)
    command = ctx.command_path if ctx is not None else fallback
    helps = f"{command} -h shows the usage and the options"
    if _is(error, "NoSuchOption"):
        absent = ABSENT_OPTION_HINTS.get((getattr(ctx, "info_name", None), error.option_name))
        if absent is not None:
            return UsageError("no such option", where=error.option_name, hint=absent)
        layer_field = _conv_field_not_quick(getattr(ctx, "info_name", None), error.option_name)
        if layer_field is not None:
            return UsageError("no such option", where=error.option_name, hint=layer_field)
        close = ", ".join(_closest(error.option_name, error.possibilities or ()))
        return UsageError("no such option", where=error.option_name,
                          hint=f"did you mean {close}?" if close else helps)
    if _is(error, "BadOptionUsage"):
        what = error.message
        if "requires an argument" in what:
            what = "needs a value"
        return UsageError(_sentence(what), where=error.option_name, hint=helps)
    if _is(error, "MissingParameter"):
        usage = " ".join([command, *_usage_pieces(ctx.command, ctx)]) if ctx else command
        return UsageError("missing", where=_param_name(error.param), hint=f"usage: {usage}")
    if _is(error, "BadParameter"):
        what, file = error.message, None
        for pattern, replacement in _PYDANTIC:
            what = pattern.sub(replacement, what)
        path = _PATH_ERROR.fullmatch(what.strip())
        if path:
            file, what = path[1], _PATH_WHAT.get(path[2], path[2])
        where = _param_name(error.param) or (error.param_hint if isinstance(
            error.param_hint, str) else None)
        return UsageError(_sentence(what), where=where, file=file)
    if _is(error, "UsageError"):
        # typer appends its suggestion to the message ("No such command 'backwards'. Did you
        # mean 'backward'?"): the suggestion is the hint, as for a misspelt option
        message, close, suggestion = error.message.partition(" Did you mean ")
        named = re.match(r"No such command '(.*)'", message)
        word = named.group(1).lower() if named else ""
        if word in ("version", "help"):  # an option of the program, asked as a command
            return UsageError(_sentence(message), hint=(
                f"{command} --version prints the version" if word == "version" else
                f"{command} -h lists the commands; each has its own, {command} backward -h"))
        if close:
            return UsageError(_sentence(message), hint=f"did you mean {suggestion}")
        spaced = path_with_spaces_hint() if "extra argument" in message else None
        return UsageError(_sentence(error.message), hint=spaced or helps)
    return UsageError(_sentence(error.format_message()))


#: The arguments of the command line being run: a hint may look at more than one of them (a
#: path with spaces given unquoted is several).
given_arguments: list[str] = []


def path_with_spaces_hint(name: str | None = None) -> str | None:
    """The hint to quote a path with spaces given unquoted among the command line's
    arguments (``cnngrad backward my hw/p 1.json``: extra arguments), or None; with ``name``,
    a file that does not exist, only a path it is the first word of (``cnngrad check my hw/p
    1.json a.json``)."""
    spaced = _path_with_spaces(tuple(given_arguments), os.getcwd())
    if spaced is None or (name is not None and not spaced.startswith(name + " ")):
        return None
    return f"a path with spaces goes in quotes: \"{spaced}\""


@functools.lru_cache(maxsize=4)  # once per command line: a class's missing files each ask
def _path_with_spaces(given: tuple[str, ...], folder: str) -> str | None:
    """The first existing file or folder that consecutive arguments name joined by spaces
    (``my hw/p 1.json`` given unquoted is three arguments), or None; ``folder``, the current
    one, is part of the cache's key."""
    for start in range(len(given)):
        for end in range(start + 2, min(len(given), start + 8) + 1):
            joined = " ".join(given[start:end])
            try:
                if Path(joined).exists():
                    return joined
            except (OSError, ValueError):  # a name too long, or with a NUL
                continue
    return None


def _sentence(text: str) -> str:
    """click's ``"Got unexpected extra argument (x)."`` → ``got unexpected extra argument
    (x)``: cnngrad's errors are lower-case phrases without a full stop."""
    text = " ".join(str(text).split()).rstrip(".")
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _command_named(command, args, prog_name) -> str:
    """``cnngrad backward`` for ``cnngrad backward p.json -o``: the program and the first
    argument that names one of its commands (just the program when none does)."""
    import sys

    program = prog_name or "cnngrad"
    names = getattr(command, "commands", {})
    given = sys.argv[1:] if args is None else list(args)
    return next((f"{program} {arg}" for arg in given if arg in names), program)


def run_main(super_main, command, args, prog_name, complete_var, standalone_mode, extra):
    """click's main, with every click/typer usage error printed as one ``error:`` line
    (plus a hint) and exit 2; ``cnngrad`` alone prints the help (exit 2, as click does)."""
    import sys

    given_arguments[:] = sys.argv[1:] if args is None else list(args)
    tensorio = sys.modules.get("cnngrad.tensorio")  # (never imported for it: start-up)
    if tensorio is not None:  # a run reads its own pipes and terminals, not an earlier run's
        tensorio.forget_pipes_read()
    try:
        result = super_main(args, prog_name, complete_var, standalone_mode=False, **extra)
    except Exception as error:
        if standalone_mode and _is(error, "NoArgsIsHelpError"):
            typer.echo(error.ctx.get_help())
            sys.exit(2)
        if standalone_mode and _is(error, "ClickException"):
            from cnngrad.cli.common import report_error

            report_error(usage_error(error, _command_named(command, args, prog_name)))
            sys.exit(2)
        if standalone_mode and _is(error, "Abort"):
            typer.echo("aborted", err=True)
            sys.exit(1)
        raise
    if not standalone_mode:
        return result
    sys.exit(result if isinstance(result, int) else 0)


class PlainValuesGroup(typer.core.TyperGroup):
    """The app's group class: reads its own options with :class:`PlainValues`, prints
    plain help at 80 columns, and every usage error as one line."""

    def parse_args(self, ctx, args):
        plain_values(self, ctx)
        return super().parse_args(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        return run_main(super().main, self, args, prog_name, complete_var, standalone_mode,
                        extra)

    def format_help(self, ctx, formatter) -> None:
        _format_help(self, ctx, formatter)

    def collect_usage_pieces(self, ctx) -> list[str]:
        return _usage_pieces(self, ctx)


class PlainValuesCommand(typer.core.TyperCommand):
    """Every command's class: reads its options with :class:`PlainValues`; plain help."""

    def parse_args(self, ctx, args):
        plain_values(self, ctx)
        return super().parse_args(ctx, args)

    def format_help(self, ctx, formatter) -> None:
        _format_help(self, ctx, formatter)

    def collect_usage_pieces(self, ctx) -> list[str]:
        return _usage_pieces(self, ctx)
