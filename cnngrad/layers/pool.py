"""2-D max and average pooling and their backward passes.

The fast kernels loop over the taps of the window, never over pixels: tap (i, j) of every
window is one strided slice of the input, so a pooling is a few whole-array ufunc calls per
tap.  A sum (or a max) over a kh×kw window is separable: one pass over the kw column taps
into an input-high partial, then one over the kh row taps, kh + kw passes instead of kh·kw
(used for average pooling, and for max pooling windows larger than 2×2).  A tap whose window
sometimes hangs over the padding only touches the outputs whose cell is real: padding is
never materialised.  Max pooling's backward pass recomputes the maxima and sends each
window's delta to its winning tap(s) according to the tie rule.

The exception is max pooling's backward pass with PyTorch's tie rule on overlapping float
windows (3×3 at stride 2 or 1, the common case): there the input, padding included, is
copied once into "phase planes" in which every tap is a contiguous run (see the section on
them below), and the deltas are added with one ``np.add.at`` per chunk.

The work runs on chunks of feature maps (the N·C axis) small enough to stay in cache, on a
few threads for large float arrays (numpy releases the GIL inside ufuncs); working memory
beyond the inputs and outputs is a few chunk-sized scratch arrays per thread.

The same code runs on ``dtype=object`` arrays of :class:`fractions.Fraction` (the ``--exact``
mode) and stays exact: only comparisons, ``+`` and division by a Fraction are used, and no
−∞ used for the padding survives into a result.

Each fast kernel has a plain-loop ``_naive`` twin written straight from the definition;
the tests hold one to the other.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from cnngrad.layers._common import (
    TIE_RULES,
    IntPair,
    a_bool,
    added_at,
    cache_key,
    check_real_objects,
    check_ties,
    empty_result,
    real_array,
    is_exact,
    pair,
    pool_output_size,
    zeros_like_dtype,
    zeros_result,
)
from cnngrad.layers._threads import cores, for_each

#: How max pooling's backward pass shares a window's delta among tied maxima.

#: Size of the slice of input feature maps one chunk works on: small enough that the chunk
#: and its scratch arrays stay in cache between the tap passes.
CHUNK_BYTES = 2 * 2**20

#: Below this input size the thread start-up costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 2**20

#: At most this many threads, and never more than the CPUs this process may use.
MAX_THREADS = 8

#: Max pooling on a small float chunk copies each window out (at most this many cells in
#: all) and takes one max or argmax: a few calls instead of several per tap.  numpy's argmax
#: along a short axis is slow per element, so bigger chunks keep the tap passes.
GATHER_MAX_ELEMENTS = 1 << 15

Index = tuple  # (Ellipsis, rows slice, cols slice)


# --------------------------------------------------------------------------------------
# geometry


@dataclass(frozen=True)
class _Tap:
    """One cell (i, j) of the window: which outputs see a real input cell there, and where."""

    source: Index  # the input cells, a strided slice
    target: Index  # the outputs whose window has a real cell at this tap


@dataclass(frozen=True)
class _AxisTaps:
    """The taps of the window along one axis, as 1-D taps (the other axis whole)."""

    taps: tuple[_Tap, ...]
    inside: bool  # every tap sees every output along this axis
    disjoint: bool  # stride ≥ size along this axis


@dataclass(frozen=True)
class _Geometry:
    size: IntPair
    stride: IntPair
    padding: IntPair
    input_hw: IntPair
    output_hw: IntPair
    inside: bool  # every tap sees every output: no window touches the padding
    disjoint: bool  # stride ≥ size: each input cell lies in at most one window
    rows: _AxisTaps  # for separable passes: a window is its rows × its columns
    cols: _AxisTaps

    @functools.cached_property
    def taps(self) -> tuple[_Tap, ...]:
        """Row-major within the window; taps that only ever see padding left out.  Built on
        first use: a separable pass needs only the rows' and the columns' taps (a 1001×1001
        window has a million taps, but 2002 of those)."""
        return tuple(_Tap(source=(Ellipsis, r.source[1], c.source[1]),
                          target=(Ellipsis, r.target[1], c.target[1]))
                     for r in self.rows.taps for c in self.cols.taps)


def _tap_span(tap: int, n_in: int, n_out: int, stride: int, pad: int) -> tuple[slice, slice] | None:
    """Along one axis: the outputs o with 0 ≤ o·s + tap − p < n_in, and the input cells they read."""
    first = max(0, -(-(pad - tap) // stride))
    last = min(n_out - 1, (n_in - 1 + pad - tap) // stride)
    if last < first:
        return None
    start = first * stride + tap - pad
    return slice(first, last + 1), slice(start, start + (last - first) * stride + 1, stride)


def _geometry(input_hw: Sequence[int], size, stride, padding, ceil_mode: bool) -> _Geometry:
    """The checked sizes and taps of one pooling; cached per shape and options (small calls
    repeat, and forward and backward share it)."""
    ceil_mode = a_bool(ceil_mode, "ceil_mode")
    try:
        return _geometry_cached(*(cache_key(a) for a in (input_hw, size, stride, padding)),
                                ceil_mode)
    except TypeError:  # a float, a bool or an unhashable oddity: the checks judge it uncached
        return _geometry_uncached(input_hw, size, stride, padding, ceil_mode)


def _geometry_uncached(input_hw: Sequence[int], size, stride, padding,
                       ceil_mode: bool) -> _Geometry:
    size = pair(size, "size")
    stride = size if stride is None else pair(stride, "stride")
    padding = pair(padding, "padding")
    input_hw = (int(input_hw[0]), int(input_hw[1]))
    if min(input_hw) < 1:
        raise ValueError(f"the input's H and W must be ≥ 1, got {input_hw}")
    if min(size) < 1:
        raise ValueError(f"size must be ≥ 1, got {size}")
    if min(stride) < 1:
        raise ValueError(f"stride must be ≥ 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"padding must be ≥ 0, got {padding}")
    for k, p, axis in zip(size, padding, ("rows", "cols")):
        if 2 * p > k:
            raise ValueError(f"padding {p} must be at most half the window size {k} ({axis}), "
                             f"as in PyTorch")
    output_hw = tuple(pool_output_size(n, p, k, s, ceil_mode)
                      for n, k, s, p in zip(input_hw, size, stride, padding))
    # a window larger than the padded input still gives one output with ceil_mode (PyTorch
    # accepts it: the window hangs over the edge); without ceil_mode there is no output
    for n, k, p, out, axis in zip(input_hw, size, padding, output_hw, ("H", "W")):
        if out < 1:
            raise ValueError(f"window size {k} is larger than the padded input ({axis} = {n} + 2·{p})")

    rows = _axis_taps(0, input_hw, output_hw, size, stride, padding,
                      lambda cells: (Ellipsis, cells, slice(None)))
    cols = _axis_taps(1, input_hw, output_hw, size, stride, padding,
                      lambda cells: (Ellipsis, cells))
    return _Geometry(size, stride, padding, input_hw, output_hw,
                     inside=rows.inside and cols.inside, disjoint=rows.disjoint and cols.disjoint,
                     rows=rows, cols=cols)


_geometry_cached = functools.lru_cache(maxsize=256)(_geometry_uncached)


def _axis_taps(axis: int, input_hw, output_hw, size, stride, padding, index) -> _AxisTaps:
    n_in, n_out, k, s, p = (input_hw[axis], output_hw[axis], size[axis], stride[axis],
                            padding[axis])
    # only taps p − (n_out − 1)·s ... p + n_in − 1 ever see a real cell: a huge window (or
    # padding) costs nothing beyond the input it covers
    first, last = max(0, p - (n_out - 1) * s), min(k - 1, p + n_in - 1)
    spans = [_tap_span(t, n_in, n_out, s, p) for t in range(first, last + 1)]
    taps = tuple(_Tap(source=index(span[1]), target=index(span[0]))
                 for span in spans if span is not None)
    inside = (first, last) == (0, k - 1) and all(
        span is not None and span[0] == slice(0, n_out) for span in spans)
    return _AxisTaps(taps, inside, s >= k)


# --------------------------------------------------------------------------------------
# arguments and chunking


def _as_maps(x) -> np.ndarray:
    """x as a 4-D array of float or object dtype (integers become float64)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
    if x.dtype == object:
        check_real_objects(x, "x")
        return x
    elif x.dtype.kind == "f":
        return x
    elif x.dtype.kind in "biu":
        return x.astype(np.float64)
    else:
        raise ValueError(f"x must hold real numbers (float or object dtype), got dtype {x.dtype}")


def _as_delta(delta, x: np.ndarray, geo: _Geometry) -> np.ndarray:
    delta = real_array(delta, "delta")
    expected = x.shape[:2] + geo.output_hw
    if delta.shape != expected:
        raise ValueError(f"delta must have the output's shape {expected}, got {delta.shape}")
    return delta if delta.dtype == x.dtype else delta.astype(x.dtype)


def _zero(dtype: np.dtype):
    """A zero that keeps the dtype: the int 0 object in exact mode (never a float)."""
    return 0 if dtype == object else dtype.type(0)


def _threads() -> int:
    return max(1, min(MAX_THREADS, cores()))


def _for_each_chunk(work: Callable[[int, int], None], n_maps: int, map_bytes: int,
                    exact: bool, chunk_bytes: int | None = None) -> None:
    """Call ``work(start, stop)`` on consecutive chunks of the N·C feature maps, each about
    ``chunk_bytes`` of input (default :data:`CHUNK_BYTES`).

    Chunks write disjoint slices of the outputs, so they may run on several threads; object
    arrays hold the GIL throughout, so exact mode stays on one.
    """
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    rows = max(1, chunk_bytes // max(map_bytes, 1))
    chunks = [(start, min(start + rows, n_maps)) for start in range(0, n_maps, rows)]
    workers = 1 if exact or n_maps * map_bytes < PARALLEL_MIN_BYTES else min(_threads(), len(chunks))
    for_each(chunks, lambda chunk, _: work(*chunk), [None] * workers)


def _run(kernel, geo: _Geometry, x: np.ndarray, out_hw: IntPair, dtype, *others: np.ndarray,
         zeros: bool = False) -> np.ndarray:
    """Apply ``kernel(x_chunk, *other_chunks, out_chunk)`` over chunks of the N·C maps.

    ``others`` are (N, C, ·, ·) arrays chunked alongside x; the result is (N, C) + out_hw,
    all zeros before the kernel writes or adds to it with ``zeros``.
    """
    n, c, h, w = x.shape
    maps = x.reshape(n * c, h, w)
    other_maps = [a.reshape((n * c,) + a.shape[2:]) for a in others]
    shape = (n * c,) + tuple(out_hw)
    # Disjoint windows write each cell at most once, into np.zeros's untouched pages.
    # Overlapping ones add (`+=` reads first), and there each chunk zeroes its own share on
    # its own thread: an untouched page read first maps the shared zero page and is copied
    # on the write, each copy flushing the other threads' TLBs (avgpool 32×64×112×112
    # backward on ordinary pages: 0.72 s, 1.25 s of CPU in the kernel; zeroed by chunk 0.11
    # s).  Zeroing the disjoint case too would write the result twice (2×2 max pool float64:
    # 144–160 ms against 122–128).
    zero_chunks = zeros and not geo.disjoint
    out = (zeros_result(shape, np.empty(0, dtype)) if zeros and not zero_chunks
           else empty_result(shape, dtype))

    def work(start: int, stop: int) -> None:
        if zero_chunks:
            out[start:stop].fill(_zero(dtype))
        kernel(maps[start:stop], *(a[start:stop] for a in other_maps), out[start:stop])

    _for_each_chunk(work, n * c, h * w * x.itemsize, is_exact(x))
    return out.reshape((n, c) + tuple(out_hw))


#: Integers as wide as each float, to select floats by masking their bits.
_BITS = {2: np.int16, 4: np.int32, 8: np.int64}


def _scatter_where(delta_in: np.ndarray, tap: _Tap, values: np.ndarray, won: np.ndarray,
                   disjoint: bool) -> None:
    """Send each window's value at this tap to its input cell where ``won`` (else 0);
    overlapping windows add up.

    Floats select by masking their bits: np.where branches per element and is several times
    slower on the irregular masks of max pooling, and multiplying by the mask would turn a
    negative value into −0.0 (and an infinite one into NaN) where it should leave 0.
    """
    cells = delta_in[tap.source]
    if values.dtype == object or values.dtype.itemsize not in _BITS:
        chosen = np.where(won, values, _zero(values.dtype))
    else:
        bits = _BITS[values.dtype.itemsize]
        keep = np.negative(won.view(np.int8))  # True → −1, all ones once widened to bits
        if disjoint:  # straight into the cells, no temporary
            np.bitwise_and(values.view(bits), keep, out=cells.view(bits))
            return
        chosen = np.bitwise_and(values.view(bits), keep).view(values.dtype)
    if disjoint:
        cells[...] = chosen
    else:
        np.add(cells, chosen, out=cells)


# --------------------------------------------------------------------------------------
# passes over the taps, direct or separable


def _combine_along(out: np.ndarray, source: np.ndarray, axis: _AxisTaps, combine, empty) -> None:
    """out[o] = combine of source's real cells in window o along one axis."""
    taps = axis.taps
    if axis.inside and len(taps) == 1:
        np.copyto(out, source[taps[0].source])
    elif axis.inside:
        combine(source[taps[0].source], source[taps[1].source], out=out)
        for tap in taps[2:]:
            combine(out, source[tap.source], out=out)
    else:
        out.fill(empty)
        for tap in taps:
            part = out[tap.target]
            combine(part, source[tap.source], out=part)


def _pool(x: np.ndarray, y: np.ndarray, geo: _Geometry, combine, empty, separable: bool) -> None:
    """y (B, H', W') = combine over each window's real cells of x (B, H, W): directly tap by
    tap, or (separable) along the columns into an input-high partial, then along the rows."""
    if separable:
        partial = np.empty(x.shape[:-1] + (geo.output_hw[1],), x.dtype)
        _combine_along(partial, x, geo.cols, combine, empty)
        _combine_along(y, partial, geo.rows, combine, empty)
    else:
        _combine_along(y, x, _AxisTaps(geo.taps, geo.inside, geo.disjoint), combine, empty)


def _spread_along(out: np.ndarray, values: np.ndarray, axis: _AxisTaps) -> None:
    """The adjoint of a sum along one axis: each output's value to every real cell of its
    window; overlapping windows add up.  ``out`` starts at zero."""
    for tap in axis.taps:
        cells = out[tap.source]
        if axis.disjoint:
            cells[...] = values[tap.target]
        else:
            np.add(cells, values[tap.target], out=cells)


# --------------------------------------------------------------------------------------
# max pooling


def _max_kernel(x: np.ndarray, y: np.ndarray, geo: _Geometry) -> None:
    """y[o] = max over the window's real cells (padded cells are −∞ and never win)."""
    # np.maximum is slow on strided operands, so separable only when it saves passes (3×3:
    # 6 instead of 9, but 2×2: 4 either way).  Every window has a real cell, so no −∞
    # survives (not even as a float object in exact mode).
    if _gather_pays(x, geo):
        windows, _ = _gathered_windows(x, geo)
        np.max(windows, axis=-1, out=y.reshape(windows.shape[:2]))
        return
    n_rows, n_cols = len(geo.rows.taps), len(geo.cols.taps)
    _pool(x, y, geo, np.maximum, -np.inf if y.dtype != object else float("-inf"),
          separable=n_rows * n_cols > n_rows + n_cols)


def _share_of_ties(delta: np.ndarray, count: np.ndarray) -> np.ndarray:
    """delta / count, exact in exact mode (a Fraction divisor, never int / int)."""
    if delta.dtype == object:
        return delta / np.vectorize(Fraction, otypes=[object])(count)
    return delta / count.astype(delta.dtype)


def _gather_pays(x: np.ndarray, geo: _Geometry) -> bool:
    """A small float chunk: copying every window out costs fewer calls than the tap passes."""
    return (x.dtype != object and
            x.shape[0] * geo.output_hw[0] * geo.output_hw[1] * geo.size[0] * geo.size[1]
            <= GATHER_MAX_ELEMENTS)


def _separable_argmax_pays(geo: _Geometry) -> bool:
    """A big window (9×9 and up): kh + kw passes of a running argmax beat kh·kw tap passes."""
    return len(geo.rows.taps) * len(geo.cols.taps) > 4 * (len(geo.rows.taps) + len(geo.cols.taps))


@functools.lru_cache(maxsize=64)
def _window_index(input_hw: IntPair, size: IntPair, stride: IntPair, padding: IntPair,
                  output_hw: IntPair) -> tuple[np.ndarray, np.ndarray]:
    """(H'·W', kh·kw) flat input positions of each window's cells, row-major, H·W for a
    padded cell (a −∞ placed after the map); and each window's first real cell."""
    (h, w), (kh, kw) = input_hw, size
    rows = (np.arange(output_hw[0]) * stride[0] - padding[0])[:, None] + np.arange(kh)
    cols = (np.arange(output_hw[1]) * stride[1] - padding[1])[:, None] + np.arange(kw)
    real = (((rows >= 0) & (rows < h))[:, None, :, None]
            & ((cols >= 0) & (cols < w))[None, :, None, :])
    flat = rows[:, None, :, None] * w + cols[None, :, None, :]
    index = np.where(real, flat, h * w).reshape(output_hw[0] * output_hw[1], kh * kw)
    first_real = index[np.arange(len(index)), real.reshape(len(index), -1).argmax(axis=1)]
    index.setflags(write=False)
    return index, first_real


def _gathered_windows(x: np.ndarray, geo: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """x (B, H, W) → (B, H'·W', kh·kw) copies of every window (padded cells −∞), and the
    window index of :func:`_window_index`."""
    index, _ = _window_index(geo.input_hw, geo.size, geo.stride, geo.padding, geo.output_hw)
    b = x.shape[0]
    cells = np.empty((b, x.shape[1] * x.shape[2] + 1), x.dtype)
    cells[:, :-1] = x.reshape(b, -1)
    cells[:, -1] = -np.inf
    return cells[:, index], index


def _first_argmax_gather(x: np.ndarray, geo: _Geometry) -> np.ndarray:
    """Flat input position (within its map) of each window's first maximum (row-major),
    x (B, H, W) → (B, H'·W'), from a copy of every window and one argmax."""
    windows, index = _gathered_windows(x, geo)
    best = windows.argmax(axis=-1)
    flat = index[np.arange(index.shape[0]), best]
    if not geo.inside:  # a window of −∞ alone would pick a padded cell: its first real one
        padded = flat == geo.input_hw[0] * geo.input_hw[1]
        if padded.any():
            _, first_real = _window_index(geo.input_hw, geo.size, geo.stride, geo.padding,
                                          geo.output_hw)
            flat = np.where(padded, first_real, flat)
    return flat


def _first_argmax_separable(x: np.ndarray, geo: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`_first_argmax_gather`, in kh + kw passes: the first maximum of each row of
    each window (along the columns), then the first row reaching the window's maximum —
    row-major first.  Memory: a few arrays of the input's height × the output's width."""
    b = x.shape[0]
    (h, _), (h_out, w_out), (sh, sw), (ph, pw) = (geo.input_hw, geo.output_hw, geo.stride,
                                                  geo.padding)
    # the positions start at each window's first real column and row, which keep a window
    # of −∞ alone (no value is greater): its first real cell, as the other paths and torch
    row_best = np.full((b, h, w_out), -np.inf, x.dtype)
    row_col = np.empty((b, h, w_out), np.int64)
    row_col[...] = np.maximum(np.arange(w_out) * sw - pw, 0)
    _running_argmax(row_best, row_col, x, geo.cols.taps, sw, pw, axis=2)
    best = np.full((b, h_out, w_out), -np.inf, x.dtype)
    rows = np.empty((b, h_out, w_out), np.int64)
    rows[...] = np.maximum(np.arange(h_out) * sh - ph, 0)[:, None]
    _running_argmax(best, rows, row_best, geo.rows.taps, sh, ph, axis=1)
    cols = np.take_along_axis(row_col, rows, axis=1)
    return (rows * geo.input_hw[1] + cols).reshape(b, -1)


def _running_argmax(best: np.ndarray, where: np.ndarray, source: np.ndarray, taps,
                    stride: int, pad: int, axis: int) -> None:
    """best/where (…) ← the first maximum of source over each window along ``axis`` and its
    input position, tap by tap in order (a strictly greater value replaces)."""
    for tap in taps:
        target, cells = tap.target[1], tap.source[1]  # the slices along the axis
        index = (slice(None),) * axis + (target,)
        part, values = best[index], source[(slice(None),) * axis + (cells,)]
        better = values > part
        np.copyto(part, values, where=better)
        # this tap's input position for each of its outputs
        positions = np.arange(target.start, target.stop) * stride + (cells.start - target.start * stride)
        shape = [1] * best.ndim
        shape[axis] = -1
        np.copyto(where[index], positions.reshape(shape), where=better)


@functools.lru_cache(maxsize=64)
def _window_starts(input_hw: IntPair, stride: IntPair, padding: IntPair,
                   output_hw: IntPair) -> tuple[np.ndarray, np.ndarray]:
    """(H', W') flat position o_row·s_h·W + o_col·s_w of each window (its top-left corner
    without the padding), and the offset from there to the window's first real cell."""
    w = input_hw[1]
    rows, cols = (np.arange(n) * s for n, s in zip(output_hw, stride))
    start = rows[:, None] * w + cols[None, :]
    first_row = np.maximum(rows - padding[0], 0) - rows
    first_col = np.maximum(cols - padding[1], 0) - cols
    first = first_row[:, None] * w + first_col[None, :]
    start.setflags(write=False)
    first.setflags(write=False)
    return start, first


def _tap_argmax_pays(x: np.ndarray, geo: _Geometry) -> bool:
    """Overlapping float64 windows (those of more than PLANES_MAX_TAPS cells: smaller ones
    go to the phase planes): the argmax tap by tap and one bincount beat masking the deltas
    tap by tap (measured 0.87–0.97 of the time on 3×3 windows at stride 1 and 2).  Disjoint
    windows (each tap's mask written straight into its cells) and float32 (whose
    masks cost half as much, while bincount works in float64) keep the masks: there the
    bincount path took 1.1–2.3 times as long."""
    return x.dtype == np.float64 and not geo.disjoint


def _first_argmax_taps(x: np.ndarray, geo: _Geometry) -> np.ndarray:
    """As :func:`_first_argmax_gather`, tap by tap: the maxima, then the taps in reverse
    row-major order, each overwriting the position of the windows whose maximum it holds, so
    the first one stays.  Two whole-array calls per tap, on output-sized arrays only."""
    b = x.shape[0]
    (h, w), (sh, sw) = geo.input_hw, geo.stride
    y = np.empty((b,) + geo.output_hw, x.dtype)
    _max_kernel(x, y, geo)
    start, first = _window_starts(geo.input_hw, geo.stride, geo.padding, geo.output_hw)
    # offsets within a window fit in 32 bits for any map under 2³¹ cells: half the traffic
    offset = np.empty(y.shape, np.int32 if (h + 1) * (w + 1) < 2**31 else np.int64)
    # a window no tap claims (a NaN maximum) keeps its first real cell
    np.copyto(offset, first)
    won = np.empty(y.shape, bool)
    for tap in reversed(geo.taps):
        rows, cols = tap.source[1], tap.source[2]
        out_rows, out_cols = tap.target[1], tap.target[2]
        here = won[tap.target]
        np.equal(x[tap.source], y[tap.target], out=here)
        np.copyto(offset[tap.target],
                  (rows.start - out_rows.start * sh) * w + cols.start - out_cols.start * sw,
                  where=here)
    return (offset + start).reshape(b, -1)


def _max_backward_first(x: np.ndarray, delta_out: np.ndarray, delta_in: np.ndarray,
                        geo: _Geometry) -> None:
    """PyTorch's rule for float maps: each window's delta to its first maximum, the argmax
    found once and the deltas added by one bincount (overlapping windows add up)."""
    if _separable_argmax_pays(geo):
        find = _first_argmax_separable
    elif _gather_pays(x, geo):
        find = _first_argmax_gather
    else:
        find = _first_argmax_taps
    b, h, w = delta_in.shape
    flat = find(x, geo) + (np.arange(b) * (h * w))[:, None]
    if geo.disjoint:  # each cell wins at most one window
        np.put(delta_in, flat.ravel(), delta_out.ravel())
    else:
        delta_in += added_at(flat.ravel(), delta_out.ravel(), b * h * w).reshape(delta_in.shape)


# --------------------------------------------------------------------------------------
# max pooling's backward pass on padded phase planes (PyTorch's tie rule, float maps)
#
# A tap's cells are a strided 2-D slice of the input: numpy runs it row by row (W' cells at
# a time, without SIMD at stride 2), and a window touching the padding needs a smaller
# slice per tap.  Copied once into s_h·s_w "phase planes" of the padded input (plane (a, b)
# holds the padded cells (q·s_h + a, u·s_w + b), −∞ in the padding), every tap of every
# window is one contiguous run of one plane, at a fixed offset from the window's own index,
# when the windows are laid out with the planes' row length (a few junk windows per row,
# whose results are never used).  Each step is then one ufunc call over a whole chunk of
# contiguous memory, and none is a masked assignment (which branches per element on an
# irregular mask: 5–20 times the cost of a plain pass).
#
# The first maximum is separable: the first maximum of each window row (along the columns,
# kw taps), then the first row reaching the largest of them (kh taps) is the first maximum
# in row-major order.  The deltas go to their winners with one np.add.at per chunk, straight
# into the result (a winner is never in the padding), in window order, as the plain loops
# add them.


#: Maps per chunk for the planes: the chunk's input this big, so that the planes and the
#: window-sized scratch (about 3× the input) stay in cache.
PLANES_CHUNK_BYTES = 2**20
#: An input smaller than PLANES_SMALL_INPUT_BYTES goes in chunks of at most
#: PLANES_SMALL_CHUNK_BYTES: its scratch stays in a core's L2 cache, and the work is still
#: dozens of chunks.  Backward pass, 256 KiB against 1 MiB chunks, 9 rounds with 0.25 s pauses,
#: float64 and float32: 8×64×56×56 3×3/2 p1 0.90, 0.85; 3×3/1 p1 0.81, 0.84; 8×64×55×55
#: 3×3/2 ceil 0.94, 0.88; 1×64×112×112 3×3/2 p1 0.82, 0.78; 4×128×28×28 3×3/1 0.74, 0.72;
#: 1×3×224×224 3×3/2 0.88, 0.84; 2×64×56×56 5×5/2 0.92, 0.84.  Big inputs keep 1 MiB
#: (32×64×112×112 3×3/2 p1: 1.23, 1.29 with 256 KiB).
PLANES_SMALL_INPUT_BYTES = 16 * 2**20
PLANES_SMALL_CHUNK_BYTES = 2**18

#: Window cells up to this many (beyond, the separable argmax over whole rows takes over).
PLANES_MAX_TAPS = 64

#: From this many cells in all the windows on: below, one gather of every window and one
#: argmax cost less than the planes' fixed ~0.1 ms (equal at about 10⁴–2·10⁴ cells, 3×3
#: windows at stride 1 and 2).
PLANES_MIN_WINDOW_CELLS = 1 << 14


@dataclass(frozen=True)
class _Planes:
    """The phase-plane layout of one pooling geometry (see the section's comment)."""

    size: IntPair
    stride: IntPair
    plane_hw: IntPair  # (Hq, Wq): rows and columns of each plane, per map
    # per plane (a, b), a·s_w + b: (input rows, input cols, plane rows, plane cols) of its
    # real cells; a plane without real cells is all padding
    copies: tuple[tuple[slice, slice, slice, slice] | None, ...]
    input_width: int
    code_dtype: type  # holds the offset i·W + j of any cell from its window's corner

    @property
    def row_length(self) -> int:
        """How far past a chunk's windows the row maxima are read (windows' lower rows)."""
        return (self.size[0] - 1) // self.stride[0] * self.plane_hw[1]

    @property
    def tail(self) -> int:
        """How far past a chunk's windows the planes are read."""
        return self.row_length + (self.size[1] - 1) // self.stride[1]


def _planes_pay(x: np.ndarray, geo: _Geometry) -> bool:
    """Overlapping windows on float32/float64 maps, unless small (see
    PLANES_MIN_WINDOW_CELLS)."""
    window_cells = geo.size[0] * geo.size[1]
    return (not geo.disjoint and window_cells <= PLANES_MAX_TAPS
            and x.dtype in (np.float32, np.float64)
            and x.shape[0] * x.shape[1] * geo.output_hw[0] * geo.output_hw[1] * window_cells
            >= PLANES_MIN_WINDOW_CELLS)


@functools.lru_cache(maxsize=64)
def _planes(input_hw: IntPair, size: IntPair, stride: IntPair, padding: IntPair,
            output_hw: IntPair) -> _Planes:
    (h, w), (kh, kw), (sh, sw), (ph, pw), (h_out, w_out) = (input_hw, size, stride, padding,
                                                              output_hw)
    # every window's taps, and every real cell (those no window sees too: they get 0)
    hq = max(h_out + (kh - 1) // sh, (ph + h - 1) // sh + 1)
    wq = max(w_out + (kw - 1) // sw, (pw + w - 1) // sw + 1)
    copies = []
    for a in range(sh):
        for b in range(sw):
            # the real rows r with r + p_h ≡ a (mod s_h) lie at plane rows (r + p_h) // s_h
            r0, c0 = (a - ph) % sh, (b - pw) % sw
            n_rows, n_cols = len(range(r0, h, sh)), len(range(c0, w, sw))
            q0, u0 = (r0 + ph) // sh, (c0 + pw) // sw
            copies.append((slice(r0, None, sh), slice(c0, None, sw), slice(q0, q0 + n_rows),
                           slice(u0, u0 + n_cols)) if n_rows and n_cols else None)
    last = (kh - 1) * w + kw - 1
    code_dtype = next(t for t in (np.int8, np.int16, np.int32, np.int64)
                      if last <= np.iinfo(t).max)
    return _Planes(size, stride, (hq, wq), tuple(copies), w, code_dtype)


class _PlanesScratch:
    """One thread's working arrays for chunks of up to ``maps`` maps."""

    def __init__(self, layout: _Planes, geo: _Geometry, maps: int, dtype: np.dtype):
        (hq, wq), (sh, sw), (ph, pw) = layout.plane_hw, layout.stride, geo.padding
        (h, w), (h_out, w_out) = geo.input_hw, geo.output_hw
        self.span = maps * hq * wq  # windows (real and junk) of a full chunk
        rows = self.span + layout.row_length
        self.planes = np.full((sh * sw, rows + layout.tail), -np.inf, dtype)  # padding −∞
        self.row_best = np.empty((sh, rows), dtype)
        self.row_code = np.empty((sh, rows), np.int8)
        self.best = np.empty(self.span, dtype)
        self.code = np.empty(self.span, layout.code_dtype)
        self.greater = np.empty(rows, bool)
        self.step = np.empty(rows, layout.code_dtype)
        self.target = np.empty((maps, h_out, w_out), np.intp)
        # each real window's corner (o_row·s_h − p_h, o_col·s_w − p_w) in the flat input
        # maps: outside the map when it lies in the padding, but never its winning cell
        corner = (np.arange(maps)[:, None, None] * (h * w)
                  + (np.arange(h_out)[:, None] * sh - ph) * w + np.arange(w_out) * sw - pw)
        self.corner = corner.astype(np.intp)


def _first_max_update(best: np.ndarray, code: np.ndarray, values: np.ndarray, codes,
                      greater: np.ndarray, step: np.ndarray, earlier=None,
                      earlier_codes=None) -> None:
    """best, code ← values, codes where values > best (the earlier of equal ones stays);
    with ``earlier``, from (earlier, earlier_codes) instead of (best, code), no copy first.

    ``codes`` (an array or a number) must exceed every earlier code: then the update is
    max(code, codes · greater), no masked write.  A NaN reaches ``best`` (np.maximum)."""
    if earlier is None:
        earlier, earlier_codes = best, code
    np.greater(values, earlier, out=greater)
    np.maximum(earlier, values, out=best)
    np.multiply(greater.view(np.int8), codes, out=step)  # (a bool operand would be cast)
    if isinstance(earlier_codes, int) and earlier_codes == 0:
        np.copyto(code, step)
    else:
        np.maximum(earlier_codes, step, out=code)


def _first_max_planes(layout: _Planes, scratch: _PlanesScratch, span: int) -> None:
    """scratch.best, scratch.code ← each window's maximum and its first cell reaching it
    (row-major), as the offset i·W + j from the window's corner in the input map."""
    (kh, kw), (sh, sw), (_, wq), w = (layout.size, layout.stride, layout.plane_hw,
                                      layout.input_width)
    rows = span + layout.row_length
    planes, greater = scratch.planes, scratch.greater[:rows]
    # along the columns: each row phase's window rows, their maximum and its first column
    step = scratch.step.view(np.int8)[:rows]
    for a in range(sh):
        best, code = scratch.row_best[a, :rows], scratch.row_code[a, :rows]
        if kw == 1:
            np.copyto(best, planes[a * sw, :rows])
            code.fill(0)
        for j in range(1, kw):
            start = j // sw
            values = planes[a * sw + j % sw, start:start + rows]
            if j == 1:
                _first_max_update(best, code, values, 1, greater, step,
                                  planes[a * sw, :rows], 0)
            else:
                _first_max_update(best, code, values, j, greater, step)
    # then down the window's rows: the first row reaching the largest row maximum
    best, code = scratch.best[:span], scratch.code[:span]
    greater, step = greater[:span], scratch.step[:span]
    if kh == 1:
        np.copyto(best, scratch.row_best[0, :span])
        np.copyto(code, scratch.row_code[0, :span])
    for i in range(1, kh):
        start = i // sh * wq
        column = scratch.row_code[i % sh, start:start + span]
        np.add(column, i * w, out=step, dtype=step.dtype)  # the cell's offset
        values = scratch.row_best[i % sh, start:start + span]
        if i == 1:
            _first_max_update(best, code, values, step, greater, step,
                              scratch.row_best[0, :span], scratch.row_code[0, :span])
        else:
            _first_max_update(best, code, values, step, greater, step)


def _max_backward_planes(x: np.ndarray, delta_out: np.ndarray, delta_in: np.ndarray,
                         geo: _Geometry, layout: _Planes, scratch: _PlanesScratch) -> None:
    """One chunk: x (B, H, W), delta_out (B, H', W') → delta_in (B, H, W): each window's
    delta added to its first maximum (row-major), every other cell 0."""
    b = x.shape[0]
    hq, wq = layout.plane_hw
    h_out, w_out = geo.output_hw
    span = b * hq * wq
    for plane, copy in enumerate(layout.copies):
        if copy is not None:
            rows, cols, plane_rows, plane_cols = copy
            scratch.planes[plane, :span].reshape(b, hq, wq)[:, plane_rows, plane_cols] = \
                x[:, rows, cols]
    _first_max_planes(layout, scratch, span)
    best, code = scratch.best[:span], scratch.code[:span]
    if not best.min() > -np.inf:  # a NaN or −∞ maximum somewhere (perhaps a junk window's)
        real_best = best.reshape(b, hq, wq)[:, :h_out, :w_out]
        if not real_best.min() > -np.inf:
            _fix_unusual_windows(real_best, code.reshape(b, hq, wq), x, geo)

    # each real window's delta to its winning cell, added in window order (as the plain
    # loops add them); the chunk's zeros written just before, while they stay in cache (a
    # zeroed result would stream them to memory and back)
    target = scratch.target[:b]
    np.add(scratch.corner[:b], code.reshape(b, hq, wq)[:, :h_out, :w_out], out=target)
    delta_in.fill(0)
    np.add.at(delta_in.reshape(-1), target.reshape(-1), delta_out.reshape(-1))


def _fix_unusual_windows(best: np.ndarray, code: np.ndarray, x: np.ndarray,
                         geo: _Geometry) -> None:
    """Windows whose maximum is NaN take their first NaN (as numpy's argmax), and windows
    of −∞ only their first real cell (never the padding): one gather over those windows."""
    maps, rows, cols = np.nonzero(~(best > -np.inf))
    index, _ = _window_index(geo.input_hw, geo.size, geo.stride, geo.padding, geo.output_hw)
    cells = index[rows * geo.output_hw[1] + cols]  # (windows, kh·kw), H·W for a padded cell
    h, w = geo.input_hw
    padded = cells == h * w
    values = x.reshape(x.shape[0], -1)[maps[:, None], np.where(padded, 0, cells)]
    nan = np.isnan(values)
    first = np.where(nan.any(axis=1), nan.argmax(axis=1), (~padded).argmax(axis=1))
    row, col = np.divmod(first, geo.size[1])
    code[maps, rows, cols] = row * w + col


#: Each thread keeps the scratch arrays of its last planes call (about 3× PLANES_CHUNK_BYTES):
#: a call of the same shape reuses them rather than allocating and filling them again (0.9 ms
#: of a 5–7 ms call on the bench's inputs).  Cells a chunk never writes stay as they were: the
#: padding −∞, the rest read by junk windows only.
_kept_scratch = threading.local()


def _scratch(layout: _Planes, geo: _Geometry, maps: int, dtype: np.dtype) -> _PlanesScratch:
    key = (geo.input_hw, geo.size, geo.stride, geo.padding, geo.output_hw, maps, dtype.str)
    if getattr(_kept_scratch, "key", None) != key:
        _kept_scratch.key = None  # (no stale pair if the allocation fails)
        _kept_scratch.scratch = _PlanesScratch(layout, geo, maps, dtype)
        _kept_scratch.key = key
    return _kept_scratch.scratch


def _max_backward_by_planes(x: np.ndarray, delta: np.ndarray, geo: _Geometry) -> np.ndarray:
    """:func:`maxpool2d_backward` with ties "first" where :func:`_planes_pay`: chunks of
    maps, each thread with its own scratch arrays, reused from chunk to chunk."""
    n, c, h, w = x.shape
    n_maps = n * c
    maps = x.reshape(n_maps, h, w)
    deltas = delta.reshape((n_maps,) + geo.output_hw)
    delta_in = empty_result((n_maps, h, w), x.dtype)  # zeroed chunk by chunk
    layout = _planes(geo.input_hw, geo.size, geo.stride, geo.padding, geo.output_hw)
    chunk_bytes = (PLANES_CHUNK_BYTES if x.nbytes >= PLANES_SMALL_INPUT_BYTES
                   else min(PLANES_CHUNK_BYTES, PLANES_SMALL_CHUNK_BYTES))
    per_chunk = max(1, chunk_bytes // (h * w * x.itemsize))

    def work(start: int, stop: int) -> None:
        # the same key for every chunk: each thread builds its scratch once
        scratch = _scratch(layout, geo, min(per_chunk, n_maps), x.dtype)
        _max_backward_planes(maps[start:stop], deltas[start:stop], delta_in[start:stop],
                             geo, layout, scratch)

    # from PARALLEL_MIN_BYTES on, on threads: two bought nothing measurable on 13–51 MB
    # inputs on a shared 2-core machine, and np.add.at holds the GIL (docs/performance.md)
    _for_each_chunk(work, n_maps, h * w * x.itemsize, exact=False, chunk_bytes=chunk_bytes)
    return delta_in.reshape(x.shape)


def _pairs_pay(x: np.ndarray, geo: _Geometry) -> bool:
    """2×2 windows at stride 2 inside the maps (the commonest pool): the pairs' path."""
    return (x.dtype.kind == "f" and x.dtype.itemsize in _BITS and geo.size == (2, 2)
            and geo.stride == (2, 2) and geo.inside and geo.disjoint)


def _max_backward_pairs(x: np.ndarray, delta_out: np.ndarray, delta_in: np.ndarray,
                        geo: _Geometry) -> bool:
    """PyTorch's rule (each window's delta to its first maximum, row-major) for 2×2 windows
    at stride 2 inside the maps, as pairs: the larger of each row's two cells (strictly: the
    left one on a tie), then the window row whose larger cell is strictly greater (else the
    top one), which is the row-major first maximum; each of the four cells of every window
    then gets its delta or 0 in one pass.  Six passes of which two read the maps, against
    fifteen over a tap each for the general path: 0.71 of its time on a 2 MiB chunk.

    delta_in must be zero where no window reaches (a last odd row or column).  False,
    delta_in untouched, when a NaN or −∞ is among the maxima: the general path decides."""
    h_out, w_out = delta_out.shape[1:]
    cells = x[:, :2 * h_out, :2 * w_out]
    left, right = cells[..., 0::2], cells[..., 1::2]
    right_first = np.greater(right, left)  # (B, 2H', W'): each window row's first maximum
    row_max = np.maximum(left, right)
    if not row_max.min() > -np.inf:  # NaN (or −∞): left to the general path's rule
        return False
    bottom_first = np.greater(row_max[:, 1::2], row_max[:, 0::2])  # (B, H', W')
    winners = []  # each window's winning cell, tap by tap in row-major order, as geo.taps
    for in_row, right_here in ((~bottom_first, right_first[:, 0::2]),
                               (bottom_first, right_first[:, 1::2])):
        winners += [in_row & ~right_here, in_row & right_here]
    for tap, won in zip(geo.taps, winners, strict=True):
        _scatter_where(delta_in, tap, delta_out[tap.target], won, disjoint=True)
    return True


def _max_backward_kernel(x: np.ndarray, delta_out: np.ndarray, delta_in: np.ndarray,
                         geo: _Geometry, ties: str) -> None:
    if ties == "first" and x.dtype != object and (_separable_argmax_pays(geo)
                                                   or _gather_pays(x, geo)
                                                   or _tap_argmax_pays(x, geo)):
        _max_backward_first(x, delta_out, delta_in, geo)
        return
    if ties == "first" and _pairs_pay(x, geo) and _max_backward_pairs(x, delta_out,
                                                                       delta_in, geo):
        return
    y = np.empty(delta_out.shape, x.dtype)
    _max_kernel(x, y, geo)
    hit = np.empty(y.shape, bool)
    if ties == "first":
        unclaimed = np.ones(y.shape, bool)
        last = len(geo.taps) - 1
        for t, tap in enumerate(geo.taps):
            won, free = hit[tap.target], unclaimed[tap.target]
            if t == last:
                # a window whose maximum no earlier tap reached has it here
                np.copyto(won, free)
            else:
                np.equal(x[tap.source], y[tap.target], out=won)
                np.logical_and(won, free, out=won)
                np.logical_xor(free, won, out=free)
            _scatter_where(delta_in, tap, delta_out[tap.target], won, geo.disjoint)
    elif ties == "all":
        for tap in geo.taps:
            won = hit[tap.target]
            np.equal(x[tap.source], y[tap.target], out=won)
            _scatter_where(delta_in, tap, delta_out[tap.target], won, geo.disjoint)
    elif ties == "split":
        count = np.zeros(y.shape, np.int64)
        for tap in geo.taps:
            count[tap.target] += x[tap.source] == y[tap.target]
        share = _share_of_ties(delta_out, count)
        for tap in geo.taps:
            won = hit[tap.target]
            np.equal(x[tap.source], y[tap.target], out=won)
            _scatter_where(delta_in, tap, share[tap.target], won, geo.disjoint)
    else:
        check_ties(ties)


def _tie_count_kernel(x: np.ndarray, count: np.ndarray, geo: _Geometry) -> None:
    """count[o] = how many real cells of window o reach its maximum."""
    y = np.empty(count.shape, x.dtype)
    _max_kernel(x, y, geo)
    count.fill(0)
    for tap in geo.taps:
        count[tap.target] += x[tap.source] == y[tap.target]


def maxpool2d_forward(x: np.ndarray, size, stride=None, padding=0, ceil_mode: bool = False) -> np.ndarray:
    """Max pooling: the largest value of each window.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
        float (float64, float32, float16, longdouble), integer or bool (computed in
        float64), or object holding :class:`fractions.Fraction` (exact).
    size : int or (int, int)
        Window size (kh, kw).
    stride : int or (int, int), optional
        Step between windows (sh, sw); default ``size``.
    padding : int or (int, int)
        Rows and columns of −∞ added on both sides, at most half the window.
    ceil_mode : bool
        Round the output size up (PyTorch's rule, see Notes).

    Returns
    -------
    y : ndarray (N, C, H', W')
        The dtype of ``x`` (any float, or object), float64 for integer or bool ``x``.

    Raises
    ------
    ValueError
        Bad shapes, sizes, strides or paddings, or a window larger than the padded input.

    Notes
    -----
    H' = floor((H + 2p − (k − 1) − 1) / s) + 1; with ``ceil_mode`` ceil instead of floor, and a
    last window that would start in the bottom (right) padding is dropped.  Same for W'.
    """
    x = _as_maps(x)
    geo = _geometry(x.shape[2:], size, stride, padding, ceil_mode)
    return _run(lambda xs, ys: _max_kernel(xs, ys, geo), geo, x, geo.output_hw, x.dtype)


def maxpool2d_backward(x: np.ndarray, delta: np.ndarray, size, stride=None, padding=0,
                       ceil_mode: bool = False, ties: str = "first") -> np.ndarray:
    """dE/dx of max pooling: each window's delta goes to the cell(s) holding its maximum.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
        The forward pass's input.
    delta : ndarray (N, C, H', W')
        dE/dy.
    size, stride, padding, ceil_mode
        As for :func:`maxpool2d_forward`.
    ties : {"first", "split", "all"}
        When several cells of a window hold its maximum (exactly equal values): ``"first"``
        gives the whole delta to the first of them in row-major order (PyTorch's rule),
        ``"split"`` shares it equally, ``"all"`` gives each of them the whole delta.

    Returns
    -------
    delta_in : ndarray (N, C, H, W)
        The dtype of ``x`` (delta is cast to it), float64 for integer or bool ``x``;
        overlapping windows (stride < size) add up.

    Notes
    -----
    Output size as in :func:`maxpool2d_forward`.
    """
    # chain rule: dE/dx_c = Σ_windows dE/dy_o · [c is the (chosen) argmax of window o]
    check_ties(ties)
    x = _as_maps(x)
    geo = _geometry(x.shape[2:], size, stride, padding, ceil_mode)
    delta = _as_delta(delta, x, geo)
    if ties == "first" and _planes_pay(x, geo):
        return _max_backward_by_planes(x, delta, geo)
    return _run(lambda xs, ds, dxs: _max_backward_kernel(xs, ds, dxs, geo, ties),
                geo, x, geo.input_hw, x.dtype, delta, zeros=True)


def maxpool2d_tied_windows(x: np.ndarray, size, stride=None, padding=0,
                           ceil_mode: bool = False) -> np.ndarray:
    """Windows whose maximum is reached by more than one cell: where the derivative has a kink.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    size, stride, padding, ceil_mode
        As for :func:`maxpool2d_forward`.

    Returns
    -------
    tied : ndarray (N, C, H', W') of bool
        True where at least two real cells of the window equal its maximum (a window
        whose maximum is NaN has no cell equal to it, so it is never tied).

    Notes
    -----
    Padded cells (−∞) never count.  Output size as in :func:`maxpool2d_forward`:
    H' = floor((H + 2p − (k − 1) − 1) / s) + 1 (ceil with ``ceil_mode``, a last window
    starting in the padding dropped), the same for W'.
    """
    x = _as_maps(x)
    geo = _geometry(x.shape[2:], size, stride, padding, ceil_mode)
    count = _run(lambda xs, cs: _tie_count_kernel(xs, cs, geo), geo, x, geo.output_hw, np.int64)
    return count > 1


def maxpool2d_argmax_mask(x: np.ndarray, size, stride=None, padding=0, ceil_mode: bool = False,
                          ties: str = "first") -> np.ndarray:
    """The weight each input cell receives, summed over windows, for a delta of ones.

    Shows which cell won each window (and how ties were shared).

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    size, stride, padding, ceil_mode, ties
        As for :func:`maxpool2d_backward`.

    Returns
    -------
    weights : ndarray (N, C, H, W)
        The dtype of ``x`` (any float, or object), float64 for integer or bool ``x``.

    Notes
    -----
    :func:`maxpool2d_backward` with a delta of ones of the output's shape (N, C, H', W'),
    H' = floor((H + 2p − (k − 1) − 1) / s) + 1 as in :func:`maxpool2d_forward`; the weights
    have the input's shape.
    """
    x = _as_maps(x)
    geo = _geometry(x.shape[2:], size, stride, padding, ceil_mode)
    ones = np.ones(x.shape[:2] + geo.output_hw, dtype=x.dtype)
    return maxpool2d_backward(x, ones, size, stride, padding, ceil_mode, ties)


# --------------------------------------------------------------------------------------
# average pooling


def _divisors(geo: _Geometry, count_include_pad: bool) -> np.ndarray:
    """(H', W') ints: PyTorch's divisor, the window clipped to the padded input (or to the real
    input without count_include_pad)."""
    count_include_pad = a_bool(count_include_pad, "count_include_pad")
    counts = []
    for n, k, s, p, n_out in zip(geo.input_hw, geo.size, geo.stride, geo.padding, geo.output_hw):
        start = np.arange(n_out) * s - p
        stop = np.minimum(start + k, n + p)
        if count_include_pad:
            counts.append(stop - start)
        else:
            counts.append(np.minimum(stop, n) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(np.int64)


def _divisors_as(divisors: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == object:
        return np.vectorize(Fraction, otypes=[object])(divisors)
    return divisors.astype(dtype)


def _avg_kernel(x: np.ndarray, y: np.ndarray, geo: _Geometry, divisors: np.ndarray) -> None:
    """y[o] = (sum of the window's real cells) / divisor[o]."""
    _pool(x, y, geo, np.add, _zero(x.dtype),
          separable=len(geo.rows.taps) > 1 and len(geo.cols.taps) > 1)
    np.divide(y, divisors, out=y)


def _avg_backward_kernel(delta_out: np.ndarray, delta_in: np.ndarray, geo: _Geometry,
                         divisors: np.ndarray) -> None:
    share = delta_out / divisors
    partial = zeros_like_dtype(delta_in.shape[:-1] + (geo.output_hw[1],), delta_in)
    _spread_along(partial, share, geo.rows)
    _spread_along(delta_in, partial, geo.cols)


def avgpool2d_divisors(input_hw: Sequence[int], size, stride=None, padding=0, ceil_mode: bool = False,
                       count_include_pad: bool = True) -> np.ndarray:
    """The number each window's sum is divided by.

    Parameters
    ----------
    input_hw : (int, int)
        (H, W).
    size, stride, padding, ceil_mode, count_include_pad
        As for :func:`avgpool2d_forward`.

    Returns
    -------
    divisors : ndarray (H', W') of int64
        With ``count_include_pad`` the window's cells inside the padded input (a ceil_mode
        window hanging over the padded edge counts only its part inside); without, its real
        cells.

    Raises
    ------
    ValueError
        Bad sizes, strides or paddings, or a ``count_include_pad`` that is not a bool.

    Notes
    -----
    Window (i, j) spans rows i·s − p … min(i·s − p + k, H + p) − 1; with
    ``count_include_pad`` its divisor is that span's rows times its columns, without it
    only the rows and columns in 0 … H − 1 (W − 1) count.  H' = floor((H + 2p − (k − 1) −
    1) / s) + 1 (ceil with ``ceil_mode``, a last window starting in the padding dropped),
    the same for W'.
    """
    geo = _geometry(input_hw, size, stride, padding, ceil_mode)
    return _divisors(geo, count_include_pad)


def avgpool2d_forward(x: np.ndarray, size, stride=None, padding=0, ceil_mode: bool = False,
                      count_include_pad: bool = True) -> np.ndarray:
    """Average pooling, exactly as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
        float (float64, float32, float16, longdouble), integer or bool (computed in
        float64), or object holding :class:`fractions.Fraction` (exact).
    size, stride, padding, ceil_mode
        As for :func:`maxpool2d_forward`; padded cells are zeros.
    count_include_pad : bool
        Divide by the window's cells inside the padded input (True) or by its real cells.

    Returns
    -------
    y : ndarray (N, C, H', W')
        The dtype of ``x`` (any float, or object), float64 for integer or bool ``x``.

    Notes
    -----
    H' = floor((H + 2p − (k − 1) − 1) / s) + 1; with ``ceil_mode`` ceil instead of floor, and a
    last window that would start in the bottom (right) padding is dropped.  Same for W'.
    The divisors are :func:`avgpool2d_divisors`.
    """
    x = _as_maps(x)
    geo = _geometry(x.shape[2:], size, stride, padding, ceil_mode)
    divisors = _divisors_as(_divisors(geo, count_include_pad), x.dtype)
    return _run(lambda xs, ys: _avg_kernel(xs, ys, geo, divisors), geo, x, geo.output_hw, x.dtype)


def avgpool2d_backward(x: np.ndarray, delta: np.ndarray, size, stride=None, padding=0,
                       ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray:
    """dE/dx of average pooling: each window's delta, divided by its divisor, to each real cell.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
        The forward pass's input (only its shape and dtype are used).
    delta : ndarray (N, C, H', W')
        dE/dy.
    size, stride, padding, ceil_mode, count_include_pad
        As for :func:`avgpool2d_forward`.

    Returns
    -------
    delta_in : ndarray (N, C, H, W)
        The dtype of ``x`` (delta is cast to it), float64 for integer or bool ``x``;
        overlapping windows add up, padded cells get nothing.

    Notes
    -----
    Output size as in :func:`avgpool2d_forward`.
    """
    # chain rule: dE/dx_c = Σ_{windows o ∋ c} dE/dy_o / divisor_o
    x = _as_maps(x)
    geo = _geometry(x.shape[2:], size, stride, padding, ceil_mode)
    delta = _as_delta(delta, x, geo)
    divisors = _divisors_as(_divisors(geo, count_include_pad), x.dtype)
    return _run(lambda _, deltas, delta_in: _avg_backward_kernel(deltas, delta_in, geo, divisors),
                geo, x, geo.input_hw, x.dtype, delta, zeros=True)


# --------------------------------------------------------------------------------------
# naive references: plain loops over every window, straight from the definitions


def _window_cells_naive(o_row: int, o_col: int, input_hw, size, stride, padding):
    """The window's real cells in row-major order, and the window's extent clipped to the
    padded input (for count_include_pad)."""
    top, left = o_row * stride[0] - padding[0], o_col * stride[1] - padding[1]
    bottom = min(top + size[0], input_hw[0] + padding[0])
    right = min(left + size[1], input_hw[1] + padding[1])
    cells = [(r, c) for r in range(top, bottom) for c in range(left, right)
             if 0 <= r < input_hw[0] and 0 <= c < input_hw[1]]
    return cells, (bottom - top) * (right - left)


def _naive_setup(x, size, stride, padding, ceil_mode):
    x = _as_maps(x)
    geo = _geometry(x.shape[2:], size, stride, padding, ceil_mode)
    return x, geo


def _naive_windows(x: np.ndarray, geo: _Geometry):
    n, c = x.shape[:2]
    for b in range(n):
        for ch in range(c):
            for o_row in range(geo.output_hw[0]):
                for o_col in range(geo.output_hw[1]):
                    cells, padded_count = _window_cells_naive(o_row, o_col, geo.input_hw, geo.size,
                                                              geo.stride, geo.padding)
                    yield (b, ch, o_row, o_col), [(b, ch, r, col) for r, col in cells], padded_count


def maxpool2d_forward_naive(x, size, stride=None, padding=0, ceil_mode=False) -> np.ndarray:
    """Plain-loop reference of :func:`maxpool2d_forward`."""
    x, geo = _naive_setup(x, size, stride, padding, ceil_mode)
    y = np.empty(x.shape[:2] + geo.output_hw, dtype=x.dtype)
    for out, cells, _ in _naive_windows(x, geo):
        y[out] = max(x[cell] for cell in cells)
    return y


def maxpool2d_backward_naive(x, delta, size, stride=None, padding=0, ceil_mode=False,
                             ties="first") -> np.ndarray:
    """Plain-loop reference of :func:`maxpool2d_backward`."""
    check_ties(ties)
    x, geo = _naive_setup(x, size, stride, padding, ceil_mode)
    delta = _as_delta(delta, x, geo)
    delta_in = zeros_like_dtype(x.shape, x)
    for out, cells, _ in _naive_windows(x, geo):
        top = max(x[cell] for cell in cells)
        winners = [cell for cell in cells if x[cell] == top]
        if ties == "first":
            delta_in[winners[0]] += delta[out]
        elif ties == "split":
            count = Fraction(len(winners)) if x.dtype == object else len(winners)
            for cell in winners:
                delta_in[cell] += delta[out] / count
        elif ties == "all":
            for cell in winners:
                delta_in[cell] += delta[out]
        else:
            check_ties(ties)
    return delta_in


def avgpool2d_forward_naive(x, size, stride=None, padding=0, ceil_mode=False,
                            count_include_pad=True) -> np.ndarray:
    """Plain-loop reference of :func:`avgpool2d_forward`."""
    x, geo = _naive_setup(x, size, stride, padding, ceil_mode)
    count_include_pad = a_bool(count_include_pad, "count_include_pad")
    y = np.empty(x.shape[:2] + geo.output_hw, dtype=x.dtype)
    for out, cells, padded_count in _naive_windows(x, geo):
        total = _zero(x.dtype)
        for cell in cells:
            total = total + x[cell]
        divisor = padded_count if count_include_pad else len(cells)
        y[out] = total / (Fraction(divisor) if x.dtype == object else divisor)
    return y


def avgpool2d_backward_naive(x, delta, size, stride=None, padding=0, ceil_mode=False,
                             count_include_pad=True) -> np.ndarray:
    """Plain-loop reference of :func:`avgpool2d_backward`."""
    x, geo = _naive_setup(x, size, stride, padding, ceil_mode)
    count_include_pad = a_bool(count_include_pad, "count_include_pad")
    delta = _as_delta(delta, x, geo)
    delta_in = zeros_like_dtype(x.shape, x)
    for out, cells, padded_count in _naive_windows(x, geo):
        divisor = padded_count if count_include_pad else len(cells)
        share = delta[out] / (Fraction(divisor) if x.dtype == object else divisor)
        for cell in cells:
            delta_in[cell] += share
    return delta_in


def maxpool2d_tied_windows_naive(x, size, stride=None, padding=0, ceil_mode=False) -> np.ndarray:
    """Plain-loop reference of :func:`maxpool2d_tied_windows`."""
    x, geo = _naive_setup(x, size, stride, padding, ceil_mode)
    tied = np.zeros(x.shape[:2] + geo.output_hw, dtype=bool)
    for out, cells, _ in _naive_windows(x, geo):
        values = [x[cell] for cell in cells]
        # np.max's rule: a NaN among the values is the maximum, equal to no cell
        top = np.nan if any(v != v for v in values) else max(values)
        tied[out] = sum(1 for v in values if v == top) > 1
    return tied


def avgpool2d_divisors_naive(input_hw, size, stride=None, padding=0, ceil_mode=False,
                             count_include_pad=True) -> np.ndarray:
    """Plain-loop reference of :func:`avgpool2d_divisors`."""
    geo = _geometry(input_hw, size, stride, padding, ceil_mode)
    count_include_pad = a_bool(count_include_pad, "count_include_pad")
    divisors = np.empty(geo.output_hw, dtype=np.int64)
    for o_row, o_col in np.ndindex(*geo.output_hw):
        cells, padded_count = _window_cells_naive(o_row, o_col, geo.input_hw, geo.size,
                                                  geo.stride, geo.padding)
        divisors[o_row, o_col] = padded_count if count_include_pad else len(cells)
    return divisors


__all__ = ["TIE_RULES", "maxpool2d_forward", "maxpool2d_backward", "maxpool2d_tied_windows",
           "maxpool2d_argmax_mask", "avgpool2d_forward", "avgpool2d_backward", "avgpool2d_divisors",
           "maxpool2d_forward_naive", "maxpool2d_backward_naive", "avgpool2d_forward_naive",
           "avgpool2d_backward_naive", "maxpool2d_tied_windows_naive", "avgpool2d_divisors_naive"]
