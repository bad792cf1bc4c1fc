"""Small helpers shared by the layer kernels: argument normalisation and output sizes.

These accept the library API's loose forms (an int or a pair, padding as an int, a pair
or four sides) and return tuples; they raise ``ValueError`` on nonsense because they serve
the library API.  User input is validated earlier, in :mod:`cnngrad.problem`, with JSON paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The allowed values of the layer options, shared by the kernels and the problem loader.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
TIE_RULES = ("first", "split", "all")
MSE_REDUCTIONS = ("half_sum", "sum", "mean")

IntPair = tuple[int, int]
FourSides = tuple[int, int, int, int]  # (top, bottom, left, right)


def pair(value: int | Sequence[int], name: str = "value") -> IntPair:
    """``3 -> (3, 3)``, ``(2, 1) -> (2, 1)``."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    values = tuple(int(v) for v in value)
    if len(values) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {value!r}")
    return values  # type: ignore[return-value]


def four_sides(padding: int | Sequence[int]) -> FourSides:
    """Padding as (top, bottom, left, right) from an int, a (rows, cols) pair or four sides."""
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return p, p, p, p
    values = tuple(int(v) for v in padding)
    if len(values) == 2:
        return values[0], values[0], values[1], values[1]
    if len(values) == 4:
        return values  # type: ignore[return-value]
    raise ValueError(f"padding must be an int, a pair or four sides, got {padding!r}")


def same_padding(kernel: IntPair, dilation: IntPair) -> FourSides:
    """'same' padding for stride 1: total d·(k−1) per axis, the odd extra at bottom/right."""
    sides = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        sides += [total // 2, total - total // 2]
    return tuple(sides)  # type: ignore[return-value]


def conv_output_size(size: int, pad_before: int, pad_after: int, k: int, stride: int,
                     dilation: int = 1) -> int:
    """floor((H + pad_total − d·(k−1) − 1) / s) + 1; may be ≤ 0 when the window does not fit."""
    return (size + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def pool_output_size(size: int, pad: int, k: int, stride: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size, with ceil_mode's rule that a last window starting in
    the right/bottom padding is dropped."""
    span = size + 2 * pad - (k - 1) - 1
    if ceil_mode:
        # torch: floor((span + s − 1) / s) + 1, i.e. ceil(span / s) + 1 also for a negative span
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad:
            out -= 1
        return out
    return span // stride + 1


def is_exact(a: np.ndarray) -> bool:
    """True for object arrays (exact rational arithmetic with fractions.Fraction)."""
    return a.dtype == object


def zeros_like_dtype(shape, like: np.ndarray) -> np.ndarray:
    """Zeros of ``like``'s dtype; for object arrays, integer 0 objects (exact)."""
    if like.dtype == object:
        out = np.empty(shape, dtype=object)
        out.fill(0)
        return out
    return np.zeros(shape, dtype=like.dtype)


__all__ = ["PADDING_MODES", "TIE_RULES", "MSE_REDUCTIONS", "pair", "four_sides", "same_padding", "conv_output_size", "pool_output_size",
           "is_exact", "zeros_like_dtype"]
