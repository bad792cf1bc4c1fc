"""The documented library API, as a user imports it: ``from cnngrad import conv2d_forward, ...``.

Shapes the CLI never builds (batches, groups, four-sided padding, dilation), the dtype kept
for float32, float64 and exact Fractions, results equal to the plain-loop references, working
memory that does not grow with the batch, and a smoke run of the benchmark.
"""

from __future__ import annotations

import inspect
import os
import pydoc
import subprocess
import sys
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import cnngrad
from cnngrad.layers import conv1d as conv1d_layer
from cnngrad.layers import losses
from cnngrad.layers.conv import conv2d_backward_naive, conv2d_forward_naive
from cnngrad.layers.pool import (
    avgpool2d_backward_naive,
    avgpool2d_forward_naive,
    maxpool2d_backward_naive,
    maxpool2d_forward_naive,
)

ROOT = Path(__file__).resolve().parent.parent

API = ("conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
       "avgpool2d_forward", "avgpool2d_backward")

# the signatures: every parameter with its default (conv also takes padding_mode)
SIGNATURES = {
    "conv2d_forward": {"x": None, "w": None, "b": None, "stride": 1, "padding": 0, "dilation": 1,
                       "groups": 1},
    "conv2d_backward": {"x": None, "w": None, "delta": None, "stride": 1, "padding": 0,
                        "dilation": 1, "groups": 1},
    "maxpool2d_forward": {"x": None, "size": None, "stride": None, "padding": 0,
                          "ceil_mode": False},
    "maxpool2d_backward": {"x": None, "delta": None, "size": None, "stride": None, "padding": 0,
                           "ceil_mode": False, "ties": "first"},
    "avgpool2d_forward": {"x": None, "size": None, "stride": None, "padding": 0,
                          "ceil_mode": False, "count_include_pad": True},
    "avgpool2d_backward": {"x": None, "delta": None, "size": None, "stride": None, "padding": 0,
                           "ceil_mode": False, "count_include_pad": True},
}

# a batch of 3, two groups of 2 channels → 2 filters each, a 3×2 kernel dilated by 2, stride
# (2, 1), padding top 1, bottom 0, left 2, right 1: H' = (7 + 1 − 2·2 − 1) // 2 + 1 = 2,
# W' = (6 + 3 − 2·1 − 1) // 1 + 1 = 7
CONV_SHAPES = {"x": (3, 4, 7, 6), "w": (4, 2, 3, 2), "y": (3, 4, 2, 7)}
CONV_ARGS = {"stride": (2, 1), "padding": (1, 0, 2, 1), "dilation": 2, "groups": 2}

# a 3×2 window, stride (2, 1), one padded row and column, ceil mode: H' = ceil((7 + 2 − 3) / 2)
# + 1 = 4, W' = ceil((6 + 2 − 2) / 1) + 1 = 7
POOL_X = (3, 2, 7, 6)
POOL_Y = (3, 2, 4, 7)
POOL_ARGS = {"size": (3, 2), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True}

DTYPES = ("float64", "float32", "fraction")


def random_tensor(rng: np.random.Generator, shape, dtype: str) -> np.ndarray:
    """Random values; for "fraction" an object array of small Fractions (ties included)."""
    if dtype == "fraction":
        numerators = rng.integers(-12, 13, size=shape)
        values = [Fraction(int(v), 7) for v in numerators.ravel()]
        return np.array(values, dtype=object).reshape(shape)
    return rng.standard_normal(shape).astype(dtype)


def numpy_dtype(dtype: str) -> np.dtype:
    return np.dtype(object) if dtype == "fraction" else np.dtype(dtype)


def assert_matches(actual: np.ndarray, expected: np.ndarray, dtype: str) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == numpy_dtype(dtype)
    if dtype == "fraction":
        # exact: no float anywhere, every value equal
        assert all(isinstance(v, (Fraction, int)) for v in actual.ravel()), actual
        assert (actual == expected).all()
    else:
        tol = 1e-12 if dtype == "float64" else 2e-5
        np.testing.assert_allclose(actual, expected.astype(actual.dtype), rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------
# the public names


def test_the_six_functions_import_from_the_package():
    from cnngrad import (
        avgpool2d_backward,
        avgpool2d_forward,
        conv2d_backward,
        conv2d_forward,
        maxpool2d_backward,
        maxpool2d_forward,
    )

    imported = (avgpool2d_backward, avgpool2d_forward, conv2d_backward, conv2d_forward,
                maxpool2d_backward, maxpool2d_forward)
    assert [function.__name__ for function in imported] == [
        "avgpool2d_backward", "avgpool2d_forward", "conv2d_backward", "conv2d_forward",
        "maxpool2d_backward", "maxpool2d_forward"]

    for name in API:
        assert name in cnngrad.__all__
        assert name in dir(cnngrad)
        assert callable(getattr(cnngrad, name))


def test_unknown_names_still_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'conv3d_forward'"):
        cnngrad.conv3d_forward  # noqa: B018
    with pytest.raises(ImportError):
        exec("from cnngrad import conv3d_forward", {})


def test_the_cli_engine_is_the_same_code():
    from cnngrad.families import conv2d as conv_family
    from cnngrad.families import pool2d as pool_family
    from cnngrad.layers import conv, pool

    assert cnngrad.conv2d_forward is conv.conv2d_forward is conv_family.conv2d_forward
    assert cnngrad.conv2d_backward is conv.conv2d_backward is conv_family.conv2d_backward
    for name in API[2:]:
        assert getattr(cnngrad, name) is getattr(pool, name) is getattr(pool_family, name)


@pytest.mark.parametrize("name", API)
def test_signature_is_the_documented_one(name):
    parameters = inspect.signature(getattr(cnngrad, name)).parameters
    for parameter, default in SIGNATURES[name].items():
        assert parameter in parameters, parameter
        if default is None and parameter in ("x", "w", "delta", "size"):
            assert parameters[parameter].default is inspect.Parameter.empty, parameter
        else:
            assert parameters[parameter].default == default, parameter


@pytest.mark.parametrize("name", API)
def test_docstring_is_numpydoc_with_shapes(name):
    doc = inspect.getdoc(getattr(cnngrad, name))
    for section in ("Parameters\n----------", "Returns\n-------", "Notes\n-----"):
        assert section in doc, f"{name}: no {section.splitlines()[0]} section"
    assert "x : ndarray (N, C, H, W)" in doc
    assert "(N, " in doc.split("Returns")[1], f"{name}: the result's shape is not given"


@pytest.mark.parametrize("name", ["conv2d_forward", "conv2d_backward", "maxpool2d_forward",
                                  "avgpool2d_forward"])
def test_output_size_formula_is_under_notes(name):
    notes = inspect.getdoc(getattr(cnngrad, name)).split("Notes\n-----")[1]
    assert "H' = floor((H + " in notes or "floor((H + " in notes


def test_help_lists_the_functions():
    text = pydoc.render_doc(cnngrad, renderer=pydoc.plaintext)
    for name in API:
        assert f"{name}(" in text
    assert "(N, C, H, W)" in text


def test_dir_lists_the_api_and_nothing_borrowed():
    # (a subpackage, such as cnngrad.layers, is listed once imported, as Python does)
    public = [name for name in dir(cnngrad) if not name.startswith("_")
              and not inspect.ismodule(getattr(cnngrad, name))]
    assert public == sorted(set(cnngrad.__all__) - {"__version__"})


# ---------------------------------------------------------------------------------------
# batched, grouped, four-sided, dilated: against the plain-loop references


def conv_operands(dtype: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = random_tensor(rng, CONV_SHAPES["x"], dtype)
    w = random_tensor(rng, CONV_SHAPES["w"], dtype)
    b = random_tensor(rng, CONV_SHAPES["w"][:1], dtype)
    delta = random_tensor(rng, CONV_SHAPES["y"], dtype)
    return x, w, b, delta


def pool_operands(dtype: str, seed: int = 1):
    rng = np.random.default_rng(seed)
    return random_tensor(rng, POOL_X, dtype), random_tensor(rng, POOL_Y, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_forward_batched_grouped(dtype):
    x, w, b, _ = conv_operands(dtype)
    y = cnngrad.conv2d_forward(x, w, b, **CONV_ARGS)
    assert y.shape == CONV_SHAPES["y"]
    assert_matches(y, conv2d_forward_naive(x, w, b, **CONV_ARGS), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_backward_batched_grouped(dtype):
    x, w, _, delta = conv_operands(dtype)
    dx, dw, db = cnngrad.conv2d_backward(x, w, delta, **CONV_ARGS)
    assert (dx.shape, dw.shape, db.shape) == (CONV_SHAPES["x"], CONV_SHAPES["w"], (4,))
    for actual, expected in zip((dx, dw, db), conv2d_backward_naive(x, w, delta, **CONV_ARGS)):
        assert_matches(actual, expected, dtype)


@pytest.mark.parametrize("dtype, tol", [(np.float16, 3e-3), (np.longdouble, 1e-14)])
def test_float16_and_longdouble_compute_in_their_own_dtype(dtype, tol):
    # as docs/api.md says: their own dtype by numpy's loops, float16 rounded to float16
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 16, 20, 20)), rng.standard_normal((8, 16, 3, 3))
    delta = rng.standard_normal((2, 8, 20, 20))
    wide = [cnngrad.conv2d_forward(x, w, None, 1, 1), *cnngrad.conv2d_backward(x, w, delta, 1, 1),
            cnngrad.maxpool2d_forward(x, 2)]
    narrow = [cnngrad.conv2d_forward(x.astype(dtype), w.astype(dtype), None, 1, 1),
              *cnngrad.conv2d_backward(*(a.astype(dtype) for a in (x, w, delta)), 1, 1),
              cnngrad.maxpool2d_forward(x.astype(dtype), 2)]
    for one, double in zip(narrow, wide):
        assert one.dtype == dtype
        scale = np.abs(double).max()
        np.testing.assert_allclose(one.astype(np.float64), double, rtol=0, atol=tol * scale)


LONGDOUBLE_WIDER = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps
needs_wide_longdouble = pytest.mark.skipif(not LONGDOUBLE_WIDER,
                                           reason="np.longdouble is float64 on this platform")


@needs_wide_longdouble
@pytest.mark.parametrize("x_shape, w_shape, args", [
    ((1, 1, 4, 4), (1, 1, 2, 2), {}),
    ((2, 3, 6, 6), (4, 3, 3, 3), dict(padding=1)),
    ((2, 3, 6, 6), (2, 3, 3, 2), dict(stride=2, dilation=(1, 2))),
    ((2, 4, 6, 6), (4, 1, 3, 3), dict(padding=1, groups=4)),  # depthwise
    ((1, 2, 5, 5), (2, 2, 2, 2), dict(padding=1, padding_mode="reflect")),
])
@pytest.mark.parametrize("wide", ["x", "all"])
def test_small_conv2d_backward_computes_longdouble_in_longdouble(x_shape, w_shape, args, wide):
    # the small-problem path added dx up by np.bincount, which refuses longdouble weights
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    delta = rng.standard_normal(cnngrad.conv2d_forward(x, w, **args).shape)
    long_x = x.astype(np.longdouble)
    long_w, long_delta = (a.astype(np.longdouble) if wide == "all" else a for a in (w, delta))
    grads = cnngrad.conv2d_backward(long_x, long_w, long_delta, **args)
    # the naive twin on longdouble throughout (its float64 products would round first)
    naive = conv2d_backward_naive(long_x, w.astype(np.longdouble), delta.astype(np.longdouble),
                                  **args)
    double = cnngrad.conv2d_backward(x, w, delta, **args)
    for got, expected, float64_grad in zip(grads, naive, double, strict=True):
        assert got.dtype == expected.dtype == np.longdouble
        # the naive twin's own longdouble sums, to far below float64's rounding
        np.testing.assert_allclose(got, expected, rtol=1e-17, atol=1e-17)
        np.testing.assert_allclose(got.astype(np.float64), float64_grad, rtol=1e-13,
                                   atol=1e-13)


@needs_wide_longdouble
def test_small_conv_backward_keeps_what_float64_would_round_away():
    # dx[1] = w[0]·δ[1] + w[1]·δ[0] = 1 + 2⁻⁶⁰: 1 in float64, exact in 80-bit longdouble
    tiny = np.longdouble(2) ** -60
    x = np.zeros((1, 1, 1, 3), np.longdouble)
    w = np.array([[[[1, tiny]]]], np.longdouble)
    dx, dw, db = cnngrad.conv2d_backward(x, w, np.ones((1, 1, 1, 2), np.longdouble))
    assert dx.dtype == np.longdouble
    assert list(dx[0, 0, 0]) == [1, 1 + tiny, tiny]
    dx, _, _ = cnngrad.conv1d_backward(x[:, :, 0], w[:, :, 0], np.ones((1, 1, 2), np.longdouble))
    assert list(dx[0, 0]) == [1, 1 + tiny, tiny]


@needs_wide_longdouble
def test_small_conv_backward_by_hand_in_longdouble():
    # docs/api.md's worked example: a 2×2 kernel over a 4×4 input, a delta of ones
    x = np.arange(16).reshape(1, 1, 4, 4).astype(np.longdouble)
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    dx, dw, db = cnngrad.conv2d_backward(x, w, np.ones((1, 1, 3, 3)))
    assert dx.dtype == dw.dtype == db.dtype == np.longdouble
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 1, 0], [1, 0, 0, -1], [1, 0, 0, -1],
                                             [0, -1, -1, -1]])
    np.testing.assert_array_equal(dw[0, 0], [[45, 54], [81, 90]])
    np.testing.assert_array_equal(db, [9])


@needs_wide_longdouble
@pytest.mark.parametrize("args", [dict(stride=1), dict(stride=2, padding=1)])
def test_small_conv1d_and_overlapping_max_pools_compute_longdouble(args):
    # conv1d runs the 2-D kernel; an overlapping max pool added its deltas by np.bincount too
    rng = np.random.default_rng(6)
    x, w = (rng.standard_normal(shape).astype(np.longdouble) for shape in ((2, 3, 9), (4, 3, 3)))
    delta = rng.standard_normal(cnngrad.conv1d_forward(x, w, **args).shape).astype(np.longdouble)
    from cnngrad.layers.conv1d import conv1d_backward_naive

    for got, expected in zip(cnngrad.conv1d_backward(x, w, delta, **args),
                             conv1d_backward_naive(x, w, delta, **args), strict=True):
        assert got.dtype == np.longdouble
        np.testing.assert_allclose(got, expected, rtol=1e-17, atol=1e-17)
    maps = rng.standard_normal((2, 3, 7, 7)).astype(np.longdouble)
    pool_delta = rng.standard_normal(cnngrad.maxpool2d_forward(maps, 3, **args).shape)
    dx = cnngrad.maxpool2d_backward(maps, pool_delta, 3, **args)
    assert dx.dtype == np.longdouble
    np.testing.assert_array_equal(dx, maxpool2d_backward_naive(maps, pool_delta, 3, **args))
    dx = cnngrad.maxpool1d_backward(maps[:, :, 0], pool_delta[:, :, 0], 3, **args)
    assert dx.dtype == np.longdouble


def test_conv2d_db_is_delta_summed_per_filter():
    x, w, _, delta = conv_operands("fraction")
    _, _, db = cnngrad.conv2d_backward(x, w, delta, **CONV_ARGS)
    assert db.shape == (4,)
    assert list(db) == [sum(delta[:, f].ravel(), Fraction(0)) for f in range(4)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool2d_forward_batched(dtype):
    x, _ = pool_operands(dtype)
    y = cnngrad.maxpool2d_forward(x, **POOL_ARGS)
    assert y.shape == POOL_Y
    assert_matches(y, maxpool2d_forward_naive(x, **POOL_ARGS), dtype)


@pytest.mark.parametrize("ties", ["first", "split", "all"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool2d_backward_batched(dtype, ties):
    x, delta = pool_operands(dtype)
    dx = cnngrad.maxpool2d_backward(x, delta, **POOL_ARGS, ties=ties)
    assert_matches(dx, maxpool2d_backward_naive(x, delta, **POOL_ARGS, ties=ties), dtype)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_avgpool2d_forward_batched(dtype, count_include_pad):
    x, _ = pool_operands(dtype)
    y = cnngrad.avgpool2d_forward(x, **POOL_ARGS, count_include_pad=count_include_pad)
    assert y.shape == POOL_Y
    expected = avgpool2d_forward_naive(x, **POOL_ARGS, count_include_pad=count_include_pad)
    assert_matches(y, expected, dtype)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_avgpool2d_backward_batched(dtype, count_include_pad):
    x, delta = pool_operands(dtype)
    dx = cnngrad.avgpool2d_backward(x, delta, **POOL_ARGS, count_include_pad=count_include_pad)
    expected = avgpool2d_backward_naive(x, delta, **POOL_ARGS, count_include_pad=count_include_pad)
    assert_matches(dx, expected, dtype)


def test_float32_agrees_with_float64():
    x, w, b, delta = conv_operands("float64")
    single = [a.astype(np.float32) for a in (x, w, b, delta)]
    y64 = cnngrad.conv2d_forward(x, w, b, **CONV_ARGS)
    y32 = cnngrad.conv2d_forward(*single[:3], **CONV_ARGS)
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-5)
    for g32, g64 in zip(cnngrad.conv2d_backward(single[0], single[1], single[3], **CONV_ARGS),
                        cnngrad.conv2d_backward(x, w, delta, **CONV_ARGS)):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("one, other", [
    ({"stride": 2}, {"stride": (2, 2)}),
    ({"dilation": 2}, {"dilation": (2, 2)}),
    ({"padding": 1}, {"padding": (1, 1)}),
    ({"padding": 1}, {"padding": (1, 1, 1, 1)}),
    ({"padding": (2, 1)}, {"padding": (2, 2, 1, 1)}),
])
def test_int_pair_and_four_sides_are_the_same(one, other):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3))
    y = cnngrad.conv2d_forward(x, w, **one)
    np.testing.assert_array_equal(y, cnngrad.conv2d_forward(x, w, **other))
    delta = rng.standard_normal(y.shape)
    for a, b in zip(cnngrad.conv2d_backward(x, w, delta, **one),
                    cnngrad.conv2d_backward(x, w, delta, **other)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call, words", [
    # a float is refused, never truncated: (1.5, 2) was read as stride (1, 2)
    (lambda x: cnngrad.conv2d_forward(x, np.ones((1, 1, 2, 2)), stride=(1.5, 2)),
     "stride must be an int or a pair of ints, got (1.5, 2)"),
    (lambda x: cnngrad.conv2d_forward(x, np.ones((1, 1, 2, 2)), stride=2.0),
     "stride must be an int or a pair of ints, got 2.0"),
    (lambda x: cnngrad.conv2d_forward(x, np.ones((1, 1, 2, 2)), padding=(0.7, 0.2)),
     "padding must be an int, a pair of ints or four ints, got (0.7, 0.2)"),
    (lambda x: cnngrad.conv2d_forward(x, np.ones((1, 1, 2, 2)), padding="same"),
     "got 'same' (for 'same' padding, see same_padding)"),
    (lambda x: cnngrad.conv2d_backward(x, np.ones((1, 1, 2, 2)), np.ones((1, 1, 5, 5)),
                                       dilation=None),
     "dilation must be an int or a pair of ints, got None"),
    (lambda x: cnngrad.maxpool2d_forward(x, (2.9, 2)),
     "size must be an int or a pair of ints, got (2.9, 2)"),
    (lambda x: cnngrad.avgpool2d_forward(x, 2, stride=1.5),
     "stride must be an int or a pair of ints, got 1.5"),
    (lambda x: cnngrad.conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), padding=0.5),
     "padding must be an int or a pair of ints, got 0.5"),
    (lambda x: cnngrad.conv1d_forward(x[0], np.ones((1, 1, 2)), padding=(0.5, 1)),
     "padding must be an int or (left, right) ints, got (0.5, 1)"),
    (lambda x: cnngrad.upsample_nearest_forward(x, (1.5, 2)),
     "scale must be an int or a pair of ints, got (1.5, 2)"),
])
def test_a_non_int_size_is_a_value_error_not_truncated(call, words):
    with pytest.raises(ValueError) as raised:
        call(np.ones((1, 1, 6, 6)))
    assert words in str(raised.value)


@pytest.mark.parametrize("call, words", [
    # each call first with the int, then with the float that equals it: 2.0 == 2 hashes alike,
    # and the float found the int's cached geometry and was computed as 2
    (lambda x, v: cnngrad.maxpool2d_forward(x, v), "size must be an int or a pair of ints"),
    (lambda x, v: cnngrad.avgpool2d_backward(x, np.ones((1, 1, 3, 3)), v),
     "size must be an int or a pair of ints"),
    (lambda x, v: cnngrad.maxpool2d_forward(x, (2, v)), "size must be an int or a pair of ints"),
    (lambda x, v: cnngrad.conv2d_forward(x, np.ones((1, 1, 2, 2)), stride=v),
     "stride must be an int or a pair of ints"),
    (lambda x, v: cnngrad.conv2d_forward(x, np.ones((1, 1, 2, 2)), stride=(2, v)),
     "stride must be an int or a pair of ints"),
    (lambda x, v: cnngrad.conv2d_backward(x, np.ones((1, 1, 2, 2)), np.ones((1, 1, 5, 5)),
                                          dilation=v - 1), "dilation must be an int"),
])
def test_a_float_is_refused_after_its_int_was_accepted(call, words):
    x = np.ones((1, 1, 6, 6))
    call(x, 2)
    with pytest.raises(ValueError) as raised:
        call(x, 2.0)
    assert words in str(raised.value)


@pytest.mark.parametrize("x, scale, words", [
    (np.ones((1, 1, 6)), (2, 1), "scale must be an int for 1-D maps, got (2, 1)"),
    (np.ones((1, 1, 6, 6)), (2, 1, 1),
     "scale must be an int or a pair of ints for 2-D maps, got (2, 1, 1)"),
])
def test_an_upsample_scale_of_the_wrong_length_names_what_the_maps_take(x, scale, words):
    with pytest.raises(ValueError) as raised:
        cnngrad.upsample_nearest_forward(x, scale)
    assert str(raised.value) == words


@pytest.mark.parametrize("call, words", [
    # each call first with 1, then with True: True is an int to Python, and it was read as 1
    (lambda x, v: cnngrad.maxpool2d_forward(x, 2, stride=v),
     "stride must be an int or a pair of ints, got True"),
    (lambda x, v: cnngrad.avgpool2d_forward(x, 2, stride=(v, 2)),
     "stride must be an int or a pair of ints, got (True, 2)"),
    (lambda x, v: cnngrad.maxpool2d_backward(x, np.ones((1, 1, 4, 4)), 2, padding=v),
     "padding must be an int or a pair of ints, got True"),
    (lambda x, v: cnngrad.conv2d_forward(x, np.ones((1, 1, 2, 2)), stride=v),
     "stride must be an int or a pair of ints, got True"),
    (lambda x, v: cnngrad.conv2d_forward(x, np.ones((1, 1, 2, 2)), padding=v),
     "padding must be an int, a pair of ints or four ints, got True"),
    (lambda x, v: cnngrad.conv2d_backward(x, np.ones((1, 1, 2, 2)), np.ones((1, 1, 5, 5)),
                                          dilation=(1, v)),
     "dilation must be an int or a pair of ints, got (1, True)"),
    (lambda x, v: cnngrad.conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), stride=v),
     "stride must be an int or a pair of ints, got True"),
    (lambda x, v: cnngrad.conv1d_forward(x[:, :, 0], np.ones((1, 1, 2)), padding=(v, 0)),
     "padding must be an int or (left, right) ints, got (True, 0)"),
    (lambda x, v: cnngrad.upsample_nearest_forward(x, (v, 2)),
     "scale must be an int or a pair of ints, got (True, 2)"),
])
def test_a_bool_is_not_a_size(call, words):
    x = np.ones((1, 1, 6, 6))
    call(x, 1)
    with pytest.raises(ValueError) as raised:
        call(x, True)
    assert str(raised.value) == words


#: Every layer function with a flag, called with the flag as ``v`` (a backward pass with a
#: window whose output is 2×2 with or without ceil_mode).
FLAGGED = {
    "maxpool2d_forward ceil_mode": lambda x, v: cnngrad.maxpool2d_forward(x, 4, ceil_mode=v),
    "maxpool2d_backward ceil_mode": lambda x, v: cnngrad.maxpool2d_backward(
        x, np.ones((1, 1, 2, 2)), 3, ceil_mode=v),
    "maxpool2d_forward_naive ceil_mode": lambda x, v: maxpool2d_forward_naive(
        x, 4, ceil_mode=v),
    "maxpool2d_backward_naive ceil_mode": lambda x, v: maxpool2d_backward_naive(
        x, np.ones((1, 1, 2, 2)), 3, ceil_mode=v),
    "avgpool2d_forward ceil_mode": lambda x, v: cnngrad.avgpool2d_forward(x, 4, ceil_mode=v),
    "avgpool2d_forward count_include_pad": lambda x, v: cnngrad.avgpool2d_forward(
        x, 4, padding=1, count_include_pad=v),
    "avgpool2d_backward count_include_pad": lambda x, v: cnngrad.avgpool2d_backward(
        x, np.ones((1, 1, 2, 2)), 4, padding=1, count_include_pad=v),
    "avgpool2d_forward_naive count_include_pad": lambda x, v: avgpool2d_forward_naive(
        x, 4, padding=1, count_include_pad=v),
    "avgpool2d_backward_naive count_include_pad": lambda x, v: avgpool2d_backward_naive(
        x, np.ones((1, 1, 2, 2)), 4, padding=1, count_include_pad=v),
    "maxpool1d_forward ceil_mode": lambda x, v: cnngrad.maxpool1d_forward(
        x[0], 4, ceil_mode=v),
    "avgpool1d_backward count_include_pad": lambda x, v: cnngrad.avgpool1d_backward(
        x[0], np.ones((1, 6, 2)), 4, padding=1, count_include_pad=v),
}


@pytest.mark.parametrize("name", FLAGGED)
@pytest.mark.parametrize("value", ["yes", "no", 1, 0, None])
def test_a_flag_must_be_true_or_false(name, value):
    # "no" was read as True (a non-empty string), 1 and None by their truth
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    with pytest.raises(ValueError) as raised:
        FLAGGED[name](x, value)
    assert str(raised.value) == f"{name.split()[1]} must be True or False, got {value!r}"


@pytest.mark.parametrize("name", FLAGGED)
@pytest.mark.parametrize("value", [True, False])
def test_a_numpy_bool_is_a_flag(name, value):
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    np.testing.assert_array_equal(FLAGGED[name](x, np.bool_(value)), FLAGGED[name](x, value))


@pytest.mark.parametrize("call", [
    # int(groups) read 2.5 as 2 groups and "1" as 1
    lambda g: cnngrad.conv2d_forward(np.ones((1, 4, 5, 5)), np.ones((4, 2, 2, 2)), groups=g),
    lambda g: cnngrad.conv2d_backward(np.ones((1, 4, 5, 5)), np.ones((4, 2, 2, 2)),
                                      np.ones((1, 4, 4, 4)), groups=g),
    lambda g: cnngrad.conv1d_forward(np.ones((1, 4, 5)), np.ones((4, 2, 2)), groups=g),
    lambda g: cnngrad.conv_transpose2d_forward(np.ones((1, 4, 3, 3)), np.ones((4, 2, 2, 2)),
                                               groups=g),
])
@pytest.mark.parametrize("groups", [2.5, 2.0, "2", True, None])
def test_groups_must_be_an_int(call, groups):
    assert call(np.int64(2)) is not None
    with pytest.raises(ValueError) as raised:
        call(groups)
    assert str(raised.value) == f"groups must be an int, got {groups!r}"


@pytest.mark.parametrize("call, words", [
    # the array x where its shape is wanted (every other backward takes x itself)
    (lambda x: cnngrad.global_avgpool_backward(x, np.ones((1, 2))),
     "pass x.shape, not the array x (of shape (1, 2, 3, 3))"),
    (lambda x: cnngrad.global_avgpool_backward(x.shape, np.ones(2)),
     "delta must have the output's shape (N, C) = (1, 2), got (2,)"),
    (lambda x: cnngrad.global_avgpool_backward((1, 2), np.ones((1, 2))),
     "global_avgpool needs x_shape (N, C, *spatial), got (1, 2)"),
])
def test_global_avgpool_backward_says_what_it_takes(call, words):
    with pytest.raises(ValueError) as raised:
        call(np.ones((1, 2, 3, 3)))
    assert words in str(raised.value)


@pytest.mark.parametrize("call, message", [
    # numpy's "zero-size array to reduction operation maximum which has no identity"
    (lambda: cnngrad.softmax_forward(np.ones((2, 0))),
     "softmax needs K ≥ 1 values along the last axis, got shape (2, 0)"),
    (lambda: cnngrad.log_softmax_forward(np.ones(0)),
     "log_softmax needs K ≥ 1 values along the last axis, got shape (0,)"),
    # a ZeroDivisionError from 1/N
    (lambda: cnngrad.nll(np.ones((0, 3)), np.zeros(0, dtype=int)),
     "nll needs at least one sample, got log_probs of shape (0, 3)"),
    # a NaN with a RuntimeWarning, and an infinite delta
    (lambda: cnngrad.global_avgpool_forward(np.ones((1, 2, 0, 3))),
     "global_avgpool needs maps of at least one cell (every spatial size ≥ 1), got shape "
     "(1, 2, 0, 3)"),
    (lambda: cnngrad.global_avgpool_backward((1, 2, 3, 0), np.ones((1, 2))),
     "global_avgpool needs maps of at least one cell (every spatial size ≥ 1), got shape "
     "(1, 2, 3, 0)"),
])
def test_an_empty_axis_that_leaves_nothing_to_average_is_a_value_error(call, message):
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_an_empty_batch_still_gives_empty_results():
    np.testing.assert_array_equal(cnngrad.softmax_forward(np.ones((0, 3))), np.ones((0, 3)))
    assert cnngrad.global_avgpool_forward(np.ones((0, 2, 3, 3))).shape == (0, 2)
    assert cnngrad.global_avgpool_backward((0, 2, 3, 3), np.ones((0, 2))).shape == (0, 2, 3, 3)


def test_dropout_of_a_float_x_with_a_fraction_p_stays_float():
    from fractions import Fraction

    # it was an object array of Python floats, neither float64 nor exact
    y = cnngrad.dropout_forward(np.array([1.0, 2.0]), np.array([1, 0]), Fraction(1, 3))
    assert y.dtype == np.float64
    # 1/(1 − float(1/3)), torch's rounding of the float scale
    np.testing.assert_array_equal(y, [1.4999999999999998, 0.0])
    dx = cnngrad.dropout_backward(np.array([1, 1]), Fraction(1, 2),
                                  np.array([1.0, 3.0], dtype=np.float32))
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, [2.0, 6.0])
    # integers with a Fraction p (and Fractions) stay exact
    y = cnngrad.dropout_forward(np.array([1, 2]), np.array([1, 1]), Fraction(1, 3))
    assert list(y) == [Fraction(3, 2), Fraction(3)]
    assert all(isinstance(v, Fraction) for v in y)


@pytest.mark.parametrize("args, message", [
    ((6.5, 3, 2), "size must be an int, got 6.5"),
    ((6, 3.0, 2), "kernel must be an int, got 3.0"),
    ((6, 3, "2"), "stride must be an int, got '2'"),
    ((6, 3, 2, 1.5), "dilation must be an int, got 1.5"),
])
def test_same_padding_refuses_a_float_rather_than_truncating_it(args, message):
    assert cnngrad.same_padding(6, 3, 2) == (0, 1)
    assert cnngrad.same_padding(np.int64(6), np.int32(3), 2, dilation=np.int64(1)) == (0, 1)
    with pytest.raises(ValueError) as raised:
        cnngrad.same_padding(*args)
    assert str(raised.value) == message


def test_global_avgpool_takes_lists_as_the_other_kernels_do():
    x = np.arange(18.0).reshape(1, 2, 3, 3)
    np.testing.assert_array_equal(cnngrad.global_avgpool_forward(x.tolist()), [[4.0, 13.0]])
    np.testing.assert_array_equal(cnngrad.global_avgpool_backward(x.shape, [[9.0, 18.0]]),
                                  np.repeat([1.0, 2.0], 9).reshape(1, 2, 3, 3))


@pytest.mark.parametrize("call", [
    # conv computed complex numbers (its backward a numpy casting TypeError), softmax dropped
    # the imaginary parts with a warning; the pools and batch norm already refused them
    lambda z: cnngrad.conv2d_forward(z, np.ones((1, 1, 2, 2))),
    lambda z: cnngrad.conv2d_backward(z, np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))),
    lambda z: cnngrad.conv2d_forward(z.real, np.ones((1, 1, 2, 2)), b=np.array([1j])),
    lambda z: cnngrad.conv1d_forward(z[0], np.ones((1, 4, 2))),
    lambda z: cnngrad.conv_transpose2d_forward(z, np.ones((1, 1, 2, 2))),
    lambda z: cnngrad.softmax_forward(z[0, 0]),
    lambda z: cnngrad.log_softmax_forward(z[0, 0].astype(str)),
    lambda z: cnngrad.maxpool2d_forward(z, 2),
    # these computed complex numbers (upsample, global_avgpool) or dropped the imaginary
    # parts with a ComplexWarning (the pools' delta, dropout, the losses)
    lambda z: cnngrad.maxpool2d_backward(z.real, z[:, :, :2, :2], 2),
    lambda z: cnngrad.avgpool2d_backward(z.real, z[:, :, :2, :2], 2),
    lambda z: cnngrad.maxpool1d_backward(z.real[0], z[0, :, :2], 2),
    lambda z: cnngrad.upsample_nearest_forward(z, 2),
    lambda z: cnngrad.upsample_nearest_backward(z, 2),
    lambda z: cnngrad.global_avgpool_forward(z),
    lambda z: cnngrad.global_avgpool_backward(z.shape, z[:, :, 0, 0]),
    lambda z: cnngrad.dropout_forward(z, np.ones(z.shape), 0.5),
    lambda z: cnngrad.dropout_backward(np.ones(z.shape), 0.5, z),
    lambda z: cnngrad.bce(z.real / 20, z / 20),
    lambda z: cnngrad.bce_with_logits(z, z.real / 20),
    lambda z: cnngrad.nll(z[0, 0], [0, 1, 2, 3]),
])
def test_complex_or_text_arrays_are_a_value_error(call):
    z = (np.arange(16) + 1j).reshape(1, 1, 4, 4)
    with pytest.raises(ValueError, match="real numbers"):
        call(z)


@pytest.mark.parametrize("call", [
    lambda bad: cnngrad.conv2d_forward(bad, np.ones((1, 1, 2, 2))),
    lambda bad: cnngrad.conv2d_forward(np.ones((1, 1, 4, 4)), bad[:, :, :2, :2]),
    lambda bad: cnngrad.conv2d_backward(bad, np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))),
    lambda bad: cnngrad.conv2d_backward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)),
                                        bad[:, :, :3, :3]),
    lambda bad: cnngrad.conv1d_forward(bad[0], np.ones((1, 4, 2))),
    lambda bad: cnngrad.conv1d_backward(bad[0], np.ones((1, 4, 2)), np.ones((1, 1, 3))),
    lambda bad: cnngrad.conv_transpose2d_forward(bad, np.ones((1, 1, 2, 2))),
    lambda bad: cnngrad.conv_transpose2d_backward(bad, np.ones((1, 1, 2, 2)),
                                                  np.ones((1, 1, 5, 5))),
    lambda bad: cnngrad.maxpool2d_forward(bad, 2),
    lambda bad: cnngrad.maxpool2d_backward(bad, np.ones((1, 1, 2, 2)), 2),
    lambda bad: cnngrad.maxpool2d_backward(np.ones((1, 1, 4, 4)), bad[:, :, :2, :2], 2),
    lambda bad: cnngrad.avgpool2d_forward(bad, 2),
    lambda bad: cnngrad.avgpool2d_backward(np.ones((1, 1, 4, 4)), bad[:, :, :2, :2], 2),
    lambda bad: cnngrad.maxpool1d_forward(bad[0], 2),
    lambda bad: cnngrad.avgpool1d_forward(bad[0], 2),
])
@pytest.mark.parametrize("odd", [None, "1", "a"])
def test_object_arrays_of_none_or_text_are_a_value_error(call, odd):
    # numpy's object loops raised a TypeError ("unsupported operand type(s)") from deep
    # inside, and a max pool over strings compared them and returned a string
    bad = np.empty((1, 1, 4, 4), dtype=object)
    bad.fill(Fraction(1, 2))
    bad[0, 0, 0, 1] = odd
    with pytest.raises(ValueError, match=f"must hold real numbers.*holds {odd!r}"):
        call(bad)


@pytest.mark.parametrize("call", [
    lambda bad: cnngrad.conv2d_forward(bad, np.ones((1, 1, 2, 2))),
    lambda bad: cnngrad.conv2d_backward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)),
                                        bad[:, :, :3, :3]),
    lambda bad: cnngrad.conv2d_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)),
                                       b=bad[0, 0, 0, :1]),
    lambda bad: cnngrad.conv1d_forward(bad[0], np.ones((1, 4, 2))),
    lambda bad: cnngrad.conv_transpose2d_forward(bad, np.ones((1, 1, 2, 2))),
    lambda bad: cnngrad.maxpool2d_forward(bad, 2),
])
@pytest.mark.parametrize("dtype", ["datetime64[s]", "timedelta64[ms]"])
def test_dates_and_times_are_a_value_error(call, dtype):
    # np.result_type found no common type of a datetime and a float: numpy's
    # DTypePromotionError, before the dtype check
    bad = np.zeros((1, 1, 4, 4), dtype=dtype)
    with pytest.raises(ValueError, match=r"must hold real numbers .*got dtype (datetime|timedelta)"):
        call(bad)


@pytest.mark.parametrize("call, message", [
    (lambda: losses.mse(np.ones((4, 1)), np.zeros(4)),
     "target must have the shape of the output y (4, 1), got (4,)"),
    (lambda: losses.mse(np.ones(3), np.zeros((2, 3)), "mean"),
     "target must have the shape of the output y (3,), got (2, 3)"),
    (lambda: losses.cross_entropy(np.ones((4, 3)), np.zeros((4, 1))),
     "target must have the shape of the logits (4, 3), got (4, 1)"),
    (lambda: losses.cross_entropy(np.ones((2, 3)), np.zeros(3)),
     "target must have the shape of the logits (2, 3), got (3,)"),
    (lambda: losses.cross_entropy(np.ones(3), np.zeros(3)),
     "logits must be 2-D (N, K), got shape (3,)"),
    (lambda: losses.softmax(np.ones(3)), "logits must be 2-D (N, K), got shape (3,)"),
])
def test_losses_refuse_a_target_they_would_broadcast(call, message):
    # mse broadcast an (N, 1) output against an (N,) target to (N, N): 8.0 for 2.0
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_mse_of_matching_shapes_is_unchanged():
    assert losses.mse(np.ones((4, 1)), np.zeros((4, 1)))[0] == 2.0
    assert losses.mse(np.ones((4, 1)), np.zeros((4, 1)), "sum")[0] == 4.0


@pytest.mark.parametrize("call, message", [
    # numpy parsed the text ("1.0" read as 1.0) or raised its own words from inside
    (lambda: cnngrad.nll(np.array([["-1.0", "-2.0"]]), [0]),
     "log_probs must hold real numbers (float, integer or object dtype), got dtype <U4"),
    (lambda: cnngrad.maxpool2d_backward(np.ones((1, 1, 2, 2)), np.array([[[["1"]]]]), 2),
     "delta must hold real numbers (float, integer or object dtype), got dtype <U1"),
    (lambda: cnngrad.bce(np.array([0.5]), np.array(["a"])),
     "target must hold real numbers (float, integer or object dtype), got dtype <U1"),
    (lambda: cnngrad.global_avgpool_forward(np.ones((1, 1, 2, 2)).astype(str)),
     "x must hold real numbers (float, integer or object dtype), got dtype <U32"),
    (lambda: cnngrad.dropout_forward(np.ones(2), np.array(["1", "0"]), 0.5),
     "mask must hold real numbers (float, integer or object dtype), got dtype <U1"),
    # a TypeError from comparing eps with 0
    (lambda: cnngrad.batchnorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), eps="1e-5"),
     "eps must be a number ≥ 0, got '1e-5'"),
    (lambda: cnngrad.batchnorm_backward(np.ones((2, 3)), np.ones(3), np.ones((2, 3)), eps=None),
     "eps must be a number ≥ 0, got None"),
    # int() read 2.5 as 2; an int was a TypeError from iterating it
    (lambda: cnngrad.global_avgpool_backward((1, 1, 2.5, 2), np.ones((1, 1))),
     "each size of x_shape must be an int, got 2.5"),
    (lambda: cnngrad.global_avgpool_backward(4, np.ones((1, 1))),
     "x_shape is the forward input's shape, a tuple (N, C, *spatial), got 4"),
    # these three were TypeErrors from inside a worker ('NoneType' object is not
    # subscriptable), the conv1d one named the 2-D kernel's shapes, and a NaN passed bce
    (lambda: cnngrad.batchnorm_forward(np.ones((2, 2, 2, 2)), None, np.ones(2)),
     "gamma must hold real numbers, one per channel; got None"),
    (lambda: cnngrad.batchnorm_backward(np.ones((2, 2, 2, 2)), None, np.ones((2, 2, 2, 2))),
     "gamma must hold real numbers, one per channel; got None"),
    (lambda: cnngrad.batchnorm_backward(np.ones((2, 2, 2, 2)), np.ones(2), None),
     "delta must hold real numbers, of the output's shape (2, 2, 2, 2); got None"),
    (lambda: cnngrad.conv1d_forward(np.ones((0, 2, 6)), np.ones((3, 2, 3))),
     "empty axis in x (0, 2, 6) or w (3, 2, 3)"),
    (lambda: cnngrad.conv1d_forward(np.ones((0, 4, 6)), np.ones((3, 2, 3)), groups=3),
     "input channels C=4 are not divisible by groups=3"),  # as conv2d: groups first
    # before the checks that need the output's length ("shape (1, 3, -2)"), and in the naive
    # twins too, which returned zeros for an empty kernel
    (lambda: cnngrad.conv1d_backward(np.ones((1, 2, 0)), np.ones((3, 2, 3)),
                                     np.ones((1, 3, 0))),
     "empty axis in x (1, 2, 0) or w (3, 2, 3)"),
    (lambda: cnngrad.conv1d_forward(np.ones((1, 2, 6)), np.ones((3, 2, 0)), np.ones((3, 6))),
     "empty axis in x (1, 2, 6) or w (3, 2, 0)"),
    (lambda: conv1d_layer.conv1d_forward_naive(np.ones((1, 2, 6)), np.ones((3, 2, 0))),
     "empty axis in x (1, 2, 6) or w (3, 2, 0)"),
    (lambda: conv1d_layer.conv1d_backward_naive(np.ones((0, 2, 6)), np.ones((3, 2, 3)),
                                                np.ones((0, 3, 4))),
     "empty axis in x (0, 2, 6) or w (3, 2, 3)"),
    (lambda: cnngrad.bce(np.array([np.nan]), np.array([1.0])),
     "bce needs outputs in [0, 1] (probabilities); apply a sigmoid first or use "
     "bce_with_logits"),
])
def test_text_and_odd_scalars_are_a_value_error_naming_the_argument(call, message):
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


def test_padding_is_zeros():
    # a ones kernel over a ones input: a corner output sees 4 real cells of its 3×3 window
    y = cnngrad.conv2d_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), padding=1)
    assert y[0, 0, 0, 0] == 4 and y[0, 0, 1, 1] == 9


# ---------------------------------------------------------------------------------------
# working memory does not grow with the batch


def working_mib(run) -> float:
    """numpy's peak allocations during ``run()`` beyond the outputs it returns, in MiB."""
    tracemalloc.start()
    try:
        outputs = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (peak - sum(a.nbytes for a in outputs)) / 2**20


def batch_run(kind: str, n: int, rng: np.random.Generator):
    """cnngrad's work on a batch of n images of 16×32×32, returning its outputs."""
    x = rng.standard_normal((n, 16, 32, 32))
    if kind in ("conv", "conv-reflect", "conv-strided"):
        stride = 2 if kind == "conv-strided" else 1
        mode = "reflect" if kind == "conv-reflect" else "zeros"
        w, b = rng.standard_normal((16, 16, 3, 3)), rng.standard_normal(16)
        delta = rng.standard_normal((n, 16, 32 // stride, 32 // stride))

        def run():
            y = cnngrad.conv2d_forward(x, w, b, stride, 1, padding_mode=mode)
            return (y, *cnngrad.conv2d_backward(x, w, delta, stride, 1, padding_mode=mode))
    elif kind == "maxpool":
        delta = rng.standard_normal((n, 16, 16, 16))

        def run():
            return (cnngrad.maxpool2d_backward(x, delta, 2),)
    elif kind == "avgpool":
        delta = rng.standard_normal((n, 16, 16, 16))

        def run():
            return (cnngrad.avgpool2d_backward(x, delta, 3, 2, 1),)
    else:
        raise ValueError(f"kind must be conv, conv-reflect, conv-strided, maxpool or avgpool; "
                         f"got {kind!r}")
    return run


@pytest.mark.parametrize("kind", ["conv", "conv-reflect", "conv-strided", "maxpool", "avgpool"])
def test_working_memory_does_not_grow_with_the_batch(kind):
    rng = np.random.default_rng(4)
    # at 256 images the whole im2col matrix of the strided conv would be 72 MiB, the padded
    # input (or delta) of the stride-1 one 38 MiB: 54 and 28 MiB more than at 64 images. Each
    # thread's blocks are bounded well before that. The margin covers the two threads' peaks
    # meeting or missing each other, which moves the reflect-padded peak by up to 4.3 MiB;
    # on a busy machine they missed each other at 64 images by more (25.3 against 29.7 MiB
    # in six runs, and once past the margin): each size's highest of three runs is its peak
    work = {n: max(working_mib(batch_run(kind, n, rng)) for _ in range(3)) for n in (64, 256)}
    assert work[256] < 64
    assert work[256] <= work[64] + 8, work


# ---------------------------------------------------------------------------------------
# the benchmark runs (a smoke: the times mean nothing)


def run_bench(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnngrad.bench", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120, check=False)
    return done, time.perf_counter() - start


def test_bench_quick_prints_the_table():
    done, seconds = run_bench("--quick")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("python -m cnngrad.bench · ")
    header = next(line for line in lines if line.startswith("case"))
    for column in ("dtype", "cnngrad", "ratio", "target", "GFLOP/s", "% peak", "work MiB",
                   "RSS MiB"):
        assert column in header
    rows = [line for line in lines if line.startswith(("conv ", "maxpool ", "avgpool "))]
    assert "float64" in rows[0] and "float32" in rows[1]
    from cnngrad.bench import CASES

    assert len(rows) == 2 * len(CASES)  # every case, two dtypes
    assert "peak RSS" in done.stdout
    assert seconds < 60  # about 6 s: the import of torch, when installed, is most of it
    if Path("/sys/kernel/mm/transparent_hugepage/enabled").exists():
        pages = next(line for line in lines if line.startswith("pages: "))
        from cnngrad.layers._common import ordinary_pages_declined

        declined = ordinary_pages_declined()
        assert pages.endswith("4 MiB and more kept off them" if declined is None
                              else f"left as numpy makes them ({declined})"), pages


def test_bench_against_the_naive_references_as_json():
    import json

    done, _ = run_bench("--quick", "--reference", "naive", "--json", "--case", "conv-64",
                        "--case", "maxpool", "--dtype", "float32", "--repeat", "1")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reference_name"] == "naive"
    assert [row["case"] for row in result["rows"]] == ["conv-64", "maxpool"]
    for row in result["rows"]:
        assert row["dtype"] == "float32" and row["target"] is None
        assert row["max_rel_difference"] < 1e-5
        assert row["memory_mib"]["work"] < 64


def _bench_row(ratios, target):
    import statistics

    from cnngrad.bench import Row

    return Row("conv-n1-64", "conv 1,16,64,64 → 32, 3×3, s1, p1", "float64", 5e-3, 1e-2,
               statistics.median(ratios) if ratios else 1.0, target, None, None, 0.0, None, None,
               tuple(ratios))


@pytest.mark.parametrize("ratios, target, straddles", [
    ((0.21, 0.35, 1.30), 0.8, True),    # a pass with a pair above the target
    ((0.9, 1.2, 0.7), 0.8, True),       # a miss with a pair under it
    ((0.8, 0.5), 0.8, False),           # a pair at the target meets it: every pair met
    ((0.81, 0.9), 0.8, False),          # every pair missed
    ((0.3, 1.3), None, False),          # no target (the naive reference)
    ((), 0.8, False),                   # no pairs timed
])
def test_bench_row_straddles_when_its_pairs_fall_on_both_sides(ratios, target, straddles):
    assert _bench_row(ratios, target).straddles is straddles


def test_bench_table_names_the_rows_whose_pairs_straddle_their_target():
    from cnngrad.bench import _straddling

    rows = [_bench_row((0.21, 0.35, 1.30), 0.8), _bench_row((0.3, 0.4, 0.5), 0.8),
            _bench_row((0.9, 1.2, 0.7), 0.8)]
    assert _straddling(rows) == [
        "pairs on both sides of their target (another run may turn the mark):",
        "  conv 1,16,64,64 → 32, 3×3, s1, p1 float64: pairs 0.21–1.30, median 0.35 (≤ 0.8 ✓)",
        "  conv 1,16,64,64 → 32, 3×3, s1, p1 float64: pairs 0.70–1.20, median 0.90 (≤ 0.8 ✗)",
    ]
    assert _straddling(rows[1:2]) == []
    assert _bench_row((0.9, 1.2, 0.7), 0.8).as_dict()["pair_ratios"] == [0.9, 1.2, 0.7]


def test_bench_rejects_a_bad_option():
    done, _ = run_bench("--case", "conv3d")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr and "conv-64" in done.stderr


@pytest.mark.parametrize("call, words", [
    # softmax and batch norm cast an object array straight to float: "1" read as 1, None as nan
    (lambda: cnngrad.softmax_forward(np.array(["1", "2", "3"], dtype=object)),
     "x must hold real numbers (float, integer or Fraction); an object array holds '1' of "
     "type str"),
    (lambda: cnngrad.log_softmax_backward(np.array([0.5, 0.5]),
                                          np.array([None, 1], dtype=object)),
     "delta must hold real numbers (float, integer or Fraction); an object array holds None"),
    (lambda: cnngrad.batchnorm_forward(np.arange(6.0).reshape(2, 3),
                                       np.array([None, 1, 1], dtype=object), np.zeros(3)),
     "gamma must hold real numbers (float, integer or Fraction); an object array holds None"),
    # the argument named, not "expected real numbers" or "softmax needs real numbers"
    (lambda: cnngrad.batchnorm_forward(np.arange(6.0).reshape(3, 2), np.ones(2),
                                       np.zeros(2) + 0j), "beta must hold real numbers"),
    (lambda: cnngrad.softmax_backward(np.array([0.2, 0.8]), np.array([1, 2]) + 0j),
     "delta must hold real numbers, got dtype complex128"),
    (lambda: cnngrad.bce(np.array([0.3]) + 0j, np.array([1.0])), "y must hold real numbers"),
    (lambda: cnngrad.bce_with_logits(np.array([0.3, 0.1]), np.array([1.0])),
     "target must have the shape of z (2,), got (1,)"),
    # eps = 0 in training: a constant channel's x̂ was 0/0, nan with a RuntimeWarning
    (lambda: cnngrad.batchnorm_backward(np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 4.0]]),
                                        np.ones(2), np.ones((3, 2)), eps=0.0),
     "with eps = 0 every channel's batch variance must be > 0; channel 0 holds one value "
     "throughout"),
])
def test_every_kernel_names_the_argument_that_is_not_real_numbers(call, words):
    with pytest.raises(ValueError) as raised:
        call()
    assert words in str(raised.value)


def test_batch_norm_takes_a_fraction_eps_as_a_float():
    # a TypeError from np.sqrt of an object array, though api.md says Fractions compute in
    # float64
    from fractions import Fraction

    x = np.arange(6.0).reshape(3, 2)
    for mode, stats in (("train", {}), ("eval", {"running_mean": np.zeros(2),
                                                  "running_var": np.ones(2)})):
        exact = cnngrad.batchnorm_forward(x, [1, 1], [0, 0], eps=Fraction(1, 10), mode=mode,
                                          **stats)
        np.testing.assert_array_equal(exact, cnngrad.batchnorm_forward(
            x, [1, 1], [0, 0], eps=0.1, mode=mode, **stats))
        dx, _, _ = cnngrad.batchnorm_backward(x, [1, 1], np.ones_like(x), eps=Fraction(1, 10),
                                              mode=mode, **stats)
        assert dx.dtype == np.float64


@pytest.mark.parametrize("x, scale", [(np.arange(4.0).reshape(1, 1, 2, 2), 1),
                                      (np.arange(4.0).reshape(1, 1, 2, 2), (1, 1)),
                                      (np.arange(4.0).reshape(1, 1, 4), 1)])
def test_upsampling_by_1_returns_a_new_array(x, scale):
    # a read-only view of x: y[...] = 0 raised, and a change to x showed in y
    y = cnngrad.upsample_nearest_forward(x, scale)
    np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(x, y) and y.flags.writeable


@pytest.mark.parametrize("loss", [cnngrad.bce, cnngrad.bce_with_logits])
def test_a_bce_delta_is_an_array_for_a_single_value(loss):
    _, delta = loss(np.float64(0.3), np.float64(1.0))
    assert isinstance(delta, np.ndarray) and delta.shape == ()
