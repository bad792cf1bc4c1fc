"""``cnngrad explain``: one number of the result, term by term."""

from typing import Annotated, Optional

import typer

from cnngrad.cli.common import (DebugOpt, ExactOpt, MaxElementsOpt, TableDecimalsOpt,
                                OutputOpt, check_finite, compute, format_option, guarded,
                                output_format, note_later, render_rich, write_output)
from cnngrad.errors import UsageError

EPILOG = """\
Examples (cnngrad samples NAME --to samples saves the sample they read):

  cnngrad explain samples/stackexchange.json conv2d_1.grads.kernel[0,0]
  cnngrad explain samples/stackexchange.json conv2d_1.grads.kernel
  cnngrad explain samples/stackexchange.json conv2d_1.delta_in[1,2]
  cnngrad explain samples/stackexchange.json conv2d_1.delta_in[2,3] -f text
  cnngrad explain samples/stackexchange.json conv2d_1.output[0,0] --exact
  cnngrad explain samples/stackexchange-network.json maxpool2d_1.delta_in[1,1]
  cnngrad explain samples/stackexchange-network.json dense_1.delta_in[2]
  cnngrad explain samples/stackexchange-network.json loss --format json
  cnngrad explain samples/stackexchange-network.json

The second explains each element of the kernel gradient; the last one lists
every path with its shape. Add --one-based to count every index from 1.
Quote paths in shells that expand brackets (zsh).
"""

OUTPUT_FORMATS = ("table", "text", "json")


@guarded
def explain(
    problem: Annotated[str, typer.Argument(
        metavar="PROBLEM", help="The problem file (JSON), or - for standard input.",
        show_default=False)],
    path: Annotated[Optional[str], typer.Argument(
        metavar="PATH", help="The number to explain, a dotted path with the element's indices "
                             "in the shape the result is shown in: conv2d_1.grads.kernel[0,0], "
                             "conv2d_1.delta_in[2,3], maxpool2d_1.delta_in[1,1], "
                             "dense_1.grads.weights[0,2], conv2d_1.output[0,0], loss. A "
                             "whole tensor (conv2d_1.grads.kernel): each element, the first "
                             "25. Leave it out to list every path with its shape.",
        show_default=False)] = None,
    one_based: Annotated[bool, typer.Option(
        "--one-based", help="Count indices from 1, in PATH and everywhere in the output.")] = False,
    format: Annotated[Optional[str], format_option(
        OUTPUT_FORMATS,
        help="table (for people), text (plain, no colour or boxes) or json (the terms with "
             "their factors, for scripts).")] = None,
    output: OutputOpt = None,
    decimals: TableDecimalsOpt = 6,
    exact: ExactOpt = False,
    lr: Annotated[Optional[str], typer.Option(
        "--lr", metavar="RATE",
        help="Learning rate η: lets PATH be <layer>.updated.<param>[...], a parameter after "
             "one SGD step p − η·dE/dp.")] = None,
    max_terms: Annotated[int, typer.Option(
        "--max-terms", min=1, help="Nonzero terms listed before the rest are summed into one "
                                   "line (json: into 'more_terms').")] = 100,
    all_terms: Annotated[bool, typer.Option(
        "--all-terms", help="List every nonzero term, however many (--max-terms is "
                            "ignored). A kernel entry of a large layer has a term per "
                            "output cell.")] = False,
    max_elements: MaxElementsOpt = 10**8,
    debug: DebugOpt = False,
) -> None:
    """Take one number of the result apart: the formula with its indices, every term with its
    numbers (zero terms counted), and the total: the terms added in the order shown, which is
    the value backward reports up to rounding in its last digits (exactly with --exact).

    Input deltas show which kernel entries meet which deltas (the 180° rotation); max pool the
    window, where its maximum was and the tie rule; avg pool the divisor; activations the local
    derivative; the loss its formula."""
    fmt = output_format(format, output, OUTPUT_FORMATS, command="explain")
    _refuse_swapped(problem, path)
    from cnngrad.teach.explain import layer_explained

    # a path of a layer is explained from its inputs and delta_out: the backward pass stops
    # there (the layer's own step, often the largest, is not computed)
    spec, trace = compute(problem, exact=exact, max_elements=max_elements, dtype="float64",
                          lr=lr, quick={}, stop_before=None if path is None else
                          lambda problem: layer_explained(problem, path), one_based=one_based)
    if path is None:
        from cnngrad.teach.explain import known_paths

        paths = known_paths(trace)
        if fmt == "json":
            import json

            text = json.dumps([{"path": p, "shape": list(s)} for p, s in paths.items()],
                              indent=2) + "\n"
        else:
            from cnngrad.render.explain import paths_text

            text = paths_text(paths)
        write_output(text, output, spec.input_files)
        return
    import math

    from cnngrad.teach.explain import element_path, element_paths
    from cnngrad.teach.explain import explain as explain_path

    # a whole tensor (conv2d_1.grads.kernel): each of its elements, up to a bound
    elements = element_paths(trace, path, one_based=one_based)
    paths, shape = elements if elements is not None else ([path], ())
    count = math.prod(shape)
    explanations = [explain_path(trace, one, one_based=one_based) for one in paths]
    # the explained layer's own step is computed here, by its terms (the backward pass
    # stopped before it): a number past float64's range is the error backward gives
    check_finite(trace, tensors=[(explanation.path, explanation.total)
                                 for explanation in explanations])
    if count > len(paths):
        # the last element's path, the one furthest from those explained
        last = element_path(path.strip(), tuple(size - 1 for size in shape), one_based)
        note_later(f"note: {path.strip()} has {count} elements: the first {len(paths)} are "
                   f"explained; give an element's path for another, e.g. {last}")

    def listed(explanation) -> int:
        return len(explanation.terms) if all_terms else max_terms

    if fmt == "json":
        if elements is None:
            from cnngrad.render.explain import explanation_json

            text = explanation_json(explanations[0], None if all_terms else max_terms)
        else:
            import json

            from cnngrad.render.explain import explanation_dict

            text = json.dumps({"path": path.strip(), "elements": count, "explained": [
                explanation_dict(one, None if all_terms else max_terms)
                for one in explanations]}, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    elif fmt == "text":
        import sys

        from cnngrad.cli.common import output_width
        from cnngrad.render.explain import NOTE_WIDTH, explanation_text

        # the notes wrap at the width the report is read at (an 80-column terminal), at most
        # NOTE_WIDTH (a file or a pipe without COLUMNS)
        terminal = output is None and sys.stdout is not None and sys.stdout.isatty()
        width = min(NOTE_WIDTH, output_width(terminal))
        text = "\n".join(explanation_text(one, decimals, listed(one), width)
                         for one in explanations)
    elif fmt == "table":
        from rich.console import Group

        from cnngrad.render.explain import explanation_panel

        text = render_rich(Group(*(explanation_panel(one, decimals, listed(one))
                                   for one in explanations)), to_file=output is not None)
    else:
        raise UsageError(f"unknown format {fmt!r}", where="--format")
    write_output(text, output, spec.input_files)


def _refuse_swapped(problem: str, path: Optional[str]) -> None:
    """``explain conv2d_1.grads.kernel[0,0] problem.json``: a PROBLEM that is no file and a
    PATH that is one are the two arguments swapped, said with the command in its order."""
    import os

    if (path is None or problem == "-" or os.path.exists(problem)
            or problem.lower().endswith(".json")  # a problem's name misspelt, not swapped
            or not (path == "-" or os.path.isfile(path))):
        return
    given = "standard input" if path == "-" else f"{path} is a file"
    raise UsageError(f"no such file: PROBLEM and PATH look swapped ({given})",
                     where=problem, hint="the problem comes first, then the path: cnngrad "
                                         "explain PROBLEM PATH")


def register(app: typer.Typer) -> None:
    from cnngrad.cli.plain_values import ABSENT_OPTION_HINTS, hint_quick_mode_is_backward_s

    hint_quick_mode_is_backward_s("explain")

    ABSENT_OPTION_HINTS["explain", "--show-steps"] = (
        "explain always shows every step of its one number; the intermediate matrices of a "
        "whole layer are backward's: cnngrad backward PROBLEM --show-steps")
    ABSENT_OPTION_HINTS["explain", "--full"] = (
        "explain takes one number apart, and --all-terms lists every term of it; every value "
        "of a large result is backward's: cnngrad backward PROBLEM --full")
    app.command(epilog=EPILOG,
                short_help='Take one number apart: formula, every term with its numbers, the total.')(explain)
