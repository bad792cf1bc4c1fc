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
import time
import zipfile
import zlib

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
        # the loss too in the dtype computed in (a Python float of a float32 value otherwise)
        array = np.asarray(value, dtype=trace.dtype) if path == "loss" and trace.dtype \
            else np.asarray(value)
        if array.dtype == object:
            raise ValueError(f"{path}: an .npz holds floats, not exact fractions")
        arrays[path] = array
    return arrays


#: zlib level of the members.  Level 1 wrote the medium problem's 41 MiB of float64 results in
#: 0.70 s as 18.1 MiB, where :func:`numpy.savez_compressed` (level 6) took 1.54 s for 17.4 MiB:
#: rounded floats leave deflate little to find beyond runs of zeros, which level 1 finds too.
COMPRESS_LEVEL = 1

#: A member is deflated only when deflating its first :data:`SAMPLE_BYTES` saves at least
#: this share; otherwise it is stored as it is.  A tensor of nonzero floats (a conv's output,
#: an input delta) shrinks by 3-4 % and costs as much time as one with many zeros (a ReLU's
#: delta, 0.2 of its size): on the medium problem storing its four dense members took the
#: writing from 0.76 to 0.49 s for a file 1.7 % bigger (18.1 → 18.4 MiB).
MIN_SAVING = 0.1

#: Bytes of a member deflated to decide (the sample predicted every member of the medium
#: problem and of a conv-relu-pool-dense network to within 0.08 of its whole ratio).
SAMPLE_BYTES = 2**18


def _worth_deflating(array: np.ndarray) -> bool:
    """Whether deflating ``array`` would save :data:`MIN_SAVING` of it, judged on a sample."""
    sample = np.ascontiguousarray(array.reshape(-1)[:SAMPLE_BYTES // max(array.itemsize, 1)])
    raw = sample.tobytes()
    if len(raw) < 4096:  # small members cost nothing either way
        return True
    return len(zlib.compress(raw, COMPRESS_LEVEL)) <= (1 - MIN_SAVING) * len(raw)


def render_npz(trace: Trace, *, include_backward: bool = True) -> bytes:
    """The .npz file's bytes of :func:`npz_arrays`: the layout :func:`numpy.savez_compressed`
    writes (one ``<path>.npy`` member per array), each member deflated at zlib level
    :data:`COMPRESS_LEVEL`, or stored when deflating would save under :data:`MIN_SAVING` of
    it (:func:`numpy.load` reads both kinds)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=COMPRESS_LEVEL) as archive:
        for path, array in npz_arrays(trace, include_backward=include_backward).items():
            member: str | zipfile.ZipInfo = path + ".npy"
            if not _worth_deflating(array):
                member = zipfile.ZipInfo(member, date_time=time.localtime()[:6])
                member.compress_type = zipfile.ZIP_STORED
            # force_zip64: a member may pass 4 GiB, and its size is not known before it is written
            with archive.open(member, "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, array, allow_pickle=False)
    return buffer.getvalue()


__all__ = ["npz_arrays", "render_npz"]
