"""Checking a hand computation: answers as written, cell by cell, against the engine.

An answers file maps dotted paths to values::

    {"conv2d_1.grads.kernel": [[0.0446, 0.0941], [0.0113, 0.0683]], "loss": 0.26,
     "conv2d_1.delta_in[1,2]": "-0.0295"}

Values are TENSORs as in a problem file (numbers, strings such as ``"0.0446"`` or ``"1/3"``,
nested lists, ``{"csv": ...}``, ``{"npy": ...}``, file names relative to the answers file);
an answers file may also be one ``.csv`` (or ``.npy``) file named after its path
(``conv2d_1.grads.kernel.csv``).

The tolerance rule (:class:`Tolerance`): a value written with d decimals is right when it is
within half a unit of its d-th decimal of the true value, ½·10⁻ᵈ (``0.0446`` is right for
0.044606, ``0.0447`` is not); the decimals come from the text as written, so ``0.0440``
claims four and ``0`` claims none (within 0.5).  A fraction ``"p/q"`` must be exact to
10⁻¹² relative.  ``atol``/``rtol`` replace the rule by |given − true| ≤ atol + rtol·|true|.

Everything here is pure: it returns result objects (:class:`FileCheck`, :class:`TensorCheck`)
and raises :class:`~cnngrad.errors.CnnGradError` for bad input; the CLI prints.
"""

from __future__ import annotations

import codecs
import collections
import dataclasses
import difflib
import math
import os
import pathlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import (TOP_LEVEL, CnnGradError, ProblemError, ShapeError, closest,
                            first_of)
from cnngrad.file_kinds import (INDEX_TEXT, PATH_TEXT, answered_path, bracketed_key,
                                grades_format, is_problem, is_result, result_path)
from cnngrad.network import Trace
from cnngrad.problem import (MAX_INDEX_DIGITS, ONE_BASED_HINT, ZERO_BASED_HINT,
                              counted_from_one, files_named, index_outside_text,
                              reference_names, shape_text, sides_text)
from cnngrad.teach.diagnose import SlipContext, alternatives
from cnngrad.teach.grading import Grading, check_points
from cnngrad.teach.textbook_names import (input_delta_hint, parameter_hint, per_input_paths,
                                          textbook_hint, textbook_paths)
from cnngrad.tensorio import (
    DECIMAL_RE,
    TENSOR_FILE_KINDS,
    csv_cells,
    csv_grid,
    decimal_commas_hint,
    decimals_needed,
    decode_text,
    load_json_document,
    parse_tensor,
    read_source,
    reference_paths,
    references_within,
    split_at_decimal_commas,
    unread_terminal,
)

__all__ = [
    "AnswerEntry",
    "AnswerSheet",
    "Diagnosis",
    "FileCheck",
    "PathScore",
    "TensorCheck",
    "Tolerance",
    "Written",
    "answers_file_path",
    "cells_right",
    "check_file",
    "check_sheet",
    "exit_code",
    "grid_view",
    "key_text",
    "known_paths",
    "parse_written",
    "read_answers",
    "required_weights",
    "split_key",
]

#: A fraction answer must be exact to this, relative to the true value.
FRACTION_RTOL = Fraction(1, 10**12)
#: With a float (not exact) true value, the rule is widened by this much relative (and
#: FLOAT_SLACK_ATOL absolute) so that the float's own rounding never decides a verdict:
#: 0.0445 stays right for a true 0.04455 computed as 0.044550000000000006, and with --atol 0
#: 0.1 for a true 0.1 computed as 1000.1 − 1000 = 0.10000000000002274.
FLOAT_SLACK_RTOL = 1e-12
FLOAT_SLACK_ATOL = 1e-15
#: (A rule asking 12 or more significant digits, 6 decimals of 1000000.000003, is then
#: decided within 10⁻¹² of the value: a sum of a few hundred products of hundreds is off by
#: more than its half-unit in floats, 6475779.350176912 for 6475779.3501778, so no float
#: verdict can be both strict and fair there; --exact decides exactly.)
#: A value written with fewer decimals than ``min_decimals`` (but at least one) is right only
#: when it is the true value itself: "right at the decimals written but fewer than
#: min_decimals is wrong" (the contract), and an exact value (0.5 for 0.5) is not a rounding.
#: A float true value is taken as that value when within this much of it, relative to
#: max(1, |true|): the float rounding of a sum of terms, never a rounding a student makes;
#: but within no more than SHORT_EXACT_SHARE of the half-unit required (100000 is not
#: 100000.00004 at 4 decimals), and never less than FLOAT_SLACK_RTOL (56755.51229 is a true
#: 56755.51229 computed as 56755.51229000033, at 7 decimals too).  A hundredth: a sum whose
#: terms cancel is off by their rounding, not its own (1234567.89 − 1234567.34 is
#: 0.5499999998137355, and 0.55 stays right at 7 decimals).
SHORT_EXACT_RTOL = 1e-9
SHORT_EXACT_SHARE = 1e-2

#: Answer files given as a single tensor, named after the path they answer.
SINGLE_TENSOR_SUFFIXES = {".csv": "csv", ".npy": "npy"}
#: how a zip file (an .npz) starts: a local file header, or the end record of an empty one
ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")

#: a '# path' line of a CSV of blocks, with the separators a spreadsheet pads its rows with
#: (# loss,,); a path begins with a layer's name, which begins with a digit only when a
#: tensor's kind follows it (# 0.output; # 0.0660 is a note)
_PATH_LINE = re.compile(r"#\s*(loss|[A-Za-z_][^\s.\[,;]*(\.[^\s.\[,;]+)+"
                        r"|[0-9][A-Za-z0-9_\-]*\.(?:output|delta_in|delta_out|grads|updated)"
                        r"(\.[^\s.\[,;]+)*)(\[[^\]]*\])?[\s,;]*")


# --------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Tolerance:
    """When a written value counts as right.

    Parameters
    ----------
    atol, rtol : Fraction, optional
        Either one replaces the decimals rule by |given − true| ≤ atol + rtol·|true| (a
        missing one is 0).
    min_decimals : int
        The decimals rule judges a value written with fewer decimals as if it had this many
        (``--min-decimals 4``: ``0.045`` must then be within ½·10⁻⁴).  0: the rule as
        written.
    min_decimals_from : str
        Where ``min_decimals`` was set, as a report names it to the reader: the option (or
        its default) or the problem's grading block.
    """

    atol: Fraction | None = None
    rtol: Fraction | None = None
    min_decimals: int = 0
    min_decimals_from: str = "--min-decimals"

    @property
    def explicit(self) -> bool:
        return self.atol is not None or self.rtol is not None

    def describe(self) -> str:
        if self.explicit:
            return (f"|given − true| ≤ {_plain(self.atol or 0)} + {_plain(self.rtol or 0)}"
                    "·|true|")
        rule = "within half a unit of the last decimal written"
        if self.min_decimals:
            plural = "" if self.min_decimals == 1 else "s"
            rule += f", at least {self.min_decimals} decimal{plural}"
        return rule


def _plain(value: Fraction) -> str:
    return format(float(value), "g")


@dataclass
class Written:
    """Answer values as written: each exactly, with the decimals its text shows.

    All arrays have the answer's shape.
    """

    values: np.ndarray  # object: Fraction
    texts: np.ndarray  # object: str, as written
    decimals: np.ndarray  # int64: digits after the point (exponent included); 0 for p/q
    fraction: np.ndarray  # bool: written "p/q", compared to 1e-12 relative
    loose_shape: bool = False  # from a CSV: a 2-D file also stands for a vector or number
    #: bool: read from an .npy, with no text (its decimals are its float's shortest decimal,
    #: which drops the trailing zeros a rounding kept: 0.8180 saved is 0.818); None: none
    untexted: np.ndarray | None = None
    #: bool: written as a JSON number, whose trailing zeros a program's JSON writer drops
    #: (a string or a CSV cell keeps the ones typed); None: none
    numeric: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def reshaped(self, shape: tuple[int, ...]) -> Written:
        return Written(*(array.reshape(shape) for array in
                         (self.values, self.texts, self.decimals, self.fraction)),
                       untexted=None if self.untexted is None else self.untexted.reshape(shape),
                       numeric=None if self.numeric is None else self.numeric.reshape(shape))

    def read_at(self, decimals: int, truth: np.ndarray, tolerance: Tolerance) -> Written:
        """The cells with no text read at ``decimals`` decimals (at least) where they are
        right so: an .npy value stands for every decimal that writes it, trailing zeros too
        (0.818 for 0.8180).  One wrong so keeps its shortest decimal's, and is told of
        a rounding if right to those (0.8 for 0.818)."""
        if self.untexted is None or not decimals:
            return self
        raised = dataclasses.replace(self, decimals=np.where(
            self.untexted, np.maximum(self.decimals, decimals), self.decimals))
        keep = self.untexted & cells_right(raised, truth, tolerance)
        return dataclasses.replace(self, decimals=np.where(keep, raised.decimals,
                                                           self.decimals))


def cells_right(written: Written, truth: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """Whether each written value is right for the true value beside it.

    Parameters
    ----------
    written : Written (shape S)
    truth : ndarray (shape S), float64 or object (exact Fractions)
    tolerance : Tolerance

    Returns
    -------
    ndarray of bool (shape S)

    Notes
    -----
    Decimals rule: |given − true| ≤ ½·10^(−max(d, min_decimals)), and a value written with
    1 ≤ d < min_decimals decimals right only when it is the true value (of a float one,
    within its rounding: SHORT_EXACT_RTOL); a fraction:
    |given − true| ≤ 10⁻¹²·|true|; explicit: |given − true| ≤ atol + rtol·|true|.  A float
    true value widens each of them by 10⁻¹²·max(|given|, |true|) + 10⁻¹⁵, so that a value on
    the bound as written is right.  Exact true values are compared exactly
    (:func:`_cells_right_exact`).
    """
    truth = np.asarray(truth)
    if truth.dtype == object:
        return _cells_right_exact(written, truth, tolerance)
    given = np.fromiter((float(v) for v in written.values.reshape(-1)), dtype=np.float64,
                        count=written.values.size).reshape(written.shape)
    true = truth.astype(np.float64, copy=False)
    error = np.abs(given - true)
    if tolerance.explicit:
        allowed = float(tolerance.atol or 0) + float(tolerance.rtol or 0) * np.abs(true)
    else:
        decimals = np.maximum(written.decimals, tolerance.min_decimals).astype(np.float64)
        allowed = np.where(written.fraction, float(FRACTION_RTOL) * np.abs(true),
                           0.5 * 10.0 ** -decimals)
    # 1.01 is 0.010000000000000009 from 1 in floats: on the bound, as written, is right
    slack = FLOAT_SLACK_RTOL * np.maximum(np.abs(given), np.abs(true))
    right = error <= allowed + slack + FLOAT_SLACK_ATOL
    short = _short(written, tolerance)
    if short.any():  # right only as the true value itself, up to the float's rounding
        size = np.maximum(1.0, np.abs(true))
        required = 0.5 * 10.0 ** -float(tolerance.min_decimals)
        itself = np.maximum(FLOAT_SLACK_RTOL * size,
                            np.minimum(SHORT_EXACT_RTOL * size, SHORT_EXACT_SHARE * required))
        right &= ~short | (error <= itself + FLOAT_SLACK_ATOL)
    return right


def _short(written: Written, tolerance: Tolerance) -> np.ndarray:
    """The cells written with fewer decimals than ``min_decimals`` (not fractions, not
    under --atol/--rtol), an integer (``1``, no decimals) too: right only when exact, as the
    contract words it ("right at the decimals written but fewer than min_decimals is
    wrong"): ``1`` for 0.996 at 2 decimals is a rounding, ``0`` for 0 the value itself."""
    if tolerance.explicit or not tolerance.min_decimals:
        return np.zeros(written.shape, dtype=bool)
    return ~written.fraction & (written.decimals < tolerance.min_decimals)


def _cells_right_exact(written: Written, truth: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """:func:`cells_right` in exact arithmetic, one cell at a time (the reference)."""
    out = np.zeros(written.shape, dtype=bool)
    short = _short(written, tolerance)
    for index in np.ndindex(*written.shape):
        given, true = written.values[index], Fraction(truth[index])
        if short[index]:  # fewer decimals than required: right only as the value itself
            out[index] = given == true
            continue
        out[index] = abs(given - true) <= _allowed_exact(
            true, int(written.decimals[index]), bool(written.fraction[index]), tolerance)
    return out


def _allowed_exact(true: Fraction, decimals: int, fraction: bool,
                   tolerance: Tolerance) -> Fraction:
    if tolerance.explicit:
        return (tolerance.atol or 0) + (tolerance.rtol or 0) * abs(true)
    if fraction:
        return FRACTION_RTOL * abs(true)
    decimals = max(decimals, tolerance.min_decimals)
    return Fraction(1, 2 * 10**decimals) if decimals >= 0 else Fraction(10**-decimals, 2)


# --------------------------------------------------------------------------- reading answers


@dataclass(frozen=True)
class AnswerEntry:
    """One key of an answers file: a whole tensor or one element of it."""

    key: str  # as written ("conv2d_1.grads.kernel[0,1]")
    path: str  # the tensor ("conv2d_1.grads.kernel")
    index: tuple[int, ...] | None  # the element, or None for the whole tensor
    written: Written
    file: str  # where errors about it point
    where: str | None
    base: int = 0  # the index as written counts from this (1 with --one-based)
    #: what in the file gives it, when not the key itself: a tensor with null cells
    #: ("'conv2d_1.grads.kernel'"), a block of a CSV ("the block at line 5 ('# path')")
    given_as: str | None = None
    within: str | None = None  # the key of the object of tensors that holds it, if one does
    #: a cell of a value with null cells: that value (its nulls as 0), whose shape is the
    #: tensor's (or its part's) as a value without nulls must be
    holder: "AnswerEntry | None" = None
    #: the file its value is read from, when the answers file names one ({"csv": "k.csv"})
    source: str | None = None


@dataclass
class AnswerSheet:
    """One answers file, read but not yet held against a problem."""

    file: str
    entries: list[AnswerEntry]
    input_files: list[pathlib.Path] = field(default_factory=list)


#: A key or index longer than this is shown cut short in a message: one line, not 40 KB.
SHOWN_KEY_CHARS = 80


def shown_key(key: str) -> str:
    """A key of an answers file as a message shows it: whole up to :data:`SHOWN_KEY_CHARS`
    characters, else cut short with ``...``."""
    return key if len(key) <= SHOWN_KEY_CHARS else key[:SHOWN_KEY_CHARS - 3] + "..."


def split_key(key: str, *, file: str | None, where: str | None = None,
              one_based: bool = False) -> tuple[str, tuple | None]:
    """``"conv2d_1.grads.kernel[0,1]"`` → (``"conv2d_1.grads.kernel"``, (0, 1)).

    ``[0][1]`` is read as ``[0,1]``; indices count from 0, or from 1 with ``one_based``
    (``[1,2]`` is then returned as (0, 1))."""
    text = key.strip()
    base, bracket, rest = text.partition("[")
    base = base.strip()
    where = where and shown_key(where)
    if not PATH_TEXT.fullmatch(base):
        textbook = textbook_paths(base, [])  # dE/dW: the problem's paths are not known here
        bracketed = bracketed_key(text)  # kernel(0,1)
        raise ProblemError(f"'{shown_key(key)}' is not a dotted path such as "
                           f"conv2d_1.grads.kernel", where=where, file=file,
                           hint=textbook and f"{base} reads as {textbook[0]}: write it under "
                                             f"its path, which cnngrad backward names"
                           or bracketed and f"an element's index goes in brackets: "
                                            f"{shown_key(bracketed)}")
    if not bracket:
        return base, None
    index_text = shown_key("[" + rest)
    first = 1 if one_based else 0
    element = f"write an element as {base}[{first},{first + 1}] (indices from {first})"
    # the shape is not known here: the hints say how a number and an element are written
    either = f"{element}, or {base} alone when it is a single number"
    if re.fullmatch(r"\s*\]\s*", rest):  # explain reads no `[]` either
        raise ProblemError(f"empty element index '{index_text}'", where=where, file=file,
                           hint=either)
    if not INDEX_TEXT.fullmatch("[" + rest):
        raise ProblemError(f"bad element index '{index_text}'", where=where, file=file,
                           hint=element)
    numbers = re.findall(r"[+-]?\d+", "[" + rest, re.ASCII)
    if any(len(number.lstrip("+-")) > MAX_INDEX_DIGITS for number in numbers):  # int() stops
        raise ProblemError(f"index '{index_text[:40]}…' is outside any tensor (an index of "
                           f"more than {MAX_INDEX_DIGITS:,} digits)", where=where, file=file,
                           hint=either)
    index = tuple(int(i) for i in numbers)
    if any(i < first for i in index):
        if one_based and min(index) == 0:  # a 0-based file (or template) read --one-based
            raise ProblemError(f"index 0 in '{index_text}' is out of range", where=where,
                               file=file, hint=ZERO_BASED_HINT)
        hint = ("with --one-based indices count from 1" if one_based else
                "indices count from 0 and cannot be negative")
        raise ProblemError(f"negative index in '{index_text}'", where=where, file=file,
                           hint=hint)
    return base, tuple(i - first for i in index)


def key_text(key: str, base: int = 0) -> str:
    """A key of the grading block as a report counting from ``base`` shows it.

    The block's keys count from 0, as everything in a problem file does; a run with
    ``--one-based`` shows every index from 1, these too: ``conv2d_1.grads.kernel[0,1]`` is
    ``conv2d_1.grads.kernel[1,2]`` with ``base`` 1. Only the numbers change, the key stays as
    written (``[0][1]`` is ``[1][2]``); a key without an index is itself."""
    path, bracket, index = key.partition("[")
    if not base or not bracket:
        return key
    return path + bracket + re.sub(r"\d+", lambda number: str(int(number.group()) + base),
                                   index, flags=re.ASCII)


def _texts(raw: bytes):
    """A file's text for the search of its names: in the encoding JSON's reader takes it in
    (UTF-8, or UTF-16 or -32 by their zero bytes or mark), bytes that are not that encoding
    kept as they are (a name's bytes are the file's name on disk), and, where it is no UTF-8,
    read as Latin-1 too (an editor's ``laté.npy`` is the UTF-8 name of the file on disk):
    one text at a time."""
    import json

    encoding = json.detect_encoding(raw)
    try:
        text = raw.decode(encoding, errors="surrogateescape")
    except UnicodeDecodeError:  # UTF-16 or -32 cut in the middle of a character
        text = raw.decode(encoding, errors="replace")
    latin = encoding.startswith("utf-8") and re.search("[\udc80-\udcff]", text)
    yield text
    if latin:
        del text
        yield raw.decode("latin-1")


#: JSON's short escapes, for a name holding one of their characters
_SHORT_ESCAPES = {"\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}


def _spelled(names: Iterable[str]) -> re.Pattern:
    r"""Any of ``names`` as a text that is no JSON may hold it: each character as itself or
    as a JSON escape (``\u0065``, ``\"``, ``\t``), in either case (a file system may not
    tell them apart), a backslash before another, before ``\uXXXX`` or at the end only as
    written (the whole name then one more spelling), not in the middle of a longer name
    (``data.csv`` holds no ``a.csv``; after an escape it may start: ``sub\u002fk.csv``).
    One pattern for them all: one search of the text, however many names."""
    def escapes(character: str) -> list[str]:
        units = character.encode("utf-16-be", "surrogatepass")
        return ["".join(rf"\\u{int.from_bytes(units[k:k + 2], 'big'):04x}"
                        for k in range(0, len(units), 2))]

    def one(character: str) -> str:
        cases = {character, character.lower(), character.upper()}
        # a backslash alone only where no escape begins with it (``sub\users.csv``, not
        # ``\\`` or ``\u005c``): else a run of them would be matched in exponentially many
        # ways
        spelled = [r"\\(?!\\|u[0-9a-f]{4})" if character == "\\" else re.escape(character)]
        spelled += [escape for case in sorted(cases) if len(case) == 1
                    for escape in escapes(case)]
        if character in "\"'\\/":
            spelled.append(rf"\\{re.escape(character)}")
        if character in _SHORT_ESCAPES:
            spelled.append(rf"\\{_SHORT_ESCAPES[character]}")
        return f"(?:{'|'.join(spelled)})"

    def spellings(name: str) -> list[str]:
        # a name whose backslash comes before another, a \uXXXX or its end: also as
        # written, whole
        whole = re.search(r"\\(?:\\|u[0-9a-f]{4}|$)", name, re.IGNORECASE) is not None
        return ["".join(map(one, name))] + ([re.escape(name)] if whole else [])

    either = "|".join(spelling for name in sorted(names, key=len, reverse=True)
                      for spelling in spellings(name))
    return re.compile(rf"(?:(?<![\w.\-])|(?<=\\u[0-9a-f]{{4}}))(?:{either})(?![\w.\-])",
                      re.IGNORECASE)


def _may_name(raw: bytes, names: Iterable[str]) -> bool:
    """Whether a text that is no JSON holds any of the file names ``names`` anywhere: what
    its reader would read cannot be told from a text JSON's reader does not read (a stray
    quote makes every later key the inside of a string), so any mention counts.  One search
    of the text in each encoding it may be in (:func:`_texts`): a time proportional to its
    length (and to the names' length)."""
    pattern = _spelled(names)
    return any(pattern.search(text) is not None for text in _texts(raw))


#: The links :func:`_links_to` looks for: at most this many entries of a folder's tree, and
#: at most this many links leading to the file (each is a name the search looks for)
LINKS_MOST_ENTRIES = 100_000
LINKS_MOST_FOUND = 64


def _links_to(target: str, folder: str) -> set[str]:
    """The names of the links under ``folder`` that lead to the file ``target`` (resolved),
    through other links too, and through links to folders (each folder once; the folder's
    own tree first, breadth first, then the folders its links lead to elsewhere): an answers
    file may name one (``{"csv": "alias.csv"}``).  At most :data:`LINKS_MOST_ENTRIES`
    entries are looked at and :data:`LINKS_MOST_FOUND` links kept; a folder that cannot be
    listed is not looked into."""
    names: set[str] = set()
    inside, elsewhere = collections.deque([folder]), collections.deque()
    seen, entries_seen = {folder}, 0
    while inside or elsewhere:
        try:
            with os.scandir((inside or elsewhere).popleft()) as entries:
                for entry in entries:
                    entries_seen += 1
                    if entries_seen > LINKS_MOST_ENTRIES or len(names) >= LINKS_MOST_FOUND:
                        return names
                    if entry.is_symlink():
                        real = os.path.realpath(entry.path)
                        if real == target:
                            names.add(entry.name)
                            continue
                        if real in seen or not os.path.isdir(real):
                            continue
                    elif entry.is_dir(follow_symlinks=False):
                        real = entry.path  # its folder is resolved: so is it
                        if real in seen:  # reached through a link before
                            continue
                    else:
                        continue
                    seen.add(real)
                    (inside if _inside(real, folder) else elsewhere).append(real)
        except OSError:
            continue
    return names


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` (resolved) lies in ``folder`` (resolved): by its letters, or, with
    letters of another case, where the system takes both spellings for the one folder (a
    file system that does not tell case apart)."""
    path, folder = os.path.join(path, ""), os.path.join(folder, "")
    if path.startswith(folder):
        return True
    if not path.casefold().startswith(folder.casefold()):
        return False
    try:
        return os.path.samefile(path[:len(folder)], folder)
    except (OSError, ValueError):
        return False


def _names_in_json(raw: bytes) -> list[str] | None:
    """The names of every ``"csv": ...`` and ``"npy": ...`` of a JSON document, at any depth,
    read leniently (every key of an object kept, numbers as text); None for a text that is
    no JSON to Python's reader."""
    import json

    class Pairs(list):
        """An object's (key, value) pairs, a key given twice kept twice."""

    try:  # numbers kept as text: none is too long or too odd to read
        document = json.loads(raw, object_pairs_hook=Pairs, parse_int=str, parse_float=str,
                              parse_constant=str)
    except (ValueError, RecursionError):  # no JSON to Python's reader (or nested too deep)
        return None
    names: list[str] = []
    pending = [document]  # by hand, not recursion: a document nests as deep as it likes
    while pending:
        value = pending.pop()
        if isinstance(value, Pairs):
            for key, item in value:
                if key in ("csv", "npy"):
                    names += reference_names({key: item})
                pending.append(item)
        elif isinstance(value, list):
            pending += value
    return names


def files_an_answers_file_names(path: str, output: str,
                                stdin_bytes: bytes | None = None) -> list[str]:
    """The files an answers file's ``{"csv": ...}`` or ``{"npy": ...}`` names in its folder
    (the files its reader would read; a name outside the folder it refuses), found in its
    JSON whatever else it holds: what -o (``output``) must never write over, for a file whose
    reading stopped at an error (an unknown key, a missing file, a NaN, a key given twice) or
    that was never read (a submission refused as a whole).  Read leniently, for the names
    alone (:func:`_names_in_json`); a text that is no JSON (single quotes, comments, a lost
    quote, nested too deep) names ``output`` where it holds its file name anywhere
    (:func:`_may_name`): the name -o gives, the file's own where -o is a link, or that of
    a link in the answers file's folder that leads to it (:func:`_links_to`)."""
    if stdin_bytes is None and path != "-" and unread_terminal(path):
        return []  # a refused submission's: its refusal does not wait for what is typed
    try:
        raw, _, base_dir = read_source(path, stdin_bytes)
    except (CnnGradError, OSError):
        return []
    names = _names_in_json(raw)
    if names is not None:
        return reference_paths(list(dict.fromkeys(names)), base_dir)
    try:  # as the system resolves them (``link/../k.csv`` too)
        target, folder = os.path.realpath(output), os.path.realpath(base_dir)
    except (OSError, ValueError):  # a NUL in the name: no file
        return []
    if not _inside(target, folder):  # not a file the reader would read
        return []
    spellings = ({os.path.basename(os.path.abspath(output)), os.path.basename(target)}
                 | _links_to(target, folder)) - {""}
    return [target] if spellings and _may_name(raw, spellings) else []


def read_answers(path: str, *, stdin_bytes: bytes | None = None,
                 one_based: bool = False, trace: Trace | None = None) -> AnswerSheet:
    """Read an answers file: JSON ``{path: TENSOR}``, a ``<path>.csv``/``<path>.npy``, or a
    CSV of ``# path`` blocks as ``backward --format csv`` writes them.

    Parameters
    ----------
    path : str
        The file as the user typed it, ``-`` for standard input (JSON).
    one_based : bool
        Element indices in keys (and CSV block names) count from 1.
    trace : Trace, optional
        The problem the file answers: every key is then held against its paths before any
        value is read, so that a key that names none of them (``"comment": "I rotated the
        kernel"``) is an unknown path, not a value that is not a number.

    Raises
    ------
    ProblemError
        Not JSON, not an object, a cnngrad ``--format json`` result, a key that is not a
        dotted path, with ``trace`` a key that names none of its paths, a value that is not
        a TENSOR (each naming the file and the key), a ``{"csv": ...}`` naming a file
        outside the answers file's folder (a student's file must not make the grader read
        one elsewhere).
    """
    raw, file, base_dir = read_source(path, stdin_bytes)
    with references_within(base_dir):
        return _read_answers(path, raw, file, base_dir, one_based, trace)


def _read_answers(path: str, raw: bytes, file: str, base_dir: pathlib.Path, one_based: bool,
                  trace: Trace | None) -> AnswerSheet:
    source = pathlib.Path(path)
    if raw.startswith(ZIP_STARTS) or (path != "-" and source.suffix.lower() == ".npz"):
        # backward -o result.npz is the likely one, or a spreadsheet's workbook (a zip too):
        # say what an answers file is, not that the bytes are not UTF-8
        # Excel's parts are under xl/ (a Word file has [Content_Types].xml too); an .ods says
        # its kind in its first entry
        workbook = source.suffix.lower() in (".xlsx", ".xlsm", ".ods") or b"xl/workbook" in \
            raw[:65536] or b"opendocument.spreadsheet" in raw[:2048]
        npz = source.suffix.lower() == ".npz" or b".npy" in raw[:65536]
        raise ProblemError(
            "a spreadsheet workbook is not an answers file" if workbook else
            "an .npz file is not an answers file" if npz else
            "a zip archive is not an answers file", file=file,
            hint=("save the sheet as CSV (File › Save As › CSV), one file per path named "
                  "after it (conv2d_1.grads.kernel.csv), or a CSV of '# path' blocks "
                  "(backward --format csv writes a template)") if workbook else
                 ("an answers file is JSON mapping dotted paths to values, a CSV of '# path' "
                  "blocks (backward --format csv writes a template) or one .csv/.npy file "
                  "named after the path it answers (conv2d_1.grads.kernel.npy)"))
    kind = SINGLE_TENSOR_SUFFIXES.get(source.suffix.lower()) if path != "-" else None
    if kind == "csv" and _first_line(raw).startswith("#"):
        return AnswerSheet(file=file, entries=_csv_blocks(raw, file, one_based, trace),
                           input_files=[source])
    if kind == "csv" and _first_line(raw).startswith(GRADEBOOK_CSV_START):
        raise _grades_not_answers("check --format csv", file, "row 1")
    if kind == "csv":
        _refuse_rows_before_the_first_path(raw, file, trace)
    if kind is not None:
        key = source.name[:-len(source.suffix)]
        whole, index = split_key(key, file=file, one_based=one_based)
        if index is not None:
            raise _element_named_file(trace, key, whole, index, kind, file, one_based)
        _refuse_unknown_paths(trace, [(key, key, file)])
        with references_within(None):  # the file named on the command line (a link too)
            written = parse_written({kind: source.name}, key, file=file, base_dir=base_dir,
                                    base=int(one_based))
        entry = AnswerEntry(key=key, path=key, index=None, written=written, file=file,
                            where=None, base=int(one_based))
        return AnswerSheet(file=file, entries=[entry], input_files=[source])

    try:
        document = load_json_document(raw, file, keep_text=True)
    except ProblemError as error:
        raise _csv_read_as_json(error, raw, path) from None
    if not isinstance(document, dict):
        raise ProblemError('an answers file is a JSON object {"dotted.path": value, ...}',
                           where=TOP_LEVEL, file=file,
                           hint='e.g. {"conv2d_1.grads.kernel": [[0.0446, 0.0941], '
                                '[0.0113, 0.0683]]}')
    if is_result(document):
        command = "backward" if any(isinstance(layer, dict) and "delta_out" in layer
                                    for layer in document["layers"]) else "forward"
        raise ProblemError(f"this is a cnngrad result ({command} --format json), not an "
                           f"answers file", where=TOP_LEVEL, file=file,
                           hint='an answers file maps dotted paths to values, e.g. '
                                '{"conv2d_1.grads.kernel": [[0.0446, 0.0941], [0.0113, '
                                '0.0683]]}; to test your own layer code, use cnngrad verify')
    made_by = grades_format(document)
    if made_by is not None:
        raise _grades_not_answers(made_by, file, TOP_LEVEL)
    if is_problem(document):  # a student's problem.json handed in, or globbed with the rest
        raise ProblemError("this is a problem file, not an answers file", where=TOP_LEVEL,
                           file=file,
                           hint="an answers file maps dotted paths to values, as the answers "
                                "template does: {\"conv2d_1.grads.kernel\": [[0.0446, "
                                "0.0941], [0.0113, 0.0683]]}")
    entries = []  # none at all is 0 points when a grading block requires paths
    files = [source] if path != "-" else []
    # "loss": null answers nothing, as a null cell does, in every problem: it is how the
    # result of a problem that gives the delta writes its loss (a number there is an error)
    dotted = [item for item in _dotted_items(document)
              if not (item[1] is None and item[0].strip() == "loss")]
    items = [(key, value) for key, value, _ in dotted]
    origins = [origin for _, _, origin in dotted]
    # every key before any value: a key that names no path is that, whatever its value
    # (a blank key is placed at the object that holds it, as an empty one is: no blank
    # <where>)
    keys = [split_key(key, file=file, where=key if key.strip() else TOP_LEVEL,
                      one_based=one_based) for key, _ in items]
    _refuse_unknown_paths(trace, [(tensor_path, shown_key(key), file)
                                  for (key, _), (tensor_path, _) in zip(items, keys)])
    for (key, value), origin, (tensor_path, index) in zip(items, origins, keys):
        files += files_named(value, base_dir)
        cells = []
        for cell_key, cell_index, cell in _filled(key, tensor_path, index, value, one_based):
            written = parse_written(cell, cell_key, file=file, base_dir=base_dir,
                                    base=int(one_based))
            cells.append(AnswerEntry(key=cell_key, path=tensor_path, index=cell_index,
                                     written=written, file=file, where=cell_key,
                                     base=int(one_based),
                                     given_as=None if cell_key == key else f"'{key}'",
                                     within=None if origin == key else origin,
                                     source=", ".join(reference_names(cell)) or None))
        if isinstance(value, list) and cells and cells[0].key != key:  # null cells
            # ragged, or of another shape than the tensor's, with nulls as without them
            holder = AnswerEntry(key=key, path=tensor_path, index=index, file=file, where=key,
                                 written=parse_written(_nulls_as_zero(value), key, file=file,
                                                       base_dir=base_dir, base=int(one_based)),
                                 base=int(one_based))
            cells = [dataclasses.replace(cell, holder=holder) for cell in cells]
        entries += cells
    return AnswerSheet(file=file, entries=entries, input_files=files)


def _csv_read_as_json(error: ProblemError, raw: bytes, path: str) -> ProblemError:
    """``error`` (an answers file that is not JSON) with a hint for an answers file when
    it holds CSV text: standard input and a file not named ``.csv`` are read as JSON, so a
    CSV there is not a problem given as CSV (the hint JSON reading gives) nor a comment.
    A file that is not text at all (UTF-16 or -32, a zip, a program: NUL bytes) keeps the
    reader's words; text in another encoding (Latin-1) is still looked at."""
    if b"\0" in raw:
        return error
    first = _first_line(raw)
    if _PATH_LINE.fullmatch(first):
        what, name = "a CSV of '# path' blocks", "any name ending in .csv"
    elif first and first[0] not in "{[\"" and re.fullmatch(r"[\s\d.,;eE+\-/]+", first):
        what, name = "a CSV table", "named after the path it answers, conv2d_1.grads.kernel.csv"
    elif first and first[:1] not in set('{["-0123456789') and not first.startswith(
            ("true", "false", "null")):
        # notes, YAML, a plain-text write-up: no JSON value starts so; the hint JSON's own
        # reading gives (what a JSON value is) does not say what an answers file is
        shown = first if len(first) <= 30 else first[:29] + "…"
        error.hint = (f"this is not JSON (it begins {shown!r}): an answers file is JSON "
                      "mapping dotted paths to values, {\"conv2d_1.grads.kernel\": [[0.0446, "
                      "0.0941], [0.0113, 0.0683]]}, a CSV of '# path' blocks (backward "
                      "--format csv writes a template) or one .csv/.npy file named after the "
                      "path it answers")
        return error
    else:
        return error
    where = "standard input" if path == "-" else "a file not named .csv"
    error.hint = (f"this looks like {what}, and {where} is read as JSON: save it as a .csv "
                  f"file ({name})")
    return error


#: A file larger than this is not looked at as a possible answers file (see
#: :func:`answers_file_path`): answers files are small, a big problem file is not one.
ANSWERS_LOOK_BYTES = 8 * 2**20


def answers_file_path(path: str) -> str | None:
    """The first result path the file at ``path`` answers (``conv2d_1.grads.kernel``) when it
    looks like an answers file, else None: a JSON object whose keys are dotted result paths
    (``loss`` besides), a ``.csv``/``.npy`` named after one, or a CSV of ``# path`` blocks.

    Asked about a file that failed to read as something else (``check``'s PROBLEM, to tell
    that the problem and the answers were given in the wrong order); it never raises, and
    a file it cannot read, standard input or a big file are not answers files to it."""
    import json

    if path == "-":
        return None
    source = pathlib.Path(path)
    try:
        if not source.is_file() or source.stat().st_size > ANSWERS_LOOK_BYTES:
            return None
        kind = SINGLE_TENSOR_SUFFIXES.get(source.suffix.lower())
        if kind is not None:
            first = _first_line(source.read_bytes()) if kind == "csv" else ""
            key = first[1:].strip() if first.startswith("#") else source.name[
                :-len(source.suffix)]
            return result_path(key)
        document = json.loads(source.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None
    return answered_path(document) if isinstance(document, dict) else None


#: How check's CSV gradebook starts (its header), which no answers CSV does.
GRADEBOOK_CSV_START = "student,file,status,"


def _grades_not_answers(made_by: str, file: str, where: str) -> ProblemError:
    return ProblemError(f"this is a grade report ({made_by}), not an answers file",
                        where=where, file=file,
                        hint="leave check's -o out of the answers files given (write it "
                             "outside the submissions' folders)")


def _dotted_items(document: dict) -> list[tuple[str, Any, str]]:
    """(dotted key, value, the file's own key) of an answers file, an object of tensors read
    as the paths under its key: ``{"add_1.delta_in": {"relu_1": ...}}`` is
    ``add_1.delta_in.relu_1`` (under the key ``add_1.delta_in``), as ``--format json`` nests
    ``delta_in`` per input and ``grads`` per parameter.  An object that is (or looks like a
    misspelt) ``{"csv": ...}``/``{"npy": ...}`` stays a tensor."""
    items = []
    for key, value in document.items():
        if isinstance(value, dict) and value and not any(
                difflib.get_close_matches(str(name).lower(), TENSOR_FILE_KINDS, cutoff=0.6)
                for name in value):
            items += [(f"{key}.{name}", sub, key) for name, sub, _ in _dotted_items(value)]
        else:
            items.append((key, value, key))
    return items


def _filled(key: str, path: str, index: tuple | None, value: Any, one_based: bool) -> list:
    """(key, index, value) of what an answers-file value answers: the value itself, or, when
    it holds ``null`` cells (an answers template not filled in everywhere), each other cell
    as an element of its own; a ``null`` cell is not answered."""
    def nulls(item) -> bool:
        return item is None or (isinstance(item, list) and any(nulls(sub) for sub in item))

    if not nulls(value):
        return [(key, index, value)]
    cells = []

    def walk(item, at: tuple) -> None:
        if isinstance(item, list):
            for i, sub in enumerate(item):
                walk(sub, at + (i,))
        elif item is not None:
            cell_index = (index or ()) + at
            shown = ",".join(str(i + int(one_based)) for i in cell_index)
            cells.append((f"{path}[{shown}]" if cell_index else path, cell_index or None, item))

    walk(value, ())
    return cells


def _nulls_as_zero(value: Any) -> Any:
    """``value`` with each null as 0, or, among lists, as its first list sibling with every
    cell 0 (a null channel of a C×H×W delta is a whole H×W part not answered)."""
    if not isinstance(value, list):
        return 0 if value is None else value
    items = [_nulls_as_zero(item) if item is not None else None for item in value]
    like = next((item for item in items if isinstance(item, list)), None)
    return [_zeros_like(like) if item is None else item for item in items]


def _zeros_like(value: Any) -> Any:
    return [_zeros_like(item) for item in value] if isinstance(value, list) else 0


#: What separates the cells of a CSV, and spaces: a line of them alone holds no cell.
CSV_SEPARATORS = ",;\t "


def _refuse_rows_before_the_first_path(raw: bytes, file: str, trace: Trace | None) -> None:
    """A CSV of ``# path`` blocks whose first rows come before its first block: those rows
    answer no path (read as one tensor named after the file, it was 'unknown path').  A
    block is a ``# path`` line naming a tensor of ``trace`` with rows under it; other ``#``
    lines (a note, np.savetxt's header or footer) are skipped, as they are in any CSV.
    Without a trace (a file no problem is known for yet) nothing is refused."""
    if trace is None:
        return
    try:
        lines = raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:  # the tensor reader says where
        return
    numbered = [(number, line.strip()) for number, line in enumerate(lines, 1)
                if line.strip(CSV_SEPARATORS)]
    rows = [number for number, line in numbered if not line.startswith("#")]
    paths = [(number, match.group(1)) for number, line in numbered
             if (match := _PATH_LINE.fullmatch(line))]
    if not rows or not paths:  # a grid alone, the common case: the paths are not listed
        return
    known = set(known_paths(trace))
    header = next((number for number, path in paths if path in known and rows[-1] > number),
                  None)
    if header is not None and rows[0] < header:
        raise ProblemError(f"rows before the first '# path' line (line {header}) answer no "
                           f"path", where=f"line {rows[0]}", file=file,
                           hint="in a CSV of '# path' blocks each grid goes under the line "
                                "naming its path: add one above these rows, or delete them")


def _first_line(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # a sheet saved as "Unicode text" (UTF-16 with its mark): its '# path' line is seen,
        # and the reader of blocks says what to save it as; a Latin-1 file's 'élève' quoted
        # as such in a hint
        utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        text = raw.decode("utf-16" if utf16 else "cp1252", errors="replace")
    # a line of separators alone is blank, as a spreadsheet saves an empty first row (,,)
    return next((line.strip() for line in text.splitlines() if line.strip(CSV_SEPARATORS)),
                "")


def _csv_blocks(raw: bytes, file: str, one_based: bool,
                trace: Trace | None) -> list[AnswerEntry]:
    """A CSV of blocks, each a ``# path`` line (a tensor, or ``# path[i]``/``# path[n,c]``
    for one matrix of a bigger tensor) and the rows of its grid; blank lines between.
    Every block's path is held against ``trace`` (when given) before any grid is read.
    A separator ending a ``# path`` line is dropped and a line of separators alone is blank,
    as a spreadsheet saves them (``# conv2d_1.grads.kernel,``, ``,,``)."""
    # as a tensor file: a NUL or bytes that are not UTF-8 are the file's line and column
    text = decode_text(raw, file=file)
    blocks: list[tuple[str, int, list[str], list[int]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            blocks.append((stripped[1:].rstrip(CSV_SEPARATORS).strip(), number, [], []))
        elif stripped.strip(CSV_SEPARATORS):
            blocks[-1][2].append(stripped)
            blocks[-1][3].append(number)
    keys = [split_key(key, file=file, where=f"line {number}", one_based=one_based)
            for key, number, _, _ in blocks]
    _refuse_unknown_paths(trace, [(tensor_path, f"line {number}: {key}", file) for
                                  (key, number, _, _), (tensor_path, _) in zip(blocks, keys)])
    entries = []
    for (key, number, lines, line_numbers), (tensor_path, index) in zip(blocks, keys):
        where = f"line {number}: {key}"
        if not lines:
            raise ProblemError(f"block '{key}' has no rows", where=f"line {number}", file=file)
        rows = _unevenly_padded(csv_grid(lines))
        try:
            written = parse_written(rows, where, file=file)
        except ProblemError as error:
            raise _at_grid_line(error, where, key, line_numbers) from None
        written.loose_shape = True  # a grid also stands for a vector or a number
        entries.append(AnswerEntry(key=key, path=tensor_path, index=index, written=written,
                                   file=file, where=where, base=int(one_based),
                                   given_as=f"the block at line {number} ('# {key}')"))
    return entries


def _unevenly_padded(rows: list[list[str]]) -> list[list[str]]:
    """A block's rows without the empty cells that end them, when that alone makes the grid
    rectangular (``0.0446,0.0941,,,`` over ``0.0113,0.0683,``: padded by hand, unevenly);
    else the rows as they are, so a cell left empty in one row is still named as such.  The
    block must still have its tensor's shape: no cell is made up."""
    def unpadded(cells: list[str]) -> list[str]:
        end = len(cells)
        while end > 1 and cells[end - 1] == "":
            end -= 1
        return cells[:end]

    if len({len(cells) for cells in rows}) == 1:
        return rows
    stripped = [unpadded(cells) for cells in rows]
    return stripped if len({len(cells) for cells in stripped}) == 1 else rows


def _at_grid_line(error: ProblemError, where: str, key: str,
                  line_numbers: list[int]) -> ProblemError:
    """``error`` about row r (and cell c) of a block's grid, located at the line the row is
    on and the cell's column (``line 3, column 2: conv2d_1.grads.kernel``), not at the
    block's ``# path`` line with grid indices after the path (which read as the tensor's
    indices when the block is one matrix of a bigger tensor, ``# path[1]``)."""
    match = re.fullmatch(re.escape(where) + r"\[(\d+)\](?:\[(\d+)\])?", error.where or "")
    if match and int(match[1]) < len(line_numbers):
        row, cell = int(match[1]), match[2]
        line = f"line {line_numbers[row]}" + (f", column {int(cell) + 1}" if cell else "")
        error.where = f"{line}: {key}"
    return error


def parse_written(value: Any, where: str, *, file: str,
                  base_dir: pathlib.Path = pathlib.Path("."), base: int = 0) -> Written:
    """One TENSOR of an answers file, with the decimals of every value as written.

    Parameters
    ----------
    value : int, Decimal, str, list or dict
        As :func:`~cnngrad.tensorio.load_json_document` gave it (a float is read as its
        shortest repr); ``{"csv": ...}`` cells keep their text too.
    where, file, base_dir
        As for :func:`~cnngrad.tensorio.parse_tensor`.
    base : int
        What an error's element indices count from (1 with ``--one-based``): the list
        positions after ``where`` (``conv2d_1.delta_in[2][2]``) and a .npy's ``element
        [i,j]``.  A CSV's rows and columns count from 1 either way.
    """
    try:
        values = parse_tensor(value, where, file=file, base_dir=base_dir, exact=True)
    except ProblemError as error:
        raise _counted_from(error, where, base)
    if isinstance(value, dict) and "csv" in value:
        names = value["csv"] if isinstance(value["csv"], list) else [value["csv"]]
        leaves = [cell for name in names for cell in csv_cells(name, base_dir, file=file)]
        infos = [_text_info(cell) for cell in leaves]
    elif isinstance(value, dict):  # npy: no text, so the shortest decimal of each value
        infos = [_fraction_info(v) for v in values.reshape(-1)]
    else:
        infos = [_leaf_info(leaf) for leaf in _leaves(value)]
    if len(infos) != values.size:  # parse_tensor validated the same leaves
        raise AssertionError(f"{where}: {len(infos)} texts for {values.size} values")
    texts = np.empty(values.size, dtype=object)
    texts[:] = [text for text, _, _ in infos]
    decimals = np.array([d for _, d, _ in infos], dtype=np.int64)
    fraction = np.array([f for _, _, f in infos], dtype=bool)
    untexted = isinstance(value, dict) and "csv" not in value
    numeric = None
    if not isinstance(value, dict):
        numeric = np.array([not isinstance(leaf, str) for leaf in _leaves(value)],
                           dtype=bool).reshape(values.shape)
    return Written(values=values, texts=texts.reshape(values.shape),
                   decimals=decimals.reshape(values.shape),
                   fraction=fraction.reshape(values.shape),
                   loose_shape=isinstance(value, dict) and "csv" in value,
                   untexted=np.full(values.shape, True) if untexted else None,
                   numeric=numeric)


def _counted_from(error: ProblemError, where: str, base: int) -> ProblemError:
    """``error`` with the element indices of its place counted from ``base``: the
    positions in the nested lists written at ``where``, or a .npy's ``element [i,j]``."""
    place = error.where or ""
    if not base or not place:
        return error
    positions = place[len(where):] if place.startswith(where) else ""
    if positions and re.fullmatch(r"(\[\d+\])+", positions):
        error.where = where + re.sub(r"\d+", lambda m: str(int(m[0]) + base), positions)
    elif re.fullmatch(r"element \[\d+(,\d+)*\]", place):
        error.where = re.sub(r"\d+", lambda m: str(int(m[0]) + base), place)
    return error


def _leaves(value: Any) -> list:
    if not isinstance(value, list):
        return [value]
    return [leaf for item in value for leaf in _leaves(item)]


def _leaf_info(leaf: Any) -> tuple[str, int, bool]:
    """(text, decimals, is a fraction) of one JSON leaf that parse_tensor accepted."""
    if isinstance(leaf, (int, np.integer)) and not isinstance(leaf, bool):
        return str(int(leaf)), 0, False
    if isinstance(leaf, Decimal):  # the JSON text when kept: 1e-3 as written, not 0.001
        return (getattr(leaf, "text", str(leaf)), _held(-int(leaf.as_tuple().exponent)),
                False)
    if isinstance(leaf, str):
        return _text_info(leaf)
    if isinstance(leaf, (float, np.floating)):
        return _text_info(repr(float(leaf)))
    raise AssertionError(f"unexpected answer leaf {leaf!r}")


def _text_info(text: str) -> tuple[str, int, bool]:
    token = text.strip()
    if DECIMAL_RE.fullmatch(token):
        return token, _decimals_written(token), False
    return token, 0, True  # "p/q": parse_tensor accepted nothing else


#: Decimals written are held within ± this: ½·10⁻ᵈ is far below any float64 step long
#: before, and a zero written 0e-999999999999999999999 must not overflow an int64 (nor
#: build 10**d).
MAX_DECIMALS = 10_000


def _held(decimals: int) -> int:
    return max(-MAX_DECIMALS, min(MAX_DECIMALS, decimals))


def _decimals_written(token: str) -> int:
    """The decimals a decimal text writes, from its text (Decimal refuses an exponent
    beyond its own limits, which parse_tensor reads as a zero's): ``1.250e-3`` → 6,
    ``12e2`` → −2."""
    mantissa, _, exponent = token.lower().partition("e")
    sign = -1 if exponent.startswith("-") else 1
    digits = exponent.lstrip("+-").lstrip("0") or "0"
    shift = sign * (int(digits) if len(digits) <= 9 else 10**9)
    return _held(len(mantissa.partition(".")[2]) - shift)


def _fraction_info(value: Fraction) -> tuple[str, int, bool]:
    """A value with no text (an .npy cell): its shortest decimal and that many decimals."""
    value = Fraction(value)
    decimals = decimals_needed(value)
    if decimals is None:  # not a finite decimal (cannot come from a float): a fraction
        return f"{value.numerator}/{value.denominator}", 0, True
    if decimals == 0:
        return str(value.numerator), 0, False
    text = str(Decimal(value.numerator) / Decimal(value.denominator))
    return text, decimals, False


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Diagnosis:
    slip: str  # the name in cnngrad.teach.diagnose.SLIPS
    text: str  # "matches the kernel not rotated by 180°"


@dataclass
class TensorCheck:
    """The verdict on one tensor: every answered cell right or wrong, and the slips that
    explain the wrong ones.

    A wrong cell may be *rounded* (right to the decimals written, but written with fewer
    than the rule requires) or *carried* (right for the value the student's own upstream
    answers imply, :attr:`implied`); a carried cell earns its points.  With a grading block,
    :attr:`weights` holds each cell's points (0 where not required)."""

    path: str
    truth: np.ndarray  # display shape (0-d for a number); float64 or object (exact)
    answered: np.ndarray  # bool, truth's shape
    right: np.ndarray  # bool, truth's shape; False where not answered
    texts: np.ndarray  # object, truth's shape: the value as written, or None
    keys: list[str] = field(default_factory=list)  # the answer keys that gave it
    diagnoses: list[Diagnosis] = field(default_factory=list)
    diagnosed: bool = False  # the slips were tried (a wrong tensor, diagnosis asked for)
    given: np.ndarray | None = None  # object, truth's shape: the value (Fraction) or None
    rounded: np.ndarray | None = None  # bool: wrong, but right to the decimals written
    rounded_decimals: tuple[int, ...] = ()  # the decimals those cells were written with
    carried: np.ndarray | None = None  # bool: wrong, but right from the upstream answers
    implied: np.ndarray | None = None  # the value the upstream answers imply
    carried_from: tuple[str, ...] = ()  # the upstream answers it was recomputed from
    #: a delta or gradient among carried_from was answered with zeros where the true value is
    #: not 0, or was carried from such a one
    from_zeroed_delta: bool = False
    #: an updated parameter: its value before the SGD step, what zero gradients leave
    before_step: Any = None
    weights: np.ndarray | None = None  # object (Fraction), truth's shape: points per cell
    decimals: np.ndarray | None = None  # int64, truth's shape: decimals written (0 if none)
    fraction: np.ndarray | None = None  # bool, truth's shape: written as p/q
    numeric: np.ndarray | None = None  # bool, truth's shape: written as a JSON number
    axes: str = "nc"  # the letters naming the leading axes of its grids ("fc": a kernel)
    grid_order: np.ndarray | None = None  # int, the grids' shape: each cell's flat index
    #: bool, truth's shape: wrong cells that are right with their sign flipped, named when
    #: no slip explains the whole tensor (one sign slipped in a hand computation)
    sign_flipped: np.ndarray | None = None
    #: bool, truth's shape: wrong cells written with more decimals than required that are
    #: right at the decimals required (0.178829 for 0.178821 at 3): off only in the digits
    #: written past them, named when no slip explains the tensor
    past_required: np.ndarray | None = None
    #: bool, truth's shape: wrong cells written as whole numbers, right to the nearest
    #: whole number but short of the decimals required (1 for 0.996 at 2), named when no
    #: slip explains the tensor (never a rounding: a whole 0 is a claim of an exact zero)
    whole_short: np.ndarray | None = None
    #: the past_required cells are all the float32 roundings of their true values, written
    #: with a float64's digits (-2.059999942779541 for -2.06): code in float32 dumped them
    float32_digits: bool = False

    def __post_init__(self) -> None:
        for name in ("rounded", "carried", "fraction", "numeric", "sign_flipped",
                     "past_required", "whole_short"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.truth.shape, dtype=bool))
        if self.decimals is None:
            self.decimals = np.zeros(self.truth.shape, dtype=np.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.truth.shape

    @property
    def n_answered(self) -> int:
        return int(self.answered.sum())

    @property
    def n_right(self) -> int:
        return int(self.right.sum())

    @property
    def n_carried(self) -> int:
        return int(self.carried.sum())

    @property
    def wrong(self) -> np.ndarray:
        """Answered cells that are neither right nor carried forward."""
        return self.answered & ~self.right & ~self.carried

    @property
    def all_right(self) -> bool:
        """No wrong cell among those answered (carried-forward cells are not wrong)."""
        return not self.wrong.any()

    @property
    def missing(self) -> np.ndarray:
        """Required cells (with points) that were not answered."""
        if self.weights is None:
            return np.zeros(self.truth.shape, dtype=bool)
        return (self.weights != 0) & ~self.answered

    @property
    def earned(self) -> Fraction:
        if self.weights is None:
            return Fraction(0)
        return sum(self.weights[self.right | self.carried], Fraction(0))

    @property
    def possible(self) -> Fraction:
        return Fraction(0) if self.weights is None else sum(self.weights.reshape(-1),
                                                            Fraction(0))

    def wrong_cells(self) -> list[tuple[tuple[int, ...], str, Any]]:
        """(index, value as written, true value) of every wrong cell, row-major."""
        return self.cells(self.wrong)

    def carried_zeros(self) -> bool:
        """Whether every carried cell is a zero the upstream answers imply where the true
        value is not zero (for an updated parameter: the parameter as it was before the
        step), and they came from a delta or gradient answered with zeros: zeros carry zeros
        forward, and the rule gives them their points (a grader may want to look).  Zeros a
        ReLU's mask implies from a wrong sign are not such."""
        if self.implied is None or not self.carried.any() or not self.from_zeroed_delta:
            return False
        carried = self.carried.reshape(-1)
        implied = np.asarray(self.implied, dtype=object).reshape(-1)[carried]
        truth = np.asarray(self.truth, dtype=object).reshape(-1)[carried]
        # zeros imply zeros, and leave an updated parameter as it was before the step
        base = (np.zeros(implied.size, dtype=object) if self.before_step is None else
                np.broadcast_to(np.asarray(self.before_step, dtype=object),
                                self.carried.shape).reshape(-1)[carried])
        return (all(value == start for value, start in zip(implied, base))
                and any(value != start for value, start in zip(truth, base)))

    def carried_cells(self) -> list[tuple[tuple[int, ...], str, Any, Any]]:
        """(index, value as written, true value, implied value) of every carried cell."""
        return [(index, text, true, self.implied[index] if self.implied is not None else None)
                for index, text, true in self.cells(self.carried)]

    def cells(self, mask: np.ndarray) -> list[tuple[tuple[int, ...], str, Any]]:
        """(index, value as written, true value) of the cells where ``mask`` holds."""
        if not self.truth.ndim:
            return [((), self.texts[()], self.truth[()])] if bool(mask) else []
        return [(tuple(int(i) for i in index), self.texts[index], self.truth[index])
                for index in zip(*np.nonzero(mask))]


@dataclass(frozen=True)
class PathScore:
    """The points one required path of the grading block earned."""

    key: str  # as in the grading block ("conv2d_1.delta_in" or an element path)
    earned: Fraction
    possible: Fraction
    cells: int  # the cells it requires
    answered: int  # of which answered

    @property
    def missing(self) -> int:
        return self.cells - self.answered

    @property
    def status(self) -> str:
        """right (full points), missing (points short only by cells not answered: none, or
        some of them, every answered one earning its share) or wrong."""
        if self.earned == self.possible and not self.missing:
            return "right"
        if not self.answered or self.earned * self.cells == self.possible * self.answered:
            return "missing"
        return "wrong"


@dataclass
class FileCheck:
    """One answers file: its tensors, or the error that stopped reading it."""

    file: str
    tensors: list[TensorCheck] = field(default_factory=list)
    error: CnnGradError | None = None
    student: str | None = None  # the gradebook's key (the file's stem, or its folder)
    #: the files of one path each read as this one (per_path_groups); empty for one file
    answer_files: tuple[str, ...] = ()
    path_scores: list[PathScore] | None = None  # with a grading block's points
    #: the files read (the answers file, the CSV and .npy files it names): -o replaces none
    input_files: list[pathlib.Path] = field(default_factory=list)
    #: read from standard input (``file`` is then ``<stdin>``, as a file of that name's is)
    from_stdin: bool = False
    #: what standard input held, where its reading stopped at an error (-o replaces none of
    #: the files it names: ``files_an_answers_file_names("-", output, stdin_bytes)``)
    stdin_bytes: bytes | None = None

    @property
    def right(self) -> int:
        return sum(t.n_right for t in self.tensors)

    @property
    def total(self) -> int:
        return sum(t.n_answered for t in self.tensors)

    @property
    def carried(self) -> int:
        return sum(t.n_carried for t in self.tensors)

    @property
    def graded_by_points(self) -> bool:
        return self.path_scores is not None

    @property
    def earned(self) -> Fraction:
        """Points earned; without points, the cells right or carried forward."""
        if self.path_scores is not None:
            return sum((p.earned for p in self.path_scores), Fraction(0))
        return Fraction(self.right + self.carried)

    @property
    def possible(self) -> Fraction:
        """Points possible; without points, the cells answered."""
        if self.path_scores is not None:
            return sum((p.possible for p in self.path_scores), Fraction(0))
        return Fraction(self.total)

    @property
    def missing_paths(self) -> list[str]:
        """Required paths (grading keys) with a cell not answered."""
        return [p.key for p in self.path_scores or [] if p.missing]

    def missing_words(self, base: int = 0) -> list[str]:
        """:attr:`missing_paths` as a report says them, their indices counted from ``base``
        (:func:`key_text`): a path answered in part with how many of its cells are missing
        (``conv2d_1.grads.kernel (1 of 4 cells)``)."""
        return [key_text(p.key, base) + ("" if not p.answered else
                                         f" ({p.missing} of {p.cells} cells)")
                for p in self.path_scores or [] if p.missing]

    @property
    def status(self) -> str:
        """error (not checked), wrong (a wrong cell, a carried-forward one too: it earns its
        points but is not the true value; or a required cell missing) or right."""
        if self.error is not None:
            return "error"
        if any(not t.all_right or t.carried.any() for t in self.tensors) or self.missing_paths:
            return "wrong"
        return "right"

    @property
    def exact_score(self) -> Fraction | None:
        """Earned / possible (0 to 1) as a fraction; None for an error or nothing to score."""
        if self.error is not None or not self.possible:
            return None
        return self.earned / self.possible

    @property
    def score(self) -> float | None:
        """:attr:`exact_score` as a float."""
        exact = self.exact_score
        return None if exact is None else float(exact)


def exit_code(results: Iterable[FileCheck]) -> int:
    """0 every answer right, 1 some answer wrong, 2 some file could not be checked."""
    statuses = {result.status for result in results}
    if "error" in statuses:
        return 2
    return 1 if "wrong" in statuses else 0


# --------------------------------------------------------------------------- checking


def known_paths(trace: Trace) -> list[str]:
    """Every dotted path the trace can answer, forward order."""
    return [path for path, value in trace.tensors() if value is not None]


def _element_named_file(trace: Trace | None, key: str, whole: str, index: tuple, kind: str,
                        file: str, one_based: bool) -> CnnGradError:
    """The error for a single-tensor file named after an element path
    (``conv2d_1.grads.kernel[0,1].csv``): its tensor's name and the index checked first (a
    hint that leads to a second error helps no one)."""
    from cnngrad.teach.diagnose import tensor_at

    _refuse_unknown_paths(trace, [(whole, key, file)])
    truth = None if trace is None else tensor_at(trace, whole)
    shape = np.shape(truth) if truth is not None else None
    outside = shape is not None and _index_outside(whole, index, shape, base=int(one_based),
                                                   where=None, file=file, parts=True)
    if outside:
        return outside
    whole_file = f"{whole}.npy" if kind == "csv" and shape is not None and len(shape) > 2 \
        else f"{whole}.{kind}"
    # a CSV holds a matrix: a part of a bigger tensor answers by a '# path' line
    return ProblemError(
        f"a file named after an element path; name it after the whole tensor ({whole_file})",
        file=file,
        hint=(f"to answer a part of it, start the file with the line '# {key}' (a CSV of "
              f"'# path' blocks answers any part of a tensor)"
              + ("" if whole_file.endswith(".npy") else f", or save the whole tensor as "
                 f"{whole}.npy")) if kind == "csv" else None)


def _refuse_unknown_paths(trace: Trace | None, paths: Iterable[tuple[str, str, str]]) -> None:
    """Raise the error for the first (path, where, file) whose path the trace cannot answer;
    nothing without a trace.

    Raises
    ------
    ProblemError
        ``unknown path '<path>'``, its hint naming the closest known paths (or, with none
        close, the problem's paths); ``loss`` for a problem that gives the delta; an
        ``updated.*`` path without a learning rate.
    """
    if trace is None:
        return
    known = known_paths(trace)
    known_set = set(known)
    for path, where, file in paths:
        if path not in known_set:
            raise _unknown_path(path, where, file, trace, known)


def _unknown_path(path: str, where: str, file: str, trace: Trace,
                  known: list[str]) -> CnnGradError:
    name, _, rest = path.partition(".")
    layer_names = [layer.name for layer in trace.layers]
    if path == "loss":
        return ProblemError("the problem gives the delta at the last layer, so it has no loss "
                            "to check", where=where, file=file)
    absent = trace.absent_parameter(path)
    if absent is not None:
        return ProblemError(absent, where=where, file=file)
    if rest.startswith("updated.") and name in layer_names and trace.lr is None:
        return ProblemError(f"'{path}' is a parameter after one SGD step: give the learning "
                            "rate with --lr", where=where, file=file)
    textbook = textbook_paths(path, known)  # dW, dE/db, dA_prev
    close = difflib.get_close_matches(path, known, n=3, cutoff=0.6) or \
        [best for best in [closest(path, known)] if best]
    stem, suffix = os.path.splitext(os.path.basename(file or ""))
    if suffix.lower() in (".csv", ".npy") and stem == path:
        # the path a CSV or .npy file answers is its name: w.csv answers "w"
        suffix = suffix.lower()
        kind = "a CSV file" if suffix == ".csv" else "an .npy file"
        if textbook and len(textbook[1]) > 1:
            hint = (f"{kind} answers the path it is named after; {path} reads as "
                    f"{textbook[0]}, one of "
                    + first_of([f"{shown}{suffix}" for shown in textbook[1]], 4))
        elif textbook and textbook[1]:
            hint = f"{kind} answers the path it is named after: did you mean " \
                   f"{textbook[1][0]}{suffix}?"
        elif close:
            hint = f"{kind} answers the path it is named after: did you mean {close[0]}{suffix}?"
        else:
            hint = (f"{kind} answers the path it is named after, one of "
                    + first_of([f"{shown}{suffix}" for shown in known], 4)
                    + (" (or give one CSV of '# path' blocks)" if suffix == ".csv" else ""))
    elif parts := per_input_paths(path, known):
        # an add's or concat's: one tensor per input, as the grading block says of it
        hint = f"{path} is one tensor per input, each answered on its own: " + \
            ", ".join(parts)
    elif textbook:
        hint = textbook_hint(path, known)
    elif own_name := parameter_hint(path, known):  # dense_1.grads.kernel, Keras' name
        hint = own_name
    elif of_input := input_delta_hint(path, trace):
        hint = of_input
    elif close:
        hint = "closest: " + ", ".join(close)
    else:  # not a misspelt path (a comment, a name): say what a key of the file can be
        hint = "no path is close; an answers file holds only answers, under the problem's " \
               "paths: " + first_of(known, 8)
    return ProblemError(f"unknown path '{shown_key(path)}'", where=where, file=file,
                        hint=hint)


def check_sheet(trace: Trace, sheet: AnswerSheet, tolerance: Tolerance = Tolerance(), *,
                context: SlipContext | None = None, diagnose: bool = True,
                grading: Grading | None = None) -> FileCheck:
    """Hold one read answers file against the trace.

    Parameters
    ----------
    trace : Trace
        The true computation (``updated.*`` paths need it run with an ``lr``).
    sheet : AnswerSheet
    tolerance : Tolerance
    context : SlipContext, optional
        Share one across files: each slipped trace is then built once.
    diagnose : bool
        Look for the slips that explain each wrong tensor.
    grading : Grading, optional
        Its ``points`` make every file answer the same required paths (a required tensor
        not answered is listed, scoring 0); its ``carry_forward`` marks wrong answers that
        are right from the student's own upstream answers.  Its tolerance keys are the
        caller's to fold into ``tolerance`` (:func:`cnngrad.teach.grading.resolve_tolerance`).

    Raises
    ------
    ProblemError, ShapeError
        An unknown path (the hint lists close ones), a wrong shape (naming the expected
        one, and the slip it matches if any), an element out of range, a cell given twice;
        a grading block whose points name no tensor of the trace; no answer at all where
        the grading requires none (with required paths, an empty file scores 0).
    """
    context = context or SlipContext(trace)
    grading = grading or Grading()
    _refuse_unknown_paths(trace, [(entry.path, entry.where or entry.path, entry.file)
                                  for entry in sheet.entries])
    grouped: dict[str, list[AnswerEntry]] = {}
    for entry in sheet.entries:
        grouped.setdefault(entry.path, []).append(entry)
    # the same for every file of a grading: built once per context
    weights = context.cached(f"required weights {tuple(grading.points.items())!r}",
                             lambda: required_weights(trace, grading, context))
    if not sheet.entries and not weights:  # with points, the required paths score 0 instead
        raise ProblemError("no answers in the file", where=TOP_LEVEL, file=sheet.file)
    result = FileCheck(file=sheet.file)
    for path, entries in grouped.items():
        result.tensors.append(_check_tensor(path, context.truth(path), entries, tolerance,
                                            context))
    for path in weights:
        if path not in grouped:
            result.tensors.append(_unanswered(path, context.truth(path)))
    if weights:  # every student's report in the grading block's order, whatever the file's
        order = {path: rank for rank, path in enumerate(weights)}
        ranks = _path_ranks(trace, context)
        result.tensors.sort(key=lambda check: order.get(check.path, len(order)
                                                        + ranks.get(check.path, 0)))
    for check in result.tensors:
        # shared, never written to; with points, a tensor outside them is worth 0 points
        check.weights = weights.get(check.path) if not weights or check.path in weights else \
            np.full(check.truth.shape, Fraction(0), dtype=object)
        check.axes, check.grid_order = context.cached(
            f"grid view {check.path}", lambda: grid_view(trace, check.path, check.shape))
    if grading.carry_forward:
        _carry_forward(trace, result, tolerance)
    if diagnose:
        contradictions: dict[tuple[str, str], bool] = {}  # the file's, shared by its tensors
        for check in result.tensors:
            _diagnose_tensor(check, context, tolerance, result.tensors, contradictions)
        if any(entry.base for entry in sheet.entries):  # read --one-based: not to give it
            for check in result.tensors:
                check.diagnoses = [_read_one_based(diagnosis) for diagnosis in check.diagnoses]
    if grading.points:
        result.path_scores = _path_scores(result, grading)
    return result


def _path_ranks(trace: Trace, context: SlipContext | None = None) -> dict[str, int]:
    """Each path's place in the problem's forward order (:func:`known_paths`), the order a
    report follows; worked out once per context (once for a class, not once per file)."""
    def ranks() -> dict[str, int]:
        return {path: rank for rank, path in enumerate(known_paths(trace))}

    return context.cached("path ranks", ranks) if context is not None else ranks()


def _read_one_based(diagnosis: Diagnosis) -> Diagnosis:
    """A one-based shift said of a file read with --one-based: its advice to give it is
    then the question whether an index is one off."""
    from cnngrad.teach.diagnose import ONE_BASED_ADVICE, ONE_BASED_GIVEN

    if not diagnosis.slip.startswith("one_based_shift_"):
        return diagnosis
    return dataclasses.replace(diagnosis,
                               text=diagnosis.text.replace(ONE_BASED_ADVICE, ONE_BASED_GIVEN))


def grid_view(trace: Trace, path: str, shape: tuple[int, ...]
              ) -> tuple[str, np.ndarray | None]:
    """How a report draws a tensor's grids, as ``backward`` draws it: the letters naming the
    leading axes (``"nc"`` for maps, ``"n"`` for the maps of a 1-D problem, the family's for
    a parameter: ``"fc"`` for a conv kernel) and, for a tensor in channels-last form (nhwc
    maps, HWIO kernels), the flat index of each cell in the order that gives one grid per
    channel with the map's rows and columns (None: the tensor's own order)."""
    from cnngrad.families import family_of

    name, _, rest = path.partition(".")
    kind, _, key = rest.partition(".")
    layer = next((layer for layer in trace.layers if layer.name == name), None)
    layout = trace.layout
    if layer is not None and kind in ("grads", "updated"):
        family = family_of(layer.spec)
        axes = family.param_grid_axes(layer.spec, key)

        def to_grids(array):
            return family.param_grid(layer.spec, key, array)
    else:
        axes, to_grids = layout.grid_axes, layout.to_grids
    if layer is None or not layout.channels_last or len(shape) < 3:
        return axes, None  # channels first: the tensor's own order
    return axes, np.asarray(to_grids(np.arange(int(np.prod(shape, dtype=np.int64))
                                               ).reshape(shape)))


def required_weights(trace: Trace, grading: Grading, context: SlipContext | None = None
                     ) -> dict[str, np.ndarray]:
    """Each required tensor's points per cell (object array of Fractions, display shape):
    a tensor's points shared equally by its cells, an element's on that cell, a part's
    (a leading index, ``conv2d_1.delta_in[1]``) shared equally by the cells of that part."""
    if not grading.points:
        return {}
    context = context or SlipContext(trace)
    shapes = {path: np.shape(value) for path, value in trace.tensors() if value is not None}
    check_points(grading, shapes, trace.absent_parameter)
    weights: dict[str, np.ndarray] = {}
    for key, points in grading.points.items():
        path, index = split_key(key, file=grading.file)
        shape = shapes[path]
        cells = weights.setdefault(path, np.full(shape, Fraction(0), dtype=object))
        if index is None:
            share = points / max(int(np.prod(shape)), 1)
            cells += np.full(shape, share, dtype=object) if shape else share
        elif shape:  # one cell, or one part whose cells share the points equally
            part = cells[index]
            if np.ndim(part):
                part += points / part.size
            else:
                cells[index] += points
        else:
            weights[path] = np.asarray(cells + points, dtype=object)
    return weights


def _path_scores(result: FileCheck, grading: Grading) -> list[PathScore]:
    by_path = {check.path: check for check in result.tensors}
    scores = []
    for key, points in grading.points.items():
        path, index = split_key(key, file=grading.file)
        check = by_path[path]
        ok = check.right | check.carried
        if index is None or not check.truth.ndim:
            cells, answered = check.truth.size, int(check.answered.sum())
            earned = points * Fraction(int(ok.sum()), max(cells, 1))
        else:  # one cell, or one part (a leading index): its cells share the points
            part_ok, part_answered = np.asarray(ok[index]), np.asarray(check.answered[index])
            cells, answered = part_ok.size, int(part_answered.sum())
            earned = points * Fraction(int(part_ok.sum()), cells)
        scores.append(PathScore(key=key, earned=earned, possible=points, cells=cells,
                                answered=answered))
    return scores


def _unanswered(path: str, truth: np.ndarray) -> TensorCheck:
    """A required tensor the file does not answer at all."""
    return TensorCheck(path=path, truth=truth, answered=np.zeros(truth.shape, dtype=bool),
                       right=np.zeros(truth.shape, dtype=bool),
                       texts=np.full(truth.shape, None, dtype=object),
                       given=np.full(truth.shape, None, dtype=object))


def _carry_forward(trace: Trace, result: FileCheck, tolerance: Tolerance) -> None:
    """Mark each wrong cell that is right for the value the student's own upstream answers
    imply (:mod:`cnngrad.teach.carry_forward`).  A rounding (right to the decimals written,
    short of those required) is carried only when it is exactly the value implied, as a short
    value is right only as the true value itself; it is then no longer a rounding.  The values
    implied through the tensors the student did not answer are tried first, then (when they
    leave a wrong cell) those one step upstream with the true value of every tensor not
    answered, then those through the forward values not answered with the true value of every
    delta and gradient not answered, then those from the delta_in of the layer reading a
    layer's output where the student's delta_out of it says otherwise; the one that carries
    the most cells is kept."""
    from cnngrad.teach.carry_forward import StudentValues

    answers = {check.path: check for check in result.tensors if check.answered.any()}
    # an upstream cell stands for more than itself when it shows the decimals required
    # (decimals rule; under atol/rtol, any): a wrong one for any value that rounds to it, a
    # right one for its true digits kept or the student's own (Implied.spread, .shifts)
    least = 0 if tolerance.explicit else tolerance.min_decimals
    # a layer's delta_out as written first, then the delta_in of the layer reading it last
    students = (StudentValues(trace, answers, min_decimals=least),
                StudentValues(trace, answers, chain=False, min_decimals=least),
                StudentValues(trace, answers, chain_deltas=False, min_decimals=least),
                StudentValues(trace, answers, reader_first=True, min_decimals=least))
    for check in answers.values():
        candidates = check.answered & ~check.right
        if not candidates.any():
            continue
        cells = np.flatnonzero(candidates.reshape(-1))
        written = _written_cells(check, cells)
        implied, matches = None, np.zeros(cells.size, dtype=bool)
        for student in students:
            value = student.implied(check.path)
            if value is None or value.value.shape != check.truth.shape:
                continue
            found = _carried_cells(written, value, cells, tolerance,
                                   np.asarray(check.truth).reshape(-1)[cells],
                                   check.rounded.reshape(-1)[cells])
            # none carried: the first value implied from a wrong upstream answer is still
            # shown (what the cells needed); from right ones it is the truth again
            if found.sum() > matches.sum() or (implied is None and value.used.wrong):
                implied, matches = value, found
            if matches.all():
                break
        if implied is None:
            continue
        carried = np.zeros(check.truth.size, dtype=bool)
        carried[cells[matches]] = True
        check.carried = carried.reshape(check.truth.shape)
        check.rounded = check.rounded & ~check.carried
        check.implied = implied.value
        check.carried_from = implied.sources
    # once every tensor's carried cells are known: a tensor carried from a delta answered
    # with zeros (not carried itself: a ReLU's zero from an output written with the wrong
    # sign is the student's own arithmetic, no sheet of zeros) is from zeroed deltas, and so
    # is one carried from such a tensor, however far down (dense_1.delta_in answered with
    # zeros, maxpool2d_1.delta_in carried from it, the conv's gradients from that)
    # (an updated parameter carried from gradients answered with zeros, or carried from
    # zeros, is left as it was: it is one too)
    params = {f"{layer.name}.updated.{key}": value
              for layer in trace.layers for key, value in layer.spec.params.items()}
    for check in answers.values():
        check.before_step = params.get(check.path)
    changed = True
    while changed:
        changed = False
        for check in answers.values():
            zeroed = check.carried.any() and any(
                (".delta_" in source or ".grads." in source)
                and (_zeros_for_nonzeros(answers[source]) or answers[source].from_zeroed_delta)
                for source in check.carried_from if source in answers)
            if zeroed and not check.from_zeroed_delta:
                check.from_zeroed_delta, changed = True, True


def trailing_zeros_dropped(check: TensorCheck, tolerance: Tolerance) -> bool:
    """Whether every rounded cell is right at the decimals required, read with its trailing
    zeros put back (0.029 as 0.0290): what a program's JSON writer does to numbers rounded
    to them, where a hand computation would have shown them."""
    if check.rounded is None or not check.rounded.any() or check.decimals is None:
        return False
    required = tolerance.min_decimals
    # a writer's numbers: the others show the decimals, where a hand writes all of them short
    if not (check.decimals[check.answered] == required).any():
        return False
    cells = np.flatnonzero(check.rounded.reshape(-1))
    written = _written_cells(check, cells)
    padded = dataclasses.replace(written, decimals=np.full(written.decimals.shape, required,
                                                           dtype=np.int64))
    return bool(cells_right(padded, np.asarray(check.truth).reshape(-1)[cells],
                            tolerance).all())


def _zeros_for_nonzeros(check: TensorCheck) -> bool:
    """Whether ``check``'s answers hold a 0 where the true value is not 0, not carried
    forward."""
    if check.given is None:
        return False
    return any(check.given[index] == 0 and true != 0
               for index, _, true in check.cells(check.answered & ~check.right & ~check.carried)
               if check.given[index] is not None)


def _carried_cells(written: Written, implied, cells: np.ndarray, tolerance: Tolerance,
                   truth: np.ndarray, rounded: np.ndarray) -> np.ndarray:
    """Which ``written`` cells (flat indices ``cells`` of the tensor, true values ``truth``)
    are right for the value ``implied`` (:class:`~cnngrad.teach.carry_forward.Implied`): for
    the value as recomputed, or for the nearest value to the one written that the step gives
    while each wrong upstream cell used stays within half a unit of its last decimal written
    (its spread) and each right one is its true value kept to some decimals or the student's
    own value of it (its shifts).  A cell written with fewer decimals than required is held
    to the value as recomputed, and only where that value is not the true one at the
    decimals required: a short value that is the truth there with its trailing zeros dropped (-0.021 for -0.021017
    at 4 decimals) is the decimals slip of a right answer, whatever the upstream answers
    imply (the rounding of right upstream answers can make it exact by chance: -0.1324 and
    -0.0932 giving -0.154 where the truth is -0.154020, the decimals slip of the -0.024
    beside it).  A zero that is no rounding (``rounded``: a whole 0, a 0.0 not read as one)
    is a claim of an exact zero, not a slip of decimals: carried where the answers upstream
    imply exactly 0, however small the truth."""
    from cnngrad.teach.carry_forward import half_unit

    value = implied.value.reshape(-1)[cells]
    found = cells_right(written, value, tolerance)
    short = _short(written, tolerance)
    if (found & short).any():
        changed = np.array([abs(float(v) - float(t)) > half_unit(tolerance.min_decimals)
                            for v, t in zip(value, truth)], dtype=bool)
        exact_zero = ~rounded & np.array([v == 0 for v in written.values], dtype=bool)
        found &= ~short | changed | exact_zero
    if found.all():
        return found
    spread, shifts = implied.spread(), implied.shifts()
    if spread is None or shifts is None:
        return found
    spread = spread.reshape(-1)[cells]
    given = (written.values if value.dtype == object
             else np.array([float(v) for v in written.values], dtype=np.float64))
    for shift in shifts.reshape(len(shifts), -1)[:, cells]:
        # the right upstream cells kept to some decimals (as written first), the wrong ones
        # anywhere that rounds to them
        centre = value + shift
        if value.dtype == object:
            nearest = np.array([min(max(g, c - room), c + room) for g, c, room
                                in zip(given, centre, spread)], dtype=object)
        else:
            nearest = np.clip(given, centre - spread, centre + spread)
        found = found | (cells_right(written, nearest, tolerance) & ~short)
        if found.all():
            break
    return found


def _written_cells(check: TensorCheck, cells: np.ndarray) -> Written:
    """The given cells (flat indices) of a checked tensor as :class:`Written` values."""
    return Written(values=check.given.reshape(-1)[cells], texts=check.texts.reshape(-1)[cells],
                   decimals=check.decimals.reshape(-1)[cells],
                   fraction=check.fraction.reshape(-1)[cells])


def _diagnose_tensor(check: TensorCheck, context: SlipContext, tolerance: Tolerance,
                     others: list[TensorCheck] = (),
                     contradictions: dict[tuple[str, str], bool] | None = None) -> None:
    """Name the slips a tensor with wrong cells matches (rounded or carried-forward cells
    alone need no diagnosis: the report says what they are).  Of the slips that re-run the
    whole problem, one that would have made right deltas or gradients of ``others`` (the
    file's other tensors) wrong comes after those that would not: MSE without its ½
    doubles every delta, which a student who forgot one reader's delta has right
    elsewhere.  ``contradictions`` keeps what a file's answers said of each slip."""
    if not (check.wrong & ~check.rounded).any():
        return
    # a rounded cell is right to its decimals: a slip is looked for in the others
    cells = np.flatnonzero((check.answered & ~check.rounded).reshape(-1))
    found = _diagnose(context, check.path, _written_cells(check, cells), cells, tolerance)
    if len(found) > 1:
        found = _uncontradicted_first(found, check, others, context, tolerance,
                                      {} if contradictions is None else contradictions)
    if check.keys and all("[" in key for key in check.keys):
        # every cell given under an index the student wrote: an index counted from 1 is
        # likelier than a slip of the whole tensor that moves the few cells the same way
        found = sorted(found,  # (a copy: a class's files share slips)
                       key=lambda pair: not pair[0].slip.startswith("one_based_shift_"))
    check.diagnoses = _readings_together(found)
    check.diagnosed = True
    if not check.diagnoses:
        check.sign_flipped = _sign_flipped(check, tolerance)
        if tolerance.min_decimals and not tolerance.explicit:
            # off only in the digits written past the decimals required: right judged at them
            check.past_required = _right_at(
                check, check.decimals > tolerance.min_decimals,
                lambda written: dataclasses.replace(written, decimals=np.full(
                    written.decimals.shape, tolerance.min_decimals, dtype=np.int64)),
                tolerance) & ~check.sign_flipped
            check.float32_digits = _float32_digits(check)
            # a whole number right to the nearest whole number, decimals being required; a
            # 0 is no such number but a claim of an exact zero (a delta sent elsewhere)
            whole = (check.decimals == 0) & np.vectorize(lambda value: value != 0,
                                                         otypes=[bool])(check.given)
            check.whole_short = _right_at(
                check, whole, lambda written: written,
                dataclasses.replace(tolerance, min_decimals=0)) & ~check.sign_flipped


#: The tensors of a layer that its backward pass gives (``conv2d_1.grads.kernel``): what a
#: whole-problem slip is held to, as the forward values are not.
_BACKWARD_KINDS = ("delta_out", "delta_in", "grads", "updated")


def _uncontradicted_first(found: list, check: TensorCheck, others: list[TensorCheck],
                          context: SlipContext, tolerance: Tolerance,
                          memo: dict[tuple[str, str], bool]) -> list:
    """``found`` with its whole-problem slips reordered among their own places, those the
    file's other right answers rule out last; the slips of one tensor's numbers (doubled,
    transpose) keep theirs, after the slips that say what went wrong."""
    from cnngrad.teach.diagnose import whole_trace

    places = [i for i, (diagnosis, _) in enumerate(found) if whole_trace(diagnosis.slip)]
    if len(places) < 2:
        return found
    ruled_out = {i: _contradicted(found[i][0].slip, check, others, context, tolerance, memo)
                 for i in places}
    order = [i for i in places if not ruled_out[i]] + [i for i in places if ruled_out[i]]
    out = list(found)
    for place, i in zip(places, order):
        out[place] = found[i]
    return out


def _contradicted(slip: str, check: TensorCheck, others: list[TensorCheck],
                  context: SlipContext, tolerance: Tolerance,
                  memo: dict[tuple[str, str], bool]) -> bool:
    """Whether the whole-problem slip ``slip`` gives another delta or gradient numbers that
    the file's right answers there are not.  Forward values and the loss are not asked: a
    student may compute the loss right and differentiate it without its ½."""
    from cnngrad.teach.diagnose import slipped_at

    for other in others:
        kind = other.path.partition(".")[2].partition(".")[0]  # "" for the loss
        if other.path == check.path or other.given is None or kind not in _BACKWARD_KINDS:
            continue
        key = (slip, other.path)
        if key not in memo:
            right = np.flatnonzero((other.answered & other.right).reshape(-1))
            value = slipped_at(context, slip, other.path) if right.size else None
            memo[key] = value is not None and value.shape == np.shape(other.truth) and \
                not cells_right(_written_cells(other, right), value.reshape(-1)[right],
                                tolerance).all()
        if memo[key]:
            return True
    return False


def _float32_digits(check: TensorCheck) -> bool:
    """Whether every cell off only past the decimals required is its true value rounded to
    float32 and written with a float64's digits: not a hand computation's slip."""
    past = check.past_required
    if not past.any() or check.given is None or np.any(check.decimals[past] < 8):
        return False
    return all(_float32_written(Fraction(given), float(true), int(decimals))
               for given, true, decimals in zip(check.given[past],
                                                np.asarray(check.truth)[past],
                                                check.decimals[past]))


def _float32_written(given: Fraction, true: float, decimals: int) -> bool:
    """Whether ``given`` is a float32 value a few float32 steps from ``true`` (a float32
    computation's rounding), written to its ``decimals`` (rounded or cut there): the digits
    of float32(0.3), 0.30000001192092896, or of a float32 conv's 0.24910001456737518 for
    0.2491; not float64's 0.30000000000000004, nor 0.2491000001, which merely rounds to the
    same float32."""
    value = np.float32(float(given))
    if abs(float(value) - true) > 4 * float(np.spacing(np.float32(abs(true)))):
        return False
    scaled = Fraction(float(value)) * 10**decimals
    as_written = given * 10**decimals
    cut = math.trunc(scaled)
    return as_written in (round(scaled), cut)


def _right_at(check: TensorCheck, among: np.ndarray, as_judged, tolerance: Tolerance
              ) -> np.ndarray:
    """The wrong cells (not rounded, not carried, not p/q) in ``among`` that are right
    when their written values, changed by ``as_judged`` (a :class:`Written` to another),
    are judged under ``tolerance``: a mask of the tensor's shape."""
    right = np.zeros(check.truth.size, dtype=bool)
    cells = np.flatnonzero((check.wrong & ~check.rounded & ~check.fraction & among).reshape(-1))
    if len(cells):
        right[cells] = cells_right(as_judged(_written_cells(check, cells)),
                                   np.asarray(check.truth).reshape(-1)[cells], tolerance)
    return right.reshape(check.truth.shape)


def _sign_flipped(check: TensorCheck, tolerance: Tolerance) -> np.ndarray:
    """The wrong cells (not rounded) that are right for the true value with its sign
    flipped, under the same rule: a sign slipped in those cells alone.  Named only when
    they are at least half of the wrong cells: among many wrong values, a few of the
    right size with the other sign say nothing."""
    flipped = np.zeros(check.truth.size, dtype=bool)
    cells = np.flatnonzero((check.wrong & ~check.rounded).reshape(-1))
    if len(cells):
        negated = -np.asarray(check.truth).reshape(-1)[cells]
        flipped[cells] = cells_right(_written_cells(check, cells), negated, tolerance)
        if 2 * int(flipped.sum()) < len(cells):
            flipped[:] = False
    return flipped.reshape(check.truth.shape)


def _given_twice(entry: AnswerEntry, other: AnswerEntry, cells: int,
                 cell: tuple[int, ...] | None = None) -> ProblemError:
    """``entry`` (``cells`` cells) gives a cell ``other`` gives too: ``other`` named as the
    file writes it (the key of a tensor with null cells, a CSV's block), and which of the two
    is within an object of tensors when both are the same path; ``cell``, the tensor's index
    of the first such cell where ``other`` does not give all of ``entry``'s."""
    here = entry.where or entry.key
    if cell is not None:
        shown = "its cell [" + ",".join(str(i + entry.base) for i in cell) + "]"
    else:  # the whole of it given twice
        shown = "this cell" if cells == 1 else "it"
    named = other.given_as or f"'{other.key}'"
    if named == f"'{here}'" and entry.within:
        named += f" (here within the object under '{entry.within}')"
    elif named == f"'{here}'" and other.within:
        named += f" within the object under '{other.within}'"
    return ProblemError(f"{shown} is also given by {named}", where=here, file=entry.file)


def _check_tensor(path: str, truth: np.ndarray, entries: list[AnswerEntry],
                  tolerance: Tolerance, context: SlipContext) -> TensorCheck:
    size = truth.size
    answered = np.zeros(size, dtype=bool)
    owner: dict[int, AnswerEntry] = {}  # what gives each cell
    cells: list[np.ndarray] = []
    parts: list[Written] = []
    held: set[int] = set()
    for entry in entries:
        if entry.holder is not None and id(entry.holder) not in held:
            held.add(id(entry.holder))
            _place(entry.holder, truth, tolerance, context)  # its shape, as written
        flat, written = _place(entry, truth, tolerance, context)
        for cell in flat.tolist():
            if cell in owner:
                # the first cell both give, unless the other gives all of this one's
                whole = all(owner.get(mine) is owner[cell] for mine in flat.tolist())
                index = None if whole else tuple(
                    int(i) for i in np.unravel_index(cell, truth.shape))
                raise _given_twice(entry, owner[cell], len(flat), index)
            owner[cell] = entry
        answered[flat] = True
        cells.append(flat)
        parts.append(written)
    flat_cells = np.concatenate(cells)
    true_cells = truth.reshape(-1)[flat_cells]
    given = _concat(parts).read_at(tolerance.min_decimals, true_cells, tolerance)
    right_cells = cells_right(given, true_cells, tolerance)
    right = np.zeros(size, dtype=bool)
    right[flat_cells] = right_cells
    texts = np.full(size, None, dtype=object)
    texts[flat_cells] = given.texts
    values = np.full(size, None, dtype=object)
    values[flat_cells] = given.values
    rounded_cells = _rounded(given, true_cells, right_cells, tolerance)
    rounded = np.zeros(size, dtype=bool)
    rounded[flat_cells] = rounded_cells
    decimals = np.zeros(size, dtype=np.int64)
    decimals[flat_cells] = given.decimals
    fraction = np.zeros(size, dtype=bool)
    fraction[flat_cells] = given.fraction
    numeric = np.zeros(size, dtype=bool)
    if given.numeric is not None:
        numeric[flat_cells] = given.numeric
    return TensorCheck(path=path, truth=truth, answered=answered.reshape(truth.shape),
                       right=right.reshape(truth.shape), texts=texts.reshape(truth.shape),
                       keys=[entry.key for entry in entries],
                       given=values.reshape(truth.shape), rounded=rounded.reshape(truth.shape),
                       decimals=decimals.reshape(truth.shape),
                       fraction=fraction.reshape(truth.shape),
                       numeric=numeric.reshape(truth.shape),
                       rounded_decimals=tuple(sorted(set(
                           given.decimals[rounded_cells].tolist()))))


def _rounded(given: Written, truth: np.ndarray, right: np.ndarray,
             tolerance: Tolerance) -> np.ndarray:
    """Wrong cells that are right to the decimals written (1 or more, fewer than required):
    a rounding, not a mistake.  An integer is never one: a 0 in a pool's delta is a claim
    of an exact zero, and where it is wrong a slip is looked for (the delta sent to another
    cell), not "right to the 0 decimals written"."""
    short = ~right & _short(given, tolerance) & (given.decimals >= 1)
    if not short.any():
        return short
    as_written = cells_right(given, truth, dataclasses.replace(tolerance, min_decimals=0))
    rounded = short & as_written
    # zeros alone (0.0, as json.dump writes a float 0) claim exact zeros, as a whole 0 does;
    # a zero of two decimals or more (0.00: a value formatted to 2 decimals, as -0.0047 is)
    # is a rounding
    zeros = rounded & (given.decimals == 1) & np.array([value == 0 for value in given.values],
                                                       dtype=bool)
    if not zeros.any() or (rounded & ~zeros & (given.decimals == 1)).any():
        return rounded  # beside other values rounded at 1 decimal, a rounding like them
    # a writer's zero: the truth at the decimals required (-0.0000), written as json.dump
    # writes a float rounded to them (-0.0, a JSON number: typed as text it was typed so)
    # beside values that show those decimals
    required = tolerance.min_decimals
    padded = dataclasses.replace(given, decimals=np.full(given.decimals.shape, required,
                                                         dtype=np.int64))
    numeric = given.numeric if given.numeric is not None else np.zeros(zeros.shape, bool)
    writer = ((given.decimals == required).any() & numeric
              & cells_right(padded, truth, tolerance))
    return rounded & (~zeros | writer)


def _place(entry: AnswerEntry, truth: np.ndarray, tolerance: Tolerance,
           context: SlipContext) -> tuple[np.ndarray, Written]:
    """The flat cells of ``truth`` an entry answers, and its values in that order."""
    written, expected = entry.written, truth.shape
    where = entry.where or entry.path
    if entry.index is None:
        if written.shape != expected:
            if written.loose_shape and _fits_loosely(written.shape, expected):
                written = written.reshaped(expected)
            else:
                read_from = f" in {entry.source}" if entry.source else ""
                raise ShapeError(f"expected {_shape_words(expected)}, got "
                                 f"{_shape_words(written.shape)}{read_from}", where=where,
                                 file=entry.file,
                                 hint=(_shape_hint(context, entry, tolerance)
                                       or _split_decimal_commas(written, truth)))
        return np.arange(truth.size), written.reshaped((truth.size,))
    if 0 < len(entry.index) < truth.ndim and all(i < n for i, n in
                                                  zip(entry.index, expected)):
        return _place_part(entry, truth, written, where)
    if len(entry.index) == truth.ndim and (written.values.size != 1 or (
            written.values.ndim and not written.loose_shape)):
        raise ShapeError(f"an element takes one number, got {_shape_words(written.shape)}",
                         where=where, file=entry.file)
    outside = _index_outside(entry.path, entry.index, expected, base=entry.base, where=where,
                             file=entry.file)
    if outside:
        raise outside
    flat = np.ravel_multi_index(entry.index, expected) if truth.ndim else 0
    return np.array([flat]), written.reshaped((1,))


def _split_decimal_commas(written: Written, truth: np.ndarray) -> str | None:
    """The hint for CSV cells of twice the columns expected, each pair a whole number and
    unsigned digits (``0,54,0,03`` for two values of a row): decimal commas in a file whose
    separator is the comma, each number split in two at its comma; None otherwise.  Whole
    numbers of the wrong shape (``1,2,3,4``) are not told of decimals unless every second
    cell has the two digits or more that decimals are written with, or a whole is a
    signed 0 (``-0,7``), which no one writes for a whole number; nor where the true values
    are all whole (an exam of integers, ``13,13,25,25``)."""
    expected = _squeezed(truth.shape)
    rows = expected[:-1]
    columns = expected[-1] if expected else 1
    if not written.loose_shape or written.untexted is not None or \
            _squeezed(written.shape) != (*rows, 2 * columns):
        return None
    if all(Fraction(value).denominator == 1 for value in np.asarray(truth).reshape(-1)):
        return None
    pair = split_at_decimal_commas(written.texts.reshape(-1, 2))
    if pair is None:
        return None
    return decimal_commas_hint(*pair)


def _index_outside(path: str, index: tuple, shape: tuple[int, ...], *, base: int,
                   where: str | None, file: str, parts: bool = False) -> ShapeError | None:
    """The error for an index that reaches no cell of ``path`` (of ``shape``; ``parts``: a
    leading index names a part), with the --one-based hint where, counted from 1, it would;
    None where it reaches one."""
    if len(index) <= len(shape) and all(i < n for i, n in zip(index, shape)):
        return None
    from_one = base == 0 and counted_from_one(index, shape)
    return ShapeError(index_outside_text(path, index, shape, base=base, parts=parts),
                      where=where, file=file, hint=ONE_BASED_HINT if from_one else None)


def _place_part(entry: AnswerEntry, truth: np.ndarray, written: Written,
                where: str) -> tuple[np.ndarray, Written]:
    """A leading index (``conv2d_1.delta_in[1]``: channel 1): the sub-tensor it names."""
    part = truth.shape[len(entry.index):]
    if written.shape != part:
        if not (written.loose_shape and _fits_loosely(written.shape, part)):
            shown = [i + entry.base for i in entry.index]
            raise ShapeError(f"expected {_shape_words(part)} (the part {shown} of "
                             f"'{entry.path}' of shape {shape_text(truth.shape)}), got "
                             f"{_shape_words(written.shape)}", where=where, file=entry.file,
                             hint=_part_hint(entry, truth.shape, written.shape))
    cells = np.arange(truth.size).reshape(truth.shape)[entry.index].reshape(-1)
    return cells, written.reshaped((cells.size,))


def _part_hint(entry: AnswerEntry, shape: tuple[int, ...], given: tuple[int, ...]) -> str:
    """What a part of the wrong shape may have meant: a smaller part, whose shape it has,
    named by one index more per axis before it (a 2×2 grid under relu_1.delta_in[0] of a
    2×2×2×2 tensor is relu_1.delta_in[0,0]); else how many indices an element takes."""
    depth = next((k for k in range(len(entry.index) + 1, len(shape))
                  if given and shape[k:] == given), None)
    if depth is None:
        return f"an element takes {len(shape)} indices"
    index = [i + entry.base for i in entry.index] + [entry.base] * (depth - len(entry.index))
    key = f"{entry.path}[{','.join(map(str, index))}]"
    return (f"a {shape_text(given)} part takes {depth} indices: {key} names the first of "
            f"them, and an element takes {len(shape)}")


def _shape_words(shape: tuple[int, ...]) -> str:
    return f"shape {shape_text(shape)}" if shape else "a single number"


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def _fits_loosely(grid: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """Whether a CSV grid stands for a tensor of another shape: the same values once the
    axes of 1 are dropped (a row or a column for a vector, 4×4 for 1×1×4×4), never a grid
    of the tensor's own rank (a 4×1 column for a 1×4 matrix is its transpose).  A tensor of
    more axes may be written as a row or a column: which axes of 1 a grid drops depends on
    the layout (an N=C=1 map H×W in nchw, H×W×1 in nhwc) and the problem (a 1-D signal)."""
    return _squeezed(grid) == _squeezed(expected) and len(grid) != len(expected)


def _concat(parts: list[Written]) -> Written:
    def flags(name: str) -> np.ndarray | None:
        if all(getattr(part, name) is None for part in parts):
            return None
        return np.concatenate([np.zeros(part.values.size, dtype=bool)
                               if getattr(part, name) is None
                               else getattr(part, name).reshape(-1) for part in parts])

    return Written(*(np.concatenate([getattr(part, name).reshape(-1) for part in parts])
                     for name in ("values", "texts", "decimals", "fraction")),
                   untexted=flags("untexted"), numeric=flags("numeric"))


#: Answers that are all zeros name a slip from this many cells on.
ZEROS_TO_NAME = 4


def _diagnose(context: SlipContext, path: str, given: Written, flat_cells: np.ndarray,
              tolerance: Tolerance) -> list[Diagnosis]:
    """Every slip whose answer the given cells match (same rule, same cells).  A few zeros
    alone (under :data:`ZEROS_TO_NAME` cells) name none: many slips leave a 0 in some cell,
    and one cell's 0 cannot tell the kernel left unrotated from a shifted index."""
    if len(given.values) < ZEROS_TO_NAME and not any(value != 0 for value in given.values):
        return []
    if tolerance.min_decimals and not tolerance.explicit:
        # a value short of the decimals required but not whole (a JSON writer's -0.019 for
        # -0.0190) is judged as its digits padded with zeros: one such cell no longer hides
        # the slip the rest of the tensor shows (its own note says it is short)
        short = (given.decimals >= 1) & (given.decimals < tolerance.min_decimals) & ~given.fraction
        given = dataclasses.replace(given, decimals=np.where(short, tolerance.min_decimals,
                                                             given.decimals))
    found = []
    truth = context.truth(path)
    for slip, value in alternatives(context, path):
        if value.shape != truth.shape:
            continue
        if cells_right(given, value.reshape(-1)[flat_cells], tolerance).all():
            found.append((Diagnosis(slip.name, slip.describe(context.trace)), value))
    # another path's true value: no slip's numbers to compare with the others
    return found or [(diagnosis, None) for diagnosis in _another_path(context, path, given,
                                                                      flat_cells, tolerance)]


def _readings_together(found: list[tuple[Diagnosis, np.ndarray | None]]) -> list[Diagnosis]:
    """The slips in their order, each followed by those that give the very same numbers
    (MSE without the ½ is twice the true answer; a true convolution's δ_in, the kernel left
    unrotated), said as other readings of them ("the same numbers: ..."), not as further
    slips that read as a contradiction."""
    out: list[Diagnosis] = []
    placed = [False] * len(found)
    for i, (first, value) in enumerate(found):
        if placed[i]:
            continue
        out.append(first)
        for j in range(i + 1, len(found)):
            other, other_value = found[j]
            if not placed[j] and value is not None and other_value is not None \
                    and _same_numbers(other_value, value):
                placed[j] = True
                out.append(Diagnosis(other.slip, "the same numbers: "
                                     + other.text.removeprefix("matches ")))
    return out


def _same_numbers(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two slips' answers are the same numbers (to float rounding)."""
    if a.dtype == object or b.dtype == object:
        return bool(np.array_equal(a, b))
    scale = max(float(np.max(np.abs(b), initial=0.0)), np.finfo(np.float64).tiny)
    return bool(np.allclose(a, b, rtol=1e-12, atol=1e-12 * scale))


def _another_path(context: SlipContext, path: str, given: Written, flat_cells: np.ndarray,
                  tolerance: Tolerance) -> list[Diagnosis]:
    """The true value of another tensor of the same shape, where no slip matches: an answer
    written under the wrong path (a layer's output under a delta's, conv_a's gradient under
    conv_b's).  Zeros alone say nothing of where they came from."""
    if not any(value != 0 for value in given.values):
        return []
    truth = context.truth(path)
    shape = np.shape(truth)
    # a path holding the very numbers of this one (a 1×1 kernel of 1's deltas) is no other
    others = [other for other in known_paths(context.trace) if other != path
              and np.shape(context.truth(other)) == shape
              and not np.array_equal(context.truth(other), truth)]
    return [Diagnosis("another_path", f"matches {other}, the true value of another path (an "
                      "answer written under the wrong one?)")
            for other in others
            if cells_right(given, np.asarray(context.truth(other)).reshape(-1)[flat_cells],
                           tolerance).all()]


def _shape_hint(context: SlipContext, entry: AnswerEntry, tolerance: Tolerance) -> str | None:
    """A wrong-shaped answer that a slip explains: say which; else the tensors of its layer
    that have the shape written (a max pool's delta_in given at its delta_out's 2×2)."""
    written = entry.written
    matches = []
    for slip, value in alternatives(context, entry.path):
        if value.shape == written.shape and cells_right(written, value, tolerance).all():
            matches.append(slip.describe(context.trace))
    if matches:
        return "it " + "; it ".join(matches)
    hint = _channels_first_hint(context, entry.path, written.shape) or \
        _padded_hint(context.trace, entry.path, written.shape,
                     np.shape(context.truth(entry.path))) or \
        _unit_axis_hint(written.shape, np.shape(context.truth(entry.path)))
    if hint:
        return hint
    layer = entry.path.partition(".")[0] + "."
    same = [path for path in known_paths(context.trace)
            if path.startswith(layer) and path != entry.path
            and np.shape(context.truth(path)) == written.shape]
    if not same or not written.shape:
        return None
    return f"{shape_text(written.shape)} is the shape of {' and '.join(same)}"


def _unit_axis_hint(shape: tuple[int, ...], expected: tuple[int, ...]) -> str | None:
    """An axis of length 1 left out (2×4×4 for 2×1×4×4: a one-channel map of a batch keeps
    its channel axis) or put in: the same axes otherwise."""
    if len(shape) == len(expected) or _squeezed(shape) != _squeezed(expected):
        return None
    what = "left out" if len(shape) < len(expected) else "added"
    # "give it as 1" reads as a value: a shape of one axis is said in words
    form = ("a list of one number ([0.25])" if expected == (1,) else
            f"a list of {expected[0]} numbers" if len(expected) == 1 else shape_text(expected))
    return f"an axis of length 1 {what}? give it as the result shows it, {form}"


def _padded_hint(trace: Trace, path: str, shape: tuple[int, ...],
                 expected: tuple[int, ...]) -> str | None:
    """An input delta as big as the padded input (7×7 for 5×5, padding 1): its spatial axes
    grown by just the padding of a layer that pads (a spec with a ``padding`` of its own,
    (before, after) per spatial axis), the other axes as expected."""
    name = path.partition(".")[0]
    spec = next((layer.spec for layer in trace.layers if layer.name == name), None)
    padding = getattr(spec, "padding", None)
    spatial = trace.layout.spatial
    if ".delta_in" not in path or len(shape) != len(expected) or len(shape) < spatial or \
            not isinstance(padding, tuple) or len(padding) != 2 * spatial or not any(padding):
        return None
    # the spatial axes: the last ones, or before the channels of a channels-last map
    last = len(shape) - (1 if trace.layout.channels_last and len(shape) > spatial else 0)
    axes = range(last - spatial, last)
    grown = [shape[axis] - expected[axis] for axis in axes]
    padded = [padding[2 * k] + padding[2 * k + 1] for k in range(spatial)]
    others = [axis for axis in range(len(shape)) if axis not in axes]
    if grown != padded or any(shape[axis] != expected[axis] for axis in others):
        return None
    sides = sides_text(padding)
    return (f"{shape_text(shape)} is the padded input's size ({shape_text(expected)} with "
            f"padding {sides}): crop the padding off; the padding's cells are not the input's")


def _channels_first_hint(context: SlipContext, path: str, shape: tuple[int, ...]
                         ) -> str | None:
    """A map of a channels-last problem written channels-first (2×2×3×3 for 2×3×3×2), or a
    conv kernel's gradient in PyTorch's order (4×3×3×3 for HWIO 3×3×3×4), in the shape
    :func:`~cnngrad.teach.diagnose.channels_first_order` gives it: say the layout (a tensor
    so written whose numbers match is that slip's, said before this)."""
    from cnngrad.teach.diagnose import channels_first_order

    kind = path.partition(".")[2]
    kernel = kind == "grads.kernel"
    if not kernel and kind.partition(".")[0] not in ("output", "delta_out", "delta_in"):
        return None
    reordered = channels_first_order(context, path)
    if reordered is None or reordered.shape != shape:
        return None
    expected = shape_text(np.shape(context.truth(path)))
    if kernel:  # PyTorch's order, its channel axes first (filters, or a transposed conv's
        # input channels), as its kernels are printed
        return (f"the problem is channels-last (\"layout\": \"nhwc\"): give this kernel as "
                f"{expected}, in TensorFlow's order (the window's axes first), not PyTorch's")
    return (f"the problem is channels-last (\"layout\": \"nhwc\"): give this map as "
            f"{expected}, its channels on the last axis")


def per_path_file(path: str, trace: Trace, known: set[str] | None = None) -> bool:
    """Whether a file answers one path by its name (``conv2d_1.grads.kernel.csv`` or
    ``.npy``): one student's answers may come as several, one per path."""
    if path == "-":
        return False
    source = pathlib.PurePath(path)
    known = set(known_paths(trace)) if known is None else known
    return source.suffix.lower() in SINGLE_TENSOR_SUFFIXES and source.stem in known


def single_tensor_file(path: str) -> bool:
    """Whether a file can only hold one tensor, whatever its name: a ``.npy``, or a ``.csv``
    that is a grid, not a CSV of ``# path`` blocks (an answers file of its own)."""
    kind = SINGLE_TENSOR_SUFFIXES.get(pathlib.PurePath(path).suffix.lower())
    if kind != "csv":
        return kind is not None
    try:
        with open(path, "rb") as stream:
            return not _first_line(stream.read(4096)).startswith(("#", GRADEBOOK_CSV_START))
    except OSError:  # its own row says why it cannot be read
        return False


def _student_folders(paths: list[str], trace: Trace) -> dict[pathlib.Path, list[str]]:
    """The folders (however written: ``subs/ana`` and its absolute path are one) whose given
    files each hold one tensor and at least one answers a path by its name: each a
    student's, with those files, a misnamed one (``dW.csv`` beside
    ``conv2d_1.output.csv``) an error of that student's row.  A folder that holds other
    answers files too (``samples/answers/``), or only misnamed grids (a class's ``ana.csv``,
    ``ben.csv``), is no one's."""
    known = set(known_paths(trace))
    folders: dict[pathlib.Path, list[str]] = {}
    named, mixed = set(), set()
    for path in paths:
        if path == "-":
            continue
        folder = pathlib.Path(path).parent.resolve()
        if per_path_file(path, trace, known):
            named.add(folder)
        elif not single_tensor_file(path):
            mixed.add(folder)
        folders.setdefault(folder, []).append(path)
    return {folder: files for folder, files in folders.items()
            if folder in named and folder not in mixed}


def per_path_groups(paths: list[str], trace: Trace) -> list[list[str]]:
    """The answers files as graded, in the order given: a student's folder of files of one
    path each (:func:`_student_folders`) as one set of answers, every other file on its
    own."""
    folders = _student_folders(paths, trace)
    groups = []
    for path in paths:
        files = folders.get(pathlib.Path(path).parent.resolve()) if path != "-" else None
        if files is None:
            groups.append([path])
        elif files[0] == path:
            groups.append(files)
    return groups


def group_names(groups: list[list[str]], trace: Trace) -> list[str]:
    """The names :func:`cnngrad.teach.grading.student_names` reads the groups' students
    from: a file of a student's own (``ana.json``) as it is, a student's folder of files of
    one path each as a name of that folder's (``subs/ana.lima/ana.lima.csv``), so that such
    a row is named after its folder, not after a path."""
    folders = _student_folders([path for group in groups for path in group], trace)
    names = []
    for group in groups:
        folder = pathlib.Path(group[0]).parent.resolve() if group[0] != "-" else None
        names.append(str(folder / f"{folder.name}.csv") if folder in folders else group[0])
    return names


def folder_of(paths: list[str]) -> str:
    """How a row names the answers of several files of one folder: ``subs/ana/ (3 files)``."""
    return f"{pathlib.PurePath(paths[0]).parent}/ ({len(paths)} files)"


def check_files(trace: Trace, paths: list[str], tolerance: Tolerance = Tolerance(), *,
                context: SlipContext | None = None, diagnose: bool = True,
                grading: Grading | None = None, one_based: bool = False,
                student: str | None = None) -> FileCheck:
    """Read and check one student's answers given as one file per path
    (``subs/ana/conv2d_1.grads.kernel.csv``, ``subs/ana/conv2d_1.delta_in.csv``): as one
    answers file, its row named after their folder (``student`` when given); one bad file
    makes the row an error, as a bad key does an answers file's."""
    if len(paths) == 1:
        return check_file(trace, paths[0], tolerance, context=context, diagnose=diagnose,
                          grading=grading, one_based=one_based, student=student)
    folder = pathlib.Path(paths[0]).parent
    student = student or folder.resolve().name
    try:
        stems = [pathlib.PurePath(path).stem for path in paths]
        twice = next((stem for stem in stems if stems.count(stem) > 1), None)
        if twice is not None:  # conv2d_1.grads.kernel.csv beside conv2d_1.grads.kernel.npy
            both = [path for path in paths if pathlib.PurePath(path).stem == twice]
            raise ProblemError(f"{twice} is answered by two files, {' and '.join(both)}",
                               file=folder_of(paths), hint="keep one of them")
        sheets = [read_answers(path, one_based=one_based, trace=trace) for path in paths]
        # the files in the problem's order of their paths, not their names' (conv2d_1.* first)
        ranks = _path_ranks(trace, context)
        sheets.sort(key=lambda read: min((ranks.get(entry.path, 0) for entry in read.entries),
                                         default=0))
        sheet = AnswerSheet(file=folder_of(paths),
                            entries=[entry for read in sheets for entry in read.entries],
                            input_files=[file for read in sheets for file in read.input_files])
        result = check_sheet(trace, sheet, tolerance, context=context, diagnose=diagnose,
                             grading=grading)
    except CnnGradError as error:
        result = FileCheck(file=folder_of(paths), error=error)
    result.student = student
    result.answer_files = tuple(paths)
    return result


def check_file(trace: Trace, path: str, tolerance: Tolerance = Tolerance(), *,
               context: SlipContext | None = None, diagnose: bool = True,
               stdin_bytes: bytes | None = None, grading: Grading | None = None,
               one_based: bool = False, student: str | None = None) -> FileCheck:
    """Read and check one answers file; a bad file gives a FileCheck holding the error
    (status ``"error"``) instead of raising, so that one bad file does not stop a grading.

    ``grading`` and ``one_based`` are as for :func:`check_sheet` and :func:`read_answers`;
    ``student`` names the file's row in a gradebook (default: the file's stem)."""
    student = student or (pathlib.PurePath(path).stem if path != "-" else "stdin")
    sheet = None
    try:
        if path == "-":  # read once, kept: what it names, if its reading stops below
            stdin_bytes = read_source(path, stdin_bytes)[0]
        sheet = read_answers(path, stdin_bytes=stdin_bytes, one_based=one_based, trace=trace)
        result = check_sheet(trace, sheet, tolerance, context=context, diagnose=diagnose,
                             grading=grading)
    except CnnGradError as error:
        result = FileCheck(file=path if path != "-" else "<stdin>", error=error)
        if path == "-":  # searched for the files it names when -o writes a file
            result.stdin_bytes = stdin_bytes
    result.student = student
    result.from_stdin = path == "-"
    if sheet is not None:
        result.input_files = list(sheet.input_files)
    return result
