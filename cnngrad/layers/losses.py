"""Losses: the value E and its gradient dE/dy with respect to the last layer's output."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from cnngrad.layers._common import MSE_REDUCTIONS, count_divisor, real_array


def mse(y: np.ndarray, target: np.ndarray, reduction: str = "half_sum"):
    """Squared error and its gradient.

    Parameters
    ----------
    y : ndarray (any shape)
        The last layer's output: float, integer, or object holding
        :class:`fractions.Fraction` (exact).
    target : ndarray (the shape of y)
        Never broadcast: a target of another shape is a ValueError.
    reduction : {"half_sum", "sum", "mean"}
        ``half_sum``: E = ½ Σ (t − y)² (the textbook form); ``sum``: Σ (t − y)²;
        ``mean``: the mean of (t − y)² over every element.

    Returns
    -------
    loss : scalar
        In the arrays' own arithmetic: a numpy scalar for numeric arrays, a Fraction (or an
        int, for ``sum`` over ints) for object arrays, where ½ and 1/y.size stay exact.
    delta : ndarray (the shape of y)
        dE/dy: (y − t) for ``half_sum``, 2·(y − t) for ``sum``, 2·(y − t)/y.size for
        ``mean``; the dtype of y − t (integer arrays give float64 only for ``mean``).

    Raises
    ------
    ValueError
        Shapes of y and target that differ, an unknown reduction, or arrays that do not
        hold real numbers.

    Notes
    -----
    E = c·Σ_i (y_i − t_i)² with c = ½, 1 or 1/y.size, so dE/dy_i = 2c·(y_i − t_i).  No
    output size: the loss is a scalar and the delta has y's shape.
    """
    y, target = real_array(y, "y"), real_array(target, "target")
    if y.shape != target.shape:
        # y − target would broadcast: an (N, 1) output against an (N,) target is (N, N)
        raise ValueError(f"target must have the shape of the output y {y.shape}, "
                         f"got {target.shape}")
    diff = y - target
    total = (diff * diff).sum()
    # E = c·Σ(y − t)²  ⇒  dE/dy = 2c·(y − t)
    if reduction == "half_sum":
        return _half(total), diff
    if reduction == "sum":
        return total, 2 * diff
    if reduction == "mean":
        count = diff.size
        return _divide(total, count), diff * 2 / count_divisor(count, diff)
    raise ValueError(f"unknown mse reduction {reduction!r}; allowed: {', '.join(MSE_REDUCTIONS)}")


def cross_entropy(logits: np.ndarray, target: np.ndarray):
    """Softmax cross-entropy, averaged over the batch.

    Parameters
    ----------
    logits : ndarray (N, K)
        One row of K class scores per sample; computed in float64.
    target : ndarray (N, K)
        Probabilities (a one-hot row for a class index); never broadcast.

    Returns
    -------
    loss : float
        E = (1/N) Σ_n −Σ_k t[n,k]·log p[n,k], p = softmax(logits[n]).
    delta : ndarray (N, K) of float64
        dE/dz = (p·Σ_k t − t) / N (reduces to (p − t)/N when t sums to 1).

    Raises
    ------
    ValueError
        logits that are not 2-D, a target of another shape, or arrays that do not hold
        real numbers.

    Notes
    -----
    log p[n,k] = z[n,k] − m_n − log Σ_j e^(z[n,j] − m_n), m_n = max_j z[n,j], so no e^z
    overflows; 0·log 0 counts as 0 (PyTorch's soft-target rule).  No output size: the loss
    is a scalar and the delta has the logits' shape.
    """
    logits = _rows(logits, "logits")
    target = real_array(target, "target")
    if target.shape != logits.shape:
        raise ValueError(f"target must have the shape of the logits {logits.shape}, "
                         f"got {target.shape}")
    logits = np.asarray(logits, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    n = logits.shape[0]
    # 0·log 0 counts as 0, as in PyTorch's soft-target cross-entropy
    loss = -np.where(target != 0, target * log_p, 0.0).sum() / n
    delta = (p * target.sum(axis=1, keepdims=True) - target) / n
    return float(loss), delta


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax.

    Parameters
    ----------
    logits : ndarray (N, K)
        Computed in float64.

    Returns
    -------
    p : ndarray (N, K) of float64
        Each row non-negative, summing to 1.

    Raises
    ------
    ValueError
        logits that are not 2-D or do not hold real numbers.

    Notes
    -----
    p[n,k] = e^(z[n,k] − m_n) / Σ_j e^(z[n,j] − m_n) with m_n = max_j z[n,j]: the same
    value as e^z / Σ e^z, without overflow.  The output has the input's shape (N, K).
    """
    shifted = np.asarray(_rows(logits, "logits"), dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _rows(logits, name: str) -> np.ndarray:
    """``logits`` as a real (N, K) array: a row of class scores per sample."""
    logits = real_array(logits, name)
    if logits.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, K), got shape {logits.shape}")
    return logits


def _half(value):
    return value / 2 if not isinstance(value, (Fraction, int)) else Fraction(value) / 2


def _divide(value, count: int):
    return value / count if not isinstance(value, (Fraction, int)) else Fraction(value) / count


# --------------------------------------------------------------------------------------
# v1.1: binary cross-entropy (on probabilities and on logits) and negative log-likelihood

#: The reductions of bce and bce_with_logits, as torch's (``"none"`` is not a loss value).
BCE_REDUCTIONS = ("mean", "sum")

#: torch clamps each log of binary_cross_entropy at this value, so a certain wrong answer
#: costs 100 rather than infinity.
LOG_CLAMP = -100.0

#: torch's floor under y·(1 − y) in the gradient of binary_cross_entropy: its constant
#: 1e-12 is a float32, 9.9999999600e-13 (a 4e-9 relative difference where the floor applies).
BCE_GRAD_EPSILON = float(np.float32(1e-12))


def _float_pair(y, target, name: str, *, probabilities: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """y and target as float arrays of one shape; ``probabilities``: targets in [0, 1]."""
    y = real_array(y, name)
    y = y if y.dtype.kind == "f" else y.astype(np.float64)
    target = real_array(target, "target").astype(y.dtype)
    if target.shape != y.shape:
        raise ValueError(f"target must have the shape of {name} {y.shape}, got {target.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty")
    if probabilities and np.any((target < 0) | (target > 1)):
        raise ValueError("target values must lie in [0, 1]")
    return y, target


def _reduce(elementwise: np.ndarray, reduction: str) -> tuple[float, float]:
    """(E, the factor of each element's gradient) for a reduction."""
    if reduction == "mean":
        return float(elementwise.sum() / elementwise.size), 1.0 / elementwise.size
    if reduction == "sum":
        return float(elementwise.sum()), 1.0
    raise ValueError(f"unknown reduction {reduction!r}; allowed: {', '.join(BCE_REDUCTIONS)}")


def bce(y: np.ndarray, target: np.ndarray, reduction: str = "mean"):
    """Binary cross-entropy on probabilities, as ``torch.nn.functional.binary_cross_entropy``.

    Parameters
    ----------
    y : ndarray (any shape, e.g. (N, K))
        Probabilities, each in [0, 1] (a sigmoid's output).
    target : ndarray (the shape of y)
        Values in [0, 1].
    reduction : {"mean", "sum"}
        The mean over every element (torch's default) or the sum.

    Returns
    -------
    loss : float
        E = −Σ [t·max(log y, −100) + (1 − t)·max(log(1 − y), −100)], over y.size for "mean".
    delta : ndarray (the shape of y)
        dE/dy = (y − t) / max(y·(1 − y), 1e-12), over y.size for "mean".

    Notes
    -----
    Each log is clamped at −100 and the gradient's denominator floored at 1e-12, both as
    torch does, so y = 0 or 1 gives finite values.
    """
    y, target = _float_pair(y, target, "y")
    if not np.all((y >= 0) & (y <= 1)):  # NaN is outside [0, 1] too, as torch says
        raise ValueError("bce needs outputs in [0, 1] (probabilities); apply a sigmoid first "
                         "or use bce_with_logits")
    with np.errstate(divide="ignore"):
        log_y = np.maximum(np.log(y), LOG_CLAMP)
        log_not_y = np.maximum(np.log1p(-y), LOG_CLAMP)
    loss, factor = _reduce((target - 1) * log_not_y - target * log_y, reduction)
    delta = (y - target) / np.maximum((1 - y) * y, BCE_GRAD_EPSILON) * factor
    return loss, np.asarray(delta)  # an array for 0-d inputs too, not a numpy scalar


def bce_with_logits(z: np.ndarray, target: np.ndarray, reduction: str = "mean"):
    """Binary cross-entropy on logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Parameters
    ----------
    z : ndarray (any shape, e.g. (N, K))
        Logits (bce is applied to sigmoid(z)).
    target : ndarray (the shape of z)
        Real values: usually in [0, 1], but any, as torch takes them (the loss and its
        gradient below are defined for every t).
    reduction : {"mean", "sum"}

    Returns
    -------
    loss : float
        E = Σ [(1 − t)·z + log(1 + e^(−z))], over z.size for "mean".
    delta : ndarray (the shape of z)
        dE/dz = sigmoid(z) − t, over z.size for "mean".

    Notes
    -----
    Computed stably as max(z, 0) − z·t + log(1 + e^(−|z|)): no overflow and no log clamp
    for large |z|.
    """
    z, target = _float_pair(z, target, "z", probabilities=False)
    elementwise = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
    loss, factor = _reduce(elementwise, reduction)
    e = np.exp(-np.abs(z))
    sigmoid = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return loss, np.asarray((sigmoid - target) * factor)  # 0-d inputs: an array too


def _class_indices(log_probs: np.ndarray, target_index) -> np.ndarray:
    target = np.asarray(target_index)
    if target.dtype.kind not in "iu":
        try:
            whole = target.size == 0 or bool(np.all(target == np.floor(target.astype(float))))
        except (TypeError, ValueError):
            whole = False
        if target.dtype.kind == "b" or not whole:
            raise ValueError(f"target must hold class indices (integers), got {target_index!r}")
    target = target.astype(np.int64)
    expected = log_probs.shape[:-1]
    if target.shape != expected:
        raise ValueError(f"target must have shape {expected} (one class index per sample), "
                         f"got {target.shape}")
    classes = log_probs.shape[-1]
    if np.any((target < 0) | (target >= classes)):
        raise ValueError(f"target class indices must be in 0 … {classes - 1}")
    return target


def nll(log_probs: np.ndarray, target_index):
    """Negative log-likelihood, as ``torch.nn.functional.nll_loss`` (mean over the batch).

    Parameters
    ----------
    log_probs : ndarray (K,) or (N, K)
        Log-probabilities (a log_softmax output); float or object (Fraction, exact).
    target_index : int or ndarray (N,) of int
        The true class of each sample.

    Returns
    -------
    loss : float or Fraction
        E = −(1/N) Σ_n log_probs[n, target_n] (N = 1 for a (K,) input).
    delta : ndarray (the shape of log_probs)
        −1/N at each sample's target class, 0 elsewhere.

    Notes
    -----
    Only the target entries matter: nll is linear in log_probs.
    """
    log_probs = real_array(log_probs, "log_probs")
    if log_probs.ndim not in (1, 2) or log_probs.shape[-1] < 1:
        raise ValueError(f"log_probs must be (K,) or (N, K), got shape {log_probs.shape}")
    if log_probs.dtype != object and log_probs.dtype.kind != "f":
        log_probs = log_probs.astype(np.float64)
    target = _class_indices(log_probs, target_index)
    rows = log_probs.reshape(-1, log_probs.shape[-1])
    picked = target.reshape(-1)
    count = rows.shape[0]
    if count == 0:  # the mean over no samples: 1/N would be a ZeroDivisionError
        raise ValueError(f"nll needs at least one sample, got log_probs of shape "
                         f"{log_probs.shape}")
    exact = log_probs.dtype == object
    scale = Fraction(1, count) if exact else 1.0 / count
    loss = -rows[np.arange(count), picked].sum() * scale
    delta = np.zeros_like(rows)
    if exact:
        delta.fill(0)
    delta[np.arange(count), picked] = -scale
    return (loss if exact else float(loss)), delta.reshape(log_probs.shape)


def bce_naive(y, target, reduction="mean"):
    """Plain-loop reference for :func:`bce`."""
    y, target = _float_pair(y, target, "y")
    total, grads = 0.0, np.empty_like(y)
    for i in np.ndindex(*y.shape):
        p, t = float(y[i]), float(target[i])
        log_p = max(math.log(p), LOG_CLAMP) if p > 0 else LOG_CLAMP
        log_q = max(math.log(1 - p), LOG_CLAMP) if p < 1 else LOG_CLAMP
        total -= t * log_p + (1 - t) * log_q
        grads[i] = (p - t) / max(p * (1 - p), BCE_GRAD_EPSILON)
    if reduction == "mean":
        return total / y.size, grads / y.size
    return total, grads


def bce_with_logits_naive(z, target, reduction="mean"):
    """Plain-loop reference for :func:`bce_with_logits`."""
    z, target = _float_pair(z, target, "z")
    total, grads = 0.0, np.empty_like(z)
    for i in np.ndindex(*z.shape):
        v, t = float(z[i]), float(target[i])
        # −t·log σ(z) − (1 − t)·log(1 − σ(z)), with log σ(z) = −log(1 + e^(−z))
        log_sigmoid = -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v))
        total -= t * log_sigmoid + (1 - t) * (log_sigmoid - v)
        grads[i] = math.exp(log_sigmoid) - t
    if reduction == "mean":
        return total / z.size, grads / z.size
    return total, grads


def nll_naive(log_probs, target_index):
    """Plain-loop reference for :func:`nll`."""
    log_probs = np.asarray(log_probs)
    exact = log_probs.dtype == object
    rows = log_probs.reshape(-1, log_probs.shape[-1])
    targets = np.asarray(target_index).reshape(-1)
    delta = np.zeros(rows.shape, dtype=object if exact else np.float64)
    count = Fraction(rows.shape[0]) if exact else rows.shape[0]
    loss = 0
    for n, t in enumerate(targets):
        loss -= rows[n, int(t)] / count
        delta[n, int(t)] -= 1 / count
    return (loss if exact else float(loss)), delta.reshape(log_probs.shape)


def mse_naive(y, target, reduction="half_sum"):
    """Plain-loop reference for :func:`mse` (same arguments and result)."""
    y, target = np.asarray(y), np.asarray(target)
    if y.shape != target.shape:
        raise ValueError(f"target must have the shape of the output y {y.shape}, "
                         f"got {target.shape}")
    if reduction not in MSE_REDUCTIONS:
        raise ValueError(f"unknown mse reduction {reduction!r}; allowed: "
                         f"{', '.join(MSE_REDUCTIONS)}")
    exact = y.dtype == object or target.dtype == object
    # E = c·Σ(y − t)², dE/dy = 2c·(y − t): c = ½, 1 or 1/count, a Fraction in exact mode
    count = y.size
    scale = {"half_sum": Fraction(1, 2), "sum": 1, "mean": Fraction(1, count or 1)}[reduction]
    scale = scale if exact else float(scale)
    total = 0
    delta = np.empty(y.shape, dtype=object if exact else np.float64)
    for i in np.ndindex(*y.shape):
        diff = y[i] - target[i]
        total += diff * diff
        delta[i] = 2 * scale * diff
    return total * scale, delta


def cross_entropy_naive(logits, target):
    """Plain-loop reference for :func:`cross_entropy` (same arguments and result)."""
    logits = np.asarray(logits, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    n, k = logits.shape
    loss, delta = 0.0, np.empty((n, k))
    for row in range(n):
        top = max(logits[row, j] for j in range(k))
        log_sum = math.log(sum(math.exp(logits[row, j] - top) for j in range(k)))
        target_sum = sum(target[row, j] for j in range(k))
        for j in range(k):
            log_p = logits[row, j] - top - log_sum
            if target[row, j] != 0:  # 0·log 0 = 0
                loss -= target[row, j] * log_p / n
            delta[row, j] = (math.exp(log_p) * target_sum - target[row, j]) / n
    return loss, delta


def softmax_naive(logits):
    """Plain-loop reference for :func:`softmax` (same argument and result)."""
    logits = np.asarray(logits, dtype=np.float64)
    n, k = logits.shape
    p = np.empty((n, k))
    for row in range(n):
        top = max(logits[row, j] for j in range(k))
        total = sum(math.exp(logits[row, j] - top) for j in range(k))
        for j in range(k):
            p[row, j] = math.exp(logits[row, j] - top) / total
    return p
