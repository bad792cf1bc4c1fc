"""Error carried forward: what a student's own upstream answers imply one step downstream.

A wrong answer is "carried forward" when it is right for the value the engine computes from
the student's own answers one step upstream (contract v1.1, "Grading"):

- a layer's ``delta_in`` (each entry ``delta_in.<input>`` of an add or concat, the sum of
  both when it reads one output twice, as the engine reports it) and ``grads``: the
  layer's step run backward on the student's ``delta_out`` of that layer (or
  ``delta_in`` of the layer that reads it, summed over the readers when several do:
  either one, where the student answered both and they differ,
  ``StudentValues(..., reader_first=True)``) and the student's values of
  the layer's inputs
  (the ``output`` of each layer named in its ``input``/``inputs``, by default the previous
  layer; the problem's input as given);
- a layer's ``output``: the step run forward on the student's values of its inputs;
- a layer's ``delta_out``: the student's ``delta_in`` of the layer that reads it, summed
  over the layers that read it when several do; for the last layer, the loss's gradient at
  the student's output of that layer;
- ``loss``: the loss of the student's output of the last layer;
- a layer's ``updated.<p>`` (with an ``lr``): the SGD step from the student's ``grads.<p>``.

A tensor the student did not answer stands in with what their answers further upstream
imply, else with its true value, cell by cell; a wrong answer is also carried forward when
it is right from their answers one step upstream with the true value of every tensor they
did not answer (``StudentValues(..., chain=False)``: a delta the student did not answer,
routed through their own wrong forward values), or with what their forward answers imply for
each value of the forward pass they did not answer and the true value of each delta and
gradient they did not answer (``StudentValues(..., chain_deltas=False)``: the true delta
routed through the student's wrong output of a layer further up, past a ReLU or a flatten
they did not answer).  The upstream answers used may be wrong or right only to the decimals
written: a student who carries their own rounded -0.0664 forward to six decimals is carried
forward too.  Each wrong upstream cell used stands for any value that rounds to it as
written (the student may have carried more digits than they wrote): :meth:`Implied.spread`
bounds how far the implied value moves over those values, each answered cell moved in turn
through every step between it and the path (:meth:`Implied.moves`).  A right one's further
digits were the true ones, or those of the student's own computation: it stands for its
true value kept to more decimals, or for what their answers further upstream imply for it,
unrounded (:meth:`Implied.shifts`); one right only within atol/rtol stands for its rounding
range, as a wrong one does, and one whose digits are the true value
(:func:`_written_exactly`) for itself.  With no upstream answer used (the true values
alone) nothing is carried forward.  The layer's step is the one the engine runs, asked of the layer registry
(:func:`run_step`: its family's ``forward`` and ``backward``; the loss's family for the
loss); no slip or layer type is special-cased here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import CnnGradError
from cnngrad.families import layer_family
from cnngrad.network import (LayerTrace, Trace, delta_in_path, loss_and_delta, reads_many,
                             sgd_step)
from cnngrad.problem import INPUT

__all__ = ["Implied", "StudentValues", "implied_value", "run_step", "run_loss", "spread"]


def run_step(spec, inputs: list[np.ndarray], delta_out: np.ndarray | None = None
             ) -> tuple[np.ndarray, list[np.ndarray] | None, dict | None]:
    """One layer's step on given values, asked of its family in the layer registry: the one
    place this module runs a layer.

    Parameters
    ----------
    spec : LayerSpec
    inputs : list of ndarray, the layer's inputs in internal layout ((N, C, H, W),
        (N, C, L) or (N, K)), one per name in ``spec.inputs``
    delta_out : ndarray shaped as the output (internal), optional

    Returns
    -------
    output : ndarray (internal)
    delta_ins : list of ndarray, one shaped as each input, or None without ``delta_out``
    grads : dict (each parameter's gradient as the parameter was given), or None
    """
    family = layer_family(spec.type)
    output = family.forward(spec, inputs)
    if delta_out is None:
        return output, None, None
    delta_ins, grads = family.backward(spec, inputs, output, delta_out)
    return output, list(delta_ins), grads


def run_loss(problem, output: np.ndarray) -> tuple[Any, np.ndarray]:
    """The loss and dE/d(output) at a given output of the last layer (internal layout), as
    the engine computes them; the problem has a loss (a given ``delta`` implies nothing)."""
    return loss_and_delta(problem, output)


#: An implied value's spread moves the upstream cells one at a time, the step run three
#: times each: past this much work, moved cells times the values the step reads (a problem
#: far beyond a hand computation: 4×20×20 maps through a conv, 1,600 cells moved through a
#: step reading 3,200 values, took 9 s), a carried cell has to match the upstream values as
#: written.  Exact arithmetic (``--exact``) keeps the layers' fractions, ten times slower
#: even with the moves in floats: :data:`SPREAD_MAX_WORK_EXACT`.
SPREAD_MAX_WORK = 2**22
SPREAD_MAX_WORK_EXACT = 2**14

#: A linear step's value changes by opposite amounts when a cell moves by +h and by −h, and
#: by half as much for +h/2; where the changes differ from that by more than this share of
#: the larger, the move crosses a kink (a ReLU input at 0, a tied maximum under any tie
#: rule): the step's value there is not in a range around the value recomputed, and the cell
#: counts as written.  A smooth step (a sigmoid) differs by about h·f''/f', far less.
KINK_ASYMMETRY = 0.01


def half_unit(decimals: int) -> float:
    """Half a unit of the ``decimals``-th decimal: how far from a value written with that
    many decimals the value it was rounded from may be (a float: the moves are floats, with
    ``--exact`` too)."""
    return 0.5 * 10.0**-decimals


#: The moves of one value: the value in the moves' arithmetic (float64; with ``--exact``,
#: floats in object arrays: a bound needs no exact digits, and the layers' own fractions turn
#: each product into a float, ten times faster than a fraction's), and for each upstream
#: cell moved, (answer path, flat index) → the value with that cell moved up, down and half
#: way up; None where they are past the work allowed.
Moves = tuple  # (value, {key: [up, down, half]}), or None (a type alias, for the docs)


def _floats(array) -> np.ndarray:
    """An array's values as Python floats in an object array (the moves of ``--exact``)."""
    array = np.asarray(array)
    return np.array([float(v) for v in array.reshape(-1)], dtype=object).reshape(array.shape)


def _moves_base(array) -> np.ndarray:
    """``array`` in the moves' arithmetic, a fresh C-order copy (a channels-last view copied
    as it is would reshape to a copy, and a move would land in that copy instead)."""
    array = np.asarray(array)
    return _floats(array) if array.dtype == object else np.array(array, dtype=np.float64,
                                                                  order="C")


class _CellMoves(Mapping):
    """(answer path, flat index) → ``base`` with that cell moved up, down and half way up
    (:data:`Moves`), each triple built when it is read: the keys alone decide whether a
    step's moves are within the work allowed, and a step evaluated holds one key's copies at
    a time.  (Built up front, three copies of the whole tensor a cell took 1.6 GB for an
    answered 8×32×32 delta before the work bound turned them all away.)

    ``cells`` are the cells moved here: (key, flat index, half unit).  ``upstream`` (the
    moves of the value the cells not ``filled`` here were taken from, and ``filled``)
    overrides those cells under each of its keys, after the keys of ``cells``.  ``convert``
    maps each array read (the layer's internal layout)."""

    def __init__(self, base: np.ndarray, cells: list[tuple[Any, int, float]],
                 upstream: dict | None = None, filled: np.ndarray | None = None,
                 convert: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.base = base
        self.cells = {key: (k, width) for key, k, width in cells}
        self.upstream = upstream or {}
        self.filled = filled
        self.convert = convert
        self.order = list(dict.fromkeys([*self.cells, *self.upstream]))

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, key) -> bool:
        return key in self.cells or key in self.upstream

    def __getitem__(self, key) -> list[np.ndarray]:
        if key not in self:
            raise KeyError(key)
        triple = []
        for j, move in enumerate(self._moves(key)):
            moved = np.array(self.base, copy=True, order="C")
            if move is not None:
                flat = moved.reshape(-1)
                flat[move[0]] = flat[move[0]] + move[1]
            if key in self.upstream:
                moved[~self.filled] = self.upstream[key][j][~self.filled]
            triple.append(moved if self.convert is None else self.convert(moved))
        return triple

    def _moves(self, key) -> list[tuple[int, float] | None]:
        if key not in self.cells:
            return [None, None, None]
        k, width = self.cells[key]
        return [(k, move) for move in (width, -width, width / 2)]


def _step_moves(evaluate: Callable[[list[np.ndarray]], dict], args: list[np.ndarray],
                arg_moves: list[Callable[[], Any]]):
    """A step's values under every move of its arguments' upstream cells: (the values, {key:
    [values moved up, down, half way up]}), each a dict of the step's parts, in the moves'
    arithmetic; a cell that moves several arguments (one answer read twice) moves them
    together.  None past :data:`SPREAD_MAX_WORK` (moved cells times the values the step
    reads; :data:`SPREAD_MAX_WORK_EXACT` for fractions), decided on the keys before any
    moved copy is made."""
    exact = any(np.asarray(arg).dtype == object for arg in args)
    per_arg = []
    for arg, moves in zip(args, arg_moves):
        found = moves()
        per_arg.append(found if found is not None else (_moves_base(arg), {}))
    keys = list(dict.fromkeys(key for _, moved in per_arg for key in moved))
    reads = sum(np.size(arg) for arg in args)
    if len(keys) * reads > (SPREAD_MAX_WORK_EXACT if exact else SPREAD_MAX_WORK):
        return None
    bases = [base for base, _ in per_arg]
    values = evaluate(bases)
    moved_values = {}
    for key in keys:
        triples = [moved[key] if key in moved else None for _, moved in per_arg]
        moved_values[key] = [evaluate([base if triple is None else triple[j]
                                       for base, triple in zip(bases, triples)])
                             for j in range(3)]
    return values, moved_values


def _part(step, part: str):
    """One part of :func:`_step_moves`' result, as the moves of that value."""
    if step is None:
        return None
    values, moved = step
    return (np.asarray(values[part]),
            {key: [np.asarray(outs[part]) for outs in triple] for key, triple in moved.items()})


def _linear_moves(base: np.ndarray, up, down, half):
    """A cell's moves as changes of the value (up, down), zero where they are not linear (by
    opposite amounts up and down, by half as much half way up: else the move crosses a kink,
    and the cell counts as written)."""
    up, down, half = up - base, down - base, half - base
    larger = np.maximum(np.abs(up), np.abs(down))
    # a jump on either side breaks the symmetry (up = −down), a jump on both sides the
    # proportion (up = 2·half): the tied maxima of the split rule move δ/2 either way
    off = np.maximum(np.abs(up + down), np.abs(up - 2 * half))
    # a float step's rounding differs between the moves too
    noise = 1e-12 * (np.abs(base) + larger)
    linear = off <= KINK_ASYMMETRY * larger + noise
    return np.where(linear, up, 0), np.where(linear, down, 0)


def _as_fractions(total, exact: bool) -> np.ndarray:
    total = np.asarray(total)  # a 0-d object sum is a Fraction, not an array
    if exact:
        return np.asarray(np.vectorize(lambda v: Fraction(float(v)), otypes=[object])(total))
    return total


def _spread_of(moves, exact: bool, skip: Mapping | None = None) -> np.ndarray | None:
    """Σ over the moved cells (but those in ``skip``) of max(|moved up − value|, |moved down
    − value|), a cell counting only where its moves change the value linearly
    (:func:`_linear_moves`); fractions when ``exact``.  None for moves past the work
    allowed."""
    if moves is None:
        return None
    base, moved = moves
    base = np.asarray(base)
    total = np.zeros(np.shape(base), dtype=base.dtype)
    for key, (up, down, half) in moved.items():
        if skip and key in skip:
            continue
        up, down = _linear_moves(base, up, down, half)
        total = total + np.maximum(np.abs(up), np.abs(down))
    return _as_fractions(total, exact)


#: A right upstream cell kept to this many decimals past those written, at most (and
#: unrounded): a calculator's memory holds no more that a student carries on
KEPT_DECIMALS = 8


def _rounds_to(value, written, places: int) -> bool:
    """Whether ``value`` (None: no value) is within half a unit of the ``places``-th decimal
    of ``written``: the digits written are ``value``'s, rounded, a float's last bits aside,
    as a cell is judged right (``cells_right``: 1e-12 of the larger magnitude)."""
    if value is None:
        return False
    value, written = float(value), float(written)
    return abs(value - written) <= half_unit(places) + 1e-12 * max(abs(value), abs(written))


def _kept_shifts(moves, exact: bool, kept: Mapping) -> np.ndarray | None:
    """How far the value moves when every right upstream cell used (``kept``: key → (value
    written, true value, decimals written, the student's own value or None)) is its true
    value rounded to k decimals, for each k from the fewest written + 1 to the most +
    :data:`KEPT_DECIMALS`, and unrounded; then when each is the student's own value, what
    their answers further upstream imply for it, unrounded (where that rounds to what they
    wrote): a row per way, after a first row of zeros (as written).  A student who kept more
    digits of a right value than they wrote kept its true digits, or those of their own
    computation, so such a cell stands for those, never for any value that rounds to it.
    Each cell's shift is its slope (from its moves, where they are linear) times its own
    shift; a cell written with at least k decimals, or without a value of its own, stays as
    written.  None for moves past the work allowed."""
    if moves is None:
        return None
    base, moved = moves
    base = np.asarray(base)
    keys = [key for key in moved if key in kept]
    if not keys:
        return _as_fractions(np.zeros((1, *np.shape(base)), dtype=base.dtype), exact)
    decimals = [kept[key][2] for key in keys]
    ways = [*range(min(decimals) + 1, max(decimals) + KEPT_DECIMALS + 1), None, "own"]
    total = np.zeros((1 + len(ways), *np.shape(base)), dtype=base.dtype)
    for key in keys:
        written, true, places, mine = kept[key]
        up, down = _linear_moves(base, *moved[key])
        slope = (up - down) / (2 * half_unit(places))
        for row, k in enumerate(ways, start=1):
            if k == "own":
                moved_to = mine
            elif k is None or k > places:
                moved_to = true if k is None else round(Fraction(true), k)
            else:
                moved_to = None
            if moved_to is not None:
                total[row] = total[row] + slope * float(Fraction(moved_to) - Fraction(written))
    return _as_fractions(total, exact)


def spread(evaluate: Callable[[list[np.ndarray]], Any], args: list[np.ndarray],
           widths: list[np.ndarray]) -> np.ndarray | None:
    """How far ``evaluate(args)`` may move when each cell of ``args`` moves by up to its
    ``widths``: Σ_k max(|evaluate(args, cell k moved by +w_k) − value|, |… −w_k …|), a cell
    counting only where its moves change the value linearly (:func:`_spread_of`).

    Parameters
    ----------
    evaluate : callable, list of ndarray → ndarray
    args : list of ndarray, float64 or object (Fractions)
    widths : list of ndarray, each the shape of its arg: how far each cell may move (half a
        unit of its last decimal written; 0 for a cell that stands for itself exactly)

    Returns
    -------
    ndarray (the value's shape; fractions for object arrays), or None past
    :data:`SPREAD_MAX_WORK` (moved cells times the values of ``args``;
    :data:`SPREAD_MAX_WORK_EXACT` for fractions)

    Notes
    -----
    Exact where a step is linear in each argument away from its kinks (a delta_in is linear in
    the delta, a conv's or dense layer's gradient in the delta and in the input, each), to
    first order otherwise (a sigmoid's output, batch norm, a loss).  The steps of a chain are
    moved together (:meth:`StudentValues.value`): each upstream cell through all of them.
    """
    def arg_moves(i: int):
        def moves():
            base_i = _moves_base(args[i])
            cells = [((i, int(k)), int(k), float(np.asarray(widths[i]).reshape(-1)[k]))
                     for k in np.flatnonzero(np.asarray(widths[i] != 0).reshape(-1))]
            return base_i, _CellMoves(base_i, cells)
        return moves

    step = _step_moves(lambda moved: {"": evaluate(moved)}, args,
                       [arg_moves(i) for i in range(len(args))])
    return _spread_of(_part(step, ""), any(np.asarray(a).dtype == object for a in args))


@dataclass
class _Used:
    """The upstream answers a recomputation used: those with a wrong cell among the cells
    used, and the others (right, perhaps only to the decimals written)."""

    wrong: list[str] = field(default_factory=list)
    right: list[str] = field(default_factory=list)

    def add(self, path: str, wrong: bool) -> None:
        if wrong and path in self.right:
            self.right.remove(path)
        if path not in self.wrong and (wrong or path not in self.right):
            (self.wrong if wrong else self.right).append(path)

    def merge(self, other: "_Used") -> "_Used":
        for path in other.wrong:
            self.add(path, True)
        for path in other.right:
            self.add(path, False)
        return self

    def __bool__(self) -> bool:
        return bool(self.wrong or self.right)

    def named(self) -> tuple[str, ...]:
        """What the report names: the wrong answers, else the right ones used."""
        return tuple(self.wrong or self.right)


@dataclass
class Implied:
    """A tensor as the student's own upstream answers imply it."""

    value: np.ndarray  # display shape, the dtype of the trace
    used: _Used  # the upstream answers it was recomputed from
    #: computes :meth:`moves` (called at most once, only when it is asked for)
    moves_of: Callable[[], Any] | None = field(default=None, repr=False)
    #: the right upstream cells among the moves: key → (value written, true value, decimals
    #: written, the student's own value or None); each stands for its true value kept to
    #: some decimals, or for the student's own value, not for a range
    kept: Mapping = field(default_factory=dict, repr=False)

    @property
    def sources(self) -> tuple[str, ...]:
        """The upstream answers a report names: those with a wrong cell, else all used."""
        return self.used.named()

    def moves(self):
        """The value under each move of an upstream cell used (:data:`Moves`, display
        shape), None when not bounded (past :data:`SPREAD_MAX_WORK` of moves, or a moved
        value the step cannot take: a probability past 1 in a bce loss)."""
        if self.moves_of is None:
            return _moves_base(self.value), {}
        return self._moves

    @functools.cached_property
    def _moves(self):
        try:
            with np.errstate(all="ignore"):
                return self.moves_of()
        except (CnnGradError, ArithmeticError, ValueError):
            return None

    def spread(self) -> np.ndarray | None:
        """How far each cell of :attr:`value` may move (≥ 0, its shape; fractions with
        ``--exact``) when each upstream cell used is any value that rounds to it as written;
        None when that is not bounded (:meth:`moves`)."""
        return self._spread

    @functools.cached_property
    def _spread(self) -> np.ndarray | None:
        with np.errstate(all="ignore"):
            return _spread_of(self.moves(), self.value.dtype == object, skip=self.kept)

    def shifts(self) -> np.ndarray | None:
        """How far :attr:`value` moves when the right upstream cells used (:attr:`kept`) are
        their true values kept to one more decimal than written, two more, … and unrounded,
        or the student's own values: one row per way (:func:`_kept_shifts`), the first all
        zeros (as written); None when not bounded (:meth:`moves`)."""
        return self._shifts

    @functools.cached_property
    def _shifts(self) -> np.ndarray | None:
        with np.errstate(all="ignore"):
            return _kept_shifts(self.moves(), self.value.dtype == object, self.kept)


class StudentValues:
    """The student's value of any tensor: their answered cells; where they answered
    nothing, what their answers further upstream imply; else the true value.

    With ``chain=False`` a tensor the student did not answer is its true value: each step
    is recomputed from the student's answers one step upstream alone (a wrong forward
    value, and the true delta routed through it).  With ``chain_deltas=False`` only the
    forward pass's values (each layer's ``output``) are implied from further upstream: a
    delta or gradient the student did not answer is its true value."""

    def __init__(self, trace: Trace, answers: Mapping[str, Any], *,
                 chain: bool = True, chain_deltas: bool = True, reader_first: bool = False,
                 min_decimals: int = 0) -> None:
        self.trace = trace
        self.answers = answers  # path -> TensorCheck (answered, right, given, truth)
        self.chain = chain
        self.chain_deltas = chain_deltas
        # a cell written with fewer decimals (a whole number too) stands for itself exactly
        self.least_decimals = max(1, min_decimals)
        # a layer's delta_out as the student wrote it, or (reader_first) as they wrote the
        # delta_in of the one layer that reads it, where they answered both
        self.reader_first = reader_first
        self._implied: dict[str, Implied | None] = {}
        self.kept: dict = {}  # the right cells moved: (path, flat index) → Implied.kept's
        self._steps: dict[int, Callable] = {}  # a layer's backward step: its moves, once
        # a layer's backward step on the student's values, and (on demand) on the true inputs
        # with the student's delta_out: once for its delta_in and every gradient
        self._step_values: dict[int, tuple[dict, Callable[[], dict]]] = {}
        self.index = {layer.name: i for i, layer in enumerate(trace.layers)}
        # an answer's cells written as their true values, once: every step reading it asks
        self._written_exactly = functools.cache(lambda path: _written_exactly(answers[path]))

    # -- the student's values ------------------------------------------------

    def value(self, paths: tuple[str, ...], truth_shown: np.ndarray,
              internal_shape: tuple[int, ...] | None, implied_from: str | None = None
              ) -> tuple[np.ndarray, _Used, Callable[[], Any]]:
        """The first path's answered cells win, then the next path's, then what the
        student's upstream answers imply for ``implied_from`` (the first path by default;
        unless ``chain`` is off), then the truth; the answered paths used (here or
        upstream); and, on demand (a function), the value's moves (:data:`Moves`, its
        layout): a cell answered here with the decimals required moved by half a unit of its
        last decimal, the cells taken from further upstream as that value moves, a cell that
        stands for itself exactly (the truth, a p/q, fewer decimals than required) never."""
        source = implied_from or paths[0]
        chained = self.chain and (self.chain_deltas or source.endswith(".output"))
        fallback = self.implied(source) if chained else None
        if fallback is not None and fallback.value.shape == np.shape(truth_shown):
            value = np.array(fallback.value, copy=True)
            used = _Used().merge(fallback.used)
        else:
            fallback = None
            value = np.array(truth_shown, copy=True)
            used = _Used()
        exact = value.dtype == object
        filled = np.zeros(value.shape, dtype=bool)
        own: list[tuple[Any, int, float]] = []  # (key, flat index, half unit) moved here
        taken = _Used()  # the paths whose cells are taken here
        for path in paths:
            check = self.answers.get(path)
            if check is None or check.truth.shape != value.shape:
                continue
            take = check.answered & ~filled
            if not take.any():
                continue
            if value.ndim == 0:
                given = check.given[()]
                value = np.array(given if exact else float(given),
                                 dtype=object if exact else value.dtype)
            else:
                given = check.given[take]
                value[take] = given if exact else np.array([float(g) for g in given])
            filled |= take
            taken.add(path, bool((check.answered & ~check.right)[take].any()))
            rounds = (take & ~check.fraction & (check.decimals >= self.least_decimals)
                      & ~self._written_exactly(path))
            own += [((path, int(k)), int(k), half_unit(int(check.decimals.reshape(-1)[k])))
                    for k in np.flatnonzero(rounds.reshape(-1))]
            # a cell whose digits are the true value's, rounded, stands for that value kept to
            # more decimals, or for the student's own value from upstream that rounds to it
            # (Implied.kept); one right only within atol/rtol, for its rounding range
            kept_cells = np.flatnonzero((rounds & check.right).reshape(-1))
            # the student's own value of each: what their answers upstream imply for this
            # path itself (not for the value it fills: a reader's delta_in written for a
            # delta_out would be its own answer again)
            upstream = self.implied(path) if self.chain and kept_cells.size else None
            if upstream is not None and upstream.value.shape != check.truth.shape:
                upstream = None
            for k in kept_cells:
                written = check.given.reshape(-1)[k]
                places = int(check.decimals.reshape(-1)[k])
                true = check.truth.reshape(-1)[k]
                if not _rounds_to(true, written, places):
                    continue
                mine = None if upstream is None else upstream.value.reshape(-1)[k]
                self.kept[(path, int(k))] = (written, true, places,
                                             mine if _rounds_to(mine, written, places) else None)
        # every cell answered: nothing came from further upstream
        used = taken if filled.all() else used.merge(taken)
        shown = value
        if internal_shape is not None:
            value = self.trace.layout.to_internal(value, internal_shape)

        def moves():
            base = _moves_base(shown)
            upstream = None if fallback is None or filled.all() else fallback.moves()

            def to(array):
                return self.trace.layout.to_internal(array, internal_shape)
            return (base if internal_shape is None else to(base),
                    _CellMoves(base, own, upstream[1] if upstream is not None else None,
                               filled, None if internal_shape is None else to))
        return value, used, moves

    def inputs_of(self, index: int) -> tuple[list[np.ndarray], _Used, list[Callable]]:
        """The student's values of each input of layer ``index`` (internal), the paths
        answered upstream they came from, and their moves (:meth:`value`); the problem's
        input is as given, exactly."""
        layer = self.trace.layers[index]
        values, sources, moves = [], _Used(), []
        for name, given in zip(_input_names(layer), layer.inputs):
            if name not in self.index:
                values.append(given)
                moves.append(functools.partial(lambda array: (_moves_base(array), {}), given))
                continue
            source = self.trace.layers[self.index[name]]
            value, used, moved = self.value((f"{name}.output",),
                                            self.trace.shown(source.output),
                                            source.output.shape)
            values.append(value)
            moves.append(moved)
            sources.merge(used)
        return values, sources, moves

    def delta_out_of(self, index: int) -> tuple[np.ndarray, _Used, Callable]:
        layer = self.trace.layers[index]
        own = f"{layer.name}.delta_out"
        readers = _readers(self.trace, index)
        if len(readers) > 1 and self.reader_first and self.implied(own) is not None:
            # what the readers send back, summed (implied), wins over the delta_out written:
            # no one cell of it is any one reader's answer
            return self.value((), self.trace.shown(layer.delta_out), layer.delta_out.shape,
                              implied_from=own)
        paths = [own]
        if len(readers) == 1:
            paths.append(_delta_in_path(readers[0], layer.name))
        return self.value(tuple(paths[::-1] if self.reader_first else paths),
                          self.trace.shown(layer.delta_out), layer.delta_out.shape,
                          implied_from=own)

    def last_output(self) -> tuple[np.ndarray, _Used, Callable]:
        last = self.trace.layers[-1]
        return self.value((f"{last.name}.output",), self.trace.shown(last.output),
                          last.output.shape)

    # -- one step downstream -------------------------------------------------

    def implied(self, path: str) -> Implied | None:
        """What the student's answers imply at ``path`` (None: no upstream answer is used,
        or the step cannot be run on the student's values)."""
        if path not in self._implied:
            self._implied[path] = None  # a cycle cannot happen; this guards it anyway
            try:
                # a student's value may overflow a sigmoid or break a loss's domain: then
                # nothing is carried forward, and no warning escapes
                with np.errstate(all="ignore"):
                    implied = self._compute(path)
                # an absurd answer (1e300) overflows: no step was run on it, nothing is
                # carried (an infinite allowance took any value as right for it)
                if implied is None or _finite(implied.value):
                    self._implied[path] = implied
            except (CnnGradError, ArithmeticError, ValueError):
                self._implied[path] = None
        return self._implied[path]

    def _compute(self, path: str) -> Implied | None:
        trace = self.trace
        if path == "loss":
            if trace.problem.loss is None:
                return None
            output, sources, moves = self.last_output()
            if not sources:
                return None

            def loss_of(args):
                return np.asarray(_scalar(run_loss(trace.problem, args[0])[0], trace))
            return _implied(loss_of, [output], [moves], sources, self.kept)
        name, _, rest = path.partition(".")
        index = self.index.get(name)
        if index is None:
            return None
        kind, _, key = rest.partition(".")
        if kind == "delta_out":
            readers = _readers(trace, index)
            if readers:  # the student's delta_in of each reader (one: that delta_in)
                return self._summed_delta(name, readers)
            if index != len(trace.layers) - 1 or trace.problem.loss is None:
                return None
            output, sources, moves = self.last_output()
            if not sources:
                return None

            def delta_of(args):
                return trace.shown(np.asarray(run_loss(trace.problem, args[0])[1]))
            return _implied(delta_of, [output], [moves], sources, self.kept)
        layer = trace.layers[index]
        if kind == "updated":
            return self._updated(layer, key)
        if kind not in ("output", "delta_in", "grads"):
            return None
        names = _input_names(layer)
        # the inputs this delta_in is of: one entry per name for an add or concat, which
        # holds the sum of both when a name is read twice (as the engine reports it)
        entries = [i for i, input_name in enumerate(names)
                   if input_name == key] if reads_many(layer.spec) else [0] if not key else []
        if kind == "delta_in" and not entries:
            return None
        xs, sources, moves = self.inputs_of(index)
        if kind == "output":
            if not sources:
                return None

            def output_of(args):
                return trace.shown(run_step(layer.spec, args)[0])
            return _implied(output_of, xs, moves, sources, self.kept)
        delta_out, delta_sources, delta_moves = self.delta_out_of(index)
        input_sources, sources = sources, _Used().merge(delta_sources)
        args = [*xs, delta_out]

        def backward_of(moved):  # every value of the step: its delta_in(s) and gradients
            _, delta_ins, grads = run_step(layer.spec, moved[:-1], moved[-1].astype(
                layer.delta_out.dtype, copy=False))
            parts = {f"grads.{name}": np.asarray(grad) for name, grad in (grads or {}).items()}
            for entry in dict.fromkeys(names) if reads_many(layer.spec) else (None,):
                summed = sum(delta_ins[i] for i, input_name in enumerate(names)
                             if entry is None or input_name == entry)
                parts["delta_in" + (f".{entry}" if entry else "")] = trace.shown(summed)
            return parts

        if not (input_sources or sources):
            return None
        if index not in self._step_values:
            self._step_values[index] = (backward_of(args), functools.cache(
                lambda: backward_of([*layer.inputs, delta_out])))
        values, from_true_inputs = self._step_values[index]
        part = rest if kind == "grads" else "delta_in" + (f".{key}" if key else "")
        if part not in values:
            return None
        # the student's inputs are named only where they count: a conv's delta_in or a
        # flatten's is the same from the true inputs, a relu's where its mask is unchanged
        if input_sources and not _same(from_true_inputs()[part], values[part]):
            sources = input_sources.merge(sources)
        if not sources:
            return None
        # the moves serve every value of the layer's step (delta_in and each gradient): one
        # set of moves for all of them, made when the first one's spread is asked for
        step = self._steps.setdefault(index, functools.cache(
            lambda: _step_moves(backward_of, args, [*moves, delta_moves])))
        return Implied(values[part], sources, lambda: _part(step(), part), self.kept)

    def _updated(self, layer: LayerTrace, key: str) -> Implied | None:
        """A parameter after the SGD step, p − η·dE/dp, from the student's gradient of it
        (their answered cells, else what their answers upstream imply)."""
        grads = layer.grads or {}
        if self.trace.lr is None or key not in grads or key not in layer.spec.params:
            return None
        grad, sources, moves = self.value((f"{layer.name}.grads.{key}",), grads[key], None)
        if not sources:
            return None
        param, lr = layer.spec.params[key], self.trace.lr

        def updated_of(args):
            return sgd_step(param, args[0].astype(np.asarray(grads[key]).dtype, copy=False), lr)
        return _implied(updated_of, [grad], [moves], sources, self.kept)

    def _summed_delta(self, name: str, readers: list[LayerTrace]) -> Implied | None:
        """A layer's delta_out: the student's value of what each layer that reads its output
        sends back (their answered cells, else what their answers imply), summed over the
        readers when several do (the multivariate chain rule), when one of them is answered
        or implied."""
        values, sources, moves = [], _Used(), []
        for reader in readers:
            sent = self.trace.delta_sent(reader, name)
            value, used, moved = self.value((_delta_in_path(reader, name),),
                                            self.trace.shown(sent), None)
            values.append(value)
            moves.append(moved)
            sources.merge(used)
        if not sources:
            return None
        return _implied(lambda args: np.asarray(sum(args[1:], args[0])), values, moves,
                        sources, self.kept)


def _implied(evaluate: Callable[[list[np.ndarray]], np.ndarray | None],
             args: list[np.ndarray], moves: list[Callable[[], Any]],
             used: _Used, kept: Mapping) -> Implied | None:
    """``evaluate(args)`` as an :class:`Implied` value recomputed from ``used``, with its
    moves under those of ``args`` (each a function: made only when asked for); None when
    ``evaluate`` gives nothing."""
    value = evaluate(args)
    if value is None:
        return None
    step = functools.cache(lambda: _step_moves(lambda moved: {"": evaluate(moved)}, args,
                                               moves))
    return Implied(np.asarray(value), used, lambda: _part(step(), ""), kept)


#: A written value this close to the true one, in units of its last decimal, is the true
#: value: float rounding aside (0.35 for 0.35000000000000003), there were no further digits
EXACT_IN_UNITS = 1e-6


def _written_exactly(check) -> np.ndarray:
    """bool, the tensor's shape: answered cells whose written digits are the true value (a
    max pool's 0.00, a 0.35 that is 0.35): a student who wrote them had nothing more to carry,
    so such a cell stands for itself, not for every value that rounds to it.  (Moved by
    half a unit each, a max pool delta's sixteen right zeros let a kernel gradient 0.3 off
    pass as carried forward when every upstream answer was right.)"""
    exactly = np.zeros(np.shape(check.truth), dtype=bool)
    for k in np.flatnonzero(np.asarray(check.answered & check.right).reshape(-1)):
        truth = check.truth.reshape(-1)[k]
        unit = 10.0 ** -int(check.decimals.reshape(-1)[k])
        written = check.given.reshape(-1)[k]
        exactly.reshape(-1)[k] = abs(float(truth) - float(written)) <= EXACT_IN_UNITS * unit
    return exactly


def _finite(value: np.ndarray) -> bool:
    """Whether every cell of an implied value is a number (exact values always are)."""
    return value.dtype == object or bool(np.isfinite(value).all())


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal to the last bit (or as fractions), shape and all."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.all(a == b))


def _input_names(layer: LayerTrace) -> tuple[str, ...]:
    return tuple(layer.spec.inputs) or (INPUT,)


def _readers(trace: Trace, index: int) -> list[LayerTrace]:
    """The layers that read layer ``index``'s output (in a chain, the next one)."""
    return trace.readers(trace.layers[index].name)


def _delta_in_path(reader: LayerTrace, name: str) -> str:
    """The path of what ``reader`` sends back to the output ``name``: its ``delta_in``, or
    the entry of that input for an add or concat."""
    return delta_in_path(reader.name, name if isinstance(reader.delta_in, dict) else None)


def implied_value(trace: Trace, path: str, answers: Mapping[str, Any]) -> Implied | None:
    """The value of ``path`` recomputed from the student's answers one step upstream.

    Parameters
    ----------
    trace : Trace
        The true computation.
    path : str
        A tensor path (no element index).
    answers : mapping path → TensorCheck
        The student's checked answers (``answered``, ``right`` and ``given`` arrays).

    Returns
    -------
    Implied, or None when no upstream answer is used, or the path has no
    upstream step (a ``delta_out`` given by the problem; ``updated.*`` without an ``lr``).
    """
    return StudentValues(trace, answers).implied(path)


def _scalar(value, trace: Trace):
    if isinstance(value, Fraction) or isinstance(trace.loss, Fraction):
        return Fraction(value)
    return float(value)
