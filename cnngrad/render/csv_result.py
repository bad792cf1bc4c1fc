"""``--format csv``: every tensor of the report as CSV blocks for a spreadsheet or a script.

Each block starts with a comment line naming its dotted path (``# conv2d_1.grads.kernel``);
then one CSV row per matrix row.  A vector is one row, a number one line.  A tensor of rank 3
or 4 is one block per leading index, named by the element path
(``# conv2d_1.grads.kernel[0,1]``).  Blocks are separated by a blank line.  Exact results
(``--exact``) are written ``p/q``.
"""

from __future__ import annotations

import numpy as np

from cnngrad.network import Trace
from cnngrad.render.blocks import element_path, matrices, number_formatter, report_tensors
from cnngrad.render.numbers import DEFAULT_DECIMALS


def tensor_blocks(path: str, value, decimals: int = DEFAULT_DECIMALS) -> list[str]:
    """One tensor → its CSV blocks, each ``# path`` then the rows (no trailing newline)."""
    text = number_formatter(value, decimals)
    blocks = []
    for index, block in matrices(value):
        rows = np.atleast_2d(block)  # a number is one line, a vector one row
        lines = [f"# {element_path(path, index)}"]
        lines += [",".join(text(element) for element in row) for row in rows]
        blocks.append("\n".join(lines))
    return blocks


def render_csv(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
               include_backward: bool = True) -> str:
    """The whole report as CSV blocks, forward order: ``loss`` first (when there is one), then
    each layer's ``output``, ``delta_out``, ``delta_in``, ``grads.<p>`` and, with ``--lr``,
    ``updated.<p>`` (only the outputs and the loss with ``include_backward=False``)."""
    blocks: list[str] = []
    for path, value in report_tensors(trace, include_backward=include_backward):
        blocks += tensor_blocks(path, value, decimals)
    return "\n\n".join(blocks) + "\n"
