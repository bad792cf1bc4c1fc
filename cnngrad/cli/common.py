"""Plumbing shared by every command: the error guard, output writing, Rich rendering,
problem loading and the common options."""

import contextlib
import functools
import os
import re
import sys
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

# write_output is also the commands' (from cnngrad.cli.common import write_output)
from cnngrad.cli.output import (TerminalText, escape_controls, stream_encoding,  # noqa: F401
                                write_output, write_outputs, written_directly)
from cnngrad.cli.progress import dumb_terminal
from cnngrad.render import FORMATS
from cnngrad.errors import (CnnGradError, DomainError, UsageError, allowed_list, closest,
                            did_you_mean, with_article, with_hint)

# --------------------------------------------------------------------------- plumbing


def one_line(text: str) -> str:
    """``text`` with control characters escaped: a key or file name holding a line break
    (or a terminal escape sequence) must not break the one-line error or the terminal."""
    import unicodedata

    return "".join(c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c
                   for c in text)


#: What to say when the current folder was deleted under the shell (its paths resolve
#: against nothing): the error and its hint.
CURRENT_FOLDER_GONE = ("the current folder no longer exists (deleted or moved away)",
                       "cd to a folder that exists, or give every path in full")


def current_folder_gone() -> bool:
    """Whether the current folder was deleted (or moved) under the running command."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def error_line(error: CnnGradError, label: str = "error") -> str:
    """``error: <file>: <where>: <what>; hint: <what to do>`` — one line, however the
    message or the hint was written (line breaks and control characters escaped);
    ``label`` says ``warning`` for a fault only warned of."""
    return f"{label}: " + with_hint(one_line(error.message()),
                                    one_line(error.hint) if error.hint else None)


def report_error(error: CnnGradError) -> None:
    _write_stderr(error_line(error) + "\n")


#: the notes and warnings of the running command (an --lr with nothing to update, a kink the
#: floats decided): said once the command ends without an error, so that a run that fails
#: says its one error line and nothing else
_pending_notes: list[str] = []


def same_file(path, other) -> bool:
    """Whether two names given on the command line are one file (``./a.json`` beside
    ``a.json``, a link); ``-`` (standard input) is no file, and a name of no file names none."""
    if "-" in (path, other):
        return False
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


def note_later(line: str) -> None:
    """Say ``line`` on stderr when the command ends having written its report: with exit
    code 0, or with the code it chose itself (``check``: 1 for a wrong answer, 2 beside a
    gradebook's rows for files it could not grade).  Dropped on an error: bad input is one
    ``error:`` line, however far the run had come.  A line said already is said once (a
    class's problems, each computed, may share a note)."""
    if line not in _pending_notes:
        _pending_notes.append(line)


def note_loss_input(problem) -> None:
    """Say later what E is when the loss does not read what the last layer gives (a softmax
    layer before cross_entropy: cnngrad.families.loss_input_note)."""
    from cnngrad.families import loss_input_note

    pairing = loss_input_note(problem)
    if pairing is not None:
        note_later(f"note: {pairing}")


def _write_stderr(lines: str) -> None:
    stream = sys.stderr
    if stream is None:  # `2>&-`: nowhere to say it; the exit code still does
        return
    buffer, encoding = getattr(stream, "buffer", None), stream_encoding(stream)
    try:
        if buffer is None:  # a text stream only: its own encoding, escaping what it lacks
            stream.write(lines.encode(encoding, "backslashreplace").decode(encoding))
            stream.flush()
        else:
            stream.flush()
            buffer.write(lines.encode(encoding, "backslashreplace"))
            buffer.flush()
    except (OSError, ValueError, LookupError):
        pass


def _print_traceback(exc: BaseException) -> None:
    """``--debug``: the whole traceback on standard error."""
    import traceback

    traceback.print_exception(exc, file=sys.stderr)


def guarded(command):
    """Run a command body; a CnnGradError becomes one stderr line and its exit code.
    ``--debug`` (every command has it) prints the traceback instead, with the same exit code.

    numpy's RuntimeWarnings (an overflow, an invalid value) never reach the user raw: a
    result that overflowed is reported once, as an error naming the tensor
    (:func:`check_finite`), or shown as ``inf``.  Ctrl-C is ``error: interrupted``, exit 130
    (128 + SIGINT, as a shell reports it)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        def fail(what: str, hint: str) -> typer.Exit:
            file = kwargs.get("problem")
            report_error(CnnGradError(what, file=file if isinstance(file, str) else None,
                                      hint=hint))
            return typer.Exit(2)

        _pending_notes.clear()
        ended_well = False
        try:
            from cnngrad.layers._gemm import check_choice

            # CNNGRAD_BLAS: a misspelt or missing BLAS is told whatever the problem's size
            check_choice()
            with warnings.catch_warnings():
                if not kwargs.get("debug"):
                    warnings.simplefilter("ignore", RuntimeWarning)
                result = command(*args, **kwargs)
            ended_well = True
            return result
        except typer.Exit:
            # the command ended itself, its report written (an error is raised, not this)
            ended_well = True
            raise
        except (typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt as exc:
            if kwargs.get("debug"):
                _print_traceback(exc)
            else:
                report_error(CnnGradError("interrupted"))
            raise typer.Exit(130) from None
        except Exception as exc:
            if kwargs.get("debug"):
                # the traceback instead of the one line, and the exit code all the same
                _print_traceback(exc)
                raise typer.Exit(exc.exit_code if isinstance(exc, CnnGradError) else 2
                                 ) from None
            if isinstance(exc, CnnGradError):
                if exc.file == "(command line)":  # a problem built from --input, --kernel ...
                    from cnngrad.problem import on_command_line

                    on_command_line(exc)
                if exc.hint is None:
                    exc.hint = near_file_hint(exc)
                report_error(exc)
                raise typer.Exit(exc.exit_code) from None
            if isinstance(exc, RecursionError):
                raise fail("the problem is nested too deeply to read", "at most a few dozen "
                           "levels of nested lists and objects") from None
            # numpy: "array is too big" / "maximum supported dimension" for sizes past the
            # address space, reachable only with a --max-elements far beyond the machine
            if isinstance(exc, MemoryError) or (isinstance(exc, ValueError) and re.search(
                    r"array is too big|maximum supported dimension", str(exc))):
                raise fail("out of memory: the problem is too large for this machine",
                           "lower --max-elements to be told which tensor is too big") from None
            # a number past float64's range met where only a finite one fits (an integer
            # conversion, strict JSON): the same verdict backward gives
            if isinstance(exc, OverflowError) or (isinstance(exc, ValueError) and re.search(
                    r"Out of range float values|cannot convert float (infinity|NaN)",
                    str(exc))):
                raise fail("the result overflows to infinity",
                           "float64 overflows beyond about 1.8e308: scale the numbers down"
                           ) from None
            if isinstance(exc, FileNotFoundError) and current_folder_gone():
                # a relative -o or a quick-mode problem resolved against it
                raise fail(*CURRENT_FOLDER_GONE) from None
            if isinstance(exc, UnicodeError):
                raise fail(f"cannot encode the text: {' '.join(str(exc).split())[:120]}",
                           "save the problem as UTF-8 without lone surrogates") from None
            # a bug: still one line and exit 2, never a traceback
            detail = " ".join(str(exc).split())[:200]
            raise fail(f"internal error ({type(exc).__name__}: {detail})",
                       "this is a bug in cnngrad; rerun with --debug for the traceback and "
                       "report it") from None
        finally:
            notes = list(_pending_notes)
            _pending_notes.clear()
            if ended_well and notes:
                _write_stderr("".join(f"{line}\n" for line in notes))

    return wrapper


def choose(value: str, allowed: tuple[str, ...], option: str) -> str:
    """An option's value among ``allowed`` (every one lower case), in any case: ``--format
    JSON`` is json, as ``-o R.JSON`` is; else an error listing them."""
    if value in allowed:
        return value
    if value.lower() in allowed:
        return value.lower()
    raise UsageError(f"unknown value '{value}'", where=option, hint=did_you_mean(value, allowed))


#: The format an ``-o`` file's suffix asks for when --format is not given (a command uses
#: only those among its own formats; any other suffix, or none, gets the table).
SUFFIX_FORMATS = {".json": "json", ".csv": "csv", ".md": "markdown", ".tex": "latex",
                  ".npz": "npz", ".txt": "text"}
#: Longer suffixes of the same formats: read as theirs, left out of the help's list.
SUFFIX_SYNONYMS = {".markdown": ".md", ".latex": ".tex"}
SUFFIX_FORMATS.update({long: SUFFIX_FORMATS[short] for long, short in SUFFIX_SYNONYMS.items()})


#: Suffixes of files that are not text, which -o (text in every format but npz) cannot
#: write: what such a file is, named in the error.
NOT_TEXT_SUFFIXES = {
    **dict.fromkeys((".xlsx", ".xls", ".ods"), "spreadsheet"), ".pdf": "PDF",
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"),
                    "picture"),
    **dict.fromkeys((".docx", ".doc", ".odt"), "word-processor document"),
    **dict.fromkeys((".pptx", ".ppt", ".odp"), "presentation")}

#: Suffixes of array data, which -o cannot write either (.npy is what problems read their
#: tensors from, so it is tried); a command that writes npz names .npz for them.
DATA_SUFFIXES = {".npy": "NumPy array", **dict.fromkeys((".pickle", ".pkl"), "pickle"),
                 **dict.fromkeys((".h5", ".hdf5"), "HDF5 file"), ".mat": "MATLAB file",
                 ".zip": "zip archive"}
NOT_TEXT_SUFFIXES.update(DATA_SUFFIXES)


#: Other names for a format, whose closest spelling is another one: ``text`` (as explain's
#: and verify's -f text) read as ``latex``; these name the format meant instead.
FORMAT_ALIASES = {"text": "table", "txt": "table", "plain": "table", "md": "markdown",
                  "tex": "latex"}


class OutputFormat(str):
    """A command's output format, and where it came from: ``--format`` as given, or the
    suffix of ``-o``'s file when --format was left out (``from_suffix`` is then that file),
    so that an error about the format names the option the user wrote."""

    from_suffix: Optional[str] = None

    @property
    def option(self) -> str:
        return "--format" if self.from_suffix is None else "--output"


def _svg_name(name: str) -> str:
    """``x.png`` → ``x.svg``, ``x.svg.png`` → ``x.svg``, ``x.`` → ``x.svg``."""
    suffix = Path(name).suffix
    stem = (name[:-len(suffix)] if suffix else name).rstrip(".")
    return stem if stem.lower().endswith(".svg") else stem + ".svg"


def output_format(format: Optional[str], output: Optional[str],
                  allowed: tuple[str, ...], *, command: str, picture: bool = False,
                  save_svg: Optional[str] = None) -> OutputFormat:
    """The format a command writes: ``--format`` when given (checked against ``allowed``),
    else the one -o's suffix names when the command has it (``-o result.json`` → json), else
    table.  Every command with ``-o`` decides it here.

    ``-o report.svg`` without --format is refused: -o writes text, and a text file named
    .svg is no picture (``picture``: the command has --save-svg, which the hint names; when
    ``save_svg`` already names that file, the slip is the one file given twice), and so is a
    .csv, .md, .tex or .json file where ``command`` (its name) has no such format."""
    if (save_svg not in (None, "-") and not Path(save_svg).name.lower().endswith(".svg")
            and not written_directly(save_svg)):
        # an image viewer opens x.png by its name and finds SVG text in it (a device, a pipe
        # or /dev/stdout takes it whatever its name); -o's file named twice is the greater
        # slip, said first
        from cnngrad.cli.output import refuse_one_file_twice

        refuse_one_file_twice([(output, "--output"), (save_svg, "--save-svg")])
        suffix = Path(save_svg).suffix
        raise UsageError("saves an SVG picture, " + (f"not a {suffix} file" if suffix else
                                                     "in a file named .svg"),
                         where="--save-svg", file=save_svg,
                         hint=f"name it {_svg_name(str(save_svg))}")
    if format is not None:
        meant = FORMAT_ALIASES.get(format.lower())
        if format.lower() not in allowed and meant in allowed:
            raise UsageError(f"unknown value '{format}'", where="--format",
                             hint=f"did you mean '{meant}'? ({allowed_list(allowed)})")
        return OutputFormat(choose(format, allowed, "--format"))
    suffix = Path(output).suffix.lower() if output else ""
    if suffix == ".svg":
        if save_svg is not None:
            # one file for both: say so, rather than hint "--save-svg r.svg", already given
            from cnngrad.cli.output import refuse_one_file_twice

            refuse_one_file_twice([(output, "--output"), (save_svg, "--save-svg")])
        raise UsageError("-o writes the report as text, not an SVG picture", where="--output",
                         file=str(output),
                         hint=(f"--save-svg {output} saves the tables as an SVG picture; "
                               if picture and save_svg is None else "")
                              + "--format table writes the text report to it anyway")
    # .npz writes npz where the command has it; a command that has not writes text only
    kind = NOT_TEXT_SUFFIXES.get(suffix) or ("NumPy archive" if suffix == ".npz"
                                             and "npz" not in allowed else None)
    if kind is not None:
        stem = str(Path(output).with_suffix(""))
        if suffix in DATA_SUFFIXES and "npz" in allowed:
            instead = f"-o {stem}.npz writes every tensor as a NumPy .npz archive; "
        elif kind in ("NumPy archive", "NumPy array", "pickle") and "json" in allowed:
            instead = f"-o {stem}.json writes JSON, which a script reads; "
        elif kind == "spreadsheet" and "csv" in allowed:
            instead = f"-o {stem}.csv writes CSV, which a spreadsheet opens; "
        elif kind == "PDF" and "latex" in allowed:
            instead = f"-o {stem}.tex writes LaTeX, which pdflatex makes a PDF of; "
        elif kind == "picture" and picture and save_svg is None:
            instead = f"--save-svg {stem}.svg saves the tables as an SVG picture; "
        else:
            instead = ""
        # beside other binary data, the one binary file -o writes: npz, where the command has it
        writes = ("text or an .npz archive" if "npz" in allowed and suffix in DATA_SUFFIXES
                  else "text")
        raise UsageError(f"-o writes {writes}, not {with_article(kind)} ({suffix})",
                         where="--output", file=str(output),
                         hint=instead + "--format table writes the text report to it anyway")
    if SUFFIX_FORMATS.get(suffix) in allowed:
        chosen = OutputFormat(SUFFIX_FORMATS[suffix])
        chosen.from_suffix = output
        return chosen
    if suffix in SUFFIX_FORMATS and suffix != ".txt":
        # a .csv, .md or .tex file of the table's boxes would surprise: say what is written
        # (.npz where the command has no npz is refused above, as a file not of text)
        named = {"csv": "CSV", "markdown": "Markdown", "latex": "LaTeX",
                 "json": "JSON"}[SUFFIX_FORMATS[suffix]]
        stem = str(Path(output).with_suffix(""))
        formats = sorted(allowed)
        raise UsageError(f"cnngrad {command} writes {', '.join(formats[:-1])} or "
                         f"{formats[-1]}, not {named} ({suffix})", where="--output",
                         file=str(output),
                         hint=f"-o {stem}.txt writes the report as text; --format table "
                              "writes it to this file anyway")
    return OutputFormat("table")


def suffix_default(allowed: tuple[str, ...]) -> str:
    """The --format default as its help shows it: ``from -o's suffix (.json, .csv), else
    table``."""
    suffixes = [suffix for suffix, fmt in SUFFIX_FORMATS.items()
                if fmt in allowed and suffix not in SUFFIX_SYNONYMS]
    return f"from -o's suffix ({', '.join(suffixes)}), else table"


def format_option(allowed: tuple[str, ...], help: str):
    """A command's ``--format``/``-f`` option: no default of its own (None: decided by
    :func:`output_format`), its help ending in how the default is chosen."""
    return typer.Option("--format", "-f", metavar="FORMAT", help=help,
                        show_default=suffix_default(allowed))


#: The width of a table report written to a pipe or a file (-o) when COLUMNS is not set.
FILE_WIDTH = 120

#: The height a terminal Console is given.  A report printed whole has no use for it, but on a
#: dumb terminal (TERM=dumb) Rich honours a width only beside a height.
TERMINAL_HEIGHT = 25


def output_width(terminal: bool) -> int:
    """The width a table report is laid out for: a terminal's own width (Rich reads it, and
    COLUMNS when set); for a pipe or a file, COLUMNS when set, else :data:`FILE_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    if terminal:
        if dumb_terminal():  # Rich says 80 for TERM=dumb, whatever the width
            import shutil

            return max(shutil.get_terminal_size().columns, 20)
        from rich.console import Console

        return max(Console().width, 20)
    return max(int(columns), 20) if columns.isdigit() else FILE_WIDTH


def render_rich(renderable, *, to_file: bool) -> str:
    """A Rich renderable → text laid out for :func:`output_width`: colours only for a
    terminal, never control codes in a file or a pipe.  The tables fit that width (grids
    stack, wide ones split into column blocks): no number is ever cut."""
    import io

    from rich.console import Console

    terminal = not to_file and sys.stdout is not None and sys.stdout.isatty()
    buffer = io.StringIO()
    if terminal:
        # a height too: without one Rich lays a dumb terminal (TERM=dumb) out at 80 columns
        console = Console(file=buffer, force_terminal=True, width=output_width(True),
                          height=TERMINAL_HEIGHT, no_color=bool(os.environ.get("NO_COLOR")))
    else:
        console = Console(file=buffer, force_terminal=False, no_color=True, color_system=None,
                          width=output_width(False), legacy_windows=False)
    # a part of the report that cannot be laid out in the width (a wide Rich table at 60
    # columns) gets the narrowest width it fits rather than cut numbers, and only that part:
    # the title and the notes around it still wrap at the width, between words, where a
    # terminal would fold a line laid out wider anywhere, a word or a number cut in two
    from rich.measure import Measurement

    width = console.width
    needs = Measurement.get(console, console.options.update_width(4000), renderable)
    if needs.minimum > console.width:
        console.width = min(needs.minimum, 4000)
    # not cropped: a control character escaped after the layout (\u001b for one cell)
    # may carry a line past the width, and cropping it would cut the text
    console.print(_escaped(console, renderable, width), crop=False)
    text = buffer.getvalue()
    if not terminal:
        return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    return TerminalText(text)


def _escaped(console, renderable, width: Optional[int] = None):
    """``renderable`` laid out, with control characters from input files (a title, a layer
    name) escaped in its text before Rich adds its own colour codes.  With ``width``, each
    part of a Group is laid out at that width, or at the narrowest it fits when wider."""
    from rich.segment import Segment, Segments

    segments = (console.render(renderable, console.options) if width is None
                else _render_parts(console, renderable, width))
    return Segments([segment if segment.control else
                     Segment(escape_controls(segment.text), segment.style)
                     for segment in segments])


def _render_parts(console, renderable, width: int):
    """The segments of ``renderable``, a Group's parts (nested ones too) each laid out at
    ``width`` or at the narrowest width it fits in, whichever is wider."""
    from rich.console import Group
    from rich.measure import Measurement

    if isinstance(renderable, Group):
        for part in renderable.renderables:
            yield from _render_parts(console, part, width)
        return
    wide = console.options.update_width(4000)
    fits = max(width, min(Measurement.get(console, wide, renderable).minimum, 4000))
    yield from console.render(renderable, console.options.update_width(fits))


def render_svg(renderable, *, title: str = "cnngrad") -> str:
    """A Rich renderable → an SVG picture of it (Rich's export), in colour whatever the
    terminal: a picture is asked for by name.  As wide as the report needs, never folded."""
    import io

    from rich.console import Console
    from rich.measure import Measurement

    console = Console(file=io.StringIO(), record=True, force_terminal=True,
                      color_system="truecolor", no_color=False, width=4000,
                      height=TERMINAL_HEIGHT, legacy_windows=False)
    needed = Measurement.get(console, console.options, renderable).maximum
    console.width = max(40, min(needed, 4000))
    console.print(_escaped(console, renderable))
    return console.export_svg(title=escape_controls(title))


# --------------------------------------------------------------------------- shared options

def dash_is_standard_output(value: Optional[str]) -> Optional[str]:
    """``-o -`` means standard output, as ``-`` for PROBLEM means standard input (a file
    named ``-`` is still written as ``-o ./-``)."""
    return None if value == "-" else value


OutputOpt = Annotated[Optional[str], typer.Option(
    "--output", "-o", metavar="FILE", callback=dash_is_standard_output,
    help="Write the result to this file instead of standard output (atomically: never a "
         "partial file; an existing file keeps its permissions); - is standard output.")]
# (no dir_okay=False: write_output says "is a folder" in one line, not a usage box)
#: every --format of backward and forward
REPORT_FORMATS = FORMATS + ("npz",)  # npz: arrays, written by cli.output

ReportFormatOpt = Annotated[Optional[str], format_option(
    REPORT_FORMATS,
    help="table (for people), json (the contract's result, for scripts), "
         "csv (a '# path' line before each matrix), latex (a bmatrix per "
         "tensor), markdown, or npz (every tensor in one NumPy .npz file "
         "under its dotted path; needs -o).")]
FullOpt = Annotated[bool, typer.Option(
    "--full", help="Show every value in the tables.  Without it a matrix of more than 20 rows "
                   "or columns shows its corners around '…' and a min / max / mean / norm "
                   "line, and a tensor of many grids the first and last few (csv, latex, "
                   "markdown, json and npz always hold every value).")]
SaveSvgOpt = Annotated[Optional[str], typer.Option(
    "--save-svg", metavar="FILE",
    help="Also save the table report as an SVG picture (in colour) to this file (only when "
         "the whole run succeeds); - is standard output, with -o FILE for the report.")]
DecimalsOpt = Annotated[int, typer.Option("--decimals", min=0, max=17,
                                          help="Decimals shown in the human formats (all but "
                                               "json and npz, which keep every digit; a table "
                                               "of whole numbers shows none).")]
#: gradcheck's and explain's: json is their one format for programs
TableDecimalsOpt = Annotated[int, typer.Option(
    "--decimals", min=0, max=17,
    help="Decimals shown for people: every format but json, which keeps every digit.")]
#: check's: its csv and json are gradebooks of scores, with their own decimals
CheckDecimalsOpt = Annotated[int, typer.Option(
    "--decimals", min=0, max=17,
    help="Decimals of the true values shown in the table and gradescope reports (the csv "
         "and json gradebooks of scores are not changed by it).")]
ExactOpt = Annotated[bool, typer.Option("--exact", help="Exact rational arithmetic: 0.51 is "
                                                        "51/100, results print as fractions.")]
LrOpt = Annotated[Optional[str], typer.Option(
    "--lr", metavar="RATE",
    help="Learning rate η: also show each parameter after one SGD step p − η·dE/dp.")]
MaxElementsOpt = Annotated[int, typer.Option("--max-elements", min=1,
                                             help="Refuse problems whose largest tensor (the "
                                                  "input, a parameter, an output, or a conv's "
                                                  "im2col buffer) would hold more elements "
                                                  "than this.")]
DtypeOpt = Annotated[str, typer.Option(
    "--dtype", metavar="DTYPE",
    help="float64, or float32 for big problems (half the memory, about 7 significant digits).")]
DebugOpt = Annotated[bool, typer.Option(
    "--debug", help="Show a traceback on errors (the exit code stays the same).")]
OneBasedOpt = Annotated[bool, typer.Option(
    "--one-based", help="Count every index shown from 1 (rows, columns, [c=1] grids; "
                        "csv, markdown and latex path[i] names), as on paper and as check "
                        "--one-based reads them; json and npz hold no indices.")]
ProblemArg = Annotated[Optional[str], typer.Argument(
    metavar="PROBLEM", help="The problem file (JSON), or - to read it from standard input. "
                            "Leave it out to build a one-conv problem from --input, --kernel "
                            "and --delta.", show_default=False)]


def require_npz_target(output: Optional[Path], exact: bool,
                       fmt: Optional[OutputFormat] = None) -> None:
    """``--format npz`` (or ``-o result.npz``) writes a binary file of floats: it needs
    ``-o`` and no ``--exact`` (checked before any work)."""
    if output is None:
        # standard output may be a file (> result.npz), but an .npz is written by name
        raise UsageError("npz is a binary file, written only to a file named with -o",
                         where="--format", hint="e.g. --format npz -o result.npz")
    if exact:
        if fmt is not None and fmt.from_suffix is not None:
            raise UsageError("an .npz file holds floats, not the exact fractions of --exact",
                             where="--output", file=fmt.from_suffix,
                             hint="drop --exact to save float64 arrays, or write JSON (exact "
                                  "values as \"p/q\"): -o result.json")
        raise UsageError("an .npz holds floats, not the exact fractions of --exact",
                         where="--format", hint="drop --exact to save float64 arrays, or use "
                                                "--format json (exact values as \"p/q\")")


def typed_in(problem: Optional[str]) -> bool:
    """Whether PROBLEM ``-`` reads a terminal, where someone is to type or paste the problem:
    then they are told so and how to end it (else the command only seems to hang), and the
    caller shows no progress bar, which would draw over what they type."""
    if problem != "-" or sys.stdin is None or not sys.stdin.isatty():
        return False
    sys.stderr.write("reading the problem from standard input: type or paste its JSON, then "
                     "Ctrl-D on a line of its own (Ctrl-C to stop)\n")
    sys.stderr.flush()
    return True


def load(problem: Optional[str], *, exact: bool, max_elements: int, quick: dict,
         grading_read: bool = False):
    from cnngrad.problem import load_problem, problem_from_quick

    given_quick = {k: v for k, v in quick.items() if v not in (None, False)}
    if problem is not None:
        if given_quick:
            key = next(iter(given_quick))
            # where a problem file says the same: a tensor at its top (the delta, or a loss
            # instead), a setting in a conv layer's fields
            place = {"input": 'as "input"', "delta": 'as "delta" (or gives a "loss")'}.get(
                key, f'as a conv layer\'s "{key}"')
            raise UsageError(f"--{key.replace('_', '-')} builds a problem from the command "
                             f"line; do not give a problem file too", where="options",
                             hint=f"a problem file sets it {place}; drop the file to build a "
                                  f"one-conv problem from the options")
        _keys_first(problem, max_elements)
        with bundled_sample_hinted(problem):
            spec = load_problem(problem, exact=exact, max_elements=max_elements)
        # only check reads the block, which every other command ignores (the contract); one
        # that check would refuse is said as a warning, so that the TA's first backward run
        # finds the typo rather than the class's check.  Its points' paths are checked
        # against the network once it has run (warn_points_paths).
        from cnngrad.teach.grading import grading_of

        if not grading_read:  # check reads it and says its error as the error
            try:
                grading_of(spec)
            except CnnGradError as error:
                _warn_grading(error)
        return spec
    missing = [k for k in ("input", "kernel", "delta") if quick.get(k) is None]
    if len(missing) == 3:
        raise UsageError("no problem given", where="PROBLEM",
                         hint="give a problem file, or --input, --kernel and --delta")
    if missing:
        raise UsageError(f"quick mode needs --input, --kernel and --delta; missing "
                         f"{', '.join('--' + m for m in missing)}", where="options")
    return problem_from_quick(exact=exact, max_elements=max_elements, **quick)


def _warn_grading(error) -> None:
    error.what += "; only cnngrad check reads the grading block, and it refuses this one"
    note_later(error_line(error, label="warning"))


def warn_points_paths(spec, trace) -> None:
    """The grading block's points paths held against the network that ran (a warning, as
    :func:`load` says a block check would refuse): ``conv2d_1.kernel`` for
    ``conv2d_1.grads.kernel`` is the typo a TA's first backward run should find.  A path of
    an updated parameter is left to check, which may be given --lr."""
    import dataclasses

    from cnngrad.teach.grading import check_points, grading_of, is_updated_path

    try:
        grading = grading_of(spec)
    except CnnGradError:  # said by load
        return
    if not grading.points:
        return
    shapes = trace.shapes()
    with_lr = any(map(is_updated_path, shapes))
    known = dataclasses.replace(grading, points={
        key: points for key, points in grading.points.items()
        if with_lr or not is_updated_path(key)})
    try:
        check_points(known, shapes, trace.absent_parameter)
    except CnnGradError as error:
        _warn_grading(error)


def _closest_file(base: str, files: list[str]) -> Optional[str]:
    """The file whose name is closest to ``base``: by the name before the suffix, among
    files with its suffix (``.json`` shared makes ``good.json`` no nearer ``nope.json``),
    else a slip in the suffix itself (``p.jsno``: the same name before it)."""
    stem, suffix = os.path.splitext(base)
    same_suffix = {os.path.splitext(f)[0]: f for f in files
                   if os.path.splitext(f)[1].lower() == suffix.lower()}
    match = closest(stem, same_suffix) if stem else None
    if match is not None:
        return same_suffix[match]
    return closest(base, [f for f in files if os.path.splitext(f)[0] == stem])


def near_file_hint(error: CnnGradError) -> Optional[str]:
    """For a file that does not exist (``error: samples/stackexchnage.json: no such file``,
    verify's ``no such file: layers.py``): the file beside it whose name is closest, as a
    slip of the keyboard would have it; None when none is close."""
    if error.what == "no such file":
        name = error.file
    elif error.what.startswith("no such file: "):
        name = error.what[len("no such file: "):]
    else:
        return None
    if not name or name == "-" or "\0" in name:
        return None
    from cnngrad.cli.plain_values import path_with_spaces_hint

    spaced = path_with_spaces_hint(name)
    if spaced is not None:
        return spaced
    base = os.path.basename(name)
    if any(mark in name for mark in "*?["):
        # the shell passes a pattern that matches nothing as it is (bash without nullglob)
        return "no file matches this pattern: check its folder and its spelling"
    try:
        with os.scandir(os.path.dirname(name) or ".") as entries:
            # a slip is looked for among a folder's first few thousand names, not its all
            files = [entry.name for _, entry in zip(range(5000), entries)
                     if entry.name != base and entry.is_file()]
    except (OSError, ValueError):
        return None
    match = _closest_file(base, files)
    if match is None:
        return None
    # written as given: error_line escapes a control character of the hint as of the message
    return f"did you mean {name[:len(name) - len(base)] + match}?"


@contextlib.contextmanager
def bundled_sample_hinted(problem: str):
    """Read the problem file ``problem`` inside this: a missing one that names a bundled
    sample (``samples/stackexchange.json``, from a command's examples, run outside the
    project) is told how to get it, where a plain "no such file" leaves the reader stuck."""
    try:
        yield
    except CnnGradError as error:
        if error.what == "no such file" and error.where is None and error.hint is None:
            error.hint = _bundled_sample_hint(problem)
        raise


def _bundled_sample_hint(problem: str) -> Optional[str]:
    """For a missing ``samples/stackexchange.json``: how to get that bundled sample where the
    command looks for it (an installed cnngrad has its samples inside the package, not in
    the current folder).  A bare ``stackexchange``, a name as ``cnngrad samples`` lists it,
    is told the same, and the file name to give once saved."""
    from cnngrad.bundled import bundled_name, get_sample

    bare = not Path(problem).suffix
    name = bundled_name(problem + ".json" if bare else problem, ".json")
    if name is None:
        return None
    folder, stem = Path(problem).parent, Path(name).stem
    answers = ", with its answers files" if get_sample(stem).answers else ""
    then = f"; then give {folder / name}, not {problem}" if bare else ""
    return (f"{stem} is a bundled sample: `cnngrad samples {stem} --to {folder}` saves it as "
            f"{folder / name}{answers}{then}")


#: A problem file larger than this has its top-level keys checked before its numbers are read.
KEYS_FIRST_BYTES = 8 * 2**20
#: an empty value of a JSON member's type, by the member's first byte
_EMPTY_OF_TYPE = {b"[": [], b"{": {}, b'"': ""}


def _keys_first(problem: str, max_elements: int) -> None:
    """A big problem file with a misspelt key (top level, a layer's, the loss's): say so
    before parsing millions of numbers, with the same error the full reading gives, from
    the keys and the small members alone."""
    import json
    import stat

    try:
        info = os.stat(problem)
    except (OSError, ValueError):
        return  # the full reading says why
    from cnngrad.tensorio import MAX_FILE_BYTES, top_level_spans

    if not stat.S_ISREG(info.st_mode) or not KEYS_FIRST_BYTES <= info.st_size <= MAX_FILE_BYTES:
        return  # past the largest file read, the full reading refuses it unread
    from cnngrad.errors import ProblemError

    try:
        with open(problem, "rb") as handle:
            raw = handle.read()
        spans = top_level_spans(raw)
    except (OSError, MemoryError, ValueError):
        return
    keys = [key for key, _, _ in spans or ()]
    if not keys or len(set(keys)) != len(keys):
        return
    small = {}
    for key, start, end in spans:
        if key in ("layers", "loss") and end - start < 2**20:
            try:
                small[key] = json.loads(raw[start:end].decode("utf-8").strip().rstrip(","))
            except ValueError:
                pass
    try:
        import cnngrad.problem as problem_module

        builder = problem_module._Builder(problem, Path("."), False, max_elements)
        # each member an empty value of its JSON type, which is all that tells a file kind
        # (cnngrad.file_kinds) in the unknown key's hint
        stand_in = {key: _EMPTY_OF_TYPE.get(raw[start:end].lstrip()[:1])
                    for key, start, end in spans}
        try:  # the key check comes first in the builder: nothing else of this is read
            builder.build(stand_in)
        except ProblemError as exc:
            if exc.what.startswith("unknown key"):
                raise
        from cnngrad.families import LAYERS, LOSSES

        raw_layers = small.get("layers") or ()
        for index, layer in enumerate(raw_layers):
            if isinstance(layer, dict) and layer.get("type") in LAYERS:
                following = raw_layers[index + 1] if index + 1 < len(raw_layers) else None
                problem_module.check_layer_keys(builder, layer, f"layers[{index}]",
                                                layer["type"], following)
        loss = small.get("loss")
        if isinstance(loss, dict) and loss.get("type") in LOSSES:
            problem_module.check_loss_keys(builder, loss, loss["type"])
    except ProblemError as exc:
        if exc.what.startswith("unknown key"):
            raise
    except Exception:  # anything else: the full reading decides
        return


def parse_lr(lr: Optional[str], exact: bool):
    if lr is None:
        return None
    from cnngrad.tensorio import parse_number

    value = parse_number(lr, "--lr", file=None, exact=exact)
    if value < 0:
        raise UsageError(f"a learning rate is ≥ 0, got {lr}", where="--lr",
                         hint="the step p − η·dE/dp already goes against the gradient")
    return value


def compute(problem: Optional[str], *, exact: bool, max_elements: int, dtype: str,
            lr: Optional[str], quick: dict, output_format: Optional[str] = None,
            full: bool = False, show_steps: bool = False, include_backward: bool = True,
            stop_before: Optional[Callable[[Any], Optional[str]]] = None,
            one_based: bool = False, grading_read: bool = False):
    """Read, check and run a problem: (spec, trace).  ``stop_before(spec)`` may name the layer
    the backward pass stops before (``explain``: see ``network.run``); without
    ``include_backward`` (``forward``: outputs and the loss) no layer's backward step runs;
    ``one_based``: the cells of a kink warning counted from 1, as the report counts them;
    ``grading_read``: the caller reads the grading block (check), so its faults are not
    said as warnings."""
    from cnngrad.network import run

    import numpy as np

    from cnngrad.cli.progress import DelayedProgress

    # the options first: a usage error before the problem is read (an --exact read is slow)
    dtype = choose(dtype, ("float64", "float32"), "--dtype")  # in any case: Float64 is float64
    float_dtype = None if dtype == "float64" else np.float32  # None: the engine's float64
    if float_dtype is not None and exact:
        raise UsageError("--exact and --dtype float32 do not go together", where="--dtype",
                         hint="--exact computes in fractions, not in a float dtype: give one "
                              "of them")
    # a problem that takes more than a second shows a progress bar (a terminal's stderr only):
    # reading it, then each layer forward, the loss, each layer backward
    with DelayedProgress(enabled=False if typed_in(problem) else None) as step:
        step("reading the problem")
        if exact and problem != "-":
            # Fractions cost ~10⁴× a float: check the work on a float reading first, so a
            # problem too big for --exact is refused before its numbers become Fractions (a
            # file, or the one-conv options' tensors; standard input is read only once)
            from cnngrad.limits import check_problem_work

            check_problem_work(load(problem, exact=False, max_elements=max_elements,
                                    quick=quick), exact=True)
        spec = load(problem, exact=exact, max_elements=max_elements, quick=quick,
                    grading_read=grading_read)
        # the work budgets, checked before the work (docs/limits.md)
        from cnngrad.limits import check_output_work, check_problem_work, check_steps_work

        check_problem_work(spec, exact=exact)
        if output_format is not None:
            check_output_work(spec, output_format, full=full, include_backward=include_backward,
                              updated=lr is not None)
        if show_steps:
            check_steps_work(spec)
        from cnngrad.problem import check_dtype_range

        check_dtype_range(spec, float_dtype)
        rate = parse_lr(lr, exact)  # a bad --lr is one error line, before any note
        note_loss_input(spec)
        if lr is not None and not any(layer.params for layer in spec.layers):
            note_later("note: --lr: the problem has no parameters to update (no layer has a "
                       "kernel, weights or bias): the SGD step shows nothing")
        names = [layer.name for layer in spec.layers]
        stop = (names[-1] if not include_backward
                else None if stop_before is None else stop_before(spec))
        # a backward pass that stops early steps only through the layers after its stop
        # (forward's, before the last layer, through none): the bar ends full
        backward_steps = len(names) if stop is None else len(names) - 1 - names.index(stop)
        step.total = len(names) + 2 + backward_steps
        # an overflow is reported once, as an error naming the tensor, not as numpy warnings
        with np.errstate(all="ignore"):
            try:
                trace = run(spec, lr=rate, dtype=float_dtype, progress=step,
                            stop_before=stop)
            except DomainError as error:  # the cell it names, counted as the report counts
                if one_based:
                    error.count_from(1)
                raise
    tensors = None  # every tensor of the trace
    if not include_backward:  # forward's: the loss and outputs, not the last delta_out
        shown = {"loss"} | {f"{layer.name}.output" for layer in trace.layers}
        tensors = [(path, value) for path, value in trace.tensors() if path in shown]
    check_finite(trace, dtype, tensors=tensors)
    if exact:
        from cnngrad.limits import check_exact_digits

        check_exact_digits(trace, tensors=tensors)
    for warning in trace.warnings:  # a kink the floats decided, within their rounding noise
        note_later(f"warning: {one_line(warning.text(one_based))}")
    if problem is not None and not grading_read:
        warn_points_paths(spec, trace)
    return spec, trace


def check_finite(trace, dtype: str = "float64", tensors=None) -> None:
    """Numbers too large for the float dtype overflow to inf (and inf − inf to NaN), which no
    report can show as a number: name the first result that did, in the order they were
    computed (the outputs in forward order, the loss, then the deltas and gradients from the
    last layer back), where the overflow starts.  ``tensors`` ((path, value) pairs, default
    every tensor of the trace) are those checked."""
    import math

    import numpy as np

    from cnngrad.errors import ProblemError

    def finite(value) -> bool:
        if isinstance(value, np.ndarray):
            return value.dtype.kind != "f" or bool(np.isfinite(value).all())
        return not isinstance(value, float) or math.isfinite(value)

    if tensors is None:
        tensors = trace.tensors()
    bad = [(path, value) for path, value in tensors if not finite(value)]
    if not bad:
        return
    index = {layer.name: k for k, layer in enumerate(trace.layers)}

    def computed(item) -> tuple[int, int]:
        name, _, rest = item[0].partition(".")
        if item[0] == "loss":
            return 1, 0
        return (0, index[name]) if rest == "output" else (2, -index[name])
    path, value = min(bad, key=computed)
    overflow = bool(np.isinf(value).any())
    what = "overflows to infinity" if overflow else "is NaN (an overflow such as inf − inf)"
    hint = ("float32 overflows beyond about 3.4e38: use --dtype float64" if dtype == "float32"
            else "float64 overflows beyond about 1.8e308: scale the numbers down, or use "
                 "--exact (fractions never overflow)")
    raise ProblemError(f"the result {what}", where=path, file=trace.problem.file, hint=hint)




def emit_trace(spec, trace, *, fmt: str, output: Optional[Path], decimals: int,
               save_svg: Optional[Path], include_backward: bool, report, title: str,
               base: int = 0) -> None:
    """Write a trace in the chosen format (and the ``--save-svg`` picture): the one output
    path of ``backward`` and ``forward``.  ``report`` builds the Rich report for the table
    format and the picture, only when one of them is asked for."""
    from cnngrad.cli.progress import DelayedProgress
    from cnngrad.render import TEXT_FORMATS, iter_text

    picture, picture_target = None, save_svg
    if save_svg == "-":  # as -o -: the picture on standard output, the report in -o's file
        if output is None:
            raise UsageError("- is standard output, where the report goes too",
                             where="--save-svg",
                             hint="give -o FILE for the report, or --save-svg FILE")
        picture_target = None
    if save_svg is not None:
        with DelayedProgress() as step:  # a big report takes a while to lay out
            step("drawing the picture")
            picture = render_svg(report(), title=title)
    with DelayedProgress() as step:  # the bar is gone before the report is written
        step("writing the report")
        if fmt == "json":
            from cnngrad.render.json_result import iter_json

            text = iter_json(trace, include_backward=include_backward)
        elif fmt == "npz":
            from cnngrad.render.npz_result import render_npz

            text = render_npz(trace, include_backward=include_backward)
        elif fmt in TEXT_FORMATS:
            text = iter_text(fmt, trace, decimals, include_backward=include_backward,
                             base=base)
        elif fmt == "table":
            text = render_rich(report(), to_file=output is not None)
        else:
            raise UsageError(f"unknown format {fmt!r}", where="--format")
    # all or nothing: a picture is saved only when the result is written too
    outputs = [(text, output, spec.input_files, "--output")]
    if save_svg is not None:
        outputs.append((picture, picture_target, spec.input_files, "--save-svg"))
    if output is not None and not isinstance(text, (str, bytes)):
        with DelayedProgress() as step:  # a streamed result is formatted as it is written
            step("writing the report")
            write_outputs(*outputs)
        return
    write_outputs(*outputs)
