"""Losses: the value E and its gradient dE/dy with respect to the last layer's output."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from cnngrad.layers._common import MSE_REDUCTIONS


def mse(y: np.ndarray, target: np.ndarray, reduction: str = "half_sum"):
    """Squared error and its gradient.

    Parameters
    ----------
    y : ndarray (any shape)
        The last layer's output.
    target : ndarray (same shape as y)
    reduction : {"half_sum", "sum", "mean"}
        ``half_sum``: E = ½ Σ (t − y)² (the textbook form); ``sum``: Σ (t − y)²;
        ``mean``: the mean of (t − y)² over every element.

    Returns
    -------
    loss : float or Fraction
    delta : ndarray (same shape as y)
        dE/dy.
    """
    diff = y - target
    total = (diff * diff).sum()
    # E = c·Σ(y − t)²  ⇒  dE/dy = 2c·(y − t)
    if reduction == "half_sum":
        return _half(total), diff
    if reduction == "sum":
        return total, 2 * diff
    if reduction == "mean":
        count = diff.size
        return _divide(total, count), diff * 2 / _exact_int(count, diff)
    raise ValueError(f"unknown mse reduction {reduction!r}; allowed: {', '.join(MSE_REDUCTIONS)}")


def cross_entropy(logits: np.ndarray, target: np.ndarray):
    """Softmax cross-entropy, averaged over the batch.

    Parameters
    ----------
    logits : ndarray (N, K)
    target : ndarray (N, K)
        Probabilities (a one-hot row for a class index).

    Returns
    -------
    loss : float
        E = (1/N) Σ_n −Σ_k t[n,k]·log p[n,k], p = softmax(logits[n]).
    delta : ndarray (N, K)
        dE/dz = (p·Σ_k t − t) / N (reduces to (p − t)/N when t sums to 1).
    """
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
    """Row-wise softmax of (N, K) logits."""
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _half(value):
    return value / 2 if not isinstance(value, (Fraction, int)) else Fraction(value) / 2


def _divide(value, count: int):
    return value / count if not isinstance(value, (Fraction, int)) else Fraction(value) / count


def _exact_int(count: int, like: np.ndarray):
    return Fraction(count) if like.dtype == object else count
