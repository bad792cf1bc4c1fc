"""Tests of the BLAS products that add into their output (cnngrad.layers._gemm)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.errors import UsageError
from cnngrad.layers import _gemm, conv
from cnngrad.layers._gemm import gemm, gemm_naive

#: GEMM_MIN_MACS with no floors: every sum of products added by the BLAS, whichever it is
NO_FLOORS = {kind: {4: 0, 8: 0} for kind in conv.GEMM_MIN_MACS}


def _mkl_loads() -> bool:
    try:
        return _gemm._mkl() is not None
    except OSError:
        return False


MKL = pytest.param("mkl", marks=pytest.mark.skipif(
    not _mkl_loads(), reason="MKL is not installed (pip install 'cnngrad[mkl]')"))


@pytest.fixture
def fresh_blas(monkeypatch):
    """The BLAS picked anew from what the test sets (CNNGRAD_BLAS, the libraries found),
    and anew after it, from the environment restored."""
    _gemm._library.cache_clear()
    yield
    monkeypatch.undo()
    _gemm._library.cache_clear()


@pytest.fixture(params=["openblas", MKL])
def blas(request, monkeypatch, fresh_blas):
    """Each BLAS cnngrad can call, picked as a user would, by CNNGRAD_BLAS."""
    monkeypatch.setenv(_gemm.ENVIRONMENT, request.param)
    return request.param


def test_the_blas_is_there():
    # scipy-openblas32 is a dependency: the big convolutions' sums are added by it
    assert _gemm.available()


@pytest.mark.parametrize("value, expected", [("openblas", "OpenBLAS "), ("OpenBLAS", "OpenBLAS "),
                                             (" numpy ", "numpy"), ("", None)])
def test_the_environment_variable_picks_the_blas_by_name(monkeypatch, fresh_blas, value,
                                                         expected):
    monkeypatch.setenv(_gemm.ENVIRONMENT, value)
    # unset or empty: auto, MKL where it loads, else OpenBLAS
    expected = expected or ("MKL " if _mkl_loads() else "OpenBLAS ")
    assert _gemm.name().startswith(expected)
    assert _gemm.available() == (expected != "numpy")
    assert _gemm.writes_fresh() == (expected == "MKL ")
    assert _gemm.kind() == {"MKL ": "mkl", "OpenBLAS ": "openblas"}.get(expected, "numpy")


def test_an_unknown_blas_is_refused_with_the_allowed_names(monkeypatch, fresh_blas):
    monkeypatch.setenv(_gemm.ENVIRONMENT, "mlk")
    with pytest.raises(UsageError) as caught:
        _gemm.available()
    assert caught.value.message() == "environment variable CNNGRAD_BLAS: unknown BLAS 'mlk'"
    assert caught.value.hint == "did you mean 'mkl'? (allowed: auto, mkl, numpy, openblas)"


@pytest.mark.parametrize("value, words", [("mlk", "unknown BLAS 'mlk'"),
                                          ("mkl", "mkl is asked for but cannot be loaded")])
def test_a_library_call_under_a_wrong_blas_setting_raises_value_error(monkeypatch, fresh_blas,
                                                                      value, words):
    # a program calling the kernels catches ValueError, as docs/api.md says; the CLI still
    # reports it as a usage error (exit code 2)
    import cnngrad

    monkeypatch.setenv(_gemm.ENVIRONMENT, value)
    monkeypatch.setattr(_gemm, "_mkl_path", lambda: None)
    x = np.random.default_rng(0).standard_normal((8, 64, 56, 56))
    w = np.random.default_rng(1).standard_normal((64, 64, 3, 3))
    with pytest.raises(ValueError, match=words) as caught:
        cnngrad.conv2d_forward(x, w, padding=1)
    assert isinstance(caught.value, UsageError)


def test_mkl_asked_for_without_it_says_how_to_install_it(monkeypatch, fresh_blas):
    monkeypatch.setenv(_gemm.ENVIRONMENT, "mkl")
    monkeypatch.setattr(_gemm, "_mkl_path", lambda: None)
    with pytest.raises(UsageError) as caught:
        _gemm.gemm(np.ones((2, 2)), np.ones((2, 2)), np.zeros((2, 2)), accumulate=False)
    assert "mkl is asked for but cannot be loaded" in caught.value.message()
    assert "pip install 'cnngrad[mkl]'" in caught.value.hint


@pytest.mark.parametrize("names, expected", [
    (["libmkl_rt.so.2", "libmkl_rt.so.3", "libmkl_core.so.3"], "libmkl_rt.so.3"),
    (["libmkl_rt.so.3", "libmkl_rt.so.10", "libmkl_rt.so"], "libmkl_rt.so.10"),
    (["mkl_rt.2.dll", "mkl_core.2.dll"], "mkl_rt.2.dll"),
    (["libmkl_core.so.3", "libscipy_openblas.so"], None),
])
def test_mkls_library_is_its_newest_single_dynamic_library(tmp_path, names, expected):
    for name in names:
        (tmp_path / name).write_bytes(b"")
    found = _gemm._mkl_file(str(tmp_path))
    assert (found and os.path.basename(found)) == expected
    assert _gemm._mkl_file(str(tmp_path / "no-such-folder")) is None


@pytest.mark.parametrize("packages, seen", [
    # a venv made with --system-site-packages reads its base's packages
    (os.path.join("base", "lib", "python3.11", "site-packages"), "base"),
    # Debian's Python: pip puts packages and their data under /usr/local
    (os.path.join("usr", "local", "lib", "python3.11", "dist-packages"),
     os.path.join("usr", "local")),
    (os.path.join("usr", "lib", "python3", "dist-packages"), "usr"),
    # Windows: <prefix>\Lib\site-packages
    (os.path.join("Python311", "Lib", "site-packages"), "Python311"),
    (None, None),  # a venv of its own: only its packages
])
def test_mkl_is_looked_for_beside_every_folder_of_packages_python_reads(monkeypatch, packages,
                                                                        seen):
    venv = os.path.join(os.sep, "venv")
    paths = [os.path.join(os.sep, "base", "lib", "python3.11"),
             os.path.join(venv, "lib", "python3.11", "site-packages"), ""]
    if packages is not None:
        paths.append(os.path.join(os.sep, packages))
    monkeypatch.setattr(sys, "prefix", venv)
    monkeypatch.setattr(sys, "path", paths)
    monkeypatch.setattr(_gemm.site, "USER_BASE", None)
    folders = _gemm._mkl_folders()
    expected = [venv] + ([os.path.join(os.sep, seen)] if seen else [])
    assert folders == [os.path.join(base, *tail) for base in expected
                       for tail in (("lib",), ("Library", "bin"))]


def test_a_hand_computed_product_is_written_then_added(blas):
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[5.0, 6.0], [7.0, 8.0]])
    out = np.full((2, 2), np.nan)  # overwritten, never read
    assert gemm(a, b, out, accumulate=False)
    np.testing.assert_array_equal(out, [[19.0, 22.0], [43.0, 50.0]])
    assert gemm(a, b, out, accumulate=True)
    np.testing.assert_array_equal(out, [[38.0, 44.0], [86.0, 100.0]])


def _views(rng, m, k, n, dtype, a_form, b_form, out_form):
    """a (m, k), b (k, n) and out (m, n), each laid out as asked: 'c' contiguous, 't' the
    transpose of a contiguous array, 's' a window of wider rows (a shifted tap's view)."""
    def made(rows, cols, form):
        if form == "t":
            return rng.standard_normal((cols, rows)).astype(dtype).T
        if form == "s":
            return rng.standard_normal((rows, cols + 7)).astype(dtype)[:, 3:3 + cols]
        return rng.standard_normal((rows, cols)).astype(dtype)
    return made(m, k, a_form), made(k, n, b_form), made(m, n, out_form)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_form", ["c", "t", "s"])
@pytest.mark.parametrize("b_form", ["c", "t", "s"])
@pytest.mark.parametrize("out_form", ["c", "s"])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("m, k, n", [(3, 4, 5), (1, 6, 2), (4, 1, 3), (2, 3, 1)])
def test_gemm_matches_its_naive_twin(blas, dtype, a_form, b_form, out_form, accumulate, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a, b, out = _views(rng, m, k, n, dtype, a_form, b_form, out_form)
    expected = out.astype(np.float64)
    gemm_naive(a.astype(np.float64), b.astype(np.float64), expected, accumulate)
    assert gemm(a, b, out, accumulate)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", ["int", "mixed", "out_transposed", "strided_both",
                                  "shapes", "empty", "object", "read_only", "overlap"])
def test_gemm_declines_what_the_blas_cannot_take_and_leaves_out_untouched(blas, case):
    a, b, out = np.ones((3, 4)), np.ones((4, 5)), np.full((3, 5), 7.0)
    if case == "int":
        a, b, out = a.astype(int), b.astype(int), out.astype(int)
    elif case == "mixed":
        a = a.astype(np.float32)
    elif case == "out_transposed":
        out = np.full((5, 3), 7.0).T
    elif case == "strided_both":  # neither rows nor columns one unit-stride run
        a = np.ones((6, 8))[::2, ::2]
    elif case == "shapes":
        b = np.ones((3, 5))
    elif case == "empty":
        a, b, out = np.ones((3, 0)), np.ones((0, 5)), np.full((3, 5), 7.0)
    elif case == "read_only":  # the BLAS would write into it all the same
        out.flags.writeable = False
    elif case == "overlap":  # a's values would change under the product
        a = b = out = np.ones((5, 5))
    else:
        a, b, out = a.astype(object), b.astype(object), out.astype(object)
    before = out.copy()
    assert not gemm(a, b, out, accumulate=True)
    np.testing.assert_array_equal(out, before)


def test_the_library_is_found_without_importing_the_package_or_through_it(monkeypatch):
    # its folder first (the package's import costs 13–23 ms); another layout asks the package
    monkeypatch.setenv(_gemm.ENVIRONMENT, "openblas")
    path = _gemm._library_path()
    assert path is not None and os.path.isfile(path)
    assert os.path.basename(os.path.dirname(path)) == _gemm._LIB_FOLDER
    monkeypatch.setattr(_gemm, "_LIB_FOLDER", "no-such-folder")
    assert _gemm._library_path() == path
    _gemm._library.cache_clear()
    try:
        assert _gemm.available()
    finally:
        _gemm._library.cache_clear()


def test_without_the_package_gemm_declines(monkeypatch):
    # the fallback: no scipy-openblas32 and the caller computes by numpy
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def no_blas(name, *args, **kwargs):
        return None if name == "scipy_openblas32" else real_find_spec(name, *args, **kwargs)

    _gemm._library.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", no_blas)
    monkeypatch.setattr(_gemm, "_mkl_path", lambda: None)  # nor MKL
    try:
        assert not _gemm.available()
        assert _gemm.name() == "numpy"
        out = np.zeros((2, 2))
        assert not gemm(np.ones((2, 2)), np.ones((2, 2)), out, accumulate=False)
        # and a convolution big enough for the BLAS's adds computes by numpy's
        monkeypatch.setattr(conv, "GEMM_MIN_MACS", NO_FLOORS)
        monkeypatch.setattr(conv, "SMALL_MAX_CELLS", 0)
        rng = np.random.default_rng(3)
        x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((4, 4, 3, 3))
        np.testing.assert_allclose(conv.conv2d_forward(x, w, None, 1, 1),
                                   conv.conv2d_forward_naive(x, w, None, 1, 1), atol=1e-13)
    finally:
        monkeypatch.undo()
        _gemm._library.cache_clear()
    assert _gemm.available()


def _counted_blas_adds(monkeypatch) -> list[bool]:
    """Every sum of products added by the BLAS, whatever its size; each call's
    ``accumulate``, in order, in the list returned."""
    monkeypatch.setattr(conv, "GEMM_MIN_MACS", NO_FLOORS)
    calls = []

    def counted(a, b, out, accumulate):
        calls.append(accumulate)
        return gemm(a, b, out, accumulate)

    monkeypatch.setattr(conv, "gemm", counted)
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_blas_adds_give_numpys_numbers_on_a_big_convolution(monkeypatch, blas, dtype):
    # each product added into the sum by the BLAS (with MKL the first written by it too),
    # against numpy's product then add: the same sums in the same order (equal to the bit with
    # OpenBLAS on the machine measured; two builds or two libraries may pick other kernels, so
    # a last-bit margin)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 64, 30, 30)).astype(dtype)
    w = rng.standard_normal((64, 64, 3, 3)).astype(dtype)
    delta = rng.standard_normal((2, 64, 30, 30)).astype(dtype)
    calls = _counted_blas_adds(monkeypatch)
    added = [conv.conv2d_forward(x, w, None, 1, 1), *conv.conv2d_backward(x, w, delta, 1, 1)]
    # the sums were the BLAS's; MKL wrote each sum's first product too, OpenBLAS left it to numpy
    assert True in calls and (False in calls) == (blas == "mkl")
    monkeypatch.setattr(conv, "gemm_available", lambda: False)
    numpys = [conv.conv2d_forward(x, w, None, 1, 1), *conv.conv2d_backward(x, w, delta, 1, 1)]
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for one, other in zip(added, numpys):
        np.testing.assert_allclose(one, other, rtol=0, atol=tol * np.abs(other).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_bias_per_filter_starts_the_sums_the_blas_adds_to(monkeypatch, blas, dtype):
    # the forward pass's sums filled with the bias, every product then added in by the BLAS
    # (no first product by numpy, no add of the bias on the way out): numpy's numbers
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 64, 30, 30)).astype(dtype)
    w = rng.standard_normal((64, 64, 3, 3)).astype(dtype)
    bias = rng.standard_normal(64).astype(dtype)
    calls = _counted_blas_adds(monkeypatch)
    conv.conv2d_forward(x, w, None, 1, 1)
    unbiased, calls[:] = len(calls), []
    added = conv.conv2d_forward(x, w, bias, 1, 1)
    assert calls and all(calls)
    # a product per tap, nine a sum: without a bias OpenBLAS's sums leave their first to numpy
    assert len(calls) * (9 if blas == "mkl" else 8) == unbiased * 9
    monkeypatch.setattr(conv, "gemm_available", lambda: False)
    numpys = conv.conv2d_forward(x, w, bias, 1, 1)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(added, numpys, rtol=0, atol=tol * np.abs(numpys).max())


@pytest.mark.parametrize("config, expected", [
    (b"OpenBLAS 0.3.34.481.3 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64",
     "OpenBLAS 0.3.34.481.3"),
    (b"", "OpenBLAS"),
    (None, "OpenBLAS"),
])
def test_openblas_is_named_by_its_configuration_line(config, expected):
    class Library:  # stands in for the loaded library's ctypes handle
        pass

    library = Library()
    if config is not None:
        library.scipy_openblas_get_config = lambda: config
    assert _gemm._openblas_name(library) == expected


def _big_conv_problem(folder) -> None:
    # 32 channels of 32×32 through 32 3×3 filters: each product of its sums has 3 M
    # multiply-adds, past GEMM_MIN_MACS, so the BLAS is asked for
    rng = np.random.default_rng(5)
    np.save(folder / "x.npy", rng.standard_normal((32, 32, 32)))
    np.save(folder / "w.npy", rng.standard_normal((32, 32, 3, 3)))
    np.save(folder / "d.npy", rng.standard_normal((32, 32, 32)))
    (folder / "p.json").write_text(json.dumps({
        "input": {"npy": "x.npy"}, "kernel": {"npy": "w.npy"}, "padding": 1,
        "delta": {"npy": "d.npy"}}), encoding="utf-8")


def test_the_command_line_refuses_an_unknown_blas_in_one_line(tmp_path, monkeypatch,
                                                              fresh_blas):
    _big_conv_problem(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["backward", "p.json", "--format", "json"],
                                env={_gemm.ENVIRONMENT: "openblass"})
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == ("error: environment variable CNNGRAD_BLAS: unknown BLAS "
                             "'openblass'; hint: did you mean 'openblas'? (allowed: auto, mkl, "
                             "numpy, openblas)\n")


@pytest.mark.parametrize("choice", ["openblas", MKL])
def test_every_blas_gives_numpys_gradients_from_the_command_line(tmp_path, monkeypatch,
                                                                fresh_blas, choice):
    _big_conv_problem(tmp_path)
    monkeypatch.chdir(tmp_path)
    calls = []

    def counted(a, b, out, accumulate):
        done = gemm(a, b, out, accumulate)
        calls.append(done)
        return done

    monkeypatch.setattr(conv, "gemm", counted)
    layers = {}
    for blas in (choice, "numpy"):
        _gemm._library.cache_clear()  # each run picks its own
        result = CliRunner().invoke(app, ["backward", "p.json", "--format", "json"],
                                    env={_gemm.ENVIRONMENT: blas})
        assert result.exit_code == 0, result.output
        layers[blas] = json.loads(result.stdout)["layers"][0]
        # the chosen BLAS took the sums' products; with numpy none was asked for
        assert (blas == "numpy") == (not calls) and all(calls)
        calls.clear()
    for picked in (lambda layer: layer["delta_in"], lambda layer: layer["grads"]["kernel"]):
        ours, numpys = np.array(picked(layers[choice])), np.array(picked(layers["numpy"]))
        np.testing.assert_allclose(ours, numpys, rtol=0, atol=1e-13 * np.abs(numpys).max())


@pytest.mark.parametrize("kind, dtype, macs, added", [
    ("openblas", np.float32, 5 * 2**20, True),   # one image's half: 6.6 M a product
    ("openblas", np.float32, 3 * 2**20, False),
    ("openblas", np.float64, 2**20, True),
    ("mkl", np.float32, 2**20, True),
    ("mkl", np.float32, 2**20 - 1, False),
    ("mkl", np.float64, 2**20, True),
    ("numpy", np.float64, 2**40, False),
    ("openblas", np.float16, 2**40, False),    # no BLAS for float16
])
def test_sums_are_added_by_the_blas_from_its_own_floor(monkeypatch, kind, dtype, macs, added):
    monkeypatch.setattr(conv, "gemm_kind", lambda: kind)
    monkeypatch.setattr(conv, "gemm_available", lambda: kind != "numpy")
    assert conv._blas_adds(np.dtype(dtype), macs) == added


def test_a_product_below_every_floor_does_not_load_the_blas(monkeypatch):
    # loading a BLAS costs about a millisecond: a small problem's conv never pays it
    loads = []
    monkeypatch.setattr(conv, "gemm_available", lambda: loads.append(1) or True)
    monkeypatch.setattr(conv, "gemm_kind", lambda: "openblas")
    assert not conv._blas_adds(np.dtype(np.float64), 2**20 - 1)
    assert not conv._blas_adds(np.dtype(np.float32), 2**20 - 1)
    assert not loads
    assert conv._blas_adds(np.dtype(np.float64), 2**20) and loads


@pytest.mark.parametrize("value, missing, expected", [
    ("mlk", False, "error: environment variable CNNGRAD_BLAS: unknown BLAS 'mlk'; hint: did you "
                   "mean 'mkl'? (allowed: auto, mkl, numpy, openblas)\n"),
    ("mkl", True, "error: environment variable CNNGRAD_BLAS: mkl is asked for but cannot be "
                  "loaded; hint: install it (pip install 'cnngrad[mkl]') or unset "
                  "CNNGRAD_BLAS\n"),
])
def test_a_bad_blas_is_told_at_the_start_even_on_a_small_problem(monkeypatch, value, missing,
                                                                  expected):
    # the worked example never reaches the BLAS: the value is checked before the work
    if missing:
        monkeypatch.setattr(_gemm, "_mkl_path", lambda: None)
    sample = os.path.join(os.path.dirname(__file__), "..", "samples", "stackexchange.json")
    result = CliRunner().invoke(app, ["backward", sample], env={_gemm.ENVIRONMENT: value})
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr == expected


def test_the_bench_names_a_bad_blas_in_one_line(monkeypatch, capsys):
    from cnngrad.cli.bench import bench

    monkeypatch.setenv(_gemm.ENVIRONMENT, "intel")
    assert bench(["--quick", "--case", "conv-tiny", "--reference", "naive"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("error: environment variable CNNGRAD_BLAS: unknown BLAS 'intel'; "
                            "hint: allowed: auto, mkl, numpy, openblas\n")


def test_threads_asking_at_once_load_the_blas_once(monkeypatch, fresh_blas):
    import threading
    import time

    loads = []
    real_openblas = _gemm._openblas

    def slow_openblas():
        loads.append(threading.get_ident())
        time.sleep(0.05)  # long enough for the other threads to ask meanwhile
        return real_openblas()

    monkeypatch.setenv(_gemm.ENVIRONMENT, "openblas")
    monkeypatch.setattr(_gemm, "_openblas", slow_openblas)
    names = []
    threads = [threading.Thread(target=lambda: names.append(_gemm.name())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len(names) == 4 and len(set(names)) == 1
