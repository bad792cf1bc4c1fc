"""A verify report as text (80 columns at most, for people) or JSON (for CI)."""

from __future__ import annotations

import json
import math
import re
import textwrap

import numpy as np

from cnngrad.errors import and_list
from cnngrad.render import GRID_SEPARATOR
from cnngrad.verify.runner import (STATUSES, CaseResult, OutputCheck, Report, other_layout,
                                   shape_words)

__all__ = ["render_text", "render_json", "to_json"]

#: the widest a text report is laid out (a narrower terminal gets its own width)
WIDTH = 80
GRID_CELLS = 8  # rows and columns of a diff grid at most: a window around the worst cell

# a word for each of runner.STATUSES, in its order
_STATUS_WORDS = dict(zip(STATUSES, ("pass", "FAIL", "FAIL", "FAIL", "RAISED", "FAIL", "TIMEOUT",
                                    "-"), strict=True))
_SPATIAL = ("H", "W", "H'", "W'", "kh", "kw", "L", "L'", "k")


def _g(value: float, digits: int = 4) -> str:
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


#: the most significant digits a grid's got and expected are printed with
GRID_DIGITS = 12


def _grid_digits(pairs: list[tuple[float, float]], rtol: float, atol: float) -> int:
    """The fewest significant digits (4 at least) that print each wrong pair's got and
    expected differently: at 4, a got of 10.001 against 10 printed as 10 and 10."""
    wrong = [(g, e) for g, e in pairs
             if math.isfinite(g) and not np.isclose(g, e, rtol=rtol, atol=atol)]
    for digits in range(4, GRID_DIGITS):
        if all(_g(g, digits) != _g(e, digits) for g, e in wrong):
            return digits
    return GRID_DIGITS


def _kept_together(text: str, pairs: bool = False) -> str:
    """``text`` with the spaces that must not break a line made non-breaking: in an index
    such as [0, 1, 2] or a short (0, 1); with ``pairs``, between a setting and its number
    ("padding 0", "seed 3", "padding (0, 0)": never "padding" at a line's end and its value
    on the next)."""
    text = re.sub(r"\[[^\]]*\]|\([^()]{0,12}\)",
                  lambda m: m.group(0).replace(" ", "\u00a0"), text)
    if pairs:  # a number, or a short tuple: "padding (0, 0)"
        text = re.sub(r"(?<=[a-z]) (?=-?\d+\b(?!×)|\([^()]{0,12}\))", "\u00a0", text)
    return text


def _wrap(text: str, indent: str, first: str | None = None, width: int = WIDTH,
          pairs: bool = False) -> list[str]:
    """``text`` wrapped to ``width``: its first line after ``first`` (default ``indent``),
    the others after ``indent``."""
    first = indent if first is None else first
    lines = textwrap.wrap(_kept_together(text, pairs), width, initial_indent=first,
                          subsequent_indent=indent, break_on_hyphens=False)
    return [line.replace("\u00a0", " ") for line in lines] or [first.rstrip()]


def _traceback_lines(traceback: str, width: int) -> list[str]:
    """The user's traceback indented under its heading, each line longer than ``width``
    folded under itself (a long message, a long line of code) except a frame's ``File
    "...", line N`` (editors and terminals open the file from it whole); a line of ^ and ~
    markers under a folded line of code would point nowhere, so it is left out."""
    lines = []
    folded = False  # the line before was folded: markers under it would point nowhere
    for line in traceback.splitlines():
        body = line.lstrip()
        prefix = "    " + line[:len(line) - len(body)]
        markers = bool(body) and not body.strip("^~ ")
        if markers and (folded or len(prefix) + len(body) > width):
            continue
        folded = len(prefix) + len(body) > width and not body.startswith('File "')
        if folded:
            lines += textwrap.wrap(body, width, initial_indent=prefix,
                                   subsequent_indent=prefix + "  ", break_on_hyphens=False)
        else:
            lines.append(prefix + body)
    return lines


def _header(report: Report, width: int) -> list[str]:
    op = report.op
    lines = _wrap(f"cnngrad verify {op.name}: {report.function} on "
                  f"{len(report.results)} cases (seed {report.seed})", "  ", "", width,
                  pairs=True)
    lines += _wrap(op.summary, "            ", "  op        ", width)
    signature = report.style.signature(op)
    if "=" in report.call:  # --arg: the call by the user's keywords
        signature = report.call + " -> " + signature.split(" -> ", 1)[1]
    elif report.style.name != "plain":
        # the course's names (conv_backward_naive) made the user's: the functions run here
        signature = _user_names(signature, report.function, report.forward)
    lines += _wrap(signature, "            ", "  calls     ", width)
    if report.style.name == "plain":
        lines += _wrap(op.layout_words[report.layout], "            ", "  layout    ", width)
    else:
        lines += _wrap(f"{report.style.name}: {report.style.words}", "            ",
                       "  style     ", width)
    for option in op.header_options:  # "  ties      first (--ties)"
        lines.append(f"  {option:<10}{getattr(report.options, option)} (--{option})")
    if report.skipped:
        lines += _wrap(f"{report.skipped} cases skipped, which the {report.style.name} "
                       f"signature cannot express ({report.style.skip_words(op)})",
                       "            ", "  note      ", width)
    return lines


def _user_names(signature: str, function: str, forward: str | None) -> str:
    """A course's call, ``conv_backward(dZ, cache) -> ...; cache from --forward
    conv_forward(...)``, with the user's function names where they are names."""
    if function.isidentifier():
        signature = re.sub(r"^\w+", function, signature)
    if forward is not None and forward.isidentifier():
        signature = re.sub(r"(--forward )\w+", lambda m: m.group(1) + forward, signature)
    return signature


def _raiser(report: Report, traceback: str) -> str:
    """Who raised, by the user's traceback: their forward building the cache (its frames
    only), else the function verified."""
    if (report.forward and f", in {report.forward}\n" in traceback + "\n"
            and f", in {report.function}\n" not in traceback + "\n"):
        return f"your forward {report.forward} raised while building the cache"
    return f"{report.function} raised"


def _case_line(result: CaseResult, width: int, said: dict[str, int],
               changes_alike: bool = False) -> list[str]:
    """A case's line and what went wrong in it; a message of several lines that an earlier
    case's ``said`` (message → case) already gave is referred to, not repeated (a call that
    does not fit the function fails every case alike).  ``changes_alike``: every case that
    ran changed the same arguments, which the closing note says once."""
    status = _STATUS_WORDS[result.status]
    head = _wrap(result.case.corner, " " * 14, f"  {result.case.index:>2}  {status:<7} ", width,
                 pairs=True)
    if not (result.ok or result.status == "not_run"):
        message = _wrap(result.message, "          ", width=width)
        if len(message) > 1 and result.message in said:
            message = [f"          the same as case {said[result.message]}"]
        said.setdefault(result.message, result.case.index)
        head += message
    if result.changed and not changes_alike:
        head += _wrap(f"changed {and_list(list(result.changed))} in place", "          ",
                      width=width)
    return head


def _changed_note(report: Report, width: int) -> list[str]:
    """Once, after the summary: the cases that changed their arguments, and why it matters."""
    changing = [r for r in report.results if r.changed]
    if not changing:
        return []
    names = list(dict.fromkeys(name for r in changing for name in r.changed))
    them = "it" if len(names) == 1 else "them"
    return _wrap(f"{len(changing)} of {len(report.results)} cases changed {and_list(names)} in "
                 f"place. Each call gets its own copies, so the results were judged as "
                 f"returned; but in a network the caller still needs {them} after the call: "
                 f"work on a copy.", "      ", "Note: ", width)


def _grid_axes(axes: tuple[str, ...], ndim: int) -> tuple[int, ...]:
    spatial = tuple(i for i, name in enumerate(axes) if name in _SPATIAL)
    if len(axes) == ndim and len(spatial) >= 2:
        return spatial[-2:]
    if len(axes) == ndim and len(spatial) == 1:
        return spatial
    return tuple(range(max(0, ndim - 2), ndim))


def _window(size: int, center: int, cells: int = GRID_CELLS) -> range:
    start = min(max(0, center - cells // 2), max(0, size - cells))
    return range(start, min(size, start + cells))


def _grid(failure: OutputCheck, axes: tuple[str, ...], line_width: int, rtol: float = 0.0,
          atol: float = 0.0, label: str | None = None) -> list[str]:
    """got, expected and their difference, on the 2-D slice through the worst wrong cell (the
    largest difference outside the tolerances, the cell the failure's message names); got and
    expected with enough digits that a cell outside the tolerances reads differently.
    ``label``: the output's name in the style's signature (cnngrad's by default)."""
    label = label or failure.name
    got, expected = failure.got, failure.expected
    if got is None or expected is None or got.shape != expected.shape:
        return []
    if got.ndim == 0:
        return [f"  {label}: got {_g(float(got))}, expected {_g(float(expected))}"]
    diff = np.abs(np.where(np.isfinite(got), got, np.inf) - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    # the cell the failure's message names: the largest difference outside the tolerances
    # (a bigger one inside them, shown instead, would hide the only wrong values)
    wrong = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    worst = np.unravel_index(int(np.argmax(np.where(wrong, diff, -1.0) if wrong.any()
                                           else diff)), diff.shape)
    grid_axes = _grid_axes(axes, got.ndim)
    index = []
    for axis in range(got.ndim):
        index.append(":" if axis in grid_axes else str(int(worst[axis])))
    title = f"{label}[{', '.join(index)}]"
    rows_axis = grid_axes[0] if len(grid_axes) == 2 else None
    cols_axis = grid_axes[-1]
    rows = _window(got.shape[rows_axis], worst[rows_axis]) if rows_axis is not None else [0]
    cols = _window(got.shape[cols_axis], worst[cols_axis])

    def cell(array, r, c):
        at = list(worst)
        if rows_axis is not None:
            at[rows_axis] = r
        at[cols_axis] = c
        return float(array[tuple(at)])

    def grids(cols: range) -> dict[str, list[list[str]]]:
        blocks = {"got": got, "expected": expected}
        digits = _grid_digits([(cell(got, r, c), cell(expected, r, c))
                               for r in rows for c in cols], rtol, atol)
        texts = {name: [[_g(cell(a, r, c), digits) for c in cols] for r in rows]
                 for name, a in blocks.items()}
        texts["got − expected"] = [[_g(cell(got, r, c) - cell(expected, r, c))
                                    if math.isfinite(cell(got, r, c)) else "·"
                                    for c in cols] for r in rows]
        return texts

    texts = grids(cols)
    width = max(len(t) for block in texts.values() for row in block for t in row)
    fitting = max(1, (line_width - 2) // (width + 1))
    if len(cols) > fitting:  # wide numbers (1.481e+08): fewer columns, one under the other
        cols = _window(got.shape[cols_axis], worst[cols_axis], fitting)
        texts = grids(cols)
        width = max(len(t) for block in texts.values() for row in block for t in row)
    names = list(texts)
    # a block as wide as its numbers, or as its heading where that is wider ("expected"
    # over a column of 17s, which put the rule after it out of line): the numbers
    # right-aligned under the heading's end
    block_widths = {name: max(len(cols) * (width + 1), len(name) + 1) for name in names}
    cut = len(cols) < got.shape[cols_axis] or \
        (rows_axis is not None and len(rows) < got.shape[rows_axis])
    lines = [f"  {title}" + ("  (a window around the worst wrong cell)" if cut else "")]
    side_by_side = 2 + sum(block_widths.values()) + 2 * 3 <= line_width
    if side_by_side:  # the rule between the grids, as the tables draw it
        lines.append("  " + GRID_SEPARATOR.join(f"{name:<{block_widths[name]}}"
                                                for name in names).rstrip())
        for r in range(len(rows)):
            # the last block has no rule after it: its numbers stay where its cells put them
            lines.append("  " + GRID_SEPARATOR.join(
                "".join(f"{t:>{width}} " for t in texts[name][r]).rjust(
                    block_widths[name] if name != names[-1] else 0)
                for name in names).rstrip())
    else:
        for name in names:
            lines.append(f"  {name}")
            for row in texts[name]:
                lines.append("  " + "".join(f"{t:>{width}} " for t in row).rstrip())
    return lines


def render_text(report: Report, width: int = WIDTH) -> str:
    """The report for people, laid out for ``width`` columns (at most :data:`WIDTH`)."""
    width = min(width, WIDTH)
    lines = _header(report, width)
    lines.append("")
    said: dict[str, int] = {}
    ran = [result for result in report.results if result.status != "not_run"]
    changes_alike = len({result.changed for result in ran}) == 1 and bool(ran[0].changed)
    for result in report.results:
        lines += _case_line(result, width, said, changes_alike)
    lines.append("")
    failed = report.failed
    not_run = sum(r.status == "not_run" for r in report.results)
    total = len(report.results)
    if report.ok:
        lines.append(f"PASS  all {total} cases agree with cnngrad "
                     f"(rtol {_g(report.rtol)}, atol {_g(report.atol)}).")
        lines += _changed_note(report, width)
        return "\n".join(lines) + "\n"
    passed = total - len(failed) - not_run
    summary = f"FAIL  {len(failed)} of {total} cases fail, {passed} pass"
    summary += f", {not_run} not run." if not_run else "."
    lines.append(summary)
    first = _case_to_show(failed)
    lines.append("")
    def shape(name, array):
        return np.shape(report.style.tensor(report.op, name, array, first.case, report.layout))

    def label(name):
        return report.style.shown(report.op, name)

    faint = [r.case.index for r in failed[:failed.index(first)]]
    cases = and_list([str(case) for case in faint]) if faint else ""
    passed_over = (f"; case{'s' if len(faint) > 1 else ''} {cases} "
                   f"fail{'s' if len(faint) == 1 else ''} too, but with "
                   f"answers all within {_g(FAINT)} of 0, where a grid "
                   "shows little" if faint else "")
    lines += _wrap(f"Smallest failing case: {first.case.index}, {first.case.corner} "
                   f"({first.case.describe(report.op, shape, label)}){passed_over}.", "  ",
                   width=width, pairs=True)
    grid_shown = False
    if first.traceback:
        lines += _wrap(f"{_raiser(report, first.traceback)} (your code's traceback):", "  ",
                       "  ", width)
        lines += _traceback_lines(first.traceback, width)
    elif first.failures:
        for failure in first.failures:
            lines += _wrap(failure.message, "    ", "  ", width)
        grid_failure = next((f for f in first.failures if f.status in ("mismatch",
                                                                        "nonfinite")), None)
        if grid_failure is not None:
            lines.append("")
            lines += _grid(grid_failure,
                           report.style.axes(report.op, grid_failure.name, report.layout),
                           width, report.rtol, report.atol, label(grid_failure.name))
            grid_shown = np.ndim(grid_failure.expected) > 0  # a number is shown, no grid
    else:
        lines += _wrap(first.message, "    ", "  ", width)
    raised = next((r for r in failed if r.traceback), None)
    if raised is not None and raised is not first:
        lines.append("")
        lines.append(f"  case {raised.case.index} raised (your code's traceback):")
        lines += _traceback_lines(raised.traceback, width)
    lines.append("")
    nonfinite = _nonfinite_words(report, label)
    if report.passes_laid_out:
        pass  # every case passes in the other layout: the hint below is the whole story
    elif report.slips:
        raised = sum(result.status == "raised" for result in report.results)
        for text in _slip_texts(report.slips, label, raised):
            lines += _wrap(text, "        ", "Slip:   ", width)
        # an output wrong somewhere that no slip explains is said too, not left out
        named = {slip.output for slip in report.slips}
        if all(named):  # a slip of the whole return (no output) explains every output
            wrong = dict.fromkeys(f.name for r in failed for f in r.failures
                                  if f.status in ("mismatch", "nonfinite", "shape"))
            for name in (name for name in wrong if name not in named):
                of_name = [(r, f) for r in failed for f in r.failures if f.name == name]
                if name in nonfinite:
                    text = f"no known slip matches: {nonfinite[name]}"
                elif all(f.status == "shape" for _, f in of_name):
                    # its shape alone is wrong: what to do about it, as when it is the only fault
                    advice, found = _shape_slip(report, of_name[0][1], of_name[0][0])
                    text = advice if found else f"no known slip matches: {advice}"
                else:
                    text = f"{label(name)}: no known slip matches"
                lines += _wrap(text, "        ", "Slip:   ", width)
    elif nonfinite:
        # nan or inf where cnngrad's answer is finite: said plainly, with its likely cause
        for name, words in nonfinite.items():
            lines += _wrap(f"no known slip matches: {words}", "        ", "Slip:   ", width)
        wrong = dict.fromkeys(f.name for r in failed for f in r.failures)
        for name in (name for name in wrong if name not in nonfinite):
            lines += _wrap(f"{label(name)}: no known slip matches", "        ", "Slip:   ",
                           width)
    elif any(r.failures for r in failed):
        advice, found = _no_slip_advice(report, first, grid_shown)
        lines += _wrap(advice if found else "no known slip matches: " + advice,
                       "        ", "Slip:   ", width)
    note = _changed_note(report, width)
    if note:
        lines += ([""] if lines[-1] else []) + note
    if report.by_name:
        passes = report.op.signature.partition(' ->')[0]
        alone = report.keyword_only
        why = (f"your function takes {and_list(list(alone))} by keyword alone (after * in its "
               f"parameters), and the op passes its arguments by position ({passes})" if alone
               else f"your function names its parameters in another order than the op passes "
                    f"them ({passes})")
        lines += ([""] if lines[-1] else []) + _wrap(
            f"{why}: pass them by name, {report.by_name} (with one --arg, every argument is "
            f"passed by name, the others by the op's names)", "        ", "Hint:   ", width)
    if any(r.status == "raised" and _SCALAR_CONVERSION.search(r.message)
           for r in report.results):
        lines += ([""] if lines[-1] else []) + _wrap(
            "float() or int() of an array with axes of 1 (as float(b) of a bias slice of "
            "shape (1, 1, 1) in the Deep Learning Specialization's conv_single_step) is an "
            "error in recent numpy, which converts only 0-d arrays: write b.item(), or "
            "float(b.squeeze())", "        ", "Hint:   ", width)
    misnamed = _other_op_named(report)
    if misnamed:
        lines += ([""] if lines[-1] else []) + _wrap(
            f"your function is named {misnamed}, the name of another op than --op "
            f"{report.op.name}: if it computes {misnamed}, say --op {misnamed}", "        ",
            "Hint:   ", width)
    words, given = report.op.layout_words, report.layout
    if report.passes_laid_out:
        other = report.passes_laid_out
        lines += ([""] if lines[-1] else []) + _wrap(
            f"every case passes when run again with the arrays laid out as {words[other]}: "
            f"your function takes that layout; {_layout_fix(other)}", "        ", "Hint:   ",
            width)
    # arguments in another order, or another op's, raise on shapes too: that hint is the one
    # to follow
    suspect = ("" if report.by_name or report.passes_laid_out or misnamed
               else layout_suspect(report))
    if suspect:
        other = other_layout(given)
        # run again laid out the other way, cases failed too (else passes_laid_out): said, so
        # that the hint is not read as the fix that makes them pass
        again = report.other_layout_results or []
        still = sum(not result.ok for result in again)
        lines += ([""] if lines[-1] else []) + _wrap(
            f"{suspect} raised on the arrays' shapes, with them laid out as {words[given]}: "
            f"if your function takes {words[other]}, {_layout_fix(other)}"
            + (f" (run again laid out so, {still} of {len(again)} cases still fail)"
               if still else ""), "        ", "Hint:   ", width)
    return "\n".join(lines) + "\n"


def _other_op_named(report: Report) -> str:
    """The op the user's function is named after (``conv2d_backward``) where that is not the
    op it was checked as and no case passed (the --op given for another function's): else
    ""."""
    from cnngrad.verify.ops import OPS

    name = report.function
    if name == report.op.name or name not in OPS or any(r.ok for r in report.results):
        return ""
    return name


def _layout_fix(other: str) -> str:
    """The option that lays the arrays out as ``other``: what a layout hint ends with."""
    return "say --layout nhwc" if other == "nhwc" else "drop --layout nhwc"


#: What an error raised by arrays in another layout says (an index past an axis, shapes that
#: do not broadcast or reshape): a call that does not fit the function, or its own error
#: (``ValueError('boom')``, ``SystemExit``), is not one.
_SHAPE_WORDS = re.compile(r"(?i)index|shape|broadcast|axis|dimension|size|reshape|align")

#: numpy's refusal to make a Python number of an array with axes (float(b), b of shape
#: (1, 1, 1)): "dimension" in it is no sign of a layout, and a hint of its own says what to do.
_SCALAR_CONVERSION = re.compile(r"only (?:0-dimensional|length-1|size-1) arrays can be "
                                r"converted to Python scalars")


def layout_suspect(report: Report) -> str:
    """``every case`` or ``6 of 8 cases`` when more than half the cases that ran, and every
    one that raised, raised inside the user's code on the arrays' shapes where they went in
    layout given (nchw by default, or --layout nhwc), in a style that leaves the layout to the
    user: a function written for the other layout indexes past an axis at once (where the two
    layouts' shapes agree, a square dense layer's, it runs and is wrong instead); and, when
    the cases were run again laid out the other way, fewer raised on shapes so; else ""."""
    ran = [r for r in report.results if r.status != "not_run"]
    if not (report.style.layout is None and report.layout in ("nchw", "nhwc")
            and report.op.channels_last and ran):
        return ""
    on_shapes = _raised_on_shapes(ran)
    raised = [r for r in ran if r.status == "raised"]
    if len(on_shapes) != len(raised) or 2 * len(on_shapes) <= len(ran):
        return ""
    other = report.other_layout_results
    if other is not None and len(_raised_on_shapes(other)) >= len(on_shapes):
        # laid out the other way they raise as much: the layout is not what breaks them (a
        # slip that crops every map to nothing raises on shapes in either)
        return ""
    return "every case" if len(on_shapes) == len(ran) else f"{len(on_shapes)} of {len(ran)} cases"


def _raised_on_shapes(results: list) -> list:
    """The results that raised inside the user's code on the arrays' shapes."""
    return [r for r in results if r.status == "raised" and r.traceback is not None
            and _SHAPE_WORDS.search(r.message) and not _SCALAR_CONVERSION.search(r.message)]


#: A failing case whose wrong outputs' right answers are all within this of 0 is passed over
#: for the one shown (batch norm's two values a channel: dx is about ε/σ²·δ, and got −
#: expected is as small): 100 times the default atol, whatever --atol is (a loose one would
#: pass over plainly wrong cases).
FAINT = 1e-4


def _case_to_show(failed: list):
    """The smallest failing case whose answers are not all faint (:data:`FAINT`), else the
    smallest."""
    def faint(result) -> bool:
        checks = result.failures
        return bool(checks) and not result.traceback and all(
            check.status == "mismatch" and check.expected is not None
            and np.max(np.abs(check.expected), initial=0) <= FAINT for check in checks)
    return next((result for result in failed if not faint(result)), failed[0])


def _slip_texts(slips, label, raised: int = 0) -> list[str]:
    """A line for each slip, one for the outputs one slip explains alike (``dx, dgamma and
    dbeta match ...``): the same words said once.  ``raised``: the cases the code raised on,
    said beside a slip that does not count them (``in 2 of 2 failing cases; 4 more
    raised``): where most cases raised, two that match may be chance."""
    from cnngrad.verify.runner import RAISED_SLIPS

    raising = {name for name, _, _ in RAISED_SLIPS}

    def more(name: str) -> str:
        # non-breaking: the count never at a line's end, away from its words
        return f"; {raised}\u00a0more raised" if raised and name not in raising else ""

    groups: dict[tuple[str, str], list] = {}
    for slip in slips:
        groups.setdefault((slip.name, slip.description), []).append(slip)
    texts = []
    for (name, description), same in groups.items():
        # a slip of the whole return (its order) names no one output
        subjects = [label(slip.output) for slip in same if slip.output]
        counts = {(slip.matched, slip.of) for slip in same}
        if len(same) > 1 and description.startswith("matches ") and len(subjects) == len(same):
            subject = f"{and_list(subjects)} "
            description = "match " + description[len("matches "):]
            where = (f"in {same[0].matched} of {same[0].of} failing cases" if len(counts) == 1
                     else "in " + ", ".join(f"{slip.matched} of {slip.of} ({subject_})"
                                            for slip, subject_ in zip(same, subjects))
                     + " failing cases")
            texts.append(f"{subject}{description} — {where}{more(name)} [{name}]")
            continue
        for slip in same:
            subject = f"{label(slip.output)} " if slip.output else ""
            texts.append(f"{subject}{slip.description} — in {slip.matched} of {slip.of} "
                         f"failing cases{more(slip.name)} [{slip.name}]")
    return texts


def _nonfinite_words(report: Report, label) -> dict[str, str]:
    """For each output that no slip explains and that is nan or inf, where cnngrad's answer
    is finite, in more than half of the failing cases where it is wrong: that said plainly
    (``loss is nan in 6 of 6 failing cases ...``) with where such numbers come from and the
    op's likeliest cause (:attr:`~cnngrad.verify.ops.Op.nonfinite_cause`)."""
    named = {slip.output for slip in report.slips}
    wrong: dict[str, list] = {}
    for result in report.failed:
        for failure in result.failures:
            wrong.setdefault(failure.name, []).append(failure)
    words = {}
    for name, failures in wrong.items():
        bad = [f for f in failures if f.status == "nonfinite"]
        if name in named or not 2 * len(bad) > len(failures):
            continue
        values = np.concatenate([np.ravel(f.got) for f in bad])
        kinds = [kind for kind, test in (("nan", np.isnan), ("inf", np.isinf))
                 if test(values).any()]
        sources = {"nan": "the log or square root of a negative number, 0/0, 0·inf or "
                          "inf − inf", "inf": "the log of 0, a division by 0 or an overflow"}
        held = "is" if all(np.ndim(f.got) == 0 for f in bad) else "holds"
        words[name] = (f"{label(name)} {held} {' and '.join(kinds)} in {len(bad)} of "
                       f"{len(failures)} failing cases, where cnngrad's is finite: "
                       + "; ".join(f"{kind} comes from {sources[kind]}" for kind in kinds)
                       + f". Here the likeliest cause is {report.op.nonfinite_cause}")
    return words


def _no_slip_advice(report: Report, first: CaseResult, grid_shown: bool) -> tuple[str, bool]:
    """What to compare when no slip explains the wrong outputs: the grid when one is shown
    above, else what is shown (the shapes, a value that is not an array of numbers); and
    whether that is the slip itself after all (the right numbers in another shape, in every
    failing case), said without "no known slip matches"."""
    if grid_shown:
        return "compare the grid above with your code, smallest case first", False
    shaped = next((f for f in first.failures if f.status == "shape"), None)
    if shaped is None and any(f.status in ("mismatch", "nonfinite") for f in first.failures):
        return "compare the values above with your code, smallest case first", False
    if shaped is not None:
        return _shape_slip(report, shaped, first)
    unread = next((f for f in first.failures if f.status == "bad_return"), None)
    if unread is not None:
        return (f"return {report.style.shown(report.op, unread.name)} as an array of numbers "
                "(see above), then run again"), False
    # the smallest failing case raised, timed out or returned the wrong thing
    return ("start with the smallest failing case; the later ones with wrong values are "
            "listed above"), False


def _shape_slip(report: Report, shaped: OutputCheck, first: CaseResult) -> tuple[str, bool]:
    """What to do about an output of the wrong shape (``shaped``, in the smallest case that
    has it wrong), and whether its numbers are right in every case that has it wrong (then
    that is the slip itself)."""
    # the same numbers without their axes of 1 in every case that has this output wrong
    # (a sum without keepdims), not only in the smallest (one image's map: 1×1×H×W)
    kinds = {_reshaped_alike(f, report.rtol, report.atol) for r in report.failed
             for f in r.failures if f.name == shaped.name}
    alike = kinds.pop() if len(kinds) == 1 else None
    # a crop can empty only the input delta's spatial axes, in an op that pads
    # (a transposed conv's padding crops y, never dx)
    croppable = (shaped.name == "dx" and "padding" in report.op.inputs
                 and not report.op.name.startswith("conv_transpose"))
    advice = _shape_advice(shaped, report.style.axes(report.op, shaped.name, report.layout),
                           report.style.shown(report.op, shaped.name), alike,
                           croppable=croppable)
    # dx the shape of x, which the function was given (CS231n's affine x of any shape)
    source = shaped.name[1:] if shaped.name.startswith("d") else None
    if alike == "reshaped" and source in first.case.arrays:
        given = report.style.tensor(report.op, source, first.case.arrays[source],
                                    first.case, report.layout)
        if given.shape == shaped.expected.shape:
            advice += f", the shape of {report.style.shown(report.op, source)}"
    return advice, alike is not None


def _reshaped_alike(failure: OutputCheck, rtol: float, atol: float) -> str | None:
    """Whether a wrong output holds the right numbers, within the run's tolerances, in
    another shape: "squeezed" with axes of 1 dropped or added (np.sum without keepdims=True
    where the course keeps the axis), "reshaped" in any other (dx left (N, D) where x came
    (N, d1, d2)); None when it does not."""
    if failure.got is None or failure.expected is None:
        return None
    got, expected = np.shape(failure.got), np.shape(failure.expected)
    if got == expected or np.size(failure.got) != np.size(failure.expected):
        return None
    if not np.allclose(np.reshape(failure.got, expected), failure.expected, rtol=rtol,
                       atol=atol):
        return None
    return ("squeezed" if [s for s in got if s != 1] == [s for s in expected if s != 1]
            else "reshaped")


def _shape_advice(failure: OutputCheck, axes: tuple[str, ...], name: str,
                  alike: str | None = None, croppable: bool = False) -> str:
    """Which axes of ``failure``'s output (called ``name``) have the wrong size, and by how
    much; ``alike``: the right numbers in every failing case, axes of 1 dropped or added
    ("squeezed") or in any other shape ("reshaped"); ``croppable``: an input delta cropped
    from its padding, whose map axes a crop [p:-p] at p = 0 leaves empty."""
    got, expected = failure.got.shape, failure.expected.shape
    if alike == "reshaped":
        return (f"{name} has shape {shape_words(got)} where cnngrad's is "
                f"{shape_words(expected)}: the right numbers in another shape; reshape it to "
                f"{shape_words(expected)}")
    if alike == "squeezed":
        how = ("dropped (a sum without keepdims=True?)" if len(got) < len(expected) else
               "added" if len(got) > len(expected) else "in another place (transposed?)")
        return (f"{name} has shape {shape_words(got)} where cnngrad's is "
                f"{shape_words(expected)}: the right numbers, its axes of 1 {how}; reshape "
                f"it to {shape_words(expected)}")
    if len(got) == len(expected) == len(axes):
        differ = [i for i in range(len(got)) if got[i] != expected[i]]
        if len(differ) == 1:
            [i] = differ
            if got[i] == 0 and croppable and axes[i] in ("H", "W", "L"):  # x[p:-p] at p = 0
                return (f"{name}'s {axes[i]} is 0 where cnngrad's is {expected[i]}: a crop "
                        f"[p:-p] is empty when p is 0 (-0 is 0); crop with [p:p + "
                        f"{axes[i]}]")
            return (f"{name}'s {axes[i]} is {got[i]} where cnngrad's is {expected[i]}: check "
                    f"the size your code gives that axis, smallest case first")
        names = [axes[i] for i in differ]
        return (f"{name}'s {', '.join(names[:-1])} and {names[-1]} are "
                f"{shape_words(tuple(got[i] for i in differ))} where cnngrad's are "
                f"{shape_words(tuple(expected[i] for i in differ))}: check the sizes your "
                f"code gives those axes, smallest case first")
    return (f"{name} has shape {shape_words(got)} where cnngrad's is {shape_words(expected)}: "
            f"check the shape your code gives it, smallest case first")


def _finite(value):
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value if math.isfinite(value) else str(value)


def to_json(report: Report) -> dict:
    """The report as plain JSON values (non-finite numbers as strings "nan", "inf")."""
    op = report.op
    failed = report.failed
    cases = []
    for result in report.results:
        case = result.case
        cases.append({
            "index": case.index, "corner": case.corner,
            "params": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in case.params.items()},
            "shapes": {k: list(v.shape) for k, v in case.arrays.items()},
            "status": result.status, "message": result.message,
            "outputs": [{"name": f.name, "status": f.status, "message": f.message}
                        for f in result.failures],
            "traceback": result.traceback,
            "seconds": round(result.seconds, 6),
            "changed_in_place": list(result.changed),
        })
    first = None
    if failed:
        result = failed[0]
        first = {"case": result.case.index, "status": result.status,
                 "message": result.message, "traceback": result.traceback}
        failure = next((f for f in result.failures if f.got is not None
                        and f.got.shape == f.expected.shape), None)
        if failure is not None:
            first.update(output=failure.name, got=_finite(failure.got.tolist()),
                         expected=_finite(failure.expected.tolist()))
    return {
        "op": op.name, "function": report.function, "style": report.style.name,
        "signature": report.style.signature(op), "layout": report.layout,
        "seed": report.seed, "ties": report.options.ties, "timeout": report.timeout,
        "rtol": report.rtol, "atol": report.atol, "ok": report.ok,
        "summary": {"cases": len(report.results), "failed": len(failed),
                    "passed": sum(r.ok for r in report.results),
                    "not_run": sum(r.status == "not_run" for r in report.results),
                    "skipped": report.skipped},
        "cases": cases,
        "first_failure": first,
        "slips": [{"output": s.output, "name": s.name, "description": s.description,
                   "matched": s.matched, "of": s.of} for s in report.slips],
        # every case passed when run again in this layout (most failed in the one given)
        "passes_laid_out": report.passes_laid_out,
    }


def render_json(report: Report) -> str:
    return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"
