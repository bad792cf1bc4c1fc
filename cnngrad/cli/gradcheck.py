"""``cnngrad gradcheck``: the engine's gradients against central finite differences."""

from typing import Annotated, Optional

import typer

from cnngrad.cli.common import (
    DebugOpt,
    MaxElementsOpt,
    OutputOpt,
    TableDecimalsOpt,
    format_option,
    guarded,
    load,
    output_format,
    render_rich,
    typed_in,
    write_output,
)
from cnngrad.errors import UsageError

# cnngrad.teach.gradcheck's defaults, written out: importing it here would load the whole engine
# for every command's start-up (tests/test_big_results.py holds the two equal)
DEFAULT_EPS = 1e-6
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-7
DEFAULT_MAX_EVALUATIONS = 20_000

EPILOG = """\
Examples (cnngrad samples NAME --to samples saves the sample they read):

  cnngrad gradcheck samples/stackexchange-network.json
  cnngrad gradcheck samples/pool-ties.json
  cnngrad gradcheck samples/stackexchange-network.json --format json
  cnngrad gradcheck samples/pool-ties.json --eps 1e-5 --rtol 1e-4

Exit code 0 when every smooth element agrees, 1 when one does not, 2 for bad input.
"""

OUTPUT_FORMATS = ("table", "json")


@guarded
def gradcheck(
    problem: Annotated[str, typer.Argument(
        metavar="PROBLEM", help="The problem file (JSON), or - for standard input.",
        show_default=False)],
    # numbers as text, read by parse_number below (float() would take '1_0' and '1e400')
    eps: Annotated[str, typer.Option(
        "--eps", metavar="NUMBER",
        help="The finite-difference step ε: each element is moved by ±ε.  One that fails at ε "
             "gets a second look at ε/10; agreeing only there is truncation error, a sign that "
             "ε is too large.")] = repr(DEFAULT_EPS),
    rtol: Annotated[str, typer.Option(
        "--rtol", metavar="NUMBER",
        help="Relative tolerance: an element agrees when |engine − numeric| ≤ "
             "atol + rtol·max(|engine|, |numeric|).")] = repr(DEFAULT_RTOL),
    atol: Annotated[str, typer.Option(
        "--atol", metavar="NUMBER",
        help="Absolute tolerance (see --rtol).")] = repr(DEFAULT_ATOL),
    max_evaluations: Annotated[int, typer.Option(
        "--max-evaluations", min=1,
        help="Refuse a problem that needs more energy evaluations (each one a forward pass; "
             "two per element of the input and of every parameter).  Their total work is "
             "budgeted too: CNNGRAD_MAX_WORK, see docs/limits.md.")
    ] = DEFAULT_MAX_EVALUATIONS,
    format: Annotated[Optional[str], format_option(
        OUTPUT_FORMATS, help="table (for people) or json (for scripts).")] = None,
    output: OutputOpt = None,
    decimals: TableDecimalsOpt = 6,
    max_elements: MaxElementsOpt = 10**8,
    debug: DebugOpt = False,
) -> None:
    """Check the engine's gradients against central finite differences, for every parameter
    and for the input, and name the problem's kinks (relu inputs at 0, tied max-pool maxima)
    where the derivative is not unique and a mismatch is expected.

    E is the problem's loss, or Σ delta·output when it gives the delta instead."""
    fmt = output_format(format, output, OUTPUT_FORMATS, command="gradcheck")
    from cnngrad.cli.progress import DelayedProgress
    from cnngrad.teach.gradcheck import check_evaluations, evaluations_needed
    from cnngrad.teach.gradcheck import gradcheck as check

    from cnngrad.tensorio import parse_number

    # read as check reads its tolerances and backward its --lr: '1e400' is too large, not inf
    eps, rtol, atol = (parse_number(text, option, file=None) for option, text in
                       (("--eps", eps), ("--rtol", rtol), ("--atol", atol)))
    for option, value, positive in (("--eps", eps, True), ("--rtol", rtol, False),
                                    ("--atol", atol, False)):
        if value < 0 or (positive and value == 0):
            raise UsageError(f"must be a finite number {'> 0' if positive else '≥ 0'}, got "
                             f"{value:g}", where=option)
    # a check that takes more than a second shows its evaluations (a terminal's stderr only)
    with DelayedProgress(enabled=False if typed_in(problem) else None) as step:
        step("reading the problem")
        spec = load(problem, exact=False, max_elements=max_elements, quick={})
        from cnngrad.cli.common import note_loss_input
        from cnngrad.limits import check_gradcheck_work

        note_loss_input(spec)  # what E is: a softmax layer before cross_entropy, say
        check_evaluations(spec, max_evaluations)  # first: the budget's estimate stops there
        check_gradcheck_work(spec, max_evaluations)
        # a point where the result itself overflows: the verdict backward gives, word for word
        import numpy as np

        from cnngrad.cli.common import check_finite, note_later, one_line, warn_points_paths
        from cnngrad.network import run

        with np.errstate(all="ignore"):
            trace = run(spec)
            check_finite(trace)
        for warning in trace.warnings:  # as every command says it: the engine's gradient
            # at such a cell took the side the floats gave
            note_later(f"warning: {one_line(warning.text(False))}")
        warn_points_paths(spec, trace)
        step.total = (evaluations_needed(spec) - 1) // 2 + 2
        report = check(spec, eps=eps, rtol=rtol, atol=atol, max_evaluations=max_evaluations,
                       progress=step)
        _check_finite(report, spec.file)
        _check_step_can_see(report)
        step("writing the report")
        if fmt == "json":
            from cnngrad.render.gradcheck import render_json

            text = render_json(report)
        elif fmt == "table":
            from cnngrad.render.gradcheck import report_table

            text = render_rich(report_table(report, decimals), to_file=output is not None)
        else:
            raise UsageError(f"unknown format {fmt!r}", where="--format")
    write_output(text, output, spec.input_files)
    if not report.ok:
        raise typer.Exit(1)


def _check_finite(report, file) -> None:
    """A gradient or a difference quotient past float64's range: the verdict backward gives,
    not a table of inf and NaN (nor JSON that cannot hold them)."""
    import numpy as np

    from cnngrad.errors import ProblemError

    for tensor in report.tensors:
        if not np.isfinite(tensor.analytic).all():
            raise ProblemError("the result overflows to infinity", where=tensor.path, file=file,
                               hint="float64 overflows beyond about 1.8e308: scale the numbers "
                                    "down")
        # a move out of the loss's domain leaves E undefined on that side (NaN): not overflow
        inside = ~tensor.outside
        if not (np.isfinite(tensor.numeric[inside]).all()
                and np.isfinite(tensor.left[inside]).all()
                and np.isfinite(tensor.right[inside]).all()):
            raise ProblemError("the finite differences overflow to infinity",
                               where=tensor.path, file=file,
                               hint="use a smaller --eps, or scale the numbers down")


def _check_step_can_see(report) -> None:
    """An ε, smaller than the default, so small that rounding alone moves a central
    difference by more than the largest gradient: every element would agree whatever the
    engine said, a verdict that says nothing.  (At the default ε such a problem is checked
    as before, the noise shown: its gradients may all be 0, a dead relu's say.)"""
    import numpy as np

    if not report.eps < DEFAULT_EPS:
        return
    largest = max((float(np.abs(t.analytic).max()) for t in report.tensors
                   if t.analytic.size), default=0.0)
    from cnngrad.teach.gradcheck import zero_tolerance_remedy

    zero_tolerance = zero_tolerance_remedy(report.rtol, report.atol)
    hint = zero_tolerance or ("give a larger --eps (the rounding noise shrinks as 1/ε; the "
                              "default is 1e-06)")
    too_small = (f"{report.eps:g} is too small a step for this problem: rounding alone can "
                 f"move a central difference by {report.noise:.1e}, more than the")
    if report.noise > max(largest, report.atol):
        raise UsageError(f"{too_small} largest gradient ({largest:.2g}), so no error could be "
                         f"seen", where="--eps", hint=hint)
    checked = sum(t.checked for t in report.tensors)
    if checked and report.hidden_by_noise == checked:
        # no element could fail: a ✓ and exit 0 would say they were checked
        step = report.step_to_see_hidden
        raise UsageError(f"{too_small} tolerance of every one of the {checked:,} elements "
                         f"checked, so no error could be seen", where="--eps",
                         hint=hint if zero_tolerance or step is None else
                         # past 1 (or infinite) no step does: E dwarfs the gradients
                         "no step a central difference can take checks them here (E is too "
                         "large beside their gradients)" if step > 1 else
                         f"--eps {step:g} or larger checks them (the default is 1e-06)")


def register(app: typer.Typer) -> None:
    from cnngrad.cli.plain_values import ABSENT_OPTION_HINTS, hint_quick_mode_is_backward_s

    hint_quick_mode_is_backward_s("gradcheck")

    # finite differences are float arithmetic: an exact gradient is backward's
    ABSENT_OPTION_HINTS["gradcheck", "--exact"] = (
        "gradcheck has no exact mode: finite differences need floating point, so it checks in "
        "float64 (the step is --eps); for the exact gradients: cnngrad backward PROBLEM --exact")
    # click's closest spelling would offer --rtol or --atol, options of another meaning
    ABSENT_OPTION_HINTS["gradcheck", "--full"] = (
        "gradcheck checks every element and shows a row for each tensor; every value of a "
        "large result is backward's: cnngrad backward PROBLEM --full")
    ABSENT_OPTION_HINTS["gradcheck", "--lr"] = (
        "gradcheck checks the gradients, it takes no SGD step; for the parameters after one "
        "step: cnngrad backward PROBLEM --lr RATE")
    app.command(epilog=EPILOG,
                short_help='Check the gradients against finite differences; name the kinks.')(gradcheck)
