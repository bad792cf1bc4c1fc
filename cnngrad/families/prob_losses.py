"""The losses on probabilities: bce (binary cross-entropy on probabilities), bce_with_logits
(on logits) and nll (negative log-likelihood of log-probabilities): fields and validation,
schema, E and its gradient, explanation rules and slips.  The numbers come from
:mod:`cnngrad.layers.losses`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from collections.abc import Callable
from typing import Any, TYPE_CHECKING

import numpy as np

from cnngrad.errors import DomainError, ShapeError, allowed_list
from cnngrad.families.base import LossFamily, class_indices, written_text
from cnngrad.layers import losses
from cnngrad.problem import LossSpec, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace, Trace
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.explain import Explanation, TensorPath


@dataclass
class ProbLossSpec(LossSpec):
    file: str | None = None  # for an error found while running (a bce output outside [0, 1])
    last_name: str = ""  # the last layer, whose output the loss reads
    layout: Any = None  # cnngrad.problem.Layout: the output's cells as the user sees them
    indices: np.ndarray | None = None  # nll: one class index per sample, (N,)


# ------------------------------------------------------------------------------- reading a problem


def build_bce(ctx, raw: dict, out_shape: tuple[int, ...], layout, last_name: str) -> ProbLossSpec:
    kind = raw["type"]
    shown = layout.display_shape(out_shape)
    target = ctx.tensor(raw["target"], "loss.target")
    if target.shape != shown:
        raise ctx.error("loss.target", f"expected shape {shape_text(shown)} (the output of "
                                        f"{last_name}), got {shape_text(target.shape)}",
                        cls=ShapeError)
    # bce's target is a probability (the contract's rule); bce_with_logits takes any real
    # target, as torch's does, the contract being silent: the loss and its delta are
    # defined for every t (max(z, 0) − z·t + log(1 + e^−|z|), σ(z) − t)
    written = ctx.written(raw["target"], "loss.target", target)  # in [0, 1] as written
    bad = np.argwhere((written < 0) | (written > 1)) if kind == "bce" else ()
    if len(bad):
        index = tuple(int(i) for i in bad[0])
        raise ctx.cell_error(raw["target"], "loss.target", index,
                             f"a {kind} target lies in [0, 1] (a probability), got "
                             f"{written_text(written[index])}")
    reduction = raw.get("reduction", "mean")
    if reduction in losses.MSE_REDUCTIONS and reduction not in losses.BCE_REDUCTIONS:
        # ½ Σ is the squared error's textbook form; a bce has none (sum is twice as much)
        raise ctx.error("loss.reduction", f"unknown reduction {reduction!r} for {kind} "
                                          f"({reduction} is mse's ½ Σ)",
                        allowed_list(losses.BCE_REDUCTIONS))
    reduction = ctx.choice(reduction, "loss.reduction", losses.BCE_REDUCTIONS, "reduction")
    return ProbLossSpec(type=kind, target=layout.to_internal(target, out_shape),
                        reduction=reduction, target_given=target, file=ctx.file,
                        last_name=last_name, layout=layout)


def build_nll(ctx, raw: dict, out_shape: tuple[int, ...], layout, last_name: str) -> ProbLossSpec:
    shown = layout.display_shape(out_shape)
    if len(out_shape) != 2:
        raise ctx.error("loss", f"nll needs a vector of log-probabilities, but {last_name} "
                                f"gives a feature map of {shape_text(shown)}: add a flatten "
                                f"layer before the loss",
                        "a classifier ends flatten → dense → log_softmax → nll", cls=ShapeError)
    n, k = out_shape
    target = ctx.tensor(raw["target"], "loss.target")
    index_shape = shown[:-1]
    if target.shape != index_shape:
        expected = f"a class index (0 to {k - 1})" if not index_shape else \
            ("a list of 1 class index (the batch has one sample)" if n == 1
             else f"{n} class indices, one per sample")
        hint = ("nll takes class indices; for a probability target use cross_entropy on the "
                "logits" if target.shape == shown else None)
        got = f"shape {shape_text(target.shape)}" if target.shape else "a number"
        raise ctx.error("loss.target", f"expected {expected}, got {got}", hint, cls=ShapeError)
    indices = np.array(class_indices(ctx, raw["target"], target, index_shape, k,
                                     f"a class index is 0 to {k - 1}"), dtype=np.int64)
    onehot = np.zeros((n, k), dtype=object if ctx.exact else np.float64)
    if ctx.exact:
        onehot.fill(0)
    onehot[np.arange(n), indices] = 1
    return ProbLossSpec(type="nll", target=onehot, target_given=target, class_index=True,
                        reduction="mean", file=ctx.file, last_name=last_name, layout=layout,
                        indices=indices)


# ---------------------------------------------------------------------------------------- E and δ


def _check_probabilities(spec: ProbLossSpec, output: np.ndarray) -> None:
    values = np.asarray(output, dtype=np.float64)
    outside = (values < 0) | (values > 1) | np.isnan(values)
    if not outside.any():
        return
    shown = spec.layout.to_display(values) if spec.layout is not None else values
    index = tuple(int(i) for i in np.argwhere((shown < 0) | (shown > 1) | np.isnan(shown))[0])
    value = float(shown[index])
    text = f"{value:.6g}"
    if 0 <= float(text) <= 1:  # 1.0000000000000002 is no "1": every digit, and which side
        text = f"{value!r}, just past {1 if value > 1 else 0}"
    raise DomainError(f"bce needs probabilities in [0, 1], but {spec.last_name}.output{{cell}} "
                       f"is {text}", cell=index, where="loss", file=spec.file,
                       hint="end the network with a sigmoid layer, or use bce_with_logits on "
                            "the raw outputs")


def _bce_loss_and_delta(spec: ProbLossSpec, output: np.ndarray):
    if spec.type == "bce":
        _check_probabilities(spec, output)
        loss, delta = losses.bce(output, spec.target, spec.reduction)
    else:
        loss, delta = losses.bce_with_logits(output, spec.target, spec.reduction)
    dtype = output.dtype if output.dtype.kind == "f" else np.float64
    return loss, delta.astype(dtype)


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _log_clamped(value: float) -> float:
    return max(math.log(value), losses.LOG_CLAMP) if value > 0 else losses.LOG_CLAMP


#: The floor of bce's gradient denominator as the reports write it: torch's 1e-12, a float32.
_FLOOR = f"{losses.BCE_GRAD_EPSILON:.0e}"
#: ... and as explain's numbers use it: 1e-12 as a float32 is 9.999999960041972e-13, 4e-9
#: below, and a quotient by it must be redone from the number shown, to its last digit
_FLOOR_USED = repr(losses.BCE_GRAD_EPSILON)


def _floored(output) -> np.ndarray:
    """Where bce's gradient denominator y·(1 − y) is held at its floor (PyTorch's rule): y
    within 1e-12 of 0 or 1 (a bool array of the output's shape)."""
    y = np.asarray(output, dtype=np.float64)
    return y * (1 - y) < losses.BCE_GRAD_EPSILON


def _log_text(value: float) -> str:
    """``log 0.95``, or ``max(log 0, -100)`` where torch's clamp of the log decides it."""
    from cnngrad.teach.explain import short

    text = f"log {short(value)}"
    if value > 0 and math.log(value) >= losses.LOG_CLAMP:
        return text
    return f"max({text}, {losses.LOG_CLAMP:g})"


def _bce_symbols(ex, layer: LayerTrace, kind: str) -> dict[str, str]:
    symbols = {"y": f"the last layer's output ({layer.name}.output)", "t": "the loss target"}
    if kind == "bce_with_logits":
        symbols["σ"] = "the sigmoid, σ(y) = 1/(1 + e^-y)"
    return symbols


def _reduction_factor(ex, spec: ProbLossSpec, count: int):
    from cnngrad.teach.explain import Factor

    # the fraction itself among the numbers: 0.333333 × 3e11 is 100,000 off the total
    return [Factor(f"1/{count}", ex.frac(1, count), detail=f"1/{count}")] \
        if spec.reduction == "mean" else []


def _bce_term_value(kind: str, yv: float, tv: float) -> float:
    """One element's loss, as the engine's formula for ``kind`` with Python's math."""
    if kind == "bce":
        return -(tv * _log_clamped(yv) + (1 - tv) * _log_clamped(1 - yv))
    return max(yv, 0) - yv * tv + math.log1p(math.exp(-abs(yv)))


def explain_bce_loss(ex, path: TensorPath) -> Explanation:
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns, operand, short

    spec: ProbLossSpec = ex.trace.problem.loss
    last = ex.trace.layers[-1]
    y = ex.map_named("y", last.output.shape)
    t = ex.map_named("t", last.output.shape)
    count = last.output.size
    scale = _reduction_factor(ex, spec, count)
    outputs = np.asarray(last.output, dtype=np.float64).reshape(-1).tolist()
    targets = np.asarray(spec.target, dtype=np.float64).reshape(-1).tolist()

    def build(position: int) -> Term:
        index = tuple(int(v) for v in np.unravel_index(position, last.output.shape))
        yv, tv = outputs[position], targets[position]
        value = _bce_term_value(spec.type, yv, tv)
        if spec.type == "bce":
            symbol = f"-[{t(*index)}·log {y(*index)} + (1 - {t(*index)})·log(1 - {y(*index)})]"
            detail = f"-[{short(tv)}·{_log_text(yv)} + {short(1 - tv)}·{_log_text(1 - yv)}]"
        else:
            symbol = (f"-[{t(*index)}·log σ({y(*index)}) + (1 - {t(*index)})·"
                      f"log(1 - σ({y(*index)}))]")
            # σ(y) and 1 - σ(y) = σ(-y), each without the other's rounding; past |y| ≈ 745
            # one of them is 0 in float64, and the stable form the value comes from is shown
            if _sigmoid(yv) > 0 and _sigmoid(-yv) > 0:
                # a target outside [0, 1] (bce_with_logits takes any) in brackets: no "+ -0.5"
                detail = (f"-[{operand(tv)}·log {short(_sigmoid(yv))} + {operand(1 - tv)}·"
                          f"log {short(_sigmoid(-yv))}]")
            else:
                detail = (f"max({short(yv)}, 0) - {operand(yv)}·{operand(tv)} + "
                          f"log(1 + e^-|{short(yv)}|)")
        return ex.term(*scale, Factor(symbol, value, detail=detail))

    # a term per element, built when shown; each value by build's own formula (Python's
    # math, as each term shows it: numpy's log and exp may differ in the last bit)
    values = np.array([_bce_term_value(spec.type, yv, tv) for yv, tv in zip(outputs, targets)],
                      dtype=np.float64)
    name = ("-[t·log y + (1 - t)·log(1 - y)]" if spec.type == "bce" else
            "-[t·log σ(y) + (1 - t)·log(1 - σ(y))]")
    terms = TermColumns([Column(factor.symbol, np.full(count, factor.value))
                         for factor in scale] + [Column(name, values)], build)
    inner = "t·log y + (1 - t)·log(1 - y)" if spec.type == "bce" else \
        "t·log σ(y) + (1 - t)·log(1 - σ(y))"
    rhs = (f"-(1/{count}) Σ [{inner}]" if spec.reduction == "mean" else f"-Σ [{inner}]")
    notes = [f"{spec.type} with reduction '{spec.reduction}', over all {count} elements of y."]
    if spec.type == "bce":
        notes.append("Each log is clamped at -100 (as torch), so y = 0 or 1 stays finite.")
    else:
        notes.append("Computed stably as max(y, 0) - y·t + log(1 + e^-|y|) (as torch).")
    return ex.finish(path, title=f"E: the loss ({spec.type})", lhs="E", rhs=rhs, terms=terms,
                     symbols=_bce_symbols(ex, last, spec.type), notes=notes)


def explain_bce_gradient(ex, path: TensorPath, layer: LayerTrace, index, lhs: str,
                         symbols: dict) -> Explanation:
    from cnngrad.teach.explain import Factor, operand, short

    spec: ProbLossSpec = ex.trace.problem.loss
    y = ex.map_named("y", layer.output.shape)(*index)
    t = ex.map_named("t", layer.output.shape)(*index)
    yv, tv = float(layer.output[index]), float(spec.target[index])
    count = layer.output.size
    scale = _reduction_factor(ex, spec, count)
    notes = []
    if spec.type == "bce":
        denominator = max(yv * (1 - yv), losses.BCE_GRAD_EPSILON)
        held = bool(_floored(yv))
        product = f"{short(yv)}·{operand(1 - yv)}"
        local = Factor(f"({y} - {t})/" + (f"max({y}·(1 - {y}), ε)" if held else
                                           f"({y}·(1 - {y}))"), (yv - tv) / denominator,
                       detail=f"({short(yv)} - {operand(tv)})/" +
                              (f"max({product}, {_FLOOR_USED})" if held else f"({product})"))
        rule = "dE/dy = (y - t)/(y(1 - y))"
        if held:
            notes.append(f"y·(1 - y) is held at ε = {_FLOOR} at least (torch's convention: "
                         f"a float32, {_FLOOR_USED}), so a y of 0 or 1 gives a large finite "
                         f"gradient, not a division by 0.")
    else:
        local = Factor(f"σ({y}) - {t}", _sigmoid(yv) - tv,
                       detail=f"{short(_sigmoid(yv))} - {operand(tv)}")
        rule = "dE/dy = σ(y) - t (the sigmoid's derivative cancels the log's)"
    mean = f", divided by the {count} elements (reduction 'mean')" \
        if spec.reduction == "mean" else " (reduction 'sum')"
    # bce_with_logits' difference divided: in brackets, σ(y) - t/3 would divide t alone
    whole = local.symbol if spec.type == "bce" else f"({local.symbol})"
    return ex.finish(path, title=f"{lhs}: the loss gradient at {layer.name}'s output", lhs=lhs,
                     rhs=(f"{whole}/{count}" if scale else local.symbol),
                     terms=[ex.term(*scale, local)],
                     symbols=dict(symbols, **_bce_symbols(ex, layer, spec.type)),
                     notes=[f"{spec.type}: {rule}{mean}.", *notes])


def explain_nll_loss(ex, path: TensorPath) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    spec: ProbLossSpec = ex.trace.problem.loss
    last = ex.trace.layers[-1]
    y = ex.map_named("y", last.output.shape)
    batch = last.output.shape[0]
    terms = [ex.term(Factor("-1" if batch == 1 else f"-1/{batch}", -ex.frac(1, batch)),
                     Factor(y(n, int(spec.indices[n])), scalar(last.output[n, spec.indices[n]])))
             for n in range(batch)]
    rhs = f"-{y(0, 't')}" if batch == 1 else f"-(1/{batch}) Σ_n {y('n', 't_n')}"
    return ex.finish(path, title="E: the loss (nll)", lhs="E", rhs=rhs, terms=terms,
                     symbols={"y": f"the last layer's output ({last.name}.output), "
                                   f"log-probabilities", "t": "the target class"},
                     notes=[_nll_note(spec, batch)])


def _nll_note(spec: ProbLossSpec, batch: int) -> str:
    from cnngrad.families.losses import has_batch_axis

    if not has_batch_axis(spec):
        return "nll picks the log-probability of the target class (one sample, no batch axis)."
    return ("nll picks the log-probability of each sample's target class"
            + (f" and averages over the batch of {batch}." if batch > 1 else "."))


def explain_nll_gradient(ex, path: TensorPath, layer: LayerTrace, index, lhs: str,
                         symbols: dict) -> Explanation:
    from cnngrad.teach.explain import Factor

    spec: ProbLossSpec = ex.trace.problem.loss
    n, k = index
    batch = layer.output.shape[0]
    target = int(spec.indices[n])
    hit = k == target
    value = -ex.frac(1, batch) if hit else ex.frac(0, 1)
    factor = Factor("-1" if batch == 1 else f"-1/{batch}", value,
                    zero_reason=f"{k + ex.base} is not the target class {target + ex.base}")
    return ex.finish(path, title=f"{lhs}: the loss gradient at {layer.name}'s output", lhs=lhs,
                     rhs=(f"-1/{batch} at the target class, else 0" if batch > 1 else
                          "-1 at the target class, else 0"),
                     terms=[ex.term(factor)],
                     symbols=dict(symbols, y=f"the last layer's output ({layer.name}.output), "
                                             f"log-probabilities", t="the target class"),
                     notes=[_nll_gradient_note(spec, target + ex.base, batch)])


def _nll_gradient_note(spec: ProbLossSpec, target: int, batch: int) -> str:
    from cnngrad.families.losses import has_batch_axis

    if not has_batch_axis(spec):
        return (f"E = -y[t] is linear in y: only the target class {target} has a gradient, "
                f"-1 (one sample, no batch axis, so no mean).")
    return (f"E = -(1/N)·Σ_n y[n, t_n] is linear in y: only the target class {target} of the "
            f"sample has a gradient, -1/N (N = {batch}).")


# -------------------------------------------------------------------- common slips (cnngrad check)


def _bce_sum_rerun(ctx: SlipContext) -> Trace | None:
    from cnngrad.network import loss_and_delta
    from cnngrad.teach.diagnose import rerun_backward

    loss = ctx.problem.loss
    if loss is None or loss.type not in ("bce", "bce_with_logits") or \
            loss.reduction != "mean" or ctx.trace.layers[-1].output.size < 2:
        return None
    problem = dataclasses.replace(ctx.problem,
                                  loss=dataclasses.replace(loss, reduction="sum"))
    value, seed = loss_and_delta(problem, ctx.trace.layers[-1].output)
    return rerun_backward(ctx.trace, lambda layer: None, seed=seed, loss=float(value))


# --------------------------------------------------------------------------- the families


class _Bce(LossFamily):
    fields = ("target", "reduction")
    rational = False  # log, e^x
    averages = True  # reduction "mean" (the default) over every element
    endless_decimals = "the binary cross-entropy's logarithm"

    def build(self, ctx, raw, out_shape, layout, last_name):
        return build_bce(ctx, raw, out_shape, layout, last_name)

    #: what the schema says of the target: bce's values are probabilities (the contract's
    #: rule), bce_with_logits takes any, as torch's does
    target_description = "values in [0, 1], the output's shape"

    def schema_fields(self, ref):
        return {"target": {**ref("tensor_target"), "description": self.target_description},
                "reduction": {"enum": list(losses.BCE_REDUCTIONS), "default": "mean"}}

    def loss_and_delta(self, spec, output):
        return _bce_loss_and_delta(spec, output)

    def summary(self, spec):
        return f"{self.type}, {spec.reduction}"

    def definition(self, spec):
        # bce_with_logits is bce of sigmoid(y), computed stably: no log is clamped there
        reduced = ("E is their mean (reduction mean)" if spec.reduction == "mean" else
                   "E is their sum (reduction sum)")
        if self.applies is None:
            return (f"−[t·log y + (1 − t)·log(1 − y)] for every element, each log clamped at "
                    f"−{abs(losses.LOG_CLAMP):g}; {reduced}")
        return (f"s = {self.applies}(y) of the output y, −[t·log s + (1 − t)·log(1 − s)] for "
                f"every element, computed stably (no log clamped); {reduced}")

    def explain_loss(self, ex, path):
        return explain_bce_loss(ex, path)

    def explain_gradient(self, ex, path, layer, index, lhs, symbols):
        return explain_bce_gradient(ex, path, layer, index, lhs, symbols)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, slip_in_trace

        return [(24, Slip("bce_sum_not_mean",
                          "matches binary cross-entropy summed instead of averaged (without "
                          "the mean's 1/M)", slip_in_trace("bce_sum_not_mean", _bce_sum_rerun)))]


class Bce(_Bce):
    type = "bce"
    reads = "probabilities"
    kink_kinds = {
        "bce_floor": "a bce output within 1e-12 of 0 or 1: its gradient's denominator is floored",
    }
    kink_branch = "a floored bce output"
    move_branch = ("a bce output reaching a clamped log",
                   "take a bce output to where a log is clamped (1, or 0)")
    other_names = ("bceloss", "binarycrossentropy")

    def report_notes(self, spec, output):
        # a delta of 3e11 beside y = 1 reads as a bug unless the report says where it comes
        # from
        held = int(np.count_nonzero(_floored(output)))
        if not held:
            return []
        cells = "1 cell" if held == 1 else f"{held} cells"
        return [f"bce: y is within {_FLOOR} of 0 or 1 at {cells} of the output: there dE/dy "
                f"divides by max(y·(1 - y), {_FLOOR}) (and a log of 0 counts as "
                f"{losses.LOG_CLAMP:g}), as torch does, so the delta is large but finite"]

    def kinks(self, problem, output):
        return _bce_floor_kinks(problem, output)


def _clamped_logs(target) -> Callable[[np.ndarray], np.ndarray]:
    """Flat outputs → where bce's log of a term the target keeps is clamped at
    :data:`~cnngrad.layers.losses.LOG_CLAMP`: log(1 − y) at y = 1 for t < 1, log y at y ≤
    e⁻¹⁰⁰ for t > 0.  E jumps there (to 100·(1 − t) at y = 1), a branch of every output."""
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    smallest = math.exp(losses.LOG_CLAMP)

    def clamped(flat: np.ndarray) -> np.ndarray:
        return ((flat >= 1) & (t < 1)) | ((flat <= smallest) & (t > 0))

    return clamped


def _bce_floor_kinks(problem, output: np.ndarray):
    """The outputs whose gradient denominator y·(1 − y) is floored (PyTorch's rule): there
    dE/dy is not the slope of E, and a move that changes such an output at all is not
    checked by finite differences; nor is one that takes an output to where a log is clamped
    (0.999999 moved to 1 with a target below 1: E jumps there)."""
    from cnngrad.teach.gradcheck import Kink, LayerWatch, _display_index, _number, index_text

    y = np.asarray(output, dtype=np.float64)
    floored = _floored(y)
    kinks = []
    for index in map(tuple, np.argwhere(floored)):
        shown = _display_index(problem, y.shape, index)
        value = float(y[index])
        end = 0 if value < 0.5 else 1
        kinks.append(Kink(layer="loss", kind="bce_floor", position=shown, cells=(),
                          value=value,
                          meaning=f"output {_number(value)} at {index_text(shown)} is within "
                                  f"{_FLOOR} of {end}: bce's gradient divides by y·(1 − y) "
                                  f"floored at {_FLOOR} (PyTorch's rule), not the slope of E"))
    empty = np.zeros(0, np.intp)
    return kinks, LayerWatch(layer=-1, values_at=np.flatnonzero(floored), signs_at=empty,
                             windows=np.zeros((0, 0), np.intp),
                             branch=_clamped_logs(problem.loss.target))


class BceWithLogits(_Bce):
    type = "bce_with_logits"
    reads, applies = "logits", "sigmoid"
    other_names = ("bcewithlogitsloss",)
    target_description = "the output's shape; values usually in [0, 1], any real taken"


class Nll(LossFamily):
    type = "nll"
    averages = True  # over the batch: rational, but a batch of 3 makes thirds
    takes_class_index = True  # a class index per sample
    reads = "log-probabilities"  # −x[target]: a cross-entropy after a log-softmax
    other_names = ("nllloss",)

    def build(self, ctx, raw, out_shape, layout, last_name):
        return build_nll(ctx, raw, out_shape, layout, last_name)

    def schema_fields(self, ref):
        return {"target": {**ref("tensor_target"),
                           "description": "a class index, one per sample when batched"}}

    def loss_and_delta(self, spec, output):
        loss, delta = losses.nll(output, spec.indices)
        if output.dtype != object:
            delta = delta.astype(output.dtype)
        return (Fraction(loss) if output.dtype == object else loss), delta

    def summary(self, spec):
        from cnngrad.families.losses import has_batch_axis

        return ("nll, mean over batch" if has_batch_axis(spec) else
                "nll of one sample, no batch axis")

    def definition(self, spec):
        from cnngrad.families.losses import has_batch_axis

        picked = "−y[t], the output y (log-probabilities) at the class index t"
        if not has_batch_axis(spec):
            return f"E = {picked}"
        return f"{picked} of each sample; E is the mean over the batch"

    def explain_loss(self, ex, path):
        return explain_nll_loss(ex, path)

    def explain_gradient(self, ex, path, layer, index, lhs, symbols):
        return explain_nll_gradient(ex, path, layer, index, lhs, symbols)


BCE = Bce()
BCE_WITH_LOGITS = BceWithLogits()
NLL = Nll()
