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
                                   is_exact, matrices, number_formatter, report_tensors,
                                   tensor_is_scientific)
from cnngrad.render.numbers import DEFAULT_DECIMALS

AMSMATH_MAX_COLUMNS = 10  # bmatrix's default limit (the MaxMatrixCols counter)
#: The text width of LaTeX's article class at 10 pt, in points: a wider matrix leaves the page
ARTICLE_TEXT_POINTS = 345


def _column_points(decimals: int) -> int:
    """About how wide a bmatrix column of numbers at ``decimals`` sets, in points: a sign, a
    digit and the point besides the decimals, 5 pt a character, and the column's 10 pt of
    space (8 columns of 6 decimals: 440 pt, where the 8th ran off the page)."""
    return 5 * (decimals + 3) + 10

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


def tensor_equations(path: str, value, decimals: int = DEFAULT_DECIMALS) -> list[str]:
    """One tensor → its display equations (one per matrix)."""
    return list(iter_tensor_equations(path, value, decimals))


def iter_tensor_equations(path: str, value, decimals: int = DEFAULT_DECIMALS, *,
                          base: int = 0) -> Iterator[str]:
    """:func:`tensor_equations` an equation at a time; a float tensor's rows are formatted a
    group at a time.  ``base`` 1 numbers the ``path[i]`` labels from 1."""
    array = as_array(value)
    fast = not is_exact(array) and array.ndim > 0
    text = None if fast else number_formatter(value, decimals)
    scientific = tensor_is_scientific(array, decimals) if fast else False
    for index, block in matrices(array):
        label = rf"\text{{{text_label(element_path(path, index, base))}}}"
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
        yield f"\\[ {label} = \\begin{{bmatrix}}\n{body}\n\\end{{bmatrix}} \\]"


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
    lines = [f"% cnngrad {what}" + (f" · {title}" if title else "")
             + (f" · indices count from {base}" if base else "")  # as the table's header
             + r" (bmatrix needs \usepackage{amsmath})"]
    tensors = list(report_tensors(trace, include_backward=include_backward))
    widest = max((np.shape(value)[-1] for _, value in tensors if np.shape(value)), default=0)
    if widest > AMSMATH_MAX_COLUMNS:
        lines.append(rf"\setcounter{{MaxMatrixCols}}{{{widest}}}")
    if widest * _column_points(decimals) > ARTICLE_TEXT_POINTS:
        # pasted as it is, such a row runs past the page's edge and its last numbers are lost
        lines.append(r"% a matrix below is wider than an article's text: \resizebox{\linewidth}"
                     r"{!}{$...$} (\usepackage{graphicx}) fits it to the page, as fewer "
                     r"--decimals narrow it")
    yield "\n".join(lines) + "\n\n"
    first = True
    for path, value in tensors:
        for equation in iter_tensor_equations(path, value, decimals, base=base):
            yield equation if first else "\n\n" + equation
            first = False
    yield "\n"
