"""Flatten and dense (fully connected) layers: forward and backward side by side."""

from __future__ import annotations

import numpy as np


def flatten_forward(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) → (N, C·H·W), channel-major then row-major, as ``torch.flatten(x, 1)``.

    Parameters
    ----------
    x : ndarray (N, ...)
        Any dtype; any number of axes after the batch axis.

    Returns
    -------
    y : ndarray (N, prod(...))
        The dtype of x; a view of x where numpy can give one.

    Notes
    -----
    y[n, (c·H + i)·W + j] = x[n, c, i, j]: the output has N rows of C·H·W values (for a
    (N, C, L) input, C·L).
    """
    return x.reshape(x.shape[0], -1)


def flatten_backward(x_shape: tuple[int, ...], delta_out: np.ndarray) -> np.ndarray:
    """dE/dx of :func:`flatten_forward`: the delta folded back into the input's shape.

    Parameters
    ----------
    x_shape : tuple of int (N, ...)
        The forward pass's input shape.
    delta_out : ndarray (N, prod(...))
        dE/dy.

    Returns
    -------
    delta_in : ndarray x_shape
        The dtype of delta_out.

    Notes
    -----
    Flatten only moves numbers, so delta_in[n, c, i, j] = delta_out[n, (c·H + i)·W + j];
    the output has the shape ``x_shape``.
    """
    return delta_out.reshape(x_shape)


def dense_forward(x: np.ndarray, weights: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """y = W·x + b for every sample.

    Parameters
    ----------
    x : ndarray (N, in)
    weights : ndarray (out, in)
        As ``torch.nn.Linear.weight``.
    bias : ndarray (out,) or None

    Returns
    -------
    y : ndarray (N, out)
        The common dtype of the arrays (object, exact, stays object).

    Notes
    -----
    y[n, o] = Σ_i W[o, i]·x[n, i] + b[o]: the output has N rows of ``out`` values, one per
    row of W.
    """
    y = x @ weights.T
    return y if bias is None else y + bias


def dense_backward(x: np.ndarray, weights: np.ndarray, delta_out: np.ndarray):
    """Gradients of :func:`dense_forward`.

    Parameters
    ----------
    x : ndarray (N, in)
    weights : ndarray (out, in)
    delta_out : ndarray (N, out)
        dE/dy.

    Returns
    -------
    delta_in : ndarray (N, in)
        dE/dx = δ·W.
    grad_weights : ndarray (out, in)
        dE/dW[o, i] = Σ_n δ[n, o]·x[n, i].
    grad_bias : ndarray (out,)
        dE/db[o] = Σ_n δ[n, o].

    Notes
    -----
    y_o = Σ_i W_oi·x_i + b_o, so dE/dx_i = Σ_o δ_o·W_oi, dE/dW_oi = δ_o·x_i and dE/db_o = δ_o,
    each summed over the batch for the parameters.  The shapes are those of x, W and b.
    """
    return delta_out @ weights, delta_out.T @ x, delta_out.sum(axis=0)


# --------------------------------------------------------------------------------------
# naive references: one number at a time, straight from the definitions


def flatten_forward_naive(x) -> np.ndarray:
    """Plain-loop reference for :func:`flatten_forward` (same argument and result)."""
    x = np.asarray(x)
    per_sample = int(np.prod(x.shape[1:], dtype=np.int64))
    y = np.empty((x.shape[0], per_sample), x.dtype)
    for n in range(x.shape[0]):
        # np.ndindex walks the trailing axes in row-major order: the flat position k
        for k, index in enumerate(np.ndindex(*x.shape[1:])):
            y[n, k] = x[(n,) + index]
    return y


def flatten_backward_naive(x_shape, delta_out) -> np.ndarray:
    """Plain-loop reference for :func:`flatten_backward` (same arguments and result)."""
    delta_out = np.asarray(delta_out)
    delta_in = np.empty(tuple(x_shape), delta_out.dtype)
    for n in range(x_shape[0]):
        for k, index in enumerate(np.ndindex(*x_shape[1:])):
            delta_in[(n,) + index] = delta_out[n, k]
    return delta_in


def dense_forward_naive(x, weights, bias=None) -> np.ndarray:
    """Plain-loop reference for :func:`dense_forward` (same arguments and result)."""
    x, weights = np.asarray(x), np.asarray(weights)
    arrays = (x, weights) if bias is None else (x, weights, np.asarray(bias))
    y = np.empty((x.shape[0], weights.shape[0]), np.result_type(*arrays))
    for n in range(x.shape[0]):
        for o in range(weights.shape[0]):
            total = 0
            for i in range(weights.shape[1]):
                total += weights[o, i] * x[n, i]
            y[n, o] = total if bias is None else total + bias[o]
    return y


def dense_backward_naive(x, weights, delta_out):
    """Plain-loop reference for :func:`dense_backward` (same arguments and result)."""
    x, weights, delta_out = np.asarray(x), np.asarray(weights), np.asarray(delta_out)
    dtype = np.result_type(x, weights, delta_out)
    (n_samples, n_in), n_out = x.shape, weights.shape[0]
    delta_in = np.zeros((n_samples, n_in), dtype)
    grad_weights = np.zeros((n_out, n_in), dtype)
    grad_bias = np.zeros(n_out, dtype)
    for n in range(n_samples):
        for o in range(n_out):
            grad_bias[o] += delta_out[n, o]
            for i in range(n_in):
                delta_in[n, i] += delta_out[n, o] * weights[o, i]
                grad_weights[o, i] += delta_out[n, o] * x[n, i]
    return delta_in, grad_weights, grad_bias
