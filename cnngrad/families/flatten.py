"""flatten: a feature map (N, C, H, W) → a vector (N, C·H·W), channel-major then row by row
(as torch.flatten); everything cnngrad knows about it."""

from __future__ import annotations

from typing import TYPE_CHECKING
from dataclasses import dataclass

from cnngrad.families.base import Head, LayerFamily
from cnngrad.layers import dense
from cnngrad.problem import LayerSpec

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.teach.explain import Explanation, _Path


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class FlattenSpec(LayerSpec):
    pass


# ------------------------------------------------------------------------------- reading a problem


def build_flatten(ctx, raw: dict, head: Head) -> FlattenSpec:
    index, name, kind, where, shape = head.index, head.name, head.kind, head.where, head.in_shape
    out = (shape[0], _prod(shape[1:]))
    return FlattenSpec(index=index, name=name, type=kind, where=where, out_shape=out)


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def flatten_position(ex, layer: LayerTrace, c: int, h: int, w: int) -> tuple[str, int]:
    H, W = layer.input.shape[2:]
    k = c * H * W + h * W + w
    b = ex.base
    return (f"k = c·H·W + h·W + w = {c}·{H * W} + {h}·{W} + {w} = {k}"
            + (f" (from 0; {k + b} counted from 1)" if b else "")), k


def delta_in_flatten(ex, path: _Path, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, _num

    n, c, h, w = index
    how, k = flatten_position(ex, layer, c, h, w)
    o = ex.map_named("o", layer.input.shape)(*index)
    delta = ex.map_named("δ", layer.output.shape)(n, k)
    terms = [ex.term(Factor(delta, _num(layer.delta_out[n, k])))]
    notes = [f"flatten put {o} at position {k + ex.base} of its output vector: {how} "
             f"(channel-major, then row by row, as torch.flatten). It only moves numbers, "
             f"so the delta moves back unchanged."]
    return ex.finish(path, title=f"dE/d{o}: the input delta of {layer.name} at {o}",
                     lhs=f"dE/d{o}", rhs=delta, terms=terms,
                     symbols=ex.layer_symbols(layer), notes=notes)


def output_flatten(ex, path: _Path, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, _num

    n, k = index
    H, W = layer.input.shape[2:]
    c, rest = divmod(k, H * W)
    h, w = divmod(rest, W)
    how, _ = flatten_position(ex, layer, c, h, w)
    o = ex.map_named("o", layer.input.shape)(n, c, h, w)
    x = ex.map_named("x", layer.output.shape)(*index)
    terms = [ex.term(Factor(o, _num(layer.input[n, c, h, w])))]
    return ex.finish(path, title=f"{x}: element {k + ex.base} of the flattened vector",
                     lhs=x, rhs=o, terms=terms, symbols=ex.layer_symbols(layer),
                     notes=[f"it came from {o}: {how} (channel-major, then row by row)."])



# --------------------------------------------------------------------------- the family


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


class Flatten(LayerFamily):
    type = "flatten"

    def build(self, ctx, raw, head):
        return build_flatten(ctx, raw, head)

    def forward(self, spec, inputs):
        return dense.flatten_forward(inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        return [dense.flatten_backward(inputs[0].shape, delta_out)], {}

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_flatten(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_flatten(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)


FLATTEN = Flatten()
