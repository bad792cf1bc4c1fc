"""2-D convolution (cross-correlation) and its backward pass, with the padding it needs.

The fast kernels work tile by tile: a tile is a few whole images, or a block of output rows
of one image when an image is big, sized so that its ``im2col`` columns (:data:`TILE_BYTES`)
stay in cache until the matrix product that reads them.  Forward: one product per tile (the
groups are a batch axis of ``np.matmul``).  Backward: dE/dw = delta · colsᵀ per tile; dE/dx
either as col2im(wᵀ · delta) or, for stride 1, as the correlation of the zero-padded delta
with the rotated kernel (no col2im pass).  A strided kernel whose taps share stride phases
(7×7 at stride 2: 49 taps over four phases) reads the padded input through those phases, each
copied once into a contiguous array, so that every tap copies runs of adjacent cells; col2im
adds onto such phases the same way.  The bias is added tile by tile.  Big problems split the
batch into one range of images per core (one image: its output rows), each on its own thread
with the BLAS single-threaded.  Working memory beyond the inputs and outputs is a few tiles
and padded chunks per thread, whatever the batch size.  At stride 1 with enough channels
there is no im2col: each kernel tap is one product straight from the padded maps, laid out
as flat rows of the padded width (forward, input delta and kernel gradient alike); where
such products are thin (few channels), a kernel row of taps is one product over copies of
the maps shifted by a column each.  Every
product is a BLAS ``np.matmul``, except in a depthwise convolution (one filter per channel),
where a tap is an elementwise multiply-add over whole maps and its kernel gradient a sum of
products (at stride 1 one batched BLAS dot per map and tap, ``np.einsum`` when strided).

The same code runs on ``dtype=object`` arrays of :class:`fractions.Fraction` (the ``--exact``
mode) and stays exact: it only indexes, adds, multiplies and calls ``np.matmul``, which
numpy also does for object arrays.

Each fast kernel has a plain-loop ``_naive`` twin written straight from the formula; the
tests hold one to the other.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cnngrad.layers._common import (
    PADDING_MODES,
    ROW_DOTS_BLAS_MIN_BYTES,
    FourSides,
    added_at,
    an_int,
    buffered_reduction,
    cache_key,
    check_real_objects,
    conv_output_size,
    empty_result,
    four_sides,
    is_exact,
    pair,
    row_dots,
    unbuffered_rows,
    zeros_like_dtype,
    zeros_result,
)
from cnngrad.layers._gemm import available as gemm_available, gemm
from cnngrad.layers._gemm import kind as gemm_kind, writes_fresh as gemm_writes_fresh
from cnngrad.layers._threads import cores, run_tasks


#: Size of one thread's im2col tile: whole images when they fit, else blocks of output rows.
#: Small enough for the columns to stay in cache between their copy and their matrix
#: product, and the working memory (a few tiles) to stay small whatever N.
TILE_BYTES = 4 * 2**20

#: The tiles of all threads together stay under this: with many threads each tile shrinks
#: (to :data:`MIN_TILE_BYTES` at least).  Two threads keep a whole tile each: measured
#: against half a tile each, forward + backward of one and of four 3×224×224 images → 64
#: 7×7/2 in float64, 0.87–0.94 of the time (21–31 alternating pairs, three runs); float32,
#: conv1d 8×64×3136 → 64 and conv_transpose2d 8×64×56×56 → 64 0.94–1.0.
ALL_TILES_BYTES = 16 * 2**20

#: A thread's tile never shrinks below this (smaller products lose more than the cache
#: wins); so that many threads' tiles still fit in a few dozen MiB, at most
#: :data:`MAX_THREADS` threads.
MIN_TILE_BYTES = 2**19

#: Kernels of at least this many taps (5×5 and up) take tiles MANY_TAPS_TILE_SCALE times as
#: big (and as many for all threads): im2col and col2im are a numpy call per tap and tile,
#: and with two threads each call's end waits for the interpreter lock the other thread
#: holds between its own, so fewer, longer calls win more than the cache loses.  Forward +
#: backward, 11 rounds with 0.25 s pauses, against 4 MiB tiles, float64 and float32: one
#: 3×224×224 image → 64 7×7/2 0.90, 1.03 (0.86, 0.94 in another run); four 0.88, 0.92;
#: 32×3×32×32 → 16 5×5 0.95, 0.92; 1×3×64×64 → 8 5×5 0.93, 1.00; 8×32×28×28 → 64 5×5/2
#: 0.91, 1.01.  Fewer taps keep 4 MiB: 8×64×56×56 → 128 3×3/2 took 1.06 and 1.19 of the
#: time with 8 MiB tiles.
MANY_TAPS = 25
MANY_TAPS_TILE_SCALE = 4
MAX_THREADS = 16

#: Calls with fewer multiply-adds than this run on one thread: starting threads costs more.
#: Measured, forward + backward on two cores against one thread: 0.65 at 1×16×64×64 → 32 3×3
#: (19 M), 0.70–0.75 at 9–15 M, one image or a batch, 0.89–1.09 around 7 M, 1.5 at 4.7 M.
PARALLEL_MIN_MACS = 8 * 10**6

#: One image that cannot be split by rows leaves its products to the BLAS's own threads from
#: this many multiply-adds on.
BLAS_THREADS_MIN_MACS = 2 * 10**7

#: Calls with at least this many multiply-adds (and fewer than :data:`PARALLEL_MIN_MACS`) run
#: on one thread with the BLAS single-threaded too: its threads win nothing on products this
#: small, and on a busy machine each product would wait for a descheduled BLAS thread (a
#: 1×16×64×64 → 32 3×3 call took ten times longer).  Below it the BLAS stays single-threaded
#: by itself.
SINGLE_BLAS_MIN_MACS = 10**6


# --------------------------------------------------------------------------------------
# padding


def _check_padding_mode(mode: str) -> None:
    if mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}; got {mode!r}")


def _check_sides(sides: FourSides, mode: str, input_hw: tuple[int, int]) -> None:
    """torch's limits: reflect pad < size (the edge is not repeated), circular pad ≤ size."""
    if any(p < 0 for p in sides):
        raise ValueError(f"padding must be ≥ 0 on every side, got {sides}")
    if mode == "zeros" or mode == "replicate":
        return
    elif mode == "reflect":
        for pad, size, axis in zip(sides, (input_hw[0],) * 2 + (input_hw[1],) * 2, "HHWW"):
            if pad >= size:
                raise ValueError(f"reflect padding {pad} must be smaller than the input size "
                                 f"{size} along {axis}")
    elif mode == "circular":
        for pad, size, axis in zip(sides, (input_hw[0],) * 2 + (input_hw[1],) * 2, "HHWW"):
            if pad > size:
                raise ValueError(f"circular padding {pad} must not exceed the input size "
                                 f"{size} along {axis}")
    else:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}; got {mode!r}")


def _source_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each padded position along one axis, the input position it copies.

    ``mode`` is one of reflect, replicate, circular (zeros copies nothing).
    """
    offset = np.arange(-before, size + after)
    if mode == "reflect":
        # mirror about the edge cells: -1 -> 1, size -> size - 2
        mirrored = np.where(offset >= size, 2 * (size - 1) - offset, offset)
        return np.where(offset < 0, -offset, mirrored)
    elif mode == "replicate":
        return np.clip(offset, 0, size - 1)
    elif mode == "circular":
        return offset % size
    else:
        raise ValueError(f"no source index for padding_mode {mode!r}; expected reflect, "
                         "replicate or circular")


def pad2d(x: np.ndarray, sides: int | Sequence[int], mode: str = "zeros") -> np.ndarray:
    """Pad the last two axes of ``x``.

    Parameters
    ----------
    x : ndarray (..., H, W)
    sides : int, (rows, cols) or (top, bottom, left, right)
    mode : {"zeros", "reflect", "replicate", "circular"}
        As ``torch.nn.functional.pad``: reflect mirrors without repeating the edge
        (pad < size), replicate repeats the edge, circular wraps around (pad ≤ size).

    Returns
    -------
    padded : ndarray (..., H + top + bottom, W + left + right), the dtype of ``x``
        For an object array (exact), the zeros are the int 0.

    Raises
    ------
    ValueError
        An unknown mode, a negative side, or a side too large for the mode.

    Notes
    -----
    padded[..., p, q] = x[..., r(p), c(q)], where r(p) is the input row padded row p copies
    (:func:`padded_source`): p − top inside, the mirror −(p − top) or 2(H − 1) − (p − top)
    for reflect, the nearest edge row for replicate, (p − top) mod H for circular; 0 for a
    zero-padded cell.  Output size H + top + bottom by W + left + right.
    """
    _check_padding_mode(mode)
    top, bottom, left, right = sides4 = four_sides(sides)
    height, width = x.shape[-2:]
    _check_sides(sides4, mode, (height, width))
    if mode == "zeros":
        padded = zeros_like_dtype(x.shape[:-2] + (height + top + bottom, width + left + right), x)
        padded[..., top:top + height, left:left + width] = x
        return padded
    rows = _source_index(height, top, bottom, mode)
    cols = _source_index(width, left, right, mode)
    padded = np.empty(x.shape[:-2] + (height + top + bottom, width + left + right), x.dtype)
    padded[..., top:top + height, left:left + width] = x
    # the side columns of the input's rows first, then whole padded rows (corners included)
    padded[..., top:top + height, :left] = x[..., cols[:left]]
    padded[..., top:top + height, left + width:] = x[..., cols[left + width:]]
    padded[..., :top, :] = padded[..., top + rows[:top], :]
    padded[..., top + height:, :] = padded[..., top + rows[top + height:], :]
    return padded


def _padded_delta_checked(delta_padded: np.ndarray, sides, mode: str, input_hw
                          ) -> FourSides:
    """The four sides, once the mode, the sides and ``delta_padded``'s last two axes
    (H + top + bottom, W + left + right) are checked (a ValueError otherwise)."""
    _check_padding_mode(mode)
    sides4 = four_sides(sides)
    top, bottom, left, right = sides4
    height, width = input_hw
    _check_sides(sides4, mode, (height, width))
    expected = (height + top + bottom, width + left + right)
    if tuple(delta_padded.shape[-2:]) != expected:
        raise ValueError(f"delta_padded must end in {expected} for input {input_hw} padded by "
                         f"{sides4}, got {delta_padded.shape}")
    return sides4


def pad2d_backward(delta_padded: np.ndarray, sides: int | Sequence[int], mode: str,
                   input_hw: tuple[int, int]) -> np.ndarray:
    """Gradient of :func:`pad2d`: a padded cell's delta flows back to the input cell it copies.

    Parameters
    ----------
    delta_padded : ndarray (..., H + top + bottom, W + left + right)
    sides : int, (rows, cols) or (top, bottom, left, right)
    mode : {"zeros", "reflect", "replicate", "circular"}
    input_hw : (H, W)

    Returns
    -------
    delta : ndarray (..., H, W)
        The dtype of ``delta_padded``.

    Raises
    ------
    ValueError
        An unknown mode, bad sides, or a ``delta_padded`` whose last two axes are not
        (H + top + bottom, W + left + right).

    Notes
    -----
    delta[..., r, c] = Σ delta_padded[..., p, q] over the padded cells (p, q) that copy input
    cell (r, c) (itself included): with zeros only itself, so the border's deltas are
    dropped.  Output size (H, W) = (H_padded − top − bottom, W_padded − left − right).
    """
    top, bottom, left, right = _padded_delta_checked(delta_padded, sides, mode, input_hw)
    height, width = input_hw
    if mode == "zeros":
        # zero cells copy nothing, so their delta goes nowhere
        return delta_padded[..., top:top + height, left:left + width].copy()
    rows = _source_index(height, top, bottom, mode)
    cols = _source_index(width, left, right, mode)
    border_rows = np.r_[0:top, top + height:height + top + bottom]
    border_cols = np.r_[0:left, left + width:width + left + right]
    # pad2d filled the padded rows last, from whole rows: send their deltas back first
    delta_rows = delta_padded[..., top:top + height, :].copy()
    np.add.at(delta_rows, (Ellipsis, rows[border_rows], slice(None)),
              delta_padded[..., border_rows, :])
    delta = delta_rows[..., left:left + width].copy()
    np.add.at(delta, (Ellipsis, cols[border_cols]), delta_rows[..., border_cols])
    return delta


# --------------------------------------------------------------------------------------
# geometry and argument checks


@dataclass(frozen=True)
class _Geometry:
    n: int
    c: int
    h: int
    w: int
    f: int
    kh: int
    kw: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    sides: FourSides
    groups: int
    mode: str
    h_out: int
    w_out: int

    @property
    def c_group(self) -> int:
        return self.c // self.groups

    @property
    def f_group(self) -> int:
        return self.f // self.groups

    @property
    def padded_hw(self) -> tuple[int, int]:
        top, bottom, left, right = self.sides
        return self.h + top + bottom, self.w + left + right

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return self.n, self.f, self.h_out, self.w_out


def _geometry(x_shape, w_shape, stride, padding, dilation, groups, padding_mode) -> _Geometry:
    """The checked sizes of one call; cached per shapes and options (small calls repeat)."""
    try:  # ints as ints, lists as tuples; a float or bool key is refused (see cache_key)
        key = tuple(cache_key(a) for a in (x_shape, w_shape, stride, padding, dilation, groups,
                                            padding_mode))
    except TypeError:  # an odd argument: the checks below say what is wrong with it
        return _geometry_uncached(x_shape, w_shape, stride, padding, dilation, groups,
                                  padding_mode)
    return _geometry_cached(*key)


def _geometry_uncached(x_shape, w_shape, stride, padding, dilation, groups,
                       padding_mode) -> _Geometry:
    _check_padding_mode(padding_mode)
    if len(x_shape) != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"w must be 4-D (F, C/groups, kh, kw), got shape {tuple(w_shape)}")
    n, c, h, w = x_shape
    f, c_group, kh, kw = w_shape
    groups = an_int(groups, "groups")
    stride_hw, dilation_hw = pair(stride, "stride"), pair(dilation, "dilation")
    sides = four_sides(padding)
    if groups < 1:
        raise ValueError(f"groups must be ≥ 1, got {groups}")
    if min(stride_hw) < 1 or min(dilation_hw) < 1:
        raise ValueError(f"stride and dilation must be ≥ 1, got stride {stride_hw}, "
                         f"dilation {dilation_hw}")
    if c % groups:
        raise ValueError(f"input channels C={c} are not divisible by groups={groups}")
    if f % groups:
        raise ValueError(f"filters F={f} are not divisible by groups={groups}")
    if c_group != c // groups:
        channels = "1 channel" if c_group == 1 else f"{c_group} channels"
        raise ValueError(f"w has {channels} per filter, expected C/groups = "
                         f"{c}/{groups} = {c // groups}")
    if min(n, c, h, w, f, kh, kw) < 1:
        raise ValueError(f"empty axis in x {tuple(x_shape)} or w {tuple(w_shape)}")
    _check_sides(sides, padding_mode, (h, w))
    h_out = conv_output_size(h, sides[0], sides[1], kh, stride_hw[0], dilation_hw[0])
    w_out = conv_output_size(w, sides[2], sides[3], kw, stride_hw[1], dilation_hw[1])
    if h_out < 1 or w_out < 1:
        raise ValueError(f"output size {h_out}×{w_out} < 1: the dilated kernel "
                         f"{dilation_hw[0] * (kh - 1) + 1}×{dilation_hw[1] * (kw - 1) + 1} does "
                         f"not fit the padded input {h + sides[0] + sides[1]}×"
                         f"{w + sides[2] + sides[3]}")
    return _Geometry(n, c, h, w, f, kh, kw, stride_hw, dilation_hw, sides, groups,
                     padding_mode, h_out, w_out)


_geometry_cached = functools.lru_cache(maxsize=256)(_geometry_uncached)


def common_dtype(**arrays: np.ndarray | None) -> np.dtype:
    """The common dtype of the arrays, given by name (``x=x, w=w, b=b``); object stays
    object, integers and bools compute in float64.  An array of complex numbers, strings,
    dates or times, or an object array holding anything but real numbers, is a ValueError
    naming it (not computed as complex, nor cast)."""
    given = {name: a for name, a in arrays.items() if a is not None}
    try:
        dtype = np.result_type(*given.values())
    except TypeError:  # numpy's DTypePromotionError: a datetime beside a float, say
        dtype = None
    if dtype is not None and dtype.kind == "f":
        return dtype  # floats, integers and bools only: the common case, checked at once
    for name, a in given.items():
        # each array on its own, to name the one at fault (np.result_type has no common
        # type for a datetime and a float: numpy's DTypePromotionError)
        if a.dtype != object and a.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers (float, integer or object dtype), "
                             f"got dtype {a.dtype}")
        check_real_objects(a, name)
    dtype = np.result_type(*given.values())
    return np.dtype(np.float64) if dtype.kind in "biu" else dtype


def _check_bias(b: np.ndarray, geo: _Geometry) -> None:
    if b.shape not in ((geo.f,), (geo.f, geo.h_out, geo.w_out)):
        raise ValueError(f"b must have shape ({geo.f},) (one per filter) or "
                         f"({geo.f}, {geo.h_out}, {geo.w_out}) (untied), got {b.shape}")


# --------------------------------------------------------------------------------------
# fast kernels


@dataclass(frozen=True)
class _Tiling:
    """Images per chunk (padded together) and output rows per im2col tile."""

    images: int
    rows: int

    def chunks(self, start: int, stop: int):
        for first in range(start, stop, self.images):
            yield first, min(first + self.images, stop)

    def row_blocks(self, first: int, stop: int):
        for start in range(first, stop, self.rows):
            yield start, min(start + self.rows, stop)


def _tiling(tile_bytes: int, n: int, rows: int, row_items: int, itemsize: int,
            image_items: int = 0) -> _Tiling:
    """Tiles whose columns (``row_items`` elements per output row and image) fit
    ``tile_bytes``: whole images when they fit, else blocks of rows of one image.
    ``image_items``: elements of any other per-image temporary the tile must also fit."""
    row_bytes = row_items * itemsize
    images = max(1, min(n, tile_bytes // (rows * row_bytes + image_items * itemsize)))
    return _Tiling(images, max(1, min(rows, tile_bytes // (images * row_bytes))))


def _view(buffer: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A contiguous array of ``shape`` in the front of a flat buffer (so reshapes are views)."""
    return buffer[:int(np.prod(shape))].reshape(shape)


#: A strided kernel reads its input through the stride phases (:class:`_Phases`) when at
#: least this many of its taps share a phase on average: each phase is then copied once and
#: read several times with unit stride.  A 7×7 kernel at stride 2 (12.25 taps a phase) gains
#: about a third of its copying time; a 3×3 one (2.25) loses a little to the extra pass.
PHASE_MIN_TAPS = 4


def _taps_per_phase(geo: _Geometry) -> float:
    """The taps that read each stride phase the kernel reads, on average."""
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    # taps with m·dh ≡ p (mod sh) share row phase p, and the same along the columns
    row_taps = geo.kh / len({m * dh % sh for m in range(geo.kh)})
    col_taps = geo.kw / len({n * dw % sw for n in range(geo.kw)})
    return row_taps * col_taps


def _phased(geo: _Geometry) -> bool:
    """Whether the strided taps of ``geo`` go through :class:`_Phases`."""
    return geo.stride != (1, 1) and _taps_per_phase(geo) >= PHASE_MIN_TAPS


class _Phases:
    """Rows ``first:stop`` of a padded chunk (B, C, rows, cols), split by stride phase: part
    (p, q) holds the rows first + p, first + p + sh, … and the columns q, q + sw, … as one
    contiguous array, made when a tap first reads it.  A tap of a strided kernel reads every
    sh-th row and sw-th column, which is one window of one part: a copy of adjacent cells
    instead of every other cell.

    Also the adjoint's accumulator: :meth:`zeros` parts that :func:`_col2im` adds into and
    :meth:`add_to` adds back onto the chunk's cells.
    """

    def __init__(self, make: Callable[[int, int], np.ndarray], stride: tuple[int, int],
                 first: int, images: int):
        self._make, self._parts = make, {}
        self.stride, self.first, self.images = stride, first, images

    @classmethod
    def split(cls, padded: np.ndarray, stride: tuple[int, int], first: int = 0,
              stop: int | None = None) -> _Phases:
        sh, sw = stride
        rows = padded[..., first:stop, :]
        return cls(lambda p, q: np.ascontiguousarray(rows[..., p::sh, q::sw]), stride, first,
                   padded.shape[0])

    @classmethod
    def zeros(cls, shape: tuple[int, ...], stride: tuple[int, int], like: np.ndarray,
              first: int = 0, stop: int | None = None) -> _Phases:
        """Zero parts for rows ``first:stop`` of a chunk of ``shape``, ``like``'s dtype."""
        sh, sw = stride
        rows, cols = len(range(shape[-2])[first:stop]), shape[-1]
        return cls(lambda p, q: zeros_like_dtype(shape[:-2] + (len(range(p, rows, sh)),
                                                               len(range(q, cols, sw))), like),
                   stride, first, shape[0])

    def window(self, top: int, left: int, rows: int, columns: int) -> np.ndarray:
        """The view of chunk[..., top::sh, left::sw] with ``rows`` rows and ``columns``
        columns (``top`` in the chunk's rows)."""
        (sh, sw), top = self.stride, top - self.first
        phase = (top % sh, left % sw)
        if phase not in self._parts:
            self._parts[phase] = self._make(*phase)
        row, col = top // sh, left // sw
        return self._parts[phase][..., row:row + rows, col:col + columns]

    def add_to(self, target: np.ndarray) -> None:
        """target[..., first + p::sh, q::sw] += part (p, q), for every part made."""
        sh, sw = self.stride
        for (p, q), part in self._parts.items():
            target[..., self.first + p::sh, q::sw][..., :part.shape[-2], :] += part

    def crop_into(self, target: np.ndarray, top: int, left: int) -> None:
        """target[..., r, c] = the chunk's cell (r + top, c + left), for every cell of a part
        made: the accumulator's cells without the padding (``top``, ``left``) cut off, written
        straight into ``target`` (which holds zeros where no part reaches)."""
        (sh, sw), (rows, cols) = self.stride, target.shape[-2:]
        for (p, q), part in self._parts.items():
            # the part's k-th row is the chunk's row first + p + k·sh, target row that − top
            row_span = _crop_span(self.first + p - top, sh, part.shape[-2], rows)
            col_span = _crop_span(q - left, sw, part.shape[-1], cols)
            if row_span is None or col_span is None:
                continue
            (k0, k1, r0), (l0, l1, c0) = row_span, col_span
            target[..., _span(r0, k1 - k0, sh), _span(c0, l1 - l0, sw)] = part[..., k0:k1,
                                                                                 l0:l1]


def _crop_span(start: int, step: int, count: int, size: int) -> tuple[int, int, int] | None:
    """Of positions start + k·step (k < count), those in 0..size−1: (first k, stop k, first
    position), or None when there are none."""
    first = max(0, -(start // step))  # the least k with start + k·step ≥ 0
    stop = min(count, -((start - size) // step))  # the least k with start + k·step ≥ size
    return (first, stop, start + first * step) if first < stop else None


def _im2col(source: np.ndarray | _Phases, stride: tuple[int, int],
            dilation: tuple[int, int], corner: tuple[int, int], cols: np.ndarray) -> None:
    """cols[b, c, m, n, i, j] = source[b, c, r0 + i·s + m·d, c0 + j·s + n·d], one copy per tap.

    ``cols`` has shape (B, C, kh, kw, rows, columns); (r0, c0) is ``corner``.  ``source``
    may be given as its :class:`_Phases` (strided kernels).
    """
    rows, columns = cols.shape[-2:]
    for m, n, top, left in _tap_corners(cols.shape, dilation, corner):
        if isinstance(source, _Phases):
            cols[:, :, m, n] = source.window(top, left, rows, columns)
        else:
            cols[:, :, m, n] = source[:, :, _span(top, rows, stride[0]),
                                      _span(left, columns, stride[1])]


def _col2im(cols: np.ndarray, stride: tuple[int, int], dilation: tuple[int, int],
            corner: tuple[int, int], target: np.ndarray | _Phases) -> None:
    """The adjoint of :func:`_im2col`: add each tap's column deltas onto the cells it read
    (``target`` may be the zero :class:`_Phases` of the cells, added back later)."""
    rows, columns = cols.shape[-2:]
    for m, n, top, left in _tap_corners(cols.shape, dilation, corner):
        if isinstance(target, _Phases):
            target.window(top, left, rows, columns)[...] += cols[:, :, m, n]
        else:
            target[:, :, _span(top, rows, stride[0]),
                   _span(left, columns, stride[1])] += cols[:, :, m, n]


def _span(first: int, count: int, step: int) -> slice:
    return slice(first, first + step * (count - 1) + 1, step)


def _tap_corners(cols_shape, dilation, corner):
    """For each kernel tap (m, n), the first source row and column its column block reads."""
    kh, kw = cols_shape[-4:-2]
    for m in range(kh):
        for n in range(kw):
            yield m, n, corner[0] + m * dilation[0], corner[1] + n * dilation[1]


def _source(x_padded: np.ndarray, geo: _Geometry, row_start: int,
            row_stop: int) -> np.ndarray | _Phases:
    """What :func:`_columns` reads for output rows ``row_start:row_stop``: the padded chunk,
    or the stride phases of the rows those outputs read."""
    if not _phased(geo):
        return x_padded
    sh, dh = geo.stride[0], geo.dilation[0]
    first = row_start * sh
    return _Phases.split(x_padded, geo.stride, first, (row_stop - 1) * sh + dh * (geo.kh - 1) + 1)


def _columns(source: np.ndarray | _Phases, geo: _Geometry, row: int, row_end: int,
             buffer: np.ndarray) -> np.ndarray:
    """The im2col matrices (B, G, C/G·kh·kw, cells) of output rows ``row:row_end``, for
    all images of the padded chunk (``source``, from :func:`_source`); a 1×1 kernel at
    stride 1 reads the padded chunk as it is."""
    if (geo.kh, geo.kw, geo.stride) == (1, 1, (1, 1)):
        return source[:, :, row:row_end].reshape(source.shape[0], geo.groups, geo.c_group, -1)
    size = source.images if isinstance(source, _Phases) else source.shape[0]
    cols = _view(buffer, (size, geo.c, geo.kh, geo.kw, row_end - row, geo.w_out))
    _im2col(source, geo.stride, geo.dilation, (row * geo.stride[0], 0), cols)
    return cols.reshape(size, geo.groups, geo.c_group * geo.kh * geo.kw, -1)


# One level of threads, as torch's loop over the batch: the images are split into one range
# per core (a single image: its output rows), each range runs the serial tile loop with the
# BLAS single-threaded (im2col and col2im run in parallel too: numpy releases the GIL in copies
# and ufuncs).  Against the BLAS's own threads inside every small product this is faster, and
# far steadier on a busy machine, where each product would wait for a descheduled BLAS
# thread.  The BLAS thread count is process-wide: while such a call runs, BLAS calls from
# other threads of the process run single-threaded too; threadpoolctl restores it when the
# call returns.

# one call at a time changes the BLAS thread count (and restores it)
_BLAS_LOCK = threading.Lock()


@functools.cache
def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries loaded, or None when it finds none."""
    try:
        # here: only the first big convolution pays for the import and the library scan
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; without it the BLAS keeps its threads
        return None
    controller = ThreadpoolController().select(user_api="blas")
    return controller if controller.lib_controllers else None


def _cores() -> int:
    return cores()


#: work(start, stop, tile_bytes, row_start, row_stop): images start..stop, output rows
#: row_start..row_stop of each
Work = Callable[[int, int, int, int, int], object]


def over_images(geo: _Geometry, work: Work | tuple[Work, ...], exact: bool,
                split_rows: bool = False, parallel_min_macs: float | None = None,
                all_tiles_bytes: int = ALL_TILES_BYTES, by_work: bool = False) -> list:
    """``work`` over images 0..N and all output rows, on one thread per core when the problem
    is big enough and the BLAS's threads can be set; the results in task order.

    With at least two images each thread takes a range of images; with one, a range of its
    output rows when ``split_rows`` (``work`` then takes the rows too), else one thread runs
    it (with the BLAS's own threads from :data:`BLAS_THREADS_MIN_MACS` on).  ``work`` must
    write disjoint parts of its outputs.  Object arrays stay on
    one thread (the GIL serialises Python's arithmetic anyway).

    ``work`` may be a tuple of works over the same images and rows (the backward pass's input
    delta and kernel gradient, as many multiply-adds each): each result is then a tuple with
    an entry per work, None where the task did not run it.  A range of images runs every work;
    one image is shared out by work first, then by rows (with more threads than works).
    ``by_work`` shares out a batch by work too, each work whole on its thread.  Each thread's
    ``tile_bytes`` is :data:`TILE_BYTES`, less when the threads' tiles together would pass
    ``all_tiles_bytes``; both :data:`MANY_TAPS_TILE_SCALE` times as big for a kernel of
    :data:`MANY_TAPS` taps or more.
    """
    works = work if isinstance(work, tuple) else (work,)
    if not split_rows:
        works = tuple(_whole_rows(one) for one in works)

    def every_work(start, stop, tile_bytes, row_start, row_stop):
        return tuple(one(start, stop, tile_bytes, row_start, row_stop) for one in works)

    def one_work(k, start, stop, tile_bytes, row_start, row_stop):
        return tuple(works[k](start, stop, tile_bytes, row_start, row_stop) if j == k else None
                     for j in range(len(works)))

    def results(parts: list) -> list:
        return parts if isinstance(work, tuple) else [part[0] for part in parts]

    macs = geo.n * geo.f * geo.c_group * geo.kh * geo.kw * geo.h_out * geo.w_out
    scale = MANY_TAPS_TILE_SCALE if geo.kh * geo.kw >= MANY_TAPS else 1
    tile_bytes, all_tiles_bytes = TILE_BYTES * scale, all_tiles_bytes * scale
    controller = None if exact or macs < SINGLE_BLAS_MIN_MACS else _blas_controller()
    if controller is not None and geo.n < 2 and not split_rows and macs >= BLAS_THREADS_MIN_MACS:
        controller = None  # one image that cannot be split: the BLAS's own threads
    if controller is None:
        return results([every_work(0, geo.n, tile_bytes, 0, geo.h_out)])
    with _BLAS_LOCK:
        blas_threads = max(lib.num_threads for lib in controller.lib_controllers)
        # never more threads than the BLAS had: a user who set 1 wants one
        parallel_min = PARALLEL_MIN_MACS if parallel_min_macs is None else parallel_min_macs
        workers = 1 if macs < parallel_min else min(_cores(), blas_threads, MAX_THREADS)
        if geo.n >= 2 and not by_work:
            workers = min(workers, geo.n)
            bounds = [geo.n * k // workers for k in range(workers + 1)]
            tasks = [(every_work, (first, last), (0, geo.h_out))
                     for first, last in zip(bounds, bounds[1:])]
        else:
            # a work per thread (its padding and reads once, no input delta in partial sums:
            # forward + backward 0.93–0.98 of the time of both works on half of the rows
            # each, measured on 1×64×56×56 and 1×3×224×224 with two threads), then the rows
            # of each (a work that cannot take a share of the rows runs whole, once)
            per_work = min(max(1, workers // len(works)), geo.h_out) if split_rows else 1
            bounds = [geo.h_out * k // per_work for k in range(per_work + 1)]
            tasks = [(functools.partial(one_work, k), (0, geo.n), rows)
                     for k in range(len(works)) for rows in zip(bounds, bounds[1:])]
            workers = min(workers, len(tasks))
        if workers < 2:
            with controller.limit(limits=1):
                return results([every_work(0, geo.n, tile_bytes, 0, geo.h_out)])
        tile_bytes = max(min(tile_bytes, all_tiles_bytes // workers),
                         min(tile_bytes, MIN_TILE_BYTES))
        with controller.limit(limits=1):
            return results(run_tasks([functools.partial(run, *images, tile_bytes, *rows)
                                      for run, images, rows in tasks]))


def _whole_rows(work: Callable[[int, int, int], object]) -> Work:
    """A work over images only, taking (and ignoring) the rows as :data:`Work` does."""
    def every_row(start, stop, tile_bytes, _row_start, _row_stop):
        return work(start, stop, tile_bytes)
    return every_row


# --------------------------------------------------------------------------------------
# small calls: one gather, one product, one bincount

#: A call whose im2col columns have at most this many cells in all (a homework problem, a
#: gradcheck step) gathers them through an index cached per geometry: a handful of numpy calls
#: instead of the tiling and a copy per tap.
SMALL_MAX_CELLS = 1 << 15


def _small(geo: _Geometry, dtype: np.dtype) -> bool:
    return (dtype != object and
            geo.n * geo.c * geo.kh * geo.kw * geo.h_out * geo.w_out <= SMALL_MAX_CELLS)


@functools.lru_cache(maxsize=64)
def _gather_index(geo: _Geometry) -> np.ndarray:
    """(G, C/G·kh·kw, H'·W'): for each im2col cell, its flat position in one image x (C, H, W),
    or C·H·W (a zero placed after the image) for a zero-padded cell."""
    top, bottom, left, right = geo.sides
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    rows = (np.arange(geo.kh) * dh)[:, None] + np.arange(geo.h_out) * sh  # (kh, H'), padded
    cols = (np.arange(geo.kw) * dw)[:, None] + np.arange(geo.w_out) * sw  # (kw, W')
    if geo.mode == "zeros":
        rows, cols = rows - top, cols - left
        rows = np.where((rows >= 0) & (rows < geo.h), rows, -1)
        cols = np.where((cols >= 0) & (cols < geo.w), cols, -1)
    else:
        rows = _source_index(geo.h, top, bottom, geo.mode)[rows]
        cols = _source_index(geo.w, left, right, geo.mode)[cols]
    # (C, kh, kw, H', W')
    r = rows[None, :, None, :, None]
    q = cols[None, None, :, None, :]
    channel = np.arange(geo.c)[:, None, None, None, None]
    flat = (channel * geo.h + r) * geo.w + q
    flat = np.where((r < 0) | (q < 0), geo.c * geo.h * geo.w, flat)
    index = flat.reshape(geo.groups, geo.c_group * geo.kh * geo.kw, geo.h_out * geo.w_out)
    index.setflags(write=False)
    return index


def _small_columns(x: np.ndarray, geo: _Geometry) -> np.ndarray:
    """(N, G, C/G·kh·kw, H'·W') im2col columns of x by one gather."""
    size = geo.c * geo.h * geo.w
    cells = np.empty((geo.n, size + 1), x.dtype)
    cells[:, :size] = x.reshape(geo.n, size)
    cells[:, size] = 0
    return cells[:, _gather_index(geo)]


def _small_forward(x, w, geo: _Geometry) -> np.ndarray:
    y = np.matmul(w.reshape(geo.groups, geo.f_group, -1), _small_columns(x, geo))
    return y.reshape(geo.out_shape)


def _small_backward(x, w, delta, geo: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    cells = geo.h_out * geo.w_out
    delta_mat = delta.reshape(geo.n, geo.groups, geo.f_group, cells)
    # y = w·cols: dE/dw = Σ_images delta·colsᵀ, dE/dcols = wᵀ·delta, added back by position
    dw = np.matmul(delta_mat, _small_columns(x, geo).swapaxes(-1, -2)).sum(axis=0)
    dcols = np.matmul(w.reshape(geo.groups, geo.f_group, -1).swapaxes(-1, -2), delta_mat)
    size = geo.c * geo.h * geo.w + 1
    index = _gather_index(geo) + (np.arange(geo.n) * size)[:, None, None, None]
    dx = added_at(index.ravel(), dcols.ravel(), geo.n * size)
    dx = dx.reshape(geo.n, size)[:, :-1].reshape(x.shape).astype(delta.dtype, copy=False)
    return dx, dw


# --------------------------------------------------------------------------------------
# depthwise: each filter reads one channel, so a tap is an elementwise multiply-add

#: Elementwise passes do far less per multiply-add than a product: threads pay off sooner
#: (the tap views of a strided call with one tap a phase, over images; in the flat layout
#: the backward pass's two gradients, a thread each, while the forward pass runs on one, see
#: :data:`DEPTHWISE_COLUMNS_BYTES`).
DEPTHWISE_PARALLEL_MIN_MACS = 2 * 10**6

#: The padded maps one flat depthwise block of the forward pass and of the input delta
#: works on (a block is several whole images, or a run of one image's channels) ...
DEPTHWISE_BLOCK_BYTES = 2**20

#: ... and the columns of the maps it hands the BLAS at a time: each map's k² shifted copies
#: (k²·L values), for one product (1 × k²) by (k² × L) per map.  The forward pass of
#: 8×64×56×56 on one thread (AMD EPYC, AVX-512, 1 MiB of L2 a core): 1 MiB of maps and
#: 1 MiB of columns took 0.65 (float32) and 0.76 (float64) of the time of the multiply and
#: add per tap over 256 KiB blocks it replaces; 0.5–2 MiB of either, within 0.03 of that.
#: Two threads over the images took longer (float32 1.1 times, float64 1.0–1.3 times the
#: one thread's): the forward pass stays on one (docs/performance.md, "Depthwise").
DEPTHWISE_COLUMNS_BYTES = 2**20


def _depthwise(geo: _Geometry, dtype: np.dtype) -> bool:
    """One filter per channel (groups = C = F): no product of many rows to hand the BLAS
    (im2col's would be one row per map): a product (1 × k²) by (k² × L) per map of its tap
    columns (stride 1, and other strides through their phases, :func:`_depthwise_flat`),
    otherwise a multiply-add per tap over whole maps."""
    return dtype != object and geo.groups > 1 and geo.c_group == 1 and geo.f_group == 1


def _depthwise_taps(geo: _Geometry):
    """For each tap (m, n), the slices of the padded input it reads for every output."""
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    for m in range(geo.kh):
        for n in range(geo.kw):
            top, left = m * dh, n * dw
            yield m, n, (Ellipsis, slice(top, top + sh * (geo.h_out - 1) + 1, sh),
                         slice(left, left + sw * (geo.w_out - 1) + 1, sw))


def _depthwise_chunks(x: np.ndarray, geo: _Geometry, start: int, stop: int):
    """(first, last, padded chunk) for images start..stop, in chunks small enough for the
    padded chunk and its scratch to stay in cache."""
    padded = geo.c * geo.padded_hw[0] * geo.padded_hw[1] * x.itemsize
    step = max(1, TILE_BYTES // max(padded, 1))
    for first in range(start, stop, step):
        last = min(first + step, stop)
        yield first, last, _pad_chunk(x[first:last], geo)


#: A strided depthwise call takes the flat phases (below) from this many taps a phase on:
#: forward + backward, 8×64×56×56 and 8×32×112×112, float64 and float32, 0.43–0.82 of the
#: time of the multiply-add per strided tap at 2.25 taps a phase (3×3 at stride 2) or more;
#: 1.05–1.21 at 3×3 stride 3 and 1.7–2.3 at 1×1 stride 2 (one tap a phase, the unread
#: phases copied too) (docs/performance.md, "Depthwise").
DEPTHWISE_PHASE_MIN_TAPS = 2


def _depthwise_flat(geo: _Geometry) -> bool:
    """Whether a depthwise call takes the flat layout: stride 1, or enough taps a phase and
    a stride no longer than the padded map (the sh·sw phases of Hq × Wq each then hold under
    four times the map, where a stride of 1000 on a map of 2 rows would make 500 times)."""
    (sh, sw), (hp, wp) = geo.stride, geo.padded_hw
    return geo.stride == (1, 1) or (_taps_per_phase(geo) >= DEPTHWISE_PHASE_MIN_TAPS
                                    and sh <= hp and sw <= wp)


def _depthwise_forward(x: np.ndarray, w: np.ndarray, geo: _Geometry, y: np.ndarray) -> None:
    if _depthwise_flat(geo):
        # one thread (never parallel: see DEPTHWISE_COLUMNS_BYTES), the BLAS held to one
        # where over_images holds it (not for one big image: measured the same either way)
        over_images(geo, functools.partial(_flat_forward, x, w, geo, y), exact=False,
                    parallel_min_macs=float("inf"))
        return
    weights = w.reshape(geo.f, geo.kh, geo.kw)

    def forward_images(start: int, stop: int, tile_bytes: int) -> None:
        for first, last, x_padded in _depthwise_chunks(x, geo, start, stop):
            out = y[first:last]
            scratch = np.empty_like(out)
            out.fill(0)
            for m, n, cells in _depthwise_taps(geo):
                np.multiply(x_padded[cells], weights[:, m, n, None, None], out=scratch)
                out += scratch

    over_images(geo, forward_images, exact=False, parallel_min_macs=DEPTHWISE_PARALLEL_MIN_MACS)


def _depthwise_backward(x: np.ndarray, w: np.ndarray, delta: np.ndarray, geo: _Geometry,
                        dx: np.ndarray) -> np.ndarray:
    if _depthwise_flat(geo):
        # the input delta's short calls on one thread, the kernel gradient's long ones on the
        # other (or both on one thread for small calls)
        input_grad = _flat_input_grad if geo.stride == (1, 1) else _phased_input_grad
        parts = over_images(geo, (functools.partial(input_grad, w, delta, geo, dx),
                                  functools.partial(_flat_kernel_grad, x, delta, geo)),
                            exact=False, parallel_min_macs=DEPTHWISE_PARALLEL_MIN_MACS,
                            by_work=True)
        return _sum_parts(dw for _, dw in parts)
    weights = w.reshape(geo.f, geo.kh, geo.kw)
    padded = geo.sides != (0, 0, 0, 0)

    def backward_images(start: int, stop: int, tile_bytes: int) -> np.ndarray:
        dw = np.zeros((geo.f, geo.kh, geo.kw), delta.dtype)
        for first, last, x_padded in _depthwise_chunks(x, geo, start, stop):
            delta_chunk = delta[first:last]
            scratch = np.empty_like(delta_chunk)
            delta_padded = (np.zeros((last - first, geo.c) + geo.padded_hw, delta.dtype)
                            if padded else dx[first:last])
            for m, n, cells in _depthwise_taps(geo):
                # y = Σ_taps w·x: dE/dw_tap = Σ delta·x, dE/dx += w_tap·delta
                dw[:, m, n] += np.einsum("bfij,bfij->f", x_padded[cells], delta_chunk)
                np.multiply(delta_chunk, weights[:, m, n, None, None], out=scratch)
                delta_padded[cells] += scratch
            if padded:
                dx[first:last] = pad2d_backward(delta_padded, geo.sides, geo.mode,
                                                (geo.h, geo.w))
        return dw

    parts = over_images(geo, backward_images, exact=False,
                        parallel_min_macs=DEPTHWISE_PARALLEL_MIN_MACS)
    return _sum_parts(parts)


# Stride 1, any dilation: laid out as rows of the padded width Wp, the padded map is one flat
# vector and tap (m, n) reads it shifted by m·d·Wp + n·d, so every tap is one contiguous
# slice of every map (the strided 2-D views above cost numpy a short inner loop per row).
# Outputs are computed over the padded width too; the last k − 1 columns of each row are
# dropped (under 10 % more work on a 56-wide map).


def _flat_blocks(geo: _Geometry, itemsize: int, start: int, stop: int, block_bytes: int):
    """(first, last image, first, last channel) blocks of images start..stop whose padded
    maps fit ``block_bytes``: several whole images when small, else a block of one image's
    channels."""
    map_bytes = geo.padded_hw[0] * geo.padded_hw[1] * itemsize
    channels = max(1, min(geo.c, block_bytes // map_bytes))
    images = max(1, block_bytes // (map_bytes * geo.c)) if channels == geo.c else 1
    for first in range(start, stop, images):
        for c0 in range(0, geo.c, channels):
            yield first, min(first + images, stop), c0, min(c0 + channels, geo.c)


def _first_block(geo: _Geometry, itemsize: int, start: int, stop: int,
                 block_bytes: int) -> tuple[int, int]:
    """(images, channels) of the first block :func:`_flat_blocks` gives, the largest: what
    its buffers are shaped by ((0, 0) for no images)."""
    first, last, c0, c1 = next(_flat_blocks(geo, itemsize, start, stop, block_bytes),
                               (start, start, 0, 0))
    return last - first, c1 - c0


def _flat_layout(geo: _Geometry):
    """The padded width, the flat length L of the outputs in padded-width rows (the last
    row only up to W') and each tap's shift, row-major."""
    width = geo.padded_hw[1]
    (dh, dw) = geo.dilation
    length = (geo.h_out - 1) * width + geo.w_out
    shifts = [m * dh * width + n * dw for m in range(geo.kh) for n in range(geo.kw)]
    return width, length, shifts


def _placed(block: np.ndarray, source: np.ndarray, top: int, left: int) -> np.ndarray:
    """``source`` (B, C, h, w) written into the zero ``block`` (B, C, H, W) with its corner at
    (top, left); negative offsets crop it.  Returns the block, flat (B, C, H·W)."""
    h, w = source.shape[-2:]
    rows = slice(max(0, -top), min(h, block.shape[-2] - top))
    cols = slice(max(0, -left), min(w, block.shape[-1] - left))
    block[..., max(0, top):max(0, top) + rows.stop - rows.start,
          max(0, left):max(0, left) + cols.stop - cols.start] = source[..., rows, cols]
    return block.reshape(block.shape[0], block.shape[1], -1)


def _flat_padded(x_block: np.ndarray, geo: _Geometry, buffer: np.ndarray) -> np.ndarray:
    """x_block (B, C, H, W) padded into ``buffer``'s leading block, flat: (B, C, Hp·Wp).
    Zero padding writes the interior only (the buffer's border stays zero)."""
    b, c = x_block.shape[:2]
    block = buffer[:b, :c]
    if geo.mode == "zeros":
        top, _, left, _ = geo.sides
        return _placed(block, x_block, top, left)
    block[...] = pad2d(x_block, geo.sides, geo.mode)
    return block.reshape(b, c, -1)


def _tap_columns(flat: np.ndarray, geo: _Geometry, length: int) -> np.ndarray:
    """A read-only view (B, c, kh, kw, length) of flat maps in padded-width rows: tap (m, n)
    is each map shifted by m·d·Wp + n·d."""
    item, width = flat.strides[-1], geo.padded_hw[1]
    (row_step, col_step) = geo.dilation
    return np.lib.stride_tricks.as_strided(
        flat, shape=flat.shape[:2] + (geo.kh, geo.kw, length),
        strides=flat.strides[:2] + (row_step * width * item, col_step * item, item),
        writeable=False)


def _tap_sums(flat: np.ndarray, weights: np.ndarray, geo: _Geometry, length: int,
              out: np.ndarray, columns: np.ndarray, shifts: Sequence[int] | None = None
              ) -> None:
    """out[b, c, 0, :length] = Σ_taps weights[c, 0, t] · flat[b, c] shifted by tap t: by
    m·d·Wp + n·d for tap (m, n), or by ``shifts[t]``.

    Each map's taps are copied into ``columns`` (c', k², piece): c' maps at a time, or a
    piece of one map's cells where its columns would not fit; then one BLAS product
    (1 × taps) by (taps × piece) per map.  The copy and the product read and write each
    value about three times, against five for a multiply and an add per tap."""
    taps = _tap_columns(flat, geo, length) if shifts is None else None
    count = weights.shape[-1]
    per, _, piece = columns.shape
    b, c = flat.shape[:2]
    for image in range(b):
        for c0 in range(0, c, per):
            c1 = min(c, c0 + per)
            for l0 in range(0, length, piece):
                l1 = min(length, l0 + piece)
                cols = columns[:c1 - c0, :count, :l1 - l0]
                if shifts is None:
                    np.copyto(cols.reshape(c1 - c0, geo.kh, geo.kw, l1 - l0),
                              taps[image, c0:c1, :, :, l0:l1])
                else:
                    for t, shift in enumerate(shifts):
                        cols[:, t] = flat[image, c0:c1, shift + l0:shift + l1]
                np.matmul(weights[c0:c1], cols, out=out[image, c0:c1, :, l0:l1])


def _columns_buffer(geo: _Geometry, length: int, dtype: np.dtype) -> np.ndarray:
    """Room for the tap columns of as many maps as fit :data:`DEPTHWISE_COLUMNS_BYTES`,
    or of a piece of one map (a big map's columns are k² times its size)."""
    taps = geo.kh * geo.kw
    cells = max(1, DEPTHWISE_COLUMNS_BYTES // (taps * dtype.itemsize))
    return np.empty((min(max(1, cells // length), geo.c), taps, min(cells, length)), dtype)


def _flat_source(geo: _Geometry):
    """How a depthwise call's blocks are laid out flat: (the width of the output rows, the
    flat length L of the outputs, each tap's shift (None at stride 1: the m·d·Wp + n·d of
    :func:`_tap_columns`), a block's shape per map, the function that lays a block out).
    At stride 1 the padded maps themselves, otherwise their stride phases."""
    if geo.stride == (1, 1):
        width, length, _ = _flat_layout(geo)
        return width, length, None, geo.padded_hw, _flat_padded
    hq, wq, shifts, length = _phase_layout(geo)
    return wq, length, shifts, (geo.stride[0] * geo.stride[1], hq, wq), _phase_stacked


def _flat_forward(x, w, geo: _Geometry, y, start: int, stop: int, _tile_bytes: int) -> None:
    """y[start:stop] of a depthwise convolution in the flat layout (:func:`_flat_source`),
    block by block: y = Σ_taps w_tap · x shifted (:func:`_tap_sums`)."""
    width, length, shifts, map_shape, laid_out = _flat_source(geo)
    weights = w.reshape(geo.f, 1, geo.kh * geo.kw)
    columns = _columns_buffer(geo, length, x.dtype)
    shape = _first_block(geo, x.itemsize, start, stop, DEPTHWISE_BLOCK_BYTES)
    buffer = np.zeros(shape + map_shape, x.dtype)
    rows = np.empty(shape + (1, geo.h_out * width), x.dtype)
    for first, last, c0, c1 in _flat_blocks(geo, x.itemsize, start, stop,
                                            DEPTHWISE_BLOCK_BYTES):
        flat = laid_out(x[first:last, c0:c1], geo, buffer)
        b, c = flat.shape[:2]
        _tap_sums(flat, weights[c0:c1], geo, length, rows, columns, shifts)
        y[first:last, c0:c1] = rows[:b, :c].reshape(b, c, geo.h_out, width)[..., :geo.w_out]


def _flat_delta(delta_block: np.ndarray, geo: _Geometry, rows: np.ndarray,
                length: int) -> np.ndarray:
    """delta_block (B, C, H', W') written into the leading block of ``rows`` (B, C, H', Wp),
    whose extra columns stay zero, as flat padded-width rows (B, C, L)."""
    b, c = delta_block.shape[:2]
    rows[:b, :c, :, :geo.w_out] = delta_block
    return rows[:b, :c].reshape(b, c, -1)[..., :length]


def _delta_after_zeros(delta_block: np.ndarray, geo: _Geometry, extended: np.ndarray,
                       most: int, width: int) -> np.ndarray:
    """delta_block (B, C, H', W') written into the leading block of ``extended`` (zeros,
    (B, C, ·)) after ``most`` zeros, in rows of ``width`` (the extra columns stay zero, as
    does all that follows): that block."""
    b, c = delta_block.shape[:2]
    block = extended[:b, :c]
    cells = block[..., most:most + geo.h_out * width].reshape(b, c, geo.h_out, width)
    cells[..., :geo.w_out] = delta_block
    return block


def _flat_input_grad(w, delta, geo: _Geometry, dx, start: int, stop: int,
                     _tile_bytes: int) -> None:
    """dx[start:stop] of a stride-1 depthwise convolution.

    y = Σ_taps w·x shifted, so the padded input's delta at p is Σ_taps w_tap · delta[p −
    shift_tap]: the same tap sums as the forward pass (:func:`_tap_sums`) over the delta in
    padded-width rows with the largest shift's zeros before it, with the kernel rotated 180°
    (the largest shift less shift_tap is the rotated tap's shift).  With zero padding only
    the rows of the input are computed."""
    width, _, shifts = _flat_layout(geo)
    most = shifts[-1]
    rotated = np.ascontiguousarray(  # a reversed view would not go to the BLAS
        w.reshape(geo.f, geo.kh, geo.kw)[:, ::-1, ::-1]).reshape(geo.f, 1, len(shifts))
    top, _, left, _ = geo.sides
    zeros = geo.mode == "zeros"
    first_row, rows_out = (top, geo.h) if zeros else (0, geo.padded_hw[0])
    length = rows_out * width
    columns = _columns_buffer(geo, length, delta.dtype)
    shape = _first_block(geo, delta.itemsize, start, stop, DEPTHWISE_BLOCK_BYTES)
    extended = np.zeros(shape + (2 * most + geo.h_out * width,), delta.dtype)
    sums = np.empty(shape + (1, length), delta.dtype)
    for first, last, c0, c1 in _flat_blocks(geo, delta.itemsize, start, stop,
                                            DEPTHWISE_BLOCK_BYTES):
        b, c = last - first, c1 - c0
        block = _delta_after_zeros(delta[first:last, c0:c1], geo, extended, most, width)
        _tap_sums(block[..., first_row * width:], rotated[c0:c1], geo, length, sums, columns)
        padded = sums[:b, :c, 0].reshape(b, c, rows_out, width)
        if zeros:
            dx[first:last, c0:c1] = padded[..., left:left + geo.w]
        else:
            dx[first:last, c0:c1] = pad2d_backward(padded, geo.sides, geo.mode,
                                                   (geo.h, geo.w))


#: The kernel gradient's blocks: its calls are few and long (copies and one batched product
#: a block), so it gains more from long calls than from the cache.  Next to the input delta on
#: another thread, 8×64×56×56 float64: backward 11.9 ms with 2 MiB blocks, 16.4 ms with the
#: input delta's 256 KiB ones, 14.4 ms for both gradients in one pass on one thread.
DEPTHWISE_DOTS_BLOCK_BYTES = 2**21


def _flat_kernel_grad(x, delta, geo: _Geometry, start: int, stop: int,
                      _tile_bytes: int) -> np.ndarray:
    """Images start..stop's share of dw (F, kh·kw) of a depthwise convolution in the flat
    layout (:func:`_flat_source`): dE/dw_tap = Σ delta · x shifted by the tap."""
    width, length, shifts, map_shape, laid_out = _flat_source(geo)
    dw = np.zeros((geo.f, geo.kh * geo.kw), delta.dtype)
    shape = _first_block(geo, x.itemsize, start, stop, DEPTHWISE_DOTS_BLOCK_BYTES)
    buffer = np.zeros(shape + map_shape, x.dtype)
    delta_rows = np.zeros(shape + (geo.h_out, width), delta.dtype)
    with unbuffered_rows():
        for first, last, c0, c1 in _flat_blocks(geo, x.itemsize, start, stop,
                                                DEPTHWISE_DOTS_BLOCK_BYTES):
            flat = laid_out(x[first:last, c0:c1], geo, buffer)
            delta_flat = _flat_delta(delta[first:last, c0:c1], geo, delta_rows, length)
            dw[c0:c1] += _tap_dots(flat, delta_flat, geo, length, shifts)
    return dw


#: A block's kernel gradient from this size on is one batched BLAS dot per map and tap (as
#: :func:`~cnngrad.layers._common.row_dots`); below it einsum, numpy's own rounding.
DEPTHWISE_DOTS_BLAS_MIN_BYTES = ROW_DOTS_BLAS_MIN_BYTES


def _tap_dots(x_flat: np.ndarray, delta_flat: np.ndarray, geo: _Geometry, length: int,
              shifts: Sequence[int] | None = None) -> np.ndarray:
    """(c, kh·kw): Σ delta · x shifted by each tap, over a block's images and cells.

    At stride 1 (``shifts`` None) the taps are one read-only view of the padded maps, (B, c,
    kh, kw, L), each tap the maps shifted by its offset, so the block's k² dot products per
    map are one numpy call (a call per tap was 10 % of the backward pass at 8×64×56×56,
    float64 and float32); the stride phases' taps, ``shifts``, a batched dot each."""
    c = x_flat.shape[1]
    with buffered_reduction():  # inside unbuffered_rows
        if shifts is not None:
            return np.stack([row_dots(x_flat[..., shift:shift + length], delta_flat,
                                      DEPTHWISE_DOTS_BLAS_MIN_BYTES) for shift in shifts],
                            axis=1)
        taps = _tap_columns(x_flat, geo, length)
        if x_flat.nbytes < DEPTHWISE_DOTS_BLAS_MIN_BYTES:
            dots = np.einsum("bcmnl,bcl->cmn", taps, delta_flat)
        else:
            dots = np.matmul(taps[..., None, :],
                             delta_flat[:, :, None, None, :, None]).sum(axis=(0, 4, 5))
    return dots.reshape(c, -1)


# Any other stride: the padded maps split by stride phase (every sh-th row from row p, every
# sw-th column from column q) and the sh·sw phases laid one after another as one flat vector
# per map, each phase padded to the first one's Hq × Wq.  Tap (m, n) reads phase
# (m·dh mod sh, n·dw mod sw) shifted by (m·dh // sh, n·dw // sw): again one contiguous slice
# of every map for every tap, and the outputs come in rows of width Wq (the last columns of
# each row dropped), as at stride 1.


def _phase_layout(geo: _Geometry) -> tuple[int, int, list[int], int]:
    """(Hq, Wq, each tap's shift in the flat phases, row-major; the flat length L of the
    outputs in rows of width Wq)."""
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    hq, wq = -(-geo.padded_hw[0] // sh), -(-geo.padded_hw[1] // sw)
    shifts = [((m * dh % sh) * sw + n * dw % sw) * hq * wq + m * dh // sh * wq + n * dw // sw
              for m in range(geo.kh) for n in range(geo.kw)]
    return hq, wq, shifts, (geo.h_out - 1) * wq + geo.w_out


def _phase_stacked(x_block: np.ndarray, geo: _Geometry, buffer: np.ndarray) -> np.ndarray:
    """x_block (B, C, H, W) padded and split by stride phase into ``buffer``'s leading block
    (B, C, sh·sw, Hq, Wq), flat: (B, C, sh·sw·Hq·Wq).  A phase smaller than Hq × Wq leaves
    the buffer's zeros around it."""
    (sh, sw), (b, c) = geo.stride, x_block.shape[:2]
    padded, block = _pad_chunk(x_block, geo), buffer[:b, :c]
    for p in range(sh):
        for q in range(sw):
            part = padded[..., p::sh, q::sw]
            block[:, :, p * sw + q, :part.shape[-2], :part.shape[-1]] = part
    return block.reshape(b, c, -1)


def _phased_input_grad(w, delta, geo: _Geometry, dx, start: int, stop: int,
                       _tile_bytes: int) -> None:
    """dx[start:stop] of a strided depthwise convolution, phase by phase.

    Phase (p, q) of the padded input's delta at u is Σ over its taps of w_tap · delta[u −
    s_tap], s_tap the tap's shift within the phase: tap sums over the delta in rows of width
    Wq, with the largest such shift's zeros before it (a phase no tap reads gets zeros)."""
    (sh, sw) = geo.stride
    hq, wq, shifts, _ = _phase_layout(geo)
    phase_cells = hq * wq
    by_phase: dict[int, list[tuple[int, int]]] = {}
    for t, shift in enumerate(shifts):
        by_phase.setdefault(shift // phase_cells, []).append((t, shift % phase_cells))
    most = max(inner for taps in by_phase.values() for _, inner in taps)
    weights = w.reshape(geo.f, len(shifts))
    phases = [(divmod(phase, sw),  # (a picked column comes back column-major)
               np.ascontiguousarray(weights[:, [t for t, _ in taps]])[:, None, :],
               [most - inner for _, inner in taps])
              for phase, taps in by_phase.items()]
    columns = _columns_buffer(geo, phase_cells, delta.dtype)
    shape = _first_block(geo, delta.itemsize, start, stop, DEPTHWISE_BLOCK_BYTES)
    extended = np.zeros(shape + (most + phase_cells,), delta.dtype)
    sums = np.empty(shape + (1, phase_cells), delta.dtype)
    padded_delta = np.zeros(shape + geo.padded_hw, delta.dtype)  # untapped phases: zeros
    for first, last, c0, c1 in _flat_blocks(geo, delta.itemsize, start, stop,
                                            DEPTHWISE_BLOCK_BYTES):
        b, c = last - first, c1 - c0
        block = _delta_after_zeros(delta[first:last, c0:c1], geo, extended, most, wq)
        padded = padded_delta[:b, :c]
        for (p, q), phase_weights, offsets in phases:
            _tap_sums(block, phase_weights[c0:c1], geo, phase_cells, sums, columns, offsets)
            part = padded[..., p::sh, q::sw]
            part[...] = sums[:b, :c, 0].reshape(b, c, hq, wq)[..., :part.shape[-2],
                                                             :part.shape[-1]]
        dx[first:last, c0:c1] = pad2d_backward(padded, geo.sides, geo.mode, (geo.h, geo.w))


def _pad_chunk(x_chunk: np.ndarray, geo: _Geometry) -> np.ndarray:
    if geo.sides == (0, 0, 0, 0):
        return x_chunk
    return pad2d(x_chunk, geo.sides, geo.mode)


# --------------------------------------------------------------------------------------
# stride 1: one product per tap (or per kernel row of taps), straight from the padded
# input (no im2col)
#
# In the flat layout of the depthwise section, tap t of every output reads the padded input
# shifted by shift_t, so y = Σ_taps w_t · x[shift_t : shift_t + L]: k² products of
# (F/G × C/G) by (C/G × L) read the padded maps in place, where im2col first copies each
# input cell k² times into a matrix k² times the input's size.  The input delta is the same
# sum over the delta zero-padded by d·(k − 1) − p with the kernel rotated 180°, and
# dE/dw_t = delta · x[shift_t : shift_t + L]ᵀ with the delta in padded-width rows (zeros in
# the extra columns).  Forward + backward of 32×64×56×56 → 64 3×3 p1 on two threads took
# 0.88 of im2col's time in float64 and 0.89 in float32 (docs/performance.md has the rest).

#: A stride-1 conv takes one product per tap when it has at least this many channels per
#: group (each product's inner dimension in the forward pass) ...
SHIFTED_MIN_CHANNELS = 4

#: ... and from 2 up to this many times as many filters as channels per group: every tap
#: writes a sum of F/G rows, so where filters outnumber channels im2col's one product of
#: C/G·k² columns wins (measured, 8×16×32×32: 64 filters 1.2–1.7× slower shifted, 32
#: filters on 64×64 maps 0.76–1.0); one filter makes the input delta's products too thin.
SHIFTED_MAX_FILTERS_PER_CHANNEL = 2

#: Values in the block of images and output rows each thread works on (its source, sums,
#: scratch and stacked copies): one 64×56×56 → 64 image whole (1.2 M values) ran best,
#: measured on 32 images and two threads, in float32 (4 MiB blocks: 180 ms against 216 for
#: 8 MiB, 198 for im2col) and in float64 (8 MiB: 367 ms against 414 for 4 MiB, 424 for
#: im2col).
SHIFTED_TILE_VALUES = 2**20


def _shifted(geo: _Geometry, dtype: np.dtype) -> bool:
    """Whether a call takes the shifted products (see above)."""
    return (dtype != object and geo.stride == (1, 1) and geo.kh * geo.kw > 1
            and geo.c_group >= SHIFTED_MIN_CHANNELS
            and 2 <= geo.f_group <= SHIFTED_MAX_FILTERS_PER_CHANNEL * geo.c_group)


def _tap_matrices(w: np.ndarray, geo: _Geometry, rotated: bool = False) -> np.ndarray:
    """(taps, G, F/G, C/G), one contiguous matrix per tap in row-major tap order; rotated:
    the kernel turned 180° (the taps reversed) with filters and channels swapped,
    (taps, G, C/G, F/G)."""
    taps = w.reshape(geo.groups, geo.f_group, geo.c_group, geo.kh * geo.kw)
    if rotated:
        return np.ascontiguousarray(taps[..., ::-1].transpose(3, 0, 2, 1))
    return np.ascontiguousarray(taps.transpose(3, 0, 1, 2))


#: A kernel row's taps are one product (:func:`_shifted_rows`, the kernel gradient) when
#: the products are thin: an inner dimension per tap (channels per group forward and for the
#: kernel gradient, filters per group for the input delta) below SHIFTED_STACK_BELOW, and
#: at least twice as many rows (filters forward, channels for the input delta) or as many
#: from SHIFTED_STACK_SQUARE on.  A product of 8 to 48 columns runs the BLAS well below
#: its peak, one of kw times as many nearer it, and kh − 1 sums are added instead of
#: kh·kw − 1; but the source is copied kw times, which costs more than it saves where the
#: rows are few or the inner dimension already large.  Measured per product on one thread,
#: 8×C×48×48 → F 3×3, stacked / per tap (float32, float64): forward 8 → 16 0.64, 0.60;
#: 16 → 32 0.67, 0.67; 32 → 32 0.88, 0.83; 16 → 16 1.17, 1.06; 64 → 64 1.03, 0.93.
SHIFTED_STACK_BELOW = 64
SHIFTED_STACK_SQUARE = 32
#: The kernel gradient's products ((F × L) by (L × C), long inner sums) gain only from 16
#: channels on (8 → 16: 1.14, 1.09; 16 → 32: 0.71, 0.94; 32 → 32: 0.77, 0.99).
SHIFTED_STACK_KERNEL_MIN = 16


def _taps_per_product(geo: _Geometry, rows: int, inner: int, least: int = 1) -> int:
    """kw, a kernel row of taps in each product, for thin products (above) of ``rows`` by
    ``inner`` per tap; else 1, a product per tap."""
    thin = least <= inner < SHIFTED_STACK_BELOW and (
        rows >= 2 * inner or rows >= inner >= SHIFTED_STACK_SQUARE)
    return geo.kw if thin else 1


def _kernel_taps_per_product(geo: _Geometry, dtype: np.dtype) -> int:
    """kw for the kernel gradient's thin products (:func:`_taps_per_product`), and for wider
    ones too where the BLAS adds each image's product into the sum (:func:`_blas_adds`,
    judged on a whole image's cells): a product of kw·C/G rows by F/G columns runs sgemm
    nearer its peak than kw of C/G rows (64·3 by 64 over 3248 cells: 144 GFLOP/s against
    118), worth the source's kw copies from C/G ≥ 16 and F/G ≥ 32 filters (below that
    float64 lost: 64 → 16 1.07, 64 → 8 1.12).  The kernel gradient alone on one thread,
    stacked / per tap (float32, float64): 8×64×56×56 → 64 3×3 0.88, 0.92; 1×64×56×56 → 64
    0.86, 0.94; 2×128×28×28 → 128 0.89, 0.96; 4×256×14×14 → 256 0.94, 0.98; 8×64×56×56 →
    32 0.87, 0.99.  Batches only: on one image the kernel gradient runs beside the input
    delta, and the copies cost that more than they save (1×64×56×56 → 64 whole calls
    0.99–1.05).
    Without the BLAS's adds (numpy's batched products, summed) only thin products gain."""
    fg, cg = geo.f_group, geo.c_group
    per = _taps_per_product(geo, fg, cg, SHIFTED_STACK_KERNEL_MIN)
    if (per == 1 and geo.n >= 2 and cg >= SHIFTED_STACK_KERNEL_MIN
            and fg >= SHIFTED_STACK_SQUARE
            and _blas_adds(dtype, fg * geo.kw * cg * _flat_layout(geo)[1])):
        return geo.kw
    return per


def _row_tap_matrices(mats: np.ndarray, per: int) -> np.ndarray:
    """mats (taps, G, P, Q) in row-major tap order → (taps/per, G, P, per·Q): ``per``
    consecutive taps side by side, in the order of :func:`_stack_columns`' rows."""
    if per == 1:
        return mats
    taps, g, p, q = mats.shape
    by_row = mats.reshape(taps // per, per, g, p, q).transpose(0, 2, 3, 1, 4)
    return np.ascontiguousarray(by_row).reshape(taps // per, g, p, per * q)


def _stack_columns(source: np.ndarray, start: int, span: int, col_shifts: list[int],
                   stacked: np.ndarray | None) -> tuple[np.ndarray, int]:
    """source (B, G, Q, S) flat, read from ``start`` shifted by each of ``col_shifts``, written
    into ``stacked`` (≥ B, G, kw, Q, ≥ span): ((B, G, kw·Q, span), 0), a view of it.  With one
    shift of 0, the source itself and ``start``: nothing to copy."""
    if len(col_shifts) == 1:
        return source, start
    b, g, q = source.shape[:3]
    stack = stacked[:b, ..., :span]
    for n, shift in enumerate(col_shifts):
        stack[:, :, n] = source[..., start + shift:start + shift + span]
    return stack.reshape(b, g, len(col_shifts) * q, span), 0


def _shifted_rows(row_mats: np.ndarray, source: np.ndarray, shifts: list[int], width: int,
                  rows: tuple[int, int], out_w: int, sums: np.ndarray, scratch: np.ndarray,
                  stacked: np.ndarray | None, start: np.ndarray | None = None
                  ) -> tuple[np.ndarray, bool]:
    """Output rows ``rows`` (first, stop) of Σ_t w_t @ (source shifted by shift_t), laid
    out in rows of ``width``: ((B, G·P, stop − first, out_w), a view of ``sums``, whether
    ``start`` is in it).  row_mats from :func:`_row_tap_matrices` (per taps a product);
    source (B, G, Q, S) flat; sums and scratch (≥ B, G, P, ≥ (stop − first)·width); stacked
    (≥ B, G, per, Q, ≥ the rows' span) or None for a product per tap; start (G, P, 1) or
    None: a value per row of the products the sums start from where the BLAS adds them
    (the forward pass's bias), else left to the caller.

    With a kernel row of taps a product, the source is copied once, shifted by each column
    tap, so each product's inner dimension is kw·Q, not Q, and kh − 1 sums are added
    instead of kh·kw − 1."""
    (first, stop), b = rows, source.shape[0]
    length = (stop - first - 1) * width + out_w  # the last row only up to out_w
    per = len(shifts) // len(row_mats)
    row_shifts, col_shifts = shifts[::per], shifts[:per]
    stack, base = _stack_columns(source, first * width, row_shifts[-1] + length, col_shifts,
                                 stacked)
    out, tmp = sums[:b, ..., :length], scratch[:b, ..., :length]
    started = _added_products(row_mats, stack, base, row_shifts, out, start)
    if started is None:
        started = False
        for m, shift in enumerate(row_shifts):
            np.matmul(row_mats[m], stack[..., base + shift:base + shift + length],
                      out=out if m == 0 else tmp)
            if m:
                out += tmp
    whole = sums[:b, ..., :(stop - first) * width]
    return whole.reshape(b, -1, stop - first, width)[..., :out_w], started


#: A sum of products adds each product into the sum by the BLAS (:mod:`._gemm`) when each
#: product has at least this many multiply-adds, by BLAS and item size; smaller ones stay
#: with numpy's matmul and a separate add, whose calls cost less than one BLAS call per image
#: and group.  OpenBLAS: float32's products run twice as fast, so the add saved is a smaller
#: share of them: forward + backward with the BLAS's adds against numpy's, 0.25 s pauses, 9
#: pairs: float32 32×64×56×56 → 64 3×3 (13 M a product) 0.92, 8×32×56×56 → 64 0.95,
#: 1×16×64×64 → 32 (2–3 M) 1.06–1.15, 8×16×64×64 → 32 (6.5 M) 1.04; float64 0.84, 0.89,
#: 0.86–0.94, 0.89.  One image split over two threads by rows has products of half the
#: size: 1×64×56×56 → 64's (6.6 M) took, one thread's half, 1.25 against 1.46 ms forward
#: and 1.03 against 1.43 input delta with the BLAS's adds, hence 4 Mi.  MKL's products gain
#: from 1 Mi in both dtypes (float32 whole calls, 15 pairs: 1×64×56×56 0.82–0.84,
#: 8×16×64×64 0.84–0.85, 1×32×28×28 → 32 (2.4 M) 0.86–0.87, 1×16×64×64 0.92–0.96; with no
#: floor, products under 1 M lost: 4×8×32×32 → 16 1.56, 1×16×16×16 → 32 1.24).
GEMM_MIN_MACS = {"openblas": {4: 4 * 2**20, 8: 2**20}, "mkl": {4: 2**20, 8: 2**20}}


def _blas_adds(dtype: np.dtype, macs: int) -> bool:
    """Whether products of ``macs`` multiply-adds in ``dtype`` are added by the BLAS."""
    itemsize = np.dtype(dtype).itemsize
    floors = [floor for by_size in GEMM_MIN_MACS.values()
              if (floor := by_size.get(itemsize)) is not None]
    # below every floor the BLAS is not even loaded (about 1 ms, on a small problem's call)
    if not floors or macs < min(floors) or not gemm_available():
        return False
    least = GEMM_MIN_MACS.get(gemm_kind(), {}).get(itemsize)
    return least is not None and macs >= least


def _add_product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out += a @ b: by the BLAS as it writes (no scratch product), else by numpy."""
    if not gemm(a, b, out, accumulate=True):
        out += a @ b


def _added_products(row_mats: np.ndarray, stack: np.ndarray, base: int,
                    row_shifts: list[int], out: np.ndarray,
                    start: np.ndarray | None = None) -> bool | None:
    """out (B, G, P, length) = Σ_m row_mats[m] @ stack shifted by row_shifts[m], each
    product added into ``out`` by the BLAS as it is written (no scratch, no separate add),
    from ``start`` (G, P, 1) when given: whether it was.  None when the BLAS's adds are not
    taken (no BLAS, products too small, a layout it cannot read), ``out`` then to be written
    whole by the caller."""
    b, g, p, length = out.shape
    if not _blas_adds(out.dtype, p * stack.shape[2] * length):
        return None
    fresh = gemm_writes_fresh()
    if start is not None:
        # every product added, the first too: filling the sums with the bias costs a tenth of
        # adding it to the padded-width rows as they are copied out (64×56×56 → 64 float32:
        # 20 against 160 µs an image)
        out[...] = start
        fresh = True
    elif not fresh:
        # the first product by numpy: OpenBLAS's gemm with beta = 0 clears C in a pass of its
        # own first (0.90–0.97 of the time by numpy's matmul, one 64×64 by 64×3248 product)
        np.matmul(row_mats[0], stack[..., base + row_shifts[0]:base + row_shifts[0] + length],
                  out=out)
    first = 0 if fresh else 1  # the products the BLAS takes: every one, or the sum's adds
    for image in range(b):
        for group in range(g):
            target = out[image, group]
            for m, shift in enumerate(row_shifts[first:], start=first):
                cells = stack[image, group, :, base + shift:base + shift + length]
                if not gemm(row_mats[m, group], cells, target,
                            accumulate=m > 0 or start is not None):
                    return None
    return start is not None


def _shifted_tiling(n: int, rows: int, width: int, row_channels: int) -> _Tiling:
    """Images and output rows per block: ``row_channels`` values per row of the padded
    width (the block's source, sums, scratch and stacked copies) fit
    :data:`SHIFTED_TILE_VALUES`."""
    tiling = _tiling(SHIFTED_TILE_VALUES, n, rows, row_channels * width, 1)
    blocks = -(-rows // tiling.rows)  # as many blocks, of even size
    return _Tiling(tiling.images, -(-rows // blocks))


def _stacked_tiling(geo: _Geometry, n: int, rows: int, width: int, values: int,
                    channels: int, per: int) -> tuple[int, _Tiling]:
    """(taps per product, tiling) for blocks of ``values`` per row of the padded width, plus
    ``per`` stacked copies of ``channels``.  A product per tap after all when the blocks
    would hold fewer rows than the kernel reaches below them: each block copies that reach kw
    times, as much as im2col (wide maps, big kernels: 1×32×16×4096 → 64 7×7 float32 forward
    took 1.18–1.37 of the per-tap time stacked, in blocks of one row)."""
    if per > 1:
        tiling = _shifted_tiling(n, rows, width, values + per * channels)
        if tiling.rows >= (geo.kh - 1) * geo.dilation[0]:
            return per, tiling
    return 1, _shifted_tiling(n, rows, width, values)


def _stack_buffer(tiling: _Tiling, geo: _Geometry, channels: int, width: int,
                  shifts: list[int], per: int, dtype: np.dtype) -> np.ndarray | None:
    """Room for :func:`_stack_columns` of a block of ``tiling`` (its rows and the kernel's
    reach below them), or None for a product per tap."""
    if per == 1:
        return None
    span = tiling.rows * width + shifts[-1] - shifts[per - 1]
    return np.empty((tiling.images, geo.groups, per, channels, span), dtype)


def _shifted_forward(x, w, bias, geo: _Geometry, y, start: int, stop: int, row_start: int,
                     row_stop: int) -> None:
    """y[start:stop] on output rows row_start..row_stop, block by block; ``bias`` (F, 1, 1),
    (F, H', W') untied, or None."""
    width, _, shifts = _flat_layout(geo)
    g, fg, cg = geo.groups, geo.f_group, geo.c_group
    per, tiling = _stacked_tiling(geo, stop - start, row_stop - row_start, width,
                                  geo.c + 2 * geo.f, geo.c, _taps_per_product(geo, fg, cg))
    mats = _row_tap_matrices(_tap_matrices(w, geo), per)
    buffer = np.zeros((tiling.images, geo.c) + geo.padded_hw, x.dtype)
    sums = np.empty((tiling.images, g, fg, tiling.rows * width), x.dtype)
    scratch = np.empty_like(sums)
    stacked = _stack_buffer(tiling, geo, cg, width, shifts, per, x.dtype)
    # a bias per filter (F, 1, 1), or untied (F, H', W'): its rows (also where W' is 1,
    # which is no sign of a bias per filter); the sums start from one per filter
    shared = bias is not None and bias.shape[-2:] == (1, 1)
    start_from = bias.reshape(g, fg, 1) if shared else None
    for first, last in tiling.chunks(start, stop):
        b = last - first
        x_flat = _flat_padded(x[first:last], geo, buffer).reshape(b, g, cg, -1)
        for row, row_end in tiling.row_blocks(row_start, row_stop):
            # y = b + Σ_taps w_t · x shifted
            rows, biased = _shifted_rows(mats, x_flat, shifts, width, (row, row_end),
                                         geo.w_out, sums, scratch, stacked, start_from)
            out = y[first:last, :, row:row_end]
            if bias is None or biased:
                out[...] = rows
            else:
                np.add(rows, bias if shared else bias[:, row:row_end], out=out)


def _shifted_kernel_grad(x, delta, geo: _Geometry, start: int, stop: int, row_start: int,
                         row_stop: int) -> np.ndarray:
    """Σ dE/dw over images start..stop and output rows row_start..row_stop:
    (G, F/G, C/G, taps)."""
    width, _, shifts = _flat_layout(geo)
    g, fg, cg = geo.groups, geo.f_group, geo.c_group
    per, tiling = _stacked_tiling(geo, stop - start, row_stop - row_start, width,
                                  geo.c + geo.f, geo.c, _kernel_taps_per_product(geo, x.dtype))
    buffer = np.zeros((tiling.images, geo.c) + geo.padded_hw, x.dtype)
    # the delta in padded-width rows: the extra columns stay zero
    delta_rows = np.zeros((tiling.images, geo.f, geo.h_out, width), delta.dtype)
    stacked = _stack_buffer(tiling, geo, cg, width, shifts, per, x.dtype)
    row_shifts, col_shifts = shifts[::per], shifts[:per]
    # (taps/per, G, per, C/G, F/G): ``per`` taps come out of one product one above the other,
    # each image's product added in by the BLAS; else (taps/per, G, F/G, per, C/G), the
    # block's images in one batched product, summed
    added = _blas_adds(delta.dtype, fg * per * cg * tiling.rows * width)
    dw = np.zeros((len(row_shifts), g) + ((per, cg, fg) if added else (fg, per, cg)),
                  delta.dtype)
    for first, last in tiling.chunks(start, stop):
        b = last - first
        x_flat = _flat_padded(x[first:last], geo, buffer).reshape(b, g, cg, -1)
        delta_rows[:b, :, row_start:row_stop, :geo.w_out] = delta[first:last, :,
                                                                  row_start:row_stop]
        delta_flat = delta_rows[:b].reshape(b, g, fg, -1)
        for row, row_end in tiling.row_blocks(row_start, row_stop):
            length = (row_end - row - 1) * width + geo.w_out
            delta_block = delta_flat[..., row * width:row * width + length]
            stack, base = _stack_columns(x_flat, row * width, row_shifts[-1] + length,
                                         col_shifts, stacked)
            for m, shift in enumerate(row_shifts):
                cells = stack[..., base + shift:base + shift + length]
                # y = Σ_taps w_t · x shifted: dE/dw_t = delta · (x shifted)ᵀ
                if not added:
                    dw[m] += _delta_cols_t(delta_block, cells).reshape(g, fg, per, cg)
                    continue
                for image in range(b):
                    for group in range(g):
                        _add_product(cells[image, group], delta_block[image, group].T,
                                     dw[m, group].reshape(per * cg, fg))
    order = (1, 4, 3, 0, 2) if added else (1, 2, 4, 0, 3)  # → (G, F/G, C/G, taps/per, per)
    return dw.transpose(order).reshape(g, fg, cg, len(shifts))


def _shifted_input_grad(w, delta, geo: _Geometry, dx: np.ndarray, start: int, stop: int,
                        row_start: int, row_stop: int, padded: np.ndarray | None = None) -> None:
    """dx[start:stop]: with zero padding its rows row_start..row_stop, straight; else the
    padded input's delta, on those rows of ``padded`` (N, C, Hp, Wp) when given (one image
    split over threads: the caller folds it back), else block by block, folded into dx here."""
    if row_start >= row_stop:  # a share of the delta's rows with none of the input's
        return
    (dh, dw_), zeros = geo.dilation, geo.mode == "zeros"
    out_h, out_w = (geo.h, geo.w) if zeros else geo.padded_hw
    if zeros:  # the delta's corner in the padded delta
        top, left = dh * (geo.kh - 1) - geo.sides[0], dw_ * (geo.kw - 1) - geo.sides[2]
    else:
        top, left = dh * (geo.kh - 1), dw_ * (geo.kw - 1)
    height, width = out_h + dh * (geo.kh - 1), out_w + dw_ * (geo.kw - 1)
    shifts = [m * dh * width + n * dw_ for m in range(geo.kh) for n in range(geo.kw)]
    g, fg, cg = geo.groups, geo.f_group, geo.c_group
    per, tiling = _stacked_tiling(geo, stop - start, row_stop - row_start, width,
                                  geo.f + 2 * geo.c, geo.f, _taps_per_product(geo, cg, fg))
    mats = _row_tap_matrices(_tap_matrices(w, geo, rotated=True), per)
    # output rows row_start..row_stop read the padded delta's rows row_start.. (those plus the
    # kernel's reach): only those are placed, so a share of the rows costs its share
    height = min(height, row_stop - row_start + dh * (geo.kh - 1))
    buffer = np.zeros((tiling.images, geo.f, height, width), delta.dtype)
    sums = np.empty((tiling.images, g, cg, tiling.rows * width), delta.dtype)
    scratch = np.empty_like(sums)
    stacked = _stack_buffer(tiling, geo, fg, width, shifts, per, delta.dtype)
    own = (None if zeros or padded is not None
           else np.empty((tiling.images, geo.c) + geo.padded_hw, delta.dtype))
    for first, last in tiling.chunks(start, stop):
        b = last - first
        target = dx[first:last] if zeros else own[:b] if own is not None else padded[first:last]
        delta_flat = _placed(buffer[:b], delta[first:last], top - row_start,
                             left).reshape(b, g, fg, -1)
        for row, row_end in tiling.row_blocks(row_start, row_stop):
            # y = Σ_taps w_t · x shifted: dE/dx = Σ_taps w_tᵀ · delta shifted back (rotated)
            target[:, :, row:row_end] = _shifted_rows(
                mats, delta_flat, shifts, width, (row - row_start, row_end - row_start), out_w,
                sums, scratch, stacked)[0]
        if own is not None:
            dx[first:last] = pad2d_backward(target, geo.sides, geo.mode, (geo.h, geo.w))


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                   stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                   dilation: int | Sequence[int] = 1, groups: int = 1,
                   padding_mode: str = "zeros") -> np.ndarray:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d`` (and Conv2d's padding_mode).

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    w : ndarray (F, C/groups, kh, kw)
    b : None, ndarray (F,) one bias per filter, or (F, H', W') untied (one per output cell)
    stride, dilation : int or (rows, cols)
    padding : int, (rows, cols) or (top, bottom, left, right)
    groups : int
        Input channels ``g·C/groups ... (g+1)·C/groups − 1`` feed filters
        ``g·F/groups ... (g+1)·F/groups − 1``.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}

    Returns
    -------
    y : ndarray (N, F, H', W'), the common dtype of x, w and b (object stays object)

    Notes
    -----
    y[n, f, i, j] = Σ_c Σ_p Σ_q w[f, c, p, q] · xpad[n, g·C/groups + c, i·s + p·d, j·s + q·d] + b
    with g = f // (F/groups), and per axis H' = floor((H + pad_total − d·(k − 1) − 1) / s) + 1.
    """
    x, w = np.asarray(x), np.asarray(w)
    geo = _geometry(x.shape, w.shape, stride, padding, dilation, groups, padding_mode)
    b = None if b is None else np.asarray(b)
    if b is not None:
        _check_bias(b, geo)
    dtype = common_dtype(x=x, w=w, b=b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    if _small(geo, dtype):
        y = _small_forward(x, w, geo)
        if b is not None:
            b = b.astype(dtype, copy=False)
            y += b[:, None, None] if b.ndim == 1 else b
        return y
    y = empty_result(geo.out_shape, dtype)
    if _depthwise(geo, dtype):
        _depthwise_forward(x, w, geo, y)
        if b is not None:
            b = b.astype(dtype, copy=False)
            y += b[:, None, None] if b.ndim == 1 else b
        return y
    if _shifted(geo, dtype):
        bias = None if b is None else b.astype(dtype, copy=False)
        bias = bias[:, None, None] if bias is not None and bias.ndim == 1 else bias
        over_images(geo, lambda start, stop, _tile_bytes, row_start, row_stop:
                    _shifted_forward(x, w, bias, geo, y, start, stop, row_start, row_stop),
                    exact=False, split_rows=True)
        return y
    groups, taps, w_out = geo.groups, geo.c_group * geo.kh * geo.kw, geo.w_out
    w_mat = w.reshape(groups, geo.f_group, taps)
    y_mat = y.reshape(geo.n, groups, geo.f_group, geo.h_out * w_out)
    # the bias is added tile by tile on the threads, while the tile's outputs are in cache
    bias = None if b is None else b.astype(dtype, copy=False).reshape(groups, geo.f_group, -1)

    def forward_images(start: int, stop: int, tile_bytes: int, row_start: int,
                       row_stop: int) -> None:
        tiling = _tiling(tile_bytes, stop - start, row_stop - row_start,
                         geo.c * geo.kh * geo.kw * w_out, dtype.itemsize)
        cols_buffer = np.empty(tiling.images * tiling.rows * geo.c * geo.kh * geo.kw * w_out,
                               dtype)
        for first, last in tiling.chunks(start, stop):
            source = _source(_pad_chunk(x[first:last], geo), geo, row_start, row_stop)
            for row, row_end in tiling.row_blocks(row_start, row_stop):
                cells = slice(row * w_out, row_end * w_out)
                out = y_mat[first:last, :, :, cells]
                # (G, F/G, taps) @ (B, G, taps, cells) -> (B, G, F/G, cells): y's layout
                np.matmul(w_mat, _columns(source, geo, row, row_end, cols_buffer), out=out)
                if bias is not None:  # one per filter (G, F/G, 1) or per cell (untied)
                    out += bias if bias.shape[-1] == 1 else bias[..., cells]

    over_images(geo, forward_images, exact=is_exact(y), split_rows=True)
    return y


def conv2d_backward(x: np.ndarray, w: np.ndarray, delta: np.ndarray,
                    stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                    dilation: int | Sequence[int] = 1, groups: int = 1,
                    padding_mode: str = "zeros") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward` given delta = dE/dy.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    w : ndarray (F, C/groups, kh, kw)
    delta : ndarray (N, F, H', W')
    stride, padding, dilation, groups, padding_mode
        As in :func:`conv2d_forward`.

    Returns
    -------
    dx : ndarray (N, C, H, W)
        dE/dx; the delta of a padded cell is added to the input cell it copies.
    dw : ndarray (F, C/groups, kh, kw)
    db : ndarray (F,)
        delta summed over N, H', W' (the gradient of a per-filter bias).

    Notes
    -----
    With cols the im2col matrix of xpad (y = w · cols): dw = Σ_images delta · colsᵀ and the
    delta of xpad is col2im(wᵀ · delta); with stride 1 it is computed instead as the
    correlation of delta, zero-padded by d·(k − 1), with the kernel rotated 180° (no col2im
    pass).  At stride 1 with enough channels dw and that correlation are each taken as one
    product per tap (or per kernel row of taps) straight from the padded maps (no im2col).
    Then dx = pad2d_backward(dxpad).  H' and W' as in the forward pass,
    floor((H + pad_total − d·(k − 1) − 1) / s) + 1.
    """
    x, w, delta = np.asarray(x), np.asarray(w), np.asarray(delta)
    geo = _geometry(x.shape, w.shape, stride, padding, dilation, groups, padding_mode)
    if delta.shape != geo.out_shape:
        raise ValueError(f"delta must have the output's shape {geo.out_shape}, got {delta.shape}")
    dtype = common_dtype(x=x, w=w, delta=delta)
    x, w, delta = (a.astype(dtype, copy=False) for a in (x, w, delta))
    if _small(geo, dtype):
        dx, dw = _small_backward(x, w, delta, geo)
        return dx, dw.reshape(w.shape), _bias_grad(delta)
    if _shifted(geo, dtype):  # writes every cell of dx: no zeros first
        return _shifted_backward(x, w, delta, geo, empty_result(x.shape, dtype))
    dx = zeros_result(x.shape, delta)
    if _depthwise(geo, dtype):
        dw = _depthwise_backward(x, w, delta, geo, dx)
        return dx, dw.reshape(w.shape), _bias_grad(delta)
    input_grad = (_input_grad_stride1 if _by_rotated_kernel(geo, exact=is_exact(dx))
                  else _input_grad_col2im)

    def input_images(start: int, stop: int, tile_bytes: int, row_start: int,
                     row_stop: int) -> np.ndarray | None:
        """dx of these images from these output rows: written into dx, or (a share of one
        image's rows read through col2im) the padded input's delta, added up below."""
        if (row_start, row_stop) == (0, geo.h_out):
            input_grad(w, delta, geo, dx, start, stop, tile_bytes)
        elif input_grad is _input_grad_stride1 and geo.mode == "zeros":
            # the same share of dx's rows, written straight into dx
            input_grad(w, delta, geo, dx, start, stop, tile_bytes,
                       rows=(geo.h * row_start // geo.h_out, geo.h * row_stop // geo.h_out))
        else:
            return _input_grad_col2im(w, delta, geo, dx, start, stop, tile_bytes,
                                      rows=(row_start, row_stop))
        return None

    def kernel_images(start: int, stop: int, tile_bytes: int, row_start: int,
                      row_stop: int) -> np.ndarray:
        return _kernel_grad(x, delta, geo, start, stop, tile_bytes, row_start, row_stop)

    db: dict[tuple[int, int], np.ndarray] = {}
    # im2col's kernel gradient beside the input delta's col2im: the bias sums with the first
    # (1×3×224×224 → 64 7×7/2 beside the input delta: 1.03-1.05 of the time)
    parts = over_images(geo, (input_images, _with_bias_grad(kernel_images, delta, db)),
                        exact=is_exact(dx), split_rows=True)
    dw = _sum_parts(part for _, part in parts)
    partials = [partial for partial, _ in parts if partial is not None]
    if partials:
        delta_padded = _sum_parts(partials)
        dx[...] = (pad2d_backward(delta_padded, geo.sides, geo.mode, (geo.h, geo.w))
                   if geo.sides != (0, 0, 0, 0) else delta_padded)
    return dx, dw.reshape(w.shape), _bias_total(db)


def _bias_grad(delta: np.ndarray) -> np.ndarray:
    # y = Σ w·x + b: each output cell has dy/db_f = 1
    return delta.sum(axis=(0, 2, 3))


def _with_bias_grad(work: Work, delta: np.ndarray, db: dict) -> Work:
    """``work`` (the input delta or the kernel gradient), and the bias gradient of its images
    and output rows too, in ``db`` by (first image, first row) (:func:`_bias_total` adds the
    shares up): summed on the threads, each its share of a batch, and for one image beside
    whichever work ends first (the shifted products' input delta; im2col's kernel
    gradient)."""
    def with_bias(start: int, stop: int, tile_bytes: int, row_start: int, row_stop: int):
        db[start, row_start] = _bias_grad(delta[start:stop, :, row_start:row_stop])
        return work(start, stop, tile_bytes, row_start, row_stop)
    return with_bias


def _bias_total(db: dict) -> np.ndarray:
    """The shares of :func:`_with_bias_grad` added up in the order of the images and rows
    (not the order the threads finished in: the same numbers every run)."""
    return _sum_parts(db[key] for key in sorted(db))


def _sum_parts(parts) -> np.ndarray:
    """The sum of the tasks' shares of a gradient (None: a task that did not compute it)."""
    shares = [part for part in parts if part is not None]
    return sum(shares[1:], shares[0])


def _shifted_backward(x, w, delta, geo: _Geometry, dx: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx (written into), dw and db by the shifted products, on the threads."""
    # one image's padded delta, shared by the threads that split its rows, folded back below
    padded = (np.empty((1, geo.c) + geo.padded_hw, dx.dtype)
              if geo.mode != "zeros" and geo.n == 1 else None)
    out_h = geo.h if geo.mode == "zeros" else geo.padded_hw[0]

    def input_images(start: int, stop: int, _tile_bytes: int, row_start: int,
                     row_stop: int) -> None:
        # a share of the output rows writes the same share of dx's (or the padded delta's)
        _shifted_input_grad(w, delta, geo, dx, start, stop, out_h * row_start // geo.h_out,
                            out_h * row_stop // geo.h_out, padded)

    def kernel_images(start: int, stop: int, _tile_bytes: int, row_start: int,
                      row_stop: int) -> np.ndarray:
        return _shifted_kernel_grad(x, delta, geo, start, stop, row_start, row_stop)

    db: dict[tuple[int, int], np.ndarray] = {}
    parts = over_images(geo, (_with_bias_grad(input_images, delta, db), kernel_images),
                        exact=False, split_rows=True)
    if padded is not None:
        dx[...] = pad2d_backward(padded, geo.sides, geo.mode, (geo.h, geo.w))
    return dx, _sum_parts(part for _, part in parts).reshape(w.shape), _bias_total(db)


def _by_rotated_kernel(geo: _Geometry, exact: bool = False) -> bool:
    """Whether the input delta is the delta correlated with the rotated kernel
    (:func:`_input_grad_stride1`) rather than col2im of wᵀ·delta.

    The correlation pays off at stride 1 when its delta columns (F/G·k² per cell) are not much
    bigger than the column deltas (C/G·k² per cell) col2im adds back: measured, 8 images,
    backward pass, F = C 0.92–0.96 of col2im's time, F = 2C 1.05–1.12.  It takes a term for
    every input cell and kernel cell, col2im one for every output cell and kernel cell: in
    fractions (``exact``), where each term is a Python multiply-add, a kernel nearly as large
    as its input (one output cell of a 1×6000 kernel: 6000² terms against 6000) goes to
    col2im, which the work budget counts."""
    if exact and geo.h * geo.w > 2 * geo.h_out * geo.w_out:
        return False
    return geo.stride == (1, 1) and geo.f_group < 2 * geo.c_group


def _kernel_grad(x: np.ndarray, delta: np.ndarray, geo: _Geometry, start: int, stop: int,
                 tile_bytes: int, row_start: int = 0, row_stop: int | None = None) -> np.ndarray:
    """dE/dw = Σ_images delta · colsᵀ over images ``start:stop`` and output rows
    ``row_start:row_stop``, tile by tile; (G, F/G, taps)."""
    row_stop = geo.h_out if row_stop is None else row_stop
    groups, taps, w_out = geo.groups, geo.c_group * geo.kh * geo.kw, geo.w_out
    delta_mat = delta.reshape(geo.n, groups, geo.f_group, geo.h_out * w_out)
    dw = zeros_like_dtype((groups, geo.f_group, taps), delta)
    # the product below holds one (F, C/G·k²) gradient per image of the tile
    tiling = _tiling(tile_bytes, stop - start, row_stop - row_start,
                     geo.c * geo.kh * geo.kw * w_out, delta.dtype.itemsize, geo.f * taps)
    cols_buffer = np.empty(tiling.images * tiling.rows * geo.c * geo.kh * geo.kw * w_out,
                           delta.dtype)
    for first, last in tiling.chunks(start, stop):
        source = _source(_pad_chunk(x[first:last], geo), geo, row_start, row_stop)
        for row, row_end in tiling.row_blocks(row_start, row_stop):
            cols_mat = _columns(source, geo, row, row_end, cols_buffer)
            delta_tile = delta_mat[first:last, :, :, row * w_out:row_end * w_out]
            # y = w·cols: dE/dw = delta·colsᵀ, summed over the images
            dw += _delta_cols_t(delta_tile, cols_mat)
    return dw


def _delta_cols_t(delta_tile: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Σ over the tile's images of delta · colsᵀ: (B, G, F/G, cells), (B, G, taps, cells) →
    (G, F/G, taps).

    float32 takes it as (cols · deltaᵀ)ᵀ: OpenBLAS's sgemm ran that orientation in 0.67–0.98
    of the time on conv shapes (64×576 by 3136 cells: 2.6 against 3.0 ms), its dgemm in
    0.86–1.15, so float64 keeps the direct one."""
    if delta_tile.dtype == np.float32:
        return np.matmul(cols, delta_tile.swapaxes(-1, -2)).sum(axis=0).swapaxes(-1, -2)
    return np.matmul(delta_tile, cols.swapaxes(-1, -2)).sum(axis=0)


def _input_grad_col2im(w: np.ndarray, delta: np.ndarray, geo: _Geometry, dx: np.ndarray,
                       start: int, stop: int, tile_bytes: int,
                       rows: tuple[int, int] | None = None) -> np.ndarray | None:
    """dx[start:stop] = pad2d_backward(col2im(wᵀ · delta)), tile by tile (dx holds zeros).

    With ``rows`` (output rows ``(first, stop)`` of the delta), dx is left alone: the padded
    input's delta from those rows alone is returned, (stop − start, C) + padded size."""
    groups, taps, w_out = geo.groups, geo.c_group * geo.kh * geo.kw, geo.w_out
    w_mat_t = w.reshape(groups, geo.f_group, taps).swapaxes(-1, -2)
    delta_mat = delta.reshape(geo.n, groups, geo.f_group, geo.h_out * w_out)
    padded, phased, sh = geo.sides != (0, 0, 0, 0), _phased(geo), geo.stride[0]
    row_start, row_stop = (0, geo.h_out) if rows is None else rows
    tiling = _tiling(tile_bytes, stop - start, row_stop - row_start,
                     geo.c * geo.kh * geo.kw * w_out, delta.dtype.itemsize)
    if rows is not None:
        tiling = _Tiling(stop - start, tiling.rows)  # one chunk: the partial is returned whole
    dcols_buffer = np.empty(tiling.images * tiling.rows * geo.c * geo.kh * geo.kw * w_out,
                            delta.dtype)
    # zero padding's phases hold every cell of dx: they are written straight into it (which
    # holds zeros), the padding's cells left out, instead of onto a padded delta first
    phases_to_dx = phased and rows is None and geo.mode == "zeros"
    for first, last in tiling.chunks(start, stop):
        shape = (last - first, geo.c) + geo.padded_hw
        # without padding, xpad is x and its delta is dx itself
        delta_padded = (None if phases_to_dx
                        else zeros_like_dtype(shape, delta) if padded or rows is not None
                        else dx[first:last])
        # a strided kernel adds its taps onto the stride phases of the rows they read, then
        # the phases onto the cells (the same sums: each cell is in one phase)
        target = (_Phases.zeros(shape, geo.stride, delta, row_start * sh,
                                (row_stop - 1) * sh + geo.dilation[0] * (geo.kh - 1) + 1)
                  if phased else delta_padded)
        for row, row_end in tiling.row_blocks(row_start, row_stop):
            dcols = _view(dcols_buffer,
                          (last - first, geo.c, geo.kh, geo.kw, row_end - row, w_out))
            # y = w·cols: dE/dcols = wᵀ·delta
            np.matmul(w_mat_t, delta_mat[first:last, :, :, row * w_out:row_end * w_out],
                      out=dcols.reshape(last - first, groups, taps, -1))
            _col2im(dcols, geo.stride, geo.dilation, (row * sh, 0), target)
        if phases_to_dx:
            target.crop_into(dx[first:last], geo.sides[0], geo.sides[2])
            continue
        if phased:
            target.add_to(delta_padded)
        if rows is not None:
            return delta_padded
        if padded:
            dx[first:last] = pad2d_backward(delta_padded, geo.sides, geo.mode, (geo.h, geo.w))
    return None


def _input_grad_stride1(w: np.ndarray, delta: np.ndarray, geo: _Geometry, dx: np.ndarray,
                        start: int, stop: int, tile_bytes: int,
                        rows: tuple[int, int] | None = None) -> None:
    """dx[start:stop] for stride 1: the zero-padded delta correlated with the rotated kernel.

    ``rows``: only dx's rows ``(first, stop)`` (zero padding only).

    dxpad[b, c, r, q] = Σ_f Σ_m Σ_n w[f, c, kh−1−m, kw−1−n] · δpad[b, f, r + m·dh, q + n·dw]
    (f in c's group) with δpad = delta zero-padded by d·(k − 1) on both sides of each axis.
    With zero padding only the input's own cells are computed, straight into dx.
    """
    groups, cg, fg = geo.groups, geo.c_group, geo.f_group
    taps, (dh, dw_) = fg * geo.kh * geo.kw, geo.dilation
    # rotated, filters and channels swapped within each group: (G, C/G, F/G·kh·kw)
    w_rot = (w[:, :, ::-1, ::-1].reshape(groups, fg, cg, geo.kh, geo.kw)
             .swapaxes(1, 2).reshape(groups, cg, taps))
    delta_sides = (dh * (geo.kh - 1),) * 2 + (dw_ * (geo.kw - 1),) * 2
    if geo.mode == "zeros":
        # the input's cells sit at (top, left) in xpad; the padding's own deltas are dropped
        (out_h, out_w), corner = (geo.h, geo.w), (geo.sides[0], geo.sides[2])
    else:
        (out_h, out_w), corner = geo.padded_hw, (0, 0)
    row_start, row_stop = (0, out_h) if rows is None else rows
    if rows is not None and geo.mode != "zeros":
        raise ValueError("a share of the rows needs zero padding")
    if row_stop <= row_start:
        return  # a share of the output rows that reaches none of the input's (deep padding)
    tiling = _tiling(tile_bytes, stop - start, row_stop - row_start,
                     geo.f * geo.kh * geo.kw * out_w, delta.dtype.itemsize)
    cols_buffer = np.empty(tiling.images * tiling.rows * geo.f * geo.kh * geo.kw * out_w,
                           delta.dtype)
    for first, last in tiling.chunks(start, stop):
        size = last - first
        delta_padded = pad2d(delta[first:last], delta_sides, "zeros")
        if geo.mode == "zeros":
            target = dx[first:last]
        else:
            target = np.empty((size, geo.c) + geo.padded_hw, dtype=delta.dtype)
        target_mat = target.reshape(size, groups, cg, out_h * out_w)
        for row, row_end in tiling.row_blocks(row_start, row_stop):
            cols = _view(cols_buffer, (size, geo.f, geo.kh, geo.kw, row_end - row, out_w))
            _im2col(delta_padded, (1, 1), geo.dilation, (corner[0] + row, corner[1]), cols)
            np.matmul(w_rot, cols.reshape(size, groups, taps, -1),
                      out=target_mat[:, :, :, row * out_w:row_end * out_w])
        if geo.mode != "zeros":
            dx[first:last] = pad2d_backward(target, geo.sides, geo.mode, (geo.h, geo.w))


# --------------------------------------------------------------------------------------
# naive references: plain loops straight from the formula


def padded_source(p: int, size: int, before: int, mode: str) -> int | None:
    """The input position padded position ``p`` copies along one axis; None for a zero cell.

    Plain integer arithmetic, for the naive reference and for ``explain``."""
    q = p - before
    if 0 <= q < size:
        return q
    if mode == "zeros":
        return None
    elif mode == "reflect":
        return -q if q < 0 else 2 * (size - 1) - q
    elif mode == "replicate":
        return 0 if q < 0 else size - 1
    elif mode == "circular":
        return q % size
    else:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}; got {mode!r}")


def pad2d_naive(x, sides, mode="zeros") -> np.ndarray:
    """Plain-loop reference for :func:`pad2d` (same arguments and result)."""
    x = np.asarray(x)
    _check_padding_mode(mode)
    top, bottom, left, right = sides4 = four_sides(sides)
    height, width = x.shape[-2:]
    _check_sides(sides4, mode, (height, width))
    padded = zeros_like_dtype(x.shape[:-2] + (height + top + bottom, width + left + right), x)
    for lead in np.ndindex(*x.shape[:-2]):
        for p in range(height + top + bottom):
            for q in range(width + left + right):
                r = padded_source(p, height, top, mode)
                c = padded_source(q, width, left, mode)
                if r is not None and c is not None:  # else a zero cell
                    padded[lead + (p, q)] = x[lead + (r, c)]
    return padded


def pad2d_backward_naive(delta_padded, sides, mode, input_hw) -> np.ndarray:
    """Plain-loop reference for :func:`pad2d_backward` (same arguments and result)."""
    delta_padded = np.asarray(delta_padded)
    top, bottom, left, right = _padded_delta_checked(delta_padded, sides, mode, input_hw)
    height, width = input_hw
    delta = zeros_like_dtype(delta_padded.shape[:-2] + (height, width), delta_padded)
    for lead in np.ndindex(*delta_padded.shape[:-2]):
        for p, q in np.ndindex(*delta_padded.shape[-2:]):
            r = padded_source(p, height, top, mode)
            c = padded_source(q, width, left, mode)
            if r is not None and c is not None:  # a zero cell's delta reaches nothing
                delta[lead + (r, c)] += delta_padded[lead + (p, q)]
    return delta


def _naive_terms(x, w, stride, padding, dilation, groups, padding_mode):
    """Yield (y index, x index or None for a zero-padded cell, w index) for every product."""
    geo = _geometry(np.shape(x), np.shape(w), stride, padding, dilation, groups, padding_mode)
    top, _, left, _ = geo.sides
    for n in range(geo.n):
        for f in range(geo.f):
            g = f // geo.f_group
            for i in range(geo.h_out):
                for j in range(geo.w_out):
                    for c in range(geo.c_group):
                        for m in range(geo.kh):
                            for k in range(geo.kw):
                                r = padded_source(i * geo.stride[0] + m * geo.dilation[0],
                                                  geo.h, top, padding_mode)
                                s = padded_source(j * geo.stride[1] + k * geo.dilation[1],
                                                  geo.w, left, padding_mode)
                                source = None if r is None or s is None else (
                                    n, g * geo.c_group + c, r, s)
                                yield (n, f, i, j), source, (f, c, m, k)


def conv2d_forward_naive(x, w, b=None, stride=1, padding=0, dilation=1, groups=1,
                         padding_mode="zeros"):
    """Plain-loop reference for :func:`conv2d_forward` (same arguments and result)."""
    x, w = np.asarray(x), np.asarray(w)
    geo = _geometry(x.shape, w.shape, stride, padding, dilation, groups, padding_mode)
    b = None if b is None else np.asarray(b)
    if b is not None:
        _check_bias(b, geo)
    dtype = common_dtype(x=x, w=w, b=b)
    y = zeros_like_dtype(geo.out_shape, np.empty(0, dtype))
    for out, source, tap in _naive_terms(x, w, stride, padding, dilation, groups, padding_mode):
        if source is not None:
            y[out] += w[tap] * x[source]
    if b is not None:
        for n, f, i, j in np.ndindex(*geo.out_shape):
            y[n, f, i, j] += b[f] if b.ndim == 1 else b[f, i, j]
    return y


def conv2d_backward_naive(x, w, delta, stride=1, padding=0, dilation=1, groups=1,
                          padding_mode="zeros"):
    """Plain-loop reference for :func:`conv2d_backward` (same arguments and result)."""
    x, w, delta = np.asarray(x), np.asarray(w), np.asarray(delta)
    geo = _geometry(x.shape, w.shape, stride, padding, dilation, groups, padding_mode)
    if delta.shape != geo.out_shape:
        raise ValueError(f"delta must have the output's shape {geo.out_shape}, got {delta.shape}")
    dtype = common_dtype(x=x, w=w, delta=delta)
    like = np.empty(0, dtype)
    dx, dw = zeros_like_dtype(x.shape, like), zeros_like_dtype(w.shape, like)
    db = zeros_like_dtype(w.shape[:1], like)
    for out, source, tap in _naive_terms(x, w, stride, padding, dilation, groups, padding_mode):
        if source is not None:
            dx[source] += w[tap] * delta[out]
            dw[tap] += x[source] * delta[out]
    for n, f, i, j in np.ndindex(*delta.shape):
        db[f] += delta[n, f, i, j]
    return dx, dw, db


__all__ = ["PADDING_MODES", "conv2d_backward", "conv2d_backward_naive", "conv2d_forward",
           "conv2d_forward_naive", "pad2d", "pad2d_backward", "pad2d_naive",
           "pad2d_backward_naive"]
