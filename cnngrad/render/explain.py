"""Explanation → text: a Rich panel for a terminal, plain text, or the JSON object.

Each renderer returns a string or a renderable and never prints.  Rich is imported only by
:func:`explanation_panel`, so ``--format json`` and ``--format text`` never load it.
"""

from __future__ import annotations

from fractions import Fraction

from cnngrad.teach.explain import Explanation, Factor, Term, short
from cnngrad.render.numbers import DEFAULT_DECIMALS, exact_beside, fmt, json_number

#: Nonzero terms a table or text shows before it sums the rest into one line.
DEFAULT_MAX_TERMS = 100


# --------------------------------------------------------------------------- pieces


#: Plain text wraps notes to this many characters (the Rich panel wraps them to its width).
NOTE_WIDTH = 100


def _wrapped(text: str) -> str:
    """Parenthesise a compound expression inside a product: a leading minus, or a space
    outside every bracket (``1 - x[0]``, but not ``(t[0] - y[0])²``)."""
    depth, compound = 0, text.startswith("-")
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == " " and depth == 0:
            compound = True
    return f"({text})" if compound else text


def _note_lines(note: str, bullet: str, width: int = NOTE_WIDTH) -> list[str]:
    """The note wrapped at spaces under its bullet.  A minus between two operands stays on
    the line before (``M -`` / ``1``): a continued line starting ``- 1)`` would read as a new
    bullet."""
    import textwrap

    glued = note.replace(" - ", "\u00a0- ")
    lines = textwrap.wrap(glued, width, initial_indent=bullet,
                          subsequent_indent=" " * len(bullet), break_on_hyphens=False)
    return [line.replace("\u00a0", " ") for line in lines] or [bullet]


def _formula_lines(formula: str, width: int = NOTE_WIDTH) -> list[str]:
    """The formula whole when it fits ``width``; else its right side wrapped at spaces (never
    inside a number or an index) under the start of that side, or under a four-space indent
    when the left side leaves too little room."""
    import textwrap

    if len(formula) <= width:
        return [formula]
    lhs, sep, rhs = formula.partition(" = ")
    head = lhs + sep if sep else ""
    body = rhs if sep else formula
    indent = len(head) if width - len(head) >= 30 else 4
    return textwrap.wrap(body, width, initial_indent=head, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False) or [formula]


def _factor_number(factor: Factor, decimals: int, several: bool) -> str:
    text = factor.detail if factor.detail is not None else short(factor.value, decimals)
    return _wrapped(text) if several else text


def term_parts(term: Term, decimals: int = DEFAULT_DECIMALS) -> tuple[str, str, str]:
    """(symbols, numbers, value): ``("δ[0,2]·o[0,2]", "0.0686 × 0.88", "0.060368")``.

    The numbers are empty when they would only repeat the value (a single plain factor)."""
    several = len(term.factors) > 1
    symbols = "·".join(_wrapped(f.symbol) if several else f.symbol for f in term.factors)
    numbers = " × ".join(_factor_number(f, decimals, several) for f in term.factors)
    value = short(term.value, decimals)
    if numbers == value:
        numbers = ""
    return symbols, numbers, value


def total_text(value, decimals: int = DEFAULT_DECIMALS) -> str:
    """The total as the report prints it: fixed decimals; ``p/q ≈ decimal`` when exact, the
    decimal rounded from the fraction itself as every other report rounds it (``1/8 ≈
    0.13`` at 2 decimals, ``3/10 ≈ 0.30000000000000000`` at 17, not a float's digits)."""
    if isinstance(value, Fraction):
        text = fmt(value)
        if value.denominator == 1:
            return text
        return f"{text} {' '.join(exact_beside(value, decimals))}"
    return fmt(value, decimals)


def zero_text(explanation: Explanation) -> str:
    """``+ 12 terms that are 0 (δ = 0)``."""
    count = explanation.zero_terms
    reasons = explanation.zero_reasons
    if len(reasons) == 1:
        why = next(iter(reasons))
    else:
        why = "; ".join(f"{reason}: {n}" for reason, n in reasons.items())
    return f"+ {count} term{'s' if count != 1 else ''} that {'are' if count != 1 else 'is'} 0 " \
           f"({why})"


def _rest_line(explanation: Explanation, shown: int, decimals: int) -> str:
    count, rest = explanation.rest(shown)
    if explanation.operation == "max":  # a window's cells, zeros too: the largest matters
        return f"+ {count} more cell{'s' if count != 1 else ''}, the largest " \
               f"{short(rest, decimals)}"
    return f"+ {count} more nonzero term{'s' if count != 1 else ''}, together " \
           f"{short(rest, decimals)}"


def _counts_text(explanation: Explanation) -> str:
    if explanation.operation == "max":
        count = len(explanation.terms)
        return f"the largest of {count}" if count != 1 else "one cell"
    nonzero = len(explanation.terms)
    parts = [f"{nonzero} nonzero term{'s' if nonzero != 1 else ''}"]
    if explanation.zero_terms:
        parts.append(f"{explanation.zero_terms} zero")
    return " + ".join(parts)


# --------------------------------------------------------------------------- plain text


def _text_width(text: str) -> int:
    """The columns ``text`` takes in a fixed-width font: a combining mark (x̂'s hat) none."""
    import unicodedata

    return sum(not unicodedata.combining(char) for char in text)


def _pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` columns (:func:`_text_width`)."""
    return text + " " * (width - _text_width(text))


def explanation_text(explanation: Explanation, decimals: int = DEFAULT_DECIMALS,
                     max_terms: int = DEFAULT_MAX_TERMS, width: int = NOTE_WIDTH) -> str:
    """The explanation as plain text (no Rich, no colour), aligned for a fixed-width font.

    Title, formula, symbols, notes, the terms, the zero count; the last line is the total.
    The title, the formula and the notes wrap at ``width`` characters (at spaces: a number
    or an index stays whole; a term line stays whole)."""
    explanation = explanation.listing(max_terms)
    lines = [explanation.path, *_note_lines(explanation.title, "  ", width), "",
             *_formula_lines(explanation.formula, width)]
    if explanation.symbols:
        lines += ["", "where"]
        symbol_width = max(map(_text_width, explanation.symbols))
        lines += [f"  {_pad(symbol, symbol_width)}  {meaning}"
                  for symbol, meaning in explanation.symbols.items()]
    if explanation.notes:
        lines.append("")
        for note in explanation.notes:
            lines += _note_lines(note, "- ", width)
    if explanation.one_based:
        lines += ["", "(indices counted from 1)"]
    shown, rest = explanation.terms[:max_terms], len(explanation.terms) > max_terms
    if shown or rest or explanation.zero_terms:  # (no terms at all: the total alone below)
        lines.append("")
    rows = [term_parts(term, decimals) for term in shown]
    widths = [max((_text_width(row[k]) for row in rows), default=0) for k in range(3)]
    for term, (symbols, numbers, value) in zip(shown, rows):
        line = f"  {_pad(symbols, widths[0])} = "
        if widths[1]:
            line += f"{_pad(numbers, widths[1])} = " if numbers else " " * (widths[1] + 3)
        line += f"{value:>{widths[2]}}"
        if term.note:
            line += f"   ({term.note})"
        lines.append(line.rstrip())
    if rest:
        lines.append("  " + _rest_line(explanation, max_terms, decimals))
    if explanation.zero_terms:
        lines.append("  " + zero_text(explanation))
    lines += ["", f"{explanation.lhs} = {total_text(explanation.total, decimals)}"
                  f"   ({_counts_text(explanation)})"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- Rich


def _cell(text: str):
    """A table cell showing ``text`` as it is: a Rich Text, never read as markup (a note's
    ``x[i,j]`` is an index, not a tag)."""
    from rich.text import Text

    return Text(text)


class _Foldable:
    """Prose that folds a word longer than the width it is printed at (a long layer name)
    instead of widening the report past it: its narrowest layout is a few columns, not its
    longest word.  Numbers are never in it (the terms and the total are cut nowhere)."""

    NARROWEST = 16

    def __init__(self, text) -> None:
        text.overflow = "fold"  # a table cell would cut it with "…"
        self.text = text

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        measured = Measurement.get(console, options, self.text)
        return Measurement(min(measured.minimum, self.NARROWEST), measured.maximum)

    def __rich_console__(self, console, options):
        yield self.text


class _HangingFormula:
    """The formula at the width the panel prints it, laid out as the text format lays it
    out (:func:`_formula_lines`): whole when it fits, else its right side wrapped under the
    start of that side, so a continued line reads as the same sum, not as a new line of
    prose."""

    def __init__(self, formula: str, style: str) -> None:
        self.formula, self.style = formula, style

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement
        from rich.text import Text

        return Measurement.get(console, options, Text(self.formula))

    def __rich_console__(self, console, options):
        from rich.text import Text

        for line in _formula_lines(self.formula, options.max_width):
            yield Text(line, style=self.style)


class TermRows:
    """The listed terms as a Rich renderable: a row per term in six columns (symbols, ``=``,
    numbers, ``=``, value, note), laid out as a Rich table of a row per term while that fits
    the width, and otherwise laid out here so that no number or symbol is ever cut.

    Three layouts, the first that fits the width:

    - **a line per term**: each column as wide as its longest cell.  Such a Rich table
      measures and renders each of its cells on its own (600 of them for 100 terms, most of
      ``explain``'s time on a large problem); the same layout comes from a table of a single
      row whose cells are the columns, each one multi-line text: the same column widths,
      the same justification line by line, in a few calls.  (A cell holding a line break
      takes the table of a row per term.)
    - **the notes wrapped**: the symbols, numbers and value stay on one line each, in
      their columns; a note wraps at spaces under its own start.
    - **a block per term**: the symbols on a line, then ``  = numbers`` and
      ``  = value   (note)`` on lines of their own, each wrapped at spaces (a continued line
      indented by four).

    A Rich table too narrow for its rows shrinks columns below their longest word and cuts
    the words (``relu'(o[1,…``, ``(0.226…``); here no word is ever broken: the narrowest
    width this renderable claims (its measure's minimum) holds its longest word in a block.

    Parameters
    ----------
    rows : list of tuple of str
        A row per term, six cells each: ``(symbols, "=" or "", numbers, "=", value, note)``.
    """

    #: Each column's justification and style.
    COLUMNS = (("left", None), ("center", "dim"), ("left", None), ("center", "dim"),
               ("right", "bold"), ("left", "dim"))
    #: Cell padding: one space on either side of a column, none at the table's edges.
    PADDING = 2 * len(COLUMNS) - 2
    #: A block's ``  = `` before the numbers and the value, and the indent of a continued line.
    BLOCK_INDENT = 4

    def __init__(self, rows: list[tuple[str, ...]]) -> None:
        from rich.cells import cell_len

        self.rows = rows
        self._stacked = None
        # both layouts show the cells as they are (never read as markup); a cell holding a
        # line break makes its row taller; a cell of spaces only is measured as a line, not
        # by its words
        text = "".join("".join(row) for row in rows)
        self._one_line = len((text + ".").splitlines()) == 1
        self._as_columns = (self._one_line
                            and all(cell.strip() or not cell for row in rows for cell in row))
        self._tabs = "\t" in text  # Rich expands them: only its own lines show that
        # each column's measure as Rich takes it: its longest word, its longest line
        self._widths = [max((cell_len(row[k]) for row in rows), default=0)
                        for k in range(len(self.COLUMNS))]
        self._words = [max((cell_len(word) for row in rows for word in row[k].split()),
                           default=0) for k in range(len(self.COLUMNS))]
        self.natural_width = self.PADDING + sum(self._widths)
        #: the narrowest width with every word whole: the longest word in a block
        self.minimum_width = min(self.natural_width, self.BLOCK_INDENT + max(self._words))

    def _table(self, rows):
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
        for justify, style in self.COLUMNS:
            table.add_column(justify=justify, style=style)
        for row in rows:
            table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in row))
        return table

    def row_table(self):
        """The table of a row per term (what :meth:`stacked` stands for when it fits)."""
        return self._table(self.rows)

    def stacked(self):
        """The table of one row whose cells are whole columns, one line per term."""
        if self._stacked is None:
            from rich.text import Text

            self._stacked = self._table([[Text("\n".join(row[k] for row in self.rows))
                                          for k in range(len(self.COLUMNS))]])
        return self._stacked

    def _fits(self, width: int) -> bool:
        return self._as_columns and self.natural_width <= width

    def _note_width(self, width: int) -> int | None:
        """The note column's width when only the notes wrap (every other column whole, on
        one line, and the longest word of a note fits); None when that does not fit."""
        if not (self._one_line and not self._tabs and self._words[-1]):
            return None
        room = width - self.PADDING - sum(self._widths[:-1])
        return room if room >= self._words[-1] else None

    def layout(self, width: int) -> str:
        """Which layout ``width`` columns get: ``"lines"`` (a line per term), ``"notes
        wrapped"`` or ``"blocks"``."""
        if self.natural_width <= width:
            return "lines"
        return "notes wrapped" if self._note_width(width) is not None else "blocks"

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        # at its natural width a line per term; at its minimum, blocks with every word whole
        return Measurement(self.minimum_width, self.natural_width).clamp(
            max_width=options.max_width)

    def __rich_console__(self, console, options):
        width = options.max_width
        layout = self.layout(width)
        if self._fits(width) and console.color_system is None and not self._tabs:
            yield from self._plain_lines()  # no styles shown: the same lines, as plain text
        elif self._fits(width):
            yield self.stacked()
        elif layout == "lines":
            yield self.row_table()  # a line break in a cell: each row as tall as it needs
        elif layout == "notes wrapped":
            yield from self._wrapped_notes(console, self._note_width(width))
        else:
            yield from self._blocks(console, width)

    def _justified(self, k: int, cell: str, width: int) -> str:
        """A cell justified in its column as Rich does it."""
        from rich.cells import cell_len

        justify = self.COLUMNS[k][0]
        if justify != "left":  # Rich strips a centred or right-justified line first
            cell = cell.rstrip()
        room = width - cell_len(cell)
        before = 0 if justify == "left" else room if justify == "right" else room // 2
        return " " * before + cell + " " * (room - before)

    def _plain_lines(self):
        """The table's lines as unstyled segments: each cell justified in its column as
        Rich does it, one space of padding between columns."""
        from rich.segment import Segment

        for row in self.rows:
            yield Segment("  ".join(self._justified(k, cell, width)
                                   for k, (width, cell) in enumerate(zip(self._widths, row))))
            yield Segment.line()

    def _wrapped_notes(self, console, note_width: int):
        """A line per term in the columns; a note too long for its column wraps under its
        own start."""
        from rich.text import Text

        lead = self.PADDING + sum(self._widths[:-1])
        note_style = self.COLUMNS[-1][1]
        for row in self.rows:
            line = Text()
            for k in range(len(self.COLUMNS) - 1):
                line.append(self._justified(k, row[k], self._widths[k]),
                            style=self.COLUMNS[k][1])
                line.append("  ")
            notes = Text(row[-1]).wrap(console, note_width) if row[-1] else [Text()]
            line.append_text(Text(notes[0].plain.rstrip(), style=note_style or ""))
            line.rstrip()
            yield line
            for more in notes[1:]:
                yield Text(" " * lead + more.plain.rstrip(), style=note_style or "")

    def _blocks(self, console, width: int):
        """Each term on lines of its own: its symbols, ``  = numbers``, ``  = value
        (note)``; a line too long wraps at spaces, continued four columns in (under the
        numbers and the value, past the ``=`` of a term's lines)."""
        from rich.text import Text

        indent = self.BLOCK_INDENT
        room = max(width - indent, 1)
        equals = Text("  = ", style=self.COLUMNS[1][1] or "")
        for symbols, _, numbers, _, value, note in self.rows:
            head = Text(symbols).wrap(console, room) if symbols else []
            for k, line in enumerate(head):
                line.rstrip()
                yield Text(" " * indent) + line if k else line
            result = Text(value, style=self.COLUMNS[4][1] or "")
            if note:
                result.append("   ")
                result.append(note, style=self.COLUMNS[5][1] or "")
            for body in ([Text(numbers)] if numbers else []) + [result]:
                for k, line in enumerate(body.wrap(console, room)):
                    line.rstrip()
                    yield (equals if not k else Text(" " * indent)) + line


def explanation_panel(explanation: Explanation, decimals: int = DEFAULT_DECIMALS,
                      max_terms: int = DEFAULT_MAX_TERMS):
    """The explanation as a Rich panel, in the order of :func:`explanation_text`: the total
    is its last line."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    explanation = explanation.listing(max_terms)
    parts = [_Foldable(Text(explanation.title, style="italic")), Text(""),
             _HangingFormula(explanation.formula, "bold cyan")]
    if explanation.symbols:
        legend = Table(box=box.SIMPLE, show_header=False, pad_edge=False, show_edge=False,
                       padding=(0, 1))
        legend.add_column(style="bold")
        legend.add_column()
        for symbol, meaning in explanation.symbols.items():
            legend.add_row(_cell(symbol), _Foldable(_cell(meaning)))
        parts += [Text(""), Text("where", style="dim"), legend]
    if explanation.notes:
        # a bullet column and a note column that Rich wraps to the width it prints at
        # (a hanging indent; never wrapped twice)
        notes = Table.grid(padding=(0, 1))
        notes.add_column(no_wrap=True)
        notes.add_column()
        for note in explanation.notes:
            notes.add_row(_cell("•"), _Foldable(_cell(note)))
        parts += [Text(""), notes]
    if explanation.one_based:
        parts += [Text(""), Text("(indices counted from 1)", style="dim")]
    shown, rest = explanation.terms[:max_terms], len(explanation.terms) > max_terms
    if shown or rest or explanation.zero_terms:  # (no terms at all: the total alone below)
        parts.append(Text(""))
    if shown:
        rows = []
        for term in shown:
            symbols, numbers, value = term_parts(term, decimals)
            rows.append((symbols, "=" if numbers else "", numbers, "=", value,
                         f"({term.note})" if term.note else ""))
        parts.append(TermRows(rows))
    if rest:
        parts.append(Text(_rest_line(explanation, max_terms, decimals)))
    if explanation.zero_terms:
        parts.append(Text(zero_text(explanation), style="dim"))
    parts += [Text(""), Text.assemble((f"{explanation.lhs} = ", "bold"),
                                      (total_text(explanation.total, decimals), "bold green"),
                                      (f"   ({_counts_text(explanation)})", "dim"))]
    from cnngrad.render.tables import FittedPanel

    title = Text.assemble((explanation.path, "bold"))
    return FittedPanel(Group(*parts), title=title, title_align="left", expand=False,
                       border_style="blue")


# --------------------------------------------------------------------------- JSON


def _json_value(value):
    if isinstance(value, bool):
        return int(value)
    return json_number(value)


def explanation_dict(explanation: Explanation, max_terms: int | None = None) -> dict:
    """The explanation as a JSON-ready object (numbers at full precision; ``"p/q"`` exact).

    ``terms`` lists every nonzero term, or the first ``max_terms``: then, when there are more,
    ``more_terms`` gives how many more there are (``count``) and their sum (``total``), or
    for a ``max`` the largest of them (``largest``)."""
    def factor(f: Factor) -> dict:
        out = {"symbol": f.symbol, "value": _json_value(f.value)}
        if f.detail is not None:
            out["detail"] = f.detail
        if f.note is not None:
            out["note"] = f.note
        return out

    explanation = explanation.listing(max_terms)
    listed = explanation.terms if max_terms is None else explanation.terms[:max_terms]
    more = {}
    if max_terms is not None and len(explanation.terms) > max_terms:
        count, rest = explanation.rest(max_terms)
        combined = "largest" if explanation.operation == "max" else "total"
        more = {"more_terms": {"count": count, combined: _json_value(rest)}}
    return {
        "path": explanation.path,
        "title": explanation.title,
        "formula": explanation.formula,
        "operation": explanation.operation,
        "terms": [{"factors": [factor(f) for f in t.factors], "value": _json_value(t.value),
                   **({"note": t.note} if t.note else {})} for t in listed],
        **more,
        "zero_terms": explanation.zero_terms,
        "zero_reasons": explanation.zero_reasons,
        "total": _json_value(explanation.total),
        "symbols": explanation.symbols,
        "notes": explanation.notes,
        "one_based": explanation.one_based,
        "exact": explanation.exact,
    }


def explanation_json(explanation: Explanation, max_terms: int | None = None) -> str:
    """:func:`explanation_dict` as JSON text (every term, or the first ``max_terms``)."""
    import json

    return json.dumps(explanation_dict(explanation, max_terms), indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def paths_text(paths: dict[str, tuple[int, ...]]) -> str:
    """Every explainable tensor with its shape, one per line."""
    from cnngrad.problem import shape_text

    width = max(len(p) for p in paths)
    return "".join(f"{path:<{width}}  {shape_text(shape)}\n" for path, shape in paths.items())


__all__ = ["explanation_text", "explanation_panel", "TermRows", "explanation_dict",
           "explanation_json", "term_parts", "total_text", "paths_text", "DEFAULT_MAX_TERMS"]
