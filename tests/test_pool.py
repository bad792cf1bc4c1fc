"""Max and average pooling: literal hand-computed cases, fast == naive, finite differences,
exact Fractions, float32, and PyTorch (when installed)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnngrad.layers import pool
from cnngrad.layers._common import pair, pool_output_size
from cnngrad.layers.pool import (
    TIE_RULES,
    avgpool2d_backward,
    avgpool2d_backward_naive,
    avgpool2d_divisors,
    avgpool2d_forward,
    avgpool2d_forward_naive,
    maxpool2d_argmax_mask,
    maxpool2d_backward,
    maxpool2d_backward_naive,
    maxpool2d_forward,
    maxpool2d_forward_naive,
    maxpool2d_tied_windows,
)


def as_maps(rows) -> np.ndarray:
    """A 2-D literal as a (1, 1, H, W) float64 array."""
    return np.array(rows, dtype=np.float64)[None, None]


def fractions(rows) -> np.ndarray:
    """A literal as an object array of Fractions (exact mode)."""
    a = np.array(rows, dtype=object)
    return np.vectorize(Fraction, otypes=[object])(a)


# --------------------------------------------------------------------------------------
# literal, hand-computed cases

# windows 2×2/2: top-left ties 3 at (0,1),(1,0); top-right 4 alone; bottom-left 2 alone;
# bottom-right ties 5 three ways at (2,2),(2,3),(3,2)
TIE_X = [[1, 3, 2, 0],
         [3, 2, 1, 4],
         [0, 1, 5, 5],
         [2, 0, 5, 4]]
TIE_DELTA = [[6, 2],
             [3, 9]]
TIE_EXPECTED = {
    "first": [[0, 6, 0, 0],
              [0, 0, 0, 2],
              [0, 0, 9, 0],
              [3, 0, 0, 0]],
    "split": [[0, 3, 0, 0],
              [3, 0, 0, 2],
              [0, 0, 3, 3],
              [3, 0, 3, 0]],
    "all": [[0, 6, 0, 0],
            [6, 0, 0, 2],
            [0, 0, 9, 9],
            [3, 0, 9, 0]],
}


def test_maxpool_literal_forward_and_tied_windows():
    x = as_maps(TIE_X)
    np.testing.assert_array_equal(maxpool2d_forward(x, 2)[0, 0], [[3, 4], [2, 5]])
    np.testing.assert_array_equal(maxpool2d_tied_windows(x, 2)[0, 0], [[True, False], [False, True]])


@pytest.mark.parametrize("ties", TIE_RULES)
@pytest.mark.parametrize("kernel", [maxpool2d_backward, maxpool2d_backward_naive])
def test_maxpool_literal_ties(kernel, ties):
    delta_in = kernel(as_maps(TIE_X), as_maps(TIE_DELTA), 2, ties=ties)
    np.testing.assert_array_equal(delta_in[0, 0], TIE_EXPECTED[ties])


@pytest.mark.parametrize("ties", TIE_RULES)
def test_maxpool_literal_ties_exact(ties):
    delta_in = maxpool2d_backward(fractions(TIE_X)[None, None], fractions(TIE_DELTA)[None, None], 2,
                                  ties=ties)
    assert delta_in.dtype == object
    assert delta_in[0, 0].tolist() == TIE_EXPECTED[ties]


def test_maxpool_argmax_mask_literal():
    x = as_maps(TIE_X)
    np.testing.assert_array_equal(maxpool2d_argmax_mask(x, 2, ties="first")[0, 0],
                                  [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [1, 0, 0, 0]])
    mask = maxpool2d_argmax_mask(fractions(TIE_X)[None, None], 2, ties="split")[0, 0]
    third, half = Fraction(1, 3), Fraction(1, 2)
    assert mask.tolist() == [[0, half, 0, 0], [half, 0, 0, 1], [0, 0, third, third], [1, 0, third, 0]]


@pytest.mark.parametrize("kernel", [maxpool2d_backward, maxpool2d_backward_naive])
def test_maxpool_overlapping_cell_wins_two_windows(kernel):
    # 3×3 windows at stride 1 over 3×5: columns 0–2, 1–3, 2–4.  The 9 at (1,1) is the maximum
    # of the first two windows and collects both deltas; the 8 at (2,3) wins the third.
    x = as_maps([[1, 2, 0, 3, 7],
                 [4, 9, 5, 2, 1],
                 [0, 1, 6, 8, 2]])
    np.testing.assert_array_equal(maxpool2d_forward(x, 3, 1)[0, 0], [[9, 9, 8]])
    delta_in = kernel(x, as_maps([[2, 5, -1]]), 3, 1)
    np.testing.assert_array_equal(delta_in[0, 0], [[0, 0, 0, 0, 0],
                                                   [0, 7, 0, 0, 0],
                                                   [0, 0, 0, -1, 0]])


# 4×6 input, 3×3 windows, stride 2, padding 1, ceil_mode.  Rows: H' = ceil((4+2−3)/2)+1 = 3,
# windows start at −1, 1, 3; the last spans row 3 and padding row 4 (rows 5 would be outside
# the padded input).  Cols: W' = ceil((6+2−3)/2)+1 = 4, windows start at −1, 1, 3, 5; the last
# spans col 5 and padding col 6.
#   rows inside the padded input: 3, 3, 2    real rows: 2, 3, 1
#   cols inside the padded input: 3, 3, 3, 2 real cols: 2, 3, 3, 1
CEIL_DIVISORS = {
    True: [[9, 9, 9, 6],
           [9, 9, 9, 6],
           [6, 6, 6, 4]],
    False: [[4, 6, 6, 2],
            [6, 9, 9, 3],
            [2, 3, 3, 1]],
}
# window sums of x[r, c] = 6r + c, e.g. the first window holds 0, 1, 6, 7
CEIL_SUMS = [[14, 30, 42, 16],
             [75, 126, 144, 51],
             [37, 60, 66, 23]]


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avgpool_ceil_mode_padding_literal(count_include_pad):
    divisors = avgpool2d_divisors((4, 6), 3, 2, 1, ceil_mode=True, count_include_pad=count_include_pad)
    np.testing.assert_array_equal(divisors, CEIL_DIVISORS[count_include_pad])
    x = fractions(np.arange(24).reshape(4, 6))[None, None]
    expected = [[Fraction(s, d) for s, d in zip(srow, drow)]
                for srow, drow in zip(CEIL_SUMS, CEIL_DIVISORS[count_include_pad])]
    for forward in (avgpool2d_forward, avgpool2d_forward_naive):
        y = forward(x, 3, 2, 1, ceil_mode=True, count_include_pad=count_include_pad)
        assert y[0, 0].tolist() == expected
    # dE/dx for a delta of ones: each real cell collects 1/divisor from every window holding it
    ones = np.ones((1, 1, 3, 4), dtype=object)
    delta_in = avgpool2d_backward(x, ones, 3, 2, 1, ceil_mode=True, count_include_pad=count_include_pad)
    d = CEIL_DIVISORS[count_include_pad]
    assert delta_in[0, 0, 0, 0] == Fraction(1, d[0][0])
    assert delta_in[0, 0, 1, 1] == Fraction(1, d[0][0]) + Fraction(1, d[0][1]) + Fraction(1, d[1][0]) \
        + Fraction(1, d[1][1])
    assert delta_in[0, 0, 3, 5] == Fraction(1, d[1][2]) + Fraction(1, d[1][3]) + Fraction(1, d[2][2]) \
        + Fraction(1, d[2][3])


@pytest.mark.parametrize("size, pad, k, stride, ceil_mode, expected", [
    (5, 0, 2, 2, False, 2),
    (5, 0, 2, 2, True, 3),   # last window starts at 4, inside the input
    (5, 1, 2, 2, True, 3),   # a 4th window would start at 6 = in the right padding: dropped
    (4, 1, 3, 2, True, 3),
    (6, 1, 3, 2, True, 4),
    (6, 1, 3, 2, False, 3),
    (2, 0, 3, 2, True, 1),   # torch's ceil for a negative span: ceil(−1/2) + 1 = 1
    (2, 0, 3, 2, False, 0),
    (112, 0, 2, 2, False, 56),
    (112, 1, 3, 2, False, 56),
])
def test_pool_output_size_literal(size, pad, k, stride, ceil_mode, expected):
    assert pool_output_size(size, pad, k, stride, ceil_mode) == expected


# --------------------------------------------------------------------------------------
# fast == naive


def random_maps(rng, shape, tied: bool, dtype=np.float64) -> np.ndarray:
    """Small integers (many exact ties) or normal floats."""
    if tied:
        return rng.integers(-1, 2, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def check_fast_equals_naive(x, delta_seed, size, stride, padding, ceil_mode):
    rng = np.random.default_rng(delta_seed)
    y = maxpool2d_forward(x, size, stride, padding, ceil_mode)
    np.testing.assert_array_equal(y, maxpool2d_forward_naive(x, size, stride, padding, ceil_mode))
    # integer deltas keep "first" and "all" exact whatever the order of the sums
    delta = rng.integers(-3, 4, size=y.shape).astype(x.dtype)
    for ties in TIE_RULES:
        fast = maxpool2d_backward(x, delta, size, stride, padding, ceil_mode, ties)
        naive = maxpool2d_backward_naive(x, delta, size, stride, padding, ceil_mode, ties)
        assert fast.dtype == x.dtype
        np.testing.assert_allclose(fast, naive, rtol=1e-12, atol=1e-12)
    delta = rng.standard_normal(y.shape).astype(x.dtype)
    for count_include_pad in (True, False):
        args = (size, stride, padding, ceil_mode, count_include_pad)
        np.testing.assert_allclose(avgpool2d_forward(x, *args), avgpool2d_forward_naive(x, *args),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(avgpool2d_backward(x, delta, *args),
                                   avgpool2d_backward_naive(x, delta, *args), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("padding", [0, 1, (1, 0)])
@pytest.mark.parametrize("size, stride", [(2, None), (3, 1), (3, 2), ((2, 3), (1, 2)), (2, 3)])
def test_fast_equals_naive_grid(size, stride, padding, ceil_mode, tied):
    k = pair(size)
    p = pair(padding)
    if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
        pytest.skip("padding larger than half the window")
    rng = np.random.default_rng(7)
    x = random_maps(rng, (2, 2, 7, 6), tied)
    check_fast_equals_naive(x, 1, size, stride, padding, ceil_mode)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(kh <= h + 2 * ph and kw <= w + 2 * pw)
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    return (n, c, h, w), (kh, kw), (sh, sw), (ph, pw), draw(st.booleans()), draw(st.booleans()), \
        draw(st.integers(0, 2**31))


@settings(max_examples=50, deadline=None)
@given(pool_cases())
def test_fast_equals_naive_hypothesis(case):
    shape, size, stride, padding, ceil_mode, tied, seed = case
    x = random_maps(np.random.default_rng(seed), shape, tied)
    check_fast_equals_naive(x, seed + 1, size, stride, padding, ceil_mode)


def test_chunked_threaded_path_equals_naive(monkeypatch):
    # one map per chunk, threads from the first byte: the large-input code path on a small input
    monkeypatch.setattr(pool, "CHUNK_BYTES", 1)
    monkeypatch.setattr(pool, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(pool, "_threads", lambda: 3)
    rng = np.random.default_rng(3)
    for size, stride, padding, ceil_mode in [(2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False)]:
        check_fast_equals_naive(random_maps(rng, (3, 4, 7, 8), True), 5, size, stride, padding, ceil_mode)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size, stride, padding, ceil_mode",
                         [(2, 2, 0, False), (3, 2, 1, False), (3, 2, 0, True), (3, 1, 1, False),
                          ((2, 3), (1, 2), (1, 0), True), (4, 3, 2, True), (5, 2, 2, False)])
def test_tap_by_tap_argmax_equals_naive(monkeypatch, size, stride, padding, ceil_mode, dtype):
    # with no window ever copied out, every float max pool finds its first maxima tap by tap
    # (the path of large inputs), on maps full of ties and on inputs with −∞
    monkeypatch.setattr(pool, "GATHER_MAX_ELEMENTS", 0)
    rng = np.random.default_rng(11)
    x = random_maps(rng, (2, 3, 9, 8), True, dtype)
    if dtype == np.float64:
        check_fast_equals_naive(x, 2, size, stride, padding, ceil_mode)
    x[0, 0] = -np.inf  # windows holding only −∞ send their delta to their first real cell
    x[1, 2, :, :4] = -np.inf
    args = (size, stride, padding, ceil_mode)
    # integer deltas: the sums are exact in float32 too
    delta = rng.integers(-3, 4, size=maxpool2d_forward(x, *args).shape).astype(dtype)
    fast = maxpool2d_backward(x, delta, *args)
    assert fast.dtype == dtype
    np.testing.assert_array_equal(fast, maxpool2d_backward_naive(x, delta, *args))


def count_pairs(monkeypatch) -> list:
    """Send every float 2×2/2 max pool's backward pass through the pairs, however small, and
    record what each chunk's call answered."""
    monkeypatch.setattr(pool, "GATHER_MAX_ELEMENTS", 0)
    answers = []
    kernel = pool._max_backward_pairs

    def counted(*args):
        answers.append(kernel(*args))
        return answers[-1]

    monkeypatch.setattr(pool, "_max_backward_pairs", counted)
    return answers


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (1, 2, 4, 4), (2, 1, 6, 11)])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pairs_path_equals_naive(monkeypatch, dtype, shape, tied, ceil_mode):
    # 2×2 windows at stride 2: each row's larger cell, then the larger row; a last odd row
    # or column (in no window) keeps its 0; ceil mode's partial windows go the general way
    answers = count_pairs(monkeypatch)
    rng = np.random.default_rng(sum(shape))
    x = random_maps(rng, shape, tied, dtype)
    delta = rng.integers(-3, 4, size=maxpool2d_forward(x, 2, 2, 0, ceil_mode).shape)
    delta = delta.astype(dtype)
    fast = maxpool2d_backward(x, delta, 2, 2, 0, ceil_mode)
    assert fast.dtype == dtype
    np.testing.assert_array_equal(fast, maxpool2d_backward_naive(x, delta, 2, 2, 0, ceil_mode))
    partial = ceil_mode and (shape[2] % 2 or shape[3] % 2)
    assert answers == ([] if partial else [True])


@pytest.mark.parametrize("special", [np.nan, -np.inf])
def test_pairs_leave_nan_and_minus_infinity_windows_to_the_general_rule(monkeypatch, special):
    rng = np.random.default_rng(8)
    x = random_maps(rng, (2, 2, 6, 6), True)
    x[0, 1, 2, 3] = special
    x[1, 0, :2, :2] = special
    delta = rng.standard_normal((2, 2, 3, 3))
    answers = count_pairs(monkeypatch)
    fast = maxpool2d_backward(x, delta, 2)
    assert answers == [False]
    monkeypatch.setattr(pool, "_pairs_pay", lambda x, geo: False)
    np.testing.assert_array_equal(fast, maxpool2d_backward(x, delta, 2))


def test_pairs_on_chunks_and_threads_equal_naive(monkeypatch):
    answers = count_pairs(monkeypatch)
    monkeypatch.setattr(pool, "CHUNK_BYTES", 1)
    monkeypatch.setattr(pool, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(pool, "_threads", lambda: 3)
    rng = np.random.default_rng(12)
    x = random_maps(rng, (3, 4, 8, 10), True)
    delta = rng.standard_normal((3, 4, 4, 5))
    np.testing.assert_array_equal(maxpool2d_backward(x, delta, 2),
                                  maxpool2d_backward_naive(x, delta, 2))
    assert answers == [True] * 12  # a map a chunk


def force_planes(monkeypatch, chunk_bytes=None, threads=None) -> list:
    """Send every overlapping float max pool's backward pass ("first") through the phase
    planes, however small, and count the chunks it runs."""
    monkeypatch.setattr(pool, "PLANES_MIN_WINDOW_CELLS", 0)
    monkeypatch.setattr(pool, "GATHER_MAX_ELEMENTS", 0)
    if chunk_bytes is not None:
        monkeypatch.setattr(pool, "PLANES_CHUNK_BYTES", chunk_bytes)
    if threads is not None:
        monkeypatch.setattr(pool, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(pool, "_threads", lambda: threads)
    chunks = []
    kernel = pool._max_backward_planes

    def counted(x, *args):
        chunks.append(x.shape[0])
        kernel(x, *args)

    monkeypatch.setattr(pool, "_max_backward_planes", counted)
    return chunks


PLANES_GEOMETRIES = [
    # size, stride, padding, ceil_mode
    (3, 2, 1, False), (3, 2, 0, True), (3, 1, 1, False), (2, 1, 1, True),
    ((2, 3), (1, 2), (1, 0), True), (4, 3, 2, True), (5, 2, 2, False),
    ((3, 1), (2, 2), (1, 0), False),  # 1 column at stride 2: a phase no tap reads
    ((1, 3), (1, 1), (0, 1), True), (8, 7, 4, True), ((3, 1), 1, (1, 0), False),
]


@pytest.mark.parametrize("small_below, chunks", [(16 * 2**20, 8), (0, 2)])
def test_phase_planes_take_small_chunks_of_small_inputs(monkeypatch, small_below, chunks):
    # 256 maps of 32×32 float64 (2 MiB): chunks of 256 KiB (32 maps) below 16 MiB of input,
    # else of 1 MiB (128 maps); the same result either way
    seen = force_planes(monkeypatch)
    monkeypatch.setattr(pool, "PLANES_SMALL_INPUT_BYTES", small_below)
    rng = np.random.default_rng(9)
    x = random_maps(rng, (4, 64, 32, 32), True)
    delta = rng.standard_normal(maxpool2d_forward(x, 3, 2, 1).shape)
    np.testing.assert_array_equal(maxpool2d_backward(x, delta, 3, 2, 1),
                                  maxpool2d_backward_naive(x, delta, 3, 2, 1))
    assert len(seen) == chunks and sum(seen) == 256


@pytest.mark.parametrize("chunk_bytes, threads", [(None, None), (1, 3), (1500, None), (500, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size, stride, padding, ceil_mode", PLANES_GEOMETRIES)
def test_phase_planes_equal_naive(monkeypatch, size, stride, padding, ceil_mode, dtype,
                                  chunk_bytes, threads):
    # maps full of ties (the first maximum in row-major order must win), −∞ cells that tie
    # the padding, chunks of one map or a few, on threads: the same as the plain loops, bit
    # for bit (integer deltas: every sum exact)
    chunks = force_planes(monkeypatch, chunk_bytes, threads)
    rng = np.random.default_rng(12)
    x = random_maps(rng, (3, 3, 9, 10), True, dtype)
    x[0, 1] = -np.inf  # every window −∞ only: its first real cell, never the padding
    x[2, 0, :4, :5] = -np.inf
    x[1, 2, ::2] = -np.inf
    args = (size, stride, padding, ceil_mode)
    delta = rng.integers(-3, 4, size=maxpool2d_forward(x, *args).shape).astype(dtype)
    fast = maxpool2d_backward(x, delta, *args)
    assert chunks and sum(chunks) == 9
    if chunk_bytes == 1:
        assert len(chunks) == 9
    assert fast.dtype == dtype
    np.testing.assert_array_equal(fast, maxpool2d_backward_naive(x, delta, *args))
    np.testing.assert_array_equal(maxpool2d_argmax_mask(x, *args),
                                  maxpool2d_backward_naive(x, np.ones_like(delta), *args))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, size, stride, padding, ceil_mode", [
    ((1, 2, 6, 70), 3, 1, 1, False),  # offsets in the padded map up to 2·72 + 2: int16 codes
    ((2, 1, 5, 140), (2, 3), 2, (1, 1), True),
])
def test_phase_planes_wide_maps_equal_naive(monkeypatch, shape, size, stride, padding, ceil_mode,
                                            dtype):
    force_planes(monkeypatch)
    rng = np.random.default_rng(13)
    x = random_maps(rng, shape, True, dtype)
    args = (size, stride, padding, ceil_mode)
    layout = pool._planes(*(pair(v) for v in (shape[2:], size, stride, padding)),
                          maxpool2d_forward(x, *args).shape[2:])
    assert layout.code_dtype == np.int16
    delta = rng.integers(-3, 4, size=maxpool2d_forward(x, *args).shape).astype(dtype)
    np.testing.assert_array_equal(maxpool2d_backward(x, delta, *args),
                                  maxpool2d_backward_naive(x, delta, *args))


@settings(max_examples=40, deadline=None)
@given(pool_cases())
def test_phase_planes_equal_naive_hypothesis(case):
    shape, size, stride, padding, ceil_mode, tied, seed = case
    rng = np.random.default_rng(seed)
    x = random_maps(rng, shape, tied)
    args = (size, stride, padding, ceil_mode)
    delta = rng.standard_normal(maxpool2d_forward(x, *args).shape)
    with pytest.MonkeyPatch.context() as patch:
        chunks = force_planes(patch, chunk_bytes=int(rng.integers(1, 2000)))
        fast = maxpool2d_backward(x, delta, *args)
    overlapping = pair(stride)[0] < pair(size)[0] or pair(stride)[1] < pair(size)[1]
    assert bool(chunks) == overlapping
    # the plain loops add a cell's deltas in window order, as the planes do: the same bits
    np.testing.assert_array_equal(fast, maxpool2d_backward_naive(x, delta, *args))


@pytest.mark.parametrize("chunk_bytes", [None, 1])
def test_phase_planes_nan_window_sends_its_delta_to_its_first_nan(monkeypatch, chunk_bytes):
    # a window whose maximum is NaN: its delta to its first NaN (row-major), as the
    # gathered windows' argmax does; the others as usual
    x = as_maps([[1, 9, 2, 0, 3],
                 [4, np.nan, 5, np.nan, 1],
                 [0, 2, 6, 8, 7]])
    delta = as_maps([[10, 20, 30]])
    expected = [[0, 0, 0, 0, 0],
                [0, 10 + 20, 0, 30, 0],
                [0, 0, 0, 0, 0]]
    np.testing.assert_array_equal(maxpool2d_backward(x, delta, 3, 1)[0, 0], expected)  # gathered
    chunks = force_planes(monkeypatch, chunk_bytes)
    np.testing.assert_array_equal(maxpool2d_backward(x, delta, 3, 1)[0, 0], expected)
    assert chunks
    # 3×3/2, padded: the NaN wins its two windows, the −∞ window its first real cell (not
    # the padding), the tie of 6s its first
    x = as_maps([[-np.inf, -np.inf, 1, 2, 7],
                 [-np.inf, -np.inf, np.nan, 0, 1],
                 [3, 4, 5, 6, 6]])
    delta = as_maps([[1, 2, 4], [8, 16, 32]])
    np.testing.assert_array_equal(maxpool2d_backward(x, delta, 3, 2, 1)[0, 0],
                                  [[1, 0, 0, 0, 4],
                                   [0, 0, 2 + 16, 0, 0],
                                   [0, 8, 0, 32, 0]])


def test_phase_planes_scratch_kept_between_calls_holds_nothing_stale(monkeypatch):
    # the second call reuses the first one's scratch arrays: its windows of −∞ only must
    # still see −∞ padding (never the first call's values) and pick their first real cell
    chunks = force_planes(monkeypatch, chunk_bytes=2 * 7 * 6 * 8)  # 2 maps a chunk, then 1
    rng = np.random.default_rng(15)
    args = (3, 2, 1, True)
    first = random_maps(rng, (1, 5, 7, 6), False) + 100
    second = np.full_like(first, -np.inf)
    second[0, 1, 3:, 2:] = rng.standard_normal((4, 4))
    delta = rng.integers(1, 4, size=maxpool2d_forward(first, *args).shape).astype(np.float64)
    for x in (first, second, first):
        np.testing.assert_array_equal(maxpool2d_backward(x, delta, *args),
                                      maxpool2d_backward_naive(x, delta, *args))
    assert chunks == [2, 2, 1] * 3


def test_phase_planes_non_contiguous_inputs(monkeypatch):
    chunks = force_planes(monkeypatch, chunk_bytes=700)
    rng = np.random.default_rng(14)
    x = random_maps(rng, (9, 2, 3, 16), True).transpose(2, 1, 0, 3)[:, :, :, ::2]  # (3, 2, 9, 8)
    y = maxpool2d_forward(x, 3, 2, 1)
    delta = rng.integers(-3, 4, size=(y.shape[3], y.shape[1], y.shape[2], y.shape[0]))
    delta = delta.astype(np.float64).transpose(3, 1, 2, 0)
    assert not x.flags.c_contiguous and not delta.flags.c_contiguous
    np.testing.assert_array_equal(maxpool2d_backward(x, delta, 3, 2, 1),
                                  maxpool2d_backward_naive(x, delta, 3, 2, 1))
    assert len(chunks) > 1


def test_phase_planes_infinite_deltas_reach_only_their_winners(monkeypatch):
    force_planes(monkeypatch)
    x = np.arange(16.0).reshape(1, 1, 4, 4)  # 3×3/2 p1: the maxima at 5, 7, 13 and 15
    delta = np.array([[[[np.inf, 1.0], [-np.inf, np.nan]]]])
    delta_in = maxpool2d_backward(x, delta, 3, 2, 1)
    np.testing.assert_array_equal(delta_in[0, 0], [[0, 0, 0, 0],
                                                   [0, np.inf, 0, 1],
                                                   [0, 0, 0, 0],
                                                   [0, -np.inf, 0, np.nan]])


# --------------------------------------------------------------------------------------
# central finite differences of E = Σ delta · y


def finite_difference_grad(forward, x, delta, step):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + step
        plus = np.sum(delta * forward(x))
        x[index] = saved - step
        minus = np.sum(delta * forward(x))
        x[index] = saved
        grad[index] = (plus - minus) / (2 * step)
    return grad


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("size, stride, padding, ceil_mode", [
    (2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), ((3, 2), (2, 1), (1, 0), True),
])
def test_avgpool_finite_differences(size, stride, padding, ceil_mode, count_include_pad):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 5, 6))
    args = (size, stride, padding, ceil_mode, count_include_pad)
    delta = rng.standard_normal(avgpool2d_forward(x, *args).shape)
    numeric = finite_difference_grad(lambda v: avgpool2d_forward(v, *args), x, delta, 1e-6)
    np.testing.assert_allclose(avgpool2d_backward(x, delta, *args), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("ties", TIE_RULES)
@pytest.mark.parametrize("size, stride, padding, ceil_mode", [
    (2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), ((3, 2), (2, 1), (1, 0), True),
])
def test_maxpool_finite_differences_tie_free(size, stride, padding, ceil_mode, ties):
    rng = np.random.default_rng(12)
    # distinct values at least 0.01 apart: a 1e-6 step never changes a window's winner
    x = (rng.permutation(60) * 0.01 + rng.uniform(0, 1e-3)).reshape(1, 2, 5, 6)
    args = (size, stride, padding, ceil_mode)
    assert not maxpool2d_tied_windows(x, *args).any()
    delta = rng.standard_normal(maxpool2d_forward(x, *args).shape)
    numeric = finite_difference_grad(lambda v: maxpool2d_forward(v, *args), x, delta, 1e-6)
    np.testing.assert_allclose(maxpool2d_backward(x, delta, *args, ties=ties), numeric,
                               rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------------------
# dtypes: exact Fractions, float32


def all_exact(a: np.ndarray) -> bool:
    return a.dtype == object and all(type(v) in (int, Fraction) for v in a.flat)


@pytest.mark.parametrize("size, stride, padding, ceil_mode", [
    (2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), (2, 2, 1, True),
])
def test_exact_fractions(size, stride, padding, ceil_mode):
    rng = np.random.default_rng(5)
    values = rng.integers(-2, 3, size=(1, 2, 5, 5))
    x = np.vectorize(lambda v: Fraction(int(v), 3), otypes=[object])(values)
    y = maxpool2d_forward(x, size, stride, padding, ceil_mode)
    assert all_exact(y)  # no −∞ objects survive from the padding
    assert y.tolist() == maxpool2d_forward_naive(x, size, stride, padding, ceil_mode).tolist()
    delta = np.vectorize(lambda v: Fraction(int(v), 7), otypes=[object])(
        rng.integers(-5, 6, size=y.shape))
    for ties in TIE_RULES:
        fast = maxpool2d_backward(x, delta, size, stride, padding, ceil_mode, ties)
        assert all_exact(fast)
        assert fast.tolist() == maxpool2d_backward_naive(x, delta, size, stride, padding, ceil_mode,
                                                         ties).tolist()
    for count_include_pad in (True, False):
        args = (size, stride, padding, ceil_mode, count_include_pad)
        y = avgpool2d_forward(x, *args)
        assert all_exact(y)
        assert y.tolist() == avgpool2d_forward_naive(x, *args).tolist()
        delta_in = avgpool2d_backward(x, delta, *args)
        assert all_exact(delta_in)
        assert delta_in.tolist() == avgpool2d_backward_naive(x, delta, *args).tolist()


def test_exact_split_of_integer_objects_stays_fraction():
    # int objects (not Fractions) must not fall into int / int = float
    x = np.array([[[[1, 1], [1, 0]]]], dtype=object)
    delta_in = maxpool2d_backward(x, np.array([[[[1]]]], dtype=object), 2, ties="split")
    assert all_exact(delta_in)
    assert delta_in[0, 0].tolist() == [[Fraction(1, 3)] * 2, [Fraction(1, 3), 0]]
    y = avgpool2d_forward(x, 2)
    assert all_exact(y) and y[0, 0, 0, 0] == Fraction(3, 4)


@pytest.mark.parametrize("size, stride, padding, ceil_mode", [(2, 2, 0, False), (3, 2, 1, True)])
def test_float32_preserved(size, stride, padding, ceil_mode):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    args = (size, stride, padding, ceil_mode)
    y = maxpool2d_forward(x, *args)
    delta = rng.standard_normal(y.shape).astype(np.float32)
    outputs = [y, maxpool2d_argmax_mask(x, *args)]
    outputs += [maxpool2d_backward(x, delta, *args, ties=ties) for ties in TIE_RULES]
    outputs += [avgpool2d_forward(x, *args), avgpool2d_backward(x, delta, *args)]
    for out in outputs:
        assert out.dtype == np.float32
    x64, delta64 = x.astype(np.float64), delta.astype(np.float64)
    np.testing.assert_allclose(avgpool2d_backward(x, delta, *args),
                               avgpool2d_backward(x64, delta64, *args), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(maxpool2d_backward(x, delta, *args, ties="split"),
                               maxpool2d_backward(x64, delta64, *args, ties="split"),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size, stride", [(2, None), (3, 1), (2, 3)])
def test_no_negative_zeros(size, stride, dtype):
    # cells that win nothing get +0.0 even when every delta is negative (no "-0" in reports)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 2, 7, 7)).astype(dtype)
    delta = -rng.uniform(1, 2, size=maxpool2d_forward(x, size, stride).shape).astype(dtype)
    for ties in TIE_RULES:
        delta_in = maxpool2d_backward(x, delta, size, stride, ties=ties)
        zeros = delta_in[delta_in == 0]
        assert zeros.size and not np.signbit(zeros).any()


def test_infinite_delta_reaches_only_its_winner():
    # a masked multiply would leave inf · 0 = NaN in the cells that lost
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    delta = np.array([[[[np.inf, 1.0], [-np.inf, 2.0]]]])
    delta_in = maxpool2d_backward(x, delta, 2)
    assert not np.isnan(delta_in).any()
    np.testing.assert_array_equal(delta_in[0, 0], [[0, 0, 0, 0], [0, np.inf, 0, 1],
                                                   [0, 0, 0, 0], [0, -np.inf, 0, 2]])


def test_non_contiguous_inputs():
    rng = np.random.default_rng(10)
    x = random_maps(rng, (3, 2, 7, 6), tied=True).transpose(2, 1, 0, 3)[:, :, ::2]  # (7, 2, 2, 6)
    assert not x.flags.c_contiguous
    check_fast_equals_naive(x, 2, 2, 1, 1, True)


# --------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("call, message", [
    (lambda: maxpool2d_backward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 2, 2)), 2, ties="last"),
     "first, split, all"),
    (lambda: maxpool2d_forward(np.zeros((1, 1, 4, 4)), 2, padding=2), "at most half"),
    (lambda: avgpool2d_forward(np.zeros((1, 1, 4, 4)), 3, padding=(0, 2)), "at most half"),
    (lambda: maxpool2d_forward(np.zeros((1, 1, 2, 5)), 3), "larger than the padded input"),
    (lambda: avgpool2d_divisors((2, 5), (5, 1), padding=(1, 0)), "larger than the padded input"),
    (lambda: maxpool2d_forward(np.zeros((4, 4)), 2), "4-D"),
    (lambda: maxpool2d_forward(np.zeros((1, 1, 0, 4)), 2, padding=1), "H and W"),
    (lambda: maxpool2d_backward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), 2), r"\(1, 1, 2, 2\)"),
    (lambda: avgpool2d_backward(np.zeros((1, 1, 4, 4)), np.zeros((1, 2, 2)), 2), r"\(1, 1, 2, 2\)"),
    (lambda: maxpool2d_forward(np.zeros((1, 1, 4, 4)), 0), "size"),
    (lambda: maxpool2d_forward(np.zeros((1, 1, 4, 4)), 2, stride=0), "stride"),
    (lambda: maxpool2d_forward(np.zeros((1, 1, 4, 4)), 2, padding=-1), "padding"),
    (lambda: maxpool2d_forward(np.zeros((1, 1, 4, 4)), (2, 2, 2)), "pair"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------------------
# PyTorch


@pytest.fixture
def torch():
    """torch on one thread: these tensors are tiny, and idle worker threads spinning on a
    busy machine cost more than the work."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def torch_valid(hw, size, padding):
    return all(2 * p <= k <= n + 2 * p for n, k, p in zip(hw, size, padding))


TORCH_GRID = [case for case in itertools.product(
    [(5, 7), (6, 6), (1, 3)],                         # H, W
    [(2, 2), (3, 3), (3, 2), (1, 1)],                 # size
    [None, (1, 1), (2, 2), (3, 1)],                   # stride
    [(0, 0), (1, 1), (1, 0)],                         # padding
) if torch_valid(case[0], case[1], case[3])]


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("hw, size, stride, padding", TORCH_GRID)
def test_against_torch(torch, hw, size, stride, padding, ceil_mode):
    functional = torch.nn.functional
    rng = np.random.default_rng(TORCH_GRID.index((hw, size, stride, padding)))
    torch_stride = stride if stride is not None else size
    for x in (random_maps(rng, (2, 3) + hw, tied=True), random_maps(rng, (2, 3) + hw, tied=False)):
        # max pool, ties "first" = torch's argmax, also on inputs full of ties
        xt = torch.from_numpy(x.copy()).requires_grad_()
        yt = functional.max_pool2d(xt, size, torch_stride, padding, ceil_mode=ceil_mode)
        delta = rng.standard_normal(tuple(yt.shape))
        yt.backward(torch.from_numpy(delta))
        np.testing.assert_array_equal(maxpool2d_forward(x, size, stride, padding, ceil_mode),
                                      yt.detach().numpy())
        np.testing.assert_allclose(maxpool2d_backward(x, delta, size, stride, padding, ceil_mode),
                                   xt.grad.numpy(), rtol=1e-13, atol=1e-13)
        for count_include_pad in (True, False):
            xt = torch.from_numpy(x.copy()).requires_grad_()
            yt = functional.avg_pool2d(xt, size, torch_stride, padding, ceil_mode=ceil_mode,
                                       count_include_pad=count_include_pad)
            yt.backward(torch.from_numpy(delta))
            args = (size, stride, padding, ceil_mode, count_include_pad)
            np.testing.assert_allclose(avgpool2d_forward(x, *args), yt.detach().numpy(),
                                       rtol=1e-13, atol=1e-13)
            np.testing.assert_allclose(avgpool2d_backward(x, delta, *args), xt.grad.numpy(),
                                       rtol=1e-13, atol=1e-13)


def test_output_size_against_torch(torch):
    functional = torch.nn.functional
    for n, k, s, ceil_mode in itertools.product(range(1, 10), range(1, 6), range(1, 5), (False, True)):
        for p in range(k // 2 + 1):
            x = torch.zeros(1, 1, n, 1, dtype=torch.float64)
            try:
                expected = functional.max_pool2d(x, (k, 1), (s, 1), (p, 0), ceil_mode=ceil_mode).shape[2]
            except RuntimeError:
                expected = None
            out = pool_output_size(n, p, k, s, ceil_mode)
            if expected is None:
                assert out <= 0
            else:
                assert out == expected, (n, k, s, p, ceil_mode)


def test_float32_against_torch(torch):
    functional = torch.nn.functional
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = functional.avg_pool2d(xt, 3, 2, 1, ceil_mode=True)
    delta = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(delta))
    np.testing.assert_allclose(avgpool2d_forward(x, 3, 2, 1, True), yt.detach().numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(avgpool2d_backward(x, delta, 3, 2, 1, True), xt.grad.numpy(),
                               rtol=1e-6, atol=1e-6)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = functional.max_pool2d(xt, 2, 2)
    yt.backward(torch.from_numpy(delta[..., :4, :4].copy()))
    np.testing.assert_array_equal(maxpool2d_backward(x, delta[..., :4, :4], 2), xt.grad.numpy())
