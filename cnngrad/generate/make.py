"""From a recipe and a seed to a checked exercise: draw, run the engine, keep the draw only
when it is hand-friendly, and lay out the problem, its key and its answers template.

A draw is kept when, on the engine's own run (exact arithmetic whenever every layer is
rational): no ReLU input is exactly 0 and every ReLU layer, and each channel of it with a few
cells, has inputs on both sides of it, no max-pool window has tied maxima (unless the recipe
is about them, or ``--with-kinks`` put one in on purpose), every asked value needs at most the
promised decimals (or, for fractions, has a small denominator), no value is huge, no asked
value is all zeros, nor is any filter's, output unit's or channel's part of one, and after a
sigmoid no asked value is tiny.  Draws that fail are thrown away and the next numbers of the same stream
are drawn, so a seed still gives one problem.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import shlex
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from cnngrad.errors import CnnGradError, ProblemError, UsageError, did_you_mean
from cnngrad.generate.draw import Draw
from cnngrad.generate.jsontext import dumps
from cnngrad.generate.numbers import STYLES, Style, decimal_text, decimals_needed
from cnngrad.families import LAYERS, family_of, layer_family, loss_family
from cnngrad.generate.recipes import (FILE_RECIPE, INEXACT_DECIMALS, RECIPES,
                                      RELU_ZERO, TIE, Draft, Recipe,
                                      resolve_options, sparse_delta, tensor)
from cnngrad.network import bias_gradient_always_zero
from cnngrad.tensorio import names_a_file

#: Draws tried before giving up on a recipe, sizes and style that cannot be made friendly.
MAX_ATTEMPTS = 400

#: The draws in which a batch norm's answers must not move with ε left out; past them, as
#: with many values a channel (3 channels of 36: three draws in four moved), any will do,
#: and the sheet's ε = 1e-5 is the whole story.
EPSILON_ATTEMPTS = 100

#: --with-kinks: draws thrown away for a ReLU zero that no bias of the style's decimals
#: reaches, before a bias of more decimals is taken (:func:`_put_relu_zero`).
STRICT_BIAS_ATTEMPTS = 100
#: CPU seconds the draws may take before giving up early: at the largest sizes a draw takes
#: half a second, so 400 hopeless draws took minutes.  Far above what a kept draw takes (a few
#: hundredths of a second for the default sizes, at most about a second measured for any
#: sample or size a seed could be found for), so a seed that gives a problem gives the same.
DRAW_BUDGET_SECONDS = 8.0
#: No value of a generated problem's run is larger than this (in magnitude).
MAX_MAGNITUDE = 100
#: No bias is larger than this (a bias moved to centre a sigmoid could be).
MAX_BIAS = 30
#: After a sigmoid or a batch norm, a nonzero asked value is at least this large, so that its
#: four decimals say something.
MIN_INEXACT = Fraction(1, 1000)
#: A sigmoid or tanh input stays within ±this: beyond it the curve is flat and the gradient
#: vanishes.
MAX_SQUASH_INPUT = 3
#: With ``--numbers fractions``, answers have denominators at most this per factor.
FRACTION_DENOMINATOR = 12
#: Inexact values closer than this (relative) are taken as tied, or as 0.
FLOAT_TIE = 1e-9
#: A channel of a ReLU's input (an output unit of a dense layer) with at least this many
#: cells, over the batch, has inputs on both sides of 0, as the whole layer's have: a channel
#: all below 0 is a dead filter (its gradients 0), one all above a ReLU that never bites.
MIN_CHANNEL_CELLS = 4



@dataclass
class Exercise:
    """A generated problem with everything written from it.

    ``truth`` maps each asked path to its true value (display shape; exact Fractions when
    the problem is rational); ``problem`` is the float problem (as a student's ``cnngrad``
    reads it) and ``trace`` its run, for the sheets.
    """

    recipe: str
    description: str
    seed: int
    style: Style
    options: dict[str, Any]
    with_kinks: bool
    title: str
    document: dict  # the problem as written, grading block included (tensors as arrays)
    asked: dict[str, int]
    min_decimals: int
    inexact: bool
    truth: dict[str, Any]
    problem: Any = None
    trace: Any = None
    attempts: int = 1
    texts: dict[str, str] = field(default_factory=dict)  # file name → content
    #: Decimals the key and the solution sheet write a value to (the answers' own decimals
    #: for an exact problem; for an inexact one at least ``min_decimals``): None, the same as
    #: ``min_decimals``.
    key_decimals: int | None = None
    #: The generator's own decimals promise, when the grading block's ``min_decimals`` came
    #: from the source file and says otherwise (the sheets tell both).
    promised_decimals: int | None = None
    #: What the command tells on stderr: settings of the source's grading block that could
    #: not be kept.
    notes: list[str] = field(default_factory=list)
    #: What the source's kept atol/rtol marks right for an answer of 0 in this draw.
    zero_passes: ZeroPasses | None = None

    def __post_init__(self) -> None:
        if self.key_decimals is None:
            self.key_decimals = self.min_decimals

    @property
    def problem_text(self) -> str:
        return self.texts["problem.json"]


# --------------------------------------------------------------------------- entry point


def _kink_recipes_hint() -> str:
    """``the recipes network, residual, maxpool and maxpool-ties have kinks``: every recipe
    that --with-kinks puts a kink in, or whose point is one."""
    names = [name for name, recipe in RECIPES.items() if recipe.kink is not None
             or recipe.about_kinks]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return f"the recipes {listed} have kinks"


def resolve_recipe(name: str) -> Recipe | None:
    """The named recipe; None when ``name`` is a problem file; a usage error otherwise."""
    if name in RECIPES:
        return RECIPES[name]
    if name.lower().endswith(".csv"):
        # a roster given as the recipe (--students left out): the problem reader's hint, to
        # give --input and --kernel as CSV files, names generate's size options
        raise UsageError("a CSV file is not a recipe", where="RECIPE", file=name,
                         hint="a roster goes to --students: cnngrad generate RECIPE --students "
                              f"{name} -o DIR; a recipe is a name (cnngrad generate --list) or "
                              "a problem file (.json)")
    if name.lower().endswith(".json") or names_a_file(name):
        return None
    if os.path.isdir(name):  # a class's folder, say: not a recipe, and not read as a name
        raise UsageError("a folder is not a recipe", where="RECIPE", file=name,
                         hint="a recipe is a name (cnngrad generate --list) or a problem file "
                              "(.json); to write into a folder, give -o DIR")
    raise UsageError(f"unknown recipe '{name}'", where="RECIPE",
                     hint=did_you_mean(name, tuple(RECIPES)) + "; cnngrad generate --list "
                          "lists them, and a problem file (.json) is a recipe too")


def style_named(name: str | None) -> Style:
    if name is None:
        return STYLES["int"]
    name = name.lower() if name.lower() in STYLES else name  # 2DP is 2dp
    if name not in STYLES:
        raise UsageError(f"unknown number style '{name}'", where="--numbers",
                         hint=did_you_mean(name, tuple(STYLES)))
    return STYLES[name]


def generate(recipe_name: str, seed: int, *, numbers: str | None = None,  # noqa: C901
             with_kinks: bool = False, sizes: dict[str, Any] | None = None,
             title: str | None = None, quiet_title: bool = False) -> Exercise:
    """Draw the exercise of ``recipe_name`` (a recipe or a problem file) for ``seed``.

    Parameters
    ----------
    recipe_name : str
        A name from :data:`~cnngrad.generate.recipes.RECIPES`, or a problem file.
    seed : int
        0 ≤ seed < 2⁶⁴: the same seed and options give the same bytes.
    numbers : str, optional
        A number style of :data:`~cnngrad.generate.numbers.STYLES` (default ``int``).
    with_kinks : bool
        Put a ReLU input of 0 or tied maxima in on purpose.
    sizes : dict, optional
        Size options (``input``, ``kernel``, ``stride``, ...), None for the default.
    title : str, optional
        The problem's title (default: the recipe and the command that makes it again).
    quiet_title : bool
        A title without the seed (a class variant: the seed would give its key away).

    Raises
    ------
    UsageError
        An unknown recipe or style, an option the recipe does not take, sizes that make no
        valid layer, a layer this build does not support, or no hand-friendly draw.
    """
    recipe = resolve_recipe(recipe_name)
    if recipe is None:
        if sizes and any(v is not None for v in sizes.values()):
            given = next(k for k, v in sizes.items() if v is not None)
            # --ties and --bias are no size: what the file says of them is a layer's field
            field = {"ties": ("its max pools' tie rules", "a maxpool layer's \"ties\""),
                     "bias": ("its convs' biases", "a conv layer's \"bias\"")}.get(given)
            what, edit = field or ("its own sizes", "the file's shapes")
            raise UsageError(f"a problem file keeps {what}", where=f"--{given}",
                             hint=f"edit {edit}, or use a recipe (cnngrad generate --list) "
                                  f"that takes --{given}")
        recipe, options = _file_recipe(recipe_name), {}
    else:
        options = resolve_options(recipe, sizes or {})
    # --numbers "" (a variable left unset) is refused as a style, not read as the default
    style = style_named(recipe.default_numbers if numbers is None else numbers)
    if recipe.name not in RECIPES:
        recipe.check_style(style)
    elif not recipe.inexact and not style.exact_fractions:
        # the sizes decide it (--pool 3: every cell gets δ/9): a draft drawn aside, from a
        # draw of its own, so that the seed's problem stays the one it always was
        probe = recipe.build(Draw(seed), style, options, False)
        _refuse_endless(_endless_division(_load(probe.document, style, True)), style,
                        ", or sizes whose averages count 2^a·5^b cells (--pool 2 or 4)")
    # a recipe about its kink (maxpool-ties) has it in every draw: --with-kinks adds nothing,
    # and the title's command is the one without it
    with_kinks = with_kinks and not recipe.about_kinks
    if with_kinks and recipe.kink is None:
        what, hint = recipe.no_kink or (
            f"recipe '{recipe.name}' has no ReLU and no max pool, so there is no kink to put "
            f"in", _kink_recipes_hint())
        raise UsageError(what, where="--with-kinks", hint=hint)
    draw = Draw(seed)
    exact = not recipe.inexact
    promise = _promised_decimals(recipe, style, options)
    failures: Counter[str] = Counter()
    units: dict[str, dict[str, list[np.ndarray]]] = {}  # the draws' shapes are the same
    started = time.process_time()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        spent = time.process_time() - started
        if attempt > 1 and spent > DRAW_BUDGET_SECONDS:
            raise _no_friendly_draw(recipe, style, failures, attempt - 1, spent, with_kinks)
        draft = recipe.build(draw, style, options, with_kinks)
        failure = None
        if with_kinks and recipe.kink == RELU_ZERO:
            failure = _put_relu_zero(draft, draw, style,
                                     strict=attempt <= STRICT_BIAS_ATTEMPTS)
        failure = failure or (recipe.inexact
                              and _centre_squashes(draft, draw, style, recipe, with_kinks))
        if failure:
            failures[failure] += 1
            continue  # its first run already showed a kink
        problem, trace = _run(draft.document, style, exact, recipe)
        bare = attempt <= EPSILON_ATTEMPTS
        failure = _unfriendly(trace, draft, recipe, style, promise, with_kinks, units, bare)
        if failure is not None and not with_kinks and _straddle_channels(draft, trace, draw,
                                                                         style):
            problem, trace = _run(draft.document, style, exact, recipe)
            failure = _unfriendly(trace, draft, recipe, style, promise, with_kinks, units,
                                  bare)
        if failure is None:
            break
        failures[failure] += 1
    else:
        raise _no_friendly_draw(recipe, style, failures, MAX_ATTEMPTS, None, with_kinks)
    min_decimals = INEXACT_DECIMALS if recipe.inexact or style.exact_fractions else promise
    if title is None:
        title = _title(recipe, seed, style, options, with_kinks, quiet_title)
    truth = {path: asked_value(trace, path) for path in draft.asked}
    grading, decimals = _grading_block(recipe.kept_grading, draft.asked, min_decimals)
    raised = []
    if decimals == 0 < min_decimals and "min_decimals" in grading:
        # 0 takes every answer rounded to a whole number: kept from numbers that came out
        # whole (a generated block), it would pass wrong answers to the fresh ones
        grading["min_decimals"] = decimals = min_decimals
        raised.append(f"grading.min_decimals 0 is raised to {min_decimals}: the fresh "
                      f"answers are not whole numbers, and 0 would take any of them "
                      f"rounded to one")
    zero_passes = ZeroPasses.of(grading, truth)
    key_decimals = min_decimals
    if recipe.inexact:  # rounded: to the decimals required, and as close as the rule asks
        key_decimals = _key_decimals(truth, max(decimals, INEXACT_DECIMALS),
                                     recipe.kept_grading or {})
    exercise = Exercise(recipe=recipe.name, description=recipe.described(with_kinks, options),
                        seed=seed,
                        style=style, options=options, with_kinks=with_kinks, title=title,
                        document={}, asked=draft.asked, min_decimals=decimals,
                        inexact=recipe.inexact, truth=truth, attempts=attempt,
                        key_decimals=key_decimals,
                        promised_decimals=min_decimals if decimals != min_decimals else None,
                        notes=list(recipe.notes) + raised, zero_passes=zero_passes)
    exercise.document = {"title": title, **draft.document, "grading": grading}
    exercise.texts["problem.json"] = dumps(exercise.document, style)
    exercise.texts["key.json"] = dumps(_key(exercise), style)
    exercise.texts["answers-template.json"] = dumps(
        {path: _blank(value) for path, value in truth.items()
         if not _covered(path, truth)}, style)
    return exercise


def with_sheets(exercise: Exercise, exam: bool = False) -> Exercise:
    """Add the exercise and solution sheets (Markdown and LaTeX) to ``exercise.texts``.

    Parameters
    ----------
    exercise : Exercise
        A generated exercise.
    exam : bool
        A class's variant: the exercise sheet asks for the answers to be handed in, and does
        not tell how to check them (``cnngrad check`` against the problem prints every true
        value).
    """
    from cnngrad.generate.sheets import sheets

    exercise.problem, exercise.trace = _float_run(exercise)
    exercise.texts.update(sheets(exercise, exam=exam))
    return exercise


# --------------------------------------------------------------------------- running


def _load(document: dict, style: Style, exact: bool, file: str = "problem.json"):
    from cnngrad.problem import build_problem
    from cnngrad.tensorio import load_json_document

    text = dumps(document, style)
    return build_problem(load_json_document(text.encode(), file), file=file,
                         base_dir=Path("."), exact=exact)


def _is(kind: Any, trait: str) -> bool:
    """Whether the family of a document's layer type has a trait (``squashes``); False for
    a type this build does not know."""
    return isinstance(kind, str) and kind in LAYERS and bool(getattr(layer_family(kind), trait))


def _run(document: dict, style: Style, exact: bool, recipe: Recipe):
    from cnngrad.network import run

    problem = _load(document, style, exact)
    with np.errstate(all="ignore"):
        return problem, run(problem)


def _float_run(exercise: Exercise):
    """The problem as a student's cnngrad reads it (float64; exact for fractions) and its
    run: the sheets show its numbers as decimals."""
    from cnngrad.network import run
    from cnngrad.problem import build_problem
    from cnngrad.tensorio import load_json_document

    document = {k: v for k, v in exercise.document.items() if k != "grading"}
    parsed = load_json_document(dumps(document, exercise.style).encode(), "problem.json")
    exact = exercise.style.exact_fractions and not exercise.inexact
    problem = build_problem(parsed, file="problem.json", base_dir=Path("."), exact=exact)
    with np.errstate(all="ignore"):
        return problem, run(problem)


# --------------------------------------------------------------------------- friendliness


def _promised_decimals(recipe: Recipe, style: Style, options: dict) -> int:
    """Decimals every answer of an exact recipe needs at most (0 for int answers)."""
    if style.exact_fractions:
        return 0
    # of the tie rules only split divides a δ (maxpool-ties' extra decimal, its halves)
    extra = recipe.extra_decimals_for(options) if options.get("ties") in (None, "split") else 0
    return recipe.factors * style.decimals + extra


def _values(value) -> list:
    if isinstance(value, np.ndarray):
        return list(value.flat)
    return [value]


def _unfriendly(trace, draft: Draft, recipe: Recipe, style: Style, promise: int,
                with_kinks: bool, units: dict | None = None,
                bare_epsilon: bool = True) -> str | None:
    """Why the draw is not hand-friendly (a few words naming the layer or path), or None.

    ``units`` caches each layer's :func:`_unit_cells` across the draws of one problem (their
    shapes are the same); ``bare_epsilon``: a batch norm's answers must not move with ε
    left out (:func:`_epsilon_shows`)."""
    return _kinks_unwanted(trace, recipe, with_kinks) or _sizes_unfriendly(trace) or \
        _answers_unfriendly(trace, draft, recipe, style, promise) or \
        _units_unfriendly(trace, draft, recipe, {} if units is None else units) or \
        (_epsilon_shows(trace, draft, style, recipe) if bare_epsilon else None)


def _epsilon_shows(trace, draft: Draft, style: Style, recipe: Recipe) -> str | None:
    """Whether a ``bare_epsilon`` recipe's default ε (1e-5) moves an asked value at the
    decimals the key gives (:data:`INEXACT_DECIMALS`): a student who leaves it out of
    √(σ² + ε), as textbook exercises do, would round otherwise (−2.5773 against −2.5774)."""
    if not recipe.bare_epsilon:
        # a problem file's deeper network (a ResNet block) moves its fourth decimals with ε
        # in most draws: rejecting them took 3-5 times the draws, and its sheet states ε
        return None

    def default_epsilon(layer) -> bool:  # a batch norm with cnngrad's ε, 1e-5
        return (isinstance(layer, dict) and _is(layer.get("type"), "normalises_channels")
                and "eps" not in layer)

    layers = draft.document.get("layers")
    if not isinstance(layers, list) or not any(map(default_epsilon, layers)):
        return None
    without = dict(draft.document)
    without["layers"] = [dict(layer, eps=0) if default_epsilon(layer) else layer
                         for layer in layers]
    try:
        _, other = _run(without, style, False, recipe)
    except CnnGradError:  # a channel of one value: its variance 0, nothing to compare
        return None
    def keyed(run, path) -> list[str]:  # as the key writes them (_key_token)
        return [decimal_text(Fraction(float(v)), INEXACT_DECIMALS)
                for v in _values(asked_value(run, path))]

    for path in draft.asked:
        if keyed(trace, path) != keyed(other, path):
            return f"{path} at {INEXACT_DECIMALS} decimals depended on ε"
    return None


#: How a failure of a ReLU reading the problem's input, directly or through layers without
#: weights (a pool, an upsample), ends: no draw can pass it, since drawn inputs are never
#: below 0 (``_no_draw_hint`` says what to change instead).
READS_DRAWN_INPUT = ", and drawn inputs are never below 0)"


def _kinks_unwanted(trace, recipe: Recipe, with_kinks: bool) -> str | None:
    """No ReLU input at 0 and no tied maxima, unless they are wanted (then at least one);
    every ReLU has inputs on both sides of 0 (a ReLU of one input, which cannot: above 0, so
    that it passes the gradient back), and so has each of its channels of
    :data:`MIN_CHANNEL_CELLS` or more cells."""
    from cnngrad.problem import INPUT

    relu_zeros = ties = live_ties = 0
    relus: dict[str, str] = {}  # name → type, as the file writes it (relu, leaky_relu)
    # for each layer fed by the drawn input through layers without weights or a batch norm
    # (which alone move values below 0), those layers: its values are never below 0 either
    unweighted: dict[str, list[str]] = {INPUT: []}
    for layer in trace.layers:
        family = family_of(layer.spec)
        if (all(name in unweighted for name in layer.spec.inputs)
                and not (family.weighted or family.normalises_channels)):
            unweighted[layer.name] = list(dict.fromkeys(
                [name for source in layer.spec.inputs for name in unweighted[source]]
                + [layer.name]))
        if family.kink_at_zero:
            relus[layer.name] = layer.spec.type
            cells = _values(layer.input)
            zeros, positive = _count_zeros(cells)
            relu_zeros += zeros
            if len(cells) == 1:
                if not positive and not zeros:  # off: no gradient passes back through it
                    return f"the input of {layer.name} was below 0"
            elif not positive or positive + zeros == len(cells):
                # all off, or a relu that never bites
                return (f"the inputs of {layer.name} were all on one side of 0"
                        + _drawn_input_words(unweighted.get(layer.spec.inputs[0])))
            else:
                channel = _one_sided_channel(layer.input)
                if channel is not None:  # a dead filter, or one whose ReLU never bites
                    return (f"the inputs of {layer.name} in one channel were all on one side "
                            f"of 0")
        elif family.takes_maxima:
            ties += tied_windows(layer)
            if with_kinks:
                # after a ReLU, a window whose maximum is 0 is all ReLU zeros: whichever
                # takes δ, the ReLU passes none back, so the tie changes no answer
                live_ties += tied_windows(layer, nonzero=layer.spec.inputs[0] in relus)
    wanted_relu = with_kinks and recipe.kink == RELU_ZERO
    wanted_ties = recipe.about_kinks or (with_kinks and recipe.kink == TIE)
    if bool(relu_zeros) != wanted_relu:
        # named by the types the file writes (a leaky_relu network was told of a "ReLU"),
        # all of them: one reason per network, whichever layer's input it was, is counted
        # as one over the draws
        types = " or ".join(dict.fromkeys(relus.values())) or "ReLU"  # (none in the network)
        return f"a {types} input was 0" if relu_zeros else f"no {types} input was 0"
    if bool(ties) != wanted_ties:
        return "a max pool had tied maxima" if ties else "no max pool had tied maxima"
    if with_kinks and wanted_ties and live_ties < ties:
        return "a max pool's tied maxima were ReLU zeros"
    return None


def _drawn_input_words(between: list[str] | None) -> str:
    """What a ReLU's failure adds when it reads the problem's input through ``between``
    (layers without weights; [] directly), ending in :data:`READS_DRAWN_INPUT`; "" when
    it reads something else (None)."""
    if between is None:
        return ""
    through = f" through {', '.join(between)}" if between else ""
    return f" (it reads the problem's input{through}{READS_DRAWN_INPUT}"


def _one_sided_channel(x) -> int | None:
    """The first channel (axis 1 of the internal layout: a map's channel, a dense layer's
    output unit) of a ReLU's input whose cells, over the batch, are all on one side of 0 (or
    at it); None when each has both, or when there is one channel (the layer's own rule) or
    fewer than :data:`MIN_CHANNEL_CELLS` cells in each (two outputs of one dense unit may
    well both be above 0)."""
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[1] < 2 or x.size // x.shape[1] < MIN_CHANNEL_CELLS:
        return None
    for channel in range(x.shape[1]):
        if _one_sided(list(x[:, channel].flat)):
            return channel
    return None


def _one_sided(cells: list) -> bool:
    """Whether no cell is below 0, or none above (a cell at 0 is neither)."""
    zeros, positive = _count_zeros(cells)
    return not positive or positive + zeros == len(cells)


def _straddle_channels(draft: Draft, trace, draw: Draw, style: Style) -> bool:
    """Move the bias of each filter (or dense output) whose ReLU inputs were all on one side
    of 0, so that they are on both sides; whether any was moved (the draft is then run and
    judged again).

    Only where :func:`_one_sided_channel` holds the channel to it (two or more channels,
    :data:`MIN_CHANNEL_CELLS` cells each) and the ReLU reads a conv, transposed conv or dense
    layer with a bias of one number per channel: a channel's inputs all move with its bias.
    The new bias is the old one less a number of the style (a whole number, a tenth, a
    hundredth, a half) drawn strictly between the channel's least and greatest input and equal
    to none of them, so that no input lands on 0; a channel whose inputs are too close
    together for one is left (the draw is thrown away).  A problem of one channel (every
    recipe's) is never moved: a seed gives the problem it always gave."""
    layers = draft.document.get("layers")
    if not isinstance(layers, list):
        return False
    scale = 2 if style.exact_fractions else style.scale
    by_name = {layer.name: layer for layer in trace.layers}
    moved = False
    for layer in trace.layers:
        if not family_of(layer.spec).kink_at_zero:
            continue
        source = by_name.get(layer.spec.inputs[0])
        if source is None or not family_of(source.spec).weighted:
            continue
        x = np.asarray(layer.input)
        bias = layers[source.index].get("bias")
        if not isinstance(bias, np.ndarray) or bias.shape != x.shape[1:2]:
            continue
        if _one_sided_channel(x) is None:
            continue
        for channel in range(x.shape[1]):
            cells = list(x[:, channel].flat)
            if not _one_sided(cells):
                continue
            values = [Fraction(v) if not isinstance(v, (float, np.floating)) else
                      Fraction(float(v)) for v in cells]
            near = FLOAT_TIE * max(abs(float(v)) for v in cells)  # 0 for exact values
            low = min(values) * scale // 1 + 1  # the style's numbers strictly inside
            high = -(-max(values) * scale // 1) - 1
            shifts = [Fraction(k, scale) for k in range(int(low), int(high) + 1)]
            shifts = [shift for shift in shifts
                      if all(abs(shift - v) > near for v in values)
                      and abs(Fraction(bias[channel]) - shift) <= MAX_BIAS]
            if not shifts:
                return moved
            bias = bias.copy()
            bias[channel] = Fraction(bias[channel]) - draw.pick(shifts)
            layers[source.index]["bias"] = bias
            moved = True
    return moved


def _sizes_unfriendly(trace) -> str | None:
    """No huge value, no huge bias, no flat sigmoid."""
    for layer in trace.layers:
        if family_of(layer.spec).squashes:
            if any(abs(float(v)) > MAX_SQUASH_INPUT for v in _values(layer.input)):
                return f"an input of {layer.name} was beyond ±{MAX_SQUASH_INPUT}"
        if any(abs(float(v)) > MAX_MAGNITUDE for v in _values(layer.output)):
            return f"an output of {layer.name} was beyond ±{MAX_MAGNITUDE}"
        bias = layer.spec.params.get("bias")
        if bias is not None and any(abs(float(v)) > MAX_BIAS for v in _values(bias)):
            return f"the bias of {layer.name} was beyond ±{MAX_BIAS}"
    return None


def _answers_unfriendly(trace, draft: Draft, recipe: Recipe, style: Style,
                        promise: int) -> str | None:
    """Every asked value: not all zeros, not huge, exact at the promised decimals (a small
    denominator for fractions), or, when inexact, not tiny."""
    limit = FRACTION_DENOMINATOR ** (recipe.factors + recipe.extra_decimals)
    for path in draft.asked:
        cells = _values(asked_value(trace, path))
        if all(v == 0 for v in cells):
            if path in recipe.always_zero:
                continue  # asked by the source file: no draw could make it nonzero
            return f"{path} was all 0"
        for value in cells:
            if abs(float(value)) > MAX_MAGNITUDE:
                return f"{path} had a value beyond ±{MAX_MAGNITUDE}"
            if recipe.inexact:
                if value != 0 and abs(Fraction(float(value))) < MIN_INEXACT:
                    return f"{path} had a value nearer 0 than {float(MIN_INEXACT)} but not 0"
            elif style.exact_fractions:
                if Fraction(value).denominator > limit:
                    return f"{path} had a denominator above {limit}"
            else:
                needed = decimals_needed(Fraction(value))
                if needed is None or needed > promise:
                    return f"{path} needed more than {promise} decimals"
    return None


def _units_unfriendly(trace, draft: Draft, recipe: Recipe,
                      units: dict[str, dict[str, list[np.ndarray]]]) -> str | None:
    """Every filter, output unit or channel of an asked tensor has a nonzero value: each
    filter's part of a kernel's gradient, each output's row of a dense layer's weights
    gradient, each cell of a bias, γ or β gradient (one per channel), each channel of an
    asked output or input delta.  A filter whose every output a ReLU cuts off has a gradient
    of 0 however its δ is scaled: a student who forgot to divide by the batch would still
    earn those cells.  (A grading block's paths that no draw can make nonzero, and its
    elements, are not held to it.)"""
    layers = {layer.name: layer for layer in trace.layers}
    for path in draft.asked:
        if path in recipe.always_zero or "[" in path:
            continue
        name, _, rest = path.partition(".")
        layer = layers.get(name)
        if layer is None:
            continue
        if rest.startswith("grads."):
            key = rest[len("grads."):]
            if key not in layer.grads:
                continue
            if name not in units:
                units[name] = _unit_cells(layer)
            grad = np.asarray(layer.grads[key])
            cells = units[name].get(key, [])
            if len(cells) > 1:
                for mask in cells:
                    if mask.any() and not any(v != 0 for v in grad[mask].flat):
                        return f"{path} was 0 for one {_unit_noun(layer)} of {name}"
        elif rest in ("output", "delta_in"):
            value = layer.output if rest == "output" else layer.delta_in
            if isinstance(value, np.ndarray) and value.ndim >= 2 and value.shape[1] > 1:
                for channel in range(value.shape[1]):
                    if all(v == 0 for v in value[:, channel].flat):
                        return f"{path} was 0 in one channel"
    return None


def _unit_noun(layer) -> str:
    """What one output channel of a layer is called: a dense layer's ``output unit``, a
    conv's ``filter``, a batch norm's ``channel``."""
    if family_of(layer.spec).reads_vectors:
        return "output unit"
    return "filter" if family_of(layer.spec).weighted else "channel"


def _unit_cells(layer) -> dict[str, list[np.ndarray]]:
    """For each parameter of a layer, which of its cells belong to each output channel (a
    filter, a dense layer's output unit), as boolean masks shaped as the parameter is given.

    Found from the family's own backward pass (so layouts, groups and a transposed conv's
    kernel order need no rule here): on made-up positive inputs, with a δ that is nonzero in
    one output channel only, the cells whose gradient is nonzero are that channel's.  The
    numbers are the same for every draw and never written, so numpy's own generator is fine
    here."""
    family = family_of(layer.spec)
    spec = family.cast(layer.spec, np.float64)
    made_up = np.random.default_rng(0)
    inputs = [made_up.uniform(1, 2, np.shape(x)) for x in layer.inputs]
    with np.errstate(all="ignore"):
        output = family.forward(spec, inputs)
        cells: dict[str, list[np.ndarray]] = {key: [] for key in layer.grads}
        for channel in range(output.shape[1] if output.ndim >= 2 else 0):
            delta = np.zeros(output.shape)
            delta[:, channel] = made_up.uniform(1, 2, delta[:, channel].shape)
            _, grads = family.backward(spec, inputs, output, delta)
            for key in cells:
                cells[key].append(np.asarray(grads[key], dtype=np.float64) != 0)
    return cells


def _no_friendly_draw(recipe: Recipe, style: Style, failures: Counter, draws: int,
                      spent: float | None, with_kinks: bool = False) -> UsageError:
    """The error when every draw failed: what failed most often, and what the user can
    change (a problem file keeps its sizes: only the style and the seed are left).

    ``spent`` is the CPU time of the draws when they stopped at :data:`DRAW_BUDGET_SECONDS`
    before :data:`MAX_ATTEMPTS` (None: all of them were drawn)."""
    reason, count = failures.most_common(1)[0]
    stopped = "" if spent is None else (
        f" (stopped after {spent:.1f} s of CPU time, the most the draws may take)")
    decimals = _decimals_failure(failures, style)
    often = f"most often: {reason}, in {count}"
    if decimals and decimals[0] == reason:  # the reason given already: only why, beside it
        often += f": {decimals[1]}"
    what = (f"no hand-friendly {recipe.name} problem in {draws} draws with --numbers "
            f"{style.name}{stopped} ({often})")
    if decimals and decimals[0] != reason:
        loss_reason, why, promise = decimals
        what += (f"; the loss needed more than {promise} decimals in {failures[loss_reason]} "
                 f"({why})")
    file = recipe.name not in RECIPES
    hint = _no_draw_hint(reason, style, file, decimals)
    if not file and not decimals and count == draws and reason.endswith(" was all 0"):
        # the same in every draw: the sizes decide it, whatever the numbers drawn
        why = (" (--with-kinks sets a ReLU input to 0, and with so few cells that zeroes the "
               "gradient)" if with_kinks else "")
        hint = ("it was so in every draw: at these sizes no --seed or --numbers style will "
                "change it, so give a larger --input" + why)
    return UsageError(what, where="RECIPE", hint=hint)


#: The reason :func:`_answers_unfriendly` gives for a value with more decimals than promised.
_DECIMALS_REASON = re.compile(r"(?P<path>\S+) needed more than (?P<promise>\d+) decimals$")


def _decimals_failure(failures: Counter, style: Style) -> tuple[str, str, str] | None:
    """Why the answers of the draws needed more decimals than the style promises, when the
    loss did: an MSE loss squares the network's output, so it needs twice the output's
    decimals (and a half or a mean adds more), beyond what the promise counts.  (The failure
    reason, why, the decimals promised); None when no draw failed so."""
    for reason, _ in failures.most_common():
        match = _DECIMALS_REASON.match(reason)
        if match and match["path"] == "loss":
            return (reason, f"a squared error has up to twice the decimals of the output it "
                            f"squares, which the {match['promise']} promised by --numbers "
                            f"{style.name} do not count", match["promise"])
    return None


def _no_draw_hint(reason: str, style: Style, file: bool,
                  decimals: tuple[str, str, str] | None) -> str:
    """What to change, for the reason the draws failed most often."""
    if decimals:
        # whole numbers square to whole numbers; fractions are held to a denominator instead
        change = ("use --numbers int or fractions (exact whatever the decimals), or another "
                  "--seed") if style.name != "int" else \
            "use --numbers fractions (exact whatever the decimals), or another --seed"
    elif "beyond ±" in reason:
        change = "give smaller sizes (the larger the input and kernel, the more products a " \
            "value sums)" if not file else "try another --seed"
        if style.name == "int":
            change += ", or --numbers 1dp or 2dp (smaller numbers)"
    elif reason.endswith(READS_DRAWN_INPUT):
        # no style or seed draws a negative input: the file itself must change
        relu = re.match(r"the inputs of (\S+)", reason)[1]
        return (f"put a conv or dense layer before {relu} in the file; no --numbers "
                f"style or --seed draws an input below 0")
    elif re.fullmatch(r"a [\w ]+ input was 0", reason) and style.name == "int":
        change = ("use --numbers 1dp or 2dp (of many ReLU inputs made of whole numbers, some "
                  "land on 0)" + ("" if file else ", or a smaller --input"))
    elif not file:
        return "try other sizes, another --numbers style or another --seed"
    else:
        change = "try another --numbers style or --seed"
    if file:
        change += ("; a problem file keeps its own sizes and layers, so to change them edit "
                   "the file")
    return change


def _count_zeros(cells: list) -> tuple[int, int]:
    """(cells at 0, cells above 0); an inexact value within rounding of 0 counts as 0."""
    scale = max((abs(float(v)) for v in cells), default=0.0)
    zeros = positive = 0
    for value in cells:
        if isinstance(value, (float, np.floating)) and abs(value) <= FLOAT_TIE * scale:
            zeros += 1
        elif value == 0:
            zeros += 1
        elif value > 0:
            positive += 1
    return zeros, positive


def tied_windows(layer, nonzero: bool = False) -> int:
    """How many windows of a max-pool layer (2-D, or 1-D as one row) have tied maxima
    (padding never wins); with ``nonzero``, only those whose maximum is not 0."""
    if layer.input.ndim == 3:  # maxpool1d: (N, C, L), its windows one row of a 2-D pool's
        from cnngrad.families.pool1d import row_view

        layer = row_view(layer)
    spec, x = layer.spec, layer.input
    (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
    n, c, h, w = x.shape
    h_out, w_out = spec.out_shape[2:]
    count = 0
    for image in range(n):
        for channel in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    cells = [x[image, channel, r, q]
                             for r in range(i * sh - ph, i * sh - ph + kh) if 0 <= r < h
                             for q in range(j * sw - pw, j * sw - pw + kw) if 0 <= q < w]
                    top = max(cells)
                    if isinstance(top, (float, np.floating)):
                        tol = FLOAT_TIE * max(1.0, abs(top))
                        if nonzero and abs(top) <= tol:
                            continue
                        winners = sum(1 for v in cells if abs(v - top) <= tol)
                    else:
                        if nonzero and top == 0:
                            continue
                        winners = sum(1 for v in cells if v == top)
                    count += winners > 1
    return count


def _put_relu_zero(draft: Draft, draw: Draw, style: Style, strict: bool) -> str | None:
    """Move the bias of the layer that the first ReLU able to take a kink reads (see
    :func:`_relu_zero_site`) so that one of the ReLU's inputs, drawn at random, is exactly 0.

    A bias of one number moves every input of the ReLU; a bias per channel (a conv's per
    filter, a dense layer's per output) moves the drawn cell's channel, in every image of a
    batch and every position of its map.  The cell is drawn among those whose moved bias is
    still written in the style's decimals (a sum of products of one-decimal numbers has two:
    most cells' would not be).  Where no cell's is (a small map), a ``strict`` draft is
    thrown away (the reason returned); past :data:`STRICT_BIAS_ATTEMPTS` draws the cell is
    drawn among all of them, a bias of more decimals than the style's rather than no
    problem at all."""
    problem = _load(draft.document, style, True)
    site = _relu_zero_site(problem)
    assert not isinstance(site, str), site  # a recipe with kink RELU_ZERO has a site
    _, source = site
    values = _exact_output(problem, source)  # internal layout: the channel is axis 1
    layer = draft.document["layers"][source.index]
    bias = layer["bias"]
    per_channel = isinstance(bias, np.ndarray) and bias.size > 1
    if isinstance(bias, np.ndarray) and not per_channel:
        bias = bias.flat[0]

    def moved(index: int) -> Fraction:
        own = bias[np.unravel_index(index, values.shape)[1]] if per_channel else bias
        return Fraction(own) - Fraction(values.flat[index])

    cells = [index for index in range(values.size) if style.writes(moved(index))]
    if not cells and strict:
        return (f"no input of {site[0].name} could be put at exactly 0 by a bias of "
                f"--numbers {style.name}")
    cells = cells or list(range(values.size))
    index = cells[draw.below(len(cells))]
    if per_channel:
        layer["bias"] = layer["bias"].copy()
        layer["bias"][np.unravel_index(index, values.shape)[1]] = moved(index)
    elif isinstance(layer["bias"], np.ndarray):
        layer["bias"] = layer["bias"].copy()
        layer["bias"].flat[0] = moved(index)
    else:
        layer["bias"] = moved(index)
    return None


def _relu_zero_site(problem) -> tuple[Any, Any] | str:
    """The first ReLU whose input can be made exactly 0, and the layer it reads, whose bias
    moves it there: a conv or dense layer with a bias, after rational layers only (after a
    batch norm, a sigmoid or a softmax no written number lands exactly on 0).  When no ReLU
    has one: why, ReLU by ReLU."""
    from cnngrad.problem import INPUT

    why = []
    for spec in problem.layers:
        if not family_of(spec).kink_at_zero:
            continue
        source_name = spec.inputs[0]
        if source_name == INPUT:
            why.append(f"{spec.name} reads the input")
            continue
        readers = problem.readers(spec.name)
        if family_of(spec).cuts_to_zero and readers and all(family_of(layer).takes_maxima
                                                            for layer in readers):
            # a pool takes a 0 only from a window of ReLU zeros, none of which passes δ back
            why.append(f"{spec.name} is read by a max pool (a 0 there changes no answer)")
            continue
        source = problem.layer(source_name)
        if not family_of(source).weighted:
            why.append(f"{spec.name} reads {source.name} ({source.type})")
            continue
        if "bias" not in source.params:
            why.append(f"{spec.name} reads {source.name} (no bias)")
            continue
        blocker = next((a for a in _ancestors(problem, source) if not _rational(a)), None)
        if blocker is not None:
            why.append(f"{spec.name} reads {source.name} (after {blocker.name}, "
                       f"{blocker.type})")
            continue
        return spec, source
    return "; ".join(why)


def _rational(spec) -> bool:
    return family_of(spec).rational


def _ancestors(problem, spec) -> list:
    """The layers ``spec``'s output is computed from, itself included, in forward order."""
    from cnngrad.problem import INPUT

    needed, pending = set(), [spec.name]
    while pending:
        name = pending.pop()
        if name == INPUT or name in needed:
            continue
        needed.add(name)
        pending.extend(problem.layer(name).inputs)
    return [layer for layer in problem.layers if layer.name in needed]


def _exact_output(problem, spec) -> np.ndarray:
    """The output of ``spec`` in an exact problem (internal layout), from its ancestors
    only: a layer elsewhere in the graph may not be rational."""
    from cnngrad.problem import INPUT

    outputs = {INPUT: problem.x}
    for layer in _ancestors(problem, spec):
        outputs[layer.name] = family_of(layer).forward(layer, [outputs[name]
                                                               for name in layer.inputs])
    return outputs[spec.name]


def _centre_squashes(draft: Draft, draw: Draw, style: Style, recipe: Recipe,
                     with_kinks: bool) -> str | None:
    """Move the bias of a dense layer before a sigmoid or tanh so that its outputs land near
    0, where the curve is steep: a flat sigmoid makes every gradient before it vanish.

    Returns why the draft is thrown away when the run this takes shows its kinks are not
    as wanted (the biases it moves come after every ReLU and max pool of the recipes, so
    without a second run), else None."""
    layers = draft.document.get("layers") or []
    targets = [i - 1 for i, layer in enumerate(layers)
               if _is(layer.get("type"), "squashes") and i > 0
               and _is(layers[i - 1].get("type"), "weighted")  # a dense layer: weights on
               and _is(layers[i - 1].get("type"), "reads_vectors")  # a vector, a bias each
               and "bias" in layers[i - 1]]
    if not targets:
        return None
    problem, trace = _run(draft.document, style, False, recipe)
    unwanted = _kinks_unwanted(trace, recipe, with_kinks)
    if unwanted and all(not _is(layer["type"], "kink_at_zero")
                        and not _is(layer["type"], "takes_maxima")
                        for layer in layers[targets[0]:]):
        return unwanted
    for i in targets:
        bias = np.asarray(layers[i]["bias"], dtype=object)
        z = np.asarray(trace.layers[i].output, dtype=np.float64).reshape(-1)[:bias.size]
        layers[i]["bias"] = np.array([b - _nearest(float(v), style) + style.bias(draw)
                                      for b, v in zip(bias.flat, z)],
                                     dtype=object).reshape(bias.shape)
    return None


def _nearest(value: float, style: Style) -> Fraction:
    """The number of the style closest to ``value`` (halves for fractions)."""
    scale = 2 if style.exact_fractions else style.scale
    return Fraction(round(value * scale), scale)


# --------------------------------------------------------------------------- what is written


def asked_value(trace, key: str) -> Any:
    """The value an asked path names: a whole tensor (``conv2d_1.grads.kernel``), or, as a
    grading block's points may name them, an element or a part of one
    (``conv2d_1.grads.kernel[0,1]``, ``conv2d_1.delta_in[1]``)."""
    from cnngrad.teach.check import split_key

    path, index = split_key(key, file=None)
    value = trace.tensor(path)
    if index is None:
        return value
    return np.asarray(value)[index]


def _covered(key: str, asked) -> bool:
    """Whether another asked path holds every cell of ``key`` (a grading block may weigh a
    tensor and one of its elements apart; an answers file gives each cell once)."""
    from cnngrad.teach.check import split_key

    path, index = split_key(key, file=None)
    if index is None:
        return False
    for other in asked:
        if other == key:
            continue
        base, part = split_key(other, file=None)
        if base == path and (part is None or (len(part) < len(index)
                                              and index[:len(part)] == part)):
            return True
    return False


def _grading_block(kept: dict | None, asked: dict, generated: int) -> tuple[dict, int]:
    """The problem's ``grading`` block and the ``min_decimals`` it sets (or the generator's
    own decimals when it sets a tolerance instead).

    Without a source block (a recipe, or a file without one): the decimals the answers are
    exact at and the points of what is asked.  With one: the source's block, key by key in
    its order (``carry_forward``, ``atol``, ``rtol``, ``min_decimals`` as written), its
    ``points`` those of ``asked`` (the source's own, less any that could not be kept); the
    generator's ``min_decimals`` only fills in a block that sets no tolerance at all (a
    block cannot hold ``min_decimals`` beside ``atol``/``rtol``)."""
    if kept is None:
        return {"min_decimals": generated, "points": dict(asked)}, generated
    block: dict[str, Any] = {}
    if not any(key in kept for key in ("min_decimals", "atol", "rtol")):
        block["min_decimals"] = generated
    for key, value in kept.items():
        block[key] = dict(asked) if key == "points" else value
    block.setdefault("points", dict(asked))
    decimals = int(kept["min_decimals"]) if "min_decimals" in kept else generated
    return block, decimals


@dataclass(frozen=True)
class ZeroPasses:
    """Asked cells whose fresh true value is not 0 but which a kept ``atol``/``rtol`` marks
    right for an answer of 0, judged by check's own rule (:func:`cells_right`): the source's
    tolerance was chosen for its own numbers, and fresh ones as small as it give marks for
    leaving the cells at 0.  ``low``, ``high``: the smallest and largest |value| of the
    nonzero asked cells."""

    names: str  # what the block sets: "atol", "rtol" or "atol and rtol"
    tolerance: str  # "atol 0.5, rtol 0.01"
    passed: int
    cells: int
    low: float
    high: float

    @classmethod
    def of(cls, grading: dict, truth: dict) -> ZeroPasses | None:
        """Those of one draw, each cell counted once (a block may weigh a tensor and one of
        its elements apart); None when the block sets no tolerance or every cell is 0."""
        from cnngrad.families.base import written_text
        from cnngrad.teach.check import Tolerance, cells_right, parse_written

        tolerance = kept_tolerance(grading)
        if tolerance is None:
            return None
        passed, sizes = 0, []
        for path, value in truth.items():
            if _covered(path, truth):
                continue
            true = np.asarray(value)
            # an answers file's 0s, read as check reads them
            zeros = parse_written(np.zeros(true.shape, dtype=int).tolist(), path,
                                  file="answers")
            nonzero = true != 0
            passed += int(np.count_nonzero(cells_right(zeros, true, Tolerance(*tolerance))
                                           & nonzero))
            sizes += [abs(float(v)) for v in true[nonzero].flat]
        if not sizes:
            return None
        given = [key for key in ("atol", "rtol") if key in grading]
        # as the block writes it: "1/2" a string, 5e-7 a number (not its float to 6 digits)
        shown = {key: grading[key] if isinstance(grading[key], str) else
                 written_text(tolerance[("atol", "rtol").index(key)]) for key in given}
        return cls(" and ".join(given), ", ".join(f"{key} {shown[key]}" for key in given),
                   passed, len(sizes), min(sizes), max(sizes))

    @classmethod
    def summed(cls, each: list[ZeroPasses | None]) -> ZeroPasses | None:
        """Those of a class's variants together."""
        found = [one for one in each if one is not None]
        if not found:
            return None
        return cls(found[0].names, found[0].tolerance, sum(one.passed for one in found),
                   sum(one.cells for one in found), min(one.low for one in found),
                   max(one.high for one in found))

    def notes(self, where: str = "") -> list[str]:
        """The note on stderr, or none when no cell passes."""
        if not self.passed:
            return []
        return [f"the kept tolerance ({self.tolerance}) marks an answer of 0 right in "
                f"{self.passed} of the {self.cells} asked cells whose fresh value is not "
                f"0{where} (the nonzero asked values run from {self.low:.4g} to "
                f"{self.high:.4g}); write a smaller {self.names.replace(' and ', ' or ')} "
                f"into the file's grading block, or min_decimals instead"]


def _key_decimals(truth: dict, start: int, kept: dict) -> int:
    """Decimals an inexact key is rounded to: ``start``, or more when the source's
    ``atol``/``rtol`` are tighter than half a unit of its last decimal (the key must pass
    ``check``, and give as many as the sheets ask for)."""
    needed = tolerance_decimals(truth, kept)
    return start if needed is None else max(start, needed)


def kept_tolerance(kept: dict) -> tuple[Fraction, Fraction] | None:
    """A grading block's (atol, rtol) as exact numbers, a missing one 0; None when it sets
    neither."""
    if "atol" not in kept and "rtol" not in kept:
        return None
    return Fraction(str(kept.get("atol", 0))), Fraction(str(kept.get("rtol", 0)))


def tolerance_bound(truth: dict, kept: dict) -> Fraction | None:
    """Under a grading block's ``atol``/``rtol`` (``kept``), the least atol + rtol·|v| over the
    nonzero values v of ``truth`` (a 0 is written exactly), as check applies the rule; None
    when the block sets neither or every value is 0."""
    tolerance = kept_tolerance(kept)
    if tolerance is None:
        return None
    atol, rtol = tolerance
    sizes = [abs(Fraction(float(v))) for value in truth.values() for v in _values(value)]
    return min((atol + rtol * size for size in sizes if size), default=None)


def tolerance_decimals(truth: dict, kept: dict) -> int | None:
    """Under a grading block's ``atol``/``rtol`` (``kept``), the fewest decimals d whose
    rounding error, at most ½·10⁻ᵈ, stays within :func:`tolerance_bound`, so that any
    rounding to d decimals or more is right as check judges it (at most ``MAX_DECIMALS``,
    where a bound below half its unit is met only by the value itself, to the floats'
    precision); None when the block sets neither."""
    from cnngrad.teach.grading import MAX_DECIMALS

    if kept_tolerance(kept) is None:
        return None
    bound = tolerance_bound(truth, kept)
    if bound is None:
        return 0
    decimals = 0
    while Fraction(1, 2 * 10 ** decimals) > bound and decimals < MAX_DECIMALS:
        decimals += 1
    return decimals


def _key(exercise: Exercise) -> dict:
    """The answers file of the true values: exact decimals (or ``p/q``), or rounded to the
    asked decimals when no decimal is exact."""
    out = {}
    for path, value in exercise.truth.items():
        if _covered(path, exercise.truth):
            continue
        array = np.asarray(value, dtype=object)
        cells = np.empty(array.shape, dtype=object)
        for index in np.ndindex(*array.shape):
            cells[index] = _key_token(array[index], exercise)
        out[path] = cells
    return out


def _key_token(value, exercise: Exercise) -> str:
    if exercise.inexact:
        return decimal_text(Fraction(float(value)), exercise.key_decimals)
    return exercise.style.text(Fraction(value))


def _blank(value) -> np.ndarray:
    shape = np.shape(value)
    out = np.empty(shape, dtype=object)
    out.fill(None) if shape else None
    return out


def _title(recipe: Recipe, seed: int, style: Style, options: dict, with_kinks: bool,
           quiet: bool) -> str:
    described = recipe.described(with_kinks, options)
    if quiet:
        return described
    # a path as a shell reads it back: "my prob's.json" quoted, not split in two
    parts = [f"cnngrad generate {shlex.quote(recipe.argument or recipe.name)} --seed {seed}"]
    defaults = RECIPES[recipe.name].options if recipe.name in RECIPES else {}
    for key, value in options.items():
        if value != defaults.get(key):
            parts.append(f"--{key}" if value is True else f"--{key} {_option_text(value)}")
    if style.name != recipe.default_numbers:
        parts.append(f"--numbers {style.name}")
    if with_kinks:
        parts.append("--with-kinks")
    return f"{described} ({' '.join(parts)})"


def _option_text(value) -> str:
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return str(value)


# --------------------------------------------------------------------------- from a file


def _file_recipe(path: str) -> Recipe:
    """A recipe that redraws every number of the problem file at ``path``."""
    from cnngrad.problem import load_problem
    from cnngrad.tensorio import load_json_document, read_source

    problem = load_problem(path)  # validated as it stands: its errors name the file
    raw, file, base_dir = read_source(path)
    original = load_json_document(raw, file)
    had_grading = "grading" in original
    source_grading = original.pop("grading", None)
    types = [spec.type for spec in problem.layers]
    factors = 1 + sum(1 for spec in problem.layers if family_of(spec).weighted)
    extra = sum(max((needed or 0 for needed in _divisor_decimals(spec)), default=0)
                for spec in problem.layers)
    endless = _endless_division(problem)
    # a loss that averages is rational (nll's −mean of picked outputs) but divides by the
    # batch size: a batch of 3 has answers no decimal writes, so none is promised
    loss = loss_family(problem.loss.type) if problem.loss is not None else None
    inexact = any(not family_of(spec).rational for spec in problem.layers) or (
        loss is not None and (not loss.rational or loss.averages))
    asked = {}
    if problem.loss is not None:
        asked["loss"] = 1
    for spec in problem.layers:
        for key in spec.params:
            if key == "bias" and bias_gradient_always_zero(problem, spec):
                continue  # no draw could make it nonzero: not worth asking
            asked[f"{spec.name}.grads.{key}"] = 4
    asked[f"{problem.layers[0].name}.delta_in"] = 4
    kept_grading, notes, always_zero = None, [], frozenset()
    if had_grading:
        kept_grading, kept_points, notes = _kept_grading(source_grading, problem, file)
        if kept_points:
            asked = kept_points
        elif "points" in kept_grading:
            notes.append("none of the grading block's points could be kept: the problem "
                         f"asks {', '.join(asked)} instead")
        always_zero = frozenset(
            f"{spec.name}.grads.bias" for spec in problem.layers
            if "bias" in spec.params and bias_gradient_always_zero(problem, spec))
    site = _relu_zero_site(problem)
    name = Path(path).name
    no_kink = None
    if not isinstance(site, str):
        kink = RELU_ZERO
    elif any(_is(kind, "takes_maxima") for kind in types):
        kink = TIE  # tied maxima come by chance in some draws: the draws without are thrown away
    else:
        kink = None
        if site:  # ReLUs, none of whose inputs a bias can put on 0
            no_kink = (f"no ReLU input of {name} can be put at exactly 0: {site}",
                       "--with-kinks moves the bias of the conv or dense layer a ReLU reads "
                       "(no batch norm, sigmoid, tanh or softmax before it)")
        else:
            no_kink = (f"{name} has no ReLU and no max pool, so there is no kink to put in",
                       _kink_recipes_hint())

    def build(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
        return Draft(_redrawn(original, problem, draw, style, file, base_dir), dict(asked))

    # rounded answers are asked at 1dp; exact ones that a division makes endless (an
    # average of 9 cells, a dropout's 1 − p of 0.7) come out whole only as fractions
    default_numbers = "1dp" if inexact else "fractions" if endless is not None else "int"

    def check_style(style: Style) -> None:
        if not inexact:
            _refuse_endless(endless, style)

    return Recipe(name=name, description=_file_description(name, problem), build=build,
                  factors=factors, extra_decimals=extra, inexact=inexact, kink=kink,
                  layer_types=tuple(types), default_numbers=default_numbers,
                  check_style=check_style, no_kink=no_kink, kept_grading=kept_grading,
                  notes=tuple(notes), always_zero=always_zero, argument=path)


def _divisor_decimals(spec) -> list[int | None]:
    """The decimals of 1/d for each number d the layer divides by (None: no decimal)."""
    return [decimals_needed(1 / divisor) for divisor, _ in family_of(spec).divisors(spec)]


def _endless_division(problem) -> tuple[Any, str] | None:
    """The last layer that divides by a number whose inverse no decimal writes (an average
    of 3 or 9 cells, a dropout's 1 − p of 0.3), and what it divides by; None if none does."""
    endless = None
    for spec in problem.layers:
        needs = _divisor_decimals(spec)
        if None in needs:
            endless = spec, family_of(spec).divisors(spec)[needs.index(None)][1]
    return endless


def _refuse_endless(endless: tuple[Any, str] | None, style: Style, other: str = "") -> None:
    """A decimal style for an exact problem with an endless division: refused, since every
    draw's answers would be endless (an average of 9 cells sends δ/9 back to each).
    ``other`` adds what else the user can change to the hint."""
    if endless is not None and not style.exact_fractions:
        spec, divides = endless
        raise UsageError(f"{spec.name} {divides}: no decimal is exact after it",
                         where="--numbers",
                         hint=f"use --numbers fractions for this problem{other}")


def _file_description(name: str, problem) -> str:
    """What a problem drawn from the file ``name`` is: the file, its layers and its loss
    (``dls-nhwc.json with fresh numbers: conv2d → relu → maxpool2d → flatten → dense,
    cross_entropy loss``).  Never the file's own title: "with tied maxima", "the same
    numbers as stackexchange.json" are claims about its numbers that fresh ones need not
    keep."""
    from cnngrad.problem import INPUT

    types = [spec.type for spec in problem.layers]
    end = f"{problem.loss.type} loss" if problem.loss is not None else "given δ"
    # arrows only where each layer reads the one before: a graph's add or concat reads more
    chain = all(spec.inputs == ((problem.layers[i - 1].name,) if i else (INPUT,))
                for i, spec in enumerate(problem.layers))
    if chain:
        return f"{name} with fresh numbers: {' → '.join(types)}, {end}"
    return f"{name} with fresh numbers: a graph of {', '.join(types)}; {end}"


def _kept_grading(raw: Any, problem, file: str) -> tuple[dict, dict, list[str]]:
    """The source file's grading block as the generated problems keep it: every setting as
    written (``min_decimals``, ``atol``, ``rtol``, ``carry_forward``), and of its ``points``
    each path that a run of the problem names (the layers, names and shapes of a file
    recipe are the file's own, so all of them unless a path names nothing, such as an
    ``updated`` parameter, known only with ``--lr``); why a path was left out, as notes.

    Raises
    ------
    ProblemError
        The block is not valid as the contract writes it (as ``check`` would say).
    """
    from cnngrad.network import run
    from cnngrad.teach.grading import check_points, parse_grading

    parsed = parse_grading(raw, file=file, given=True)
    kept = dict(raw)
    points: dict[str, Any] = {}
    notes: list[str] = []
    if not parsed.points:
        return kept, points, notes
    with np.errstate(all="ignore"):
        trace = run(problem)
    shapes = {path: np.shape(value) for path, value in trace.tensors() if value is not None}
    for key, value in raw["points"].items():
        one = dataclasses.replace(parsed, points={key: parsed.points[key]})
        try:
            check_points(one, shapes, trace.absent_parameter)
        except ProblemError as error:
            why = error.what + (f" ({error.hint})" if error.hint else "")
            noun = "point" if value == 1 else "points"
            notes.append(f"grading.points.{key} ({value} {noun}) is not kept: {why}")
            continue
        points[key] = value
    return kept, points, notes


_WEIGHT_FIELDS = ("kernel", "weights", "gamma")
_BIAS_FIELDS = ("bias", "beta", "running_mean")


def _shape(value: Any, where: str, file: str, base_dir: Path) -> tuple[int, ...]:
    from cnngrad.tensorio import parse_tensor

    return parse_tensor(value, where, file=file, base_dir=base_dir).shape


def _redrawn(original: dict, problem, draw: Draw, style: Style, file: str,
             base_dir: Path) -> dict:
    """The document with every number drawn afresh, same shapes, same structure."""
    out = copy.deepcopy(original)
    out.pop("title", None)
    out["input"] = tensor(_shape(original["input"], "input", file, base_dir),
                          lambda: style.data(draw))

    def redraw_fields(holder: dict, where: str) -> None:
        for key in list(holder):
            at = f"{where}.{key}" if where else key
            if key in _WEIGHT_FIELDS:
                holder[key] = _fresh(_shape(holder[key], at, file, base_dir), style.weight, draw)
            elif key in _BIAS_FIELDS:
                holder[key] = _fresh(_shape(holder[key], at, file, base_dir), style.bias, draw)
            elif key == "running_var":
                holder[key] = _fresh(_shape(holder[key], at, file, base_dir),
                                     lambda d: abs(style.weight(d)), draw)

    if "kernel" in out:
        redraw_fields(out, "")
    for i, layer in enumerate(out.get("layers") or []):
        if isinstance(layer, dict):
            redraw_fields(layer, f"layers[{i}]")
    if "delta" in out:
        out["delta"] = sparse_delta(_shape(original["delta"], "delta", file, base_dir), draw,
                                    style)
    if "loss" in out:
        loss = out["loss"]
        shape = _shape(loss["target"], "loss.target", file, base_dir)
        classes = problem.layers[-1].out_shape[-1]
        family = loss_family(loss["type"])
        index_target = family.takes_class_index and \
            shape == problem.layout.display_shape(problem.layers[-1].out_shape)[:-1]
        if index_target:
            loss["target"] = tensor(shape, lambda: Fraction(draw.below(classes)))
        elif family.takes_distribution:  # probabilities: a one-hot row
            target = np.zeros(shape, dtype=object)
            target.fill(Fraction(0))
            for row in np.ndindex(*shape[:-1]):
                target[row + (draw.below(shape[-1]),)] = Fraction(1)
            loss["target"] = target
        else:
            loss["target"] = tensor(shape, lambda: Fraction(draw.below(2)))
    return out


def _fresh(shape: tuple[int, ...], value, draw: Draw):
    array = tensor(shape, lambda: value(draw))
    return array[()] if not shape else array


__all__ = ["Exercise", "generate", "with_sheets", "resolve_recipe", "style_named",
           "CnnGradError", "FILE_RECIPE"]
