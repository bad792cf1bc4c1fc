"""Matrix products that add into their output: C = A·B + C in one BLAS call.

numpy's ``matmul`` writes a product into an array; a sum of products (a convolution's taps,
each one product) then costs a separate pass per term, ``out += tmp``, over an output the
size of the product.  The BLAS's own ``gemm`` takes a ``beta``: with beta = 1 it adds the
product into C as it writes it.  On a 64×56×56 image with 64 filters (nine 64×64 by
64×3248 products) the nine products and eight adds took 1.90 ms in float32 and 4.38 ms in
float64 on one core; the same nine products added in by gemm 1.41 and 3.11 ms, the same
numbers to the bit.

Which BLAS (the environment variable ``CNNGRAD_BLAS``, any case, spaces around it ignored;
:data:`CHOICES`), loaded once, at the first product big enough to use it (the command line
checks the value at its start, :func:`check_choice`):

- ``auto`` (the default): Intel's MKL where the ``mkl`` package is installed (``pip install
  'cnngrad[mkl]'``), else scipy-openblas32, else (neither loads) numpy's products.  MKL ran these products faster on the 2-core
  AVX-512 machine measured, one thread each: the kernel gradient's (64·3 by 3248) by (3248
  by 64) 149 GFLOP/s in float32 against OpenBLAS's 114, 78 against 53 in float64; the
  forward pass's 64×64 by 64×3248 156 against 128, and 78 against 62.
- ``openblas``: scipy-openblas32, the OpenBLAS build that numpy and scipy's own wheels are
  made with, whose C interface is OpenBLAS's CBLAS with its symbols prefixed ``scipy_`` (the
  package's documented ``BLAS_SYMBOL_PREFIX``), found in the package's library folder
  (:data:`_LIB_FOLDER`, else its public ``get_lib_dir``).
- ``mkl``: MKL, an error without it.
- ``numpy``: no BLAS of cnngrad's own; every product by numpy's ``matmul`` and a separate
  add (numpy's BLAS, whatever it is).

Either BLAS is held to one thread (cnngrad's kernels call it from their own threads, one per
core) and called with ``ctypes``, which lets go of the interpreter lock for the call.  Where
a view's layout is not one the BLAS takes, :func:`gemm` says so and the caller takes numpy's
product and add.  Two BLAS libraries add a product's terms in their own order: their results
may differ in the last bits (MKL's and OpenBLAS's conv gradients agree to about 1e-15 of
their size in float64, 1e-6 in float32).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import re
import site
import sys
import threading
from dataclasses import dataclass

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: The 32-bit-integer BLAS: every size and leading dimension below this.
_INT_MAX = 2**31 - 1

#: The environment variable that picks the BLAS, and the values it takes (the first, the
#: default, when unset or empty).
ENVIRONMENT = "CNNGRAD_BLAS"
CHOICES = ("auto", "mkl", "openblas", "numpy")

#: float32 and float64 only: each library's CBLAS gemm names
_OPENBLAS_FUNCTIONS = ("scipy_cblas_sgemm", "scipy_cblas_dgemm")
_MKL_FUNCTIONS = ("cblas_sgemm", "cblas_dgemm")
#: MKL's threading layer that runs every call on the calling thread
_MKL_THREADING_SEQUENTIAL = 1


@dataclass(frozen=True)
class Blas:
    """The BLAS :func:`gemm` calls."""

    kind: str  # "openblas" or "mkl", as CNNGRAD_BLAS names it
    name: str  # "OpenBLAS 0.3.34", "MKL 2026.2", as the library gives it
    functions: dict  # dtype -> its CBLAS gemm, arguments typed
    #: whether a product into a fresh output (beta = 0) is worth a call too: OpenBLAS's gemm
    #: clears C in a pass of its own first (0.90–0.97 of the time by numpy's matmul, one
    #: 64×64 by 64×3248 product), MKL's does not (156 against numpy's 128 GFLOP/s, float32)
    writes_fresh: bool


#: The package's library folder, as its ``get_lib_dir()`` gives it: found without importing
#: the package, whose import (``importlib.metadata``, for its version) cost 13–23 ms against
#: 1 ms for loading the library itself.  Where it is not there, the package is asked.
_LIB_FOLDER = "lib"


def _library_file(lib_dir: str) -> str | None:
    names = sorted(name for name in os.listdir(lib_dir)
                   if name.startswith("libscipy_openblas")
                   and name.endswith((".so", ".dylib", ".dll")))
    return os.path.join(lib_dir, names[0]) if names else None


def _library_path() -> str | None:
    """The OpenBLAS library file of scipy-openblas32, or None without the package."""
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or []:
        lib_dir = os.path.join(folder, _LIB_FOLDER)
        if os.path.isdir(lib_dir) and (path := _library_file(lib_dir)) is not None:
            return path
    import scipy_openblas32  # another layout: the package's own answer

    return _library_file(scipy_openblas32.get_lib_dir())


def _mkl_folders() -> list[str]:
    """Where the ``mkl`` package puts its libraries: the data folder (``<prefix>/lib``,
    ``<prefix>\\Library\\bin`` on Windows) of the environment, of a ``pip install --user``,
    and of every folder of packages Python reads: a venv made with
    ``--system-site-packages`` reads its base's, and Debian's Python reads
    ``/usr/local/lib/python3.11/dist-packages``, whose data folder is ``/usr/local/lib``, not
    ``sys.prefix``'s.  The package has no Python module to ask, and ``importlib.metadata``
    would cost 13–23 ms of every run without it."""
    bases = [sys.prefix, site.USER_BASE]
    for folder in sys.path:
        folder = os.path.normpath(folder) if folder else ""
        if os.path.basename(folder) in ("site-packages", "dist-packages"):
            # <prefix>/lib/pythonX.Y/site-packages, or <prefix>\Lib\site-packages on Windows
            parent = os.path.dirname(folder)
            lib = parent if os.path.basename(parent).lower() == "lib" else os.path.dirname(parent)
            bases.append(os.path.dirname(lib))
    folders = []
    for base in dict.fromkeys(base for base in bases if base):
        folders += [os.path.join(base, "lib"), os.path.join(base, "Library", "bin")]
    return folders


def _mkl_file(folder: str) -> str | None:
    """The newest ``libmkl_rt.so.N`` (``mkl_rt.N.dll``, ``libmkl_rt.N.dylib``) in a folder."""
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    found = [name for name in names if name.startswith(("libmkl_rt.", "mkl_rt."))
             and (".so" in name or name.endswith((".dll", ".dylib")))]
    if not found:
        return None
    # by version number, not by text: libmkl_rt.so.10 after libmkl_rt.so.3
    return os.path.join(folder, max(found, key=lambda name: [
        int(part) for part in re.findall(r"\d+", name)]))


def _mkl_path() -> str | None:
    """MKL's single dynamic library, or None where the ``mkl`` package is not installed."""
    for folder in _mkl_folders():
        if (path := _mkl_file(folder)) is not None:
            return path
    return None


def _typed(lib: ctypes.CDLL, names: tuple[str, str]) -> dict:
    functions = {}
    for dtype, name, scalar in zip((np.dtype(np.float32), np.dtype(np.float64)), names,
                                   (ctypes.c_float, ctypes.c_double)):
        function = getattr(lib, name)
        function.restype = None
        function.argtypes = ([ctypes.c_int] * 6 + [scalar, ctypes.c_void_p, ctypes.c_int,
                             ctypes.c_void_p, ctypes.c_int, scalar, ctypes.c_void_p,
                             ctypes.c_int])
        functions[dtype] = function
    return functions


def _openblas() -> Blas | None:
    path = _library_path()
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    lib.scipy_openblas_set_num_threads(1)
    return Blas("openblas", _openblas_name(lib), _typed(lib, _OPENBLAS_FUNCTIONS),
                writes_fresh=False)


def _openblas_name(lib: ctypes.CDLL) -> str:
    """"OpenBLAS 0.3.34.481.3", the first words of the library's configuration line."""
    try:
        get_config = lib.scipy_openblas_get_config
    except AttributeError:  # a build without it computes all the same
        return "OpenBLAS"
    get_config.restype = ctypes.c_char_p
    words = (get_config() or b"").decode(errors="replace").split()
    return " ".join(words[:2]) if len(words) >= 2 else "OpenBLAS"


def _mkl() -> Blas | None:
    path = _mkl_path()
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    # before any other call; where MKL was loaded already with threads (numpy built on it),
    # the kernels' threadpoolctl limits hold it to one thread on theirs
    lib.MKL_Set_Threading_Layer(_MKL_THREADING_SEQUENTIAL)
    text = ctypes.create_string_buffer(256)
    lib.MKL_Get_Version_String(text, len(text))
    # "Intel(R) oneAPI Math Kernel Library Version 2026.2-Product Build ..."
    words = text.value.decode(errors="replace").split()
    version = next((words[k + 1].split("-")[0] for k, word in enumerate(words[:-1])
                    if word == "Version"), "")
    return Blas("mkl", f"MKL {version}".strip(), _typed(lib, _MKL_FUNCTIONS), writes_fresh=True)


def choice() -> str:
    """``CNNGRAD_BLAS``'s value, checked against :data:`CHOICES` (unset or empty: auto)."""
    value = os.environ.get(ENVIRONMENT, "").strip().lower() or CHOICES[0]
    if value not in CHOICES:
        from cnngrad.errors import SettingError, did_you_mean

        raise SettingError(f"unknown BLAS {value[:40]!r}", where=f"environment variable "
                         f"{ENVIRONMENT}", hint=did_you_mean(value, CHOICES))
    return value


def _not_there(wanted: str):
    """The error for a BLAS asked for by name that cannot be found or loaded."""
    from cnngrad.errors import SettingError

    package = {"mkl": "pip install 'cnngrad[mkl]'", "openblas": "pip install "
               "scipy-openblas32"}[wanted]
    return SettingError(f"{wanted} is asked for but cannot be loaded",
                      where=f"environment variable {ENVIRONMENT}",
                      hint=f"install it ({package}) or unset {ENVIRONMENT}")


def check_choice() -> str:
    """:func:`choice`, and for a BLAS asked for by name whether its library is there, found
    but not loaded (the command line asks at its start, so that a misspelt or missing BLAS
    is told on a small problem too; loading waits for the first product big enough)."""
    wanted = choice()
    if (wanted == "mkl" and _mkl_path() is None
            or wanted == "openblas" and importlib.util.find_spec("scipy_openblas32") is None):
        raise _not_there(wanted)
    return wanted


@functools.cache
def _loaded() -> Blas | None:
    wanted = choice()
    loaders = {"auto": (_mkl, _openblas), "mkl": (_mkl,), "openblas": (_openblas,),
               "numpy": ()}[wanted]
    for load in loaders:
        try:
            blas = load()
        except (ImportError, OSError, AttributeError):  # a build without these names or files
            blas = None
        if blas is not None:
            return blas
    if wanted in ("mkl", "openblas"):
        raise _not_there(wanted)
    return None  # numpy, or auto with neither library: numpy's products


#: The kernels' threads ask for the BLAS at once on a first big call: one of them loads it
#: (and sets MKL's threading layer before any product), the others wait for it.
_LOADING = threading.Lock()


def _library() -> Blas | None:
    """The BLAS :data:`ENVIRONMENT` picks, held to one thread, loaded once; None for
    ``numpy`` and when no BLAS loads."""
    with _LOADING:
        return _loaded()


_library.cache_clear = _loaded.cache_clear  # the tests pick another BLAS in one process


def writes_fresh() -> bool:
    """Whether a product into a fresh output is taken by :func:`gemm` too (MKL), not only
    the products added into a sum (:attr:`Blas.writes_fresh`)."""
    blas = _library()
    return blas is not None and blas.writes_fresh


def kind() -> str:
    """The BLAS :func:`gemm` calls, as ``CNNGRAD_BLAS`` names it: ``mkl``, ``openblas``, or
    ``numpy`` for none."""
    blas = _library()
    return "numpy" if blas is None else blas.kind


def name() -> str:
    """The BLAS :func:`gemm` calls, as the library names itself; ``numpy`` for none."""
    blas = _library()
    return "numpy" if blas is None else blas.name


def available() -> bool:
    """Whether :func:`gemm` can run: a BLAS loads, and ``CNNGRAD_BLAS`` is not ``numpy``."""
    return _library() is not None


def _operand(matrix: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2-D view for a row-major CBLAS call, or None
    when neither its rows nor its columns are one unit-stride run."""
    rows, cols = matrix.shape
    size = matrix.itemsize
    row_stride, col_stride = matrix.strides
    if row_stride % size or col_stride % size:
        return None
    if col_stride == size or cols == 1:
        lead = row_stride // size if rows > 1 else cols
        if cols <= lead <= _INT_MAX:
            return _NO_TRANS, lead
    if row_stride == size or rows == 1:
        lead = col_stride // size if cols > 1 else rows
        if rows <= lead <= _INT_MAX:
            return _TRANS, lead
    return None


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool) -> bool:
    """``out = a @ b``, or ``out += a @ b`` when ``accumulate``, by one BLAS call.

    Parameters
    ----------
    a : ndarray, shape (M, K)
    b : ndarray, shape (K, N)
        Views whose rows or columns are unit-stride runs (a transposed view is read as
        such); the same dtype as ``out``.
    out : ndarray, shape (M, N)
        Rows of unit stride, written in place; writeable, and apart from ``a`` and ``b``.
    accumulate : bool
        Add the product to what ``out`` holds (beta = 1) instead of overwriting it.

    Returns
    -------
    bool
        False, with ``out`` untouched, when the BLAS is not there, the dtype is not float32 or
        float64, a layout is not one it takes, ``out`` is read-only or may share memory with
        ``a`` or ``b``: the caller computes it with numpy.
    """
    blas = _library()
    function = blas.functions.get(out.dtype) if blas is not None else None
    if function is None or a.dtype != out.dtype or b.dtype != out.dtype:
        return False
    (m, k), (k2, n) = a.shape, b.shape
    if k2 != k or out.shape != (m, n) or max(m, n, k) > _INT_MAX or 0 in (m, n, k):
        return False
    # numpy's checks the BLAS would skip: a read-only out (it would write into it anyway) and
    # an out whose memory may hold a or b (their values would change under the product)
    if not out.flags.writeable or np.may_share_memory(out, a) or np.may_share_memory(out, b):
        return False
    a_layout, b_layout, c_layout = _operand(a), _operand(b), _operand(out)
    if a_layout is None or b_layout is None or c_layout is None or c_layout[0] != _NO_TRANS:
        return False
    function(_ROW_MAJOR, a_layout[0], b_layout[0], m, n, k, 1.0, a.ctypes.data, a_layout[1],
             b.ctypes.data, b_layout[1], 1.0 if accumulate else 0.0, out.ctypes.data,
             c_layout[1])
    return True


def gemm_naive(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool) -> bool:
    """The plain-loop twin of :func:`gemm`, for the tests."""
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            total = sum(a[i, p] * b[p, j] for p in range(a.shape[1]))
            out[i, j] = out[i, j] + total if accumulate else total
    return True
