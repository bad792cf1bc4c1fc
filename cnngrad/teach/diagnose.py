"""The common slips of a hand computation, each as a way to compute the *wrong* answer.

A slip is an entry of :data:`SLIPS`: a name, a sentence ("matches the kernel not rotated by
180°") and a function ``alternative(context, path) -> ndarray | None`` giving the tensor at a
dotted path (``conv2d_1.delta_in``) as a student who made that slip would have computed it,
or None when the slip cannot happen in this problem (no stride, no max pool, no MSE loss) or
changes nothing at that path.  :mod:`cnngrad.teach.check` compares a wrong answer with every
alternative under the same tolerance rule and reports each slip that matches.

The slips of a layer type or a loss live in its family (``slips()`` in
:mod:`cnngrad.families`: the kernel not rotated in conv2d, the tie rules in pool2d, the MSE
reductions in losses...); the plain transforms of an answer live here.  Most slips re-run the
engine's own steps on a modified problem: only the backward pass of
the layers concerned (:func:`rerun_backward`, with the forward values of the true trace) or,
for a slip in the forward pass or the loss, the whole problem.  The rest transform the true
answer (transpose, rotate, shift, scale).  Every slip keeps exact (``Fraction``) arrays
exact.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.families import family_of, layer_families, loss_families, loss_family
from cnngrad.layers._common import zeros_like_dtype
from cnngrad.network import LayerTrace, Trace, run

__all__ = ["SLIPS", "Slip", "SlipContext", "alternatives", "engine_backward", "rerun_backward",
           "tensor_at"]

Backward = Callable[[Any, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, dict]]


# --------------------------------------------------------------------------- context


class SlipContext:
    """One trace and the slipped traces built from it, each built once however many paths
    ask for it."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._cache: dict[str, Trace | None] = {}

    @property
    def problem(self):
        return self.trace.problem

    def cached(self, key: str, build: Callable[[], Trace | None]) -> Trace | None:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def truth(self, path: str) -> np.ndarray | None:
        return _as_array(tensor_at(self.trace, path))


def tensor_at(trace: Trace, path: str) -> Any:
    """The value at a dotted path (no element index) in display shape, or None.

    Unlike :meth:`Trace.tensor` this also reads traces whose slipped gradients have a shape
    other than the parameter's (an updated parameter is then None)."""
    if path == "loss":
        return trace.loss
    name, _, rest = path.partition(".")
    layer = next((item for item in trace.layers if item.name == name), None)
    if layer is None:
        return None
    kind, _, key = rest.partition(".")
    if kind in ("output", "delta_out", "delta_in") and not key:
        value = getattr(layer, kind)
        return None if value is None or isinstance(value, dict) else trace.shown(value)
    elif kind == "delta_in":  # add_1.delta_in.relu_1
        value = layer.delta_in.get(key) if isinstance(layer.delta_in, dict) else None
        return None if value is None else trace.shown(value)
    elif kind == "grads":
        return layer.grads.get(key)
    elif kind == "updated":
        param, grad = layer.spec.params.get(key), layer.grads.get(key)
        if trace.lr is None or param is None or grad is None or np.shape(grad) != param.shape:
            return None
        return param - trace.lr * grad
    else:
        return None


def _as_array(value) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(value, dtype=object if isinstance(value, Fraction) else np.float64)


# --------------------------------------------------------------------------- re-running


def rerun_backward(trace: Trace, backward_for: Callable[[LayerTrace], Backward | None],
                   seed: np.ndarray | None = None, loss: Any = ...) -> Trace:
    """The backward pass again over the forward values of ``trace``, with some layers'
    backward step replaced.

    Parameters
    ----------
    trace : Trace
        The true trace: its layers' inputs and outputs are reused as they are.
    backward_for : callable
        ``layer -> backward(spec, x, y, delta) -> (delta_in, grads)`` for a layer whose step is
        replaced, None for one that keeps the engine's step.
    seed : ndarray (internal shape of the last output), optional
        dE/d(last output); default the true one.
    loss : optional
        The loss value of the slipped trace; default the true one.
    """
    from cnngrad.network import backward as run_backward

    delta = trace.layers[-1].delta_out if seed is None else seed
    layers = [LayerTrace(spec=layer.spec, input=layer.input, output=layer.output,
                         inputs=list(layer.inputs)) for layer in trace.layers]

    def step(layer: LayerTrace, delta_out):
        backward = backward_for(layer)
        if backward is None:
            return family_of(layer.spec).backward(layer.spec, layer.inputs, layer.output,
                                                  delta_out)
        delta_in, grads = backward(layer.spec, layer.input, layer.output, delta_out)
        return [delta_in], grads

    input_delta = run_backward(layers, delta, backward_step=step)
    return Trace(problem=trace.problem, layers=layers, loss=trace.loss if loss is ... else loss,
                 lr=trace.lr, input_delta=input_delta)


def engine_backward(spec) -> Backward:
    """The engine's backward step of a single-input layer, as ``(spec, x, y, delta) ->
    (delta_in, grads)``."""
    family = family_of(spec)

    def backward(spec, x, y, delta):
        (delta_in,), grads = family.backward(spec, [x], y, delta)
        return delta_in, grads

    return backward


def rerun_problem(trace: Trace, **changes) -> Trace:
    """The whole problem again (forward too) with some of its fields replaced."""
    return run(dataclasses.replace(trace.problem, **changes), lr=trace.lr)


def slip_in_trace(key: str, build: Callable[[SlipContext], Trace | None]):
    """A slip whose alternative is the same path in a slipped trace."""

    def alternative(ctx: SlipContext, path: str) -> np.ndarray | None:
        slipped = ctx.cached(key, lambda: build(ctx))
        if slipped is None:
            return None
        return _as_array(tensor_at(slipped, path))

    alternative.whole_trace = True  # its numbers at every path are one slipped computation
    return alternative


def replace_backward(layer_type: str, change: Callable[[Any], Any | None],
                     input_delta_only: bool = False):
    """A trace builder: every layer of ``layer_type`` steps backward with ``change(spec)``
    (None: that layer is not concerned); None when no layer is concerned.
    ``input_delta_only``: the changed step gives the layer's input delta, its own gradients
    stay the engine's (a kernel left unrotated for δ_in: dE/dw never reads the kernel)."""

    def build(ctx: SlipContext) -> Trace | None:
        changed = {layer.name: change(layer.spec) for layer in ctx.trace.layers
                   if layer.type == layer_type}
        changed = {name: spec for name, spec in changed.items() if spec is not None}
        if not changed:
            return None
        def backward_for(layer: LayerTrace) -> Backward | None:
            if layer.name not in changed:
                return None
            step = engine_backward(layer.spec)
            if not input_delta_only:
                return lambda spec, x, y, delta: step(changed[layer.name], x, y, delta)

            def input_delta_changed(spec, x, y, delta):
                return step(changed[layer.name], x, y, delta)[0], step(spec, x, y, delta)[1]
            return input_delta_changed

        return rerun_backward(ctx.trace, backward_for)

    return build


def custom_backward(applies: Callable[[LayerTrace], bool], backward: Backward):
    """A trace builder: the layers ``applies`` picks step backward with ``backward``."""

    def build(ctx: SlipContext) -> Trace | None:
        if not any(applies(layer) for layer in ctx.trace.layers):
            return None
        return rerun_backward(ctx.trace, lambda layer: backward if applies(layer) else None)

    return build


# --------------------------------------------------------------------------- transforms


def _transform(change: Callable[[SlipContext, np.ndarray], np.ndarray | None]):
    """A slip computed from the true answer at the path itself."""

    def alternative(ctx: SlipContext, path: str) -> np.ndarray | None:
        truth = ctx.truth(path)
        return None if truth is None else change(ctx, truth)

    return alternative


def _on_grids(change: Callable[[np.ndarray], np.ndarray]):
    """A slip of a tensor's grids (a transpose, a rotation of each), made where a report
    draws them: a channels-last map's or HWIO kernel's rows and columns are not its last two
    axes, which are W and C, or I and O."""

    def alternative(ctx: SlipContext, path: str) -> np.ndarray | None:
        from cnngrad.teach.check import grid_view

        truth = ctx.truth(path)
        if truth is None or truth.ndim < 2:
            return None
        _, order = ctx.cached(f"grid view {path}",
                              lambda: grid_view(ctx.trace, path, truth.shape))
        if order is None:  # channels first: the rows and columns are the last two axes
            return change(truth)
        flat = truth.reshape(-1)
        changed = change(flat[order])
        if changed is None or changed.shape != order.shape:  # a transpose of grids that
            return None                                          # are not square
        moved = np.empty_like(flat)
        moved[order.reshape(-1)] = changed.reshape(-1)
        return moved.reshape(truth.shape)

    return alternative


def _batch_size(ctx: SlipContext) -> int:
    return ctx.problem.x.shape[0] if ctx.problem.layout.batched else 1


def _scaled(factor: Callable[[SlipContext], Any]):
    def change(ctx: SlipContext, truth: np.ndarray) -> np.ndarray | None:
        value = factor(ctx)
        if value is None:
            return None
        # a float answer stays float; an exact one is scaled by an exact ratio
        return truth * (value if truth.dtype == object else float(value))

    return change


def _backward_only(alternative):
    """A slip of the backward pass's sums over the batch: a layer's forward output is each
    sample's own, which no mean or sum over the batch touches (its ÷N is 'half the true
    answer' at N = 2, not a mean)."""

    def on_backward_paths(ctx: SlipContext, path: str) -> np.ndarray | None:
        return None if path.endswith(".output") else alternative(ctx, path)

    return on_backward_paths


def _exact_ratio(numerator: int, denominator: int) -> Fraction:
    return Fraction(numerator, denominator)


def _shifted(rows: int, cols: int):
    """The true answer moved by one cell (``rows``/``cols`` in −1, 0, 1), zeros filling the
    cells left empty: an index written one-based, or read one place off."""

    def change(truth: np.ndarray) -> np.ndarray | None:
        if truth.ndim == 0 or (truth.ndim == 1 and rows):
            return None
        moves = ((truth.ndim - 2, rows), (truth.ndim - 1, cols)) if truth.ndim >= 2 else \
            ((0, cols),)
        out = truth
        for axis, step in moves:
            if step == 0:
                continue
            if out.shape[axis] < 2:
                return None
            source = [slice(None)] * out.ndim
            target = [slice(None)] * out.ndim
            source[axis] = slice(0, -1) if step > 0 else slice(1, None)
            target[axis] = slice(1, None) if step > 0 else slice(0, -1)
            moved = zeros_like_dtype(out.shape, out)
            moved[tuple(target)] = out[tuple(source)]
            out = moved
        return out

    return change


def _shifted_as_drawn(rows: int, cols: int):
    """The one-based shift of a tensor's grids as a report draws them (a channels-last
    map's rows are H, not W), or of a vector's one axis."""
    shift = _shifted(rows, cols)
    on_grids = _on_grids(shift)

    def alternative(ctx: SlipContext, path: str) -> np.ndarray | None:
        truth = ctx.truth(path)
        if truth is None:
            return None
        return shift(truth) if truth.ndim < 2 else on_grids(ctx, path)

    return alternative


SHIFTS = {
    "down_right": (1, 1, "every value one row down and one column right"),
    "up_left": (-1, -1, "every value one row up and one column left"),
    "down": (1, 0, "every value one row down"),
    "up": (-1, 0, "every value one row up"),
    "right": (0, 1, "every value one column right"),
    "left": (0, -1, "every value one column left"),
}


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Slip:
    """One common slip: how to say it, and how to compute its wrong answer at a path."""

    name: str
    description: str | Callable[[Trace], str]
    alternative: Callable[[SlipContext, str], np.ndarray | None]

    def describe(self, trace: Trace) -> str:
        return self.description if isinstance(self.description, str) else \
            self.description(trace)


#: The batch_mean slip's words where the loss sums over the batch (verify's, always).
BATCH_MEAN = "matches the mean instead of the sum over the batch"


def _batch_mean_words(trace: Trace) -> str:
    """A gradient divided by the batch size: a mean for a sum, or, where the loss is itself
    a mean over the batch, that mean taken twice ("the mean instead of the sum" read to a
    student as "you were right to take the mean")."""
    loss = trace.problem.loss
    if loss is not None and loss_family(loss.type).batch_averaged(loss):
        return ("matches the mean over the batch taken twice (÷N once too many: the loss "
                "already averages over the batch)")
    return BATCH_MEAN


#: The one-based shifts' advice, and what it becomes where the file was read --one-based.
ONE_BASED_ADVICE = ("an index one off: element paths counting from 1 (then give "
                    "--one-based), or loops that count from 1?")
ONE_BASED_GIVEN = ("an index one off: the file was read counting from 1, as --one-based "
                   "says; element paths or loops that count from 0?")


def channels_first_order(ctx: SlipContext, path: str) -> np.ndarray | None:
    """A channels-last problem's map, or conv kernel gradient, written in PyTorch's order:
    the channel axis after the batch (a map), the channel and filter axes first, reversed
    (HWIO → OIHW, k×I×O → O×I×k).  Of another shape than the truth's unless the axes happen
    to be as long: a wrong-shaped answer's hint names it then."""
    layout = ctx.trace.layout
    truth = ctx.truth(path)
    if not layout.channels_last or truth is None:
        return None
    name, _, rest = path.partition(".")
    layer = next((layer for layer in ctx.trace.layers if layer.name == name), None)
    if layer is None:
        return None
    if rest == "grads.kernel":
        family = family_of(layer.spec)
        spatial = family.spatial
        if not family.kernel_spatial_first or truth.ndim <= spatial:
            return None
        return np.transpose(truth, tuple(range(truth.ndim - 1, spatial - 1, -1))
                            + tuple(range(spatial)))
    kind, _, source = rest.partition(".")  # an add's or concat's delta_in.<input name>
    if kind not in ("output", "delta_out", "delta_in") or (source and kind != "delta_in"):
        return None
    if kind == "delta_in":
        names = tuple(layer.spec.inputs)
        if source not in names and (source or len(names) > 1):
            return None
        internal = layer.inputs[names.index(source) if source else 0].shape
    else:
        internal = layer.output.shape
    if not layout.is_map(internal) or truth.ndim == layout.spatial:
        return None  # a vector, or a one-channel map shown without its channel axis
    return np.moveaxis(truth, -1, truth.ndim - layout.spatial - 1)


def _registry() -> dict[str, Slip]:
    # the layer types' and losses' own slips first, by rank (they say what went wrong)
    ranked: dict[str, tuple[int, Slip]] = {}
    for family in [*layer_families(), *loss_families()]:
        for rank, slip in family.slips():
            ranked.setdefault(slip.name, (rank, slip))
    entries = [slip for _, slip in sorted(ranked.values(), key=lambda item: item[0])]
    entries += [
        Slip("batch_mean", _batch_mean_words,
             _backward_only(_transform(_scaled(lambda ctx: _exact_ratio(1, _batch_size(ctx))
                                               if _batch_size(ctx) > 1 else None)))),
        Slip("batch_sum", "matches the sum instead of the mean over the batch",
             _backward_only(_transform(_scaled(lambda ctx: _batch_size(ctx)
                                               if _batch_size(ctx) > 1 else None)))),
        Slip("transpose", "matches the transpose",
             _on_grids(lambda t: np.swapaxes(t, -1, -2))),
        Slip("rot180", "matches the true answer rotated by 180°",
             _on_grids(lambda t: t[..., ::-1, ::-1])),
        Slip("channels_first", "matches the true answer in PyTorch's channels-first order "
             "(a map's channels after its batch axis, a kernel's channel and filter axes "
             "before its spatial ones), where the problem is channels-last (\"layout\": "
             "\"nhwc\")",
             channels_first_order),
    ]
    # from code that counts from 1, or from element paths written from 1 (--one-based reads them)
    entries += [Slip(f"one_based_shift_{key}", f"matches one-based indexing shift ({words}; "
                     f"{ONE_BASED_ADVICE})",
                     _shifted_as_drawn(rows, cols))
                for key, (rows, cols, words) in SHIFTS.items()]
    entries += [
        Slip("sign_flipped", "matches the true answer with the sign flipped",
             _transform(lambda ctx, t: -t)),
        Slip("doubled", "matches twice the true answer",
             _transform(_scaled(lambda ctx: 2))),
        Slip("halved", "matches half the true answer",
             _transform(_scaled(lambda ctx: _exact_ratio(1, 2)))),
    ]
    return {slip.name: slip for slip in entries}


@functools.cache
def _slips() -> dict[str, Slip]:
    return _registry()


def __getattr__(name: str):
    # SLIPS is made at its first use, not at import: the registry imports every layer
    # family (15–20 ms), which a check whose answers are all right never needs
    if name == "SLIPS":
        return _slips()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: (documented here, made by :func:`__getattr__`) Every slip by name, in the order
#: diagnoses are reported: the engine's slips first (they say what went wrong), then the
#: plain transforms of the answer.
SLIPS: dict[str, Slip]


def alternatives(ctx: SlipContext, path: str,
                 names: tuple[str, ...] | None = None) -> Iterator[tuple[Slip, np.ndarray]]:
    """Each slip's answer at ``path`` that differs from the true one (any shape)."""
    truth = ctx.truth(path)
    slips = _slips()
    for name in names if names is not None else tuple(slips):
        slip = slips[name]
        value = slip.alternative(ctx, path)
        if value is None:
            continue
        value = _as_array(value)
        if truth is not None and value.shape == truth.shape and _same(value, truth):
            continue
        yield slip, value


def whole_trace(name: str) -> bool:
    """Whether the slip ``name`` is one slipped computation of the whole problem (a loss
    without its ½ changes the loss and every delta), not a change of one tensor's numbers
    alone (a transpose), which says nothing of the others."""
    slip = _slips().get(name)
    return slip is not None and getattr(slip.alternative, "whole_trace", False)


def slipped_at(ctx: SlipContext, name: str, path: str) -> np.ndarray | None:
    """What the whole-problem slip ``name`` gives at another ``path``; None where it gives
    the true value there (or nothing), worked out once per context."""
    def changed() -> np.ndarray | None:
        value = _slips()[name].alternative(ctx, path)
        if value is None:
            return None
        value, truth = _as_array(value), ctx.truth(path)
        same = truth is not None and value.shape == np.shape(truth) and _same(value, truth)
        return None if same else value

    return ctx.cached(f"slipped {name} at {path}", changed)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype == object or b.dtype == object:
        return bool(np.all(a == b))
    return bool(np.array_equal(a, b))
