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
from cnngrad.render.numbers import fmt, wants_scientific

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


def element_path(path: str, index: tuple[int, ...]) -> str:
    """``conv2d_1.grads.kernel`` + (0, 1) → ``conv2d_1.grads.kernel[0,1]`` (the contract's
    element path)."""
    return f"{path}[{','.join(map(str, index))}]" if index else path


def number_formatter(value, decimals: int):
    """A function element → text for one tensor, deciding fixed or scientific notation once for
    the whole tensor (noise like 2.8e-17 beside 0.3 reads 0.000000); exact values as ``p/q``."""
    array = as_array(value)
    scientific = False if is_exact(array) else wants_scientific(array.flat, decimals)

    def text(element) -> str:
        return fmt(exact_scalar(element), decimals, scientific)

    return text
