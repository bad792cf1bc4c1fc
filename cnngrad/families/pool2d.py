"""maxpool2d and avgpool2d: 2-D max and average pooling (as torch.nn.MaxPool2d / AvgPool2d,
with a tie rule for max pooling), everything cnngrad knows about them.

The numbers come from :mod:`cnngrad.layers.pool`, imported with this module: only a problem
with a pooling layer loads either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import dataclasses
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from cnngrad.errors import and_list, join_path
from cnngrad.families.base import Head, LayerFamily, shape_size, side_path, window_past_input
from cnngrad.layers._common import TIE_RULES, pool_output_size
from cnngrad.layers.pool import (avgpool2d_backward, avgpool2d_divisors, avgpool2d_forward,
                                 maxpool2d_argmax_mask, maxpool2d_backward, maxpool2d_forward,
                                 maxpool2d_tied_windows)
from cnngrad.problem import LayerSpec, pair_text, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace
    from cnngrad.problem import Layout, Problem
    from cnngrad.teach.explain import Explanation, TensorPath
    from cnngrad.teach.gradcheck import Kink, LayerWatch
    from cnngrad.teach.steps import Step, Textbook


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class Pool2dSpec(LayerSpec):
    size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)
    ceil_mode: bool = False
    ties: str = "first"  # maxpool2d only
    count_include_pad: bool = True  # avgpool2d only


# ------------------------------------------------------------------------------- reading a problem


def build_pool2d(ctx, raw: dict, head: Head) -> Pool2dSpec:
    index, name, kind, where, shape = head.index, head.name, head.kind, head.where, head.in_shape
    n, c, h, w = ctx.need_map(shape, where, kind)
    f = lambda key: join_path(where, key)  # noqa: E731
    if "size" not in raw:
        raise ctx.error(where, f"{kind} layer has no 'size'")
    size = ctx.int_pair(raw["size"], f("size"))
    stride = ctx.int_pair(raw["stride"], f("stride")) if "stride" in raw else size
    padding = ctx.int_pair(raw.get("padding", 0), f("padding"), 0)
    ceil_mode = ctx.boolean(raw.get("ceil_mode", False), f("ceil_mode"))
    for axis_index, (p, k, axis) in enumerate(zip(padding, size, ("rows", "columns"))):
        if p > k // 2:
            # a window or padding that differs by axis: say which axis breaks the rule
            along = f" along the {axis}" if size[0] != size[1] or padding[0] != padding[1] \
                else ""
            # the element that breaks it, when only one does
            raise ctx.error(side_path(f("padding"), raw.get("padding"), {2: axis_index})
                            if along else f("padding"),
                            f"padding {p} is more than half the window "
                                           f"{shape_text(size)}{along}",
                            f"at most {k // 2}{' there' if along else ''} (PyTorch's rule)")
    ctx.check_size(n * c * (h + 2 * padding[0]) * (w + 2 * padding[1]), f("padding"),
                   "the padded input")
    h_out = pool_output_size(h, padding[0], size[0], stride[0], ceil_mode)
    w_out = pool_output_size(w, padding[1], size[1], stride[1], ceil_mode)
    # with ceil_mode a window larger than the padded input still gives one output (it
    # hangs over the edge, as in PyTorch); without it there is no output at all
    if h_out < 1 or w_out < 1:
        raise window_past_input(ctx, f("size"), (h, w), padding, size, stride,
                                n * c)
    return Pool2dSpec(index=index, name=name, type=kind, where=where,
                      out_shape=(n, c, h_out, w_out), size=size, stride=stride,
                      padding=padding, ceil_mode=ceil_mode)


def build_maxpool2d(ctx, raw: dict, head: Head) -> Pool2dSpec:
    spec = build_pool2d(ctx, raw, head)
    spec.ties = ctx.choice(raw.get("ties", "first"), head.at("ties"), TIE_RULES, "tie rule")
    return spec


def build_avgpool2d(ctx, raw: dict, head: Head) -> Pool2dSpec:
    spec = build_pool2d(ctx, raw, head)
    spec.count_include_pad = ctx.boolean(raw.get("count_include_pad", True),
                                         head.at("count_include_pad"))
    return spec


# ------------------------------------------------------------------------------------- JSON Schema


def _pool_fields(ref, kind: str) -> dict[str, dict]:
    fields = {
        "size": ref("int_pair"),
        "stride": {**ref("int_pair"), "description": "default: the size"},
        "padding": {**ref("pool_padding"), "default": 0},
        "ceil_mode": {"type": "boolean", "default": False},
    }
    if kind == "maxpool2d":
        fields["ties"] = {"enum": list(TIE_RULES), "default": "first"}
    elif kind == "avgpool2d":
        fields["count_include_pad"] = {"type": "boolean", "default": True}
    else:
        raise ValueError(f"not a pooling layer: {kind!r}; allowed: maxpool2d, avgpool2d")
    return fields


# ---------------------------------------------------------------------------------------- the step


def _pool_args(spec: Pool2dSpec) -> dict:
    return dict(size=spec.size, stride=spec.stride, padding=spec.padding,
                ceil_mode=spec.ceil_mode)


def _maxpool_forward(spec: Pool2dSpec, x):
    return maxpool2d_forward(x, **_pool_args(spec))


def _maxpool_backward(spec: Pool2dSpec, x, y, delta_out):
    return maxpool2d_backward(x, delta_out, ties=spec.ties, **_pool_args(spec)), {}


def _avgpool_forward(spec: Pool2dSpec, x):
    return avgpool2d_forward(x, count_include_pad=spec.count_include_pad, **_pool_args(spec))


def _avgpool_backward(spec: Pool2dSpec, x, y, delta_out):
    return avgpool2d_backward(x, delta_out, count_include_pad=spec.count_include_pad,
                              **_pool_args(spec)), {}


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def pool_windows(ex, layer: LayerTrace, r: int, q: int):
    """The output cells (i, j) whose window contains input cell (r, q)."""
    spec: Pool2dSpec = layer.spec
    (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
    h_out, w_out = layer.output.shape[2:]
    rows = [i for i in range(h_out) if i * sh - ph <= r < i * sh - ph + kh]
    cols = [j for j in range(w_out) if j * sw - pw <= q < j * sw - pw + kw]
    return [(i, j) for i in rows for j in cols]


def pool_window(ex, layer: LayerTrace, i: int, j: int):
    """Window (i, j): its real cells in row-major order, and PyTorch's divisors (cells
    inside the padded input; real cells)."""
    spec: Pool2dSpec = layer.spec
    (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
    h, w = layer.input.shape[2:]
    top, left = i * sh - ph, j * sw - pw
    bottom, right = min(top + kh, h + ph), min(left + kw, w + pw)
    cells = [(r, c) for r in range(top, bottom) for c in range(left, right)
             if 0 <= r < h and 0 <= c < w]
    return cells, (bottom - top) * (right - left), (top, bottom, left, right)


def window_numbers(layer, n, ch, cells) -> dict:
    """Each real cell of a window → its value as the explanation writes it
    (:func:`~cnngrad.teach.explain.shorts_apart`: a maximum never reads as a value it
    beats)."""
    from cnngrad.teach.explain import shorts_apart

    return dict(zip(cells, shorts_apart([layer.input[n, ch, r, c] for r, c in cells])))


def window_text(ex, layer, n, ch, numbers: dict, bounds) -> str:
    """The window's cells row by row, ``numbers`` (:func:`window_numbers`) where real, else
    "pad"."""
    o = ex.map_named("o", layer.input.shape)
    top, bottom, left, right = bounds
    rows = []
    for r in range(top, bottom):
        rows.append(" ".join(numbers.get((r, c), "pad") for c in range(left, right)))
    return (f"{o(n, ch, top, left)}…{o(n, ch, bottom - 1, right - 1)} = "
            f"[{'; '.join(rows)}]")


def max_winners(ex, layer, n, ch, cells):
    values = [layer.input[n, ch, r, c] for r, c in cells]
    top = max(values)
    return top, [cell for cell, v in zip(cells, values) if v == top]


def max_share(ex, ties: str, cell, winners):
    if cell not in winners:
        return 0
    if ties == "first":
        return 1 if cell == winners[0] else 0
    if ties == "split":
        return ex.frac(1, len(winners))
    if ties == "all":
        return 1
    raise ValueError(f"unknown tie rule {ties!r}; allowed: first, split, all")


def ceil_note(ex, layer: LayerTrace, windows) -> list[str]:
    """A note when one of ``windows`` ((i, j) pairs) is a ceil_mode window cut short by the
    padded input's far edge (a 1-cell window reads as a mistake otherwise): its cells inside
    the padded input (:func:`pool_window`) are fewer than the window's."""
    spec: Pool2dSpec = layer.spec
    if not spec.ceil_mode:
        return []
    whole = spec.size[0] * spec.size[1]
    short = any(pool_window(ex, layer, i, j)[1] < whole for i, j in windows)
    return [CEIL_NOTE] if short else []


#: A ceil_mode window cut short by the padded input's far edge (pool1d's too).
CEIL_NOTE = ("ceil_mode: the last window of a row or column runs past the (padded) input; "
             "only the cells inside it count.")


def max_rule_text(cell: str, ties: str) -> str:
    """The local derivative of a max pool's window at ``cell``, as the tie rule reads it."""
    return {"split": f"[{cell} is a maximum of the window]/(the window's number of maxima)",
            "all": f"[{cell} is a maximum of the window]"}.get(
                ties, f"[{cell} is the window's chosen maximum]")


def max_share_text(ties: str, share, winners) -> str | None:
    """A split tie's share as a fraction (``1/3``, not 0.333333); None for any other."""
    from fractions import Fraction

    if ties == "split" and len(winners) > 1 and share != 0:
        return str(Fraction(1, len(winners)))
    return None


def delta_in_maxpool(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar, short

    spec: Pool2dSpec = layer.spec
    n, ch, r, q = index
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    delta = ex.map_named("δ", layer.output.shape)
    terms, notes = [], []
    for i, j in pool_windows(ex, layer, r, q):
        cells, _, bounds = pool_window(ex, layer, i, j)
        _, winners = max_winners(ex, layer, n, ch, cells)
        share = max_share(ex, spec.ties, (r, q), winners)
        why = None
        if (r, q) not in winners:
            why = "not the window's maximum"
        elif share == 0:
            why = f"tied, and rule '{spec.ties}' picks {o(n, ch, *winners[0])}"
        fraction = max_share_text(spec.ties, share, winners)
        local = Factor(f"∂{x(n, ch, i, j)}/∂{o(*index)}", share, zero_reason=why,
                       detail=fraction)
        terms.append(ex.term(Factor(delta(n, ch, i, j), scalar(layer.delta_out[n, ch, i, j])),
                             local))
        where = ", ".join(o(n, ch, *cell) for cell in winners)
        numbers = window_numbers(layer, n, ch, cells)
        text = (f"window of {x(n, ch, i, j)}: {window_text(ex, layer, n, ch, numbers, bounds)};"
                f" its maximum {numbers[winners[0]]} is at {where}")
        if len(winners) > 1:
            text += f" (a tie of {len(winners)}; rule '{spec.ties}')"
        text += f", so {o(*index)} gets {fraction or short(share)} of {delta(n, ch, i, j)}."
        notes.append(text)
    if not terms:
        notes.append(f"{o(*index)} lies in no window (the windows skip it), so nothing "
                     f"flows back to it.")
    notes.append(_TIE_TEXT[spec.ties])
    notes += ceil_note(ex, layer, pool_windows(ex, layer, r, q))
    if spec.padding != (0, 0):
        notes.append("Padded cells count as −∞: they never win a window.")
    if spec.stride[0] < spec.size[0] or spec.stride[1] < spec.size[1]:
        notes.append("The windows overlap (stride < size): a cell collects the delta of "
                     "every window it wins.")
    lhs = f"dE/d{o(*index)}"
    rhs = (f"Σ over the windows containing {o(*index)} of δ[window]·"
           f"{max_rule_text(o(*index), spec.ties)}")
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=rhs, terms=terms, symbols=ex.layer_symbols(layer),
                     notes=notes)


def output_maxpool(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import MAXIMUM, Factor, scalar

    spec: Pool2dSpec = layer.spec
    n, ch, i, j = index
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    cells, _, bounds = pool_window(ex, layer, i, j)
    _, winners = max_winners(ex, layer, n, ch, cells)
    terms = [ex.term(Factor(o(n, ch, *cell), scalar(layer.input[(n, ch) + cell])),
                     note=MAXIMUM if cell in winners else None) for cell in cells]
    numbers = window_numbers(layer, n, ch, cells)
    notes = [f"the window: {window_text(ex, layer, n, ch, numbers, bounds)}.",
             *ceil_note(ex, layer, [(i, j)])]
    if len(winners) > 1:
        notes.append(f"The maximum is tied between {', '.join(o(n, ch, *c) for c in winners)};"
                     f" backward, rule '{spec.ties}' decides who gets the delta.")
    if spec.padding != (0, 0):
        notes.append("Padded cells count as −∞: they never win a window.")
    return ex.finish(path, title=f"{x(*index)}: the largest value in its window of "
                                   f"{layer.name}'s input",
                     lhs=x(*index),
                     rhs=(f"max of the window's {len(cells)} cells" if len(cells) != 1
                          else "the window's one cell"),
                     terms=terms, symbols=ex.layer_symbols(layer), notes=notes,
                     operation="max")


def avg_divisor(ex, layer: LayerTrace, i: int, j: int):
    spec: Pool2dSpec = layer.spec
    cells, padded, bounds = pool_window(ex, layer, i, j)
    divisor = padded if spec.count_include_pad else len(cells)
    top, bottom, left, right = bounds
    why = (f"the window's {bottom - top}×{right - left} cells inside the padded input"
           if spec.count_include_pad else
           f"the window's {len(cells)} real cell{'s' if len(cells) != 1 else ''} "
           f"(count_include_pad false)")
    return cells, divisor, why, bounds


def delta_in_avgpool(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    n, ch, r, q = index
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    delta = ex.map_named("δ", layer.output.shape)
    terms, notes = [], []
    for i, j in pool_windows(ex, layer, r, q):
        _, divisor, why, _ = avg_divisor(ex, layer, i, j)
        terms.append(ex.term(
            Factor(delta(n, ch, i, j), scalar(layer.delta_out[n, ch, i, j])),
            Factor(f"∂{x(n, ch, i, j)}/∂{o(*index)}", ex.frac(1, divisor),
                   detail=f"1/{divisor}")))
        notes.append(f"window of {x(n, ch, i, j)}: divisor {divisor} = {why}.")
    if not terms:
        notes.append(f"{o(*index)} lies in no window, so nothing flows back to it.")
    lhs = f"dE/d{o(*index)}"
    rhs = f"Σ over the windows containing {o(*index)} of δ[window] / divisor[window]"
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=rhs, terms=terms, symbols=ex.layer_symbols(layer),
                     notes=notes + [_AVG_TEXT])


def output_avgpool(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, scalar

    spec: Pool2dSpec = layer.spec
    n, ch, i, j = index
    o = ex.map_named("o", layer.input.shape)
    x = ex.map_named("x", layer.output.shape)
    cells, divisor, why, (top, bottom, left, right) = avg_divisor(ex, layer, i, j)
    share = Factor(f"1/{divisor}", ex.frac(1, divisor))
    terms = []
    for r in range(top, bottom):
        for c in range(left, right):
            if (r, c) in cells:
                cell = Factor(o(n, ch, r, c), scalar(layer.input[n, ch, r, c]))
            else:
                cell = Factor(o(n, ch, r, c), 0, note="padding: zero",
                              zero_reason="o is zero padding")
            terms.append(ex.term(share, cell, note=cell.note))
    return ex.finish(path, title=f"{x(*index)}: the mean of its window of "
                                   f"{layer.name}'s input",
                     lhs=x(*index), rhs=f"Σ over the window of o / {divisor}",
                     terms=terms, symbols=ex.layer_symbols(layer),
                     notes=[f"divisor {divisor} = {why}."]
                     + (["Padded cells are zeros."] if spec.padding != (0, 0) else []))


_TIE_TEXT = {
    "first": "Tie rule 'first' (PyTorch's): when a window's maximum appears more than once, "
             "the first of them in row-major order takes the whole delta.",
    "split": "Tie rule 'split': tied maxima share the window's delta equally.",
    "all": "Tie rule 'all': every tied maximum takes the window's whole delta.",
}


_AVG_TEXT = ("Average pooling: x = (sum of the window) / divisor, so every cell of the window "
             "gets δ/divisor; overlapping windows add up.")


# ------------------------------------------------------------------- textbook steps (--show-steps)


def _pool_grid(spec: Pool2dSpec, hw: tuple[int, int], out_hw: tuple[int, int]):
    """The padded grid every window fits in: (rows, cols), the input's corner in it."""
    (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
    rows = max(hw[0] + 2 * ph, (out_hw[0] - 1) * sh + kh)
    cols = max(hw[1] + 2 * pw, (out_hw[1] - 1) * sw + kw)
    return rows, cols


def _tap_slices(spec: Pool2dSpec, a: int, b: int, out_hw):
    (sh, sw) = spec.stride
    return (slice(a, a + (out_hw[0] - 1) * sh + 1, sh), slice(b, b + (out_hw[1] - 1) * sw + 1, sw))


def _spread(spec: Pool2dSpec, share: np.ndarray, grid_shape, hw, like) -> np.ndarray:
    """Add each window's per-cell amounts share[i, j, a, b] onto the grid, then keep the
    input's cells (padding gets nothing)."""
    from cnngrad.teach.steps import _zeros

    (kh, kw), (ph, pw) = spec.size, spec.padding
    out_hw = share.shape[:2]
    grid = _zeros(grid_shape, like)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _tap_slices(spec, a, b, out_hw)
            grid[rows, cols] = grid[rows, cols] + share[:, :, a, b]
    return grid[ph:ph + hw[0], pw:pw + hw[1]]


def _windows(spec: Pool2dSpec, grid: np.ndarray, out_hw) -> np.ndarray:
    """(H', W', kh, kw): the cells of every window."""
    (kh, kw) = spec.size
    out = np.empty(tuple(out_hw) + (kh, kw), dtype=grid.dtype)
    for a in range(kh):
        for b in range(kw):
            out[:, :, a, b] = grid[_tap_slices(spec, a, b, out_hw)]
    return out


def maxpool_textbook(spec: Pool2dSpec, x: np.ndarray, delta_out: np.ndarray,
                     layout: Layout | None = None) -> Textbook:
    """Max pooling's input delta through the argmax mask, step by step.

    Parameters
    ----------
    spec : Pool2dSpec
    x : ndarray (N, C, H, W)
    delta_out : ndarray (N, C, H', W')
    layout : Layout, optional

    Returns
    -------
    Textbook
        ``delta_in`` (N, C, H, W).

    Notes
    -----
    The mask holds, for each input cell, the share of its window's delta it takes (1 for the
    chosen maximum; 1/count for a tie under ``split``), summed over overlapping windows.
    """
    from cnngrad.teach.steps import Textbook, StepLabels, _zeros

    label = StepLabels(layout)
    n_count, c_count, h, w = x.shape
    out_hw = delta_out.shape[2:]
    ph, pw = spec.padding
    grid_shape = _pool_grid(spec, (h, w), out_hw)
    exact = x.dtype == object
    steps: list[Step] = []
    delta_in = _zeros(x.shape, x)
    for n in range(n_count):
        for c in range(c_count):
            tag = label(n, c=(c, c_count))
            # padded cells are −∞: they never win (a float −∞ object in exact mode, only
            # ever compared, never kept)
            grid = np.empty(grid_shape, dtype=x.dtype)
            grid.fill(-np.inf if not exact else float("-inf"))
            grid[ph:ph + h, pw:pw + w] = x[n, c]
            windows = _windows(spec, grid, out_hw)
            maxima = windows.max(axis=(2, 3))
            hits = np.asarray(windows == maxima[:, :, None, None], dtype=bool)
            share = _tie_shares(hits, spec.ties, exact, x.dtype)
            mask = _spread(spec, share, grid_shape, (h, w), x)
            steps.append((f"window maxima{tag} (the forward output)", maxima))
            # overlapping windows: a cell may win several, its shares then added (a 2 under
            # ties "all" is two windows' maximum, not a share)
            steps.append((f"argmax mask{tag}: the share of its window's delta each cell takes "
                          f"(ties: {spec.ties})" if _disjoint(spec) else
                          f"argmax mask{tag}: each cell's shares, added over the windows it "
                          f"is in (ties: {spec.ties})", mask))
            routed = share * delta_out[n, c][:, :, None, None]
            cell_delta = _spread(spec, routed, grid_shape, (h, w), x)
            steps.append((f"δ_in{tag}: each window's δ sent to its maximum"
                          + (", overlapping windows added" if not _disjoint(spec) else ""),
                          cell_delta))
            delta_in[n, c] = cell_delta
    return Textbook(steps=steps, delta_in=delta_in)


def _disjoint(spec: Pool2dSpec) -> bool:
    return spec.stride[0] >= spec.size[0] and spec.stride[1] >= spec.size[1]


def _tie_shares(hits: np.ndarray, ties: str, exact: bool, dtype) -> np.ndarray:
    """(H', W', kh, kw) shares of each window's delta: which maxima take it, and how much."""
    out_h, out_w, kh, kw = hits.shape
    if ties == "first":
        flat = hits.reshape(out_h, out_w, kh * kw)
        first = np.argmax(flat, axis=2)  # the first True, row-major within the window
        chosen = np.zeros_like(flat)
        np.put_along_axis(chosen, first[:, :, None], True, axis=2)
        picked = chosen.reshape(hits.shape)
    elif ties in ("all", "split"):
        picked = hits
    else:
        raise ValueError(f"unknown tie rule {ties!r}; allowed: first, split, all")
    if exact:
        share = np.empty(hits.shape, dtype=object)
        share.fill(0)
        share[picked] = 1
        if ties == "split":
            counts = hits.sum(axis=(2, 3))
            share = share / np.vectorize(Fraction, otypes=[object])(counts)[:, :, None, None]
        return share
    share = picked.astype(dtype)
    if ties == "split":
        share = share / hits.sum(axis=(2, 3))[:, :, None, None].astype(dtype)
    return share


def avgpool_textbook(spec: Pool2dSpec, x: np.ndarray, delta_out: np.ndarray,
                     layout: Layout | None = None) -> Textbook:
    """Average pooling's input delta: each window's delta over its divisor, spread on its cells.

    Parameters
    ----------
    spec : Pool2dSpec
    x : ndarray (N, C, H, W)
    delta_out : ndarray (N, C, H', W')
    layout : Layout, optional

    Returns
    -------
    Textbook
        ``delta_in`` (N, C, H, W).

    Notes
    -----
    The divisor of a window is its number of cells inside the padded input
    (``count_include_pad``), or of real input cells; PyTorch's rule.
    """
    from cnngrad.teach.steps import Textbook, StepLabels, _zeros

    label = StepLabels(layout)
    n_count, c_count, h, w = x.shape
    out_hw = delta_out.shape[2:]
    (kh, kw), (ph, pw) = spec.size, spec.padding
    grid_shape = _pool_grid(spec, (h, w), out_hw)
    # which grid cells count: the padded input, or only the real input
    counted = np.zeros(grid_shape, dtype=np.int64)
    if spec.count_include_pad:
        counted[:h + 2 * ph, :w + 2 * pw] = 1
    else:
        counted[ph:ph + h, pw:pw + w] = 1
    divisors = _windows(spec, counted, out_hw).sum(axis=(2, 3))
    exact = x.dtype == object
    divisor_values = (np.vectorize(Fraction, otypes=[object])(divisors) if exact
                      else divisors.astype(x.dtype))
    what = "cells inside the padded input" if spec.count_include_pad else "real input cells"
    steps: list[Step] = [(f"divisors: each window's {what}", divisors)]
    delta_in = _zeros(x.shape, x)
    for n in range(n_count):
        for c in range(c_count):
            tag = label(n, c=(c, c_count))
            share = delta_out[n, c] / divisor_values
            steps.append((f"δ{tag} / divisor: what each cell of a window gets", share))
            spread = np.empty(tuple(out_hw) + (kh, kw), dtype=share.dtype)
            spread[...] = share[:, :, None, None]
            cell_delta = _spread(spec, spread, grid_shape, (h, w), x)
            steps.append((f"δ_in{tag}: every window's share added to each of its cells "
                          f"(padding dropped)", cell_delta))
            delta_in[n, c] = cell_delta
    return Textbook(steps=steps, delta_in=delta_in)


# ------------------------------------------------------------------------------- kinks (gradcheck)


def _pool_windows(x: np.ndarray, spec: Pool2dSpec):
    """Every window's cells: values (N, C, H', W', kh, kw) with −∞ where the window has no
    real cell, their flat indices into x (−1 there), and the input row (H', kh) and column
    (W', kw) of each tap."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
    h_out, w_out = spec.out_shape[2:]
    rows = np.arange(h_out)[:, None] * sh - ph + np.arange(kh)[None, :]
    cols = np.arange(w_out)[:, None] * sw - pw + np.arange(kw)[None, :]
    real = (((rows >= 0) & (rows < h))[:, None, :, None]
            & ((cols >= 0) & (cols < w))[None, :, None, :])  # (H', W', kh, kw)
    r = np.clip(rows, 0, h - 1)[:, None, :, None]
    q = np.clip(cols, 0, w - 1)[None, :, None, :]
    values = np.where(real, x[:, :, r, q], -np.inf)
    maps = (np.arange(n)[:, None] * c + np.arange(c)[None, :])[:, :, None, None, None, None]
    flat = np.where(real, (maps * h + r) * w + q, -1)
    return values, flat, rows, cols


def _maxpool_kinks(problem: Problem, layer, reach: float) -> tuple[list[Kink], LayerWatch]:
    from cnngrad.teach.gradcheck import (Kink, _IDLE_BEND, LayerWatch, _display_index,
        _number, index_text)

    spec, x = layer.spec, np.asarray(layer.input, dtype=np.float64)
    active = np.asarray(layer.delta_out, dtype=np.float64) != 0
    tied = maxpool2d_tied_windows(x, spec.size, spec.stride, spec.padding, spec.ceil_mode)
    windows, flat, rows, cols = _pool_windows(x, spec)
    top = windows.max(axis=(-2, -1))
    is_top = windows == top[..., None, None]
    close_to_top = windows >= (top - reach)[..., None, None]
    near = (close_to_top.sum(axis=(-2, -1)) > 1) & ~tied
    rule = {"first": "the 'first' rule gives the whole delta to {first} (PyTorch's rule)",
            "split": "the 'split' rule shares the delta equally among them",
            "all": "the 'all' rule gives each of them the whole delta"}[spec.ties]
    if _reads_cut_zeros(problem, spec):
        # tied zeros of a ReLU: each came from an input ≤ 0, and a move of ±ε either keeps
        # them all 0 (E does not change) or lifts one above 0, which is the ReLU's own kink
        # at 0, named on its line; the tie itself decides no gradient
        tied = tied & (top != 0)
    kinks = []
    for kind, flagged in (("tie", tied), ("near_tie", near)):
        for n, c, i, j in map(tuple, np.argwhere(flagged)):
            window = windows[n, c, i, j]
            if kind == "tie":
                taps = np.argwhere(is_top[n, c, i, j])
            else:
                taps = np.argwhere(close_to_top[n, c, i, j])
                taps = taps[np.argsort(-window[tuple(taps.T)], kind="stable")]
            cells = tuple(_display_index(problem, x.shape, (n, c, rows[i, a], cols[j, b]))
                          for a, b in taps)
            position = _display_index(problem, spec.out_shape, (n, c, i, j))
            value = float(top[n, c, i, j])
            if kind == "tie":
                meaning = (f"tied maximum {_number(value)} at "
                           f"{and_list([index_text(cell) for cell in cells])} of window "
                           f"{index_text(position)}: the derivative is not unique; "
                           + rule.format(first=index_text(cells[0])))
            else:
                values = and_list([f"{float(window[a, b]):.15g} at {index_text(cell)}"
                                    for (a, b), cell in zip(taps, cells)])
                gap = float(window[tuple(taps[0])] - window[tuple(taps[-1])])
                meaning = (f"top values {values} of window {index_text(position)} differ by "
                           f"{gap:.2g}, less than a finite-difference step can move them: the "
                           f"differences may cross the kink where they tie")
            if not active[n, c, i, j]:
                meaning += _IDLE_BEND
            kinks.append(Kink(spec.name, kind, position, cells, value, meaning))
    taps = flat.shape[-2] * flat.shape[-1]
    # a move that shifts tied maxima together keeps the winners; 'first' and 'split' then
    # still give the derivative along it, 'all' (each the whole delta) does not
    moved = (tied & active)[..., None, None] & is_top if spec.ties == "all" else \
        np.zeros(is_top.shape, bool)
    # the windows whose delta is 0: a change of their winners is a bend of E, not a kink
    watch = LayerWatch(layer=-1,
                       values_at=flat[moved],
                       signs_at=np.zeros(0, np.int64),
                       windows=flat[active].reshape(-1, taps),
                       bend_windows=flat[~active].reshape(-1, taps))
    return kinks, watch


def _reads_cut_zeros(problem: Problem, spec) -> bool:
    """Whether the pool reads a layer whose zeros are its inputs ≤ 0 cut to 0 (relu)."""
    from cnngrad.families import family_of
    from cnngrad.problem import INPUT

    source = spec.inputs[0]
    return source != INPUT and family_of(problem.layer(source)).cuts_to_zero


def _axis_tap_slices(out_size: int, in_size: int, stride: int, padding: int, tap: int
                     ) -> tuple[slice | None, slice | None]:
    """Along one axis: the outputs whose window has tap ``tap`` inside the input (those
    ``i`` with 0 ≤ i·stride − padding + tap < in_size, a run of consecutive ones), and the
    input cells it reads for them; ``(None, None)`` when it is outside for every output."""
    first = max(0, -(-(padding - tap) // stride))  # ceil((padding − tap) / stride)
    last = min(out_size - 1, (in_size - 1 + padding - tap) // stride)
    if first > last:
        return None, None
    start = first * stride - padding + tap
    return slice(first, last + 1), slice(start, start + (last - first) * stride + 1, stride)


def maxpool_near_ties(spec: Pool2dSpec, x: np.ndarray, size: np.ndarray, tolerance: float,
                      one_row: bool = False, output: np.ndarray | None = None):
    """The windows whose top values are within rounding noise of a tie (:mod:`cnngrad.kinks`).

    One pass per tap of the window over (N, C, H', W') arrays: memory a few outputs' worth.

    Parameters
    ----------
    spec : Pool2dSpec
    x, size : ndarray (N, C, H, W)
        The layer's input and the size of the terms that made each cell (its magnitude).
    tolerance : float
        Rounding noise relative to the size: cells within tolerance × the window's largest
        size of its maximum are near it; a window with two or more is a near tie (an
        all-zero-size window is an exact tie of exact values, not a near one).
    one_row : bool
        ``x`` is a 1-D pool's (N, C, L) input viewed as (N, C, 1, L): give indices 3-D.
    output : ndarray (N, C, H', W'), optional
        The layer's forward output (each window's maximum), when the run has it: not
        computed again.

    Returns
    -------
    NearKinks or None
        ``kind="tie"``: the windows (K, 4), and their near-maximal cells, row-major.
    """
    from cnngrad.kinks import NearKinks

    x = np.asarray(x, dtype=np.float64)
    size = np.asarray(size, dtype=np.float64)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
    h_out, w_out = spec.out_shape[2:]
    args = _pool_args(spec)
    with np.errstate(all="ignore"):
        top_size = maxpool2d_forward(size, **args)
        noise = tolerance * top_size
        top = maxpool2d_forward(x, **args) if output is None else np.asarray(output, np.float64)
        floor = top - noise  # a near-maximal cell is at least this
    count = np.zeros((n, c, h_out, w_out), np.int32)
    for a in range(kh):
        out_rows, in_rows = _axis_tap_slices(h_out, h, sh, ph, a)
        for b in range(kw):
            out_cols, in_cols = _axis_tap_slices(w_out, w, sw, pw, b)
            if out_rows is None or out_cols is None:
                continue
            # the windows this tap falls inside the input for, and the cells it reads there
            np.add(count[:, :, out_rows, out_cols],
                   x[:, :, in_rows, in_cols] >= floor[:, :, out_rows, out_cols],
                   out=count[:, :, out_rows, out_cols])
    # a window of no terms (M = 0) holds exact values: no noise to tie them.  (Its noise may
    # underflow where M does not: M the smallest float, for a value that underflowed)
    windows = np.argwhere((count > 1) & (top_size > 0))
    if not len(windows):
        return None
    wn, wc, wi, wj = windows.T
    cells, groups = [], []
    for a in range(kh):
        for b in range(kw):
            r, q = wi * sh - ph + a, wj * sw - pw + b
            real = (r >= 0) & (r < h) & (q >= 0) & (q < w)
            near = real.copy()
            near[real] = x[wn[real], wc[real], r[real], q[real]] >= floor[tuple(windows[real].T)]
            cells.append(np.stack([wn, wc, r, q], axis=1)[near])
            groups.append(np.flatnonzero(near))
    cells, groups = np.concatenate(cells), np.concatenate(groups)
    order = np.argsort(groups, kind="stable")  # taps went row-major: cells stay so
    cells, groups = cells[order], groups[order]
    if one_row:
        cells, windows = cells[:, [0, 1, 3]], windows[:, [0, 1, 3]]
    return NearKinks("tie", cells, groups, windows)


def _overhang_notes(spec: Pool2dSpec) -> list[Kink]:
    """ceil_mode windows hanging past the padded input.  Not kinks: the divisor of such an
    average window is a constant and a max over fewer cells is still just a max, so E is as
    smooth there as anywhere; named because a hand computation easily gets them wrong."""
    from cnngrad.teach.gradcheck import Kink

    if not spec.ceil_mode:
        return []
    in_hw = spec.in_shape[2:]
    kh, kw = spec.size
    inside = avgpool2d_divisors(in_hw, spec.size, spec.stride, spec.padding, True, True)
    if spec.type == "avgpool2d":
        used = avgpool2d_divisors(in_hw, spec.size, spec.stride, spec.padding, True,
                                  spec.count_include_pad)
    notes = []
    for i, j in map(tuple, np.argwhere(inside < kh * kw)):
        head = (f"window [{i},{j}] (of every map) hangs past the padded input (ceil_mode): "
                f"it keeps {inside[i, j]} of its {kh * kw} cells")
        if spec.type == "avgpool2d":
            tail = (f"; avg pool divides by {used[i, j]}, not {kh * kw} (PyTorch's rule). The "
                    f"divisor is a constant, so E is smooth here: a note, not a kink")
        else:
            tail = ("; max pool takes the maximum of those. Smooth here (unless they tie): a "
                    "note, not a kink")
        notes.append(Kink(spec.name, "ceil_overhang", (int(i), int(j)), (), None, head + tail))
    return notes


# -------------------------------------------------------------------- common slips (cnngrad check)


def _ties(rule: str):
    return lambda spec: dataclasses.replace(spec, ties=rule) \
        if isinstance(spec, Pool2dSpec) and spec.ties != rule else None


def whole_windows(layer_type: str):
    """The pool layers of ``layer_type`` (2-D or 1-D) whose every window has all its
    cells in the padded input (no ceil_mode overhang): the whole-window slips are exact for
    them."""
    return lambda layer: layer.type == layer_type and not _overhangs(
        layer.input.shape[2:], layer.spec.padding, layer.spec.size, layer.spec.stride,
        layer.spec.ceil_mode)


def _overhangs(sizes, padding, size, stride, ceil_mode: bool) -> bool:
    """Whether ceil_mode adds a last window reaching past the padded input on some axis
    (one value each, or a value per axis): where it adds none, every window is whole."""
    per_axis = [tuple(v) if isinstance(v, (tuple, list)) else (v,) * len(sizes)
                for v in (padding, size, stride)]
    return ceil_mode and any(
        pool_output_size(n, p, k, s, True) != pool_output_size(n, p, k, s, False)
        for n, p, k, s in zip(sizes, *per_axis))


def _tiled_exactly(layer_type: str):
    """The pool layers of ``layer_type`` whose windows tile the padded input exactly, so
    that mirroring the input mirrors the windows: the last of a window's tied maxima is
    then the first of the mirror."""
    return lambda layer: layer.type == layer_type and all(
        (n + 2 * p - k) % s == 0 for n, p, k, s in
        zip(layer.input.shape[2:], layer.spec.padding, layer.spec.size, layer.spec.stride))


def _last_maximum(spec, x, y, delta):
    # the slip: a scan keeping >= sends the δ to the last of tied maxima (row-major), not the
    # first: the first rule on the input and delta turned by 180°, turned back
    turned = (slice(None),) * 2 + (slice(None, None, -1),) * 2
    mirrored = maxpool2d_backward(np.asarray(x)[turned], np.asarray(delta)[turned],
                                  ties="first", **_pool_args(spec))
    return mirrored[turned], {}


def _delta_to_every_cell(spec, x, y, delta):
    # the slip: each window's δ, whole, to every cell of the window (a max pool's δ not
    # routed to its maximum, an average pool's not divided by the window's size)
    cells = spec.size[0] * spec.size[1]
    return avgpool2d_backward(x, delta, count_include_pad=True, **_pool_args(spec)) * cells, {}



# --------------------------------------------------------------------------- the families


class _Pool2d(LayerFamily):
    kink_kinds = {
        "tie": "a max-pool window whose maximum is reached by more than one cell",
        "near_tie": "a max-pool window whose top values are within a finite-difference step",
        "ceil_overhang": "a ceil_mode window hanging past the padded input (smooth: a note only)",
    }
    smooth_kink_kinds = ("ceil_overhang",)
    since = "1.0"  # contract v1
    required = ("size",)
    spatial = 2
    #: work per output and window cell: max pool's backward visits the window cell by cell
    #: (compare, then scatter)
    window_visits = 2

    def window(self, spec):
        return spec.size

    def work(self, spec):
        out = shape_size(spec.out_shape)
        return (self.window_visits * out * shape_size(spec.size),
                f"{out:,} outputs × a {spec.size[0]}×{spec.size[1]} window")

    def settings(self, spec):
        out = [("window", shape_text(spec.size)), ("stride", pair_text(spec.stride))]
        if any(spec.padding):
            out.append(("padding", pair_text(spec.padding)))
        if spec.ceil_mode:
            out.append(("ceil mode", "on"))
        return out


class MaxPool2d(_Pool2d):
    type = "maxpool2d"
    takes_maxima = True
    fields = ("size", "stride", "padding", "ceil_mode", "ties")
    window_visits = 8

    def kink_cells(self, spec):
        # every window tied (a map of zeros): each cell of each window named
        return shape_size(spec.out_shape) * shape_size(spec.size)

    def build(self, ctx, raw, head):
        return build_maxpool2d(ctx, raw, head)

    def schema_fields(self, ref):
        return _pool_fields(ref, self.type)

    def forward(self, spec, inputs):
        return _maxpool_forward(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        delta_in, grads = _maxpool_backward(spec, inputs[0], output, delta_out)
        return [delta_in], grads

    def settings(self, spec):
        return super().settings(spec) + [("ties", spec.ties)]

    def input_marks(self, layer):
        spec = layer.spec
        weights = maxpool2d_argmax_mask(layer.input, spec.size, spec.stride, spec.padding,
                                        spec.ceil_mode, spec.ties)
        return np.asarray(weights != 0, dtype=bool)

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_maxpool(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_maxpool(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)

    def textbook(self, layer, layout):
        return maxpool_textbook(layer.spec, layer.input, layer.delta_out, layout)

    def kinks(self, problem, layer, reach):
        found, watch = _maxpool_kinks(problem, layer, reach)
        return found + _overhang_notes(layer.spec), watch

    def near_kinks(self, spec, inputs, magnitudes, tolerance, output=None):
        return maxpool_near_ties(spec, inputs[0], magnitudes[0], tolerance, output=output)

    #: its output is some of its input's values, unrounded (cnngrad.kinks: a tie between
    #: numbers as given is a float tie)
    copies_values = True

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace, replace_backward

        return [
            (30, Slip("ties_all", "matches the tie going to every maximum",
                      slip_in_trace("ties_all", replace_backward(self.type, _ties("all"))))),
            (31, Slip("ties_split", "matches the tie shared equally among the maxima",
                      slip_in_trace("ties_split", replace_backward(self.type, _ties("split"))))),
            (32, Slip("ties_first", "matches the tie going to the first maximum only",
                      slip_in_trace("ties_first", replace_backward(self.type, _ties("first"))))),
            (32, Slip("ties_last", "matches the tie going to the last maximum (a scan "
                      "keeping >=), not the first",
                      slip_in_trace("ties_last", custom_backward(_tiled_exactly(self.type),
                                                                 _last_maximum)))),
            (33, Slip("delta_to_whole_window",
                      "matches the delta sent to every cell of the window instead of to its "
                      "maximum",
                      slip_in_trace("delta_to_whole_window", custom_backward(
                            whole_windows(self.type), _delta_to_every_cell)))),
        ]


def average_convention(padded: bool, count_include_pad: bool) -> str:
    """An average pool's divisor where it reads padding, as a sheet states it ("" unpadded)."""
    if not padded:
        return ""
    if count_include_pad:
        return ("a window over the padding averages its padded cells too, as zeros "
                "(count_include_pad)")
    return "a window over the padding averages its cells inside the input only"


class AvgPool2d(_Pool2d):
    type = "avgpool2d"
    fields = ("size", "stride", "padding", "ceil_mode", "count_include_pad")

    def convention(self, spec):
        return average_convention(any(spec.padding), spec.count_include_pad)

    def divisors(self, spec):
        counts = avgpool2d_divisors(spec.in_shape[2:], count_include_pad=spec.count_include_pad,
                                    **_pool_args(spec))
        return tuple((Fraction(count), f"averages {count} cells")
                     for count in sorted({int(count) for count in np.ravel(counts)}))

    def build(self, ctx, raw, head):
        return build_avgpool2d(ctx, raw, head)

    def schema_fields(self, ref):
        return _pool_fields(ref, self.type)

    def summed_terms(self, spec):  # a window's cells inside the padded input
        (kh, kw), (ph, pw), (h, w) = spec.size, spec.padding, spec.in_shape[2:]
        return min(kh, h + 2 * ph) * min(kw, w + 2 * pw)

    def forward(self, spec, inputs):
        return _avgpool_forward(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        delta_in, grads = _avgpool_backward(spec, inputs[0], output, delta_out)
        return [delta_in], grads

    def settings(self, spec):
        out = super().settings(spec)
        if any(spec.padding):
            out.append(("averages", "padding too" if spec.count_include_pad
                        else "input cells only"))
        return out

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_avgpool(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_avgpool(ex, path, layer, index)
        return super().explain(ex, what, path, layer, index)

    def textbook(self, layer, layout):
        return avgpool_textbook(layer.spec, layer.input, layer.delta_out, layout)

    def kinks(self, problem, layer, reach):
        return _overhang_notes(layer.spec), None

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace

        return [
            (34, Slip("avgpool_not_divided",
                      "matches the delta sent to every cell of the window without dividing "
                      "it by the window's size",
                      slip_in_trace("avgpool_not_divided", custom_backward(
                            whole_windows(self.type), _delta_to_every_cell)))),
        ]


MAXPOOL2D = MaxPool2d()
AVGPOOL2D = AvgPool2d()
