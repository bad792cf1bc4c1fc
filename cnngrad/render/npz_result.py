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
import zipfile

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


#: zlib level of the members.  Level 1 wrote the medium problem's 41 MiB of float64 results in
#: 0.70 s as 18.1 MiB, where :func:`numpy.savez_compressed` (level 6) took 1.54 s for 17.4 MiB:
#: rounded floats leave deflate little to find beyond runs of zeros, which level 1 finds too.
COMPRESS_LEVEL = 1


def render_npz(trace: Trace, *, include_backward: bool = True) -> bytes:
    """The compressed .npz file's bytes of :func:`npz_arrays`: what
    :func:`numpy.savez_compressed` writes (one ``<path>.npy`` member per array, deflated), at
    zlib level :data:`COMPRESS_LEVEL`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=COMPRESS_LEVEL) as archive:
        for path, array in npz_arrays(trace, include_backward=include_backward).items():
            # force_zip64: a member may pass 4 GiB, and its size is not known before it is written
            with archive.open(path + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


__all__ = ["npz_arrays", "render_npz"]
