"""flatten: a feature map (N, C, H, W) → a vector (N, C·H·W), channel-major then row by row
(as torch.flatten); under ``"layout": "nhwc"`` row by row with the channel fastest, H×W×C
(as Keras' Flatten on channels-last maps); everything cnngrad knows about it."""

from __future__ import annotations

from typing import TYPE_CHECKING
from dataclasses import dataclass

import numpy as np

from cnngrad.families.base import Head, LayerFamily
from cnngrad.layers import dense
from cnngrad.problem import LayerSpec

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.teach.explain import Explanation, TensorPath


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class FlattenSpec(LayerSpec):
    #: nhwc: the vector reads the map H×W×C row-major, the channel fastest (Keras)
    channels_last: bool = False


# ------------------------------------------------------------------------------- reading a problem


def build_flatten(ctx, raw: dict, head: Head) -> FlattenSpec:
    index, name, kind, where, shape = head.index, head.name, head.kind, head.where, head.in_shape
    out = (shape[0], _prod(shape[1:]))
    channels_last = bool(head.layout.channels_last) and len(shape) > 2
    return FlattenSpec(index=index, name=name, type=kind, where=where, out_shape=out,
                       channels_last=channels_last)


def flatten_step(spec: FlattenSpec, x):
    if spec.channels_last:
        return dense.flatten_forward(np.moveaxis(x, 1, -1))
    return dense.flatten_forward(x)


def flatten_step_backward(spec: FlattenSpec, x_shape, delta_out):
    if spec.channels_last:
        n, c, *sizes = x_shape
        return np.ascontiguousarray(np.moveaxis(delta_out.reshape((n, *sizes, c)), -1, 1))
    return dense.flatten_backward(x_shape, delta_out)


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def flatten_position(ex, layer: LayerTrace, c: int, *cell: int) -> tuple[str, int]:
    b = ex.base
    if len(cell) == 1:  # a 1-D map: (c, l)
        (l,) = cell
        C, L = layer.input.shape[1:]
        if layer.spec.channels_last:
            k = l * C + c
            text = f"k = l·C + c = {l}·{C} + {c} = {k}"
        else:
            k = c * L + l
            text = f"k = c·L + l = {c}·{L} + {l} = {k}"
        return text + (f" (from 0; {k + b} counted from 1)" if b else ""), k
    h, w = cell
    H, W = layer.input.shape[2:]
    if layer.spec.channels_last:
        C = layer.input.shape[1]
        k = h * W * C + w * C + c
        return (f"k = h·W·C + w·C + c = {h}·{W * C} + {w}·{C} + {c} = {k}"
                + (f" (from 0; {k + b} counted from 1)" if b else "")), k
    k = c * H * W + h * W + w
    return (f"k = c·H·W + h·W + w = {c}·{H * W} + {h}·{W} + {w} = {k}"
            + (f" (from 0; {k + b} counted from 1)" if b else "")), k


def delta_in_flatten(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    n, c, *cell = index
    how, k = flatten_position(ex, layer, c, *cell)
    o = ex.map_named("o", layer.input.shape)(*index)
    delta = ex.map_named("δ", layer.output.shape)(n, k)
    terms = [ex.term(Factor(delta, scalar(layer.delta_out[n, k])))]
    notes = [f"flatten put {o} at position {k + ex.base} of its output vector: {how} "
             f"({_order(layer)}). It only moves numbers, "
             f"so the delta moves back unchanged."]
    return ex.finish(path, title=f"dE/d{o}: the input delta of {layer.name} at {o}",
                     lhs=f"dE/d{o}", rhs=delta, terms=terms,
                     symbols=ex.layer_symbols(layer), notes=notes)


def output_flatten(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    n, k = index
    C, *sizes = layer.input.shape[1:]
    if layer.spec.channels_last:
        rest, c = divmod(k, C)
        cell = tuple(int(i) for i in np.unravel_index(rest, sizes))
    else:
        c, rest = divmod(k, int(np.prod(sizes)))
        cell = tuple(int(i) for i in np.unravel_index(rest, sizes))
    how, _ = flatten_position(ex, layer, c, *cell)
    o = ex.map_named("o", layer.input.shape)(n, c, *cell)
    x = ex.map_named("x", layer.output.shape)(*index)
    terms = [ex.term(Factor(o, scalar(layer.input[(n, c, *cell)])))]
    return ex.finish(path, title=f"{x}: element {k + ex.base} of the flattened vector",
                     lhs=x, rhs=o, terms=terms, symbols=ex.layer_symbols(layer),
                     notes=[f"it came from {o}: {how} ({_order(layer, short=True)})."])


def _order(layer, short: bool = False) -> str:
    if layer.spec.channels_last:
        return "row by row, the channel fastest" + ("" if short else
                                                    ", as Keras' Flatten on channels-last maps")
    return "channel-major, then row by row" + ("" if short else ", as torch.flatten")



def _channel_first_flatten(ctx):
    """The whole problem again with every channels-last flatten reading C×H×W instead (the
    vector's order changes, so the forward pass after it does too); None without one."""
    import dataclasses

    from cnngrad.teach.diagnose import rerun_problem

    problem = ctx.problem
    if not any(isinstance(spec, FlattenSpec) and spec.channels_last for spec in problem.layers):
        return None
    layers = [dataclasses.replace(spec, channels_last=False)
              if isinstance(spec, FlattenSpec) else spec for spec in problem.layers]
    return rerun_problem(ctx.trace, layers=layers)


# --------------------------------------------------------------------------- the family


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


class Flatten(LayerFamily):
    type = "flatten"
    since = "1.0"  # contract v1
    makes_vectors = True
    shift_passes = True  # a reshape: every value moved whole
    #: its output is its input's values (cnngrad.kinks: numbers as given stay so)
    copies_values = True

    def build(self, ctx, raw, head):
        return build_flatten(ctx, raw, head)

    def forward(self, spec, inputs):
        return flatten_step(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        return [flatten_step_backward(spec, inputs[0].shape, delta_out)], {}

    def convention(self, spec):
        one_axis = len(spec.in_shape) == 3  # (N, C, L): a 1-D map has no rows
        if spec.channels_last:
            order = "position by position" if one_axis else "position by position, row by row"
            return (f"the map read {order}, each position's channels side by side (Keras' "
                    f"Flatten on channels-last maps)")
        return ("the map read channel after channel, "
                + ("each channel's values in order" if one_axis else "each channel row by row")
                + " (torch.flatten)")

    def slips(self):
        from cnngrad.teach.diagnose import Slip, slip_in_trace

        return [(40, Slip("nhwc_flatten_channel_first",
                          "matches the nhwc flatten read in channel-first order (C×H×W, "
                          "torch's order, instead of H×W×C with the channel fastest)",
                          slip_in_trace("nhwc_flatten_channel_first", _channel_first_flatten)))]

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_flatten(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_flatten(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)


FLATTEN = Flatten()
