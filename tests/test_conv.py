"""Tests of the 2-D convolution kernels: literals, naive reference, finite differences, torch."""

from __future__ import annotations

import functools
import inspect
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnngrad.layers import conv
from cnngrad.layers.conv import (
    PADDING_MODES,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
    pad2d,
    pad2d_backward,
)

#: GEMM_MIN_MACS with no floors: every sum of products added by the BLAS, whichever it is
NO_FLOORS = {kind: {4: 0, 8: 0} for kind in conv.GEMM_MIN_MACS}


@pytest.fixture
def use_cores(monkeypatch):
    """use_cores(k): run the kernels as on a machine with k CPUs.  The threads never outnumber
    the BLAS's own (a user's limit), so the BLAS is given k threads too until the test ends."""
    from threadpoolctl import threadpool_limits

    limits = []

    def use(cores: int) -> None:
        monkeypatch.setattr(conv, "_cores", lambda: cores)
        limits.append(threadpool_limits(limits=cores, user_api="blas"))

    yield use
    for limit in reversed(limits):
        limit.restore_original_limits()


# the classic worked example: a 5×5 input, a 2×2 kernel, the 4×4 output's delta
O = np.array([[0.51, 0.9, 0.88, 0.84, 0.05],
              [0.4, 0.62, 0.22, 0.59, 0.1],
              [0.11, 0.2, 0.74, 0.33, 0.14],
              [0.47, 0.01, 0.85, 0.7, 0.09],
              [0.76, 0.19, 0.72, 0.17, 0.57]])
D = np.array([[0, 0, 0.0686, 0],
              [0, 0.0364, 0, 0],
              [0, 0.0467, 0, 0],
              [0, 0, 0, -0.0681]])
KERNEL = np.array([[-0.13, 0.15], [-0.51, 0.62]])
DW_EXPECTED = np.array([[0.044606, 0.094061], [0.011262, 0.068288]])


def as4d(a):
    return np.asarray(a)[None, None]


def random_problem(rng, n, c, h, w, f, groups, kernel, dtype=np.float64):
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weights = rng.standard_normal((f, c // groups) + tuple(kernel)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    return x, weights, bias


def assert_same(actual, expected, tol=1e-12):
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.astype(float), expected.astype(float), rtol=tol, atol=tol)


def assert_matches_naive(rng, x, w, b, args, tol=1e-12):
    """Forward, then backward with a random delta: the fast kernels against the naive twins."""
    y = conv2d_forward(x, w, b, *args)
    assert_same(y, conv2d_forward_naive(x, w, b, *args), tol=tol)
    delta = rng.standard_normal(y.shape)
    for fast, naive in zip(conv2d_backward(x, w, delta, *args),
                           conv2d_backward_naive(x, w, delta, *args)):
        assert_same(fast, naive, tol=tol)


# ---------------------------------------------------------------------------------------
# the worked example, by hand


def test_worked_example_forward_cell():
    y = conv2d_forward(as4d(O), as4d(KERNEL))
    assert y.shape == (1, 1, 4, 4)
    # −0.13·0.51 + 0.15·0.9 − 0.51·0.4 + 0.62·0.62
    assert y[0, 0, 0, 0] == pytest.approx(0.2491, abs=1e-14)
    # −0.13·0.59 + 0.15·0.1 − 0.51·0.33 + 0.62·0.14
    assert y[0, 0, 1, 3] == pytest.approx(-0.1432, abs=1e-14)


def test_worked_example_kernel_gradient():
    _, dw, db = conv2d_backward(as4d(O), as4d(KERNEL), as4d(D))
    assert dw.shape == (1, 1, 2, 2)
    np.testing.assert_allclose(dw[0, 0], DW_EXPECTED, rtol=0, atol=5e-7)
    assert db[0] == pytest.approx(0.0686 + 0.0364 + 0.0467 - 0.0681, abs=1e-15)


def test_worked_example_input_delta_is_full_convolution_with_rotated_kernel():
    rotated = KERNEL[::-1, ::-1]
    kh, kw = rotated.shape
    padded = np.pad(D, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    expected = np.zeros_like(O)
    for r in range(O.shape[0]):
        for c in range(O.shape[1]):
            expected[r, c] = sum(padded[r + m, c + n] * rotated[m, n]
                                 for m in range(kh) for n in range(kw))
    dx, _, _ = conv2d_backward(as4d(O), as4d(KERNEL), as4d(D))
    np.testing.assert_allclose(dx[0, 0], expected, rtol=0, atol=1e-15)
    # one cell by hand: dx[0, 2] = d[0, 2]·w[0, 0] + d[0, 1]·w[0, 1]
    assert dx[0, 0, 0, 2] == pytest.approx(0.0686 * -0.13, abs=1e-15)


# ---------------------------------------------------------------------------------------
# padding


@pytest.mark.parametrize("mode, numpy_mode", [("zeros", "constant"), ("reflect", "reflect"),
                                              ("replicate", "edge"), ("circular", "wrap")])
@pytest.mark.parametrize("sides", [(1, 1, 1, 1), (2, 0, 1, 3), (0, 0, 0, 0), (3, 1, 0, 2)])
def test_pad2d_matches_numpy_pad(mode, numpy_mode, sides):
    x = np.arange(2 * 4 * 5, dtype=float).reshape(2, 4, 5)
    top, bottom, left, right = sides
    expected = np.pad(x, ((0, 0), (top, bottom), (left, right)), mode=numpy_mode)
    np.testing.assert_array_equal(pad2d(x, sides, mode), expected)


def test_pad2d_literals():
    row = np.array([[1.0, 2.0, 3.0]])
    assert pad2d(row, (0, 0, 2, 1), "reflect").tolist() == [[3, 2, 1, 2, 3, 2]]
    assert pad2d(row, (0, 0, 2, 1), "replicate").tolist() == [[1, 1, 1, 2, 3, 3]]
    assert pad2d(row, (0, 0, 2, 1), "circular").tolist() == [[2, 3, 1, 2, 3, 1]]
    assert pad2d(row, (1, 0, 1, 0), "zeros").tolist() == [[0, 0, 0, 0], [0, 1, 2, 3]]


def test_pad2d_backward_literals():
    # replicate (0, 0, 2, 1) of [a, b, c] is [a, a, a, b, c, c]
    delta = np.array([[1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]])
    assert pad2d_backward(delta, (0, 0, 2, 1), "replicate", (1, 3)).tolist() == \
        [[111.0, 1000.0, 110000.0]]
    # reflect: [c, b, a, b, c, b]
    assert pad2d_backward(delta, (0, 0, 2, 1), "reflect", (1, 3)).tolist() == \
        [[100.0, 10 + 1000 + 100000.0, 1 + 10000.0]]
    # circular: [b, c, a, b, c, a]
    assert pad2d_backward(delta, (0, 0, 2, 1), "circular", (1, 3)).tolist() == \
        [[100 + 100000.0, 1 + 1000.0, 10 + 10000.0]]
    assert pad2d_backward(delta, (0, 0, 2, 1), "zeros", (1, 3)).tolist() == \
        [[100.0, 1000.0, 10000.0]]


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("sides", [(1, 2, 0, 3), (3, 3, 3, 3), (0, 3, 2, 0)])
def test_pad2d_backward_is_the_adjoint(mode, sides):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4, 5))
    delta = rng.standard_normal(pad2d(x, sides, mode).shape)
    # <pad(x), delta> = <x, pad'(delta)> for every x is the definition of the gradient
    assert np.sum(pad2d(x, sides, mode) * delta) == pytest.approx(
        np.sum(x * pad2d_backward(delta, sides, mode, (4, 5))), rel=1e-13)


@pytest.mark.parametrize("mode, sides, message", [
    ("reflect", (0, 0, 3, 0), "smaller than"),
    ("circular", (4, 0, 0, 0), "must not exceed"),
    ("mirror", 1, "zeros, reflect, replicate, circular"),
    ("zeros", (-1, 0, 0, 0), "≥ 0"),
])
def test_pad2d_rejects(mode, sides, message):
    with pytest.raises(ValueError, match=message):
        pad2d(np.zeros((3, 3)), sides, mode)


def test_pad2d_limits_are_torchs():
    x = np.arange(9.0).reshape(3, 3)
    assert pad2d(x, 2, "reflect").shape == (7, 7)   # pad = size − 1 is allowed
    assert pad2d(x, 3, "circular").shape == (9, 9)  # pad = size is allowed
    assert pad2d(x, 5, "replicate").shape == (13, 13)


# ---------------------------------------------------------------------------------------
# fast against naive

CHANNELS = [  # (C, F, groups): F ≤ 2C/G and F > 2C/G take different stride-1 input-delta paths
    (3, 2, 1),
    (1, 5, 1),
    (4, 6, 2),
    (3, 3, 3),
]


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("c, f, groups", CHANNELS)
@pytest.mark.parametrize("stride", [1, (2, 1)])
@pytest.mark.parametrize("dilation, padding", [(1, (1, 0, 2, 1)), ((2, 1), 2)])
@pytest.mark.parametrize("kernel", [(3, 2), (1, 1)])
def test_fast_matches_naive(mode, c, f, groups, stride, dilation, padding, kernel):
    rng = np.random.default_rng(0)
    x, w, b = random_problem(rng, 2, c, 6, 5, f, groups, kernel)
    assert_matches_naive(rng, x, w, b, (stride, padding, dilation, groups, mode))


@st.composite
def conv_problems(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 2))
    f = groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(PADDING_MODES))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))

    def side(size):
        # torch's limits: reflect pad < size, circular pad ≤ size
        most = {"reflect": size - 1, "circular": size}.get(mode, 3)
        return draw(st.integers(0, min(3, most)))

    sides = (side(h), side(h), side(w), side(w))
    # the dilated kernel must fit the padded input
    h_span, w_span = dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1
    if h + sides[0] + sides[1] < h_span or w + sides[2] + sides[3] < w_span:
        kernel = (1, 1)
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, c, h, w, f, groups, kernel, stride, dilation, sides, mode, seed


@settings(max_examples=40, deadline=None)
@given(conv_problems())
def test_fast_matches_naive_random(problem):
    n, c, h, w, f, groups, kernel, stride, dilation, sides, mode, seed = problem
    rng = np.random.default_rng(seed)
    x, weights, bias = random_problem(rng, n, c, h, w, f, groups, kernel)
    args = (stride, sides, dilation, groups, mode)
    y_naive = conv2d_forward_naive(x, weights, bias, *args)
    delta = rng.standard_normal(y_naive.shape)
    grads_naive = conv2d_backward_naive(x, weights, delta, *args)
    # both the gathered small-call path and the tiled one
    for small_max_cells in (conv.SMALL_MAX_CELLS, 0):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(conv, "SMALL_MAX_CELLS", small_max_cells)
            assert_same(conv2d_forward(x, weights, bias, *args), y_naive)
            for fast, naive in zip(conv2d_backward(x, weights, delta, *args), grads_naive):
                assert_same(fast, naive)


@pytest.mark.parametrize("tile_bytes", [1, 600, 5000])
@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("mode", ["zeros", "reflect"])
@pytest.mark.parametrize("kernel", [(3, 3), (1, 1)])
def test_tiling_and_threads_do_not_change_the_result(monkeypatch, tile_bytes, threads, stride,
                                                     mode, kernel):
    # tiny tiles: one output row of one image at a time; middle: several images, a short
    # last chunk; the default: everything in one tile.  With threads (on a machine with
    # several cores), the images are split into one range per thread.
    rng = np.random.default_rng(3)
    x, w, b = random_problem(rng, 5, 2, 7, 6, 3, 1, kernel)
    delta = rng.standard_normal(conv2d_forward(x, w, b, stride, 1, 1, 1, mode).shape)
    expected = [conv2d_forward_naive(x, w, b, stride, 1, 1, 1, mode),
                *conv2d_backward_naive(x, w, delta, stride, 1, 1, 1, mode)]
    monkeypatch.setattr(conv, "TILE_BYTES", tile_bytes)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", 0 if threads else 10**18)
    actual = [conv2d_forward(x, w, b, stride, 1, 1, 1, mode),
              *conv2d_backward(x, w, delta, stride, 1, 1, 1, mode)]
    for a, e in zip(actual, expected):
        assert_same(a, e, tol=1e-13)


@pytest.mark.parametrize("n", [1, 6])
@pytest.mark.parametrize("c, f, stride", [(4, 4, 1), (2, 8, 1), (4, 4, 2)])
def test_threads_restore_the_blas_thread_count(monkeypatch, n, c, f, stride):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [info["num_threads"] for info in threadpoolctl.threadpool_info()
                if info["user_api"] == "blas"]

    before = blas_threads()
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", 0)
    rng = np.random.default_rng(8)
    x, w, b = random_problem(rng, n, c, 9, 9, f, 1, (3, 3))
    delta = rng.standard_normal(conv2d_forward(x, w, b, stride, 1).shape)
    for fast, naive in zip(conv2d_backward(x, w, delta, stride, 1),
                           conv2d_backward_naive(x, w, delta, stride, 1)):
        assert_same(fast, naive)
    assert blas_threads() == before


@pytest.mark.parametrize("tile_bytes", [1, 5000, 10**7])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), ((2, 1), (1, 2))])
@pytest.mark.parametrize("mode, padding", [("zeros", 1), ("zeros", 0), ("reflect", (1, 2)),
                                           ("circular", (2, 0, 1, 1))])
# per group F < 2C (4 against 3, 3 against 2): dx by the rotated kernel at stride 1; F ≥ 2C
# (4 and 8 against 2): by col2im
@pytest.mark.parametrize("groups, c, f", [(1, 3, 4), (1, 2, 4), (1, 2, 8), (2, 4, 6)])
# two or three threads: the backward pass's input delta on one, its kernel gradient on the
# other; five: each of them on shares of the output rows (dx by rows, or a padded delta per
# share added up)
@pytest.mark.parametrize("cores", [3, 5])
def test_one_image_split_by_rows_over_threads_matches_naive(monkeypatch, use_cores, tile_bytes,
                                                            stride, dilation, mode, padding,
                                                            groups, c, f, cores):
    # one image: the threads take shares of its output rows, whatever the tile size
    use_cores(cores)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    monkeypatch.setattr(conv, "SINGLE_BLAS_MIN_MACS", 0)
    monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", 0)
    monkeypatch.setattr(conv, "TILE_BYTES", tile_bytes)
    rng = np.random.default_rng(11)
    x, w, b = random_problem(rng, 1, c, 9, 8, f, groups, (3, 2))
    assert_matches_naive(rng, x, w, b, (stride, padding, dilation, groups, mode), tol=1e-13)


@pytest.mark.parametrize("images", [1, 3])
@pytest.mark.parametrize("name", ["_flat_forward", "_flat_input_grad", "_flat_kernel_grad"])
def test_depthwise_images_are_computed_once_on_two_cores(monkeypatch, name, images):
    # stride 1 depthwise on two cores: the forward pass on one thread, the backward pass a
    # gradient per thread, each over every image; no thread repeats the other's images
    monkeypatch.setattr(conv, "_cores", lambda: 2)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    monkeypatch.setattr(conv, "SINGLE_BLAS_MIN_MACS", 0)
    monkeypatch.setattr(conv, "DEPTHWISE_PARALLEL_MIN_MACS", 0)
    backward = name != "_flat_forward"
    calls = []
    step = getattr(conv, name)

    def counted(*args):
        images = inspect.signature(step).bind(*args).arguments
        calls.append((images["start"], images["stop"]))
        return step(*args)

    monkeypatch.setattr(conv, name, counted)
    rng = np.random.default_rng(12)
    x, w = rng.standard_normal((images, 4, 9, 8)), rng.standard_normal((4, 1, 3, 3))
    if backward:
        delta = rng.standard_normal((images, 4, 9, 8))
        for fast, naive in zip(conv2d_backward(x, w, delta, 1, 1, 1, 4),
                               conv2d_backward_naive(x, w, delta, 1, 1, 1, 4)):
            assert_same(fast, naive, tol=1e-13)
    else:
        assert_same(conv2d_forward(x, w, None, 1, 1, 1, 4),
                    conv2d_forward_naive(x, w, None, 1, 1, 1, 4), tol=1e-13)
    assert calls == [(0, images)]


@pytest.mark.parametrize("c, f, groups, kernel, stride, expected", [
    (64, 64, 1, (3, 3), 1, True),    # the classic 3×3 layer
    (16, 32, 1, (3, 3), 1, True),    # twice as many filters as channels
    (4, 8, 1, (2, 3), 1, True),
    (16, 64, 1, (3, 3), 1, False),   # filters outnumber channels four to one: im2col
    (3, 16, 1, (3, 3), 1, False),    # an RGB input: too few channels
    (64, 1, 1, (3, 3), 1, False),    # one filter: thin input-delta products
    (64, 64, 1, (3, 3), 2, False),   # strided
    (64, 64, 1, (1, 1), 1, False),   # one tap: im2col is the input itself
    (64, 64, 8, (3, 3), 1, True),    # 8 channels and filters per group
    (64, 64, 32, (3, 3), 1, False),  # 2 per group
])
def test_shifted_products_are_chosen_by_channels_and_filters(c, f, groups, kernel, stride,
                                                             expected):
    geo = conv._geometry((2, c, 20, 20), (f, c // groups) + kernel, stride, 1, 1, groups,
                         "zeros")
    assert conv._shifted(geo, np.dtype(np.float64)) is expected
    assert not conv._shifted(geo, np.dtype(object))  # fractions keep their exact path


@functools.cache
def shifted_case(n, mode, padding, dilation, groups, c, f, kernel):
    """A problem and its naive results (y with a tied bias, y with an untied one, dx, dw,
    db), computed once for all the tilings and threads below."""
    rng = np.random.default_rng(17)
    x, w, b = random_problem(rng, n, c, 9, 8, f, groups, kernel)
    args = (1, padding, dilation, groups, mode)
    geo = conv._geometry(x.shape, w.shape, *args)
    untied, delta = rng.standard_normal(geo.out_shape[1:]), rng.standard_normal(geo.out_shape)
    expected = (conv2d_forward_naive(x, w, b, *args), conv2d_forward_naive(x, w, untied, *args),
                *conv2d_backward_naive(x, w, delta, *args))
    return (x, w, b, untied, delta, args), expected


@pytest.mark.parametrize("tile_values", [1, 2000, 10**7])  # a row at a time; rows; all
# one image on five cores: each work on shares of the output rows (the input delta placing
# only the delta rows its share reads)
@pytest.mark.parametrize("n, cores", [(1, 2), (1, 5), (3, 2), (3, None)])
@pytest.mark.parametrize("mode, padding", [
    ("zeros", 1), ("zeros", 0), ("zeros", (2, 0, 1, 3)),
    ("zeros", (3, 4, 4, 3)),  # wider than the kernel: the padded delta is cropped
    ("reflect", (1, 2)), ("replicate", (2, 0, 1, 1)), ("circular", (2, 1))])
@pytest.mark.parametrize("dilation", [1, (2, 1)])
@pytest.mark.parametrize("groups, c, f, kernel", [(1, 4, 6, (3, 3)), (2, 8, 8, (2, 3))])
@pytest.mark.parametrize("stacked", [False, True])  # a product per tap, or per kernel row
# each product added into the sum by the BLAS, or by numpy's matmul and an add
@pytest.mark.parametrize("blas_adds", [True, False])
def test_shifted_products_match_naive(monkeypatch, use_cores, tile_values, n, cores, mode,
                                      padding, dilation, groups, c, f, kernel, stacked,
                                      blas_adds):
    # one product per tap (or per kernel row of taps) over the flat padded maps, in blocks of
    # images and rows, on threads over images or (one image) over output rows, with tied and
    # untied biases
    monkeypatch.setattr(conv, "_taps_per_product",
                        lambda geo, rows, inner, least=1: geo.kw if stacked else 1)
    if blas_adds:
        monkeypatch.setattr(conv, "GEMM_MIN_MACS", NO_FLOORS)
    else:
        monkeypatch.setattr(conv, "gemm_available", lambda: False)
    monkeypatch.setattr(conv, "SHIFTED_TILE_VALUES", tile_values)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    use_cores(cores or 2)
    monkeypatch.setattr(conv, "SINGLE_BLAS_MIN_MACS", 0)
    monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", 10**18 if cores is None else 0)
    (x, w, b, untied, delta, args), expected = shifted_case(n, mode, padding, dilation, groups,
                                                           c, f, kernel)
    assert conv._shifted(conv._geometry(x.shape, w.shape, *args), x.dtype)
    actual = (conv2d_forward(x, w, b, *args), conv2d_forward(x, w, untied, *args),
              *conv2d_backward(x, w, delta, *args))
    for a, e in zip(actual, expected):
        assert_same(a, e, tol=1e-13)


@pytest.mark.parametrize("rows, inner, least, per", [
    (16, 8, 1, 3),    # twice as many rows as the inner dimension: stacked
    (16, 8, 16, 1),   # ... but the kernel gradient needs 16 channels
    (32, 16, 16, 3),
    (16, 16, 1, 1),   # as many rows, below 32: a product per tap
    (32, 32, 1, 3),   # as many rows from 32 on: stacked
    (48, 48, 1, 3),
    (128, 64, 1, 1),  # from 64 on the products are wide enough
    (8, 16, 1, 1),    # fewer rows than the inner dimension
    (16, 4, 1, 3)])
def test_a_kernel_row_is_one_product_when_the_products_are_thin(rows, inner, least, per):
    geo = conv._geometry((1, 64, 8, 8), (64, 64, 5, 3), 1, 1, 1, 1, "zeros")
    assert conv._taps_per_product(geo, rows, inner, least) == per


@pytest.mark.parametrize("c, f, dtype, blas, per", [
    (64, 64, np.float32, True, 3),    # wide products whose sum the BLAS adds: stacked
    (64, 64, np.float64, True, 3),
    (256, 32, np.float32, True, 3),
    (64, 64, np.float32, False, 1),   # numpy's batched products: only thin ones
    (64, 16, np.float64, True, 1),    # fewer than 32 filters
    (8, 64, np.float32, True, 1),     # fewer than 16 channels (and not thin)
    (16, 64, np.float32, False, 3),   # thin: stacked either way
    (64, 64, np.float16, True, 1)])   # no BLAS for float16
def test_the_kernel_gradient_stacks_wide_products_where_the_blas_adds_them(
        monkeypatch, c, f, dtype, blas, per):
    if not blas:
        monkeypatch.setattr(conv, "gemm_available", lambda: False)
    elif not conv.gemm_available():
        pytest.skip("the BLAS's gemm is not available")
    geo = conv._geometry((2, c, 56, 56), (f, c, 3, 3), 1, 1, 1, 1, "zeros")
    assert conv._kernel_taps_per_product(geo, np.dtype(dtype)) == per
    thin = 3 if c == 16 else 1
    # one image: the kernel gradient runs beside the input delta, the copies cost that
    one = conv._geometry((1, c, 56, 56), (f, c, 3, 3), 1, 1, 1, 1, "zeros")
    assert conv._kernel_taps_per_product(one, np.dtype(dtype)) == thin
    # products of a 4×4 map are too small for the BLAS's adds
    small = conv._geometry((2, c, 4, 4), (f, c, 3, 3), 1, 1, 1, 1, "zeros")
    assert conv._kernel_taps_per_product(small, np.dtype(dtype)) == thin


def test_a_stacked_product_reads_the_stack_in_place():
    # the stacked source is reshaped to (B, G, kw·Q, span), a view (a copy would cost a pass)
    source = np.arange(2 * 1 * 4 * 50, dtype=float).reshape(2, 1, 4, 50)
    stacked = np.empty((2, 1, 3, 4, 40))
    stack, base = conv._stack_columns(source, 5, 30, [0, 1, 2], stacked)
    assert base == 0 and stack.shape == (2, 1, 12, 30) and np.shares_memory(stack, stacked)
    np.testing.assert_array_equal(stack[1, 0, 4 + 2], source[1, 0, 2, 6:36])
    # a product per tap reads the source itself
    same, base = conv._stack_columns(source, 5, 30, [0], None)
    assert same is source and base == 5


@pytest.mark.parametrize("n", [1, 4])
def test_shifted_products_in_float32_match_float64(monkeypatch, n):
    monkeypatch.setattr(conv, "SHIFTED_TILE_VALUES", 3000)
    rng = np.random.default_rng(19)
    x, w, b = random_problem(rng, n, 16, 12, 11, 16, 1, (3, 3))
    delta = rng.standard_normal((n, 16, 12, 11))
    assert conv._shifted(conv._geometry(x.shape, w.shape, 1, 1, 1, 1, "zeros"), np.float32)
    wide = [conv2d_forward(x, w, b, 1, 1), *conv2d_backward(x, w, delta, 1, 1)]
    narrow = [conv2d_forward(*(a.astype(np.float32) for a in (x, w, b)), 1, 1),
              *conv2d_backward(*(a.astype(np.float32) for a in (x, w, delta)), 1, 1)]
    for single, double in zip(narrow, wide):
        assert single.dtype == np.float32
        scale = np.abs(double).max()
        np.testing.assert_allclose(single, double, rtol=0, atol=2e-6 * scale)


@pytest.mark.parametrize("kernel, stride, dilation, expected", [
    ((7, 7), 2, 1, True),         # 49 taps over 4 phases
    ((5, 5), 2, 1, True),         # 25 over 4
    ((3, 3), 2, 2, True),         # every tap in phase (0, 0)
    ((5, 2), (2, 1), 1, True),    # 10 over 2
    ((3, 3), 2, 1, False),        # 9 over 4: the extra pass costs about what it saves
    ((2, 2), 2, 1, False),        # one tap per phase: the split would be a copy for nothing
    ((1, 1), 2, 1, False),
    ((3, 3), 3, 1, False),
    ((3, 3), 1, 1, False),        # stride 1: no phases
])
def test_strided_kernels_read_through_phases_when_taps_share_them(kernel, stride, dilation,
                                                                  expected):
    geo = conv._geometry((1, 1, 12, 12), (1, 1) + kernel, stride, 0, dilation, 1, "zeros")
    assert conv._phased(geo) is expected


def test_phase_windows_are_the_strided_cells():
    padded = np.arange(2 * 3 * 9 * 8).reshape(2, 3, 9, 8)
    phases = conv._Phases.split(padded, (2, 3), first=2, stop=9)
    for top, left in [(2, 0), (3, 1), (4, 2), (5, 4)]:
        rows, columns = (9 - top) // 2, (8 - left) // 3
        np.testing.assert_array_equal(phases.window(top, left, rows, columns),
                                      padded[..., top::2, left::3][..., :rows, :columns])
    sums = conv._Phases.zeros(padded.shape, (2, 3), padded, first=2, stop=9)
    sums.window(3, 1, 2, 2)[...] += 1  # only the parts read are made, and added back
    target = np.zeros(padded.shape, int)
    sums.add_to(target)
    expected = np.zeros(padded.shape, int)
    expected[..., 3:6:2, 1:5:3] = 1
    np.testing.assert_array_equal(target, expected)


@pytest.mark.parametrize("phase_min_taps", [0, 10**9])  # every strided kernel by phases; none
@pytest.mark.parametrize("n, threads", [(1, True), (2, True), (2, False)])
@pytest.mark.parametrize("stride, dilation, mode, padding", [
    (2, 1, "zeros", 3),           # the 7×7/2 stem of image networks
    ((2, 3), (1, 2), "reflect", (2, 1, 3, 2)),
    (3, 1, "circular", 1),
])
def test_phases_match_naive(monkeypatch, phase_min_taps, n, threads, stride, dilation, mode,
                            padding):
    monkeypatch.setattr(conv, "PHASE_MIN_TAPS", phase_min_taps)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    monkeypatch.setattr(conv, "TILE_BYTES", 3000)  # several row blocks per thread
    monkeypatch.setattr(conv, "MANY_TAPS_TILE_SCALE", 1)  # the 7×7 kernel's too
    monkeypatch.setattr(conv, "_cores", lambda: 2)
    monkeypatch.setattr(conv, "SINGLE_BLAS_MIN_MACS", 0)
    monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", 0 if threads else 10**18)
    rng = np.random.default_rng(12)
    x, w, b = random_problem(rng, n, 2, 11, 10, 3, 1, (7, 5))
    assert_matches_naive(rng, x, w, b, (stride, padding, dilation, 1, mode), tol=1e-13)


def test_phases_keep_fractions_exact():
    rng = np.random.default_rng(13)
    x = fractions(rng.integers(-9, 10, (1, 2, 9, 8)), 7)
    w = fractions(rng.integers(-9, 10, (3, 2, 5, 5)), 3)
    b = fractions(rng.integers(-9, 10, 3), 5)
    args = (2, 2, 1, 1, "zeros")
    assert conv._phased(conv._geometry(x.shape, w.shape, *args))
    y = conv2d_forward(x, w, b, *args)
    assert (y == conv2d_forward_naive(x, w, b, *args)).all()
    delta = fractions(rng.integers(-9, 10, y.shape), 11)
    for fast, naive in zip(conv2d_backward(x, w, delta, *args),
                           conv2d_backward_naive(x, w, delta, *args)):
        assert fast.dtype == object and (fast == naive).all()


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("small_max_cells, tile_bytes", [(None, None), (0, 200), (0, 10**7)])
def test_untied_bias_is_added_as_is(monkeypatch, n, small_max_cells, tile_bytes):
    # the gathered small call, and the tiles (of one output row, or all) adding their share
    if small_max_cells is not None:
        monkeypatch.setattr(conv, "SMALL_MAX_CELLS", small_max_cells)
        monkeypatch.setattr(conv, "TILE_BYTES", tile_bytes)
        monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", 0)
        monkeypatch.setattr(conv, "SINGLE_BLAS_MIN_MACS", 0)
    rng = np.random.default_rng(4)
    x, w, _ = random_problem(rng, n, 2, 5, 5, 3, 1, (2, 2))
    untied = rng.standard_normal((3, 4, 4))
    y = conv2d_forward(x, w, untied)
    assert_same(y, conv2d_forward(x, w) + untied[None])
    assert_same(y, conv2d_forward_naive(x, w, untied))


# ---------------------------------------------------------------------------------------
# central finite differences of E = Σ delta·y


def numerical_gradient(energy, array, step=1e-6):
    grad = np.zeros_like(array)
    for index in np.ndindex(*array.shape):
        saved = array[index]
        array[index] = saved + step
        up = energy()
        array[index] = saved - step
        down = energy()
        array[index] = saved
        grad[index] = (up - down) / (2 * step)
    return grad


@pytest.mark.parametrize("stride, padding, dilation, groups, mode", [
    (1, 1, 1, 1, "zeros"),
    ((2, 1), (1, 0, 2, 1), (1, 2), 2, "reflect"),
    (2, (2, 1), 1, 1, "circular"),
    (1, (0, 2, 1, 1), 2, 2, "replicate"),
])
def test_finite_differences(stride, padding, dilation, groups, mode):
    rng = np.random.default_rng(11)
    x, w, b = random_problem(rng, 2, 2, 5, 6, 4, groups, (3, 2))
    args = (stride, padding, dilation, groups, mode)
    delta = rng.standard_normal(conv2d_forward(x, w, b, *args).shape)

    def energy():
        return np.sum(delta * conv2d_forward(x, w, b, *args))

    dx, dw, db = conv2d_backward(x, w, delta, *args)
    np.testing.assert_allclose(dx, numerical_gradient(energy, x), atol=1e-7)
    np.testing.assert_allclose(dw, numerical_gradient(energy, w), atol=1e-7)
    np.testing.assert_allclose(db, numerical_gradient(energy, b), atol=1e-7)


# ---------------------------------------------------------------------------------------
# dtypes: exact fractions, float32


def fractions(values, denominator):
    return np.vectorize(lambda v: Fraction(int(v), denominator), otypes=[object])(values)


def test_fraction_hand_example():
    # x = [[1/2, 1/3, 1/4]], w = [[2, −1/3]], b = 1/6, delta = [[1, 1/2]]
    x = np.array([[[[Fraction(1, 2), Fraction(1, 3), Fraction(1, 4)]]]], dtype=object)
    w = np.array([[[[Fraction(2), Fraction(-1, 3)]]]], dtype=object)
    b = np.array([Fraction(1, 6)], dtype=object)
    y = conv2d_forward(x, w, b)
    # 2·1/2 − 1/3·1/3 + 1/6 = 19/18;  2·1/3 − 1/3·1/4 + 1/6 = 3/4
    assert y.dtype == object and y.tolist() == [[[[Fraction(19, 18), Fraction(3, 4)]]]]
    delta = np.array([[[[Fraction(1), Fraction(1, 2)]]]], dtype=object)
    dx, dw, db = conv2d_backward(x, w, delta)
    assert all(a.dtype == object for a in (dx, dw, db))
    # dx = [1·2, 1·(−1/3) + 1/2·2, 1/2·(−1/3)]
    assert dx.tolist() == [[[[2, Fraction(2, 3), Fraction(-1, 6)]]]]
    # dw = [1·1/2 + 1/2·1/3, 1·1/3 + 1/2·1/4]
    assert dw.tolist() == [[[[Fraction(2, 3), Fraction(11, 24)]]]]
    assert db.tolist() == [Fraction(3, 2)]


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("c, f, groups, stride", [(2, 2, 1, 1), (2, 4, 2, (1, 2)), (1, 3, 1, 1)])
def test_fractions_stay_exact(mode, c, f, groups, stride):
    rng = np.random.default_rng(5)
    x = fractions(rng.integers(-9, 10, (2, c, 4, 5)), 7)
    w = fractions(rng.integers(-9, 10, (f, c // groups, 2, 3)), 3)
    b = fractions(rng.integers(-9, 10, f), 5)
    args = (stride, (1, 0, 2, 1), (1, 2), groups, mode)
    y = conv2d_forward(x, w, b, *args)
    assert y.dtype == object and all(isinstance(v, Fraction) for v in y.flat)
    assert (y == conv2d_forward_naive(x, w, b, *args)).all()
    delta = fractions(rng.integers(-9, 10, y.shape), 11)
    exact = conv2d_backward(x, w, delta, *args)
    for fast, naive in zip(exact, conv2d_backward_naive(x, w, delta, *args)):
        assert fast.dtype == object and fast.shape == naive.shape and (fast == naive).all()
        assert all(isinstance(v, (Fraction, int)) for v in fast.flat)
    as_float = [a.astype(float) for a in (x, w, b, delta)]
    assert_same(y, conv2d_forward(*as_float[:3], *args))
    for fast, floating in zip(exact, conv2d_backward(as_float[0], as_float[1], as_float[3], *args)):
        assert_same(fast, floating)


def test_float32_is_preserved():
    rng = np.random.default_rng(6)
    x, w, b = random_problem(rng, 2, 4, 6, 6, 4, 2, (3, 3), dtype=np.float32)
    args = (1, 1, 1, 2, "reflect")
    y = conv2d_forward(x, w, b, *args)
    grads = conv2d_backward(x, w, y, *args)
    assert y.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    as64 = [a.astype(np.float64) for a in (x, w, b)]
    np.testing.assert_allclose(y, conv2d_forward(*as64, *args), rtol=1e-4, atol=1e-4)
    for g, g64 in zip(grads, conv2d_backward(as64[0], as64[1], y.astype(np.float64), *args)):
        np.testing.assert_allclose(g, g64, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("stride, groups", [(1, 1), (2, 1), (1, 2)])
def test_float32_tiles_match_float64(monkeypatch, n, stride, groups):
    # the tiled kernels, not the small-call gather; float32's kernel gradient is taken as
    # (cols · deltaᵀ)ᵀ (see _delta_cols_t), float64's as delta · colsᵀ
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    monkeypatch.setattr(conv, "TILE_BYTES", 3000)  # several tiles of rows
    rng = np.random.default_rng(8)
    x, w, b = random_problem(rng, n, 4, 9, 8, 6, groups, (3, 2), dtype=np.float32)
    args = (stride, 1, 1, groups, "zeros")
    delta = rng.standard_normal(conv2d_forward(x, w, b, *args).shape).astype(np.float32)
    grads = conv2d_backward(x, w, delta, *args)
    as64 = [a.astype(np.float64) for a in (x, w, delta)]
    for g, g64 in zip(grads, conv2d_backward_naive(*as64, *args)):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, g64, rtol=1e-5, atol=1e-5)


def test_integer_input_computes_in_float64():
    y = conv2d_forward(np.ones((1, 1, 3, 3), dtype=int), np.ones((1, 1, 2, 2), dtype=int))
    assert y.dtype == np.float64 and y.tolist() == [[[[4.0, 4.0], [4.0, 4.0]]]]


# ---------------------------------------------------------------------------------------
# library-API guards


@pytest.mark.parametrize("x_shape, w_shape, kwargs, message", [
    ((1, 3, 5, 5), (2, 1, 3, 3), {"groups": 2}, "not divisible by groups"),
    ((1, 4, 5, 5), (3, 2, 3, 3), {"groups": 2}, "F=3 are not divisible"),
    ((1, 4, 5, 5), (2, 4, 3, 3), {"groups": 2}, "expected C/groups"),
    ((1, 3, 5, 5), (2, 2, 3, 3), {}, "w has 2 channels per filter, expected C/groups"),
    ((1, 4, 5, 5), (2, 1, 3, 3), {}, "w has 1 channel per filter, expected C/groups"),
    ((1, 3, 2, 5), (2, 3, 3, 3), {}, "output size"),
    ((1, 3, 5, 5), (2, 3, 3, 3), {"dilation": 3}, "output size"),
    ((1, 3, 5, 5), (2, 3, 3, 3), {"padding_mode": "mirror"}, "zeros, reflect"),
    ((1, 3, 5, 5), (2, 3, 3, 3), {"padding": 5, "padding_mode": "reflect"}, "smaller than"),
    ((3, 5, 5), (2, 3, 3, 3), {}, "4-D"),
])
def test_inconsistent_shapes_raise(x_shape, w_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), **kwargs)
    with pytest.raises(ValueError, match=message):
        conv2d_backward(np.zeros(x_shape), np.zeros(w_shape), np.zeros((1, 2, 3, 3)), **kwargs)


def test_bad_delta_and_bias_shapes_raise():
    x, w = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"delta must have the output's shape \(1, 3, 3, 3\)"):
        conv2d_backward(x, w, np.zeros((1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        conv2d_forward(x, w, np.zeros(2))


# ---------------------------------------------------------------------------------------
# torch


def torch_reference(x, w, b, delta, stride, sides, dilation, groups, mode):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    top, bottom, left, right = sides
    padded = functional.pad(xt, (left, right, top, bottom),
                            mode="constant" if mode == "zeros" else mode)
    y = functional.conv2d(padded, wt, bt, stride=stride, dilation=dilation, groups=groups)
    y.backward(torch.tensor(delta))
    return [a.detach().numpy() for a in (y, xt.grad, wt.grad, bt.grad)]


def assert_relative(actual, expected, tol=1e-10):
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(actual - expected).max() <= tol * scale


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("c, f, groups", [(4, 6, 1), (4, 6, 2), (4, 4, 4), (2, 8, 1)])
@pytest.mark.parametrize("stride, dilation, sides", [
    (1, 1, (1, 1, 1, 1)),
    ((2, 3), 1, (0, 2, 1, 0)),
    (1, (2, 1), (2, 1, 0, 3)),
    (2, 2, (3, 3, 2, 2)),
])
def test_matches_torch(mode, c, f, groups, stride, dilation, sides):
    pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x, w, b = random_problem(rng, 3, c, 9, 8, f, groups, (3, 2))
    args = (stride, sides, dilation, groups, mode)
    y = conv2d_forward(x, w, b, *args)
    delta = rng.standard_normal(y.shape)
    expected = torch_reference(x, w, b, delta, *args)
    for actual, reference in zip([y, *conv2d_backward(x, w, delta, *args)], expected):
        assert actual.shape == reference.shape
        assert_relative(actual, reference)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_matches_torch_conv2d_module(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(13)
    x, w, b = random_problem(rng, 2, 3, 7, 6, 4, 1, (3, 3))
    layer = torch.nn.Conv2d(3, 4, 3, stride=(1, 2), padding=(2, 1), padding_mode=mode,
                            dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(w))
        layer.bias.copy_(torch.tensor(b))
    xt = torch.tensor(x, requires_grad=True)
    yt = layer(xt)
    delta = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(delta))
    args = ((1, 2), (2, 1), 1, 1, mode)
    assert_relative(conv2d_forward(x, w, b, *args), yt.detach().numpy())
    dx, dw, db = conv2d_backward(x, w, delta, *args)
    for actual, reference in zip((dx, dw, db), (xt.grad, layer.weight.grad, layer.bias.grad)):
        assert_relative(actual, reference.numpy())


def test_large_batch_matches_torch():
    pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    x, w, b = random_problem(rng, 8, 8, 20, 20, 16, 1, (3, 3))
    y = conv2d_forward(x, w, b, 1, 1)
    delta = rng.standard_normal(y.shape)
    expected = torch_reference(x, w, b, delta, 1, (1, 1, 1, 1), 1, 1, "zeros")
    for actual, reference in zip([y, *conv2d_backward(x, w, delta, 1, 1)], expected):
        assert_relative(actual, reference)


@pytest.mark.parametrize("channels, width, cores, padding", [
    (1, 2, 3, 3), (1, 2, 3, 5),  # im2col
    (8, 30, 4, (8, 8, 0, 0))])  # the shifted products (this once divided by zero)
def test_rows_split_over_threads_with_fewer_input_rows_than_shares(monkeypatch, use_cores,
                                                                  channels, width, cores,
                                                                  padding):
    # a 2-row input padded far: a share of the output rows can own none of the input's rows,
    # and its (empty) share of the input delta must be skipped, not tiled
    use_cores(cores)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    monkeypatch.setattr(conv, "SINGLE_BLAS_MIN_MACS", 0)
    monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", 0)
    rng = np.random.default_rng(12)
    x, w, b = random_problem(rng, 1, channels, 2, width, channels, 1, (2, 2))
    args = (1, padding, 1, 1, "zeros")
    assert conv._shifted(conv._geometry(x.shape, w.shape, *args), x.dtype) == (channels > 1)
    assert_matches_naive(rng, x, w, b, args, tol=1e-13)


@pytest.mark.parametrize("start, step, count, size, expected", [
    (-3, 2, 5, 4, (2, 4, 1)),  # positions -3, -1, 1, 3, 5: k = 2, 3 are inside
    (0, 1, 3, 3, (0, 3, 0)), (1, 2, 3, 4, (0, 2, 1)), (-5, 2, 2, 9, None), (4, 2, 3, 4, None),
    (-1, 3, 4, 6, (1, 3, 2))])
def test_crop_span_keeps_the_positions_inside(start, step, count, size, expected):
    assert conv._crop_span(start, step, count, size) == expected


@pytest.mark.parametrize("kernel, stride, dilation", [(7, 2, 1), (5, 2, 1), (4, 2, 1),
                                                      (4, 2, 2), (7, 3, 1), ((7, 5), (2, 3), 1)])
@pytest.mark.parametrize("padding", [0, 3, (1, 2, 0, 3), (4, 0)])
@pytest.mark.parametrize("n, tile_bytes", [(1, None), (3, None), (2, 4096)])
def test_strided_input_delta_written_from_its_phases_equals_the_loops(kernel, stride, dilation,
                                                                      padding, n, tile_bytes,
                                                                      monkeypatch):
    """A strided kernel's input delta goes through the stride phases, written straight into
    dx without the padding: every cell, padding on any side, several images and small tiles."""
    rng = np.random.default_rng(23)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = rng.standard_normal((n, 2, 15, 14))
    w = rng.standard_normal((3, 2, kh, kw))
    geo = conv._geometry(x.shape, w.shape, stride, padding, dilation, 1, "zeros")
    assert conv._phased(geo)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)  # the tiled kernels, not one gather
    if tile_bytes is not None:
        monkeypatch.setattr(conv, "TILE_BYTES", tile_bytes)
    crops, original = [], conv._Phases.crop_into

    def counted(self, *args):
        crops.append(1)
        return original(self, *args)

    monkeypatch.setattr(conv._Phases, "crop_into", counted)
    delta = rng.standard_normal(geo.out_shape)
    dx, dw, _ = conv2d_backward(x, w, delta, stride, padding, dilation)
    dx_ref, dw_ref, _ = conv2d_backward_naive(x, w, delta, stride, padding, dilation)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-12, atol=1e-12)
    assert crops, "the phases were not written into dx"


@pytest.mark.parametrize("cores", [1, 2, 5])
@pytest.mark.parametrize("shape, filters, k, stride, groups", [
    ((1, 3, 40, 40), 16, 7, 2, 1),     # im2col through stride phases, one image
    ((3, 3, 40, 40), 16, 7, 2, 1),     # the same, a batch
    ((1, 16, 48, 48), 32, 3, 1, 1),    # shifted products, one image
    ((4, 16, 32, 32), 16, 3, 1, 1),    # shifted products, a batch
    ((2, 8, 24, 24), 8, 3, 1, 8),      # depthwise
    ((1, 1, 5, 5), 1, 2, 1, 1),        # a homework size
])
def test_bias_gradient_summed_once_whatever_the_threads(shape, filters, k, stride, groups,
                                                         cores, use_cores, monkeypatch):
    # db is summed by the input delta's tasks, each over its own images and rows: every
    # cell of the delta once, the shares added up in order (the same numbers every run)
    use_cores(cores)
    monkeypatch.setattr(conv, "PARALLEL_MIN_MACS", 0)
    monkeypatch.setattr(conv, "DEPTHWISE_PARALLEL_MIN_MACS", 0)
    summed = []
    bias_grad = conv._bias_grad
    monkeypatch.setattr(conv, "_bias_grad",
                        lambda delta: summed.append(delta.size) or bias_grad(delta))
    rng = np.random.default_rng(sum(shape) + cores)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((filters, shape[1] // groups, k, k))
    y = conv.conv2d_forward(x, w, None, stride, k // 2, 1, groups)
    delta = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv2d_backward(x, w, delta, stride, k // 2, 1, groups)
    assert sum(summed) == delta.size  # (dx and dw on these paths: the naive-loop tests above)
    np.testing.assert_allclose(db, delta.sum(axis=(0, 2, 3)), rtol=1e-13, atol=1e-13)
    again = conv.conv2d_backward(x, w, delta, stride, k // 2, 1, groups)[2]
    assert np.array_equal(db, again)
    assert dx.shape == x.shape and dw.shape == w.shape


# ---------------------------------------------------------------------------------------
# every size threshold drawn at once: each fast path, its tiles and its threads together

#: For each threshold, values that take the path or leave it, and tiles of a few bytes
#: (so that a small call runs many tiles, remainders of one row or one image included).
THRESHOLDS = {
    "SMALL_MAX_CELLS": [0, 10**9],
    "TILE_BYTES": [1, 200, 3000, 4 * 2**20],
    "MIN_TILE_BYTES": [1, 2**19],
    "MANY_TAPS": [1, 25],  # every kernel's tiles scaled, or from 5×5 on
    "MANY_TAPS_TILE_SCALE": [1, 4],
    # the BLAS's adds, or numpy's below the floors
    "GEMM_MIN_MACS": [NO_FLOORS, conv.GEMM_MIN_MACS],
    "PARALLEL_MIN_MACS": [0, 10**18],
    "SINGLE_BLAS_MIN_MACS": [0, 10**18],
    "BLAS_THREADS_MIN_MACS": [0, 10**18],
    "SHIFTED_MIN_CHANNELS": [1, 4],
    "SHIFTED_MAX_FILTERS_PER_CHANNEL": [1, 4],
    "SHIFTED_TILE_VALUES": [1, 300, 2**20],
    # a kernel row of taps a product: from these channels and filters on (square ones) ...
    "SHIFTED_STACK_KERNEL_MIN": [1, 16],
    "SHIFTED_STACK_SQUARE": [1, 32],
    "PHASE_MIN_TAPS": [0, 4, 100],
    "DEPTHWISE_BLOCK_BYTES": [1, 500, 2**21],
    "DEPTHWISE_COLUMNS_BYTES": [1, 500, 2**21],
    "DEPTHWISE_PHASE_MIN_TAPS": [0, 2, 100],
    "DEPTHWISE_DOTS_BLOCK_BYTES": [1, 500, 2**21],
    "DEPTHWISE_PARALLEL_MIN_MACS": [0, 10**18],
    "DEPTHWISE_DOTS_BLAS_MIN_BYTES": [0, 2**60],
}


@st.composite
def threshold_problems(draw):
    depthwise = draw(st.booleans())
    groups = draw(st.integers(2, 3)) if depthwise else draw(st.integers(1, 2))
    c_group, f_group = (1, 1) if depthwise else (draw(st.sampled_from([1, 2, 4])),
                                                 draw(st.sampled_from([1, 2, 3, 8])))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    mode = draw(st.sampled_from(PADDING_MODES))
    h, w = draw(st.integers(2, 7)), draw(st.integers(2, 7))
    # torch's limits: reflect padding < the size, circular ≤ the size
    sizes = (h, h, w, w)
    limits = [{"reflect": size - 1, "circular": size}.get(mode, 4) for size in sizes]
    sides = tuple(draw(st.integers(0, limit)) for limit in limits)
    settings_drawn = {name: draw(st.sampled_from(values))
                      for name, values in THRESHOLDS.items()}
    return dict(n=draw(st.sampled_from([1, 1, 2, 3])), c=c_group * groups,
                f=f_group * groups, hw=(h, w), kernel=kernel, groups=groups,
                args=(stride, sides, dilation, groups, mode), untied=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float64, np.float32])),
                layout=draw(st.sampled_from(["C", "F", "strided"])),
                cores=draw(st.sampled_from([1, 2, 3, 5])), thresholds=settings_drawn,
                seed=draw(st.integers(0, 2**32 - 1)))


@settings(max_examples=40, deadline=None)
@given(problem=threshold_problems())
def test_every_threshold_and_thread_split_matches_naive(problem):
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(problem["seed"])
    x, weights, bias = random_problem(rng, problem["n"], problem["c"], *problem["hw"],
                                      problem["f"], problem["groups"], problem["kernel"],
                                      problem["dtype"])
    try:
        y_naive = conv2d_forward_naive(x, weights, bias, *problem["args"])
    except ValueError:  # the dilated kernel does not fit the padded input
        return
    if problem["untied"]:
        bias = rng.standard_normal(y_naive.shape[1:]).astype(problem["dtype"])
        y_naive = conv2d_forward_naive(x, weights, bias, *problem["args"])
    if problem["layout"] == "F":
        x = np.asfortranarray(x)
    elif problem["layout"] == "strided":
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    delta = rng.standard_normal(y_naive.shape).astype(problem["dtype"])
    grads_naive = conv2d_backward_naive(x, weights, delta, *problem["args"])
    tol = 1e-12 if problem["dtype"] == np.float64 else 2e-5
    with pytest.MonkeyPatch.context() as patch, threadpool_limits(limits=problem["cores"],
                                                                   user_api="blas"):
        for name, value in problem["thresholds"].items():
            patch.setattr(conv, name, value)
        patch.setattr(conv, "_cores", lambda: problem["cores"])
        y = conv2d_forward(x, weights, bias, *problem["args"])
        grads = conv2d_backward(x, weights, delta, *problem["args"])
    assert y.dtype == problem["dtype"]
    assert_same(y, y_naive, tol)
    for fast, naive in zip(grads, grads_naive):
        assert fast.dtype == problem["dtype"]
        assert_same(fast, naive, tol)


@pytest.mark.parametrize("rows_per_block", [1, 2**20])
def test_an_untied_bias_one_column_wide_is_added_row_by_row(monkeypatch, rows_per_block):
    # an untied bias (F, H', 1) was taken for one per filter, (F, 1, 1), by its last axis,
    # and added whole to each block of rows: a ValueError where a block held fewer rows
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 1, 2, 2))
    w = rng.standard_normal((2, 1, 1, 3))
    args = ((1, 1), (0, 0, 1, 4), (1, 3))  # W' = 2 + 5 − 3·2 − 1 + 1 = 1
    untied = rng.standard_normal((2, 2, 1))
    monkeypatch.setattr(conv, "SHIFTED_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    monkeypatch.setattr(conv, "SHIFTED_TILE_VALUES", rows_per_block)
    assert_same(conv2d_forward(x, w, untied, *args), conv2d_forward_naive(x, w, untied, *args),
                tol=1e-13)


@pytest.mark.parametrize("kernel, dilation", [((1, 4), (1, 2)), ((4, 1), (2, 1)),
                                              ((3, 5), (2, 3)), ((2, 2), (3, 1))])
@pytest.mark.parametrize("mode, padding", [("zeros", (1, 2)), ("reflect", (1, 1)),
                                           ("circular", (2, 0, 0, 3))])
@pytest.mark.parametrize("n, tile_values", [(1, 700), (3, 10**7)])
def test_kernel_row_products_with_any_kernel_shape_and_dilation(monkeypatch, kernel, dilation,
                                                               mode, padding, n, tile_values):
    # a kernel row of taps per product, a row or a column kernel, dilations that differ by
    # axis, blocks of a few rows or of whole images
    monkeypatch.setattr(conv, "_taps_per_product", lambda geo, rows, inner, least=1: geo.kw)
    monkeypatch.setattr(conv, "SHIFTED_TILE_VALUES", tile_values)
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    rng = np.random.default_rng(23)
    x, w, b = random_problem(rng, n, 4, 10, 11, 6, 1, kernel)
    args = (1, padding, dilation, 1, mode)
    assert conv._shifted(conv._geometry(x.shape, w.shape, *args), x.dtype)
    y = conv2d_forward(x, w, b, *args)
    assert_same(y, conv2d_forward_naive(x, w, b, *args), tol=1e-13)
    delta = rng.standard_normal(y.shape)
    for actual, expected in zip(conv2d_backward(x, w, delta, *args),
                                conv2d_backward_naive(x, w, delta, *args)):
        assert_same(actual, expected, tol=1e-13)


@pytest.mark.parametrize("x_shape, w_shape, padding, rotated", [
    ((1, 1, 1, 40), (1, 1, 1, 40), 0, False),  # one output cell: 40 terms, not 40²
    ((1, 1, 6, 6), (1, 1, 5, 5), 0, False),
    ((1, 2, 6, 6), (3, 2, 3, 3), 1, True),     # the usual shapes keep the correlation
    ((1, 1, 5, 5), (1, 1, 2, 2), 0, True),
])
def test_exact_input_delta_of_a_kernel_as_large_as_its_input_goes_by_col2im(
        x_shape, w_shape, padding, rotated):
    # in fractions the correlation's term per input cell and kernel cell took minutes for a
    # 1×6000 kernel that the work budget (outputs × kernel cells) allowed; the float path
    # keeps its choice
    geo = conv._geometry(x_shape, w_shape, 1, padding, 1, 1, "zeros")
    assert conv._by_rotated_kernel(geo, exact=True) is rotated
    assert conv._by_rotated_kernel(geo, exact=False) is True
    rng = np.random.default_rng(7)
    x = rng.integers(-4, 5, x_shape).astype(float)
    w = rng.integers(-4, 5, w_shape).astype(float)
    delta = rng.integers(-4, 5, conv.conv2d_forward(x, w, padding=padding).shape).astype(float)
    exact = conv.conv2d_backward(np.vectorize(Fraction, otypes=[object])(x),
                                 np.vectorize(Fraction, otypes=[object])(w),
                                 np.vectorize(Fraction, otypes=[object])(delta), padding=padding)
    naive = conv.conv2d_backward_naive(x, w, delta, padding=padding)
    for got, expected in zip(exact, naive):
        assert got.dtype == object
        np.testing.assert_array_equal(got.astype(float), expected)
