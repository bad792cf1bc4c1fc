"""Inverted dropout with a given mask (torch's training mode): y = x·mask/(1 − p).

The mask is an input, not drawn here: a homework problem states which units were dropped.
Rational, so ``dtype=object`` arrays of :class:`fractions.Fraction` stay exact (give ``p`` as a
Fraction too).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from cnngrad.layers._common import real_array


def _scale(p, exact: bool):
    """1/(1 − p), checked: 0 ≤ p < 1; a Fraction in exact mode."""
    if isinstance(p, bool) or not isinstance(p, (int, float, Fraction, np.integer, np.floating)):
        raise ValueError(f"p must be a number in [0, 1), got {p!r}")
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1) (the probability of dropping a unit), got {p}")
    if exact:
        return 1 / (1 - Fraction(p))
    # torch multiplies by the reciprocal of 1 − p: the same rounding as its float result
    return 1 / (1 - float(p))


def _operands(mask, other, p, name: str):
    mask, other = real_array(mask, "mask"), real_array(other, name)
    if mask.shape != other.shape:
        raise ValueError(f"mask must have the shape of the layer's input {other.shape}, "
                         f"got {mask.shape}")
    if mask.size and not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must hold only 0s and 1s (1 keeps a unit, 0 drops it)")
    # a float x stays float whatever p: multiplied by a Fraction its values became Python
    # floats in an object array, neither a float array nor exact
    exact = other.dtype == object or other.dtype.kind != "f" and (
        isinstance(p, Fraction) or mask.dtype == object)
    if exact:
        other = other.astype(object)
        mask = np.where(mask == 1, 1, 0).astype(object)
    elif other.dtype.kind != "f":
        other = other.astype(np.float64)
    if not exact:
        mask = mask.astype(other.dtype)
    return mask, other, _scale(p, exact)


def dropout_forward(x: np.ndarray, mask: np.ndarray, p) -> np.ndarray:
    """Inverted dropout: the kept units scaled by 1/(1 − p), the dropped ones 0.

    Parameters
    ----------
    x : ndarray (any shape, e.g. (N, C, H, W) or (N, K))
    mask : ndarray (the shape of x)
        1 keeps a unit, 0 drops it.
    p : float or Fraction
        The probability of dropping a unit, 0 ≤ p < 1.

    Returns
    -------
    y : ndarray (the shape of x)

    Notes
    -----
    y = x·mask/(1 − p), as torch's dropout in training mode (the output has the input's
    size). An object (Fraction) x, or an integer x with a Fraction p, gives exact Fractions;
    a float x gives its own float dtype, p taken as a float.
    """
    mask, x, scale = _operands(mask, x, p, "x")
    return x * mask * scale


def dropout_backward(mask: np.ndarray, p, delta: np.ndarray) -> np.ndarray:
    """dE/dx of :func:`dropout_forward` given delta = dE/dy.

    Parameters
    ----------
    mask : ndarray (the shape of x)
    p : float or Fraction
    delta : ndarray (the shape of x)

    Returns
    -------
    dx : ndarray (the shape of x)

    Notes
    -----
    dx = delta·mask/(1 − p): the dropped units get nothing, the kept ones the delta scaled
    by 1/(1 − p). Exact (Fractions) or float as :func:`dropout_forward`, by delta's dtype.
    """
    mask, delta, scale = _operands(mask, delta, p, "delta")
    return delta * mask * scale


def dropout_forward_naive(x, mask, p):
    """Plain-loop reference for :func:`dropout_forward`."""
    mask, x, _ = _operands(mask, x, p, "x")
    keep = 1 - (Fraction(p) if x.dtype == object else float(p))
    y = np.empty_like(x)
    for i in np.ndindex(*x.shape):
        y[i] = x[i] * mask[i] / keep
    return y


def dropout_backward_naive(mask, p, delta):
    """Plain-loop reference for :func:`dropout_backward`."""
    return dropout_forward_naive(delta, mask, p)


__all__ = ["dropout_forward", "dropout_backward", "dropout_forward_naive",
           "dropout_backward_naive"]
