"""relu, leaky_relu, sigmoid, tanh: element-wise activations, everything cnngrad knows about
them.  The numbers come from :mod:`cnngrad.layers.activations`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TYPE_CHECKING

import numpy as np

from cnngrad.errors import join_path
from cnngrad.families.base import Head, LayerFamily, shape_size
from cnngrad.layers import activations
from cnngrad.problem import LayerSpec

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.problem import Problem
    from cnngrad.teach.explain import Explanation, TensorPath
    from cnngrad.teach.gradcheck import Kink, LayerWatch


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class ActivationSpec(LayerSpec):
    slope: Any = 0.01  # leaky_relu only; float or Fraction


# ------------------------------------------------------------------------------- reading a problem


def build_activation(ctx, raw: dict, head: Head) -> ActivationSpec:
    index, name, kind, where, shape = head.index, head.name, head.kind, head.where, head.in_shape
    slope = ctx.number(raw["slope"], join_path(where, "slope")) if "slope" in raw else \
        (Fraction(1, 100) if ctx.exact else 0.01)
    return ActivationSpec(index=index, name=name, type=kind, where=where, out_shape=shape,
                          slope=slope)


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def activation_parts(ex, layer: LayerTrace, index):
    """(o value, x value, local derivative factors, derivative text)."""
    from cnngrad.teach.explain import Factor, scalar, operand, short

    kind = layer.type
    o_value = scalar(layer.input[index])
    x_value = scalar(layer.output[index])
    o = ex.map_named("o", layer.input.shape)(*index)
    x = ex.map_named("x", layer.output.shape)(*index)
    if kind == "relu":
        local = 1 if o_value > 0 else 0
        why = f"{o} = {short(o_value)} {'>' if o_value > 0 else '≤'} 0"
        return [Factor(f"relu'({o})", local, note=why, zero_reason=why)], \
            "relu'(o) = 1 for o > 0, else 0 (also at exactly 0)"
    if kind == "leaky_relu":
        slope = scalar(layer.spec.slope)
        local = 1 if o_value > 0 else slope
        why = f"{o} = {short(o_value)} {'>' if o_value > 0 else '≤'} 0"
        return [Factor(f"leaky_relu'({o})", local, note=why)], \
            f"leaky_relu'(o) = 1 for o > 0, else the slope {short(slope)} (also at 0)"
    if kind == "sigmoid":
        return [Factor(x, x_value),
                Factor(f"(1 - {x})", 1 - x_value, detail=f"1 - {operand(x_value)}")], \
            "σ'(o) = σ(o)·(1 - σ(o)) = x·(1 - x)"
    if kind == "tanh":
        return [Factor(f"(1 - {x}²)", 1 - x_value * x_value,
                       detail=f"1 - {operand(x_value)}²")], "tanh'(o) = 1 - tanh²(o) = 1 - x²"
    raise ValueError(f"unknown activation {kind!r}")


def delta_in_activation(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    o = ex.map_named("o", layer.input.shape)(*index)
    delta = ex.map_named("δ", layer.output.shape)(*index)
    local, rule = activation_parts(ex, layer, index)
    terms = [ex.term(Factor(delta, scalar(layer.delta_out[index])), *local,
                     note=local[0].note)]
    lhs = f"dE/d{o}"
    rhs = f"{delta}·{layer.type}'({o})"
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o}",
                     lhs=lhs, rhs=rhs, terms=terms, symbols=ex.layer_symbols(layer),
                     notes=[f"The local derivative: {rule}. Element-wise, so one term."])


def output_activation(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, _exp, scalar, operand, short

    kind = layer.type
    o = ex.map_named("o", layer.input.shape)(*index)
    x = ex.map_named("x", layer.output.shape)(*index)
    v = scalar(layer.input[index])
    if kind == "relu":
        value, detail = (v if v > 0 else 0 * v), f"max({short(v)}, 0)"
    elif kind == "leaky_relu":
        slope = scalar(layer.spec.slope)
        value = v if v > 0 else slope * v
        detail = short(v) if v > 0 else f"{short(slope)}·{operand(v)}"
    elif kind == "sigmoid":
        value = 1 / (1 + _exp(-v)) if v >= 0 else _exp(v) / (1 + _exp(v))
        detail = f"1/(1 + e^-({short(v)}))"
    elif kind == "tanh":
        value, detail = math.tanh(v), f"tanh({short(v)})"
    else:
        raise ValueError(f"unknown activation {kind!r}")
    terms = [ex.term(Factor(f"{kind}({o})", value, detail=detail))]
    return ex.finish(path, title=f"{x}: {kind} of {o}", lhs=x, rhs=f"{kind}({o})",
                     terms=terms, symbols=ex.layer_symbols(layer), notes=[])


# ------------------------------------------------------------------------------- kinks (gradcheck)


def _branch_note(problem: Problem, name: str) -> str:
    """`` (in a branch that add_1 joins)`` when the layer's output flows into a layer that
    reads several (a residual block's main path), else ``""``."""
    from cnngrad.families import family_of

    reached, frontier = {name}, [name]
    while frontier:
        current = frontier.pop()
        for spec in problem.layers:
            if current in spec.inputs and spec.name not in reached:
                if family_of(spec).reads_many:
                    return f" (in a branch that {spec.name} joins)"
                reached.add(spec.name)
                frontier.append(spec.name)
    return ""


def _relu_kinks(problem: Problem, layer, reach: float) -> tuple[list[Kink], LayerWatch]:
    from cnngrad.families import family_of
    from cnngrad.teach.gradcheck import (Kink, ZERO_RTOL, _IDLE_BEND, LayerWatch,
        _display_index, _number, index_text)

    spec, x = layer.spec, np.asarray(layer.input, dtype=np.float64)
    active = np.asarray(layer.delta_out, dtype=np.float64) != 0
    largest = float(np.max(np.abs(x), initial=0.0))
    zero_tol = ZERO_RTOL * largest
    at_zero = np.abs(x) <= zero_tol
    if spec.type == "relu":
        slopes, used = "0 on the left and 1 on the right", "0"
    else:
        slopes, used = f"{_number(spec.slope)} on the left and 1 on the right", \
            _number(spec.slope)
    kinks = []
    branch = _branch_note(problem, spec.name)
    # a max pool gives a tied 0 no delta, but the same 0 moved up wins its window: its delta
    # being 0 does not say that no gradient depends on it
    idle = "" if any(family_of(reader).takes_maxima
                     for reader in problem.readers(spec.name)) else _IDLE_BEND
    for index in map(tuple, np.argwhere(np.abs(x) <= max(reach, zero_tol))):
        value = float(x[index])
        shown = _display_index(problem, x.shape, index)
        where = index_text(shown)
        if at_zero[index] and value == 0:
            kind = "relu_zero"
            meaning = (f"input 0 at {where}: {spec.type}'s slope is {slopes}, so the derivative "
                       f"is not unique; the engine uses {used} (PyTorch's rule)")
        elif at_zero[index]:
            kind = "relu_zero"
            meaning = (f"input {_number(value)} at {where} is 0 up to rounding (|x| ≤ "
                       f"{ZERO_RTOL:g} × the layer's largest |input|): {spec.type}'s slope is "
                       f"{slopes}; the engine takes the side of the sign")
        else:
            kind = "near_zero"
            meaning = (f"input {_number(value)} at {where} is within a finite-difference step "
                       f"of {spec.type}'s kink at 0: the differences may cross it")
        if branch:
            meaning += branch
        if not active[index]:
            meaning += idle
        kinks.append(Kink(spec.name, kind, shown, (shown,), value, meaning))
    # a move that shifts an input at 0 flips its side one way or the other: the signs suffice
    # the inputs whose delta is 0: a side no gradient depends on, but a bend of E
    watch = LayerWatch(layer=-1, values_at=np.zeros(0, np.int64),
                       signs_at=np.flatnonzero(active), windows=np.zeros((0, 0), np.int64),
                       bends_at=np.flatnonzero(~active))
    return kinks, watch


# -------------------------------------------------------------------- common slips (cnngrad check)


def _relu_at_zero(layer: LayerTrace) -> bool:
    return layer.type in ("relu", "leaky_relu") and bool((layer.input == 0).any())


def _relu_one_at_zero(spec, x, y, delta):
    # the slip: dy/dx = 1 at x = 0 (the contract, as PyTorch: 0 for relu, slope for leaky)
    slope = getattr(spec, "slope", 0) if spec.type == "leaky_relu" else 0
    return np.where(x >= 0, delta, delta * slope), {}


def _output_for_derivative(spec, x, y, delta):
    # the slip: the output itself for the derivative, σ for σ(1 − σ) (tanh for 1 − tanh²)
    return delta * y, {}


def _derivative_of_input(spec, x, y, delta):
    # the slip: σ'(z) as z(1 − z), tanh'(z) as 1 − z², from the input z instead of y
    if spec.type == "sigmoid":
        return delta * x * (1 - x), {}
    if spec.type == "tanh":
        return delta * (1 - x * x), {}
    raise ValueError(f"not a sigmoid or tanh layer: {spec.type!r}")



# --------------------------------------------------------------------------- the families


class _Activation(LayerFamily):
    """An element-wise activation: ``forward(spec, x)`` and ``backward(spec, x, y, delta)``
    of :mod:`cnngrad.layers.activations` (a relu differentiates at its input, a sigmoid at
    its output)."""

    activation_note = ""

    def value_origins(self, spec, origins, x):
        # one function of each cell alone: equal values stay equal (copies stay copies)
        return origins

    def build(self, ctx, raw, head):
        return build_activation(ctx, raw, head)

    def forward(self, spec, inputs):
        return self.apply(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        return [self.derivative(spec, inputs[0], output, delta_out)], {}

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_activation(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_activation(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace

        return [
            (40, Slip("relu_one_at_zero", "matches the ReLU derivative at 0 taken as 1",
                      slip_in_trace("relu_one_at_zero", custom_backward(_relu_at_zero,
                                                                        _relu_one_at_zero)))),
            (41, Slip("derivative_of_input",
                      "matches the sigmoid/tanh derivative taken at the input z instead of the "
                      "output (z(1 − z) instead of σ(z)(1 − σ(z)))",
                      slip_in_trace("derivative_of_input", custom_backward(
                            _smooth_squashing, _derivative_of_input)))),
            (42, Slip("output_as_derivative",
                      "matches the sigmoid/tanh output taken as its derivative (σ instead of "
                      "σ(1 − σ), tanh instead of 1 − tanh²)",
                      slip_in_trace("output_as_derivative", custom_backward(
                            _smooth_squashing, _output_for_derivative)))),
        ]


def _smooth_squashing(layer) -> bool:
    return layer.type in ("sigmoid", "tanh")


class Relu(_Activation):
    type = "relu"
    look_alikes = ("relu6", "elu", "gelu", "selu", "celu", "silu", "prelu", "rrelu",
                   "quickgelu", "hardswish", "swish", "mish")
    since = "1.0"  # contract v1
    kink_at_zero = True  # the slope jumps from 0 (leaky: from slope) to 1 at x = 0
    cuts_to_zero = True
    kink_kinds = {
        "relu_zero": "a relu / leaky_relu input at 0: the slope jumps there",
        "near_zero": "a relu / leaky_relu input within a finite-difference step of 0",
    }

    def apply(self, spec, x):
        return activations.relu_forward(x)

    def derivative(self, spec, x, y, delta):
        return activations.relu_backward(x, delta)

    def kinks(self, problem, layer, reach):
        return _relu_kinks(problem, layer, reach)

    def convention(self, spec):
        return "slope 0 at 0 (PyTorch's rule)"

    def kink_cells(self, spec):
        return shape_size(spec.in_shape)

    def near_kinks(self, spec, inputs, magnitudes, tolerance, output=None):
        """The inputs within rounding noise of the kink at 0 (:mod:`cnngrad.kinks`): |x| ≤
        tolerance × the size of the terms that made x (an input made of no terms, M = 0,
        is an exact 0).  ``output`` (the layer's forward output) is not needed."""
        from cnngrad.kinks import NearKinks, varying_part

        x, size = np.asarray(inputs[0], dtype=np.float64), magnitudes[0]
        # the bound scaled where it varies only: a conv's bound is one number per map
        near = np.abs(x) <= tolerance * varying_part(size)
        if not near.any():  # the common case: one pass, no search for the cells
            return None
        cells = np.argwhere(near & (size > 0))
        return NearKinks("zero", cells, np.arange(len(cells))) if len(cells) else None

    #: relu's output is its input's values or exact zeros (cnngrad.kinks)
    copies_values = True

    def magnitude(self, spec, inputs, magnitudes, output):
        # a cut input is an exact 0 (relu) or slope·x (leaky): no noise passes but its share
        slope = abs(float(spec.slope)) if spec.type == "leaky_relu" else 0.0
        if slope == 0:  # M·1 or M·0: the same numbers as the where below, in fewer passes
            return magnitudes[0] * (np.asarray(inputs[0]) > 0)
        return np.where(np.asarray(inputs[0]) > 0, magnitudes[0], slope * magnitudes[0])


class LeakyRelu(Relu):
    type = "leaky_relu"
    cuts_to_zero = False  # slope·x keeps a negative input's sign
    other_names = ("lrelu", "leakyrelu")
    look_alikes = ()
    fields = ("slope",)
    activation_note = "(its slope is 0.01 unless given; Keras' default is \"slope\": 0.2)"

    def schema_fields(self, ref):
        return {"slope": {**ref("number"), "default": 0.01,
                          "description": "the derivative for x ≤ 0"}}

    copies_values = False  # slope·x is rounded

    def apply(self, spec, x):
        return activations.leaky_relu_forward(x, spec.slope)

    def derivative(self, spec, x, y, delta):
        return activations.leaky_relu_backward(x, delta, spec.slope)

    def given_tensors(self, spec):
        # the slope too: a float32 run that rounds a written 1e-50 to 0 cuts the negative side
        return {**super().given_tensors(spec), "slope": np.asarray(spec.slope)}

    def cast(self, spec, dtype):
        cast = super().cast(spec, dtype)
        cast.slope = np.dtype(dtype).type(cast.slope)
        return cast

    def settings(self, spec):
        return [("slope", str(spec.slope))]

    def convention(self, spec):
        return f"slope {spec.slope} below 0 and at 0 (PyTorch's rule)"


class _Squashing(_Activation):
    """sigmoid, tanh: smooth, not rational."""

    rational = False
    since = "1.0"  # contract v1
    squashes = True  # flat beyond a few units from 0, where its gradient vanishes

    def magnitude(self, spec, inputs, magnitudes, output):
        # (cnngrad.kinks) the output's own rounding, |y|, plus the input's rounding noise
        # carried through the slope, |f'(x)|·M: tanh(0.1 + 0.2 − 0.3) is 5.6e-17, not 0,
        # and its own size alone would hide that from a relu reading it
        y = np.asarray(output, dtype=np.float64)
        return np.abs(y) + np.abs(self.slope_at(y)) * magnitudes[0]


class Sigmoid(_Squashing):
    type = "sigmoid"
    look_alikes = ("hardsigmoid", "logsigmoid")
    endless_decimals = "the sigmoid"  # e^x
    gives = "probabilities"  # each in (0, 1)

    def apply(self, spec, x):
        return activations.sigmoid_forward(x)

    def derivative(self, spec, x, y, delta):
        return activations.sigmoid_backward(y, delta)

    @staticmethod
    def slope_at(y):
        return y * (1 - y)


class Tanh(_Squashing):
    type = "tanh"
    look_alikes = ("hardtanh", "tanhshrink", "softsign")
    endless_decimals = "the tanh"  # e^x

    def apply(self, spec, x):
        return activations.tanh_forward(x)

    def derivative(self, spec, x, y, delta):
        return activations.tanh_backward(y, delta)

    @staticmethod
    def slope_at(y):
        return 1 - y * y


RELU = Relu()
LEAKY_RELU = LeakyRelu()
SIGMOID = Sigmoid()
TANH = Tanh()
