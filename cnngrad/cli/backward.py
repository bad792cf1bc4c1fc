"""``cnngrad backward``: every layer's gradients, last layer first."""

from typing import Annotated, Optional

import typer

from cnngrad.cli.common import (REPORT_FORMATS, DebugOpt, DecimalsOpt, DtypeOpt, ExactOpt,
                                FullOpt, LrOpt, MaxElementsOpt, OneBasedOpt, OutputOpt,
                                ProblemArg, ReportFormatOpt, SaveSvgOpt, compute, emit_trace,
                                guarded, output_format, require_npz_target)
from cnngrad.errors import UsageError

EPILOG = """\
Examples (cnngrad samples NAME --to samples saves the sample they read):

  cnngrad backward samples/stackexchange.json
  cnngrad backward samples/stackexchange.json --one-based
  cnngrad backward samples/stackexchange.json --exact --lr 1/10
  cnngrad backward samples/stackexchange.json --format latex --decimals 4
  cnngrad backward samples/multichannel.json --show-steps
  cnngrad backward samples/multichannel.json --full
  cnngrad backward samples/pool-ties.json --save-svg pool.svg
  cnngrad backward samples/stackexchange-network.json -o result.json
  cnngrad backward samples/stackexchange-network.json -o grads.csv
  cnngrad backward samples/stackexchange-network.json -o result.npz
  cnngrad backward --input samples/csv/o.csv --kernel samples/csv/w.csv \\
      --delta samples/csv/d.csv
  cnngrad backward --input samples/csv/o.csv --kernel '[[1, 0], [0, -1]]' \\
      --delta '[[1, 0], [0, 1]]' --stride 2
  cat problem.json | cnngrad backward -

The tables fit the terminal's width (grids stack, a wide one is cut into
column blocks); piped or with -o they are laid out for COLUMNS, else 120.
"""

QUICK = "Quick mode (no JSON)"


@guarded
def backward(
    problem: ProblemArg = None,
    format: ReportFormatOpt = None,
    output: OutputOpt = None,
    decimals: DecimalsOpt = 6,
    exact: ExactOpt = False,
    lr: LrOpt = None,
    input: Annotated[Optional[str], typer.Option(
        "--input", metavar="TENSOR",
        help="The input image: a CSV, .npy or .json file, or inline JSON.",
        rich_help_panel=QUICK)] = None,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", metavar="TENSOR", help="The kernel (file or inline JSON).", rich_help_panel=QUICK)] = None,
    delta: Annotated[Optional[str], typer.Option(
        "--delta", metavar="TENSOR", help="dE/d(conv output), the upstream delta (file or inline JSON).",
        rich_help_panel=QUICK)] = None,
    bias: Annotated[Optional[str], typer.Option(
        "--bias", metavar="TENSOR", help="The bias: a number, a vector or a file.", rich_help_panel=QUICK)] = None,
    stride: Annotated[Optional[str], typer.Option(
        "--stride", metavar="S", help="2, or [2, 1] for rows and columns (default 1).",
        rich_help_panel=QUICK)] = None,
    padding: Annotated[Optional[str], typer.Option(
        "--padding", metavar="P", help="1, [1, 2] (rows, columns), [top, bottom, left, right], "
                                       "valid or same (default 0).", rich_help_panel=QUICK)] = None,
    dilation: Annotated[Optional[str], typer.Option(
        "--dilation", metavar="D", help="2, or [2, 1] for rows and columns (default 1).",
        rich_help_panel=QUICK)] = None,
    flip_kernel: Annotated[bool, typer.Option(
        "--flip-kernel", help="True convolution: the kernel is rotated 180° first.",
        rich_help_panel=QUICK)] = False,
    max_elements: MaxElementsOpt = 10**8,
    dtype: DtypeOpt = "float64",
    save_svg: SaveSvgOpt = None,
    show_steps: Annotated[bool, typer.Option(
        "--show-steps", help="Add the textbook's intermediate matrices to each conv, pool, "
                             "batch norm, dropout, softmax and upsample panel: the delta with "
                             "zeros inserted (stride) and padded for the full convolution, "
                             "the rotated kernel, the cropped result, the max-pool argmax "
                             "mask, the avg-pool divisors, batch norm's μ, σ² and x̂, the "
                             "dropout mask, the softmax Jacobian, upsample's delta in blocks "
                             "(table format).")
    ] = False,
    full: FullOpt = False,
    one_based: OneBasedOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Every layer's gradients, last layer first: the upstream delta, dE/dw and dE/db, and the
    input delta, as tables (json, csv, markdown, latex and npz list the layers in forward
    order).

    Without a problem file, --input, --kernel and --delta build a one-conv problem."""
    fmt = output_format(format, output, REPORT_FORMATS, command="backward", picture=True,
                        save_svg=save_svg)
    quick = dict(input=input, kernel=kernel, delta=delta, bias=bias, stride=stride,
                 padding=padding, dilation=dilation, flip_kernel=flip_kernel)
    if show_steps and fmt != "table":
        if fmt.from_suffix is not None:
            raise UsageError(f"it adds to the tables only, and -o {fmt.from_suffix} writes "
                             f"{fmt} (from its suffix)", where="--show-steps",
                             hint=f"add --format table to write the tables with the steps to "
                                  f"{fmt.from_suffix}")
        raise UsageError("it adds to the tables only: use it with --format table",
                         where="--show-steps")
    if fmt == "npz":
        require_npz_target(output, exact, fmt)
    spec, trace = compute(problem, exact=exact, max_elements=max_elements, dtype=dtype, lr=lr,
                          quick=quick, output_format=fmt, full=full, show_steps=show_steps,
                          one_based=one_based)
    steps = None
    if show_steps:
        from cnngrad.teach.steps import trace_steps

        steps = trace_steps(trace)
    def report():
        from cnngrad.render.tables import backward_report

        return backward_report(trace, decimals, steps=steps, full=full,
                               base=1 if one_based else 0)

    emit_trace(spec, trace, fmt=fmt, output=output, decimals=decimals, save_svg=save_svg,
               include_backward=True, report=report, title="cnngrad backward",
               base=1 if one_based else 0)


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG,
                short_help="Every layer's gradients, last layer first: upstream delta, dE/dw, dE/db, input delta.")(backward)
