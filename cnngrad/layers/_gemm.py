"""Matrix products that add into their output: C = A·B + C in one BLAS call.

numpy's ``matmul`` writes a product into an array; a sum of products (a convolution's taps,
each one product) then costs a separate pass per term, ``out += tmp``, over an output the
size of the product.  The BLAS's own ``gemm`` takes a ``beta``: with beta = 1 it adds the
product into C as it writes it.  On a 64×56×56 image with 64 filters (nine 64×64 by
64×3248 products) the nine products and eight adds took 1.90 ms in float32 and 4.38 ms in
float64 on one core; the same nine products added in by gemm 1.41 and 3.11 ms, the same
numbers to the bit.

The BLAS comes from ``scipy-openblas32``, the OpenBLAS build that numpy and scipy's own wheels
are made with, whose C interface is OpenBLAS's CBLAS with its symbols prefixed ``scipy_``
(the package's documented ``BLAS_SYMBOL_PREFIX``).  cnngrad loads it from the package's
library folder (:data:`_LIB_FOLDER`, else its public ``get_lib_dir``), holds it to one thread (cnngrad's kernels call it from their own
threads, one per core) and calls it with ``ctypes``, which lets go of the interpreter lock
for the call.  Without the package, or where a view's layout is not one the BLAS takes,
:func:`gemm` says so and the caller takes numpy's product and add, with the same results.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: The 32-bit-integer BLAS: every size and leading dimension below this.
_INT_MAX = 2**31 - 1
#: float32 and float64 only; the function names are the CBLAS ones with the prefix
_FUNCTIONS = {np.dtype(np.float32): ("scipy_cblas_sgemm", ctypes.c_float),
              np.dtype(np.float64): ("scipy_cblas_dgemm", ctypes.c_double)}


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


@functools.cache
def _library() -> dict | None:
    """{dtype: the gemm function} from scipy-openblas32, held to one thread; None when the
    package or its library cannot be loaded."""
    try:
        path = _library_path()
        if path is None:
            return None
        lib = ctypes.CDLL(path)
        lib.scipy_openblas_set_num_threads(1)
        functions = {}
        for dtype, (name, scalar) in _FUNCTIONS.items():
            function = getattr(lib, name)
            function.restype = None
            function.argtypes = ([ctypes.c_int] * 6 + [scalar, ctypes.c_void_p, ctypes.c_int,
                                 ctypes.c_void_p, ctypes.c_int, scalar, ctypes.c_void_p,
                                 ctypes.c_int])
            functions[dtype] = function
    except (ImportError, OSError, AttributeError):  # a build without these names or files
        return None
    return functions


def available() -> bool:
    """Whether :func:`gemm` can run (scipy-openblas32 loads)."""
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
    functions = _library()
    function = functions.get(out.dtype) if functions is not None else None
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
