"""``check`` results → Rich renderables: each checked tensor with its wrong cells marked, and
the grade sheet of many files.

A right cell reads ``0.0446 ✓``, a wrong one ``0.045 ✗ 0.044606`` (the value as written, then
the true one), a cell the answers did not give ``·``: the marks carry the meaning, so the
report reads the same without colours (in a file or a pipe).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cnngrad.teach.check import FileCheck, TensorCheck, Tolerance
from cnngrad.render.numbers import (
    DEFAULT_DECIMALS,
    fmt,
    fmt_exact_decimal,
    wants_scientific,
)

RIGHT_MARK = "✓"
WRONG_MARK = "✗"
NOT_GIVEN = "·"
GRIDS_PER_ROW = 4


def true_text(value, decimals: int, scientific: bool | None = None) -> str:
    """A true value beside a wrong cell: decimals, or ``p/q ≈ decimal`` when exact."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        value = Fraction(value)
    text = fmt(value, decimals, scientific)
    if isinstance(value, Fraction) and value.denominator != 1:
        text += f" ≈{fmt_exact_decimal(value, decimals)}"
    return text


def _cell(check: TensorCheck, index: tuple, decimals: int, scientific: bool) -> Text:
    if not check.answered[index]:
        return Text(NOT_GIVEN, style="dim")
    written = check.texts[index]
    if check.right[index]:
        return Text.assemble(written, (f" {RIGHT_MARK}", "green"))
    return Text.assemble((written, "bold red"), (f" {WRONG_MARK} ", "red"),
                         (true_text(check.truth[index], decimals, scientific), "cyan"))


def _grid(check: TensorCheck, lead: tuple, decimals: int, scientific: bool) -> Table:
    """One matrix (or a vector as one row) of the tensor, with row and column indices."""
    shape = check.shape[len(lead):]
    rows, cols = (1, shape[0]) if len(shape) == 1 else shape
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("", justify="right", style="dim")
    for j in range(cols):
        table.add_column(str(j), justify="right", header_style="dim")
    for i in range(rows):
        cells = [_cell(check, lead + ((j,) if len(shape) == 1 else (i, j)), decimals,
                       scientific) for j in range(cols)]
        table.add_row("" if len(shape) == 1 else str(i), *cells)
    return table


def _count_line(right: int, total: int) -> Text:
    style = "green" if right == total else "red"
    return Text(f"{right}/{total} cells right", style=f"bold {style}")


def tensor_check_view(check: TensorCheck, decimals: int = DEFAULT_DECIMALS) -> RenderableType:
    """One checked tensor: title, the cells, ``k/n cells right`` and the diagnoses."""
    scientific = check.truth.dtype != object and wants_scientific(check.truth.reshape(-1),
                                                                  decimals)
    shape = "×".join(map(str, check.shape)) if check.shape else "a number"
    title = Text.assemble((check.path, "bold"), f"  ({shape})")
    parts: list[RenderableType] = []
    if check.truth.ndim == 0:
        title.append(": ")
        title.append_text(_cell(check, (), decimals, scientific))
        parts.append(title)
    elif check.truth.ndim <= 2:
        parts += [title, _grid(check, (), decimals, scientific)]
    else:
        lead_shape = check.shape[:-2]
        names = ("n", "c") if check.truth.ndim == 4 else ("c",)
        layout = Table.grid(padding=(0, 3))
        row: list[RenderableType] = []
        previous = None
        for lead in product(*(range(s) for s in lead_shape)):
            if row and (len(row) == GRIDS_PER_ROW or (len(lead) > 1 and lead[0] != previous)):
                layout.add_row(*row)
                row = []
            label = ", ".join(f"{n}={i}" for n, i in zip(names, lead))
            row.append(Group(Text(f"[{label}]", style="bold"),
                             _grid(check, lead, decimals, scientific)))
            previous = lead[0]
        layout.add_row(*row)
        parts += [title, layout]
    parts.append(_count_line(check.n_right, check.n_answered))
    for diagnosis in check.diagnoses:
        parts.append(Text(f"  → {diagnosis.text}", style="yellow"))
    if check.diagnosed and not check.diagnoses:
        parts.append(Text("  → no common slip matches", style="dim"))
    return Group(*parts)


def file_report(result: FileCheck, problem_file: str, tolerance: Tolerance,
                decimals: int = DEFAULT_DECIMALS) -> RenderableType:
    """Every tensor of one answers file, then the file's ``k/n cells right``."""
    parts: list[RenderableType] = [
        Text.assemble(("cnngrad check", "bold"), f" · {result.file} against {problem_file}"),
        Text(f"right when {tolerance.describe()}", style="dim"),
    ]
    for check in result.tensors:
        parts += [Text(""), tensor_check_view(check, decimals)]
    parts += [Text(""), Text.assemble(("total: ", "bold"),
                                      _count_line(result.right, result.total))]
    return Group(*parts)


def _notes(result: FileCheck) -> str:
    """Each wrong tensor, with the first slip it matches (JSON and CSV list them all)."""
    notes = []
    for check in result.tensors:
        if check.all_right:
            continue
        note = check.path
        if check.diagnoses:
            more = len(check.diagnoses) - 1
            note += f": {check.diagnoses[0].text}" + (f" (+{more} more)" if more else "")
        notes.append(note)
    return "; ".join(notes)


def _error_text(result: FileCheck) -> str:
    """The error without the answers file's own name (the row already says it)."""
    error = result.error
    file = None if error.file in (None, result.file) else error.file
    return ": ".join(part for part in (file, error.where, error.what) if part)


def grade_sheet(results: list[FileCheck], problem_file: str,
                tolerance: Tolerance) -> RenderableType:
    """One row per answers file: its score, and each tensor it got wrong with the slip that
    tensor matches (or why the file could not be checked)."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("file", overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("cells", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("wrong tensors, and what they match", overflow="fold")
    for result in results:
        if result.error is not None:
            table.add_row(Text(result.file), "—", "—", Text("error", style="bold magenta"),
                          Text(_error_text(result), style="magenta"))
            continue
        score = f"{100 * result.score:.1f}%" if result.score is not None else "—"
        status = Text(result.status, style="green" if result.status == "right" else "red")
        table.add_row(Text(result.file), score, f"{result.right}/{result.total}", status,
                      Text(_notes(result)))
    counts = {status: sum(r.status == status for r in results)
              for status in ("right", "wrong", "error")}
    summary = (f"{len(results)} files: {counts['right']} all right, {counts['wrong']} with "
               f"wrong answers, {counts['error']} could not be checked")
    return Group(Text.assemble(("cnngrad check", "bold"), f" · grade sheet against "
                                                          f"{problem_file}"),
                 Text(f"right when {tolerance.describe()}", style="dim"), Text(""), table,
                 Text(""), Text(summary, style="bold"))
