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

import csv
import difflib
import io
import pathlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.teach.diagnose import SlipContext, alternatives
from cnngrad.errors import CnnGradError, ProblemError, ShapeError
from cnngrad.network import Trace
from cnngrad.problem import shape_text
from cnngrad.tensorio import (
    CSV_DELIMITERS,
    load_json_document,
    parse_tensor,
    read_source,
)

__all__ = [
    "AnswerEntry",
    "AnswerSheet",
    "Diagnosis",
    "FileCheck",
    "TensorCheck",
    "Tolerance",
    "Written",
    "cells_right",
    "check_file",
    "check_sheet",
    "exit_code",
    "known_paths",
    "parse_written",
    "read_answers",
    "split_key",
]

#: A fraction answer must be exact to this, relative to the true value.
FRACTION_RTOL = Fraction(1, 10**12)
#: With a float (not exact) true value, the rule is widened by this much relative (and
#: FLOAT_SLACK_ATOL absolute) so that the float's own rounding never decides a verdict:
#: 0.0445 stays right for a true 0.04455 computed as 0.044550000000000006.
FLOAT_SLACK_RTOL = 1e-12
FLOAT_SLACK_ATOL = 1e-15

#: Answer files given as a single tensor, named after the path they answer.
SINGLE_TENSOR_SUFFIXES = {".csv": "csv", ".npy": "npy"}

STATUSES = ("right", "wrong", "error")

_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INDEX_TEXT = re.compile(r"(?:\[\s*[+-]?\d+(?:\s*,\s*[+-]?\d+)*\s*\])+")
_PATH_TEXT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_][A-Za-z0-9_\-]*)*")


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
    """

    atol: Fraction | None = None
    rtol: Fraction | None = None
    min_decimals: int = 0

    @property
    def explicit(self) -> bool:
        return self.atol is not None or self.rtol is not None

    def describe(self) -> str:
        if self.explicit:
            return (f"|given − true| ≤ {_plain(self.atol or 0)} + {_plain(self.rtol or 0)}"
                    "·|true|")
        rule = "within half a unit of the last decimal written"
        if self.min_decimals:
            rule += f" (at least {self.min_decimals} decimals)"
        return rule + "; fractions exact to 1e-12"


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

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def reshaped(self, shape: tuple[int, ...]) -> Written:
        return Written(*(array.reshape(shape) for array in
                         (self.values, self.texts, self.decimals, self.fraction)))


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
    Decimals rule: |given − true| ≤ ½·10^(−max(d, min_decimals)); a fraction:
    |given − true| ≤ 10⁻¹²·|true|; explicit: |given − true| ≤ atol + rtol·|true|.  A float
    true value widens the first two by 10⁻¹²·max(|given|, |true|) + 10⁻¹⁵.  Exact true
    values are compared exactly (:func:`_cells_right_exact`).
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
        return error <= allowed
    decimals = np.maximum(written.decimals, tolerance.min_decimals).astype(np.float64)
    allowed = np.where(written.fraction, float(FRACTION_RTOL) * np.abs(true),
                       0.5 * 10.0 ** -decimals)
    allowed = allowed + FLOAT_SLACK_RTOL * np.maximum(np.abs(given), np.abs(true)) + \
        FLOAT_SLACK_ATOL
    return error <= allowed


def _cells_right_exact(written: Written, truth: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """:func:`cells_right` in exact arithmetic, one cell at a time (the reference)."""
    out = np.zeros(written.shape, dtype=bool)
    for index in np.ndindex(*written.shape):
        given, true = written.values[index], Fraction(truth[index])
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


@dataclass
class AnswerSheet:
    """One answers file, read but not yet held against a problem."""

    file: str
    entries: list[AnswerEntry]
    input_files: list[pathlib.Path] = field(default_factory=list)


def split_key(key: str, *, file: str, where: str | None = None) -> tuple[str, tuple | None]:
    """``"conv2d_1.grads.kernel[0,1]"`` → (``"conv2d_1.grads.kernel"``, (0, 1)).

    ``[0][1]`` is read as ``[0,1]``; indices count from 0."""
    text = key.strip()
    base, bracket, rest = text.partition("[")
    base = base.strip()
    if not _PATH_TEXT.fullmatch(base):
        raise ProblemError(f"'{key}' is not a dotted path such as conv2d_1.grads.kernel",
                           where=where, file=file)
    if not bracket:
        return base, None
    index_text = "[" + rest
    if not _INDEX_TEXT.fullmatch(index_text):
        raise ProblemError(f"bad element index '{index_text}'", where=where, file=file,
                           hint=f"write an element as {base}[0,1] (indices from 0)")
    index = tuple(int(i) for i in re.findall(r"[+-]?\d+", index_text))
    if any(i < 0 for i in index):
        raise ProblemError(f"negative index in '{index_text}'", where=where, file=file,
                           hint="indices count from 0 and cannot be negative")
    return base, index


def read_answers(path: str, *, stdin_bytes: bytes | None = None) -> AnswerSheet:
    """Read an answers file: JSON ``{path: TENSOR}``, or a ``<path>.csv``/``<path>.npy``.

    Parameters
    ----------
    path : str
        The file as the user typed it, ``-`` for standard input (JSON).

    Raises
    ------
    ProblemError
        Not JSON, not an object, no answers, a key that is not a dotted path, a value that
        is not a TENSOR (each naming the file and the key).
    """
    raw, file, base_dir = read_source(path, stdin_bytes)
    source = pathlib.Path(path)
    kind = SINGLE_TENSOR_SUFFIXES.get(source.suffix.lower()) if path != "-" else None
    if kind is not None:
        key = source.name[:-len(source.suffix)]
        _, index = split_key(key, file=file)
        if index is not None:
            raise ProblemError("a file named after an element path; name it after the whole "
                               "tensor (conv2d_1.grads.kernel.csv)", file=file)
        written = parse_written({kind: source.name}, key, file=file, base_dir=base_dir)
        entry = AnswerEntry(key=key, path=key, index=None, written=written, file=file,
                            where=None)
        return AnswerSheet(file=file, entries=[entry], input_files=[source])

    document = load_json_document(raw, file)
    if not isinstance(document, dict):
        raise ProblemError('an answers file is a JSON object {"dotted.path": value, ...}',
                           file=file, hint='e.g. {"conv2d_1.grads.kernel": [[0.0446, 0.0941], '
                                           '[0.0113, 0.0683]]}')
    if not document:
        raise ProblemError("no answers in the file", file=file)
    entries = []
    files = [source] if path != "-" else []
    for key, value in document.items():
        tensor_path, index = split_key(key, file=file, where=key)
        files += _named_files(value, base_dir)
        written = parse_written(value, key, file=file, base_dir=base_dir)
        entries.append(AnswerEntry(key=key, path=tensor_path, index=index, written=written,
                                   file=file, where=key))
    return AnswerSheet(file=file, entries=entries, input_files=files)


def _named_files(value: Any, base_dir: pathlib.Path) -> list[pathlib.Path]:
    if not isinstance(value, dict):
        return []
    names = [name for key in ("csv", "npy")
             for name in (value.get(key) if isinstance(value.get(key), list) else
                          [value.get(key)]) if isinstance(name, str)]
    return [base_dir / name for name in names]


def parse_written(value: Any, where: str, *, file: str,
                  base_dir: pathlib.Path = pathlib.Path(".")) -> Written:
    """One TENSOR of an answers file, with the decimals of every value as written.

    Parameters
    ----------
    value : int, Decimal, str, list or dict
        As :func:`~cnngrad.tensorio.load_json_document` gave it (a float is read as its
        shortest repr); ``{"csv": ...}`` cells keep their text too.
    where, file, base_dir
        As for :func:`~cnngrad.tensorio.parse_tensor`.
    """
    values = parse_tensor(value, where, file=file, base_dir=base_dir, exact=True)
    if isinstance(value, dict) and "csv" in value:
        names = value["csv"] if isinstance(value["csv"], list) else [value["csv"]]
        leaves = [cell for name in names for cell in _csv_cells(name, base_dir)]
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
    return Written(values=values, texts=texts.reshape(values.shape),
                   decimals=decimals.reshape(values.shape),
                   fraction=fraction.reshape(values.shape),
                   loose_shape=isinstance(value, dict) and "csv" in value)


def _leaves(value: Any) -> list:
    if not isinstance(value, list):
        return [value]
    return [leaf for item in value for leaf in _leaves(item)]


def _leaf_info(leaf: Any) -> tuple[str, int, bool]:
    """(text, decimals, is a fraction) of one JSON leaf that parse_tensor accepted."""
    if isinstance(leaf, (int, np.integer)) and not isinstance(leaf, bool):
        return str(int(leaf)), 0, False
    if isinstance(leaf, Decimal):
        return str(leaf), -int(leaf.as_tuple().exponent), False
    if isinstance(leaf, str):
        return _text_info(leaf)
    if isinstance(leaf, (float, np.floating)):
        return _text_info(repr(float(leaf)))
    raise AssertionError(f"unexpected answer leaf {leaf!r}")


def _text_info(text: str) -> tuple[str, int, bool]:
    token = text.strip()
    if _DECIMAL_TEXT.fullmatch(token):
        return token, -int(Decimal(token).as_tuple().exponent), False
    return token, 0, True  # "p/q": parse_tensor accepted nothing else


def _fraction_info(value: Fraction) -> tuple[str, int, bool]:
    """A value with no text (an .npy cell): its shortest decimal and that many decimals."""
    value = Fraction(value)
    twos = fives = 0
    denominator = value.denominator
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator != 1:  # not a finite decimal (cannot come from a float): a fraction
        return f"{value.numerator}/{value.denominator}", 0, True
    decimals = max(twos, fives)
    if decimals == 0:
        return str(value.numerator), 0, False
    text = str(Decimal(value.numerator) / Decimal(value.denominator))
    return text, decimals, False


def _csv_cells(name: str, base_dir: pathlib.Path) -> list[str]:
    """The cells of a CSV file as text, row by row (the file is known to be valid)."""
    path = pathlib.Path(name)
    path = path if path.is_absolute() else base_dir / path
    raw, _, _ = read_source(str(path))
    text = raw.decode("utf-8-sig")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = next((d for d in CSV_DELIMITERS if d in first), ",")
    rows = [[cell.strip() for cell in row]
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    while rows and not any(rows[-1]):
        rows.pop()
    return [cell for row in rows for cell in row]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Diagnosis:
    slip: str  # the name in cnngrad.teach.diagnose.SLIPS
    text: str  # "matches the kernel not rotated by 180°"


@dataclass
class TensorCheck:
    """The verdict on one tensor: every answered cell right or wrong, and the slips that
    explain the wrong ones."""

    path: str
    truth: np.ndarray  # display shape (0-d for a number); float64 or object (exact)
    answered: np.ndarray  # bool, truth's shape
    right: np.ndarray  # bool, truth's shape; False where not answered
    texts: np.ndarray  # object, truth's shape: the value as written, or None
    keys: list[str] = field(default_factory=list)  # the answer keys that gave it
    diagnoses: list[Diagnosis] = field(default_factory=list)
    diagnosed: bool = False  # the slips were tried (a wrong tensor, diagnosis asked for)

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
    def all_right(self) -> bool:
        return self.n_right == self.n_answered

    def wrong_cells(self) -> list[tuple[tuple[int, ...], str, Any]]:
        """(index, value as written, true value) of every wrong cell, row-major."""
        wrong = self.answered & ~self.right
        return [(tuple(int(i) for i in index), self.texts[index], self.truth[index])
                for index in zip(*np.nonzero(wrong))] if self.truth.ndim else \
            ([((), self.texts[()], self.truth[()])] if bool(wrong) else [])


@dataclass
class FileCheck:
    """One answers file: its tensors, or the error that stopped reading it."""

    file: str
    tensors: list[TensorCheck] = field(default_factory=list)
    error: CnnGradError | None = None

    @property
    def right(self) -> int:
        return sum(t.n_right for t in self.tensors)

    @property
    def total(self) -> int:
        return sum(t.n_answered for t in self.tensors)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "right" if self.right == self.total else "wrong"

    @property
    def score(self) -> float | None:
        return None if self.error is not None or not self.total else self.right / self.total


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


def _unknown_path(entry: AnswerEntry, trace: Trace, known: list[str]) -> CnnGradError:
    path = entry.path
    name, _, rest = path.partition(".")
    layer_names = [layer.name for layer in trace.layers]
    where, file = entry.where or path, entry.file
    if path == "loss":
        return ProblemError("the problem gives the delta at the last layer, so it has no loss "
                            "to check", where=where, file=file)
    if rest.startswith("updated.") and name in layer_names and trace.lr is None:
        return ProblemError(f"'{path}' is a parameter after one SGD step: give the learning "
                            "rate with --lr", where=where, file=file)
    close = difflib.get_close_matches(path, known, n=3, cutoff=0.6)
    if close:
        hint = "close ones: " + ", ".join(close)
    else:
        shown = known[:8] + (["..."] if len(known) > 8 else [])
        hint = "known paths: " + ", ".join(shown)
    return ProblemError(f"unknown path '{path}'", where=where, file=file, hint=hint)


def check_sheet(trace: Trace, sheet: AnswerSheet, tolerance: Tolerance = Tolerance(), *,
                context: SlipContext | None = None, diagnose: bool = True) -> FileCheck:
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

    Raises
    ------
    ProblemError, ShapeError
        An unknown path (the hint lists close ones), a wrong shape (naming the expected
        one, and the slip it matches if any), an element out of range, a cell given twice.
    """
    context = context or SlipContext(trace)
    known = known_paths(trace)
    known_set = set(known)
    grouped: dict[str, list[AnswerEntry]] = {}
    for entry in sheet.entries:
        if entry.path not in known_set:
            raise _unknown_path(entry, trace, known)
        grouped.setdefault(entry.path, []).append(entry)
    result = FileCheck(file=sheet.file)
    for path, entries in grouped.items():
        truth = context.truth(path)
        result.tensors.append(_check_tensor(path, truth, entries, tolerance, context,
                                            diagnose))
    return result


def _check_tensor(path: str, truth: np.ndarray, entries: list[AnswerEntry],
                  tolerance: Tolerance, context: SlipContext, diagnose: bool) -> TensorCheck:
    size = truth.size
    answered = np.zeros(size, dtype=bool)
    owner: dict[int, str] = {}
    cells: list[np.ndarray] = []
    parts: list[Written] = []
    for entry in entries:
        flat, written = _place(entry, truth, tolerance, context)
        for cell in flat.tolist():
            if cell in owner:
                raise ProblemError(f"this cell is also given by '{owner[cell]}'",
                                   where=entry.where or entry.key, file=entry.file)
            owner[cell] = entry.key
        answered[flat] = True
        cells.append(flat)
        parts.append(written)
    flat_cells = np.concatenate(cells)
    given = _concat(parts)
    true_cells = truth.reshape(-1)[flat_cells]
    right_cells = cells_right(given, true_cells, tolerance)
    right = np.zeros(size, dtype=bool)
    right[flat_cells] = right_cells
    texts = np.full(size, None, dtype=object)
    texts[flat_cells] = given.texts
    check = TensorCheck(path=path, truth=truth, answered=answered.reshape(truth.shape),
                        right=right.reshape(truth.shape), texts=texts.reshape(truth.shape),
                        keys=[entry.key for entry in entries])
    if diagnose and not right_cells.all():
        check.diagnoses = _diagnose(context, path, given, flat_cells, tolerance)
        check.diagnosed = True
    return check


def _place(entry: AnswerEntry, truth: np.ndarray, tolerance: Tolerance,
           context: SlipContext) -> tuple[np.ndarray, Written]:
    """The flat cells of ``truth`` an entry answers, and its values in that order."""
    written, expected = entry.written, truth.shape
    where = entry.where or entry.path
    if entry.index is None:
        if written.shape != expected:
            if written.loose_shape and _squeezed(written.shape) == _squeezed(expected):
                written = written.reshaped(expected)
            else:
                raise ShapeError(f"expected {_shape_words(expected)}, got "
                                 f"{_shape_words(written.shape)}", where=where, file=entry.file,
                                 hint=_shape_hint(context, entry, tolerance))
        return np.arange(truth.size), written.reshaped((truth.size,))
    if written.values.size != 1 or (written.values.ndim and not written.loose_shape):
        raise ShapeError(f"an element takes one number, got {_shape_words(written.shape)}",
                         where=where, file=entry.file)
    if len(entry.index) != truth.ndim or any(i >= n for i, n in zip(entry.index, expected)):
        rank = f"{truth.ndim} indices" if truth.ndim != 1 else "1 index"
        what = (f"'{entry.path}' is a single number: no index" if truth.ndim == 0 else
                f"index {list(entry.index)} is outside '{entry.path}' of shape "
                f"{shape_text(expected)} ({rank}, each from 0)")
        raise ShapeError(what, where=where, file=entry.file)
    flat = np.ravel_multi_index(entry.index, expected) if truth.ndim else 0
    return np.array([flat]), written.reshaped((1,))


def _shape_words(shape: tuple[int, ...]) -> str:
    return f"shape {shape_text(shape)}" if shape else "a single number"


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def _concat(parts: list[Written]) -> Written:
    return Written(*(np.concatenate([getattr(part, name).reshape(-1) for part in parts])
                     for name in ("values", "texts", "decimals", "fraction")))


def _diagnose(context: SlipContext, path: str, given: Written, flat_cells: np.ndarray,
              tolerance: Tolerance) -> list[Diagnosis]:
    """Every slip whose answer the given cells match (same rule, same cells)."""
    found = []
    truth = context.truth(path)
    for slip, value in alternatives(context, path):
        if value.shape != truth.shape:
            continue
        if cells_right(given, value.reshape(-1)[flat_cells], tolerance).all():
            found.append(Diagnosis(slip.name, slip.describe(context.trace)))
    return found


def _shape_hint(context: SlipContext, entry: AnswerEntry, tolerance: Tolerance) -> str | None:
    """A wrong-shaped answer that a slip explains: say which."""
    written = entry.written
    matches = []
    for slip, value in alternatives(context, entry.path):
        if value.shape == written.shape and cells_right(written, value, tolerance).all():
            matches.append(slip.describe(context.trace))
    if not matches:
        return None
    return "it " + "; it ".join(matches)


def check_file(trace: Trace, path: str, tolerance: Tolerance = Tolerance(), *,
               context: SlipContext | None = None, diagnose: bool = True,
               stdin_bytes: bytes | None = None) -> FileCheck:
    """Read and check one answers file; a bad file gives a FileCheck holding the error
    (status ``"error"``) instead of raising, so that one bad file does not stop a grading."""
    try:
        sheet = read_answers(path, stdin_bytes=stdin_bytes)
        return check_sheet(trace, sheet, tolerance, context=context, diagnose=diagnose)
    except CnnGradError as error:
        return FileCheck(file=path if path != "-" else "<stdin>", error=error)
