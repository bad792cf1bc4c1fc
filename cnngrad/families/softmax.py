"""softmax and log_softmax: over the last axis of a vector (K, or N×K batched), everything
cnngrad knows about them.  The numbers come from :mod:`cnngrad.layers.softmax`.

Unlike an element-wise activation, every output of a softmax depends on every input of its
row: the backward pass is a sum over the whole Jacobian, not its diagonal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnngrad.errors import ShapeError
from cnngrad.families.base import Head, LayerFamily
from cnngrad.layers import softmax
from cnngrad.problem import LayerSpec, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.teach.explain import Explanation, TensorPath


@dataclass
class SoftmaxSpec(LayerSpec):
    pass


def build_softmax(ctx, raw: dict, head: Head) -> SoftmaxSpec:
    if len(head.in_shape) != 2:
        shown = head.layout.display_shape(head.in_shape)
        raise ctx.error(head.where, f"{head.kind} works over the last axis of a vector (K or "
                                    f"N×K), but its input is a feature map of "
                                    f"{shape_text(shown)}: add a flatten layer before it",
                        cls=ShapeError)
    return SoftmaxSpec(**head.spec_fields(), out_shape=head.in_shape)


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def _row(layer: LayerTrace, n: int):
    """(o, softmax(o)) of one sample, float64."""
    o = np.asarray(layer.input[n], dtype=np.float64)
    return o, softmax.softmax_forward(o)


def _symbols(ex, layer: LayerTrace) -> dict[str, str]:
    extra = {"p": "softmax(o) of the sample"} if layer.type == "log_softmax" else {}
    return ex.layer_symbols(layer, **extra)


def output_softmax(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, operand, short

    n, k = index
    o_row, p_row = _row(layer, n)
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)(*index)
    top = float(o_row.max())
    total = float(np.exp(o_row - top).sum())
    sums = " + ".join(f"e^{operand(v)}" for v in o_row)  # e^(-0.93): a negative bracketed
    if layer.type == "softmax":
        # the factors as computed, each shifted by the largest input m (e^-m cancels
        # between them): labelled so, a student's e^o and Σ e^o are other numbers
        terms = [ex.term(Factor(f"e^({o(n, k)} - m)", math.exp(o_row[k] - top),
                                detail=f"e^({short(o_row[k])} - {operand(top)})"),
                         Factor(f"1/Σ_j e^({o(n, 'j')} - m)", 1 / total,
                                detail=f"1/{short(total)}"))]
        rhs = f"e^{o(n, k)} / Σ_j e^{o(n, 'j')}"
        shift = (f"m = {short(top)}, the largest, is subtracted from each before e^ (e^-m "
                 f"cancels between the two: the same result, no overflow)")
    else:
        log_total = top + math.log(total)
        terms = [ex.term(Factor(o(n, k), o_row[k])),
                 ex.term(Factor(f"-log Σ_j e^{o(n, 'j')}", -log_total,
                                detail=f"-log({sums})"))]
        rhs = f"{o(n, k)} - log Σ_j e^{o(n, 'j')}"
        shift = (f"the log of the sum is computed as m + log Σ_j e^({o(n, 'j')} - m), with m "
                 f"= {short(top)} the largest (the same number, no overflow)")
    return ex.finish(path, title=f"{x}: {layer.type} over the sample's {len(o_row)} inputs",
                     lhs=x, rhs=rhs, terms=terms, symbols=_symbols(ex, layer),
                     notes=[f"j runs over the {len(o_row)} entries of the vector "
                            f"({ex.range_text('j', len(o_row))}); {shift}."])


def delta_in_softmax(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar, short

    n, j = index
    _, p_row = _row(layer, n)
    size = len(p_row)
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    delta = ex.map_named("δ", layer.output.shape)
    terms = []
    for k in range(size):
        same = k == j
        if layer.type == "softmax":
            local = p_row[k] * ((1 if same else 0) - p_row[j])
            symbol = f"∂{x(n, k)}/∂{o(n, j)}"
            detail = (f"{short(p_row[k])}·(1 - {short(p_row[j])})" if same else
                      f"-{short(p_row[k])}·{short(p_row[j])}")
        else:
            local = (1 if same else 0) - p_row[j]
            symbol = f"∂{x(n, k)}/∂{o(n, j)}"
            detail = f"1 - {short(p_row[j])}" if same else f"-{short(p_row[j])}"
        terms.append(ex.term(Factor(delta(n, k), scalar(layer.delta_out[n, k])),
                             Factor(symbol, local, detail=detail),
                             note="the diagonal" if same else None))
    lhs = f"dE/d{o(n, j)}"
    if layer.type == "softmax":
        rule = ("∂x_k/∂o_j = x_k·([k = j] - x_j): x_k·(1 - x_k) on the diagonal, -x_k·x_j "
                "off it")
    else:
        rule = "∂x_k/∂o_j = [k = j] - p_j, with p = softmax(o) = e^x"
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(n, j)}",
                     lhs=lhs, rhs=f"Σ_k {delta(n, 'k')}·∂{x(n, 'k')}/∂{o(n, j)}",
                     terms=terms, symbols=_symbols(ex, layer),
                     notes=[f"Every output of the row depends on {o(n, j)}, so the sum runs "
                            f"over the whole column {j + ex.base} of the Jacobian "
                            f"J[k,j] = ∂x_k/∂o_j ({ex.range_text('k', size)}), not only its "
                            f"diagonal: {rule}.",
                            f"softmax of the row: ({', '.join(short(v) for v in p_row)})."])


# ------------------------------------------------------------------- textbook steps (--show-steps)


def jacobian(kind: str, p_row: np.ndarray) -> np.ndarray:
    """J[k, j] = ∂x_k/∂o_j of one sample: softmax p_k([k = j] − p_j), log_softmax
    [k = j] − p_j."""
    eye = np.eye(len(p_row))
    if kind == "softmax":
        return p_row[:, None] * (eye - p_row[None, :])
    return eye - p_row[None, :]


def softmax_textbook(layer: LayerTrace, layout):
    from cnngrad.teach.steps import Textbook

    batched = layout is not None and layout.batched
    delta = np.asarray(layer.delta_out, dtype=np.float64)
    delta_in = np.zeros_like(delta)
    steps = []
    for n in range(layer.input.shape[0]):
        tag = f" [n={n}]" if batched else ""
        _, p_row = _row(layer, n)
        matrix = jacobian(layer.type, p_row)
        delta_in[n] = delta[n] @ matrix
        steps.append((f"Jacobian{tag} J[k, j] = ∂x_k/∂o_j (row k: output, column j: input)",
                      matrix))
        steps.append((f"δ_in{tag} = δ·J: each input gets Σ_k δ_k·J[k, j], the whole column",
                      delta_in[n].copy()))
    return Textbook(steps=steps, delta_in=delta_in.astype(layer.delta_out.dtype))


# -------------------------------------------------------------------- common slips (cnngrad check)


def _is_softmax(layer) -> bool:
    return isinstance(layer.spec, SoftmaxSpec)


def _diagonal_only(spec, x, y, delta):
    # the slip: dx_j = δ_j·∂x_j/∂o_j, the rest of the Jacobian's column forgotten
    p = softmax.softmax_forward(np.asarray(x, dtype=np.float64))
    local = p * (1 - p) if spec.type == "softmax" else 1 - p
    return (np.asarray(delta, dtype=np.float64) * local).astype(y.dtype), {}


# --------------------------------------------------------------------------- the families


def _row_max(magnitudes, shape) -> np.ndarray:
    """The largest input magnitude of each vector (N, 1), a softmax's rows."""
    return np.broadcast_to(np.asarray(magnitudes, dtype=np.float64), shape).max(
        axis=-1, keepdims=True)


class _Softmax(LayerFamily):
    rational = False  # e^x
    activation_note = ""
    since = "1.1"  # contract v1.1
    shift_free = True  # e^(x + c) / Σ e^(x + c) is e^x / Σ e^x
    reads_vectors = True

    def build(self, ctx, raw, head):
        return build_softmax(ctx, raw, head)

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_softmax(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_softmax(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)

    def textbook(self, layer, layout):
        return softmax_textbook(layer, layout)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace

        return [(54, Slip("softmax_jacobian_diagonal",
                          "matches the softmax Jacobian taken as its diagonal (δ_j·x_j(1 - x_j) "
                          "only, the off-diagonal terms -x_k·x_j forgotten)",
                          slip_in_trace("softmax_jacobian_diagonal",
                                        custom_backward(_is_softmax, _diagonal_only))))]


class Softmax(_Softmax):
    type = "softmax"
    look_alikes = ("softplus", "softmin", "gumbelsoftmax", "softshrink")
    activation_note = "(none before a cross_entropy loss, which applies the softmax itself)"
    endless_decimals = "the softmax"  # e^x
    gives = "probabilities"  # rows summing to 1

    def forward(self, spec, inputs):
        return softmax.softmax_forward(inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        return [softmax.softmax_backward(output, delta_out)], {}

    def magnitude(self, spec, inputs, magnitudes, output):
        # (cnngrad.kinks) p_k's own rounding, and the inputs' noise δ carried through the
        # Jacobian: p_k·(δ_k − Σ_j p_j·δ_j) is at most p_k·2·max δ
        p = np.asarray(output, dtype=np.float64)
        return p * (1 + 2 * _row_max(magnitudes[0], p.shape))


class LogSoftmax(_Softmax):
    type = "log_softmax"
    endless_decimals = "the log-softmax"  # e^x and log
    gives = "log-probabilities"

    def forward(self, spec, inputs):
        return softmax.log_softmax_forward(inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        return [softmax.log_softmax_backward(output, delta_out)], {}

    def magnitude(self, spec, inputs, magnitudes, output):
        # (cnngrad.kinks) y = x − log Σ e^x: the terms x and log Σ e^x (= x − y), and the
        # inputs' noise δ carried through, δ_k − Σ_j p_j·δ_j, at most 2·max δ
        x, y = (np.asarray(a, dtype=np.float64) for a in (inputs[0], output))
        return np.abs(x) + np.abs(x - y) + 2 * _row_max(magnitudes[0], y.shape)


SOFTMAX = Softmax()
LOG_SOFTMAX = LogSoftmax()
