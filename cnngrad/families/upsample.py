"""upsample: nearest-neighbour upsampling by integer factors (torch.nn.functional.interpolate,
mode "nearest"), 2-D or 1-D maps, everything cnngrad knows about it.

The numbers come from :mod:`cnngrad.layers.upsample`: forward, each input cell becomes a
block of copies; backward, each block's deltas are summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnngrad.families.base import Head, LayerFamily
from cnngrad.layers.upsample import upsample_nearest_backward, upsample_nearest_forward
from cnngrad.problem import LayerSpec

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.problem import Layout
    from cnngrad.teach.explain import Explanation, TensorPath
    from cnngrad.teach.steps import Textbook


@dataclass
class UpsampleSpec(LayerSpec):
    scale: tuple[int, ...] = (2, 2)  # one factor per spatial axis


def build_upsample(ctx, raw: dict, head: Head) -> UpsampleSpec:
    shape = ctx.need_map(head.in_shape, head.where, head.kind)
    if "scale" not in raw:
        raise ctx.error(head.where, "upsample layer has no 'scale'",
                        "an integer ≥ 1, or [rows, cols] for 2-D maps")
    value = raw["scale"]
    if len(shape) == 3:
        if isinstance(value, list):
            raise ctx.error(head.at("scale"), f"a 1-D map has one axis: the scale is an integer "
                                              f"≥ 1, got a list of {len(value)}",
                            "give an integer ≥ 1")
        scale = (ctx.integer(value, head.at("scale")),)
    else:
        scale = ctx.int_pair(value, head.at("scale"))
    sizes = tuple(n * s for n, s in zip(shape[2:], scale))
    out_shape = tuple(shape[:2]) + sizes
    size = 1
    for n in out_shape:
        size *= n
    ctx.check_size(size, head.at("scale"), "the upsampled output")
    return UpsampleSpec(**head.spec_fields(), out_shape=out_shape, scale=scale)


def schema_fields(ref) -> dict[str, dict]:
    return {"scale": {**ref("int_pair"), "description":
                      "an integer ≥ 1, or [rows, cols] for 2-D maps (an integer for 1-D maps)"}}


# --------------------------------------------------------------------------- explanation rules


def _scale_text(scale) -> str:
    return "×".join(map(str, scale))


def output_upsample(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    spec: UpsampleSpec = layer.spec
    source = index[:2] + tuple(i // s for i, s in zip(index[2:], spec.scale))
    x = ex.map_named("x", layer.output.shape)
    o = ex.map_named("o", layer.input.shape)
    term = ex.term(Factor(o(*source), scalar(layer.input[source])))
    # the output cell's own indices, as shown (⌊(i+1-1)/s⌋+1 counted from 1)
    rhs = o(index[0], index[1], *(f"⌊{i}/{s}⌋" if not ex.base else f"⌊({i + 1}-1)/{s}⌋+1"
                                  for i, s in zip(index[2:], spec.scale)))
    return ex.finish(path, title=f"{x(*index)}: a copy of the input cell whose block it is in",
                     lhs=x(*index), rhs=rhs, terms=[term], symbols=ex.layer_symbols(layer),
                     notes=[f"Nearest-neighbour upsampling by {_scale_text(spec.scale)}: every "
                            f"input cell is copied into a {_scale_text(spec.scale)} block of "
                            f"the output."])


def delta_in_upsample(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    spec: UpsampleSpec = layer.spec
    o = ex.map_named("o", layer.input.shape)
    delta = ex.map_named("δ", layer.output.shape)
    ranges = [range(i * s, (i + 1) * s) for i, s in zip(index[2:], spec.scale)]
    cells = [index[:2] + tuple(c) for c in np.ndindex(*[len(r) for r in ranges])]
    cells = [cell[:2] + tuple(r[k] for r, k in zip(ranges, cell[2:])) for cell in cells]
    terms = [ex.term(Factor(delta(*cell), scalar(layer.delta_out[cell]))) for cell in cells]
    lhs = f"dE/d{o(*index)}"
    bounds = [f"{r.start + ex.base}…{r.stop - 1 + ex.base}" for r in ranges]
    block = (f"rows {bounds[0]}, columns {bounds[1]}" if len(bounds) == 2
             else f"cells {bounds[0]}")
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=(f"Σ over its {_scale_text(spec.scale)} block of δ"
                                   if len(spec.scale) > 1 else
                                   f"Σ over its run of {spec.scale[0]} cells of δ"),
                     terms=terms, symbols=ex.layer_symbols(layer),
                     notes=[f"{o(*index)} was copied into the output block at {block}; each "
                            f"copy sends its δ back, so the input delta is the block's sum."])


def upsample_textbook(spec: UpsampleSpec, x: np.ndarray, delta_out: np.ndarray,
                      layout: Layout | None = None) -> Textbook:
    """Upsampling's input delta, block by block: δ cut into scale-sized blocks, each summed.

    Parameters
    ----------
    spec : UpsampleSpec
    x : ndarray (N, C, H, W) or (N, C, L)
    delta_out : ndarray (N, C, s_h·H, s_w·W) or (N, C, s·L)

    Returns
    -------
    Textbook
        ``delta_in`` shaped as x.
    """
    from cnngrad.teach.steps import Textbook, StepLabels

    label = StepLabels(layout)
    n_count, c_count = x.shape[:2]
    steps = []
    delta_in = upsample_nearest_backward(delta_out, spec.scale)
    for n in range(n_count):
        for c in range(c_count):
            tag = label(n, c=(c, c_count))
            steps.append((f"δ{tag}: dE/d(output), in {_scale_text(spec.scale)} blocks",
                          np.atleast_2d(delta_out[n, c])))
            steps.append((f"δ_in{tag}: the sum of each block (every input cell was copied "
                          f"into its block)", np.atleast_2d(delta_in[n, c])))
    return Textbook(steps=steps, delta_in=delta_in)


class Upsample(LayerFamily):
    type = "upsample"
    since = "1.1"  # contract v1.1
    other_names = ("upsampling2d", "upsampling1d", "interpolate")
    fields = ("scale",)
    required = ("scale",)
    #: its output is its input's values, copied (cnngrad.kinks: numbers as given stay so)
    copies_values = True

    def value_origins(self, spec, origins, x):
        # each output cell copies one input cell, chosen by position: the forward step on
        # the input's ids (whole floats, exact below 2⁵³) gives each copy its cell's id
        if origins is None:
            origins = np.arange(np.size(x), dtype=np.float64).reshape(np.shape(x))
        return self.forward(spec, [origins])

    def build(self, ctx, raw, head):
        return build_upsample(ctx, raw, head)

    def schema_fields(self, ref):
        return schema_fields(ref)

    def forward(self, spec, inputs):
        return np.ascontiguousarray(upsample_nearest_forward(inputs[0], spec.scale))

    def backward(self, spec, inputs, output, delta_out):
        return [upsample_nearest_backward(delta_out, spec.scale)], {}

    def settings(self, spec):
        return [("scale", _scale_text(spec.scale)), ("mode", "nearest")]

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_upsample(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_upsample(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)

    def textbook(self, layer, layout):
        return upsample_textbook(layer.spec, layer.input, layer.delta_out, layout)


UPSAMPLE = Upsample()
