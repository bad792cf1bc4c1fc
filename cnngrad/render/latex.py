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
from fractions import Fraction

import numpy as np

from cnngrad.network import Trace
from cnngrad.render.blocks import (element_path, exact_scalar, matrices, number_formatter,
                                   report_tensors)
from cnngrad.render.numbers import DEFAULT_DECIMALS

AMSMATH_MAX_COLUMNS = 10  # bmatrix's default limit (the MaxMatrixCols counter)

_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "#": r"\#",
                 "$": r"\$", "%": r"\%", "&": r"\&", "^": r"\^{}", "~": r"\~{}"}
_SCIENTIFIC = re.compile(r"^(-?[0-9.]+)e([+-])0*([0-9]+)$")


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
    text = number_formatter(value, decimals)
    equations = []
    for index, block in matrices(value):
        label = rf"\text{{{text_label(element_path(path, index))}}}"
        if block.ndim == 0:
            element = block.item()
            equations.append(rf"\[ {label} = {latex_number(element, text(element))} \]")
            continue
        rows = np.atleast_2d(block)  # a vector is one row
        body = " \\\\\n".join(
            "  " + " & ".join(latex_number(element, text(element)) for element in row)
            for row in rows)
        equations.append(f"\\[ {label} = \\begin{{bmatrix}}\n{body}\n\\end{{bmatrix}} \\]")
    return equations


def render_latex(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
                 include_backward: bool = True) -> str:
    """The whole report as LaTeX display equations, forward order (the same tensors as
    ``--format csv``), after a comment line with the title."""
    what = "backward" if include_backward else "forward"
    title = " ".join((trace.problem.title or "").split())  # a newline would end the comment
    lines = [f"% cnngrad {what}" + (f" · {title}" if title else "") +
             r" (bmatrix needs \usepackage{amsmath})"]
    widest = 0
    equations: list[str] = []
    for path, value in report_tensors(trace, include_backward=include_backward):
        shape = np.shape(value)
        widest = max(widest, shape[-1] if shape else 0)
        equations += tensor_equations(path, value, decimals)
    if widest > AMSMATH_MAX_COLUMNS:
        lines.append(rf"\setcounter{{MaxMatrixCols}}{{{widest}}}")
    return "\n".join(lines) + "\n\n" + "\n\n".join(equations) + "\n"
