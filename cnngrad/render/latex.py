r"""``--format latex``: every tensor of the report as a ``bmatrix``, ready to paste.

Each tensor is one display equation labelled with its dotted path::

    \[ \text{conv2d\_1.grads.kernel} = \begin{bmatrix}
      0.044606 & 0.094061 \\
      0.011262 & 0.068288
    \end{bmatrix} \]

A vector is a one-row matrix, a number a plain equation, and a tensor of rank 3 or 4 one matrix
per leading index (``\text{conv2d\_1.grads.kernel[0,1]}``).  Exact results are ``\frac{p}{q}``;
scientific notation is ``1.5 \times 10^{-7}``.  ``bmatrix`` needs ``\usepackage{amsmath}``;
when a matrix is wider than amsmath's default of 10 columns the output starts with the
``\setcounter{MaxMatrixCols}{…}`` line it needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from cnngrad.network import Trace
from cnngrad.render.blocks import (as_array, element_path, exact_scalar, formatted_rows,
                                   header_notes,
                                   is_exact, matrices, number_formatter, report_tensors,
                                   tensor_is_scientific)
from cnngrad.render.numbers import DEFAULT_DECIMALS

AMSMATH_MAX_COLUMNS = 10  # bmatrix's default limit (the MaxMatrixCols counter)
#: The text width of LaTeX's article class at 10 pt, in points: a wider equation leaves the
#: page, its last numbers lost
ARTICLE_TEXT_POINTS = 345
#: What a display equation's row sets, in points, Computer Modern at 10 pt: a digit, the
#: decimal point, a minus sign (an operator, with its space), a script digit (an exponent, a
#: fraction's), the space between two columns, and a label's average character in \text
_DIGIT, _POINT, _MINUS, _SCRIPT, _COLUMN_SPACE, _LABEL_CHAR = 5.0, 2.8, 7.8, 3.5, 10.0, 4.7
#: "\times 10" with its spaces, " = " after the label, and the matrix's two brackets
_TIMES_TEN, _EQUALS, _BRACKETS = 25.6, 13.4, 10.0
#: The share of an article's text from which an equation is said to be too wide: the
#: estimate came within 3 % of lualatex's widths over fifteen kinds of row
_TOO_WIDE_FROM = 0.96
#: The width, in points, from which an equation is said to be too wide
_TOO_WIDE_POINTS = _TOO_WIDE_FROM * ARTICLE_TEXT_POINTS
_FRACTION_CELL = re.compile(r"(-?)\\frac\{(\d+)\}\{(\d+)\}")


def _cell_points(cell: str) -> float:
    """About how wide a cell of a bmatrix sets (``-0.875000``, ``1.50000 \\times 10^{-7}``,
    ``-\\frac{1}{3}``)."""
    fraction = _FRACTION_CELL.fullmatch(cell)
    if fraction:
        sign, top, bottom = fraction.groups()
        return (_MINUS if sign else 0.0) + _SCRIPT * max(len(top), len(bottom)) + 2.4
    mantissa, times, exponent = cell.partition(r" \times 10^")
    points = sum(_MINUS if c == "-" else _POINT if c == "." else _DIGIT
                 for c in mantissa.strip())
    if times:
        points += _TIMES_TEN + _SCRIPT * len(exponent.strip("{}"))
    return points


def _row_points(row: str) -> float:
    """About how wide a bmatrix row sets: its cells (:func:`_cell_points`) and the space
    between them.  A row of plain decimals is counted by its characters in a few
    ``str.count`` passes (cell by cell in Python, the estimate took 5× the time of writing a
    64×112×112 tensor)."""
    row = row.strip()
    between = row.count(" & ")
    if "\\" in row:  # \times 10^{k}, \frac{p}{q}: cell by cell
        cells = sum(_cell_points(cell.strip()) for cell in row.split(" & "))
    else:
        minus, point = row.count("-"), row.count(".")
        digits = len(row) - 3 * between - minus - point
        cells = _DIGIT * digits + _POINT * point + _MINUS * minus
    return cells + _COLUMN_SPACE * between


def _equation_points(label_text: str, rows: list[str]) -> float:
    """About how wide ``\\[ \\text{label} = \\begin{bmatrix} rows \\end{bmatrix} \\]`` sets:
    an article's text is :data:`ARTICLE_TEXT_POINTS` (8 numbers of 6 decimals, the label
    ``conv1d_1.delta_in``: 499 pt, lualatex's 501, their last one lost past the page's
    edge)."""
    widest = max(map(_row_points, rows), default=0.0)
    return len(label_text) * _LABEL_CHAR + _EQUALS + _BRACKETS + widest


#: What follows an equation wider than the page, pasted as it is
TOO_WIDE = (r"% the equation above is wider than an article's text: \resizebox{\linewidth}{!}"
            r"{$...$} (\usepackage{graphicx}) fits it to the page, as fewer --decimals narrow "
            r"it")

_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "#": r"\#",
                 "$": r"\$", "%": r"\%", "&": r"\&", "^": r"\^{}", "~": r"\~{}"}
_SCIENTIFIC = re.compile(r"^(-?[0-9.]+)e([+-])0*([0-9]+)$")
# the same inside a row of numbers joined by " & "
_ROW_NEGATIVE_POWER = re.compile(r"e-0*([0-9]+)")
_ROW_POSITIVE_POWER = re.compile(r"e\+0*([0-9]+)")


def text_label(text: str) -> str:
    """A path or title inside ``\\text{}``: LaTeX's special characters escaped."""
    return "".join(_TEXT_ESCAPES.get(char, char) for char in text)


def latex_number(value, plain: str) -> str:
    """One element in math mode, from its table text: ``\\frac{p}{q}`` for an exact value,
    ``a \\times 10^{b}`` for scientific notation, else the text as it is."""
    value = exact_scalar(value)
    if isinstance(value, Fraction) and value.denominator != 1:
        sign = "-" if value < 0 else ""
        return rf"{sign}\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"
    match = _SCIENTIFIC.match(plain)
    if match:
        mantissa, sign, exponent = match.groups()
        return rf"{mantissa} \times 10^{{{'-' if sign == '-' else ''}{exponent}}}"
    return plain


def tensor_equations(path: str, value, decimals: int = DEFAULT_DECIMALS, *,
                     too_wide_note: bool = True) -> list[str]:
    """One tensor → its display equations (one per matrix)."""
    return list(iter_tensor_equations(path, value, decimals, too_wide_note=too_wide_note))


def iter_tensor_equations(path: str, value, decimals: int = DEFAULT_DECIMALS, *,
                          base: int = 0, too_wide_note: bool = True) -> Iterator[str]:
    """:func:`tensor_equations` an equation at a time; a float tensor's rows are formatted a
    group at a time.  ``base`` 1 numbers the ``path[i]`` labels from 1; ``too_wide_note``:
    :data:`TOO_WIDE` after an equation wider than an article's text (not where the caller
    fits it to the page itself: generate's sheets)."""
    array = as_array(value)
    fast = not is_exact(array) and array.ndim > 0
    text = None if fast else number_formatter(value, decimals)
    scientific = tensor_is_scientific(array, decimals) if fast else False
    for index, block in matrices(array):
        shown = element_path(path, index, base)
        label = rf"\text{{{text_label(shown)}}}"
        if block.ndim == 0:
            element = block.item()
            yield rf"\[ {label} = {latex_number(element, text(element))} \]"
            continue
        rows = np.atleast_2d(block)  # a vector is one row
        if fast:
            lines = []
            for group in formatted_rows(rows, decimals, scientific, " & "):
                lines += group
            body = "  " + " \\\\\n  ".join(lines)
            if scientific:
                body = _ROW_NEGATIVE_POWER.sub(r" \\times 10^{-\1}", body)
                body = _ROW_POSITIVE_POWER.sub(r" \\times 10^{\1}", body)
        else:
            body = " \\\\\n".join(
                "  " + " & ".join(latex_number(element, text(element)) for element in row)
                for row in rows)
        equation = f"\\[ {label} = \\begin{{bmatrix}}\n{body}\n\\end{{bmatrix}} \\]"
        if too_wide_note and _equation_points(shown, body.split(" \\\\\n")) > _TOO_WIDE_POINTS:
            # pasted as it is, its last numbers would be lost past the page's edge
            equation += "\n" + TOO_WIDE
        yield equation


def render_latex(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
                 include_backward: bool = True) -> str:
    """The whole report as LaTeX display equations, forward order (the same tensors as
    ``--format csv``), after a comment line with the title."""
    return "".join(iter_latex(trace, decimals, include_backward=include_backward))


def iter_latex(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
               include_backward: bool = True, base: int = 0) -> Iterator[str]:
    """:func:`render_latex` as pieces of text, an equation at a time."""
    what = "backward" if include_backward else "forward"
    title = " ".join((trace.problem.title or "").split())  # a newline would end the comment
    parts = ([title] if title else []) + header_notes(trace, base)  # as the table's header
    lines = [" · ".join([f"% cnngrad {what}", *parts]) + r" (bmatrix needs \usepackage{amsmath})"]
    tensors = list(report_tensors(trace, include_backward=include_backward))
    widest = max((np.shape(value)[-1] for _, value in tensors if np.shape(value)), default=0)
    if widest > AMSMATH_MAX_COLUMNS:
        lines.append(rf"\setcounter{{MaxMatrixCols}}{{{widest}}}")
    yield "\n".join(lines) + "\n\n"
    first = True
    for path, value in tensors:
        for equation in iter_tensor_equations(path, value, decimals, base=base):
            yield equation if first else "\n\n" + equation
            first = False
    yield "\n"
