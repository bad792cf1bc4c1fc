"""GradcheckReport → JSON text or a Rich renderable (``cnngrad gradcheck``).

Rich is imported inside :func:`report_table` only, so ``--format json`` never loads it.
"""

from __future__ import annotations

import math

from cnngrad import __version__
from cnngrad.errors import and_list
from cnngrad.teach.gradcheck import (DEFAULT_EPS, LARGEST_USEFUL_STEP, SECOND_LOOK,
                                     GradcheckReport, Kink, TensorCheck, index_text,
                                     kink_branches, kink_kinds, zero_tolerance_remedy)
from cnngrad.render import escape_controls
from cnngrad.render.json_result import dumps
from cnngrad.render.layouts import FirstThatFits

#: At most this many elements on a kink, and failures, are shown per tensor in the table.
MAX_TABLE_ELEMENTS = 20

#: At most this many kinks of one kind are shown per layer in the table (JSON lists more).
MAX_TABLE_KINKS = 20


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape) if shape else "number"


def _error(value: float | None) -> str:
    """An error in the tensor table: always scientific with two digits (0 too), — for none."""
    if value is None:
        return "—"
    return f"{abs(float(value)):.1e}"


def column_formatter(values, decimals: int):
    """value → text for one column of an element table, in one notation for the whole column:
    ``decimals`` fixed decimals, unless they would hide the column (its largest magnitude
    rounds to 0, or is 10¹² or more: :func:`~cnngrad.render.numbers.wants_scientific`, the
    rule of every table); then scientific with ``decimals`` significant digits, zeros
    too.  A value that rounds to zero carries no sign; a difference that is not defined (E
    outside the loss's domain on that side: NaN) is ``—``."""
    from cnngrad.render.numbers import wants_scientific

    if wants_scientific(values, decimals):
        spec = f".{max(decimals - 1, 1)}e"
    else:
        spec = f".{decimals}f"

    def text(value) -> str:
        if math.isnan(value):
            return "—"
        written = format(float(value), spec)
        return written[1:] if written.startswith("-") and float(written) == 0 else written

    return text


# --------------------------------------------------------------------------- JSON


def _tensor_dict(check: TensorCheck) -> dict:
    failures = sorted(check.elements(check.failed), key=lambda i: -check.abs_error[i])
    worst = check.worst
    return {
        "path": check.path,
        "shape": list(check.shape),
        "max_abs_error": check.max_abs_error,
        "max_rel_error": check.max_rel_error,
        "checked": check.checked,
        "kinks_skipped": check.kinks_skipped,
        "ok": check.ok,
        "worst": None if worst is None else check.path + index_text(worst),
        "kink_elements": [list(i) for i in check.elements(check.kink)],
        "truncation_elements": [list(i) for i in check.elements(check.truncation)],
        "outside_domain_elements": [list(i) for i in check.elements(check.outside)],
        "bend_elements": [list(i) for i in check.elements(check.bent)],
        "failures": [{"element": check.path + index_text(i), "index": list(i),
                      "analytic": float(check.analytic[i]), "numeric": float(check.numeric[i]),
                      "abs_error": float(check.abs_error[i])} for i in failures],
    }


def _kink_dict(kink: Kink) -> dict:
    return {"layer": kink.layer, "kind": kink.kind, "position": list(kink.position),
            "cells": [list(c) for c in kink.cells], "value": kink.value,
            "smooth": kink.smooth, "meaning": kink.meaning}


def report_dict(report: GradcheckReport) -> dict:
    """The ``--format json`` object."""
    return {
        "cnngrad": __version__,
        "title": report.title,
        "eps": report.eps,
        "rtol": report.rtol,
        "atol": report.atol,
        "evaluations": report.evaluations,
        "rounding_noise": report.noise,
        "hidden_by_noise": report.hidden_by_noise,
        # tensors whose every smooth gradient is under atol/2: their ✓ says nothing
        "under_atol": [t.path for t in report.under_atol],
        "tensors": [_tensor_dict(t) for t in report.tensors],
        # the tensor "input" is dE/d(input), their sum, when several layers read the input
        "input_sum_of": list(report.input_parts),
        "kinks": [_kink_dict(k) for k in report.kinks],
        "kink_counts": [{"layer": layer, "kind": kind, "count": count}
                        for (layer, kind), count in report.kink_counts.items()],
        "ok": report.ok,
    }


def render_json(report: GradcheckReport) -> str:
    return dumps(report_dict(report)) + "\n"


# --------------------------------------------------------------------------- summary


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def smaller_eps(report: GradcheckReport) -> str:
    """A step to suggest when ε proved too large: ε/10, which the second looks used."""
    return f"{report.eps / SECOND_LOOK:g}"


def summary_line(report: GradcheckReport) -> str:
    """One line: the verdict, what was checked, the settings, and what ε's truncation error
    (elements that agree only at ε/10, failures that shrink there as it does) says of ε."""
    checked = sum(t.checked for t in report.tensors)
    skipped = sum(t.kinks_skipped for t in report.tensors)
    settings = (f"eps {report.eps:g}, rtol {report.rtol:g}, atol {report.atol:g}, rounding "
                f"noise {report.noise:.1e}; "
                f"{report.evaluations:,} energy evaluations")
    only_at_a_tenth = (f"only at ε/10 (truncation error: --eps {report.eps:g} is too large "
                       f"for them; --eps {smaller_eps(report)} or smaller checks them at ε)")
    hidden = report.hidden_by_noise
    step = report.step_to_see_hidden if hidden else None
    if zero_tolerance := zero_tolerance_remedy(report.rtol, report.atol):
        remedy = zero_tolerance  # no step helps, a tolerance does
    elif step is None or step > 1:  # rounding swamps what any useful difference could see
        remedy = ("no step a central difference can take checks them here (E is too large "
                  "beside their gradients)")
    elif step > LARGEST_USEFUL_STEP:
        remedy = (f"only --eps {step:g} or larger would, a step so coarse that its truncation "
                  f"error may matter more")
    else:
        remedy = f"--eps {step:g} or larger checks them"
    blind = (f"; but at --eps {report.eps:g} the rounding noise is wider than the tolerance of "
             f"{hidden:,} of the {checked:,} checked, whose errors up to {report.noise:.1e} "
             f"pass unseen: {remedy}"
             + (f" (the default is {DEFAULT_EPS:g})" if report.eps < DEFAULT_EPS else "")
             if hidden else "")
    under = report.under_atol
    if under:
        largest = max(t.largest_smooth for t in under)
        blind += (f"; but every gradient of {and_list([t.path for t in under])} is under atol/2 "
                  f"(the largest {largest:.1e}): one off by as much as itself, its sign "
                  f"flipped, passes unseen; --atol {report.atol_to_see_under:g} checks "
                  + ("it" if len(under) == 1 else "them"))
    # skipped where a step leaves bce's [0, 1]: at a large ε that may be every element
    domain = (f"because {STEP_PAST_THE_DOMAIN}"
              + (f" (--eps {report.eps:g} may be too large for them; the default is 1e-06)"
                 if report.eps > DEFAULT_EPS else ""))
    if report.ok and not checked:
        # no element was compared: a ✓ would claim an agreement nothing showed
        return (f"– nothing checked: all {skipped:,} elements of "
                f"{_count(len(report.tensors), 'tensor')} skipped on a kink"
                + (f", {report.outside:,} of them {domain}" if report.outside else "")
                + (f"; --eps {report.eps:g} may be too large: a smaller step reaches fewer "
                   f"kinks (the default is {DEFAULT_EPS:g})" if report.eps > DEFAULT_EPS else "")
                + f" ({settings}){blind}")
    if report.ok:
        return (f"✓ every smooth element agrees: {checked:,} checked in "
                f"{_count(len(report.tensors), 'tensor')}"
                + (f", {report.truncated:,} {only_at_a_tenth}" if report.truncated else "")
                + f", {skipped:,} on a kink skipped"
                + (f", {report.outside:,} of them {domain}" if report.outside else "")
                + f" ({settings}){blind}")
    bad = [t for t in report.tensors if not t.ok]
    # of the elements checked: those on a kink were not held to the tolerance
    names = ", ".join(f"{t.path} ({int(t.failed.sum())} of {t.checked} checked)" for t in bad)
    tail = (f"; {_count(report.unresolved, 'failing element')} got no second look within "
            f"--max-evaluations" if report.unresolved else "")
    if report.shrinking:
        tail += (f"; at ε/10 the error of {report.shrinking:,} of them shrinks as truncation "
                 f"error does (about ε²): --eps {report.eps:g} may be too large, try a smaller "
                 f"one")
    if report.truncated:
        tail += f"; {_count(report.truncated, 'other element')} agree {only_at_a_tenth}"
    if report.outside:
        tail += f"; {report.outside:,} skipped {domain}"
    return (f"✗ {len(bad)} of {_count(len(report.tensors), 'tensor')} disagree beyond tolerance: "
            f"{names} ({settings}){tail}{blind}")


# --------------------------------------------------------------------------- table


#: What the element tables' one-sided columns are: said above the table, so that its headers
#: stay one word and the table fits 80 columns.
ONE_SIDED = "left = (E(t)−E(t−ε))/ε, right = (E(t+ε)−E(t))/ε"
#: The same for the column of the truncation-error table.
AT_A_TENTH = "central = (E(t+ε)−E(t−ε))/2ε, ε/10 = the same at ε/10"
#: Why some elements are skipped though no kink is at them: a step leaves bce's domain.
STEP_PAST_THE_DOMAIN = "a step of ε takes a bce output past 0 or 1"
#: The kinks section's words for them.
OUTSIDE_THE_DOMAIN = (f"{STEP_PAST_THE_DOMAIN}, where bce is not defined (torch refuses such an "
                      f"output too): E has no value on that side, so no central difference "
                      f"('—' below)")


def step_reaches_a_kink(report: GradcheckReport) -> str:
    """Why elements are on a kink when none is named at this point (a kinks section says
    it); the loss's own branch among them (bce's clamped logs)."""
    moves = ("move a relu input across 0, change a pool window's maximum or "
             + report.loss_branch[1] if report.loss_branch else
             "move a relu input across 0 or change a pool window's maximum")
    return (f"a step of ε reaches one: the elements on a kink below {moves} (a smaller --eps "
            f"keeps their moves off it)")


def input_note(parts: tuple[str, ...]) -> str:
    """What the row ``input`` is: no command's path, the sum of those that explain and check
    take."""
    return (f"input: dE/d(input), the sum of {' and '.join(parts)} (several layers read the "
            "input; explain and check take those paths)")


def report_table(report: GradcheckReport, decimals: int = 6):
    """The human-readable report as one Rich renderable."""
    from rich import box
    from rich.console import Group
    from rich.markup import escape
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    parts = []
    # headed as every command's report is: "cnngrad <command> · <the problem's title>"
    title = Text.assemble(("cnngrad ", "bold"), "gradcheck")
    if report.title:  # escaped before the layout, as the other reports' titles
        title.append(f" · {escape_controls(report.title)}", style="italic")
    parts.append(title)
    parts.append(Text("analytic gradients (the engine) against central finite differences "
                      "(E(t+ε) − E(t−ε)) / 2ε; E is the loss, or Σ delta·output", style="dim"))

    def tensor_table(collapse_padding: bool, split_paths: bool = False) -> Table:
        """``split_paths``: each path on two lines, the layer's name then the rest."""
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                      collapse_padding=collapse_padding)
        # short headers that wrap: the table fits 80 columns with the paths of most problems
        for name, justify in (("tensor", "left"), ("shape", "left"),
                              ("max abs error", "right"), ("max rel error", "right"),
                              ("checked", "right"), ("skipped on a kink", "right"),
                              ("ok", "center")):
            # the path and the numbers whole (the headers wrap instead) at any report width
            wraps = name in ("max abs error", "max rel error", "skipped on a kink")
            # min_width: Rich would squeeze a wrapping header's longest word to "skipp…"
            table.add_column(name, justify=justify, no_wrap=not wraps,
                             min_width=7 if wraps else None)
        for check in report.tensors:
            verdict = Text(*_verdict(check))
            table.add_row(_path_lines(check.path, split_paths), _shape(check.shape),
                          _error(check.max_abs_error),
                          _error(check.max_rel_error), str(check.checked),
                          str(check.kinks_skipped), verdict)
        return table

    # a long path (conv_transpose2d_1.grads.kernel) closes the columns up by a space rather
    # than widen the report past an 80-column terminal; a longer one (a layer named
    # encoder_stage_one_convolution) goes on two lines, the layer's name then the rest
    parts.append(FirstThatFits(tensor_table(False), tensor_table(True),
                               tensor_table(True, split_paths=True), _tensor_records(report)))
    if report.input_parts:
        parts.append(Text(input_note(report.input_parts), style="dim"))

    parts.append(Text("kinks", style="bold"))
    if not report.kink_counts and report.crossed_unnamed:
        parts.append(Padding(Text(f"none at this point, but {step_reaches_a_kink(report)}"),
                             (0, 0, 0, 2)))
    elif not report.kink_counts and not report.outside:
        parts.append(Text("  none: every layer is differentiable at this point"))
    elif report.kink_counts:
        kinks = Table(box=None, pad_edge=False, show_header=False, show_edge=False)
        # the layer and the kind whole; where the meaning beside them would be too narrow
        # (a long layer name in 60 columns), each kink's meaning goes under its name
        kinks.add_column("layer", style="bold", no_wrap=True)
        kinks.add_column("kind", no_wrap=True)
        kinks.add_column("meaning", overflow="fold", min_width=24)
        as_lines = []
        listed: dict = {}
        for kink in report.kinks:
            key = (kink.layer, kink.kind)
            if listed.get(key, 0) == MAX_TABLE_KINKS:
                continue
            listed[key] = listed.get(key, 0) + 1
            # the mark in the meaning: in the kind column its width would narrow every
            # row's meaning, the many real kinks' too
            meaning = ("(smooth) " if kink.smooth else "") + kink.meaning
            kinks.add_row("  " + escape(kink.layer), escape(kink.kind), escape(meaning))
            as_lines.append(Text.assemble("  ", (kink.layer, "bold"), "  ", kink.kind))
            as_lines.append(Padding(Text(meaning), (0, 0, 0, 4)))
        parts.append(FirstThatFits(kinks, Group(*as_lines)))
        for (layer, kind), count in report.kink_counts.items():
            if count > listed.get((layer, kind), 0):
                # indented as a whole, so that its wrapped lines stay under the table
                parts.append(Padding(Text(f"… and {count - listed.get((layer, kind), 0):,} "
                                          f"more {kind} in {layer} "
                                          f"({kink_kinds().get(kind, kind)})",
                                          style="dim"), (0, 0, 0, 2)))
        if report.crossed_unnamed:  # notes only, and yet moves that cross a kink
            parts.append(Padding(Text(f"no kink at this point, but {step_reaches_a_kink(report)}"),
                                 (0, 0, 0, 2)))
    if report.outside:
        parts.append(Padding(Text(f"{_count(report.outside, 'element')}: "
                                  f"{OUTSIDE_THE_DOMAIN}"), (0, 0, 0, 2)))

    on_kinks = [t for t in report.tensors if t.kinks_skipped]
    if on_kinks:
        branches = dict.fromkeys(kink_branches()[kink.kind] for kink in report.kinks
                                 if kink.kind in kink_branches())
        parts.append(Text("elements on a kink (a move of ±ε changes a branch: a relu input's "
                          "side of 0, a pool window's maximum"
                          + "".join(f", {branch}" for branch in branches)
                          + (f", {report.loss_branch[0]}" if report.loss_branch else "")
                          + (", a bce output's side of 0 or 1" if report.outside else "")
                          + "): the engine follows the kink's "
                          "rule there, so they are not held to the tolerance"
                          + ("; or their move crosses only a bend (a relu input or a tie "
                             "whose delta is 0: E keeps its slope but bends, and the central "
                             "difference's error shrank to about a tenth at ε/10)"
                             if any(t.bent.any() for t in on_kinks) else "")
                          + "; " + ONE_SIDED,
                          style="bold"))
        parts.append(_element_table(on_kinks, "kink", decimals))

    truncated = [t for t in report.tensors if t.truncated]
    if truncated:
        parts.append(Text(f"elements that agree only at ε/10 = {smaller_eps(report)}: "
                          f"truncation error, not a kink (no move of ±ε changes a branch, so E "
                          f"is smooth there, but ε = {report.eps:g} is too large a step: the "
                          f"central difference's own error, which shrinks as ε², is over the "
                          f"tolerance; --eps {smaller_eps(report)} or smaller "
                          f"checks them at ε); " + AT_A_TENTH, style="bold yellow"))
        parts.append(_element_table(truncated, "truncation", decimals, TRUNCATION_COLUMNS))

    failing = [t for t in report.tensors if not t.ok]
    if failing:
        parts.append(Text("disagreements (smooth elements beyond atol + rtol·max(|engine|, "
                          "|central|) + rounding noise); " + ONE_SIDED, style="bold red"))
        parts.append(_element_table(failing, "failed", decimals))

    parts.append(Text(summary_line(report), style="bold green" if report.ok else "bold red"))
    return Group(*parts)


def _verdict(check) -> tuple[str, str]:
    """A tensor's mark and its style: ✓, ✗, or — where no element was compared (every one
    on a kink), which a ✓ would call agreeing."""
    if not check.ok:
        return "✗", "bold red"
    return ("✓", "green") if check.checked else ("—", "dim")


def _tensor_records(report: GradcheckReport):
    """The tensors' table as a block of lines per tensor, for a width where no table fits
    (under about 66 columns): the path, shape and verdict, then the errors, then the
    counts, each number whole on its line::

        conv2d_1.grads.kernel  2×1×2×2  ✓
          max error 1.1e-10 abs, 1.2e-08 rel
          8 checked, 0 skipped on a kink
    """
    from rich.console import Group
    from rich.padding import Padding
    from rich.text import Text

    blocks = []
    for check in report.tensors:
        verdict = _verdict(check)
        blocks.append(Text.assemble(check.path, "  ", _shape(check.shape), "  ", verdict))
        errors = (f"max error {_error(check.max_abs_error)} abs, "
                  f"{_error(check.max_rel_error)} rel" if check.checked else "no error measured")
        blocks.append(Padding(Text(
            f"{errors}\n{check.checked} checked, {check.kinks_skipped} skipped on a kink"),
            (0, 0, 0, 2)))
    return Group(*blocks)


def _path_lines(path: str, split: bool) -> str:
    """A tensor's path as a table cell, markup escaped; ``split``: the layer's name, then the
    rest of the path on a line of its own."""
    from rich.markup import escape

    layer, dot, rest = path.partition(".")
    if split and dot:
        return escape(layer) + "\n  ." + escape(rest)
    return escape(path)


#: The columns of an element table: (header, the TensorCheck array shown).  The one-sided
#: columns' formulas are said above the table (ONE_SIDED).
ELEMENT_COLUMNS = (("engine", "analytic"), ("central", "numeric"), ("left", "left"),
                   ("right", "right"))
#: The columns of the table of elements that agree only at ε/10 (AT_A_TENTH, above it).
TRUNCATION_COLUMNS = (("engine", "analytic"), ("central", "numeric"),
                      ("ε/10", "numeric_small"))


def _element_rows(checks: list[TensorCheck], which: str):
    """(check, the indices shown, how many more there are) per tensor: up to
    MAX_TABLE_ELEMENTS elements of the ``which`` mask ("kink", "failed", "truncation") each,
    failures worst first."""
    rows = []
    for check in checks:
        indices = check.elements(getattr(check, which))
        if which == "failed":
            indices.sort(key=lambda i: -check.abs_error[i])
        if indices:
            rows.append((check, indices[:MAX_TABLE_ELEMENTS],
                         max(len(indices) - MAX_TABLE_ELEMENTS, 0)))
    return rows


def _element_table(checks: list[TensorCheck], which: str, decimals: int,
                   columns=ELEMENT_COLUMNS):
    """The elements of ``which`` ("kink", "failed" or "truncation") with the ``columns``
    (header, TensorCheck array): one row per element named by its whole path, each column of
    numbers in one notation, right-aligned and never cut.  Where that is wider than the
    report (long paths beside scientific numbers in 80 columns), one table per tensor under
    its path, each element named by its index."""
    rows = _element_rows(checks, which)
    formatters = [(name, key, column_formatter([getattr(check, key)[index]
                                                for check, indices, _ in rows
                                                for index in indices], decimals))
                  for name, key in columns]
    return FirstThatFits(_elements_by_path(rows, formatters),
                         _elements_by_tensor(rows, formatters),
                         _elements_as_lines(rows, formatters))


def _numbers_table(first_header: str, formatters):
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # the names whole; a "… and N more" line wraps in their column instead of widening it
    table.add_column(first_header, no_wrap=False)
    for name, _, _ in formatters:
        table.add_column(name, justify="right", no_wrap=True)  # a number whole
    return table


def _numbers(check: TensorCheck, index, formatters) -> list[str]:
    return [format_value(getattr(check, key)[index]) for _, key, format_value in formatters]


class _More:
    """``  … and 19 more in conv2d_1.grads.kernel`` under a tensor's rows: on one line where
    the column is wide enough, else with the path on a line of its own, under ``and`` (as
    far in as the paths above it, it read as the next tensor's); both print the same
    characters, as :class:`~cnngrad.render.layouts.FirstThatFits` asks of a layout that
    fits.  Narrower still, ``  … and 19 more`` alone, which only the last layout, a heading
    over each tensor's rows, is left to print."""

    def __init__(self, count: int, path: str) -> None:
        self.one = f"  … and {count:,} more in {path}"
        self.two = f"  … and {count:,} more in\n    {path}"
        # too narrow for the path under "and": the count alone, under the tensor's own
        # heading (the layouts with one), never the path where a heading would stand
        self.narrow = f"  … and {count:,} more"

    def __rich_measure__(self, console, options):
        from rich.cells import cell_len
        from rich.measure import Measurement

        return Measurement(cell_len(self.narrow), cell_len(self.one))

    def __rich_console__(self, console, options):
        from rich.cells import cell_len
        from rich.text import Text

        def fits(form: str) -> bool:
            return max(map(cell_len, form.split("\n"))) <= options.max_width

        text = self.one if fits(self.one) else self.two if fits(self.two) else self.narrow
        yield Text(text, style="dim", no_wrap=True)


def _elements_by_path(rows, formatters):
    from rich.cells import cell_len
    from rich.markup import escape

    table = _numbers_table("  element", formatters)
    blank = [""] * len(formatters)
    widths = []
    for check, indices, more in rows:
        for index in indices:
            name = check.path + index_text(index)
            widths.append(2 + cell_len(name))
            table.add_row("  " + escape(name), *_numbers(check, index, formatters))
        if more:
            table.add_row(_More(more, check.path), *blank)
    # Rich measures a cell without its leading spaces: the indented paths' true width, so
    # that the report is laid out wide enough for every path and number whole
    table.columns[0].min_width = max(widths, default=None)
    return table


def _elements_as_lines(rows, formatters):
    """The elements for a width where no table of them fits (under about 56 columns): a
    line per number, named by its column, each element's under its index::

          maxpool2d_1.delta_in
            [0,1]  engine    0.500000
                   central   0.250000
    """
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    parts = []
    for check, indices, more in rows:
        parts.append(Text("  " + check.path))
        table = Table(box=None, show_header=False, pad_edge=False, show_edge=False)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for index in indices:
            for k, (header, text) in enumerate(zip((h for h, _, _ in formatters),
                                                   _numbers(check, index, formatters))):
                table.add_row("    " + escape(index_text(index) or "(number)") if k == 0
                              else "", header, text)
        parts.append(table)
        if more:  # under the table, not in its first column (which it would widen)
            parts.append(_More(more, check.path))
    return Group(*parts)


def _elements_by_tensor(rows, formatters):
    from rich.cells import cell_len
    from rich.console import Group
    from rich.markup import escape
    from rich.text import Text

    def name(index) -> str:
        return index_text(index) or "(number)"

    numbers = {(id(check), index): _numbers(check, index, formatters)
               for check, indices, _ in rows for index in indices}
    # the same column widths in every tensor's table: the numbers line up down the report
    widths = [4 + max(cell_len(name(index)) for _, indices, _ in rows for index in indices)]
    widths += [max([cell_len(header)] + [cell_len(texts[k]) for texts in numbers.values()])
               for k, (header, _, _) in enumerate(formatters)]
    parts = []
    for check, indices, more in rows:
        parts.append(Text("  " + check.path, no_wrap=True))
        table = _numbers_table("    index", formatters)
        for index in indices:
            table.add_row("    " + escape(name(index)), *numbers[id(check), index])
        for column, width in zip(table.columns, widths):
            column.min_width = width
        parts.append(table)
        if more:  # under the table, the width of the report: in the index column, a path
            # too long for it went to a line of its own, read as the next tensor's heading
            parts.append(_More(more, check.path))
    return Group(*parts)
