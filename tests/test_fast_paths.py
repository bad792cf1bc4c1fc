"""The fast paths chosen by size: pooling by gathered windows, by tap passes, by phase planes
and by a separable argmax (huge windows); JSON numbers formatted by orjson or in Python;
csv/markdown/latex rows formatted a group at a time.  Each is held to its plain reference."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnngrad.layers import pool
from cnngrad.layers.pool import (
    avgpool2d_backward,
    avgpool2d_backward_naive,
    avgpool2d_forward,
    avgpool2d_forward_naive,
    maxpool2d_backward,
    maxpool2d_backward_naive,
    maxpool2d_forward,
    maxpool2d_forward_naive,
)
from cnngrad.render import json_result
from cnngrad.render.blocks import formatted_rows, tensor_is_scientific
from cnngrad.render.numbers import fmt, wants_scientific

# ---------------------------------------------------------------------------------------
# pooling: every path against the plain loops

PATHS = {
    # (GATHER_MAX_ELEMENTS, separable argmax from this many taps on)
    "gather": {"GATHER_MAX_ELEMENTS": 10**9},
    "taps": {"GATHER_MAX_ELEMENTS": 0},  # (overlapping windows this small skip the planes)
    "planes": {"GATHER_MAX_ELEMENTS": 0, "PLANES_MIN_WINDOW_CELLS": 0},
    "separable": {"GATHER_MAX_ELEMENTS": 0, "_separable_argmax_pays": lambda geo: True},
}


@st.composite
def pool_problems(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    ceil_mode = draw(st.booleans())
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    ties = draw(st.booleans())  # integer values: ties everywhere
    seed = draw(st.integers(0, 2**32 - 1))
    return (n, c, h, w), (kh, kw), (sh, sw), (ph, pw), ceil_mode, ties, seed


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=25, deadline=None)
@given(problem=pool_problems())
def test_max_pool_paths_match_naive(path, dtype, problem):
    shape, size, stride, padding, ceil_mode, ties, seed = problem
    rng = np.random.default_rng(seed)
    x = (rng.integers(-2, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    args = (size, stride, padding, ceil_mode)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PATHS[path].items():
            patch.setattr(pool, name, value)
        y = maxpool2d_forward(x, *args)
        np.testing.assert_array_equal(y, maxpool2d_forward_naive(x, *args))
        delta = rng.standard_normal(y.shape).astype(dtype)
        tol = 1e-6 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(maxpool2d_backward(x, delta, *args),
                                   maxpool2d_backward_naive(x, delta, *args), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape, size, stride, padding, ceil_mode", [
    ((1, 2, 7, 7), 7, 1, 0, False),          # one window, the whole map
    ((1, 1, 7, 5), (40, 30), 1, (20, 15), True),  # the window far larger than the map
    ((2, 1, 9, 9), (9, 8), (1, 2), (4, 0), True),  # big, overlapping, padded
    ((1, 2, 12, 11), 10, 1, 5, False),        # separable argmax, padded
])
def test_windows_larger_than_the_map_match_naive(shape, size, stride, padding, ceil_mode):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    args = (size, stride, padding, ceil_mode)
    for forward, backward, forward_naive, backward_naive in (
            (maxpool2d_forward, maxpool2d_backward, maxpool2d_forward_naive,
             maxpool2d_backward_naive),
            (avgpool2d_forward, avgpool2d_backward, avgpool2d_forward_naive,
             avgpool2d_backward_naive)):
        y = forward(x, *args)
        np.testing.assert_allclose(y, forward_naive(x, *args), rtol=1e-13, atol=1e-13)
        delta = rng.standard_normal(y.shape)
        np.testing.assert_allclose(backward(x, delta, *args), backward_naive(x, delta, *args),
                                   rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("size, stride, padding, ceil_mode", [
    (9, 3, 4, False),            # separable by itself (81 taps > 4·18)
    ((3, 4), (2, 3), (1, 2), True),
    ((2, 2), 1, 0, False),
])
def test_windows_of_minus_infinity_send_their_delta_to_their_first_real_cell(
        path, size, stride, padding, ceil_mode):
    # a float32 overflow can leave a window of −∞ only: torch gives its first real cell the
    # delta (never a cell outside the window, as (0, 0) for a window further down the map)
    rng = np.random.default_rng(14)
    x = rng.choice([-np.inf, -np.inf, -np.inf, 1.5, -2.0], (2, 2, 12, 11))
    x[:, :, 5:, :] = -np.inf  # whole windows of −∞ in the lower rows
    args = (size, stride, padding, ceil_mode)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PATHS[path].items():
            patch.setattr(pool, name, value)
        y = maxpool2d_forward(x, *args)
        delta = rng.standard_normal(y.shape)
        got = maxpool2d_backward(x, delta, *args)
    np.testing.assert_array_equal(y, maxpool2d_forward_naive(x, *args))
    np.testing.assert_allclose(got, maxpool2d_backward_naive(x, delta, *args), rtol=1e-13,
                               atol=1e-13)


def test_a_billion_cell_window_costs_only_the_map_it_covers():
    # ceil mode lets a window hang over the edge: only the taps over real cells exist, and
    # every window covers all 4 rows, as a 9-row window padded by 4 does
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 4, 5))
    huge, small = ((10**9, 3), 2, (5 * 10**8, 1), True), ((9, 3), 2, (4, 1), True)
    geo = pool._geometry(x.shape[2:], *huge)
    assert len(geo.rows.taps) <= 4 + (geo.output_hw[0] - 1) * 2 and len(geo.cols.taps) == 3
    for forward, backward in ((maxpool2d_forward, maxpool2d_backward),
                              (avgpool2d_forward, avgpool2d_backward)):
        y = forward(x, *huge)
        expected = forward(x, *small)
        if forward is avgpool2d_forward:  # count_include_pad: the divisors differ
            expected = expected * (pool.avgpool2d_divisors(x.shape[2:], *small) /
                                   pool.avgpool2d_divisors(x.shape[2:], *huge))
        np.testing.assert_allclose(y, expected, rtol=1e-14, atol=1e-14)
        delta = rng.standard_normal(y.shape)
        # avg: the divisor counts the huge padded window, so only the max pool's deltas agree
        if forward is maxpool2d_forward:
            np.testing.assert_allclose(backward(x, delta, *huge), backward(x, delta, *small),
                                       rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(maxpool2d_forward(x, *small),
                                  maxpool2d_forward_naive(x, *small))


# ---------------------------------------------------------------------------------------
# JSON numbers


MAGNITUDES = [0.0, 1e-320, 5e-324, 1e-10, 3e-7, 1e-5, 9.99e-6, 1.5e-5, 9.9e-5, 1e-4, 0.1, 1.0,
              123.456, 1e15, 9999999999999998.0, 1e16, 1.2345678901234568e17, 1e22, 1.5e300,
              1.7976931348623157e308]


@pytest.mark.parametrize("value", MAGNITUDES + [-v for v in MAGNITUDES])
def test_python_numbers_read_as_orjson_writes_them(value):
    orjson = pytest.importorskip("orjson")
    # orjson ≥ 3.9 writes "1e+16", older versions "1e16": cnngrad writes "1e16" with either
    assert json_result.float_text(value) == orjson.dumps(value).decode().replace("e+", "e")
    assert "e+" not in json_result.float_text(value)
    assert float(json_result.float_text(value)) == value


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 2, 3, 5), (1, 70), (70000,),
                                   (3, 40, 50)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_big_and_small_tensors_write_the_same_bytes_and_values(monkeypatch, shape, dtype):
    pytest.importorskip("orjson")
    rng = np.random.default_rng(2)
    values = (rng.standard_normal(shape) * 10.0 ** rng.integers(-9, 18, shape)).astype(dtype)
    monkeypatch.setattr(json_result, "ORJSON_FROM_ELEMENTS", 10**12)
    python_text = json_result.dumps(values, 2)
    monkeypatch.setattr(json_result, "ORJSON_FROM_ELEMENTS", 0)
    monkeypatch.setattr(json_result, "BLOCK_ELEMENTS", 7)  # many blocks, a row split in pieces
    orjson_text = json_result.dumps(values, 2)
    assert python_text == orjson_text
    # full float64 precision: float32 values read back exactly (not their shortest float32)
    assert np.array_equal(np.array(json.loads(orjson_text)), values.astype(np.float64))
    assert np.array(json.loads(orjson_text)).shape == shape


def test_a_block_orjson_s_numpy_writer_aborts_on_is_written(tmp_path):
    # a 33×131 delta_in of an avgpool2d: orjson 3.12–3.13's OPT_SERIALIZE_NUMPY corrupted
    # memory on it and the process aborted (exit 134, no output); in a child process, so
    # that such an abort fails this test rather than the test run
    pytest.importorskip("orjson")
    block = Path(__file__).parent / "data" / "orjson-abort-block.npy"
    out = tmp_path / "block.json"
    script = ("import sys, numpy as np; from cnngrad.render import json_result; "
              "open(sys.argv[2], 'w').write(json_result.dumps(np.load(sys.argv[1])))")
    done = subprocess.run([sys.executable, "-c", script, str(block), str(out)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.array(json.loads(out.read_text())), np.load(block))


def test_matrix_rows_are_lines_and_objects_indented():
    text = json_result.dumps({"a": np.arange(6.0).reshape(2, 3), "b": {}, "c": [1.5, None]})
    assert text == ('{\n  "a": [\n    [0.0, 1.0, 2.0],\n    [3.0, 4.0, 5.0]\n  ],\n'
                    '  "b": {},\n  "c": [1.5, null]\n}')


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("size", [3, 10000])
def test_non_finite_numbers_are_refused(bad, size):
    values = np.zeros(size)
    values[1] = bad
    with pytest.raises(ValueError, match="JSON compliant"):
        json_result.dumps(values)


# ---------------------------------------------------------------------------------------
# csv / markdown / latex rows


@pytest.mark.parametrize("decimals", [0, 1, 3, 6])
@pytest.mark.parametrize("scale", [1.0, 1e-9, 1e13])
def test_formatted_rows_are_fmt_of_each_number(monkeypatch, decimals, scale):
    rng = np.random.default_rng(decimals)
    block = rng.standard_normal((9, 7)) * scale
    block[0, :4] = [0.0, -0.0, -1e-30, np.nan]
    block[1, :2] = [np.inf, -np.inf]
    monkeypatch.setattr("cnngrad.render.blocks.ROWS_BLOCK_ELEMENTS", 10)  # several groups
    scientific = tensor_is_scientific(block, decimals)
    assert scientific == wants_scientific(block.flat, decimals)
    rows = [row for group in formatted_rows(block, decimals, scientific, ",") for row in group]
    assert rows == [",".join(fmt(v, decimals, scientific) for v in row) for row in block]


@pytest.mark.parametrize("largest, decimals, scientific", [
    (5e-7, 6, True),  # the float is a hair below 0.0000005: fixed, it was 0.000000
    (4.9e-7, 6, True), (1e-7, 6, True),
    (5.1e-7, 6, False),  # 0.000001
    (0.5, 0, False),  # an exact half: fmt writes 1
    (0.05, 1, False),  # the float is a hair above 0.05: 0.1
    (0.0, 6, False), (1e12, 6, True), (9.9e11, 6, False),
])
def test_a_tensor_goes_scientific_exactly_when_fixed_decimals_hide_its_largest(
        largest, decimals, scientific):
    block = np.array([[largest, -largest / 3], [0.0, largest / 7]])
    assert tensor_is_scientific(block, decimals) is scientific
    assert wants_scientific(block.flat, decimals) is scientific
    fixed = fmt(largest, decimals, False)
    assert (largest != 0 and float(fixed) == 0) or largest >= 1e12 or not scientific
    if scientific and largest < 1:
        assert float(fmt(largest, decimals)) == pytest.approx(largest, rel=1e-5)


@pytest.mark.parametrize("decimals", [1, 2, 3, 6, 10, 17])
def test_a_tie_in_scientific_notation_is_rounded_a_half_away_from_zero(decimals):
    # %e rounds a float exactly halfway to even (1.25e12 at one digit: 1.2e+12), where the
    # fixed decimals and the docs round a half away from zero
    assert fmt(1.25e12, 2, True) == "1.3e+12" and fmt(0.125, 2, True) == "1.3e-01"
    assert fmt(-1.25e12, 2, True) == "-1.3e+12" and fmt(0.0625, 3, True) == "6.25e-02"
    assert fmt(0.0625, 2, True) == "6.3e-02" and fmt(-0.0625, 2, True) == "-6.3e-02"
    # not ties: 1.2355e-7 is held as 1.23549999...e-7, 1.2345e-7 as 1.23450000...1e-7
    assert fmt(1.2355e-7, 4, True) == "1.235e-07" and fmt(1.2345e-7, 4, True) == "1.235e-07"
    assert fmt(2.5e-300, 2, True) == "2.5e-300" and fmt(9.5e20, 1, True) == "9.5e+20"
    ties = [1.25e12, -1.25e12, 0.125, 2.5, 9.5e20, 0.0625, -0.0625, 1.5e300]
    rng = np.random.default_rng(decimals)
    block = rng.standard_normal((30, 5)) * 10.0 ** rng.integers(-30, 30, (30, 5))
    block[:len(ties), 2] = ties
    rows = [row for group in formatted_rows(block, decimals, True, ",") for row in group]
    assert rows == [",".join(fmt(v, decimals, True) for v in row) for row in block]


def test_latex_scientific_rows_use_times_ten():
    from cnngrad.render.latex import tensor_equations

    (equation,) = tensor_equations("a", np.array([[1.5e-7, -2e-8], [0.0, 3e-9]]))
    assert r"1.50000 \times 10^{-7} & -2.00000 \times 10^{-8}" in equation
    assert re.search(r"0\.000000 & 3\.00000 \\times 10\^\{-9\}", equation)


# ---------------------------------------------------------------------------------------
# depthwise convolution: a multiply-add per tap, on threads for big calls


def test_unbuffered_rows_sets_numpys_ufunc_buffer_and_gives_it_back():
    from cnngrad.layers._common import UNBUFFERED_BUFSIZE, unbuffered_rows

    before = np.getbufsize()
    with unbuffered_rows():
        assert np.getbufsize() == UNBUFFERED_BUFSIZE
    assert np.getbufsize() == before
    with pytest.raises(KeyError), unbuffered_rows():
        raise KeyError("a failing kernel")
    assert np.getbufsize() == before


def test_a_reduction_inside_unbuffered_rows_gets_the_callers_buffer_back():
    from cnngrad.layers._common import (UNBUFFERED_BUFSIZE, buffered_reduction,
                                        unbuffered_rows)

    old = np.setbufsize(4096)
    try:
        with buffered_reduction():  # outside: nothing changes
            assert np.getbufsize() == 4096
        with unbuffered_rows():
            with buffered_reduction():
                assert np.getbufsize() == 4096
            assert np.getbufsize() == UNBUFFERED_BUFSIZE
            with unbuffered_rows():  # nested: the caller's buffer is still the one outside
                with buffered_reduction():
                    assert np.getbufsize() == UNBUFFERED_BUFSIZE
        assert np.getbufsize() == 4096
    finally:
        np.setbufsize(old)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_kernels_sums_are_numpys_own_inside_unbuffered_rows(monkeypatch, dtype):
    # numpy 2.0 sums a row in pieces of the buffer's size: with a buffer of 16 a float32 sum
    # of 3,136 values moved by 4.6e-5.  Batch norm's sums and dots and depthwise's tap dots
    # run inside unbuffered_rows, and must give what they give outside it
    from cnngrad.layers import batchnorm, conv
    from cnngrad.layers._common import row_dots, unbuffered_rows

    rng = np.random.default_rng(5)
    a = (rng.standard_normal((3, 4, 3136)) * 3 + 1).astype(dtype)
    b = rng.standard_normal((3, 4, 3136)).astype(dtype)
    geo = conv._geometry((3, 4, 54, 56), (4, 1, 3, 3), 1, 1, 1, 4, "zeros")
    flat = rng.standard_normal((3, 4, 56 * 58 + 2)).astype(dtype)
    length = 54 * 58
    monkeypatch.setattr(conv, "DEPTHWISE_DOTS_BLAS_MIN_BYTES", 1 << 40)  # einsum's own sums
    outside = (batchnorm._per_channel_sum(a), row_dots(a, b, 1 << 40),
               conv._tap_dots(flat, b[..., :length], geo, length))
    with unbuffered_rows():
        inside = (batchnorm._per_channel_sum(a), row_dots(a, b, 1 << 40),
                  conv._tap_dots(flat, b[..., :length], geo, length))
    for one, other in zip(inside, outside):
        np.testing.assert_array_equal(one, other)


@pytest.mark.parametrize("stride", [1, 2])
def test_a_depthwise_conv_leaves_the_callers_ufunc_buffer_as_it_was(monkeypatch, stride):
    from cnngrad.layers import conv

    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((4, 1, 3, 3))
    old = np.setbufsize(4096)
    try:
        y = conv.conv2d_forward(x, w, None, stride, 1, 1, 4)
        conv.conv2d_backward(x, w, np.ones_like(y), stride, 1, 1, 4)
        assert np.getbufsize() == 4096
    finally:
        np.setbufsize(old)


@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("stride, padding, dilation, mode", [
    (1, 1, 1, "zeros"), ((2, 1), (1, 2), (1, 2), "reflect"), (2, 0, 1, "zeros"),
    (1, (1, 0, 2, 1), 1, "circular"), (1, 2, 2, "replicate"), (1, 0, (2, 1), "zeros"),
    ((1, 2), 1, 1, "zeros"), (1, (3, 0, 1, 2), (1, 2), "zeros"), (3, 2, 1, "reflect"),
    ((3, 2), (2, 0, 1, 3), (2, 1), "zeros"), (2, 1, 3, "circular")])
@pytest.mark.parametrize("block_bytes", [500, 2000, 5000, 10**6])
@pytest.mark.parametrize("blas_dots", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("phases", [False, True])
def test_depthwise_matches_naive(monkeypatch, threads, stride, padding, dilation, mode,
                                 block_bytes, blas_dots, dtype, phases):
    from cnngrad.layers import conv

    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    # a strided call: the flat phases whatever its taps a phase, or a multiply-add per tap
    monkeypatch.setattr(conv, "DEPTHWISE_PHASE_MIN_TAPS", 0 if phases else 10**9)
    # stride 1's kernel gradient: einsum's dot products on small blocks, the BLAS's on big ones
    monkeypatch.setattr(conv, "DEPTHWISE_DOTS_BLAS_MIN_BYTES", 0 if blas_dots else 2**60)
    monkeypatch.setattr(conv, "TILE_BYTES", 2000)  # several chunks of images
    # stride 1: blocks of several images, of one image's channels, or every image at once
    monkeypatch.setattr(conv, "DEPTHWISE_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(conv, "DEPTHWISE_DOTS_BLOCK_BYTES", block_bytes)
    # the tap columns of one map at a time, or of every map of a block
    monkeypatch.setattr(conv, "DEPTHWISE_COLUMNS_BYTES", block_bytes)
    if threads:
        monkeypatch.setattr(conv, "DEPTHWISE_PARALLEL_MIN_MACS", 0)
        monkeypatch.setattr(conv, "SINGLE_BLAS_MIN_MACS", 0)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4, 9, 8)).astype(dtype)
    w = rng.standard_normal((4, 1, 3, 2)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    args = (stride, padding, dilation, 4, mode)
    tol = 2e-5 if dtype == np.float32 else 1e-13
    y = conv.conv2d_forward(x, w, b, *args)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, conv.conv2d_forward_naive(x, w, b, *args), rtol=tol, atol=tol)
    delta = rng.standard_normal(y.shape).astype(dtype)
    for fast, naive in zip(conv.conv2d_backward(x, w, delta, *args),
                           conv.conv2d_backward_naive(x, w, delta, *args)):
        assert fast.dtype == dtype
        np.testing.assert_allclose(fast, naive, rtol=tol, atol=tol)


@pytest.mark.parametrize("stride", [(1000, 1), (1, 50)])
def test_a_depthwise_stride_longer_than_the_map_takes_the_tap_views(monkeypatch, stride):
    # its sh·sw phases of Hq × Wq each held the map hundreds of times over (a MemoryError)
    from cnngrad.layers import conv

    monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 4, 3, 40)), rng.standard_normal((4, 1, 1, 3))
    args = (stride, 0, 1, 4)
    assert not conv._depthwise_flat(conv._geometry(x.shape, w.shape, *args, "zeros"))
    y = conv.conv2d_forward(x, w, None, *args)
    np.testing.assert_allclose(y, conv.conv2d_forward_naive(x, w, None, *args), atol=1e-13)
    delta = rng.standard_normal(y.shape)
    for fast, naive in zip(conv.conv2d_backward(x, w, delta, *args),
                           conv.conv2d_backward_naive(x, w, delta, *args)):
        np.testing.assert_allclose(fast, naive, atol=1e-13)


# ---------------------------------------------------------------------------------------
# gradcheck: the input's perturbed copies through the network as one batch


def _gradcheck_problem(doc: dict):
    from pathlib import Path

    from cnngrad.problem import build_problem
    from cnngrad.tensorio import load_json_document

    return build_problem(load_json_document(json.dumps(doc).encode(), "t.json"), file="t.json",
                         base_dir=Path("."))


@pytest.mark.parametrize("loss", [False, True])
def test_batched_input_perturbations_match_one_pass_each(monkeypatch, loss):
    from cnngrad.teach import gradcheck as gc

    rng = np.random.default_rng(12)
    doc = {"input": rng.standard_normal((2, 3, 6, 5)).round(3).tolist(),
           "layers": [{"type": "conv2d", "kernel": rng.standard_normal((4, 3, 3, 3)).tolist(),
                       "padding": 1},
                      {"type": "relu"}, {"type": "maxpool2d", "size": 2, "ceil_mode": True}]}
    if loss:
        doc["loss"] = {"type": "mse", "target": rng.standard_normal((2, 4, 3, 3)).tolist()}
    else:
        doc["delta"] = rng.standard_normal((2, 4, 3, 3)).tolist()
    problem = _gradcheck_problem(doc)
    monkeypatch.setattr(gc, "BATCH_CELLS", 300)  # several batches
    trace = gc.run(problem)
    _, _, watch = gc.scan_kinks(problem, trace, 1e-6)
    base = np.array(problem.input, dtype=np.float64)
    base_energy = gc.energy(problem)
    plus, minus, crossed = gc._input_energies(problem, base, 1e-6, base_energy, watch)
    for index in np.ndindex(base.shape):
        one_plus, one_minus, one_crossed = gc._shifted_energies(problem, "input", base, index,
                                                                1e-6, watch)
        assert plus[index] == pytest.approx(one_plus, rel=1e-13, abs=1e-13)
        assert minus[index] == pytest.approx(one_minus, rel=1e-13, abs=1e-13)
        assert crossed[index] == one_crossed


def test_a_network_that_mixes_the_batch_is_checked_one_copy_at_a_time(monkeypatch):
    from cnngrad.teach import gradcheck as gc

    rng = np.random.default_rng(13)
    problem = _gradcheck_problem({"input": rng.standard_normal((1, 2, 4, 4)).tolist(),
                                  "kernel": rng.standard_normal((2, 2, 2, 2)).tolist(),
                                  "delta": rng.standard_normal((1, 2, 3, 3)).tolist()})
    forward = gc.forward

    def mixing(p):  # as batch norm would: each copy's output depends on the others
        layers = forward(p)
        layers[-1].output = layers[-1].output + layers[-1].output.mean(axis=0)
        return layers

    monkeypatch.setattr(gc, "forward", mixing)
    base = np.array(problem.input, dtype=np.float64)
    assert gc._input_energies(problem, base, 1e-6, gc.energy(problem), None) is None


# ---------------------------------------------------------------------------------------
# streamed results: what is written is what the renderers return whole


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "latex"])
@pytest.mark.parametrize("to_file", [False, True])
def test_streamed_results_are_the_rendered_text(tmp_path, monkeypatch, fmt, to_file):
    from pathlib import Path

    from typer.testing import CliRunner

    from cnngrad.cli import app
    from cnngrad.cli import output as output_module
    from cnngrad.network import run
    from cnngrad.problem import load_problem
    from cnngrad.render import render_text

    sample = str(Path(__file__).resolve().parent.parent / "samples" / "multichannel.json")
    monkeypatch.setattr(output_module, "STREAM_BLOCK", 50)  # many blocks
    monkeypatch.setattr(json_result, "BLOCK_ELEMENTS", 3)
    trace = run(load_problem(sample))
    expected = (json_result.render_json(trace) if fmt == "json"
                else render_text(fmt, trace, 6))
    args = ["backward", sample, "--format", fmt]
    if to_file:
        args += ["-o", str(tmp_path / "out.txt")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = (tmp_path / "out.txt").read_text(encoding="utf-8") if to_file else result.stdout
    assert written == expected


# ---------------------------------------------------------------------------------------
# relu: torch's numbers, signed zeros and NaN included


SPECIAL = [0.0, -0.0, 1.5, -1.5, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_cuts_to_positive_zero_as_torch_does(dtype):
    from cnngrad.layers.activations import relu_backward, relu_forward

    x = np.array(SPECIAL, dtype)
    # y = x where x ≥ 0 (−0 and NaN as they are), +0 below; dE/dx = δ where x > 0 (and NaN),
    # +0 where x ≤ 0, whatever δ is
    expected_y = np.array([0.0, -0.0, 1.5, 0.0, np.inf, 0.0, np.nan, 1e-45, 0.0, 3e38], dtype)
    delta = np.array([-1.0, -2.0, -3.0, -4.0, -5.0, -np.inf, 7.0, -8.0, -9.0, np.nan], dtype)
    expected_dx = np.array([0.0, 0.0, -3.0, 0.0, -5.0, 0.0, 7.0, -8.0, 0.0, np.nan], dtype)
    for got, expected in ((relu_forward(x), expected_y), (relu_backward(x, delta), expected_dx)):
        assert got.dtype == dtype
        assert got.tobytes() == expected.tobytes()  # bit for bit: +0 is not −0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_is_torch_bit_for_bit(dtype):
    torch = pytest.importorskip("torch")
    from cnngrad.layers.activations import relu_backward, relu_forward

    x, delta = np.meshgrid(np.array(SPECIAL, dtype), np.array(SPECIAL, dtype))
    tx = torch.tensor(x, requires_grad=True)
    y = torch.relu(tx)
    y.backward(torch.tensor(delta))
    assert relu_forward(x).tobytes() == y.detach().numpy().tobytes()
    assert relu_backward(x, delta).tobytes() == tx.grad.numpy().tobytes()


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", ">f8"])
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 5, 4)])
@pytest.mark.parametrize("strided", [False, True])
def test_relu_by_bit_mask_is_its_naive_twin(dtype, shape, strided):
    from cnngrad.layers.activations import (relu_backward, relu_backward_naive, relu_forward,
                                            relu_forward_naive)

    rng = np.random.default_rng(len(shape))

    def draw():
        values = rng.choice(np.array(SPECIAL), size=(*shape[:-1], 2 * shape[-1]) if shape
                            else ()) * rng.choice([1.0, -1.0])
        with np.errstate(over="ignore"):  # 3e38 is inf in float16
            values = values.astype(dtype)
        return values[..., ::2] if strided and shape else values[..., :shape[-1]] if shape \
            else values
    x, delta = draw(), draw()
    for got, expected in ((relu_forward(x), relu_forward_naive(x)),
                          (relu_backward(x, delta), relu_backward_naive(x, delta))):
        assert (got.shape, got.dtype) == (expected.shape, expected.dtype)
        assert got.tobytes() == expected.tobytes()  # bit for bit: +0 is not −0


def test_relu_by_mask_stays_exact_on_fractions():
    from fractions import Fraction

    from cnngrad.layers.activations import relu_backward, relu_forward

    x = np.array([Fraction(-1, 3), Fraction(0), Fraction(2, 7)], dtype=object)
    delta = np.array([Fraction(5, 2), Fraction(-1, 9), Fraction(3, 4)], dtype=object)
    forward, backward = relu_forward(x), relu_backward(x, delta)
    assert list(forward) == [0, 0, Fraction(2, 7)]
    assert list(backward) == [0, 0, Fraction(3, 4)]
    assert all(isinstance(v, (Fraction, int)) and not isinstance(v, bool)
               for v in [*forward, *backward])
