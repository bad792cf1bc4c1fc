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

from cnngrad.layers.pool import maxpool2d_argmax_mask
from cnngrad.network import LayerTrace, Trace
from cnngrad.render.numbers import DEFAULT_DECIMALS, fmt, fmt_exact_decimal, wants_scientific

GRIDS_PER_ROW = 4

PARAM_LABELS = {"kernel": "dE/dw (kernel gradient)", "bias": "dE/db (bias gradient)",
                "weights": "dE/dW (weights gradient)"}


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
    magnitudes = (abs(float(v)) for v in np.asarray(array).flat)
    return max((m for m in magnitudes if math.isfinite(m)), default=0.0)


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
                 marks: np.ndarray | None = None) -> Table:
    """A 2-D array (or a 1-D one as a single row) with row and column indices, as a heatmap.

    Each cell is coloured by sign and by size relative to ``scale`` (default: the matrix's
    largest |value|; give the whole tensor's for one grid of several); the colours show only
    where the console has colour.  ``marks`` (bool, the matrix's shape) puts
    :data:`WINNER_MARK` after flagged cells, which reads without colour too."""
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
        marks = None if marks is None else np.reshape(marks, (1, -1))
        row_names = [""]
    else:
        row_names = [str(i) for i in range(matrix.shape[0])]
    if scale is None:
        scale = largest_magnitude(matrix)
    # each value cell pads itself, so its shade covers the whole cell; a mark goes before the
    # number, where it does not shift the right-aligned digits
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left",
                  title_style="bold", show_edge=False, padding=(0, 0))
    vector = row_names == [""]
    if not vector:  # a vector's single row needs no index
        table.add_column(row_label, justify="right", style="dim")
    for j in range(matrix.shape[1]):
        table.add_column(_padded(Text(str(j), style="dim")), justify="right")
    scientific = wants_scientific(matrix.flat, decimals)
    for i, (name, row) in enumerate(zip(row_names, matrix)):
        cells = []
        for j, value in enumerate(row):
            marked = marks is not None and bool(marks[i, j])
            text = (WINNER_MARK if marked else "") + cell_text(value, decimals, scientific)
            style = heat_style(value, scale) + (" bold" if marked else "")
            cells.append(_padded(Text(text), style.strip()))
        if vector:
            table.add_row(*cells)
        else:
            table.add_row(Padding(Text(name, style="dim"), (0, 1, 0, 0)), *cells)
    return table


def _padded(text: Text, style: str = "") -> Padding:
    """A right-aligned cell with one space each side, all of it in ``style``."""
    text.justify = "right"
    return Padding(text, (0, 1), style=style, expand=True)


def tensor_view(value, title: str, decimals: int = DEFAULT_DECIMALS,
                axes: str = "nc", *, marks: np.ndarray | None = None) -> RenderableType:
    """Any result tensor: a number, a vector, a matrix, or one grid per leading index
    (``[n, c]`` for maps, ``[f, c]`` for kernels); a heatmap scaled to the whole tensor.
    ``marks`` (bool, the tensor's shape) flags cells with :data:`WINNER_MARK`."""
    if value is None:
        return Text(f"{title}: —")
    array = np.asarray(value, dtype=object if _is_exact(value) else None)
    if array.ndim == 0:
        return Text.assemble((f"{title}: ", "bold"), cell_text(array.item(), decimals))
    scale = largest_magnitude(array)
    if array.ndim <= 2:
        return Group(Text(title, style="bold", no_wrap=True, overflow="ignore"),
                     matrix_table(array, None, decimals, scale=scale, marks=marks))
    lead_shape = array.shape[:-2]
    names = axes[-len(lead_shape):] if len(lead_shape) <= len(axes) else "i" * len(lead_shape)
    # one grid per leading index: a row of the layout per first index (n or f), at most
    # GRIDS_PER_ROW side by side, so the layout is the same in a terminal and in a file
    layout = Table.grid(padding=(0, 3))
    row: list[RenderableType] = []
    previous_first = None
    for index in product(*(range(s) for s in lead_shape)):
        if row and (len(row) == GRIDS_PER_ROW or (len(index) > 1 and index[0] != previous_first)):
            layout.add_row(*row)
            row = []
        label = ", ".join(f"{n}={i}" for n, i in zip(names, index))
        row.append(Group(Text(f"[{label}]", style="bold", no_wrap=True),
                         matrix_table(array[index], None, decimals, scale=scale,
                                      marks=None if marks is None else marks[index])))
        previous_first = index[0]
    layout.add_row(*row)
    return Group(Text(f"{title}  ({'×'.join(map(str, array.shape))})", style="bold",
                      no_wrap=True, overflow="ignore"), layout)


def _is_exact(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == object


def loss_line(trace: Trace, decimals: int) -> RenderableType:
    problem = trace.problem
    if problem.loss is None:
        return Text("no loss: the problem gives the delta at the last layer's output directly",
                    style="dim")
    spec = problem.loss
    what = f"mse, {spec.reduction}" if spec.type == "mse" else "cross_entropy, mean over batch"
    return Text.assemble(("loss E = ", "bold"), (cell_text(trace.loss, decimals), "bold cyan"),
                         f"   ({what})")


def maxpool_winners(layer: LayerTrace) -> np.ndarray:
    """bool, shaped like a maxpool2d layer's input (internal layout): the cells a window's
    maximum came from, under the layer's ``ties`` rule."""
    spec = layer.spec
    weights = maxpool2d_argmax_mask(layer.input, spec.size, spec.stride, spec.padding,
                                    spec.ceil_mode, spec.ties)
    return np.asarray(weights != 0, dtype=bool)


def _kernel_axes(layer: LayerTrace, key: str) -> str:
    return "fc" if key == "kernel" else "nc"


def layer_panel(trace: Trace, layer: LayerTrace, decimals: int, backward: bool = True,
                steps: list | None = None) -> Panel:
    count = len(trace.layers)
    parts: list[RenderableType] = []
    if backward:
        parts.append(tensor_view(trace.shown(layer.delta_out),
                                 "δ out = dE/d(output)  (upstream delta)", decimals))
        for key, grad in layer.grads.items():
            parts.append(tensor_view(grad, PARAM_LABELS.get(key, f"dE/d{key}"), decimals,
                                     _kernel_axes(layer, key)))
        for key, value in trace.updated(layer).items():
            parts.append(tensor_view(value, f"{key} after one SGD step (lr = "
                                            f"{cell_text(trace.lr, decimals)})", decimals,
                                     _kernel_axes(layer, key)))
        winners = maxpool_winners(layer) if layer.type == "maxpool2d" else None
        parts.append(tensor_view(trace.shown(layer.delta_in),
                                 "δ in = dE/d(input)  (input delta)", decimals,
                                 marks=None if winners is None else trace.shown(winners)))
    else:
        # the next layer's max-pool winners, marked where they are: in this layer's output
        following = trace.layers[layer.index + 1:layer.index + 2]
        winners = maxpool_winners(following[0]) if following and \
            following[0].type == "maxpool2d" else None
        parts.append(tensor_view(trace.shown(layer.output), "output", decimals,
                                 marks=None if winners is None else trace.shown(winners)))
    if winners is not None:
        parts.append(Text(WINNER_LEGEND, style="dim"))
    if steps:  # backward --show-steps: the textbook's intermediate matrices (cnngrad.steps)
        from cnngrad.render.steps import steps_view

        parts.append(steps_view(steps, decimals))
    title = f"[bold]{layer.name}[/] · {layer.type} · layer {layer.index + 1} of {count}"
    return Panel(Group(*_spaced(parts)), title=title, title_align="left", expand=False,
                 border_style="blue")


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
                    steps: dict | None = None) -> RenderableType:
    """Backprop order, last layer first: upstream delta, parameter gradients, input delta;
    ``steps`` (layer name → (caption, matrix) list, :func:`cnngrad.steps.trace_steps`) adds
    each layer's textbook steps."""
    parts: list[RenderableType] = [header(trace, "backward"), loss_line(trace, decimals)]
    parts += [layer_panel(trace, layer, decimals, steps=(steps or {}).get(layer.name))
              for layer in reversed(trace.layers)]
    return Group(*parts)


def forward_report(trace: Trace, decimals: int = DEFAULT_DECIMALS) -> RenderableType:
    """Forward order: each layer's output, then the loss."""
    parts: list[RenderableType] = [header(trace, "forward")]
    parts += [layer_panel(trace, layer, decimals, backward=False) for layer in trace.layers]
    parts.append(loss_line(trace, decimals))
    return Group(*parts)
