"""Element-wise activations: forward and backward side by side.

Every function works on float arrays and on object arrays of ``fractions.Fraction`` (exact
mode) where the function is rational (relu, leaky_relu); sigmoid and tanh are float only.
"""

from __future__ import annotations

import math

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
    return _zero_where(x < 0, x)


def relu_backward(x: np.ndarray, delta_out: np.ndarray) -> np.ndarray:
    """dE/dx of :func:`relu_forward`: delta_out where x > 0, zero elsewhere.

    Parameters
    ----------
    x : ndarray (any shape)
        The forward pass's input.
    delta_out : ndarray (the shape of x)
        dE/dy.

    Returns
    -------
    delta_in : ndarray (the shape of x), the dtype of delta_out
        dE/dx = dE/dy · [x > 0].

    Notes
    -----
    The derivative at exactly 0 is taken as 0 (PyTorch's choice).  Float cells with x ≤ 0
    get +0, as torch's ``threshold_backward`` gives (δ·0 would be −0 for a negative δ, NaN
    for an infinite one); a NaN x is not ≤ 0 and keeps its delta.  With an object array
    (exact) a cell with x not > 0 gets δ·0, of δ's type.  The output has the input's shape.
    """
    if x.dtype == object or delta_out.dtype == object:
        return delta_out * (x > 0)
    return _zero_where(x <= 0, delta_out)


#: the integer type of each float type's width, for :func:`_zero_where`'s bit masks
_BITS = {np.dtype(np.float64): np.int64, np.dtype(np.float32): np.int32,
         np.dtype(np.float16): np.int16}


def _zero_where(cut: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` with +0 where ``cut`` is true, every other bit as it was (NaN, −0).

    Parameters
    ----------
    cut : ndarray of bool (values' shape)
    values : ndarray of float

    Notes
    -----
    The same numbers as ``np.where(cut, 0, values)``, by an AND with an all-ones or
    all-zeros mask: where a relu's inputs change sign at random, ``np.where`` mispredicts
    a branch per cell and takes 3× as long (5.6 against 1.9 ms for 64×112×112 float64).
    """
    bits = _BITS.get(values.dtype)
    if bits is None or values.ndim == 0 or cut.shape != values.shape:
        return np.where(cut, np.zeros((), values.dtype), values)
    mask = cut.astype(bits)
    mask -= 1  # a cut cell 0, a kept one all ones
    return np.bitwise_and(values.view(bits), mask, out=mask).view(values.dtype)


def leaky_relu_forward(x: np.ndarray, slope) -> np.ndarray:
    """y = x for x > 0, slope·x otherwise.

    Parameters
    ----------
    x : ndarray (any shape)
        float, integer, or object holding :class:`fractions.Fraction` (exact).
    slope : float or Fraction
        The negative side's slope (torch's ``negative_slope``).

    Returns
    -------
    y : ndarray (the shape of x)
        The dtype numpy gives x·slope (object for exact arrays).

    Notes
    -----
    y_i = x_i if x_i > 0 else slope·x_i: a NaN x gives NaN, −0 gives slope·(−0).  The
    output has the input's shape.
    """
    return np.where(x > 0, x, x * slope)


def leaky_relu_backward(x: np.ndarray, delta_out: np.ndarray, slope) -> np.ndarray:
    """dE/dx of :func:`leaky_relu_forward`.

    Parameters
    ----------
    x : ndarray (any shape)
        The forward pass's input.
    delta_out : ndarray (the shape of x)
        dE/dy.
    slope : float or Fraction

    Returns
    -------
    delta_in : ndarray (the shape of x)
        dE/dx = dE/dy · (1 if x > 0 else slope).

    Notes
    -----
    At exactly 0 the derivative is taken as ``slope`` (PyTorch's choice).  The output has
    the input's shape.
    """
    return np.where(x > 0, delta_out, delta_out * slope)


def sigmoid_forward(x: np.ndarray) -> np.ndarray:
    """y = 1 / (1 + e^(−x)), computed without overflow for large |x|.

    Parameters
    ----------
    x : ndarray (any shape)
        Float or integer (float only: no exact mode).

    Returns
    -------
    y : ndarray (the shape of x)
        numpy's common type of x and float32: float32 for float16, float32, bool and
        integers of up to 16 bits; float64 for float64 and wider integers; longdouble for
        longdouble.

    Notes
    -----
    With e = e^(−|x|) ≤ 1: y = 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0, the same
    value as 1/(1 + e^(−x)) without e^(−x) overflowing.  The output has the input's shape.
    """
    x = np.asarray(x, dtype=np.result_type(x, np.float32))
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_backward(y: np.ndarray, delta_out: np.ndarray) -> np.ndarray:
    """dE/dx of :func:`sigmoid_forward`, from its output.

    Parameters
    ----------
    y : ndarray (any shape)
        The forward pass's output σ(x).
    delta_out : ndarray (the shape of y)
        dE/dy.

    Returns
    -------
    delta_in : ndarray (the shape of y)
        dE/dx = dE/dy · y · (1 − y).

    Notes
    -----
    σ'(x) = σ(x)(1 − σ(x)), written with y = σ(x), so x is not needed.  The output has the
    input's shape.
    """
    return delta_out * y * (1 - y)


def tanh_forward(x: np.ndarray) -> np.ndarray:
    """y = tanh(x).

    Parameters
    ----------
    x : ndarray (any shape)
        Float or integer (float only: no exact mode).

    Returns
    -------
    y : ndarray (the shape of x)
        numpy's ``np.tanh`` dtype: x's float dtype, or for integers and bools the smallest
        float holding them (float16 for bool and 8-bit integers, float32 for 16-bit ones,
        float64 for wider ones).

    Notes
    -----
    tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x)), by numpy's ``np.tanh``.  The output has the
    input's shape.
    """
    return np.tanh(x)


def tanh_backward(y: np.ndarray, delta_out: np.ndarray) -> np.ndarray:
    """dE/dx of :func:`tanh_forward`, from its output.

    Parameters
    ----------
    y : ndarray (any shape)
        The forward pass's output tanh(x).
    delta_out : ndarray (the shape of y)
        dE/dy.

    Returns
    -------
    delta_in : ndarray (the shape of y)
        dE/dx = dE/dy · (1 − y²).

    Notes
    -----
    tanh'(x) = 1 − tanh²(x), written with y = tanh(x).  The output has the input's shape.
    """
    return delta_out * (1 - y * y)


# --------------------------------------------------------------------------------------
# naive references: one element at a time, straight from the definitions


def relu_forward_naive(x) -> np.ndarray:
    """Plain-loop reference for :func:`relu_forward` (same argument and result)."""
    x = np.asarray(x)
    y = np.empty(x.shape, x.dtype.newbyteorder("="))  # a big-endian x gives native floats
    exact = x.dtype == object
    for i in np.ndindex(*x.shape):
        if exact:  # x·0 keeps a Fraction's or an int's type
            y[i] = x[i] if x[i] > 0 else x[i] * 0
        else:  # +0 for a negative x; NaN and −0 fail x < 0 and stay
            y[i] = 0 if x[i] < 0 else x[i]
    return y


def relu_backward_naive(x, delta_out) -> np.ndarray:
    """Plain-loop reference for :func:`relu_backward` (same arguments and result)."""
    x, delta_out = np.asarray(x), np.asarray(delta_out)
    exact = x.dtype == object or delta_out.dtype == object
    delta_in = np.empty(delta_out.shape,
                        object if exact else delta_out.dtype.newbyteorder("="))
    for i in np.ndindex(*delta_out.shape):
        if exact:
            delta_in[i] = delta_out[i] if x[i] > 0 else delta_out[i] * 0
        else:  # +0 where x ≤ 0, torch's threshold_backward; a NaN x fails x ≤ 0
            delta_in[i] = 0 if x[i] <= 0 else delta_out[i]
    return delta_in


def leaky_relu_forward_naive(x, slope) -> np.ndarray:
    """Plain-loop reference for :func:`leaky_relu_forward` (same arguments and result)."""
    x = np.asarray(x)
    y = np.empty(x.shape, np.result_type(x.dtype, _product_dtype(x, slope)))
    slope = _as(y.dtype, slope)
    for i in np.ndindex(*x.shape):
        y[i] = x[i] if x[i] > 0 else x[i] * slope
    return y


def leaky_relu_backward_naive(x, delta_out, slope) -> np.ndarray:
    """Plain-loop reference for :func:`leaky_relu_backward` (same arguments and result)."""
    x, delta_out = np.asarray(x), np.asarray(delta_out)
    delta_in = np.empty(delta_out.shape,
                        np.result_type(delta_out.dtype, _product_dtype(delta_out, slope)))
    slope = _as(delta_in.dtype, slope)
    for i in np.ndindex(*delta_out.shape):
        delta_in[i] = delta_out[i] if x[i] > 0 else delta_out[i] * slope
    return delta_in


def _product_dtype(values: np.ndarray, slope) -> np.dtype:
    """The dtype numpy gives ``values * slope`` (a Python float keeps float32 float32, a
    Fraction makes it object), found on no elements."""
    return (values.reshape(-1)[:0] * slope).dtype


def _as(dtype: np.dtype, number):
    """``number`` as a scalar of the float ``dtype`` (else as it is): element by element,
    numpy 1.x takes a float32 scalar times a Python number to float64, where the vectorized
    kernels' arrays stay float32 (numpy 2 keeps both float32)."""
    return dtype.type(number) if dtype.kind == "f" else number


def sigmoid_forward_naive(x) -> np.ndarray:
    """Plain-loop reference for :func:`sigmoid_forward` (same argument and result)."""
    x = np.asarray(x)
    dtype = np.result_type(x, np.float32)
    y = np.empty(x.shape, dtype)
    for i in np.ndindex(*x.shape):
        value = float(x[i])
        # 1/(1 + e^(−x)) overflows e^(−x) for x ≪ 0: there e^x/(1 + e^x), the same value
        if value >= 0:
            y[i] = 1 / (1 + math.exp(-value))
        else:
            y[i] = math.exp(value) / (1 + math.exp(value))
    return y


def sigmoid_backward_naive(y, delta_out) -> np.ndarray:
    """Plain-loop reference for :func:`sigmoid_backward` (same arguments and result)."""
    y, delta_out = np.asarray(y), np.asarray(delta_out)
    delta_in = np.empty(delta_out.shape, np.result_type(y, delta_out))
    one = _as(y.dtype, 1)  # 1 − y in y's own dtype, as the kernel's array
    for i in np.ndindex(*delta_out.shape):
        delta_in[i] = delta_out[i] * y[i] * (one - y[i])
    return delta_in


def tanh_forward_naive(x) -> np.ndarray:
    """Plain-loop reference for :func:`tanh_forward` (same argument and result)."""
    x = np.asarray(x)
    # np.tanh's loops are float16, float32, float64 (and longer): the first x casts to
    y = np.empty(x.shape, np.result_type(x, np.float16))
    for i in np.ndindex(*x.shape):
        y[i] = math.tanh(float(x[i]))
    return y


def tanh_backward_naive(y, delta_out) -> np.ndarray:
    """Plain-loop reference for :func:`tanh_backward` (same arguments and result)."""
    y, delta_out = np.asarray(y), np.asarray(delta_out)
    delta_in = np.empty(delta_out.shape, np.result_type(y, delta_out))
    one = _as(y.dtype, 1)  # 1 − y² in y's own dtype, as the kernel's array
    for i in np.ndindex(*delta_out.shape):
        delta_in[i] = delta_out[i] * (one - y[i] * y[i])
    return delta_in
