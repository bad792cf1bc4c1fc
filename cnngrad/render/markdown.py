"""``--format markdown``: the report as a Markdown document (GitHub-flavoured tables).

A heading per layer, then each of its tensors under its dotted path as an index-labelled table;
a vector is one row, a number one line, and a tensor of rank 3 or 4 one table per leading
index (``conv2d_1.grads.kernel[0,1]``).  Exact results read ``p/q ≈ decimal``, as in the
terminal tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from cnngrad.families import loss_family
from cnngrad.network import Trace
from cnngrad.render.blocks import (as_array, element_path, exact_scalar, formatted_rows,
                                   header_notes,
                                   is_exact, matrices, number_formatter, report_tensors,
                                   tensor_is_scientific)
from cnngrad.render.numbers import DEFAULT_DECIMALS, exact_beside


def cell(value, plain: str, decimals: int) -> str:
    """A table cell: the number, and for an exact fraction its decimal beside it."""
    value = exact_scalar(value)
    if isinstance(value, Fraction) and value.denominator != 1:
        return f"{plain} {' '.join(exact_beside(value, decimals))}"
    return plain


def tensor_markdown(path: str, value, decimals: int = DEFAULT_DECIMALS) -> list[str]:
    """One tensor → Markdown paragraphs: ``**`path`** = number``, or a caption and a table
    per matrix."""
    return list(iter_tensor_markdown(path, value, decimals))


def iter_tensor_markdown(path: str, value, decimals: int = DEFAULT_DECIMALS, *,
                         base: int = 0) -> Iterator[str]:
    """:func:`tensor_markdown` a paragraph at a time; a float tensor's rows are formatted a
    group at a time.  ``base`` 1 numbers the ``path[i]`` captions and the rows and columns
    from 1."""
    array = as_array(value)
    fast = not is_exact(array) and array.ndim > 0
    text = None if fast else number_formatter(value, decimals)
    scientific = tensor_is_scientific(array, decimals) if fast else False
    shape = np.shape(value)
    for index, block in matrices(array):
        name = element_path(path, index, base)
        if block.ndim == 0:
            element = block.item()
            yield f"**`{name}`** = {cell(element, text(element), decimals)}"
            continue
        rows = np.atleast_2d(block)  # a vector is one row
        caption = f"**`{name}`**" + (f" ({'×'.join(map(str, shape))})" if not index else "")
        lines = [caption, "",
                 "|   | " + " | ".join(str(j + base) for j in range(rows.shape[1])) + " |",
                 "|--:|" + "--:|" * rows.shape[1]]
        if fast:
            count = 0
            for group in formatted_rows(rows, decimals, scientific, " | "):
                for row in group:
                    label = "" if block.ndim == 1 else f"**{count + base}**"
                    lines.append(f"| {label} | {row} |")
                    count += 1
        else:
            for i, row in enumerate(rows):
                label = "" if block.ndim == 1 else f"**{i + base}**"
                lines.append(f"| {label} | " +
                             " | ".join(cell(e, text(e), decimals) for e in row) + " |")
        yield "\n".join(lines)


def _loss_text(trace: Trace, decimals: int) -> str:
    spec = trace.problem.loss
    if spec is None:
        return "No loss: the problem gives the delta at the last layer's output directly."
    what = loss_family(spec.type).summary(spec)
    value = trace.loss
    plain = number_formatter(value, decimals)(value)
    return f"**loss** E = {cell(value, plain, decimals)} ({what})"


def render_markdown(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
                    include_backward: bool = True) -> str:
    """The whole report as Markdown, forward order: a title, the loss, then a section per
    layer with its tensors (only the outputs with ``include_backward=False``)."""
    return "".join(iter_markdown(trace, decimals, include_backward=include_backward))


#: What Markdown would read as formatting in a title (_under_ as emphasis, a | in a table,
#: a backtick's code, a closing #, &copy; as ©, $x$ as math on GitHub): each written after a
#: backslash, which shows it as itself
_MARKDOWN_MARKUP = re.compile(r"([\\`*_\[\]<>|~#&$])")


def heading_text(title: str) -> str:
    """A title on one line, as a Markdown heading must be (a problem's title may hold line
    breaks), its markup characters escaped so that it reads as written."""
    return _MARKDOWN_MARKUP.sub(r"\\\1", " ".join(title.split()))


def iter_markdown(trace: Trace, decimals: int = DEFAULT_DECIMALS, *,
                  include_backward: bool = True, base: int = 0) -> Iterator[str]:
    """:func:`render_markdown` as pieces of text, a paragraph at a time."""
    what = "backward" if include_backward else "forward"
    title = heading_text(trace.problem.title or "")
    parts = ([title] if title else []) + header_notes(trace, base)  # as the table's header
    yield " · ".join([f"# cnngrad {what}", *parts])
    yield "\n\n" + _loss_text(trace, decimals)
    layers = {layer.name: layer for layer in trace.layers}
    count = len(trace.layers)
    current = None
    for path, value in report_tensors(trace, include_backward=include_backward):
        if path == "loss":
            continue  # already in the loss line
        name = path.split(".", 1)[0]
        if name != current:
            layer = layers[name]
            yield f"\n\n## {name} · {layer.type} (layer {layer.index + 1} of {count})"
            current = name
        for part in iter_tensor_markdown(path, value, decimals, base=base):
            yield "\n\n" + part
    yield "\n"
