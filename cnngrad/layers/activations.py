"""Element-wise activations: forward and backward side by side.

Every function works on float arrays and on object arrays of ``fractions.Fraction`` (exact
mode) where the function is rational (relu, leaky_relu); sigmoid and tanh are float only.
"""

from __future__ import annotations

import numpy as np


def relu_forward(x: np.ndarray) -> np.ndarray:
    """y = max(x, 0).

    Parameters
    ----------
    x : ndarray (any shape)

    Returns
    -------
    y : ndarray (same shape as x)

    Notes
    -----
    The numbers of ``torch.relu``: a negative x (−∞ too) gives +0, not x·0 = −0; −0 and NaN
    stay as they are.  Fractions and ints stay exact: their zeros are x·0, of x's type.
    """
    if x.dtype == object:
        return x * (x > 0)
    return np.where(x < 0, np.zeros((), x.dtype), x)


def relu_backward(x: np.ndarray, delta_out: np.ndarray) -> np.ndarray:
    # dE/dx = dE/dy · [x > 0]; the derivative at exactly 0 is taken as 0 (PyTorch's choice).
    # A cut cell gets +0, as PyTorch's threshold_backward gives (δ·0 would be −0 for a
    # negative δ, NaN for an infinite one)
    if x.dtype == object or delta_out.dtype == object:
        return delta_out * (x > 0)
    return np.where(x <= 0, np.zeros((), delta_out.dtype), delta_out)


def leaky_relu_forward(x: np.ndarray, slope) -> np.ndarray:
    """y = x for x > 0, slope·x otherwise.

    Parameters
    ----------
    x : ndarray (any shape)
    slope : float or Fraction
    """
    return np.where(x > 0, x, x * slope)


def leaky_relu_backward(x: np.ndarray, delta_out: np.ndarray, slope) -> np.ndarray:
    # dE/dx = dE/dy · (1 if x > 0 else slope); at exactly 0 the derivative is slope (PyTorch)
    return np.where(x > 0, delta_out, delta_out * slope)


def sigmoid_forward(x: np.ndarray) -> np.ndarray:
    """y = 1 / (1 + e^(−x)), computed without overflow for large |x|."""
    x = np.asarray(x, dtype=np.result_type(x, np.float32))
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(y: np.ndarray, delta_out: np.ndarray) -> np.ndarray:
    # dE/dx = dE/dy · σ(x)(1 − σ(x)), written with the forward output y = σ(x)
    return delta_out * y * (1 - y)


def tanh_forward(x: np.ndarray) -> np.ndarray:
    """y = tanh(x)."""
    return np.tanh(x)


def tanh_backward(y: np.ndarray, delta_out: np.ndarray) -> np.ndarray:
    # dE/dx = dE/dy · (1 − tanh²(x)), with y = tanh(x)
    return delta_out * (1 - y * y)


def derivative(kind: str, x: np.ndarray, y: np.ndarray, slope=None) -> np.ndarray:
    """The local derivative dy/dx of an activation at every element (for ``explain``)."""
    ones = x * 0 + 1
    if kind == "relu":
        return relu_backward(x, ones)
    if kind == "leaky_relu":
        return leaky_relu_backward(x, ones, slope)
    if kind == "sigmoid":
        return sigmoid_backward(y, ones)
    if kind == "tanh":
        return tanh_backward(y, ones)
    raise ValueError(f"unknown activation {kind!r}; allowed: relu, leaky_relu, sigmoid, tanh")
