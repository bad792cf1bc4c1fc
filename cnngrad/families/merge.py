"""add and concat: the layers that read two or more layers (a residual connection, a U-Net
skip), everything cnngrad knows about them.

``add`` is the elementwise sum of its inputs, all of one shape; its backward pass hands the
delta of its output, unchanged, to every input.  ``concat`` stacks maps along the channels
(vectors along the features); its backward pass cuts the delta back into the pieces.  An input
named twice gets both contributions, reported as one entry holding their sum (what PyTorch's
autograd adds up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnngrad.errors import ShapeError, join_path
from cnngrad.families.base import Head, LayerFamily
from cnngrad.problem import LayerSpec, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.teach.explain import Explanation, TensorPath


@dataclass
class MergeSpec(LayerSpec):
    pass


#: what an internal activation is, by whether it has spatial axes
_KINDS = {True: "a feature map", False: "a vector"}


def _shown(head: Head, shape) -> str:
    return shape_text(head.layout.display_shape(tuple(shape)))


def build_add(ctx, raw: dict, head: Head) -> MergeSpec:
    first = head.in_shapes[0]
    for i, (source, shape) in enumerate(zip(head.inputs, head.in_shapes)):
        if (len(shape) > 2) != (len(first) > 2):  # a 1-D map L and a vector L look alike
            the_map, vector = (shape, first) if len(shape) > 2 else (first, shape)
            flat = math.prod(the_map[1:])
            # a flatten helps only where the map holds as many values as the vector
            hint = (f"put a flatten layer after {source if len(shape) > 2 else head.inputs[0]}"
                    f" to add them as vectors" if flat == vector[1] else
                    f"a flatten would give {flat} values a sample, the vector has {vector[1]}")
            raise ctx.error(join_path(head.at("inputs"), i),
                            f"add cannot add {_KINDS[len(shape) > 2]} ({source}, "
                            f"{_shown(head, shape)}) to {_KINDS[len(first) > 2]} "
                            f"({head.inputs[0]}, {_shown(head, first)})", hint,
                            cls=ShapeError)
        if shape != first:
            raise ctx.error(join_path(head.at("inputs"), i),
                            f"add needs inputs of one shape: {source} gives "
                            f"{_shown(head, shape)}, {head.inputs[0]} gives "
                            f"{_shown(head, first)}", cls=ShapeError)
    return MergeSpec(**head.spec_fields(), out_shape=first)


def build_concat(ctx, raw: dict, head: Head) -> MergeSpec:
    first = head.in_shapes[0]
    is_map = len(first) > 2
    axis_word = "channels" if is_map else "features"
    for i, (source, shape) in enumerate(zip(head.inputs, head.in_shapes)):
        if (len(shape) > 2) != is_map:
            raise ctx.error(join_path(head.at("inputs"), i),
                            f"concat cannot join {_KINDS[len(shape) > 2]} ({source}, "
                            f"{_shown(head, shape)}) with {_KINDS[is_map]} ({head.inputs[0]}, "
                            f"{_shown(head, first)})",
                            "add a flatten layer before it to join them as vectors",
                            cls=ShapeError)
        if shape[0] != first[0] or shape[2:] != first[2:]:
            raise ctx.error(join_path(head.at("inputs"), i),
                            f"concat joins along the {axis_word}, so every other axis must "
                            f"be equal: {source} gives {_shown(head, shape)}, "
                            f"{head.inputs[0]} gives {_shown(head, first)}", cls=ShapeError)
    total = sum(shape[1] for shape in head.in_shapes)
    return MergeSpec(**head.spec_fields(), out_shape=(first[0], total) + tuple(first[2:]))


def _schema(ref) -> dict[str, dict]:
    return {"inputs": {"type": "array", "minItems": 2, "items": ref("source_name"),
                       "description": "the names of two or more layers (or \"input\") it "
                                      "reads"}}


# ------------------------------------------------------------------------- explanation rules


def output_add(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    x = ex.map_named("x", layer.output.shape)(*index)
    cell = ex.map_named("", layer.output.shape).index_text(index)
    names = [f"{'input' if source == 'input' else source + '.output'}{cell}"
             for source in layer.spec.inputs]  # the formula's names are the terms' names
    terms = [ex.term(Factor(name, scalar(value[index])))
             for name, value in zip(names, layer.inputs)]
    return ex.finish(path, title=f"{x}: the sum of {layer.name}'s inputs at one cell",
                     lhs=x, rhs=" + ".join(names),
                     terms=terms, symbols={"x": f"{layer.name}'s output"},
                     notes=[f"add sums its {len(layer.inputs)} inputs cell by cell."])


def delta_in_add(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    source = path.param
    delta = ex.map_named("δ", layer.output.shape)(*index)
    count = list(layer.spec.inputs).count(source)
    terms = [ex.term(Factor(delta, scalar(layer.delta_out[index]))) for _ in range(count)]
    lhs = f"dE/d{source}{ex.map_named('', layer.output.shape).index_text(index)}"
    notes = [f"x = {' + '.join(layer.spec.inputs)}, so ∂x/∂{source} = 1 at each cell: "
             f"{layer.name} hands its delta unchanged to each of its inputs (a skip "
             f"connection's delta is added to the other branch's where they meet)."]
    if count > 1:
        notes.append(f"{source} is summed {count} times, so it gets the delta {count} times.")
    return ex.finish(path, title=f"{lhs}: what {layer.name} sends back to {source}", lhs=lhs,
                     rhs=" + ".join([delta] * count), terms=terms,
                     symbols={"δ": f"dE/dx = {layer.name}.delta_out"}, notes=notes)


def output_concat(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    source, piece, local = _concat_piece(layer, index)
    x = ex.map_named("x", layer.output.shape)(*index)
    src = ex.map_named(f"{'input' if source == 'input' else source + '.output'}",
                       layer.inputs[piece].shape)(*local)
    terms = [ex.term(Factor(src, scalar(layer.inputs[piece][local])))]
    axis = "channel" if layer.output.ndim > 2 else "feature"
    return ex.finish(path, title=f"{x}: a copy of {src}", lhs=x, rhs=src, terms=terms,
                     symbols={"x": f"{layer.name}'s output"},
                     notes=[f"concat stacks its inputs along the {axis}s in the order listed: "
                            f"{axis} {index[1] + ex.base} of the output is {axis} "
                            f"{local[1] + ex.base} of {source}."])


def delta_in_concat(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    source = path.param
    delta = ex.map_named("δ", layer.output.shape)
    terms, symbols_used = [], []
    offset = 0
    for name, value in zip(layer.spec.inputs, layer.inputs):
        if name == source:
            out_index = (index[0], index[1] + offset) + tuple(index[2:])
            terms.append(ex.term(Factor(delta(*out_index), scalar(layer.delta_out[out_index]))))
            symbols_used.append(delta(*out_index))
        offset += value.shape[1]
    piece = layer.inputs[list(layer.spec.inputs).index(source)]
    lhs = f"dE/d{source}{ex.map_named('', piece.shape).index_text(index)}"
    axis = "channel" if layer.output.ndim > 2 else "feature"
    return ex.finish(path, title=f"{lhs}: what {layer.name} sends back to {source}", lhs=lhs,
                     rhs=" + ".join(symbols_used), terms=terms,
                     symbols={"δ": f"dE/dx = {layer.name}.delta_out"},
                     notes=[f"concat only moves numbers: {source}'s {axis}s sit at an offset "
                            f"in the output, and its delta is that slice of {layer.name}'s "
                            f"delta."])


def _concat_piece(layer, index):
    """(input name, position among the inputs, index into that input) of an output cell."""
    offset = 0
    for piece, (name, value) in enumerate(zip(layer.spec.inputs, layer.inputs)):
        width = value.shape[1]
        if index[1] < offset + width:
            return name, piece, (index[0], index[1] - offset) + tuple(index[2:])
        offset += width
    raise IndexError(index)


# --------------------------------------------------------------------------------- the family


class _Merge(LayerFamily):
    since = "1.1"  # contract v1.1
    fields = ("inputs",)
    required = ("inputs",)
    reads_many = True

    def schema_fields(self, ref):
        return _schema(ref)

    def settings(self, spec):
        return [("inputs", ", ".join(spec.inputs))]

    def slips(self):
        from cnngrad.teach.diagnose import Slip, slip_in_trace

        return [
            (30, Slip("skip_delta_forgotten",
                      "matches only the first reader's delta at an output read by several "
                      "layers (a skip connection's delta forgotten)",
                      slip_in_trace("skip_delta_forgotten", _one_branch(keep_first=True)))),
            (31, Slip("main_delta_forgotten",
                      "matches only the last reader's delta at an output read by several "
                      "layers (the skip's kept, the main branch's forgotten)",
                      slip_in_trace("main_delta_forgotten", _one_branch(keep_first=False)))),
        ]


def _one_branch(keep_first: bool):
    """A slipped-trace builder: where an output is read by several layers, only one reader's
    delta comes back (the first listed, the main branch of a residual block; or the last,
    usually the skip), the other branches forgotten.  None when no output is shared."""

    def build(ctx):
        from cnngrad.families import family_of
        from cnngrad.network import LayerTrace, Trace, backward, delta_in_of

        trace = ctx.trace
        names = ["input"] + [layer.name for layer in trace.layers]
        if not any(len(trace.readers(name)) > 1 for name in names):
            return None
        layers = [LayerTrace(spec=layer.spec, input=layer.input, output=layer.output,
                             inputs=list(layer.inputs)) for layer in trace.layers]
        kept = {}
        for name in names:
            readers = [layer for layer in layers if name in layer.spec.inputs]
            if readers:
                kept[name] = readers[0] if keep_first else readers[-1]

        computed = {}

        def step(layer, delta_out):
            delta_ins, grads = family_of(layer.spec).backward(layer.spec, layer.inputs,
                                                              layer.output, delta_out)
            computed[layer.name] = delta_ins
            return [value if kept[name] is layer else value * 0
                    for name, value in zip(layer.spec.inputs, delta_ins)], grads

        input_delta = backward(layers, trace.layers[-1].delta_out, backward_step=step)
        for layer in layers:
            # a forgotten reader computed its delta_in all right: the slip is in the sum
            # at the output it reads, which left it out
            layer.delta_in = delta_in_of(layer.spec, computed[layer.name])
        return Trace(problem=trace.problem, layers=layers, loss=trace.loss, lr=trace.lr,
                     input_delta=input_delta)

    return build


class Add(_Merge):
    type = "add"
    other_names = ("residual", "sum")  # a residual connection: the skip's sum
    inputs_joined_by = " + "

    def build(self, ctx, raw, head):
        return build_add(ctx, raw, head)

    def forward(self, spec, inputs):
        total = inputs[0]
        for other in inputs[1:]:
            total = total + other
        return total

    def backward(self, spec, inputs, output, delta_out):
        return [delta_out.copy() for _ in inputs], {}

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_add(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_add(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)


class Concat(_Merge):
    type = "concat"
    other_names = ("cat", "concatenate")
    #: its output is its inputs' values (cnngrad.kinks: numbers as given stay so)
    copies_values = True

    def build(self, ctx, raw, head):
        return build_concat(ctx, raw, head)

    def forward(self, spec, inputs):
        return np.concatenate(inputs, axis=1)

    def backward(self, spec, inputs, output, delta_out):
        cuts = np.cumsum([x.shape[1] for x in inputs])[:-1]
        return [np.ascontiguousarray(piece) for piece in np.split(delta_out, cuts, axis=1)], {}

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_concat(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_concat(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)


ADD = Add()
CONCAT = Concat()
