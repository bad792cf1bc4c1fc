"""Trace → text.  Renderers return strings or Rich renderables; they never print.

``FORMATS`` lists every ``--format`` value; each renderer module is imported only when used,
so the JSON path never pays for Rich.
"""

from __future__ import annotations

import importlib
import re

# the plain-text formats: format → (module, function(trace, decimals, *, include_backward,
# base) giving the report as pieces of text)
TEXT_FORMATS = {
    "csv": ("cnngrad.render.csv_result", "iter_csv"),
    "latex": ("cnngrad.render.latex", "iter_latex"),
    "markdown": ("cnngrad.render.markdown", "iter_markdown"),
}
FORMATS = ("table", "json") + tuple(TEXT_FORMATS)

#: The rule between grids side by side (backward's and check's tables, verify's grids), so
#: that the next grid's row index does not read as one more value of the row
#: (``0   -0.261749   0   0.159096``)
GRID_RULE = "┆"
#: The rule with a space each side: what stands between two grids of a row
GRID_SEPARATOR = f" {GRID_RULE} "

# C0 controls but line feed and tab, DEL, the C1 controls (0x9b is a one-byte CSI),
# lone surrogates (not encodable), line/paragraph separators, bidirectional overrides and
# isolates (they reorder what the eye sees), the byte-order mark
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029"
                      "\u202a-\u202e\u2066-\u2069\ufeff]")


#: _CONTROL's characters below 128: the C0 controls but tab and line feed, and DEL
_ASCII_CONTROLS = bytes([*range(0x09), *range(0x0b, 0x20), 0x7f])
#: Beyond this length ASCII text is searched as bytes: a table's cells, shorter, cost the
#: regex 0.1–0.3 µs each and the bytes 0.4–0.5 (the two meet at about 100 characters)
_ASCII_FROM = 128
#: ASCII text is searched this many characters at a time (two copies of a slice at once);
#: more than a streamed block's MiB and a bit, so that a block is one slice, not copied
_ASCII_SLICE = 1 << 22


def escape_controls(text: str) -> str:
    """``text`` with control characters written as ``\\uXXXX`` (valid inside a JSON string
    too, so a JSON result stays valid JSON with the same meaning)."""
    if len(text) > _ASCII_FROM and text.isascii():
        # a big result's text (its numbers): deleting the controls from the bytes and
        # comparing lengths takes 0.6 ms a MiB, the regex's scan 3 ms
        for start in range(0, len(text), _ASCII_SLICE):
            data = text[start:start + _ASCII_SLICE].encode("ascii")
            if len(data.translate(None, _ASCII_CONTROLS)) != len(data):
                break
        else:
            return text
    elif not _CONTROL.search(text):  # one scan at C speed
        return text
    return _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def render_text(fmt: str, trace, decimals: int, *, include_backward: bool = True,
                base: int = 0) -> str:
    """A report in one of :data:`TEXT_FORMATS` (csv, latex, markdown); ``base`` 1 numbers its
    indices from 1 (``--one-based``)."""
    return "".join(iter_text(fmt, trace, decimals, include_backward=include_backward,
                             base=base))


def iter_text(fmt: str, trace, decimals: int, *, include_backward: bool = True,
              base: int = 0):
    """:func:`render_text` as pieces of text, for writing a big report without holding it."""
    if fmt not in TEXT_FORMATS:
        raise ValueError(f"unknown text format {fmt!r}; allowed: {', '.join(TEXT_FORMATS)}")
    module, function = TEXT_FORMATS[fmt]
    return getattr(importlib.import_module(module), function)(
        trace, decimals, include_backward=include_backward, base=base)
