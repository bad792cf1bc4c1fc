"""Reading the problem document and every TENSOR form it may hold.

A TENSOR (see the contract, ``problem-format.md``) is one of

- a JSON number, or nested JSON lists of numbers, rank 0 to 4, rectangular;
  elements may also be strings holding a decimal or a fraction (``"0.51"``,
  ``"-1/3"``, ``"2e-3"``);
- ``{"csv": "o.csv"}``: a 2-D matrix from a CSV file, or ``{"csv": ["c0.csv",
  "c1.csv"]}``: 2-D matrices stacked along a new first axis;
- ``{"npy": "x.npy"}``: a NumPy ``.npy`` array file (never unpickled).

Every value is read either as float64 or, in exact mode, as :class:`fractions.Fraction`
(``0.51`` is ``51/100`` exactly: JSON numbers are read as :class:`decimal.Decimal`).
Whatever a user got wrong is reported as a :class:`~cnngrad.errors.ProblemError`
naming the file, *where* (a JSON path such as ``input[2][3]``, a CSV ``row 3, column 2``
or a ``line L, column C`` of the document) and *what*; nothing else escapes.

The numeric domain is the same in both modes: finite numbers that float64 can hold.
A number beyond float64's range (``1e999``) or so small that float64 would round it to
zero (``1e-999``) is an error in both modes, so a problem that runs in one mode runs
in the other (and exact mode never builds a fraction with a billion-digit denominator).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import math
import os
import pathlib
import re
import stat
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from itertools import chain

import numpy as np

from cnngrad.errors import TOP_LEVEL, ProblemError, did_you_mean, join_path, with_article

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "TENSOR_FILE_KINDS",
    "cell_place",
    "csv_cells",
    "csv_grid",
    "decimals_needed",
    "load_json_document",
    "parse_number",
    "parse_tensor",
    "read_source",
    "top_level_keys",
    "top_level_spans",
]

#: Deepest nesting of lists/objects a problem document may have.
MAX_DEPTH = 64
#: Largest file (problem, CSV or NPY) cnngrad reads; also bounds reads of pipes and devices.
MAX_FILE_BYTES = 256 * 2**20
#: The keys of a tensor file reference, ``{"csv": ...}`` or ``{"npy": ...}``.
TENSOR_FILE_KINDS = ("csv", "npy")
#: CSV separators, in the order the sniffer prefers them (``;`` first: files written
#: with a decimal comma use it, and then a ``,`` inside a cell is not a separator).
CSV_DELIMITERS = (";", "\t", ",")

STDIN_NAME = "<stdin>"
_FLOAT64_MAX_EXPONENT = 308   # 1.8e308 is the largest float64
_FLOAT64_MIN_EXPONENT = -324  # 4.9e-324 is the smallest positive (subnormal) float64
_SCAN_CHUNK = 1 << 20         # bytes per step of the bracket-depth scan
_MAX_WALK_DEPTH = 1000        # guards the descent into nested Python lists handed in directly

# A decimal as people write it: 3, -0.51, .5, 2., 2e-3, +1E+4 (no NaN, inf, underscores).
# ASCII digits only (re.ASCII): "١٢" and "１２" are not numbers here, as in JSON.  The
# fraction part hangs on its point (\d+(?:\.\d*)?, not \d+\.?\d*): a long run of digits
# that ends in something else then fails in one pass, not in time quadratic in its length.
DECIMAL_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# A fraction of two integers: -1/3, 2 / 4, 1/-3.
_FRACTION_RE = re.compile(r"([+-]?\d+)\s*/\s*([+-]?\d+)", re.ASCII)
#: A number as JSON writes it bare (no "+", no ".5", no "5.").
_JSON_NUMBER_RE = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_NOT_PLAIN_DECIMAL_CHAR = re.compile(r"[^0-9eE+\-.\s]")
_NON_FINITE_WORDS = frozenset({"nan", "snan", "inf", "infinity"})
# A JSON string (escapes included), for skipping strings while scanning the raw text.
_STRING_PATTERN = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_STRING_BYTES_RE = re.compile(_STRING_PATTERN.encode(), re.DOTALL)
_BRACKET_TOKEN_RE = re.compile(_STRING_PATTERN + r"|[\[\]{}]", re.DOTALL)
_CONSTANT_TOKEN_RE = re.compile(_STRING_PATTERN + r"|-?Infinity|NaN", re.DOTALL)

_OPEN_BYTES = (ord("["), ord("{"))
_CLOSE_BYTES = (ord("]"), ord("}"))


# --------------------------------------------------------------------------- files

def _read_bytes(path: pathlib.Path, name: str | None, *, file: str | None,
                where: str | None) -> bytes:
    """The bytes of a file, or a ProblemError saying why not.

    ``name`` is how the file is named in the message: None when the error's ``file``
    already is this file (the problem file itself), else the name as the user wrote it.
    """
    try:
        if stat.S_ISDIR(path.stat().st_mode):
            raise IsADirectoryError(path)
        # Pipes and devices are fine (``<(cat p.json)``) but must not be read forever, nor
        # block in open() (a FIFO with no writer): opened non-blocking, then read blocking
        import os

        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            info = os.fstat(descriptor)
            regular = stat.S_ISREG(info.st_mode)
            if not regular:
                os.set_blocking(descriptor, True)
        except OSError:
            os.close(descriptor)
            raise
        with open(descriptor, "rb") as handle:
            if regular and info.st_size > MAX_FILE_BYTES:
                data = None  # too large by its size: said before a byte of it is read
            else:
                # read(n) sets aside n bytes first: a file's own size (and one byte more, to
                # see it grow) rather than the largest file allowed, 256 MiB for every read
                size = min(info.st_size, MAX_FILE_BYTES) if regular else MAX_FILE_BYTES
                data = handle.read(size + 1)
                if len(data) > size and size < MAX_FILE_BYTES:  # it grew since: read on
                    data += handle.read(MAX_FILE_BYTES - len(data) + 1)
    except (OSError, ValueError, MemoryError) as exc:
        what, hint = _unreadable(exc, name, path)
        raise ProblemError(what, where=where, file=file, hint=hint) from None
    if data is None or len(data) > MAX_FILE_BYTES:
        subject = "" if name is None else f"'{name}' "
        raise ProblemError(f"{subject}is larger than {MAX_FILE_BYTES // 2**20} MB", where=where,
                           file=file)
    if not data and not _is_regular(path):
        subject = "it" if name is None else f"'{name}'"
        raise ProblemError(f"{subject} is a pipe or device that gave nothing to read "
                           "(a named pipe with no writer?)", where=where, file=file)
    return data


def names_a_file(name: str | os.PathLike, *, or_folder: bool = False) -> bool:
    """Whether ``name`` is an existing regular file (or, ``or_folder``, anything there: a
    folder is then named as one by the reader); False, not an error, for a text no file can
    be named (longer than the system allows, a NUL in it): a command-line value that may be
    a file name or something else (inline JSON, a recipe's name) is tried as a file first."""
    return _names(name, pathlib.Path.exists if or_folder else pathlib.Path.is_file)


def names_a_folder(name: str | os.PathLike) -> bool:
    """Whether ``name`` is an existing folder; False, as :func:`names_a_file`, for a text no
    folder can be named."""
    return _names(name, pathlib.Path.is_dir)


def _names(name: str | os.PathLike, test: Callable[[pathlib.Path], bool]) -> bool:
    try:
        return test(pathlib.Path(name))
    except (OSError, ValueError):  # longer than the system allows, a NUL in it
        return False


def _is_regular(path: pathlib.Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True


def folder_entries(folder: pathlib.Path):
    """(entry, depth) of a folder's entries and of its folders' (depth 1), in name order,
    hidden ones (``.DS_Store``) left out: what ``check`` grades of a folder given.  A folder
    in it that cannot be listed is an entry itself, at depth 0 (its reading says why).

    Raises
    ------
    OSError
        ``folder`` itself cannot be listed."""
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            try:
                inner_entries = sorted(entry.iterdir(), key=lambda e: e.name)
            except OSError:
                yield entry, 0
                continue
            for inner in inner_entries:
                if not inner.name.startswith("."):
                    yield inner, 1
        else:  # a file, or a link that leads nowhere: its reading says so
            yield entry, 0


def _holds_a_file(folder: pathlib.Path) -> bool | None:
    """Whether ``folder`` holds a file that is not hidden, in it or in a folder in it (what
    ``check`` grades of a folder: :func:`folder_entries`; a folder in it that cannot be
    listed may hold one); None when it cannot be listed."""
    try:
        return any(entry.is_file() or (depth == 0 and entry.is_dir())
                   for entry, depth in folder_entries(folder))
    except OSError:
        return None


def _unreadable(exc: BaseException, name: str | None,
                path: pathlib.Path) -> tuple[str, str | None]:
    """(what, hint) for a file that cannot be read."""
    subject = "" if name is None else f"'{name}' "
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        if name is None:
            return "no such file", None
        return f"no such file '{name}'", _backslash_hint(name, path) or f"looked for {path}"
    if isinstance(exc, IsADirectoryError):
        holds = _holds_a_file(path) if name is None else True
        if holds is None:
            return "is a folder that cannot be read: permission denied", None
        if not holds:
            return "is a folder with no file in it", None
        # a document given as its folder (check problem.json answers/): the shell's glob
        hint = (f"name a file in it, {str(path).rstrip('/' + os.sep)}/<file>, not the folder"
                if name is None else None)
        return f"{subject}is a folder, not a file", hint
    if isinstance(exc, PermissionError):
        return f"{subject}cannot be read: permission denied", None
    if isinstance(exc, ValueError):  # an embedded NUL character
        return f"{subject}is not a valid file name", None
    if isinstance(exc, MemoryError):
        return f"{subject}is too large to read", None
    return f"{subject}cannot be read: {_os_reason(exc)}", None


#: The characters a JSON escape of a Windows path's backslash makes (``"data\\new.csv"``
#: holds a line break): each with the letter after its backslash, and what it is.
_PATH_ESCAPES = {"\n": ("n", "a line break"), "\t": ("t", "a tab"),
                 "\r": ("r", "a carriage return"), "\b": ("b", "a backspace"),
                 "\f": ("f", "a form feed")}


def _backslash_hint(name: str, path: pathlib.Path) -> str | None:
    """For a file name written with Windows' backslashes (``data\\x.csv``), where a backslash
    is no separator but part of a name, or, single in JSON, began an escape (``data\\new.csv``
    holds a line break): write it with '/', naming the file that exists."""
    escaped = next((char for char in name if char in _PATH_ESCAPES), None)
    if os.sep == "\\" or ("\\" not in name and escaped is None):
        return None
    written = "".join("\\" + _PATH_ESCAPES[char][0] if char in _PATH_ESCAPES else char
                      for char in name)
    slashed = written.replace("\\", "/")
    why = ("a backslash is part of a file's name here" if escaped is None else
           f"JSON reads \\{_PATH_ESCAPES[escaped][0]} as {_PATH_ESCAPES[escaped][1]}: a "
           f"backslash starts an escape")
    where = str(path)
    if where.endswith(name):
        folder = where[:len(where) - len(name)]
        try:
            there = pathlib.Path(folder + slashed).is_file()
        except (OSError, ValueError):
            there = False
        if there:
            return f"write the folders with '/': '{slashed}' exists ({why})"
        if re.match(r"[A-Za-z]:\\", written):  # C:\Users\...: a drive this system has not
            return (f"'{written[:2]}' is a Windows drive: name the file with '/' between its "
                    f"folders, relative to {folder.rstrip('/') or '/'}")
    return f"write the folders with '/' ({why}); looked for {path}"


def _os_reason(exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return reason[:1].lower() + reason[1:]


#: Standard input as a path (Linux and macOS): the file a ``< file`` redirection opened.
STDIN_PATH = pathlib.Path("/dev/stdin")


def redirected_stdin() -> pathlib.Path | None:
    """:data:`STDIN_PATH` when standard input is a regular file (``< problem.json``), so that
    ``-o`` never writes over the file read as ``-``; else None (a pipe, a terminal, or no
    such path on this system)."""
    try:
        regular = stat.S_ISREG(os.fstat(0).st_mode)
    except (OSError, ValueError):
        return None
    return STDIN_PATH if regular and STDIN_PATH.exists() else None


#: What each pipe or terminal given by name (``/dev/fd/63``, ``/dev/stdin``) held, read
#: once in a command's run (:func:`forget_pipes_read` at the start of each): a second
#: reading (check -o searching a failed answers file for the files it names) gets the same
#: bytes, where the pipe itself would give none (a terminal would wait); by device and
#: inode, at most :data:`MAX_FILE_BYTES` in all.
_PIPES_READ: dict[tuple[int, int], bytes] = {}


def forget_pipes_read() -> None:
    """Forget the pipes and terminals read so far: a command run reads its own (a named
    FIFO or a terminal keeps its inode from one run of a long-lived process to the next)."""
    _PIPES_READ.clear()
    _PIPE_BYTES.clear()


def read_source(path: str, stdin_bytes: bytes | None = None) -> tuple[bytes, str, pathlib.Path]:
    """Read the problem document from a file or, for ``"-"``, from standard input.

    Parameters
    ----------
    path : str
        The path as the user typed it, or ``"-"`` for standard input.
    stdin_bytes : bytes, optional
        What standard input holds (for tests and embedding); when None and ``path`` is
        ``"-"``, ``sys.stdin.buffer`` is read.

    Returns
    -------
    raw : bytes
        The document's bytes, undecoded.
    display_name : str
        How error messages name the document: ``path`` as typed, or ``"<stdin>"``.
    base_dir : pathlib.Path
        The folder relative tensor file names are resolved against: the problem file's
        folder (absolute), or the current directory for standard input and a pipe given by
        name (``/dev/fd/63``, a shell's ``<(...)``).

    Raises
    ------
    ProblemError
        With ``file`` set: no such file, a folder, unreadable, larger than
        :data:`MAX_FILE_BYTES`.
    """
    if path == "-":
        if stdin_bytes is None:
            if sys.stdin is None:  # `cnngrad backward - <&-`
                raise ProblemError("cannot read standard input: it is closed", file=STDIN_NAME)
            try:
                raw = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
            except (AttributeError, OSError, ValueError) as exc:
                raise ProblemError(f"cannot read standard input: {_os_reason(exc)}",
                                   file=STDIN_NAME) from None
        else:
            raw = bytes(stdin_bytes)
        if len(raw) > MAX_FILE_BYTES:
            raise ProblemError(f"is larger than {MAX_FILE_BYTES // 2**20} MB", file=STDIN_NAME)
        try:
            base_dir = pathlib.Path.cwd()
        except OSError as exc:  # the current directory was deleted
            raise ProblemError(f"cannot resolve the current directory: {_os_reason(exc)}",
                               file=STDIN_NAME) from None
        return raw, STDIN_NAME, base_dir
    if not path:
        raise ProblemError("no file name given", file="''")
    source = pathlib.Path(path)
    piped = _piped(path)
    pipe = None
    if piped:  # a pipe (or a terminal) by what it is, not its name (/dev/stdin is /dev/fd/0;
        try:   # the number of a closed one is used again); a file behind it is read anew
            info = os.stat(path)
            pipe = (info.st_dev, info.st_ino) if not stat.S_ISREG(info.st_mode) else None
        except (OSError, ValueError):
            pass
    raw = _PIPES_READ.get(pipe) if pipe else None
    if raw is None:
        raw = _read_bytes(source, None, file=path, where=None)
        if pipe:  # read once: what -o must not write over is searched in it again
            _PIPES_READ[pipe] = raw
            while sum(map(len, _PIPES_READ.values())) > MAX_FILE_BYTES:  # the last ones
                del _PIPES_READ[next(iter(_PIPES_READ))]
    try:
        # a pipe given by name, <(cat problem.json): /dev/fd holds no tensor files; its
        # names are read from the current folder, as standard input's are
        base_dir = pathlib.Path.cwd() if piped else source.absolute().parent
    except OSError as exc:
        raise ProblemError(f"cannot resolve the folder: {_os_reason(exc)}", file=path) from None
    return raw, path, base_dir


def unread_terminal(path: str) -> bool:
    """Whether ``path`` (``/dev/stdin``, ``/dev/tty``, ``/dev/pts/3``) is a terminal this
    process has not read: reading it would wait for what is typed there."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return False
    if not stat.S_ISCHR(info.st_mode) or (info.st_dev, info.st_ino) in _PIPES_READ:
        return False
    try:  # open without waiting and without becoming its controlling terminal
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return False
    try:
        return os.isatty(descriptor)
    finally:
        os.close(descriptor)


def _line_of(text: str | bytes, index: int) -> tuple[int, int]:
    """(its line, counted from 1; where that line starts) of position ``index`` in ``text``.
    A line ends at \\n, \\r\\n or a lone \\r, as an editor shows it (json counts \\n only,
    which puts all of a file saved with old Mac line ends on line 1)."""
    cr, lf = ("\r", "\n") if isinstance(text, str) else (b"\r", b"\n")
    line = (text.count(lf, 0, index) + text.count(cr, 0, index)
            - text.count(cr + lf, 0, index) + 1)
    return line, max(text.rfind(lf, 0, index), text.rfind(cr, 0, index)) + 1


def _text_position(raw: bytes, index: int, skip: int = 0) -> str:
    """``line L, column C`` (1-based, columns in characters) of byte ``index``."""
    line, line_start = _line_of(raw, index)
    if line_start == 0:
        line_start = skip
    column = len(raw[line_start:index].decode("utf-8", "replace")) + 1
    return f"line {line}, column {column}"


def _csv_position(raw: bytes, index: int, skip: int = 0) -> str:
    """``row R, column C`` of byte ``index`` of a CSV file, as its other errors say where: its
    line, and the cell the byte is in (by the separator of the text around it)."""
    row, line_start = _line_of(raw, index)
    line_start = line_start or skip
    before = raw[line_start:index].decode("utf-8", "replace")
    delimiter = _sniff_delimiter(raw.decode("utf-8", "replace"))
    cells = next(iter(_split_rows(before + "x", delimiter)), [])  # x: the byte's own cell
    return f"row {row}, column {max(1, len(cells))}"


def _char_position(text: str, index: int) -> str:
    """``line L, column C`` of character ``index``, its lines as :func:`_line_of` counts
    them (on \\n and \\r\\n line ends what :mod:`json` says)."""
    line, line_start = _line_of(text, index)
    return f"line {line}, column {index - line_start + 1}"


def _utf16_without_mark(raw: bytes) -> bool:
    """Whether a file's start reads as ASCII in UTF-16 (either byte order) with no byte order
    mark: every other byte 0, the others printable (``{\0"\0`` is ``{"``)."""
    head = raw[:64]
    head = head[:len(head) // 2 * 2]
    first, second = head[0::2], head[1::2]
    for text, zeros in ((first, second), (second, first)):
        if text and not zeros.strip(b"\0") and all(32 <= c < 127 or c in b"\t\n\r"
                                                    for c in text):
            return True
    return False


def decode_text(raw: bytes, *, file: str,
                locate: Callable[[bytes, int, int], str] | None = None) -> str:
    """UTF-8 text (a BOM tolerated), or a ProblemError for anything binary, placed at the
    offending byte by ``locate(raw, index, bom length)`` (``line L, column C`` by default)."""
    locate = locate or _text_position
    start = locate(raw[:0], 0, 0)  # the file as a whole: its first character
    # UTF-32's little-endian mark begins with UTF-16's: it is looked for first
    for bom, encoding in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                          (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if raw.startswith(bom):
            raise ProblemError(f"not UTF-8 text (it is {encoding}; save it as UTF-8)",
                               where=start, file=file)
    # NumPy's own files, where text was expected: a {"csv": ...} or --input naming one
    if raw.startswith(b"\x93NUMPY"):
        raise ProblemError("is a NumPy .npy file, not text", where=start, file=file,
                           hint='a problem file names it as {"npy": FILE}')
    if raw.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise ProblemError("is a zip archive (a NumPy .npz, a spreadsheet workbook?), not text",
                           where=start, file=file,
                           hint='save a spreadsheet as CSV; give an array saved by numpy.save '
                                'as {"npy": FILE}')
    skip = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    nul = raw.find(b"\0")
    if nul >= 0:
        if _utf16_without_mark(raw):
            raise ProblemError("not UTF-8 text (it looks like UTF-16 without a byte order "
                               "mark; save it as UTF-8)", where=start, file=file)
        # a NUL is UTF-8, but no text file holds one
        raise ProblemError("not text: a NUL byte (binary file?)", where=locate(raw, nul, skip),
                           file=file)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start + skip]
        latin_1 = byte in _WINDOWS_1252_TEXT and _reads_as_text(raw[skip:])  # the BOM aside
        what = (f"byte 0x{byte:02X} is {bytes([byte]).decode('cp1252')!r} in Latin-1 or "
                f"Windows-1252: save the file as UTF-8" if latin_1 else "binary file?")
        # utf-8-sig counts from after the BOM: the byte's place in the file is skip further
        raise ProblemError(f"not UTF-8 text ({what})",
                           where=locate(raw, exc.start + skip, skip), file=file) from None


def _reads_as_text(raw: bytes) -> bool:
    """Whether bytes that are not UTF-8 look like text in a one-byte encoding: no control
    characters but tabs and line ends, and bytes past ASCII one or two at a time, a few in
    all (a title's 'é', a word's 'öß'; not a PDF's or a picture's binary data)."""
    if re.search(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]|[\x80-\xff]{3}", raw):
        return False
    return sum(byte >= 0x80 for byte in raw) <= max(4, len(raw) // 20)


#: Bytes that a file saved as Latin-1 or Windows-1252 (an editor's or Excel's default on
#: Windows) holds for text: accented letters, typographic quotes and dashes, µ, °, ².
_WINDOWS_1252_TEXT = frozenset(
    [*range(0xC0, 0xFF)] + [0x91, 0x92, 0x93, 0x94, 0x96, 0x97, 0xB0, 0xB2, 0xB3, 0xB5]
) - {0xD7, 0xF7}  # × and ÷: as likely a stray byte as an operator


# --------------------------------------------------------------------------- JSON document

class _NonFiniteConstant(Exception):
    """NaN, Infinity or -Infinity met by the JSON parser."""


class _DuplicateKey(Exception):
    """An object with a key twice (found bottom-up, without a path; located later)."""


class _BadNumberToken(Exception):
    """A JSON number Decimal cannot hold (an exponent beyond its limits)."""


def _reject_constant(name: str) -> object:
    raise _NonFiniteConstant(name)


def _unique_object(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey()
    return result


def _json_decimal(token: str) -> Decimal:
    try:
        return Decimal(token)
    except (InvalidOperation, ValueError):
        if _zero_mantissa(token):  # 0e99999999999999999999 is 0, as json and float read it
            return Decimal(0)
        raise _BadNumberToken(token) from None


def _zero_mantissa(token: str) -> bool:
    """Whether a number token's digits before its exponent are all zeros (``-0.00e-5``)."""
    return not token.lower().partition("e")[0].strip("+-0.")


class WrittenDecimal(Decimal):
    """A JSON number that keeps its text as written (``1e-3``; ``str`` gives ``0.001``)."""

    __slots__ = ("text",)


def _json_written_decimal(token: str) -> WrittenDecimal:
    try:
        number = WrittenDecimal(token)
    except (InvalidOperation, ValueError):
        if not _zero_mantissa(token):
            raise _BadNumberToken(token) from None
        number = WrittenDecimal(0)
    number.text = token
    return number


def _json_written_int(token: str) -> int | WrittenDecimal:
    """An integer token as int; ``-0`` as a :class:`WrittenDecimal` keeping its text (an
    int would show it as ``0``)."""
    return _json_written_decimal(token) if token == "-0" else int(token)


class _KeyRecordingDict(dict):
    """A dict that remembers the first key its JSON object repeated."""

    duplicate: str | None = None


def _recording_object(pairs: list[tuple[str, object]]) -> dict:
    result = _KeyRecordingDict()
    for key, value in pairs:
        if key in result and result.duplicate is None:
            result.duplicate = key
        result[key] = value
    return result


def _duplicate_key_path(text: str) -> tuple[str, str] | None:
    """Re-parse ``text`` keeping duplicates on record; the JSON path of the first one."""
    ignore = lambda token: None  # noqa: E731 - values do not matter on this pass
    try:
        document = json.loads(text, parse_float=ignore, parse_int=ignore, parse_constant=ignore,
                              object_pairs_hook=_recording_object)
    except (ValueError, RecursionError):
        return None
    for path, node in _nodes(document):
        if isinstance(node, _KeyRecordingDict) and node.duplicate is not None:
            return join_path(path, node.duplicate), node.duplicate
    return None


def _nodes(document):
    """(JSON path, value) of every value in a parsed document, in document order (without
    recursion: a deeply nested document is walked as any other)."""
    stack: list[tuple[str, object]] = [("", document)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, dict):
            stack.extend((join_path(path, key), value) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            indexed = list(enumerate(node))
            stack.extend((join_path(path, i), value) for i, value in reversed(indexed))


class _Marker:
    """Where an offending token stood, on the pass that locates it."""


def _marker_path(text: str, *, is_bad_float=lambda token: False,
                 is_bad_int=lambda token: False, is_constant=False) -> str | None:
    """Re-parse ``text`` with the offending tokens (NaN/Infinity when ``is_constant``, the
    floats or integers the predicates pick) kept as markers; the JSON path of the first one
    in document order (``None`` when the document itself is one, or it cannot be parsed)."""
    def hook(bad):
        return lambda token: _Marker() if bad(token) else None

    try:
        document = json.loads(text, parse_float=hook(is_bad_float), parse_int=hook(is_bad_int),
                              parse_constant=hook(lambda token: is_constant))
    except (ValueError, RecursionError):
        return None
    return next((path or None for path, node in _nodes(document)
                 if isinstance(node, _Marker)), None)


def _path_and_position(path: str | None, position: str | None, what: str) -> tuple[str | None,
                                                                                  str]:
    """``where`` is the JSON path when there is one, the message then naming the line and
    column; else ``where`` is the line and column."""
    if path and position:
        return path, f"{what}, at {position}"
    return path or position, what


def _first_outside_strings(pattern: re.Pattern, text: str) -> re.Match | None:
    for match in pattern.finditer(text):
        if not match.group().startswith('"'):
            return match
    return None


def _check_depth(data: bytes, text: str, *, file: str) -> None:
    """Reject nesting deeper than :data:`MAX_DEPTH` before :mod:`json` recurses into it.

    Counts ``[``/``{`` minus ``]``/``}`` outside strings with numpy, a chunk at a time,
    so a 50 MB document costs a few tens of milliseconds and little memory.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return
    if b'"' in data:  # brackets inside strings do not nest
        data = _STRING_BYTES_RE.sub(b'""', data)
    codes = np.frombuffer(data, dtype=np.uint8)
    depth = 0
    for start in range(0, codes.size, _SCAN_CHUNK):
        chunk = codes[start:start + _SCAN_CHUNK]
        opens = (chunk == _OPEN_BYTES[0]) | (chunk == _OPEN_BYTES[1])
        closes = (chunk == _CLOSE_BYTES[0]) | (chunk == _CLOSE_BYTES[1])
        steps = opens.astype(np.int8) - closes.astype(np.int8)
        brackets = np.flatnonzero(steps)
        if brackets.size == 0:
            continue
        running = depth + np.cumsum(steps[brackets], dtype=np.int64)
        if running.max() > MAX_DEPTH:
            raise ProblemError(f"nesting deeper than {MAX_DEPTH} levels",
                               where=_deep_position(text), file=file)
        depth = int(running[-1])


def _deep_position(text: str) -> str | None:
    """Where the nesting first goes past :data:`MAX_DEPTH` (the slow, exact scan)."""
    depth = 0
    for match in _BRACKET_TOKEN_RE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return _char_position(text, match.start())
        elif token in ("]", "}"):
            depth -= 1
        else:
            pass  # a string: its brackets do not count
    return None


_JSON_MESSAGES = {
    "Expecting value": "expecting a value",
    "Unterminated string starting at": "unterminated string (it starts here)",
    "Invalid control character at": "a raw control character (tab, line break) inside a string; "
                                    "write it as an escape such as \\t or \\n",
    "Extra data": "extra data after the end of the document",
    # one BOM is skipped on reading: this is a second one (a file converted twice)
    "Unexpected UTF-8 BOM (decode using utf-8-sig)":
        "a second byte order mark (U+FEFF, an invisible character) before the document",
}


#: Characters that look like a minus sign but are not the ASCII one JSON and CSV take.
UNICODE_MINUSES = "\u2212\u2012\u2013\u2014\ufe63\uff0d"


def unicode_minus_hint(char: str) -> str:
    """The hint for a minus sign that is not the ASCII one (a file's, an option's)."""
    import unicodedata

    return (f"'{char}' (U+{ord(char):04X}, {unicodedata.name(char, 'a dash').lower()}) is not "
            f"the ASCII minus: type - instead")


#: Quotes a word processor or a web page writes for ": JSON takes only the straight one.
_TYPOGRAPHIC_QUOTES = "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb\u2018\u2019\u201a\u201b"

#: Spaces and invisible characters that text copied from a web page or a PDF carries, where
#: JSON takes only the space, tab and line break.
_ODD_SPACES = ("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
               "\u200a\u202f\u205f\u3000\u200b\u200c\u200d\u2060\ufeff\u2028\u2029\u0085")


def _look_alike_hint(char: str) -> str:
    """The hint for a typographic quote or an odd space where JSON wanted its own."""
    import unicodedata

    name = unicodedata.name(char, "an invisible character").lower()
    if char in _TYPOGRAPHIC_QUOTES:
        return (f"'{char}' (U+{ord(char):04X}, {name}) is a typographic quote: JSON strings "
                'and keys take straight double quotes (")')
    return (f"U+{ord(char):04X} ({name}) is not a space JSON reads: retype it as a plain "
            "space, or delete it (text copied from a web page or a PDF carries such "
            "characters)")


def _looks_like_csv(text: str, file: str) -> bool:
    first = text.lstrip().split("\n", 1)[0]
    if not first or first[0] in "{[":
        return False
    return file.lower().endswith((".csv", ".tsv")) or bool(
        re.fullmatch(r"[\s\d.,;eE+\-\u2212]+", first))


#: JSON's own whitespace: what the scanner skips after a comma.
_JSON_SPACE_RE = re.compile(r"[ \t\n\r]*")


def portable_json_error(exc: json.JSONDecodeError, text: str) -> json.JSONDecodeError:
    """Python 3.13's scanner names a trailing comma at the comma ("Illegal trailing comma
    before end of array"); earlier ones fail after it, where a value was expected.  The
    earlier form is kept on every Python, so a file gets the same message everywhere."""
    if not exc.msg.startswith("Illegal trailing comma"):
        return exc
    after = _JSON_SPACE_RE.match(text, exc.pos + 1).end()
    expected = ("Expecting property name enclosed in double quotes" if exc.msg.endswith("object")
                else "Expecting value")
    return json.JSONDecodeError(expected, text, after)


#: The numbers either side of a slash: a fraction written bare, as JSON cannot hold one.
_NUMERATOR_RE = re.compile(r"-?[0-9][0-9.eE+-]*[ \t]*\Z")
_DENOMINATOR_RE = re.compile(r"[ \t]*(-?[0-9][0-9.eE+-]*)")


def _bare_fraction(text: str, slash: int) -> str | None:
    """The fraction (``-13/12``) whose slash is at ``slash``, or None."""
    numerator = _NUMERATOR_RE.search(text, max(0, slash - 40), slash)
    denominator = _DENOMINATOR_RE.match(text, slash + 1)
    if numerator is None or denominator is None:
        return None
    return f"{numerator.group().strip()}/{denominator.group(1)}"


#: A word where a JSON value was expected, and what to write instead.
_BARE_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _value_hint(text: str, pos: int) -> str | None:
    """What is wrong with the text where a JSON value was expected: a number JSON does not
    write that way (.5, +1, a lone minus), NaN or infinity, a bare word."""
    at = text[pos:pos + 2]
    if at[:1] == "." and at[1:2].isdigit():
        return f"JSON numbers start with a digit: write 0{_number_at(text, pos)}"
    if at[:1] == "+":
        return f"JSON numbers have no plus sign: write {_number_at(text, pos + 1) or 'the number'}"
    if at[:1] == "-" and not at[1:2].isdigit():
        return "a minus sign must be followed by the number's digits"
    word = _BARE_WORD_RE.match(text, pos)
    if word is None:
        return None
    if word.group().lower() in ("nan", "inf", "infinity"):
        return "NaN and infinity are not allowed: every element must be a finite number"
    lower = word.group().lower()
    if lower in ("true", "false", "null", "none"):
        meant = "null" if lower == "none" else lower
        return (f"JSON writes true, false and null in lower case ({meant}, not "
                f"{word.group()})")
    return ("a value is a number (0.5), a string in double quotes (\"1/3\"), a list, an "
            "object, true, false or null")


def _number_tail_hint(text: str, pos: int) -> str | None:
    """Where the scanner wanted a comma right after a number: what of the number JSON does
    not write that way (``1.``, ``01``, ``1e``, ``0x1f``), or two values with only a space
    between them (``[1 2]``); None for anything else."""
    end = len(text[:pos].rstrip(" \t"))
    gap = pos - end
    start = end
    while start > 0 and text[start - 1] in "0123456789.eE+-":
        start -= 1
    number, next_char = text[start:end], text[pos:pos + 1]
    if not number[-1:].isdigit():
        return None
    if gap:
        if next_char and (next_char in "-\"[{" or next_char.isdigit()):
            return f"a ',' missing between {_shorten(number)} and the value after it?"
        return None
    rest = _number_at(text, pos)  # the run of number characters the scanner left
    point, exponent = "." in number, "e" in number.lower()
    if next_char == "." and not point and not exponent:
        if not rest[1:]:
            return f"JSON numbers need digits after the point: write {number}.0 or {number}"
        if rest[1:2] in ("e", "E"):  # 1.e3
            return f"JSON numbers need digits after the point: write {number}.0{rest[1:]}"
        return None
    if next_char in ("e", "E") and not exponent and not rest[1:].lstrip("+-"):
        return f"an exponent needs its digits: write {number}e3 (or {number} alone)"
    if number.lstrip("-") == "0" and next_char in ("x", "X", "b", "B", "o", "O"):
        return "JSON numbers are decimal: write the value in decimal digits"
    if number.lstrip("-") == "0" and next_char.isdigit():
        # 007 → 7, 00.5 → 0.5: the zeros before the first digit that stays
        fixed = re.sub(r"^0+(?=\d)", "", rest)
        return f"JSON numbers have no leading zeros: write {number[:-1]}{fixed}"
    return None


#: A JSON string, to tell whether the scanner stopped inside one.
_JSON_STRING_RE = re.compile(_STRING_PATTERN, re.DOTALL)


def _decimal_comma_at(text: str, pos: int) -> str | None:
    """``0,0683`` when the scanner stopped inside such a number, outside strings
    (``0,0683`` is ``0`` and ``0683``, whose leading zero is the error; ``{"a": -0,0295}``
    wants a key after the comma), else None.  The number is the digits around ``pos`` and
    the whole number before the comma just before them; not the end of an exponent
    (``1e5,05``) or of a decimal (``0.5,05``), and stopped right after it (``[0,1}``), a
    bracket is what is wrong."""
    end = pos
    while end < len(text) and text[end].isdigit():
        end += 1
    comma = pos - 1
    while comma >= 0 and text[comma].isdigit():
        comma -= 1
    if end == pos or comma < 1 or text[comma] != ",":
        return None
    start = comma
    while start > 0 and text[start - 1].isdigit():
        start -= 1
    whole = text[start:comma]
    if not whole or (len(whole) > 1 and whole[0] == "0"):
        return None  # 05,3: no JSON number, whatever the comma
    before = text[start - 1:start]
    if before == "-":
        start -= 1
        before = text[start - 1:start]
    if before and (before.isalnum() or before in "._+-"):
        return None
    for string in _JSON_STRING_RE.finditer(text):
        if string.start() >= pos:
            break
        if pos < string.end():
            return None  # "lab 3,05 x" inside a string the scanner stopped in
    return text[start:end]


def _decimal_comma_hint(number: str) -> str:
    return (f"{number}: a decimal comma? JSON numbers take a decimal point: "
            f"{number.replace(',', '.')}")


def _number_at(text: str, pos: int) -> str:
    """The run of number characters from ``pos`` (``.5``, ``1e-3``), at most 40."""
    end = pos
    while end < min(len(text), pos + 40) and text[end] in "0123456789.eE+-":
        end += 1
    return text[pos:end]


def _syntax_error(exc: json.JSONDecodeError, text: str, file: str) -> ProblemError:
    exc = portable_json_error(exc, text)
    what = _JSON_MESSAGES.get(exc.msg, exc.msg[:1].lower() + exc.msg[1:])
    hint = None
    before = text[:exc.pos].rstrip()
    at = text[exc.pos:exc.pos + 2]
    if text.startswith("\ufeff"):
        hint = "remove it: save the file as UTF-8 (one byte order mark at most)"
    elif _looks_like_csv(text, file):
        hint = ("this is a CSV table, not a problem file (JSON): for one conv give "
                "--input, --kernel and --delta as CSV files, or name the CSV in a problem, "
                "e.g. \"input\": {\"csv\": \"image.csv\"}")
    elif at[:1] == "#" and exc.pos == 0 and file.lower().endswith((".md", ".markdown")):
        hint = ("this is a Markdown file, not a problem file (JSON); cnngrad samples lists "
                "problems to start from")
    elif at and at[0] in UNICODE_MINUSES:
        hint = unicode_minus_hint(at[0])
    elif at and (at[0] in _TYPOGRAPHIC_QUOTES or at[0] in _ODD_SPACES):
        hint = _look_alike_hint(at[0])
    elif at in ("//", "/*") or (at[:1] == "#" and exc.msg.startswith("Expecting")):
        hint = ("JSON has no comments: remove them (a problem's \"title\" can hold a "
                "note)")
    elif exc.msg != "Extra data" and (
            exc.pos >= len(text.rstrip())
            # cut inside a number (``0.``, ``1e-`` or ``-`` at the end): what the scanner
            # left is a number's characters, not ending in a digit
            or (not (rest := text[exc.pos:].rstrip()).strip("0123456789.eE+-")
                and not rest[-1].isdigit())):
        what = f"the document ends too early, {what} (truncated?)"
    elif exc.pos < len(text) and text[exc.pos] == "'":
        hint = "JSON strings and keys use double quotes"
    elif exc.msg in ("Invalid \\escape", "Invalid \\uXXXX escape"):  # C:\Users\...: a path
        hint = ("a backslash starts an escape in JSON (\\n, \\\"): write a path with '/' "
                "(or each backslash doubled, \\\\)")
    elif at[:1] == "/" and (fraction := _bare_fraction(text, exc.pos)):
        hint = f"JSON has no fractions: write one as a string, \"{fraction}\""
    elif (before.endswith(",") and at[:1] in ("]", "}")
          and exc.msg.startswith(("Expecting value", "Expecting property"))):
        hint = "JSON allows no comma after the last element; remove it"
    elif comma := _decimal_comma_at(text, exc.pos):
        hint = _decimal_comma_hint(comma)
    elif exc.msg == "Expecting value":
        hint = _value_hint(text, exc.pos)
    elif exc.msg == "Expecting ',' delimiter" and (tail := _number_tail_hint(text, exc.pos)):
        hint = tail
    elif (exc.msg == "Expecting ',' delimiter" and _line_of(text, exc.pos)[0] > (
            line := _line_of(text, len(before))[0]) and at[:1] not in ("]", "}")):
        # the next value starts a line: the comma ending the line before it is missing (a
        # bracket there that closes nothing open is no such slip)
        hint = f"a ',' missing at the end of line {line}?"
    return ProblemError(what, where=_char_position(text, exc.pos), file=file, hint=hint)


def load_json_document(raw: bytes, file: str, *, keep_text: bool = False) -> object:
    """Parse a problem document as strict JSON.

    Parameters
    ----------
    raw : bytes
        The document as read (UTF-8; a byte-order mark is tolerated).
    file : str
        The display name errors carry (see :func:`read_source`).
    keep_text : bool
        Numbers with a fraction or an exponent are :class:`WrittenDecimal`, keeping their
        text (an answers file shows a value as it was written).

    Returns
    -------
    object
        What the document holds; numbers with a fraction or an exponent are
        :class:`decimal.Decimal` (so exact mode reads ``0.51`` as ``51/100``), integers int.

    Raises
    ------
    ProblemError
        Not UTF-8 text, an empty file, a syntax error (``where`` is ``line L, column C``),
        NaN/Infinity, a duplicate key (``where`` is its JSON path), nesting deeper than
        :data:`MAX_DEPTH`, a number Python cannot hold.  Nothing else escapes.
    """
    text = decode_text(raw, file=file)
    if not text.strip():  # where a value was expected: the end of the text
        raise ProblemError("empty file", where=_char_position(text, len(text)), file=file)
    data = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
    _check_depth(data, text, file=file)
    try:
        # parse_int stays the built-in int for a problem: the C scanner's fast path for
        # integers (an answers file keeps the text of -0)
        return json.loads(text, parse_float=_json_written_decimal if keep_text else
                          _json_decimal, parse_int=_json_written_int if keep_text else None,
                          parse_constant=_reject_constant, object_pairs_hook=_unique_object)
    except _NonFiniteConstant as exc:
        # ``where`` is the constant's JSON path (input[0][1]), as for any other bad number;
        # its line and column are named too.  Line and column alone when no path holds it
        # (the whole document is NaN).
        match = _first_outside_strings(_CONSTANT_TOKEN_RE, text)
        position = _char_position(text, match.start()) if match else None
        where, what = _path_and_position(
            _marker_path(text, is_constant=True), position,
            f"{exc.args[0]} is not allowed (JSON numbers must be finite)")
        raise ProblemError(what, where=where, file=file) from None
    except _DuplicateKey:
        found = _duplicate_key_path(text)
        where, key = found if found else (None, "?")
        raise ProblemError(f"duplicate key '{key}' (each key may appear once per object)",
                           where=where, file=file) from None
    except _BadNumberToken as exc:
        token = exc.args[0]
        where = None
        match = _first_outside_strings(re.compile(_STRING_PATTERN + "|" + re.escape(token),
                                                  re.DOTALL), text)
        if match:
            where = _char_position(text, match.start())
        where, what = _path_and_position(
            _marker_path(text, is_bad_float=lambda t: t == token), where,
            f"the number {_shorten(token)} is out of range")
        raise ProblemError(what, where=where, file=file) from None
    except json.JSONDecodeError as exc:
        raise _syntax_error(exc, text, file) from None
    except RecursionError:  # not reachable after _check_depth; kept as a last guard
        raise ProblemError(f"nesting deeper than {MAX_DEPTH} levels", where=TOP_LEVEL,
                           file=file) from None
    except ValueError as exc:
        if "digits" not in str(exc):
            raise ProblemError(f"cannot parse the document: {_shorten(str(exc), 80)}",
                               where=TOP_LEVEL, file=file) from None
        # An integer longer than Python converts (sys.get_int_max_str_digits, 4300).
        too_long = rf"|\d{{{sys.get_int_max_str_digits() + 1},}}"
        match = _first_outside_strings(re.compile(_STRING_PATTERN + too_long, re.DOTALL), text)
        position = _char_position(text, match.start()) if match else None
        limit = sys.get_int_max_str_digits()
        where, what = _path_and_position(
            _marker_path(text, is_bad_int=lambda t: len(t.lstrip("-")) > limit), position,
            "a number with thousands of digits is out of range")
        raise ProblemError(what, where=where, file=file) from None
    except (ArithmeticError, MemoryError) as exc:
        raise ProblemError(f"cannot parse the document: {_shorten(str(exc), 80)}",
                           file=file) from None


def top_level_keys(raw: bytes, limit: int = 100) -> list[str] | None:
    """The keys of a JSON object document's top level, found without parsing its values:
    a 200 MB problem with a misspelt key is told so in a fraction of a second, before
    millions of numbers are converted.  None when the document is not plainly an object
    (the full parse then says what is wrong)."""
    spans = top_level_spans(raw, limit)
    return None if spans is None else [key for key, _, _ in spans]


def top_level_spans(raw: bytes, limit: int = 100) -> list[tuple[str, int, int]] | None:
    """``(key, start, end)`` of each top-level member: ``raw[start:end]`` is its value's
    text (surrounding white space and the separating comma included).  None when the
    document is not plainly an object.

    One pass over the bytes: between strings, brackets are counted (C-speed
    ``bytes.count``); a string followed by ``:`` at depth 1 is a top-level key.
    """
    skip = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    data = raw
    if not data[skip:].lstrip().startswith(b"{"):
        return None
    spans: list[list] = []
    depth, position = 0, skip
    for match in _STRING_BYTES_RE.finditer(data, skip):
        start = match.start()
        depth += (data.count(b"{", position, start) + data.count(b"[", position, start)
                  - data.count(b"}", position, start) - data.count(b"]", position, start))
        position = match.end()
        after = data[position:position + 64].lstrip()
        if depth == 1 and after.startswith(b":"):
            try:
                key = json.loads(match.group().decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return None
            if spans:
                spans[-1][2] = start
            spans.append([key, data.index(b":", position) + 1, None])
            if len(spans) >= limit:
                break
    if spans:
        spans[-1][2] = data.rindex(b"}")
    return [(key, start, end) for key, start, end in spans]


# --------------------------------------------------------------------------- numbers

class _BadNumber(Exception):
    """One element is not an acceptable number; the caller adds where and file."""

    def __init__(self, what: str, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def integer_digits(value: int) -> int:
    """How many decimal digits ``value`` has (its sign aside), without ``str()``, which
    refuses an integer of more than 4,300 digits."""
    value = abs(value)
    # 2^(b−1) ≤ value < 2^b: the digits are this many, or one more
    digits = int((max(value.bit_length(), 1) - 1) * math.log10(2)) + 1
    return digits + (value >= 10 ** digits)


def _show(value: object) -> str:
    """A value as the user wrote it, short enough for a one-line message."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return repr(_shorten(value))
    if isinstance(value, int):
        if value.bit_length() > 200:  # str() of a 5000-digit int raises
            return f"an integer of {integer_digits(value)} digits"
        return _shorten(str(value))
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, Decimal):  # read from the file: its exponent as JSON writes one
        return _shorten(str(value).replace("E", "e"))
    if isinstance(value, (float, Fraction, np.number)):
        return _shorten(str(value))
    return with_article(type(value).__name__)


def _too_large(shown: str) -> _BadNumber:
    return _BadNumber(f"{shown} is too large (beyond float64's range, about 1.8e308)")


def _too_small(shown: str) -> _BadNumber:
    return _BadNumber(f"{shown} is too small (float64 rounds it to 0); write 0 if you mean zero")


def _from_int(value: int, exact: bool) -> float | Fraction:
    try:
        as_float = float(value)
    except OverflowError:
        raise _too_large(_show(value)) from None
    return Fraction(value) if exact else as_float


def _from_decimal(value: Decimal, exact: bool, shown: str | None = None) -> float | Fraction:
    shown = shown or _show(value)
    if not value.is_finite():
        raise _BadNumber(f"{shown} is not a finite number (no NaN or infinity)")
    if value:
        # Exponent checks first: Fraction(Decimal("1e-999999999")) would take forever.
        exponent = value.adjusted()
        if exponent > _FLOAT64_MAX_EXPONENT:
            raise _too_large(shown)
        if exponent < _FLOAT64_MIN_EXPONENT - 1:
            raise _too_small(shown)
    as_float = float(value)
    if math.isinf(as_float):
        raise _too_large(shown)
    if as_float == 0 and value:
        raise _too_small(shown)
    return _exact_decimal(value, shown) if exact else as_float


def _exact_decimal(value: Decimal, shown: str) -> Fraction:
    """The Fraction a finite decimal in float64's range writes.  Trailing zeros are dropped
    first: Fraction(Decimal("1.000…0")) with a million zeros takes half a minute (a gcd of
    million-digit integers); a number that really has more significant digits than an exact
    result may hold is refused."""
    from cnngrad.limits import MAX_EXACT_DIGITS

    sign, digits, exponent = value.as_tuple()
    written = "".join(map(str, digits))
    significant = written.rstrip("0")
    if not significant:  # a zero: 0e99999999 would build a 10**99999999 it is not worth
        return Fraction(0)
    if len(significant) > MAX_EXACT_DIGITS:
        # read exactly: a problem under --exact; always an answer, a tolerance, a grading block
        raise _BadNumber(f"{shown} has {len(significant)} significant digits, more than an "
                         f"exact number may have ({MAX_EXACT_DIGITS})",
                         "round it (a float keeps 17 significant digits)")
    exponent += len(written) - len(significant)
    numerator = (-1) ** sign * int(significant)
    if exponent >= 0:
        return Fraction(numerator * 10**exponent)
    return Fraction(numerator, 10**-exponent)


def _from_fraction(value: Fraction, exact: bool, shown: str) -> float | Fraction:
    try:
        as_float = float(value)
    except OverflowError:
        raise _too_large(shown) from None
    if math.isinf(as_float):
        raise _too_large(shown)
    if as_float == 0 and value:
        raise _too_small(shown)
    return value if exact else as_float


def _from_float(value: float, exact: bool) -> float | Fraction:
    if not math.isfinite(value):
        raise _BadNumber(f"{value} is not a finite number (no NaN or infinity)")
    # The shortest repr is the decimal the user meant: 0.1 -> 1/10, not 3602879701896397/2**55.
    return Fraction(repr(value)) if exact else value


def _from_string(text: str, exact: bool) -> float | Fraction:
    token = text.strip()
    shown = repr(_shorten(text))
    if DECIMAL_RE.fullmatch(token):
        try:
            value = Decimal(token)
        except (InvalidOperation, ValueError):  # an exponent beyond Decimal's own limits
            if _zero_mantissa(token):
                return Fraction(0) if exact else 0.0
            exponent = token.lower().partition("e")[2]
            if exponent.startswith("-"):
                raise _too_small(shown) from None
            raise _too_large(shown) from None
        return _from_decimal(value, exact, shown)
    fraction = _FRACTION_RE.fullmatch(token)
    if fraction:
        try:
            numerator, denominator = int(fraction.group(1)), int(fraction.group(2))
        except ValueError:  # more digits than int() converts: its size is in their counts
            numerator_digits, denominator_digits = (
                len(group.lstrip("+-").lstrip("0")) for group in fraction.groups())
            if numerator_digits - denominator_digits < -325:  # below 10^-325
                raise _too_small(shown) from None
            if numerator_digits - denominator_digits > 310:  # above 10^309
                raise _too_large(shown) from None
            raise _BadNumber(f"{shown} has more digits than a fraction may (thousands)",
                             "write it with fewer digits") from None
        if denominator == 0:
            raise _BadNumber(f"{shown}: division by zero")
        if exact:
            return _from_fraction(Fraction(numerator, denominator), exact, shown)
        try:
            as_float = numerator / denominator  # int true division rounds correctly
        except OverflowError:
            raise _too_large(shown) from None
        if as_float == 0 and numerator:
            raise _too_small(shown)
        return as_float
    if not token:
        raise _BadNumber("an empty string is not a number")
    if names_non_finite(token):
        raise _BadNumber(f"{shown} is not a finite number (no NaN or infinity)")
    hint = None
    if token and token[0] in UNICODE_MINUSES:
        hint = unicode_minus_hint(token[0])
    elif thousands := _thousands_hint(token):
        hint = thousands
    elif re.fullmatch(r"[+-]?\d+,\d+", token):
        hint = "use a dot as the decimal point"
    elif re.fullmatch(r"[-+\d./eE]+(?:\s+[-+\d./eE]+)+", token):
        hint = "one number per element (or per CSV cell)"
    elif "," in token and _numbers_each(token.split(",")):
        # "0.2,5": two numbers, a list meant: unquoted where JSON writes them so, else each
        # quoted ("1/2", ".5"); "0,5,0,25" is decimal commas as likely
        parts = [part.strip() for part in token.split(",")]
        pairs = list(zip(parts[::2], parts[1::2]))
        if len(parts) % 2 == 0 and _looks_split(pairs) is not None:
            hint = (f"one number per element, with a dot as the decimal point: "
                    f"{', '.join(f'{whole}.{digits}' for whole, digits in pairs)}")
        elif all(_JSON_NUMBER_RE.fullmatch(part) for part in parts):
            hint = f"one number per element: as a list, drop the quotes ([{', '.join(parts)}])"
        else:
            quoted = ", ".join(f'"{part}"' for part in parts)
            hint = f"one number per element: as a list, quote each ([{quoted}])"
    elif token.startswith("[") and token.endswith("]"):
        hint = "a tensor is nested JSON lists: drop the quotes around it"
    elif re.fullmatch(r"[-+\d.eE]+/[-+\d.eE]+", token):
        hint = 'a fraction is a whole number over a whole number, "-1/3" (or give a decimal)'
    raise _BadNumber(f"{shown} is not a number", hint)


def _numbers_each(parts: list[str]) -> bool:
    """Whether every part is a finite number a tensor's string may hold (not 1/0, 1e400)."""
    for part in (part.strip() for part in parts):
        try:
            if not is_number_text(part) or not math.isfinite(float(Fraction(part))):
                return False
        except (ValueError, ZeroDivisionError, OverflowError):
            return False
    return True


def _thousands_hint(token: str) -> str | None:
    """``1,000``: a decimal comma or a thousands separator (say both); ``1,000.5`` or
    ``1,000,000``: thousands separators.  None for any other text."""
    if re.fullmatch(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+\.\d+", token):
        return f"a number has no thousands separators: {token.replace(',', '')}"
    if not re.fullmatch(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+", token):
        return None
    if token.count(",") > 1:
        return f"a number has no thousands separators: {token.replace(',', '')}"
    return (f"a number has no comma: {token.replace(',', '.')} with a dot as the decimal "
            f"point, or {token.replace(',', '')} without a thousands separator")


#: Why a file reference is no element of a tensor written as nested lists.
_REFERENCE_IS_A_TENSOR = '{"csv": ...} and {"npy": ...} stand for a whole tensor, not an element'


def _number(value: object, exact: bool) -> float | Fraction:
    """One element as float or Fraction; raises _BadNumber for anything else."""
    kind = type(value)
    if kind is int:
        return _from_int(value, exact)
    if kind is Decimal:
        return _from_decimal(value, exact)
    if kind is str:
        return _from_string(value, exact)
    if kind is float:
        return _from_float(value, exact)
    if value is None or isinstance(value, bool):
        raise _BadNumber(f"{_show(value)} is not a number")
    if isinstance(value, list):
        raise _BadNumber("expected a number, got a list (the nesting is uneven)")
    if isinstance(value, dict):
        raise _BadNumber(f"expected a number, got an object ({_REFERENCE_IS_A_TENSOR})")
    if isinstance(value, (np.bool_, complex, np.complexfloating)):
        raise _BadNumber(f"{_show(value)} is not a real number")
    if isinstance(value, (int, np.integer)):
        return _from_int(int(value), exact)
    if isinstance(value, Decimal):
        return _from_decimal(value, exact)
    if isinstance(value, Fraction):
        return _from_fraction(value, exact, _show(value))
    if isinstance(value, np.floating):
        if not np.isfinite(value):
            raise _BadNumber(f"{value} is not a finite number (no NaN or infinity)")
        return _from_string(str(value), exact)  # the shortest repr in the value's own precision
    if isinstance(value, (float, str)):  # subclasses
        return _number(float(value) if isinstance(value, float) else str(value), exact)
    raise _BadNumber(f"expected a number, got {_show(value)}")


def decimals_needed(value: Fraction) -> int | None:
    """Decimals that write ``value`` exactly (0.25 → 2), None when no finite decimal does
    (1/3)."""
    value = Fraction(value)
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


def parse_number(value: object, where: str, *, file: str | None,
                 exact: bool = False) -> float | Fraction:
    """One scalar: a JSON number (int or Decimal) or a string holding a decimal or fraction.

    Parameters
    ----------
    value : int, Decimal, float or str
        What :func:`load_json_document` gave.
    where : str
        The JSON path errors name.
    file : str or None
        The file errors name (None for a command-line option: ``--lr`` is the place).
    exact : bool
        Return a :class:`fractions.Fraction` (``"0.51"`` -> ``51/100``) instead of a float.

    Returns
    -------
    float or Fraction

    Raises
    ------
    ProblemError
        Booleans, null, lists, objects, other strings (``'abc' is not a number``,
        ``'1/0': division by zero``), NaN or infinity, numbers beyond float64's range.
    """
    try:
        return _number(value, exact)
    except _BadNumber as bad:
        raise ProblemError(bad.what, where=where, file=file, hint=bad.hint) from None


# --------------------------------------------------------------------------- tensors

def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape)) if shape else "a single number"


def _check_rank(shape: tuple[int, ...], where: str, file: str, min_rank: int, max_rank: int,
                note: str = "") -> None:
    rank = len(shape)
    if min_rank <= rank <= max_rank:
        return
    wanted = f"rank {min_rank}" if min_rank == max_rank else f"rank {min_rank} to {max_rank}"
    got = f"rank {rank} ({_shape_text(shape)})"
    raise ProblemError(f"expected a tensor of {wanted}, got {got}{note}", where=where, file=file)


def _index_path(where: str, flat_index: int, shape: tuple[int, ...]) -> str:
    """``where`` and the indices of element ``flat_index`` of a C-ordered ``shape``, by
    hand: ``np.unravel_index`` takes at most 64 axes, and a nested list may have more."""
    indices = []
    for size in reversed(shape):
        flat_index, index = divmod(flat_index, size)
        indices.append(index)
    path = where
    for index in reversed(indices):
        path = join_path(path, int(index))  # a numpy integer from flatnonzero too
    return path


def _leaves_to_array(flat: list, shape: tuple[int, ...], exact: bool,
                     locate: Callable[[int], tuple[str | None, str]]) -> np.ndarray:
    """Convert validated-shape leaves to a float64 (or Fraction object) array.

    The happy path converts every element to float64 in one C-level pass, which also
    proves each one finite and in range (in exact mode too: the domain is the same);
    exact mode then builds the Fractions without further checks.  Anything the pass
    cannot vouch for (a fraction string, a NaN, a zero that may be an underflow) goes
    element by element, which finds the first bad one and names it via ``locate``.
    """
    count = len(flat)
    kinds = set(map(type, flat))
    # Within these characters float() reads exactly the decimals DECIMAL_RE accepts (no
    # nan, inf or 1_000), and one regex search over the joined text is C speed.
    plain_strings = kinds == {str} and not _NOT_PLAIN_DECIMAL_CHAR.search("".join(flat))
    converted = None
    if plain_strings or kinds <= {int, Decimal, float}:
        try:
            converted = np.fromiter(map(float, flat), dtype=np.float64, count=count)
        except (OverflowError, ValueError):
            converted = None
    if converted is not None and np.isfinite(converted).all():
        for index in np.flatnonzero(converted == 0):  # 1e-999 is 0.0 in float64: say so
            value = flat[index]
            if type(value) is str or value != 0:
                _located_number(value, exact, index, locate)
        if not exact:
            return converted.reshape(shape)
        if plain_strings or kinds <= {int, Decimal}:
            # Fraction("2e-3") and Fraction(Decimal("0.51")) are exact decimal readings; a
            # long decimal ("1.000…0") goes through _exact_decimal, which drops its zeros;
            # a zero is 0 (Fraction("0e99999999") would build 10**99999999 first)
            try:
                fractions = [Fraction(0) if zero else
                             Fraction(value) if type(value) is int or len(str(value)) <= 40
                             else _exact_decimal(Decimal(value), _show(value))
                             for value, zero in zip(flat, (converted == 0).tolist())]
            except (ValueError, TypeError, ArithmeticError, _BadNumber):
                fractions = None
            if fractions is not None:
                result = np.empty(count, dtype=object)
                result[:] = fractions
                return result.reshape(shape)
    result = np.empty(count, dtype=object if exact else np.float64)
    for index, value in enumerate(flat):
        result[index] = _located_number(value, exact, index, locate)
    return result.reshape(shape)


def _located_number(value: object, exact: bool, index: int,
                    locate: Callable[[int], tuple[str | None, str]]) -> float | Fraction:
    try:
        return _number(value, exact)
    except _BadNumber as bad:
        where, file = locate(index)
        raise ProblemError(bad.what, where=where, file=file, hint=bad.hint) from None


def _nested_lists_to_array(value: list, where: str, file: str, exact: bool,
                           min_rank: int, max_rank: int) -> np.ndarray:
    # The shape is read off the first element at every level; everything else must match.
    shape_list: list[int] = []
    node: object = value
    while isinstance(node, list):
        if not node:
            raise ProblemError("empty tensor (a list with no elements)",
                               where=where + "[0]" * len(shape_list), file=file)
        if len(shape_list) >= _MAX_WALK_DEPTH:
            raise ProblemError(f"nesting deeper than {_MAX_WALK_DEPTH} levels", where=where,
                               file=file)
        shape_list.append(len(node))
        node = node[0]
    shape = tuple(shape_list)

    # Breadth first: the lists of one level are checked together, with C-level maps.  The
    # nesting is checked before the rank: a first element nested one level too deep
    # ([[[1], 2], [3, 4]]) is named as that, not as a tensor of one rank more
    level: list = [value]
    for depth, expected in enumerate(shape):
        if depth > 0:
            kinds = set(map(type, level))
            lengths = set(map(len, level)) if kinds == {list} else None
            if lengths != {expected}:
                # a first element nested less deeply than the rest is that, not a short row
                _raise_uneven(value, where, file, deeper_wins=False, max_rank=max_rank)
                _raise_ragged(level, depth, expected, shape, where, file)
        level = list(chain.from_iterable(level))
    try:
        _check_rank(shape, where, file, min_rank, max_rank)
    except ProblemError:
        # the shape was read off the first elements: a first element nested less deeply
        # than the rest ("x" before rows) reads as a rank too low; the odd one is named
        if len(shape) < min_rank:
            _raise_uneven(value, where, file, deeper_wins=True, max_rank=max_rank)
            _raise_file_elements(level, where, shape, file, max_rank)
        raise
    try:
        return _leaves_to_array(level, shape, exact,
                                lambda index: (_index_path(where, index, shape), file))
    except ProblemError as error:
        if "nesting is uneven" in error.what:  # a list where a number was expected
            _raise_uneven(value, where, file, deeper_wins=False, max_rank=max_rank)
        raise


def _raise_file_elements(leaves: list, where: str, shape: tuple[int, ...], file: str,
                         max_rank: int) -> None:
    """A list of file references (``[{"csv": "r.csv"}, {"csv": "g.csv"}]``) reads as a
    tensor of too low a rank: the first reference is named for what it is, with a hint for
    what was meant where one is clear: a lone reference written alone, CSV matrices stacked by
    one reference (where a tensor of rank 3 is taken: an input, a kernel), the rows of a
    matrix in one CSV file (where it is not: dense weights), .npy arrays saved as one."""
    first = next((k for k, leaf in enumerate(leaves) if isinstance(leaf, dict)), None)
    if first is None:
        return
    references = [leaf for leaf in leaves if isinstance(leaf, dict) and len(leaf) == 1]
    csvs = [leaf.get("csv") for leaf in references]
    hint = None
    if len(leaves) == 1 and len(references) == 1:
        reference = json.dumps(references[0], ensure_ascii=False)
        if len(reference) <= 60:
            hint = f"write the reference alone, not in a list: {reference}"
    elif len(references) == len(leaves) and all(isinstance(name, str) for name in csvs):
        if max_rank >= 3:
            listed = ", ".join(json.dumps(name) for name in csvs)
            stacked = '{"csv": [' + listed + ']}'
            # the first axis is the channels under nchw, the rows under nhwc: said as an axis
            hint = ("one reference stacks CSV matrices along a new first axis: "
                    + (stacked if len(stacked) <= 60 else '{"csv": ["c0.csv", "c1.csv", ...]}'))
        else:
            hint = ("one CSV file holds a whole matrix, a line a row: "
                    + json.dumps({"csv": csvs[0]}, ensure_ascii=False))
    elif len(references) == len(leaves) and all("npy" in leaf for leaf in references):
        hint = ("one .npy file holds the whole tensor: save the arrays as one, "
                "numpy.save(path, numpy.stack(arrays))")
    raise ProblemError(f"expected a number, got an object: {_REFERENCE_IS_A_TENSOR}",
                       where=_index_path(where, first, shape), file=file, hint=hint)


def _first_depth(node: object) -> int:
    """How deep ``node`` is nested, along its first elements (a number 0, [1, 2] 1)."""
    depth = 0
    while isinstance(node, list) and depth <= _MAX_WALK_DEPTH:
        depth += 1
        node = node[0] if node else None
    return depth


def _nesting(depth: int) -> str:
    return {0: "a number", 1: "a list of numbers", 2: "a list of lists"}.get(
        depth, f"lists nested {depth} deep")


def _raise_uneven(value: list, where: str, file: str, deeper_wins: bool,
                  max_rank: int) -> None:
    """The first element, from the top, nested to another depth than most of its level's:
    a ProblemError naming it ([[7, 8], [[1, 2], [3, 4]], [[5, 6], [7, 8]]]: input[0], where
    the first element, whose shape the others were held to, named input[1][0]).  Of two
    depths as common, the deeper is taken as meant when the first reads as a rank too low
    (``deeper_wins``), the shallower when the deeper would be a rank above ``max_rank`` (a
    vector bias [[1], 2]: bias[0]); else nothing is said here.  Returns when the nesting is
    even."""
    level: list[tuple[str, list]] = [(where, value)]
    for step in range(_MAX_WALK_DEPTH):
        below: list[tuple[str, list]] = []
        for path, items in level:
            depths = [_first_depth(item) for item in items]
            counts = Counter(depths)
            most = max(counts.values())
            tied = sorted(depth for depth, times in counts.items() if times == most)
            within = [depth for depth in tied if depth <= max_rank - 1 - step]
            if len(tied) > 1 and not deeper_wins and len(within) != 1:
                return  # no depth most common: the element the error names stays named
            usual = within[-1] if len(tied) > 1 and not deeper_wins else tied[-1]
            odd = next((k for k, depth in enumerate(depths) if depth != usual), None)
            if odd is not None and deeper_wins and depths[odd] > usual:
                return  # most are as shallow as the rank says: the rank error stands
            while odd is not None and isinstance(items[odd], list) and depths[odd] > usual:
                # too deep for one element inside it ([[1], 2, 3] among rows of numbers,
                # or inside lists of one element, [[[3], 4]] among [[1, 2]]): that element
                # is the odd one; a list too deep as a whole ([[[1], [3]]]) stays named
                inside = _odd_inside(items[odd], usual)
                if inside is None:
                    break
                lone, items, depths, counts = inside
                path += f"[{odd}]" + "[0]" * lone
                usual -= 1 + lone
                odd = next(k for k, depth in enumerate(depths) if depth != usual)
            if odd is not None:
                item, others = items[odd], counts[usual]
                got = (f"{_nesting(depths[odd])} (the nesting is uneven)"
                       if isinstance(item, list) else
                       f"an object: {_REFERENCE_IS_A_TENSOR}" if isinstance(item, dict)
                       else f"{_show(item)} (the nesting is uneven)")
                rest = len(items) - 1
                as_others = ("" if not usual else " (as the other element is)" if rest == 1
                             else f" (as the other {rest} are)" if others == rest
                             else f" (as one of the other {rest} is)" if others == 1
                             else f" (as {others} of the other {rest} are)")
                raise ProblemError(f"expected {_nesting(usual)}{as_others}, got {got}",
                                   where=f"{path}[{odd}]", file=file)
            below += [(f"{path}[{k}]", item) for k, item in enumerate(items)
                      if isinstance(item, list) and item]
        if not below:
            return
        level = below


def _odd_inside(node: list, usual: int) -> tuple[int, list, list[int], Counter] | None:
    """Where ``node``, a list nested deeper than ``usual`` (its level's others' depth), is so
    for one element inside it, its elements mostly of depth ``usual - 1`` and one not:
    (how many lists of one element lead there, not a number wrapped; the list holding the
    element; its elements' depths and their counts).  None when ``node`` is too deep as a
    whole."""
    lone = 0
    while len(node) == 1 and usual >= 1 and isinstance(node[0], list):  # a loop: 1000 deep
        node, usual, lone = node[0], usual - 1, lone + 1
    depths = [_first_depth(item) for item in node]
    counts = Counter(depths)
    if len(counts) < 2 or counts[usual - 1] < max(counts.values()):
        return None
    return lone, node, depths, counts


def _raise_ragged(level: list, depth: int, expected: int, shape: tuple[int, ...], where: str,
                  file: str) -> None:
    innermost = depth == len(shape) - 1
    # the shape was read off the first element of each level: when most of the level
    # disagrees with it, the first element is the odd one out, and it is named
    kinds = Counter(len(item) if isinstance(item, list) else None for item in level)
    common, times = kinds.most_common(1)[0]
    if common != expected and times > kinds[expected]:
        path = _index_path(where, 0, shape[:depth])
        if common is None:
            raise ProblemError("expected a number, got a list (the nesting is uneven)",
                               where=path, file=file)
        noun = "row" if innermost else "list"
        raise ProblemError(f"{noun} has {expected} element{'s' * (expected != 1)}, expected "
                           f"{common} (as in {_others(times, len(level), noun)})", where=path,
                           file=file, hint=_split_decimal_hint(level[0], common, innermost))
    for index, item in enumerate(level):
        path = _index_path(where, index, shape[:depth])
        if not isinstance(item, list):
            unit = "number" if innermost else "list"
            raise ProblemError(f"expected a list of {expected} {unit}{'s' * (expected != 1)}, "
                               f"got {_show(item)} (the nesting is uneven)", where=path, file=file)
        if len(item) != expected:
            # the length expected is the first one's: named, as the slip may be in either
            noun = "row" if innermost else "list"
            first = f"the first {noun}" if depth == 1 else _index_path(where, 0, shape[:depth])
            hint = _split_decimal_hint(item, expected, innermost)
            if hint is None and kinds[len(item)] >= kinds[expected]:
                # as many rows like this one as like the first: the first may be the odd one
                hint = _split_decimal_hint(level[0], len(item), innermost, first_row=True)
            raise ProblemError(f"{noun} has {len(item)} element{'s' * (len(item) != 1)}, "
                               f"expected {expected} (as in {first})", where=path, file=file,
                               hint=hint)
    raise AssertionError("unreachable: the level was found ragged")


def _split_decimal_hint(row: list, expected: int, innermost: bool,
                        first_row: bool = False) -> str | None:
    """A row longer than the others that holds two whole numbers side by side among
    decimals (``[0.0113, 0,5]``): a decimal comma read as two numbers, named (as the two
    numbers JSON read: ``-0,5`` is 0 and 5, the sign lost, so no value is offered)."""
    if not innermost or len(row) != expected + 1:  # one comma makes one element more
        return None
    whole = [type(value) is int for value in row]
    if all(whole):  # whole numbers only (a kernel [[1,0,2], ...]): no decimal in sight
        return None
    pair = next((k for k in range(len(row) - 1) if whole[k] and whole[k + 1]), None)
    if pair is None:
        return None
    first, second = row[pair], row[pair + 1]
    return (f"{'in the first row, ' if first_row else ''}{first} and {second} side by side: "
            f"a decimal comma ({first},{second}) read as two numbers? JSON numbers take a "
            f"decimal point")


def _others(times: int, total: int, noun: str) -> str:
    """The rows (or lists) of the common length, when the first is the odd one out: ``the
    other 2 rows``, or ``3 of the 5 rows``."""
    return (f"the other {times} {noun}s" if times == total - 1 else
            f"{times} of the {total} {noun}s")


# --------------------------------------------------------------------------- CSV

#: The folder every file a TENSOR names must lie in, or None (anywhere): set while a
#: student's answers file is read (:func:`references_within`), whose ``{"csv": ...}`` must
#: not make a grader read, and echo in an error, a file outside the answers' own folder.
_REFERENCES_WITHIN: ContextVar[pathlib.Path | None] = ContextVar("references_within",
                                                                   default=None)


_WHOLE_TEXT = re.compile(r"[+-]?\d+", re.ASCII)


def split_at_decimal_commas(pairs: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The first of ``pairs`` (a grid's cells read two by two) when each looks like one
    number whose decimal comma split it in two (``0,54`` read as the cells ``0`` and ``54``):
    a whole number, then unsigned digits, every digits part two long or more, or some whole a
    signed 0 (``-0,7``), which no one writes for a whole number; None otherwise."""
    pairs = [(str(whole), str(digits)) for whole, digits in pairs]
    if not pairs or not all(_WHOLE_TEXT.fullmatch(whole) and digits.isdigit()
                            for whole, digits in pairs):
        return None
    if all(len(digits) >= 2 for _, digits in pairs) or \
            any(whole in ("-0", "+0") for whole, _ in pairs):
        return pairs[0]
    return None


def _decimal_evidence(pairs: list[tuple[str, str]]) -> bool:
    """Whether cells read two by two look like decimals split at their commas beyond chance:
    every whole part one digit (a layer's numbers), and some whole part 0 (0,25, -0,13) or
    some decimal part with a leading zero (1,05).  Whole numbers in a comma-separated file
    (an image's 12,200,0,78) fail the first."""
    return (all(len(whole.lstrip("+-")) == 1 for whole, _ in pairs)
            and any(whole.lstrip("+-") == "0" or digits.startswith("0")
                    for whole, digits in pairs))


def _looks_split(pairs: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The first pair, where cells read two by two look split at decimal commas beyond
    chance (:func:`split_at_decimal_commas` and :func:`_decimal_evidence`); else None."""
    pair = split_at_decimal_commas(pairs)
    return pair if pair is not None and _decimal_evidence(pairs) else None


def decimal_commas_hint(whole: str, digits: str, name: str | None = None) -> str:
    """What a hint says of cells split at their decimal commas (``name``: the file's)."""
    what = f"{name} looks written" if name else "the numbers look written"
    each = "each number" if name else "each"
    return (f"{what} with decimal commas, {each} split in two at its comma ({whole},{digits} "
            f"read as {whole} and {digits}): save {'it' if name else 'the file'} with '.' as "
            f"the decimal separator")


#: While a problem is read (:func:`split_csvs_seen`): the CSV files, comma-separated, whose
#: cells look like numbers split at their decimal commas, each with its first pair.
_SPLIT_CSVS: ContextVar[list | None] = ContextVar("split_csvs", default=None)


@contextlib.contextmanager
def split_csvs_seen():
    """Within the block, every CSV read whose cells look split at decimal commas (see
    :func:`split_at_decimal_commas`) is listed, ``(file, whole, digits)``, in the list
    yielded: such a file reads as a grid of twice the columns, which a later shape error
    names only through another tensor."""
    seen: list[tuple[str, str, str]] = []
    token = _SPLIT_CSVS.set(seen)
    try:
        yield seen
    finally:
        _SPLIT_CSVS.reset(token)


@contextlib.contextmanager
def references_within(folder: pathlib.Path | None):
    """Within the block, a ``{"csv": ...}`` or ``{"npy": ...}`` naming a file outside
    ``folder`` (an absolute path elsewhere, ``..``, a link leading out) is an error; None
    lifts that."""
    token = _REFERENCES_WITHIN.set(None if folder is None else pathlib.Path(folder).resolve())
    try:
        yield
    finally:
        _REFERENCES_WITHIN.reset(token)


def _resolve(name: str, base_dir: pathlib.Path, *, file: str, where: str) -> pathlib.Path:
    path = pathlib.Path(name)
    path = path if path.is_absolute() else pathlib.Path(base_dir) / path
    folder = _REFERENCES_WITHIN.get()
    if folder is None:
        return path
    try:
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL in the name, a symlink loop
        # outside the folder as written, it is "outside" (nothing said of the grader's
        # files); inside, the answers file's own error
        resolved = pathlib.Path(os.path.abspath(path))  # made absolute, `..` taken out
        try:  # its folder's links resolved, as the answers file's folder is
            resolved = resolved.parent.resolve() / resolved.name
        except (OSError, ValueError, RuntimeError):
            pass
        if resolved.is_relative_to(folder):
            what, hint = _unreadable(exc, name, path)
            raise ProblemError(what, where=where, file=file, hint=hint) from None
    if not resolved.is_relative_to(folder):
        raise ProblemError(f"'{name}' is outside the answers file's folder", where=where,
                           file=file, hint="an answers file may name files in its own folder "
                                           "and below only")
    return path


def reference_paths(names: list[str], base_dir: pathlib.Path) -> list[str]:
    """The files (their paths, as text) an answers file's ``{"csv": name}`` or ``{"npy":
    name}`` read, relative names against ``base_dir`` (its folder), leaving out the names
    its reader refuses (outside the folder, through ``..``, an absolute path or a link
    leading out; a NUL in one): what ``check -o`` must not write over among the files it
    names.

    Each name is resolved as the reader resolves it, its folder once for all the names in
    it, with ``os.path`` (a million names in one folder: 24 s by ``pathlib`` one by one,
    under 3 s so)."""
    base = os.fspath(base_dir)
    inside = os.path.join(os.path.realpath(base), "")  # the folder, with its separator
    parents: dict[str, str] = {}
    found = []
    for name in names:
        joined = os.path.join(base, name)  # an absolute name stays itself
        head, tail = os.path.split(joined)
        try:  # strictly: a folder not there, a loop of links, a NUL go the reader's way
            if tail in ("", ".", "..") or "\0" in name:
                raise ValueError("resolved whole")
            parent = parents.get(head)
            if parent is None:
                parent = parents[head] = os.path.realpath(head, strict=True)
            final = os.path.join(parent, tail)
            if os.path.islink(final):  # where the link leads
                final = os.path.realpath(final, strict=True)
        except (OSError, ValueError, TypeError):  # the reader's own way, and its refusals
            with references_within(base_dir):
                try:
                    found.append(os.fspath(_resolve(name, base_dir, file="", where="")))
                except ProblemError:
                    pass
            continue
        if os.path.join(final, "").startswith(inside):
            found.append(joined)
    return found


def _file_name(spec: object, what_for: str, where: str, file: str) -> str:
    if not isinstance(spec, str):
        raise ProblemError(f"expected {what_for}, got {_show(spec)}", where=where, file=file)
    if not spec.strip():
        raise ProblemError("empty file name", where=where, file=file)
    return spec


def _piped(path: str) -> bool:
    """Whether a problem file's name is a pipe's (``/dev/fd/63`` of a shell's ``<(...)``,
    ``/dev/stdin``): the files it names are read from the current folder."""
    return re.match(r"/(dev/fd/[^/]+|dev/stdin|proc/[^/]+/fd/[^/]+)$",
                    os.path.abspath(path)) is not None


def _shown_name(name: str, file: str) -> str:
    """A CSV or .npy file's name in messages: as the problem writes it, after the problem
    file's folder as given (``hw/p.json`` naming ``data/o.csv``: ``hw/data/o.csv``), so the
    name opens from where cnngrad ran (a pipe's names as written: read from there)."""
    folder = os.path.dirname(file)
    if os.path.isabs(name) or not folder or _piped(file):
        return name
    return os.path.join(folder, name)


#: A cell such as 0,0446 or -1,5e-3: a number written with a decimal comma.
_DECIMAL_COMMA_RE = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?", re.ASCII)


def _decimal_comma(records: list[tuple[int, list[str]]], name: str) -> None:
    """Refuse a CSV whose numbers have decimal commas (``0,0446;0,0941``, as spreadsheets
    write them in many locales) with words that say so, not as a header row."""
    for row_number, cells in records:
        for column, cell in enumerate(cells, start=1):
            if thousands := _thousands_hint(cell):  # 1,000: which of the two is not known
                raise ProblemError(f"{cell!r} is not a number",
                                   where=f"row {row_number}, column {column}", file=name,
                                   hint=thousands)
            if _DECIMAL_COMMA_RE.fullmatch(cell):
                raise ProblemError(
                    f"{cell!r} is not a number: it is written with a decimal comma",
                    where=f"row {row_number}, column {column}", file=name,
                    hint=f"write decimal points ({cell.replace(',', '.')}), as a spreadsheet "
                         "saves them when its decimal separator is '.' (docs/format.md)")


def _sniff_delimiter(text: str) -> str:
    """The separator of a CSV file, from its first line of numbers only (a title line such
    as ``matrix W`` or ``layer 1 weights`` above them does not decide it), else its first
    line; blank lines and ``#`` comment lines are passed over."""
    first = None
    # lazily: the first line or two decide it, and a tensor's file may hold a million more
    for line in (line for line in _lines(text) if line.strip() and not _is_comment(line)):
        first = line if first is None else first
        delimiter = _line_delimiter(line)
        try:
            cells = [cell for cell in next(_split_rows(line, delimiter), []) if cell]
        except csv.Error:  # a cell past csv's size limit: the full reading says so
            break
        if cells and all(_is_numeric_cell(cell) for cell in cells):
            return delimiter
    return _line_delimiter(first or "")


def _lines(text: str, chunk: int = 1 << 16):
    """``text.splitlines()``, made as they are read: a file of a million rows is not split
    whole to find its first line of numbers."""
    start = 0
    while start < len(text):
        lines = text[start:start + chunk].splitlines(keepends=True)
        if start + chunk < len(text):
            if len(lines) < 2:  # one line longer than the chunk: take more
                chunk *= 2
                continue
            lines.pop()  # it may go on past the chunk (or be "\r" of a "\r\n")
        for line in lines:
            start += len(line)
            yield line.splitlines()[0]
        if start >= len(text):
            return


def _line_delimiter(line: str) -> str:
    present = [delimiter for delimiter in CSV_DELIMITERS if delimiter in line]
    for delimiter in present:
        # two of them, `1,<tab>2` (commas with tabs for padding): the one between numbers
        cells = [cell.strip() for cell in line.split(delimiter)]
        if len(present) > 1 and all(_is_numeric_cell(cell) for cell in cells if cell):
            return delimiter
    if present:
        return present[0]
    if len(line.split()) > 1:
        return " "  # whitespace-separated, as numpy.savetxt writes by default
    return ","  # one column


def _is_comment(line: str) -> bool:
    """A ``#`` line: numpy.savetxt's header and footer, skipped as numpy.loadtxt skips them."""
    return line.lstrip().startswith("#")


def is_number_text(text: str) -> bool:
    """Whether ``text`` is a number as a tensor's string may hold it: a decimal (``0.51``,
    ``2e-3``) or a fraction (``-1/3``)."""
    return bool(DECIMAL_RE.fullmatch(text) or _FRACTION_RE.fullmatch(text))


def names_non_finite(text: str) -> bool:
    """Whether ``text`` is NaN or an infinity as people and numpy write them (``NaN``,
    ``-inf``, ``Infinity``): a number, refused as not finite, not a word or a file name."""
    return text.strip().lower().lstrip("+-") in _NON_FINITE_WORDS


def _is_numeric_cell(cell: str) -> bool:
    """A cell written as a number: a decimal, a fraction, or NaN or infinity (numpy.savetxt
    writes them so; they are refused as not finite, but they make no header row)."""
    return bool(DECIMAL_RE.fullmatch(cell) or _FRACTION_RE.fullmatch(cell)
                or names_non_finite(cell))


class _CellNotANumber(Exception):
    """A cell of a plain CSV's fast reading that is no number: read again, row by row."""


def _cell_not_a_number(index: int):
    raise _CellNotANumber


def _read_csv_matrix(name: str, ref_where: str, file: str, base_dir: pathlib.Path,
                     exact: bool) -> np.ndarray:
    """One CSV file as a 2-D array; content errors name the CSV and ``row R, column C``."""
    # read once: a pipe (<(...)) read again would be empty
    source = _csv_text(name, ref_where, file, base_dir)
    plain = _plain_csv_cells(*source)
    if plain is not None:
        flat, shape = plain
        try:
            return _leaves_to_array(flat, shape, exact, _cell_not_a_number)
        except _CellNotANumber:
            pass  # the rows below name its row and column
    records, shown = _csv_records(name, ref_where, file, base_dir, source)
    width = len(records[0][1])
    flat = [cell for _, cells in records for cell in cells]

    def locate(index: int) -> tuple[str, str]:
        row, column = divmod(index, width)
        return f"row {records[row][0]}, column {column + 1}", shown

    return _leaves_to_array(flat, (len(records), width), exact, locate)


#: The bytes of the pipes a CSV was read from (``<(...)``, a FIFO), by path: a later reading
#: of the same file (a cell named by its row and column in an error) would find them gone.
_PIPE_BYTES: dict[str, bytes] = {}


def _csv_text(name: str, ref_where: str, file: str, base_dir: pathlib.Path
              ) -> tuple[str, str, str]:
    """A CSV file's text, its name in messages and its separator."""
    path = _resolve(name, base_dir, file=file, where=ref_where)
    raw = _PIPE_BYTES.get(str(path))
    if raw is None:
        raw = _read_bytes(path, name, file=file, where=ref_where)
        if not _is_regular(path):
            _PIPE_BYTES[str(path)] = raw
    shown = _shown_name(name, file)
    text = decode_text(raw, file=shown, locate=_csv_position)
    return text, shown, _sniff_delimiter(text)


def _note_split(shown: str, delimiter: str, width: int, cells: list[str]) -> None:
    """Note a comma-separated grid whose cells, two by two, look like numbers split at their
    decimal commas (``cells``: all of them, row after row), for a shape error to name."""
    seen = _SPLIT_CSVS.get()
    if seen is not None and delimiter == "," and width % 2 == 0:
        if (pair := _looks_split(list(zip(cells[::2], cells[1::2])))) is not None:
            seen.append((shown, *pair))


def _plain_csv_cells(text: str, shown: str, delimiter: str
                     ) -> tuple[list[str], tuple[int, int]] | None:
    """The cells of a CSV file's ``text`` that is a plain grid (rows of one width, no empty
    cell, no blank or ``#`` line, no quote, no comma but its separators, a first row of
    numbers), in one flat list in row order, and the grid's shape; None for any other, which
    :func:`_csv_records` reads row by row to name what is wrong or skipped.  Its rows are not
    kept: a file of millions of one-number rows took some 200 bytes a row that way."""
    if '"' in text or "#" in text or ("," in text and delimiter != ","):
        return None
    flat: list[str] = []
    width = rows = 0
    try:
        for cells in _split_rows(text, delimiter, strict=True):
            if rows == 0:
                width = len(cells)
                if not any(_is_numeric_cell(cell) for cell in cells):
                    return None  # a header row, or a blank line first
            if len(cells) != width or "" in cells:
                return None
            flat.extend(cells)
            rows += 1
    except csv.Error:
        return None
    if rows == 0:
        return None
    _note_split(shown, delimiter, width, flat)
    return flat, (rows, width)


def _csv_records(name: str, ref_where: str, file: str, base_dir: pathlib.Path,
                 source: tuple[str, str, str] | None = None
                 ) -> tuple[list[tuple[int, list[str]]], str]:
    """The rows of one CSV file that hold the matrix, each with its number in the file, all
    of one width (blank lines before and after it dropped), and the file's name in messages
    (``source``: the file as :func:`_csv_text` read it already); errors name the CSV and
    ``row R`` or ``row R, column C``."""
    text, shown, delimiter = source or _csv_text(name, ref_where, file, base_dir)
    # strict: a quote never closed is an error, not a cell running to the end
    reader = _split_rows(text, delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for row_number, cells in enumerate(reader, start=1):
            if not (cells and _is_comment(cells[0])):
                records.append((row_number, cells))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc) or "EOF inside string" in str(exc):
            raise ProblemError('a quote (") opened here is never closed',
                               where=f"row {len(records) + 1}", file=shown,
                               hint="close the quote, or remove it: cells are plain numbers"
                               ) from None
        raise ProblemError(f"malformed CSV: {exc}", where=f"row {len(records) + 1}",
                           file=shown) from None
    while records and not any(records[-1][1]):  # blank trailing lines (or ",,,")
        records.pop()
    # blank leading lines too (an editor's or a copy's); rows keep their numbers in the file
    records = records[next((i for i, (_, cells) in enumerate(records) if any(cells)),
                           len(records)):]
    if not records:
        commented = any(_is_comment(line) for line in text.splitlines())
        raise ProblemError("no rows of numbers, only '#' comment lines" if commented
                           else "empty file (no rows)", where="row 1", file=shown)
    while _ends_every_row(cells for _, cells in records):  # a spreadsheet pads to its width
        records = [(row_number, cells[:-1]) for row_number, cells in records]

    # a comma in any cell (a quoted one, with commas between cells): never a number as written
    if "," in text if delimiter != "," else '"' in text:
        _decimal_comma(records, shown)
    first_row, first_cells = records[0]
    if any(first_cells) and not any(_is_numeric_cell(cell) for cell in first_cells):
        column = next(i for i, cell in enumerate(first_cells, start=1) if cell)
        separator = _foreign_separator(first_cells[column - 1])
        if separator is not None:
            raise ProblemError(f"{first_cells[column - 1]!r} is not a number: its numbers are "
                               f"separated by {separator!r}", where=f"row {first_row}, column "
                               f"{column}", file=shown, hint="separate the cells with commas "
                               "(or semicolons, tabs or spaces)")
        raise ProblemError(f"{first_cells[column - 1]!r} is not a number: this looks like a "
                           "header row; remove it", where=f"row {first_row}, column {column}",
                           file=shown)
    width = len(first_cells)
    # when most rows disagree with the first, the first is the odd one out, and it is named
    # (as a nested list's first row is, :func:`_raise_ragged`)
    lengths = Counter(len(cells) for _, cells in records)
    common, times = lengths.most_common(1)[0]
    if len(lengths) > 1:  # rows of several widths: a row written with another separator?
        _mixed_separator(records, delimiter, lengths, shown)
    if common != width and times > lengths[width]:
        # the wider of the two widths may be a separator after the last numbers (the first
        # row's, or most rows'): that empty cell is the slip, not the other rows' width
        row_number, cells = (first_row, first_cells) if width > common else next(
            record for record in records if len(record[1]) == common)
        if "" in cells and not any(cells[min(width, common):]):
            raise _empty_cell(row_number, cells, records, shown)
        raise ProblemError(f"row has {width} cell{'s' * (width != 1)}, expected {common} (as "
                           f"in {_others(times, len(records), 'row')})",
                           where=f"row {first_row}", file=shown)
    for row_number, cells in records:
        if not any(cells):
            raise ProblemError("empty row inside the matrix", where=f"row {row_number}", file=shown)
        stray = len(cells) > width and not any(cells[width:])  # "0;1;" among "1;0"
        if len(cells) != width and not stray:
            raise ProblemError(f"row has {len(cells)} cell{'s' * (len(cells) != 1)}, expected "
                               f"{width} (as in row {first_row})", where=f"row {row_number}",
                               file=shown)
        if "" in cells:
            raise _empty_cell(row_number, cells, records, shown)
    if _SPLIT_CSVS.get() is not None:
        _note_split(shown, delimiter, width, [cell.strip() for _, row in records for cell in row])
    return records, shown


def _empty_cell(row_number: int, cells: list[str], records: list[tuple[int, list[str]]],
                shown: str) -> ProblemError:
    """The first empty cell of a row; with a hint when it and every cell after it lie past
    the columns that hold a number in some row of ``records`` (``0;1;`` under ``1;0``: a
    stray separator, not a missing number, which ``1,2`` over ``3,`` may be).  Counted here,
    on the way to an error, not on every file read."""
    reach = max(max((i + 1 for i, cell in enumerate(row) if cell), default=0)
                for _, row in records)
    column = cells.index("")
    stray = column >= reach and not any(cells[column:])
    return ProblemError("empty cell", where=f"row {row_number}, column {column + 1}",
                        file=shown, hint=_TRAILING_SEPARATOR_HINT if stray else None)


_TRAILING_SEPARATOR_HINT = ("a separator after the row's last number? remove it (one "
                            "after every row's last number is read as the row's end)")


def _mixed_separator(records: list[tuple[int, list[str]]], delimiter: str,
                     widths: Counter, shown: str) -> None:
    """Raise naming the first cell that is numbers run together by another of the CSV
    separators than the file's (``2;3`` in a file of commas) where that makes its row as
    wide as other rows are (``widths``: rows by width): the cause of rows of several widths
    that the widths alone would blame on the wrong row."""
    others = [other for other in CSV_DELIMITERS if other != delimiter]
    for row_number, cells in records:
        for column, cell in enumerate(cells, start=1):
            for other in (other for other in others if other in cell):
                parts = [part.strip() for part in cell.split(other)]
                if widths[len(cells) - 1 + len(parts)] and all(
                        DECIMAL_RE.fullmatch(part) or _FRACTION_RE.fullmatch(part)
                        for part in parts):
                    raise ProblemError(
                        f"{cell!r} is not a number: its numbers are separated by {other!r}, "
                        f"the file's others by {delimiter!r}",
                        where=f"row {row_number}, column {column}", file=shown,
                        hint="separate every cell with the same character")


def _foreign_separator(cell: str) -> str | None:
    """The one character between numbers in a cell that is numbers run together by a
    separator CSV does not take (``0.5|1|2``: ``|``), else None."""
    parts = re.split(r"\s*([^\w\s.+\-/])\s*", cell.strip())
    numbers, separators = parts[::2], set(parts[1::2])
    if len(numbers) < 2 or len(separators) != 1:
        return None
    if not all(DECIMAL_RE.fullmatch(part) or _FRACTION_RE.fullmatch(part) for part in numbers):
        return None
    return separators.pop()


def _ends_every_row(rows: Iterable[list[str]]) -> bool:
    """Whether every row ends with the separator ("1,2,3,"), as spreadsheets and hand-written
    loops often write them: a last column empty in every row holds no number, so it is a
    trailing separator, not a missing cell."""
    return all(len(cells) > 1 and cells[-1] == "" for cells in rows)


def _split_rows(text: str, delimiter: str, *, strict: bool = False):
    """The rows of CSV ``text`` as lists of stripped cells: runs of spaces or tabs separate
    them when ``delimiter`` is a space (csv.reader would make empty cells of the runs)."""
    if delimiter == " ":
        return (line.split() for line in text.splitlines())
    return _csv_rows(text, delimiter, strict)


#: The csv module's longest cell while a tensor file is read: its default, 131,072
#: characters, refused a number that JSON reads whole (any number of digits).
CSV_CELL_LIMIT = 2**31 - 1  # a C long on every platform


def _csv_rows(text: str, delimiter: str, strict: bool):
    """csv.reader's rows of ``text``, cells stripped, with no limit on a cell's length but
    the text's own (the module's limit is set back when the rows are read or dropped)."""
    before = csv.field_size_limit(CSV_CELL_LIMIT)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=strict)
        for cells in reader:
            yield [cell.strip() for cell in cells]
    finally:
        csv.field_size_limit(before)


def csv_grid(lines: list[str]) -> list[list[str]]:
    """The cells of a grid of CSV lines (none blank), by the rules of a CSV tensor file: the
    separator found on the first line (runs of spaces or tabs when it has none of ``;``,
    tab, ``,``), every cell stripped, separators ending every row dropped: the columns
    empty in every row at the right of the grid, as a spreadsheet pads a narrow block of a
    wider sheet (``0.25,,,`` for a number in a sheet four columns wide)."""
    text = "\n".join(lines)
    rows = list(_split_rows(text, _sniff_delimiter(text)))
    while _ends_every_row(rows):
        rows = [cells[:-1] for cells in rows]
    return rows


def csv_cells(name: str, base_dir: pathlib.Path, *, file: str = "") -> list[str]:
    """The cells of a CSV file as text, row by row, read by the same rules as the matrix
    (its separator, blank lines and a trailing separator on every row dropped), so that the
    texts line up one to one with the values :func:`parse_tensor` reads from it."""
    records, _ = _csv_records(name, "csv", file, base_dir)
    return [cell for _, cells in records for cell in cells]


def _read_csv_stack(names: list, ref_where: str, file: str, base_dir: pathlib.Path,
                    exact: bool) -> np.ndarray:
    if not names:
        raise ProblemError("empty list of CSV files", where=ref_where, file=file)
    matrices = []
    for index, spec in enumerate(names):
        item_where = join_path(ref_where, index)
        name = _file_name(spec, "a CSV file name", item_where, file)
        matrix = _read_csv_matrix(name, item_where, file, base_dir, exact)
        if matrices and matrix.shape != matrices[0].shape:
            raise ProblemError(
                f"'{name}' is {_shape_text(matrix.shape)} but '{names[0]}' is "
                f"{_shape_text(matrices[0].shape)}; stacked matrices must have the same shape",
                where=item_where, file=file)
        matrices.append(matrix)
    return np.stack(matrices)


# --------------------------------------------------------------------------- NPY

_NPY_KIND_PROBLEMS = {
    "c": "holds complex numbers; only real numbers are supported",
    "O": "holds Python objects, which would need unpickling; save a numeric array",
    "U": "holds text; save numbers",
    "S": "holds bytes; save numbers",
    "M": "holds dates; save numbers",
    "m": "holds time spans; save numbers",
    "V": "holds records (a structured dtype); save a plain numeric array",
}


#: Where an error about a ``.npy`` file's header (its magic, dtype and shape) points; a value
#: is ``element [i,j]``, too few bytes after the header ``data``.
_NPY_HEADER = "header"


#: The starts of numpy's own messages about a header it parsed (the keys, the dtype, the
#: shape): clear as they are.  Anything else comes from the parser below them (a Python
#: syntax error, an ``ast`` node's repr with its address) and is said in words instead.
_NPY_HEADER_MESSAGES = ("Header ", "descr is not", "fortran_order is not", "shape is not",
                        "unsupported .npy format version", "EOF: reading")


def _holds_npy_files(raw: bytes) -> bool:
    """Whether the zip archive ``raw`` holds .npy files only (a NumPy .npz), not a workbook."""
    import zipfile

    try:
        names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


def _npy_header_problem(exc: Exception) -> str:
    """What is wrong with a .npy header numpy refused, for one line (``exc``: its error)."""
    text = str(exc)
    if isinstance(exc, ValueError) and text.startswith(_NPY_HEADER_MESSAGES):
        return _shorten(text, 80)
    return "not the dictionary of 'descr', 'fortran_order' and 'shape' that numpy.save writes"


def _read_npy(name: str, ref_where: str, file: str, base_dir: pathlib.Path,
              exact: bool) -> np.ndarray:
    """A ``.npy`` file, read from its header and raw data: nothing is ever unpickled."""
    raw = _read_bytes(_resolve(name, base_dir, file=file, where=ref_where), name,
                      file=file, where=ref_where)
    shown = _shown_name(name, file)
    if raw.startswith(b"PK"):
        kind = "a .npz archive" if _holds_npy_files(raw) else "a zip archive"
        raise ProblemError(f"is {kind}, not a .npy file; save one array with numpy.save",
                           where=_NPY_HEADER, file=shown)
    if not raw.startswith(b"\x93NUMPY"):
        raise ProblemError("not a NumPy .npy file", where=_NPY_HEADER, file=shown,
                           hint="write it with numpy.save(path, array)")
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):  # 3.0: 2.0's header in UTF-8 (numpy reads both)
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    except Exception as exc:  # numpy's header parser raises many kinds (even tokenize's)
        raise ProblemError(f"not a valid .npy file ({_npy_header_problem(exc)})",
                           where=_NPY_HEADER, file=shown) from None
    if any(isinstance(size, bool) or not isinstance(size, int) for size in shape):
        # (True, 3): numpy's header parser takes any literal; np.frombuffer does not
        raise ProblemError(f"not a valid .npy file (shape {shape} is not whole numbers)",
                           where=_NPY_HEADER, file=shown)
    if any(size < 0 for size in shape):
        raise ProblemError(f"not a valid .npy file (negative shape {shape})",
                           where=_NPY_HEADER, file=shown)
    if dtype.kind not in "iufb":  # booleans are 0 and 1 (a dropout mask saved from x > p)
        problem = _NPY_KIND_PROBLEMS.get(dtype.kind, f"has the unsupported dtype {dtype}")
        raise ProblemError(problem, where=_NPY_HEADER, file=shown)
    count = math.prod(shape)
    offset = stream.tell()
    if len(raw) - offset < count * dtype.itemsize:
        raise ProblemError(f"truncated .npy file: a {_shape_text(shape)} {dtype} array needs "
                           f"{count * dtype.itemsize} bytes of data, found {len(raw) - offset}",
                           where="data", file=shown)
    if count == 0:  # before the reshape: (0, 2**63 - 1) is "array is too big" to numpy
        raise ProblemError(f"empty tensor (shape {shape})", where=_NPY_HEADER, file=shown)
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    try:
        array = array.reshape(shape, order="F" if fortran_order else "C")
    except ValueError as exc:  # more axes than numpy's 64: the file's header, not memory
        raise ProblemError(f"not a valid .npy file (shape of {len(shape)} axes: "
                           f"{_shorten(str(exc), 80)})", where=_NPY_HEADER, file=shown) from None
    if dtype.kind == "b":
        array = array.astype(np.uint8)

    def element(flat_index: int) -> str:
        if not shape:
            return "the value"
        index = np.unravel_index(flat_index, shape, order="F" if fortran_order else "C")
        return f"element [{','.join(str(int(i)) for i in index)}]"

    if dtype.kind == "f":
        non_finite = np.flatnonzero(~np.isfinite(array.ravel(order="K")))
        if non_finite.size:
            bad = array.ravel(order="K")[non_finite[0]]
            raise ProblemError(f"{bad} is not a finite number (no NaN or infinity)",
                               where=element(int(non_finite[0])), file=shown)
    if exact:
        if dtype.kind == "f" and dtype.itemsize == 8:
            # (every value finite, checked above) as Python floats: the shortest decimal of
            # each, which numpy's str gives it too, read 2.4 times as fast as each element
            # through _number (10⁵ numbers: 0.34 s against 0.81; a 150×150 conv problem
            # from .npy files with --exact, written as JSON: 1.98 s against 2.28, the same
            # bytes)
            values = [_from_float(value, True) for value in array.ravel(order="K").tolist()]
        else:
            values = [_located_number(value, True, index, lambda i: (element(i), shown))
                      for index, value in enumerate(array.ravel(order="K"))]
        result = np.empty(count, dtype=object)
        result[:] = values
        return result.reshape(shape, order="F" if fortran_order else "C")
    with np.errstate(over="ignore"):
        as_float = np.array(array, dtype=np.float64, order="C")  # writable, native byte order
    # both in the file's order (the element indices count in it): as_float is C-ordered
    order = "F" if fortran_order else "C"
    values, written = as_float.ravel(order=order), array.ravel(order=order)
    too_large = np.flatnonzero(~np.isfinite(values))  # beyond 1.8e308
    if too_large.size:
        raise ProblemError(f"{str(written[too_large[0]])} is too large (beyond float64's "
                           "range, about 1.8e308)", where=element(int(too_large[0])),
                           file=shown)
    # float128 below float64's smallest: 0 in float64, an error as in JSON and CSV (and --exact)
    too_small = np.flatnonzero((values == 0) & (written != 0))
    if too_small.size:
        raise ProblemError(_too_small(str(written[too_small[0]])).what,
                           where=element(int(too_small[0])), file=shown)
    return as_float


# --------------------------------------------------------------------------- TENSOR

def _tensor_from_file_reference(reference: dict, where: str, file: str, base_dir: pathlib.Path,
                                exact: bool) -> tuple[np.ndarray, str]:
    items = [(str(key), spec) for key, spec in reference.items()]
    unknown = [key for key, _ in items if key not in TENSOR_FILE_KINDS]
    if unknown:
        raise ProblemError(f"unknown key '{unknown[0]}' in a tensor file reference",
                           where=join_path(where, unknown[0]), file=file,
                           hint=did_you_mean(unknown[0], TENSOR_FILE_KINDS))
    if not items:
        raise ProblemError('empty object; a tensor is a number, nested lists, {"csv": "file.csv"} '
                           'or {"npy": "file.npy"}', where=where, file=file)
    if len(items) > 1:
        raise ProblemError("give either 'csv' or 'npy', not both", where=where, file=file)
    kind, spec = items[0]
    ref_where = join_path(where, kind)
    if kind == "csv":
        if isinstance(spec, list):
            return _read_csv_stack(spec, ref_where, file, base_dir, exact), \
                " (each CSV file is a 2-D matrix; a list of them is 3-D)"
        name = _file_name(spec, "a CSV file name or a list of them", ref_where, file)
        return _read_csv_matrix(name, ref_where, file, base_dir, exact), \
            " (a CSV file is a 2-D matrix)"
    elif kind == "npy":
        name = _file_name(spec, "a .npy file name", ref_where, file)
        return _read_npy(name, ref_where, file, base_dir, exact), f" in {name}"
    else:
        raise ProblemError(f"unknown key '{kind}'", where=ref_where, file=file,
                           hint=did_you_mean(kind, TENSOR_FILE_KINDS))


def cell_place(value: object, where: str, index: tuple[int, ...], *, file: str,
               base_dir: pathlib.Path) -> tuple[str, str]:
    """``(file, where)`` of one element of a tensor read by :func:`parse_tensor`, for an
    error about its value (a mask entry that is not 0 or 1, a target outside [0, 1]).

    Parameters
    ----------
    value : object
        The tensor as the document writes it (nested lists, ``{"csv": ...}``, ...).
    where : str
        Its JSON path (``"layers[0].mask"``).
    index : tuple of int
        The element's index in the array :func:`parse_tensor` returned; fewer indices than
        its rank name a part of it (a row).
    file, base_dir
        As for :func:`parse_tensor`.

    Returns
    -------
    (str, str)
        Nested lists: the problem file and the JSON path of the element
        (``layers[0].mask[1][2]``); a CSV file: its name and ``row R, column C`` (``row R``
        for a whole row; a list of CSV files: the file of the first index); a ``.npy`` file:
        its name and ``element [i,j]``.
    """
    index = tuple(int(i) for i in index)
    kind, spec = next(iter(value.items())) if isinstance(value, dict) and len(value) == 1 \
        else (None, None)
    if kind == "npy" and isinstance(spec, str):
        return _shown_name(spec, file), (f"element [{','.join(map(str, index))}]" if index
                                         else "the value")
    if kind == "csv" and isinstance(spec, list) and index and index[0] < len(spec):
        spec, index = spec[index[0]], index[1:]
    if kind == "csv" and isinstance(spec, str) and not index:
        return _shown_name(spec, file), ""
    if kind == "csv" and isinstance(spec, str) and len(index) <= 2:
        records, shown = _csv_records(spec, join_path(where, "csv"), file, base_dir)
        row = f"row {records[index[0]][0]}"
        return shown, row + (f", column {index[1] + 1}" if len(index) == 2 else "")
    return file, where + "".join(f"[{i}]" for i in index)


def parse_tensor(value: object, where: str, *, file: str, base_dir: pathlib.Path,
                 exact: bool = False, min_rank: int = 0, max_rank: int = 4) -> np.ndarray:
    """Read one TENSOR of a problem document.

    Parameters
    ----------
    value : int, Decimal, str, list or dict
        What :func:`load_json_document` gave: a number, nested lists of numbers
        (elements may be strings holding a decimal or fraction), ``{"csv": name}``,
        ``{"csv": [name, ...]}`` or ``{"npy": name}``.
    where : str
        The JSON path of ``value`` (``"input"``, ``"layers[0].kernel"``); element errors
        extend it (``"input[2][3]"``).
    file : str
        The problem's display name (errors about it, and about missing tensor files).
    base_dir : pathlib.Path
        The folder relative tensor file names are resolved against.
    exact : bool
        Return Fractions in an object array instead of float64.
    min_rank, max_rank : int
        The ranks the caller accepts.

    Returns
    -------
    ndarray, float64 or object (Fraction), of the given rank
        A CSV file gives (H, W); a list of CSV files (C, H, W).

    Raises
    ------
    ProblemError
        With ``where``/``file`` naming the offending element, CSV cell or file.
        CSV and NPY content errors carry the tensor file's name as written as ``file``
        and ``row R, column C`` / ``element [i,j]`` as ``where``; a missing tensor file
        is reported in the problem file at ``<where>.csv``.
    """
    base_dir = pathlib.Path(base_dir)
    if isinstance(value, list):
        return _nested_lists_to_array(value, where, file, exact, min_rank, max_rank)
    if isinstance(value, dict):
        array, note = _tensor_from_file_reference(value, where, file, base_dir, exact)
        _check_rank(array.shape, where, file, min_rank, max_rank, note)
        return array
    if value is None or isinstance(value, bool):
        raise ProblemError(f'expected a tensor (a number, nested lists of numbers, {{"csv": ...}} '
                           f'or {{"npy": ...}}), got {_show(value)}', where=where, file=file)
    number = parse_number(value, where, file=file, exact=exact)
    _check_rank((), where, file, min_rank, max_rank)
    if exact:
        array = np.empty((), dtype=object)
        array[()] = number
        return array
    return np.array(number, dtype=np.float64)
