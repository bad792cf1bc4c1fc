"""Central finite differences for every parameter and the input, against the engine.

The energy differentiated is the problem's loss, or, when the problem gives the delta at the
last layer's output instead, E = Σ delta·output (whose gradient the engine computes).

:func:`gradcheck` is the whole check behind ``cnngrad gradcheck``: for every element t of the
input and of every parameter it evaluates E(t + ε) and E(t − ε) and compares the central
difference with the engine's analytic gradient, within atol + rtol·scale + the difference's own
rounding noise.  Where the network is not differentiable (a *kink*: a relu input at 0, tied
maxima of a max-pool window) the derivative is not unique and a mismatch is expected, so the
check

- names the problem's kinks from the forward pass (:func:`find_kinks`: layer, kind, position,
  what it means), and
- marks the elements that sit on one, which are reported and not held to the tolerance: those
  whose move by ±ε changes a branch of the forward pass (a relu input's side of 0, a pool
  window's winners) (see :func:`check_tensor`).

An element that fails at ε without crossing a branch gets a second look at ε/10: where it
agrees there, its failure was the central difference's own truncation error (it shrinks as
ε², E being smooth along the move), a sign that ε is too large, not a kink.

Everything here is pure: it computes and returns, the CLI prints.  The check runs in float64
only (exact mode has no use for finite differences).
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from cnngrad.errors import DomainError, ResourceError, UsageError
from cnngrad.families import family_of, layer_families, loss_families, loss_family
from cnngrad.network import Trace, delta_in_path, forward, loss_and_delta, reads_many, run
from cnngrad.problem import INPUT, Problem

DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-7
#: A tensor's gradients this small beside the problem's largest are 0 but for rounding (a few
#: thousand ulps: a sum of terms that cancel leaves about 1e-16 of them): not said to be
#: under atol (GradcheckReport.under_atol).  1e-9 left out a delta of 2.7e-8 beside weight
#: gradients of 3.6e3.
RELATIVE_ZERO = 1e-12
DEFAULT_MAX_EVALUATIONS = 20_000

#: A relu input counts as 0 when |x| ≤ ZERO_RTOL × the largest |x| of that layer's input:
#: arithmetic that is 0 on paper (0.1 + 0.2 − 0.3) leaves ~1e-17 in float64.
ZERO_RTOL = 1e-12

#: A central difference at ε is trusted to about ROUNDING_NOISE · 2⁻⁵² · |E| / ε: E(t ± ε) are
#: each rounded, and their difference divided by 2ε (see :func:`rounding_noise`).
ROUNDING_NOISE = 16

#: Where a step multiplies its own rounding, AMPLIFIED_ROUNDING · 2⁻⁵² · Σ |δ ⊙ a| / ε more
#: (a: the numbers rounded, times the factor; each is rounded by half an ulp at most and a
#: mean by a few: 4 covers both, without the 16 that a whole E's rounding needs).
AMPLIFIED_ROUNDING = 4

#: The largest step the summary suggests plainly for elements the rounding noise hides: beyond
#: it a central difference's truncation error may matter more than the noise it escapes.
LARGEST_USEFUL_STEP = 0.01

#: The second look at an element that fails at ε uses ε / SECOND_LOOK.
SECOND_LOOK = 10


def zero_tolerance_remedy(rtol: float, atol: float) -> str | None:
    """What to change when the tolerance itself is 0 (``--rtol 0 --atol 0``): no step's
    rounding noise fits inside it, so neither a larger nor a smaller ε helps; else None."""
    if rtol == 0 and atol == 0:
        return ("with --rtol 0 and --atol 0 the tolerance is 0, below the rounding noise of "
                "any step: give a tolerance above it (--atol 1e-9, say)")
    return None


#: The input's perturbed copies go through the network together, stacked on the batch axis,
#: so many that their largest layer output holds about this many numbers.
BATCH_CELLS = 1 << 20

#: At most this many kinks of one kind are listed per layer (all are counted).
MAX_LISTED_KINKS = 100

@functools.cache
def kink_kinds() -> dict[str, str]:
    """Every kind of kink :func:`find_kinks` names → what it is, from the families that name
    them (this imports every family)."""
    return {kind: meaning for family in (*layer_families(), *loss_families())
            for kind, meaning in family.kink_kinds.items()}


@functools.cache
def kink_branches() -> dict[str, str]:
    """A loss's kind of kink → what a move of ±ε changes there ("a floored bce output"): a
    layer's kinks (a relu input's side of 0, a pool window's maximum) are always named."""
    return {kind: family.kink_branch for family in loss_families() if family.kink_branch
            for kind in family.kink_kinds}


@functools.cache
def smooth_kink_kinds() -> frozenset[str]:
    """The kinds of :func:`kink_kinds` where E is in fact smooth (notes, not kinks)."""
    return frozenset(kind for family in (*layer_families(), *loss_families())
                     for kind in family.smooth_kink_kinds)


# --------------------------------------------------------------------------- the lead's core


def energy(problem: Problem) -> float:
    """E for the problem as it stands (the loss, or Σ delta·output)."""
    return _evaluate(problem)[0]


def _evaluate(problem: Problem) -> tuple[float, list[np.ndarray]]:
    """E, and every layer's input (internal layout) on the way, then the network's output
    (what a loss's :class:`Watch` looks at)."""
    layers = forward(problem)
    output = layers[-1].output
    loss, _ = loss_and_delta(problem, output)
    inputs = [layer.input for layer in layers] + [output]
    if loss is None:
        return float((problem.delta * output).sum()), inputs
    return float(loss), inputs


def _evaluate_moved(problem: Problem) -> tuple[float, list[np.ndarray] | None]:
    """:func:`_evaluate` after a finite-difference move: (NaN, None) where the move takes the
    network's output outside the loss's domain (a bce output past 0 or 1, where bce is not
    defined: the problem as given is inside it, or it would not have loaded)."""
    try:
        return _evaluate(problem)
    except DomainError:
        return math.nan, None


def _moved_loss(problem: Problem, output: np.ndarray) -> float:
    """The loss of one moved copy's output, NaN outside the loss's domain."""
    try:
        return float(loss_and_delta(problem, output)[0])
    except DomainError:
        return math.nan


def with_tensor(problem: Problem, target: str, value: np.ndarray) -> Problem:
    """A shallow copy of the problem with one tensor replaced: ``"input"`` or
    ``"<layer>.<param>"`` (the parameter in the shape it was given)."""
    new = copy.copy(problem)
    if target == "input":
        new.input = value
        new.x = problem.layout.input_to_internal(value)
        return new
    name, key = target.split(".")
    new.layers = list(problem.layers)
    for i, spec in enumerate(new.layers):
        if spec.name != name:
            continue
        new.layers[i] = family_of(spec).replace_param(spec, key, value)
        return new
    raise KeyError(target)


def tensors_to_check(problem: Problem) -> dict[str, np.ndarray]:
    """Every differentiable tensor: each layer's parameters, then the input."""
    out = {}
    for spec in problem.layers:
        for key, value in spec.params.items():
            out[f"{spec.name}.{key}"] = value
    out["input"] = problem.input
    return out


def numeric_gradient(problem: Problem, target: str, eps: float = 1e-6) -> np.ndarray:
    """dE/d(tensor) by central differences, (E(t + ε) − E(t − ε)) / 2ε per element: the
    plain-loop twin of gradcheck's batched differences, one problem run per move (the tests
    hold the engine's gradients to it through :func:`compare_all`)."""
    base = np.array(tensors_to_check(problem)[target], dtype=np.float64)
    grad = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        plus, minus, _ = _shifted_energies(problem, target, base, index, eps)
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def analytic_gradient(trace: Trace, target: str) -> np.ndarray:
    """The engine's gradient for the same target, in the tensor's given shape."""
    if target == "input":
        # the sum over every layer that reads the input (a residual block's skip too)
        return trace.layout.to_display(trace.input_delta).reshape(trace.problem.input.shape)
    name, key = target.split(".")
    for layer in trace.layers:
        if layer.name == name:
            return layer.grads[key]
    raise KeyError(target)


@dataclass
class Comparison:
    target: str
    analytic: np.ndarray
    numeric: np.ndarray

    @property
    def abs_error(self) -> np.ndarray:
        return np.abs(self.analytic - self.numeric)


def compare_all(problem: Problem, eps: float = 1e-6) -> list[Comparison]:
    """Analytic against numeric for every parameter and the input."""
    trace = run(problem)
    return [Comparison(target, np.asarray(analytic_gradient(trace, target), dtype=np.float64),
                       numeric_gradient(problem, target, eps))
            for target in tensors_to_check(problem)]


def _shifted_energies(problem: Problem, target: str, base: np.ndarray, index: tuple,
                      step: float, watch: Watch | None = None) -> tuple[float, float, bool]:
    """E with one element moved by +step, then by −step (the other elements as given), and
    whether either move changed a branch the ``watch`` looks after.  A move that leaves the
    loss's domain gives E = NaN (:func:`check_tensor` counts it as crossing)."""
    plus, minus = base.copy(), base.copy()
    plus[index] += step
    minus[index] -= step
    energy_plus, inputs_plus = _evaluate_moved(with_tensor(problem, target, plus))
    energy_minus, inputs_minus = _evaluate_moved(with_tensor(problem, target, minus))
    if inputs_plus is None or inputs_minus is None:  # no run to watch: E is NaN
        return energy_plus, energy_minus, Watch.SMOOTH
    crossed = (Watch.SMOOTH if watch is None else
               max(watch.crossed(inputs_plus), watch.crossed(inputs_minus)))
    return energy_plus, energy_minus, crossed


def _input_energies(problem: Problem, base: np.ndarray, step: float, base_energy: float,
                    watch: Watch | None, progress: Callable[[str], None] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """E(t + step) and E(t − step) for every element t of the input, and whether either move
    crossed a branch: the perturbed copies of the input stacked on the batch axis, a few
    hundred per forward pass, instead of one pass per copy.

    Returns None when the network does not treat the copies independently — a layer that
    mixes the batch (batch norm in training mode, asked of its family) never does; for any
    other, the copy left unperturbed must give E, and the element of the first batch that
    moves E most must move it as in a pass of its own, up to rounding — and the caller then
    moves one element per pass.
    """
    # the batch's statistics would cover every copy: a difference diluted by the others,
    # which the check below could take for rounding (1e-12 of E is 140 times looser than
    # the noise of a step of 1e-6)
    if any(family_of(spec).mixes_batch(spec) for spec in problem.layers):
        return None
    x = problem.x
    try:
        single = forward(problem)
    except Exception:  # noqa: BLE001 - the per-element path reports it
        return None
    per_copy = max(max(int(layer.output.size) for layer in single), int(x.size))
    copies = max(2, min(2 * base.size, BATCH_CELLS // max(per_copy, 1)) // 2 * 2)
    flat_indices = np.arange(base.size)
    # the copies are moved in the internal layout: where each element of the input as given
    # (channels last under nhwc) sits in the internal (N, C, H, W) one
    internal_at = np.empty(base.size, np.int64)
    internal_at[problem.layout.input_to_internal(flat_indices.reshape(base.shape)).reshape(-1)] \
        = flat_indices
    internal = np.asarray(x, dtype=np.float64).reshape(-1)
    plus, minus = np.empty(base.size), np.empty(base.size)
    crossed = np.zeros(base.size, np.int8)  # Watch.SMOOTH, BENT or KINK
    delta = None if problem.loss is not None else problem.delta
    for start in range(0, base.size, copies // 2):
        chunk = flat_indices[start:start + copies // 2]
        count = 2 * len(chunk) + (1 if start == 0 else 0)  # + one unmoved copy, the first time
        stacked = np.repeat(internal.reshape(1, -1), count, axis=0)
        rows = np.arange(len(chunk))
        stacked[2 * rows, internal_at[chunk]] += step
        stacked[2 * rows + 1, internal_at[chunk]] -= step
        batch = copy.copy(problem)
        batch.x = stacked.reshape((count,) + x.shape).reshape((count * x.shape[0],)
                                                               + x.shape[1:])
        try:
            layers = forward(batch)
        except Exception:  # noqa: BLE001
            return None
        output = layers[-1].output.reshape((count,) + single[-1].output.shape)
        if delta is not None:
            energies = (output * delta).reshape(count, -1).sum(axis=1)
        else:
            energies = np.array([_moved_loss(problem, output[k]) for k in range(count)])
        plus[chunk], minus[chunk] = energies[0:2 * len(chunk):2], energies[1:2 * len(chunk):2]
        if start == 0:
            # rounding only: a different summation order over terms this large
            size = abs(base_energy) + (float(np.abs(output[-1] * delta).sum())
                                       if delta is not None else 0.0)
            rounding = 1e-12 * (1 + size)
            if not abs(energies[-1] - base_energy) <= rounding:
                return None
            moved = np.abs(plus[chunk] - minus[chunk])
            strongest = int(chunk[np.argmax(np.where(np.isnan(moved), -1.0, moved))])
            alone = _shifted_energies(problem, "input", base,
                                      np.unravel_index(strongest, base.shape), step)
            if not (abs(alone[0] - plus[strongest]) <= rounding
                    and abs(alone[1] - minus[strongest]) <= rounding):
                return None
        if watch is not None:
            inputs = [layer.input.reshape((count,) + one.input.shape)
                      for layer, one in zip(layers, single)] + [output]
            for k, index in enumerate(chunk):
                crossed[index] = max(watch.crossed([a[2 * k] for a in inputs]),
                                     watch.crossed([a[2 * k + 1] for a in inputs]))
        if progress is not None:
            for _ in chunk:  # one step per element, as the pass-per-element path counts
                progress("gradcheck input")
    return plus.reshape(base.shape), minus.reshape(base.shape), crossed.reshape(base.shape)


# --------------------------------------------------------------------------- names and paths


def _input_delta_paths(problem: Problem) -> list[str]:
    """What each layer that reads the problem's input sends back to it: their sum is
    dE/d(input)."""
    return [delta_in_path(spec.name, INPUT if reads_many(spec) else None)
            for spec in problem.layers if INPUT in spec.inputs]


def input_parts(problem: Problem) -> tuple[str, ...]:
    """The paths whose sum is dE/d(input) when several layers read the problem's input (its
    gradcheck row is then called ``input``, a path of no other command); () otherwise."""
    paths = _input_delta_paths(problem)
    return tuple(paths) if len(paths) > 1 else ()


def tensor_path(problem: Problem, target: str) -> str:
    """The contract's dotted path of a target's gradient: ``"conv2d_1.kernel"`` →
    ``"conv2d_1.grads.kernel"``, ``"input"`` → ``"<first layer>.delta_in"`` (the layer that
    reads it; ``"input"`` itself when several do: their deltas summed)."""
    if target == INPUT:
        paths = _input_delta_paths(problem)
        return paths[0] if len(paths) == 1 else INPUT
    name, key = target.split(".")
    return f"{name}.grads.{key}"


def index_text(index: tuple[int, ...]) -> str:
    """``(0, 1) -> "[0,1]"``; a number (no index) → ``""``."""
    return f"[{','.join(str(i) for i in index)}]" if index else ""


def evaluations_needed(problem: Problem) -> int:
    """Energy evaluations of the first pass: E(t ± ε) for every element, plus E itself."""
    return 1 + 2 * sum(int(np.size(value)) for value in tensors_to_check(problem).values())


def check_evaluations(problem: Problem, max_evaluations: int) -> int:
    """The evaluations of the first pass (:func:`evaluations_needed`); refused over
    ``max_evaluations``, said before the work budget, whose estimate stops at that limit."""
    needed = evaluations_needed(problem)
    if needed > max_evaluations:
        elements = (needed - 1) // 2
        raise ResourceError(
            f"checking {elements:,} elements needs {needed:,} energy evaluations (two forward "
            f"passes per element of the input and of every parameter), over the limit of "
            f"{max_evaluations:,}",
            file=problem.file, where="gradcheck",
            hint="check a smaller problem (a smaller input, fewer channels or filters, a shorter "
                 "batch), or raise --max-evaluations if you are ready to wait")
    return needed


# --------------------------------------------------------------------------- kinks


@dataclass(frozen=True)
class Kink:
    """A place in the forward pass where E is not differentiable (or a note: see ``smooth``).

    ``position`` indexes the relu's input element or the pool's output window, shaped as the
    contract shows results (2-D input, one channel: [row, col]; else [c, row, col] or
    [n, c, row, col]); for ``ceil_overhang`` it is the window's [row, col], the same in every
    map.  ``cells`` are the cells of the layer's input involved (the tied maxima), same
    indexing.
    """

    layer: str
    kind: str  # one of kink_kinds()
    position: tuple[int, ...]
    cells: tuple[tuple[int, ...], ...]
    value: float | None
    meaning: str

    @property
    def smooth(self) -> bool:
        return self.kind in smooth_kink_kinds()


@dataclass
class LayerWatch:
    """What must stay put in one layer's input for E to be differentiable along a move."""

    layer: int  # index into the layers
    values_at: np.ndarray  # flat indices: cells at a kink (a relu input at 0, a tied maximum)
    signs_at: np.ndarray  # flat indices: relu inputs whose side of 0 decides the slope
    windows: np.ndarray  # (m, kh·kw) flat indices of pool windows' cells, −1 for padding
    # a family's own branch of every cell: flat values → bool (bce: where a log is clamped,
    # E jumping there), None for none
    branch: Callable[[np.ndarray], np.ndarray] | None = None
    base_values: np.ndarray = None
    base_signs: np.ndarray = None
    base_winners: np.ndarray = None
    base_branch: np.ndarray = None
    # the places whose delta is 0, whose branch no gradient depends on: relu inputs (flat
    # indices) and pool windows ((m, kh·kw), −1 for padding).  E keeps one slope across them
    # but bends there (½(w·ε)² on one side under a squared loss), so a central difference
    # across one errs in proportion to ε, not ε²
    bends_at: np.ndarray | None = None
    bend_windows: np.ndarray | None = None
    base_bends: np.ndarray = None

    def bends(self, x: np.ndarray) -> np.ndarray:
        """The side of each relu input and the winners of each window watched for bends, as
        one flat array of bools."""
        flat = x.reshape(-1)
        parts = [] if self.bends_at is None else [flat[self.bends_at] > 0]
        if self.bend_windows is not None and len(self.bend_windows):
            parts.append(_winners(flat, self.bend_windows).reshape(-1))
        return np.concatenate(parts) if parts else np.zeros(0, bool)

    def branches(self, x: np.ndarray):
        flat = x.reshape(-1)
        signs = flat[self.signs_at] > 0
        if not len(self.windows):
            return signs, np.zeros((0, 0), bool)
        return signs, _winners(flat, self.windows)


def _winners(flat: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """(m, kh·kw) bools: which cells of each window (flat indices, −1 for padding) hold its
    maximum."""
    cells = np.where(windows >= 0, flat[np.maximum(windows, 0)], -np.inf)
    return cells == cells.max(axis=1, keepdims=True)


@dataclass
class Watch:
    """The branches of the forward pass that a finite-difference move must not change.

    A move of one element *crosses a kink* when, in the perturbed forward pass, a relu input
    changes side of 0 or a pool window changes which cells hold its maximum; with the ``all``
    tie rule also when a tied maximum moves at all (a move shifting tied cells together keeps
    the winners, and giving each of them the whole delta is no derivative along it).  Only
    places whose delta is not 0 are watched as kinks: elsewhere no gradient depends on the
    branch.  A relu input whose delta is 0 changing side, or a pool window whose delta is 0
    changing its winners, is a *bend* (:attr:`BENT`): E keeps its slope there, but a central
    difference across it errs in proportion to ε.
    """

    layers: list[LayerWatch] = field(default_factory=list)

    #: What :meth:`crossed` says of a move: no branch changed, only a bend, a kink.
    SMOOTH, BENT, KINK = 0, 1, 2

    def crossed(self, inputs: list[np.ndarray]) -> int:
        bent = False
        for watch in self.layers:
            x = inputs[watch.layer]
            if not np.array_equal(x.reshape(-1)[watch.values_at], watch.base_values):
                return self.KINK
            signs, winners = watch.branches(x)
            if not np.array_equal(signs, watch.base_signs) or \
                    not np.array_equal(winners, watch.base_winners):
                return self.KINK
            if watch.branch is not None and \
                    not np.array_equal(watch.branch(x.reshape(-1)), watch.base_branch):
                return self.KINK
            bent = bent or (watch.base_bends is not None
                            and not np.array_equal(watch.bends(x), watch.base_bends))
        return self.BENT if bent else self.SMOOTH


def find_kinks(problem: Problem, eps: float = DEFAULT_EPS) -> tuple[list[Kink], dict]:
    """The problem's kinks, found in its forward pass.

    Parameters
    ----------
    problem : Problem
        A float64 problem.
    eps : float
        The finite-difference step: values closer than a step can move them are named as
        ``near_zero`` / ``near_tie``.

    Returns
    -------
    kinks : list of Kink
        Forward order; at most :data:`MAX_LISTED_KINKS` of one kind per layer.
    counts : dict (layer name, kind) → int
        How many there are of each, listed or not.

    Notes
    -----
    "Within a step": a step of ε in one element of the input or of a parameter moves a layer's
    input by about ε times the numbers it multiplies, so the reach is taken as
    ε · max(1, largest |value| of the input and the parameters).  The names are a guide; which
    elements a move actually takes across a kink is decided per element (see
    :func:`check_tensor`).
    """
    kinks, counts, _ = scan_kinks(problem, run(problem), eps)
    return kinks, counts


def scan_kinks(problem: Problem, trace: Trace, eps: float = DEFAULT_EPS
               ) -> tuple[list[Kink], dict, Watch]:
    """:func:`find_kinks` on a trace of the problem, plus the :class:`Watch` of its branches."""
    _check_float(problem)
    reach = eps * max(1.0, *(float(np.max(np.abs(v), initial=0.0))
                             for v in tensors_to_check(problem).values()))
    kinks: list[Kink] = []
    counts: dict[tuple[str, str], int] = {}
    watch = Watch()
    # the moved runs are plain float passes (their numbers are not the ones written), so
    # their branches are compared with the plain float pass, not with the exact decisions
    plain = forward(problem)
    for position, layer in enumerate(trace.layers):
        spec = layer.spec
        found, layer_watch = family_of(spec).kinks(problem, layer, reach)
        _watched(watch, layer_watch, position, plain[position].input)
        _count_kinks(found, kinks, counts)
    if problem.loss is not None:  # the loss watches the network's output, after the layers
        found, loss_watch = loss_family(problem.loss.type).kinks(problem, plain[-1].output)
        _watched(watch, loss_watch, len(trace.layers), plain[-1].output)
        _count_kinks(found, kinks, counts)
    return kinks, counts, watch


def _watched(watch: Watch, layer_watch: LayerWatch | None, position: int,
             values: np.ndarray) -> None:
    """Add ``layer_watch`` (if any) to ``watch``: it looks at the ``position``-th array of a
    run (:func:`_evaluate`), whose unmoved ``values`` are its base."""
    if layer_watch is None:
        return
    layer_watch.layer = position
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    layer_watch.base_values = flat[layer_watch.values_at]
    layer_watch.base_signs, layer_watch.base_winners = layer_watch.branches(flat)
    if layer_watch.bends_at is not None or layer_watch.bend_windows is not None:
        layer_watch.base_bends = layer_watch.bends(flat)
    if layer_watch.branch is not None:
        layer_watch.base_branch = layer_watch.branch(flat)
    watch.layers.append(layer_watch)


def _count_kinks(found: list[Kink], kinks: list[Kink], counts: dict) -> None:
    """Count ``found`` by (layer, kind) and list the first :data:`MAX_LISTED_KINKS` of each."""
    for kink in found:
        key = (kink.layer, kink.kind)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] <= MAX_LISTED_KINKS:
            kinks.append(kink)


def _display_index(problem: Problem, internal_shape: tuple[int, ...],
                   index: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in problem.layout.display_index(tuple(internal_shape), index))


def _number(value: float) -> str:
    return f"{float(value):.6g}"


#: A relu input's at 0 or a max-pool tie's whose delta is 0: a move across it bends E (see
#: Watch), and a failing difference whose error shrinks as ε is set aside (BEND_SHRINK).
_IDLE_BEND = ("; its delta is 0, so no gradient depends on its branch, but E bends across it: "
              "an element whose difference across it fails, its error a tenth at ε/10, is not "
              "held to the tolerance")


# --------------------------------------------------------------------------- the element check


@dataclass
class TensorCheck:
    """One tensor's check.  Arrays have the tensor's given shape.

    ``kink`` marks the elements that sit on a kink (not held to the tolerance); ``failed`` the
    smooth elements whose analytic and numeric gradients disagree beyond atol + rtol·scale;
    ``truncation`` the smooth elements that disagree at ε but agree at ε/10 (the truncation
    error of too large an ε: checked, and agreeing).  ``numeric_small`` is the central
    difference at ε/10 of the elements that got a second look (NaN elsewhere).  ``outside``
    marks the elements (among ``kink``) that a move of ±ε takes out of the loss's domain (a
    bce output past 0 or 1): there E is not defined on that side, and its difference is NaN.
    ``bent`` marks the elements (among ``kink``) set aside for a move across a bend alone:
    their error shrank as a bend's does at ε/10 (:data:`BEND_SHRINK`), or, with no second
    look left, their engine value lies between the one-sided differences.
    """

    target: str  # "input" or "<layer>.<param>"
    path: str  # "conv2d_1.grads.kernel", "conv2d_1.delta_in"; "input" when several read it
    analytic: np.ndarray
    numeric: np.ndarray  # central difference at ε
    left: np.ndarray  # (E(t) − E(t − ε)) / ε
    right: np.ndarray  # (E(t + ε) − E(t)) / ε
    kink: np.ndarray  # bool
    failed: np.ndarray  # bool
    rtol: float
    atol: float
    unresolved: int = 0  # failing elements the evaluation budget left without a second look
    truncation: np.ndarray = None  # bool: agree only at ε/10 (None: none)
    numeric_small: np.ndarray = None  # central difference at ε/10, NaN where not looked at
    outside: np.ndarray = None  # bool: a move leaves the loss's domain (None: none)
    bent: np.ndarray = None  # bool: set aside across a bend (None: none)

    def __post_init__(self) -> None:
        if self.outside is None:
            self.outside = np.zeros(self.analytic.shape, bool)
        if self.bent is None:
            self.bent = np.zeros(self.analytic.shape, bool)
        if self.truncation is None:
            self.truncation = np.zeros(self.analytic.shape, bool)
        if self.numeric_small is None:
            self.numeric_small = np.full(self.analytic.shape, np.nan)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.analytic.shape

    @property
    def abs_error(self) -> np.ndarray:
        return np.abs(self.analytic - self.numeric)

    @property
    def decided_numeric(self) -> np.ndarray:
        """The central difference at the step that decided each element: ε/10 for the
        elements that agree only there, ε for the others."""
        return np.where(self.truncation, self.numeric_small, self.numeric)

    @property
    def decided_error(self) -> np.ndarray:
        """|analytic − central| at the step that decided each element
        (:attr:`decided_numeric`)."""
        return np.abs(self.analytic - self.decided_numeric)

    @property
    def truncated(self) -> int:
        """Elements that agree only at ε/10 (the truncation error of too large an ε)."""
        return int(np.count_nonzero(self.truncation))

    @property
    def shrinking(self) -> np.ndarray:
        """The failing elements whose error at ε/10 is at most a 25th of that at ε: it shrinks
        as truncation error does (∝ ε², a 100th), which a wrong gradient's does not."""
        small = np.abs(self.analytic - self.numeric_small)
        return self.failed & np.isfinite(small) & (small * 25 <= self.abs_error)

    @property
    def checked(self) -> int:
        return int(np.count_nonzero(~self.kink))

    @property
    def kinks_skipped(self) -> int:
        return int(np.count_nonzero(self.kink))

    @property
    def ok(self) -> bool:
        return not self.failed.any()

    @property
    def max_abs_error(self) -> float | None:
        """Over the elements checked, each at the step that decided it (:attr:`decided_error`;
        None when every element sits on a kink)."""
        if not self.checked:
            return None
        return float(self.decided_error[~self.kink].max())

    @property
    def max_rel_error(self) -> float | None:
        """|a − n| / max(|a|, |n|) over the checked elements larger than atol (below it only
        the absolute error means anything), each at the step that decided it; None when there
        are none (a 0 would read as perfect agreement)."""
        if not self.checked:
            return None
        numeric = self.decided_numeric
        scale = np.maximum(np.abs(self.analytic), np.abs(numeric))
        mask = ~self.kink & (scale > self.atol)
        if not mask.any():
            return None
        return float((np.abs(self.analytic - numeric)[mask] / scale[mask]).max())

    @property
    def worst(self) -> tuple[int, ...] | None:
        """The checked element with the largest absolute error (:attr:`decided_error`)."""
        if not self.checked:
            return None
        errors = np.where(self.kink, -1.0, self.decided_error)
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(errors)), self.shape))

    @property
    def largest_smooth(self) -> float:
        """The largest |gradient| of its smooth elements, analytic or central (0 when every
        element sits on a kink)."""
        smooth = ~self.kink
        if not smooth.any():
            return 0.0
        values = np.abs(np.concatenate([self.analytic[smooth], self.decided_numeric[smooth]]))
        return float(np.nanmax(values, initial=0.0))

    @property
    def under_atol(self) -> bool:
        """Every smooth gradient (analytic and central) at most atol/2, not all 0: an analytic
        gradient off by as much as itself (its sign flipped, a factor of 1000) still passes,
        so the check says nothing of this tensor."""
        largest = self.largest_smooth
        return 0 < largest <= self.atol / 2

    def elements(self, mask: np.ndarray) -> list[tuple[int, ...]]:
        """The indices where ``mask`` holds, row-major."""
        return [tuple(int(i) for i in index) for index in np.argwhere(mask)]


@dataclass
class GradcheckReport:
    """Everything ``cnngrad gradcheck`` shows."""

    title: str | None
    eps: float
    rtol: float
    atol: float
    tensors: list[TensorCheck]
    kinks: list[Kink]
    kink_counts: dict = field(default_factory=dict)  # (layer, kind) → count
    evaluations: int = 0
    noise: float = 0.0  # rounding noise of a central difference at ε (added to the tolerance)
    # the loss's branch a move can cross (LossFamily.move_branch: bce's clamped logs)
    loss_branch: tuple[str, str] | None = None
    #: the paths the row "input" sums, when several layers read the input (input_parts)
    input_parts: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tensors)

    @property
    def unresolved(self) -> int:
        """Failing elements the evaluation budget left without a second look."""
        return sum(t.unresolved for t in self.tensors)

    @property
    def truncated(self) -> int:
        """Elements that agree only at ε/10: the truncation error of too large an ε."""
        return sum(t.truncated for t in self.tensors)

    @property
    def shrinking(self) -> int:
        """Failing elements whose error shrinks at ε/10 as truncation error does."""
        return sum(int(np.count_nonzero(t.shrinking)) for t in self.tensors)

    @property
    def under_atol(self) -> list[TensorCheck]:
        """The tensors whose every smooth gradient is under atol/2 (:attr:`TensorCheck.
        under_atol`): a ✓ there says nothing.  Not a tensor whose gradients are 0 but for
        float rounding (a bias before a softmax's cross-entropy: 8e-17): under the rounding
        noise of a central difference, or :data:`RELATIVE_ZERO` of the problem's largest
        gradient."""
        scale = max((t.largest_smooth for t in self.tensors), default=0.0)
        floor = max(self.noise, RELATIVE_ZERO * scale)
        return [t for t in self.tensors if t.under_atol and t.largest_smooth > floor]

    @property
    def atol_to_see_under(self) -> float | None:
        """A power of 10 a thousandth of the largest gradient of those tensors or below:
        that --atol checks them to about 0.1 %.  None when there are none."""
        largest = min((t.largest_smooth for t in self.under_atol), default=None)
        if largest is None:
            return None
        return 10.0 ** (math.floor(math.log10(largest)) - 3)

    @property
    def hidden_by_noise(self) -> int:
        """Checked elements whose errors up to the rounding noise would pass unseen, the noise
        wider than their own tolerance (atol + rtol·|analytic|): a step smaller than the
        default, E itself large, or a batch norm channel of equal values."""
        return sum(tolerance.size for tolerance in self._hidden_tolerances())

    def _hidden_tolerances(self) -> list[np.ndarray]:
        """Per tensor, the tolerances (atol + rtol·|analytic|) of its smooth elements that
        the rounding noise is wider than."""
        tolerances = [t.atol + t.rtol * np.abs(t.analytic[~t.kink]) for t in self.tensors]
        return [tolerance[self.noise > tolerance] for tolerance in tolerances]

    @property
    def step_to_see_hidden(self) -> float | None:
        """The step at which the rounding noise (∝ 1/ε) comes down to the smallest tolerance
        of the elements it hides, as a power of 10 at or above it: that --eps or a larger one
        checks them (if its truncation error allows: above LARGEST_USEFUL_STEP it may not);
        infinity when the ratio is past float64's powers of 10.  None when nothing is
        hidden."""
        smallest = min((float(tolerance.min()) for tolerance in self._hidden_tolerances()
                        if tolerance.size), default=None)
        if smallest is None or not smallest > 0:
            return None
        ratio = self.eps * self.noise / smallest
        # a noise of 1e308 beside a tolerance of 1e-300: no float step, and no step at all
        if not math.isfinite(ratio) or ratio > 1e300:
            return math.inf
        return 10.0 ** math.ceil(math.log10(ratio))

    @property
    def outside(self) -> int:
        """Elements a move of ±ε takes out of the loss's domain (a bce output past 0 or 1)."""
        return sum(int(np.count_nonzero(t.outside)) for t in self.tensors)

    @property
    def crossed_unnamed(self) -> bool:
        """Elements sit on a kink though no kink is named at this point: a move of ±ε reached
        further than the names' guide (ε · the largest value) foresaw.  (Moves out of the
        loss's domain are said apart: :attr:`outside`.)"""
        named = any(kind not in smooth_kink_kinds() for _, kind in self.kink_counts)
        return not named and any((t.kink & ~t.outside).any() for t in self.tensors)


def _bracketed(analytic: float, left: float, right: float, rtol: float, atol: float,
               noise: float) -> bool:
    """Whether ``analytic`` lies between the one-sided differences, within the tolerance: a
    bend's slope does where E curves the same way on both sides (the check of a bend element
    the evaluation budget leaves no second look for)."""
    slack = atol + noise + rtol * max(abs(left), abs(right))
    return min(left, right) - slack <= analytic <= max(left, right) + slack


def _within(analytic, numeric, rtol: float, atol: float, noise: float = 0.0):
    return np.abs(analytic - numeric) <= atol + noise + rtol * np.maximum(np.abs(analytic),
                                                                          np.abs(numeric))


def rounding_noise(trace: Trace, eps: float) -> float:
    """How far rounding alone can move a central difference: about
    (ROUNDING_NOISE · size of E + AMPLIFIED_ROUNDING · amplified) · 2⁻⁵² / ε.

    The size of E is max(|E|, Σ |δ ⊙ y|) over the last layer's output y and its delta δ: when
    E is a small difference of large numbers (outputs close to their targets, large logits)
    the rounding follows the large numbers, not E.  ``amplified`` is Σ |δ ⊙ a| over every
    layer whose step multiplies its own rounding (a family's ``amplified_rounding`` a, with
    the layer's delta δ): batch norm's x − μ over √(σ² + ε), which for a channel of equal
    values moves E by hundreds of times what its size suggests.
    """
    last = trace.layers[-1]
    size = max(abs(float(trace.loss or 0.0)),
               float(np.abs(np.asarray(last.delta_out, np.float64)
                            * np.asarray(last.output, np.float64)).sum()))
    amplified = 0.0
    for layer in trace.layers:
        sizes = family_of(layer.spec).amplified_rounding(layer.spec, layer.inputs, layer.output)
        if sizes is not None:
            amplified += float(np.abs(np.asarray(layer.delta_out, np.float64) * sizes).sum())
    noise = ((ROUNDING_NOISE * size + AMPLIFIED_ROUNDING * amplified)
             * float(np.finfo(np.float64).eps) / eps)
    if not math.isfinite(noise):
        # the small factor first: a size near float64's largest (1e308) keeps a finite noise
        unit = float(np.finfo(np.float64).eps) / eps
        noise = ROUNDING_NOISE * unit * size + AMPLIFIED_ROUNDING * unit * amplified
    return noise


#: An element whose move crosses a bend alone and fails at ε is set aside when its error at
#: ε/10 is at most this share of its error at ε: the bend's error shrinks to a tenth, a wrong
#: gradient's stays (one off by between an eighth of the bend's own error below and a quarter
#: above can hide in it).
BEND_SHRINK = 0.2


def check_tensor(problem: Problem, target: str, analytic: np.ndarray, *, base_energy: float,
                 eps: float = DEFAULT_EPS, rtol: float = DEFAULT_RTOL,
                 atol: float = DEFAULT_ATOL, noise: float = 0.0, budget: int | None = None,
                 watch: Watch | None = None,
                 progress: Callable[[str], None] | None = None) -> tuple[TensorCheck, int]:
    """Check one tensor element by element.

    Parameters
    ----------
    problem : Problem
    target : str
        ``"input"`` or ``"<layer>.<param>"``.
    analytic : ndarray (the tensor's given shape)
        The engine's gradient.
    base_energy : float
        E at the problem as given (shared by every tensor).
    eps, rtol, atol : float
        Step and tolerance: a smooth element agrees when |a − n| ≤ atol + rtol·max(|a|, |n|)
        + noise.
    noise : float
        The rounding noise of a central difference at ε (:func:`rounding_noise`); at ε/10 it
        is ten times larger.
    budget : int, optional
        Energy evaluations allowed for second looks (None: no limit).
    watch : Watch, optional
        The problem's branches (from :func:`scan_kinks`), which then alone decide the kinks
        (rule 0 below); without it the one-sided rules 1 and 2 find them.
    progress : callable(str), optional
        Called with a description before each element's pair of evaluations.

    Returns
    -------
    check : TensorCheck
    evaluations : int
        Energy evaluations spent.

    Notes
    -----
    With a ``watch``, an element sits on a kink exactly when

    0. moving it by ±ε crosses a kink the watch looks after: a relu input changes side of 0,
       a pool window changes which cells hold its maximum, or a value at a kink (a relu input
       at 0, a tied maximum) moves — there the engine's answer follows the contract's rule
       for the kink (relu'(0) = 0, the tie rule) and need not be a one-sided derivative; the
       one-sided differences can even agree, when jumps of opposite sign cancel; or
    0'. it fails at ε, its move crosses a *bend* (a relu input whose delta is 0 changes side,
       a max-pool window whose delta is 0 changes its winners) and no kink, and its error at
       ε/10 is at most :data:`BEND_SHRINK` of its error at ε.  No gradient depends on that
       branch and E has one slope there, but it bends (E = ½(w·ε)² on one side under a
       squared loss, 0 on the other): the central difference errs in proportion to ε (a tenth
       at ε/10, not a hundredth), where a wrong gradient's error stays.  One that agrees at ε
       is checked; one whose error does not shrink so is a failure, never truncation error.

    Every other element is on a smooth stretch of E between t − ε and t + ε, and is held to
    the tolerance.  One that fails at ε is looked at again with ε/10: if it agrees there, its
    failure at ε was truncation error (the central difference's own error, about
    ε²·|E‴|/6, which a step ten times smaller cuts a hundredfold): it is marked
    ``truncation``, checked and agreeing, ε too large for it; never a kink.  If it still
    fails, it is a failure.

    Without a ``watch`` nothing says which moves cross a kink, and an element is taken to sit
    on one when

    1. its one-sided differences disagree by more than √ε · (1 + max(|left|, |right|)).  For a
       smooth E they differ by about ε·|E''|, so this needs a curvature near 1/√ε, while a
       kink's jump does not shrink with ε; or
    2. it fails at ε but, looked at again with ε/10, either agrees (a kink within ε of t that
       ε/10 no longer reaches, e.g. a near tie; or truncation error: without the watch the
       two cannot be told apart), or its one-sided differences still disagree by at least
       half as much as at ε and by more than the tolerance (a jump at t; curvature would have
       shrunk ten times).

    Any other element that fails is a real disagreement.
    """
    base = np.array(tensors_to_check(problem)[target], dtype=np.float64)
    analytic = np.asarray(analytic, dtype=np.float64).reshape(base.shape)
    batched = (_input_energies(problem, base, eps, base_energy, watch, progress)
                if target == "input" and not problem.exact else None)
    if batched is not None:
        plus, minus, crossed = batched
    else:
        plus, minus = np.empty_like(base), np.empty_like(base)
        crossed = np.zeros(base.shape, np.int8)  # Watch.SMOOTH, BENT or KINK
        for index in np.ndindex(base.shape):
            if progress is not None:
                progress(f"gradcheck {target}")
            plus[index], minus[index], crossed[index] = _shifted_energies(
                problem, target, base, index, eps, watch)
    spent = 2 * base.size
    # a move left the loss's domain (E = NaN): it counts as crossing, whatever the watch says
    outside = np.isnan(plus) | np.isnan(minus)
    right = (plus - base_energy) / eps
    left = (base_energy - minus) / eps
    numeric = (plus - minus) / (2 * eps)
    close = _within(analytic, numeric, rtol, atol, noise)
    jump = np.abs(right - left)
    bent = np.zeros(base.shape, bool)
    if watch is not None:  # the branches decide: a move that crosses none is smooth
        kink = crossed == Watch.KINK
    else:
        kink = (jump > math.sqrt(eps) * (1 + np.maximum(np.abs(left), np.abs(right))))
    kink |= outside

    small = eps / SECOND_LOOK
    unresolved = 0
    truncation = np.zeros(base.shape, bool)
    second = np.full(base.shape, np.nan)
    for index in map(tuple, np.argwhere(~close & ~kink)):
        crosses_bend = watch is not None and crossed[index] == Watch.BENT
        if budget is not None and spent + 2 > 2 * base.size + budget:
            if crosses_bend and _bracketed(analytic[index], left[index], right[index], rtol,
                                           atol, noise):
                bent[index] = kink[index] = True  # no look left: the one-sided bracket
            else:
                unresolved += 1
            continue
        plus_small, minus_small, crossed_small = _shifted_energies(problem, target, base,
                                                                   index, small, watch)
        spent += 2
        numeric_small = second[index] = (plus_small - minus_small) / (2 * small)
        jump_small = abs((plus_small - base_energy) - (base_energy - minus_small)) / small
        noise_small = noise * SECOND_LOOK
        allowed = atol + noise_small + rtol * max(abs(analytic[index]), abs(numeric_small))
        # truncation error shrinks a hundredfold at ε/10: a gap that did not even halve is
        # not that (the ε/10 tolerance, ten times the noise, could pass a wrong gradient)
        error, error_small = (abs(analytic[index] - numeric[index]),
                              abs(analytic[index] - numeric_small))
        shrank = error_small <= 0.5 * error
        if crosses_bend:
            # across a bend alone E has one slope but bends: the central difference errs in
            # proportion to ε, a tenth of it at ε/10, where a wrong gradient's error stays
            # (it hides only within [−1/8, 1/4] of the bend's own error); set aside, not
            # checked.  A move of ε/10 that crosses no bend is smooth: held to the tolerance.
            within_small = _within(analytic[index], numeric_small, rtol, atol, noise_small)
            if crossed_small == Watch.SMOOTH:
                set_aside = within_small
            else:
                set_aside = error_small <= BEND_SHRINK * error or (shrank and within_small)
            if set_aside:
                bent[index] = kink[index] = True
            continue
        if shrank and _within(analytic[index], numeric_small, rtol, atol, noise_small):
            if watch is not None:
                truncation[index] = True  # smooth along ±ε: ε was too large, not a kink
            else:  # a kink within ε of t that ε/10 does not reach, or ε too large: without
                kink[index] = True  # the watch, the two cannot be told apart
        elif watch is None and jump_small >= 0.5 * jump[index] and jump_small > allowed:
            kink[index] = True  # a jump at t itself
    check = TensorCheck(target=target, path=tensor_path(problem, target), analytic=analytic,
                        numeric=numeric, left=left, right=right, kink=kink,
                        failed=~close & ~kink & ~truncation, rtol=rtol, atol=atol,
                        unresolved=unresolved, truncation=truncation, numeric_small=second,
                        outside=outside, bent=bent)
    return check, spent


def gradcheck(problem: Problem, *, eps: float = DEFAULT_EPS, rtol: float = DEFAULT_RTOL,
              atol: float = DEFAULT_ATOL,
              max_evaluations: int = DEFAULT_MAX_EVALUATIONS,
              progress: Callable[[str], None] | None = None) -> GradcheckReport:
    """Finite differences against the engine for every parameter and the input.

    Parameters
    ----------
    problem : Problem
        A float64 problem (not ``--exact``).
    eps : float
        The step ε.
    rtol, atol : float
        A smooth element agrees when |analytic − numeric| ≤ atol + rtol·max(|analytic|,
        |numeric|).
    max_evaluations : int
        Refuse a problem that needs more energy evaluations (each a whole forward pass).
    progress : callable(str), optional
        Called with a description before each element's pair of evaluations (the CLI's
        progress bar): (needed − 1) / 2 calls.

    Returns
    -------
    report : GradcheckReport
        Parameters in layer order, then the input; the kinks of the forward pass.

    Raises
    ------
    ResourceError
        The first pass alone (2 evaluations per element, plus 1) is over ``max_evaluations``.
    UsageError
        A non-positive ε or a negative tolerance; an exact problem.

    Notes
    -----
    Evaluations: 1 + 2·(elements of the input and every parameter), plus 2 for each element
    that fails at ε and gets a second look at ε/10, while the budget lasts (a failing element
    left without one stays a failure; ``report.unresolved`` counts them).
    """
    _check_float(problem)
    if not eps > 0 or not math.isfinite(eps):
        raise UsageError(f"the step must be a positive number, got {eps}", where="--eps")
    for name, value in (("--rtol", rtol), ("--atol", atol)):
        if not value >= 0 or not math.isfinite(value):
            raise UsageError(f"the tolerance must be ≥ 0, got {value}", where=name)
    needed = check_evaluations(problem, max_evaluations)
    trace = run(problem)
    kinks, counts, watch = scan_kinks(problem, trace, eps)
    base_energy = energy(problem)
    noise = rounding_noise(trace, eps)
    spent = 1
    tensors = []
    for target in tensors_to_check(problem):
        second_looks_spent = spent - 1 - sum(2 * t.analytic.size for t in tensors)
        check, used = check_tensor(problem, target, analytic_gradient(trace, target),
                                   base_energy=base_energy, eps=eps, rtol=rtol, atol=atol,
                                   noise=noise,
                                   budget=max_evaluations - needed - second_looks_spent,
                                   watch=watch, progress=progress)
        spent += used
        tensors.append(check)
    return GradcheckReport(input_parts=input_parts(problem),
                           title=problem.title, eps=eps, rtol=rtol, atol=atol, tensors=tensors,
                           kinks=kinks, kink_counts=counts, evaluations=spent, noise=noise,
                           loss_branch=None if problem.loss is None else
                           loss_family(problem.loss.type).move_branch)


def _check_float(problem: Problem) -> None:
    if problem.exact:
        raise UsageError("finite differences need floating point; load the problem without "
                         "--exact", where="gradcheck", file=problem.file)
