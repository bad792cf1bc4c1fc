"""Central finite differences for every parameter and the input, against the engine.

The energy differentiated is the problem's loss, or, when the problem gives the delta at the
last layer's output instead, E = Σ delta·output (whose gradient the engine computes).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from cnngrad.network import Trace, forward, loss_and_delta, run
from cnngrad.problem import Conv2dSpec, DenseSpec, Problem


def energy(problem: Problem) -> float:
    """E for the problem as it stands (the loss, or Σ delta·output)."""
    layers = forward(problem)
    output = layers[-1].output
    loss, _ = loss_and_delta(problem, output)
    if loss is None:
        return float((problem.delta * output).sum())
    return float(loss)


def with_tensor(problem: Problem, target: str, value: np.ndarray) -> Problem:
    """A shallow copy of the problem with one tensor replaced: ``"input"`` or
    ``"<layer>.<param>"`` (the parameter in the shape it was given)."""
    new = copy.copy(problem)
    if target == "input":
        new.input = value
        new.x = value.reshape(problem.x.shape)
        return new
    name, key = target.split(".")
    new.layers = list(problem.layers)
    for i, spec in enumerate(new.layers):
        if spec.name != name:
            continue
        spec = copy.copy(spec)
        if isinstance(spec, Conv2dSpec) and key == "kernel":
            spec.kernel = value
            spec.weight = value.reshape(spec.weight.shape)
        elif isinstance(spec, (Conv2dSpec, DenseSpec)) and key in ("bias", "weights"):
            setattr(spec, key, value)
        else:
            raise KeyError(target)
        new.layers[i] = spec
        return new
    raise KeyError(target)


def tensors_to_check(problem: Problem) -> dict[str, np.ndarray]:
    """Every differentiable tensor: each layer's parameters, then the input."""
    out = {}
    for spec in problem.layers:
        for key, value in spec.params.items():
            out[f"{spec.name}.{key}"] = value
    out["input"] = problem.input
    return out


def numeric_gradient(problem: Problem, target: str, eps: float = 1e-6) -> np.ndarray:
    """dE/d(tensor) by central differences, (E(t + ε) − E(t − ε)) / 2ε per element."""
    base = np.array(tensors_to_check(problem)[target], dtype=np.float64)
    grad = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        plus, minus = base.copy(), base.copy()
        plus[index] += eps
        minus[index] -= eps
        grad[index] = (energy(with_tensor(problem, target, plus))
                       - energy(with_tensor(problem, target, minus))) / (2 * eps)
    return grad


def analytic_gradient(trace: Trace, target: str) -> np.ndarray:
    """The engine's gradient for the same target, in the tensor's given shape."""
    if target == "input":
        return trace.layers[0].delta_in.reshape(trace.problem.input.shape)
    name, key = target.split(".")
    for layer in trace.layers:
        if layer.name == name:
            return layer.grads[key]
    raise KeyError(target)


@dataclass
class Comparison:
    target: str
    analytic: np.ndarray
    numeric: np.ndarray

    @property
    def abs_error(self) -> np.ndarray:
        return np.abs(self.analytic - self.numeric)

    @property
    def rel_error(self) -> np.ndarray:
        scale = np.maximum(np.abs(self.analytic), np.abs(self.numeric))
        return np.where(scale > 0, self.abs_error / np.where(scale > 0, scale, 1), 0.0)


def compare_all(problem: Problem, eps: float = 1e-6) -> list[Comparison]:
    """Analytic against numeric for every parameter and the input."""
    trace = run(problem)
    return [Comparison(target, np.asarray(analytic_gradient(trace, target), dtype=np.float64),
                       numeric_gradient(problem, target, eps))
            for target in tensors_to_check(problem)]
