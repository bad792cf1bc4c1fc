"""Exactness at kinks: ReLU inputs at 0 and max-pool ties decided on the numbers as written.

A float forward pass can put a ReLU input that is exactly 0 in the written numbers at
``5.6e-17`` (0.1 + 0.2 − 0.3), or break a tie between two maxima that the written numbers
make, and the backward pass would then take the wrong side of the kink.  After the float
forward pass, :func:`settle_kinks` looks for the cells within rounding noise of a kink:

- each layer's *magnitude* M, per cell, bounds the size of the terms that made its value
  (a conv's Σ|w|·|o| + |b|, from the family's own forward step on absolute values; a relu
  passes M where it passes its input and 0 where it cuts; a non-rational layer gives its
  output's size plus the noise its input carried through, or its output's size alone);
  rounding noise is ``KINK_ULPS`` units in the last place of M;
- a family that has kinks finds them: ``near_kinks(spec, inputs, magnitudes, tolerance,
  output)`` lists the ReLU inputs with |x| ≤ tolerance·M and the max-pool windows whose top
  values are that close (:class:`NearKinks`).  Nothing found: the float run stands as it is.
- numbers as given, and values copied from them unrounded (a family with
  ``copies_values``: relu, max pool), are not searched: rounding a written number keeps
  its sign and the order and the equality of two numbers written with up to 15
  significant digits (6 in float32).  An input with a number written past that which its
  float does not hold exactly (9.000000000000001 beside 9.000000000000002, one float; a
  fraction; an integer past 2⁵³) is searched as a computed one is, its magnitudes its
  own sizes (:func:`_input_written_exactly`).
- the kinks of every layer reading one tensor are decided together, and the near kinks
  that share a cell with a wrongly decided one are set with it (windows overlapping over
  copies of one value, two pools over one tensor).

A near kink whose every upstream layer is rational is decided exactly, when the exact
forward pass of those layers fits :data:`EXACT_WORK_BUDGET`: the problem is built again
with ``exact=True`` from the document it was read from (``Problem.source``) and run through
the same families' steps on Fractions.  Where the float values decide a kink differently
from the exact ones (the sign of a ReLU input; which cells of a window are its maxima),
those cells are set to their exact values rounded to the float dtype, keeping the exact
sign and order (an exact 0 is 0.0, an exact tie an exact float tie, an exact ``1e-400`` the
smallest positive float), and the float forward pass runs again from them; the backward pass
then decides as in exact mode.  Cells the floats already decide right keep their bits,
but for the near ties linked to a wrong one by a shared cell (windows overlapping over
copies of one value): those are set together, equal exact values to one float.

Any other near kink (after a sigmoid, tanh, softmax or batch norm, or in a problem too large
for the budget) is not decided silently: a warning naming the layer and the cell goes to
``Trace.warnings``, which the CLI prints on stderr.

Below the float range (products that underflow: 1e-200 · 1e-200) the magnitude is 0 too,
which would say "no terms, an exact 0"; where the problem's numbers could get there
(:func:`_underflow_floor`), every computed magnitude is at least the smallest normal float,
so those cells are searched and decided exactly, rounding noise there ``KINK_ULPS`` steps of
the subnormal floats at least, carried on through later weights; values no float
rounds apart (1e-400 and 2e-400 in one window) get the smallest floats in their order
(:func:`_round_keeping_order`).  A written number that rounds to 0.0 is refused when it
is read.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.families import family_of
from cnngrad.problem import INPUT, LayerSpec, Problem, reference_names

#: Rounding noise, in units in the last place of a cell's magnitude: a sum of n terms is
#: off by a few ulps typically (√n in the worst realistic case), and errors add up layer
#: by layer; 256 ulps is 5.7e-14 of the terms' size in float64, 3.1e-5 in float32.  A
#: layer whose cells add up more terms than twice that (a 1×2600 average pool, whose sum of
#: one value repeated drifts by half an ulp an addition) has its magnitudes scaled up to
#: match: (n − 1)/2 ulps, the bound of any order of summation (:func:`_long_sums`).
KINK_ULPS = 256

#: The distance, in units in the last place of a .npy's float32 (or float16), between a
#: sum of its numbers and the same sum of the decimals --exact reads from them: each product
#: of two stored numbers is off by about two of their ulps at most, relative to the sum of
#: the terms.
STORED_ULPS = 4

#: The largest exact forward pass run to decide a kink, in multiply-adds on Fractions
#: (:func:`exact_work`); about a second or two.  Larger problems get warnings instead.
EXACT_WORK_BUDGET = 200_000

#: Forward passes re-run at most: a patched cell moves the values downstream by rounding
#: noise only, so a second round rarely finds a new near kink and a third never should.
ROUNDS = 3


@dataclass
class NearKinks:
    """A layer's kinks within rounding noise, as its family finds them (vectorised: a
    problem may have a million).

    ``kind`` is ``"zero"`` (ReLU inputs near 0: kink k is cell k) or ``"tie"`` (max-pool
    windows whose top values are that close: ``windows[k]`` is window k's output cell, and
    its cells within rounding noise of the maximum are the ``cells`` whose ``groups`` entry
    is k, row-major).  Indices are internal, into the layer's input number ``input``."""

    kind: str
    cells: np.ndarray  # (M, ndim) int
    groups: np.ndarray  # (M,) int: the kink each cell belongs to, ascending
    windows: np.ndarray | None = None  # (K, ndim) int, ties only
    input: int = 0
    #: the input's cells' value ids, equal for copies of one value (an upsample's), or None
    origins: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.windows) if self.windows is not None else len(self.cells)

    def kink_cells(self, k: int) -> list[tuple[int, ...]]:
        lo, hi = np.searchsorted(self.groups, [k, k + 1])
        return [tuple(int(i) for i in cell) for cell in self.cells[lo:hi]]


@dataclass
class _Settled:
    patches: dict[str, dict[tuple[int, ...], Any]] = field(default_factory=dict)
    warnings: list[KinkWarning] = field(default_factory=list)


# --------------------------------------------------------------------------- entry point


def settle_kinks(problem: Problem, layers: list, dtype=None
                 ) -> tuple[list, list[KinkWarning]]:
    """The float forward pass ``layers`` (a list of LayerTrace) with every kink within
    rounding noise decided exactly where it can be; and the warnings for the others.

    Returns the same list when no cell needed a new value (the common case: no near
    kink at all, or floats that already decide every one right)."""
    if problem.exact or not any(_near_kinks_of(spec) for spec in problem.layers):
        return layers, []
    eps = np.finfo(np.float32 if dtype is not None and np.dtype(dtype) == np.float32
                   else np.float64).eps
    tolerance = max(KINK_ULPS * float(eps), STORED_ULPS * _stored_eps(problem))
    # values as given, or copied from them unrounded (a relu, a max pool): the floats keep
    # their order and sign, since rounding a written number is monotonic; not where the
    # floats of the numbers as written do not keep them apart (then every cell is searched)
    as_given = _copies_of_input(problem)
    if any(_near_kinks_of(spec) and set(spec.inputs) <= as_given for spec in problem.layers) \
            and not _input_written_exactly(problem, dtype):
        as_given = set()
    # where values may underflow, a value below the normal floats is off by half a step of
    # the subnormals at each rounding: as noise (tolerance·M) a computed cell's magnitude is
    # at least the smallest normal float's, KINK_ULPS such steps, carried on through the
    # weights of later layers (a subnormal times 1e300).  So values set to the smallest
    # floats in their order (_round_keeping_order) stay near the cells of the windows they
    # share, and are checked against them.
    size_floor = _underflow_floor(problem, dtype)
    exact = _ExactSide(problem)
    applied: dict[str, dict[tuple[int, ...], Any]] = {}
    current = layers
    warnings: list[KinkWarning] = []
    for _ in range(ROUNDS):
        settled = _scan(problem, current, tolerance, exact, as_given, size_floor)
        warnings = settled.warnings
        new = {name: {cell: value for cell, value in cells.items()
                      if applied.get(name, {}).get(cell) != value}
               for name, cells in settled.patches.items()}
        new = {name: cells for name, cells in new.items() if cells}
        if not new:
            break
        for name, cells in new.items():
            applied.setdefault(name, {}).update(cells)
        current = _rerun(problem, applied, dtype)
    return current, warnings


def _copies_of_input(problem: Problem) -> set[str]:
    """The problem's input and the layers whose outputs are copies of its values made
    without rounding (a relu of it, a max pool, a flatten: ``copies_values``)."""
    copies = {INPUT}
    for spec in problem.layers:
        if family_of(spec).copies_values and set(spec.inputs) <= copies:
            copies.add(spec.name)
    return copies


#: The significant digits a decimal may have for every two different ones to stay
#: different floats: 15 in float64, 6 in float32 (DBL_DIG, FLT_DIG), and the integers each
#: float holds exactly.
_FLOAT_DIGITS = {np.dtype(np.float64): (15, 2**53), np.dtype(np.float32): (6, 2**24)}

#: A run of digits and points long enough to hold more significant digits than a float
#: keeps, or a fraction's slash: where a CSV file's numbers may be closer than a float tells
_LONG_NUMBER_RE = re.compile(r"[0-9][0-9.]{6,}|/|[eE]-3[0-9][0-9]")


def _input_written_exactly(problem: Problem, dtype=None) -> bool:
    """Whether the input's floats keep every equality of its numbers as written, so that two
    numbers the floats find equal were written equal: False when a number is written past
    what the float holds and is not held exactly (``9.000000000000001``, one float with
    ``9.000000000000002``; the fraction ``"1/3"``; an integer past 2⁵³), or when a float32
    run rounds two different float64 values to one.  Read from the numbers as written
    (``Problem.source``: the JSON lists, the CSV files' text); a .npy holds its floats."""
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if dtype not in _FLOAT_DIGITS:
        return True
    digits, whole = _FLOAT_DIGITS[dtype]
    if dtype != np.float64:
        values = np.unique(np.asarray(problem.x, np.float64))
        if np.unique(values.astype(dtype)).size < values.size:
            return False
    written = problem.source.get("input") if isinstance(problem.source, dict) else None
    names = reference_names(written)
    if names:
        return not any(_csv_has_long_number(problem.base_dir / name, digits)
                       for name in names if name.lower().endswith(".csv"))
    stack = [written]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif not _held_exactly(value, digits, whole, dtype):
            return False
    return True


def _held_exactly(value: Any, digits: int, whole: int, dtype) -> bool:
    """Whether one written number is short enough for its float to tell it from any other,
    or is its float exactly."""
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return abs(value) <= whole or _float_is(Fraction(value), dtype)
    if isinstance(value, Decimal):
        if not value.is_finite() or value == 0:
            return True
        # the digits shortcut holds for normal floats; a subnormal keeps fewer bits
        # (1.0000001e-320 and 1.0000002e-320 are one float)
        if (len(value.as_tuple().digits) <= digits
                and abs(float(value)) >= float(np.finfo(dtype).tiny)):
            return True
        return _float_is(Fraction(value), dtype)
    if isinstance(value, str):
        text = value.strip()
        try:
            # a decimal as one written as a JSON number is ("0.333…" of 5,000 digits, past
            # the 4,300 digits Fraction(str) reads), a fraction "p/q" as a Fraction
            return _held_exactly(Decimal(text), digits, whole, dtype)
        except decimal.InvalidOperation:
            pass
        try:
            number = Fraction(text)
        except (ValueError, ZeroDivisionError):
            return True  # not a number: the problem was refused before any kink
        return _float_is(number, dtype)
    return True


def _float_is(number: Fraction, dtype) -> bool:
    with np.errstate(over="ignore", under="ignore"):
        held = dtype.type(float(number)) if abs(number) < 2**1023 else np.inf
    return bool(np.isfinite(held)) and Fraction(float(held)) == number


def _csv_has_long_number(path, digits: int) -> bool:
    """Whether a CSV file may hold two numbers its floats cannot tell apart: a number of more
    than ``digits`` digits (leading zeros counted: a cheap test that may say yes for
    nothing, which costs only a search), or a fraction.  An unreadable file: no (the
    problem was read from it; the exact pass would say what changed).  An exponent of
    -300 or below may be a subnormal, whose floats keep fewer digits: yes too."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return False
    for match in _LONG_NUMBER_RE.finditer(text):
        found = match.group()
        if found == "/" or found[0] in "eE" or sum(c.isdigit() for c in found) > digits:
            return True
    return False


#: How far above the smallest normal float the product of a chain of the problem's
#: smallest numbers must stay, in powers of ten, for no value to underflow: room for a
#: pool's or a mean's divisor (10⁷) along the way.
_UNDERFLOW_MARGIN = 7


def _underflow_floor(problem: Problem, dtype=None) -> float:
    """0.0, or the smallest normal float of ``dtype`` when some value of the forward pass may
    underflow: when the problem's smallest nonzero number (input or parameter), multiplied
    by itself once per layer, could leave the normal floats (1e-200 · 1e-200).  A value that
    underflowed to 0 has a magnitude of 0, which says "no terms, an exact 0"; floored at
    the smallest normal float, every cell at a kink is searched and decided exactly (or
    warned of), at the cost of searching the exact zeros too, its rounding noise
    ``KINK_ULPS`` steps of the subnormals (:func:`settle_kinks`)."""
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    # every number at once: a call per tensor would cost more than the search it spares
    numbers = np.concatenate([np.ravel(np.asarray(values, np.float64)) for values in
                              [problem.x] + [value for spec in problem.layers
                                             for value in spec.params.values()]])
    magnitudes = np.abs(numbers)
    magnitudes = magnitudes[magnitudes > 0]
    smallest = float(magnitudes.min()) if magnitudes.size else 1.0
    if not smallest < 1:
        return 0.0
    reach = (len(problem.layers) + 1) * np.log10(smallest)
    if reach > np.log10(np.finfo(dtype).tiny) + _UNDERFLOW_MARGIN:
        return 0.0
    return float(np.finfo(dtype).tiny)


def _stored_eps(problem: Problem) -> float:
    """The machine epsilon of the narrowest float a .npy the problem read stores its numbers
    in (float32, float16): they are within that of the decimals --exact reads from them
    (0.2 stored as 0.20000000298…), so a cell that far from a kink is decided on those
    decimals too.  float64's when there is none narrower."""
    eps = float(np.finfo(np.float64).eps)
    for path in problem.input_files:
        if path.suffix.lower() != ".npy":
            continue
        try:  # the header only: the data is mapped, never read
            stored = np.load(path, mmap_mode="r", allow_pickle=False).dtype
        except (OSError, ValueError):
            continue
        if stored in (np.float32, np.float16):
            eps = max(eps, float(np.finfo(stored).eps))
    return eps


# --------------------------------------------------------------------------- scanning


def _near_kinks_of(spec: LayerSpec):
    return family_of(spec).near_kinks


def _scan(problem: Problem, layers: list, tolerance: float, exact: "_ExactSide",
          as_given: set[str], size_floor: float = 0.0) -> _Settled:
    """Every layer's near kinks on this forward pass: patches where the exact values
    decide otherwise, warnings where they cannot be known.

    The search runs first on cheap upper bounds of the magnitudes (:func:`magnitude_bound`):
    a cell within tolerance·M of a kink is within tolerance of it for any larger M too, and
    every magnitude rule grows with the magnitudes it reads (sums and maxima of sizes), so
    when the bounds show no near kink the magnitudes would not either (the common case)."""
    settled = _Settled()
    if next(_near_kinks(problem, layers, tolerance, magnitude_bound, as_given, size_floor),
            None) is None:
        return settled
    # the kinks of every layer reading one tensor (two pools over it, a pool and a relu)
    # are decided together: a cell one sets to its exact value may tie another's window
    by_source: dict[str, list[tuple[Any, NearKinks]]] = {}
    for layer, found in _near_kinks(problem, layers, tolerance, magnitude, as_given,
                                    size_floor):
        why_not = exact.why_not(layer.spec)
        if why_not is not None:
            # copies of one value tie however it was rounded: nothing to warn of.  (Decided
            # exactly they stay in, so that a patched copy moves its twins with it.)
            found = _without_copied_ties(found)
            if found.count:
                settled.warnings.append(_warning(problem, layer, found, why_not))
            continue
        by_source.setdefault(layer.spec.inputs[found.input], []).append((layer, found))
    for source, kinks in by_source.items():
        _decide(source, kinks, exact, settled)
    return settled


def _near_kinks(problem: Problem, layers: list, tolerance: float, sizes, as_given: set[str],
                size_floor: float = 0.0):
    """(layer, NearKinks) for each layer with kinks within rounding noise, forward order,
    the magnitudes made by ``sizes`` (:func:`magnitude` or :func:`magnitude_bound`); a layer
    reading only ``as_given`` tensors (numbers as given and their unrounded copies) is not
    searched, and a ``size_floor`` above 0 (:func:`_underflow_floor`) is the least magnitude
    of any computed cell and of any nonzero input (a written 0 is exact)."""
    last = max(spec.index for spec in problem.layers if _near_kinks_of(spec))

    def floored(size):
        return np.maximum(size, size_floor) if size_floor else size

    given = np.abs(np.asarray(problem.x, np.float64))
    magnitudes: dict[str, np.ndarray] = {
        INPUT: np.where(given > 0, floored(given), 0.0) if size_floor else given}
    # per cell, which cells hold copies of one value (None: every cell its own value)
    origins: dict[str, np.ndarray | None] = {INPUT: None}
    for layer in layers:
        spec = layer.spec
        if spec.index > last:
            break
        mags = [magnitudes[name] for name in spec.inputs]
        given = set(spec.inputs) <= as_given
        origins[spec.name] = _value_origins(spec, [origins[name] for name in spec.inputs],
                                            layer.inputs)
        finder = _near_kinks_of(spec)
        if finder is not None and not given:
            found = finder(spec, layer.inputs, mags, tolerance, layer.output)
            if found is not None and found.count:
                found.origins = origins[spec.inputs[found.input]]
                yield layer, found
        if spec.index < last:  # no kink below the last one needs its size
            magnitudes[spec.name] = floored(_long_sums(spec, sizes(spec, layer.inputs, mags,
                                                                   layer.output)))


def _long_sums(spec: LayerSpec, size: np.ndarray) -> np.ndarray:
    """A layer's magnitudes ``size``, scaled by (n − 1)/(2·:data:`KINK_ULPS`) when each of
    its cells adds up n terms and that is more than 1: the rounding of a sum of n terms in
    any order is at most (n − 1)·ε/2 of the sum of their sizes, and the noise allowed for a
    cell is KINK_ULPS·ε of its magnitude.  Later layers carry the scaled size on.  (The
    bound is the worst case, a drift of half an ulp at every addition: a float32 conv of
    4,608 terms gets a band of 2.7e-4 of its terms' size, where random terms drift about
    √n·ε/2 = 4e-6.)"""
    rule = family_of(spec).summed_terms
    factor = 1.0 if rule is None else max(1.0, (rule(spec) - 1) / (2 * KINK_ULPS))
    if factor == 1.0:
        return size
    size = np.asarray(size)
    if 0 not in size.strides:
        return size * factor
    return np.broadcast_to(varying_part(size) * factor, size.shape)


def varying_part(a: np.ndarray) -> np.ndarray:
    """``a`` without the axes it is broadcast along (stride 0), kept as length 1: the same
    values broadcast back to ``a``'s shape, in an array that may be far smaller."""
    a = np.asarray(a)
    return a[tuple(slice(0, 1) if stride == 0 and length > 1 else slice(None)
                   for stride, length in zip(a.strides, a.shape))]


def _value_origins(spec: LayerSpec, origins: list, inputs: list) -> np.ndarray | None:
    """Per output cell of a one-input layer that copies cells (an upsample, or an
    activation after one), the id of the value it copies; None where its cells are values
    of their own."""
    rule = family_of(spec).value_origins
    if rule is None or len(inputs) != 1:
        return None
    return rule(spec, origins[0], inputs[0])


def _without_copied_ties(found: NearKinks) -> NearKinks:
    """``found`` without the near ties whose cells are all copies of one value (an upsample
    read by a max pool): bit-for-bit equal, a tie however their value was rounded."""
    if found.kind != "tie" or found.origins is None:
        return found
    ids = found.origins[tuple(found.cells.T)]
    # a window's cells are one run of ``groups``: copies of one value when its ids agree
    first = np.r_[True, found.groups[1:] != found.groups[:-1]]
    starts = np.flatnonzero(first)
    keep = np.minimum.reduceat(ids, starts) != np.maximum.reduceat(ids, starts)
    if keep.all():
        return found
    window = np.cumsum(first) - 1  # each cell's window, counted in order
    cell_keep = keep[window]
    return NearKinks(kind=found.kind, cells=found.cells[cell_keep],
                     groups=(np.cumsum(keep) - 1)[window[cell_keep]],
                     windows=found.windows[keep], input=found.input, origins=found.origins)


def magnitude_bound(spec: LayerSpec, inputs: list, magnitudes: list, output: np.ndarray
                    ) -> np.ndarray:
    """An upper bound on :func:`magnitude` (float64), cheaper where the family gives one
    (``magnitude_bound(spec, inputs, magnitudes, output)``, None when it cannot: a conv's
    per output map); otherwise the magnitude itself."""
    own = family_of(spec).magnitude_bound
    bound = None if own is None else own(spec, inputs, magnitudes, output)
    return magnitude(spec, inputs, magnitudes, output) if bound is None else bound


def magnitude(spec: LayerSpec, inputs: list, magnitudes: list, output: np.ndarray
              ) -> np.ndarray:
    """Per output cell, a bound on the size of the terms that made it (float64).

    A family may say (``magnitude(spec, inputs, magnitudes, output)``: a relu's cut cells
    are exact zeros); otherwise a rational step run on absolute values and absolute
    parameters gives Σ|terms| (a conv's Σ|w|·M + |b|, a pool's or an add's own rule), and
    after a non-rational step without its own rule (sigmoid, tanh, softmax and batch norm
    have one: |y| + the input's noise carried through) the output's own size stands."""
    family = family_of(spec)
    own = family.magnitude
    if own is not None:
        return np.asarray(own(spec, inputs, magnitudes, output), np.float64)
    if not family.rational:
        return np.abs(np.asarray(output, np.float64))
    positive = spec
    for key, value in spec.params.items():
        positive = family.replace_param(positive, key, np.abs(np.asarray(value, np.float64)))
    with np.errstate(all="ignore"):
        return np.abs(np.asarray(family.forward(positive, list(magnitudes)), np.float64))


# --------------------------------------------------------------------------- deciding


def _decide(source: str, kinks: list[tuple[Any, NearKinks]], exact: "_ExactSide",
            settled: _Settled) -> None:
    """Patch the cells of tensor ``source`` where the floats decide one of the near kinks
    of the layers reading it (``kinks``) otherwise than its exact values."""
    values, floats = exact.values(source), kinks[0][0].inputs[kinks[0][1].input]
    every = [(found, k) for _, found in kinks for k in range(found.count)]
    cells_of = [found.kink_cells(k) for found, k in every]
    wrong = [i for i, ((found, _), cells) in enumerate(zip(every, cells_of))
             if not _same_decision(found.kind, [floats[cell] for cell in cells],
                                   [values[cell] for cell in cells])]
    patch = settled.patches.setdefault(source, {}) if wrong else {}
    # a window shares cells with its neighbours (copies of one value by an upsample, a
    # stride below the size, another pool's windows over the same tensor): the cells of
    # every near kink linked to a wrong one are set together, else a cell set to its exact
    # value would break the tie of the next window, which its float copy made, one window a
    # round.  Each linked set is rounded on its own: the order kept between the values of
    # one set is no concern of another's.
    for linked in _linked_sets(cells_of, wrong):
        cells = list(dict.fromkeys(cell for i in linked for cell in cells_of[i]))
        rounded = _round_keeping_order([values[cell] for cell in cells], floats.dtype)
        for cell, value in zip(cells, rounded):
            patch[cell] = value


def _linked_sets(cells_of: list[list[tuple[int, ...]]], wrong: list[int]) -> list[list[int]]:
    """The kinks ``wrong`` (indices into ``cells_of``, each kink's cells), each with every
    kink that shares a cell with it at any remove (windows overlapping in a chain): one list
    per such set, in order."""
    by_cell: dict[tuple[int, ...], list[int]] = {}
    for i, cells in enumerate(cells_of):
        for cell in cells:
            by_cell.setdefault(cell, []).append(i)
    seen: set[int] = set()
    sets = []
    for start in wrong:
        if start in seen:
            continue
        linked, todo = {start}, [start]
        while todo:
            for cell in cells_of[todo.pop()]:
                for i in by_cell[cell]:
                    if i not in linked:
                        linked.add(i)
                        todo.append(i)
        seen |= linked
        sets.append(sorted(linked))
    return sets


def _sign(value) -> int:
    return int(value > 0) - int(value < 0)


def _same_decision(kind: str, floats: list, exacts: list) -> bool:
    """Do the float values take the same side of the kink as the exact ones?"""
    if kind == "zero":
        return _sign(floats[0]) == _sign(exacts[0])
    top_f, top_e = max(floats), max(exacts)
    return [f == top_f for f in floats] == [e == top_e for e in exacts]


def _round_keeping_order(exacts: list, dtype) -> list:
    """Exact values → floats of ``dtype``, nearest, but keeping each one's sign and the
    order between them; equal exact values get one float.  Values closer than a float can
    tell apart are set one ulp apart: of two positive ones the lower is moved down, of two
    negative ones the lower too (away from 0), unless that would leave the finite floats of
    their sign; then the other way (1e-400 and 2e-400, both rounding to 0, get the smallest
    floats in their order, 5e-324 and 1e-323)."""
    kind = np.dtype(dtype).type
    float_of = {0: kind(0)} if 0 in exacts else {}
    for side in (1, -1):
        # this sign's magnitudes, ascending, each at its nearest finite nonzero float
        magnitudes = sorted({abs(e) for e in exacts if _sign(e) == side})
        floats = _increasing_apart([_nearest(m, kind) for m in magnitudes], kind,
                                   lower_moves=side > 0)
        float_of.update((side * m, kind(side) * f) for m, f in zip(magnitudes, floats))
    return [float_of[e] for e in exacts]


def _nearest(magnitude, kind):
    """The float of ``kind`` nearest a positive exact value: inf past the largest (which
    :func:`_increasing_apart` brings back to it)."""
    try:
        with np.errstate(over="ignore"):
            return kind(float(magnitude))
    except OverflowError:  # past float64's largest: float() refuses it
        return kind(np.inf)


def _increasing_apart(nearest: list, kind, lower_moves: bool) -> list:
    """Positive floats ``nearest`` of ascending exact magnitudes (neighbours may be equal
    floats) → strictly increasing positive finite floats, each moved from its nearest one
    only as the order needs: of two equal ones the lower moved down (``lower_moves``) or the
    upper moved up, the other way where that way runs out of floats (below the smallest,
    above the largest)."""
    smallest, largest = np.nextafter(kind(0), kind(1)), np.finfo(kind).max
    out = [min(max(f, smallest), largest) for f in nearest]

    def downward():
        for i in range(len(out) - 2, -1, -1):
            if out[i] >= out[i + 1]:
                out[i] = np.nextafter(out[i + 1], kind(0))

    def upward():
        for i in range(1, len(out)):
            if out[i] <= out[i - 1]:
                out[i] = np.nextafter(out[i - 1], kind(np.inf))

    first, then = (downward, upward) if lower_moves else (upward, downward)
    with np.errstate(over="ignore"):  # a step past the largest float: inf, undone below
        first()
        if out and (out[0] <= 0 or not np.isfinite(out[-1])):
            out[0], out[-1] = max(out[0], smallest), min(out[-1], largest)
            then()
    return out


# --------------------------------------------------------------------------- the exact side


def exact_work(problem: Problem, upto: int) -> int:
    """An upper estimate of the multiply-adds of the exact forward pass through layer
    ``upto``: for each layer, its output cells times its fan-in (its largest parameter
    over its output channels; 1 without parameters), plus its input cells."""
    work = int(np.prod(problem.x.shape))
    for spec in problem.layers[:upto + 1]:
        out = int(np.prod(spec.out_shape))
        channels = spec.out_shape[1] if len(spec.out_shape) > 1 else 1
        largest = max((int(np.size(v)) for v in spec.params.values()), default=1)
        work += out * max(1, largest // max(channels, 1)) + sum(
            int(np.prod(shape)) for shape in spec.in_shapes or (spec.in_shape,))
    return work


class _ExactSide:
    """The exact values of the rational part of the forward pass, computed once, at the
    first kink that needs them."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.outputs: dict[str, np.ndarray] | None = None
        self.failure: str | None = None
        # a layer is rational all the way up when it and everything it reads are
        self.blocker: dict[str, str | None] = {INPUT: None}
        for spec in problem.layers:
            own = None if family_of(spec).rational else spec.name
            upstream = [self.blocker[name] for name in spec.inputs if self.blocker[name]]
            self.blocker[spec.name] = upstream[0] if upstream else own
        kinked = [spec.index for spec in problem.layers
                  if _near_kinks_of(spec) and self._upstream_blocker(spec) is None]
        self.upto = max(kinked, default=-1)
        self.work = exact_work(problem, self.upto) if kinked else 0

    def _upstream_blocker(self, spec: LayerSpec) -> str | None:
        return next((self.blocker[name] for name in spec.inputs if self.blocker[name]), None)

    def why_not(self, spec: LayerSpec) -> str | None:
        """Why the inputs of ``spec`` cannot be known exactly (None: they can)."""
        blocker = self._upstream_blocker(spec)
        if blocker is not None:
            kind = self.problem.layer(blocker).type
            return f"{blocker} ({kind}) before it is not rational"
        if self.work > EXACT_WORK_BUDGET:
            # written in full: just over the limit, 2e+05 against 2e+05 would say nothing
            return (f"the problem is too large for exact arithmetic (about {self.work:,} "
                    f"operations; the limit is {EXACT_WORK_BUDGET:,})")
        if getattr(self.problem, "source", None) is None:
            return "the numbers as written were not kept"
        self._compute()
        return self.failure

    def values(self, name: str) -> np.ndarray:
        self._compute()
        return self.outputs[name]

    def _compute(self) -> None:
        if self.outputs is not None or self.failure is not None:
            return
        from cnngrad.errors import CnnGradError
        from cnngrad.problem import build_problem

        try:
            twin = build_problem(self.problem.source, file=self.problem.file,
                                 base_dir=self.problem.base_dir, exact=True,
                                 max_elements=2**62)
        except CnnGradError as error:  # e.g. a file changed since it was read
            self.failure = f"the numbers as written could not be read again ({error})"
            return
        if not _same_numbers(self.problem, twin):  # a finite-difference run moved one
            self.failure = "its numbers are not the ones written"
            return
        outputs = {INPUT: twin.x}
        for spec in twin.layers[:self.upto + 1]:
            if self.blocker[spec.name] is None:
                outputs[spec.name] = family_of(spec).forward(
                    spec, [outputs[name] for name in spec.inputs])
        self.outputs = outputs


#: The precisions a float problem's numbers may have been stored in: a .npy of float32 or
#: float16 is read as the shortest decimals of its values (0.2, not 0.20000000298…) by
#: --exact, and its kinks are decided on those decimals in float mode too.
_STORED_PRECISIONS = (np.float64, np.float32, np.float16)


def _same_numbers(problem: Problem, twin: Problem) -> bool:
    """Do the float problem's input and parameters round the exact twin's (in float64, or
    each in the float32 or float16 of the file it came from)?"""
    def same(floats, exacts) -> bool:
        floats, exacts = np.asarray(floats), np.asarray(exacts)
        if floats.shape != exacts.shape:
            return False
        wide = exacts.astype(np.float64)
        with np.errstate(over="ignore"):
            return any(bool((floats == wide.astype(stored).astype(floats.dtype)).all())
                       for stored in _STORED_PRECISIONS)

    if not same(problem.x, twin.x):
        return False
    return all(same(spec.params[key], exact_spec.params[key])
               for spec, exact_spec in zip(problem.layers, twin.layers)
               for key in spec.params)


# --------------------------------------------------------------------------- re-running


def _rerun(problem: Problem, patches: dict[str, dict[tuple[int, ...], Any]], dtype) -> list:
    """The float forward pass again, each patched output set to its exact-decided values as
    soon as it is made (so every layer reading it sees them)."""
    from cnngrad.network import LayerTrace, _cast_spec

    def patched(name: str, value: np.ndarray) -> np.ndarray:
        cells = patches.get(name)
        if not cells:
            return value
        value = np.array(value, copy=True)
        for cell, number in cells.items():
            value[cell] = number
        return value

    x = problem.x if dtype is None else problem.x.astype(dtype)
    outputs = {INPUT: patched(INPUT, x)}
    traces = []
    for spec in problem.layers:
        inputs = [outputs[name] for name in spec.inputs]
        y = family_of(spec).forward(_cast_spec(spec, dtype), inputs)
        y = patched(spec.name, y)
        traces.append(LayerTrace(spec=spec, input=inputs[0], output=y, inputs=inputs,
                                 settled=patches.get(spec.name) or None))
        outputs[spec.name] = y
    return traces


# --------------------------------------------------------------------------- warnings


@dataclass(frozen=True)
class KinkWarning:
    """A kink the floats decided within their rounding noise, to be said on stderr: its
    cells kept as display indices, so that the line counts them from 0 or (``--one-based``)
    from 1 as the rest of the report does.  ``str()`` counts from 0."""

    layer: str
    input_name: str  # "input", or "input <name>" for a layer of several inputs
    kind: str  # "zero" (a relu-like input at 0) or "tie" (a window's maxima)
    cells: tuple[tuple[int, ...], ...]  # display indices of the input cells named
    values: tuple[float, ...]
    window: tuple[int, ...] | None  # a tie's window, as a display index of the output
    count: int  # the inputs or windows within rounding noise of a kink in the layer
    why_not: str
    #: of the ``count − 1`` others, how many the floats decided as this one (positive, or
    #: a tie), the rest the other way
    alike: int = 0

    def text(self, one_based: bool = False) -> str:
        def index(cell) -> str:
            return "[" + ",".join(str(i + int(one_based)) for i in cell) + "]"

        if self.kind == "zero":
            value = self.values[0]
            side, other = ("positive", "not positive")[::1 if value > 0 else -1]
            text = (f"{self.layer}: {self.input_name}{index(self.cells[0])} is {value:.2g}, "
                    f"within rounding noise of the kink at 0; decided as {side}")
            what, near = "input", "0"
        else:
            shown = " and ".join(f"{self.input_name}{index(cell)} = {value!r}"
                                 for cell, value in list(zip(self.cells, self.values))[:3])
            if len(self.values) > 3:
                shown += f" and {len(self.values) - 3} more"
            tied = self.values.count(max(self.values))
            side, other = ("a tie", "not tied")[::1 if tied > 1 else -1]
            text = (f"{self.layer}: window output{index(self.window)}: maxima {shown} are "
                    f"within rounding noise of a tie; decided as {side}")
            what, near = "window", "a tie"
        more = self.count - 1
        if more:  # each decided by its own floats: how many as this one, how many not
            split = (f"also decided as {side}" if self.alike == more
                     else f"decided as {other}" if not self.alike
                     else f"{self.alike} decided as {side}, {more - self.alike} as {other}")
            text += (f" ({more} more {what}{'s' if more > 1 else ''} within rounding noise "
                     f"of {near}, {split})")
        return text + f"; not decided exactly: {self.why_not}"

    def __str__(self) -> str:
        return self.text()


def _display(problem: Problem, shape: tuple[int, ...], cell) -> tuple[int, ...]:
    return problem.layout.display_index(tuple(shape), tuple(int(i) for i in cell))


def _warning(problem: Problem, layer, found: NearKinks, why_not: str) -> KinkWarning:
    """One per layer: its first near kink, how the floats decided it, how many more."""
    x = layer.inputs[found.input]
    name = "input" if len(layer.spec.inputs) == 1 else \
        f"input {layer.spec.inputs[found.input]}"
    cells = found.kink_cells(0)  # the input at 0, or every maximum of the window
    if found.kind == "zero":
        cells = cells[:1]
    # how the floats decided each near kink: a positive input; a window of tied maxima
    values = x[tuple(found.cells.T)]
    if found.kind == "zero":
        sides = values > 0
    else:
        top = np.full(found.count, -np.inf)
        np.maximum.at(top, found.groups, values)
        sides = np.bincount(found.groups, weights=values == top[found.groups],
                            minlength=found.count) > 1
    return KinkWarning(
        layer=layer.name, input_name=name, kind="zero" if found.kind == "zero" else "tie",
        cells=tuple(_display(problem, x.shape, cell) for cell in cells),
        values=tuple(float(x[cell]) for cell in cells),
        window=(None if found.kind == "zero"
                else _display(problem, layer.output.shape, tuple(found.windows[0]))),
        count=found.count, why_not=why_not,
        alike=int(np.count_nonzero(sides[1:] == sides[0])))


__all__ = ["EXACT_WORK_BUDGET", "KINK_ULPS", "KinkWarning", "NearKinks", "exact_work",
           "magnitude", "magnitude_bound", "settle_kinks"]
