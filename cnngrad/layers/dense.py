"""Flatten and dense (fully connected) layers: forward and backward side by side."""

from __future__ import annotations

import numpy as np


def flatten_forward(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) → (N, C·H·W), channel-major then row-major, as ``torch.flatten(x, 1)``.

    Parameters
    ----------
    x : ndarray (N, ...)

    Returns
    -------
    y : ndarray (N, prod(...))
    """
    return x.reshape(x.shape[0], -1)


def flatten_backward(x_shape: tuple[int, ...], delta_out: np.ndarray) -> np.ndarray:
    # flatten only moves numbers: the delta is folded back into the input's shape
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
    """
    # y_o = Σ_i W_oi x_i + b_o  ⇒  dE/dx_i = Σ_o δ_o W_oi,  dE/dW_oi = δ_o x_i,  dE/db_o = δ_o
    return delta_out @ weights, delta_out.T @ x, delta_out.sum(axis=0)
