"""Batch normalisation (torch's batch_norm, training and evaluation modes) and its backward pass.

Statistics are per channel (axis 1) over every other axis: N for vectors (N, C), N and L for
1-D maps (N, C, L), N, H and W for 2-D maps (N, C, H, W).  With M values per channel:

- ``"train"``: μ = mean, σ² = biased variance (Σ (x − μ)² / M), x̂ = (x − μ) / √(σ² + ε),
  y = γ·x̂ + β, and the backward pass goes through μ and σ² as well:
  dx = γ/√(σ² + ε) · (δ − Σδ/M − x̂·Σ(δ·x̂)/M);
- ``"eval"``: μ and σ² are the running statistics (constants): dx = γ/√(σ² + ε) · δ.

In both, dγ = Σ δ·x̂ and dβ = Σ δ.  The fast kernels follow torch's order of operations:
dγ = Σ δ·(x − μ) · 1/√(σ² + ε), and in training dx = (δ − Σδ/M − (x − μ)·k)·γ/√(σ² + ε)
with k = Σ δ·(x − μ) / (σ² + ε) / M, so x̂ is never stored.  They work on blocks of a few
channels whose values stay in cache from the first pass over them to the last (the mean, the
centred values, the variance and the result: five passes forward, nine backward), each pass
one numpy call over the whole block, its per-channel constants a column broadcast over the
block's rows, with numpy's ufunc buffers out of the way
(:func:`~cnngrad.layers._common.unbuffered_rows`), on a few threads for big inputs (numpy
releases the GIL in its ufuncs, reductions and products); working memory is one block per
thread.

A square root is not rational, so batch norm is float only: object (Fraction) arrays are
computed in float64.  The plain-loop ``_naive`` twins are written straight from the formulas.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from cnngrad.layers._common import (ROW_DOTS_BLAS_MIN_BYTES, buffered_reduction,
                                    check_real_objects, empty_result, row_dots,
                                    unbuffered_rows)
from cnngrad.layers._threads import cores, for_each

MODES = ("train", "eval")

#: Size of the block of channels (all their values over the batch) one step works on: small
#: enough for the block and its scratch to stay mostly in cache between the passes, large
#: enough that the block's own few numpy calls (its sums, dot products and constants) are
#: few.  Measured, forward + backward, float64: 8×64×56×56 6.7 ms at 2 MiB against 8.1 ms at
#: 512 KiB and 7.4 ms at 8 MiB; 32×64×56×56 34 against 40 ms; 8×256×14×14 the same.
BLOCK_BYTES = 2**21

#: Below this input size the thread start-up costs more than it saves.  A block's calls
#: are long enough to hand the GIL between two threads (a call per channel was not: one
#: thread ran 8×64×56×56 faster then).
PARALLEL_MIN_BYTES = 4 * 2**20

MAX_THREADS = 8

#: Blocks from this size on take their dot products from the BLAS (see
#: :func:`~cnngrad.layers._common.row_dots`).
BLAS_MIN_BYTES = ROW_DOTS_BLAS_MIN_BYTES


def _float(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return a
    if a.dtype == object or a.dtype.kind in "biu":
        check_real_objects(a, name)  # None or "1" in an object array: refused, never cast
        return a.astype(np.float64)
    raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")


#: _setup's delta when a forward pass sets up: none to check (a backward pass's None is one)
_FORWARD = object()


def _setup(x, gamma, eps, mode, running_mean, running_var, delta=_FORWARD):
    """x as contiguous (N, C, M) floats, the delta so (None for a forward pass), the
    per-channel vectors and eps as a float (a Fraction too: batch norm computes in floats),
    checked."""
    x = _float(x, "x")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"x must be (N, C), (N, C, L) or (N, C, H, W), got shape {x.shape}")
    n, c = x.shape[:2]
    if min(x.shape) < 1:
        raise ValueError(f"empty axis in x {x.shape}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    # before eps is compared: "1e-5" or None was a TypeError from the comparison
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise ValueError(f"eps must be a number ≥ 0, got {eps!r}")
    count = x.size // c
    if mode == "train":
        if running_mean is not None or running_var is not None:
            raise ValueError("running_mean and running_var are used only with mode 'eval'; "
                             "'train' normalises with the batch's own statistics")
        if count < 2:
            raise ValueError(f"batch norm in 'train' mode needs more than one value per "
                             f"channel (its mean and variance come from the batch); got input "
                             f"shape {x.shape}, {count} value per channel")
    elif running_mean is None or running_var is None:
        raise ValueError("mode 'eval' needs running_mean and running_var (vectors of C)")
    if gamma is None:  # running_mean and running_var may be None (train mode); gamma never
        raise ValueError("gamma must hold real numbers, one per channel; got None")
    if delta is _FORWARD:
        delta = None
    elif delta is None:
        raise ValueError("delta must hold real numbers, of the output's shape "
                         f"{x.shape}; got None")
    else:
        delta = _float(delta, "delta")
        if delta.shape != x.shape:
            raise ValueError(f"delta must have the output's shape {x.shape}, got {delta.shape}")
    dtype = np.result_type(x, *(a for a in (delta,) if a is not None))
    vectors = []
    for name, value in (("gamma", gamma), ("running_mean", running_mean),
                        ("running_var", running_var)):
        if value is None:
            vectors.append(None)
            continue
        value = _float(value, name).astype(dtype, copy=False)
        if value.shape != (c,):
            raise ValueError(f"{name} must have shape ({c},) (one per channel), got {value.shape}")
        vectors.append(value)
    eps = float(eps)
    if vectors[2] is not None and np.any(vectors[2] + eps <= 0):
        raise ValueError("running_var + eps must be > 0 in every channel")
    if not eps >= 0:
        raise ValueError(f"eps must be ≥ 0, got {eps}")
    x3 = np.ascontiguousarray(x, dtype=dtype).reshape(n, c, -1)
    if mode == "train" and eps == 0:
        # σ² + ε of a constant channel is 0: its x̂ would be 0/0, nan in every cell
        constant = np.flatnonzero(np.all(x3 == x3[:1, :, :1], axis=(0, 2)))
        if constant.size:
            raise ValueError(f"with eps = 0 every channel's batch variance must be > 0; "
                             f"channel {constant[0]} holds one value throughout")
    if delta is not None:
        delta = np.ascontiguousarray(delta, dtype=dtype).reshape(x3.shape)
    return x3, delta, vectors, eps


def _threads() -> int:
    return max(1, min(MAX_THREADS, cores()))


def _over_channel_blocks(work: Callable[[slice, np.ndarray], None], x3: np.ndarray) -> None:
    """``work(channels, scratch)`` on consecutive blocks of channels; blocks write disjoint
    channels, so they may run on several threads (:func:`~cnngrad.layers._threads.for_each`:
    each thread takes the next block as it finishes one).

    ``scratch`` is an (N, block, M) array of x's dtype that ``work`` may overwrite, one per
    thread, allocated here once: a block's temporaries allocated inside the threads would come
    from per-thread heaps that are handed back to the system and faulted in again on every
    call.
    """
    n, c, m = x3.shape
    per_channel = n * m * x3.itemsize
    width = max(1, min(c, BLOCK_BYTES // max(per_channel, 1)))
    blocks = [slice(start, min(start + width, c)) for start in range(0, c, width)]
    workers = 1 if x3.nbytes < PARALLEL_MIN_BYTES else min(_threads(), len(blocks))

    def unbuffered_work(channels: slice, scratch: np.ndarray) -> None:
        with unbuffered_rows():  # numpy keeps the setting per thread
            work(channels, scratch)

    for_each(blocks, unbuffered_work,
             [np.empty((n, width, m), x3.dtype) for _ in range(workers)])


def _row_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return row_dots(a, b, BLAS_MIN_BYTES)


def _per_channel_sum(a: np.ndarray) -> np.ndarray:
    """(N, c, M) → (c,): the sum over N and M (M first: a contiguous inner reduction)."""
    with buffered_reduction():  # inside unbuffered_rows
        return a.sum(axis=2).sum(axis=0)


def _column(per_channel: np.ndarray) -> np.ndarray:
    """(c,) → (c, 1): one constant per channel, broadcast over a block's (N, c, M) rows."""
    return per_channel[:, None]


def _minus_each(xb: np.ndarray, means: np.ndarray, out: np.ndarray) -> np.ndarray:
    """xb − μ per channel, written to ``out`` (a scratch at least the block's size)."""
    return np.subtract(xb, _column(means), out=out[:, :xb.shape[1]])


def _centred(xb: np.ndarray, eps: float, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The block's x − μ (written to ``out``, a scratch at least the block's size) and
    1/√(σ² + ε) with the biased variance σ²."""
    count = xb.shape[0] * xb.shape[2]
    centred = _minus_each(xb, _per_channel_sum(xb) / count, out)
    # two passes (mean, then squares of the centred values), as torch: no cancellation
    var = _row_dots(centred, centred) / count
    return centred, 1 / np.sqrt(var + eps)


def _block_statistics(xb: np.ndarray, channels: slice, scratch: np.ndarray, eps: float,
                      mode: str, running_mean, running_var) -> tuple[np.ndarray, np.ndarray]:
    """The block's x − μ (in ``scratch``) and 1/√(σ² + ε): the batch's own statistics in
    ``"train"``, the running ones in ``"eval"``."""
    if mode == "train":
        return _centred(xb, eps, scratch)
    return (_minus_each(xb, running_mean[channels], scratch),
            1 / np.sqrt(running_var[channels] + eps))


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5,
                      mode: str = "train", running_mean: np.ndarray | None = None,
                      running_var: np.ndarray | None = None) -> np.ndarray:
    """Batch normalisation, as ``torch.nn.functional.batch_norm``.

    Parameters
    ----------
    x : ndarray (N, C), (N, C, L) or (N, C, H, W)
        A float dtype computes in itself (float16 and longdouble too, as numpy does);
        integers and object arrays (Fractions) compute in float64.
    gamma, beta : ndarray (C,)
        Scale and shift per channel.
    eps : float
        Added to the variance under the square root (a Fraction is taken as a float); with
        ``eps = 0`` in ``"train"`` mode a channel of one value throughout is a ValueError.
    mode : {"train", "eval"}
        ``"train"`` normalises with the batch's mean and biased variance per channel (torch's
        training mode); ``"eval"`` with ``running_mean`` and ``running_var``.
    running_mean, running_var : ndarray (C,), optional
        Required with ``"eval"``, not allowed with ``"train"``.

    Returns
    -------
    y : ndarray, the shape of x
        y = γ·(x − μ)/√(σ² + ε) + β per channel.

    Raises
    ------
    ValueError
        Bad shapes or mode, or ``"train"`` with a single value per channel (no variance).

    Notes
    -----
    The output has the input's size: (N, C, H, W) → (N, C, H, W).  In ``"train"`` mode μ and
    σ² are per channel over the M = N·H·W (N·L, N) values: μ = Σx/M, σ² = Σ(x − μ)²/M.
    """
    x3, _, (gamma, running_mean, running_var), eps = _setup(x, gamma, eps, mode,
                                                            running_mean, running_var)
    beta = _beta(beta, x3)
    y = empty_result(x3.shape, x3.dtype)

    def work(channels: slice, scratch: np.ndarray) -> None:
        centred, inv_std = _block_statistics(x3[:, channels], channels, scratch, eps, mode,
                                             running_mean, running_var)
        y_block = np.multiply(centred, _column(gamma[channels] * inv_std), out=y[:, channels])
        y_block += _column(beta[channels])

    _over_channel_blocks(work, x3)
    return y.reshape(np.shape(x))


def _beta(beta, x3: np.ndarray) -> np.ndarray:
    beta = _float(beta, "beta").astype(x3.dtype, copy=False)
    if beta.shape != (x3.shape[1],):
        raise ValueError(f"beta must have shape ({x3.shape[1]},) (one per channel), "
                         f"got {beta.shape}")
    return beta


def batchnorm_backward(x: np.ndarray, gamma: np.ndarray, delta: np.ndarray, eps: float = 1e-5,
                       mode: str = "train", running_mean: np.ndarray | None = None,
                       running_var: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_forward` given delta = dE/dy.

    Parameters
    ----------
    x : ndarray (N, C), (N, C, L) or (N, C, H, W)
        The forward pass's input.
    gamma : ndarray (C,)
    delta : ndarray, the shape of x
    eps, mode, running_mean, running_var
        As in :func:`batchnorm_forward`.

    Returns
    -------
    dx : ndarray, the shape of x
    dgamma : ndarray (C,)
        Σ δ·x̂ per channel.
    dbeta : ndarray (C,)
        Σ δ per channel.

    Notes
    -----
    ``"train"``: dx = γ/√(σ² + ε) · (δ − Σδ/M − x̂·Σ(δ·x̂)/M), the three paths through x̂, σ²
    and μ; ``"eval"``: dx = γ/√(σ² + ε) · δ.  The output has the input's size; M = N·H·W
    (N·L, N) values per channel.
    """
    x3, delta3, (gamma, running_mean, running_var), eps = _setup(x, gamma, eps, mode,
                                                                 running_mean, running_var,
                                                                 delta)
    n, c, m = x3.shape
    dx = empty_result(x3.shape, x3.dtype)
    dgamma, dbeta = np.empty(c, x3.dtype), np.empty(c, x3.dtype)

    def work(channels: slice, scratch: np.ndarray) -> None:
        db = delta3[:, channels]
        centred, inv_std = _block_statistics(x3[:, channels], channels, scratch, eps, mode,
                                             running_mean, running_var)
        sum_delta = _per_channel_sum(db)
        # torch's order of operations: Σ δ·(x − μ) first, x̂ itself is never stored
        dot = _row_dots(db, centred)
        dbeta[channels], dgamma[channels] = sum_delta, dot * inv_std
        scale = _column(gamma[channels] * inv_std)
        if mode == "train":
            # dx = (δ − Σδ/M − (x − μ)·Σδ(x − μ)/(σ² + ε)/M)·γ/√(σ² + ε), four passes
            count = n * m
            centred *= _column(dot * inv_std * inv_std / count)
            dx_block = np.subtract(db, _column(sum_delta / count), out=dx[:, channels])
            dx_block -= centred
            dx_block *= scale
        else:
            np.multiply(db, scale, out=dx[:, channels])

    _over_channel_blocks(work, x3)
    return dx.reshape(np.shape(x)), dgamma, dbeta


# --------------------------------------------------------------------------------------
# naive references: plain loops over each channel's values


def channel_indices(shape: tuple[int, ...], channel: int):
    """Every index of one channel's values (axis 1) in an array of ``shape``, in order."""
    for index in np.ndindex(*shape):
        if index[1] == channel:
            yield index


def _naive_stats(x, channel, eps, mode, running_mean, running_var):
    cells = list(channel_indices(x.shape, channel))
    if mode == "train":
        mean = sum(float(x[i]) for i in cells) / len(cells)
        var = sum((float(x[i]) - mean) ** 2 for i in cells) / len(cells)
    else:
        mean, var = float(running_mean[channel]), float(running_var[channel])
    return cells, mean, 1 / math.sqrt(var + eps)


def batchnorm_forward_naive(x, gamma, beta, eps=1e-5, mode="train", running_mean=None,
                            running_var=None):
    """Plain-loop reference for :func:`batchnorm_forward` (same arguments and result)."""
    x3, _, (gamma, running_mean, running_var), eps = _setup(x, gamma, eps, mode,
                                                            running_mean, running_var)
    beta = _beta(beta, x3)
    x = x3.reshape(np.shape(x))
    y = np.empty_like(x)
    for channel in range(x.shape[1]):
        cells, mean, inv_std = _naive_stats(x, channel, eps, mode, running_mean, running_var)
        for i in cells:
            y[i] = gamma[channel] * (x[i] - mean) * inv_std + beta[channel]
    return y


def batchnorm_backward_naive(x, gamma, delta, eps=1e-5, mode="train", running_mean=None,
                             running_var=None):
    """Plain-loop reference for :func:`batchnorm_backward` (same arguments and result)."""
    x3, delta3, (gamma, running_mean, running_var), eps = _setup(x, gamma, eps, mode,
                                                                 running_mean, running_var,
                                                                 delta)
    x, delta = x3.reshape(np.shape(x)), delta3.reshape(np.shape(x))
    dx = np.empty_like(x)
    dgamma, dbeta = np.zeros(x.shape[1], x.dtype), np.zeros(x.shape[1], x.dtype)
    for channel in range(x.shape[1]):
        cells, mean, inv_std = _naive_stats(x, channel, eps, mode, running_mean, running_var)
        count = len(cells)
        x_hat = {i: (float(x[i]) - mean) * inv_std for i in cells}
        for i in cells:
            dbeta[channel] += delta[i]
            dgamma[channel] += delta[i] * x_hat[i]
        for i in cells:
            if mode == "train":
                dx[i] = gamma[channel] * inv_std * (delta[i] - dbeta[channel] / count
                                                    - x_hat[i] * dgamma[channel] / count)
            else:
                dx[i] = gamma[channel] * inv_std * delta[i]
    return dx, dgamma, dbeta


batchnorm2d_forward = batchnorm1d_forward = batchnorm_forward
batchnorm2d_backward = batchnorm1d_backward = batchnorm_backward

__all__ = ["MODES", "batchnorm_forward", "batchnorm_backward", "batchnorm_forward_naive",
           "batchnorm_backward_naive", "batchnorm2d_forward", "batchnorm2d_backward",
           "batchnorm1d_forward", "batchnorm1d_backward"]
