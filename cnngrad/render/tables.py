"""Trace → Rich renderables: one panel per layer, tensors as index-labelled tables.

Every function returns a renderable; printing (and the choice of terminal or file) is the
CLI's job.
"""

from __future__ import annotations

import copy
import math
import re
from fractions import Fraction
from itertools import product

import numpy as np
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.segment import Segment
from rich.text import Text

from cnngrad.families import family_of, loss_family
from cnngrad.network import LayerTrace, Trace, bias_gradient_always_zero
from cnngrad.problem import INPUT
from cnngrad.render import GRID_SEPARATOR, escape_controls
from cnngrad.render.blocks import header_notes
from cnngrad.render.numbers import (DEFAULT_DECIMALS, exact_beside, fmt, json_number,
                                    wants_scientific)

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
        text += "".join((" ", *exact_beside(value, decimals)))
    return text


def largest_magnitude(array) -> float:
    """The largest finite |value| of an array (0 when there is none): a heatmap's scale."""
    array = np.asarray(array)
    if array.dtype != object:  # vectorized: a big tensor's scale costs no Python loop
        magnitudes = np.abs(array[np.isfinite(array)]).astype(np.float64, copy=False)
        return float(magnitudes.max()) if magnitudes.size else 0.0
    magnitudes = (_magnitude(v) for v in array.flat)
    return max((m for m in magnitudes if math.isfinite(m)), default=0.0)


def _magnitude(value) -> float:
    """|value| as a float: inf for an exact value beyond float64's range (2e308 is a fine
    fraction, but no float), as for a float that overflowed."""
    try:
        return abs(float(value))
    except OverflowError:
        return math.inf


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
        try:
            norm = math.sqrt(sum(v * v for v in values))
        except OverflowError:  # beyond float64: the norm is shown as inf
            norm = math.inf
        return min(values), max(values), mean, norm
    values = array.astype(np.float64, copy=False)
    # scaled by the largest magnitude: 1e200 squared must not overflow on the way
    largest = float(np.abs(values).max())
    scale = largest if 0 < largest < math.inf else 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = values / scale
        return (float(values.min()), float(values.max()), float(scaled.mean()) * scale,
                float(np.sqrt(np.sum(scaled * scaled))) * scale)


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
    magnitude = _magnitude(value)
    if not scale or not magnitude or not math.isfinite(magnitude):
        return ""
    ratio = 3 * magnitude / scale  # inf when |value| is near float64's limit
    level = int(ratio) if ratio < 2 else 2
    return HEAT_STYLES[1 if value > 0 else -1][level]


def matrix_table(matrix: np.ndarray, title: str | None, decimals: int, *,
                 scale: float | None = None,
                 marks: np.ndarray | None = None, full: bool = False,
                 stats: bool = True, base: int = 0,
                 stats_decimals: int | None = None) -> RenderableType:
    """A 2-D array (or a 1-D one as a single row) with row and column indices, as a heatmap,
    laid out for the width it is printed at (:class:`MatrixGrid`: column blocks when it is
    wider).

    Each cell is coloured by sign and by size relative to ``scale`` (default: the matrix's
    largest |value|; give the whole tensor's for one grid of several); the colours show only
    where the console has colour.  ``marks`` (bool, the matrix's shape) puts
    :data:`WINNER_MARK` before flagged cells, which reads without colour too.  Indices count
    from ``base``.

    Beyond :data:`SHORTEN_BEYOND` rows (columns) only the first and last :data:`CORNER` show,
    around an explicit ``…`` row (column), and with ``stats`` a line under it gives the min,
    max, mean and norm of every value (at ``stats_decimals``, by default ``decimals``: a
    mean of whole numbers need not be whole); ``full`` shows every cell."""
    grid = MatrixGrid(np.asarray(matrix), decimals, label=title, scale=scale, marks=marks,
                      full=full, base=base)
    parts: list[RenderableType] = [GridFlow([grid])]
    shortened = not full and max(np.shape(matrix)) > SHORTEN_BEYOND
    if stats and shortened:
        parts.append(stats_line(matrix, decimals if stats_decimals is None else stats_decimals))
    return Group(*parts)


# --------------------------------------------------------------------------- width-aware layout


class MatrixGrid:
    """One matrix of a report, its cells already written out, ready to be laid out at any
    width: whole when it fits, else cut into column blocks (each block with the row indices
    and its own column indices, as R and numpy print a wide matrix).  A number is printed
    whole or not at all: a cell is never cut, a block never folded.

    Parameters
    ----------
    matrix : ndarray, (rows, columns) or (columns,)
        The values (float or exact Fractions); a vector is one row without a row index.
    decimals : int
        Decimals of each cell (fixed, or scientific for the whole matrix when fixed would
        hide it).
    label : str, optional
        The line above the grid (``[c=0]``).
    scale : float, optional
        The heatmap's largest |value| (default: the matrix's own).
    marks : ndarray of bool, the matrix's shape, optional
        Cells marked with :data:`WINNER_MARK`.
    full : bool
        Every row and column, not the corners of a big matrix.
    base : int
        The first index shown (0, or 1 for ``--one-based``).
    scientific : bool, optional
        Fixed or scientific notation, decided for the whole tensor the matrix is a grid of
        (default: by the matrix's own values).
    """

    def __init__(self, matrix: np.ndarray, decimals: int, *, label: str | None = None,
                 scale: float | None = None, marks: np.ndarray | None = None,
                 full: bool = False, base: int = 0, scientific: bool | None = None) -> None:
        self.label = label
        self.vector = matrix.ndim == 1
        if self.vector:  # a vector's single row needs no index
            matrix = matrix.reshape(1, -1)
            marks = None if marks is None else np.reshape(marks, (1, -1))
        if scale is None:
            scale = largest_magnitude(matrix)
        rows = shown_indices(matrix.shape[0], full)
        columns = shown_indices(matrix.shape[1], full)
        if scientific is None:
            scientific = _scientific(matrix, decimals)
        self.header = [ELLIPSIS if j is None else str(j + base) for j in columns]
        self.row_labels = [ELLIPSIS if i is None else str(i + base) for i in rows]
        # (text, style) per shown cell; None for a cell of the "…" row or column
        self.cells: list[list[tuple[str, str] | None]] = []
        for i in rows:
            line: list[tuple[str, str] | None] = []
            for j in columns:
                if i is None or j is None:
                    line.append(None)
                    continue
                value = matrix[i, j]
                marked = marks is not None and bool(marks[i, j])
                text = (WINNER_MARK if marked else "") + cell_text(value, decimals, scientific)
                style = heat_style(value, scale) + (" bold" if marked else "")
                line.append((text, style.strip()))
            self.cells.append(line)
        # each value column: its widest cell or index, one space each side
        self.widths = [2 + max([cell_len(self.header[k])] +
                               [cell_len(row[k][0]) if row[k] else 1 for row in self.cells])
                       for k in range(len(columns))]
        # the row-index column (one space after it) and the separator after it
        self.fixed = 0 if self.vector else max(map(cell_len, self.row_labels)) + 2

    def table_width(self, columns: range | None = None) -> int:
        columns = range(len(self.widths)) if columns is None else columns
        return self.fixed + sum(self.widths[k] for k in columns) + len(columns) - 1

    @property
    def width(self) -> int:
        """Width side by side with others: the whole table, or its label if wider."""
        return max(self.table_width(), cell_len(self.label or ""))

    @property
    def min_width(self) -> int:
        """The narrowest it can be laid out: one column per block."""
        return max(self.fixed + max(self.widths), min(cell_len(self.label or ""), 20))

    def blocks(self, width: int) -> list[range]:
        """The columns cut into consecutive blocks that fit in ``width``
        (:func:`column_blocks`)."""
        return column_blocks(self.fixed, self.widths, width)

    def table(self, columns: range | None = None) -> Text:
        """The lines of ``columns`` (all by default): a header of column indices over a rule,
        then each row after its index; each cell right-aligned with one space each side, in
        its heatmap style.  Written out directly (a Rich table per grid costs three times
        more for a big report, and the widths are known here anyway)."""
        columns = range(len(self.widths)) if columns is None else columns
        label_width = self.fixed - 2
        out = Text(no_wrap=True, overflow="ignore", end="")
        if not self.vector:
            out.append(" " * (label_width + 2))
        out.append(" ".join(f" {self.header[k]:>{self.widths[k] - 2}} " for k in columns),
                   style="dim")
        out.append("\n" + "─" * self.table_width(columns))
        for label, line in zip(self.row_labels, self.cells):
            out.append("\n")
            if not self.vector:
                out.append(f"{label:>{label_width}}", style="dim")
                out.append("  ")
            for number, k in enumerate(columns):
                if number:
                    out.append(" ")
                cell = line[k]
                width = self.widths[k] - 2
                if cell is None:
                    out.append(f" {ELLIPSIS:>{width}} ", style="dim")
                else:
                    text, style = cell
                    pad = " " * (width - cell_len(text))
                    out.append(f" {pad}{text} ", style=style or None)
        out.append("\n")
        return out

    def whole(self) -> RenderableType:
        if self.label is None:
            return self.table()
        return Group(Text(self.label, style="bold", overflow="fold"), self.table())

    def split(self, width: int) -> list[RenderableType]:
        """The column blocks for ``width``, each under a line naming its columns."""
        parts = []
        for block in self.blocks(width):
            span = column_span([self.header[k] for k in block], self.vector)
            head = "  ".join(p for p in (self.label, span) if p)
            parts.append(Group(Text(head, style="bold", overflow="fold"), self.table(block)))
        return parts


def column_blocks(fixed: int, widths: list[int], width: int) -> list[range]:
    """Columns of ``widths`` (each with its padding) after ``fixed`` columns of row indices,
    one space between two of them, cut into consecutive blocks that fit in ``width`` (a
    column wider than that stands alone): as few blocks as fit, and of those cuts the one
    whose blocks hold the most even counts of columns (the least sum of their squares; the
    earlier block the larger on a tie).  Seven columns that fit six a block are cut 0–3 and
    4–6, not 0–5 and a lone 6; ten that fit three, 3, 3, 2 and 2.

    Notes
    -----
    Block ``b`` of ``k`` can start anywhere in a run of columns: where ``b`` blocks can
    reach, and the columns left still fit in ``k - b`` blocks and number at least that many
    (a fitting block cut in two still fits).  The evenest cut is then a shortest path
    through those runs.  A start's possible ends run from just after it to as far as fits,
    both limits moving right with the start, and the steps obey the quadrangle inequality,
    (e₁ − s₁)² + (e₂ − s₂)² > (e₂ − s₁)² + (e₁ − s₂)² for s₁ < s₂ and e₂ < e₁ (strictly):
    every best end of a start is at or before every best end of a later one.  So each
    run's best ends are found by halving, and the latest of a start's best ends (the tie
    rule) lies in the range its halving leaves it.  Run b lies between where b − 1 and b
    blocks as wide as fit reach, so the runs do not overlap and the whole search takes
    about the columns times a logarithm (16 ms for 10,000 columns cut in three)."""
    if not widths:
        return [range(0)]
    count = len(widths)
    # reach[i]: how many columns from i fit in one block (at least one), in one pass: where
    # a block can end never moves left as its start moves right (widths are never negative:
    # each holds its padding)
    reach, stop, used = [], 0, 0
    for start, column in enumerate(widths):
        if stop == start:
            stop, used = start + 1, fixed + column
        while stop < count and used + 1 + widths[stop] <= width:
            used += 1 + widths[stop]
            stop += 1
        reach.append(stop - start)
        used -= column + 1  # the block from start + 1 (reset there when it was this column)
    # needed[i]: the fewest blocks for the columns from i on (each block as wide as fits)
    needed = [0] * (count + 1)
    for start in range(count - 1, -1, -1):
        needed[start] = 1 + needed[start + reach[start]]
    total = needed[0]
    # runs[b]: the first and last column block b can start at.  The ends of consecutive
    # starts' blocks meet with no gap (each block holds at least one column), and the
    # columns that can still finish in the blocks left are a tail, so the next run is their
    # overlap
    runs, finishable = [(0, 0)], 0
    for block in range(1, total):
        left = total - block
        first, last = runs[-1]
        while needed[finishable] > left:  # needed never grows to the right
            finishable += 1
        runs.append((max(first + 1, finishable), min(last + reach[last], count - left)))
    runs.append((count, count))  # after the last block: the end of the columns
    # from the last block back: each start's least cost of the blocks from it on, and the
    # end its block takes (the later end on a tie: the larger block first)
    later_cost, best_ends = [0], []
    for block in range(total - 1, -1, -1):
        (first, last), later_first = runs[block], runs[block + 1][0]
        cost, end_of = [0] * (last - first + 1), [0] * (last - first + 1)
        pending = [(first, last, later_first, runs[block + 1][1])]
        while pending:
            low, high, end_low, end_high = pending.pop()
            if low > high:
                continue
            start = (low + high) // 2
            # never empty: the ends chosen for the starts around this one bound its best
            best, chosen = None, None
            for end in range(min(end_high, start + reach[start]), max(end_low, start + 1) - 1,
                             -1):
                value = (end - start) ** 2 + later_cost[end - later_first]
                if best is None or value < best:
                    best, chosen = value, end
            cost[start - first], end_of[start - first] = best, chosen
            pending += [(low, start - 1, end_low, chosen), (start + 1, high, chosen, end_high)]
        later_cost = cost
        best_ends.append(end_of)
    blocks, start = [], 0
    for block, end_of in enumerate(reversed(best_ends)):
        end = end_of[start - runs[block][0]]
        blocks.append(range(start, end))
        start = end
    return blocks


def column_span(headers: list[str], vector: bool = False) -> str:
    """``columns 0–7, …, 17`` for a block's column indices (``…`` where columns are hidden);
    a vector's are its ``entries``."""
    runs: list[list[str]] = [[]]
    for header in headers:
        if header == ELLIPSIS:
            runs.append([])
        else:
            runs[-1].append(header)
    pieces = [run[0] if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs if run]
    if len(runs) > 1:
        pieces = [pieces[0], ELLIPSIS, *pieces[1:]] if runs[0] and runs[-1] else \
                 ([ELLIPSIS, *pieces] if not runs[0] else [*pieces, ELLIPSIS])
    if not pieces or pieces == [ELLIPSIS]:
        return ""
    singular, plural = ("entry", "entries") if vector else ("column", "columns")
    return (singular if len(headers) == 1 else plural) + " " + ", ".join(pieces)


class GridFlow:
    """Grids laid out for the width they are printed at: side by side while they fit (at most
    :data:`GRIDS_PER_ROW`, a new row for each first index), stacked when they do not, and a
    grid wider than the width cut into column blocks (:meth:`MatrixGrid.split`).

    ``items`` are :class:`MatrixGrid` (with ``group``, the first index that keeps a row
    together) or a line of text that stands on its own (``… 58 more grids``)."""

    GAP = len(GRID_SEPARATOR)

    def __init__(self, items: list) -> None:
        self.items = items

    def arrange(self, width: float) -> list:
        """Layout rows: a list of grids side by side, a ``("split", grid)`` or a Text."""
        rows: list = []
        row: list = []
        used = 0

        def flush():
            nonlocal row, used
            if row:
                rows.append(row)
            row, used = [], 0

        for item in self.items:
            if isinstance(item, Text):
                flush()
                rows.append(item)
            elif item.width > width:
                flush()
                rows.append(("split", item))
            else:
                if row and (len(row) == GRIDS_PER_ROW or getattr(item, "group", None) !=
                            getattr(row[-1], "group", None) or used + self.GAP + item.width > width):
                    flush()
                used += item.width + (self.GAP if row else 0)
                row.append(item)
        flush()
        return rows

    def __rich_measure__(self, console, options) -> Measurement:
        grids = [item for item in self.items if not isinstance(item, Text)]
        if not grids:
            return Measurement(1, 1)
        rows = self.arrange(math.inf)
        slots = self._slots(rows, math.inf)
        widest = max(self._row_width(row, slots) for row in rows if isinstance(row, list))
        low = max(g.min_width for g in grids)
        return Measurement(min(low, widest), widest).clamp(max_width=options.max_width)

    def __rich_console__(self, console, options):
        width = options.max_width
        rows = self.arrange(width)
        slots = self._slots(rows, width)
        for number, row in enumerate(rows):
            if number:
                yield Segment.line()
            if isinstance(row, Text):
                yield row
            elif isinstance(row, tuple):
                blocks = row[1].split(width)
                for k, block in enumerate(blocks):
                    if k:
                        yield Segment.line()
                    yield block
            elif len(row) == 1:
                yield row[0].whole()
            else:
                yield from self._side_by_side(console, options, row, slots)

    def _slots(self, rows: list, width: float) -> list[int]:
        """The width of the k-th place of the rows of grids side by side: the widest k-th
        grid, so that each starts in one column ([n=1, c=1] under [n=0, c=1], not a column to
        its left); none where that would not fit ``width``."""
        sides = [row for row in rows if isinstance(row, list) and len(row) > 1]
        slots = [max(row[k].width for row in sides if k < len(row))
                 for k in range(max(map(len, sides), default=0))]
        if any(self._row_width(row, slots) > width for row in sides):
            return []
        return slots

    @staticmethod
    def _widths(row: list, slots: list[int]) -> list[int]:
        """Each grid's width in a row: in its slot, but for the last, which nothing follows."""
        return [max(grid.width, slots[k]) if k < len(slots) and k < len(row) - 1
                else grid.width for k, grid in enumerate(row)]

    def _row_width(self, row: list, slots: list[int]) -> int:
        return sum(self._widths(row, slots)) + self.GAP * (len(row) - 1)

    def _side_by_side(self, console, options, row, slots=()):
        """``row``'s grids side by side, the k-th in a slot ``slots[k]`` wide (its own width
        where ``slots`` has none)."""
        rendered = [console.render_lines(grid.whole(), options.update_width(grid.width),
                                         pad=True) for grid in row]
        widths = self._widths(row, slots)
        height = max(map(len, rendered))
        gap = Segment(GRID_SEPARATOR)
        for line in range(height):
            for k, (grid, lines) in enumerate(zip(row, rendered)):
                last = k == len(row) - 1
                if k:
                    yield gap
                if line < len(lines):
                    yield from lines[line]
                    if not last and widths[k] > grid.width:
                        yield Segment(" " * (widths[k] - grid.width))
                elif not last:
                    yield Segment(" " * widths[k])
            yield Segment.line()


def grid_label(names: str, index: tuple, base: int, channels_last: bool) -> str:
    """``[f=0, c=1]``: a grid's leading indices, counted from ``base``.  A channels-last
    kernel's grids are drawn as a channels-first one's, but its element paths index the
    two the other way round, (kh, kw, c, f) for conv2d's HWIO, (kh, kw, f, c) for
    conv_transpose2d's: its label names them as a path writes them (``[c=1, f=0]`` is
    ``[m,n,1,0]``)."""
    parts = [f"{n}={i + base}" for n, i in zip(names, index)]
    if channels_last and names in ("fc", "cf"):
        parts.reverse()
    return "[" + ", ".join(parts) + "]"


def tensor_view(value, title: str, decimals: int = DEFAULT_DECIMALS,
                axes: str = "nc", *, marks: np.ndarray | None = None,
                full: bool = False, base: int = 0, grid=None,
                channels_last: bool = False, whole_numbers: bool = True) -> RenderableType:
    """Any result tensor: a number, a vector, a matrix, or one grid per leading index
    (``[n, c]`` for maps, ``[f, c]`` for kernels); a heatmap scaled to the whole tensor.
    ``marks`` (bool, the tensor's shape) flags cells with :data:`WINNER_MARK`; every index
    shown counts from ``base`` (0, or 1 for ``--one-based``).

    The grids are laid out for the width they are printed at (:class:`GridFlow`).  A big
    tensor is shortened unless ``full``: each matrix to its corners (see
    :func:`matrix_table`), more than :data:`GRIDS_BEYOND` grids to the first and last few
    around a ``… N more grids`` line, and a min/max/mean/norm line of the whole tensor.

    ``grid`` (a function of an array) reorders a channels-last tensor so that its grids are
    still one per channel (``[c=0]``, rows and columns the map's); the heading keeps the
    tensor's own shape.  ``channels_last``: a kernel's labels as its element paths index it
    (:func:`grid_label`)."""
    if value is None:
        return Text(f"{title}: —")
    array = np.asarray(value, dtype=object if _is_exact(value) else None)
    own_shape = array.shape
    if grid is not None and array.ndim >= 3:
        array = grid(array)
        marks = None if marks is None else grid(np.asarray(marks))
    stats_decimals = decimals
    if whole_numbers:  # else the caller decided for several tensors at once
        decimals = cell_decimals(array, decimals)
    if array.ndim == 0:
        return Text.assemble((f"{title}: ", "bold"), cell_text(array.item(), decimals))
    scale = largest_magnitude(array)
    if array.ndim <= 2:
        return Group(Text(title, style="bold"),
                     matrix_table(array, None, decimals, scale=scale, marks=marks, full=full,
                                  base=base, stats_decimals=stats_decimals))
    lead_shape = array.shape[:-2]
    names = axes[-len(lead_shape):] if len(lead_shape) <= len(axes) else "i" * len(lead_shape)
    grids: list = list(product(*(range(s) for s in lead_shape)))
    hidden = 0 if full or len(grids) <= GRIDS_BEYOND else len(grids) - GRIDS_FIRST - GRIDS_LAST
    if hidden:
        grids = [*grids[:GRIDS_FIRST], None, *grids[-GRIDS_LAST:]]
    # fixed or scientific once for the whole tensor, as csv, latex and markdown decide it
    scientific = _scientific(array, decimals)
    items: list = []
    for index in grids:
        if index is None:  # the hidden grids: one line between the first and the last few
            items.append(Text(f"{ELLIPSIS} {hidden} more grids", style="dim"))
            continue
        label = grid_label(names, index, base, channels_last)
        matrix = MatrixGrid(array[index], decimals, label=label, scale=scale,
                            marks=None if marks is None else marks[index], full=full, base=base,
                            scientific=scientific)
        matrix.group = index[0] if len(index) > 1 else None  # one row of grids per n (or f)
        items.append(matrix)
    # one width per column across the tensor's grids: stacked, they line up (a minus sign
    # in one grid's column widened it alone)
    matrices = [item for item in items if isinstance(item, MatrixGrid)]
    common = [max(widths) for widths in zip(*(matrix.widths for matrix in matrices))]
    for matrix in matrices:
        matrix.widths = list(common)
    heading = Text(f"{title}  ({'×'.join(map(str, own_shape))})", style="bold")
    shortened = hidden or not full and max(array.shape[-2:]) > SHORTEN_BEYOND
    if shortened:
        return Group(heading, GridFlow(items), stats_line(array, stats_decimals))
    return Group(heading, GridFlow(items))


#: Whole numbers below this size are shown without decimals when a whole tensor holds them
#: (from it on, a tensor is written in scientific notation, which keeps its decimals).
WHOLE_SHOWN_BELOW = 1e12


def cell_decimals(array: np.ndarray, decimals: int) -> int:
    """The decimals a float tensor's cells are shown with: none when every value is a whole
    number (a problem in integers, a mask of 0s and 1s: -12, not -12.000000, as the
    numbers a student works with are written), else ``decimals``."""
    if array.dtype.kind != "f" or array.size == 0:
        return decimals
    finite = np.isfinite(array)
    if not finite.all():
        return decimals
    # from 2^mantissa on every float of the dtype is whole (float32: 8388608), and a whole
    # value there says nothing of the numbers' own
    below = min(WHOLE_SHOWN_BELOW, 2.0 ** np.finfo(array.dtype).nmant)
    if np.abs(array).max() >= below or not np.array_equal(array, np.round(array)):
        return decimals
    return 0


def _is_exact(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == object


def loss_line(trace: Trace, decimals: int) -> RenderableType:
    problem = trace.problem
    if problem.loss is None:
        return Text("no loss: the problem gives the delta at the last layer's output directly",
                    style="dim")
    what = loss_family(problem.loss.type).summary(problem.loss)
    shown = cell_decimals(np.asarray(trace.loss), decimals)  # a whole loss as the tables
    return Text.assemble(("loss E = ", "bold"), (cell_text(trace.loss, shown), "bold cyan"),
                         f"   ({what})")


def loss_view(trace: Trace, decimals: int, *, full: bool = False,
              base: int = 0) -> RenderableType:
    """The loss line, and what its family shows beside it (for cross_entropy the softmax
    probabilities p of the last output, from which its delta (p − t) / N comes)."""
    line = loss_line(trace, decimals)
    loss = trace.problem.loss
    if loss is None or not trace.layers:
        return line
    family = loss_family(loss.type)
    output = trace.layers[-1].output
    notes = [Text(note, style="dim") for note in family.report_notes(loss, output)]
    extra = family.report_tensors(loss, output)
    if not extra and not notes:
        return line
    return Group(line, *notes,
                 *(tensor_view(trace.shown(value), title, decimals, full=full, base=base)
                   for title, value in extra))


def maxpool_winners(layer: LayerTrace) -> np.ndarray | None:
    """bool, shaped like a layer's input (internal layout): the cells its family marks (a
    max-pool window's maximum, under the layer's ``ties`` rule), or None."""
    return family_of(layer.spec).input_marks(layer)


def winners_in(trace: Trace, name: str) -> np.ndarray | None:
    """bool, shaped like the output named ``name`` (``"input"``: the problem's input), internal
    layout: the max-pool winners of every layer that reads it, or None when none marks any."""
    marks = [maxpool_winners(reader) for reader in trace.readers(name)]
    marks = [mark for mark in marks if mark is not None]
    return np.logical_or.reduce(marks) if marks else None


def param_grid(layer: LayerTrace, key: str):
    """A parameter as given → the grids' order (the family's ``param_grid``)."""
    return lambda array: family_of(layer.spec).param_grid(layer.spec, key, array)


class FittedPanel(Panel):
    """A panel that says how narrow it can be (Rich's own measures a panel at its full
    width): its content's narrowest layout plus the border, so a caller can tell whether a
    report fits a width without cutting anything.  A title too long for the width is cut in
    its name, not at its end (:func:`short_title`)."""

    def __rich_measure__(self, console, options) -> Measurement:
        inner = Measurement.get(console, options.update_width(max(options.max_width - 4, 1)),
                                self.renderable)
        return Measurement(inner.minimum + 4, inner.maximum + 4).clamp(
            max_width=options.max_width)

    def __rich_console__(self, console, options):
        # the title sits between two corners and two rules, a space either side of it
        room = options.max_width - 6
        title = self.title
        if title:
            text = Text.from_markup(title) if isinstance(title, str) else title
            if text.cell_len > room >= TITLE_NAME_MIN:
                panel = copy.copy(self)
                panel.title = short_title(text, room)
                yield from Panel.__rich_console__(panel, console, options)
                return
        yield from super().__rich_console__(console, options)


#: The fewest cells of a name a shortened title keeps beside the rest of the title.
TITLE_NAME_MIN = 12


def short_title(title: Text, room: int) -> Text:
    """``title`` in ``room`` cells: its name (before the first `` · ``) cut in the middle
    with ``…``, so that both ends of it stay, and the rest (`` · conv2d · layer 1 of 3``)
    whole; where the rest leaves too little of the name, the whole title cut in the middle.
    Rich would cut a title at its end, and the layer's type and place with it."""
    split = title.plain.find(" · ")
    name, rest = (title[:split], title[split:]) if split > 0 else (title, Text())
    keep = room - 1 - len(rest.plain)
    if keep < TITLE_NAME_MIN:
        name, rest, keep = title, Text(), room - 1
    front = (keep + 1) // 2
    back = name[len(name.plain) - (keep - front):] if keep > front else Text()
    return Text.assemble(name[:front], "…", back, rest)


class Phrases:
    """Short phrases joined by `` · ``, wrapped between phrases only (never inside one:
    ``stride 2`` stays on one line).  A phrase given as a list of pieces (a concat's input
    shapes, each with its comma) breaks between its pieces where it is wider than the line,
    the rest indented under it."""

    SEPARATOR = " · "
    INDENT = "  "  # a phrase's pieces on the lines after its first

    def __init__(self, phrases: list[Text | list[Text]]) -> None:
        self.phrases = [phrase if isinstance(phrase, list) else [phrase] for phrase in phrases]

    @staticmethod
    def _width(pieces: list[Text]) -> int:
        return sum(piece.cell_len for piece in pieces) + len(pieces) - 1  # a space between

    def __rich_measure__(self, console, options) -> Measurement:
        widths = [self._width(pieces) for pieces in self.phrases] or [0]
        narrowest = max((len(self.INDENT) * (len(pieces) > 1) + piece.cell_len
                         for pieces in self.phrases for piece in pieces), default=0)
        total = sum(widths) + len(self.SEPARATOR) * (len(widths) - 1)
        return Measurement(narrowest, total).clamp(max_width=options.max_width)

    def __rich_console__(self, console, options):
        line, used, width = Text(), 0, options.max_width
        for pieces in self.phrases:
            if used and used + len(self.SEPARATOR) + self._width(pieces) > width:
                yield line
                line, used = Text(), 0
            if used:
                line.append(self.SEPARATOR, style="dim")
                used += len(self.SEPARATOR)
            for index, piece in enumerate(pieces):
                if index:  # only a phrase wider than the line breaks inside itself
                    if used + 1 + piece.cell_len > width:
                        yield line
                        line, used = Text(self.INDENT), len(self.INDENT)
                    else:
                        line.append(" ")
                        used += 1
                line.append_text(piece)
                used += piece.cell_len
        yield line


def layer_heading(trace: Trace, layer: LayerTrace) -> Phrases:
    """The panel's first line: the layer's settings (its family's
    :meth:`~cnngrad.families.base.LayerFamily.settings`) and its input → output shapes, as
    the report shows them, to match the panel with the page."""
    spec = layer.spec
    phrases: list[Text | list[Text]] = [_setting(label, value)
                                        for label, value in family_of(spec).settings(spec)]
    # a piece of its own: a line narrower than both shapes breaks before the arrow
    output = Text.assemble(("→ output ", "dim"),
                           (_shape(trace.layout.display_shape(spec.out_shape)), "bold"))
    previous = trace.layers[layer.index - 1].name if layer.index else INPUT
    if tuple(spec.inputs) in ((), (previous,)):  # a chain: the input is the previous output
        phrases.append([Text.assemble(
            ("input ", "dim"), (_shape(trace.layout.display_shape(spec.in_shape)), "bold")),
            output])
        return Phrases(phrases)
    if len(spec.inputs) > 1:  # add, concat: their settings name the inputs, in this order
        # a piece per shape: six inputs' shapes are wider than 80 columns
        phrases.append(_listed("input", [_shape(trace.layout.display_shape(shape))
                                         for shape in spec.in_shapes], comma_style="dim")
                       + [output])
        return Phrases(phrases)
    # a graph: the one layer it reads is not the previous one
    phrases.append([Text.assemble(("input ", "dim"), (spec.inputs[0], "italic")),
                    Text(_shape(trace.layout.display_shape(spec.in_shape)), style="bold"),
                    output])
    return Phrases(phrases)


def _setting(label: str, value: str) -> list[Text]:
    """A setting as :class:`Phrases` pieces, one per item of a list (``padding top 0,
    bottom 1, left 0, right 1``, a concat's ``inputs a, b, c``): a setting wider than the
    line breaks after a comma."""
    return _listed(label, value.split(", "), comma_style="bold")


def _listed(label: str, items: list[str], comma_style: str) -> list[Text]:
    """``label item, item, ...`` as :class:`Phrases` pieces, each item bold with its comma
    (``comma_style``), the dim label before the first."""
    pieces = [Text.assemble((item, "bold"), ("," if k < len(items) - 1 else "", comma_style))
              for k, item in enumerate(items)]
    pieces[0] = Text.assemble((f"{label} ", "dim"), pieces[0])
    return pieces


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def layer_panel(trace: Trace, layer: LayerTrace, decimals: int, backward: bool = True,
                steps: list | None = None, *, full: bool = False, base: int = 0) -> Panel:
    """One layer: a header line with its settings and shapes, then backward's upstream
    delta, parameter gradients (and SGD step) and input delta, or forward's output."""
    count = len(trace.layers)
    parts: list[RenderableType] = [layer_heading(trace, layer)]
    grid, axes = trace.layout.to_grids, trace.layout.grid_axes
    if backward:
        parts.append(tensor_view(trace.shown(layer.delta_out),
                                 "δ out = dE/d(output)  (upstream delta)", decimals, axes,
                                 full=full, base=base, grid=grid))
        for key, grad in layer.grads.items():
            view = tensor_view(grad, family_of(layer.spec).param_label(key), decimals,
                               family_of(layer.spec).param_grid_axes(layer.spec, key),
                               full=full, base=base,
                               grid=param_grid(layer, key),
                               channels_last=trace.layout.channels_last)
            note = _rounding_only(trace, layer, grad) if key == "bias" else None
            parts.append(view if note is None else Group(view, Note(note)))
        for key, value in trace.updated(layer).items():
            # the rate as given, never rounded to the table's decimals (0.5 is not 1)
            rate = json_number(trace.lr)
            rate = (rate if isinstance(rate, str) else
                    str(int(rate)) if float(rate).is_integer() and abs(rate) < 1e16 else
                    repr(rate))
            parts.append(tensor_view(value, f"{key} after one SGD step (lr = {rate})",
                                     decimals,
                                     family_of(layer.spec).param_grid_axes(layer.spec, key),
                                     full=full, base=base,
                                     grid=param_grid(layer, key),
                                     channels_last=trace.layout.channels_last))
        winners = maxpool_winners(layer)
        if isinstance(layer.delta_in, dict):  # add/concat: one delta per input
            for source, value in layer.delta_in.items():
                parts.append(tensor_view(trace.shown(value),
                                         f"δ in = dE/d({source})  (input delta to "
                                         f"{'the input' if source == INPUT else source})",
                                         decimals, axes, full=full, base=base, grid=grid))
        else:
            parts.append(tensor_view(trace.shown(layer.delta_in),
                                     "δ in = dE/d(input)  (input delta)", decimals, axes,
                                     marks=None if winners is None else trace.shown(winners),
                                     full=full, base=base, grid=grid))
    else:
        # the max-pool winners of the layers reading this output, marked where they are
        winners = winners_in(trace, layer.name)
        parts.append(tensor_view(trace.shown(layer.output), "output", decimals, axes,
                                 marks=None if winners is None else trace.shown(winners),
                                 full=full, base=base, grid=grid))
    if winners is not None:
        parts.append(Text(WINNER_LEGEND, style="dim"))
    if steps:  # backward --show-steps: the textbook's intermediate matrices (cnngrad.teach.steps)
        parts.append(steps_view(steps, decimals, full=full, base=base, axes=axes, grid=grid))
    return _panel(parts, f"[bold]{layer.name}[/] · {layer.type} · layer {layer.index + 1} of "
                         f"{count}")


#: The widest a note under a tensor asks its panel to be; it wraps to the panel's width.
NOTE_WIDTH = 48


class Note:
    """A dim note under a tensor: no wider than :data:`NOTE_WIDTH` unless its panel is (a
    line as long as the note would widen the whole panel), wrapped to whatever width the
    panel has, a narrow terminal's too."""

    def __init__(self, text: str) -> None:
        self.text = Text(text, style="dim")

    def __rich_measure__(self, console, options) -> Measurement:
        longest_word = max((cell_len(word) for word in self.text.plain.split()), default=0)
        return Measurement(longest_word, min(NOTE_WIDTH, self.text.cell_len)).clamp(
            max_width=options.max_width)

    def __rich_console__(self, console, options):
        yield self.text


def _rounding_only(trace: Trace, layer: LayerTrace, grad: np.ndarray) -> str | None:
    """Under a bias gradient that is 0 whatever the numbers but came out of float arithmetic
    as rounding noise (-8.32667e-17, which the table shows in scientific notation, its
    largest value rounding to zero), why it is 0; else None."""
    if not np.issubdtype(np.asarray(grad).dtype, np.floating) or not np.any(grad):
        return None
    reason = bias_gradient_always_zero(trace.problem, layer.spec)
    if reason is None:
        return None
    return f"exactly 0 for any numbers: {reason}; these digits are float rounding"


def _panel(parts: list[RenderableType], title: str) -> Panel:
    """A panel of the report: its parts a blank line apart, as wide as they need."""
    return FittedPanel(Group(*_spaced(parts)), title=title, title_align="left", expand=False,
                       border_style="blue")


#: The title of the panel of the problem's input (forward's winners, backward's total delta).
INPUT_TITLE = "[bold]input[/] · the problem's input"


def steps_view(steps: list, decimals: int = DEFAULT_DECIMALS, *,
               full: bool = False, base: int = 0, axes: str = "nc",
               grid=None) -> RenderableType:
    """The (caption, matrix) steps one under the other, numbered, under a heading; big
    matrices shortened unless ``full`` (:func:`tensor_view`); indices count from ``base``.
    A step of three or more axes is a map in the form the report shows (dropout's mask,
    batch norm's x̂): ``axes`` and ``grid`` lay it out as the layer's own maps are (one grid
    per channel under nhwc, ``[n]`` over a batched 1-D map's C×L grids)."""
    parts: list[RenderableType] = [Text("steps: the textbook route (backward --show-steps)",
                                        style="bold underline")]
    # whole numbers without decimals only when every step's are: the steps are slices of a
    # few tensors (one channel's delta, another's), which must read alike.  Exact steps
    # (fractions) keep the decimals of their "≈" (with none of them float, every float
    # step whole is no reason: 3/4 was shown ≈1)
    arrays = [np.asarray(matrix) for _, matrix in steps]
    floats = [array for array in arrays if array.dtype.kind == "f"]
    if (floats and not any(array.dtype == object for array in arrays)
            and all(cell_decimals(array, decimals) == 0 for array in floats)):
        decimals = 0
    for number, (caption, matrix) in enumerate(steps, start=1):
        parts.append(Text(""))
        caption = caption_counted_from(caption, base)
        parts.append(tensor_view(matrix, f"{number}. {caption}", decimals, axes,
                                 full=full, base=base, grid=grid, whole_numbers=False))
    return Group(*parts)


_CAPTION_LABEL = re.compile(r"\[([a-z]=\d+(?:, [a-z]=\d+)*)\]")
_CAPTION_CHANNEL = re.compile(r"(output channel )(\d+)")


def caption_counted_from(caption: str, base: int) -> str:
    """A step's caption with its indices counted from ``base``: the steps name their grids
    from 0 (``δ [n=0, f=1]``, conv_transpose2d's ``output channel 0``), the report from
    ``base`` (``--one-based``)."""
    if not base:
        return caption

    def shifted(match: re.Match) -> str:
        return "[" + ", ".join(f"{part[:2]}{int(part[2:]) + base}"
                               for part in match.group(1).split(", ")) + "]"

    caption = _CAPTION_LABEL.sub(shifted, caption)
    return _CAPTION_CHANNEL.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + base}", caption)


def _spaced(parts: list[RenderableType]) -> list[RenderableType]:
    out: list[RenderableType] = []
    for part in parts:
        if out:
            out.append(Text(""))
        out.append(part)
    return out


def header(trace: Trace, what: str, base: int = 0) -> RenderableType:
    title = trace.problem.title
    head = Text.assemble(("cnngrad ", "bold"), what)
    if title:  # its control characters escaped before the layout, which counts the cells
        head.append(f" · {escape_controls(title)}", style="italic")
    for note in header_notes(trace, base):
        head.append(f" · {note}", style="dim")
    return head


def backward_report(trace: Trace, decimals: int = DEFAULT_DECIMALS,
                    steps: dict | None = None, *, full: bool = False,
                    base: int = 0) -> RenderableType:
    """Backprop order, last layer first: upstream delta, parameter gradients, input delta;
    ``steps`` (layer name → (caption, matrix) list,
    :func:`cnngrad.teach.steps.trace_steps`) adds each layer's textbook steps.  Big tensors are
    shortened unless ``full`` (:func:`tensor_view`); indices count from ``base``."""
    parts: list[RenderableType] = [header(trace, "backward", base),
                                   loss_view(trace, decimals, full=full, base=base)]
    parts += [layer_panel(trace, layer, decimals, steps=(steps or {}).get(layer.name),
                          full=full, base=base)
              for layer in reversed(trace.layers)]
    total = input_panel(trace, decimals, full=full, base=base)
    if total is not None:
        parts.append(total)
    return Group(*parts)


def input_panel(trace: Trace, decimals: int, *, full: bool = False,
                base: int = 0) -> Panel | None:
    """The problem's input when several layers read it: its delta is the sum of what each
    sends back (each layer's δ in is only its share).  None for one reader."""
    readers = trace.readers(INPUT)
    if len(readers) < 2 or trace.input_delta is None:
        return None
    names = ", ".join(reader.name for reader in readers)
    parts = [Text(f"read by {names}: its delta is the sum of what each sends back"),
             tensor_view(trace.shown(trace.input_delta), "δ = dE/d(input)  (the input's delta)",
                         decimals, trace.layout.grid_axes, full=full, base=base,
                         grid=trace.layout.to_grids)]
    return _panel(parts, INPUT_TITLE)


def forward_input_panel(trace: Trace, winners: np.ndarray, decimals: int, *,
                        full: bool = False, base: int = 0) -> Panel:
    """The problem's input with the winners of the max pools that read it marked: forward
    marks winners in a pool's input, and this one is no layer's output."""
    readers = trace.readers(INPUT)
    reader = readers[0]
    shape = Text(_shape(trace.layout.display_shape(reader.input.shape)), style="bold")
    names = ", ".join(layer.name for layer in readers)
    parts = [Text.assemble(("input ", "dim"), shape, (" · read by ", "dim"), (names, "italic")),
             tensor_view(trace.shown(reader.input), "input", decimals, trace.layout.grid_axes,
                         full=full, base=base, marks=trace.shown(winners),
                         grid=trace.layout.to_grids),
             Text(WINNER_LEGEND, style="dim")]
    return _panel(parts, INPUT_TITLE)


def forward_report(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
                   full: bool = False, base: int = 0) -> RenderableType:
    """Forward order: each layer's output, then the loss (and, for cross_entropy, the
    softmax probabilities).  Big tensors are shortened unless ``full`` (:func:`tensor_view`);
    indices count from ``base``.  When a max pool reads the problem's input, the input comes
    first, its winners marked."""
    parts: list[RenderableType] = [header(trace, "forward", base)]
    winners = winners_in(trace, INPUT)
    if winners is not None:
        parts.append(forward_input_panel(trace, winners, decimals, full=full, base=base))
    parts += [layer_panel(trace, layer, decimals, backward=False, full=full, base=base)
              for layer in trace.layers]
    parts.append(loss_view(trace, decimals, full=full, base=base))
    return Group(*parts)
