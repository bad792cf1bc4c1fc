"""2-D transposed convolution and its backward pass.

A transposed convolution is the adjoint of a convolution: with conv(z, w) the 2-D
convolution of a map z (N, F, H', W') by w (C_in, F/groups, kh, kw) at the same stride,
padding, dilation and groups, ``y = conv_transpose2d(x, w)`` is the z for which
⟨conv(z, w), x⟩ = ⟨z, y⟩ for every z.  So each pass is a pass of the fast convolution of
:mod:`cnngrad.layers.conv`, with the roles exchanged:

- forward: y is the convolution's input delta for the output delta x (col2im of wᵀ·x, or at
  stride 1 the correlation of x with the rotated kernel);
- dE/dx is the convolution's forward pass over the delta: dx = conv(delta, w);
- dE/dw is the convolution's kernel gradient with input delta and output delta x.

``output_padding`` adds rows and columns at the bottom and right of y (they get the part of
the sum that reaches them, else 0): the convolution of an H'-row map gives H + ⌊op/s⌋ rows,
so x is extended by zero rows when op ≥ s (possible when the dilation exceeds the stride).

The same code runs on ``dtype=object`` arrays of :class:`fractions.Fraction` (exact).  The
plain-loop ``_naive`` twins scatter each input cell times each kernel entry onto the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnngrad.layers import conv
from cnngrad.layers._common import (IntPair, an_int, is_exact, pair, zeros_like_dtype,
                                    zeros_result)


@dataclass(frozen=True)
class _Transposed:
    n: int
    c_in: int
    h: int
    w: int
    f: int
    kh: int
    kw: int
    stride: IntPair
    padding: IntPair
    output_padding: IntPair
    dilation: IntPair
    groups: int
    h_out: int
    w_out: int

    @property
    def conv(self):
        """The geometry of the convolution whose adjoint this is: (N, F, H', W') → (N, C_in, ·)."""
        ph, pw = self.padding
        return conv._geometry((self.n, self.f, self.h_out, self.w_out),
                              (self.c_in, self.f // self.groups, self.kh, self.kw),
                              self.stride, (ph, ph, pw, pw), self.dilation, self.groups, "zeros")


def _geometry(x_shape, w_shape, stride, padding, output_padding, dilation, groups) -> _Transposed:
    if len(x_shape) != 4:
        raise ValueError(f"x must be 4-D (N, C_in, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"w must be 4-D (C_in, F/groups, kh, kw), got shape {tuple(w_shape)}")
    n, c_in, h, w = (int(v) for v in x_shape)
    c_w, f_group, kh, kw = (int(v) for v in w_shape)
    groups = an_int(groups, "groups")
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    padding, output_padding = pair(padding, "padding"), pair(output_padding, "output_padding")
    if groups < 1:
        raise ValueError(f"groups must be ≥ 1, got {groups}")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"stride and dilation must be ≥ 1, got stride {stride}, "
                         f"dilation {dilation}")
    if min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"padding and output_padding must be ≥ 0, got padding {padding}, "
                         f"output_padding {output_padding}")
    for op, s, d, axis in zip(output_padding, stride, dilation, "HW"):
        if op >= max(s, d):
            raise ValueError(f"output_padding {op} must be smaller than the stride {s} or the "
                             f"dilation {d} (along {axis}), as in PyTorch")
    if c_w != c_in:
        raise ValueError(f"w has {c_w} input channels (its first axis), x has C_in = {c_in}")
    if c_in % groups:
        raise ValueError(f"input channels C_in={c_in} are not divisible by groups={groups}")
    if min(n, c_in, h, w, f_group, kh, kw) < 1:
        raise ValueError(f"empty axis in x {tuple(x_shape)} or w {tuple(w_shape)}")
    h_out, w_out = ((size - 1) * s - 2 * p + d * (k - 1) + op + 1
                    for size, s, p, d, k, op in zip((h, w), stride, padding, dilation, (kh, kw),
                                                    output_padding))
    if h_out < 1 or w_out < 1:
        raise ValueError(f"output size {h_out}×{w_out} < 1: padding {padding} crops more than "
                         f"the full output")
    return _Transposed(n, c_in, h, w, f_group * groups, kh, kw, stride, padding, output_padding,
                       dilation, groups, h_out, w_out)


def _extended(x: np.ndarray, geo) -> np.ndarray:
    """x with zero rows and columns added at the bottom and right, up to the convolution's
    output size (only when output_padding ≥ stride)."""
    h, w = x.shape[2:]
    if (geo.h_out, geo.w_out) == (h, w):
        return x
    out = zeros_like_dtype(x.shape[:2] + (geo.h_out, geo.w_out), x)
    out[:, :, :h, :w] = x
    return out


def _check_bias(b: np.ndarray, f: int) -> None:
    if b.shape != (f,):
        raise ValueError(f"b must have shape ({f},) (one per output channel), got {b.shape}")


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                             stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                             output_padding: int | Sequence[int] = 0,
                             dilation: int | Sequence[int] = 1, groups: int = 1) -> np.ndarray:
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    x : ndarray (N, C_in, H, W)
    w : ndarray (C_in, F/groups, kh, kw)
        torch's layout: input channels first.
    b : None or ndarray (F,)
        One bias per output channel.
    stride, dilation : int or (rows, cols)
    padding : int or (rows, cols)
        Rows and columns cropped from each side of the full output.
    output_padding : int or (rows, cols)
        Extra rows and columns at the bottom and right of the output; each smaller than the
        stride or the dilation.
    groups : int
        Input channels ``g·C_in/groups ... (g+1)·C_in/groups − 1`` feed output channels
        ``g·F/groups ... (g+1)·F/groups − 1``.

    Returns
    -------
    y : ndarray (N, F, H', W'), the common dtype of x, w and b (object stays object)

    Notes
    -----
    y[n, g·F/groups + f, i·s − p + m·d, j·s − p + q·d] += x[n, c, i, j] · w[c, f, m, q] for every
    input channel c of group g, plus b; per axis H' = (H − 1)·s − 2p + d·(k − 1) + op + 1.
    """
    x, w = np.asarray(x), np.asarray(w)
    geo = _geometry(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
    b = None if b is None else np.asarray(b)
    if b is not None:
        _check_bias(b, geo.f)
    dtype = conv.common_dtype(x=x, w=w, b=b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    adjoint = geo.conv
    source = _extended(x, adjoint)
    y = zeros_result((geo.n, geo.f, geo.h_out, geo.w_out), source)
    # the convolution's input delta for the output delta x, by the same rule as its backward
    by_rotated = conv._by_rotated_kernel(adjoint, exact=is_exact(y))
    input_grad = conv._input_grad_stride1 if by_rotated else conv._input_grad_col2im

    def forward_images(start: int, stop: int, tile_bytes: int) -> None:
        input_grad(w, source, adjoint, y, start, stop, tile_bytes)

    conv.over_images(adjoint, forward_images, exact=is_exact(y))
    if b is not None:
        y += b.astype(dtype, copy=False)[:, None, None]
    return y


def conv_transpose2d_backward(x: np.ndarray, w: np.ndarray, delta: np.ndarray,
                              stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                              output_padding: int | Sequence[int] = 0,
                              dilation: int | Sequence[int] = 1,
                              groups: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv_transpose2d_forward` given delta = dE/dy.

    Parameters
    ----------
    x : ndarray (N, C_in, H, W)
    w : ndarray (C_in, F/groups, kh, kw)
    delta : ndarray (N, F, H', W')
    stride, padding, output_padding, dilation, groups
        As in :func:`conv_transpose2d_forward`.

    Returns
    -------
    dx : ndarray (N, C_in, H, W)
        The convolution of delta by w (stride, padding, dilation, groups as given).
    dw : ndarray (C_in, F/groups, kh, kw)
    db : ndarray (F,)
        delta summed over N, H', W'.

    Notes
    -----
    dx[n, c, i, j] = Σ_f Σ_m Σ_q w[c, f, m, q] · delta[n, g·F/groups + f, i·s − p + m·d,
    j·s − p + q·d] (cells outside delta count 0); dw[c, f, m, q] = Σ_n Σ_i Σ_j x[n, c, i, j] ·
    delta[n, g·F/groups + f, i·s − p + m·d, j·s − p + q·d].  H' = (H − 1)·s − 2p + d·(k − 1) +
    op + 1.
    """
    x, w, delta = np.asarray(x), np.asarray(w), np.asarray(delta)
    geo = _geometry(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
    expected = (geo.n, geo.f, geo.h_out, geo.w_out)
    if delta.shape != expected:
        raise ValueError(f"delta must have the output's shape {expected}, got {delta.shape}")
    dtype = conv.common_dtype(x=x, w=w, delta=delta)
    x, w, delta = (a.astype(dtype, copy=False) for a in (x, w, delta))
    adjoint = geo.conv
    ph, pw = geo.padding
    dx = conv.conv2d_forward(delta, w, None, geo.stride, (ph, ph, pw, pw), geo.dilation,
                             geo.groups)[:, :, :geo.h, :geo.w]
    source = _extended(x, adjoint)

    def kernel_grad(start: int, stop: int, tile_bytes: int) -> np.ndarray:
        return conv._kernel_grad(delta, source, adjoint, start, stop, tile_bytes)

    parts = conv.over_images(adjoint, kernel_grad, exact=is_exact(delta))
    dw = sum(parts[1:], parts[0]).reshape(w.shape)
    db = delta.sum(axis=(0, 2, 3))
    return np.ascontiguousarray(dx), dw, db


# --------------------------------------------------------------------------------------
# naive references


def _naive_terms(geo: _Transposed):
    """Yield (y index or None when cropped, x index, w index) for every product."""
    c_group, f_group = geo.c_in // geo.groups, geo.f // geo.groups
    (sh, sw), (ph, pw), (dh, dw) = geo.stride, geo.padding, geo.dilation
    for n in range(geo.n):
        for c in range(geo.c_in):
            g = c // c_group
            for i in range(geo.h):
                for j in range(geo.w):
                    for f in range(f_group):
                        for m in range(geo.kh):
                            for q in range(geo.kw):
                                r, s = i * sh - ph + m * dh, j * sw - pw + q * dw
                                inside = 0 <= r < geo.h_out and 0 <= s < geo.w_out
                                target = (n, g * f_group + f, r, s) if inside else None
                                yield target, (n, c, i, j), (c, f, m, q)


def conv_transpose2d_forward_naive(x, w, b=None, stride=1, padding=0, output_padding=0,
                                   dilation=1, groups=1):
    """Plain-loop reference for :func:`conv_transpose2d_forward` (same arguments and result)."""
    x, w = np.asarray(x), np.asarray(w)
    geo = _geometry(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
    b = None if b is None else np.asarray(b)
    if b is not None:
        _check_bias(b, geo.f)
    like = np.empty(0, conv.common_dtype(x=x, w=w, b=b))
    y = zeros_like_dtype((geo.n, geo.f, geo.h_out, geo.w_out), like)
    for target, source, tap in _naive_terms(geo):
        if target is not None:
            y[target] += x[source] * w[tap]
    if b is not None:
        for n, f, i, j in np.ndindex(*y.shape):
            y[n, f, i, j] += b[f]
    return y


def conv_transpose2d_backward_naive(x, w, delta, stride=1, padding=0, output_padding=0,
                                    dilation=1, groups=1):
    """Plain-loop reference for :func:`conv_transpose2d_backward` (same arguments and result)."""
    x, w, delta = np.asarray(x), np.asarray(w), np.asarray(delta)
    geo = _geometry(x.shape, w.shape, stride, padding, output_padding, dilation, groups)
    expected = (geo.n, geo.f, geo.h_out, geo.w_out)
    if delta.shape != expected:
        raise ValueError(f"delta must have the output's shape {expected}, got {delta.shape}")
    like = np.empty(0, conv.common_dtype(x=x, w=w, delta=delta))
    dx, dw = zeros_like_dtype(x.shape, like), zeros_like_dtype(w.shape, like)
    db = zeros_like_dtype((geo.f,), like)
    for target, source, tap in _naive_terms(geo):
        if target is not None:
            dx[source] += w[tap] * delta[target]
            dw[tap] += x[source] * delta[target]
    for n, f, i, j in np.ndindex(*delta.shape):
        db[f] += delta[n, f, i, j]
    return dx, dw, db


__all__ = ["conv_transpose2d_forward", "conv_transpose2d_backward",
           "conv_transpose2d_forward_naive", "conv_transpose2d_backward_naive"]
