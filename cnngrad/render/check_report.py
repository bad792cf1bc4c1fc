"""``check`` results → Rich renderables: each checked tensor with its wrong cells marked, and
the grade sheet of many files.

A right cell reads ``0.0446 ✓``, a wrong one ``0.045 ✗ 0.044606`` (the value as written, then
the true one), a carried-forward one ``0.0512 ↻ 0.044606`` (right from the student's own
upstream answers; the values they imply are shown under the tensor), a cell the answers did
not give ``·``: the marks carry the meaning, so the report reads the same without colours
(in a file or a pipe).
"""

from __future__ import annotations

import re
from fractions import Fraction
from itertools import product
from pathlib import PurePath
from typing import NamedTuple

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.measure import Measurement
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from cnngrad.errors import with_hint
from cnngrad.teach.check import FileCheck, TensorCheck, Tolerance, key_text, split_key
from cnngrad.teach.grading import Grading
from cnngrad.render.grades import (carried_note, not_carried_note, points_text, rounding_note,
                                   tensor_notes, unexplained_notes)
from cnngrad.render import GRID_RULE, GRID_SEPARATOR, escape_controls
from cnngrad.render.layouts import FirstThatFits
from cnngrad.render.tables import column_blocks, column_span, grid_label
from cnngrad.render.numbers import (
    DEFAULT_DECIMALS,
    exact_beside,
    fmt,
    half_up_text,
    wants_scientific,
)

RIGHT_MARK = "✓"
WRONG_MARK = "✗"
CARRIED_MARK = "↻"
NOT_GIVEN = "·"
GRIDS_PER_ROW = 4
#: The grade sheet reads at this width, in a terminal and in a file: its head lines wrap
#: at it, and its last column takes what the other columns leave of it ...
SHEET_WIDTH = 80
#: ... but never less than this (a very long student name folds at the width below instead).
MIN_NOTES_WIDTH = 24
#: A student's name folds onto more lines past this width.
STUDENT_MAX_WIDTH = 24


def true_text(value, decimals: int, scientific: bool | None = None) -> str:
    """A true value beside a wrong cell: decimals, or ``p/q ≈ decimal`` when exact (``=``
    where the decimal is the value itself)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        value = Fraction(value)
    text = fmt(value, decimals, scientific)
    if isinstance(value, Fraction) and value.denominator != 1:
        text += "".join((" ", *exact_beside(value, decimals)))
    return text


class _Marked(NamedTuple):
    """An answered cell of :func:`_cell`, before it is laid out: the value as written, its
    mark, and the true value beside a wrong or carried-forward one (None for a right one)."""

    written: str
    written_style: str
    mark: str
    mark_style: str
    truth: str | None

    def text(self, written_width: int = 0, truth_width: int | None = None) -> Text:
        """The cell as text, the value written right-aligned to ``written_width`` and the
        true value to ``truth_width`` (a right cell padded with blanks where the others of
        its column have theirs, when ``truth_width`` is given)."""
        out = Text(" " * (written_width - cell_len(self.written)))
        out.append(self.written, style=self.written_style)
        if self.truth is None:
            out.append(f" {self.mark}", style=self.mark_style)
            if truth_width is not None:
                out.append(" " * (1 + truth_width))
            return out
        out.append(f" {self.mark} ", style=self.mark_style)
        if truth_width is not None:
            out.append(" " * (truth_width - cell_len(self.truth)))
        out.append(self.truth, style="cyan")
        return out


def _cell(check: TensorCheck, index: tuple, decimals: int, scientific: bool) -> _Marked | Text:
    if not check.answered[index]:
        return Text(NOT_GIVEN, style="dim")
    written = check.texts[index]
    if check.right[index]:
        return _Marked(written, "", RIGHT_MARK, "green", None)
    truth = _truth_beside(check.truth[index],
                          None if check.given is None else check.given[index],
                          decimals, scientific)
    if check.carried[index]:
        return _Marked(written, "yellow", CARRIED_MARK, "yellow", truth)
    return _Marked(written, "bold red", WRONG_MARK, "red", truth)


#: The most decimals a true value is shown with to tell it from the value written.
MOST_DECIMALS = 17


def _truth_beside(truth, given, decimals: int, scientific: bool) -> str:
    """:func:`true_text` of a wrong or carried cell's true value, with more decimals than
    ``decimals`` where at those it reads as the value written (``0.045 ✗ 0.045`` under
    --decimals 3 for a true 0.044606; ``0.37 ✗ 0.370000`` for a true 0.3700000025): a true
    value beside a ✗ says why it is wrong."""
    text = true_text(truth, decimals, scientific)
    if given is None or isinstance(given, str):
        return text
    shown = decimals
    while shown < MOST_DECIMALS and _reads_as(text, given):
        shown += 1
        text = true_text(truth, shown, scientific)
    return text


def _reads_as(text: str, given) -> bool:
    """Whether a true value's text (its decimal after the ≈ or = of an exact one) reads as
    the value written."""
    try:
        return Fraction(re.split("[≈=]", text)[-1].strip()) == Fraction(given)
    except (TypeError, ValueError, ZeroDivisionError):
        return False


def _line_up_marks(column: list) -> list[Text]:
    """The cells of one column as text with their marks one above the other: each value
    written right-aligned to the widest written, each true value to the widest true one (a
    right cell padded where the others have theirs), so that the column reads as two columns
    of numbers and the marks between them; an unanswered cell's ``·`` under the values
    written."""
    marked = [cell for cell in column if isinstance(cell, _Marked)]
    if not marked:
        return column
    written = max(cell_len(cell.written) for cell in marked)
    truth = max((cell_len(cell.truth) for cell in marked if cell.truth is not None),
                default=None)
    # an unanswered cell's · where the values written end (blanks where the marks are)
    after = 2 + (0 if truth is None else 1 + truth)
    return [cell.text(written, truth) if isinstance(cell, _Marked) else
            Text.assemble(" " * (written - cell.cell_len), cell, " " * after)
            for cell in column]


def _table_cell(cell: Text):
    """A cell for a Rich table: a right cell's trailing blanks (:func:`_line_up_marks`) as
    padding, which a right-justified column keeps (it strips a text's own)."""
    from rich.padding import Padding

    trailing = len(cell.plain) - len(cell.plain.rstrip(" "))
    return Padding(cell[:len(cell.plain) - trailing], (0, trailing, 0, 0)) if trailing else cell


def _implied_cell(check: TensorCheck, index: tuple, decimals: int, scientific: bool) -> Text:
    """What the upstream answers imply for a wrong cell: carried (yellow), or not (plain: the
    value the cell would have needed for credit); ``·`` for a right, rounded or unanswered
    cell, where there is nothing to carry."""
    wrong = check.answered[index] and not check.right[index] and not check.rounded[index]
    if not wrong:
        return Text(NOT_GIVEN, style="dim")
    return Text(true_text(check.implied[index], decimals, scientific),
                style="yellow" if check.carried[index] else "")


#: Joins words a grade sheet's head never wraps between (a path and its points), printed
#: as a plain space.
KEEP_TOGETHER = "\u00a0"


class _SheetLines:
    """A line of the grade sheet's head wrapped at the sheet's width (:data:`SHEET_WIDTH`),
    or at the width it is printed at where that is narrower: wrapped once, between words
    (never at a :data:`KEEP_TOGETHER`)."""

    def __init__(self, text: str, style: str = "dim") -> None:
        self.text, self.style = text, style

    def __rich_measure__(self, console, options) -> Measurement:
        longest = max(map(cell_len, self.text.split(" ")), default=0)
        return Measurement(longest, min(cell_len(self.text), SHEET_WIDTH)).clamp(
            max_width=options.max_width)

    def __rich_console__(self, console, options):
        import textwrap

        width = min(SHEET_WIDTH, options.max_width)
        # a word longer than the width (a long path) is folded where the width ends (the
        # sheet's, in a file too), never cut off
        for line in textwrap.wrap(self.text, width, break_long_words=True,
                                  break_on_hyphens=False):
            yield Text(line.replace(KEEP_TOGETHER, " "), style=self.style, overflow="fold")


class _CheckGrid:
    """One matrix of a checked tensor (a vector as one row), with row and column indices
    counted from ``base``; ``lead`` indexes the grids (:attr:`TensorCheck.grid_order`).
    Whole when it fits the width it is printed at, else cut into column blocks, each under
    a line naming its columns, as backward's tables are: a cell (the value written, its
    mark, the true value) is never cut or wrapped."""

    def __init__(self, check: TensorCheck, lead: tuple, decimals: int, scientific: bool,
                 base: int = 0, cell=_cell, label: str | None = None) -> None:
        order = check.grid_order
        shape = (check.shape if order is None else order.shape)[len(lead):]

        def own(index: tuple) -> tuple:  # a cell of the grids → its index in the tensor
            if order is None:
                return index
            return tuple(int(i) for i in np.unravel_index(int(order[index]), check.shape))

        vector = len(shape) == 1
        rows, cols = (1, shape[0]) if vector else shape
        self.label, self.vector = label, vector
        self.header = [str(j + base) for j in range(cols)]
        self.row_labels = ["" if vector else str(i + base) for i in range(rows)]
        self.cells = [[cell(check, own(lead + ((j,) if vector else (i, j))), decimals,
                            scientific) for j in range(cols)] for i in range(rows)]
        # a column's marks one above the other (a vector's columns have a cell each)
        by_column = [_line_up_marks([line[j] for line in self.cells]) for j in range(cols)]
        self.cells = [[by_column[j][i] for j in range(cols)] for i in range(rows)]
        # a Rich table of these columns: one space either side of a column (none at the
        # edges) and a space between two, so each value column takes its widest cell + 3
        self.fixed = max(map(cell_len, self.row_labels)) + 1
        self.widths = [2 + max([cell_len(self.header[j])] +
                               [line[j].cell_len for line in self.cells]) for j in range(cols)]

    def table(self, columns: range | None = None) -> Table:
        """The block as a Rich table: the layout :meth:`lines` reproduces, kept as its
        reference (tests hold the two to the same text)."""
        columns = range(len(self.header)) if columns is None else columns
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("", justify="right", style="dim", no_wrap=True)
        for j in columns:
            table.add_column(self.header[j], justify="right", header_style="dim", no_wrap=True)
        for label, line in zip(self.row_labels, self.cells):
            table.add_row(label, *(_table_cell(line[j]) for j in columns))
        return table

    def lines(self, columns: range) -> Text:
        """The block laid out as :meth:`table` lays it out, character for character (each
        value column right-justified to its widest cell, one space of padding either side
        but at the right edge, a space between two columns, a rule under the header), built
        line by line: with Rich's table layout, checking a 64×32×32 tensor with every cell
        wrong (15,700 lines) took 11.4–11.9 s, with these lines 4.5–6.0 s (the whole
        command, on a busy 2-core machine), the report unchanged."""
        label_width = self.fixed - 1
        contents = [self.widths[j] - 2 for j in columns]
        last = len(contents) - 1
        header = Text(" " * self.fixed)
        for k, (j, content) in enumerate(zip(columns, contents)):
            header.append("  " + " " * (content - cell_len(self.header[j])))
            header.append(self.header[j], style="bold dim")
            header.append(" " if k < last else "")
        block = Text(no_wrap=True, overflow="ignore")
        block.append_text(header)
        block.append("\n" + "─" * self._width(columns))
        for label, line in zip(self.row_labels, self.cells):
            block.append("\n" + " " * (label_width - cell_len(label)))
            block.append(label, style="dim")
            block.append(" ")
            for k, (j, content) in enumerate(zip(columns, contents)):
                cell = line[j]
                block.append("  " + " " * (content - cell.cell_len))
                block.append_text(cell)
                if k < last:
                    block.append(" ")
        return block

    def _width(self, columns: range) -> int:
        return self.fixed + sum(self.widths[j] for j in columns) + len(columns) - 1

    def __rich_measure__(self, console, options) -> Measurement:
        every = range(len(self.widths))
        label = cell_len(self.label or "")
        widest = max(self._width(every), label)
        narrowest = max(max(self._width(range(j, j + 1)) for j in every), min(label, 20))
        return Measurement(min(narrowest, widest), widest)

    def __rich_console__(self, console, options):
        blocks = column_blocks(self.fixed, self.widths, options.max_width)
        for number, block in enumerate(blocks):
            if number:  # a blank line before the next block's head, as backward's tables
                yield Text("")
            span = (column_span([self.header[j] for j in block], self.vector)
                    if len(blocks) > 1 else "")
            head = "  ".join(part for part in (self.label, span) if part)
            if head:
                yield Text(head, style="bold", overflow="fold")
            yield (self.lines(block) if self._width(block) <= options.max_width
                   else self.table(block))  # a lone column wider than the page: Rich's cut


class _GridRows:
    """Grids side by side while they fit the width they are printed at (at most
    :data:`GRIDS_PER_ROW`, a new row for each first index), the next ones on the rows
    below: a row never runs past the width and wraps its cells.  ``items`` are
    (first index, grid) pairs."""

    GAP = len(GRID_SEPARATOR)  # the padding each side of the box's rule
    #: no edges, no lines but the rule between columns
    RULES = box.Box(f"    \n  {GRID_RULE} \n    \n  {GRID_RULE} \n    \n    \n  {GRID_RULE} \n    \n")

    def __init__(self, items: list[tuple[int, RenderableType]]) -> None:
        self.items = items

    def _rows(self, console, options) -> list[list[RenderableType]]:
        rows: list[list[RenderableType]] = []
        row: list[RenderableType] = []
        used, group = 0, None
        for first, grid in self.items:
            width = Measurement.get(console, options, grid).maximum
            if row and (len(row) == GRIDS_PER_ROW or first != group
                        or used + self.GAP + width > options.max_width):
                rows.append(row)
                row, used = [], 0
            used += width + (self.GAP if row else 0)
            row.append(grid)
            group = first
        if row:
            rows.append(row)
        return rows

    def _layout(self, row: list[RenderableType]) -> Table:
        layout = Table(box=self.RULES, show_header=False, show_edge=False, padding=(0, 1),
                       pad_edge=False)
        layout.add_row(*row)
        return layout

    def __rich_measure__(self, console, options) -> Measurement:
        # the narrowest: one grid a row; the widest: the rows packed at the width given
        low = max(Measurement.get(console, options, grid).minimum for _, grid in self.items)
        high = max(Measurement.get(console, options, self._layout(row)).maximum
                   for row in self._rows(console, options))
        return Measurement(low, max(low, high))

    def __rich_console__(self, console, options):
        for number, row in enumerate(self._rows(console, options)):
            if number:  # a blank line between rows, as backward's tables have
                yield Text("")
            # a grid alone on its row needs no layout around it (the same lines, but for
            # the spaces after them: Rich's grid layout took half the time of a big report)
            yield row[0] if len(row) == 1 else self._layout(row)


def _grids(check: TensorCheck, decimals: int, scientific: bool, base: int,
           cell=_cell) -> RenderableType:
    """Every matrix of the tensor: a grid per leading index, ``[c=0]`` (``[n=0, c=1]``,
    ``[f=0, c=1]`` for a kernel), one per channel of a channels-last tensor as well; side by
    side while they fit the width."""
    shape = check.shape if check.grid_order is None else check.grid_order.shape
    lead_shape = shape[:-2]
    axes = check.axes
    names = axes[-len(lead_shape):] if len(lead_shape) <= len(axes) else "i" * len(lead_shape)
    items: list[tuple[int, RenderableType]] = []
    for lead in product(*(range(s) for s in lead_shape)):
        label = grid_label(names, lead, base, check.grid_order is not None)
        items.append((lead[0] if len(lead) > 1 else 0,
                      _CheckGrid(check, lead, decimals, scientific, base, cell, label)))
    return _GridRows(items)


def _count_line(right: int, total: int, carried: int = 0) -> Text:
    style = "green" if right + carried == total else "red"
    text = f"{right}/{total} cells right"
    if carried:
        text += f", {carried} carried forward"
    return Text(text, style=f"bold {style}")


def _whole_numbers(truth: np.ndarray) -> bool:
    """Whether every true value of a tensor is a whole number (exactly: an integer float or
    a Fraction of denominator 1), below 10¹⁵."""
    values = truth.reshape(-1)
    if truth.dtype == object:
        return all(Fraction(v).denominator == 1 and abs(v) < 10**15 for v in values)
    return bool(np.all(np.isfinite(values)) and np.all(np.abs(values) < 1e15)
                and np.all(values == np.round(values)))


def tensor_check_view(check: TensorCheck, decimals: int = DEFAULT_DECIMALS,
                      tolerance: Tolerance | None = None, *,
                      one_based: bool = False) -> RenderableType:
    """One checked tensor: title, the cells, ``k/n cells right`` and what the wrong cells
    are (rounded, carried forward, a common slip)."""
    tolerance = tolerance or Tolerance()
    base = int(one_based)
    scientific = check.truth.dtype != object and wants_scientific(check.truth.reshape(-1),
                                                                  decimals)
    shape = "×".join(map(str, check.shape)) if check.shape else "a number"
    title = Text.assemble((check.path, "bold"), f"  ({shape})")
    if check.weights is not None:
        title.append(f"  · {points_text(check.earned)}/{points_text(check.possible)} points"
                     if check.possible else "  · no points (not in the grading block)",
                     style="bold")
    parts: list[RenderableType] = []
    if not check.answered.any():
        title.append("  not answered", style="bold red")
        return title
    # a whole-number exercise's true values as whole numbers (4, not 4.000000)
    shown = 0 if not scientific and _whole_numbers(check.truth) else decimals
    if check.truth.ndim == 0:
        title.append(": ")
        cell = _cell(check, (), shown, scientific)
        title.append_text(cell.text() if isinstance(cell, _Marked) else cell)
        parts.append(title)
    elif check.truth.ndim <= 2:
        parts += [title, _CheckGrid(check, (), shown, scientific, base)]
    else:
        parts += [title, _grids(check, shown, scientific, base)]
    count = _count_line(check.n_right, check.n_answered, check.n_carried)
    missing = int(check.missing.sum())
    if missing:
        count.append(f"; {missing} required cell{'s' if missing > 1 else ''} not answered",
                     style="bold red")
    parts.append(count)
    note = rounding_note(check, tolerance, base)
    if note:
        parts.append(_note("→", note, "yellow"))
    carried, not_carried = carried_note(check), not_carried_note(check)
    if carried or not_carried:
        parts.append(_note(CARRIED_MARK if carried else "→",
                           f"{carried or not_carried}; the values they imply:", "yellow"))
        # the student's numbers may imply values of another scale than the truth's (1e308)
        scientific = check.implied.dtype != object and wants_scientific(
            check.implied.reshape(-1), decimals)
        # whole numbers implied, as the truth's are shown (-82, not -82.000000)
        implied_shown = 0 if not scientific and _whole_numbers(check.implied) else decimals
        if check.truth.ndim == 0:
            parts.append(Text("    " + true_text(check.implied[()], implied_shown, scientific),
                              style="yellow"))
        elif check.truth.ndim <= 2:
            parts.append(_CheckGrid(check, (), implied_shown, scientific, base, _implied_cell))
        else:
            parts.append(_grids(check, implied_shown, scientific, base, _implied_cell))
    for diagnosis in check.diagnoses:
        parts.append(_note("→", diagnosis.text, "yellow"))
    for note in unexplained_notes(check, tolerance, base):
        parts.append(_note("→", note, "dim" if note.startswith("no common slip") else
                           "yellow"))
    return Group(*parts)


def _note(mark: str, text: str, style: str):
    """``  → text``, a long text wrapping under its first word, not under the arrow."""
    note = Table.grid()
    note.add_column(no_wrap=True)
    note.add_column()
    note.add_row(Text(f"  {mark} ", style=style), Text(text, style=style))
    return note


#: Gradescope shows a test's output in a box about this many characters wide.
PLAIN_WIDTH = 100


def tensor_check_text(check: TensorCheck, decimals: int = DEFAULT_DECIMALS,
                      tolerance: Tolerance | None = None, *, one_based: bool = False) -> str:
    """:func:`tensor_check_view` as plain text (no colours), for Gradescope's ``output``."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, no_color=True, color_system=None,
                      width=PLAIN_WIDTH, legacy_windows=False)
    console.print(tensor_check_view(check, decimals, tolerance, one_based=one_based))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def gradescope_report(result: FileCheck, problem_file: str, tolerance: Tolerance,
                      grading: Grading | None = None, *, decimals: int = DEFAULT_DECIMALS,
                      one_based: bool = False, visibility: str = "visible") -> str:
    """Gradescope's results.json for one submission
    (:func:`cnngrad.render.grades.gradescope_json`), each test's output the plain cell
    report of :func:`tensor_check_text`."""
    from cnngrad.render.grades import gradescope_json

    return gradescope_json(result, problem_file, tolerance,
                           lambda check: tensor_check_text(check, decimals, tolerance,
                                                           one_based=one_based),
                           grading, one_based=one_based, visibility=visibility)


def total_line(result: FileCheck) -> Text:
    """``total: 16/29 cells right`` (and the points, with a grading block)."""
    line = Text.assemble(("total: ", "bold"),
                         _count_line(result.right, result.total, result.carried))
    if result.graded_by_points:
        line.append(f" · {points_text(result.earned)}/{points_text(result.possible)} points "
                    f"({half_up_text(100 * (result.exact_score or 0), 1)}%)", style="bold")
    return line


def _marks_legend(result: FileCheck) -> str:
    """What the number after a ✗ (wrong) or a ↻ (carried forward) is, said of the marks the
    report shows."""
    carried = any(check.carried.any() for check in result.tensors)
    wrong = any(check.wrong.any() for check in result.tensors)
    marks = " or ".join(mark for mark, shown in (("✗", wrong), ("↻", carried)) if shown)
    return f"; a {marks} is followed by the true value" if marks else ""


def file_report(result: FileCheck, problem_file: str, tolerance: Tolerance,
                decimals: int = DEFAULT_DECIMALS, *, one_based: bool = False
                ) -> RenderableType:
    """Every tensor of one answers file, then the file's ``k/n cells right`` (and points)."""
    parts: list[RenderableType] = [
        # names escaped before the layout, which counts their cells (so below)
        Text.assemble(("cnngrad check", "bold"),
                      escape_controls(f" · {result.file} against {problem_file}")),
        Text(f"right when {tolerance.describe()}" + _marks_legend(result), style="dim"),
    ]
    for check in result.tensors:
        parts += [Text(""), tensor_check_view(check, decimals, tolerance,
                                              one_based=one_based)]
    parts += [Text(""), total_line(result)]
    if result.missing_paths:
        parts.append(Text("missing: " + ", ".join(result.missing_words(int(one_based))),
                          style="bold red"))
    return Group(*parts)


def _each(words: str) -> str:
    """Words shared by several tensors, their count of cells not answered said of each
    ("1 required cell not answered in each", not one in all)."""
    return re.sub(r"(\d+ required cells? not answered)", r"\1 in each", words)


def _points_name(check: TensorCheck, result: FileCheck, base: int) -> str:
    """A tensor as a grade sheet's notes name it: with the points it earned; where the
    grading block gives points to its parts (``conv2d_1.delta_in[1]``), those parts, each
    with its own (those short of full marks), as the sheet's head lists them.  The note
    after the name is the tensor's: parts that hold every cell it is about stand for the
    tensor; otherwise they follow its name in brackets (``conv2d_1.delta_in 4/9
    (conv2d_1.delta_in[1] 1/3)``), so that "5 required cells not answered" is read of it."""
    if check.weights is None:
        return check.path
    if not check.possible:
        return f"{check.path} (no points)"
    # (score, its index) of each points key of this tensor, the key read as the block reads it
    parts = [(score, index) for score in result.path_scores or []
             for path, index in [split_key(score.key, file=None)] if path == check.path]
    whole = next((score for score, index in parts if index is None), None)
    parts = [(score, index) for score, index in parts if index is not None]
    short = [(score, index) for score, index in parts if score.earned != score.possible]
    if not short:
        short = _parts_holding(check, parts)
    if not short and whole is not None:  # the tensor's own points, as the head lists them
        return f"{check.path} {points_text(whole.earned)}/{points_text(whole.possible)}"
    if not short:  # (wrong cells without points)
        return f"{check.path} {points_text(check.earned)}/{points_text(check.possible)}"
    listed = ", ".join(f"{key_text(score.key, base)} {points_text(score.earned)}/"
                       f"{points_text(score.possible)}" for score, _ in short)
    if whole is None and _hold_all(check, [index for _, index in short]):
        return listed
    head = check.path if whole is None else (
        f"{check.path} {points_text(whole.earned)}/{points_text(whole.possible)}")
    return f"{head} ({listed})"


def _noted(check: TensorCheck) -> np.ndarray:
    """The cells a grade sheet's note is about: wrong, carried forward or not answered."""
    return check.wrong | check.carried | check.missing


def _hold_all(check: TensorCheck, indices: list) -> bool:
    """Whether the parts at ``indices`` hold every cell the tensor's note is about."""
    noted, covered = _noted(check), np.zeros(check.truth.shape, dtype=bool)
    for index in indices:
        covered[index] = True
    return not (noted & ~covered).any()


def _parts_holding(check: TensorCheck, parts: list[tuple]) -> list:
    """With full marks everywhere (carried forward): the parts with points (element paths,
    ``conv2d_1.grads.kernel[0,0,0,0]``) that hold a cell the note is about, when together
    they hold every one; [] when a cell lies outside them (then the note is the tensor's)."""
    noted = _noted(check)
    holding = []
    for score, index in parts:
        cells = np.zeros_like(noted)
        cells[index] = True
        if (cells & noted).any():
            holding.append((score, index))
    return holding if holding and _hold_all(check, [index for _, index in holding]) else []


def _notes(result: FileCheck, tolerance: Tolerance, base: int = 0) -> str:
    """Each tensor not right (wrong, rounded or carried forward), with what its wrong cells
    are (the first slip it matches: JSON and CSV list them all), tensors with the same note
    together; then the required paths not answered (their indices counted from ``base``)."""
    groups: dict[str, list[str]] = {}
    for check in result.tensors:
        if check.all_right and not check.carried.any() and not check.missing.any():
            continue
        if not check.answered.any():
            continue  # listed under "missing"
        name = _points_name(check, result, base)
        words = "; ".join(tensor_notes(check, tolerance, first_slip_only=True))
        groups.setdefault(words, []).append(name)
    notes = [", ".join(names) + (f": {_each(words) if len(names) > 1 else words}"
                                 if words else "")
             for words, names in groups.items()]
    if result.missing_paths:
        notes.append("missing: " + ", ".join(result.missing_words(base)))
    return "; ".join(notes)


def _error_text(result: FileCheck) -> str:
    """The error without the answers file's own name (the row already says it), and its
    hint (what to do: often the useful part, "counting from 1? give --one-based")."""
    error = result.error
    file = None if error.file in (None, result.file) else error.file
    return with_hint(": ".join(part for part in (file, error.where, error.what) if part),
                     error.hint)


def grade_sheet(results: list[FileCheck], problem_file: str, tolerance: Tolerance,
                grading: Grading | None = None, *, one_based: bool = False
                ) -> RenderableType:
    """One row per student (answers file): the score, the points (or cells) earned, and
    each tensor not right with what its wrong cells are (or why the file could not be
    checked). The required paths it names count from 1 with ``one_based``."""
    by_points = bool(grading and grading.points)
    header = ("student", "score", "points" if by_points else "cells", "status",
              "not right, and why" if by_points else
              "wrong tensors, and what they match")
    rows = []
    names = [result.student or result.file for result in results]
    for result, shown in zip(results, names):
        # a student with two rows (two files handed in): each row names its file too, or
        # the folder of its files of one path each
        label = (PurePath(result.answer_files[0]).parent.name + "/" if result.answer_files
                 else PurePath(result.file).name)
        name = Text(escape_controls(f"{shown} ({label})" if names.count(shown) > 1
                                    and result.file != shown else shown))
        if result.error is not None:
            rows.append((name, Text("—"), Text("—"), Text("error", style="bold magenta"),
                         Text(escape_controls(_error_text(result)), style="magenta")))
            continue
        score = (f"{half_up_text(100 * result.exact_score, 1)}%"
                 if result.exact_score is not None else "—")
        status = Text(result.status, style="green" if result.status == "right" else "red")
        # cells carried forward earn their credit: counted beside the right ones, as the score
        earned = (f"{points_text(result.earned)}/{points_text(result.possible)}" if by_points
                  else f"{result.right}+{result.carried}↻/{result.total}" if result.carried
                  else f"{result.right}/{result.total}")
        rows.append((name, Text(score), Text(earned), status,
                     Text(escape_controls(_notes(result, tolerance, int(one_based))))))
    # the columns before the notes at their widest (the name folded past its own bound),
    # each followed by three spaces (its padding, the blank rule, the next one's padding)
    widths = [max(len(title), *(row[k].cell_len for row in rows)) for k, title in
              enumerate(header[:4])]
    widths[0] = min(widths[0], STUDENT_MAX_WIDTH)
    notes_width = max(MIN_NOTES_WIDTH, SHEET_WIDTH - sum(widths) - 3 * len(widths))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column(header[0], overflow="fold", max_width=widths[0])
    table.add_column(header[1], justify="right", no_wrap=True)
    table.add_column(header[2], justify="right", no_wrap=True)
    table.add_column(header[3], no_wrap=True)
    table.add_column(header[4], overflow="fold", max_width=notes_width)
    for row in rows:
        table.add_row(*row)
    records = _sheet_records(rows, header[2])
    counts = {status: sum(r.status == status for r in results)
              for status in ("right", "wrong", "error")}
    # a row is a file, or a student's folder of one file per path (its files one row)
    noun = "student" if any(r.answer_files for r in results) else "file"
    summary = (f"{len(results)} {noun}{'s' * (len(results) != 1)}: {counts['right']} all "
               f"right, {counts['wrong']} with wrong answers, {counts['error']} could not be "
               "checked")
    # laid out for 80 columns in a file too: a long path (an exam's manifest, its "(each
    # student's own problem)") wraps
    head = [_SheetLines(escape_controls(f"cnngrad check · grade sheet against {problem_file}"),
                        "bold"),
            _SheetLines(f"right when {tolerance.describe()}")]
    if by_points:
        listing = (f"{points_text(sum(grading.points.values()))} points: " +
                   ", ".join(f"{key_text(key, int(one_based))}{KEEP_TOGETHER}"
                             f"{points_text(value)}" for key, value in grading.points.items()))
        head.append(_SheetLines(listing))
    if grading and grading.carry_forward:
        # the cells column marks carried cells ↻; points are said in words ("carried forward
        # from your ..."), where a ↻ in the legend would stand for nothing in the table
        mark = "" if by_points else f"{CARRIED_MARK} "
        head.append(Text(f"{mark}carried forward: right from the student's own upstream "
                         "answers, full points", style="dim"))
    return Group(*head, Text(""), FirstThatFits(table, records), Text(""),
                 Text(summary, style="bold"))


def _sheet_records(rows: list[tuple[Text, ...]], counted: str) -> Group:
    """The grade sheet as a block of lines per student, for a width where its table does not
    fit (under about 60 columns, its paths folded mid-word and the terminal folding the
    rows): the student, score, points (or cells) and status on a line, what is not right
    below it, indented and wrapped between words."""
    from rich.padding import Padding

    blocks = []
    for name, score, earned, status, notes in rows:
        if earned.plain == "—":  # a file that could not be checked: no score, no points
            blocks.append(Text.assemble(name, " · ", status))
        else:
            blocks.append(Text.assemble(name, " ", score, " · ", earned, f" {counted} · ",
                                        status))
        if notes.plain:
            blocks.append(Padding(notes, (0, 0, 0, 2)))
    return Group(*blocks)
