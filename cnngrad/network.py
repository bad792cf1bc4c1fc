"""Run a validated problem forward, then backward, into a :class:`Trace`.

Each layer type has one *step*: ``forward(spec, x) -> y`` and
``backward(spec, x, y, delta_out) -> (delta_in, grads)``.  Steps adapt the spec's user-facing
parameters (a 2-D kernel, a number bias, ``flip_kernel``) to the layer kernels in
:mod:`cnngrad.layers` and back: a parameter's gradient comes out in exactly the shape the
parameter was given in.  The contract that every step returns one gradient per parameter, in
that shape, is checked in one place, :func:`_check_grads`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import ExactUnsupportedError
from cnngrad.layers import activations, dense, losses
from cnngrad.layers.conv import conv2d_backward, conv2d_forward
from cnngrad.problem import (ActivationSpec, Conv2dSpec, DenseSpec, LayerSpec, Layout, Pool2dSpec,
                             Problem)

INEXACT_TYPES = ("sigmoid", "tanh", "cross_entropy")


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


@dataclass(frozen=True)
class Step:
    forward: Callable[[Any, np.ndarray], np.ndarray]
    backward: Callable[[Any, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, dict]]


def _conv_weight(spec: Conv2dSpec) -> np.ndarray:
    # flip_kernel is true convolution: the kernel as given, rotated 180°, is what slides
    return spec.weight[:, :, ::-1, ::-1] if spec.flip_kernel else spec.weight


def _conv_bias(spec: Conv2dSpec):
    if spec.bias_kind == "none":
        return None
    if spec.bias_kind == "scalar":
        return spec.bias.reshape(1)
    if spec.bias_kind == "filter":
        return spec.bias
    if spec.bias_kind == "untied":
        n_filters, h_out, w_out = spec.out_shape[1:]
        return spec.bias.reshape(n_filters, h_out, w_out)
    raise ValueError(f"unknown bias kind {spec.bias_kind!r}")


def _conv_args(spec: Conv2dSpec) -> dict:
    return dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation,
                groups=spec.groups, padding_mode=spec.padding_mode)


def _conv_forward(spec: Conv2dSpec, x: np.ndarray) -> np.ndarray:
    return conv2d_forward(x, _conv_weight(spec), _conv_bias(spec), **_conv_args(spec))


def _conv_backward(spec: Conv2dSpec, x, y, delta_out):
    delta_in, grad_weight, grad_bias_per_filter = conv2d_backward(
        x, _conv_weight(spec), delta_out, **_conv_args(spec))
    if spec.flip_kernel:
        # w_used = rot180(w_given) ⇒ dE/dw_given = rot180(dE/dw_used)
        grad_weight = grad_weight[:, :, ::-1, ::-1]
    grads = {"kernel": np.ascontiguousarray(grad_weight).reshape(spec.kernel.shape)}
    if spec.bias_kind == "scalar":
        grads["bias"] = np.asarray(delta_out.sum()).reshape(())
    elif spec.bias_kind == "filter":
        grads["bias"] = grad_bias_per_filter
    elif spec.bias_kind == "untied":
        # one bias per output position: only the batch is summed over
        grads["bias"] = delta_out.sum(axis=0).reshape(spec.bias.shape)
    elif spec.bias_kind != "none":
        raise ValueError(f"unknown bias kind {spec.bias_kind!r}")
    return delta_in, grads


def _pool_args(spec: Pool2dSpec) -> dict:
    return dict(size=spec.size, stride=spec.stride, padding=spec.padding,
                ceil_mode=spec.ceil_mode)


# cnngrad.layers.pool is imported by the pooling steps only: a problem without pooling does
# not pay for it at start-up (docs/performance.md)
_POOL_KERNELS = ("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward",
                 "avgpool2d_backward")


def __getattr__(name: str):
    # the pooling kernels stay reachable as this module's names, loaded on first use
    if name in _POOL_KERNELS:
        from cnngrad.layers import pool

        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _maxpool_forward(spec: Pool2dSpec, x):
    from cnngrad.layers import pool

    return pool.maxpool2d_forward(x, **_pool_args(spec))


def _maxpool_backward(spec: Pool2dSpec, x, y, delta_out):
    from cnngrad.layers import pool

    return pool.maxpool2d_backward(x, delta_out, ties=spec.ties, **_pool_args(spec)), {}


def _avgpool_forward(spec: Pool2dSpec, x):
    from cnngrad.layers import pool

    return pool.avgpool2d_forward(x, count_include_pad=spec.count_include_pad,
                                  **_pool_args(spec))


def _avgpool_backward(spec: Pool2dSpec, x, y, delta_out):
    from cnngrad.layers import pool

    return pool.avgpool2d_backward(x, delta_out, count_include_pad=spec.count_include_pad,
                                   **_pool_args(spec)), {}


def _dense_forward(spec: DenseSpec, x):
    return dense.dense_forward(x, spec.weights, spec.bias)


def _dense_backward(spec: DenseSpec, x, y, delta_out):
    delta_in, grad_weights, grad_bias = dense.dense_backward(x, spec.weights, delta_out)
    grads = {"weights": grad_weights}
    if spec.bias is not None:
        grads["bias"] = grad_bias
    return delta_in, grads


STEPS: dict[str, Step] = {
    "conv2d": Step(_conv_forward, _conv_backward),
    "maxpool2d": Step(_maxpool_forward, _maxpool_backward),
    "avgpool2d": Step(_avgpool_forward, _avgpool_backward),
    "relu": Step(lambda s, x: activations.relu_forward(x),
                 lambda s, x, y, d: (activations.relu_backward(x, d), {})),
    "leaky_relu": Step(lambda s, x: activations.leaky_relu_forward(x, s.slope),
                       lambda s, x, y, d: (activations.leaky_relu_backward(x, d, s.slope), {})),
    "sigmoid": Step(lambda s, x: activations.sigmoid_forward(x),
                    lambda s, x, y, d: (activations.sigmoid_backward(y, d), {})),
    "tanh": Step(lambda s, x: activations.tanh_forward(x),
                 lambda s, x, y, d: (activations.tanh_backward(y, d), {})),
    "flatten": Step(lambda s, x: dense.flatten_forward(x),
                    lambda s, x, y, d: (dense.flatten_backward(x.shape, d), {})),
    "dense": Step(_dense_forward, _dense_backward),
}


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
        if spec.type in INEXACT_TYPES:
            raise ExactUnsupportedError(
                f"{spec.type} is not rational, so --exact cannot compute it", where=spec.where
                or spec.name, file=problem.file, hint="drop --exact for this problem")
    if problem.loss is not None and problem.loss.type in INEXACT_TYPES:
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
        y = STEPS[spec.type].forward(_cast_spec(spec, dtype), x)
        traces.append(LayerTrace(spec=spec, input=x, output=y))
        x = y
    return traces


def loss_and_delta(problem: Problem, output: np.ndarray):
    """E and dE/d(output of the last layer); E is None when the problem gave the delta."""
    if problem.loss is None:
        delta = problem.delta
        return None, delta if output.dtype == object else delta.astype(output.dtype)
    spec = problem.loss
    if spec.type == "mse":
        target = spec.target if output.dtype == object else spec.target.astype(output.dtype)
        return losses.mse(output, target, spec.reduction)
    if spec.type == "cross_entropy":
        loss, delta = losses.cross_entropy(output, spec.target)
        return loss, delta.astype(output.dtype)
    raise ValueError(f"unknown loss {spec.type!r}; allowed: mse, cross_entropy")


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
        delta_in, grads = STEPS[layer.type].backward(_cast_spec(layer.spec, dtype), layer.input,
                                                     layer.output, delta)
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
    import copy

    cast = copy.copy(spec)
    for attr in ("weight", "bias", "weights"):
        value = getattr(cast, attr, None)
        if isinstance(value, np.ndarray):
            setattr(cast, attr, value.astype(dtype))
    if isinstance(cast, ActivationSpec):
        cast.slope = np.dtype(dtype).type(cast.slope)
    return cast
