"""Softmax and log-softmax over the last axis, and their backward passes (float only: exp)."""

from __future__ import annotations

import math

import numpy as np

from cnngrad.layers._common import check_real_objects


def _float(a, name: str, op: str) -> np.ndarray:
    """``a`` (``op``'s argument ``name``) as floats, checked: at least one axis, K ≥ 1, real."""
    a = np.asarray(a)
    if a.ndim < 1:
        raise ValueError(f"{op} needs at least one axis (K) to normalise over")
    if a.shape[-1] < 1:  # else numpy's max over an empty axis fails with its own words
        raise ValueError(f"{op} needs K ≥ 1 values along the last axis, got shape {a.shape}")
    if a.dtype.kind == "f":
        return a
    if a.dtype != object and a.dtype.kind not in "biu":  # complex or text: not a real number
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    check_real_objects(a, name)  # None or "1" in an object array: refused, never cast
    return a.astype(np.float64)


def _same_shape(y: np.ndarray, delta: np.ndarray) -> None:
    if y.shape != delta.shape:
        raise ValueError(f"delta must have the output's shape {y.shape}, got {delta.shape}")


def softmax_forward(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, as ``torch.softmax(x, -1)``.

    Parameters
    ----------
    x : ndarray (K,) or (N, K)
        Any leading axes; the last one is normalised.

    Returns
    -------
    y : ndarray (the shape of x)
        y_k = e^(x_k − max x) / Σ_j e^(x_j − max x); each row sums to 1.

    Notes
    -----
    The output has the input's size; the maximum is subtracted first so no e^x overflows.
    """
    x = _float(x, "x", "softmax")
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(y: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """dE/dx of softmax from its output y and delta = dE/dy (the full Jacobian, not its diagonal).

    Parameters
    ----------
    y : ndarray (K,) or (N, K)
        The forward output.
    delta : ndarray (the shape of y)

    Returns
    -------
    dx : ndarray (the shape of y)

    Notes
    -----
    dy_k/dx_j = y_k·([k = j] − y_j), so dx_j = y_j·(δ_j − Σ_k δ_k·y_k).
    """
    y, delta = _float(y, "y", "softmax"), _float(delta, "delta", "softmax")
    _same_shape(y, delta)
    return y * (delta - (delta * y).sum(axis=-1, keepdims=True))


def log_softmax_forward(x: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis, as ``torch.log_softmax(x, -1)``.

    Parameters
    ----------
    x : ndarray (K,) or (N, K)

    Returns
    -------
    y : ndarray (the shape of x)
        y_k = x_k − max x − log Σ_j e^(x_j − max x).

    Notes
    -----
    The output has the input's size; computed without overflow for large |x|.
    """
    x = _float(x, "x", "log_softmax")
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_softmax_backward(y: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """dE/dx of log-softmax from its output y and delta = dE/dy.

    Parameters
    ----------
    y : ndarray (K,) or (N, K)
        The forward output (log-probabilities).
    delta : ndarray (the shape of y)

    Returns
    -------
    dx : ndarray (the shape of y)

    Notes
    -----
    dy_k/dx_j = [k = j] − softmax_j, so dx_j = δ_j − e^(y_j)·Σ_k δ_k.
    """
    y, delta = _float(y, "y", "log_softmax"), _float(delta, "delta", "log_softmax")
    _same_shape(y, delta)
    return delta - np.exp(y) * delta.sum(axis=-1, keepdims=True)


def _rows(a: np.ndarray):
    return np.ndindex(*a.shape[:-1])


def softmax_forward_naive(x):
    """Plain-loop reference for :func:`softmax_forward`."""
    x = _float(x, "x", "softmax")
    y = np.empty_like(x)
    for row in _rows(x):
        top = max(x[row])
        total = sum(math.exp(v - top) for v in x[row])
        for k in range(x.shape[-1]):
            y[row + (k,)] = math.exp(x[row + (k,)] - top) / total
    return y


def softmax_backward_naive(y, delta):
    """Plain-loop reference for :func:`softmax_backward`: the Jacobian, entry by entry."""
    y, delta = _float(y, "y", "softmax"), _float(delta, "delta", "softmax")
    _same_shape(y, delta)
    dx = np.zeros_like(y)
    size = y.shape[-1]
    for row in _rows(y):
        for j in range(size):
            for k in range(size):
                jacobian = y[row + (k,)] * ((k == j) - y[row + (j,)])
                dx[row + (j,)] += delta[row + (k,)] * jacobian
    return dx


def log_softmax_forward_naive(x):
    """Plain-loop reference for :func:`log_softmax_forward`."""
    x = _float(x, "x", "log_softmax")
    y = np.empty_like(x)
    for row in _rows(x):
        top = max(x[row])
        log_total = math.log(sum(math.exp(v - top) for v in x[row]))
        for k in range(x.shape[-1]):
            y[row + (k,)] = x[row + (k,)] - top - log_total
    return y


def log_softmax_backward_naive(y, delta):
    """Plain-loop reference for :func:`log_softmax_backward`: the Jacobian, entry by entry."""
    y, delta = _float(y, "y", "log_softmax"), _float(delta, "delta", "log_softmax")
    _same_shape(y, delta)
    dx = np.zeros_like(y)
    size = y.shape[-1]
    for row in _rows(y):
        for j in range(size):
            for k in range(size):
                jacobian = (k == j) - math.exp(y[row + (j,)])
                dx[row + (j,)] += delta[row + (k,)] * jacobian
    return dx


__all__ = ["softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward",
           "softmax_forward_naive", "softmax_backward_naive", "log_softmax_forward_naive",
           "log_softmax_backward_naive"]
