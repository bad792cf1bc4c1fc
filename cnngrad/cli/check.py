"""``cnngrad check``: a hand computation checked cell by cell, its slips named; many answer
files make a grade sheet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnngrad.cli.common import (
    DebugOpt,
    DecimalsOpt,
    ExactOpt,
    LrOpt,
    MaxElementsOpt,
    OutputOpt,
    choose,
    compute,
    guarded,
    render_rich,
    report_error,
    write_output,
)
from cnngrad.errors import UsageError

EPILOG = """\
[bold]Examples[/]

  cnngrad check samples/stackexchange.json samples/answers/stackexchange-answers.json
  cnngrad check samples/stackexchange.json samples/answers/stackexchange-wrong.json
  cnngrad check samples/stackexchange.json samples/answers/conv2d_1.grads.kernel.csv
  cnngrad check samples/stackexchange.json samples/answers/* --format csv -o grades.csv

An answers file maps dotted paths to values, e.g.
{"conv2d_1.grads.kernel": [[0.0446, 0.0941], [0.0113, 0.0683]],
 "conv2d_1.delta_in[1,2]": -0.0295}
A value with d decimals is right within ½·10⁻ᵈ of the true value (0.0446 for 0.044606).

Exit code 0 when every answer is right, 1 when one is wrong, 2 for bad input.
"""

OUTPUT_FORMATS = ("table", "json", "csv")
#: More answer files than this show a progress bar (on a terminal's standard error).
PROGRESS_AFTER = 5


#: A value written with fewer decimals is judged as if it had this many: the precision a
#: homework answer is expected to carry (0.0446 is right for 0.044606, 0.045 is not).
DEFAULT_MIN_DECIMALS = 4


def _tolerance(atol: Optional[str], rtol: Optional[str], min_decimals: Optional[int]):
    from cnngrad.teach.check import Tolerance
    from cnngrad.tensorio import parse_number

    values = {}
    for option, text in (("--atol", atol), ("--rtol", rtol)):
        if text is None:
            continue
        value = parse_number(text, option, file="(command line)", exact=True)
        if value < 0:
            raise UsageError(f"must be ≥ 0, got {text}", where=option)
        values[option] = value
    if values and min_decimals is not None:
        raise UsageError("--min-decimals belongs to the decimals rule, which --atol/--rtol "
                         "replace; give one or the other", where="--min-decimals")
    if min_decimals is None:
        min_decimals = 0 if values else DEFAULT_MIN_DECIMALS
    return Tolerance(atol=values.get("--atol"), rtol=values.get("--rtol"),
                     min_decimals=min_decimals)


def _check_all(trace, answers: list[str], tolerance, diagnose: bool):
    """Check every file; a progress bar on a terminal when there are more than a few."""
    from cnngrad.teach.check import check_file
    from cnngrad.teach.diagnose import SlipContext

    context = SlipContext(trace)  # each slipped trace built once for all the files
    if len(answers) <= PROGRESS_AFTER or not sys.stderr.isatty():
        return [check_file(trace, path, tolerance, context=context, diagnose=diagnose)
                for path in answers]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    results = []
    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.description}"), console=Console(stderr=True),
                  transient=True) as progress:
        task = progress.add_task("", total=len(answers))
        for path in answers:
            progress.update(task, description=Path(path).name)
            results.append(check_file(trace, path, tolerance, context=context,
                                      diagnose=diagnose))
            progress.advance(task)
    return results


@guarded
def check(
    problem: Annotated[str, typer.Argument(
        metavar="PROBLEM", help="The problem file (JSON), or - for standard input.",
        show_default=False)],
    answers: Annotated[list[str], typer.Argument(
        metavar="ANSWERS...", help="Answers files: JSON {\"dotted.path\": value}, or a CSV "
                                   "named after its path (conv2d_1.grads.kernel.csv). Several "
                                   "make a grade sheet, one row per file.",
        show_default=False)],
    atol: Annotated[Optional[str], typer.Option(
        "--atol", help="Absolute tolerance: with --rtol, replaces the decimals rule by "
                       "|given − true| ≤ atol + rtol·|true|.")] = None,
    rtol: Annotated[Optional[str], typer.Option(
        "--rtol", help="Relative tolerance (see --atol).")] = None,
    min_decimals: Annotated[Optional[int], typer.Option(
        "--min-decimals", min=0, max=17, show_default="4",
        help="Judge a value written with fewer decimals as if it had this many: with 4, "
             "0.0446 is right for 0.044606 and 0.045 is not. 0 applies the half-unit rule "
             "to whatever was written.")] = None,
    lr: LrOpt = None,
    exact: ExactOpt = False,
    format: Annotated[str, typer.Option(
        "--format", "-f", help="table (for people), json (every wrong cell, for scripts) or "
                               "csv (the grade sheet, one row per file).")] = "table",
    output: OutputOpt = None,
    decimals: DecimalsOpt = 6,
    details: Annotated[bool, typer.Option(
        "--details", help="With several answer files, also show each file's tensors after "
                          "the grade sheet.")] = False,
    diagnose: Annotated[bool, typer.Option(
        "--diagnose/--no-diagnose", help="Name the common slips a wrong tensor matches.")
    ] = True,
    max_elements: MaxElementsOpt = 10**8,
    debug: DebugOpt = False,
) -> None:
    """Check answers worked by hand against the problem: each tensor with its wrong cells
    marked and the true value beside them, "k/n cells right", and the common slip a wrong
    tensor matches (the kernel not rotated, delta not dilated, MSE without the ½, ...).

    Paths are those of --format json: loss, <layer>.output, .delta_out, .delta_in,
    .grads.<param>, .updated.<param> (with --lr), and elements such as
    conv2d_1.grads.kernel[0,1]."""
    fmt = choose(format, OUTPUT_FORMATS, "--format")
    tolerance = _tolerance(atol, rtol, min_decimals)
    if problem == "-" and "-" in answers:
        raise UsageError("standard input can hold the problem or an answers file, not both",
                         where="ANSWERS")
    spec, trace = compute(problem, exact=exact, max_elements=max_elements, dtype="float64",
                          lr=lr, quick={})
    problem_name = spec.file
    results = _check_all(trace, answers, tolerance, diagnose)
    single = len(results) == 1
    if single and results[0].error is not None:
        raise results[0].error
    for result in results:
        if result.error is not None:
            report_error(result.error)

    if fmt == "json":
        from cnngrad.render.grades import grades_json

        text = grades_json(results, problem_name, tolerance)
    elif fmt == "csv":
        from cnngrad.render.grades import grades_csv

        text = grades_csv(results)
    elif fmt == "table":
        from rich.console import Group
        from rich.text import Text

        from cnngrad.render.check_report import file_report, grade_sheet

        if single:
            renderable = file_report(results[0], problem_name, tolerance, decimals)
        else:
            parts = [grade_sheet(results, problem_name, tolerance)]
            if details:
                for result in results:
                    if result.error is None:
                        parts += [Text(""), file_report(result, problem_name, tolerance,
                                                        decimals)]
            renderable = Group(*parts)
        text = render_rich(renderable, to_file=output is not None)
    else:
        raise UsageError(f"unknown format {fmt!r}", where="--format")
    protected = list(spec.input_files) + [Path(path) for path in answers if path != "-"]
    write_output(text, output, protected)

    from cnngrad.teach.check import exit_code

    code = exit_code(results)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG,
                short_help='Check hand-computed answers cell by cell and name the slip behind a wrong one.')(check)
