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
from cnngrad.kinks import settle_kinks
from cnngrad.problem import INPUT, LayerSpec, Layout, Problem


@dataclass
class LayerTrace:
    """One layer's numbers, internal layout (maps (N, C, H, W) or (N, C, L), vectors (N, K)).

    ``input`` is what it reads (the first of ``inputs`` for ``add``/``concat``);
    ``delta_out`` is dE/d(its output), the sum of what every layer reading it sends back;
    ``delta_in`` is dE/d(its input), or for a layer reading several (``add``, ``concat``) a
    dict input name → dE/d(that input), a name read twice holding the sum of both."""

    spec: LayerSpec
    input: np.ndarray
    output: np.ndarray
    delta_out: np.ndarray | None = None
    delta_in: Any = None  # ndarray, or {input name: ndarray} for add/concat
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # shaped as the parameters given
    inputs: list[np.ndarray] | None = None  # every input, in the order of spec.inputs
    #: cells of its output set to their values as written (a kink reads them: cnngrad.kinks),
    #: internal index → value; None when the floats stood
    settled: dict | None = None

    def __post_init__(self) -> None:
        if self.inputs is None:
            self.inputs = [self.input]

    @property
    def reads_many(self) -> bool:
        return isinstance(self.delta_in, dict) or len(self.spec.inputs) > 1

    def delta_in_items(self) -> list[tuple[str | None, np.ndarray]]:
        """(input name or None for a one-input layer, dE/d(that input))."""
        if isinstance(self.delta_in, dict):
            return list(self.delta_in.items())
        return [(None, self.delta_in)]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def index(self) -> int:
        return self.spec.index


def delta_in_of(spec: LayerSpec, delta_ins: list) -> Any:
    """A layer's delta_in from its step's input deltas, one per name in ``spec.inputs``: a
    dict by input name for a layer reading several (a name read twice: one entry holding
    the sum of both, what PyTorch adds), else the one array."""
    if not reads_many(spec):
        return delta_ins[0]
    per_name: dict[str, Any] = {}
    for name, value in zip(spec.inputs, delta_ins):
        per_name[name] = value if name not in per_name else per_name[name] + value
    return per_name


def reads_many(spec: LayerSpec) -> bool:
    """Whether a layer's delta_in is a dict, one entry per input name (``add``, ``concat``,
    any layer reading several outputs) rather than one array."""
    return len(spec.inputs) > 1 or family_of(spec).reads_many


def delta_in_path(layer_name: str, source: str | None) -> str:
    """``conv2d_1.delta_in``, or ``add_1.delta_in.relu_1`` for one input (``source``) of an
    add or concat."""
    return f"{layer_name}.delta_in" + (f".{source}" if source is not None else "")


@dataclass
class Trace:
    """Everything a report shows: each layer's output, deltas and gradients, and the loss."""

    problem: Problem
    layers: list[LayerTrace]
    loss: Any = None  # float, Fraction or None (delta given)
    lr: Any = None  # the SGD step size when --lr was given
    #: dE/d(the problem's input), internal: the sum over every layer that reads it
    input_delta: np.ndarray | None = None
    #: kinks within rounding noise that could not be decided exactly (cnngrad.kinks)
    warnings: list = field(default_factory=list)  # kinks.KinkWarning, said on stderr
    #: the layer the backward pass stopped before (``explain``): its delta_out is complete,
    #: its own delta_in and gradients and every earlier layer's backward are not computed
    stopped_before: str | None = None
    #: the float dtype computed in (None: float64, or Fractions for an exact problem)
    dtype: Any = None

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
        return {key: sgd_step(value, layer.grads[key], self.lr)
                for key, value in layer.spec.params.items()}

    def absent_parameter(self, path: str) -> str | None:
        """For ``<layer>.grads.<p>`` (or ``.updated.<p>``) of a layer whose type has a
        parameter p that this problem leaves out (a conv without a bias), or of a layer whose
        type has none (a relu): the words saying so; None for any other path."""
        name, _, rest = path.partition(".")
        kind, _, param = rest.partition(".")
        if kind not in ("grads", "updated"):
            return None
        for layer in self.layers:
            if layer.name == name:
                family = family_of(layer.spec)
                if not family.param_labels:  # nothing to be a gradient of: say what it has
                    sources = dict.fromkeys(layer.spec.inputs) if family.reads_many else [None]
                    paths = [f"{name}.output", f"{name}.delta_out",
                             *(delta_in_path(name, source) for source in sources)]
                    return (f"{name} ({layer.spec.type}) has no parameters, so no {path}: "
                            f"its paths are {', '.join(paths[:-1])} and {paths[-1]}")
                if param in family.param_labels and param not in layer.spec.params:
                    return f"{name} has no {param} (the problem gives it none), so no {path}"
                return None
        return None

    def tensors(self) -> Iterator[tuple[str, Any]]:
        """Every named result as (dotted path, value in display shape), forward order; a
        backward pass that stopped early (:func:`run`'s ``stop_before``) leaves out what it
        did not compute."""
        yield "loss", self.loss
        for layer in self.layers:
            yield f"{layer.name}.output", self.shown(layer.output)
            if layer.delta_out is not None:
                yield f"{layer.name}.delta_out", self.shown(layer.delta_out)
            if layer.delta_in is None:
                continue
            for source, value in layer.delta_in_items():
                yield delta_in_path(layer.name, source), self.shown(value)
            for key, grad in layer.grads.items():
                yield f"{layer.name}.grads.{key}", grad
            for key, value in self.updated(layer).items():
                yield f"{layer.name}.updated.{key}", value

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor a whole run has (the loss when there is one), path → shown shape,
        forward order: what :meth:`tensors` gives, and the shapes of what a backward pass that
        stopped early left out (a delta is shaped as the tensor it is of, a gradient or an
        updated parameter as the parameter)."""
        shapes = {path: np.shape(value) for path, value in self.tensors() if value is not None}
        if self.stopped_before is None:
            return shapes
        every = {"loss": ()} if self.loss is not None else {}
        for layer in self.layers:
            every[f"{layer.name}.output"] = shapes[f"{layer.name}.output"]
            every[f"{layer.name}.delta_out"] = self.layout.display_shape(layer.output.shape)
            names = dict.fromkeys(layer.spec.inputs) if reads_many(layer.spec) else [None]
            for name in names:
                x = layer.inputs[list(layer.spec.inputs).index(name)] if name else layer.input
                every[delta_in_path(layer.name, name)] = self.layout.display_shape(x.shape)
            for kind in ("grads", "updated") if self.lr is not None else ("grads",):
                for key, value in layer.spec.params.items():
                    every[f"{layer.name}.{kind}.{key}"] = np.shape(value)
        # what was computed keeps its own shape
        return {path: shapes.get(path, shape) for path, shape in every.items()}

    def readers(self, name: str) -> list[LayerTrace]:
        """The layers that read the output named ``name`` (``"input"``: the input)."""
        return [layer for layer in self.layers if name in layer.spec.inputs]

    def delta_sent(self, reader: LayerTrace, name: str) -> np.ndarray:
        """What ``reader`` sends back to the output named ``name``: its delta_in (the entry of
        that name for add/concat)."""
        if isinstance(reader.delta_in, dict):
            return reader.delta_in[name]
        return reader.delta_in

    def tensor(self, path: str) -> Any:
        """The value at a dotted path without an element index (``conv2d_1.grads.kernel``)."""
        for key, value in self.tensors():
            if key == path:
                return value
        raise KeyError(path)


# --------------------------------------------------------------------------- steps


def _check_grads(layer: LayerTrace, delta_ins: list, grads: dict) -> None:
    """The one place the backward contract is checked: one delta per input shaped like it,
    and one gradient per parameter, shaped exactly as the parameter was given."""
    params = layer.spec.params
    if len(delta_ins) != len(layer.inputs):
        raise AssertionError(f"{layer.name}: {len(delta_ins)} deltas for "
                             f"{len(layer.inputs)} inputs")
    for delta_in, x in zip(delta_ins, layer.inputs):
        if np.shape(delta_in) != x.shape:
            raise AssertionError(f"{layer.name}: delta_in {np.shape(delta_in)} != input "
                                 f"{x.shape}")
    if set(grads) != set(params):
        raise AssertionError(f"{layer.name}: gradients {sorted(grads)} != parameters "
                             f"{sorted(params)}")
    for key, value in params.items():
        if np.shape(grads[key]) != value.shape:
            raise AssertionError(f"{layer.name}: grads.{key} {np.shape(grads[key])} != "
                                 f"{value.shape}")


# --------------------------------------------------------------------------- running


def bias_gradient_always_zero(problem: Problem, spec: LayerSpec) -> str | None:
    """Why the gradient of ``spec``'s bias is 0 whatever the numbers, or None: one number
    added to every input of a softmax or of a cross-entropy loss (a shift changes neither),
    or a bias read only by batch norms in training mode (which take each channel's mean
    away).  Float arithmetic leaves rounding noise there (``backward``'s table says so)."""
    readers = problem.readers(spec.name)
    if readers and all(family_of(layer).normalises_channels
                       and getattr(layer, "mode", "train") == "train" for layer in readers):
        return (f"{readers[0].type} in training mode takes each channel's mean away, the bias "
                f"with it")
    if np.size(spec.params["bias"]) != 1:
        return None
    # one number moves every output alike, and so every input of the layers after a flatten
    finals, to_loss, pending = [], False, [spec.name]
    while pending:
        name = pending.pop()
        after = problem.readers(name)
        to_loss |= not after  # the network's output, which the loss reads
        for layer in after:
            passes = family_of(layer).shift_passes and len(layer.inputs) == 1
            (pending.append(layer.name) if passes else finals.append(layer))
    if to_loss and not (problem.loss is not None and loss_family(problem.loss.type).shift_free):
        return None
    if not all(family_of(layer).shift_free for layer in finals):
        return None
    what = finals[0].type if finals else f"the {problem.loss.type} loss"
    return f"one number added to every input of {what} changes nothing"


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
    outputs = {INPUT: x}  # every output by name: a layer may read any earlier one
    traces = []
    for spec in problem.layers:
        if progress is not None:
            progress(f"forward {spec.name}")
        inputs = [outputs[name] for name in spec.inputs]
        y = family_of(spec).forward(_cast_spec(spec, dtype), inputs)
        traces.append(LayerTrace(spec=spec, input=inputs[0], output=y, inputs=inputs))
        outputs[spec.name] = y
    return traces


def backward(layers: list[LayerTrace], delta, backward_step=None,
             progress: Callable[[str], None] | None = None, dtype=None,
             stop_before: str | None = None) -> np.ndarray | None:
    """Run the backward pass over traced layers (filled in place: delta_out, delta_in,
    grads) from dE/d(last output) ``delta``; returns dE/d(the problem's input).

    An output read by several layers gets the sum of what each sends back (the multivariate
    chain rule).  ``backward_step(layer, delta_out) -> (delta_ins, grads)`` replaces the
    families' steps (the slips of ``check``).  With ``stop_before`` (a layer's name) the pass
    ends once that layer's delta_out is complete (every later layer has sent its share back)
    and returns None: what ``explain`` needs of a path of that layer."""
    pending: dict[str, Any] = {layers[-1].name: delta}

    def send(name: str, value) -> None:
        pending[name] = value if name not in pending else pending[name] + value

    for layer in reversed(layers):
        delta_out = pending.pop(layer.name)
        layer.delta_out = delta_out
        if layer.name == stop_before:
            return None
        if progress is not None:
            progress(f"backward {layer.name}")
        if backward_step is None:
            delta_ins, grads = family_of(layer.spec).backward(
                _cast_spec(layer.spec, dtype), layer.inputs, layer.output, delta_out)
        else:
            delta_ins, grads = backward_step(layer, delta_out)
        delta_ins = list(delta_ins)
        if backward_step is None:  # a slip's step may give gradients of another shape
            _check_grads(layer, delta_ins, grads)
        layer.delta_in = delta_in_of(layer.spec, delta_ins)
        layer.grads = grads
        for name, value in zip(layer.spec.inputs, delta_ins):
            send(name, value)
    return pending.get(INPUT)


def loss_and_delta(problem: Problem, output: np.ndarray):
    """E and dE/d(output of the last layer); E is None when the problem gave the delta."""
    if problem.loss is None:
        delta = problem.delta
        return None, delta if output.dtype == object else delta.astype(output.dtype)
    loss, delta = loss_family(problem.loss.type).loss_and_delta(problem.loss, output)
    if isinstance(loss, (float, np.floating)) and loss == 0:
        loss = abs(loss)  # −(0·log 1) is −0.0, which torch reports as 0.0
    return loss, delta


def run(problem: Problem, *, lr: Any = None, dtype=None,
        progress: Callable[[str], None] | None = None, stop_before: str | None = None
        ) -> Trace:
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
    stop_before : str, optional
        A layer's name: the backward pass ends once its delta_out is complete, leaving its own
        delta_in and gradients and every earlier layer's backward uncomputed
        (``Trace.stopped_before``).  ``explain`` of that layer's output, deltas or gradients
        needs no more: its terms are built from the layer's inputs and delta_out.  The reports
        (tables, JSON, check) need a whole run.
    """
    if stop_before is not None and stop_before not in {spec.name for spec in problem.layers}:
        raise ValueError(f"stop_before must name a layer of the problem, got {stop_before!r}")
    if problem.exact:
        check_exact_supported(problem)
    layers = forward(problem, dtype, progress)
    # a ReLU input or a tie that is exact in the numbers as written is decided exactly
    layers, warnings = settle_kinks(problem, layers, dtype)
    if progress is not None:
        progress("loss")
    loss, delta = loss_and_delta(problem, layers[-1].output)
    input_delta = backward(layers, delta, progress=progress, dtype=dtype,
                           stop_before=stop_before)
    if problem.exact and lr is not None and not isinstance(lr, Fraction):
        lr = Fraction(str(lr))
    return Trace(problem=problem, layers=layers, loss=_scalar(loss, dtype), lr=lr,
                 input_delta=input_delta, warnings=warnings, stopped_before=stop_before,
                 dtype=dtype)


def sgd_step(param, grad, lr):
    """p − η·dE/dp, in the dtype the gradient was computed in (float32 with --dtype float32,
    as the parameter was cast for the forward pass; the given float64 one otherwise)."""
    if isinstance(grad, (np.ndarray, np.floating)) and grad.dtype == np.float32:
        return np.asarray(param, dtype=np.float32) - np.float32(lr) * grad
    return param - lr * grad


def _scalar(value, dtype=None):
    if value is None or isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if dtype is not None:
        # a float32 run's loss is a float32 value, as every tensor of it is and as the .npz
        # holds it: cross-entropy's comes back from float64 sums
        value = np.asarray(value, dtype=dtype)[()]
    return float(value)


def _cast_spec(spec: LayerSpec, dtype):
    """The spec with its parameters in the compute dtype (float32 runs)."""
    if dtype is None or np.dtype(dtype) == np.float64:
        return spec
    return family_of(spec).cast(spec, dtype)
