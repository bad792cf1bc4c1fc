"""1-D max and average pooling and their backward passes.

The fast kernels are the 2-D ones of :mod:`cnngrad.layers.pool` over maps one row high (a
1×k window), so they share its tie rules, ``ceil_mode``, ``count_include_pad`` and exact
(``dtype=object``, :class:`fractions.Fraction`) arithmetic.  The plain-loop ``_naive`` twins
are written straight from the definitions.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from cnngrad.layers import pool
from cnngrad.layers._common import (a_bool, check_ties, pool_output_size, real_array,
                                    zeros_like_dtype)


def _one(value, name: str, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"{name} of a 1-D pooling must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be ≥ {low}, got {value}")
    return int(value)


def _geometry(x, size, stride, padding, ceil_mode):
    """x as a 3-D float or object array, and (size, stride, padding, L') checked."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be 3-D (N, C, L), got shape {x.shape}")
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    elif x.dtype != object and x.dtype.kind != "f":
        raise ValueError(f"x must hold real numbers (float or object dtype), got dtype {x.dtype}")
    size = _one(size, "size", 1)
    stride = size if stride is None else _one(stride, "stride", 1)
    padding = _one(padding, "padding", 0)
    if 2 * padding > size:
        raise ValueError(f"padding {padding} must be at most half the window size {size}, "
                         f"as in PyTorch")
    length = x.shape[2]
    if length < 1:
        raise ValueError(f"the input's length L must be ≥ 1, got {length}")
    out = pool_output_size(length, padding, size, stride, a_bool(ceil_mode, "ceil_mode"))
    if out < 1:
        raise ValueError(f"window size {size} is larger than the padded input "
                         f"(L = {length} + 2·{padding})")
    return x, size, stride, padding, out


def _as_delta(delta, x, out):
    delta = real_array(delta, "delta")
    expected = x.shape[:2] + (out,)
    if delta.shape != expected:
        raise ValueError(f"delta must have the output's shape {expected}, got {delta.shape}")
    return delta if delta.dtype == x.dtype else delta.astype(x.dtype)


def maxpool1d_forward(x: np.ndarray, size: int, stride: int | None = None, padding: int = 0,
                      ceil_mode: bool = False) -> np.ndarray:
    """Max pooling along one axis, as ``torch.nn.functional.max_pool1d``.

    Parameters
    ----------
    x : ndarray (N, C, L)
        float (float64, float32, float16, longdouble), integer or bool (computed in
        float64), or object holding :class:`fractions.Fraction` (exact).
    size : int
        Window length k.
    stride : int, optional
        Step between windows; default ``size``.
    padding : int
        Cells of −∞ added on both ends, at most half the window.
    ceil_mode : bool
        Round the output length up (PyTorch's rule, see Notes).

    Returns
    -------
    y : ndarray (N, C, L')
        The dtype of ``x`` (any float, or object), float64 for integer or bool ``x``.

    Notes
    -----
    L' = floor((L + 2p − (k − 1) − 1) / s) + 1; with ``ceil_mode`` ceil instead of floor, and a
    last window that would start in the right padding is dropped.
    """
    x, size, stride, padding, _ = _geometry(x, size, stride, padding, ceil_mode)
    return pool.maxpool2d_forward(x[:, :, None, :], (1, size), (1, stride), (0, padding),
                                  ceil_mode)[:, :, 0, :]


def maxpool1d_backward(x: np.ndarray, delta: np.ndarray, size: int, stride: int | None = None,
                       padding: int = 0, ceil_mode: bool = False,
                       ties: str = "first") -> np.ndarray:
    """dE/dx of 1-D max pooling: each window's delta goes to the cell(s) holding its maximum.

    Parameters
    ----------
    x : ndarray (N, C, L)
        The forward pass's input.
    delta : ndarray (N, C, L')
        dE/dy.
    size, stride, padding, ceil_mode
        As for :func:`maxpool1d_forward`.
    ties : {"first", "split", "all"}
        ``"first"``: the whole delta to the leftmost maximum (PyTorch's rule); ``"split"``:
        shared equally among the tied maxima; ``"all"``: each tied maximum gets all of it.

    Returns
    -------
    delta_in : ndarray (N, C, L)
        The dtype of ``x`` (delta is cast to it), float64 for integer or bool ``x``;
        overlapping windows (stride < size) add up.

    Notes
    -----
    Output length as in :func:`maxpool1d_forward`:
    L' = floor((L + 2p − (k − 1) − 1) / s) + 1 (ceil with ``ceil_mode``).
    """
    check_ties(ties)
    x, size, stride, padding, out = _geometry(x, size, stride, padding, ceil_mode)
    delta = _as_delta(delta, x, out)
    return pool.maxpool2d_backward(x[:, :, None, :], delta[:, :, None, :], (1, size),
                                   (1, stride), (0, padding), ceil_mode, ties)[:, :, 0, :]


def avgpool1d_forward(x: np.ndarray, size: int, stride: int | None = None, padding: int = 0,
                      ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray:
    """Average pooling along one axis, as ``torch.nn.functional.avg_pool1d``.

    Parameters
    ----------
    x : ndarray (N, C, L)
        float (float64, float32, float16, longdouble), integer or bool (computed in
        float64), or object holding :class:`fractions.Fraction` (exact).
    size, stride, padding, ceil_mode
        As for :func:`maxpool1d_forward`; padded cells are zeros.
    count_include_pad : bool
        Divide by the window's cells inside the padded input (True) or by its real cells.

    Returns
    -------
    y : ndarray (N, C, L')
        The dtype of ``x`` (any float, or object), float64 for integer or bool ``x``.

    Notes
    -----
    L' = floor((L + 2p − (k − 1) − 1) / s) + 1; with ``ceil_mode`` ceil instead of floor, and a
    last window that would start in the right padding is dropped.  A ``ceil_mode`` window
    hanging over the padded end divides by its part inside the padded input (PyTorch's rule).
    """
    x, size, stride, padding, _ = _geometry(x, size, stride, padding, ceil_mode)
    return pool.avgpool2d_forward(x[:, :, None, :], (1, size), (1, stride), (0, padding),
                                  ceil_mode, count_include_pad)[:, :, 0, :]


def avgpool1d_backward(x: np.ndarray, delta: np.ndarray, size: int, stride: int | None = None,
                       padding: int = 0, ceil_mode: bool = False,
                       count_include_pad: bool = True) -> np.ndarray:
    """dE/dx of 1-D average pooling: each window's delta, over its divisor, to each real cell.

    Parameters
    ----------
    x : ndarray (N, C, L)
        The forward pass's input (only its shape and dtype are used).
    delta : ndarray (N, C, L')
        dE/dy.
    size, stride, padding, ceil_mode, count_include_pad
        As for :func:`avgpool1d_forward`.

    Returns
    -------
    delta_in : ndarray (N, C, L)
        The dtype of ``x`` (delta is cast to it), float64 for integer or bool ``x``;
        overlapping windows add up, padded cells get nothing.

    Notes
    -----
    Output length as in :func:`avgpool1d_forward`:
    L' = floor((L + 2p − (k − 1) − 1) / s) + 1 (ceil with ``ceil_mode``).
    """
    x, size, stride, padding, out = _geometry(x, size, stride, padding, ceil_mode)
    delta = _as_delta(delta, x, out)
    return pool.avgpool2d_backward(x[:, :, None, :], delta[:, :, None, :], (1, size),
                                   (1, stride), (0, padding), ceil_mode,
                                   count_include_pad)[:, :, 0, :]


# --------------------------------------------------------------------------------------
# naive references


def _windows_naive(length, size, stride, padding, out):
    """For each output cell: its window's real cells, and the window's extent clipped to the
    padded input (the divisor with count_include_pad)."""
    for o in range(out):
        start = o * stride - padding
        stop = min(start + size, length + padding)
        yield o, [q for q in range(start, stop) if 0 <= q < length], stop - start


def _divide(value, count: int, exact: bool):
    return value / (Fraction(count) if exact else count)


def maxpool1d_forward_naive(x, size, stride=None, padding=0, ceil_mode=False):
    """Plain-loop reference of :func:`maxpool1d_forward`."""
    x, size, stride, padding, out = _geometry(x, size, stride, padding, ceil_mode)
    y = np.empty(x.shape[:2] + (out,), dtype=x.dtype)
    for n, c in np.ndindex(*x.shape[:2]):
        for o, cells, _ in _windows_naive(x.shape[2], size, stride, padding, out):
            y[n, c, o] = max(x[n, c, q] for q in cells)
    return y


def maxpool1d_backward_naive(x, delta, size, stride=None, padding=0, ceil_mode=False,
                             ties="first"):
    """Plain-loop reference of :func:`maxpool1d_backward`."""
    check_ties(ties)
    x, size, stride, padding, out = _geometry(x, size, stride, padding, ceil_mode)
    delta = _as_delta(delta, x, out)
    delta_in = zeros_like_dtype(x.shape, x)
    for n, c in np.ndindex(*x.shape[:2]):
        for o, cells, _ in _windows_naive(x.shape[2], size, stride, padding, out):
            top = max(x[n, c, q] for q in cells)
            winners = [q for q in cells if x[n, c, q] == top]
            if ties == "first":
                winners = winners[:1]
            share = delta[n, c, o]
            if ties == "split":
                share = _divide(share, len(winners), x.dtype == object)
            for q in winners:
                delta_in[n, c, q] += share
    return delta_in


def avgpool1d_forward_naive(x, size, stride=None, padding=0, ceil_mode=False,
                            count_include_pad=True):
    """Plain-loop reference of :func:`avgpool1d_forward`."""
    x, size, stride, padding, out = _geometry(x, size, stride, padding, ceil_mode)
    count_include_pad = a_bool(count_include_pad, "count_include_pad")
    y = np.empty(x.shape[:2] + (out,), dtype=x.dtype)
    for n, c in np.ndindex(*x.shape[:2]):
        for o, cells, padded_count in _windows_naive(x.shape[2], size, stride, padding, out):
            total = 0
            for q in cells:
                total = total + x[n, c, q]
            divisor = padded_count if count_include_pad else len(cells)
            y[n, c, o] = _divide(total, divisor, x.dtype == object)
    return y


def avgpool1d_backward_naive(x, delta, size, stride=None, padding=0, ceil_mode=False,
                             count_include_pad=True):
    """Plain-loop reference of :func:`avgpool1d_backward`."""
    x, size, stride, padding, out = _geometry(x, size, stride, padding, ceil_mode)
    count_include_pad = a_bool(count_include_pad, "count_include_pad")
    delta = _as_delta(delta, x, out)
    delta_in = zeros_like_dtype(x.shape, x)
    for n, c in np.ndindex(*x.shape[:2]):
        for o, cells, padded_count in _windows_naive(x.shape[2], size, stride, padding, out):
            divisor = padded_count if count_include_pad else len(cells)
            share = _divide(delta[n, c, o], divisor, x.dtype == object)
            for q in cells:
                delta_in[n, c, q] += share
    return delta_in


__all__ = ["maxpool1d_forward", "maxpool1d_backward", "avgpool1d_forward", "avgpool1d_backward",
           "maxpool1d_forward_naive", "maxpool1d_backward_naive", "avgpool1d_forward_naive",
           "avgpool1d_backward_naive"]
