"""Trace → Rich renderables: one panel per layer, tensors as index-labelled tables.

Every function returns a renderable; printing (and the choice of terminal or file) is the
CLI's job.
"""

from __future__ import annotations

from itertools import product

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cnngrad.network import LayerTrace, Trace
from cnngrad.render.numbers import DEFAULT_DECIMALS, fmt, fmt_exact_decimal, wants_scientific

GRIDS_PER_ROW = 4

PARAM_LABELS = {"kernel": "dE/dw (kernel gradient)", "bias": "dE/db (bias gradient)",
                "weights": "dE/dW (weights gradient)"}


def cell_text(value, decimals: int, scientific: bool | None = None) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    text = fmt(value, decimals, scientific)
    if not isinstance(value, float) and "/" in text:
        text += f" ≈{fmt_exact_decimal(value, decimals)}"
    return text


def matrix_table(matrix: np.ndarray, title: str | None, decimals: int,
                 row_label: str = "") -> Table:
    """A 2-D array (or a 1-D one as a single row) with row and column indices."""
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
        row_names = [""]
    else:
        row_names = [str(i) for i in range(matrix.shape[0])]
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left",
                  title_style="bold", show_edge=False)
    table.add_column(row_label, justify="right", style="dim")
    for j in range(matrix.shape[1]):
        table.add_column(str(j), justify="right", header_style="dim")
    scientific = wants_scientific(matrix.flat, decimals)
    for name, row in zip(row_names, matrix):
        table.add_row(name, *(cell_text(v, decimals, scientific) for v in row))
    return table


def tensor_view(value, title: str, decimals: int = DEFAULT_DECIMALS,
                axes: str = "nc") -> RenderableType:
    """Any result tensor: a number, a vector, a matrix, or one grid per leading index
    (``[n, c]`` for maps, ``[f, c]`` for kernels)."""
    if value is None:
        return Text(f"{title}: —")
    array = np.asarray(value, dtype=object if _is_exact(value) else None)
    if array.ndim == 0:
        return Text.assemble((f"{title}: ", "bold"), cell_text(array.item(), decimals))
    if array.ndim <= 2:
        return Group(Text(title, style="bold", no_wrap=True, overflow="ignore"),
                     matrix_table(array, None, decimals))
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
                         matrix_table(array[index], None, decimals)))
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


def _kernel_axes(layer: LayerTrace, key: str) -> str:
    return "fc" if key == "kernel" else "nc"


def layer_panel(trace: Trace, layer: LayerTrace, decimals: int, backward: bool = True) -> Panel:
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
        parts.append(tensor_view(trace.shown(layer.delta_in),
                                 "δ in = dE/d(input)  (input delta)", decimals))
    else:
        parts.append(tensor_view(trace.shown(layer.output), "output", decimals))
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


def backward_report(trace: Trace, decimals: int = DEFAULT_DECIMALS) -> RenderableType:
    """Backprop order, last layer first: upstream delta, parameter gradients, input delta."""
    parts: list[RenderableType] = [header(trace, "backward"), loss_line(trace, decimals)]
    parts += [layer_panel(trace, layer, decimals) for layer in reversed(trace.layers)]
    return Group(*parts)


def forward_report(trace: Trace, decimals: int = DEFAULT_DECIMALS) -> RenderableType:
    """Forward order: each layer's output, then the loss."""
    parts: list[RenderableType] = [header(trace, "forward")]
    parts += [layer_panel(trace, layer, decimals, backward=False) for layer in trace.layers]
    parts.append(loss_line(trace, decimals))
    return Group(*parts)
