"""dense: a fully connected layer x = W·o + b (W is out×in, as torch.nn.Linear); everything
cnngrad knows about it.  The numbers come from :mod:`cnngrad.layers.dense`."""

from __future__ import annotations

from typing import TYPE_CHECKING
from dataclasses import dataclass

import numpy as np

from cnngrad.errors import ShapeError, UsageError, join_path
from cnngrad.families.base import (Head, LayerFamily, counted, number_bias_grad, read_bias,
                                   read_matrices, shape_size)
from cnngrad.layers import dense
from cnngrad.problem import LayerSpec, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.teach.explain import Explanation, TensorPath


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class DenseSpec(LayerSpec):
    weights: np.ndarray = None  # (out, in)
    bias: np.ndarray | None = None  # (out,), or a number: one bias shared by every output

    @property
    def params(self) -> dict[str, np.ndarray]:
        out = {"weights": self.weights}
        if self.bias is not None:
            out["bias"] = self.bias
        return out


# ------------------------------------------------------------------------------- reading a problem


def _read_weights(ctx, value, where: str, k: int) -> np.ndarray:
    """The out×in weights; a flat list of them is refused with the hint of their rows: one
    row of ``k`` for one output, else as many rows of ``k`` as its length makes."""
    def flat_hint(value) -> str:
        length = len(value) if isinstance(value, list) else None  # (an .npy's: its own)
        return ("one output's weights are one row of the out×in matrix (as "
                "torch.nn.Linear): [[…]]" if length == k else
                f"out×in (as torch.nn.Linear): {length // k} rows of {k}, one per "
                f"output, [[…], …]" if length and length % k == 0 else
                f"out×in (as torch.nn.Linear): a row of {k} per output, [[…], …]"
                if length else
                f"out×in (as torch.nn.Linear): a row of {k} per output (numpy: "
                f"w.reshape(-1, {k}))")
    return read_matrices(ctx, value, where, 2, flat_hint)


def _rows_as_vectors_hint(raw: dict, head: Head) -> str | None:
    """For a dense layer reading a 2-D problem's input written N×K, its weights K wide: N
    vectors meant, where a 2-D input is one N×K map (a flatten would make it one vector of
    N·K, which the weights do not take); how to write the N vectors.  None otherwise."""
    matrix = head.input_as_one_map()
    if matrix is None or matrix[0] < 2:
        return None
    rows, cols = matrix
    weights = raw.get("weights")
    if not (isinstance(weights, list) and weights and isinstance(weights[0], list)
            and len(weights[0]) == cols):
        return None
    return (f"a 2-D input is one {rows}×{cols} map, not {rows} vectors: write {rows} vectors "
            f"of {cols} as {rows}×1×1×{cols} and put {{\"type\": \"flatten\"}} before the "
            f"dense layer; or, for one vector of the map's {rows * cols} numbers, add a flatten "
            f"layer before it and give weights {rows * cols} wide")


def build_dense(ctx, raw: dict, head: Head) -> DenseSpec:
    index, name, kind, where, shape, layout = head.index, head.name, head.kind, head.where, head.in_shape, head.layout
    if len(shape) != 2:
        shown = layout.display_shape(shape)
        raise ctx.error(where, f"dense needs a vector input, got a feature map of "
                                f"{shape_text(shown)}",
                        _rows_as_vectors_hint(raw, head) or "add a flatten layer before it",
                        cls=ShapeError)
    n, k = shape
    if "weights" not in raw:
        raise ctx.error(where, "dense layer has no 'weights'")
    weights = _read_weights(ctx, raw["weights"], join_path(where, "weights"), k)
    ctx.check_size(weights.size, join_path(where, "weights"), "the weights")
    if weights.shape[1] != k:
        raise ctx.error(join_path(where, "weights"),
                        f"weights of shape {shape_text(weights.shape)} expect an input of "
                        f"{weights.shape[1]}, but the input vector has {k}",
                        f"expected shape out×{k} (as torch.nn.Linear)", cls=ShapeError)
    bias = None
    if "bias" in raw:
        forms = (f"a vector of {weights.shape[0]} or a number (one bias shared by every "
                 f"output)")
        bias = read_bias(ctx, raw["bias"], join_path(where, "bias"), 1, weights.shape[0],
                         f"expected {forms}")
        if bias.ndim == 1 and bias.shape != (weights.shape[0],):
            raise ctx.error(join_path(where, "bias"),
                            f"expected {forms}, got {shape_text(bias.shape)}", cls=ShapeError)
    return DenseSpec(index=index, name=name, type=kind, where=where,
                     out_shape=(n, weights.shape[0]), weights=weights, bias=bias)


# ---------------------------------------------------------------------------------------- the step


def _dense_forward(spec: DenseSpec, x):
    return dense.dense_forward(x, spec.weights, spec.bias)


def _dense_backward(spec: DenseSpec, x, y, delta_out):
    delta_in, grad_weights, grad_bias = dense.dense_backward(x, spec.weights, delta_out)
    grads = {"weights": grad_weights}
    if spec.bias is not None and spec.bias.ndim == 0:
        # one bias added to every output: its gradient is the sum of the whole delta
        grads["bias"] = number_bias_grad(grad_bias)
    elif spec.bias is not None:
        grads["bias"] = grad_bias
    return delta_in, grads


def _square_weights(layer) -> bool:
    """A dense layer whose W is square: the only one where W·δ has δ_in's shape."""
    return layer.type == "dense" and layer.spec.weights.shape[0] == layer.spec.weights.shape[1]


def _untransposed_backward(spec: DenseSpec, x, y, delta_out):
    """The slip: δ sent back through W as the forward pass uses it, δ_in = W·δ (rows:
    δ·Wᵀ), where the chain rule needs Wᵀ·δ (rows: δ·W); the gradients as they are."""
    _, grads = _dense_backward(spec, x, y, delta_out)
    return delta_out @ spec.weights.T, grads


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def dense_named(ex, layer: LayerTrace):
    from cnngrad.teach.explain import NamedCells

    return (ex.map_named("o", layer.input.shape), ex.map_named("x", layer.output.shape),
            ex.map_named("δ", layer.output.shape), NamedCells("W", (True, True), ex.base),
            NamedCells("b", (layer.spec.bias is not None and layer.spec.bias.ndim == 1,), ex.base))


def dense_symbols(ex, layer: LayerTrace) -> dict[str, str]:
    return ex.layer_symbols(layer, W=f"{layer.name}'s weights (out×in)",
                            b=f"{layer.name}'s bias")


def output_dense(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns, scalar

    spec: DenseSpec = layer.spec
    n, out = index
    o, x, _, W, b = dense_named(ex, layer)
    inputs = layer.input.shape[1]
    shared = spec.bias is not None and spec.bias.ndim == 0  # one bias for every output

    def build(i: int) -> Term:
        if i == inputs:
            return ex.term(Factor(b(out), scalar(spec.bias[()] if shared else spec.bias[out])))
        return ex.term(Factor(W(out, i), scalar(spec.weights[out, i])),
                       Factor(o(n, i), scalar(layer.input[n, i])))

    weights, cells = spec.weights[out], layer.input[n]
    reasons = None
    bias_text = ""
    if spec.bias is not None:
        # the bias is one more term, b·1 in the columns: a zero there is "b = 0"
        bias = spec.bias.reshape(1) if shared else spec.bias[out:out + 1]
        weights = np.concatenate([weights, bias])
        cells = np.concatenate([cells, np.ones(1, dtype=cells.dtype)])
        reasons = np.full(inputs + 1, None, dtype=object)
        reasons[inputs] = "b = 0"
        bias_text = f" + {b(out)}"
    terms = TermColumns([Column("W", weights, reasons), Column("o", cells)], build)
    return ex.finish(path, title=f"{x(*index)}: output {out + ex.base} of {layer.name}",
                     lhs=x(*index), rhs=f"Σ_i {W(out, 'i')}·{o(n, 'i')}{bias_text}",
                     terms=terms, symbols=dense_symbols(ex, layer),
                     notes=[f"i runs over the {counted(layer.input.shape[1], 'input')} "
                            f"({ex.range_text('i', layer.input.shape[1])})."])


def delta_in_dense(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    spec: DenseSpec = layer.spec
    n, i = index
    o, _, delta, W, _ = dense_named(ex, layer)
    outs = layer.output.shape[1]
    terms = [ex.term(Factor(delta(n, out), scalar(layer.delta_out[n, out])),
                     Factor(W(out, i), scalar(spec.weights[out, i]))) for out in range(outs)]
    lhs = f"dE/d{o(*index)}"
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=f"Σ_k {delta(n, 'k')}·{W('k', i)}", terms=terms,
                     symbols=dense_symbols(ex, layer),
                     notes=[f"k runs over the {counted(outs, 'output')} "
                            f"({ex.range_text('k', outs)}): input {i + ex.base} feeds "
                            f"every output k through {W('k', i)} (column {i + ex.base} "
                            f"of W)."])


def grad_dense(ex, path: TensorPath, layer: LayerTrace) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    o, _, delta, W, b = dense_named(ex, layer)
    batch = layer.input.shape[0]
    batched = ex.trace.layout.batched
    if path.param == "weights":
        out, i = path.index
        terms = [ex.term(Factor(delta(n, out), scalar(layer.delta_out[n, out])),
                         Factor(o(n, i), scalar(layer.input[n, i]))) for n in range(batch)]
        lhs = f"dE/d{W(out, i)}"
        rhs = ("Σ_n " if batched else "") + f"{delta('n', out)}·{o('n', i)}"
        why = f"{W(out, i)} multiplies input {o('n', i)} into output {out + ex.base}"
    elif path.param == "bias" and layer.spec.bias.ndim == 0:
        outs = layer.output.shape[1]
        terms = [ex.term(Factor(delta(n, out), scalar(layer.delta_out[n, out])))
                 for n in range(batch) for out in range(outs)]
        lhs = "dE/db"
        rhs = ("Σ_n " if batched else "") + f"Σ_k {delta('n', 'k')}"
        why = (f"the one bias b is added to every output (k runs over the "
               f"{counted(outs, 'output')})")
    elif path.param == "bias":
        (out,) = path.index
        terms = [ex.term(Factor(delta(n, out), scalar(layer.delta_out[n, out])))
                 for n in range(batch)]
        lhs = f"dE/d{b(out)}"
        rhs = ("Σ_n " if batched else "") + delta("n", out)
        why = f"{b(out)} is added to output {out + ex.base}"
    else:
        raise UsageError(f"{layer.name} has no parameter {path.param!r}", where="PATH")
    notes = [f"{why}" + (f"; n runs over the batch of {batch}." if batched else ".")]
    return ex.finish(path, title=f"{lhs}: the gradient of {layer.name}'s {path.param}",
                     lhs=lhs, rhs=rhs, terms=terms, symbols=dense_symbols(ex, layer),
                     notes=notes)



# --------------------------------------------------------------------------- the family


class Dense(LayerFamily):
    type = "dense"
    since = "1.0"  # contract v1
    weighted = True  # sums input × weight products, plus a bias
    other_names = ("linear", "fc", "fullyconnected")
    reads_vectors = True
    fields = ("weights", "bias")
    required = ("weights",)
    param_labels = {"weights": "dE/dW (weights gradient)", "bias": "dE/db (bias gradient)"}
    param_axes = {"weights": "nc", "bias": "nc"}
    cast_fields = ("weights", "bias")

    def build(self, ctx, raw, head):
        return build_dense(ctx, raw, head)

    def work(self, spec):
        out, ins = shape_size(spec.out_shape), int(spec.weights.shape[1])
        return 3 * out * ins, f"{out:,} outputs × {ins:,} inputs"

    def schema_fields(self, ref):
        return {"weights": {**ref("tensor_weights"), "description": "out×in, as torch.nn.Linear"},
                "bias": {**ref("tensor_dense_bias"), "description":
                         "a vector of out, or a number shared by every output"}}

    def summed_terms(self, spec):  # (cnngrad.kinks)
        return spec.weights.shape[-1] + (spec.bias is not None)

    def forward(self, spec, inputs):
        return _dense_forward(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        delta_in, grads = _dense_backward(spec, inputs[0], output, delta_out)
        return [delta_in], grads

    def settings(self, spec):
        return [("units", str(spec.weights.shape[0]))]

    def convention(self, spec):
        bias = " + b" if spec.params.get("bias") is not None else ""
        return f"output = W·input{bias} with W out×in (row k holds output k's weights)"

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace

        return [(13, Slip("weights_not_transposed",
                          "matches the delta sent back through W instead of Wᵀ "
                          "(δ_in = W·δ; for y = W·x + b it is Wᵀ·δ)",
                          slip_in_trace("weights_not_transposed",
                                        custom_backward(_square_weights,
                                                        _untransposed_backward))))]

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_dense(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_dense(ex, path, layer, index)
        return grad_dense(ex, path, layer)


DENSE = Dense()
