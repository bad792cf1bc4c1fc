"""Trace → Rich renderables: one panel per layer, tensors as index-labelled tables.

Every function returns a renderable; printing (and the choice of terminal or file) is the
CLI's job.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cnngrad.families import family_of, loss_family
from cnngrad.network import LayerTrace, Trace
from cnngrad.render.numbers import DEFAULT_DECIMALS, fmt, fmt_exact_decimal, wants_scientific

GRIDS_PER_ROW = 4

# big results: a matrix with more rows (or columns) than SHORTEN_BEYOND shows its first and
# last CORNER rows (columns) around an ellipsis, and a min/max/mean/norm line; a tensor with
# more grids than GRIDS_BEYOND shows the first GRIDS_FIRST and the last GRIDS_LAST of them.
# ``full=True`` (the CLI's --full) shows everything.
SHORTEN_BEYOND = 20
CORNER = 8
GRIDS_BEYOND = 8
GRIDS_FIRST = 4
GRIDS_LAST = 2
ELLIPSIS = "…"



# heatmap shades, light to dark as |value| grows relative to the tensor's largest; the text
# colour is set too, so a cell reads on a dark and on a light terminal alike
HEAT_STYLES = {
    1: ("black on #deebf7", "black on #9ecae1", "bold white on #3182bd"),  # positive: blues
    -1: ("black on #fee0d2", "black on #fc9272", "bold white on #de2d26"),  # negative: reds
}
WINNER_MARK = "*"
WINNER_LEGEND = f"{WINNER_MARK} max-pool winner: the cell a window's maximum came from"


def cell_text(value, decimals: int, scientific: bool | None = None) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        value = Fraction(value)  # an exact array's int 0 (the engine's sums start from it)
    text = fmt(value, decimals, scientific)
    if not isinstance(value, float) and "/" in text:
        text += f" ≈{fmt_exact_decimal(value, decimals)}"
    return text


def largest_magnitude(array) -> float:
    """The largest finite |value| of an array (0 when there is none): a heatmap's scale."""
    array = np.asarray(array)
    if array.dtype != object:  # vectorized: a big tensor's scale costs no Python loop
        magnitudes = np.abs(array[np.isfinite(array)]).astype(np.float64, copy=False)
        return float(magnitudes.max()) if magnitudes.size else 0.0
    magnitudes = (abs(float(v)) for v in array.flat)
    return max((m for m in magnitudes if math.isfinite(m)), default=0.0)


def _scientific(array: np.ndarray, decimals: int) -> bool:
    """:func:`wants_scientific` for a whole array; a float array decides by its largest
    magnitude (all that rule looks at) without a Python loop over the values."""
    if array.dtype == object:
        return wants_scientific(array.flat, decimals)
    magnitudes = np.abs(array[~np.isnan(array)]) if array.dtype.kind == "f" else np.abs(array)
    return wants_scientific([magnitudes.max()] if magnitudes.size else [], decimals)


def shown_indices(count: int, full: bool = False) -> list[int | None]:
    """The indices of an axis a table shows: all of them, or (beyond
    :data:`SHORTEN_BEYOND`) the first and last :data:`CORNER` with ``None`` for the gap."""
    if full or count <= SHORTEN_BEYOND:
        return list(range(count))
    return [*range(CORNER), None, *range(count - CORNER, count)]


def tensor_stats(array) -> tuple:
    """(min, max, mean, norm) of every value: exact Fractions for an exact array but the
    norm (a square root: a float); float64 otherwise.  The norm is the Frobenius norm
    sqrt(Σ v²)."""
    array = np.asarray(array)
    if array.dtype == object:
        values = [Fraction(v) if isinstance(v, int) else v for v in array.flat]
        mean = sum(values, Fraction(0)) / len(values)
        return min(values), max(values), mean, math.sqrt(sum(v * v for v in values))
    values = array.astype(np.float64, copy=False)
    return (float(values.min()), float(values.max()), float(values.mean()),
            float(np.sqrt(np.sum(values * values))))


def stats_line(array, decimals: int = DEFAULT_DECIMALS) -> Text:
    """``min … max … mean … norm …`` over every value of a shortened tensor."""
    array = np.asarray(array, dtype=object if _is_exact(array) else None)
    scientific = _scientific(array, decimals)
    line = Text(style="dim")
    for name, value in zip(("min", "max", "mean", "norm"), tensor_stats(array)):
        line.append(f"{name} ", style="bold")
        line.append(cell_text(value, decimals, None if isinstance(value, float) and
                              array.dtype == object else scientific) + "   ")
    line.append(f"over all {array.size} values (--full shows every one)")
    return line


def heat_style(value, scale: float) -> str:
    """A heatmap cell's style: blue for positive, red for negative, in three shades by |value|
    relative to ``scale``; zero (and anything not finite) stays plain."""
    magnitude = abs(float(value))
    if not scale or not magnitude or not math.isfinite(magnitude):
        return ""
    level = min(int(3 * magnitude / scale), 2)
    return HEAT_STYLES[1 if value > 0 else -1][level]


def matrix_table(matrix: np.ndarray, title: str | None, decimals: int,
                 row_label: str = "", *, scale: float | None = None,
                 marks: np.ndarray | None = None, full: bool = False,
                 stats: bool = True) -> Table:
    """A 2-D array (or a 1-D one as a single row) with row and column indices, as a heatmap.

    Each cell is coloured by sign and by size relative to ``scale`` (default: the matrix's
    largest |value|; give the whole tensor's for one grid of several); the colours show only
    where the console has colour.  ``marks`` (bool, the matrix's shape) puts
    :data:`WINNER_MARK` after flagged cells, which reads without colour too.

    Beyond :data:`SHORTEN_BEYOND` rows (columns) only the first and last :data:`CORNER` show,
    around an ``…`` row (column), and with ``stats`` a caption gives the min, max, mean and
    norm of every value; ``full`` shows every cell."""
    vector = matrix.ndim == 1
    if vector:  # a vector's single row needs no index
        matrix = matrix.reshape(1, -1)
        marks = None if marks is None else np.reshape(marks, (1, -1))
    if scale is None:
        scale = largest_magnitude(matrix)
    rows = shown_indices(matrix.shape[0], full)
    columns = shown_indices(matrix.shape[1], full)
    # each value cell pads itself, so its shade covers the whole cell; a mark goes before the
    # number, where it does not shift the right-aligned digits
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left",
                  title_style="bold", show_edge=False, padding=(0, 0))
    if not vector:
        table.add_column(row_label, justify="right", style="dim")
    for j in columns:
        table.add_column(_padded(Text(ELLIPSIS if j is None else str(j), style="dim")),
                         justify="right")
    scientific = _scientific(matrix, decimals)
    for i in rows:
        if i is None:
            gap = _padded(Text(ELLIPSIS, style="dim"))
            table.add_row(Padding(Text(ELLIPSIS, style="dim"), (0, 1, 0, 0)),
                          *(gap for _ in columns))
            continue
        cells = []
        for j in columns:
            if j is None:
                cells.append(_padded(Text(ELLIPSIS, style="dim")))
                continue
            value = matrix[i, j]
            marked = marks is not None and bool(marks[i, j])
            text = (WINNER_MARK if marked else "") + cell_text(value, decimals, scientific)
            style = heat_style(value, scale) + (" bold" if marked else "")
            cells.append(_padded(Text(text), style.strip()))
        if vector:
            table.add_row(*cells)
        else:
            table.add_row(Padding(Text(str(i), style="dim"), (0, 1, 0, 0)), *cells)
    if stats and (None in rows or None in columns):
        table.caption = stats_line(matrix, decimals)
        table.caption_justify = "left"
    return table


def _padded(text: Text, style: str = "") -> Padding:
    """A right-aligned cell with one space each side, all of it in ``style``."""
    text.justify = "right"
    return Padding(text, (0, 1), style=style, expand=True)


def tensor_view(value, title: str, decimals: int = DEFAULT_DECIMALS,
                axes: str = "nc", *, marks: np.ndarray | None = None,
                full: bool = False) -> RenderableType:
    """Any result tensor: a number, a vector, a matrix, or one grid per leading index
    (``[n, c]`` for maps, ``[f, c]`` for kernels); a heatmap scaled to the whole tensor.
    ``marks`` (bool, the tensor's shape) flags cells with :data:`WINNER_MARK`.

    A big tensor is shortened unless ``full``: each matrix to its corners (see
    :func:`matrix_table`), more than :data:`GRIDS_BEYOND` grids to the first and last few
    around a ``… N more grids`` line, and a min/max/mean/norm line of the whole tensor."""
    if value is None:
        return Text(f"{title}: —")
    array = np.asarray(value, dtype=object if _is_exact(value) else None)
    if array.ndim == 0:
        return Text.assemble((f"{title}: ", "bold"), cell_text(array.item(), decimals))
    scale = largest_magnitude(array)
    if array.ndim <= 2:
        return Group(Text(title, style="bold", no_wrap=True, overflow="ignore"),
                     matrix_table(array, None, decimals, scale=scale, marks=marks, full=full))
    lead_shape = array.shape[:-2]
    names = axes[-len(lead_shape):] if len(lead_shape) <= len(axes) else "i" * len(lead_shape)
    grids: list = list(product(*(range(s) for s in lead_shape)))
    hidden = 0 if full or len(grids) <= GRIDS_BEYOND else len(grids) - GRIDS_FIRST - GRIDS_LAST
    if hidden:
        grids = [*grids[:GRIDS_FIRST], None, *grids[-GRIDS_LAST:]]
    # one grid per leading index: a row of the layout per first index (n or f), at most
    # GRIDS_PER_ROW side by side, so the layout is the same in a terminal and in a file
    layout = Table.grid(padding=(0, 3))
    row: list[RenderableType] = []
    previous_first = None
    for index in grids:
        if index is None:  # the hidden grids: one line between the first and the last few
            if row:
                layout.add_row(*row)
                row = []
            layout.add_row(Text(f"{ELLIPSIS} {hidden} more grids", style="dim"))
            previous_first = None
            continue
        if row and (len(row) == GRIDS_PER_ROW or (len(index) > 1 and index[0] != previous_first)):
            layout.add_row(*row)
            row = []
        label = ", ".join(f"{n}={i}" for n, i in zip(names, index))
        row.append(Group(Text(f"[{label}]", style="bold", no_wrap=True),
                         matrix_table(array[index], None, decimals, scale=scale,
                                      marks=None if marks is None else marks[index],
                                      full=full, stats=False)))
        previous_first = index[0]
    layout.add_row(*row)
    heading = Text(f"{title}  ({'×'.join(map(str, array.shape))})", style="bold",
                   no_wrap=True, overflow="ignore")
    shortened = hidden or not full and max(array.shape[-2:]) > SHORTEN_BEYOND
    if shortened:
        return Group(heading, layout, stats_line(array, decimals))
    return Group(heading, layout)


def _is_exact(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == object


def loss_line(trace: Trace, decimals: int) -> RenderableType:
    problem = trace.problem
    if problem.loss is None:
        return Text("no loss: the problem gives the delta at the last layer's output directly",
                    style="dim")
    what = loss_family(problem.loss.type).summary(problem.loss)
    return Text.assemble(("loss E = ", "bold"), (cell_text(trace.loss, decimals), "bold cyan"),
                         f"   ({what})")


def maxpool_winners(layer: LayerTrace) -> np.ndarray | None:
    """bool, shaped like a layer's input (internal layout): the cells its family marks (a
    max-pool window's maximum, under the layer's ``ties`` rule), or None."""
    return family_of(layer.spec).input_marks(layer)


def _kernel_axes(layer: LayerTrace, key: str) -> str:
    return family_of(layer.spec).param_axes.get(key, "nc")


def layer_panel(trace: Trace, layer: LayerTrace, decimals: int, backward: bool = True,
                steps: list | None = None, *, full: bool = False) -> Panel:
    count = len(trace.layers)
    parts: list[RenderableType] = []
    if backward:
        parts.append(tensor_view(trace.shown(layer.delta_out),
                                 "δ out = dE/d(output)  (upstream delta)", decimals, full=full))
        for key, grad in layer.grads.items():
            parts.append(tensor_view(grad, family_of(layer.spec).param_label(key), decimals,
                                     _kernel_axes(layer, key), full=full))
        for key, value in trace.updated(layer).items():
            parts.append(tensor_view(value, f"{key} after one SGD step (lr = "
                                            f"{cell_text(trace.lr, decimals)})", decimals,
                                     _kernel_axes(layer, key), full=full))
        winners = maxpool_winners(layer)
        parts.append(tensor_view(trace.shown(layer.delta_in),
                                 "δ in = dE/d(input)  (input delta)", decimals,
                                 marks=None if winners is None else trace.shown(winners),
                                 full=full))
    else:
        # the next layer's max-pool winners, marked where they are: in this layer's output
        following = trace.layers[layer.index + 1:layer.index + 2]
        winners = maxpool_winners(following[0]) if following else None
        parts.append(tensor_view(trace.shown(layer.output), "output", decimals,
                                 marks=None if winners is None else trace.shown(winners),
                                 full=full))
    if winners is not None:
        parts.append(Text(WINNER_LEGEND, style="dim"))
    if steps:  # backward --show-steps: the textbook's intermediate matrices (cnngrad.teach.steps)
        parts.append(steps_view(steps, decimals, full=full))
    title = f"[bold]{layer.name}[/] · {layer.type} · layer {layer.index + 1} of {count}"
    return Panel(Group(*_spaced(parts)), title=title, title_align="left", expand=False,
                 border_style="blue")


def steps_view(steps: list, decimals: int = DEFAULT_DECIMALS, *,
               full: bool = False) -> RenderableType:
    """The (caption, matrix) steps one under the other, numbered, under a heading; big
    matrices shortened unless ``full`` (:func:`tensor_view`)."""
    parts: list[RenderableType] = [Text("steps: the textbook route (backward --show-steps)",
                                        style="bold underline")]
    for number, (caption, matrix) in enumerate(steps, start=1):
        parts.append(Text(""))
        parts.append(tensor_view(matrix, f"{number}. {caption}", decimals, full=full))
    return Group(*parts)


def _spaced(parts: list[RenderableType]) -> list[RenderableType]:
    out: list[RenderableType] = []
    for part in parts:
        if out:
            out.append(Text(""))
        out.append(part)
    return out


def header(trace: Trace, what: str) -> RenderableType:
    title = trace.problem.title
    head = Text.assemble(("cnngrad ", "bold"), what)
    if title:
        head.append(f" · {title}", style="italic")
    return head


def backward_report(trace: Trace, decimals: int = DEFAULT_DECIMALS,
                    steps: dict | None = None, *, full: bool = False) -> RenderableType:
    """Backprop order, last layer first: upstream delta, parameter gradients, input delta;
    ``steps`` (layer name → (caption, matrix) list,
    :func:`cnngrad.teach.steps.trace_steps`) adds each layer's textbook steps.  Big tensors are shortened unless ``full``
    (:func:`tensor_view`)."""
    parts: list[RenderableType] = [header(trace, "backward"), loss_line(trace, decimals)]
    parts += [layer_panel(trace, layer, decimals, steps=(steps or {}).get(layer.name),
                          full=full)
              for layer in reversed(trace.layers)]
    return Group(*parts)


def forward_report(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
                   full: bool = False) -> RenderableType:
    """Forward order: each layer's output, then the loss.  Big tensors are shortened unless
    ``full`` (:func:`tensor_view`)."""
    parts: list[RenderableType] = [header(trace, "forward")]
    parts += [layer_panel(trace, layer, decimals, backward=False, full=full)
              for layer in trace.layers]
    parts.append(loss_line(trace, decimals))
    return Group(*parts)
