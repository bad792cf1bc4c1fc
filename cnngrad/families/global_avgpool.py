"""global_avgpool: the mean of each channel's whole map, C×H×W → C (N×C batched), everything
cnngrad knows about it.  The numbers come from :mod:`cnngrad.layers.global_pool`."""

from __future__ import annotations

import math
from fractions import Fraction
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnngrad.families.base import Head, LayerFamily
from cnngrad.layers.global_pool import global_avgpool_backward, global_avgpool_forward
from cnngrad.problem import LayerSpec

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.teach.explain import Explanation, TensorPath


@dataclass
class GlobalAvgPoolSpec(LayerSpec):
    pass


def build_global_avgpool(ctx, raw: dict, head: Head) -> GlobalAvgPoolSpec:
    n, c = ctx.need_map(head.in_shape, head.where, head.kind)[:2]
    return GlobalAvgPoolSpec(**head.spec_fields(), out_shape=(n, c))


# --------------------------------------------------------------------------- explanation rules


def output_global_avgpool(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns, scalar

    n, ch = index
    sizes = layer.input.shape[2:]  # H, W (or L in a 1-D problem)
    count = int(np.prod(sizes))
    # a 2×2 map; a 1-D map is its cells ("the 4 map" reads as a typo)
    cells, each = ((f"{'×'.join(map(str, sizes))} map", "every cell of the channel's")
                   if len(sizes) > 1 else (f"{count} cells", "each of the channel's"))
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    share = Factor(f"1/{count}", ex.frac(1, count))

    def build(k: int) -> Term:
        cell = tuple(int(v) for v in np.unravel_index(k, sizes))
        return ex.term(share, Factor(o(n, ch, *cell), scalar(layer.input[(n, ch, *cell)])))

    shares = np.full(count, share.value, dtype=object if ex.exact else float)
    terms = TermColumns([Column(share.symbol, shares),
                         Column("o", layer.input[n, ch].reshape(-1))], build)
    return ex.finish(path, title=f"{x(*index)}: the mean of channel {ch + ex.base}'s map",
                     lhs=x(*index), rhs=f"Σ over the {cells} of o / {count}",
                     terms=terms, symbols=ex.layer_symbols(layer),
                     notes=[f"{each} {cells} counts once: "
                            f"divisor {count}."])


def delta_in_global_avgpool(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    n, ch = index[:2]
    count = int(np.prod(layer.input.shape[2:]))
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    delta = ex.map_named("δ", layer.output.shape)
    terms = [ex.term(Factor(delta(n, ch), scalar(layer.delta_out[n, ch])),
                     Factor(f"∂{x(n, ch)}/∂{o(*index)}", ex.frac(1, count),
                            detail=f"1/{count}"))]
    lhs = f"dE/d{o(*index)}"
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=f"{delta(n, ch)} / {count}", terms=terms,
                     symbols=ex.layer_symbols(layer),
                     notes=[f"{x(n, ch)} is the mean of the {count} cells of its map, so each "
                            f"cell gets an equal share 1/{count} of its delta."])


# --------------------------------------------------------------------------- the family


def _delta_to_every_cell(spec, x, y, delta):
    # the slip: each channel's δ, whole, to every cell of its map (y read as a sum, not a mean)
    return global_avgpool_backward(x.shape, delta) * math.prod(x.shape[2:]), {}


class GlobalAvgPool(LayerFamily):
    type = "global_avgpool"
    since = "1.1"  # contract v1.1
    other_names = ("adaptiveavgpool2d", "adaptiveavgpool1d", "globalaveragepooling2d",
                   "globalaveragepooling1d", "gap")

    def build(self, ctx, raw, head):
        return build_global_avgpool(ctx, raw, head)

    def divisors(self, spec):
        cells = math.prod(spec.in_shape[2:])  # (N, C, H, W) or (N, C, L) inside
        return ((Fraction(cells), f"averages {cells} cells"),)

    def summed_terms(self, spec):  # (cnngrad.kinks)
        return math.prod(spec.in_shape[2:])

    def forward(self, spec, inputs):
        return global_avgpool_forward(inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        return [global_avgpool_backward(inputs[0].shape, delta_out)], {}

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace

        return [
            (36, Slip("global_avgpool_not_divided",
                      "matches the global average pool's delta sent to every cell of the map "
                      "without dividing it by the map's size",
                      slip_in_trace("global_avgpool_not_divided", custom_backward(
                            lambda layer: layer.type == self.type, _delta_to_every_cell)))),
        ]

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_global_avgpool(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_global_avgpool(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)


GLOBAL_AVGPOOL = GlobalAvgPool()
