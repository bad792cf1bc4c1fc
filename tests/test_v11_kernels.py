"""Tests of the v1.1 kernels: conv1d, 1-D pools, conv_transpose2d, batch norm, dropout,
softmax / log_softmax, nearest upsampling, the bce / bce_with_logits / nll losses and
TensorFlow's "same" padding.

Each family: literals worked by hand, the fast kernel against its plain-loop twin on random
shapes and options, central finite differences for every parameter and the input, torch
float64 autograd (skipped without torch) and, where the operation is rational, exact
Fractions.
"""

from __future__ import annotations

import inspect
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnngrad
from cnngrad.layers import batchnorm, conv1d, conv_transpose, dropout, losses, pool1d, softmax
from cnngrad.layers import upsample
from cnngrad.layers._common import same_padding

to_fractions = np.vectorize(Fraction, otypes=[object])


def close(actual, expected, tol=1e-10):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.astype(float), expected.astype(float), rtol=tol, atol=tol)


def numeric_gradient(loss, array, step=1e-6):
    """Central differences of the scalar ``loss()`` with respect to each cell of ``array``
    (changed in place and restored)."""
    grad = np.zeros(array.shape)
    for index in np.ndindex(*array.shape):
        kept = array[index]
        array[index] = kept + step
        plus = loss()
        array[index] = kept - step
        minus = loss()
        array[index] = kept
        grad[index] = (plus - minus) / (2 * step)
    return grad


def random_fractions(rng, shape, denominator=4):
    return to_fractions(rng.integers(-9, 10, shape)) / Fraction(denominator)


# ---------------------------------------------------------------------------------------
# conv1d

CONV1D_OPTIONS = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=3, padding=(2, 0), dilation=2),
    dict(padding=2, dilation=3, groups=2),
    dict(stride=2, padding=(1, 2), groups=2, padding_mode="reflect"),
    dict(padding=3, padding_mode="circular"),
    dict(padding=(0, 2), padding_mode="replicate", groups=2),
]


def conv1d_problem(rng, options, n=2, c=4, length=9, f=6, k=3):
    groups = options.get("groups", 1)
    x = rng.standard_normal((n, c, length))
    w = rng.standard_normal((f, c // groups, k))
    b = rng.standard_normal(f)
    y = conv1d.conv1d_forward(x, w, b, **options)
    return x, w, b, rng.standard_normal(y.shape)


@pytest.mark.parametrize("options", CONV1D_OPTIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_conv1d_fast_matches_naive(seed, options):
    rng = np.random.default_rng(seed)
    x, w, b, delta = conv1d_problem(rng, options, length=9 + seed, k=2 + seed)
    close(conv1d.conv1d_forward(x, w, b, **options),
          conv1d.conv1d_forward_naive(x, w, b, **options))
    for fast, slow in zip(conv1d.conv1d_backward(x, w, delta, **options),
                          conv1d.conv1d_backward_naive(x, w, delta, **options)):
        close(fast, slow)


@pytest.mark.parametrize("options", [o for o in CONV1D_OPTIONS if "stride" not in o])
def test_conv1d_shifted_products_match_naive(monkeypatch, options):
    # stride 1 with 8 channels: the conv2d kernels' one product per tap (over 1-row maps),
    # not the gathered path for small calls
    from cnngrad.layers import conv
    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    taken, shifted_forward = [], conv._shifted_forward
    monkeypatch.setattr(conv, "_shifted_forward",
                        lambda *args: taken.append(True) or shifted_forward(*args))
    rng = np.random.default_rng(5)
    x, w, b, delta = conv1d_problem(rng, options, c=8, f=8, length=13)
    close(conv1d.conv1d_forward(x, w, b, **options),
          conv1d.conv1d_forward_naive(x, w, b, **options))
    for fast, slow in zip(conv1d.conv1d_backward(x, w, delta, **options),
                          conv1d.conv1d_backward_naive(x, w, delta, **options)):
        close(fast, slow)
    assert taken


@pytest.mark.parametrize("options", CONV1D_OPTIONS[:5])
def test_conv1d_finite_differences(options):
    rng = np.random.default_rng(2)
    x, w, b, delta = conv1d_problem(rng, options, n=1, length=7, f=2 if "groups" in options
                                    else 1, c=2)

    def loss():
        return float((conv1d.conv1d_forward(x, w, b, **options) * delta).sum())

    dx, dw, db = conv1d.conv1d_backward(x, w, delta, **options)
    for analytic, array in ((dx, x), (dw, w), (db, b)):
        close(analytic, numeric_gradient(loss, array), tol=1e-6)


def test_conv1d_literal():
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    w = np.array([[[1.0, 0.0, -1.0]]])
    # y_i = x_i − x_(i+2); padding 1: [0 − 2, 1 − 3, 2 − 4, 3 − 5, 4 − 0]
    y = conv1d.conv1d_forward(x, w, np.array([0.5]), padding=1)
    close(y[0, 0], [-1.5, -1.5, -1.5, -1.5, 4.5])
    dx, dw, db = conv1d.conv1d_backward(x, w, np.ones((1, 1, 5)), padding=1)
    # dw_m = Σ_i xpad[i + m] = sums of [0,1,2,3,4], [1..5], [2,3,4,5,0]
    close(dw[0, 0], [10.0, 15.0, 14.0])
    close(dx[0, 0], [1.0, 0.0, 0.0, 0.0, -1.0])
    close(db, [5.0])


def test_conv1d_untied_bias_and_exact_fractions():
    rng = np.random.default_rng(3)
    x, w = random_fractions(rng, (2, 2, 6)), random_fractions(rng, (3, 2, 2))
    b = random_fractions(rng, (3, 3))  # untied: L' = (6 + 1 − 2 − 1) // 2 + 1
    options = dict(stride=2, padding=(1, 0), dilation=2)
    y = conv1d.conv1d_forward(x, w, b, **options)
    assert y.dtype == object and all(isinstance(v, (Fraction, int)) for v in y.flat)
    assert (y == conv1d.conv1d_forward_naive(x, w, b, **options)).all()
    delta = random_fractions(rng, y.shape)
    for fast, slow in zip(conv1d.conv1d_backward(x, w, delta, **options),
                          conv1d.conv1d_backward_naive(x, w, delta, **options)):
        assert fast.dtype == object and (fast == slow).all()


@pytest.mark.parametrize("bad, message", [
    (dict(x=np.ones((1, 4))), "3-D"),
    (dict(stride=(1, 2)), "integer"),
    (dict(padding=(1, 2, 3)), "left, right"),
    (dict(padding=5, padding_mode="reflect"), "smaller than the input length"),
    (dict(w=np.ones((1, 1, 9))), "does not fit"),
])
def test_conv1d_errors_name_the_problem(bad, message):
    arguments = dict(x=np.ones((1, 1, 4)), w=np.ones((1, 1, 2)))
    arguments.update(bad)
    with pytest.raises(ValueError, match=message):
        conv1d.conv1d_forward(**arguments)


# ---------------------------------------------------------------------------------------
# 1-D pools

POOL1D_OPTIONS = [
    dict(size=2),
    dict(size=3, stride=2, padding=1),
    dict(size=3, stride=2, ceil_mode=True),
    dict(size=4, stride=3, padding=2, ceil_mode=True),
    dict(size=2, stride=1),
]


@pytest.mark.parametrize("options", POOL1D_OPTIONS)
@pytest.mark.parametrize("ties", ["first", "split", "all"])
def test_maxpool1d_fast_matches_naive_with_ties(options, ties):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (2, 3, 9)).astype(float)  # many ties
    y = pool1d.maxpool1d_forward(x, **options)
    close(y, pool1d.maxpool1d_forward_naive(x, **options))
    delta = rng.standard_normal(y.shape)
    close(pool1d.maxpool1d_backward(x, delta, ties=ties, **options),
          pool1d.maxpool1d_backward_naive(x, delta, ties=ties, **options))


@pytest.mark.parametrize("options", POOL1D_OPTIONS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avgpool1d_fast_matches_naive(options, count_include_pad):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 10))
    y = pool1d.avgpool1d_forward(x, count_include_pad=count_include_pad, **options)
    close(y, pool1d.avgpool1d_forward_naive(x, count_include_pad=count_include_pad, **options))
    delta = rng.standard_normal(y.shape)
    close(pool1d.avgpool1d_backward(x, delta, count_include_pad=count_include_pad, **options),
          pool1d.avgpool1d_backward_naive(x, delta, count_include_pad=count_include_pad,
                                          **options))


def test_pool1d_literals():
    x = np.array([[[1.0, 3.0, 3.0, 0.0, 2.0]]])
    close(pool1d.maxpool1d_forward(x, 2, ceil_mode=True)[0, 0], [3.0, 3.0, 2.0])
    delta = np.array([[[10.0, 20.0, 30.0]]])
    # windows [1 3 3], [3 3 0], [3 0 2]: "first" sends all three deltas to x[1] or x[2]
    close(pool1d.maxpool1d_backward(x, delta, 3, 1)[0, 0], [0.0, 30.0, 30.0, 0.0, 0.0])
    close(pool1d.maxpool1d_backward(x, delta, 3, 1, ties="split")[0, 0],
          [0.0, 15.0, 45.0, 0.0, 0.0])
    close(pool1d.maxpool1d_backward(x, delta, 3, 1, ties="all")[0, 0],
          [0.0, 30.0, 60.0, 0.0, 0.0])
    # padding 1, count_include_pad: [0+1]/2, [3+3]/2, [0+2]/2
    close(pool1d.avgpool1d_forward(x, 2, padding=1)[0, 0], [0.5, 3.0, 1.0])
    close(pool1d.avgpool1d_forward(x, 3, 2, 1, count_include_pad=False)[0, 0],
          [2.0, 2.0, 1.0])


def test_pool1d_exact_fractions():
    rng = np.random.default_rng(6)
    x = random_fractions(rng, (1, 2, 7), denominator=3)
    delta = random_fractions(rng, (1, 2, 4))  # L' = (7 + 2 − 3) // 2 + 1
    dx = pool1d.maxpool1d_backward(x, delta, 3, 2, 1, ties="split")
    assert dx.dtype == object and (dx == pool1d.maxpool1d_backward_naive(x, delta, 3, 2, 1,
                                                                          ties="split")).all()
    y = pool1d.avgpool1d_forward(x, 3, 2, 1, count_include_pad=False)
    assert (y == pool1d.avgpool1d_forward_naive(x, 3, 2, 1, count_include_pad=False)).all()
    dx = pool1d.avgpool1d_backward(x, delta, 3, 2, 1)
    assert (dx == pool1d.avgpool1d_backward_naive(x, delta, 3, 2, 1)).all()


@pytest.mark.parametrize("bad, message", [
    (dict(size=(2, 2)), "integer"),
    (dict(size=2, padding=2), "at most half"),
    (dict(size=9), "larger than the padded input"),
])
def test_pool1d_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        pool1d.maxpool1d_forward(np.ones((1, 1, 4)), **bad)


# ---------------------------------------------------------------------------------------
# conv_transpose2d

TRANSPOSED_OPTIONS = [
    dict(),
    dict(stride=2),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(3, 2), padding=(1, 0), output_padding=(2, 1)),
    dict(dilation=2, padding=1, groups=2),
    dict(stride=1, dilation=3, output_padding=2),  # output_padding ≥ stride: < dilation
    dict(stride=2, dilation=(1, 2), groups=2, padding=(0, 2)),
]


def transposed_problem(rng, options, n=2, c_in=4, h=4, w=3, f=6, kernel=(3, 2)):
    groups = options.get("groups", 1)
    x = rng.standard_normal((n, c_in, h, w))
    weights = rng.standard_normal((c_in, f // groups) + kernel)
    b = rng.standard_normal(f)
    y = conv_transpose.conv_transpose2d_forward(x, weights, b, **options)
    return x, weights, b, rng.standard_normal(y.shape)


@pytest.mark.parametrize("options", TRANSPOSED_OPTIONS)
@pytest.mark.parametrize("kernel", [(3, 2), (1, 1)])
def test_conv_transpose2d_fast_matches_naive(options, kernel):
    rng = np.random.default_rng(7)
    x, w, b, delta = transposed_problem(rng, options, kernel=kernel)
    close(conv_transpose.conv_transpose2d_forward(x, w, b, **options),
          conv_transpose.conv_transpose2d_forward_naive(x, w, b, **options))
    for fast, slow in zip(conv_transpose.conv_transpose2d_backward(x, w, delta, **options),
                          conv_transpose.conv_transpose2d_backward_naive(x, w, delta,
                                                                         **options)):
        close(fast, slow)


@pytest.mark.parametrize("options", TRANSPOSED_OPTIONS[2:6])
def test_conv_transpose2d_finite_differences(options):
    rng = np.random.default_rng(8)
    x, w, b, delta = transposed_problem(rng, options, n=1, c_in=2, h=2, w=2, f=2,
                                        kernel=(2, 2))

    def loss():
        return float((conv_transpose.conv_transpose2d_forward(x, w, b, **options)
                      * delta).sum())

    dx, dw, db = conv_transpose.conv_transpose2d_backward(x, w, delta, **options)
    for analytic, array in ((dx, x), (dw, w), (db, b)):
        close(analytic, numeric_gradient(loss, array), tol=1e-6)


def test_conv_transpose2d_literal():
    # each input cell stamps the kernel times itself at (2i, 2j); the stamps overlap by one
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    y = conv_transpose.conv_transpose2d_forward(x, w, stride=1)
    close(y[0, 0], [[1, 12, 20], [103, 1234, 2040], [300, 3400, 4000]])
    # stride 2, padding 0, output_padding 1: a 5×5 output whose last row and column get 0
    y = conv_transpose.conv_transpose2d_forward(x, w, stride=2, output_padding=1)
    close(y[0, 0], [[1, 10, 2, 20, 0], [100, 1000, 200, 2000, 0], [3, 30, 4, 40, 0],
                    [300, 3000, 400, 4000, 0], [0, 0, 0, 0, 0]])
    dx, dw, db = conv_transpose.conv_transpose2d_backward(x, w, np.ones((1, 1, 3, 3)))
    close(dx[0, 0], [[1111, 1111], [1111, 1111]])
    close(dw[0, 0], [[10, 10], [10, 10]])
    close(db, [9.0])


def test_conv_transpose2d_exact_fractions():
    rng = np.random.default_rng(9)
    x, w = random_fractions(rng, (1, 2, 3, 2)), random_fractions(rng, (2, 2, 2, 3))
    b = random_fractions(rng, (2,))
    options = dict(stride=2, padding=1, output_padding=1)
    y = conv_transpose.conv_transpose2d_forward(x, w, b, **options)
    assert y.dtype == object
    assert (y == conv_transpose.conv_transpose2d_forward_naive(x, w, b, **options)).all()
    delta = random_fractions(rng, y.shape)
    for fast, slow in zip(conv_transpose.conv_transpose2d_backward(x, w, delta, **options),
                          conv_transpose.conv_transpose2d_backward_naive(x, w, delta,
                                                                         **options)):
        assert fast.dtype == object and (fast == slow).all()


@pytest.mark.parametrize("bad, message", [
    (dict(output_padding=2, stride=2), "smaller than the stride"),
    (dict(w=np.ones((3, 1, 2, 2))), "input channels"),
    (dict(groups=2), "divisible"),
    (dict(padding=3), "crops more"),
])
def test_conv_transpose2d_errors(bad, message):
    arguments = dict(x=np.ones((1, 1, 2, 2)), w=np.ones((1, 1, 2, 2)))
    arguments.update(bad)
    with pytest.raises(ValueError, match=message):
        conv_transpose.conv_transpose2d_forward(**arguments)



@st.composite
def transposed_settings(draw):
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    groups = draw(st.sampled_from([1, 2]))
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    full = [(n - 1) * s + d * (k - 1) + op + 1
            for n, s, d, k, op in zip(size, stride, dilation, kernel, output_padding)]
    padding = tuple(draw(st.integers(0, (f - 1) // 2)) for f in full)
    return dict(stride=stride, dilation=dilation, output_padding=output_padding,
                padding=padding, groups=groups), kernel, size, draw(st.integers(0, 2**16))


@settings(max_examples=25, deadline=None)
@given(transposed_settings())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(drawn):
    """⟨conv2d(z, w), x⟩ = ⟨conv_transpose2d(x, w), z⟩ for every z, and the backward pass
    matches the plain loops."""
    from cnngrad.layers.conv import conv2d_forward

    options, kernel, size, seed = drawn
    rng = np.random.default_rng(seed)
    groups = options["groups"]
    x = rng.standard_normal((1, 2) + size)
    w = rng.standard_normal((2, 4 // groups) + kernel)
    y = conv_transpose.conv_transpose2d_forward(x, w, **options)
    z = rng.standard_normal(y.shape)
    padding = options["padding"]
    convolved = conv2d_forward(z, w, None, options["stride"], padding, options["dilation"],
                               groups)[:, :, :size[0], :size[1]]
    assert np.sum(convolved * x) == pytest.approx(np.sum(y * z), rel=1e-9, abs=1e-9)
    for fast, slow in zip(conv_transpose.conv_transpose2d_backward(x, w, z, **options),
                          conv_transpose.conv_transpose2d_backward_naive(x, w, z, **options)):
        close(fast, slow)


@pytest.mark.parametrize("call", [
    lambda x: conv1d.conv1d_forward(x[0], x[0, :, :, :2].astype(np.float32)),
    lambda x: conv_transpose.conv_transpose2d_forward(x, x[:2, :, :2, :2]),
    lambda x: batchnorm.batchnorm_forward(x, np.ones(2, np.float32), np.zeros(2, np.float32)),
    lambda x: pool1d.maxpool1d_forward(x[0], 2),
    lambda x: upsample.upsample_nearest_forward(x, 2),
    lambda x: softmax.softmax_forward(x),
    lambda x: dropout.dropout_forward(x, np.ones(x.shape), 0.5),
])
def test_float32_stays_float32(call):
    x = np.random.default_rng(17).standard_normal((2, 2, 3, 3)).astype(np.float32)
    assert call(x).dtype == np.float32

# ---------------------------------------------------------------------------------------
# batch norm

BATCHNORM_SHAPES = [(4, 3), (2, 3, 5), (2, 3, 4, 3)]


def batchnorm_problem(rng, shape, mode):
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    stats = {}
    if mode == "eval":
        stats = dict(running_mean=rng.standard_normal(c), running_var=rng.random(c) + 0.5)
    return x, gamma, beta, rng.standard_normal(shape), stats


@pytest.mark.parametrize("shape", BATCHNORM_SHAPES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_fast_matches_naive(shape, mode):
    rng = np.random.default_rng(10)
    x, gamma, beta, delta, stats = batchnorm_problem(rng, shape, mode)
    close(batchnorm.batchnorm_forward(x, gamma, beta, 1e-3, mode, **stats),
          batchnorm.batchnorm_forward_naive(x, gamma, beta, 1e-3, mode, **stats))
    for fast, slow in zip(batchnorm.batchnorm_backward(x, gamma, delta, 1e-3, mode, **stats),
                          batchnorm.batchnorm_backward_naive(x, gamma, delta, 1e-3, mode,
                                                             **stats)):
        close(fast, slow)


@pytest.mark.parametrize("block_bytes", [1, 2000])  # one channel a block; 4, then a short 3
@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("blas", [False, True])     # dot products by the BLAS or by einsum
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batchnorm_blocks_and_threads_match_naive(monkeypatch, block_bytes, threads, blas, mode,
                                                  dtype):
    monkeypatch.setattr(batchnorm, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(batchnorm, "PARALLEL_MIN_BYTES", 0 if threads else 10**18)
    monkeypatch.setattr(batchnorm, "BLAS_MIN_BYTES", 0 if blas else 10**18)
    monkeypatch.setattr(batchnorm, "_threads", lambda: 3)
    rng = np.random.default_rng(11)
    x, gamma, beta, delta, stats = batchnorm_problem(rng, (4, 7, 3, 5), mode)
    x, gamma, beta, delta = (a.astype(dtype) for a in (x, gamma, beta, delta))
    stats = {name: value.astype(dtype) for name, value in stats.items()}
    tol = 1e-10 if dtype == np.float64 else 2e-5
    y = batchnorm.batchnorm_forward(x, gamma, beta, 1e-3, mode, **stats)
    assert y.dtype == dtype
    close(y, batchnorm.batchnorm_forward_naive(x, gamma, beta, 1e-3, mode, **stats), tol)
    for fast, slow in zip(batchnorm.batchnorm_backward(x, gamma, delta, 1e-3, mode, **stats),
                          batchnorm.batchnorm_backward_naive(x, gamma, delta, 1e-3, mode,
                                                             **stats)):
        assert fast.dtype == dtype
        close(fast, slow, tol)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batchnorm_whole_block_calls_are_the_per_channel_numbers_to_the_bit(mode, dtype):
    # the same operations on the same numbers, each channel's constant broadcast over its
    # rows: exactly what one call per channel with a Python float constant computes
    rng = np.random.default_rng(12)
    x, gamma, beta, delta, stats = batchnorm_problem(rng, (3, 5, 4, 6), mode)
    x, gamma, beta, delta = (a.astype(dtype) for a in (x, gamma, beta, delta))
    stats = {name: value.astype(dtype) for name, value in stats.items()}
    x3, delta3 = x.reshape(3, 5, -1), delta.reshape(3, 5, -1)
    count = x3.shape[0] * x3.shape[2]
    if mode == "train":
        mean = x3.sum(axis=2).sum(axis=0) / count
        centred = np.stack([x3[:, j] - float(mean[j]) for j in range(5)], axis=1)
        inv_std = 1 / np.sqrt(np.einsum("ncm,ncm->c", centred, centred) / count + 1e-3)
    else:
        centred = np.stack([x3[:, j] - float(stats["running_mean"][j]) for j in range(5)],
                           axis=1)
        inv_std = 1 / np.sqrt(stats["running_var"] + 1e-3)
    scale = gamma * inv_std
    y = np.stack([centred[:, j] * float(scale[j]) + float(beta[j]) for j in range(5)], axis=1)
    assert np.array_equal(batchnorm.batchnorm_forward(x, gamma, beta, 1e-3, mode, **stats),
                          y.reshape(x.shape))
    dx = batchnorm.batchnorm_backward(x, gamma, delta, 1e-3, mode, **stats)[0].reshape(3, 5, -1)
    if mode == "eval":
        expected = [delta3[:, j] * float(scale[j]) for j in range(5)]
    else:
        sum_delta = delta3.sum(axis=2).sum(axis=0)
        k = np.einsum("ncm,ncm->c", delta3, centred) * inv_std * inv_std / count
        expected = [(delta3[:, j] - float(sum_delta[j] / count) - centred[:, j] * float(k[j]))
                    * float(scale[j]) for j in range(5)]
    assert np.array_equal(dx, np.stack(expected, axis=1))


def test_batchnorm_block_errors_reach_the_caller(monkeypatch):
    # a failure inside a block on a helper thread is raised, not lost
    monkeypatch.setattr(batchnorm, "BLOCK_BYTES", 1)
    monkeypatch.setattr(batchnorm, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(batchnorm, "_threads", lambda: 2)
    seen = []

    def work(channels, scratch):
        seen.append(channels.start)
        if channels.start == 3:
            raise FloatingPointError("block 3")

    with pytest.raises(FloatingPointError, match="block 3"):
        batchnorm._over_channel_blocks(work, np.zeros((2, 5, 4)))
    assert 3 in seen


@pytest.mark.parametrize("shape", BATCHNORM_SHAPES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_finite_differences(shape, mode):
    rng = np.random.default_rng(12)
    x, gamma, beta, delta, stats = batchnorm_problem(rng, shape, mode)

    def loss():
        return float((batchnorm.batchnorm_forward(x, gamma, beta, 1e-5, mode, **stats)
                      * delta).sum())

    dx, dgamma, dbeta = batchnorm.batchnorm_backward(x, gamma, delta, 1e-5, mode, **stats)
    for analytic, array in ((dx, x), (dgamma, gamma), (dbeta, beta)):
        close(analytic, numeric_gradient(loss, array), tol=1e-6)


def test_batchnorm_literal():
    # one channel, values 1 and 3: μ = 2, σ² = 1 (biased), x̂ = ∓1/√(1 + ε)
    x = np.array([[1.0], [3.0]])
    y = batchnorm.batchnorm_forward(x, np.array([2.0]), np.array([0.5]), eps=0.0)
    close(y, [[-1.5], [2.5]])
    # δ = (1, 0): dβ = 1, dγ = Σ δ·x̂ = −1, dx = γ·(δ − Σδ/2 − x̂·Σδx̂/2) = 2·(½ − ½) = 0
    dx, dgamma, dbeta = batchnorm.batchnorm_backward(x, np.array([2.0]),
                                                     np.array([[1.0], [0.0]]), eps=0.0)
    close(dx, [[0.0], [0.0]])
    close(dgamma, [-1.0])
    close(dbeta, [1.0])
    # eval: (x − 1)/√(3 + 1)·γ
    y = batchnorm.batchnorm_forward(x, np.array([2.0]), np.array([0.0]), eps=1.0, mode="eval",
                                    running_mean=np.array([1.0]), running_var=np.array([3.0]))
    close(y, [[0.0], [2.0]])


def test_batchnorm_aliases_are_the_same_function():
    assert batchnorm.batchnorm2d_forward is batchnorm.batchnorm_forward
    assert batchnorm.batchnorm1d_backward is batchnorm.batchnorm_backward
    assert cnngrad.batchnorm2d_backward is batchnorm.batchnorm_backward


@pytest.mark.parametrize("x, options, message", [
    (np.ones((1, 3)), {}, "more than one value per channel"),
    (np.ones((1, 3, 1, 1)), {}, "more than one value per channel"),
    (np.ones((2, 3)), dict(mode="test"), "mode must be one of train, eval"),
    (np.ones((2, 3)), dict(mode="eval"), "needs running_mean"),
    (np.ones((2, 3)), dict(running_mean=np.zeros(3), running_var=np.ones(3)), "only with"),
    (np.ones((2, 4)), {}, r"gamma must have shape \(4,\)"),
])
def test_batchnorm_errors(x, options, message):
    with pytest.raises(ValueError, match=message):
        batchnorm.batchnorm_forward(x, np.ones(3), np.zeros(x.shape[1]), **options)


def test_batchnorm_fractions_compute_in_float():
    x = to_fractions(np.array([[1, 2], [3, 5]]))
    y = batchnorm.batchnorm_forward(x, np.ones(2), np.zeros(2), eps=0.0)
    assert y.dtype == np.float64
    close(y, [[-1.0, -1.0], [1.0, 1.0]])


# ---------------------------------------------------------------------------------------
# dropout, softmax, log_softmax, upsample


def test_dropout_literal_and_backward():
    x = np.array([[2.0, -4.0, 6.0, 8.0]])
    mask = np.array([[1, 0, 1, 0]])
    close(dropout.dropout_forward(x, mask, 0.5), [[4.0, 0.0, 12.0, 0.0]])
    close(dropout.dropout_backward(mask, 0.5, np.ones((1, 4))), [[2.0, 0.0, 2.0, 0.0]])
    close(dropout.dropout_forward(x, mask, 0.0), [[2.0, 0.0, 6.0, 0.0]])


@pytest.mark.parametrize("p", [0.0, 0.2, 0.75])
@pytest.mark.parametrize("shape", [(3, 5), (2, 2, 3, 3)])
def test_dropout_fast_matches_naive_and_differences(p, shape):
    rng = np.random.default_rng(13)
    x, delta = rng.standard_normal(shape), rng.standard_normal(shape)
    mask = rng.integers(0, 2, shape)
    close(dropout.dropout_forward(x, mask, p), dropout.dropout_forward_naive(x, mask, p))
    dx = dropout.dropout_backward(mask, p, delta)
    close(dx, dropout.dropout_backward_naive(mask, p, delta))
    close(dx, numeric_gradient(lambda: float((dropout.dropout_forward(x, mask, p) * delta)
                                             .sum()), x), tol=1e-6)


def test_dropout_exact():
    x = to_fractions(np.array([1, 2, 3]))
    y = dropout.dropout_forward(x, np.array([1, 0, 1]), Fraction(1, 3))
    assert list(y) == [Fraction(3, 2), 0, Fraction(9, 2)]
    dx = dropout.dropout_backward(np.array([0, 1, 1]), Fraction(1, 3), to_fractions(np.ones(3)))
    assert list(dx) == [0, Fraction(3, 2), Fraction(3, 2)]


@pytest.mark.parametrize("p, mask, message", [
    (1.0, [1, 0], r"\[0, 1\)"),
    (-0.1, [1, 0], r"\[0, 1\)"),
    (0.5, [1, 2], "only 0s and 1s"),
    (0.5, [1, 0, 1], "shape"),
])
def test_dropout_errors(p, mask, message):
    with pytest.raises(ValueError, match=message):
        dropout.dropout_forward(np.ones(2), np.array(mask), p)


@pytest.mark.parametrize("shape", [(5,), (3, 4)])
@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
def test_softmax_fast_matches_naive_and_differences(shape, kind):
    rng = np.random.default_rng(14)
    forward = getattr(softmax, f"{kind}_forward")
    backward = getattr(softmax, f"{kind}_backward")
    x, delta = rng.standard_normal(shape) * 3, rng.standard_normal(shape)
    y = forward(x)
    close(y, getattr(softmax, f"{kind}_forward_naive")(x))
    dx = backward(y, delta)
    close(dx, getattr(softmax, f"{kind}_backward_naive")(y, delta))
    close(dx, numeric_gradient(lambda: float((forward(x) * delta).sum()), x), tol=1e-6)


def test_softmax_literals():
    y = softmax.softmax_forward(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    close(y, [[0.25, 0.75], [0.5, 0.5]])
    # the full Jacobian: dx = y·(δ − Σδy) = [¼·(1 − ¼), ¾·(0 − ¼)]
    close(softmax.softmax_backward(y[:1], np.array([[1.0, 0.0]])), [[0.1875, -0.1875]])
    log_y = softmax.log_softmax_forward(np.array([0.0, np.log(3.0)]))
    close(log_y, np.log([0.25, 0.75]))
    close(softmax.log_softmax_backward(log_y, np.array([1.0, 0.0])), [0.75, -0.75])


@pytest.mark.parametrize("shape, scale", [((1, 2, 3), 2), ((2, 1, 2, 3), 3),
                                          ((1, 2, 3, 2), (2, 1)), ((1, 1, 2, 2), (1, 3))])
def test_upsample_fast_matches_naive_and_differences(shape, scale):
    rng = np.random.default_rng(15)
    x = rng.standard_normal(shape)
    y = upsample.upsample_nearest_forward(x, scale)
    close(y, upsample.upsample_nearest_forward_naive(x, scale))
    delta = rng.standard_normal(y.shape)
    dx = upsample.upsample_nearest_backward(delta, scale)
    close(dx, upsample.upsample_nearest_backward_naive(delta, scale))
    close(dx, numeric_gradient(
        lambda: float((upsample.upsample_nearest_forward(x, scale) * delta).sum()), x),
        tol=1e-6)


def test_upsample_literal_and_exact():
    x = to_fractions(np.array([[[[1, 2], [3, 4]]]])) / 3
    y = upsample.upsample_nearest_forward(x, (1, 2))
    assert y.dtype == object
    assert y[0, 0].tolist() == [[Fraction(1, 3)] * 2 + [Fraction(2, 3)] * 2,
                                [Fraction(1)] * 2 + [Fraction(4, 3)] * 2]
    dx = upsample.upsample_nearest_backward(y, (1, 2))
    assert dx[0, 0].tolist() == [[Fraction(2, 3), Fraction(4, 3)], [Fraction(2), Fraction(8, 3)]]
    close(upsample.upsample_nearest_forward(np.array([[[1.0, 2.0]]]), 3),
          [[[1, 1, 1, 2, 2, 2]]])


@pytest.mark.parametrize("call, message", [
    (lambda: upsample.upsample_nearest_forward(np.ones((1, 1, 2)), (2, 2)), "an int"),
    (lambda: upsample.upsample_nearest_forward(np.ones((1, 1, 2, 2)), 0), "≥ 1"),
    (lambda: upsample.upsample_nearest_backward(np.ones((1, 1, 3)), 2), "multiple"),
    (lambda: upsample.upsample_nearest_forward(np.ones((2, 2)), 2), "N, C, L"),
])
def test_upsample_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------
# losses


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("kind", ["bce", "bce_with_logits"])
def test_bce_fast_matches_naive_and_differences(kind, reduction):
    rng = np.random.default_rng(16)
    z = rng.standard_normal((3, 4)) * 3
    y = 1 / (1 + np.exp(-z)) if kind == "bce" else z
    target = rng.random((3, 4))
    target[0, :2] = (0.0, 1.0)
    loss_fn = getattr(losses, kind)
    loss, delta = loss_fn(y, target, reduction)
    naive_loss, naive_delta = getattr(losses, f"{kind}_naive")(y, target, reduction)
    assert loss == pytest.approx(naive_loss, rel=1e-12)
    close(delta, naive_delta)
    close(delta, numeric_gradient(lambda: loss_fn(y, target, reduction)[0], y), tol=1e-6)


def test_bce_literals():
    loss, delta = losses.bce(np.array([0.5, 0.8]), np.array([1.0, 0.0]))
    assert loss == pytest.approx((np.log(2) - np.log(0.2)) / 2)
    close(delta, [-1.0, 2.5])  # (y − t)/(y(1 − y)) / 2
    # a certain wrong answer: each log clamped at −100, the gradient's denominator at 1e-12
    loss, delta = losses.bce(np.array([0.0, 1.0]), np.array([1.0, 0.0]), "sum")
    assert loss == 200.0
    close(delta, [-1e12, 1e12], tol=1e-3)
    loss, delta = losses.bce_with_logits(np.array([0.0, 800.0]), np.array([1.0, 0.0]), "sum")
    assert loss == pytest.approx(np.log(2) + 800.0)
    close(delta, [-0.5, 1.0])


def test_bce_errors():
    with pytest.raises(ValueError, match=r"outputs in \[0, 1\]"):
        losses.bce(np.array([1.5]), np.array([1.0]))
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 1\]"):
        losses.bce(np.array([0.5]), np.array([2.0]))
    # bce_with_logits takes any real target, as torch's: max(z, 0) − z·t + log(1 + e^−|z|)
    loss, delta = losses.bce_with_logits(np.array([1.5]), np.array([2.0]))
    assert loss == pytest.approx(1.5 - 3.0 + np.log1p(np.exp(-1.5)))
    close(delta, [1 / (1 + np.exp(-1.5)) - 2.0])
    with pytest.raises(ValueError, match="reduction"):
        losses.bce(np.array([0.5]), np.array([1.0]), "half_sum")


def test_nll_literal_exact_and_naive():
    log_probs = np.array([[-0.5, -1.0, -2.0], [-3.0, -0.25, -1.5]])
    loss, delta = losses.nll(log_probs, np.array([2, 1]))
    assert loss == pytest.approx(1.125)
    close(delta, [[0, 0, -0.5], [0, -0.5, 0]])
    naive_loss, naive_delta = losses.nll_naive(log_probs, np.array([2, 1]))
    assert loss == pytest.approx(naive_loss)
    close(delta, naive_delta)
    loss, delta = losses.nll(to_fractions(np.array([-1, -3])) / 4, 1)
    assert loss == Fraction(3, 4) and delta.tolist() == [0, -1]
    close(numeric_gradient(lambda: losses.nll(log_probs, [0, 2])[0], log_probs),
          losses.nll(log_probs, [0, 2])[1], tol=1e-6)
    with pytest.raises(ValueError, match="0 … 2"):
        losses.nll(log_probs, [0, 3])
    with pytest.raises(ValueError, match="class indices"):
        losses.nll(log_probs, [0.5, 1])


# ---------------------------------------------------------------------------------------
# "same" padding


@pytest.mark.parametrize("size, kernel, stride, dilation, expected", [
    (5, 3, 1, 1, (1, 1)),
    (5, 4, 1, 1, (1, 2)),
    (5, 3, 2, 1, (1, 1)),     # out 3: (3 − 1)·2 + 3 − 5 = 2
    (6, 3, 2, 1, (0, 1)),     # out 3: 4 + 3 − 6 = 1, the extra at the end
    (7, 1, 3, 1, (0, 0)),
    (4, 3, 2, 2, (1, 2)),     # out 2: 2 + 5 − 4 = 3
    (1, 5, 4, 1, (2, 2)),
])
def test_same_padding_is_tensorflows_rule(size, kernel, stride, dilation, expected):
    before, after = same_padding(size, kernel, stride, dilation)
    assert (before, after) == expected
    out = (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
    assert out == -(-size // stride)


# ---------------------------------------------------------------------------------------
# the library API

NEW_API = [name for name, module in cnngrad._API.items()
           if module not in ("cnngrad.layers.conv", "cnngrad.layers.pool")]


def test_every_new_name_is_exported_lazily():
    assert len(NEW_API) == 28  # with global_avgpool_forward and _backward
    for name in NEW_API:
        assert name in dir(cnngrad) and callable(getattr(cnngrad, name))


@pytest.mark.parametrize("name", NEW_API)
def test_new_docstrings_are_numpydoc_with_shapes_and_notes(name):
    doc = inspect.getdoc(getattr(cnngrad, name))
    for section in ("Parameters\n----------", "Returns\n-------", "Notes\n-----"):
        assert section in doc, f"{name}: no {section.splitlines()[0]} section"
    assert "(" in doc.split("Parameters")[1].split("Returns")[0]


# ---------------------------------------------------------------------------------------
# against torch, float64 autograd


@pytest.fixture(scope="module")
def torch():
    """torch on one thread: on a busy machine its spinning worker threads cost far more
    than these tiny problems."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def torch_grads(torch, function, *arrays, delta=None):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = function(*tensors)
    out.backward(torch.tensor(delta) if delta is not None else None)
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("options", CONV1D_OPTIONS)
@pytest.mark.parametrize("length, k", [(9, 3), (8, 2)])
def test_conv1d_against_torch(torch, options, length, k):
    rng = np.random.default_rng(20)
    x, w, b, delta = conv1d_problem(rng, options, length=length, k=k)
    opts = dict(options)
    mode = opts.pop("padding_mode", "zeros")
    left, right = (opts.pop("padding", 0),) * 2 if np.ndim(options.get("padding", 0)) == 0 \
        else opts.pop("padding")
    stride, dilation, groups = (opts.pop(key, 1) for key in ("stride", "dilation", "groups"))
    functional = torch.nn.functional

    def reference(xt, wt, bt):
        padded = functional.pad(xt, (left, right), mode="constant" if mode == "zeros" else mode)
        return functional.conv1d(padded, wt, bt, stride, 0, dilation, groups)

    y, grads = torch_grads(torch, reference, x, w, b, delta=delta)
    close(conv1d.conv1d_forward(x, w, b, **options), y)
    for ours, theirs in zip(conv1d.conv1d_backward(x, w, delta, **options), grads):
        close(ours, theirs)


@pytest.mark.parametrize("options", POOL1D_OPTIONS)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_no_pad"])
def test_pool1d_against_torch(torch, options, kind):
    rng = np.random.default_rng(21)
    x = rng.integers(0, 4, (2, 3, 11)).astype(float) if kind == "max" else \
        rng.standard_normal((2, 3, 11))
    size, stride = options["size"], options.get("stride")
    padding, ceil_mode = options.get("padding", 0), options.get("ceil_mode", False)
    if kind == "max":
        reference = lambda t: torch.nn.functional.max_pool1d(t, size, stride, padding,  # noqa
                                                             ceil_mode=ceil_mode)
        forward, backward, extra = pool1d.maxpool1d_forward, pool1d.maxpool1d_backward, {}
    else:
        include = kind == "avg"
        reference = lambda t: torch.nn.functional.avg_pool1d(t, size, stride, padding,  # noqa
                                                             ceil_mode, include)
        forward, backward = pool1d.avgpool1d_forward, pool1d.avgpool1d_backward
        extra = dict(count_include_pad=include)
    y = forward(x, **options, **extra)
    delta = rng.standard_normal(y.shape)
    expected, (dx,) = torch_grads(torch, reference, x, delta=delta)
    close(y, expected)
    close(backward(x, delta, **options, **extra), dx)


@pytest.mark.parametrize("options", TRANSPOSED_OPTIONS)
@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (1, 4, 5, 5)])
def test_conv_transpose2d_against_torch(torch, options, shape):
    rng = np.random.default_rng(22)
    x, w, b, delta = transposed_problem(rng, options, *shape)
    opts = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "dilation": 1,
            **options}

    def reference(xt, wt, bt):
        return torch.nn.functional.conv_transpose2d(xt, wt, bt, opts["stride"], opts["padding"],
                                                    opts["output_padding"], opts["groups"],
                                                    opts["dilation"])

    y, grads = torch_grads(torch, reference, x, w, b, delta=delta)
    close(conv_transpose.conv_transpose2d_forward(x, w, b, **options), y)
    for ours, theirs in zip(conv_transpose.conv_transpose2d_backward(x, w, delta, **options),
                            grads):
        close(ours, theirs)


@pytest.mark.parametrize("shape", BATCHNORM_SHAPES + [(2, 1)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_against_torch(torch, shape, mode):
    rng = np.random.default_rng(23)
    x, gamma, beta, delta, stats = batchnorm_problem(rng, shape, mode)
    running = [torch.tensor(stats[k]) if stats else None for k in ("running_mean",
                                                                    "running_var")]

    def reference(xt, gt, bt):
        return torch.nn.functional.batch_norm(xt, *running, gt, bt, training=mode == "train",
                                              eps=1e-3)

    y, grads = torch_grads(torch, reference, x, gamma, beta, delta=delta)
    close(batchnorm.batchnorm_forward(x, gamma, beta, 1e-3, mode, **stats), y)
    for ours, theirs in zip(batchnorm.batchnorm_backward(x, gamma, delta, 1e-3, mode, **stats),
                            grads):
        close(ours, theirs)


@pytest.mark.parametrize("shape", [(5,), (3, 4)])
def test_softmax_dropout_against_torch(torch, shape):
    rng = np.random.default_rng(24)
    x, delta = rng.standard_normal(shape) * 4, rng.standard_normal(shape)
    for kind, reference in (("softmax", lambda t: torch.softmax(t, -1)),
                            ("log_softmax", lambda t: torch.log_softmax(t, -1))):
        y, (dx,) = torch_grads(torch, reference, x, delta=delta)
        ours = getattr(softmax, f"{kind}_forward")(x)
        close(ours, y)
        close(getattr(softmax, f"{kind}_backward")(ours, delta), dx)
    mask = rng.integers(0, 2, shape)
    y, (dx,) = torch_grads(torch, lambda t: t * torch.tensor(mask) * (1 / (1 - 0.3)), x,
                           delta=delta)
    close(dropout.dropout_forward(x, mask, 0.3), y, tol=1e-15)
    close(dropout.dropout_backward(mask, 0.3, delta), dx, tol=1e-15)


@pytest.mark.parametrize("shape, scale", [((1, 2, 3), 2), ((2, 1, 3), 3), ((1, 2, 2, 3), 2),
                                          ((1, 1, 3, 2), (3, 2)), ((1, 1, 2, 2), (1, 4))])
def test_upsample_against_torch(torch, shape, scale):
    rng = np.random.default_rng(25)
    x = rng.standard_normal(shape)
    factor = scale if isinstance(scale, int) else tuple(float(s) for s in scale)
    y, _ = torch_grads(torch, lambda t: torch.nn.functional.interpolate(
        t, scale_factor=factor, mode="nearest"), x, delta=np.ones(
        upsample.upsample_nearest_forward(x, scale).shape))
    close(upsample.upsample_nearest_forward(x, scale), y)
    delta = rng.standard_normal(y.shape)
    _, (dx,) = torch_grads(torch, lambda t: torch.nn.functional.interpolate(
        t, scale_factor=factor, mode="nearest"), x, delta=delta)
    close(upsample.upsample_nearest_backward(delta, scale), dx)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_losses_against_torch(torch, reduction):
    rng = np.random.default_rng(26)
    z = rng.standard_normal((3, 4)) * 4
    target = rng.random((3, 4))
    target[0, :2] = (0.0, 1.0)
    y = 1 / (1 + np.exp(-z))
    y[1, :2] = (0.0, 1.0)  # the clamped logs and the floored gradient
    functional = torch.nn.functional
    for ours, reference, output in (
            (losses.bce, functional.binary_cross_entropy, y),
            (losses.bce_with_logits, functional.binary_cross_entropy_with_logits, z)):
        loss, (grad,) = torch_grads(torch, lambda t: reference(t, torch.tensor(target),
                                                               reduction=reduction), output)
        our_loss, our_delta = ours(output, target, reduction)
        assert our_loss == pytest.approx(float(loss), rel=1e-12)
        close(our_delta, grad, tol=1e-9)
    log_probs, classes = np.log(rng.dirichlet(np.ones(4), 3)), np.array([3, 0, 1])
    loss, (grad,) = torch_grads(torch, lambda t: functional.nll_loss(
        t, torch.tensor(classes)), log_probs)
    our_loss, our_delta = losses.nll(log_probs, classes)
    assert our_loss == pytest.approx(float(loss), rel=1e-12)
    close(our_delta, grad)


# ---------------------------------------------------------------------------------------
# the benchmark's v1.1 cases (timed by python -m cnngrad.bench; here only their results)


@pytest.mark.parametrize("name", ["conv1d", "conv_transpose2d", "batchnorm2d"])
def test_bench_cases_compute_what_the_naive_kernels_do(name):
    from cnngrad import bench

    case = bench.case_for(name, small=True)
    assert case.label.startswith(name + " ")
    ops = bench.make_operands(case, "float64")
    ours = bench.gradients(case, bench.cnngrad_run(case, ops)())
    theirs = bench.gradients(case, bench.cnngrad_run(case, ops, naive=True)())
    assert len(ours) == 3
    assert bench.relative_difference(ours, theirs) < 1e-12
