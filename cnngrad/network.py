"""Run a validated problem forward, then backward, into a :class:`Trace`.

Each layer type's family (:mod:`cnngrad.families`) has its *step*:
``forward(spec, inputs) -> y`` and ``backward(spec, inputs, y, delta_out) -> (delta_ins,
grads)``, one delta per input.  Steps adapt the spec's user-facing parameters (a 2-D kernel,
a number bias, ``flip_kernel``) to the layer kernels in :mod:`cnngrad.layers` and back: a
parameter's gradient comes out in exactly the shape the parameter was given in.  The contract
that every step returns one gradient per parameter, in that shape, is checked in one place,
:func:`_check_grads`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import ExactUnsupportedError
from cnngrad.families import family_of, loss_family
from cnngrad.problem import LayerSpec, Layout, Problem


@dataclass
class LayerTrace:
    """One layer's numbers, internal layout (maps (N, C, H, W), vectors (N, K))."""

    spec: LayerSpec
    input: np.ndarray
    output: np.ndarray
    delta_out: np.ndarray | None = None
    delta_in: np.ndarray | None = None
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # shaped as the parameters given

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def index(self) -> int:
        return self.spec.index


@dataclass
class Trace:
    """Everything a report shows: each layer's output, deltas and gradients, and the loss."""

    problem: Problem
    layers: list[LayerTrace]
    loss: Any = None  # float, Fraction or None (delta given)
    lr: Any = None  # the SGD step size when --lr was given

    @property
    def layout(self) -> Layout:
        return self.problem.layout

    def shown(self, internal: np.ndarray) -> np.ndarray:
        """An activation or delta in the shape the user thinks in."""
        return self.layout.to_display(internal)

    def updated(self, layer: LayerTrace) -> dict[str, np.ndarray]:
        """Each parameter after one SGD step p − η·dE/dp ({} without --lr)."""
        if self.lr is None:
            return {}
        return {key: value - self.lr * layer.grads[key]
                for key, value in layer.spec.params.items()}

    def tensors(self) -> Iterator[tuple[str, Any]]:
        """Every named result as (dotted path, value in display shape), forward order."""
        yield "loss", self.loss
        for layer in self.layers:
            yield f"{layer.name}.output", self.shown(layer.output)
            yield f"{layer.name}.delta_out", self.shown(layer.delta_out)
            yield f"{layer.name}.delta_in", self.shown(layer.delta_in)
            for key, grad in layer.grads.items():
                yield f"{layer.name}.grads.{key}", grad
            for key, value in self.updated(layer).items():
                yield f"{layer.name}.updated.{key}", value

    def tensor(self, path: str) -> Any:
        """The value at a dotted path without an element index (``conv2d_1.grads.kernel``)."""
        for key, value in self.tensors():
            if key == path:
                return value
        raise KeyError(path)


# --------------------------------------------------------------------------- steps


def _check_grads(layer: LayerTrace, delta_in: np.ndarray, grads: dict) -> None:
    """The one place the backward contract is checked: a delta shaped like the input and one
    gradient per parameter, shaped exactly as the parameter was given."""
    params = layer.spec.params
    if delta_in.shape != layer.input.shape:
        raise AssertionError(f"{layer.name}: delta_in {delta_in.shape} != input "
                             f"{layer.input.shape}")
    if set(grads) != set(params):
        raise AssertionError(f"{layer.name}: gradients {sorted(grads)} != parameters "
                             f"{sorted(params)}")
    for key, value in params.items():
        if np.shape(grads[key]) != value.shape:
            raise AssertionError(f"{layer.name}: grads.{key} {np.shape(grads[key])} != "
                                 f"{value.shape}")


# --------------------------------------------------------------------------- running


def check_exact_supported(problem: Problem) -> None:
    """Exact arithmetic covers rational layers only; name the first that is not."""
    for spec in problem.layers:
        if not family_of(spec).rational:
            raise ExactUnsupportedError(
                f"{spec.type} is not rational, so --exact cannot compute it", where=spec.where
                or spec.name, file=problem.file, hint="drop --exact for this problem")
    if problem.loss is not None and not loss_family(problem.loss.type).rational:
        raise ExactUnsupportedError(
            f"{problem.loss.type} uses exp and log, so --exact cannot compute it", where="loss",
            file=problem.file, hint="use an mse loss or drop --exact")


def forward(problem: Problem, dtype=None, progress: Callable[[str], None] | None = None
            ) -> list[LayerTrace]:
    """Each layer's input and output, in forward order; ``progress`` (if given) is called
    with a description before each layer."""
    x = problem.x if dtype is None else problem.x.astype(dtype)
    traces = []
    for spec in problem.layers:
        if progress is not None:
            progress(f"forward {spec.name}")
        y = family_of(spec).forward(_cast_spec(spec, dtype), [x])
        traces.append(LayerTrace(spec=spec, input=x, output=y))
        x = y
    return traces


def loss_and_delta(problem: Problem, output: np.ndarray):
    """E and dE/d(output of the last layer); E is None when the problem gave the delta."""
    if problem.loss is None:
        delta = problem.delta
        return None, delta if output.dtype == object else delta.astype(output.dtype)
    return loss_family(problem.loss.type).loss_and_delta(problem.loss, output)


def run(problem: Problem, *, lr: Any = None, dtype=None,
        progress: Callable[[str], None] | None = None) -> Trace:
    """Forward, loss, backward: the whole problem.

    Parameters
    ----------
    problem : Problem
    lr : float or Fraction, optional
        With a step size, the trace also reports each parameter after one SGD step.
    dtype : numpy dtype, optional
        Compute in this float dtype (default: float64, or exact Fractions for an exact problem).
    progress : callable(str), optional
        Called with a description before each of the 2·L + 1 steps (each layer forward, the
        loss, each layer backward): the CLI's progress bar.
    """
    if problem.exact:
        check_exact_supported(problem)
    layers = forward(problem, dtype, progress)
    if progress is not None:
        progress("loss")
    loss, delta = loss_and_delta(problem, layers[-1].output)
    for layer in reversed(layers):
        if progress is not None:
            progress(f"backward {layer.name}")
        layer.delta_out = delta
        (delta_in,), grads = family_of(layer.spec).backward(
            _cast_spec(layer.spec, dtype), [layer.input], layer.output, delta)
        _check_grads(layer, delta_in, grads)
        layer.delta_in, layer.grads = delta_in, grads
        delta = delta_in
    if problem.exact and lr is not None and not isinstance(lr, Fraction):
        lr = Fraction(str(lr))
    return Trace(problem=problem, layers=layers, loss=_scalar(loss), lr=lr)


def _scalar(value):
    if value is None or isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    return float(value)


def _cast_spec(spec: LayerSpec, dtype):
    """The spec with its parameters in the compute dtype (float32 runs)."""
    if dtype is None or np.dtype(dtype) == np.float64:
        return spec
    return family_of(spec).cast(spec, dtype)
