"""Global average pooling: the mean of each channel's whole map, (N, C, ...) → (N, C).

Works for 2-D maps (N, C, H, W) and 1-D maps (N, C, L) alike (any number of spatial axes),
on float arrays and on ``dtype=object`` arrays of :class:`fractions.Fraction` (the mean of
rationals is rational).
"""

from __future__ import annotations

import numpy as np

from cnngrad.layers._common import an_int, count_divisor, real_array


def _check_maps(shape: tuple[int, ...]) -> None:
    """Every size ≥ 0 and every spatial one ≥ 1: the mean of an empty map is 0/0 (a NaN and a
    RuntimeWarning, and an infinite delta), not a number to return."""
    if min(shape) < 0 or min(shape[2:]) < 1:
        raise ValueError(f"global_avgpool needs maps of at least one cell (every spatial size "
                         f"≥ 1), got shape {tuple(shape)}")


def _spatial_size(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape[2:]:
        count *= int(size)
    return count


def global_avgpool_forward(x: np.ndarray) -> np.ndarray:
    """y[n, c] = (1 / (H·W)) Σ_ij x[n, c, i, j], as ``torch.nn.AdaptiveAvgPool2d(1)`` then flatten.

    Parameters
    ----------
    x : ndarray (N, C, *spatial)
        At least one spatial axis: (N, C, L) or (N, C, H, W).

    Returns
    -------
    y : ndarray (N, C)

    Notes
    -----
    The sum over every spatial axis divided by the map's size: for ``dtype=object`` arrays of
    Fractions the result is an exact Fraction.
    """
    x = real_array(x, "x")
    if x.ndim < 3:
        raise ValueError(f"global_avgpool needs (N, C, *spatial), got shape {x.shape}")
    _check_maps(x.shape)
    axes = tuple(range(2, x.ndim))
    return x.sum(axis=axes) / count_divisor(_spatial_size(x.shape), x)


def global_avgpool_backward(x_shape: tuple[int, ...], delta: np.ndarray) -> np.ndarray:
    """dE/dx: every cell of a map gets its channel's delta divided by the map's size.

    Parameters
    ----------
    x_shape : tuple (N, C, *spatial)
        The forward input's shape.
    delta : ndarray (N, C)
        dE/dy.

    Returns
    -------
    delta_in : ndarray x_shape

    Notes
    -----
    y[n, c] depends on every cell of its map with the same weight 1/(H·W), so each cell's
    delta is δ[n, c] / (H·W); it needs only the input's shape, not its values.
    """
    if isinstance(x_shape, np.ndarray) and x_shape.ndim != 1:
        raise ValueError(f"x_shape is the forward input's shape, a tuple (N, C, *spatial): "
                         f"pass x.shape, not the array x (of shape {x_shape.shape})")
    if isinstance(x_shape, (int, np.integer)) or not hasattr(x_shape, "__iter__"):
        raise ValueError(f"x_shape is the forward input's shape, a tuple (N, C, *spatial), "
                         f"got {x_shape!r}")
    # int() read a size of 2.5 as 2
    x_shape = tuple(an_int(size, "each size of x_shape") for size in x_shape)
    delta = real_array(delta, "delta")
    if len(x_shape) < 3:
        raise ValueError(f"global_avgpool needs x_shape (N, C, *spatial), got {x_shape}")
    if delta.shape != x_shape[:2]:
        raise ValueError(f"delta must have the output's shape (N, C) = {x_shape[:2]}, "
                         f"got {delta.shape}")
    _check_maps(x_shape)
    share = delta / count_divisor(_spatial_size(x_shape), delta)
    return np.broadcast_to(share.reshape(share.shape + (1,) * (len(x_shape) - 2)),
                           x_shape).copy()


def global_avgpool_forward_naive(x: np.ndarray) -> np.ndarray:
    """Plain loops over every map and cell (the reference for :func:`global_avgpool_forward`)."""
    n, c = x.shape[:2]
    out = np.empty((n, c), dtype=x.dtype)
    count = count_divisor(_spatial_size(x.shape), x)
    for i in range(n):
        for k in range(c):
            total = 0
            for cell in np.ndindex(*x.shape[2:]):
                total = total + x[(i, k) + cell]
            out[i, k] = total / count
    return out


def global_avgpool_backward_naive(x_shape: tuple[int, ...], delta: np.ndarray) -> np.ndarray:
    """Plain loops (the reference for :func:`global_avgpool_backward`)."""
    out = np.empty(tuple(x_shape), dtype=delta.dtype)
    count = count_divisor(_spatial_size(x_shape), delta)
    for index in np.ndindex(*x_shape):
        out[index] = delta[index[0], index[1]] / count
    return out


__all__ = ["global_avgpool_forward", "global_avgpool_backward", "global_avgpool_forward_naive",
           "global_avgpool_backward_naive"]
