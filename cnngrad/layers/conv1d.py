"""1-D convolution (cross-correlation) and its backward pass.

A 1-D convolution is the 2-D one over maps one row high: the fast kernels hand (N, C, 1, L)
views to :mod:`cnngrad.layers.conv`, so they share its tiling, threads, padding modes and
exact (``dtype=object``, :class:`fractions.Fraction`) arithmetic.  The plain-loop ``_naive``
twins are written straight from the formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np

from cnngrad.layers import conv
from cnngrad.layers._common import PADDING_MODES, conv_output_size, ints, zeros_like_dtype


def _one(value, name: str) -> int:
    """An int ≥ 1 for a one-axis stride or dilation."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"{name} of a 1-D convolution must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be ≥ 1, got {value}")
    return int(value)


def _sides(padding) -> tuple[int, int]:
    """(left, right) from an int or a pair."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        left = right = int(padding)
    else:
        values = ints(padding, "padding", "an int or (left, right) ints")
        if len(values) != 2:
            raise ValueError(f"padding of a 1-D convolution must be an int or (left, right), "
                             f"got {padding!r}")
        left, right = values
    if left < 0 or right < 0:
        raise ValueError(f"padding must be ≥ 0 on both sides, got ({left}, {right})")
    return left, right


def _setup(x, w, stride, padding, dilation, groups, padding_mode):
    """Check the arguments with 1-D wording; return (x, w, stride, (left, right), dilation, L')."""
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim != 3:
        raise ValueError(f"x must be 3-D (N, C, L), got shape {x.shape}")
    if w.ndim != 3:
        raise ValueError(f"w must be 3-D (F, C/groups, k), got shape {w.shape}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}; "
                         f"got {padding_mode!r}")
    stride, dilation = _one(stride, "stride"), _one(dilation, "dilation")
    left, right = _sides(padding)
    if min(x.shape) < 1 or min(w.shape) < 1:
        # the 2-D kernel's checks, in its order (groups and channels before the empty axis),
        # before any check that needs the output's length; the naive twins come here too
        with _shapes_as_given(x, w):
            conv.conv2d_forward(x[:, :, None, :], w[:, :, None, :], None, (1, stride),
                                (0, 0, left, right), (1, dilation), groups, padding_mode)
        raise ValueError(f"empty axis in x {x.shape} or w {w.shape}")
    length, k = x.shape[2], w.shape[2]
    if length >= 1 and k >= 1:
        if padding_mode == "reflect" and max(left, right) >= length:
            raise ValueError(f"reflect padding {max(left, right)} must be smaller than the "
                             f"input length {length}")
        if padding_mode == "circular" and max(left, right) > length:
            raise ValueError(f"circular padding {max(left, right)} must not exceed the input "
                             f"length {length}")
    out = conv_output_size(length, left, right, k, stride, dilation)
    if length >= 1 and k >= 1 and out < 1:
        raise ValueError(f"output length {out} < 1: the dilated kernel {dilation * (k - 1) + 1} "
                         f"does not fit the padded input {length + left + right}")
    return x, w, stride, (left, right), dilation, out


@contextmanager
def _shapes_as_given(x: np.ndarray, w: np.ndarray):
    """The 2-D kernel's "empty axis" error with the caller's 1-D shapes: (0, 2, 1, 6) was x's
    (0, 2, 6) with the axis the kernel adds.  Its other errors keep their order and words."""
    try:
        yield
    except ValueError as error:
        if str(error).startswith("empty axis in x "):
            raise ValueError(f"empty axis in x {x.shape} or w {w.shape}") from None
        raise


def _check_bias(b: np.ndarray, f: int, out: int) -> None:
    if b.shape not in ((f,), (f, out)):
        raise ValueError(f"b must have shape ({f},) (one per filter) or ({f}, {out}) (untied), "
                         f"got {b.shape}")


def conv1d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                   stride: int = 1, padding: int | Sequence[int] = 0, dilation: int = 1,
                   groups: int = 1, padding_mode: str = "zeros") -> np.ndarray:
    """1-D cross-correlation, as ``torch.nn.functional.conv1d`` (and Conv1d's padding_mode).

    Parameters
    ----------
    x : ndarray (N, C, L)
    w : ndarray (F, C/groups, k)
    b : None, ndarray (F,) one bias per filter, or (F, L') untied (one per output cell)
    stride, dilation : int
    padding : int or (left, right)
    groups : int
        Input channels ``g·C/groups ... (g+1)·C/groups − 1`` feed filters
        ``g·F/groups ... (g+1)·F/groups − 1``.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}

    Returns
    -------
    y : ndarray (N, F, L'), the common dtype of x, w and b (object stays object)

    Notes
    -----
    y[n, f, i] = Σ_c Σ_m w[f, c, m] · xpad[n, g·C/groups + c, i·s + m·d] + b[f], with
    g = f // (F/groups), and L' = floor((L + left + right − d·(k − 1) − 1) / s) + 1.
    """
    x, w, stride, sides, dilation, out = _setup(x, w, stride, padding, dilation, groups,
                                                padding_mode)
    if b is not None:
        b = np.asarray(b)
        _check_bias(b, w.shape[0], out)
        b = b if b.ndim == 1 else b[:, None, :]
    with _shapes_as_given(x, w):
        y = conv.conv2d_forward(x[:, :, None, :], w[:, :, None, :], b, (1, stride),
                                (0, 0) + sides, (1, dilation), groups, padding_mode)
    return y[:, :, 0, :]


def conv1d_backward(x: np.ndarray, w: np.ndarray, delta: np.ndarray, stride: int = 1,
                    padding: int | Sequence[int] = 0, dilation: int = 1, groups: int = 1,
                    padding_mode: str = "zeros") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv1d_forward` given delta = dE/dy.

    Parameters
    ----------
    x : ndarray (N, C, L)
    w : ndarray (F, C/groups, k)
    delta : ndarray (N, F, L')
    stride, padding, dilation, groups, padding_mode
        As in :func:`conv1d_forward`.

    Returns
    -------
    dx : ndarray (N, C, L)
        dE/dx; the delta of a padded cell is added to the input cell it copies.
    dw : ndarray (F, C/groups, k)
    db : ndarray (F,)
        delta summed over N and L' (the gradient of a per-filter bias; an untied bias's
        gradient is delta summed over N).

    Notes
    -----
    dw[f, c, m] = Σ_n Σ_i delta[n, f, i] · xpad[n, g·C/groups + c, i·s + m·d];
    dxpad[n, g·C/groups + c, i·s + m·d] += w[f, c, m] · delta[n, f, i].
    L' = floor((L + left + right − d·(k − 1) − 1) / s) + 1.
    """
    x, w, stride, sides, dilation, out = _setup(x, w, stride, padding, dilation, groups,
                                                padding_mode)
    delta = np.asarray(delta)
    expected = (x.shape[0], w.shape[0], out)
    if delta.shape != expected:
        raise ValueError(f"delta must have the output's shape {expected}, got {delta.shape}")
    with _shapes_as_given(x, w):
        dx, dw, db = conv.conv2d_backward(x[:, :, None, :], w[:, :, None, :],
                                          delta[:, :, None, :], (1, stride), (0, 0) + sides,
                                          (1, dilation), groups, padding_mode)
    return dx[:, :, 0, :], dw[:, :, 0, :], db


# --------------------------------------------------------------------------------------
# naive references


def _naive_terms(x, w, stride, sides, dilation, groups, padding_mode, out):
    """Yield (y index, x index or None for a zero-padded cell, w index) for every product."""
    n_images, c, length = x.shape
    f, c_group, k = w.shape
    if groups < 1 or c % groups or f % groups or c_group != c // groups:
        raise ValueError(f"w {w.shape} does not fit x {x.shape} with groups={groups}")
    f_group = f // groups
    for n in range(n_images):
        for filt in range(f):
            g = filt // f_group
            for i in range(out):
                for ch in range(c_group):
                    for m in range(k):
                        q = conv.padded_source(i * stride + m * dilation, length, sides[0],
                                               padding_mode)
                        source = None if q is None else (n, g * c_group + ch, q)
                        yield (n, filt, i), source, (filt, ch, m)


def conv1d_forward_naive(x, w, b=None, stride=1, padding=0, dilation=1, groups=1,
                         padding_mode="zeros"):
    """Plain-loop reference for :func:`conv1d_forward` (same arguments and result)."""
    x, w, stride, sides, dilation, out = _setup(x, w, stride, padding, dilation, groups,
                                                padding_mode)
    b = None if b is None else np.asarray(b)
    if b is not None:
        _check_bias(b, w.shape[0], out)
    dtype = conv.common_dtype(x=x, w=w, b=b)
    y = zeros_like_dtype((x.shape[0], w.shape[0], out), np.empty(0, dtype))
    for target, source, tap in _naive_terms(x, w, stride, sides, dilation, groups,
                                            padding_mode, out):
        if source is not None:
            y[target] += w[tap] * x[source]
    if b is not None:
        for n, f, i in np.ndindex(*y.shape):
            y[n, f, i] += b[f] if b.ndim == 1 else b[f, i]
    return y


def conv1d_backward_naive(x, w, delta, stride=1, padding=0, dilation=1, groups=1,
                          padding_mode="zeros"):
    """Plain-loop reference for :func:`conv1d_backward` (same arguments and result)."""
    x, w, stride, sides, dilation, out = _setup(x, w, stride, padding, dilation, groups,
                                                padding_mode)
    delta = np.asarray(delta)
    if delta.shape != (x.shape[0], w.shape[0], out):
        raise ValueError(f"delta must have the output's shape {(x.shape[0], w.shape[0], out)}, "
                         f"got {delta.shape}")
    like = np.empty(0, conv.common_dtype(x=x, w=w, delta=delta))
    dx, dw = zeros_like_dtype(x.shape, like), zeros_like_dtype(w.shape, like)
    db = zeros_like_dtype(w.shape[:1], like)
    for target, source, tap in _naive_terms(x, w, stride, sides, dilation, groups,
                                            padding_mode, out):
        if source is not None:
            dx[source] += w[tap] * delta[target]
            dw[tap] += x[source] * delta[target]
    for n, f, i in np.ndindex(*delta.shape):
        db[f] += delta[n, f, i]
    return dx, dw, db


__all__ = ["conv1d_forward", "conv1d_backward", "conv1d_forward_naive", "conv1d_backward_naive"]
