"""Big kernel results are advised off transparent huge pages (cnngrad.layers._common) where
the system leaves huge pages to advice ("madvise"), unless the process asked numpy for them
on purpose (NUMPY_MADVISE_HUGEPAGE=1); results that the kernels add into are zeroed chunk by
chunk and stay exact."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnngrad.layers import _common, batchnorm, conv, conv_transpose, pool
from cnngrad.layers._common import (ORDINARY_PAGES_MIN_BYTES, _numpy_huge_pages_asked,
                                    empty_result, huge_page_mode, on_ordinary_pages,
                                    ordinary_pages_declined)

ROOT = Path(__file__).resolve().parent.parent

madvise_mode = pytest.mark.skipif(
    not (Path("/proc/self/smaps").exists() and huge_page_mode() == "madvise"
         and hasattr(mmap, "MADV_NOHUGEPAGE")),
    reason="transparent huge pages left to advice ('madvise') and /proc/self/smaps: Linux's")
advised = pytest.mark.skipif(ordinary_pages_declined() is not None,
                             reason=f"not advised here: {ordinary_pages_declined()}")


def vm_flags(array: np.ndarray) -> set[str]:
    """The VmFlags of the mapping holding the array's last byte (the whole pages the advice
    covers end there; a small array's page may be shared, a big one's mapping is its own)."""
    address = array.ctypes.data + array.nbytes - 1
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            low, high = (int(v, 16) for v in head.split("-"))
            inside = low <= address < high
        elif inside and head == "VmFlags:":
            return set(line.split()[1:])
    raise AssertionError(f"no mapping holds {address:#x}")


@madvise_mode
@advised
def test_a_big_array_is_advised_off_huge_pages():
    array = np.empty(ORDINARY_PAGES_MIN_BYTES // 8)
    assert on_ordinary_pages(array) is array
    flags = vm_flags(array)
    assert "nh" in flags and "hg" not in flags


def test_only_big_arrays_are_advised(monkeypatch):
    calls = []
    monkeypatch.setattr(_common, "_ordinary_pages_advice",
                        lambda: (lambda start, length: calls.append((start, length)), ""))
    for array in (np.empty(ORDINARY_PAGES_MIN_BYTES // 8 - 1), np.empty(0),
                  np.empty(ORDINARY_PAGES_MIN_BYTES // 8, dtype=object)):
        assert on_ordinary_pages(array) is array
    assert calls == []
    big = empty_result((ORDINARY_PAGES_MIN_BYTES // 4,), np.float32)
    assert big.dtype == np.float32 and len(calls) == 1
    (start, length), page = calls[0], mmap.PAGESIZE
    # whole pages, from the first page boundary in the array to its last byte
    assert start % page == 0 and 0 <= start - big.ctypes.data < page
    assert start + length == big.ctypes.data + big.nbytes


def test_huge_pages_asked_for_as_numpy_reads_the_variable():
    assert [_numpy_huge_pages_asked(v) for v in (None, "0", " 0", "1", "2", " 01 ", "x")] == [
        False, False, False, True, True, True, False]


def _big_operands():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 96, 96))  # 4.5 MiB, as every result below
    w = rng.standard_normal((16, 16, 3, 3))
    return rng, x, w


def _results():
    """name → the big results of one kernel call."""
    rng, x, w = _big_operands()
    delta = rng.standard_normal(x.shape)
    pooled = rng.standard_normal((4, 16, 48, 48))
    gamma, beta = rng.standard_normal(16), rng.standard_normal(16)
    yield "conv2d_forward", [conv.conv2d_forward(x, w, padding=1)]
    yield "conv2d_backward dx", [conv.conv2d_backward(x, w, delta, padding=1)[0]]
    yield "maxpool2d_backward 2×2/2", [pool.maxpool2d_backward(x, pooled, 2, 2)]
    yield "maxpool2d_backward 3×3/2 p1", [pool.maxpool2d_backward(x, pooled, 3, 2, 1)]
    yield "avgpool2d_backward 3×3/2 p1", [pool.avgpool2d_backward(x, pooled, 3, 2, 1)]
    yield "conv_transpose2d_forward", [conv_transpose.conv_transpose2d_forward(x, w, padding=1)]
    yield "batchnorm2d", [batchnorm.batchnorm2d_forward(x, gamma, beta),
                          batchnorm.batchnorm2d_backward(x, gamma, delta)[0]]


@madvise_mode
@advised
def test_the_kernels_big_results_are_on_ordinary_pages():
    for name, arrays in _results():
        for array in arrays:
            assert array.nbytes >= ORDINARY_PAGES_MIN_BYTES, name
            assert "nh" in vm_flags(array), name


@pytest.mark.parametrize("size, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 3, 0)])
def test_big_pool_results_equal_the_plain_loops_on_threads(monkeypatch, size, stride, padding):
    # past ORDINARY_PAGES_MIN_BYTES, on several threads: overlapping windows zero their
    # chunks before adding, disjoint ones (2×2/2, 2×2/3 with gaps) rely on np.zeros
    monkeypatch.setattr(pool, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(pool, "CHUNK_BYTES", 2**16)
    rng = np.random.default_rng(size * 10 + stride)
    x = rng.standard_normal((1, 64, 96, 96)).round(1)  # ties, 4.5 MiB
    h_out = (96 + 2 * padding - size) // stride + 1
    delta = rng.standard_normal((1, 64, h_out, h_out))
    # ties "split": overlapping max pools through the chunks too (PyTorch's rule on float
    # maps takes the phase planes, which zero their own chunks)
    kernels = [(pool.maxpool2d_backward, pool.maxpool2d_backward_naive, {}),
               (pool.maxpool2d_backward, pool.maxpool2d_backward_naive, {"ties": "split"}),
               (pool.avgpool2d_backward, pool.avgpool2d_backward_naive, {})]
    results = [backward(x, delta, size, stride, padding, **options)
               for backward, _, options in kernels]
    monkeypatch.undo()  # the same kernels one small map at a time: one chunk, one thread
    for (backward, naive, options), got in zip(kernels, results):
        assert got.nbytes >= ORDINARY_PAGES_MIN_BYTES
        pairs = slice(0, 2)  # the plain loops, on two maps
        np.testing.assert_allclose(got[:, pairs],
                                   naive(x[:, pairs], delta[:, pairs], size, stride, padding,
                                         **options), rtol=1e-12, atol=1e-15)
        for m in range(x.shape[1]):
            maps = slice(m, m + 1)
            np.testing.assert_allclose(got[:, maps], backward(x[:, maps], delta[:, maps], size,
                                                              stride, padding, **options),
                                       rtol=1e-15, atol=0)


_PROBE = """
import numpy as np
from cnngrad.layers._common import ORDINARY_PAGES_MIN_BYTES, on_ordinary_pages
array = on_ordinary_pages(np.empty(ORDINARY_PAGES_MIN_BYTES // 8))
address = array.ctypes.data + array.nbytes - 1
for line in open("/proc/self/smaps"):
    head = line.split()[0]
    if "-" in head and not head.endswith(":"):
        low, high = (int(v, 16) for v in head.split("-"))
        inside = low <= address < high
    elif inside and head == "VmFlags:":
        print("nh" in line.split())
"""


@madvise_mode
@pytest.mark.parametrize("setting, advised", [(None, "True"), ("0", "True"), ("1", "False"),
                                              (" 2 ", "False")])
def test_numpy_huge_pages_asked_for_are_kept(setting, advised):
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if setting is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = setting
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == advised
