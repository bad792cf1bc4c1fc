"""The element-wise, dense, loss, padding and pooling helper kernels against their plain-loop
``_naive`` twins: a literal hand-computed case each, then seeded random cases."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from cnngrad.layers import activations, conv, dense, losses, pool

to_fractions = np.vectorize(Fraction, otypes=[object])


def draw(rng: np.random.Generator, shape, kind: str) -> np.ndarray:
    """Random values of a kind: float64, float32, or small Fractions (exact, object)."""
    if kind == "fraction":
        return to_fractions(rng.integers(-9, 10, shape), rng.integers(1, 5, shape))
    return rng.standard_normal(shape).astype(kind)


def assert_same(fast: np.ndarray, naive: np.ndarray, rtol: float = 0.0) -> None:
    """Equal shapes and dtypes; equal values (within ``rtol`` for float kernels whose sums
    may run in another order), NaN where the other has NaN."""
    assert (fast.shape, fast.dtype) == (naive.shape, naive.dtype)
    if fast.dtype == object or rtol == 0:
        np.testing.assert_array_equal(fast, naive)
    else:
        np.testing.assert_allclose(fast, naive, rtol=rtol, atol=rtol)


# --------------------------------------------------------------------------------------
# activations


def test_relu_by_hand():
    x = np.array([-2.0, -0.0, 0.0, 3.0, np.nan, -np.inf])
    delta_out = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    for relu in (activations.relu_forward, activations.relu_forward_naive):
        y = relu(x)
        np.testing.assert_array_equal(y, [0.0, -0.0, 0.0, 3.0, np.nan, 0.0])
        assert list(np.signbit(y)) == [False, True, False, False, False, False]
    for relu_back in (activations.relu_backward, activations.relu_backward_naive):
        # cut where x ≤ 0 (the kink at 0 too); a NaN x is not ≤ 0
        np.testing.assert_array_equal(relu_back(x, delta_out), [0, 0, 0, 4.0, 5.0, 0])


def test_leaky_relu_by_hand():
    x = np.array([-2.0, 0.0, 3.0])
    for forward in (activations.leaky_relu_forward, activations.leaky_relu_forward_naive):
        np.testing.assert_array_equal(forward(x, 0.5), [-1.0, 0.0, 3.0])
        assert list(forward(to_fractions([-2, 0, 3]), Fraction(1, 4))) == [
            Fraction(-1, 2), 0, 3]
    for backward in (activations.leaky_relu_backward, activations.leaky_relu_backward_naive):
        # at exactly 0 the slope (PyTorch's choice)
        np.testing.assert_array_equal(backward(x, np.array([4.0, 4.0, 4.0]), 0.5),
                                      [2.0, 2.0, 4.0])


def test_sigmoid_by_hand():
    x = np.array([0.0, math.log(3.0), -math.log(3.0), 1000.0, -1000.0])
    for forward in (activations.sigmoid_forward, activations.sigmoid_forward_naive):
        with np.errstate(over="raise"):  # ±1000 without overflow (e^−1000 underflows to 0)
            np.testing.assert_allclose(forward(x), [0.5, 0.75, 0.25, 1.0, 0.0], rtol=1e-15)
    for backward in (activations.sigmoid_backward, activations.sigmoid_backward_naive):
        # δ·y·(1 − y): 1·0.5·0.5, 2·0.75·0.25
        np.testing.assert_array_equal(backward(np.array([0.5, 0.75]), np.array([1.0, 2.0])),
                                      [0.25, 0.375])


def test_tanh_by_hand():
    # tanh(ln 2) = (2 − ½) / (2 + ½) = 0.6
    for forward in (activations.tanh_forward, activations.tanh_forward_naive):
        np.testing.assert_allclose(forward(np.array([0.0, math.log(2.0)])), [0.0, 0.6],
                                   rtol=1e-15)
    for backward in (activations.tanh_backward, activations.tanh_backward_naive):
        # 2·(1 − 0.6²) = 1.28, 1·(1 − 0) = 1
        np.testing.assert_allclose(backward(np.array([0.6, 0.0]), np.array([2.0, 1.0])),
                                   [1.28, 1.0], rtol=1e-15)


RANDOM_SHAPES = [(5,), (3, 4), (2, 3, 4, 5)]


@pytest.mark.parametrize("kind", ["float64", "float32", "fraction"])
@pytest.mark.parametrize("shape", RANDOM_SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_relu_and_leaky_relu_are_their_naive_twins(seed, shape, kind):
    rng = np.random.default_rng(seed)
    x, delta_out = draw(rng, shape, kind), draw(rng, shape, kind)
    x.flat[0] = 0  # the kink itself
    slope = Fraction(1, 10) if kind == "fraction" else 0.1
    assert_same(activations.relu_forward(x), activations.relu_forward_naive(x))
    assert_same(activations.relu_backward(x, delta_out),
                activations.relu_backward_naive(x, delta_out))
    assert_same(activations.leaky_relu_forward(x, slope),
                activations.leaky_relu_forward_naive(x, slope))
    assert_same(activations.leaky_relu_backward(x, delta_out, slope),
                activations.leaky_relu_backward_naive(x, delta_out, slope))


@pytest.mark.parametrize("kind, rtol", [("float64", 1e-15), ("float32", 1e-6)])
@pytest.mark.parametrize("shape", RANDOM_SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_sigmoid_and_tanh_are_their_naive_twins(seed, shape, kind, rtol):
    rng = np.random.default_rng(seed)
    x = (draw(rng, shape, kind) * 8).astype(kind)  # both tails of the curves
    delta_out = draw(rng, shape, kind)
    for forward, naive in ((activations.sigmoid_forward, activations.sigmoid_forward_naive),
                           (activations.tanh_forward, activations.tanh_forward_naive)):
        assert_same(forward(x), naive(x), rtol)
    y = activations.sigmoid_forward(x)
    # the same products in the same order, element by element: bit for bit
    assert_same(activations.sigmoid_backward(y, delta_out),
                activations.sigmoid_backward_naive(y, delta_out))
    y = activations.tanh_forward(x)
    assert_same(activations.tanh_backward(y, delta_out),
                activations.tanh_backward_naive(y, delta_out))


# --------------------------------------------------------------------------------------
# flatten and dense


def test_flatten_by_hand():
    x = np.arange(12.0).reshape(1, 2, 2, 3)  # channel-major, then row-major
    for forward in (dense.flatten_forward, dense.flatten_forward_naive):
        np.testing.assert_array_equal(forward(x), [list(range(12))])
    for backward in (dense.flatten_backward, dense.flatten_backward_naive):
        np.testing.assert_array_equal(backward((1, 2, 2, 3), np.arange(12.0)[None]), x)


def test_dense_by_hand():
    x = np.array([[1.0, 2.0]])
    weights = np.array([[1.0, 0.0], [2.0, -1.0], [0.0, 3.0]])
    bias = np.array([1.0, 1.0, 1.0])
    delta_out = np.array([[1.0, 2.0, 3.0]])
    for forward in (dense.dense_forward, dense.dense_forward_naive):
        # W·x + b = (1 + 1, 2 − 2 + 1, 6 + 1)
        np.testing.assert_array_equal(forward(x, weights, bias), [[2.0, 1.0, 7.0]])
    for backward in (dense.dense_backward, dense.dense_backward_naive):
        delta_in, grad_weights, grad_bias = backward(x, weights, delta_out)
        np.testing.assert_array_equal(delta_in, [[1 + 4 + 0, 0 - 2 + 9]])  # δ·W
        np.testing.assert_array_equal(grad_weights, [[1, 2], [2, 4], [3, 6]])  # δᵀ·x
        np.testing.assert_array_equal(grad_bias, [1, 2, 3])


@pytest.mark.parametrize("kind", ["float64", "float32", "fraction"])
@pytest.mark.parametrize("x_shape", [(1, 3), (4, 2, 3, 3), (3, 5, 4)])
@pytest.mark.parametrize("seed", [0, 1])
def test_flatten_and_dense_are_their_naive_twins(seed, x_shape, kind):
    rng = np.random.default_rng(seed)
    x = draw(rng, x_shape, kind)
    flat = dense.flatten_forward(x)
    assert_same(flat, dense.flatten_forward_naive(x))
    assert_same(dense.flatten_backward(x_shape, flat), dense.flatten_backward_naive(x_shape, flat))
    n, n_in, n_out = flat.shape[0], flat.shape[1], 4
    weights, bias = draw(rng, (n_out, n_in), kind), draw(rng, (n_out,), kind)
    delta_out = draw(rng, (n, n_out), kind)
    rtol = {"float64": 1e-12, "float32": 1e-5, "fraction": 0}[kind]
    for b in (None, bias):
        assert_same(dense.dense_forward(flat, weights, b),
                    dense.dense_forward_naive(flat, weights, b), rtol)
    for fast, naive in zip(dense.dense_backward(flat, weights, delta_out),
                           dense.dense_backward_naive(flat, weights, delta_out), strict=True):
        assert_same(fast, naive, rtol)


# --------------------------------------------------------------------------------------
# losses


@pytest.mark.parametrize("reduction, loss, delta", [
    # y − t = (0, 2, 2), Σ(y − t)² = 8
    ("half_sum", 4, [0, 2, 2]),
    ("sum", 8, [0, 4, 4]),
    ("mean", Fraction(8, 3), [0, Fraction(4, 3), Fraction(4, 3)]),
])
@pytest.mark.parametrize("kind", ["float64", "fraction"])
def test_mse_by_hand(kind, reduction, loss, delta):
    y, target = np.array([1, 2, 3]), np.array([1, 0, 1])
    if kind == "fraction":
        y, target = to_fractions(y), to_fractions(target)
    else:
        y, target = y.astype(kind), target.astype(kind)
    for mse in (losses.mse, losses.mse_naive):
        got_loss, got_delta = mse(y, target, reduction)
        if kind == "fraction":
            assert got_loss == loss and list(got_delta) == delta
        else:
            assert got_loss == pytest.approx(float(loss), rel=1e-15)
            np.testing.assert_allclose(got_delta, [float(v) for v in delta], rtol=1e-15)


def test_cross_entropy_and_softmax_by_hand():
    # softmax(0, ln 3) = (¼, ¾): −log ¾ per sample; (p − t)/N
    logits = np.array([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    target = np.array([[0.0, 1.0], [1.0, 0.0]])
    for cross_entropy in (losses.cross_entropy, losses.cross_entropy_naive):
        loss, delta = cross_entropy(logits, target)
        assert loss == pytest.approx(-math.log(0.75), rel=1e-15)
        np.testing.assert_allclose(delta, [[0.125, -0.125], [-0.125, 0.125]], rtol=1e-15)
    for softmax in (losses.softmax, losses.softmax_naive):
        np.testing.assert_allclose(softmax(logits), [[0.25, 0.75], [0.75, 0.25]], rtol=1e-15)
        with np.errstate(over="raise"):  # e^1000 never computed
            np.testing.assert_array_equal(softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])


@pytest.mark.parametrize("reduction", ["half_sum", "sum", "mean"])
@pytest.mark.parametrize("kind", ["float64", "fraction"])
@pytest.mark.parametrize("shape", [(3,), (4, 5), (2, 3, 4, 4)])
@pytest.mark.parametrize("seed", [0, 1])
def test_mse_is_its_naive_twin(seed, shape, kind, reduction):
    rng = np.random.default_rng(seed)
    y, target = draw(rng, shape, kind), draw(rng, shape, kind)
    loss, delta = losses.mse(y, target, reduction)
    naive_loss, naive_delta = losses.mse_naive(y, target, reduction)
    if kind == "fraction":
        assert loss == naive_loss
        assert_same(delta, naive_delta)
    else:
        assert loss == pytest.approx(naive_loss, rel=1e-13)
        assert_same(delta, naive_delta, rtol=1e-15)


@pytest.mark.parametrize("target_kind", ["one_hot", "soft", "sparse_soft"])
@pytest.mark.parametrize("shape", [(1, 2), (4, 3), (8, 10)])
@pytest.mark.parametrize("seed", [0, 1])
def test_cross_entropy_and_softmax_are_their_naive_twins(seed, shape, target_kind):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape) * 5
    if target_kind == "one_hot":
        target = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    else:
        target = rng.random(shape)
        if target_kind == "sparse_soft":  # zeros: 0·log 0 counts as 0
            target[rng.random(shape) < 0.5] = 0.0
        target /= np.maximum(target.sum(axis=1, keepdims=True), 1e-300)
    loss, delta = losses.cross_entropy(logits, target)
    naive_loss, naive_delta = losses.cross_entropy_naive(logits, target)
    assert loss == pytest.approx(naive_loss, rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(delta, naive_delta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(losses.softmax(logits), losses.softmax_naive(logits),
                               rtol=1e-13, atol=1e-300)


# --------------------------------------------------------------------------------------
# padding


SQUARE = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize("mode, x, padded, delta_of_ones", [
    ("zeros", [[1, 2], [3, 4]],
     [[0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0], [0, 0, 0, 0]],
     [[1, 1], [1, 1]]),
    # each corner cell is copied by a 2×2 block of the padded map
    ("replicate", [[1, 2], [3, 4]],
     [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]],
     [[4, 4], [4, 4]]),
    # padded row p copies row (p − 1) mod 2: rows 1, 0, 1, 0 (columns alike)
    ("circular", [[1, 2], [3, 4]],
     [[4, 3, 4, 3], [2, 1, 2, 1], [4, 3, 4, 3], [2, 1, 2, 1]],
     [[4, 4], [4, 4]]),
    # mirrored about the edge cells: padded rows copy rows 1, 0, 1, 2, 1 (columns alike)
    ("reflect", SQUARE,
     [[5, 4, 5, 6, 5], [2, 1, 2, 3, 2], [5, 4, 5, 6, 5], [8, 7, 8, 9, 8], [5, 4, 5, 6, 5]],
     [[1, 3, 1], [3, 9, 3], [1, 3, 1]]),
])
def test_pad2d_by_hand(mode, x, padded, delta_of_ones):
    x = np.array(x, dtype=np.float64)
    height, width = x.shape
    for pad in (conv.pad2d, conv.pad2d_naive):
        np.testing.assert_array_equal(pad(x, 1, mode), padded)
    for pad_back in (conv.pad2d_backward, conv.pad2d_backward_naive):
        np.testing.assert_array_equal(
            pad_back(np.ones((height + 2, width + 2)), 1, mode, (height, width)), delta_of_ones)


@pytest.mark.parametrize("kind", ["float64", "float32", "fraction"])
@pytest.mark.parametrize("sides", [0, 1, (2, 1), (0, 2, 3, 1)])
@pytest.mark.parametrize("mode", conv.PADDING_MODES)
@pytest.mark.parametrize("seed", [0, 1])
def test_pad2d_is_its_naive_twin(seed, mode, sides, kind):
    rng = np.random.default_rng(seed)
    x = draw(rng, (2, 3, 4, 5), kind)
    padded = conv.pad2d(x, sides, mode)
    assert_same(padded, conv.pad2d_naive(x, sides, mode))
    delta_padded = draw(rng, padded.shape, kind)
    # the copies' deltas add up in another order: equal to a few units in the last place
    rtol = {"float64": 1e-15, "float32": 1e-6, "fraction": 0}[kind]
    assert_same(conv.pad2d_backward(delta_padded, sides, mode, (4, 5)),
                conv.pad2d_backward_naive(delta_padded, sides, mode, (4, 5)), rtol)


# --------------------------------------------------------------------------------------
# pooling helpers


def test_maxpool2d_tied_windows_by_hand():
    # 2×2/2 windows: 3 twice top-left, 4 alone top-right, 2 alone bottom-left, 5 three times
    x = np.array([[1, 3, 2, 0],
                  [3, 2, 1, 4],
                  [0, 1, 5, 5],
                  [2, 0, 5, 4]], dtype=np.float64)[None, None]
    for tied_windows in (pool.maxpool2d_tied_windows, pool.maxpool2d_tied_windows_naive):
        np.testing.assert_array_equal(tied_windows(x, 2)[0, 0], [[True, False], [False, True]])


@pytest.mark.parametrize("count_include_pad, expected_axis", [
    # H = 4, k = 3, s = 2, p = 1, ceil: windows start at −1, 1, 3 and stop at 2, 4, 5 (the
    # padded edge); with the padding 3, 3, 2 cells, without it 2, 3, 1
    (True, [3, 3, 2]),
    (False, [2, 3, 1]),
])
def test_avgpool2d_divisors_by_hand(count_include_pad, expected_axis):
    for divisors in (pool.avgpool2d_divisors, pool.avgpool2d_divisors_naive):
        got = divisors((4, 4), 3, 2, 1, ceil_mode=True, count_include_pad=count_include_pad)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, np.outer(expected_axis, expected_axis))


POOL_ARGS = [
    dict(size=2),
    dict(size=3, stride=1),
    dict(size=3, stride=2, padding=1),
    dict(size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True),
    dict(size=(2, 3), stride=(3, 2), padding=(0, 1), ceil_mode=True),
]


@pytest.mark.parametrize("kind", ["float64", "float32", "fraction"])
@pytest.mark.parametrize("args", POOL_ARGS)
@pytest.mark.parametrize("seed", [0, 1])
def test_maxpool2d_tied_windows_is_its_naive_twin(seed, args, kind):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (2, 3, 7, 6)).astype(np.float64)  # three values: many ties
    x = to_fractions(x.astype(int)) if kind == "fraction" else x.astype(kind)
    assert_same(pool.maxpool2d_tied_windows(x, **args), pool.maxpool2d_tied_windows_naive(x, **args))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("args", POOL_ARGS)
@pytest.mark.parametrize("input_hw", [(7, 6), (4, 4), (5, 9)])
def test_avgpool2d_divisors_is_its_naive_twin(input_hw, args, count_include_pad):
    assert_same(pool.avgpool2d_divisors(input_hw, **args, count_include_pad=count_include_pad),
                pool.avgpool2d_divisors_naive(input_hw, **args,
                                              count_include_pad=count_include_pad))
