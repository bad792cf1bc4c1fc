"""Work budgets, checked before the work: a problem that would run for minutes or fill the
memory is refused in milliseconds, with one line saying what is too big and how to go on.

Work is counted in *units* of about a nanosecond each on a current machine: one
multiply-add of a convolution or one window cell of a pooling layer is one unit; the slower
paths weigh more per number (a Fraction operation of ``--exact``, a number written as JSON or
CSV text, a cell of a Rich table).  A run may spend :data:`DEFAULT_MAX_WORK` units (about half
a minute at worst); the environment variable ``CNNGRAD_MAX_WORK`` raises or lowers it
(``CNNGRAD_MAX_WORK=1e12 cnngrad backward big.json``).  A pooling window may also hold at
most :data:`MAX_WINDOW_CELLS` cells (each window cell is a step of the kernels), raised the
same way in proportion.

See docs/limits.md for every limit and how to raise it.
"""

from __future__ import annotations

import math
import os

from cnngrad.errors import ResourceError, UsageError, join_path
from cnngrad.families import family_of

#: Units of work one run may spend unless ``CNNGRAD_MAX_WORK`` says otherwise.
DEFAULT_MAX_WORK = 3 * 10**10
#: Cells of one pooling window (kh × kw) at the default budget.
MAX_WINDOW_CELLS = 10**6
ENVIRONMENT = "CNNGRAD_MAX_WORK"

#: Units per multiply-add in exact rational arithmetic (a Python Fraction operation).
EXACT_WEIGHT = 20_000
#: Units per number written as text (json, csv, latex, markdown).
TEXT_WEIGHT = 5_000
#: Units per cell of a Rich table (--full, --show-steps).
TABLE_WEIGHT = 100_000
#: Units per cell of a --show-steps matrix (built cell by cell, then drawn).
STEPS_WEIGHT = 100_000

#: gradcheck, per energy evaluation: the share of a pass's units (forward and backward, at a
#: unit per multiply-add) that one forward pass costs, batched as the input's copies are;
#: the units per value of every layer's output (stacking, the loss, the branch watch); and
#: the units per layer (a pass of its own for each parameter element: Python's overhead).
GRADCHECK_PASS_SHARE = 0.1
GRADCHECK_VALUE_WEIGHT = 20
GRADCHECK_LAYER_WEIGHT = 40_000
#: gradcheck, once: units per cell it may name as a kink (a relu input at 0, a cell of a tied
#: max-pool window), each a sentence of its own; and the whole passes around the evaluations
#: (the traces, the energy at the point).
GRADCHECK_KINK_WEIGHT = 15_000
GRADCHECK_PASSES = 4

HINT = f"raise the budget with the environment variable {ENVIRONMENT} (now {{budget:.0e}})"


def max_work() -> float:
    """The budget: ``CNNGRAD_MAX_WORK`` if set (a number such as 1e12, or 'inf'), else the
    default."""
    text = os.environ.get(ENVIRONMENT, "").strip()
    if not text:
        return float(DEFAULT_MAX_WORK)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise UsageError(f"must be a positive number such as 1e12, got {text[:40]!r}",
                         where=f"environment variable {ENVIRONMENT}")
    return value


def _prod(shape) -> int:
    return math.prod(int(s) for s in shape)


def layer_work(layer) -> tuple[int, str]:
    """(units of one forward and backward pass through ``layer``, what dominates it): its
    family's estimate (:meth:`cnngrad.families.base.LayerFamily.work`)."""
    return family_of(layer).work(layer)


def _in_size(layer) -> int:
    return sum(_prod(shape or (1,)) for shape in layer.in_shapes or (layer.in_shape,))


def pass_work(problem) -> int:
    """Units of one forward and backward pass through every layer."""
    return sum(layer_work(layer)[0] for layer in problem.layers) + _prod(problem.x.shape)


def _layer_path(layer, key: str | None = None) -> str:
    """The JSON path of a layer's object (``layers[2]``), or of one of its keys
    (``layers[2].size``); the one-conv shorthand's fields are top-level keys, its kernel the
    place of its work."""
    if not layer.where:
        return key or "kernel"
    return join_path(layer.where, key) if key else layer.where


def _refuse(problem, where: str, what: str, hint: str) -> ResourceError:
    return ResourceError(what, where=where, file=problem.file, hint=hint)


def check_problem_work(problem, *, exact: bool = False) -> None:
    """Refuse a problem whose pass alone is beyond the budget, or a pooling window too large
    for the kernels (checked before any layer runs)."""
    budget = max_work()
    hint = HINT.format(budget=budget)
    window_cap = MAX_WINDOW_CELLS * budget / DEFAULT_MAX_WORK
    for layer in problem.layers:
        size = family_of(layer).window(layer)
        if size is not None and _prod(size) > window_cap:
            shape = "×".join(map(str, size)) if len(size) > 1 else f"{size[0]:,}-wide"
            raise _refuse(problem, _layer_path(layer, "size"),
                          f"the {shape} window of {layer.name} holds {_prod(size):,} cells; at "
                          f"most {window_cap:,.0f} at this work budget", hint)
    weight = EXACT_WEIGHT if exact else 1
    for layer in problem.layers:
        work, what = layer_work(layer)
        if work * weight > budget:
            mode = " in exact arithmetic" if exact else ""
            raise _refuse(problem, _layer_path(layer),
                          f"too much work in {layer.name}{mode}: {what} is about "
                          f"{work * weight:.1e} units, beyond the budget of {budget:.0e}",
                          ("drop --exact (floats are ~10,000× faster), or " if exact else "")
                          + hint)
    total = pass_work(problem) * weight
    if total > budget:
        raise _refuse(problem, "kernel" if problem.shorthand else "layers",
                      f"too much work{' in exact arithmetic' * exact}: about {total:.1e} units "
                      f"for the whole network, beyond the budget of {budget:.0e}", hint)


def gradcheck_work(problem, max_evaluations: int) -> tuple[int, int, float, float]:
    """(evaluations, units of each, units named once for the kinks, total units) of a
    gradcheck, from the shapes alone.

    Each evaluation is a forward pass with the problem's energy (one element of the input or
    of a parameter moved by ±ε): :data:`GRADCHECK_PASS_SHARE` of a pass, plus
    :data:`GRADCHECK_VALUE_WEIGHT` per output value and :data:`GRADCHECK_LAYER_WEIGHT` per
    layer.  Once: :data:`GRADCHECK_KINK_WEIGHT` per cell that may sit on a kink (naming each
    one is Python work; every relu input is 0 after a deep zero padding) and
    :data:`GRADCHECK_PASSES` whole passes.  Fitted to measured runs (docs/limits.md)."""
    elements = _prod(problem.x.shape) + sum(
        int(array.size) for layer in problem.layers
        for array in getattr(layer, "params", {}).values() if array is not None)
    evaluations = min(2 * elements, max_evaluations) + 1
    values = sum(_prod(getattr(layer, "out_shape", ()) or (1,)) for layer in problem.layers)
    one_pass = pass_work(problem)
    each = (GRADCHECK_PASS_SHARE * one_pass + GRADCHECK_VALUE_WEIGHT * values
            + GRADCHECK_LAYER_WEIGHT * len(problem.layers))
    kinks = GRADCHECK_KINK_WEIGHT * sum(family_of(layer).kink_cells(layer)
                                        for layer in problem.layers)
    return evaluations, int(each), kinks, evaluations * each + kinks + GRADCHECK_PASSES * one_pass


def check_gradcheck_work(problem, max_evaluations: int) -> None:
    """gradcheck runs a forward pass per evaluation, two per element checked, and names
    every kink: refuse when the estimate (:func:`gradcheck_work`) is beyond the budget."""
    budget = max_work()
    evaluations, each, kinks, work = gradcheck_work(problem, max_evaluations)
    if work > budget:
        named = (f", and naming up to {kinks / GRADCHECK_KINK_WEIGHT:,.0f} kinks (relu inputs "
                 f"at 0, cells of tied max-pool windows)" if kinks > evaluations * each else "")
        raise _refuse(problem, "gradcheck", f"too much work: about {work:.1e} units for "
                                            f"{evaluations:,} forward passes of about "
                                            f"{each:.1e} units each{named}, beyond the budget "
                                            f"of {budget:.0e}",
                      "check a smaller problem (finite differences cost a pass per element), "
                      "or " + HINT.format(budget=budget))


def result_numbers(problem, *, include_backward: bool = True, updated: bool = False,
                   table: bool = False) -> int:
    """How many numbers a result holds, from the shapes alone: known before any work.

    ``--format json`` (and csv, markdown, latex): the loss, each layer's output and, with
    ``include_backward``, its delta_out, delta_in and gradients (and, ``updated`` by --lr,
    its parameters after the step).  A ``table`` of backward draws no outputs and no loss;
    one of forward draws the outputs."""
    numbers = int(not table and problem.loss is not None)  # the loss (null with a delta)
    for layer in problem.layers:
        out = _prod(getattr(layer, "out_shape", ()) or (1,))
        if not (table and include_backward):
            numbers += out
        if include_backward:
            params = sum(int(array.size) for array in getattr(layer, "params", {}).values()
                         if array is not None)
            numbers += out + _in_size(layer) + params * (2 if updated else 1)
    return numbers


def check_output_work(problem, fmt: str, *, full: bool = False,
                      include_backward: bool = True, updated: bool = False) -> None:
    """Writing every number as text (json, csv, latex, markdown) or drawing every cell of a
    table (``--full``) costs far more per number than computing it: refuse a result too big
    to write before computing it."""
    budget = max_work()
    if fmt == "npz" or (fmt == "table" and not full):
        return
    numbers = result_numbers(problem, include_backward=include_backward, updated=updated,
                             table=fmt == "table")
    weight = TABLE_WEIGHT if fmt == "table" else TEXT_WEIGHT
    if numbers * weight > budget:
        # the option that chose the format: --format, or -o's suffix (cli.common.OutputFormat)
        shown = "--full" if fmt == "table" else getattr(fmt, "option", "--format")
        hint = ("drop --full (the tables then show each matrix's corners and its min, max, "
                "mean and norm), or write every number with --format csv -o FILE"
                if fmt == "table" else "--format npz -o result.npz writes any size in seconds")
        raise _refuse(problem, shown, f"the result holds {numbers:,} numbers, too many to "
                                      f"write as {'a table' if fmt == 'table' else fmt} "
                                      f"(about {numbers * weight:.1e} units of work, beyond the "
                                      f"budget of {budget:.0e})",
                      f"{hint}; or {HINT.format(budget=budget)}")


def check_steps_work(problem) -> None:
    """``--show-steps`` builds and draws the textbook's matrices in full (the delta with
    zeros inserted and padded for the full convolution, the padded input): refuse when they
    are too big to draw."""
    budget = max_work()
    cells = sum(family_of(layer).steps_cells(layer) for layer in problem.layers)
    if cells * STEPS_WEIGHT > budget:
        raise _refuse(problem, "--show-steps", f"the steps' matrices hold {cells:,} cells, too "
                                               f"many to draw (about {cells * STEPS_WEIGHT:.1e} "
                                               f"units of work, beyond the budget of "
                                               f"{budget:.0e})",
                      "drop --show-steps (the gradients need none of it), or "
                      + HINT.format(budget=budget))


__all__ = ["DEFAULT_MAX_WORK", "ENVIRONMENT", "MAX_WINDOW_CELLS", "check_gradcheck_work",
           "check_output_work", "check_problem_work", "check_steps_work", "gradcheck_work",
           "layer_work", "max_work", "pass_work", "result_numbers"]


#: The most decimal digits an exact result's numerator or denominator may have.  Python
#: writes an integer of at most 4300 digits (``sys.get_int_max_str_digits``), and explain
#: shows a term as the product of two such values, so each stays within half of that.
MAX_EXACT_DIGITS = 2000


def check_exact_digits(trace, tensors=None) -> None:
    """Refuse an exact result too long to write (checked once the pass has run): of
    ``tensors`` ((path, value) pairs), by default every tensor of the trace.

    Exact arithmetic never overflows, but its fractions grow with every layer: a deep network
    of large or finely divided numbers can reach a numerator of thousands of digits, which no
    report can show.  The first such result, forward order (the loss last), is named.

    Raises
    ------
    ResourceError
        A numerator or denominator of more than :data:`MAX_EXACT_DIGITS` digits.
    """
    from fractions import Fraction

    import numpy as np

    # below 2^max_bits (< 10^2000) every integer fits: the bit length is the quick test, and
    # only a longer one is held against 10^2000 itself (2^6643 has 2000 digits, 2^6644 2001)
    max_bits = int(MAX_EXACT_DIGITS / math.log10(2))
    too_long = 10 ** MAX_EXACT_DIGITS

    def over(whole: int) -> bool:
        return whole.bit_length() > max_bits and abs(whole) >= too_long

    tensors = trace.tensors() if tensors is None else tensors
    for path, value in sorted(tensors, key=lambda item: item[0] == "loss"):
        for number in value.flat if isinstance(value, np.ndarray) else (value,):
            if isinstance(number, Fraction) and (over(number.numerator)
                                                 or over(number.denominator)):
                raise ResourceError(
                    f"the exact result has a fraction of more than {MAX_EXACT_DIGITS} digits",
                    where=path, file=trace.problem.file,
                    hint="drop --exact (floats round to 17 significant digits), or give numbers "
                         "with fewer digits")
