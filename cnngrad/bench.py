"""The speed benchmark of the library kernels: ``python -m cnngrad.bench``.

Each case times cnngrad against a reference in one run, alternating the two after a warm-up,
and reports median times, the median of the per-pair ratios, the target ratio, GFLOP/s and
their share of a matrix-product peak measured in the same run, and the working memory; under
the table, the cases whose pairs fell on both sides of their target.

- Convolution: cnngrad's ``conv2d_forward`` then ``conv2d_backward`` (y, then dx, dw, db)
  against torch's ``conv2d`` with ``requires_grad`` on x, w, b and ``y.backward(delta)``.
- Pooling: cnngrad's backward pass straight from (x, delta) (it finds the maxima itself)
  against torch's forward + backward.

The reference is torch when it is installed (the ``bench`` extra: ``pip install
'cnngrad[bench]'``), with as many threads as this process has cores; numpy's BLAS keeps its own
thread pool, reported beside it.  Without torch the reference is the plain-loop ``_naive``
kernels, which are slow, so every case is scaled down and the targets do not apply.

Working memory is measured per case in a fresh subprocess: the peak of numpy's allocations
(numpy reports them to :mod:`tracemalloc`) and the growth of the peak resident set size, each
beyond the inputs and outputs, flagged above :data:`WORK_LIMIT_MIB`.

The command line end to end, in fresh processes: the medium problem written as JSON against a
torch script, gradcheck, explain, and start-up (the worked example as JSON and as a table
against ``python -c "import numpy"``, the bounds of :data:`START_UP_TARGETS`).

Not part of the tests' pass/fail: ``--quick`` (tiny sizes) is the smoke the tests run.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cnngrad.errors import BenchError
from cnngrad.layers._threads import cores

#: The working-memory budget beyond the inputs and outputs, whatever the batch size.
WORK_LIMIT_MIB = 64

DTYPES = ("float64", "float32")
REFERENCES = ("auto", "torch", "naive")

MIB = 2**20

#: Above this share of the CPUs busy with other work before the run, the times are flagged noisy.
BUSY_LIMIT = 0.10


# --------------------------------------------------------------------------------------
# the kinds of kernel: one table, one row per kind; nothing else in the bench asks a kind


@dataclass(frozen=True)
class Kind:
    """What the bench knows of one kind of kernel: a row of :data:`KINDS`.

    The base class is a kernel with parameters (w and b, or gamma and beta): cnngrad runs its
    forward then its backward pass, and torch differentiates its functional op with respect
    to x, w and b.  A subclass per kind gives the shapes and the label; the pools override the
    runs too.  Each method takes the :class:`Case` it is asked about.

    Attributes
    ----------
    name : str
        The kind as a :class:`Case` names it, and the first word of its label.
    module : str
        The module of :mod:`cnngrad.layers` holding the kernels.
    kernel : str
        The kernels' stem: ``{kernel}_forward`` and ``{kernel}_backward``, each with its
        plain-loop twin ``…_naive``.
    torch : str
        The op of ``torch.nn.functional`` it is timed against.
    """

    name: str
    module: str
    kernel: str
    torch: str

    def output_shape(self, case: Case) -> tuple[int, ...]:
        """The shape of y, and so of delta."""
        raise NotImplementedError

    def label(self, case: Case) -> str:
        """The case as the table's first column names it."""
        raise NotImplementedError

    def parameter_shapes(self, case: Case) -> tuple[tuple[int, ...], ...]:
        """The shapes of the operands after x and delta, in the order they are drawn."""
        raise NotImplementedError

    def flops(self, case: Case) -> int:
        """Multiply-adds ×2 of the forward product and the two backward ones; 0 where the
        kernel is no product (GFLOP/s would mean nothing)."""
        return 0

    def arguments(self, case: Case) -> tuple[Any, ...]:
        """What follows the arrays in a call of the kernels (and of the torch op)."""
        return ()

    def kernels(self, naive: bool) -> tuple[Callable, Callable]:
        """(forward, backward) of cnngrad, or their plain-loop ``_naive`` twins."""
        # imported at the first run, not with the bench: a memory probe loads what it times
        library = importlib.import_module(f"cnngrad.layers.{self.module}")
        suffix = "_naive" if naive else ""
        return (getattr(library, f"{self.kernel}_forward{suffix}"),
                getattr(library, f"{self.kernel}_backward{suffix}"))

    def cnngrad_run(self, case: Case, ops: Operands, naive: bool) -> Run:
        """One call of cnngrad's work: (y, dx, dw, db), or (y, dx, dgamma, dbeta)."""
        forward, backward = self.kernels(naive)
        args = self.arguments(case)
        return lambda: (forward(ops.x, ops.w, ops.b, *args),
                        *backward(ops.x, ops.w, ops.delta, *args))

    def torch_forward(self, functional, case: Case) -> Callable:
        """y from the leaves (x, w, b) by torch's functional op."""
        op, args = getattr(functional, self.torch), self.arguments(case)
        return lambda x, w, b: op(x, w, b, *args)

    def gradients(self, outputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """The gradients among a cnngrad run's outputs: all but y."""
        return outputs[1:]


@dataclass(frozen=True)
class Conv2d(Kind):
    """x (N, C, H, W) → F maps, a k×k kernel over C/g channels; w (F, C/g, k, k), b (F,)."""

    def output_shape(self, case: Case) -> tuple[int, ...]:
        from cnngrad.layers._common import conv_output_size

        n, _, h, w = case.shape
        return (n, case.filters) + tuple(
            conv_output_size(size, case.padding, case.padding, case.k, case.stride)
            for size in (h, w))

    def label(self, case: Case) -> str:
        groups = f", g{case.groups}" if case.groups > 1 else ""
        return (f"{self.name} {_dims(case)} → {case.filters}, {case.k}×{case.k}, "
                f"s{case.stride}, p{case.padding}{groups}")

    def parameter_shapes(self, case: Case) -> tuple[tuple[int, ...], ...]:
        c = case.shape[1]
        return (case.filters, c // case.groups, case.k, case.k), (case.filters,)

    def flops(self, case: Case) -> int:
        n, c, _, _ = case.shape
        _, _, h_out, w_out = self.output_shape(case)
        return 3 * 2 * n * case.filters * (c // case.groups) * case.k * case.k * h_out * w_out

    def arguments(self, case: Case) -> tuple[Any, ...]:
        return case.stride, case.padding, 1, case.groups  # dilation 1


@dataclass(frozen=True)
class Pool(Kind):
    """x (N, C, H, W) → C maps, a k×k window; no parameters.

    cnngrad's run is its backward pass straight from (x, delta), which finds the maxima
    itself; with ``case.with_forward`` the forward pass too, as torch always runs it.
    """

    def output_shape(self, case: Case) -> tuple[int, ...]:
        from cnngrad.layers._common import pool_output_size

        n, _, h, w = case.shape
        return (n, case.filters) + tuple(
            pool_output_size(size, case.padding, case.k, case.stride, case.ceil_mode)
            for size in (h, w))

    def label(self, case: Case) -> str:
        pad = f" p{case.padding}" if case.padding else ""
        ceil = " ceil" if case.ceil_mode else ""
        both = " fwd+bwd" if case.with_forward else ""
        return f"{self.name} {_dims(case)}, {case.k}×{case.k}/{case.stride}{pad}{ceil}{both}"

    def parameter_shapes(self, case: Case) -> tuple[tuple[int, ...], ...]:
        return ()

    def arguments(self, case: Case) -> tuple[Any, ...]:
        return case.k, case.stride, case.padding, case.ceil_mode

    def cnngrad_run(self, case: Case, ops: Operands, naive: bool) -> Run:
        """One call of cnngrad's work: (dx,)."""
        forward, backward = self.kernels(naive)
        args = self.arguments(case)
        if case.with_forward:
            def both():
                forward(ops.x, *args)
                return (backward(ops.x, ops.delta, *args),)

            return both
        return lambda: (backward(ops.x, ops.delta, *args),)

    def torch_forward(self, functional, case: Case) -> Callable:
        """y from the leaf x by torch's functional op."""
        op, (k, s, p, ceil) = getattr(functional, self.torch), self.arguments(case)
        return lambda x: op(x, k, s, p, ceil_mode=ceil)

    def gradients(self, outputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """The gradients among a cnngrad run's outputs: all of them, (dx,)."""
        return outputs


@dataclass(frozen=True)
class Conv1d(Kind):
    """x (N, C, L) → F maps, a kernel of size k; w (F, C, k), b (F,)."""

    def output_shape(self, case: Case) -> tuple[int, ...]:
        from cnngrad.layers._common import conv_output_size

        n, _, length = case.shape
        return n, case.filters, conv_output_size(length, case.padding, case.padding, case.k,
                                                 case.stride)

    def label(self, case: Case) -> str:
        return (f"{self.name} {_dims(case)} → {case.filters}, k{case.k}, s{case.stride}, "
                f"p{case.padding}")

    def parameter_shapes(self, case: Case) -> tuple[tuple[int, ...], ...]:
        return (case.filters, case.shape[1], case.k), (case.filters,)

    def flops(self, case: Case) -> int:
        n, c, _ = case.shape
        return 3 * 2 * n * case.filters * c * case.k * self.output_shape(case)[2]

    def arguments(self, case: Case) -> tuple[Any, ...]:
        return case.stride, case.padding


@dataclass(frozen=True)
class ConvTranspose2d(Kind):
    """x (N, C, H, W) → F maps, a k×k kernel; w (C, F, k, k), b (F,)."""

    def output_shape(self, case: Case) -> tuple[int, ...]:
        n = case.shape[0]
        return (n, case.filters) + tuple(
            (size - 1) * case.stride - 2 * case.padding + case.k + case.output_padding
            for size in case.shape[2:])

    def label(self, case: Case) -> str:
        return (f"{self.name} {_dims(case)} → {case.filters}, {case.k}×{case.k}, "
                f"s{case.stride}, p{case.padding}, op{case.output_padding}")

    def parameter_shapes(self, case: Case) -> tuple[tuple[int, ...], ...]:
        return (case.shape[1], case.filters, case.k, case.k), (case.filters,)

    def flops(self, case: Case) -> int:
        # each input pixel scatters a k×k patch to every output map
        n, c, h, w = case.shape
        return 3 * 2 * n * case.filters * c * case.k * case.k * h * w

    def arguments(self, case: Case) -> tuple[Any, ...]:
        return case.stride, case.padding, case.output_padding


@dataclass(frozen=True)
class BatchNorm2d(Kind):
    """x (N, C, H, W) in training mode, gamma and beta (C,); k, stride, … unused."""

    def output_shape(self, case: Case) -> tuple[int, ...]:
        return case.shape

    def label(self, case: Case) -> str:
        return f"{self.name} {_dims(case)}, train"

    def parameter_shapes(self, case: Case) -> tuple[tuple[int, ...], ...]:
        return (case.shape[1],), (case.filters,)  # gamma, beta (filters is C again)

    def torch_forward(self, functional, case: Case) -> Callable:
        """y from the leaves (x, gamma, beta): the batch's statistics, no running ones."""
        op = getattr(functional, self.torch)
        return lambda x, w, b: op(x, None, None, w, b, training=True)


def _dims(case: Case) -> str:
    return ",".join(str(d) for d in case.shape)


#: Every kind of kernel the bench times, by the name a :class:`Case` gives it.
KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Conv2d("conv", module="conv", kernel="conv2d", torch="conv2d"),
    Pool("maxpool", module="pool", kernel="maxpool2d", torch="max_pool2d"),
    Pool("avgpool", module="pool", kernel="avgpool2d", torch="avg_pool2d"),
    Conv1d("conv1d", module="conv1d", kernel="conv1d", torch="conv1d"),
    ConvTranspose2d("conv_transpose2d", module="conv_transpose", kernel="conv_transpose2d",
                    torch="conv_transpose2d"),
    BatchNorm2d("batchnorm2d", module="batchnorm", kernel="batchnorm", torch="batch_norm"),
)}


def kind_of(name: str) -> Kind:
    """The :data:`KINDS` row of a kind.

    Raises
    ------
    ValueError
        For a name not in :data:`KINDS`, naming the kinds there are.
    """
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"case kind must be one of {', '.join(KINDS)}; got {name!r}") from None


# --------------------------------------------------------------------------------------
# the cases


@dataclass(frozen=True)
class Case:
    """One benchmark case: a kind of kernel and its sizes.

    Attributes
    ----------
    kind : str
        A key of :data:`KINDS`; any other raises ValueError on construction.
    shape : tuple of int
        x: (N, C, H, W), or (N, C, L) for conv1d.
    filters : int
        F, the output maps; C again for the pools and batch norm.
    k : int
        The window's side (k×k; k for conv1d; unused by batch norm).
    stride, padding : int
    targets : dict of str to float or None
        dtype → the cnngrad time / torch time it should stay under (None: no target yet).
    groups : int
        conv: C (and F) for a depthwise convolution.
    ceil_mode : bool
        Pools.
    calls : int
        Calls per timed sample (tiny cases); times are per call.
    with_forward : bool
        Pools: cnngrad runs the forward pass too, as torch does.
    output_padding : int
        conv_transpose2d.
    """

    kind: str
    shape: tuple[int, ...]
    filters: int
    k: int
    stride: int
    padding: int
    targets: dict[str, float | None]
    groups: int = 1
    ceil_mode: bool = False
    calls: int = 1
    with_forward: bool = False
    output_padding: int = 0

    def __post_init__(self):
        kind_of(self.kind)  # a misspelt kind fails where the case is written

    @property
    def rules(self) -> Kind:
        """The :data:`KINDS` row that knows this case's kernel."""
        return KINDS[self.kind]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rules.output_shape(self)

    @property
    def label(self) -> str:
        return self.rules.label(self)

    @property
    def flops(self) -> int:
        """Multiply-adds ×2 of the forward product and the two backward ones (convolutions)."""
        return self.rules.flops(self)


#: The cases of the issue, at full size, with their targets (cnngrad time / torch time).
CASES: dict[str, Case] = {
    "conv-64": Case("conv", (8, 16, 64, 64), 32, 3, 1, 1, {"float64": 0.8, "float32": 2.0}),
    "conv-56": Case("conv", (32, 64, 56, 56), 64, 3, 1, 1, {"float64": 0.8, "float32": 1.2}),
    "conv-224": Case("conv", (4, 3, 224, 224), 64, 7, 2, 3, {"float64": 0.8, "float32": 1.2}),
    "maxpool": Case("maxpool", (32, 64, 112, 112), 64, 2, 2, 0, {"float64": 0.7, "float32": 0.7}),
    "avgpool": Case("avgpool", (32, 64, 112, 112), 64, 3, 2, 1, {"float64": 1.0, "float32": 1.0}),
    # one image (every CLI problem), at the default threads
    "conv-n1-64": Case("conv", (1, 16, 64, 64), 32, 3, 1, 1, {"float64": 0.8, "float32": 2.0}),
    "conv-n1-56": Case("conv", (1, 64, 56, 56), 64, 3, 1, 1, {"float64": 0.8, "float32": 1.5}),
    "conv-n1-224": Case("conv", (1, 3, 224, 224), 64, 7, 2, 3, {"float64": 0.8, "float32": 1.2}),
    # homework sizes (and every gradcheck step): the cost of a call
    "conv-tiny": Case("conv", (1, 1, 5, 5), 1, 2, 1, 0, {"float64": 2.0, "float32": 2.0},
                      calls=200),
    "maxpool-tiny": Case("maxpool", (1, 1, 4, 4), 1, 2, 2, 0, {"float64": 2.0, "float32": 2.0},
                         calls=200, with_forward=True),
    "depthwise": Case("conv", (8, 64, 56, 56), 64, 3, 1, 1, {"float64": 1.0, "float32": 1.5},
                      groups=64),
    # MobileNet's downsampling depthwise layer: torch's float32 kernel has no match in numpy
    "depthwise-s2": Case("conv", (8, 64, 56, 56), 64, 3, 2, 1,
                         {"float64": 1.0, "float32": None}, groups=64),
    # max pools that touch the padding, hang over the edge or overlap
    "maxpool-pad": Case("maxpool", (8, 64, 56, 56), 64, 3, 2, 1,
                        {"float64": 1.0, "float32": 1.0}),
    "maxpool-ceil": Case("maxpool", (8, 64, 55, 55), 64, 3, 2, 0,
                         {"float64": 1.0, "float32": 1.0}, ceil_mode=True),
    "maxpool-overlap": Case("maxpool", (8, 64, 56, 56), 64, 3, 1, 1,
                            {"float64": 1.0, "float32": 1.0}),
}

#: The kernels of contract v1.1, forward + backward; no float32 targets yet.
V11_CASES: dict[str, Case] = {
    "conv1d": Case("conv1d", (8, 64, 3136), 64, 3, 1, 1, {"float64": 1.0, "float32": None}),
    "conv_transpose2d": Case("conv_transpose2d", (8, 64, 56, 56), 64, 3, 2, 1,
                             {"float64": 1.0, "float32": None}, output_padding=1),
    "batchnorm2d": Case("batchnorm2d", (8, 64, 56, 56), 64, 0, 1, 0,
                        {"float64": 1.0, "float32": None}),
}

V11_NOTE = ("conv1d, conv_transpose2d, batchnorm2d (train): forward + backward (y, dx and the "
            "parameter gradients) against torch's functional op + y.backward(delta)")

#: Every case by name, in the order the bench runs them.
ALL_CASES: dict[str, Case] = {**CASES, **V11_CASES}

#: The same cases scaled down: for --quick, and for the plain-loop references (no torch).
SMALL_SHAPES: dict[str, tuple[tuple[int, ...], int]] = {
    "conv-64": ((1, 2, 8, 8), 4),
    "conv-56": ((1, 4, 7, 7), 4),
    "conv-224": ((1, 3, 16, 16), 4),
    "maxpool": ((1, 4, 16, 16), 4),
    "avgpool": ((1, 4, 16, 16), 4),
    "conv-n1-64": ((1, 2, 8, 8), 4),
    "conv-n1-56": ((1, 4, 7, 7), 4),
    "conv-n1-224": ((1, 3, 16, 16), 4),
    "conv-tiny": ((1, 1, 5, 5), 1),
    "maxpool-tiny": ((1, 1, 4, 4), 1),
    "depthwise": ((1, 4, 7, 7), 4),
    "depthwise-s2": ((1, 4, 8, 8), 4),
    "maxpool-pad": ((1, 4, 9, 9), 4),
    "maxpool-ceil": ((1, 4, 9, 9), 4),
    "maxpool-overlap": ((1, 4, 9, 9), 4),
    "conv1d": ((1, 4, 20), 4),
    "conv_transpose2d": ((1, 4, 5, 5), 4),
    "batchnorm2d": ((2, 4, 5, 5), 4),  # two images: a batch's statistics
}


def case_for(name: str, small: bool) -> Case:
    """The case ``name`` of :data:`ALL_CASES`, scaled down to :data:`SMALL_SHAPES` if ``small``.

    Raises
    ------
    ValueError
        For a name not in :data:`ALL_CASES`.
    """
    if name not in ALL_CASES:
        raise ValueError(f"case must be one of {', '.join(ALL_CASES)}; got {name!r}")
    case = ALL_CASES[name]
    if not small:
        return case
    shape, filters = SMALL_SHAPES[name]
    groups = shape[1] if case.groups > 1 else 1  # depthwise stays depthwise
    return replace(case, shape=shape, filters=filters, groups=groups, calls=min(case.calls, 5))


# --------------------------------------------------------------------------------------
# the operations timed


@dataclass
class Operands:
    """The arrays of a case: x, delta (the shape of y) and the parameters, if any."""

    x: np.ndarray
    delta: np.ndarray
    w: np.ndarray | None = None  # or gamma
    b: np.ndarray | None = None  # or beta

    @property
    def inputs(self) -> tuple[np.ndarray, ...]:
        """What the gradients are of: x, then w and b where the kernel has them."""
        return tuple(a for a in (self.x, self.w, self.b) if a is not None)


def make_operands(case: Case, dtype: str, seed: int = 0) -> Operands:
    """Standard-normal x, delta, then the parameters, drawn in that order from ``seed``."""
    # drawn straight in the dtype: no float64 temporary to inflate the memory baseline
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.shape, dtype=dtype)
    delta = rng.standard_normal(case.output_shape, dtype=dtype)
    parameters = [rng.standard_normal(shape, dtype=dtype)
                  for shape in case.rules.parameter_shapes(case)]
    return Operands(x, delta, *parameters)


Run = Callable[[], tuple[np.ndarray, ...]]


def cnngrad_run(case: Case, ops: Operands, naive: bool = False) -> Run:
    """cnngrad's work for a case, ``case.calls`` times a sample.

    Parameters
    ----------
    case : Case
    ops : Operands
        From :func:`make_operands`.
    naive : bool
        The plain-loop ``_naive`` twins of the kernels instead (the reference without torch).

    Returns
    -------
    Run
        Returns the outputs: y then the gradients (conv: y, dx, dw, db), or for the pools dx
        alone; :func:`gradients` picks the gradients.
    """
    return _repeated(case.rules.cnngrad_run(case, ops, naive), case.calls)


def _repeated(run: Run, calls: int) -> Run:
    """``run`` ``calls`` times (a tiny case's timed sample); the last outputs."""
    if calls == 1:
        return run

    def many():
        for _ in range(calls - 1):
            run()
        return run()

    return many


def torch_run(torch, case: Case, ops: Operands) -> Run:
    """torch's forward + ``y.backward(delta)`` for a case, ``case.calls`` times a sample.

    Returns
    -------
    Run
        Returns the gradients of :attr:`Operands.inputs` (conv: dx, dw, db; pools: dx).
    """
    forward = case.rules.torch_forward(torch.nn.functional, case)
    leaves = [torch.from_numpy(a).requires_grad_() for a in ops.inputs]
    delta = torch.from_numpy(ops.delta)

    def run():
        for leaf in leaves:
            leaf.grad = None
        forward(*leaves).backward(delta)
        return tuple(leaf.grad.numpy() for leaf in leaves)

    return _repeated(run, case.calls)


def gradients(case: Case, outputs: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """The gradients among a cnngrad run's outputs (most runs return y first)."""
    return case.rules.gradients(outputs)


def relative_difference(ours: Sequence[np.ndarray], theirs: Sequence[np.ndarray]) -> float:
    """max |ours − theirs| / max |theirs| over all the gradients."""
    worst = 0.0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        scale = max(float(np.max(np.abs(b))), np.finfo(np.float64).tiny)
        worst = max(worst, float(np.max(np.abs(a - b))) / scale)
    return worst


# --------------------------------------------------------------------------------------
# timing


#: Pause before each timed call.  OpenBLAS's and torch's worker threads busy-wait for a while
#: (about 0.1 s) after a call; on a machine with few cores the spinning threads of one library
#: would steal the cores from the other, slowing a small torch call a hundredfold.
SETTLE_SECONDS = 0.25


def _seconds(run: Run, settle: float = 0.0) -> float:
    if settle:
        time.sleep(settle)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@dataclass
class Timing:
    ours: float  # median seconds
    reference: float
    ratio: float  # median of the per-pair ratios
    pair_ratios: tuple[float, ...] = ()  # every pair's ratio, in the order timed


def time_pairs(ours: Run, reference: Run, repeat: int, settle: float = SETTLE_SECONDS) -> Timing:
    """Warm-up, then ``repeat`` pairs, cnngrad then the reference, each after a pause."""
    ours(), reference()
    # arrays are freed by reference counting; a collection pass over torch's many objects
    # would take longer than a small case
    gc.collect()
    gc.disable()
    try:
        pairs = [(_seconds(ours, settle), _seconds(reference, settle)) for _ in range(repeat)]
    finally:
        gc.enable()
    ratios = tuple(a / b for a, b in pairs)
    return Timing(statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
                  statistics.median(ratios), ratios)


def matmul_peak(dtype: str, size: int) -> float:
    """GFLOP/s of a size×size np.matmul: the best of three after a warm-up."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((size, size), dtype=dtype)
    b = rng.standard_normal((size, size), dtype=dtype)
    np.matmul(a, b)
    best = min(_seconds(lambda: (np.matmul(a, b),)) for _ in range(3))
    return 2 * size**3 / best / 1e9


# --------------------------------------------------------------------------------------
# threads


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all the machine's CPUs since boot, from /proc/stat."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return None
    fields = [int(v) for v in stat.read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def machine_busy(seconds: float) -> float | None:
    """The share of the machine's CPUs other work kept busy over ``seconds`` (this process
    sleeping meanwhile): other work running makes the times noisy.  None where unknown."""
    before = _cpu_ticks()
    time.sleep(seconds)
    after = _cpu_ticks()
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def pages() -> str | None:
    """The transparent huge page mode and where cnngrad's big results go, for the header
    (numpy advises huge pages for its arrays of 4 MiB and up; torch does not); None where the
    system has no huge pages."""
    from cnngrad.layers._common import (ORDINARY_PAGES_MIN_BYTES, huge_page_mode,
                                        ordinary_pages_declined)

    mode = huge_page_mode()
    if mode is None:
        return None
    declined = ordinary_pages_declined()
    where = "kept off them" if declined is None else f"left as numpy makes them ({declined})"
    return (f"transparent huge pages '{mode}'; cnngrad's results of "
            f"{ORDINARY_PAGES_MIN_BYTES // 2**20} MiB and more {where}")


def blas_threads() -> int | None:
    """The thread count of the BLAS numpy loaded (threadpoolctl), or None when unknown."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts) if counts else None


# --------------------------------------------------------------------------------------
# end to end: the command line as a user runs it, in fresh processes

#: The medium problem: 1×3×224×224 input, conv 64 7×7/2 p3, relu, max pool 3×3/2 p1, the
#: delta given, tensors from .npy files.
MEDIUM_LAYERS = [
    {"type": "conv2d", "kernel": {"npy": "w.npy"}, "bias": {"npy": "b.npy"}, "stride": 2,
     "padding": 3},
    {"type": "relu"},
    {"type": "maxpool2d", "size": 3, "stride": 2, "padding": 1},
]

#: What a PyTorch user writes for the medium problem: the same forward and backward, and the
#: same JSON document (the contract's structure) written with the standard library.
TORCH_MEDIUM_SCRIPT = """
import json, sys
import numpy as np, torch
import torch.nn.functional as F
folder, out = sys.argv[1], sys.argv[2]
load = lambda name: torch.from_numpy(np.load(f"{folder}/{name}.npy"))
x, w, b, d = load("x").requires_grad_(), load("w").requires_grad_(), load("b").requires_grad_(), load("d")
c = F.conv2d(x, w, b, stride=2, padding=3); c.retain_grad()
r = F.relu(c); r.retain_grad()
p = F.max_pool2d(r, 3, 2, 1)
p.backward(d)
L = lambda t: t.detach().numpy().tolist()
layers = [
    {"index": 0, "name": "conv2d_1", "type": "conv2d", "output": L(c), "delta_out": L(c.grad),
     "delta_in": L(x.grad), "grads": {"kernel": L(w.grad), "bias": L(b.grad)}},
    {"index": 1, "name": "relu_1", "type": "relu", "output": L(r), "delta_out": L(r.grad),
     "delta_in": L(c.grad), "grads": {}},
    {"index": 2, "name": "maxpool2d_1", "type": "maxpool2d", "output": L(p), "delta_out": L(d),
     "delta_in": L(r.grad), "grads": {}}]
with open(out, "w") as f:
    json.dump({"cnngrad": "1.1.0", "title": "medium", "loss": None, "layers": layers}, f)
"""


def _write_problem(folder: Path, name: str, arrays: dict[str, np.ndarray], problem: dict) -> Path:
    for key, array in arrays.items():
        np.save(folder / f"{key}.npy", array)
    path = folder / name
    path.write_text(json.dumps(problem))
    return path


#: Runs ``python -m cnngrad ARGS`` and reports the process's own peak resident set on exit
#: (a child's rusage would also count the forked copy of this process, torch and all).
CLI_WITH_PEAK = """
import atexit, runpy, sys
def report():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    sys.stderr.write(f"peak-rss-kib {line.split()[1]}\\n")
    except OSError:
        pass
atexit.register(report)
sys.argv = ["cnngrad", *sys.argv[1:]]
runpy.run_module("cnngrad", run_name="__main__")
"""


def _child_env(**changes: str | None) -> dict[str, str]:
    """This process's environment with this cnngrad first on the path (and ``changes``: a
    value of None removes the variable)."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _installed_env(folder: Path) -> dict[str, str]:
    """:func:`_child_env` with a bytecode cache, as an installation has (pip compiles the
    modules it installs), whatever ``PYTHONDONTWRITEBYTECODE`` says here: a private
    ``PYTHONPYCACHEPREFIX`` in ``folder``, filled by a first untimed run of each command."""
    return _child_env(PYTHONDONTWRITEBYTECODE=None, PYTHONPYCACHEPREFIX=str(folder / "pyc"))


def _child(command: Sequence[str], cwd: Path,
           env: dict[str, str] | None = None) -> tuple[float, float | None]:
    """(wall seconds, peak RSS MiB when the command reports it) of a command in a fresh
    process (in ``env``, by default :func:`_child_env`'s); its output discarded."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env or _child_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    stderr = done.stderr.decode(errors="replace")
    if done.returncode not in (0, 1):
        raise BenchError(f"{' '.join(command[-4:])} failed: {stderr[-300:]}")
    peaks = [int(line.split()[1]) for line in stderr.splitlines()
             if line.startswith("peak-rss-kib ")]
    return seconds, peaks[-1] / 1024 if peaks else None


#: Start-up, as the issue's bounds put it: the worked example's result against the wall time of
#: ``python -c "import numpy"`` (medians of at least this many runs, the commands taking turns).
START_UP_RUNS = 11
START_UP_TARGETS = {"json": 2.0, "table": 2.5}


def start_up(repeat: int, folder: Path) -> dict[str, Any]:
    """Median wall seconds of ``python -c "import numpy"`` and of ``cnngrad backward
    stackexchange.json`` as JSON and as a table, in fresh processes taking turns, with a
    bytecode cache as an installation has (a private ``PYTHONPYCACHEPREFIX``, filled by a
    first untimed round), and each cnngrad time over numpy's."""
    from cnngrad.bundled import samples_dir

    problem = str(samples_dir() / "stackexchange.json")
    env = _installed_env(folder)
    commands = {"numpy": [sys.executable, "-c", "import numpy"],
                "json": [sys.executable, "-m", "cnngrad", "backward", problem, "--format", "json"],
                "table": [sys.executable, "-m", "cnngrad", "backward", problem]}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(max(repeat, START_UP_RUNS) + 1):
        for name, command in commands.items():
            time.sleep(SETTLE_SECONDS)
            seconds, _ = _child(command, folder, env)
            if round_:  # the first round fills the bytecode cache
                times[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"case": "start-up: backward stackexchange.json", "runs": len(times["numpy"]),
            "numpy_s": medians["numpy"], "json_s": medians["json"], "table_s": medians["table"],
            "targets": START_UP_TARGETS}


def end_to_end(torch, repeat: int, folder: Path) -> list[dict[str, Any]]:
    """The waits a user sees: the medium problem written as JSON (against the same in a torch
    script), gradcheck of a 3×32×32 input with 8 filters, explain of one cell of the medium
    problem.  Medians of ``repeat`` fresh processes (alternating with the torch script), each
    command run once untimed first to fill the bytecode cache (:func:`_installed_env`)."""
    rng = np.random.default_rng(7)
    medium = _write_problem(folder, "medium.json", {
        "x": rng.standard_normal((1, 3, 224, 224)), "w": 0.1 * rng.standard_normal((64, 3, 7, 7)),
        "b": 0.1 * rng.standard_normal(64), "d": rng.standard_normal((1, 64, 56, 56))},
        {"title": "medium", "input": {"npy": "x.npy"}, "layers": MEDIUM_LAYERS,
         "delta": {"npy": "d.npy"}})
    small = _write_problem(folder, "gradcheck.json", {
        "gx": rng.standard_normal((3, 32, 32)), "gw": rng.standard_normal((8, 3, 3, 3))},
        {"title": "gradcheck", "input": {"npy": "gx.npy"}, "kernel": {"npy": "gw.npy"},
         "padding": 1, "loss": {"type": "mse", "target": {"npy": "gt.npy"}}})
    np.save(folder / "gt.npy", rng.standard_normal((8, 32, 32)))
    cli = [sys.executable, "-c", CLI_WITH_PEAK]
    env = _installed_env(folder)
    rows = []
    out = folder / "out.json"
    ours_command = cli + ["backward", str(medium), "--format", "json", "-o", str(out)]
    theirs_command = [sys.executable, "-c", TORCH_MEDIUM_SCRIPT, str(folder),
                      str(folder / "torch.json")]
    runs = []
    for round_ in range(repeat + 1):
        time.sleep(SETTLE_SECONDS)
        ours = _child(ours_command, folder, env)
        size = out.stat().st_size / MIB
        theirs = None
        if torch is not None:
            time.sleep(SETTLE_SECONDS)
            theirs = _child(theirs_command, folder, env)
        if round_:  # the first round fills the bytecode cache
            runs.append((ours, theirs, size))
    ours_s = statistics.median(r[0][0] for r in runs)
    rss = statistics.median(r[0][1] or 0.0 for r in runs)
    size = runs[-1][2]
    row = {"case": "backward medium.json --format json (1×3×224×224, conv 7×7/2, relu, "
                   "maxpool)", "cnngrad_s": ours_s, "target": 0.5,
           "rss_mib": rss, "json_mib": size, "rss_target": 2.0}
    if torch is not None:
        row["reference_s"] = statistics.median(r[1][0] for r in runs)
        row["ratio"] = statistics.median(r[0][0] / r[1][0] for r in runs)
    rows.append(row)
    for label, command, limit in (
            ("gradcheck 3×32×32, 8 filters 3×3 p1, mse (every element)",
             cli + ["gradcheck", str(small), "--format", "json", "-o", str(folder / "g.json")],
             3.0),
            ("explain medium.json conv2d_1.grads.kernel[0,0,0,0]",
             cli + ["explain", str(medium), "conv2d_1.grads.kernel[0,0,0,0]"], 0.3)):
        times = []
        for round_ in range(repeat + 1):
            time.sleep(SETTLE_SECONDS)
            try:
                seconds = _child(command, folder, env)[0]
            except RuntimeError as error:
                times = []
                label += f" (failed: {str(error)[-120:]})"
                break
            if round_:  # the first round fills the bytecode cache
                times.append(seconds)
        rows.append({"case": label, "cnngrad_s": statistics.median(times) if times else None,
                     "min_s": min(times) if times else None, "limit_s": limit})
    rows.append(start_up(repeat, folder))
    return rows


def render_end_to_end(rows: Sequence[dict[str, Any]], reference: str) -> str:
    lines = ["", "end to end: the command line in fresh processes (medians)"]
    numpy_s = next((row["numpy_s"] for row in rows if "numpy_s" in row), None)
    for row in rows:
        if "numpy_s" in row:
            lines.append(_render_start_up(row))
            continue
        seconds = row["cnngrad_s"]
        text = f"  {row['case']}: " + ("—" if seconds is None else f"{seconds:.2f} s")
        if "ratio" in row:
            ok = row["ratio"] <= row["target"]
            text += (f" against {row['reference_s']:.2f} s for a {reference} script writing the "
                     f"same JSON: ratio {row['ratio']:.2f} (≤ {row['target']:g}{_mark(ok)})")
        if "rss_mib" in row:
            ratio = row["rss_mib"] / row["json_mib"]
            text += (f"; peak RSS {row['rss_mib']:.0f} MiB for {row['json_mib']:.0f} MiB of "
                     f"JSON ({ratio:.2f}×, ≤ {row['rss_target']:g}{_mark(ratio <= row['rss_target'])})")
        if "limit_s" in row and seconds is not None:
            fastest = f"min {row['min_s']:.2f} s; " if row.get("min_s") is not None else ""
            text += f" ({fastest}< {row['limit_s']:g} s{_mark(seconds < row['limit_s'])})"
            if numpy_s:  # how fast this machine starts Python, for an absolute bound
                text += f"; {seconds / numpy_s:.1f}× `import numpy`"
        lines.append(text)
    return "\n".join(lines)


def _render_start_up(row: dict[str, Any]) -> str:
    parts = []
    for kind, label in (("json", "--format json"), ("table", "as a table")):
        ratio, target = row[f"{kind}_s"] / row["numpy_s"], row["targets"][kind]
        parts.append(f"{label} {row[f'{kind}_s']:.2f} s ({ratio:.2f}×, ≤ {target:g}"
                     f"{_mark(ratio <= target)})")
    return (f"  {row['case']} against `python -c \"import numpy\"` "
            f"({row['numpy_s']:.2f} s; {row['runs']} runs each, taking turns): "
            + "; ".join(parts))


# --------------------------------------------------------------------------------------
# working memory, in a fresh process per case


def _resident_kib(field: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_peak_rss() -> bool:
    """Start the peak resident set size afresh from the current one (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_rss_kib() -> int:
    peak = _resident_kib("VmHWM")
    if peak is not None:
        return peak
    scale = 1 if sys.platform.startswith("linux") else 1 / 1024  # macOS reports bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale)


def memory_probe(case: Case, dtype: str) -> dict[str, float]:
    """Run cnngrad's work for a case twice: once for the peak RSS, once under tracemalloc.

    Returns MiB: ``work`` (numpy's allocations at their peak beyond the inputs and outputs),
    ``rss_peak`` (this process's peak resident set) and ``rss_growth`` (its growth during the
    run beyond the outputs).
    """
    ops = make_operands(case, dtype)
    run = cnngrad_run(case, ops)
    # BLAS starts its threads and buffers on a first product: not the kernel's working memory
    np.matmul(np.ones((256, 256), dtype), np.ones((256, 256), dtype))
    gc.collect()
    _reset_peak_rss()
    before = _resident_kib("VmRSS") or _peak_rss_kib()
    outputs = run()
    peak = _peak_rss_kib()
    output_bytes = sum(a.nbytes for a in outputs)
    del outputs
    gc.collect()
    tracemalloc.start()
    run()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"work": (traced_peak - output_bytes) / MIB, "rss_peak": peak / 1024,
            "rss_growth": max(0.0, (peak - before) * 1024 - output_bytes) / MIB}


def memory_probes(runs: Sequence[tuple[str, str]], small: bool) -> list[dict[str, float]]:
    """:func:`memory_probe` of each (case name, dtype), in this process."""
    return [memory_probe(case_for(name, small), dtype) for name, dtype in runs]


#: The fresh interpreter :func:`measure_memory` runs: the kernels and numpy, and nothing of
#: the command line (its modules would count in the peak resident set); ``CASE:DTYPE``
#: arguments, then ``small`` or ``full``; the probes' JSON on stdout.
MEMORY_PROBE = """
import json, sys
from cnngrad.bench import memory_probes
runs = [tuple(arg.split(":")) for arg in sys.argv[1:-1]]
sys.stdout.write(json.dumps(memory_probes(runs, sys.argv[-1] == "small")) + "\\n")
"""


def measure_memory(runs: Sequence[tuple[str, str]], small: bool) -> list[dict[str, float] | None]:
    """:func:`memory_probe` of each (case, dtype) in one fresh interpreter (a peak RSS is a
    whole process's; call it once per case for RSS figures free of an earlier run's heap)."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-c", MEMORY_PROBE, *(f"{name}:{dtype}" for name, dtype in runs),
               "small" if small else "full"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900,
                              check=False)
    except subprocess.TimeoutExpired:  # no figures rather than no table
        return [None] * len(runs)
    if done.returncode != 0:
        return [None] * len(runs)
    return json.loads(done.stdout)


# --------------------------------------------------------------------------------------
# the table


@dataclass
class Row:
    name: str
    label: str
    dtype: str
    ours_s: float
    reference_s: float
    ratio: float
    target: float | None
    gflops: float | None
    peak_share: float | None
    difference: float
    memory: dict[str, float] | None
    matmul_peak: float | None = None  # GFLOP/s measured just before this case
    pair_ratios: tuple[float, ...] = ()

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target

    @property
    def straddles(self) -> bool:
        """Whether some pairs met the target and others did not: another run of the same
        code may come out on the other side of it."""
        return (self.target is not None and bool(self.pair_ratios)
                and min(self.pair_ratios) <= self.target < max(self.pair_ratios))

    @property
    def memory_ok(self) -> bool | None:
        if self.memory is None:
            return None
        return max(self.memory["work"], self.memory["rss_growth"]) <= WORK_LIMIT_MIB

    def as_dict(self) -> dict[str, Any]:
        return {"case": self.name, "label": self.label, "dtype": self.dtype,
                "cnngrad_s": self.ours_s, "reference_s": self.reference_s, "ratio": self.ratio,
                "pair_ratios": list(self.pair_ratios),
                "target": self.target, "met": self.met, "gflops": self.gflops,
                "peak_share": self.peak_share, "matmul_peak": self.matmul_peak,
                "max_rel_difference": self.difference,
                "memory_mib": self.memory, "memory_ok": self.memory_ok}


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    if ms < 1:
        return f"{ms * 1e3:.3g} µs"
    return f"{ms:.3g} ms" if ms < 1000 else f"{ms:,.0f} ms"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def _straddling(rows: Sequence[Row]) -> list[str]:
    """Lines naming the cases whose pairs fell on both sides of their target, with the range
    of their pairs' ratios: a mark that another run of the same code may turn."""
    near = [f"  {row.label} {row.dtype}: pairs {min(row.pair_ratios):.2f}–"
            f"{max(row.pair_ratios):.2f}, median {row.ratio:.2f} (≤ {row.target:g}"
            f"{_mark(row.met)})" for row in rows if row.straddles]
    if not near:
        return []
    return ["pairs on both sides of their target (another run may turn the mark):", *near]


def render_table(rows: Sequence[Row], info: dict[str, Any]) -> str:
    reference = info["reference_name"]
    header = ["case", "dtype", "cnngrad", reference, "ratio", "target", "GFLOP/s", "% peak",
              "work MiB", "RSS MiB", "rel diff"]
    body = []
    for row in rows:
        memory = row.memory
        body.append([
            row.label, row.dtype, _ms(row.ours_s), _ms(row.reference_s), f"{row.ratio:.2f}",
            "—" if row.target is None else f"≤ {row.target:g}{_mark(row.met)}",
            "—" if row.gflops is None else f"{row.gflops:.1f}",
            "—" if row.peak_share is None else f"{100 * row.peak_share:.0f}%",
            "?" if memory is None else f"{memory['work']:.1f}{_mark(row.memory_ok)}",
            "?" if memory is None else f"{memory['rss_peak']:.0f} (+{memory['rss_growth']:.0f})",
            f"{row.difference:.1e}",
        ])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    right = set(range(2, len(header)))

    def line(cells):
        return "  ".join(cell.rjust(width) if i in right else cell.ljust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    peaks = ", ".join(
        f"{dtype} {min(r.matmul_peak for r in rows if r.dtype == dtype and r.matmul_peak):.1f}"
        f"–{gflops:.1f} GFLOP/s"
        for dtype, gflops in info["matmul_peak"].items())
    threads = info["threads"]
    blas = "?" if threads["blas"] is None else threads["blas"]
    torch_threads = f"; torch {threads['torch']}" if "torch" in threads else ""
    conv_blas = f"{threads['cnngrad_blas']}, " if "cnngrad_blas" in threads else ""
    conv_threads = (f" conv {threads['cnngrad_conv']} ({conv_blas}1 thread each),"
                    if "cnngrad_conv" in threads else "")
    lines = [
        (f"python -m cnngrad.bench · cnngrad {info['cnngrad']} against {reference}, "
         f"median of {info['repeat']} alternating runs after a warm-up"),
        (f"conv: forward + backward (y, dx, dw, db) against {info['reference_conv']}; "
         f"pools: cnngrad's backward from (x, delta) against {info['reference_pool']}"),
        (f"threads: {info['cores']} core{'s' if info['cores'] != 1 else ''}; numpy "
         f"{info['versions']['numpy']} BLAS {blas}; cnngrad{conv_threads} pooling "
         f"{threads['cnngrad_pool']}{torch_threads}"),
        (f"matmul peak ({info['matmul_size']}² np.matmul, measured before each case): {peaks}; "
         f"% peak is of the one beside the case"),
    ]
    if info.get("pages"):
        lines.append(f"pages: {info['pages']}")
    busy = info["machine_busy"]
    if busy is not None:
        lines.append(f"other work just before the run: {100 * busy:.0f}% of the CPUs"
                     + (" (a busy machine: the times are noisy)" if busy > BUSY_LIMIT else ""))
    lines += [f"note: {note}" for note in info["notes"]]
    lines += ["", line(header), line(["─" * w for w in widths]), *map(line, body), ""]
    lines.append(f"ratio = cnngrad time / {reference} time (median of the per-pair ratios); "
                 f"GFLOP/s = 3·2·N·F·C/g·kh·kw·H'·W' / time")
    lines += _straddling(rows)
    lines.append(f"work MiB = numpy's peak allocations beyond inputs and outputs (✗ above "
                 f"{WORK_LIMIT_MIB} MiB); RSS MiB = a fresh process's peak resident set "
                 f"(+ its growth beyond inputs and outputs)")
    lines.append(f"this run's peak RSS: {info['peak_rss_mib']:.0f} MiB")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# a whole run (the command line, ``python -m cnngrad.bench``, is cnngrad/cli/bench.py's)


def blas_name() -> str:
    """The BLAS the header names (``CNNGRAD_BLAS``): a misspelt or missing one raises the
    :class:`~cnngrad.errors.CnnGradError` every command raises for it, before any case runs."""
    from cnngrad.layers import _gemm

    _gemm.check_choice()
    return _gemm.name()


def import_torch():
    """torch, or None where it is not installed (the ``bench`` extra)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


@dataclass
class BenchRun:
    """What a run measured: the table's rows, the header's facts (``info``) and the
    command-line cases (``end_to_end``, empty when they were left out)."""

    rows: list[Row]
    info: dict[str, Any]
    end_to_end: list[dict[str, Any]]

    def text(self) -> str:
        """The table, then the command-line cases."""
        e2e = self.end_to_end
        return render_table(self.rows, self.info) + (
            render_end_to_end(e2e, self.info["reference_name"]) if e2e else "")

    def json_text(self) -> str:
        """The run as JSON (``--json``): the header's facts, ``rows`` and ``end_to_end``."""
        return json.dumps({**self.info, "rows": [row.as_dict() for row in self.rows],
                           "end_to_end": self.end_to_end}, indent=2)


def run_bench(torch, names: Sequence[str], dtypes: Sequence[str], repeat: int, *,
              blas: str, quick: bool = False, memory: bool = True,
              end_to_end_cases: bool = True) -> BenchRun:
    """Time the cases ``names`` in each of ``dtypes`` against ``torch`` (None: the plain-loop
    references, on scaled-down sizes), ``repeat`` pairs each; their working memory unless
    ``memory`` is false; then the command-line cases when ``end_to_end_cases``.  ``blas`` is
    :func:`blas_name`'s, for the header; ``quick``: tiny sizes, no pauses."""
    naive = torch is None
    small = quick or naive

    from cnngrad import __version__
    from cnngrad.layers import pool

    # the pools' own thread count (they run on threads for large float inputs)
    pool_threads = getattr(pool, "_threads", lambda: "?")()
    threads: dict[str, Any] = {"blas": None, "cnngrad_pool": pool_threads}
    notes = []
    if torch is not None:
        torch.set_num_threads(cores())
        threads["torch"] = torch.get_num_threads()
        reference_name = f"torch {torch.__version__.split('+')[0]}"
        info_conv, info_pool = "torch conv2d + y.backward(delta)", "torch forward + backward"
    else:
        reference_name = "naive"
        info_conv = info_pool = "the plain-loop _naive references"
        notes.append("torch is not installed (pip install 'cnngrad[bench]'): the reference is "
                     "cnngrad's plain-loop naive kernels, which are slow, so every case is "
                     "scaled down; the targets are for torch and do not apply")
    if any(name in V11_CASES for name in names):
        notes.append(V11_NOTE)
    if quick:
        notes.append("--quick: tiny sizes, a smoke test; the times mean nothing")
    busy_at_start = machine_busy(0.5 if quick else 2.0)
    matmul_size = 256 if small else 2048
    peaks: dict[str, float] = {}  # the best of the peaks measured beside the cases
    threads["blas"] = blas_threads()
    # large convolutions split their images over threads, each with a one-thread BLAS
    from cnngrad.layers import conv

    limit = getattr(conv, "MAX_THREADS", None)
    if limit is not None and threads["blas"] is not None:
        threads["cnngrad_conv"] = min(cores(), threads["blas"], limit)
    # the BLAS that adds the stride-1 convolutions' products (CNNGRAD_BLAS, docs/performance.md)
    threads["cnngrad_blas"] = blas

    rows = []
    for name in names:
        case = case_for(name, small)
        for dtype in dtypes:
            ops = make_operands(case, dtype)
            ours = cnngrad_run(case, ops)
            reference = cnngrad_run(case, ops, naive=True) if naive else torch_run(torch, case, ops)
            # the naive reference is a cnngrad run too: a conv run's outputs start with y
            theirs = gradients(case, reference()) if naive else reference()
            difference = relative_difference(gradients(case, ours()), theirs)
            # the peak beside the case: a busy machine moves both together
            peak = matmul_peak(dtype, matmul_size)
            peaks[dtype] = max(peaks.get(dtype, 0.0), peak)
            # the pauses against spinning threads matter for real sizes only
            timing = time_pairs(ours, reference, repeat, 0.0 if quick else SETTLE_SECONDS)
            ours_s, reference_s = timing.ours / case.calls, timing.reference / case.calls
            gflops = case.flops / ours_s / 1e9 if case.flops else None
            rows.append(Row(name, case.label, dtype, ours_s, reference_s, timing.ratio,
                            None if naive else case.targets[dtype], gflops,
                            None if gflops is None else gflops / peak, difference, None, peak,
                            timing.pair_ratios))
            del ops, ours, reference
    if memory:
        runs = [(row.name, row.dtype) for row in rows]
        # a fresh process per case for real sizes; the tiny ones share one, for speed
        memories = (measure_memory(runs, small) if small
                    else [m for run in runs for m in measure_memory([run], small)])
        for row, memory_mib in zip(rows, memories):
            row.memory = memory_mib

    e2e = []
    if end_to_end_cases:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="cnngrad-bench-") as folder:
            e2e = end_to_end(torch, max(repeat, 3), Path(folder))

    info = {"cnngrad": __version__, "reference_name": reference_name, "reference_conv": info_conv,
            "reference_pool": info_pool, "repeat": repeat, "cores": cores(), "threads": threads,
            "matmul_size": matmul_size, "matmul_peak": peaks, "notes": notes, "small_sizes": small,
            "peak_rss_mib": _peak_rss_kib() / 1024, "machine_busy": busy_at_start,
            "pages": pages(),
            "versions": {"numpy": np.__version__,
                         **({"torch": torch.__version__} if torch is not None else {})}}
    return BenchRun(rows, info, e2e)


if __name__ == "__main__":
    __import__("cnngrad.cli.bench", fromlist=["run"]).run("cnngrad.bench")
