"""Nearest-neighbour upsampling by integer factors and its backward pass.

Each input cell becomes an s×s block (s cells in 1-D) of copies: the forward pass is a
broadcast, the backward pass sums each block's deltas.  Rational, so ``dtype=object`` arrays
of :class:`fractions.Fraction` stay exact.
"""

from __future__ import annotations

import numpy as np

from cnngrad.layers._common import ints, real_array


def _scales(scale, spatial: int) -> tuple[int, ...]:
    """The scale per spatial axis: an int (every axis), or a pair for 2-D maps."""
    if isinstance(scale, (int, np.integer)) and not isinstance(scale, bool):
        scales = (int(scale),) * spatial
    else:
        scales = ints(scale, "scale", "an int or a pair of ints")
        if len(scales) != spatial:
            allowed = "an int or a pair of ints" if spatial == 2 else "an int"
            raise ValueError(f"scale must be {allowed} for {spatial}-D maps, got {scale!r}")
    if min(scales) < 1:
        raise ValueError(f"scale must be ≥ 1, got {scale!r}")
    return scales


def _spatial(a: np.ndarray, name: str) -> int:
    if a.ndim not in (3, 4):
        raise ValueError(f"{name} must be (N, C, L) or (N, C, H, W), got shape {a.shape}")
    return a.ndim - 2


def _blocks_shape(shape, scales) -> tuple[int, ...]:
    """(N, C, H, s_h, W, s_w) (or (N, C, L, s)): the block axis after each spatial axis."""
    out = tuple(shape[:2])
    for size, s in zip(shape[2:], scales):
        out += (size, s)
    return out


def upsample_nearest_forward(x: np.ndarray, scale) -> np.ndarray:
    """Nearest-neighbour upsampling, as ``torch.nn.functional.interpolate(mode="nearest")``.

    Parameters
    ----------
    x : ndarray (N, C, L) or (N, C, H, W)
    scale : int or (int, int)
        The factor per spatial axis (a pair only for (N, C, H, W)), each ≥ 1.

    Returns
    -------
    y : ndarray (N, C, s·L) or (N, C, s_h·H, s_w·W), the dtype of x

    Notes
    -----
    y[n, c, i, j] = x[n, c, ⌊i/s_h⌋, ⌊j/s_w⌋]; output size H' = s_h·H, W' = s_w·W.
    """
    x = real_array(x, "x")
    scales = _scales(scale, _spatial(x, "x"))
    if all(s == 1 for s in scales):  # the reshape below would be a read-only view of x
        return x.copy()
    expanded = [slice(None), slice(None)]
    for _ in scales:
        expanded += [slice(None), None]
    blocks = np.broadcast_to(x[tuple(expanded)], _blocks_shape(x.shape, scales))
    return blocks.reshape(x.shape[:2] + tuple(n * s for n, s in zip(x.shape[2:], scales)))


def upsample_nearest_backward(delta: np.ndarray, scale) -> np.ndarray:
    """dE/dx of :func:`upsample_nearest_forward` given delta = dE/dy: each block's sum.

    Parameters
    ----------
    delta : ndarray (N, C, s·L) or (N, C, s_h·H, s_w·W)
    scale : int or (int, int)

    Returns
    -------
    dx : ndarray (N, C, L) or (N, C, H, W), the dtype of delta

    Notes
    -----
    dx[n, c, h, w] = Σ of delta over the block rows s_h·h … s_h·h + s_h − 1 and columns
    s_w·w … s_w·w + s_w − 1; input size H = H'/s_h, W = W'/s_w.
    """
    delta = real_array(delta, "delta")
    scales = _scales(scale, _spatial(delta, "delta"))
    for size, s in zip(delta.shape[2:], scales):
        if size % s:
            raise ValueError(f"delta's spatial size {delta.shape[2:]} is not a multiple of the "
                             f"scale {scales}")
    shape = _blocks_shape(delta.shape[:2] + tuple(n // s for n, s in
                                                  zip(delta.shape[2:], scales)), scales)
    return delta.reshape(shape).sum(axis=tuple(range(3, len(shape), 2)))


def upsample_nearest_forward_naive(x, scale):
    """Plain-loop reference for :func:`upsample_nearest_forward`."""
    x = np.asarray(x)
    scales = _scales(scale, _spatial(x, "x"))
    y = np.empty(x.shape[:2] + tuple(n * s for n, s in zip(x.shape[2:], scales)), x.dtype)
    for out in np.ndindex(*y.shape):
        y[out] = x[out[:2] + tuple(i // s for i, s in zip(out[2:], scales))]
    return y


def upsample_nearest_backward_naive(delta, scale):
    """Plain-loop reference for :func:`upsample_nearest_backward`."""
    delta = np.asarray(delta)
    scales = _scales(scale, _spatial(delta, "delta"))
    dx = np.empty(delta.shape[:2] + tuple(n // s for n, s in zip(delta.shape[2:], scales)),
                  delta.dtype)
    dx.fill(0)
    for out in np.ndindex(*delta.shape):
        dx[out[:2] + tuple(i // s for i, s in zip(out[2:], scales))] += delta[out]
    return dx


__all__ = ["upsample_nearest_forward", "upsample_nearest_backward",
           "upsample_nearest_forward_naive", "upsample_nearest_backward_naive"]
