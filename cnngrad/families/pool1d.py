"""maxpool1d and avgpool1d: pooling along one axis (as torch.nn.functional.max_pool1d /
avg_pool1d, with maxpool2d's tie rule), everything cnngrad knows about them.

The numbers come from :mod:`cnngrad.layers.pool1d`.  A 1-D pool is a 2-D pool over maps one
row high with a 1×k window, so the textbook steps and the kinks are the 2-D pools', on
one-row views.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnngrad.families.base import Head, LayerFamily, shape_size, window_past_input
from cnngrad.layers._common import TIE_RULES, pool_output_size
from cnngrad.layers.pool import maxpool2d_argmax_mask
from cnngrad.layers.pool1d import (avgpool1d_backward, avgpool1d_forward, maxpool1d_backward,
                                   maxpool1d_forward)
from cnngrad.problem import LayerSpec

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.teach.explain import Explanation, TensorPath


@dataclass
class Pool1dSpec(LayerSpec):
    size: int = 2
    stride: int = 2
    padding: int = 0
    ceil_mode: bool = False
    ties: str = "first"  # maxpool1d only
    count_include_pad: bool = True  # avgpool1d only


def _one(ctx, value, where: str, what: str, minimum: int = 1) -> int:
    if isinstance(value, list):
        raise ctx.error(where, f"a 1-D pool's {what} is one integer, got a list of "
                               f"{len(value)}", f"give an integer ≥ {minimum}")
    return ctx.integer(value, where, minimum)


def build_pool1d(ctx, raw: dict, head: Head) -> Pool1dSpec:
    kind, where = head.kind, head.where
    n, c, length = ctx.need_map(head.in_shape, where, kind)
    if "size" not in raw:
        raise ctx.error(where, f"{kind} layer has no 'size'", "an integer ≥ 1")
    size = _one(ctx, raw["size"], head.at("size"), "size")
    stride = _one(ctx, raw["stride"], head.at("stride"), "stride") if "stride" in raw else size
    padding = _one(ctx, raw.get("padding", 0), head.at("padding"), "padding", 0)
    ceil_mode = ctx.boolean(raw.get("ceil_mode", False), head.at("ceil_mode"))
    if padding > size // 2:
        raise ctx.error(head.at("padding"), f"padding {padding} is more than half the window "
                                            f"{size}", f"at most {size // 2} (PyTorch's rule)")
    ctx.check_size(n * c * (length + 2 * padding), head.at("padding"), "the padded input")
    out = pool_output_size(length, padding, size, stride, ceil_mode)
    if out < 1:
        raise window_past_input(ctx, head.at("size"), (length,), (padding,), (size,),
                                (stride,), n * c)
    spec = Pool1dSpec(**head.spec_fields(), out_shape=(n, c, out), size=size, stride=stride,
                      padding=padding, ceil_mode=ceil_mode)
    if kind == "maxpool1d":
        spec.ties = ctx.choice(raw.get("ties", "first"), head.at("ties"), TIE_RULES, "tie rule")
    else:
        spec.count_include_pad = ctx.boolean(raw.get("count_include_pad", True),
                                             head.at("count_include_pad"))
    return spec


def _fields(kind: str) -> dict[str, dict]:
    fields = {
        "size": {"type": "integer", "minimum": 1},
        "stride": {"type": "integer", "minimum": 1, "description": "default: the size"},
        "padding": {"type": "integer", "minimum": 0, "default": 0,
                    "description": "at most half the window"},
        "ceil_mode": {"type": "boolean", "default": False},
    }
    if kind == "maxpool1d":
        fields["ties"] = {"enum": list(TIE_RULES), "default": "first"}
    else:
        fields["count_include_pad"] = {"type": "boolean", "default": True}
    return fields


def _args(spec: Pool1dSpec) -> dict:
    return dict(size=spec.size, stride=spec.stride, padding=spec.padding,
                ceil_mode=spec.ceil_mode)


# --------------------------------------------------------------------------- the 2-D views


def as_pool2d(spec: Pool1dSpec):
    """The same pool over one-row maps: a 1×k window."""
    from cnngrad.families.pool2d import Pool2dSpec

    n, c, out = spec.out_shape
    return Pool2dSpec(index=spec.index, name=spec.name, type=spec.type.replace("1d", "2d"),
                      where=spec.where, in_shape=spec.in_shape[:2] + (1,) + spec.in_shape[2:],
                      out_shape=(n, c, 1, out), inputs=spec.inputs, size=(1, spec.size),
                      stride=(1, spec.stride), padding=(0, spec.padding),
                      ceil_mode=spec.ceil_mode, ties=spec.ties,
                      count_include_pad=spec.count_include_pad)


def row_view(layer: LayerTrace) -> LayerTrace:
    """A 1-D pool's layer of a run as the 2-D pool over one-row maps (:func:`as_pool2d`):
    its maps (N, C, L) seen as (N, C, 1, L)."""
    from cnngrad.network import LayerTrace

    def row(a):
        return None if a is None else a[:, :, None, :]

    return LayerTrace(spec=as_pool2d(layer.spec), input=row(layer.input),
                      output=row(layer.output), delta_out=row(layer.delta_out),
                      delta_in=row(layer.delta_in), grads={})


class _OneRowLayout:
    """A layout that shows one-row (N, C, 1, L) views as the 1-D maps they are."""

    def __init__(self, layout) -> None:
        self._layout = layout

    def __getattr__(self, name):
        return getattr(self._layout, name)

    @staticmethod
    def _drop(shape):
        shape = tuple(shape)
        return shape[:2] + shape[3:] if len(shape) == 4 else shape

    def display_shape(self, internal_shape):
        return self._layout.display_shape(self._drop(internal_shape))

    def display_index(self, internal_shape, index):
        return self._layout.display_index(self._drop(internal_shape), self._drop(index))


class _OneRowProblem:
    def __init__(self, problem) -> None:
        self._problem = problem
        self.layout = _OneRowLayout(problem.layout)

    def __getattr__(self, name):
        return getattr(self._problem, name)


# --------------------------------------------------------------------------- explanation rules


def _windows_with(spec: Pool1dSpec, out: int, r: int) -> list[int]:
    return [i for i in range(out) if i * spec.stride - spec.padding <= r
            < i * spec.stride - spec.padding + spec.size]


def _window(spec: Pool1dSpec, length: int, i: int):
    """Window i: its real cells, the cells counted by avg pool with padding, its bounds."""
    start = i * spec.stride - spec.padding
    stop = min(start + spec.size, length + spec.padding)
    cells = [r for r in range(start, stop) if 0 <= r < length]
    return cells, stop - start, (start, stop)


def _window_numbers(layer, n, ch, bounds) -> dict[int, str]:
    """Each real cell of a window → its value as the explanation writes it
    (:func:`~cnngrad.teach.explain.shorts_apart`)."""
    from cnngrad.teach.explain import shorts_apart

    cells = [r for r in range(*bounds) if 0 <= r < layer.input.shape[2]]
    return dict(zip(cells, shorts_apart([layer.input[n, ch, r] for r in cells])))


def _window_text(ex, layer, n, ch, numbers: dict[int, str], bounds) -> str:
    """The window's cells, ``numbers`` (:func:`_window_numbers`) where real, else "pad"."""
    o = ex.map_named("o", layer.input.shape)
    start, stop = bounds
    cells = [numbers.get(r, "pad") for r in range(start, stop)]
    return f"{o(n, ch, start)}…{o(n, ch, stop - 1)} = [{' '.join(cells)}]"


def _winners(layer, n, ch, cells):
    values = [layer.input[n, ch, r] for r in cells]
    top = max(values)
    return top, [r for r, v in zip(cells, values) if v == top]


def _share(ex, ties: str, r: int, winners: list[int]):
    if r not in winners:
        return 0
    if ties == "first":
        return 1 if r == winners[0] else 0
    if ties == "split":
        return ex.frac(1, len(winners))
    return 1


_TIES = {
    "first": "Tie rule 'first' (PyTorch's): when a window's maximum appears more than once, "
             "the first of them takes the whole delta.",
    "split": "Tie rule 'split': tied maxima share the window's delta equally.",
    "all": "Tie rule 'all': every tied maximum takes the window's whole delta.",
}


def delta_in_maxpool1d(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.families.pool2d import CEIL_NOTE, max_rule_text, max_share_text
    from cnngrad.teach.explain import Factor, scalar, short

    spec: Pool1dSpec = layer.spec
    n, ch, r = index
    length, out = layer.input.shape[2], layer.output.shape[2]
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    delta = ex.map_named("δ", layer.output.shape)
    terms, notes = [], []
    for i in _windows_with(spec, out, r):
        cells, _, bounds = _window(spec, length, i)
        _, winners = _winners(layer, n, ch, cells)
        share = _share(ex, spec.ties, r, winners)
        why = None
        if r not in winners:
            why = "not the window's maximum"
        elif share == 0:
            why = f"tied, and rule '{spec.ties}' picks {o(n, ch, winners[0])}"
        fraction = max_share_text(spec.ties, share, winners)
        terms.append(ex.term(Factor(delta(n, ch, i), scalar(layer.delta_out[n, ch, i])),
                             Factor(f"∂{x(n, ch, i)}/∂{o(*index)}", share, zero_reason=why,
                                    detail=fraction)))
        numbers = _window_numbers(layer, n, ch, bounds)
        text = (f"window of {x(n, ch, i)}: {_window_text(ex, layer, n, ch, numbers, bounds)}; "
                f"its maximum {numbers[winners[0]]} is at "
                f"{', '.join(o(n, ch, w) for w in winners)}")
        if len(winners) > 1:
            text += f" (a tie of {len(winners)}; rule '{spec.ties}')"
        notes.append(text + f", so {o(*index)} gets {fraction or short(share)} of "
                            f"{delta(n, ch, i)}.")
    if not terms:
        notes.append(f"{o(*index)} lies in no window, so nothing flows back to it.")
    notes.append(_TIES[spec.ties])
    if spec.ceil_mode and any(_window(spec, length, i)[1] < spec.size
                              for i in _windows_with(spec, out, r)):
        notes.append(CEIL_NOTE)
    lhs = f"dE/d{o(*index)}"
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=f"Σ over the windows containing {o(*index)} of δ[window]·"
                                  f"{max_rule_text(o(*index), spec.ties)}",
                     terms=terms, symbols=ex.layer_symbols(layer), notes=notes)


def output_maxpool1d(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import MAXIMUM, Factor, scalar

    spec: Pool1dSpec = layer.spec
    n, ch, i = index
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    cells, _, bounds = _window(spec, layer.input.shape[2], i)
    _, winners = _winners(layer, n, ch, cells)
    terms = [ex.term(Factor(o(n, ch, r), scalar(layer.input[n, ch, r])),
                     note=MAXIMUM if r in winners else None) for r in cells]
    numbers = _window_numbers(layer, n, ch, bounds)
    notes = [f"the window: {_window_text(ex, layer, n, ch, numbers, bounds)}."]
    if len(winners) > 1:
        notes.append(f"The maximum is tied between {', '.join(o(n, ch, w) for w in winners)}; "
                     f"backward, rule '{spec.ties}' decides who gets the delta.")
    if spec.padding:
        notes.append("Padded cells count as −∞: they never win a window.")
    return ex.finish(path, title=f"{x(*index)}: the largest value in its window of "
                                   f"{layer.name}'s input", lhs=x(*index),
                     rhs=(f"max of the window's {len(cells)} cells" if len(cells) != 1
                          else "the window's one cell"), terms=terms,
                     symbols=ex.layer_symbols(layer), notes=notes, operation="max")


def _divisor(spec: Pool1dSpec, length: int, i: int):
    cells, padded, bounds = _window(spec, length, i)
    return cells, (padded if spec.count_include_pad else len(cells)), bounds


def delta_in_avgpool1d(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    spec: Pool1dSpec = layer.spec
    n, ch, r = index
    length, out = layer.input.shape[2], layer.output.shape[2]
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    delta = ex.map_named("δ", layer.output.shape)
    terms, notes = [], []
    for i in _windows_with(spec, out, r):
        _, divisor, _ = _divisor(spec, length, i)
        terms.append(ex.term(Factor(delta(n, ch, i), scalar(layer.delta_out[n, ch, i])),
                             Factor(f"∂{x(n, ch, i)}/∂{o(*index)}", ex.frac(1, divisor),
                                    detail=f"1/{divisor}")))
        notes.append(f"window of {x(n, ch, i)}: divisor {divisor}.")
    if not terms:
        notes.append(f"{o(*index)} lies in no window, so nothing flows back to it.")
    notes.append("Average pooling: every cell of a window gets δ/divisor; overlapping windows "
                 "add up" + ("; the divisor counts padded cells (count_include_pad)."
                             if spec.padding and spec.count_include_pad else "."))
    lhs = f"dE/d{o(*index)}"
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=f"Σ over the windows containing {o(*index)} of "
                                  f"δ[window] / divisor[window]",
                     terms=terms, symbols=ex.layer_symbols(layer), notes=notes)


def output_avgpool1d(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    spec: Pool1dSpec = layer.spec
    n, ch, i = index
    length = layer.input.shape[2]
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    cells, divisor, (start, stop) = _divisor(spec, length, i)
    share = Factor(f"1/{divisor}", ex.frac(1, divisor))
    terms = []
    for r in range(start, stop):
        cell = Factor(o(n, ch, r), scalar(layer.input[n, ch, r])) if r in cells else \
            Factor(o(n, ch, r), 0, note="padding: zero", zero_reason="o is zero padding")
        terms.append(ex.term(share, cell, note=cell.note))
    return ex.finish(path, title=f"{x(*index)}: the mean of its window of {layer.name}'s "
                                   f"input", lhs=x(*index),
                     rhs=f"Σ over the window of o / {divisor}", terms=terms,
                     symbols=ex.layer_symbols(layer),
                     notes=[f"divisor {divisor}: the window's "
                            + ("cells inside the padded input" if spec.count_include_pad
                               else "real cells") + "."])


def _overhang_notes(spec: Pool1dSpec) -> list:
    """ceil_mode windows hanging past the padded input: notes, not kinks (as in 2-D: the
    divisor is a constant and a max over fewer cells is still a max)."""
    from cnngrad.teach.gradcheck import Kink

    if not spec.ceil_mode:
        return []
    length = spec.in_shape[2]
    notes = []
    for i in range(spec.out_shape[2]):
        cells, padded, _ = _window(spec, length, i)
        if padded >= spec.size:
            continue
        head = (f"window [{i}] (of every map) hangs past the padded input (ceil_mode): it "
                f"keeps {padded} of its {spec.size} cells")
        if spec.type == "avgpool1d":
            used = padded if spec.count_include_pad else len(cells)
            tail = (f"; avg pool divides by {used}, not {spec.size} (PyTorch's rule). The "
                    f"divisor is a constant, so E is smooth here: a note, not a kink")
        else:
            tail = ("; max pool takes the maximum of those. Smooth here (unless they tie): a "
                    "note, not a kink")
        notes.append(Kink(spec.name, "ceil_overhang", (i,), (), None, head + tail))
    return notes


# --------------------------------------------------------------------------- the families


def _ties(rule: str):
    return lambda spec: dataclasses.replace(spec, ties=rule) \
        if isinstance(spec, Pool1dSpec) and spec.ties != rule else None


class _Pool1d(LayerFamily):
    kink_kinds = {
        "tie": "a max-pool window whose maximum is reached by more than one cell",
        "near_tie": "a max-pool window whose top values are within a finite-difference step",
        "ceil_overhang": "a ceil_mode window hanging past the padded input (smooth: a note only)",
    }
    smooth_kink_kinds = ("ceil_overhang",)
    since = "1.1"  # contract v1.1
    spatial = 1
    required = ("size",)
    #: work per output and window cell: max pool's backward visits the window cell by cell
    #: (compare, then scatter)
    window_visits = 2

    def window(self, spec):
        return (spec.size,)

    def work(self, spec):
        out = shape_size(spec.out_shape)
        return (self.window_visits * out * spec.size,
                f"{out:,} outputs × a window of {spec.size}")

    def build(self, ctx, raw, head):
        return build_pool1d(ctx, raw, head)

    def schema_fields(self, ref):
        return _fields(self.type)

    def settings(self, spec):
        out = [("window", str(spec.size)), ("stride", str(spec.stride))]
        if spec.padding:
            out.append(("padding", str(spec.padding)))
        if spec.ceil_mode:
            out.append(("ceil mode", "on"))
        return out

    def textbook(self, layer, layout):
        from cnngrad.families.pool2d import avgpool_textbook, maxpool_textbook
        from cnngrad.teach.steps import Textbook, one_row_steps

        row = row_view(layer)
        route = maxpool_textbook if self.type == "maxpool1d" else avgpool_textbook
        book = route(row.spec, row.input, row.delta_out, layout)
        return Textbook(steps=one_row_steps(book.steps), delta_in=book.delta_in[:, :, 0, :])


class MaxPool1d(_Pool1d):
    type = "maxpool1d"
    takes_maxima = True
    fields = ("size", "stride", "padding", "ceil_mode", "ties")
    window_visits = 8

    def kink_cells(self, spec):
        # every window tied (a map of zeros): each cell of each window named
        return shape_size(spec.out_shape) * spec.size

    def forward(self, spec, inputs):
        return maxpool1d_forward(inputs[0], **_args(spec))

    def backward(self, spec, inputs, output, delta_out):
        return [maxpool1d_backward(inputs[0], delta_out, ties=spec.ties, **_args(spec))], {}

    def settings(self, spec):
        return super().settings(spec) + [("ties", spec.ties)]

    def input_marks(self, layer):
        spec = layer.spec
        weights = maxpool2d_argmax_mask(layer.input[:, :, None, :], (1, spec.size),
                                        (1, spec.stride), (0, spec.padding), spec.ceil_mode,
                                        spec.ties)
        return np.asarray(weights[:, :, 0, :] != 0, dtype=bool)

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_maxpool1d(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_maxpool1d(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)

    def kinks(self, problem, layer, reach):
        from cnngrad.families.pool2d import _maxpool_kinks

        # the windows' flat indices into a one-row view are those into the 1-D map
        found, watch = _maxpool_kinks(_OneRowProblem(problem), row_view(layer), reach)
        return found + _overhang_notes(layer.spec), watch

    #: its output is some of its input's values, unrounded (cnngrad.kinks: a tie between
    #: numbers as given is a float tie)
    copies_values = True

    def near_kinks(self, spec, inputs, magnitudes, tolerance, output=None):
        from cnngrad.families.pool2d import maxpool_near_ties

        return maxpool_near_ties(as_pool2d(spec), inputs[0][:, :, None, :],
                                 np.asarray(magnitudes[0])[:, :, None, :], tolerance,
                                 one_row=True,
                                 output=None if output is None else output[:, :, None, :])

    def slips(self):
        from cnngrad.teach.diagnose import Slip, slip_in_trace, replace_backward

        return [
            (33, Slip("maxpool1d_ties_all", "matches the tie going to every maximum",
                      slip_in_trace("maxpool1d_ties_all",
                                    replace_backward(self.type, _ties("all"))))),
            (34, Slip("maxpool1d_ties_split", "matches the tie shared equally among the maxima",
                      slip_in_trace("maxpool1d_ties_split",
                                    replace_backward(self.type, _ties("split"))))),
            (35, Slip("maxpool1d_ties_first", "matches the tie going to the first maximum only",
                      slip_in_trace("maxpool1d_ties_first",
                                    replace_backward(self.type, _ties("first"))))),
        ]


def _delta_to_every_cell(spec, x, y, delta):
    # the slip: each window's δ, whole, to every cell of the window (not divided by its size)
    return avgpool1d_backward(x, delta, count_include_pad=True, **_args(spec)) * spec.size, {}


class AvgPool1d(_Pool1d):
    type = "avgpool1d"
    fields = ("size", "stride", "padding", "ceil_mode", "count_include_pad")

    def convention(self, spec):
        from cnngrad.families.pool2d import average_convention

        return average_convention(bool(spec.padding), spec.count_include_pad)

    def divisors(self, spec):
        length = spec.in_shape[2]
        counts = {_divisor(spec, length, i)[1] for i in range(spec.out_shape[2])}
        return tuple((Fraction(count), f"averages {count} cells") for count in sorted(counts))

    def summed_terms(self, spec):  # a window's cells inside the padded input
        return min(spec.size, spec.in_shape[2] + 2 * spec.padding)

    def forward(self, spec, inputs):
        return avgpool1d_forward(inputs[0], count_include_pad=spec.count_include_pad,
                                 **_args(spec))

    def backward(self, spec, inputs, output, delta_out):
        return [avgpool1d_backward(inputs[0], delta_out,
                                   count_include_pad=spec.count_include_pad, **_args(spec))], {}

    def settings(self, spec):
        out = super().settings(spec)
        if spec.padding:
            out.append(("averages", "padding too" if spec.count_include_pad
                        else "input cells only"))
        return out

    def kinks(self, problem, layer, reach):
        return _overhang_notes(layer.spec), None

    def slips(self):
        from cnngrad.families.pool2d import whole_windows
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace

        return [
            (37, Slip("avgpool1d_not_divided",
                      "matches the delta sent to every cell of the 1-D window without dividing "
                      "it by the window's size",
                      slip_in_trace("avgpool1d_not_divided", custom_backward(
                            whole_windows(self.type), _delta_to_every_cell)))),
        ]

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_avgpool1d(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_avgpool1d(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)


MAXPOOL1D = MaxPool1d()
AVGPOOL1D = AvgPool1d()
