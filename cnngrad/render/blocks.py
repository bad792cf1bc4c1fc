"""What the text formats (CSV, LaTeX, Markdown) share: which tensors a report holds, and how a
tensor of any rank is cut into matrices a page can show.

A tensor of rank ≤ 2 is one block; a higher-rank one is one matrix per leading index, named by
the contract's element path (``conv2d_1.grads.kernel[0,1]`` is the matrix ``kernel[0, 1, :, :]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from itertools import product
from typing import Any

import numpy as np

from cnngrad.network import Trace
from cnngrad.render.numbers import (fmt, scale_unreadable, scientific_ties, ties_away_from_zero,
                                    wants_scientific)

FORWARD_PARTS = ("output",)  # what `forward` reports of each layer (and the loss)


def report_tensors(trace: Trace, *, include_backward: bool = True) -> Iterator[tuple[str, Any]]:
    """(dotted path, value in display shape) of everything the report shows, forward order.

    ``include_backward=False`` keeps the loss and each layer's output (the ``forward``
    report); a missing value (the loss when the problem gave ``delta``) is skipped."""
    for path, value in trace.tensors():
        if value is None:
            continue
        if include_backward or path == "loss" or path.rsplit(".", 1)[-1] in FORWARD_PARTS:
            yield path, value


def header_notes(trace: Trace, base: int = 0) -> list[str]:
    """What a report's heading says after its title, in the table, Markdown and LaTeX
    reports alike: the float dtype when not float64 (float32's six decimals read as
    float64's) and where the indices count from when not 0."""
    notes = []
    if trace.dtype is not None and np.dtype(trace.dtype) != np.float64:
        notes.append(f"computed in {np.dtype(trace.dtype).name}")
    if base:
        notes.append(f"indices count from {base}")
    return notes


def is_exact(value) -> bool:
    """True for an exact result: a Fraction, or an object array of them."""
    if isinstance(value, np.ndarray):
        return value.dtype == object
    return isinstance(value, Fraction)


def as_array(value) -> np.ndarray:
    """A result (number or array) as an array, keeping Fractions as objects."""
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(value, dtype=object if isinstance(value, (Fraction, int)) else np.float64)


def exact_scalar(value):
    """One element as a plain Python number: a Fraction stays one, and in an exact array the
    int 0 the engine starts its sums from is the exact 0."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    return value


def matrices(value) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """(leading index, block of rank ≤ 2): the whole tensor when its rank is ≤ 2, else one
    matrix per leading index in row-major order."""
    array = as_array(value)
    if array.ndim <= 2:
        yield (), array
        return
    for index in product(*(range(s) for s in array.shape[:-2])):
        yield index, array[index]


def element_path(path: str, index: tuple[int, ...], base: int = 0) -> str:
    """``conv2d_1.grads.kernel`` + (0, 1) → ``conv2d_1.grads.kernel[0,1]`` (the contract's
    element path); with ``base=1`` the indices count from 1 (``[1,2]``), as ``check
    --one-based`` reads them."""
    return f"{path}[{','.join(str(i + base) for i in index)}]" if index else path


def number_formatter(value, decimals: int):
    """A function element → text for one tensor, deciding fixed or scientific notation once for
    the whole tensor (noise like 2.8e-17 beside 0.3 reads 0.000000); exact values as ``p/q``."""
    array = as_array(value)
    scientific = False if is_exact(array) else wants_scientific(array.flat, decimals)

    def text(element) -> str:
        return fmt(exact_scalar(element), decimals, scientific)

    return text


#: numbers formatted per ``%`` call in :func:`formatted_rows`
ROWS_BLOCK_ELEMENTS = 1 << 16


def tensor_is_scientific(array: np.ndarray, decimals: int) -> bool:
    """:func:`wants_scientific` for a whole float array at once (exact arrays: never)."""
    if is_exact(array):
        return False
    magnitudes = np.abs(np.asarray(array, dtype=np.float64))
    magnitudes = magnitudes[magnitudes == magnitudes]  # NaN says nothing about the scale
    largest = float(magnitudes.max()) if magnitudes.size else 0.0
    return scale_unreadable(largest, decimals)


def formatted_rows(block: np.ndarray, decimals: int, scientific: bool,
                   separator: str) -> Iterator[list[str]]:
    """The rows of a float matrix as text, each number as :func:`fmt` writes it (a tie a half
    away from zero) and joined by ``separator``: a list of row strings per group of rows, each
    group formatted by one ``%`` over a template, so a big tensor costs no Python call per
    number."""
    fixed, digits = f"%.{decimals}f", max(decimals - 1, 1)
    spec = f"%.{digits}e" if scientific else fixed
    zero = fixed % 0.0
    scientific_zero = spec % 0.0
    rows_count, width = block.shape
    step = max(1, ROWS_BLOCK_ELEMENTS // max(width, 1))
    row_template = separator.join([spec] * width)
    for start in range(0, rows_count, step):
        chunk = block[start:start + step]
        if not scientific:
            nudged = ties_away_from_zero(chunk, decimals)
            if nudged is None:  # rare: a tie too coarse to nudge, a number at a time
                yield [separator.join(fmt(v, decimals, False) for v in row)
                       for row in chunk.tolist()]
                continue
            chunk = nudged
        text = "\n".join([row_template] * len(chunk)) % tuple(chunk.ravel().tolist())
        if scientific:  # fmt writes 0 in fixed notation, and -0 as 0
            text = text.replace("-" + scientific_zero, zero).replace(scientific_zero, zero)
        else:  # "-0.000000" reads like a sign error
            text = text.replace("-" + zero, zero)
        rows = text.split("\n")
        if scientific:  # %e rounds a tie to even: a row with one written as fmt writes it
            for row in np.flatnonzero(scientific_ties(chunk, digits).any(axis=1)):
                rows[row] = separator.join(fmt(v, decimals, True) for v in chunk[row].tolist())
        yield rows
