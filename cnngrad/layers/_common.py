"""Small helpers shared by the layer kernels: argument normalisation and output sizes.

These accept the library API's loose forms (an int or a pair, padding as an int, a pair
or four sides) and return tuples; they raise ``ValueError`` on nonsense because they serve
the library API.  User input is validated earlier, in :mod:`cnngrad.problem`, with JSON paths.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import numbers
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

#: The allowed values of the layer options, shared by the kernels and the problem loader.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
#: The padding a conv (conv2d, conv1d) may name instead of giving its numbers.
PADDING_WORDS = ("valid", "same")
TIE_RULES = ("first", "split", "all")
MSE_REDUCTIONS = ("half_sum", "sum", "mean")


def check_ties(ties: str) -> None:
    """A max pool's ``ties`` rule, or a ValueError naming the allowed ones."""
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {', '.join(TIE_RULES)}; got {ties!r}")


IntPair = tuple[int, int]
FourSides = tuple[int, int, int, int]  # (top, bottom, left, right)


def _is_int(value) -> bool:
    """An int or a numpy integer, not a bool: True is an int to Python, but a size or a
    stride of True is a slip (a flag given in the wrong place), not 1."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def ints(value, name: str, forms: str) -> tuple[int, ...]:
    """``value`` as a tuple of ints: an int, or a sequence of ints; a float (1.5 or 2.0), a
    bool, a string or None is a ValueError rather than truncated, read as 1 or a TypeError
    from deep inside."""
    items = (value,) if _is_int(value) else value
    listed = (isinstance(items, Sequence) and not isinstance(items, (str, bytes))
              or isinstance(items, np.ndarray) and items.ndim == 1)
    if not listed or any(not _is_int(v) for v in items):
        hint = " (for 'same' padding, see same_padding)" if name == "padding" and isinstance(
            value, str) else ""
        raise ValueError(f"{name} must be {forms}, got {value!r}{hint}")
    return tuple(int(v) for v in items)


def an_int(value, name: str) -> int:
    """``value`` as an int; a float (2.5 or 2.0), a bool or a string is a ValueError rather than
    truncated by ``int()``."""
    if not _is_int(value):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


def a_bool(value, name: str) -> bool:
    """``value`` as a bool: True or False (a numpy bool too); an int, a string or None is a
    ValueError rather than read by its truth (``"no"`` would be True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def real_array(value, name: str) -> np.ndarray:
    """``value`` as an array of real numbers (float, integer, bool or object dtype); complex
    numbers or text are a ValueError, never computed as complex, cast (the imaginary part
    dropped with a warning) nor parsed ("1.5" read as 1.5)."""
    array = np.asarray(value)
    if array.dtype != object and array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers (float, integer or object dtype), "
                         f"got dtype {array.dtype}")
    check_real_objects(array, name)
    return array


def check_real_objects(array: np.ndarray, name: str) -> None:
    """Refuse an object array holding anything but real numbers (None, a string, a complex
    number, a Decimal) with a ValueError naming the first such element.

    The kernels would otherwise stop on a TypeError from deep inside numpy's object loops,
    or, for a pool over strings, compare them and return a string.  One pass over the
    elements costs little next to the exact arithmetic that follows.
    """
    if array.dtype != object:
        return
    for element in array.flat:
        if not isinstance(element, numbers.Real):
            raise ValueError(f"{name} must hold real numbers (float, integer or Fraction); "
                             f"an object array holds {element!r} of type "
                             f"{type(element).__name__}")


def added_at(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """``np.bincount(index, weights=weights, minlength=size)``: the sum of the weights at
    each index, for a dtype bincount cannot take.

    bincount adds in float64 and refuses weights float64 cannot hold (``np.longdouble``),
    which must compute in their own dtype: for those, ``np.add.at`` into zeros of the
    weights' dtype.  Every other dtype keeps bincount's float64 sums (and its speed).
    """
    if np.can_cast(weights.dtype, np.float64):
        return np.bincount(index, weights=weights, minlength=size)
    total = np.zeros(size, weights.dtype)
    np.add.at(total, index, weights)
    return total


def cache_key(value):
    """``value`` (an option as the caller gave it) as a key for a cache of checked geometries.

    A list or array becomes a tuple. A leaf that is not an int, a string or None raises
    TypeError, so that the caller checks it uncached: 2.0 == 2 and True == 1 hash alike, and a
    float must never find the geometry cached for its int and slip past the check that refuses
    it.
    """
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(cache_key(item) for item in value)
    if type(value) is int or isinstance(value, str) or value is None:
        return value
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(f"no cache key for {value!r}")


def pair(value: int | Sequence[int], name: str = "value") -> IntPair:
    """``3 -> (3, 3)``, ``(2, 1) -> (2, 1)``."""
    if _is_int(value):
        return int(value), int(value)
    values = ints(value, name, "an int or a pair of ints")
    if len(values) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {value!r}")
    return values  # type: ignore[return-value]


def four_sides(padding: int | Sequence[int]) -> FourSides:
    """Padding as (top, bottom, left, right) from an int, a (rows, cols) pair or four sides."""
    if _is_int(padding):
        p = int(padding)
        return p, p, p, p
    values = ints(padding, "padding", "an int, a pair of ints or four ints")
    if len(values) == 2:
        return values[0], values[0], values[1], values[1]
    if len(values) == 4:
        return values  # type: ignore[return-value]
    raise ValueError(f"padding must be an int, a pair or four sides, got {padding!r}")


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> IntPair:
    """TensorFlow's "same" padding along one axis: (before, after).

    Parameters
    ----------
    size : int
        The input's length along the axis (H, W or L).
    kernel, stride, dilation : int

    Returns
    -------
    (before, after) : (int, int)
        The total max((⌈H/s⌉ − 1)·s + d·(k − 1) + 1 − H, 0), the odd extra cell after (at the
        bottom or right), so that the output has ⌈H/s⌉ cells.

    Raises
    ------
    ValueError
        An argument that is not an int (a float such as 6.0 too: never truncated) or is < 1.

    Notes
    -----
    At stride 1 the total is d·(k − 1) whatever H (PyTorch's padding="same").
    """
    # int() read 6.5 as 6 and "6" as 6: a float or a string is refused, as by the kernels
    size, kernel, stride, dilation = (an_int(v, name) for v, name in zip(
        (size, kernel, stride, dilation), ("size", "kernel", "stride", "dilation")))
    if min(size, kernel, stride, dilation) < 1:
        raise ValueError(f"size, kernel, stride and dilation must be ≥ 1, got {size}, {kernel}, "
                         f"{stride}, {dilation}")
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def same_padding_stride1(kernel: IntPair, dilation: IntPair) -> FourSides:
    """'same' padding of a 2-D kernel at stride 1 as (top, bottom, left, right): d·(k − 1)
    per axis, the odd extra at the bottom/right (:func:`same_padding` at stride 1)."""
    (top, bottom), (left, right) = (same_padding(1, k, 1, d) for k, d in zip(kernel, dilation))
    return top, bottom, left, right


def conv_output_size(size: int, pad_before: int, pad_after: int, k: int, stride: int,
                     dilation: int = 1) -> int:
    """floor((H + pad_total − d·(k−1) − 1) / s) + 1; may be ≤ 0 when the window does not fit."""
    return (size + pad_before + pad_after - dilation * (k - 1) - 1) // stride + 1


def pool_output_size(size: int, pad: int, k: int, stride: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size, with ceil_mode's rule that a last window starting in
    the right/bottom padding is dropped."""
    span = size + 2 * pad - (k - 1) - 1
    if ceil_mode:
        # torch: floor((span + s − 1) / s) + 1, i.e. ceil(span / s) + 1 also for a negative span
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad:
            out -= 1
        return out
    return span // stride + 1


def is_exact(a: np.ndarray) -> bool:
    """True for object arrays (exact rational arithmetic with fractions.Fraction)."""
    return a.dtype == object


def count_divisor(count: int, like: np.ndarray):
    """A count (cells, values) to divide ``like`` by: a Fraction for an exact (object) array,
    whose elements may be int 0s (an nll delta's), which int / int would make the float 0.0."""
    return Fraction(count) if like.dtype == object else count


def zeros_like_dtype(shape, like: np.ndarray) -> np.ndarray:
    """Zeros of ``like``'s dtype; for object arrays, integer 0 objects (exact)."""
    if like.dtype == object:
        out = np.empty(shape, dtype=object)
        out.fill(0)
        return out
    return np.zeros(shape, dtype=like.dtype)


# --------------------------------------------------------------------------------------
# big results on ordinary pages
#
# numpy advises Linux to put every array of 4 MiB and up on transparent huge pages (the
# system's mode "madvise" leaves it to such advice).  On the 2-core virtual machines cnngrad
# is measured on, a fresh huge page usually costs less than the 512 ordinary pages it
# replaces, but now and then far more: filling a new 100 MiB array took 20–29 ms (medians)
# on huge pages and up to 1.0 s, 60–88 ms on ordinary pages; a kernel call whose results are
# freed before the next allocates anew meets the slow case most (the 32×64×56×56 float64
# conv, forward + backward, torch between the calls: 714 ms median with the results on huge
# pages, 288 on ordinary ones; conv_transpose2d 8×64×56×56 284 and 155 ms).  So the kernels'
# big results are advised off huge pages, where torch's tensors are in that mode.  A system
# whose mode puts every array on huge pages ("always") keeps them there, as it keeps
# torch's; a process started with NUMPY_MADVISE_HUGEPAGE=1 asked numpy for them on purpose.

#: Results this big or bigger are kept off huge pages (numpy advises them from 4 MiB on).
ORDINARY_PAGES_MIN_BYTES = 4 * 2**20

_HUGE_PAGE_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def huge_page_mode() -> str | None:
    """The system's transparent huge page mode ("always", "madvise", "never"), or None
    where there are none (not Linux, or a kernel without them)."""
    try:
        chosen = re.search(r"\[(\w+)\]", _HUGE_PAGE_MODE.read_text())
    except OSError:
        return None
    return chosen.group(1) if chosen else None


def _numpy_huge_pages_asked(setting: str | None) -> bool:
    """NUMPY_MADVISE_HUGEPAGE read as numpy reads it: an integer, any but 0 asking for huge
    pages (numpy does not import at all with a value that is not an integer)."""
    try:
        return setting is not None and int(setting) != 0
    except ValueError:
        return False


@functools.cache
def _ordinary_pages_advice() -> tuple[Callable[[int, int], object] | None, str]:
    """(libc's ``madvise`` with MADV_NOHUGEPAGE bound, ""), or (None, why it does not
    apply in this process)."""
    setting = os.environ.get("NUMPY_MADVISE_HUGEPAGE")
    if _numpy_huge_pages_asked(setting):
        return None, f"NUMPY_MADVISE_HUGEPAGE={setting} asks for them"
    mode = huge_page_mode()
    if mode != "madvise":
        return None, (f"the system's mode is {mode!r}" if mode
                      else "the system has no transparent huge pages")
    advice = getattr(mmap, "MADV_NOHUGEPAGE", None)
    unavailable = "no madvise(MADV_NOHUGEPAGE) to call"
    if advice is None:
        return None, unavailable
    import ctypes

    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None, unavailable
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    madvise.restype = ctypes.c_int
    return (lambda start, length: madvise(start, length, advice)), ""


def ordinary_pages_declined() -> str | None:
    """Why this process leaves big results where numpy puts them, or None when
    :func:`on_ordinary_pages` advises them off huge pages."""
    advise, why_not = _ordinary_pages_advice()
    return None if advise is not None else why_not


def on_ordinary_pages(array: np.ndarray) -> np.ndarray:
    """``array`` (fresh, untouched: ``np.empty`` or ``np.zeros``), advised off transparent
    huge pages when it is big (see above); returned as it is.

    Advice only: where the system declines it, the array is as numpy made it.
    """
    if array.nbytes < ORDINARY_PAGES_MIN_BYTES or array.dtype == object:
        return array
    advise, _ = _ordinary_pages_advice()
    if advise is None:
        return array
    # the whole pages inside the array (numpy advised huge pages on the same range)
    start = array.ctypes.data
    first_page = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    advise(first_page, start + array.nbytes - first_page)
    return array


def empty_result(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` for a kernel's result: on ordinary pages when big."""
    return on_ordinary_pages(np.empty(shape, dtype))


def zeros_result(shape, like: np.ndarray) -> np.ndarray:
    """:func:`zeros_like_dtype` for a kernel's result: on ordinary pages when big."""
    return on_ordinary_pages(zeros_like_dtype(shape, like))


#: From this size of operand on, :func:`row_dots` takes its dot products from the BLAS.
ROW_DOTS_BLAS_MIN_BYTES = 2**16

#: numpy's ufunc buffer, in elements, inside :func:`unbuffered_rows` (numpy's default: 8,192).
UNBUFFERED_BUFSIZE = 16


@contextlib.contextmanager
def unbuffered_rows() -> Iterator[None]:
    """numpy's elementwise ufuncs straight over strided rows, not through their buffers.

    An operand that is not one contiguous run (a block of map rows, a slice of every map, a
    per-channel column broadcast over them) goes through numpy's 8,192-element buffers
    whenever several of its rows fit in one: each row is copied in, computed and copied out.
    With the buffer this small the loop runs on the rows where they lie.  A multiply of 16
    strided rows by a column of 16 constants, float64: 0.19 ns a value with 3,246-value rows
    (never buffered), 0.64 ns with 2,398, 0.74 with 1,678, 0.97 with 222; here 0.19–0.20 ns
    from 838 values a row up, 0.41 with 222.  The values are the same: each element is
    computed alone.  Only for calls whose operands share a dtype (a cast needs the buffer).

    numpy keeps the buffer size per thread: a kernel's threads each enter this themselves.
    Reductions inside it go through :func:`buffered_reduction`.
    """
    old = np.setbufsize(UNBUFFERED_BUFSIZE)
    outer = getattr(_BUFFER_SIZES, "outer", None)
    _BUFFER_SIZES.outer = old
    try:
        yield
    finally:
        _BUFFER_SIZES.outer = outer
        np.setbufsize(old)


#: the buffer size in effect outside :func:`unbuffered_rows`, per thread (as numpy keeps it)
_BUFFER_SIZES = threading.local()


@contextlib.contextmanager
def buffered_reduction() -> Iterator[None]:
    """The buffer size of outside :func:`unbuffered_rows` back, for a sum or a dot.

    numpy 2.0 reduces a row in pieces of the buffer's size, pairwise within a piece and one
    piece after another: with a buffer of 16 a float32 sum of 3,136 values moved by 4.6·10⁻⁵
    (numpy 2.4 sums a contiguous row whole whatever the buffer).  Outside
    :func:`unbuffered_rows` it changes nothing."""
    outer = getattr(_BUFFER_SIZES, "outer", None)
    if outer is None:
        yield
        return
    inner = np.setbufsize(outer)
    try:
        yield
    finally:
        np.setbufsize(inner)


def row_dots(a: np.ndarray, b: np.ndarray,
             blas_min_bytes: int = ROW_DOTS_BLAS_MIN_BYTES) -> np.ndarray:
    """(N, c, M) and (N, c, M) → (c,): Σ a·b per channel, over N and M.

    From ``blas_min_bytes`` on, one BLAS dot per row of M values (a batched ``np.matmul`` of
    1×M by M×1: about twice as fast as einsum's own loop, float32 or float64, and closer to
    the exact sum in float32); below it einsum, whose rounding is numpy's own on every
    machine (the BLAS's dot kernels differ by CPU).  Rows may be strided (views)."""
    if a.nbytes < blas_min_bytes:
        with buffered_reduction():
            return np.einsum("ncm,ncm->c", a, b)
    return np.matmul(a[..., None, :], b[..., :, None]).sum(axis=(0, 2, 3))


__all__ = ["PADDING_MODES", "PADDING_WORDS", "TIE_RULES", "MSE_REDUCTIONS", "pair", "four_sides", "same_padding", "same_padding_stride1", "conv_output_size", "pool_output_size",
           "is_exact", "zeros_like_dtype", "row_dots", "added_at", "check_real_objects",
           "unbuffered_rows", "buffered_reduction"]
