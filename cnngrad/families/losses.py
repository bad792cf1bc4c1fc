"""The losses, mse and cross_entropy: fields and validation, schema, E and its gradient,
explanation rules and slips.  The numbers come from :mod:`cnngrad.layers.losses`."""

from __future__ import annotations

from typing import TYPE_CHECKING
import dataclasses
import math
from fractions import Fraction

import numpy as np

from cnngrad.errors import ShapeError
from cnngrad.families.base import LossFamily, class_indices, written_text
from cnngrad.layers import losses
from cnngrad.layers._common import MSE_REDUCTIONS
from cnngrad.problem import LossSpec, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace, Trace
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.explain import Explanation, NamedCells, TensorPath


# ------------------------------------------------------------------------------- reading a problem


def build_mse(ctx, raw: dict, out_shape: tuple[int, ...], layout, last_name: str) -> LossSpec:
    kind = raw["type"]
    shown = layout.display_shape(out_shape)
    target = ctx.tensor(raw["target"], "loss.target")
    reduction = ctx.choice(raw.get("reduction", "half_sum"), "loss.reduction",
                           MSE_REDUCTIONS, "reduction")
    if target.shape != shown:
        raise ctx.error("loss.target", f"expected shape {shape_text(shown)} (the output "
                                        f"of {last_name}), got {shape_text(target.shape)}",
                        cls=ShapeError)
    # a map's target is given as shown (channels last under nhwc), computed channels first
    return LossSpec(type=kind, target=layout.to_internal(target, out_shape),
                    reduction=reduction, target_given=target)


def build_cross_entropy(ctx, raw: dict, out_shape: tuple[int, ...], layout, last_name: str) -> LossSpec:
    kind = raw["type"]
    shown = layout.display_shape(out_shape)
    target = ctx.tensor(raw["target"], "loss.target")
    if len(out_shape) != 2:
        raise ctx.error("loss", f"cross_entropy needs a vector output, but {last_name} "
                                 f"gives a feature map of {shape_text(shown)}",
                        "add flatten (and dense) layers before the loss",
                        cls=ShapeError)
    n, k = out_shape
    if target.shape == shown:
        written = ctx.written(raw["target"], "loss.target", target).reshape(out_shape)
        _check_probabilities(ctx, written, len(shown) == 2, raw["target"])
        return LossSpec(type=kind, target=target.reshape(out_shape), target_given=target)
    index_shape = shown[:-1]
    if target.shape != index_shape:
        expected = (f"a class index (0 to {k - 1})" if not index_shape else
                    ("a list of 1 class index" if n == 1 else f"{n} class indices"))
        raise ctx.error("loss.target", f"expected {expected} or probabilities of shape "
                                        f"{shape_text(shown)}, got "
                                        f"{_got_shape(target.shape)}", cls=ShapeError)
    indices = class_indices(ctx, raw["target"], target, index_shape, k,
                            f"a class index is 0 to {k - 1}; or give probabilities of shape "
                            f"{shape_text(shown)}")
    onehot = np.zeros((n, k), dtype=object if ctx.exact else np.float64)
    for i, index in enumerate(indices):
        onehot[i, index] = 1
    return LossSpec(type=kind, target=onehot, target_given=target, class_index=True)


def has_batch_axis(spec) -> bool:
    """Whether a classification loss (cross_entropy, nll) is taken over a batch: its target
    was given per sample (a list of class indices, a matrix of probabilities), as the
    contract shapes it when the problem's input has a batch axis.  One class index or one
    probability vector is a single sample: its loss is that sample's, with no mean."""
    given = spec.target_given
    if given is None:
        return True
    return np.ndim(given) == (1 if spec.class_index else 2)


def _got_shape(shape: tuple[int, ...]) -> str:
    return f"shape {shape_text(shape)}" if shape else "a number"


#: Contract v1.1: a probability target sums to 1 within this, bound included, on the
#: numbers as written (0.5 and 0.500000001 are within it, though their float sum is not).
PROBABILITY_SUM_TOLERANCE = Fraction(1, 10**9)


def _check_probabilities(ctx, rows: np.ndarray, batched: bool, given) -> None:
    """Contract v1.1: each probability target sums to 1 within 1e-9 (a row that does not is
    most likely a typo, and cross-entropy with it is no longer a distance to a distribution).
    ``given``: the target as the document writes it (the place of a bad value)."""
    for i, row in enumerate(rows):
        at_row = (i,) if batched else ()
        for j, value in enumerate(row.tolist()):
            # [1.5, -0.5] sums to 1 but is no distribution (torch would not object)
            if not 0 <= value <= 1:
                raise ctx.cell_error(given, "loss.target", at_row + (j,),
                                     f"a probability lies in [0, 1], got "
                                     f"{written_text(value)}",
                                     "a probability target is a distribution over the "
                                     "classes; or give a class index")
        total = sum(row.tolist())
        if abs(total - 1) > PROBABILITY_SUM_TOLERANCE:
            # a CSV file names the row itself (row 2: the file's numbering, not the batch's)
            what = (f"row {i}'s probabilities" if batched and not isinstance(given, dict)
                    else "the probabilities")
            raise ctx.cell_error(given, "loss.target", at_row,
                                 f"{what} sum to {written_text(total)}, not 1 (within 1e-9)",
                                 "a probability target is a distribution over the classes; "
                                 "or give a class index")


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def loss_gradient(ex, path: TensorPath, layer: LayerTrace, index, lhs: str,
                  symbols: dict) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar, operand, short

    spec = ex.trace.problem.loss
    y = ex.map_named("y", layer.output.shape)
    t = ex.map_named("t", layer.output.shape)
    y_value, t_value = scalar(layer.output[index]), scalar(spec.target[index])
    symbols = dict(symbols, y=f"the last layer's output ({layer.name}.output)",
                   t="the loss target")
    diff = Factor(f"{y(*index)} - {t(*index)}", y_value - t_value,
                  detail=f"{short(y_value)} - {operand(t_value)}")
    if spec.type == "mse":
        count = layer.output.size
        if spec.reduction == "half_sum":
            factors, rhs = [diff], f"{y(*index)} - {t(*index)}"
            rule = "E = ½ Σ (t - y)², so dE/dy = y - t"
        elif spec.reduction == "sum":
            factors = [Factor("2", 2), diff]
            rhs = f"2·({y(*index)} - {t(*index)})"
            rule = "E = Σ (t - y)², so dE/dy = 2(y - t)"
        elif spec.reduction == "mean":
            factors = [Factor(f"2/{count}", ex.frac(2, count)), diff]
            rhs = f"2/{count}·({y(*index)} - {t(*index)})"
            rule = f"E = (1/{count}) Σ (t - y)² over all {count} elements, so dE/dy = " \
                   f"2(y - t)/{count}"
        else:
            raise ValueError(f"unknown mse reduction {spec.reduction!r}")
        return ex.finish(path, title=f"{lhs}: the loss gradient at {layer.name}'s output",
                         lhs=lhs, rhs=rhs, terms=[ex.term(*factors)], symbols=symbols,
                         notes=[f"mse, reduction {spec.reduction}: {rule}."])
    if spec.type == "cross_entropy":
        n, k = index
        p_row = _softmax(layer.output[n])
        t_row = [float(v) for v in spec.target[n]]
        t_sum = sum(t_row)
        batch = layer.output.shape[0]
        p = ex.map_named("p", layer.output.shape)
        batched = has_batch_axis(spec)
        if t_sum == 1:
            inner = Factor(f"{p(*index)} - {t(*index)}", p_row[k] - t_row[k],
                           detail=f"{short(p_row[k])} - {operand(t_row[k])}")
            rule = "dE/dy = (p - t)/N (t sums to 1)" if batched else \
                "dE/dy = p - t (t sums to 1)"
        else:
            inner = Factor(f"{p(*index)}·Σt - {t(*index)}", p_row[k] * t_sum - t_row[k],
                           detail=f"{short(p_row[k])}·{operand(t_sum)} - {operand(t_row[k])}")
            rule = "dE/dy = (p·Σ_k t - t)/N" if batched else "dE/dy = p·Σ_k t - t"
        factors = [inner] if batch == 1 else [Factor(f"1/{batch}", 1 / batch), inner]
        symbols["p"] = "softmax(y) per sample" if batched else "softmax(y)"
        what = (f"cross-entropy on softmax, mean over the batch of {batch}" if batched else
                "cross-entropy on softmax of one sample (no batch axis, so no mean)")
        notes = [f"{what}: {rule}.", _softmax_note(p, y, n, layer.output[n], p_row)]
        return ex.finish(path, title=f"{lhs}: the loss gradient at {layer.name}'s output",
                         lhs=lhs, rhs=inner.symbol if batch == 1 else
                         f"({inner.symbol})/{batch}",
                         terms=[ex.term(*factors)], symbols=symbols, notes=notes)
    raise ValueError(f"unknown loss {spec.type!r}")


def loss(ex, path: TensorPath) -> Explanation:
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns, operand, scalar, short

    problem = ex.trace.problem
    spec = problem.loss
    last = ex.trace.layers[-1]
    y = ex.map_named("y", last.output.shape)
    t = ex.map_named("t", last.output.shape)
    symbols = {"y": f"the last layer's output ({last.name}.output)", "t": "the loss target"}
    terms = []
    if spec.type == "mse":
        count = last.output.size
        if spec.reduction == "half_sum":
            scale, rhs = Factor("½", ex.frac(1, 2)), "½ Σ (t - y)²"
        elif spec.reduction == "sum":
            scale, rhs = None, "Σ (t - y)²"
        elif spec.reduction == "mean":
            scale, rhs = Factor(f"1/{count}", ex.frac(1, count)), f"(1/{count}) Σ (t - y)²"
        else:
            raise ValueError(f"unknown mse reduction {spec.reduction!r}")
        shape = last.output.shape

        def build(position: int) -> Term:
            index = tuple(int(v) for v in np.unravel_index(position, shape))
            yv, tv = scalar(last.output[index]), scalar(spec.target[index])
            square = Factor(f"({t(*index)} - {y(*index)})²", (tv - yv) * (tv - yv),
                            detail=f"({short(tv)} - {operand(yv)})²")
            return ex.term(*([scale] if scale else []), square)

        # a term per element, built when shown; the squares as build's: Python's numbers
        # (Fractions when exact) or float64, whose arithmetic is the same to the bit
        rational = object in (np.asarray(last.output).dtype, np.asarray(spec.target).dtype)
        kind = object if rational else np.float64
        diff = (np.asarray(spec.target, dtype=kind) - np.asarray(last.output, dtype=kind))
        squares = Column("(t - y)²", (diff * diff).reshape(-1))
        terms = TermColumns(([Column(scale.symbol, np.full(count, scale.value, dtype=kind))]
                             if scale else []) + [squares], build)
        notes = [f"mse with reduction '{spec.reduction}', over all {count} elements of y."]
    elif spec.type == "cross_entropy":
        batch = last.output.shape[0]
        p = ex.map_named("p", last.output.shape)
        notes = []
        for n in range(batch):
            underflows: list[str] = []
            p_row = _softmax(last.output[n])
            for k in range(last.output.shape[1]):
                tv = float(spec.target[n, k])
                factors = [Factor("-1" if batch == 1 else f"-1/{batch}", -1 / batch),
                           Factor(t(n, k), tv)]
                if tv != 0:
                    # p may underflow to 0: log p = y_k − logsumexp(y) stays finite, and
                    # is shown so (log(0) = -2003 would not add up)
                    if p_row[k] > 0:
                        log_p, detail = math.log(p_row[k]), f"log({short(p_row[k])})"
                    else:
                        log_p = _log_softmax_entry(last.output[n], k)
                        yk = float(last.output[n][k])
                        detail = f"({short(yk)} - {short(yk - log_p)})"
                        underflows.append(f"{p(n, k)} is below the smallest float: its log is "
                                          f"{y(n, k)} - logsumexp, with logsumexp = log "
                                          f"Σ_j e^{y(n, 'j')} = {short(yk - log_p)}.")
                    factors.append(Factor(f"log({p(n, k)})", log_p, detail=detail))
                else:
                    factors.append(Factor(f"log({p(n, k)})", 0, zero_reason="t = 0"))
                terms.append(ex.term(*factors))
            notes.append(_softmax_note(p, y, n, last.output[n], p_row))
            notes += underflows
        batched = has_batch_axis(spec)
        rhs = (f"-Σ_k {t(0, 'k')}·log {p(0, 'k')}" if batch == 1 else
               f"(1/{batch}) Σ_n -Σ_k t[n,k]·log p[n,k]")
        symbols["p"] = "softmax(y) per sample" if batched else "softmax(y)"
        if spec.class_index and batched:
            notes.append("The target was given as class indices: t is their one-hot vector.")
        elif spec.class_index:
            notes.append("The target was given as a class index: t is its one-hot vector.")
    else:
        raise ValueError(f"unknown loss {spec.type!r}")
    return ex.finish(path, title=f"E: the loss ({spec.type})", lhs="E", rhs=rhs,
                     terms=terms, symbols=symbols, notes=notes)


def _softmax(logits) -> list[float]:


    z = [float(v) for v in logits]
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def _log_softmax_entry(logits, k: int) -> float:
    """log softmax(logits)[k] as logits[k] − logsumexp(logits), finite where p underflows."""
    z = [float(v) for v in logits]
    top = max(z)
    return z[k] - top - math.log(sum(math.exp(v - top) for v in z))


def _softmax_note(p: NamedCells, y: NamedCells, n: int, logits, p_row) -> str:
    from cnngrad.teach.explain import short

    values = ", ".join(short(v) for v in p_row)
    return (f"{p(n, 'k')} = e^{y(n, 'k')} / Σ_j e^{y(n, 'j')}: "
            f"softmax({', '.join(short(v) for v in logits)}) = ({values}).")


# -------------------------------------------------------------------- common slips (cnngrad check)


def _mse_rerun(given: tuple[str, ...], slipped: str):
    """A trace builder: the MSE loss with another reduction (loss value and every delta)."""
    from cnngrad.network import loss_and_delta
    from cnngrad.teach.diagnose import rerun_backward

    def build(ctx: SlipContext) -> Trace | None:
        loss = ctx.problem.loss
        if loss is None or loss.type != "mse" or loss.reduction not in given:
            return None
        problem = dataclasses.replace(ctx.problem,
                                      loss=dataclasses.replace(loss, reduction=slipped))
        value, seed = loss_and_delta(problem, ctx.trace.layers[-1].output)
        value = value if isinstance(value, Fraction) else float(value)
        return rerun_backward(ctx.trace, lambda layer: None, seed=seed, loss=value)

    return build


def _target_not_subtracted(ctx: SlipContext) -> Trace | None:
    """A trace builder: cross_entropy's delta taken as p = softmax(output) (over the batch),
    the one-hot target never subtracted; the loss as it is."""
    from cnngrad.teach.diagnose import rerun_backward

    loss = ctx.problem.loss
    if loss is None or loss.type != "cross_entropy":
        return None
    output = np.asarray(ctx.trace.layers[-1].output, dtype=np.float64)
    probabilities = losses.softmax(output.reshape(-1, output.shape[-1])).reshape(output.shape)
    seed = (probabilities / probabilities.reshape(-1, output.shape[-1]).shape[0]
            ).astype(ctx.trace.layers[-1].delta_out.dtype)
    return rerun_backward(ctx.trace, lambda layer: None, seed=seed)


# --------------------------------------------------------------------------- the families


class Mse(LossFamily):
    type = "mse"
    other_names = ("mseloss", "meansquarederror", "l2")
    fields = ("target", "reduction")

    def build(self, ctx, raw, out_shape, layout, last_name):
        return build_mse(ctx, raw, out_shape, layout, last_name)

    def schema_fields(self, ref):
        return {"target": ref("tensor_target"),
                "reduction": {"enum": list(MSE_REDUCTIONS), "default": "half_sum"}}

    def loss_and_delta(self, spec, output):
        target = spec.target if output.dtype == object else spec.target.astype(output.dtype)
        return losses.mse(output, target, spec.reduction)

    def summary(self, spec):
        return f"mse, {spec.reduction}"

    def batch_averaged(self, spec):
        return spec.reduction == "mean"

    def definition(self, spec):
        return {"half_sum": "E = ½ Σ (t − y)²", "sum": "E = Σ (t − y)²",
                "mean": "E = the mean of (t − y)² over all elements"}[spec.reduction]

    def explain_loss(self, ex, path):
        return loss(ex, path)

    def explain_gradient(self, ex, path, layer, index, lhs, symbols):
        return loss_gradient(ex, path, layer, index, lhs, symbols)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, slip_in_trace

        return [
            (20, Slip("mse_without_half", "matches MSE without the ½",
                      slip_in_trace("mse_without_half", _mse_rerun(("half_sum",), "sum")))),
            (21, Slip("mse_with_half", "matches MSE with a ½ (½Σ instead of Σ)",
                      slip_in_trace("mse_with_half", _mse_rerun(("sum",), "half_sum")))),
            (22, Slip("mse_sum_not_mean", "matches MSE summed instead of averaged",
                      slip_in_trace("mse_sum_not_mean", _mse_rerun(("mean",), "sum")))),
            (23, Slip("mse_mean_not_sum",
                      "matches MSE averaged over the elements instead of summed",
                      slip_in_trace("mse_mean_not_sum", _mse_rerun(("half_sum", "sum"),
                                                                   "mean")))),
        ]


class CrossEntropy(LossFamily):
    type = "cross_entropy"
    other_names = ("ce", "crossentropyloss", "categoricalcrossentropy", "softmaxcrossentropy",
                   "sparsecategoricalcrossentropy")  # Keras' name with class index targets
    rational = False
    averages = True  # over the batch
    shift_free = True  # its softmax: e^(x + c) / Σ e^(x + c) is e^x / Σ e^x
    endless_decimals = "the cross-entropy's logarithm"
    takes_class_index = True  # a class index per sample ...
    takes_distribution = True  # ... or a probability row per sample
    reads, applies = "logits", "softmax"  # torch's cross_entropy: log_softmax, then nll

    def build(self, ctx, raw, out_shape, layout, last_name):
        return build_cross_entropy(ctx, raw, out_shape, layout, last_name)

    def schema_fields(self, ref):
        return {"target": {**ref("tensor_target"),
                           "description": "a class index, one per sample, or probabilities"}}

    def loss_and_delta(self, spec, output):
        loss, delta = losses.cross_entropy(output, spec.target)
        return loss, delta.astype(output.dtype)

    def summary(self, spec):
        return ("cross_entropy, mean over batch" if has_batch_axis(spec) else
                "cross_entropy of one sample, no batch axis")

    def batch_averaged(self, spec):
        return True  # the contract's mean over the batch, whatever the spec's reduction says

    def definition(self, spec):
        # a class index is the target's one-hot vector: −Σ t·log p is then −log p[class]
        t = (" (t: the one-hot vector of the class index, so E = −log p[class])"
             if spec.class_index else "")
        if not has_batch_axis(spec):
            return f"p = softmax(y) of the output y, then E = −Σ t·log p{t}"
        return (f"p = softmax(y) of each sample's output y, then −Σ t·log p{t}; E is "
                f"the mean over the batch")

    def report_tensors(self, spec, output):
        return [("p = softmax(output)  (class probabilities)",
                 losses.softmax(np.asarray(output, dtype=np.float64)))]

    def explain_loss(self, ex, path):
        return loss(ex, path)

    def explain_gradient(self, ex, path, layer, index, lhs, symbols):
        return loss_gradient(ex, path, layer, index, lhs, symbols)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, slip_in_trace

        return [(25, Slip("target_not_subtracted",
                          "matches the softmax's probabilities without the one-hot target "
                          "subtracted (p instead of p − t)",
                          slip_in_trace("target_not_subtracted", _target_not_subtracted)))]


MSE = Mse()
CROSS_ENTROPY = CrossEntropy()
