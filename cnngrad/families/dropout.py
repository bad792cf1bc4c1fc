"""dropout: inverted dropout with a given mask, y = x·mask/(1 − p) (torch in training mode),
everything cnngrad knows about it.  The numbers come from :mod:`cnngrad.layers.dropout`.

The mask is part of the problem (the homework says which units were dropped), in the shape of
the layer's input as the user sees it (channels last under ``"layout": "nhwc"``).  Rational:
with ``--exact``, ``p`` is used exactly (0.5 is 1/2).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TYPE_CHECKING

import numpy as np

from cnngrad.errors import ShapeError
from cnngrad.families.base import Head, LayerFamily, written_text
from cnngrad.layers import dropout
from cnngrad.problem import LayerSpec, number_text, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace, Trace
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.explain import Explanation, TensorPath


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class DropoutSpec(LayerSpec):
    p: Any = 0.5  # float, or Fraction with --exact
    mask: np.ndarray = None  # internal layout, 0s and 1s
    #: a common slip re-enacted by ``check`` ("no_scale"); never set from a problem file
    slip: str | None = None


# ------------------------------------------------------------------------------- reading a problem


def build_dropout(ctx, raw: dict, head: Head) -> DropoutSpec:
    where, shape, layout = head.where, head.in_shape, head.layout
    for key in ("p", "mask"):
        if key not in raw:
            raise ctx.error(where, f"dropout layer has no '{key}'",
                            "give \"p\" (the probability of dropping a unit, 0 ≤ p < 1) and "
                            "\"mask\" (0 drops a unit, 1 keeps it; the shape of the layer's "
                            "input)")
    p = ctx.number(raw["p"], head.at("p"))
    written = ctx.written(raw["p"], head.at("p"), np.asarray(p))[()]
    if not 0 <= written < 1:  # on p as written: 1.00000000000000000001 is not "1"
        raise ctx.error(head.at("p"), f"p must be in [0, 1) (the probability of dropping a "
                                      f"unit), got {written_text(written)}",
                        "p = 0 keeps every unit; p = 1 would divide by 1 - p = 0")
    if p == 1:  # 0.99999999999999999999 is below 1, but its float64 is 1
        raise ctx.error(head.at("p"), f"p = {written_text(written)} is below 1, but float64 "
                                      "rounds it to 1, so the scale 1/(1 - p) would divide "
                                      "by zero",
                        "0.9999999999999999 is the largest p float64 holds below 1")
    shown = layout.display_shape(shape)
    mask = ctx.tensor(raw["mask"], head.at("mask"))
    if mask.shape != shown:
        raise ctx.error(head.at("mask"), f"expected shape {shape_text(shown)} (the shape of "
                                         f"the layer's input), got {shape_text(mask.shape)}",
                        cls=ShapeError)
    written = ctx.written(raw["mask"], head.at("mask"), mask)  # 0.99999999999999999 is no 1
    bad = np.argwhere((written != 0) & (written != 1))
    if len(bad):
        index = tuple(int(i) for i in bad[0])
        raise ctx.cell_error(raw["mask"], head.at("mask"), index,
                             f"a mask holds 0s and 1s (0 drops a unit, 1 keeps it), got "
                             f"{written_text(written[index])}")
    internal = layout.to_internal(mask, shape)
    return DropoutSpec(**head.spec_fields(), out_shape=shape, p=p, mask=internal)


# ---------------------------------------------------------------------------------------- the step


def _scale(spec: DropoutSpec, like: np.ndarray):
    """1/(1 − p): exact for an exact run."""
    if like.dtype == object:
        return 1 / (1 - Fraction(spec.p))
    return 1 / (1 - float(spec.p))


def _forward(spec: DropoutSpec, x: np.ndarray) -> np.ndarray:
    p = 0 if spec.slip == "no_scale" else spec.p
    return _no_negative_zero(dropout.dropout_forward(x, spec.mask, p).astype(x.dtype,
                                                                           copy=False))


def _backward(spec: DropoutSpec, delta_out: np.ndarray) -> np.ndarray:
    p = 0 if spec.slip == "no_scale" else spec.p
    return _no_negative_zero(dropout.dropout_backward(spec.mask, p, delta_out).astype(
        delta_out.dtype, copy=False))


def _no_negative_zero(values: np.ndarray) -> np.ndarray:
    """A dropped negative unit is 0, not -0 (as a student writes it)."""
    if values.dtype != object:
        values += 0.0
    return values


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def _factors(ex, layer: LayerTrace, index, first) -> list:
    from cnngrad.teach.explain import Factor, scalar, short

    spec: DropoutSpec = layer.spec
    m = ex.map_named("m", layer.input.shape)(*index)
    keep = scalar(spec.mask[index])
    scale = _scale(spec, layer.input)
    return [first, Factor(m, keep, zero_reason="m = 0: the unit is dropped"),
            Factor("1/(1 - p)", scale, detail=f"1/(1 - {short(spec.p)})")]


def _symbols(ex, layer: LayerTrace) -> dict[str, str]:
    return ex.layer_symbols(layer, m=f"{layer.name}'s mask (1 keeps a unit, 0 drops it)",
                            p="the probability of dropping a unit")


def output_dropout(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    o = ex.map_named("o", layer.input.shape)(*index)
    x = ex.map_named("x", layer.output.shape)(*index)
    m = ex.map_named("m", layer.input.shape)(*index)
    term = ex.term(*_factors(ex, layer, index, Factor(o, scalar(layer.input[index]))))
    return ex.finish(path, title=f"{x}: dropout of {o}", lhs=x, rhs=f"{o}·{m}/(1 - p)",
                     terms=[term], symbols=_symbols(ex, layer),
                     notes=["Inverted dropout: a kept unit is scaled by 1/(1 - p) so that the "
                            "expected output equals the input (torch in training mode)."])


def delta_in_dropout(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    o = ex.map_named("o", layer.input.shape)(*index)
    delta = ex.map_named("δ", layer.output.shape)(*index)
    m = ex.map_named("m", layer.input.shape)(*index)
    term = ex.term(*_factors(ex, layer, index, Factor(delta, scalar(layer.delta_out[index]))))
    lhs = f"dE/d{o}"
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o}", lhs=lhs,
                     rhs=f"{delta}·{m}/(1 - p)", terms=[term], symbols=_symbols(ex, layer),
                     notes=["x = o·m/(1 - p), so ∂x/∂o = m/(1 - p): a dropped unit gets no "
                            "delta, a kept one the delta scaled by 1/(1 - p) (the same scale "
                            "as the forward pass)."])


# ------------------------------------------------------------------- textbook steps (--show-steps)


def dropout_textbook(layer: LayerTrace, layout):
    from cnngrad.teach.explain import short
    from cnngrad.teach.steps import Textbook

    spec: DropoutSpec = layer.spec
    shown = (lambda a: layout.to_display(a)) if layout is not None else (lambda a: a)
    scale = _scale(spec, layer.input)
    kept = spec.mask.astype(layer.delta_out.dtype) if layer.delta_out.dtype != object else \
        spec.mask
    delta_in = layer.delta_out * kept * scale
    steps = [("mask: 1 keeps a unit, 0 drops it", shown(spec.mask)),
             (f"scale 1/(1 - p) = 1/(1 - {short(spec.p)})",
              np.asarray(scale, dtype=object if isinstance(scale, Fraction) else None)),
             ("δ_in = δ·mask·1/(1 - p)", shown(delta_in))]
    return Textbook(steps=steps, delta_in=delta_in)


# -------------------------------------------------------------------- common slips (cnngrad check)


def _is_dropout(layer) -> bool:
    return isinstance(layer.spec, DropoutSpec) and layer.spec.p != 0


def _backward_without_scale(spec, x, y, delta):
    return dropout.dropout_backward(spec.mask, 0, delta).astype(delta.dtype, copy=False), {}


def _rerun_without_scale(ctx: SlipContext) -> Trace | None:
    from cnngrad.teach.diagnose import rerun_problem

    if not any(_is_dropout(layer) for layer in ctx.trace.layers):
        return None
    layers = [dataclasses.replace(spec, slip="no_scale") if isinstance(spec, DropoutSpec)
              else spec for spec in ctx.problem.layers]
    return rerun_problem(ctx.trace, layers=layers)


# --------------------------------------------------------------------------- the family


class Dropout(LayerFamily):
    type = "dropout"
    since = "1.1"  # contract v1.1
    fields = ("p", "mask")
    required = ("p", "mask")

    def build(self, ctx, raw, head):
        return build_dropout(ctx, raw, head)

    def divisors(self, spec):
        # p as written (0.3 is 3/10 and "1/3" a third, whatever their floats): 1 − p = 7/10
        # gives sevenths
        p = spec.p if isinstance(spec.p, Fraction) else Fraction(spec.p).limit_denominator(10**6)
        kept = 1 - p
        return () if kept == 1 else ((kept, f"divides by 1 − p = {written_text(kept)}"),)

    def schema_fields(self, ref):
        return {"p": {**ref("probability"), "description": "the probability of dropping a unit, "
                                                     "0 ≤ p < 1"},
                "mask": {**ref("tensor_delta"),
                         "description": "0 drops a unit, 1 keeps it; the shape of the "
                                        "layer's input (channels last under nhwc)"}}

    def forward(self, spec, inputs):
        return _forward(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        return [_backward(spec, delta_out)], {}

    def cast(self, spec, dtype):
        cast = super().cast(spec, dtype)
        cast.mask = spec.mask.astype(dtype)
        return cast

    def settings(self, spec):
        scale = 1 / (1 - (spec.p if isinstance(spec.p, Fraction) else float(spec.p)))
        return [("p", number_text(spec.p)), ("scale", f"1/(1 - p) = {number_text(scale)}")]

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_dropout(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_dropout(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)

    def textbook(self, layer, layout):
        return dropout_textbook(layer, layout)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace

        return [
            (52, Slip("dropout_without_scale",
                      "matches dropout's backward pass without the 1/(1 - p) (δ·mask only)",
                      slip_in_trace("dropout_without_scale", custom_backward(
                            _is_dropout, _backward_without_scale)))),
            (53, Slip("dropout_never_scaled",
                      "matches dropout without the 1/(1 - p) in the forward and backward "
                      "passes (x·mask)",
                      slip_in_trace("dropout_never_scaled", _rerun_without_scale))),
        ]


DROPOUT = Dropout()
