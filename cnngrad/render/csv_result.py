"""``--format csv``: every tensor of the report as CSV blocks for a spreadsheet or a script.

Each block starts with a comment line naming its dotted path (``# conv2d_1.grads.kernel``);
then one CSV row per matrix row.  A vector is one row, a number one line.  A tensor of rank 3
or 4 is one block per leading index, named by the element path
(``# conv2d_1.grads.kernel[0,1]``).  Blocks are separated by a blank line.  Exact results
(``--exact``) are written ``p/q``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cnngrad.network import Trace
from cnngrad.render.blocks import (as_array, element_path, formatted_rows, is_exact, matrices,
                                   number_formatter, report_tensors, tensor_is_scientific)
from cnngrad.render.numbers import DEFAULT_DECIMALS


def iter_tensor_blocks(path: str, value, decimals: int = DEFAULT_DECIMALS, *,
                       base: int = 0) -> Iterator[str]:
    """One tensor → its CSV blocks, each ``# path`` then the rows (no trailing newline); a
    float tensor's rows are formatted a group at a time.  ``base`` 1 numbers the ``# path[i]``
    names from 1."""
    array = as_array(value)
    exact = is_exact(array)
    text = number_formatter(value, decimals) if exact or array.ndim == 0 else None
    scientific = False if text else tensor_is_scientific(array, decimals)
    for index, block in matrices(array):
        rows = np.atleast_2d(block)  # a number is one line, a vector one row
        lines = [f"# {element_path(path, index, base)}"]
        if text:
            lines += [",".join(text(element) for element in row) for row in rows]
        else:
            for group in formatted_rows(rows, decimals, scientific, ","):
                lines += group
        yield "\n".join(lines)


def iter_csv(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
             include_backward: bool = True, base: int = 0) -> Iterator[str]:
    """:func:`render_csv` as pieces of text, a block at a time."""
    first = True
    for path, value in report_tensors(trace, include_backward=include_backward):
        for block in iter_tensor_blocks(path, value, decimals, base=base):
            yield block if first else "\n\n" + block
            first = False
    yield "\n"


def render_csv(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
               include_backward: bool = True) -> str:
    """The whole report as CSV blocks, forward order: ``loss`` first (when there is one), then
    each layer's ``output``, ``delta_out``, ``delta_in``, ``grads.<p>`` and, with ``--lr``,
    ``updated.<p>`` (only the outputs and the loss with ``include_backward=False``)."""
    return "".join(iter_csv(trace, decimals, include_backward=include_backward))
