"""The ``--format npz`` result: every tensor in one NumPy ``.npz`` file, for results too big
to read.

Each array is stored under its dotted path (``conv2d_1.grads.kernel``, as
:meth:`cnngrad.network.Trace.tensors` names it and ``explain``/``check`` take it), in the
shape the JSON result gives it, in the dtype it was computed in (float64, or float32 with
``--dtype float32``); the loss, when the problem has one, is a 0-d array under ``loss``.
An exact (``--exact``) result is refused: an .npz holds floats, and a Fraction would be
rounded without a word (the JSON result keeps it exact, as ``"p/q"``).

    >>> import numpy as np
    >>> with np.load("result.npz") as result:
    ...     dw = result["conv2d_1.grads.kernel"]
"""

from __future__ import annotations

import io

import numpy as np

from cnngrad.network import Trace

# the result parts forward leaves out of its report, as in the JSON result
BACKWARD_PARTS = ("delta_out", "delta_in", "grads", "updated")


def npz_arrays(trace: Trace, *, include_backward: bool = True) -> dict[str, np.ndarray]:
    """Dotted path → array, forward order; the loss (when there is one) as a 0-d array.

    Raises
    ------
    ValueError
        For an exact trace: an .npz cannot hold Fractions (the CLI refuses ``--exact`` with
        ``--format npz`` before computing)."""
    arrays: dict[str, np.ndarray] = {}
    for path, value in trace.tensors():
        if value is None:  # no loss: the problem gave the delta
            continue
        if not include_backward and path.split(".")[1:2] and path.split(".")[1] in BACKWARD_PARTS:
            continue
        array = np.asarray(value)
        if array.dtype == object:
            raise ValueError(f"{path}: an .npz holds floats, not exact fractions")
        arrays[path] = array
    return arrays


def render_npz(trace: Trace, *, include_backward: bool = True) -> bytes:
    """The compressed .npz file's bytes (:func:`numpy.savez_compressed`) of
    :func:`npz_arrays`."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **npz_arrays(trace, include_backward=include_backward))
    return buffer.getvalue()


__all__ = ["npz_arrays", "render_npz"]
