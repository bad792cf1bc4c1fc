"""The exercise sheet and the solution sheet of a generated problem, in Markdown and LaTeX.

The exercise shows the network, the given numbers and what is asked (with points and the
decimals expected); the solution shows each asked value and, for a kernel's gradient, the
written-out sum of every entry as ``cnngrad explain`` prints it.  Tables and equations come
from cnngrad's own renderers (:mod:`cnngrad.render.markdown`, :mod:`cnngrad.render.latex`,
:mod:`cnngrad.render.explain`), so a sheet shows what ``backward`` and ``explain`` show.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import CnnGradError
from cnngrad.families import LOSSES, family_of, loss_family
from cnngrad.generate.recipes import INEXACT_DECIMALS
from cnngrad.problem import shape_text
from cnngrad.tensorio import decimals_needed

#: Kernel-gradient entries worked out in full on a solution sheet (the rest are named), but
#: for a kernel of one more entry, which is shown whole.
MAX_EXPLAINED = 8

#: The worked sums are code blocks, which neither a terminal's 80 columns nor a Markdown
#: viewer re-wraps: their notes wrap at this width (not explain's 100).
SHEET_WIDTH = 80

#: How an asked path reads in words.
_WHAT = {"kernel": "the gradient of the kernel, dE/dw", "bias": "the gradient of the bias, dE/db",
         "weights": "the gradient of the weights, dE/dW", "gamma": "the gradient of γ, dE/dγ",
         "beta": "the gradient of β, dE/dβ"}


def sheets(exercise, exam: bool = False) -> dict[str, str]:
    """File name → text of ``exercise.md``, ``exercise.tex``, ``solution.md`` and
    ``solution.tex``; with ``exam``, an exercise sheet that asks for the answers to be handed
    in, not checked."""
    given = _given(exercise)
    asked = _asked(exercise)
    explained = _explanations(exercise)
    return {"exercise.md": _exercise_md(exercise, given, asked, exam),
            "exercise.tex": _exercise_tex(exercise, given, asked, exam),
            "solution.md": _solution_md(exercise, asked, explained),
            "solution.tex": _solution_tex(exercise, asked, explained)}


# --------------------------------------------------------------------------- content


def _shown(value, exercise) -> Any:
    """A value as the sheets print it: exact fractions stay fractions; everything else is a
    float printed at the decimals the exercise works in."""
    array = np.asarray(value, dtype=object)
    if exercise.style.exact_fractions and not exercise.inexact:
        return array if array.ndim else array[()]
    floats = np.array([float(v) for v in array.flat], dtype=np.float64).reshape(array.shape)
    return floats if floats.ndim else floats[()]


def _shown_given(value, exercise) -> tuple[Any, int]:
    """A given number or tensor as the sheets print it, and the decimals to print it at: as
    the problem writes it.  A fraction stays a fraction (``3/2``, never rounded to ``2``, also
    in an exercise whose answers are endless), a decimal keeps every decimal it has (a kept
    ``0.05`` is not rounded to the style's 1 decimal)."""
    exact = np.asarray(value, dtype=object)
    exact = np.array([Fraction(str(v)) for v in exact.flat], dtype=object).reshape(exact.shape)
    needed = [decimals_needed(v) for v in exact.flat]
    if exercise.style.exact_fractions or None in needed:
        finite = None not in needed
        decimals = max(needed, default=0) if finite else INEXACT_DECIMALS
        return (exact if exact.ndim else exact[()]), decimals
    floats = np.array([float(v) for v in exact.flat], dtype=np.float64).reshape(exact.shape)
    # a drawn tensor is printed at its style's decimals (0.0 beside 0.5); a number kept from
    # a problem file (arrays and Fractions are drawn) at its own (a dropout mask's 1 and 0)
    drawn = isinstance(value, (np.ndarray, Fraction))
    decimals = max([(exercise.style.decimals or 0) if drawn else 0, *needed])
    return (floats if floats.ndim else floats[()]), decimals


def _given(exercise) -> list[tuple[str, str, Any, int]]:
    """(label, description, value as shown, decimals to show it at) of every number the
    problem gives."""
    document, problem = exercise.document, exercise.problem
    out = [("input", "the input", document["input"])]
    if "kernel" in document:  # the one-conv shorthand
        out.append(("conv2d_1.kernel", "the kernel w", document["kernel"]))
        if "bias" in document:
            out.append(("conv2d_1.bias", "the bias b", document["bias"]))
    for spec, raw in zip(problem.layers, document.get("layers") or []):
        for key, value in raw.items():
            # drawn numbers are arrays and Fractions; numbers kept from a problem file (a
            # dropout's p and mask, a leaky ReLU's slope) are as read: Decimals and lists
            if _is_number_given(value) and key not in _SETTING_KEYS:
                out.append((f"{spec.name}.{key}", f"the {key} of {spec.name}", value))
    if "delta" in document:
        last = problem.layers[-1].name
        out.append(("delta", f"the upstream δ = dE/d(output of {last})", document["delta"]))
    shown = [(label, words, *_shown_given(value, exercise)) for label, words, value in out]
    if "loss" in document:
        shown.append(_target_given(exercise))
    return shown


def _target_given(exercise) -> tuple[str, str, Any, int]:
    """The loss's target as :func:`_given` gives it.  A class index (per sample when
    batched) is said to be one, with the classes it counts, and shown whole: at the style's
    decimals, "0.0 1.0" read as a one-hot row where it was two samples' classes."""
    from cnngrad.families.losses import has_batch_axis

    problem, target = exercise.problem, exercise.document["loss"]["target"]
    if not problem.loss.class_index:
        return ("loss.target", "the target t", *_shown_given(target, exercise))
    classes = problem.layers[-1].out_shape[-1]
    words = (f"the target: the class index of each sample, in the batch's order (a class 0 "
             f"to {classes - 1})" if has_batch_axis(problem.loss) else
             f"the target: the class index (a class 0 to {classes - 1})")
    return "loss.target", words, np.asarray(target, dtype=np.float64), 0


#: Layer fields the layer's line states (sizes and settings), not given as numbers.
_SETTING_KEYS = frozenset({"size", "stride", "padding", "dilation", "groups", "output_padding",
                           "scale", "eps"})

#: Layer fields the line of a layer states in its own words (or that are not settings).
_WORDED_KEYS = frozenset({"type", "name", "input", "inputs", "kernel", "weights", "bias",
                          "size", "stride", "padding", "ties", "mode", "eps"})


def _is_number_given(value) -> bool:
    if isinstance(value, (bool, str, dict)) or value is None:
        return False
    if isinstance(value, list):
        return all(_is_number_given(item) for item in value)
    return isinstance(value, (np.ndarray, Fraction, int, float, Decimal))


def _setting_text(value) -> str:
    """A layer setting as the problem writes it: ``2``, ``[1, 2]`` as ``1, 2``, ``same``,
    ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return _sides(tuple(value))
    return str(value)


def _asked(exercise) -> list[tuple[str, str, str, int]]:
    """(path, words, shape, points) of every asked value."""
    out = []
    for path, points in exercise.asked.items():
        value = exercise.truth[path]
        shape = shape_text(np.shape(value))
        out.append((path, _words(path, exercise.problem, np.ndim(value)), shape, points))
    return out


#: What a path with an index names, by the rank of what it names (a grading block may weigh
#: an entry, a row or a channel's map apart from the rest of its tensor).
_PART_WORDS = {0: "entry", 1: "row"}


def _words(path: str, problem, rank: int = 0) -> str:
    """What an asked path is, in words (an element of a tensor: the tensor's words and the
    entry, or the row or part an index short of the tensor's rank names); ``rank`` is the
    rank of the value the path names."""
    if path == "loss":
        return "the loss E"
    if path.endswith("]") and "[" in path:
        tensor, _, index = path.partition("[")
        words = _words(tensor, problem)
        part = _PART_WORDS.get(rank, "part")
        return path if words == tensor else f"{words}: {part} [{index}"
    layer, _, rest = path.partition(".")
    if rest.startswith("grads."):
        key = rest.split(".", 1)[1]
        return f"{_WHAT.get(key, f'the gradient of {key}')} of {layer}"
    if rest == "delta_in":
        return f"dE/d(input of {layer}), the delta passed back" + _share(layer, problem)
    if rest == "output":
        return f"the output of {layer}"
    if rest == "delta_out":
        return f"dE/d(output of {layer}), the delta that reaches it"
    return path


def _share(layer: str, problem) -> str:
    """When other layers read ``layer``'s input too (a skip connection), the words that say
    its delta_in is only the share sent back through ``layer``."""
    specs = {spec.name: spec for spec in problem.layers} if problem is not None else {}
    if layer not in specs or len(specs[layer].inputs) != 1:
        return ""
    source = specs[layer].inputs[0]
    others = [spec.name for spec in problem.layers
              if spec.name != layer and source in spec.inputs]
    if not others:
        return ""
    what = "the input" if source == "input" else f"the output of {source}"
    return (f" through {layer} only ({', '.join(others)} "
            f"{'reads' if len(others) == 1 else 'read'} {what} too: "
            f"{'its share is' if len(others) == 1 else 'their shares are'} not included)")


def _ints(value) -> tuple[int, ...]:
    """A layer's size, stride or padding (an int or a tuple of them; None) as a tuple."""
    if value is None or isinstance(value, str):
        return ()
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),)


def _sides(values: tuple[int, ...]) -> str:
    """``(2, 2)`` → ``2``; ``(0, 1, 0, 1)`` → ``0, 1, 0, 1``."""
    return str(values[0]) if len(set(values)) == 1 else ", ".join(map(str, values))


def _points(points: int) -> str:
    return f"{points} point" + ("" if points == 1 else "s")


def _layer_lines(exercise) -> tuple[list[str], str]:
    """One line per layer (its type and sizes), and the sentence on the loss."""
    from cnngrad.generate.make import tied_windows

    lines = []
    pools_by_rule: dict[str, list[str]] = {}  # a tie rule shown → the pools it is shown on
    raw_layers = exercise.document.get("layers") or []
    tied = {layer.spec.name for layer in exercise.trace.layers
            if family_of(layer.spec).takes_maxima and tied_windows(layer)}
    for index, spec in enumerate(exercise.problem.layers):
        raw = raw_layers[index] if index < len(raw_layers) else {}
        details = []
        kernel = getattr(spec, "kernel", None)
        if isinstance(kernel, np.ndarray):
            details.append(f"kernel {shape_text(kernel.shape)}")
        size = _ints(getattr(spec, "size", None))
        if size:
            details.append(f"window {'×'.join(map(str, size))}")
        stride = _ints(getattr(spec, "stride", None))
        # the settings as backward's report words them: "0, 1, 0, 1" named no side of a
        # padding (a "same" one's extra row and column go to one side only), "2, 1" no axis
        settings = dict(family_of(spec).settings(spec))
        # a pool's stride is written whatever it is: a stride of 1 (overlapping windows)
        # was left out as if it were a conv's default, and read as the window's
        if any(s != 1 for s in stride) or (size and stride):
            uneven = len(set(stride)) > 1
            details.append(f"stride {settings['stride'] if uneven else _sides(stride)}")
        padding = settings.get("padding")
        if padding is not None:
            details.append(f"padding {padding}")
        ties = getattr(spec, "ties", "first")
        # a max pool's tie rule: shown when it is not the default, when the problem names it
        # (maxpool-ties --ties first) or when its input has tied maxima (--with-kinks)
        if family_of(spec).takes_maxima and (ties != "first" or "ties" in raw
                                             or spec.name in tied):
            details.append(f"ties: {ties}")
            pools_by_rule.setdefault(ties, []).append(spec.name)
        weights = getattr(spec, "weights", None)
        if isinstance(weights, np.ndarray):
            details.append(f"weights {shape_text(weights.shape)}")
        if spec.params.get("bias") is not None:
            details.append("with bias")
        if family_of(spec).normalises_channels:  # the rules a hand computation needs
            details.append("training mode: each channel's batch mean and biased variance "
                           "(divided by the count, not count − 1)" if spec.mode == "train" else
                           "eval mode: the running mean and variance")
            details.append(f"ε = {spec.eps:g}")
        # every other setting the problem writes (a dilation, an output_padding, an
        # upsample's scale, a padding_mode): the hand computation needs it
        for key, value in raw.items():
            if key in _WORDED_KEYS:
                continue
            if isinstance(value, (str, bool)) or key in _SETTING_KEYS:
                # a pair of unequal values as backward words it (dilation 1×2)
                uneven = isinstance(value, list) and len(set(map(str, value))) > 1
                text = settings[key] if uneven and key in settings else _setting_text(value)
                details.append(f"{key} {text}")
        if len(spec.inputs) > 1:  # add, concat: what they read
            details.append(family_of(spec).inputs_joined_by.join(spec.inputs))
        text = f"`{spec.name}`: {spec.type}" + (f" ({', '.join(details)})" if details else "")
        lines.append(text)
    rules = "".join(f"Ties: {rule} ({', '.join(names)}): where a window's maximum is tied, "
                    f"{_TIE_RULE_WORDS[rule]}. " for rule, names in pools_by_rule.items())
    return lines, (_conventions_sentence(exercise) + rules + _loss_sentence(exercise)
                   + _layout_sentence(exercise) + _indices_sentence(exercise))


def _conventions_sentence(exercise) -> str:
    """How the layers compute where textbooks differ, the layers of one convention named
    together: a student working by hand must not have to guess whether the kernel is rotated,
    which way W is laid out or in which order flatten reads."""
    named: dict[str, list[str]] = {}
    for spec in exercise.problem.layers:
        convention = family_of(spec).convention(spec)
        if convention:
            named.setdefault(convention, []).append(spec.name)
    return "".join(f"{', '.join(names)}: {convention}. " for convention, names in named.items())


#: What each tie rule of a max pool does, as the contract says: "ties: split" alone left the
#: rule to be guessed.
_TIE_RULE_WORDS = {
    "first": "its whole δ goes to the first of the tied maxima in row-major (reading) order, "
             "PyTorch's rule",
    "split": "its δ is shared equally among the tied maxima",
    "all": "each tied maximum gets its whole δ"}


def _layout_sentence(exercise) -> str:
    """Under ``"layout": "nhwc"``, how to read a map, a kernel and every table: without it a
    student reads ``input[0]`` as the first channel, where it is the map's first row."""
    layout = exercise.problem.layout
    if not layout.channels_last:
        return ""
    # no backticks: the sentence goes into the LaTeX sheet as it is
    if layout.spatial == 1:
        return (' The maps are channels last (layout "nhwc", as TensorFlow writes them): a '
                "map of several channels is L×C (N×L×C for a batch), each position's channels "
                "side by side. Every answer is in the same form.")
    return (' The maps are channels last (layout "nhwc", as TensorFlow writes them): a map of '
            "several channels is H×W×C (N×H×W×C for a batch), so each of its tables below is "
            "one row of the map, each pixel's channels side by side. Every answer is in the "
            "same form.")


def _indices_sentence(exercise) -> str:
    """What the leading index of a grid names, channels first: the input's channel (and
    sample), a kernel's filter and input channel, the δ's channel, so that a student does not
    guess whether conv2d_1.kernel[0,1] is filter 0 over channel 1 or the other way round;
    channels last (``"nhwc"``, whose maps the layout's sentence words), a kernel's row and
    column and what its grids hold."""
    problem, document = exercise.problem, exercise.document
    last_channel = problem.layout.channels_last
    spatial = problem.layout.spatial
    parts = []
    # a map's tables are headed by a channel (and a sample) where it has those axes; a
    # channels-last map's the layout's sentence says
    rank = np.ndim(document["input"])
    if not last_channel and rank > spatial and np.ndim(problem.input) == rank:
        parts.append("input[n,c] is channel c of sample n" if rank == spatial + 2 else
                     "input[c] is the input's channel c")
    # the one-conv shorthand's kernel is a top-level key
    for spec, raw in zip(problem.layers, document.get("layers") or [document]):
        for key, value in raw.items():
            words = family_of(spec).given_axes(spec, key, np.ndim(value), last_channel) \
                if _is_number_given(value) else ""
            if words:
                parts.append(f"{spec.name}.{key}{words}")
    if last_channel:
        return f" Kernels: {'; '.join(parts)}." if parts else ""
    last = problem.layers[-1]
    if "delta" in document and len(last.out_shape) == spatial + 2 \
            and np.ndim(document["delta"]) > spatial:
        parts.append(f"delta[n,c] is channel c of {last.name}'s output for sample n"
                     if np.ndim(document["delta"]) == spatial + 2 else
                     f"delta[c] is channel c of {last.name}'s output")
    if not parts:
        return ""
    return (f" Indices, channels first (PyTorch's layout): {'; '.join(parts)}. Every answer's "
            "grids are indexed the same way.")


def _loss_sentence(exercise) -> str:
    """The loss and its formula as the contract defines it, or that the upstream δ is
    given."""
    spec = exercise.problem.loss
    if spec is None:
        return "No loss: the upstream δ at the last layer's output is given."
    definition = loss_family(spec.type).definition(spec)
    return f"The loss is {spec.type}" + (f": {definition}." if definition else ".")


def _endless_cause(exercise) -> str | None:
    """What makes an inexact exercise's answers endless: its first layer (or its loss)
    whose value no decimal writes exactly; None when none is named."""
    for spec in exercise.problem.layers if exercise.problem is not None else ():
        if family_of(spec).endless_decimals is not None:
            return family_of(spec).endless_decimals
    loss = exercise.document.get("loss")
    kind = loss.get("type") if isinstance(loss, dict) else None
    return loss_family(kind).endless_decimals if isinstance(kind, str) and kind in LOSSES \
        else None


def _decimals(count: int) -> str:
    return f"{count} decimal" + ("" if count == 1 else "s")


def _decimals_sentence(exercise) -> str:
    return _answers_sentence(exercise) + _grading_sentences(exercise)


def _solution_decimals_sentence(exercise) -> str:
    """The exercise's sentence on decimals, and where the key gives more of them than it asks
    for (3 required, the key at 4), that it does: "rounded to 3 decimals" above values of 4
    read as a contradiction."""
    required = _required_decimals(exercise)
    extra = ""
    if exercise.inexact and exercise.key_decimals > required:
        extra = (f" The values below are given to {_decimals(exercise.key_decimals)}, more "
                 f"than the answers need.")
    return _decimals_sentence(exercise) + extra


def _required_decimals(exercise) -> int:
    """The decimals an answer needs: those a kept ``atol``/``rtol`` needs for every value asked
    (``make.tolerance_decimals``), else ``min_decimals`` (one of 0 requires none: the
    decimals the key is written to are the advice)."""
    from cnngrad.generate.make import tolerance_decimals

    needed = (tolerance_decimals(exercise.truth, exercise.document.get("grading") or {})
              if exercise.inexact or exercise.style.exact_fractions else None)
    return (exercise.min_decimals or exercise.key_decimals) if needed is None else needed


def _tolerance_met(exercise, decimals: int) -> bool:
    """Whether rounding to ``decimals`` (:func:`_required_decimals`) meets a kept tolerance:
    not when it is smaller than half a unit of the most decimals a float holds (atol 0,
    1e-30)."""
    from cnngrad.generate.make import tolerance_bound

    bound = tolerance_bound(exercise.truth, exercise.document.get("grading") or {})
    return bound is None or Fraction(1, 2 * 10 ** decimals) <= bound


def _tolerance(exercise) -> tuple[Fraction, Fraction] | None:
    """A kept grading block's (atol, rtol), a missing one 0; None when it sets neither."""
    from cnngrad.generate.make import kept_tolerance

    return kept_tolerance(exercise.document.get("grading") or {})


def _tolerance_text(exercise) -> str:
    """A kept grading block's rule as check applies it: "|value − true value| ≤ 0.05 +
    0.001·|true value|", a term left out where its tolerance is 0."""
    atol, rtol = _tolerance(exercise)
    terms = ([f"{float(atol):g}"] if atol else []) + \
        ([f"{float(rtol):g}·|true value|"] if rtol else [])
    return f"|value − true value| ≤ {' + '.join(terms) or '0'}"


def _answers_sentence(exercise) -> str:
    required = _required_decimals(exercise)
    decimals = _decimals(required)
    tolerance = _tolerance(exercise)
    # a tolerance below half a unit of a float's last decimal: only the value itself meets it
    only_itself = tolerance is not None and not _tolerance_met(exercise, required)
    rule = "" if tolerance is None else (
        f" A value is right when {_tolerance_text(exercise)}"
        + (": only the value itself, to the floats' precision, meets that." if only_itself
           else "."))
    if exercise.inexact:
        cause = _endless_cause(exercise)
        rounded = (f"Give every value to {decimals}, as many as a float holds "
                   if only_itself else
                   "Give every value rounded to a whole number or finer "
                   if tolerance and required == 0 else
                   f"Give every value rounded to {decimals} or more " if tolerance else
                   f"Give every value rounded to {decimals} ")
        return (rounded
                + (f"({cause} makes them endless)." if cause else
                   "(their decimals do not end).")
                + rule + _trailing_zeros(exercise)
                # a student who rounds each step to the decimals asked ends a unit off in
                # the last one: right work, marked wrong where nothing is carried forward
                + " Round only what you write down: carry the unrounded values from one "
                  "step to the next.")
    if exercise.style.exact_fractions:
        # JSON has no fractions: a bare -2/3 in the answers file is a syntax error
        return ("Give every value as an exact fraction in double quotes such as \"-2/3\" (or "
                + (f"as a decimal with {decimals})." if not tolerance else
                   f"as a decimal to {decimals}, as many as a float holds)." if only_itself
                   else "as a decimal rounded to a whole number or finer)."
                   if required == 0 else
                   f"as a decimal rounded to {decimals} or more).") + rule)
    exact = _decimals(exercise.key_decimals)  # the decimals the answers come out exact at
    if exercise.key_decimals == 0:
        return "Every answer is a whole number."
    return (f"Give every value with {exact}: the answers come out exact at {exact} "
            f"or fewer.")


def _trailing_zeros(exercise) -> str:
    """A rounded answer keeps its trailing zeros when the grading block requires decimals:
    check reads the decimals as written, and a shorter value is right only when it is the
    true value itself (``0.1`` for a true 0.09996 is wrong at 4 decimals, ``0.1000`` right)."""
    grading = exercise.document.get("grading") or {}
    required = grading.get("min_decimals")
    if isinstance(required, bool) or not isinstance(required, int) or required < 2:
        return ""
    return f" Keep the trailing zeros: 0.{'1'.ljust(required, '0')}, not 0.1."


def _grading_sentences(exercise) -> str:
    """What the problem's grading block, kept from a problem file, adds: a ``min_decimals``
    other than the decimals the answers come out exact at, and carried-forward errors."""
    grading = exercise.document.get("grading") or {}
    out = ""
    if (exercise.promised_decimals is not None and not exercise.inexact
            and not exercise.style.exact_fractions and exercise.min_decimals > 0):
        out += (f" A value that is not exact needs at least "
                f"{_decimals(exercise.min_decimals)} to count.")
    if grading.get("carry_forward") is True:
        out += (" A wrong value that is right from your own earlier answers (an error "
                "carried forward) still earns its points.")
    return out


#: The decimals a worked sum falls back to when a number in it is not whole at the key's
#: decimals (explain's own).
WORKED_DECIMALS = 6


def _worked_decimals(explanation, decimals: int) -> int:
    """``decimals``, or :data:`WORKED_DECIMALS` where a factor or term of ``explanation`` would
    not read as itself at ``decimals`` (an avgpool's 2/3 between whole answers, printed 1,
    made ``(-3) × 1 = -2``)."""
    values = [value for term in explanation.terms
              for value in (term.value, *(factor.value for factor in term.factors))]
    for value in values:
        number = float(value)
        if abs(round(number, decimals) - number) > 1e-9 * max(1.0, abs(number)):
            return max(decimals, WORKED_DECIMALS)
    return decimals


def _explanations(exercise) -> dict[str, list[str]]:
    """Asked kernel gradient → the text of ``explain`` for its first entries (a build whose
    explain does not cover a layer gets none)."""
    from cnngrad.teach.explain import explain
    from cnngrad.render.explain import explanation_text

    out: dict[str, list[str]] = {}
    decimals = exercise.key_decimals + (2 if exercise.inexact else 0)
    for path in exercise.asked:
        if not path.endswith(".grads.kernel"):
            continue
        shape = np.shape(exercise.truth[path])
        texts = []
        indices = list(np.ndindex(*shape))
        # one entry past the cap is worked out too: a line naming how to get "the other 1"
        # would take the room of the sum itself (a 3×3 kernel is shown whole)
        shown = len(indices) if len(indices) <= MAX_EXPLAINED + 1 else MAX_EXPLAINED
        for index in indices[:shown]:
            element = f"{path}[{','.join(map(str, index))}]" if index else path
            try:
                explanation = explain(exercise.trace, element)
                texts.append(explanation_text(explanation, _worked_decimals(explanation,
                                                                            decimals),
                                              width=SHEET_WIDTH))
            except (CnnGradError, AttributeError, KeyError, NotImplementedError, ValueError):
                # a layer this build's explain does not take apart: the values alone
                texts = []
                break
        if texts:
            if shown < len(indices):
                following = ",".join(map(str, indices[shown]))
                # the command on a line of its own: with the words before it, it passed 80
                texts.append(f"(the other {len(indices) - shown} entries:\n"
                             f" cnngrad explain problem.json '{path}[{following}]', and so "
                             f"on)\n")
            out[path] = texts
    return out


# --------------------------------------------------------------------------- Markdown


#: The exercise sheet's last line: a practice sheet tells how to check the answers; an exam's
#: must not (check prints the true value beside each wrong one).
_PRACTICE_END = ("Write your answers into `answers-template.json` (replace each `null` by your "
                 "value) and check them with `cnngrad check problem.json "
                 "answers-template.json`.")
_EXAM_END = ("Write your answers into `answers-template.json` (replace each `null` by your "
             "value) and hand it in.")


def _exercise_md(exercise, given, asked, exam: bool = False) -> str:
    from cnngrad.render.markdown import heading_text, tensor_markdown

    total = sum(points for *_, points in asked)
    layers, loss = _layer_lines(exercise)
    parts = [f"# Exercise: {heading_text(exercise.title)}", "## The network",
             "\n".join(f"{i}. {line}" for i, line in enumerate(layers, 1)), loss, "## Given"]
    for label, words, value, decimals in given:
        parts.append(f"{words[0].upper()}{words[1:]}:")  # every description starts in ASCII
        parts += tensor_markdown(label, value, decimals)
    rows = ["| path | what | shape | points |", "|---|---|---|--:|"]
    rows += [f"| `{path}` | {words} | {shape} | {points} |" for path, words, shape, points
             in asked]
    parts += [f"## Asked ({total} points)", "\n".join(rows), _decimals_sentence(exercise),
              _EXAM_END if exam else _PRACTICE_END]
    return "\n\n".join(parts) + "\n"


def _solution_md(exercise, asked, explained) -> str:
    from cnngrad.render.markdown import heading_text, tensor_markdown

    parts = [f"# Solution: {heading_text(exercise.title)}", _solution_decimals_sentence(exercise)]
    for path, words, shape, points in asked:
        parts.append(f"## `{path}`: {words} ({_points(points)})")
        parts += tensor_markdown(path, _shown(exercise.truth[path], exercise),
                                 exercise.key_decimals)
        for text in explained.get(path, []):
            parts.append("```text\n" + text.rstrip("\n") + "\n```")
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- LaTeX

_PREAMBLE = r"""% {what}, written by cnngrad generate
% compile with lualatex or xelatex: the worked sums are printed as cnngrad prints them, in
% Unicode (δ, Σ, ×), in a monospaced font that has them
\documentclass{{article}}
\usepackage{{amsmath}}
\usepackage{{graphicx}}
\usepackage{{fontspec}}
\IfFontExistsTF{{DejaVu Sans Mono}}{{\setmonofont{{DejaVu Sans Mono}}[Scale=0.85]}}{{}}
\setcounter{{MaxMatrixCols}}{{{columns}}}
% an equation wider than the text (a 16-column matrix) scaled down to it, not cut at the
% page's edge
\newcommand{{\fitted}}[1]{{\resizebox{{\ifdim\width>\linewidth\linewidth\else\width\fi}}{{!}}{{$\displaystyle #1$}}}}
\begin{{document}}
"""

#: The least MaxMatrixCols a sheet sets (amsmath's default is 10); more where a matrix is
#: wider (a 24×24 transposed conv's output), which amsmath would refuse.
SHEET_MATRIX_COLUMNS = 20

_MATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.S)


def _fitted(equations: list[str]) -> list[str]:
    """Display equations (``\\[ ... \\]``) each scaled down to the text's width where wider
    (the preamble's ``\\fitted``): a 16×16 answer lost 5 of its columns past the page's
    edge."""
    return [rf"\[ \fitted{{{equation[3:-3]}}} \]"
            if equation.startswith("\\[ ") and equation.endswith(" \\]") else equation
            for equation in equations]


def _sheet_tex(what: str, lines: list[str]) -> str:
    """A LaTeX sheet: the preamble, with room for its widest matrix, then ``lines``."""
    body = "\n".join(lines) + "\n"
    widest = max((row.count("&") + 1 for matrix in _MATRIX.findall(body)
                  for row in matrix.split("\\\\")), default=0)
    return _PREAMBLE.format(what=what, columns=max(SHEET_MATRIX_COLUMNS, widest)) + "\n" + body

#: Unicode of the sheets' sentences, as math that every font can set.
_TEX_SYMBOLS = {"δ": r"$\delta$", "Σ": r"$\Sigma$", "×": r"$\times$", "→": r"$\to$",
                "−": "$-$", "½": r"$\frac{1}{2}$", "²": "$^2$", "γ": r"$\gamma$",
                "β": r"$\beta$", "·": r"$\cdot$", "…": r"\dots{}", "ε": r"$\varepsilon$",
                "≤": r"$\le$"}


def _tex_text(text: str) -> str:
    from cnngrad.render.latex import text_label

    text = "".join(_TEX_SYMBOLS.get(char, char) for char in text_label(text))
    # an option, not an en dash: under lualatex's fonts -{} - still joins into one
    return text.replace("--", r"\mbox{-}\mbox{-}")


def _exercise_tex(exercise, given, asked, exam: bool = False) -> str:
    from cnngrad.render.latex import tensor_equations

    total = sum(points for *_, points in asked)
    layers, loss = _layer_lines(exercise)
    lines = [rf"\section*{{Exercise: {_tex_text(exercise.title)}}}",
             r"\subsection*{The network}", r"\begin{enumerate}"]
    lines += [rf"  \item {_tex_text(line.replace('`', ''))}" for line in layers]
    lines += [r"\end{enumerate}", _tex_text(loss), r"\subsection*{Given}"]
    for label, words, value, decimals in given:
        lines.append(_tex_text(f"{words[0].upper()}{words[1:]}:"))
        lines += _fitted(tensor_equations(label, value, decimals, too_wide_note=False))
    lines += [rf"\subsection*{{Asked ({total} points)}}", r"\begin{itemize}"]
    lines += [rf"  \item \texttt{{{_tex_text(path)}}}: {_tex_text(words)} ({shape}, "
              rf"{_points(points)})" for path, words, shape, points in asked]
    # the file names and the command in typewriter type, as the Markdown sheet's `code`
    end = "".join(rf"\texttt{{{_tex_text(part)}}}" if k % 2 else _tex_text(part)
                  for k, part in enumerate((_EXAM_END if exam else _PRACTICE_END).split("`")))
    lines += [r"\end{itemize}", _tex_text(_decimals_sentence(exercise)), "", end,
              r"\end{document}"]
    return _sheet_tex("Exercise sheet", lines)


def _solution_tex(exercise, asked, explained) -> str:
    from cnngrad.render.latex import tensor_equations

    lines = [rf"\section*{{Solution: {_tex_text(exercise.title)}}}",
             _tex_text(_solution_decimals_sentence(exercise))]
    for path, words, shape, points in asked:
        lines.append(rf"\subsection*{{\texttt{{{_tex_text(path)}}}: {_tex_text(words)} "
                     rf"({_points(points)})}}")
        lines += _fitted(tensor_equations(path, _shown(exercise.truth[path], exercise),
                                          exercise.key_decimals, too_wide_note=False))
        for text in explained.get(path, []):
            lines += [r"\begin{verbatim}", text.rstrip("\n"), r"\end{verbatim}"]
    lines.append(r"\end{document}")
    return _sheet_tex("Solution sheet", lines)
